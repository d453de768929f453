//! The write path of one tenant: an encrypted write-ahead log and the in-memory buffer of
//! rows not yet in segments.
//!
//! ```text
//! append: OTLP batch (already redacted) ▸ Arrow rows ▸ buffer
//!         ▸ seal (AES-256-GCM, WAL key) ▸ DiskQueue::push (group-committed fsync) ▸ Ok
//! flush:  records in the WAL ▸ their buffered rows ▸ encrypted Parquet segments
//!         ▸ (caller records them in the catalog) ▸ commit: WAL ack, rows leave the buffer
//! open:   records after the WAL's acknowledged position ▸ decrypted ▸ buffer again
//! ```
//!
//! The buffer is what queries read before a flush, so an acknowledged span is queryable at
//! once and, after a crash, again once the WAL is replayed. A crash between a flush's
//! catalog record and the WAL's acknowledgement would replay rows that are also in a
//! segment; so the caller records the flush's [`WalMark`] in the same catalog transaction as
//! its segments, and after opening hands the catalog's mark back to
//! [`TenantLog::discard_through`], which drops those records. Each WAL directory has a
//! random id (file `wal-id`), so a mark never applies to a recreated WAL.
//!
//! A WAL record is `[format: 2][seq: u64 LE][signal: u8][key id length: u8][key id]
//! [sealed protobuf]`: the OTLP request as it was accepted (after the capture policy),
//! sealed under a key derived, for the WAL alone, from the tenant's current data key (named
//! by the key id), with the tenant id, sequence number, signal and key id as associated
//! data, so a record cannot be moved to another tenant, position or signal.
//!
//! Key rotation: the log holds the tenant's whole [`Keyring`]. New records go under the
//! current key ([`TenantLog::set_keys`] switches it while the log is open); each record
//! names its key, so a WAL replayed after a rotation (a crash, or another node's rotation)
//! opens records of every version. Records of format 1 (`[1][seq][signal][sealed]`, written
//! before keys had versions) have no key id and are under the keyring's first key.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use datafusion::arrow::record_batch::RecordBatch;
use scrim_otlp::Batch;
use scrim_wal::{DiskQueue, Overflow, QueueConfig, QueueError, RecordId};

use crate::convert::{logs_to_batch, metrics_to_batch, spans_to_batch};
use crate::query::BufferedBatches;
use crate::schema::Signal;
use crate::segment::{DataKey, Keyring, SegmentMeta, SegmentStore};
use crate::{Result, StoreError};

/// Records written before data keys had versions: no key id, the keyring's first key.
const RECORD_V1: u8 = 1;
/// Records that name their key.
const RECORD_V2: u8 = 2;
/// Format, seq and signal; format 2 adds the key id's length and the key id.
const HEADER: usize = 1 + 8 + 1;

/// How big the WAL of one tenant may grow before ingest is refused (to be retried).
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Bytes on disk, headers included.
    pub max_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { max_bytes: 1 << 30 }
    }
}

/// One tenant's WAL and buffer. Share it behind an `Arc`; `append` and `flush` block on
/// disk, so call them from blocking threads (`tokio::task::spawn_blocking`).
pub struct TenantLog {
    tenant_id: String,
    wal_id: String,
    keys: RwLock<WalKeys>,
    queue: DiskQueue,
    next_seq: AtomicU64,
    buffer: Mutex<BTreeMap<u64, (Signal, RecordBatch)>>,
}

/// The WAL's own keys, one derived from each of the tenant's data keys.
struct WalKeys {
    /// The data key id new records are sealed under.
    current: String,
    /// The first data key's id: format-1 records are under it.
    first: String,
    by_id: HashMap<String, scrim_crypto::DataKey>,
}

impl WalKeys {
    fn of(keys: &Keyring) -> WalKeys {
        WalKeys {
            current: keys.current().id().to_owned(),
            first: keys.first().id().to_owned(),
            by_id: keys
                .keys()
                .iter()
                .map(|k| (k.id().to_owned(), wal_key(k)))
                .collect(),
        }
    }
}

impl std::fmt::Debug for TenantLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLog")
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

/// What a flush wrote, to record in the catalog before [`TenantLog::commit`].
#[derive(Debug)]
pub struct Flushed {
    /// One segment per signal that had rows.
    pub segments: Vec<SegmentMeta>,
    /// Rows left out because a deletion request covers them.
    pub erased: u64,
    wal_id: String,
    last: Option<RecordId>,
    seqs: Vec<u64>,
}

/// A position in one tenant WAL: every record up to and including it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalMark {
    /// The WAL directory's random id.
    pub wal_id: String,
    pub segment: u64,
    pub offset: u64,
}

impl Flushed {
    /// Whether the flush found nothing to write.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// The WAL position this flush covers, to record with its segments.
    pub fn mark(&self) -> Option<WalMark> {
        self.last.map(|id| WalMark {
            wal_id: self.wal_id.clone(),
            segment: id.segment(),
            offset: id.offset(),
        })
    }
}

impl TenantLog {
    /// Opens (or creates) the tenant's WAL in `dir` and replays what it holds into the
    /// buffer, each record with the key of `keys` it names; new records go under the
    /// current key. A record that does not decrypt is an error, never skipped silently: it
    /// means a missing or wrong key, or a tampered file.
    pub fn open(dir: &Path, tenant_id: &str, keys: &Keyring, config: &LogConfig) -> Result<Self> {
        let queue = DiskQueue::open(QueueConfig {
            dir: dir.to_path_buf(),
            max_bytes: config.max_bytes,
            segment_bytes: 64 << 20,
            // Refuse rather than drop: the sender is told to retry, nothing acknowledged
            // is ever lost.
            overflow: Overflow::DropNewest,
        })
        .map_err(|e| StoreError::Io(format!("WAL {}: {e}", dir.display())))?;
        let log = TenantLog {
            tenant_id: tenant_id.to_owned(),
            wal_id: wal_id(dir)?,
            keys: RwLock::new(WalKeys::of(keys)),
            queue,
            next_seq: AtomicU64::new(0),
            buffer: Mutex::new(BTreeMap::new()),
        };
        log.replay()?;
        Ok(log)
    }

    fn replay(&self) -> Result<()> {
        let records = self
            .queue
            .peek(usize::MAX, u64::MAX)
            .map_err(|e| StoreError::Io(format!("WAL replay: {e}")))?;
        let mut buffer = self.lock();
        let mut next = 0;
        for r in records {
            let (seq, signal, protobuf) = self.open_record(&r.payload)?;
            let batch = Batch::decode(otlp_signal(signal), &protobuf).ok_or_else(|| {
                StoreError::Corrupt("a WAL record holds no valid OTLP request".into())
            })?;
            buffer.insert(seq, (signal, to_rows(&batch)?));
            next = next.max(seq + 1);
        }
        self.next_seq.store(next, Ordering::SeqCst);
        Ok(())
    }

    /// The random id of this WAL directory.
    pub fn wal_id(&self) -> &str {
        &self.wal_id
    }

    /// Replaces the keyring (after a rotation): records appended from now on are sealed
    /// under its current key. Records already in the WAL stay as they are and still open,
    /// as long as `keys` holds the keys they name (a keyring keeps every version).
    pub fn set_keys(&self, keys: &Keyring) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = WalKeys::of(keys);
    }

    /// The id of the data key new records are sealed under.
    pub fn current_key_id(&self) -> String {
        self.wal_keys().current.clone()
    }

    fn wal_keys(&self) -> std::sync::RwLockReadGuard<'_, WalKeys> {
        // Replaced whole under the lock: a panic elsewhere cannot leave it half-written.
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the records up to and including `mark` (a position a flush recorded in the
    /// catalog with its segments) from the WAL and the buffer: they are already in
    /// segments. A mark of another WAL is ignored. Returns how many records were dropped.
    pub fn discard_through(&self, mark: &WalMark) -> Result<usize> {
        if mark.wal_id != self.wal_id {
            return Ok(0);
        }
        let through = RecordId::from_parts(mark.segment, mark.offset);
        let records = self
            .queue
            .peek(usize::MAX, u64::MAX)
            .map_err(|e| StoreError::Io(format!("WAL: {e}")))?;
        let mut last = None;
        let mut seqs = Vec::new();
        for r in records.iter().take_while(|r| r.id <= through) {
            seqs.push(header(&r.payload)?.seq);
            last = Some(r.id);
        }
        let dropped = seqs.len();
        self.commit(Flushed {
            segments: Vec::new(),
            erased: 0,
            wal_id: self.wal_id.clone(),
            last,
            seqs,
        })?;
        Ok(dropped)
    }

    /// Makes `batch` durable and queryable. Returns once the record is fsynced.
    pub fn append(&self, batch: &Batch) -> Result<()> {
        let rows = to_rows(batch)?;
        let signal = store_signal(batch);
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let payload = self.seal_record(seq, signal, &batch.encode_to_vec())?;
        // Into the buffer first, so that the flush that finds this record in the WAL also
        // finds its rows; out again if the push fails.
        self.lock().insert(seq, (signal, rows));
        if let Err(e) = self.queue.push(&payload) {
            self.lock().remove(&seq);
            return Err(match e {
                QueueError::Full | QueueError::TooLarge { .. } => StoreError::Full,
                e => StoreError::Io(format!("WAL: {e}")),
            });
        }
        Ok(())
    }

    /// The rows not yet in segments, for a query.
    pub fn buffered(&self) -> BufferedBatches {
        let mut out = BufferedBatches::default();
        for (signal, rows) in self.lock().values() {
            match signal {
                Signal::Spans => out.spans.push(rows.clone()),
                Signal::Logs => out.logs.push(rows.clone()),
                Signal::Metrics => out.metrics.push(rows.clone()),
            }
        }
        out
    }

    /// Rows waiting in the buffer.
    pub fn buffered_rows(&self) -> usize {
        self.lock().values().map(|(_, b)| b.num_rows()).sum()
    }

    /// Writes every record now in the WAL to segments (one per signal). The caller records
    /// the segments in the catalog, then calls [`TenantLog::commit`].
    pub async fn flush(&self, store: &SegmentStore, key: &DataKey) -> Result<Flushed> {
        self.flush_erasing(store, key, &[]).await
    }

    /// [`Self::flush`], leaving out the rows `erasures` cover (recorded deletion requests):
    /// they are acknowledged in the WAL like the rest but never reach a segment.
    pub async fn flush_erasing(
        &self,
        store: &SegmentStore,
        key: &DataKey,
        erasures: &[crate::erase::Erasure],
    ) -> Result<Flushed> {
        let records = self
            .queue
            .peek(usize::MAX, u64::MAX)
            .map_err(|e| StoreError::Io(format!("WAL: {e}")))?;
        let mut seqs = Vec::with_capacity(records.len());
        for r in &records {
            seqs.push(header(&r.payload)?.seq);
        }
        let mut per_signal: [Vec<RecordBatch>; 3] = Default::default();
        {
            let buffer = self.lock();
            for seq in &seqs {
                let (signal, rows) = buffer.get(seq).ok_or_else(|| {
                    StoreError::Corrupt("a WAL record has no buffered rows".into())
                })?;
                per_signal[signal_index(*signal)].push(rows.clone());
            }
        }
        let mut segments = Vec::new();
        let mut erased = 0;
        for signal in Signal::ALL {
            let batches = std::mem::take(&mut per_signal[signal_index(signal)]);
            if batches.is_empty() {
                continue;
            }
            let (batches, n) = crate::erase::remove_erased(signal, batches, erasures).await?;
            erased += n;
            if let Some(meta) = store
                .write_segment(&self.tenant_id, key, signal, &batches)
                .await?
            {
                segments.push(meta);
            }
        }
        Ok(Flushed {
            segments,
            erased,
            wal_id: self.wal_id.clone(),
            last: records.last().map(|r| r.id),
            seqs,
        })
    }

    /// Once everything in the WAL is in segments (committed): removes its files, so rows
    /// a deletion erased are not left in acknowledged records on disk. `false` when records
    /// arrived since the last flush (flush, commit and try again).
    pub fn forget_acknowledged(&self) -> Result<bool> {
        self.queue
            .discard_acknowledged()
            .map_err(|e| StoreError::Io(format!("WAL: {e}")))
    }

    /// After the flushed segments are in the catalog: the WAL forgets their records and
    /// the buffer their rows.
    pub fn commit(&self, flushed: Flushed) -> Result<()> {
        if let Some(last) = flushed.last {
            self.queue
                .ack(last)
                .map_err(|e| StoreError::Io(format!("WAL: {e}")))?;
        }
        let mut buffer = self.lock();
        for seq in flushed.seqs {
            buffer.remove(&seq);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (Signal, RecordBatch)>> {
        // A panic while holding the lock leaves a map that is still consistent (each
        // operation is one insert or remove): keep going.
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Associated data of a record: format 1 as it always was, format 2 with the key id.
    fn aad(&self, seq: u64, signal: Signal, key_id: Option<&str>) -> Vec<u8> {
        let mut aad = match key_id {
            None => b"scrim/wal/v1\0".to_vec(),
            Some(_) => b"scrim/wal/v2\0".to_vec(),
        };
        aad.extend_from_slice(self.tenant_id.as_bytes());
        aad.push(0);
        aad.extend_from_slice(&seq.to_le_bytes());
        aad.push(signal_index(signal) as u8);
        if let Some(id) = key_id {
            aad.extend_from_slice(id.as_bytes());
        }
        aad
    }

    fn seal_record(&self, seq: u64, signal: Signal, protobuf: &[u8]) -> Result<Vec<u8>> {
        let keys = self.wal_keys();
        let id = keys.current.as_str();
        let key = keys
            .by_id
            .get(id)
            .ok_or_else(|| StoreError::Crypto("the current key is not in the keyring".into()))?;
        let sealed = scrim_crypto::seal(key, &self.aad(seq, signal, Some(id)), protobuf)
            .map_err(|e| StoreError::Crypto(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER + 1 + id.len() + sealed.len());
        out.push(RECORD_V2);
        out.extend_from_slice(&seq.to_le_bytes());
        out.push(signal_index(signal) as u8);
        // Key ids are at most 255 bytes (`Keyring::new`).
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open_record(&self, payload: &[u8]) -> Result<(u64, Signal, Vec<u8>)> {
        let h = header(payload)?;
        let keys = self.wal_keys();
        let id = h.key_id.unwrap_or(keys.first.as_str());
        let key = keys.by_id.get(id).ok_or_else(|| {
            StoreError::Crypto(format!(
                "WAL record {} is under key {id:?}, which is not in the tenant's keyring",
                h.seq
            ))
        })?;
        let protobuf = scrim_crypto::open(
            key,
            &self.aad(h.seq, h.signal, h.key_id),
            &payload[h.body..],
        )
        .map_err(|e| StoreError::Crypto(format!("WAL record {}: {e}", h.seq)))?;
        Ok((h.seq, h.signal, protobuf))
    }
}

/// The clear part of a WAL record.
struct Header<'a> {
    seq: u64,
    signal: Signal,
    /// `None` for format 1 (the keyring's first key).
    key_id: Option<&'a str>,
    /// Where the sealed body starts.
    body: usize,
}

fn header(payload: &[u8]) -> Result<Header<'_>> {
    let corrupt = |m: &str| StoreError::Corrupt(m.into());
    if payload.len() < HEADER {
        return Err(corrupt("a WAL record is too short"));
    }
    let seq = u64::from_le_bytes(payload[1..9].try_into().expect("8 bytes"));
    let signal = *Signal::ALL
        .get(usize::from(payload[9]))
        .ok_or_else(|| corrupt("unknown signal in a WAL record"))?;
    let (key_id, body) = match payload[0] {
        RECORD_V1 => (None, HEADER),
        RECORD_V2 => {
            let len = usize::from(
                *payload
                    .get(HEADER)
                    .ok_or_else(|| corrupt("a WAL record is too short"))?,
            );
            let id = payload
                .get(HEADER + 1..HEADER + 1 + len)
                .filter(|id| !id.is_empty())
                .ok_or_else(|| corrupt("a WAL record's key id is malformed"))?;
            let id = std::str::from_utf8(id)
                .map_err(|_| corrupt("a WAL record's key id is malformed"))?;
            (Some(id), HEADER + 1 + len)
        }
        _ => return Err(corrupt("not a WAL record of a known format")),
    };
    Ok(Header {
        seq,
        signal,
        key_id,
        body,
    })
}

/// The WAL directory's id from its `wal-id` file, created on first open (a UUIDv7: time
/// and 74 random bits; fsynced).
fn wal_id(dir: &Path) -> Result<String> {
    let path = dir.join("wal-id");
    let io = |e: std::io::Error| StoreError::Io(format!("WAL id {}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(id) => {
            let id = id.trim();
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(StoreError::Corrupt(format!(
                    "WAL id file {} is malformed",
                    path.display()
                )));
            }
            Ok(id.to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = uuid::Uuid::now_v7().simple().to_string();
            // Written whole then renamed, so a crash never leaves a partial id.
            let tmp = dir.join("wal-id.tmp");
            {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp).map_err(io)?;
                f.write_all(id.as_bytes()).map_err(io)?;
                f.sync_all().map_err(io)?;
            }
            std::fs::rename(&tmp, &path).map_err(io)?;
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
            Ok(id)
        }
        Err(e) => Err(io(e)),
    }
}

/// The WAL's own key: derived, so that the WAL and the segments never share one.
fn wal_key(key: &DataKey) -> scrim_crypto::DataKey {
    scrim_crypto::DataKey::from_bytes(*key.bytes()).derive(b"", b"scrim/wal/v1")
}

fn signal_index(s: Signal) -> usize {
    match s {
        Signal::Spans => 0,
        Signal::Logs => 1,
        Signal::Metrics => 2,
    }
}

fn store_signal(batch: &Batch) -> Signal {
    match batch {
        Batch::Traces(_) => Signal::Spans,
        Batch::Logs(_) => Signal::Logs,
        Batch::Metrics(_) => Signal::Metrics,
    }
}

fn otlp_signal(s: Signal) -> scrim_otlp::Signal {
    match s {
        Signal::Spans => scrim_otlp::Signal::Traces,
        Signal::Logs => scrim_otlp::Signal::Logs,
        Signal::Metrics => scrim_otlp::Signal::Metrics,
    }
}

fn to_rows(batch: &Batch) -> Result<RecordBatch> {
    match batch {
        Batch::Traces(r) => spans_to_batch(r),
        Batch::Logs(r) => logs_to_batch(r),
        Batch::Metrics(r) => metrics_to_batch(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL written before keys had versions holds format-1 records: no key id, sealed
    /// under the (only, now first) key. After an upgrade and a rotation they still replay,
    /// beside format-2 records under the new key.
    #[test]
    fn format_1_records_replay_under_the_first_key() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = DataKey::new("t_alpha-1", [0x11; 32]);
        let k2 = DataKey::new("t_alpha-2", [0x22; 32]);
        let batch = Batch::Traces(
            crate::generate::TraceGen {
                traces: 3,
                ..Default::default()
            }
            .traces(0..3),
        );
        {
            let log = TenantLog::open(
                dir.path(),
                "t_alpha",
                &k1.clone().into(),
                &LogConfig::default(),
            )
            .unwrap();
            // Format 1, as the previous version wrote it.
            let seq = 0u64;
            let sealed = scrim_crypto::seal(
                &wal_key(&k1),
                &log.aad(seq, Signal::Spans, None),
                &batch.encode_to_vec(),
            )
            .unwrap();
            let mut record = vec![RECORD_V1];
            record.extend_from_slice(&seq.to_le_bytes());
            record.push(0);
            record.extend_from_slice(&sealed);
            log.queue.push(&record).unwrap();
        }
        let ring = Keyring::new(vec![k1.clone(), k2.clone()]).unwrap();
        let log = TenantLog::open(dir.path(), "t_alpha", &ring, &LogConfig::default()).unwrap();
        assert_eq!(log.buffered_rows(), 12);
        log.append(&batch).unwrap();
        drop(log);
        let log = TenantLog::open(dir.path(), "t_alpha", &ring, &LogConfig::default()).unwrap();
        assert_eq!(log.buffered_rows(), 24);
        drop(log);
        // The format-1 record needs the first key: a keyring whose first key is another
        // does not open it.
        let other = Keyring::new(vec![DataKey::new("x-1", [0x33; 32]), k2]).unwrap();
        let err =
            TenantLog::open(dir.path(), "t_alpha", &other, &LogConfig::default()).unwrap_err();
        assert!(matches!(err, StoreError::Crypto(_)), "{err}");
    }

    #[test]
    fn malformed_headers_are_refused() {
        let mut r = vec![RECORD_V2];
        r.extend_from_slice(&7u64.to_le_bytes());
        r.push(0);
        assert!(header(&r).is_err(), "no key id length");
        r.push(5);
        r.extend_from_slice(b"ab");
        assert!(header(&r).is_err(), "key id cut short");
        let mut ok = r[..HEADER].to_vec();
        ok.push(2);
        ok.extend_from_slice(b"ab");
        let h = header(&ok).unwrap();
        assert_eq!((h.seq, h.key_id, h.body), (7, Some("ab"), HEADER + 3));
        let mut zero = r[..HEADER].to_vec();
        zero.push(0);
        assert!(header(&zero).is_err(), "empty key id");
        let mut unknown = ok.clone();
        unknown[0] = 9;
        assert!(header(&unknown).is_err());
    }
}
