//! Property tests for SQL obfuscation:
//! - no literal survives: a statement with random literals obfuscates to exactly what the
//!   same statement with `0` in every literal slot obfuscates to;
//! - obfuscation is idempotent, on generated statements and on arbitrary text;
//! - nothing panics, whatever the bytes.

use proptest::prelude::*;
use scrim_redact::sql::{Dialect, SqlOptions, obfuscate};

/// Statements with literal slots (`{}`), written in the subset of SQL every dialect reads.
const TEMPLATES: &[&str] = &[
    "SELECT a, b FROM t WHERE c = {} AND d IN ({}, {}, {})",
    "INSERT INTO t (a, b) VALUES ({}, {}), ({}, {})",
    "UPDATE t SET a = {}, b = {} WHERE id = {} AND ts > {}",
    "DELETE FROM t WHERE a BETWEEN {} AND {} OR b LIKE {}",
    "SELECT CASE WHEN x > {} THEN {} ELSE {} END FROM t LIMIT {}",
    "SELECT f(a, {}) FROM t WHERE (a, b) IN (({}, {}), ({}, {}))",
    "SELECT * FROM t WHERE a = {} -- trailing comment\n AND b <> {}",
    "SELECT /* c */ a FROM t WHERE a >= {} ORDER BY a DESC",
];

#[derive(Clone, Debug)]
enum Literal {
    Str(String),
    Num(String),
}

fn string_content() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("'".to_string()),
        Just("\\".to_string()),
        Just("\\'".to_string()),
        Just("--".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("$$".to_string()),
        Just("\"".to_string()),
        Just("\n".to_string()),
        Just("secret".to_string()),
        Just("é€😀".to_string()),
        "[a-zA-Z0-9 @.,;:()=]{0,8}",
    ];
    prop::collection::vec(pieces, 0..6).prop_map(|v| v.concat())
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..u64::MAX).prop_map(|n| n.to_string()),
        (-1_000_000i64..1_000_000).prop_map(|n| n.to_string()),
        (0.0f64..1e9).prop_map(|f| format!("{f}")),
        (1u32..999, 1i32..300).prop_map(|(m, e)| format!("{m}.5e-{e}")),
        (0u32..u32::MAX).prop_map(|n| format!("0x{n:X}")),
        (0u32..999).prop_map(|n| format!(".{n}")),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        string_content().prop_map(Literal::Str),
        number().prop_map(Literal::Num)
    ]
}

/// Writes a literal as `dialect` quotes it.
fn quote(lit: &Literal, dialect: Dialect) -> String {
    match lit {
        Literal::Num(n) => n.clone(),
        Literal::Str(s) => {
            let backslash = matches!(dialect, Dialect::MySql | Dialect::Snowflake);
            let mut q = String::from("'");
            for c in s.chars() {
                match c {
                    '\'' => q.push_str("''"),
                    '\\' if backslash => q.push_str("\\\\"),
                    c => q.push(c),
                }
            }
            q.push('\'');
            q
        }
    }
}

fn fill(template: &str, mut slot: impl FnMut(usize) -> String) -> String {
    let mut out = String::new();
    for (i, part) in template.split("{}").enumerate() {
        if i > 0 {
            out.push_str(&slot(i - 1));
        }
        out.push_str(part);
    }
    out
}

fn dialect() -> impl Strategy<Value = Dialect> {
    prop::sample::select(Dialect::ALL.to_vec())
}

fn options() -> impl Strategy<Value = SqlOptions> {
    (dialect(), any::<[bool; 8]>()).prop_map(|(d, f)| SqlOptions {
        dialect: d,
        collapse_lists: f[0],
        replace_digits: f[1],
        keep_comments: f[2],
        keep_aliases: f[3],
        replace_null: f[4],
        replace_booleans: f[5],
        replace_positional_parameters: f[6],
        obfuscate_function_bodies: f[7],
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn no_literal_survives(
        t in 0..TEMPLATES.len(),
        lits in prop::collection::vec(literal(), 12),
        d in dialect(),
        collapse in any::<bool>(),
    ) {
        let opts = SqlOptions { collapse_lists: collapse, ..SqlOptions::for_dialect(d) };
        let statement = fill(TEMPLATES[t], |i| quote(&lits[i], d));
        let reference = fill(TEMPLATES[t], |_| "0".to_string());
        prop_assert_eq!(obfuscate(&statement, &opts), obfuscate(&reference, &opts));
    }

    #[test]
    fn idempotent_on_statements(
        t in 0..TEMPLATES.len(),
        lits in prop::collection::vec(literal(), 12),
        opts in options(),
    ) {
        let statement = fill(TEMPLATES[t], |i| quote(&lits[i], opts.dialect));
        let once = obfuscate(&statement, &opts).into_owned();
        prop_assert_eq!(obfuscate(&once, &opts), once.as_str());
    }

    #[test]
    fn idempotent_and_total_on_any_text(
        text in prop::collection::vec(prop_oneof![
            prop::sample::select(vec![
                "'", "\"", "`", "[", "]", "(", ")", "$", "$$", "$a$", "-", "--", "/*", "*/", "#",
                "\\", "?", ":", "::", "@", "%s", "q'[", "E'", "N'", " ", "\n", ",", ".", "0x",
                "1", "2.5e", "IN", "VALUES", "AS", "ARRAY", "SELECT", "x1", "é", "\u{0}",
            ]).prop_map(str::to_string),
            any::<char>().prop_map(|c| c.to_string()),
        ], 0..40).prop_map(|v| v.concat()),
        opts in options(),
    ) {
        let once = obfuscate(&text, &opts).into_owned();
        prop_assert_eq!(obfuscate(&once, &opts), once.as_str());
    }
}
