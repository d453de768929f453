//! MongoDB and Elasticsearch JSON query scrubbing.
//!
//! [`obfuscate_json_query`] keeps a query's structure and field names and replaces every
//! value with [`PLACEHOLDER`] (`?`), using a hand-written streaming scanner: no parse tree,
//! no allocation beyond the output string.
//!
//! # Output contract
//!
//! Dashboards and alerts group by this output, so it is deterministic and the rules below
//! are an API: changing one is a breaking change.
//!
//! - Every leaf value (string, number, `true`, `false`, `null`) becomes `?`.
//! - Objects keep their keys, in their original order, copied exactly as written (quotes
//!   and escapes included; an unquoted key stays unquoted).
//! - An array whose elements are all leaves becomes `[?]`, whatever its length, so `$in`
//!   lists of different lengths group together. `[]` stays `[]`. An array holding any
//!   object or array keeps every element, each leaf as `?`: `[1,{"a":2}]` → `[?,{"a":?}]`.
//! - Output is compact: no whitespace. Several top-level values separated by whitespace
//!   (NDJSON, as in Elasticsearch `_msearch` bodies) are written one per line.
//!
//! ## Lenient input
//!
//! Where it is cheap, MongoDB shell and extended JSON is accepted too; each form is a leaf:
//! single-quoted strings (`'a'`), unquoted keys (`{ $match: {…} }`; ASCII letters, digits,
//! `_`, `$`, `.`), constructor calls (`ObjectId("…")`, `ISODate("…")`, `NumberLong(5)`,
//! `new Date(…)`: the whole call is one leaf), bare identifiers (`undefined`, `MinKey`),
//! numbers in any spelling (`+1`, `.5`, `NaN`, `0x1F`), regular expressions (`/^al/i`) and
//! `?` itself, so scrubbing scrubbed output changes nothing.
//!
//! ## Malformed input is redacted more, not less
//!
//! At the first thing the scanner does not understand (a bad token, a missing `:` or `,`, an
//! unterminated string, unexpected end of input, nesting deeper than 128), it stops: the
//! output produced so far is kept, a single `?` is appended, and nothing from the offending
//! token on is read. Brackets are not closed. For example a truncated
//! `{"email": "alice@exa` becomes `{"email":?` and `{"a": 1 "b": 2}` becomes `{"a":??`.
//!
//! ## Known limitation
//!
//! Keys are kept because they are field names. A document that uses an object as a map
//! keyed by data (`{"alice@example.com": {"role": "admin"}}`) keeps those keys.

use std::borrow::Cow;

use crate::PLACEHOLDER;
use crate::cow::CowBuilder;

/// Objects and arrays nested deeper than this are malformed input, which bounds recursion.
const MAX_DEPTH: usize = 128;

/// Scrubs a MongoDB or Elasticsearch JSON query: keeps structure and keys, replaces every
/// value with `?`. See the [module documentation](self) for the exact rules.
///
/// Returns [`Cow::Borrowed`] without allocating when nothing changes (input that is
/// already scrubbed and compact).
///
/// ```
/// use scrim_redact::json_query::obfuscate_json_query;
///
/// assert_eq!(
///     obfuscate_json_query(r#"{"email": "alice@example.com", "age": {"$gt": 30}}"#),
///     r#"{"email":?,"age":{"$gt":?}}"#
/// );
/// // Lists of leaves collapse, so `$in` lists of any length group together.
/// assert_eq!(obfuscate_json_query(r#"{"id": {"$in": [1, 2, 3]}}"#), r#"{"id":{"$in":[?]}}"#);
/// // Shell syntax.
/// assert_eq!(
///     obfuscate_json_query(r#"{ $match: { _id: ObjectId("507f1f77bcf86cd799439011") } }"#),
///     "{$match:{_id:?}}"
/// );
/// // Truncated input: what was produced, then `?`.
/// assert_eq!(obfuscate_json_query(r#"{"q": {"match": {"name": "Ali"#), r#"{"q":{"match":{"name":?"#);
/// ```
pub fn obfuscate_json_query(json: &str) -> Cow<'_, str> {
    let mut scanner = Scanner {
        src: json,
        pos: 0,
        out: CowBuilder::new(json),
    };
    scanner.document();
    scanner.out.finish()
}

/// The input is not (lenient) JSON from the current position on.
#[derive(Debug)]
struct Malformed;

type Scan = Result<(), Malformed>;

struct Scanner<'a> {
    src: &'a str,
    /// Byte offset of the next unread byte. Only ever moves past ASCII bytes or whole
    /// tokens, so it stays on a char boundary.
    pos: usize,
    out: CowBuilder<'a>,
}

impl<'a> Scanner<'a> {
    /// Top level: whitespace-separated values, written one per line.
    fn document(&mut self) {
        let mut first = true;
        loop {
            self.skip_whitespace();
            if self.pos >= self.src.len() {
                return;
            }
            if !first {
                self.out.push("\n");
            }
            first = false;
            if self.value(0).is_err() {
                self.out.push(PLACEHOLDER);
                return;
            }
        }
    }

    /// Any value; leaves are written as `?`.
    fn value(&mut self, depth: usize) -> Scan {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            _ => {
                self.leaf()?;
                self.out.push(PLACEHOLDER);
                Ok(())
            }
        }
    }

    fn object(&mut self, depth: usize) -> Scan {
        if depth > MAX_DEPTH {
            return Err(Malformed);
        }
        self.pos += 1; // `{`
        self.out.push("{");
        self.skip_whitespace();
        if self.eat(b'}') {
            self.out.push("}");
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            let key = self.key()?;
            self.skip_whitespace();
            // Only a token followed by `:` is a key; anything else is never written.
            if !self.eat(b':') {
                return Err(Malformed);
            }
            self.out.push(key);
            self.out.push(":");
            self.skip_whitespace();
            self.value(depth)?;
            if !self.list_continues(b'}')? {
                self.out.push("}");
                return Ok(());
            }
            self.out.push(",");
        }
    }

    fn array(&mut self, depth: usize) -> Scan {
        if depth > MAX_DEPTH {
            return Err(Malformed);
        }
        self.pos += 1; // `[`
        self.out.push("[");
        self.skip_whitespace();
        if self.eat(b']') {
            self.out.push("]");
            return Ok(());
        }
        let mut elements = ArrayWriter::default();
        loop {
            self.skip_whitespace();
            if matches!(self.peek(), Some(b'{' | b'[')) {
                elements.before_container(&mut self.out);
                self.value(depth)?;
            } else {
                self.leaf()?;
                elements.leaf(&mut self.out);
            }
            if !self.list_continues(b']')? {
                elements.finish(&mut self.out);
                self.out.push("]");
                return Ok(());
            }
        }
    }

    /// After a list element: consumes `,` (true) or `close` (false).
    fn list_continues(&mut self, close: u8) -> Result<bool, Malformed> {
        self.skip_whitespace();
        if self.eat(b',') {
            Ok(true)
        } else if self.eat(close) {
            Ok(false)
        } else {
            Err(Malformed)
        }
    }

    /// An object key, returned as written: a quoted string or an unquoted name.
    fn key(&mut self) -> Result<&'a str, Malformed> {
        let start = self.pos;
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => self.string(q)?,
            Some(b) if is_name_byte(b) => self.skip_while(is_name_byte),
            _ => return Err(Malformed),
        }
        self.src.get(start..self.pos).ok_or(Malformed)
    }

    /// Skips one leaf value without writing anything.
    fn leaf(&mut self) -> Scan {
        match self.peek().ok_or(Malformed)? {
            q @ (b'"' | b'\'') => self.string(q),
            b'-' | b'+' | b'.' | b'0'..=b'9' => {
                // Any spelling: the value is dropped, so only its extent matters.
                self.pos += 1;
                self.skip_while(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'_')
                });
                Ok(())
            }
            b'?' => {
                self.pos += 1;
                Ok(())
            }
            b'/' => self.regex(),
            b if is_identifier_start(b) => self.identifier_or_call(),
            _ => Err(Malformed),
        }
    }

    /// Skips a string quoted with `quote`, where a backslash escapes the next byte.
    fn string(&mut self, quote: u8) -> Scan {
        let mut i = self.pos + 1;
        loop {
            match self.src.as_bytes().get(i).copied().ok_or(Malformed)? {
                b'\\' => i += 2,
                b if b == quote => {
                    self.pos = i + 1;
                    return Ok(());
                }
                _ => i += 1,
            }
        }
    }

    /// Skips `true`, `null`, `MinKey`, `ObjectId("…")`, `new Date(…)` and the like.
    fn identifier_or_call(&mut self) -> Scan {
        let start = self.pos;
        self.skip_while(is_name_byte);
        if self.src.get(start..self.pos) == Some("new") {
            self.skip_whitespace();
            if !self.peek().is_some_and(is_identifier_start) {
                return Err(Malformed);
            }
            self.skip_while(is_name_byte);
        }
        self.skip_whitespace();
        if self.peek() == Some(b'(') {
            self.call_arguments()?;
        }
        Ok(())
    }

    /// Skips a parenthesised argument list, nested parentheses and strings included.
    fn call_arguments(&mut self) -> Scan {
        let mut open = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'"' | b'\'' => self.string(b)?,
                b'(' => {
                    open += 1;
                    self.pos += 1;
                }
                b')' => {
                    open = open.saturating_sub(1); // never below 1 here: we start at `(`
                    self.pos += 1;
                    if open == 0 {
                        return Ok(());
                    }
                }
                _ => self.pos += 1,
            }
        }
        Err(Malformed)
    }

    /// Skips a JavaScript regular expression literal `/…/flags`: a `/` inside a character
    /// class (`[/]`) or after a backslash does not end it, and it cannot span lines.
    fn regex(&mut self) -> Scan {
        let mut i = self.pos + 1;
        let mut in_class = false;
        loop {
            match self.src.as_bytes().get(i).copied().ok_or(Malformed)? {
                b'\\' => i += 1,
                b'\n' | b'\r' => return Err(Malformed),
                b'[' => in_class = true,
                b']' => in_class = false,
                b'/' if !in_class => break,
                _ => {}
            }
            i += 1;
        }
        if i == self.pos + 1 {
            return Err(Malformed); // `//` is a comment, not an empty regex
        }
        self.pos = i + 1;
        self.skip_while(|b| b.is_ascii_alphabetic()); // flags
        Ok(())
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Advances past ASCII bytes matching `pred`.
    fn skip_while(&mut self, pred: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(|b| b.is_ascii() && pred(b)) {
            self.pos += 1;
        }
    }

    fn skip_whitespace(&mut self) {
        self.skip_while(|b| b.is_ascii_whitespace());
    }
}

/// Writes an array's elements so that an array of leaves only collapses to `[?]`.
///
/// Leaves are counted, not written, until the first object or array element shows the array
/// is mixed; from then on every element is written.
#[derive(Default)]
struct ArrayWriter {
    /// Leaves seen but not yet written (only while no container has been seen).
    pending_leaves: usize,
    /// Whether a container element has been seen.
    mixed: bool,
    /// Whether an element has been written (so the next one needs a `,`).
    written: bool,
}

impl ArrayWriter {
    fn leaf(&mut self, out: &mut CowBuilder<'_>) {
        if self.mixed {
            self.write(out, PLACEHOLDER);
        } else {
            self.pending_leaves += 1;
        }
    }

    /// Writes the pending leaves and the separator before a container element.
    fn before_container(&mut self, out: &mut CowBuilder<'_>) {
        for _ in 0..std::mem::take(&mut self.pending_leaves) {
            self.write(out, PLACEHOLDER);
        }
        self.mixed = true;
        self.write(out, "");
    }

    /// Writes what an all-leaves array collapses to.
    fn finish(&mut self, out: &mut CowBuilder<'_>) {
        if self.pending_leaves > 0 {
            out.push(PLACEHOLDER);
        }
    }

    fn write(&mut self, out: &mut CowBuilder<'_>, element: &str) {
        if self.written {
            out.push(",");
        }
        self.written = true;
        out.push(element);
    }
}

/// Bytes of an unquoted key or identifier.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.')
}

fn is_identifier_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || matches!(b, b'_' | b'$')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(json: &str) -> String {
        obfuscate_json_query(json).into_owned()
    }

    #[test]
    fn leaves_become_placeholders() {
        assert_eq!(
            j(r#"{"a": "x", "b": 1, "c": -2.5e3, "d": true, "e": false, "f": null}"#),
            r#"{"a":?,"b":?,"c":?,"d":?,"e":?,"f":?}"#
        );
        assert_eq!(j(r#""top""#), "?");
        assert_eq!(j("42"), "?");
        assert_eq!(
            j(r#"{"a": "with \"escaped\" quotes and \\ backslash"}"#),
            r#"{"a":?}"#
        );
        assert_eq!(j(r#"{"a": "unicode \u00e9 é 😀"}"#), r#"{"a":?}"#);
    }

    #[test]
    fn structure_and_key_order_are_kept() {
        assert_eq!(
            j(r#"{"z": {"y": {"x": 1}}, "a": [{"b": 2}, {"c": [3]}], "m": {}}"#),
            r#"{"z":{"y":{"x":?}},"a":[{"b":?},{"c":[?]}],"m":{}}"#
        );
        assert_eq!(j("[]"), "[]");
        assert_eq!(j("{}"), "{}");
        assert_eq!(j("[[], {}]"), "[[],{}]");
    }

    #[test]
    fn arrays_of_leaves_collapse() {
        assert_eq!(j(r#"{"id": {"$in": [1, 2, 3]}}"#), r#"{"id":{"$in":[?]}}"#);
        assert_eq!(j(r#"{"id": {"$in": [1]}}"#), r#"{"id":{"$in":[?]}}"#);
        assert_eq!(j(r#"["a", 1, null, true]"#), "[?]");
        assert_eq!(j("[[1, 2], [3]]"), "[[?],[?]]");
        // Mixed arrays keep every element.
        assert_eq!(j(r#"[1, 2, {"a": 3}, 4, [5]]"#), r#"[?,?,{"a":?},?,[?]]"#);
        assert_eq!(j(r#"[{"a": 1}, {"a": 2}]"#), r#"[{"a":?},{"a":?}]"#);
    }

    #[test]
    fn mongo_query_examples() {
        assert_eq!(
            j(
                r#"{"find": "users", "filter": {"$or": [{"email": "a@b.c"}, {"age": {"$gte": 21}}]}, "limit": 10}"#
            ),
            r#"{"find":?,"filter":{"$or":[{"email":?},{"age":{"$gte":?}}]},"limit":?}"#
        );
        assert_eq!(
            j(
                r#"[{"$match": {"status": "A"}}, {"$group": {"_id": "$cust_id", "total": {"$sum": "$amount"}}}]"#
            ),
            r#"[{"$match":{"status":?}},{"$group":{"_id":?,"total":{"$sum":?}}}]"#
        );
        assert_eq!(
            j(r#"{"_id": {"$oid": "507f1f77bcf86cd799439011"}}"#),
            r#"{"_id":{"$oid":?}}"#
        );
    }

    #[test]
    fn elasticsearch_query_examples() {
        assert_eq!(
            j(
                r#"{"query": {"bool": {"must": [{"match": {"title": "Search"}}], "filter": [{"term": {"status": "published"}}, {"range": {"date": {"gte": "2015-01-01"}}}]}}, "size": 20}"#
            ),
            r#"{"query":{"bool":{"must":[{"match":{"title":?}}],"filter":[{"term":{"status":?}},{"range":{"date":{"gte":?}}}]}},"size":?}"#
        );
        // NDJSON bodies: one value per line.
        assert_eq!(
            j("{\"index\":\"logs\"}\n{\"query\":{\"match_all\":{}}}\n"),
            "{\"index\":?}\n{\"query\":{\"match_all\":{}}}"
        );
    }

    #[test]
    fn shell_syntax() {
        assert_eq!(
            j(r#"{ $match: { _id: ObjectId("507f1f77bcf86cd799439011") } }"#),
            "{$match:{_id:?}}"
        );
        assert_eq!(
            j(
                r#"{ts: ISODate("2024-01-01T00:00:00Z"), n: NumberLong(5), d: NumberDecimal('1.5')}"#
            ),
            "{ts:?,n:?,d:?}"
        );
        assert_eq!(
            j(r#"{when: new Date("2024-01-01"), ref: DBRef("c", ObjectId("x)y"))}"#),
            "{when:?,ref:?}"
        );
        assert_eq!(
            j("{name: 'alice', 'quoted key': 'x'}"),
            "{name:?,'quoted key':?}"
        );
        assert_eq!(j("{a.b: 1, $x_1: 2, 0: 3}"), "{a.b:?,$x_1:?,0:?}");
        assert_eq!(
            j("{a: undefined, b: MinKey, c: NaN, d: -Infinity, e: +1, f: .5, g: 0x1F}"),
            "{a:?,b:?,c:?,d:?,e:?,f:?,g:?}"
        );
        assert_eq!(j("{ts: Timestamp(1, 2)}"), "{ts:?}");
        assert_eq!(j("{a: ObjectId ( 'x' ) }"), "{a:?}");
    }

    #[test]
    fn regexes() {
        assert_eq!(j("{name: /^alice/i, b: 1}"), "{name:?,b:?}");
        assert_eq!(j(r"{a: /[/]x\/y/, b: 1}"), "{a:?,b:?}");
        assert_eq!(j("{a: /unterminated}"), "{a:?");
        assert_eq!(j("{a: //, b: 1}"), "{a:?");
        assert_eq!(j("{a: /x\n/}"), "{a:?");
    }

    #[test]
    fn malformed_input_is_cut_at_the_error() {
        // Truncated.
        assert_eq!(
            j(r#"{"filter": {"email": "alice@exa"#),
            r#"{"filter":{"email":?"#
        );
        assert_eq!(j(r#"{"a": 1"#), r#"{"a":??"#);
        assert_eq!(j(r#"{"a": "#), r#"{"a":?"#);
        assert_eq!(j(r#"{"a""#), "{?");
        assert_eq!(j("[1, 2,"), "[?");
        assert_eq!(j(r#"[1, 2, {"a": "#), r#"[?,?,{"a":?"#);
        assert_eq!(j("{"), "{?");
        assert_eq!(j("["), "[?");
        // Bad tokens: nothing from the offending token on is read.
        assert_eq!(j(r#"{"a": 1 "secret": 2}"#), r#"{"a":??"#);
        assert_eq!(j(r#"{"a": "he said "hi": there"}"#), r#"{"a":??"#);
        assert_eq!(j(r#"{"secret"}"#), "{?");
        assert_eq!(j(r#"{"a": 1,}"#), r#"{"a":?,?"#);
        assert_eq!(j(r#"{"a": @secret}"#), r#"{"a":?"#);
        assert_eq!(j(r#"{"a" 1}"#), "{?");
        assert_eq!(j(r#"{"a": ObjectId("unterminated"#), r#"{"a":?"#);
        assert_eq!(j("{a: new 5}"), "{a:?");
        assert_eq!(j("{a: 1} ]secret"), "{a:?}\n?");
        assert_eq!(j("}"), "?");
        assert_eq!(j("{\"a\": 1 // comment\n}"), "{\"a\":??");
        assert_eq!(j("{clé: 1}"), "{?");
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(j(&ok), ok);
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(j(&deep), format!("{}?", "[".repeat(MAX_DEPTH)));
        let very_deep = "{\"a\":".repeat(100_000);
        assert!(j(&very_deep).ends_with('?'));
    }

    #[test]
    fn empty_and_whitespace() {
        assert_eq!(j(""), "");
        assert_eq!(j(" \n\t "), "");
        assert_eq!(j("  {\"a\" :\t1 }  \n"), "{\"a\":?}");
    }

    #[test]
    fn borrowed_when_already_scrubbed() {
        for json in [
            "{}",
            "[]",
            "?",
            r#"{"a":?,"b":[?],"c":{"d":?}}"#,
            "{$match:{_id:?}}",
        ] {
            assert!(
                matches!(obfuscate_json_query(json), Cow::Borrowed(s) if s == json),
                "{json}"
            );
        }
        assert!(matches!(
            obfuscate_json_query("{\"a\":?}\n"),
            Cow::Borrowed("{\"a\":?}")
        ));
    }

    #[test]
    fn idempotent_on_valid_input() {
        for json in [
            r#"{"a": [1, {"b": [2, 3]}, 4], "c": "x"}"#,
            "{ $match: { a: ObjectId('x') } }",
            "[1, 2, 3]\n{\"a\": 1}",
        ] {
            let once = j(json);
            assert_eq!(j(&once), once, "{json}");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Arbitrary JSON values, rendered with `serde_json`.
        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(serde_json::Value::from),
                "\\PC{0,12}".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(5, 64, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6)
                        .prop_map(serde_json::Value::from),
                    proptest::collection::vec(("[a-z$_]{1,6}", inner), 0..6)
                        .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        /// What `value` should scrub to, with `null` standing for `?`.
        fn scrubbed(value: &serde_json::Value) -> serde_json::Value {
            use serde_json::Value;
            match value {
                Value::Object(map) => {
                    Value::Object(map.iter().map(|(k, v)| (k.clone(), scrubbed(v))).collect())
                }
                Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
                    Value::Array(if items.is_empty() {
                        vec![]
                    } else {
                        vec![Value::Null]
                    })
                }
                Value::Array(items) => Value::Array(items.iter().map(scrubbed).collect()),
                _ => Value::Null,
            }
        }

        /// Inserts `secret` as a string leaf somewhere in `value`.
        fn plant(value: &mut serde_json::Value, secret: &str, choice: usize) {
            use serde_json::Value;
            match value {
                Value::Object(map) if !map.is_empty() => {
                    let n = map.len();
                    let (_, v) = map.iter_mut().nth(choice % n).expect("non-empty");
                    plant(v, secret, choice / n + 1);
                }
                Value::Array(items) if !items.is_empty() => {
                    let n = items.len();
                    plant(&mut items[choice % n], secret, choice / n + 1);
                }
                other => *other = Value::from(format!("x {secret} y")),
            }
        }

        proptest! {
            #[test]
            fn never_panics_on_arbitrary_text(s in "\\PC*") {
                let _ = obfuscate_json_query(&s);
            }

            #[test]
            fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let s = String::from_utf8_lossy(&bytes);
                let _ = obfuscate_json_query(&s);
            }

            #[test]
            fn never_panics_on_json_like_text(s in "[\\[\\]{}:,\"' a-z0-9$()/\\\\?.-]{0,64}") {
                let _ = obfuscate_json_query(&s);
            }

            #[test]
            fn valid_json_keeps_structure(value in json_value(), pretty in any::<bool>()) {
                let text = if pretty {
                    serde_json::to_string_pretty(&value).expect("serialises")
                } else {
                    serde_json::to_string(&value).expect("serialises")
                };
                let out = obfuscate_json_query(&text).into_owned();
                prop_assert!(!out.contains(char::is_whitespace), "{:?}", out);
                // Reading each `?` as `null` gives the input with leaves nulled and
                // leaf-only arrays collapsed.
                let reread: serde_json::Value =
                    serde_json::from_str(&out.replace('?', "null")).expect("valid JSON");
                prop_assert_eq!(reread, scrubbed(&value));
                // Scrubbing again changes nothing.
                prop_assert_eq!(obfuscate_json_query(&out), out.as_str());
            }

            #[test]
            fn planted_value_never_survives(
                mut value in json_value(),
                secret in "[a-z0-9]{12}",
                choice in any::<usize>(),
                cut in any::<prop::sample::Index>(),
            ) {
                let secret = format!("Zq{secret}");
                plant(&mut value, &secret, choice);
                let text = serde_json::to_string(&value).expect("serialises");
                prop_assert!(text.contains(&secret));
                let out = obfuscate_json_query(&text);
                prop_assert!(!out.contains(&secret), "{:?} -> {:?}", text, out);
                // Truncated anywhere (on a char boundary), it still never survives.
                let mut at = cut.index(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let out = obfuscate_json_query(&text[..at]);
                prop_assert!(!out.contains(&secret), "{:?} -> {:?}", &text[..at], out);
            }
        }
    }
}
