//! JSON body redaction throughput (`json_body`), on realistic bodies of a few KB generated
//! deterministically, with `NoScrub` (the scanner alone), with a simple scrubber that
//! masks words holding `@` (a stand-in for the detectors), and with the real detectors
//! (`TextRedactor::default()`: every detector, default keys, mask). Target: ≥ 300 MB/s
//! with the real detectors.
//!
//! Run: `cargo bench -p scrim-redact --bench json -- --warm-up-time 1 --measurement-time 3`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scrim_redact::detect::TextRedactor;
use scrim_redact::json_body::{BodyShape, JsonBodyRedactor};
use scrim_redact::keys::SensitiveKeys;
use scrim_redact::method::mask_marker;
use scrim_redact::{Counts, Kind, NoScrub, TextScrubber};

/// Masks every word holding `@`; a `memchr` prefilter makes clean text cheap.
struct AtScrub;

impl TextScrubber for AtScrub {
    fn scrub<'t>(&self, text: &'t str, counts: &mut Counts) -> Cow<'t, str> {
        if memchr::memchr(b'@', text.as_bytes()).is_none() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 16);
        for (i, word) in text.split(' ').enumerate() {
            if i > 0 {
                out.push(' ');
            }
            if word.contains('@') {
                out.push_str(mask_marker(Kind::Email));
                counts.add(Kind::Email);
            } else {
                out.push_str(word);
            }
        }
        Cow::Owned(out)
    }
}

/// A small deterministic generator (an LCG), so every run measures the same bodies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'s>(&mut self, items: &[&'s str]) -> &'s str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "grace"];
const CITIES: &[&str] = &["Lyon", "Berlin", "Porto", "Zürich", "Kraków", "Oslo"];
const TAGS: &[&str] = &["admin", "beta", "vip", "trial", "eu", "mobile"];

/// A pretty-printed API response: a page of users with nested addresses (about 6 KB).
fn users_response(rng: &mut Rng) -> String {
    let mut s = String::from("{\n  \"data\": [\n");
    for i in 0..16 {
        let name = rng.pick(NAMES);
        let _ = write!(
            s,
            "    {{\n      \"id\": {},\n      \"name\": \"{name} {}\",\n      \"email\": \"{name}.{}@example.com\",\n      \"active\": {},\n      \"balance\": {}.{:02},\n      \"address\": {{\"street\": \"{} Rue de la Paix\", \"city\": \"{}\", \"zip\": \"{:05}\"}},\n      \"tags\": [\"{}\", \"{}\"],\n      \"manager_id\": null\n    }}{}\n",
            1000 + i,
            rng.pick(NAMES),
            rng.next() % 100,
            rng.next().is_multiple_of(2),
            rng.next() % 10_000,
            rng.next() % 100,
            rng.next() % 200,
            rng.pick(CITIES),
            rng.next() % 100_000,
            rng.pick(TAGS),
            rng.pick(TAGS),
            if i < 15 { "," } else { "" }
        );
    }
    s.push_str("  ],\n  \"page\": {\"number\": 1, \"size\": 16, \"total\": 4211}\n}\n");
    s
}

/// A compact request body: an order with line items and a payment (about 4 KB), with a
/// few values under sensitive keys.
fn order_request(rng: &mut Rng) -> String {
    let mut s = String::from(r#"{"order":{"id":"ord_"#);
    let _ = write!(s, "{}\",\"items\":[", rng.next());
    for i in 0..30 {
        let _ = write!(
            s,
            r#"{}{{"sku":"SKU-{:06}","title":"Item number {i} in {}","qty":{},"unit_price":{}.{:02},"discount":null,"gift":{}}}"#,
            if i > 0 { "," } else { "" },
            rng.next() % 1_000_000,
            rng.pick(CITIES),
            1 + rng.next() % 5,
            rng.next() % 500,
            rng.next() % 100,
            rng.next().is_multiple_of(7)
        );
    }
    let _ = write!(
        s,
        r#"],"currency":"EUR"}},"payment":{{"method":"card","card_number":"4111111111111111","cvv":"{:03}","exp":"12/30","holder":"{}"}},"customer":{{"id":{},"session_token":"{:x}","locale":"fr-FR"}}}}"#,
        rng.next() % 1000,
        rng.pick(NAMES),
        rng.next(),
        rng.next()
    );
    s
}

/// A log event with long messages full of escapes (about 3 KB).
fn log_events(rng: &mut Rng) -> String {
    let mut s = String::new();
    for i in 0..12 {
        let _ = writeln!(
            s,
            r#"{{"ts":"2026-11-24T08:{:02}:{:02}.{:03}Z","level":"{}","logger":"app.http","msg":"request {i} failed:\n\tat handler (\"/api/v1/orders\")\n\tcaused by: timeout after {}ms \u2014 retrying","attrs":{{"http.status":{},"user":"{}","trace_id":"{:016x}{:016x}"}}}}"#,
            rng.next() % 60,
            rng.next() % 60,
            rng.next() % 1000,
            rng.pick(&["INFO", "WARN", "ERROR"]),
            rng.next() % 5000,
            500 + rng.next() % 4,
            rng.pick(NAMES),
            rng.next(),
            rng.next()
        );
    }
    s
}

fn json(c: &mut Criterion) {
    let mut rng = Rng(0x5c71_3e11);
    let bodies = [
        ("users-pretty", users_response(&mut rng)),
        ("order-compact", order_request(&mut rng)),
        ("log-ndjson-escapes", log_events(&mut rng)),
    ];
    let keys = SensitiveKeys::default();
    let plain = JsonBodyRedactor::new(&keys, &NoScrub);
    let at = JsonBodyRedactor::new(&keys, &AtScrub);
    let text = TextRedactor::default();
    let detectors = JsonBodyRedactor::new(&keys, &text);
    for (name, body) in &bodies {
        let (_, shape) = plain.redact(body, &mut Counts::default());
        assert_eq!(shape, BodyShape::Json, "{name} is not valid JSON");
        let mut group = c.benchmark_group(format!("json/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("noscrub", |b| {
            b.iter(|| plain.redact(black_box(body), &mut Counts::default()))
        });
        group.bench_function("at-scrub", |b| {
            b.iter(|| at.redact(black_box(body), &mut Counts::default()))
        });
        group.bench_function("detectors", |b| {
            b.iter(|| detectors.redact(black_box(body), &mut Counts::default()))
        });
        group.finish();
    }
}

criterion_group!(benches, json);
criterion_main!(benches);
