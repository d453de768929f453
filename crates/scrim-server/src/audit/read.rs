//! Reading the audit log back: filtered queries (the API), exports in JSON lines and CSV
//! (`scrim audit export`, `GET /api/v1/audit?format=`), and verification of whole chains
//! (`scrim audit verify`).

use std::io::Write;

use scrim_audit::{
    AuditRecord, ChainVerifier, CheckpointPublicKey, PLATFORM_TENANT, VerifiedCheckpoint,
    VerifyReport,
};
use scrim_meta::{AuditQuery, Meta};

use super::checkpoints::signed_of;
use super::record_of;
use crate::ServerError;

/// Rows read per page when walking a chain.
const PAGE: u32 = 1000;

/// Which records to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The `actor` column: a user or key id, `operator`, `system:<name>`.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Inclusive, Unix ms.
    pub start_ms: Option<i64>,
    /// Exclusive, Unix ms.
    pub end_ms: Option<i64>,
}

impl AuditFilter {
    fn matches(&self, r: &AuditRecord) -> bool {
        self.actor
            .as_ref()
            .is_none_or(|a| *a == super::actor_column(&r.actor))
            && self.action.as_ref().is_none_or(|a| *a == r.action)
            && self.start_ms.is_none_or(|s| r.at_ms >= s)
            && self.end_ms.is_none_or(|e| r.at_ms < e)
    }
}

/// The newest `limit` records of `tenant` matching `filter`, newest first. A stored row
/// that is not the record it claims to be is an error that names it.
pub async fn query(
    meta: &Meta,
    tenant: &str,
    filter: &AuditFilter,
    limit: u32,
) -> Result<Vec<AuditRecord>, ServerError> {
    let rows = meta
        .audit_rows(
            tenant,
            &AuditQuery {
                actor: filter.actor.clone(),
                action: filter.action.clone(),
                start_ms: filter.start_ms,
                end_ms: filter.end_ms,
                limit: Some(limit),
            },
        )
        .await?;
    rows.iter()
        .map(|row| {
            record_of(row).map_err(|e| ServerError::Usage(format!("{e}; run scrim audit verify")))
        })
        .collect()
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line (`application/x-ndjson`).
    JsonLines,
    /// RFC 4180 with a header line (`text/csv`).
    Csv,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s {
            "jsonl" | "ndjson" | "json-lines" => Some(ExportFormat::JsonLines),
            "csv" => Some(ExportFormat::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::JsonLines => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Writes `tenant`'s records matching `filter` to `out`, oldest first, and returns how many.
pub async fn export(
    meta: &Meta,
    tenant: &str,
    filter: &AuditFilter,
    format: ExportFormat,
    out: &mut (impl Write + ?Sized),
) -> Result<u64, ServerError> {
    if format == ExportFormat::Csv {
        out.write_all(scrim_audit::csv_header().as_bytes())?;
    }
    let mut after = 0;
    let mut written = 0;
    loop {
        let rows = meta.audit_chain(tenant, after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in &rows {
            let r = record_of(row)
                .map_err(|e| ServerError::Usage(format!("{e}; run scrim audit verify")))?;
            if !filter.matches(&r) {
                continue;
            }
            match format {
                ExportFormat::JsonLines => {
                    out.write_all(scrim_audit::to_json_line(&r).as_bytes())?;
                    out.write_all(b"\n")?;
                }
                ExportFormat::Csv => out.write_all(scrim_audit::to_csv_row(&r).as_bytes())?,
            }
            written += 1;
        }
    }
    out.flush()?;
    Ok(written)
}

/// What `scrim audit verify` found in one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVerdict {
    pub tenant: String,
    /// The walk's report, or the first sign of tampering, in words.
    pub result: Result<VerifyReport, String>,
    /// Ids of keys other than the one given that signed some checkpoints (not checked).
    pub other_keys: Vec<String>,
}

/// Every chain to verify: those with a head, every tenant, and the platform's.
pub async fn chains(meta: &Meta) -> Result<Vec<String>, ServerError> {
    let mut all = meta.audit_tenants().await?;
    all.extend(
        meta.list_tenants()
            .await?
            .into_iter()
            .map(|t| t.id.to_string()),
    );
    all.push(PLATFORM_TENANT.to_owned());
    all.sort();
    all.dedup();
    Ok(all)
}

/// Walks `tenant`'s chain page by page against its checkpoints signed with `public_key`.
pub async fn verify_tenant(
    meta: &Meta,
    tenant: &str,
    public_key: &CheckpointPublicKey,
) -> Result<ChainVerdict, ServerError> {
    let key_id = public_key.key_id();
    let mut checkpoints: Vec<VerifiedCheckpoint> = Vec::new();
    let mut other_keys = Vec::new();
    let verdict = |result, other_keys| ChainVerdict {
        tenant: tenant.to_owned(),
        result,
        other_keys,
    };
    for row in meta.audit_checkpoints(tenant).await? {
        if row.key_id != key_id {
            if !other_keys.contains(&row.key_id) {
                other_keys.push(row.key_id.clone());
            }
            continue;
        }
        let checked = signed_of(&row).and_then(|s| s.verify(public_key).ok());
        match checked {
            Some(cp) => checkpoints.push(cp),
            None => {
                return Ok(verdict(
                    Err(format!(
                        "the checkpoint of tenant {tenant} at record {} is not validly signed: checkpoints were tampered with",
                        row.seq
                    )),
                    other_keys,
                ));
            }
        }
    }
    let mut walk = match ChainVerifier::new(tenant, &checkpoints) {
        Ok(w) => w,
        Err(t) => return Ok(verdict(Err(t.to_string()), other_keys)),
    };
    let mut after = 0;
    loop {
        let rows = meta.audit_chain(tenant, after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in &rows {
            let pushed = match record_of(row) {
                Ok(r) => walk.push(r).map_err(|t| t.to_string()),
                Err(bad) => Err(bad.to_string()),
            };
            if let Err(m) = pushed {
                return Ok(verdict(Err(m), other_keys));
            }
        }
    }
    let report = match walk.finish() {
        Ok(r) => r,
        Err(t) => return Ok(verdict(Err(t.to_string()), other_keys)),
    };
    // The head row moves with every append: a chain that ends before it lost its tail.
    if let Some((head_seq, _)) = meta.audit_head(tenant).await?
        && head_seq > report.last_seq
    {
        return Ok(verdict(
            Err(format!(
                "the chain of tenant {tenant} ends at record {}, but {head_seq} records were written: records after {} were removed",
                report.last_seq, report.last_seq
            )),
            other_keys,
        ));
    }
    Ok(verdict(Ok(report), other_keys))
}

/// A time given on the command line or in a query: RFC 3339 (`2026-11-24T10:00:00Z`) or
/// Unix seconds (fractions allowed), as Unix milliseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    crate::export::parse_time_ns(text).map(|ns| ns.div_euclid(1_000_000))
}
