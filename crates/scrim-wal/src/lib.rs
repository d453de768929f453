//! A persistent, bounded, crash-safe FIFO of byte records on disk.
//!
//! The agent acknowledges a request to the application only once its data is in this
//! queue, so the queue's promise is the agent's promise:
//!
//! - **Durable on return.** [`DiskQueue::push`] returns after the record is written and
//!   `fdatasync`ed (group commit: concurrent pushes share one sync).
//! - **At least once.** A consumer [`peek`](DiskQueue::peek)s records from the head and
//!   [`ack`](DiskQueue::ack)s them once delivered; the acknowledged position is persisted
//!   (written to a temporary file, synced, renamed). After a crash, records after the last
//!   persisted acknowledgement are delivered again, so a record can arrive twice, never
//!   zero times.
//! - **Bounded in bytes.** When a push would exceed `max_bytes`, the [`Overflow`] policy
//!   drops the oldest records or refuses the new one; either is counted in
//!   [`QueueStats`], never silent.
//! - **Torn writes are cut off.** Each record carries its length and a CRC-32 of its
//!   payload. On open, the first record that is incomplete or fails its CRC ends its
//!   segment: the file is truncated there (a push that was interrupted by a crash was
//!   never acknowledged, so nothing acknowledged is lost).
//!
//! On disk, a directory holds segment files `<20-digit sequence>.seg`, each a run of
//! records `[payload length: u32 LE][crc32(payload): u32 LE][payload]`, and a `cursor`
//! file holding the acknowledged position (segment sequence and offset, 16 bytes, plus a
//! CRC-32). Segments wholly behind the cursor are deleted.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Bytes before each payload: length and CRC-32.
const HEADER: u64 = 8;
/// The largest payload a record may hold (a u32 length), further capped by `max_bytes`.
const MAX_RECORD: u64 = u32::MAX as u64;
const CURSOR_FILE: &str = "cursor";
const SEGMENT_EXT: &str = "seg";

/// What to do when a push would make the queue exceed its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Drop the oldest records until the new one fits (fresh data wins).
    #[default]
    DropOldest,
    /// Refuse the new record (the sender is told to retry later).
    DropNewest,
}

/// Where and how big.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// The queue's own directory (created if missing).
    pub dir: PathBuf,
    /// Upper bound on the bytes the queue holds on disk (records not yet acknowledged,
    /// headers included).
    pub max_bytes: u64,
    /// A segment file is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// What happens on overflow.
    pub overflow: Overflow,
}

impl QueueConfig {
    /// A queue in `dir` with the defaults: 1 GiB, 16 MiB segments, drop oldest.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        QueueConfig {
            dir: dir.into(),
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
            overflow: Overflow::DropOldest,
        }
    }
}

/// The position of a record: its segment and byte offset. Ordered like the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    segment: u64,
    offset: u64,
}

impl RecordId {
    /// A position from its parts, as [`RecordId::segment`] and [`RecordId::offset`] gave
    /// them (kept elsewhere, e.g. a catalog's record of what was flushed).
    pub fn from_parts(segment: u64, offset: u64) -> RecordId {
        RecordId { segment, offset }
    }

    /// The number of the queue file that holds the record.
    pub fn segment(&self) -> u64 {
        self.segment
    }

    /// The record's byte offset in that file.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// A record read from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its position, to [`ack`](DiskQueue::ack) once delivered.
    pub id: RecordId,
    /// What was pushed.
    pub payload: Vec<u8>,
}

/// Counters and gauges, for the agent's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Records waiting (pushed, not acknowledged).
    pub records: u64,
    /// Bytes those records take on disk, headers included.
    pub bytes: u64,
    /// Records dropped to make room (`Overflow::DropOldest`) since open.
    pub dropped_oldest: u64,
    /// Records refused because the queue was full (`Overflow::DropNewest`) since open.
    pub dropped_newest: u64,
    /// Records cut off on open because they were torn or corrupt.
    pub discarded_corrupt: u64,
}

/// Why a push was refused.
#[derive(Debug)]
pub enum QueueError {
    /// The queue is full and its policy refuses new records.
    Full,
    /// The record alone is larger than the queue may ever hold.
    TooLarge {
        /// Record size with its header.
        size: u64,
        /// The queue's limit.
        max: u64,
    },
    /// The disk said no.
    Io(io::Error),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Full => f.write_str("disk queue full (overflow policy: drop newest)"),
            QueueError::TooLarge { size, max } => {
                write!(
                    f,
                    "record of {size} bytes exceeds the disk queue limit of {max} bytes"
                )
            }
            QueueError::Io(e) => write!(f, "disk queue I/O error: {e}"),
        }
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueueError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for QueueError {
    fn from(e: io::Error) -> Self {
        QueueError::Io(e)
    }
}

/// The queue. Share it behind an `Arc`; every method takes `&self`.
pub struct DiskQueue {
    config: QueueConfig,
    state: Mutex<State>,
    /// Held while syncing; holds how many pushes are known durable.
    synced: Mutex<u64>,
}

impl fmt::Debug for DiskQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskQueue")
            .field("dir", &self.config.dir)
            .field("stats", &self.stats())
            .finish()
    }
}

struct State {
    /// Segment sequence → its length in bytes (what is written, valid records only).
    segments: BTreeMap<u64, u64>,
    /// The segment being appended to, shared with syncers.
    active: Arc<File>,
    active_seq: u64,
    /// The acknowledged position: everything before it is delivered.
    cursor: RecordId,
    /// Pushes written so far (sync bookkeeping).
    written: u64,
    records: u64,
    bytes: u64,
    stats: QueueStats,
}

impl DiskQueue {
    /// Opens (or creates) the queue in `config.dir`, recovering from a crash: torn
    /// records are cut off and counted, segments behind the cursor removed.
    pub fn open(config: QueueConfig) -> io::Result<DiskQueue> {
        fs::create_dir_all(&config.dir)?;
        let mut seqs = Vec::new();
        for entry in fs::read_dir(&config.dir)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXT) {
                continue;
            }
            if let Some(seq) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
            {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let mut cursor = read_cursor(&config.dir)?.unwrap_or(RecordId {
            segment: seqs.first().copied().unwrap_or(1),
            offset: 0,
        });
        let mut stats = QueueStats::default();
        let mut segments = BTreeMap::new();
        let (mut records, mut bytes) = (0u64, 0u64);
        for &seq in &seqs {
            let path = segment_path(&config.dir, seq);
            if seq < cursor.segment {
                fs::remove_file(&path)?;
                continue;
            }
            let start = if seq == cursor.segment {
                cursor.offset
            } else {
                0
            };
            let scan = scan_segment(&path, start)?;
            let start = start.min(scan.valid_len);
            if scan.valid_len < scan.file_len {
                stats.discarded_corrupt += 1;
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(scan.valid_len)?;
            }
            if seq == cursor.segment && cursor.offset > scan.valid_len {
                // The cursor points past what survived: nothing there is left to deliver.
                cursor.offset = scan.valid_len;
            }
            records += scan.records;
            bytes += scan.valid_len - start;
            segments.insert(seq, scan.valid_len);
        }
        if cursor.segment < seqs.first().copied().unwrap_or(cursor.segment) {
            cursor = RecordId {
                segment: seqs[0],
                offset: 0,
            };
        }
        // Always append to a fresh segment: the last one may end in a truncated record's
        // place, and a new file keeps recovery simple.
        let active_seq = segments
            .keys()
            .next_back()
            .map_or(cursor.segment.max(1), |s| s + 1);
        let active = create_segment(&config.dir, active_seq)?;
        segments.insert(active_seq, 0);
        if segments.len() == 1 {
            cursor = RecordId {
                segment: active_seq,
                offset: 0,
            };
        }
        stats.records = records;
        stats.bytes = bytes;
        let queue = DiskQueue {
            config,
            state: Mutex::new(State {
                segments,
                active: Arc::new(active),
                active_seq,
                cursor,
                written: 0,
                records,
                bytes,
                stats,
            }),
            synced: Mutex::new(0),
        };
        {
            // Remove segments left wholly delivered by the previous run.
            let mut st = queue.lock();
            queue.persist_cursor(&mut st)?;
        }
        Ok(queue)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the on-disk state valid (every write is
        // a whole record or cut off on open), so the in-memory state is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `payload`; returns once it is durable. Fails with [`QueueError::Full`]
    /// under [`Overflow::DropNewest`] when there is no room, and with
    /// [`QueueError::TooLarge`] when the record could never fit.
    pub fn push(&self, payload: &[u8]) -> Result<(), QueueError> {
        let size = HEADER + payload.len() as u64;
        if payload.len() as u64 > MAX_RECORD || size > self.config.max_bytes {
            return Err(QueueError::TooLarge {
                size,
                max: self.config.max_bytes,
            });
        }
        let (file, my_seq) = {
            let mut st = self.lock();
            if st.bytes + size > self.config.max_bytes {
                match self.config.overflow {
                    Overflow::DropNewest => {
                        st.stats.dropped_newest += 1;
                        return Err(QueueError::Full);
                    }
                    Overflow::DropOldest => self.drop_oldest(&mut st, size)?,
                }
            }
            let active_len = st.segments[&st.active_seq];
            if active_len > 0 && active_len + size > self.config.segment_bytes {
                self.rotate(&mut st)?;
            }
            let mut header = [0u8; HEADER as usize];
            header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            header[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
            let mut f: &File = &st.active;
            let write = f.write_all(&header).and_then(|()| f.write_all(payload));
            if let Err(e) = write {
                // Cut back to the last whole record so the file never holds a torn one.
                let _ = st.active.set_len(active_len);
                return Err(e.into());
            }
            let seq = st.active_seq;
            *st.segments.get_mut(&seq).expect("active segment is listed") += size;
            st.records += 1;
            st.bytes += size;
            st.written += 1;
            (Arc::clone(&st.active), st.written)
        };
        // Group commit: whoever syncs covers every push written before the sync began.
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced < my_seq {
            let (file, target) = {
                let st = self.lock();
                (Arc::clone(&st.active), st.written)
            };
            file.sync_data()?;
            *synced = target;
        }
        drop(file);
        Ok(())
    }

    /// Closes the active segment (synced) and starts a new one.
    fn rotate(&self, st: &mut State) -> io::Result<()> {
        st.active.sync_data()?;
        let seq = st.active_seq + 1;
        let file = create_segment(&self.config.dir, seq)?;
        st.active = Arc::new(file);
        st.active_seq = seq;
        st.segments.insert(seq, 0);
        Ok(())
    }

    /// Advances the cursor past the oldest records until `needed` more bytes fit.
    fn drop_oldest(&self, st: &mut State, needed: u64) -> io::Result<()> {
        while st.bytes + needed > self.config.max_bytes && st.records > 0 {
            let cur = st.cursor;
            let seg_len = st.segments.get(&cur.segment).copied().unwrap_or(0);
            if cur.offset >= seg_len {
                self.advance_segment(st)?;
                continue;
            }
            let len = read_record_len(&self.config.dir, cur)?;
            st.cursor.offset += HEADER + len;
            st.records -= 1;
            st.bytes -= HEADER + len;
            st.stats.dropped_oldest += 1;
        }
        self.persist_cursor(st)
    }

    /// Moves the cursor to the next segment, deleting the one it leaves if it is not the
    /// active one.
    fn advance_segment(&self, st: &mut State) -> io::Result<()> {
        let cur = st.cursor.segment;
        let Some((&next, _)) = st.segments.range(cur + 1..).next() else {
            return Ok(());
        };
        st.cursor = RecordId {
            segment: next,
            offset: 0,
        };
        if cur != st.active_seq {
            st.segments.remove(&cur);
            remove_if_exists(&segment_path(&self.config.dir, cur))?;
        }
        Ok(())
    }

    fn persist_cursor(&self, st: &mut State) -> io::Result<()> {
        // Skip past fully consumed segments first, so files are removed promptly.
        loop {
            let len = st.segments.get(&st.cursor.segment).copied().unwrap_or(0);
            if st.cursor.offset < len || st.cursor.segment == st.active_seq {
                break;
            }
            self.advance_segment(st)?;
        }
        write_cursor(&self.config.dir, st.cursor)
    }

    /// Up to `max_records` records from the head (the oldest not acknowledged), at most
    /// `max_bytes` of payload unless the first record alone is bigger. Peeking does not
    /// consume: the same records come back until they are acknowledged.
    pub fn peek(&self, max_records: usize, max_bytes: u64) -> io::Result<Vec<Record>> {
        let (cursor, segments) = {
            let st = self.lock();
            let segs: Vec<(u64, u64)> = st
                .segments
                .range(st.cursor.segment..)
                .map(|(&s, &l)| (s, l))
                .collect();
            (st.cursor, segs)
        };
        let mut out = Vec::new();
        let mut total = 0u64;
        for (seq, len) in segments {
            let mut offset = if seq == cursor.segment {
                cursor.offset
            } else {
                0
            };
            if offset >= len {
                continue;
            }
            let mut file = match File::open(segment_path(&self.config.dir, seq)) {
                Ok(f) => f,
                // Dropped to make room between the snapshot and now: the next peek sees it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            file.seek(SeekFrom::Start(offset))?;
            let mut reader = io::BufReader::new(file);
            while offset < len {
                if out.len() >= max_records {
                    return Ok(out);
                }
                let mut header = [0u8; HEADER as usize];
                reader.read_exact(&mut header)?;
                let plen = u64::from(u32::from_le_bytes(header[..4].try_into().expect("4")));
                if !out.is_empty() && total + plen > max_bytes {
                    return Ok(out);
                }
                let mut payload = vec![0u8; plen as usize];
                reader.read_exact(&mut payload)?;
                let crc = u32::from_le_bytes(header[4..].try_into().expect("4"));
                if crc32fast::hash(&payload) != crc {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "disk queue record at segment {seq} offset {offset} fails its checksum"
                        ),
                    ));
                }
                out.push(Record {
                    id: RecordId {
                        segment: seq,
                        offset,
                    },
                    payload,
                });
                total += plen;
                offset += HEADER + plen;
            }
        }
        Ok(out)
    }

    /// Marks every record up to and including `id` as delivered, durably. Acknowledging
    /// a record that was already dropped or acknowledged does nothing.
    pub fn ack(&self, id: RecordId) -> io::Result<()> {
        let mut st = self.lock();
        if id < st.cursor {
            return Ok(());
        }
        // Walk from the cursor to just past `id`, counting what is released.
        while st.cursor <= id && st.records > 0 {
            let cur = st.cursor;
            let seg_len = st.segments.get(&cur.segment).copied().unwrap_or(0);
            if cur.offset >= seg_len {
                if cur.segment >= st.active_seq {
                    break;
                }
                self.advance_segment(&mut st)?;
                continue;
            }
            let len = read_record_len(&self.config.dir, cur)?;
            st.cursor.offset += HEADER + len;
            st.records -= 1;
            st.bytes -= HEADER + len;
        }
        self.persist_cursor(&mut st)
    }

    /// When every record is acknowledged, closes the active segment file and removes it
    /// with any older one, so that nothing acknowledged stays on disk (a deletion request
    /// wants erased data gone from every file, not just unreachable). Returns whether
    /// anything was removed; `false` when records wait (they are the reader's to consume).
    pub fn discard_acknowledged(&self) -> io::Result<bool> {
        let mut st = self.lock();
        let active_len = st.segments.get(&st.active_seq).copied().unwrap_or(0);
        if st.records > 0 || (active_len == 0 && st.segments.len() == 1) {
            return Ok(false);
        }
        self.rotate(&mut st)?;
        // The cursor is at the end of what was written: moving it on removes each file.
        self.persist_cursor(&mut st)?;
        Ok(true)
    }

    /// Current counters.
    pub fn stats(&self) -> QueueStats {
        let st = self.lock();
        QueueStats {
            records: st.records,
            bytes: st.bytes,
            ..st.stats
        }
    }

    /// The directory the queue lives in.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.{SEGMENT_EXT}"))
}

fn create_segment(dir: &Path, seq: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, seq))?;
    sync_dir(dir)?;
    Ok(file)
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn read_record_len(dir: &Path, at: RecordId) -> io::Result<u64> {
    let mut f = File::open(segment_path(dir, at.segment))?;
    f.seek(SeekFrom::Start(at.offset))?;
    let mut len = [0u8; 4];
    f.read_exact(&mut len)?;
    Ok(u64::from(u32::from_le_bytes(len)))
}

struct Scan {
    file_len: u64,
    /// End of the last whole, valid record.
    valid_len: u64,
    /// Valid records from the start offset on.
    records: u64,
}

/// Reads a segment from `start`, stopping at the first torn or corrupt record.
fn scan_segment(path: &Path, start: u64) -> io::Result<Scan> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = io::BufReader::new(file);
    // Records before `start` were valid when acknowledged; skip them unread.
    let start = start.min(file_len);
    reader.seek(SeekFrom::Start(start))?;
    let (mut offset, mut records) = (start, 0u64);
    let mut payload = Vec::new();
    loop {
        if offset + HEADER > file_len {
            break;
        }
        let mut header = [0u8; HEADER as usize];
        reader.read_exact(&mut header)?;
        let plen = u64::from(u32::from_le_bytes(header[..4].try_into().expect("4")));
        if offset + HEADER + plen > file_len {
            break;
        }
        payload.resize(plen as usize, 0);
        reader.read_exact(&mut payload)?;
        if crc32fast::hash(&payload) != u32::from_le_bytes(header[4..].try_into().expect("4")) {
            break;
        }
        offset += HEADER + plen;
        records += 1;
    }
    Ok(Scan {
        file_len,
        valid_len: offset,
        records,
    })
}

fn read_cursor(dir: &Path) -> io::Result<Option<RecordId>> {
    let bytes = match fs::read(dir.join(CURSOR_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if bytes.len() != 20
        || crc32fast::hash(&bytes[..16]) != u32::from_le_bytes(bytes[16..].try_into().expect("4"))
    {
        // A torn cursor write is impossible (rename is atomic); a damaged one means the
        // safest reading: deliver everything still on disk again.
        return Ok(None);
    }
    Ok(Some(RecordId {
        segment: u64::from_le_bytes(bytes[..8].try_into().expect("8")),
        offset: u64::from_le_bytes(bytes[8..16].try_into().expect("8")),
    }))
}

fn write_cursor(dir: &Path, at: RecordId) -> io::Result<()> {
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&at.segment.to_le_bytes());
    bytes[8..16].copy_from_slice(&at.offset.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..16]);
    bytes[16..].copy_from_slice(&crc.to_le_bytes());
    let tmp = dir.join("cursor.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_data()?;
    fs::rename(&tmp, dir.join(CURSOR_FILE))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(dir: &Path, max_bytes: u64, segment_bytes: u64, overflow: Overflow) -> DiskQueue {
        DiskQueue::open(QueueConfig {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes,
            overflow,
        })
        .expect("open")
    }

    fn payloads(q: &DiskQueue) -> Vec<Vec<u8>> {
        q.peek(usize::MAX, u64::MAX)
            .expect("peek")
            .into_iter()
            .map(|r| r.payload)
            .collect()
    }

    #[test]
    fn fifo_across_segments_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 1 << 20, 64, Overflow::DropOldest);
        let items: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; (i as usize) * 3 + 1]).collect();
        for it in &items {
            q.push(it).unwrap();
        }
        assert_eq!(payloads(&q), items);
        assert_eq!(q.stats().records, 20);
        drop(q);
        let q = queue(dir.path(), 1 << 20, 64, Overflow::DropOldest);
        assert_eq!(payloads(&q), items, "everything survives a reopen");
        let first3 = q.peek(3, u64::MAX).unwrap();
        q.ack(first3[2].id).unwrap();
        assert_eq!(payloads(&q), items[3..].to_vec());
        drop(q);
        let q = queue(dir.path(), 1 << 20, 64, Overflow::DropOldest);
        assert_eq!(payloads(&q), items[3..].to_vec(), "acks survive a reopen");
        let all = q.peek(usize::MAX, u64::MAX).unwrap();
        q.ack(all.last().unwrap().id).unwrap();
        assert!(payloads(&q).is_empty());
        assert_eq!(q.stats().records, 0);
        assert_eq!(q.stats().bytes, 0);
        // Acked segments are gone: only the active one (and the cursor) remain.
        let segs = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "seg")
            })
            .count();
        assert_eq!(segs, 1);
    }

    #[test]
    fn peek_respects_limits_and_ack_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 1 << 20, 1 << 20, Overflow::DropOldest);
        for i in 0..5u8 {
            q.push(&[i; 10]).unwrap();
        }
        assert_eq!(q.peek(2, u64::MAX).unwrap().len(), 2);
        assert_eq!(
            q.peek(10, 25).unwrap().len(),
            2,
            "25 bytes hold two 10-byte records"
        );
        assert_eq!(
            q.peek(10, 5).unwrap().len(),
            1,
            "the first record always comes"
        );
        let first = q.peek(1, u64::MAX).unwrap()[0].id;
        q.ack(first).unwrap();
        q.ack(first).unwrap();
        assert_eq!(q.stats().records, 4);
    }

    #[test]
    fn overflow_drops_oldest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        // Each record is 8 + 10 bytes; room for 5.
        let q = queue(dir.path(), 90, 40, Overflow::DropOldest);
        for i in 0..8u8 {
            q.push(&[i; 10]).unwrap();
        }
        let got = payloads(&q);
        assert_eq!(got, (3..8u8).map(|i| vec![i; 10]).collect::<Vec<_>>());
        let s = q.stats();
        assert_eq!((s.records, s.bytes, s.dropped_oldest), (5, 90, 3));
        drop(q);
        let q = queue(dir.path(), 90, 40, Overflow::DropOldest);
        assert_eq!(payloads(&q), got, "drops are persisted");
    }

    #[test]
    fn overflow_refuses_newest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 36, 1 << 20, Overflow::DropNewest);
        q.push(&[1; 10]).unwrap();
        q.push(&[2; 10]).unwrap();
        assert!(matches!(q.push(&[3; 10]), Err(QueueError::Full)));
        assert_eq!(q.stats().dropped_newest, 1);
        assert_eq!(payloads(&q), vec![vec![1; 10], vec![2; 10]]);
        let e = q.push(&[0; 100]).unwrap_err();
        assert!(
            matches!(e, QueueError::TooLarge { size: 108, max: 36 }),
            "{e}"
        );
    }

    #[test]
    fn torn_tail_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 1 << 20, 1 << 20, Overflow::DropOldest);
        q.push(b"one").unwrap();
        q.push(b"two").unwrap();
        let seg = q.peek(1, u64::MAX).unwrap()[0].id.segment;
        drop(q);
        // A crash mid-write: a header promising 100 bytes, then 5.
        let mut f = OpenOptions::new()
            .append(true)
            .open(segment_path(dir.path(), seg))
            .unwrap();
        f.write_all(&100u32.to_le_bytes()).unwrap();
        f.write_all(&[0; 4]).unwrap();
        f.write_all(b"abcde").unwrap();
        drop(f);
        let q = queue(dir.path(), 1 << 20, 1 << 20, Overflow::DropOldest);
        assert_eq!(payloads(&q), vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(q.stats().discarded_corrupt, 1);
        q.push(b"three").unwrap();
        assert_eq!(payloads(&q).len(), 3);
    }

    #[test]
    fn corrupt_record_ends_its_segment() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 1 << 20, 1 << 20, Overflow::DropOldest);
        q.push(b"good").unwrap();
        q.push(b"flipped").unwrap();
        let seg = q.peek(1, u64::MAX).unwrap()[0].id.segment;
        drop(q);
        let path = segment_path(dir.path(), seg);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let q = queue(dir.path(), 1 << 20, 1 << 20, Overflow::DropOldest);
        assert_eq!(payloads(&q), vec![b"good".to_vec()]);
        assert_eq!(q.stats().discarded_corrupt, 1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// Random pushes, acks and reopens behave like an in-memory FIFO.
        #[test]
        fn behaves_like_a_fifo(ops in proptest::collection::vec((0u8..4, 1usize..40), 1..60)) {
            let dir = tempfile::tempdir().unwrap();
            let open = || queue(dir.path(), 1 << 20, 100, Overflow::DropOldest);
            let mut q = open();
            let mut model = std::collections::VecDeque::new();
            for (n, (op, arg)) in ops.into_iter().enumerate() {
                match op {
                    0 | 1 => {
                        let p = vec![n as u8; arg];
                        q.push(&p).unwrap();
                        model.push_back(p);
                    }
                    2 => {
                        let head = q.peek(arg % 5 + 1, u64::MAX).unwrap();
                        if let Some(last) = head.last() {
                            q.ack(last.id).unwrap();
                            for _ in 0..head.len() {
                                model.pop_front();
                            }
                        }
                    }
                    _ => {
                        drop(q);
                        q = open();
                    }
                }
                proptest::prop_assert_eq!(payloads(&q), model.iter().cloned().collect::<Vec<_>>());
                proptest::prop_assert_eq!(q.stats().records, model.len() as u64);
                let bytes: u64 = model.iter().map(|p| p.len() as u64 + HEADER).sum();
                proptest::prop_assert_eq!(q.stats().bytes, bytes);
            }
        }
    }

    #[test]
    fn concurrent_pushes_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let q = Arc::new(queue(dir.path(), 1 << 24, 4096, Overflow::DropOldest));
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let q = Arc::clone(&q);
                std::thread::spawn(move || {
                    for i in 0..50u8 {
                        q.push(&[t, i, 7, 7, 7]).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let got = payloads(&q);
        assert_eq!(got.len(), 200);
        // Each thread's records keep their order.
        for t in 0..4u8 {
            let mine: Vec<u8> = got.iter().filter(|p| p[0] == t).map(|p| p[1]).collect();
            assert_eq!(mine, (0..50).collect::<Vec<_>>());
        }
    }
}
