//! Exports of one tenant's spans and logs in every format: row counts, round trips back to
//! the stored rows, filters, encryption, and the other tenant's rows never included.

use bytes::Bytes;
use futures::StreamExt;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::encryption::decrypt::FileDecryptionProperties;
use scrim_store::convert::{hex, logs_to_batch, logs_to_otlp, spans_to_batch};
use scrim_store::export::{
    Encoder, ExportFilter, ExportKey, Format, OTLP_ROWS_PER_LINE, encode_stream,
};
use scrim_store::generate::{TraceGen, trace_id};
use scrim_store::query::{BufferedBatches, TimeRange};
use scrim_store::{DataKey, SegmentMeta, SegmentStore, Signal, TenantQuery};

const HOUR0: u64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00Z
const SEC: u64 = 1_000_000_000;

/// Tenant `acme`: 1200 traces of 4 spans and 1200 log records, in two segments each and a
/// buffer; tenant `bravo`: 50 traces in the same store.
struct World {
    _dir: tempfile::TempDir,
    store: SegmentStore,
    segments: Vec<SegmentMeta>,
    buffer: BufferedBatches,
    generator: TraceGen,
}

const TRACES: usize = 1200;

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let generator = TraceGen {
        traces: TRACES,
        services: vec!["checkout".into(), "catalog".into()],
        seed: 5,
        ..Default::default()
    };
    let key = DataKey::new("a1", [0x11; 32]);
    let mut segments = Vec::new();
    for chunk in [0..500, 500..1100] {
        let spans = spans_to_batch(&generator.traces(chunk.clone())).unwrap();
        let logs = logs_to_batch(&generator.logs(chunk)).unwrap();
        for (sig, b) in [(Signal::Spans, spans), (Signal::Logs, logs)] {
            segments.push(
                store
                    .write_segment("acme", &key, sig, &[b])
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
    }
    let other = TraceGen {
        traces: 50,
        services: vec!["bravo-svc".into()],
        seed: 9,
        ..Default::default()
    };
    store
        .write_segment(
            "bravo",
            &DataKey::new("b1", [0x22; 32]),
            Signal::Spans,
            &[spans_to_batch(&other.traces(0..50)).unwrap()],
        )
        .await
        .unwrap();
    let buffer = BufferedBatches {
        spans: vec![spans_to_batch(&generator.traces(1100..TRACES)).unwrap()],
        logs: vec![logs_to_batch(&generator.logs(1100..TRACES)).unwrap()],
        metrics: vec![],
    };
    World {
        _dir: dir,
        store,
        segments,
        buffer,
        generator,
    }
}

impl World {
    fn query(&self) -> TenantQuery {
        TenantQuery::new(
            "acme",
            DataKey::new("a1", [0x11; 32]),
            &self.store,
            self.segments.clone(),
            self.buffer.clone(),
        )
        .unwrap()
    }

    /// The whole export as chunks, and the rows the encoder counted.
    async fn export(
        &self,
        signal: Signal,
        format: Format,
        filter: &ExportFilter,
        key: Option<&ExportKey>,
    ) -> (Vec<Bytes>, u64) {
        let rows = self.query().export(signal, filter).await.unwrap();
        let encoder = Encoder::new(signal, format, key).unwrap();
        let counter = encoder.row_counter();
        let chunks: Vec<Bytes> = encode_stream(rows, encoder)
            .map(|c| c.unwrap())
            .collect()
            .await;
        (chunks, counter.load(std::sync::atomic::Ordering::Relaxed))
    }
}

fn joined(chunks: &[Bytes]) -> Vec<u8> {
    chunks.iter().flat_map(|c| c.iter().copied()).collect()
}

/// Records of an RFC 4180 text (quoted fields may hold line breaks), each a list of fields.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && record.is_empty(),
        "ends in CRLF"
    );
    records
}

#[tokio::test]
async fn otlp_json_lines_hold_every_span_and_decode_as_otlp_requests() {
    let w = world().await;
    let (chunks, rows) = w
        .export(
            Signal::Spans,
            Format::OtlpJson,
            &ExportFilter::default(),
            None,
        )
        .await;
    assert_eq!(rows, (TRACES * 4) as u64);
    assert!(chunks.len() > 1, "streamed in several chunks");
    let text = String::from_utf8(joined(&chunks)).unwrap();
    let mut spans = 0;
    let mut lines = 0;
    let mut ids = std::collections::HashSet::new();
    for line in text.lines() {
        lines += 1;
        // As the receivers decode OTLP/JSON.
        let batch = scrim_otlp::json::decode(scrim_otlp::Signal::Traces, line.as_bytes())
            .unwrap_or_else(|e| panic!("line {lines}: {e}"));
        let scrim_otlp::Batch::Traces(req) = batch else {
            unreachable!()
        };
        let n: usize = req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        assert!(n <= OTLP_ROWS_PER_LINE);
        spans += n;
        for rs in &req.resource_spans {
            assert!(
                rs.resource
                    .as_ref()
                    .unwrap()
                    .attributes
                    .iter()
                    .any(|kv| kv.key == "service.name")
            );
            for ss in &rs.scope_spans {
                assert_eq!(ss.scope.as_ref().unwrap().name, "scrim.generate");
                for s in &ss.spans {
                    ids.insert(hex(&s.trace_id));
                }
            }
        }
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let first = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(first["traceId"].as_str().unwrap().len(), 32, "hex ids");
        assert!(first["startTimeUnixNano"].is_string(), "64-bit as strings");
    }
    assert_eq!(spans, TRACES * 4);
    assert!(lines >= TRACES * 4 / OTLP_ROWS_PER_LINE);
    assert_eq!(ids.len(), TRACES);
    assert!(!text.contains("bravo"), "another tenant's rows");
}

#[tokio::test]
async fn logs_come_back_as_the_stored_rows() {
    let w = world().await;
    let (chunks, rows) = w
        .export(
            Signal::Logs,
            Format::OtlpJson,
            &ExportFilter::default(),
            None,
        )
        .await;
    assert_eq!(rows, TRACES as u64);
    let text = String::from_utf8(joined(&chunks)).unwrap();
    let mut again = Vec::new();
    for line in text.lines() {
        let scrim_otlp::Batch::Logs(req) =
            scrim_otlp::json::decode(scrim_otlp::Signal::Logs, line.as_bytes()).unwrap()
        else {
            unreachable!()
        };
        again.push(logs_to_batch(&req).unwrap());
    }
    let n: usize = again.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, TRACES);
    // Row by row what was stored: same bodies, times, severities, trace ids.
    let original = logs_to_batch(&w.generator.logs(0..TRACES)).unwrap();
    let rows_of = |b: &[datafusion::arrow::array::RecordBatch]| {
        let json = logs_to_otlp(b).unwrap();
        let mut v: Vec<String> = json
            .resource_logs
            .iter()
            .flat_map(|r| {
                let svc = r.resource.as_ref().unwrap().attributes[0].clone();
                r.scope_logs
                    .iter()
                    .flat_map(|s| s.log_records.clone())
                    .map(move |l| format!("{svc:?} {l:?}"))
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(rows_of(&again), rows_of(&[original]));
}

#[tokio::test]
async fn jsonl_and_csv_hold_one_row_per_span_and_log() {
    let w = world().await;
    for (signal, want) in [(Signal::Spans, TRACES * 4), (Signal::Logs, TRACES)] {
        let (chunks, rows) = w
            .export(signal, Format::JsonLines, &ExportFilter::default(), None)
            .await;
        assert_eq!(rows, want as u64);
        let text = String::from_utf8(joined(&chunks)).unwrap();
        let objects: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(objects.len(), want, "{signal}");
        let columns = signal.schema().fields().len();
        for o in &objects {
            assert_eq!(o.as_object().unwrap().len(), columns, "{o}");
            assert!(o["attributes"].is_object(), "{o}");
        }
        let time = objects[0][signal.time_column()].as_str().unwrap();
        assert!(time.starts_with("2026-01-01T"), "{time}");

        let (chunks, rows) = w
            .export(signal, Format::Csv, &ExportFilter::default(), None)
            .await;
        assert_eq!(rows, want as u64);
        let text = String::from_utf8(joined(&chunks)).unwrap();
        let records = csv_records(&text);
        assert_eq!(records.len(), want + 1, "{signal}: header and rows");
        let schema = signal.schema();
        let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(records[0], header);
        assert!(records.iter().all(|r| r.len() == header.len()));
        let t = header
            .iter()
            .position(|h| *h == signal.time_column())
            .unwrap();
        assert!(
            records[1][t].starts_with("2026-01-01T") && records[1][t].ends_with('Z'),
            "{}",
            records[1][t]
        );
    }
}

#[tokio::test]
async fn csv_neutralises_formulas_in_text() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path(), "eu1").unwrap();
    let mut req = TraceGen {
        traces: 1,
        ..Default::default()
    }
    .traces(0..1);
    req.resource_spans[0].scope_spans[0].spans[0].name = "=HYPERLINK(\"http://x\",\"y\")".into();
    let buffer = BufferedBatches {
        spans: vec![spans_to_batch(&req).unwrap()],
        ..Default::default()
    };
    let q = TenantQuery::new(
        "acme",
        DataKey::new("a1", [1; 32]),
        &store,
        Vec::new(),
        buffer,
    )
    .unwrap();
    let rows = q
        .export(Signal::Spans, &ExportFilter::default())
        .await
        .unwrap();
    let chunks: Vec<Bytes> = encode_stream(
        rows,
        Encoder::new(Signal::Spans, Format::Csv, None).unwrap(),
    )
    .map(|c| c.unwrap())
    .collect()
    .await;
    let text = String::from_utf8(joined(&chunks)).unwrap();
    let records = csv_records(&text);
    let name = records[0].iter().position(|h| h == "name").unwrap();
    let names: Vec<&str> = records[1..].iter().map(|r| r[name].as_str()).collect();
    assert!(
        names.contains(&"'=HYPERLINK(\"http://x\",\"y\")"),
        "{names:?}"
    );
}

#[tokio::test]
async fn parquet_is_the_stored_schema_and_encrypted_parquet_needs_its_key() {
    let w = world().await;
    let (chunks, rows) = w
        .export(
            Signal::Spans,
            Format::Parquet,
            &ExportFilter::default(),
            None,
        )
        .await;
    assert_eq!(rows, (TRACES * 4) as u64);
    let plain = Bytes::from(joined(&chunks));
    let reader = ParquetRecordBatchReaderBuilder::try_new(plain.clone())
        .unwrap()
        .build()
        .unwrap();
    let mut n = 0;
    for b in reader {
        let b = b.unwrap();
        assert_eq!(b.schema().fields(), Signal::Spans.schema().fields());
        n += b.num_rows();
    }
    assert_eq!(n, TRACES * 4);

    let key = ExportKey::from_hex(&"5a".repeat(32)).unwrap();
    let (chunks, _) = w
        .export(
            Signal::Logs,
            Format::Parquet,
            &ExportFilter::default(),
            Some(&key),
        )
        .await;
    let sealed = Bytes::from(joined(&chunks));
    assert!(
        !sealed.windows(6).any(|w| w == b"served"),
        "log bodies in the clear"
    );
    assert!(ParquetRecordBatchReaderBuilder::try_new(sealed.clone()).is_err());
    let wrong = FileDecryptionProperties::builder(vec![0x5b; 32])
        .build()
        .unwrap();
    let opened = ParquetRecordBatchReaderBuilder::try_new_with_options(
        sealed.clone(),
        ArrowReaderOptions::new().with_file_decryption_properties(wrong),
    );
    assert!(opened.is_err(), "opened with the wrong key");
    let right = FileDecryptionProperties::builder(key.bytes().to_vec())
        .build()
        .unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(
        sealed,
        ArrowReaderOptions::new().with_file_decryption_properties(right),
    )
    .unwrap()
    .build()
    .unwrap();
    let n: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(n, TRACES);
}

#[tokio::test]
async fn an_empty_export_is_still_a_valid_file() {
    let w = world().await;
    let none = ExportFilter {
        service: Some("nobody".into()),
        ..Default::default()
    };
    let (chunks, rows) = w.export(Signal::Spans, Format::Parquet, &none, None).await;
    assert_eq!(rows, 0);
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(joined(&chunks))).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    let (chunks, _) = w.export(Signal::Spans, Format::Csv, &none, None).await;
    assert_eq!(
        csv_records(&String::from_utf8(joined(&chunks)).unwrap()).len(),
        1
    );
    let (chunks, _) = w.export(Signal::Logs, Format::OtlpJson, &none, None).await;
    assert!(joined(&chunks).is_empty());
}

#[tokio::test]
async fn filters_narrow_the_rows() {
    let w = world().await;
    let count = |filter: ExportFilter, signal: Signal| {
        let w = &w;
        async move { w.export(signal, Format::JsonLines, &filter, None).await.1 as usize }
    };
    // Services alternate: half the traces each.
    let checkout = ExportFilter {
        service: Some("checkout".into()),
        ..Default::default()
    };
    assert_eq!(count(checkout.clone(), Signal::Spans).await, TRACES * 4 / 2);
    assert_eq!(count(checkout, Signal::Logs).await, TRACES / 2);
    // Traces start a second apart (TraceGen's spacing): the first 100 seconds.
    let early = ExportFilter {
        range: Some(TimeRange::new(HOUR0 as i64, (HOUR0 + 100 * SEC) as i64)),
        ..Default::default()
    };
    assert_eq!(count(early.clone(), Signal::Logs).await, 100);
    let roots = ExportFilter {
        operation: Some("GET /api/items/{id}".into()),
        ..early
    };
    assert_eq!(count(roots, Signal::Spans).await, 100);
    let one = ExportFilter {
        trace_id: Some(hex(&trace_id(5, 7)).to_uppercase()),
        ..Default::default()
    };
    assert_eq!(count(one.clone(), Signal::Spans).await, 4);
    assert_eq!(count(one, Signal::Logs).await, 1);
    let gold = ExportFilter {
        attributes: vec![("tenant.tier".into(), "gold".into())],
        ..Default::default()
    };
    assert_eq!(count(gold, Signal::Spans).await, TRACES / 2);
    let failed = ExportFilter {
        min_severity: Some(17),
        text: Some("BOOM".into()),
        ..Default::default()
    };
    let errors = w.generator.error_every;
    assert!(errors > 0);
    assert_eq!(count(failed, Signal::Logs).await, TRACES.div_ceil(errors));
    let slow = ExportFilter {
        min_duration_ms: Some(500),
        operation: Some("GET /api/items/{id}".into()),
        ..Default::default()
    };
    let want = (0..TRACES)
        .filter(|&i| scrim_store::generate::root_duration_ns(5, i) >= 500_000_000)
        .count();
    assert_eq!(count(slow, Signal::Spans).await, want);
}
