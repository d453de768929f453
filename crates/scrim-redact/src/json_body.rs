//! JSON request and response bodies: `http.request.body`, log bodies, message payloads.
//!
//! [`JsonBodyRedactor::redact`] replaces the values under sensitive keys and scrubs every
//! other string (and number) with a [`TextScrubber`], in one pass of a hand-written
//! streaming scanner: no parse tree, no allocation beyond the output string (and one
//! scratch buffer when a string holds escapes). The output keeps the input's formatting:
//! whitespace, key order and the escapes of untouched strings; only values change.
//!
//! # Output contract
//!
//! Dashboards, alerts and people read this output, so the rules below are an API: changing
//! one is a breaking change.
//!
//! ## Values under sensitive keys
//!
//! A value is *under a sensitive key* when its object key, unescaped
//! (`"pass\u0077ord"` is `password`), matches [`SensitiveKeys::is_sensitive`], or when the
//! [`TextScrubber`] changes the key and the changed key matches (a card number used as a
//! key becomes `[REDACTED:card]`, which names `card`; checking it too keeps the output
//! idempotent). Such a value is replaced whatever its type (string, number, `true`,
//! `false`, object or array: the whole subtree goes), according to
//! [`JsonBodyRedactor::key_method`], and counted as one [`Kind::Secret`]:
//!
//! | method | replacement | example |
//! | --- | --- | --- |
//! | `mask` | the JSON string `"[REDACTED:secret]"` | `{"password": "hunter2"}` → `{"password": "[REDACTED:secret]"}` |
//! | `hash` | the pseudonym as a JSON string (masked when there is no pseudonymizer) | `{"token": 42}` → `{"token": "[secret:k5vq2mxa7ehtq3ld]"}` |
//! | `remove` | `null`: the key stays, so the structure does | `{"cvv": "123"}` → `{"cvv": null}` |
//! | `keep` | the key rule is off: the value is treated like any other value | |
//!
//! - A pseudonym is [`Pseudonymizer::pseudonym`]`(Kind::Secret, v)` where `v` is a string's
//!   unescaped content, or for any other value its exact source text (`42`,
//!   `{"a": 1}` with its whitespace).
//! - `null` stays `null`: there is nothing to hide. It is not counted.
//! - A string that is already redacted, `"[REDACTED:secret]"` or a secret pseudonym
//!   `"[secret:<16 base32 chars>]"`, stays as it is and is not counted, so redacting twice
//!   gives the same output under every method.
//! - `keep` does not exempt the value from the detectors: a card number under `"card"`
//!   with `keep` is still scrubbed by the [`TextScrubber`] like any other string, whose
//!   own per-kind methods then apply.
//!
//! ## Every other value
//!
//! - Strings go through the [`TextScrubber`], unescaped first when they hold escapes (so
//!   `"alice\u0040example.com"` is seen as `alice@example.com`). When the scrubber changes
//!   nothing, the string is kept exactly as written, escapes included; when it changes
//!   something, the result is written as a new JSON string, escaping only `"`, `\` and
//!   control characters (`\n`, `\r`, `\t`, `\b`, `\f`, else `\u00XX`).
//! - Numbers go through the [`TextScrubber`] too, as their source text: a card number sent
//!   as a JSON number must be caught. A changed number is written as a JSON string:
//!   `{"n": 4111111111111111}` → `{"n": "[REDACTED:card]"}`.
//! - `true`, `false` and `null` are kept.
//! - Object keys are kept, except that a key the scrubber changes (an email used as a map
//!   key) is replaced by the scrubbed key: `{"alice@example.com": 1}` →
//!   `{"[REDACTED:email]": 1}`. Two such keys may then be equal; JSON allows it.
//!
//! ## Input
//!
//! Strict JSON ([RFC 8259]): whitespace is space, tab, line feed and carriage return;
//! strings hold no raw control characters and no lone surrogate escapes. A body may hold
//! several top-level values of any type separated by whitespace (NDJSON); each is
//! redacted in place. An empty or whitespace-only body is returned as it is, as
//! [`BodyShape::Json`].
//!
//! ## Invalid JSON is redacted as text, never passed raw
//!
//! On any syntax error (a bad token, a missing `:` or `,`, an unterminated string or
//! container, two top-level values without whitespace between them, nesting deeper than
//! [`MAX_DEPTH`] containers) nothing of the JSON pass is kept and the result says
//! [`BodyShape::NotJson`]. The body is redacted as text instead:
//!
//! - Wherever a quoted string followed by `:` is a sensitive key (as above), the value
//!   after it is replaced as above (`mask`, `hash`, `remove` → `null`). The value reaches
//!   to its closing quote, to its matching bracket, or for anything else to the next `,`,
//!   `}`, `]` or line end, and to the end of the body when it is unterminated:
//!   `{"password": "hunt` → `{"password": "[REDACTED:secret]"`. With `remove`, a value
//!   followed by other text than a `,`, `}`, `]` or line end becomes `""` instead of
//!   `null`, which would run into that text: `{"pin": "1"x}` → `{"pin": ""x}`.
//! - Everything else goes through the [`TextScrubber`] as text, escapes not decoded. The
//!   content of each such key (between its quotes) is scrubbed on its own, and the key is
//!   sensitive when its content, unescaped, is sensitive before or after scrubbing. A
//!   string right after a key's `:` is a value, never a key (`"a": "password": 1` keeps
//!   its `1`). With `keep`, the whole body goes through the scrubber as one text.
//! - If the result of that is valid JSON (replacing a broken value can fix a body), it is
//!   then redacted as JSON as well, so that redacting the output again changes nothing.
//!
//! ## Examples
//!
//! ```
//! use scrim_redact::json_body::{BodyShape, JsonBodyRedactor};
//! use scrim_redact::keys::SensitiveKeys;
//! use scrim_redact::{Counts, Method, NoScrub};
//!
//! let keys = SensitiveKeys::default();
//! let mut redactor = JsonBodyRedactor::new(&keys, &NoScrub);
//! let mut counts = Counts::default();
//! let mut redact = |r: &JsonBodyRedactor, body| r.redact(body, &mut counts).0.into_owned();
//!
//! // Formatting is kept; whole subtrees go; `null` stays.
//! assert_eq!(
//!     redact(&redactor, "{\n  \"apiKey\" : [1, 2],\n  \"otp\": null\n}"),
//!     "{\n  \"apiKey\" : \"[REDACTED:secret]\",\n  \"otp\": null\n}"
//! );
//! // Already redacted values are left alone.
//! assert_eq!(
//!     redact(&redactor, r#"{"token": "[REDACTED:secret]"}"#),
//!     r#"{"token": "[REDACTED:secret]"}"#
//! );
//! // `remove` keeps the key with `null`; NDJSON is redacted line by line.
//! redactor.key_method = Method::Remove;
//! assert_eq!(
//!     redact(&redactor, "{\"cvv\": \"123\"}\n{\"pin\": 1234}\n"),
//!     "{\"cvv\": null}\n{\"pin\": null}\n"
//! );
//! ```
//!
//! ## Properties
//!
//! - Valid JSON in, valid JSON out, with the same structure apart from replaced values.
//! - Idempotent, given a [`TextScrubber`] that is: redacting the output again returns it
//!   unchanged.
//! - Returned borrowed, without allocating, when nothing changes and no string holds an
//!   escape.
//!
//! [RFC 8259]: https://www.rfc-editor.org/rfc/rfc8259

use std::borrow::Cow;

use memchr::{memchr, memchr2};

use crate::TextScrubber;
use crate::keys::SensitiveKeys;
use crate::kind::{Counts, Kind};
use crate::method::{self, Method, Pseudonymizer};

/// Objects and arrays nested deeper than this make a body invalid JSON, which bounds
/// recursion.
pub const MAX_DEPTH: usize = 128;

/// What a body turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyShape {
    /// Valid JSON (one or more whitespace-separated values, or nothing but whitespace),
    /// redacted as JSON.
    Json,
    /// The body failed to parse as JSON and was redacted as text (see the
    /// [module documentation](self)).
    NotJson,
}

/// Redacts JSON bodies. See the [module documentation](self) for the exact rules.
///
/// ```
/// use scrim_redact::json_body::{BodyShape, JsonBodyRedactor};
/// use scrim_redact::keys::SensitiveKeys;
/// use scrim_redact::{Counts, Kind, NoScrub};
///
/// let keys = SensitiveKeys::default();
/// let redactor = JsonBodyRedactor::new(&keys, &NoScrub);
/// let mut counts = Counts::default();
///
/// let (out, shape) = redactor.redact(
///     r#"{"user": "alice", "password": "hunter2", "card": {"number": 4111111111111111}}"#,
///     &mut counts,
/// );
/// assert_eq!(
///     out,
///     r#"{"user": "alice", "password": "[REDACTED:secret]", "card": "[REDACTED:secret]"}"#
/// );
/// assert_eq!(shape, BodyShape::Json);
/// assert_eq!(counts.get(Kind::Secret), 2);
///
/// // Truncated: redacted as text, the value under the key still goes.
/// let (out, shape) = redactor.redact(r#"{"password": "hunt"#, &mut counts);
/// assert_eq!(out, r#"{"password": "[REDACTED:secret]""#);
/// assert_eq!(shape, BodyShape::NotJson);
/// ```
#[derive(Clone, Copy)]
pub struct JsonBodyRedactor<'p> {
    /// Keys whose values are replaced.
    pub keys: &'p SensitiveKeys,
    /// What replaces a value under a sensitive key.
    pub key_method: Method,
    /// Keyed pseudonyms for [`Method::Hash`]; without one, `hash` masks.
    pub pseudonymizer: Option<&'p Pseudonymizer>,
    /// Scrubs every other string, number and key.
    pub text: &'p dyn TextScrubber,
}

impl std::fmt::Debug for JsonBodyRedactor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonBodyRedactor")
            .field("keys", self.keys)
            .field("key_method", &self.key_method)
            .field("pseudonymizer", &self.pseudonymizer)
            .finish_non_exhaustive()
    }
}

/// The body is not valid JSON.
#[derive(Debug)]
struct Invalid;

type Scan<T = ()> = Result<T, Invalid>;

impl<'p> JsonBodyRedactor<'p> {
    /// Values under `keys` masked, everything else scrubbed by `text`, no pseudonymizer.
    pub fn new(keys: &'p SensitiveKeys, text: &'p dyn TextScrubber) -> Self {
        JsonBodyRedactor {
            keys,
            key_method: Method::Mask,
            pseudonymizer: None,
            text,
        }
    }

    /// `body` redacted, borrowed when nothing changed, and whether it was JSON. Every
    /// replacement is counted in `counts` (values under sensitive keys as
    /// [`Kind::Secret`], the scrubber's finds as it counts them).
    pub fn redact<'a>(&self, body: &'a str, counts: &mut Counts) -> (Cow<'a, str>, BodyShape) {
        if body.bytes().all(is_ws) {
            return (Cow::Borrowed(body), BodyShape::Json);
        }
        let mut local = Counts::default();
        if let Ok(out) = self.redact_json(body, &mut local) {
            counts.merge(&local);
            return (out, BodyShape::Json);
        }
        let mut local = Counts::default();
        let out = match self.redact_as_text(body, &mut local) {
            Cow::Owned(text) => {
                // Replacing a broken value may have made the body valid JSON: then it is
                // redacted as JSON too, so that a second pass changes nothing.
                let mut again = Counts::default();
                let json = match self.redact_json(&text, &mut again) {
                    Ok(Cow::Owned(json)) => Some(json),
                    _ => None,
                };
                if json.is_some() {
                    local.merge(&again);
                }
                Cow::Owned(json.unwrap_or(text))
            }
            borrowed => borrowed,
        };
        counts.merge(&local);
        (out, BodyShape::NotJson)
    }

    /// The JSON pass: `Err` at the first syntax error.
    fn redact_json<'a>(&self, body: &'a str, counts: &mut Counts) -> Scan<Cow<'a, str>> {
        let mut scanner = Scanner {
            r: self,
            mask_keys: self.key_method != Method::Keep,
            src: body,
            b: body.as_bytes(),
            pos: 0,
            out: Splice::new(body),
            scratch: String::new(),
            key_cache: [None; KEY_CACHE_SLOTS],
            counts,
        };
        scanner.document()?;
        Ok(scanner.out.finish())
    }

    /// The text pass for a body that is not JSON.
    fn redact_as_text<'a>(&self, body: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        if self.key_method == Method::Keep {
            return self.text.scrub(body, counts);
        }
        let b = body.as_bytes();
        let mut out = Splice::new(body);
        let mut scratch = String::new();
        // `body[piece..]` is not yet scrubbed; `pos` is where the search for a key resumes.
        let (mut piece, mut pos) = (0, 0);
        while let Some(off) = memchr(b'"', &b[pos..]) {
            let quote = pos + off;
            let Some(end) = lenient_string_end(b, quote) else {
                break; // an unterminated string: no key after it
            };
            let colon = skip_any_ws(b, end);
            if b.get(colon) != Some(&b':') {
                pos = end;
                continue;
            }
            // The text before a key and the key are scrubbed apart, so that the key reads
            // the same when its output is redacted again.
            self.scrub_text(&mut out, piece, quote + 1, counts);
            let raw = &body[quote + 1..end - 1];
            let mut sensitive = self.keys.is_sensitive(unescaped(raw, &mut scratch));
            let scrubbed = self.text.scrub(raw, counts);
            if let Some(new) = changed(raw, &scrubbed) {
                sensitive = sensitive || self.keys.is_sensitive(unescaped(new, &mut scratch));
                out.replace(quote + 1, end - 1, |o| o.push_str(new));
            }
            piece = end - 1;
            if !sensitive {
                // A string right after `key:` is a value, never a key, whatever the key.
                let next = skip_any_ws(b, colon + 1);
                pos = match b.get(next) {
                    Some(b'"') => lenient_string_end(b, next).unwrap_or(b.len()),
                    _ => colon + 1,
                };
                continue;
            }
            let start = skip_any_ws(b, colon + 1);
            let stop = text_value_end(b, start);
            pos = stop;
            let value = &body[start..stop];
            if value.is_empty() || value == "null" {
                continue;
            }
            let hashed = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) if value.len() >= 2 => {
                    let inner = unescaped(inner, &mut scratch);
                    if is_redacted_secret(inner) {
                        continue;
                    }
                    inner
                }
                _ => value,
            };
            self.scrub_text(&mut out, piece, start, counts);
            out.replace(start, stop, |o| {
                if self.key_method == Method::Remove && !ends_scalar(b, stop) {
                    // `null` would run into the text after it (`nullabc`) and read as
                    // another value next time.
                    o.push_str("\"\"");
                } else {
                    self.write_secret(o, hashed);
                }
            });
            counts.add(Kind::Secret);
            piece = stop;
        }
        self.scrub_text(&mut out, piece, body.len(), counts);
        out.finish()
    }

    /// Scrubs `src[start..end]` of the text pass.
    fn scrub_text(&self, out: &mut Splice<'_>, start: usize, end: usize, counts: &mut Counts) {
        let text = &out.src[start..end];
        let scrubbed = self.text.scrub(text, counts);
        if let Some(new) = changed(text, &scrubbed) {
            out.replace(start, end, |o| o.push_str(new));
        }
    }

    /// Writes the JSON token that replaces `value` (unescaped string content, or the
    /// source text of any other value) under a sensitive key.
    fn write_secret(&self, out: &mut String, value: &str) {
        match self.key_method {
            Method::Remove => out.push_str("null"),
            method => write_json_string(
                out,
                &method::apply(method, Kind::Secret, value, self.pseudonymizer),
            ),
        }
    }
}

/// Output that borrows its source until the first replacement.
struct Splice<'a> {
    src: &'a str,
    /// The output, once it differs from the source; `src[flushed..]` is not yet in it.
    out: Option<String>,
    flushed: usize,
}

impl<'a> Splice<'a> {
    fn new(src: &'a str) -> Self {
        Splice {
            src,
            out: None,
            flushed: 0,
        }
    }

    /// Replaces `src[start..end]` with what `write` appends. Replacements come in order
    /// and do not overlap.
    fn replace(&mut self, start: usize, end: usize, write: impl FnOnce(&mut String)) {
        let src = self.src;
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(src.len() + src.len() / 8 + 32));
        out.push_str(&src[self.flushed..start]);
        write(out);
        self.flushed = end;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.src),
            Some(mut out) => {
                out.push_str(&self.src[self.flushed..]);
                Cow::Owned(out)
            }
        }
    }
}

/// The content of a JSON string, `raw` without its quotes, unescaped (into `scratch` when
/// it holds a backslash).
fn unescaped<'s>(raw: &'s str, scratch: &'s mut String) -> &'s str {
    if raw.contains('\\') {
        decode_into(raw, scratch);
        scratch
    } else {
        raw
    }
}

/// The single-pass JSON scanner and writer.
struct Scanner<'a, 'r, 'p> {
    r: &'r JsonBodyRedactor<'p>,
    /// Whether values under sensitive keys are replaced (the method is not `keep`).
    mask_keys: bool,
    src: &'a str,
    b: &'a [u8],
    /// The next unread byte. Moves past ASCII bytes or whole strings, so it stays on a char
    /// boundary.
    pos: usize,
    out: Splice<'a>,
    /// Unescaped string content, reused from string to string.
    scratch: String,
    /// Keys without escapes that the scrubber leaves alone, and whether each is sensitive;
    /// two slots each ([`key_hash`]).
    key_cache: [Option<CachedKey<'a>>; KEY_CACHE_SLOTS],
    counts: &'r mut Counts,
}

impl<'a> Scanner<'a, '_, '_> {
    /// Whitespace-separated top-level values.
    fn document(&mut self) -> Scan {
        loop {
            let before = self.pos;
            self.skip_ws();
            if self.pos >= self.b.len() {
                return Ok(());
            }
            if before > 0 && self.pos == before {
                return Err(Invalid); // `{}{}`, `"a""b"`: not whitespace-separated
            }
            self.value(0)?;
        }
    }

    /// Replaces `src[start..end]` with what `write` appends.
    fn replace(&mut self, start: usize, end: usize, write: impl FnOnce(&mut String)) {
        self.out.replace(start, end, write);
    }

    /// Any value outside sensitive keys, at `depth` containers deep.
    fn value(&mut self, depth: usize) -> Scan {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string_value(),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.number()?;
                self.scrub(start, self.pos, false);
                Ok(())
            }
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            _ => Err(Invalid),
        }
    }

    fn object(&mut self, depth: usize) -> Scan {
        if depth > MAX_DEPTH {
            return Err(Invalid);
        }
        self.pos += 1; // `{`
        self.skip_ws();
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            let sensitive = self.key()?;
            self.skip_ws();
            if !self.eat(b':') {
                return Err(Invalid);
            }
            self.skip_ws();
            if sensitive {
                self.sensitive_value(depth)?;
            } else {
                self.value(depth)?;
            }
            self.skip_ws();
            if self.eat(b',') {
                self.skip_ws();
            } else if self.eat(b'}') {
                return Ok(());
            } else {
                return Err(Invalid);
            }
        }
    }

    fn array(&mut self, depth: usize) -> Scan {
        if depth > MAX_DEPTH {
            return Err(Invalid);
        }
        self.pos += 1; // `[`
        self.skip_ws();
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            self.value(depth)?;
            self.skip_ws();
            if self.eat(b',') {
                self.skip_ws();
            } else if self.eat(b']') {
                return Ok(());
            } else {
                return Err(Invalid);
            }
        }
    }

    /// An object key: scrubbed (and replaced if the scrubber changes it); returns whether
    /// the value after it is to be replaced.
    fn key(&mut self) -> Scan<bool> {
        if self.peek() != Some(b'"') {
            return Err(Invalid);
        }
        let start = self.pos;
        let escaped = self.string()?;
        let end = self.pos;
        let src = self.src;
        let raw = &src[start + 1..end - 1];
        // Bodies repeat their keys (arrays of objects): the verdict on a key without
        // escapes that the scrubber leaves alone is remembered.
        let (words, slots) = key_hash(raw);
        if !escaped {
            for slot in slots {
                if let Some(cached) = self.key_cache[slot]
                    && cached.words == words
                    // The two words hold the whole of a key of up to 16 bytes.
                    && (raw.len() <= 16 || cached.key == raw)
                {
                    return Ok(cached.sensitive);
                }
            }
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let key = if escaped {
            decode_into(raw, &mut scratch);
            scratch.as_str()
        } else {
            raw
        };
        let keys = self.r.keys;
        let mut sensitive = self.mask_keys && keys.is_sensitive(key);
        let scrubbed = self.r.text.scrub(key, self.counts);
        match changed(key, &scrubbed) {
            Some(new) => {
                sensitive = sensitive || (self.mask_keys && keys.is_sensitive(new));
                self.replace(start, end, |out| write_json_string(out, new));
            }
            None if !escaped => {
                // Into a free slot of the two, else into the first, the key there moving
                // to its other slot.
                let [first, second] = slots;
                let slot = if self.key_cache[first].is_none() || self.key_cache[second].is_some() {
                    first
                } else {
                    second
                };
                if let Some(old) = self.key_cache[slot] {
                    let other = key_hash(old.key).1.into_iter().find(|&s| s != slot);
                    self.key_cache[other.unwrap_or(slot)] = Some(old);
                }
                self.key_cache[slot] = Some(CachedKey {
                    words,
                    key: raw,
                    sensitive,
                });
            }
            None => {}
        }
        drop(scrubbed);
        self.scratch = scratch;
        Ok(sensitive)
    }

    /// A string outside sensitive keys: scrubbed.
    fn string_value(&mut self) -> Scan {
        let start = self.pos;
        let escaped = self.string()?;
        self.scrub(start, self.pos, escaped);
        Ok(())
    }

    /// Scrubs the string or number token `src[start..end]`, replacing it with a JSON string
    /// when the scrubber changes it.
    fn scrub(&mut self, start: usize, end: usize, escaped: bool) {
        let src = self.src;
        let is_string = src.as_bytes()[start] == b'"';
        let raw = if is_string {
            &src[start + 1..end - 1]
        } else {
            &src[start..end]
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        let text = if escaped {
            decode_into(raw, &mut scratch);
            scratch.as_str()
        } else {
            raw
        };
        let scrubbed = self.r.text.scrub(text, self.counts);
        if let Some(new) = changed(text, &scrubbed) {
            self.replace(start, end, |out| write_json_string(out, new));
        }
        drop(scrubbed);
        self.scratch = scratch;
    }

    /// A value under a sensitive key: replaced whole unless `null` or already redacted.
    fn sensitive_value(&mut self, depth: usize) -> Scan {
        let start = self.pos;
        let src = self.src;
        let r = self.r;
        match self.peek() {
            Some(b'n') => self.literal("null"),
            Some(b'"') => {
                let escaped = self.string()?;
                let end = self.pos;
                let raw = &src[start + 1..end - 1];
                let mut scratch = std::mem::take(&mut self.scratch);
                let text = if escaped {
                    decode_into(raw, &mut scratch);
                    scratch.as_str()
                } else {
                    raw
                };
                if !is_redacted_secret(text) {
                    self.counts.add(Kind::Secret);
                    self.replace(start, end, |out| r.write_secret(out, text));
                }
                self.scratch = scratch;
                Ok(())
            }
            _ => {
                self.skip_value(depth)?;
                let end = self.pos;
                self.counts.add(Kind::Secret);
                self.replace(start, end, |out| r.write_secret(out, &src[start..end]));
                Ok(())
            }
        }
    }

    /// Validates one value and moves past it, writing nothing.
    fn skip_value(&mut self, depth: usize) -> Scan {
        let (open, close) = match self.peek() {
            Some(b'{') => (b'{', b'}'),
            Some(b'[') => (b'[', b']'),
            Some(b'"') => return self.string().map(drop),
            Some(b'-' | b'0'..=b'9') => return self.number(),
            Some(b't') => return self.literal("true"),
            Some(b'f') => return self.literal("false"),
            Some(b'n') => return self.literal("null"),
            _ => return Err(Invalid),
        };
        if depth + 1 > MAX_DEPTH {
            return Err(Invalid);
        }
        self.pos += 1;
        self.skip_ws();
        if self.eat(close) {
            return Ok(());
        }
        loop {
            if open == b'{' {
                if self.peek() != Some(b'"') {
                    return Err(Invalid);
                }
                self.string()?;
                self.skip_ws();
                if !self.eat(b':') {
                    return Err(Invalid);
                }
                self.skip_ws();
            }
            self.skip_value(depth + 1)?;
            self.skip_ws();
            if self.eat(b',') {
                self.skip_ws();
            } else if self.eat(close) {
                return Ok(());
            } else {
                return Err(Invalid);
            }
        }
    }

    /// Moves past the string starting at `pos` (a `"`), validating it; returns whether it
    /// holds escapes.
    fn string(&mut self) -> Scan<bool> {
        let b = self.b;
        let mut i = self.pos + 1;
        let mut escaped = false;
        loop {
            let stop = find_special(b, i).ok_or(Invalid)?;
            match b[stop] {
                b'"' => {
                    self.pos = stop + 1;
                    return Ok(escaped);
                }
                b'\\' => {
                    escaped = true;
                    i = escape_end(b, stop)?;
                }
                _ => return Err(Invalid), // a raw control character
            }
        }
    }

    /// Moves past a number, validating the JSON grammar.
    fn number(&mut self) -> Scan {
        let b = self.b;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits_end(b, i + 1),
            _ => return Err(Invalid),
        }
        if b.get(i) == Some(&b'.') {
            let end = digits_end(b, i + 1);
            if end == i + 1 {
                return Err(Invalid);
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits_end(b, i);
            if end == i {
                return Err(Invalid);
            }
            i = end;
        }
        self.pos = i;
        Ok(())
    }

    fn literal(&mut self, word: &str) -> Scan {
        if self.b[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }
}

const KEY_CACHE_SLOTS: usize = 64;

/// A key without escapes that the scrubber leaves alone, and whether it is sensitive.
#[derive(Clone, Copy)]
struct CachedKey<'a> {
    /// The key's first and last 8 bytes (zero-padded) and its length.
    words: [u64; 3],
    key: &'a str,
    sensitive: bool,
}

/// A key's first and last 8 bytes and length, and its two candidate slots in the key
/// cache.
fn key_hash(key: &str) -> ([u64; 3], [usize; 2]) {
    let b = key.as_bytes();
    let word = |bytes: &[u8]| {
        let mut w = [0u8; 8];
        w[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(w)
    };
    let head = word(&b[..b.len().min(8)]);
    let tail = word(&b[b.len().saturating_sub(8)..]);
    let len = b.len() as u64;
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let h = ((head ^ len.rotate_left(32)).wrapping_mul(K) ^ tail).wrapping_mul(K);
    let first = (h >> 58) as usize;
    let second = ((h >> 52) as usize & (KEY_CACHE_SLOTS - 1)) ^ 1;
    let second = if second == first { first ^ 1 } else { second };
    ([head, tail, len], [first, second])
}

/// JSON whitespace.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The first `"`, `\\` or control character at or after `b[i]`: a byte loop for the short
/// strings most bodies hold (sixteen bytes per compare on x86-64), `memchr2` past the
/// first 32 bytes.
fn find_special(b: &[u8], i: usize) -> Option<usize> {
    let special = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
    let short_end = b.len().min(i.saturating_add(32));
    let head = b.get(i..short_end)?;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    let (head, i) = {
        let mut k = 0;
        while let Some(lane) = head.get(k..k + 16) {
            let bits = sse2_special(lane);
            if bits != 0 {
                return Some(i + k + bits.trailing_zeros() as usize);
            }
            k += 16;
        }
        (&head[k..], i + k)
    };
    if let Some(off) = head.iter().position(|&c| special(c)) {
        return Some(i + off);
    }
    let rest = &b[short_end..];
    let found = memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
    // Branch-free so that it vectorises; the exact position only when there is one.
    let before = &rest[..found];
    if before.iter().fold(false, |acc, &c| acc | (c < 0x20)) {
        return before.iter().position(|&c| c < 0x20).map(|k| short_end + k);
    }
    (found < rest.len()).then_some(short_end + found)
}

/// One bit per byte of `lane` (16 bytes) that is `"`, `\\` or a control character: SSE2
/// compares through `safe_arch` (see `detect/scan.rs` on why not `core::arch`).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn sse2_special(lane: &[u8]) -> u32 {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, cmp_lt_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i, sub_i8_m128i,
    };
    let mut w = [0u8; 16];
    w.copy_from_slice(lane);
    let v = load_unaligned_m128i(&w);
    let quote = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'"' as i8));
    let backslash = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'\\' as i8));
    // `c < 0x20` unsigned: shifted by -128, a signed compare with -128 + 0x20.
    let control = cmp_lt_mask_i8_m128i(
        sub_i8_m128i(v, set_splat_i8_m128i(i8::MIN)),
        set_splat_i8_m128i(i8::MIN + 0x20),
    );
    move_mask_i8_m128i(quote | backslash | control) as u32
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// Validates the escape at `b[i]` (a backslash) and returns the index after it. A `\u`
/// high surrogate must be followed by a `\u` low surrogate; a lone one is invalid.
fn escape_end(b: &[u8], i: usize) -> Scan<usize> {
    match b.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => {
            let unit = hex4(b, i + 2).ok_or(Invalid)?;
            match unit {
                0xD800..=0xDBFF => {
                    let low = (b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u'))
                        .then(|| hex4(b, i + 8))
                        .flatten();
                    match low {
                        Some(0xDC00..=0xDFFF) => Ok(i + 12),
                        _ => Err(Invalid),
                    }
                }
                0xDC00..=0xDFFF => Err(Invalid),
                _ => Ok(i + 6),
            }
        }
        _ => Err(Invalid),
    }
}

/// The four hex digits at `b[i..i + 4]`.
fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let digits = b.get(i..i + 4)?;
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = char::from(d).to_digit(16)?;
        Some(acc << 4 | v)
    })
}

/// Writes the content of a JSON string, `raw` (without its quotes), unescaped into `out`.
/// Lenient: an invalid escape is copied as written, a lone surrogate becomes U+FFFD.
fn decode_into(raw: &str, out: &mut String) {
    out.clear();
    let b = raw.as_bytes();
    let (mut copied, mut i) = (0, 0);
    while let Some(off) = memchr(b'\\', &b[i..]) {
        let at = i + off;
        out.push_str(&raw[copied..at]);
        let (decoded, len) = match b.get(at + 1) {
            Some(b'"') => ('"', 2),
            Some(b'\\') => ('\\', 2),
            Some(b'/') => ('/', 2),
            Some(b'b') => ('\u{8}', 2),
            Some(b'f') => ('\u{c}', 2),
            Some(b'n') => ('\n', 2),
            Some(b'r') => ('\r', 2),
            Some(b't') => ('\t', 2),
            Some(b'u') => match hex4(b, at + 2) {
                Some(hi @ 0xD800..=0xDBFF) => {
                    let low = (b.get(at + 6) == Some(&b'\\') && b.get(at + 7) == Some(&b'u'))
                        .then(|| hex4(b, at + 8))
                        .flatten();
                    match low {
                        Some(lo @ 0xDC00..=0xDFFF) => {
                            let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            (char::from_u32(cp).unwrap_or('\u{FFFD}'), 12)
                        }
                        _ => ('\u{FFFD}', 6),
                    }
                }
                Some(unit) => (char::from_u32(unit).unwrap_or('\u{FFFD}'), 6),
                None => ('\\', 1),
            },
            _ => ('\\', 1),
        };
        out.push(decoded);
        i = at + len;
        copied = i;
    }
    out.push_str(&raw[copied..]);
}

/// Appends `s` as a JSON string: quoted, with `"`, `\` and control characters escaped.
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut copied = 0;
    for (i, c) in s.bytes().enumerate() {
        let escape = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[copied..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
        } else {
            out.push_str(escape);
        }
        copied = i + 1;
    }
    out.push_str(&s[copied..]);
    out.push('"');
}

/// What the scrubber made of `text`, if it differs. An unchanged, borrowed result is
/// recognised by its address without comparing the text.
fn changed<'s>(text: &str, scrubbed: &'s str) -> Option<&'s str> {
    let same = std::ptr::eq(scrubbed.as_ptr(), text.as_ptr()) && scrubbed.len() == text.len();
    (!same && scrubbed != text).then_some(scrubbed)
}

/// `[REDACTED:secret]` or a secret pseudonym `[secret:<16 base32 chars>]`.
fn is_redacted_secret(s: &str) -> bool {
    method::replacement_kind(s) == Some(Kind::Secret)
}

// ---- The text pass ----

/// The index after the closing quote of the string starting at `b[quote]`, where a
/// backslash escapes the next byte; `None` when it is unterminated.
fn lenient_string_end(b: &[u8], quote: usize) -> Option<usize> {
    let mut i = quote + 1;
    loop {
        i += memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// Whether a scalar value ending at `b[end]` ends there in [`text_value_end`]'s reading:
/// only spaces or tabs, then `,`, `}`, `]`, a line end or the end of the text follow.
fn ends_scalar(b: &[u8], mut end: usize) -> bool {
    while matches!(b.get(end), Some(b' ' | b'\t')) {
        end += 1;
    }
    matches!(b.get(end), None | Some(b',' | b'}' | b']' | b'\n' | b'\r'))
}

/// Skips any ASCII whitespace.
fn skip_any_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The end of the value starting at `b[start]` in text that is not valid JSON: a string to
/// its closing quote, an object or array to its matching bracket (strings skipped), anything
/// else to the next `,`, `}`, `]` or line end with trailing whitespace trimmed; the end of
/// the text when unterminated.
fn text_value_end(b: &[u8], start: usize) -> usize {
    match b.get(start) {
        None => start,
        Some(b'"') => lenient_string_end(b, start).unwrap_or(b.len()),
        Some(b'{' | b'[') => {
            let (mut depth, mut i) = (0usize, start);
            while let Some(&c) = b.get(i) {
                match c {
                    b'"' => match lenient_string_end(b, i) {
                        Some(end) => {
                            i = end;
                            continue;
                        }
                        None => return b.len(),
                    },
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b.len()
        }
        Some(_) => {
            let mut end = b[start..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b'\n' | b'\r'))
                .map_or(b.len(), |off| start + off);
            while end > start && b[end - 1].is_ascii_whitespace() {
                end -= 1;
            }
            end
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoScrub;

    /// Masks every word holding `@` (words end at whitespace and JSON punctuation).
    struct AtScrub;

    impl TextScrubber for AtScrub {
        fn scrub<'t>(&self, text: &'t str, counts: &mut Counts) -> Cow<'t, str> {
            if !text.contains('@') {
                return Cow::Borrowed(text);
            }
            let mut out = String::with_capacity(text.len());
            let mut word_start = 0;
            for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
                if i == text.len() || is_delim(c) {
                    let word = &text[word_start..i];
                    if word.contains('@') {
                        out.push_str(method::mask_marker(Kind::Email));
                        counts.add(Kind::Email);
                    } else {
                        out.push_str(word);
                    }
                    if i < text.len() {
                        out.push(c);
                    }
                    word_start = i + c.len_utf8();
                }
            }
            Cow::Owned(out)
        }
    }

    fn is_delim(c: char) -> bool {
        c.is_whitespace() || "\"',:;{}[]()<>".contains(c)
    }

    fn redact_with(
        text: &dyn TextScrubber,
        method: Method,
        body: &str,
    ) -> (String, BodyShape, Counts) {
        let keys = SensitiveKeys::default();
        let pseudonymizer = Pseudonymizer::new(b"test key");
        let r = JsonBodyRedactor {
            keys: &keys,
            key_method: method,
            pseudonymizer: Some(&pseudonymizer),
            text,
        };
        let mut counts = Counts::default();
        let (out, shape) = r.redact(body, &mut counts);
        let out = out.into_owned();
        // Every example is idempotent.
        let mut again = Counts::default();
        let (twice, _) = r.redact(&out, &mut again);
        assert_eq!(twice, out, "not idempotent for {body:?}");
        (out, shape, counts)
    }

    fn mask(body: &str) -> String {
        redact_with(&AtScrub, Method::Mask, body).0
    }

    #[test]
    fn values_under_sensitive_keys_are_masked_whatever_their_type() {
        assert_eq!(
            mask(
                r#"{"password": "x", "pin": 1234, "otp": true, "token": {"a": [1, 2]}, "cvv": [1]}"#
            ),
            r#"{"password": "[REDACTED:secret]", "pin": "[REDACTED:secret]", "otp": "[REDACTED:secret]", "token": "[REDACTED:secret]", "cvv": "[REDACTED:secret]"}"#
        );
        let (_, shape, counts) = redact_with(&NoScrub, Method::Mask, r#"{"a":{"apiKey":"k"}}"#);
        assert_eq!(shape, BodyShape::Json);
        assert_eq!(counts.get(Kind::Secret), 1);
    }

    #[test]
    fn null_and_already_redacted_values_stay() {
        let (out, _, counts) = redact_with(
            &NoScrub,
            Method::Mask,
            r#"{"password": null, "token": "[REDACTED:secret]", "pin": "[secret:abcdefghijklmnop]"}"#,
        );
        assert_eq!(
            out,
            r#"{"password": null, "token": "[REDACTED:secret]", "pin": "[secret:abcdefghijklmnop]"}"#
        );
        assert_eq!(counts.total(), 0);
    }

    #[test]
    fn methods() {
        let body = r#"{"password": "hunter2", "pin": 1234, "ok": 1}"#;
        let (hash, _, _) = redact_with(&NoScrub, Method::Hash, body);
        let p = Pseudonymizer::new(b"test key");
        assert_eq!(
            hash,
            format!(
                r#"{{"password": "{}", "pin": "{}", "ok": 1}}"#,
                p.pseudonym(Kind::Secret, "hunter2"),
                p.pseudonym(Kind::Secret, "1234")
            )
        );
        // Escapes do not change the pseudonym of a string.
        let (escaped, _, _) = redact_with(
            &NoScrub,
            Method::Hash,
            r#"{"password": "hunter\u0032", "pin": 1234, "ok": 1}"#,
        );
        assert_eq!(escaped, hash);
        assert_eq!(
            redact_with(&NoScrub, Method::Remove, body).0,
            r#"{"password": null, "pin": null, "ok": 1}"#
        );
        assert_eq!(redact_with(&NoScrub, Method::Keep, body).0, body);
        // Keep still scrubs.
        assert_eq!(
            redact_with(&AtScrub, Method::Keep, r#"{"token": "a@b"}"#).0,
            r#"{"token": "[REDACTED:email]"}"#
        );
        // Hash without a pseudonymizer masks.
        let keys = SensitiveKeys::default();
        let mut r = JsonBodyRedactor::new(&keys, &NoScrub);
        r.key_method = Method::Hash;
        assert_eq!(
            r.redact(r#"{"pwd":1}"#, &mut Counts::default()).0,
            r#"{"pwd":"[REDACTED:secret]"}"#
        );
    }

    #[test]
    fn strings_are_scrubbed_after_unescaping() {
        assert_eq!(
            mask(r#"{"e": "alice\u0040example.com", "f": "x\ty"}"#),
            r#"{"e": "[REDACTED:email]", "f": "x\ty"}"#
        );
        // Re-encoded with escapes where needed.
        assert_eq!(
            mask(r#"["a@b \"quoted\"\n\u0001"]"#),
            r#"["[REDACTED:email] \"quoted\"\n\u0001"]"#
        );
        assert_eq!(mask(r#"  "a@b"  "#), r#"  "[REDACTED:email]"  "#);
    }

    #[test]
    fn keys_are_scrubbed_and_compared_unescaped() {
        assert_eq!(
            mask(r#"{"alice@example.com": {"role": "admin"}}"#),
            r#"{"[REDACTED:email]": {"role": "admin"}}"#
        );
        assert_eq!(
            mask(r#"{"pass\u0077ord": "x"}"#),
            r#"{"pass\u0077ord": "[REDACTED:secret]"}"#
        );
    }

    #[test]
    fn numbers_go_through_the_scrubber() {
        struct Digits;
        impl TextScrubber for Digits {
            fn scrub<'t>(&self, text: &'t str, counts: &mut Counts) -> Cow<'t, str> {
                if text.bytes().filter(u8::is_ascii_digit).count() >= 13 {
                    counts.add(Kind::Card);
                    Cow::Borrowed(method::mask_marker(Kind::Card))
                } else {
                    Cow::Borrowed(text)
                }
            }
        }
        let (out, _, counts) = redact_with(
            &Digits,
            Method::Mask,
            r#"{"n": 4111111111111111, "m": 12, "s": "4111111111111111"}"#,
        );
        assert_eq!(
            out,
            r#"{"n": "[REDACTED:card]", "m": 12, "s": "[REDACTED:card]"}"#
        );
        assert_eq!(counts.get(Kind::Card), 2);
    }

    #[test]
    fn unchanged_bodies_are_borrowed() {
        let keys = SensitiveKeys::default();
        let r = JsonBodyRedactor::new(&keys, &NoScrub);
        for body in [
            r#"{"a": [1, -2.5e+3, true, false, null, "x"], "b": {}}"#,
            "  \n",
            "",
            "1 2\n3",
            r#"{"a": "\u00e9"}"#,
        ] {
            let (out, shape) = r.redact(body, &mut Counts::default());
            assert!(matches!(out, Cow::Borrowed(o) if o == body), "{body}");
            assert_eq!(shape, BodyShape::Json);
        }
    }

    #[test]
    fn grammar_is_strict() {
        let keys = SensitiveKeys::default();
        let r = JsonBodyRedactor::new(&keys, &NoScrub);
        for bad in [
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "1e",
            "-",
            "+1",
            ".5",
            "tru",
            "{'a':1}",
            "{a:1}",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"a\u{1}\"",
            "{}{}",
            "\"a\"\"b\"",
            "[1 2]",
            "{\"a\" 1}",
            "NaN",
            "\u{feff}{}",
            "[\"\\u12\"]",
            "1x",
        ] {
            assert_eq!(
                r.redact(bad, &mut Counts::default()).1,
                BodyShape::NotJson,
                "{bad:?}"
            );
        }
        for good in [
            "0",
            "-0.5E-7",
            "\"\\ud83d\\ude00\"",
            "[]",
            "{}",
            "{} {}",
            "\"a\"\n\"b\"",
            "null",
            "[[[]]]",
            "{\"\":\"\"}",
        ] {
            assert_eq!(
                r.redact(good, &mut Counts::default()).1,
                BodyShape::Json,
                "{good:?}"
            );
        }
    }

    #[test]
    fn depth_limit() {
        let keys = SensitiveKeys::default();
        let r = JsonBodyRedactor::new(&keys, &NoScrub);
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(r.redact(&ok, &mut Counts::default()).1, BodyShape::Json);
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            r.redact(&deep, &mut Counts::default()).1,
            BodyShape::NotJson
        );
        // Under a sensitive key too.
        let ok = format!("{{\"token\":{ok}}}");
        assert_eq!(r.redact(&ok, &mut Counts::default()).1, BodyShape::NotJson);
        let inner = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        let ok = format!("{{\"token\":{inner}}}");
        let (out, shape) = r.redact(&ok, &mut Counts::default());
        assert_eq!(
            (out.as_ref(), shape),
            ("{\"token\":\"[REDACTED:secret]\"}", BodyShape::Json)
        );
    }

    #[test]
    fn invalid_bodies_are_redacted_as_text() {
        let (out, shape, counts) = redact_with(
            &AtScrub,
            Method::Mask,
            r#"{"user": "a@b.c", "password": "hunt"#,
        );
        assert_eq!(
            out,
            r#"{"user": "[REDACTED:email]", "password": "[REDACTED:secret]""#
        );
        assert_eq!(shape, BodyShape::NotJson);
        assert_eq!(counts.get(Kind::Secret), 1);
        assert_eq!(counts.get(Kind::Email), 1);
        assert_eq!(
            mask(r#"{"password": hunter 2, "token": {"a": [1, "}"#),
            r#"{"password": "[REDACTED:secret]", "token": "[REDACTED:secret]""#
        );
        assert_eq!(
            redact_with(&NoScrub, Method::Remove, r#"{"pin": 12 34 }"#).0,
            r#"{"pin": null }"#
        );
        // `null` would run into the text after it.
        assert_eq!(
            redact_with(&NoScrub, Method::Remove, r#"{"pin": "1"x}"#).0,
            r#"{"pin": ""x}"#
        );
        // Fixing the body makes it JSON: redacted as JSON as well.
        assert_eq!(
            mask(r#"{"pin": [1}, "e": "a\u0040b"}"#),
            r#"{"pin": "[REDACTED:secret]", "e": "[REDACTED:email]"}"#
        );
        // A string after a key's `:` is a value, not a key.
        assert_eq!(mask(r#"{"a": "password": 1"#), r#"{"a": "password": 1"#);
        assert_eq!(
            redact_with(&AtScrub, Method::Keep, r#"{"password": "a@b"#).0,
            r#"{"password": "[REDACTED:email]"#
        );
        // Nothing to replace: the text goes through the scrubber whole.
        assert_eq!(mask("not json a@b"), "not json [REDACTED:email]");
        assert_eq!(mask(r#"{"password": }"#), r#"{"password": }"#);
    }

    #[test]
    fn long_strings_are_validated_past_the_short_scan() {
        let keys = SensitiveKeys::default();
        let r = JsonBodyRedactor::new(&keys, &NoScrub);
        let shape = |body: String| r.redact(&body, &mut Counts::default()).1;
        for n in [0, 1, 31, 32, 33, 100] {
            let pad = "x".repeat(n);
            assert_eq!(shape(format!("\"{pad}\"")), BodyShape::Json, "{n}");
            assert_eq!(shape(format!("\"{pad}\\n{pad}\"")), BodyShape::Json, "{n}");
            assert_eq!(
                shape(format!("\"{pad}\u{1}{pad}\"")),
                BodyShape::NotJson,
                "{n}"
            );
            assert_eq!(shape(format!("\"{pad}\u{1f}\"")), BodyShape::NotJson, "{n}");
            assert_eq!(shape(format!("\"{pad}")), BodyShape::NotJson, "{n}");
            assert_eq!(shape(format!("\"{pad}\\")), BodyShape::NotJson, "{n}");
        }
    }

    #[test]
    fn write_and_decode_round_trip() {
        let s = "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f} é 😀";
        let mut encoded = String::new();
        write_json_string(&mut encoded, s);
        assert_eq!(encoded, r#""a\"b\\c\n\r\t\b\f\u0001\u001f é 😀""#);
        let mut decoded = String::new();
        decode_into(&encoded[1..encoded.len() - 1], &mut decoded);
        assert_eq!(decoded, s);
        decode_into(r"\ud83d\ude00 \ud800 \x \u12", &mut decoded);
        assert_eq!(decoded, "😀 \u{FFFD} \\x \\u12");
    }

    /// `find_special` against its definition, at every start offset of random texts made
    /// of plain bytes, quotes, backslashes, control and non-ASCII bytes.
    #[test]
    fn find_special_matches_its_definition() {
        let alphabet = b"ab\"\\\x00\x1f \x7f\x80\xff9";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let len = (x % 90) as usize;
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly plain bytes, so that specials come late too.
                    if x.is_multiple_of(8) {
                        alphabet[(x >> 8) as usize % alphabet.len()]
                    } else {
                        b'a' + (x >> 16) as u8 % 26
                    }
                })
                .collect();
            for i in 0..=len + 1 {
                let want = text
                    .get(i..)
                    .and_then(|rest| {
                        rest.iter()
                            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                    })
                    .map(|k| i + k);
                assert_eq!(super::find_special(&text, i), want, "{text:?} from {i}");
            }
        }
    }
}
