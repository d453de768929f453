//! The sealed frame every object of a backup is written in.
//!
//! ```text
//! magic "SCRIMBAK" (8) | version 1 (1) | kind (1) | SHA-256 of the plaintext (32)
//! | a fresh data key wrapped under the backup key (scrim_crypto::WRAPPED_KEY_LEN)
//! | scrim_crypto::seal(that data key, aad = the header above + the object's name, plaintext)
//! ```
//!
//! Each object gets its own random key, wrapped under the backup key with the kind and the
//! object's name as context, so an object copied under another name does not open, no key
//! ever seals two objects (no nonce budget to track), and a wrong backup key is told apart
//! from a damaged object (the wrap names the key it was made with). The hash in the header
//! is authenticated with the body; it lets `scrim backup create` see that an object is
//! already at the destination, under this backup key, without reading it whole. For segments
//! the plaintext is the segment file as stored, itself encrypted under the tenant's data key:
//! the backup key alone never yields telemetry.

use scrim_crypto::{CryptoError, KeyProvider, WRAPPED_KEY_LEN};
use sha2::{Digest, Sha256};

use super::BackupKey;

const MAGIC: &[u8; 8] = b"SCRIMBAK";
const VERSION: u8 = 1;
const HASH_LEN: usize = 32;
/// Bytes before the sealed body.
pub(crate) const HEADER_LEN: usize = MAGIC.len() + 2 + HASH_LEN + WRAPPED_KEY_LEN;
const WRAP_CONTEXT: &[u8] = b"scrim/backup-object/v1\0";

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A segment file, named `objects/<store path>`.
    Segment = 1,
    /// A backup's manifest, named `manifests/<backup id>`.
    Manifest = 2,
}

/// Why a frame did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Sealed under another backup key (its public id).
    WrongKey { made_with: String },
    /// Not a backup frame, altered, truncated, or moved from another name.
    Damaged(&'static str),
}

/// SHA-256 of `bytes`, in lower-case hex.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn context(kind: Kind, name: &str) -> Vec<u8> {
    [WRAP_CONTEXT, &[kind as u8], name.as_bytes()].concat()
}

/// `plaintext` sealed under a fresh key wrapped by `key`, bound to `kind` and `name`.
pub(crate) fn seal(
    key: &BackupKey,
    kind: Kind,
    name: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let (object_key, wrapped) = key.provider.new_data_key(&context(kind, name))?;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + scrim_crypto::SEALED_OVERHEAD);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&Sha256::digest(plaintext));
    out.extend_from_slice(&wrapped);
    debug_assert_eq!(out.len(), HEADER_LEN);
    let aad = [&out[..], name.as_bytes()].concat();
    out.extend_from_slice(&scrim_crypto::seal(&object_key, &aad, plaintext)?);
    Ok(out)
}

/// The header's parts: the plaintext's hash (hex) and the wrapped key.
fn header(kind: Kind, bytes: &[u8]) -> Result<(String, &[u8]), FrameError> {
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err(FrameError::Damaged("not a Scrim backup object"));
    }
    if bytes[MAGIC.len()] != VERSION {
        return Err(FrameError::Damaged(
            "a backup format this version does not read",
        ));
    }
    if bytes[MAGIC.len() + 1] != kind as u8 {
        return Err(FrameError::Damaged("an object of another kind"));
    }
    let hash_at = MAGIC.len() + 2;
    let wrapped_at = hash_at + HASH_LEN;
    Ok((
        hex(&bytes[hash_at..wrapped_at]),
        &bytes[wrapped_at..HEADER_LEN],
    ))
}

fn unwrap(
    key: &BackupKey,
    kind: Kind,
    name: &str,
    wrapped: &[u8],
) -> Result<scrim_crypto::DataKey, FrameError> {
    key.provider
        .unwrap(wrapped, &context(kind, name))
        .map_err(|e| match e {
            CryptoError::WrongMasterKey { wrapped_under, .. } => FrameError::WrongKey {
                made_with: wrapped_under,
            },
            _ => FrameError::Damaged("its key does not open (altered, or moved from another name)"),
        })
}

/// The hash a frame's header declares, if the frame's first [`HEADER_LEN`] bytes are a
/// header of `kind` for `name` whose key opens with `key`. The body is not read: a frame
/// whose body was altered since fails when it is opened.
pub(crate) fn declared_hash(
    key: &BackupKey,
    kind: Kind,
    name: &str,
    head: &[u8],
) -> Result<String, FrameError> {
    let (hash, wrapped) = header(kind, head)?;
    unwrap(key, kind, name, wrapped)?;
    Ok(hash)
}

/// The plaintext of a frame sealed by [`seal`] with the same key, kind and name, checked
/// against the hash in its header.
pub fn open(key: &BackupKey, kind: Kind, name: &str, bytes: &[u8]) -> Result<Vec<u8>, FrameError> {
    let (hash, wrapped) = header(kind, bytes)?;
    let object_key = unwrap(key, kind, name, wrapped)?;
    let aad = [&bytes[..HEADER_LEN], name.as_bytes()].concat();
    let plain = scrim_crypto::open(&object_key, &aad, &bytes[HEADER_LEN..])
        .map_err(|_| FrameError::Damaged("it does not decrypt (altered or truncated)"))?;
    if content_hash(&plain) != hash {
        return Err(FrameError::Damaged("its content does not match its hash"));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> BackupKey {
        BackupKey::from_provider(scrim_crypto::LocalKeyProvider::new(
            scrim_crypto::DataKey::generate().unwrap(),
        ))
    }

    #[test]
    fn frames_open_only_with_their_key_kind_and_name() {
        let (k, other) = (key(), key());
        let sealed = seal(&k, Kind::Segment, "objects/a", b"segment bytes").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"segment"));
        assert_eq!(
            open(&k, Kind::Segment, "objects/a", &sealed).unwrap(),
            b"segment bytes"
        );
        assert_eq!(
            declared_hash(&k, Kind::Segment, "objects/a", &sealed[..HEADER_LEN]).unwrap(),
            content_hash(b"segment bytes")
        );
        assert_eq!(
            open(&other, Kind::Segment, "objects/a", &sealed),
            Err(FrameError::WrongKey {
                made_with: k.id().to_owned()
            })
        );
        assert!(matches!(
            open(&k, Kind::Segment, "objects/b", &sealed),
            Err(FrameError::Damaged(_))
        ));
        assert!(matches!(
            open(&k, Kind::Manifest, "objects/a", &sealed),
            Err(FrameError::Damaged(_))
        ));
        for i in [0, 9, 20, HEADER_LEN - 1, HEADER_LEN + 3, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(
                open(&k, Kind::Segment, "objects/a", &bad).is_err(),
                "byte {i}"
            );
        }
        assert!(open(&k, Kind::Segment, "objects/a", &sealed[..sealed.len() - 1]).is_err());
        assert!(open(&k, Kind::Segment, "objects/a", b"SCRIMBAK").is_err());
    }
}
