//! Request limits and the validation pass every decoded request goes through.

use crate::model::Batch;
use crate::proto::{
    AnyValue, Exemplar, KeyValue, any_value, metric_data, resource::Resource,
    scope::InstrumentationScope,
};

/// Limits applied by the receivers. `Limits::default()` documents the defaults.
///
/// | limit | default | when exceeded |
/// | --- | --- | --- |
/// | `max_body_bytes` | 16 MiB | HTTP 413 before reading more; gRPC: see `max_decompressed_bytes` |
/// | `max_decompressed_bytes` | 64 MiB | HTTP 413 while inflating (a gzip bomb is never inflated past this); gRPC `RESOURCE_EXHAUSTED` (tonic's message size limit, checked while inflating) |
/// | `max_attributes` | 128 | spans, span events, links, log records, resources, scopes: the excess attributes are dropped and counted in `dropped_attributes_count` (as OTel SDKs do). Metric data points: the point is rejected (partial success), because dropping an attribute would merge distinct time series. Exemplars: excess `filtered_attributes` dropped |
/// | `max_attribute_value_bytes` | 16 KiB | string and bytes attribute values (also nested in arrays and maps) are truncated to this many bytes, at a UTF-8 character boundary. Log bodies are not truncated |
/// | `body_read_timeout` | 30 s | HTTP 408 when the body has not fully arrived in time (a slow sender cannot hold a request open) |
/// | `max_value_depth` | 16 | an `AnyValue` (attribute value or log body) nested deeper than this: the request is refused (400 / `INVALID_ARGUMENT`). A plain value has depth 1, an array of plain values depth 2 |
///
/// Trace ids must be empty or 16 bytes and span ids empty or 8 bytes; anything else refuses
/// the whole request (400 / `INVALID_ARGUMENT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted as sent (compressed or not), in bytes.
    pub max_body_bytes: usize,
    /// Largest request body after decompression, in bytes.
    pub max_decompressed_bytes: usize,
    /// Most attributes kept per span, event, link, log record, resource, scope or data point.
    pub max_attributes: usize,
    /// Longest string or bytes attribute value kept, in bytes.
    pub max_attribute_value_bytes: usize,
    /// Deepest `AnyValue` nesting accepted.
    pub max_value_depth: usize,
    /// Longest wait for an HTTP request body to arrive.
    pub body_read_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_attributes: 128,
            max_attribute_value_bytes: 16 * 1024,
            max_value_depth: 16,
            body_read_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// What the validation pass did to an accepted request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Items removed from the batch (data points over the attribute limit).
    pub rejected: u64,
    /// Why, for the partial-success message.
    pub message: String,
}

const TRACE_ID_LEN: usize = 16;
const SPAN_ID_LEN: usize = 8;

/// Validates and trims `batch` in place per `limits`. `Err` carries a message for the client
/// (it names fields and limits, never payload content); nothing may be passed on then.
pub(crate) fn check(batch: &mut Batch, limits: &Limits) -> Result<Checked, String> {
    let mut checked = Checked::default();
    match batch {
        Batch::Traces(req) => {
            for rs in &mut req.resource_spans {
                check_resource(rs.resource.as_mut(), limits)?;
                for ss in &mut rs.scope_spans {
                    check_scope(ss.scope.as_mut(), limits)?;
                    for span in &mut ss.spans {
                        check_id(&span.trace_id, TRACE_ID_LEN, "span trace_id")?;
                        check_id(&span.span_id, SPAN_ID_LEN, "span span_id")?;
                        check_id(&span.parent_span_id, SPAN_ID_LEN, "span parent_span_id")?;
                        trim_attributes(
                            &mut span.attributes,
                            &mut span.dropped_attributes_count,
                            limits,
                        )?;
                        for event in &mut span.events {
                            trim_attributes(
                                &mut event.attributes,
                                &mut event.dropped_attributes_count,
                                limits,
                            )?;
                        }
                        for link in &mut span.links {
                            check_id(&link.trace_id, TRACE_ID_LEN, "link trace_id")?;
                            check_id(&link.span_id, SPAN_ID_LEN, "link span_id")?;
                            trim_attributes(
                                &mut link.attributes,
                                &mut link.dropped_attributes_count,
                                limits,
                            )?;
                        }
                    }
                }
            }
        }
        Batch::Logs(req) => {
            for rl in &mut req.resource_logs {
                check_resource(rl.resource.as_mut(), limits)?;
                for sl in &mut rl.scope_logs {
                    check_scope(sl.scope.as_mut(), limits)?;
                    for record in &mut sl.log_records {
                        check_id(&record.trace_id, TRACE_ID_LEN, "log record trace_id")?;
                        check_id(&record.span_id, SPAN_ID_LEN, "log record span_id")?;
                        if let Some(body) = &record.body {
                            check_depth(body, 1, limits)?;
                        }
                        trim_attributes(
                            &mut record.attributes,
                            &mut record.dropped_attributes_count,
                            limits,
                        )?;
                    }
                }
            }
        }
        Batch::Metrics(req) => {
            let mut rejected = 0u64;
            for rm in &mut req.resource_metrics {
                check_resource(rm.resource.as_mut(), limits)?;
                for sm in &mut rm.scope_metrics {
                    check_scope(sm.scope.as_mut(), limits)?;
                    for metric in &mut sm.metrics {
                        let mut unused = 0u32;
                        trim_attributes(&mut metric.metadata, &mut unused, limits)?;
                        match &mut metric.data {
                            None => {}
                            Some(metric_data::Data::Gauge(g)) => {
                                rejected += retain_points(&mut g.data_points, limits, |p| {
                                    (&mut p.attributes, &mut p.exemplars)
                                })?;
                            }
                            Some(metric_data::Data::Sum(s)) => {
                                rejected += retain_points(&mut s.data_points, limits, |p| {
                                    (&mut p.attributes, &mut p.exemplars)
                                })?;
                            }
                            Some(metric_data::Data::Histogram(h)) => {
                                rejected += retain_points(&mut h.data_points, limits, |p| {
                                    (&mut p.attributes, &mut p.exemplars)
                                })?;
                            }
                            Some(metric_data::Data::ExponentialHistogram(h)) => {
                                rejected += retain_points(&mut h.data_points, limits, |p| {
                                    (&mut p.attributes, &mut p.exemplars)
                                })?;
                            }
                            Some(metric_data::Data::Summary(s)) => {
                                let mut no_exemplars = Vec::new();
                                let mut first_error = None;
                                let before = s.data_points.len();
                                s.data_points.retain_mut(|p| {
                                    if first_error.is_some() {
                                        return true;
                                    }
                                    match check_point(&mut p.attributes, &mut no_exemplars, limits)
                                    {
                                        Ok(keep) => keep,
                                        Err(e) => {
                                            first_error = Some(e);
                                            true
                                        }
                                    }
                                });
                                if let Some(e) = first_error {
                                    return Err(e);
                                }
                                rejected += (before - s.data_points.len()) as u64;
                            }
                        }
                    }
                }
            }
            if rejected > 0 {
                checked.rejected = rejected;
                checked.message = format!(
                    "{rejected} data points had more than {} attributes",
                    limits.max_attributes
                );
            }
        }
    }
    Ok(checked)
}

fn retain_points<P>(
    points: &mut Vec<P>,
    limits: &Limits,
    parts: impl Fn(&mut P) -> (&mut Vec<KeyValue>, &mut Vec<Exemplar>),
) -> Result<u64, String> {
    let before = points.len();
    let mut first_error = None;
    points.retain_mut(|p| {
        if first_error.is_some() {
            return true;
        }
        let (attributes, exemplars) = parts(p);
        match check_point(attributes, exemplars, limits) {
            Ok(keep) => keep,
            Err(e) => {
                first_error = Some(e);
                true
            }
        }
    });
    match first_error {
        Some(e) => Err(e),
        None => Ok((before - points.len()) as u64),
    }
}

/// `Ok(false)`: the data point has too many attributes and is dropped.
fn check_point(
    attributes: &mut [KeyValue],
    exemplars: &mut [Exemplar],
    limits: &Limits,
) -> Result<bool, String> {
    if attributes.len() > limits.max_attributes {
        return Ok(false);
    }
    for kv in attributes.iter_mut() {
        trim_value(kv.value.as_mut(), limits)?;
    }
    for exemplar in exemplars {
        check_id(&exemplar.trace_id, TRACE_ID_LEN, "exemplar trace_id")?;
        check_id(&exemplar.span_id, SPAN_ID_LEN, "exemplar span_id")?;
        let mut unused = 0u32;
        trim_attributes(&mut exemplar.filtered_attributes, &mut unused, limits)?;
    }
    Ok(true)
}

fn check_resource(resource: Option<&mut Resource>, limits: &Limits) -> Result<(), String> {
    if let Some(r) = resource {
        trim_attributes(&mut r.attributes, &mut r.dropped_attributes_count, limits)?;
    }
    Ok(())
}

fn check_scope(scope: Option<&mut InstrumentationScope>, limits: &Limits) -> Result<(), String> {
    if let Some(s) = scope {
        trim_attributes(&mut s.attributes, &mut s.dropped_attributes_count, limits)?;
    }
    Ok(())
}

fn check_id(id: &[u8], len: usize, what: &str) -> Result<(), String> {
    if id.is_empty() || id.len() == len {
        Ok(())
    } else {
        Err(format!(
            "{what} must be {len} bytes (or empty), got {} bytes",
            id.len()
        ))
    }
}

fn trim_attributes(
    attributes: &mut Vec<KeyValue>,
    dropped: &mut u32,
    limits: &Limits,
) -> Result<(), String> {
    if attributes.len() > limits.max_attributes {
        let excess = attributes.len() - limits.max_attributes;
        attributes.truncate(limits.max_attributes);
        *dropped = dropped.saturating_add(u32::try_from(excess).unwrap_or(u32::MAX));
    }
    for kv in attributes.iter_mut() {
        trim_value(kv.value.as_mut(), limits)?;
    }
    Ok(())
}

pub(crate) fn trim_value(value: Option<&mut AnyValue>, limits: &Limits) -> Result<(), String> {
    if let Some(v) = value {
        check_depth(v, 1, limits)?;
        truncate_value(v, limits.max_attribute_value_bytes);
    }
    Ok(())
}

fn check_depth(value: &AnyValue, depth: usize, limits: &Limits) -> Result<(), String> {
    if depth > limits.max_value_depth {
        return Err(format!(
            "a value is nested deeper than {} levels",
            limits.max_value_depth
        ));
    }
    match &value.value {
        Some(any_value::Value::ArrayValue(a)) => {
            for v in &a.values {
                check_depth(v, depth + 1, limits)?;
            }
        }
        Some(any_value::Value::KvlistValue(kvs)) => {
            for kv in &kvs.values {
                if let Some(v) = &kv.value {
                    check_depth(v, depth + 1, limits)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn truncate_value(value: &mut AnyValue, max: usize) {
    match &mut value.value {
        Some(any_value::Value::StringValue(s)) => truncate_str(s, max),
        Some(any_value::Value::BytesValue(b)) => b.truncate(max),
        Some(any_value::Value::ArrayValue(a)) => {
            for v in &mut a.values {
                truncate_value(v, max);
            }
        }
        Some(any_value::Value::KvlistValue(kvs)) => {
            for kv in &mut kvs.values {
                if let Some(v) = &mut kv.value {
                    truncate_value(v, max);
                }
            }
        }
        _ => {}
    }
}

/// Truncates `s` to at most `max` bytes, at a character boundary.
pub(crate) fn truncate_str(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::*;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn span(attrs: Vec<KeyValue>) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "s".into(),
            attributes: attrs,
            ..Default::default()
        }
    }

    fn traces(spans: Vec<Span>) -> Batch {
        Batch::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    fn small() -> Limits {
        Limits {
            max_attributes: 2,
            max_attribute_value_bytes: 4,
            max_value_depth: 3,
            ..Limits::default()
        }
    }

    #[test]
    fn excess_span_attributes_are_dropped_and_counted() {
        let attrs = (0..5)
            .map(|i| kv(&format!("k{i}"), any_value::Value::IntValue(i)))
            .collect();
        let mut b = traces(vec![span(attrs)]);
        assert_eq!(check(&mut b, &small()), Ok(Checked::default()));
        let Batch::Traces(r) = b else { unreachable!() };
        let s = &r.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(s.attributes.len(), 2);
        assert_eq!(s.dropped_attributes_count, 3);
    }

    #[test]
    fn long_values_are_truncated_on_char_boundaries() {
        let mut b = traces(vec![span(vec![
            kv("a", any_value::Value::StringValue("héllo".into())),
            kv("b", any_value::Value::BytesValue(vec![0; 10])),
        ])]);
        check(&mut b, &small()).unwrap();
        let Batch::Traces(r) = b else { unreachable!() };
        let s = &r.resource_spans[0].scope_spans[0].spans[0];
        // h (1 byte) + é (2 bytes) + l (1 byte) = 4 bytes.
        assert_eq!(
            s.attributes[0].value.as_ref().unwrap().value,
            Some(any_value::Value::StringValue("hél".into()))
        );
        assert_eq!(
            s.attributes[1].value.as_ref().unwrap().value,
            Some(any_value::Value::BytesValue(vec![0; 4]))
        );
        let mut t = String::from("aé");
        truncate_str(&mut t, 2);
        assert_eq!(t, "a");
    }

    #[test]
    fn deep_values_refuse_the_request() {
        let mut v = any_value::Value::IntValue(1);
        for _ in 0..3 {
            v = any_value::Value::ArrayValue(ArrayValue {
                values: vec![AnyValue { value: Some(v) }],
            });
        }
        let mut b = traces(vec![span(vec![kv("deep", v)])]);
        let err = check(&mut b, &small()).unwrap_err();
        assert!(err.contains("nested deeper than 3"), "{err}");
    }

    #[test]
    fn bad_id_lengths_refuse_the_request() {
        let mut s = span(vec![]);
        s.trace_id = vec![1; 15];
        let err = check(&mut traces(vec![s]), &small()).unwrap_err();
        assert!(err.contains("trace_id must be 16 bytes"), "{err}");
    }

    #[test]
    fn data_points_over_the_attribute_limit_are_rejected() {
        let point = |n: i64| NumberDataPoint {
            attributes: (0..n)
                .map(|i| kv(&format!("k{i}"), any_value::Value::IntValue(i)))
                .collect(),
            ..Default::default()
        };
        let mut b = Batch::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "m".into(),
                        data: Some(metric_data::Data::Gauge(Gauge {
                            data_points: vec![point(1), point(3), point(2)],
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        let checked = check(&mut b, &small()).unwrap();
        assert_eq!(checked.rejected, 1);
        assert!(checked.message.contains("more than 2 attributes"));
        assert_eq!(b.item_count(), 2);
    }
}
