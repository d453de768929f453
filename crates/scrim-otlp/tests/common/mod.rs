//! Shared helpers for the integration tests: a scripted sink, sample batches, a plain
//! HTTP client.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use scrim_otlp::proto::*;
use scrim_otlp::{Accepted, Batch, BoxFuture, RequestContext, Sink, SinkError};

/// Records what it receives; answers from a script (then `Accepted::all()`).
#[derive(Default)]
pub struct TestSink {
    pub received: Mutex<Vec<(Batch, RequestContext)>>,
    pub calls: Mutex<u32>,
    script: Mutex<VecDeque<Result<Accepted, SinkError>>>,
}

impl TestSink {
    pub fn new() -> Arc<TestSink> {
        Arc::new(TestSink::default())
    }

    pub fn scripted(
        answers: impl IntoIterator<Item = Result<Accepted, SinkError>>,
    ) -> Arc<TestSink> {
        let sink = TestSink::default();
        sink.script.lock().unwrap().extend(answers);
        Arc::new(sink)
    }

    pub fn batches(&self) -> Vec<Batch> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(b, _)| b.clone())
            .collect()
    }

    pub fn contexts(&self) -> Vec<RequestContext> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }

    pub fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

impl Sink for TestSink {
    fn consume(
        &self,
        batch: Batch,
        ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
        *self.calls.lock().unwrap() += 1;
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(Accepted::all()));
        if answer.is_ok() {
            self.received.lock().unwrap().push((batch, ctx));
        }
        Box::pin(async move { answer })
    }
}

/// A sink with one capture policy (as the agent's): protobuf trace requests reach it
/// redacted on the wire format, kept with their request context; everything else goes to
/// `inner`.
pub struct PolicySink {
    pub redactor: Arc<scrim_redact::Redactor>,
    pub redacted: Mutex<Vec<(scrim_otlp::wire::RedactedTraces, RequestContext)>>,
    pub inner: Arc<TestSink>,
}

impl PolicySink {
    /// The default policy, pseudonyms under a fixed test key.
    pub fn new() -> Arc<PolicySink> {
        Arc::new(PolicySink {
            redactor: Arc::new(scrim_redact::Redactor::new(
                &scrim_redact::Policy::default(),
                Some(b"receiver test key"),
            )),
            redacted: Mutex::default(),
            inner: TestSink::new(),
        })
    }
}

impl Sink for PolicySink {
    fn consume(
        &self,
        batch: Batch,
        ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
        self.inner.consume(batch, ctx)
    }

    fn trace_policy(&self) -> Option<Arc<scrim_redact::Redactor>> {
        Some(Arc::clone(&self.redactor))
    }

    fn consume_redacted_traces(
        &self,
        traces: scrim_otlp::wire::RedactedTraces,
        ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
        self.redacted.lock().unwrap().push((traces, ctx));
        Box::pin(async { Ok(Accepted::all()) })
    }
}

pub fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

pub fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![string_kv("service.name", service)],
        ..Default::default()
    })
}

/// A trace request with `n` spans, each with an `http.route` attribute.
pub fn traces(n: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("checkout"),
            scope_spans: vec![ScopeSpans {
                spans: (0..n)
                    .map(|i| Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![i as u8 + 1; 8],
                        name: format!("GET /items/{i}"),
                        kind: 2,
                        start_time_unix_nano: 1_700_000_000_000_000_000,
                        end_time_unix_nano: 1_700_000_000_100_000_000,
                        attributes: vec![string_kv("http.route", "/items/{id}")],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn logs(n: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("checkout"),
            scope_logs: vec![ScopeLogs {
                log_records: (0..n)
                    .map(|i| LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(format!("line {i}"))),
                        }),
                        attributes: vec![string_kv("user.id", "42")],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn metrics(points: usize) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("checkout"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "requests".into(),
                    data: Some(metric_data::Data::Sum(Sum {
                        data_points: (0..points)
                            .map(|i| NumberDataPoint {
                                attributes: vec![string_kv("route", "/items")],
                                time_unix_nano: 1_700_000_000_000_000_000,
                                value: Some(number_data_point::Value::AsInt(i as i64)),
                                ..Default::default()
                            })
                            .collect(),
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub struct HttpAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// POSTs `body` to `http://{addr}{path}` with the given headers.
pub async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> HttpAnswer {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut req = Request::post(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    HttpAnswer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}
