//! Encrypted segments: written, read back, unreadable without the tenant's key, compacted.

use datafusion::arrow::array::{Array, StringArray, TimestampNanosecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use scrim_store::convert::{logs_to_batch, spans_to_batch};
use scrim_store::generate::TraceGen;
use scrim_store::{DataKey, SegmentMeta, SegmentStore, Signal, StoreError};

const SECRET_SERVICE: &str = "zz-planted-service-7f3a";
const SECRET_STATEMENT: &str = "SELECT planted_column_9b1c FROM t";

fn key_a() -> DataKey {
    DataKey::new("a-key-1", [0xA1; 32])
}

fn key_b() -> DataKey {
    DataKey::new("b-key-1", [0xB2; 32])
}

/// Spans whose service name and one statement are distinctive strings.
fn planted_spans(traces: usize, start_ns: u64) -> RecordBatch {
    let g = TraceGen {
        traces,
        start_ns,
        services: vec![SECRET_SERVICE.into(), "plain".into()],
        ..Default::default()
    };
    let mut req = g.traces(0..traces);
    req.resource_spans[0].scope_spans[0].spans[1].attributes[1] =
        scrim_store::generate::kv("db.query.text", SECRET_STATEMENT);
    spans_to_batch(&req).unwrap()
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test]
async fn a_segment_round_trips_sorted_with_its_catalog_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let start = 1_767_225_600_000_000_000; // 2026-01-01T00:00Z
    let batch = planted_spans(50, start);
    let meta = store
        .write_segment(
            "acme",
            &key_a(),
            Signal::Spans,
            std::slice::from_ref(&batch),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        meta.path.starts_with("eu1/acme/spans/2026/01/01/00/") && meta.path.ends_with(".parquet"),
        "{}",
        meta.path
    );
    assert_eq!(meta.rows, 200);
    assert_eq!(meta.min_time_ns, start as i64);
    let starts: &TimestampNanosecondArray = batch
        .column_by_name("start_time")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert_eq!(
        Some(meta.max_time_ns),
        datafusion::arrow::compute::max(starts)
    );
    assert!(meta.max_time_ns >= start as i64 + 49 * 1_000_000_000);
    assert_eq!(
        meta.services,
        vec!["plain".to_string(), SECRET_SERVICE.to_string()]
    );
    assert_eq!(meta.key_id, "a-key-1");
    let on_disk = std::fs::metadata(dir.path().join(&meta.path))
        .unwrap()
        .len();
    assert_eq!(meta.bytes, on_disk);
    // The catalog stores it as JSON.
    let json = serde_json::to_string(&meta).unwrap();
    assert!(json.contains("\"signal\":\"spans\""));
    assert_eq!(serde_json::from_str::<SegmentMeta>(&json).unwrap(), meta);

    let back = store
        .read_segment("acme", &key_a().into(), &meta)
        .await
        .unwrap();
    assert_eq!(rows(&back), 200);
    // Sorted by (service_name, start_time).
    let mut last: Option<(String, i64)> = None;
    for b in &back {
        let svc: &StringArray = b
            .column_by_name("service_name")
            .unwrap()
            .as_any()
            .downcast_ref()
            .unwrap();
        let t: &TimestampNanosecondArray = b
            .column_by_name("start_time")
            .unwrap()
            .as_any()
            .downcast_ref()
            .unwrap();
        for i in 0..b.num_rows() {
            let cur = (svc.value(i).to_owned(), t.value(i));
            if let Some(prev) = &last {
                assert!(prev <= &cur, "{prev:?} > {cur:?}");
            }
            last = Some(cur);
        }
    }
}

#[tokio::test]
async fn a_segment_cannot_be_read_without_the_tenants_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let meta = store
        .write_segment(
            "acme",
            &key_a(),
            Signal::Spans,
            &[planted_spans(20, 1_767_225_600_000_000_000)],
        )
        .await
        .unwrap()
        .unwrap();
    let raw = std::fs::read(dir.path().join(&meta.path)).unwrap();

    // Another tenant's key: a clear decryption error, no panic.
    let err = scrim_store::segment::decode(raw.clone().into(), &key_b().into()).unwrap_err();
    assert!(matches!(err, StoreError::Decryption(_)), "{err:?}");
    // No key at all: plain Parquet readers see an encrypted footer.
    let err = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(raw.clone()),
    )
    .map(|_| ())
    .map_err(StoreError::from)
    .unwrap_err();
    assert!(matches!(err, StoreError::Decryption(_)), "{err:?}");
    // The right key works, and the trace-id bloom filter is there (encrypted with the rest).
    let opts = parquet::arrow::arrow_reader::ArrowReaderOptions::new()
        .with_file_decryption_properties(
            parquet::encryption::decrypt::FileDecryptionProperties::builder(
                key_a().bytes().to_vec(),
            )
            .build()
            .unwrap(),
        );
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new_with_options(
            bytes::Bytes::from(raw.clone()),
            opts,
        )
        .unwrap();
    let md = builder.metadata();
    let rg = md.row_group(0);
    let trace_col = (0..rg.num_columns())
        .find(|&i| rg.column(i).column_path().string() == "trace_id")
        .unwrap();
    assert!(rg.column(trace_col).bloom_filter_offset().is_some());
    assert!(rg.column(trace_col).statistics().is_some());
    assert_eq!(md.file_metadata().num_rows(), 80);
    assert_eq!(
        rows(&scrim_store::segment::decode(raw.clone().into(), &key_a().into()).unwrap()),
        80
    );
    // Truncated file: an error, not a panic.
    assert!(
        scrim_store::segment::decode(raw[..raw.len() / 2].to_vec().into(), &key_a().into())
            .is_err()
    );
}

#[tokio::test]
async fn segment_bytes_hold_none_of_the_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let meta = store
        .write_segment(
            "acme",
            &key_a(),
            Signal::Spans,
            &[planted_spans(20, 1_767_225_600_000_000_000)],
        )
        .await
        .unwrap()
        .unwrap();
    let raw = std::fs::read(dir.path().join(&meta.path)).unwrap();
    let found = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    // The planted values exist in the data (checked by reading back) …
    let back = store
        .read_segment("acme", &key_a().into(), &meta)
        .await
        .unwrap();
    let has_statement = back.iter().any(|b| {
        let s: &StringArray = b
            .column_by_name("db_statement")
            .unwrap()
            .as_any()
            .downcast_ref()
            .unwrap();
        (0..s.len()).any(|i| !s.is_null(i) && s.value(i) == SECRET_STATEMENT)
    });
    assert!(has_statement);
    // … and none of them, nor a column name or trace id, is readable in the file.
    for needle in [
        SECRET_SERVICE.as_bytes(),
        SECRET_STATEMENT.as_bytes(),
        b"planted",
        b"db_statement",
        b"service_name",
        b"GET /api/items",
    ] {
        assert!(
            !found(needle),
            "{:?} is in the file",
            String::from_utf8_lossy(needle)
        );
    }
    // Encrypted Parquet files start and end with the PARE magic.
    assert_eq!(&raw[..4], b"PARE");
    assert_eq!(&raw[raw.len() - 4..], b"PARE");
}

#[tokio::test]
async fn compaction_merges_one_hour_and_names_the_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let hour = 1_767_225_600_000_000_000u64;
    let mut metas = Vec::new();
    for i in 0..3u64 {
        let g = TraceGen {
            traces: 10,
            start_ns: hour + i * 600_000_000_000,
            seed: i,
            ..Default::default()
        };
        let b = logs_to_batch(&g.logs(0..10)).unwrap();
        metas.push(
            store
                .write_segment("acme", &key_a(), Signal::Logs, &[b])
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let (merged, old) = store
        .compact("acme", &key_a().into(), &metas)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(merged.rows, 30);
    assert_eq!(merged.min_time_ns, metas[0].min_time_ns);
    assert_eq!(merged.max_time_ns, metas[2].max_time_ns);
    assert_eq!(merged.hour_dir(), metas[0].hour_dir());
    assert_eq!(
        old,
        metas.iter().map(|m| m.path.clone()).collect::<Vec<_>>()
    );
    store.delete("acme", &old).await.unwrap();
    for p in &old {
        assert!(!dir.path().join(p).exists());
    }
    assert_eq!(
        rows(
            &store
                .read_segment("acme", &key_a().into(), &merged)
                .await
                .unwrap()
        ),
        30
    );

    // A segment of another hour, signal or tenant is refused.
    let g = TraceGen {
        traces: 2,
        start_ns: hour + 3_600_000_000_000,
        ..Default::default()
    };
    let later = store
        .write_segment(
            "acme",
            &key_a(),
            Signal::Logs,
            &[logs_to_batch(&g.logs(0..2)).unwrap()],
        )
        .await
        .unwrap()
        .unwrap();
    let err = store
        .compact("acme", &key_a().into(), &[merged.clone(), later])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    let err = store
        .compact("other", &key_a().into(), std::slice::from_ref(&merged))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TenantMismatch(_)), "{err:?}");
    let err = store
        .delete("other", std::slice::from_ref(&merged.path))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TenantMismatch(_)), "{err:?}");
    assert!(
        store
            .compact("acme", &key_a().into(), &[merged])
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn foreign_or_escaping_segment_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let meta = store
        .write_segment(
            "bravo",
            &key_b(),
            Signal::Spans,
            &[planted_spans(2, 1_767_225_600_000_000_000)],
        )
        .await
        .unwrap()
        .unwrap();
    // Tenant acme asking for bravo's segment, as is and relabelled.
    let err = store
        .read_segment("acme", &key_a().into(), &meta)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TenantMismatch(_)), "{err:?}");
    let relabelled = SegmentMeta {
        tenant_id: "acme".into(),
        ..meta.clone()
    };
    let err = store
        .read_segment("acme", &key_a().into(), &relabelled)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TenantMismatch(_)), "{err:?}");
    let climbing = SegmentMeta {
        tenant_id: "acme".into(),
        path: format!(
            "eu1/acme/spans/../../{}",
            meta.path.trim_start_matches("eu1/")
        ),
        ..meta.clone()
    };
    let err = store
        .read_segment("acme", &key_a().into(), &climbing)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TenantMismatch(_)), "{err:?}");
    let wrong_signal = SegmentMeta {
        signal: Signal::Logs,
        ..meta.clone()
    };
    assert!(
        store
            .read_segment("bravo", &key_b().into(), &wrong_signal)
            .await
            .is_err()
    );
    assert!(
        store
            .write_segment("../bravo", &key_a(), Signal::Spans, &[])
            .await
            .is_err()
    );
    // An empty write makes no segment.
    assert!(
        store
            .write_segment("acme", &key_a(), Signal::Spans, &[])
            .await
            .unwrap()
            .is_none()
    );
}
