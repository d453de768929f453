//! Tenant data keys: the keyring a tenant is read with, and rotation.
//!
//! A tenant's data key has versions (`scrim-meta`'s `tenant_data_keys`), each wrapped by
//! the master key with the tenant id and, from version 2 on, the version as wrapping
//! context ([`crate::keys::context`]), so a wrapped key copied to another tenant or version
//! does not open. The highest version is current. Key ids, in segment footers, WAL records
//! and audit records, are `{tenant id}-{version}`; the catalog keeps each segment's version.
//!
//! - Writes: new segments, new WAL records and every segment compaction writes are under
//!   the current key.
//! - Reads: the tenant's [`Keyring`] holds every version; a segment is decrypted with the
//!   key its footer names, a WAL record with the key its header names, a trace filter with
//!   the key of its segment's catalogued version. Old segments stay readable until
//!   compaction merges them into a segment under the current key (or retention removes
//!   them); a segment compaction never merges stays under its old key.
//! - Pseudonyms and the SSO client secret are derived from version 1, the key the tenant
//!   was created with, never from the current key: a rotation must not change the
//!   pseudonym of a value (dashboards and searches group by it) nor lose the secret. So
//!   version 1 is kept as long as the tenant, and removed only with all the others by
//!   `Meta::destroy_tenant_keys` (crypto-shredding).
//!
//! A rotation ([`rotate_tenant_key`]) is one row inserted in the metadata database, after
//! its audit record (`key.tenant_rotate`, naming the key ids, never key bytes). Nothing is
//! rewritten, so it is safe at any moment: a crash before the insert leaves the old key
//! current, after it the new one, and every WAL record and segment names the key it is
//! under. A running server switches at once when the rotation is its own
//! (`POST /api/v1/settings/data-key/rotate`), and otherwise (`scrim key rotate-tenant`,
//! another node) at its next flush round; reads never wait for that, since a query or
//! compaction that meets a segment of a newer version reloads the keys first.

use scrim_meta::{TenantId, WrappedKeyOwner};
use scrim_store::{DataKey, Keyring};

use crate::accounts::Act;
use crate::audit::{actions, actor_of};
use crate::keys::context;
use crate::{Platform, PlatformConfig, ServerError};

/// The id of version `version` of `tenant`'s data key: what segment footers and WAL
/// records carry, and what audit records name.
pub fn key_id(tenant: &TenantId, version: u32) -> String {
    format!("{tenant}-{version}")
}

/// The version in a key id of `tenant` made by [`key_id`].
pub fn version_of(tenant: &TenantId, key_id: &str) -> Result<u32, ServerError> {
    key_id
        .strip_prefix(tenant.as_str())
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|v| *v >= 1)
        .ok_or_else(|| {
            ServerError::Usage(format!(
                "{key_id:?} is not a data key id of tenant {tenant}"
            ))
        })
}

/// A tenant's unwrapped keys.
pub(crate) struct TenantKeys {
    /// Every version, oldest first; its current key is the highest version.
    pub keyring: Keyring,
    /// The current version.
    pub version: u32,
    /// Version 1, which pseudonyms are derived from.
    pub first: scrim_crypto::DataKey,
}

fn destroyed(tenant: &TenantId) -> ServerError {
    ServerError::Usage(format!(
        "tenant {tenant} has no data keys: they were destroyed, and its data with them"
    ))
}

/// Unwraps every version of `tenant`'s data key.
pub(crate) async fn load(
    platform: &Platform,
    tenant: &TenantId,
) -> Result<TenantKeys, ServerError> {
    let stored = platform.meta.tenant_data_keys(tenant).await?;
    let Some(last) = stored.last() else {
        return Err(destroyed(tenant));
    };
    let version = last.version;
    let mut keys = Vec::with_capacity(stored.len());
    let mut first = None;
    for k in &stored {
        let key = platform.keys.unwrap(
            &k.wrapped_key,
            &context(WrappedKeyOwner::Tenant(tenant, k.version)),
        )?;
        keys.push(DataKey::new(key_id(tenant, k.version), *key.as_bytes()));
        if k.version == 1 {
            first = Some(key);
        }
    }
    let first = first.ok_or_else(|| {
        ServerError::Usage(format!(
            "tenant {tenant} has lost version 1 of its data key, which its pseudonyms need"
        ))
    })?;
    Ok(TenantKeys {
        keyring: Keyring::new(keys)?,
        version,
        first,
    })
}

/// The key a tenant's secret setting (the SSO client secret, the AI provider's key) is
/// sealed under: derived from version 1 of its data key under `label`, so destroying the
/// tenant's keys shreds the secret and rotating the data key does not lose it.
pub(crate) async fn secret_key(
    platform: &Platform,
    tenant: &TenantId,
    label: &[u8],
) -> Result<scrim_crypto::DataKey, ServerError> {
    Ok(first_key(platform, tenant)
        .await?
        .derive(tenant.as_str().as_bytes(), label))
}

/// The associated data that binds a secret sealed under [`secret_key`] to its tenant.
pub(crate) fn secret_aad(tenant: &TenantId, label: &[u8]) -> Vec<u8> {
    let mut aad = label.to_vec();
    aad.push(0);
    aad.extend_from_slice(tenant.as_str().as_bytes());
    aad
}

/// Version 1 of `tenant`'s data key alone (what its pseudonyms and SSO secret derive from).
pub(crate) async fn first_key(
    platform: &Platform,
    tenant: &TenantId,
) -> Result<scrim_crypto::DataKey, ServerError> {
    let stored = platform.meta.tenant_data_keys(tenant).await?;
    let first = stored.first().ok_or_else(|| destroyed(tenant))?;
    if first.version != 1 {
        return Err(ServerError::Usage(format!(
            "tenant {tenant} has lost version 1 of its data key"
        )));
    }
    Ok(platform.keys.unwrap(
        &first.wrapped_key,
        &context(WrappedKeyOwner::Tenant(tenant, 1)),
    )?)
}

/// What a tenant key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRotation {
    pub tenant: TenantId,
    /// Ids of the previous and the new current key.
    pub from: String,
    pub to: String,
    /// The new current version.
    pub version: u32,
}

/// Makes a new random data key the current one of `tenant`: recorded first
/// (`key.tenant_rotate` in the tenant's chain, by key ids), then stored as the next
/// version. The caller tells a running server to switch ([`crate::Server`] does it for its
/// own API's rotations; others pick it up at their next flush round).
pub async fn rotate_tenant_key(
    platform: &Platform,
    act: &Act,
    tenant: &TenantId,
) -> Result<TenantRotation, ServerError> {
    let stored = platform.meta.tenant_data_keys(tenant).await?;
    let current = stored.last().ok_or_else(|| destroyed(tenant))?;
    // The current key must open with this master key, or the new one would be wrapped
    // by a master key the database does not use.
    platform.keys.unwrap(
        &current.wrapped_key,
        &context(WrappedKeyOwner::Tenant(tenant, current.version)),
    )?;
    let version = current.version.checked_add(1).ok_or_else(|| {
        ServerError::Usage("the tenant's data key has reached its last version".into())
    })?;
    let (_key, wrapped) = platform
        .keys
        .new_data_key(&context(WrappedKeyOwner::Tenant(tenant, version)))?;
    let rotation = TenantRotation {
        tenant: tenant.clone(),
        from: key_id(tenant, current.version),
        to: key_id(tenant, version),
        version,
    };
    platform
        .audit
        .entry(
            tenant.as_str(),
            actor_of(&act.actor),
            actions::TENANT_KEY_ROTATE,
            &act.origin,
        )
        .target("data_key")
        .detail("from_key_id", rotation.from.as_str())
        .detail("to_key_id", rotation.to.as_str())
        .around(
            platform
                .meta
                .add_tenant_data_key(tenant, version, &current.wrapped_key, &wrapped),
        )
        .await??;
    tracing::info!(
        tenant = %tenant,
        from = rotation.from,
        to = rotation.to,
        "tenant data key rotated"
    );
    Ok(rotation)
}

/// `scrim key rotate-tenant NAME`: the operator rotates the data key of the tenant called
/// `name`. Servers that run meanwhile switch to the new key at their next flush round.
pub async fn rotate_tenant_key_by_name(
    config: &PlatformConfig,
    name: &str,
) -> Result<TenantRotation, ServerError> {
    let platform = Platform::open(config).await?;
    let tenant = platform.tenant_named(name).await?;
    rotate_tenant_key(&platform, &Act::operator(tenant.id.as_str()), &tenant.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_name_tenant_and_version() {
        let t = TenantId::parse("t_abcdefghijklmnop").unwrap();
        assert_eq!(key_id(&t, 3), "t_abcdefghijklmnop-3");
        assert_eq!(version_of(&t, &key_id(&t, 3)).unwrap(), 3);
        assert_eq!(version_of(&t, &key_id(&t, 1)).unwrap(), 1);
        let other = TenantId::parse("t_bbcdefghijklmnop").unwrap();
        for bad in [
            key_id(&other, 1),
            format!("{t}-0"),
            format!("{t}-"),
            format!("{t}-x"),
            format!("{t}1"),
            String::new(),
        ] {
            assert!(version_of(&t, &bad).is_err(), "{bad}");
        }
    }
}
