//! Master key rotation: every wrapped key in the metadata database (every version of each
//! tenant's data key, each platform key) is unwrapped with the old master key and wrapped
//! with a new one; no data is rewritten, since the data keys themselves stay the same.
//!
//! Crash safety, in three steps:
//! 1. the new key is written to `master.key.next` (0600, synced);
//! 2. every wrapped key is replaced in one database transaction;
//! 3. `master.key.next` is renamed over `master.key`.
//!
//! A crash between steps leaves `master.key.next` behind; [`Platform::open`] looks at which
//! of the two keys opens the database's keys and finishes (rename) or abandons (remove)
//! the rotation. Servers hold the master key in memory: rotate with them stopped, then
//! start them again.
//!
//! [`Platform::open`]: crate::Platform::open

use std::path::{Path, PathBuf};
use std::sync::Arc;

use scrim_crypto::{KeyProvider, LocalKeyProvider};
use scrim_meta::{Meta, MetaError, WrappedKeyOwner};

use crate::accounts::Act;
use crate::audit::actions;
use crate::platform::MASTER_KEY_FILE;
use crate::{Platform, PlatformConfig, ServerError};

/// Where a rotation keeps the new master key until the database holds keys wrapped by it.
pub const NEXT_MASTER_KEY_FILE: &str = "master.key.next";

/// The wrapping context of a key: what it was wrapped with, so a wrapped key copied to
/// another owner does not open. A tenant's data key: its id for version 1 (as tenants were
/// created before keys had versions), its id and the version after it.
pub fn context(owner: WrappedKeyOwner<'_>) -> Vec<u8> {
    match owner {
        WrappedKeyOwner::Tenant(t, 1) => t.as_str().as_bytes().to_vec(),
        WrappedKeyOwner::Tenant(t, version) => {
            format!("{t} data key version {version}").into_bytes()
        }
        WrappedKeyOwner::Platform(name) => {
            let mut c = b"scrim platform key: ".to_vec();
            c.extend_from_slice(name.as_bytes());
            c
        }
    }
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Public ids of the old and new master keys.
    pub from: String,
    pub to: String,
    /// Wrapped keys moved to the new master key.
    pub keys: usize,
}

/// Rotates the master key of the data directory in `config` (see the module comment).
/// Refused when the master key comes from `SCRIM_MASTER_KEY` (rotating a key held outside
/// the data directory is not built yet).
pub async fn rotate_master_key(config: &PlatformConfig) -> Result<Rotation, ServerError> {
    if std::env::var_os(scrim_crypto::MASTER_KEY_ENV).is_some() {
        return Err(ServerError::Usage(format!(
            "the master key comes from {}; rotation works on the key file in the data \
             directory (unset the variable to use it)",
            scrim_crypto::MASTER_KEY_ENV
        )));
    }
    let platform = Platform::open(config).await?;
    let old = Arc::clone(platform.keys());
    let next_path = platform.data_dir().join(NEXT_MASTER_KEY_FILE);
    if next_path.exists() {
        return Err(ServerError::Usage(format!(
            "{} exists: another rotation is running",
            next_path.display()
        )));
    }
    let new = LocalKeyProvider::load_or_create(&next_path)?;
    let rotation = Rotation {
        from: old.id().to_owned(),
        to: new.id().to_owned(),
        keys: 0,
    };
    let rewrapped = Act::operator(scrim_audit::PLATFORM_TENANT)
        .entry(platform.audit(), actions::MASTER_KEY_ROTATE, "master_key")
        .detail("from_key_id", rotation.from.as_str())
        .detail("to_key_id", rotation.to.as_str())
        .around(platform.meta().rewrap_keys(|owner, wrapped| {
            scrim_crypto::rewrap(old.as_ref(), &new, wrapped, &context(owner)).map_err(|_| {
                MetaError::Invalid {
                    field: "master key rotation",
                    reason: "a wrapped key does not open with the current master key",
                }
            })
        }))
        .await;
    // On failure nothing was stored under the new key: forget it.
    let keys = match rewrapped {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            let _ = std::fs::remove_file(&next_path);
            return Err(e.into());
        }
        Err(e) => {
            let _ = std::fs::remove_file(&next_path);
            return Err(e.into());
        }
    };
    install(&next_path, &platform.data_dir().join(MASTER_KEY_FILE))?;
    Ok(Rotation { keys, ..rotation })
}

/// Step 3: the new key replaces the old one, durably.
fn install(next: &Path, master: &Path) -> Result<(), ServerError> {
    std::fs::rename(next, master)?;
    if let Some(dir) = master.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// At open: a `master.key.next` left by an interrupted rotation is installed when the
/// database's keys are wrapped by it, removed otherwise; without one, the master key must
/// open the database's keys. Returns the master key to use.
pub(crate) async fn finish_interrupted_rotation(
    data_dir: &Path,
    current: Arc<dyn KeyProvider>,
    meta: &Meta,
) -> Result<Arc<dyn KeyProvider>, ServerError> {
    let next_path: PathBuf = data_dir.join(NEXT_MASTER_KEY_FILE);
    if !next_path.exists() {
        // A master key that opens nothing here (another data directory's, or the old key of
        // a rotation done while this server ran) is refused before anything is written
        // under it.
        if let Some((owner, wrapped)) = meta.wrapped_key_sample().await?
            && current.unwrap(&wrapped, &context(owner.as_ref())).is_err()
        {
            return Err(ServerError::Usage(
                "the master key does not open this database's keys: wrong master.key or \
                 SCRIM_MASTER_KEY for this data directory"
                    .into(),
            ));
        }
        return Ok(current);
    }
    let next = LocalKeyProvider::load_or_create(&next_path)?;
    let wrapped_by_next = match meta.wrapped_key_sample().await? {
        Some((owner, wrapped)) => next.unwrap(&wrapped, &context(owner.as_ref())).is_ok(),
        None => false,
    };
    if wrapped_by_next {
        tracing::warn!("finishing an interrupted master key rotation: installing the new key");
        install(&next_path, &data_dir.join(MASTER_KEY_FILE))?;
        Ok(Arc::new(next))
    } else {
        tracing::warn!(
            "abandoning an interrupted master key rotation: the database still uses the current key"
        );
        std::fs::remove_file(&next_path)?;
        Ok(current)
    }
}
