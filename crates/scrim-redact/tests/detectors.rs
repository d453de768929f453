//! The free-text detectors' output contract (see `scrim_redact::detect`): positives and
//! look-alike negatives per detector, the overlap rule, idempotence, no panics, linear
//! behaviour on hostile input, and planted secrets that must never survive.

use std::borrow::Cow;

use proptest::prelude::*;
use scrim_redact::TextScrubber;
use scrim_redact::detect::{DetectorSet, Finding, Scanner, TextRedactor};
use scrim_redact::keys::SensitiveKeys;
use scrim_redact::kind::{Counts, Kind};
use scrim_redact::method::{Method, Methods, Pseudonymizer};

fn scanner() -> &'static Scanner {
    static S: std::sync::OnceLock<Scanner> = std::sync::OnceLock::new();
    S.get_or_init(Scanner::default)
}

/// `(kind, text)` of every finding.
fn found(text: &str) -> Vec<(Kind, &str)> {
    scanner()
        .find_all(text)
        .into_iter()
        .map(|f| (f.kind, &text[f.start..f.end]))
        .collect()
}

fn assert_one(text: &str, kind: Kind, value: &str) {
    assert_eq!(found(text), [(kind, value)], "in {text:?}");
}

fn assert_none(text: &str) {
    assert_eq!(found(text), [], "in {text:?}");
}

fn mask(text: &str) -> String {
    static R: std::sync::OnceLock<TextRedactor> = std::sync::OnceLock::new();
    let mut c = Counts::default();
    R.get_or_init(TextRedactor::default)
        .scrub(text, &mut c)
        .into_owned()
}

fn hash_redactor() -> &'static TextRedactor {
    static R: std::sync::OnceLock<TextRedactor> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        TextRedactor::new(
            Scanner::default(),
            Methods::all(Method::Hash),
            Some(Pseudonymizer::new(b"k")),
        )
    })
}

#[test]
fn cards() {
    for (text, value) in [
        ("card 4111 1111 1111 1111 charged", "4111 1111 1111 1111"),
        ("pan=5500-0000-0000-0004;", "5500-0000-0000-0004"),
        ("amex 378282246310005.", "378282246310005"),
        ("amex 3782 822463 10005", "3782 822463 10005"),
        ("visa13 4222222222222 ok", "4222222222222"),
        ("mc2 2223000048400011", "2223000048400011"),
        ("disc 6011111111111117", "6011111111111117"),
        ("jcb 3530111333300000", "3530111333300000"),
        ("diners 30569309025904", "30569309025904"),
        ("(4111111111111111)", "4111111111111111"),
        ("card:4111111111111111", "4111111111111111"),
        ("\"4111111111111111\"", "4111111111111111"),
        ("qty 12 4111 1111 1111 1111 ok", "4111 1111 1111 1111"),
    ] {
        assert_one(text, Kind::Card, value);
    }
    for text in [
        "id 1234567812345678 fails Luhn",
        "ts=1732406400000",
        "order 4111111111111112",
        "call +1 555 123 4567",
        "call +44 20 7946 0958",
        "trace a4111111111111111b",
        "x41111111111111111",
        "4111111111111111111111",
        "4111 1111-1111 1111",
        "4111  1111 1111 1111",
        "0.4111111111111111",
        "41111111111.11111",
        "2024-11-24 08:52:44.123",
        "4111-1111-1111-1111-7",
        "9111111111111111",
    ] {
        assert_none(text);
    }
}

#[test]
fn ssns() {
    assert_one("ssn 123-45-6789 on file", Kind::Ssn, "123-45-6789");
    assert_one("(078-05-1120)", Kind::Ssn, "078-05-1120");
    // After an `ssn` key, other spellings are SSNs too.
    assert_one("ssn=123456789", Kind::Ssn, "123456789");
    assert_one("\"ssn\": \"123 45 6789\"", Kind::Ssn, "123 45 6789");
    for text in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123 45 6789",
        "123456789",
        "1123-45-6789",
        "123-45-67890",
        "a123-45-6789",
        "2024-11-24",
    ] {
        assert_none(text);
    }
    // An `ssn` key with an invalid value is still a secret, not an SSN.
    assert_one("ssn=000-12-3456", Kind::Secret, "000-12-3456");
}

#[test]
fn ibans() {
    assert_one(
        "iban DE89370400440532013000 ok",
        Kind::Iban,
        "DE89370400440532013000",
    );
    assert_one(
        "to DE89 3704 0044 0532 0130 00.",
        Kind::Iban,
        "DE89 3704 0044 0532 0130 00",
    );
    assert_one(
        "GB82WEST12345698765432",
        Kind::Iban,
        "GB82WEST12345698765432",
    );
    assert_one(
        "FR1420041010050500013M02606",
        Kind::Iban,
        "FR1420041010050500013M02606",
    );
    assert_one("NO9386011117947", Kind::Iban, "NO9386011117947");
    for text in [
        "DE88370400440532013000",
        "DE8937040044053201300",
        "DE893704004405320130001",
        "XX89370400440532013000",
        "de89370400440532013000",
        "ADE89370400440532013000",
        "DE89 37040044 0532013000",
    ] {
        assert_none(text);
    }
}

#[test]
fn emails() {
    assert_one("from alice@example.com:", Kind::Email, "alice@example.com");
    assert_one("<bob.o'x@x.io>", Kind::Email, "x@x.io");
    assert_one(
        "mailto:first.last+tag@sub.example.co.uk",
        Kind::Email,
        "first.last+tag@sub.example.co.uk",
    );
    assert_one(
        "user=\"j_doe@corp-mail.example\"",
        Kind::Email,
        "j_doe@corp-mail.example",
    );
    for text in [
        "user@localhost",
        "root@10.0.0.1",
        "icon@2x.png",
        "@example.com",
        "trailing@",
        "a@b",
        "x@y.c",
        "a@example.123",
    ] {
        let f = found(text);
        assert!(f.iter().all(|(k, _)| *k != Kind::Email), "{text:?}: {f:?}");
    }
}

#[test]
fn ip_addresses() {
    assert_one("client 192.168.1.20 connected", Kind::Ipv4, "192.168.1.20");
    assert_one("peer=10.0.0.1:8080", Kind::Ipv4, "10.0.0.1");
    assert_one("range 10.0.0.1-", Kind::Ipv4, "10.0.0.1");
    for text in [
        "v1.2.3.4",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3",
        "010.1.1.1",
        "version=2.10.3",
    ] {
        assert_none(text);
    }
    for (text, value) in [
        ("from 2001:db8::8a2e:370:7334 ok", "2001:db8::8a2e:370:7334"),
        ("[fe80::1ff:fe23:4567:890a]:443", "fe80::1ff:fe23:4567:890a"),
        (
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        ),
        ("src ::ffff:192.0.2.128 x", "::ffff:192.0.2.128"),
    ] {
        assert_one(text, Kind::Ipv6, value);
    }
    for text in [
        "at 12:30:45",
        "mac ab:cd:ef:01:23:45",
        "std::io::Error",
        "a::b",
        "localhost ::1",
        "1::2::3",
        "2024-11-24T08:52:44.123Z",
        "Foo::bar::baz",
    ] {
        assert_none(text);
    }
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

#[test]
fn tokens_and_keys() {
    assert_one(&format!("jwt {JWT} end"), Kind::Jwt, JWT);
    assert_one(&format!("Authorization: Bearer {JWT}"), Kind::Jwt, JWT);
    assert_one(
        "Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543",
        Kind::BearerToken,
        "8f14e45fceea167a5a36dedd4bea2543",
    );
    assert_one(
        "authorization: basic dXNlcjpwYXNzd29yZA==",
        Kind::BearerToken,
        "dXNlcjpwYXNzd29yZA==",
    );
    assert_one(
        "key AKIAIOSFODNN7EXAMPLE used",
        Kind::AwsAccessKey,
        "AKIAIOSFODNN7EXAMPLE",
    );
    assert_one(
        "ASIAY34FZKBOKMUTVV7A",
        Kind::AwsAccessKey,
        "ASIAY34FZKBOKMUTVV7A",
    );
    assert_one(
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        Kind::AwsSecretKey,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let gh = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
    assert_one(&format!("token {gh}"), Kind::GithubToken, gh);
    let pat = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";
    assert_one(pat, Kind::GithubToken, pat);
    assert_one(
        "xoxb-2400000000-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        Kind::SlackToken,
        "xoxb-2400000000-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    );
    assert_one(
        "POST https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX 200",
        Kind::SlackToken,
        "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    );
    assert_one(
        "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        Kind::StripeKey,
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    );
    assert_one(
        "rk_test_51H8abcdefGHIJKLmnop",
        Kind::StripeKey,
        "rk_test_51H8abcdefGHIJKLmnop",
    );
    assert_one(
        "key=AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe&x",
        Kind::GoogleApiKey,
        "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
    );
    for text in [
        "AKIAIOSFODNN7EXAMPL",
        "AKIAIOSFODNN7EXAMPLE1",
        "xAKIAIOSFODNN7EXAMPLE",
        "ghp_short",
        "eyJub3QiOiJqd3QifQ.eyJ4IjoxfQ.c2ln",
        "eyJhbGciOiJub25lIn0",
        "Bearer authentication is required",
        "Basic authentication",
        "sk_live_short",
        "AIzaTooShort",
        "xoxb-short",
    ] {
        assert_none(text);
    }
    // Not an AWS secret (not 40 characters), but still under a sensitive key.
    assert_one("aws_secret_access_key=tooshort", Kind::Secret, "tooshort");
}

#[test]
fn private_keys() {
    let block =
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabcd\n-----END RSA PRIVATE KEY-----";
    assert_one(&format!("key:\n{block}\nnext"), Kind::PrivateKey, block);
    let open = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA";
    assert_one(&format!("x {open}"), Kind::PrivateKey, open);
    // A mismatched END does not close the block.
    let t = "-----BEGIN EC PRIVATE KEY-----\nAA\n-----END RSA PRIVATE KEY-----\nrest";
    assert_one(t, Kind::PrivateKey, t);
    assert_none("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
    assert_none("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----");
}

#[test]
fn url_credentials() {
    assert_one(
        "GET https://alice:s3cr3t@example.com/x",
        Kind::UrlCredentials,
        "alice:s3cr3t",
    );
    assert_one(
        "postgres://app:p@ss@db:5432/x",
        Kind::UrlCredentials,
        "app:p@ss",
    );
    assert_one(
        "git clone https://ghtoken123@github.com/o/r",
        Kind::UrlCredentials,
        "ghtoken123",
    );
    assert_none("https://example.com/users/alice");
    assert_none("https://example.com/?a=b@c");
    assert_none("://user:pw@host");
}

#[test]
fn assignments() {
    assert_one("login password=hunter2 ok", Kind::Secret, "hunter2");
    assert_one("pwd: x", Kind::Secret, "x");
    assert_one(
        "{\"secret\": \"s3 cr\\\"et\", \"n\": 1}",
        Kind::Secret,
        "s3 cr\\\"et",
    );
    assert_one("api_key='k-123'", Kind::Secret, "k-123");
    assert_one("?token=abc&next=1", Kind::Secret, "abc");
    assert_one("X-Api-Key: 0123abcd", Kind::Secret, "0123abcd");
    assert_one("db.password => \"x\"", Kind::Secret, "x");
    assert_one("cfg.clientSecret := 'y'", Kind::Secret, "y");
    assert_one(
        "Cookie: session=abc123; theme=dark",
        Kind::Secret,
        "session=abc123",
    );
    assert_one(
        "password=\"open quote\nnext line",
        Kind::Secret,
        "open quote",
    );
    // The scheme word stays; only the credential is a secret.
    assert_one("Authorization: Token 0a1b2c", Kind::Secret, "0a1b2c");
    for text in [
        "tokenizer=bpe",
        "cardinality=12",
        "passenger: bob",
        "password=",
        "password = ",
        "password == other",
        "password != other",
        "password={",
        "https://example.com",
        "user_id=42",
        "status: ok",
    ] {
        assert_none(text);
    }
    // Custom keys replace the list.
    let custom = Scanner::new(&DetectorSet::all(), &SensitiveKeys::new(["dob"]));
    assert_eq!(custom.find_all("dob=1990-01-01 password=x").len(), 1);
}

#[test]
fn detector_sets_switch_kinds_off() {
    let only_email = Scanner::new(
        &DetectorSet::none().with(Kind::Email),
        &SensitiveKeys::default(),
    );
    let t = "alice@example.com 4111111111111111 10.0.0.1 password=x";
    let f = only_email.find_all(t);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, Kind::Email);
    let none = Scanner::new(&DetectorSet::none(), &SensitiveKeys::default());
    assert!(none.find_all(t).is_empty());
    let no_ip = Scanner::new(
        &DetectorSet::all().without(Kind::Ipv4),
        &SensitiveKeys::default(),
    );
    assert_eq!(no_ip.find_all(t).len(), 3);
}

#[test]
fn overlaps_merge_into_one_finding() {
    // Same range: the more specific kind.
    assert_one("password=4111111111111111", Kind::Card, "4111111111111111");
    assert_one(&format!("token={JWT}"), Kind::Jwt, JWT);
    // Nested: the longer one, over the whole quoted value.
    assert_one(
        "\"password\": \"4111111111111111 and more\"",
        Kind::Secret,
        "4111111111111111 and more",
    );
    // Partial overlap: the union, with the kind of the longer candidate.
    let f = found("secret=abc@example.com;");
    assert_eq!(f, [(Kind::Email, "abc@example.com")]);
}

#[test]
fn findings_are_sorted_disjoint_and_on_char_boundaries() {
    let t = "é alice@example.com ü 4111 1111 1111 1111 ñ 10.0.0.1 password=ß€ 中文 token=中文";
    let mut out = vec![Finding {
        kind: Kind::Card,
        start: 0,
        end: 0,
    }];
    scanner().find(t, &mut out);
    assert_eq!(out[0].end, 0, "findings already in `out` are kept");
    let f = &out[1..];
    assert_eq!(f.len(), 5, "{f:?}");
    for w in f.windows(2) {
        assert!(w[0].end <= w[1].start);
    }
    for x in f {
        assert!(t.is_char_boundary(x.start) && t.is_char_boundary(x.end));
    }
    assert_eq!(&t[f[3].start..f[3].end], "ß€");
}

#[test]
fn scrub_replaces_counts_and_borrows_when_clean() {
    let mut methods = Methods::default();
    methods
        .set(Kind::Email, Method::Hash)
        .set(Kind::Ipv4, Method::Keep)
        .set(Kind::Card, Method::Remove);
    let p = Pseudonymizer::new(b"tenant key");
    let r = TextRedactor::new(Scanner::default(), methods, Some(p.clone()));
    let mut c = Counts::default();
    let t = "u alice@example.com from 10.0.0.1 paid 4111111111111111 password=x";
    let out = r.scrub(t, &mut c);
    assert_eq!(
        out,
        format!(
            "u {} from 10.0.0.1 paid  password=[REDACTED:secret]",
            p.pseudonym(Kind::Email, "alice@example.com")
        )
    );
    assert_eq!(c.get(Kind::Email), 1);
    assert_eq!(c.get(Kind::Card), 1);
    assert_eq!(c.get(Kind::Secret), 1);
    assert_eq!(c.get(Kind::Ipv4), 0, "kept values are not counted");
    let mut c = Counts::default();
    assert!(matches!(
        r.scrub("GET /orders/83412 200 12ms", &mut c),
        Cow::Borrowed(_)
    ));
    assert!(matches!(r.scrub("from 10.0.0.1", &mut c), Cow::Borrowed(_)));
    assert_eq!(c.total(), 0);
    assert_eq!(mask("mail bob@example.org"), "mail [REDACTED:email]");
}

#[test]
fn redacted_text_is_not_redacted_again() {
    let t = format!(
        "alice@example.com 4111 1111 1111 1111 password=\"x y\" Bearer abcdef123456 {JWT} \
         https://u:p@h.example/ 2001:db8::1234 10.0.0.1 AKIAIOSFODNN7EXAMPLE ssn 123-45-6789"
    );
    let once = mask(&t);
    assert_eq!(mask(&once), once);
    assert!(found(&once).is_empty(), "{once}");
    let r = TextRedactor::new(
        Scanner::default(),
        Methods::all(Method::Hash),
        Some(Pseudonymizer::new(b"k")),
    );
    let mut c = Counts::default();
    let once = r.scrub(&t, &mut c).into_owned();
    let mut c2 = Counts::default();
    assert_eq!(r.scrub(&once, &mut c2), once);
    assert_eq!(c2.total(), 0);
}

#[test]
fn hostile_inputs_stay_correct() {
    // Linear-time inputs: each must finish (the test asserts correctness only).
    let mb = 1 << 20;
    let digits: String = "4111111111111111".repeat(mb / 16);
    assert!(found(&digits).is_empty());
    let spaced: String = "4111 ".repeat(mb / 5);
    let _ = found(&spaced);
    assert!(found(&"@".repeat(mb)).is_empty());
    assert!(found(&"a@".repeat(mb / 2)).is_empty());
    assert!(found(&"a=".repeat(mb / 2)).is_empty());
    assert!(found(&":".repeat(mb)).is_empty());
    assert!(found(&"1.".repeat(mb / 2)).is_empty());
    assert!(found(&"eyJ".repeat(mb / 3)).is_empty());
    assert!(found(&"eyJ.".repeat(mb / 4)).is_empty());
    assert!(found(&"://".repeat(mb / 3)).is_empty());
    assert_eq!(found(&"password=".repeat(mb / 9)).len(), 1);
    let pem = "-----BEGIN PRIVATE KEY-----\n".repeat(mb / 28);
    assert_eq!(found(&pem).len(), 1);
    let _ = found(&"Bearer ".repeat(mb / 7));
    let _ = found(&"a:b:".repeat(mb / 4));
    let _ = found(&"ab:".repeat(mb / 3));
    let _ = found(&"password=\"".repeat(mb / 10));
    let _ = found(&"DE89 ".repeat(mb / 5));
    let _ = found(&"x.y@".repeat(mb / 4));
    let _ = found(&"https://a@".repeat(mb / 10));
}

#[test]
fn concatenated_fragments_never_panic_and_stay_idempotent() {
    // Fragments of every detector's syntax; their concatenations put findings next to
    // each other, where a replacement changes a neighbour's context. (A release-mode run
    // of 40 million such texts found the gluing cases the module documentation covers.)
    let pieces = [
        "é",
        "中",
        "🦀",
        "password=",
        "pwd: ",
        ":",
        "=",
        "@",
        ".",
        "4111",
        "1111 ",
        " ",
        "-",
        "\"",
        "'",
        "eyJ",
        "Bearer ",
        "Basic ",
        "://",
        "::",
        "1.",
        "0",
        "DE89",
        "[REDACTED:",
        "]",
        "[",
        "\\",
        "\n",
        "a",
        "x.com",
        "AKIA",
        "ffff",
        "123-45-",
        "6789",
        "ghp_",
        "token",
        "&",
        ";",
        ",",
        "{",
        "AAAAAAAAAAAAAAAA",
        "dXNlcjpwYXNz",
        "-----BEGIN PRIVATE KEY-----",
        "secret",
        "email",
        "card:",
        "ssn=",
        "2001:db8",
        "10.0.0.1",
        "user@",
        "sk_live_",
        "xoxb-",
        "AIza",
        "hooks.slack.com/services/",
    ];
    let mut seed = 7u64;
    for _ in 0..20_000 {
        let mut s = String::new();
        for _ in 0..2 + seed % 14 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        let once = mask(&s);
        assert_eq!(mask(&once), once, "{s:?}");
        let mut c = Counts::default();
        let hashed = hash_redactor().scrub(&s, &mut c).into_owned();
        assert_eq!(hash_redactor().scrub(&hashed, &mut c), hashed, "{s:?}");
    }
}

/// Every kind, planted; `value` is what must not survive.
fn planted() -> Vec<(Kind, String, String)> {
    let v = |k, line: &str, value: &str| (k, line.to_string(), value.to_string());
    vec![
        v(
            Kind::Card,
            "card 4111 1111 1111 1111 ok",
            "4111 1111 1111 1111",
        ),
        v(Kind::Ssn, "ssn 123-45-6789 ok", "123-45-6789"),
        v(
            Kind::Iban,
            "iban DE89370400440532013000 ok",
            "DE89370400440532013000",
        ),
        v(
            Kind::Email,
            "mail alice@example.com ok",
            "alice@example.com",
        ),
        v(Kind::Ipv4, "from 192.168.10.20 ok", "192.168.10.20"),
        v(
            Kind::Ipv6,
            "from 2001:db8::8a2e:370:7334 ok",
            "2001:db8::8a2e:370:7334",
        ),
        v(Kind::Jwt, &format!("jwt {JWT} ok"), JWT),
        v(
            Kind::BearerToken,
            "Authorization: Bearer 0123456789abcdef ok",
            "0123456789abcdef",
        ),
        v(
            Kind::AwsAccessKey,
            "key AKIAIOSFODNN7EXAMPLE ok",
            "AKIAIOSFODNN7EXAMPLE",
        ),
        v(
            Kind::AwsSecretKey,
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ok",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        v(
            Kind::GithubToken,
            "gh ghp_16C7e42F292c6912E7710c838347Ae178B4a ok",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        ),
        v(
            Kind::SlackToken,
            "slack xoxb-2400000000-1234567890 ok",
            "xoxb-2400000000-1234567890",
        ),
        v(
            Kind::StripeKey,
            "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc ok",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ),
        v(
            Kind::GoogleApiKey,
            "g AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe ok",
            "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
        ),
        v(
            Kind::PrivateKey,
            "k\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\nok",
            "MIIEvQIBADANBg",
        ),
        v(
            Kind::UrlCredentials,
            "db postgres://app:Sup3rS3cret@db.internal/x ok",
            "Sup3rS3cret",
        ),
        v(
            Kind::Secret,
            "login password=Hunter2Hunter2 ok",
            "Hunter2Hunter2",
        ),
    ]
}

#[test]
fn every_planted_kind_is_found_as_itself() {
    for (kind, line, value) in planted() {
        let f = found(&line);
        assert!(
            f.iter().any(|(k, v)| *k == kind && v.contains(&value)),
            "{kind}: {line:?} → {f:?}"
        );
    }
}

/// Surrounding text: any characters, but a separator on each side of the planted value
/// (a value glued to other letters is, by the rules, not that value).
fn surrounding() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,:;=_/@é中-]{0,40}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn scrubbing_is_idempotent(text in "\\PC{0,200}") {
        let once = mask(&text);
        prop_assert_eq!(mask(&once), once.clone());
        let r = hash_redactor();
        let mut c = Counts::default();
        let h1 = r.scrub(&text, &mut c).into_owned();
        let h2 = r.scrub(&h1, &mut c).into_owned();
        prop_assert_eq!(h2, h1);
    }

    #[test]
    fn idempotent_on_log_like_text(text in "[a-z0-9A-Z .:=@/\"'_-]{0,120}") {
        let once = mask(&text);
        prop_assert_eq!(mask(&once), once);
    }

    #[test]
    fn planted_secrets_never_survive(before in surrounding(), after in surrounding(), i in 0usize..17) {
        let (kind, line, value) = planted().swap_remove(i);
        let text = format!("{before}\n{line}\n{after}");
        let out = mask(&text);
        prop_assert!(!out.contains(&value), "{} survived: {:?} → {:?}", kind, text, out);
    }
}
