//! Secrets with a fixed prefix: provider keys and tokens, JWTs, auth headers, PEM private
//! keys and URL credentials. One Aho-Corasick pass finds every prefix; an anchored check
//! validates each.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::class::{at, b64_decode, before, is_b64url, is_word, run};
use super::{DetectorSet, Finding};
use crate::kind::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Aws,
    Github,
    GithubPat,
    Slack,
    SlackHook,
    Stripe,
    Google,
    Jwt,
    Pem,
    Url,
    Bearer,
    Basic,
}

const PATTERNS: &[(&str, Tok)] = &[
    ("AKIA", Tok::Aws),
    ("ASIA", Tok::Aws),
    ("ABIA", Tok::Aws),
    ("ACCA", Tok::Aws),
    ("AGPA", Tok::Aws),
    ("AIDA", Tok::Aws),
    ("AIPA", Tok::Aws),
    ("ANPA", Tok::Aws),
    ("ANVA", Tok::Aws),
    ("APKA", Tok::Aws),
    ("AROA", Tok::Aws),
    ("ghp_", Tok::Github),
    ("gho_", Tok::Github),
    ("ghu_", Tok::Github),
    ("ghs_", Tok::Github),
    ("ghr_", Tok::Github),
    ("github_pat_", Tok::GithubPat),
    ("xoxb-", Tok::Slack),
    ("xoxa-", Tok::Slack),
    ("xoxp-", Tok::Slack),
    ("xoxr-", Tok::Slack),
    ("xoxs-", Tok::Slack),
    ("hooks.slack.com/services/", Tok::SlackHook),
    ("sk_live_", Tok::Stripe),
    ("rk_live_", Tok::Stripe),
    ("sk_test_", Tok::Stripe),
    ("rk_test_", Tok::Stripe),
    ("AIza", Tok::Google),
    ("eyJ", Tok::Jwt),
    ("-----BEGIN ", Tok::Pem),
    ("://", Tok::Url),
    ("Bearer ", Tok::Bearer),
    ("bearer ", Tok::Bearer),
    ("BEARER ", Tok::Bearer),
    ("Basic ", Tok::Basic),
    ("basic ", Tok::Basic),
    ("BASIC ", Tok::Basic),
];

/// The distinct first bytes of the patterns (at most 15).
pub(super) const FIRSTS: &[u8] = b"AgxhsreB-:b";

/// The index of `c` in [`FIRSTS`] plus one, or 0.
const fn first_index(c: u8) -> usize {
    let mut k = 0;
    while k < FIRSTS.len() {
        if FIRSTS[k] == c {
            return k + 1;
        }
        k += 1;
    }
    0
}

const _: () = {
    assert!(FIRSTS.len() < 16);
    let mut k = 0;
    while k < PATTERNS.len() {
        assert!(first_index(PATTERNS[k].0.as_bytes()[0]) != 0);
        k += 1;
    }
};

fn tok_kind(t: Tok) -> Kind {
    match t {
        Tok::Aws => Kind::AwsAccessKey,
        Tok::Github | Tok::GithubPat => Kind::GithubToken,
        Tok::Slack | Tok::SlackHook => Kind::SlackToken,
        Tok::Stripe => Kind::StripeKey,
        Tok::Google => Kind::GoogleApiKey,
        Tok::Jwt => Kind::Jwt,
        Tok::Pem => Kind::PrivateKey,
        Tok::Url => Kind::UrlCredentials,
        Tok::Bearer | Tok::Basic => Kind::BearerToken,
    }
}

/// The compiled prefix automaton for the enabled detectors.
#[derive(Debug, Clone)]
pub(super) struct Prefixes {
    ac: AhoCorasick,
    toks: Vec<Tok>,
    /// Row `first_index(a)`, column `b`: the index (from 1) of the pair if `a`, `b` are
    /// the first two bytes of some enabled pattern, else 0.
    pairs: Box<[[u8; 256]; 16]>,
    /// Row: a pair's index, column `c`: 1 if the pair followed by `c` starts some enabled
    /// pattern (row 0 is all 0). A text without such three bytes has no match.
    thirds: Box<[[u8; 256]; PAIRS]>,
}

/// More than the distinct two-byte starts of [`PATTERNS`] (checked below).
const PAIRS: usize = 48;

const _: () = {
    // Every pattern has a third byte, and the distinct first pairs fit in `PAIRS`.
    let mut k = 0;
    while k < PATTERNS.len() {
        assert!(PATTERNS[k].0.len() >= 3);
        k += 1;
    }
    assert!(PATTERNS.len() < PAIRS);
};

impl Prefixes {
    pub(super) fn new(set: DetectorSet) -> Option<Prefixes> {
        let (pats, toks): (Vec<&str>, Vec<Tok>) = PATTERNS
            .iter()
            .filter(|(_, t)| set.contains(tok_kind(*t)))
            .copied()
            .unzip();
        if pats.is_empty() {
            return None;
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&pats)
            .unwrap_or_else(|e| unreachable!("fixed patterns compile: {e}"));
        let mut pairs = Box::new([[0u8; 256]; 16]);
        let mut thirds = Box::new([[0u8; 256]; PAIRS]);
        let mut n = 0;
        for p in &pats {
            let p = p.as_bytes();
            let pair = &mut pairs[first_index(p[0])][usize::from(p[1])];
            if *pair == 0 {
                n += 1;
                *pair = n;
            }
            thirds[usize::from(*pair)][usize::from(p[2])] = 1;
        }
        Some(Prefixes {
            ac,
            toks,
            pairs,
            thirds,
        })
    }

    /// The index (from 1) of the first two bytes of some enabled pattern, if a byte of
    /// [`FIRSTS`] index `first` (see [`first_index`]) followed by `c` are those, else 0.
    #[inline(always)]
    pub(super) fn pair(&self, first: usize, c: u8) -> usize {
        usize::from(self.pairs[first][usize::from(c)])
    }

    /// 1 if the first two bytes of index `pair` (see [`Prefixes::pair`]; 0: none)
    /// followed by `c` start some enabled pattern, else 0: a necessary condition for a
    /// match (every pattern has three bytes or more), for the short-text prefilter.
    #[inline(always)]
    pub(super) fn third(&self, pair: usize, c: u8) -> u8 {
        self.thirds[pair][usize::from(c)]
    }

    pub(super) fn find(&self, b: &[u8], out: &mut Vec<Finding>) {
        // Matches before this offset are inside a PEM block (which may run to the end of
        // the text: skipping keeps the pass linear).
        let mut covered = 0;
        for m in self.ac.find_iter(b) {
            let (s, e) = (m.start(), m.end());
            if s < covered {
                continue;
            }
            let tok = self.toks[m.pattern().as_usize()];
            let found = match tok {
                Tok::Aws => aws(b, s, e),
                Tok::Github => github(b, s, e),
                Tok::GithubPat => github_pat(b, s, e),
                Tok::Slack => slack(b, s, e),
                Tok::SlackHook => slack_hook(b, e),
                Tok::Stripe => stripe(b, s, e),
                Tok::Google => google(b, s, e),
                Tok::Jwt => jwt(b, s),
                Tok::Pem => pem(b, s, e),
                Tok::Url => super::net::url_credentials_at(b, s),
                Tok::Bearer => bearer(b, s, e),
                Tok::Basic => basic(b, s, e),
            };
            if let Some((fs, fe)) = found {
                out.push(Finding {
                    kind: tok_kind(tok),
                    start: fs,
                    end: fe,
                });
                if tok == Tok::Pem {
                    covered = fe;
                }
            }
        }
    }
}

fn is_upper_alnum(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

fn aws(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if before(b, s).is_ascii_alphanumeric() {
        return None;
    }
    let n = run(b, e, is_upper_alnum);
    (n == 16 && !at(b, e + n).is_ascii_alphanumeric()).then_some((s, e + n))
}

fn github(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if is_word(before(b, s)) {
        return None;
    }
    let n = run(b, e, |c| c.is_ascii_alphanumeric());
    (36..=255).contains(&n).then_some((s, e + n))
}

fn github_pat(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if is_word(before(b, s)) {
        return None;
    }
    let n = run(b, e, is_word);
    (n >= 22).then_some((s, e + n))
}

fn slack(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if is_word(before(b, s)) {
        return None;
    }
    let n = run(b, e, |c| c.is_ascii_alphanumeric() || c == b'-');
    (n >= 10).then_some((s, e + n))
}

fn slack_hook(b: &[u8], e: usize) -> Option<(usize, usize)> {
    let n = run(b, e, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-')
    });
    // The finding starts at `services/`' end minus its name: keep the host visible.
    (n >= 3).then_some((e, e + n))
}

fn stripe(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if is_word(before(b, s)) {
        return None;
    }
    let n = run(b, e, |c| c.is_ascii_alphanumeric());
    (n >= 10).then_some((s, e + n))
}

fn google(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if is_b64url(before(b, s)) {
        return None;
    }
    let n = run(b, e, is_b64url);
    (n == 35).then_some((s, e + n))
}

/// `eyJ…` header `.` payload `.` signature; the header decodes to JSON with `"alg"`.
fn jwt(b: &[u8], s: usize) -> Option<(usize, usize)> {
    if is_b64url(before(b, s)) {
        return None;
    }
    let h = run(b, s, is_b64url);
    if at(b, s + h) != b'.' {
        return None;
    }
    let p = run(b, s + h + 1, is_b64url);
    if p < 2 || at(b, s + h + 1 + p) != b'.' {
        return None;
    }
    let sig_start = s + h + 1 + p + 1;
    let sig = run(b, sig_start, is_b64url);
    // The header: `{` then, somewhere, `"alg"`; a sliding window over decoded bytes.
    let mut first = true;
    let mut window = [0u8; 5];
    let mut found = false;
    let ok = b64_decode(&b[s..s + h], |c| {
        if first {
            first = false;
            if c != b'{' {
                return false;
            }
        }
        window.rotate_left(1);
        window[4] = c;
        if &window == b"\"alg\"" {
            found = true;
            return false;
        }
        true
    });
    (ok && found).then_some((s, sig_start + sig))
}

/// `-----BEGIN <label ending in PRIVATE KEY>-----` through the matching END line.
fn pem(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let label_len = b[e..]
        .iter()
        .take(64)
        .position(|&c| c == b'-' || c == b'\n')?;
    let label = &b[e..e + label_len];
    if !label.ends_with(b"PRIVATE KEY") || !b[e + label_len..].starts_with(b"-----") {
        return None;
    }
    let body = e + label_len + 5;
    let mut from = body;
    while let Some(off) = memchr::memmem::find(&b[from..], b"-----END ") {
        let le = from + off + 9;
        if b[le..].starts_with(label) && b[le + label.len()..].starts_with(b"-----") {
            return Some((s, le + label.len() + 5));
        }
        from = le;
    }
    Some((s, b.len()))
}

fn scheme_ok(b: &[u8], s: usize) -> bool {
    !is_word(before(b, s))
}

/// Length of an RFC 6750 `b64token` at `from`: `[A-Za-z0-9._~+/-]+` then `=` padding
/// only; 0 if a word character or `[` follows the padding (`status=200` is not one).
fn credential_len(b: &[u8], from: usize) -> usize {
    let n = run(b, from, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'+' | b'/' | b'-')
    });
    let pad = run(b, from + n, |c| c == b'=');
    // A `[` after the padding counts as a word character: it may be a marker that
    // replaced a value, and redacting again must decide as the first time did.
    let after = at(b, from + n + pad);
    if n == 0 || (pad > 0 && (is_word(after) || after == b'[')) {
        return 0;
    }
    n + pad
}

fn bearer(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if !scheme_ok(b, s) {
        return None;
    }
    let n = credential_len(b, e);
    let cred = &b[e..e + n];
    (n >= 20 || (n >= 8 && cred.iter().any(u8::is_ascii_digit))).then_some((e, e + n))
}

fn basic(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if !scheme_ok(b, s) {
        return None;
    }
    let n = credential_len(b, e);
    (n >= 4 && basic_credential(&b[e..e + n])).then_some((e, e + n))
}

/// Whether `cred` is base64 of `user:password` (printable text with a colon).
pub(super) fn basic_credential(cred: &[u8]) -> bool {
    let mut colon = false;
    let mut printable = true;
    let ok = b64_decode(cred, |c| {
        colon |= c == b':';
        printable &= c >= 0x20 && c != 0x7f;
        printable
    });
    ok && colon && printable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(Kind, &str)> {
        let mut out = Vec::new();
        Prefixes::new(DetectorSet::all())
            .expect("patterns")
            .find(text.as_bytes(), &mut out);
        out.iter()
            .map(|f| (f.kind, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn prefixed_tokens() {
        assert_eq!(
            found("k=AKIAIOSFODNN7EXAMPLE;"),
            [(Kind::AwsAccessKey, "AKIAIOSFODNN7EXAMPLE")]
        );
        assert_eq!(found("AKIAIOSFODNN7EXAMPL"), []);
        assert_eq!(found("xAKIAIOSFODNN7EXAMPLE"), []);
        let gh = format!("ghp_{}", "a1B2".repeat(9));
        assert_eq!(found(&gh), [(Kind::GithubToken, gh.as_str())]);
        assert_eq!(found("ghp_short"), []);
        assert_eq!(
            found("xoxb-123456789012-abcdef"),
            [(Kind::SlackToken, "xoxb-123456789012-abcdef")]
        );
        assert_eq!(
            found("https://hooks.slack.com/services/T000/B000/XXXX x"),
            [(Kind::SlackToken, "T000/B000/XXXX")]
        );
        assert_eq!(
            found("sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
            [(Kind::StripeKey, "sk_live_4eC39HqLyjWDarjtT1zdp7dc")]
        );
        let g = format!("AIza{}", "A".repeat(35));
        assert_eq!(found(&g), [(Kind::GoogleApiKey, g.as_str())]);
    }

    #[test]
    fn jwt_needs_an_alg_header() {
        let t = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(found(t), [(Kind::Jwt, t)]);
        // `{"typ":"x"}` has no alg.
        assert_eq!(found("eyJ0eXAiOiJ4In0.eyJzdWIiOiIxIn0.c2ln"), []);
        assert_eq!(found("eyJhbGciOiJIUzI1NiJ9"), []);
    }

    #[test]
    fn pem_blocks() {
        let t = "a -----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY----- b";
        assert_eq!(found(t), [(Kind::PrivateKey, &t[2..t.len() - 2])]);
        let u = "x -----BEGIN PRIVATE KEY-----\nMIIB";
        assert_eq!(found(u), [(Kind::PrivateKey, &u[2..])]);
        assert_eq!(
            found("-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----"),
            []
        );
    }

    #[test]
    fn auth_schemes() {
        assert_eq!(
            found("Authorization: Bearer abc123def456"),
            [(Kind::BearerToken, "abc123def456")]
        );
        assert_eq!(found("Bearer authentication"), []);
        assert_eq!(
            found("Basic dXNlcjpwYXNz"),
            [(Kind::BearerToken, "dXNlcjpwYXNz")]
        );
        assert_eq!(found("Basic authentication"), []);
    }
}
