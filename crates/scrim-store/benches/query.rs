//! Query latency over generated spans in encrypted segments.
//!
//! `SCRIM_BENCH_SPANS` (default 200 000) spans, 4 per trace, spread over two hours and
//! written as segments of `SCRIM_BENCH_SEGMENT_SPANS` (default 100 000) spans, as flushes
//! would. Then: trace by id (on a ready query object, and from the catalog as the API does
//! it), a one-hour service search, and per-service statistics over one hour.
//!
//! `cargo bench -p scrim-store --bench query` (add `-- --quick` for a short run).

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use scrim_meta::{Meta, NewSegment, NewTenant, Signal as MetaSignal, TimeRange as CatalogRange};
use scrim_store::convert::{hex, spans_to_batch};
use scrim_store::generate::{TraceGen, trace_id};
use scrim_store::query::{BufferedBatches, TimeRange, TraceFilter};
use scrim_store::{DataKey, SegmentMeta, SegmentStore, Signal, TenantQuery};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bench(c: &mut Criterion) {
    let spans = env_usize("SCRIM_BENCH_SPANS", 200_000);
    let per_segment = env_usize("SCRIM_BENCH_SEGMENT_SPANS", 100_000).max(4);
    let traces = (spans / 4).max(1);
    let two_hours = 7_200_000_000_000u64;
    let spec = TraceGen {
        traces,
        spans_per_trace: 4,
        spacing_ns: (two_hours / traces as u64).max(1),
        services: (0..20).map(|i| format!("service-{i:02}")).collect(),
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "bench").unwrap();
    let key = DataKey::new("k1", [7; 32]);
    let t0 = Instant::now();
    let mut segments = Vec::new();
    let step = per_segment / 4;
    let mut start = 0;
    while start < traces {
        let end = (start + step).min(traces);
        let batch = spans_to_batch(&spec.traces(start..end)).unwrap();
        let meta = rt
            .block_on(store.write_segment("t1", &key, Signal::Spans, &[batch]))
            .unwrap()
            .unwrap();
        segments.push(meta);
        start = end;
    }
    let bytes: u64 = segments.iter().map(|m| m.bytes).sum();
    eprintln!(
        "setup: {spans} spans, {} segments, {:.1} MiB, written in {:.1?} ({:.0} spans/s)",
        segments.len(),
        bytes as f64 / 1048576.0,
        t0.elapsed(),
        spans as f64 / t0.elapsed().as_secs_f64()
    );
    // The catalog as `scrim serve` keeps it (SQLite in the data directory), for the
    // lookup that starts from the catalog like the API's.
    let meta = rt.block_on(Meta::open_in(dir.path())).unwrap();
    let tenant = rt
        .block_on(meta.create_tenant(&NewTenant::new("bench", vec![0; 60]).unwrap()))
        .unwrap()
        .id;
    let records: Vec<NewSegment> = segments
        .iter()
        .map(|m| NewSegment {
            signal: MetaSignal::Traces,
            path: m.path.clone(),
            min_time_ns: m.min_time_ns,
            max_time_ns: m.max_time_ns,
            rows: m.rows,
            bytes: m.bytes,
            services: m.services.clone(),
            trace_filter: m.trace_filter.clone(),
            key_version: 1,
        })
        .collect();
    rt.block_on(meta.record_flush(&tenant, &records, None))
        .unwrap();
    let q = TenantQuery::new(
        "t1",
        key.clone(),
        &store,
        segments,
        BufferedBatches::default(),
    )
    .unwrap();
    let hour = TimeRange::new(
        spec.start_ns as i64 + 1_800_000_000_000,
        spec.start_ns as i64 + 5_400_000_000_000,
    );
    let id = hex(&trace_id(spec.seed, traces * 2 / 3));
    assert!(rt.block_on(q.trace(&id)).unwrap().is_some());

    let mut g = c.benchmark_group(format!("query_{spans}_spans"));
    g.sample_size(10);
    g.bench_function("trace_by_id", |b| {
        b.iter(|| rt.block_on(q.trace(&id)).unwrap().unwrap())
    });
    // What GET /api/v1/traces/{id} does below HTTP: read the catalog (segments of every
    // signal, the span segments' trace filters), build the tenant's query, look up.
    g.bench_function("trace_by_id_from_catalog", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut filters = meta.trace_filters(&tenant).await.unwrap();
                let mut listed = Vec::new();
                for (sig, msig) in [
                    (Signal::Spans, MetaSignal::Traces),
                    (Signal::Logs, MetaSignal::Logs),
                    (Signal::Metrics, MetaSignal::Metrics),
                ] {
                    for s in meta
                        .segments(&tenant, msig, CatalogRange::all(), None)
                        .await
                        .unwrap()
                    {
                        listed.push(SegmentMeta {
                            trace_filter: filters.remove(&s.path),
                            path: s.path,
                            tenant_id: "t1".into(),
                            signal: sig,
                            min_time_ns: s.min_time_ns,
                            max_time_ns: s.max_time_ns,
                            rows: s.rows,
                            bytes: s.bytes,
                            services: s.services,
                            key_id: key.id().to_owned(),
                        });
                    }
                }
                let q = TenantQuery::new(
                    "t1",
                    key.clone(),
                    &store,
                    listed,
                    BufferedBatches::default(),
                )
                .unwrap();
                q.trace(&id).await.unwrap().unwrap()
            })
        })
    });
    let filter = TraceFilter {
        service: Some("service-07".into()),
        range: Some(hour),
        limit: Some(20),
        ..Default::default()
    };
    g.bench_function("search_service_1h", |b| {
        b.iter(|| {
            let r = rt.block_on(q.search_traces(&filter)).unwrap();
            assert_eq!(r.len(), 20);
            r
        })
    });
    let slow = TraceFilter {
        min_duration_ms: Some(900),
        range: Some(hour),
        limit: Some(20),
        ..Default::default()
    };
    g.bench_function("search_min_duration_1h", |b| {
        b.iter(|| rt.block_on(q.search_traces(&slow)).unwrap())
    });
    g.bench_function("services_1h", |b| {
        b.iter(|| rt.block_on(q.services(hour)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
