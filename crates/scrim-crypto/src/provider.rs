//! Master keys: where they come from, and wrapping data keys under them.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::aead::{NONCE_LEN, TAG_LEN};
use crate::{CryptoError, DataKey};

/// The environment variable that can hold the master key (64 hex characters).
pub const MASTER_KEY_ENV: &str = "SCRIM_MASTER_KEY";

/// Length of a wrapped data key: version, master key id, nonce, key, tag.
pub const WRAPPED_KEY_LEN: usize = 1 + ID_LEN + NONCE_LEN + 32 + TAG_LEN;

const WRAP_VERSION: u8 = 1;
const ID_LEN: usize = 8;
const WRAP_AAD: &[u8] = b"scrim/data-key/v1\0";

/// Holds a master key and wraps data keys under it. A trait so that a cloud KMS or an HSM
/// can take the local key's place without the rest of Scrim changing.
pub trait KeyProvider: Send + Sync {
    /// A short public identifier of the master key (never the key), stored beside what it
    /// wraps so that a wrong or rotated master key is reported as such.
    fn id(&self) -> &str;

    /// Encrypts `key` for storage; `context` (a tenant id) must be given again to unwrap.
    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<Vec<u8>, CryptoError>;

    /// Recovers a key that [`KeyProvider::wrap`] wrapped with the same `context`.
    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<DataKey, CryptoError>;

    /// A new random data key and its wrapped form, ready to store.
    fn new_data_key(&self, context: &[u8]) -> Result<(DataKey, Vec<u8>), CryptoError> {
        let key = DataKey::generate()?;
        let wrapped = self.wrap(&key, context)?;
        Ok((key, wrapped))
    }
}

/// Moves a wrapped data key from one master key to another (master key rotation): the data
/// key, and so every file encrypted under it, stays the same.
pub fn rewrap(
    from: &dyn KeyProvider,
    to: &dyn KeyProvider,
    wrapped: &[u8],
    context: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = from.unwrap(wrapped, context)?;
    to.wrap(&key, context)
}

/// A master key held in this process: read from a file or an environment variable.
pub struct LocalKeyProvider {
    key: DataKey,
    id_bytes: [u8; ID_LEN],
    id: String,
}

impl std::fmt::Debug for LocalKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyProvider")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl LocalKeyProvider {
    /// Wraps an existing master key.
    pub fn new(key: DataKey) -> LocalKeyProvider {
        let digest = Sha256::new()
            .chain_update(b"scrim/master-key-id/v1\0")
            .chain_update(key.as_bytes())
            .finalize();
        let mut id_bytes = [0u8; ID_LEN];
        id_bytes.copy_from_slice(&digest[..ID_LEN]);
        LocalKeyProvider {
            key,
            id_bytes,
            id: hex(&id_bytes),
        }
    }

    /// Parses a master key written as 64 hexadecimal characters (surrounding whitespace
    /// ignored). The error never repeats the input.
    pub fn from_hex(text: &str) -> Result<LocalKeyProvider, CryptoError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(CryptoError::MasterKey(format!(
                "expected 64 hexadecimal characters (256 bits), found {} characters",
                text.len()
            )));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        for (i, pair) in text.as_bytes().chunks_exact(2).enumerate() {
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(CryptoError::MasterKey(
                    "not hexadecimal (expected 0-9, a-f)".into(),
                ));
            };
            key[i] = hi << 4 | lo;
        }
        Ok(LocalKeyProvider::new(DataKey::from_bytes(*key)))
    }

    /// The master key from [`MASTER_KEY_ENV`], if that variable is set.
    pub fn from_env() -> Option<Result<LocalKeyProvider, CryptoError>> {
        let value = Zeroizing::new(std::env::var(MASTER_KEY_ENV).ok()?);
        Some(
            LocalKeyProvider::from_hex(&value)
                .map_err(|e| CryptoError::MasterKey(format!("{MASTER_KEY_ENV}: {e}"))),
        )
    }

    /// Reads the master key file at `path`, or creates it with a new random key (mode 0600,
    /// written and synced before use) when it does not exist. A file that group or others
    /// can read is refused rather than trusted.
    pub fn load_or_create(path: &Path) -> Result<LocalKeyProvider, CryptoError> {
        let fail = |what: &str, e: io::Error| {
            CryptoError::MasterKey(format!("{what} {}: {e}", path.display()))
        };
        match create_new_private(path) {
            Ok(mut file) => {
                let key = DataKey::generate()?;
                let text = Zeroizing::new(format!("{}\n", hex(key.as_bytes())));
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| fail("cannot write", e))?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    // The new name must survive a crash too, or the next start makes
                    // another key and the data written meanwhile is lost.
                    fs::File::open(dir)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| fail("cannot sync the directory of", e))?;
                }
                return Ok(LocalKeyProvider::new(key));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail("cannot create", e)),
        }
        check_private(path)?;
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| fail("cannot read", e))?);
        LocalKeyProvider::from_hex(&text)
            .map_err(|e| CryptoError::MasterKey(format!("{}: {e}", path.display())))
    }
}

impl KeyProvider for LocalKeyProvider {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::random(&mut nonce)?;
        let aad = self.aad(context);
        let ct = crate::aead::seal_with_nonce(&self.key, &nonce, &aad, key.as_bytes())?;
        let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&self.id_bytes);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<DataKey, CryptoError> {
        if wrapped.len() != WRAPPED_KEY_LEN {
            return Err(CryptoError::Format(
                "a wrapped data key has the wrong length",
            ));
        }
        if wrapped[0] != WRAP_VERSION {
            return Err(CryptoError::Format("unknown wrapped key version"));
        }
        let id = &wrapped[1..1 + ID_LEN];
        if id != self.id_bytes {
            return Err(CryptoError::WrongMasterKey {
                wrapped_under: hex(id),
                configured: self.id.clone(),
            });
        }
        let nonce = &wrapped[1 + ID_LEN..1 + ID_LEN + NONCE_LEN];
        let ct = &wrapped[1 + ID_LEN + NONCE_LEN..];
        let plain = Zeroizing::new(crate::aead::decrypt(
            &self.key,
            nonce,
            &self.aad(context),
            ct,
        )?);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&plain);
        Ok(DataKey::from_bytes(bytes))
    }
}

impl LocalKeyProvider {
    fn aad(&self, context: &[u8]) -> Vec<u8> {
        [WRAP_AAD, &self.id_bytes, context].concat()
    }
}

/// Creates `path` for writing, readable and writable by its owner only (0600); fails if it
/// exists. For key files: the master key here, the audit checkpoint key in scrim-server.
pub fn create_new_private(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn check_private(path: &Path) -> Result<(), CryptoError> {
    check_private_file(path).map_err(CryptoError::MasterKey)
}

/// Refuses a key file that group or others may read or write, with a message that says how
/// to fix it.
#[cfg(unix)]
pub fn check_private_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable or writable by group or others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

/// Refuses a key file that group or others may read or write (nothing to check here).
#[cfg(not(unix))]
pub fn check_private_file(_path: &Path) -> Result<(), String> {
    Ok(())
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
