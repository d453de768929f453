//! `scrim audit export|verify|checkpoint` as an operator runs them, and the records the
//! operator's own commands leave.

mod common;

use common::{scrim_ok, scrim_output};

/// The operator's records in `tenant`'s chain (or `-`), as JSON lines.
fn export(d: &str, tenant: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["audit", "export", "--tenant", tenant, "--data-dir", d];
    args.extend_from_slice(extra);
    scrim_ok(&args)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn sqlite(d: &str, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{d}/meta.db");
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    });
}

#[test]
fn operator_commands_are_recorded_and_verify_names_a_tampered_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    scrim_ok(&["tenant", "create", "acme", "--data-dir", d]);
    scrim_ok(&[
        "user",
        "create",
        "alice@acme.example",
        "--tenant",
        "acme",
        "--role",
        "owner",
        "--data-dir",
        d,
    ]);
    scrim_ok(&["user", "disable", "alice@acme.example", "--data-dir", d]);
    let created = scrim_ok(&[
        "apikey",
        "create",
        "--tenant",
        "acme",
        "--scopes",
        "read",
        "--data-dir",
        d,
    ]);
    assert!(created.contains("scrim_"), "{created}");

    // Each command left exactly one record, by the operator, from the command line; the
    // export itself is recorded before it runs, so it lists itself last.
    let records = export(d, "acme", &["--actor", "operator"]);
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.create",
            "member.add",
            "apikey.create",
            "audit.export"
        ],
        "{records:#?}"
    );
    for r in &records {
        assert_eq!(r["actor"]["kind"], "operator");
        assert!(r["user_agent"].as_str().unwrap().starts_with("scrim-cli/"));
        assert_eq!(r["outcome"]["status"], "success");
    }
    // Account-wide actions go to the platform's chain.
    let platform = export(d, "-", &["--action", "user.disable"]);
    assert_eq!(platform.len(), 1, "{platform:#?}");

    // CSV with a header; a filter on time.
    let csv = scrim_ok(&[
        "audit",
        "export",
        "--tenant",
        "acme",
        "--format",
        "csv",
        "--data-dir",
        d,
    ]);
    assert!(csv.starts_with("time,at_ms,tenant,seq,"), "{csv}");
    let none = export(d, "acme", &["--end", "2000-01-01T00:00:00Z"]);
    // (The export records itself, but now, after the window.)
    assert!(none.is_empty(), "{none:#?}");

    let ok = scrim_ok(&["audit", "checkpoint", "--data-dir", d]);
    assert!(ok.contains("checkpoints signed with key"), "{ok}");
    let ok = scrim_ok(&["audit", "verify", "--data-dir", d]);
    assert!(ok.contains(" 0 tampered"), "{ok}");
    // With the public key alone, as an auditor would.
    let public = format!("{d}/audit-checkpoint.key.pub");
    let ok = scrim_ok(&[
        "audit",
        "verify",
        "--tenant",
        "acme",
        "--public-key",
        &public,
        "--data-dir",
        d,
    ]);
    assert!(ok.contains("ok       t_"), "{ok}");

    // Someone edits a record in the database: verify names it and exits 1.
    sqlite(
        d,
        "UPDATE audit_records SET body = replace(body, '\"read\"', '\"admin\"') \
         WHERE action = 'apikey.create'",
    );
    let out = scrim_output(&["audit", "verify", "--data-dir", d], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("TAMPERED") && stdout.contains("record 3 ") && stdout.contains("changed"),
        "{stdout}"
    );
}

#[test]
fn bad_audit_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    for args in [
        vec!["audit", "export", "--tenant", "nope", "--data-dir", d],
        vec![
            "audit",
            "export",
            "--tenant",
            "-",
            "--format",
            "xml",
            "--data-dir",
            d,
        ],
        vec![
            "audit",
            "export",
            "--tenant",
            "-",
            "--start",
            "yesterday",
            "--data-dir",
            d,
        ],
    ] {
        let out = scrim_output(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}
