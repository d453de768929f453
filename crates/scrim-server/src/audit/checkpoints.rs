//! Signed checkpoints of the audit chains, and the key that signs them.
//!
//! The key is an Ed25519 key of its own, in its own file (`audit-checkpoint.key` in the data
//! directory unless `--audit-key-file` names another), never derived from or wrapped by the
//! master key: whoever holds the master key or the database can rewrite a chain and
//! recompute its hashes, but cannot sign a checkpoint that vouches for the rewrite. Its
//! public half is written beside it (`.pub`, 64 hex digits), so that an auditor can verify
//! with the public key alone. Several nodes must share one key file.

use std::io::Write;
use std::path::{Path, PathBuf};

use scrim_audit::{Checkpoint, CheckpointKey, CheckpointPublicKey, SignedCheckpoint, hex, unhex};
use scrim_meta::{CheckpointRow, Meta, MetaError};
use zeroize::Zeroizing;

use crate::ServerError;

/// The checkpoint key's file name in the data directory.
pub const CHECKPOINT_KEY_FILE: &str = "audit-checkpoint.key";

/// The public key's file: the key file's path with `.pub` appended.
pub fn public_key_path(key_file: &Path) -> PathBuf {
    let mut p = key_file.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// The key that signs checkpoints.
#[derive(Debug)]
pub struct CheckpointSigner {
    key: CheckpointKey,
}

impl CheckpointSigner {
    /// Loads the key from `path` (hex of its PKCS#8 form, owner-only), creating it and its
    /// `.pub` file on first use.
    pub fn load_or_create(path: &Path) -> Result<CheckpointSigner, ServerError> {
        let fail = |what: &str, e: std::io::Error| {
            ServerError::Usage(format!(
                "audit checkpoint key: {what} {}: {e}",
                path.display()
            ))
        };
        match scrim_crypto::create_new_private(path) {
            Ok(mut file) => {
                let (key, pkcs8) = CheckpointKey::generate().map_err(|e| {
                    ServerError::Usage(format!("audit checkpoint key: cannot generate: {e}"))
                })?;
                let text = Zeroizing::new(format!("{}\n", hex(pkcs8.expose())));
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| fail("cannot write", e))?;
                write_public_key(path, &key.public_key())?;
                tracing::info!(
                    key_id = key.key_id(),
                    "created the audit checkpoint key {}; give every node the same file",
                    path.display()
                );
                return Ok(CheckpointSigner { key });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail("cannot create", e)),
        }
        CheckpointSigner::load(path)
    }

    /// Loads an existing key.
    pub fn load(path: &Path) -> Result<CheckpointSigner, ServerError> {
        scrim_crypto::check_private_file(path)
            .map_err(|m| ServerError::Usage(format!("audit checkpoint key: {m}")))?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            ServerError::Usage(format!(
                "audit checkpoint key: cannot read {}: {e}",
                path.display()
            ))
        })?);
        let der = Zeroizing::new(unhex(text.trim()).ok_or_else(|| bad_key(path))?);
        let key = CheckpointKey::from_pkcs8(&der).map_err(|_| bad_key(path))?;
        let public = public_key_path(path);
        if !public.exists() {
            write_public_key(path, &key.public_key())?;
        }
        Ok(CheckpointSigner { key })
    }

    pub fn public_key(&self) -> CheckpointPublicKey {
        self.key.public_key()
    }

    pub fn key_id(&self) -> String {
        self.key.key_id()
    }

    pub fn sign(&self, checkpoint: Checkpoint) -> SignedCheckpoint {
        self.key.sign(checkpoint)
    }
}

fn bad_key(path: &Path) -> ServerError {
    ServerError::Usage(format!(
        "audit checkpoint key: {} is not an Ed25519 key in hex PKCS#8",
        path.display()
    ))
}

fn write_public_key(key_file: &Path, public: &CheckpointPublicKey) -> Result<(), ServerError> {
    let path = public_key_path(key_file);
    std::fs::write(&path, format!("{}\n", hex(public.as_bytes()))).map_err(|e| {
        ServerError::Usage(format!(
            "audit checkpoint key: cannot write {}: {e}",
            path.display()
        ))
    })
}

/// Reads a public key file (64 hex digits), for verifying without the private key.
pub fn read_public_key(path: &Path) -> Result<CheckpointPublicKey, ServerError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServerError::Usage(format!("cannot read {}: {e}", path.display())))?;
    unhex(text.trim())
        .and_then(|b| CheckpointPublicKey::from_bytes(&b).ok())
        .ok_or_else(|| {
            ServerError::Usage(format!(
                "{} is not an audit checkpoint public key (64 hex digits)",
                path.display()
            ))
        })
}

/// Signs a checkpoint at the end of every chain that grew since its last checkpoint, and
/// returns how many were made. Two nodes checkpointing the same record at once store one.
pub async fn checkpoint_all(
    meta: &Meta,
    signer: &CheckpointSigner,
    now_ms: i64,
) -> Result<usize, ServerError> {
    let mut made = 0;
    for tenant in meta.audit_tenants().await? {
        let Some((seq, hash)) = meta.audit_head(&tenant).await? else {
            continue;
        };
        let last = meta.audit_checkpoints(&tenant).await?.last().map(|c| c.seq);
        if seq == 0 || last.is_some_and(|l| l >= seq) {
            continue;
        }
        let hash: [u8; 32] = hash.as_slice().try_into().map_err(|_| {
            ServerError::Meta(MetaError::Corrupt {
                what: "audit chain head",
            })
        })?;
        let signed = signer.sign(Checkpoint {
            tenant: tenant.clone(),
            seq,
            hash,
            at_ms: now_ms,
        });
        match meta.store_audit_checkpoint(&row_of(&signed)).await {
            Ok(()) => made += 1,
            Err(MetaError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(made)
}

/// The stored row of a signed checkpoint.
pub fn row_of(signed: &SignedCheckpoint) -> CheckpointRow {
    CheckpointRow {
        tenant: signed.checkpoint.tenant.clone(),
        seq: signed.checkpoint.seq,
        body: serde_json::to_string(&signed.checkpoint).unwrap_or_default(),
        signature: signed.signature.clone(),
        key_id: signed.key_id.clone(),
        at_ms: signed.checkpoint.at_ms,
    }
}

/// The signed checkpoint a stored row holds; `None` when its body is not a checkpoint or
/// disagrees with its columns (verification reports that as tampering).
pub fn signed_of(row: &CheckpointRow) -> Option<SignedCheckpoint> {
    let checkpoint: Checkpoint = serde_json::from_str(&row.body).ok()?;
    (checkpoint.tenant == row.tenant && checkpoint.seq == row.seq && checkpoint.at_ms == row.at_ms)
        .then(|| SignedCheckpoint {
            checkpoint,
            signature: row.signature.clone(),
            key_id: row.key_id.clone(),
        })
}
