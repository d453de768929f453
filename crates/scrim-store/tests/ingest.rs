//! A tenant's write path: WAL and buffer, replay after a restart, flush to segments.

use std::path::Path;

use scrim_otlp::Batch;
use scrim_store::generate::TraceGen;
use scrim_store::ingest::{LogConfig, TenantLog};
use scrim_store::{DataKey, SegmentStore, Signal, StoreError};

fn key(b: u8) -> DataKey {
    DataKey::new("k1", [b; 32])
}

fn open(dir: &Path, k: &DataKey) -> Result<TenantLog, StoreError> {
    TenantLog::open(dir, "t_alpha", &k.clone().into(), &LogConfig::default())
}

fn generator() -> TraceGen {
    TraceGen {
        traces: 1000,
        services: vec!["checkout".into(), "frontend".into()],
        ..TraceGen::default()
    }
}

fn traces(range: std::ops::Range<usize>) -> Batch {
    Batch::Traces(generator().traces(range))
}

fn spans(log: &TenantLog) -> usize {
    log.buffered().spans.iter().map(|b| b.num_rows()).sum()
}

#[test]
fn appended_rows_are_buffered_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let log = open(dir.path(), &k).unwrap();
    log.append(&traces(0..10)).unwrap();
    log.append(&Batch::Logs(generator().logs(0..5))).unwrap();
    let before = spans(&log);
    assert!(before >= 10, "{before}");
    assert!(!log.buffered().logs.is_empty());
    drop(log);
    let again = open(dir.path(), &k).unwrap();
    assert_eq!(
        spans(&again),
        before,
        "the WAL replays every acknowledged row"
    );
    // New appends after a replay get new sequence numbers (nothing is overwritten).
    again.append(&traces(10..12)).unwrap();
    drop(again);
    let third = open(dir.path(), &k).unwrap();
    assert!(spans(&third) > before);
}

#[test]
fn the_wal_is_encrypted_and_needs_the_tenant_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), &key(1)).unwrap();
    log.append(&traces(0..5)).unwrap();
    drop(log);
    // The generator's service names are in every span; none may be readable on disk.
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        assert!(
            !bytes
                .windows(8)
                .any(|w| w == b"checkout" || w == b"frontend"),
            "{} holds plaintext",
            entry.path().display()
        );
    }
    let err = open(dir.path(), &key(2)).unwrap_err();
    assert!(matches!(err, StoreError::Crypto(_)), "{err}");
    // Another tenant id (associated data) does not open it either.
    let err =
        TenantLog::open(dir.path(), "t_other", &key(1).into(), &LogConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::Crypto(_)), "{err}");
}

#[tokio::test]
async fn a_flush_moves_rows_to_segments_and_the_commit_forgets_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path().join("segments"), "local").unwrap();
    let k = key(3);
    let log = open(&dir.path().join("wal"), &k).unwrap();
    log.append(&traces(0..20)).unwrap();
    let rows = spans(&log);
    let flushed = log.flush(&store, &k).await.unwrap();
    assert_eq!(flushed.segments.len(), 1);
    assert_eq!(flushed.segments[0].signal, Signal::Spans);
    assert_eq!(flushed.segments[0].rows as usize, rows);
    // Until the commit, the rows stay buffered (the catalog does not know the segment yet).
    assert_eq!(spans(&log), rows);
    // Appended during the flush: not part of it.
    log.append(&traces(20..21)).unwrap();
    log.commit(flushed).unwrap();
    let left = spans(&log);
    assert!(left > 0 && left < rows, "{left}");
    drop(log);
    // After a restart only the record appended after the flush is replayed.
    let again = open(&dir.path().join("wal"), &k).unwrap();
    assert_eq!(spans(&again), left);
    let segment = store
        .read_segment("t_alpha", &k.clone().into(), &{
            let f = again.flush(&store, &k).await.unwrap();
            f.segments[0].clone()
        })
        .await
        .unwrap();
    assert_eq!(segment.iter().map(|b| b.num_rows()).sum::<usize>(), left);
}

#[tokio::test]
async fn a_crash_after_the_catalog_record_does_not_store_rows_twice() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    let store = SegmentStore::local(dir.path().join("segments"), "local").unwrap();
    let k = key(4);
    let log = open(&wal, &k).unwrap();
    log.append(&traces(0..10)).unwrap();
    log.append(&traces(10..20)).unwrap();
    let flushed = log.flush(&store, &k).await.unwrap();
    let mark = flushed.mark().expect("a flush of records has a mark");
    assert_eq!(mark.wal_id, log.wal_id());
    // Acknowledged after the flush, before the "crash": must survive it.
    log.append(&traces(20..21)).unwrap();
    let after = spans(&log) - flushed.segments[0].rows as usize;
    // The catalog recorded the segments and `mark`; the process dies before `commit`.
    let wal_id = log.wal_id().to_owned();
    drop(flushed);
    drop(log);

    let again = open(&wal, &k).unwrap();
    assert_eq!(
        again.wal_id(),
        wal_id,
        "the WAL keeps its id across restarts"
    );
    assert!(
        spans(&again) > after,
        "without the mark every record replays"
    );
    // A mark of another WAL (a recreated directory, another node) changes nothing.
    let other = scrim_store::ingest::WalMark {
        wal_id: "0000".into(),
        ..mark.clone()
    };
    assert_eq!(again.discard_through(&other).unwrap(), 0);
    assert_eq!(again.discard_through(&mark).unwrap(), 2);
    assert_eq!(
        spans(&again),
        after,
        "only the record after the flush is left"
    );
    drop(again);
    let third = open(&wal, &k).unwrap();
    assert_eq!(
        spans(&third),
        after,
        "the dropped records are gone from the WAL too"
    );

    // A new WAL directory gets a new id.
    let fresh = open(&dir.path().join("wal2"), &k).unwrap();
    assert_ne!(fresh.wal_id(), wal_id);
}

#[test]
fn a_full_wal_refuses_and_keeps_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(4);
    let log = TenantLog::open(
        dir.path(),
        "t_alpha",
        &k.clone().into(),
        &LogConfig { max_bytes: 4096 },
    )
    .unwrap();
    let mut refused = false;
    for i in 0..100 {
        match log.append(&traces(i * 5..i * 5 + 5)) {
            Ok(()) => {}
            Err(StoreError::Full) => {
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused, "a 4 KiB WAL must fill up");
    let buffered = spans(&log);
    drop(log);
    let again = TenantLog::open(
        dir.path(),
        "t_alpha",
        &k.clone().into(),
        &LogConfig { max_bytes: 4096 },
    )
    .unwrap();
    assert_eq!(
        spans(&again),
        buffered,
        "a refused append leaves no row behind"
    );
}
