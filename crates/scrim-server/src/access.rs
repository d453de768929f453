//! Who is calling, and may they: the one access check every API route goes through.
//!
//! A request carries either an API key (`Authorization: Bearer scrim_…`) or a session
//! cookie. [`Gate::enter`] resolves it to a [`Caller`]: the tenant (from the key or the
//! session, never from request data), the [`Actor`], and for sessions the CSRF check on
//! every state-changing method. Then it asks [`scrim_auth::authorize`] for the route's
//! permission. Failed key checks are counted per source address and per key id, and a
//! source or key that keeps failing is refused with 429 before the database is asked.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use scrim_auth::rbac::{Actor, Permission};
use scrim_auth::{ApiKey, LockedOut, SessionToken, Throttle, ThrottlePolicy};
use scrim_meta::{AuthError, AuthMethod, Meta, Principal, TenantId};

use crate::accounts::Accounts;
use crate::api::ApiError;
use crate::audit::{AuditLog, Origin, actions};
use scrim_audit::Actor as AuditActor;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "scrim_session";
/// The header (or form field) that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Activity is written back at most this often per session (the idle timeout is this
/// precise).
const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// A resolved caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub tenant_id: TenantId,
    pub actor: Actor,
    pub session: Option<SessionCaller>,
}

/// What a session adds.
#[derive(Debug, Clone)]
pub(crate) struct SessionCaller {
    pub token: SessionToken,
    pub method: AuthMethod,
    /// Set when the tenant requires MFA or SSO and this session lacks it: only the
    /// caller's own account may be managed (to enrol), with this message for the rest.
    pub restricted: Option<String>,
}

/// Key-check failures per source address and per key id.
pub(crate) struct KeyGuard {
    addresses: Arc<Throttle<IpAddr>>,
    keys: Throttle<String>,
}

impl KeyGuard {
    /// 50 failures with one key id within 15 minutes lock that id for 15 minutes. Keys
    /// carry 160 random bits, so this is about noticing and slowing a guessing run; the
    /// cost is that someone who knows a key id (not the secret) can block it for a while.
    pub fn new(addresses: Arc<Throttle<IpAddr>>) -> KeyGuard {
        KeyGuard {
            addresses,
            keys: Throttle::new(
                ThrottlePolicy {
                    max_failures: 50,
                    window: Duration::from_secs(15 * 60),
                    lockout: Duration::from_secs(15 * 60),
                },
                100_000,
            ),
        }
    }
}

/// Why an API key was not accepted.
#[derive(Debug)]
pub(crate) enum KeyRefusal {
    Unauthenticated,
    Locked(LockedOut),
    Unavailable,
}

/// Everything the access check needs.
pub(crate) struct Gate {
    pub meta: Arc<Meta>,
    pub audit: AuditLog,
    pub accounts: Arc<Accounts>,
    pub keys: KeyGuard,
    /// (key id, address) pairs known to be recorded, so that the database is asked once
    /// per pair and process, not on every request.
    seen_addresses: Mutex<HashSet<(String, IpAddr)>>,
    /// When each revoked key's use was last recorded.
    revoked_uses: Mutex<std::collections::HashMap<String, Instant>>,
}

/// A revoked key's use is recorded at most this often per key and process.
const REVOKED_USE_EVERY: Duration = Duration::from_secs(3600);
/// A key unused this long is recorded when it comes back (`apikey.dormant_use`); the
/// detection decides by its own threshold (`dormant_key_days`, 30 by default), so this is
/// the smallest threshold it can have.
const DORMANT_RECORD_AFTER: Duration = Duration::from_secs(7 * 86_400);

/// Pairs remembered before the set is emptied (a bound on memory; forgetting costs one
/// indexed insert per pair).
const SEEN_ADDRESSES_MAX: usize = 100_000;

impl Gate {
    pub fn new(meta: Arc<Meta>, audit: AuditLog, accounts: Arc<Accounts>, keys: KeyGuard) -> Gate {
        Gate {
            meta,
            audit,
            accounts,
            keys,
            seen_addresses: Mutex::new(HashSet::new()),
            revoked_uses: Mutex::new(Default::default()),
        }
    }

    /// Checks a presented API key, with the failure counting of [`KeyGuard`]; the first use
    /// of a key from an address is recorded in the audit log (`apikey.new_address`), and
    /// refused if that record cannot be written.
    pub async fn authenticate_key(
        &self,
        presented: &str,
        origin: &Origin,
    ) -> Result<Principal, KeyRefusal> {
        let peer = origin.addr;
        let now = Instant::now();
        let guard = &self.keys;
        let key_id = ApiKey::parse(presented)
            .ok()
            .map(|k| k.id().as_str().to_owned());
        if let Some(addr) = peer {
            guard
                .addresses
                .check(&addr, now)
                .map_err(KeyRefusal::Locked)?;
        }
        if let Some(id) = &key_id {
            guard.keys.check(id, now).map_err(KeyRefusal::Locked)?;
        }
        match self.meta.authenticate_api_key(presented, peer).await {
            Ok(p) => {
                if let Some(addr) = peer {
                    self.note_address(&p, addr, origin).await?;
                }
                self.note_dormant_use(&p, origin).await?;
                Ok(p)
            }
            Err(AuthError::Revoked {
                tenant_id,
                key_id: revoked,
            }) => {
                self.note_revoked_use(&tenant_id, revoked.as_str(), origin)
                    .await;
                self.refuse(peer, &key_id, now)
            }
            Err(AuthError::Unavailable(e)) => {
                tracing::warn!("API key check failed: {e}");
                Err(KeyRefusal::Unavailable)
            }
            Err(_) => self.refuse(peer, &key_id, now),
        }
    }

    /// A refused key: counted against the address and the key id, locked out past the
    /// threshold.
    fn refuse(
        &self,
        peer: Option<IpAddr>,
        key_id: &Option<String>,
        now: Instant,
    ) -> Result<Principal, KeyRefusal> {
        let guard = &self.keys;
        let mut locked = None;
        if let Some(addr) = peer {
            locked = guard.addresses.fail(&addr, now);
        }
        if let Some(id) = key_id {
            locked = guard.keys.fail(id, now).or(locked);
        }
        match locked {
            Some(l) => {
                tracing::warn!(addr = ?peer, "API key checks locked out after repeated failures");
                Err(KeyRefusal::Locked(l))
            }
            None => Err(KeyRefusal::Unauthenticated),
        }
    }

    /// Records a revoked key presented with its right secret (`apikey.revoked_use`,
    /// `denied`) in its tenant's chain, at most once an hour per key in this process: an
    /// application or an attacker still holds it. Best effort: the request is refused
    /// either way.
    async fn note_revoked_use(&self, tenant: &scrim_meta::TenantId, key_id: &str, origin: &Origin) {
        {
            let mut seen = self.revoked_uses.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if seen
                .get(key_id)
                .is_some_and(|t| now.duration_since(*t) < REVOKED_USE_EVERY)
            {
                return;
            }
            if seen.len() >= SEEN_ADDRESSES_MAX {
                seen.clear();
            }
            seen.insert(key_id.to_owned(), now);
        }
        let written = self
            .audit
            .entry(
                tenant.as_str(),
                AuditActor::ApiKey {
                    id: key_id.to_owned(),
                },
                actions::APIKEY_REVOKED_USE,
                origin,
            )
            .target(key_id.to_owned())
            .denied("the key is revoked")
            .await;
        if written.is_err() {
            tracing::warn!("the use of a revoked key could not be recorded in the audit log");
        }
    }

    /// Records a key's return after [`DORMANT_RECORD_AFTER`] unused
    /// (`apikey.dormant_use`, with `idle_days`); refused if that record cannot be written.
    async fn note_dormant_use(&self, p: &Principal, origin: &Origin) -> Result<(), KeyRefusal> {
        let Some(idle) = p
            .last_used_at
            .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
        else {
            return Ok(());
        };
        if idle < DORMANT_RECORD_AFTER {
            return Ok(());
        }
        self.audit
            .entry(
                p.tenant_id.as_str(),
                AuditActor::ApiKey {
                    id: p.key_id.as_str().to_owned(),
                },
                actions::APIKEY_DORMANT_USE,
                origin,
            )
            .target(p.key_id.as_str().to_owned())
            .detail("idle_days", idle.as_secs() / 86_400)
            .success()
            .await
            .map(|_| ())
            .map_err(|_| KeyRefusal::Unavailable)
    }

    /// Records the first use of `p`'s key from `addr`, once per pair across every node.
    async fn note_address(
        &self,
        p: &Principal,
        addr: IpAddr,
        origin: &Origin,
    ) -> Result<(), KeyRefusal> {
        let pair = (p.key_id.as_str().to_owned(), addr);
        if self.seen().contains(&pair) {
            return Ok(());
        }
        let now = crate::audit::now_ms();
        let new = self
            .meta
            .note_key_address(&pair.0, addr, now)
            .await
            .map_err(|e| {
                tracing::warn!("recording a key's address: {e}");
                KeyRefusal::Unavailable
            })?;
        if new {
            let written = self
                .audit
                .entry(
                    p.tenant_id.as_str(),
                    AuditActor::ApiKey { id: pair.0.clone() },
                    actions::APIKEY_NEW_ADDRESS,
                    origin,
                )
                .target(pair.0.clone())
                // The first address a key is used from is not news for the detections.
                .detail("first_address", p.last_used_at.is_none())
                .success()
                .await;
            if written.is_err() {
                // Forget the address again, so that the next use tries the record again.
                let _ = self.meta.forget_key_address(&pair.0, addr).await;
                return Err(KeyRefusal::Unavailable);
            }
        }
        let mut seen = self.seen();
        if seen.len() >= SEEN_ADDRESSES_MAX {
            seen.clear();
        }
        seen.insert(pair);
        Ok(())
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashSet<(String, IpAddr)>> {
        self.seen_addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves the caller and checks `permission` (`None`: any signed-in caller).
    pub async fn enter(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        method: &Method,
        permission: Option<Permission>,
    ) -> Result<Caller, ApiError> {
        let caller = self.identify(headers, peer, method).await?;
        if let Some(p) = permission
            && let Err(refused) = check(&caller, p)
        {
            // Who tried what they may not do: recorded; the answer is the refusal either way.
            let written = self
                .audit
                .entry(
                    caller.tenant_id.as_str(),
                    crate::audit::actor_of(&caller.actor),
                    actions::ACCESS_DENIED,
                    &Origin::of(headers, peer),
                )
                .target(p.as_str())
                .detail("method", method.as_str())
                .denied(refused.message.clone())
                .await;
            if written.is_err() {
                tracing::warn!("a refused request could not be recorded in the audit log");
            }
            return Err(refused);
        }
        Ok(caller)
    }

    async fn identify(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        method: &Method,
    ) -> Result<Caller, ApiError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let presented = value
                .to_str()
                .ok()
                .and_then(crate::ingest::bearer)
                .ok_or_else(|| unauthorized("expected Authorization: Bearer scrim_…"))?;
            let p = self
                .authenticate_key(presented, &Origin::of(headers, peer))
                .await
                .map_err(|r| match r {
                    KeyRefusal::Unauthenticated => {
                        unauthorized("a valid API key is required: Authorization: Bearer scrim_…")
                    }
                    KeyRefusal::Locked(l) => too_many(l),
                    KeyRefusal::Unavailable => ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the key could not be checked; try again",
                    ),
                })?;
            return Ok(Caller {
                tenant_id: p.tenant_id,
                actor: Actor::ApiKey {
                    id: p.key_id,
                    scopes: p.scopes,
                },
                session: None,
            });
        }
        let Some(token) = cookie(headers, SESSION_COOKIE).and_then(SessionToken::parse) else {
            return Err(unauthorized(
                "sign in (POST /api/v1/session) or send an API key (Authorization: Bearer scrim_…)",
            ));
        };
        let hash = token.hash();
        let record = self
            .meta
            .session(&hash)
            .await
            .map_err(unavailable)?
            .filter(|r| !r.is_void())
            .ok_or_else(|| unauthorized("the session has ended; sign in again"))?;
        let settings = self
            .meta
            .security_settings(&record.tenant_id)
            .await
            .map_err(unavailable)?;
        let now = SystemTime::now();
        self.accounts
            .timeouts(&settings)
            .check(record.created_at, record.last_seen_at, now)
            .map_err(|end| unauthorized(&format!("{end}; sign in again")))?;
        // The role is read on every request: a change or removal applies at once.
        let role = self
            .meta
            .membership(&record.user_id, &record.tenant_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| unauthorized("you are no longer a member of this tenant"))?;
        if is_state_changing(method) {
            let presented = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !token.check_csrf(presented) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "missing or wrong CSRF token: send the session's csrf_token in X-CSRF-Token",
                ));
            }
        }
        if now
            .duration_since(record.last_seen_at)
            .is_ok_and(|d| d >= TOUCH_EVERY)
            && let Err(e) = self.meta.touch_session(&hash, now).await
        {
            tracing::warn!("could not record session activity: {e}");
        }
        let restricted = if settings.require_sso && record.method != AuthMethod::Sso {
            Some(
                "this tenant requires single sign-on; sign in again through /api/v1/sso/login"
                    .into(),
            )
        } else if settings.require_mfa && !record.method.is_multi_factor() {
            Some(
                "this tenant requires multi-factor authentication: enrol an authenticator \
                 (POST /api/v1/me/mfa/totp), then sign in again with a code"
                    .into(),
            )
        } else {
            None
        };
        Ok(Caller {
            tenant_id: record.tenant_id,
            actor: Actor::User {
                id: record.user_id,
                role,
            },
            session: Some(SessionCaller {
                token,
                method: record.method,
                restricted,
            }),
        })
    }
}

/// The permission check on a resolved caller.
pub(crate) fn check(caller: &Caller, permission: Permission) -> Result<(), ApiError> {
    if let Some(restriction) = caller.session.as_ref().and_then(|s| s.restricted.as_ref())
        && permission != Permission::ManageOwnAccount
    {
        return Err(ApiError::new(StatusCode::FORBIDDEN, restriction));
    }
    scrim_auth::authorize(&caller.actor, permission)
        .map_err(|d| ApiError::new(StatusCode::FORBIDDEN, &d.to_string()))
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The value of cookie `name`, if the request carries it once or more (the first wins).
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// `Set-Cookie` for a session token; `secure` adds `Secure` (the listener speaks TLS).
pub(crate) fn session_cookie(token: &SessionToken, max_age: Duration, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        token.expose(),
        max_age.as_secs()
    ))
    .expect("base32 and digits are valid header text")
}

/// `Set-Cookie` that removes the session cookie.
pub(crate) fn clear_session_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .expect("static")
}

pub(crate) fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

pub(crate) fn too_many(l: LockedOut) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, &l.to_string())
        .retry_after(l.retry_after.as_secs().max(1))
}

fn unavailable(e: scrim_meta::MetaError) -> ApiError {
    tracing::warn!("access check: {e}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the metadata database did not answer; try again",
    )
}
