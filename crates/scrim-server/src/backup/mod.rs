//! Encrypted, incremental backups of the telemetry (`scrim backup create|restore|list`).
//!
//! What a backup holds, at its destination (a directory or `s3://bucket/prefix?…`):
//!
//! - `objects/<store path>`: each segment file exactly as the segment store holds it (already
//!   encrypted under its tenant's data key), sealed again under the **backup key**
//!   (`frame.rs`). An object already there with the same content under the same backup key is
//!   not copied again: backups are incremental by segment.
//! - `manifests/<backup id>`: one per backup, sealed under the backup key, listing every
//!   tenant backed up (id, name, region, retention, capture policy) and every catalog row
//!   (path, signal, time range, rows, bytes, services, trace filter, key id, content hash).
//!   Each manifest is complete on its own: restoring one needs no other.
//!
//! What a backup never holds: any tenant's data key, wrapped or not, nor the master key.
//! Data keys live only in the metadata database, wrapped by the master key; deleting a tenant
//! destroys its key, and every backup of its segments becomes unreadable for good
//! (crypto-shredding). The backup key is separate from the master key, in its own file
//! ([`BackupKey`]); it opens the outer layer only.
//!
//! A restore puts back, for each tenant of the manifest that still exists with its data key,
//! the segment objects missing from the store and the catalog rows missing from the catalog
//! (running it twice adds nothing the second time). It skips segments past the tenant's
//! current retention and segments whose rows now live in a replacement that is still there
//! (compaction and rewrites record what replaced what, [`scrim_meta::Meta::replacements`]).
//! A tenant whose key is gone is reported unreadable and nothing of it is restored. Then the
//! restored tenants' recorded deletion requests (tombstones) are applied again
//! ([`crate::deletion`]), so an old backup never brings erased rows back.
//!
//! Both are recorded in the platform's audit chain before they act (fail closed:
//! `backup.create`, `backup.restore`, with counts and the destination without credentials).

mod frame;
mod manifest;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use scrim_crypto::{CryptoError, KeyProvider, LocalKeyProvider};
use scrim_meta::{NewSegment, Tenant, TenantId};

pub use frame::{FrameError, Kind};
pub use manifest::{Manifest, ManifestSegment, ManifestTenant};

use crate::accounts::Act;
use crate::audit::actions;
use crate::regions::Region;
use crate::{Platform, ServerError};

/// Name of the backup key file in the data directory, when `--backup-key-file` is not given.
pub const BACKUP_KEY_FILE: &str = "backup.key";

/// Objects copied or restored at once.
const PARALLEL: usize = 4;

fn usage(m: impl Into<String>) -> ServerError {
    ServerError::Usage(m.into())
}

fn store_error(m: impl Into<String>) -> ServerError {
    ServerError::Store(scrim_store::StoreError::ObjectStore(m.into()))
}

/// The key every object of a backup is sealed under: 256 bits in its own file (64 hex
/// digits, mode 0600), never derived from or wrapped by the master key. Keep a copy off the
/// data host: without it no backup can be restored, and with the data host it would be lost
/// too. `Debug` shows its public id only.
pub struct BackupKey {
    provider: LocalKeyProvider,
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupKey")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

fn key_error(path: &Path, e: CryptoError) -> ServerError {
    match e {
        // The provider's messages say "master key"; this is the backup key.
        CryptoError::MasterKey(m) => usage(format!("backup key: {m}")),
        e => usage(format!("backup key {}: {e}", path.display())),
    }
}

impl BackupKey {
    /// The key in `path`, created (random, 0600) if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<BackupKey, ServerError> {
        LocalKeyProvider::load_or_create(path)
            .map(BackupKey::from_provider)
            .map_err(|e| key_error(path, e))
    }

    /// The key in `path`, which must exist.
    pub fn load(path: &Path) -> Result<BackupKey, ServerError> {
        if !path.exists() {
            return Err(usage(format!(
                "no backup key at {}: give the file the backups were made with \
                 (--backup-key-file)",
                path.display()
            )));
        }
        BackupKey::load_or_create(path)
    }

    pub(crate) fn from_provider(provider: LocalKeyProvider) -> BackupKey {
        BackupKey { provider }
    }

    /// The key's public id (never the key): printed by `scrim backup`, stored in manifests.
    pub fn id(&self) -> &str {
        self.provider.id()
    }
}

/// Where backups go: a directory (created owner-only), `file:///dir`, or
/// `s3://bucket/prefix?endpoint=…&region=…` (credentials from the environment, as for the
/// segment store).
#[derive(Clone)]
pub struct Destination {
    store: Arc<dyn ObjectStore>,
    shown: String,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Destination {
    /// Opens `location` (creates a local directory, 0700, if missing).
    pub fn open(location: &str) -> Result<Destination, ServerError> {
        if location.starts_with("s3://") {
            let store = scrim_store::object_store_from_url(location)
                .map_err(|e| usage(format!("backup destination {}: {e}", shown(location))))?;
            return Ok(Destination {
                store,
                shown: shown(location),
            });
        }
        let dir = PathBuf::from(location.strip_prefix("file://").unwrap_or(location));
        if location.contains("://") && !location.starts_with("file://") {
            return Err(usage(
                "a backup destination is a directory, file:///dir or s3://bucket/prefix",
            ));
        }
        crate::platform::create_private_dir(&dir)?;
        let dir = std::path::absolute(&dir)?;
        let store =
            LocalFileSystem::new_with_prefix(&dir).map_err(scrim_store::StoreError::from)?;
        Ok(Destination {
            store: Arc::new(store),
            shown: dir.display().to_string(),
        })
    }

    /// Any object store (tests, embedding).
    pub fn from_store(store: Arc<dyn ObjectStore>, shown: &str) -> Destination {
        Destination {
            store,
            shown: shown.to_owned(),
        }
    }

    /// The destination as recorded and printed: without credentials.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The object store behind it.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The ids of the backups here, oldest first.
    pub async fn backup_ids(&self) -> Result<Vec<String>, ServerError> {
        let prefix = ObjectPath::from("manifests");
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| store_error(format!("listing {}: {e}", self.shown)))?;
        let mut ids: Vec<String> = listed
            .iter()
            .filter_map(|m| m.location.filename())
            .filter(|id| manifest::id_time(id).is_some())
            .map(str::to_owned)
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn get(&self, name: &str) -> Result<Vec<u8>, ServerError> {
        let read = async { self.store.get(&ObjectPath::from(name)).await?.bytes().await };
        Ok(read
            .await
            .map_err(|e| store_error(format!("reading {name} from {}: {e}", self.shown)))?
            .to_vec())
    }

    /// Reads and opens the manifest of backup `id`.
    pub async fn manifest(&self, key: &BackupKey, id: &str) -> Result<Manifest, ServerError> {
        if manifest::id_time(id).is_none() {
            return Err(usage(format!(
                "{id:?} is not a backup id (like 20261124T101500123Z; scrim backup list shows them)"
            )));
        }
        let name = manifest_name(id);
        let sealed = match self.store.get(&ObjectPath::from(name.as_str())).await {
            Ok(r) => r
                .bytes()
                .await
                .map_err(|e| store_error(format!("reading {name}: {e}")))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(usage(format!("no backup {id} in {}", self.shown)));
            }
            Err(e) => return Err(store_error(format!("reading {name}: {e}"))),
        };
        let plain = frame::open(key, Kind::Manifest, &name, &sealed)
            .map_err(|e| self.frame_error(key, &name, e))?;
        let m = Manifest::parse(&plain)?;
        if m.id != id {
            return Err(usage(format!(
                "backup {id}: its manifest names another backup"
            )));
        }
        Ok(m)
    }

    fn frame_error(&self, key: &BackupKey, name: &str, e: FrameError) -> ServerError {
        match e {
            FrameError::WrongKey { made_with } => usage(format!(
                "the backups in {} were made with backup key {made_with}, and this backup key is \
                 {}: give the key file they were made with (--backup-key-file)",
                self.shown,
                key.id()
            )),
            FrameError::Damaged(why) => ServerError::Store(scrim_store::StoreError::Corrupt(
                format!("backup object {name} in {}: {why}", self.shown),
            )),
        }
    }
}

fn manifest_name(id: &str) -> String {
    format!("manifests/{id}")
}

fn object_name(path: &str) -> String {
    format!("objects/{path}")
}

/// A location without user names, passwords or tokens: `scheme://user:pw@host` loses
/// `user:pw@`, and query parameters other than `endpoint` and `region` are dropped.
fn shown(location: &str) -> String {
    let (base, query) = location.split_once('?').unwrap_or((location, ""));
    let mut out = strip_userinfo(base);
    let kept: Vec<String> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| matches!(*k, "endpoint" | "region"))
        .map(|(k, v)| format!("{k}={}", strip_userinfo(v)))
        .collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out
}

fn strip_userinfo(s: &str) -> String {
    match s.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            let rest = match rest[..host_end].rfind('@') {
                Some(at) => &rest[at + 1..],
                None => rest,
            };
            format!("{scheme}://{rest}")
        }
        None => s.to_owned(),
    }
}

/// Which tenants a backup or restore covers: one region's (a backup holds the data of one
/// region, so that its destination can stay in that region).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// One tenant by name; `None`: every tenant of the region.
    pub tenant: Option<String>,
    /// The region (`[[regions]]` of the serve config); `None`: the tenant's, or the only
    /// one.
    pub region: Option<String>,
}

impl Scope {
    /// The region this scope covers: as given, else the tenant's, else the deployment's
    /// only one. A tenant of another region than the one given is refused.
    pub async fn region<'a>(&self, platform: &'a Platform) -> Result<&'a Region, ServerError> {
        let regions = platform.regions();
        let Some(name) = &self.tenant else {
            return regions.chosen(self.region.as_deref(), "a backup");
        };
        let region = match platform.meta.tenant_by_name(name).await? {
            Some(t) => t.region,
            // A restore may name a tenant only the backup knows; the region decides.
            None => return regions.chosen(self.region.as_deref(), "a backup"),
        };
        if let Some(r) = &self.region
            && r != &region
        {
            return Err(usage(format!(
                "tenant {name:?} is in region {region}, not {r}"
            )));
        }
        regions.get(&region)
    }
}

/// Where `scope`'s backups go: `to`, else its region's `backup_to`.
pub async fn destination(
    platform: &Platform,
    scope: &Scope,
    to: Option<&str>,
) -> Result<Destination, ServerError> {
    match to {
        Some(to) => Destination::open(to),
        None => {
            let region = scope.region(platform).await?;
            let to = region.backup_to.as_deref().ok_or_else(|| {
                usage(format!(
                    "where to? give --to, or backup_to in region {}'s configuration",
                    region.name
                ))
            })?;
            Destination::open(to)
        }
    }
}

/// Whether `path` is a segment of `tenant` and `signal` in the store's layout
/// (`{region}/{tenant}/{signal}/…/{id}.parquet`), and in `region` when one is given.
fn segment_path_ok(
    path: &str,
    tenant: &str,
    signal: scrim_meta::Signal,
    region: Option<&str>,
) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let dir = match signal {
        scrim_meta::Signal::Traces => "spans",
        scrim_meta::Signal::Logs => "logs",
        scrim_meta::Signal::Metrics => "metrics",
    };
    parts.len() > 4
        && scrim_store::segment::validate_id("region", parts[0]).is_ok()
        && region.is_none_or(|r| r == parts[0])
        && parts[1] == tenant
        && parts[2] == dir
        && path.ends_with(".parquet")
        && parts
            .iter()
            .all(|p| !p.is_empty() && *p != "." && *p != "..")
}

fn parse_signal(name: &str) -> Option<scrim_meta::Signal> {
    [
        scrim_meta::Signal::Traces,
        scrim_meta::Signal::Logs,
        scrim_meta::Signal::Metrics,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
}

const SIGNALS: [scrim_meta::Signal; 3] = [
    scrim_meta::Signal::Traces,
    scrim_meta::Signal::Logs,
    scrim_meta::Signal::Metrics,
];

/// The tenants of `region` (or the one called `name`, which must be in it).
async fn scoped_tenants(
    platform: &Platform,
    name: Option<&str>,
    region: &Region,
) -> Result<Vec<Tenant>, ServerError> {
    let tenants = match name {
        Some(n) => vec![platform.tenant_named(n).await?],
        None => platform.meta.list_tenants().await?,
    };
    Ok(tenants
        .into_iter()
        .filter(|t| t.region == region.name)
        .collect())
}

/// What [`create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    pub backup_key_id: String,
    /// Whether the backup key file was created by this backup.
    pub key_created: bool,
    pub tenants: usize,
    pub segments: usize,
    /// Segment objects sealed and written to the destination.
    pub copied: usize,
    /// Segment objects already at the destination (same content, same backup key).
    pub skipped: usize,
    /// Bytes of segment files copied (before sealing).
    pub bytes_copied: u64,
    /// Catalogued segments whose object had gone when it was read (compacted or removed
    /// meanwhile, or lost): not in this backup.
    pub vanished: Vec<String>,
}

/// One segment to back up.
struct Job {
    tenant: usize,
    seg: ManifestSegment,
}

/// `scrim backup create`: backs up the catalogued segments of `scope` to `dest` under the
/// backup key in `key_file` (created on first use, unless `dest` already holds backups),
/// recorded in the platform's audit chain first.
pub async fn create(
    platform: &Platform,
    key_file: &Path,
    dest: &Destination,
    scope: &Scope,
) -> Result<Created, ServerError> {
    // The region first: a refused scope creates no key.
    let home = scope.region(platform).await?;
    let existing = dest.backup_ids().await?;
    let (key, key_created) = match existing.last() {
        None => {
            let created = !key_file.exists();
            (BackupKey::load_or_create(key_file)?, created)
        }
        Some(latest) => {
            // Every backup at one destination is under one key: a wrong key is refused
            // here, before anything is written.
            let key = BackupKey::load(key_file)?;
            dest.manifest(&key, latest).await?;
            (key, false)
        }
    };
    let store = Arc::clone(home.store.object_store());
    let region_name = home.name.as_str();
    let region = Some(region_name);

    // The plan: every catalogued segment, and whether the destination already has it.
    let mut tenants = Vec::new();
    let mut jobs = Vec::new();
    for tenant in scoped_tenants(platform, scope.tenant.as_deref(), home).await? {
        let filters = platform.meta.trace_filters(&tenant.id).await?;
        let index = tenants.len();
        for signal in SIGNALS {
            for s in platform
                .meta
                .segments(&tenant.id, signal, scrim_meta::TimeRange::all(), None)
                .await?
            {
                if !segment_path_ok(&s.path, tenant.id.as_str(), signal, None) {
                    return Err(store_error(format!(
                        "the catalog lists {} for tenant {}, outside its prefix",
                        s.path, tenant.id
                    )));
                }
                if !segment_path_ok(&s.path, tenant.id.as_str(), signal, region) {
                    continue;
                }
                let trace_filter = filters
                    .get(&s.path)
                    .map(|f| base64::engine::general_purpose::STANDARD.encode(f));
                jobs.push(Job {
                    tenant: index,
                    seg: ManifestSegment {
                        signal: signal.as_str().to_owned(),
                        path: s.path,
                        min_time_ns: s.min_time_ns,
                        max_time_ns: s.max_time_ns,
                        rows: s.rows,
                        bytes: s.bytes,
                        services: s.services,
                        trace_filter,
                        key_id: crate::tenant_keys::key_id(&tenant.id, s.key_version),
                        hash: String::new(),
                    },
                });
            }
        }
        tenants.push(ManifestTenant {
            id: tenant.id.to_string(),
            name: tenant.name.clone(),
            region: tenant.region.clone(),
            retention_days: tenant.retention_days,
            capture_policy: tenant.capture_policy.clone(),
            policy_version: tenant.policy_version,
            segments: Vec::new(),
        });
    }
    let now_ms = crate::audit::now_ms();
    let id = manifest::next_id(now_ms, &existing);
    let bytes: u64 = jobs.iter().map(|j| j.seg.bytes).sum();
    let planned = jobs.len();

    let run = async {
        // Each object: read, hash, skip if the destination has the same content under this
        // key, else seal and write. The manifest goes last, so a backup that fails midway
        // leaves no manifest (its objects are reused by the next one).
        let outcomes: Vec<(Job, Copy)> = futures::stream::iter(jobs)
            .map(|job| copy_segment(&key, dest, &store, job))
            .buffered(PARALLEL)
            .try_collect()
            .await?;
        let mut created = Created {
            id: id.clone(),
            backup_key_id: key.id().to_owned(),
            key_created,
            tenants: tenants.len(),
            segments: 0,
            copied: 0,
            skipped: 0,
            bytes_copied: 0,
            vanished: Vec::new(),
        };
        let mut tenants = tenants.clone();
        for (job, outcome) in outcomes {
            match outcome {
                Copy::Copied => {
                    created.copied += 1;
                    created.bytes_copied += job.seg.bytes;
                }
                Copy::Present => created.skipped += 1,
                Copy::Vanished => {
                    // Gone from the store: still catalogued means lost, not compacted.
                    created.vanished.push(job.seg.path);
                    continue;
                }
            }
            created.segments += 1;
            tenants[job.tenant].segments.push(job.seg);
        }
        let manifest = Manifest {
            format: manifest::FORMAT,
            id: id.clone(),
            created_at: scrim_audit::utc_text(now_ms),
            scrim_version: env!("CARGO_PKG_VERSION").to_owned(),
            backup_key_id: key.id().to_owned(),
            tenants,
        };
        let name = manifest_name(&id);
        let plain = serde_json::to_vec(&manifest).map_err(|e| store_error(e.to_string()))?;
        let sealed = frame::seal(&key, Kind::Manifest, &name, &plain)?;
        dest.store
            .put(&ObjectPath::from(name.as_str()), PutPayload::from(sealed))
            .await
            .map_err(|e| store_error(format!("writing {name} to {}: {e}", dest.shown)))?;
        Ok::<_, ServerError>(created)
    };
    let created = Act::operator(scrim_audit::PLATFORM_TENANT)
        .entry(platform.audit(), actions::BACKUP_CREATE, &id)
        .detail("destination", dest.shown())
        .detail("backup_key_id", key.id())
        .detail("region", region_name)
        .detail("tenant", scope.tenant.clone())
        .detail("tenants", tenants.len())
        .detail("segments", planned)
        .detail("bytes", bytes)
        .around(run)
        .await??;
    Ok(created)
}

enum Copy {
    Copied,
    Present,
    Vanished,
}

async fn copy_segment(
    key: &BackupKey,
    dest: &Destination,
    store: &Arc<dyn ObjectStore>,
    mut job: Job,
) -> Result<(Job, Copy), ServerError> {
    let data = match store.get(&ObjectPath::from(job.seg.path.as_str())).await {
        Ok(r) => r
            .bytes()
            .await
            .map_err(|e| store_error(format!("reading segment {}: {e}", job.seg.path)))?,
        Err(object_store::Error::NotFound { .. }) => return Ok((job, Copy::Vanished)),
        Err(e) => {
            return Err(store_error(format!(
                "reading segment {}: {e}",
                job.seg.path
            )));
        }
    };
    job.seg.hash = frame::content_hash(&data);
    job.seg.bytes = data.len() as u64;
    let name = object_name(&job.seg.path);
    let at = ObjectPath::from(name.as_str());
    if let Ok(head) = dest.store.get_range(&at, 0..frame::HEADER_LEN as u64).await
        && frame::declared_hash(key, Kind::Segment, &name, &head).is_ok_and(|h| h == job.seg.hash)
    {
        return Ok((job, Copy::Present));
    }
    let sealed = frame::seal(key, Kind::Segment, &name, &data)?;
    dest.store
        .put(&at, PutPayload::from(sealed))
        .await
        .map_err(|e| store_error(format!("writing {name} to {}: {e}", dest.shown)))?;
    Ok((job, Copy::Copied))
}

/// One backup, as `scrim backup list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub id: String,
    pub created_at: String,
    pub tenants: Vec<String>,
    pub segments: usize,
    pub bytes: u64,
}

/// `scrim backup list`: the backups at `dest`, oldest first (each manifest opened with `key`).
pub async fn list(dest: &Destination, key: &BackupKey) -> Result<Vec<Summary>, ServerError> {
    let mut out = Vec::new();
    for id in dest.backup_ids().await? {
        let m = dest.manifest(key, &id).await?;
        out.push(Summary {
            segments: m.segments(),
            bytes: m.bytes(),
            tenants: m.tenants.iter().map(|t| t.name.clone()).collect(),
            created_at: m.created_at,
            id,
        });
    }
    Ok(out)
}

/// What [`prune`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pruned {
    /// The ids of the backups removed, oldest first.
    pub removed: Vec<String>,
    /// Backups left.
    pub kept: usize,
    /// Segment objects deleted (those only the removed backups referred to).
    pub objects: usize,
    pub bytes: u64,
}

/// `scrim backup prune`: removes the backups at `dest` made more than `older_than` before
/// `now`, the newest one never, then the segment objects that only they referred to. This
/// is how rows erased since (or a tenant deleted since) leave the backups for good.
/// Manifests go first, so no backup left ever names a missing object. Recorded in the
/// platform's audit chain first (`backup.prune`). Run it when no backup is being made to
/// the same destination: a backup in progress may be reusing an object it deletes.
pub async fn prune(
    platform: &Platform,
    key_file: &Path,
    dest: &Destination,
    older_than: std::time::Duration,
    now: SystemTime,
) -> Result<Pruned, ServerError> {
    let key = BackupKey::load(key_file)?;
    let ids = dest.backup_ids().await?;
    let now_ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let cutoff = now_ms.saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX));
    let newest = ids.last().cloned();
    let (due, kept): (Vec<String>, Vec<String>) = ids.into_iter().partition(|id| {
        Some(id) != newest.as_ref() && manifest::id_time(id).is_some_and(|t| t < cutoff)
    });
    // Every manifest is opened (under this key) before anything is removed: a wrong key or
    // a damaged manifest stops the prune here.
    let mut still_used: HashSet<String> = HashSet::new();
    for id in &kept {
        let m = dest.manifest(&key, id).await?;
        still_used.extend(
            m.tenants
                .iter()
                .flat_map(|t| &t.segments)
                .map(|s| s.path.clone()),
        );
    }
    let mut to_delete: HashMap<String, u64> = HashMap::new();
    for id in &due {
        let m = dest.manifest(&key, id).await?;
        for s in m.tenants.iter().flat_map(|t| &t.segments) {
            if !still_used.contains(&s.path) {
                to_delete.insert(s.path.clone(), s.bytes);
            }
        }
    }
    let pruned = Pruned {
        removed: due.clone(),
        kept: kept.len(),
        objects: to_delete.len(),
        bytes: to_delete.values().sum(),
    };
    if due.is_empty() {
        return Ok(pruned);
    }
    let run = async {
        for id in &due {
            let name = manifest_name(id);
            dest.store
                .delete(&ObjectPath::from(name.as_str()))
                .await
                .map_err(|e| store_error(format!("deleting {name} from {}: {e}", dest.shown)))?;
        }
        for path in to_delete.keys() {
            let name = object_name(path);
            match dest.store.delete(&ObjectPath::from(name.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(store_error(format!(
                        "deleting {name} from {}: {e}",
                        dest.shown
                    )));
                }
            }
        }
        Ok::<_, ServerError>(())
    };
    Act::operator(scrim_audit::PLATFORM_TENANT)
        .entry(platform.audit(), actions::BACKUP_PRUNE, dest.shown())
        .detail("backup_key_id", key.id())
        .detail("older_than_days", older_than.as_secs() / 86_400)
        .detail("removed", pruned.removed.clone())
        .detail("kept", pruned.kept)
        .detail("objects", pruned.objects)
        .detail("bytes", pruned.bytes)
        .around(run)
        .await??;
    Ok(pruned)
}

/// Reads and opens segment object `path` of a backup (its outer layer only: what comes out
/// is the segment file, still encrypted under its tenant's data key).
pub async fn read_object(
    dest: &Destination,
    key: &BackupKey,
    path: &str,
) -> Result<Vec<u8>, ServerError> {
    let name = object_name(path);
    let sealed = dest.get(&name).await?;
    frame::open(key, Kind::Segment, &name, &sealed).map_err(|e| dest.frame_error(key, &name, e))
}

/// A tenant of a backup that a restore could not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub id: String,
    pub name: String,
    pub why: &'static str,
}

/// What [`restore`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    pub id: String,
    /// Tenants restored (by name).
    pub tenants: Vec<String>,
    /// Tenants of the backup whose data key is gone: nothing of them restored.
    pub unreadable: Vec<Unreadable>,
    /// Segment objects written back to the store.
    pub objects: usize,
    /// Catalog rows added.
    pub catalog_rows: usize,
    /// Segments already whole in the store and catalog.
    pub present: usize,
    /// Segments skipped because their rows now live in a replacement that is still there.
    pub superseded: usize,
    /// Segments skipped because they are past the tenant's retention now.
    pub expired: usize,
    /// Segments whose catalog row changed since the backup (rewritten in place): left as
    /// they are.
    pub changed: usize,
    /// Rows removed again from the restored segments by the tenants' recorded deletion
    /// requests (tombstones).
    pub tombstone_rows: u64,
}

/// One segment to put back.
struct Put {
    tenant: TenantId,
    seg: ManifestSegment,
    signal: scrim_meta::Signal,
    /// Write the object (it is missing from the store, or not the backed-up file).
    object: bool,
    /// Add the catalog row.
    row: bool,
}

/// `scrim backup restore`: puts back what is missing from backup `id` (default: the
/// latest) at `dest`, for the tenants of `scope`, recorded in the platform's audit chain
/// first. A wrong backup key is refused before anything changes.
pub async fn restore(
    platform: &Platform,
    key_file: &Path,
    dest: &Destination,
    id: Option<&str>,
    scope: &Scope,
) -> Result<Restored, ServerError> {
    let key = BackupKey::load(key_file)?;
    let id = match id {
        Some(id) => id.to_owned(),
        None => dest
            .backup_ids()
            .await?
            .pop()
            .ok_or_else(|| usage(format!("no backup in {}", dest.shown())))?,
    };
    let manifest = dest.manifest(&key, &id).await?;
    let home = scope.region(platform).await?;
    let store = Arc::clone(home.store.object_store());
    let region = Some(home.name.as_str());
    if let Some(name) = &scope.tenant
        && !manifest.tenants.iter().any(|t| &t.name == name)
    {
        return Err(usage(format!("backup {id} holds no tenant named {name:?}")));
    }
    if !manifest.tenants.is_empty() && !manifest.tenants.iter().any(|t| t.region == home.name) {
        let mut theirs: Vec<&str> = manifest.tenants.iter().map(|t| t.region.as_str()).collect();
        theirs.sort_unstable();
        theirs.dedup();
        return Err(usage(format!(
            "backup {id} holds no tenant of region {} (its tenants are in {}): restore it \
             with --region",
            home.name,
            theirs.join(", ")
        )));
    }

    // The plan: what is missing, tenant by tenant, and what is skipped and why.
    let mut plan = Restored {
        id: id.clone(),
        ..Restored::default()
    };
    let mut puts = Vec::new();
    let mut restored_tenants: HashMap<TenantId, Tenant> = HashMap::new();
    let now = SystemTime::now();
    for t in &manifest.tenants {
        // Only the region's tenants come back, into the region's store.
        if scope.tenant.as_ref().is_some_and(|n| n != &t.name) || t.region != home.name {
            continue;
        }
        let Some(tenant) = readable_tenant(platform, t, &mut plan).await? else {
            continue;
        };
        plan.tenants.push(tenant.name.clone());
        let cutoff = crate::retention::cutoff_ns(&tenant, now);
        let mut catalog: HashMap<String, scrim_meta::Segment> = HashMap::new();
        for signal in SIGNALS {
            for s in platform
                .meta
                .segments(&tenant.id, signal, scrim_meta::TimeRange::all(), None)
                .await?
            {
                catalog.insert(s.path.clone(), s);
            }
        }
        let replacements = platform.meta.replacements(&tenant.id).await?;
        let in_backup: HashSet<&str> = t.segments.iter().map(|s| s.path.as_str()).collect();
        for seg in &t.segments {
            let signal = parse_signal(&seg.signal)
                .filter(|s| segment_path_ok(&seg.path, tenant.id.as_str(), *s, None))
                .ok_or_else(|| {
                    store_error(format!(
                        "backup {id}: {} is not a segment of its tenant",
                        seg.path
                    ))
                })?;
            if !segment_path_ok(&seg.path, tenant.id.as_str(), signal, region) {
                continue;
            }
            let at = ObjectPath::from(seg.path.as_str());
            let stored = match store.head(&at).await {
                Ok(meta) => Some(meta.size),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => return Err(store_error(format!("reading {}: {e}", seg.path))),
            };
            if let Some(row) = catalog.get(&seg.path) {
                let same = row.rows == seg.rows
                    && row.bytes == seg.bytes
                    && row.min_time_ns == seg.min_time_ns
                    && row.max_time_ns == seg.max_time_ns;
                if stored.is_some() {
                    plan.present += 1;
                } else if same {
                    puts.push(Put {
                        tenant: tenant.id.clone(),
                        seg: seg.clone(),
                        signal,
                        object: true,
                        row: false,
                    });
                } else {
                    plan.changed += 1;
                }
            } else if seg.max_time_ns < cutoff {
                plan.expired += 1;
            } else if superseded(&seg.path, &replacements, &catalog, &in_backup) {
                plan.superseded += 1;
            } else {
                puts.push(Put {
                    tenant: tenant.id.clone(),
                    seg: seg.clone(),
                    signal,
                    object: stored != Some(seg.bytes),
                    row: true,
                });
            }
        }
        if puts.iter().any(|p| p.tenant == tenant.id) {
            restored_tenants.insert(tenant.id.clone(), tenant);
        }
    }
    let objects = puts.iter().filter(|p| p.object).count();
    let rows = puts.iter().filter(|p| p.row).count();
    let unreadable: Vec<serde_json::Value> = plan
        .unreadable
        .iter()
        .map(|u| serde_json::json!({ "id": u.id, "name": u.name, "why": u.why }))
        .collect();

    let run = async {
        let mut done = plan.clone();
        // Objects first: a catalog row never names an object that is not there.
        let written: Vec<Put> = futures::stream::iter(puts)
            .map(|p| put_back(&key, dest, &store, p))
            .buffered(PARALLEL)
            .try_collect()
            .await?;
        done.objects = written.iter().filter(|p| p.object).count();
        for p in written.iter().filter(|p| p.row) {
            let trace_filter = match &p.seg.trace_filter {
                Some(f) => Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(f)
                        .map_err(|_| store_error(format!("backup {id}: a bad trace filter")))?,
                ),
                None => None,
            };
            let new = NewSegment {
                signal: p.signal,
                path: p.seg.path.clone(),
                min_time_ns: p.seg.min_time_ns,
                max_time_ns: p.seg.max_time_ns,
                rows: p.seg.rows,
                bytes: p.seg.bytes,
                services: p.seg.services.clone(),
                trace_filter,
                key_version: crate::tenant_keys::version_of(&p.tenant, &p.seg.key_id)
                    .map_err(|_| store_error(format!("backup {id}: a bad key id")))?,
            };
            match platform.meta.record_segment(&p.tenant, &new).await {
                Ok(_) => done.catalog_rows += 1,
                // Put back meanwhile (a restore running twice at once): nothing to add.
                Err(scrim_meta::MetaError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Tombstones: what was erased after the backup was taken is erased again. (Queries
        // already hide it: they apply every recorded deletion request of the tenant.)
        for tenant in restored_tenants.values() {
            done.tombstone_rows += crate::deletion::reapply_tombstones(platform, tenant).await?;
        }
        Ok::<_, ServerError>(done)
    };
    let restored = Act::operator(scrim_audit::PLATFORM_TENANT)
        .entry(platform.audit(), actions::BACKUP_RESTORE, &id)
        .detail("destination", dest.shown())
        .detail("backup_key_id", key.id())
        .detail("region", home.name.as_str())
        .detail("tenant", scope.tenant.clone())
        .detail("tenants", plan.tenants.clone())
        .detail("unreadable", unreadable)
        .detail("objects", objects)
        .detail("catalog_rows", rows)
        .detail("present", plan.present)
        .detail("superseded", plan.superseded)
        .detail("expired", plan.expired)
        .detail("changed", plan.changed)
        .around(run)
        .await??;
    Ok(restored)
}

/// The tenant of `t` if it still exists and its data key opens; else records why not.
async fn readable_tenant(
    platform: &Platform,
    t: &ManifestTenant,
    plan: &mut Restored,
) -> Result<Option<Tenant>, ServerError> {
    let mut unreadable = |why| {
        plan.unreadable.push(Unreadable {
            id: t.id.clone(),
            name: t.name.clone(),
            why,
        });
        Ok(None)
    };
    let Ok(id) = TenantId::parse(&t.id) else {
        return unreadable("not a tenant id");
    };
    let Some(tenant) = platform.meta.tenant_by_id(&id).await? else {
        return unreadable("the tenant no longer exists, and its data key with it");
    };
    // Every version of its data key (segments name the one they are under).
    if crate::tenant_keys::load(platform, &tenant.id)
        .await
        .is_err()
    {
        return unreadable("the tenant's data key is gone");
    }
    Ok(Some(tenant))
}

/// Whether the rows of `path` now live in a replacement that is present: in the catalog,
/// or in the backup being restored (which puts it back unless it is itself superseded, and
/// then its own replacement is further along the same chain).
fn superseded(
    path: &str,
    replacements: &HashMap<String, String>,
    catalog: &HashMap<String, scrim_meta::Segment>,
    in_backup: &HashSet<&str>,
) -> bool {
    let mut at = path;
    let mut seen = HashSet::new();
    while let Some(next) = replacements.get(at) {
        if catalog.contains_key(next) || in_backup.contains(next.as_str()) {
            return true;
        }
        if !seen.insert(next) {
            return false;
        }
        at = next;
    }
    false
}

async fn put_back(
    key: &BackupKey,
    dest: &Destination,
    store: &Arc<dyn ObjectStore>,
    p: Put,
) -> Result<Put, ServerError> {
    if !p.object {
        return Ok(p);
    }
    let data = read_object(dest, key, &p.seg.path).await?;
    if frame::content_hash(&data) != p.seg.hash {
        return Err(ServerError::Store(scrim_store::StoreError::Corrupt(
            format!(
                "backup object {} is not the file its manifest describes",
                p.seg.path
            ),
        )));
    }
    store
        .put(
            &ObjectPath::from(p.seg.path.as_str()),
            PutPayload::from(data),
        )
        .await
        .map_err(|e| store_error(format!("writing segment {}: {e}", p.seg.path)))?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_locations_carry_no_credentials() {
        assert_eq!(
            shown("s3://bucket/p?endpoint=http://user:pw@127.0.0.1:3900&region=garage&token=x"),
            "s3://bucket/p?endpoint=http://127.0.0.1:3900&region=garage"
        );
        assert_eq!(shown("s3://b"), "s3://b");
        assert_eq!(strip_userinfo("https://a@b/c@d"), "https://b/c@d");
    }

    #[test]
    fn segment_paths_stay_in_their_tenant_and_signal() {
        let ok = "local/t_a/spans/2026/11/24/10/x.parquet";
        let traces = scrim_meta::Signal::Traces;
        assert!(segment_path_ok(ok, "t_a", traces, None));
        assert!(segment_path_ok(ok, "t_a", traces, Some("local")));
        assert!(!segment_path_ok(ok, "t_a", traces, Some("eu")));
        assert!(!segment_path_ok(ok, "t_b", traces, None));
        assert!(!segment_path_ok(ok, "t_a", scrim_meta::Signal::Logs, None));
        assert!(!segment_path_ok(
            "local/t_a/spans/../t_b/x.parquet",
            "t_a",
            traces,
            None
        ));
        assert!(!segment_path_ok(
            "local/t_a/spans/x.parquet",
            "t_a",
            traces,
            None
        ));
    }

    #[test]
    fn a_segment_is_superseded_only_by_a_replacement_that_is_there() {
        let repl: HashMap<String, String> = [
            ("a", "b"),
            ("b", "c"),
            ("x", "y"),
            ("l1", "l2"),
            ("l2", "l1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let seg = |p: &str| scrim_meta::Segment {
            tenant_id: TenantId::parse("t_abcdefghijklmnop").unwrap(),
            signal: scrim_meta::Signal::Traces,
            path: p.into(),
            min_time_ns: 0,
            max_time_ns: 0,
            rows: 0,
            bytes: 0,
            services: vec![],
            created_at: SystemTime::now(),
            key_version: 1,
        };
        let catalog: HashMap<String, scrim_meta::Segment> =
            [("c".to_owned(), seg("c"))].into_iter().collect();
        let backup: HashSet<&str> = ["a", "x"].into_iter().collect();
        assert!(superseded("a", &repl, &catalog, &backup));
        assert!(
            !superseded("x", &repl, &catalog, &backup),
            "y is gone: x comes back"
        );
        assert!(!superseded("l1", &repl, &catalog, &backup));
        assert!(!superseded("z", &repl, &catalog, &backup));
        let backup: HashSet<&str> = ["x", "y"].into_iter().collect();
        assert!(superseded("x", &repl, &HashMap::new(), &backup));
    }
}
