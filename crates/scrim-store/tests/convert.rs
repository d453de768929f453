//! OTLP → Arrow → OTLP/JSON round trips.

use datafusion::arrow::array::{
    Array, BooleanArray, Float64Array, Int64Array, MapArray, StringArray, UInt64Array,
};
use datafusion::arrow::record_batch::RecordBatch;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status,
    span::{Event, Link},
};
use scrim_store::convert::{
    hex, logs_to_batch, metrics_to_batch, spans_to_batch, spans_to_otlp, spans_to_otlp_json, unhex,
};
use scrim_store::generate::{kv, kv_int, resource};
use scrim_store::schema::{Signal, logs_schema, metrics_schema, spans_schema};

fn strings<'a>(b: &'a RecordBatch, name: &str) -> &'a StringArray {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap()
}

fn map_value(b: &RecordBatch, name: &str, row: usize, key: &str) -> Option<String> {
    let m: &MapArray = b
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    let e = m.value(row);
    let k: &StringArray = e.column(0).as_any().downcast_ref().unwrap();
    let v: &StringArray = e.column(1).as_any().downcast_ref().unwrap();
    (0..k.len())
        .find(|&i| k.value(i) == key)
        .map(|i| v.value(i).to_owned())
}

/// Every field the spans schema holds, attributes as strings (what comes back).
fn full_trace_request() -> ExportTraceServiceRequest {
    let tid: Vec<u8> = (1..=16).collect();
    let span = |id: u8, parent: Option<u8>, name: &str| Span {
        trace_id: tid.clone(),
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        trace_state: "vendor=abc".into(),
        flags: 0x101,
        name: name.into(),
        kind: 2,
        start_time_unix_nano: 1_767_225_600_000_000_000 + id as u64,
        end_time_unix_nano: 1_767_225_600_250_000_000 + id as u64,
        attributes: vec![
            kv("http.method", "POST"),
            kv("http.status_code", "503"),
            kv("db.statement", "SELECT a FROM t WHERE b = ?"),
            kv("net.peer.name", "db.local"),
            kv("network.peer.address", "10.1.2.0"),
        ],
        events: vec![Event {
            time_unix_nano: 1_767_225_600_100_000_000,
            name: "exception".into(),
            // Event attributes keep their types: they are stored as OTLP/JSON.
            attributes: vec![kv("exception.type", "Timeout"), kv_int("retry", 3)],
            dropped_attributes_count: 0,
        }],
        links: vec![Link {
            trace_id: vec![9; 16],
            span_id: vec![8; 8],
            trace_state: "x=y".into(),
            attributes: vec![kv("link.kind", "follows")],
            dropped_attributes_count: 0,
            flags: 1,
        }],
        status: Some(Status {
            code: 2,
            message: "upstream timeout".into(),
        }),
        ..Default::default()
    };
    let scope = |name: &str| {
        Some(InstrumentationScope {
            name: name.into(),
            version: "2.1".into(),
            ..Default::default()
        })
    };
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(resource("frontend")),
                scope_spans: vec![
                    ScopeSpans {
                        scope: scope("http"),
                        spans: vec![span(1, None, "POST /pay"), span(2, Some(1), "auth")],
                        ..Default::default()
                    },
                    ScopeSpans {
                        scope: scope("db"),
                        spans: vec![span(3, Some(1), "SELECT t")],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
            ResourceSpans {
                resource: Some(resource("payments")),
                scope_spans: vec![ScopeSpans {
                    scope: scope("http"),
                    spans: vec![span(4, Some(3), "charge")],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    }
}

#[test]
fn spans_round_trip_through_arrow_to_otlp() {
    let req = full_trace_request();
    let batch = spans_to_batch(&req).unwrap();
    assert_eq!(batch.schema(), spans_schema());
    assert_eq!(batch.num_rows(), 4);
    let back = spans_to_otlp(std::slice::from_ref(&batch)).unwrap();
    assert_eq!(back, req, "every field the schema holds comes back");

    // Typed columns come from current and legacy names alike.
    assert_eq!(
        strings(&batch, "trace_id").value(0),
        hex(&(1..=16).collect::<Vec<u8>>())
    );
    assert!(strings(&batch, "parent_span_id").is_null(0));
    assert_eq!(strings(&batch, "kind").value(0), "SERVER");
    assert_eq!(strings(&batch, "status_code").value(0), "ERROR");
    assert_eq!(strings(&batch, "service_name").value(3), "payments");
    assert_eq!(strings(&batch, "http_method").value(0), "POST");
    assert_eq!(
        strings(&batch, "db_statement").value(0),
        "SELECT a FROM t WHERE b = ?"
    );
    assert_eq!(strings(&batch, "server_address").value(0), "db.local");
    assert_eq!(strings(&batch, "client_address").value(0), "10.1.2.0");
    let status: &Int64Array = batch
        .column_by_name("http_status_code")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert_eq!(status.value(0), 503);
    let dur: &Int64Array = batch
        .column_by_name("duration_ns")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert_eq!(dur.value(0), 250_000_000);
    assert_eq!(
        map_value(&batch, "resource_attributes", 0, "service.name").as_deref(),
        Some("frontend")
    );
}

#[test]
fn otlp_json_has_the_otlp_shape_with_hex_ids() {
    let batch = spans_to_batch(&full_trace_request()).unwrap();
    let json = spans_to_otlp_json(&[batch]).unwrap();
    let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], "0102030405060708090a0b0c0d0e0f10");
    assert_eq!(span["spanId"], "0101010101010101");
    assert_eq!(span["parentSpanId"], "");
    assert_eq!(span["kind"], 2);
    assert_eq!(span["startTimeUnixNano"], "1767225600000000001");
    assert_eq!(span["status"]["code"], 2);
    assert_eq!(span["events"][0]["attributes"][1]["value"]["intValue"], "3");
    assert_eq!(span["links"][0]["traceId"], "09".repeat(16));
    assert_eq!(
        json["resourceSpans"][1]["resource"]["attributes"][0]["value"]["stringValue"],
        "payments"
    );
    // And it parses back as an OTLP request.
    let parsed: ExportTraceServiceRequest = serde_json::from_value(json).unwrap();
    assert_eq!(parsed, full_trace_request());
}

#[test]
fn non_string_attributes_are_stored_as_text() {
    let mut req = full_trace_request();
    let attrs = &mut req.resource_spans[0].scope_spans[0].spans[0].attributes;
    attrs.push(kv_int("http.response.status_code", 404));
    attrs.push(scrim_store::generate::kv("flag", "x"));
    attrs.last_mut().unwrap().value = Some(AnyValue {
        value: Some(Value::BoolValue(true)),
    });
    let batch = spans_to_batch(&req).unwrap();
    assert_eq!(
        map_value(&batch, "attributes", 0, "flag").as_deref(),
        Some("true")
    );
    assert_eq!(
        map_value(&batch, "attributes", 0, "http.response.status_code").as_deref(),
        Some("404")
    );
    let status: &Int64Array = batch
        .column_by_name("http_status_code")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert_eq!(
        status.value(0),
        404,
        "the current name wins over the legacy one"
    );
}

#[test]
fn hex_round_trips_and_rejects_garbage() {
    let id: Vec<u8> = (0..=255).collect();
    assert_eq!(unhex(&hex(&id)).unwrap(), id);
    assert_eq!(unhex("ABcd").unwrap(), vec![0xab, 0xcd]);
    assert!(unhex("abc").is_none());
    assert!(unhex("zz").is_none());
    assert!(unhex("é0").is_none());
}

#[test]
fn logs_keep_string_bodies_and_json_encode_the_others() {
    let record = |body: Value| LogRecord {
        time_unix_nano: 10,
        observed_time_unix_nano: 11,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(AnyValue { value: Some(body) }),
        attributes: vec![kv("code.function", "pay")],
        trace_id: vec![7; 16],
        span_id: vec![6; 8],
        ..Default::default()
    };
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource("frontend")),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(Value::StringValue("payment failed".into())),
                    record(Value::KvlistValue(KeyValueList {
                        values: vec![kv("order", "o-1")],
                    })),
                    LogRecord {
                        observed_time_unix_nano: 99,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let b = logs_to_batch(&req).unwrap();
    assert_eq!(b.schema(), logs_schema());
    let body = strings(&b, "body");
    let is_json: &BooleanArray = b
        .column_by_name("body_is_json")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert_eq!(body.value(0), "payment failed");
    assert!(!is_json.value(0));
    assert!(is_json.value(1));
    let v: serde_json::Value = serde_json::from_str(body.value(1)).unwrap();
    assert_eq!(v["kvlistValue"]["values"][0]["value"]["stringValue"], "o-1");
    assert!(body.is_null(2));
    assert_eq!(strings(&b, "trace_id").value(0), "07".repeat(16));
    assert!(strings(&b, "trace_id").is_null(2));
    assert_eq!(strings(&b, "service_name").value(0), "frontend");
    let time = b
        .column_by_name("time")
        .unwrap()
        .as_any()
        .downcast_ref::<datafusion::arrow::array::TimestampNanosecondArray>()
        .unwrap();
    assert_eq!(time.value(2), 99, "no time: the observed time stands in");
    assert_eq!(
        map_value(&b, "attributes", 0, "code.function").as_deref(),
        Some("pay")
    );
}

#[test]
fn every_metric_type_becomes_rows() {
    let point = |v| NumberDataPoint {
        time_unix_nano: 100,
        start_time_unix_nano: 50,
        attributes: vec![kv("route", "/a")],
        value: Some(v),
        ..Default::default()
    };
    let metric = |name: &str, data| Metric {
        name: name.into(),
        description: "d".into(),
        unit: "ms".into(),
        data: Some(data),
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource("api")),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric(
                        "g",
                        Data::Gauge(Gauge {
                            data_points: vec![point(number_data_point::Value::AsDouble(1.5))],
                        }),
                    ),
                    metric(
                        "s",
                        Data::Sum(Sum {
                            data_points: vec![point(number_data_point::Value::AsInt(7))],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        }),
                    ),
                    metric(
                        "h",
                        Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                time_unix_nano: 100,
                                count: 3,
                                sum: Some(6.0),
                                bucket_counts: vec![1, 2],
                                explicit_bounds: vec![2.5],
                                min: Some(1.0),
                                max: Some(3.0),
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        }),
                    ),
                    metric(
                        "e",
                        Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                time_unix_nano: 100,
                                count: 4,
                                scale: 2,
                                zero_count: 1,
                                positive: Some(Buckets {
                                    offset: -1,
                                    bucket_counts: vec![1, 2],
                                }),
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                        }),
                    ),
                    metric(
                        "q",
                        Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                time_unix_nano: 100,
                                count: 2,
                                sum: 9.0,
                                quantile_values: vec![ValueAtQuantile {
                                    quantile: 0.99,
                                    value: 8.0,
                                }],
                                ..Default::default()
                            }],
                        }),
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let b = metrics_to_batch(&req).unwrap();
    assert_eq!(b.schema(), metrics_schema());
    assert_eq!(b.num_rows(), 5);
    let types: Vec<&str> = (0..5).map(|i| strings(&b, "type").value(i)).collect();
    assert_eq!(
        types,
        ["gauge", "sum", "histogram", "exp_histogram", "summary"]
    );
    let vd: &Float64Array = b
        .column_by_name("value_double")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    let vi: &Int64Array = b
        .column_by_name("value_int")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    let count: &UInt64Array = b
        .column_by_name("count")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    let mono: &BooleanArray = b
        .column_by_name("is_monotonic")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert_eq!(vd.value(0), 1.5);
    assert!(vi.is_null(0));
    assert_eq!(vi.value(1), 7);
    assert!(mono.value(1));
    assert_eq!(strings(&b, "temporality").value(1), "CUMULATIVE");
    assert_eq!(strings(&b, "temporality").value(2), "DELTA");
    assert_eq!(count.value(2), 3);
    let h: serde_json::Value = serde_json::from_str(strings(&b, "buckets").value(2)).unwrap();
    assert_eq!(h, serde_json::json!({"bounds": [2.5], "counts": [1, 2]}));
    let e: serde_json::Value = serde_json::from_str(strings(&b, "buckets").value(3)).unwrap();
    assert_eq!(
        e["positive"],
        serde_json::json!({"offset": -1, "counts": [1, 2]})
    );
    let q: serde_json::Value = serde_json::from_str(strings(&b, "buckets").value(4)).unwrap();
    assert_eq!(q["quantiles"][0]["v"], 8.0);
    assert_eq!(strings(&b, "service_name").value(4), "api");
    assert_eq!(
        map_value(&b, "attributes", 0, "route").as_deref(),
        Some("/a")
    );
    assert_eq!(Signal::Metrics.time_column(), "time");
}
