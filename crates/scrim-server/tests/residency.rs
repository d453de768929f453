//! Data residency: with two regions, everything of a tenant (WAL, segments, compacted and
//! rewritten segments, backups) is written in its own region's locations and never in the
//! other's; a node that does not serve a tenant's region refuses its requests.
//!
//! Runs on SQLite with local directories and, when `SCRIM_TEST_POSTGRES_URL` and
//! `SCRIM_TEST_S3_URL` are set (what `scripts/garage-up.sh` prints; `.ci/run` does), on
//! PostgreSQL with each region's segments and backups under its own S3 prefix; without them
//! that variant prints why it is skipped and passes.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use scrim_server::accounts::Act;
use scrim_server::admin::{self, TenantOptions};
use scrim_server::backup::{self, Scope};
use scrim_server::regions::RegionConfig;
use scrim_server::{PlatformConfig, Server, ServerConfig, ServerError};
use serde_json::json;

mod common;
use common::*;

/// Where one region keeps things: its directory (WAL, and segments and backups when local),
/// and its segment store and backup destination as configured.
struct Place {
    dir: PathBuf,
    config: RegionConfig,
}

fn place(root: &Path, name: &str, backend: &Backend, run: &str) -> Place {
    let dir = root.join(name);
    let (segments, backups) = match backend {
        Backend::Local => (
            dir.join("segments").display().to_string(),
            dir.join("backups").display().to_string(),
        ),
        Backend::PgS3 { s3, .. } => (
            s3_under(s3, &format!("residency-{run}/{name}/segments")),
            s3_under(s3, &format!("residency-{run}/{name}/backups")),
        ),
    };
    Place {
        config: RegionConfig {
            name: name.into(),
            object_store: Some(segments),
            wal_dir: Some(dir.join("wal")),
            backup_to: Some(backups),
        },
        dir,
    }
}

/// Every object under a region: its local directory's files, and its S3 prefixes' objects
/// (segment store and backups), by path.
async fn objects_of(p: &Place) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![p.dir.clone()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    for url in [&p.config.object_store, &p.config.backup_to]
        .into_iter()
        .flatten()
        .filter(|u| u.starts_with("s3://"))
    {
        let store = scrim_store::object_store_from_url(url).unwrap();
        let listed: Vec<object_store::ObjectMeta> = store.list(None).try_collect().await.unwrap();
        for m in listed {
            let bytes = object_store::ObjectStoreExt::get(&*store, &m.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            out.push((format!("{url}#{}", m.location), bytes.to_vec()));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

struct Tenant {
    name: &'static str,
    id: String,
    ingest: String,
    read: String,
    delete: String,
}

async fn tenant(server: &Server, name: &'static str, region: &str) -> Tenant {
    let p = server.platform();
    let options = TenantOptions {
        region: Some(region.into()),
        ..TenantOptions::default()
    };
    let t = admin::create_tenant(p, &Act::operator("-"), name, &options)
        .await
        .unwrap();
    assert_eq!(t.region, region);
    let act = Act::operator(t.id.as_str());
    let mut keys = Vec::new();
    for scopes in ["ingest", "read", "delete"] {
        let scopes = scopes.parse().unwrap();
        let (_, key) = admin::create_api_key(p, &act, name, scopes, Default::default())
            .await
            .unwrap();
        keys.push(key.expose());
    }
    let [ingest, read, delete] = <[String; 3]>::try_from(keys).unwrap();
    Tenant {
        name,
        id: t.id.to_string(),
        ingest,
        read,
        delete,
    }
}

async fn span_count(server: &Server, t: &Tenant) -> (u16, serde_json::Value) {
    let a = call(
        server,
        "POST",
        "/api/v1/sql",
        &Cred::Key(t.read.clone()),
        Some(json!({ "query": "SELECT count(*) FROM spans" })),
    )
    .await;
    (a.status, a.body)
}

async fn start(
    data: &Path,
    database_url: Option<String>,
    regions: Vec<RegionConfig>,
) -> Result<Server, ServerError> {
    let mut platform = PlatformConfig::in_dir(data);
    platform.database_url = database_url;
    platform.regions = regions;
    let mut config = ServerConfig::loopback_ephemeral(platform);
    config.flush_interval = Duration::from_secs(3600);
    config.flush_rows = usize::MAX;
    config.compaction.interval = Duration::from_secs(3600);
    config.compaction.settle = Duration::ZERO;
    config.compaction.grace = Duration::ZERO;
    Server::start(config).await
}

async fn two_regions(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let run = suffix();
    let (database_url, _schema) = match &backend {
        Backend::Local => (None, None),
        Backend::PgS3 { pg, .. } => {
            let (url, schema) = fresh_schema(pg, "residency");
            (Some(url), Some(schema))
        }
    };
    let data = root.path().join("data");
    let eu = place(root.path(), "eu", &backend, &run);
    let us = place(root.path(), "us", &backend, &run);
    let both = vec![eu.config.clone(), us.config.clone()];
    let server = start(&data, database_url.clone(), both).await.unwrap();

    // A tenant's region is one of the configured ones, and never guessed among several.
    let act = Act::operator("-");
    for region in [None, Some("ap")] {
        let options = TenantOptions {
            region: region.map(Into::into),
            ..TenantOptions::default()
        };
        let e = admin::create_tenant(server.platform(), &act, "nowhere", &options)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("eu, us"), "{e}");
    }
    let alpha = tenant(&server, "alpha", "eu").await;
    let beta = tenant(&server, "beta", "us").await;

    // Everything that writes: ingest (WAL), flushes, compaction, a selective deletion (a
    // rewrite), an export, a backup per region.
    let start_at = SystemTime::now() - Duration::from_secs(600);
    for round in 0..2 {
        for t in [&alpha, &beta] {
            let at = start_at + Duration::from_secs(60 * round);
            send_shop_at(&server, &t.ingest, 7 + round, 3, at).await;
        }
        server.flush().await.unwrap();
    }
    assert!(server.compact().await.unwrap() > 0);
    // A last batch stays in the WAL only.
    for t in [&alpha, &beta] {
        send_shop_at(&server, &t.ingest, 99, 1, start_at).await;
    }
    let selection = scrim_server::deletion::Selection {
        service: Some("checkout".into()),
        ..Default::default()
    };
    for t in [&alpha, &beta] {
        let d = scrim_server::deletion::operator_delete_rows(
            server.platform(),
            t.name,
            &selection,
            true,
        )
        .await
        .unwrap();
        assert_eq!(d.status, scrim_meta::DeletionStatus::Done, "{d:?}");
    }
    let mut exported = Vec::new();
    let rows = scrim_server::export::export_to_writer(
        server.platform(),
        alpha.name,
        &scrim_server::export::ExportRequest::from_params(
            [("signal", "traces"), ("format", "jsonl")],
            None,
        )
        .unwrap(),
        &mut exported,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(rows > 0);
    let key_file = root.path().join("backup.key");
    for region in ["eu", "us"] {
        let scope = Scope {
            tenant: None,
            region: Some(region.into()),
        };
        let dest = backup::destination(server.platform(), &scope, None)
            .await
            .unwrap();
        let c = backup::create(server.platform(), &key_file, &dest, &scope)
            .await
            .unwrap();
        assert_eq!(c.tenants, 1, "{region}: {c:?}");
        assert!(c.copied > 0, "{region}: {c:?}");
        let listed = backup::list(&dest, &backup::BackupKey::load(&key_file).unwrap())
            .await
            .unwrap();
        let expected = if region == "eu" { "alpha" } else { "beta" };
        assert_eq!(listed[0].tenants, [expected], "{region}");
    }
    // A region's backup never restores into another region; a scope that names a tenant
    // of another region is refused before any key is made.
    let eu_scope = Scope {
        tenant: None,
        region: Some("eu".into()),
    };
    let eu_dest = backup::destination(server.platform(), &eu_scope, None)
        .await
        .unwrap();
    let us_scope = Scope {
        tenant: None,
        region: Some("us".into()),
    };
    let e = backup::restore(server.platform(), &key_file, &eu_dest, None, &us_scope)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no tenant of region us"), "{e}");
    let fresh_key = root.path().join("fresh.key");
    let crossed = Scope {
        tenant: Some("alpha".into()),
        region: Some("us".into()),
    };
    let e = backup::create(server.platform(), &fresh_key, &eu_dest, &crossed)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is in region eu"), "{e}");
    assert!(!fresh_key.exists());
    // A backup across regions is refused: its one destination would hold both.
    let e = backup::destination(server.platform(), &Scope::default(), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("choose it with --region"), "{e}");
    let (status, before) = span_count(&server, &alpha).await;
    assert_eq!(status, 200, "{before}");

    // Each region holds its tenant's WAL, segments and backups, and not one byte naming
    // the other tenant; the data directory holds no telemetry at all.
    for (home, own, other) in [(&eu, &alpha, &beta), (&us, &beta, &alpha)] {
        let objects = objects_of(home).await;
        let kinds = ["/wal/", "/segments", "/backups"];
        for kind in kinds {
            assert!(
                objects
                    .iter()
                    .any(|(p, _)| p.contains(kind) && p.contains(&own.id)),
                "{}: no {kind} object of {}",
                home.config.name,
                own.name
            );
        }
        for (path, bytes) in &objects {
            assert!(
                !path.contains(&other.id) && !contains(bytes, other.id.as_bytes()),
                "{}: {path} is {}'s",
                home.config.name,
                other.name
            );
        }
    }
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !["wal", "segments"].contains(&name.as_str()),
            "telemetry outside the regions: {name}"
        );
    }
    server.shutdown().await;

    // A node of region `us` only: alpha (eu) is refused, neither read nor written here,
    // and its WAL in eu is not replayed; beta is served.
    let node = start(&data, database_url, vec![us.config.clone()])
        .await
        .unwrap();
    let (status, body) = span_count(&node, &alpha).await;
    assert_eq!(status, 421, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("region eu"),
        "{body}"
    );
    let (status, body) = span_count(&node, &beta).await;
    assert_eq!(status, 200, "{body}");
    let refused = exporter(&node, &alpha.ingest)
        .export(&scrim_demo::Generator::new(1).tick(5, SystemTime::now(), true)[0])
        .await;
    match refused {
        scrim_otlp::ExportOutcome::Rejected { reason, .. } => {
            assert!(
                reason.contains("421") && reason.contains("region eu"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    let d = call(
        &node,
        "POST",
        "/api/v1/deletions",
        &Cred::Key(alpha.delete.clone()),
        Some(json!({ "scope": "selective", "service": "cart" })),
    )
    .await;
    assert_eq!(d.status, 421, "{}", d.body);
    let e =
        scrim_server::deletion::operator_delete_rows(node.platform(), alpha.name, &selection, true)
            .await
            .unwrap_err();
    assert!(matches!(e, ServerError::OtherRegion { .. }), "{e}");
    node.shutdown().await;
}

#[tokio::test]
async fn a_tenant_s_bytes_stay_in_its_region() {
    two_regions(Backend::Local).await;
}

#[tokio::test]
async fn a_tenant_s_bytes_stay_in_its_region_on_postgres_and_s3() {
    match (
        std::env::var("SCRIM_TEST_POSTGRES_URL"),
        std::env::var("SCRIM_TEST_S3_URL"),
    ) {
        (Ok(pg), Ok(s3)) => two_regions(Backend::PgS3 { pg, s3 }).await,
        _ => eprintln!(
            "SKIPPED: set SCRIM_TEST_POSTGRES_URL and SCRIM_TEST_S3_URL (with \
             AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), e.g. eval \"$(scripts/garage-up.sh)\"; \
             .ci/run does"
        ),
    }
}

/// A one-region deployment whose region is renamed in its config (or whose tenants were
/// created without the config) would strand acknowledged WAL records: the server refuses
/// to start and says what to serve, rather than skip them.
#[tokio::test]
async fn a_wal_of_another_region_stops_the_start_instead_of_being_stranded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, None, Vec::new()).await.unwrap();
    let t = tenant(&server, "legacy", "local").await;
    send_shop_at(&server, &t.ingest, 5, 1, SystemTime::now()).await;
    server.shutdown().await;

    let renamed = vec![RegionConfig::single("eu", None)];
    let e = match start(&data, None, renamed).await {
        Ok(_) => panic!("started with a stranded WAL"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("tenant legacy is in region local") && e.contains("serve region local"),
        "{e}"
    );
    // Serving its region again, everything it acknowledged is there.
    let server = start(&data, None, Vec::new()).await.unwrap();
    let (status, body) = span_count(&server, &t).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["rows"][0][0].as_u64().unwrap() > 0, "{body}");
    server.shutdown().await;
}
