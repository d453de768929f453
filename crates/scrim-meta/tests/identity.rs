//! People in the metadata database, on SQLite and (with `SCRIM_TEST_POSTGRES_URL`)
//! PostgreSQL: accounts, memberships, second factors, recovery codes, sessions, lockout and
//! tenant security settings.

mod common;

use std::time::{Duration, SystemTime};

use common::TestDb;
use scrim_meta::{
    AiSettingsRow, AuthMethod, Meta, MetaError, NewSession, NewTenant, NewUser, Role,
    SecuritySettings, SessionHash, TenantId,
};

on_both_backends!(
    users_are_unique_by_email_and_sso_identity,
    memberships_never_lose_the_last_owner,
    a_totp_step_and_a_recovery_code_are_accepted_once,
    sessions_are_void_when_revoked_signed_out_everywhere_or_disabled,
    failed_logins_lock_the_account_across_connections,
    security_settings_round_trip_and_are_checked,
    ai_settings_round_trip_per_tenant_and_go_with_the_tenant,
    the_platform_key_is_created_once,
);

async fn tenant(meta: &Meta, name: &str) -> TenantId {
    let new = NewTenant::new(name, vec![7u8; 60]).unwrap();
    meta.create_tenant(&new).await.unwrap().id
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.into(),
        password_hash: Some("$argon2id$v=19$stub".into()),
        ..NewUser::default()
    }
}

fn session_hash(n: u8) -> SessionHash {
    SessionHash::from_bytes(&[n; 32]).unwrap()
}

async fn users_are_unique_by_email_and_sso_identity(db: &TestDb) {
    let meta = &db.meta;
    let alice = meta
        .create_user(&new_user(" Alice@Example.COM "))
        .await
        .unwrap();
    assert_eq!(alice.email, "alice@example.com");
    assert!(!format!("{alice:?}").contains("argon2"));
    let err = meta
        .create_user(&new_user("alice@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    let found = meta
        .user_by_email("ALICE@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, alice.id);
    assert!(
        meta.user_by_email("not an address")
            .await
            .unwrap()
            .is_none()
    );
    for bad in ["", "no-at-sign", "a@b@c", "@example.com", "a b@example.com"] {
        let err = meta.create_user(&new_user(bad)).await.unwrap_err();
        assert!(
            matches!(err, MetaError::Invalid { field: "email", .. }),
            "{bad}: {err:?}"
        );
    }
    let sso = NewUser {
        email: "bob@example.com".into(),
        oidc: Some(("https://idp.example".into(), "sub-1".into())),
        ..NewUser::default()
    };
    let bob = meta.create_user(&sso).await.unwrap();
    assert!(bob.password_hash.is_none());
    let by_sub = meta
        .user_by_oidc("https://idp.example", "sub-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_sub.id, bob.id);
    let err = meta
        .link_oidc(&alice.id, "https://idp.example", "sub-1")
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(meta.list_users().await.unwrap().len(), 2);
}

async fn memberships_never_lose_the_last_owner(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let other = tenant(meta, "globex").await;
    let owner = meta.create_user(&new_user("o@example.com")).await.unwrap();
    let member = meta.create_user(&new_user("m@example.com")).await.unwrap();
    meta.add_membership(&owner.id, &t, Role::Owner)
        .await
        .unwrap();
    meta.add_membership(&member.id, &t, Role::Member)
        .await
        .unwrap();
    meta.add_membership(&member.id, &other, Role::Viewer)
        .await
        .unwrap();
    let err = meta
        .add_membership(&member.id, &t, Role::Admin)
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");

    assert_eq!(
        meta.membership(&member.id, &t).await.unwrap(),
        Some(Role::Member)
    );
    assert_eq!(meta.membership(&owner.id, &other).await.unwrap(), None);
    let members = meta.tenant_members(&t).await.unwrap();
    // In the order they joined; both joined within the same millisecond here, and then the
    // order is by user id (random): compare without it.
    let mut listed: Vec<_> = members
        .iter()
        .map(|m| (m.user.email.as_str(), m.role))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("m@example.com", Role::Member),
            ("o@example.com", Role::Owner)
        ]
    );
    let of_member = meta.user_memberships(&member.id).await.unwrap();
    assert_eq!(of_member.len(), 2);
    assert_eq!(of_member[0].tenant_name, "acme");

    // The only owner can neither be demoted nor removed.
    for change in [Some(Role::Admin), None] {
        let err = meta
            .change_membership(&owner.id, &t, change)
            .await
            .unwrap_err();
        assert!(
            matches!(err, MetaError::Invalid { field: "role", .. }),
            "{err:?}"
        );
    }
    // With a second owner, the first may step down.
    meta.change_membership(&member.id, &t, Some(Role::Owner))
        .await
        .unwrap();
    meta.change_membership(&owner.id, &t, Some(Role::Viewer))
        .await
        .unwrap();
    assert_eq!(
        meta.membership(&owner.id, &t).await.unwrap(),
        Some(Role::Viewer)
    );
    meta.change_membership(&owner.id, &t, None).await.unwrap();
    assert_eq!(meta.membership(&owner.id, &t).await.unwrap(), None);
    let err = meta
        .change_membership(&owner.id, &t, None)
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
}

async fn a_totp_step_and_a_recovery_code_are_accepted_once(db: &TestDb) {
    let meta = &db.meta;
    let u = meta.create_user(&new_user("t@example.com")).await.unwrap();
    // No enrolment: nothing to confirm, no step accepted.
    assert!(meta.confirm_totp(&u.id, 10, &[]).await.is_err());
    assert!(!meta.accept_totp_step(&u.id, 10).await.unwrap());

    meta.set_totp_pending(&u.id, Some(b"sealed-secret"))
        .await
        .unwrap();
    let pending = meta.user(&u.id).await.unwrap().unwrap();
    assert!(!pending.has_totp());
    let codes = vec![vec![1u8; 48], vec![2u8; 48]];
    meta.confirm_totp(&u.id, 100, &codes).await.unwrap();
    let enrolled = meta.user(&u.id).await.unwrap().unwrap();
    assert_eq!(enrolled.totp_secret.as_deref(), Some(&b"sealed-secret"[..]));
    assert!(enrolled.totp_pending.is_none());
    assert_eq!(enrolled.totp_last_step, Some(100));

    // The confirming step and anything before it are spent; a later step, once.
    assert!(!meta.accept_totp_step(&u.id, 100).await.unwrap());
    assert!(!meta.accept_totp_step(&u.id, 99).await.unwrap());
    let other_node = db.reopen().await.unwrap();
    assert!(other_node.accept_totp_step(&u.id, 101).await.unwrap());
    assert!(!meta.accept_totp_step(&u.id, 101).await.unwrap());

    let mut stored = meta.recovery_code_hashes(&u.id).await.unwrap();
    stored.sort();
    assert_eq!(stored, codes);
    assert!(meta.consume_recovery_code(&u.id, &codes[0]).await.unwrap());
    assert!(
        !other_node
            .consume_recovery_code(&u.id, &codes[0])
            .await
            .unwrap()
    );
    assert_eq!(
        meta.recovery_code_hashes(&u.id).await.unwrap(),
        vec![codes[1].clone()]
    );

    meta.remove_totp(&u.id).await.unwrap();
    let removed = meta.user(&u.id).await.unwrap().unwrap();
    assert!(!removed.has_totp());
    assert!(meta.recovery_code_hashes(&u.id).await.unwrap().is_empty());
    other_node.close().await;
}

async fn sessions_are_void_when_revoked_signed_out_everywhere_or_disabled(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let t2 = tenant(meta, "globex").await;
    let u = meta.create_user(&new_user("s@example.com")).await.unwrap();
    let new = |n: u8| NewSession {
        hash: session_hash(n),
        user_id: u.id.clone(),
        tenant_id: t.clone(),
        method: AuthMethod::PasswordTotp,
        addr: Some("192.0.2.7".parse().unwrap()),
        user_agent: Some("é".repeat(400)),
    };
    meta.create_session(&new(1)).await.unwrap();
    meta.create_session(&new(2)).await.unwrap();
    assert!(meta.session(&session_hash(9)).await.unwrap().is_none());
    let s = meta.session(&session_hash(1)).await.unwrap().unwrap();
    assert_eq!(s.user_id, u.id);
    assert_eq!(s.method, AuthMethod::PasswordTotp);
    assert!(!s.is_void());
    assert_eq!(meta.count_active_sessions(&u.id).await.unwrap(), 2);

    let later = SystemTime::now() + Duration::from_secs(60);
    meta.touch_session(&session_hash(1), later).await.unwrap();
    let touched = meta.session(&session_hash(1)).await.unwrap().unwrap();
    assert!(touched.last_seen_at > s.last_seen_at);
    meta.switch_session_tenant(&session_hash(1), &t2)
        .await
        .unwrap();
    assert_eq!(
        meta.session(&session_hash(1))
            .await
            .unwrap()
            .unwrap()
            .tenant_id,
        t2
    );

    meta.revoke_session(&session_hash(1)).await.unwrap();
    assert!(
        meta.session(&session_hash(1))
            .await
            .unwrap()
            .unwrap()
            .is_void()
    );
    assert!(
        !meta
            .session(&session_hash(2))
            .await
            .unwrap()
            .unwrap()
            .is_void()
    );

    meta.revoke_user_sessions(&u.id).await.unwrap();
    assert!(
        meta.session(&session_hash(2))
            .await
            .unwrap()
            .unwrap()
            .is_void()
    );
    assert_eq!(meta.count_active_sessions(&u.id).await.unwrap(), 0);
    // A session made afterwards is valid; disabling the account voids it too.
    meta.create_session(&new(3)).await.unwrap();
    assert!(
        !meta
            .session(&session_hash(3))
            .await
            .unwrap()
            .unwrap()
            .is_void()
    );
    meta.set_user_disabled(&u.id, true).await.unwrap();
    assert!(
        meta.session(&session_hash(3))
            .await
            .unwrap()
            .unwrap()
            .is_void()
    );
}

async fn failed_logins_lock_the_account_across_connections(db: &TestDb) {
    let meta = &db.meta;
    let other_node = db.reopen().await.unwrap();
    let u = meta.create_user(&new_user("l@example.com")).await.unwrap();
    let lockout = Duration::from_secs(900);
    assert_eq!(
        meta.record_login_failure(&u.id, 3, lockout).await.unwrap(),
        None
    );
    assert_eq!(
        other_node
            .record_login_failure(&u.id, 3, lockout)
            .await
            .unwrap(),
        None
    );
    let locked = meta
        .record_login_failure(&u.id, 3, lockout)
        .await
        .unwrap()
        .unwrap();
    assert!(locked > SystemTime::now() + Duration::from_secs(800));
    let stored = other_node.user(&u.id).await.unwrap().unwrap();
    assert_eq!(stored.failed_logins, 3);
    assert!(stored.locked_until.is_some());
    meta.reset_login_failures(&u.id).await.unwrap();
    let reset = meta.user(&u.id).await.unwrap().unwrap();
    assert_eq!((reset.failed_logins, reset.locked_until), (0, None));
    other_node.close().await;
}

async fn security_settings_round_trip_and_are_checked(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    assert_eq!(
        meta.security_settings(&t).await.unwrap(),
        SecuritySettings::default()
    );
    let err = meta
        .set_security_settings(
            &t,
            &SecuritySettings {
                require_sso: true,
                ..SecuritySettings::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::Invalid {
                field: "require_sso",
                ..
            }
        ),
        "{err:?}"
    );
    let bad_timeout = SecuritySettings {
        session_idle_minutes: Some(0),
        ..SecuritySettings::default()
    };
    assert!(meta.set_security_settings(&t, &bad_timeout).await.is_err());
    let settings = SecuritySettings {
        require_mfa: true,
        require_sso: true,
        sso_config: Some(r#"{"issuer":"https://idp.example"}"#.into()),
        sso_client_secret: Some(vec![9; 40]),
        session_idle_minutes: Some(15),
        session_absolute_minutes: Some(480),
    };
    meta.set_security_settings(&t, &settings).await.unwrap();
    assert_eq!(meta.security_settings(&t).await.unwrap(), settings);
    assert!(!format!("{settings:?}").contains("idp.example"));
    let missing = TenantId::generate().unwrap();
    assert!(matches!(
        meta.security_settings(&missing).await.unwrap_err(),
        MetaError::NotFound { .. }
    ));
}

async fn the_platform_key_is_created_once(db: &TestDb) {
    let meta = &db.meta;
    let other_node = db.reopen().await.unwrap();
    let first = meta
        .platform_key("identity", || Ok(vec![1; 60]))
        .await
        .unwrap();
    assert_eq!(first, vec![1; 60]);
    let again = other_node
        .platform_key("identity", || panic!("must not create a second key"))
        .await
        .unwrap();
    assert_eq!(again, first);
    other_node.close().await;
}

async fn ai_settings_round_trip_per_tenant_and_go_with_the_tenant(db: &TestDb) {
    let meta = &db.meta;
    let (a, b) = (tenant(meta, "acme").await, tenant(meta, "beta").await);
    assert_eq!(
        meta.ai_settings(&a).await.unwrap(),
        AiSettingsRow::default()
    );
    let row = AiSettingsRow {
        config: Some(r#"{"enabled":true,"provider":"openai","model":"m"}"#.into()),
        sealed_api_key: Some(vec![5; 48]),
    };
    meta.set_ai_settings(&a, &row).await.unwrap();
    assert_eq!(meta.ai_settings(&a).await.unwrap(), row);
    assert_eq!(
        meta.ai_settings(&b).await.unwrap(),
        AiSettingsRow::default()
    );
    // Never printed.
    let shown = format!("{row:?}");
    assert!(
        !shown.contains("openai") && !shown.contains("5, 5"),
        "{shown}"
    );
    let too_big = AiSettingsRow {
        config: Some("x".repeat(65 * 1024)),
        sealed_api_key: None,
    };
    assert!(meta.set_ai_settings(&b, &too_big).await.is_err());
    // A deleted tenant keeps no provider settings or key.
    meta.shred_tenant(&a).await.unwrap();
    assert!(matches!(
        meta.ai_settings(&a).await,
        Err(MetaError::NotFound { .. })
    ));
    let missing = TenantId::generate().unwrap();
    assert!(meta.set_ai_settings(&missing, &row).await.is_err());
}
