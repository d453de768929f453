//! The tenant-bound query layer over several hundred generated spans in two tenants.

use std::time::Duration;

use scrim_store::convert::{hex, logs_to_batch, spans_to_batch};
use scrim_store::generate::{TraceGen, root_duration_ns, trace_id};
use scrim_store::query::{BufferedBatches, LogFilter, SqlLimits, TimeRange, TraceFilter};
use scrim_store::{DataKey, SegmentMeta, SegmentStore, Signal, StoreError, TenantQuery};

const HOUR0: u64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00Z
const SEC: u64 = 1_000_000_000;

/// Tenant A: 300 traces (4 spans each) over 300 s in three segments, 20 more traces only in
/// the buffer. Tenant B: 100 traces of its own service in the same store and hour.
struct World {
    _dir: tempfile::TempDir,
    store: SegmentStore,
    a_segments: Vec<SegmentMeta>,
    b_segments: Vec<SegmentMeta>,
    a_gen: TraceGen,
    b_gen: TraceGen,
    a_buffer: BufferedBatches,
}

fn key_a() -> DataKey {
    DataKey::new("a1", [0x11; 32])
}

fn key_b() -> DataKey {
    DataKey::new("b1", [0x22; 32])
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let a_gen = TraceGen {
        traces: 320,
        services: vec!["checkout".into(), "catalog".into()],
        seed: 1,
        ..Default::default()
    };
    let b_gen = TraceGen {
        traces: 100,
        services: vec!["bravo-secret-svc".into()],
        seed: 2,
        ..Default::default()
    };
    let mut a_segments = Vec::new();
    for chunk in [0..100, 100..200, 200..300] {
        let spans = spans_to_batch(&a_gen.traces(chunk.clone())).unwrap();
        let logs = logs_to_batch(&a_gen.logs(chunk)).unwrap();
        for (sig, b) in [(Signal::Spans, spans), (Signal::Logs, logs)] {
            a_segments.push(
                store
                    .write_segment("acme", &key_a(), sig, &[b])
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
    }
    let mut b_segments = Vec::new();
    for (sig, b) in [
        (
            Signal::Spans,
            spans_to_batch(&b_gen.traces(0..100)).unwrap(),
        ),
        (Signal::Logs, logs_to_batch(&b_gen.logs(0..100)).unwrap()),
    ] {
        b_segments.push(
            store
                .write_segment("bravo", &key_b(), sig, &[b])
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let a_buffer = BufferedBatches {
        spans: vec![spans_to_batch(&a_gen.traces(300..320)).unwrap()],
        logs: vec![logs_to_batch(&a_gen.logs(300..320)).unwrap()],
        metrics: vec![],
    };
    World {
        _dir: dir,
        store,
        a_segments,
        b_segments,
        a_gen,
        b_gen,
        a_buffer,
    }
}

impl World {
    fn a(&self) -> TenantQuery {
        TenantQuery::new(
            "acme",
            key_a(),
            &self.store,
            self.a_segments.clone(),
            self.a_buffer.clone(),
        )
        .unwrap()
    }

    fn b(&self) -> TenantQuery {
        TenantQuery::new(
            "bravo",
            key_b(),
            &self.store,
            self.b_segments.clone(),
            BufferedBatches::default(),
        )
        .unwrap()
    }
}

fn whole_window() -> TimeRange {
    TimeRange::new(HOUR0 as i64, (HOUR0 + 3600 * SEC) as i64)
}

fn span_count(json: &serde_json::Value) -> usize {
    json["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["scopeSpans"].as_array().unwrap())
        .map(|s| s["spans"].as_array().unwrap().len())
        .sum()
}

#[tokio::test]
async fn trace_by_id_returns_the_whole_trace_from_segments_and_buffer() {
    let w = world().await;
    let q = w.a();
    let id = hex(&trace_id(1, 42));
    let t = q.trace(&id).await.unwrap().expect("trace 42 is stored");
    assert_eq!(span_count(&t), 4);
    let spans = &t["resourceSpans"][0]["scopeSpans"][0]["spans"];
    assert!(
        spans
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["traceId"] == id.as_str())
    );
    assert_eq!(
        spans[0]["parentSpanId"], "",
        "sorted by start: the root first"
    );
    // Upper case ids are accepted.
    assert!(q.trace(&id.to_uppercase()).await.unwrap().is_some());
    // A trace that is only in the buffer (not flushed yet) is visible.
    let buffered = hex(&trace_id(1, 310));
    assert_eq!(span_count(&q.trace(&buffered).await.unwrap().unwrap()), 4);
    // Unknown and malformed ids.
    assert!(q.trace(&"0".repeat(32)).await.unwrap().is_none());
    assert!(matches!(
        q.trace("abc").await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        q.trace("' OR 1=1 --xxxxxxxxxxxxxxxxxxxxxx").await,
        Err(StoreError::InvalidInput(_))
    ));
}

#[tokio::test]
async fn search_filters_by_service_operation_duration_and_attributes() {
    let w = world().await;
    let q = w.a();
    let g = &w.a_gen;
    // Service: newest first, limit respected.
    let found = q
        .search_traces(&TraceFilter {
            service: Some("catalog".into()),
            range: Some(whole_window()),
            limit: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    let expected: Vec<String> = (0..320)
        .rev()
        .filter(|i| i % 2 == 1)
        .take(5)
        .map(|i| hex(&trace_id(1, i)))
        .collect();
    assert_eq!(
        found.iter().map(|t| t.trace_id.clone()).collect::<Vec<_>>(),
        expected
    );
    let first = &found[0]; // trace 319, in the buffer
    assert_eq!(first.root_service, "catalog");
    assert_eq!(first.root_operation, "GET /api/items/{id}");
    assert_eq!(first.span_count, 4);
    assert_eq!(first.start_ns, (HOUR0 + 319 * SEC) as i64);
    assert_eq!(first.duration_ns, root_duration_ns(1, 319) as i64);

    // Minimum duration on the root operation, over the stored and buffered traces.
    let min_ms = 700;
    let found = q
        .search_traces(&TraceFilter {
            operation: Some("GET /api/items/{id}".into()),
            min_duration_ms: Some(min_ms),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut want: Vec<String> = (0..320)
        .filter(|&i| root_duration_ns(1, i) >= min_ms * 1_000_000)
        .map(|i| hex(&trace_id(1, i)))
        .collect();
    let mut got: Vec<String> = found.iter().map(|t| t.trace_id.clone()).collect();
    want.sort();
    got.sort();
    assert!(!want.is_empty() && want.len() < 320);
    assert_eq!(got, want);

    // Attributes, error flag and a time window of 100 s.
    let found = q
        .search_traces(&TraceFilter {
            attributes: vec![
                ("tenant.tier".into(), "gold".into()),
                ("http.response.status_code".into(), "500".into()),
            ],
            range: Some(TimeRange::new(
                (HOUR0 + 100 * SEC) as i64,
                (HOUR0 + 200 * SEC) as i64,
            )),
            limit: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    // Gold = even traces, errors = every 10th: 100, 110, …, 190.
    let mut ids: Vec<String> = found.iter().map(|t| t.trace_id.clone()).collect();
    ids.sort();
    let mut want: Vec<String> = (100..200)
        .step_by(10)
        .map(|i| hex(&trace_id(1, i)))
        .collect();
    want.sort();
    assert_eq!(ids, want);
    assert!(found.iter().all(|t| t.error));
    // Nothing matches a service of the other tenant.
    let none = q
        .search_traces(&TraceFilter {
            service: Some("bravo-secret-svc".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let _ = g;
}

/// `percentile_cont`: linear interpolation between closest ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[tokio::test]
async fn service_stats_have_exact_percentiles_rates_and_error_rates() {
    let w = world().await;
    let q = w.a();
    let window = TimeRange::new(HOUR0 as i64, (HOUR0 + 400 * SEC) as i64);
    let stats = q.services(window).await.unwrap();
    assert_eq!(
        stats.iter().map(|s| s.service.as_str()).collect::<Vec<_>>(),
        ["catalog", "checkout"]
    );
    for s in &stats {
        let parity = if s.service == "checkout" { 0 } else { 1 };
        let traces: Vec<usize> = (0..320).filter(|i| i % 2 == parity).collect();
        let mut d: Vec<f64> = traces
            .iter()
            .map(|&i| root_duration_ns(1, i) as f64)
            .collect();
        d.sort_by(f64::total_cmp);
        let errors = traces.iter().filter(|&&i| i % 10 == 0).count() as u64;
        assert_eq!(
            s.requests, 160,
            "{}: roots only, children are CLIENT spans",
            s.service
        );
        assert_eq!(s.errors, errors);
        assert!((s.error_rate - errors as f64 / 160.0).abs() < 1e-12);
        assert!((s.request_rate - 160.0 / 400.0).abs() < 1e-12);
        for (got, p) in [(s.p50_ns, 0.5), (s.p95_ns, 0.95), (s.p99_ns, 0.99)] {
            let want = percentile(&d, p);
            // DataFusion interpolates with a few ns of float error; a wrong rank or method
            // would be off by milliseconds (durations are whole milliseconds).
            assert!(
                (got - want).abs() < 1_000.0,
                "{} p{p}: {got} != {want}",
                s.service
            );
        }
    }
    // A window with nothing in it.
    let empty = q.services(TimeRange::new(0, 1000)).await.unwrap();
    assert!(empty.is_empty());
}

#[tokio::test]
async fn service_queries_rank_statements() {
    let w = world().await;
    let q = w.a();
    let r = q
        .service_queries("checkout", whole_window(), 10)
        .await
        .unwrap();
    assert_eq!(r.most_frequent.len(), 3);
    // Three children per trace, one statement each: every statement runs once per trace.
    assert!(r.most_frequent.iter().all(|s| s.count == 160));
    assert!(
        r.most_frequent
            .iter()
            .all(|s| s.db_system.as_deref() == Some("postgresql"))
    );
    let p95s: Vec<f64> = r.slowest.iter().map(|s| s.p95_ns).collect();
    assert!(p95s.windows(2).all(|w| w[0] >= w[1]), "{p95s:?}");
    assert!(
        r.slowest
            .iter()
            .all(|s| s.avg_ns > 0.0 && s.p95_ns >= s.avg_ns * 0.5)
    );
    let none = q
        .service_queries("bravo-secret-svc", whole_window(), 10)
        .await
        .unwrap();
    assert!(none.slowest.is_empty() && none.most_frequent.is_empty());
}

#[tokio::test]
async fn logs_filter_by_severity_text_service_and_window() {
    let w = world().await;
    let q = w.a();
    let errors = q
        .logs(&LogFilter {
            min_severity: Some(17),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(errors.len(), 32, "every 10th of 320 traces");
    assert!(errors.iter().all(|l| l["severity_text"] == "ERROR"));
    // Newest first, buffer included.
    assert_eq!(errors[0]["body"], "request 310 failed: Boom");
    let text = q
        .logs(&LogFilter {
            text: Some("BOOM".into()),
            service: Some("checkout".into()),
            range: Some(TimeRange::new(HOUR0 as i64, (HOUR0 + 100 * SEC) as i64)),
            limit: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
    let bodies: Vec<&str> = text.iter().map(|l| l["body"].as_str().unwrap()).collect();
    assert_eq!(
        bodies,
        [
            "request 90 failed: Boom",
            "request 80 failed: Boom",
            "request 70 failed: Boom"
        ]
    );
    assert_eq!(text[0]["service_name"], "checkout");
    assert_eq!(text[0]["resource_attributes"]["service.name"], "checkout");
}

#[tokio::test]
async fn log_count_counts_what_logs_would_list() {
    let w = world().await;
    let q = w.a();
    let errors = LogFilter {
        min_severity: Some(17),
        ..Default::default()
    };
    assert_eq!(q.log_count(&errors).await.unwrap(), 32);
    let narrow = LogFilter {
        text: Some("BOOM".into()),
        service: Some("checkout".into()),
        range: Some(TimeRange::new(HOUR0 as i64, (HOUR0 + 100 * SEC) as i64)),
        limit: Some(1),
        ..Default::default()
    };
    let listed = q
        .logs(&LogFilter {
            limit: Some(10_000),
            ..narrow.clone()
        })
        .await
        .unwrap()
        .len() as u64;
    assert!(listed > 1, "the limit does not cap the count");
    assert_eq!(q.log_count(&narrow).await.unwrap(), listed);
    // Each tenant counts its own records only.
    let b_listed = w
        .b()
        .logs(&LogFilter {
            limit: Some(10_000),
            ..errors.clone()
        })
        .await
        .unwrap()
        .len() as u64;
    assert_eq!(w.b().log_count(&errors).await.unwrap(), b_listed);
}

#[tokio::test]
async fn sql_sees_only_the_tenants_rows() {
    let w = world().await;
    let (a, b) = (w.a(), w.b());
    let lim = SqlLimits::default();
    let r = a.sql("SELECT count(*) AS n FROM spans", lim).await.unwrap();
    assert_eq!(r.columns, ["n"]);
    assert_eq!(r.rows, vec![vec![serde_json::json!(320 * 4)]]);
    let r = b.sql("SELECT count(*) FROM spans", lim).await.unwrap();
    assert_eq!(r.rows, vec![vec![serde_json::json!(400)]]);
    let r = a
        .sql("SELECT DISTINCT service_name FROM spans ORDER BY 1", lim)
        .await
        .unwrap();
    assert_eq!(
        r.rows,
        vec![
            vec![serde_json::json!("catalog")],
            vec![serde_json::json!("checkout")]
        ]
    );
    // SELECT * over everything holds no row of B.
    let all = a
        .sql(
            "SELECT * FROM spans",
            SqlLimits {
                max_rows: 100_000,
                ..lim
            },
        )
        .await
        .unwrap();
    assert_eq!(all.rows.len(), 1280);
    let text = serde_json::to_string(&all.rows).unwrap();
    assert!(!text.contains("bravo"));
    assert!(!text.contains(&hex(&trace_id(2, 0))));
    // Map access works in SQL.
    let r = a
        .sql(
            "SELECT count(*) FROM spans WHERE attributes['tenant.tier'] = 'gold'",
            lim,
        )
        .await
        .unwrap();
    assert_eq!(r.rows, vec![vec![serde_json::json!(160)]]);
    // B's trace through A: nothing.
    let q = format!(
        "SELECT count(*) FROM spans WHERE trace_id = '{}'",
        hex(&trace_id(2, 5))
    );
    assert_eq!(
        a.sql(&q, lim).await.unwrap().rows,
        vec![vec![serde_json::json!(0)]]
    );
    assert!(a.trace(&hex(&trace_id(2, 5))).await.unwrap().is_none());
    // Logs and metrics tables exist (metrics empty) and are A's.
    let r = a
        .sql("SELECT count(*) FROM logs WHERE body LIKE 'request%'", lim)
        .await
        .unwrap();
    assert_eq!(r.rows, vec![vec![serde_json::json!(320)]]);
    let r = a.sql("SELECT count(*) FROM metrics", lim).await.unwrap();
    assert_eq!(r.rows, vec![vec![serde_json::json!(0)]]);
    let _ = &w.b_gen;
}

#[tokio::test]
async fn sql_cannot_reach_files_catalogs_or_other_tenants() {
    let w = world().await;
    let a = w.a();
    let lim = SqlLimits::default();
    let b_path = w.b_segments[0].path.clone();
    let abs = w.store_dir().join(&b_path).display().to_string();
    for q in [
        format!("SELECT * FROM read_parquet('{abs}')"),
        format!("SELECT * FROM parquet_scan('{abs}')"),
        format!("SELECT * FROM '{abs}'"),
        format!("SELECT * FROM 'file://{abs}'"),
        format!(
            "SELECT * FROM 'scrim-tenant://segments/../bravo/{}'",
            b_path.trim_start_matches("eu1/bravo/")
        ),
        "SELECT * FROM information_schema.tables".to_string(),
        "SELECT * FROM information_schema.columns".to_string(),
        "SHOW TABLES".to_string(),
        "SELECT * FROM datafusion.public.spans_bravo".to_string(),
    ] {
        let r = a.sql(&q, lim).await;
        assert!(r.is_err(), "{q} ran: {r:?}");
        let msg = r.unwrap_err().to_string();
        assert!(!msg.contains("bravo-secret"), "{msg}");
    }
}

#[tokio::test]
async fn sql_refuses_everything_but_one_query() {
    let w = world().await;
    let a = w.a();
    let lim = SqlLimits::default();
    let abs = w
        .store_dir()
        .join(&w.b_segments[0].path)
        .display()
        .to_string();
    for q in [
        format!("CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '{abs}'"),
        "CREATE TABLE x AS SELECT * FROM spans".to_string(),
        "SELECT * INTO stolen FROM spans".to_string(),
        "CREATE VIEW v AS SELECT 1".to_string(),
        "DROP TABLE spans".to_string(),
        "INSERT INTO spans SELECT * FROM spans".to_string(),
        "DELETE FROM spans".to_string(),
        "UPDATE spans SET name = 'x'".to_string(),
        "COPY spans TO '/tmp/out.parquet'".to_string(),
        "COPY (SELECT 1) TO '/tmp/out.csv'".to_string(),
        "SET datafusion.catalog.information_schema = true".to_string(),
        "EXPLAIN SELECT * FROM spans".to_string(),
        "EXPLAIN ANALYZE SELECT * FROM spans".to_string(),
        "SELECT 1; SELECT 2".to_string(),
        "SELECT 1; DROP TABLE spans".to_string(),
        "".to_string(),
        "SELEC 1".to_string(),
    ] {
        match a.sql(&q, lim).await {
            Err(StoreError::SqlRefused(_)) => {}
            other => panic!("{q:?}: {other:?}"),
        }
    }
    // Tables are intact.
    let r = a.sql("SELECT count(*) FROM spans", lim).await.unwrap();
    assert_eq!(r.rows, vec![vec![serde_json::json!(1280)]]);
    // WITH and VALUES are queries.
    let r = a
        .sql(
            "WITH s AS (SELECT name FROM spans) SELECT count(*) FROM s",
            lim,
        )
        .await
        .unwrap();
    assert_eq!(r.rows, vec![vec![serde_json::json!(1280)]]);
    let r = a.sql("VALUES (1, 'x'), (2, 'y')", lim).await.unwrap();
    assert_eq!(r.rows.len(), 2);
    // Deep nesting is an error, not a stack overflow.
    let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(a.sql(&deep, lim).await.is_err());
}

#[tokio::test]
async fn sql_enforces_row_limit_and_timeout() {
    let w = world().await;
    let a = w.a();
    let r = a
        .sql(
            "SELECT trace_id, trace_id AS again FROM spans ORDER BY trace_id",
            SqlLimits {
                max_rows: 10,
                timeout: Duration::from_secs(30),
            },
        )
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 10);
    assert!(r.truncated);
    assert_eq!(r.columns.len(), 2);
    assert_eq!(r.columns, ["trace_id", "again"]);
    assert_eq!(r.rows[0][0], r.rows[0][1]);
    let r = a
        .sql(
            "SELECT count(*) FROM spans",
            SqlLimits {
                max_rows: 10,
                timeout: Duration::from_secs(30),
            },
        )
        .await
        .unwrap();
    assert!(!r.truncated);
    let slow = a
        .sql(
            "SELECT count(*) FROM generate_series(1, 100000000000) a",
            SqlLimits {
                max_rows: 10,
                timeout: Duration::from_millis(200),
            },
        )
        .await;
    assert!(matches!(slow, Err(StoreError::Timeout)), "{slow:?}");
}

#[tokio::test]
async fn a_query_over_the_memory_limit_fails_instead_of_spilling() {
    let w = world().await;
    let a = w.a().with_memory_limit(2 << 20).unwrap();
    // A million distinct groups need tens of MiB of hash table.
    let big = a
        .sql(
            "SELECT count(*) FROM (SELECT DISTINCT value FROM generate_series(1, 1000000))",
            SqlLimits {
                max_rows: 1,
                timeout: Duration::from_secs(60),
            },
        )
        .await;
    let err = big.unwrap_err().to_string();
    assert!(
        err.to_lowercase().contains("resources exhausted") || err.contains("memory"),
        "{err}"
    );
    // Small queries still run.
    let r = a
        .sql("SELECT count(*) FROM spans", SqlLimits::default())
        .await
        .unwrap();
    assert_eq!(r.rows, vec![vec![serde_json::json!(1280)]]);
}

#[tokio::test]
async fn a_query_object_refuses_other_tenants_segments() {
    let w = world().await;
    let err = TenantQuery::new(
        "acme",
        key_a(),
        &w.store,
        w.b_segments.clone(),
        BufferedBatches::default(),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::TenantMismatch(_)), "{err:?}");
    let relabelled: Vec<SegmentMeta> = w
        .b_segments
        .iter()
        .map(|m| SegmentMeta {
            tenant_id: "acme".into(),
            ..m.clone()
        })
        .collect();
    let err = TenantQuery::new(
        "acme",
        key_a(),
        &w.store,
        relabelled,
        BufferedBatches::default(),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::TenantMismatch(_)), "{err:?}");
    let climbing: Vec<SegmentMeta> = w
        .b_segments
        .iter()
        .map(|m| SegmentMeta {
            tenant_id: "acme".into(),
            path: m.path.replace("eu1/bravo/", "eu1/acme/../bravo/"),
            ..m.clone()
        })
        .collect();
    let err = TenantQuery::new(
        "acme",
        key_a(),
        &w.store,
        climbing,
        BufferedBatches::default(),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::TenantMismatch(_)), "{err:?}");
    assert!(TenantQuery::new("", key_a(), &w.store, vec![], BufferedBatches::default()).is_err());
    // A wrong key for the tenant's own segments: a decryption error, not rows.
    let q = TenantQuery::new(
        "acme",
        key_b(),
        &w.store,
        w.a_segments.clone(),
        BufferedBatches::default(),
    )
    .unwrap();
    let err = q
        .sql("SELECT count(*) FROM spans", SqlLimits::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Decryption(_)), "{err:?}");
    // A buffered batch of another schema is refused.
    let bad = BufferedBatches {
        spans: w.a_buffer.logs.clone(),
        ..Default::default()
    };
    assert!(TenantQuery::new("acme", key_a(), &w.store, vec![], bad).is_err());
}

impl World {
    fn store_dir(&self) -> std::path::PathBuf {
        self._dir.path().to_path_buf()
    }
}

#[tokio::test]
async fn a_summary_counts_spans_of_every_service_of_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let g = TraceGen {
        traces: 3,
        services: vec!["edge".into()],
        ..Default::default()
    };
    // Trace 1's children move to another service, written in another segment.
    let mut req = g.traces(0..3);
    let mut backend = req.resource_spans[1].clone();
    backend.resource = Some(scrim_store::generate::resource("backend"));
    backend.scope_spans[0].spans.remove(0);
    req.resource_spans[1].scope_spans[0].spans.truncate(1);
    let mut metas = Vec::new();
    for r in [
        req,
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
            resource_spans: vec![backend],
        },
    ] {
        let b = spans_to_batch(&r).unwrap();
        metas.push(
            store
                .write_segment("acme", &key_a(), Signal::Spans, &[b])
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(metas[1].services, ["backend"]);
    let q = TenantQuery::new("acme", key_a(), &store, metas, BufferedBatches::default()).unwrap();
    let found = q
        .search_traces(&TraceFilter {
            service: Some("backend".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].trace_id, hex(&trace_id(1, 1)));
    assert_eq!(found[0].span_count, 4);
    assert_eq!(found[0].root_service, "edge");
}

/// A trace lookup opens only the span segments whose trace filter may hold the trace: with
/// the other span segments' files made unreadable, it still finds the trace; without
/// filters it must open every segment and fails.
#[tokio::test]
async fn a_trace_lookup_reads_only_segments_whose_filter_may_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let gen_ = TraceGen {
        traces: 400,
        services: vec!["checkout".into()],
        seed: 9,
        ..Default::default()
    };
    let mut segments = Vec::new();
    for chunk in [0..100, 100..200, 200..300, 300..400] {
        let spans = spans_to_batch(&gen_.traces(chunk)).unwrap();
        segments.push(
            store
                .write_segment("acme", &key_a(), Signal::Spans, &[spans])
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert!(segments.iter().all(|m| m.trace_filter.is_some()));
    let wanted = hex(&trace_id(gen_.seed, 250));
    // Segments 0, 1 and 3 become garbage; only segment 2 holds the trace.
    for m in [&segments[0], &segments[1], &segments[3]] {
        std::fs::write(dir.path().join(&m.path), vec![0u8; 4096]).unwrap();
    }
    let q = TenantQuery::new(
        "acme",
        key_a(),
        &store,
        segments.clone(),
        BufferedBatches::default(),
    )
    .unwrap();
    let trace = q.trace(&wanted).await.unwrap().expect("found in segment 2");
    assert!(trace.to_string().contains(&wanted));
    // An id in no segment: no file is opened, nothing is found.
    assert!(q.trace(&"ab".repeat(16)).await.unwrap().is_none());

    // Without filters every segment is opened, and the garbage is an error.
    let unfiltered: Vec<SegmentMeta> = segments
        .iter()
        .map(|m| SegmentMeta {
            trace_filter: None,
            ..m.clone()
        })
        .collect();
    let q = TenantQuery::new(
        "acme",
        key_a(),
        &store,
        unfiltered,
        BufferedBatches::default(),
    )
    .unwrap();
    assert!(q.trace(&wanted).await.is_err());

    // A filter that does not open (another segment's) never hides a segment.
    let mut swapped = segments.clone();
    swapped[2].trace_filter = segments[0].trace_filter.clone();
    let q = TenantQuery::new("acme", key_a(), &store, swapped, BufferedBatches::default()).unwrap();
    assert!(q.trace(&wanted).await.unwrap().is_some());
}

#[tokio::test]
async fn service_series_buckets_add_up_to_the_window() {
    let w = world().await;
    let q = w.a();
    let window = TimeRange::new(HOUR0 as i64, (HOUR0 + 400 * SEC) as i64);
    let step = (100 * SEC) as i64;
    let points = q.service_series(window, step, None).await.unwrap();
    for service in ["catalog", "checkout"] {
        let mine: Vec<_> = points.iter().filter(|p| p.service == service).collect();
        assert!(!mine.is_empty() && mine.len() <= 4, "{service}: {mine:?}");
        assert_eq!(
            mine.iter().map(|p| p.requests).sum::<u64>(),
            160,
            "{service}"
        );
        // Every 10th trace fails, and those are all checkout's (even traces).
        let errors = if service == "checkout" { 32 } else { 0 };
        assert_eq!(
            mine.iter().map(|p| p.errors).sum::<u64>(),
            errors,
            "{service}"
        );
        for p in &mine {
            assert_eq!((p.start_ns - window.start_ns) % step, 0, "aligned");
            assert!(p.start_ns >= window.start_ns && p.start_ns < window.end_ns);
            assert!(p.p95_ns > 0.0);
        }
    }
    // Narrowed to one service, and never more than 1 000 buckets however small the step.
    let one = q.service_series(window, 1, Some("checkout")).await.unwrap();
    assert!(one.iter().all(|p| p.service == "checkout"));
    let grid = window.series_step(1);
    assert_eq!(grid, (400 * SEC / 1000) as i64);
    assert!(
        one.iter()
            .all(|p| (p.start_ns - window.start_ns) % grid == 0)
    );
    assert!(one.len() <= 1000, "{}", one.len());
    assert_eq!(one.iter().map(|p| p.requests).sum::<u64>(), 160);
    let other = w.b();
    assert!(
        other
            .service_series(window, step, Some("checkout"))
            .await
            .unwrap()
            .is_empty(),
        "another tenant's query sees nothing of acme"
    );
}

#[tokio::test]
async fn service_operations_count_every_span_name_of_the_service() {
    let w = world().await;
    let q = w.a();
    let ops = q
        .service_operations("checkout", whole_window(), 50)
        .await
        .unwrap();
    let counts: Vec<u64> = ops.iter().map(|o| o.count).collect();
    assert!(
        counts.windows(2).all(|c| c[0] >= c[1]),
        "most frequent first"
    );
    assert_eq!(
        counts.iter().sum::<u64>(),
        160 * 4,
        "a root and three children per trace"
    );
    let root = ops
        .iter()
        .find(|o| o.operation == "GET /api/items/{id}")
        .unwrap();
    assert_eq!(
        (root.count, root.errors, root.kind.as_str()),
        (160, 32, "SERVER")
    );
    assert!(root.p95_ns >= root.p50_ns && root.p50_ns > 0.0);
    assert_eq!(
        q.service_operations("checkout", whole_window(), 1)
            .await
            .unwrap()
            .len(),
        1,
        "the limit holds"
    );
}

#[tokio::test]
async fn trace_search_can_keep_only_failed_traces() {
    let w = world().await;
    let q = w.a();
    let failed = q
        .search_traces(&TraceFilter {
            service: Some("checkout".into()),
            errors_only: true,
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 32, "every 10th trace, all of them checkout's");
    assert!(
        failed
            .iter()
            .all(|t| t.error && t.root_service == "checkout")
    );
}

#[tokio::test]
async fn logs_of_one_trace() {
    let w = world().await;
    let q = w.a();
    let id = hex(&trace_id(1, 10));
    let records = q
        .logs(&LogFilter {
            trace_id: Some(id.to_uppercase()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!records.is_empty());
    assert!(records.iter().all(|l| l["trace_id"] == id.as_str()));
    let bad = q
        .logs(&LogFilter {
            trace_id: Some("x' OR 1=1 --".into()),
            ..Default::default()
        })
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidInput(_))), "{bad:?}");
}

#[tokio::test]
async fn redaction_counts_sum_the_counts_left_on_spans_and_logs() {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    let w = world().await;
    let count = |kind: &str, n: i64| KeyValue {
        key: format!("scrim.redacted.{kind}"),
        value: Some(AnyValue {
            value: Some(Value::IntValue(n)),
        }),
        ..Default::default()
    };
    // Ten traces whose every span had 2 e-mail addresses and 1 card number removed, and
    // their logs 3 e-mail addresses each.
    let mut spans = w.a_gen.traces(0..10);
    let mut n_spans = 0u64;
    for r in &mut spans.resource_spans {
        for s in &mut r.scope_spans {
            for span in &mut s.spans {
                span.attributes.push(count("email", 2));
                span.attributes.push(count("card", 1));
                n_spans += 1;
            }
        }
    }
    let mut logs = w.a_gen.logs(0..10);
    let mut n_logs = 0u64;
    for r in &mut logs.resource_logs {
        for s in &mut r.scope_logs {
            for l in &mut s.log_records {
                l.attributes.push(count("email", 3));
                n_logs += 1;
            }
        }
    }
    let buffer = BufferedBatches {
        spans: vec![spans_to_batch(&spans).unwrap()],
        logs: vec![logs_to_batch(&logs).unwrap()],
        metrics: vec![],
    };
    let q = TenantQuery::new("acme", key_a(), &w.store, Vec::new(), buffer).unwrap();
    let counts = q
        .redaction_counts(whole_window(), &["email", "card", "ssn", "bad'kind"])
        .await
        .unwrap();
    let total = |kind: &str| -> u64 {
        counts
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.count)
            .sum()
    };
    assert_eq!(total("email"), 2 * n_spans + 3 * n_logs);
    assert_eq!(total("card"), n_spans);
    assert_eq!(total("ssn"), 0, "kinds with nothing removed are absent");
    assert!(counts.iter().all(|c| c.kind != "bad'kind"));
    let services: std::collections::BTreeSet<&str> =
        counts.iter().map(|c| c.service.as_str()).collect();
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        ["catalog", "checkout"]
    );
    // Nothing in a window with nothing in it.
    assert!(
        q.redaction_counts(TimeRange::new(0, 1000), &["email"])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn service_names_come_from_the_catalog_and_the_buffer() {
    let w = world().await;
    let q = w.a();
    assert_eq!(
        q.service_names(whole_window()).unwrap(),
        ["catalog", "checkout"]
    );
    assert!(q.service_names(TimeRange::new(0, 1000)).unwrap().is_empty());
    // Only the buffer: its services still count.
    let buffered =
        TenantQuery::new("acme", key_a(), &w.store, Vec::new(), w.a_buffer.clone()).unwrap();
    assert_eq!(
        buffered.service_names(whole_window()).unwrap(),
        ["catalog", "checkout"]
    );
    // A service deleted on request (all of it, up to now) is not offered any more; one
    // deleted up to a time before some of its spans still is.
    let erased_until = |end_ns: i64| {
        w.a().with_erasures(vec![scrim_store::erase::Erasure {
            signals: vec![Signal::Spans, Signal::Logs, Signal::Metrics],
            start_ns: None,
            end_ns,
            service: Some("catalog".into()),
            attribute: None,
        }])
    };
    assert_eq!(
        erased_until((HOUR0 + 3600 * SEC) as i64)
            .service_names(whole_window())
            .unwrap(),
        ["checkout"]
    );
    assert_eq!(
        erased_until((HOUR0 + 10 * SEC) as i64)
            .service_names(whole_window())
            .unwrap(),
        ["catalog", "checkout"]
    );
    assert_eq!(
        w.b().service_names(whole_window()).unwrap(),
        ["bravo-secret-svc"]
    );
}
