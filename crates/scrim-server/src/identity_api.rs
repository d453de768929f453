//! REST routes for people and access: sign-in and sessions, one's own account (password,
//! TOTP), members and roles, API keys, security settings and the access review.
//!
//! Each route names its permission once, in its call to [`enter`]; the OpenAPI document
//! repeats it as `x-scrim-permission`, and the access-matrix test checks the two agree for
//! every role and every scope.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use scrim_auth::rbac::{self, Actor, Permission, Role, UserId};
use scrim_auth::{KeyId, Scopes};
use scrim_meta::NewApiKey;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{self, Caller};
use crate::accounts::{Act, LoginError, LoginRequest};
use crate::api::{ApiError, ApiState, audit_unavailable, bad_request, enter, not_found};
use crate::audit::{Origin, actions};
use crate::review::rfc3339;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/session",
            get(whoami).post(sign_in).delete(sign_out),
        )
        .route("/api/v1/session/tenant", post(switch_tenant))
        .route("/api/v1/me/sign-out-everywhere", post(sign_out_everywhere))
        .route("/api/v1/me/password", post(change_password))
        .route("/api/v1/me/mfa/totp", post(begin_totp).delete(remove_totp))
        .route("/api/v1/me/mfa/totp/confirm", post(confirm_totp))
        .route("/api/v1/users", get(list_members).post(add_member))
        .route(
            "/api/v1/users/{id}",
            patch(change_member).delete(remove_member),
        )
        .route("/api/v1/apikeys", get(list_keys).post(create_key))
        .route("/api/v1/apikeys/{id}", axum::routing::delete(revoke_key))
        .route(
            "/api/v1/settings/security",
            get(security_settings).put(set_security_settings),
        )
        .route(
            "/api/v1/settings/capture-policy",
            get(capture_policy).put(set_capture_policy),
        )
        .route(
            "/api/v1/settings/retention",
            get(retention_settings).put(set_retention_settings),
        )
        .route("/api/v1/settings/data-key", get(data_key_settings))
        .route("/api/v1/settings/data-key/rotate", post(rotate_data_key))
        .route("/api/v1/access-review", get(access_review))
}

/// Parses a JSON body, insisting on `Content-Type: application/json`: a browser cannot send
/// that cross-site without a CORS preflight, which Scrim never grants (login CSRF).
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

/// The caller's account operations, recorded in the caller's tenant.
pub(crate) fn act(caller: &Caller, origin: &Origin) -> Act {
    Act {
        actor: caller.actor.clone(),
        chain: caller.tenant_id.as_str().to_owned(),
        origin: origin.clone(),
    }
}

fn user_of(caller: &Caller) -> Result<&UserId, ApiError> {
    match &caller.actor {
        Actor::User { id, .. } => Ok(id),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this needs a signed-in person; API keys cannot do it",
        )),
    }
}

#[derive(Deserialize)]
struct SignIn {
    email: String,
    password: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
}

async fn sign_in(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: SignIn = json_body(&headers, &body)?;
    let accounts = &state.shared.accounts;
    let signed = accounts
        .login(&LoginRequest {
            email: &req.email,
            password: &req.password,
            second_factor: req.code.as_deref(),
            tenant: req.tenant.as_deref(),
            addr: Some(peer.ip()),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
            request_id: headers
                .get(crate::audit::REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok()),
        })
        .await
        .map_err(login_error)?;
    let timeouts = signed.timeouts;
    let body = json!({
        "user": { "id": signed.user.id.as_str(), "email": signed.user.email },
        "tenant": { "id": signed.tenant_id.as_str(), "name": signed.tenant_name },
        "role": signed.role.as_str(),
        "method": signed.method.as_str(),
        "csrf_token": signed.token.csrf_token(),
        "idle_timeout_seconds": timeouts.idle.as_secs(),
        "absolute_timeout_seconds": timeouts.absolute.as_secs(),
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        access::session_cookie(
            &signed.token,
            timeouts.absolute,
            state.shared.secure_cookies,
        ),
    );
    Ok(response)
}

pub(crate) fn login_error(e: LoginError) -> ApiError {
    let message = e.to_string();
    match e {
        LoginError::InvalidCredentials => ApiError::new(StatusCode::UNAUTHORIZED, &message),
        LoginError::SecondFactorRequired => {
            ApiError::new(StatusCode::UNAUTHORIZED, &message).with("mfa_required", json!(true))
        }
        LoginError::Locked(l) => access::too_many(l),
        LoginError::NoTenant(_) | LoginError::SsoRequired { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, &message)
        }
        LoginError::Internal(e) => e.into(),
    }
}

async fn whoami(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(&state, &headers, peer, Method::GET, None).await?;
    let meta = &state.shared.platform.meta;
    let tenant = meta
        .tenant_by_id(&c.tenant_id)
        .await?
        .ok_or_else(|| not_found("tenant not found"))?;
    let tenant_json = json!({ "id": tenant.id.as_str(), "name": tenant.name });
    Ok(Json(match (&c.actor, &c.session) {
        (Actor::User { id, role }, Some(s)) => {
            let user = meta
                .user(id)
                .await?
                .ok_or_else(|| not_found("user not found"))?;
            let tenants: Vec<Value> = meta
                .user_memberships(id)
                .await?
                .into_iter()
                .map(|m| json!({ "name": m.tenant_name, "role": m.role.as_str() }))
                .collect();
            json!({
                "kind": "user",
                "user": { "id": id.as_str(), "email": user.email, "mfa": user.has_totp() },
                "tenant": tenant_json,
                "role": role.as_str(),
                "method": s.method.as_str(),
                "csrf_token": s.token.csrf_token(),
                "restricted": s.restricted,
                "tenants": tenants,
            })
        }
        (Actor::ApiKey { id, scopes }, _) => json!({
            "kind": "api_key",
            "key_id": id.as_str(),
            "scopes": scopes.to_string(),
            "tenant": tenant_json,
        }),
        _ => json!({ "kind": "unknown" }),
    }))
}

async fn sign_out(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = enter(&state, &headers, peer, Method::DELETE, None).await?;
    let Some(s) = &c.session else {
        return Err(bad_request(
            "API keys have no session; revoke the key instead",
        ));
    };
    let user = user_of(&c)?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    act(&c, &origin)
        .entry(&state.shared.audit, actions::SIGN_OUT, user.as_str())
        .around(state.shared.platform.meta.revoke_session(&s.token.hash()))
        .await
        .map_err(audit_unavailable)??;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        access::clear_session_cookie(state.shared.secure_cookies),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct SwitchTenant {
    tenant: String,
}

async fn switch_tenant(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ManageOwnAccount),
    )
    .await?;
    let req: SwitchTenant = json_body(&headers, &body)?;
    let user = user_of(&c)?;
    let s = c.session.as_ref().expect("users have sessions");
    let (tenant_id, name, role) = state
        .shared
        .accounts
        .choose_tenant(user, Some(&req.tenant))
        .await
        .map_err(login_error)?;
    let settings = state
        .shared
        .platform
        .meta
        .security_settings(&tenant_id)
        .await?;
    if settings.require_sso && s.method != scrim_meta::AuthMethod::Sso {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            &format!("tenant {name} requires single sign-on: /api/v1/sso/login?tenant={name}"),
        ));
    }
    let origin = Origin::of(&headers, Some(peer.ip()));
    state
        .shared
        .audit
        .entry(
            tenant_id.as_str(),
            crate::audit::actor_of(&c.actor),
            actions::SWITCH_TENANT,
            &origin,
        )
        .target(user.as_str())
        .detail("from_tenant", c.tenant_id.as_str())
        .around(
            state
                .shared
                .platform
                .meta
                .switch_session_tenant(&s.token.hash(), &tenant_id),
        )
        .await
        .map_err(audit_unavailable)??;
    Ok(Json(
        json!({ "tenant": { "id": tenant_id.as_str(), "name": name }, "role": role.as_str() }),
    ))
}

async fn sign_out_everywhere(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ManageOwnAccount),
    )
    .await?;
    let user = user_of(&c)?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    act(&c, &origin)
        .entry(
            &state.shared.audit,
            actions::SIGN_OUT_EVERYWHERE,
            user.as_str(),
        )
        .around(state.shared.platform.meta.revoke_user_sessions(user))
        .await
        .map_err(audit_unavailable)??;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        access::clear_session_cookie(state.shared.secure_cookies),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ManageOwnAccount),
    )
    .await?;
    let req: PasswordChange = json_body(&headers, &body)?;
    let user = load_user(&state, user_of(&c)?).await?;
    state
        .shared
        .accounts
        .change_password(
            &act(&c, &Origin::of(&headers, Some(peer.ip()))),
            &user,
            &req.current_password,
            &req.new_password,
        )
        .await?;
    let mut response = Json(json!({ "signed_out_everywhere": true })).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        access::clear_session_cookie(state.shared.secure_cookies),
    );
    Ok(response)
}

async fn load_user(state: &ApiState, id: &UserId) -> Result<scrim_meta::User, ApiError> {
    state
        .shared
        .platform
        .meta
        .user(id)
        .await?
        .ok_or_else(|| not_found("user not found"))
}

async fn begin_totp(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ManageOwnAccount),
    )
    .await?;
    let user = load_user(&state, user_of(&c)?).await?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let e = state
        .shared
        .accounts
        .begin_totp(&act(&c, &origin), &user)
        .await?;
    Ok(Json(json!({
        "secret": e.secret,
        "otpauth_uri": e.otpauth_uri,
        "qr_svg": e.qr_svg,
        "next": "POST /api/v1/me/mfa/totp/confirm with {\"code\": \"123456\"}",
    })))
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

async fn confirm_totp(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ManageOwnAccount),
    )
    .await?;
    let req: Code = json_body(&headers, &body)?;
    let user = load_user(&state, user_of(&c)?).await?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let codes = state
        .shared
        .accounts
        .confirm_totp(&act(&c, &origin), &user, &req.code)
        .await?;
    Ok(Json(json!({
        "recovery_codes": codes.iter().map(|c| c.expose()).collect::<Vec<_>>(),
        "note": "each recovery code works once; store them safely, they are not shown again",
    })))
}

async fn remove_totp(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::DELETE,
        Some(Permission::ManageOwnAccount),
    )
    .await?;
    let req: Code = json_body(&headers, &body)?;
    let user = load_user(&state, user_of(&c)?).await?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    state
        .shared
        .accounts
        .remove_totp(&act(&c, &origin), &user, &req.code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_members(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewMembers),
    )
    .await?;
    let members = state
        .shared
        .platform
        .meta
        .tenant_members(&c.tenant_id)
        .await?;
    let users: Vec<Value> = members
        .iter()
        .map(|m| {
            json!({
                "id": m.user.id.as_str(),
                "email": m.user.email,
                "display_name": m.user.display_name,
                "role": m.role.as_str(),
                "mfa": m.user.has_totp(),
                "sso": m.user.oidc.is_some(),
                "disabled": m.user.disabled_at.is_some(),
                "member_since": rfc3339(m.since),
            })
        })
        .collect();
    Ok(Json(json!({ "users": users })))
}

#[derive(Deserialize)]
struct AddMember {
    email: String,
    role: String,
    #[serde(default)]
    password: Option<String>,
}

fn parse_role(text: &str) -> Result<Role, ApiError> {
    text.parse()
        .map_err(|e: rbac::ParseRoleError| bad_request(e.to_string()))
}

async fn add_member(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ManageMembers),
    )
    .await?;
    let req: AddMember = json_body(&headers, &body)?;
    let role = parse_role(&req.role)?;
    let (user, initial) = state
        .shared
        .accounts
        .add_member(
            &act(&c, &Origin::of(&headers, Some(peer.ip()))),
            &c.tenant_id,
            &req.email,
            role,
            req.password.as_deref(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": user.id.as_str(),
            "email": user.email,
            "role": role.as_str(),
            "initial_password": initial,
        })),
    ))
}

#[derive(Deserialize)]
struct ChangeMember {
    role: String,
}

fn user_id(text: &str) -> Result<UserId, ApiError> {
    UserId::parse(text).ok_or_else(|| not_found("member not found"))
}

async fn change_member(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::PATCH,
        Some(Permission::ManageMembers),
    )
    .await?;
    let req: ChangeMember = json_body(&headers, &body)?;
    let role = parse_role(&req.role)?;
    let id = user_id(&id)?;
    member_change(&state, &c, &headers, peer, &id, Some(role)).await?;
    Ok(Json(json!({ "id": id.as_str(), "role": role.as_str() })))
}

async fn remove_member(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::DELETE,
        Some(Permission::ManageMembers),
    )
    .await?;
    let id = user_id(&id)?;
    member_change(&state, &c, &headers, peer, &id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn member_change(
    state: &ApiState,
    c: &Caller,
    headers: &HeaderMap,
    peer: SocketAddr,
    id: &UserId,
    role: Option<Role>,
) -> Result<(), ApiError> {
    let origin = Origin::of(headers, Some(peer.ip()));
    match state
        .shared
        .accounts
        .change_member(&act(c, &origin), &c.tenant_id, id, role)
        .await
    {
        Ok(()) => Ok(()),
        Err(crate::ServerError::Usage(m)) if m == "member not found" => Err(not_found(&m)),
        Err(e) => Err(e.into()),
    }
}

fn key_json(k: &scrim_meta::ApiKeyRecord) -> Value {
    json!({
        "id": k.id.as_str(),
        "name": k.name,
        "description": k.description,
        "scopes": k.scopes.to_string(),
        "created_at": rfc3339(k.created_at),
        "created_by": k.created_by,
        "expires_at": k.expires_at.map(rfc3339),
        "last_used_at": k.last_used_at.map(rfc3339),
        "last_used_addr": k.last_used_addr.map(|a| a.to_string()),
        "revoked_at": k.revoked_at.map(rfc3339),
    })
}

async fn list_keys(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewApiKeys),
    )
    .await?;
    let keys = state
        .shared
        .platform
        .meta
        .list_api_keys(&c.tenant_id)
        .await?;
    Ok(Json(
        json!({ "api_keys": keys.iter().map(key_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
struct CreateKey {
    scopes: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

async fn create_key(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::CreateApiKey),
    )
    .await?;
    let req: CreateKey = json_body(&headers, &body)?;
    let scopes: Scopes = req
        .scopes
        .parse()
        .map_err(|e: scrim_auth::ParseScopeError| bad_request(e.to_string()))?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let expires_at = match req.expires_in_days {
        Some(0) => return Err(bad_request("expires_in_days must be at least 1")),
        Some(d) => Some(SystemTime::now() + Duration::from_secs(u64::from(d.min(3650)) * 86_400)),
        None => None,
    };
    let mut entry = state
        .shared
        .audit
        .entry(
            c.tenant_id.as_str(),
            crate::audit::actor_of(&c.actor),
            actions::APIKEY_CREATE,
            &origin,
        )
        .detail("scopes", scopes.to_string())
        .detail("expires_at", expires_at.map(rfc3339));
    if let Some(name) = &req.name {
        entry = entry.detail("name", state.shared.scrub(name));
    }
    if let Err(e) = rbac::may_grant_scopes(&c.actor, scopes) {
        entry
            .denied(e.to_string())
            .await
            .map_err(audit_unavailable)?;
        return Err(ApiError::new(StatusCode::FORBIDDEN, &e.to_string()));
    }
    let (record, key) = crate::admin::create_api_key_recorded(
        &state.shared.platform,
        entry,
        &c.tenant_id,
        scopes,
        NewApiKey {
            name: req.name,
            description: req.description,
            expires_at,
            created_by: Some(c.actor.name().to_owned()),
        },
    )
    .await?;
    let mut body = key_json(&record);
    body["key"] = json!(key.expose());
    Ok((StatusCode::CREATED, Json(body)))
}

async fn revoke_key(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::DELETE,
        Some(Permission::CreateApiKey),
    )
    .await?;
    let id = KeyId::parse(&id).map_err(|_| not_found("API key not found"))?;
    let meta = &state.shared.platform.meta;
    let record = meta
        .api_key(&c.tenant_id, &id)
        .await?
        .ok_or_else(|| not_found("API key not found"))?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let entry = act(&c, &origin).entry(&state.shared.audit, actions::APIKEY_REVOKE, id.as_str());
    // Anyone who may create keys may revoke their own; others' need the permission.
    if record.created_by.as_deref() != Some(c.actor.name())
        && let Err(refused) = access::check(&c, Permission::RevokeApiKey)
    {
        entry
            .denied(refused.message.clone())
            .await
            .map_err(audit_unavailable)?;
        return Err(refused);
    }
    entry
        .around(meta.revoke_api_key(&c.tenant_id, &id))
        .await
        .map_err(audit_unavailable)??;
    Ok(StatusCode::NO_CONTENT)
}

async fn security_settings(
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
    let s = state
        .shared
        .platform
        .meta
        .security_settings(&c.tenant_id)
        .await?;
    Ok(Json(crate::admin::security_json(&s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    #[serde(default)]
    require_mfa: Option<bool>,
    #[serde(default)]
    require_sso: Option<bool>,
    /// `null` goes back to the server's default.
    #[serde(default, with = "double_option")]
    session_idle_minutes: Option<Option<u32>>,
    #[serde(default, with = "double_option")]
    session_absolute_minutes: Option<Option<u32>>,
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn set_security_settings(
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
    let req: SettingsChange = json_body(&headers, &body)?;
    let meta = &state.shared.platform.meta;
    let mut s = meta.security_settings(&c.tenant_id).await?;
    if let Some(v) = req.require_mfa {
        s.require_mfa = v;
    }
    if let Some(v) = req.require_sso {
        s.require_sso = v;
    }
    if let Some(v) = req.session_idle_minutes {
        s.session_idle_minutes = v;
    }
    if let Some(v) = req.session_absolute_minutes {
        s.session_absolute_minutes = v;
    }
    let origin = Origin::of(&headers, Some(peer.ip()));
    crate::admin::set_security_settings(
        &state.shared.platform,
        &act(&c, &origin),
        &c.tenant_id,
        &s,
    )
    .await?;
    Ok(Json(crate::admin::security_json(&s)))
}

async fn capture_policy(
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
    let tenant = state
        .shared
        .platform
        .meta
        .tenant_by_id(&c.tenant_id)
        .await?
        .ok_or_else(|| not_found("tenant not found"))?;
    Ok(Json(json!({
        "policy": tenant.capture_policy,
        "version": tenant.policy_version,
        "default": tenant.capture_policy.is_none(),
    })))
}

#[derive(Deserialize)]
struct PolicyChange {
    /// TOML (docs/capture-policy.md); `null` goes back to the server's policy.
    policy: Option<String>,
}

async fn set_capture_policy(
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
        Some(Permission::ManageCapturePolicy),
    )
    .await?;
    let req: PolicyChange = json_body(&headers, &body)?;
    let meta = &state.shared.platform.meta;
    let tenant = meta
        .tenant_by_id(&c.tenant_id)
        .await?
        .ok_or_else(|| not_found("tenant not found"))?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    crate::admin::set_capture_policy(
        &state.shared.platform,
        &act(&c, &origin),
        &tenant.name,
        req.policy.as_deref(),
    )
    .await?;
    let version = meta
        .tenant_by_id(&c.tenant_id)
        .await?
        .map(|t| t.policy_version)
        .unwrap_or_default();
    Ok(Json(
        json!({ "version": version, "default": req.policy.is_none() }),
    ))
}

/// How long the tenant's telemetry is kept, and the oldest data still kept.
async fn retention_settings(
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
    let meta = &state.shared.platform.meta;
    let tenant = meta
        .tenant_by_id(&c.tenant_id)
        .await?
        .ok_or_else(|| not_found("tenant not found"))?;
    let mut oldest: Option<i64> = None;
    for signal in [
        scrim_meta::Signal::Traces,
        scrim_meta::Signal::Logs,
        scrim_meta::Signal::Metrics,
    ] {
        let segments = meta
            .segments(&c.tenant_id, signal, scrim_meta::TimeRange::all(), None)
            .await?;
        for s in segments {
            oldest = Some(oldest.map_or(s.min_time_ns, |o| o.min(s.min_time_ns)));
        }
    }
    let cutoff = crate::retention::cutoff_ns(&tenant, SystemTime::now());
    Ok(Json(json!({
        "retention_days": tenant.retention_days,
        "removes_data_older_than": scrim_audit::utc_text(cutoff.div_euclid(1_000_000)),
        "oldest_stored_data": oldest.map(|ns| scrim_audit::utc_text(ns.div_euclid(1_000_000))),
        "note": "whole segments are removed once their newest data is past the retention; the job runs hourly",
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionChange {
    retention_days: u16,
}

async fn set_retention_settings(
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
    let req: RetentionChange = json_body(&headers, &body)?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    crate::admin::set_retention_days(
        &state.shared.platform,
        &act(&c, &origin),
        &c.tenant_id,
        req.retention_days,
    )
    .await?;
    Ok(Json(json!({ "retention_days": req.retention_days })))
}

/// The tenant's data key versions (ids and dates, never keys) and how many segments each
/// still encrypts.
async fn data_key_settings(
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
    let meta = &state.shared.platform.meta;
    let keys = meta.tenant_data_keys(&c.tenant_id).await?;
    let segments = meta.segments_per_key_version(&c.tenant_id).await?;
    let versions: Vec<Value> = keys
        .iter()
        .map(|k| {
            let n = segments
                .iter()
                .find(|(v, _)| *v == k.version)
                .map_or(0, |(_, n)| *n);
            json!({
                "version": k.version,
                "key_id": crate::tenant_keys::key_id(&c.tenant_id, k.version),
                "created_at": rfc3339(k.created_at),
                "segments": n,
            })
        })
        .collect();
    Ok(Json(json!({
        "current_version": keys.last().map(|k| k.version),
        "versions": versions,
        "note": "new data is written under the current key; older keys stay to read what was written under them until compaction rewrites it",
    })))
}

/// Rotates the tenant's data key: a new random key becomes current for everything written
/// from now on; older data stays readable.
async fn rotate_data_key(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ManageSecuritySettings),
    )
    .await?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let r = crate::tenant_keys::rotate_tenant_key(
        &state.shared.platform,
        &act(&c, &origin),
        &c.tenant_id,
    )
    .await?;
    // This node switches now; others at their next flush round (and before any read
    // that meets a segment under the new key). The rotation is done either way: if this
    // node cannot switch now, its next flush round does.
    if let Err(e) = state.shared.tenants.rotated(&c.tenant_id).await {
        tracing::warn!("tenant {}: switching to its new data key: {e}", c.tenant_id);
    }
    Ok(Json(json!({
        "from_key_id": r.from,
        "to_key_id": r.to,
        "version": r.version,
    })))
}

async fn access_review(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::AccessReview),
    )
    .await?;
    let meta = &state.shared.platform.meta;
    let tenant = meta
        .tenant_by_id(&c.tenant_id)
        .await?
        .ok_or_else(|| not_found("tenant not found"))?;
    let review = crate::review::access_review(meta, &tenant, SystemTime::now()).await?;
    Ok(Json(serde_json::to_value(review).map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
    })?))
}
