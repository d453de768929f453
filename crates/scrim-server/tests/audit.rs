//! The audit log through the real API and storage: each audited action writes exactly one
//! record with the right fields; `verify` names a stored record that was edited, deleted or
//! reordered; an audit store that fails blocks the action; who may read it; retention.

use std::path::Path;

use scrim_audit::{AuditRecord, PLATFORM_TENANT};
use scrim_auth::Scope;
use scrim_auth::rbac::Role;
use scrim_server::accounts::Act;
use scrim_server::audit::read::{self, AuditFilter};
use scrim_server::audit::retention::{self, AuditRetention};
use scrim_server::audit::{actions, checkpoints, now_ms, record_of};
use scrim_server::{Platform, PlatformConfig, ServerConfig};
use serde_json::json;

mod common;
use common::*;

/// Every record of `chain`, in chain order.
async fn chain(platform: &Platform, chain: &str) -> Vec<AuditRecord> {
    let rows = platform.meta().audit_chain(chain, 0, 10_000).await.unwrap();
    rows.iter().map(|r| record_of(r).unwrap()).collect()
}

/// Runs `action`, then returns the records it added to `chain_id`.
async fn added<F: std::future::Future<Output = Answer>>(
    platform: &Platform,
    chain_id: &str,
    action: F,
) -> (Answer, Vec<AuditRecord>) {
    let before = chain(platform, chain_id).await.len();
    let answer = action.await;
    let after = chain(platform, chain_id).await;
    (answer, after[before..].to_vec())
}

fn person(w: &World, role: Role) -> &Cred {
    &w.people.iter().find(|(r, _, _)| *r == role).unwrap().2
}

fn key(w: &World, scope: Scope) -> &Cred {
    &w.keys.iter().find(|(s, _)| *s == scope).unwrap().1
}

async fn user_id(w: &World, role: Role) -> String {
    let a = call(&w.server, "GET", "/api/v1/session", person(w, role), None).await;
    a.body["user"]["id"].as_str().unwrap().to_owned()
}

/// Exactly one record, with the action, actor, outcome and target given, from this test's
/// client (address, user agent, the answer's request id).
#[track_caller]
fn one(
    records: &[AuditRecord],
    answer: &Answer,
    action: &str,
    actor: &str,
    status: &str,
    target: Option<&str>,
) -> AuditRecord {
    assert_eq!(records.len(), 1, "{action}: {records:#?}");
    let r = records[0].clone();
    assert_eq!(r.action, action);
    assert_eq!(
        scrim_server::audit::actor_column(&r.actor),
        actor,
        "{action}"
    );
    assert_eq!(r.outcome.status(), status, "{action}: {:?}", r.outcome);
    if let Some(t) = target {
        assert_eq!(r.target.as_deref(), Some(t), "{action}");
    }
    assert_eq!(r.addr.as_deref(), Some("127.0.0.1"), "{action}");
    assert_eq!(r.user_agent.as_deref(), Some(USER_AGENT), "{action}");
    let request_id = answer.headers["x-request-id"].to_str().unwrap();
    assert_eq!(r.request_id.as_deref(), Some(request_id), "{action}");
    let now = now_ms();
    assert!(
        r.at_ms <= now && r.at_ms > now - 60_000,
        "{action}: {}",
        r.at_ms
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_audited_action_writes_exactly_one_record_with_its_fields() {
    let w = world().await;
    let p = w.server.platform();
    let t = w.tenant.as_str();
    let s = &w.server;
    let admin = person(&w, Role::Admin);
    let admin_id = user_id(&w, Role::Admin).await;
    let member = person(&w, Role::Member);
    let member_id = user_id(&w, Role::Member).await;

    // Sign-in: success, and failure with the reason.
    let body = json!({ "email": "member@acme.example", "password": PASSWORD });
    let (a, r) = added(
        p,
        t,
        call(s, "POST", "/api/v1/session", &Cred::None, Some(body)),
    )
    .await;
    assert_eq!(a.status, 200);
    let rec = one(
        &r,
        &a,
        actions::SIGN_IN,
        &member_id,
        "success",
        Some(&member_id),
    );
    assert_eq!(rec.details["method"], "password");
    let fresh = session_of(&a);
    let body = json!({ "email": "member@acme.example", "password": "wrong password here" });
    let (a, r) = added(
        p,
        t,
        call(s, "POST", "/api/v1/session", &Cred::None, Some(body)),
    )
    .await;
    assert_eq!(a.status, 401);
    let rec = one(
        &r,
        &a,
        actions::SIGN_IN,
        &member_id,
        "denied",
        Some(&member_id),
    );
    assert_eq!(rec.outcome.reason(), Some("wrong password"));
    // An unknown address goes to the platform's chain, by digest, never in clear.
    let body = json!({ "email": "nobody@acme.example", "password": PASSWORD });
    let (a, r) = added(
        p,
        PLATFORM_TENANT,
        call(s, "POST", "/api/v1/session", &Cred::None, Some(body)),
    )
    .await;
    assert_eq!(a.status, 401);
    let rec = one(&r, &a, actions::SIGN_IN, "system:anonymous", "denied", None);
    assert_eq!(rec.outcome.reason(), Some("unknown account"));
    assert!(
        !scrim_audit::to_json_line(&rec).contains("nobody@"),
        "{rec:?}"
    );

    // Telemetry reads, with what was asked; the SQL text with its e-mail masked.
    for (path, target) in [
        ("/api/v1/traces?service=checkout", "traces"),
        ("/api/v1/logs?q=timeout", "logs"),
        ("/api/v1/services?window=15m", "services"),
    ] {
        let (a, r) = added(p, t, call(s, "GET", path, member, None)).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        one(
            &r,
            &a,
            actions::TELEMETRY_READ,
            &member_id,
            "success",
            Some(target),
        );
    }
    let sql = "SELECT count(*) FROM spans WHERE attributes['user.email'] = 'bob@example.com'";
    let (a, r) = added(
        p,
        t,
        call(
            s,
            "POST",
            "/api/v1/sql",
            member,
            Some(json!({ "query": sql })),
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rec = one(
        &r,
        &a,
        actions::TELEMETRY_READ,
        &member_id,
        "success",
        Some("sql"),
    );
    let query = rec.details["query"].as_str().unwrap();
    assert!(query.starts_with("SELECT count(*) FROM spans"), "{query}");
    assert!(!query.contains("bob@example.com"), "{query}");
    // A query that fails is recorded as failed, once.
    let (a, r) = added(
        p,
        t,
        call(
            s,
            "POST",
            "/api/v1/sql",
            member,
            Some(json!({ "query": "DROP TABLE spans" })),
        ),
    )
    .await;
    assert_eq!(a.status, 400);
    one(
        &r,
        &a,
        actions::TELEMETRY_READ,
        &member_id,
        "failed",
        Some("sql"),
    );

    // API keys: created (id named, never the secret) and revoked.
    let (a, r) = added(
        p,
        t,
        call(
            s,
            "POST",
            "/api/v1/apikeys",
            admin,
            Some(json!({ "scopes": "read", "name": "ci" })),
        ),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let key_id = a.body["id"].as_str().unwrap().to_owned();
    let secret = a.body["key"].as_str().unwrap().to_owned();
    let rec = one(
        &r,
        &a,
        actions::APIKEY_CREATE,
        &admin_id,
        "success",
        Some(&key_id),
    );
    assert_eq!(rec.details["scopes"], "read");
    assert!(!scrim_audit::to_json_line(&rec).contains(&secret));
    // Its first use from this address is recorded once, beside the read it made.
    let new_key = Cred::Key(secret.clone());
    let (a, r) = added(p, t, call(s, "GET", "/api/v1/services", &new_key, None)).await;
    assert_eq!(r.len(), 2, "{r:#?}");
    one(
        &r[..1],
        &a,
        actions::APIKEY_NEW_ADDRESS,
        &key_id,
        "success",
        Some(&key_id),
    );
    let (a, r) = added(p, t, call(s, "GET", "/api/v1/services", &new_key, None)).await;
    one(
        &r,
        &a,
        actions::TELEMETRY_READ,
        &key_id,
        "success",
        Some("services"),
    );
    let path = format!("/api/v1/apikeys/{key_id}");
    let (a, r) = added(p, t, call(s, "DELETE", &path, admin, None)).await;
    assert_eq!(a.status, 204);
    one(
        &r,
        &a,
        actions::APIKEY_REVOKE,
        &admin_id,
        "success",
        Some(&key_id),
    );

    // Members and roles, with the role before and after.
    let body = json!({ "email": "new@acme.example", "role": "viewer", "password": PASSWORD });
    let (a, r) = added(p, t, call(s, "POST", "/api/v1/users", admin, Some(body))).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let new_id = a.body["id"].as_str().unwrap().to_owned();
    let rec = one(&r, &a, actions::MEMBER_ADD, &admin_id, "success", None);
    assert_eq!(rec.details["role"], "viewer");
    assert_eq!(rec.details["new_account"], true);
    let path = format!("/api/v1/users/{new_id}");
    let (a, r) = added(
        p,
        t,
        call(s, "PATCH", &path, admin, Some(json!({ "role": "member" }))),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rec = one(
        &r,
        &a,
        actions::MEMBER_ROLE,
        &admin_id,
        "success",
        Some(&new_id),
    );
    assert_eq!(
        rec.details["changes"]["role"],
        json!({ "before": "viewer", "after": "member" })
    );
    // An admin may not make an owner: refused, and recorded as such.
    let (a, r) = added(
        p,
        t,
        call(s, "PATCH", &path, admin, Some(json!({ "role": "owner" }))),
    )
    .await;
    assert_eq!(a.status, 403);
    one(
        &r,
        &a,
        actions::MEMBER_ROLE,
        &admin_id,
        "denied",
        Some(&new_id),
    );
    let (a, r) = added(p, t, call(s, "DELETE", &path, admin, None)).await;
    assert_eq!(a.status, 204);
    one(
        &r,
        &a,
        actions::MEMBER_REMOVE,
        &admin_id,
        "success",
        Some(&new_id),
    );

    // Settings: a diff of what changed, nothing else.
    let body = json!({ "session_idle_minutes": 20 });
    let (a, r) = added(
        p,
        t,
        call(s, "PUT", "/api/v1/settings/security", admin, Some(body)),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rec = one(
        &r,
        &a,
        actions::SECURITY_SETTINGS,
        &admin_id,
        "success",
        None,
    );
    assert_eq!(
        rec.details["changes"],
        json!({ "session_idle_minutes": { "before": null, "after": 20 } })
    );
    let policy = "mode = \"cloud\"\n";
    let body = json!({ "policy": policy });
    let (a, r) = added(
        p,
        t,
        call(
            s,
            "PUT",
            "/api/v1/settings/capture-policy",
            admin,
            Some(body),
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rec = one(&r, &a, actions::CAPTURE_POLICY, &admin_id, "success", None);
    assert_eq!(rec.details["changes"]["policy"]["after"], policy);

    // One's own account: TOTP enrolment and password.
    let (a, r) = added(p, t, call(s, "POST", "/api/v1/me/mfa/totp", member, None)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    one(
        &r,
        &a,
        actions::MFA_BEGIN,
        &member_id,
        "success",
        Some(&member_id),
    );
    let secret = a.body["secret"].as_str().unwrap().to_owned();
    let body = json!({ "code": code_now(&secret, 0) });
    let (a, r) = added(
        p,
        t,
        call(s, "POST", "/api/v1/me/mfa/totp/confirm", member, Some(body)),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rec = one(
        &r,
        &a,
        actions::MFA_ENABLE,
        &member_id,
        "success",
        Some(&member_id),
    );
    for code in a.body["recovery_codes"].as_array().unwrap() {
        assert!(!scrim_audit::to_json_line(&rec).contains(code.as_str().unwrap()));
    }
    let body =
        json!({ "current_password": "not the password", "new_password": "another long password" });
    let (a, r) = added(
        p,
        t,
        call(s, "POST", "/api/v1/me/password", &fresh, Some(body)),
    )
    .await;
    assert_eq!(a.status, 400);
    let rec = one(
        &r,
        &a,
        actions::PASSWORD_CHANGE,
        &member_id,
        "denied",
        Some(&member_id),
    );
    assert!(!scrim_audit::to_json_line(&rec).contains("another long password"));

    // Refused by the access check: recorded with the permission.
    let (a, r) = added(p, t, call(s, "GET", "/api/v1/audit", member, None)).await;
    assert_eq!(a.status, 403);
    one(
        &r,
        &a,
        actions::ACCESS_DENIED,
        &member_id,
        "denied",
        Some("read audit log"),
    );

    // Reading the audit log is itself recorded.
    let auditor = person(&w, Role::Auditor);
    let auditor_id = user_id(&w, Role::Auditor).await;
    let (a, r) = added(p, t, call(s, "GET", "/api/v1/audit?limit=5", auditor, None)).await;
    assert_eq!(a.status, 200);
    one(&r, &a, actions::AUDIT_READ, &auditor_id, "success", None);

    // Signing out.
    let (a, r) = added(p, t, call(s, "DELETE", "/api/v1/session", &fresh, None)).await;
    assert_eq!(a.status, 204);
    one(
        &r,
        &a,
        actions::SIGN_OUT,
        &member_id,
        "success",
        Some(&member_id),
    );

    // Everything above is one intact chain.
    let key = p.checkpoint_signer().unwrap().public_key();
    let verdict = read::verify_tenant(p.meta(), t, &key).await.unwrap();
    assert!(verdict.result.is_ok(), "{verdict:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_filters_and_exports_the_callers_tenant_only() {
    let w = world().await;
    let s = &w.server;
    let auditor = person(&w, Role::Auditor);
    let member_id = user_id(&w, Role::Member).await;
    for _ in 0..3 {
        let a = call(s, "GET", "/api/v1/services", person(&w, Role::Member), None).await;
        assert_eq!(a.status, 200);
    }
    let path = format!("/api/v1/audit?actor={member_id}&action=telemetry.read");
    let a = call(s, "GET", &path, auditor, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let records = a.body["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|p| p[0] > p[1]),
        "newest first: {seqs:?}"
    );
    // A time window that ends before them finds none.
    let a = call(
        s,
        "GET",
        &format!("{path}&end=2000-01-01T00:00:00Z"),
        auditor,
        None,
    )
    .await;
    assert_eq!(a.body["records"].as_array().unwrap().len(), 0);

    // JSON lines and CSV: every record of the tenant, oldest first.
    let a = call(s, "GET", "/api/v1/audit?format=jsonl", auditor, None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "application/x-ndjson");
    let text = a.body.as_str().unwrap().to_owned();
    let lines: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 3 + 5, "{}", lines.len());
    assert!(lines.iter().all(|r| r.tenant == w.tenant.as_str()));
    assert!(lines.windows(2).all(|p| p[0].seq + 1 == p[1].seq));
    let a = call(
        s,
        "GET",
        "/api/v1/audit?format=csv&action=telemetry.read",
        auditor,
        None,
    )
    .await;
    let csv = a.body.as_str().unwrap();
    assert!(csv.starts_with("time,at_ms,tenant,seq,"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");

    // Bad parameters are refused with a message.
    let a = call(s, "GET", "/api/v1/audit?start=yesterday", auditor, None).await;
    assert_eq!(a.status, 400);
    let a = call(s, "GET", "/api/v1/audit?format=xml", auditor, None).await;
    assert_eq!(a.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_read_the_audit_log_and_an_auditor_cannot_read_telemetry() {
    let w = world().await;
    let s = &w.server;
    for role in [Role::Member, Role::Viewer] {
        let a = call(s, "GET", "/api/v1/audit", person(&w, role), None).await;
        assert_eq!(a.status, 403, "{role}");
    }
    let a = call(s, "GET", "/api/v1/audit", key(&w, Scope::Read), None).await;
    assert_eq!(a.status, 403);
    for cred in [person(&w, Role::Auditor), key(&w, Scope::AuditRead)] {
        let a = call(s, "GET", "/api/v1/audit", cred, None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        for (method, path, body) in [
            ("GET", "/api/v1/traces", None),
            ("GET", "/api/v1/logs", None),
            ("GET", "/api/v1/services", None),
            (
                "GET",
                "/api/v1/traces/0123456789abcdef0123456789abcdef",
                None,
            ),
            ("POST", "/api/v1/sql", Some(json!({ "query": "SELECT 1" }))),
        ] {
            let a = call(s, method, path, cred, body).await;
            assert_eq!(a.status, 403, "{path}: {}", a.body);
        }
    }
}

/// Opens the SQLite metadata database beside the server, as someone with file access would.
async fn raw_db(dir: &Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}", dir.join(scrim_meta::SQLITE_FILE).display());
    sqlx::SqlitePool::connect(&url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_audit_store_blocks_the_action() {
    let w = world().await;
    let s = &w.server;
    let p = s.platform();
    let admin = person(&w, Role::Admin);
    let member = person(&w, Role::Member);
    let db = raw_db(w._dir.path()).await;
    let keys_before = p.meta().list_api_keys(&w.tenant).await.unwrap().len();
    let settings_before = p.meta().security_settings(&w.tenant).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_records \
         BEGIN SELECT RAISE(ABORT, 'audit store down'); END",
    )
    .execute(&db)
    .await
    .unwrap();

    let a = call(
        s,
        "POST",
        "/api/v1/apikeys",
        admin,
        Some(json!({ "scopes": "read" })),
    )
    .await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(
        a.body["error"].as_str().unwrap().contains("audit log"),
        "{}",
        a.body
    );
    assert_eq!(
        p.meta().list_api_keys(&w.tenant).await.unwrap().len(),
        keys_before
    );

    let body = json!({ "require_mfa": true });
    let a = call(s, "PUT", "/api/v1/settings/security", admin, Some(body)).await;
    assert_eq!(a.status, 503);
    assert_eq!(
        p.meta().security_settings(&w.tenant).await.unwrap(),
        settings_before
    );

    // A read whose record cannot be written is not answered.
    let a = call(s, "GET", "/api/v1/services", member, None).await;
    assert_eq!(a.status, 503);
    assert!(a.body.get("services").is_none(), "{}", a.body);

    // A sign-in without its record hands out no session.
    let body = json!({ "email": "member@acme.example", "password": PASSWORD });
    let a = call(
        s,
        "POST",
        "/api/v1/session",
        &Cred::None,
        Some(body.clone()),
    )
    .await;
    assert_ne!(a.status, 200, "{}", a.body);
    assert!(a.headers.get("set-cookie").is_none());

    // The operator's command-line actions are refused the same way.
    let err = scrim_server::admin::create_api_key(
        p,
        &Act::operator(w.tenant.as_str()),
        "acme",
        "read".parse().unwrap(),
        Default::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, scrim_server::ServerError::AuditUnavailable),
        "{err}"
    );
    assert_eq!(
        p.meta().list_api_keys(&w.tenant).await.unwrap().len(),
        keys_before
    );

    // Back up: the same actions work.
    sqlx::query("DROP TRIGGER audit_down")
        .execute(&db)
        .await
        .unwrap();
    let a = call(
        s,
        "POST",
        "/api/v1/apikeys",
        admin,
        Some(json!({ "scopes": "read" })),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = call(s, "POST", "/api/v1/session", &Cred::None, Some(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// A platform with one chain of `n` records and a checkpoint at its end.
async fn platform_with_chain(dir: &Path, n: usize) -> (Platform, String) {
    let p = Platform::open(&PlatformConfig::in_dir(dir)).await.unwrap();
    let chain = "t_audittestaaaaaaaa".to_owned();
    for i in 0..n {
        Act::operator(&chain)
            .entry(p.audit(), actions::TENANT_CREATE, &format!("thing-{i}"))
            .detail("i", i)
            .success()
            .await
            .unwrap();
    }
    (p, chain)
}

/// Runs `sql` on the database behind the server's back, with the chain id as `$1`.
async fn tamper(db: &sqlx::SqlitePool, chain: &str, sql: &str) {
    sqlx::query(sql).bind(chain).execute(db).await.unwrap();
}

async fn verdict(p: &Platform, chain: &str) -> Result<(), String> {
    let key = p.checkpoint_signer().unwrap().public_key();
    read::verify_tenant(p.meta(), chain, &key)
        .await
        .unwrap()
        .result
        .map(|_| ())
}

#[tokio::test]
async fn verify_names_a_stored_record_that_was_edited_deleted_or_reordered() {
    // Edited: the body (what the hash covers), or a column (what filters match).
    let dir = tempfile::tempdir().unwrap();
    let (p, c) = platform_with_chain(dir.path(), 6).await;
    assert_eq!(verdict(&p, &c).await, Ok(()));
    let db = raw_db(dir.path()).await;
    tamper(
        &db,
        &c,
        "UPDATE audit_records SET body = replace(body, 'thing-3', 'thing-X') \
         WHERE tenant = $1 AND seq = 4",
    )
    .await;
    let m = verdict(&p, &c).await.unwrap_err();
    assert!(m.contains("record 4 ") && m.contains("changed"), "{m}");

    let dir = tempfile::tempdir().unwrap();
    let (p, c) = platform_with_chain(dir.path(), 6).await;
    let db = raw_db(dir.path()).await;
    tamper(
        &db,
        &c,
        "UPDATE audit_records SET actor = 'someone-else' WHERE tenant = $1 AND seq = 2",
    )
    .await;
    let m = verdict(&p, &c).await.unwrap_err();
    assert!(m.contains("record 2 ") && m.contains("changed"), "{m}");

    // Deleted: in the middle, and at the end.
    let dir = tempfile::tempdir().unwrap();
    let (p, c) = platform_with_chain(dir.path(), 6).await;
    let db = raw_db(dir.path()).await;
    tamper(
        &db,
        &c,
        "DELETE FROM audit_records WHERE tenant = $1 AND seq = 3",
    )
    .await;
    let m = verdict(&p, &c).await.unwrap_err();
    assert!(m.contains("record 3 ") && m.contains("removed"), "{m}");
    tamper(
        &db,
        &c,
        "DELETE FROM audit_records WHERE tenant = $1 AND seq >= 3",
    )
    .await;
    let m = verdict(&p, &c).await.unwrap_err();
    assert!(
        m.contains("ends at record 2") && m.contains("removed"),
        "{m}"
    );
    // Even with the chain's head moved back too, the signed checkpoint tells.
    let dir = tempfile::tempdir().unwrap();
    let (p, c) = platform_with_chain(dir.path(), 6).await;
    let signer = p.checkpoint_signer().unwrap();
    assert_eq!(
        checkpoints::checkpoint_all(p.meta(), &signer, now_ms())
            .await
            .unwrap(),
        1
    );
    let db = raw_db(dir.path()).await;
    let head: (Vec<u8>,) =
        sqlx::query_as("SELECT hash FROM audit_records WHERE tenant = $1 AND seq = 4")
            .bind(&c)
            .fetch_one(&db)
            .await
            .unwrap();
    tamper(
        &db,
        &c,
        "DELETE FROM audit_records WHERE tenant = $1 AND seq > 4",
    )
    .await;
    sqlx::query("UPDATE audit_heads SET seq = 4, hash = $2 WHERE tenant = $1")
        .bind(&c)
        .bind(&head.0)
        .execute(&db)
        .await
        .unwrap();
    let m = verdict(&p, &c).await.unwrap_err();
    assert!(
        m.contains("checkpoint") && m.contains("after 4 were removed"),
        "{m}"
    );

    // Reordered: records 3 and 4 swap places.
    let dir = tempfile::tempdir().unwrap();
    let (p, c) = platform_with_chain(dir.path(), 6).await;
    let db = raw_db(dir.path()).await;
    for (from, to) in [(3, 1000), (4, 3), (1000, 4)] {
        sqlx::query("UPDATE audit_records SET seq = $3 WHERE tenant = $1 AND seq = $2")
            .bind(&c)
            .bind(from)
            .bind(to)
            .execute(&db)
            .await
            .unwrap();
    }
    // Each row's position no longer matches the record it holds: named at the first.
    let m = verdict(&p, &c).await.unwrap_err();
    assert!(m.contains("record 3 ") && m.contains("changed"), "{m}");
}

#[tokio::test]
async fn retention_under_a_year_is_refused_and_pruning_keeps_the_chain_verifiable() {
    let err = AuditRetention::days(30).unwrap_err().to_string();
    assert!(err.contains("at least 365 days"), "{err}");
    assert!(AuditRetention::days(365).is_ok());
    let toml = "audit_retention_days = 90\n";
    let err = ServerConfig::from_toml(PlatformConfig::in_dir("x"), toml, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("365"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let (p, c) = platform_with_chain(dir.path(), 5).await;
    let signer = p.checkpoint_signer().unwrap();
    let now = now_ms();
    checkpoints::checkpoint_all(p.meta(), &signer, now)
        .await
        .unwrap();
    // Two more records after the checkpoint.
    for i in 0..2 {
        Act::operator(&c)
            .entry(p.audit(), actions::TENANT_CREATE, &format!("later-{i}"))
            .success()
            .await
            .unwrap();
    }
    let retention = AuditRetention::default();
    // Today nothing is old enough.
    let pruned = retention::prune(p.meta(), p.audit(), retention, now)
        .await
        .unwrap();
    assert!(pruned.chains.is_empty());
    assert_eq!(chain(&p, &c).await.len(), 7);
    // Past the retention, records up to the checkpoint go, the prune is recorded first, and
    // the chain still verifies from the checkpoint.
    let later = now + i64::from(retention.in_days() + 1) * 86_400_000;
    let pruned = retention::prune(p.meta(), p.audit(), retention, later)
        .await
        .unwrap();
    assert_eq!(pruned.chains, vec![(c.clone(), 5)]);
    let left = chain(&p, &c).await;
    assert_eq!(left.first().unwrap().seq, 6);
    let last = left.last().unwrap();
    assert_eq!(last.action, actions::AUDIT_PRUNE);
    assert_eq!(
        scrim_server::audit::actor_column(&last.actor),
        "system:retention"
    );
    assert_eq!(last.details["through_seq"], 5);
    assert_eq!(verdict(&p, &c).await, Ok(()));
    // Records younger than the checkpoint stay until a later checkpoint covers them.
    let again = retention::prune(p.meta(), p.audit(), retention, later)
        .await
        .unwrap();
    assert!(again.chains.is_empty());
    let filter = AuditFilter {
        action: Some(actions::AUDIT_PRUNE.into()),
        ..AuditFilter::default()
    };
    assert_eq!(
        read::query(p.meta(), &c, &filter, 10).await.unwrap().len(),
        1
    );
}
