//! Single sign-on with OpenID Connect (scrim-oidc) for a tenant: its settings, and the two
//! browser routes of the authorisation code flow.
//!
//! - `GET /api/v1/sso/login?tenant=NAME` starts a sign-in: the pending login (state,
//!   nonce, PKCE verifier) is sealed under the platform identity key into a short-lived
//!   `scrim_sso` cookie (`SameSite=Lax`, so the provider's redirect back carries it), and the
//!   browser goes to the provider.
//! - `GET /api/v1/sso/callback` finishes it: the cookie is opened and cleared whatever
//!   happens, the code is exchanged and the ID token checked, the identity is mapped to a
//!   role (no role, no access), the account is found by (issuer, subject) or created just
//!   in time, its role in the tenant follows the mapping at every sign-in, and a session
//!   starts. The answer is a small page that moves on to `/` by itself: a redirect would
//!   still count as the provider's cross-site navigation, and the browser would hold back
//!   the new `SameSite=Strict` session cookie.
//!
//! An account is never linked by e-mail address alone: an existing password account with
//! the same address is refused, since the provider may let anyone claim any address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use scrim_audit::Actor as AuditActor;
use scrim_auth::rbac::{Permission, Role, UserId};
use scrim_meta::{AuthMethod, MetaError, NewUser, TenantId};
use scrim_oidc::{
    ClientSecret, HttpClient, HttpOptions, OidcClient, OidcConfig, PendingLogin, RoleMapping,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::access;
use crate::accounts::Act;
use crate::api::{ApiError, ApiState, audit_unavailable, bad_request, enter, not_found};
use crate::audit::{Origin, actions, actor_of};
use crate::identity_api::json_body;
use crate::{Platform, ServerError};

const PENDING_COOKIE: &str = "scrim_sso";
const PENDING_AAD: &[u8] = b"scrim sso pending login v1";

/// A tenant's SSO settings as stored (`tenants.sso_config`); the client secret is kept
/// apart, sealed under the tenant's data key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SsoSettings {
    pub oidc: OidcConfig,
    pub roles: RoleMapping,
    /// PEM of a private CA the provider's certificate chains to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

/// Discovered clients per tenant, rebuilt when the tenant's settings change.
#[derive(Default)]
pub(crate) struct SsoClients {
    clients: Mutex<HashMap<TenantId, (SeenSettings, Arc<OidcClient>)>>,
}

/// What a cached client was built from: the stored settings and the sealed client secret,
/// which is kept apart from them (so a new secret alone leaves the settings text as it was).
type SeenSettings = (String, Option<Vec<u8>>);

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/settings/sso",
            get(sso_settings).put(set_sso_settings),
        )
        .route("/api/v1/sso/login", get(sso_login))
        .route("/api/v1/sso/callback", get(sso_callback))
}

/// What the client secret is sealed under ([`crate::tenant_keys::secret_key`]).
const SECRET_LABEL: &[u8] = b"scrim sso client secret";

fn tenant_secret_aad(tenant: &TenantId) -> Vec<u8> {
    crate::tenant_keys::secret_aad(tenant, SECRET_LABEL)
}

async fn tenant_key(
    platform: &Platform,
    tenant: &TenantId,
) -> Result<scrim_crypto::DataKey, ServerError> {
    crate::tenant_keys::secret_key(platform, tenant, SECRET_LABEL).await
}

/// Whether a mapping can make someone an owner (which only owners may configure).
pub fn maps_owner(s: &SsoSettings) -> bool {
    s.roles.rules.iter().any(|r| r.role == "owner")
        || s.roles.default_role.as_deref() == Some("owner")
}

/// Stores a tenant's SSO settings (the client secret sealed apart), or removes them with
/// `None` (refused while the tenant requires SSO). Role names are checked first.
pub async fn store_sso_settings(
    platform: &Platform,
    act: &Act,
    tenant: &TenantId,
    settings: Option<SsoSettings>,
) -> Result<(), ServerError> {
    let meta = &platform.meta;
    let mut stored = meta.security_settings(tenant).await?;
    let before = stored
        .sso_config
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .unwrap_or(Value::Null);
    let secret_before = stored.sso_client_secret.clone();
    match settings {
        None => {
            stored.sso_config = None;
            stored.sso_client_secret = None;
        }
        Some(mut s) => {
            let roles = s.roles.rules.iter().map(|r| r.role.as_str());
            for role in roles.chain(s.roles.default_role.as_deref()) {
                role.parse::<Role>()
                    .map_err(|e| ServerError::Usage(format!("role mapping: {e}")))?;
            }
            if let Some(secret) = s.oidc.client_secret.take() {
                let key = tenant_key(platform, tenant).await?;
                stored.sso_client_secret = Some(scrim_crypto::seal(
                    &key,
                    &tenant_secret_aad(tenant),
                    secret.expose().as_bytes(),
                )?);
            }
            stored.sso_config =
                Some(serde_json::to_string(&s).map_err(|e| ServerError::Usage(e.to_string()))?);
        }
    }
    scrim_meta::check_security_settings(&stored)?;
    let after = stored
        .sso_config
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .unwrap_or(Value::Null);
    // The settings as stored hold no client secret; whether it changed is all that is said.
    platform
        .audit
        .entry(
            tenant.as_str(),
            actor_of(&act.actor),
            actions::SSO_SETTINGS,
            &act.origin,
        )
        .target("sso")
        .change("sso", before, after)
        .detail(
            "client_secret_changed",
            secret_before != stored.sso_client_secret,
        )
        .around(meta.set_security_settings(tenant, &stored))
        .await??;
    Ok(())
}

/// The tenant's client, discovered on first use and kept until its settings change.
async fn client_for(state: &ApiState, tenant: &TenantId) -> Result<Arc<OidcClient>, ApiError> {
    let meta = &state.shared.platform.meta;
    let stored = meta.security_settings(tenant).await?;
    let Some(text) = stored.sso_config else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "single sign-on is not configured for this tenant",
        ));
    };
    if let Some((seen, client)) = state
        .shared
        .sso
        .clients
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(tenant)
        && seen.0 == text
        && seen.1 == stored.sso_client_secret
    {
        return Ok(Arc::clone(client));
    }
    let mut settings: SsoSettings = serde_json::from_str(&text)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "unreadable SSO settings"))?;
    if let Some(sealed) = &stored.sso_client_secret {
        let key = tenant_key(&state.shared.platform, tenant).await?;
        let secret =
            scrim_crypto::open(&key, &tenant_secret_aad(tenant), sealed).map_err(|_| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the SSO client secret does not open",
                )
            })?;
        let secret = String::from_utf8(secret).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unreadable SSO client secret",
            )
        })?;
        settings.oidc.client_secret = Some(ClientSecret::new(secret));
    }
    let http = HttpClient::new(HttpOptions {
        extra_ca_pem: settings.ca_pem.as_ref().map(|p| p.as_bytes().to_vec()),
        ..HttpOptions::default()
    })
    .map_err(|e| bad_request(format!("SSO: {e}")))?;
    let client = OidcClient::discover(settings.oidc, &http)
        .await
        .map_err(|e| {
            tracing::warn!(tenant = %tenant, "OpenID provider discovery failed: {e}");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                &format!("the OpenID provider could not be reached: {e}"),
            )
        })?;
    let client = Arc::new(client);
    state
        .shared
        .sso
        .clients
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            tenant.clone(),
            ((text, stored.sso_client_secret), Arc::clone(&client)),
        );
    Ok(client)
}

async fn sso_settings(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewSecuritySettings),
    )
    .await?;
    let stored = state
        .shared
        .platform
        .meta
        .security_settings(&c.tenant_id)
        .await?;
    let settings: Option<SsoSettings> = stored
        .sso_config
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok());
    Ok(Json(json!({
        "configured": settings.is_some(),
        "require_sso": stored.require_sso,
        "client_secret_set": stored.sso_client_secret.is_some(),
        "settings": settings,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SsoChange {
    /// `null` removes single sign-on (refused while the tenant requires it).
    settings: Option<SsoSettings>,
}

async fn set_sso_settings(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::PUT,
        Some(Permission::ManageSecuritySettings),
    )
    .await?;
    let req: SsoChange = json_body(&headers, &body)?;
    // Owners are made by owners: a mapping that can make one needs ManageOwners.
    let owner_check = if req.settings.as_ref().is_some_and(maps_owner) {
        access::check(&c, Permission::ManageOwners)
    } else {
        Ok(())
    };
    let configured = req.settings.is_some();
    let origin = Origin::of(&headers, Some(peer.ip()));
    let act = Act {
        actor: c.actor.clone(),
        chain: c.tenant_id.as_str().to_owned(),
        origin: origin.clone(),
    };
    if let Err(refused) = owner_check {
        state
            .shared
            .audit
            .entry(
                c.tenant_id.as_str(),
                actor_of(&c.actor),
                actions::SSO_SETTINGS,
                &origin,
            )
            .target("sso")
            .denied(refused.message.clone())
            .await
            .map_err(audit_unavailable)?;
        return Err(refused);
    }
    store_sso_settings(&state.shared.platform, &act, &c.tenant_id, req.settings).await?;
    Ok(Json(json!({ "configured": configured })))
}

#[derive(Deserialize)]
struct LoginQuery {
    tenant: String,
}

#[derive(Serialize, Deserialize)]
struct PendingCookie {
    tenant: String,
    pending: PendingLogin,
}

async fn sso_login(
    State(state): State<ApiState>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    let tenant = state
        .shared
        .platform
        .meta
        .tenant_by_name(&q.tenant)
        .await?
        .ok_or_else(|| not_found("no such tenant, or single sign-on is not configured for it"))?;
    let client = client_for(&state, &tenant.id).await?;
    let (url, pending) = client
        .begin()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
    let cookie = PendingCookie {
        tenant: tenant.id.as_str().to_owned(),
        pending,
    };
    let plain = serde_json::to_vec(&cookie).map_err(|e| bad_request(e.to_string()))?;
    let sealed = state.shared.accounts.seal(PENDING_AAD, &plain)?;
    let value = format!(
        "{PENDING_COOKIE}={}; Path=/api/v1/sso; HttpOnly; SameSite=Lax; Max-Age={}{}",
        scrim_store::convert::hex(&sealed),
        scrim_oidc::PENDING_LOGIN_MAX_AGE.as_secs(),
        if state.shared.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, header_value(url.as_str())?);
    h.insert(header::SET_COOKIE, header_value(&value)?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize)]
struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

async fn sso_callback(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let clear = format!(
        "{PENDING_COOKIE}=; Path=/api/v1/sso; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if state.shared.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    let mut response = match finish(&state, peer, &headers, q).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

async fn finish(
    state: &ApiState,
    peer: SocketAddr,
    headers: &HeaderMap,
    q: Callback,
) -> Result<Response, ApiError> {
    if let Some(error) = q.error {
        // The provider's own error code (e.g. access_denied); bounded, never a token.
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            &format!("the identity provider refused the sign-in: {error}"),
        ));
    }
    let (Some(code), Some(returned_state)) = (q.code, q.state) else {
        return Err(bad_request(
            "expected code and state from the identity provider",
        ));
    };
    let sealed = access::cookie(headers, PENDING_COOKIE)
        // A sealed pending login is a few hundred bytes; nothing longer is parsed.
        .filter(|v| v.len() <= 16 * 1024)
        .and_then(scrim_store::convert::unhex)
        .ok_or_else(|| {
            access::unauthorized(
                "no sign-in in progress in this browser; start again at /api/v1/sso/login",
            )
        })?;
    let plain = state
        .shared
        .accounts
        .unseal(PENDING_AAD, &sealed)
        .map_err(|_| access::unauthorized("the sign-in cookie is not valid; start again"))?;
    let cookie: PendingCookie = serde_json::from_slice(&plain)
        .map_err(|_| access::unauthorized("the sign-in cookie is not valid; start again"))?;
    let tenant = TenantId::parse(&cookie.tenant)
        .map_err(|_| access::unauthorized("the sign-in cookie is not valid; start again"))?;
    let mut who: Option<UserId> = None;
    let result = sign_in_sso(
        state,
        peer,
        headers,
        &tenant,
        &cookie,
        (&returned_state, &code),
        &mut who,
    )
    .await;
    let origin = Origin::of(headers, Some(peer.ip()));
    let actor = match &who {
        Some(id) => AuditActor::User {
            id: id.as_str().to_owned(),
        },
        None => AuditActor::System {
            name: "anonymous".into(),
        },
    };
    let mut entry = state
        .shared
        .audit
        .entry(tenant.as_str(), actor, actions::SIGN_IN, &origin)
        .detail("method", AuthMethod::Sso.as_str());
    if let Some(id) = &who {
        entry = entry.target(id.as_str());
    }
    match result {
        Ok((response, token)) => {
            if let Err(e) = entry.success().await {
                // Nobody holds the token yet: the session ends unused.
                let _ = state
                    .shared
                    .platform
                    .meta
                    .revoke_session(&token.hash())
                    .await;
                return Err(audit_unavailable(e));
            }
            Ok(response)
        }
        Err(e) => {
            if entry.denied(e.message.clone()).await.is_err() {
                tracing::warn!("a refused sign-in could not be recorded in the audit log");
            }
            Err(e)
        }
    }
}

/// The sign-in itself, once the tenant is known; `who` is set as soon as the account is.
async fn sign_in_sso(
    state: &ApiState,
    peer: SocketAddr,
    headers: &HeaderMap,
    tenant: &TenantId,
    cookie: &PendingCookie,
    (returned_state, code): (&str, &str),
    who: &mut Option<UserId>,
) -> Result<(Response, scrim_auth::SessionToken), ApiError> {
    let tenant = tenant.clone();
    let client = client_for(state, &tenant).await?;
    let identity = client
        .finish(&cookie.pending, returned_state, code)
        .await
        .map_err(|e| {
            tracing::warn!(tenant = %tenant, "SSO sign-in refused: {e}");
            access::unauthorized(&format!("single sign-on failed: {e}"))
        })?;
    let meta = &state.shared.platform.meta;
    let stored = meta.security_settings(&tenant).await?;
    let settings: SsoSettings = stored
        .sso_config
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .ok_or_else(|| not_found("single sign-on is not configured for this tenant"))?;
    let role: Role = settings
        .roles
        .role_for(&identity)
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "your account at the identity provider has no role in this tenant; ask an administrator",
            )
        })?;
    let user = match meta
        .user_by_oidc(&identity.issuer, &identity.subject)
        .await?
    {
        Some(u) => u,
        None => {
            let email = identity
                .email
                .clone()
                .filter(|_| identity.email_verified)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::FORBIDDEN,
                        "the identity provider did not give a verified e-mail address",
                    )
                })?;
            meta.create_user(&NewUser {
                email,
                display_name: identity.name.clone(),
                password_hash: None,
                oidc: Some((identity.issuer.clone(), identity.subject.clone())),
            })
            .await
            .map_err(|e| match e {
                MetaError::AlreadyExists { .. } => ApiError::new(
                    StatusCode::CONFLICT,
                    "an account with this e-mail address already exists and is not linked to this identity provider; an administrator can link it",
                ),
                e => e.into(),
            })?
        }
    };
    *who = Some(user.id.clone());
    if user.disabled_at.is_some() {
        return Err(access::unauthorized("this account is disabled"));
    }
    match meta.membership(&user.id, &tenant).await? {
        None => meta.add_membership(&user.id, &tenant, role).await?,
        Some(current) if current != role => {
            // The provider's groups decide the role at every sign-in; the last owner stays.
            if let Err(e) = meta.change_membership(&user.id, &tenant, Some(role)).await {
                tracing::warn!(user = %user.id, "SSO role change not applied: {e}");
            }
        }
        Some(_) => {}
    }
    let token = state
        .shared
        .accounts
        .start_session(
            &user.id,
            &tenant,
            AuthMethod::Sso,
            Some(peer.ip()),
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        )
        .await
        .map_err(crate::identity_api::login_error)?;
    let timeouts = state.shared.accounts.timeouts(&stored);
    let mut response = crate::ui::continue_home();
    response.headers_mut().insert(
        header::SET_COOKIE,
        access::session_cookie(&token, timeouts.absolute, state.shared.secure_cookies),
    );
    Ok((response, token))
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(|_| bad_request("a value that cannot be sent in a header"))
}
