//! Ingest, counted per API key and per hour instead of recorded per request: one
//! `ingest.hourly` record per key for each hour it sent data, written once the hour is over
//! (and, for the hour in progress, when the server stops).

use std::collections::HashMap;
use std::sync::Mutex;

use scrim_audit::{Actor, utc_text};

use super::{AuditLog, Origin, actions};

const HOUR_MS: i64 = 3_600_000;
const SIGNALS: [&str; 3] = ["traces", "logs", "metrics"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    requests: [u64; 3],
    items: [u64; 3],
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        for i in 0..3 {
            self.requests[i] += other.requests[i];
            self.items[i] += other.items[i];
        }
    }
}

/// (tenant, key id, hour start in Unix ms) ▸ counts.
type Key = (String, String, i64);

/// This node's ingest counts not yet written.
#[derive(Debug, Default)]
pub(crate) struct IngestCounts {
    open: Mutex<HashMap<Key, Counts>>,
}

impl IngestCounts {
    /// Counts one accepted request of `items` items of `signal` (0 traces, 1 logs,
    /// 2 metrics).
    pub fn add(&self, tenant: &str, key_id: &str, signal: usize, items: u64, now_ms: i64) {
        let hour = now_ms - now_ms.rem_euclid(HOUR_MS);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let c = open
            .entry((tenant.to_owned(), key_id.to_owned(), hour))
            .or_default();
        c.requests[signal.min(2)] += 1;
        c.items[signal.min(2)] += items;
    }

    /// Writes a record for every hour that ended before `now_ms` (every hour, marked
    /// `partial`, when `all`); what cannot be written is kept for the next call. Returns
    /// how many records were written.
    pub async fn write(&self, log: &AuditLog, now_ms: i64, all: bool) -> usize {
        let current = now_ms - now_ms.rem_euclid(HOUR_MS);
        let due: Vec<(Key, Counts)> = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<Key> = open
                .keys()
                .filter(|k| all || k.2 < current)
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| open.remove(&k).map(|c| (k, c)))
                .collect()
        };
        let mut written = 0;
        for ((tenant, key, hour), counts) in due {
            let mut requests = serde_json::Map::new();
            let mut items = serde_json::Map::new();
            for (i, s) in SIGNALS.iter().enumerate() {
                if counts.requests[i] > 0 {
                    requests.insert((*s).into(), counts.requests[i].into());
                    items.insert((*s).into(), counts.items[i].into());
                }
            }
            let entry = log
                .entry(
                    &tenant,
                    Actor::ApiKey { id: key.clone() },
                    actions::INGEST_HOURLY,
                    &Origin::default(),
                )
                .target(key.clone())
                .detail("hour", utc_text(hour))
                .detail("requests", requests)
                .detail("items", items)
                .detail("partial", hour >= current);
            if entry.success().await.is_ok() {
                written += 1;
            } else {
                // Kept, to be written with the next hour's.
                let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
                open.entry((tenant, key, hour)).or_default().add(&counts);
            }
        }
        written
    }
}
