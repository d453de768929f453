//! `scrim alerts` and `scrim contain` as an operator runs them on a data directory: rules
//! and channels are checked, created, listed and deleted; a generated signing secret is
//! shown once and never listed; containment holds and is undone; every change is in the
//! tenant's audit log.

mod common;

use common::{scrim_ok, scrim_output};
use serde_json::Value;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = scrim_output(args, &[]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn rules_channels_and_containment_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    scrim_ok(&["tenant", "create", "acme", "--data-dir", d]);
    let t = ["--tenant", "acme", "--data-dir", d];
    let with = |head: &[&str]| -> Vec<String> {
        head.iter().chain(t.iter()).map(|s| s.to_string()).collect()
    };

    // A rule that makes no sense is refused with the field named, and nothing is stored.
    let bad = with(&[
        "alerts",
        "add-rule",
        "--name",
        "slow",
        "--rule",
        r#"{"metric": "p95_latency", "threshold": 500}"#,
    ]);
    let (code, _, err) = run(&args(&bad));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs a service"), "{err}");
    let rule = with(&[
        "alerts",
        "add-rule",
        "--name",
        "checkout slow",
        "--rule",
        r#"{"metric": "p95_latency", "service": "checkout", "threshold": 500, "for_seconds": 60}"#,
    ]);
    let created = json(&scrim_ok(&args(&rule)));
    assert_eq!(created["state"], "ok");
    assert_eq!(
        created["description"],
        "p95_latency of checkout > 500 ms over 5m for 1m"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let (code, _, err) = run(&args(&rule));
    assert_ne!(code, 0, "a second rule with the same name: {err}");
    let listed = json(&scrim_ok(&args(&with(&["alerts", "rules"]))));
    assert_eq!(listed["rules"].as_array().unwrap().len(), 1);

    // A webhook channel: https only (plain http only to loopback), a secret generated and
    // printed once.
    let (code, _, err) = run(&args(&with(&[
        "alerts",
        "add-channel",
        "--name",
        "ops",
        "--channel",
        r#"{"type": "webhook", "url": "http://hooks.example.com/x"}"#,
    ])));
    assert_eq!(code, 2, "{err}");
    let channel = json(&scrim_ok(&args(&with(&[
        "alerts",
        "add-channel",
        "--name",
        "ops",
        "--channel",
        r#"{"type": "webhook", "url": "https://hooks.example.com/scrim"}"#,
    ]))));
    let secret = channel["signing_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32);
    let channels = scrim_ok(&args(&with(&["alerts", "channels"])));
    assert!(
        channels.contains("hooks.example.com") && !channels.contains(&secret),
        "{channels}"
    );
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    scrim_ok(&args(&with(&["alerts", "remove-channel", &channel_id])));
    assert_eq!(
        json(&scrim_ok(&args(&with(&["alerts", "channels"]))))["channels"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    scrim_ok(&args(&with(&["alerts", "remove-rule", &id])));
    assert_eq!(
        json(&scrim_ok(&args(&with(&["alerts", "rules"]))))["rules"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Containment, and its undoing.
    let frozen = json(&scrim_ok(&args(&with(&["contain", "freeze-reads"]))));
    assert_eq!(frozen["reads_frozen"], true);
    assert_eq!(
        json(&scrim_ok(&args(&with(&["contain", "status"]))))["reads_frozen"],
        true
    );
    let thawed = json(&scrim_ok(&args(&with(&["contain", "unfreeze-reads"]))));
    assert_eq!(thawed["reads_frozen"], false);
    let (code, _, err) = run(&args(&with(&["contain", "panic-button"])));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("suspend-keys"), "{err}");

    // Everything above is in the tenant's audit log, by the operator.
    let audit = scrim_ok(&[
        "audit",
        "export",
        "--tenant",
        "acme",
        "--format",
        "jsonl",
        "--data-dir",
        d,
    ]);
    for action in [
        "alert.rule_create",
        "alert.rule_delete",
        "notification.channel_create",
        "notification.channel_delete",
        "containment.reads_freeze",
        "containment.reads_unfreeze",
    ] {
        assert!(
            audit.contains(&format!("\"action\":\"{action}\"")),
            "{action} missing:\n{audit}"
        );
    }
    assert!(
        !audit.contains(&secret),
        "the signing secret is not in the audit log"
    );
    // The insights and detections views answer (nothing ingested yet).
    let insights = json(&scrim_ok(&args(&with(&[
        "alerts", "insights", "--window", "1h",
    ]))));
    assert_eq!(insights["findings"].as_array().unwrap().len(), 0);
    let detections = json(&scrim_ok(&args(&with(&["alerts", "detections"]))));
    assert!(detections["detections"].is_array());
}
