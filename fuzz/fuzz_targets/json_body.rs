//! JSON body redaction: no panic; idempotent; valid JSON in, valid JSON out; a value under
//! a sensitive key (`"password"`) never survives.
//!
//! Input layout: byte 0 picks the method (bits 0-1: mask, hash, remove, mask) and how the
//! rest becomes a body (bits 2-3):
//! - 0: the rest is the body;
//! - 1: `{"password": "hunter2-canary", "x": <rest>}`;
//! - 2: `{"password": "hunter2-canary<rest>` (a body cut anywhere after the secret);
//! - 3: `{"password": <rest>}`.
//!
//! Invalid UTF-8 is replaced by U+FFFD. In layouts 1 and 2 the secret `hunter2-canary`
//! must not survive (the output holds it no more often than the rest does). Whenever the
//! output is JSON, every value under a sensitive key in it must be `null` or redacted.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use scrim_redact::json_body::{BodyShape, JsonBodyRedactor};
use scrim_redact::keys::SensitiveKeys;
use scrim_redact::method::mask_marker;
use scrim_redact::{Counts, Kind, Method, Pseudonymizer, TextScrubber};
use serde_json::Value;

/// Masks every word holding `@` as an email and every word with 13 or more digits as a
/// card (words end at whitespace and JSON punctuation). Idempotent, like the detectors.
struct TestScrub;

impl TextScrubber for TestScrub {
    fn scrub<'t>(&self, text: &'t str, counts: &mut Counts) -> Cow<'t, str> {
        let is_delim = |c: char| c.is_whitespace() || "\"',:;{}[]()<>\\".contains(c);
        let sensitive = |w: &str| {
            if w.contains('@') {
                Some(Kind::Email)
            } else if w.bytes().filter(u8::is_ascii_digit).count() >= 13 {
                Some(Kind::Card)
            } else {
                None
            }
        };
        if !text.split(is_delim).any(|w| sensitive(w).is_some()) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut start = 0;
        for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
            if i == text.len() || is_delim(c) {
                let word = &text[start..i];
                match sensitive(word) {
                    Some(kind) => {
                        out.push_str(mask_marker(kind));
                        counts.add(kind);
                    }
                    None => out.push_str(word),
                }
                if i < text.len() {
                    out.push(c);
                }
                start = i + c.len_utf8();
            }
        }
        Cow::Owned(out)
    }
}

fn is_redacted(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => {
            s == mask_marker(Kind::Secret)
                || s.strip_prefix("[secret:")
                    .and_then(|r| r.strip_suffix(']'))
                    .is_some_and(|h| h.len() == 16)
        }
        _ => false,
    }
}

/// Every value under a sensitive key is redacted.
fn check_keys(keys: &SensitiveKeys, v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if keys.is_sensitive(k) {
                    assert!(is_redacted(v), "value under {k:?} survived: {v}");
                } else {
                    check_keys(keys, v);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| check_keys(keys, v)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else {
        return;
    };
    let rest = String::from_utf8_lossy(rest);
    let body = match (flags >> 2) & 3 {
        0 => rest.to_string(),
        1 => format!(r#"{{"password": "hunter2-canary", "x": {rest}}}"#),
        2 => format!(r#"{{"password": "hunter2-canary{rest}"#),
        _ => format!(r#"{{"password": {rest}}}"#),
    };
    let method = [Method::Mask, Method::Hash, Method::Remove, Method::Mask][usize::from(flags & 3)];
    let keys = SensitiveKeys::default();
    let pseudonymizer = Pseudonymizer::new(b"fuzz");
    let redactor = JsonBodyRedactor {
        keys: &keys,
        key_method: method,
        pseudonymizer: Some(&pseudonymizer),
        text: &TestScrub,
    };
    let (once, shape) = redactor.redact(&body, &mut Counts::default());
    let (twice, _) = redactor.redact(&once, &mut Counts::default());
    assert_eq!(once, twice, "not idempotent for {body:?}");
    // The fuzzer may write the secret itself (it learns compared strings): only the
    // template's copy must go.
    let secret = "hunter2-canary";
    if matches!((flags >> 2) & 3, 1 | 2) {
        assert!(
            once.matches(secret).count() <= rest.matches(secret).count(),
            "secret survived: {body:?} -> {once:?}"
        );
    }
    if serde_json::from_str::<Value>(&body).is_ok() {
        assert_eq!(
            shape,
            BodyShape::Json,
            "valid JSON not recognised: {body:?}"
        );
        assert!(
            serde_json::from_str::<Value>(&once).is_ok(),
            "valid JSON in, invalid out: {body:?} -> {once:?}"
        );
    }
    if let Ok(v) = serde_json::from_str::<Value>(&once) {
        check_keys(&keys, &v);
    }
});
