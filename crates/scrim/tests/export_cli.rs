//! `scrim export` as an operator runs it: the demo shop's telemetry, stored by a server in
//! the same data directory, exported to files with the count on standard error, and the
//! export recorded in the tenant's audit log before anything was written.

mod common;

use common::{scrim_ok, scrim_output, stored_shop};

const KEY_HEX: &str = "00d1c2b3a4958677685948392a1b0c0dfeedfacecafebeef0123456789abcdef";

fn count_on(stderr: &str, what: &str) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.contains("written to"))
        .unwrap_or_else(|| panic!("no final count in {stderr:?}"));
    assert!(line.contains(what), "{line}");
    line.split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_files_counts_on_stderr_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let (tenant, spans, logs) = stored_shop(&data).await;
    assert!(spans >= 100, "{spans}");

    // Traces as OTLP/JSON lines.
    let traces = dir.path().join("traces.otlp.jsonl");
    let out = scrim_output(
        &[
            "export",
            "--tenant",
            &tenant,
            "--signal",
            "traces",
            "--format",
            "otlp-json",
            "--output",
            traces.to_str().unwrap(),
            "--data-dir",
            d,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "the export went to the file");
    assert_eq!(count_on(&stderr, "rows of traces"), spans, "{stderr}");
    let text = std::fs::read_to_string(&traces).unwrap();
    let mut in_file = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for rs in v["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                in_file += ss["spans"].as_array().unwrap().len();
            }
        }
    }
    assert_eq!(in_file, spans);
    for secret in scrim_demo::planted_secrets() {
        assert!(!text.contains(secret), "the export holds {secret:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&traces).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the export is the owner's only: {mode:o}");
    }

    // Logs of one service as CSV, to standard output.
    let out = scrim_output(
        &[
            "export",
            "--tenant",
            &tenant,
            "--signal",
            "logs",
            "--format",
            "csv",
            "--data-dir",
            d,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(count_on(&stderr, "standard output"), logs);
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.starts_with("time,observed_time,severity_number,"),
        "{csv}"
    );

    // Encrypted Parquet, with the key from a file.
    let key_file = dir.path().join("export.key");
    std::fs::write(&key_file, format!("{KEY_HEX}\n")).unwrap();
    let parquet = dir.path().join("traces.parquet");
    let out = scrim_output(
        &[
            "export",
            "--tenant",
            &tenant,
            "--signal",
            "traces",
            "--format",
            "parquet",
            "--key-file",
            key_file.to_str().unwrap(),
            "--output",
            parquet.to_str().unwrap(),
            "--data-dir",
            d,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(count_on(&stderr, "(parquet)"), spans);
    let bytes = std::fs::read(&parquet).unwrap();
    // Parquet with an encrypted footer starts and ends with "PARE" instead of "PAR1".
    assert!(
        bytes.starts_with(b"PARE") && bytes.ends_with(b"PARE"),
        "{:?} … {:?}",
        &bytes[..4],
        &bytes[bytes.len() - 4..]
    );
    assert!(
        !bytes.windows(8).any(|w| w == b"checkout"),
        "names in the clear"
    );

    // A key with another format is a usage error, and leaves no file behind.
    let refused = dir.path().join("refused.csv");
    let out = scrim_output(
        &[
            "export",
            "--tenant",
            &tenant,
            "--signal",
            "traces",
            "--format",
            "csv",
            "--key-file",
            key_file.to_str().unwrap(),
            "--output",
            refused.to_str().unwrap(),
            "--data-dir",
            d,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Parquet exports only"), "{stderr}");
    assert!(!refused.exists());

    // One record per export, by the operator, with its format; never the key.
    let records = scrim_ok(&[
        "audit",
        "export",
        "--tenant",
        &tenant,
        "--action",
        "telemetry.export",
        "--data-dir",
        d,
    ]);
    let records: Vec<serde_json::Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let formats: Vec<(&str, &str, bool)> = records
        .iter()
        .map(|r| {
            assert_eq!(r["actor"]["kind"], "operator");
            (
                r["target"].as_str().unwrap(),
                r["details"]["format"].as_str().unwrap(),
                r["details"]["encrypted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        formats,
        [
            ("traces", "otlp-json", false),
            ("logs", "csv", false),
            ("traces", "parquet", true)
        ]
    );
    let everything = scrim_ok(&["audit", "export", "--tenant", &tenant, "--data-dir", d]);
    assert!(!everything.contains(KEY_HEX) && !everything.contains(&KEY_HEX[..16]));
}
