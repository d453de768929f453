//! Deletion on request: a whole tenant, or the rows a selective request covers.
//!
//! **A whole tenant** goes at once, in this order: the request is recorded (audit record
//! first, then the tombstone in `deletions`); every version of the tenant's data key is
//! removed from the metadata database in the same transaction that removes its API keys, members, sessions,
//! settings and catalog entries ([`scrim_meta::Meta::shred_tenant`]), so from that moment
//! every segment, WAL record and backup of it is unreadable (crypto-shredding); then this
//! node forgets it (its runtime and WAL directory; other nodes do so at their next policy
//! refresh) and every object under its prefix is deleted. A crash after the key is gone
//! leaves the request `running`; it is claimed again and the removal finished.
//!
//! **A selective request** (time range, service, attribute equality) is an asynchronous
//! job. Once recorded, its rows are hidden from every query on every node (the query layer
//! reads the tenant's recorded erasures, [`active_erasures`]) and never written by a flush.
//! The job then, on whichever node claims it: flushes the tenant's buffer (on a server);
//! rewrites each segment that holds covered rows without them, swapping the catalog entry
//! (a segment compaction replaced meanwhile is found again in the next pass); deletes the
//! old objects after the compaction grace period; and counts by query, over every stored
//! segment, the rows the erasure still covers. Only when that count is zero is the request
//! `done`, with a `telemetry.deletion` record. Otherwise it is `failed` and retried later.
//!
//! Requests stay in `deletions` as tombstones: a restore re-applies them
//! ([`reapply_tombstones`]).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::get;
use scrim_audit::{Actor, Outcome, utc_text};
use scrim_auth::Permission;
use scrim_meta::{
    Deletion, DeletionScope, DeletionStatus, MetaError, NewDeletion, Tenant, TenantId,
};
use scrim_redact::{Policy, Redactor};
use scrim_store::erase::{AttributeMatch, Erasure};
use scrim_store::query::BufferedBatches;
use scrim_store::{Keyring, SegmentStore, Signal, TenantQuery};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::Act;
use crate::api::{ApiError, ApiState, bad_request, enter, not_found};
use crate::audit::{Origin, actions};
use crate::serve::Shared;
use crate::{Platform, ServerError};

/// A selective job rewrites at most this many times over (compaction may replace a segment
/// under it); past that it fails and is retried later.
const MAX_PASSES: usize = 5;

/// A `running` request not finished this long after it was claimed, or a `failed` one this
/// long after it failed, is claimed again.
pub const RETRY_AFTER: Duration = Duration::from_secs(600);

/// What a selective request covers, as the requester gives it (API body or CLI flags).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// RFC 3339, or seconds since the epoch; `None`: from the beginning.
    pub start: Option<String>,
    /// The same; `None` (or anything later): the time of the request.
    pub end: Option<String>,
    pub service: Option<String>,
    /// An attribute (span, log or point attribute, or resource attribute) and its value.
    pub attribute: Option<(String, String)>,
    /// `traces`, `logs`, `metrics`; `None`: all three.
    pub signals: Option<Vec<String>>,
}

/// Where a deletion runs: inside `scrim serve` (which flushes first and forgets deleted
/// tenants), or from the command line against the platform's state.
#[derive(Clone, Copy)]
pub(crate) struct Deleter<'a> {
    pub platform: &'a Platform,
    /// How long replaced objects stay for queries that listed them.
    pub grace: Duration,
    pub node: Option<&'a Shared>,
}

impl<'a> Deleter<'a> {
    /// Here, from the command line, with replaced objects deleted at once.
    fn operator(platform: &'a Platform) -> Deleter<'a> {
        Deleter {
            platform,
            grace: Duration::ZERO,
            node: None,
        }
    }

    /// The segment store of `tenant`'s region (refused if this node does not serve it).
    fn store(&self, tenant: &Tenant) -> Result<&'a SegmentStore, ServerError> {
        Ok(&self.platform.regions.of(tenant)?.store)
    }

    pub fn of_server(shared: &'a Shared) -> Deleter<'a> {
        Deleter {
            platform: &shared.platform,
            grace: shared.compaction.grace,
            node: Some(shared),
        }
    }
}

/// What a whole-tenant deletion removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDeleted {
    /// The request's id.
    pub id: String,
    pub segments: usize,
    pub objects: u64,
    pub api_keys: u64,
    pub members: u64,
}

fn usage(m: impl Into<String>) -> ServerError {
    ServerError::Usage(m.into())
}

/// `del_` and 16 random lowercase hex digits.
fn new_id() -> Result<String, ServerError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| ServerError::Io(std::io::Error::other(e)))?;
    Ok(format!("del_{}", scrim_audit::hex(&bytes)))
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn parse_signal(s: &str) -> Result<Signal, ServerError> {
    match s {
        "traces" | "spans" => Ok(Signal::Spans),
        "logs" => Ok(Signal::Logs),
        "metrics" => Ok(Signal::Metrics),
        other => Err(usage(format!(
            "unknown signal {:?}: traces, logs or metrics",
            other.chars().take(32).collect::<String>()
        ))),
    }
}

/// The tenant's keyring (every version of its data key: segments are read with the one
/// each names, rewritten under the current one) and the redactor that gives its
/// pseudonyms (keyed from version 1, as `tenants.rs` keys them).
async fn tenant_keys(
    platform: &Platform,
    tenant: &Tenant,
) -> Result<(Keyring, Redactor), ServerError> {
    let keys = crate::tenant_keys::load(platform, &tenant.id).await?;
    let pseudonym_key = keys.first.derive(b"", b"scrim/pseudonym/v1");
    Ok((
        keys.keyring,
        Redactor::new(&Policy::default(), Some(pseudonym_key.as_bytes())),
    ))
}

/// The erasure a selection describes, at `now_ns`. An attribute value matches as given and
/// as its keyed pseudonym (how the capture policy stores `enduser.id` and the like), never
/// as a generic mask, which would match other people's rows too.
pub(crate) fn erasure_of(
    selection: &Selection,
    pseudonyms: &Redactor,
    now_ns: i64,
) -> Result<Erasure, ServerError> {
    let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, ServerError> {
        v.as_deref()
            .map(|t| {
                crate::export::parse_time_ns(t).ok_or_else(|| {
                    usage(format!(
                        "{name}: RFC 3339 (2026-11-25T10:00:00Z) or seconds since the epoch"
                    ))
                })
            })
            .transpose()
    };
    let start_ns = time("start", &selection.start)?;
    let end_ns = time("end", &selection.end)?.map_or(now_ns, |e| e.min(now_ns));
    if start_ns.is_some_and(|s| s >= end_ns) {
        return Err(usage(
            "start must be before end (and before now: later data is not erased)",
        ));
    }
    let service = selection.service.clone();
    if service
        .as_deref()
        .is_some_and(|s| s.is_empty() || s.len() > 256)
    {
        return Err(usage("service: 1 to 256 characters"));
    }
    let attribute = match &selection.attribute {
        None => None,
        Some((key, value)) => {
            if key.is_empty() || key.len() > 256 || value.is_empty() || value.len() > 4096 {
                return Err(usage(
                    "attribute: a key of 1 to 256 characters and a value of 1 to 4096",
                ));
            }
            let mut values = vec![value.clone()];
            let mut counts = scrim_redact::Counts::default();
            let pseudonym = pseudonyms.pseudonymize(value, &mut counts);
            if !pseudonym.starts_with("[REDACTED") && pseudonym != value.as_str() {
                values.push(pseudonym.into_owned());
            }
            Some(AttributeMatch {
                key: key.clone(),
                values,
            })
        }
    };
    if start_ns.is_none() && selection.end.is_none() && service.is_none() && attribute.is_none() {
        return Err(usage(
            "a selective deletion names a time range, a service or an attribute; to delete \
             everything, delete the tenant",
        ));
    }
    let signals = match &selection.signals {
        None => Signal::ALL.to_vec(),
        Some(list) if list.is_empty() => Signal::ALL.to_vec(),
        Some(list) => {
            let set: BTreeSet<Signal> = list
                .iter()
                .map(|s| parse_signal(s))
                .collect::<Result<_, _>>()?;
            set.into_iter().collect()
        }
    };
    Ok(Erasure {
        signals,
        start_ns,
        end_ns,
        service,
        attribute,
    })
}

/// An erasure as the audit log and the API show it: times as text, an attribute value only
/// in its stored (pseudonymised) form, or `[REDACTED]` when the policy keeps no form of it.
pub fn describe(e: &Erasure) -> Value {
    let text = |ns: i64| utc_text(ns.div_euclid(1_000_000));
    json!({
        "signals": e.signals.iter().map(|s| match s {
            Signal::Spans => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }).collect::<Vec<_>>(),
        "start": e.start_ns.map(text),
        "end": text(e.end_ns),
        "service": e.service,
        "attribute": e.attribute.as_ref().map(|a| json!({
            "key": a.key,
            "value": a.values.get(1).map_or("[REDACTED]", String::as_str),
        })),
    })
}

/// A request as the API shows it.
pub fn deletion_json(d: &Deletion) -> Value {
    let erasure = d
        .erasure
        .as_deref()
        .and_then(|e| serde_json::from_str::<Erasure>(e).ok());
    json!({
        "id": d.id,
        "scope": d.scope.as_str(),
        "status": d.status.as_str(),
        "covers": erasure.as_ref().map(describe),
        "requested_by": d.requested_by,
        "requested_at": utc_text(d.requested_at),
        "finished_at": d.finished_at.map(utc_text),
        "rows_removed": d.rows_removed,
        "segments_rewritten": d.segments_rewritten,
        "error": d.error,
    })
}

/// The erasures every query of `tenant` hides: its selective requests made within its
/// retention (older ones cover only rows retention has removed). A tombstone that does not
/// parse is an error, not skipped: skipping it would show erased rows.
pub(crate) async fn active_erasures(
    platform: &Platform,
    tenant: &Tenant,
) -> Result<Vec<Erasure>, ServerError> {
    let since_ms = crate::retention::cutoff_ns(tenant, SystemTime::now()).div_euclid(1_000_000);
    erasures_of(&platform.meta.deletions_since(&tenant.id, since_ms).await?)
}

/// The erasures of the selective requests among `deletions`.
fn erasures_of(deletions: &[Deletion]) -> Result<Vec<Erasure>, ServerError> {
    deletions
        .iter()
        .filter(|d| d.erasure.is_some())
        .map(erasure_in)
        .collect()
}

/// A selective request's erasure. A tombstone that does not parse is an error, never
/// skipped: skipping it would show erased rows.
fn erasure_in(d: &Deletion) -> Result<Erasure, ServerError> {
    serde_json::from_str(d.erasure.as_deref().unwrap_or("")).map_err(|_| {
        ServerError::Meta(MetaError::Corrupt {
            what: "deletion erasure",
        })
    })
}

/// Records a selective request (audit record first), `pending`; its rows are hidden from
/// every query from now on. The job runs later ([`run_pending`]).
pub(crate) async fn request_selective(
    d: &Deleter<'_>,
    tenant: &Tenant,
    act: &Act,
    selection: &Selection,
) -> Result<Deletion, ServerError> {
    // Served from the tenant's region only: the job must reach its data.
    d.store(tenant)?;
    let (_, pseudonyms) = tenant_keys(d.platform, tenant).await?;
    let erasure = erasure_of(selection, &pseudonyms, now_ns())?;
    let id = new_id()?;
    let text = serde_json::to_string(&erasure).map_err(|e| usage(e.to_string()))?;
    let deletion = act
        .entry(d.platform.audit(), actions::DELETION_REQUEST, &id)
        .detail("scope", "selective")
        .detail("covers", describe(&erasure))
        .around(d.platform.meta.insert_deletion(&NewDeletion {
            id,
            tenant_id: tenant.id.clone(),
            scope: DeletionScope::Selective,
            erasure: Some(text),
            requested_by: crate::audit::actor_column(&crate::audit::actor_of(&act.actor)),
        }))
        .await??;
    if let Some(node) = d.node {
        node.deletions_due.notify_one();
    }
    Ok(deletion)
}

/// Deletes a whole tenant now (see the module comment). `confirm` must be its name.
pub(crate) async fn delete_tenant(
    d: &Deleter<'_>,
    tenant: &Tenant,
    act: &Act,
    confirm: &str,
) -> Result<TenantDeleted, ServerError> {
    if confirm != tenant.name {
        return Err(usage(
            "deleting a tenant destroys all of its data and cannot be undone: confirm with \
             the tenant's name",
        ));
    }
    d.store(tenant)?;
    let id = new_id()?;
    let deletion = act
        .entry(
            d.platform.audit(),
            actions::TENANT_DELETE,
            tenant.id.as_str(),
        )
        .detail("deletion", id.clone())
        .detail("name", tenant.name.clone())
        .around(d.platform.meta.insert_deletion(&NewDeletion {
            id,
            tenant_id: tenant.id.clone(),
            scope: DeletionScope::Tenant,
            erasure: None,
            requested_by: crate::audit::actor_column(&crate::audit::actor_of(&act.actor)),
        }))
        .await??;
    // The key first: from here on nothing of the tenant can be read, wherever it is.
    let shredded = d.platform.meta.shred_tenant(&tenant.id).await?;
    let objects = finish_tenant_removal(d, &tenant.id).await?;
    let done = TenantDeleted {
        id: deletion.id.clone(),
        segments: shredded.segments.len(),
        objects,
        api_keys: shredded.api_keys,
        members: shredded.members,
    };
    complete(
        d,
        &deletion,
        Outcome::Success,
        &[
            ("segments", done.segments.into()),
            ("objects_deleted", objects.into()),
            ("api_keys_removed", done.api_keys.into()),
            ("members_removed", done.members.into()),
        ],
    )
    .await?;
    d.platform
        .meta
        .finish_deletion(
            &deletion.id,
            DeletionStatus::Done,
            0,
            done.segments as u64,
            None,
        )
        .await?;
    Ok(done)
}

/// After the key is gone: this node forgets the tenant, and every object under its prefix
/// is deleted. Returns the objects deleted.
async fn finish_tenant_removal(d: &Deleter<'_>, tenant: &TenantId) -> Result<u64, ServerError> {
    let region = d
        .platform
        .meta
        .tenant_region(tenant)
        .await?
        .ok_or_else(|| usage(format!("no tenant {tenant}")))?;
    // Its region's store: the tenant's objects were never written anywhere else.
    let store = &d.platform.regions.get(&region)?.store;
    match d.node {
        Some(node) => node.tenants.forget(tenant)?,
        None => crate::tenants::remove_wal(d.platform, tenant)?,
    }
    Ok(store.delete_tenant_objects(tenant.as_str()).await?)
}

/// The `telemetry.deletion` record of a finished request, by `system:deletion`.
async fn complete(
    d: &Deleter<'_>,
    deletion: &Deletion,
    outcome: Outcome,
    details: &[(&str, Value)],
) -> Result<(), ServerError> {
    let mut entry = d
        .platform
        .audit()
        .entry(
            deletion.tenant_id.as_str(),
            Actor::System {
                name: "deletion".into(),
            },
            actions::DELETION_DONE,
            &Origin::default(),
        )
        .target(deletion.id.clone())
        .detail("scope", deletion.scope.as_str());
    for (k, v) in details {
        entry = entry.detail(k, v.clone());
    }
    entry
        .write(outcome)
        .await
        .map_err(|_| ServerError::AuditUnavailable)?;
    Ok(())
}

/// Runs every request that waits, one after the other, until none is left; returns the
/// requests this call finished (done or failed).
pub(crate) async fn run_pending(d: &Deleter<'_>) -> Result<Vec<Deletion>, ServerError> {
    let mut finished = Vec::new();
    let stale_before = crate::audit::now_ms() - RETRY_AFTER.as_millis() as i64;
    let regions = d.platform.regions.names();
    while let Some(claimed) = d
        .platform
        .meta
        .claim_deletion(stale_before, &regions)
        .await?
    {
        let result = match claimed.scope {
            DeletionScope::Selective => run_selective(d, &claimed).await,
            DeletionScope::Tenant => finish_tenant_removal(d, &claimed.tenant_id)
                .await
                .map(|objects| (0, objects)),
        };
        let (status, rows, segments, error) = match result {
            Ok((rows, segments)) => (DeletionStatus::Done, rows, segments, None),
            Err(e) => {
                let reason = e.to_string();
                tracing::warn!(deletion = %claimed.id, "deletion failed, retried later: {reason}");
                let _ = complete(
                    d,
                    &claimed,
                    Outcome::failed(reason.clone()),
                    &[("retry_after_seconds", RETRY_AFTER.as_secs().into())],
                )
                .await;
                (DeletionStatus::Failed, 0, 0, Some(reason))
            }
        };
        d.platform
            .meta
            .finish_deletion(&claimed.id, status, rows, segments, error.as_deref())
            .await?;
        if let Some(done) = d
            .platform
            .meta
            .deletion(&claimed.tenant_id, &claimed.id)
            .await?
        {
            finished.push(done);
        }
    }
    Ok(finished)
}

/// The selective job (see the module comment). Returns rows removed and segments
/// rewritten, once a query finds nothing left.
async fn run_selective(d: &Deleter<'_>, deletion: &Deletion) -> Result<(u64, u64), ServerError> {
    let meta = &d.platform.meta;
    let Some(tenant) = meta.tenant_by_id(&deletion.tenant_id).await? else {
        // Deleted since: its key is gone, so nothing it held can be read.
        return Ok((0, 0));
    };
    let erasure = erasure_in(deletion)?;
    let mut flushed_out = 0;
    if let Some(node) = d.node {
        // Rows still buffered here are flushed without what the erasure covers, and the
        // WAL's files, which still hold them acknowledged, are removed.
        let rt = node.tenants.get(&tenant.id).await?;
        let mut wal_cleared = false;
        for _ in 0..MAX_PASSES {
            flushed_out += crate::serve::flush_tenant(node, &rt).await?;
            if rt.log.forget_acknowledged()? || rt.log.buffered_rows() == 0 {
                wal_cleared = true;
                break;
            }
        }
        if !wal_cleared {
            tracing::warn!(
                deletion = %deletion.id,
                "the WAL kept receiving data; its acknowledged files go at their next rotation"
            );
        }
    }
    let (keys, _) = tenant_keys(d.platform, &tenant).await?;
    let (rewritten_out, rewritten, old) = rewrite(d, &tenant, &keys, &erasure).await?;
    let removed = rewritten_out + flushed_out;
    if !old.is_empty() {
        if !d.grace.is_zero() {
            // Queries that listed the old segments before the swap may still read them.
            tokio::time::sleep(d.grace).await;
        }
        d.store(&tenant)?.delete(tenant.id.as_str(), &old).await?;
    }
    let left = remaining(d, &tenant, &keys, &erasure).await?;
    if left > 0 {
        return Err(usage(format!(
            "{left} stored rows still match after rewriting; retried later"
        )));
    }
    complete(
        d,
        deletion,
        Outcome::Success,
        &[
            ("rows_removed", removed.into()),
            ("segments_rewritten", rewritten.into()),
            ("rows_left", 0.into()),
        ],
    )
    .await?;
    Ok((removed, rewritten))
}

/// Rewrites every segment that holds rows `erasure` covers; returns rows removed,
/// segments rewritten and the old objects' paths (still in the store).
async fn rewrite(
    d: &Deleter<'_>,
    tenant: &Tenant,
    keys: &Keyring,
    erasure: &Erasure,
) -> Result<(u64, u64, Vec<String>), ServerError> {
    let meta = &d.platform.meta;
    let store = d.store(tenant)?;
    let (mut removed, mut rewritten, mut old) = (0u64, 0u64, Vec::new());
    let only = std::slice::from_ref(erasure);
    for _pass in 0..MAX_PASSES {
        let mut again = false;
        for &signal in &erasure.signals {
            let listed = meta
                .segments(
                    &tenant.id,
                    crate::api::meta_signal(signal),
                    scrim_meta::TimeRange::all(),
                    None,
                )
                .await?;
            for s in listed {
                if !erasure.may_match(signal, s.min_time_ns, s.max_time_ns, &s.services) {
                    continue;
                }
                let m = crate::api::store_meta(s, signal, None);
                let Some(rw) = store
                    .rewrite_without(tenant.id.as_str(), keys, &m, only)
                    .await?
                else {
                    continue;
                };
                let path = std::slice::from_ref(&m.path);
                let swapped = match &rw.replacement {
                    Some(new) => match crate::api::catalog_segment(&tenant.id, new) {
                        Ok(record) => meta
                            .replace_segments(&tenant.id, path, &record)
                            .await
                            .map(|_| true),
                        Err(e) => {
                            discard(store, tenant, rw.replacement.as_ref()).await;
                            return Err(e);
                        }
                    },
                    None => meta.delete_segments(&tenant.id, path).await.map(|n| n == 1),
                };
                match swapped {
                    Ok(true) => {
                        removed += rw.removed;
                        rewritten += 1;
                        old.push(m.path.clone());
                    }
                    Ok(false) | Err(MetaError::NotFound { .. }) => {
                        // Compaction replaced it meanwhile: its successor is found next pass.
                        discard(store, tenant, rw.replacement.as_ref()).await;
                        again = true;
                    }
                    Err(e) => {
                        discard(store, tenant, rw.replacement.as_ref()).await;
                        return Err(e.into());
                    }
                }
            }
        }
        if !again {
            return Ok((removed, rewritten, old));
        }
    }
    Err(usage(
        "segments kept changing under the deletion (compaction); retried later",
    ))
}

/// Deletes a replacement that did not make it into the catalog (nobody refers to it) from
/// `store`, the tenant's region's, where it was written.
async fn discard(
    store: &SegmentStore,
    tenant: &Tenant,
    replacement: Option<&scrim_store::SegmentMeta>,
) {
    let Some(new) = replacement else { return };
    if let Err(e) = store
        .delete(tenant.id.as_str(), std::slice::from_ref(&new.path))
        .await
    {
        tracing::warn!("removing an unused rewritten segment: {e}");
    }
}

/// Rows `erasure` covers in every catalogued segment of the tenant, by query.
async fn remaining(
    d: &Deleter<'_>,
    tenant: &Tenant,
    keys: &Keyring,
    erasure: &Erasure,
) -> Result<u64, ServerError> {
    let segments = crate::api::catalogued_segments(d.platform, &tenant.id).await?;
    let query = TenantQuery::new(
        tenant.id.as_str(),
        keys.clone(),
        d.store(tenant)?,
        segments,
        BufferedBatches::default(),
    )?;
    Ok(query.count_erased(erasure).await?)
}

/// After a restore: every recorded selective deletion of `tenant` applied again to its
/// segments (a restored backup may hold rows erased after it was taken). Returns the rows
/// removed. Whole-tenant tombstones need nothing: the tenant's key is gone, so a restore
/// has nothing of it it could read.
pub async fn reapply_tombstones(platform: &Platform, tenant: &Tenant) -> Result<u64, ServerError> {
    let erasures = erasures_of(&platform.meta.deletions(&tenant.id).await?)?;
    let d = Deleter::operator(platform);
    let store = d.store(tenant)?;
    let (keys, _) = tenant_keys(platform, tenant).await?;
    let mut removed = 0;
    for erasure in &erasures {
        let (rows, _, old) = rewrite(&d, tenant, &keys, erasure).await?;
        store.delete(tenant.id.as_str(), &old).await?;
        removed += rows;
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------------------
// The command line: `scrim delete …`, as the operator, on the platform's state.

async fn operator_tenant(platform: &Platform, name: &str) -> Result<Tenant, ServerError> {
    crate::accounts::check(
        &scrim_auth::rbac::Actor::Operator,
        Permission::DeleteTelemetry,
    )?;
    platform.tenant_named(name).await
}

/// `scrim delete tenant NAME --confirm NAME`.
pub async fn operator_delete_tenant(
    platform: &Platform,
    name: &str,
    confirm: &str,
) -> Result<TenantDeleted, ServerError> {
    let tenant = operator_tenant(platform, name).await?;
    let d = Deleter::operator(platform);
    delete_tenant(&d, &tenant, &Act::operator(tenant.id.as_str()), confirm).await
}

/// `scrim delete rows NAME …`: records the request and, with `run`, runs it here (any job
/// that waits is run, this one included) and returns it as it ended. Without `run`, a
/// running server takes it up. Objects replaced here are deleted at once: a query a
/// server is running at that moment may fail (and can be retried); it never shows erased
/// rows.
pub async fn operator_delete_rows(
    platform: &Platform,
    name: &str,
    selection: &Selection,
    run: bool,
) -> Result<Deletion, ServerError> {
    let tenant = operator_tenant(platform, name).await?;
    let d = Deleter::operator(platform);
    let recorded =
        request_selective(&d, &tenant, &Act::operator(tenant.id.as_str()), selection).await?;
    if run {
        run_pending(&d).await?;
    }
    platform
        .meta
        .deletion(&tenant.id, &recorded.id)
        .await?
        .ok_or_else(|| usage("the deletion request disappeared"))
}

/// `scrim delete status NAME`: the tenant's requests, newest first.
pub async fn operator_deletions(
    platform: &Platform,
    name: &str,
) -> Result<Vec<Deletion>, ServerError> {
    let tenant = operator_tenant(platform, name).await?;
    let mut all = platform.meta.deletions(&tenant.id).await?;
    all.reverse();
    Ok(all)
}

// ---------------------------------------------------------------------------------------
// The API: POST/GET /api/v1/deletions, GET /api/v1/deletions/{id}.

pub(crate) fn routes() -> axum::Router<ApiState> {
    axum::Router::new()
        .route("/api/v1/deletions", get(list).post(create))
        .route("/api/v1/deletions/{id}", get(one))
}

/// `POST /api/v1/deletions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// `selective` or `tenant`.
    scope: String,
    /// For `tenant`: the tenant's name.
    confirm: Option<String>,
    start: Option<String>,
    end: Option<String>,
    service: Option<String>,
    attribute: Option<AttributeBody>,
    signals: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributeBody {
    key: String,
    value: String,
}

async fn create(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::DeleteTelemetry),
    )
    .await?;
    let req: CreateBody = serde_json::from_slice(&body).map_err(|e| {
        // serde's message names the field, never the value.
        bad_request(format!("invalid deletion request: {e}"))
    })?;
    let shared: &Arc<Shared> = &state.shared;
    let tenant = shared
        .platform
        .meta
        .tenant_by_id(&c.tenant_id)
        .await?
        .ok_or_else(|| not_found("tenant not found"))?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let act = crate::identity_api::act(&c, &origin);
    let d = Deleter::of_server(shared);
    match req.scope.as_str() {
        "selective" => {
            if req.confirm.is_some() {
                return Err(bad_request("confirm is for scope \"tenant\""));
            }
            let selection = Selection {
                start: req.start,
                end: req.end,
                service: req.service,
                attribute: req.attribute.map(|a| (a.key, a.value)),
                signals: req.signals,
            };
            let deletion = request_selective(&d, &tenant, &act, &selection).await?;
            Ok((StatusCode::ACCEPTED, Json(deletion_json(&deletion))))
        }
        "tenant" => {
            let selective = req.start.is_some()
                || req.end.is_some()
                || req.service.is_some()
                || req.attribute.is_some()
                || req.signals.is_some();
            if selective {
                return Err(bad_request(
                    "scope \"tenant\" deletes everything: it takes no filters",
                ));
            }
            let done =
                delete_tenant(&d, &tenant, &act, req.confirm.as_deref().unwrap_or("")).await?;
            Ok((
                StatusCode::OK,
                Json(json!({
                    "id": done.id,
                    "scope": "tenant",
                    "status": "done",
                    "segments": done.segments,
                    "objects_deleted": done.objects,
                    "api_keys_removed": done.api_keys,
                    "members_removed": done.members,
                })),
            ))
        }
        _ => Err(bad_request("scope: \"selective\" or \"tenant\"")),
    }
}

async fn list(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::DeleteTelemetry),
    )
    .await?;
    let all = state.shared.platform.meta.deletions(&c.tenant_id).await?;
    Ok(Json(json!({
        "deletions": all.iter().rev().map(deletion_json).collect::<Vec<_>>(),
    })))
}

async fn one(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::DeleteTelemetry),
    )
    .await?;
    let found = state
        .shared
        .platform
        .meta
        .deletion(&c.tenant_id, &id)
        .await?
        .ok_or_else(|| not_found("no such deletion request"))?;
    Ok(Json(deletion_json(&found)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&Policy::default(), Some(&[7u8; 32][..]))
    }

    #[test]
    fn an_attribute_matches_as_given_and_as_its_pseudonym() {
        let sel = Selection {
            attribute: Some(("enduser.id".into(), "u-123".into())),
            ..Selection::default()
        };
        let e = erasure_of(&sel, &redactor(), 1_000).unwrap();
        let a = e.attribute.as_ref().unwrap();
        assert_eq!(a.values[0], "u-123");
        assert!(a.values[1].starts_with("[id:"), "{:?}", a.values);
        assert_eq!(e.end_ns, 1_000, "bounded by the request");
        assert_eq!(e.signals, Signal::ALL.to_vec());
        // The audit form never holds the value as typed.
        let shown = describe(&e).to_string();
        assert!(!shown.contains("u-123"), "{shown}");
        assert!(shown.contains(&a.values[1]), "{shown}");
    }

    #[test]
    fn a_selection_must_name_something_and_be_well_formed() {
        let none = erasure_of(&Selection::default(), &redactor(), 1_000);
        assert!(none.unwrap_err().to_string().contains("delete the tenant"));
        let backwards = Selection {
            start: Some("2026-11-25T10:00:00Z".into()),
            end: Some("2026-11-25T09:00:00Z".into()),
            ..Selection::default()
        };
        assert!(erasure_of(&backwards, &redactor(), i64::MAX).is_err());
        let bad_signal = Selection {
            service: Some("checkout".into()),
            signals: Some(vec!["profiles".into()]),
            ..Selection::default()
        };
        assert!(
            erasure_of(&bad_signal, &redactor(), 1_000)
                .unwrap_err()
                .to_string()
                .contains("unknown signal")
        );
        let later = Selection {
            end: Some("4000000000".into()),
            service: Some("checkout".into()),
            ..Selection::default()
        };
        assert_eq!(
            erasure_of(&later, &redactor(), 1_000).unwrap().end_ns,
            1_000,
            "never later than now"
        );
    }
}
