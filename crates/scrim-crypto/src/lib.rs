//! Envelope encryption for Scrim.
//!
//! A **master key** (from a [`KeyProvider`]: a local file or an environment variable today, a
//! KMS later) wraps a random 256-bit **data key** per tenant. Telemetry is encrypted under the
//! tenant's data key (the WAL here, Parquet segments through the `parquet` crate's modular
//! encryption), so:
//!
//! - the master key never touches telemetry, and rotating it means rewrapping a few dozen
//!   bytes per tenant ([`rewrap`]), not re-encrypting data;
//! - deleting a tenant's wrapped data key makes all its data unreadable at once
//!   (crypto-shredding), wherever copies of the files are.
//!
//! Primitives come from RustCrypto (AES-256-GCM, HKDF-SHA-256); this crate only frames them.
//! Two ways to pick nonces, because AES-GCM is only safe while a (key, nonce) pair is never
//! reused:
//!
//! - [`seal`] / [`open`]: a random 96-bit nonce stored in the frame. Fine up to about 2³²
//!   messages per key (NIST SP 800-38D), so use it for low-volume data (wrapped keys,
//!   settings, TOTP secrets).
//! - [`seal_at`] / [`open_at`]: the caller supplies a counter that it never repeats under one
//!   key. For high-volume streams such as a WAL, derive a fresh key per file with
//!   [`DataKey::derive`] (random salt in the file header) and number the records.

mod aead;
mod key;
mod provider;

pub use aead::{NONCE_LEN, SEALED_OVERHEAD, TAG_LEN, open, open_at, seal, seal_at};
pub use key::DataKey;
pub use provider::{
    KeyProvider, LocalKeyProvider, MASTER_KEY_ENV, WRAPPED_KEY_LEN, check_private_file,
    create_new_private, rewrap,
};

use std::fmt;

/// What went wrong. Messages never contain key material or plaintext.
#[derive(Debug)]
pub enum CryptoError {
    /// Authentication failed: wrong key, wrong associated data, or the bytes were altered.
    Decrypt,
    /// The bytes are not in a format this version understands (too short, unknown version).
    Format(&'static str),
    /// A data key was wrapped under another master key than the one configured.
    WrongMasterKey {
        /// Identifier of the master key the data key was wrapped under.
        wrapped_under: String,
        /// Identifier of the master key this provider holds.
        configured: String,
    },
    /// The master key could not be loaded or created.
    MasterKey(String),
    /// The operating system's random number generator failed.
    Random,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::Decrypt => {
                f.write_str("decryption failed: wrong key, or the data was altered")
            }
            CryptoError::Format(what) => write!(f, "not an encrypted Scrim frame: {what}"),
            CryptoError::WrongMasterKey {
                wrapped_under,
                configured,
            } => write!(
                f,
                "data key is wrapped under master key {wrapped_under}, but the configured master key is {configured}"
            ),
            CryptoError::MasterKey(m) => write!(f, "master key: {m}"),
            CryptoError::Random => f.write_str("the system random number generator failed"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// Fills `buf` from the operating system's generator.
pub(crate) fn random(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Random)
}
