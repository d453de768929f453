//! Browser sessions: the cookie's token, its stored hash, the CSRF token bound to it, and
//! the idle and absolute timeouts.
//!
//! The token is 256 random bits, sent only in an `HttpOnly; SameSite=Strict` cookie; the
//! database keeps its SHA-256 (domain-tagged), so a copy of the database signs nobody in.
//! The CSRF token is an HMAC of a fixed label under the session token: the server
//! recomputes it from the cookie, so it needs no storage, changes with every session, and
//! cannot be derived by script that lacks the cookie (which `HttpOnly` keeps from scripts).

use std::fmt;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Characters in a session token (52 × 5 = 260 bits of base32).
const TOKEN_LEN: usize = 52;
const HASH_DOMAIN: &[u8] = b"scrim session v1\0";
const CSRF_LABEL: &[u8] = b"scrim csrf v1";

/// A session token as the cookie carries it. Not `Display`: it is a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Result<Self, getrandom::Error> {
        crate::apikey::random_base32(TOKEN_LEN).map(Self)
    }

    /// Checks the form of a cookie value; `None` for anything a server never issued.
    pub fn parse(cookie: &str) -> Option<Self> {
        crate::apikey::is_base32(cookie, TOKEN_LEN).then(|| Self(cookie.to_owned()))
    }

    /// The cookie value: send it once, in `Set-Cookie`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database keys the session by.
    pub fn hash(&self) -> SessionHash {
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update(self.0.as_bytes());
        SessionHash(h.finalize().into())
    }

    /// The CSRF token of this session, to be echoed in `X-CSRF-Token` (or a `csrf_token`
    /// form field) by every state-changing request.
    pub fn csrf_token(&self) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).expect("any key length");
        mac.update(CSRF_LABEL);
        let tag = mac.finalize().into_bytes();
        tag.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `presented` is this session's CSRF token, compared in constant time.
    pub fn check_csrf(&self, presented: &str) -> bool {
        let expected = self.csrf_token();
        expected.len() == presented.len()
            && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

/// The stored form of a session token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHash([u8; 32]);

impl SessionHash {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SessionHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight hex digits name a session in logs without enabling anything.
        write!(
            f,
            "SessionHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeouts {
    /// Signed out after this long without a request.
    pub idle: Duration,
    /// Signed out this long after signing in, however active.
    pub absolute: Duration,
}

impl Default for SessionTimeouts {
    /// 30 minutes idle, 12 hours absolute (OWASP's guidance for applications holding
    /// sensitive data).
    fn default() -> Self {
        SessionTimeouts {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

/// Why a session is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Idle,
    Absolute,
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionEnd::Idle => "the session expired after a period of inactivity",
            SessionEnd::Absolute => "the session reached its maximum lifetime",
        })
    }
}

impl SessionTimeouts {
    /// Whether a session created at `created` and last used at `last_seen` is still valid
    /// at `now`. A clock that went backwards counts as no time passed.
    pub fn check(
        &self,
        created: SystemTime,
        last_seen: SystemTime,
        now: SystemTime,
    ) -> Result<(), SessionEnd> {
        let since = |t: SystemTime| now.duration_since(t).unwrap_or_default();
        if since(created) >= self.absolute {
            return Err(SessionEnd::Absolute);
        }
        if since(last_seen) >= self.idle {
            return Err(SessionEnd::Idle);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_parse_back() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(SessionToken::parse(a.expose()), Some(a.clone()));
        assert_eq!(SessionToken::parse(&a.expose()[1..]), None);
        assert_eq!(SessionToken::parse(&a.expose().to_uppercase()), None);
        assert!(!format!("{a:?}").contains(a.expose()));
        let hash = a.hash();
        assert_eq!(SessionHash::from_bytes(hash.as_bytes()), Some(hash));
        assert_eq!(SessionHash::from_bytes(&[0; 31]), None);
    }

    #[test]
    fn csrf_token_is_bound_to_the_session() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        let token = a.csrf_token();
        assert_eq!(token.len(), 64);
        assert_eq!(token, a.csrf_token());
        assert!(a.check_csrf(&token));
        assert!(!b.check_csrf(&token));
        assert!(!a.check_csrf(&token[..63]));
        assert!(!a.check_csrf(""));
        assert!(!a.check_csrf(a.expose()));
    }

    #[test]
    fn idle_and_absolute_timeouts() {
        let t = SessionTimeouts {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(600),
        };
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |s| start + Duration::from_secs(s);
        assert_eq!(t.check(start, start, at(59)), Ok(()));
        assert_eq!(t.check(start, start, at(60)), Err(SessionEnd::Idle));
        assert_eq!(t.check(start, at(550), at(599)), Ok(()));
        assert_eq!(t.check(start, at(599), at(600)), Err(SessionEnd::Absolute));
        // A clock step backwards is not an expiry.
        assert_eq!(t.check(at(10), at(10), start), Ok(()));
    }
}
