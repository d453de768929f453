//! Access control through the real HTTP API: every route of the OpenAPI document tried with
//! every role and every API-key scope; sessions (CSRF, expiry, sign-out), lockout, expired,
//! revoked and wrong-tenant keys, MFA sign-in, and TLS on the listeners.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use scrim_auth::rbac::{Permission, Role};
use scrim_meta::NewApiKey;
use scrim_server::{PlatformConfig, Server, ServerConfig, TlsMode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::*;

fn permission_named(name: &str) -> Option<Permission> {
    Permission::ALL.into_iter().find(|p| p.as_str() == name)
}

/// A harmless request for an operation: ids that do not exist (so an allowed call ends in
/// 404 after the access check), bodies that change nothing or only the caller's own state.
fn request_for(path: &str, method: &str, n: usize) -> (String, Option<Value>) {
    let concrete = path
        .replace("{trace_id}", "0123456789abcdef0123456789abcdef")
        .replace("{name}", "checkout")
        .replace(
            "{id}",
            if path.starts_with("/api/v1/users") {
                "u_aaaaaaaaaaaaaaaa"
            } else {
                "aaaaaaaaaaaaaaaa"
            },
        );
    let body = match (path, method) {
        ("/api/v1/sql", "post") => Some(json!({ "query": "SELECT 1 AS one" })),
        ("/api/v1/session/tenant", "post") => Some(json!({ "tenant": "acme" })),
        ("/api/v1/me/password", "post") => {
            Some(json!({ "current_password": "wrong", "new_password": "another long password" }))
        }
        ("/api/v1/me/mfa/totp", "delete") | ("/api/v1/me/mfa/totp/confirm", "post") => {
            Some(json!({ "code": "000000" }))
        }
        ("/api/v1/users", "post") => {
            Some(json!({ "email": format!("new{n}@acme.example"), "role": "viewer" }))
        }
        ("/api/v1/users/{id}", "patch") => Some(json!({ "role": "viewer" })),
        // No scopes: refused after the access check (400), so nothing is created.
        ("/api/v1/apikeys", "post") => Some(json!({ "scopes": "" })),
        ("/api/v1/settings/security", "put") => Some(json!({})),
        ("/api/v1/settings/capture-policy", "put") => Some(json!({ "policy": null })),
        ("/api/v1/settings/sso", "put") => Some(json!({ "settings": null })),
        (_, "get") | (_, "delete") => None,
        _ => Some(json!({})),
    };
    (concrete, body)
}

/// Operations that end the caller's own session run last.
fn ends_session(path: &str, method: &str) -> bool {
    matches!(
        (path, method),
        ("/api/v1/me/sign-out-everywhere", "post") | ("/api/v1/session", "delete")
    )
}

#[tokio::test]
async fn every_route_allows_exactly_what_the_matrix_grants_to_every_role_and_scope() {
    let mut w = world().await;
    let doc = call(&w.server, "GET", "/api/v1/openapi.json", &Cred::None, None).await;
    assert_eq!(doc.status, 200);
    let mut operations = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let permission = op["x-scrim-permission"].as_str().unwrap().to_owned();
            operations.push((path.clone(), method.clone(), permission));
        }
    }
    assert!(operations.len() >= 25, "{} operations", operations.len());

    let mut checked = 0;
    let mut n = 0;
    for (path, method, permission) in &operations {
        if permission == "public" {
            continue;
        }
        let needed = permission_named(permission);
        assert!(
            needed.is_some() || permission == "authenticated",
            "{method} {path}: unknown permission {permission:?}"
        );
        let mut callers: Vec<(String, Cred, bool)> = Vec::new();
        for (role, email, cred) in &w.people {
            let allowed = needed.is_none_or(|p| role.grants(p));
            // What ends a session gets a session of its own.
            let cred = if ends_session(path, method) {
                sign_in(&w.server, email, PASSWORD, None).await
            } else {
                cred.clone()
            };
            callers.push((format!("role {role}"), cred, allowed));
        }
        for (scope, cred) in &w.keys {
            let allowed = needed.is_none_or(|p| p.scopes().contains(*scope));
            callers.push((format!("scope {scope}"), cred.clone(), allowed));
        }
        for (who, cred, allowed) in callers {
            n += 1;
            let (concrete, body) = request_for(path, method, n);
            let a = call(&w.server, &method.to_uppercase(), &concrete, &cred, body).await;
            // A session's DELETE /api/v1/session is fine; a key's is a 400 (no session).
            if allowed {
                assert!(
                    a.status != 401 && a.status != 403,
                    "{who} must be allowed {method} {path} ({permission}), got {} {}",
                    a.status,
                    a.body
                );
            } else {
                assert_eq!(
                    a.status, 403,
                    "{who} must be denied {method} {path} ({permission}): {}",
                    a.body
                );
                assert!(a.body["error"].as_str().is_some_and(|e| !e.is_empty()));
            }
            checked += 1;
        }
        if ends_session(path, method) {
            // Signing out everywhere ended the shared sessions too: sign in again.
            for (_, email, cred) in &mut w.people {
                *cred = sign_in(&w.server, email, PASSWORD, None).await;
            }
        }
        // Nobody: always 401, never a hint of the data.
        let (concrete, body) = request_for(path, method, 0);
        let a = call(
            &w.server,
            &method.to_uppercase(),
            &concrete,
            &Cred::None,
            body,
        )
        .await;
        assert_eq!(a.status, 401, "anonymous {method} {path}: {}", a.body);
        checked += 1;
    }
    // 13 callers and nobody, on every operation that needs a credential.
    assert!(checked >= 20 * 14, "{checked} checks");
}

#[tokio::test]
async fn state_changes_without_the_sessions_csrf_token_are_refused() {
    let w = world().await;
    let (_, _, owner) = &w.people[0];
    let Cred::Session { cookie, csrf } = owner.clone() else {
        unreachable!()
    };
    let body = json!({ "require_mfa": false });
    let missing = call_with(
        &w.server,
        "PUT",
        "/api/v1/settings/security",
        owner,
        Some(body.clone()),
        false,
    )
    .await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert!(missing.body["error"].as_str().unwrap().contains("CSRF"));
    // Another session's token does not fit this session.
    let (_, _, admin) = &w.people[1];
    let Cred::Session { csrf: other, .. } = admin.clone() else {
        unreachable!()
    };
    let crossed = Cred::Session {
        cookie: cookie.clone(),
        csrf: other,
    };
    let wrong = call(
        &w.server,
        "PUT",
        "/api/v1/settings/security",
        &crossed,
        Some(body.clone()),
    )
    .await;
    assert_eq!(wrong.status, 403);
    // Reads need no token; with the right token the change goes through.
    let read = call_with(
        &w.server,
        "GET",
        "/api/v1/settings/security",
        owner,
        None,
        false,
    )
    .await;
    assert_eq!(read.status, 200);
    let ok = call(
        &w.server,
        "PUT",
        "/api/v1/settings/security",
        &Cred::Session { cookie, csrf },
        Some(body),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // Sign-in itself only takes JSON, which a cross-site form cannot send.
    let form = Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>()
        .request(
            Request::builder()
                .method("POST")
                .uri(format!("http://{}/api/v1/session", w.server.http_addr()))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(
                    "email=owner%40acme.example&password=x",
                )))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 415);
}

#[tokio::test]
async fn sessions_expire_idle_or_absolute_and_sign_out_ends_them() {
    for (idle, absolute, expected) in [
        (Duration::ZERO, Duration::from_secs(3600), "inactivity"),
        (
            Duration::from_secs(3600),
            Duration::ZERO,
            "maximum lifetime",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = start_with(dir.path(), |c| {
            c.session_timeouts = scrim_auth::SessionTimeouts { idle, absolute };
        })
        .await;
        let t = scrim_server::admin::create_tenant(
            server.platform(),
            &scrim_server::accounts::Act::operator("-"),
            "acme",
            &Default::default(),
        )
        .await
        .unwrap();
        server
            .accounts()
            .add_member(
                &scrim_server::accounts::Act::operator("-"),
                &t.id,
                "a@acme.example",
                Role::Member,
                Some(PASSWORD),
            )
            .await
            .unwrap();
        let s = sign_in(&server, "a@acme.example", PASSWORD, None).await;
        let a = call(&server, "GET", "/api/v1/session", &s, None).await;
        assert_eq!(a.status, 401, "{}", a.body);
        assert!(
            a.body["error"].as_str().unwrap().contains(expected),
            "{}",
            a.body
        );
    }

    let w = world().await;
    let (_, email, member) = &w.people[2];
    assert_eq!(
        call(&w.server, "GET", "/api/v1/session", member, None)
            .await
            .status,
        200
    );
    let out = call(&w.server, "DELETE", "/api/v1/session", member, None).await;
    assert_eq!(out.status, 204);
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        call(&w.server, "GET", "/api/v1/session", member, None)
            .await
            .status,
        401
    );

    // Sign out everywhere ends the other sessions of the account too.
    let a = sign_in(&w.server, email, PASSWORD, None).await;
    let b = sign_in(&w.server, email, PASSWORD, None).await;
    let out = call(
        &w.server,
        "POST",
        "/api/v1/me/sign-out-everywhere",
        &a,
        None,
    )
    .await;
    assert_eq!(out.status, 204);
    assert_eq!(
        call(&w.server, "GET", "/api/v1/session", &b, None)
            .await
            .status,
        401
    );

    // A role change applies to the running session at once; removal ends access.
    let c = sign_in(&w.server, email, PASSWORD, None).await;
    assert_eq!(
        call(&w.server, "GET", "/api/v1/logs", &c, None)
            .await
            .status,
        200
    );
    let user = w
        .server
        .platform()
        .meta()
        .user_by_email(email)
        .await
        .unwrap()
        .unwrap();
    let (_, _, owner) = &w.people[0];
    let patch = call(
        &w.server,
        "PATCH",
        &format!("/api/v1/users/{}", user.id),
        owner,
        Some(json!({ "role": "viewer" })),
    )
    .await;
    assert_eq!(patch.status, 200, "{}", patch.body);
    assert_eq!(
        call(&w.server, "GET", "/api/v1/logs", &c, None)
            .await
            .status,
        403
    );
    assert_eq!(
        call(&w.server, "GET", "/api/v1/services", &c, None)
            .await
            .status,
        200
    );
    let del = call(
        &w.server,
        "DELETE",
        &format!("/api/v1/users/{}", user.id),
        owner,
        None,
    )
    .await;
    assert_eq!(del.status, 204);
    assert_eq!(
        call(&w.server, "GET", "/api/v1/services", &c, None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_then_the_address() {
    let w = world().await;
    let s = &w.server;
    let bad = |email: &str| json!({ "email": email, "password": "wrong password!" });
    for i in 1..=4 {
        let a = call(
            s,
            "POST",
            "/api/v1/session",
            &Cred::None,
            Some(bad("viewer@acme.example")),
        )
        .await;
        assert_eq!(a.status, 401, "attempt {i}: {}", a.body);
        assert_eq!(a.body["error"], "wrong e-mail, password or code");
    }
    let locked = call(
        s,
        "POST",
        "/api/v1/session",
        &Cred::None,
        Some(bad("viewer@acme.example")),
    )
    .await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.headers.contains_key("retry-after"));
    assert!(
        locked.body["error"]
            .as_str()
            .unwrap()
            .contains("too many failed attempts")
    );
    // Locked means locked: the right password is refused too, without being checked.
    let right = json!({ "email": "viewer@acme.example", "password": PASSWORD });
    assert_eq!(
        call(s, "POST", "/api/v1/session", &Cred::None, Some(right))
            .await
            .status,
        429
    );
    // Unknown accounts answer exactly like wrong passwords.
    let unknown = call(
        s,
        "POST",
        "/api/v1/session",
        &Cred::None,
        Some(bad("nobody@acme.example")),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.body["error"].clone()),
        (401, json!("wrong e-mail, password or code"))
    );
    // The address: 20 failures in all (5 so far + 1), then every sign-in and key from it is refused.
    for _ in 0..13 {
        call(
            s,
            "POST",
            "/api/v1/session",
            &Cred::None,
            Some(bad("nobody@acme.example")),
        )
        .await;
    }
    let last = call(
        s,
        "POST",
        "/api/v1/session",
        &Cred::None,
        Some(bad("nobody@acme.example")),
    )
    .await;
    assert_eq!(last.status, 429, "{}", last.body);
    let member = json!({ "email": "member@acme.example", "password": PASSWORD });
    assert_eq!(
        call(s, "POST", "/api/v1/session", &Cred::None, Some(member))
            .await
            .status,
        429
    );
    let (_, read_key) = &w.keys[3];
    assert_eq!(
        call(s, "GET", "/api/v1/services", read_key, None)
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn guessing_keys_is_locked_out_on_the_api_and_on_ingest() {
    let w = world().await;
    let s = &w.server;
    let wrong = Cred::Key(format!("scrim_aaaaaaaaaaaaaaaa_{}", "b".repeat(32)));
    for _ in 0..19 {
        assert_eq!(
            call(s, "GET", "/api/v1/services", &wrong, None)
                .await
                .status,
            401
        );
    }
    let locked = call(s, "GET", "/api/v1/services", &wrong, None).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.headers.contains_key("retry-after"));
    // OTLP from the same address is throttled as well (429, which exporters retry later).
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let (_, ingest) = &w.keys[0];
    let Cred::Key(key) = ingest else {
        unreachable!()
    };
    let resp = client
        .request(
            Request::builder()
                .method("POST")
                .uri(format!("http://{}/v1/traces", s.otlp_http_addr().unwrap()))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {key}"))
                .body(Full::new(Bytes::from("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"0123456789abcdef0123456789abcdef\",\"spanId\":\"0123456789abcdef\",\"name\":\"x\"}]}]}]}")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
}

#[tokio::test]
async fn expired_revoked_and_other_tenants_keys_are_refused() {
    let w = world().await;
    let meta = w.server.platform().meta();
    let (_, expired) = meta
        .create_api_key(
            &w.tenant,
            "read".parse().unwrap(),
            NewApiKey {
                expires_at: Some(SystemTime::now() - Duration::from_secs(1)),
                ..NewApiKey::default()
            },
        )
        .await
        .unwrap();
    let a = call(
        &w.server,
        "GET",
        "/api/v1/services",
        &Cred::Key(expired.expose()),
        None,
    )
    .await;
    assert_eq!(a.status, 401);
    // The answer does not say why (expired, revoked, unknown look the same).
    assert!(!a.body["error"].as_str().unwrap().contains("expired"));

    // A member creates a key with their own scopes, and revokes it; it stops at once.
    let (_, _, member) = &w.people[2];
    let created = call(
        &w.server,
        "POST",
        "/api/v1/apikeys",
        member,
        Some(json!({ "scopes": "read", "name": "laptop" })),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key = Cred::Key(created.body["key"].as_str().unwrap().to_owned());
    assert_eq!(
        call(&w.server, "GET", "/api/v1/services", &key, None)
            .await
            .status,
        200
    );
    let too_much = call(
        &w.server,
        "POST",
        "/api/v1/apikeys",
        member,
        Some(json!({ "scopes": "read,admin" })),
    )
    .await;
    assert_eq!(too_much.status, 403);
    assert!(
        too_much.body["error"].as_str().unwrap().contains("admin"),
        "{}",
        too_much.body
    );
    let id = created.body["id"].as_str().unwrap();
    // Another member may not revoke it; its creator may.
    let (_, _, viewer) = &w.people[3];
    assert_eq!(
        call(
            &w.server,
            "DELETE",
            &format!("/api/v1/apikeys/{id}"),
            viewer,
            None
        )
        .await
        .status,
        403
    );
    assert_eq!(
        call(
            &w.server,
            "DELETE",
            &format!("/api/v1/apikeys/{id}"),
            member,
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        call(&w.server, "GET", "/api/v1/services", &key, None)
            .await
            .status,
        401
    );

    // A key of another tenant sees and touches nothing of this one.
    let globex = scrim_server::admin::create_tenant(
        w.server.platform(),
        &scrim_server::accounts::Act::operator("-"),
        "globex",
        &Default::default(),
    )
    .await
    .unwrap();
    let (_, foreign) = meta
        .create_api_key(
            &globex.id,
            "read,admin".parse().unwrap(),
            NewApiKey::default(),
        )
        .await
        .unwrap();
    let foreign = Cred::Key(foreign.expose());
    let who = call(&w.server, "GET", "/api/v1/session", &foreign, None).await;
    assert_eq!(who.body["tenant"]["name"], "globex");
    let users = call(&w.server, "GET", "/api/v1/users", &foreign, None).await;
    assert_eq!(users.body["users"], json!([]));
    let acme_member = meta
        .user_by_email("member@acme.example")
        .await
        .unwrap()
        .unwrap();
    let del = call(
        &w.server,
        "DELETE",
        &format!("/api/v1/users/{}", acme_member.id),
        &foreign,
        None,
    )
    .await;
    assert_eq!(del.status, 404);
    assert_eq!(
        meta.membership(&acme_member.id, &w.tenant).await.unwrap(),
        Some(Role::Member)
    );
    let keys = call(&w.server, "GET", "/api/v1/apikeys", &foreign, None).await;
    assert_eq!(keys.body["api_keys"].as_array().unwrap().len(), 1);
    let (_, acme_read) = &w.keys[3];
    let Cred::Key(acme_read) = acme_read else {
        unreachable!()
    };
    let acme_id = &acme_read["scrim_".len().."scrim_".len() + 16];
    let revoke = call(
        &w.server,
        "DELETE",
        &format!("/api/v1/apikeys/{acme_id}"),
        &foreign,
        None,
    )
    .await;
    assert_eq!(revoke.status, 404);
}

#[tokio::test]
async fn owners_are_made_only_by_owners_and_the_last_owner_stays() {
    let w = world().await;
    let (_, _, owner) = &w.people[0];
    let (_, _, admin) = &w.people[1];
    let make_owner = json!({ "email": "boss@acme.example", "role": "owner" });
    let a = call(
        &w.server,
        "POST",
        "/api/v1/users",
        admin,
        Some(make_owner.clone()),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = call(&w.server, "POST", "/api/v1/users", owner, Some(make_owner)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(
        a.body["initial_password"]
            .as_str()
            .is_some_and(|p| p.len() >= 20)
    );
    let owner_id = w
        .server
        .platform()
        .meta()
        .user_by_email("owner@acme.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    let demote = call(
        &w.server,
        "PATCH",
        &format!("/api/v1/users/{owner_id}"),
        admin,
        Some(json!({ "role": "member" })),
    )
    .await;
    assert_eq!(demote.status, 403);
    // With two owners one may step down; the last one may not.
    let boss = w
        .server
        .platform()
        .meta()
        .user_by_email("boss@acme.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        call(
            &w.server,
            "DELETE",
            &format!("/api/v1/users/{boss}"),
            owner,
            None
        )
        .await
        .status,
        204
    );
    let last = call(
        &w.server,
        "PATCH",
        &format!("/api/v1/users/{owner_id}"),
        owner,
        Some(json!({ "role": "admin" })),
    )
    .await;
    assert_eq!(last.status, 400, "{}", last.body);
    assert!(
        last.body["error"]
            .as_str()
            .unwrap()
            .contains("at least one owner")
    );
}

/// The current TOTP code of an enrolment, computed as an authenticator app would.
#[tokio::test]
async fn mfa_enrolment_then_sign_in_with_a_code_or_a_recovery_code_once() {
    let w = world().await;
    let (_, email, member) = &w.people[2];
    let begun = call(&w.server, "POST", "/api/v1/me/mfa/totp", member, None).await;
    assert_eq!(begun.status, 200, "{}", begun.body);
    let secret = begun.body["secret"].as_str().unwrap().to_owned();
    assert!(
        begun.body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Scrim:")
    );
    assert!(begun.body["qr_svg"].as_str().unwrap().contains("<svg"));
    // Stored sealed: the database never holds the base32 secret or its bytes.
    let user = w
        .server
        .platform()
        .meta()
        .user_by_email(email)
        .await
        .unwrap()
        .unwrap();
    let raw = scrim_auth::TotpSecret::from_base32(&secret).unwrap();
    let pending = user.totp_pending.clone().unwrap();
    assert!(!pending.windows(20).any(|w| w == raw.expose_bytes()));

    let wrong = call(
        &w.server,
        "POST",
        "/api/v1/me/mfa/totp/confirm",
        member,
        Some(json!({ "code": "000000" })),
    )
    .await;
    assert_eq!(wrong.status, 400);
    let confirmed = call(
        &w.server,
        "POST",
        "/api/v1/me/mfa/totp/confirm",
        member,
        Some(json!({ "code": code_now(&secret, 0) })),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let recovery: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    // The password alone is no longer enough.
    let plain = call(
        &w.server,
        "POST",
        "/api/v1/session",
        &Cred::None,
        Some(json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    assert_eq!(plain.status, 401);
    assert_eq!(plain.body["mfa_required"], true);
    // The confirming code's step is spent; the next step's code works, once.
    let next = code_now(&secret, 1);
    let s = sign_in(&w.server, email, PASSWORD, Some(&next)).await;
    let who = call(&w.server, "GET", "/api/v1/session", &s, None).await;
    assert_eq!(who.body["method"], "password+totp");
    let replay = call(
        &w.server,
        "POST",
        "/api/v1/session",
        &Cred::None,
        Some(json!({ "email": email, "password": PASSWORD, "code": next })),
    )
    .await;
    assert_eq!(replay.status, 401);
    // A recovery code works once.
    let r = sign_in(&w.server, email, PASSWORD, Some(&recovery[0])).await;
    let who = call(&w.server, "GET", "/api/v1/session", &r, None).await;
    assert_eq!(who.body["method"], "password+recovery");
    let again = call(
        &w.server,
        "POST",
        "/api/v1/session",
        &Cred::None,
        Some(json!({ "email": email, "password": PASSWORD, "code": recovery[0] })),
    )
    .await;
    assert_eq!(again.status, 401);
}

#[tokio::test]
async fn a_tenant_that_requires_mfa_restricts_password_only_sessions_to_enrolment() {
    let w = world().await;
    let (_, _, owner) = &w.people[0];
    let (_, _, member) = &w.people[2];
    let set = call(
        &w.server,
        "PUT",
        "/api/v1/settings/security",
        owner,
        Some(json!({ "require_mfa": true })),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let a = call(&w.server, "GET", "/api/v1/logs", member, None).await;
    assert_eq!(a.status, 403);
    assert!(
        a.body["error"].as_str().unwrap().contains("multi-factor"),
        "{}",
        a.body
    );
    // Enrolment stays open to them.
    assert_eq!(
        call(&w.server, "POST", "/api/v1/me/mfa/totp", member, None)
            .await
            .status,
        200
    );
    // Keys are machines: the MFA rule is for people.
    let (_, read_key) = &w.keys[3];
    assert_eq!(
        call(&w.server, "GET", "/api/v1/logs", read_key, None)
            .await
            .status,
        200
    );
    let review = call(&w.server, "GET", "/api/v1/access-review", owner, None).await;
    assert_eq!(review.status, 403, "the owner has no second factor either");
}

#[tokio::test]
async fn access_review_lists_people_and_keys_and_flags_stale_keys() {
    let w = world().await;
    let meta = w.server.platform().meta();
    let tenant = meta.tenant_by_id(&w.tenant).await.unwrap().unwrap();
    let (_, auditor_key) = &w.keys[7];
    assert_eq!(
        call(&w.server, "GET", "/api/v1/services", auditor_key, None)
            .await
            .status,
        403
    );
    let review = call(&w.server, "GET", "/api/v1/access-review", auditor_key, None).await;
    assert_eq!(review.status, 200, "{}", review.body);
    assert_eq!(review.body["people"].as_array().unwrap().len(), 5);
    assert_eq!(review.body["api_keys"].as_array().unwrap().len(), 8);
    let used = review.body["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["scopes"] == "audit:read")
        .unwrap();
    assert!(used["last_used_at"].is_string(), "{used}");
    // 91 days on, every active key is stale.
    let later = SystemTime::now() + Duration::from_secs(91 * 86_400);
    let r = scrim_server::review::access_review(meta, &tenant, later)
        .await
        .unwrap();
    assert!(
        r.api_keys
            .iter()
            .all(|k| k.flags.iter().any(|f| f.contains("90 days")))
    );
    let now = scrim_server::review::access_review(meta, &tenant, SystemTime::now())
        .await
        .unwrap();
    assert!(
        now.api_keys
            .iter()
            .all(|k| !k.flags.iter().any(|f| f.contains("90 days")))
    );
    assert!(now.to_text().contains("owner@acme.example"));
}

/// The first certificate of a self-signed server, as a rustls client trusts it.
fn client_config(
    dir: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(dir.join("tls").join("tls-cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::test]
async fn every_listener_speaks_tls_and_refuses_plaintext_and_tls11() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |c| {
        c.tls = TlsMode::SelfSigned {
            dir: dir.path().join("tls"),
            names: Vec::new(),
        };
    })
    .await;
    let fingerprint = server.tls_fingerprint().unwrap();
    assert_eq!(fingerprint.len(), 32 * 3 - 1);
    for addr in [server.http_addr(), server.otlp_http_addr().unwrap()] {
        // TLS 1.2 and 1.3 complete a request.
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let connector = tokio_rustls::TlsConnector::from(client_config(dir.path(), &[version]));
            let tcp = TcpStream::connect(addr).await.unwrap();
            let mut tls = connector
                .connect(
                    rustls_pki_types::ServerName::try_from("localhost").unwrap(),
                    tcp,
                )
                .await
                .unwrap();
            tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            tls.read_to_end(&mut answer).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with("HTTP/1.1 "), "{text}");
        }
        // Plain HTTP gets no HTTP answer.
        let mut plain = TcpStream::connect(addr).await.unwrap();
        plain
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = plain.read_to_end(&mut answer).await;
        assert!(
            !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
            "{answer:?}"
        );
        // A TLS 1.1 hello is answered by one fatal alert and a close.
        let mut old = TcpStream::connect(addr).await.unwrap();
        old.write_all(&tls11_client_hello()).await.unwrap();
        let mut answer = Vec::new();
        let _ = old.read_to_end(&mut answer).await;
        assert_eq!(answer.first(), Some(&21), "{answer:02x?}");
        assert_eq!(answer.get(5), Some(&2), "fatal: {answer:02x?}");
    }
    server.shutdown().await;

    // Without TLS, a listener on every interface needs the explicit flag.
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::loopback_ephemeral(PlatformConfig::in_dir(dir.path()));
    config.http = "0.0.0.0:0".parse().unwrap();
    let err = Server::start(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("0.0.0.0"), "{err}");
    assert!(
        err.to_lowercase().contains("plaintext") || err.contains("plain"),
        "{err}"
    );
}

/// A TLS 1.1 ClientHello (record and hello version 0x0302, no supported_versions).
fn tls11_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02];
    hello.extend([7u8; 32]);
    hello.push(0);
    let suites: [u16; 3] = [0xc013, 0x002f, 0x0035];
    hello.extend(((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        hello.extend(s.to_be_bytes());
    }
    hello.extend([1, 0]);
    let ext = [0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17];
    hello.extend((ext.len() as u16).to_be_bytes());
    hello.extend(ext);
    let mut hs = vec![0x01];
    hs.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    hs.extend(hello);
    let mut record = vec![0x16, 0x03, 0x02];
    record.extend((hs.len() as u16).to_be_bytes());
    record.extend(hs);
    record
}

async fn form(server: &Server, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Answer {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                s.bytes()
                    .map(|b| match b {
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let resp = client
        .request(
            Request::builder()
                .method("POST")
                .uri(format!("http://{}{path}", server.http_addr()))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .body(Full::new(Bytes::from(body.join("&"))))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        headers,
    }
}

#[tokio::test]
async fn the_sign_in_pages_work_and_refuse_forged_forms() {
    let w = world().await;
    let page = call(&w.server, "GET", "/login", &Cred::None, None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = page.body.as_str().unwrap();
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let login_cookie = page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(login_cookie, format!("scrim_login_csrf={token}"));
    let fields = [
        ("csrf_token", token.as_str()),
        ("email", "member@acme.example"),
        ("password", PASSWORD),
    ];
    // A cross-site post carries no SameSite=Strict cookie: refused, nothing checked.
    assert_eq!(form(&w.server, "/login", "", &fields).await.status, 403);
    let wrong = form(
        &w.server,
        "/login",
        &login_cookie,
        &[
            ("csrf_token", &token),
            ("email", "member@acme.example"),
            ("password", "nope"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong
            .body
            .as_str()
            .unwrap()
            .contains("wrong e-mail, password or code")
    );
    let ok = form(&w.server, "/login", &login_cookie, &fields).await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.headers["location"], "/");
    let session = ok.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let home = client
        .request(
            Request::builder()
                // `/` sends a person to the first page their role may open.
                .uri(format!("http://{}/services", w.server.http_addr()))
                .header("cookie", session.as_str())
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let home =
        String::from_utf8_lossy(&home.into_body().collect().await.unwrap().to_bytes()).into_owned();
    assert!(home.contains("member@acme.example"), "{home}");
    let csrf = home
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    assert_eq!(
        form(&w.server, "/logout", &session, &[("csrf_token", "forged")])
            .await
            .status,
        403
    );
    let out = form(&w.server, "/logout", &session, &[("csrf_token", csrf)]).await;
    assert_eq!(out.status, 303);
    let after = call(
        &w.server,
        "GET",
        "/api/v1/session",
        &Cred::Session {
            cookie: session,
            csrf: csrf.to_owned(),
        },
        None,
    )
    .await;
    assert_eq!(after.status, 401);
}
