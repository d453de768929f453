//! `scrim delete` as an operator runs it, on what a server stored in the same data
//! directory: a person's rows erased (recorded, rewritten, checked), then the whole tenant.

mod common;

use common::{scrim_output, stored_shop};

fn run(args: &[&str]) -> (bool, i32, String, String) {
    let out = scrim_output(args, &[]);
    (
        out.status.success(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The tenant's log records exported as JSON lines.
fn logs_of(tenant: &str, d: &str) -> String {
    let (ok, _, out, err) = run(&[
        "export",
        "--tenant",
        tenant,
        "--signal",
        "logs",
        "--format",
        "jsonl",
        "--data-dir",
        d,
    ]);
    assert!(ok, "{err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_rows_then_the_tenant_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let (tenant, _spans, logs) = stored_shop(&data).await;
    assert!(logs > 0);
    let before = logs_of(&tenant, d);

    // A filter is required; a bad one is a usage error (exit 2) that records nothing.
    let (ok, code, _, err) = run(&["delete", "rows", &tenant, "--data-dir", d]);
    assert!(!ok && code == 2, "{err}");
    assert!(err.contains("delete the tenant"), "{err}");
    let (ok, code, _, err) = run(&[
        "delete",
        "rows",
        &tenant,
        "--attribute",
        "no-equals-sign",
        "--data-dir",
        d,
    ]);
    assert!(!ok && code == 2, "{err}");

    let (ok, _, out, err) = run(&[
        "delete",
        "rows",
        &tenant,
        "--attribute",
        "enduser.id=u-48213",
        "--data-dir",
        d,
    ]);
    assert!(ok, "{err}");
    let done: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(done["status"], "done", "{done}");
    assert!(done["rows_removed"].as_u64().unwrap() > 0, "{done}");
    let pseudonym = done["covers"]["attribute"]["value"].as_str().unwrap();
    assert!(pseudonym.starts_with("[id:"), "{done}");
    assert!(
        before.contains(pseudonym),
        "the person was in the logs before"
    );
    let after = logs_of(&tenant, d);
    assert!(!after.contains(pseudonym), "erased");
    assert!(after.lines().count() < before.lines().count());
    assert!(after.contains("[id:"), "other people stay");

    let (ok, _, out, err) = run(&["delete", "status", &tenant, "--data-dir", d]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(!out.contains("u-48213"), "{out}");

    // The whole tenant: confirmed by name, or refused.
    let (ok, code, _, err) = run(&[
        "delete",
        "tenant",
        &tenant,
        "--confirm",
        "another",
        "--data-dir",
        d,
    ]);
    assert!(!ok && code == 2, "{err}");
    assert!(!logs_of(&tenant, d).is_empty(), "nothing was deleted");
    let (ok, _, out, err) = run(&[
        "delete",
        "tenant",
        &tenant,
        "--confirm",
        &tenant,
        "--data-dir",
        d,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("data key destroyed"), "{out}");
    let (ok, code, _, err) = run(&[
        "export",
        "--tenant",
        &tenant,
        "--signal",
        "logs",
        "--format",
        "jsonl",
        "--data-dir",
        d,
    ]);
    assert!(!ok && code == 2 && err.contains("no tenant"), "{err}");
    let segments = data.join("segments");
    let left: Vec<_> = walk(&segments);
    assert!(left.is_empty(), "{left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
