//! Tenants: the unit of isolation. Each has its own data keys (wrapped by the master key,
//! stored here as opaque bytes, by version: table `tenant_data_keys`), retention and region.

use std::fmt;
use std::time::SystemTime;

use sqlx::Row;

use crate::BeginWrite as _;
use crate::error::{MetaError, classify};
use crate::{Meta, from_ms, now_ms, on_pool};

/// A tenant's id: `t_` followed by 16 characters of lowercase base32 (80 random bits).
/// Unlike the name it never changes, so everything that belongs to a tenant refers to it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

const TENANT_ID_PREFIX: &str = "t_";
const TENANT_ID_RANDOM: usize = 16;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

impl TenantId {
    /// A new random id.
    pub fn generate() -> Result<Self, MetaError> {
        random_id(TENANT_ID_PREFIX).map(Self)
    }

    /// Checks the format of an id that came from outside (a command line, a URL).
    pub fn parse(s: &str) -> Result<Self, MetaError> {
        let ok = s.strip_prefix(TENANT_ID_PREFIX).is_some_and(|rest| {
            rest.len() == TENANT_ID_RANDOM && rest.bytes().all(|b| BASE32.contains(&b))
        });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(MetaError::Invalid {
                field: "tenant id",
                reason: "expected t_ and 16 characters of a-z, 2-7",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id read back from the database, which only ever stores checked ids.
    pub(crate) fn from_db(s: String) -> Self {
        Self(s)
    }
}

/// `prefix` followed by 16 characters of lowercase base32 (80 random bits): the form of
/// every random id in this crate (`t_` tenants, `al_` alert rules, `ch_` channels), so
/// they all read alike and fit in a URL path segment as they are.
pub(crate) fn random_id(prefix: &str) -> Result<String, MetaError> {
    let mut bytes = [0u8; TENANT_ID_RANDOM];
    getrandom::fill(&mut bytes)?;
    let mut id = String::with_capacity(prefix.len() + TENANT_ID_RANDOM);
    id.push_str(prefix);
    // 256 is a multiple of 32: `b % 32` keeps exactly 5 uniform bits.
    id.extend(
        bytes
            .iter()
            .map(|b| char::from(BASE32[usize::from(b % 32)])),
    );
    Ok(id)
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

/// A stored tenant.
#[derive(Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub region: String,
    pub retention_days: u16,
    pub created_at: SystemTime,
    /// The tenant's own capture policy (TOML); `None`: the server's.
    pub capture_policy: Option<String>,
    /// Grows with every change of `capture_policy`.
    pub policy_version: i64,
    /// The version of the tenant's current data key (the highest in
    /// [`Meta::tenant_data_keys`]); 0 once [`Meta::destroy_tenant_keys`] removed them all.
    pub data_key_version: u32,
    /// Containment: since when reads of the tenant's telemetry are refused (a security
    /// response freezes them while an incident is looked into); `None`: reads allowed.
    pub reads_frozen_at: Option<SystemTime>,
    /// Who froze them, as the audit log names them.
    pub reads_frozen_by: Option<String>,
}

/// One version of a tenant's data key.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantDataKey {
    /// 1 for the key the tenant was created with, then one more per rotation.
    pub version: u32,
    /// Wrapped by the master key; opaque here.
    pub wrapped_key: Vec<u8>,
    pub created_at: SystemTime,
}

impl fmt::Debug for TenantDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantDataKey")
            .field("version", &self.version)
            .field(
                "wrapped_key",
                &format_args!("[{} bytes]", self.wrapped_key.len()),
            )
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// The largest capture policy a tenant may store.
pub const MAX_POLICY_BYTES: usize = 1 << 20;

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("region", &self.region)
            .field("retention_days", &self.retention_days)
            .field("created_at", &self.created_at)
            .field(
                "capture_policy",
                &self.capture_policy.as_ref().map(|p| p.len()),
            )
            .field("policy_version", &self.policy_version)
            .field("data_key_version", &self.data_key_version)
            .field("reads_frozen_at", &self.reads_frozen_at)
            .field("reads_frozen_by", &self.reads_frozen_by)
            .finish()
    }
}

/// What [`Meta::create_tenant`] needs. `NewTenant::new(name, wrapped_key)` fills the
/// defaults (a random id, region `local`, 30 days of retention).
#[derive(Clone)]
pub struct NewTenant {
    /// Given by the caller when the data key was wrapped with the id as associated data
    /// (so it must be known first); otherwise [`TenantId::generate`].
    pub id: TenantId,
    pub name: String,
    pub region: String,
    pub retention_days: u16,
    /// The tenant's first data key (version 1), wrapped by the master key.
    pub wrapped_data_key: Vec<u8>,
    /// The tenant's own capture policy (TOML, checked by the caller); `None`: the server's.
    pub capture_policy: Option<String>,
}

impl NewTenant {
    pub const DEFAULT_REGION: &str = "local";
    pub const DEFAULT_RETENTION_DAYS: u16 = 30;
    pub const MAX_RETENTION_DAYS: u16 = 3650;

    pub fn new(name: impl Into<String>, wrapped_data_key: Vec<u8>) -> Result<Self, MetaError> {
        Ok(Self {
            id: TenantId::generate()?,
            name: name.into(),
            region: Self::DEFAULT_REGION.to_owned(),
            retention_days: Self::DEFAULT_RETENTION_DAYS,
            wrapped_data_key,
            capture_policy: None,
        })
    }

    fn validate(&self) -> Result<(), MetaError> {
        validate_label("tenant name", &self.name)?;
        validate_label("region", &self.region)?;
        if !(1..=Self::MAX_RETENTION_DAYS).contains(&self.retention_days) {
            return Err(MetaError::Invalid {
                field: "retention_days",
                reason: "must be between 1 and 3650",
            });
        }
        if self
            .capture_policy
            .as_ref()
            .is_some_and(|p| p.len() > MAX_POLICY_BYTES)
        {
            return Err(MetaError::Invalid {
                field: "capture policy",
                reason: "at most 1 MiB",
            });
        }
        if self.wrapped_data_key.is_empty() {
            // A tenant without a data key could not be crypto-shredded; refuse it.
            return Err(MetaError::Invalid {
                field: "wrapped data key",
                reason: "must not be empty",
            });
        }
        TenantId::parse(self.id.as_str())?;
        Ok(())
    }
}

/// Tenant names and regions: 1 to 63 characters of `a-z`, `0-9` and `-`, not starting with
/// `-` (a DNS label's alphabet, so a name fits in a hostname, a path and a command line,
/// where a leading `-` would read as a flag).
pub fn validate_label(field: &'static str, s: &str) -> Result<(), MetaError> {
    let reason = if s.is_empty() || s.len() > 63 {
        "must be 1 to 63 characters long"
    } else if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        "may contain only lowercase letters a-z, digits 0-9 and '-'"
    } else if s.starts_with('-') {
        "must not start with '-'"
    } else {
        return Ok(());
    };
    Err(MetaError::Invalid { field, reason })
}

macro_rules! tenant_from_row {
    ($row:expr) => {{
        let row = $row;
        let retention: i32 = row.try_get("retention_days")?;
        Tenant {
            id: TenantId::from_db(row.try_get("id")?),
            name: row.try_get("name")?,
            region: row.try_get("region")?,
            retention_days: u16::try_from(retention).map_err(|_| MetaError::Corrupt {
                what: "tenant retention",
            })?,
            created_at: from_ms(row.try_get("created_at")?),
            capture_policy: row.try_get("capture_policy")?,
            policy_version: row.try_get("policy_version")?,
            data_key_version: key_version(row.try_get("data_key_version")?)?,
            reads_frozen_at: row
                .try_get::<Option<i64>, _>("reads_frozen_at")?
                .map(from_ms),
            reads_frozen_by: row.try_get("reads_frozen_by")?,
        }
    }};
}

const TENANT_COLUMNS: &str = "id, name, region, retention_days, created_at, capture_policy, \
     policy_version, reads_frozen_at, reads_frozen_by, (SELECT COALESCE(MAX(k.version), 0) FROM tenant_data_keys k \
     WHERE k.tenant_id = tenants.id) AS data_key_version";

/// Crypto-shredding: every version of a tenant's data key, in one statement.
pub(crate) const DESTROY_TENANT_KEYS: &str = "DELETE FROM tenant_data_keys WHERE tenant_id = $1";

/// A key version as the database stores it (`INTEGER`, `int4` on PostgreSQL).
fn key_version(v: i32) -> Result<u32, MetaError> {
    u32::try_from(v).map_err(|_| MetaError::Corrupt {
        what: "data key version",
    })
}

fn db_version(v: u32) -> Result<i32, MetaError> {
    i32::try_from(v).map_err(|_| MetaError::Invalid {
        field: "data key version",
        reason: "too large",
    })
}

impl Meta {
    /// Creates a tenant and its data key version 1, in one transaction. A taken name is
    /// `AlreadyExists { what: "tenant name" }`.
    pub async fn create_tenant(&self, new: &NewTenant) -> Result<Tenant, MetaError> {
        new.validate()?;
        let created_at = now_ms();
        let sql = "INSERT INTO tenants (id, name, region, retention_days, created_at, \
                   capture_policy) VALUES ($1, $2, $3, $4, $5, $6)";
        let key = "INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key, created_at) \
                   VALUES ($1, 1, $2, $3)";
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(sql)
                .bind(new.id.as_str())
                .bind(&new.name)
                .bind(&new.region)
                .bind(i32::from(new.retention_days))
                .bind(created_at)
                .bind(new.capture_policy.as_deref())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    // The only other unique column is the random id.
                    let what = if is_id_conflict(&e) { "tenant id" } else { "tenant name" };
                    classify(e, what, "tenant")
                })?;
            sqlx::query(key)
                .bind(new.id.as_str())
                .bind(&new.wrapped_data_key)
                .bind(created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(Tenant {
            id: new.id.clone(),
            name: new.name.clone(),
            region: new.region.clone(),
            retention_days: new.retention_days,
            created_at: from_ms(created_at),
            capture_policy: new.capture_policy.clone(),
            policy_version: 0,
            data_key_version: 1,
            reads_frozen_at: None,
            reads_frozen_by: None,
        })
    }

    /// Every data key of `tenant`, oldest version first; empty for an unknown tenant or
    /// once [`Meta::destroy_tenant_keys`] ran.
    pub async fn tenant_data_keys(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<TenantDataKey>, MetaError> {
        let sql = "SELECT version, wrapped_key, created_at FROM tenant_data_keys \
                   WHERE tenant_id = $1 ORDER BY version";
        let rows: Vec<(i32, Vec<u8>, i64)> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(tenant.as_str()).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(version, wrapped_key, created_at)| {
                Ok(TenantDataKey {
                    version: key_version(version)?,
                    wrapped_key,
                    created_at: from_ms(created_at),
                })
            })
            .collect()
    }

    /// Adds version `version` of `tenant`'s data key (a rotation): the new current key.
    /// `previous` is the wrapped key of version `version - 1` as the caller read it; the
    /// insert happens only if that row still holds exactly those bytes, in the same
    /// statement. So two rotations never take one version (the second is
    /// `AlreadyExists { what: "data key version" }`), and a key wrapped by a master key
    /// that a concurrent master rotation replaced, or of a tenant whose keys were
    /// destroyed meanwhile, is refused (`Invalid`) rather than stored.
    pub async fn add_tenant_data_key(
        &self,
        tenant: &TenantId,
        version: u32,
        previous: &[u8],
        wrapped: &[u8],
    ) -> Result<TenantDataKey, MetaError> {
        if version < 2 {
            return Err(MetaError::Invalid {
                field: "data key version",
                reason: "a rotation adds version 2 or later",
            });
        }
        if wrapped.is_empty() {
            return Err(MetaError::Invalid {
                field: "wrapped data key",
                reason: "must not be empty",
            });
        }
        let created_at = now_ms();
        let sql = "INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key, created_at) \
                   SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM tenant_data_keys \
                   WHERE tenant_id = $1 AND version = $5 AND wrapped_key = $6)";
        let added = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(db_version(version)?)
                .bind(wrapped)
                .bind(created_at)
                .bind(db_version(version - 1)?)
                .bind(previous)
                .execute(pool)
                .await
                .map_err(|e| classify(e, "data key version", "tenant"))?
                .rows_affected()
        });
        if added != 1 {
            return Err(MetaError::Invalid {
                field: "data key rotation",
                reason: "the tenant's current key changed meanwhile (another rotation, a \
                         master key rotation or its destruction); read the keys again",
            });
        }
        Ok(TenantDataKey {
            version,
            wrapped_key: wrapped.to_vec(),
            created_at: from_ms(created_at),
        })
    }

    /// Crypto-shredding: removes every version of `tenant`'s data key, in one statement.
    /// Everything written under them (segments, WAL records, trace filters, anything
    /// derived from them such as pseudonyms and the SSO secret, and every copy of these
    /// anywhere, backups included) can no longer be read by anyone; the files themselves
    /// are removed afterwards, at leisure. The tenant's row stays (delete it after).
    /// Returns how many key versions were removed.
    ///
    /// On SQLite the deleted rows are overwritten (`secure_delete`, set on every
    /// connection) and the journal is checkpointed and truncated, so the wrapped keys do
    /// not stay in `meta.db` or `meta.db-wal`. PostgreSQL keeps dead row versions until
    /// `VACUUM`; its operators run it (and treat database backups as holding the keys).
    pub async fn destroy_tenant_keys(&self, tenant: &TenantId) -> Result<u64, MetaError> {
        let removed = on_pool!(self, pool => {
            sqlx::query(DESTROY_TENANT_KEYS)
                .bind(tenant.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if let crate::Pool::Sqlite(pool) = &self.pool {
            // The WAL file still holds the pages as they were before the delete: copy the
            // zeroed pages into the database and empty it. A reader holding an old
            // snapshot can keep it from finishing; the next checkpoint then does it.
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(pool)
                .await?;
            if busy != 0 {
                tracing::warn!(
                    "the metadata journal could not be truncated after destroying a tenant's \
                     keys (a reader was busy); the next checkpoint overwrites it"
                );
            }
        }
        Ok(removed)
    }

    /// Sets (or with `None` clears, back to the server's) the tenant's capture policy and
    /// bumps its version; returns the new version. The text is stored as given: the caller
    /// checks that it parses. An unknown tenant is `NotFound`.
    pub async fn set_capture_policy(
        &self,
        id: &TenantId,
        policy: Option<&str>,
    ) -> Result<i64, MetaError> {
        if policy.is_some_and(|p| p.len() > MAX_POLICY_BYTES) {
            return Err(MetaError::Invalid {
                field: "capture policy",
                reason: "at most 1 MiB",
            });
        }
        let sql = "UPDATE tenants SET capture_policy = $2, policy_version = policy_version + 1 \
                   WHERE id = $1 RETURNING policy_version";
        let version: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(id.as_str())
                .bind(policy)
                .fetch_optional(pool)
                .await?
        });
        version.ok_or(MetaError::NotFound { what: "tenant" })
    }

    /// Containment: freezes reads of the tenant's telemetry (`Some((at_ms, by))`: since
    /// `at_ms`, by `by` as the audit log names them) or lifts the freeze (`None`). The
    /// server refuses queries of a frozen tenant; ingest goes on, so nothing is lost while
    /// an incident is looked into. An unknown or deleted tenant is `NotFound`.
    pub async fn set_reads_frozen(
        &self,
        id: &TenantId,
        frozen: Option<(i64, &str)>,
    ) -> Result<(), MetaError> {
        let sql = "UPDATE tenants SET reads_frozen_at = $2, reads_frozen_by = $3 \
                   WHERE id = $1 AND deleted_at IS NULL";
        let changed = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id.as_str())
                .bind(frozen.map(|(at, _)| at))
                .bind(frozen.map(|(_, by)| by))
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(MetaError::NotFound { what: "tenant" });
        }
        Ok(())
    }

    /// Sets how many days the tenant's telemetry is kept (1 to
    /// [`NewTenant::MAX_RETENTION_DAYS`]). An unknown tenant is `NotFound`.
    pub async fn set_retention_days(&self, id: &TenantId, days: u16) -> Result<(), MetaError> {
        if !(1..=NewTenant::MAX_RETENTION_DAYS).contains(&days) {
            return Err(MetaError::Invalid {
                field: "retention_days",
                reason: "must be 1 to 3650 days",
            });
        }
        let sql = "UPDATE tenants SET retention_days = $2 WHERE id = $1";
        let changed = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id.as_str())
                .bind(i32::from(days))
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(MetaError::NotFound { what: "tenant" });
        }
        Ok(())
    }

    /// Master key rotation's one write: every wrapped key in the database (every version
    /// of each tenant's data key, each platform key) passed through `rewrap` and stored
    /// again, all in one transaction, so the database never holds keys wrapped under two
    /// master keys. A key changed meanwhile (compare on the old bytes) fails the whole
    /// rotation. Returns how many keys were rewrapped.
    ///
    /// A tenant key rotation cannot slip a key wrapped by the old master key in: on SQLite
    /// the transaction holds the write lock from its first statement; on PostgreSQL it
    /// locks `tenant_data_keys` against inserts until it commits, and
    /// [`Meta::add_tenant_data_key`] refuses a key whose previous version's bytes changed.
    pub async fn rewrap_keys<F>(&self, mut rewrap: F) -> Result<usize, MetaError>
    where
        F: FnMut(WrappedKeyOwner<'_>, &[u8]) -> Result<Vec<u8>, MetaError>,
    {
        let update_tenant = "UPDATE tenant_data_keys SET wrapped_key = $4 \
                             WHERE tenant_id = $1 AND version = $2 AND wrapped_key = $3";
        let update_platform = "UPDATE platform_keys SET wrapped_key = $3 \
                               WHERE name = $1 AND wrapped_key = $2";
        let postgres = self.backend() == crate::Backend::Postgres;
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if postgres {
                // Conflicts with the row-exclusive lock of an insert: a rotation of a tenant
                // key waits for this transaction (or this one for it) instead of racing it.
                sqlx::query("LOCK TABLE tenant_data_keys IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
            } else {
                // Written first: takes SQLite's write lock for the whole rotation.
                sqlx::query("UPDATE tenant_data_keys SET version = version WHERE 1 = 0")
                    .execute(&mut *tx)
                    .await?;
            }
            let tenants = sqlx::query(
                "SELECT tenant_id, version, wrapped_key FROM tenant_data_keys \
                 ORDER BY tenant_id, version",
            )
            .fetch_all(&mut *tx)
            .await?;
            let platform = sqlx::query("SELECT name, wrapped_key FROM platform_keys ORDER BY name")
                .fetch_all(&mut *tx)
                .await?;
            let mut done = 0;
            for row in tenants {
                let id: String = row.try_get("tenant_id")?;
                let version: i32 = row.try_get("version")?;
                let old: Vec<u8> = row.try_get("wrapped_key")?;
                let tenant = TenantId::parse(&id)?;
                let new = rewrap(WrappedKeyOwner::Tenant(&tenant, key_version(version)?), &old)?;
                let n = sqlx::query(update_tenant)
                    .bind(&id)
                    .bind(version)
                    .bind(old.as_slice())
                    .bind(new.as_slice())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n != 1 {
                    return Err(MetaError::Invalid {
                        field: "master key rotation",
                        reason: "a tenant's key changed during the rotation; run it again",
                    });
                }
                done += 1;
            }
            for row in platform {
                let name: String = row.try_get("name")?;
                let old: Vec<u8> = row.try_get("wrapped_key")?;
                let new = rewrap(WrappedKeyOwner::Platform(&name), &old)?;
                let n = sqlx::query(update_platform)
                    .bind(&name)
                    .bind(old.as_slice())
                    .bind(new.as_slice())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n != 1 {
                    return Err(MetaError::Invalid {
                        field: "master key rotation",
                        reason: "a platform key changed during the rotation; run it again",
                    });
                }
                done += 1;
            }
            tx.commit().await?;
            Ok(done)
        })
    }

    /// One wrapped key: a version of a tenant's data key if there is one, else a platform
    /// key. For checking which master key the database's keys are wrapped under (a master
    /// rotation rewraps them all at once, so any one tells).
    pub async fn wrapped_key_sample(
        &self,
    ) -> Result<Option<(WrappedKeyOwnerBuf, Vec<u8>)>, MetaError> {
        let platform = "SELECT name, wrapped_key FROM platform_keys ORDER BY name LIMIT 1";
        let tenant = "SELECT tenant_id, version, wrapped_key FROM tenant_data_keys \
                      ORDER BY tenant_id, version LIMIT 1";
        on_pool!(self, pool => {
            if let Some(row) = sqlx::query(tenant).fetch_optional(pool).await? {
                let id: String = row.try_get("tenant_id")?;
                let version: i32 = row.try_get("version")?;
                return Ok(Some((
                    WrappedKeyOwnerBuf::Tenant(TenantId::parse(&id)?, key_version(version)?),
                    row.try_get("wrapped_key")?,
                )));
            }
            if let Some(row) = sqlx::query(platform).fetch_optional(pool).await? {
                return Ok(Some((
                    WrappedKeyOwnerBuf::Platform(row.try_get("name")?),
                    row.try_get("wrapped_key")?,
                )));
            }
            Ok(None)
        })
    }

    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, MetaError> {
        let sql =
            format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = $1 AND deleted_at IS NULL");
        on_pool!(self, pool => {
            match sqlx::query(&sql).bind(name).fetch_optional(pool).await? {
                Some(row) => Ok(Some(tenant_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    pub async fn tenant_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, MetaError> {
        let sql =
            format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1 AND deleted_at IS NULL");
        on_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.as_str()).fetch_optional(pool).await? {
                Some(row) => Ok(Some(tenant_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    /// The region of tenant `id`, deleted or not (a deletion finishing after the tenant is
    /// gone still needs to know where its data was).
    pub async fn tenant_region(&self, id: &TenantId) -> Result<Option<String>, MetaError> {
        let sql = "SELECT region FROM tenants WHERE id = $1";
        on_pool!(self, pool => {
            Ok(sqlx::query_scalar(sql).bind(id.as_str()).fetch_optional(pool).await?)
        })
    }

    /// Every tenant, ordered by name.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, MetaError> {
        let sql =
            format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE deleted_at IS NULL ORDER BY name");
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(tenant_from_row!(row));
            }
            Ok(out)
        })
    }
}

/// Whether a unique violation is on the primary key rather than the name. Constraint names
/// differ by engine (`tenants_pkey` on PostgreSQL; SQLite reports none but names the
/// column in its message).
fn is_id_conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.constraint() == Some("tenants_pkey") || db.message().contains("tenants.id")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "acme", "acme-prod-2", "0", &"a".repeat(63), "a-"] {
            assert!(validate_label("tenant name", ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "1 to 63"),
            (&"a".repeat(64), "1 to 63"),
            ("Acme", "lowercase"),
            ("acme_prod", "lowercase"),
            ("acme prod", "lowercase"),
            ("acmé", "lowercase"),
            ("-acme", "start with"),
        ] {
            let err = validate_label("tenant name", bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid tenant name: "), "{err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn tenant_ids() {
        let id = TenantId::generate().unwrap();
        assert!(id.as_str().starts_with("t_"));
        assert_eq!(id.as_str().len(), 18);
        assert_eq!(TenantId::parse(id.as_str()).unwrap(), id);
        assert_ne!(TenantId::generate().unwrap(), id);
        for bad in [
            "",
            "t_",
            "x_aaaaaaaaaaaaaaaa",
            "t_AAAAAAAAAAAAAAAA",
            "t_aaaaaaaaaaaaaaa1",
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_wrapped_key() {
        let t = Tenant {
            id: TenantId::generate().unwrap(),
            name: "acme".into(),
            region: "local".into(),
            retention_days: 30,
            created_at: SystemTime::UNIX_EPOCH,
            capture_policy: None,
            policy_version: 0,
            data_key_version: 1,
            reads_frozen_at: None,
            reads_frozen_by: None,
        };
        let shown = format!("{t:?}");
        assert!(shown.contains("data_key_version: 1"), "{shown}");
        let k = TenantDataKey {
            version: 2,
            wrapped_key: vec![0xAB; 40],
            created_at: SystemTime::UNIX_EPOCH,
        };
        let shown = format!("{k:?}");
        assert!(shown.contains("[40 bytes]"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }
}

/// Whose wrapped key [`Meta::rewrap_keys`] hands over: the wrapping context follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappedKeyOwner<'a> {
    /// A tenant's data key, by version.
    Tenant(&'a TenantId, u32),
    Platform(&'a str),
}

/// [`WrappedKeyOwner`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrappedKeyOwnerBuf {
    Tenant(TenantId, u32),
    Platform(String),
}

impl WrappedKeyOwnerBuf {
    pub fn as_ref(&self) -> WrappedKeyOwner<'_> {
        match self {
            WrappedKeyOwnerBuf::Tenant(t, v) => WrappedKeyOwner::Tenant(t, *v),
            WrappedKeyOwnerBuf::Platform(n) => WrappedKeyOwner::Platform(n),
        }
    }
}
