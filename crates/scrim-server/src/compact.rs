//! Compaction: small segments of one tenant, signal and hour merged into fewer, larger ones.
//!
//! A node flushes every few seconds, so a quiet tenant gets hundreds of small segments an
//! hour, and every query over that hour would open each of them. The flusher therefore
//! merges, per tenant, signal and hour directory, segments under half of
//! [`Compaction::target_rows`] into segments of at most that many rows:
//!
//! ```text
//! catalog ▸ plan (pure) ▸ read (each with its key), merge, sort, seal under the current
//!         data key (SegmentStore::compact)
//!         ▸ catalog swap (one transaction) ▸ old objects deleted after a grace period
//! ```
//!
//! The swap is what makes it safe: a query sees either the old segments or the new one,
//! never both. Queries that listed the old segments just before the swap still read them,
//! so their objects are deleted only after [`Compaction::grace`]. Two nodes compacting the
//! same segments race on the swap; the loser's merged object is deleted and nothing else
//! changes. A node that stops before the grace period ends deletes what it retired on
//! shutdown; one that crashes leaves those objects behind, unreferenced (they are never
//! read, but they take space).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use scrim_meta::{MetaError, Segment, TenantId};
use scrim_store::{SegmentMeta, SegmentStore};

use crate::ServerError;
use crate::serve::Shared;
use crate::tenants::TenantRuntime;

/// When and how much to merge.
#[derive(Debug, Clone)]
pub struct Compaction {
    /// How often the flusher looks for segments to merge.
    pub interval: Duration,
    /// A merged segment holds at most this many rows; segments with fewer than half of it
    /// are merged. It bounds the memory of one merge (every row is held while it is sorted).
    pub target_rows: u64,
    /// An hour with fewer than [`MANY_SMALL`] small segments is merged only once its newest
    /// segment is this old, so that a busy hour is not rewritten every round.
    pub settle: Duration,
    /// How long replaced segments stay readable for queries that already listed them.
    pub grace: Duration,
}

impl Default for Compaction {
    fn default() -> Self {
        Compaction {
            interval: Duration::from_secs(60),
            target_rows: 200_000,
            settle: Duration::from_secs(300),
            grace: Duration::from_secs(120),
        }
    }
}

/// This many small segments in one hour are merged without waiting for [`Compaction::settle`].
pub const MANY_SMALL: usize = 8;

/// Groups of segments (paths, in time order) to merge into one each. `segments` are of one
/// tenant and signal, as the catalog lists them.
pub fn plan(segments: &[Segment], c: &Compaction, now: SystemTime) -> Vec<Vec<String>> {
    let small_below = c.target_rows / 2;
    let mut by_hour: BTreeMap<&str, Vec<&Segment>> = BTreeMap::new();
    for s in segments.iter().filter(|s| s.rows < small_below) {
        let hour = s.path.rsplit_once('/').map_or("", |(dir, _)| dir);
        by_hour.entry(hour).or_default().push(s);
    }
    let mut groups = Vec::new();
    for (_, mut small) in by_hour {
        let settled = small.iter().all(|s| {
            now.duration_since(s.created_at)
                .is_ok_and(|age| age >= c.settle)
        });
        if small.len() < 2 || (small.len() < MANY_SMALL && !settled) {
            continue;
        }
        small.sort_by_key(|s| (s.min_time_ns, s.max_time_ns));
        let mut group: Vec<String> = Vec::new();
        let mut rows = 0u64;
        for s in small {
            if !group.is_empty() && rows + s.rows > c.target_rows {
                if group.len() >= 2 {
                    groups.push(std::mem::take(&mut group));
                }
                group.clear();
                rows = 0;
            }
            rows += s.rows;
            group.push(s.path.clone());
        }
        if group.len() >= 2 {
            groups.push(group);
        }
    }
    groups
}

/// Segments replaced by compaction, waiting for their grace period to end.
#[derive(Debug, Default)]
pub(crate) struct Retired {
    due: Mutex<Vec<RetiredObjects>>,
}

/// Objects of one tenant in one region's store, deleted at `at`.
#[derive(Debug)]
struct RetiredObjects {
    at: Instant,
    store: SegmentStore,
    tenant: TenantId,
    paths: Vec<String>,
}

impl Retired {
    /// Deletes `paths` of `tenant` from `store` (its region's) once `at` has passed.
    pub(crate) fn add(
        &self,
        at: Instant,
        store: SegmentStore,
        tenant: TenantId,
        paths: Vec<String>,
    ) {
        self.lock().push(RetiredObjects {
            at,
            store,
            tenant,
            paths,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RetiredObjects>> {
        self.due.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deletes the objects whose grace period has ended (all of them when `all`).
    pub async fn delete_due(&self, all: bool) {
        let now = Instant::now();
        let due: Vec<_> = {
            let mut list = self.lock();
            let (due, keep) = list.drain(..).partition(|r| all || r.at <= now);
            *list = keep;
            due
        };
        for RetiredObjects {
            store,
            tenant,
            paths,
            ..
        } in due
        {
            if let Err(e) = store.delete(tenant.as_str(), &paths).await {
                // Unreferenced by the catalog: never read again, only space is lost.
                tracing::warn!("deleting compacted segments of tenant {tenant}: {e}");
            }
        }
    }
}

/// Merges what [`plan`] finds for every signal of one tenant. Returns how many merged
/// segments were written.
pub(crate) async fn compact_tenant(
    shared: &Shared,
    rt: &TenantRuntime,
    c: &Compaction,
    now: SystemTime,
) -> Result<usize, ServerError> {
    let meta = &shared.platform.meta;
    let tenant = &rt.tenant.id;
    let store = &shared.platform.regions.of(&rt.tenant)?.store;
    let mut merged = 0;
    for signal in scrim_store::Signal::ALL {
        let listed = meta
            .segments(
                tenant,
                crate::api::meta_signal(signal),
                scrim_meta::TimeRange::all(),
                None,
            )
            .await?;
        for group in plan(&listed, c, now) {
            let inputs: Vec<SegmentMeta> = listed
                .iter()
                .filter(|s| group.contains(&s.path))
                .map(|s| crate::api::store_meta(s.clone(), signal, None))
                .collect();
            // Each input is read with its own key; the merged segment is written under the
            // current one, which re-encrypts what was written before a rotation.
            let newest = listed
                .iter()
                .filter(|s| group.contains(&s.path))
                .map(|s| s.key_version)
                .max()
                .unwrap_or(0);
            let keys = shared.tenants.keys_for(rt, newest).await?;
            let Some((new, old)) = store.compact(tenant.as_str(), &keys, &inputs).await? else {
                continue;
            };
            let record = crate::api::catalog_segment(tenant, &new)?;
            match meta.replace_segments(tenant, &old, &record).await {
                Ok(_) => {
                    merged += 1;
                    shared.retired.add(
                        Instant::now() + c.grace,
                        store.clone(),
                        tenant.clone(),
                        old,
                    );
                }
                Err(e) => {
                    // Not swapped in: the merged object is nobody's.
                    let _ = store
                        .delete(tenant.as_str(), std::slice::from_ref(&new.path))
                        .await;
                    match e {
                        // Another node merged or deleted some of these first.
                        MetaError::NotFound { .. } => continue,
                        e => return Err(e.into()),
                    }
                }
            }
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(path: &str, min: i64, rows: u64, age_s: u64, now: SystemTime) -> Segment {
        Segment {
            tenant_id: TenantId::parse("t_abcdefghijklmnop").unwrap(),
            signal: scrim_meta::Signal::Traces,
            path: path.into(),
            min_time_ns: min,
            max_time_ns: min + 10,
            rows,
            bytes: 100,
            services: vec![],
            created_at: now - Duration::from_secs(age_s),
            key_version: 1,
        }
    }

    fn config() -> Compaction {
        Compaction {
            target_rows: 1000,
            settle: Duration::from_secs(60),
            ..Compaction::default()
        }
    }

    #[test]
    fn settled_small_segments_of_one_hour_merge_up_to_the_target() {
        let now = SystemTime::now();
        let segs = vec![
            seg("r/t/traces/2026/11/24/10/a", 3, 300, 120, now),
            seg("r/t/traces/2026/11/24/10/b", 1, 400, 120, now),
            seg("r/t/traces/2026/11/24/10/c", 5, 400, 120, now),
            seg("r/t/traces/2026/11/24/10/d", 7, 100, 120, now),
            // Large enough already.
            seg("r/t/traces/2026/11/24/10/big", 0, 600, 120, now),
            // Alone in its hour.
            seg("r/t/traces/2026/11/24/11/e", 9, 10, 120, now),
        ];
        let groups = plan(&segs, &config(), now);
        // Time order b(400) a(300) | c(400) d(100): the first group stops before 1100 rows.
        assert_eq!(
            groups,
            vec![
                vec!["r/t/traces/2026/11/24/10/b", "r/t/traces/2026/11/24/10/a"],
                vec!["r/t/traces/2026/11/24/10/c", "r/t/traces/2026/11/24/10/d"],
            ]
        );
    }

    #[test]
    fn a_busy_hour_waits_until_it_settles_or_has_many_segments() {
        let now = SystemTime::now();
        let fresh: Vec<Segment> = (0..MANY_SMALL - 1)
            .map(|i| seg(&format!("r/t/traces/h/{i}"), i as i64, 10, 5, now))
            .collect();
        assert!(plan(&fresh, &config(), now).is_empty());
        let mut many = fresh.clone();
        many.push(seg("r/t/traces/h/x", 99, 10, 5, now));
        assert_eq!(plan(&many, &config(), now).len(), 1);
        assert_eq!(plan(&many, &config(), now)[0].len(), MANY_SMALL);
        let later = now + Duration::from_secs(60);
        assert_eq!(plan(&fresh, &config(), later).len(), 1);
    }
}
