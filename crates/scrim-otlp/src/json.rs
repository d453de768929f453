//! OTLP/JSON decoding and encoding.
//!
//! OTLP/JSON is the protobuf JSON mapping with three differences (OTLP specification,
//! "JSON Protobuf Encoding"): trace and span ids are hex strings, not base64; enums are
//! integers only; field names are lowerCamelCase only. Receivers ignore unknown fields, and
//! 64-bit integers are accepted as JSON numbers or decimal strings.
//!
//! `opentelemetry-proto`'s serde derives (feature `with-serde`) implement that mapping, with
//! one gap this module fills: `ArrayValue`, `KeyValueList` and `KeyValue` are not marked
//! `#[serde(default)]`, so a protobuf-default field left out by the sender (`"values"` of
//! an empty array or map, `"key"` of a `KeyValue`) fails to decode although the JSON
//! mapping allows it. [`decode`] adds those defaults before deserialising. The tests below
//! and `tests/json_sdk.rs` (OTLP/JSON written by the official JavaScript SDK) pin the
//! mapping.
//!
//! Error messages describe where and what kind of problem, never the payload content:
//! serde's messages quote offending values, so they are reduced to their "expected ..."
//! part.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::{Batch, Signal};
use crate::proto::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest,
};

/// Decodes an OTLP/JSON request body for `signal`. The error names the problem and its
/// position, without payload content.
pub fn decode(signal: Signal, body: &[u8]) -> Result<Batch, String> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| describe(&e))?;
    if !value.is_object() {
        return Err("invalid JSON: the request must be a JSON object".into());
    }
    add_defaults(&mut value, Context::Other);
    Ok(match signal {
        Signal::Traces => Batch::Traces(from_value::<ExportTraceServiceRequest>(value)?),
        Signal::Logs => Batch::Logs(from_value::<ExportLogsServiceRequest>(value)?),
        Signal::Metrics => Batch::Metrics(from_value::<ExportMetricsServiceRequest>(value)?),
    })
}

/// Encodes a batch as OTLP/JSON.
pub fn encode(batch: &Batch) -> Vec<u8> {
    let result = match batch {
        Batch::Traces(r) => serde_json::to_vec(r),
        Batch::Logs(r) => serde_json::to_vec(r),
        Batch::Metrics(r) => serde_json::to_vec(r),
    };
    // The generated types serialise infallibly (no maps with non-string keys).
    result.unwrap_or_default()
}

fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| describe(&e))
}

/// Where a JSON object sits, as far as the defaults to add are concerned.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    /// An `AnyValue` object (`{"stringValue": ...}`, `{"arrayValue": ...}`).
    AnyValue,
    /// Inside a list of `KeyValue`s.
    KeyValue,
    Other,
}

/// Keys whose value is an array of `KeyValue` objects.
fn is_key_value_list(key: &str) -> bool {
    matches!(key, "attributes" | "filteredAttributes" | "metadata")
}

fn add_defaults(value: &mut Value, ctx: Context) {
    match value {
        Value::Object(map) => {
            if ctx == Context::KeyValue && !map.contains_key("key") {
                map.insert("key".into(), Value::String(String::new()));
            }
            for (key, child) in map.iter_mut() {
                match (ctx, key.as_str()) {
                    (Context::AnyValue, "arrayValue") => {
                        if let Value::Object(inner) = child {
                            inner
                                .entry("values")
                                .or_insert_with(|| Value::Array(Vec::new()));
                            if let Some(Value::Array(values)) = inner.get_mut("values") {
                                for v in values {
                                    add_defaults(v, Context::AnyValue);
                                }
                            }
                        }
                    }
                    (Context::AnyValue, "kvlistValue") => {
                        if let Value::Object(inner) = child {
                            inner
                                .entry("values")
                                .or_insert_with(|| Value::Array(Vec::new()));
                            if let Some(Value::Array(values)) = inner.get_mut("values") {
                                for v in values {
                                    add_defaults(v, Context::KeyValue);
                                }
                            }
                        }
                    }
                    (Context::KeyValue, "value") | (_, "body") => {
                        add_defaults(child, Context::AnyValue)
                    }
                    (_, k) if is_key_value_list(k) => {
                        if let Value::Array(items) = child {
                            for item in items {
                                add_defaults(item, Context::KeyValue);
                            }
                        }
                    }
                    _ => add_defaults(child, Context::Other),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                add_defaults(item, Context::Other);
            }
        }
        _ => {}
    }
}

/// A client-facing description of a JSON error, without payload content.
fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = if e.line() > 0 {
        format!(" at line {} column {}", e.line(), e.column())
    } else {
        String::new()
    };
    match e.classify() {
        Category::Syntax => format!("invalid JSON syntax{at}"),
        Category::Eof => format!("invalid JSON: unexpected end of input{at}"),
        Category::Io => "invalid JSON: could not read the body".into(),
        Category::Data => {
            let text = e.to_string();
            // serde's own text for a missing field names the schema field, not data.
            if let Some(rest) = text.strip_prefix("missing field `")
                && let Some(field) = rest.split('`').next()
                && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return format!("JSON does not match the OTLP schema: missing field `{field}`{at}");
            }
            // "invalid type: string \"...\", expected u64" → keep only the expectation,
            // which comes from the schema; the quoted part may be payload.
            let expected = text
                .split_once(", expected ")
                .map(|(_, exp)| exp.split(" at line ").next().unwrap_or(exp))
                .filter(|exp| !exp.contains('"') && exp.len() <= 120);
            match expected {
                Some(exp) => format!("JSON does not match the OTLP schema: expected {exp}{at}"),
                None => format!("JSON does not match the OTLP schema{at}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::*;

    fn traces(json: &str) -> Result<ExportTraceServiceRequest, String> {
        match decode(Signal::Traces, json.as_bytes())? {
            Batch::Traces(r) => Ok(r),
            _ => unreachable!(),
        }
    }

    fn one_span(r: &ExportTraceServiceRequest) -> &Span {
        &r.resource_spans[0].scope_spans[0].spans[0]
    }

    #[test]
    fn ids_are_hex_enums_integers_and_int64_strings_or_numbers() {
        let r = traces(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
                "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174",
                "parentSpanId":"","name":"x","kind":3,
                "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
                "attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"m","value":{"intValue":7}},
                  {"key":"b","value":{"bytesValue":"AQID"}}],
                "status":{"code":2},"unknownField":{"ignored":true}}]}]}]}"#,
        )
        .unwrap();
        let s = one_span(&r);
        assert_eq!(
            s.trace_id,
            vec![
                0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
                0xc6, 0x0c
            ]
        );
        assert_eq!(
            s.span_id,
            vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
        );
        assert!(s.parent_span_id.is_empty());
        assert_eq!(s.kind, 3);
        assert_eq!(s.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(s.end_time_unix_nano, 1_544_712_661_000_000_000);
        let vals: Vec<_> = s
            .attributes
            .iter()
            .map(|kv| kv.value.clone().unwrap().value.unwrap())
            .collect();
        assert_eq!(
            vals,
            vec![
                any_value::Value::IntValue(42),
                any_value::Value::IntValue(7),
                any_value::Value::BytesValue(vec![1, 2, 3]),
            ]
        );
        assert_eq!(s.status.as_ref().unwrap().code, 2);
    }

    #[test]
    fn omitted_default_fields_decode() {
        let r = traces(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"","spanId":"",
                "attributes":[{"value":{"arrayValue":{}}},{"key":"m","value":{"kvlistValue":{}}},
                  {"key":"n","value":{"kvlistValue":{"values":[{"value":{"arrayValue":{}}}]}}},
                  {"key":"e"}]}]}]}]}"#,
        )
        .unwrap();
        let s = one_span(&r);
        assert_eq!(s.attributes.len(), 4);
        assert_eq!(s.attributes[0].key, "");
        assert_eq!(
            s.attributes[0].value.clone().unwrap().value,
            Some(any_value::Value::ArrayValue(ArrayValue { values: vec![] }))
        );
        assert!(s.attributes[3].value.is_none());
        assert!(traces("{}").unwrap().resource_spans.is_empty());
    }

    /// Why `add_defaults` exists: the generated serde derives refuse these. Should this test
    /// fail after an `opentelemetry-proto` upgrade, the gap is fixed upstream and
    /// `add_defaults` can go.
    #[test]
    fn upstream_serde_needs_the_added_defaults() {
        assert!(serde_json::from_str::<ArrayValue>("{}").is_err());
        assert!(serde_json::from_str::<KeyValueList>("{}").is_err());
        assert!(serde_json::from_str::<KeyValue>(r#"{"value":{"intValue":1}}"#).is_err());
    }

    #[test]
    fn base64_ids_are_refused() {
        let err = traces(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"W47/95gDgQPSabYzgT/GDA=="}]}]}]}"#)
            .unwrap_err();
        assert!(
            err.starts_with("JSON does not match the OTLP schema"),
            "{err}"
        );
    }

    #[test]
    fn errors_never_echo_payload() {
        let secret = "4111111111111111-secret";
        let bodies = [
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":{{"{secret}":1}}}}]}}]}}]}}"#
            ),
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"kind":"{secret}"}}]}}]}}]}}"#
            ),
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"startTimeUnixNano":"{secret}"}}]}}]}}]}}"#
            ),
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{secret}"}}]}}]}}]}}"#
            ),
            format!(r#"{{"resourceSpans": {secret}"#),
            format!(r#"["{secret}"]"#),
        ];
        for body in &bodies {
            let err = decode(Signal::Traces, body.as_bytes()).unwrap_err();
            assert!(!err.contains("4111"), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
        let err = decode(Signal::Traces, bodies[1].as_bytes()).unwrap_err();
        assert!(err.contains("expected i32"), "{err}");
    }

    #[test]
    fn encode_round_trips() {
        let r = traces(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
            "spanId":"eee19b7ec3c1b174","name":"x","startTimeUnixNano":"1"}]}]}]}"#,
        )
        .unwrap();
        let json = encode(&Batch::Traces(r.clone()));
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(
            text.contains(r#""traceId":"5b8efff798038103d269b633813fc60c""#),
            "{text}"
        );
        assert_eq!(decode(Signal::Traces, &json).unwrap(), Batch::Traces(r));
    }

    #[test]
    fn doubles_decode_to_the_value_sent() {
        // 0.22755268099999998 decoded as 0.227552681 without serde_json's float_roundtrip
        // (found by the demo generator's histogram sums).
        let r = traces(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
            "spanId":"eee19b7ec3c1b174","name":"x","attributes":[{"key":"d","value":{"doubleValue":0.22755268099999998}}]}]}]}]}"#,
        )
        .unwrap();
        let value = one_span(&r).attributes[0]
            .value
            .clone()
            .unwrap()
            .value
            .unwrap();
        assert_eq!(
            value,
            opentelemetry_proto::tonic::common::v1::any_value::Value::DoubleValue(
                0.22755268099999998
            )
        );
    }
}
