//! Telemetry retention: the job removes exactly the segments past each tenant's retention,
//! their catalog entries and their files, records each run, and the retention is visible
//! and changeable through the API.

use std::time::{Duration, SystemTime};

use scrim_server::Server;
use scrim_server::admin::{self, DemoTenant};
use scrim_server::audit::{actions, record_of};
use serde_json::json;

mod common;
use common::*;

const DAY: Duration = Duration::from_secs(86_400);

async fn count(server: &Server, key: &str, table: &str) -> u64 {
    let cred = Cred::Key(key.to_owned());
    let query = json!({ "query": format!("SELECT count(*) AS n FROM {table}") });
    let a = call(server, "POST", "/api/v1/sql", &cred, Some(query)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["rows"][0][0].as_u64().unwrap()
}

async fn segment_paths(server: &Server, tenant: &scrim_meta::TenantId) -> Vec<String> {
    let mut paths = Vec::new();
    for signal in [
        scrim_meta::Signal::Traces,
        scrim_meta::Signal::Logs,
        scrim_meta::Signal::Metrics,
    ] {
        let segs = server
            .platform()
            .meta()
            .segments(tenant, signal, scrim_meta::TimeRange::all(), None)
            .await
            .unwrap();
        paths.extend(segs.into_iter().map(|s| s.path));
    }
    paths.sort();
    paths
}

fn spans(batches: &[scrim_otlp::Batch]) -> u64 {
    batches
        .iter()
        .filter(|b| b.signal() == scrim_otlp::Signal::Traces)
        .map(|b| b.item_count())
        .sum()
}

/// Sends a batch of shop traffic dated `age` ago and flushes it into its own segments.
async fn send_aged(server: &Server, t: &DemoTenant, seed: u64, age: Duration) -> u64 {
    let sent = send_shop_at(server, &t.ingest_key, seed, 2, SystemTime::now() - age).await;
    server.flush().await.unwrap();
    spans(&sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_exactly_what_is_due_and_records_each_run() {
    retention(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_exactly_what_is_due_on_postgres_and_s3() {
    if let Some(backend) = pg_s3() {
        retention(backend).await;
    }
}

async fn retention(backend: Backend) {
    let site = Site::new(&backend, "retention");
    let server = site
        .start(|c| {
            c.flush_rows = usize::MAX;
            // Removed objects go at once, not after the grace for running queries.
            c.compaction.grace = Duration::ZERO;
        })
        .await;
    let t = admin::demo_tenant(server.platform()).await.unwrap();
    let tenant = server
        .platform()
        .meta()
        .tenant_by_name(&t.tenant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.retention_days, 30);

    let old = send_aged(&server, &t, 1, 40 * DAY).await;
    let old_paths = segment_paths(&server, &tenant.id).await;
    let middle = send_aged(&server, &t, 2, 10 * DAY).await;
    let middle_paths: Vec<String> = segment_paths(&server, &tenant.id)
        .await
        .into_iter()
        .filter(|p| !old_paths.contains(p))
        .collect();
    let fresh = send_aged(&server, &t, 3, Duration::from_secs(60)).await;
    let all_paths = segment_paths(&server, &tenant.id).await;
    assert!(old > 0 && middle > 0 && fresh > 0);
    assert!(!old_paths.is_empty() && !middle_paths.is_empty());
    for p in &all_paths {
        assert!(object_exists(&server, p).await, "{p}");
    }
    assert_eq!(
        count(&server, &t.read_key, "spans").await,
        old + middle + fresh
    );

    // 30 days: the 40-day-old segments go, exactly those.
    let removed = server.enforce_retention(SystemTime::now()).await.unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0].segments, old_paths.len());
    assert_eq!(count(&server, &t.read_key, "spans").await, middle + fresh);
    let left = segment_paths(&server, &tenant.id).await;
    for p in &all_paths {
        let kept = left.contains(p);
        assert_eq!(kept, !old_paths.contains(p), "{p}");
        assert_eq!(object_exists(&server, p).await, kept, "{p}");
    }
    // Nothing more is due: no second removal, no second record.
    assert!(
        server
            .enforce_retention(SystemTime::now())
            .await
            .unwrap()
            .is_empty()
    );
    let records: Vec<scrim_audit::AuditRecord> = server
        .platform()
        .meta()
        .audit_chain(tenant.id.as_str(), 0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|r| record_of(r).unwrap())
        .filter(|r| r.action == actions::TELEMETRY_RETENTION)
        .collect();
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(r.actor.id(), Some("retention"));
    assert_eq!(r.details["retention_days"], 30);
    assert_eq!(r.details["segments"], old_paths.len());
    assert_eq!(r.details["rows"], removed[0].rows);

    // The owner shortens the retention to 5 days through the API: recorded with before and
    // after, visible, and the next run removes the 10-day-old data too.
    let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
    let a = call(&server, "GET", "/api/v1/settings/retention", &owner, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["retention_days"], 30);
    assert!(a.body["oldest_stored_data"].is_string(), "{}", a.body);
    let body = json!({ "retention_days": 5 });
    let a = call(
        &server,
        "PUT",
        "/api/v1/settings/retention",
        &owner,
        Some(body),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let bad = json!({ "retention_days": 0 });
    let a = call(
        &server,
        "PUT",
        "/api/v1/settings/retention",
        &owner,
        Some(bad),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let change = server
        .platform()
        .meta()
        .audit_chain(tenant.id.as_str(), 0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|r| record_of(r).unwrap())
        .filter(|r| r.action == actions::RETENTION_SETTINGS)
        .collect::<Vec<_>>();
    assert_eq!(change.len(), 1, "{change:#?}");
    assert_eq!(
        change[0].details["changes"]["retention_days"],
        json!({ "before": 30, "after": 5 })
    );
    let removed = server.enforce_retention(SystemTime::now()).await.unwrap();
    assert_eq!(removed[0].segments, middle_paths.len());
    assert_eq!(count(&server, &t.read_key, "spans").await, fresh);
    for p in &middle_paths {
        assert!(!object_exists(&server, p).await, "{p}");
    }

    // Members may not change it; the read-only key may not see it.
    let viewer = Cred::Key(t.read_key.clone());
    let a = call(&server, "GET", "/api/v1/settings/retention", &viewer, None).await;
    assert_eq!(a.status, 403);
    server.shutdown().await;
}
