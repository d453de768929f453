//! Data key rotation in the store: segments and WAL records written under every key of a
//! tenant's keyring read together, each with the key it names; compaction rewrites what it
//! merges under the current key; a key missing from the keyring reads nothing.

use futures::StreamExt;
use scrim_otlp::Batch;
use scrim_store::convert::{hex, spans_to_batch};
use scrim_store::export::ExportFilter;
use scrim_store::generate::{TraceGen, trace_id};
use scrim_store::ingest::{LogConfig, TenantLog};
use scrim_store::query::{BufferedBatches, SqlLimits, TraceFilter};
use scrim_store::{DataKey, Keyring, SegmentStore, Signal, StoreError, TenantQuery};

fn k1() -> DataKey {
    DataKey::new("acme-1", [0x11; 32])
}

fn k2() -> DataKey {
    DataKey::new("acme-2", [0x22; 32])
}

fn both() -> Keyring {
    Keyring::new(vec![k1(), k2()]).unwrap()
}

fn gen_() -> TraceGen {
    TraceGen {
        traces: 40,
        seed: 5,
        ..Default::default()
    }
}

fn span_count(v: &serde_json::Value) -> usize {
    v["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["scopeSpans"].as_array().unwrap())
        .map(|s| s["spans"].as_array().unwrap().len())
        .sum()
}

#[test]
fn a_keyring_has_distinct_ids_and_its_last_key_is_current() {
    let ring = both();
    assert_eq!(ring.current().id(), "acme-2");
    assert_eq!(ring.first().id(), "acme-1");
    assert_eq!(ring.get("acme-1").unwrap().bytes(), &[0x11; 32]);
    assert!(ring.get("acme-3").is_none());
    assert!(Keyring::new(vec![]).is_err());
    assert!(Keyring::new(vec![k1(), DataKey::new("acme-1", [3; 32])]).is_err());
    assert!(Keyring::new(vec![DataKey::new("", [3; 32])]).is_err());
    assert!(Keyring::new(vec![DataKey::new("x".repeat(256), [3; 32])]).is_err());
    let shown = format!("{ring:?}");
    assert!(
        shown.contains("acme-1") && shown.contains("acme-2"),
        "{shown}"
    );
    assert!(!shown.contains("17") && !shown.contains("34"), "{shown}");
}

#[tokio::test]
async fn segments_of_every_key_read_together_and_compaction_rewrites_under_the_current_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let g = gen_();
    // Before the rotation: traces 0..20 under key 1; after it, 20..40 under key 2.
    let old = store
        .write_segment(
            "acme",
            &k1(),
            Signal::Spans,
            &[spans_to_batch(&g.traces(0..20)).unwrap()],
        )
        .await
        .unwrap()
        .unwrap();
    let new = store
        .write_segment(
            "acme",
            &k2(),
            Signal::Spans,
            &[spans_to_batch(&g.traces(20..40)).unwrap()],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (old.key_id.as_str(), new.key_id.as_str()),
        ("acme-1", "acme-2")
    );
    assert_eq!(old.hour_dir(), new.hour_dir());

    // Each file with the key its footer names.
    let ring = both();
    assert_eq!(
        store.read_segment("acme", &ring, &old).await.unwrap()[0].num_rows(),
        80
    );
    assert_eq!(
        store.read_segment("acme", &ring, &new).await.unwrap()[0].num_rows(),
        80
    );
    // A keyring without the old key does not read the old segment.
    let err = store
        .read_segment("acme", &k2().into(), &old)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Decryption(_)), "{err:?}");
    assert!(err.to_string().contains("acme-1"), "{err}");

    // Queries: SQL, trace lookup (trace filters sealed under either key), search, export.
    let q = TenantQuery::new(
        "acme",
        ring.clone(),
        &store,
        vec![old.clone(), new.clone()],
        BufferedBatches::default(),
    )
    .unwrap();
    let n = q
        .sql("SELECT count(*) FROM spans", SqlLimits::default())
        .await
        .unwrap();
    assert_eq!(n.rows[0][0], 160);
    for i in [3, 33] {
        let id = hex(&trace_id(g.seed, i));
        let t = q.trace(&id).await.unwrap().expect("stored");
        assert_eq!(span_count(&t), 4, "trace {i}");
    }
    let found = q
        .search_traces(&TraceFilter {
            limit: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 40);
    let mut stream = q
        .export(Signal::Spans, &ExportFilter::default())
        .await
        .unwrap();
    let mut exported = 0;
    while let Some(b) = stream.next().await {
        exported += b.unwrap().num_rows();
    }
    assert_eq!(exported, 160);
    // The same query with only the new key fails rather than answer without the old rows.
    let only_new = TenantQuery::new(
        "acme",
        k2(),
        &store,
        vec![old.clone(), new.clone()],
        BufferedBatches::default(),
    )
    .unwrap();
    let err = only_new
        .sql("SELECT count(*) FROM spans", SqlLimits::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Decryption(_)), "{err:?}");

    // Compaction merges both into one segment under the current key only.
    let (merged, replaced) = store
        .compact("acme", &ring, &[old.clone(), new.clone()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(merged.key_id, "acme-2");
    assert_eq!(replaced, [old.path.clone(), new.path.clone()]);
    let merged_rows = store
        .read_segment("acme", &k2().into(), &merged)
        .await
        .unwrap();
    assert_eq!(merged_rows.iter().map(|b| b.num_rows()).sum::<usize>(), 160);
    assert!(
        store
            .read_segment("acme", &k1().into(), &merged)
            .await
            .is_err()
    );
    // Its trace filter is under the new key.
    let q = TenantQuery::new(
        "acme",
        k2(),
        &store,
        vec![merged],
        BufferedBatches::default(),
    )
    .unwrap();
    let id = hex(&trace_id(g.seed, 3));
    assert_eq!(span_count(&q.trace(&id).await.unwrap().unwrap()), 4);
}

#[tokio::test]
async fn wal_records_under_an_older_key_replay_after_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path().join("segments"), "eu1").unwrap();
    let wal = dir.path().join("wal");
    let g = gen_();
    let open = |keys: &Keyring| TenantLog::open(&wal, "t_alpha", keys, &LogConfig::default());

    let log = open(&k1().into()).unwrap();
    log.append(&Batch::Traces(g.traces(0..10))).unwrap();
    assert_eq!(log.current_key_id(), "acme-1");
    // The rotation, while the log is open: new records go under key 2.
    log.set_keys(&both());
    assert_eq!(log.current_key_id(), "acme-2");
    log.append(&Batch::Traces(g.traces(10..20))).unwrap();
    drop(log);

    // A crash now: the replay opens both records, each with its own key.
    let again = open(&both()).unwrap();
    let buffered: usize = again.buffered().spans.iter().map(|b| b.num_rows()).sum();
    assert_eq!(buffered, 80);
    // Without the old key the replay refuses, naming the missing key.
    let err = open(&k2().into()).unwrap_err();
    assert!(matches!(err, StoreError::Crypto(_)), "{err}");
    assert!(err.to_string().contains("acme-1"), "{err}");
    // Without the new key too (a node that has not seen the rotation).
    let err = open(&k1().into()).unwrap_err();
    assert!(err.to_string().contains("acme-2"), "{err}");

    // A flush writes every replayed row under the current key.
    let flushed = again.flush(&store, both().current()).await.unwrap();
    assert_eq!(flushed.segments.len(), 1);
    assert_eq!(flushed.segments[0].key_id, "acme-2");
    assert_eq!(flushed.segments[0].rows, 80);
    again.commit(flushed).unwrap();
    drop(again);
    assert_eq!(open(&both()).unwrap().buffered_rows(), 0);
}
