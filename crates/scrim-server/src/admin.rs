//! Tenants and API keys: what `scrim tenant create` and `scrim apikey create` do. Every
//! change is recorded in the tenant's audit chain before it is made.

use scrim_meta::{
    ApiKey, ApiKeyRecord, NewApiKey, NewTenant, Scopes, Tenant, TenantId, WrappedKeyOwner,
};

use crate::accounts::Act;
use crate::audit::{Entry, actions, actor_of};
use crate::{Platform, ServerError};

/// What a new tenant needs besides its name.
#[derive(Debug, Clone)]
pub struct TenantOptions {
    /// Where the tenant's data must stay (one of the configured regions, fixed for good);
    /// `None`: the deployment's only region.
    pub region: Option<String>,
    /// Days telemetry is kept.
    pub retention_days: u16,
    /// The tenant's own capture policy (TOML, docs/capture-policy.md); `None`: the
    /// server's.
    pub capture_policy: Option<String>,
}

impl Default for TenantOptions {
    fn default() -> Self {
        TenantOptions {
            region: None,
            retention_days: NewTenant::DEFAULT_RETENTION_DAYS,
            capture_policy: None,
        }
    }
}

/// Refuses a capture policy that does not parse, with the policy parser's message (line and
/// key; never the file's values).
pub fn check_policy(toml: &str) -> Result<(), ServerError> {
    scrim_redact::Policy::from_toml(toml)
        .map(|_| ())
        .map_err(|e| ServerError::Usage(e.to_string()))
}

/// The capture policy of the tenant called `tenant_name`: its own TOML, or `None` for the
/// server's.
pub async fn capture_policy(
    platform: &Platform,
    tenant_name: &str,
) -> Result<Option<String>, ServerError> {
    let tenant = platform
        .meta
        .tenant_by_name(tenant_name)
        .await?
        .ok_or_else(|| ServerError::Usage(format!("no tenant named {tenant_name:?}")))?;
    Ok(tenant.capture_policy)
}

/// Sets the capture policy of the tenant called `tenant_name` (`None`: back to the
/// server's). Running servers apply it within one flush interval. Returns the policy's new
/// version.
pub async fn set_capture_policy(
    platform: &Platform,
    act: &Act,
    tenant_name: &str,
    policy: Option<&str>,
) -> Result<i64, ServerError> {
    if let Some(p) = policy {
        check_policy(p)?;
    }
    let tenant = platform
        .meta
        .tenant_by_name(tenant_name)
        .await?
        .ok_or_else(|| ServerError::Usage(format!("no tenant named {tenant_name:?}")))?;
    let version = platform
        .audit
        .entry(
            tenant.id.as_str(),
            actor_of(&act.actor),
            actions::CAPTURE_POLICY,
            &act.origin,
        )
        .target("capture_policy")
        .change("policy", tenant.capture_policy.clone(), policy)
        .around(platform.meta.set_capture_policy(&tenant.id, policy))
        .await??;
    Ok(version)
}

/// Creates a tenant with a fresh data key, wrapped by the master key and bound to the
/// tenant's id (so a wrapped key copied to another tenant's row does not open).
pub async fn create_tenant(
    platform: &Platform,
    act: &Act,
    name: &str,
    options: &TenantOptions,
) -> Result<Tenant, ServerError> {
    let region = platform
        .regions
        .for_new_tenant(options.region.as_deref())?
        .name
        .clone();
    let id = TenantId::generate()?;
    let (_key, wrapped) = platform
        .keys
        .new_data_key(&crate::keys::context(WrappedKeyOwner::Tenant(&id, 1)))?;
    let mut new = NewTenant::new(name, wrapped)?;
    new.id = id;
    new.region = region;
    new.retention_days = options.retention_days;
    if let Some(p) = &options.capture_policy {
        check_policy(p)?;
        new.capture_policy = Some(p.clone());
    }
    if platform.meta.tenant_by_name(name).await?.is_some() {
        return Err(scrim_meta::MetaError::AlreadyExists {
            what: "tenant name",
        }
        .into());
    }
    let tenant = platform
        .audit
        .entry(
            new.id.as_str(),
            actor_of(&act.actor),
            actions::TENANT_CREATE,
            &act.origin,
        )
        .target(new.id.as_str())
        .detail("name", name)
        .detail("region", new.region.as_str())
        .detail("retention_days", new.retention_days)
        .detail("own_capture_policy", new.capture_policy.is_some())
        .around(platform.meta.create_tenant(&new))
        .await??;
    Ok(tenant)
}

/// Creates an API key for the tenant called `tenant_name`. The returned [`ApiKey`] is the
/// only copy of the secret: show it once.
pub async fn create_api_key(
    platform: &Platform,
    act: &Act,
    tenant_name: &str,
    scopes: Scopes,
    details: NewApiKey,
) -> Result<(ApiKeyRecord, ApiKey), ServerError> {
    let tenant = platform
        .meta
        .tenant_by_name(tenant_name)
        .await?
        .ok_or_else(|| ServerError::Usage(format!("no tenant named {tenant_name:?}")))?;
    let mut entry = platform
        .audit
        .entry(
            tenant.id.as_str(),
            actor_of(&act.actor),
            actions::APIKEY_CREATE,
            &act.origin,
        )
        .detail("scopes", scopes.to_string());
    if let Some(name) = &details.name {
        entry = entry.detail("name", name.as_str());
    }
    create_api_key_recorded(platform, entry, &tenant.id, scopes, details).await
}

/// Creates a key with its id known first, so that `entry` (an `apikey.create` record) names
/// it and is written before the key exists.
pub(crate) async fn create_api_key_recorded(
    platform: &Platform,
    entry: Entry,
    tenant: &TenantId,
    scopes: Scopes,
    details: NewApiKey,
) -> Result<(ApiKeyRecord, ApiKey), ServerError> {
    if scopes.is_empty() {
        return Err(ServerError::Usage(
            "an API key needs at least one scope".into(),
        ));
    }
    let key = ApiKey::generate().map_err(|e| ServerError::Usage(format!("no randomness: {e}")))?;
    let entry = entry.target(key.id().as_str());
    Ok(entry
        .around(platform.meta.insert_api_key(tenant, key, scopes, details))
        .await??)
}

/// A tenant's security settings as the API shows them and as audit diffs compare them
/// (never the SSO client secret).
pub fn security_json(s: &scrim_meta::SecuritySettings) -> serde_json::Value {
    serde_json::json!({
        "require_mfa": s.require_mfa,
        "require_sso": s.require_sso,
        "sso_configured": s.sso_config.is_some(),
        "session_idle_minutes": s.session_idle_minutes,
        "session_absolute_minutes": s.session_absolute_minutes,
    })
}

/// Replaces a tenant's security settings with `new`, recording the difference first.
pub async fn set_security_settings(
    platform: &Platform,
    act: &Act,
    tenant: &TenantId,
    new: &scrim_meta::SecuritySettings,
) -> Result<(), ServerError> {
    scrim_meta::check_security_settings(new)?;
    let before = platform.meta.security_settings(tenant).await?;
    platform
        .audit
        .entry(
            tenant.as_str(),
            actor_of(&act.actor),
            actions::SECURITY_SETTINGS,
            &act.origin,
        )
        .target("security")
        .diff(&security_json(&before), &security_json(new))
        .around(platform.meta.set_security_settings(tenant, new))
        .await??;
    Ok(())
}

/// Sets how many days a tenant's telemetry is kept, recording the change first. A shorter
/// retention removes what is then due at the next retention run (hourly).
pub async fn set_retention_days(
    platform: &Platform,
    act: &Act,
    tenant: &TenantId,
    days: u16,
) -> Result<(), ServerError> {
    if !(1..=NewTenant::MAX_RETENTION_DAYS).contains(&days) {
        return Err(ServerError::Usage(format!(
            "retention_days must be 1 to {} days",
            NewTenant::MAX_RETENTION_DAYS
        )));
    }
    let current = platform
        .meta
        .tenant_by_id(tenant)
        .await?
        .ok_or_else(|| ServerError::Usage("tenant not found".into()))?;
    platform
        .audit
        .entry(
            tenant.as_str(),
            actor_of(&act.actor),
            actions::RETENTION_SETTINGS,
            &act.origin,
        )
        .target("retention")
        .change("retention_days", current.retention_days, days)
        .around(platform.meta.set_retention_days(tenant, days))
        .await??;
    Ok(())
}

/// What `scrim demo` prints: its tenant and two keys.
#[derive(Debug)]
pub struct DemoTenant {
    /// The tenant's name.
    pub tenant: String,
    /// An `ingest`-scoped key for the traffic generator.
    pub ingest_key: String,
    /// A `read`-scoped key for the API.
    pub read_key: String,
    /// A person to sign in as (`/login`): the tenant's owner, with a generated password.
    pub owner_email: String,
    pub owner_password: String,
}

/// Creates the `demo` tenant (or `demo-2`, … when the data directory already has one) with
/// an ingest key and a read key.
pub async fn demo_tenant(platform: &Platform) -> Result<DemoTenant, ServerError> {
    let act = Act::operator(scrim_audit::PLATFORM_TENANT);
    let mut name = "demo".to_owned();
    let mut n = 1;
    while platform.meta.tenant_by_name(&name).await?.is_some() {
        n += 1;
        name = format!("demo-{n}");
    }
    let tenant = create_tenant(platform, &act, &name, &TenantOptions::default()).await?;
    let act = Act::operator(tenant.id.as_str());
    let scopes = |s: &str| {
        s.parse::<Scopes>()
            .map_err(|e| ServerError::Usage(e.to_string()))
    };
    let details = |what: &str| NewApiKey {
        name: Some(format!("scrim demo ({what})")),
        ..NewApiKey::default()
    };
    let (_, ingest) =
        create_api_key(platform, &act, &name, scopes("ingest")?, details("ingest")).await?;
    let (_, read) = create_api_key(platform, &act, &name, scopes("read")?, details("read")).await?;
    let accounts = crate::accounts::Accounts::open(platform, Default::default()).await?;
    let owner_email = format!("owner@{name}.scrim.invalid");
    let (_, password) = accounts
        .add_member(
            &act,
            &tenant.id,
            &owner_email,
            scrim_auth::Role::Owner,
            None,
        )
        .await?;
    Ok(DemoTenant {
        tenant: name,
        ingest_key: ingest.expose(),
        read_key: read.expose(),
        owner_email,
        owner_password: password.unwrap_or_default(),
    })
}
