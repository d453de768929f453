//! AI diagnostics end to end, against an OpenAI-compatible endpoint started by the test (a
//! stub that answers like a chat-completions server over TLS and records every connection
//! and request body; no model weights can be fetched here).
//!
//! The tenant's capture policy keeps what the detectors find (on-prem, `keep`), so stored
//! telemetry holds planted secrets: what reaches the provider must not, thanks to the
//! second detector pass. The body the provider receives is the previewed one byte for
//! byte, and the audit log holds its SHA-256.

mod common;

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{Cred, PASSWORD, call, send_shop_at, sign_in, start_with};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use scrim_auth::Scopes;
use scrim_auth::rbac::Role;
use scrim_demo::PLANTED_SECRETS;
use scrim_meta::NewApiKey;
use scrim_server::Server;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ANSWER: &str = "The checkout span waited on the payments call.";
const PROVIDER_KEY: &str = "sk-test-provider-key-0123456789";

/// Each request the stub received: its headers and body.
type Received = Arc<Mutex<Vec<(hyper::HeaderMap, Vec<u8>)>>>;

/// The OpenAI-compatible stub: TLS with a self-signed certificate, every accepted
/// connection counted, every request's headers and body kept.
struct Stub {
    port: u16,
    ca_pem: String,
    connections: Arc<AtomicUsize>,
    requests: Received,
    /// The status it answers with.
    status: Arc<AtomicU16>,
}

async fn stub(dir: &std::path::Path) -> Stub {
    let identity = scrim_tls::ServerIdentity::self_signed(dir, &[]).unwrap();
    let ca_pem = std::fs::read_to_string(dir.join(scrim_tls::SELF_SIGNED_CERT_FILE)).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(identity.server_config(&[b"http/1.1"]).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests: Received = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(AtomicU16::new(200));
    let (c, r, s) = (connections.clone(), requests.clone(), status.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let (acceptor, r, s) = (acceptor.clone(), r.clone(), s.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (r, s) = (r.clone(), s.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
                        r.lock().unwrap().push((parts.headers, bytes));
                        let status = s.load(Ordering::SeqCst);
                        let body = if status == 200 {
                            json!({
                                "id": "chatcmpl-1", "object": "chat.completion", "model": "stub-model",
                                "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
                                "usage": {"prompt_tokens": 100, "completion_tokens": 10}
                            })
                        } else {
                            json!({"error": {"message": "overloaded, your prompt was …", "type": "server_error", "code": "overloaded"}})
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body.to_string())))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Stub {
        port,
        ca_pem,
        connections,
        requests,
        status,
    }
}

impl Stub {
    fn url(&self) -> String {
        format!("https://localhost:{}/v1/chat/completions", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn bodies(&self) -> Vec<Vec<u8>> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

struct Scene {
    server: Server,
    _dir: tempfile::TempDir,
    _stub_dir: tempfile::TempDir,
    stub: Stub,
    region: String,
    owner: Cred,
    admin: Cred,
    member: Cred,
    viewer: Cred,
    auditor: Cred,
    read_key: Cred,
    trace_id: String,
}

/// A lenient (on-prem) tenant that stored the demo shop's traffic, planted secrets kept; a
/// person per role; the stub; and a trace that holds at least one planted secret.
async fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let stub_dir = tempfile::tempdir().unwrap();
    let stub = stub(stub_dir.path()).await;
    let server = start_with(dir.path(), |_| {}).await;
    let platform = server.platform();
    let options = scrim_server::admin::TenantOptions {
        capture_policy: Some(
            "mode = \"on-prem\"\n[detectors]\nmethod = \"keep\"\n[exceptions]\ncapture = \"raw\"\n"
                .into(),
        ),
        ..Default::default()
    };
    let act = scrim_server::accounts::Act::operator("-");
    let tenant = scrim_server::admin::create_tenant(platform, &act, "acme", &options)
        .await
        .unwrap();
    let mut creds = Vec::new();
    for role in Role::ALL {
        let email = format!("{role}@acme.example");
        server
            .accounts()
            .add_member(&act, &tenant.id, &email, role, Some(PASSWORD))
            .await
            .unwrap();
        creds.push((role, sign_in(&server, &email, PASSWORD, None).await));
    }
    let cred = |r: Role| creds.iter().find(|(x, _)| *x == r).unwrap().1.clone();
    let mut keys = Vec::new();
    for scopes in ["ingest", "read"] {
        let (_, k) = platform
            .meta()
            .create_api_key(
                &tenant.id,
                scopes.parse::<Scopes>().unwrap(),
                NewApiKey::default(),
            )
            .await
            .unwrap();
        keys.push(k.expose());
    }
    let (ingest, read_key) = (keys[0].clone(), Cred::Key(keys[1].clone()));
    let now = SystemTime::now() - Duration::from_secs(120);
    send_shop_at(&server, &ingest, 7, 20, now).await;
    // A trace the lenient policy left a planted secret in.
    let owner = cred(Role::Owner);
    let found = call(&server, "GET", "/api/v1/traces?limit=200", &owner, None).await;
    assert_eq!(found.status, 200, "{}", found.body);
    let mut trace_id = None;
    for t in found.body["traces"].as_array().unwrap() {
        let id = t["trace_id"].as_str().unwrap();
        let trace = call(
            &server,
            "GET",
            &format!("/api/v1/traces/{id}"),
            &owner,
            None,
        )
        .await;
        let text = trace.body.to_string();
        if PLANTED_SECRETS.iter().any(|s| text.contains(s)) {
            trace_id = Some(id.to_owned());
            break;
        }
    }
    Scene {
        region: tenant.region.clone(),
        server,
        _dir: dir,
        _stub_dir: stub_dir,
        stub,
        owner,
        admin: cred(Role::Admin),
        member: cred(Role::Member),
        viewer: cred(Role::Viewer),
        auditor: cred(Role::Auditor),
        read_key,
        trace_id: trace_id.expect("a stored trace holds a planted secret (the policy keeps them)"),
    }
}

impl Scene {
    fn settings(&self, enabled: bool) -> Value {
        json!({
            "enabled": enabled,
            "provider": "openai-compatible",
            "url": self.stub.url(),
            "model": "stub-model",
            "region": self.region,
            "ca_pem": self.stub.ca_pem,
            "timeout_seconds": 10,
        })
    }

    async fn turn_on(&self) {
        let a = call(
            &self.server,
            "PUT",
            "/api/v1/settings/ai",
            &self.owner,
            Some(json!({"settings": self.settings(true), "api_key": PROVIDER_KEY, "accept_terms": true})),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }

    async fn explain(&self, who: &Cred, body: Value) -> common::Answer {
        let path = format!("/api/v1/ai/explain/trace/{}", self.trace_id);
        call(&self.server, "POST", &path, who, Some(body)).await
    }

    async fn audit(&self, action: &str) -> Vec<Value> {
        let a = call(
            &self.server,
            "GET",
            &format!("/api/v1/audit?action={action}"),
            &self.auditor,
            None,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["records"].as_array().unwrap().clone()
    }
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn assert_no_planted(text: &str) {
    for s in PLANTED_SECRETS {
        assert!(!text.contains(s), "planted secret {s:?} in {text}");
    }
}

#[tokio::test]
async fn off_by_default_nothing_is_built_or_sent_and_no_connection_is_made() {
    let s = scene().await;
    let a = s.explain(&s.member, json!({})).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("AI diagnostics are off")
    );
    let a = s.explain(&s.member, json!({"preview": true})).await;
    assert_eq!(a.status, 409, "{}", a.body);
    // Configured with every detail, but not enabled: still nothing.
    let a = call(
        &s.server,
        "PUT",
        "/api/v1/settings/ai",
        &s.owner,
        Some(json!({"settings": s.settings(false), "api_key": PROVIDER_KEY})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    for body in [json!({}), json!({"preview": true})] {
        assert_eq!(s.explain(&s.member, body).await.status, 409);
    }
    let a = call(
        &s.server,
        "POST",
        "/api/v1/ai/summarize/service/checkout?window=1h",
        &s.member,
        None,
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(
        s.stub.connections(),
        0,
        "no connection while the feature is off"
    );
    assert!(s.audit("ai.request").await.is_empty());
}

#[tokio::test]
async fn what_is_sent_is_the_preview_byte_for_byte_with_no_planted_secret_and_audited() {
    let s = scene().await;
    // Only an owner turns it on, and only having accepted the provider's terms.
    let body = json!({"settings": s.settings(true), "api_key": PROVIDER_KEY, "accept_terms": true});
    let a = call(
        &s.server,
        "PUT",
        "/api/v1/settings/ai",
        &s.admin,
        Some(body),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = call(
        &s.server,
        "PUT",
        "/api/v1/settings/ai",
        &s.owner,
        Some(json!({"settings": s.settings(true), "api_key": PROVIDER_KEY})),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let refusal = a.body["error"].as_str().unwrap();
    assert!(
        refusal.contains("accept_terms")
            && refusal.contains("Scrim knows nothing of its data handling"),
        "{refusal}"
    );
    s.turn_on().await;
    let shown = call(&s.server, "GET", "/api/v1/settings/ai", &s.auditor, None).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["enabled"], true);
    assert_eq!(shown.body["api_key_set"], true);
    assert!(!shown.body.to_string().contains(PROVIDER_KEY));
    let meta_files: Vec<u8> = ["meta.db", "meta.db-wal"]
        .iter()
        .filter_map(|f| std::fs::read(s._dir.path().join(f)).ok())
        .flatten()
        .collect();
    assert!(!meta_files.is_empty());
    assert!(
        !meta_files
            .windows(PROVIDER_KEY.len())
            .any(|w| w == PROVIDER_KEY.as_bytes()),
        "the provider key is stored sealed"
    );

    // The preview: the exact body, not sent.
    let preview = s.explain(&s.member, json!({"preview": true})).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    let payload = preview.body["payload"].as_str().unwrap().to_owned();
    assert_no_planted(&payload);
    assert!(
        payload.contains(&format!("Trace {}", s.trace_id)),
        "{payload}"
    );
    assert!(
        payload.contains("[REDACTED:"),
        "the second pass replaced what the policy kept"
    );
    let sha = preview.body["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha, sha256_hex(payload.as_bytes()));
    assert_eq!(s.stub.connections(), 0, "a preview opens no connection");

    // A confirmation that does not match sends nothing.
    let a = s
        .explain(&s.member, json!({"expect_sha256": "00".repeat(32)}))
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["sha256"], sha.as_str());
    assert_eq!(s.stub.connections(), 0);

    // Sent: exactly the previewed bytes, with the key, and the answer comes back.
    let a = s.explain(&s.member, json!({"expect_sha256": sha})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["answer"], ANSWER);
    assert_eq!(a.body["sha256"], sha.as_str());
    let bodies = s.stub.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(
        bodies[0],
        payload.as_bytes(),
        "the provider got the preview byte for byte"
    );
    let headers = s.stub.requests.lock().unwrap()[0].0.clone();
    assert_eq!(
        headers["authorization"],
        format!("Bearer {PROVIDER_KEY}").as_str()
    );
    assert_no_planted(&String::from_utf8_lossy(&bodies[0]));

    // Audited: the digest of what was sent, the provider, the model and the user.
    let sent = s.audit("ai.request").await;
    let record = sent
        .iter()
        .find(|r| r["outcome"]["status"] == "success")
        .unwrap_or_else(|| panic!("{sent:?}"));
    let details = &record["details"];
    assert_eq!(details["payload_sha256"], sha.as_str());
    assert_eq!(details["payload_bytes"], payload.len() as u64);
    assert_eq!(details["model"], "stub-model");
    assert_eq!(details["host"], "localhost");
    assert_eq!(details["provider"], "openai-compatible");
    assert_eq!(record["target"], format!("traces/{}", s.trace_id).as_str());
    let me = call(&s.server, "GET", "/api/v1/session", &s.member, None).await;
    assert_eq!(record["actor"]["id"], me.body["user"]["id"], "{record}");
    assert!(
        sent.iter().any(|r| r["outcome"]["status"] == "denied"),
        "the refused confirmation is recorded"
    );
    assert!(!s.audit("ai.preview").await.is_empty());
    let change = s.audit("settings.ai_change").await;
    let on = change
        .iter()
        .find(|r| r["details"]["terms_sha256"].is_string())
        .unwrap();
    assert_eq!(on["details"]["api_key_changed"], true);
    assert!(!change.iter().any(|r| r.to_string().contains(PROVIDER_KEY)));

    // Who may ask: a member yes; a viewer no, and no API key (people ask, and are named).
    assert_eq!(
        s.explain(&s.viewer, json!({"preview": true})).await.status,
        403
    );
    assert_eq!(
        s.explain(&s.read_key, json!({"preview": true}))
            .await
            .status,
        403
    );

    // A provider failure is a clear 502, recorded as failed; nothing leaks of its message.
    s.stub.status.store(503, Ordering::SeqCst);
    let a = s.explain(&s.member, json!({})).await;
    assert_eq!(a.status, 502, "{}", a.body);
    let error = a.body["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 503") && !error.contains("your prompt"),
        "{error}"
    );
    assert!(
        s.audit("ai.request")
            .await
            .iter()
            .any(|r| r["outcome"]["status"] == "failed")
    );

    // Turned off again: nothing more is sent.
    let before = s.stub.connections();
    let a = call(
        &s.server,
        "PUT",
        "/api/v1/settings/ai",
        &s.owner,
        Some(json!({"settings": s.settings(false)})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(s.explain(&s.member, json!({})).await.status, 409);
    assert_eq!(s.stub.connections(), before);
}

#[tokio::test]
async fn a_disallowed_host_plain_http_and_an_unconfirmed_region_are_refused_before_any_connection()
{
    let s = scene().await;
    let mut settings = s.settings(true);
    settings["allowed_hosts"] = json!(["llm.internal"]);
    let put = |settings: Value| {
        let s = &s;
        async move {
            call(
                &s.server,
                "PUT",
                "/api/v1/settings/ai",
                &s.owner,
                Some(json!({"settings": settings, "accept_terms": true})),
            )
            .await
        }
    };
    let a = put(settings.clone()).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("localhost is not on the tenant's allow-list")
    );
    settings["allowed_hosts"] = json!([]);
    settings["url"] = json!(format!(
        "http://localhost:{}/v1/chat/completions",
        s.stub.port
    ));
    let a = put(settings.clone()).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body["error"].as_str().unwrap().contains("only https://"));
    settings["url"] = json!(s.stub.url());
    settings["region"] = json!("us-east-elsewhere");
    let a = put(settings.clone()).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("cross_region_confirmed")
    );
    settings["cross_region_confirmed"] = json!(true);
    assert_eq!(put(settings.clone()).await.status, 200);
    // The allow-list is checked again on every call: the host allowed, a preview works.
    let a = s.explain(&s.member, json!({"preview": true})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(s.stub.connections(), 0);
    let shown = call(&s.server, "GET", "/api/v1/settings/ai", &s.owner, None).await;
    assert!(shown.body["terms"].as_str().unwrap().contains("localhost"));
}

#[tokio::test]
async fn a_statement_and_a_service_are_explained_from_stored_data_only() {
    let s = scene().await;
    s.turn_on().await;
    let queries = call(
        &s.server,
        "GET",
        "/api/v1/services/payments/queries?window=1h",
        &s.member,
        None,
    )
    .await;
    assert_eq!(queries.status, 200, "{}", queries.body);
    let statement = queries.body["queries"]["slowest"][0]["statement"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", queries.body))
        .to_owned();
    let a = call(
        &s.server,
        "POST",
        "/api/v1/ai/explain/sql",
        &s.member,
        Some(
            json!({"service": "payments", "statement": statement, "window": "1h", "preview": true}),
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let payload = a.body["payload"].as_str().unwrap();
    let v: Value = serde_json::from_str(payload).unwrap();
    // The statement as stored (the second pass may mark more of it, `key = ?` say).
    let head: String = statement.chars().take(30).collect();
    assert!(
        v["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains(&head),
        "{payload}"
    );
    assert_no_planted(payload);
    // A statement the service never ran is not sent, whatever it holds.
    let a = call(
        &s.server,
        "POST",
        "/api/v1/ai/explain/sql",
        &s.member,
        Some(json!({"service": "payments", "statement": "SELECT '4111111111111111'", "window": "1h"})),
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = call(
        &s.server,
        "POST",
        "/api/v1/ai/summarize/service/payments?window=1h",
        &s.member,
        Some(json!({"preview": true})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let payload = a.body["payload"].as_str().unwrap();
    assert!(
        payload.contains("Service payments over the last 1h"),
        "{payload}"
    );
    assert_no_planted(payload);
    assert_eq!(s.stub.connections(), 0);
}

fn session(cred: &Cred) -> (&str, &str) {
    match cred {
        Cred::Session { cookie, csrf } => (cookie.as_str(), csrf.as_str()),
        _ => panic!("a session"),
    }
}

#[tokio::test]
async fn the_trace_page_shows_the_exact_request_before_the_button_that_sends_it() {
    let s = scene().await;
    let (cookie, csrf) = session(&s.member);
    let page = format!("/traces/{}", s.trace_id);
    // Off: no button.
    let a = common::raw(&s.server, "GET", &page, cookie, None).await;
    assert_eq!(a.status, 200);
    assert!(!a.body.as_str().unwrap().contains("/ai/preview"));
    s.turn_on().await;
    let a = common::raw(&s.server, "GET", &page, cookie, None).await;
    let html = a.body.as_str().unwrap();
    assert!(
        html.contains("Explain this trace with AI") && html.contains("localhost"),
        "{html}"
    );
    let service = common::raw(&s.server, "GET", "/services/payments", cookie, None).await;
    assert!(
        service
            .body
            .as_str()
            .unwrap()
            .contains("Summarise errors with AI")
    );

    // The preview: the body as text (escaped), and a form that sends exactly it.
    let form = [
        ("csrf_token", csrf),
        ("feature", "explain-trace"),
        ("trace_id", s.trace_id.as_str()),
    ];
    let a = common::raw(&s.server, "POST", "/ai/preview", cookie, Some(&form)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let html = a.body.as_str().unwrap().to_owned();
    assert!(html.contains("What will be sent to localhost"), "{html}");
    assert!(
        html.contains("&#34;messages&#34;"),
        "the payload is escaped: {html}"
    );
    assert_no_planted(&html);
    let sha = html
        .split("name=\"expect_sha256\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("{html}"))
        .to_owned();
    assert_eq!(s.stub.connections(), 0);
    let send = [
        ("csrf_token", csrf),
        ("feature", "explain-trace"),
        ("trace_id", s.trace_id.as_str()),
        ("expect_sha256", sha.as_str()),
    ];
    let a = common::raw(&s.server, "POST", "/ai/send", cookie, Some(&send)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.as_str().unwrap().contains(ANSWER), "{}", a.body);
    let bodies = s.stub.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(sha256_hex(&bodies[0]), sha);
    // Without the session's CSRF token nothing is sent.
    let forged = [
        ("csrf_token", "forged"),
        ("feature", "explain-trace"),
        ("trace_id", s.trace_id.as_str()),
        ("expect_sha256", sha.as_str()),
    ];
    let a = common::raw(&s.server, "POST", "/ai/send", cookie, Some(&forged)).await;
    assert!(!a.body.as_str().unwrap().contains(ANSWER));
    assert_eq!(s.stub.bodies().len(), 1);
}
