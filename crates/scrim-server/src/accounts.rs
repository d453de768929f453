//! People's accounts: signing in (password, second factor, lockout), TOTP enrolment,
//! passwords, and membership changes, for the REST API and the CLI alike.
//!
//! The pieces come from the library crates (scrim-auth decides, scrim-meta stores,
//! scrim-crypto seals); this module puts them in the order that keeps the rules:
//!
//! - a source address that keeps failing is refused before any account is looked up, and
//!   an account that keeps failing is locked on every node (the count is in the database);
//! - an unknown e-mail costs the same Argon2 work as a known one, and gets the same answer;
//! - a TOTP code is accepted once (the step is claimed atomically in the database), and a
//!   recovery code is consumed once;
//! - a TOTP secret is stored only sealed, under a platform "identity" key wrapped by the
//!   master key;
//! - a tenant that requires SSO accepts no password sign-in.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use scrim_auth::password::{self, PasswordError, PasswordHash};
use scrim_auth::rbac::{self, Actor, Permission, Role, UserId};
use scrim_auth::recovery::{self, RecoveryCode, RecoveryCodeHash};
use scrim_auth::totp::{self, TotpSecret};
use scrim_auth::{LockedOut, SessionTimeouts, SessionToken, Throttle, ThrottlePolicy};
use scrim_crypto::DataKey;
use scrim_meta::{
    AuthMethod, Meta, MetaError, NewSession, NewUser, SecuritySettings, TenantId, User,
};

use crate::audit::{AuditLog, Entry, Origin, actions, actor_of};
use crate::{Platform, ServerError};
use scrim_audit::PLATFORM_TENANT;

/// Name of the platform key that seals TOTP secrets, and its wrapping context.
const IDENTITY_KEY: &str = "identity";
const IDENTITY_KEY_CONTEXT: &[u8] = b"scrim platform key: identity";
/// The issuer name authenticator apps show.
const TOTP_ISSUER: &str = "Scrim";

/// Limits on failed sign-ins.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Consecutive failures that lock an account, and for how long.
    pub account_failures: u32,
    pub account_lockout: Duration,
    /// Failures from one source address, in any accounts or keys.
    pub address: ThrottlePolicy,
}

impl Default for LoginLimits {
    /// 5 failures lock an account for 15 minutes; 20 failures from one address within 15
    /// minutes refuse that address for 15 minutes.
    fn default() -> Self {
        LoginLimits {
            account_failures: 5,
            account_lockout: Duration::from_secs(15 * 60),
            address: ThrottlePolicy {
                max_failures: 20,
                window: Duration::from_secs(15 * 60),
                lockout: Duration::from_secs(15 * 60),
            },
        }
    }
}

/// What a sign-in presents.
pub struct LoginRequest<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// A TOTP code or a recovery code, when the account has a second factor.
    pub second_factor: Option<&'a str>,
    /// The tenant to act in, by name; `None`: the first of the user's tenants by name.
    pub tenant: Option<&'a str>,
    pub addr: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

impl LoginRequest<'_> {
    fn origin(&self) -> Origin {
        Origin {
            addr: self.addr,
            user_agent: self.user_agent.map(str::to_owned),
            request_id: self.request_id.map(str::to_owned),
        }
    }
}

/// Who does an account operation, from where, and which audit chain records it (the
/// caller's tenant for the API; the tenant concerned, or the platform's chain `-` for
/// account-wide operator actions, for the CLI).
#[derive(Debug, Clone)]
pub struct Act {
    pub actor: Actor,
    pub chain: String,
    pub origin: Origin,
}

impl Act {
    /// The operator at the command line, recorded in `chain` (a tenant id, or
    /// [`PLATFORM_TENANT`] for account-wide actions).
    pub fn operator(chain: &str) -> Act {
        Act {
            actor: Actor::Operator,
            chain: chain.to_owned(),
            origin: Origin::cli(),
        }
    }

    /// A record of this actor doing `action` to `target`, in this act's chain.
    /// An empty `target` is none (an account not yet created has no id to name).
    pub fn entry(&self, audit: &AuditLog, action: &'static str, target: &str) -> Entry {
        let entry = audit.entry(&self.chain, actor_of(&self.actor), action, &self.origin);
        if target.is_empty() {
            entry
        } else {
            entry.target(target)
        }
    }
}

/// Why a sign-in failed, for the audit record (never shown to the person).
struct Refusal {
    error: LoginError,
    reason: &'static str,
    user: Option<User>,
}

impl Refusal {
    fn new(error: LoginError, reason: &'static str, user: Option<&User>) -> Refusal {
        Refusal {
            error,
            reason,
            user: user.cloned(),
        }
    }
}

impl From<MetaError> for Refusal {
    fn from(e: MetaError) -> Self {
        Refusal::new(LoginError::from(e), "the metadata database failed", None)
    }
}

impl From<LoginError> for Refusal {
    fn from(e: LoginError) -> Self {
        let reason = match &e {
            LoginError::NoTenant(_) => "not a member of the tenant",
            LoginError::Locked(_) => "locked out",
            _ => "refused",
        };
        Refusal::new(e, reason, None)
    }
}

/// A successful sign-in: the cookie's token and who it is.
pub struct SignedIn {
    pub token: SessionToken,
    pub user: User,
    pub tenant_id: TenantId,
    pub tenant_name: String,
    pub role: Role,
    pub method: AuthMethod,
    /// The lifetimes of the new session (the tenant's, else the server's defaults).
    pub timeouts: SessionTimeouts,
}

/// Why a sign-in was refused. Messages are safe to show: they never say whether an e-mail
/// address has an account, except that a locked account says it is locked.
#[derive(Debug)]
pub enum LoginError {
    /// Wrong e-mail or password (or second factor), said the same way for all three.
    InvalidCredentials,
    /// The password was right; a TOTP or recovery code is needed too.
    SecondFactorRequired,
    /// Too many failures, from this address or on this account.
    Locked(LockedOut),
    /// The account belongs to no tenant, or not to the one asked for.
    NoTenant(String),
    /// The tenant accepts only single sign-on.
    SsoRequired {
        tenant: String,
    },
    Internal(ServerError),
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginError::InvalidCredentials => f.write_str("wrong e-mail, password or code"),
            LoginError::SecondFactorRequired => {
                f.write_str("a code from your authenticator app (or a recovery code) is required")
            }
            LoginError::Locked(l) => write!(f, "sign-in refused: {l}"),
            LoginError::NoTenant(m) => f.write_str(m),
            LoginError::SsoRequired { tenant } => write!(
                f,
                "tenant {tenant} requires single sign-on: /api/v1/sso/login?tenant={tenant}"
            ),
            LoginError::Internal(e) => write!(f, "{e}"),
        }
    }
}

impl From<MetaError> for LoginError {
    fn from(e: MetaError) -> Self {
        LoginError::Internal(e.into())
    }
}

/// What the first step of a browser sign-in gave.
pub enum FirstStep {
    SignedIn(Box<SignedIn>),
    /// The password was right; the account needs a code too. The ticket carries the
    /// proof to the second step.
    CodeNeeded {
        ticket: String,
    },
}

/// How long a password-step ticket is good for.
const TICKET_LIFETIME: Duration = Duration::from_secs(300);
const TICKET_AAD: &[u8] = b"scrim/login-ticket/v1";

/// The sealed content of a password-step ticket.
#[derive(serde::Serialize, serde::Deserialize)]
struct LoginTicket {
    user: String,
    tenant: Option<String>,
    /// SHA-256 of the sign-in form's cookie, hex.
    binding: String,
    expires_ms: i64,
}

fn binding_digest(binding: &str) -> String {
    use sha2::Digest;
    scrim_store::convert::hex(&sha2::Sha256::digest(binding.as_bytes()))
}

/// A TOTP enrolment waiting for its first code.
pub struct TotpEnrolment {
    /// Base32, for manual entry; shown once.
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// Account operations shared by every node's API and by the CLI.
pub struct Accounts {
    meta: Arc<Meta>,
    audit: AuditLog,
    identity_key: DataKey,
    limits: LoginLimits,
    /// Failures per source address (this node's view; accounts lock in the database).
    addresses: Arc<Throttle<IpAddr>>,
    /// Session lifetimes unless a tenant sets its own.
    pub default_timeouts: SessionTimeouts,
}

impl Accounts {
    /// Opens the identity key (creating it on first use) and the throttles.
    pub async fn open(platform: &Platform, limits: LoginLimits) -> Result<Accounts, ServerError> {
        let keys = Arc::clone(platform.keys());
        let wrapped = platform
            .meta()
            .platform_key(IDENTITY_KEY, || {
                let (_, wrapped) =
                    keys.new_data_key(IDENTITY_KEY_CONTEXT)
                        .map_err(|_| MetaError::Invalid {
                            field: "identity key",
                            reason: "the master key could not wrap a new key",
                        })?;
                Ok(wrapped)
            })
            .await?;
        let identity_key = platform.keys().unwrap(&wrapped, IDENTITY_KEY_CONTEXT)?;
        Ok(Accounts {
            meta: Arc::clone(platform.meta()),
            audit: platform.audit().clone(),
            identity_key,
            limits,
            addresses: Arc::new(Throttle::new(limits.address, 100_000)),
            default_timeouts: SessionTimeouts::default(),
        })
    }

    pub fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

    /// Seals a short-lived value (the SSO pending login) under the identity key.
    pub(crate) fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, ServerError> {
        Ok(scrim_crypto::seal(&self.identity_key, aad, plain)?)
    }

    /// Opens what [`Accounts::seal`] sealed with the same `aad`.
    pub(crate) fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, ServerError> {
        Ok(scrim_crypto::open(&self.identity_key, aad, sealed)?)
    }

    /// Failures per source address, shared with API-key checks.
    pub fn address_throttle(&self) -> Arc<Throttle<IpAddr>> {
        Arc::clone(&self.addresses)
    }

    /// The session lifetimes of `tenant`.
    pub fn timeouts(&self, settings: &SecuritySettings) -> SessionTimeouts {
        let minutes = |m: u32| Duration::from_secs(u64::from(m) * 60);
        SessionTimeouts {
            idle: settings
                .session_idle_minutes
                .map_or(self.default_timeouts.idle, minutes),
            absolute: settings
                .session_absolute_minutes
                .map_or(self.default_timeouts.absolute, minutes),
        }
    }

    /// Creates an account, with a password or (for SSO-only accounts) without.
    pub async fn create_user(
        &self,
        email: &str,
        display_name: Option<String>,
        password: Option<&str>,
    ) -> Result<User, ServerError> {
        let password_hash = match password {
            Some(p) => Some(hash(p)?.as_str().to_owned()),
            None => None,
        };
        Ok(self
            .meta
            .create_user(&NewUser {
                email: email.to_owned(),
                display_name,
                password_hash,
                oidc: None,
            })
            .await?)
    }

    /// Signs a person in with e-mail, password and, when enrolled, a second factor. Every
    /// attempt is recorded (`session.sign_in`): a success in the tenant signed in to, before
    /// the session is handed out (no record, no session); a failure, with its reason, in
    /// the tenant the person would have entered, or the platform's chain for an unknown
    /// e-mail address (by a digest of it, not the address).
    pub async fn login(&self, req: &LoginRequest<'_>) -> Result<SignedIn, LoginError> {
        self.login_with(req, None).await
    }

    /// The first step of a two-step sign-in in a browser: the password alone. When the
    /// account also needs a code, the answer is a ticket that proves the password was right
    /// for the next five minutes, sealed under the identity key (so any node of a
    /// scale-out deployment accepts it) and bound to `binding` (the sign-in form's
    /// double-submit cookie, so a ticket copied out of a page is useless without it).
    pub async fn login_first_step(
        &self,
        req: &LoginRequest<'_>,
        binding: &str,
    ) -> Result<FirstStep, LoginError> {
        match self.login_with(req, None).await {
            Ok(signed) => Ok(FirstStep::SignedIn(Box::new(signed))),
            Err(LoginError::SecondFactorRequired) => {
                let user = self
                    .meta
                    .user_by_email(req.email)
                    .await?
                    .ok_or(LoginError::InvalidCredentials)?;
                let ticket = LoginTicket {
                    user: user.id.as_str().to_owned(),
                    tenant: req.tenant.map(str::to_owned),
                    binding: binding_digest(binding),
                    expires_ms: crate::audit::now_ms()
                        .saturating_add(TICKET_LIFETIME.as_millis() as i64),
                };
                let plain = serde_json::to_vec(&ticket)
                    .map_err(|e| LoginError::Internal(ServerError::Usage(e.to_string())))?;
                let sealed = self
                    .seal(TICKET_AAD, &plain)
                    .map_err(LoginError::Internal)?;
                Ok(FirstStep::CodeNeeded {
                    ticket: scrim_store::convert::hex(&sealed),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The second step: the ticket of [`Accounts::login_first_step`] and a TOTP or
    /// recovery code. Wrong codes count towards the account's lockout as at one-step
    /// sign-in; an expired, forged or unbound ticket is refused like a wrong password.
    pub async fn login_second_step(
        &self,
        ticket: &str,
        binding: &str,
        code: &str,
        addr: Option<IpAddr>,
        user_agent: Option<&str>,
        request_id: Option<&str>,
    ) -> Result<SignedIn, LoginError> {
        // A ticket is a few hundred characters; anything much longer is not one.
        let ticket: LoginTicket = Some(ticket)
            .filter(|t| t.len() <= 4096)
            .and_then(scrim_store::convert::unhex)
            .and_then(|sealed| self.unseal(TICKET_AAD, &sealed).ok())
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .ok_or(LoginError::InvalidCredentials)?;
        if ticket.expires_ms < crate::audit::now_ms() || ticket.binding != binding_digest(binding) {
            return Err(LoginError::InvalidCredentials);
        }
        let user_id = UserId::parse(&ticket.user).ok_or(LoginError::InvalidCredentials)?;
        let user = self
            .meta
            .user(&user_id)
            .await?
            .ok_or(LoginError::InvalidCredentials)?;
        let req = LoginRequest {
            email: &user.email,
            password: "",
            second_factor: Some(code),
            tenant: ticket.tenant.as_deref(),
            addr,
            user_agent,
            request_id,
        };
        self.login_with(&req, Some(&user.id)).await
    }

    /// [`Accounts::login`]; `password_proven` names the user whose password a ticket
    /// already proved, so it is not asked again.
    async fn login_with(
        &self,
        req: &LoginRequest<'_>,
        password_proven: Option<&UserId>,
    ) -> Result<SignedIn, LoginError> {
        let origin = req.origin();
        match self.login_checked(req, password_proven).await {
            Ok(signed) => {
                let recorded = self
                    .audit
                    .entry(
                        signed.tenant_id.as_str(),
                        scrim_audit::Actor::User {
                            id: signed.user.id.as_str().to_owned(),
                        },
                        actions::SIGN_IN,
                        &origin,
                    )
                    .target(signed.user.id.as_str())
                    .detail("method", signed.method.as_str())
                    .success()
                    .await;
                if let Err(e) = recorded {
                    // The session exists in the database but nobody holds its token.
                    let _ = self.meta.revoke_session(&signed.token.hash()).await;
                    return Err(LoginError::Internal(e.into()));
                }
                Ok(signed)
            }
            Err(refusal) => {
                let (chain, actor) = match &refusal.user {
                    Some(u) => {
                        let chain = match self.choose_tenant(&u.id, req.tenant).await {
                            Ok((t, _, _)) => t.as_str().to_owned(),
                            Err(_) => PLATFORM_TENANT.to_owned(),
                        };
                        (
                            chain,
                            scrim_audit::Actor::User {
                                id: u.id.as_str().to_owned(),
                            },
                        )
                    }
                    None => (
                        PLATFORM_TENANT.to_owned(),
                        scrim_audit::Actor::System {
                            name: "anonymous".into(),
                        },
                    ),
                };
                let mut entry = self.audit.entry(&chain, actor, actions::SIGN_IN, &origin);
                entry = match &refusal.user {
                    Some(u) => entry.target(u.id.as_str()),
                    None => entry.detail("email_sha256", email_digest(req.email)),
                };
                if entry.denied(refusal.reason).await.is_err() {
                    tracing::warn!("a refused sign-in could not be recorded in the audit log");
                }
                Err(refusal.error)
            }
        }
    }

    async fn login_checked(
        &self,
        req: &LoginRequest<'_>,
        password_proven: Option<&UserId>,
    ) -> Result<SignedIn, Refusal> {
        let now = Instant::now();
        if let Some(addr) = req.addr {
            self.addresses.check(&addr, now).map_err(|l| {
                Refusal::new(
                    LoginError::Locked(l),
                    "too many failures from this address",
                    None,
                )
            })?;
        }
        let user = self.meta.user_by_email(req.email).await?;
        let Some(user) = user else {
            password::verify_without_account(req.password);
            return Err(Refusal::new(
                self.address_failed(req.addr, now),
                "unknown account",
                None,
            ));
        };
        if user.disabled_at.is_some() {
            password::verify_without_account(req.password);
            return Err(Refusal::new(
                self.address_failed(req.addr, now),
                "account disabled",
                Some(&user),
            ));
        }
        if let Some(until) = user.locked_until
            && let Ok(left) = until.duration_since(SystemTime::now())
        {
            return Err(Refusal::new(
                LoginError::Locked(LockedOut { retry_after: left }),
                "account locked after repeated failures",
                Some(&user),
            ));
        }
        let stored = user
            .password_hash
            .as_deref()
            .and_then(|h| PasswordHash::from_phc(h).ok());
        let Some(stored) = stored else {
            // An SSO-only account has no password to match.
            password::verify_without_account(req.password);
            let e = self.account_failed(&user, req.addr, now).await;
            return Err(Refusal::new(
                e,
                "the account has no password (single sign-on only)",
                Some(&user),
            ));
        };
        let proven = password_proven == Some(&user.id);
        if !proven && !password::verify_password(req.password, &stored) {
            let e = self.account_failed(&user, req.addr, now).await;
            return Err(Refusal::new(e, "wrong password", Some(&user)));
        }
        let method = if user.has_totp() {
            let Some(code) = req.second_factor.map(str::trim).filter(|c| !c.is_empty()) else {
                return Err(Refusal::new(
                    LoginError::SecondFactorRequired,
                    "second factor required",
                    Some(&user),
                ));
            };
            match self.check_second_factor(&user, code).await {
                Ok(Some(method)) => method,
                Ok(None) => {
                    let e = self.account_failed(&user, req.addr, now).await;
                    return Err(Refusal::new(e, "wrong second factor", Some(&user)));
                }
                Err(e) => {
                    return Err(Refusal::new(
                        e,
                        "the second factor could not be checked",
                        Some(&user),
                    ));
                }
            }
        } else {
            AuthMethod::Password
        };
        let (tenant_id, tenant_name, role) = self
            .choose_tenant(&user.id, req.tenant)
            .await
            .map_err(|e| Refusal::new(e, "not a member of the tenant", Some(&user)))?;
        let settings = self.meta.security_settings(&tenant_id).await?;
        if settings.require_sso {
            return Err(Refusal::new(
                LoginError::SsoRequired {
                    tenant: tenant_name,
                },
                "the tenant requires single sign-on",
                Some(&user),
            ));
        }
        self.meta.reset_login_failures(&user.id).await?;
        if let Some(addr) = req.addr {
            self.addresses.succeed(&addr, now);
        }
        if !proven
            && password::needs_rehash(&stored)
            && let Ok(fresh) = password::hash_password(req.password)
        {
            // Parameters moved on since this hash was made; a failure keeps the old one.
            let _ = self
                .meta
                .set_password_hash(&user.id, Some(fresh.as_str()))
                .await;
        }
        let token = self
            .start_session(&user.id, &tenant_id, method, req.addr, req.user_agent)
            .await?;
        Ok(SignedIn {
            token,
            user,
            tenant_id,
            tenant_name,
            role,
            method,
            timeouts: self.timeouts(&settings),
        })
    }

    /// Stores a new session and returns its token.
    pub async fn start_session(
        &self,
        user: &UserId,
        tenant: &TenantId,
        method: AuthMethod,
        addr: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<SessionToken, LoginError> {
        let token = SessionToken::generate()
            .map_err(|e| LoginError::Internal(ServerError::Usage(format!("no randomness: {e}"))))?;
        self.meta
            .create_session(&NewSession {
                hash: token.hash(),
                user_id: user.clone(),
                tenant_id: tenant.clone(),
                method,
                addr,
                user_agent: user_agent.map(str::to_owned),
            })
            .await?;
        Ok(token)
    }

    /// The tenant a sign-in acts in: the one named (if a member), else the first by name.
    pub async fn choose_tenant(
        &self,
        user: &UserId,
        wanted: Option<&str>,
    ) -> Result<(TenantId, String, Role), LoginError> {
        let memberships = self.meta.user_memberships(user).await?;
        let chosen = match wanted {
            Some(name) => memberships.into_iter().find(|m| m.tenant_name == name),
            None => memberships.into_iter().next(),
        };
        chosen
            .map(|m| (m.tenant_id, m.tenant_name, m.role))
            .ok_or_else(|| {
                LoginError::NoTenant(match wanted {
                    Some(_) => "this account is not a member of that tenant".into(),
                    None => "this account is not a member of any tenant".into(),
                })
            })
    }

    async fn check_second_factor(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Option<AuthMethod>, LoginError> {
        let digits = code.chars().filter(|c| !c.is_whitespace()).count();
        if digits == totp::TOTP_DIGITS as usize
            && code.chars().all(|c| c.is_ascii_digit() || c == ' ')
        {
            let Some(secret) = self.open_totp(user, user.totp_secret.as_deref())? else {
                return Ok(None);
            };
            let Ok(step) = totp::verify(&secret, code, unix_now(), user.totp_last_step) else {
                return Ok(None);
            };
            // Claimed atomically: the same code racing on two nodes succeeds once.
            let claimed = self.meta.accept_totp_step(&user.id, step).await?;
            return Ok(claimed.then_some(AuthMethod::PasswordTotp));
        }
        let stored = self.meta.recovery_code_hashes(&user.id).await?;
        let hashes: Vec<RecoveryCodeHash> = stored
            .iter()
            .filter_map(|h| RecoveryCodeHash::from_bytes(h))
            .collect();
        let Some(i) = recovery::find_match(code, &hashes) else {
            return Ok(None);
        };
        // Deleted in the database, so a racing sign-in with the same code gets `false`.
        let consumed = self
            .meta
            .consume_recovery_code(&user.id, &hashes[i].to_bytes())
            .await?;
        Ok(consumed.then_some(AuthMethod::PasswordRecovery))
    }

    fn address_failed(&self, addr: Option<IpAddr>, now: Instant) -> LoginError {
        if let Some(addr) = addr
            && let Some(locked) = self.addresses.fail(&addr, now)
        {
            tracing::warn!(%addr, "sign-ins from this address locked out after repeated failures");
            return LoginError::Locked(locked);
        }
        LoginError::InvalidCredentials
    }

    async fn account_failed(&self, user: &User, addr: Option<IpAddr>, now: Instant) -> LoginError {
        let by_address = self.address_failed(addr, now);
        match self
            .meta
            .record_login_failure(
                &user.id,
                self.limits.account_failures,
                self.limits.account_lockout,
            )
            .await
        {
            Ok(Some(until)) => {
                tracing::warn!(user = %user.id, "account locked after repeated failed sign-ins");
                LoginError::Locked(LockedOut {
                    retry_after: until.duration_since(SystemTime::now()).unwrap_or_default(),
                })
            }
            Ok(None) => by_address,
            Err(e) => LoginError::Internal(e.into()),
        }
    }

    fn open_totp(
        &self,
        user: &User,
        sealed: Option<&[u8]>,
    ) -> Result<Option<TotpSecret>, LoginError> {
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let bytes = scrim_crypto::open(&self.identity_key, &totp_aad(&user.id), sealed)
            .map_err(|e| LoginError::Internal(e.into()))?;
        Ok(TotpSecret::from_bytes(&bytes))
    }

    /// Starts TOTP enrolment: a new secret, sealed and stored as pending until
    /// [`Accounts::confirm_totp`] sees a code from it.
    pub async fn begin_totp(&self, act: &Act, user: &User) -> Result<TotpEnrolment, ServerError> {
        if user.has_totp() {
            return Err(ServerError::Usage(
                "this account already has an authenticator; remove it first".into(),
            ));
        }
        let secret = TotpSecret::generate().map_err(|e| ServerError::Usage(e.to_string()))?;
        let sealed = scrim_crypto::seal(
            &self.identity_key,
            &totp_aad(&user.id),
            secret.expose_bytes(),
        )?;
        let uri = totp::otpauth_uri(&secret, TOTP_ISSUER, &user.email);
        let qr_svg = totp::qr_svg(&uri).map_err(|e| ServerError::Usage(e.to_string()))?;
        act.entry(&self.audit, actions::MFA_BEGIN, user.id.as_str())
            .around(self.meta.set_totp_pending(&user.id, Some(&sealed)))
            .await??;
        Ok(TotpEnrolment {
            secret: secret.expose_base32(),
            otpauth_uri: uri,
            qr_svg,
        })
    }

    /// Finishes enrolment with a code from the new authenticator; returns the recovery
    /// codes, shown once.
    pub async fn confirm_totp(
        &self,
        act: &Act,
        user: &User,
        code: &str,
    ) -> Result<Vec<RecoveryCode>, ServerError> {
        let secret = self
            .open_totp(user, user.totp_pending.as_deref())
            .map_err(login_internal)?
            .ok_or_else(|| ServerError::Usage("no enrolment to confirm: start one first".into()))?;
        let step = totp::verify(&secret, code, unix_now(), None).map_err(|_| {
            ServerError::Usage("that code does not match; check the clock of the device".into())
        })?;
        let (codes, hashes) = recovery::generate_recovery_codes(recovery::RECOVERY_CODE_COUNT)
            .map_err(|e| ServerError::Usage(e.to_string()))?;
        let hashes: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_bytes().to_vec()).collect();
        act.entry(&self.audit, actions::MFA_ENABLE, user.id.as_str())
            .around(self.meta.confirm_totp(&user.id, step, &hashes))
            .await??;
        Ok(codes)
    }

    /// Removes the second factor after checking a current code (or a recovery code). A
    /// tenant of the user that requires MFA forbids it.
    pub async fn remove_totp(&self, act: &Act, user: &User, code: &str) -> Result<(), ServerError> {
        let entry = act.entry(&self.audit, actions::MFA_DISABLE, user.id.as_str());
        for m in self.meta.user_memberships(&user.id).await? {
            if self.meta.security_settings(&m.tenant_id).await?.require_mfa {
                let reason = format!(
                    "tenant {} requires multi-factor authentication",
                    m.tenant_name
                );
                entry.denied(reason.clone()).await?;
                return Err(ServerError::Usage(reason));
            }
        }
        match self
            .check_second_factor(user, code)
            .await
            .map_err(login_internal)?
        {
            Some(_) => Ok(entry.around(self.meta.remove_totp(&user.id)).await??),
            None => {
                entry.denied("wrong code").await?;
                Err(ServerError::Usage("that code does not match".into()))
            }
        }
    }

    /// The operator's reset of a lost authenticator: second factor and recovery codes
    /// removed, every session ended.
    pub async fn reset_mfa(&self, act: &Act, user: &UserId) -> Result<(), ServerError> {
        act.entry(&self.audit, actions::MFA_RESET, user.as_str())
            .around(async {
                self.meta.remove_totp(user).await?;
                self.meta.revoke_user_sessions(user).await
            })
            .await??;
        Ok(())
    }

    /// Changes a password after checking the current one; signs out every session.
    pub async fn change_password(
        &self,
        act: &Act,
        user: &User,
        current: &str,
        new: &str,
    ) -> Result<(), ServerError> {
        let entry = act.entry(&self.audit, actions::PASSWORD_CHANGE, user.id.as_str());
        let stored = user
            .password_hash
            .as_deref()
            .and_then(|h| PasswordHash::from_phc(h).ok());
        let ok = stored.is_some_and(|s| password::verify_password(current, &s));
        if !ok {
            entry.denied("wrong current password").await?;
            return Err(ServerError::Usage("the current password is wrong".into()));
        }
        let hashed = hash(new)?;
        entry
            .around(self.store_password(&user.id, &hashed))
            .await??;
        Ok(())
    }

    /// Sets a password (the operator's reset) and signs the account out everywhere.
    pub async fn set_password(
        &self,
        act: &Act,
        user: &UserId,
        new: &str,
    ) -> Result<(), ServerError> {
        let hashed = hash(new)?;
        act.entry(&self.audit, actions::PASSWORD_RESET, user.as_str())
            .around(self.store_password(user, &hashed))
            .await??;
        Ok(())
    }

    async fn store_password(&self, user: &UserId, hashed: &PasswordHash) -> Result<(), MetaError> {
        self.meta
            .set_password_hash(user, Some(hashed.as_str()))
            .await?;
        self.meta.revoke_user_sessions(user).await
    }

    /// Adds a person to a tenant, creating the account when the e-mail has none. Returns
    /// the account and, for a new account without a password given, a generated initial
    /// password to hand over once.
    pub async fn add_member(
        &self,
        act: &Act,
        tenant: &TenantId,
        email: &str,
        role: Role,
        password: Option<&str>,
    ) -> Result<(User, Option<String>), ServerError> {
        let existing = self.meta.user_by_email(email).await?;
        let target = existing.as_ref().map_or("", |u| u.id.as_str());
        let entry = act
            .entry(&self.audit, actions::MEMBER_ADD, target)
            .detail("role", role.as_str());
        if let Err(d) = rbac::may_assign_role(&act.actor, None, Some(role)) {
            entry.denied(d.to_string()).await?;
            return Err(denied(d));
        }
        if let Some(u) = &existing
            && self.meta.membership(&u.id, tenant).await?.is_some()
        {
            return Err(ServerError::Usage(format!(
                "{email} is already a member of this tenant"
            )));
        }
        let (user, initial) = match existing {
            Some(u) => {
                entry
                    .around(self.meta.add_membership(&u.id, tenant, role))
                    .await??;
                (u, None)
            }
            None => {
                let generated = match password {
                    Some(_) => None,
                    None => Some(
                        password::generate_initial_password()
                            .map_err(|e| ServerError::Usage(format!("no randomness: {e}")))?,
                    ),
                };
                let pw = password.or(generated.as_deref());
                let password_hash = match pw {
                    Some(p) => Some(hash(p)?.as_str().to_owned()),
                    None => None,
                };
                let new = NewUser {
                    email: email.to_owned(),
                    display_name: None,
                    password_hash,
                    oidc: None,
                };
                // The account's id is only known once it exists: the record names the
                // e-mail's digest and says the account is new.
                let entry = entry
                    .detail("new_account", true)
                    .detail("email_sha256", email_digest(email));
                let user = entry
                    .around(async {
                        let user = self.meta.create_user(&new).await?;
                        self.meta.add_membership(&user.id, tenant, role).await?;
                        Ok::<_, MetaError>(user)
                    })
                    .await??;
                (user, generated)
            }
        };
        Ok((user, initial))
    }

    /// Changes a member's role (`Some`) or removes them (`None`).
    pub async fn change_member(
        &self,
        act: &Act,
        tenant: &TenantId,
        user: &UserId,
        role: Option<Role>,
    ) -> Result<(), ServerError> {
        let current = self
            .meta
            .membership(user, tenant)
            .await?
            .ok_or_else(|| ServerError::Usage("member not found".into()))?;
        let action = if role.is_some() {
            actions::MEMBER_ROLE
        } else {
            actions::MEMBER_REMOVE
        };
        let entry = act.entry(&self.audit, action, user.as_str()).change(
            "role",
            current.as_str(),
            role.map(Role::as_str),
        );
        if let Err(d) = rbac::may_assign_role(&act.actor, Some(current), role) {
            entry.denied(d.to_string()).await?;
            return Err(denied(d));
        }
        entry
            .around(self.meta.change_membership(user, tenant, role))
            .await??;
        Ok(())
    }
}

/// The first 16 hex digits of the SHA-256 of a lower-cased e-mail address: enough to match
/// records of the same address, without storing it.
pub(crate) fn email_digest(email: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(email.trim().to_lowercase().as_bytes());
    scrim_audit::hex(&digest[..8])
}

/// Refusals from the access check, as the error the callers turn into 403.
pub(crate) fn denied(d: rbac::Denied) -> ServerError {
    ServerError::Forbidden(d.to_string())
}

fn login_internal(e: LoginError) -> ServerError {
    match e {
        LoginError::Internal(e) => e,
        other => ServerError::Usage(other.to_string()),
    }
}

fn hash(password: &str) -> Result<PasswordHash, ServerError> {
    password::hash_password(password).map_err(|e| match e {
        PasswordError::TooShort | PasswordError::TooLong => ServerError::Usage(e.to_string()),
        e => ServerError::Usage(format!("the password could not be stored: {e}")),
    })
}

fn totp_aad(user: &UserId) -> Vec<u8> {
    let mut aad = b"scrim totp secret\0".to_vec();
    aad.extend_from_slice(user.as_str().as_bytes());
    aad
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Whether a permission check passes, as [`ServerError::Forbidden`] when not.
pub fn check(actor: &Actor, permission: Permission) -> Result<(), ServerError> {
    rbac::authorize(actor, permission).map_err(denied)
}
