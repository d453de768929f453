//! Errors. No message ever carries a token, an authorization code, a client secret, a state,
//! a nonce or a PKCE verifier, nor a response body (which could hold any of them): each
//! variant names what failed, with at most a URL, an HTTP status, a standard OAuth error code
//! or a claim name.

use std::fmt;

/// Why a sign-in (or the set-up for one) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OidcError {
    /// The configuration is unusable: a malformed issuer or redirect URL, plain `http://`
    /// to a host that is not loopback, an unreadable CA certificate.
    Config(String),
    /// Talking to the provider failed: connection, TLS, deadline, oversized answer.
    Http(String),
    /// The discovery document or the key set is missing, invalid, or names another issuer.
    Discovery(String),
    /// The pending login is older than [`crate::PENDING_LOGIN_MAX_AGE`] (or from the future).
    LoginExpired,
    /// The `state` returned to the redirect URI is not the pending login's.
    StateMismatch,
    /// The pending login was started by a client with another issuer, client id or redirect
    /// URI (another tenant's configuration, or a changed one).
    WrongClient,
    /// The provider refused at its token endpoint (`invalid_grant` for a used, expired or
    /// foreign code or a PKCE mismatch; `invalid_client` for bad client credentials).
    Provider {
        /// The OAuth error code (RFC 6749 §5.2), restricted to its allowed characters.
        error: String,
    },
    /// The token endpoint's answer is not a usable token response (not JSON, no ID token).
    TokenResponse(String),
    /// The ID token was refused.
    IdToken(IdTokenError),
    /// The userinfo endpoint failed or answered for another subject.
    UserInfo(String),
}

/// Why an ID token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a well-formed signed JWT, or its claims do not parse.
    Malformed,
    /// Encrypted (JWE) ID tokens are not supported.
    Encrypted,
    /// The algorithm is not accepted: `none`, an HMAC algorithm without a client secret,
    /// or one the provider does not advertise.
    DisallowedAlgorithm,
    /// No key of the provider's key set (even after fetching it again) matches the token's
    /// key id and algorithm.
    NoMatchingKey,
    /// The signature does not verify.
    BadSignature,
    /// `iss` is not the provider's issuer.
    WrongIssuer,
    /// `aud` does not contain this client, or contains another audience.
    WrongAudience,
    /// `azp` is present and is not this client, or is missing with several audiences.
    WrongAuthorizedParty,
    /// `exp` is in the past.
    Expired,
    /// `iat` is too far in the future or in the past.
    BadIssueTime,
    /// `nonce` is missing or is not the pending login's.
    NonceMismatch,
    /// `at_hash` does not match the access token.
    AccessTokenHashMismatch,
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OidcError::Config(m) => write!(f, "OpenID Connect configuration: {m}"),
            OidcError::Http(m) => write!(f, "talking to the OpenID provider failed: {m}"),
            OidcError::Discovery(m) => write!(f, "OpenID provider discovery: {m}"),
            OidcError::LoginExpired => f.write_str("the sign-in took too long; start again"),
            OidcError::StateMismatch => {
                f.write_str("the sign-in response does not belong to this sign-in (state mismatch)")
            }
            OidcError::WrongClient => {
                f.write_str("the pending sign-in was started for another OpenID Connect client")
            }
            OidcError::Provider { error } => {
                write!(f, "the OpenID provider refused the sign-in: {error}")
            }
            OidcError::TokenResponse(m) => write!(f, "OpenID provider token response: {m}"),
            OidcError::IdToken(e) => write!(f, "ID token refused: {e}"),
            OidcError::UserInfo(m) => write!(f, "OpenID provider userinfo: {m}"),
        }
    }
}

impl fmt::Display for IdTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdTokenError::Malformed => "malformed",
            IdTokenError::Encrypted => "encrypted ID tokens are not supported",
            IdTokenError::DisallowedAlgorithm => "signature algorithm not accepted",
            IdTokenError::NoMatchingKey => "no provider key matches",
            IdTokenError::BadSignature => "bad signature",
            IdTokenError::WrongIssuer => "wrong issuer",
            IdTokenError::WrongAudience => "wrong audience",
            IdTokenError::WrongAuthorizedParty => "wrong authorized party (azp)",
            IdTokenError::Expired => "expired",
            IdTokenError::BadIssueTime => "issue time (iat) out of range",
            IdTokenError::NonceMismatch => "nonce mismatch",
            IdTokenError::AccessTokenHashMismatch => "at_hash does not match the access token",
        })
    }
}

impl std::error::Error for OidcError {}
impl std::error::Error for IdTokenError {}

impl From<IdTokenError> for OidcError {
    fn from(e: IdTokenError) -> Self {
        OidcError::IdToken(e)
    }
}

/// An OAuth error code as the provider sent it, reduced to the characters RFC 6749 allows in
/// one (printable ASCII without `"` and `\`) and to a sane length.
pub(crate) fn oauth_error_code(code: &str) -> String {
    let cleaned: String = code
        .chars()
        .filter(|c| matches!(c, '\x20'..='\x7e') && *c != '"' && *c != '\\')
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "unspecified error".into()
    } else {
        cleaned
    }
}
