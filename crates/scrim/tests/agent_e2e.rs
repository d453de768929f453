//! `scrim agent` end to end, as a real process: applications ▸ agent ▸ upstream.
//!
//! - `python_sdk_secrets_never_reach_the_upstream`: the official OpenTelemetry Python SDK
//!   (tests/python/send_secrets.py) sends spans and logs full of planted secrets through the
//!   agent over OTLP/gRPC and OTLP/HTTP; every span and log record must reach the upstream and
//!   no secret may survive anywhere in what it received. Needs `pip install opentelemetry-sdk
//!   opentelemetry-exporter-otlp-proto-grpc opentelemetry-exporter-otlp-proto-http`; without
//!   those modules the test prints why it is skipped and passes, unless
//!   `SCRIM_REQUIRE_PYTHON_OTEL` is set. The interpreter is `$SCRIM_PYTHON`, else `python3`.
//! - `sigkill_loses_no_acknowledged_span`: the upstream is down, the application sends, the
//!   agent is killed with SIGKILL (with sends in flight) and restarted on the same data
//!   directory, then the upstream returns and the agent is killed once more while it
//!   forwards. Every span the agent acknowledged must arrive. Delivery is at least once:
//!   the test prints how many spans arrived twice.
//! - `plain_http_upstream_needs_the_flag` and `health_and_metrics_answer`: the command line
//!   contract.
//!
//! The agent announces readiness on stderr with one line (printed by
//! `crates/scrim/src/main.rs`, documented in ARCHITECTURE.md):
//! `scrim agent: OTLP/gRPC A, OTLP/HTTP B, metrics http://C/metrics, mode M`.
//! Every wait is on an event (that line, a count reaching its target, end of output); the
//! deadlines are failsafes only.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use scrim_otlp::proto::*;
use scrim_otlp::{
    Accepted, Batch, BoxFuture, ExportOutcome, Exporter, ExporterConfig, Protocol, Receivers,
    ReceiversConfig, RequestContext, RetryPolicy, Sink, SinkError,
};
use tokio::sync::watch;

mod common;

use common::{DEADLINE, PER_TRANSPORT, PLANTED, ScrimProcess};

// ---------------------------------------------------------------------------------------
// The agent process

#[derive(Debug, Clone)]
struct Addrs {
    grpc: SocketAddr,
    http: SocketAddr,
    metrics: SocketAddr,
    mode: String,
}

/// Parses `scrim agent: OTLP/gRPC A, OTLP/HTTP B, metrics http://C/metrics, mode M`.
fn parse_ready(line: &str) -> Option<Addrs> {
    let rest = line.strip_prefix("scrim agent: OTLP/gRPC ")?;
    let (grpc, rest) = rest.split_once(", OTLP/HTTP ")?;
    let (http, rest) = rest.split_once(", metrics http://")?;
    let (metrics, mode) = rest.split_once("/metrics, mode ")?;
    Some(Addrs {
        grpc: grpc.parse().ok()?,
        http: http.parse().ok()?,
        metrics: metrics.parse().ok()?,
        mode: mode.trim().to_string(),
    })
}

/// A `scrim agent` child process (tests/common: killed and reaped on drop).
type AgentProcess = ScrimProcess<Addrs>;

/// Spawns `scrim agent ARGS`.
fn spawn_agent(args: &[&str]) -> AgentProcess {
    let mut all = vec!["agent".to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    ScrimProcess::spawn(&all, parse_ready)
}

/// Starts an agent forwarding to `http://upstream` and waits for its readiness line.
async fn start_agent(
    upstream: SocketAddr,
    data_dir: &Path,
    extra: &[&str],
) -> (AgentProcess, Addrs) {
    let mut args: Vec<String> = vec![
        "agent".into(),
        "--upstream".into(),
        format!("http://{upstream}"),
        "--allow-http-fallback".into(),
        "--otlp-grpc".into(),
        "127.0.0.1:0".into(),
        "--otlp-http".into(),
        "127.0.0.1:0".into(),
        "--metrics".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let agent = ScrimProcess::spawn(&args, parse_ready);
        let addrs = agent.wait_ready();
        (agent, addrs)
    })
    .await
    .unwrap()
}

/// An address where nothing listens (yet).
fn reserve_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A plain HTTP/1.1 GET (blocking); returns status line and body.
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read response");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

// ---------------------------------------------------------------------------------------
// The upstream

/// Collects every batch the agent forwards; `items` counts spans plus log records.
struct Upstream {
    batches: Mutex<Vec<Batch>>,
    items: watch::Sender<u64>,
}

impl Upstream {
    async fn start(addr: SocketAddr) -> (Arc<Upstream>, Receivers) {
        let upstream = Arc::new(Upstream {
            batches: Mutex::new(Vec::new()),
            items: watch::channel(0).0,
        });
        let receivers = Receivers::start(
            ReceiversConfig {
                grpc: None,
                http: Some(addr),
                ..ReceiversConfig::default()
            },
            upstream.clone(),
        )
        .await
        .expect("upstream listens");
        (upstream, receivers)
    }

    /// Waits until `done` holds for what arrived (checked after each request).
    async fn wait_until(&self, what: &str, done: impl Fn(&[Batch]) -> bool) {
        let mut rx = self.items.subscribe();
        let ok = tokio::time::timeout(DEADLINE, async {
            loop {
                if done(&self.batches.lock().unwrap()) {
                    return;
                }
                rx.changed().await.expect("upstream alive");
            }
        })
        .await
        .is_ok();
        assert!(ok, "{what}: not there after {DEADLINE:?}");
    }

    fn batches(&self) -> Vec<Batch> {
        self.batches.lock().unwrap().clone()
    }
}

impl Sink for Upstream {
    fn consume(
        &self,
        batch: Batch,
        _ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
        let n = batch.item_count();
        self.batches.lock().unwrap().push(batch);
        self.items.send_modify(|c| *c += n);
        Box::pin(async { Ok(Accepted::all()) })
    }
}

fn spans(batches: &[Batch]) -> impl Iterator<Item = &Span> {
    batches
        .iter()
        .filter_map(|b| match b {
            Batch::Traces(t) => Some(t),
            _ => None,
        })
        .flat_map(|t| &t.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
}

fn log_records(batches: &[Batch]) -> impl Iterator<Item = &LogRecord> {
    batches
        .iter()
        .filter_map(|b| match b {
            Batch::Logs(l) => Some(l),
            _ => None,
        })
        .flat_map(|l| &l.resource_logs)
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
}

fn str_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// a. The OpenTelemetry Python SDK through the agent

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_secrets_never_reach_the_upstream() {
    if !common::python_sdk_available("agent_e2e python test") {
        return;
    }
    let (upstream, up_receivers) = Upstream::start("127.0.0.1:0".parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    // Default mode (`auto`: on-prem, the upstream is on loopback) and the default policy.
    let (agent, addrs) = start_agent(up_receivers.http_addr().unwrap(), dir.path(), &[]).await;
    assert_eq!(addrs.mode, "OnPrem");

    let output = common::send_secrets(
        format!("http://{}", addrs.grpc),
        format!("http://{}", addrs.http),
        None,
    )
    .await;
    assert!(
        output.status.success(),
        "send_secrets.py failed: {}\n{}\nagent:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        agent.log()
    );

    // Every span and log record, by its test id.
    let expected: BTreeSet<String> = ["grpc", "http"]
        .iter()
        .flat_map(|t| (0..PER_TRANSPORT).map(move |i| format!("{t}-{i}")))
        .collect();
    let span_ids = |b: &[Batch]| -> BTreeSet<String> {
        spans(b)
            .filter_map(|s| str_attr(&s.attributes, "test.span_id").map(String::from))
            .collect()
    };
    let log_ids = |b: &[Batch]| -> BTreeSet<String> {
        log_records(b)
            .filter_map(|l| str_attr(&l.attributes, "test.log_id").map(String::from))
            .collect()
    };
    upstream
        .wait_until("every span and log record", |b| {
            span_ids(b) == expected && log_ids(b) == expected
        })
        .await;
    let batches = upstream.batches();
    assert_eq!(spans(&batches).count(), 2 * PER_TRANSPORT, "no span twice");
    assert_eq!(log_records(&batches).count(), 2 * PER_TRANSPORT);

    // No planted secret anywhere: in the decoded requests and in their protobuf bytes.
    let dump = format!("{batches:?}");
    let bytes: Vec<u8> = batches.iter().flat_map(Batch::encode_to_vec).collect();
    for secret in PLANTED {
        assert!(
            !dump.contains(secret),
            "{secret} reached the upstream:\n{dump}"
        );
        assert!(
            !find(&bytes, secret.as_bytes()),
            "{secret} is in the upstream's protobuf bytes"
        );
    }
    // The data is still useful, and says what was removed.
    for span in spans(&batches) {
        let a = &span.attributes;
        let sql = str_attr(a, "db.query.text").or_else(|| str_attr(a, "db.statement"));
        assert!(
            sql == Some("SELECT * FROM users WHERE email = ? AND ssn = ?")
                || sql == Some("UPDATE cards SET holder = ? WHERE pan = ?"),
            "{sql:?}"
        );
        assert_eq!(str_attr(a, "client.address"), Some("198.51.100.0"));
        assert!(
            str_attr(a, "url.full").is_some_and(|u| u.contains("shop.example.com/checkout")),
            "{a:?}"
        );
        assert!(
            str_attr(a, "enduser.id").is_some_and(|u| u.starts_with("[id:")),
            "{a:?}"
        );
        assert!(
            a.iter().any(|kv| kv.key.starts_with("scrim.redacted.")),
            "{a:?}"
        );
        assert_eq!(span.events[0].name, "exception");
    }

    // The agent's own counters agree.
    let metrics = addrs.metrics;
    let (status, body) = tokio::task::spawn_blocking(move || http_get(metrics, "/metrics"))
        .await
        .unwrap();
    assert!(status.contains("200"), "{status}");
    let n = 2 * PER_TRANSPORT;
    for line in [
        format!("scrim_agent_received_items_total{{signal=\"traces\"}} {n}"),
        format!("scrim_agent_received_items_total{{signal=\"logs\"}} {n}"),
        format!("scrim_agent_exported_items_total{{signal=\"traces\"}} {n}"),
        format!("scrim_agent_exported_items_total{{signal=\"logs\"}} {n}"),
    ] {
        assert!(body.contains(&line), "{line} missing:\n{body}");
    }
    drop(agent);
    up_receivers.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// b. SIGKILL while holding acknowledged data

/// One request of `SPANS_PER_REQUEST` spans named `fault-<request>-<k>`, with a secret.
const SPANS_PER_REQUEST: usize = 5;

fn fault_request(request: u64) -> (Batch, Vec<String>) {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let names: Vec<String> = (0..SPANS_PER_REQUEST)
        .map(|k| format!("fault-{request}-{k}"))
        .collect();
    let spans = names
        .iter()
        .enumerate()
        .map(|(k, name)| Span {
            trace_id: [request.to_be_bytes(), 7u64.to_be_bytes()].concat(),
            span_id: (request * SPANS_PER_REQUEST as u64 + k as u64 + 1)
                .to_be_bytes()
                .to_vec(),
            name: name.clone(),
            kind: 3,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_001_000_000,
            attributes: vec![
                kv("db.system.name", "postgresql"),
                kv(
                    "db.query.text",
                    "SELECT * FROM users WHERE email = 'victim@example.com'",
                ),
            ],
            ..Default::default()
        })
        .collect();
    let batch = Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "fault-test")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    (batch, names)
}

/// The application's exporter: plain HTTP to the agent, no retries (a request counts as
/// acknowledged only when the agent answered it with success).
fn app_exporter(agent: &Addrs) -> Arc<Exporter> {
    let mut c = ExporterConfig::new(format!("http://{}", agent.http), Protocol::HttpProtobuf);
    c.allow_http = true;
    c.gzip = false;
    c.retry = RetryPolicy {
        enabled: false,
        ..RetryPolicy::default()
    };
    Arc::new(Exporter::new(c).expect("app exporter"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_span() {
    let up_addr = reserve_port();
    let dir = tempfile::tempdir().unwrap();
    // `auto` mode would be on-prem here; cloud is what a remote deployment runs.
    let mode = ["--mode", "cloud"];

    // 1. The upstream is down. Four application connections send until 150 requests are
    //    acknowledged, and the agent is SIGKILLed while they are still sending.
    let (mut agent, addrs) = start_agent(up_addr, dir.path(), &mode).await;
    let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let (acked_requests, _) = watch::channel(0u64);
    let acked_requests = Arc::new(acked_requests);
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let exporter = app_exporter(&addrs);
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (exporter, acked, acked_requests, next, stop, failed) = (
            exporter.clone(),
            acked.clone(),
            acked_requests.clone(),
            next.clone(),
            stop.clone(),
            failed.clone(),
        );
        senders.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let (batch, names) = fault_request(next.fetch_add(1, Ordering::SeqCst));
                match exporter.export(&batch).await {
                    ExportOutcome::Delivered { .. } => {
                        acked.lock().unwrap().extend(names);
                        acked_requests.send_modify(|n| *n += 1);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    let mut rx = acked_requests.subscribe();
    tokio::time::timeout(DEADLINE, rx.wait_for(|n| *n >= 150))
        .await
        .expect("150 requests acknowledged")
        .unwrap();
    agent.kill();
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.await.unwrap();
    }
    let phase1 = acked.lock().unwrap().len();

    // 2. Restarted on the same data directory, upstream still down: more acknowledged data.
    let (mut agent, addrs) = start_agent(up_addr, dir.path(), &mode).await;
    let exporter = app_exporter(&addrs);
    for _ in 0..50 {
        let (batch, names) = fault_request(next.fetch_add(1, Ordering::SeqCst));
        let outcome = exporter.export(&batch).await;
        assert!(
            matches!(outcome, ExportOutcome::Delivered { .. }),
            "{outcome:?}\n{}",
            agent.log()
        );
        acked.lock().unwrap().extend(names);
    }
    let acked: BTreeSet<String> = acked.lock().unwrap().clone();

    // 3. The upstream returns. As soon as the first spans arrive, SIGKILL the agent again
    //    (it is forwarding, and has not acknowledged what it sent in its queue), restart it.
    let (upstream, up_receivers) = Upstream::start(up_addr).await;
    upstream
        .wait_until("the first forwarded spans", |b| spans(b).next().is_some())
        .await;
    agent.kill();
    let (agent, _) = start_agent(up_addr, dir.path(), &mode).await;

    // 4. Every acknowledged span arrives.
    let names = |b: &[Batch]| -> Vec<String> { spans(b).map(|s| s.name.clone()).collect() };
    upstream
        .wait_until("every acknowledged span", |b| {
            let got: BTreeSet<String> = names(b).into_iter().collect();
            acked.is_subset(&got)
        })
        .await;
    let batches = upstream.batches();
    let received = names(&batches);
    let mut counts = BTreeMap::<&str, usize>::new();
    for n in &received {
        *counts.entry(n.as_str()).or_default() += 1;
    }
    let lost: Vec<&String> = acked
        .iter()
        .filter(|n| !counts.contains_key(n.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged spans lost: {lost:?}");
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    let unacknowledged = counts.keys().filter(|n| !acked.contains(**n)).count();
    let dump = format!("{batches:?}");
    assert!(!dump.contains("victim@example.com"), "a secret got through");
    eprintln!(
        "sigkill fault test: {} spans acknowledged ({phase1} before the first SIGKILL, {} \
         requests failed while it died), {} received, 0 lost, {duplicates} duplicates \
         (at-least-once), {unacknowledged} delivered though never acknowledged",
        acked.len(),
        failed.load(Ordering::SeqCst),
        received.len(),
    );
    drop(agent);
    up_receivers.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// c. The command-line contract

#[test]
fn plain_http_upstream_needs_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let agent = spawn_agent(&[
        "--upstream",
        "http://127.0.0.1:9",
        "--otlp-grpc",
        "127.0.0.1:0",
        "--otlp-http",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
    ]);
    let (status, log) = agent.wait_exit();
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("allow_http_fallback"), "{log}");
    assert!(
        !log.contains("OTLP/gRPC"),
        "it must not have started: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (_agent, addrs) = start_agent(reserve_port(), dir.path(), &[]).await;
    let metrics = addrs.metrics;
    let ((hs, hb), (ms, mb)) = tokio::task::spawn_blocking(move || {
        (http_get(metrics, "/healthz"), http_get(metrics, "/metrics"))
    })
    .await
    .unwrap();
    assert!(hs.contains("200"), "{hs}");
    assert_eq!(hb, "ok\n");
    assert!(ms.contains("200"), "{ms}");
    for name in [
        "scrim_agent_received_items_total{signal=\"traces\"} 0",
        "scrim_agent_queue_records 0",
        "scrim_agent_redacted_total{kind=\"email\"} 0",
    ] {
        assert!(mb.contains(name), "{name} missing:\n{mb}");
    }
}
