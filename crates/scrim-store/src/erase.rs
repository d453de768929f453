//! Erasure: rows that a deletion request removed, as one predicate used everywhere.
//!
//! An [`Erasure`] describes the rows a selective deletion request covers: a time window
//! (always bounded above by the moment of the request, so data that arrives later is not
//! erased), optionally one service, and optionally one attribute equal to one of a few
//! values (the value as the requester gave it and as the capture policy stored it, e.g. a
//! pseudonymised `enduser.id`), looked up in both the span's (log's, point's) attributes and
//! its resource's. The same predicate ([`Erasure::expr`]) is used
//!
//! - by every query ([`crate::TenantQuery::with_erasures`]), so rows disappear from every
//!   answer the moment the request is recorded, long before their segments are rewritten;
//! - when the buffer is flushed ([`remove_erased`]), so rows still in a WAL on any node are
//!   never written to a new segment;
//! - when a segment is rewritten without them ([`crate::SegmentStore::rewrite_without`]);
//! - and to verify, by query, that nothing matches any more ([`crate::TenantQuery::count_erased`]).
//!
//! One predicate, one implementation: what a query hides is exactly what a rewrite removes.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::schema::Signal;

/// The rows one selective deletion covers. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// The tables it applies to.
    pub signals: Vec<Signal>,
    /// Rows at or after this time (ns since the epoch, the signal's time column); `None`:
    /// from the beginning.
    pub start_ns: Option<i64>,
    /// Rows before this time (exclusive). Never later than the request itself.
    pub end_ns: i64,
    /// Only rows of this service (`service_name`).
    pub service: Option<String>,
    /// Only rows with this attribute (in `attributes` or `resource_attributes`) equal to one
    /// of these values.
    pub attribute: Option<AttributeMatch>,
}

/// An attribute name and the stored values that match it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeMatch {
    pub key: String,
    pub values: Vec<String>,
}

fn ts(ns: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(
        Some(ns),
        Some("UTC".into()),
    ))
}

impl Erasure {
    /// Whether this erasure covers `signal` at all.
    pub fn applies_to(&self, signal: Signal) -> bool {
        self.signals.contains(&signal)
    }

    /// Whether a segment with these bounds and services may hold covered rows (catalog
    /// pruning; `true` when unsure).
    pub fn may_match(
        &self,
        signal: Signal,
        min_time_ns: i64,
        max_time_ns: i64,
        services: &[String],
    ) -> bool {
        self.applies_to(signal)
            && self.start_ns.is_none_or(|s| max_time_ns >= s)
            && min_time_ns < self.end_ns
            && self
                .service
                .as_ref()
                .is_none_or(|s| services.is_empty() || services.contains(s))
    }

    /// The predicate over `signal`'s table, `None` when this erasure does not cover it. It
    /// may be null on a row (a missing attribute); callers test it with `is_true` /
    /// `is_not_true`, never bare, so that a null never hides a row it does not cover.
    pub fn expr(&self, signal: Signal) -> Option<Expr> {
        if !self.applies_to(signal) {
            return None;
        }
        let time = col(signal.time_column());
        let mut e = time.clone().lt(ts(self.end_ns));
        if let Some(s) = self.start_ns {
            e = e.and(time.gt_eq(ts(s)));
        }
        if let Some(s) = &self.service {
            e = e.and(col("service_name").eq(lit(s.as_str())));
        }
        if let Some(a) = &self.attribute {
            let values: Vec<Expr> = a.values.iter().map(|v| lit(v.as_str())).collect();
            let in_map = |map: &str| {
                get_field(col(map), a.key.as_str())
                    .in_list(values.clone(), false)
                    .is_true()
            };
            e = e.and(in_map("attributes").or(in_map("resource_attributes")));
        }
        Some(e)
    }
}

/// Rows of `signal` covered by any of `erasures`, as one predicate (`None`: none apply).
pub fn any_erased(signal: Signal, erasures: &[Erasure]) -> Option<Expr> {
    erasures
        .iter()
        .filter_map(|e| e.expr(signal))
        .map(Expr::is_true)
        .reduce(Expr::or)
}

/// `batches` (of `signal`'s schema) without the rows any of `erasures` covers, and how many
/// rows were removed. Batches come back unchanged (no copy) when no erasure applies.
pub async fn remove_erased(
    signal: Signal,
    batches: Vec<RecordBatch>,
    erasures: &[Erasure],
) -> Result<(Vec<RecordBatch>, u64)> {
    let Some(erased) = any_erased(signal, erasures) else {
        return Ok((batches, 0));
    };
    let before: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if before == 0 {
        return Ok((batches, 0));
    }
    let ctx = SessionContext::new();
    let table = MemTable::try_new(signal.schema(), vec![batches])?;
    let kept = ctx
        .read_table(Arc::new(table))?
        .filter(erased.is_not_true())?
        .collect()
        .await?;
    let after: usize = kept.iter().map(RecordBatch::num_rows).sum();
    let removed = before.checked_sub(after).ok_or_else(|| {
        StoreError::Corrupt("filtering a batch produced more rows than it had".into())
    })?;
    Ok((kept, removed as u64))
}
