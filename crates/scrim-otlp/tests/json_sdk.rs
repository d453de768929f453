//! OTLP/JSON written by the official OpenTelemetry JavaScript SDK (`tests/fixtures/js-*.json`,
//! produced by `tests/fixtures/gen-otlp-json.mjs`) decodes through the HTTP receiver with
//! every field where the SDK put it.

mod common;

use common::*;
use http::StatusCode;
use scrim_otlp::proto::*;
use scrim_otlp::{Batch, Receivers, ReceiversConfig};

const TRACES: &str = include_str!("fixtures/js-traces.json");
const LOGS: &str = include_str!("fixtures/js-logs.json");
const METRICS: &str = include_str!("fixtures/js-metrics.json");

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.into())
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn javascript_sdk_json_decodes_field_by_field() {
    let sink = TestSink::new();
    let config = ReceiversConfig {
        grpc: None,
        ..ReceiversConfig::loopback_ephemeral()
    };
    let receivers = Receivers::start(config, sink.clone()).await.unwrap();
    let addr = receivers.http_addr().unwrap();
    for (path, body) in [
        ("/v1/traces", TRACES),
        ("/v1/logs", LOGS),
        ("/v1/metrics", METRICS),
    ] {
        let answer = post(addr, path, &[("content-type", "application/json")], body).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
    }
    let batches = sink.batches();
    assert_eq!(batches.len(), 3);

    let Batch::Traces(traces) = &batches[0] else {
        panic!()
    };
    let rs = &traces.resource_spans[0];
    assert_eq!(
        attr(&rs.resource.as_ref().unwrap().attributes, "service.name"),
        Some(&string("js-fixture"))
    );
    let scope = rs.scope_spans[0].scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("fixture-tracer", "1.2.3")
    );
    let span = &rs.scope_spans[0].spans[0];
    assert_eq!(span.trace_id, hex("b646dd87a4ff1982ac58837d7268ccf5"));
    assert_eq!(span.span_id, hex("a632608cd3bc1b01"));
    assert!(span.parent_span_id.is_empty());
    assert_eq!(span.name, "GET /users");
    assert_eq!(span.kind, 2);
    assert_eq!(span.start_time_unix_nano, 1_795_510_529_407_000_000);
    assert_eq!(span.end_time_unix_nano, 1_795_510_529_407_297_961);
    assert_eq!(span.flags, 257);
    assert_eq!(
        attr(&span.attributes, "http.request.method"),
        Some(&string("GET"))
    );
    assert_eq!(
        attr(&span.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );
    assert_eq!(
        attr(&span.attributes, "retry"),
        Some(&any_value::Value::BoolValue(true))
    );
    assert_eq!(
        attr(&span.attributes, "ratio"),
        Some(&any_value::Value::DoubleValue(0.5))
    );
    assert_eq!(
        attr(&span.attributes, "tags"),
        Some(&any_value::Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue {
                    value: Some(string("a"))
                },
                AnyValue {
                    value: Some(string("b"))
                }
            ]
        }))
    );
    assert_eq!(span.events[0].name, "cache miss");
    assert_eq!(span.events[0].time_unix_nano, 1_795_510_529_407_232_819);
    assert_eq!(
        attr(&span.events[0].attributes, "cache.key"),
        Some(&string("users"))
    );
    let status = span.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (2, "boom"));

    let Batch::Logs(logs) = &batches[1] else {
        panic!()
    };
    let record = &logs.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(record.time_unix_nano, 1_795_510_529_412_000_000);
    assert_eq!(record.severity_number, 9);
    assert_eq!(record.severity_text, "INFO");
    assert_eq!(
        record.body.as_ref().unwrap().value,
        Some(string("user logged in"))
    );
    assert_eq!(
        attr(&record.attributes, "user.id"),
        Some(&any_value::Value::IntValue(42))
    );
    assert_eq!(
        attr(&record.attributes, "session.new"),
        Some(&any_value::Value::BoolValue(true))
    );

    let Batch::Metrics(metrics) = &batches[2] else {
        panic!()
    };
    let ms = &metrics.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(ms.len(), 3);
    let Some(metric_data::Data::Sum(requests)) = &ms[0].data else {
        panic!()
    };
    assert_eq!(requests.aggregation_temporality, 2);
    assert!(requests.is_monotonic);
    assert_eq!(
        requests.data_points[0].value,
        Some(number_data_point::Value::AsDouble(3.0))
    );
    assert_eq!(
        attr(&requests.data_points[0].attributes, "route"),
        Some(&string("/users"))
    );
    assert_eq!(
        requests.data_points[0].time_unix_nano,
        1_795_510_529_417_000_000
    );
    let Some(metric_data::Data::Histogram(latency)) = &ms[1].data else {
        panic!()
    };
    assert_eq!(ms[1].unit, "ms");
    let p = &latency.data_points[0];
    assert_eq!(p.count, 1);
    assert_eq!((p.sum, p.min, p.max), (Some(12.5), Some(12.5), Some(12.5)));
    assert_eq!(p.bucket_counts.len(), 16);
    assert_eq!(p.bucket_counts[3], 1);
    assert_eq!(p.explicit_bounds[3], 25.0);
    let Some(metric_data::Data::Sum(depth)) = &ms[2].data else {
        panic!()
    };
    assert!(!depth.is_monotonic);
    assert_eq!(
        depth.data_points[0].value,
        Some(number_data_point::Value::AsDouble(-2.0))
    );
    assert!(depth.data_points[0].attributes.is_empty());

    receivers.shutdown().await.unwrap();
}
