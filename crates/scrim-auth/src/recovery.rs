//! One-time recovery codes: the way back in when the authenticator is lost.
//!
//! A code is 10 characters of lowercase base32 in two groups, `abcde-fghij`: 50 random bits
//! from the operating system. Only [`RecoveryCodeHash`]es are stored; the plaintext codes
//! are shown once, when they are made. A code that verifies is removed from the stored set.
//!
//! Why SHA-256 and not Argon2id: the codes are random, not chosen, and a code only stands
//! in for the second factor, so using one also needs the account's password (which is
//! Argon2id). 50 bits is within reach of a patient offline attacker with SHA-256 (about a
//! GPU-day per code), which is why each hash has its own random salt: the work is per code,
//! never once for a whole stolen table.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::apikey::{ALPHABET, random_base32};

/// Codes in a new set.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters in a code, dash aside (10 × 5 = 50 random bits).
pub const RECOVERY_CODE_LEN: usize = 10;

const SALT_LEN: usize = 16;
const HASH_DOMAIN: &[u8] = b"scrim recovery code v1\0";

/// One recovery code in clear, to show once. `Debug` does not show it.
#[derive(Clone)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    /// The code as shown to the user, `abcde-fghij`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([hidden])")
    }
}

/// The stored form of one code: a random salt and SHA-256 over a domain tag, the salt and
/// the normalised code.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodeHash {
    salt: [u8; SALT_LEN],
    digest: [u8; 32],
}

impl RecoveryCodeHash {
    /// Bytes in [`to_bytes`](Self::to_bytes).
    pub const LEN: usize = SALT_LEN + 32;

    fn compute(salt: [u8; SALT_LEN], normalised: &str) -> Self {
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update(salt);
        h.update(normalised.as_bytes());
        Self {
            salt,
            digest: h.finalize().into(),
        }
    }

    /// Salt then digest, to store.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..SALT_LEN].copy_from_slice(&self.salt);
        out[SALT_LEN..].copy_from_slice(&self.digest);
        out
    }

    /// Reads a stored hash; `None` unless it is [`Self::LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::LEN] = bytes.try_into().ok()?;
        let (salt, digest) = bytes.split_at(SALT_LEN);
        Some(Self {
            salt: salt.try_into().ok()?,
            digest: digest.try_into().ok()?,
        })
    }

    /// Whether `normalised` is the code this hash was made from, in constant time.
    fn matches(&self, normalised: &str) -> bool {
        bool::from(
            Self::compute(self.salt, normalised)
                .digest
                .ct_eq(&self.digest),
        )
    }
}

impl fmt::Debug for RecoveryCodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCodeHash(..)")
    }
}

/// `count` new codes and their hashes, in the same order: show the codes once, store the
/// hashes.
pub fn generate_recovery_codes(
    count: usize,
) -> Result<(Vec<RecoveryCode>, Vec<RecoveryCodeHash>), getrandom::Error> {
    let mut codes = Vec::with_capacity(count);
    let mut hashes = Vec::with_capacity(count);
    for _ in 0..count {
        let raw = random_base32(RECOVERY_CODE_LEN)?;
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt)?;
        hashes.push(RecoveryCodeHash::compute(salt, &raw));
        let (a, b) = raw.split_at(RECOVERY_CODE_LEN / 2);
        codes.push(RecoveryCode(format!("{a}-{b}")));
    }
    Ok((codes, hashes))
}

/// The code as typed, lower-cased without dashes and whitespace; `None` unless that leaves
/// exactly [`RECOVERY_CODE_LEN`] base32 characters.
fn normalise(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == RECOVERY_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// The position in `stored` of the hash of `typed`, if it is one of the codes. Every stored
/// hash is compared (constant time each), whichever matches. Case, dashes and spaces do not
/// matter. For storage that removes the matched hash itself (a database row).
pub fn find_match(typed: &str, stored: &[RecoveryCodeHash]) -> Option<usize> {
    let code = normalise(typed)?;
    let mut found = None;
    for (i, hash) in stored.iter().enumerate() {
        if hash.matches(&code) {
            found = Some(i);
        }
    }
    found
}

/// Whether `typed` is one of the codes behind `stored`; if so its hash is removed from
/// `stored`, so the code works once. See [`find_match`].
pub fn verify_and_consume(typed: &str, stored: &mut Vec<RecoveryCodeHash>) -> bool {
    match find_match(typed, stored) {
        Some(i) => {
            stored.remove(i);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_documented_shape_and_differ() {
        let (codes, hashes) = generate_recovery_codes(RECOVERY_CODE_COUNT).unwrap();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        assert_eq!(hashes.len(), RECOVERY_CODE_COUNT);
        for code in &codes {
            let text = code.expose();
            assert_eq!(text.len(), RECOVERY_CODE_LEN + 1, "{text}");
            assert_eq!(&text[5..6], "-", "{text}");
            assert!(
                text.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)),
                "{text}"
            );
        }
        let mut texts: Vec<&str> = codes.iter().map(RecoveryCode::expose).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), RECOVERY_CODE_COUNT);
    }

    #[test]
    fn each_code_works_once() {
        let (codes, mut stored) = generate_recovery_codes(3).unwrap();
        let second = codes[1].expose().to_owned();
        assert!(verify_and_consume(&second, &mut stored));
        assert_eq!(stored.len(), 2);
        assert!(!verify_and_consume(&second, &mut stored), "second use");
        assert_eq!(stored.len(), 2);
        assert!(verify_and_consume(codes[0].expose(), &mut stored));
        assert!(verify_and_consume(codes[2].expose(), &mut stored));
        assert!(stored.is_empty());
        assert!(!verify_and_consume(codes[0].expose(), &mut stored));
    }

    #[test]
    fn typing_variations_are_accepted() {
        let (codes, stored) = generate_recovery_codes(1).unwrap();
        let text = codes[0].expose();
        let bare = text.replace('-', "");
        for typed in [
            text.to_uppercase(),
            bare.clone(),
            format!(" {} {} \n", &bare[..5], &bare[5..]),
            format!("{}-{}", &bare[..3], &bare[3..]),
        ] {
            let mut s = stored.clone();
            assert!(verify_and_consume(&typed, &mut s), "{typed:?}");
            assert!(s.is_empty());
        }
    }

    #[test]
    fn wrong_and_malformed_codes_consume_nothing() {
        let (codes, mut stored) = generate_recovery_codes(2).unwrap();
        let text = codes[0].expose();
        let last = text.chars().last().unwrap();
        let wrong = format!(
            "{}{}",
            &text[..text.len() - 1],
            if last == 'a' { 'b' } else { 'a' }
        );
        for typed in [
            wrong.as_str(),
            "",
            &text[..text.len() - 1],
            &format!("{text}a"),
            "abcde-fghi1",
            "ééééé-ééééé",
        ] {
            assert!(!verify_and_consume(typed, &mut stored), "{typed:?}");
            assert_eq!(stored.len(), 2);
        }
    }

    #[test]
    fn hashes_round_trip_and_are_salted() {
        let (codes, stored) = generate_recovery_codes(2).unwrap();
        let bytes = stored[0].to_bytes();
        let mut back = vec![RecoveryCodeHash::from_bytes(&bytes).unwrap()];
        assert!(RecoveryCodeHash::from_bytes(&bytes[1..]).is_none());
        // The same code under another salt gives another digest.
        let code = normalise(codes[0].expose()).unwrap();
        let other = RecoveryCodeHash::compute([9u8; SALT_LEN], &code);
        assert_ne!(other.digest, stored[0].digest);
        assert!(verify_and_consume(codes[0].expose(), &mut back));
    }

    #[test]
    fn debug_never_shows_a_code_or_hash() {
        let (codes, stored) = generate_recovery_codes(1).unwrap();
        let shown = format!("{codes:?} {stored:?}");
        assert!(!shown.contains(codes[0].expose()), "{shown}");
        assert_eq!(shown, "[RecoveryCode([hidden])] [RecoveryCodeHash(..)]");
    }
}
