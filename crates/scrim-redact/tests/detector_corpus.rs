//! A labelled corpus, generated here (deterministic, fixed seed): for every kind, `N`
//! valid values embedded in realistic log lines, and `N` look-alikes of that kind that must
//! not be found. Prints recall and false positives per kind:
//!
//! `cargo test -p scrim-redact --test detector_corpus -- --nocapture`
//!
//! and asserts 100% recall on the positives and no finding at all on the negatives.

use scrim_redact::detect::Scanner;
use scrim_redact::kind::Kind;

const N: usize = 300;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn pick<'a, T: ?Sized>(&mut self, xs: &[&'a T]) -> &'a T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(alphabet[self.below(alphabet.len() as u64) as usize]))
            .collect()
    }
    fn chars_var(&mut self, alphabet: &[u8], base: usize, extra: u64) -> String {
        let n = base + self.below(extra) as usize;
        self.chars(alphabet, n)
    }
    fn digits(&mut self, n: usize) -> String {
        self.chars(b"0123456789", n)
    }
    fn coin(&mut self) -> bool {
        self.below(2) == 0
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";

fn luhn_sum(digits: &[u8]) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let v = u32::from(d - b'0');
            if i % 2 == 1 {
                if v * 2 > 9 { v * 2 - 9 } else { v * 2 }
            } else {
                v
            }
        })
        .sum()
}

/// `prefix` + random digits + a Luhn check digit, `len` digits in all.
fn luhn_number(r: &mut Rng, prefix: &str, len: usize) -> String {
    let mut s = prefix.to_string() + &r.digits(len - prefix.len() - 1);
    s.push('0');
    let sum = luhn_sum(s.as_bytes());
    s.pop();
    s.push(char::from(b'0' + ((10 - sum % 10) % 10) as u8));
    s
}

fn group(s: &str, sizes: &[usize], sep: char) -> String {
    let mut out = String::new();
    let mut p = 0;
    for (i, &n) in sizes.iter().enumerate() {
        if i > 0 {
            out.push(sep);
        }
        out.push_str(&s[p..p + n]);
        p += n;
    }
    out
}

fn card(r: &mut Rng) -> String {
    let (prefix, len): (&str, usize) = *r.pick(&[
        &("4", 16),
        &("4", 13),
        &("51", 16),
        &("55", 16),
        &("2221", 16),
        &("2720", 16),
        &("34", 15),
        &("37", 15),
        &("6011", 16),
        &("65", 16),
        &("3530", 16),
        &("36", 14),
        &("62", 16),
        &("6304", 18),
    ]);
    let n = luhn_number(r, prefix, len);
    match (len, r.below(3)) {
        (16, 0) => group(&n, &[4, 4, 4, 4], ' '),
        (16, 1) => group(&n, &[4, 4, 4, 4], '-'),
        (15, 0) => group(&n, &[4, 6, 5], ' '),
        _ => n,
    }
}

fn mod97(s: &str) -> u32 {
    let mut r = 0u32;
    for c in s.bytes() {
        r = if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    r
}

const IBAN_COUNTRIES: &[&(&str, usize)] = &[
    &("DE", 22),
    &("FR", 27),
    &("GB", 22),
    &("NL", 18),
    &("ES", 24),
    &("IT", 27),
    &("BE", 16),
    &("CH", 21),
    &("NO", 15),
    &("PL", 28),
    &("SE", 24),
    &("AT", 20),
];

/// A valid IBAN: a BBAN (bank letters for GB/NL, digits otherwise), check digits.
fn iban(r: &mut Rng, valid: bool) -> String {
    let &(cc, len) = r.pick(IBAN_COUNTRIES);
    let bban = match cc {
        "GB" | "NL" => r.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4) + &r.digits(len - 8),
        _ => r.digits(len - 4),
    };
    let mut check = 98 - mod97(&format!("{bban}{cc}00"));
    if !valid {
        check = (check + 1 + r.below(90) as u32) % 97 + 2;
        if mod97(&format!("{bban}{cc}{check:02}")) == 1 {
            check = if check == 2 { 3 } else { check - 1 };
        }
    }
    let s = format!("{cc}{check:02}{bban}");
    if r.coin() {
        s.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s
    }
}

fn ssn(r: &mut Rng) -> String {
    let mut area = r.range(1, 899);
    if area == 666 {
        area = 667;
    }
    format!("{area:03}-{:02}-{:04}", r.range(1, 99), r.range(1, 9999))
}

fn email(r: &mut Rng) -> String {
    let local = match r.below(3) {
        0 => r.chars(LOWER, 6),
        1 => format!("{}.{}", r.chars(LOWER, 5), r.chars(LOWER, 7)),
        _ => format!(
            "{}+{}{}",
            r.chars(LOWER, 4),
            r.chars(LOWER, 3),
            r.below(100)
        ),
    };
    let tld = r.pick(&["com", "org", "io", "co.uk", "de", "example"]);
    format!("{local}@{}.{tld}", r.chars_var(LOWER, 3, 8))
}

fn ipv4(r: &mut Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        r.range(1, 255),
        r.below(256),
        r.below(256),
        r.range(1, 254)
    )
}

fn ipv6(r: &mut Rng) -> String {
    let first = r
        .pick(&["2001", "fe80", "2a00", "fd12", "2607"])
        .to_string();
    let mut groups: Vec<String> = vec![first];
    for _ in 0..7 {
        groups.push(format!("{:x}", r.below(0x10000)));
    }
    match r.below(3) {
        0 => groups.join(":"),
        1 => format!("{}::{}", groups[..2].join(":"), groups[5..].join(":")),
        _ => format!("::ffff:{}", ipv4(r)),
    }
}

fn b64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(B64URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn jwt(r: &mut Rng) -> String {
    let header = match r.below(3) {
        0 => r#"{"alg":"HS256","typ":"JWT"}"#.to_string(),
        1 => format!(r#"{{"kid":"{}","alg":"RS256"}}"#, r.chars(ALNUM, 12)),
        _ => r#"{"typ":"JWT","alg":"ES256"}"#.to_string(),
    };
    let payload = format!(
        r#"{{"sub":"{}","iat":{}}}"#,
        r.digits(8),
        1_700_000_000 + r.below(1_000_000)
    );
    format!(
        "{}.{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes()),
        r.chars(B64URL, 43)
    )
}

/// `(kind, line, value)`: a valid value of `kind` in a log line.
fn positive(r: &mut Rng, kind: Kind) -> (String, String) {
    let (ctx, value, tail): (String, String, &str) = match kind {
        Kind::Card => (
            r.pick(&["paid with card ", "pan=", "cc: ", "charging "])
                .into(),
            card(r),
            " amount=12.50",
        ),
        Kind::Ssn => (
            r.pick(&["ssn ", "applicant ", "id "]).into(),
            ssn(r),
            " verified",
        ),
        Kind::Iban => (
            r.pick(&["iban=", "transfer to ", "account "]).into(),
            iban(r, true),
            " ok",
        ),
        Kind::Email => (
            r.pick(&["user ", "email=", "to=<", "notify "]).into(),
            email(r),
            ">",
        ),
        Kind::Ipv4 => (
            r.pick(&["client_ip=", "from ", "peer "]).into(),
            ipv4(r),
            ":443",
        ),
        Kind::Ipv6 => (
            r.pick(&["client_ip=", "from [", "peer "]).into(),
            ipv6(r),
            "]",
        ),
        Kind::Jwt => (
            r.pick(&["token=", "Authorization: Bearer ", "id_token "])
                .into(),
            jwt(r),
            " exp",
        ),
        Kind::BearerToken => ("Authorization: Bearer ".into(), r.chars_var(HEX, 32, 9), ""),
        Kind::AwsAccessKey => (
            r.pick(&["access key ", "AWS_ACCESS_KEY_ID=", "key="])
                .into(),
            format!("{}{}", r.pick(&["AKIA", "ASIA"]), r.chars(UPPER_ALNUM, 16)),
            " region=eu-west-1",
        ),
        Kind::AwsSecretKey => (
            format!(
                "{}{}",
                r.pick(&[
                    "aws_secret_access_key",
                    "AWS_SECRET_ACCESS_KEY",
                    "secretAccessKey",
                    "aws.secret"
                ]),
                r.pick(&["=", " = ", ": "])
            ),
            r.chars(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+",
                40,
            ),
            "",
        ),
        Kind::GithubToken => (
            "github token ".into(),
            if r.coin() {
                format!(
                    "{}{}",
                    r.pick(&["ghp_", "gho_", "ghs_"]),
                    r.chars(ALNUM, 36)
                )
            } else {
                format!("github_pat_{}_{}", r.chars(ALNUM, 22), r.chars(ALNUM, 59))
            },
            " used",
        ),
        Kind::SlackToken => (
            "slack ".into(),
            format!(
                "xoxb-{}-{}-{}",
                r.digits(11),
                r.digits(13),
                r.chars(ALNUM, 24)
            ),
            "",
        ),
        Kind::StripeKey => (
            "stripe key ".into(),
            format!(
                "{}{}",
                r.pick(&["sk_live_", "rk_live_", "sk_test_"]),
                r.chars(ALNUM, 24)
            ),
            "",
        ),
        Kind::GoogleApiKey => (
            "maps?key=".into(),
            format!("AIza{}", r.chars(B64URL, 35)),
            "&v=3",
        ),
        Kind::PrivateKey => {
            let label = r.pick(&[
                "RSA PRIVATE KEY",
                "PRIVATE KEY",
                "EC PRIVATE KEY",
                "OPENSSH PRIVATE KEY",
            ]);
            let body: Vec<String> = (0..3).map(|_| r.chars(ALNUM, 64)).collect();
            (
                "loaded key\n".into(),
                format!(
                    "-----BEGIN {label}-----\n{}\n-----END {label}-----",
                    body.join("\n")
                ),
                "\ndone",
            )
        }
        Kind::UrlCredentials => (
            format!("{}://", r.pick(&["https", "postgres", "redis", "amqp"])),
            format!("{}:{}", r.chars(LOWER, 5), r.chars(ALNUM, 12)),
            "@db.internal:5432/app",
        ),
        Kind::Secret => {
            let key = r.pick(&[
                "password",
                "passwd",
                "api_key",
                "X-Api-Key",
                "client_secret",
                "access_token",
                "refreshToken",
                "db.password",
            ]);
            let v = r.chars_var(ALNUM, 10, 10);
            match r.below(3) {
                0 => (format!("{key}="), v, " next=1"),
                1 => (format!("\"{key}\": \""), v, "\", \"n\": 1"),
                _ => (format!("{key}: "), v, ""),
            }
        }
        _ => unreachable!(),
    };
    let prefix = log_prefix(r);
    (format!("{prefix}{ctx}{value}{tail}"), value)
}

fn log_prefix(r: &mut Rng) -> String {
    let ms = r.below(86_400_000);
    format!(
        "2024-11-24T{:02}:{:02}:{:02}.{:03}Z {} [worker-{}] {} - ",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000,
        r.pick(&["INFO", "WARN", "DEBUG", "ERROR"]),
        r.below(64),
        r.pick(&[
            "c.e.Billing",
            "c.e.Auth",
            "o.s.web.Dispatcher",
            "c.e.Orders"
        ])
    )
}

/// A look-alike of `kind` that must not be found.
fn negative(r: &mut Rng, kind: Kind) -> String {
    let body = match kind {
        Kind::Card => match r.below(6) {
            0 => {
                // Fails Luhn: change the check digit.
                let n = luhn_number(r, "4", 16);
                let last = (n.as_bytes()[15] - b'0' + 1 + r.below(9) as u8) % 10;
                format!("order {}{}", &n[..15], last)
            }
            1 => format!("ts={}", 1_700_000_000_000 + r.below(100_000_000_000)),
            2 => {
                let iin = r.pick(&["1", "7", "8", "9"]);
                format!("order_id={}", luhn_number(r, iin, 16))
            }
            3 => format!("call +1 {} {} {}", r.digits(3), r.digits(3), r.digits(4)),
            4 => format!("trace_id={}", r.chars(HEX, 32)),
            _ => format!("ref a{}", luhn_number(r, "4", 16)),
        },
        Kind::Ssn => match r.below(5) {
            0 => format!(
                "id {}-{:02}-{:04}",
                r.pick(&["000", "666", "900", "987"]),
                r.range(1, 99),
                r.range(1, 9999)
            ),
            1 => format!("id {:03}-00-{:04}", r.range(1, 899), r.range(1, 9999)),
            2 => format!("id {:03}-{:02}-0000", r.range(1, 665), r.range(1, 99)),
            3 => format!(
                "date 20{:02}-{:02}-{:02}",
                r.below(30),
                r.range(1, 12),
                r.range(1, 28)
            ),
            _ => format!("part {}-{}-{}", r.digits(4), r.digits(2), r.digits(4)),
        },
        Kind::Iban => match r.below(3) {
            0 => format!("ref {}", iban(r, false)),
            1 => format!("ref XX{}", r.digits(20)),
            _ => format!("sku DE{}", r.digits(12)),
        },
        Kind::Email => r
            .pick(&[
                "user@localhost connected",
                "icon@2x.png loaded",
                "ping @alice and @bob",
                "a@b",
                "git@github",
                "x@y.z",
            ])
            .to_string(),
        Kind::Ipv4 => match r.below(5) {
            0 => format!(
                "v{}.{}.{}.{}",
                r.below(10),
                r.below(10),
                r.below(10),
                r.below(10)
            ),
            1 => format!(
                "build {}.{}.{}.{}.{}",
                r.below(10),
                r.below(10),
                r.below(10),
                r.below(10),
                r.below(99)
            ),
            2 => format!(
                "x {}.{}.{}.{}",
                r.range(256, 999),
                r.below(256),
                r.below(256),
                r.below(256)
            ),
            3 => format!("version={}.{}.{}", r.below(10), r.below(30), r.below(100)),
            _ => format!("took {}.{}s", r.below(100), r.digits(3)),
        },
        Kind::Ipv6 => match r.below(4) {
            0 => format!(
                "at {:02}:{:02}:{:02}",
                r.below(24),
                r.below(60),
                r.below(60)
            ),
            1 => format!(
                "mac {}",
                (0..6)
                    .map(|_| r.chars(HEX, 2))
                    .collect::<Vec<_>>()
                    .join(":")
            ),
            2 => r
                .pick(&["std::io::Error", "Foo::bar()", "a::b", "localhost ::1"])
                .to_string(),
            _ => format!("ratio {}:{}", r.below(100), r.below(100)),
        },
        Kind::Jwt => match r.below(2) {
            0 => format!(
                "blob {}.{}.{}",
                b64url(br#"{"typ":"JWT"}"#),
                b64url(b"{}"),
                r.chars(B64URL, 10)
            ),
            _ => format!("data {}", b64url(br#"{"alg":"HS256"}"#)),
        },
        Kind::BearerToken => r
            .pick(&[
                "Bearer authentication required",
                "bearer token expired",
                "Basic authentication failed",
                "scheme=Bearer",
            ])
            .to_string(),
        Kind::AwsAccessKey => match r.below(3) {
            0 => format!("id AKIA{}", r.chars(UPPER_ALNUM, 15)),
            1 => format!("id AKIA{}", r.chars(UPPER_ALNUM, 17)),
            _ => format!("id xAKIA{}", r.chars(UPPER_ALNUM, 16)),
        },
        Kind::AwsSecretKey => format!("aws_region=eu-west-1 blob={}", r.chars(ALNUM, 40)),
        Kind::GithubToken => format!("branch ghp_{}", r.chars(ALNUM, 20)),
        Kind::SlackToken => format!("channel xoxb-{}", r.chars(ALNUM, 5)),
        Kind::StripeKey => format!("mode=sk_live_{}", r.chars(ALNUM, 4)),
        Kind::GoogleApiKey => format!("name AIza{}", r.chars(ALNUM, 20)),
        Kind::PrivateKey => {
            let label = r.pick(&["CERTIFICATE", "PUBLIC KEY", "CERTIFICATE REQUEST"]);
            format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----",
                r.chars(ALNUM, 64)
            )
        }
        Kind::UrlCredentials => match r.below(3) {
            0 => format!("GET https://example.com/users/{}", r.chars(LOWER, 6)),
            1 => format!("GET https://example.com/?q=a@{}", r.chars(LOWER, 6)),
            _ => format!("see https://{}.example.org/path", r.chars(LOWER, 6)),
        },
        Kind::Secret => format!(
            "{}={}",
            r.pick(&[
                "tokenizer",
                "cardinality",
                "passenger",
                "compass",
                "pinned",
                "span",
                "user_id",
                "status"
            ]),
            r.chars(ALNUM, 8)
        ),
        _ => unreachable!(),
    };
    format!("{}{body} status=200 dur={}ms", log_prefix(r), r.below(900))
}

#[test]
fn corpus_recall_and_false_positives() {
    let scanner = Scanner::default();
    let mut r = Rng(0x00c0_ffee_5eed);
    let mut failures = Vec::new();
    println!(
        "\n{:<16} {:>9} {:>9} {:>8} {:>9} {:>9}",
        "kind", "positives", "found", "recall", "negatives", "false pos"
    );
    let (mut tp_all, mut fp_all) = (0, 0);
    for &kind in scrim_redact::detect::DetectorSet::DETECTABLE {
        let mut found = 0;
        for _ in 0..N {
            let (line, value) = positive(&mut r, kind);
            let vs = line.find(&value).expect("value is in the line");
            let ve = vs + value.len();
            let f = scanner.find_all(&line);
            if f.iter()
                .any(|f| f.kind == kind && f.start <= vs && f.end >= ve)
            {
                found += 1;
            } else if failures.len() < 20 {
                failures.push(format!("missed {kind}: {line:?} → {f:?}"));
            }
        }
        let mut fps = 0;
        for _ in 0..N {
            let line = negative(&mut r, kind);
            let f = scanner.find_all(&line);
            if !f.is_empty() {
                fps += 1;
                if failures.len() < 20 {
                    let shown: Vec<_> = f.iter().map(|f| (f.kind, &line[f.start..f.end])).collect();
                    failures.push(format!(
                        "false positive ({kind} look-alike): {line:?} → {shown:?}"
                    ));
                }
            }
        }
        tp_all += found;
        fp_all += fps;
        println!(
            "{:<16} {:>9} {:>9} {:>7.1}% {:>9} {:>9}",
            kind.as_str(),
            N,
            found,
            100.0 * found as f64 / N as f64,
            N,
            fps
        );
    }
    let total = N * scrim_redact::detect::DetectorSet::DETECTABLE.len();
    println!(
        "{:<16} {:>9} {:>9} {:>7.1}% {:>9} {:>9}\n",
        "all",
        total,
        tp_all,
        100.0 * tp_all as f64 / total as f64,
        total,
        fp_all
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
