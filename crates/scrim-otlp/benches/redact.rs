//! The agent's per-request CPU work: decode an OTLP/protobuf `ExportTraceServiceRequest`,
//! apply the full default capture policy (`redact_traces` with the default `Redactor` and
//! a pseudonym key), encode it again. Reported in spans per second on one core.
//!
//! Workload (`benches/common/workload.rs`): requests of 512 spans from one service, HTTP
//! server spans with database, HTTP client, cache and internal children, about 5% of the
//! values carrying a planted secret. `decode_encode` is the same work without the policy,
//! for reference. `wire_redact` is the same work as `decode_redact_encode` (limits check
//! included) on the wire format (`scrim_otlp::wire`), as the agent does it.
//!
//! Run: `cargo bench -p scrim-otlp --bench redact`. Figures in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use scrim_otlp::proto::ExportTraceServiceRequest;
use scrim_otlp::redact::redact_traces;
use scrim_otlp::wire::redact_traces_wire;
use scrim_redact::{Policy, Redactor};

#[path = "common/workload.rs"]
mod workload;

const SPANS: usize = 512;

fn bench(c: &mut Criterion) {
    let request = workload::trace_request(SPANS, 1);
    let bytes = request.encode_to_vec();
    let redactor = Redactor::new(
        &Policy::default(),
        Some(b"benchmark tenant pseudonym key!!"),
    );
    {
        // The workload really carries secrets, and the policy finds them.
        let mut r = request.clone();
        let counts = redact_traces(&mut r, &redactor);
        assert!(counts.iter().count() > 3, "{counts:?}");
    }
    let mut group = c.benchmark_group(format!("otlp_traces_{SPANS}"));
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("decode_redact_encode", |b| {
        b.iter(|| {
            let mut req = ExportTraceServiceRequest::decode(black_box(bytes.as_slice())).unwrap();
            let counts = redact_traces(&mut req, &redactor);
            black_box(counts);
            black_box(req.encode_to_vec())
        })
    });
    let limits = scrim_otlp::Limits::default();
    assert!(redact_traces_wire(&bytes, &redactor, &limits).is_some());
    group.bench_function("wire_redact", |b| {
        b.iter(|| {
            black_box(redact_traces_wire(
                black_box(bytes.as_slice()),
                &redactor,
                &limits,
            ))
        })
    });
    group.bench_function("decode_encode", |b| {
        b.iter(|| {
            let req = ExportTraceServiceRequest::decode(black_box(bytes.as_slice())).unwrap();
            black_box(req.encode_to_vec())
        })
    });
    group.bench_function("redact_only", |b| {
        b.iter_batched(
            || request.clone(),
            |mut req| black_box(redact_traces(&mut req, &redactor)),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
    eprintln!(
        "request: {SPANS} spans, {} bytes of protobuf ({} bytes per span)",
        bytes.len(),
        bytes.len() / SPANS
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
