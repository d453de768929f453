//! The point of the demo: Scrim's default capture policy removes every planted secret.
//!
//! Writing the generator found two places the policy missed (a JWT in a Redis command, an
//! IPv6 address before a clause-ending colon); each has its own test below.

use std::time::{Duration, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use scrim_demo::{Generator, planted_secrets, secrets};
use scrim_otlp::Batch;
use scrim_otlp::redact::redact_batch;
use scrim_redact::{Policy, Redactor};

fn generated() -> Vec<Batch> {
    let now = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    let mut g = Generator::new(2024);
    let mut batches = Vec::new();
    for i in 0..3 {
        batches.extend(g.tick(100, now + Duration::from_secs(i), true));
    }
    batches
}

fn redacted() -> Vec<Batch> {
    let redactor = Redactor::new(&Policy::default(), Some(b"demo tenant pseudonym key"));
    let mut batches = generated();
    for batch in &mut batches {
        redact_batch(batch, &redactor);
    }
    batches
}

/// Each planted secret found in a batch's protobuf or OTLP/JSON encoding.
fn survivors(batches: &[Batch]) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for batch in batches {
        let protobuf = batch.encode_to_vec();
        let json = scrim_otlp::json::encode(batch);
        for secret in planted_secrets() {
            if contains(&protobuf, secret.as_bytes()) {
                out.push((*secret, "protobuf"));
            }
            if contains(&json, secret.as_bytes()) {
                out.push((*secret, "json"));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn str_mut<'a>(attrs: &'a mut [KeyValue], key: &str) -> Option<&'a mut String> {
    attrs.iter_mut().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_mut()?.value.as_mut()? {
            Value::StringValue(s) => Some(s),
            _ => None,
        }
    })
}

fn is_redis(attrs: &[KeyValue]) -> bool {
    attrs.iter().any(|kv| {
        kv.key == "db.system"
            && kv.value.as_ref().and_then(|v| v.value.as_ref())
                == Some(&Value::StringValue("redis".into()))
    })
}

/// Visits Redis `db.query.text` / `db.statement` values (where a session JWT is planted in
/// `SET session:<id> <jwt> EX 3600`; the SQL obfuscator once kept it). Returns how many.
fn redis_statements(batches: &mut [Batch], mut f: impl FnMut(&mut String)) -> usize {
    let mut n = 0;
    for batch in batches {
        let Batch::Traces(t) = batch else { continue };
        for span in t
            .resource_spans
            .iter_mut()
            .flat_map(|rs| rs.scope_spans.iter_mut().flat_map(|ss| ss.spans.iter_mut()))
        {
            if !is_redis(&span.attributes) {
                continue;
            }
            for key in ["db.query.text", "db.statement"] {
                if let Some(s) = str_mut(&mut span.attributes, key) {
                    f(s);
                    n += 1;
                }
            }
        }
    }
    n
}

/// Visits log bodies (where an IPv6 address ends a clause, `… from 2001:db8:…:7334:
/// invalid password`, which the detector once missed). Returns how many.
fn log_bodies(batches: &mut [Batch], mut f: impl FnMut(&mut String)) -> usize {
    let mut n = 0;
    for batch in batches {
        let Batch::Logs(l) = batch else { continue };
        for record in l.resource_logs.iter_mut().flat_map(|rl| {
            rl.scope_logs
                .iter_mut()
                .flat_map(|sl| sl.log_records.iter_mut())
        }) {
            if let Some(Value::StringValue(s)) = record.body.as_mut().and_then(|b| b.value.as_mut())
            {
                f(s);
                n += 1;
            }
        }
    }
    n
}

#[test]
fn no_planted_secret_survives_the_default_capture_policy() {
    let mut batches = redacted();
    // The two places the policy once missed are there to be checked.
    let redis = redis_statements(&mut batches, |_| {});
    let bodies = log_bodies(&mut batches, |_| {});
    assert!(redis > 100 && bodies > 500, "{redis} {bodies}");
    let left = survivors(&batches);
    assert!(left.is_empty(), "survived redaction: {left:?}");
}

#[test]
fn redis_command_values_are_removed() {
    let mut batches = redacted();
    let mut leaked = Vec::new();
    redis_statements(&mut batches, |s| {
        if s.contains(secrets::JWT) {
            leaked.push(s.clone());
        }
    });
    assert!(leaked.is_empty(), "{leaked:#?}");
}

#[test]
fn ipv6_before_a_colon_in_log_text_is_removed() {
    let mut batches = redacted();
    let mut leaked = Vec::new();
    log_bodies(&mut batches, |s| {
        if s.contains(secrets::IPV6_LI) {
            leaked.push(s.clone());
        }
    });
    assert!(leaked.is_empty(), "{leaked:#?}");
}

#[test]
fn the_search_finds_every_secret_in_unredacted_output() {
    // The checks above are only worth something if they see secrets where they are.
    let mut batches = generated();
    let found: Vec<_> = survivors(&batches).into_iter().map(|(s, _)| s).collect();
    for secret in planted_secrets() {
        assert!(found.contains(secret), "{secret}");
    }
    let mut jwt_in_redis = 0;
    redis_statements(&mut batches, |s| {
        jwt_in_redis += usize::from(s.contains(secrets::JWT))
    });
    let mut ipv6_in_logs = 0;
    log_bodies(&mut batches, |s| {
        ipv6_in_logs += usize::from(s.contains(secrets::IPV6_LI))
    });
    assert!(jwt_in_redis > 0 && ipv6_in_logs > 0);
}
