//! `scrim ai` as an operator runs it on a data directory a server wrote: off until the
//! tenant's settings turn it on; `--preview` prints the exact request body (with no planted
//! secret) and sends nothing; a confirmation that does not match sends nothing; an
//! unreachable provider is a clear error.

mod common;

use common::{scrim_ok, scrim_output, stored_shop};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = scrim_output(args, &[]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_trace_is_off_until_turned_on_and_previews_exactly_what_it_would_send() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let (tenant, spans, _) = stored_shop(&data).await;
    assert!(spans > 0);
    let rows = scrim_ok(&[
        "export",
        "--tenant",
        &tenant,
        "--signal",
        "traces",
        "--format",
        "jsonl",
        "--data-dir",
        d,
    ]);
    let first: serde_json::Value = serde_json::from_str(rows.lines().next().unwrap()).unwrap();
    let trace_id = first["trace_id"].as_str().unwrap().to_owned();
    let explain = |extra: &[&str]| {
        let mut args = vec![
            "ai",
            "explain-trace",
            trace_id.as_str(),
            "--tenant",
            &tenant,
            "--data-dir",
            d,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };

    let (code, out, err) = explain(&["--preview"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("AI diagnostics are off"), "{err}");

    // An owner's settings, as the API stores them: a provider where nothing listens.
    let platform = scrim_server::Platform::open(&scrim_server::PlatformConfig::in_dir(&data))
        .await
        .unwrap();
    let t = platform
        .meta()
        .tenant_by_name(&tenant)
        .await
        .unwrap()
        .unwrap();
    let settings: scrim_ai::AiSettings = serde_json::from_value(serde_json::json!({
        "enabled": true,
        "provider": "openai-compatible",
        "url": "https://127.0.0.1:9/v1/chat/completions",
        "model": "local-model",
        "region": t.region,
        "timeout_seconds": 5,
    }))
    .unwrap();
    scrim_server::ai::store(
        &platform,
        &scrim_server::accounts::Act::operator(t.id.as_str()),
        &t,
        scrim_server::ai::AiChange {
            settings: Some(settings),
            api_key: None,
            accept_terms: true,
        },
    )
    .await
    .unwrap();
    drop(platform);

    let (code, out, err) = explain(&["--preview"]);
    assert_eq!(code, 0, "{err}");
    let body: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(body["model"], "local-model");
    assert!(
        body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains(&trace_id)
    );
    for s in scrim_demo::planted_secrets() {
        assert!(!out.contains(s), "{s:?} in the preview");
    }
    assert!(err.contains("preview only, nothing was sent"), "{err}");
    let sha = err
        .split("sha256 ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("{err}"))
        .to_owned();
    assert_eq!(sha.len(), 64, "{err}");

    let (code, _, err) = explain(&["--expect-sha256", &"0".repeat(64)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no longer the one confirmed"), "{err}");

    // The confirmed body is sent; the provider is not there: a clear error.
    let (code, out, err) = explain(&["--expect-sha256", &sha]);
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(err.contains("could not be reached"), "{err}");

    // Each attempt is in the tenant's audit log, with the digest.
    let log = scrim_ok(&["audit", "export", "--tenant", &tenant, "--data-dir", d]);
    assert!(log.contains("\"ai.preview\""), "{log}");
    assert!(log.contains(&sha));
    assert!(
        log.lines()
            .any(|l| l.contains("\"ai.request\"") && l.contains("failed"))
    );
}
