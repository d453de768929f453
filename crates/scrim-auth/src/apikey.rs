//! API key format, generation, hashing and verification. See the crate documentation.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every API key starts with, so that secret scanners recognise it.
pub const API_KEY_PREFIX: &str = "scrim_";
/// Length of the public key id in characters (16 × 5 = 80 random bits).
pub const KEY_ID_LEN: usize = 16;
/// Length of the secret in characters (32 × 5 = 160 random bits, above the 128 required).
pub const SECRET_LEN: usize = 32;

/// Lowercase RFC 4648 base32: no `_`, no look-alike `0`/`1`, one case.
pub(crate) const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Domain separation for the stored hash: a hash made for something else can never verify
/// an API key, and a future format can change the tag.
const HASH_DOMAIN: &[u8] = b"scrim api key v1\0";

/// `n` random characters of [`ALPHABET`], each from 5 random bits.
pub(crate) fn random_base32(n: usize) -> Result<String, getrandom::Error> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)?;
    // 256 is a multiple of 32, so `b % 32` is uniform: exactly 5 random bits per character.
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect())
}

pub(crate) fn is_base32(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))
}

/// The public id of an API key: safe to log, show and store in clear.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Checks the format (exactly [`KEY_ID_LEN`] characters of `a-z2-7`).
    pub fn parse(s: &str) -> Result<Self, ParseKeyError> {
        if is_base32(s, KEY_ID_LEN) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseKeyError::BadId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// The secret part of an API key. Neither `Debug` nor `Display` shows it; the only way to
/// the characters is [`ApiKey::expose`], which builds the whole key to show it once.
#[derive(Clone)]
pub struct ApiKeySecret(String);

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret([hidden])")
    }
}

impl fmt::Display for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

/// A whole API key: its public id and its secret, as generated or as presented by a client.
///
/// `Debug` and `Display` show the id only.
#[derive(Clone)]
pub struct ApiKey {
    id: KeyId,
    secret: ApiKeySecret,
}

impl ApiKey {
    /// A new key with a random id and a random secret from the operating system.
    pub fn generate() -> Result<Self, getrandom::Error> {
        Ok(Self {
            id: KeyId(random_base32(KEY_ID_LEN)?),
            secret: ApiKeySecret(random_base32(SECRET_LEN)?),
        })
    }

    /// Parses a presented key. Surrounding whitespace (a pasted newline) is ignored;
    /// anything else that is not exactly `scrim_<id>_<secret>` is refused. The error never
    /// contains the input.
    pub fn parse(presented: &str) -> Result<Self, ParseKeyError> {
        let s = presented.trim();
        let rest = s
            .strip_prefix(API_KEY_PREFIX)
            .ok_or(ParseKeyError::MissingPrefix)?;
        let (id, secret) = rest.split_once('_').ok_or(ParseKeyError::Malformed)?;
        let id = KeyId::parse(id)?;
        if !is_base32(secret, SECRET_LEN) {
            return Err(ParseKeyError::BadSecret);
        }
        Ok(Self {
            id,
            secret: ApiKeySecret(secret.to_owned()),
        })
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The whole key in clear, `scrim_<id>_<secret>`: to show the user once, at creation.
    pub fn expose(&self) -> String {
        format!("{API_KEY_PREFIX}{}_{}", self.id.0, self.secret.0)
    }

    /// The hash to store. SHA-256 (not Argon2id) is the right tool here: the secret has 160
    /// bits from the operating system's CSPRNG, so there is no dictionary to try and a slow
    /// hash would add nothing but CPU time to every request. Argon2id is for passwords,
    /// which people choose and which are guessable. The id is hashed in, so a hash can only
    /// ever verify the key it was made for.
    pub fn hash(&self) -> KeyHash {
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update(self.id.0.as_bytes());
        h.update([0u8]);
        h.update(self.secret.0.as_bytes());
        KeyHash(h.finalize().into())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("secret", &self.secret)
            .finish()
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{API_KEY_PREFIX}{}_[hidden]", self.id.0)
    }
}

/// The stored form of an API key: SHA-256 over a domain tag, the id and the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Reads a stored hash; `None` when it is not 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `presented` is the key this hash was made from. The comparison takes the same
    /// time wherever the first differing byte is.
    pub fn verify(&self, presented: &ApiKey) -> bool {
        bool::from(presented.hash().0.ct_eq(&self.0))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret in the strict sense, but nothing gains from printing it.
        f.write_str("KeyHash(..)")
    }
}

/// Why a presented API key was refused before any lookup. Never contains the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseKeyError {
    /// Does not start with `scrim_`.
    MissingPrefix,
    /// No `_` between id and secret.
    Malformed,
    /// The id is not [`KEY_ID_LEN`] characters of `a-z2-7`.
    BadId,
    /// The secret is not [`SECRET_LEN`] characters of `a-z2-7`.
    BadSecret,
}

impl fmt::Display for ParseKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingPrefix => "not a Scrim API key: it must start with `scrim_`",
            Self::Malformed => "malformed API key: expected `scrim_<id>_<secret>`",
            Self::BadId => "malformed API key: bad key id",
            Self::BadSecret => "malformed API key: bad secret",
        })
    }
}

impl std::error::Error for ParseKeyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_has_the_documented_shape_and_round_trips() {
        let key = ApiKey::generate().unwrap();
        let text = key.expose();
        assert!(text.starts_with("scrim_"));
        assert_eq!(text.len(), 6 + KEY_ID_LEN + 1 + SECRET_LEN);
        let parts: Vec<&str> = text.split('_').collect();
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert_eq!(parts[1], key.id().as_str());
        let parsed = ApiKey::parse(&text).unwrap();
        assert_eq!(parsed.id(), key.id());
        assert_eq!(parsed.expose(), text);
        assert_eq!(ApiKey::parse(&format!(" {text}\n")).unwrap().expose(), text);
    }

    #[test]
    fn generated_keys_differ() {
        let a = ApiKey::generate().unwrap();
        let b = ApiKey::generate().unwrap();
        assert_ne!(a.id(), b.id());
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn parse_refuses_malformed_keys() {
        let good = ApiKey::generate().unwrap().expose();
        let (_, rest) = good.split_at(6);
        let id = &rest[..KEY_ID_LEN];
        let secret = &rest[KEY_ID_LEN + 1..];
        let cases = [
            (format!("sk_{id}_{secret}"), ParseKeyError::MissingPrefix),
            (String::new(), ParseKeyError::MissingPrefix),
            (format!("scrim_{id}{secret}"), ParseKeyError::Malformed),
            (format!("scrim_{}_{secret}", &id[1..]), ParseKeyError::BadId),
            (
                format!("scrim_{}_{secret}", id.to_uppercase()),
                ParseKeyError::BadId,
            ),
            (
                format!("scrim_{id}_{}", &secret[1..]),
                ParseKeyError::BadSecret,
            ),
            (format!("scrim_{id}_{secret}x"), ParseKeyError::BadSecret),
            (format!("scrim_{id}_{secret}_"), ParseKeyError::BadSecret),
            (
                format!("scrim_{id}_{}1", &secret[1..]),
                ParseKeyError::BadSecret,
            ),
            (
                format!("scrim_{id}_{}é", &secret[2..]),
                ParseKeyError::BadSecret,
            ),
        ];
        for (input, want) in cases {
            let err = ApiKey::parse(&input).unwrap_err();
            assert_eq!(err, want, "{input}");
            assert!(!err.to_string().contains(secret));
        }
    }

    #[test]
    fn verify_accepts_the_right_key_only() {
        let key = ApiKey::generate().unwrap();
        let stored = KeyHash::from_bytes(key.hash().as_bytes()).unwrap();
        assert!(stored.verify(&ApiKey::parse(&key.expose()).unwrap()));

        // Same id, one character of the secret changed.
        let text = key.expose();
        let last = text.chars().last().unwrap();
        let swapped = if last == 'a' { 'b' } else { 'a' };
        let wrong = format!("{}{swapped}", &text[..text.len() - 1]);
        assert!(!stored.verify(&ApiKey::parse(&wrong).unwrap()));

        // Same secret under another id: the id is part of the hash.
        let other_id = ApiKey::generate().unwrap();
        let tampered = format!("scrim_{}_{}", other_id.id(), &text[6 + KEY_ID_LEN + 1..]);
        assert!(!stored.verify(&ApiKey::parse(&tampered).unwrap()));

        assert!(KeyHash::from_bytes(&[0u8; 31]).is_none());
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let key = ApiKey::generate().unwrap();
        let text = key.expose();
        let secret = &text[6 + KEY_ID_LEN + 1..];
        for shown in [
            format!("{key:?}"),
            format!("{key}"),
            format!("{:?}", key.secret),
            format!("{}", key.secret),
            format!("{:?}", key.hash()),
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(format!("{key:?}").contains(key.id().as_str()));
    }
}
