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

/// A policy file in a fresh temporary directory (kept alive by the returned guard).
fn policy_file(toml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, toml).expect("write policy");
    let path = path.to_str().expect("utf-8 path").to_string();
    (dir, path)
}

#[test]
fn text_filter_removes_planted_secrets() {
    let input = "charge 4111 1111 1111 1111 for alice@example.com from 203.0.113.57 \
                 with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl \
                 password=hunter2 key AKIAIOSFODNN7EXAMPLE ssn 123-45-6789\n";
    let out = scrim(&["redact", "text"], input.as_bytes());
    assert_success(&out);
    let text = stdout(&out);
    for secret in [
        "4111",
        "alice@",
        "203.0.113.57",
        "eyJhbGci",
        "hunter2",
        "AKIAIOSFODNN7EXAMPLE",
        "123-45-6789",
    ] {
        assert!(!text.contains(secret), "leaked {secret}: {text:?}");
    }
    for marker in ["[REDACTED:card]", "[REDACTED:email]", "[REDACTED:secret]"] {
        assert!(text.contains(marker), "missing {marker}: {text:?}");
    }
    assert!(text.starts_with("charge "), "{text:?}");
    // Idempotent: the output, redacted again, is unchanged.
    let again = scrim(&["redact", "text"], text.as_bytes());
    assert_eq!(stdout(&again), text);
}

#[test]
fn json_url_and_ip_filters() {
    let out = scrim(
        &["redact", "json"],
        br#"{"user": "bob@example.com", "password": "hunter2", "items": [1, 2]}"#,
    );
    assert_success(&out);
    let text = stdout(&out);
    assert_eq!(
        text,
        "{\"user\": \"[REDACTED:email]\", \"password\": \"[REDACTED:secret]\", \"items\": [1, 2]}\n"
    );
    // Not JSON (truncated): scanned as text, nothing passes raw.
    let out = scrim(&["redact", "json"], br#"{"password": "hunter2"#);
    assert!(!stdout(&out).contains("hunter2"), "{}", stdout(&out));

    let out = scrim(
        &["redact", "url"],
        b"https://bob:pw@shop.example.com/users/alice%40example.com?token=abc&sig=xyz\n",
    );
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.starts_with("https://REDACTED:REDACTED@shop.example.com/users/"),
        "{text:?}"
    );
    assert!(
        text.contains("token=?") && text.contains("sig=REDACTED"),
        "{text:?}"
    );
    assert!(!text.contains("alice") && !text.contains("abc"), "{text:?}");

    let out = scrim(
        &["redact", "ip", "--lines"],
        b"203.0.113.57\n2001:db8:85a3:8d3::1\napi.example.com\n",
    );
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "203.0.113.0\n2001:db8:85a3::\napi.example.com\n"
    );
}

#[test]
fn explain_prints_findings_as_json_lines() {
    let input = "mail alice@example.com\nkey AKIAIOSFODNN7EXAMPLE\n";
    let out = scrim(&["redact", "explain", "--lines"], input.as_bytes());
    assert_success(&out);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let source: Vec<&str> = input.lines().collect();
    for (finding, (kind, text)) in lines.iter().zip([
        ("email", "alice@example.com"),
        ("aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
    ]) {
        assert_eq!(finding["kind"], kind);
        assert_eq!(finding["method"], "mask");
        let line = finding["line"].as_u64().expect("line") as usize;
        let (s, e) = (
            finding["start"].as_u64().unwrap() as usize,
            finding["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(&source[line - 1][s..e], text);
    }
    let out = scrim(&["redact", "explain"], b"nothing to see here\n");
    assert_success(&out);
    assert_eq!(stdout(&out), "");
}

#[test]
fn policy_files_change_methods_and_bad_ones_are_usage_errors() {
    let (_d, on_prem) = policy_file(
        "mode = \"on-prem\"\n[detectors]\nmethods = { email = \"hash\", ipv4 = \"keep\" }\n",
    );
    let run = |key: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scrim"))
            .args(["redact", "text", "--policy", &on_prem])
            .env("SCRIM_PSEUDONYM_KEY", key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"alice@example.com from 10.0.0.7")
            .unwrap();
        stdout(&child.wait_with_output().unwrap())
    };
    let a = run("tenant-a");
    assert!(
        a.starts_with("[email:") && a.ends_with(" from 10.0.0.7\n"),
        "{a:?}"
    );
    assert_eq!(run("tenant-a"), a, "same key, same pseudonym");
    assert_ne!(run("tenant-b"), a, "another key, another pseudonym");

    // Cloud mode refuses `keep` and says so on stderr.
    let (_d, cloud) = policy_file("[detectors]\nmethods = { ipv4 = \"keep\" }\n");
    let out = scrim(&["redact", "text", "--policy", &cloud], b"from 10.0.0.7");
    assert_success(&out);
    assert_eq!(stdout(&out), "from [REDACTED:ipv4]\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("detectors.methods.ipv4 = keep is not allowed in cloud mode"),
        "{err}"
    );

    let (_d, bad) = policy_file("[client_ips]\nmethod = \"blur\"\n");
    for filter in ["text", "json", "url", "ip", "explain"] {
        let out = scrim(&["redact", filter, "--policy", &bad], b"x");
        assert_eq!(out.status.code(), Some(2), "{filter}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("line 2, key `client_ips.method`"),
            "{filter}: {err}"
        );
        assert!(
            out.stdout.is_empty(),
            "{filter}: nothing written on a usage error"
        );
    }
    let out = scrim(
        &["redact", "text", "--policy", "/nonexistent/policy.toml"],
        b"x",
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn new_filters_accept_garbage_and_lines() {
    let input = b"a\n\n\xff\xfe{\"x\n";
    for filter in ["text", "json", "url", "ip", "explain"] {
        let out = scrim(&["redact", filter, "--lines"], input);
        assert_success(&out);
        if filter != "explain" {
            assert_eq!(
                stdout(&out).lines().count(),
                3,
                "{filter}: {:?}",
                stdout(&out)
            );
        }
    }
}
