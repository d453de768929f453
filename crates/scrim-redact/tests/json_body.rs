//! JSON body redaction on realistic bodies, and its properties: valid JSON stays valid
//! with the same structure, no value under a sensitive key survives, redaction is
//! idempotent, truncated bodies leak nothing, unchanged bodies allocate nothing.

use std::borrow::Cow;

use proptest::prelude::*;
use scrim_redact::json_body::{BodyShape, JsonBodyRedactor};
use scrim_redact::keys::SensitiveKeys;
use scrim_redact::method::mask_marker;
use scrim_redact::{Counts, Kind, Method, NoScrub, Pseudonymizer, TextScrubber};
use serde_json::Value;

/// A stand-in for the detectors: masks every word holding `@` as an email and every word
/// with 13 or more digits as a card. Words end at whitespace and JSON punctuation.
/// Idempotent, like the detectors: markers hold neither.
struct TestScrub;

fn is_delim(c: char) -> bool {
    c.is_whitespace() || "\"',:;{}[]()<>\\".contains(c)
}

fn word_kind(w: &str) -> Option<Kind> {
    if w.contains('@') {
        Some(Kind::Email)
    } else if w.bytes().filter(u8::is_ascii_digit).count() >= 13 {
        Some(Kind::Card)
    } else {
        None
    }
}

impl TextScrubber for TestScrub {
    fn scrub<'t>(&self, text: &'t str, counts: &mut Counts) -> Cow<'t, str> {
        if !text.split(is_delim).any(|w| word_kind(w).is_some()) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut start = 0;
        for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
            if i == text.len() || is_delim(c) {
                let word = &text[start..i];
                match word_kind(word) {
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

fn scrub(text: &str) -> String {
    TestScrub.scrub(text, &mut Counts::default()).into_owned()
}

const PSEUDONYM_KEY: &[u8] = b"tenant key for tests";

/// Redacts `body` with the default keys, `method` and `text`; checks idempotence.
fn redact_with(text: &dyn TextScrubber, method: Method, body: &str) -> (String, BodyShape, Counts) {
    let keys = SensitiveKeys::default();
    let pseudonymizer = Pseudonymizer::new(PSEUDONYM_KEY);
    let redactor = JsonBodyRedactor {
        keys: &keys,
        key_method: method,
        pseudonymizer: Some(&pseudonymizer),
        text,
    };
    let mut counts = Counts::default();
    let (out, shape) = redactor.redact(body, &mut counts);
    let out = out.into_owned();
    let (twice, _) = redactor.redact(&out, &mut Counts::default());
    assert_eq!(twice, out, "not idempotent for {body:?}");
    (out, shape, counts)
}

fn redact(body: &str) -> (String, BodyShape, Counts) {
    redact_with(&TestScrub, Method::Mask, body)
}

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("invalid JSON ({e}): {s}"))
}

#[test]
fn login_request() {
    let body = r#"{
  "username": "alice@example.com",
  "password": "correct horse battery staple",
  "remember_me": true,
  "device": {"os": "iOS", "version": "17.2"}
}"#;
    let (out, shape, counts) = redact(body);
    assert_eq!(
        out,
        r#"{
  "username": "[REDACTED:email]",
  "password": "[REDACTED:secret]",
  "remember_me": true,
  "device": {"os": "iOS", "version": "17.2"}
}"#
    );
    assert_eq!(shape, BodyShape::Json);
    assert_eq!(counts.get(Kind::Secret), 1);
    assert_eq!(counts.get(Kind::Email), 1);
}

#[test]
fn payment_request() {
    let body = r#"{"order_id":"ord_8f2k","amount":4999,"currency":"EUR","card":{"number":"4111 1111 1111 1111","exp_month":12,"exp_year":2030,"cvv":"737"},"billing":{"name":"Alice Martin","email":"alice@example.com","pan":4111111111111111},"reference":4111111111111111}"#;
    let (out, _, counts) = redact(body);
    assert_eq!(
        out,
        r#"{"order_id":"ord_8f2k","amount":4999,"currency":"EUR","card":"[REDACTED:secret]","billing":{"name":"Alice Martin","email":"[REDACTED:email]","pan":"[REDACTED:secret]"},"reference":"[REDACTED:card]"}"#
    );
    assert_eq!(counts.get(Kind::Secret), 2);
    assert_eq!(counts.get(Kind::Card), 1);
    // Hashed: stable pseudonyms, the same for the same value.
    let (hashed, _, _) = redact_with(&TestScrub, Method::Hash, body);
    let p = Pseudonymizer::new(PSEUDONYM_KEY);
    assert!(hashed.contains(&format!(
        r#""pan":"{}""#,
        p.pseudonym(Kind::Secret, "4111111111111111")
    )));
    assert!(!hashed.contains("737") && !hashed.contains("4111"));
    // Removed: structure kept, values null.
    let (removed, _, _) = redact_with(&NoScrub, Method::Remove, body);
    assert!(removed.contains(r#""card":null,"billing""#));
    assert!(removed.contains(r#""pan":null}"#));
}

#[test]
fn oauth_token_response() {
    let body = "{\r\n\t\"access_token\": \"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl\",\r\n\t\"token_type\": \"Bearer\",\r\n\t\"expires_in\": 3600,\r\n\t\"refresh_token\": \"8xLOxBtZp8\",\r\n\t\"id_token\": null,\r\n\t\"scope\": \"openid profile email\"\r\n}";
    let (out, _, counts) = redact(body);
    // `token_type` names `token`: its value goes too (keys match by words).
    assert_eq!(
        out,
        "{\r\n\t\"access_token\": \"[REDACTED:secret]\",\r\n\t\"token_type\": \"[REDACTED:secret]\",\r\n\t\"expires_in\": 3600,\r\n\t\"refresh_token\": \"[REDACTED:secret]\",\r\n\t\"id_token\": null,\r\n\t\"scope\": \"openid profile email\"\r\n}"
    );
    assert_eq!(counts.get(Kind::Secret), 3);
}

#[test]
fn nested_arrays_of_users() {
    let body = r#"{"data":{"users":[{"id":1,"name":"Alice","email":"alice@example.com","roles":["admin","dev"],"contacts":[{"type":"email","value":"alice.m@corp.example"}]},{"id":2,"name":"Bob","email":"bob\u0040example.org","roles":[],"contacts":[]}]},"page":{"next":null,"size":2}}"#;
    let (out, _, counts) = redact(body);
    assert_eq!(
        out,
        r#"{"data":{"users":[{"id":1,"name":"Alice","email":"[REDACTED:email]","roles":["admin","dev"],"contacts":[{"type":"email","value":"[REDACTED:email]"}]},{"id":2,"name":"Bob","email":"[REDACTED:email]","roles":[],"contacts":[]}]},"page":{"next":null,"size":2}}"#
    );
    assert_eq!(counts.get(Kind::Email), 3);
    assert_eq!(counts.total(), 3);
}

#[test]
fn graphql_request_with_variables() {
    let body = r#"{"operationName":"Login","query":"mutation Login($email: String!, $password: String!) {\n  login(email: $email, password: $password) { token }\n}","variables":{"email":"carol@example.com","password":"p@ss w0rd","mfa":{"otp":"492817"}}}"#;
    let (out, _, counts) = redact(body);
    assert_eq!(
        out,
        r#"{"operationName":"Login","query":"mutation Login($email: String!, $password: String!) {\n  login(email: $email, password: $password) { token }\n}","variables":{"email":"[REDACTED:email]","password":"[REDACTED:secret]","mfa":{"otp":"[REDACTED:secret]"}}}"#
    );
    assert_eq!(counts.get(Kind::Secret), 2);
    assert_eq!(counts.get(Kind::Email), 1);
}

#[test]
fn escaped_strings_and_unicode() {
    let body = r#"{"msg":"line1\nline2 \"quoted\" \\ \/ \t é 日本 😀 \ud83d\ude00","to":"jos\u00e9@exampl\u00e9.com","note":"contact: d\u0040x.io, thanks","sécurité":{"mot de passe":"x"},"pass\u0077ord":"hunter2"}"#;
    let (out, _, _) = redact(body);
    assert_eq!(
        out,
        r#"{"msg":"line1\nline2 \"quoted\" \\ \/ \t é 日本 😀 \ud83d\ude00","to":"[REDACTED:email]","note":"contact: [REDACTED:email], thanks","sécurité":{"mot de passe":"x"},"pass\u0077ord":"[REDACTED:secret]"}"#
    );
    // A scrubbed string is written anew; untouched ones keep their escapes.
    assert_eq!(
        parse(&out)["note"],
        Value::String("contact: [REDACTED:email], thanks".into())
    );
}

#[test]
fn deeply_nested_bodies() {
    let depth = 63; // two containers each, plus the innermost object: 127 deep
    let body = format!(
        "{}{{\"password\":\"deep\",\"e\":\"a@b.c\"}}{}",
        "{\"a\":[".repeat(depth),
        "]}".repeat(depth)
    );
    let (out, shape, _) = redact(&body);
    assert_eq!(shape, BodyShape::Json);
    assert!(!out.contains("deep") && !out.contains("a@b.c"));
    parse(&out);
    // Beyond the limit: not JSON, redacted as text, still no leak.
    let body = format!(
        "{}{{\"password\":\"deep\",\"e\":\"a@b.c\"}}{}",
        "[".repeat(300),
        "]".repeat(300)
    );
    let (out, shape, _) = redact(&body);
    assert_eq!(shape, BodyShape::NotJson);
    assert!(!out.contains("deep") && !out.contains("a@b.c"));
    // Hostile nesting does not overflow the stack.
    let body = "[".repeat(1_000_000);
    assert_eq!(redact(&body).1, BodyShape::NotJson);
    let body = format!("{{\"token\":{}", "{\"a\":".repeat(100_000));
    let (out, _, _) = redact(&body);
    assert_eq!(out, r#"{"token":"[REDACTED:secret]""#);
}

#[test]
fn ndjson_and_top_level_scalars() {
    let body = "{\"event\":\"login\",\"user\":\"a@b.io\"}\n{\"event\":\"token\",\"token\":\"abc\"}\n\"x@y.z\"\n42\n4111111111111111\n";
    let (out, shape, _) = redact(body);
    assert_eq!(shape, BodyShape::Json);
    assert_eq!(
        out,
        "{\"event\":\"login\",\"user\":\"[REDACTED:email]\"}\n{\"event\":\"token\",\"token\":\"[REDACTED:secret]\"}\n\"[REDACTED:email]\"\n42\n\"[REDACTED:card]\"\n"
    );
    for line in out.lines() {
        parse(line);
    }
}

#[test]
fn truncated_bodies_never_leak_the_secret() {
    let secret = "Hunter2-Sup3r"; // no `H` in markers or pseudonyms
    let body = format!(
        r#"{{"username": "alice", "password": "{secret}", "remember": true, "profile": {{"token": [1, 2], "email": "a@b.c"}}}}"#
    );
    let secret_at = body.find(secret).expect("secret in body");
    for method in [Method::Mask, Method::Hash, Method::Remove] {
        for cut in 0..=body.len() {
            let truncated = &body[..cut];
            let (out, shape, _) = redact_with(&TestScrub, method, truncated);
            let shown = cut.saturating_sub(secret_at).min(secret.len());
            if shown > 0 {
                assert!(
                    !out.contains(&secret[..shown]),
                    "{method}: {truncated:?} leaked into {out:?}"
                );
            }
            assert!(!out.contains("a@b.c"), "{truncated:?} -> {out:?}");
            assert_eq!(
                shape == BodyShape::Json,
                cut == body.len() || cut == 0,
                "{truncated:?}"
            );
        }
    }
    let (out, shape, counts) = redact(r#"{"password": "hunt"#);
    assert_eq!(out, r#"{"password": "[REDACTED:secret]""#);
    assert_eq!(shape, BodyShape::NotJson);
    assert_eq!(counts.get(Kind::Secret), 1);
}

#[test]
fn not_json_is_scrubbed_as_text() {
    let (out, shape, counts) = redact("user alice@example.com password=hunter2");
    assert_eq!(shape, BodyShape::NotJson);
    // No quoted key: the scrubber alone decides (the real detectors catch `password=`).
    assert_eq!(out, "user [REDACTED:email] password=hunter2");
    assert_eq!(counts.get(Kind::Email), 1);
    let (out, _, _) = redact("{'password': 'x', \"api_key\": \"k\" /* comment */}");
    assert_eq!(
        out,
        "{'password': 'x', \"api_key\": \"[REDACTED:secret]\" /* comment */}"
    );
}

#[test]
fn whitespace_and_empty_bodies_are_returned_as_they_are() {
    for body in ["", " ", "\n\r\t "] {
        let (out, shape, counts) = redact(body);
        assert_eq!(
            (out.as_str(), shape, counts.total()),
            (body, BodyShape::Json, 0)
        );
    }
}

#[test]
fn unchanged_bodies_allocate_nothing() {
    let keys = SensitiveKeys::default();
    let redactor = JsonBodyRedactor::new(&keys, &NoScrub);
    let bodies = [
        r#"{"id": 42, "items": [{"sku": "A-1", "qty": 2, "price": 9.99}], "gift": false, "note": null}"#,
        "[1, 2.5, -3e10, \"text\", {\"nested\": {\"deeper\": []}}]\n{\"second\": true}",
        r#"{"password": null, "token": "[REDACTED:secret]"}"#,
    ];
    for body in bodies {
        drop(redactor.redact(body, &mut Counts::default()));
        let mut result = None;
        let info = allocation_counter::measure(|| {
            result = Some(redactor.redact(body, &mut Counts::default()));
        });
        let (out, shape) = result.expect("ran");
        assert!(matches!(out, Cow::Borrowed(o) if o == body), "{body}");
        assert_eq!(shape, BodyShape::Json);
        assert_eq!(
            info.count_total, 0,
            "{} allocation(s) for {body}",
            info.count_total
        );
    }
}

// ---- Properties ----

const KEYS: &[&str] = &[
    "password",
    "newPassword",
    "apiKey",
    "access_token",
    "card",
    "cvv",
    "Authorization",
    "name",
    "email",
    "id",
    "cardinality",
    "tokenizer",
    "a@b.c",
    "4111111111111111",
    "",
];

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z_@.\\-]{0,10}",
        1 => any::<String>(),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,12}",
        "[a-z]{1,6}@[a-z]{1,6}\\.com",
        "[0-9 ]{13,19}",
        Just("[REDACTED:secret]".to_owned()),
        any::<String>(),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
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

/// `output` is `input` redacted: same structure, strings and numbers scrubbed, keys
/// scrubbed, values under sensitive keys redacted (`null` stays `null`).
fn check_structure(keys: &SensitiveKeys, input: &Value, output: &Value) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{what}: {input} -> {output}"));
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            let scrubbed: Vec<String> = i.keys().map(|k| scrub(k)).collect();
            let mut distinct = scrubbed.clone();
            distinct.sort();
            distinct.dedup();
            if distinct.len() != o.len() {
                return fail("key count");
            }
            for ((k, v), sk) in i.iter().zip(&scrubbed) {
                let Some(ov) = o.get(sk) else {
                    return fail("missing key");
                };
                let unique = scrubbed.iter().filter(|s| *s == sk).count() == 1;
                if keys.is_sensitive(k) || keys.is_sensitive(sk) {
                    // Two keys scrubbed to the same marker leave duplicate keys, of which
                    // serde_json keeps the last: only a unique key can be checked here.
                    if unique && (!is_redacted(ov) || (v.is_null() && !ov.is_null())) {
                        return fail("value under a sensitive key survived");
                    }
                } else if unique {
                    check_structure(keys, v, ov)?;
                }
            }
            Ok(())
        }
        (Value::Array(i), Value::Array(o)) if i.len() == o.len() => i
            .iter()
            .zip(o)
            .try_for_each(|(i, o)| check_structure(keys, i, o)),
        (Value::String(i), Value::String(o)) if scrub(i) == *o => Ok(()),
        (Value::Number(n), o) => {
            let text = n.to_string();
            let scrubbed = scrub(&text);
            let expected = if scrubbed == text {
                input.clone()
            } else {
                Value::String(scrubbed)
            };
            if *o == expected {
                Ok(())
            } else {
                fail("number")
            }
        }
        (Value::Bool(_) | Value::Null, o) if o == input => Ok(()),
        _ => fail("mismatch"),
    }
}

fn method_strategy() -> impl Strategy<Value = Method> {
    prop::sample::select(&[Method::Mask, Method::Hash, Method::Remove][..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn valid_json_stays_valid_with_the_same_structure(
        value in arb_json(),
        pretty in any::<bool>(),
        method in method_strategy(),
    ) {
        let body = if pretty {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            serde_json::to_string(&value).unwrap()
        };
        let (out, shape, _) = redact_with(&TestScrub, method, &body);
        prop_assert_eq!(shape, BodyShape::Json);
        let parsed: Value = serde_json::from_str(&out)
            .map_err(|e| TestCaseError::fail(format!("{e}: {body} -> {out}")))?;
        let keys = SensitiveKeys::default();
        check_structure(&keys, &value, &parsed).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn escapes_do_not_hide_values(value in arb_json()) {
        // `@` only occurs inside strings, so escaping every one keeps the JSON equal.
        let body = serde_json::to_string(&value).unwrap();
        let escaped = body.replace('@', "\\u0040");
        let (plain, _, _) = redact(&body);
        let (from_escaped, shape, _) = redact(&escaped);
        prop_assert_eq!(shape, BodyShape::Json);
        prop_assert_eq!(parse(&plain), parse(&from_escaped));
    }

    #[test]
    fn ndjson_lines_are_redacted_each(values in prop::collection::vec(arb_json(), 1..5)) {
        let body: String = values
            .iter()
            .map(|v| serde_json::to_string(v).unwrap() + "\n")
            .collect();
        let (out, shape, _) = redact(&body);
        prop_assert_eq!(shape, BodyShape::Json);
        let keys = SensitiveKeys::default();
        let lines: Vec<&str> = out.lines().collect();
        prop_assert_eq!(lines.len(), values.len());
        for (line, value) in lines.iter().zip(&values) {
            check_structure(&keys, value, &parse(line)).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn truncated_json_never_shows_the_secret(
        value in arb_json(),
        cut in any::<prop::sample::Index>(),
        method in method_strategy(),
    ) {
        let secret = "Zq9#canary#Zq9";
        let body = format!(
            r#"{{"password": "{secret}", "data": {}}}"#,
            serde_json::to_string(&value).unwrap()
        );
        let mut at = cut.index(body.len() + 1);
        while !body.is_char_boundary(at) {
            at -= 1;
        }
        let (out, _, _) = redact_with(&TestScrub, method, &body[..at]);
        prop_assert!(!out.contains("Zq9#"), "{} -> {}", &body[..at], out);
    }

    #[test]
    fn any_text_is_handled(body in any::<String>(), method in method_strategy()) {
        redact_with(&TestScrub, method, &body);
    }

    #[test]
    fn json_like_text_is_handled(
        body in "[ \\[\\]{}\":,a@0-9\\\\ufnt.e-]{0,40}",
        method in method_strategy(),
    ) {
        let (out, shape, _) = redact_with(&TestScrub, method, &body);
        if serde_json::from_str::<Value>(&body).is_ok() {
            prop_assert_eq!(shape, BodyShape::Json);
            prop_assert!(serde_json::from_str::<Value>(&out).is_ok(), "{} -> {}", body, out);
        }
    }
}

// ---- Fuzz regressions ----

/// The checks of the fuzz target `json_body` (fuzz/fuzz_targets/json_body.rs), whose input
/// layout this follows: byte 0 picks the method and the body template.
fn fuzz_case(data: &[u8]) -> Result<(), String> {
    let [flags, rest @ ..] = data else {
        return Ok(());
    };
    let rest = String::from_utf8_lossy(rest);
    let template = (flags >> 2) & 3;
    let body = match template {
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
    if once != twice {
        return Err(format!("not idempotent: {body:?} -> {once:?} -> {twice:?}"));
    }
    let secret = "hunter2-canary";
    if matches!(template, 1 | 2) && once.matches(secret).count() > rest.matches(secret).count() {
        return Err(format!("secret survived: {body:?} -> {once:?}"));
    }
    if serde_json::from_str::<Value>(&body).is_ok()
        && (shape != BodyShape::Json || serde_json::from_str::<Value>(&once).is_err())
    {
        return Err(format!("valid JSON in, not out: {body:?} -> {once:?}"));
    }
    Ok(())
}

#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut replayed = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("json_body-"))
        {
            continue;
        }
        replayed += 1;
        let data = std::fs::read(&path).expect("readable");
        if let Err(e) = fuzz_case(&data) {
            failures.push(format!("{}: {e}", path.display()));
        }
    }
    assert!(
        replayed > 0,
        "no json_body regressions in {}",
        dir.display()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
