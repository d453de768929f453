//! Writing the audit log (security invariant 6): one record per audited action, written
//! before the action takes effect, so that an action whose record cannot be written is
//! refused (fail closed).
//!
//! The record format, the hash chain and verification are `scrim-audit`'s; storage and the
//! per-tenant serialisation of appends are `scrim-meta`'s. This module decides what is
//! recorded and when:
//!
//! - [`AuditLog::entry`] starts a record (tenant, actor, action, [`Origin`]); the caller adds
//!   a target and details, then writes it with its outcome.
//! - [`Entry::around`] is the pattern for changes: the record is written first (outcome
//!   `success`), then the change runs; if the record cannot be written the change never
//!   runs, and if the change fails after all a second record (`failed`, naming the first by
//!   `supersedes_seq`) says so. Checks that can refuse a change (permissions, a wrong
//!   current password) run before, and a refusal is recorded as `denied` instead.
//! - Reads of telemetry are recorded after the query ran and before its answer is sent,
//!   with the outcome and the (redacted) query: an answer whose record cannot be written is
//!   not sent.
//!
//! [`actions`] lists every action name.

pub mod actions;
pub mod checkpoints;
mod ingest_counts;
pub mod read;
pub mod retention;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use scrim_audit::{Actor, AuditRecord, NewRecord, Outcome};
use scrim_meta::{AuditRow, Meta, MetaError};
use serde_json::{Map, Value};

pub(crate) use ingest_counts::IngestCounts;

/// The header that carries a request's id, set on every API request and answer.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Where an action came from: what every record of a request repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub addr: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl Origin {
    /// The `scrim` command line on the server.
    pub fn cli() -> Origin {
        Origin {
            addr: None,
            user_agent: Some(format!("scrim-cli/{}", env!("CARGO_PKG_VERSION"))),
            request_id: None,
        }
    }

    /// An API request: the peer address, its user agent and the request id set by the
    /// router (`x-request-id`).
    pub(crate) fn of(headers: &HeaderMap, peer: Option<IpAddr>) -> Origin {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Origin {
            addr: peer,
            user_agent: text("user-agent"),
            request_id: text(REQUEST_ID_HEADER),
        }
    }
}

/// The audit actor of an access-control actor: user and key by id, the operator as such.
pub fn actor_of(actor: &scrim_auth::rbac::Actor) -> Actor {
    match actor {
        scrim_auth::rbac::Actor::User { id, .. } => Actor::User {
            id: id.as_str().to_owned(),
        },
        scrim_auth::rbac::Actor::ApiKey { id, .. } => Actor::ApiKey {
            id: id.as_str().to_owned(),
        },
        scrim_auth::rbac::Actor::Operator => Actor::Operator,
    }
}

/// The `actor` column of a record, which `GET /api/v1/audit?actor=` matches: the user or
/// key id, `operator`, or `system:<name>`.
pub fn actor_column(actor: &Actor) -> String {
    match actor {
        Actor::User { id } | Actor::ApiKey { id } => id.clone(),
        Actor::Operator => "operator".into(),
        Actor::System { name } => format!("system:{name}"),
    }
}

/// The audit log could not be written: the action it describes was not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditUnavailable;

impl std::fmt::Display for AuditUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the audit log could not be written, so the action was not done; try again")
    }
}

impl std::error::Error for AuditUnavailable {}

/// Appends records to the tenants' chains in the metadata database.
#[derive(Clone)]
pub struct AuditLog {
    meta: Arc<Meta>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    pub fn new(meta: Arc<Meta>) -> AuditLog {
        AuditLog { meta }
    }

    /// A record of `actor` doing `action` (see [`actions`]) in `tenant` (a tenant id, or
    /// [`scrim_audit::PLATFORM_TENANT`]).
    pub fn entry(
        &self,
        tenant: &str,
        actor: Actor,
        action: &'static str,
        origin: &Origin,
    ) -> Entry {
        Entry {
            log: self.clone(),
            tenant: tenant.to_owned(),
            actor,
            action,
            origin: origin.clone(),
            target: None,
            details: Map::new(),
        }
    }

    /// Seals `new` into its tenant's chain and stores it, or says it could not.
    pub async fn append(&self, new: NewRecord) -> Result<AuditRecord, AuditUnavailable> {
        let tenant = new.tenant().to_owned();
        let stored = self
            .meta
            .append_audit(&tenant, |seq, prev| {
                let record = scrim_audit::seal(new, seq, prev);
                Ok(row_of(&record))
            })
            .await;
        match stored {
            Ok(row) => record_of(&row).map_err(|e| {
                tracing::error!("audit record written but not readable back: {e}");
                AuditUnavailable
            }),
            Err(e) => {
                tracing::error!(tenant, "audit record could not be written: {e}");
                Err(AuditUnavailable)
            }
        }
    }
}

/// A record being built; [`Entry::write`] stores it.
#[derive(Clone)]
pub struct Entry {
    log: AuditLog,
    tenant: String,
    actor: Actor,
    action: &'static str,
    origin: Origin,
    target: Option<String>,
    details: Map<String, Value>,
}

impl Entry {
    /// What the action was done to.
    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> Entry {
        self.target = Some(target.into());
        self
    }

    /// The same record for another action: a second record about the same act (the end
    /// of an export after its start), with the same target and details.
    #[must_use]
    pub fn for_action(mut self, action: &'static str) -> Entry {
        self.action = action;
        self
    }

    /// One detail (values under secret-looking keys are redacted by scrim-audit).
    #[must_use]
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Entry {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// A setting's value before and after, under `changes.<key>` (only if it changed).
    #[must_use]
    pub fn change(mut self, key: &str, before: impl Into<Value>, after: impl Into<Value>) -> Entry {
        let (before, after) = (before.into(), after.into());
        if before != after {
            let changes = self
                .details
                .entry("changes")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = changes {
                m.insert(
                    key.to_owned(),
                    serde_json::json!({ "before": before, "after": after }),
                );
            }
        }
        self
    }

    /// Every key of two JSON objects whose value differs, as [`Entry::change`]s.
    #[must_use]
    pub fn diff(mut self, before: &Value, after: &Value) -> Entry {
        let empty = Map::new();
        let b = before.as_object().unwrap_or(&empty);
        let a = after.as_object().unwrap_or(&empty);
        let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let bv = b.get(k).cloned().unwrap_or(Value::Null);
            let av = a.get(k).cloned().unwrap_or(Value::Null);
            self = self.change(k, bv, av);
        }
        self
    }

    /// The record as it would be stored, with `outcome`, timed now.
    fn build(&self, outcome: Outcome) -> Result<NewRecord, AuditUnavailable> {
        let mut new = NewRecord::new(
            self.tenant.clone(),
            now_ms(),
            self.actor.clone(),
            self.action,
            outcome,
        )
        .map_err(|e| {
            tracing::error!("audit record refused: {e}");
            AuditUnavailable
        })?
        .details(self.details.clone());
        if let Some(a) = self.origin.addr {
            new = new.addr(a.to_string());
        }
        if let Some(ua) = &self.origin.user_agent {
            new = new.user_agent(ua.clone());
        }
        if let Some(id) = &self.origin.request_id {
            new = new.request_id(id.clone());
        }
        if let Some(t) = &self.target {
            new = new.target(t.clone());
        }
        Ok(new)
    }

    /// Writes the record with `outcome`.
    pub async fn write(&self, outcome: Outcome) -> Result<AuditRecord, AuditUnavailable> {
        let new = self.build(outcome)?;
        self.log.append(new).await
    }

    /// Writes the record as `success`.
    pub async fn success(&self) -> Result<AuditRecord, AuditUnavailable> {
        self.write(Outcome::Success).await
    }

    /// Writes the record as `denied` with `reason`.
    pub async fn denied(&self, reason: impl Into<String>) -> Result<AuditRecord, AuditUnavailable> {
        self.write(Outcome::denied(reason)).await
    }

    /// Writes the record (`success`), then runs `change`. When the record cannot be
    /// written, `change` never runs. When `change` fails after all, a second record with
    /// outcome `failed` and `supersedes_seq` says so (best effort: its own failure is
    /// logged, the change having not happened).
    pub async fn around<T, E, F>(&self, change: F) -> Result<Result<T, E>, AuditUnavailable>
    where
        F: std::future::Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let written = self.success().await?;
        let result = change.await;
        if let Err(e) = &result {
            let follow = self.clone().detail("supersedes_seq", written.seq);
            if follow.write(Outcome::failed(e.to_string())).await.is_err() {
                tracing::error!(
                    action = self.action,
                    "an action failed after its audit record was written, and the record saying so could not be written"
                );
            }
        }
        Ok(result)
    }
}

/// The stored row of a sealed record.
pub(crate) fn row_of(record: &AuditRecord) -> AuditRow {
    AuditRow {
        tenant: record.tenant.clone(),
        seq: record.seq,
        at_ms: record.at_ms,
        actor: actor_column(&record.actor),
        action: record.action.clone(),
        outcome: record.outcome.status().to_owned(),
        body: scrim_audit::to_json_line(record),
        prev_hash: record.prev_hash.to_vec(),
        hash: record.hash.to_vec(),
    }
}

/// Why a stored row is not a record: its body does not parse, or a column disagrees with
/// the body (the columns are what filters match, the body is what the hash covers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub tenant: String,
    pub seq: u64,
    pub why: &'static str,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record {} of tenant {} was changed after it was written ({})",
            self.seq, self.tenant, self.why
        )
    }
}

/// The record a stored row holds, checked against the row's columns.
pub fn record_of(row: &AuditRow) -> Result<AuditRecord, BadRow> {
    let bad = |why| BadRow {
        tenant: row.tenant.clone(),
        seq: row.seq,
        why,
    };
    let r: AuditRecord =
        serde_json::from_str(&row.body).map_err(|_| bad("its body is not a record"))?;
    if r.tenant != row.tenant
        || r.seq != row.seq
        || r.at_ms != row.at_ms
        || actor_column(&r.actor) != row.actor
        || r.action != row.action
        || r.outcome.status() != row.outcome
        || r.prev_hash.as_slice() != row.prev_hash.as_slice()
        || r.hash.as_slice() != row.hash.as_slice()
    {
        return Err(bad("its columns do not match its body"));
    }
    Ok(r)
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl From<MetaError> for AuditUnavailable {
    fn from(e: MetaError) -> Self {
        tracing::error!("audit log: {e}");
        AuditUnavailable
    }
}
