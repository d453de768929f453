//! Two `scrim serve` processes sharing a real PostgreSQL (catalog, tenants, keys) and a real
//! S3-compatible store (Garage): data ingested through one is queryable from the other once
//! the first has flushed.
//!
//! Needs `SCRIM_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`; `psql`
//! on PATH creates and drops a schema of its own) and `SCRIM_TEST_S3_URL` with
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (what `scripts/garage-up.sh` prints).
//! `.ci/run` provides both; without them the test prints why it is skipped and passes.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{ScrimProcess, ServeAddrs, hex, http, parse_serve_ready, scrim_ok_env};
use scrim_otlp::{Batch, Credential, ExportOutcome, Exporter, ExporterConfig, Protocol};

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Drops the test's schema, even when the test fails.
struct Schema<'a>(&'a str, String);

impl Drop for Schema<'_> {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.0,
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.1),
            ])
            .output();
    }
}

fn start(
    dir: &Path,
    config: &Path,
    db: &str,
    master: &str,
) -> (ScrimProcess<ServeAddrs>, ServeAddrs) {
    let args: Vec<String> = [
        "serve",
        "--data-dir",
        &dir.display().to_string(),
        "--database-url",
        db,
        "--config",
        &config.display().to_string(),
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
    let p = ScrimProcess::spawn_with_env(&args, &[("SCRIM_MASTER_KEY", master)], parse_serve_ready);
    let addrs = p.wait_ready();
    (p, addrs)
}

#[test]
fn two_servers_share_postgresql_and_s3() {
    let (Ok(pg), Ok(s3)) = (
        std::env::var("SCRIM_TEST_POSTGRES_URL"),
        std::env::var("SCRIM_TEST_S3_URL"),
    ) else {
        eprintln!(
            "SKIPPED scale_out: set SCRIM_TEST_POSTGRES_URL and SCRIM_TEST_S3_URL (with \
             AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), e.g. eval \"$(scripts/garage-up.sh)\"; \
             .ci/run does"
        );
        return;
    };
    let suffix = format!("{:016x}", fastrand::u64(..));
    let schema = Schema(&pg, format!("scrim_scale_{suffix}"));
    psql(&pg, &format!("CREATE SCHEMA {}", schema.1));
    let sep = if pg.contains('?') { '&' } else { '?' };
    let db = format!("{pg}{sep}options[search_path]={}", schema.1);
    let master: String = (0..32)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect();

    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("serve.toml");
    // Each run writes under its own prefix-free bucket path; the region keeps runs apart.
    std::fs::write(
        &config,
        format!("object_store = \"{s3}\"\nregion = \"r{suffix}\"\nflush_interval_seconds = 3600\n"),
    )
    .unwrap();
    let (a_dir, b_dir) = (root.path().join("a"), root.path().join("b"));
    let env = [("SCRIM_MASTER_KEY", master.as_str())];
    let a = a_dir.display().to_string();
    scrim_ok_env(
        &[
            "tenant",
            "create",
            "shared",
            // The config's one region (`r{suffix}`) becomes the tenant's.
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            &a,
            "--database-url",
            &db,
        ],
        &env,
    );
    let key = |scopes: &str| {
        scrim_ok_env(
            &[
                "apikey",
                "create",
                "--tenant",
                "shared",
                "--scopes",
                scopes,
                "--data-dir",
                &a,
                "--database-url",
                &db,
            ],
            &env,
        )
        .lines()
        .last()
        .unwrap()
        .to_string()
    };
    let (ingest, read) = (key("ingest"), key("read"));

    let (node_a, a_addrs) = start(&a_dir, &config, &db, &master);
    let (node_b, b_addrs) = start(&b_dir, &config, &db, &master);

    // Ingest through A.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = ExporterConfig::new(format!("http://{}", a_addrs.http), Protocol::HttpProtobuf);
    c.allow_http = true;
    c.headers.push((
        "authorization".into(),
        Credential::new(format!("Bearer {ingest}")),
    ));
    let mut g = scrim_demo::Generator::new(42);
    let mut ids = Vec::new();
    runtime.block_on(async {
        let e = Exporter::new(c).unwrap();
        for _ in 0..5 {
            let req = g.next_traces(4, SystemTime::now() - Duration::from_secs(30));
            for rs in &req.resource_spans {
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        ids.push(hex(&s.trace_id));
                    }
                }
            }
            let outcome = e.export(&Batch::Traces(req)).await;
            assert!(
                matches!(outcome, ExportOutcome::Delivered { .. }),
                "{outcome:?}"
            );
        }
    });
    ids.sort();
    ids.dedup();

    // Before A flushes, B does not have the data (it is in A's WAL and buffer only).
    let (status, _) = http(
        b_addrs.api,
        "GET",
        &format!("/api/v1/traces/{}", ids[0]),
        Some(&read),
        "",
    );
    assert_eq!(status, 404, "B cannot see A's unflushed buffer");

    // A stops cleanly: it flushes to S3 and catalogs in PostgreSQL.
    let (status, log) = node_a.terminate();
    assert!(status.success(), "{log}");
    for id in &ids {
        let (status, body) = http(
            b_addrs.api,
            "GET",
            &format!("/api/v1/traces/{id}"),
            Some(&read),
            "",
        );
        assert_eq!(
            status,
            200,
            "trace {id} not readable from B: {body}\n{}",
            node_b.log()
        );
    }
    let (status, body) = http(
        b_addrs.api,
        "POST",
        "/api/v1/sql",
        Some(&read),
        r#"{"query": "SELECT count(DISTINCT trace_id) AS n FROM spans"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["rows"][0][0], ids.len(), "{body}");
    drop(schema);
}
