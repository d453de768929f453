//! `scrim serve` end to end, as a real process.
//!
//! - `python_sdk_ingest_reads_back_without_secrets`: `scrim tenant create` and `scrim apikey
//!   create` make a tenant and keys; the official OpenTelemetry Python SDK
//!   (tests/python/send_secrets.py, with `OTEL_EXPORTER_OTLP_HEADERS` carrying the ingest
//!   key) sends spans and logs full of planted secrets over OTLP/gRPC and OTLP/HTTP; the REST
//!   API with the read key returns every span and log record and none of the secrets; after
//!   a clean stop no file in the data directory holds any of them. Skipped with a message
//!   when the SDK is missing (required in CI, see tests/common).
//! - `sigkill_loses_no_acknowledged_span`: spans are sent while the server is killed with
//!   SIGKILL; after a restart on the same data directory every span it acknowledged is
//!   returned by the API.
//!
//! The server announces readiness on stderr with one line (crates/scrim/src/main.rs):
//! `scrim serve: API http://A, OTLP/gRPC B, OTLP/HTTP C`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{PER_TRANSPORT, PLANTED, ScrimProcess, ServeAddrs, http, parse_serve_ready, scrim_ok};
use scrim_otlp::{Batch, Credential, ExportOutcome, Exporter, ExporterConfig, Protocol};
use serde_json::Value;

type Addrs = ServeAddrs;

async fn start_serve(dir: &Path) -> (ScrimProcess<Addrs>, Addrs) {
    let args: Vec<String> = [
        "serve",
        "--data-dir",
        &dir.display().to_string(),
        "--http",
        "127.0.0.1:0",
        "--otlp-grpc",
        "127.0.0.1:0",
        "--otlp-http",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    tokio::task::spawn_blocking(move || {
        let p = ScrimProcess::spawn(&args, parse_serve_ready);
        let addrs = p.wait_ready();
        (p, addrs)
    })
    .await
    .unwrap()
}

/// `scrim tenant create` and two `scrim apikey create`: (ingest key, read key).
fn tenant_with_keys(dir: &Path, name: &str) -> (String, String) {
    let d = dir.display().to_string();
    scrim_ok(&["tenant", "create", name, "--data-dir", &d]);
    let key = |scopes: &str| {
        let out = scrim_ok(&[
            "apikey",
            "create",
            "--tenant",
            name,
            "--scopes",
            scopes,
            "--data-dir",
            &d,
        ]);
        let last = out.lines().last().unwrap_or("").to_string();
        assert!(
            last.starts_with("scrim_"),
            "the key is alone on the last line: {out}"
        );
        last
    };
    (key("ingest"), key("read"))
}

async fn api(
    addrs: Addrs,
    method: &'static str,
    path: String,
    key: &str,
    body: String,
) -> (u16, Value) {
    let key = key.to_string();
    tokio::task::spawn_blocking(move || {
        let (status, body) = http(addrs.api, method, &path, Some(&key), &body);
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    })
    .await
    .unwrap()
}

async fn sql(addrs: Addrs, key: &str, query: &str) -> Value {
    let (status, v) = api(
        addrs,
        "POST",
        "/api/v1/sql".into(),
        key,
        serde_json::json!({ "query": query }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{query}: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_ingest_reads_back_without_secrets() {
    if !common::python_sdk_available("serve_e2e python test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ingest, read) = tenant_with_keys(dir.path(), "shop");
    let (server, addrs) = start_serve(dir.path()).await;
    let output = common::send_secrets(
        format!("http://{}", addrs.grpc),
        format!("http://{}", addrs.http),
        // What an application sets; the SDK URL-decodes the value.
        Some(format!("authorization=Bearer%20{ingest}")),
    )
    .await;
    assert!(
        output.status.success(),
        "send_secrets.py failed: {}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    let spans = sql(addrs, &read, "SELECT * FROM spans").await;
    let logs = sql(addrs, &read, "SELECT * FROM logs").await;
    assert_eq!(
        spans["rows"].as_array().unwrap().len(),
        2 * PER_TRANSPORT,
        "{spans}"
    );
    assert_eq!(
        logs["rows"].as_array().unwrap().len(),
        2 * PER_TRANSPORT,
        "{logs}"
    );
    let (status, found) = api(
        addrs,
        "GET",
        "/api/v1/traces?limit=1000".into(),
        &read,
        String::new(),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    let first = found["traces"][0]["trace_id"].as_str().unwrap().to_string();
    let (status, trace) = api(
        addrs,
        "GET",
        format!("/api/v1/traces/{first}"),
        &read,
        String::new(),
    )
    .await;
    assert_eq!(status, 200, "{trace}");
    let answers = format!("{spans}{logs}{found}{trace}");
    for secret in PLANTED {
        assert!(!answers.contains(secret), "{secret} came back from the API");
    }
    // The ingest key cannot read; the read key cannot ingest (tested in-process too).
    let (status, _) = api(
        addrs,
        "GET",
        "/api/v1/services".into(),
        &ingest,
        String::new(),
    )
    .await;
    assert_eq!(status, 403);

    let (status, log) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{log}");
    // Nothing planted on disk: WAL, segments, metadata, key file.
    let mut files = 0;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            for secret in PLANTED {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds {secret:?}",
                    path.display()
                );
            }
        }
    }
    assert!(files >= 4, "{files} files");
}

fn exporter(addrs: Addrs, key: &str) -> Exporter {
    let mut c = ExporterConfig::new(format!("http://{}", addrs.http), Protocol::HttpProtobuf);
    c.allow_http = true;
    c.headers.push((
        "authorization".into(),
        Credential::new(format!("Bearer {key}")),
    ));
    // One attempt: a send the dead server never answered is simply not acknowledged.
    c.retry.max_elapsed = Duration::ZERO;
    c.timeout = Duration::from_secs(5);
    Exporter::new(c).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_span() {
    let dir = tempfile::tempdir().unwrap();
    let (ingest, read) = tenant_with_keys(dir.path(), "crash");
    let (mut server, addrs) = start_serve(dir.path()).await;
    let acked: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(tokio::sync::Notify::new());
    // Four senders, each one trace per request, until told to stop.
    let mut senders = Vec::new();
    for s in 0..4u64 {
        let (acked, stop, progress) =
            (Arc::clone(&acked), Arc::clone(&stop), Arc::clone(&progress));
        let e = exporter(addrs, &ingest);
        senders.push(tokio::spawn(async move {
            let mut g = scrim_demo::Generator::new(100 + s);
            while !stop.load(Ordering::SeqCst) {
                let req = g.next_traces(1, SystemTime::now());
                let spans: usize = req
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                let id = common::hex(&req.resource_spans[0].scope_spans[0].spans[0].trace_id);
                if let ExportOutcome::Delivered { .. } = e.export(&Batch::Traces(req)).await {
                    acked.lock().unwrap().push((id, spans));
                    progress.notify_one();
                }
            }
        }));
    }
    // Kill once enough is acknowledged, with the senders still sending.
    while acked.lock().unwrap().len() < 60 {
        progress.notified().await;
    }
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let (server, addrs) = start_serve(dir.path()).await;
    let mut missing = BTreeSet::new();
    for (id, spans) in &acked {
        let (status, trace) = api(
            addrs,
            "GET",
            format!("/api/v1/traces/{id}"),
            &read,
            String::new(),
        )
        .await;
        let got: usize = trace["resourceSpans"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
                    .map(|ss| ss["spans"].as_array().map_or(0, Vec::len))
                    .sum()
            })
            .unwrap_or(0);
        if status != 200 || got < *spans {
            missing.insert(id.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged traces lost after SIGKILL: {missing:?}\n{}",
        missing.len(),
        acked.len(),
        server.log()
    );
    println!("{} acknowledged traces all survived SIGKILL", acked.len());
}
