//! The wire-format trace redactor (`scrim_otlp::wire`) against the decoded path, on
//! arbitrary bytes: no panic; whenever the wire walk takes a request, the decoded path
//! accepts it too and decoding the wire walk's output gives the decoded path's result, with
//! the same span and redaction counts; and `redact_traces_protobuf` (wire walk, else the
//! decoded path) answers exactly as the decoded path does, errors included.
//!
//! Input layout: byte 0 holds flags, the rest is the protobuf body.
//! - bit 0: small limits (3 attributes, values of 12 bytes, depth 3) instead of the
//!   defaults;
//! - bit 1: a policy with `[attributes]` rules (deny, pseudonymize) instead of the default.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use scrim_otlp::Limits;
use scrim_otlp::proto::ExportTraceServiceRequest;
use scrim_otlp::wire::{redact_traces_decoded, redact_traces_protobuf, redact_traces_wire};
use scrim_redact::{Policy, Redactor};

fuzz_target!(|data: &[u8]| {
    let [flags, body @ ..] = data else {
        return;
    };
    let limits = if flags & 1 != 0 {
        Limits {
            max_attributes: 3,
            max_attribute_value_bytes: 12,
            max_value_depth: 3,
            ..Limits::default()
        }
    } else {
        Limits::default()
    };
    let policy = if flags & 2 != 0 {
        Policy::from_toml(
            "[attributes]\ndeny = [\"*.secret\"]\npseudonymize = [\"user.handle\", \"db.statement\"]\n",
        )
        .expect("a valid policy")
    } else {
        Policy::default()
    };
    let r = Redactor::new(&policy, Some(b"fuzz tenant pseudonym key"));
    let decode = |b: &[u8]| ExportTraceServiceRequest::decode(b).expect("output decodes");
    let decoded = redact_traces_decoded(body, &r, &limits);
    match (&decoded, &redact_traces_protobuf(body, &r, &limits)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(decode(&a.body), decode(&b.body));
            assert_eq!((a.spans, a.counts), (b.spans, b.counts));
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("the paths disagree: {a:?} against {b:?}"),
    }
    if let Some(wire) = redact_traces_wire(body, &r, &limits) {
        let decoded = decoded.expect("the wire walk took a request the decoded path refuses");
        assert_eq!(decode(&wire.body), decode(&decoded.body));
        assert_eq!((wire.spans, wire.counts), (decoded.spans, decoded.counts));
    }
});
