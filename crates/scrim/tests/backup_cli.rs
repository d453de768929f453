//! `scrim backup` as an operator runs it: a server stores the demo shop's telemetry; the
//! operator backs it up (creating the backup key), backs up again (nothing copied), loses
//! segment files and catalog rows, restores, and exports the same spans as before. A wrong
//! backup key is refused with exit code 2; both commands are in the platform's audit chain.

mod common;

use std::time::{Duration, SystemTime};

use common::{scrim_ok, scrim_output};
use scrim_otlp::{Batch, ExportOutcome, Exporter, ExporterConfig, Protocol};
use scrim_server::{PlatformConfig, Server, ServerConfig};

/// A server in `dir` takes the demo shop's traffic and writes it to segments; returns the
/// tenant's name and the spans sent.
async fn stored_shop(dir: &std::path::Path) -> (String, usize) {
    let mut config = ServerConfig::loopback_ephemeral(PlatformConfig::in_dir(dir));
    config.flush_interval = Duration::from_secs(3600);
    let server = Server::start(config).await.expect("server starts");
    let t = scrim_server::admin::demo_tenant(server.platform())
        .await
        .unwrap();
    let mut c = ExporterConfig::new(
        format!("http://{}", server.otlp_http_addr().unwrap()),
        Protocol::HttpProtobuf,
    );
    c.allow_http = true;
    c.headers.push((
        "authorization".into(),
        scrim_otlp::Credential::new(format!("Bearer {}", t.ingest_key)),
    ));
    let exporter = Exporter::new(c).unwrap();
    let mut g = scrim_demo::Generator::new(8);
    let now = SystemTime::now() - Duration::from_secs(30);
    let mut spans = 0;
    for i in 0..3 {
        for batch in g.tick(20, now + Duration::from_secs(i), false) {
            if let Batch::Traces(r) = &batch {
                spans += r
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum::<usize>();
            }
            let outcome = exporter.export(&batch).await;
            assert!(
                matches!(outcome, ExportOutcome::Delivered { .. }),
                "{outcome:?}"
            );
        }
        // One set of segments per second of traffic.
        server.flush().await.unwrap();
    }
    server.shutdown().await;
    (t.tenant, spans)
}

/// The spans `scrim export` finds (its count on standard error).
fn exported_spans(tenant: &str, d: &str, out: &std::path::Path) -> usize {
    let o = scrim_output(
        &[
            "export",
            "--tenant",
            tenant,
            "--signal",
            "traces",
            "--format",
            "jsonl",
            "--output",
            out.to_str().unwrap(),
            "--data-dir",
            d,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    std::fs::read_to_string(out).unwrap().lines().count()
}

/// The number before `word` in `line`.
fn number_before(text: &str, word: &str) -> usize {
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.trim_end_matches([',', ';']) == word)
        .unwrap_or_else(|| panic!("no {word:?} in {text:?}"));
    words[at - 1]
        .parse()
        .unwrap_or_else(|_| panic!("no number before {word:?} in {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_restore_and_list_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let backups = dir.path().join("backups");
    let b = backups.to_str().unwrap();
    let (tenant, spans) = stored_shop(&data).await;
    let export = dir.path().join("spans.jsonl");
    assert_eq!(exported_spans(&tenant, d, &export), spans);

    // The first backup creates the backup key and copies every segment.
    let out = scrim_output(&["backup", "create", "--to", b, "--data-dir", d], &[]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("created the backup key"), "{stderr}");
    assert!(stderr.contains("keep a copy off this host"), "{stderr}");
    let key_file = data.join("backup.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let first_id = stdout
        .lines()
        .next()
        .unwrap()
        .strip_prefix("backup ")
        .unwrap()
        .to_owned();
    let segments = number_before(&stdout, "segments:");
    assert!(segments >= 3, "{stdout}");
    assert_eq!(number_before(&stdout, "copied"), segments, "{stdout}");
    assert_eq!(number_before(&stdout, "already"), 0, "{stdout}");

    // The second copies nothing.
    let again = scrim_ok(&["backup", "create", "--to", b, "--data-dir", d]);
    assert_eq!(number_before(&again, "copied"), 0, "{again}");
    assert_eq!(number_before(&again, "already"), segments, "{again}");
    let listed = scrim_ok(&["backup", "list", "--from", b, "--data-dir", d]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.starts_with(&first_id), "{listed}");
    assert!(listed.contains(&tenant), "{listed}");

    // Segment files and the span catalog rows are lost.
    let meta = scrim_meta::Meta::open_in(&data).await.unwrap();
    let t = meta.tenant_by_name(&tenant).await.unwrap().unwrap();
    let span_rows: Vec<String> = meta
        .segments(
            &t.id,
            scrim_meta::Signal::Traces,
            scrim_meta::TimeRange::all(),
            None,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(
        meta.delete_segments(&t.id, &span_rows).await.unwrap() as usize,
        span_rows.len()
    );
    std::fs::remove_dir_all(data.join("segments")).unwrap();
    assert_eq!(exported_spans(&tenant, d, &export), 0);

    // A wrong backup key: refused with exit code 2, nothing changed.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, format!("{}\n", "ab".repeat(32))).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = scrim_output(
        &[
            "backup",
            "restore",
            "--from",
            b,
            "--backup-key-file",
            wrong.to_str().unwrap(),
            "--data-dir",
            d,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("were made with backup key"), "{stderr}");
    assert!(!data.join("segments").join("local").exists());

    // Restore (the latest backup): everything back; the same spans exported.
    let restored = scrim_ok(&[
        "backup",
        "restore",
        "--from",
        b,
        "--backup-key-file",
        key_file.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert_eq!(number_before(&restored, "objects"), segments, "{restored}");
    assert_eq!(
        number_before(&restored, "catalog"),
        span_rows.len(),
        "{restored}"
    );
    assert_eq!(exported_spans(&tenant, d, &export), spans);
    let twice = scrim_ok(&["backup", "restore", "--from", b, "--data-dir", d]);
    assert_eq!(number_before(&twice, "objects"), 0, "{twice}");
    assert_eq!(number_before(&twice, "catalog"), 0, "{twice}");

    // Pruning everything made before now keeps the newest backup only.
    let pruned = scrim_ok(&[
        "backup",
        "prune",
        "--from",
        b,
        "--older-than-days",
        "0",
        "--data-dir",
        d,
    ]);
    assert!(pruned.contains("1 backup removed, 1 kept"), "{pruned}");
    let listed = scrim_ok(&["backup", "list", "--from", b, "--data-dir", d]);
    assert_eq!(listed.lines().count(), 1, "{listed}");

    // Recorded in the platform's chain: two backups, two restores (the refused one never
    // started), one prune.
    let records = scrim_ok(&["audit", "export", "--tenant", "-", "--data-dir", d]);
    let actions: Vec<String> = records
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["action"].as_str().unwrap().starts_with("backup."))
        .map(|r| {
            assert_eq!(r["actor"]["kind"], "operator");
            r["action"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "backup.create",
            "backup.create",
            "backup.restore",
            "backup.restore",
            "backup.prune"
        ]
    );
    let _ = scrim_ok(&["--help"]);
}
