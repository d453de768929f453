//! Query latency over generated spans in encrypted segments.
//!
//! `SCRIM_BENCH_SPANS` (default 200 000) spans, 4 per trace, spread over two hours and
//! written as segments of `SCRIM_BENCH_SEGMENT_SPANS` (default 100 000) spans, as flushes
//! would. Then: trace by id, a one-hour service search, and per-service statistics over
//! one hour.
//!
//! `cargo bench -p scrim-store --bench query` (add `-- --quick` for a short run).

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use scrim_store::convert::{hex, spans_to_batch};
use scrim_store::generate::{TraceGen, trace_id};
use scrim_store::query::{BufferedBatches, TimeRange, TraceFilter};
use scrim_store::{DataKey, SegmentStore, Signal, TenantQuery};

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
    let q = TenantQuery::new("t1", key, &store, segments, BufferedBatches::default()).unwrap();
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
