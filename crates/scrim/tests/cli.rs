//! End-to-end tests of the `scrim` command line: the contract other tools depend on.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `scrim ARGS` with `stdin` as standard input.
fn scrim(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scrim"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scrim");
    // A child that exits early (a usage error) closes its stdin: ignore that write error.
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("wait for scrim")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "scrim failed: {:?}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sql_literals_are_removed() {
    let out = scrim(
        &["redact", "sql"],
        b"SELECT * FROM users WHERE email = 'alice@example.com' AND id = 42\n",
    );
    assert_success(&out);
    let text = stdout(&out);
    assert!(!text.contains("alice"), "email leaked: {text:?}");
    assert!(!text.contains("42"), "number leaked: {text:?}");
    assert!(text.contains("users"), "table name lost: {text:?}");
    assert!(text.contains('?'), "no placeholder: {text:?}");
    assert!(text.ends_with('\n'), "no final newline: {text:?}");
    assert_eq!(text.lines().count(), 1, "one statement, one line: {text:?}");
}

#[test]
fn lines_answers_each_line_in_order() {
    let input = b"SELECT * FROM a WHERE x = 'one'\n\nUPDATE b SET y = 2 WHERE z = 'three'\r\nDELETE FROM c WHERE w = 4";
    let out = scrim(&["redact", "sql", "--lines"], input);
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "one output line per input line: {text:?}");
    assert!(
        lines[0].contains("FROM a") && !lines[0].contains("one"),
        "{text:?}"
    );
    assert_eq!(
        lines[1], "",
        "an empty line answers an empty line: {text:?}"
    );
    assert!(
        lines[2].contains("UPDATE b") && !lines[2].contains("three"),
        "{text:?}"
    );
    assert!(!lines[2].contains('\r'), "{text:?}");
    assert!(
        lines[3].contains("FROM c") && !lines[3].contains('4'),
        "{text:?}"
    );
}

#[test]
fn whole_input_is_one_statement_without_lines() {
    let out = scrim(&["redact", "sql"], b"SELECT *\nFROM t\nWHERE id = 7\n");
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("FROM t"), "{text:?}");
    assert!(!text.contains('7'), "{text:?}");
}

#[test]
fn dialect_decides_backslash_escapes() {
    // MySQL reads `'it\'s'` as one string; PostgreSQL ends the string at `\'`.
    let input = br"SELECT * FROM t WHERE a = 'it\'s' AND b = 1";
    let mysql = scrim(&["redact", "sql", "--dialect", "mysql"], input);
    let postgres = scrim(&["redact", "sql", "--dialect", "postgresql"], input);
    assert_success(&mysql);
    assert_success(&postgres);
    let (mysql, postgres) = (stdout(&mysql), stdout(&postgres));
    assert_ne!(mysql, postgres, "dialects must lex backslashes differently");
    for text in [&mysql, &postgres] {
        assert!(!text.contains("it"), "string content leaked: {text:?}");
        assert!(!text.contains('1'), "number leaked: {text:?}");
    }
}

#[test]
fn every_dialect_name_is_accepted() {
    for name in [
        "postgresql",
        "mysql",
        "mssql",
        "oracle",
        "sqlite",
        "snowflake",
        "generic",
        "MySQL",
    ] {
        let out = scrim(&["redact", "sql", "--dialect", name], b"SELECT 'x'");
        assert_success(&out);
        assert!(!stdout(&out).contains('x'), "{name}: {:?}", stdout(&out));
    }
}

#[test]
fn unknown_dialect_is_a_usage_error() {
    let out = scrim(&["redact", "sql", "--dialect", "nosuchdb"], b"SELECT 1");
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nosuchdb"), "error names the bad value: {err}");
    assert!(
        err.contains("postgresql") && err.contains("mysql"),
        "error lists the dialects: {err}"
    );
}

#[test]
fn invalid_utf8_exits_zero() {
    for args in [&["redact", "sql"][..], &["redact", "sql", "--lines"]] {
        let out = scrim(args, b"SELECT '\xff\xfe secret' FROM t WHERE x = \xc3\n");
        assert_success(&out);
        let text = stdout(&out);
        assert!(text.contains("FROM t"), "{text:?}");
        assert!(!text.contains("secret"), "{text:?}");
    }
}

#[test]
fn empty_input_exits_zero() {
    let out = scrim(&["redact", "sql"], b"");
    assert_success(&out);
    assert_eq!(stdout(&out), "\n");
    let out = scrim(&["redact", "sql", "--lines"], b"");
    assert_success(&out);
    assert_eq!(stdout(&out), "");
    for filter in ["redis", "memcached", "mongo"] {
        for args in [&["redact", filter][..], &["redact", filter, "--lines"]] {
            assert_success(&scrim(args, b""));
        }
    }
}

#[test]
fn nosql_values_are_removed() {
    let cases: [(&str, &[u8], &str); 3] = [
        ("redis", b"SET session:42 hunter2-secret-value\n", "hunter2"),
        (
            "memcached",
            b"set session 0 3600 6\r\nhunter2\r\n",
            "hunter2",
        ),
        (
            "mongo",
            br#"{"find": "users", "filter": {"email": "alice@example.com"}}"#,
            "alice",
        ),
    ];
    for (filter, input, secret) in cases {
        let out = scrim(&["redact", filter], input);
        assert_success(&out);
        let text = stdout(&out);
        assert!(!text.contains(secret), "{filter} leaked {secret}: {text:?}");
        assert!(text.ends_with('\n'), "{filter}: {text:?}");
    }
}

#[test]
fn nosql_filters_accept_lines_and_garbage() {
    let input = b"GET a\n\n\xff\xff{\"x\n";
    for filter in ["redis", "memcached", "mongo"] {
        let out = scrim(&["redact", filter, "--lines"], input);
        assert_success(&out);
        assert_eq!(
            stdout(&out).lines().count(),
            3,
            "{filter}: {:?}",
            stdout(&out)
        );
    }
}

#[test]
fn help_describes_the_filters() {
    let out = scrim(&["redact", "--help"], b"");
    assert_success(&out);
    let text = stdout(&out);
    for word in ["sql", "redis", "memcached", "mongo", "--lines"] {
        assert!(text.contains(word), "help lacks {word}: {text}");
    }
    let out = scrim(&["redact", "sql", "--help"], b"");
    assert_success(&out);
    assert!(stdout(&out).contains("snowflake"), "{}", stdout(&out));
}
