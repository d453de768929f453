//! OTLP requests to Arrow record batches (one row per span, log record or metric data point),
//! and span and log rows back to OTLP requests (a whole trace for the API, exports).
//!
//! The mapping of semantic conventions to typed columns is in [`crate::schema`]. Attribute
//! values become text (see there); span events and links keep their OTLP/JSON form.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Float64Builder, Int32Array, Int32Builder,
    Int64Builder, MapArray, MapBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampNanosecondArray, TimestampNanosecondBuilder, UInt32Array, UInt32Builder,
    UInt64Builder,
};
use datafusion::arrow::datatypes::SchemaRef;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status,
    span::{Event, Link},
};
use serde_json::json;

use crate::error::{Result, StoreError};
use crate::schema::{logs_schema, metrics_schema, spans_schema};

/// The service name of a resource without `service.name` (the SDKs' default).
pub const UNKNOWN_SERVICE: &str = "unknown_service";

const SPAN_KINDS: [&str; 6] = [
    "UNSPECIFIED",
    "INTERNAL",
    "SERVER",
    "CLIENT",
    "PRODUCER",
    "CONSUMER",
];
const STATUS_CODES: [&str; 3] = ["UNSET", "OK", "ERROR"];

/// Lowercase hex of an id, the OTLP/JSON form.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses hex (either case); `None` for odd length or a non-hex digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|p| Some((digit(p[0])? << 4) | digit(p[1])?))
        .collect()
}

/// Whether `s` is a well-formed trace id: 32 hex digits.
pub fn is_trace_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The text an attribute value is stored as.
pub fn any_value_text(v: &AnyValue) -> String {
    match &v.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        None => String::new(),
        // Arrays, lists and bytes keep their OTLP/JSON shape.
        Some(_) => serde_json::to_string(v).unwrap_or_default(),
    }
}

fn ns(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn find<'a>(attrs: &'a [KeyValue], keys: &[&str]) -> Option<&'a AnyValue> {
    keys.iter()
        .find_map(|k| attrs.iter().find(|kv| kv.key == *k))
        .and_then(|kv| kv.value.as_ref())
}

fn find_text(attrs: &[KeyValue], keys: &[&str]) -> Option<String> {
    find(attrs, keys).map(any_value_text)
}

fn find_int(attrs: &[KeyValue], keys: &[&str]) -> Option<i64> {
    match &find(attrs, keys)?.value {
        Some(Value::IntValue(i)) => Some(*i),
        Some(Value::StringValue(s)) => s.trim().parse().ok(),
        Some(Value::DoubleValue(d)) if d.fract() == 0.0 => Some(*d as i64),
        _ => None,
    }
}

fn service_name(resource: Option<&Resource>) -> String {
    resource
        .and_then(|r| find_text(&r.attributes, &["service.name"]))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned())
}

/// Appends [`any_value_text`]`(v)` without building the `String` for the common kinds.
fn append_text(b: &mut StringBuilder, v: &AnyValue) {
    match &v.value {
        Some(Value::StringValue(s)) => b.append_value(s),
        Some(Value::BoolValue(x)) => b.append_value(if *x { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            // fmt::Write on a StringBuilder writes into the pending value; cannot fail.
            let _ = write!(b, "{i}");
            b.append_value("");
        }
        Some(Value::DoubleValue(d)) => {
            let _ = write!(b, "{d}");
            b.append_value("");
        }
        None => b.append_value(""),
        Some(_) => b.append_value(any_value_text(v)),
    }
}

/// The text column of a semantic-convention attribute: its value as text, or null.
fn append_found(b: &mut StringBuilder, attrs: &[KeyValue], keys: &[&str]) {
    match find(attrs, keys) {
        Some(v) => append_text(b, v),
        None => b.append_null(),
    }
}

/// Appends the lowercase hex of an id, as [`hex`] writes it.
fn append_hex(b: &mut StringBuilder, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 64];
    if bytes.len() > buf.len() / 2 {
        b.append_value(hex(bytes));
        return;
    }
    for (i, byte) in bytes.iter().enumerate() {
        buf[2 * i] = DIGITS[(byte >> 4) as usize];
        buf[2 * i + 1] = DIGITS[(byte & 15) as usize];
    }
    // Hex digits are ASCII.
    b.append_value(std::str::from_utf8(&buf[..2 * bytes.len()]).unwrap_or_default());
}

/// [`append_hex`], null for an empty id.
fn append_hex_or_null(b: &mut StringBuilder, bytes: &[u8]) {
    if bytes.is_empty() {
        b.append_null();
    } else {
        append_hex(b, bytes);
    }
}

type AttrMapBuilder = MapBuilder<StringBuilder, StringBuilder>;

fn map_builder() -> AttrMapBuilder {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

/// A map builder for `rows` rows of about `entries` attributes in all.
fn map_builder_with_capacity(rows: usize, entries: usize) -> AttrMapBuilder {
    MapBuilder::with_capacity(
        None,
        StringBuilder::with_capacity(entries, entries * 16),
        StringBuilder::with_capacity(entries, entries * 16),
        rows,
    )
}

fn append_map(b: &mut AttrMapBuilder, attrs: &[KeyValue]) -> Result<()> {
    for kv in attrs {
        b.keys().append_value(&kv.key);
        match &kv.value {
            Some(v) => append_text(b.values(), v),
            None => b.values().append_null(),
        }
    }
    b.append(true)?;
    Ok(())
}

/// JSON text of a span's events or links: `[]` for none, without serializing.
fn append_json_list<T: serde::Serialize>(
    b: &mut StringBuilder,
    items: &[T],
    scratch: &mut Vec<u8>,
) -> Result<()> {
    if items.is_empty() {
        b.append_value("[]");
        return Ok(());
    }
    scratch.clear();
    serde_json::to_writer(&mut *scratch, items).map_err(|e| StoreError::Format(e.to_string()))?;
    let text = std::str::from_utf8(scratch).map_err(|e| StoreError::Format(e.to_string()))?;
    b.append_value(text);
    Ok(())
}

fn ts_builder() -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::new().with_timezone("UTC")
}

fn ts_builder_with_capacity(n: usize) -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC")
}

fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Semantic-convention keys for each typed span column, current name first.
mod keys {
    pub const HTTP_METHOD: &[&str] = &["http.request.method", "http.method"];
    pub const HTTP_ROUTE: &[&str] = &["http.route"];
    pub const HTTP_STATUS: &[&str] = &["http.response.status_code", "http.status_code"];
    pub const URL_FULL: &[&str] = &["url.full", "http.url"];
    pub const DB_SYSTEM: &[&str] = &["db.system.name", "db.system"];
    pub const DB_STATEMENT: &[&str] = &["db.query.text", "db.statement"];
    pub const DB_OPERATION: &[&str] = &["db.operation.name", "db.operation"];
    pub const SERVER_ADDRESS: &[&str] = &["server.address", "net.peer.name"];
    pub const CLIENT_ADDRESS: &[&str] = &["client.address", "network.peer.address", "net.peer.ip"];
}

/// One row per span. Spans of every resource and scope of the request go into one batch.
pub fn spans_to_batch(req: &ExportTraceServiceRequest) -> Result<RecordBatch> {
    let (mut n, mut n_attrs, mut n_rattrs) = (0, 0, 0);
    for rs in &req.resource_spans {
        let rattrs = rs.resource.as_ref().map_or(0, |r| r.attributes.len());
        for ss in &rs.scope_spans {
            n += ss.spans.len();
            n_rattrs += rattrs * ss.spans.len();
            n_attrs += ss.spans.iter().map(|s| s.attributes.len()).sum::<usize>();
        }
    }
    let s = || StringBuilder::with_capacity(n, n * 16);
    let id = |len: usize| StringBuilder::with_capacity(n, n * len);
    let none = || StringBuilder::with_capacity(n, 0);
    let (mut trace_id, mut span_id, mut parent) = (id(32), id(16), id(16));
    let (mut state, mut name, mut kind) = (none(), s(), id(8));
    let (mut service, mut status_code, mut status_msg) = (s(), id(5), none());
    let (mut start, mut end) = (ts_builder_with_capacity(n), ts_builder_with_capacity(n));
    let mut duration = Int64Builder::with_capacity(n);
    let (mut method, mut route, mut url, mut db_sys, mut db_stmt, mut db_op) =
        (s(), s(), s(), s(), s(), s());
    let mut http_status = Int64Builder::with_capacity(n);
    let (mut server, mut client, mut scope_name, mut scope_version) = (s(), s(), s(), s());
    let mut res_attrs = map_builder_with_capacity(n, n_rattrs);
    let mut attrs = map_builder_with_capacity(n, n_attrs);
    let (mut events, mut links) = (s(), id(2));
    let mut flags = UInt32Builder::with_capacity(n);
    let mut scratch = Vec::new();

    for rs in &req.resource_spans {
        let svc = service_name(rs.resource.as_ref());
        let empty = Vec::new();
        let rattrs = rs.resource.as_ref().map_or(&empty, |r| &r.attributes);
        for ss in &rs.scope_spans {
            let scope = ss.scope.as_ref();
            for sp in &ss.spans {
                append_hex(&mut trace_id, &sp.trace_id);
                append_hex(&mut span_id, &sp.span_id);
                append_hex_or_null(&mut parent, &sp.parent_span_id);
                state.append_option(nonempty(&sp.trace_state));
                name.append_value(&sp.name);
                kind.append_value(SPAN_KINDS.get(sp.kind as usize).unwrap_or(&"UNSPECIFIED"));
                service.append_value(&svc);
                start.append_value(ns(sp.start_time_unix_nano));
                end.append_value(ns(sp.end_time_unix_nano));
                duration.append_value(ns(sp
                    .end_time_unix_nano
                    .saturating_sub(sp.start_time_unix_nano)));
                let st = sp.status.as_ref();
                let code = st.map_or(0, |s| s.code) as usize;
                status_code.append_value(STATUS_CODES.get(code).unwrap_or(&"UNSET"));
                status_msg.append_option(st.and_then(|s| nonempty(&s.message)));
                let a = &sp.attributes;
                append_found(&mut method, a, keys::HTTP_METHOD);
                append_found(&mut route, a, keys::HTTP_ROUTE);
                http_status.append_option(find_int(a, keys::HTTP_STATUS));
                append_found(&mut url, a, keys::URL_FULL);
                append_found(&mut db_sys, a, keys::DB_SYSTEM);
                append_found(&mut db_stmt, a, keys::DB_STATEMENT);
                append_found(&mut db_op, a, keys::DB_OPERATION);
                append_found(&mut server, a, keys::SERVER_ADDRESS);
                append_found(&mut client, a, keys::CLIENT_ADDRESS);
                scope_name.append_option(scope.and_then(|s| nonempty(&s.name)));
                scope_version.append_option(scope.and_then(|s| nonempty(&s.version)));
                append_map(&mut res_attrs, rattrs)?;
                append_map(&mut attrs, a)?;
                append_json_list(&mut events, &sp.events, &mut scratch)?;
                append_json_list(&mut links, &sp.links, &mut scratch)?;
                flags.append_value(sp.flags);
            }
        }
    }
    batch(
        spans_schema(),
        vec![
            Arc::new(trace_id.finish()),
            Arc::new(span_id.finish()),
            Arc::new(parent.finish()),
            Arc::new(state.finish()),
            Arc::new(name.finish()),
            Arc::new(kind.finish()),
            Arc::new(service.finish()),
            Arc::new(start.finish()),
            Arc::new(end.finish()),
            Arc::new(duration.finish()),
            Arc::new(status_code.finish()),
            Arc::new(status_msg.finish()),
            Arc::new(method.finish()),
            Arc::new(route.finish()),
            Arc::new(http_status.finish()),
            Arc::new(url.finish()),
            Arc::new(db_sys.finish()),
            Arc::new(db_stmt.finish()),
            Arc::new(db_op.finish()),
            Arc::new(server.finish()),
            Arc::new(client.finish()),
            Arc::new(scope_name.finish()),
            Arc::new(scope_version.finish()),
            Arc::new(res_attrs.finish()),
            Arc::new(attrs.finish()),
            Arc::new(events.finish()),
            Arc::new(links.finish()),
            Arc::new(flags.finish()),
        ],
    )
}

fn json_text<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Format(e.to_string()))
}

/// One row per log record.
pub fn logs_to_batch(req: &ExportLogsServiceRequest) -> Result<RecordBatch> {
    let s = StringBuilder::new;
    let (mut time, mut observed) = (ts_builder(), ts_builder());
    let mut sev_num = Int32Builder::new();
    let (mut sev_text, mut body, mut trace_id, mut span_id, mut event_name) =
        (s(), s(), s(), s(), s());
    let mut body_json = BooleanBuilder::new();
    let (mut service, mut scope_name, mut scope_version) = (s(), s(), s());
    let (mut res_attrs, mut attrs) = (map_builder(), map_builder());
    let mut flags = UInt32Builder::new();
    for rl in &req.resource_logs {
        let svc = service_name(rl.resource.as_ref());
        let empty = Vec::new();
        let rattrs = rl.resource.as_ref().map_or(&empty, |r| &r.attributes);
        for sl in &rl.scope_logs {
            let scope = sl.scope.as_ref();
            for lr in &sl.log_records {
                let t = if lr.time_unix_nano != 0 {
                    lr.time_unix_nano
                } else {
                    lr.observed_time_unix_nano
                };
                time.append_value(ns(t));
                observed.append_option(
                    (lr.observed_time_unix_nano != 0).then(|| ns(lr.observed_time_unix_nano)),
                );
                sev_num.append_value(lr.severity_number);
                sev_text.append_option(nonempty(&lr.severity_text));
                match lr.body.as_ref().map(|b| &b.value) {
                    Some(Some(Value::StringValue(text))) => {
                        body.append_value(text);
                        body_json.append_value(false);
                    }
                    Some(Some(_)) => {
                        body.append_value(json_text(
                            lr.body.as_ref().unwrap_or(&AnyValue { value: None }),
                        )?);
                        body_json.append_value(true);
                    }
                    _ => {
                        body.append_null();
                        body_json.append_value(false);
                    }
                }
                append_hex_or_null(&mut trace_id, &lr.trace_id);
                append_hex_or_null(&mut span_id, &lr.span_id);
                event_name.append_option(nonempty(&lr.event_name));
                service.append_value(&svc);
                scope_name.append_option(scope.and_then(|s| nonempty(&s.name)));
                scope_version.append_option(scope.and_then(|s| nonempty(&s.version)));
                append_map(&mut res_attrs, rattrs)?;
                append_map(&mut attrs, &lr.attributes)?;
                flags.append_value(lr.flags);
            }
        }
    }
    batch(
        logs_schema(),
        vec![
            Arc::new(time.finish()),
            Arc::new(observed.finish()),
            Arc::new(sev_num.finish()),
            Arc::new(sev_text.finish()),
            Arc::new(body.finish()),
            Arc::new(body_json.finish()),
            Arc::new(trace_id.finish()),
            Arc::new(span_id.finish()),
            Arc::new(event_name.finish()),
            Arc::new(service.finish()),
            Arc::new(scope_name.finish()),
            Arc::new(scope_version.finish()),
            Arc::new(res_attrs.finish()),
            Arc::new(attrs.finish()),
            Arc::new(flags.finish()),
        ],
    )
}

struct MetricCols {
    time: TimestampNanosecondBuilder,
    start: TimestampNanosecondBuilder,
    name: StringBuilder,
    description: StringBuilder,
    unit: StringBuilder,
    kind: StringBuilder,
    value_double: Float64Builder,
    value_int: Int64Builder,
    count: UInt64Builder,
    sum: Float64Builder,
    min: Float64Builder,
    max: Float64Builder,
    buckets: StringBuilder,
    monotonic: BooleanBuilder,
    temporality: StringBuilder,
    service: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    res_attrs: AttrMapBuilder,
    attrs: AttrMapBuilder,
    flags: UInt32Builder,
}

impl MetricCols {
    fn new() -> Self {
        MetricCols {
            time: ts_builder(),
            start: ts_builder(),
            name: StringBuilder::new(),
            description: StringBuilder::new(),
            unit: StringBuilder::new(),
            kind: StringBuilder::new(),
            value_double: Float64Builder::new(),
            value_int: Int64Builder::new(),
            count: UInt64Builder::new(),
            sum: Float64Builder::new(),
            min: Float64Builder::new(),
            max: Float64Builder::new(),
            buckets: StringBuilder::new(),
            monotonic: BooleanBuilder::new(),
            temporality: StringBuilder::new(),
            service: StringBuilder::new(),
            scope_name: StringBuilder::new(),
            scope_version: StringBuilder::new(),
            res_attrs: map_builder(),
            attrs: map_builder(),
            flags: UInt32Builder::new(),
        }
    }
}

/// What one data point contributes beyond the metric's own columns.
struct Point<'a> {
    time: u64,
    start: u64,
    attributes: &'a [KeyValue],
    value_double: Option<f64>,
    value_int: Option<i64>,
    count: Option<u64>,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    buckets: Option<serde_json::Value>,
    flags: u32,
}

impl<'a> Point<'a> {
    fn new(time: u64, start: u64, attributes: &'a [KeyValue], flags: u32) -> Self {
        Point {
            time,
            start,
            attributes,
            value_double: None,
            value_int: None,
            count: None,
            sum: None,
            min: None,
            max: None,
            buckets: None,
            flags,
        }
    }
}

fn temporality_name(t: i32) -> Option<&'static str> {
    match t {
        1 => Some("DELTA"),
        2 => Some("CUMULATIVE"),
        _ => None,
    }
}

fn buckets_json(b: Option<&Buckets>) -> serde_json::Value {
    match b {
        Some(b) => json!({"offset": b.offset, "counts": b.bucket_counts}),
        None => json!({"offset": 0, "counts": []}),
    }
}

/// One row per metric data point.
pub fn metrics_to_batch(req: &ExportMetricsServiceRequest) -> Result<RecordBatch> {
    let mut c = MetricCols::new();
    for rm in &req.resource_metrics {
        let svc = service_name(rm.resource.as_ref());
        let empty = Vec::new();
        let rattrs = rm.resource.as_ref().map_or(&empty, |r| &r.attributes);
        for sm in &rm.scope_metrics {
            let scope = sm.scope.as_ref();
            for m in &sm.metrics {
                let (kind, temporality, monotonic, points): (_, _, _, Vec<Point>) = match &m.data {
                    None => continue,
                    Some(Data::Gauge(g)) => ("gauge", None, None, number_points(&g.data_points)),
                    Some(Data::Sum(s)) => (
                        "sum",
                        temporality_name(s.aggregation_temporality),
                        Some(s.is_monotonic),
                        number_points(&s.data_points),
                    ),
                    Some(Data::Histogram(h)) => (
                        "histogram",
                        temporality_name(h.aggregation_temporality),
                        None,
                        h.data_points
                            .iter()
                            .map(|p| Point {
                                count: Some(p.count),
                                sum: p.sum,
                                min: p.min,
                                max: p.max,
                                buckets: Some(json!({
                                    "bounds": p.explicit_bounds,
                                    "counts": p.bucket_counts,
                                })),
                                ..Point::new(
                                    p.time_unix_nano,
                                    p.start_time_unix_nano,
                                    &p.attributes,
                                    p.flags,
                                )
                            })
                            .collect(),
                    ),
                    Some(Data::ExponentialHistogram(h)) => (
                        "exp_histogram",
                        temporality_name(h.aggregation_temporality),
                        None,
                        h.data_points
                            .iter()
                            .map(|p| Point {
                                count: Some(p.count),
                                sum: p.sum,
                                min: p.min,
                                max: p.max,
                                buckets: Some(json!({
                                    "scale": p.scale,
                                    "zero_count": p.zero_count,
                                    "zero_threshold": p.zero_threshold,
                                    "positive": buckets_json(p.positive.as_ref()),
                                    "negative": buckets_json(p.negative.as_ref()),
                                })),
                                ..Point::new(
                                    p.time_unix_nano,
                                    p.start_time_unix_nano,
                                    &p.attributes,
                                    p.flags,
                                )
                            })
                            .collect(),
                    ),
                    Some(Data::Summary(s)) => (
                        "summary",
                        None,
                        None,
                        s.data_points
                            .iter()
                            .map(|p| Point {
                                count: Some(p.count),
                                sum: Some(p.sum),
                                buckets: Some(json!({
                                    "quantiles": p.quantile_values.iter()
                                        .map(|q| json!({"q": q.quantile, "v": q.value}))
                                        .collect::<Vec<_>>(),
                                })),
                                ..Point::new(
                                    p.time_unix_nano,
                                    p.start_time_unix_nano,
                                    &p.attributes,
                                    p.flags,
                                )
                            })
                            .collect(),
                    ),
                };
                for p in points {
                    push_point(
                        &mut c,
                        &p,
                        m,
                        kind,
                        temporality,
                        monotonic,
                        &svc,
                        scope,
                        rattrs,
                    )?;
                }
            }
        }
    }
    batch(
        metrics_schema(),
        vec![
            Arc::new(c.time.finish()),
            Arc::new(c.start.finish()),
            Arc::new(c.name.finish()),
            Arc::new(c.description.finish()),
            Arc::new(c.unit.finish()),
            Arc::new(c.kind.finish()),
            Arc::new(c.value_double.finish()),
            Arc::new(c.value_int.finish()),
            Arc::new(c.count.finish()),
            Arc::new(c.sum.finish()),
            Arc::new(c.min.finish()),
            Arc::new(c.max.finish()),
            Arc::new(c.buckets.finish()),
            Arc::new(c.monotonic.finish()),
            Arc::new(c.temporality.finish()),
            Arc::new(c.service.finish()),
            Arc::new(c.scope_name.finish()),
            Arc::new(c.scope_version.finish()),
            Arc::new(c.res_attrs.finish()),
            Arc::new(c.attrs.finish()),
            Arc::new(c.flags.finish()),
        ],
    )
}

fn number_points(
    points: &[opentelemetry_proto::tonic::metrics::v1::NumberDataPoint],
) -> Vec<Point<'_>> {
    points
        .iter()
        .map(|p| {
            let mut pt = Point::new(
                p.time_unix_nano,
                p.start_time_unix_nano,
                &p.attributes,
                p.flags,
            );
            match p.value {
                Some(number_data_point::Value::AsDouble(d)) => pt.value_double = Some(d),
                Some(number_data_point::Value::AsInt(i)) => pt.value_int = Some(i),
                None => {}
            }
            pt
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn push_point(
    c: &mut MetricCols,
    p: &Point,
    m: &opentelemetry_proto::tonic::metrics::v1::Metric,
    kind: &str,
    temporality: Option<&str>,
    monotonic: Option<bool>,
    svc: &str,
    scope: Option<&InstrumentationScope>,
    rattrs: &[KeyValue],
) -> Result<()> {
    c.time.append_value(ns(p.time));
    c.start.append_option((p.start != 0).then(|| ns(p.start)));
    c.name.append_value(&m.name);
    c.description.append_option(nonempty(&m.description));
    c.unit.append_option(nonempty(&m.unit));
    c.kind.append_value(kind);
    c.value_double.append_option(p.value_double);
    c.value_int.append_option(p.value_int);
    c.count.append_option(p.count);
    c.sum.append_option(p.sum);
    c.min.append_option(p.min);
    c.max.append_option(p.max);
    c.buckets
        .append_option(p.buckets.as_ref().map(|b| b.to_string()));
    c.monotonic.append_option(monotonic);
    c.temporality.append_option(temporality);
    c.service.append_value(svc);
    c.scope_name
        .append_option(scope.and_then(|s| nonempty(&s.name)));
    c.scope_version
        .append_option(scope.and_then(|s| nonempty(&s.version)));
    append_map(&mut c.res_attrs, rattrs)?;
    append_map(&mut c.attrs, p.attributes)?;
    c.flags.append_value(p.flags);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Span rows back to OTLP.

fn column<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| StoreError::Format(format!("column {name} is missing or has another type")))
}

fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

fn str_or_empty(a: &StringArray, i: usize) -> String {
    opt_str(a, i).unwrap_or_default().to_owned()
}

fn map_entries(a: &MapArray, i: usize) -> Result<Vec<KeyValue>> {
    if a.is_null(i) {
        return Ok(Vec::new());
    }
    let entries = a.value(i);
    let keys = entries
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| StoreError::Format("attribute keys are not strings".into()))?;
    let values = entries
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| StoreError::Format("attribute values are not strings".into()))?;
    Ok((0..entries.len())
        .map(|j| KeyValue {
            key: keys.value(j).to_owned(),
            value: opt_str(values, j).map(|v| AnyValue {
                value: Some(Value::StringValue(v.to_owned())),
            }),
            ..Default::default()
        })
        .collect())
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Format(format!("stored JSON: {e}")))
}

/// Span rows (any subset of the `spans` columns that includes every column this function
/// reads, e.g. `SELECT *`) to an OTLP trace request, grouped by resource and scope in the
/// order they first appear. Attribute values come back as strings.
pub fn spans_to_otlp(batches: &[RecordBatch]) -> Result<ExportTraceServiceRequest> {
    let mut out: Vec<ResourceSpans> = Vec::new();
    // (resource attributes JSON, scope name, scope version) -> (resource index, scope index)
    let mut grouping = Grouping::default();
    for b in batches {
        let trace_id = column::<StringArray>(b, "trace_id")?;
        let span_id = column::<StringArray>(b, "span_id")?;
        let parent = column::<StringArray>(b, "parent_span_id")?;
        let state = column::<StringArray>(b, "trace_state")?;
        let name = column::<StringArray>(b, "name")?;
        let kind = column::<StringArray>(b, "kind")?;
        let start = column::<TimestampNanosecondArray>(b, "start_time")?;
        let end = column::<TimestampNanosecondArray>(b, "end_time")?;
        let status_code = column::<StringArray>(b, "status_code")?;
        let status_msg = column::<StringArray>(b, "status_message")?;
        let scope_name = column::<StringArray>(b, "scope_name")?;
        let scope_version = column::<StringArray>(b, "scope_version")?;
        let res_attrs = column::<MapArray>(b, "resource_attributes")?;
        let attrs = column::<MapArray>(b, "attributes")?;
        let events = column::<StringArray>(b, "events")?;
        let links = column::<StringArray>(b, "links")?;
        let flags = column::<UInt32Array>(b, "flags")?;
        for i in 0..b.num_rows() {
            let (ri, si) = grouping.place(
                &mut out,
                map_entries(res_attrs, i)?,
                (str_or_empty(scope_name, i), str_or_empty(scope_version, i)),
                |resource| ResourceSpans {
                    resource: Some(resource),
                    ..Default::default()
                },
                |rs| &mut rs.scope_spans,
                |scope| ScopeSpans {
                    scope: Some(scope),
                    ..Default::default()
                },
            )?;
            let bad_id = || StoreError::Format("stored id is not hex".into());
            let span = Span {
                trace_id: unhex(trace_id.value(i)).ok_or_else(bad_id)?,
                span_id: unhex(span_id.value(i)).ok_or_else(bad_id)?,
                parent_span_id: unhex(opt_str(parent, i).unwrap_or_default()).ok_or_else(bad_id)?,
                trace_state: str_or_empty(state, i),
                flags: flags.value(i),
                name: name.value(i).to_owned(),
                kind: SPAN_KINDS
                    .iter()
                    .position(|k| *k == kind.value(i))
                    .unwrap_or(0) as i32,
                start_time_unix_nano: start.value(i).max(0) as u64,
                end_time_unix_nano: end.value(i).max(0) as u64,
                attributes: map_entries(attrs, i)?,
                events: from_json::<Vec<Event>>(events.value(i))?,
                links: from_json::<Vec<Link>>(links.value(i))?,
                status: Some(Status {
                    code: STATUS_CODES
                        .iter()
                        .position(|c| *c == status_code.value(i))
                        .unwrap_or(0) as i32,
                    message: str_or_empty(status_msg, i),
                }),
                ..Default::default()
            };
            out[ri].scope_spans[si].spans.push(span);
        }
    }
    Ok(ExportTraceServiceRequest {
        resource_spans: out,
    })
}

/// Rows regrouped by resource and scope, in the order they first appear, as OTLP requests
/// nest them: which resource entry a row belongs to, and which scope within it. Shared by
/// [`spans_to_otlp`] and [`logs_to_otlp`].
#[derive(Default)]
struct Grouping {
    /// Resource attributes as JSON text ▸ index in the output.
    resources: HashMap<String, usize>,
    /// (resource index, scope name, scope version) ▸ index in that resource's scopes.
    scopes: HashMap<(usize, String, String), usize>,
}

impl Grouping {
    /// The (resource, scope) indices of a row with these resource attributes and this
    /// scope, adding the entries to `out` the first time they are seen.
    fn place<R, S>(
        &mut self,
        out: &mut Vec<R>,
        resource_attrs: Vec<KeyValue>,
        (name, version): (String, String),
        new_resource: impl FnOnce(Resource) -> R,
        scopes_of: impl FnOnce(&mut R) -> &mut Vec<S>,
        new_scope: impl FnOnce(InstrumentationScope) -> S,
    ) -> Result<(usize, usize)> {
        let key = json_text(&resource_attrs)?;
        let ri = *self.resources.entry(key).or_insert_with(|| {
            out.push(new_resource(Resource {
                attributes: resource_attrs,
                ..Default::default()
            }));
            out.len() - 1
        });
        let si = *self
            .scopes
            .entry((ri, name.clone(), version.clone()))
            .or_insert_with(|| {
                let list = scopes_of(&mut out[ri]);
                list.push(new_scope(InstrumentationScope {
                    name,
                    version,
                    ..Default::default()
                }));
                list.len() - 1
            });
        Ok((ri, si))
    }
}

/// Log rows (every column of the `logs` table) to an OTLP logs request, grouped by resource
/// and scope in the order they first appear: the counterpart of [`spans_to_otlp`]. A body
/// stored as OTLP/JSON (`body_is_json`) comes back with its type; attribute values come back
/// as strings.
pub fn logs_to_otlp(batches: &[RecordBatch]) -> Result<ExportLogsServiceRequest> {
    let mut out: Vec<ResourceLogs> = Vec::new();
    let mut grouping = Grouping::default();
    for b in batches {
        let time = column::<TimestampNanosecondArray>(b, "time")?;
        let observed = column::<TimestampNanosecondArray>(b, "observed_time")?;
        let sev_num = column::<Int32Array>(b, "severity_number")?;
        let sev_text = column::<StringArray>(b, "severity_text")?;
        let body = column::<StringArray>(b, "body")?;
        let body_json = column::<BooleanArray>(b, "body_is_json")?;
        let trace_id = column::<StringArray>(b, "trace_id")?;
        let span_id = column::<StringArray>(b, "span_id")?;
        let event_name = column::<StringArray>(b, "event_name")?;
        let scope_name = column::<StringArray>(b, "scope_name")?;
        let scope_version = column::<StringArray>(b, "scope_version")?;
        let res_attrs = column::<MapArray>(b, "resource_attributes")?;
        let attrs = column::<MapArray>(b, "attributes")?;
        let flags = column::<UInt32Array>(b, "flags")?;
        for i in 0..b.num_rows() {
            let (ri, si) = grouping.place(
                &mut out,
                map_entries(res_attrs, i)?,
                (str_or_empty(scope_name, i), str_or_empty(scope_version, i)),
                |resource| ResourceLogs {
                    resource: Some(resource),
                    ..Default::default()
                },
                |rl| &mut rl.scope_logs,
                |scope| ScopeLogs {
                    scope: Some(scope),
                    ..Default::default()
                },
            )?;
            let bad_id = || StoreError::Format("stored id is not hex".into());
            let body = match opt_str(body, i) {
                None => None,
                Some(text) if body_json.value(i) => Some(from_json::<AnyValue>(text)?),
                Some(text) => Some(AnyValue {
                    value: Some(Value::StringValue(text.to_owned())),
                }),
            };
            let record = LogRecord {
                time_unix_nano: time.value(i).max(0) as u64,
                observed_time_unix_nano: if observed.is_null(i) {
                    0
                } else {
                    observed.value(i).max(0) as u64
                },
                severity_number: sev_num.value(i),
                severity_text: str_or_empty(sev_text, i),
                body,
                attributes: map_entries(attrs, i)?,
                flags: flags.value(i),
                trace_id: unhex(opt_str(trace_id, i).unwrap_or_default()).ok_or_else(bad_id)?,
                span_id: unhex(opt_str(span_id, i).unwrap_or_default()).ok_or_else(bad_id)?,
                event_name: str_or_empty(event_name, i),
                ..Default::default()
            };
            out[ri].scope_logs[si].log_records.push(record);
        }
    }
    Ok(ExportLogsServiceRequest { resource_logs: out })
}

/// [`spans_to_otlp`] as OTLP/JSON: `{"resourceSpans":[{"resource":…,"scopeSpans":[…]}]}`,
/// ids in hex, 64-bit integers as strings.
pub fn spans_to_otlp_json(batches: &[RecordBatch]) -> Result<serde_json::Value> {
    serde_json::to_value(spans_to_otlp(batches)?).map_err(|e| StoreError::Format(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    use crate::generate::TraceGen;

    // The conversion as it was before it appended into the builders directly (one `String`
    // per value, per id, per typed column): the new one must give the same rows.
    fn reference_map(b: &mut AttrMapBuilder, attrs: &[KeyValue]) -> Result<()> {
        for kv in attrs {
            b.keys().append_value(&kv.key);
            match &kv.value {
                Some(v) => b.values().append_value(any_value_text(v)),
                None => b.values().append_null(),
            }
        }
        b.append(true)?;
        Ok(())
    }

    fn reference_spans_to_batch(req: &ExportTraceServiceRequest) -> Result<RecordBatch> {
        let n: usize = req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let s = || StringBuilder::with_capacity(n, n * 16);
        let (mut trace_id, mut span_id, mut parent, mut state, mut name, mut kind) =
            (s(), s(), s(), s(), s(), s());
        let (mut service, mut status_code, mut status_msg) = (s(), s(), s());
        let (mut start, mut end) = (ts_builder(), ts_builder());
        let mut duration = Int64Builder::with_capacity(n);
        let (mut method, mut route, mut url, mut db_sys, mut db_stmt, mut db_op) =
            (s(), s(), s(), s(), s(), s());
        let mut http_status = Int64Builder::with_capacity(n);
        let (mut server, mut client, mut scope_name, mut scope_version) = (s(), s(), s(), s());
        let (mut res_attrs, mut attrs) = (map_builder(), map_builder());
        let (mut events, mut links) = (s(), s());
        let mut flags = UInt32Builder::with_capacity(n);

        for rs in &req.resource_spans {
            let svc = service_name(rs.resource.as_ref());
            let empty = Vec::new();
            let rattrs = rs.resource.as_ref().map_or(&empty, |r| &r.attributes);
            for ss in &rs.scope_spans {
                let scope = ss.scope.as_ref();
                for sp in &ss.spans {
                    trace_id.append_value(hex(&sp.trace_id));
                    span_id.append_value(hex(&sp.span_id));
                    parent.append_option(nonempty(&hex(&sp.parent_span_id)));
                    state.append_option(nonempty(&sp.trace_state));
                    name.append_value(&sp.name);
                    kind.append_value(SPAN_KINDS.get(sp.kind as usize).unwrap_or(&"UNSPECIFIED"));
                    service.append_value(&svc);
                    start.append_value(ns(sp.start_time_unix_nano));
                    end.append_value(ns(sp.end_time_unix_nano));
                    duration.append_value(ns(sp
                        .end_time_unix_nano
                        .saturating_sub(sp.start_time_unix_nano)));
                    let st = sp.status.as_ref();
                    let code = st.map_or(0, |s| s.code) as usize;
                    status_code.append_value(STATUS_CODES.get(code).unwrap_or(&"UNSET"));
                    status_msg.append_option(st.and_then(|s| nonempty(&s.message)));
                    let a = &sp.attributes;
                    method.append_option(find_text(a, keys::HTTP_METHOD));
                    route.append_option(find_text(a, keys::HTTP_ROUTE));
                    http_status.append_option(find_int(a, keys::HTTP_STATUS));
                    url.append_option(find_text(a, keys::URL_FULL));
                    db_sys.append_option(find_text(a, keys::DB_SYSTEM));
                    db_stmt.append_option(find_text(a, keys::DB_STATEMENT));
                    db_op.append_option(find_text(a, keys::DB_OPERATION));
                    server.append_option(find_text(a, keys::SERVER_ADDRESS));
                    client.append_option(find_text(a, keys::CLIENT_ADDRESS));
                    scope_name.append_option(scope.and_then(|s| nonempty(&s.name)));
                    scope_version.append_option(scope.and_then(|s| nonempty(&s.version)));
                    reference_map(&mut res_attrs, rattrs)?;
                    reference_map(&mut attrs, a)?;
                    events.append_value(json_text(&sp.events)?);
                    links.append_value(json_text(&sp.links)?);
                    flags.append_value(sp.flags);
                }
            }
        }
        batch(
            spans_schema(),
            vec![
                Arc::new(trace_id.finish()),
                Arc::new(span_id.finish()),
                Arc::new(parent.finish()),
                Arc::new(state.finish()),
                Arc::new(name.finish()),
                Arc::new(kind.finish()),
                Arc::new(service.finish()),
                Arc::new(start.finish()),
                Arc::new(end.finish()),
                Arc::new(duration.finish()),
                Arc::new(status_code.finish()),
                Arc::new(status_msg.finish()),
                Arc::new(method.finish()),
                Arc::new(route.finish()),
                Arc::new(http_status.finish()),
                Arc::new(url.finish()),
                Arc::new(db_sys.finish()),
                Arc::new(db_stmt.finish()),
                Arc::new(db_op.finish()),
                Arc::new(server.finish()),
                Arc::new(client.finish()),
                Arc::new(scope_name.finish()),
                Arc::new(scope_version.finish()),
                Arc::new(res_attrs.finish()),
                Arc::new(attrs.finish()),
                Arc::new(events.finish()),
                Arc::new(links.finish()),
                Arc::new(flags.finish()),
            ],
        )
    }

    fn kv(key: &str, value: Option<Value>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value }),
            ..Default::default()
        }
    }

    /// Every kind of value, ids of every length, missing parts.
    fn odd_request() -> ExportTraceServiceRequest {
        let s = |v: &str| Some(Value::StringValue(v.into()));
        let attributes = vec![
            kv("http.request.method", s("GET")),
            kv("http.response.status_code", Some(Value::DoubleValue(404.0))),
            kv("url.full", Some(Value::IntValue(-12))),
            kv("db.system", Some(Value::BoolValue(true))),
            kv("db.statement", Some(Value::DoubleValue(0.1 + 0.2))),
            kv("db.operation", None),
            kv("server.address", Some(Value::BytesValue(vec![0, 255]))),
            kv(
                "client.address",
                Some(Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue { value: s("a") }],
                })),
            ),
            kv(
                "map",
                Some(Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", Some(Value::IntValue(1)))],
                })),
            ),
            KeyValue {
                key: "no value".into(),
                ..Default::default()
            },
            kv("f", Some(Value::DoubleValue(f64::NAN))),
            kv("g", Some(Value::DoubleValue(1e300))),
            kv("i", Some(Value::IntValue(i64::MIN))),
            kv("b", Some(Value::BoolValue(false))),
        ];
        let span = |trace_id: Vec<u8>, parent: Vec<u8>| Span {
            trace_id,
            span_id: vec![1; 8],
            parent_span_id: parent,
            trace_state: "k=v".into(),
            name: "n".into(),
            kind: 9,
            start_time_unix_nano: u64::MAX,
            end_time_unix_nano: 5,
            attributes: attributes.clone(),
            events: vec![Event {
                name: "exception".into(),
                attributes: vec![kv("exception.type", s("E"))],
                ..Default::default()
            }],
            links: vec![Link {
                trace_id: vec![2; 16],
                span_id: vec![3; 8],
                ..Default::default()
            }],
            status: Some(Status {
                code: 7,
                message: "m".into(),
            }),
            flags: 1,
            ..Default::default()
        };
        let plain = Span {
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: None,
                    scope_spans: vec![ScopeSpans {
                        scope: None,
                        spans: vec![span(vec![], vec![]), plain.clone()],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                ResourceSpans {
                    resource: Some(Resource {
                        attributes: attributes.clone(),
                        ..Default::default()
                    }),
                    scope_spans: vec![
                        ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: "s".into(),
                                version: "1".into(),
                                ..Default::default()
                            }),
                            spans: vec![span(vec![7; 40], vec![8; 33]), plain],
                            ..Default::default()
                        },
                        ScopeSpans::default(),
                    ],
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn spans_to_batch_gives_the_reference_rows() {
        let generated = TraceGen {
            traces: 50,
            ..Default::default()
        }
        .traces(0..50);
        for req in [
            generated,
            odd_request(),
            ExportTraceServiceRequest::default(),
        ] {
            let got = spans_to_batch(&req).unwrap();
            let want = reference_spans_to_batch(&req).unwrap();
            assert_eq!(got, want);
        }
    }
}
