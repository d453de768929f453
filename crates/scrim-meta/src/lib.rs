//! Scrim's metadata database: tenants, people (users, memberships, sessions), API keys,
//! the segment catalog, the audit log and alerting (rules, notifications, findings).
//!
//! One API over two engines: SQLite (embedded, the single-node default: `meta.db` in the
//! data directory, WAL journal) and PostgreSQL (several stateless nodes). It holds
//! metadata only, never telemetry: the catalog knows where a segment is, its time range,
//! size and service names, not what is in it.
//!
//! # Two pools behind an enum, not `sqlx::Any`
//!
//! [`Meta`] holds either a `SqlitePool` or a `PgPool`, and each method runs the same code
//! on whichever it has (the `on_pool!` macro expands the body once per engine, so each copy
//! is checked against that engine's real types). `Any` was the alternative; it has more
//! friction for what we need:
//!
//! - engine-specific connection settings (WAL, `synchronous = FULL`, busy timeout, foreign
//!   keys; PostgreSQL `search_path`) are typed builder calls on the native options, not
//!   URL strings `Any` would have to pass through;
//! - no global `install_default_drivers()` and no lossy `AnyValue` type mapping (BLOB and
//!   BYTEA, `i32` against `i64`);
//! - where the SQL must differ (the migrations), each engine has its own text anyway.
//!
//! The queries themselves are the same text on both engines: `$1`-style placeholders,
//! which SQLite accepts too, `RETURNING`, and integer times.
//!
//! # Migrations
//!
//! `migrations/sqlite/` and `migrations/postgres/` are embedded with `include_str!` and
//! applied on every connect through sqlx's migrator (which records them in
//! `_sqlx_migrations`, checks their checksums and takes a lock on PostgreSQL so that nodes
//! starting together do not race). Applying them again is a no-op.
//!
//! # Tenant isolation
//!
//! Every read of tenant-owned rows (API keys listed or revoked, catalog segments) takes a
//! [`TenantId`] and filters on it in SQL. The reads without one are those whose whole
//! purpose is to find the tenant: [`Meta::authenticate_api_key`] (the tenant of a key),
//! and the background jobs' work lists, [`Meta::due_deliveries`] (each row names its
//! tenant) and [`Meta::tenants_with_alert_rules`]. A delivery is recorded by its
//! notification's id, which the caller read with its tenant.

mod alerting;
mod apikey;
mod audit;
mod catalog;
mod deletion;
mod error;
mod identity;
mod tenant;

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use alerting::{
    AlertEventRow, AlertRuleRow, ChannelRow, DeliveryOutcome, DeliveryRow, FindingRow,
    FindingTotal, NewAlertRule, NotificationRow,
};
pub use apikey::{ApiKeyRecord, AuthError, NewApiKey, Principal};
pub use audit::{AuditQuery, AuditRow, CheckpointRow};
pub use catalog::{NewSegment, Segment, Signal, TimeRange, WalMark};
pub use deletion::{Deletion, DeletionScope, DeletionStatus, NewDeletion, Shredded};
pub use error::MetaError;
pub use identity::{
    AiSettingsRow, AuthMethod, Member, Membership, NewSession, NewUser, SecuritySettings,
    SessionRecord, User, check_security_settings, normalize_email,
};
pub use scrim_auth::{ApiKey, KeyId, Role, Scope, Scopes, SessionHash, UserId};
pub use tenant::{
    MAX_POLICY_BYTES, NewTenant, Tenant, TenantDataKey, TenantId, WrappedKeyOwner,
    WrappedKeyOwnerBuf,
};

/// The SQLite file [`Meta::open_in`] uses inside the data directory.
pub const SQLITE_FILE: &str = "meta.db";

/// How often, at most, one process writes a key's `last_used_at` (see
/// [`Meta::set_last_used_interval`]).
pub const DEFAULT_LAST_USED_INTERVAL: Duration = Duration::from_secs(60);

/// Which engine a [`Meta`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool. The body is compiled once per
/// engine, so it may use engine-specific types freely.
macro_rules! on_pool {
    ($meta:expr, $pool:ident => $body:expr) => {
        match &$meta.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Begins a transaction that will write. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`, waiting up to the busy timeout): a deferred transaction that reads and then
/// writes fails at once with "database is locked" when another connection wrote in
/// between, and the busy timeout does not apply to that case. On PostgreSQL, `BEGIN`.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// A handle on the metadata database. Cheap to share behind an `Arc`; every method takes
/// `&self`.
pub struct Meta {
    pool: Pool,
    /// When this process last wrote each key's `last_used_at`: the throttle that keeps
    /// authentication from being a write per request.
    last_used: Mutex<HashMap<KeyId, Instant>>,
    last_used_interval: Duration,
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("Meta")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Meta {
    /// Connects to `sqlite://path?mode=rwc` (or `sqlite::memory:`) or
    /// `postgres://…` / `postgresql://…`, then applies the migrations.
    ///
    /// PostgreSQL settings can ride in the URL, e.g. `?options[search_path]=scrim`.
    /// The connection is plain TCP (no TLS is compiled in): use a loopback or otherwise
    /// trusted network until TLS is added.
    pub async fn connect(url: &str) -> Result<Self, MetaError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url).map_err(MetaError::Database)?;
            Self::connect_sqlite(options).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(MetaError::Database)?;
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .connect_with(options)
                .await?;
            Self::finish_connect(Pool::Postgres(pool)).await
        } else {
            Err(MetaError::UnsupportedUrl)
        }
    }

    /// Opens (creating if needed) the SQLite database `meta.db` in `data_dir`, in WAL
    /// journal mode. Creates `data_dir` if it does not exist, and a new `meta.db` with
    /// mode 0600 on Unix.
    pub async fn open_in(data_dir: &Path) -> Result<Self, MetaError> {
        std::fs::create_dir_all(data_dir).map_err(MetaError::Io)?;
        let file = data_dir.join(SQLITE_FILE);
        create_private(&file).map_err(MetaError::Io)?;
        let options = SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true);
        Self::connect_sqlite(options).await
    }

    async fn connect_sqlite(options: SqliteConnectOptions) -> Result<Self, MetaError> {
        let name = options.get_filename().to_string_lossy();
        let in_memory = name == ":memory:" || name.starts_with("file:sqlx-in-memory-");
        let options = options
            .foreign_keys(true)
            // Writers queue for the lock instead of failing at once with SQLITE_BUSY.
            .busy_timeout(Duration::from_secs(5))
            // FULL, not NORMAL: a catalog entry must survive power loss once the WAL that
            // fed its segment has been dropped.
            .synchronous(SqliteSynchronous::Full)
            // Deleted content is overwritten, not left in free pages: a destroyed data key
            // (crypto-shredding) must not survive in the file.
            .pragma("secure_delete", "ON");
        let options = if in_memory {
            options
        } else {
            // Readers do not block the writer, and the writer does not block readers.
            options.journal_mode(SqliteJournalMode::Wal)
        };
        let pool = if in_memory {
            // An in-memory database lives as long as its last connection: keep exactly one.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?
        };
        Self::finish_connect(Pool::Sqlite(pool)).await
    }

    async fn finish_connect(pool: Pool) -> Result<Self, MetaError> {
        let meta = Meta {
            pool,
            last_used: Mutex::new(HashMap::new()),
            last_used_interval: DEFAULT_LAST_USED_INTERVAL,
        };
        meta.migrate().await?;
        Ok(meta)
    }

    async fn migrate(&self) -> Result<(), MetaError> {
        let source = match self.pool {
            Pool::Sqlite(_) => Embedded(SQLITE_MIGRATIONS),
            Pool::Postgres(_) => Embedded(POSTGRES_MIGRATIONS),
        };
        let migrator = Migrator::new(source).await?;
        on_pool!(self, pool => migrator.run(pool).await?);
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Sets how often, at most, this process records a key's last use. The default,
    /// [`DEFAULT_LAST_USED_INTERVAL`], makes authentication a read except once a minute per
    /// key; `Duration::ZERO` records every use.
    pub fn set_last_used_interval(&mut self, interval: Duration) {
        self.last_used_interval = interval;
    }

    /// Closes every connection; waits for those in use to be returned.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// Creates `file` readable by its owner only, if it does not exist yet: it holds key
/// hashes and wrapped data keys. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(file: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The migrations of one engine: (version, description, SQL).
type MigrationList = &'static [(i64, &'static str, &'static str)];

const SQLITE_MIGRATIONS: MigrationList = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "trace filters and WAL marks",
        include_str!("../migrations/sqlite/0002_trace_filters_and_wal_marks.sql"),
    ),
    (
        3,
        "tenant capture policy",
        include_str!("../migrations/sqlite/0003_tenant_capture_policy.sql"),
    ),
    (
        4,
        "identity",
        include_str!("../migrations/sqlite/0004_identity.sql"),
    ),
    (
        5,
        "audit log",
        include_str!("../migrations/sqlite/0005_audit.sql"),
    ),
    (
        6,
        "API key addresses",
        include_str!("../migrations/sqlite/0006_api_key_addresses.sql"),
    ),
    (
        7,
        "deletions",
        include_str!("../migrations/sqlite/0007_deletions.sql"),
    ),
    (
        8,
        "tenant data keys",
        include_str!("../migrations/sqlite/0008_tenant_data_keys.sql"),
    ),
    (
        9,
        "replaced segments",
        include_str!("../migrations/sqlite/0009_replaced_segments.sql"),
    ),
    (
        10,
        "AI settings",
        include_str!("../migrations/sqlite/0010_ai_settings.sql"),
    ),
    (
        11,
        "alerting",
        include_str!("../migrations/sqlite/0011_alerting.sql"),
    ),
];
const POSTGRES_MIGRATIONS: MigrationList = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "trace filters and WAL marks",
        include_str!("../migrations/postgres/0002_trace_filters_and_wal_marks.sql"),
    ),
    (
        3,
        "tenant capture policy",
        include_str!("../migrations/postgres/0003_tenant_capture_policy.sql"),
    ),
    (
        4,
        "identity",
        include_str!("../migrations/postgres/0004_identity.sql"),
    ),
    (
        5,
        "audit log",
        include_str!("../migrations/postgres/0005_audit.sql"),
    ),
    (
        6,
        "API key addresses",
        include_str!("../migrations/postgres/0006_api_key_addresses.sql"),
    ),
    (
        7,
        "deletions",
        include_str!("../migrations/postgres/0007_deletions.sql"),
    ),
    (
        8,
        "tenant data keys",
        include_str!("../migrations/postgres/0008_tenant_data_keys.sql"),
    ),
    (
        9,
        "replaced segments",
        include_str!("../migrations/postgres/0009_replaced_segments.sql"),
    ),
    (
        10,
        "AI settings",
        include_str!("../migrations/postgres/0010_ai_settings.sql"),
    ),
    (
        11,
        "alerting",
        include_str!("../migrations/postgres/0011_alerting.sql"),
    ),
];

/// Migrations compiled into the binary: sqlx's public `MigrationSource` over a static list,
/// instead of `migrate!()`, which would pull in the `macros` feature.
#[derive(Debug)]
struct Embedded(MigrationList);

type BoxDynError = Box<dyn std::error::Error + Send + Sync>;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let list = self.0;
        Box::pin(async move {
            Ok(list
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Unix milliseconds, the unit of every `*_at` column.
pub(crate) fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

pub(crate) fn from_ms(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    };
    // Out of the platform's range only for a corrupt row; the epoch is a harmless answer.
    t.unwrap_or(UNIX_EPOCH)
}

pub(crate) fn now_ms() -> i64 {
    to_ms(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migration 0008 on a database that has tenants and segments: each tenant's key
    /// becomes its version 1, unchanged, and every segment is under version 1.
    async fn upgrade_to_data_key_versions(meta_at: impl AsyncFnOnce(Pool) -> Meta, pool: Pool) {
        let before = |list: MigrationList| -> MigrationList {
            let end = list.iter().position(|m| m.0 == 8).expect("0008");
            &list[..end]
        };
        let tenant = "t_abcdefghijklmnop";
        let deleted = "t_bbcdefghijklmnop";
        let insert_tenant = "INSERT INTO tenants (id, name, wrapped_data_key, created_at) \
                             VALUES ($1, 'acme', $2, 1234)";
        let insert_segment = "INSERT INTO segments (tenant_id, signal, path, min_time_ns, \
                              max_time_ns, row_count, byte_count, created_at) \
                              VALUES ($1, 'traces', 'p', 0, 1, 1, 1, 1)";
        let list = match pool {
            Pool::Sqlite(_) => before(SQLITE_MIGRATIONS),
            Pool::Postgres(_) => before(POSTGRES_MIGRATIONS),
        };
        let migrator = Migrator::new(Embedded(list)).await.unwrap();
        let old = Meta {
            pool,
            last_used: Mutex::new(HashMap::new()),
            last_used_interval: DEFAULT_LAST_USED_INTERVAL,
        };
        on_pool!(old, pool => {
            migrator.run(pool).await.unwrap();
            sqlx::query(insert_tenant)
                .bind(tenant)
                .bind(&[7u8, 0, 255][..])
                .execute(pool)
                .await
                .unwrap();
            sqlx::query(insert_segment).bind(tenant).execute(pool).await.unwrap();
            // A tenant deleted before 0008: its key was overwritten with nothing.
            sqlx::query(
                "INSERT INTO tenants (id, name, wrapped_data_key, created_at, deleted_at) \
                 VALUES ($1, 'deleted-x', $2, 1, 2)",
            )
            .bind(deleted)
            .bind(&[][..] as &[u8])
            .execute(pool)
            .await
            .unwrap();
        });
        let pool = old.pool;
        let meta = meta_at(pool).await;
        let id = TenantId::parse(tenant).unwrap();
        let keys = meta.tenant_data_keys(&id).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].version, 1);
        assert_eq!(keys[0].wrapped_key, [7, 0, 255]);
        assert_eq!(keys[0].created_at, from_ms(1234));
        let t = meta.tenant_by_id(&id).await.unwrap().unwrap();
        assert_eq!(t.data_key_version, 1);
        let segments = meta
            .segments(&id, Signal::Traces, TimeRange::all(), None)
            .await
            .unwrap();
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].key_version, 1);
        let gone = TenantId::parse(deleted).unwrap();
        assert!(meta.tenant_data_keys(&gone).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn migration_0008_makes_each_tenants_key_its_version_1() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("m.db"))
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .connect_with(options.clone())
            .await
            .unwrap();
        upgrade_to_data_key_versions(
            async |pool| {
                let meta = Meta {
                    pool,
                    last_used: Mutex::new(HashMap::new()),
                    last_used_interval: DEFAULT_LAST_USED_INTERVAL,
                };
                meta.migrate().await.unwrap();
                meta
            },
            Pool::Sqlite(pool),
        )
        .await;

        // PostgreSQL too, in a schema of its own, when the tests have one.
        let Some(base) = std::env::var("SCRIM_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("skipped on PostgreSQL: SCRIM_TEST_POSTGRES_URL is not set");
            return;
        };
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).unwrap();
        let schema = format!(
            "scrim_test_{}",
            random
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let admin = PgPool::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        let pool = PgPool::connect(&url).await.unwrap();
        upgrade_to_data_key_versions(
            async |pool| {
                if let Pool::Postgres(p) = pool {
                    p.close().await;
                }
                Meta::connect(&url).await.unwrap()
            },
            Pool::Postgres(pool),
        )
        .await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await
            .unwrap();
    }

    #[test]
    fn time_conversion_round_trips_and_saturates() {
        for ms in [0, 1, -1, 1_700_000_000_123, -86_400_000] {
            assert_eq!(to_ms(from_ms(ms)), ms);
        }
        let now = SystemTime::now();
        let back = from_ms(to_ms(now));
        assert!(now.duration_since(back).unwrap() < Duration::from_millis(1));
    }
}
