//! Deterministic synthetic telemetry for tests, benchmarks and demos: traces of an HTTP
//! service calling a database, and one log record per trace. The same seed gives the same
//! data, so tests can assert exact figures.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// What to generate.
#[derive(Clone, Debug)]
pub struct TraceGen {
    /// Number of traces.
    pub traces: usize,
    /// Spans per trace (at least 1): a SERVER root, then CLIENT database calls.
    pub spans_per_trace: usize,
    /// Start of the first trace, ns since the epoch.
    pub start_ns: u64,
    /// Time between the starts of consecutive traces.
    pub spacing_ns: u64,
    /// Service names; trace `i` belongs to `services[i % len]`.
    pub services: Vec<String>,
    /// Every `error_every`-th trace (i % error_every == 0) has an ERROR root; 0 = never.
    pub error_every: usize,
    /// Seed of the ids and durations.
    pub seed: u64,
}

impl Default for TraceGen {
    fn default() -> Self {
        TraceGen {
            traces: 100,
            spans_per_trace: 4,
            start_ns: 1_767_225_600_000_000_000, // 2026-01-01T00:00:00Z
            spacing_ns: 1_000_000_000,
            services: vec!["checkout".into(), "catalog".into()],
            error_every: 10,
            seed: 1,
        }
    }
}

/// SplitMix64: tiny, deterministic, good enough for ids and durations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A string attribute.
pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// An integer attribute.
pub fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// A resource with `service.name`.
pub fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", service),
            kv("deployment.environment", "test"),
        ],
        ..Default::default()
    }
}

/// The trace id of trace `i` under `seed`, as 16 bytes.
pub fn trace_id(seed: u64, i: usize) -> Vec<u8> {
    let mut r = Rng(seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut id = r.next().to_be_bytes().to_vec();
    id.extend_from_slice(&r.next().to_be_bytes());
    id
}

/// Root span duration of trace `i`: 1 to 1000 ms, spread by the seed.
pub fn root_duration_ns(seed: u64, i: usize) -> u64 {
    let mut r = Rng(seed.wrapping_mul(31) ^ i as u64);
    (1 + r.next() % 1000) * 1_000_000
}

const STATEMENTS: [&str; 3] = [
    "SELECT * FROM items WHERE id = ?",
    "UPDATE stock SET qty = qty - ? WHERE item_id = ?",
    "INSERT INTO orders (id, total) VALUES (?, ?)",
];

impl TraceGen {
    /// The service of trace `i`.
    pub fn service(&self, i: usize) -> &str {
        &self.services[i % self.services.len()]
    }

    /// Traces `range` as one request (one resource per trace).
    pub fn traces(&self, range: std::ops::Range<usize>) -> ExportTraceServiceRequest {
        let mut out = Vec::with_capacity(range.len());
        for i in range {
            let tid = trace_id(self.seed, i);
            let mut r = Rng(self.seed ^ (i as u64) << 1);
            let start = self.start_ns + i as u64 * self.spacing_ns;
            let dur = root_duration_ns(self.seed, i);
            let error = self.error_every != 0 && i % self.error_every == 0;
            let root_id = r.next().to_be_bytes().to_vec();
            let mut spans = vec![Span {
                trace_id: tid.clone(),
                span_id: root_id.clone(),
                name: "GET /api/items/{id}".into(),
                kind: 2,
                start_time_unix_nano: start,
                end_time_unix_nano: start + dur,
                attributes: vec![
                    kv("http.request.method", "GET"),
                    kv("http.route", "/api/items/{id}"),
                    kv_int("http.response.status_code", if error { 500 } else { 200 }),
                    kv("url.full", &format!("https://shop.example/api/items/{i}")),
                    kv("client.address", "10.0.0.0"),
                    kv("tenant.tier", if i % 2 == 0 { "gold" } else { "free" }),
                ],
                status: Some(Status {
                    code: if error { 2 } else { 0 },
                    message: if error { "boom".into() } else { String::new() },
                }),
                ..Default::default()
            }];
            let children = self.spans_per_trace.saturating_sub(1) as u64;
            for c in 0..children {
                // Children share the root's time evenly, in sequence.
                let slot = dur / children.max(1);
                let cstart = start + c * slot;
                let stmt = STATEMENTS[(c as usize) % STATEMENTS.len()];
                spans.push(Span {
                    trace_id: tid.clone(),
                    span_id: r.next().to_be_bytes().to_vec(),
                    parent_span_id: root_id.clone(),
                    name: stmt.split(' ').next().unwrap_or("query").to_owned(),
                    kind: 3,
                    start_time_unix_nano: cstart,
                    end_time_unix_nano: cstart + slot / 2 + 1,
                    attributes: vec![
                        kv("db.system.name", "postgresql"),
                        kv("db.query.text", stmt),
                        kv("server.address", "db.internal"),
                    ],
                    ..Default::default()
                });
            }
            out.push(ResourceSpans {
                resource: Some(resource(self.service(i))),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "scrim.generate".into(),
                        version: "1.0".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        ExportTraceServiceRequest {
            resource_spans: out,
        }
    }

    /// One log record per trace in `range`, at the root's start, linked to it.
    pub fn logs(&self, range: std::ops::Range<usize>) -> ExportLogsServiceRequest {
        let mut out = Vec::with_capacity(range.len());
        for i in range {
            let error = self.error_every != 0 && i % self.error_every == 0;
            let start = self.start_ns + i as u64 * self.spacing_ns;
            out.push(ResourceLogs {
                resource: Some(resource(self.service(i))),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        time_unix_nano: start,
                        observed_time_unix_nano: start + 1,
                        severity_number: if error { 17 } else { 9 },
                        severity_text: if error { "ERROR" } else { "INFO" }.into(),
                        body: Some(AnyValue {
                            value: Some(Value::StringValue(format!(
                                "request {i} {}",
                                if error { "failed: Boom" } else { "served" }
                            ))),
                        }),
                        trace_id: trace_id(self.seed, i),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        ExportLogsServiceRequest { resource_logs: out }
    }
}
