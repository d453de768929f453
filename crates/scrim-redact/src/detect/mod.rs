//! Detectors: find sensitive values inside any text (log lines, exception messages,
//! attribute values) and validate them, so that look-alikes are left alone.
//!
//! A [`Scanner`] is compiled once from a [`DetectorSet`] and a [`SensitiveKeys`] list and
//! reused for every text; [`Scanner::find`] reports [`Finding`]s (a kind and a byte range).
//! A [`TextRedactor`] replaces each finding according to a [`Methods`] table (mask, keyed
//! pseudonym, remove, keep).
//!
//! # Output contract: the rules
//!
//! *Word character* below means an ASCII letter, digit or `_`. Ranges are byte ranges into
//! the scanned text and always fall on character boundaries.
//!
//! **Numbers** (cards, SSNs, IPv4) must not be glued to other text: the byte before a
//! candidate is not a word character, nor a `.` or `-` directly after a digit; the byte
//! after is not a word character, nor a `.` or `-` directly followed by a digit.
//! (IPv4 is stricter before, laxer after: see below.)
//!
//! - **card**: 12–19 digits, written either without separators or in groups separated by
//!   one space or one dash (the same separator throughout), the first group of at least
//!   four digits (as every issuer prints them). The digits must fall in a known
//!   IIN range with a length valid for that network — Visa `4` (13, 16, 19), Mastercard
//!   `51`–`55` and `2221`–`2720` (16), Amex `34`/`37` (15), Discover `6011`, `644`–`649`,
//!   `65`, `622126`–`622925` (16–19), JCB `3528`–`3589` (16–19), Diners `300`–`305`, `3095`,
//!   `36`, `38`–`39` (14–19), UnionPay `62` (16–19), Mir `2200`–`2204` (16–19), Maestro
//!   `5018`, `5020`, `5038`, `5893`, `6304`, `6759`, `6761`–`6763` (12–19) — and pass the
//!   Luhn check. In a space-separated run of numbers a card may start at any group of four
//!   or more digits; the longest valid card from there wins. Epoch milliseconds, order ids and phone numbers fail IIN,
//!   length or Luhn and are left alone.
//! - **ssn**: `AAA-GG-SSSS` with dashes only (undelimited or space-separated nine digits
//!   are too common in logs); area not `000`, `666` or `900`–`999`, group not `00`, serial
//!   not `0000`. After a key containing `ssn` or `social security` (see *secret*), a valid
//!   SSN value written as nine digits, or with dashes or spaces, is reported as `ssn`.
//! - **iban**: two uppercase letters (a country in the registry's length table), two check
//!   digits, then the BBAN in uppercase letters and digits, either compact or in groups of
//!   four separated by single spaces; exactly the country's length; MOD-97 of the
//!   rearranged number equals 1. Not glued to word characters on either side.
//! - **email**: `local@domain`. The local part is `[A-Za-z0-9._%+-]{1,64}` (leading dots are
//!   not part of it); the domain is two or more labels of `[A-Za-z0-9-]` (no label starts or
//!   ends with `-`), at most 253 bytes, ending in an alphabetic top-level label of two or
//!   more letters. So `user@localhost` and `root@10.0.0.1` are **not** emails (the latter's
//!   address is an IPv4 finding), and `icon@2x.png` (a first label `<digits>x`) is not
//!   either. An `@` inside a URL's authority (`scheme://user@host`) is userinfo, not an
//!   email (see *url_credentials*).
//! - **ipv4**: four decimal octets 0–255 without leading zeros (`010` is not an octet),
//!   separated by dots. Not preceded by a word character or `.` (so `v1.2.3.4` and the
//!   tail of `1.2.3.4.5` are not addresses), not followed by a word character or by `.` and
//!   a digit (so `1.2.3.4.5` is not one). A bare `1.2.3.4` is an address even if it was
//!   meant as a version: the two cannot be told apart.
//! - **ipv6**: RFC 4291 text forms: eight groups of 1–4 hex digits, or fewer with one `::`,
//!   optionally ending in an embedded IPv4 (`::ffff:192.0.2.1`). Not glued to word
//!   characters, `:` or `.`. A compressed form needs at least two groups and one group of
//!   three or more hex digits, which keeps `a::b` and `std::io` out (and with them `::1`).
//!   Times (`12:30:45`) and MAC addresses (`ab:cd:ef:01:23:45`) are not valid IPv6 and are
//!   left alone.
//! - **jwt**: three base64url parts separated by dots (the third may be empty), starting
//!   with `eyJ`, not glued to a base64url character before; the first part must decode to
//!   JSON starting with `{` that contains `"alg"`.
//! - **bearer_token**: the credential after `Bearer ` or `Basic ` (the scheme word in
//!   `Bearer`, `bearer` or `BEARER` spelling, not glued to a word character before), an
//!   RFC 6750 `b64token`: `[A-Za-z0-9._~+/-]+` then only `=` padding (not followed by a
//!   word character or `[`, so `scheme=Bearer status=200` has no credential). A Bearer credential must be at least 8 characters long and
//!   contain a digit or be at least 20 characters long (so prose like `Bearer
//!   authentication` stays); a Basic credential must be base64 that decodes to text with a
//!   `:`. Only the credential is reported, the scheme word stays.
//! - **aws_access_key**: `AKIA`, `ASIA`, `ABIA`, `ACCA`, `AGPA`, `AIDA`, `AIPA`, `ANPA`,
//!   `ANVA`, `APKA` or `AROA` followed by exactly 16 of `[A-Z0-9]`, not glued to letters or
//!   digits.
//! - **aws_secret_key**: an assignment (see *secret*) whose key, lowercased without
//!   separators, contains `secretaccesskey`, or both `aws` and `secret`, and whose value is
//!   exactly 40 of `[A-Za-z0-9/+]`. (The key need not be in the sensitive-key list.)
//! - **github_token**: `ghp_`, `gho_`, `ghu_`, `ghs_` or `ghr_` followed by 36 or more
//!   letters and digits, or `github_pat_` followed by 22 or more of `[A-Za-z0-9_]`; not
//!   glued to a word character before.
//! - **slack_token**: `xoxb-`, `xoxa-`, `xoxp-`, `xoxr-` or `xoxs-` followed by 10 or more of
//!   `[A-Za-z0-9-]` (the whole token is reported), or the path after
//!   `hooks.slack.com/services/` (`[A-Za-z0-9/_-]`, at least 3 characters; the host stays).
//! - **stripe_key**: `sk_live_`, `rk_live_`, `sk_test_` or `rk_test_` followed by 10 or
//!   more letters and digits (the whole key is reported).
//! - **google_api_key**: `AIza` followed by exactly 35 of `[A-Za-z0-9_-]`.
//! - **private_key**: from `-----BEGIN <label>-----`, where the label ends in
//!   `PRIVATE KEY`, through the matching `-----END <label>-----`; an unterminated block
//!   runs to the end of the text.
//! - **url_credentials**: the userinfo of `scheme://userinfo@host`: everything after
//!   `://` up to the **last** `@` before the authority ends (at `/`, `?`, `#`, whitespace,
//!   a quote, `<`, `>` or the end), whether it is `user:password`, a bare user or a token.
//!   The scheme must be `[A-Za-z][A-Za-z0-9+.-]*`.
//! - **secret**: an assignment `key=value`, `key: value`, `key := value`, `key => value`,
//!   with the key optionally quoted (`"key": …`, `'key'=…`) and optional spaces around the
//!   separator, where [`SensitiveKeys::is_sensitive`] accepts the key (`[A-Za-z0-9_.-]+`).
//!   A quoted value (`"…"` or `'…'`, backslash escapes honoured) is reported without its
//!   quotes; an unterminated quote runs to the end of the line. An unquoted value runs up
//!   to whitespace, `&`, `,`, `;`, `"` or the end. A value that starts with an HTTP auth
//!   scheme (`Bearer`, `Basic`, `Token`, `Digest`, `Negotiate`, any case) followed by a
//!   space keeps the scheme word; only the credential after it is reported. Values that
//!   are empty or start with `{` are not reported (`::` and `://` are not separators).
//!
//! Text already redacted is never detected again: a candidate that starts inside (or at)
//! a mask marker (`[REDACTED:<kind>]`) or a pseudonym (`[<kind>:<16 base32 chars>]`), or
//! is glued to one (ends right before its `[` or starts right after its `]`), is dropped.
//! Where a rule looks one step past a neighbouring value, a marker there is read as the
//! value it may have replaced: as a digit after a number's `.`/`-`, as a `://` before an
//! email's local part, as the `/` that ends a URL authority, as more domain after an
//! email's `.`/`-`; an email label ending in `-` is no domain at all. So redacting twice
//! (with mask or hash) gives the same text as redacting once. (`remove` is not
//! idempotent for context-found kinds: once `pwd: x y` is `pwd:  y`, `y` is the value.)
//!
//! # Overlaps
//!
//! Candidates from all detectors are ordered by start. Candidates that overlap (share at
//! least one byte) form one group, which becomes **one finding spanning the union of their
//! ranges**, so no part of any candidate is ever left in clear. The group's kind is the
//! kind of its longest candidate; between equally long candidates the more specific kind
//! wins, in this order: private_key, jwt, aws_access_key, aws_secret_key, github_token,
//! slack_token, stripe_key, google_api_key, card, iban, ssn, url_credentials, email, ipv6,
//! ipv4, bearer_token, secret. (So `password=4111111111111111` is a card, and
//! `token="Bearer eyJ…"` is a secret covering the whole quoted value.)
//!
//! # Cost
//!
//! Every detector is linear in the text: three prefilter passes (an Aho-Corasick
//! automaton over the fixed prefixes, `memchr` for `@`, and one fused pass that reads the
//! text 64 bytes at a time into one bit per byte for each byte class it needs (digits,
//! word characters, `.`, `=` and `:`, key characters, IPv6 characters; SSE2 compares on
//! x86-64), and finds the candidate numbers, separators and IPv6 runs with shifts and
//! masks over those bits, rejecting there what cannot be one) and small, bounded checks
//! around each trigger. No regular expression runs
//! over the text. A text of at most 256 bytes (a JSON string, an attribute value) is
//! first read once for the bytes each pass needs (a pattern's first three bytes, `@`, `=` or
//! `:`, as many digits and dots as the shortest number), and the passes that cannot find
//! anything are skipped. In a longer text
//! the key check's verdict is kept for each key of up to 16 bytes, as keys repeat.

mod assign;
mod net;
mod numeric;
mod scan;
mod tokens;

use std::borrow::Cow;
use std::sync::Arc;

use crate::TextScrubber;
use crate::cow::CowBuilder;
use crate::keys::SensitiveKeys;
use crate::kind::{Counts, Kind};
use crate::method::{self, Method, Methods, Pseudonymizer};

/// A sensitive value found in a text: its kind and its byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Finding {
    /// What was found.
    pub kind: Kind,
    /// Byte offset of the first byte (on a char boundary).
    pub start: usize,
    /// Byte offset one past the last byte (on a char boundary).
    pub end: usize,
}

impl Finding {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the range is empty (never true for a reported finding).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// The kinds a [`Scanner`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DetectorSet(u32);

impl DetectorSet {
    /// The kinds that have a text detector, in [`Kind::ALL`] order. (`query_param`,
    /// `url_signature` and `sql` are found by the structured modules, not in free text.)
    pub const DETECTABLE: &'static [Kind] = &[
        Kind::Card,
        Kind::Ssn,
        Kind::Iban,
        Kind::Email,
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::Jwt,
        Kind::BearerToken,
        Kind::AwsAccessKey,
        Kind::AwsSecretKey,
        Kind::GithubToken,
        Kind::SlackToken,
        Kind::StripeKey,
        Kind::GoogleApiKey,
        Kind::PrivateKey,
        Kind::UrlCredentials,
        Kind::Secret,
    ];

    /// Every detector.
    pub fn all() -> Self {
        Self::DETECTABLE
            .iter()
            .fold(Self::none(), |set, &k| set.with(k))
    }

    /// No detector.
    pub const fn none() -> Self {
        DetectorSet(0)
    }

    /// This set plus `kind` (a kind without a text detector is ignored).
    pub fn with(self, kind: Kind) -> Self {
        if Self::DETECTABLE.contains(&kind) {
            DetectorSet(self.0 | (1 << kind as u32))
        } else {
            self
        }
    }

    /// This set without `kind`.
    pub fn without(self, kind: Kind) -> Self {
        DetectorSet(self.0 & !(1 << kind as u32))
    }

    /// Whether `kind` is looked for.
    pub fn contains(&self, kind: Kind) -> bool {
        self.0 & (1 << kind as u32) != 0
    }

    /// The kinds in the set, in [`Kind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = Kind> + '_ {
        Self::DETECTABLE
            .iter()
            .copied()
            .filter(|&k| self.contains(k))
    }
}

impl Default for DetectorSet {
    fn default() -> Self {
        Self::all()
    }
}

/// The compiled detectors. Build once, share freely (`Send + Sync + Clone`; cloning is
/// cheap apart from the key list).
#[derive(Debug, Clone)]
pub struct Scanner {
    set: DetectorSet,
    tokens: Option<tokens::Prefixes>,
    assign: Option<assign::Assignments>,
}

impl Default for Scanner {
    /// Every detector, the default sensitive keys.
    fn default() -> Self {
        Scanner::new(&DetectorSet::all(), &SensitiveKeys::default())
    }
}

impl Scanner {
    /// Compiles the detectors in `detectors`; `keys` decides which assignments are secrets.
    pub fn new(detectors: &DetectorSet, keys: &SensitiveKeys) -> Scanner {
        let set = *detectors;
        Scanner {
            set,
            tokens: tokens::Prefixes::new(set),
            assign: assign::Assignments::new(set, keys),
        }
    }

    /// The detectors this scanner runs.
    pub fn detectors(&self) -> DetectorSet {
        self.set
    }

    /// Appends the findings in `text` to `out`: sorted by start, non-overlapping (see the
    /// module documentation for the overlap rule). Findings already in `out` are kept.
    pub fn find(&self, text: &str, out: &mut Vec<Finding>) {
        let base = out.len();
        let b = text.as_bytes();
        let set = self.set;
        // Short texts (JSON strings, attribute values) first go through one cheap pass
        // that tells which detectors can find anything at all: most find nothing, and
        // each detector pass has a fixed cost of entry.
        let need = if b.len() <= SHORT {
            self.needed(b)
        } else {
            Need::ALL
        };
        if need.0 == 0 {
            return;
        }
        if let Some(t) = &self.tokens
            && need.has(Need::PREFIX)
        {
            t.find(b, out);
        }
        if set.contains(Kind::Email) && need.has(Need::AT) {
            net::find_emails(b, out);
        }
        scan::find(
            set,
            self.assign.as_ref(),
            b,
            need.has(Need::NUMBER),
            need.has(Need::SEP),
            out,
        );
        if out.len() > base {
            resolve(text, out, base);
        }
    }

    /// The detector passes that may find something in `b` (see [`Need`]), in one pass
    /// over its bytes.
    fn needed(&self, b: &[u8]) -> Need {
        let mut need = 0u8;
        let mut pre = 0u8;
        // Digits in the low half, dots in the high half (a short text has at most 256).
        let mut count = 0u32;
        // The pattern-first-byte index of the byte before (0: none), and the index of the
        // pattern pair that ends there (0: none).
        let (mut first, mut pair) = (0usize, 0usize);
        for &c in b {
            let q = QUICK[usize::from(c)];
            need |= q;
            count += COUNT[usize::from(c)];
            if let Some(t) = &self.tokens {
                pre |= t.third(pair, c);
                pair = t.pair(first, c);
            }
            first = usize::from(q >> 4);
        }
        // A card has at least 12 digits, a dashed SSN 9, an IPv4 address 4 and three
        // dots, an IBAN (15 characters or more) two check digits.
        let (digits, dots) = (count & 0xffff, count >> 16);
        let number = digits >= 9 || (digits >= 4 && dots >= 3) || (digits >= 2 && b.len() >= 15);
        if !number {
            need &= !Need::NUMBER;
        }
        Need((need & (Need::AT | Need::SEP | Need::NUMBER)) | (pre & Need::PREFIX))
    }

    /// The findings in `text`, in a new vector.
    pub fn find_all(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        self.find(text, &mut out);
        out
    }
}

/// Texts up to this length go through [`Scanner::needed`] first.
const SHORT: usize = 256;

/// Which detector passes may find something in a text: a necessary condition for each,
/// exact (a pass that is skipped would have found nothing).
#[derive(Clone, Copy)]
struct Need(u8);

impl Need {
    /// The prefix automaton: the first three bytes of some pattern, adjacent.
    const PREFIX: u8 = 1;
    /// Emails: an `@`.
    const AT: u8 = 2;
    /// The separator detectors (assignments, IPv6): an `=` or a `:`.
    const SEP: u8 = 4;
    /// The number detectors: enough digits (and dots) for the shortest number of each kind.
    const NUMBER: u8 = 8;
    const ALL: Need = Need(Self::PREFIX | Self::AT | Self::SEP | Self::NUMBER);

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// Classes of [`Scanner::needed`]: `AT`, `SEP` and `NUMBER` (a digit) as in [`Need`] in
/// the low four bits, and in the high four the byte's index in [`tokens::FIRSTS`] plus one (0:
/// not the first byte of any prefix pattern).
/// 1 for a digit, `1 << 16` for a dot: summed over a short text, its digits and dots.
const COUNT: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = 1;
        c += 1;
    }
    t[b'.' as usize] = 1 << 16;
    t
};
const QUICK: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'@' => Need::AT,
            b'=' | b':' => Need::SEP,
            b'0'..=b'9' => Need::NUMBER,
            _ => 0,
        };
        c += 1;
    }
    let mut k = 0;
    while k < tokens::FIRSTS.len() {
        t[tokens::FIRSTS[k] as usize] |= ((k + 1) as u8) << 4;
        k += 1;
    }
    t
};

/// How specific a kind is (lower wins a tie between equally long overlapping candidates).
fn specificity(kind: Kind) -> u8 {
    match kind {
        Kind::PrivateKey => 0,
        Kind::Jwt => 1,
        Kind::AwsAccessKey => 2,
        Kind::AwsSecretKey => 3,
        Kind::GithubToken => 4,
        Kind::SlackToken => 5,
        Kind::StripeKey => 6,
        Kind::GoogleApiKey => 7,
        Kind::Card => 8,
        Kind::Iban => 9,
        Kind::Ssn => 10,
        Kind::UrlCredentials => 11,
        Kind::Email => 12,
        Kind::Ipv6 => 13,
        Kind::Ipv4 => 14,
        Kind::BearerToken => 15,
        Kind::Secret => 16,
        Kind::QueryParam | Kind::UrlSignature | Kind::SqlStatement | Kind::Identifier => 17,
    }
}

/// Drops candidates inside markers, then merges overlapping candidates in
/// `out[base..]` (the overlap rule of the module documentation).
fn resolve(text: &str, out: &mut Vec<Finding>, base: usize) {
    let b = text.as_bytes();
    let mut w = base;
    for r in base..out.len() {
        let f = out[r];
        if f.start < f.end
            && text.is_char_boundary(f.start)
            && text.is_char_boundary(f.end)
            && !touches_marker(b, f.start, f.end)
        {
            out[w] = f;
            w += 1;
        }
    }
    out.truncate(w);
    let cands = &mut out[base..];
    cands.sort_unstable_by_key(|f| (f.start, std::cmp::Reverse(f.end), specificity(f.kind)));
    let mut w = base;
    let mut r = base;
    let n = out.len();
    while r < n {
        let mut group = out[r];
        let mut best = group;
        r += 1;
        while r < n && out[r].start < group.end {
            let c = out[r];
            group.end = group.end.max(c.end);
            if c.len() > best.len()
                || (c.len() == best.len() && specificity(c.kind) < specificity(best.kind))
            {
                best = c;
            }
            r += 1;
        }
        group.kind = best.kind;
        out[w] = group;
        w += 1;
    }
    out.truncate(w);
}

/// Whether the candidate `start..end` starts inside (or at) a mask marker
/// `[REDACTED:<kind>]` or a pseudonym `[<kind>:<16 base32>]`, or is glued to one (ends
/// right before one or starts right after one). Such candidates are dropped, so that
/// redacted text is never redacted again: a value next to a replaced one was judged,
/// the first time, against the replaced text, which a marker no longer shows.
fn touches_marker(b: &[u8], start: usize, end: usize) -> bool {
    // The longest marker is `[REDACTED:url_credentials]` (26 bytes); a pseudonym is at
    // most `[url_credentials:` + 16 + `]` (34 bytes).
    const LONGEST: usize = 40;
    let from = start.saturating_sub(LONGEST);
    if let Some(open) = memchr::memrchr(b'[', &b[from..=start.min(b.len() - 1)]) {
        let open = from + open;
        if marker_end(b, open).is_some_and(|close| start < close) {
            return true;
        }
    }
    if start > 0 && b[start - 1] == b']' {
        let from = start.saturating_sub(LONGEST);
        if let Some(open) = memchr::memrchr(b'[', &b[from..start])
            && marker_end(b, from + open) == Some(start)
        {
            return true;
        }
    }
    b.get(end) == Some(&b'[') && marker_end(b, end).is_some()
}

/// Whether a marker or pseudonym ends right before `i`.
pub(crate) fn marker_ends_at(b: &[u8], i: usize) -> bool {
    if i == 0 || b[i - 1] != b']' {
        return false;
    }
    let from = i.saturating_sub(40);
    memchr::memrchr(b'[', &b[from..i]).is_some_and(|open| marker_end(b, from + open) == Some(i))
}

/// Whether a marker or pseudonym starts at `i`.
pub(crate) fn marker_starts_at(b: &[u8], i: usize) -> bool {
    b.get(i) == Some(&b'[') && marker_end(b, i).is_some()
}

/// If a marker or pseudonym starts at `open` (a `[`), the offset one past its `]`.
pub(crate) fn marker_end(b: &[u8], open: usize) -> Option<usize> {
    let rest = &b[open + 1..];
    let colon = rest.iter().take(20).position(|&c| c == b':')?;
    let name = std::str::from_utf8(&rest[..colon]).ok()?;
    let after = &rest[colon + 1..];
    let len = if name == "REDACTED" {
        let close = after.iter().take(20).position(|&c| c == b']')?;
        Kind::from_name(std::str::from_utf8(&after[..close]).ok()?)?;
        close
    } else {
        Kind::from_name(name)?;
        let n = method::PSEUDONYM_CHARS;
        if after.len() <= n
            || after[n] != b']'
            || !after[..n]
                .iter()
                .all(|c| matches!(c, b'a'..=b'z' | b'2'..=b'7'))
        {
            return None;
        }
        n
    };
    Some(open + 1 + colon + 1 + len + 1)
}

/// Redacts free text with a [`Scanner`]: each finding is replaced per its kind's
/// [`Method`] (see [`method::apply`]).
#[derive(Debug, Clone)]
pub struct TextRedactor {
    scanner: Arc<Scanner>,
    methods: Methods,
    pseudonymizer: Option<Pseudonymizer>,
}

impl Default for TextRedactor {
    /// Every detector, default keys, everything masked.
    fn default() -> Self {
        TextRedactor::new(Scanner::default(), Methods::default(), None)
    }
}

impl TextRedactor {
    /// A redactor that finds with `scanner` and replaces per `methods`; `Hash` without a
    /// pseudonymizer masks.
    pub fn new(
        scanner: impl Into<Arc<Scanner>>,
        methods: Methods,
        pseudonymizer: Option<Pseudonymizer>,
    ) -> Self {
        TextRedactor {
            scanner: scanner.into(),
            methods,
            pseudonymizer,
        }
    }

    /// The scanner.
    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// The methods per kind.
    pub fn methods(&self) -> &Methods {
        &self.methods
    }
}

impl TextScrubber for TextRedactor {
    /// Replaces every finding per its method; counts every finding whose method is not
    /// `keep`. Borrowed, without any heap allocation, when nothing is found (or everything
    /// found is kept).
    fn scrub<'t>(&self, text: &'t str, counts: &mut Counts) -> Cow<'t, str> {
        let mut findings = Vec::new();
        self.scanner.find(text, &mut findings);
        if findings.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = CowBuilder::new(text);
        let mut pos = 0;
        for f in &findings {
            let m = self.methods.get(f.kind);
            out.keep(pos, f.start);
            let value = &text[f.start..f.end];
            if m == Method::Keep {
                out.keep(f.start, f.end);
            } else {
                counts.add(f.kind);
                let rep = method::apply(m, f.kind, value, self.pseudonymizer.as_ref());
                if !rep.is_empty() {
                    out.push_new(&rep);
                }
            }
            pos = f.end;
        }
        out.keep(pos, text.len());
        out.finish()
    }
}

/// Byte classes shared by the detectors.
pub(crate) mod class {
    /// ASCII letter, digit or `_`.
    #[inline]
    pub(crate) fn is_word(c: u8) -> bool {
        c.is_ascii_alphanumeric() || c == b'_'
    }

    /// The byte at `i`, or 0 past either end.
    #[inline]
    pub(crate) fn at(b: &[u8], i: usize) -> u8 {
        b.get(i).copied().unwrap_or(0)
    }

    /// The byte before `i`, or 0 at the start.
    #[inline]
    pub(crate) fn before(b: &[u8], i: usize) -> u8 {
        if i == 0 { 0 } else { b[i - 1] }
    }

    /// Length of the run at `from` of bytes satisfying `f`.
    #[inline]
    pub(crate) fn run(b: &[u8], from: usize, f: impl Fn(u8) -> bool) -> usize {
        b[from.min(b.len())..].iter().take_while(|&&c| f(c)).count()
    }

    /// Base64url alphabet.
    #[inline]
    pub(crate) fn is_b64url(c: u8) -> bool {
        c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
    }

    /// The value of a base64 (standard or url) digit.
    #[inline]
    pub(crate) fn b64_value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }

    /// Decodes base64 (either alphabet, padding ignored) and feeds each byte to `f`
    /// until it returns `false`. Returns `false` on an invalid digit.
    pub(crate) fn b64_decode(src: &[u8], mut f: impl FnMut(u8) -> bool) -> bool {
        let (mut acc, mut bits) = (0u32, 0u32);
        for &c in src {
            if c == b'=' {
                break;
            }
            let Some(v) = b64_value(c) else {
                return false;
            };
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                if !f((acc >> bits) as u8) {
                    return true;
                }
                acc &= (1 << bits) - 1;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        Scanner::default()
            .find_all(text)
            .into_iter()
            .map(|f| (f.kind, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn scanner_and_redactor_are_shareable() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<Scanner>();
        shareable::<TextRedactor>();
        shareable::<Finding>();
        shareable::<DetectorSet>();
    }

    #[test]
    fn detector_set_builds() {
        let s = DetectorSet::none().with(Kind::Card).with(Kind::QueryParam);
        assert!(s.contains(Kind::Card));
        assert!(!s.contains(Kind::QueryParam));
        assert!(!s.without(Kind::Card).contains(Kind::Card));
        assert_eq!(
            DetectorSet::all().iter().count(),
            DetectorSet::DETECTABLE.len()
        );
    }

    #[test]
    fn overlaps_merge_to_the_longest_kind() {
        assert_eq!(
            kinds("password=4111111111111111 x"),
            [(Kind::Card, "4111111111111111")]
        );
        assert_eq!(
            kinds("ip ::ffff:192.0.2.1 x"),
            [(Kind::Ipv6, "::ffff:192.0.2.1")]
        );
    }

    #[test]
    fn markers_are_recognised() {
        let b = b"x [REDACTED:email] [email:abcdefghijklmnop] [email:abc]";
        assert_eq!(marker_end(b, 2), Some(18));
        assert_eq!(marker_end(b, 19), Some(43));
        assert_eq!(marker_end(b, 44), None);
        assert!(touches_marker(b, 3, 17));
        assert!(touches_marker(b, 2, 30));
        assert!(touches_marker(b, 18, 19));
        assert!(!touches_marker(b, 45, 50));
        assert!(touches_marker(b"ab[REDACTED:ssn]", 0, 2));
        assert!(!touches_marker(b"ab[REDACTED:ss]", 0, 2));
    }

    #[test]
    fn scrub_is_borrowed_when_clean() {
        let r = TextRedactor::default();
        let mut c = Counts::default();
        let t = "GET /api/v1/orders/83412 200 23ms";
        assert!(matches!(r.scrub(t, &mut c), Cow::Borrowed(_)));
        assert_eq!(c.total(), 0);
        let out = r.scrub("mail alice@example.com now", &mut c);
        assert_eq!(out, "mail [REDACTED:email] now");
        assert_eq!(c.get(Kind::Email), 1);
    }

    /// Pieces of every prefix pattern, their look-alikes and other detectors' values.
    const PIECES: &[&str] = &[
        "Bearer ",
        "bearer ",
        "BEARER ",
        "Basic ",
        "basic ",
        "BASIC ",
        "number",
        "bea",
        "ber",
        "dXNlcjpwYXNz",
        "abc12345678def",
        "eyJhbGciOiJIUzI1NiJ9",
        ".",
        "eyJzdWIiOiIxIn0",
        "ey",
        "eyJ",
        "AKIA",
        "AKIAIOSFODNN7EXAMPLE",
        "ASIA",
        "AK",
        "ghp_",
        "gh",
        "github_pat_",
        "xoxb-",
        "xox",
        "1234567890",
        "://",
        ":/",
        "https",
        "user:pw@host",
        "-----BEGIN ",
        "RSA PRIVATE KEY-----",
        "--",
        "sk_live_",
        "rk_test_",
        "sk_",
        "AIza",
        "AI",
        "hooks.slack.com/services/",
        "T0/B0/X",
        " ",
        "a",
        "@",
        "example.com",
        "=",
        "password",
        "4111 1111 1111 1111",
        "10.0.0.1",
        "::1",
        "fe80::1",
        "_",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// A short text (read once first, its passes skipped when they cannot find
        /// anything) gives the findings it gives with every pass run (the same text
        /// after 300 spaces, which is long).
        #[test]
        fn the_short_text_prefilter_skips_only_passes_that_find_nothing(
            parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..24),
        ) {
            let t = parts.concat();
            proptest::prop_assume!(t.len() <= SHORT);
            let pad = " ".repeat(300);
            let long = format!("{pad}{t}");
            let s = Scanner::default();
            let shifted: Vec<Finding> = s
                .find_all(&long)
                .into_iter()
                .map(|f| Finding { start: f.start - 300, end: f.end - 300, ..f })
                .collect();
            proptest::prop_assert_eq!(s.find_all(&t), shifted);
        }
    }
}
