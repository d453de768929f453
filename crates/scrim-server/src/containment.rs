//! Containment, the step of incident response after detection: what an owner or admin (or
//! the operator, `scrim contain`) does to stop the damage while they find out what
//! happened. Each action is audited before it takes effect, and each can be undone:
//!
//! - `suspend-keys`: every API key of the tenant that is neither revoked nor suspended is
//!   suspended (refused like a revoked key); `restore-keys` lifts exactly the suspension,
//!   never a revocation.
//! - `end-sessions`: every session acting in the tenant ends, the caller's included. Its
//!   undoing is signing in again, so there is no inverse action.
//! - `freeze-reads`: telemetry can no longer be read, searched, exported or sent to the AI
//!   provider through the API and the UI (423 Locked); ingest goes on, so nothing is lost
//!   while the tenant is frozen. `unfreeze-reads` lifts it.

use scrim_meta::TenantId;
use serde_json::{Value, json};

use crate::ServerError;
use crate::accounts::Act;
use crate::audit::actions;
use crate::platform::Platform;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SuspendKeys,
    RestoreKeys,
    EndSessions,
    FreezeReads,
    UnfreezeReads,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::SuspendKeys,
        Action::RestoreKeys,
        Action::EndSessions,
        Action::FreezeReads,
        Action::UnfreezeReads,
    ];

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::SuspendKeys => "suspend-keys",
            Action::RestoreKeys => "restore-keys",
            Action::EndSessions => "end-sessions",
            Action::FreezeReads => "freeze-reads",
            Action::UnfreezeReads => "unfreeze-reads",
        }
    }

    fn audit_action(self) -> &'static str {
        match self {
            Action::SuspendKeys => actions::CONTAIN_KEYS_SUSPEND,
            Action::RestoreKeys => actions::CONTAIN_KEYS_RESTORE,
            Action::EndSessions => actions::CONTAIN_SESSIONS_END,
            Action::FreezeReads => actions::CONTAIN_READS_FREEZE,
            Action::UnfreezeReads => actions::CONTAIN_READS_UNFREEZE,
        }
    }
}

/// Applies `action` to `tenant` as `act`; answers what changed.
pub async fn apply(
    platform: &Platform,
    act: &Act,
    tenant: &TenantId,
    action: Action,
) -> Result<Value, ServerError> {
    let meta = &platform.meta;
    let now = crate::audit::now_ms();
    let by = crate::audit::actor_column(&crate::audit::actor_of(&act.actor));
    let entry = act.entry(&platform.audit, action.audit_action(), tenant.as_str());
    let changed = match action {
        Action::SuspendKeys => entry.around(meta.suspend_api_keys(tenant, now)).await??,
        Action::RestoreKeys => entry.around(meta.restore_api_keys(tenant)).await??,
        Action::EndSessions => {
            entry
                .around(meta.revoke_tenant_sessions(tenant, now))
                .await??
        }
        Action::FreezeReads => {
            entry
                .around(meta.set_reads_frozen(tenant, Some((now, by.as_str()))))
                .await??;
            1
        }
        Action::UnfreezeReads => {
            entry.around(meta.set_reads_frozen(tenant, None)).await??;
            1
        }
    };
    let mut out = status(platform, tenant).await?;
    out["action"] = json!(action.as_str());
    out["changed"] = json!(changed);
    Ok(out)
}

/// What containment is in force for `tenant`.
pub async fn status(platform: &Platform, tenant: &TenantId) -> Result<Value, ServerError> {
    let meta = &platform.meta;
    let t = meta
        .tenant_by_id(tenant)
        .await?
        .ok_or_else(|| ServerError::Usage("no such tenant".into()))?;
    let keys = meta.list_api_keys(tenant).await?;
    let suspended = keys
        .iter()
        .filter(|k| k.revoked_at.is_none() && k.suspended_at.is_some())
        .count();
    let active = keys
        .iter()
        .filter(|k| k.revoked_at.is_none() && k.suspended_at.is_none())
        .count();
    Ok(json!({
        "reads_frozen": t.reads_frozen_at.is_some(),
        "reads_frozen_at": t.reads_frozen_at.map(crate::review::rfc3339),
        "reads_frozen_by": t.reads_frozen_by,
        "keys_active": active,
        "keys_suspended": suspended,
    }))
}

/// Refuses a read of `tenant`'s telemetry while its reads are frozen. Read from the
/// database on every call, so a freeze holds at once on every node.
pub(crate) async fn check_reads(platform: &Platform, tenant: &TenantId) -> Result<(), ServerError> {
    let frozen = platform
        .meta
        .tenant_by_id(tenant)
        .await?
        .is_some_and(|t| t.reads_frozen_at.is_some());
    if frozen {
        return Err(ServerError::ReadsFrozen);
    }
    Ok(())
}
