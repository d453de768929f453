//! The tenants this node serves: their unwrapped keys, capture policy and write path,
//! opened on first use and kept. A tenant's keys are replaced when its data key rotates
//! (`crate::tenant_keys`): at once for this node's own rotations, at the next flush round
//! for others, and before any read that meets a segment under a key it does not hold yet.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use scrim_meta::{Tenant, TenantId};
use scrim_redact::{Policy, Redactor};
use scrim_store::Keyring;
use scrim_store::ingest::{LogConfig, TenantLog};

use crate::{Platform, ServerError};

/// One tenant, ready to ingest and query.
pub(crate) struct TenantRuntime {
    pub tenant: Tenant,
    /// Every version of the data key (segments are written under the current one and read
    /// with the one each names; the WAL derives its own from them), and the current
    /// version.
    keys: RwLock<(Keyring, u32)>,
    /// The capture policy (the tenant's own, else the server's), with pseudonyms keyed per
    /// tenant; replaced when the tenant's policy changes ([`Tenants::refresh_policies`]).
    redactor: RwLock<Arc<Redactor>>,
    /// The `policy_version` `redactor` was built from.
    policy_version: AtomicI64,
    /// Derived from version 1 of the data key, never from the current one, so that
    /// pseudonyms stay the same across key rotations.
    pseudonym_key: scrim_crypto::DataKey,
    pub log: TenantLog,
    /// Held for writing while a flush moves rows from the buffer to the catalog, and for
    /// reading while a query takes its snapshot of both, so that no query sees a row twice
    /// or not at all.
    pub gate: tokio::sync::RwLock<()>,
    /// Held for a whole flush: two flushes at once (the flusher's round, `Server::flush`,
    /// a deletion job's) would each write the same WAL records to segments.
    pub flushing: tokio::sync::Mutex<()>,
}

impl TenantRuntime {
    /// The capture policy to apply now.
    pub fn redactor(&self) -> Arc<Redactor> {
        Arc::clone(&self.redactor.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The tenant's keyring now (cheap: the keys are shared).
    pub fn keys(&self) -> Keyring {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// The version of the current key.
    pub fn key_version(&self) -> u32 {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).1
    }

    /// Switches to `keys` if they are newer than the ones held: new segments and WAL
    /// records go under its current key from now on.
    fn set_keys(&self, keys: Keyring, version: u32) -> bool {
        let mut held = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if version <= held.1 {
            return false;
        }
        // Under the lock, so the WAL and the segments switch in the same order as the
        // versions grow.
        self.log.set_keys(&keys);
        *held = (keys, version);
        true
    }
}

pub(crate) struct Tenants {
    platform: Platform,
    policy: Policy,
    log_config: LogConfig,
    open: Mutex<HashMap<String, Arc<TenantRuntime>>>,
    /// Serialises first opens, so that two requests never open one WAL twice.
    opening: tokio::sync::Mutex<()>,
}

impl Tenants {
    pub fn new(platform: Platform, policy: Policy, log_config: LogConfig) -> Tenants {
        Tenants {
            platform,
            policy,
            log_config,
            open: Mutex::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, id: &str) -> Option<Arc<TenantRuntime>> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Every tenant opened so far.
    pub fn all(&self) -> Vec<Arc<TenantRuntime>> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Drops a deleted tenant from this node: its runtime (with its key) leaves the cache
    /// and its WAL directory is removed. Rows still buffered are gone with it: they belong
    /// to a tenant whose key no longer exists.
    pub fn forget(&self, id: &TenantId) -> Result<(), ServerError> {
        let dropped = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id.as_str());
        drop(dropped);
        remove_wal(&self.platform, id)
    }

    /// The tenant, opened (key unwrapped, WAL replayed) if this is its first use.
    pub async fn get(&self, id: &TenantId) -> Result<Arc<TenantRuntime>, ServerError> {
        if let Some(rt) = self.cached(id.as_str()) {
            return Ok(rt);
        }
        let _one_at_a_time = self.opening.lock().await;
        if let Some(rt) = self.cached(id.as_str()) {
            return Ok(rt);
        }
        let tenant = self
            .platform
            .meta
            .tenant_by_id(id)
            .await?
            .ok_or_else(|| ServerError::Usage(format!("tenant {id} does not exist")))?;
        let keys = crate::tenant_keys::load(&self.platform, &tenant.id).await?;
        // From the first key, not the current one: a rotation must not change pseudonyms.
        let pseudonym_key = keys.first.derive(b"", b"scrim/pseudonym/v1");
        let redactor = self.redactor_for(&tenant, &pseudonym_key)?;
        // Its region's WAL directory, never another's (a tenant of a region this node does
        // not serve is refused here).
        let region = self.platform.regions.of(&tenant)?;
        let dir = region.wal_of(tenant.id.as_str());
        crate::platform::create_private_dir(&region.wal_dir)?;
        let (log_keys, tenant_id, config) = (
            keys.keyring.clone(),
            tenant.id.to_string(),
            self.log_config.clone(),
        );
        let log = tokio::task::spawn_blocking(move || {
            TenantLog::open(&dir, &tenant_id, &log_keys, &config)
        })
        .await
        .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))??;
        // Records a flush already put in catalogued segments, if this node crashed before
        // its WAL forgot them: drop them instead of storing their rows twice.
        if let Some(mark) = self
            .platform
            .meta
            .wal_mark(&tenant.id, log.wal_id())
            .await?
        {
            let mark = scrim_store::ingest::WalMark {
                wal_id: mark.wal_id,
                segment: mark.segment,
                offset: mark.offset,
            };
            let dropped = log.discard_through(&mark)?;
            if dropped > 0 {
                tracing::info!(
                    "tenant {}: {dropped} WAL records were already in segments",
                    tenant.id
                );
            }
        }
        let rt = Arc::new(TenantRuntime {
            policy_version: AtomicI64::new(tenant.policy_version),
            tenant,
            keys: RwLock::new((keys.keyring, keys.version)),
            redactor: RwLock::new(Arc::new(redactor)),
            pseudonym_key,
            log,
            gate: tokio::sync::RwLock::new(()),
            flushing: tokio::sync::Mutex::new(()),
        });
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.as_str().to_owned(), Arc::clone(&rt));
        Ok(rt)
    }

    /// The tenant's own capture policy, else the server's. A stored policy that no longer
    /// parses is an error, not a fallback: the server's policy might capture more than the
    /// tenant chose.
    pub fn policy_of(&self, tenant: &Tenant) -> Result<Cow<'_, Policy>, ServerError> {
        match &tenant.capture_policy {
            Some(text) => Policy::from_toml(text).map(Cow::Owned).map_err(|e| {
                ServerError::Usage(format!(
                    "the capture policy of tenant {} does not parse: {e}",
                    tenant.id
                ))
            }),
            None => Ok(Cow::Borrowed(&self.policy)),
        }
    }

    fn redactor_for(
        &self,
        tenant: &Tenant,
        pseudonym_key: &scrim_crypto::DataKey,
    ) -> Result<Redactor, ServerError> {
        let policy = self.policy_of(tenant)?;
        Ok(Redactor::new(&policy, Some(pseudonym_key.as_bytes())))
    }

    /// Reloads `rt`'s keys from the database and switches to them if a rotation made a
    /// newer version current. Returns whether it switched.
    pub async fn refresh_keys(&self, rt: &TenantRuntime) -> Result<bool, ServerError> {
        let keys = crate::tenant_keys::load(&self.platform, &rt.tenant.id).await?;
        let switched = rt.set_keys(keys.keyring, keys.version);
        if switched {
            tracing::info!(
                "tenant {}: data key version {} is current",
                rt.tenant.id,
                keys.version
            );
        }
        Ok(switched)
    }

    /// After a rotation of `tenant`'s data key: if the tenant is open here, it switches to
    /// the new key now. Returns whether it switched.
    pub async fn rotated(&self, tenant: &TenantId) -> Result<bool, ServerError> {
        match self.cached(tenant.as_str()) {
            Some(rt) => self.refresh_keys(&rt).await,
            None => Ok(false),
        }
    }

    /// `rt`'s keyring, reloaded first if it lacks `version` (a segment written by a node
    /// that rotated first).
    pub async fn keys_for(&self, rt: &TenantRuntime, version: u32) -> Result<Keyring, ServerError> {
        if version > rt.key_version() {
            self.refresh_keys(rt).await?;
        }
        Ok(rt.keys())
    }

    /// Re-reads every open tenant: swaps in capture policies that changed (a newer
    /// `policy_version`), and switches to a data key another process made current (a newer
    /// `data_key_version`). Returns how many policies changed.
    pub async fn refresh_policies(&self) -> Result<usize, ServerError> {
        let mut changed = 0;
        for rt in self.all() {
            let Some(tenant) = self.platform.meta.tenant_by_id(&rt.tenant.id).await? else {
                // Deleted (on any node): nothing of it stays here.
                tracing::info!(
                    "tenant {} was deleted: its WAL on this node is removed",
                    rt.tenant.id
                );
                self.forget(&rt.tenant.id)?;
                continue;
            };
            if tenant.data_key_version > rt.key_version()
                && let Err(e) = self.refresh_keys(&rt).await
            {
                // Reads reload the keys when they need them; writes stay under the
                // previous key, which is still one of the tenant's.
                tracing::warn!(
                    "tenant {}: switching to its new data key: {e}",
                    rt.tenant.id
                );
            }
            if tenant.policy_version == rt.policy_version.load(Ordering::Acquire) {
                continue;
            }
            let redactor = match self.redactor_for(&tenant, &rt.pseudonym_key) {
                Ok(r) => r,
                Err(e) => {
                    // Only a policy written by another version can fail here (every write
                    // is checked); the one in force stays.
                    tracing::warn!("{e}");
                    continue;
                }
            };
            *rt.redactor.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(redactor);
            rt.policy_version
                .store(tenant.policy_version, Ordering::Release);
            tracing::info!(
                "tenant {}: capture policy version {} applied",
                tenant.id,
                tenant.policy_version
            );
            changed += 1;
        }
        Ok(changed)
    }

    /// Opens every tenant that has a WAL on this node, so that what it holds is replayed
    /// and flushed even if the tenant sends nothing more.
    pub async fn open_existing(&self) -> Result<usize, ServerError> {
        let mut n = 0;
        let regions = self.platform.regions.clone();
        for region in regions.iter() {
            n += self.open_existing_in(region).await?;
        }
        Ok(n)
    }

    async fn open_existing_in(
        &self,
        region: &crate::regions::Region,
    ) -> Result<usize, ServerError> {
        let Ok(entries) = std::fs::read_dir(&region.wal_dir) else {
            return Ok(0);
        };
        let mut n = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(id) = TenantId::parse(name) else {
                continue;
            };
            match self.platform.meta.tenant_by_id(&id).await? {
                None => {
                    // Deleted while this node was down: its WAL cannot be read any more.
                    self.forget(&id)?;
                    continue;
                }
                Some(t) if t.data_key_version == 0 => {
                    // Its keys were destroyed (and its deletion not finished): what the WAL
                    // holds can never be read again. Its files are left for the deletion.
                    tracing::warn!(
                        "tenant {id}: its data keys were destroyed; its WAL is not replayed"
                    );
                    continue;
                }
                Some(t) if t.region != region.name => {
                    // Acknowledged data this node can neither replay into the tenant's own
                    // region nor drop: refuse to start rather than strand it. (Happens when
                    // a one-region config's `region` was renamed, or tenants were created
                    // without the config.)
                    return Err(ServerError::Usage(format!(
                        "tenant {} is in region {}, but its WAL is in region {}'s directory \
                         {}: serve region {} with this WAL directory (a [[regions]] entry, or \
                         `region = \"{}\"`) so that its data is replayed into its own region",
                        t.name,
                        t.region,
                        region.name,
                        region.wal_dir.display(),
                        t.region,
                        t.region
                    )));
                }
                Some(_) => {}
            }
            self.get(&id).await?;
            n += 1;
        }
        Ok(n)
    }
}

/// Removes the WAL directory of deleted tenant `id` in every region (whichever it was in).
pub(crate) fn remove_wal(platform: &Platform, id: &TenantId) -> Result<(), ServerError> {
    for region in platform.regions.iter() {
        match std::fs::remove_dir_all(region.wal_of(id.as_str())) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ServerError::Io(std::io::Error::new(
                    e.kind(),
                    format!("removing the WAL of deleted tenant {id}: {e}"),
                )));
            }
        }
    }
    Ok(())
}
