//! URL redaction: OpenTelemetry's `url.full`, `http.url`, `url.path`, `url.query`,
//! `http.target`.
//!
//! [`redact_url`] takes a whole URL (or a relative reference such as `http.target`'s
//! `/search?q=x`), [`redact_query`] a bare query (`url.query`), [`redact_path`] a bare path
//! (`url.path`). Each returns its input borrowed, without allocating, when nothing changes.
//! Every function is idempotent: its output, redacted again with the same options and an
//! idempotent text scrubber, is unchanged.
//!
//! # Output contract
//!
//! Dashboards group by this output, so the rules below are an API; changing one is a
//! breaking change.
//!
//! ```text
//! https://alice:pw@shop.example/users/alice%40example.com?q=shoes&page=2&sig=abc#section
//! https://REDACTED:REDACTED@shop.example/users/[REDACTED:email]?q=?&page=?&sig=REDACTED#section
//! ```
//! (with the detectors as the text scrubber, default [`UrlOptions`]).
//!
//! ## Shapes accepted
//!
//! Leading and trailing ASCII whitespace is kept as it is and the rest is read as one of:
//!
//! - `scheme://authority path ?query #fragment`, for any scheme: a letter, then letters,
//!   digits, `+`, `-` or `.`; several such names joined by `:` count as one scheme, so
//!   `jdbc:postgresql://…` is read like `postgresql://…`;
//! - `//authority path ?query #fragment` (scheme-relative);
//! - `/path ?query #fragment`, `?query #fragment`, `#fragment` (relative references).
//!
//! The authority is `userinfo@host:port`; the host is a name made of ASCII letters, digits,
//! `-`, `.`, `_`, `~` and non-ASCII letters and digits, or an IPv6 address in brackets
//! (`[2001:db8::1]`, `[fe80::1%25eth0]`); the port is digits. Anything else (another
//! shape, a host with spaces, `%`, `=`, …) is **not a URL** and takes the fallback below.
//!
//! ## Userinfo
//!
//! Any non-empty userinfo becomes `REDACTED:REDACTED`, with or without a password
//! (`https://alice@host/` → `https://REDACTED:REDACTED@host/`): a user name is personal
//! data too, and one form keeps grouping stable. Counted as [`Kind::UrlCredentials`] (once
//! per URL), unless it already is `REDACTED:REDACTED`. An empty userinfo (`http://@host/`)
//! is kept.
//!
//! Where the userinfo ends: at the last `@` after `//` that comes before the first `=`
//! and before the first `/` (a `/` after a `?` or `#` does not count: it is part of a query
//! key or fragment, text the scrubber may rewrite), or at the last `@` before the first
//! `/`, `?` or `#` as RFC 3986 has it, whichever is later. So real passwords holding an
//! unencoded `?` or `#` go whole (`mysql://app:pa#ss@db/x` →
//! `mysql://REDACTED:REDACTED@db/x`, not a host `app` and a fragment `ss@db/x`), while an
//! `@` inside a query value never counts (`https://api.example?email=a@b.example` keeps its
//! host). Values always follow an `=`, so redacting never moves that `@` and the output
//! reads the same way again. An authority that already starts with `REDACTED:REDACTED@`
//! has that as its userinfo. A password holding both an unencoded `=` and a `?` or `#`
//! can lose only part of itself. The cost: in a URL without a path, a query key or fragment
//! holding an `@` before any `=` is read as userinfo (`https://host?x@y.com` →
//! `https://REDACTED:REDACTED@y.com`): more removed, never less. When a userinfo read
//! this way holds a `?` or `#`, RFC 3986 would have started the query (or fragment) inside
//! it; so that nothing a query reading removes survives, a path after such a userinfo that
//! holds `=` is read as a query, up to the first `#` (`http://u:p?w@host/a=1` →
//! `http://REDACTED:REDACTED@host/a=?`), and no key is allow-listed in such a URL.
//!
//! The host and port are kept as they are, IP addresses included: they name the server
//! (`server.address`), not a person. Scheme is kept.
//!
//! ## Path
//!
//! The path is split at `/` and each segment goes through the text scrubber alone (a
//! value spanning a `/` is not seen whole). A segment holding `%` is percent-decoded once
//! first (`alice%40example.com` is scrubbed as `alice@example.com`; invalid UTF-8 is read
//! as U+FFFD). A segment the scrubber leaves alone is kept byte for byte, encoding
//! included; a changed segment is replaced by the scrubber's output with `%`, `/`, `?` and
//! `#` percent-encoded (so `/users/alice%40example.com` → `/users/[REDACTED:email]`).
//!
//! ## Query
//!
//! The query (after the first `?`, up to the first `#`) is split at `&` and `;`, which are
//! kept, in order. Each parameter is `key`, `key=` or `key=value` (the value runs to the
//! next separator and may hold more `=`):
//!
//! | parameter | output | counted |
//! | --- | --- | --- |
//! | `key` or `key=` (no value) | unchanged | |
//! | `AWSAccessKeyId=…`, `Signature=…`, `sig=…`, `X-Goog-Signature=…` | `key=REDACTED` | [`Kind::UrlSignature`], unless already `REDACTED` |
//! | a key in [`UrlOptions::safe_query_keys`] | value through the text scrubber | what the scrubber counts |
//! | any other `key=value` | `key=?` | [`Kind::QueryParam`], unless already `?` |
//!
//! - The signature keys are the ones OpenTelemetry's semantic conventions name for
//!   `url.full` and `url.query` ("query string values for the following keys SHOULD be
//!   redacted by default and replaced by the value `REDACTED`"), matched exactly and
//!   case-sensitively as the conventions list them. A differently cased `signature=…` is
//!   not a signature key and becomes `?` like any other value. A signature key wins over
//!   the allow-list.
//! - Allow-listed keys are matched exactly (case-sensitive, as written in the URL, not
//!   decoded). The default allow-list is empty: every value goes.
//! - Keys are kept, but each goes through the text scrubber (decoded as path segments
//!   are), because a key can itself be data (`?alice@example.com=1`, `?<token>`): a changed
//!   key is written with `%`, `&`, `;`, `=`, `#`, `?`, `/`, `@` and space percent-encoded,
//!   a changed allow-listed value likewise except `=` and `/`.
//! - A parameter without `=` is a key, not a value: `?download` and `?<token>` are kept
//!   unless the scrubber recognises them.
//!
//! ## Fragment
//!
//! A fragment holding `=` (`#access_token=…&state=…`, OAuth's implicit flow) follows the
//! query rules. Any other fragment goes through the text scrubber whole, decoded as path
//! segments are, with `%`, `=`, `@` and space encoded when changed.
//!
//! ## Not a URL (fallback)
//!
//! Redacted more, never less, and never a panic:
//!
//! 1. If the first `/`, `?`, `#` or `=` is the start of a `//`, the userinfo after that
//!    `//` ends as in a URL (above), and is replaced even when empty; if there is none but
//!    the text from the `//` up to the first `/`, `?`, `#` or `=` holds a `:` (outside `[…]`, where IPv6 literals and the
//!    scrubber's markers put theirs), that text goes whole, as a `user:password` with an
//!    unencoded `?`, `#` or `=` would (`http://u:p?a=b@h/x` → `http://REDACTED:REDACTED?a=?`).
//!    Without `//`, the userinfo is everything before the last `@` before the first `/`,
//!    `?`, `#` or `=` (`user:pw@host/x` → `REDACTED:REDACTED@host/x`; this also catches
//!    `mailto:alice@example.com` → `REDACTED:REDACTED@example.com`). Either becomes
//!    `REDACTED:REDACTED` and is counted as above.
//! 2. In the rest, if an `=` comes before any `/`, `?` or `#` (before any `?` or `#` when
//!    the userinfo of step 1 held a `?` or `#`), the rest up to the first `#` is a query
//!    (`token=abc&x=1` → `token=?&x=?`) and what follows the `#` a fragment.
//! 3. Otherwise the rest is read as a path (segments through the text scrubber, with `@`,
//!    and `=` unless the segment held one, encoded as well when changed), then `?query`,
//!    then `#fragment`, by the rules above.
//!
//! ## Bare query, bare path
//!
//! [`redact_query`] applies the query rules to its whole input; a leading `?` is kept, and
//! a `#` is part of a key or value (`url.query` holds no fragment). [`redact_path`] is
//! [`redact_url`] with default options: a path starting with `/` is a relative reference,
//! read with the path rules; a value holding `?` or `#`, or not starting with `/`, is read
//! as any other value would be (so `users/alice%40example.com` goes by the fallback, which
//! scrubs it segment by segment too).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::cow::CowBuilder;
use crate::{Counts, Kind, TextScrubber};

/// What replaces a userinfo.
pub const REDACTED_USERINFO: &str = "REDACTED:REDACTED";
/// What replaces a signature parameter's value.
pub const REDACTED_SIGNATURE: &str = "REDACTED";
/// What replaces any other query value ([`crate::PLACEHOLDER`]).
pub const REDACTED_VALUE: &str = crate::PLACEHOLDER;

/// Query keys whose values are signatures: OpenTelemetry semantic conventions, `url.full`
/// and `url.query`. Matched case-sensitively.
pub const SIGNATURE_KEYS: &[&str] = &["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// URL redaction options. The default keeps no query value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UrlOptions {
    /// Query keys whose values are kept, after the text scrubber (exact, case-sensitive
    /// match on the key as written). Empty by default. Signature keys are redacted anyway.
    pub safe_query_keys: Vec<String>,
}

impl UrlOptions {
    /// Options that keep the values of these keys.
    pub fn with_safe_query_keys<'s>(keys: impl IntoIterator<Item = &'s str>) -> Self {
        UrlOptions {
            safe_query_keys: keys.into_iter().map(str::to_owned).collect(),
        }
    }

    fn is_safe(&self, key: &str) -> bool {
        self.safe_query_keys.iter().any(|k| k == key)
    }
}

/// Redacts a URL or relative reference (module docs give the rules).
///
/// ```
/// use scrim_redact::{Counts, Kind, NoScrub, url::{redact_url, UrlOptions}};
/// let mut counts = Counts::default();
/// let out = redact_url(
///     "https://bob:hunter2@api.example.com/v1/orders?id=42&sig=abc#top",
///     &UrlOptions::default(),
///     &NoScrub,
///     &mut counts,
/// );
/// assert_eq!(out, "https://REDACTED:REDACTED@api.example.com/v1/orders?id=?&sig=REDACTED#top");
/// assert_eq!(counts.get(Kind::QueryParam), 1);
/// ```
pub fn redact_url<'a>(
    url: &'a str,
    opts: &UrlOptions,
    text: &dyn TextScrubber,
    counts: &mut Counts,
) -> Cow<'a, str> {
    let mut r = Redactor::new(url, opts, text, counts);
    let start = url.len() - url.trim_start_matches(is_ws).len();
    let end = url.trim_end_matches(is_ws).len().max(start);
    r.out.keep(0, start);
    r.url(start, end);
    r.out.keep(end, url.len());
    r.out.finish()
}

/// Redacts a bare query such as `url.query` (`a=1&b=2`; a leading `?` is kept).
///
/// ```
/// use scrim_redact::{Counts, NoScrub, url::{redact_query, UrlOptions}};
/// let opts = UrlOptions::with_safe_query_keys(["page"]);
/// let out = redact_query("?q=shoes&page=2&X-Goog-Signature=0a1b", &opts, &NoScrub, &mut Counts::default());
/// assert_eq!(out, "?q=?&page=2&X-Goog-Signature=REDACTED");
/// ```
pub fn redact_query<'a>(
    query: &'a str,
    opts: &UrlOptions,
    text: &dyn TextScrubber,
    counts: &mut Counts,
) -> Cow<'a, str> {
    let mut r = Redactor::new(query, opts, text, counts);
    let start = usize::from(query.starts_with('?'));
    r.out.keep(0, start);
    r.query(start, query.len());
    r.out.finish()
}

/// Redacts a bare path such as `url.path`: each segment through the text scrubber.
///
/// ```
/// use scrim_redact::{Counts, NoScrub, url::redact_path};
/// let out = redact_path("/users/42/orders", &NoScrub, &mut Counts::default());
/// assert!(matches!(out, std::borrow::Cow::Borrowed("/users/42/orders")));
/// ```
pub fn redact_path<'a>(
    path: &'a str,
    text: &dyn TextScrubber,
    counts: &mut Counts,
) -> Cow<'a, str> {
    // A path starting with '/' is a relative reference, which `redact_url` reads as exactly
    // this path; anything else is read as `redact_url` reads it, so the two never disagree
    // and the output is idempotent like `redact_url`'s.
    redact_url(path, &UrlOptions::default(), text, counts)
}

fn is_ws(c: char) -> bool {
    c.is_ascii_whitespace()
}

/// Bytes percent-encoded in a component the text scrubber changed, per context: each set
/// holds what would otherwise be read as structure when the output is redacted again.
const PATH_SEGMENT: &[u8] = b"%/?#";
const FALLBACK_SEGMENT: &[u8] = b"%/?#=@";
const FALLBACK_SEGMENT_WITH_EQUALS: &[u8] = b"%/?#@";
const QUERY_KEY: &[u8] = b"%&;=#?/@ ";
const QUERY_VALUE: &[u8] = b"%&;#?@ ";
const FRAGMENT_TEXT: &[u8] = b"%=@ ";

struct Redactor<'a, 'o> {
    src: &'a str,
    out: CowBuilder<'a>,
    opts: &'o UrlOptions,
    text: &'o dyn TextScrubber,
    counts: &'o mut Counts,
    /// No key is allow-listed: set after a userinfo holding `?` or `#`, where a kept value
    /// holding `?` would be read differently on a second pass.
    no_safe_keys: bool,
}

impl<'a, 'o> Redactor<'a, 'o> {
    fn new(
        src: &'a str,
        opts: &'o UrlOptions,
        text: &'o dyn TextScrubber,
        counts: &'o mut Counts,
    ) -> Self {
        Redactor {
            src,
            out: CowBuilder::new(src),
            opts,
            text,
            counts,
            no_safe_keys: false,
        }
    }

    /// The first index in `s..e` holding one of `set`, or `e`.
    fn find(&self, s: usize, e: usize, set: &[u8]) -> usize {
        self.src.as_bytes()[s..e]
            .iter()
            .position(|b| set.contains(b))
            .map_or(e, |i| s + i)
    }

    /// A URL or relative reference, `s..e` trimmed.
    fn url(&mut self, s: usize, e: usize) {
        let core = &self.src[s..e];
        let authority = if let Some(p) = scheme_len(core) {
            Some(s + p + 3)
        } else if core.starts_with("//") {
            Some(s + 2)
        } else if core.is_empty() || core.starts_with(['/', '?', '#']) {
            None
        } else {
            return self.fallback(s, e);
        };
        let (mut pos, mut spanned) = (s, false);
        if let Some(a) = authority {
            let Some(auth) = parse_authority(self.src, a, e) else {
                return self.fallback(s, e);
            };
            self.out.keep(s, a);
            pos = a;
            if let Some(at) = auth.userinfo_end {
                spanned = self.src[a..at].contains(['?', '#']);
                self.no_safe_keys = spanned;
                self.userinfo(a, at, true);
                pos = at;
            }
            self.out.keep(pos, auth.host_end);
            pos = auth.host_end;
        }
        let path_end = self.find(pos, e, b"?#");
        if spanned && self.src[pos..path_end].contains('=') {
            // Read by RFC 3986, the query began inside the userinfo: the path is query. Its
            // first `/` stays as it is: encoded (`%2F`) it would join the host, which a
            // second pass would then not read as a host.
            if self.src[pos..e].starts_with('/') {
                self.out.keep(pos, pos + 1);
                return self.query_then_fragment(pos + 1, e);
            }
            return self.query_then_fragment(pos, e);
        }
        self.path(pos, path_end, PATH_SEGMENT);
        self.tail(path_end, e);
    }

    /// `s..e` is a query up to its first `#`, then a fragment.
    fn query_then_fragment(&mut self, s: usize, e: usize) {
        let qe = self.find(s, e, b"#");
        self.query(s, qe);
        if qe < e {
            self.out.keep(qe, qe + 1);
            self.fragment(qe + 1, e);
        }
    }

    /// Userinfo `s..at`, `at` being its `@` (not written here). An empty one is kept in a
    /// URL; in text that is not a URL it is replaced too, so that the second pass finds
    /// `REDACTED:REDACTED@` and reads the rest the same way.
    fn userinfo(&mut self, s: usize, at: usize, keep_empty: bool) {
        let info = &self.src[s..at];
        if (keep_empty && info.is_empty()) || info == REDACTED_USERINFO {
            self.out.keep(s, at);
        } else {
            self.out.push_new(REDACTED_USERINFO);
            self.counts.add(Kind::UrlCredentials);
        }
    }

    /// What follows a path: `s` is at `?`, `#` or `e`.
    fn tail(&mut self, s: usize, e: usize) {
        let mut pos = s;
        if pos < e && self.src.as_bytes()[pos] == b'?' {
            let qe = self.find(pos + 1, e, b"#");
            self.out.keep(pos, pos + 1);
            self.query(pos + 1, qe);
            pos = qe;
        }
        if pos < e {
            // At '#'.
            self.out.keep(pos, pos + 1);
            self.fragment(pos + 1, e);
        }
    }

    /// Text that is not a URL (see "Not a URL" in the module docs). Every decision here
    /// reads only the first segment of some stretch (text before a `/`, `?`, `#` or
    /// `=`), which redaction changes only through encoding those very characters, so the
    /// output reads the same way again.
    fn fallback(&mut self, s: usize, e: usize) {
        let first = self.find(s, e, b"/?#=");
        let double_slash = self.src[first..e].starts_with("//").then_some(first + 2);
        let (prefix_end, at) = match double_slash {
            Some(p) => (p, userinfo_end(self.src, p, e)),
            None => {
                let region_end = self.find(s, e, b"/?#=");
                (s, self.src[s..region_end].rfind('@').map(|i| s + i))
            }
        };
        let (mut rest, mut spanned) = (s, false);
        if let Some(at) = at {
            spanned = self.src[prefix_end..at].contains(['?', '#']);
            self.no_safe_keys = spanned;
            self.path(s, prefix_end, FALLBACK_SEGMENT);
            self.userinfo(prefix_end, at, false);
            self.out.keep(at, at + 1);
            rest = at + 1;
        } else if let Some(p) = double_slash {
            // No '@', but an authority that is no host:port and holds ':' may be `user:pw`
            // with a '?', '#' or '=' in the password: it goes whole.
            let auth_end = self.find(p, e, b"/?#=");
            if has_colon_outside_brackets(&self.src[p..auth_end]) {
                self.path(s, p, FALLBACK_SEGMENT);
                self.userinfo(p, auth_end, false);
                rest = auth_end;
            }
        }
        let eq = self.find(rest, e, b"=");
        let bare_query = if spanned {
            eq < self.find(rest, e, b"?#")
        } else {
            eq < self.find(rest, e, b"/?#")
        };
        if bare_query {
            self.query_then_fragment(rest, e);
        } else {
            let h_end = self.find(rest, e, b"?#");
            self.path(rest, h_end, FALLBACK_SEGMENT);
            self.tail(h_end, e);
        }
    }

    /// A path `s..e`, segment by segment.
    fn path(&mut self, s: usize, e: usize, escape: &[u8]) {
        let mut pos = s;
        loop {
            let seg_end = self.find(pos, e, b"/");
            // A segment's own '=' stays raw (decisions read where the first one is); a
            // segment without one gets no new one.
            let escape = if escape == FALLBACK_SEGMENT && self.src[pos..seg_end].contains('=') {
                FALLBACK_SEGMENT_WITH_EQUALS
            } else {
                escape
            };
            self.component(pos, seg_end, escape);
            if seg_end == e {
                break;
            }
            self.out.keep(seg_end, seg_end + 1);
            pos = seg_end + 1;
        }
    }

    /// One component `s..e` through the text scrubber (decoded when it holds `%`).
    fn component(&mut self, s: usize, e: usize, escape: &[u8]) {
        match scrub_component(&self.src[s..e], escape, self.text, self.counts) {
            Some(new) => self.out.push_new(&new),
            None => self.out.keep(s, e),
        }
    }

    /// Query parameters `s..e`, without the leading `?`.
    fn query(&mut self, s: usize, e: usize) {
        let mut pos = s;
        loop {
            let param_end = self.find(pos, e, b"&;");
            self.param(pos, param_end);
            if param_end == e {
                break;
            }
            self.out.keep(param_end, param_end + 1);
            pos = param_end + 1;
        }
    }

    fn param(&mut self, s: usize, e: usize) {
        let eq = self.find(s, e, b"=");
        self.component(s, eq, QUERY_KEY);
        if eq == e {
            return;
        }
        self.out.keep(eq, eq + 1);
        let (key, value) = (&self.src[s..eq], &self.src[eq + 1..e]);
        if value.is_empty() {
            return;
        }
        if SIGNATURE_KEYS.contains(&key) {
            self.replace_value(eq + 1, e, REDACTED_SIGNATURE, Kind::UrlSignature);
        } else if !self.no_safe_keys && self.opts.is_safe(key) {
            self.component(eq + 1, e, QUERY_VALUE);
        } else {
            self.replace_value(eq + 1, e, REDACTED_VALUE, Kind::QueryParam);
        }
    }

    fn replace_value(&mut self, s: usize, e: usize, with: &str, kind: Kind) {
        if &self.src[s..e] == with {
            self.out.keep(s, e);
        } else {
            self.out.push_new(with);
            self.counts.add(kind);
        }
    }

    /// A fragment `s..e`, without the `#`.
    fn fragment(&mut self, s: usize, e: usize) {
        if self.src[s..e].contains('=') {
            self.query(s, e);
        } else {
            self.component(s, e, FRAGMENT_TEXT);
        }
    }
}

/// Whether `s` holds a `:` outside `[…]`: not inside an IPv6 literal, a mask marker
/// (`[REDACTED:email]`) or a pseudonym (`[email:…]`), which a scrubber may have written.
fn has_colon_outside_brackets(s: &str) -> bool {
    let mut depth = 0usize;
    s.bytes().any(|c| {
        match c {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        c == b':' && depth == 0
    })
}

/// The length of a `scheme` (or `jdbc:postgresql`) directly followed by `://`.
fn scheme_len(s: &str) -> Option<usize> {
    let end = s.find("://")?;
    let valid_name = |name: &str| {
        let mut bytes = name.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    };
    s[..end].split(':').all(valid_name).then_some(end)
}

struct Authority {
    /// The index of the `@` ending a userinfo that starts where the authority does.
    userinfo_end: Option<usize>,
    host_end: usize,
}

/// The authority starting at `a` (after `//`), or `None` if its host or port is invalid.
fn parse_authority(src: &str, a: usize, e: usize) -> Option<Authority> {
    let userinfo_end = userinfo_end(src, a, e);
    let host_start = userinfo_end.map_or(a, |at| at + 1);
    let host_end = src.as_bytes()[host_start..e]
        .iter()
        .position(|c| matches!(c, b'/' | b'?' | b'#'))
        .map_or(e, |i| host_start + i);
    valid_host_port(&src[host_start..host_end]).then_some(Authority {
        userinfo_end,
        host_end,
    })
}

/// The `@` ending the userinfo of an authority starting at `a`: `REDACTED:REDACTED@` if
/// the authority starts with it; otherwise the later of (1) the last `@` before the first
/// `=` and before the first `/` that precedes any `?` or `#` (a `/` past them belongs to a
/// query key or fragment, text the scrubber may rewrite), and (2) the last `@` before the
/// first `/`, `?` or `#` (RFC 3986). Text before the first `=` holds no value, and a
/// scrubbed key or segment never gains an `@` (it is encoded), so redacting never moves a
/// userinfo that was not found into sight: the output reads the same way again.
fn userinfo_end(src: &str, a: usize, e: usize) -> Option<usize> {
    let rest = &src[a..e];
    if rest.starts_with(REDACTED_USERINFO) && rest[REDACTED_USERINFO.len()..].starts_with('@') {
        return Some(a + REDACTED_USERINFO.len());
    }
    let (mut past_query, mut scanned) = (false, None);
    for (i, c) in rest.bytes().enumerate() {
        match c {
            b'/' if !past_query => break,
            b'=' => break,
            b'?' | b'#' => past_query = true,
            b'@' => scanned = Some(a + i),
            _ => {}
        }
    }
    let rfc_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let rfc = rest[..rfc_end].rfind('@').map(|i| a + i);
    scanned.max(rfc)
}

fn valid_host_port(hp: &str) -> bool {
    let digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    if let Some(inner) = hp.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return false;
        };
        let (addr, rest) = (&inner[..close], &inner[close + 1..]);
        let (ip, zone) = addr.split_once('%').unwrap_or((addr, ""));
        let ip_ok = ip.contains(':')
            && ip
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.'));
        let zone_ok = zone
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'-' | b'%'));
        let port_ok = rest.is_empty() || rest.strip_prefix(':').is_some_and(digits);
        return ip_ok && zone_ok && port_ok;
    }
    let (host, port) = hp.rsplit_once(':').unwrap_or((hp, ""));
    digits(port)
        && host.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '.' | '_' | '~')
                || (!c.is_ascii() && c.is_alphanumeric())
        })
}

/// `raw` through the scrubber, percent-decoded first when it holds `%`. `None` when the
/// scrubber changed nothing; otherwise its output with the bytes of `escape` encoded.
fn scrub_component(
    raw: &str,
    escape: &[u8],
    text: &dyn TextScrubber,
    counts: &mut Counts,
) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    if !raw.contains('%') {
        let out = text.scrub(raw, counts);
        return (*out != *raw).then(|| encode(&out, escape));
    }
    // Decoded text is never longer than the raw text: a stack buffer covers the usual
    // segment without touching the heap.
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if raw.len() <= stack.len() {
        &mut stack[..]
    } else {
        heap.resize(raw.len(), 0);
        &mut heap[..]
    };
    let n = percent_decode(raw.as_bytes(), buf);
    let decoded = String::from_utf8_lossy(&buf[..n]);
    let out = text.scrub(&decoded, counts);
    (*out != *decoded).then(|| encode(&out, escape))
}

/// Decodes `%XX` sequences of `raw` into `buf` (at least `raw.len()` long); a `%` not
/// followed by two hex digits stays as it is. Returns the decoded length.
fn percent_decode(raw: &[u8], buf: &mut [u8]) -> usize {
    let hex = |c: u8| (c as char).to_digit(16);
    let (mut i, mut n) = (0, 0);
    while i < raw.len() {
        let byte = match (raw[i], raw.get(i + 1), raw.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => match (hex(h), hex(l)) {
                (Some(h), Some(l)) => {
                    i += 2;
                    (h * 16 + l) as u8
                }
                _ => b'%',
            },
            (c, _, _) => c,
        };
        buf[n] = byte;
        n += 1;
        i += 1;
    }
    n
}

/// `s` with every byte of `escape` written as `%XX`.
fn encode(s: &str, escape: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_ascii() && escape.contains(&(c as u8)) {
            let b = c as u8;
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoScrub;

    /// Replaces `alice@example.com` (an "email") and `tok_…` words (a "secret").
    struct TestScrub;

    impl TextScrubber for TestScrub {
        fn scrub<'t>(&self, text: &'t str, counts: &mut Counts) -> Cow<'t, str> {
            let mut out = Cow::Borrowed(text);
            if out.contains("alice@example.com") {
                let n = out.matches("alice@example.com").count();
                counts.add_n(Kind::Email, n as u64);
                out = Cow::Owned(out.replace("alice@example.com", "[REDACTED:email]"));
            }
            if out.contains("tok_") {
                counts.add(Kind::Secret);
                out = Cow::Owned(out.replace("tok_", "[REDACTED:secret]"));
            }
            out
        }
    }

    fn url(s: &str) -> (String, Counts) {
        let mut c = Counts::default();
        let out = redact_url(s, &UrlOptions::default(), &TestScrub, &mut c).into_owned();
        (out, c)
    }

    #[test]
    fn whole_url() {
        let (out, c) = url("https://bob:pw@h.example:8443/u/alice%40example.com?a=1&b=&c;sig=x#f");
        assert_eq!(
            out,
            "https://REDACTED:REDACTED@h.example:8443/u/[REDACTED:email]?a=?&b=&c;sig=REDACTED#f"
        );
        assert_eq!(c.get(Kind::UrlCredentials), 1);
        assert_eq!(c.get(Kind::QueryParam), 1);
        assert_eq!(c.get(Kind::UrlSignature), 1);
        assert_eq!(c.get(Kind::Email), 1);
    }

    #[test]
    fn unchanged_is_borrowed() {
        let mut c = Counts::default();
        for s in [
            "",
            "https://example.com/a/b?x=?&y=&z#frag",
            "/a%20b/c",
            "  http://[::1]:80/  ",
        ] {
            let out = redact_url(s, &UrlOptions::default(), &TestScrub, &mut c);
            assert!(matches!(out, Cow::Borrowed(b) if b == s), "{s}");
        }
        assert_eq!(c.total(), 0);
    }

    #[test]
    fn decoding_and_encoding() {
        let mut buf = [0u8; 16];
        let n = percent_decode(b"a%40b%2x%", &mut buf);
        assert_eq!(&buf[..n], b"a@b%2x%");
        assert_eq!(encode("a/b?c%", PATH_SEGMENT), "a%2Fb%3Fc%25");
        // Changed segments keep their structure characters encoded.
        let (out, _) = url("/x/tok_a%2Fb%3F");
        assert_eq!(out, "/x/[REDACTED:secret]a%2Fb%3F");
    }

    #[test]
    fn scheme_and_host_shapes() {
        assert_eq!(scheme_len("jdbc:postgresql://h"), Some(15));
        assert_eq!(scheme_len("1http://h"), None);
        assert_eq!(scheme_len("a b://h"), None);
        assert!(valid_host_port("[fe80::1%25eth0]:443"));
        assert!(valid_host_port("bücher.example:80"));
        assert!(!valid_host_port("a b"));
        assert!(!valid_host_port("h:8o"));
        assert!(!valid_host_port("[::1"));
    }

    #[test]
    fn long_segments_decode_on_the_heap() {
        let long = format!("/{}%40x", "a".repeat(400));
        let (out, _) = url(&long);
        assert_eq!(out, long);
        let long = format!("/{}alice%40example.com", "a".repeat(400));
        let (out, c) = url(&long);
        assert_eq!(out, format!("/{}[REDACTED:email]", "a".repeat(400)));
        assert_eq!(c.get(Kind::Email), 1);
    }

    #[test]
    fn no_scrub_path_is_borrowed() {
        let mut c = Counts::default();
        let out = redact_path("/a/b%40c", &NoScrub, &mut c);
        assert!(matches!(out, Cow::Borrowed(_)));
    }
}
