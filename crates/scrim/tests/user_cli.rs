//! `scrim user …`, `scrim apikey list|revoke` and `scrim access review`, as an operator runs
//! them against a data directory.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::scrim_ok;

fn scrim_with_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scrim"))
        .args(args)
        .env_remove("SCRIM_MASTER_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scrim");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn refused(args: &[&str]) -> String {
    let out = common::scrim_output(args, &[]);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_operator_manages_people_and_keys_and_reviews_access() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    scrim_ok(&["tenant", "create", "acme", "--data-dir", d]);

    let alice = scrim_ok(&[
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
    assert!(alice.contains("is owner in tenant acme"), "{alice}");
    let initial = alice.lines().last().unwrap();
    assert_eq!(initial.len(), 23, "four groups of five: {initial}");

    let bob = scrim_with_stdin(
        &[
            "user",
            "create",
            "Bob@Acme.example",
            "--tenant",
            "acme",
            "--role",
            "member",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        "a long enough password\n",
    );
    assert!(bob.status.success(), "{bob:?}");
    let bob_out = String::from_utf8_lossy(&bob.stdout);
    assert!(bob_out.contains("bob@acme.example"), "{bob_out}");
    assert!(!bob_out.contains("initial password"), "{bob_out}");
    let short = scrim_with_stdin(
        &[
            "user",
            "create",
            "c@acme.example",
            "--tenant",
            "acme",
            "--role",
            "viewer",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        "short\n",
    );
    assert_eq!(short.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&short.stderr).contains("short\n"));

    let members = scrim_ok(&["user", "list", "--tenant", "acme", "--data-dir", d]);
    assert!(
        members.contains("alice@acme.example") && members.contains("owner"),
        "{members}"
    );
    assert!(
        members.contains("bob@acme.example") && members.contains("member"),
        "{members}"
    );

    scrim_ok(&[
        "user",
        "role",
        "bob@acme.example",
        "auditor",
        "--tenant",
        "acme",
        "--data-dir",
        d,
    ]);
    let err = refused(&[
        "user",
        "role",
        "bob@acme.example",
        "root",
        "--tenant",
        "acme",
        "--data-dir",
        d,
    ]);
    assert!(
        err.contains("roles: owner, admin, member, viewer, auditor"),
        "{err}"
    );
    let err = refused(&[
        "user",
        "remove",
        "alice@acme.example",
        "--tenant",
        "acme",
        "--data-dir",
        d,
    ]);
    assert!(err.contains("at least one owner"), "{err}");
    let err = refused(&[
        "user",
        "create",
        "not-an-address",
        "--tenant",
        "acme",
        "--role",
        "viewer",
        "--data-dir",
        d,
    ]);
    assert!(err.contains("email"), "{err}");

    let created = scrim_ok(&[
        "apikey",
        "create",
        "--tenant",
        "acme",
        "--scopes",
        "read,admin",
        "--name",
        "ci",
        "--data-dir",
        d,
    ]);
    let key = created.lines().last().unwrap();
    let id = &key["scrim_".len().."scrim_".len() + 16];
    let listed = scrim_ok(&["apikey", "list", "--tenant", "acme", "--data-dir", d]);
    assert!(
        listed.contains(id) && listed.contains("active") && listed.contains("never"),
        "{listed}"
    );
    assert!(!listed.contains(key), "a secret must never be listed");

    let review = scrim_ok(&["access", "review", "--tenant", "acme", "--data-dir", d]);
    assert!(review.contains("alice@acme.example"), "{review}");
    assert!(review.contains("admin scope without an expiry"), "{review}");
    assert!(
        review.contains("owner signs in with a password alone"),
        "{review}"
    );

    scrim_ok(&["apikey", "revoke", id, "--tenant", "acme", "--data-dir", d]);
    let json = scrim_ok(&["access", "review", "--json", "--data-dir", d]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let acme = &v[0];
    assert_eq!(acme["tenant"], "acme");
    assert_eq!(acme["people"].as_array().unwrap().len(), 2);
    assert_eq!(acme["api_keys"][0]["state"], "revoked");
    assert_eq!(acme["api_keys"][0]["flags"], serde_json::json!([]));

    scrim_ok(&["user", "disable", "bob@acme.example", "--data-dir", d]);
    let all = scrim_ok(&["user", "list", "--data-dir", d]);
    assert!(
        all.contains("bob@acme.example") && all.contains("(disabled)"),
        "{all}"
    );
    assert!(all.contains("acme:auditor"), "{all}");
    let err = refused(&["user", "reset-mfa", "nobody@acme.example", "--data-dir", d]);
    assert!(err.contains("no account"), "{err}");

    // Tenant security settings and single sign-on.
    let err = refused(&[
        "tenant",
        "security",
        "acme",
        "--require-sso",
        "true",
        "--data-dir",
        d,
    ]);
    assert!(err.contains("configure an OpenID provider first"), "{err}");
    let shown = scrim_ok(&[
        "tenant",
        "security",
        "acme",
        "--require-mfa",
        "true",
        "--session-idle-minutes",
        "15",
        "--data-dir",
        d,
    ]);
    assert!(
        shown.contains("require MFA true") && shown.contains("idle 15 min"),
        "{shown}"
    );
    let sso = dir.path().join("sso.json");
    std::fs::write(
        &sso,
        r#"{"oidc": {"issuer": "https://idp.example", "client_id": "scrim", "client_secret": "s3cret-value", "redirect_uri": "https://scrim.example/api/v1/sso/callback"}, "roles": {"rules": [{"group": "ops", "role": "admin"}], "default_role": "viewer"}}"#,
    )
    .unwrap();
    scrim_ok(&[
        "tenant",
        "sso",
        "acme",
        "--file",
        sso.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    let stored = scrim_ok(&["tenant", "sso", "acme", "--data-dir", d]);
    assert!(
        stored.contains("idp.example") && !stored.contains("s3cret-value"),
        "{stored}"
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"oidc": {"issuer": "https://idp.example", "client_id": "scrim", "redirect_uri": "https://x/cb"}, "roles": {"rules": [], "default_role": "root"}}"#).unwrap();
    let err = refused(&[
        "tenant",
        "sso",
        "acme",
        "--file",
        bad.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert!(err.contains("role mapping"), "{err}");
    let on = scrim_ok(&[
        "tenant",
        "security",
        "acme",
        "--require-sso",
        "true",
        "--data-dir",
        d,
    ]);
    assert!(on.contains("require SSO true"), "{on}");
    let err = refused(&["tenant", "sso", "acme", "--remove", "--data-dir", d]);
    assert!(err.contains("require_sso"), "{err}");
}
