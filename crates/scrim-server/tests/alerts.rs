//! Alerts, sensitive-data insights, security detections, notifications and containment,
//! end to end: telemetry in over OTLP, the alerting job run at chosen instants
//! (`Server::evaluate_alerts`, no sleeping), notifications delivered to a webhook receiver
//! started by the test that verifies every signature with `scrim_notify::Verifier`, as a
//! customer's receiver would.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Cred, PASSWORD, call, exporter, sign_in, start_with};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use scrim_auth::Scopes;
use scrim_auth::rbac::Role;
use scrim_meta::NewApiKey;
use scrim_otlp::{Batch, ExportOutcome};
use scrim_server::Server;
use serde_json::{Value, json};

const SECRET: &str = "whsec-test-0123456789abcdef0123456789";
/// Values that must never appear in anything sent out.
const PLANTED: [&str; 4] = [
    "4111 1111 1111 1111",
    "4111111111111111",
    "alice.planted@example.com",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
];

/// One request the receiver got, and whether its signature verified.
#[derive(Clone)]
struct Hit {
    headers: hyper::HeaderMap,
    body: Vec<u8>,
    verdict: Result<(), String>,
}

/// A webhook receiver as a customer writes one: every request is checked with
/// `scrim_notify::Verifier` (signature, timestamp window, replayed ids) and answered 204
/// when it verifies, 401 otherwise.
struct Receiver {
    port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
}

async fn receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let verifier = Arc::new(Mutex::new(scrim_notify::Verifier::new(SECRET.as_bytes())));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (h, verifier) = (h.clone(), verifier.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (h, verifier) = (h.clone(), verifier.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes().to_vec();
                        let now = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .unwrap()
                            .as_secs() as i64;
                        let verdict = verifier
                            .lock()
                            .unwrap()
                            .verify(&parts.headers, &body, now)
                            .map_err(|e| format!("{e:?}"));
                        let status = if verdict.is_ok() { 204 } else { 401 };
                        h.lock().unwrap().push(Hit {
                            headers: parts.headers,
                            body,
                            verdict,
                        });
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Receiver { port, hits }
}

impl Receiver {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/scrim", self.port)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The verified notifications' bodies, parsed.
    fn accepted(&self) -> Vec<Value> {
        self.hits()
            .iter()
            .filter(|h| h.verdict.is_ok())
            .map(|h| serde_json::from_slice(&h.body).unwrap())
            .collect()
    }

    /// Sends `hit` again, byte for byte (a replay); returns the status.
    async fn replay(&self, hit: &Hit) -> u16 {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let mut req = hyper::Request::post(self.url())
            .body(Full::new(Bytes::from(hit.body.clone())))
            .unwrap();
        *req.headers_mut() = hit.headers.clone();
        // The body's own length, should a test have changed it.
        req.headers_mut().remove(hyper::header::CONTENT_LENGTH);
        client.request(req).await.unwrap().status().as_u16()
    }
}

struct Scene {
    server: Server,
    _dir: tempfile::TempDir,
    owner: Cred,
    admin: Cred,
    member: Cred,
    viewer: Cred,
    auditor: Cred,
    ingest_key: String,
    read_key: Cred,
    receiver: Receiver,
}

async fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |c| {
        // The test runs the job itself, at the instants it chooses.
        c.alerts.interval = Duration::from_secs(24 * 3600);
        c.alerts.verify_interval = Duration::ZERO;
    })
    .await;
    let platform = server.platform();
    let act = scrim_server::accounts::Act::operator("-");
    let tenant = scrim_server::admin::create_tenant(platform, &act, "acme", &Default::default())
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
    let receiver = receiver().await;
    let s = Scene {
        server,
        _dir: dir,
        owner: cred(Role::Owner),
        admin: cred(Role::Admin),
        member: cred(Role::Member),
        viewer: cred(Role::Viewer),
        auditor: cred(Role::Auditor),
        ingest_key: keys[0].clone(),
        read_key: Cred::Key(keys[1].clone()),
        receiver,
    };
    let a = call(
        &s.server,
        "POST",
        "/api/v1/notifications/channels",
        &s.admin,
        Some(json!({"name": "on-call", "channel": {"type": "webhook", "url": s.receiver.url(), "secret": SECRET}})),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(
        !a.body.to_string().contains(SECRET),
        "the secret is never shown back"
    );
    s
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// `n` SERVER spans of `service`, each `duration` long, starting at `at`, with `attrs`.
fn spans(
    service: &str,
    n: usize,
    at: SystemTime,
    duration: Duration,
    attrs: &[(&str, &str)],
) -> Batch {
    let spans = (0..n)
        .map(|i| {
            let start = at + Duration::from_millis(i as u64 * 10);
            let mut trace_id = [7u8; 16];
            trace_id[..8].copy_from_slice(&(ns(start) ^ i as u64).to_be_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                name: "GET /checkout".into(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: ns(start),
                end_time_unix_nano: ns(start + duration),
                attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
                ..Default::default()
            }
        })
        .collect();
    Batch::Traces(ExportTraceServiceRequest {
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

async fn send(s: &Scene, key: &str, batch: &Batch) -> ExportOutcome {
    exporter(&s.server, key).export(batch).await
}

async fn send_ok(s: &Scene, batch: &Batch) {
    let outcome = send(s, &s.ingest_key, batch).await;
    assert!(
        matches!(outcome, ExportOutcome::Delivered { .. }),
        "{outcome:?}"
    );
}

fn assert_nothing_planted(what: &str, text: &str) {
    for p in PLANTED {
        assert!(
            !text.contains(p),
            "{what} holds the planted value {p}: {text}"
        );
    }
}

/// Every notification that left: verified bodies hold no planted value, nor does any
/// request the receiver saw.
fn assert_notifications_clean(r: &Receiver) {
    for h in r.hits() {
        assert_nothing_planted("a notification", &String::from_utf8_lossy(&h.body));
    }
}

#[tokio::test]
async fn a_latency_spike_fires_an_alert_that_then_resolves() {
    let s = scene().await;
    // Evaluations happen at chosen instants up to now, never later: a receiver refuses a
    // signature timestamped more than five minutes away from its clock.
    let t0 = SystemTime::now() - Duration::from_secs(150);
    // The rule's name carries planted values: notifications must not.
    let rule = call(
        &s.server,
        "POST",
        "/api/v1/alerts/rules",
        &s.admin,
        Some(json!({
            "name": "checkout slow (owner alice.planted@example.com, card 4111 1111 1111 1111)",
            "metric": "p95_latency", "service": "checkout", "op": ">", "threshold": 500,
            "window_seconds": 120, "for_seconds": 60, "severity": "critical"
        })),
    )
    .await;
    assert_eq!(rule.status, 201, "{}", rule.body);
    let id = rule.body["id"].as_str().unwrap().to_owned();
    assert_eq!(rule.body["state"], "ok");
    // Who may: a member reads rules but cannot make them; a read key reads them.
    let denied = call(
        &s.server,
        "POST",
        "/api/v1/alerts/rules",
        &s.member,
        Some(json!({"name": "x", "metric": "error_rate", "service": "a", "threshold": 0.1})),
    )
    .await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        call(&s.server, "GET", "/api/v1/alerts/rules", &s.viewer, None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(&s.server, "GET", "/api/v1/alerts/rules", &s.read_key, None)
            .await
            .status,
        200
    );
    let bad = call(
        &s.server,
        "POST",
        "/api/v1/alerts/rules",
        &s.admin,
        Some(json!({"name": "y", "metric": "p95_latency", "threshold": 5})),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["error"]
            .as_str()
            .unwrap()
            .contains("needs a service"),
        "{}",
        bad.body
    );

    // Healthy traffic: nothing happens.
    send_ok(
        &s,
        &spans(
            "checkout",
            40,
            t0 - Duration::from_secs(100),
            Duration::from_millis(40),
            &[],
        ),
    )
    .await;
    let r = s
        .server
        .evaluate_alerts(t0 - Duration::from_secs(40))
        .await
        .unwrap();
    assert_eq!((r.rules_evaluated, r.fired), (1, 0), "{r:?}");

    // The spike: most requests take 900 ms.
    send_ok(
        &s,
        &spans(
            "checkout",
            60,
            t0 - Duration::from_secs(30),
            Duration::from_millis(900),
            &[],
        ),
    )
    .await;
    let r = s.server.evaluate_alerts(t0).await.unwrap();
    assert_eq!(r.fired, 0, "pending until the breach lasts 60 s: {r:?}");
    let got = call(
        &s.server,
        "GET",
        &format!("/api/v1/alerts/rules/{id}"),
        &s.viewer,
        None,
    )
    .await;
    assert_eq!(got.body["state"], "pending", "{}", got.body);
    let r = s
        .server
        .evaluate_alerts(t0 + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(r.fired, 1, "{r:?}");
    assert_eq!(r.delivered, 1, "{r:?}");
    let got = call(
        &s.server,
        "GET",
        &format!("/api/v1/alerts/rules/{id}"),
        &s.viewer,
        None,
    )
    .await;
    assert_eq!(got.body["state"], "firing");
    assert!(
        got.body["last_value"].as_f64().unwrap() > 500.0,
        "{}",
        got.body
    );

    // Later the window holds only healthy requests again.
    send_ok(
        &s,
        &spans(
            "checkout",
            40,
            t0 + Duration::from_secs(100),
            Duration::from_millis(45),
            &[],
        ),
    )
    .await;
    let r = s
        .server
        .evaluate_alerts(t0 + Duration::from_secs(150))
        .await
        .unwrap();
    assert_eq!(r.resolved, 1, "{r:?}");
    assert_eq!(r.delivered, 1, "{r:?}");
    let got = call(
        &s.server,
        "GET",
        &format!("/api/v1/alerts/rules/{id}"),
        &s.viewer,
        None,
    )
    .await;
    assert_eq!(got.body["state"], "ok");

    let history = call(
        &s.server,
        "GET",
        &format!("/api/v1/alerts/history?rule={id}"),
        &s.viewer,
        None,
    )
    .await;
    let states: Vec<&str> = history.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["resolved", "firing"], "newest first");

    let sent = s.receiver.accepted();
    let kinds: Vec<&str> = sent.iter().map(|n| n["type"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"alert.firing") && kinds.contains(&"alert.resolved"),
        "{kinds:?}"
    );
    let firing = sent.iter().find(|n| n["type"] == "alert.firing").unwrap();
    assert_eq!(firing["severity"], "critical");
    assert!(
        firing["title"].as_str().unwrap().contains("checkout slow"),
        "{firing}"
    );
    assert_notifications_clean(&s.receiver);

    // A receiver that verifies signatures refuses the same request sent again.
    let first = s
        .receiver
        .hits()
        .into_iter()
        .find(|h| h.verdict.is_ok())
        .unwrap();
    assert_eq!(s.receiver.replay(&first).await, 401);
    let last = s.receiver.hits().pop().unwrap();
    assert!(last.verdict.unwrap_err().contains("Replayed"));
    // And a tampered body fails the signature.
    let mut forged = first.clone();
    forged.body = String::from_utf8(first.body.clone())
        .unwrap()
        .replace("critical", "info")
        .into_bytes();
    forged
        .headers
        .insert("scrim-webhook-id", "ntf_forged".parse().unwrap());
    assert_eq!(s.receiver.replay(&forged).await, 401);

    // The delivery history says what happened.
    let notes = call(&s.server, "GET", "/api/v1/notifications", &s.viewer, None).await;
    let text = notes.body.to_string();
    assert!(text.contains("\"delivered\""), "{text}");
    assert_nothing_planted("the notification history", &text);
    // The rule's change is audited.
    let audit = call(
        &s.server,
        "GET",
        "/api/v1/audit?action=alert.rule_create",
        &s.auditor,
        None,
    )
    .await;
    assert_eq!(
        audit.body["records"].as_array().unwrap().len(),
        1,
        "{}",
        audit.body
    );
}

#[tokio::test]
async fn sensitive_data_in_a_new_attribute_is_an_insight() {
    let s = scene().await;
    let now = SystemTime::now();
    send_ok(
        &s,
        &spans(
            "payments",
            3,
            now - Duration::from_secs(30),
            Duration::from_millis(5),
            &[("app.note", "charged card 4111 1111 1111 1111 ok")],
        ),
    )
    .await;
    let r = s.server.evaluate_alerts(now).await.unwrap();
    assert_eq!(r.first_sightings, 1, "{r:?}");
    let insights = call(
        &s.server,
        "GET",
        "/api/v1/insights/sensitive-data?window=1h",
        &s.viewer,
        None,
    )
    .await;
    assert_eq!(insights.status, 200, "{}", insights.body);
    let findings = insights.body["findings"].as_array().unwrap();
    let card = findings
        .iter()
        .find(|f| f["service"] == "payments" && f["attribute"] == "app.note" && f["kind"] == "card")
        .unwrap_or_else(|| panic!("{}", insights.body));
    assert_eq!(card["count"], 3);
    assert_eq!(
        card["sentence"],
        "service `payments` sent 3 card numbers in `app.note` in the last 1h"
    );
    let sent = s.receiver.accepted();
    let new_kind: Vec<&Value> = sent
        .iter()
        .filter(|n| n["type"] == "insight.new_kind")
        .collect();
    assert_eq!(new_kind.len(), 1, "{sent:?}");
    assert!(
        new_kind[0]["summary"]
            .as_str()
            .unwrap()
            .contains("`app.note`")
    );

    // The same place again is no news; a new attribute is.
    send_ok(
        &s,
        &spans(
            "payments",
            2,
            now,
            Duration::from_millis(5),
            &[("app.note", "card 4111 1111 1111 1111")],
        ),
    )
    .await;
    let r = s
        .server
        .evaluate_alerts(now + Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(r.first_sightings, 0, "{r:?}");
    send_ok(
        &s,
        &spans(
            "payments",
            1,
            now,
            Duration::from_millis(5),
            &[("app.customer", "alice.planted@example.com")],
        ),
    )
    .await;
    let r = s
        .server
        .evaluate_alerts(now + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(r.first_sightings, 1, "{r:?}");
    let insights = call(
        &s.server,
        "GET",
        "/api/v1/insights/sensitive-data?window=1h",
        &s.viewer,
        None,
    )
    .await;
    assert_eq!(
        insights.body["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["attribute"] == "app.note")
            .unwrap()["count"],
        5
    );
    assert_nothing_planted("the insights", &insights.body.to_string());
    assert_notifications_clean(&s.receiver);
}

#[tokio::test]
async fn ten_failed_sign_ins_are_a_detection() {
    let s = scene().await;
    for _ in 0..10 {
        let a = call(
            &s.server,
            "POST",
            "/api/v1/session",
            &Cred::None,
            Some(json!({"email": "member@acme.example", "password": "not the password at all"})),
        )
        .await;
        assert!(a.status == 401 || a.status == 429, "{}", a.status);
    }
    let r = s.server.evaluate_alerts(SystemTime::now()).await.unwrap();
    assert_eq!(r.detections, 1, "{r:?}");
    // Once per window: running again finds nothing new.
    let r = s.server.evaluate_alerts(SystemTime::now()).await.unwrap();
    assert_eq!(r.detections, 0, "{r:?}");
    let d = call(&s.server, "GET", "/api/v1/detections", &s.auditor, None).await;
    assert_eq!(d.status, 200, "{}", d.body);
    let list = d.body["detections"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", d.body);
    assert_eq!(list[0]["kind"], "failed_sign_ins");
    assert!(
        list[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("10 sign-ins were refused"),
        "{}",
        d.body
    );
    assert_eq!(
        call(&s.server, "GET", "/api/v1/detections", &s.member, None)
            .await
            .status,
        403
    );
    // An audit record, and a notification.
    let audit = call(
        &s.server,
        "GET",
        "/api/v1/audit?action=detection.failed_sign_ins",
        &s.auditor,
        None,
    )
    .await;
    let records = audit.body["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{}", audit.body);
    assert_eq!(
        records[0]["actor"],
        json!({"kind": "system", "name": "detections"}),
        "{}",
        records[0]
    );
    let sent = s.receiver.accepted();
    assert!(
        sent.iter()
            .any(|n| n["type"] == "detection.failed_sign_ins" && n["severity"] == "warning"),
        "{sent:?}"
    );
    assert!(
        !s.receiver
            .hits()
            .iter()
            .any(|h| String::from_utf8_lossy(&h.body).contains("not the password"))
    );

    // A role escalation is one too.
    let users = call(&s.server, "GET", "/api/v1/users", &s.owner, None).await;
    let viewer_id = users.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "viewer@acme.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = call(
        &s.server,
        "PATCH",
        &format!("/api/v1/users/{viewer_id}"),
        &s.owner,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let r = s.server.evaluate_alerts(SystemTime::now()).await.unwrap();
    assert_eq!(r.detections, 1, "{r:?}");
    let d = call(&s.server, "GET", "/api/v1/detections", &s.auditor, None).await;
    assert_eq!(
        d.body["detections"][0]["kind"], "role_escalation",
        "{}",
        d.body
    );
    assert_notifications_clean(&s.receiver);
}

#[tokio::test]
async fn containment_suspends_keys_ends_sessions_and_freezes_reads_reversibly() {
    let s = scene().await;
    let now = SystemTime::now();
    let batch = spans(
        "checkout",
        2,
        now - Duration::from_secs(5),
        Duration::from_millis(5),
        &[],
    );
    send_ok(&s, &batch).await;
    assert_eq!(
        call(
            &s.server,
            "POST",
            "/api/v1/containment/freeze-reads",
            &s.member,
            None
        )
        .await
        .status,
        403
    );

    // Freeze: reads refused with 423, ingest goes on.
    let a = call(
        &s.server,
        "POST",
        "/api/v1/containment/freeze-reads",
        &s.admin,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["reads_frozen"], true);
    let read = call(&s.server, "GET", "/api/v1/traces", &s.read_key, None).await;
    assert_eq!(read.status, 423, "{}", read.body);
    assert_eq!(
        call(
            &s.server,
            "GET",
            "/api/v1/export?signal=traces&format=jsonl",
            &s.owner,
            None
        )
        .await
        .status,
        423
    );
    send_ok(&s, &batch).await;
    let a = call(
        &s.server,
        "POST",
        "/api/v1/containment/unfreeze-reads",
        &s.admin,
        None,
    )
    .await;
    assert_eq!(a.body["reads_frozen"], false, "{}", a.body);
    assert_eq!(
        call(&s.server, "GET", "/api/v1/traces", &s.read_key, None)
            .await
            .status,
        200
    );

    // Suspend every key: ingest and reads by key refused; restore brings them back.
    let a = call(
        &s.server,
        "POST",
        "/api/v1/containment/suspend-keys",
        &s.owner,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["keys_suspended"], 2, "{}", a.body);
    assert!(!matches!(
        send(&s, &s.ingest_key, &batch).await,
        ExportOutcome::Delivered { .. }
    ));
    assert_eq!(
        call(&s.server, "GET", "/api/v1/traces", &s.read_key, None)
            .await
            .status,
        401
    );
    let a = call(
        &s.server,
        "POST",
        "/api/v1/containment/restore-keys",
        &s.owner,
        None,
    )
    .await;
    assert_eq!(a.body["keys_active"], 2, "{}", a.body);
    send_ok(&s, &batch).await;
    assert_eq!(
        call(&s.server, "GET", "/api/v1/traces", &s.read_key, None)
            .await
            .status,
        200
    );

    // End every session: the member is signed out (and so is the admin who did it).
    assert_eq!(
        call(&s.server, "GET", "/api/v1/session", &s.member, None)
            .await
            .status,
        200
    );
    let a = call(
        &s.server,
        "POST",
        "/api/v1/containment/end-sessions",
        &s.admin,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        call(&s.server, "GET", "/api/v1/session", &s.member, None)
            .await
            .status,
        401
    );
    assert_eq!(
        call(&s.server, "GET", "/api/v1/session", &s.admin, None)
            .await
            .status,
        401
    );
    // Each action is in the audit log.
    let owner = sign_in(&s.server, "owner@acme.example", PASSWORD, None).await;
    for action in [
        "containment.reads_freeze",
        "containment.reads_unfreeze",
        "containment.keys_suspend",
        "containment.keys_restore",
        "containment.sessions_end",
    ] {
        let a = call(
            &s.server,
            "GET",
            &format!("/api/v1/audit?action={action}"),
            &owner,
            None,
        )
        .await;
        assert_eq!(
            a.body["records"].as_array().unwrap().len(),
            1,
            "{action}: {}",
            a.body
        );
    }
}

#[tokio::test]
async fn a_revoked_key_in_use_and_a_channel_that_fails_are_reported() {
    let s = scene().await;
    // A second channel whose receiver is gone: retried, not lost, with its error kept.
    let dead = call(
        &s.server,
        "POST",
        "/api/v1/notifications/channels",
        &s.admin,
        Some(json!({"name": "gone", "channel": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}})),
    )
    .await;
    assert_eq!(dead.status, 201, "{}", dead.body);
    assert!(
        dead.body["signing_secret"].as_str().unwrap().len() >= 32,
        "a generated secret is shown once"
    );
    let listed = call(
        &s.server,
        "GET",
        "/api/v1/notifications/channels",
        &s.viewer,
        None,
    )
    .await;
    assert!(!listed.body.to_string().contains(SECRET));
    assert!(
        !listed
            .body
            .to_string()
            .contains(dead.body["signing_secret"].as_str().unwrap())
    );

    // Revoke the ingest key, then use it.
    let keys = call(&s.server, "GET", "/api/v1/apikeys", &s.owner, None).await;
    let ingest_id = keys.body["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["scopes"].as_str().unwrap_or_default().contains("ingest"))
        .unwrap_or_else(|| panic!("{}", keys.body))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = call(
        &s.server,
        "DELETE",
        &format!("/api/v1/apikeys/{ingest_id}"),
        &s.owner,
        None,
    )
    .await;
    assert!(a.status == 200 || a.status == 204, "{}", a.body);
    let batch = spans(
        "checkout",
        1,
        SystemTime::now(),
        Duration::from_millis(5),
        &[],
    );
    assert!(!matches!(
        send(&s, &s.ingest_key, &batch).await,
        ExportOutcome::Delivered { .. }
    ));
    let r = s.server.evaluate_alerts(SystemTime::now()).await.unwrap();
    assert_eq!(r.detections, 1, "{r:?}");
    assert_eq!((r.delivered, r.retried), (1, 1), "{r:?}");
    let d = call(&s.server, "GET", "/api/v1/detections", &s.admin, None).await;
    assert_eq!(
        d.body["detections"][0]["kind"], "revoked_key_use",
        "{}",
        d.body
    );
    assert_eq!(d.body["detections"][0]["target"], ingest_id.as_str());
    let notes = call(&s.server, "GET", "/api/v1/notifications", &s.viewer, None).await;
    let deliveries = notes.body["notifications"][0]["deliveries"]
        .as_array()
        .unwrap()
        .clone();
    let states: Vec<&str> = deliveries
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"delivered") && states.contains(&"pending"),
        "{}",
        notes.body
    );
    let pending = deliveries.iter().find(|d| d["state"] == "pending").unwrap();
    assert_eq!(pending["attempts"], 1);
    assert!(
        pending["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{pending}"
    );
    // The retry waits its backoff: an immediate run does not try again.
    let r = s.server.evaluate_alerts(SystemTime::now()).await.unwrap();
    assert_eq!(r.retried + r.delivered + r.failed_deliveries, 0, "{r:?}");
    // Once due it is tried again.
    let r = s
        .server
        .evaluate_alerts(SystemTime::now() + Duration::from_secs(3700))
        .await
        .unwrap();
    assert_eq!(r.retried, 1, "{r:?}");
    assert_notifications_clean(&s.receiver);
}
