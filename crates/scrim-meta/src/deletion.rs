//! Deletion requests, which are also the tombstones a restore re-applies, and the removal
//! of a whole tenant's metadata.

use std::time::SystemTime;

use sqlx::Row;

use crate::BeginWrite as _;
use crate::error::{MetaError, classify};
use crate::{TenantId, from_ms, now_ms, on_pool};

/// What a request deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionScope {
    /// Everything of the tenant: its data key first (crypto-shredding), then the rest.
    Tenant,
    /// The rows an erasure covers (by time, service, attribute).
    Selective,
}

impl DeletionScope {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionScope::Tenant => "tenant",
            DeletionScope::Selective => "selective",
        }
    }

    fn parse(s: &str) -> Result<Self, MetaError> {
        match s {
            "tenant" => Ok(DeletionScope::Tenant),
            "selective" => Ok(DeletionScope::Selective),
            _ => Err(MetaError::Corrupt {
                what: "deletion scope",
            }),
        }
    }
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionStatus {
    /// Recorded; its rows are already hidden from every query.
    Pending,
    /// A node is rewriting segments.
    Running,
    /// Nothing it covers is stored any more (checked by query).
    Done,
    /// The job stopped; `error` says why. Its rows stay hidden; it is retried.
    Failed,
}

impl DeletionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionStatus::Pending => "pending",
            DeletionStatus::Running => "running",
            DeletionStatus::Done => "done",
            DeletionStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, MetaError> {
        match s {
            "pending" => Ok(DeletionStatus::Pending),
            "running" => Ok(DeletionStatus::Running),
            "done" => Ok(DeletionStatus::Done),
            "failed" => Ok(DeletionStatus::Failed),
            _ => Err(MetaError::Corrupt {
                what: "deletion status",
            }),
        }
    }
}

/// What [`Meta::insert_deletion`] records.
#[derive(Debug, Clone)]
pub struct NewDeletion {
    /// Chosen by the caller (it goes into the audit record written before the insert).
    pub id: String,
    pub tenant_id: TenantId,
    pub scope: DeletionScope,
    /// For [`DeletionScope::Selective`]: the erasure, JSON, opaque here.
    pub erasure: Option<String>,
    /// Who asked, as the audit log names them.
    pub requested_by: String,
}

/// A recorded deletion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub id: String,
    pub tenant_id: TenantId,
    pub scope: DeletionScope,
    pub erasure: Option<String>,
    pub status: DeletionStatus,
    pub requested_by: String,
    /// Unix ms.
    pub requested_at: i64,
    pub claimed_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub rows_removed: u64,
    pub segments_rewritten: u64,
    pub error: Option<String>,
}

impl Deletion {
    pub fn requested_at_time(&self) -> SystemTime {
        from_ms(self.requested_at)
    }
}

/// What [`Meta::shred_tenant`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shredded {
    /// The catalogued segment paths (their objects are the caller's to delete).
    pub segments: Vec<String>,
    pub api_keys: u64,
    pub members: u64,
    pub sessions: u64,
    pub alert_rules: u64,
    pub notification_channels: u64,
    pub notifications: u64,
}

const COLUMNS: &str = "id, tenant_id, scope, erasure, status, requested_by, requested_at, \
     claimed_at, finished_at, rows_removed, segments_rewritten, error";

macro_rules! deletion_from_row {
    ($row:expr) => {{
        let row = $row;
        let rows: i64 = row.try_get("rows_removed")?;
        let segments: i64 = row.try_get("segments_rewritten")?;
        let scope: String = row.try_get("scope")?;
        let status: String = row.try_get("status")?;
        Deletion {
            id: row.try_get("id")?,
            tenant_id: TenantId::from_db(row.try_get("tenant_id")?),
            scope: DeletionScope::parse(&scope)?,
            erasure: row.try_get("erasure")?,
            status: DeletionStatus::parse(&status)?,
            requested_by: row.try_get("requested_by")?,
            requested_at: row.try_get("requested_at")?,
            claimed_at: row.try_get("claimed_at")?,
            finished_at: row.try_get("finished_at")?,
            rows_removed: u64::try_from(rows).unwrap_or(0),
            segments_rewritten: u64::try_from(segments).unwrap_or(0),
            error: row.try_get("error")?,
        }
    }};
}

fn check_id(id: &str) -> Result<(), MetaError> {
    let ok = (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(MetaError::Invalid {
            field: "deletion id",
            reason: "3 to 64 letters, digits, '_' or '-'",
        })
    }
}

impl crate::Meta {
    /// Records a deletion request, `pending`. The tenant must exist and not be deleted.
    pub async fn insert_deletion(&self, new: &NewDeletion) -> Result<Deletion, MetaError> {
        check_id(&new.id)?;
        if (new.scope == DeletionScope::Selective) != new.erasure.is_some() {
            return Err(MetaError::Invalid {
                field: "erasure",
                reason: "a selective deletion has an erasure, a tenant deletion none",
            });
        }
        let now = now_ms();
        // A tenant deletion runs at once, in the requester's process: recorded as claimed,
        // so no other node starts on it (it is taken up again only if that process stops).
        let (status, claimed_at) = match new.scope {
            DeletionScope::Selective => (DeletionStatus::Pending, None),
            DeletionScope::Tenant => (DeletionStatus::Running, Some(now)),
        };
        let sql = "INSERT INTO deletions (id, tenant_id, scope, erasure, status, requested_by, \
                   requested_at, claimed_at) SELECT $1, id, $3, $4, $7, $5, $6, $8 FROM tenants \
                   WHERE id = $2 AND deleted_at IS NULL";
        let inserted = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(&new.id)
                .bind(new.tenant_id.as_str())
                .bind(new.scope.as_str())
                .bind(new.erasure.as_deref())
                .bind(&new.requested_by)
                .bind(now)
                .bind(status.as_str())
                .bind(claimed_at)
                .execute(pool)
                .await
                .map_err(|e| classify(e, "deletion id", "tenant"))?
                .rows_affected()
        });
        if inserted == 0 {
            return Err(MetaError::NotFound { what: "tenant" });
        }
        Ok(Deletion {
            id: new.id.clone(),
            tenant_id: new.tenant_id.clone(),
            scope: new.scope,
            erasure: new.erasure.clone(),
            status,
            requested_by: new.requested_by.clone(),
            requested_at: now,
            claimed_at,
            finished_at: None,
            rows_removed: 0,
            segments_rewritten: 0,
            error: None,
        })
    }

    /// One request of `tenant`.
    pub async fn deletion(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<Deletion>, MetaError> {
        let sql = format!("SELECT {COLUMNS} FROM deletions WHERE tenant_id = $1 AND id = $2");
        on_pool!(self, pool => {
            match sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Ok(Some(deletion_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    /// Every request of `tenant`, oldest first.
    pub async fn deletions(&self, tenant: &TenantId) -> Result<Vec<Deletion>, MetaError> {
        self.deletions_since(tenant, i64::MIN).await
    }

    /// The requests of `tenant` made at or after `since_ms` (Unix ms), oldest first. The
    /// erasures a query must hide are those made within the tenant's retention: anything
    /// older covers only rows that retention has removed already.
    pub async fn deletions_since(
        &self,
        tenant: &TenantId,
        since_ms: i64,
    ) -> Result<Vec<Deletion>, MetaError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM deletions WHERE tenant_id = $1 AND requested_at >= $2 \
             ORDER BY requested_at, id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(since_ms)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(deletion_from_row!(row));
            }
            Ok(out)
        })
    }

    /// Takes the oldest request that waits (`pending`; `running` but claimed before
    /// `stale_before_ms`, by a process that stopped; `failed` before it) and marks it
    /// `running`, claimed now. Two nodes never claim the same request: the update checks the state it read.
    pub async fn claim_deletion(
        &self,
        stale_before_ms: i64,
        regions: &[&str],
    ) -> Result<Option<Deletion>, MetaError> {
        if regions.is_empty() {
            return Ok(None);
        }
        // Only requests of tenants (deleted ones included) whose data lives in `regions`:
        // a node never takes a job whose data it cannot reach.
        let placeholders: Vec<String> = (0..regions.len()).map(|i| format!("${}", i + 2)).collect();
        let pick = format!(
            "SELECT id FROM deletions WHERE (status = 'pending' \
             OR (status = 'running' AND claimed_at < $1) \
             OR (status = 'failed' AND finished_at < $1)) \
             AND tenant_id IN (SELECT id FROM tenants WHERE region IN ({})) \
             ORDER BY requested_at, id LIMIT 8",
            placeholders.join(", ")
        );
        let take = "UPDATE deletions SET status = 'running', claimed_at = $2 WHERE id = $1 \
                    AND (status = 'pending' OR (status = 'running' AND claimed_at < $3) \
                    OR (status = 'failed' AND finished_at < $3))";
        let candidates: Vec<String> = on_pool!(self, pool => {
            let mut q = sqlx::query_scalar(&pick).bind(stale_before_ms);
            for r in regions {
                q = q.bind(*r);
            }
            q.fetch_all(pool).await?
        });
        for id in candidates {
            let now = now_ms();
            let taken = on_pool!(self, pool => {
                sqlx::query(take)
                    .bind(&id)
                    .bind(now)
                    .bind(stale_before_ms)
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
            if taken == 1 {
                let sql = format!("SELECT {COLUMNS} FROM deletions WHERE id = $1");
                return on_pool!(self, pool => {
                    match sqlx::query(&sql).bind(&id).fetch_optional(pool).await? {
                        Some(row) => Ok(Some(deletion_from_row!(row))),
                        None => Ok(None),
                    }
                });
            }
        }
        Ok(None)
    }

    /// Ends a claimed request: `done` with its counts, or `failed` with a reason (then it
    /// is claimed again later).
    pub async fn finish_deletion(
        &self,
        id: &str,
        status: DeletionStatus,
        rows_removed: u64,
        segments_rewritten: u64,
        error: Option<&str>,
    ) -> Result<(), MetaError> {
        let sql = "UPDATE deletions SET status = $2, finished_at = $3, rows_removed = $4, \
                   segments_rewritten = $5, error = $6 WHERE id = $1";
        let changed = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id)
                .bind(status.as_str())
                .bind(now_ms())
                .bind(i64::try_from(rows_removed).unwrap_or(i64::MAX))
                .bind(i64::try_from(segments_rewritten).unwrap_or(i64::MAX))
                .bind(error)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(MetaError::NotFound { what: "deletion" });
        }
        Ok(())
    }

    /// Deletes a tenant's metadata, in one transaction, data keys included: every version
    /// of the wrapped data key is removed, as [`Meta::destroy_tenant_keys`] does
    /// (crypto-shredding: every segment, WAL record and backup of the tenant becomes
    /// unreadable), the name freed (`deleted-…`), settings cleared, API keys,
    /// members, sessions, catalog entries and WAL marks removed, and everything of alerting
    /// (rules and their history, channels, notifications and their deliveries,
    /// sensitive-data findings, detector cursors). The row itself stays,
    /// marked deleted, for the audit chain and the deletion requests that refer to it.
    /// A tenant that does not exist or is already deleted is `NotFound`.
    pub async fn shred_tenant(&self, tenant: &TenantId) -> Result<Shredded, MetaError> {
        let freed_name = format!(
            "deleted-{}",
            tenant
                .as_str()
                .trim_start_matches("t_")
                .to_ascii_lowercase()
        );
        let shred = "UPDATE tenants SET deleted_at = $2, name = $3, \
                     capture_policy = NULL, sso_config = NULL, sso_client_secret = NULL, \
                     ai_config = NULL, ai_api_key = NULL, \
                     require_mfa = 0, require_sso = 0, policy_version = policy_version + 1 \
                     WHERE id = $1 AND deleted_at IS NULL";
        let paths = "SELECT path FROM segments WHERE tenant_id = $1 ORDER BY path";
        let mut out = Shredded::default();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(shred)
                .bind(tenant.as_str())
                .bind(now_ms())
                .bind(&freed_name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                return Err(MetaError::NotFound { what: "tenant" });
            }
            // Every version of its data key (`Meta::destroy_tenant_keys`'s statement).
            sqlx::query(crate::tenant::DESTROY_TENANT_KEYS)
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await?;
            for row in sqlx::query(paths).bind(tenant.as_str()).fetch_all(&mut *tx).await? {
                out.segments.push(row.try_get("path")?);
            }
            let by_tenant = |table: &str| format!("DELETE FROM {table} WHERE tenant_id = $1");
            sqlx::query(
                "DELETE FROM api_key_addresses WHERE key_id IN \
                 (SELECT id FROM api_keys WHERE tenant_id = $1)",
            )
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM segment_services WHERE segment_id IN \
                 (SELECT id FROM segments WHERE tenant_id = $1)",
            )
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
            for table in ["segments", "wal_marks"] {
                sqlx::query(&by_tenant(table))
                    .bind(tenant.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            out.api_keys = sqlx::query(&by_tenant("api_keys"))
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            out.sessions = sqlx::query(&by_tenant("sessions"))
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            out.members = sqlx::query(&by_tenant("memberships"))
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            // Deliveries before the notifications they refer to.
            for table in [
                "notification_deliveries",
                "alert_events",
                "redaction_findings",
                "redaction_first_seen",
                "alert_cursors",
            ] {
                sqlx::query(&by_tenant(table))
                    .bind(tenant.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            out.notifications = sqlx::query(&by_tenant("notifications"))
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            out.notification_channels = sqlx::query(&by_tenant("notification_channels"))
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            out.alert_rules = sqlx::query(&by_tenant("alert_rules"))
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
        });
        if let crate::Pool::Sqlite(pool) = &self.pool {
            // The old page, key included, may still be in the write-ahead log: copy the
            // log into the file (secure_delete overwrote the old cell) and empty it. Best
            // effort: a busy reader can hold it back; the next checkpoint finishes it.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await
            {
                tracing::warn!("checkpoint after deleting a tenant: {e}");
            }
        }
        Ok(out)
    }
}
