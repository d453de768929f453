//! The wire-format trace redactor (`scrim_otlp::wire`) against the decoded path: for the
//! benchmark workload and for generated requests (nested arrays and maps, events, links,
//! resource and scope attributes, SQL span names, count attributes, unknown and repeated
//! fields, limits that cut and refuse, corrupted bytes), whenever the wire walk takes a
//! request, decoding its output gives what decode ▸ limits ▸ `redact_traces` gives, with
//! the same span count and redaction counts; and `redact_traces_protobuf` answers exactly
//! as the decoded path does, errors included.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span::Event, span::Link,
};
use proptest::prelude::*;
use prost::Message;
use scrim_otlp::Limits;
use scrim_otlp::wire::{redact_traces_decoded, redact_traces_protobuf, redact_traces_wire};
use scrim_redact::{Policy, Redactor};

#[path = "../benches/common/workload.rs"]
mod workload;

const KEY: &[u8] = b"wire test tenant pseudonym key!!";

fn default_redactor() -> Redactor {
    Redactor::new(&Policy::default(), Some(KEY))
}

fn rules_redactor() -> Redactor {
    let policy = Policy::from_toml(
        "[attributes]\ndeny = [\"http.request.header.cookie\", \"*.secret\"]\n\
         pseudonymize = [\"user.handle\", \"db.statement\"]\n",
    )
    .unwrap();
    Redactor::new(&policy, Some(KEY))
}

fn decode(bytes: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(bytes).unwrap()
}

/// Both paths on `bytes`; true when the wire walk took the request.
fn compare(bytes: &[u8], r: &Redactor, limits: &Limits) -> bool {
    let decoded = redact_traces_decoded(bytes, r, limits);
    let both = redact_traces_protobuf(bytes, r, limits);
    match (&decoded, &both) {
        (Ok(a), Ok(b)) => {
            assert_eq!(decode(&a.body), decode(&b.body));
            assert_eq!((a.spans, a.counts), (b.spans, b.counts));
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("the paths disagree: {decoded:?} against {both:?}"),
    }
    let Some(wire) = redact_traces_wire(bytes, r, limits) else {
        return false;
    };
    let decoded = decoded.expect("the wire walk took a request the decoded path refuses");
    assert_eq!(decode(&wire.body), decode(&decoded.body));
    assert_eq!(wire.spans, decoded.spans);
    assert_eq!(wire.counts, decoded.counts);
    true
}

#[test]
fn the_benchmark_workload_is_redacted_alike() {
    let r = default_redactor();
    for seed in 0..4 {
        let bytes = workload::trace_request(512, seed).encode_to_vec();
        assert!(
            compare(&bytes, &r, &Limits::default()),
            "declined seed {seed}"
        );
        let wire = redact_traces_wire(&bytes, &r, &Limits::default()).unwrap();
        assert!(wire.counts.iter().count() > 3, "{:?}", wire.counts);
        assert_eq!(wire.spans, 512);
        // The walk reserves a quarter more than the input for what the policy adds.
        eprintln!(
            "request {} bytes, redacted {} bytes",
            bytes.len(),
            wire.body.len()
        );
        assert!(wire.body.len() <= bytes.len() + bytes.len() / 4);
        // Again over its own output: the counts add up, nothing else changes twice.
        assert!(compare(&wire.body, &r, &Limits::default()));
    }
}

#[test]
fn unusual_requests_take_the_decoded_path() {
    let r = default_redactor();
    let limits = Limits::default();
    let mut span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "SELECT * FROM users WHERE email = 'alice@example.com'".into(),
        attributes: vec![kv("db.system.name", s("postgresql"))],
        ..Default::default()
    };
    let request = |span: &Span| {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span.clone()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    };
    assert!(compare(&request(&span), &r, &limits));
    // A second name: decoding keeps the last one.
    let mut twice = span.encode_to_vec();
    field(
        &mut twice,
        5,
        b"SELECT 1 FROM t WHERE card = '4111 1111 1111 1111'",
    );
    assert!(!compare(&wrap_span(&twice), &r, &limits));
    // An id of the wrong length is refused the same way.
    span.span_id = vec![2; 7];
    assert!(!compare(&request(&span), &r, &limits));
    // Garbage, truncation, invalid UTF-8.
    assert!(!compare(b"\x0a\x05abc", &r, &limits));
    let mut bad = request(&Span {
        name: "x".into(),
        ..Default::default()
    });
    let at = bad.iter().rposition(|&b| b == b'x').unwrap();
    bad[at] = 0xff;
    assert!(!compare(&bad, &r, &limits));
    // Empty input is an empty request.
    assert!(compare(b"", &r, &limits));
}

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(v.into())),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

/// Appends a length-delimited field.
fn field(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    prost::encoding::encode_varint(u64::from(tag << 3 | 2), out);
    prost::encoding::encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A request holding one span given as bytes.
fn wrap_span(span: &[u8]) -> Vec<u8> {
    let mut ss = Vec::new();
    field(&mut ss, 2, span);
    let mut rs = Vec::new();
    field(&mut rs, 2, &ss);
    let mut req = Vec::new();
    field(&mut req, 1, &rs);
    req
}

// Generated requests.

const KEYS: &[&str] = &[
    "db.system.name",
    "db.system",
    "db.query.text",
    "db.statement",
    "db.query.summary",
    "db.query.plan",
    "url.full",
    "http.url",
    "url.query",
    "url.path",
    "client.address",
    "http.request.header.x-forwarded-for",
    "http.request.body",
    "exception.message",
    "exception.stacktrace",
    "enduser.id",
    "user.handle",
    "password",
    "api.secret",
    "http.request.header.authorization",
    "http.request.header.cookie",
    "scrim.redacted.email",
    "scrim.redacted.card",
    "scrim.redacted.sql",
    "service.name",
    "note",
    "",
];

const TEXTS: &[&str] = &[
    "",
    "postgresql",
    "mysql",
    "redis",
    "SELECT * FROM users WHERE email = 'alice@example.com' AND id = 42",
    "select name from t where card = '4111 1111 1111 1111'",
    "UPDATE accounts SET balance = 10 WHERE id = 7",
    "GET /users/alice@example.com",
    "https://api.example.com/v1/users?email=alice@example.com&token=s3cr3t&page=2",
    "https://user:pass@example.com/x",
    "email=alice@example.com&page=2",
    "/users/4111111111111111/orders",
    "203.0.113.57",
    "203.0.113.57, 10.0.0.1",
    "{\"password\": \"hunter2\", \"card\": \"4111 1111 1111 1111\", \"n\": 1}",
    "[1, 2, {\"token\": \"abc\"}]",
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "AKIAIOSFODNN7EXAMPLE",
    "user not found: alice@example.com",
    "u-8c1f2a",
    "plain text héllo wörld ✓",
    "HTTP GET",
    "SET",
    "GET user:42",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(TEXTS).prop_map(str::to_owned),
        1 => "[ -~é✓]{0,24}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-z.]{0,12}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => text().prop_map(Value::StringValue),
        2 => prop_oneof![
            Just(4111111111111111i64),
            Just(0),
            Just(-1),
            any::<i64>()
        ]
        .prop_map(Value::IntValue),
        1 => (-1e12f64..1e12).prop_map(Value::DoubleValue),
        1 => any::<bool>().prop_map(Value::BoolValue),
        1 => prop_oneof![
            text().prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..8)
        ]
        .prop_map(Value::BytesValue),
        1 => (0..4i32).prop_map(Value::StringValueStrindex),
    ]
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        8 => scalar().prop_map(|v| AnyValue { value: Some(v) }),
        1 => Just(AnyValue { value: None }),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(Value::ArrayValue(ArrayValue { values })),
            }),
            proptest::collection::vec((key(), proptest::option::of(inner)), 0..4).prop_map(|kvs| {
                AnyValue {
                    value: Some(Value::KvlistValue(KeyValueList {
                        values: kvs
                            .into_iter()
                            .map(|(key, value)| KeyValue {
                                key,
                                value,
                                ..Default::default()
                            })
                            .collect(),
                    })),
                }
            }),
        ]
    })
}

fn attribute() -> impl Strategy<Value = KeyValue> {
    prop_oneof![
        10 => (key(), scalar()).prop_map(|(key, v)| kv(&key, AnyValue { value: Some(v) })),
        3 => (key(), any_value()).prop_map(|(key, v)| kv(&key, v)),
        1 => key().prop_map(|key| KeyValue {
            key,
            value: None,
            ..Default::default()
        }),
        1 => (key(), scalar(), 0..3i32).prop_map(|(key, v, strindex)| KeyValue {
            key,
            value: Some(AnyValue { value: Some(v) }),
            key_strindex: strindex,
        }),
    ]
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(attribute(), 0..7)
}

fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        20 => Just(vec![7; len]),
        2 => Just(Vec::new()),
        1 => Just(vec![7; len + 1]),
    ]
}

fn span() -> impl Strategy<Value = Span> {
    (
        (id(16), id(8), id(8), text(), text(), 0..6i32),
        (any::<u64>(), attributes(), 0..3u32),
        proptest::collection::vec((text(), attributes(), any::<u64>()), 0..3),
        proptest::collection::vec((id(16), id(8), attributes(), text()), 0..2),
        proptest::option::of((text(), 0..3i32)),
        any::<u32>(),
    )
        .prop_map(
            |(
                (trace_id, span_id, parent, state, name, kind),
                (t, attributes, dropped),
                events,
                links,
                status,
                flags,
            )| Span {
                trace_id,
                span_id,
                parent_span_id: parent,
                trace_state: state,
                name,
                kind,
                start_time_unix_nano: t,
                end_time_unix_nano: t.wrapping_add(5),
                attributes,
                dropped_attributes_count: dropped,
                events: events
                    .into_iter()
                    .map(|(name, attributes, time)| Event {
                        time_unix_nano: time,
                        name,
                        attributes,
                        dropped_attributes_count: 1,
                    })
                    .collect(),
                links: links
                    .into_iter()
                    .map(|(trace_id, span_id, attributes, trace_state)| Link {
                        trace_id,
                        span_id,
                        trace_state,
                        attributes,
                        dropped_attributes_count: 0,
                        flags: 1,
                    })
                    .collect(),
                status: status.map(|(message, code)| Status { message, code }),
                flags,
                ..Default::default()
            },
        )
}

fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope = (
        proptest::option::of((text(), text(), attributes())),
        proptest::collection::vec(span(), 0..4),
        text(),
    )
        .prop_map(|(scope, spans, schema_url)| ScopeSpans {
            scope: scope.map(|(name, version, attributes)| InstrumentationScope {
                name,
                version,
                attributes,
                dropped_attributes_count: 2,
            }),
            spans,
            schema_url,
        });
    let resource = (
        proptest::option::of(attributes()),
        proptest::collection::vec(scope, 0..3),
    )
        .prop_map(|(attributes, scope_spans)| ResourceSpans {
            resource: attributes.map(|attributes| Resource {
                attributes,
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_spans,
            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
        });
    proptest::collection::vec(resource, 0..3)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        4 => Just(Limits::default()),
        1 => (0..5usize, 0..24usize, 0..4usize).prop_map(|(a, v, d)| Limits {
            max_attributes: a,
            max_attribute_value_bytes: v,
            max_value_depth: d,
            ..Limits::default()
        }),
    ]
}

/// Ways to make valid bytes unusual.
#[derive(Debug, Clone)]
enum Change {
    /// Unknown fields appended at the top level (varint, fixed, bytes).
    Unknown(u32, u8),
    /// A byte overwritten.
    Byte(usize, u8),
    /// Cut short.
    Cut(usize),
    /// Bytes inserted.
    Insert(usize, Vec<u8>),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (17..2000u32, 0..6u8).prop_map(|(t, w)| Change::Unknown(t, w)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Change::Byte(at, b)),
        any::<usize>().prop_map(Change::Cut),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..4))
            .prop_map(|(at, b)| Change::Insert(at, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, change: &Change) {
    match change {
        Change::Unknown(tag, wire_type) => {
            prost::encoding::encode_varint(u64::from(tag << 3 | u32::from(*wire_type)), bytes);
            match wire_type {
                0 => bytes.push(5),
                1 => bytes.extend_from_slice(&[1; 8]),
                2 => field_body(bytes, b"unknown"),
                5 => bytes.extend_from_slice(&[1; 4]),
                _ => {}
            }
        }
        Change::Byte(at, b) if !bytes.is_empty() => {
            let at = at % bytes.len();
            bytes[at] = *b;
        }
        Change::Cut(at) if !bytes.is_empty() => bytes.truncate(at % bytes.len()),
        Change::Insert(at, b) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        _ => {}
    }
}

fn field_body(out: &mut Vec<u8>, bytes: &[u8]) {
    prost::encoding::encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A span's bytes with extra fields inside it: unknown fields, a `KeyValue` holding an
/// unknown field, attributes after the events, a second status.
fn with_extras(span: &Span, extras: u8) -> Vec<u8> {
    let mut b = span.encode_to_vec();
    if extras & 1 != 0 {
        prost::encoding::encode_varint(u64::from(99u32 << 3), &mut b);
        b.push(1);
    }
    if extras & 2 != 0 {
        let mut kv = kv("note", s("alice@example.com")).encode_to_vec();
        prost::encoding::encode_varint(u64::from(7u32 << 3), &mut kv);
        kv.push(3);
        field(&mut b, 9, &kv);
    }
    if extras & 4 != 0 {
        field(
            &mut b,
            9,
            &kv(
                "db.query.text",
                s("SELECT 1 FROM t WHERE x = 'a@b.example'"),
            )
            .encode_to_vec(),
        );
    }
    if extras & 8 != 0 {
        field(
            &mut b,
            15,
            &Status {
                message: "card 4111 1111 1111 1111".into(),
                code: 2,
            }
            .encode_to_vec(),
        );
    }
    if extras & 16 != 0 {
        // An AnyValue with two values: decoding keeps the last.
        let mut v = s("first@example.com").encode_to_vec();
        v.extend_from_slice(
            &AnyValue {
                value: Some(Value::IntValue(4111111111111111)),
            }
            .encode_to_vec(),
        );
        let mut kv = Vec::new();
        field(&mut kv, 1, b"note");
        field(&mut kv, 2, &v);
        field(&mut b, 9, &kv);
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_requests_are_redacted_alike(req in request(), limits in limits(), rules in any::<bool>()) {
        let r = if rules { rules_redactor() } else { default_redactor() };
        let bytes = req.encode_to_vec();
        let taken = compare(&bytes, &r, &limits);
        // The walk must not decline what it was made for: valid requests within the
        // default limits.
        if limits == Limits::default() && valid_ids(&req) {
            prop_assert!(taken, "declined a valid request");
        }
    }

    #[test]
    fn spans_with_extra_fields_are_redacted_alike(span in span(), extras in 0..32u8, rules in any::<bool>()) {
        let r = if rules { rules_redactor() } else { default_redactor() };
        let bytes = wrap_span(&with_extras(&span, extras));
        compare(&bytes, &r, &Limits::default());
    }

    #[test]
    fn changed_bytes_are_answered_alike(req in request(), changes in proptest::collection::vec(change(), 1..3)) {
        let r = default_redactor();
        let mut bytes = req.encode_to_vec();
        for c in &changes {
            apply(&mut bytes, c);
        }
        compare(&bytes, &r, &Limits::default());
    }
}

fn spans(req: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
    req.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
}

fn valid_ids(req: &ExportTraceServiceRequest) -> bool {
    let ok = |id: &[u8], len: usize| id.is_empty() || id.len() == len;
    spans(req).all(|s| {
        ok(&s.trace_id, 16)
            && ok(&s.span_id, 8)
            && ok(&s.parent_span_id, 8)
            && s.links
                .iter()
                .all(|l| ok(&l.trace_id, 16) && ok(&l.span_id, 8))
    })
}
