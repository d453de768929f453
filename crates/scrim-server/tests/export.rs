//! `GET /api/v1/export` in-process: the demo shop's telemetry exported in every format, an
//! OTLP/JSON export parsed by the official Python protobuf definitions and sent back into a
//! fresh tenant with the same spans, who may export, the audit record written once per
//! export before any data and never holding the key, and no planted secret in any export.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::{Backend, Cred, Site, pg_s3, start_with, world};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::encryption::decrypt::FileDecryptionProperties;
use scrim_auth::rbac::Role;
use scrim_demo::planted_secrets;
use scrim_server::accounts::Act;
use scrim_server::admin::{self, DemoTenant};
use scrim_server::audit::read::{AuditFilter, query};
use scrim_server::{Server, ServerConfig};
use scrim_store::Signal;
use scrim_store::export::{Encoder, Format};
use serde_json::{Value, json};

/// 64 hex digits: the key of the encrypted exports.
const KEY_HEX: &str = "8f1c0e5a7b3d29f46a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5";

async fn start(dir: &Path) -> Server {
    start_with(dir, settings).await
}

/// Only explicit flushes: the test decides what is in segments and what is buffered.
fn settings(config: &mut ServerConfig) {
    config.flush_interval = Duration::from_secs(3600);
    config.flush_rows = usize::MAX;
}

/// Sends the demo shop's traffic (traces, logs, metrics) for `ticks` simulated seconds.
async fn send_shop(server: &Server, key: &str, seed: u64, ticks: u64) {
    let start = SystemTime::now() - Duration::from_secs(60);
    common::send_shop_at(server, key, seed, ticks, start).await;
}

struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn request(
    url: String,
    method: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

/// `GET /api/v1/export?{query}` with `key`, and `extra` headers.
async fn export(server: &Server, key: &str, query: &str, extra: &[(&str, &str)]) -> Answer {
    let auth = format!("Bearer {key}");
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    request(
        format!("http://{}/api/v1/export?{query}", server.http_addr()),
        "GET",
        &headers,
        Bytes::new(),
    )
    .await
}

async fn sql(server: &Server, key: &str, statement: &str) -> Value {
    let a = request(
        format!("http://{}/api/v1/sql", server.http_addr()),
        "POST",
        &[("authorization", &format!("Bearer {key}"))],
        json!({ "query": statement }).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{statement}: {}", a.text());
    a.json()
}

async fn count(server: &Server, key: &str, table: &str) -> u64 {
    sql(server, key, &format!("SELECT count(*) AS n FROM {table}")).await["rows"][0][0]
        .as_u64()
        .unwrap()
}

/// A key of `tenant` with `scopes`, made as the operator.
async fn key(server: &Server, tenant: &str, scopes: &str) -> String {
    let (_, key) = admin::create_api_key(
        server.platform(),
        &Act::operator("-"),
        tenant,
        scopes.parse().unwrap(),
        Default::default(),
    )
    .await
    .unwrap();
    key.expose()
}

fn assert_no_secret(what: &str, bytes: &[u8]) {
    for secret in planted_secrets() {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{what} holds the planted {secret:?}"
        );
    }
}

/// Spans (the sum over every OTLP request line) and the lines.
fn otlp_spans(text: &str) -> (u64, usize) {
    let mut spans = 0;
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        let v: Value = serde_json::from_str(line).unwrap();
        for rs in v["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                spans += ss["spans"].as_array().unwrap().len() as u64;
            }
        }
    }
    (spans, lines)
}

/// The rows of a Parquet file, and the file as JSON lines (for the secret check).
fn parquet_rows(data: Bytes, key: Option<&[u8]>, signal: Signal) -> (u64, Vec<u8>) {
    let mut options = ArrowReaderOptions::new();
    if let Some(k) = key {
        options = options.with_file_decryption_properties(
            FileDecryptionProperties::builder(k.to_vec())
                .build()
                .unwrap(),
        );
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(data, options)
        .unwrap()
        .build()
        .unwrap();
    let mut encoder = Encoder::new(signal, Format::JsonLines, None).unwrap();
    let mut json = Vec::new();
    for b in reader {
        json.extend(encoder.encode(&b.unwrap()).unwrap());
    }
    (encoder.rows(), json)
}

/// The `telemetry.export` records of `tenant`, oldest first.
async fn export_records(server: &Server, tenant: &str) -> Vec<Value> {
    let id = server
        .platform()
        .meta()
        .tenant_by_name(tenant)
        .await
        .unwrap()
        .unwrap()
        .id;
    let filter = AuditFilter {
        action: Some("telemetry.export".into()),
        ..Default::default()
    };
    let mut records: Vec<Value> = query(server.platform().meta(), id.as_str(), &filter, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    records.reverse();
    records
}

/// The demo tenant with the shop's traffic: half flushed to segments, half still buffered.
async fn shop(server: &Server) -> DemoTenant {
    let t = admin::demo_tenant(server.platform()).await.unwrap();
    send_shop(server, &t.ingest_key, 3, 2).await;
    server.flush().await.unwrap();
    send_shop(server, &t.ingest_key, 4, 2).await;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_json_export_parses_with_the_official_definitions_and_reingests_whole() {
    otlp_json_round_trip(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_json_export_reingests_whole_on_postgres_and_s3() {
    if let Some(backend) = pg_s3() {
        otlp_json_round_trip(backend).await;
    }
}

async fn otlp_json_round_trip(backend: Backend) {
    let site = Site::new(&backend, "export");
    let dir = &site.dir;
    let server = site.start(settings).await;
    let t = shop(&server).await;
    let export_key = key(&server, &t.tenant, "export").await;
    let spans = count(&server, &t.read_key, "spans").await;
    assert!(spans >= 200, "{spans} spans");

    let a = export(&server, &export_key, "signal=traces&format=otlp-json", &[]).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.headers["content-type"], "application/x-ndjson");
    assert_eq!(
        a.headers["content-disposition"],
        "attachment; filename=\"traces.otlp.jsonl\""
    );
    assert_no_secret("the OTLP/JSON export", &a.body);
    let (exported, lines) = otlp_spans(a.text());
    assert_eq!(exported, spans, "every span, flushed and buffered");

    // (a) The official protobuf definitions, through google.protobuf.json_format.
    if scrim_testkit::python_package_available(
        "otlp_json_export_parses_with_the_official_definitions",
        &scrim_testkit::OTEL_PROTO,
    ) {
        let file = dir.path().join("traces.otlp.jsonl");
        std::fs::write(&file, &a.body).unwrap();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/parse_otlp_json.py"
        );
        let out = std::process::Command::new(scrim_testkit::python())
            .arg(script)
            .arg("traces")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "parse_otlp_json.py: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(parsed["lines"], lines as u64);
        assert_eq!(parsed["items"], spans, "{parsed}");
        let traces = sql(
            &server,
            &t.read_key,
            "SELECT count(DISTINCT trace_id) FROM spans",
        )
        .await["rows"][0][0]
            .as_u64()
            .unwrap();
        assert_eq!(parsed["trace_ids"], traces);
        eprintln!("python json_format parsed {parsed}");
    }

    // (b) Each line POSTed as is to OTLP/HTTP (JSON) of a fresh tenant.
    admin::create_tenant(
        server.platform(),
        &Act::operator("-"),
        "fresh",
        &Default::default(),
    )
    .await
    .unwrap();
    let (ingest, read) = (
        key(&server, "fresh", "ingest").await,
        key(&server, "fresh", "read").await,
    );
    let otlp = format!("http://{}/v1/traces", server.otlp_http_addr().unwrap());
    for line in a.text().lines() {
        let r = request(
            otlp.clone(),
            "POST",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {ingest}")),
            ],
            line.to_owned(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    server.flush().await.unwrap();
    assert_eq!(count(&server, &read, "spans").await, spans);
    let ids = "SELECT trace_id, span_id, parent_span_id, name, service_name, start_time, \
               end_time, status_code FROM spans ORDER BY trace_id, span_id";
    assert_eq!(
        sql(&server, &read, ids).await["rows"],
        sql(&server, &t.read_key, ids).await["rows"],
        "the same spans, ids, names, services, times and statuses"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_holds_every_row_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let t = shop(&server).await;
    let k = key(&server, &t.tenant, "export").await;
    let spans = count(&server, &t.read_key, "spans").await;
    let logs = count(&server, &t.read_key, "logs").await;
    let metrics = count(&server, &t.read_key, "metrics").await;
    assert!(logs > 0 && metrics > 0);
    let mut exports = 0;

    for (signal, name, rows) in [
        (Signal::Spans, "traces", spans),
        (Signal::Logs, "logs", logs),
        (Signal::Metrics, "metrics", metrics),
    ] {
        let a = export(&server, &k, &format!("signal={name}&format=jsonl"), &[]).await;
        exports += 1;
        assert_eq!(a.status, 200, "{}", a.text());
        assert_no_secret(&format!("{name} jsonl"), &a.body);
        assert_eq!(a.text().lines().count() as u64, rows, "{name} jsonl");
        for line in a.text().lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                row.as_object().unwrap().len(),
                signal.schema().fields().len()
            );
        }

        let a = export(&server, &k, &format!("signal={name}&format=csv"), &[]).await;
        exports += 1;
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.headers["content-type"], "text/csv; charset=utf-8");
        assert_eq!(
            a.headers["content-disposition"],
            format!("attachment; filename=\"{name}.csv\"")
        );
        assert_no_secret(&format!("{name} csv"), &a.body);
        let header = a.text().split("\r\n").next().unwrap();
        assert!(
            header.starts_with(signal.schema().field(0).name()),
            "{header}"
        );
        assert_eq!(
            csv_records(a.text()),
            rows + 1,
            "{name} csv: header and rows"
        );

        let a = export(&server, &k, &format!("signal={name}&format=parquet"), &[]).await;
        exports += 1;
        assert_eq!(a.status, 200);
        assert_eq!(a.headers["content-type"], "application/vnd.apache.parquet");
        let (n, json) = parquet_rows(a.body.clone(), None, signal);
        assert_eq!(n, rows, "{name} parquet");
        assert_no_secret(&format!("{name} parquet"), &json);
    }

    let a = export(&server, &k, "signal=logs&format=otlp-json", &[]).await;
    exports += 1;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_no_secret("logs otlp-json", &a.body);
    let mut exported = 0;
    for line in a.text().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        for rl in v["resourceLogs"].as_array().unwrap() {
            for sl in rl["scopeLogs"].as_array().unwrap() {
                exported += sl["logRecords"].as_array().unwrap().len() as u64;
            }
        }
    }
    assert_eq!(exported, logs);
    if scrim_testkit::python_package_available(
        "every_format_holds_every_row (OTLP/JSON logs)",
        &scrim_testkit::OTEL_PROTO,
    ) {
        let file = dir.path().join("logs.otlp.jsonl");
        std::fs::write(&file, &a.body).unwrap();
        let out = std::process::Command::new(scrim_testkit::python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/parse_otlp_json.py"
            ))
            .arg("logs")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(parsed["items"], logs, "{parsed}");
    }

    // Filters as in search: one service's spans, a time window that holds nothing.
    let checkout = count_where(&server, &t.read_key, "spans", "service_name = 'checkout'").await;
    assert!(checkout > 0);
    let a = export(
        &server,
        &k,
        "signal=traces&format=jsonl&service=checkout",
        &[],
    )
    .await;
    exports += 1;
    assert_eq!(a.text().lines().count() as u64, checkout);
    let a = export(
        &server,
        &k,
        "signal=traces&format=jsonl&start=2001-01-01T00:00:00Z&end=2001-01-02T00:00:00Z",
        &[],
    )
    .await;
    exports += 1;
    assert_eq!(a.status, 200);
    assert!(a.body.is_empty());

    // Encrypted Parquet: unreadable without the key, every row with it.
    let a = export(
        &server,
        &k,
        "signal=traces&format=parquet",
        &[("x-scrim-export-key", KEY_HEX)],
    )
    .await;
    exports += 1;
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(ParquetRecordBatchReaderBuilder::try_new(a.body.clone()).is_err());
    let wrong = ParquetRecordBatchReaderBuilder::try_new_with_options(
        a.body.clone(),
        ArrowReaderOptions::new().with_file_decryption_properties(
            FileDecryptionProperties::builder(vec![7; 32])
                .build()
                .unwrap(),
        ),
    );
    assert!(wrong.is_err(), "opened with another key");
    for name in ["checkout", "frontend", "payments"] {
        assert!(
            !a.body.windows(name.len()).any(|w| w == name.as_bytes()),
            "{name} in the clear"
        );
    }
    let key_bytes = scrim_store::convert::unhex(KEY_HEX).unwrap();
    let (n, json) = parquet_rows(a.body.clone(), Some(&key_bytes), Signal::Spans);
    assert_eq!(n, spans);
    assert_no_secret("encrypted parquet", &json);

    // Exactly one record per export, written with its format; never the key.
    let records = export_records(&server, &t.tenant).await;
    assert_eq!(records.len(), exports, "{records:#?}");
    let encrypted: Vec<&Value> = records
        .iter()
        .filter(|r| r["details"]["encrypted"] == true)
        .collect();
    assert_eq!(encrypted.len(), 1);
    assert_eq!(encrypted[0]["details"]["format"], "parquet");
    assert_eq!(encrypted[0]["target"], "traces");
    assert_eq!(records[0]["details"]["format"], "jsonl");
    assert_eq!(records[0]["outcome"]["status"], "success");
    assert_eq!(records[0]["actor"]["kind"], "api_key");
    let filtered = records
        .iter()
        .find(|r| r["details"]["filter"]["service"] == "checkout")
        .expect("the filter is recorded");
    assert_eq!(filtered["details"]["signal"], "traces");
    let mut chain = Vec::new();
    let id = server
        .platform()
        .meta()
        .tenant_by_name(&t.tenant)
        .await
        .unwrap()
        .unwrap()
        .id;
    scrim_server::audit::read::export(
        server.platform().meta(),
        id.as_str(),
        &AuditFilter::default(),
        scrim_server::audit::read::ExportFormat::JsonLines,
        &mut chain,
    )
    .await
    .unwrap();
    let chain = String::from_utf8(chain).unwrap();
    for form in [
        KEY_HEX.to_owned(),
        KEY_HEX.to_uppercase(),
        KEY_HEX[..16].to_owned(),
    ] {
        assert!(!chain.contains(&form), "the key is in the audit log");
    }
    server.shutdown().await;
}

async fn count_where(server: &Server, key: &str, table: &str, condition: &str) -> u64 {
    sql(
        server,
        key,
        &format!("SELECT count(*) FROM {table} WHERE {condition}"),
    )
    .await["rows"][0][0]
        .as_u64()
        .unwrap()
}

/// Records of an RFC 4180 text (a quoted field may hold a line break).
fn csv_records(text: &str) -> u64 {
    let (mut records, mut quoted) = (0, false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' if !quoted => records += 1,
            _ => {}
        }
    }
    assert!(!quoted && text.ends_with("\r\n"));
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_anything_is_recorded_or_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let t = admin::demo_tenant(server.platform()).await.unwrap();
    let k = key(&server, &t.tenant, "export").await;
    for (query, extra, why) in [
        ("format=jsonl", None, "signal is required"),
        ("signal=traces", None, "format is required"),
        ("signal=spans&format=xlsx", None, "format is"),
        (
            "signal=traces&format=csv&severity=warn",
            None,
            "applies to logs",
        ),
        ("signal=metrics&format=otlp-json", None, "OTLP/JSON"),
        (
            "signal=traces&format=jsonl&bogus=1",
            None,
            "unknown parameter",
        ),
        (
            "signal=traces&format=jsonl&start=yesterday",
            None,
            "RFC 3339",
        ),
        (
            "signal=traces&format=csv",
            Some(KEY_HEX),
            "Parquet exports only",
        ),
        (
            "signal=traces&format=parquet",
            Some("abc"),
            "64 hexadecimal",
        ),
    ] {
        let extra: Vec<(&str, &str)> = extra
            .map(|v| ("x-scrim-export-key", v))
            .into_iter()
            .collect();
        let a = export(&server, &k, query, &extra).await;
        assert_eq!(a.status, 400, "{query}: {}", a.text());
        let error = a.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(why), "{query}: {error}");
        assert!(!error.contains(&KEY_HEX[..8]), "{error}");
    }
    assert!(export_records(&server, &t.tenant).await.is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_export_permission_exports() {
    let w = world().await;
    let s = &w.server;
    let path = "/api/v1/export?signal=traces&format=jsonl";
    for (role, _, cred) in &w.people {
        let a = common::call(s, "GET", path, cred, None).await;
        let allowed = matches!(role, Role::Owner | Role::Admin | Role::Member);
        assert_eq!(role.grants(scrim_auth::Permission::Export), allowed);
        assert_eq!(
            a.status,
            if allowed { 200 } else { 403 },
            "role {role}: {}",
            a.body
        );
    }
    for (scope, cred) in &w.keys {
        let a = common::call(s, "GET", path, cred, None).await;
        let allowed = *scope == scrim_auth::Scope::Export;
        assert_eq!(
            a.status,
            if allowed { 200 } else { 403 },
            "scope {scope}: {}",
            a.body
        );
    }
    let a = common::call(s, "GET", path, &Cred::None, None).await;
    assert_eq!(a.status, 401);
    // The refusals are recorded as such; the exports (three roles and one key) as exports.
    let records = query(
        s.platform().meta(),
        w.tenant.as_str(),
        &AuditFilter {
            action: Some("telemetry.export".into()),
            ..Default::default()
        },
        1000,
    )
    .await
    .unwrap();
    assert_eq!(records.len(), 4);
}

/// Opens the SQLite metadata database beside the server, as someone with file access would.
async fn raw_db(dir: &Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}", dir.join(scrim_meta::SQLITE_FILE).display());
    sqlx::SqlitePool::connect(&url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_audit_record_no_export() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let t = shop(&server).await;
    let k = key(&server, &t.tenant, "export").await;
    // A key's first use from an address is recorded too: done before the store fails.
    let a = export(&server, &k, "signal=logs&format=jsonl", &[]).await;
    assert_eq!(a.status, 200);
    let db = raw_db(dir.path()).await;
    sqlx::query(
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_records \
         BEGIN SELECT RAISE(ABORT, 'audit store down'); END",
    )
    .execute(&db)
    .await
    .unwrap();
    let a = export(&server, &k, "signal=traces&format=otlp-json", &[]).await;
    assert_eq!(a.status, 503, "{}", a.text());
    assert!(!a.text().contains("resourceSpans"));
    assert_eq!(a.headers["retry-after"], "5");
    sqlx::query("DROP TRIGGER audit_down")
        .execute(&db)
        .await
        .unwrap();
    let a = export(&server, &k, "signal=traces&format=otlp-json", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(export_records(&server, &t.tenant).await.len(), 2);
    server.shutdown().await;
}
