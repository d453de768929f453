//! Webhook and Slack delivery end to end: an axum receiver on loopback verifies each request
//! with `Verifier`, as a customer's endpoint would.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use scrim_notify::signature::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use scrim_notify::{
    Channel, FailureKind, Notification, Notifier, NotifierOptions, Outgoing, Severity,
    SigningSecret, Verifier, VerifyError, next_retry,
};
use serde_json::Value;

const SECRET: &str = "whsec_integration_test_secret";
const PLANTED: &[&str] = &[
    "4111 1111 1111 1111",
    "jane.doe@example.com",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "hunter2secret",
    "203.0.113.42",
];

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn notification() -> Notification {
    Notification {
        id: "ntf_it0001".into(),
        tenant: "acme".into(),
        kind: "alert.firing".into(),
        severity: Severity::Critical,
        title: "Checkout errors for jane.doe@example.com".into(),
        summary: "Card 4111 1111 1111 1111 declined; password=hunter2secret from 203.0.113.42"
            .into(),
        fields: vec![
            ("Service".into(), "checkout".into()),
            ("Key".into(), "sk_live_4eC39HqLyjWDarjtT1zdp7dc".into()),
        ],
        link: Some("https://scrim.example.test/t/acme/alerts/7?who=jane.doe@example.com".into()),
        time_unix: 1_772_366_400,
    }
}

/// A throwaway CA: the tests use plain http on loopback, and must not depend on the machine
/// having system roots.
fn notifier() -> Notifier {
    let ca = rcgen::generate_simple_self_signed(vec!["unused.test".to_string()]).unwrap();
    Notifier::new(NotifierOptions {
        system_roots: false,
        extra_ca_pem: Some(ca.cert.pem().into_bytes()),
        timeout: Duration::from_secs(5),
        ..NotifierOptions::default()
    })
    .unwrap()
}

/// What the receiver saw: every request (headers, body) and its verdict.
#[derive(Default)]
struct Seen {
    requests: Vec<(HeaderMap, Bytes)>,
    verdicts: Vec<Result<(), VerifyError>>,
}

struct Receiver {
    verifier: Mutex<Verifier>,
    seen: Mutex<Seen>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    let verdict = r.verifier.lock().unwrap().verify(&headers, &body, now());
    let mut seen = r.seen.lock().unwrap();
    seen.requests.push((headers, body));
    seen.verdicts.push(verdict);
    match verdict {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(VerifyError::Replayed) => (StatusCode::CONFLICT, "replayed").into_response(),
        Err(_) => (StatusCode::UNAUTHORIZED, "bad signature").into_response(),
    }
}

async fn serve(router: Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

async fn receiver() -> (Arc<Receiver>, u16) {
    let r = Arc::new(Receiver {
        verifier: Mutex::new(Verifier::new(SECRET)),
        seen: Mutex::new(Seen::default()),
    });
    let port = serve(
        Router::new()
            .route("/hook", post(receive))
            .with_state(r.clone()),
    )
    .await;
    (r, port)
}

fn webhook(port: u16) -> Channel {
    Channel::Webhook {
        url: format!("http://127.0.0.1:{port}/hook"),
        secret: SigningSecret::new(SECRET),
        ca_pem: None,
    }
}

#[tokio::test]
async fn a_signed_webhook_is_accepted_once_and_its_replay_refused() {
    let (r, port) = receiver().await;
    let out = Outgoing::new(notification());
    let delivered = notifier()
        .deliver(&webhook(port), &out, now())
        .await
        .unwrap();
    assert_eq!(delivered.status, Some(204));

    let (headers, body) = {
        let seen = r.seen.lock().unwrap();
        assert_eq!(seen.verdicts, [Ok(())]);
        seen.requests[0].clone()
    };
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("scrim/")
    );
    assert_eq!(headers[ID_HEADER], "ntf_it0001");
    assert!(
        headers[SIGNATURE_HEADER]
            .to_str()
            .unwrap()
            .starts_with("v1=")
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "fields", "id", "link", "severity", "summary", "tenant", "time", "title", "type"
        ]
    );
    assert_eq!(v["id"], "ntf_it0001");
    assert_eq!(v["type"], "alert.firing");
    assert_eq!(v["severity"], "critical");
    assert_eq!(v["time"], "2026-03-01T12:00:00Z");
    assert_eq!(v["fields"][0]["label"], "Service");
    assert_eq!(v["fields"][0]["value"], "checkout");
    let text = String::from_utf8_lossy(&body);
    for planted in PLANTED {
        assert!(!text.contains(planted), "{planted} in {text}");
    }

    // The exact captured request, sent again by someone who recorded it.
    let client = reqwest_like(port, &headers, body.to_vec()).await;
    assert_eq!(client, 409);
    let seen = r.seen.lock().unwrap();
    assert_eq!(seen.verdicts, [Ok(()), Err(VerifyError::Replayed)]);
}

/// Posts `body` with exactly `headers`' Scrim headers (a captured request replayed).
async fn reqwest_like(port: u16, headers: &HeaderMap, body: Vec<u8>) -> u16 {
    let ca = rcgen::generate_simple_self_signed(vec!["unused.test".to_string()]).unwrap();
    let client = scrim_http_client::HttpClient::new(scrim_http_client::HttpOptions {
        extra_ca_pem: Some(ca.cert.pem().into_bytes()),
        system_roots: false,
        ..Default::default()
    })
    .unwrap();
    let mut request = http::Request::post(format!("http://127.0.0.1:{port}/hook"));
    for name in [
        ID_HEADER,
        TIMESTAMP_HEADER,
        SIGNATURE_HEADER,
        "content-type",
    ] {
        request = request.header(name, headers[name].clone());
    }
    client
        .send(request.body(body).unwrap())
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A receiver that always answers with `status` and `headers`.
async fn answering(status: u16, headers: &'static [(&'static str, &'static str)]) -> u16 {
    let router = Router::new().route(
        "/hook",
        post(move || async move {
            let mut response = (StatusCode::from_u16(status).unwrap(), "nope").into_response();
            for (k, v) in headers {
                response
                    .headers_mut()
                    .insert(*k, http::HeaderValue::from_static(v));
            }
            response
        }),
    );
    serve(router).await
}

#[tokio::test]
async fn receiver_statuses_decide_retries() {
    let notifier = notifier();
    let out = Outgoing::new(notification());

    let port = answering(503, &[]).await;
    let e = notifier
        .deliver(&webhook(port), &out, now())
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert_eq!((e.status(), e.kind()), (Some(503), FailureKind::Http));
    assert_eq!(e.retry_after(), None);
    assert_eq!(next_retry(&e, 1, 1.0), Some(Duration::from_secs(30)));

    let port = answering(400, &[]).await;
    let e = notifier
        .deliver(&webhook(port), &out, now())
        .await
        .unwrap_err();
    assert!(!e.retryable(), "{e}");
    assert_eq!(e.status(), Some(400));
    assert_eq!(next_retry(&e, 1, 1.0), None);
    assert!(!e.to_string().contains("nope"), "{e}");

    let port = answering(429, &[("retry-after", "120")]).await;
    let e = notifier
        .deliver(&webhook(port), &out, now())
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert_eq!(e.status(), Some(429));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(next_retry(&e, 1, 1.0), Some(Duration::from_secs(120)));

    // Nobody listening: retryable, and the message names no URL.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let e = notifier
        .deliver(&webhook(port), &out, now())
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert_eq!((e.status(), e.kind()), (None, FailureKind::Unreachable));
    assert!(!e.to_string().contains("/hook"), "{e}");
}

#[tokio::test]
async fn a_refused_channel_is_not_attempted() {
    let e = notifier()
        .deliver(
            &Channel::Webhook {
                url: "http://hooks.example.test/in".into(),
                secret: SigningSecret::new(SECRET),
                ca_pem: None,
            },
            &Outgoing::new(notification()),
            now(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), FailureKind::Channel);
    assert!(!e.retryable());
}

#[tokio::test]
async fn slack_gets_text_and_blocks_without_planted_values() {
    let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let router = Router::new()
        .route(
            "/services/T000/B000/XXXX",
            post(
                |State(b): State<Arc<Mutex<Vec<Bytes>>>>, body: Bytes| async move {
                    b.lock().unwrap().push(body);
                    "ok"
                },
            ),
        )
        .with_state(bodies.clone());
    let port = serve(router).await;
    let channel = Channel::Slack {
        url: format!("http://127.0.0.1:{port}/services/T000/B000/XXXX"),
    };
    let delivered = notifier()
        .deliver(&channel, &Outgoing::new(notification()), now())
        .await
        .unwrap();
    assert_eq!(delivered.status, Some(200));
    let body = bodies.lock().unwrap()[0].clone();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["text"].as_str().unwrap().contains("Checkout errors"));
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks.iter().any(|b| b["type"] == "context"));
    let text = String::from_utf8_lossy(&body);
    for planted in PLANTED {
        assert!(!text.contains(planted), "{planted} in {text}");
    }

    // Slack's refusals name a code; the URL (a credential) never appears.
    let port = answering(404, &[]).await;
    let channel = Channel::Slack {
        url: format!("http://127.0.0.1:{port}/services/T000/B000/XXXX"),
    };
    let e = notifier()
        .deliver(&channel, &Outgoing::new(notification()), now())
        .await
        .unwrap_err();
    assert!(!e.retryable());
    assert!(!e.to_string().contains("XXXX"), "{e}");
}
