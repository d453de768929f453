//! The web UI over HTTP, without a browser: what each role is offered and refused, the
//! two-step sign-in, the security headers and assets, escaping of telemetry values, and
//! the API routes the pages are drawn from (preview, redactions, posture).

mod common;

use std::time::SystemTime;

use common::{Answer, Cred, PASSWORD, World, call, code_now, exporter, raw, world};
use http_body_util::Full;
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use scrim_auth::rbac::Role;
use scrim_auth::{Permission, Scope};
use serde_json::json;

fn session(cred: &Cred) -> (&str, &str) {
    match cred {
        Cred::Session { cookie, csrf } => (cookie.as_str(), csrf.as_str()),
        _ => panic!("a session"),
    }
}

fn page(a: &Answer) -> &str {
    a.body.as_str().unwrap()
}

/// Pages, the permission each needs, and a link only a permitted role is offered.
const PAGES: [(&str, Permission); 12] = [
    ("/services", Permission::ViewServices),
    ("/traces", Permission::ReadTelemetry),
    ("/logs", Permission::ReadTelemetry),
    ("/sql", Permission::SqlConsole),
    ("/privacy", Permission::ViewSecuritySettings),
    ("/access", Permission::ViewMembers),
    ("/audit", Permission::ReadAudit),
    ("/data", Permission::ViewSecuritySettings),
    ("/security", Permission::ViewSecuritySettings),
    ("/alerts", Permission::ViewAlerts),
    ("/insights", Permission::ViewAlerts),
    ("/security/detections", Permission::ViewDetections),
];

#[tokio::test]
async fn each_role_is_offered_only_what_it_may_open_and_refused_the_rest() {
    let w = world().await;
    for (role, _, cred) in &w.people {
        let (cookie, _) = session(cred);
        let home = raw(&w.server, "GET", "/services", cookie, None).await;
        for (path, permission) in PAGES {
            let a = raw(&w.server, "GET", path, cookie, None).await;
            let allowed = role.grants(permission);
            assert_eq!(
                a.status,
                if allowed { 200 } else { 403 },
                "{role} {path}: {}",
                page(&a)
            );
            // The navigation of any page the role can open offers exactly its pages.
            let link = format!("href=\"{path}\"");
            if role.grants(Permission::ViewServices) {
                assert_eq!(
                    page(&home).contains(&link),
                    allowed,
                    "{role}: the link to {path}"
                );
            }
        }
    }
    // Nobody signed in: to the sign-in page, never a page.
    let a = raw(&w.server, "GET", "/traces", "", None).await;
    assert_eq!(a.status, 303);
    assert_eq!(a.headers["location"], "/login");
    // An API key is not a person: pages do not take one.
    let key = w.keys.iter().find_map(|(_, c)| match c {
        Cred::Key(k) => Some(k.clone()),
        _ => None,
    });
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let resp = client
        .request(
            Request::builder()
                .uri(format!("http://{}/services", w.server.http_addr()))
                .header("authorization", format!("Bearer {}", key.unwrap()))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn a_change_the_role_may_not_make_is_refused_and_recorded() {
    let w = world().await;
    let (role, _, member) = w
        .people
        .iter()
        .find(|(r, _, _)| *r == Role::Member)
        .unwrap();
    assert!(!role.grants(Permission::ManageCapturePolicy));
    let (cookie, csrf) = session(member);
    let a = raw(
        &w.server,
        "POST",
        "/privacy/policy",
        cookie,
        Some(&[
            ("csrf_token", csrf),
            ("policy", "mode = \"on-prem\"\n"),
            ("action", "save"),
        ]),
    )
    .await;
    assert_eq!(a.status, 403, "{}", page(&a));
    let tenant = w
        .server
        .platform()
        .meta()
        .tenant_by_id(&w.tenant)
        .await
        .unwrap()
        .unwrap();
    assert!(tenant.capture_policy.is_none(), "nothing changed");
    // An admin without the session's CSRF token: refused by the API behind the page.
    let (_, _, admin) = w.people.iter().find(|(r, _, _)| *r == Role::Admin).unwrap();
    let (cookie, _) = session(admin);
    let a = raw(
        &w.server,
        "POST",
        "/privacy/policy",
        cookie,
        Some(&[
            ("csrf_token", "forged"),
            ("policy", "mode = \"on-prem\"\n"),
            ("action", "save"),
        ]),
    )
    .await;
    assert!(page(&a).contains("CSRF"), "{}", page(&a));
    let tenant = w
        .server
        .platform()
        .meta()
        .tenant_by_id(&w.tenant)
        .await
        .unwrap()
        .unwrap();
    assert!(tenant.capture_policy.is_none(), "nothing changed");
    // With it: saved, and the page says so.
    let (_, csrf) = session(admin);
    let a = raw(
        &w.server,
        "POST",
        "/privacy/policy",
        cookie,
        Some(&[
            ("csrf_token", csrf),
            ("policy", "[client_ips]\nmethod = \"drop\"\n"),
            ("action", "save"),
        ]),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(page(&a).contains("Capture policy saved"), "{}", page(&a));
    // A policy that does not parse: refused with the reason, the draft kept on the page.
    let a = raw(
        &w.server,
        "POST",
        "/privacy/policy",
        cookie,
        Some(&[
            ("csrf_token", csrf),
            ("policy", "[sql]\ncapture = \"rawx\"\n"),
            ("action", "save"),
        ]),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(page(&a).contains("rawx"), "{}", page(&a));
    let tenant = w
        .server
        .platform()
        .meta()
        .tenant_by_id(&w.tenant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        tenant.capture_policy.as_deref(),
        Some("[client_ips]\nmethod = \"drop\"\n")
    );
}

#[tokio::test]
async fn the_password_step_alone_never_signs_in() {
    let w = world().await;
    let (_, email, cred) = w.people.iter().find(|(r, _, _)| *r == Role::Owner).unwrap();
    let begun = call(
        &w.server,
        "POST",
        "/api/v1/me/mfa/totp",
        cred,
        Some(json!({})),
    )
    .await;
    let secret = begun.body["secret"].as_str().unwrap().to_owned();
    let confirmed = call(
        &w.server,
        "POST",
        "/api/v1/me/mfa/totp/confirm",
        cred,
        Some(json!({ "code": code_now(&secret, 0) })),
    )
    .await;
    assert_eq!(confirmed.status, 200);
    // The sign-in form sets its double-submit cookie.
    let form = raw(&w.server, "GET", "/login", "", None).await;
    let set = form.headers["set-cookie"].to_str().unwrap().to_owned();
    let login_cookie = set.split(';').next().unwrap().to_owned();
    let token = login_cookie.split('=').nth(1).unwrap().to_owned();
    // Without the cookie the form is refused.
    let a = raw(
        &w.server,
        "POST",
        "/login",
        "",
        Some(&[
            ("csrf_token", &token),
            ("email", email),
            ("password", PASSWORD),
        ]),
    )
    .await;
    assert_eq!(a.status, 403);
    // The password alone: the code page, and no session.
    let a = raw(
        &w.server,
        "POST",
        "/login",
        &login_cookie,
        Some(&[
            ("csrf_token", &token),
            ("email", email),
            ("password", PASSWORD),
        ]),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(!a.headers.contains_key("set-cookie"), "no session yet");
    let html = page(&a);
    assert!(
        !html.contains(PASSWORD),
        "the password is not carried to the next page"
    );
    let ticket = html
        .split("name=\"ticket\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let code = code_now(&secret, 1);
    // A forged ticket, or the right one under another form cookie: refused.
    let mut forged = ticket.clone();
    let last = if forged.ends_with('0') { "1" } else { "0" };
    forged.replace_range(forged.len() - 1.., last);
    for (cookie, t, tok) in [
        (login_cookie.as_str(), forged.as_str(), token.as_str()),
        ("scrim_login_csrf=other", ticket.as_str(), "other"),
    ] {
        let a = raw(
            &w.server,
            "POST",
            "/login/code",
            cookie,
            Some(&[("csrf_token", tok), ("ticket", t), ("code", &code)]),
        )
        .await;
        assert_eq!(a.status, 401, "{}", page(&a));
        assert!(!a.headers.contains_key("set-cookie"));
    }
    // A wrong code: asked again on the same ticket.
    let a = raw(
        &w.server,
        "POST",
        "/login/code",
        &login_cookie,
        Some(&[
            ("csrf_token", &token),
            ("ticket", &ticket),
            ("code", "000000"),
        ]),
    )
    .await;
    assert_eq!(a.status, 401);
    assert!(page(&a).contains(&ticket));
    // The right code: signed in.
    let a = raw(
        &w.server,
        "POST",
        "/login/code",
        &login_cookie,
        Some(&[("csrf_token", &token), ("ticket", &ticket), ("code", &code)]),
    )
    .await;
    assert_eq!(a.status, 303, "{}", page(&a));
    let session = a.headers["set-cookie"].to_str().unwrap();
    assert!(session.starts_with("scrim_session="), "{session}");
    let cookie = session.split(';').next().unwrap();
    let me = raw(&w.server, "GET", "/sessions", cookie, None).await;
    assert!(
        page(&me).contains("password+totp"),
        "signed in with the second factor: {}",
        page(&me)
    );
}

#[tokio::test]
async fn pages_carry_a_strict_policy_and_load_only_their_own_assets() {
    let w = world().await;
    let (_, _, owner) = w.people.iter().find(|(r, _, _)| *r == Role::Owner).unwrap();
    let (cookie, _) = session(owner);
    for path in ["/login", "/services", "/privacy", "/security"] {
        let a = raw(&w.server, "GET", path, cookie, None).await;
        let csp = a.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        // Forms post to this server only, but for the sign-in page's SSO form, which is
        // redirected to the tenant's identity provider.
        let form_action = if path == "/login" {
            "form-action 'self' https:;"
        } else {
            "form-action 'self';"
        };
        assert!(csp.contains(form_action), "{path}: {csp}");
        assert_eq!(a.headers["x-frame-options"], "DENY");
        let html = page(&a);
        assert!(
            !html.contains(" style="),
            "{path}: no inline style attribute"
        );
        assert!(!html.contains("<script>"), "{path}: no inline script");
        assert!(!html.contains("<style"), "{path}: no inline stylesheet");
        for asset in html.split("/assets/").skip(1) {
            let name = asset.split('"').next().unwrap();
            let a = raw(&w.server, "GET", &format!("/assets/{name}"), "", None).await;
            assert_eq!(a.status, 200, "{name}");
            assert!(
                a.headers["cache-control"]
                    .to_str()
                    .unwrap()
                    .contains("immutable")
            );
        }
    }
    let a = raw(&w.server, "GET", "/assets/scrim.css", "", None).await;
    assert_eq!(a.status, 404, "only names with the content digest");
}

#[tokio::test]
async fn values_from_telemetry_are_escaped_and_markers_explained() {
    let w = world().await;
    let (_, key) = w
        .server
        .platform()
        .meta()
        .create_api_key(
            &w.tenant,
            "ingest".parse::<scrim_auth::Scopes>().unwrap(),
            scrim_meta::NewApiKey::default(),
        )
        .await
        .unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let g = scrim_store::generate::TraceGen {
        traces: 5,
        services: vec!["<script>alert(1)</script>".into()],
        start_ns: now - 60_000_000_000,
        spacing_ns: 1_000_000_000,
        ..Default::default()
    };
    let outcome = exporter(&w.server, &key.expose())
        .export(&scrim_otlp::Batch::Traces(g.traces(0..5)))
        .await;
    assert!(
        matches!(outcome, scrim_otlp::ExportOutcome::Delivered { .. }),
        "{outcome:?}"
    );
    let (_, _, owner) = w.people.iter().find(|(r, _, _)| *r == Role::Owner).unwrap();
    let (cookie, _) = session(owner);
    let a = raw(&w.server, "GET", "/services?range=15m", cookie, None).await;
    let html = page(&a);
    // askama writes numeric references, the charts named ones: either way, escaped.
    assert!(
        html.contains(">&#60;script&#62;alert(1)&#60;/script&#62;</a>"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    let a = raw(&w.server, "GET", "/traces?range=15m", cookie, None).await;
    let html = page(&a);
    let id = html
        .split("href=\"/traces/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let a = raw(&w.server, "GET", &format!("/traces/{id}"), cookie, None).await;
    assert_eq!(a.status, 200);
    let html = page(&a);
    assert!(!html.contains("<script>alert"), "{html}");
    // Statements: each removed literal marked, with the reason on hover.
    assert!(
        html.contains("title=\"a literal removed by the capture policy (sql)\">?</mark>"),
        "{html}"
    );
}

#[tokio::test]
async fn the_preview_shows_what_would_be_stored_and_keeps_nothing() {
    let w = world().await;
    let (_, _, admin) = w.people.iter().find(|(r, _, _)| *r == Role::Admin).unwrap();
    let preview = |body: serde_json::Value| {
        let server = &w.server;
        async move {
            call(
                server,
                "POST",
                "/api/v1/settings/capture-policy/preview",
                admin,
                Some(body),
            )
            .await
        }
    };
    let a = preview(json!({
        "kind": "json",
        "input": "{\"password\": \"hunter2\", \"note\": \"mail ann@example.com\"}",
    }))
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let out = a.body["output"].as_str().unwrap();
    assert!(
        !out.contains("hunter2") && !out.contains("ann@example.com"),
        "{out}"
    );
    assert_eq!(a.body["found"]["email"], 1);
    // A draft policy is used instead of the tenant's.
    let a = preview(json!({
        "kind": "ip", "input": "203.0.113.7", "policy": "[client_ips]\nmethod = \"drop\"\n",
    }))
    .await;
    assert_eq!(
        (a.body["stored"].as_bool(), a.status),
        (Some(false), 200),
        "{}",
        a.body
    );
    let a = preview(json!({ "kind": "ip", "input": "203.0.113.7" })).await;
    assert_eq!(a.body["output"], "203.0.113.0", "the default masks to /24");
    // Pseudonyms use a throwaway key: the same value differs between two previews.
    let hashed = json!({
        "kind": "text", "input": "ann@example.com",
        "policy": "mode = \"on-prem\"\n[detectors]\nmethods = { email = \"hash\" }\n",
    });
    let (one, two) = (preview(hashed.clone()).await, preview(hashed).await);
    assert!(
        one.body["output"].as_str().unwrap().starts_with("[email:"),
        "{}",
        one.body
    );
    assert_ne!(one.body["output"], two.body["output"]);
    // Bad input: a clear 400.
    let a = preview(json!({ "kind": "yaml", "input": "x" })).await;
    assert_eq!(a.status, 400);
    let a = preview(json!({ "kind": "sql", "input": "x", "policy": "[sql]\ncapture = 1\n" })).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"].as_str().unwrap().contains("sql.capture"),
        "{}",
        a.body
    );
    // A viewer may not see the policy, so not preview it either.
    let (_, _, viewer) = w
        .people
        .iter()
        .find(|(r, _, _)| *r == Role::Viewer)
        .unwrap();
    let a = call(
        &w.server,
        "POST",
        "/api/v1/settings/capture-policy/preview",
        viewer,
        Some(json!({ "kind": "text", "input": "x" })),
    )
    .await;
    assert_eq!(a.status, 403);
    // Nothing typed into a preview reached the audit log.
    let records = w
        .server
        .platform()
        .meta()
        .audit_chain(w.tenant.as_str(), 0, 10_000)
        .await
        .unwrap();
    assert!(!records.iter().any(|r| format!("{r:?}").contains("hunter2")));
}

#[tokio::test]
async fn the_posture_reads_the_live_controls() {
    let w = world().await;
    let (_, _, auditor) = w
        .people
        .iter()
        .find(|(r, _, _)| *r == Role::Auditor)
        .unwrap();
    let a = call(&w.server, "GET", "/api/v1/security/posture", auditor, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let v = &a.body;
    assert_eq!(v["tenant"], "acme");
    assert_eq!(v["mfa"]["members"], 5);
    assert_eq!(v["mfa"]["enrolled"], 0);
    assert_eq!(
        v["tls"]["enabled"], false,
        "the test server is plain loopback HTTP"
    );
    assert_eq!(v["audit_chain"]["intact"], true, "{v}");
    assert!(v["audit_chain"]["records"].as_u64().unwrap() > 0);
    assert_eq!(v["ai_diagnostics"]["enabled"], false);
    assert_eq!(v["encryption_at_rest"]["data_key_version"], 1);
    let (_, _, viewer) = w
        .people
        .iter()
        .find(|(r, _, _)| *r == Role::Viewer)
        .unwrap();
    let a = call(&w.server, "GET", "/api/v1/security/posture", viewer, None).await;
    assert_eq!(a.status, 403);
    // A time series reports the step its buckets really have: at most 1 000 per window.
    let a = call(
        &w.server,
        "GET",
        "/api/v1/services/timeseries?window=1h&step=1",
        viewer,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["step_ns"], 3_600_000_000_i64, "{}", a.body);
    // What was caught: counts only, by kind and service.
    let a = call(
        &w.server,
        "GET",
        "/api/v1/redactions?window=1h",
        auditor,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["redactions"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn data_and_access_forms_change_through_the_api() {
    let w = world().await;
    let (_, _, admin) = w.people.iter().find(|(r, _, _)| *r == Role::Admin).unwrap();
    let (cookie, csrf) = session(admin);
    // Rotating the data key from the Data page.
    let a = raw(
        &w.server,
        "POST",
        "/data/rotate-key",
        cookie,
        Some(&[("csrf_token", csrf)]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", page(&a));
    assert!(page(&a).contains("version 2 encrypts"), "{}", page(&a));
    let keys = w
        .server
        .platform()
        .meta()
        .tenant_data_keys(&w.tenant)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2);
    // Retention: a bad number is refused on the page, a good one saved.
    let a = raw(
        &w.server,
        "POST",
        "/data/retention",
        cookie,
        Some(&[("csrf_token", csrf), ("days", "many")]),
    )
    .await;
    assert_eq!(a.status, 400);
    let a = raw(
        &w.server,
        "POST",
        "/data/retention",
        cookie,
        Some(&[("csrf_token", csrf), ("days", "14")]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", page(&a));
    let tenant = w
        .server
        .platform()
        .meta()
        .tenant_by_id(&w.tenant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.retention_days, 14);
    // Single sign-on settings that are not JSON, or name an unknown role: refused, said why.
    let a = raw(
        &w.server,
        "POST",
        "/access/sso",
        cookie,
        Some(&[("csrf_token", csrf), ("settings", "{not json")]),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(page(&a).contains("not JSON"), "{}", page(&a));
    // An API key created on the page is shown once, then only its id.
    let a = raw(
        &w.server,
        "POST",
        "/access/keys",
        cookie,
        Some(&[("csrf_token", csrf), ("name", "ci"), ("scopes", "ingest")]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", page(&a));
    let html = page(&a);
    let key = html
        .split("id=\"new-key\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_owned();
    assert!(key.starts_with("scrim_"), "{key}");
    let again = raw(&w.server, "GET", "/access", cookie, None).await;
    assert!(!page(&again).contains(&key), "shown once");
    // A member may not rotate keys: the page is refused before anything happens.
    let (_, _, member) = w
        .people
        .iter()
        .find(|(r, _, _)| *r == Role::Member)
        .unwrap();
    let (cookie, csrf) = session(member);
    let a = raw(
        &w.server,
        "POST",
        "/data/rotate-key",
        cookie,
        Some(&[("csrf_token", csrf)]),
    )
    .await;
    assert_eq!(a.status, 403);
    let keys = w
        .server
        .platform()
        .meta()
        .tenant_data_keys(&w.tenant)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "no rotation");
}

fn person(w: &World, role: Role) -> Cred {
    w.people
        .iter()
        .find(|(r, _, _)| *r == role)
        .unwrap()
        .2
        .clone()
}

fn key(w: &World, scope: Scope) -> String {
    w.keys
        .iter()
        .find_map(|(s, c)| match c {
            Cred::Key(k) if *s == scope => Some(k.clone()),
            _ => None,
        })
        .unwrap()
}

/// The text of the element with `id` (a secret shown once).
fn shown(html: &str, id: &str) -> Option<String> {
    html.split(&format!("id=\"{id}\">"))
        .nth(1)
        .and_then(|r| r.split('<').next())
        .map(str::to_owned)
}

/// `n` spans of `service`, each with the attribute `key` = `value`, ending now.
fn spans_with(service: &str, n: u8, key: &str, value: &str) -> scrim_otlp::Batch {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let spans = (0..n)
        .map(|i| Span {
            trace_id: [i + 1; 16].to_vec(),
            span_id: [i + 1; 8].to_vec(),
            name: "POST /pay".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: now - 2_000_000_000,
            end_time_unix_nano: now - 1_000_000_000,
            attributes: vec![kv(key, value)],
            ..Default::default()
        })
        .collect();
    scrim_otlp::Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

#[tokio::test]
async fn alerts_insights_detections_and_containment_pages_change_through_the_api() {
    let w = world().await;
    let admin = person(&w, Role::Admin);
    let (cookie, csrf) = session(&admin);
    let rules = || {
        let (server, admin) = (&w.server, &admin);
        async move {
            call(server, "GET", "/api/v1/alerts/rules", admin, None)
                .await
                .body["rules"]
                .as_array()
                .unwrap()
                .clone()
        }
    };

    // A rule made with the page's form is listed with its state and description, escaped.
    let rule = [
        ("csrf_token", csrf),
        ("name", "checkout <b>slow</b>"),
        ("metric", "p95_latency"),
        ("service", "checkout"),
        ("op", ">"),
        ("threshold", "500"),
        ("window_seconds", "300"),
        ("for_seconds", "60"),
        ("severity", "critical"),
    ];
    let a = raw(&w.server, "POST", "/alerts/rules", cookie, Some(&rule)).await;
    assert_eq!(a.status, 200, "{}", page(&a));
    assert!(page(&a).contains("created"), "{}", page(&a));
    assert_eq!(rules().await.len(), 1);
    let a = raw(&w.server, "GET", "/alerts", cookie, None).await;
    let html = page(&a);
    assert!(
        html.contains("checkout &#60;b&#62;slow&#60;/b&#62;"),
        "{html}"
    );
    assert!(!html.contains("<b>slow"), "{html}");
    assert!(
        html.contains("p95_latency of checkout &#62; 500 ms over 5m for 1m"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"badge ok\">ok</span>"),
        "{html}"
    );
    // A threshold that is no number: refused on the page, what was typed kept, nothing made.
    let mut bad = rule;
    bad[5] = ("threshold", "fast");
    let a = raw(&w.server, "POST", "/alerts/rules", cookie, Some(&bad)).await;
    assert_eq!(a.status, 400, "{}", page(&a));
    assert!(page(&a).contains("value=\"fast\""), "{}", page(&a));
    assert_eq!(rules().await.len(), 1);

    // A webhook channel: its signing secret shown once, then never again.
    let a = raw(
        &w.server,
        "POST",
        "/alerts/channels",
        cookie,
        Some(&[
            ("csrf_token", csrf),
            ("name", "on-call"),
            ("type", "webhook"),
            ("url", "http://127.0.0.1:9/hooks/scrim"),
        ]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", page(&a));
    let secret = shown(page(&a), "new-secret").unwrap_or_else(|| panic!("{}", page(&a)));
    assert!(secret.starts_with("whsec_"), "{secret}");
    let a = raw(&w.server, "GET", "/alerts", cookie, None).await;
    let html = page(&a);
    assert!(html.contains("on-call") && html.contains("http://127.0.0.1:9/hooks/scrim"));
    assert!(!html.contains(&secret), "shown once");
    let channels = call(
        &w.server,
        "GET",
        "/api/v1/notifications/channels",
        &admin,
        None,
    )
    .await;
    let channel = channels.body["channels"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Nobody listens on port 9: the test button says so.
    let a = raw(
        &w.server,
        "POST",
        &format!("/alerts/channels/{channel}/test"),
        cookie,
        Some(&[("csrf_token", csrf)]),
    )
    .await;
    assert!(
        page(&a).contains("Test notification not delivered"),
        "{}",
        page(&a)
    );

    // A forged CSRF token changes nothing, whatever the form.
    let mut forged = rule;
    forged[0] = ("csrf_token", "forged");
    forged[1] = ("name", "forged rule");
    let a = raw(&w.server, "POST", "/alerts/rules", cookie, Some(&forged)).await;
    assert!(page(&a).contains("CSRF"), "{}", page(&a));
    let id = rules().await[0]["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/alerts/rules/{id}/delete"),
        format!("/alerts/channels/{channel}/delete"),
    ] {
        let a = raw(
            &w.server,
            "POST",
            &path,
            cookie,
            Some(&[("csrf_token", "forged")]),
        )
        .await;
        assert!(page(&a).contains("CSRF"), "{path}: {}", page(&a));
    }
    assert_eq!(rules().await.len(), 1);
    let channels = call(
        &w.server,
        "GET",
        "/api/v1/notifications/channels",
        &admin,
        None,
    )
    .await;
    assert_eq!(channels.body["channels"].as_array().unwrap().len(), 1);

    // A viewer sees the rules and channels but is offered no form, and is refused one.
    let viewer = person(&w, Role::Viewer);
    let (v_cookie, v_csrf) = session(&viewer);
    let a = raw(&w.server, "GET", "/alerts", v_cookie, None).await;
    assert_eq!(a.status, 200);
    let html = page(&a);
    assert!(html.contains("checkout &#60;b&#62;slow") && html.contains("on-call"));
    for form in [
        "action=\"/alerts/rules\"",
        "action=\"/alerts/channels\"",
        "/delete\"",
        "/test\"",
    ] {
        assert!(!html.contains(form), "a viewer is offered {form}");
    }
    let mut theirs = rule;
    theirs[0] = ("csrf_token", v_csrf);
    let a = raw(&w.server, "POST", "/alerts/rules", v_cookie, Some(&theirs)).await;
    assert_eq!(a.status, 403, "{}", page(&a));
    assert_eq!(rules().await.len(), 1);

    // Deleting through the page.
    let a = raw(
        &w.server,
        "POST",
        &format!("/alerts/rules/{id}/delete"),
        cookie,
        Some(&[("csrf_token", csrf)]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", page(&a));
    assert!(rules().await.is_empty());

    // Insights: a card number in an attribute is a sentence; the number itself is nowhere.
    let outcome = exporter(&w.server, &key(&w, Scope::IngestTraces))
        .export(&spans_with(
            "payments",
            3,
            "app.note",
            "charged card 4111 1111 1111 1111 ok",
        ))
        .await;
    assert!(
        matches!(outcome, scrim_otlp::ExportOutcome::Delivered { .. }),
        "{outcome:?}"
    );
    w.server.evaluate_alerts(SystemTime::now()).await.unwrap();
    let a = raw(&w.server, "GET", "/insights?window=24h", v_cookie, None).await;
    assert_eq!(a.status, 200, "{}", page(&a));
    let html = page(&a);
    assert!(
        html.contains("service `payments` sent 3 card numbers in `app.note` in the last 24h"),
        "{html}"
    );
    assert!(
        html.contains("service `payments` first sent card numbers in `app.note` at "),
        "{html}"
    );
    assert!(html.contains("<option value=\"24h\" selected>"), "{html}");
    for planted in ["4111 1111 1111 1111", "4111111111111111"] {
        assert!(!html.contains(planted), "{html}");
    }

    // Detections: ten refused sign-ins, then the job.
    for _ in 0..10 {
        let a = call(
            &w.server,
            "POST",
            "/api/v1/session",
            &Cred::None,
            Some(json!({"email": "member@acme.example", "password": "not the password at all"})),
        )
        .await;
        assert!(a.status == 401 || a.status == 429, "{}", a.status);
    }
    w.server.evaluate_alerts(SystemTime::now()).await.unwrap();
    let auditor = person(&w, Role::Auditor);
    let a = raw(
        &w.server,
        "GET",
        "/security/detections",
        session(&auditor).0,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", page(&a));
    let html = page(&a);
    assert!(html.contains("Burst of failed sign-ins"), "{html}");
    assert!(html.contains("10 sign-ins were refused"), "{html}");
    assert!(!html.contains("not the password"), "{html}");
    assert!(
        !html.contains("/security/containment/"),
        "an auditor may not contain: {html}"
    );

    // Containment: the admin sees the state and the five buttons.
    let a = raw(&w.server, "GET", "/security/detections", cookie, None).await;
    let html = page(&a);
    for action in [
        "suspend-keys",
        "restore-keys",
        "end-sessions",
        "freeze-reads",
        "unfreeze-reads",
    ] {
        assert!(
            html.contains(&format!("action=\"/security/containment/{action}\"")),
            "{action}: {html}"
        );
    }
    let read = Cred::Key(key(&w, Scope::Read));
    let traces = || {
        let (server, read) = (&w.server, &read);
        async move {
            call(server, "GET", "/api/v1/traces", read, None)
                .await
                .status
        }
    };
    assert_eq!(traces().await, 200);
    // Unconfirmed, or with a forged token: nothing happens.
    for (token, confirm) in [(csrf, ""), ("forged", "yes")] {
        let a = raw(
            &w.server,
            "POST",
            "/security/containment/freeze-reads",
            cookie,
            Some(&[("csrf_token", token), ("confirm", confirm)]),
        )
        .await;
        assert_ne!(a.status, 200, "{}", page(&a));
        assert_eq!(traces().await, 200);
    }
    let a = raw(
        &w.server,
        "POST",
        "/security/containment/freeze-reads",
        cookie,
        Some(&[("csrf_token", csrf), ("confirm", "yes")]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", page(&a));
    assert!(page(&a).contains("<span class=\"badge error\">frozen</span>"));
    assert_eq!(traces().await, 423);
    let a = raw(
        &w.server,
        "POST",
        "/security/containment/unfreeze-reads",
        cookie,
        Some(&[("csrf_token", csrf)]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", page(&a));
    assert_eq!(traces().await, 200);
    // Ending every session ends this one too: back to the sign-in page.
    let a = raw(
        &w.server,
        "POST",
        "/security/containment/end-sessions",
        cookie,
        Some(&[("csrf_token", csrf), ("confirm", "yes")]),
    )
    .await;
    assert_eq!(a.status, 303, "{}", page(&a));
    assert_eq!(a.headers["location"], "/login");
    let a = raw(&w.server, "GET", "/alerts", cookie, None).await;
    assert_eq!(a.status, 303);
}
