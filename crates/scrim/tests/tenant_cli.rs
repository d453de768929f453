//! `scrim tenant create --policy` and `scrim tenant policy`, as a user runs them.

mod common;

use std::process::Output;

use common::scrim_ok as stdout_ok;

fn scrim(args: &[&str]) -> Output {
    common::scrim_output(args, &[])
}

#[test]
fn a_tenants_capture_policy_is_set_shown_checked_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[client_ips]\nmethod = \"drop\"\n").unwrap();
    let bad = dir.path().join("bad.toml");
    // A bad value next to something that looks like a secret: the error names the key only.
    std::fs::write(&bad, "# hunter2-token\n[sql]\ncapture = \"rawx\"\n").unwrap();

    let created = stdout_ok(&[
        "tenant",
        "create",
        "acme",
        "--policy",
        good.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert!(created.contains("its own capture policy"), "{created}");
    assert_eq!(
        stdout_ok(&["tenant", "policy", "acme", "--data-dir", d]),
        "[client_ips]\nmethod = \"drop\"\n"
    );

    let refused = scrim(&[
        "tenant",
        "policy",
        "acme",
        "--file",
        bad.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("sql.capture"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert_eq!(
        stdout_ok(&["tenant", "policy", "acme", "--data-dir", d]),
        "[client_ips]\nmethod = \"drop\"\n",
        "a refused policy changes nothing"
    );

    let cleared = stdout_ok(&["tenant", "policy", "acme", "--default", "--data-dir", d]);
    assert!(cleared.contains("version 1"), "{cleared}");
    let shown = stdout_ok(&["tenant", "policy", "acme", "--data-dir", d]);
    assert!(
        shown.contains("uses the server's capture policy"),
        "{shown}"
    );

    let unknown = scrim(&["tenant", "policy", "nope", "--data-dir", d]);
    assert_eq!(unknown.status.code(), Some(2));
    // Creating with a bad policy creates nothing.
    let refused = scrim(&[
        "tenant",
        "create",
        "bravo",
        "--policy",
        bad.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        scrim(&["tenant", "policy", "bravo", "--data-dir", d])
            .status
            .code(),
        Some(2),
        "no tenant bravo"
    );
}

#[test]
fn a_tenants_data_key_is_rotated_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    stdout_ok(&["tenant", "create", "acme", "--data-dir", d]);
    let first = stdout_ok(&["key", "rotate-tenant", "acme", "--data-dir", d]);
    assert!(
        first.contains("-2 is current") && first.contains("-1)"),
        "{first}"
    );
    let second = stdout_ok(&["key", "rotate-tenant", "acme", "--data-dir", d]);
    assert!(second.contains("-3 is current"), "{second}");
    // The master key rotation rewraps every version: the tenant's three, the platform's.
    let master = stdout_ok(&["key", "rotate-master", "--data-dir", d]);
    assert!(master.contains("3 keys re-wrapped"), "{master}");
    // Under the new master key the tenant's keys still open, and rotate again.
    let third = stdout_ok(&["key", "rotate-tenant", "acme", "--data-dir", d]);
    assert!(third.contains("-4 is current"), "{third}");
    let unknown = scrim(&["key", "rotate-tenant", "nope", "--data-dir", d]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no tenant named"));
}

/// `[[regions]]` in the config: a tenant's region must be one of them (never guessed among
/// several), and a backup covers one region, written to that region's `backup_to`.
#[test]
fn regions_come_from_the_config_and_a_backup_stays_in_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let config = dir.path().join("serve.toml");
    let mut text = String::new();
    for r in ["eu", "us"] {
        // Relative paths are relative to the config file.
        text.push_str(&format!(
            "[[regions]]\nname = \"{r}\"\nobject_store = \"{r}/segments\"\nwal_dir = \"{r}/wal\"\n\
             backup_to = \"{r}/backups\"\n\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    let c = config.to_str().unwrap();

    for (extra, expected) in [
        (&[][..], "choose the tenant's with --region"),
        (&["--region", "ap"][..], "region \"ap\" is not configured"),
    ] {
        let mut args = vec!["tenant", "create", "acme", "--config", c, "--data-dir", d];
        args.extend_from_slice(extra);
        let refused = scrim(&args);
        assert_eq!(refused.status.code(), Some(2));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains(expected) && err.contains("eu, us"), "{err}");
    }
    let created = stdout_ok(&[
        "tenant",
        "create",
        "acme",
        "--region",
        "eu",
        "--config",
        c,
        "--data-dir",
        d,
    ]);
    assert!(created.contains("region eu"), "{created}");

    let refused = scrim(&["backup", "create", "--config", c, "--data-dir", d]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("choose it with --region"), "{err}");
    let made = stdout_ok(&[
        "backup",
        "create",
        "--region",
        "eu",
        "--config",
        c,
        "--data-dir",
        d,
    ]);
    assert!(made.contains("1 tenant"), "{made}");
    assert!(dir.path().join("eu/backups/manifests").is_dir());
    assert!(!dir.path().join("us/backups").exists());
    let made = stdout_ok(&[
        "backup",
        "create",
        "--tenant",
        "acme",
        "--config",
        c,
        "--data-dir",
        d,
    ]);
    assert!(made.contains("1 tenant"), "{made}");
}
