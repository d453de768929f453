//! Walking a tenant's chain and naming the first thing wrong with it.

use std::collections::BTreeMap;

use crate::canonical::utc_text;
use crate::checkpoint::VerifiedCheckpoint;
use crate::record::{AuditRecord, GENESIS, recompute_hash};

/// What a successful walk saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub tenant: String,
    /// Records walked.
    pub records: u64,
    /// Seq of the last record (0 for an empty chain).
    pub last_seq: u64,
    /// Hash of the last record ([`GENESIS`] for an empty chain).
    pub last_hash: [u8; 32],
    /// Checkpoints of this tenant that the chain was checked against.
    pub checkpoints_checked: u64,
}

/// The first sign of tampering found in a tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tamper {
    /// The record's contents do not match its hash: it was changed after it was written.
    Changed { tenant: String, seq: u64 },
    /// Records between `after_seq` and `before_seq` (both exclusive) are missing, or the
    /// record `before_seq` does not follow `after_seq` (its `prev_hash` names another record).
    /// `after_seq` is 0 when the chain's beginning is missing.
    Missing {
        tenant: String,
        after_seq: u64,
        before_seq: u64,
    },
    /// Record `seq` is stored after record `after_seq`, which should come later (or is the
    /// same record again).
    Reordered {
        tenant: String,
        seq: u64,
        after_seq: u64,
    },
    /// A record of another tenant is stored in this tenant's chain, after record `after_seq`.
    WrongTenant {
        tenant: String,
        after_seq: u64,
        found_tenant: String,
        found_seq: u64,
    },
    /// The chain does not agree with a signed checkpoint: it ends at `last_seq`, before the
    /// checkpoint's `checkpoint_seq` (its tail was cut off), or its record `checkpoint_seq`
    /// has another hash than the checkpoint says (history up to there was rewritten).
    BeforeCheckpoint {
        tenant: String,
        checkpoint_seq: u64,
        checkpoint_at_ms: i64,
        last_seq: u64,
    },
}

impl Tamper {
    pub fn tenant(&self) -> &str {
        match self {
            Tamper::Changed { tenant, .. }
            | Tamper::Missing { tenant, .. }
            | Tamper::Reordered { tenant, .. }
            | Tamper::WrongTenant { tenant, .. }
            | Tamper::BeforeCheckpoint { tenant, .. } => tenant,
        }
    }
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tamper::Changed { tenant, seq } => write!(
                f,
                "record {seq} of tenant {tenant} was changed after it was written (its contents do not match its hash)"
            ),
            Tamper::Missing {
                tenant,
                after_seq,
                before_seq,
            } => {
                if before_seq.saturating_sub(*after_seq) > 2 {
                    write!(
                        f,
                        "records {} to {} of tenant {tenant} were removed",
                        after_seq + 1,
                        before_seq - 1
                    )
                } else if *before_seq == after_seq + 2 {
                    write!(f, "record {} of tenant {tenant} was removed", after_seq + 1)
                } else if *after_seq == 0 {
                    write!(
                        f,
                        "record {before_seq} of tenant {tenant} does not start the chain (its previous hash is not the genesis hash): it was replaced"
                    )
                } else {
                    write!(
                        f,
                        "record {before_seq} of tenant {tenant} does not follow record {after_seq}: a record between them was removed or replaced"
                    )
                }
            }
            Tamper::Reordered {
                tenant,
                seq,
                after_seq,
            } => {
                if seq == after_seq {
                    write!(f, "record {seq} of tenant {tenant} is stored twice")
                } else {
                    write!(
                        f,
                        "record {seq} of tenant {tenant} is stored after record {after_seq}: records were reordered"
                    )
                }
            }
            Tamper::WrongTenant {
                tenant,
                after_seq,
                found_tenant,
                found_seq,
            } => write!(
                f,
                "a record of tenant {found_tenant} (its record {found_seq}) is stored in the chain of tenant {tenant}, after record {after_seq}"
            ),
            Tamper::BeforeCheckpoint {
                tenant,
                checkpoint_seq,
                checkpoint_at_ms,
                last_seq,
            } => {
                let at = utc_text(*checkpoint_at_ms);
                if last_seq < checkpoint_seq {
                    write!(
                        f,
                        "the chain of tenant {tenant} ends at record {last_seq}, but the checkpoint signed at {at} says it reached record {checkpoint_seq}: records after {last_seq} were removed"
                    )
                } else {
                    write!(
                        f,
                        "record {checkpoint_seq} of tenant {tenant} does not match the checkpoint signed at {at}: records up to {checkpoint_seq} were rewritten"
                    )
                }
            }
        }
    }
}

impl std::error::Error for Tamper {}

/// Walks `records`, one tenant's chain in stored order, and names the first problem:
///
/// - a record of another tenant → [`Tamper::WrongTenant`];
/// - a record whose contents do not match its hash → [`Tamper::Changed`];
/// - a seq that does not increase → [`Tamper::Reordered`] (so is a gap followed at once by
///   the missing record: two records swapped);
/// - a gap in the seqs, or a `prev_hash` that is not the previous record's hash →
///   [`Tamper::Missing`];
/// - disagreement with a checkpoint of this tenant (a record at its seq with another hash, or
///   a chain that ends before it) → [`Tamper::BeforeCheckpoint`].
///
/// The chain starts at seq 1 with `prev_hash` [`GENESIS`], or, when older records were pruned,
/// right after a checkpoint: a first record `s` whose `prev_hash` is the hash of a
/// checkpoint at `s - 1`. Checkpoints of other tenants are ignored. Only the first problem is
/// reported: what comes after it cannot be trusted to say more.
///
/// [`ChainVerifier`] does the same walk one record at a time, for chains read page by page.
pub fn verify_chain(
    tenant: &str,
    records: impl IntoIterator<Item = AuditRecord>,
    checkpoints: &[VerifiedCheckpoint],
) -> Result<VerifyReport, Tamper> {
    let mut v = ChainVerifier::new(tenant, checkpoints)?;
    for r in records {
        v.push(r)?;
    }
    v.finish()
}

/// [`verify_chain`], fed one record at a time: a chain of millions of records is checked in
/// constant memory, page by page as storage returns it.
///
/// After the first problem every call returns it again.
#[derive(Debug)]
pub struct ChainVerifier<'a> {
    tenant: String,
    pending: BTreeMap<u64, Vec<&'a VerifiedCheckpoint>>,
    checked: u64,
    count: u64,
    last_seq: u64,
    last_hash: [u8; 32],
    /// A record that came after a gap: whether records are missing or the next record is
    /// the one that belongs in the gap (two records swapped) is told by the next record.
    gap: Option<AuditRecord>,
    failed: Option<Tamper>,
}

impl<'a> ChainVerifier<'a> {
    /// A walk of `tenant`'s chain against `checkpoints` (other tenants' are ignored).
    pub fn new(
        tenant: &str,
        checkpoints: &'a [VerifiedCheckpoint],
    ) -> Result<ChainVerifier<'a>, Tamper> {
        let mut pending: BTreeMap<u64, Vec<&VerifiedCheckpoint>> = BTreeMap::new();
        for cp in checkpoints.iter().filter(|cp| cp.tenant == tenant) {
            pending.entry(cp.seq).or_default().push(cp);
        }
        let mut checked = 0;
        // Checkpoints at seq 0 (an empty chain) hold whatever comes after.
        if let Some(cps) = pending.remove(&0) {
            for cp in cps {
                if cp.hash != GENESIS {
                    return Err(before_checkpoint(tenant, cp, 0));
                }
                checked += 1;
            }
        }
        Ok(ChainVerifier {
            tenant: tenant.to_owned(),
            pending,
            checked,
            count: 0,
            last_seq: 0,
            last_hash: GENESIS,
            gap: None,
            failed: None,
        })
    }

    /// Records walked so far.
    pub fn records(&self) -> u64 {
        self.count
    }

    /// The next record of the chain, in stored order.
    pub fn push(&mut self, r: AuditRecord) -> Result<(), Tamper> {
        if let Some(t) = &self.failed {
            return Err(t.clone());
        }
        let result = self.step(r);
        if let Err(t) = &result {
            self.failed = Some(t.clone());
        }
        result
    }

    /// Ends the walk: checkpoints beyond the last record mean the tail was cut off.
    pub fn finish(mut self) -> Result<VerifyReport, Tamper> {
        if let Some(t) = self.failed.take() {
            return Err(t);
        }
        if let Some(r) = self.gap.take() {
            return Err(self.missing(r.seq));
        }
        // Checkpoints beyond the end: the tail was cut off. Name the earliest.
        if let Some((_, cps)) = self.pending.iter().next()
            && let Some(cp) = cps.first()
        {
            return Err(before_checkpoint(&self.tenant, cp, self.last_seq));
        }
        Ok(VerifyReport {
            tenant: self.tenant,
            records: self.count,
            last_seq: self.last_seq,
            last_hash: self.last_hash,
            checkpoints_checked: self.checked,
        })
    }

    fn missing(&self, before_seq: u64) -> Tamper {
        Tamper::Missing {
            tenant: self.tenant.clone(),
            after_seq: self.last_seq,
            before_seq,
        }
    }

    fn step(&mut self, r: AuditRecord) -> Result<(), Tamper> {
        if let Some(after_gap) = self.gap.take() {
            // Trust the record that fills the gap only if it is intact.
            if r.tenant == self.tenant
                && r.seq > self.last_seq
                && r.seq < after_gap.seq
                && recompute_hash(&r) == r.hash
            {
                return Err(Tamper::Reordered {
                    tenant: self.tenant.clone(),
                    seq: r.seq,
                    after_seq: after_gap.seq,
                });
            }
            return Err(self.missing(after_gap.seq));
        }
        if r.tenant != self.tenant {
            return Err(Tamper::WrongTenant {
                tenant: self.tenant.clone(),
                after_seq: self.last_seq,
                found_tenant: r.tenant,
                found_seq: r.seq,
            });
        }
        if recompute_hash(&r) != r.hash {
            return Err(Tamper::Changed {
                tenant: self.tenant.clone(),
                seq: r.seq,
            });
        }
        if self.count == 0 && r.seq > 1 {
            // Pruned prefix: acceptable only after a checkpoint that vouches for prev_hash.
            let anchor = self.pending.get(&(r.seq - 1)).and_then(|cps| {
                cps.iter()
                    .all(|cp| cp.hash == r.prev_hash)
                    .then_some(cps.len())
            });
            // Without one, the gap check below names what is wrong.
            if let Some(n) = anchor {
                // Checkpoints of pruned records cannot be checked any more.
                self.pending = self.pending.split_off(&r.seq);
                self.checked += n as u64;
                self.last_seq = r.seq - 1;
                self.last_hash = r.prev_hash;
            }
        }
        if r.seq <= self.last_seq {
            return Err(Tamper::Reordered {
                tenant: self.tenant.clone(),
                seq: r.seq,
                after_seq: self.last_seq,
            });
        }
        if r.seq > self.last_seq + 1 {
            // Either records are missing, or the next record is the one that belongs here.
            self.gap = Some(r);
            return Ok(());
        }
        if r.prev_hash != self.last_hash {
            return Err(self.missing(r.seq));
        }
        if let Some(cps) = self.pending.remove(&r.seq) {
            for cp in cps {
                if cp.hash != r.hash {
                    return Err(before_checkpoint(&self.tenant, cp, r.seq));
                }
                self.checked += 1;
            }
        }
        self.count += 1;
        self.last_seq = r.seq;
        self.last_hash = r.hash;
        Ok(())
    }
}

fn before_checkpoint(tenant: &str, cp: &VerifiedCheckpoint, last_seq: u64) -> Tamper {
    Tamper::BeforeCheckpoint {
        tenant: tenant.to_owned(),
        checkpoint_seq: cp.seq,
        checkpoint_at_ms: cp.at_ms,
        last_seq,
    }
}
