//! Tenant data-key rotation through the running server and the command line: data written
//! before and after a rotation reads together by every route, compaction re-encrypts the
//! old segments under the new key, the WAL replays records under either key after a crash,
//! pseudonyms do not change, a master rotation still opens every version, each rotation is
//! audited (and refused without its record), and destroying the keys leaves nothing
//! readable.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scrim_otlp::{Batch, Signal};
use scrim_server::admin::DemoTenant;
use scrim_server::keys::{context, rotate_master_key};
use scrim_server::tenant_keys::rotate_tenant_key_by_name;
use scrim_server::{Platform, PlatformConfig, Server, ServerConfig};
use serde_json::{Value, json};

mod common;
use common::*;

/// Explicit flushes only; compaction merges whatever is small, at once, and deletes what
/// it replaced without a grace period.
fn settings(c: &mut ServerConfig) {
    c.flush_rows = usize::MAX;
    c.compaction.interval = Duration::from_secs(3600);
    c.compaction.settle = Duration::ZERO;
    c.compaction.grace = Duration::ZERO;
}

async fn start(dir: &Path) -> Server {
    start_with(dir, settings).await
}

/// Ten minutes into the previous hour: both periods' data land in one hour directory, so
/// compaction can merge them.
fn in_one_hour() -> SystemTime {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    UNIX_EPOCH + Duration::from_secs(now - now % 3600 - 3600 + 600)
}

fn items(batches: &[Batch], signal: Signal) -> u64 {
    batches
        .iter()
        .filter(|b| b.signal() == signal)
        .map(|b| b.item_count())
        .sum()
}

/// Spans per trace id in what was sent.
fn spans_per_trace(batches: &[Batch]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for b in batches {
        if let Batch::Traces(t) = b {
            for s in t
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
            {
                *out.entry(scrim_store::convert::hex(&s.trace_id))
                    .or_insert(0) += 1;
            }
        }
    }
    out
}

fn spans_in(trace: &Value) -> usize {
    trace["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().unwrap())
        .map(|ss| ss["spans"].as_array().unwrap().len())
        .sum()
}

async fn sql(server: &Server, cred: &Cred, query: &str) -> Value {
    let a = call(
        server,
        "POST",
        "/api/v1/sql",
        cred,
        Some(json!({ "query": query })),
    )
    .await;
    assert_eq!(a.status, 200, "{query}: {}", a.body);
    a.body["rows"].clone()
}

async fn count(server: &Server, cred: &Cred, table: &str) -> u64 {
    sql(server, cred, &format!("SELECT count(*) FROM {table}")).await[0][0]
        .as_u64()
        .unwrap()
}

/// One span of a trace of its own, with `enduser.id` = `u-123` (which the tenant's policy
/// pseudonymises).
fn user_span(seed: u64, start: SystemTime) -> Batch {
    let mut req = scrim_store::generate::TraceGen {
        traces: 1,
        spans_per_trace: 1,
        seed,
        start_ns: start.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64,
        ..Default::default()
    }
    .traces(0..1);
    req.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(scrim_store::generate::kv("enduser.id", "u-123"));
    Batch::Traces(req)
}

async fn send(server: &Server, key: &str, batch: &Batch) {
    let outcome = exporter(server, key).export(batch).await;
    assert!(
        matches!(outcome, scrim_otlp::ExportOutcome::Delivered { .. }),
        "{outcome:?}"
    );
}

async fn tenant_id(server: &Server, t: &DemoTenant) -> scrim_meta::TenantId {
    server
        .platform()
        .meta()
        .tenant_by_name(&t.tenant)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn per_version(server: &Server, t: &scrim_meta::TenantId) -> Vec<(u32, u64)> {
    server
        .platform()
        .meta()
        .segments_per_key_version(t)
        .await
        .unwrap()
}

/// Every route reads every row of both periods.
async fn everything_reads(server: &Server, owner: &Cred, sent: &[Batch], traces: &[&str]) {
    let spans = items(sent, Signal::Traces);
    assert_eq!(count(server, owner, "spans").await, spans);
    assert_eq!(
        count(server, owner, "logs").await,
        items(sent, Signal::Logs)
    );
    let per_trace = spans_per_trace(sent);
    for id in traces {
        let a = call(server, "GET", &format!("/api/v1/traces/{id}"), owner, None).await;
        assert_eq!(a.status, 200, "{id}: {}", a.body);
        assert_eq!(spans_in(&a.body), per_trace[*id], "{id}");
    }
    let a = call(server, "GET", "/api/v1/traces?limit=1000", owner, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["traces"].as_array().unwrap().len(), per_trace.len());
    let a = call(
        server,
        "GET",
        "/api/v1/export?signal=traces&format=jsonl",
        owner,
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    let lines = a.body.as_str().unwrap().lines().count() as u64;
    assert_eq!(lines, spans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_tenant_reads_both_periods_and_compaction_moves_everything_to_the_new_key() {
    rotation(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_tenant_reads_both_periods_on_postgres_and_s3() {
    if let Some(backend) = pg_s3() {
        rotation(backend).await;
    }
}

async fn rotation(backend: Backend) {
    let site = Site::new(&backend, "rotation");
    let config = site.platform_config();
    let server = site.start(settings).await;
    let t = scrim_server::admin::demo_tenant(server.platform())
        .await
        .unwrap();
    let id = tenant_id(&server, &t).await;
    let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
    let a = call(
        &server,
        "PUT",
        "/api/v1/settings/capture-policy",
        &owner,
        Some(json!({ "policy": "[attributes]\npseudonymize = [\"enduser.id\"]\n" })),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Applies it if the tenant is open already (otherwise it is read at the first open).
    server.refresh_policies().await.unwrap();
    let start_at = in_one_hour();

    // Before the rotation, under key 1.
    let mut sent = send_shop_at(&server, &t.ingest_key, 1, 2, start_at).await;
    let shop_before = spans_per_trace(&sent).into_keys().next().unwrap();
    let before = user_span(71, start_at);
    send(&server, &t.ingest_key, &before).await;
    let user_before = spans_per_trace(std::slice::from_ref(&before))
        .into_keys()
        .next()
        .unwrap();
    sent.push(before);
    server.flush().await.unwrap();
    assert_eq!(per_version(&server, &id).await.len(), 1);
    assert_eq!(per_version(&server, &id).await[0].0, 1);

    // The rotation, on the running server.
    let a = call(
        &server,
        "POST",
        "/api/v1/settings/data-key/rotate",
        &owner,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (old_id, new_id) = (format!("{id}-1"), format!("{id}-2"));
    assert_eq!(
        a.body,
        json!({ "from_key_id": old_id, "to_key_id": new_id, "version": 2 })
    );
    // Recorded, by key ids only.
    let records = server
        .platform()
        .meta()
        .audit_chain(id.as_str(), 0, 1000)
        .await
        .unwrap();
    let rotation = records
        .iter()
        .find(|r| r.action == "key.tenant_rotate")
        .expect("the rotation is recorded");
    assert!(rotation.body.contains(&old_id) && rotation.body.contains(&new_id));
    let platform = server.platform();
    for k in platform.meta().tenant_data_keys(&id).await.unwrap() {
        let key = platform
            .keys()
            .unwrap(
                &k.wrapped_key,
                &context(scrim_meta::WrappedKeyOwner::Tenant(&id, k.version)),
            )
            .unwrap();
        let hex = scrim_store::convert::hex(key.as_bytes());
        for r in &records {
            assert!(!r.body.contains(&hex), "a key is in {}", r.body);
        }
    }

    // After it, under key 2.
    let after = send_shop_at(&server, &t.ingest_key, 2, 2, start_at).await;
    let shop_after = spans_per_trace(&after).into_keys().next().unwrap();
    sent.extend(after);
    let after = user_span(72, start_at);
    send(&server, &t.ingest_key, &after).await;
    let user_after = spans_per_trace(std::slice::from_ref(&after))
        .into_keys()
        .next()
        .unwrap();
    sent.push(after);
    server.flush().await.unwrap();
    let versions = per_version(&server, &id).await;
    assert_eq!(
        versions.iter().map(|v| v.0).collect::<Vec<_>>(),
        [1, 2],
        "{versions:?}"
    );
    let a = call(&server, "GET", "/api/v1/settings/data-key", &owner, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["current_version"], 2);
    assert_eq!(a.body["versions"][0]["segments"], versions[0].1);
    assert_eq!(a.body["versions"][1]["key_id"], new_id);

    // Traces from each period, by every route.
    let traces = [
        shop_before.as_str(),
        user_before.as_str(),
        shop_after.as_str(),
        user_after.as_str(),
    ];
    everything_reads(&server, &owner, &sent, &traces).await;
    // The pseudonym of u-123 did not change with the key.
    let pseudonyms = sql(
        &server,
        &owner,
        "SELECT DISTINCT attributes['enduser.id'] FROM spans \
         WHERE attributes['enduser.id'] IS NOT NULL",
    )
    .await;
    assert_eq!(pseudonyms.as_array().unwrap().len(), 1, "{pseudonyms}");
    let pseudonym = pseudonyms[0][0].as_str().unwrap();
    assert!(
        pseudonym.starts_with('[') && !pseudonym.contains("u-123"),
        "{pseudonym}"
    );
    server.shutdown().await;

    // A master rotation after the tenant rotation rewraps both versions, and a server
    // under the new master key reads both periods.
    let r = rotate_master_key(&config).await.unwrap();
    assert_eq!(r.keys, 3, "two tenant key versions and the identity key");
    let server = site.start(settings).await;
    let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
    everything_reads(&server, &owner, &sent, &traces).await;
    // Opened again after the rotation, the tenant still pseudonymises u-123 the same way.
    let third = user_span(73, start_at);
    send(&server, &t.ingest_key, &third).await;
    sent.push(third);
    server.flush().await.unwrap();
    let again = sql(
        &server,
        &owner,
        "SELECT DISTINCT attributes['enduser.id'] FROM spans \
         WHERE attributes['enduser.id'] IS NOT NULL",
    )
    .await;
    assert_eq!(again, pseudonyms);
    let n = sql(
        &server,
        &owner,
        "SELECT count(*) FROM spans WHERE attributes['enduser.id'] IS NOT NULL",
    )
    .await;
    assert_eq!(n[0][0], 3);

    // Compaction merges the old and the new segments of each signal into one under the
    // new key: key 1 encrypts nothing any more.
    let merged = server.compact().await.unwrap();
    assert!(merged >= 2, "{merged} merged");
    assert_eq!(
        per_version(&server, &id).await,
        [(2, merged as u64)],
        "every segment is under key 2"
    );
    for signal in [scrim_meta::Signal::Traces, scrim_meta::Signal::Logs] {
        let segs = server
            .platform()
            .meta()
            .segments(&id, signal, scrim_meta::TimeRange::all(), None)
            .await
            .unwrap();
        assert_eq!(segs.len(), 1, "{signal}");
        assert_eq!(segs[0].key_version, 2);
    }
    // The files on disk: only the merged ones, each naming key 2 in its footer.
    let files: Vec<_> = stored_objects(&server, "")
        .await
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
        .collect();
    assert_eq!(files.len() as u64, merged as u64);
    for (path, bytes) in &files {
        let names = |id: &str| bytes.windows(id.len()).any(|w| w == id.as_bytes());
        assert!(names(&new_id) && !names(&old_id), "{path}");
    }
    everything_reads(&server, &owner, &sent, &traces).await;
    let again = sql(
        &server,
        &owner,
        "SELECT DISTINCT attributes['enduser.id'] FROM spans \
         WHERE attributes['enduser.id'] IS NOT NULL",
    )
    .await;
    assert_eq!(again, pseudonyms);
    server.shutdown().await;
}

fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("segments")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out
}

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                return true;
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_records_under_the_old_key_replay_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let t = scrim_server::admin::demo_tenant(server.platform())
        .await
        .unwrap();
    let id = tenant_id(&server, &t).await;
    let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
    let start_at = SystemTime::now() - Duration::from_secs(60);

    // Acknowledged, in the WAL only: some under key 1, the rest under key 2.
    let mut sent = send_shop_at(&server, &t.ingest_key, 1, 2, start_at).await;
    let a = call(
        &server,
        "POST",
        "/api/v1/settings/data-key/rotate",
        &owner,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    sent.extend(send_shop_at(&server, &t.ingest_key, 2, 2, start_at).await);
    assert_eq!(
        count(&server, &owner, "spans").await,
        items(&sent, Signal::Traces)
    );
    assert!(
        per_version(&server, &id).await.is_empty(),
        "nothing is flushed"
    );
    let wal = dir.path().join("wal").join(id.as_str());
    assert!(any_file_holds(&wal, format!("{id}-1").as_bytes()));
    assert!(any_file_holds(&wal, format!("{id}-2").as_bytes()));

    // A crash: the server is dropped without its final flush.
    drop(server);
    let server = start(dir.path()).await;
    let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
    assert_eq!(
        count(&server, &owner, "spans").await,
        items(&sent, Signal::Traces)
    );
    assert_eq!(
        count(&server, &owner, "logs").await,
        items(&sent, Signal::Logs)
    );
    // Flushed now, everything is written under the current key.
    server.flush().await.unwrap();
    let versions = per_version(&server, &id).await;
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].0, 2);
    assert_eq!(
        count(&server, &owner, "spans").await,
        items(&sent, Signal::Traces)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_rotation_reaches_a_running_server_and_is_refused_without_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = PlatformConfig::in_dir(dir.path());
    let server = start(dir.path()).await;
    let t = scrim_server::admin::demo_tenant(server.platform())
        .await
        .unwrap();
    let id = tenant_id(&server, &t).await;
    let start_at = SystemTime::now() - Duration::from_secs(60);
    let mut sent = send_shop_at(&server, &t.ingest_key, 1, 1, start_at).await;
    server.flush().await.unwrap();

    // `scrim key rotate-tenant`, while the server runs: it switches at its next round.
    let r = rotate_tenant_key_by_name(&config, &t.tenant).await.unwrap();
    assert_eq!(
        (r.from.clone(), r.to.clone()),
        (format!("{id}-1"), format!("{id}-2"))
    );
    server.refresh_policies().await.unwrap();
    sent.extend(send_shop_at(&server, &t.ingest_key, 2, 1, start_at).await);
    server.flush().await.unwrap();
    let versions: Vec<u32> = per_version(&server, &id)
        .await
        .iter()
        .map(|v| v.0)
        .collect();
    assert_eq!(versions, [1, 2]);
    let records = server
        .platform()
        .meta()
        .audit_chain(id.as_str(), 0, 1000)
        .await
        .unwrap();
    let rotation = records
        .iter()
        .find(|r| r.action == "key.tenant_rotate")
        .unwrap();
    assert!(rotation.body.contains("operator"), "{}", rotation.body);
    let read = Cred::Key(t.read_key.clone());
    assert_eq!(
        count(&server, &read, "spans").await,
        items(&sent, Signal::Traces)
    );
    assert!(rotate_tenant_key_by_name(&config, "nobody").await.is_err());

    // No audit record, no rotation: by the API and by the command line.
    let url = format!(
        "sqlite://{}",
        dir.path().join(scrim_meta::SQLITE_FILE).display()
    );
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_records \
         BEGIN SELECT RAISE(ABORT, 'audit store down'); END",
    )
    .execute(&db)
    .await
    .unwrap();
    let owner = {
        // Signing in needs its record too: sign in first, then take the store down.
        sqlx::query("DROP TRIGGER audit_down")
            .execute(&db)
            .await
            .unwrap();
        let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
        sqlx::query(
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_records \
             BEGIN SELECT RAISE(ABORT, 'audit store down'); END",
        )
        .execute(&db)
        .await
        .unwrap();
        owner
    };
    let a = call(
        &server,
        "POST",
        "/api/v1/settings/data-key/rotate",
        &owner,
        None,
    )
    .await;
    assert_eq!(a.status, 503, "{}", a.body);
    let err = rotate_tenant_key_by_name(&config, &t.tenant)
        .await
        .unwrap_err();
    assert!(
        matches!(err, scrim_server::ServerError::AuditUnavailable),
        "{err}"
    );
    let meta = server.platform().meta();
    assert_eq!(meta.tenant_data_keys(&id).await.unwrap().len(), 2);
    sqlx::query("DROP TRIGGER audit_down")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroying_the_tenants_keys_leaves_none_of_its_data_readable() {
    let dir = tempfile::tempdir().unwrap();
    let config = PlatformConfig::in_dir(dir.path());
    let server = start(dir.path()).await;
    let t = scrim_server::admin::demo_tenant(server.platform())
        .await
        .unwrap();
    let id = tenant_id(&server, &t).await;
    let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
    let start_at = SystemTime::now() - Duration::from_secs(60);
    send_shop_at(&server, &t.ingest_key, 1, 1, start_at).await;
    server.flush().await.unwrap();
    let a = call(
        &server,
        "POST",
        "/api/v1/settings/data-key/rotate",
        &owner,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    send_shop_at(&server, &t.ingest_key, 2, 1, start_at).await;
    server.flush().await.unwrap();
    // And some only in the WAL, under key 2.
    send_shop_at(&server, &t.ingest_key, 3, 1, start_at).await;
    let wrapped: Vec<Vec<u8>> = server
        .platform()
        .meta()
        .tenant_data_keys(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.wrapped_key)
        .collect();
    assert_eq!(wrapped.len(), 2);
    drop(server);

    let platform = Platform::open(&config).await.unwrap();
    assert_eq!(platform.meta().destroy_tenant_keys(&id).await.unwrap(), 2);
    assert!(
        platform
            .meta()
            .tenant_data_keys(&id)
            .await
            .unwrap()
            .is_empty()
    );
    platform.meta().close().await;
    // No version of the key is left anywhere in the data directory: neither in the
    // metadata database (rows zeroed, journal truncated) nor elsewhere.
    for (v, w) in wrapped.iter().enumerate() {
        assert!(
            !any_file_holds(dir.path(), w),
            "key version {} is on disk",
            v + 1
        );
    }
    // The segments and the WAL are still there, and no one can read them: the server
    // starts (it does not replay the WAL), and every read of the tenant fails.
    assert!(!parquet_files(dir.path()).is_empty());
    let server = start(dir.path()).await;
    let read = Cred::Key(t.read_key.clone());
    let a = call(
        &server,
        "POST",
        "/api/v1/sql",
        &read,
        Some(json!({ "query": "SELECT count(*) FROM spans" })),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["error"].as_str().unwrap().contains("destroyed"),
        "{}",
        a.body
    );
    let mut out = Vec::new();
    let err = scrim_server::export::export_to_writer(
        server.platform(),
        &t.tenant,
        &scrim_server::export::ExportRequest::from_params(
            [("signal", "traces"), ("format", "jsonl")],
            None,
        )
        .unwrap(),
        &mut out,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("destroyed"), "{err}");
    assert!(out.is_empty());
    // A rotation cannot bring a key back.
    assert!(rotate_tenant_key_by_name(&config, &t.tenant).await.is_err());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_rotated_tenant_restores_segments_under_both_keys() {
    use scrim_server::backup::{self, Destination, Scope};
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let t = scrim_server::admin::demo_tenant(server.platform())
        .await
        .unwrap();
    let id = tenant_id(&server, &t).await;
    let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
    let start_at = SystemTime::now() - Duration::from_secs(60);
    let mut sent = send_shop_at(&server, &t.ingest_key, 1, 1, start_at).await;
    server.flush().await.unwrap();
    let a = call(
        &server,
        "POST",
        "/api/v1/settings/data-key/rotate",
        &owner,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    sent.extend(send_shop_at(&server, &t.ingest_key, 2, 1, start_at).await);
    server.flush().await.unwrap();
    let versions = per_version(&server, &id).await;
    assert_eq!(versions.iter().map(|v| v.0).collect::<Vec<_>>(), [1, 2]);

    let dest_dir = dir.path().join("backups");
    let dest = Destination::open(dest_dir.to_str().unwrap()).unwrap();
    let key_file = dir.path().join("backup.key");
    let scope = Scope::default();
    backup::create(server.platform(), &key_file, &dest, &scope)
        .await
        .unwrap();
    // No key of either version is in the backup, wrapped or not.
    for k in server
        .platform()
        .meta()
        .tenant_data_keys(&id)
        .await
        .unwrap()
    {
        assert!(!any_file_holds(&dest_dir, &k.wrapped_key));
    }

    // Every segment lost, files and catalog rows; the restore puts them back with the key
    // version each is under, and both periods read again.
    let meta = server.platform().meta();
    let mut paths = Vec::new();
    for signal in [
        scrim_meta::Signal::Traces,
        scrim_meta::Signal::Logs,
        scrim_meta::Signal::Metrics,
    ] {
        for s in meta
            .segments(&id, signal, scrim_meta::TimeRange::all(), None)
            .await
            .unwrap()
        {
            paths.push(s.path);
        }
    }
    meta.delete_segments(&id, &paths).await.unwrap();
    for p in &paths {
        std::fs::remove_file(dir.path().join("segments").join(p)).unwrap();
    }
    assert_eq!(count(&server, &owner, "spans").await, 0);
    let r = backup::restore(server.platform(), &key_file, &dest, None, &scope)
        .await
        .unwrap();
    assert_eq!(
        (r.objects, r.catalog_rows),
        (paths.len(), paths.len()),
        "{r:?}"
    );
    assert_eq!(per_version(&server, &id).await, versions);
    assert_eq!(
        count(&server, &owner, "spans").await,
        items(&sent, Signal::Traces)
    );
    assert_eq!(
        count(&server, &owner, "logs").await,
        items(&sent, Signal::Logs)
    );
    server.shutdown().await;
}
