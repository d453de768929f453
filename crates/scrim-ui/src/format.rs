//! Values as people read them: durations, rates, percentages, counts, timestamps, and the
//! redaction markers Scrim writes in place of sensitive values.
//!
//! Every function is total: any `f64` (NaN, infinities, negatives) and any text give a
//! string, never a panic, because pages render whatever the store returns.

use chrono::{DateTime, Utc};
use scrim_redact::Kind;
use scrim_redact::method::PSEUDONYM_CHARS;

/// Shown where a value cannot be written (an impossible timestamp, an infinite duration).
const NONE: &str = "—";

/// `x` rounded to `decimals` places, to pick a unit before formatting: 99.96 µs must be
/// written "100 µs", not "100.0 µs".
fn rounded(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// A duration in nanoseconds: "850 ns", "12.5 µs", "250 ms", "1.25 s", "2 min 5 s",
/// "3 h 4 min". Zero, negative and NaN durations are "0 ns".
pub fn duration_ns(ns: f64) -> String {
    if ns.is_nan() || ns <= 0.0 {
        return "0 ns".to_owned();
    }
    if ns.is_infinite() {
        return NONE.to_owned();
    }
    let whole = ns.round();
    if whole < 1e3 {
        return format!("{whole} ns");
    }
    // (nanoseconds per unit, unit name) for the three sub-second units.
    for (per, unit) in [(1e3, "µs"), (1e6, "ms")] {
        let v = ns / per;
        if rounded(v, 1) < 100.0 {
            return format!("{v:.1} {unit}");
        }
        if v.round() < 1000.0 {
            return format!("{} {unit}", v.round());
        }
    }
    let s = ns / 1e9;
    if rounded(s, 2) < 10.0 {
        return format!("{s:.2} s");
    }
    if rounded(s, 1) < 60.0 {
        return format!("{s:.1} s");
    }
    // `as` saturates, so absurdly long durations stay finite integers.
    let secs = s.round() as u64;
    if secs < 3600 {
        return format!("{} min {} s", secs / 60, secs % 60);
    }
    let mins = (s / 60.0).round() as u64;
    format!("{} h {} min", mins / 60, mins % 60)
}

/// Events per second: "0/s", "0.25/s", "12.5/s", "250/s", "1.2k/s", "3.4M/s".
/// A positive rate too small to show is "<0.01/s", so it never reads as none at all.
pub fn rate(per_second: f64) -> String {
    if per_second.is_nan() || per_second <= 0.0 {
        return "0/s".to_owned();
    }
    if per_second.is_infinite() {
        return NONE.to_owned();
    }
    if rounded(per_second, 2) < 0.01 {
        return "<0.01/s".to_owned();
    }
    if rounded(per_second, 2) < 1.0 {
        return format!("{per_second:.2}/s");
    }
    if rounded(per_second, 1) < 100.0 {
        return format!("{per_second:.1}/s");
    }
    if per_second.round() < 1000.0 {
        return format!("{}/s", per_second.round());
    }
    for (per, unit) in [(1e3, "k"), (1e6, "M")] {
        let v = per_second / per;
        if rounded(v, 1) < 100.0 {
            return format!("{v:.1}{unit}/s");
        }
        if v.round() < 1000.0 {
            return format!("{}{unit}/s", v.round());
        }
    }
    format!("{:.0}G/s", per_second / 1e9)
}

/// A fraction as a percentage with at most one decimal: 0.125 → "12.5 %", 1 → "100 %".
/// A positive fraction below 0.05 % is "<0.1 %" (one failed request in ten thousand is
/// not "0 %"); NaN and infinities are "—".
pub fn percent(fraction: f64) -> String {
    if !fraction.is_finite() {
        return NONE.to_owned();
    }
    let p = rounded(fraction * 100.0, 1);
    if p == 0.0 {
        return if fraction > 0.0 { "<0.1 %" } else { "0 %" }.to_owned();
    }
    if p.fract() == 0.0 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

/// An integer with thousands separated by commas: 1234567 → "1,234,567".
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        // A comma before every group of three counted from the right.
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn datetime(ns: i64) -> Option<DateTime<Utc>> {
    // Euclidean division keeps the sub-second part positive before 1970.
    let secs = ns.div_euclid(1_000_000_000);
    let sub = u32::try_from(ns.rem_euclid(1_000_000_000)).ok()?;
    DateTime::from_timestamp(secs, sub)
}

/// A Unix time in nanoseconds as UTC with milliseconds: "2026-11-25 06:31:37.123" (the
/// page says "UTC" once rather than on every row).
pub fn timestamp_ns(ns: i64) -> String {
    datetime(ns).map_or_else(
        || NONE.to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
    )
}

/// A Unix time in nanoseconds as RFC 3339 with milliseconds, "2026-11-25T06:31:37.123Z",
/// for `<time datetime="…">`.
pub fn iso_ns(ns: i64) -> String {
    datetime(ns).map_or_else(
        || NONE.to_owned(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}

/// How a marker replaced a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum How {
    /// `[REDACTED:<kind>]`: the value is gone.
    Masked,
    /// `[<kind>:<16 base32 chars>]`: a keyed pseudonym, equal for equal values.
    Pseudonym,
}

/// A run of text: plain, or one redaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Marker {
        /// The whole marker, brackets included.
        text: &'a str,
        /// The kind's name as written in the marker (`email`).
        kind: &'a str,
        how: How,
    },
}

impl<'a> Piece<'a> {
    /// The input text this piece covers.
    pub fn text(&self) -> &'a str {
        match self {
            Piece::Text(t) | Piece::Marker { text: t, .. } => t,
        }
    }
}

/// The longest possible marker, in bytes: `[` kind `:` 16 chars `]`, or
/// `[REDACTED:` kind `]`. Bounds the look-ahead from each `[` so scanning stays linear.
fn max_marker_len() -> usize {
    let longest_kind = Kind::ALL
        .iter()
        .map(|k| k.as_str().len())
        .max()
        .unwrap_or(0);
    2 + longest_kind + 1 + PSEUDONYM_CHARS.max("REDACTED".len())
}

/// The marker `candidate` (brackets included) is, if it is one.
fn marker(candidate: &str) -> Option<(&str, How)> {
    let inner = candidate.strip_prefix('[')?.strip_suffix(']')?;
    let (head, tail) = inner.split_once(':')?;
    if head == "REDACTED" {
        return Kind::from_name(tail).map(|_| (tail, How::Masked));
    }
    let is_hash = tail.len() == PSEUDONYM_CHARS
        && tail.bytes().all(|c| matches!(c, b'a'..=b'z' | b'2'..=b'7'));
    (is_hash && Kind::from_name(head).is_some()).then_some((head, How::Pseudonym))
}

/// The first marker at or after byte `from`: (start, end, kind, how).
fn next_marker(text: &str, from: usize, max_len: usize) -> Option<(usize, usize, &str, How)> {
    let bytes = text.as_bytes();
    let mut i = from;
    while let Some(rel) = bytes.get(i..)?.iter().position(|&b| b == b'[') {
        let start = i + rel;
        let window_end = bytes.len().min(start + max_len);
        let window = bytes.get(start + 1..window_end).unwrap_or_default();
        // `[` and `]` are ASCII, so both ends are char boundaries and `get` succeeds.
        if let Some(close) = window.iter().position(|&b| b == b']') {
            let end = start + 1 + close + 1;
            if let Some((kind, how)) = text.get(start..end).and_then(marker) {
                return Some((start, end, kind, how));
            }
        }
        i = start + 1;
    }
    None
}

/// `text` split into plain runs and redaction markers, in order; concatenating every
/// piece's text gives `text` back. Only Scrim's own markers count: a kind
/// [`Kind::from_name`] knows, and for pseudonyms exactly 16 characters of `a-z2-7`.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let max_len = max_marker_len();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some((start, end, kind, how)) = next_marker(text, pos, max_len) {
        if let Some(before) = text.get(pos..start).filter(|s| !s.is_empty()) {
            out.push(Piece::Text(before));
        }
        if let Some(m) = text.get(start..end) {
            out.push(Piece::Marker { text: m, kind, how });
        }
        pos = end;
    }
    if let Some(rest) = text.get(pos..).filter(|s| !s.is_empty()) {
        out.push(Piece::Text(rest));
    }
    out
}

/// Whether `text` holds at least one redaction marker.
pub fn has_markers(text: &str) -> bool {
    next_marker(text, 0, max_marker_len()).is_some()
}

/// What a kind of sensitive value is, for people: "card number", "email address".
/// Unknown names give "sensitive value".
pub fn kind_label(kind: &str) -> &'static str {
    // Exhaustive, so a new kind in scrim-redact cannot go without a label.
    match Kind::from_name(kind) {
        None => "sensitive value",
        Some(k) => match k {
            Kind::Card => "card number",
            Kind::Ssn => "social security number",
            Kind::Iban => "bank account number (IBAN)",
            Kind::Email => "email address",
            Kind::Ipv4 => "IPv4 address",
            Kind::Ipv6 => "IPv6 address",
            Kind::Jwt => "JSON Web Token",
            Kind::BearerToken => "bearer token",
            Kind::AwsAccessKey => "AWS access key ID",
            Kind::AwsSecretKey => "AWS secret access key",
            Kind::GithubToken => "GitHub token",
            Kind::SlackToken => "Slack token",
            Kind::StripeKey => "Stripe API key",
            Kind::GoogleApiKey => "Google API key",
            Kind::PrivateKey => "private key",
            Kind::UrlCredentials => "URL credentials",
            Kind::Secret => "secret",
            Kind::QueryParam => "query parameter value",
            Kind::UrlSignature => "URL signature",
            Kind::SqlStatement => "SQL literals",
            Kind::Identifier => "identifier",
        },
    }
}

/// A sentence saying what happened to a value, for a marker's tooltip:
/// "card number removed by the capture policy (mask)".
pub fn explain(kind: &str, how: How) -> String {
    let label = kind_label(kind);
    match how {
        How::Masked => format!("{label} removed by the capture policy (mask)"),
        How::Pseudonym => format!("{label} replaced by a keyed pseudonym (hash)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrim_redact::Pseudonymizer;
    use scrim_redact::method::{mask_marker, replacement_kind};

    #[test]
    fn durations_pick_the_unit_and_precision() {
        for (ns, want) in [
            (0.0, "0 ns"),
            (-5.0, "0 ns"),
            (f64::NAN, "0 ns"),
            (f64::INFINITY, "—"),
            (0.3, "0 ns"),
            (850.0, "850 ns"),
            (999.4, "999 ns"),
            (999.6, "1.0 µs"),
            (12_500.0, "12.5 µs"),
            (99_960.0, "100 µs"),
            (250_000.0, "250 µs"),
            (999_600.0, "1.0 ms"),
            (12_300_000.0, "12.3 ms"),
            (250_000_000.0, "250 ms"),
            (1_250_000_000.0, "1.25 s"),
            (9_999_000_000.0, "10.0 s"),
            (12_340_000_000.0, "12.3 s"),
            (59_990_000_000.0, "1 min 0 s"),
            (125e9, "2 min 5 s"),
            (3599.6e9, "1 h 0 min"),
            ((3.0 * 3600.0 + 4.0 * 60.0) * 1e9, "3 h 4 min"),
        ] {
            assert_eq!(duration_ns(ns), want, "{ns}");
        }
        // Absurd values still give text, not a panic.
        assert!(duration_ns(1e300).ends_with(" min"));
    }

    #[test]
    fn rates_pick_the_precision() {
        for (r, want) in [
            (0.0, "0/s"),
            (-1.0, "0/s"),
            (f64::NAN, "0/s"),
            (0.001, "<0.01/s"),
            (0.25, "0.25/s"),
            (0.999, "1.0/s"),
            (12.5, "12.5/s"),
            (99.97, "100/s"),
            (250.0, "250/s"),
            (999.7, "1.0k/s"),
            (1234.0, "1.2k/s"),
            (250_000.0, "250k/s"),
            (3_400_000.0, "3.4M/s"),
        ] {
            assert_eq!(rate(r), want, "{r}");
        }
    }

    #[test]
    fn percentages_trim_a_zero_decimal() {
        for (f, want) in [
            (0.125, "12.5 %"),
            (0.0, "0 %"),
            (1.0, "100 %"),
            (0.5, "50 %"),
            (0.0001, "<0.1 %"),
            (0.9999, "100 %"),
            (f64::NAN, "—"),
        ] {
            assert_eq!(percent(f), want, "{f}");
        }
    }

    #[test]
    fn counts_have_thousands_separators() {
        for (n, want) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(count(n), want);
        }
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        // 2026-11-25T06:31:37.123456789Z
        let ns = 1_795_588_297_123_456_789;
        assert_eq!(timestamp_ns(ns), "2026-11-25 06:31:37.123");
        assert_eq!(iso_ns(ns), "2026-11-25T06:31:37.123Z");
        assert_eq!(timestamp_ns(0), "1970-01-01 00:00:00.000");
        // Before 1970 the milliseconds still count forwards.
        assert_eq!(iso_ns(-1_000_000), "1969-12-31T23:59:59.999Z");
        // The extremes of i64 are within chrono's range: text, no panic.
        assert!(timestamp_ns(i64::MIN).starts_with("1677-"));
        assert!(iso_ns(i64::MAX).starts_with("2262-"));
    }

    fn joined(ps: &[Piece<'_>]) -> String {
        ps.iter().map(Piece::text).collect()
    }

    #[test]
    fn pieces_find_masks_and_pseudonyms() {
        let p = Pseudonymizer::new(b"key");
        let pseudo = p.pseudonym(Kind::Email, "alice@example.com");
        let text = format!("user {pseudo} paid with [REDACTED:card]!");
        let ps = pieces(&text);
        assert_eq!(ps.len(), 5, "{ps:?}");
        assert_eq!(ps[0], Piece::Text("user "));
        assert_eq!(
            ps[1],
            Piece::Marker {
                text: &pseudo,
                kind: "email",
                how: How::Pseudonym
            }
        );
        assert_eq!(ps[2], Piece::Text(" paid with "));
        assert_eq!(
            ps[3],
            Piece::Marker {
                text: "[REDACTED:card]",
                kind: "card",
                how: How::Masked
            }
        );
        assert_eq!(ps[4], Piece::Text("!"));
        assert!(has_markers(&text));
    }

    #[test]
    fn pieces_agree_with_scrim_redact_on_every_kind() {
        let p = Pseudonymizer::new(b"key");
        for &k in Kind::ALL {
            for m in [mask_marker(k).to_owned(), p.pseudonym(k, "v")] {
                let ps = pieces(&m);
                let [Piece::Marker { kind, text, .. }] = ps.as_slice() else {
                    panic!("{m}: {ps:?}");
                };
                assert_eq!(*kind, k.as_str());
                assert_eq!(*text, m);
                assert_eq!(replacement_kind(text), Some(k));
            }
        }
    }

    #[test]
    fn look_alikes_are_plain_text() {
        for not in [
            "",
            "[]",
            "[REDACTED]",
            "[REDACTED:card",
            "[REDACTED:nope]",
            "[email:short]",
            "[email:UPPERCASEUPPERCA]",
            "[email:abcdefghijklmnop2]",
            "[nope:abcdefghijklmnop]",
            "[REDACTED:email ]",
            "SELECT * FROM t WHERE id = ?",
            "[[[[",
        ] {
            assert_eq!(pieces(not).len(), usize::from(!not.is_empty()), "{not}");
            assert!(!has_markers(not), "{not}");
        }
    }

    #[test]
    fn pieces_cover_the_input_exactly() {
        let inputs = [
            "plain",
            "[REDACTED:card",
            "[email:short]",
            "[[REDACTED:card]]",
            "[REDACTED:card][REDACTED:ssn]",
            "é[REDACTED:email]ü — 日本[ip:abc]",
            "[REDACTED:email]",
            "x[email:abcdefghijklmnop]y[REDACTED:card",
            "]]][[[:::",
            "[日本語:abcdefghijklmnop]",
            "emoji 🎉[REDACTED:jwt]🎉[",
        ];
        for input in inputs {
            let ps = pieces(input);
            assert_eq!(joined(&ps), input);
            // No empty pieces, and no two text runs in a row.
            assert!(ps.iter().all(|p| !p.text().is_empty()), "{input}");
            assert!(
                ps.windows(2)
                    .all(|w| !matches!(w, [Piece::Text(_), Piece::Text(_)])),
                "{input}"
            );
        }
        // Every prefix of a tricky string (cut at char boundaries) also round-trips.
        let tricky = "a[REDACTED:card]é[email:abcdefghijklmnop]「[REDACTED:x]";
        for (i, _) in tricky.char_indices() {
            let prefix = &tricky[..i];
            assert_eq!(joined(&pieces(prefix)), prefix);
        }
        let markers = pieces(tricky)
            .iter()
            .filter(|p| matches!(p, Piece::Marker { .. }))
            .count();
        assert_eq!(markers, 2);
    }

    #[test]
    fn scanning_is_linear() {
        // Many opening brackets, none closing: a quadratic scan would take seconds.
        let text = "[".repeat(200_000) + "[REDACTED:card]";
        let started = std::time::Instant::now();
        let ps = pieces(&text);
        assert_eq!(ps.len(), 2);
        assert_eq!(joined(&ps), text);
        assert!(started.elapsed().as_secs() < 2);
    }

    #[test]
    fn labels_and_explanations() {
        assert_eq!(kind_label("card"), "card number");
        assert_eq!(kind_label("email"), "email address");
        assert_eq!(kind_label("ipv4"), "IPv4 address");
        assert_eq!(kind_label("sql"), "SQL literals");
        assert_eq!(kind_label("id"), "identifier");
        assert_eq!(kind_label("bogus"), "sensitive value");
        for &k in Kind::ALL {
            assert_ne!(kind_label(k.as_str()), "sensitive value", "{k}");
        }
        assert_eq!(
            explain("card", How::Masked),
            "card number removed by the capture policy (mask)"
        );
        assert_eq!(
            explain("email", How::Pseudonym),
            "email address replaced by a keyed pseudonym (hash)"
        );
    }
}
