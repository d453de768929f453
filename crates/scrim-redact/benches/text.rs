//! Free-text detector throughput on generated log text.
//!
//! Run: `cargo bench -p scrim-redact --bench text -- --warm-up-time 1 --measurement-time 3`.
//!
//! The text is built by a deterministic generator (a fixed-seed xorshift): realistic log
//! lines (ISO timestamps, levels, thread names, class names, durations, paths with numeric
//! ids, UUIDs, hex trace ids, logfmt `key=value` pairs, JSON fragments, stack-trace lines,
//! epoch milliseconds, order ids, versions), about 1 MiB of it.
//!
//! - `clean`: nothing sensitive (but plenty of look-alikes: long numbers, dotted versions,
//!   times, hex ids). Target: ≥ 1 GB/s per core.
//! - `sensitive5`: the same lines where each field is, with probability 5%, replaced by a
//!   sensitive value (email, card, IPv4, IPv6, JWT, bearer token, AWS key, SSN, IBAN,
//!   `password=…`). Target: ≥ 200 MB/s.
//!
//! Each is measured for `find` (findings only) and `scrub` (replacement text built).
//! With `SCRIM_TEXT_DUMP_DIR=<dir>` set, the two texts are also written there as
//! `clean.log` and `sensitive5.log` (for `scripts/relay_compare.py`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scrim_redact::TextScrubber;
use scrim_redact::detect::{Scanner, TextRedactor};
use scrim_redact::kind::Counts;

#[path = "common/loggen.rs"]
mod loggen;
use loggen::log_text;

fn text(c: &mut Criterion) {
    let scanner = Scanner::default();
    let redactor = TextRedactor::new(scanner.clone(), Default::default(), None);
    for (name, p) in [("clean", 0), ("sensitive5", 50)] {
        let t = log_text(0x5eed_cafe, 1 << 20, p);
        if let Some(dir) = std::env::var_os("SCRIM_TEXT_DUMP_DIR") {
            // For scripts/relay_compare.py: the same text for Sentry Relay's scrubber.
            let path = std::path::Path::new(&dir).join(format!("{name}.log"));
            std::fs::write(&path, &t).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        let found = scanner.find_all(&t).len();
        if p == 0 {
            assert_eq!(found, 0, "the clean text must be clean");
        }
        eprintln!(
            "{name}: {} bytes, {} lines, {found} findings",
            t.len(),
            t.lines().count()
        );
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(t.len() as u64));
        let mut out = Vec::new();
        group.bench_function("find", |b| {
            b.iter(|| {
                out.clear();
                scanner.find(black_box(&t), &mut out);
                out.len()
            })
        });
        group.bench_function("scrub", |b| {
            b.iter(|| {
                let mut counts = Counts::default();
                redactor.scrub(black_box(&t), &mut counts).len()
            })
        });
        group.finish();
    }
}

/// Each prefilter pass alone on the clean text, to see where the time goes.
fn passes(c: &mut Criterion) {
    use scrim_redact::detect::DetectorSet;
    use scrim_redact::keys::SensitiveKeys;
    use scrim_redact::kind::Kind;
    let t = log_text(0x5eed_cafe, 1 << 20, 0);
    let mut group = c.benchmark_group("clean-pass");
    group.throughput(Throughput::Bytes(t.len() as u64));
    let none = DetectorSet::none();
    let sets = [
        (
            "prefixes",
            none.with(Kind::Jwt)
                .with(Kind::AwsAccessKey)
                .with(Kind::GithubToken)
                .with(Kind::SlackToken)
                .with(Kind::StripeKey)
                .with(Kind::GoogleApiKey)
                .with(Kind::PrivateKey)
                .with(Kind::UrlCredentials)
                .with(Kind::BearerToken),
        ),
        ("email", none.with(Kind::Email)),
        ("assign", none.with(Kind::Secret).with(Kind::AwsSecretKey)),
        ("ipv6", none.with(Kind::Ipv6)),
        (
            "numeric",
            none.with(Kind::Card)
                .with(Kind::Ssn)
                .with(Kind::Iban)
                .with(Kind::Ipv4),
        ),
    ];
    for (name, set) in sets {
        let scanner = Scanner::new(&set, &SensitiveKeys::default());
        let mut out = Vec::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                scanner.find(black_box(&t), &mut out);
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, text, passes);
criterion_main!(benches);
