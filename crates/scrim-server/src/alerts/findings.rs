//! Sensitive-data findings: what the capture policy removed at ingest, by service, place
//! and kind, counted in memory per hour and written to the metadata database by the
//! alerting job ([`FindingCounts::flush`]). The first time a (service, place, kind) is seen
//! is an insight of its own: a service started sending something it never sent before.
//!
//! Counts are statistics: a crash loses at most one job interval of them (the spans
//! themselves keep their `scrim.redacted.<kind>` counts). Memory is bounded per tenant.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use scrim_meta::{FindingRow, TenantId};
use scrim_otlp::redact::Locations;

/// Distinct (hour, service, place, kind) kept per tenant between flushes; past it, new
/// places of that tenant are counted under `other` rather than growing without bound.
const MAX_KEYS_PER_TENANT: usize = 10_000;
/// Longest service or place name kept (longer ones are cut).
const MAX_NAME: usize = 200;
const HOUR_MS: i64 = 3_600_000;

type Key = (i64, String, String, &'static str);

/// Findings counted since the last flush, per tenant.
#[derive(Default)]
pub(crate) struct FindingCounts {
    pending: Mutex<HashMap<String, BTreeMap<Key, u64>>>,
}

impl FindingCounts {
    /// Adds what one ingest request's redaction found.
    pub fn add(&self, tenant: &str, found: &Locations, now_ms: i64) {
        if found.is_empty() {
            return;
        }
        let hour = now_ms - now_ms.rem_euclid(HOUR_MS);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let counts = pending.entry(tenant.to_owned()).or_default();
        for (service, place, kind, n) in found.iter() {
            let mut key = (hour, cut(service), cut(place), kind.as_str());
            if counts.len() >= MAX_KEYS_PER_TENANT && !counts.contains_key(&key) {
                key.2 = "other".to_owned();
            }
            let slot = counts.entry(key).or_default();
            *slot = slot.saturating_add(n);
        }
    }

    /// Takes everything counted so far.
    fn take(&self) -> HashMap<String, BTreeMap<Key, u64>> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Puts counts back after a failed write, so the next flush tries again.
    fn restore(&self, tenant: String, counts: BTreeMap<Key, u64>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let slot = pending.entry(tenant).or_default();
        for (k, n) in counts {
            *slot.entry(k).or_default() += n;
        }
    }

    /// Writes the counts to the metadata database; returns each tenant's first sightings.
    /// `scrub` masks what the detectors find in a name (an application that puts an e-mail
    /// address into an attribute name).
    pub async fn flush(
        &self,
        meta: &scrim_meta::Meta,
        now_ms: i64,
        scrub: &(dyn Fn(&str) -> String + Sync),
    ) -> Vec<(TenantId, Vec<(String, String, String)>)> {
        let mut out = Vec::new();
        for (tenant, counts) in self.take() {
            let rows: Vec<FindingRow> = counts
                .iter()
                .map(|((hour, service, place, kind), n)| FindingRow {
                    hour_ms: *hour,
                    service: scrub(service),
                    attribute: scrub(place),
                    kind: (*kind).to_owned(),
                    count: *n,
                })
                .collect();
            let Ok(id) = TenantId::parse(&tenant) else {
                continue;
            };
            match meta.add_redaction_findings(&id, &rows, now_ms).await {
                Ok(first) => {
                    if !first.is_empty() {
                        out.push((id, first));
                    }
                }
                // A tenant deleted meanwhile has nowhere to put them: dropped.
                Err(scrim_meta::MetaError::NotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(tenant, "sensitive-data findings not written yet: {e}");
                    self.restore(tenant, counts);
                }
            }
        }
        out
    }
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_NAME {
        return s.to_owned();
    }
    let mut end = MAX_NAME;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
