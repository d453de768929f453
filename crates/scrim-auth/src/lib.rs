//! Scrim's authentication primitives. For now: API keys and their scopes.
//!
//! Users, roles, passwords (Argon2id), sessions, TOTP and OIDC come later.
//!
//! # API keys
//!
//! An API key reads `scrim_<id>_<secret>`:
//!
//! - `scrim_` lets secret scanners (GitHub push protection, gitleaks, Scrim's own detectors)
//!   recognise a leaked key;
//! - `<id>` is the public key id, [`KEY_ID_LEN`] characters of lowercase RFC 4648 base32
//!   (`a-z2-7`, 80 random bits); it names the key in the database, in audit records and in
//!   the UI, and is not secret;
//! - `<secret>` is [`SECRET_LEN`] characters of the same alphabet: 160 random bits from the
//!   operating system (`getrandom`).
//!
//! Neither part contains `_`, so the key splits without ambiguity and a double click in a
//! terminal selects all of it. Only [`KeyHash`] is stored; the plaintext key is shown once,
//! when it is created.

mod apikey;
mod scope;

pub use apikey::{
    API_KEY_PREFIX, ApiKey, ApiKeySecret, KEY_ID_LEN, KeyHash, KeyId, ParseKeyError, SECRET_LEN,
};
pub use scope::{ParseScopeError, Scope, Scopes};
