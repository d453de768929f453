//! Storage of the audit log: append to a tenant's hash chain, read it back in order or
//! filtered, and keep signed checkpoints.
//!
//! This module knows nothing of the record format or hashes (scrim-audit does); it keeps
//! the one rule that needs the database: appends to a chain are serialised, so every record
//! gets the next sequence number and the hash of the one before, even with several nodes
//! appending at once. The chain's end is a row in `audit_heads`, locked by the append's
//! transaction (a write first on SQLite, `FOR UPDATE` on PostgreSQL). Retention deletes
//! records from the oldest end ([`Meta::prune_audit`]) and leaves that row and the
//! checkpoints alone, so the chain goes on where it was.

use sqlx::Row;

use crate::BeginWrite as _;
use crate::error::MetaError;
use crate::{Backend, Meta, on_pool};

/// A stored audit record: the filterable columns and the record itself (`body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// A tenant id, or `-` for platform-wide actions.
    pub tenant: String,
    pub seq: u64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub outcome: String,
    /// The whole record as its writer serialised it: what verification reads.
    pub body: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Which records [`Meta::audit_rows`] returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Inclusive, Unix ms.
    pub start_ms: Option<i64>,
    /// Exclusive, Unix ms.
    pub end_ms: Option<i64>,
    /// At most this many (capped at 10 000).
    pub limit: Option<u32>,
}

/// A stored signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub tenant: String,
    pub seq: u64,
    pub body: String,
    pub signature: Vec<u8>,
    pub key_id: String,
    pub at_ms: i64,
}

const GENESIS: [u8; 32] = [0; 32];
const MAX_ROWS: u32 = 10_000;

macro_rules! audit_from_row {
    ($row:expr) => {{
        let row = $row;
        let seq: i64 = row.try_get("seq")?;
        AuditRow {
            tenant: row.try_get("tenant")?,
            seq: u64::try_from(seq).map_err(|_| MetaError::Corrupt {
                what: "audit sequence number",
            })?,
            at_ms: row.try_get("at_ms")?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            outcome: row.try_get("outcome")?,
            body: row.try_get("body")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        }
    }};
}

const COLUMNS: &str = "tenant, seq, at_ms, actor, action, outcome, body, prev_hash, hash";

impl Meta {
    /// Appends one record to `tenant`'s chain. `make` receives the record's sequence number
    /// and the previous record's hash (zeros for the first) and returns the row to store,
    /// whose `tenant`, `seq` and `prev_hash` must be those. If anything fails nothing is
    /// stored, and the caller must refuse the action the record describes.
    pub async fn append_audit<F>(&self, tenant: &str, make: F) -> Result<AuditRow, MetaError>
    where
        F: FnOnce(u64, [u8; 32]) -> Result<AuditRow, MetaError>,
    {
        let seed = "INSERT INTO audit_heads (tenant, seq, hash) VALUES ($1, 0, $2) \
                    ON CONFLICT (tenant) DO NOTHING";
        let head = match self.backend() {
            Backend::Sqlite => "SELECT seq, hash FROM audit_heads WHERE tenant = $1",
            Backend::Postgres => "SELECT seq, hash FROM audit_heads WHERE tenant = $1 FOR UPDATE",
        };
        let insert = format!(
            "INSERT INTO audit_records ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let advance = "UPDATE audit_heads SET seq = $1, hash = $2 WHERE tenant = $3 AND seq = $4";
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // Writing first takes SQLite's write lock at once (see catalog.rs).
            sqlx::query(seed)
                .bind(tenant)
                .bind(GENESIS.as_slice())
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query(head).bind(tenant).fetch_one(&mut *tx).await?;
            let last: i64 = row.try_get("seq")?;
            let last_hash: Vec<u8> = row.try_get("hash")?;
            let prev: [u8; 32] = last_hash.as_slice().try_into().map_err(|_| MetaError::Corrupt {
                what: "audit chain head",
            })?;
            let seq = u64::try_from(last).unwrap_or(0) + 1;
            let made = make(seq, prev)?;
            if made.tenant != tenant || made.seq != seq || made.prev_hash != prev {
                return Err(MetaError::Invalid {
                    field: "audit record",
                    reason: "must continue the chain it is appended to",
                });
            }
            let seq_i = i64::try_from(seq).map_err(|_| MetaError::Invalid {
                field: "audit sequence number",
                reason: "out of range",
            })?;
            sqlx::query(&insert)
                .bind(&made.tenant)
                .bind(seq_i)
                .bind(made.at_ms)
                .bind(&made.actor)
                .bind(&made.action)
                .bind(&made.outcome)
                .bind(&made.body)
                .bind(made.prev_hash.as_slice())
                .bind(made.hash.as_slice())
                .execute(&mut *tx)
                .await?;
            let moved = sqlx::query(advance)
                .bind(seq_i)
                .bind(made.hash.as_slice())
                .bind(tenant)
                .bind(last)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if moved != 1 {
                return Err(MetaError::Invalid {
                    field: "audit chain",
                    reason: "another append moved the chain's end",
                });
            }
            tx.commit().await?;
            Ok(made)
        })
    }

    /// `tenant`'s records with `seq > after`, in chain order, at most `limit` (for
    /// verification and export, page by page).
    pub async fn audit_chain(
        &self,
        tenant: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRow>, MetaError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_records WHERE tenant = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        );
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::from(limit.clamp(1, MAX_ROWS));
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(tenant)
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(audit_from_row!(row));
            }
            Ok(out)
        })
    }

    /// `tenant`'s records matching `q`, newest first.
    pub async fn audit_rows(
        &self,
        tenant: &str,
        q: &AuditQuery,
    ) -> Result<Vec<AuditRow>, MetaError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_records WHERE tenant = $1 \
             AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR action = $3) \
             AND at_ms >= $4 AND at_ms < $5 ORDER BY seq DESC LIMIT $6"
        );
        let limit = i64::from(q.limit.unwrap_or(1000).clamp(1, MAX_ROWS));
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(tenant)
                .bind(q.actor.as_deref())
                .bind(q.action.as_deref())
                .bind(q.start_ms.unwrap_or(i64::MIN))
                .bind(q.end_ms.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(audit_from_row!(row));
            }
            Ok(out)
        })
    }

    /// How many of `tenant`'s records have action `action` (and outcome `outcome`, if
    /// given) and `at_ms >= since_ms`.
    ///
    /// Why: security detections count recent events (failed sign-ins, refused keys, mass
    /// exports) with one indexed query instead of reading the records.
    pub async fn count_audit(
        &self,
        tenant: &str,
        action: &str,
        outcome: Option<&str>,
        since_ms: i64,
    ) -> Result<u64, MetaError> {
        let sql = "SELECT COUNT(*) FROM audit_records WHERE tenant = $1 AND action = $2 \
                   AND ($3 IS NULL OR outcome = $3) AND at_ms >= $4";
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(tenant)
                .bind(action)
                .bind(outcome)
                .bind(since_ms)
                .fetch_one(pool)
                .await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The end of `tenant`'s chain: the last record's seq and hash, `None` if nothing was
    /// ever appended.
    ///
    /// Why: it comes from `audit_heads`, not from the newest record, so it stays right after
    /// [`Meta::prune_audit`] has removed every record; it is what a checkpoint signs.
    pub async fn audit_head(&self, tenant: &str) -> Result<Option<(u64, Vec<u8>)>, MetaError> {
        let sql = "SELECT seq, hash FROM audit_heads WHERE tenant = $1";
        on_pool!(self, pool => {
            let Some(row) = sqlx::query(sql).bind(tenant).fetch_optional(pool).await? else {
                return Ok(None);
            };
            let seq: i64 = row.try_get("seq")?;
            let seq = u64::try_from(seq).map_err(|_| MetaError::Corrupt {
                what: "audit chain head",
            })?;
            Ok(Some((seq, row.try_get("hash")?)))
        })
    }

    /// `tenant`'s record number `seq`, if it is stored (it may have been pruned).
    ///
    /// Why: one record by its number, e.g. the one a checkpoint names, without paging
    /// through the chain.
    pub async fn audit_record(
        &self,
        tenant: &str,
        seq: u64,
    ) -> Result<Option<AuditRow>, MetaError> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        let sql = format!("SELECT {COLUMNS} FROM audit_records WHERE tenant = $1 AND seq = $2");
        on_pool!(self, pool => {
            match sqlx::query(&sql).bind(tenant).bind(seq).fetch_optional(pool).await? {
                Some(row) => Ok(Some(audit_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    /// Deletes `tenant`'s records with `seq <= through_seq` in one statement and returns how
    /// many there were.
    ///
    /// Why: retention removes the oldest end of a chain. It never touches `audit_heads`, so
    /// the next append still continues from the last record's hash, nor `audit_checkpoints`,
    /// which anchor what is left: prune only through a checkpointed seq, so that
    /// verification can start from that checkpoint (the caller's rule, not checked here).
    pub async fn prune_audit(&self, tenant: &str, through_seq: u64) -> Result<u64, MetaError> {
        let sql = "DELETE FROM audit_records WHERE tenant = $1 AND seq <= $2";
        let through = i64::try_from(through_seq).unwrap_or(i64::MAX);
        on_pool!(self, pool => {
            Ok(sqlx::query(sql)
                .bind(tenant)
                .bind(through)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// Every tenant (and `-`) that has an audit chain.
    pub async fn audit_tenants(&self) -> Result<Vec<String>, MetaError> {
        on_pool!(self, pool => {
            let rows = sqlx::query("SELECT tenant FROM audit_heads ORDER BY tenant")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>("tenant").map_err(MetaError::from))
                .collect()
        })
    }

    /// Stores a signed checkpoint.
    pub async fn store_audit_checkpoint(&self, c: &CheckpointRow) -> Result<(), MetaError> {
        let seq = i64::try_from(c.seq).map_err(|_| MetaError::Invalid {
            field: "checkpoint sequence number",
            reason: "out of range",
        })?;
        let sql = "INSERT INTO audit_checkpoints (tenant, seq, body, signature, key_id, at_ms) \
                   VALUES ($1, $2, $3, $4, $5, $6)";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(&c.tenant)
                .bind(seq)
                .bind(&c.body)
                .bind(c.signature.as_slice())
                .bind(&c.key_id)
                .bind(c.at_ms)
                .execute(pool)
                .await
                .map_err(|e| crate::error::classify(e, "checkpoint", "tenant"))?;
        });
        Ok(())
    }

    /// `tenant`'s checkpoints, oldest first.
    pub async fn audit_checkpoints(&self, tenant: &str) -> Result<Vec<CheckpointRow>, MetaError> {
        let sql = "SELECT tenant, seq, body, signature, key_id, at_ms FROM audit_checkpoints \
                   WHERE tenant = $1 ORDER BY seq";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(tenant).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let seq: i64 = row.try_get("seq")?;
                out.push(CheckpointRow {
                    tenant: row.try_get("tenant")?,
                    seq: u64::try_from(seq).unwrap_or(0),
                    body: row.try_get("body")?,
                    signature: row.try_get("signature")?,
                    key_id: row.try_get("key_id")?,
                    at_ms: row.try_get("at_ms")?,
                });
            }
            Ok(out)
        })
    }
}
