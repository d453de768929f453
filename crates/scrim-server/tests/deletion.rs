//! Deletion on request: a person's rows erased from every query at once and then from
//! every file, checked by query and by reading every segment file back; a whole tenant
//! crypto-shredded, so that a copy of its files taken before is unreadable.
//!
//! Each scenario runs on SQLite with a local directory and on PostgreSQL with segments in
//! the S3-compatible store (see `common::pg_s3`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use datafusion::arrow::array::RecordBatch;
use scrim_server::Server;
use scrim_server::admin::{self, DemoTenant};
use scrim_server::audit::{actions, record_of};
use serde_json::{Value, json};

mod common;
use common::*;

/// The demo shop's first customer.
const PERSON: &str = "u-48213";

async fn count(server: &Server, cred: &Cred, sql: &str) -> u64 {
    let a = call(
        server,
        "POST",
        "/api/v1/sql",
        cred,
        Some(json!({ "query": sql })),
    )
    .await;
    assert_eq!(a.status, 200, "{sql}: {}", a.body);
    a.body["rows"][0][0].as_u64().unwrap()
}

/// Rows whose attribute `enduser.id` is `value`, spans and logs together.
async fn rows_of(server: &Server, cred: &Cred, value: &str) -> u64 {
    let mut n = 0;
    for table in ["spans", "logs"] {
        n += count(
            server,
            cred,
            &format!("SELECT count(*) FROM {table} WHERE attributes['enduser.id'] = '{value}'"),
        )
        .await;
    }
    n
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Decrypts every Parquet object of `objects` with `key`; panics if one does not open.
fn every_segment(
    objects: &[(String, bytes::Bytes)],
    key: &scrim_store::Keyring,
) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for (path, bytes) in objects {
        if path.ends_with(".parquet") {
            out.extend(scrim_store::segment::decode(bytes.clone(), key).unwrap());
        }
    }
    out
}

async fn tenant_of(server: &Server, t: &DemoTenant) -> scrim_meta::Tenant {
    server
        .platform()
        .meta()
        .tenant_by_name(&t.tenant)
        .await
        .unwrap()
        .unwrap()
}

/// Explicit flushes only; replaced objects go at once.
async fn start(site: &Site) -> Server {
    site.start(|c| {
        c.flush_rows = usize::MAX;
        c.compaction.grace = Duration::ZERO;
    })
    .await
}

/// Waits until the deletion request `id` is no longer pending or running (the server's
/// deleter runs it as soon as it is recorded; this call runs it if it has not started).
async fn finished(server: &Server, cred: &Cred, id: &str) -> Value {
    server.run_deletions().await.unwrap();
    for _ in 0..600 {
        let a = call(
            server,
            "GET",
            &format!("/api/v1/deletions/{id}"),
            cred,
            None,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        if a.body["status"] != "pending" && a.body["status"] != "running" {
            return a.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deletion {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_rows_disappear_from_every_query_and_every_file() {
    persons_rows(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_rows_disappear_from_every_query_and_every_file_on_postgres_and_s3() {
    if let Some(backend) = pg_s3() {
        persons_rows(backend).await;
    }
}

async fn persons_rows(backend: Backend) {
    let site = Site::new(&backend, "deletion");
    let dir = site.data();
    let server = start(&site).await;
    let t = admin::demo_tenant(server.platform()).await.unwrap();
    let tenant = tenant_of(&server, &t).await;
    let reader = Cred::Key(t.read_key.clone());
    let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
    let start = SystemTime::now() - Duration::from_secs(3600);
    // Two flushed batches (two segments per signal) and one still in the WAL and buffer.
    send_shop_at(&server, &t.ingest_key, 1, 3, start).await;
    server.flush().await.unwrap();
    send_shop_at(
        &server,
        &t.ingest_key,
        2,
        3,
        start + Duration::from_secs(60),
    )
    .await;
    server.flush().await.unwrap();
    send_shop_at(
        &server,
        &t.ingest_key,
        3,
        3,
        start + Duration::from_secs(120),
    )
    .await;
    let logs_before = count(&server, &reader, "SELECT count(*) FROM logs").await;
    let spans_before = count(&server, &reader, "SELECT count(*) FROM spans").await;

    // Nobody without the delete permission may ask.
    let body =
        json!({ "scope": "selective", "attribute": { "key": "enduser.id", "value": PERSON } });
    let refused = call(
        &server,
        "POST",
        "/api/v1/deletions",
        &reader,
        Some(body.clone()),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // Bad requests record nothing.
    let empty = json!({ "scope": "selective" });
    let bad = call(&server, "POST", "/api/v1/deletions", &owner, Some(empty)).await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    let a = call(&server, "POST", "/api/v1/deletions", &owner, Some(body)).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let id = a.body["id"].as_str().unwrap().to_owned();
    // The value is stored pseudonymised; the request shows only that form.
    let pseudonym = a.body["covers"]["attribute"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pseudonym.starts_with("[id:"), "{}", a.body);
    assert!(!a.body.to_string().contains(PERSON), "{}", a.body);

    // Hidden from every query at once, whatever the job has done so far.
    assert_eq!(rows_of(&server, &reader, &pseudonym).await, 0);
    let others = count(
        &server,
        &reader,
        "SELECT count(*) FROM logs WHERE attributes['enduser.id'] IS NOT NULL",
    )
    .await;
    assert!(others > 0, "the other customers' rows stay");

    let done = finished(&server, &owner, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    let removed = done["rows_removed"].as_u64().unwrap();
    assert!(removed > 0, "{done}");
    assert!(done["segments_rewritten"].as_u64().unwrap() >= 2, "{done}");
    // The demo puts `enduser.id` on log records only: spans all stay.
    let logs_after = count(&server, &reader, "SELECT count(*) FROM logs").await;
    assert_eq!(logs_after, logs_before - removed);
    let spans_after = count(&server, &reader, "SELECT count(*) FROM spans").await;
    assert_eq!(spans_after, spans_before);
    assert_eq!(rows_of(&server, &reader, &pseudonym).await, 0);
    // Nor any export.
    let export = call(
        &server,
        "GET",
        "/api/v1/export?signal=traces&format=jsonl",
        &Cred::Key(t.read_key.clone()),
        None,
    )
    .await;
    // The read key has no export scope: the owner exports.
    assert_eq!(export.status, 403);
    let export = call(
        &server,
        "GET",
        "/api/v1/export?signal=logs&format=jsonl",
        &owner,
        None,
    )
    .await;
    assert_eq!(export.status, 200);
    let text = export
        .body
        .as_str()
        .map_or(export.body.to_string(), str::to_owned);
    assert!(text.contains("[id:"), "other people's rows are exported");
    assert!(!text.contains(&pseudonym));

    // No file of the data directory holds the rows: every segment decrypted and read, and
    // the WAL, which held the third batch, is gone.
    let key: scrim_store::Keyring = segment_key(&server, &tenant).await.into();
    let batches = every_segment(&stored_objects(&server, "").await, &key);
    assert!(batches.iter().map(RecordBatch::num_rows).sum::<usize>() > 0);
    assert!(batches.iter().all(|b| !holds(b, &pseudonym)));
    assert!(batches.iter().any(|b| holds(b, "[id:")));
    let wal = dir.join("wal").join(tenant.id.as_str());
    let wal_bytes: u64 = files(&wal)
        .iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".seg"))
        })
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(wal_bytes, 0, "{:?}", files(&wal));

    // Data that arrives after the request is not erased.
    send_shop_at(
        &server,
        &t.ingest_key,
        4,
        2,
        SystemTime::now() + Duration::from_secs(5),
    )
    .await;
    server.flush().await.unwrap();
    assert!(rows_of(&server, &reader, &pseudonym).await > 0);

    // The request and its completion are in the audit log, never with the value as typed.
    let records: Vec<scrim_audit::AuditRecord> = server
        .platform()
        .meta()
        .audit_chain(tenant.id.as_str(), 0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|r| record_of(r).unwrap())
        .collect();
    let requested: Vec<_> = records
        .iter()
        .filter(|r| r.action == actions::DELETION_REQUEST)
        .collect();
    assert_eq!(
        requested.len(),
        1,
        "one request, the refused ones recorded nothing"
    );
    assert_eq!(requested[0].target.as_deref(), Some(id.as_str()));
    let completed: Vec<_> = records
        .iter()
        .filter(|r| r.action == actions::DELETION_DONE)
        .collect();
    assert_eq!(completed.len(), 1, "{completed:#?}");
    assert_eq!(completed[0].actor.id(), Some("deletion"));
    assert_eq!(completed[0].details["rows_removed"], removed);
    assert_eq!(completed[0].details["rows_left"], 0);
    for r in &records {
        let text = serde_json::to_string(r).unwrap();
        assert!(!text.contains(PERSON), "{text}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tenant_is_unreadable_everywhere_and_its_neighbour_untouched() {
    deleted_tenant(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tenant_is_unreadable_everywhere_on_postgres_and_s3() {
    if let Some(backend) = pg_s3() {
        deleted_tenant(backend).await;
    }
}

async fn deleted_tenant(backend: Backend) {
    let site = Site::new(&backend, "deletion");
    let dir = site.data();
    let server = start(&site).await;
    let gone = admin::demo_tenant(server.platform()).await.unwrap();
    let kept = admin::demo_tenant(server.platform()).await.unwrap();
    let gone_tenant = tenant_of(&server, &gone).await;
    let now = SystemTime::now() - Duration::from_secs(600);
    send_shop_at(&server, &gone.ingest_key, 1, 2, now).await;
    send_shop_at(&server, &kept.ingest_key, 2, 2, now).await;
    server.flush().await.unwrap();
    // Some of it only in the WAL.
    send_shop_at(&server, &gone.ingest_key, 3, 1, now).await;
    let kept_reader = Cred::Key(kept.read_key.clone());
    let kept_spans = count(&server, &kept_reader, "SELECT count(*) FROM spans").await;

    // A backup taken now: a copy of the tenant's segment files, and of its wrapped key.
    let prefix = format!("local/{}", gone_tenant.id);
    let backup = stored_objects(&server, &prefix).await;
    assert!(backup.len() >= 2);
    let gone_key: scrim_store::Keyring = segment_key(&server, &gone_tenant).await.into();
    let gone_wrapped = wrapped_key(&server, &gone_tenant).await;
    assert!(
        !every_segment(&backup, &gone_key).is_empty(),
        "readable before"
    );

    let owner = sign_in(&server, &gone.owner_email, &gone.owner_password, None).await;
    let wrong = json!({ "scope": "tenant", "confirm": kept.tenant });
    let a = call(&server, "POST", "/api/v1/deletions", &owner, Some(wrong)).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = call(
        &server,
        "POST",
        "/api/v1/deletions",
        &owner,
        Some(json!({ "scope": "tenant", "confirm": gone.tenant })),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["segments"].as_u64().unwrap() >= 2, "{}", a.body);
    assert!(
        a.body["api_keys_removed"].as_u64().unwrap() >= 2,
        "{}",
        a.body
    );

    // Its keys, sessions and people no longer open anything.
    for cred in [Cred::Key(gone.read_key.clone()), owner.clone()] {
        let a = call(&server, "GET", "/api/v1/services", &cred, None).await;
        assert_eq!(a.status, 401, "{}", a.body);
    }
    let meta = server.platform().meta();
    assert!(meta.tenant_by_name(&gone.tenant).await.unwrap().is_none());
    assert!(meta.tenant_by_id(&gone_tenant.id).await.unwrap().is_none());
    // Nothing of it is left: segments, WAL.
    let left = stored_objects(&server, &prefix).await;
    assert!(
        left.is_empty(),
        "{:?}",
        left.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    assert!(!dir.join("wal").join(gone_tenant.id.as_str()).exists());
    // The backup taken before cannot be read: the only key that opened it is gone from
    // the database, and no other key opens it.
    assert!(
        meta.tenant_data_keys(&gone_tenant.id)
            .await
            .unwrap_or_default()
            .is_empty()
    );
    if site.is_local() {
        // On SQLite, overwritten in the file, not left in free pages. (PostgreSQL keeps
        // the dead row until VACUUM: docs/data-lifecycle.md.)
        let db = [
            std::fs::read(dir.join("meta.db")).unwrap(),
            std::fs::read(dir.join("meta.db-wal")).unwrap_or_default(),
        ]
        .concat();
        assert!(
            !db.windows(gone_wrapped.len())
                .any(|w| w == gone_wrapped.as_slice()),
            "the wrapped data key is still in the metadata database"
        );
    }
    let kept_key: scrim_store::Keyring = segment_key(&server, &tenant_of(&server, &kept).await)
        .await
        .into();
    for (_, bytes) in &backup {
        assert!(scrim_store::segment::decode(bytes.clone(), &kept_key).is_err());
    }
    // The neighbour is untouched.
    assert_eq!(
        count(&server, &kept_reader, "SELECT count(*) FROM spans").await,
        kept_spans
    );
    // The request, the removal and the tombstone are kept.
    let records: Vec<String> = meta
        .audit_chain(gone_tenant.id.as_str(), 0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|r| record_of(r).unwrap().action)
        .collect();
    assert!(
        records.iter().any(|a| a == actions::TENANT_DELETE),
        "{records:?}"
    );
    assert!(
        records.iter().any(|a| a == actions::DELETION_DONE),
        "{records:?}"
    );
    let tombstones = meta.deletions(&gone_tenant.id).await.unwrap();
    assert_eq!(tombstones.len(), 1);
    assert_eq!(tombstones[0].status, scrim_meta::DeletionStatus::Done);
    // Its name is free again.
    admin::create_tenant(
        server.platform(),
        &scrim_server::accounts::Act::operator(scrim_audit::PLATFORM_TENANT),
        &gone.tenant,
        &admin::TenantOptions::default(),
    )
    .await
    .unwrap();
    server.shutdown().await;
}
