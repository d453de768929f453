//! Parquet segments: one encrypted file per flush of one tenant's signal, in an object store.
//!
//! Every segment is written with Parquet modular encryption, uniform mode: the footer and
//! every column are AES-GCM encrypted under the tenant's current 256-bit data key, and the
//! footer carries the key's id as key metadata. Reads take the tenant's [`Keyring`] (every
//! version of its data key) and decrypt each file with the key its footer names, so
//! segments written before and after a key rotation read side by side; compaction rewrites
//! what it merges under the current key. A file read without the key, or with another
//! tenant's keys, fails with [`StoreError::Decryption`]. Columns are zstd-compressed, with
//! row-group and page statistics; rows are sorted by `(service_name, time)` so a service's
//! rows cluster and statistics prune well; span and log files carry a bloom filter on
//! `trace_id` so a trace lookup skips row groups that cannot hold it.
//!
//! Layout in the store: `{region}/{tenant_id}/{signal}/{yyyy}/{mm}/{dd}/{hh}/{uuid v7}.parquet`,
//! the hour being the hour (UTC) of the segment's first row. The catalog records each
//! [`SegmentMeta`].

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Datelike, Timelike};
use datafusion::arrow::array::{
    Array, ArrayRef, MapArray, RecordBatch, StringArray, StructArray, TimestampNanosecondArray,
    UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take};
use datafusion::arrow::datatypes::DataType;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::encryption::decrypt::{FileDecryptionProperties, KeyRetriever};
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};
#[cfg(feature = "s3")]
use url::Url;

use crate::error::{Result, StoreError};
use crate::schema::Signal;
use crate::trace_filter::TraceIdFilter;

/// A tenant's 256-bit data key and its id. `Debug` never shows the key.
#[derive(Clone)]
pub struct DataKey {
    id: String,
    key: [u8; 32],
}

impl DataKey {
    /// A key and the id the catalog knows it by (stored in each segment's footer).
    pub fn new(id: impl Into<String>, key: [u8; 32]) -> Self {
        DataKey { id: id.into(), key }
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.key
    }

    pub(crate) fn encryption(&self) -> Result<Arc<FileEncryptionProperties>> {
        Ok(FileEncryptionProperties::builder(self.key.to_vec())
            .with_footer_key_metadata(self.id.as_bytes().to_vec())
            .build()?)
    }
}

/// Key ids go in segment footers and WAL record headers (one length byte).
const MAX_KEY_ID: usize = 255;

/// A tenant's data keys, oldest first. The last one is the current key: new segments, WAL
/// records and compacted segments are written under it. Every key reads what was written
/// under it, found by the id the data carries (a segment's footer key metadata, a WAL
/// record's header, the catalog's key version for trace filters). Cheap to clone.
#[derive(Clone)]
pub struct Keyring {
    keys: Arc<[DataKey]>,
}

impl Keyring {
    /// `keys` oldest first (the last is current): at least one, with distinct ids of 1 to
    /// 255 bytes.
    pub fn new(keys: Vec<DataKey>) -> Result<Self> {
        if keys.is_empty() {
            return Err(StoreError::InvalidInput(
                "a keyring needs at least one key".into(),
            ));
        }
        for (i, k) in keys.iter().enumerate() {
            if k.id.is_empty() || k.id.len() > MAX_KEY_ID {
                return Err(StoreError::InvalidInput(
                    "a key id is 1 to 255 bytes long".into(),
                ));
            }
            if keys[..i].iter().any(|o| o.id == k.id) {
                return Err(StoreError::InvalidInput(format!(
                    "key id {:?} appears twice in the keyring",
                    k.id
                )));
            }
        }
        Ok(Keyring { keys: keys.into() })
    }

    /// The key new data is written under.
    pub fn current(&self) -> &DataKey {
        self.keys.last().expect("a keyring is never empty")
    }

    /// The oldest key: the one data written before keys had versions is under (WAL
    /// records of the first format).
    pub fn first(&self) -> &DataKey {
        &self.keys[0]
    }

    /// The key with id `id`.
    pub fn get(&self, id: &str) -> Option<&DataKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> &[DataKey] {
        &self.keys
    }

    /// Parquet decryption that takes each file's key from its footer key metadata.
    pub(crate) fn decryption(&self) -> Result<Arc<FileDecryptionProperties>> {
        Ok(FileDecryptionProperties::with_key_retriever(Arc::new(self.clone())).build()?)
    }
}

impl From<DataKey> for Keyring {
    fn from(key: DataKey) -> Self {
        Keyring {
            keys: Arc::from(vec![key]),
        }
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("ids", &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRetriever for Keyring {
    fn retrieve_key(&self, key_metadata: &[u8]) -> parquet::errors::Result<Vec<u8>> {
        match self.keys.iter().find(|k| k.id.as_bytes() == key_metadata) {
            Some(k) => Ok(k.key.to_vec()),
            // The message says "decrypt", so the error is classified as a decryption error.
            None => Err(parquet::errors::ParquetError::General(format!(
                "no key to decrypt this segment: its footer names key {:?}, which is not one \
                 of the tenant's keys",
                String::from_utf8_lossy(&key_metadata[..key_metadata.len().min(MAX_KEY_ID)])
            ))),
        }
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("key", &"[hidden]")
            .finish()
    }
}

/// What the catalog records about one segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Object path inside the store, `{region}/{tenant_id}/{signal}/…/{id}.parquet`.
    pub path: String,
    pub tenant_id: String,
    pub signal: Signal,
    /// Smallest and largest row time (`start_time` for spans), ns since the epoch, inclusive.
    pub min_time_ns: i64,
    pub max_time_ns: i64,
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Distinct `service_name` values, sorted.
    pub services: Vec<String>,
    /// Id of the data key the segment is encrypted with.
    pub key_id: String,
    /// Span segments: the sealed [`TraceIdFilter`] of their trace ids, which lets a trace
    /// lookup skip the segments that cannot hold it. `None` reads every segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_filter: Option<Vec<u8>>,
}

impl SegmentMeta {
    /// Whether any row may fall in `[start_ns, end_ns)`.
    pub fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        self.min_time_ns < end_ns && self.max_time_ns >= start_ns
    }

    /// The `{region}/{tenant}/{signal}/{yyyy}/{mm}/{dd}/{hh}` directory of the segment.
    pub fn hour_dir(&self) -> &str {
        self.path.rsplit_once('/').map_or("", |(dir, _)| dir)
    }
}

/// A segment rewritten without erased rows ([`SegmentStore::rewrite_without`]).
#[derive(Debug)]
pub struct Rewritten {
    /// Rows removed.
    pub removed: u64,
    /// The new segment, `None` when every row was removed.
    pub replacement: Option<SegmentMeta>,
}

/// Tenant ids and regions become path components: ASCII letters, digits, `-` and `_`, 1 to
/// 64 characters, so no id can climb out of its prefix or look like another's.
pub fn validate_id(what: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput(format!(
            "{what} must be 1-64 ASCII letters, digits, '-' or '_'"
        )))
    }
}

/// The object store that holds segments, and the region they are written under.
#[derive(Clone, Debug)]
pub struct SegmentStore {
    store: Arc<dyn ObjectStore>,
    region: String,
}

/// Rows per Parquet row group: big enough for zstd and vectorised reads, small enough that
/// statistics and the trace-id bloom filter can skip most of a large segment.
const ROW_GROUP_ROWS: usize = 64 * 1024;

impl SegmentStore {
    /// Any object store; `region` is the first path component of every segment.
    pub fn new(store: Arc<dyn ObjectStore>, region: &str) -> Result<Self> {
        validate_id("region", region)?;
        Ok(SegmentStore {
            store,
            region: region.to_owned(),
        })
    }

    /// A local directory (created if missing).
    pub fn local(dir: impl AsRef<std::path::Path>, region: &str) -> Result<Self> {
        std::fs::create_dir_all(dir.as_ref())
            .map_err(|e| StoreError::ObjectStore(format!("creating the segment directory: {e}")))?;
        let fs = LocalFileSystem::new_with_prefix(dir)?;
        Self::new(Arc::new(fs), region)
    }

    /// From a URL: `file:///path/to/dir`, or (with the `s3` feature)
    /// `s3://bucket/optional/prefix?endpoint=http://127.0.0.1:3900&region=garage`
    /// ([`object_store_from_url`]).
    pub fn from_url(url: &str, region: &str) -> Result<Self> {
        let store = object_store_from_url(url).map_err(|e| match e {
            StoreError::InvalidInput(m) => {
                StoreError::InvalidInput(format!("segment store URL: {m}"))
            }
            other => other,
        })?;
        Self::new(store, region)
    }

    /// The underlying store (the query layer narrows it to one tenant's prefix).
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The region segments are written under.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// `{region}/{tenant_id}/`: every object of the tenant is under it.
    pub fn tenant_prefix(&self, tenant_id: &str) -> Result<String> {
        validate_id("tenant id", tenant_id)?;
        Ok(format!("{}/{}/", self.region, tenant_id))
    }

    /// Sorts, encrypts and writes `batches` (rows of `signal`'s schema) as one segment.
    /// Returns `None` when there are no rows.
    pub async fn write_segment(
        &self,
        tenant_id: &str,
        key: &DataKey,
        signal: Signal,
        batches: &[RecordBatch],
    ) -> Result<Option<SegmentMeta>> {
        let prefix = self.tenant_prefix(tenant_id)?;
        let schema = signal.schema();
        for b in batches {
            if b.schema().fields() != schema.fields() {
                return Err(StoreError::InvalidInput(format!(
                    "batch does not have the {signal} schema"
                )));
            }
        }
        let all = concat_batches(&schema, batches)?;
        if all.num_rows() == 0 {
            return Ok(None);
        }
        let sorted = sort_for_segment(&all, signal)?;
        let (min_time_ns, max_time_ns) = time_bounds(&sorted, signal)?;
        let services = distinct_services(&sorted)?;
        let data = encode(&sorted, signal, key)?;
        let hour = DateTime::from_timestamp_nanos(min_time_ns);
        let path = format!(
            "{prefix}{signal}/{:04}/{:02}/{:02}/{:02}/{}.parquet",
            hour.year(),
            hour.month(),
            hour.day(),
            hour.hour(),
            uuid::Uuid::now_v7()
        );
        let bytes = data.len() as u64;
        let trace_filter = match signal {
            Signal::Spans => Some(TraceIdFilter::of_spans(&sorted)?.seal(key, &path)?),
            Signal::Logs | Signal::Metrics => None,
        };
        self.store
            .put(&Path::from(path.as_str()), PutPayload::from(data))
            .await?;
        Ok(Some(SegmentMeta {
            path,
            tenant_id: tenant_id.to_owned(),
            signal,
            min_time_ns,
            max_time_ns,
            rows: sorted.num_rows() as u64,
            bytes,
            services,
            key_id: key.id().to_owned(),
            trace_filter,
        }))
    }

    /// Reads a whole segment back (compaction, export, tests) with whichever of `keys` its
    /// footer names. The segment must belong to `tenant_id` and sit under its prefix.
    pub async fn read_segment(
        &self,
        tenant_id: &str,
        keys: &Keyring,
        meta: &SegmentMeta,
    ) -> Result<Vec<RecordBatch>> {
        self.check_owned(tenant_id, meta)?;
        let data = self
            .store
            .get(&Path::from(meta.path.as_str()))
            .await?
            .bytes()
            .await?;
        decode(data, keys)
    }

    /// Refuses a segment of another tenant, or one whose path leaves the tenant's prefix.
    pub fn check_owned(&self, tenant_id: &str, meta: &SegmentMeta) -> Result<()> {
        let prefix = self.tenant_prefix(tenant_id)?;
        if meta.tenant_id != tenant_id {
            return Err(StoreError::TenantMismatch(
                "segment belongs to another tenant".into(),
            ));
        }
        let rest = meta.path.strip_prefix(&prefix).ok_or_else(|| {
            StoreError::TenantMismatch("segment path is outside the tenant's prefix".into())
        })?;
        // object_store paths cannot hold `..` or empty parts, but the catalog is input too.
        let clean = rest.starts_with(&format!("{}/", meta.signal))
            && rest.ends_with(".parquet")
            && rest
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != "..");
        if clean {
            Ok(())
        } else {
            Err(StoreError::TenantMismatch(
                "segment path is not a segment of this tenant and signal".into(),
            ))
        }
    }

    /// Merges several segments of one tenant, signal and hour into one, written under the
    /// current key of `keys` (each input is read with the key its footer names: this is
    /// how segments written before a key rotation are re-encrypted). Returns the new
    /// segment and the paths of the old ones, which the caller deletes ([`Self::delete`])
    /// once the catalog has switched to the new segment. Fewer than two inputs: `None`.
    pub async fn compact(
        &self,
        tenant_id: &str,
        keys: &Keyring,
        metas: &[SegmentMeta],
    ) -> Result<Option<(SegmentMeta, Vec<String>)>> {
        let Some(first) = metas.first() else {
            return Ok(None);
        };
        for m in metas {
            self.check_owned(tenant_id, m)?;
            if m.signal != first.signal || m.hour_dir() != first.hour_dir() {
                return Err(StoreError::InvalidInput(
                    "compaction merges segments of one signal and hour only".into(),
                ));
            }
        }
        if metas.len() < 2 {
            return Ok(None);
        }
        let mut batches = Vec::new();
        for m in metas {
            batches.extend(self.read_segment(tenant_id, keys, m).await?);
        }
        let merged = self
            .write_segment(tenant_id, keys.current(), first.signal, &batches)
            .await?
            .ok_or_else(|| StoreError::InvalidInput("segments hold no rows".into()))?;
        Ok(Some((
            merged,
            metas.iter().map(|m| m.path.clone()).collect(),
        )))
    }

    /// Rewrites one segment without the rows `erasures` cover (a deletion request), read
    /// with the key of `keys` its footer names and written under the current one. `None`
    /// when it holds none of them (nothing is written). Otherwise the rows removed and the
    /// replacement, itself `None` when no row is left. The old object stays: the caller
    /// swaps the catalog entry, then deletes it ([`Self::delete`]).
    pub async fn rewrite_without(
        &self,
        tenant_id: &str,
        keys: &Keyring,
        meta: &SegmentMeta,
        erasures: &[crate::erase::Erasure],
    ) -> Result<Option<Rewritten>> {
        let batches = self.read_segment(tenant_id, keys, meta).await?;
        let (kept, removed) = crate::erase::remove_erased(meta.signal, batches, erasures).await?;
        if removed == 0 {
            return Ok(None);
        }
        let replacement = self
            .write_segment(tenant_id, keys.current(), meta.signal, &kept)
            .await?;
        Ok(Some(Rewritten {
            removed,
            replacement,
        }))
    }

    /// Deletes every object under the tenant's prefix (a deleted tenant: catalogued or
    /// not, such as what a crash left behind). Returns how many were deleted.
    pub async fn delete_tenant_objects(&self, tenant_id: &str) -> Result<u64> {
        use futures::TryStreamExt;
        let prefix = self.tenant_prefix(tenant_id)?;
        let listed: Vec<_> = self
            .store
            .list(Some(&Path::from(prefix.trim_end_matches('/'))))
            .try_collect()
            .await?;
        let mut deleted = 0;
        for object in listed {
            if !object.location.as_ref().starts_with(&prefix) {
                continue;
            }
            self.store.delete(&object.location).await?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Deletes segments of `tenant_id` by path (after compaction or retention).
    pub async fn delete(&self, tenant_id: &str, paths: &[String]) -> Result<()> {
        let prefix = self.tenant_prefix(tenant_id)?;
        for p in paths {
            if !p.starts_with(&prefix) || p.split('/').any(|c| c == ".." || c.is_empty()) {
                return Err(StoreError::TenantMismatch(
                    "path is outside the tenant's prefix".into(),
                ));
            }
            self.store.delete(&Path::from(p.as_str())).await?;
        }
        Ok(())
    }
}

/// An object store from a URL: `file:///path/to/dir` (created if missing), or (with the
/// `s3` feature) `s3://bucket/optional/prefix?endpoint=http://127.0.0.1:3900&region=garage`.
/// A plain `http://` endpoint must be on loopback unless `allow_http=true` is given. S3
/// credentials come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// optionally `AWS_SESSION_TOKEN`), never from the URL. Segments (`scrim serve`'s
/// `object_store`) and backups (`scrim backup create --to`) are both reached this way.
pub fn object_store_from_url(url: &str) -> Result<Arc<dyn ObjectStore>> {
    let bad = |m: &str| StoreError::InvalidInput(m.to_owned());
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(bad("file:// needs an absolute path"));
        }
        std::fs::create_dir_all(path)
            .map_err(|e| StoreError::ObjectStore(format!("creating the directory: {e}")))?;
        return Ok(Arc::new(LocalFileSystem::new_with_prefix(path)?));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        return s3_store(rest);
    }
    Err(bad("the scheme must be file:// or s3://"))
}

#[cfg(feature = "s3")]
fn s3_store(rest: &str) -> Result<Arc<dyn ObjectStore>> {
    use object_store::aws::AmazonS3Builder;
    use object_store::prefix::PrefixStore;
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    if bucket.is_empty() {
        return Err(StoreError::InvalidInput("missing bucket".into()));
    }
    if url_has_credentials(bucket) {
        return Err(StoreError::InvalidInput(
            "credentials belong in the environment, not the URL".into(),
        ));
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let (mut endpoint, mut allow_http) = (None, false);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "endpoint" => endpoint = Some(v),
            "region" => builder = builder.with_region(v),
            "allow_http" => allow_http = v == "true",
            _ => {
                return Err(StoreError::InvalidInput(format!(
                    "unknown parameter {k:?} (endpoint, region, allow_http)"
                )));
            }
        }
    }
    if let Some(ep) = endpoint {
        // Plain HTTP only to this machine, unless the operator says so explicitly.
        let http = ep.starts_with("http://");
        if http && !allow_http && !is_loopback_url(ep) {
            return Err(StoreError::InvalidInput(
                "a plain http:// endpoint must be on loopback (or set allow_http=true)".into(),
            ));
        }
        builder = builder.with_endpoint(ep).with_allow_http(http);
    }
    let s3 = builder.build()?;
    let prefix = prefix.trim_matches('/');
    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, prefix))
    };
    Ok(store)
}

#[cfg(not(feature = "s3"))]
fn s3_store(_rest: &str) -> Result<Arc<dyn ObjectStore>> {
    Err(StoreError::InvalidInput(
        "this build has no S3 support (feature `s3`)".into(),
    ))
}

#[cfg(feature = "s3")]
fn is_loopback_url(url: &str) -> bool {
    match Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(feature = "s3")]
fn url_has_credentials(bucket: &str) -> bool {
    bucket.contains('@')
}

/// Rows sorted by `(service_name, time)`.
fn sort_for_segment(batch: &RecordBatch, signal: Signal) -> Result<RecordBatch> {
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| StoreError::Format(format!("missing column {name}")))
    };
    let (services, times) = (col("service_name")?, col(signal.time_column())?);
    let indices = match (
        services.as_any().downcast_ref::<StringArray>(),
        times.as_any().downcast_ref::<TimestampNanosecondArray>(),
    ) {
        (Some(s), Some(t)) if s.null_count() == 0 && t.null_count() == 0 => sort_indices(s, t),
        _ => lexsort_to_indices(
            &[
                SortColumn {
                    values: services,
                    options: None,
                },
                SortColumn {
                    values: times,
                    options: None,
                },
            ],
            None,
        )?,
    };
    let columns = batch
        .columns()
        .iter()
        .map(|c| match c.as_any().downcast_ref::<MapArray>() {
            Some(m) if m.null_count() == 0 => Ok(Arc::new(take_map(m, &indices)?) as ArrayRef),
            _ => Ok(take(c.as_ref(), &indices, None)?),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// `take` of a map column without null rows: the entries of the taken rows are gathered
/// with one `take` of the entries (strings, in bulk) instead of arrow's `take` of lists,
/// which copies row by row through `MutableArrayData` and was most of a flush's sort.
fn take_map(map: &MapArray, indices: &UInt32Array) -> Result<MapArray> {
    let DataType::Map(field, ordered) = map.data_type() else {
        return Err(StoreError::Format("not a map column".into()));
    };
    let offsets = map.value_offsets();
    let mut entries = Vec::with_capacity(map.entries().len());
    let mut new_offsets = Vec::with_capacity(indices.len() + 1);
    new_offsets.push(0i32);
    for &row in indices.values() {
        let row = row as usize;
        entries.extend(offsets[row] as u32..offsets[row + 1] as u32);
        new_offsets.push(
            i32::try_from(entries.len())
                .map_err(|_| StoreError::Format("map column too large".into()))?,
        );
    }
    let taken = take(map.entries(), &UInt32Array::from(entries), None)?;
    let taken = taken
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| StoreError::Format("map entries".into()))?
        .clone();
    Ok(MapArray::try_new(
        Arc::clone(field),
        OffsetBuffer::new(new_offsets.into()),
        taken,
        None,
        *ordered,
    )?)
}

/// The row order of a segment, by service name then time (ties in row order), without
/// nulls: what `lexsort_to_indices` gives, for a fraction of its cost. Each service name
/// becomes its rank among the batch's few distinct names, so the sort compares integers
/// instead of strings through a dynamic comparator.
fn sort_indices(services: &StringArray, times: &TimestampNanosecondArray) -> UInt32Array {
    let mut names: Vec<&str> = Vec::new();
    let mut ids: Vec<u32> = Vec::with_capacity(services.len());
    let mut last: Option<(&str, u32)> = None;
    for i in 0..services.len() {
        let v = services.value(i);
        let id = match last {
            // Rows of one request share a service: runs are long.
            Some((name, id)) if name == v => id,
            _ => {
                let id = match names.iter().position(|n| *n == v) {
                    Some(p) => p as u32,
                    None => {
                        names.push(v);
                        (names.len() - 1) as u32
                    }
                };
                last = Some((v, id));
                id
            }
        };
        ids.push(id);
    }
    // First-seen ids to ranks in name order.
    let mut order: Vec<u32> = (0..names.len() as u32).collect();
    order.sort_unstable_by_key(|&id| names[id as usize]);
    let mut rank = vec![0u32; names.len()];
    for (r, id) in order.into_iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    let mut keys: Vec<(u32, i64, u32)> = ids
        .iter()
        .zip(times.values().iter())
        .enumerate()
        .map(|(i, (&id, &t))| (rank[id as usize], t, i as u32))
        .collect();
    keys.sort_unstable();
    UInt32Array::from_iter_values(keys.into_iter().map(|(_, _, i)| i))
}

fn time_bounds(batch: &RecordBatch, signal: Signal) -> Result<(i64, i64)> {
    let t = batch
        .column_by_name(signal.time_column())
        .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
        .ok_or_else(|| StoreError::Format("time column".into()))?;
    let min = datafusion::arrow::compute::min(t).unwrap_or(0);
    let max = datafusion::arrow::compute::max(t).unwrap_or(0);
    Ok((min, max))
}

fn distinct_services(batch: &RecordBatch) -> Result<Vec<String>> {
    let s = batch
        .column_by_name("service_name")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| StoreError::Format("service_name column".into()))?;
    let mut out: Vec<String> = Vec::new();
    // Rows are sorted by service, so equal names are adjacent.
    for i in 0..s.len() {
        let v = s.value(i);
        if out.last().map(String::as_str) != Some(v) {
            out.push(v.to_owned());
        }
    }
    Ok(out)
}

fn writer_properties(signal: Signal, key: &DataKey) -> Result<WriterProperties> {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .with_file_encryption_properties(key.encryption()?);
    if matches!(signal, Signal::Spans | Signal::Logs) {
        b = b.set_column_bloom_filter_enabled("trace_id".into(), true);
    }
    Ok(b.build())
}

fn encode(batch: &RecordBatch, signal: Signal, key: &DataKey) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 4);
    let mut w = ArrowWriter::try_new(
        &mut buf,
        batch.schema(),
        Some(writer_properties(signal, key)?),
    )?;
    w.write(batch)?;
    w.close()?;
    Ok(buf)
}

/// Decrypts (with the key of `keys` its footer names) and decodes a whole segment file.
pub fn decode(data: Bytes, keys: &Keyring) -> Result<Vec<RecordBatch>> {
    let opts = ArrowReaderOptions::new().with_file_decryption_properties(keys.decryption()?);
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(data, opts)?.build()?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(StoreError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_segment_rows_are_those_of_take_record_batch() {
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
        let mut req = crate::generate::TraceGen {
            traces: 60,
            ..Default::default()
        }
        .traces(0..60);
        // Attribute lists of every size, a null value, an empty list.
        for (i, span) in req.resource_spans[0].scope_spans[0]
            .spans
            .iter_mut()
            .enumerate()
        {
            span.attributes.truncate(i % 4);
            if i % 5 == 0 {
                span.attributes.push(KeyValue {
                    key: "null".into(),
                    value: None,
                    ..Default::default()
                });
            }
            if i % 7 == 0 {
                span.attributes.push(KeyValue {
                    key: "n".into(),
                    value: Some(AnyValue {
                        value: Some(Value::IntValue(i as i64)),
                    }),
                    ..Default::default()
                });
            }
        }
        let batch = crate::convert::spans_to_batch(&req).unwrap();
        let (s, t) = (
            batch.column_by_name("service_name").unwrap(),
            batch.column_by_name("start_time").unwrap(),
        );
        let indices = sort_indices(
            s.as_any().downcast_ref().unwrap(),
            t.as_any().downcast_ref().unwrap(),
        );
        let sorted = sort_for_segment(&batch, Signal::Spans).unwrap();
        let want = datafusion::arrow::compute::take_record_batch(&batch, &indices).unwrap();
        assert_eq!(sorted, want);
        // A slice: offsets that do not start at 0.
        let part = batch.slice(7, 50);
        let (s, t) = (
            part.column_by_name("service_name").unwrap(),
            part.column_by_name("start_time").unwrap(),
        );
        let indices = sort_indices(
            s.as_any().downcast_ref().unwrap(),
            t.as_any().downcast_ref().unwrap(),
        );
        let sorted = sort_for_segment(&part, Signal::Spans).unwrap();
        let want = datafusion::arrow::compute::take_record_batch(&part, &indices).unwrap();
        assert_eq!(sorted, want);
    }

    #[test]
    fn sort_indices_order_as_lexsort_does() {
        let mut rng = fastrand::Rng::with_seed(7);
        for rows in [0usize, 1, 2, 100, 5000] {
            let names = ["checkout", "catalog", "a", "checkout-v2", ""];
            let services: StringArray = (0..rows)
                .map(|i| Some(names[(i / 37 + rng.usize(..2)) % names.len()]))
                .collect();
            let times = TimestampNanosecondArray::from_iter_values(
                (0..rows).map(|_| rng.i64(-5..5) * 1_000_000_000),
            );
            let ours = sort_indices(&services, &times);
            let theirs = lexsort_to_indices(
                &[
                    SortColumn {
                        values: Arc::new(services.clone()),
                        options: None,
                    },
                    SortColumn {
                        values: Arc::new(times.clone()),
                        options: None,
                    },
                ],
                None,
            )
            .unwrap();
            let key = |idx: &UInt32Array| -> Vec<(String, i64)> {
                idx.values()
                    .iter()
                    .map(|&i| {
                        let i = i as usize;
                        (services.value(i).to_owned(), times.value(i))
                    })
                    .collect()
            };
            assert_eq!(ours.len(), rows);
            assert_eq!(key(&ours), key(&theirs));
            let mut seen: Vec<u32> = ours.values().to_vec();
            seen.sort_unstable();
            assert_eq!(seen, (0..rows as u32).collect::<Vec<_>>());
        }
    }

    #[test]
    fn ids_cannot_climb_out_of_their_prefix() {
        for bad in ["", "..", "a/b", "a b", "t\u{e9}", &"x".repeat(65), "a.b"] {
            assert!(validate_id("tenant id", bad).is_err(), "{bad:?}");
        }
        for good in ["acme", "tenant-01", "A_b-9"] {
            assert!(validate_id("tenant id", good).is_ok());
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let k = DataKey::new("k1", [0x41; 32]);
        let s = format!("{k:?}");
        assert!(
            s.contains("k1") && !s.contains("65") && !s.contains("AAAA"),
            "{s}"
        );
    }

    #[test]
    fn urls_are_checked() {
        assert!(SegmentStore::from_url("ftp://x", "r").is_err());
        assert!(SegmentStore::from_url("file://relative", "r").is_err());
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("segs").display());
        let s = SegmentStore::from_url(&url, "eu1").unwrap();
        assert_eq!(s.region(), "eu1");
        assert!(dir.path().join("segs").is_dir());
    }

    #[cfg(feature = "s3")]
    #[test]
    fn s3_urls_parse_without_network() {
        let s = SegmentStore::from_url(
            "s3://bucket/some/prefix?endpoint=http://127.0.0.1:3900&region=garage",
            "eu1",
        )
        .unwrap();
        assert!(
            s.object_store().to_string().contains("some/prefix"),
            "{}",
            s.object_store()
        );
        assert!(SegmentStore::from_url("s3://?region=x", "eu1").is_err());
        assert!(SegmentStore::from_url("s3://b?secret=x", "eu1").is_err());
        assert!(SegmentStore::from_url("s3://user:pw@b", "eu1").is_err());
        // Plain HTTP: loopback only, unless explicitly allowed.
        assert!(SegmentStore::from_url("s3://b?endpoint=http://10.1.2.3:3900", "eu1").is_err());
        assert!(SegmentStore::from_url("s3://b?endpoint=http://localhost:3900", "eu1").is_ok());
        assert!(SegmentStore::from_url("s3://b?endpoint=http://[::1]:3900", "eu1").is_ok());
        assert!(
            SegmentStore::from_url("s3://b?endpoint=http://s3.lan:3900&allow_http=true", "eu1")
                .is_ok()
        );
        assert!(SegmentStore::from_url("s3://b?endpoint=https://s3.example", "eu1").is_ok());
    }
}
