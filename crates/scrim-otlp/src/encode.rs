//! Protobuf encoding of trace requests, byte for byte what `prost` writes, in two passes.
//!
//! `prost` writes a nested message's length before the message, and computes that length
//! again at every level it is nested under: a span's attributes are measured once for the
//! request, once for their resource, once for their scope, once for the span and once for
//! the attribute itself. On a 512-span request that walk cost about as much as writing
//! the bytes. Here the length of every span, scope and resource is measured once (pass
//! one, kept in a `Vec`), then the bytes are written (pass two). Attribute values of the
//! scalar kinds are measured without recursion; the rare nested parts (resources, scopes,
//! events, links, status, array and map values) are left to `prost`.
//!
//! The field lists are destructured without `..`, so a field added to the generated types
//! fails to compile here instead of being left out. The tests check the bytes against
//! `prost`'s.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least 1.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(mut v: u64, buf: &mut Vec<u8>) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn key_len(tag: u32) -> usize {
    varint_len(u64::from(tag << 3))
}

fn put_key(tag: u32, wire: u32, buf: &mut Vec<u8>) {
    put_varint(u64::from((tag << 3) | wire), buf);
}

/// A length-delimited field of `len` bytes, key and length prefix included.
fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + varint_len(len as u64) + len
}

fn put_delimited(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    put_key(tag, LEN, buf);
    put_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

/// A proto3 `string`/`bytes` field: absent when empty.
fn opt_bytes_len(tag: u32, bytes: &[u8]) -> usize {
    if bytes.is_empty() {
        0
    } else {
        delimited_len(tag, bytes.len())
    }
}

fn put_opt_bytes(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    if !bytes.is_empty() {
        put_delimited(tag, bytes, buf);
    }
}

/// `int32` and enumerations: sign-extended to 64 bits. Absent when 0.
fn opt_int32_len(tag: u32, v: i32) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + varint_len(v as i64 as u64)
    }
}

fn put_opt_int32(tag: u32, v: i32, buf: &mut Vec<u8>) {
    if v != 0 {
        put_key(tag, VARINT, buf);
        put_varint(v as i64 as u64, buf);
    }
}

fn opt_uint32_len(tag: u32, v: u32) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + varint_len(u64::from(v))
    }
}

fn put_opt_uint32(tag: u32, v: u32, buf: &mut Vec<u8>) {
    if v != 0 {
        put_key(tag, VARINT, buf);
        put_varint(u64::from(v), buf);
    }
}

fn opt_fixed64_len(tag: u32, v: u64) -> usize {
    if v == 0 { 0 } else { key_len(tag) + 8 }
}

fn put_opt_fixed64(tag: u32, v: u64, buf: &mut Vec<u8>) {
    if v != 0 {
        put_key(tag, FIXED64, buf);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

fn opt_fixed32_len(tag: u32, v: u32) -> usize {
    if v == 0 { 0 } else { key_len(tag) + 4 }
}

fn put_opt_fixed32(tag: u32, v: u32, buf: &mut Vec<u8>) {
    if v != 0 {
        put_key(tag, FIXED32, buf);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// A message field written by `prost` (the rare, nested parts).
fn message_len<M: Message>(tag: u32, m: &M) -> usize {
    delimited_len(tag, m.encoded_len())
}

fn put_message<M: Message>(tag: u32, m: &M, buf: &mut Vec<u8>) {
    put_key(tag, LEN, buf);
    // Writing into a Vec cannot run out of room.
    let _ = m.encode_length_delimited(buf);
}

/// Body length of an `AnyValue`. A oneof variant is written even when it holds a default.
fn any_value_len(v: &AnyValue) -> usize {
    let AnyValue { value } = v;
    match value {
        None => 0,
        Some(Value::StringValue(s)) => delimited_len(1, s.len()),
        Some(Value::BoolValue(_)) => key_len(2) + 1,
        Some(Value::IntValue(i)) => key_len(3) + varint_len(*i as u64),
        Some(Value::DoubleValue(_)) => key_len(4) + 8,
        Some(Value::ArrayValue(a)) => message_len(5, a),
        Some(Value::KvlistValue(l)) => message_len(6, l),
        Some(Value::BytesValue(b)) => delimited_len(7, b.len()),
        Some(Value::StringValueStrindex(i)) => key_len(8) + varint_len(*i as i64 as u64),
    }
}

fn put_any_value(v: &AnyValue, buf: &mut Vec<u8>) {
    let AnyValue { value } = v;
    match value {
        None => {}
        Some(Value::StringValue(s)) => put_delimited(1, s.as_bytes(), buf),
        Some(Value::BoolValue(b)) => {
            put_key(2, VARINT, buf);
            buf.push(u8::from(*b));
        }
        Some(Value::IntValue(i)) => {
            put_key(3, VARINT, buf);
            put_varint(*i as u64, buf);
        }
        Some(Value::DoubleValue(d)) => {
            put_key(4, FIXED64, buf);
            buf.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Some(Value::ArrayValue(a)) => put_message(5, a, buf),
        Some(Value::KvlistValue(l)) => put_message(6, l, buf),
        Some(Value::BytesValue(b)) => put_delimited(7, b, buf),
        Some(Value::StringValueStrindex(i)) => {
            put_key(8, VARINT, buf);
            put_varint(*i as i64 as u64, buf);
        }
    }
}

fn key_value_len(kv: &KeyValue) -> usize {
    let KeyValue {
        key,
        value,
        key_strindex,
    } = kv;
    opt_bytes_len(1, key.as_bytes())
        + value
            .as_ref()
            .map_or(0, |v| delimited_len(2, any_value_len(v)))
        + opt_int32_len(3, *key_strindex)
}

fn put_key_value(kv: &KeyValue, buf: &mut Vec<u8>) {
    let KeyValue {
        key,
        value,
        key_strindex,
    } = kv;
    put_opt_bytes(1, key.as_bytes(), buf);
    if let Some(v) = value {
        put_key(2, LEN, buf);
        put_varint(any_value_len(v) as u64, buf);
        put_any_value(v, buf);
    }
    put_opt_int32(3, *key_strindex, buf);
}

fn attributes_len(tag: u32, attrs: &[KeyValue]) -> usize {
    attrs
        .iter()
        .map(|kv| delimited_len(tag, key_value_len(kv)))
        .sum()
}

fn put_attributes(tag: u32, attrs: &[KeyValue], buf: &mut Vec<u8>) {
    for kv in attrs {
        put_key(tag, LEN, buf);
        put_varint(key_value_len(kv) as u64, buf);
        put_key_value(kv, buf);
    }
}

fn span_len(span: &Span) -> usize {
    let Span {
        trace_id,
        span_id,
        trace_state,
        parent_span_id,
        flags,
        name,
        kind,
        start_time_unix_nano,
        end_time_unix_nano,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        status,
    } = span;
    opt_bytes_len(1, trace_id)
        + opt_bytes_len(2, span_id)
        + opt_bytes_len(3, trace_state.as_bytes())
        + opt_bytes_len(4, parent_span_id)
        + opt_bytes_len(5, name.as_bytes())
        + opt_int32_len(6, *kind)
        + opt_fixed64_len(7, *start_time_unix_nano)
        + opt_fixed64_len(8, *end_time_unix_nano)
        + attributes_len(9, attributes)
        + opt_uint32_len(10, *dropped_attributes_count)
        + events.iter().map(|e| message_len(11, e)).sum::<usize>()
        + opt_uint32_len(12, *dropped_events_count)
        + links.iter().map(|l| message_len(13, l)).sum::<usize>()
        + opt_uint32_len(14, *dropped_links_count)
        + status.as_ref().map_or(0, |s| message_len(15, s))
        + opt_fixed32_len(16, *flags)
}

fn put_span(span: &Span, buf: &mut Vec<u8>) {
    let Span {
        trace_id,
        span_id,
        trace_state,
        parent_span_id,
        flags,
        name,
        kind,
        start_time_unix_nano,
        end_time_unix_nano,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        status,
    } = span;
    put_opt_bytes(1, trace_id, buf);
    put_opt_bytes(2, span_id, buf);
    put_opt_bytes(3, trace_state.as_bytes(), buf);
    put_opt_bytes(4, parent_span_id, buf);
    put_opt_bytes(5, name.as_bytes(), buf);
    put_opt_int32(6, *kind, buf);
    put_opt_fixed64(7, *start_time_unix_nano, buf);
    put_opt_fixed64(8, *end_time_unix_nano, buf);
    put_attributes(9, attributes, buf);
    put_opt_uint32(10, *dropped_attributes_count, buf);
    for e in events {
        put_message(11, e, buf);
    }
    put_opt_uint32(12, *dropped_events_count, buf);
    for l in links {
        put_message(13, l, buf);
    }
    put_opt_uint32(14, *dropped_links_count, buf);
    if let Some(s) = status {
        put_message(15, s, buf);
    }
    put_opt_fixed32(16, *flags, buf);
}

/// Pass one: the body length of every resource, scope and span, in the order pass two
/// meets them (a resource, then for each of its scopes the scope, then its spans).
fn measure(req: &ExportTraceServiceRequest, lens: &mut Vec<usize>) -> usize {
    let ExportTraceServiceRequest { resource_spans } = req;
    let mut total = 0;
    for rs in resource_spans {
        let ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        } = rs;
        let rs_at = lens.len();
        lens.push(0);
        let mut rs_len = resource.as_ref().map_or(0, |r| message_len(1, r));
        for ss in scope_spans {
            let ScopeSpans {
                scope,
                spans,
                schema_url,
            } = ss;
            let ss_at = lens.len();
            lens.push(0);
            let mut ss_len = scope.as_ref().map_or(0, |s| message_len(1, s));
            for span in spans {
                let len = span_len(span);
                lens.push(len);
                ss_len += delimited_len(2, len);
            }
            ss_len += opt_bytes_len(3, schema_url.as_bytes());
            lens[ss_at] = ss_len;
            rs_len += delimited_len(2, ss_len);
        }
        rs_len += opt_bytes_len(3, schema_url.as_bytes());
        lens[rs_at] = rs_len;
        total += delimited_len(1, rs_len);
    }
    total
}

/// Appends the protobuf encoding of `req` to `buf`: the same bytes as
/// `req.encode(buf)`, with each nested length computed once.
pub fn encode_traces(req: &ExportTraceServiceRequest, buf: &mut Vec<u8>) {
    let mut lens = Vec::new();
    let total = measure(req, &mut lens);
    buf.reserve(total);
    let mut lens = lens.into_iter();
    let mut next = || lens.next().unwrap_or_default();
    for rs in &req.resource_spans {
        put_key(1, LEN, buf);
        put_varint(next() as u64, buf);
        if let Some(r) = &rs.resource {
            put_message(1, r, buf);
        }
        for ss in &rs.scope_spans {
            put_key(2, LEN, buf);
            put_varint(next() as u64, buf);
            if let Some(s) = &ss.scope {
                put_message(1, s, buf);
            }
            for span in &ss.spans {
                put_key(2, LEN, buf);
                put_varint(next() as u64, buf);
                put_span(span, buf);
            }
            put_opt_bytes(3, ss.schema_url.as_bytes(), buf);
        }
        put_opt_bytes(3, rs.schema_url.as_bytes(), buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{
        ArrayValue, EntityRef, InstrumentationScope, KeyValueList,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{
        Status,
        span::{Event, Link},
    };

    fn kv(key: &str, value: Option<Value>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value }),
            key_strindex: 0,
        }
    }

    fn every_value() -> Vec<KeyValue> {
        vec![
            kv("s", Some(Value::StringValue("text".into()))),
            kv("empty", Some(Value::StringValue(String::new()))),
            kv("long", Some(Value::StringValue("x".repeat(300)))),
            kv("t", Some(Value::BoolValue(true))),
            kv("f", Some(Value::BoolValue(false))),
            kv("zero", Some(Value::IntValue(0))),
            kv("neg", Some(Value::IntValue(-1))),
            kv("max", Some(Value::IntValue(i64::MAX))),
            kv("d", Some(Value::DoubleValue(-0.0))),
            kv("nan", Some(Value::DoubleValue(f64::NAN))),
            kv("bytes", Some(Value::BytesValue(vec![0, 1, 255]))),
            kv("nobytes", Some(Value::BytesValue(Vec::new()))),
            kv("idx", Some(Value::StringValueStrindex(-3))),
            kv(
                "arr",
                Some(Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(Value::IntValue(5)),
                        },
                        AnyValue { value: None },
                    ],
                })),
            ),
            kv(
                "map",
                Some(Value::KvlistValue(KeyValueList {
                    values: vec![kv("inner", Some(Value::DoubleValue(1.5)))],
                })),
            ),
            kv("none", None),
            KeyValue {
                key: String::new(),
                value: None,
                key_strindex: 7,
            },
            KeyValue {
                key: "neg index".into(),
                value: None,
                key_strindex: -1,
            },
        ]
    }

    fn full_span() -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            trace_state: "a=b".into(),
            parent_span_id: vec![3; 8],
            flags: 0x301,
            name: "GET /x".into(),
            kind: -2,
            start_time_unix_nano: 1,
            end_time_unix_nano: u64::MAX,
            attributes: every_value(),
            dropped_attributes_count: 300,
            events: vec![Event {
                time_unix_nano: 9,
                name: "exception".into(),
                attributes: every_value(),
                dropped_attributes_count: 1,
            }],
            dropped_events_count: 2,
            links: vec![Link {
                trace_id: vec![4; 16],
                span_id: vec![5; 8],
                trace_state: "c=d".into(),
                attributes: every_value(),
                dropped_attributes_count: 3,
                flags: 1,
            }],
            dropped_links_count: u32::MAX,
            status: Some(Status {
                message: "m".into(),
                code: 2,
            }),
        }
    }

    fn requests() -> Vec<ExportTraceServiceRequest> {
        let big = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans {
                    scope: None,
                    spans: vec![full_span(); 200],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        vec![
            ExportTraceServiceRequest::default(),
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans::default()],
            },
            ExportTraceServiceRequest {
                resource_spans: vec![
                    ResourceSpans {
                        resource: Some(Resource {
                            attributes: every_value(),
                            dropped_attributes_count: 4,
                            entity_refs: vec![EntityRef {
                                schema_url: "u".into(),
                                r#type: "service".into(),
                                id_keys: vec!["service.name".into()],
                                description_keys: vec![],
                            }],
                        }),
                        scope_spans: vec![
                            ScopeSpans {
                                scope: Some(InstrumentationScope {
                                    name: "lib".into(),
                                    version: "1.0".into(),
                                    attributes: every_value(),
                                    dropped_attributes_count: 5,
                                }),
                                spans: vec![full_span(), Span::default(), full_span()],
                                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                            },
                            ScopeSpans::default(),
                        ],
                        schema_url: "https://opentelemetry.io/schemas/1.25.0".into(),
                    },
                    ResourceSpans {
                        resource: Some(Resource::default()),
                        scope_spans: vec![ScopeSpans {
                            scope: Some(InstrumentationScope::default()),
                            spans: vec![Span::default()],
                            schema_url: String::new(),
                        }],
                        schema_url: String::new(),
                    },
                ],
            },
            big,
        ]
    }

    #[test]
    fn same_bytes_as_prost() {
        for req in requests() {
            let mut ours = vec![0xee];
            encode_traces(&req, &mut ours);
            let mut theirs = vec![0xee];
            req.encode(&mut theirs).unwrap();
            assert_eq!(ours, theirs);
            let back = ExportTraceServiceRequest::decode(&ours[1..]).unwrap();
            assert_eq!(back.encode_to_vec(), theirs[1..], "round trip");
        }
    }

    #[test]
    fn varint_lengths() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(v, &mut b);
            assert_eq!(b.len(), varint_len(v), "{v}");
            assert_eq!(prost::encoding::decode_varint(&mut &b[..]).unwrap(), v);
        }
    }
}
