//! Backups: made under a backup key of their own, incremental by segment, restored without
//! duplicates or losses, refused cleanly with a wrong key, recorded in the audit log.
//!
//! Each scenario runs on SQLite with a local directory and, when `SCRIM_TEST_POSTGRES_URL`
//! and `SCRIM_TEST_S3_URL` (with `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, what
//! `scripts/garage-up.sh` prints) are set, on PostgreSQL with segments and backups in the
//! S3-compatible store; without them those variants print why they are skipped and pass.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use scrim_server::admin::{self, DemoTenant};
use scrim_server::audit::{actions, record_of};
use scrim_server::backup::{self, BackupKey, Destination, Scope};
use scrim_server::regions::RegionConfig;
use scrim_server::{Server, ServerConfig, ServerError};
use serde_json::{Value, json};

mod common;
use common::*;

/// A server and a backup destination on one backend.
struct Env {
    server: Server,
    root: tempfile::TempDir,
    dest: String,
    _schema: Option<Schema>,
}

impl Env {
    async fn start(backend: &Backend, edit: impl FnOnce(&mut ServerConfig)) -> Env {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let (database_url, object_store, dest, schema) = match backend {
            Backend::Local => (
                None,
                None,
                root.path().join("backups").display().to_string(),
                None,
            ),
            Backend::PgS3 { pg, s3 } => {
                let run = suffix();
                let (url, schema) = fresh_schema(pg, "backup");
                (
                    Some(url),
                    Some(s3_under(s3, &format!("backup-{run}/segments"))),
                    s3_under(s3, &format!("backup-{run}/backups")),
                    Some(schema),
                )
            }
        };
        let (db, store) = (database_url.clone(), object_store.clone());
        let server = start_with(&data, move |c| {
            c.platform.database_url = db;
            if let Some(store) = store {
                c.platform.regions = vec![RegionConfig::single("local", Some(store))];
            }
            c.flush_rows = usize::MAX;
            // Compaction and its grace run when a test says so, not by the clock.
            c.compaction.interval = Duration::from_secs(3600);
            c.compaction.settle = Duration::ZERO;
            c.compaction.grace = Duration::ZERO;
            edit(c);
        })
        .await;
        Env {
            server,
            root,
            dest,
            _schema: schema,
        }
    }

    fn key_file(&self) -> PathBuf {
        self.root.path().join("backup.key")
    }

    fn scope(&self) -> Scope {
        Scope::default()
    }

    fn destination(&self) -> Destination {
        Destination::open(&self.dest).unwrap()
    }

    async fn backup(&self) -> backup::Created {
        let c = backup::create(
            self.server.platform(),
            &self.key_file(),
            &self.destination(),
            &self.scope(),
        )
        .await
        .unwrap();
        assert!(c.vanished.is_empty(), "{c:?}");
        c
    }

    async fn restore(&self, id: Option<&str>) -> backup::Restored {
        backup::restore(
            self.server.platform(),
            &self.key_file(),
            &self.destination(),
            id,
            &self.scope(),
        )
        .await
        .unwrap()
    }

    fn segment_store(&self) -> scrim_store::SegmentStore {
        self.server
            .platform()
            .regions()
            .get("local")
            .unwrap()
            .store
            .clone()
    }

    async fn tenant(&self, name: &str) -> scrim_meta::Tenant {
        self.server
            .platform()
            .meta()
            .tenant_by_name(name)
            .await
            .unwrap()
            .unwrap()
    }

    /// Every catalogued segment of `tenant`, sorted by path.
    async fn segments(&self, tenant: &scrim_meta::TenantId) -> Vec<scrim_meta::Segment> {
        let mut all = Vec::new();
        for signal in [
            scrim_meta::Signal::Traces,
            scrim_meta::Signal::Logs,
            scrim_meta::Signal::Metrics,
        ] {
            all.extend(
                self.server
                    .platform()
                    .meta()
                    .segments(tenant, signal, scrim_meta::TimeRange::all(), None)
                    .await
                    .unwrap(),
            );
        }
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all
    }

    /// The paths of the objects under `prefix` in the segment store.
    async fn objects(&self, prefix: &str) -> Vec<String> {
        let store = self.segment_store();
        let listed: Vec<object_store::ObjectMeta> = store
            .object_store()
            .list(Some(&ObjectPath::from(prefix)))
            .try_collect()
            .await
            .unwrap();
        let mut paths: Vec<String> = listed.into_iter().map(|m| m.location.to_string()).collect();
        paths.sort();
        paths
    }

    /// Loses segments: their objects, and with `rows` their catalog entries too.
    async fn lose(&self, tenant: &scrim_meta::TenantId, paths: &[String], rows: bool) {
        let store = self.segment_store();
        for p in paths {
            store
                .object_store()
                .delete(&ObjectPath::from(p.as_str()))
                .await
                .unwrap();
        }
        if rows {
            let n = self
                .server
                .platform()
                .meta()
                .delete_segments(tenant, paths)
                .await
                .unwrap();
            assert_eq!(n as usize, paths.len());
        }
    }

    /// The platform chain's records of `action`.
    async fn platform_records(&self, action: &str) -> Vec<scrim_audit::AuditRecord> {
        self.server
            .platform()
            .meta()
            .audit_chain(scrim_audit::PLATFORM_TENANT, 0, 100_000)
            .await
            .unwrap()
            .iter()
            .map(|r| record_of(r).unwrap())
            .filter(|r| r.action == action)
            .collect()
    }
}

async fn sql(server: &Server, key: &str, query: &str) -> Value {
    let cred = Cred::Key(key.to_owned());
    let a = call(
        server,
        "POST",
        "/api/v1/sql",
        &cred,
        Some(json!({ "query": query })),
    )
    .await;
    assert_eq!(a.status, 200, "{query}: {}", a.body);
    a.body["rows"].clone()
}

/// What the tests compare before and after: counts of every table, distinct span ids, one
/// trace as the API shows it, and the first log bodies.
async fn answers(server: &Server, t: &DemoTenant, trace_id: &str) -> Value {
    let mut out = serde_json::Map::new();
    for (name, q) in [
        (
            "spans",
            "SELECT count(*) AS n, count(DISTINCT span_id) AS d FROM spans",
        ),
        ("logs", "SELECT count(*) AS n FROM logs"),
        ("metrics", "SELECT count(*) AS n FROM metrics"),
        (
            "log_bodies",
            "SELECT body FROM logs ORDER BY time, body LIMIT 30",
        ),
    ] {
        out.insert(name.into(), sql(server, &t.read_key, q).await);
    }
    let a = call(
        server,
        "GET",
        &format!("/api/v1/traces/{trace_id}"),
        &Cred::Key(t.read_key.clone()),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    out.insert("trace".into(), a.body);
    Value::Object(out)
}

async fn a_trace_id(server: &Server, t: &DemoTenant) -> String {
    let rows = sql(
        server,
        &t.read_key,
        "SELECT trace_id FROM spans ORDER BY trace_id LIMIT 1",
    )
    .await;
    rows[0][0]
        .as_str()
        .unwrap_or_else(|| panic!("no trace: {rows}"))
        .to_owned()
}

/// Sends `rounds` of shop traffic starting at `start`, each flushed into its own segments.
async fn send_rounds(server: &Server, t: &DemoTenant, seed: u64, rounds: u64, start: SystemTime) {
    for r in 0..rounds {
        send_shop_at(
            server,
            &t.ingest_key,
            seed * 100 + r,
            2,
            start + Duration::from_secs(10 * r),
        )
        .await;
        server.flush().await.unwrap();
    }
}

/// Ten minutes into the hour before the last: every round of a test lands in one hour.
fn in_one_hour() -> SystemTime {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    UNIX_EPOCH + Duration::from_secs(now - now % 3600 - 2 * 3600 + 600)
}

fn is_usage(e: &ServerError, containing: &str) -> bool {
    matches!(e, ServerError::Usage(m) if m.contains(containing))
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_on_sqlite_and_a_directory() {
    backup_then_restore_what_was_lost(&Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_on_postgresql_and_s3() {
    if let Some(b) = pg_s3() {
        backup_then_restore_what_was_lost(&b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_after_compaction_on_sqlite_and_a_directory() {
    restore_after_compaction(&Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_after_compaction_on_postgresql_and_s3() {
    if let Some(b) = pg_s3() {
        restore_after_compaction(&b).await;
    }
}

/// Backup, lose segments (objects and catalog rows of one tenant, objects only of
/// another), restore: the same answers; restore again: nothing added; more data, a second
/// backup: only the new segments copied. Keys: the backup never holds a data key, its
/// objects and manifest open with the backup key only, a wrong key is refused before
/// anything changes. Every backup and restore is in the platform's audit chain.
async fn backup_then_restore_what_was_lost(backend: &Backend) {
    let env = Env::start(backend, |_| {}).await;
    let server = &env.server;
    let (a, b) = (
        admin::demo_tenant(server.platform()).await.unwrap(),
        admin::demo_tenant(server.platform()).await.unwrap(),
    );
    let start = SystemTime::now() - Duration::from_secs(600);
    send_rounds(server, &a, 1, 2, start).await;
    send_rounds(server, &b, 2, 1, start).await;
    let (ta, tb) = (env.tenant(&a.tenant).await, env.tenant(&b.tenant).await);
    let (trace_a, trace_b) = (a_trace_id(server, &a).await, a_trace_id(server, &b).await);
    let (before_a, before_b) = (
        answers(server, &a, &trace_a).await,
        answers(server, &b, &trace_b).await,
    );
    assert!(before_a["spans"][0][0].as_u64().unwrap() > 0, "{before_a}");
    let (segs_a, segs_b) = (env.segments(&ta.id).await, env.segments(&tb.id).await);
    let all = segs_a.len() + segs_b.len();

    // The first backup copies every segment and creates the backup key.
    assert!(!env.key_file().exists());
    let first = env.backup().await;
    assert!(first.key_created);
    assert_eq!((first.tenants, first.segments), (2, all), "{first:?}");
    assert_eq!((first.copied, first.skipped), (all, 0), "{first:?}");
    let total: u64 = segs_a.iter().chain(&segs_b).map(|s| s.bytes).sum();
    assert_eq!(first.bytes_copied, total);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.key_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A's segments lost with their catalog rows; B's span objects lost, rows kept.
    let paths_a: Vec<String> = segs_a.iter().map(|s| s.path.clone()).collect();
    env.lose(&ta.id, &paths_a, true).await;
    let spans_b: Vec<String> = segs_b
        .iter()
        .filter(|s| s.signal == scrim_meta::Signal::Traces)
        .map(|s| s.path.clone())
        .collect();
    assert!(!spans_b.is_empty());
    env.lose(&tb.id, &spans_b, false).await;
    assert_eq!(
        sql(server, &a.read_key, "SELECT count(*) FROM spans").await[0][0],
        0
    );
    let broken = call(
        server,
        "POST",
        "/api/v1/sql",
        &Cred::Key(b.read_key.clone()),
        Some(json!({ "query": "SELECT count(*) FROM spans" })),
    )
    .await;
    assert_ne!(
        broken.status, 200,
        "B's catalogued spans are gone from the store"
    );

    // Restore (the latest backup): everything comes back as it was.
    let r = env.restore(None).await;
    assert_eq!(r.id, first.id);
    assert!(r.unreadable.is_empty(), "{r:?}");
    assert_eq!(r.objects, paths_a.len() + spans_b.len(), "{r:?}");
    assert_eq!(r.catalog_rows, paths_a.len(), "{r:?}");
    assert_eq!(r.present, segs_b.len() - spans_b.len(), "{r:?}");
    assert_eq!((r.superseded, r.expired, r.changed), (0, 0, 0), "{r:?}");
    assert_eq!(answers(server, &a, &trace_a).await, before_a);
    assert_eq!(answers(server, &b, &trace_b).await, before_b);
    // The same catalog rows (only the time they were added differs).
    let mut restored = env.segments(&ta.id).await;
    for (n, s) in restored.iter_mut().zip(&segs_a) {
        n.created_at = s.created_at;
    }
    assert_eq!(restored, segs_a);
    let filters = server
        .platform()
        .meta()
        .trace_filters(&ta.id)
        .await
        .unwrap();
    assert!(
        segs_a
            .iter()
            .filter(|s| s.signal == scrim_meta::Signal::Traces)
            .all(|s| filters.contains_key(&s.path)),
        "trace filters restored"
    );

    // Restoring again adds nothing.
    let again = env.restore(Some(&first.id)).await;
    assert_eq!((again.objects, again.catalog_rows), (0, 0), "{again:?}");
    assert_eq!(again.present, all);
    assert_eq!(answers(server, &a, &trace_a).await, before_a);

    // More data, a second backup: only the new segments are copied.
    send_rounds(
        server,
        &a,
        3,
        1,
        SystemTime::now() - Duration::from_secs(60),
    )
    .await;
    let new = env.segments(&ta.id).await.len() - segs_a.len();
    assert!(new > 0);
    let second = env.backup().await;
    assert!(!second.key_created);
    assert!(second.id > first.id);
    assert_eq!(second.segments, all + new);
    assert_eq!((second.copied, second.skipped), (new, all), "{second:?}");
    let dest = env.destination();
    assert_eq!(
        dest.backup_ids().await.unwrap(),
        [first.id.clone(), second.id.clone()]
    );
    let key = BackupKey::load(&env.key_file()).unwrap();
    let listed = backup::list(&dest, &key).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].segments, all + new);
    assert_eq!(listed[1].tenants, [a.tenant.clone(), b.tenant.clone()]);

    // No key in the backup: the manifest holds neither data key, raw or wrapped.
    let manifest = dest.manifest(&key, &second.id).await.unwrap();
    let text = serde_json::to_string(&manifest).unwrap();
    let b64 = |b: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    for t in [&ta, &tb] {
        let wrapped = wrapped_key(server, t).await;
        let raw = server
            .platform()
            .keys()
            .unwrap(&wrapped, t.id.as_str().as_bytes())
            .unwrap();
        for k in [raw.as_bytes().as_slice(), &wrapped] {
            assert!(!text.contains(&hex(k)) && !text.contains(&b64(k)));
        }
    }
    assert_eq!(manifest.tenants[0].name, a.tenant);
    assert_eq!(manifest.tenants[0].retention_days, 30);

    // The backup opens with the backup key only: not the master key, not another key.
    let master_as_key = BackupKey::load(&env.root.path().join("data/master.key")).unwrap();
    let other = BackupKey::load_or_create(&env.root.path().join("other.key")).unwrap();
    for wrong in [&master_as_key, &other] {
        let e = dest.manifest(wrong, &second.id).await.unwrap_err();
        assert!(is_usage(&e, "were made with backup key"), "{e}");
        let e = backup::read_object(&dest, wrong, &segs_b[0].path)
            .await
            .unwrap_err();
        assert!(is_usage(&e, "were made with backup key"), "{e}");
    }
    // What the backup key opens is the segment file, still under the tenant's data key.
    let file = backup::read_object(&dest, &key, &segs_b[0].path)
        .await
        .unwrap();
    let stored = env
        .segment_store()
        .object_store()
        .get(&ObjectPath::from(segs_b[0].path.as_str()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(file, stored.to_vec());
    assert!(&file[..4] == b"PAR1" || &file[..4] == b"PARE");

    // A wrong key is refused before anything changes: restore, and create.
    env.lose(&ta.id, &paths_a[..1], true).await;
    let records = env.platform_records(actions::BACKUP_RESTORE).await.len();
    let other_file = env.root.path().join("other.key");
    let master_file = env.root.path().join("data/master.key");
    for wrong in [&other_file, &master_file] {
        let e = backup::restore(server.platform(), wrong, &dest, None, &env.scope())
            .await
            .unwrap_err();
        assert!(is_usage(&e, "were made with backup key"), "{e}");
        let e = backup::create(server.platform(), wrong, &dest, &env.scope())
            .await
            .unwrap_err();
        assert!(is_usage(&e, "were made with backup key"), "{e}");
    }
    let e = backup::restore(
        server.platform(),
        &env.root.path().join("missing.key"),
        &dest,
        None,
        &env.scope(),
    )
    .await
    .unwrap_err();
    assert!(is_usage(&e, "no backup key"), "{e}");
    assert!(!env.root.path().join("missing.key").exists());
    assert_eq!(env.segments(&ta.id).await.len(), segs_a.len() + new - 1);
    assert_eq!(dest.backup_ids().await.unwrap().len(), 2);
    assert_eq!(
        env.platform_records(actions::BACKUP_RESTORE).await.len(),
        records
    );
    let r = env.restore(None).await;
    assert_eq!((r.objects, r.catalog_rows), (1, 1));

    // The audit log: each backup and restore in the platform chain, by the operator.
    let created = env.platform_records(actions::BACKUP_CREATE).await;
    assert_eq!(created.len(), 2, "{created:#?}");
    assert_eq!(created[0].target.as_deref(), Some(first.id.as_str()));
    assert_eq!(created[0].details["destination"], dest.shown());
    assert_eq!(created[0].details["segments"], all);
    assert_eq!(created[0].details["backup_key_id"], key.id());
    let restored = env.platform_records(actions::BACKUP_RESTORE).await;
    assert_eq!(restored.len(), 3, "{restored:#?}");
    assert_eq!(
        restored[0].details["objects"],
        paths_a.len() + spans_b.len()
    );
    assert_eq!(restored[0].details["catalog_rows"], paths_a.len());
    assert_eq!(
        restored[0].details["tenants"],
        json!([a.tenant.clone(), b.tenant.clone()])
    );
    for r in created.iter().chain(&restored) {
        assert_eq!(r.actor, scrim_audit::Actor::Operator);
        let shown = r.details["destination"].as_str().unwrap();
        if let Ok(secret) = std::env::var("AWS_SECRET_ACCESS_KEY") {
            assert!(!shown.contains(&secret));
        }
    }
    env.server.shutdown().await;
}

/// Compaction replaces the backed-up segments: restoring the old backup adds nothing while
/// the replacement is there (no row twice), and puts the old segments back once it is lost.
async fn restore_after_compaction(backend: &Backend) {
    let env = Env::start(backend, |_| {}).await;
    let server = &env.server;
    let t = admin::demo_tenant(server.platform()).await.unwrap();
    send_rounds(server, &t, 4, 3, in_one_hour()).await;
    let tenant = env.tenant(&t.tenant).await;
    let trace = a_trace_id(server, &t).await;
    let before = answers(server, &t, &trace).await;
    let backed_up = env.segments(&tenant.id).await;
    let first = env.backup().await;
    assert_eq!(first.segments, backed_up.len());

    assert!(server.compact().await.unwrap() > 0);
    let compacted = env.segments(&tenant.id).await;
    assert!(compacted.len() < backed_up.len(), "{compacted:?}");
    assert_eq!(answers(server, &t, &trace).await, before);

    // The replacements are there: nothing to restore, no row twice.
    let replaced: HashSet<&str> = backed_up
        .iter()
        .map(|s| s.path.as_str())
        .filter(|p| !compacted.iter().any(|c| c.path == *p))
        .collect();
    let r = env.restore(None).await;
    assert_eq!(r.superseded, replaced.len(), "{r:?}");
    assert_eq!((r.objects, r.catalog_rows), (0, 0), "{r:?}");
    assert_eq!(answers(server, &t, &trace).await, before);

    // The merged span segment is lost (row and object): the old ones come back.
    let merged: Vec<String> = compacted
        .iter()
        .filter(|s| s.signal == scrim_meta::Signal::Traces)
        .map(|s| s.path.clone())
        .collect();
    env.lose(&tenant.id, &merged, true).await;
    let old_spans = backed_up
        .iter()
        .filter(|s| s.signal == scrim_meta::Signal::Traces)
        .count();
    let r = env.restore(None).await;
    assert_eq!((r.objects, r.catalog_rows), (old_spans, old_spans), "{r:?}");
    assert_eq!(r.superseded, replaced.len() - old_spans, "{r:?}");
    assert_eq!(answers(server, &t, &trace).await, before);
    let again = env.restore(None).await;
    assert_eq!((again.objects, again.catalog_rows), (0, 0), "{again:?}");
    // The store holds exactly the catalogued segments.
    let catalogued: Vec<String> = env
        .segments(&tenant.id)
        .await
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(
        env.objects(&format!("local/{}", tenant.id)).await,
        catalogued
    );
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_on_sqlite_and_a_directory() {
    prune_keeps_what_the_newer_backups_need(&Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_on_postgresql_and_s3() {
    if let Some(backend) = pg_s3() {
        prune_keeps_what_the_newer_backups_need(&backend).await;
    }
}

/// `prune` removes the old backups and the objects only they held; what is left restores
/// whole, and the newest backup is never removed.
async fn prune_keeps_what_the_newer_backups_need(backend: &Backend) {
    let env = Env::start(backend, |_| {}).await;
    let server = &env.server;
    let t = admin::demo_tenant(server.platform()).await.unwrap();
    send_rounds(server, &t, 6, 3, in_one_hour()).await;
    let tenant = env.tenant(&t.tenant).await;
    let trace = a_trace_id(server, &t).await;
    let before = answers(server, &t, &trace).await;
    let first = env.backup().await;
    // Compaction: the second backup holds the merged segments, not the small ones.
    assert!(server.compact().await.unwrap() > 0);
    let second = env.backup().await;
    let kept_paths: Vec<String> = env
        .segments(&tenant.id)
        .await
        .into_iter()
        .map(|s| s.path)
        .collect();
    let dest_objects = || async {
        let listed: Vec<object_store::ObjectMeta> = env
            .destination()
            .object_store()
            .list(Some(&ObjectPath::from("objects")))
            .try_collect()
            .await
            .unwrap();
        let mut paths: Vec<String> = listed
            .into_iter()
            .map(|m| m.location.to_string()["objects/".len()..].to_owned())
            .collect();
        paths.sort();
        paths
    };
    assert_eq!(dest_objects().await.len(), first.segments + second.copied);

    // Nothing is older than a day yet: nothing goes, nothing is recorded.
    let day = Duration::from_secs(86_400);
    let now = SystemTime::now();
    let p = backup::prune(
        server.platform(),
        &env.key_file(),
        &env.destination(),
        day,
        now,
    )
    .await
    .unwrap();
    assert!(p.removed.is_empty() && p.kept == 2, "{p:?}");
    assert!(env.platform_records(actions::BACKUP_PRUNE).await.is_empty());

    // Two days on, the first goes, with the objects only it held.
    let later = now + 2 * day;
    let p = backup::prune(
        server.platform(),
        &env.key_file(),
        &env.destination(),
        day,
        later,
    )
    .await
    .unwrap();
    assert_eq!(p.removed, std::slice::from_ref(&first.id));
    assert_eq!(p.kept, 1);
    assert_eq!(p.objects, first.segments - second.skipped, "{p:?}");
    let listed = backup::list(
        &env.destination(),
        &BackupKey::load(&env.key_file()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        listed.iter().map(|b| &b.id).collect::<Vec<_>>(),
        [&second.id]
    );
    assert_eq!(dest_objects().await, kept_paths);
    let records = env.platform_records(actions::BACKUP_PRUNE).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].details["removed"], json!([first.id]));
    assert_eq!(records[0].details["objects"], p.objects);

    // What is left restores whole: every segment lost, then put back.
    env.lose(&tenant.id, &kept_paths, true).await;
    let r = env.restore(None).await;
    assert_eq!(r.objects, kept_paths.len(), "{r:?}");
    assert_eq!(answers(server, &t, &trace).await, before);

    // However old, the newest backup stays.
    let p = backup::prune(
        server.platform(),
        &env.key_file(),
        &env.destination(),
        Duration::ZERO,
        now + 30 * day,
    )
    .await
    .unwrap();
    assert!(p.removed.is_empty() && p.kept == 1, "{p:?}");
    env.server.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Tombstones: deletion requests are re-applied by a restore.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_reapplies_tombstones_on_sqlite_and_a_directory() {
    restore_reapplies_tombstones(&Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_reapplies_tombstones_on_postgresql_and_s3() {
    if let Some(b) = pg_s3() {
        restore_reapplies_tombstones(&b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tenants_backup_is_unreadable_on_sqlite_and_a_directory() {
    a_deleted_tenants_backup_is_unreadable(&Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tenants_backup_is_unreadable_on_postgresql_and_s3() {
    if let Some(b) = pg_s3() {
        a_deleted_tenants_backup_is_unreadable(&b).await;
    }
}

/// The demo shop's first customer, who asks to be erased.
const PERSON: &str = "u-48213";

/// Spans and log records whose `enduser.id` is `value`.
async fn rows_of(server: &Server, t: &DemoTenant, value: &str) -> u64 {
    let mut n = 0;
    for table in ["spans", "logs"] {
        let q = format!("SELECT count(*) FROM {table} WHERE attributes['enduser.id'] = '{value}'");
        n += sql(server, &t.read_key, &q).await[0][0].as_u64().unwrap();
    }
    n
}

/// A key file's 32 bytes (64 hex digits).
fn key_bytes(path: &std::path::Path) -> [u8; 32] {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim();
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// Backup; the person's rows erased; the old backup restored twice: once while the
/// rewritten segments are there (nothing comes back), once after every segment of the
/// tenant was lost (everything comes back, and the erasure is applied again). No query
/// and no segment file holds the person's rows afterwards.
async fn restore_reapplies_tombstones(backend: &Backend) {
    let env = Env::start(backend, |_| {}).await;
    let server = &env.server;
    let t = admin::demo_tenant(server.platform()).await.unwrap();
    let neighbour = admin::demo_tenant(server.platform()).await.unwrap();
    let start = SystemTime::now() - Duration::from_secs(900);
    send_rounds(server, &t, 7, 2, start).await;
    send_rounds(server, &neighbour, 8, 1, start).await;
    let tenant = env.tenant(&t.tenant).await;
    let neighbour_trace = a_trace_id(server, &neighbour).await;
    let neighbour_before = answers(server, &neighbour, &neighbour_trace).await;
    let first = env.backup().await;
    let backed_up = env.segments(&tenant.id).await;

    // The person's erasure request, run to the end (by the operator, here: the server's
    // deleter is not woken, so nothing runs it behind the test's back).
    let selection = scrim_server::deletion::Selection {
        attribute: Some(("enduser.id".into(), PERSON.into())),
        ..Default::default()
    };
    let done = scrim_server::deletion::operator_delete_rows(
        server.platform(),
        &t.tenant,
        &selection,
        true,
    )
    .await
    .unwrap();
    let done = scrim_server::deletion::deletion_json(&done);
    assert_eq!(done["status"], "done", "{done}");
    assert!(done["rows_removed"].as_u64().unwrap() > 0, "{done}");
    let pseudonym = done["covers"]["attribute"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pseudonym.starts_with("[id:"), "{done}");
    assert_eq!(rows_of(server, &t, &pseudonym).await, 0);
    let trace = a_trace_id(server, &t).await;
    let after = answers(server, &t, &trace).await;

    // The old backup, the rewritten segments still there: they replaced what it holds.
    let r = env.restore(Some(&first.id)).await;
    assert!(r.superseded > 0, "{r:?}");
    assert_eq!((r.objects, r.catalog_rows), (0, 0), "{r:?}");
    assert_eq!(rows_of(server, &t, &pseudonym).await, 0);
    assert_eq!(answers(server, &t, &trace).await, after);

    // Every segment of the tenant lost; the old backup, taken before the request, is all
    // there is. The restore re-applies the request.
    let paths: Vec<String> = env
        .segments(&tenant.id)
        .await
        .into_iter()
        .map(|s| s.path)
        .collect();
    env.lose(&tenant.id, &paths, true).await;
    let r = env.restore(Some(&first.id)).await;
    assert_eq!(r.catalog_rows, backed_up.len(), "{r:?}");
    assert!(r.tombstone_rows > 0, "{r:?}");
    assert_eq!(rows_of(server, &t, &pseudonym).await, 0);
    assert_eq!(answers(server, &t, &trace).await, after);
    // No segment file of the tenant holds the person's rows; other people's are there.
    let key = segment_key(server, &tenant).await.into();
    let store = env.segment_store();
    let mut batches = Vec::new();
    for p in env.objects(&format!("local/{}", tenant.id)).await {
        let bytes = store
            .object_store()
            .get(&ObjectPath::from(p.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        batches.extend(scrim_store::segment::decode(bytes, &key).unwrap());
    }
    assert!(!batches.is_empty());
    assert!(batches.iter().all(|b| !holds(b, &pseudonym)));
    assert!(batches.iter().any(|b| holds(b, "[id:")));
    // A second restore adds nothing, and the neighbour was never touched.
    let again = env.restore(Some(&first.id)).await;
    assert_eq!((again.objects, again.catalog_rows), (0, 0), "{again:?}");
    assert_eq!(rows_of(server, &t, &pseudonym).await, 0);
    assert_eq!(
        answers(server, &neighbour, &neighbour_trace).await,
        neighbour_before
    );
    env.server.shutdown().await;
}

/// Backup; a tenant deleted; restore: the tenant is reported unreadable and nothing of it
/// is put back, and its backed-up segment files open with nothing left on the machine: not
/// the master key, not the backup key, not another tenant's key.
async fn a_deleted_tenants_backup_is_unreadable(backend: &Backend) {
    let env = Env::start(backend, |_| {}).await;
    let server = &env.server;
    let gone = admin::demo_tenant(server.platform()).await.unwrap();
    let kept = admin::demo_tenant(server.platform()).await.unwrap();
    let start = SystemTime::now() - Duration::from_secs(900);
    send_rounds(server, &gone, 9, 1, start).await;
    send_rounds(server, &kept, 10, 1, start).await;
    let (gone_t, kept_t) = (
        env.tenant(&gone.tenant).await,
        env.tenant(&kept.tenant).await,
    );
    let kept_trace = a_trace_id(server, &kept).await;
    let kept_before = answers(server, &kept, &kept_trace).await;
    let gone_key = segment_key(server, &gone_t).await.into();
    let gone_segs = env.segments(&gone_t.id).await;
    assert!(!gone_segs.is_empty());
    let first = env.backup().await;
    let dest = env.destination();
    let backup_key = BackupKey::load(&env.key_file()).unwrap();
    // Before the deletion, its key opens what the backup holds.
    let file = backup::read_object(&dest, &backup_key, &gone_segs[0].path)
        .await
        .unwrap();
    assert!(scrim_store::segment::decode(file.clone().into(), &gone_key).is_ok());
    drop(gone_key);

    let owner = sign_in(server, &gone.owner_email, &gone.owner_password, None).await;
    let body = json!({ "scope": "tenant", "confirm": gone.tenant });
    let a = call(server, "POST", "/api/v1/deletions", &owner, Some(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // Restore: the deleted tenant is unreadable, nothing of it comes back; the other is
    // whole.
    let r = env.restore(None).await;
    assert_eq!(r.unreadable.len(), 1, "{r:?}");
    assert_eq!(r.unreadable[0].id, gone_t.id.as_str());
    assert_eq!(r.unreadable[0].name, gone.tenant);
    assert_eq!(r.tenants, std::slice::from_ref(&kept.tenant));
    assert_eq!((r.objects, r.catalog_rows), (0, 0), "{r:?}");
    assert!(env.segments(&gone_t.id).await.is_empty());
    assert!(
        env.objects(&format!("local/{}", gone_t.id))
            .await
            .is_empty()
    );
    assert_eq!(answers(server, &kept, &kept_trace).await, kept_before);
    // Asking for it by name says the same.
    let only = backup::restore(
        server.platform(),
        &env.key_file(),
        &dest,
        Some(&first.id),
        &Scope {
            tenant: Some(gone.tenant.clone()),
            ..env.scope()
        },
    )
    .await
    .unwrap();
    assert_eq!(only.unreadable.len(), 1);
    assert!(only.tenants.is_empty());
    let record = env.platform_records(actions::BACKUP_RESTORE).await;
    assert_eq!(record[0].details["unreadable"][0]["id"], gone_t.id.as_str());

    // What the backup holds of it opens with nothing left here. The backup key removes the
    // outer layer only; the segment files inside are under a key that no longer exists.
    let mut candidates = vec![
        (
            "the master key",
            key_bytes(&env.root.path().join("data/master.key")),
        ),
        ("the backup key", key_bytes(&env.key_file())),
        (
            "the other tenant's key",
            *segment_key(server, &kept_t).await.bytes(),
        ),
    ];
    let tenants = server.platform().meta().list_tenants().await.unwrap();
    for t in &tenants {
        candidates.push(("a tenant's key", *segment_key(server, t).await.bytes()));
    }
    assert!(
        tenants.iter().all(|t| t.id != gone_t.id),
        "the deleted tenant is not listed"
    );
    for seg in &gone_segs {
        let file = backup::read_object(&dest, &backup_key, &seg.path)
            .await
            .unwrap();
        for (what, key) in &candidates {
            let key = scrim_store::DataKey::new(format!("{}-1", gone_t.id), *key).into();
            assert!(
                scrim_store::segment::decode(file.clone().into(), &key).is_err(),
                "{} opened with {what}",
                seg.path
            );
        }
    }
    env.server.shutdown().await;
}
