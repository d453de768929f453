//! Telemetry retention: each tenant's data is kept for its `retention_days` and no longer.
//!
//! The job removes whole segments: a segment goes once its newest row is older than the
//! tenant's cutoff (so data can outlive its retention by at most the span of one segment,
//! an hour's directory at most). Each removal is recorded in the tenant's audit chain first
//! (`telemetry.retention`, by `system:retention`; fail closed: no record, nothing removed),
//! then the catalog entries go in one transaction (from then on no query lists them), and
//! the objects are deleted after the compaction grace period, so a query that listed them
//! just before still reads them.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use scrim_audit::{Actor, utc_text};
use scrim_meta::{Segment, Tenant};

use crate::ServerError;
use crate::audit::{Origin, actions};
use crate::serve::Shared;

const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// What one pass removed from one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub tenant: String,
    pub segments: usize,
    pub rows: u64,
    pub bytes: u64,
    /// Data older than this (Unix ns) was due.
    pub cutoff_ns: i64,
}

/// The segments of `segments` whose newest row is older than `cutoff_ns`.
pub fn due(segments: &[Segment], cutoff_ns: i64) -> Vec<&Segment> {
    segments
        .iter()
        .filter(|s| s.max_time_ns < cutoff_ns)
        .collect()
}

/// The cutoff of a tenant at `now`: `retention_days` before it, in Unix ns.
pub fn cutoff_ns(tenant: &Tenant, now: SystemTime) -> i64 {
    let now_ns = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    now_ns - i64::from(tenant.retention_days) * DAY_NS
}

/// One pass over every tenant at `now`; returns what was removed, tenant by tenant (a
/// tenant with nothing due is left out and gets no record).
pub(crate) async fn enforce(shared: &Shared, now: SystemTime) -> Result<Vec<Removed>, ServerError> {
    let mut removed = Vec::new();
    for tenant in shared.platform.meta.list_tenants().await? {
        // A node of the tenant's own region removes what is due there.
        if !shared.platform.regions.serves(&tenant) {
            continue;
        }
        if let Some(r) = enforce_tenant(shared, &tenant, now).await? {
            removed.push(r);
        }
    }
    Ok(removed)
}

async fn enforce_tenant(
    shared: &Shared,
    tenant: &Tenant,
    now: SystemTime,
) -> Result<Option<Removed>, ServerError> {
    let meta = &shared.platform.meta;
    let store = shared.platform.regions.of(tenant)?.store.clone();
    let cutoff = cutoff_ns(tenant, now);
    // What replaced segments past the cutoff is no longer needed: a restore skips them.
    meta.forget_replacements(&tenant.id, cutoff).await?;
    let mut paths = Vec::new();
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut per_signal = serde_json::Map::new();
    for signal in scrim_store::Signal::ALL {
        let listed = meta
            .segments(
                &tenant.id,
                crate::api::meta_signal(signal),
                scrim_meta::TimeRange::all(),
                None,
            )
            .await?;
        let due = due(&listed, cutoff);
        if due.is_empty() {
            continue;
        }
        per_signal.insert(
            crate::api::meta_signal(signal).as_str().into(),
            due.len().into(),
        );
        for s in due {
            rows += s.rows;
            bytes += s.bytes;
            paths.push(s.path.clone());
        }
    }
    if paths.is_empty() {
        return Ok(None);
    }
    let removed = shared
        .audit
        .entry(
            tenant.id.as_str(),
            Actor::System {
                name: "retention".into(),
            },
            actions::TELEMETRY_RETENTION,
            &Origin::default(),
        )
        .target(tenant.id.as_str())
        .detail("retention_days", tenant.retention_days)
        .detail("older_than", utc_text(cutoff.div_euclid(1_000_000)))
        .detail("segments", paths.len())
        .detail("signals", per_signal)
        .detail("rows", rows)
        .detail("bytes", bytes)
        .around(meta.delete_segments(&tenant.id, &paths))
        .await??;
    tracing::info!(
        tenant = %tenant.id,
        segments = removed,
        rows,
        "telemetry past its retention removed"
    );
    shared.retired.add(
        Instant::now() + shared.compaction.grace,
        store,
        tenant.id.clone(),
        paths.clone(),
    );
    Ok(Some(Removed {
        tenant: tenant.id.to_string(),
        segments: paths.len(),
        rows,
        bytes,
        cutoff_ns: cutoff,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn seg(path: &str, min: i64, max: i64) -> Segment {
        Segment {
            tenant_id: scrim_meta::TenantId::parse("t_abcdefghijklmnop").unwrap(),
            signal: scrim_meta::Signal::Traces,
            path: path.into(),
            min_time_ns: min,
            max_time_ns: max,
            rows: 1,
            bytes: 1,
            services: vec![],
            created_at: SystemTime::now(),
            key_version: 1,
        }
    }

    #[test]
    fn only_segments_wholly_older_than_the_cutoff_are_due() {
        let segs = [
            seg("old", 10, 99),
            seg("straddles", 50, 100),
            seg("new", 100, 200),
        ];
        let due: Vec<&str> = due(&segs, 100).iter().map(|s| s.path.as_str()).collect();
        assert_eq!(due, ["old"]);
        assert!(super::due(&segs, 10).is_empty());
    }

    #[test]
    fn the_cutoff_is_retention_days_before_now() {
        let mut t = test_tenant();
        t.retention_days = 2;
        let now = UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        assert_eq!(cutoff_ns(&t, now), 8 * DAY_NS);
    }

    fn test_tenant() -> Tenant {
        Tenant {
            id: scrim_meta::TenantId::parse("t_abcdefghijklmnop").unwrap(),
            name: "acme".into(),
            region: "local".into(),
            retention_days: 30,
            created_at: SystemTime::now(),
            capture_policy: None,
            policy_version: 0,
            data_key_version: 1,
            reads_frozen_at: None,
            reads_frozen_by: None,
        }
    }
}
