//! The tamper-evident core of Scrim's audit log: what an audit record holds, how records are
//! chained and sealed, how a chain is verified, signed checkpoints, and export. No I/O and no
//! database: `scrim-meta` stores records and checkpoints, `scrim-server` writes a record
//! before every audited action (and fails the action if it cannot: security invariant 6).
//!
//! # Why a hash chain
//!
//! An audit log is only worth something if the people it records cannot quietly edit it. Each
//! tenant's records form a chain: record `n` holds the hash of record `n - 1` ([`GENESIS`] for
//! the first), and its own hash covers every field through a fixed, length-prefixed encoding
//! ([`canonical_bytes`]). Changing a record breaks its hash; removing or reordering records
//! breaks the seqs or the links. [`verify_chain`] walks a chain in stored order and names the
//! first record that was changed, removed or reordered ([`Tamper`]), in words an operator can
//! act on.
//!
//! # Why signed checkpoints
//!
//! A chain alone cannot show that its tail was cut off, nor that someone with write access to
//! the database rewrote it from some point on and recomputed every hash. Periodically a
//! [`Checkpoint`] ("tenant T had record N with hash H at time X") is signed with an Ed25519
//! [`CheckpointKey`] that is generated and stored on its own, never derived from the master
//! key or the tenants' data keys, so whoever holds those (or the database) cannot forge one.
//! Only [`VerifiedCheckpoint`]s (signature checked) are accepted by [`verify_chain`]; a
//! checkpoint also anchors a chain whose oldest records were pruned.
//!
//! # No secrets
//!
//! Details hold diffs of settings and query texts. [`NewRecord`] passes them through
//! [`redact_secrets`], so a value under a key such as `password`, `client_secret` or
//! `authorization` is stored as `"[redacted]"`; free-text fields taken from requests are cut
//! to bounded lengths rather than refused, so a long header cannot make the audit write fail.
//!
//! # Example
//!
//! ```
//! use scrim_audit::{Actor, ChainTip, NewRecord, Outcome, verify_chain};
//!
//! let mut tip = ChainTip::GENESIS;
//! let rec = tip.seal(
//!     NewRecord::new("t_1", 1_700_000_000_000, Actor::User { id: "u_1".into() },
//!                    "apikey.create", Outcome::Success)?
//!         .target("k_abc")
//!         .detail("scopes", "ingest"),
//! );
//! let report = verify_chain("t_1", [rec], &[])?;
//! assert_eq!(report.last_seq, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod canonical;
mod checkpoint;
mod export;
mod hexser;
mod record;
mod redact;
mod verify;

pub use canonical::{canonical_json, hex, unhex, utc_text};
pub use checkpoint::{
    Checkpoint, CheckpointError, CheckpointKey, CheckpointPublicKey, Pkcs8, SignedCheckpoint,
    VerifiedCheckpoint, verify,
};
pub use export::{csv_header, to_csv_row, to_json_line};
pub use record::{
    Actor, AuditRecord, ChainTip, GENESIS, MAX_ACTION, MAX_TENANT, MAX_USER_AGENT, NewRecord,
    Outcome, PLATFORM_TENANT, RecordError, canonical_bytes, recompute_hash, seal, validate_action,
};
pub use redact::{REDACTED, is_secret_key, redact_secrets};
pub use verify::{ChainVerifier, Tamper, VerifyReport, verify_chain};
