//! API keys: created with a tenant and scopes, shown once, stored as a hash, authenticated
//! per request.
//!
//! Authentication reads the database every time, without a cache, so a revocation takes
//! effect at the next request on every node. The cost is one primary-key lookup, measured
//! by `examples/auth_cost.rs`. The only write, `last_used_at`, is throttled per process.

use std::fmt;
use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use scrim_auth::{ApiKey, KeyHash, KeyId, ParseKeyError, Scopes};
use sqlx::Row;

use crate::error::{MetaError, classify};
use crate::{Meta, TenantId, from_ms, now_ms, on_pool, to_ms};

/// Who a verified API key speaks for. The tenant comes from here, never from request data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub key_id: KeyId,
    pub scopes: Scopes,
    /// The key's last recorded use before this one (`None`: never used). Read with the key
    /// itself, so the server can tell a key coming back after long disuse. Writes of the
    /// last use are throttled ([`Meta::set_last_used_interval`]), so this may be up to that
    /// interval older than the true previous use.
    pub last_used_at: Option<SystemTime>,
}

/// A stored API key, without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: KeyId,
    pub tenant_id: TenantId,
    pub scopes: Scopes,
    pub name: Option<String>,
    pub description: Option<String>,
    pub created_at: SystemTime,
    pub expires_at: Option<SystemTime>,
    pub last_used_at: Option<SystemTime>,
    pub last_used_addr: Option<IpAddr>,
    pub revoked_at: Option<SystemTime>,
    /// Containment: refused since then, until [`Meta::restore_api_keys`].
    pub suspended_at: Option<SystemTime>,
    /// Who created it: a user id (`u_…`) or an API key id; `None` for the CLI.
    pub created_by: Option<String>,
}

/// Optional details of a new key.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    /// A short label, at most 200 bytes.
    pub name: Option<String>,
    /// At most 2000 bytes.
    pub description: Option<String>,
    /// After this instant the key is refused. `None`: it lasts until revoked.
    pub expires_at: Option<SystemTime>,
    /// Who creates it: a user id (`u_…`) or an API key id; `None` for the CLI.
    pub created_by: Option<String>,
}

/// Why a presented key was refused, or could not be checked.
///
/// Every variant but `Unavailable` should become the same `401` for the client (which
/// must not learn whether a key id exists, or was revoked); the distinction is for the
/// audit log. No variant carries the presented key.
#[derive(Debug)]
pub enum AuthError {
    /// Not of the form `scrim_<id>_<secret>`.
    Malformed(ParseKeyError),
    /// No key with that id.
    UnknownKey,
    /// The id exists, the secret is wrong.
    WrongSecret,
    /// Right secret, but the key was revoked. Names the key's tenant and id so that the
    /// server can record the attempt in that tenant's audit chain (a revoked key still in
    /// use is a sign of a leaked key).
    Revoked { tenant_id: TenantId, key_id: KeyId },
    /// Right secret, but the key is suspended (containment); it may be restored.
    Suspended,
    /// Right secret, but the key has expired.
    Expired,
    /// The database could not answer: the request should fail with a `503`, not a `401`.
    Unavailable(MetaError),
}

impl AuthError {
    /// Whether the key was refused (a `401`), as opposed to not checked (`Unavailable`).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::Unavailable(_))
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "API key refused: {e}"),
            Self::UnknownKey => f.write_str("API key refused: unknown key id"),
            Self::WrongSecret => f.write_str("API key refused: wrong secret"),
            Self::Revoked { .. } => f.write_str("API key refused: revoked"),
            Self::Suspended => f.write_str("API key refused: suspended"),
            Self::Expired => f.write_str("API key refused: expired"),
            Self::Unavailable(e) => write!(f, "API key could not be checked: {e}"),
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Malformed(e) => Some(e),
            Self::Unavailable(e) => Some(e),
            _ => None,
        }
    }
}

impl From<MetaError> for AuthError {
    fn from(e: MetaError) -> Self {
        Self::Unavailable(e)
    }
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unavailable(MetaError::Database(e))
    }
}

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 2000;
/// Past this many entries the last-use throttle forgets entries older than its interval.
const LAST_USED_PRUNE_AT: usize = 10_000;

const KEY_COLUMNS: &str = "id, tenant_id, scopes, name, description, created_at, expires_at, \
                           last_used_at, last_used_addr, revoked_at, suspended_at, created_by";

macro_rules! key_from_row {
    ($row:expr) => {{
        let row = $row;
        let id: String = row.try_get("id")?;
        let scopes: String = row.try_get("scopes")?;
        let addr: Option<String> = row.try_get("last_used_addr")?;
        let expires_at: Option<i64> = row.try_get("expires_at")?;
        let last_used_at: Option<i64> = row.try_get("last_used_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let suspended_at: Option<i64> = row.try_get("suspended_at")?;
        ApiKeyRecord {
            id: KeyId::parse(&id).map_err(|_| MetaError::Corrupt { what: "API key id" })?,
            tenant_id: TenantId::from_db(row.try_get("tenant_id")?),
            scopes: scopes.parse().map_err(|_| MetaError::Corrupt {
                what: "API key scopes",
            })?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            created_at: from_ms(row.try_get("created_at")?),
            expires_at: expires_at.map(from_ms),
            last_used_at: last_used_at.map(from_ms),
            last_used_addr: addr.and_then(|a| a.parse().ok()),
            revoked_at: revoked_at.map(from_ms),
            suspended_at: suspended_at.map(from_ms),
            created_by: row.try_get("created_by")?,
        }
    }};
}

impl Meta {
    /// Creates an API key for `tenant` and returns its record and the key itself, whose
    /// [`ApiKey::expose`] is the plaintext to show the user once: only its hash is stored.
    pub async fn create_api_key(
        &self,
        tenant: &TenantId,
        scopes: Scopes,
        details: NewApiKey,
    ) -> Result<(ApiKeyRecord, ApiKey), MetaError> {
        let key = ApiKey::generate()?;
        self.insert_api_key(tenant, key, scopes, details).await
    }

    /// [`Meta::create_api_key`] with a key generated beforehand, so that the caller knows
    /// its id first (the server writes the audit record of a new key before storing it).
    pub async fn insert_api_key(
        &self,
        tenant: &TenantId,
        key: ApiKey,
        scopes: Scopes,
        details: NewApiKey,
    ) -> Result<(ApiKeyRecord, ApiKey), MetaError> {
        if scopes.is_empty() {
            return Err(MetaError::Invalid {
                field: "scopes",
                reason: "an API key needs at least one scope",
            });
        }
        if details.name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
            return Err(MetaError::Invalid {
                field: "API key name",
                reason: "must be at most 200 bytes",
            });
        }
        if details
            .description
            .as_ref()
            .is_some_and(|d| d.len() > MAX_DESCRIPTION)
        {
            return Err(MetaError::Invalid {
                field: "API key description",
                reason: "must be at most 2000 bytes",
            });
        }
        let created_at = now_ms();
        let scopes_text = scopes.to_string();
        let sql = "INSERT INTO api_keys (id, tenant_id, secret_hash, scopes, name, description, \
                   created_at, expires_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(key.id().as_str())
                .bind(tenant.as_str())
                .bind(key.hash().as_bytes().as_slice())
                .bind(&scopes_text)
                .bind(details.name.as_deref())
                .bind(details.description.as_deref())
                .bind(created_at)
                .bind(details.expires_at.map(to_ms))
                .bind(details.created_by.as_deref())
                .execute(pool)
                .await
                .map_err(|e| classify(e, "API key id", "tenant"))?;
        });
        let record = ApiKeyRecord {
            id: key.id().clone(),
            tenant_id: tenant.clone(),
            scopes,
            name: details.name,
            description: details.description,
            created_at: from_ms(created_at),
            expires_at: details.expires_at.map(to_ms).map(from_ms),
            last_used_at: None,
            last_used_addr: None,
            revoked_at: None,
            suspended_at: None,
            created_by: details.created_by,
        };
        Ok((record, key))
    }

    /// Checks a key presented by a client (`peer` is the client's address, recorded as
    /// the key's last use) and returns the principal it speaks for.
    ///
    /// The secret is checked before revocation, suspension and expiry, so only the holder
    /// of the secret can learn those. Revocation and suspension take effect at once:
    /// nothing is cached.
    pub async fn authenticate_api_key(
        &self,
        presented: &str,
        peer: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let key = ApiKey::parse(presented).map_err(AuthError::Malformed)?;
        let sql = "SELECT tenant_id, secret_hash, scopes, expires_at, revoked_at, suspended_at, \
                   last_used_at FROM api_keys WHERE id = $1";
        let (tenant_id, hash, scopes, expires_at, revoked_at, suspended_at, last_used_at) = on_pool!(self, pool => {
            let Some(row) = sqlx::query(sql)
                .bind(key.id().as_str())
                .fetch_optional(pool)
                .await?
            else {
                return Err(AuthError::UnknownKey);
            };
            let tenant_id: String = row.try_get("tenant_id")?;
            let hash: Vec<u8> = row.try_get("secret_hash")?;
            let scopes: String = row.try_get("scopes")?;
            let expires_at: Option<i64> = row.try_get("expires_at")?;
            let revoked_at: Option<i64> = row.try_get("revoked_at")?;
            let suspended_at: Option<i64> = row.try_get("suspended_at")?;
            let last_used_at: Option<i64> = row.try_get("last_used_at")?;
            (tenant_id, hash, scopes, expires_at, revoked_at, suspended_at, last_used_at)
        });
        let hash = KeyHash::from_bytes(&hash).ok_or(MetaError::Corrupt {
            what: "API key hash",
        })?;
        if !hash.verify(&key) {
            return Err(AuthError::WrongSecret);
        }
        let tenant_id = TenantId::from_db(tenant_id);
        if revoked_at.is_some() {
            return Err(AuthError::Revoked {
                tenant_id,
                key_id: key.id().clone(),
            });
        }
        if suspended_at.is_some() {
            return Err(AuthError::Suspended);
        }
        let now = now_ms();
        if expires_at.is_some_and(|exp| exp <= now) {
            return Err(AuthError::Expired);
        }
        let scopes: Scopes = scopes.parse().map_err(|_| MetaError::Corrupt {
            what: "API key scopes",
        })?;
        self.touch_last_used(key.id(), now, peer).await;
        Ok(Principal {
            tenant_id,
            key_id: key.id().clone(),
            scopes,
            last_used_at: last_used_at.map(from_ms),
        })
    }

    /// Records a key's use at most once per `last_used_interval` per process, so that a
    /// busy key does not turn every request into a database write. A failed write is
    /// logged and retried at the next use; it does not refuse the request.
    async fn touch_last_used(&self, id: &KeyId, now: i64, peer: Option<IpAddr>) {
        let due = {
            let mut seen = self
                .last_used
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let instant = Instant::now();
            let interval = self.last_used_interval;
            let due = seen
                .get(id)
                .is_none_or(|last| instant.duration_since(*last) >= interval);
            if due {
                if seen.len() >= LAST_USED_PRUNE_AT {
                    seen.retain(|_, last| instant.duration_since(*last) < interval);
                }
                seen.insert(id.clone(), instant);
            }
            due
        };
        if !due {
            return;
        }
        let addr = peer.map(|a| a.to_string());
        let sql = "UPDATE api_keys SET last_used_at = $1, last_used_addr = $2 WHERE id = $3";
        let result = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(now)
                .bind(addr.as_deref())
                .bind(id.as_str())
                .execute(pool)
                .await
                .map(|_| ())
        });
        if let Err(e) = result {
            tracing::warn!(key_id = %id, error = %e, "could not record the API key's last use");
            self.last_used
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(id);
        }
    }

    /// Notes that key `key_id` was used from `addr` at `now_ms` (Unix milliseconds) and
    /// returns whether that was the first time: `true` only for the call whose insert
    /// created the row.
    ///
    /// Why: the server audits "API key used from a new address" once per key and address.
    /// The primary key decides which caller is first, so of several nodes seeing the same
    /// new address at once exactly one gets `true`. An IPv4 client seen through an IPv6
    /// socket (`::ffff:a.b.c.d`) is stored as the IPv4 address, so a dual-stack listener
    /// does not make it look new.
    pub async fn note_key_address(
        &self,
        key_id: &str,
        addr: IpAddr,
        now_ms: i64,
    ) -> Result<bool, MetaError> {
        let sql = "INSERT INTO api_key_addresses (key_id, addr, first_seen_ms) \
                   VALUES ($1, $2, $3) ON CONFLICT (key_id, addr) DO NOTHING";
        let addr = addr.to_canonical().to_string();
        let inserted = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(key_id)
                .bind(&addr)
                .bind(now_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(inserted == 1)
    }

    /// Undoes [`Meta::note_key_address`] when the audit record of the new address could not
    /// be written, so that the next use of the key from there tries the record again.
    pub async fn forget_key_address(&self, key_id: &str, addr: IpAddr) -> Result<(), MetaError> {
        let sql = "DELETE FROM api_key_addresses WHERE key_id = $1 AND addr = $2";
        let addr = addr.to_canonical().to_string();
        on_pool!(self, pool => {
            sqlx::query(sql).bind(key_id).bind(&addr).execute(pool).await?;
        });
        Ok(())
    }

    /// Revokes a key of `tenant`. Revoking a revoked key keeps its first revocation time.
    /// A key of another tenant is `NotFound`, like a key that does not exist.
    pub async fn revoke_api_key(&self, tenant: &TenantId, id: &KeyId) -> Result<(), MetaError> {
        let sql = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
                   WHERE id = $2 AND tenant_id = $3";
        let affected = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(now_ms())
                .bind(id.as_str())
                .bind(tenant.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(MetaError::NotFound { what: "API key" });
        }
        Ok(())
    }

    /// Containment: suspends every key of `tenant` that is neither revoked nor suspended
    /// already, as of `now_ms`, in one statement; returns how many. A suspended key is
    /// refused ([`AuthError::Suspended`]) until [`Meta::restore_api_keys`].
    ///
    /// Why not revoke: a security response must be able to stop ingest and API access at
    /// once without destroying the keys that the tenant's agents are configured with; once
    /// the incident is understood, the keys are restored (or revoked one by one).
    pub async fn suspend_api_keys(&self, tenant: &TenantId, now_ms: i64) -> Result<u64, MetaError> {
        let sql = "UPDATE api_keys SET suspended_at = $2 WHERE tenant_id = $1 \
                   AND revoked_at IS NULL AND suspended_at IS NULL";
        on_pool!(self, pool => {
            Ok(sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(now_ms)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// Ends a suspension: clears `suspended_at` on every key of `tenant`; returns how many
    /// keys were suspended. Revoked keys stay revoked.
    pub async fn restore_api_keys(&self, tenant: &TenantId) -> Result<u64, MetaError> {
        let sql = "UPDATE api_keys SET suspended_at = NULL WHERE tenant_id = $1 \
                   AND suspended_at IS NOT NULL";
        on_pool!(self, pool => {
            Ok(sqlx::query(sql)
                .bind(tenant.as_str())
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// One key of `tenant`.
    pub async fn api_key(
        &self,
        tenant: &TenantId,
        id: &KeyId,
    ) -> Result<Option<ApiKeyRecord>, MetaError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1 AND tenant_id = $2");
        on_pool!(self, pool => {
            match sqlx::query(&sql)
                .bind(id.as_str())
                .bind(tenant.as_str())
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Ok(Some(key_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    /// Every key of `tenant`, revoked ones included, oldest first.
    pub async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, MetaError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(tenant.as_str()).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(key_from_row!(row));
            }
            Ok(out)
        })
    }
}
