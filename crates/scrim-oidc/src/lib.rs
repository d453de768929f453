//! OpenID Connect sign-in for Scrim: the relying party's side of the protocol, and nothing
//! else (no database, no HTTP routes; `scrim-server` wires those).
//!
//! Why a crate of its own: single sign-on lets a tenant's people sign in with the identity
//! provider their company already runs (Entra ID, Okta, Keycloak, Google, …), so that leaving
//! the company ends their access to Scrim too. It is also where a mistake turns into an
//! account takeover, so the protocol lives here, small enough to audit, tested end to end
//! against a real provider nobody on this project wrote (`tests/oidc_provider.rs` runs the
//! certified `oidc-provider` package from npm on loopback).
//!
//! The flow is the authorization code flow with PKCE (S256), `state` and `nonce`:
//!
//! 1. [`OidcClient::discover`] reads the provider's `/.well-known/openid-configuration` and
//!    its key set (JWKS), once per tenant configuration; keep the client.
//! 2. [`OidcClient::begin`] returns the URL to send the browser to and a [`PendingLogin`]
//!    (state, nonce, PKCE verifier, creation time; all random values from the operating
//!    system). The server keeps it for the redirect back, sealed in a short-lived cookie or in
//!    a table, and uses it once.
//! 3. [`OidcClient::finish`] takes the pending login and the `state` and `code` the provider
//!    sent to the redirect URI. It refuses an expired login ([`PENDING_LOGIN_MAX_AGE`]) or a
//!    wrong state (compared in constant time), exchanges the code with the PKCE verifier and
//!    the client's credentials (`client_secret_basic` or `client_secret_post`, as the provider
//!    allows), validates the ID token (signature against the provider's keys, fetched again
//!    once when a token names a key the client has not seen, i.e. key rotation; issuer;
//!    audience; `azp`; expiry; `iat`; nonce; `at_hash`; never `alg: none`, never HMAC for a
//!    client without a secret) and returns a [`VerifiedIdentity`]. Claims the ID token lacks
//!    (e-mail, name, groups) are read from the userinfo endpoint, whose answer must be about
//!    the same subject.
//! 4. [`RoleMapping::role_for`] maps the identity to a role name, or to no access.
//!
//! The identity of a person is the pair (`issuer`, `subject`): never the e-mail address,
//! which the provider may let users change.
//!
//! All HTTP goes through [`HttpClient`] (from `scrim-http-client`, re-exported): rustls with
//! the system's roots plus an optional private CA, plain `http://` only to loopback, a deadline
//! and a size cap on every answer, no redirects.
//! Errors ([`OidcError`]) never carry a token, code, secret or response body.

mod client;
mod error;
mod http;
mod roles;
mod verify;

pub use client::{
    ClientAuthMethod, ClientSecret, OidcClient, OidcConfig, PENDING_LOGIN_MAX_AGE, PendingLogin,
    VerifiedIdentity,
};
pub use error::{IdTokenError, OidcError};
pub use roles::{RoleMapping, RoleMatch, RoleRule};
pub use scrim_http_client::{
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, HttpClient, HttpError, HttpOptions,
};
pub use url::Url;
