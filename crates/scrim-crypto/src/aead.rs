//! AES-256-GCM framing.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::{CryptoError, DataKey};

/// Bytes in an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes in an AES-GCM authentication tag.
pub const TAG_LEN: usize = 16;
/// Bytes [`seal`] adds to a plaintext: version, nonce and tag.
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// Frame version written by [`seal`]; a future format gets a new number.
const VERSION: u8 = 1;

fn cipher(key: &DataKey) -> Aes256Gcm {
    Aes256Gcm::new(key.as_bytes().into())
}

/// Encrypts `plaintext` under `key` with a random nonce; `aad` is authenticated but not
/// stored, so the reader must supply the same (a tenant id, a record's purpose) and a frame
/// moved to another context fails to open. Frame: version (1 byte), nonce (12), ciphertext
/// and tag (16).
pub fn seal(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::random(&mut nonce)?;
    let ct = seal_with_nonce(key, &nonce, aad, plaintext)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypts a frame made by [`seal`] with the same key and `aad`.
pub fn open(key: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::Format("empty"))?;
    if version != VERSION {
        return Err(CryptoError::Format("unknown version"));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Format("too short"));
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    decrypt(key, nonce, aad, ct)
}

/// Encrypts with the nonce `counter` (big-endian in the nonce's last 8 bytes) and returns
/// ciphertext and tag only. The caller must never use one counter twice under one key:
/// derive a key per stream ([`DataKey::derive`]) and count its records.
pub fn seal_at(
    key: &DataKey,
    counter: u64,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    seal_with_nonce(key, &counter_nonce(counter), aad, plaintext)
}

/// Decrypts what [`seal_at`] made with the same key, counter and `aad`.
pub fn open_at(
    key: &DataKey,
    counter: u64,
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if ciphertext.len() < TAG_LEN {
        return Err(CryptoError::Format("too short"));
    }
    decrypt(key, &counter_nonce(counter), aad, ciphertext)
}

fn counter_nonce(counter: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

pub(crate) fn seal_with_nonce(
    key: &DataKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    cipher(key)
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // Only fails for plaintexts beyond GCM's 64 GiB limit, which no caller sends.
        .map_err(|_| CryptoError::Format("plaintext too long for AES-GCM"))
}

pub(crate) fn decrypt(
    key: &DataKey,
    nonce: &[u8],
    aad: &[u8],
    ct: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    cipher(key)
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> DataKey {
        DataKey::from_bytes([b; 32])
    }

    #[test]
    fn seal_round_trips_and_hides_the_plaintext() {
        let pt = b"card 4111 1111 1111 1111";
        let a = seal(&key(1), b"tenant-a", pt).unwrap();
        let b = seal(&key(1), b"tenant-a", pt).unwrap();
        assert_eq!(a.len(), pt.len() + SEALED_OVERHEAD);
        assert_ne!(a, b, "random nonces make equal plaintexts differ");
        assert!(!a.windows(4).any(|w| w == b"4111"));
        assert_eq!(open(&key(1), b"tenant-a", &a).unwrap(), pt);
    }

    #[test]
    fn wrong_key_aad_or_altered_bytes_fail_cleanly() {
        let sealed = seal(&key(1), b"tenant-a", b"secret").unwrap();
        assert!(matches!(
            open(&key(2), b"tenant-a", &sealed),
            Err(CryptoError::Decrypt)
        ));
        assert!(matches!(
            open(&key(1), b"tenant-b", &sealed),
            Err(CryptoError::Decrypt)
        ));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open(&key(1), b"tenant-a", &bad).is_err(), "byte {i}");
        }
        for len in 0..SEALED_OVERHEAD {
            assert!(matches!(
                open(&key(1), b"tenant-a", &sealed[..len]),
                Err(CryptoError::Format(_))
            ));
        }
        let e = open(&key(2), b"tenant-a", &sealed).unwrap_err().to_string();
        assert!(!e.contains("secret"));
    }

    #[test]
    fn counter_nonces_round_trip_and_bind_the_counter() {
        let k = key(3);
        let c0 = seal_at(&k, 0, b"wal", b"record").unwrap();
        let c1 = seal_at(&k, 1, b"wal", b"record").unwrap();
        assert_ne!(c0, c1);
        assert_eq!(c0.len(), 6 + TAG_LEN);
        assert_eq!(open_at(&k, 1, b"wal", &c1).unwrap(), b"record");
        assert!(matches!(
            open_at(&k, 0, b"wal", &c1),
            Err(CryptoError::Decrypt)
        ));
        assert!(open_at(&k, 0, b"wal", &c0[..TAG_LEN - 1]).is_err());
    }
}
