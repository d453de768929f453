//! Opening the platform's state: data directory, master key, metadata database.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use scrim_crypto::{KeyProvider, LocalKeyProvider};
use scrim_meta::Meta;

use crate::ServerError;
use crate::audit::AuditLog;
use crate::audit::checkpoints::{CHECKPOINT_KEY_FILE, CheckpointSigner};
use crate::regions::{RegionConfig, Regions};

/// Where the platform keeps its state.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Local state: the master key file (unless `SCRIM_MASTER_KEY` is set), the SQLite
    /// metadata database (unless `database_url` is set), the WAL and, by default, segments.
    pub data_dir: PathBuf,
    /// `postgres://…` (or `sqlite:…`) for a shared metadata database; `None` is SQLite in
    /// the data directory.
    pub database_url: Option<String>,
    /// The key that signs audit checkpoints; `None` is `<data_dir>/audit-checkpoint.key`.
    /// Kept apart from the master key; every node of a deployment needs the same file.
    pub audit_key_file: Option<PathBuf>,
    /// Where telemetry is stored, region by region (`[[regions]]` of the serve config);
    /// empty: the one default region in `data_dir` ([`crate::regions`]).
    pub regions: Vec<RegionConfig>,
}

impl PlatformConfig {
    /// State in `data_dir`, metadata in SQLite there.
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        PlatformConfig {
            data_dir: data_dir.into(),
            database_url: None,
            audit_key_file: None,
            regions: Vec::new(),
        }
    }
}

/// The opened state every platform command starts from.
#[derive(Clone)]
pub struct Platform {
    pub(crate) data_dir: PathBuf,
    pub(crate) meta: Arc<Meta>,
    pub(crate) keys: Arc<dyn KeyProvider>,
    pub(crate) audit: AuditLog,
    pub(crate) regions: Arc<Regions>,
    audit_key_file: PathBuf,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("data_dir", &self.data_dir)
            .field("master_key", &self.keys.id())
            .finish_non_exhaustive()
    }
}

/// Name of the master key file in the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

impl Platform {
    /// Creates the data directory (owner-only) if needed, loads or creates the master key
    /// (`SCRIM_MASTER_KEY` first, else `<data_dir>/master.key`) and opens the metadata
    /// database, applying its migrations.
    pub async fn open(config: &PlatformConfig) -> Result<Platform, ServerError> {
        create_private_dir(&config.data_dir)?;
        let keys: Arc<dyn KeyProvider> = match LocalKeyProvider::from_env() {
            Some(provider) => Arc::new(provider?),
            None => Arc::new(LocalKeyProvider::load_or_create(
                &config.data_dir.join(MASTER_KEY_FILE),
            )?),
        };
        let meta = match &config.database_url {
            Some(url) => Meta::connect(url).await?,
            None => Meta::open_in(&config.data_dir).await?,
        };
        let keys = crate::keys::finish_interrupted_rotation(&config.data_dir, keys, &meta).await?;
        let meta = Arc::new(meta);
        let regions = Arc::new(Regions::open(&config.data_dir, &config.regions)?);
        Ok(Platform {
            regions,
            data_dir: config.data_dir.clone(),
            audit: AuditLog::new(Arc::clone(&meta)),
            meta,
            keys,
            audit_key_file: config
                .audit_key_file
                .clone()
                .unwrap_or_else(|| config.data_dir.join(CHECKPOINT_KEY_FILE)),
        })
    }

    /// The metadata database.
    pub fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

    /// The tenant called `name`, or the usage error every command gives for an unknown one.
    pub async fn tenant_named(&self, name: &str) -> Result<scrim_meta::Tenant, ServerError> {
        self.meta
            .tenant_by_name(name)
            .await?
            .ok_or_else(|| ServerError::Usage(format!("no tenant named {name:?}")))
    }

    /// The master key's provider.
    pub fn keys(&self) -> &Arc<dyn KeyProvider> {
        &self.keys
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The regions telemetry is stored in.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Where the audit checkpoint key is (or will be created).
    pub fn audit_key_file(&self) -> &Path {
        &self.audit_key_file
    }

    /// The audit checkpoint key, created on first use.
    pub fn checkpoint_signer(&self) -> Result<CheckpointSigner, ServerError> {
        CheckpointSigner::load_or_create(&self.audit_key_file)
    }
}

/// Creates `dir` and its parents; a directory Scrim creates is readable by its owner only,
/// as it holds the master key and encrypted telemetry.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), ServerError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        ServerError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot create data directory {}: {e}", dir.display()),
        ))
    })
}
