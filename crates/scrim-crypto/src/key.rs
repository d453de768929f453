//! The 256-bit symmetric key type.

use std::fmt;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroize;

use crate::CryptoError;

/// A 256-bit AES key: a tenant's data key, a master key, or one derived from either.
///
/// Zeroed when dropped; `Debug` never shows it; no `Clone`, so copies are deliberate
/// ([`DataKey::from_bytes`]). No `PartialEq` either: comparing keys is not something
/// Scrim needs, and a naive comparison would leak timing.
pub struct DataKey([u8; 32]);

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Result<DataKey, CryptoError> {
        let mut k = [0u8; 32];
        crate::random(&mut k)?;
        Ok(DataKey(k))
    }

    /// Takes ownership of key bytes (the caller should zero its own copy).
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(bytes)
    }

    /// The raw key, for handing to another AES implementation (Parquet's modular encryption).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key derived with HKDF-SHA-256: the same `salt` and `purpose` give the same key, and
    /// nothing about this key can be learnt from the derived one. Give every high-volume
    /// stream (a WAL file, say) its own random salt, so counters restart safely.
    pub fn derive(&self, salt: &[u8], purpose: &[u8]) -> DataKey {
        let hk = Hkdf::<Sha256>::new(Some(salt), &self.0);
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA-256's 8160-byte limit: expand cannot fail.
        hk.expand(purpose, &mut out)
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        DataKey(out)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ_and_debug_hides_them() {
        let a = DataKey::generate().unwrap();
        let b = DataKey::generate().unwrap();
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(format!("{a:?}"), "DataKey(<redacted>)");
    }

    #[test]
    fn derivation_depends_on_key_salt_and_purpose() {
        let k = DataKey::from_bytes([7; 32]);
        let d = k.derive(b"salt", b"wal");
        let d = d.as_bytes();
        assert_eq!(d, k.derive(b"salt", b"wal").as_bytes());
        assert_ne!(d, k.derive(b"salt2", b"wal").as_bytes());
        assert_ne!(d, k.derive(b"salt", b"segment").as_bytes());
        assert_ne!(
            d,
            DataKey::from_bytes([8; 32])
                .derive(b"salt", b"wal")
                .as_bytes()
        );
        assert_ne!(d, k.as_bytes());
    }
}
