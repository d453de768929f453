//! Signed checkpoints: "tenant T had `seq` N with hash H at time X", signed with Ed25519.
//!
//! A hash chain shows that a record was changed, removed or reordered, but not that the
//! chain's tail was cut off, nor that the whole chain was rewritten by someone who can write
//! the database. A checkpoint signed with a key that the database never holds closes both.

use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::canonical::{Encoder, hex, sha256};
use crate::hexser;
use crate::record::AuditRecord;

/// A claim about a tenant's chain: its record `seq` had hash `hash`, as of `at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tenant: String,
    pub seq: u64,
    #[serde(with = "hexser")]
    pub hash: [u8; 32],
    /// When the checkpoint was made, in Unix milliseconds.
    pub at_ms: i64,
}

const CHECKPOINT_DOMAIN: &[u8] = b"scrim-audit-checkpoint";
const CHECKPOINT_VERSION: u8 = 1;

impl Checkpoint {
    /// A checkpoint at `record` (the tip of its chain, usually).
    pub fn at(record: &AuditRecord, at_ms: i64) -> Checkpoint {
        Checkpoint {
            tenant: record.tenant.clone(),
            seq: record.seq,
            hash: record.hash,
            at_ms,
        }
    }

    /// The signed bytes: `str("scrim-audit-checkpoint")`, `u8 version = 1`, `str tenant`,
    /// `u64 seq`, `32 bytes hash`, `i64 at_ms` (the layout of
    /// [`canonical_bytes`](crate::canonical_bytes)).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(CHECKPOINT_DOMAIN, CHECKPOINT_VERSION);
        e.str(&self.tenant);
        e.u64(self.seq);
        e.raw(&self.hash);
        e.i64(self.at_ms);
        e.finish()
    }
}

/// A checkpoint with its Ed25519 signature and the id of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    #[serde(with = "hexser::vec")]
    pub signature: Vec<u8>,
    /// [`CheckpointPublicKey::key_id`] of the signing key.
    pub key_id: String,
}

/// A checkpoint whose signature has been checked: the only kind
/// [`verify_chain`](crate::verify_chain) accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint(Checkpoint);

impl VerifiedCheckpoint {
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.0
    }
}

impl std::ops::Deref for VerifiedCheckpoint {
    type Target = Checkpoint;
    fn deref(&self) -> &Checkpoint {
        &self.0
    }
}

/// Why a checkpoint key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// The operating system's random source failed.
    Random,
    /// The bytes are not an Ed25519 private key in PKCS#8 (v1 or v2).
    InvalidKey,
    /// The public key is not 32 bytes.
    InvalidPublicKey,
    /// The checkpoint names another key than the one it was checked with.
    WrongKey { expected: String, found: String },
    /// The signature does not match the checkpoint: it was changed, or forged.
    BadSignature { tenant: String, seq: u64 },
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointError::Random => f.write_str("the operating system's random source failed"),
            CheckpointError::InvalidKey => {
                f.write_str("the audit checkpoint key is not an Ed25519 private key in PKCS#8")
            }
            CheckpointError::InvalidPublicKey => {
                f.write_str("the audit checkpoint public key is not 32 bytes of Ed25519")
            }
            CheckpointError::WrongKey { expected, found } => write!(
                f,
                "the audit checkpoint was signed with key {found}, not with the expected key {expected}"
            ),
            CheckpointError::BadSignature { tenant, seq } => write!(
                f,
                "the signature of the audit checkpoint at record {seq} of tenant {tenant} is not valid: the checkpoint was changed or forged"
            ),
        }
    }
}

impl std::error::Error for CheckpointError {}

/// An Ed25519 public key that checks checkpoints.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckpointPublicKey([u8; 32]);

impl CheckpointPublicKey {
    /// From the 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<CheckpointPublicKey, CheckpointError> {
        <[u8; 32]>::try_from(bytes)
            .map(CheckpointPublicKey)
            .map_err(|_| CheckpointError::InvalidPublicKey)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 bytes of the SHA-256 of the public key, in hex (16 characters).
    pub fn key_id(&self) -> String {
        hex(&sha256(&self.0)[..8])
    }
}

impl std::fmt::Debug for CheckpointPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointPublicKey({})", hex(&self.0))
    }
}

/// A private key in PKCS#8, to be stored (encrypted, away from the data keys) and loaded
/// again with [`CheckpointKey::from_pkcs8`]. Zeroed on drop; `Debug` does not show it.
pub struct Pkcs8(Zeroizing<Vec<u8>>);

impl Pkcs8 {
    /// The DER bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Pkcs8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pkcs8([hidden])")
    }
}

/// The Ed25519 key that signs checkpoints.
///
/// It is its own key, generated from the operating system's randomness and stored on its own:
/// never derived from the master key or a tenant's data key, so that whoever holds the data
/// keys (or the database) cannot forge checkpoints. `Debug` shows only its key id.
pub struct CheckpointKey {
    pair: Ed25519KeyPair,
    public: CheckpointPublicKey,
}

impl CheckpointKey {
    /// A new random key, and its PKCS#8 encoding to store.
    pub fn generate() -> Result<(CheckpointKey, Pkcs8), CheckpointError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| CheckpointError::Random)?;
        let pkcs8 = Pkcs8(Zeroizing::new(doc.as_ref().to_vec()));
        let key = CheckpointKey::from_pkcs8(pkcs8.expose())?;
        Ok((key, pkcs8))
    }

    /// Loads a key from PKCS#8 (v2 as [`generate`](Self::generate) writes it, or v1 as
    /// `openssl genpkey -algorithm ed25519` does).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<CheckpointKey, CheckpointError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| CheckpointError::InvalidKey)?;
        let public = CheckpointPublicKey::from_bytes(pair.public_key().as_ref())?;
        Ok(CheckpointKey { pair, public })
    }

    pub fn public_key(&self) -> CheckpointPublicKey {
        self.public
    }

    pub fn key_id(&self) -> String {
        self.public.key_id()
    }

    /// Signs `checkpoint`.
    pub fn sign(&self, checkpoint: Checkpoint) -> SignedCheckpoint {
        let signature = self.pair.sign(&checkpoint.signed_bytes()).as_ref().to_vec();
        SignedCheckpoint {
            checkpoint,
            signature,
            key_id: self.key_id(),
        }
    }
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl SignedCheckpoint {
    /// Checks the signature with `public_key`.
    pub fn verify(
        &self,
        public_key: &CheckpointPublicKey,
    ) -> Result<VerifiedCheckpoint, CheckpointError> {
        verify(self, public_key)
    }
}

/// Checks `signed`'s signature with `public_key`; the checkpoint comes back only if it holds.
pub fn verify(
    signed: &SignedCheckpoint,
    public_key: &CheckpointPublicKey,
) -> Result<VerifiedCheckpoint, CheckpointError> {
    let expected = public_key.key_id();
    if signed.key_id != expected {
        return Err(CheckpointError::WrongKey {
            expected,
            found: signed.key_id.clone(),
        });
    }
    UnparsedPublicKey::new(&ED25519, public_key.as_bytes())
        .verify(&signed.checkpoint.signed_bytes(), &signed.signature)
        .map_err(|_| CheckpointError::BadSignature {
            tenant: signed.checkpoint.tenant.clone(),
            seq: signed.checkpoint.seq,
        })?;
    Ok(VerifiedCheckpoint(signed.checkpoint.clone()))
}
