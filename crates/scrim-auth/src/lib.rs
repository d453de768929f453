//! Scrim's authentication primitives, with no I/O: API keys and their scopes, and the
//! credentials of people: passwords ([`password`]: Argon2id), TOTP ([`totp`]: RFC 6238,
//! enrolment URI and QR code) and one-time recovery codes ([`recovery`]).
//!
//! Access decisions live here too: roles, permissions and the one authorisation check
//! ([`rbac`]), session tokens with their CSRF tokens and timeouts ([`session`]), and
//! failed-attempt lockout ([`throttle`]). Storing what these modules produce is
//! `scrim-meta`'s job; OpenID Connect is `scrim-oidc`'s.
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
mod base32;
pub mod password;
pub mod rbac;
pub mod recovery;
mod scope;
pub mod session;
pub mod throttle;
pub mod totp;

pub use apikey::{
    API_KEY_PREFIX, ApiKey, ApiKeySecret, KEY_ID_LEN, KeyHash, KeyId, ParseKeyError, SECRET_LEN,
};
pub use password::{PasswordError, PasswordHash, hash_password, needs_rehash, verify_password};
pub use rbac::{Actor, Denied, Permission, Role, UserId, authorize};
pub use recovery::{RecoveryCode, RecoveryCodeHash, generate_recovery_codes, verify_and_consume};
pub use scope::{ParseScopeError, Scope, Scopes};
pub use session::{SessionHash, SessionTimeouts, SessionToken};
pub use throttle::{LockedOut, Throttle, ThrottlePolicy};
pub use totp::{TotpError, TotpSecret};
