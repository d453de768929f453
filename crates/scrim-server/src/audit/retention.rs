//! How long the audit log is kept, and the job that removes what is older.
//!
//! At least 365 days, whatever a tenant's telemetry retention: audits (SOC 2, ISO 27001,
//! PCI DSS's one year of audit trail) ask who did what over the past year, and a tenant that
//! keeps telemetry for a week still needs that answer. A configuration asking for less is
//! refused at start-up with that explanation.
//!
//! Pruning keeps each chain verifiable: a chain is cut only right after a signed checkpoint
//! made before the cutoff, so that verification starts from the checkpoint (scrim-audit
//! accepts a chain whose first record follows a checkpoint). Records a little older than
//! the retention may stay until the next checkpoint; none younger is ever removed. The job
//! writes an `audit.prune` record in each chain it cuts, before it cuts it.

use scrim_audit::{Actor, utc_text};
use scrim_meta::Meta;

use super::{AuditLog, Origin, actions};
use crate::ServerError;

/// The shortest retention accepted.
pub const MIN_RETENTION_DAYS: u32 = 365;
/// The retention when none is configured: a year and a month's margin.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;
/// The longest retention accepted (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

const DAY_MS: i64 = 86_400_000;

/// How long audit records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRetention {
    days: u32,
}

impl Default for AuditRetention {
    fn default() -> Self {
        AuditRetention {
            days: DEFAULT_RETENTION_DAYS,
        }
    }
}

impl AuditRetention {
    /// `days`, if it is at least [`MIN_RETENTION_DAYS`] (and at most ten years).
    pub fn days(days: u32) -> Result<AuditRetention, ServerError> {
        if days < MIN_RETENTION_DAYS {
            return Err(ServerError::Usage(format!(
                "audit_retention_days = {days} is refused: the audit log is kept at least \
                 {MIN_RETENTION_DAYS} days whatever the telemetry retention, because audits ask \
                 who saw and changed what over the past year; set {MIN_RETENTION_DAYS} or more"
            )));
        }
        if days > MAX_RETENTION_DAYS {
            return Err(ServerError::Usage(format!(
                "audit_retention_days = {days} is more than {MAX_RETENTION_DAYS} (ten years)"
            )));
        }
        Ok(AuditRetention { days })
    }

    pub fn in_days(self) -> u32 {
        self.days
    }
}

/// What one pruning pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// (chain, records removed) for each chain that was cut.
    pub chains: Vec<(String, u64)>,
}

/// Removes, in every chain, the records older than `retention` up to the newest checkpoint
/// made before the cutoff, writing an `audit.prune` record first (fail closed: no record,
/// no removal).
pub async fn prune(
    meta: &Meta,
    log: &AuditLog,
    retention: AuditRetention,
    now_ms: i64,
) -> Result<Pruned, ServerError> {
    let cutoff = now_ms - i64::from(retention.days) * DAY_MS;
    let mut pruned = Pruned::default();
    for tenant in meta.audit_tenants().await? {
        // A checkpoint made before the cutoff vouches for records that are all older.
        let Some(anchor) = meta
            .audit_checkpoints(&tenant)
            .await?
            .into_iter()
            .filter(|c| c.at_ms < cutoff)
            .map(|c| c.seq)
            .max()
        else {
            continue;
        };
        let oldest = meta.audit_chain(&tenant, 0, 1).await?;
        if oldest.first().is_none_or(|r| r.seq > anchor) {
            continue;
        }
        let entry = log
            .entry(
                &tenant,
                Actor::System {
                    name: "retention".into(),
                },
                actions::AUDIT_PRUNE,
                &Origin::default(),
            )
            .detail("through_seq", anchor)
            .detail("older_than", utc_text(cutoff))
            .detail("retention_days", retention.days);
        let removed = entry.around(meta.prune_audit(&tenant, anchor)).await??;
        pruned.chains.push((tenant, removed));
    }
    Ok(pruned)
}
