//! Tenants and API keys: what `scrim tenant create` and `scrim apikey create` do.

use scrim_meta::{ApiKey, ApiKeyRecord, NewApiKey, NewTenant, Scopes, Tenant, TenantId};

use crate::{Platform, ServerError};

/// What a new tenant needs besides its name.
#[derive(Debug, Clone)]
pub struct TenantOptions {
    /// Where the tenant's data must stay; part of every segment path.
    pub region: String,
    /// Days telemetry is kept.
    pub retention_days: u16,
    /// The tenant's own capture policy (TOML, docs/capture-policy.md); `None`: the
    /// server's.
    pub capture_policy: Option<String>,
}

impl Default for TenantOptions {
    fn default() -> Self {
        TenantOptions {
            region: NewTenant::DEFAULT_REGION.to_owned(),
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
    Ok(platform.meta.set_capture_policy(&tenant.id, policy).await?)
}

/// Creates a tenant with a fresh data key, wrapped by the master key and bound to the
/// tenant's id (so a wrapped key copied to another tenant's row does not open).
pub async fn create_tenant(
    platform: &Platform,
    name: &str,
    options: &TenantOptions,
) -> Result<Tenant, ServerError> {
    let id = TenantId::generate()?;
    let (_key, wrapped) = platform.keys.new_data_key(id.as_str().as_bytes())?;
    let mut new = NewTenant::new(name, wrapped)?;
    new.id = id;
    new.region = options.region.clone();
    new.retention_days = options.retention_days;
    if let Some(p) = &options.capture_policy {
        check_policy(p)?;
        new.capture_policy = Some(p.clone());
    }
    Ok(platform.meta.create_tenant(&new).await?)
}

/// Creates an API key for the tenant called `tenant_name`. The returned [`ApiKey`] is the
/// only copy of the secret: show it once.
pub async fn create_api_key(
    platform: &Platform,
    tenant_name: &str,
    scopes: Scopes,
    details: NewApiKey,
) -> Result<(ApiKeyRecord, ApiKey), ServerError> {
    let tenant = platform
        .meta
        .tenant_by_name(tenant_name)
        .await?
        .ok_or_else(|| ServerError::Usage(format!("no tenant named {tenant_name:?}")))?;
    Ok(platform
        .meta
        .create_api_key(&tenant.id, scopes, details)
        .await?)
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
    let mut name = "demo".to_owned();
    let mut n = 1;
    while platform.meta.tenant_by_name(&name).await?.is_some() {
        n += 1;
        name = format!("demo-{n}");
    }
    create_tenant(platform, &name, &TenantOptions::default()).await?;
    let scopes = |s: &str| {
        s.parse::<Scopes>()
            .map_err(|e| ServerError::Usage(e.to_string()))
    };
    let details = |what: &str| NewApiKey {
        name: Some(format!("scrim demo ({what})")),
        ..NewApiKey::default()
    };
    let (_, ingest) = create_api_key(platform, &name, scopes("ingest")?, details("ingest")).await?;
    let (_, read) = create_api_key(platform, &name, scopes("read")?, details("read")).await?;
    let tenant = platform
        .meta
        .tenant_by_name(&name)
        .await?
        .ok_or_else(|| ServerError::Usage("the demo tenant vanished".into()))?;
    let accounts = crate::accounts::Accounts::open(platform, Default::default()).await?;
    let owner_email = format!("owner@{name}.scrim.invalid");
    let (_, password) = accounts
        .add_member(
            &scrim_auth::rbac::Actor::Operator,
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
