//! Access review (`scrim access review`, `GET /api/v1/access-review`): who can reach a
//! tenant, how they sign in, which keys exist and whether they are still used.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scrim_meta::{Meta, Tenant, TenantId};
use serde::Serialize;

use crate::ServerError;

/// A key unused this long is flagged.
pub const STALE_AFTER: Duration = Duration::from_secs(90 * 86_400);

/// One tenant's review.
#[derive(Debug, Serialize)]
pub struct AccessReview {
    pub tenant: String,
    pub tenant_id: String,
    pub require_mfa: bool,
    pub require_sso: bool,
    pub people: Vec<PersonReview>,
    pub api_keys: Vec<KeyReview>,
}

#[derive(Debug, Serialize)]
pub struct PersonReview {
    pub user_id: String,
    pub email: String,
    pub role: String,
    /// `totp` or `none`.
    pub mfa: &'static str,
    pub sso_linked: bool,
    pub has_password: bool,
    pub disabled: bool,
    pub locked: bool,
    pub active_sessions: u64,
    pub member_since: String,
    /// Problems a reviewer should look at.
    pub flags: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct KeyReview {
    pub id: String,
    pub name: Option<String>,
    pub scopes: String,
    pub created_at: String,
    pub created_by: Option<String>,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_addr: Option<String>,
    /// `active`, `revoked` or `expired`.
    pub state: &'static str,
    pub flags: Vec<String>,
}

/// RFC 3339, seconds, UTC.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Builds the review of `tenant` as of `now`.
pub async fn access_review(
    meta: &Meta,
    tenant: &Tenant,
    now: SystemTime,
) -> Result<AccessReview, ServerError> {
    let settings = meta.security_settings(&tenant.id).await?;
    let mut people = Vec::new();
    for m in meta.tenant_members(&tenant.id).await? {
        let u = &m.user;
        let mut flags = Vec::new();
        if settings.require_mfa && !u.has_totp() && u.oidc.is_none() {
            flags.push("no second factor, but the tenant requires MFA".to_owned());
        }
        if !u.has_totp() && u.password_hash.is_some() && m.role <= scrim_auth::Role::Admin {
            flags.push(format!("{} signs in with a password alone", m.role));
        }
        people.push(PersonReview {
            user_id: u.id.to_string(),
            email: u.email.clone(),
            role: m.role.to_string(),
            mfa: if u.has_totp() { "totp" } else { "none" },
            sso_linked: u.oidc.is_some(),
            has_password: u.password_hash.is_some(),
            disabled: u.disabled_at.is_some(),
            locked: u.locked_until.is_some_and(|l| l > now),
            active_sessions: meta.count_active_sessions(&u.id).await?,
            member_since: rfc3339(m.since),
            flags,
        });
    }
    let api_keys = key_reviews(meta, &tenant.id, now).await?;
    Ok(AccessReview {
        tenant: tenant.name.clone(),
        tenant_id: tenant.id.to_string(),
        require_mfa: settings.require_mfa,
        require_sso: settings.require_sso,
        people,
        api_keys,
    })
}

/// The API keys of `tenant` as of `now`, with their state and flags (`scrim apikey list`
/// shows these; the access review includes them).
pub async fn key_reviews(
    meta: &Meta,
    tenant: &TenantId,
    now: SystemTime,
) -> Result<Vec<KeyReview>, ServerError> {
    let mut api_keys = Vec::new();
    for k in meta.list_api_keys(tenant).await? {
        let expired = k.expires_at.is_some_and(|e| e <= now);
        let state = if k.revoked_at.is_some() {
            "revoked"
        } else if expired {
            "expired"
        } else {
            "active"
        };
        let mut flags = Vec::new();
        if state == "active" {
            let idle_since = k.last_used_at.unwrap_or(k.created_at);
            if now
                .duration_since(idle_since)
                .is_ok_and(|d| d >= STALE_AFTER)
            {
                flags.push(match k.last_used_at {
                    Some(_) => "unused for 90 days or more".to_owned(),
                    None => "never used, created 90 days ago or more".to_owned(),
                });
            }
            if k.expires_at.is_none() && k.scopes.contains(scrim_auth::Scope::Admin) {
                flags.push("admin scope without an expiry".to_owned());
            }
        }
        api_keys.push(KeyReview {
            id: k.id.to_string(),
            name: k.name,
            scopes: k.scopes.to_string(),
            created_at: rfc3339(k.created_at),
            created_by: k.created_by,
            expires_at: k.expires_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
            last_used_addr: k.last_used_addr.map(|a| a.to_string()),
            state,
            flags,
        });
    }
    Ok(api_keys)
}

impl AccessReview {
    /// The review as text for a terminal.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "tenant {} ({})  require MFA: {}  require SSO: {}",
            self.tenant,
            self.tenant_id,
            yes_no(self.require_mfa),
            yes_no(self.require_sso)
        );
        let _ = writeln!(out, "\npeople ({}):", self.people.len());
        let _ = writeln!(
            out,
            "  {:<32} {:<8} {:<5} {:<4} {:<8} {:<9} sessions",
            "email", "role", "mfa", "sso", "password", "state"
        );
        for p in &self.people {
            let state = if p.disabled {
                "disabled"
            } else if p.locked {
                "locked"
            } else {
                "active"
            };
            let _ = writeln!(
                out,
                "  {:<32} {:<8} {:<5} {:<4} {:<8} {:<9} {}",
                p.email,
                p.role,
                p.mfa,
                yes_no(p.sso_linked),
                yes_no(p.has_password),
                state,
                p.active_sessions
            );
            for f in &p.flags {
                let _ = writeln!(out, "    ! {f}");
            }
        }
        let _ = writeln!(out, "\nAPI keys ({}):", self.api_keys.len());
        let _ = writeln!(
            out,
            "  {:<16} {:<8} {:<50} {:<20} {:<20}",
            "id", "state", "scopes", "last used", "expires"
        );
        for k in &self.api_keys {
            let _ = writeln!(
                out,
                "  {:<16} {:<8} {:<50} {:<20} {:<20}",
                k.id,
                k.state,
                k.scopes,
                k.last_used_at.as_deref().unwrap_or("never"),
                k.expires_at.as_deref().unwrap_or("never"),
            );
            for f in &k.flags {
                let _ = writeln!(out, "    ! {f}");
            }
        }
        out
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
