//! Security detections over each tenant's audit chain: the records written since the last
//! run are read in order (a cursor per tenant in `alert_cursors`, so every record is looked
//! at once, whichever process wrote it), classified by `scrim_alerts::detect`, and each
//! detection is written back to the chain as a `detection.*` record by `system:detections`
//! and sent as a notification. The chain itself is verified every `verify_interval`.

use scrim_alerts::detect::{self, AuditView, Detection, Trigger};
use scrim_audit::Actor;
use scrim_meta::Tenant;
use serde_json::{Map, Value};

use super::notify::{Message, enqueue, severity_of};
use crate::ServerError;
use crate::audit::Origin;
use crate::serve::Shared;

const CURSOR: &str = "detect.seq";
const LAST_BURST: &str = "detect.failed_sign_ins.at";
const VERIFIED_AT: &str = "detect.verified_at";
const CHAIN_BROKEN: &str = "detect.chain_broken";
/// Records older than this when first read are history, not news (a server that gains
/// detections by an upgrade does not report last year's escalations).
const FRESH_MS: i64 = 24 * 3_600_000;
const PAGE: u32 = 500;

/// Reads `tenant`'s new audit records and records what they reveal; returns how many
/// detections were made.
pub(crate) async fn scan(
    shared: &Shared,
    settings: &scrim_alerts::DetectionSettings,
    public_url: Option<&str>,
    verify_every_ms: i64,
    tenant: &Tenant,
    now_ms: i64,
) -> Result<u64, ServerError> {
    let meta = &shared.platform.meta;
    let chain = tenant.id.as_str();
    let mut after = meta.cursor(chain, CURSOR).await?.unwrap_or(0).max(0) as u64;
    let mut made = 0;
    loop {
        let rows = meta.audit_chain(chain, after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        let last_seq = last.seq;
        for row in &rows {
            if row.action.starts_with("detection.") || now_ms - row.at_ms > FRESH_MS {
                continue;
            }
            let Ok(r) = crate::audit::record_of(row) else {
                // Verification reports a damaged record; nothing to classify here.
                continue;
            };
            let view = AuditView {
                seq: r.seq,
                at_ms: r.at_ms,
                action: &r.action,
                outcome: &row.outcome,
                actor: &row.actor,
                target: r.target.as_deref().unwrap_or(""),
                addr: r.addr.as_deref(),
                details: &r.details,
            };
            let found = match detect::classify(&view, settings) {
                None => None,
                Some(Trigger::Now(d)) => Some(d),
                Some(Trigger::CountFailedSignIns { since_ms }) => {
                    let refused = meta
                        .count_audit(chain, detect::actions::SIGN_IN, Some("denied"), since_ms)
                        .await?;
                    let last = meta.cursor(chain, LAST_BURST).await?;
                    let burst =
                        detect::failed_sign_in_burst(refused, row.at_ms, last, settings, &view);
                    if burst.is_some() {
                        meta.set_cursor(chain, LAST_BURST, row.at_ms).await?;
                    }
                    burst
                }
            };
            if let Some(d) = found {
                record(shared, public_url, tenant, &d, now_ms).await?;
                made += 1;
            }
        }
        after = last_seq;
        meta.set_cursor(chain, CURSOR, after as i64).await?;
    }
    made += verify(shared, public_url, verify_every_ms, tenant, now_ms).await?;
    Ok(made)
}

/// Verifies the tenant's chain when it is due; a failure is reported once, until the chain
/// verifies again.
async fn verify(
    shared: &Shared,
    public_url: Option<&str>,
    every_ms: i64,
    tenant: &Tenant,
    now_ms: i64,
) -> Result<u64, ServerError> {
    let meta = &shared.platform.meta;
    let chain = tenant.id.as_str();
    if meta
        .cursor(chain, VERIFIED_AT)
        .await?
        .is_some_and(|at| now_ms - at < every_ms)
    {
        return Ok(0);
    }
    let verdict =
        crate::audit::read::verify_tenant(meta, chain, &shared.signer.public_key()).await?;
    meta.set_cursor(chain, VERIFIED_AT, now_ms).await?;
    let reported = meta.cursor(chain, CHAIN_BROKEN).await? == Some(1);
    match verdict.result {
        Ok(_) => {
            if reported {
                meta.set_cursor(chain, CHAIN_BROKEN, 0).await?;
            }
            Ok(0)
        }
        Err(_) if reported => Ok(0),
        Err(problem) => {
            let d = detect::audit_chain_broken(chain, &problem);
            record(shared, public_url, tenant, &d, now_ms).await?;
            meta.set_cursor(chain, CHAIN_BROKEN, 1).await?;
            Ok(1)
        }
    }
}

/// Writes `d` to the tenant's audit chain, then sends it.
async fn record(
    shared: &Shared,
    public_url: Option<&str>,
    tenant: &Tenant,
    d: &Detection,
    now_ms: i64,
) -> Result<(), ServerError> {
    let mut fields = Map::new();
    for (k, v) in &d.fields {
        fields.insert(k.clone(), Value::String(v.clone()));
    }
    let mut entry = shared
        .audit
        .entry(
            tenant.id.as_str(),
            Actor::System {
                name: "detections".into(),
            },
            d.kind.action(),
            &Origin::default(),
        )
        .detail("summary", shared.scrub(&d.summary))
        .detail("fields", Value::Object(fields))
        .detail("severity", d.kind.severity().as_str());
    if !d.target.is_empty() {
        entry = entry.target(d.target.clone());
    }
    if let Some(seq) = d.source_seq {
        entry = entry.detail("source_seq", seq);
    }
    entry
        .success()
        .await
        .map_err(|_| ServerError::AuditUnavailable)?;
    let mut fields = d.fields.clone();
    fields.push(("what to do".into(), d.kind.advice().into()));
    enqueue(
        &shared.platform,
        public_url,
        &tenant.id,
        &tenant.name,
        Message {
            kind: d.kind.action().to_owned(),
            severity: severity_of(d.kind.severity()),
            title: d.kind.title().to_owned(),
            summary: d.summary.clone(),
            fields,
            path: Some("/security/detections".into()),
        },
        now_ms,
    )
    .await?;
    Ok(())
}
