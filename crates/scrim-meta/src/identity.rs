//! People: users, their memberships (a role per tenant), second factors, recovery codes,
//! browser sessions and tenants' security settings.
//!
//! This module stores; it decides nothing. Password hashes, sealed TOTP secrets and
//! recovery-code hashes arrive already made (scrim-auth, scrim-crypto) and are returned as
//! opaque values. The few rules that must hold across nodes are enforced here, in SQL, so
//! that two nodes racing cannot break them: a TOTP time step is accepted once, a recovery
//! code is consumed once, and a tenant never loses its last owner.

use std::fmt;
use std::net::IpAddr;
use std::time::SystemTime;

use scrim_auth::{Role, SessionHash, UserId};
use sqlx::Row;

use crate::BeginWrite as _;
use crate::error::{MetaError, classify};
use crate::{Meta, TenantId, from_ms, now_ms, on_pool, to_ms};

/// A stored account. `Debug` leaves out every credential.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lower-cased.
    pub email: String,
    pub display_name: Option<String>,
    /// Argon2id in PHC form; `None` for an SSO-only account.
    pub password_hash: Option<String>,
    /// Sealed TOTP secret; `None` when the account has no second factor.
    pub totp_secret: Option<Vec<u8>>,
    /// Sealed secret of an enrolment not yet confirmed.
    pub totp_pending: Option<Vec<u8>>,
    pub totp_last_step: Option<u64>,
    pub failed_logins: u32,
    pub locked_until: Option<SystemTime>,
    /// Sessions created before this are void.
    pub sessions_valid_after: SystemTime,
    /// `(issuer, subject)` of an account linked to an OpenID provider.
    pub oidc: Option<(String, String)>,
    pub created_at: SystemTime,
    pub disabled_at: Option<SystemTime>,
}

impl User {
    pub fn has_totp(&self) -> bool {
        self.totp_secret.is_some()
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("has_password", &self.password_hash.is_some())
            .field("has_totp", &self.has_totp())
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// What [`Meta::create_user`] needs.
#[derive(Clone, Default)]
pub struct NewUser {
    pub email: String,
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    /// `(issuer, subject)` for an account created by SSO.
    pub oidc: Option<(String, String)>,
}

/// A person in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub since: SystemTime,
}

/// A tenant a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    pub role: Role,
}

/// How a session was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Password,
    PasswordTotp,
    PasswordRecovery,
    Sso,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::PasswordTotp => "password+totp",
            AuthMethod::PasswordRecovery => "password+recovery",
            AuthMethod::Sso => "sso",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            AuthMethod::Password,
            AuthMethod::PasswordTotp,
            AuthMethod::PasswordRecovery,
            AuthMethod::Sso,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// Whether a second factor was shown (an SSO sign-in counts: the provider owns it).
    pub fn is_multi_factor(self) -> bool {
        !matches!(self, AuthMethod::Password)
    }
}

/// What [`Meta::create_session`] stores.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub hash: SessionHash,
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub method: AuthMethod,
    pub addr: Option<IpAddr>,
    /// Truncated to 300 bytes.
    pub user_agent: Option<String>,
}

/// A stored session, with what its user's account says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub method: AuthMethod,
    pub created_at: SystemTime,
    pub last_seen_at: SystemTime,
    pub revoked_at: Option<SystemTime>,
    /// The user's "sign out everywhere" instant.
    pub user_sessions_valid_after: SystemTime,
    pub user_disabled: bool,
}

impl SessionRecord {
    /// Revoked, signed out everywhere, or the account disabled.
    pub fn is_void(&self) -> bool {
        self.revoked_at.is_some()
            || self.created_at < self.user_sessions_valid_after
            || self.user_disabled
    }
}

/// A tenant's security settings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecuritySettings {
    /// Every member must sign in with a second factor.
    pub require_mfa: bool,
    /// Members must sign in through the tenant's OpenID provider.
    pub require_sso: bool,
    /// OpenID Connect settings as JSON, without the client secret.
    pub sso_config: Option<String>,
    /// The OIDC client secret, sealed under the tenant's data key.
    pub sso_client_secret: Option<Vec<u8>>,
    pub session_idle_minutes: Option<u32>,
    pub session_absolute_minutes: Option<u32>,
}

impl fmt::Debug for SecuritySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecuritySettings")
            .field("require_mfa", &self.require_mfa)
            .field("require_sso", &self.require_sso)
            .field("sso_configured", &self.sso_config.is_some())
            .field("session_idle_minutes", &self.session_idle_minutes)
            .field("session_absolute_minutes", &self.session_absolute_minutes)
            .finish_non_exhaustive()
    }
}

/// A tenant's AI diagnostics settings as stored ([`Meta::ai_settings`]).
#[derive(Clone, Default, PartialEq)]
pub struct AiSettingsRow {
    /// The settings as JSON, without the provider's API key.
    pub config: Option<String>,
    /// The provider's API key, sealed under a key derived from the tenant's data key.
    pub sealed_api_key: Option<Vec<u8>>,
}

impl fmt::Debug for AiSettingsRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AiSettingsRow")
            .field("configured", &self.config.is_some())
            .field("api_key_set", &self.sealed_api_key.is_some())
            .finish()
    }
}

const MAX_EMAIL: usize = 254;
const MAX_DISPLAY_NAME: usize = 200;
const MAX_USER_AGENT: usize = 300;
const MAX_SSO_CONFIG: usize = 64 * 1024;

const USER_COLUMNS: &str = "id, email, display_name, password_hash, totp_secret, totp_pending, \
     totp_last_step, failed_logins, locked_until, sessions_valid_after, oidc_issuer, \
     oidc_subject, created_at, disabled_at";

macro_rules! user_from_row {
    ($row:expr) => {{
        let row = $row;
        let id: String = row.try_get("id")?;
        let last_step: Option<i64> = row.try_get("totp_last_step")?;
        let failed: i32 = row.try_get("failed_logins")?;
        let locked: Option<i64> = row.try_get("locked_until")?;
        let disabled: Option<i64> = row.try_get("disabled_at")?;
        let issuer: Option<String> = row.try_get("oidc_issuer")?;
        let subject: Option<String> = row.try_get("oidc_subject")?;
        User {
            id: UserId::parse(&id).ok_or(MetaError::Corrupt { what: "user id" })?,
            email: row.try_get("email")?,
            display_name: row.try_get("display_name")?,
            password_hash: row.try_get("password_hash")?,
            totp_secret: row.try_get("totp_secret")?,
            totp_pending: row.try_get("totp_pending")?,
            totp_last_step: last_step.and_then(|s| u64::try_from(s).ok()),
            failed_logins: u32::try_from(failed).unwrap_or(0),
            locked_until: locked.map(from_ms),
            sessions_valid_after: from_ms(row.try_get("sessions_valid_after")?),
            oidc: issuer.zip(subject),
            created_at: from_ms(row.try_get("created_at")?),
            disabled_at: disabled.map(from_ms),
        }
    }};
}

fn role_of(text: &str) -> Result<Role, MetaError> {
    text.parse()
        .map_err(|_| MetaError::Corrupt { what: "role" })
}

/// Lower-cases and checks an e-mail address used as a sign-in name.
pub fn normalize_email(email: &str) -> Result<String, MetaError> {
    let email = email.trim().to_lowercase();
    let ok = email.len() <= MAX_EMAIL
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email)
    } else {
        Err(MetaError::Invalid {
            field: "email",
            reason: "expected one address like name@example.com, at most 254 bytes",
        })
    }
}

impl Meta {
    /// Creates an account.
    pub async fn create_user(&self, new: &NewUser) -> Result<User, MetaError> {
        let email = normalize_email(&new.email)?;
        if new
            .display_name
            .as_ref()
            .is_some_and(|n| n.len() > MAX_DISPLAY_NAME)
        {
            return Err(MetaError::Invalid {
                field: "display name",
                reason: "must be at most 200 bytes",
            });
        }
        let id = UserId::generate()?;
        let created_at = now_ms();
        let (issuer, subject) = new.oidc.clone().unzip();
        let sql = "INSERT INTO users (id, email, display_name, password_hash, oidc_issuer, \
                   oidc_subject, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id.as_str())
                .bind(&email)
                .bind(new.display_name.as_deref())
                .bind(new.password_hash.as_deref())
                .bind(issuer.as_deref())
                .bind(subject.as_deref())
                .bind(created_at)
                .execute(pool)
                .await
                .map_err(|e| classify(e, "user with this email or SSO identity", "user"))?;
        });
        self.user(&id)
            .await?
            .ok_or(MetaError::NotFound { what: "user" })
    }

    async fn user_where(&self, clause: &str, binds: &[&str]) -> Result<Option<User>, MetaError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {clause}");
        on_pool!(self, pool => {
            let mut q = sqlx::query(&sql);
            for b in binds {
                q = q.bind(*b);
            }
            match q.fetch_optional(pool).await? {
                Some(row) => Ok(Some(user_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    pub async fn user(&self, id: &UserId) -> Result<Option<User>, MetaError> {
        self.user_where("id = $1", &[id.as_str()]).await
    }

    /// The account signing in with `email` (compared lower-cased).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, MetaError> {
        let Ok(email) = normalize_email(email) else {
            return Ok(None);
        };
        self.user_where("email = $1", &[&email]).await
    }

    pub async fn user_by_oidc(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, MetaError> {
        self.user_where("oidc_issuer = $1 AND oidc_subject = $2", &[issuer, subject])
            .await
    }

    /// Every account, oldest first (platform administration).
    pub async fn list_users(&self) -> Result<Vec<User>, MetaError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id");
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(user_from_row!(row));
            }
            Ok(out)
        })
    }

    async fn update_user(
        &self,
        sql: &str,
        id: &UserId,
        bind: UserBind<'_>,
    ) -> Result<(), MetaError> {
        let affected = on_pool!(self, pool => {
            let q = sqlx::query(sql);
            let q = match bind {
                UserBind::None => q,
                UserBind::Text(t) => q.bind(t),
                UserBind::Bytes(b) => q.bind(b),
                UserBind::Int(i) => q.bind(i),
            };
            q.bind(id.as_str()).execute(pool).await?.rows_affected()
        });
        if affected == 0 {
            return Err(MetaError::NotFound { what: "user" });
        }
        Ok(())
    }

    /// Sets (or, with `None`, removes) the password.
    pub async fn set_password_hash(
        &self,
        id: &UserId,
        hash: Option<&str>,
    ) -> Result<(), MetaError> {
        self.update_user(
            "UPDATE users SET password_hash = $1 WHERE id = $2",
            id,
            UserBind::Text(hash),
        )
        .await
    }

    /// Links an account to an OpenID identity.
    pub async fn link_oidc(
        &self,
        id: &UserId,
        issuer: &str,
        subject: &str,
    ) -> Result<(), MetaError> {
        let sql = "UPDATE users SET oidc_issuer = $1, oidc_subject = $2 WHERE id = $3";
        let affected = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(issuer)
                .bind(subject)
                .bind(id.as_str())
                .execute(pool)
                .await
                .map_err(|e| classify(e, "user with this SSO identity", "user"))?
                .rows_affected()
        });
        if affected == 0 {
            return Err(MetaError::NotFound { what: "user" });
        }
        Ok(())
    }

    /// Disables (`true`) or re-enables an account. Disabling voids its sessions at once.
    pub async fn set_user_disabled(&self, id: &UserId, disabled: bool) -> Result<(), MetaError> {
        let now = now_ms();
        self.update_user(
            "UPDATE users SET disabled_at = $1 WHERE id = $2",
            id,
            UserBind::Int(disabled.then_some(now)),
        )
        .await
    }

    /// Counts a failed sign-in; at `max_failures` consecutive failures the account locks
    /// until `now + lockout`. Returns the lock's end if the account is (now) locked.
    pub async fn record_login_failure(
        &self,
        id: &UserId,
        max_failures: u32,
        lockout: std::time::Duration,
    ) -> Result<Option<SystemTime>, MetaError> {
        let now = now_ms();
        let until = now.saturating_add(i64::try_from(lockout.as_millis()).unwrap_or(i64::MAX));
        let max = i32::try_from(max_failures).unwrap_or(i32::MAX);
        // One statement, so concurrent failures on several nodes all count.
        let sql = "UPDATE users SET failed_logins = failed_logins + 1, \
                   locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END \
                   WHERE id = $3 RETURNING locked_until";
        let locked: Option<i64> = on_pool!(self, pool => {
            let row = sqlx::query(sql)
                .bind(max)
                .bind(until)
                .bind(id.as_str())
                .fetch_optional(pool)
                .await?
                .ok_or(MetaError::NotFound { what: "user" })?;
            row.try_get("locked_until")?
        });
        Ok(locked.filter(|&l| l > now).map(from_ms))
    }

    /// Clears the failure count after a successful sign-in (and an ended lock).
    pub async fn reset_login_failures(&self, id: &UserId) -> Result<(), MetaError> {
        self.update_user(
            "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1",
            id,
            UserBind::None,
        )
        .await
    }

    /// Stores the sealed secret of a TOTP enrolment that waits for its first code.
    pub async fn set_totp_pending(
        &self,
        id: &UserId,
        sealed: Option<&[u8]>,
    ) -> Result<(), MetaError> {
        self.update_user(
            "UPDATE users SET totp_pending = $1 WHERE id = $2",
            id,
            UserBind::Bytes(sealed),
        )
        .await
    }

    /// Confirms the pending enrolment: it becomes the account's TOTP secret, `step` (the
    /// step of the confirming code) is recorded as used, and `recovery` replaces every
    /// recovery code. One transaction.
    pub async fn confirm_totp(
        &self,
        id: &UserId,
        step: u64,
        recovery: &[Vec<u8>],
    ) -> Result<(), MetaError> {
        let step = i64::try_from(step).map_err(|_| MetaError::Invalid {
            field: "TOTP step",
            reason: "out of range",
        })?;
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let affected = sqlx::query(
                "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, \
                 totp_last_step = $1 WHERE id = $2 AND totp_pending IS NOT NULL",
            )
            .bind(step)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if affected == 0 {
                return Err(MetaError::NotFound { what: "pending TOTP enrolment" });
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            for hash in recovery {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(id.as_str())
                    .bind(hash.as_slice())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Accepts TOTP time step `step` for the account if no step at or after it was
    /// accepted before: the replay check, atomic across nodes.
    pub async fn accept_totp_step(&self, id: &UserId, step: u64) -> Result<bool, MetaError> {
        let step = i64::try_from(step).map_err(|_| MetaError::Invalid {
            field: "TOTP step",
            reason: "out of range",
        })?;
        let sql = "UPDATE users SET totp_last_step = $1 WHERE id = $2 \
                   AND totp_secret IS NOT NULL \
                   AND (totp_last_step IS NULL OR totp_last_step < $1)";
        let affected = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(step)
                .bind(id.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(affected == 1)
    }

    /// Removes the second factor and every recovery code.
    pub async fn remove_totp(&self, id: &UserId) -> Result<(), MetaError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let affected = sqlx::query(
                "UPDATE users SET totp_secret = NULL, totp_pending = NULL, \
                 totp_last_step = NULL WHERE id = $1",
            )
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if affected == 0 {
                return Err(MetaError::NotFound { what: "user" });
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The stored hashes of the account's unused recovery codes.
    pub async fn recovery_code_hashes(&self, id: &UserId) -> Result<Vec<Vec<u8>>, MetaError> {
        let sql = "SELECT code_hash FROM recovery_codes WHERE user_id = $1";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(id.as_str()).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(row.try_get("code_hash")?);
            }
            Ok(out)
        })
    }

    /// Deletes one recovery code; `false` if it was already gone (used by a racing
    /// sign-in), in which case it must not be accepted.
    pub async fn consume_recovery_code(&self, id: &UserId, hash: &[u8]) -> Result<bool, MetaError> {
        let sql = "DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2";
        let affected = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id.as_str())
                .bind(hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(affected == 1)
    }

    /// Adds `user` to `tenant` with `role`.
    pub async fn add_membership(
        &self,
        user: &UserId,
        tenant: &TenantId,
        role: Role,
    ) -> Result<(), MetaError> {
        let sql = "INSERT INTO memberships (user_id, tenant_id, role, created_at) \
                   VALUES ($1, $2, $3, $4)";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(user.as_str())
                .bind(tenant.as_str())
                .bind(role.as_str())
                .bind(now_ms())
                .execute(pool)
                .await
                .map_err(|e| classify(e, "membership", "user or tenant"))?;
        });
        Ok(())
    }

    /// The user's role in `tenant`, if a member.
    pub async fn membership(
        &self,
        user: &UserId,
        tenant: &TenantId,
    ) -> Result<Option<Role>, MetaError> {
        let sql = "SELECT role FROM memberships WHERE user_id = $1 AND tenant_id = $2";
        on_pool!(self, pool => {
            match sqlx::query(sql)
                .bind(user.as_str())
                .bind(tenant.as_str())
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Ok(Some(role_of(&row.try_get::<String, _>("role")?)?)),
                None => Ok(None),
            }
        })
    }

    /// Changes a member's role (`Some`) or removes them (`None`). Refused with `Invalid`
    /// when it would leave the tenant without an owner; `NotFound` for a non-member.
    pub async fn change_membership(
        &self,
        user: &UserId,
        tenant: &TenantId,
        role: Option<Role>,
    ) -> Result<(), MetaError> {
        // The owner count is read in the same statement, so no interleaving of two
        // statements can leave zero owners on SQLite; on PostgreSQL the transaction below
        // takes a row lock on every owner first.
        let keeps_an_owner = "(role <> 'owner' OR $3 = 'owner' OR \
             (SELECT COUNT(*) FROM memberships WHERE tenant_id = $2 AND role = 'owner') > 1)";
        let sql = match role {
            Some(_) => format!(
                "UPDATE memberships SET role = $3 WHERE user_id = $1 AND tenant_id = $2 \
                 AND {keeps_an_owner}"
            ),
            None => format!(
                "DELETE FROM memberships WHERE user_id = $1 AND tenant_id = $2 \
                 AND {keeps_an_owner}"
            ),
        };
        let new_role = role.map_or("", Role::as_str);
        let affected = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if matches!(self.backend(), crate::Backend::Postgres) {
                sqlx::query("SELECT 1 FROM memberships WHERE tenant_id = $1 AND role = 'owner' FOR UPDATE")
                    .bind(tenant.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
            }
            let affected = sqlx::query(&sql)
                .bind(user.as_str())
                .bind(tenant.as_str())
                .bind(new_role)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            affected
        });
        if affected == 1 {
            return Ok(());
        }
        match self.membership(user, tenant).await? {
            None => Err(MetaError::NotFound { what: "member" }),
            Some(_) => Err(MetaError::Invalid {
                field: "role",
                reason: "a tenant must keep at least one owner",
            }),
        }
    }

    /// Everyone in `tenant`, oldest membership first.
    pub async fn tenant_members(&self, tenant: &TenantId) -> Result<Vec<Member>, MetaError> {
        let columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, m.role, m.created_at AS member_since FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 \
             ORDER BY m.created_at, u.id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(tenant.as_str()).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let role: String = row.try_get("role")?;
                let since: i64 = row.try_get("member_since")?;
                out.push(Member {
                    user: user_from_row!(&row),
                    role: role_of(&role)?,
                    since: from_ms(since),
                });
            }
            Ok(out)
        })
    }

    /// The tenants a user belongs to, by tenant name.
    pub async fn user_memberships(&self, user: &UserId) -> Result<Vec<Membership>, MetaError> {
        let sql = "SELECT m.tenant_id, t.name, m.role FROM memberships m \
                   JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1 ORDER BY t.name";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(user.as_str()).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let role: String = row.try_get("role")?;
                out.push(Membership {
                    tenant_id: TenantId::from_db(row.try_get("tenant_id")?),
                    tenant_name: row.try_get("name")?,
                    role: role_of(&role)?,
                });
            }
            Ok(out)
        })
    }

    /// Stores a new session.
    pub async fn create_session(&self, new: &NewSession) -> Result<(), MetaError> {
        let now = now_ms();
        let agent = new.user_agent.as_deref().map(|ua| {
            let mut end = ua.len().min(MAX_USER_AGENT);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            &ua[..end]
        });
        let sql = "INSERT INTO sessions (id, user_id, tenant_id, auth_method, created_at, \
                   last_seen_at, addr, user_agent) VALUES ($1, $2, $3, $4, $5, $5, $6, $7)";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(new.hash.as_bytes().as_slice())
                .bind(new.user_id.as_str())
                .bind(new.tenant_id.as_str())
                .bind(new.method.as_str())
                .bind(now)
                .bind(new.addr.map(|a| a.to_string()))
                .bind(agent)
                .execute(pool)
                .await
                .map_err(|e| classify(e, "session", "user or tenant"))?;
        });
        Ok(())
    }

    /// The session with this hash, if any, with its account's state.
    pub async fn session(&self, hash: &SessionHash) -> Result<Option<SessionRecord>, MetaError> {
        let sql = "SELECT s.user_id, s.tenant_id, s.auth_method, s.created_at, s.last_seen_at, \
                   s.revoked_at, u.sessions_valid_after, u.disabled_at FROM sessions s \
                   JOIN users u ON u.id = s.user_id WHERE s.id = $1";
        on_pool!(self, pool => {
            let Some(row) = sqlx::query(sql)
                .bind(hash.as_bytes().as_slice())
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let user: String = row.try_get("user_id")?;
            let method: String = row.try_get("auth_method")?;
            let revoked: Option<i64> = row.try_get("revoked_at")?;
            let disabled: Option<i64> = row.try_get("disabled_at")?;
            Ok(Some(SessionRecord {
                user_id: UserId::parse(&user).ok_or(MetaError::Corrupt { what: "user id" })?,
                tenant_id: TenantId::from_db(row.try_get("tenant_id")?),
                method: AuthMethod::parse(&method)
                    .ok_or(MetaError::Corrupt { what: "session method" })?,
                created_at: from_ms(row.try_get("created_at")?),
                last_seen_at: from_ms(row.try_get("last_seen_at")?),
                revoked_at: revoked.map(from_ms),
                user_sessions_valid_after: from_ms(row.try_get("sessions_valid_after")?),
                user_disabled: disabled.is_some(),
            }))
        })
    }

    /// Records activity on a session (the idle timeout counts from here).
    pub async fn touch_session(&self, hash: &SessionHash, at: SystemTime) -> Result<(), MetaError> {
        let sql = "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(to_ms(at))
                .bind(hash.as_bytes().as_slice())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Moves a session to another tenant (the caller checked the membership).
    pub async fn switch_session_tenant(
        &self,
        hash: &SessionHash,
        tenant: &TenantId,
    ) -> Result<(), MetaError> {
        let sql = "UPDATE sessions SET tenant_id = $1 WHERE id = $2 AND revoked_at IS NULL";
        let affected = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(hash.as_bytes().as_slice())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(MetaError::NotFound { what: "session" });
        }
        Ok(())
    }

    /// Signs one session out.
    pub async fn revoke_session(&self, hash: &SessionHash) -> Result<(), MetaError> {
        let sql = "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(now_ms())
                .bind(hash.as_bytes().as_slice())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Signs the user out everywhere: every session made until now is void.
    pub async fn revoke_user_sessions(&self, id: &UserId) -> Result<(), MetaError> {
        let now = now_ms();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let affected = sqlx::query(
                "UPDATE users SET sessions_valid_after = $1 WHERE id = $2",
            )
            .bind(now + 1)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if affected == 0 {
                return Err(MetaError::NotFound { what: "user" });
            }
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Containment: revokes, as of `now_ms`, every session acting in `tenant` (whoever its
    /// user); returns how many. Sessions of the same users in other tenants are left
    /// alone: the response is scoped to the tenant under attack.
    pub async fn revoke_tenant_sessions(
        &self,
        tenant: &TenantId,
        now_ms: i64,
    ) -> Result<u64, MetaError> {
        let sql = "UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND revoked_at IS NULL";
        on_pool!(self, pool => {
            Ok(sqlx::query(sql)
                .bind(now_ms)
                .bind(tenant.as_str())
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// Active (not revoked) sessions of a user, as `(tenant, method, created, last seen)`.
    pub async fn count_active_sessions(&self, id: &UserId) -> Result<u64, MetaError> {
        let sql = "SELECT COUNT(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id \
                   WHERE s.user_id = $1 AND s.revoked_at IS NULL \
                   AND s.created_at >= u.sessions_valid_after";
        on_pool!(self, pool => {
            let row = sqlx::query(sql).bind(id.as_str()).fetch_one(pool).await?;
            let n: i64 = row.try_get("n")?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// A tenant's security settings.
    pub async fn security_settings(
        &self,
        tenant: &TenantId,
    ) -> Result<SecuritySettings, MetaError> {
        let sql = "SELECT require_mfa, require_sso, sso_config, sso_client_secret, \
                   session_idle_minutes, session_absolute_minutes FROM tenants WHERE id = $1";
        on_pool!(self, pool => {
            let row = sqlx::query(sql)
                .bind(tenant.as_str())
                .fetch_optional(pool)
                .await?
                .ok_or(MetaError::NotFound { what: "tenant" })?;
            let mfa: i32 = row.try_get("require_mfa")?;
            let sso: i32 = row.try_get("require_sso")?;
            let idle: Option<i32> = row.try_get("session_idle_minutes")?;
            let absolute: Option<i32> = row.try_get("session_absolute_minutes")?;
            Ok(SecuritySettings {
                require_mfa: mfa != 0,
                require_sso: sso != 0,
                sso_config: row.try_get("sso_config")?,
                sso_client_secret: row.try_get("sso_client_secret")?,
                session_idle_minutes: idle.and_then(|m| u32::try_from(m).ok()),
                session_absolute_minutes: absolute.and_then(|m| u32::try_from(m).ok()),
            })
        })
    }

    /// Replaces a tenant's security settings.
    pub async fn set_security_settings(
        &self,
        tenant: &TenantId,
        s: &SecuritySettings,
    ) -> Result<(), MetaError> {
        check_security_settings(s)?;
        let minutes = |m: Option<u32>| m.and_then(|m| i32::try_from(m).ok());
        let sql = "UPDATE tenants SET require_mfa = $1, require_sso = $2, sso_config = $3, \
                   sso_client_secret = $4, session_idle_minutes = $5, \
                   session_absolute_minutes = $6 WHERE id = $7";
        let affected = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(i32::from(s.require_mfa))
                .bind(i32::from(s.require_sso))
                .bind(s.sso_config.as_deref())
                .bind(s.sso_client_secret.as_deref())
                .bind(minutes(s.session_idle_minutes))
                .bind(minutes(s.session_absolute_minutes))
                .bind(tenant.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(MetaError::NotFound { what: "tenant" });
        }
        Ok(())
    }

    /// A tenant's AI diagnostics settings: the settings as JSON (no secret in them) and the
    /// provider's API key, sealed by the caller. `(None, None)` when never configured.
    pub async fn ai_settings(&self, tenant: &TenantId) -> Result<AiSettingsRow, MetaError> {
        let sql = "SELECT ai_config, ai_api_key FROM tenants WHERE id = $1 AND deleted_at IS NULL";
        on_pool!(self, pool => {
            let row = sqlx::query(sql)
                .bind(tenant.as_str())
                .fetch_optional(pool)
                .await?
                .ok_or(MetaError::NotFound { what: "tenant" })?;
            Ok(AiSettingsRow {
                config: row.try_get("ai_config")?,
                sealed_api_key: row.try_get("ai_api_key")?,
            })
        })
    }

    /// Replaces a tenant's AI diagnostics settings (the caller checked them).
    pub async fn set_ai_settings(
        &self,
        tenant: &TenantId,
        row: &AiSettingsRow,
    ) -> Result<(), MetaError> {
        if row
            .config
            .as_ref()
            .is_some_and(|c| c.len() > MAX_SSO_CONFIG)
        {
            return Err(MetaError::Invalid {
                field: "AI settings",
                reason: "must be at most 64 KiB",
            });
        }
        let sql = "UPDATE tenants SET ai_config = $1, ai_api_key = $2 \
                   WHERE id = $3 AND deleted_at IS NULL";
        let affected = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(row.config.as_deref())
                .bind(row.sealed_api_key.as_deref())
                .bind(tenant.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(MetaError::NotFound { what: "tenant" });
        }
        Ok(())
    }

    /// The wrapped platform key `name`, created with `create` if none exists yet. When
    /// several nodes race, every one gets the first key stored.
    pub async fn platform_key(
        &self,
        name: &str,
        create: impl FnOnce() -> Result<Vec<u8>, MetaError>,
    ) -> Result<Vec<u8>, MetaError> {
        let select = "SELECT wrapped_key FROM platform_keys WHERE name = $1";
        let existing: Option<Vec<u8>> = on_pool!(self, pool => {
            match sqlx::query(select).bind(name).fetch_optional(pool).await? {
                Some(row) => Some(row.try_get("wrapped_key")?),
                None => None,
            }
        });
        if let Some(key) = existing {
            return Ok(key);
        }
        let wrapped = create()?;
        let insert = "INSERT INTO platform_keys (name, wrapped_key, created_at) \
                      VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
        on_pool!(self, pool => {
            sqlx::query(insert)
                .bind(name)
                .bind(wrapped.as_slice())
                .bind(now_ms())
                .execute(pool)
                .await?;
            let row = sqlx::query(select).bind(name).fetch_one(pool).await?;
            Ok(row.try_get("wrapped_key")?)
        })
    }
}

enum UserBind<'a> {
    None,
    Text(Option<&'a str>),
    Bytes(Option<&'a [u8]>),
    Int(Option<i64>),
}

/// The rules [`Meta::set_security_settings`] enforces, for callers that must know before
/// they write (the audit record of a change is written before the change).
pub fn check_security_settings(s: &SecuritySettings) -> Result<(), MetaError> {
    if s.sso_config
        .as_ref()
        .is_some_and(|c| c.len() > MAX_SSO_CONFIG)
    {
        return Err(MetaError::Invalid {
            field: "SSO configuration",
            reason: "must be at most 64 KiB",
        });
    }
    if s.session_idle_minutes
        .is_some_and(|m| !(1..=1440).contains(&m))
        || s.session_absolute_minutes
            .is_some_and(|m| !(1..=43200).contains(&m))
    {
        return Err(MetaError::Invalid {
            field: "session timeout",
            reason: "idle must be 1 to 1440 minutes, absolute 1 to 43200",
        });
    }
    if s.require_sso && s.sso_config.is_none() {
        return Err(MetaError::Invalid {
            field: "require_sso",
            reason: "configure an OpenID provider first",
        });
    }
    Ok(())
}
