//! `scrim serve` in-process: OTLP in with an ingest key, the REST API out with a read key.
//! Secrets never come back, tenants never see each other, nothing planted reaches the disk.

use std::path::Path;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use scrim_demo::{Generator, planted_secrets};
use scrim_otlp::{Batch, ExportOutcome};
use scrim_server::admin::{self, DemoTenant};
use scrim_server::{PlatformConfig, Server, ServerConfig};
use serde_json::Value;

mod common;
use common::exporter;

async fn start(dir: &Path) -> Server {
    let mut config = ServerConfig::loopback_ephemeral(PlatformConfig::in_dir(dir));
    // Only explicit flushes: each test decides when rows move from the buffer to segments.
    config.flush_interval = Duration::from_secs(3600);
    config.flush_rows = usize::MAX;
    Server::start(config).await.expect("server starts")
}

/// Sends the generator's traffic for `ticks` seconds of simulated time; returns the batches.
async fn send_shop(server: &Server, key: &str, seed: u64, ticks: u64) -> Vec<Batch> {
    common::send_shop_at(
        server,
        key,
        seed,
        ticks,
        SystemTime::now() - Duration::from_secs(60),
    )
    .await
}

async fn api(
    server: &Server,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", server.http_addr()));
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

fn trace_ids(batches: &[Batch]) -> Vec<String> {
    let mut ids = Vec::new();
    for b in batches {
        if let Batch::Traces(t) = b {
            for rs in &t.resource_spans {
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        ids.push(scrim_store::convert::hex(&s.trace_id));
                    }
                }
            }
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in planted_secrets() {
        assert!(
            !text.contains(secret),
            "{what} holds the planted {secret:?}"
        );
    }
}

/// Every file under `dir`, read whole, must hold none of the planted values.
fn assert_no_secret_on_disk(dir: &Path) {
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            for secret in planted_secrets() {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds the planted {secret:?}",
                    path.display()
                );
            }
        }
    }
    assert!(
        files >= 4,
        "expected WAL, segments, metadata and key files, found {files}"
    );
}

async fn demo(server: &Server) -> DemoTenant {
    admin::demo_tenant(server.platform()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingested_telemetry_is_queryable_and_secret_free_before_and_after_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let t = demo(&server).await;
    let sent = send_shop(&server, &t.ingest_key, 7, 3).await;
    let ids = trace_ids(&sent);
    assert!(ids.len() >= 50, "{}", ids.len());

    for phase in ["buffered", "flushed"] {
        let (status, services) = api(
            &server,
            "GET",
            "/api/v1/services?window=1h",
            Some(&t.read_key),
            "",
        )
        .await;
        assert_eq!(status, 200, "{phase}: {services}");
        let names: Vec<&str> = services["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["service"].as_str().unwrap())
            .collect();
        for service in ["frontend", "checkout", "payments", "users"] {
            assert!(names.contains(&service), "{phase}: {names:?}");
        }

        let (status, trace) = api(
            &server,
            "GET",
            &format!("/api/v1/traces/{}", ids[0]),
            Some(&t.read_key),
            "",
        )
        .await;
        assert_eq!(status, 200, "{phase}: {trace}");
        let spans = spans_in(&trace);
        assert!(
            spans >= 5,
            "{phase}: a shop trace has 5 to 12 spans, got {spans}"
        );
        assert_no_secret(&format!("{phase} trace"), &trace.to_string());

        let (status, found) = api(
            &server,
            "GET",
            "/api/v1/traces?service=checkout&limit=1000",
            Some(&t.read_key),
            "",
        )
        .await;
        assert_eq!(status, 200, "{phase}: {found}");
        assert!(!found["traces"].as_array().unwrap().is_empty(), "{phase}");

        let (status, rows) = api(
            &server,
            "POST",
            "/api/v1/sql",
            Some(&t.read_key),
            r#"{"query": "SELECT * FROM spans"}"#,
        )
        .await;
        assert_eq!(status, 200, "{phase}: {rows}");
        assert_no_secret(&format!("{phase} SELECT * FROM spans"), &rows.to_string());
        let (_, logs) = api(
            &server,
            "GET",
            "/api/v1/logs?limit=10000",
            Some(&t.read_key),
            "",
        )
        .await;
        assert!(
            !logs["logs"].as_array().unwrap().is_empty(),
            "{phase}: {logs}"
        );
        assert_no_secret(&format!("{phase} logs"), &logs.to_string());

        server.flush().await.unwrap();
    }
    assert_no_secret_on_disk(dir.path());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_cannot_read_each_other_by_any_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let a = demo(&server).await;
    let b = demo(&server).await;
    assert_ne!(a.tenant, b.tenant);
    let sent = send_shop(&server, &a.ingest_key, 11, 2).await;
    let a_trace = &trace_ids(&sent)[0];

    for flushed in [false, true] {
        let (status, _) = api(
            &server,
            "GET",
            &format!("/api/v1/traces/{a_trace}"),
            Some(&b.read_key),
            "",
        )
        .await;
        assert_eq!(status, 404, "flushed={flushed}");
        let (status, found) = api(
            &server,
            "GET",
            "/api/v1/traces?limit=1000",
            Some(&b.read_key),
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            found["traces"].as_array().unwrap().len(),
            0,
            "flushed={flushed}"
        );
        let (_, logs) = api(&server, "GET", "/api/v1/logs", Some(&b.read_key), "").await;
        assert_eq!(logs["logs"].as_array().unwrap().len(), 0);
        let (status, services) =
            api(&server, "GET", "/api/v1/services", Some(&b.read_key), "").await;
        assert_eq!(status, 200);
        assert_eq!(services["services"].as_array().unwrap().len(), 0);
        for sql in [
            "SELECT count(*) AS n FROM spans",
            "SELECT count(*) AS n FROM logs",
            "SELECT count(*) AS n FROM metrics",
        ] {
            let (status, r) = api(
                &server,
                "POST",
                "/api/v1/sql",
                Some(&b.read_key),
                &format!("{{\"query\": \"{sql}\"}}"),
            )
            .await;
            assert_eq!(status, 200, "{r}");
            assert_eq!(r["rows"][0][0], 0, "{sql}, flushed={flushed}: {r}");
        }
        // A's own key sees its data.
        let (status, _) = api(
            &server,
            "GET",
            &format!("/api/v1/traces/{a_trace}"),
            Some(&a.read_key),
            "",
        )
        .await;
        assert_eq!(status, 200);
        server.flush().await.unwrap();
    }

    // Names of files and tables of another tenant are not reachable from SQL.
    for sql in [
        "SELECT * FROM read_parquet('local/x.parquet')",
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/'",
        "DROP TABLE spans",
        "SELECT 1; SELECT 2",
    ] {
        let body = serde_json::json!({ "query": sql }).to_string();
        let (status, r) = api(&server, "POST", "/api/v1/sql", Some(&b.read_key), &body).await;
        assert_eq!(status, 400, "{sql}: {r}");
    }

    // Keys: none, malformed, wrong scope.
    let (status, _) = api(&server, "GET", "/api/v1/services", None, "").await;
    assert_eq!(status, 401);
    let (status, _) = api(
        &server,
        "GET",
        "/api/v1/services",
        Some("scrim_nope_nope"),
        "",
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = api(&server, "GET", "/api/v1/services", Some(&a.ingest_key), "").await;
    assert_eq!(status, 403);
    // A read key cannot ingest.
    let e = exporter(&server, &a.read_key);
    let mut g = Generator::new(1);
    let batch = g.tick(1, SystemTime::now(), false).remove(0);
    assert!(matches!(
        e.export(&batch).await,
        ExportOutcome::Rejected { .. }
    ));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let (status, doc) = api(&server, "GET", "/api/v1/openapi.json", None, "").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/traces/{trace_id}"].is_object());
    server.shutdown().await;
}

/// Span segment files under the data directory, by hour directory.
fn span_segment_files(dir: &Path) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.join("segments")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet")
                && path.to_string_lossy().contains("/spans/")
            {
                let hour = path.parent().unwrap().to_string_lossy().into_owned();
                *out.entry(hour).or_insert(0) += 1;
            }
        }
    }
    out
}

async fn span_count(server: &Server, key: &str) -> u64 {
    let (status, rows) = api(
        server,
        "POST",
        "/api/v1/sql",
        Some(key),
        r#"{"query": "SELECT count(*) AS n FROM spans"}"#,
    )
    .await;
    assert_eq!(status, 200, "{rows}");
    rows["rows"][0][0].as_u64().unwrap()
}

async fn trace_span_count(server: &Server, key: &str, id: &str) -> usize {
    let (status, trace) = api(
        server,
        "GET",
        &format!("/api/v1/traces/{id}"),
        Some(key),
        "",
    )
    .await;
    assert_eq!(status, 200, "{id}: {trace}");
    spans_in(&trace)
}

/// Spans in an OTLP/JSON trace (`resourceSpans` ▸ `scopeSpans` ▸ `spans`).
fn spans_in(trace: &Value) -> usize {
    trace["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().unwrap())
        .map(|ss| ss["spans"].as_array().unwrap().len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_segments_are_compacted_and_every_trace_is_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::loopback_ephemeral(PlatformConfig::in_dir(dir.path()));
    config.flush_interval = Duration::from_secs(3600);
    config.flush_rows = usize::MAX;
    config.compaction.interval = Duration::from_secs(3600);
    config.compaction.settle = Duration::ZERO;
    config.compaction.grace = Duration::ZERO;
    let server = Server::start(config).await.expect("server starts");
    let t = demo(&server).await;
    let mut sent = Vec::new();
    for round in 0..4 {
        sent.extend(send_shop(&server, &t.ingest_key, 100 + round, 1).await);
        server.flush().await.unwrap();
    }
    let ids = trace_ids(&sent);
    let before = span_segment_files(dir.path());
    assert!(before.values().sum::<usize>() >= 4, "{before:?}");
    let spans_before = span_count(&server, &t.read_key).await;
    let mut per_trace = Vec::new();
    for id in ids.iter().step_by(ids.len() / 10 + 1) {
        per_trace.push((id.clone(), trace_span_count(&server, &t.read_key, id).await));
    }

    let merged = server.compact().await.unwrap();
    assert!(merged >= 1, "nothing was merged");
    let after = span_segment_files(dir.path());
    // One span segment per hour directory is left, and the replaced files are gone.
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert!(after.values().all(|&n| n == 1), "{after:?}");
    assert_eq!(span_count(&server, &t.read_key).await, spans_before);
    for (id, n) in &per_trace {
        assert_eq!(trace_span_count(&server, &t.read_key, id).await, *n, "{id}");
    }
    // Nothing left to merge.
    assert_eq!(server.compact().await.unwrap(), 0);
    let (status, _) = api(
        &server,
        "GET",
        &format!("/api/v1/traces/{}", "0".repeat(32)),
        Some(&t.read_key),
        "",
    )
    .await;
    assert_eq!(status, 404);
    assert_no_secret_on_disk(dir.path());
    server.shutdown().await;
}

async fn traces_with_attr(server: &Server, key: &str, query: &str) -> usize {
    let (status, found) = api(
        server,
        "GET",
        &format!("/api/v1/traces?{query}&limit=1000"),
        Some(key),
        "",
    )
    .await;
    assert_eq!(status, 200, "{found}");
    found["traces"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_gets_its_own_capture_policy_and_changes_apply_live() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let plain = demo(&server).await;
    // A second tenant whose policy drops the request method.
    let strict = demo(&server).await;
    let deny = "[attributes]\ndeny = [\"http.request.method\"]\n";
    admin::set_capture_policy(
        server.platform(),
        &scrim_server::accounts::Act::operator("-"),
        &strict.tenant,
        Some(deny),
    )
    .await
    .unwrap();
    let by_method = "attr.http.request.method=GET";

    send_shop(&server, &plain.ingest_key, 11, 1).await;
    send_shop(&server, &strict.ingest_key, 11, 1).await;
    assert!(traces_with_attr(&server, &plain.read_key, by_method).await > 0);
    assert_eq!(
        traces_with_attr(&server, &strict.read_key, by_method).await,
        0,
        "the strict tenant's policy dropped the attribute before it was written"
    );

    // Back to the server's policy: applied on the next refresh, to new data only.
    admin::set_capture_policy(
        server.platform(),
        &scrim_server::accounts::Act::operator("-"),
        &strict.tenant,
        None,
    )
    .await
    .unwrap();
    assert_eq!(server.refresh_policies().await.unwrap(), 1);
    assert_eq!(
        server.refresh_policies().await.unwrap(),
        0,
        "nothing changed since"
    );
    send_shop(&server, &strict.ingest_key, 12, 1).await;
    assert!(traces_with_attr(&server, &strict.read_key, by_method).await > 0);

    // A policy that does not parse is refused with the parser's message; nothing changes.
    let err = admin::set_capture_policy(
        server.platform(),
        &scrim_server::accounts::Act::operator("-"),
        &strict.tenant,
        Some("[sql]\ncapture = \"rawx\"\n"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("sql.capture"), "{err}");
    assert_eq!(server.refresh_policies().await.unwrap(), 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_ingest_rate_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::loopback_ephemeral(PlatformConfig::in_dir(dir.path()));
    config.flush_interval = Duration::from_secs(3600);
    config.ingest_items_per_second = Some(10);
    let server = Server::start(config).await.expect("server starts");
    let t = demo(&server).await;
    let other = demo(&server).await;
    let mut g = Generator::new(5);
    let traces = g
        .tick(20, SystemTime::now(), true)
        .into_iter()
        .find(|b| matches!(b, Batch::Traces(_)) && b.item_count() > 20)
        .expect("a traces batch of more than 20 spans");
    let post = |key: String| {
        let body = traces.encode_to_vec();
        let url = format!("http://{}/v1/traces", server.otlp_http_addr().unwrap());
        async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            let req = Request::builder()
                .method("POST")
                .uri(url)
                .header("content-type", "application/x-protobuf")
                .header("authorization", format!("Bearer {key}"))
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            client.request(req).await.unwrap()
        }
    };
    // A full bucket lets one request through even when it is larger than the bucket.
    assert_eq!(post(t.ingest_key.clone()).await.status().as_u16(), 200);
    let refused = post(t.ingest_key.clone()).await;
    assert_eq!(refused.status().as_u16(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "{wait}");
    // Another tenant has its own budget.
    assert_eq!(post(other.ingest_key.clone()).await.status().as_u16(), 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_is_counted_per_key_and_hour_in_the_audit_log_not_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let t = demo(&server).await;
    let sent = send_shop(&server, &t.ingest_key, 21, 2).await;
    let tenant = server
        .platform()
        .meta()
        .tenant_by_name(&t.tenant)
        .await
        .unwrap()
        .unwrap();
    let before = server
        .platform()
        .meta()
        .audit_chain(tenant.id.as_str(), 0, 10_000)
        .await
        .unwrap()
        .len();
    server.shutdown().await;

    let platform = scrim_server::Platform::open(&PlatformConfig::in_dir(dir.path()))
        .await
        .unwrap();
    let rows = platform
        .meta()
        .audit_chain(tenant.id.as_str(), 0, 10_000)
        .await
        .unwrap();
    let hourly: Vec<scrim_audit::AuditRecord> = rows
        .iter()
        .map(|r| scrim_server::audit::record_of(r).unwrap())
        .filter(|r| r.action == scrim_server::audit::actions::INGEST_HOURLY)
        .collect();
    // The key's first use from this address, then one record for the hour (two if the
    // test straddled an hour), written at shutdown since the hour had not ended.
    assert!((1..=2).contains(&hourly.len()), "{hourly:#?}");
    assert!(rows.len() <= before + 2, "no record per request");
    let mut requests = [0u64; 3];
    let mut items = [0u64; 3];
    for b in &sent {
        let i = match b.signal() {
            scrim_otlp::Signal::Traces => 0,
            scrim_otlp::Signal::Logs => 1,
            scrim_otlp::Signal::Metrics => 2,
        };
        requests[i] += 1;
        items[i] += b.item_count();
    }
    for (i, signal) in ["traces", "logs", "metrics"].into_iter().enumerate() {
        let sum = |field: &str| -> u64 {
            hourly
                .iter()
                .map(|r| r.details[field][signal].as_u64().unwrap_or(0))
                .sum()
        };
        assert_eq!(sum("requests"), requests[i], "{signal}");
        assert_eq!(sum("items"), items[i], "{signal}");
    }
    let r = &hourly[0];
    assert_eq!(r.details["partial"], true);
    assert_eq!(r.target.as_deref(), r.actor.id());
    assert!(r.actor.kind() == "api_key");
}
