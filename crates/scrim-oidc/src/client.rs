//! The relying party: configuration, discovery, the start of a sign-in and its end.

use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreGenderClaim, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
};
use openidconnect::{
    AccessToken, AuthType, AuthorizationCode, ClientId, CsrfToken, DiscoveryError,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    ResponseTypes, Scope, TokenResponse, UserInfoClaims, UserInfoError,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use url::Url;
use zeroize::Zeroize;

use crate::error::{IdTokenError, OidcError, oauth_error_code};
use scrim_http_client::{HttpClient, is_loopback_host};

use crate::http::ProviderHttp;
use crate::verify::{self, Expected, OtherClaims};

/// How long a [`PendingLogin`] stays usable: the time a person has to sign in at the provider.
pub const PENDING_LOGIN_MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// A pending login created this far in the future (a clock step) is still accepted.
const PENDING_LOGIN_SKEW: Duration = Duration::from_secs(60);

/// The client secret registered at the provider. Never shown by `Debug`; serialised as the
/// plain string, so store a configuration that holds one encrypted. Zeroed on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        ClientSecret(secret.into())
    }

    /// The secret itself, to store it (encrypted) or send it to the provider.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

impl Drop for ClientSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// How the client authenticates at the token endpoint (OpenID Connect Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic authentication with the client id and secret.
    ClientSecretBasic,
    /// The client id and secret in the request body.
    ClientSecretPost,
}

/// A tenant's OpenID Connect configuration, as stored (JSON).
///
/// ```json
/// {"issuer": "https://login.example.com", "client_id": "scrim",
///  "client_secret": "…", "redirect_uri": "https://scrim.example.com/auth/oidc/callback",
///  "groups_claim": "groups"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer identifier, exactly as its discovery document states it
    /// (`https://`; `http://` only for a loopback host).
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret; `None` for a public client (PKCE only, no HMAC-signed ID tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// Where the provider sends the browser back (registered at the provider).
    pub redirect_uri: String,
    /// Scopes to request; `openid` is always requested.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim holding the user's groups (`groups`; a dotted path such as
    /// `realm_access.roles` reaches into an object). `None`: groups are not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    /// Token endpoint authentication; `None` picks `client_secret_basic` when the provider
    /// supports it, else `client_secret_post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuthMethod>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

impl OidcConfig {
    /// A configuration with the default scopes (`openid email profile`), no groups claim and
    /// the client authentication method chosen from the provider's metadata.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Option<ClientSecret>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        OidcConfig {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            scopes: default_scopes(),
            groups_claim: None,
            client_auth: None,
        }
    }
}

/// A sign-in between [`OidcClient::begin`] and [`OidcClient::finish`]. Holds the secrets of
/// that one sign-in (state, nonce, PKCE verifier), so keep it where only the server reads
/// it (a sealed cookie, a table) and use it once. `Debug` hides them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    state: String,
    nonce: String,
    pkce_verifier: String,
    /// Unix seconds.
    created_at: u64,
    issuer: String,
    client_id: String,
    redirect_uri: String,
}

impl PendingLogin {
    /// The `state` sent to the provider, to find this pending login when the browser comes
    /// back (it is random and single-use; `finish` compares it in constant time).
    pub fn state(&self) -> &str {
        &self.state
    }

    /// When [`OidcClient::begin`] made it.
    pub fn created_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.created_at)
    }

    /// Whether it is too old to finish at `now` (or made implausibly far in the future).
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        let created = self.created_at();
        match now.duration_since(created) {
            Ok(age) => age > PENDING_LOGIN_MAX_AGE,
            Err(ahead) => ahead.duration() > PENDING_LOGIN_SKEW,
        }
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("created_at", &self.created_at)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Drop for PendingLogin {
    fn drop(&mut self) {
        self.state.zeroize();
        self.nonce.zeroize();
        self.pkce_verifier.zeroize();
    }
}

/// Who signed in, as the provider asserted it in a validated ID token (and its userinfo
/// endpoint, for claims the token lacked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedIdentity {
    /// The provider's issuer identifier. With `subject`, the key of the account.
    pub issuer: String,
    /// The provider's identifier for the person (`sub`), unique and never reassigned within
    /// the issuer.
    pub subject: String,
    /// E-mail address, if the provider shared one.
    pub email: Option<String>,
    /// Whether the provider verified `email` (false when it does not say).
    pub email_verified: bool,
    /// Display name, if shared.
    pub name: Option<String>,
    /// Values of the configured groups claim (empty without one).
    pub groups: Vec<String>,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A relying party for one provider and one client registration: a tenant's configuration
/// after discovery. Build it once per configuration (discovery costs two requests) and keep
/// it; it is `Send + Sync`.
pub struct OidcClient {
    config: OidcConfig,
    http: ProviderHttp,
    metadata: CoreProviderMetadata,
    keys: RwLock<CoreJsonWebKeySet>,
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<openidconnect::ClientSecret>,
    redirect: RedirectUrl,
    auth_type: AuthType,
    algorithms: Vec<CoreJwsSigningAlgorithm>,
}

impl fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .field("auth_type", &self.auth_type)
            .finish_non_exhaustive()
    }
}

impl OidcClient {
    /// Validates `config`, then fetches the provider's discovery document and key set
    /// through `http`. The document must name `config.issuer` exactly; its endpoints must be
    /// `https` (or loopback `http` when the issuer itself is).
    pub async fn discover(config: OidcConfig, http: &HttpClient) -> Result<Self, OidcError> {
        let issuer_url = Url::parse(&config.issuer)
            .map_err(|_| OidcError::Config("the issuer is not a valid URL".into()))?;
        let plain_loopback = issuer_url.scheme() == "http";
        let http = ProviderHttp(http.clone());
        check_endpoint("the issuer", &issuer_url, true)?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(OidcError::Config(
                "the issuer must not have a query or fragment".into(),
            ));
        }
        let redirect_url = Url::parse(&config.redirect_uri)
            .map_err(|_| OidcError::Config("the redirect URI is not a valid URL".into()))?;
        check_endpoint("the redirect URI", &redirect_url, true)?;
        check_scopes(&config.scopes)?;
        if config.client_id.is_empty() {
            return Err(OidcError::Config("the client id is empty".into()));
        }
        if let Some(claim) = &config.groups_claim
            && claim.is_empty()
        {
            return Err(OidcError::Config("the groups claim name is empty".into()));
        }
        if config
            .client_secret
            .as_ref()
            .is_some_and(|s| s.expose().is_empty())
        {
            return Err(OidcError::Config("the client secret is empty".into()));
        }

        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|_| OidcError::Config("the issuer is not a valid URL".into()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &http)
            .await
            .map_err(discovery_error)?;

        check_endpoint(
            "the authorization endpoint",
            metadata.authorization_endpoint().url(),
            plain_loopback,
        )?;
        let token_endpoint = metadata
            .token_endpoint()
            .ok_or_else(|| OidcError::Discovery("the provider has no token endpoint".into()))?;
        check_endpoint("the token endpoint", token_endpoint.url(), plain_loopback)?;
        check_endpoint("the JWKS URI", metadata.jwks_uri().url(), plain_loopback)?;
        if let Some(userinfo) = metadata.userinfo_endpoint() {
            check_endpoint("the userinfo endpoint", userinfo.url(), plain_loopback)?;
        }
        let code = ResponseTypes::new(vec![CoreResponseType::Code]);
        if !metadata.response_types_supported().contains(&code) {
            return Err(OidcError::Discovery(
                "the provider does not support the authorization code flow".into(),
            ));
        }

        let auth_type = auth_type(
            config.client_auth,
            config.client_secret.is_some(),
            metadata.token_endpoint_auth_methods_supported(),
        )?;
        let algorithms = verify::accepted_algorithms(
            metadata.id_token_signing_alg_values_supported(),
            config.client_secret.is_some(),
        );
        if algorithms.is_empty() {
            return Err(OidcError::Discovery(
                "the provider signs ID tokens with no algorithm Scrim accepts".into(),
            ));
        }

        let redirect = RedirectUrl::new(config.redirect_uri.clone())
            .map_err(|_| OidcError::Config("the redirect URI is not a valid URL".into()))?;
        let keys = metadata.jwks().clone();
        Ok(OidcClient {
            client_id: ClientId::new(config.client_id.clone()),
            client_secret: config
                .client_secret
                .as_ref()
                .map(|s| openidconnect::ClientSecret::new(s.expose().to_string())),
            config,
            http,
            metadata,
            keys: RwLock::new(keys),
            issuer,
            redirect,
            auth_type,
            algorithms,
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Starts a sign-in now: see [`OidcClient::begin_at`].
    pub fn begin(&self) -> Result<(Url, PendingLogin), OidcError> {
        self.begin_at(SystemTime::now())
    }

    /// Starts a sign-in at `now`: the provider URL to redirect the browser to, and the
    /// pending login to keep until it comes back. Fails only if the operating system's
    /// random number generator does.
    pub fn begin_at(&self, now: SystemTime) -> Result<(Url, PendingLogin), OidcError> {
        let state = random_token()?;
        let nonce = random_token()?;
        let pkce_verifier = random_token()?;
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            pkce_verifier.clone(),
        ));

        let client = self.client(self.keys());
        let (state_param, nonce_param) = (state.clone(), nonce.clone());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state_param),
                move || Nonce::new(nonce_param),
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            // `openid` is always sent by the library.
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope.clone()));
            }
        }
        let (url, _, _) = request.url();

        let created_at = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok((
            url,
            PendingLogin {
                state,
                nonce,
                pkce_verifier,
                created_at,
                issuer: self.config.issuer.clone(),
                client_id: self.config.client_id.clone(),
                redirect_uri: self.config.redirect_uri.clone(),
            },
        ))
    }

    /// Ends a sign-in: `returned_state` and `code` are the `state` and `code` parameters the
    /// provider sent to the redirect URI with the browser. (When it sent `error` instead, the
    /// person did not sign in; there is nothing to finish.)
    ///
    /// Refuses a pending login made by another client, an expired one and a wrong state before
    /// any request; then exchanges the code and validates the ID token (see the crate
    /// documentation). Discard `pending` afterwards, whatever the outcome.
    pub async fn finish(
        &self,
        pending: &PendingLogin,
        returned_state: &str,
        code: &str,
    ) -> Result<VerifiedIdentity, OidcError> {
        let now = SystemTime::now();
        if pending.issuer != self.config.issuer
            || pending.client_id != self.config.client_id
            || pending.redirect_uri != self.config.redirect_uri
        {
            return Err(OidcError::WrongClient);
        }
        if pending.is_expired_at(now) {
            return Err(OidcError::LoginExpired);
        }
        if !bool::from(pending.state.as_bytes().ct_eq(returned_state.as_bytes())) {
            return Err(OidcError::StateMismatch);
        }

        let mut keys = self.keys();
        let client = self.client(keys.clone());
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| OidcError::Discovery("the provider has no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let raw = response
            .id_token()
            .ok_or_else(|| OidcError::TokenResponse("no ID token in the answer".into()))?
            .to_string();
        let access_token = response.access_token();
        let nonce = Nonce::new(pending.nonce.clone());

        let checked_at = DateTime::<Utc>::from(SystemTime::now());
        let mut result = self.verify(&raw, &keys, &nonce, access_token, checked_at);
        if matches!(result, Err(IdTokenError::NoMatchingKey)) {
            // A key the client has not seen: the provider may have rotated its keys since
            // discovery. Fetch the set once more, keep it, and try again.
            keys = JsonWebKeySet::fetch_async(self.metadata.jwks_uri(), &self.http)
                .await
                .map_err(discovery_error)?;
            *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys.clone();
            result = self.verify(&raw, &keys, &nonce, access_token, checked_at);
        }
        let claims = result?;

        let other = &claims.additional_claims().claims;
        let mut email = claims.email().map(|e| e.as_str().to_string());
        let mut email_verified = email.is_some() && claims.email_verified() == Some(true);
        let mut name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string());
        let mut groups = self
            .config
            .groups_claim
            .as_deref()
            .and_then(|claim| verify::groups_from(other, claim));

        let wants_groups = self.config.groups_claim.is_some() && groups.is_none();
        if (email.is_none() || name.is_none() || wants_groups)
            && self.metadata.userinfo_endpoint().is_some()
        {
            let info: UserInfoClaims<OtherClaims, CoreGenderClaim> = self
                .client(keys)
                .user_info(access_token.clone(), Some(claims.subject().clone()))
                .map_err(|_| OidcError::UserInfo("the provider has no userinfo endpoint".into()))?
                .request_async(&self.http)
                .await
                .map_err(userinfo_error)?;
            if email.is_none() {
                email = info.email().map(|e| e.as_str().to_string());
                email_verified = email.is_some() && info.email_verified() == Some(true);
            }
            if name.is_none() {
                name = info
                    .name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str().to_string());
            }
            if groups.is_none()
                && let Some(claim) = self.config.groups_claim.as_deref()
            {
                groups = verify::groups_from(&info.additional_claims().claims, claim);
            }
        }

        Ok(VerifiedIdentity {
            issuer: claims.issuer().as_str().to_string(),
            subject: claims.subject().as_str().to_string(),
            email,
            email_verified,
            name,
            groups: groups.unwrap_or_default(),
        })
    }

    fn verify(
        &self,
        raw: &str,
        keys: &CoreJsonWebKeySet,
        nonce: &Nonce,
        access_token: &AccessToken,
        now: DateTime<Utc>,
    ) -> Result<verify::Claims, IdTokenError> {
        verify::verify_id_token(
            raw,
            &Expected {
                issuer: &self.issuer,
                client_id: &self.client_id,
                client_secret: self.client_secret.as_ref(),
                keys,
                algorithms: &self.algorithms,
                nonce,
                now,
                access_token: Some(access_token),
            },
        )
    }

    fn keys(&self) -> CoreJsonWebKeySet {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn client(&self, keys: CoreJsonWebKeySet) -> Client {
        CoreClient::from_provider_metadata(
            self.metadata.clone().set_jwks(keys),
            self.client_id.clone(),
            self.client_secret.clone(),
        )
        .set_redirect_uri(self.redirect.clone())
        .set_auth_type(self.auth_type.clone())
    }
}

/// 256 bits from the operating system, as 64 hex digits: valid as a state, a nonce and a
/// PKCE verifier (RFC 7636 asks for 43 to 128 unreserved characters).
fn random_token() -> Result<String, OidcError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| OidcError::Config(format!("random numbers: {e}")))?;
    let mut out = String::with_capacity(64);
    for b in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    bytes.zeroize();
    Ok(out)
}

/// `https`, or `http` to a loopback host when `plain_loopback`. The issuer and the redirect URI
/// may always be loopback `http`; the provider's endpoints only when the issuer is.
fn check_endpoint(what: &str, url: &Url, plain_loopback: bool) -> Result<(), OidcError> {
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if plain_loopback && is_loopback_host(host) => Ok(()),
        "http" => Err(OidcError::Config(format!(
            "{what} uses plain http://: use https (plain http is allowed for a loopback issuer only)"
        ))),
        _ => Err(OidcError::Config(format!("{what} is not an https:// URL"))),
    }
}

/// Each scope is one RFC 6749 scope-token: printable ASCII without space, `"` or `\`.
fn check_scopes(scopes: &[String]) -> Result<(), OidcError> {
    for scope in scopes {
        if scope.is_empty()
            || !scope
                .bytes()
                .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
        {
            return Err(OidcError::Config(format!(
                "{scope:?} is not a valid scope (one word of printable ASCII)"
            )));
        }
    }
    Ok(())
}

fn auth_type(
    configured: Option<ClientAuthMethod>,
    has_secret: bool,
    supported: Option<&Vec<CoreClientAuthMethod>>,
) -> Result<AuthType, OidcError> {
    if !has_secret {
        // A public client sends its id in the body and proves itself with PKCE alone.
        return Ok(AuthType::RequestBody);
    }
    // The default, when the provider does not say, is client_secret_basic (Discovery §3).
    let supports = |method: &CoreClientAuthMethod| {
        supported.is_none_or(|list| list.contains(method))
            || (supported.is_some_and(|l| l.is_empty())
                && *method == CoreClientAuthMethod::ClientSecretBasic)
    };
    let basic = supports(&CoreClientAuthMethod::ClientSecretBasic);
    let post = supports(&CoreClientAuthMethod::ClientSecretPost);
    match configured {
        Some(ClientAuthMethod::ClientSecretBasic) if basic => Ok(AuthType::BasicAuth),
        Some(ClientAuthMethod::ClientSecretPost) if post => Ok(AuthType::RequestBody),
        Some(method) => Err(OidcError::Config(format!(
            "the provider does not support {} at its token endpoint",
            match method {
                ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
                ClientAuthMethod::ClientSecretPost => "client_secret_post",
            }
        ))),
        None if basic => Ok(AuthType::BasicAuth),
        None if post => Ok(AuthType::RequestBody),
        None => Err(OidcError::Config(
            "the provider supports neither client_secret_basic nor client_secret_post".into(),
        )),
    }
}

fn discovery_error(e: DiscoveryError<OidcError>) -> OidcError {
    match e {
        DiscoveryError::Request(e) => e,
        DiscoveryError::Response(status, _, _) => {
            OidcError::Discovery(format!("the provider answered HTTP {status}"))
        }
        DiscoveryError::Parse(e) => OidcError::Discovery(format!(
            "the provider's document is invalid at `{}`",
            e.path()
        )),
        DiscoveryError::UrlParse(_) => OidcError::Config("the issuer is not a valid URL".into()),
        DiscoveryError::Validation(m) => OidcError::Discovery(m),
        _ => OidcError::Discovery("the request could not be made".into()),
    }
}

type TokenError = RequestTokenError<
    OidcError,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
>;

fn token_error(e: TokenError) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(response) => OidcError::Provider {
            error: oauth_error_code(response.error().as_ref()),
        },
        RequestTokenError::Request(e) => e,
        RequestTokenError::Parse(_, _) => {
            OidcError::TokenResponse("the answer is not a valid token response".into())
        }
        RequestTokenError::Other(_) => {
            OidcError::TokenResponse("unexpected answer from the token endpoint".into())
        }
    }
}

fn userinfo_error(e: UserInfoError<OidcError>) -> OidcError {
    match e {
        UserInfoError::Request(e) => e,
        UserInfoError::Response(status, _, _) => {
            OidcError::UserInfo(format!("the provider answered HTTP {status}"))
        }
        UserInfoError::ClaimsVerification(_) => {
            OidcError::UserInfo("the answer is not about the signed-in subject".into())
        }
        UserInfoError::Parse(_) => OidcError::UserInfo("the answer is not valid".into()),
        _ => OidcError::UserInfo("the request failed".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let mut config = OidcConfig::new(
            "https://idp.example.test",
            "scrim",
            Some(ClientSecret::new("hunter2-secret")),
            "https://scrim.example.test/cb",
        );
        config.groups_claim = Some("groups".into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");

        let pending = PendingLogin {
            state: "state-value-1".into(),
            nonce: "nonce-value-2".into(),
            pkce_verifier: "verifier-value-3".into(),
            created_at: 1,
            issuer: "https://idp.example.test".into(),
            client_id: "scrim".into(),
            redirect_uri: "https://scrim.example.test/cb".into(),
        };
        let shown = format!("{pending:?}");
        for secret in ["state-value", "nonce-value", "verifier-value"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn config_json_round_trip_with_defaults() {
        let config: OidcConfig = serde_json::from_str(
            r#"{"issuer": "https://idp.example.test", "client_id": "scrim",
                "client_secret": "s3cret", "redirect_uri": "https://scrim.example.test/cb",
                "groups_claim": "groups", "client_auth": "client_secret_post"}"#,
        )
        .unwrap();
        assert_eq!(config.scopes, ["openid", "email", "profile"]);
        assert_eq!(config.client_secret.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(config.client_auth, Some(ClientAuthMethod::ClientSecretPost));
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<OidcConfig>(&json).unwrap(), config);
        assert!(
            serde_json::from_str::<OidcConfig>(
                r#"{"issuer": "x", "client_id": "y", "redirect_uri": "z", "clientsecret": "s"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn random_tokens_are_64_hex_digits_and_differ() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn pending_login_expiry() {
        let now = SystemTime::now();
        let created = |at: SystemTime| PendingLogin {
            state: String::new(),
            nonce: String::new(),
            pkce_verifier: String::new(),
            created_at: at.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            issuer: String::new(),
            client_id: String::new(),
            redirect_uri: String::new(),
        };
        assert!(!created(now).is_expired_at(now));
        assert!(!created(now - Duration::from_secs(9 * 60)).is_expired_at(now));
        assert!(created(now - Duration::from_secs(11 * 60)).is_expired_at(now));
        assert!(created(now + Duration::from_secs(5 * 60)).is_expired_at(now));
    }

    #[test]
    fn endpoints_must_be_https_unless_loopback() {
        let url = |s: &str| Url::parse(s).unwrap();
        check_endpoint("the issuer", &url("https://idp.example.test"), true).unwrap();
        check_endpoint("the issuer", &url("http://127.0.0.1:8080"), true).unwrap();
        check_endpoint("the issuer", &url("http://[::1]:8080"), true).unwrap();
        check_endpoint("the issuer", &url("http://localhost:8080"), true).unwrap();
        assert!(check_endpoint("the issuer", &url("http://idp.example.test"), true).is_err());
        assert!(check_endpoint("the issuer", &url("http://10.0.0.1"), true).is_err());
        assert!(check_endpoint("the issuer", &url("http://127.0.0.1.example.test"), true).is_err());
        assert!(check_endpoint("the issuer", &url("ftp://idp.example.test"), true).is_err());
        // An https issuer's endpoints may not fall back to plain http, not even on loopback.
        assert!(
            check_endpoint("the token endpoint", &url("http://127.0.0.1/token"), false).is_err()
        );
        check_endpoint("the token endpoint", &url("http://127.0.0.1/token"), true).unwrap();
        assert!(check_endpoint("the token endpoint", &url("http://example.test/t"), true).is_err());
    }

    #[test]
    fn scopes_are_single_tokens() {
        let scopes = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        check_scopes(&scopes(&["openid", "email", "api://scrim/read", "groups"])).unwrap();
        for bad in ["", "email profile", "a\"b", "caf\u{e9}", "tab\t"] {
            assert!(check_scopes(&scopes(&["openid", bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn client_auth_follows_the_provider() {
        use CoreClientAuthMethod as M;
        let basic_and_post = vec![M::ClientSecretBasic, M::ClientSecretPost];
        let post_only = vec![M::ClientSecretPost];
        let jwt_only = vec![M::PrivateKeyJwt];
        assert!(matches!(
            auth_type(None, true, None),
            Ok(AuthType::BasicAuth)
        ));
        assert!(matches!(
            auth_type(None, true, Some(&basic_and_post)),
            Ok(AuthType::BasicAuth)
        ));
        assert!(matches!(
            auth_type(None, true, Some(&post_only)),
            Ok(AuthType::RequestBody)
        ));
        assert!(auth_type(None, true, Some(&jwt_only)).is_err());
        assert!(
            auth_type(
                Some(ClientAuthMethod::ClientSecretBasic),
                true,
                Some(&post_only)
            )
            .is_err()
        );
        assert!(matches!(
            auth_type(
                Some(ClientAuthMethod::ClientSecretPost),
                true,
                Some(&basic_and_post)
            ),
            Ok(AuthType::RequestBody)
        ));
        assert!(matches!(
            auth_type(None, false, Some(&jwt_only)),
            Ok(AuthType::RequestBody)
        ));
    }

    #[test]
    fn futures_are_send() {
        fn send<T: Send>(_: &T) {}
        fn check(client: &OidcClient, http: &HttpClient, pending: &PendingLogin) {
            send(&OidcClient::discover(client.config.clone(), http));
            send(&client.finish(pending, "", ""));
        }
        let _ = check;
        fn sync<T: Send + Sync>() {}
        sync::<OidcClient>();
        sync::<HttpClient>();
    }
}
