//! Scrim's SQL obfuscator against the test suite of DataDog's go-sqllexer, a peer that
//! nobody on this team wrote (`../shared/corpora/go-sqllexer`, see its README).
//!
//! Two checks per expected output:
//! - leaks: a literal of the input that the peer removed must not survive in ours.
//!   Always a failure.
//! - agreement: the same sequence of identifiers, keywords, operators and placeholders,
//!   once the documented differences of house style are set aside (see `normalise`).
//!   The rate is printed and must be at least 90 %.
//!
//! The peer's configuration is mapped to our equivalent options: where the peer replaces
//! digits in identifiers, `NULL`, booleans or positional parameters, or drops aliases, we
//! run with the option that does the same, so that only real differences count.

use std::fs;
use std::path::{Path, PathBuf};

use scrim_redact::sql::{Dialect, SqlOptions, obfuscate};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/go-sqllexer/testdata")
}

struct Case {
    file: String,
    input: String,
    expected: String,
    options: SqlOptions,
}

fn dialect_of(dir: &str) -> Dialect {
    match dir {
        "mssql" => Dialect::MsSql,
        "mysql" => Dialect::MySql,
        "oracle" => Dialect::Oracle,
        "postgresql" => Dialect::PostgreSql,
        "snowflake" => Dialect::Snowflake,
        other => panic!("unexpected dialect folder {other}"),
    }
}

/// The peer's defaults apply when a case gives no obfuscator configuration; a given
/// configuration leaves every unnamed flag off (Go zero values).
fn options_for(dialect: Dialect, output: &Value) -> SqlOptions {
    let flag = |section: &str, key: &str, absent: bool| match output.get(section) {
        None => absent,
        Some(cfg) => cfg.get(key).and_then(Value::as_bool).unwrap_or(false),
    };
    SqlOptions {
        replace_digits: flag("obfuscator_config", "replace_digits", true),
        replace_null: flag("obfuscator_config", "replace_null", true),
        replace_booleans: flag("obfuscator_config", "replace_boolean", true),
        replace_positional_parameters: flag(
            "obfuscator_config",
            "replace_positional_parameter",
            true,
        ),
        obfuscate_function_bodies: flag("obfuscator_config", "dollar_quoted_func", true),
        keep_aliases: flag("normalizer_config", "keep_sql_alias", false),
        ..SqlOptions::for_dialect(dialect)
    }
}

fn load_cases() -> Option<Vec<Case>> {
    let root = corpus_dir();
    if !root.is_dir() {
        eprintln!("skipping: peer corpus not found at {}", root.display());
        return None;
    }
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("corpus folder is readable") {
            let path = entry.expect("corpus entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(&root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        let dialect = dialect_of(rel.split('/').next().expect("dialect folder"));
        let doc: Value = serde_json::from_str(&fs::read_to_string(&path).expect("readable"))
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        let input = doc["input"].as_str().expect("input").to_owned();
        for output in doc["outputs"].as_array().expect("outputs") {
            cases.push(Case {
                file: rel.clone(),
                input: input.clone(),
                expected: output["expected"].as_str().expect("expected").to_owned(),
                options: options_for(dialect, output),
            });
        }
    }
    Some(cases)
}

/// Tokens for comparison: words, `?`, and single punctuation characters. Identifier
/// quotes are removed first, since quoting is the peer's normaliser option.
fn tokens(s: &str) -> Vec<String> {
    let chars: Vec<char> = unquote_identifiers(s).chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let is_word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '#' | '@') || !c.is_ascii();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if is_word(c) {
            let start = i;
            while i < chars.len() && is_word(chars[i]) {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// Drops `"` and `` ` ``, and the brackets of `[name]`.
fn unquote_identifiers(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '"' || c == '`' {
            rest = &rest[1..];
            continue;
        }
        if c == '['
            && let Some(close) = rest.find(']')
            && !rest[1..close].is_empty()
            && !rest[1..close].contains(|c: char| c.is_whitespace() || c == '?')
        {
            out.push(' ');
            out.push_str(&rest[1..close]);
            out.push(' ');
            rest = &rest[close + 1..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The documented differences of style, applied to both sides:
/// - whitespace is ignored (the peer spaces out every token: `NOW ( )`);
/// - identifier quotes are ignored;
/// - trailing semicolons are ignored (the peer drops them by default), also at the end
///   of a dollar-quoted function body (`END;$func$`);
/// - a run of collapsed rows `(?), (?)` counts as one `(?)` (we collapse multi-row
///   `VALUES` into one group, the peer keeps one group per row);
/// - a run of placeholders `?, ?` counts as one `?` (the peer merges adjacent
///   placeholders inside any list; we keep one per value unless the whole list is
///   literals).
fn normalise(s: &str) -> Vec<String> {
    let mut t = tokens(s);
    while t.last().is_some_and(|x| x == ";") {
        t.pop();
    }
    let mut out: Vec<String> = Vec::with_capacity(t.len());
    for (i, tok) in t.iter().enumerate() {
        if tok == ";" && t.get(i + 1).is_some_and(|n| n == "$") {
            continue;
        }
        out.push(tok.clone());
        let n = out.len();
        if n >= 3 && out[n - 3..] == ["?", ",", "?"] {
            out.truncate(n - 2);
        }
        if n >= 7 && out[n - 7..] == ["(", "?", ")", ",", "(", "?", ")"] {
            out.truncate(n - 4);
        }
    }
    out
}

/// Literals of the input, found by a scanner that shares no code with ours: quoted
/// strings (contents) and standalone numbers.
fn input_literals(input: &str) -> Vec<String> {
    let b = input.as_bytes();
    let mut lits = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() {
                    if b[j] == b'\\' {
                        j += 2;
                        continue;
                    }
                    if b[j] == b'\'' {
                        if b.get(j + 1) == Some(&b'\'') {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                let end = j.min(b.len());
                lits.push(String::from_utf8_lossy(&b[start..end]).into_owned());
                i = end + 1;
            }
            c if c.is_ascii_digit() && (i == 0 || !is_word_byte(b[i - 1])) => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                if i >= b.len() || !is_word_byte(b[i]) {
                    lits.push(input[start..i].trim_end_matches('.').to_owned());
                }
            }
            c if is_word_byte(c) => {
                while i < b.len() && is_word_byte(b[i]) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    lits
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'@' || c >= 0x80
}

/// A literal leaks when the peer removed it and we did not. Short string contents are
/// too ambiguous to search for as text; numbers are compared as whole tokens.
fn leaked<'l>(case: &Case, ours: &str, lits: &'l [String]) -> Vec<&'l str> {
    let our_tokens = tokens(ours);
    let their_tokens = tokens(&case.expected);
    lits.iter()
        .filter(|lit| {
            let lit = lit.as_str();
            if lit.bytes().all(|c| c.is_ascii_digit() || c == b'.') && !lit.is_empty() {
                let ours_has = our_tokens.iter().any(|t| t == lit);
                let theirs_has = their_tokens.iter().any(|t| t == lit);
                ours_has && !theirs_has
            } else {
                let quoted = format!("'{lit}'");
                let substantial = lit.trim().len() >= 3 && lit.chars().any(char::is_alphanumeric);
                (ours.contains(&quoted) && !case.expected.contains(&quoted))
                    || (substantial && ours.contains(lit) && !case.expected.contains(lit))
            }
        })
        .map(String::as_str)
        .collect()
}

#[test]
fn peer_corpus_no_leaks_and_agreement() {
    let Some(cases) = load_cases() else { return };
    assert_eq!(
        cases.len(),
        441,
        "the corpus README promises 441 expected outputs"
    );
    let mut leaks = Vec::new();
    let mut disagreements = Vec::new();
    for case in &cases {
        let ours = obfuscate(&case.input, &case.options);
        let lits = input_literals(&case.input);
        let leaked = leaked(case, &ours, &lits);
        if !leaked.is_empty() {
            leaks.push(format!(
                "{}: leaked {:?}\n  ours: {}",
                case.file, leaked, ours
            ));
        }
        if normalise(&ours) != normalise(&case.expected) {
            disagreements.push(format!(
                "{}\n  ours:   {}\n  theirs: {}",
                case.file, ours, case.expected
            ));
        }
    }
    let agreed = cases.len() - disagreements.len();
    let rate = agreed as f64 / cases.len() as f64 * 100.0;
    println!(
        "peer corpus: {} cases, {} leaks, agreement {agreed}/{} = {rate:.1}%",
        cases.len(),
        leaks.len(),
        cases.len()
    );
    if let Ok(path) = std::env::var("SCRIM_CORPUS_REPORT") {
        fs::write(&path, disagreements.join("\n")).expect("report written");
    }
    assert!(leaks.is_empty(), "literal leaks:\n{}", leaks.join("\n"));
    assert!(
        rate >= 90.0,
        "agreement {rate:.1}% is below 90%; first differences:\n{}",
        disagreements
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn normalise_sets_aside_only_style() {
    assert_eq!(
        normalise("SELECT a.* FROM [t] WHERE x IN (?);"),
        normalise("SELECT a. * FROM t WHERE x IN ( ? )")
    );
    assert_eq!(normalise("VALUES (?)"), normalise("VALUES ( ? ), ( ? )"));
    assert_eq!(
        normalise("VALUES (?, ?, f(?))"),
        normalise("VALUES ( ?, f ( ? ) )")
    );
    assert_eq!(
        normalise("x IN ([Order-Details])"),
        normalise("x IN (Order-Details)")
    );
    assert_eq!(normalise("ARRAY[?]"), normalise("ARRAY [ ? ]"));
    assert_ne!(normalise("SELECT a FROM t"), normalise("SELECT b FROM t"));
    assert_ne!(normalise("x = ?"), normalise("x = 1"));
}

#[test]
fn literal_scanner_finds_strings_and_numbers() {
    assert_eq!(
        input_literals("a = 'x''y' AND t1.b = 42 AND c = 1.5"),
        ["x''y", "42", "1.5"]
    );
}
