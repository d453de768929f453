//! Exports: a tenant's rows of one signal, encoded batch by batch in a standard format.
//!
//! [`TenantQuery::export`](crate::query::TenantQuery::export) yields the rows that match an
//! [`ExportFilter`] as a stream of record batches (DataFusion's `execute_stream`, no sort,
//! so the tenant's data is never held in memory at once); an [`Encoder`] turns each batch
//! into bytes that can be sent or written at once; [`encode_stream`] joins the two.
//!
//! Formats ([`Format`]):
//!
//! - `otlp-json`: JSON lines of OTLP requests, one `ExportTraceServiceRequest` or
//!   `ExportLogsServiceRequest` per line ([`OTLP_ROWS_PER_LINE`] rows at most each), in the
//!   OTLP/JSON encoding (hex ids, integer enums, 64-bit integers as strings). This is what
//!   the OpenTelemetry Collector's file exporter writes and its `otlpjsonfile` receiver
//!   reads; each line can be POSTed as is to any OTLP/HTTP endpoint (`/v1/traces`,
//!   `/v1/logs`). Attribute values come back as strings (they are stored as text). Traces
//!   and logs only.
//! - `jsonl`: one flat JSON object per row, every column of the table (null included),
//!   attribute maps as objects, times as RFC 3339 text.
//! - `csv`: RFC 4180 with a header row of the table's columns, CRLF line ends. Times are
//!   RFC 3339 with nanoseconds, attribute maps JSON objects, null an empty field. Text that a
//!   spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or CR) gets
//!   a leading apostrophe, as the audit log's CSV does.
//! - `parquet`: the table's Arrow schema as stored, zstd. With an [`ExportKey`], Parquet
//!   modular encryption in uniform mode (AES-GCM, footer and every column encrypted under
//!   the key), as segments are encrypted: readable only with that key.
//!
//! Rows were redacted by the capture policy before they were stored, so an export holds
//! only redacted data.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat};
use datafusion::arrow::array::{
    Array, BooleanArray, Float64Array, Int32Array, Int64Array, MapArray, RecordBatch, StringArray,
    TimestampNanosecondArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use futures::StreamExt;
use futures::stream::BoxStream;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::convert::{logs_to_otlp, spans_to_otlp};
use crate::error::{Result, StoreError};
use crate::query::TimeRange;
use crate::schema::Signal;

/// Rows in one line of an OTLP/JSON export (one OTLP request).
pub const OTLP_ROWS_PER_LINE: usize = 1000;

/// Rows per Parquet row group of an export: what the writer holds before it hands bytes on.
const PARQUET_ROW_GROUP_ROWS: usize = 16 * 1024;

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// JSON lines of OTLP requests.
    #[serde(rename = "otlp-json")]
    OtlpJson,
    /// One flat JSON object per row.
    #[serde(rename = "jsonl")]
    JsonLines,
    /// RFC 4180 CSV with a header row.
    #[serde(rename = "csv")]
    Csv,
    /// Parquet, plain or encrypted.
    #[serde(rename = "parquet")]
    Parquet,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 4] = [
        Format::OtlpJson,
        Format::JsonLines,
        Format::Csv,
        Format::Parquet,
    ];

    /// `otlp-json`, `jsonl`, `csv` or `parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::OtlpJson => "otlp-json",
            Format::JsonLines => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    /// Parses [`Format::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The media type of the whole export.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OtlpJson | Format::JsonLines => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// The file name extension: `otlp.jsonl`, `jsonl`, `csv`, `parquet`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::OtlpJson => "otlp.jsonl",
            Format::JsonLines => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    /// A file name for an export of `signal` in this format (`spans.otlp.jsonl`, …).
    pub fn file_name(self, signal: Signal) -> String {
        format!("{signal}.{}", self.extension())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 256-bit key the requester of an encrypted Parquet export supplies. Never shown by
/// `Debug`, zeroed on drop.
#[derive(Clone)]
pub struct ExportKey([u8; 32]);

impl ExportKey {
    /// The key from 64 hexadecimal digits (surrounding whitespace ignored). The error never
    /// quotes the text.
    pub fn from_hex(text: &str) -> Result<ExportKey> {
        let text = text.trim();
        let bad = || {
            StoreError::InvalidInput(
                "an export key is 64 hexadecimal digits (32 bytes, AES-256)".into(),
            )
        };
        if text.len() != 64 {
            return Err(bad());
        }
        let mut bytes = crate::convert::unhex(text).ok_or_else(bad)?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        bytes.zeroize();
        Ok(ExportKey(key))
    }

    /// The key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for ExportKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for ExportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExportKey([hidden])")
    }
}

/// Which rows an export holds: every field narrows, and a row must match all of them. The
/// fields are those of trace and log search, applied to each row (an export of spans with
/// `operation` holds the spans of that name, not their whole traces).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExportFilter {
    /// `[start, end)` on the row's time (`start_time` for spans, `time` otherwise).
    pub range: Option<TimeRange>,
    pub service: Option<String>,
    /// Spans and logs: one trace (32 hex digits).
    pub trace_id: Option<String>,
    /// Spans: the span name.
    pub operation: Option<String>,
    /// Spans: at least this long.
    pub min_duration_ms: Option<u64>,
    /// Exact matches on the row's attributes (not the resource's).
    pub attributes: Vec<(String, String)>,
    /// Logs: the lowest `severity_number` (9 INFO, 13 WARN, 17 ERROR).
    pub min_severity: Option<i32>,
    /// Logs: a case-insensitive substring of the body.
    pub text: Option<String>,
}

impl ExportFilter {
    /// Refuses a field that does not apply to `signal`, and a malformed trace id.
    pub fn check(&self, signal: Signal) -> Result<()> {
        let refuse = |field: &str, applies: &str| {
            Err(StoreError::InvalidInput(format!(
                "{field} applies to {applies} only, not to {signal}"
            )))
        };
        if signal != Signal::Spans {
            if self.operation.is_some() {
                return refuse("operation", "spans");
            }
            if self.min_duration_ms.is_some() {
                return refuse("min_duration_ms", "spans");
            }
        }
        if signal != Signal::Logs {
            if self.min_severity.is_some() {
                return refuse("severity", "logs");
            }
            if self.text.is_some() {
                return refuse("text", "logs");
            }
        }
        if let Some(t) = &self.trace_id {
            if signal == Signal::Metrics {
                return refuse("trace_id", "spans and logs");
            }
            if !crate::convert::is_trace_id(t) {
                return Err(StoreError::InvalidInput(
                    "a trace id is 32 hex digits".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Turns record batches of one signal into the bytes of an export, batch by batch.
pub struct Encoder {
    signal: Signal,
    format: Format,
    schema: SchemaRef,
    rows: Arc<AtomicU64>,
    header_written: bool,
    parquet: Option<ArrowWriter<Vec<u8>>>,
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder")
            .field("signal", &self.signal)
            .field("format", &self.format)
            .field("rows", &self.rows())
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder of `signal`'s rows in `format`. `key` encrypts a Parquet export and is
    /// refused with any other format; OTLP/JSON is refused for metrics.
    pub fn new(signal: Signal, format: Format, key: Option<&ExportKey>) -> Result<Encoder> {
        if key.is_some() && format != Format::Parquet {
            return Err(StoreError::InvalidInput(
                "an export key encrypts Parquet exports only".into(),
            ));
        }
        if format == Format::OtlpJson && signal == Signal::Metrics {
            return Err(StoreError::InvalidInput(
                "OTLP/JSON exports hold spans or logs; export metrics as jsonl, csv or parquet"
                    .into(),
            ));
        }
        let schema = signal.schema();
        let parquet = match format {
            Format::Parquet => {
                let mut props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
                    .set_statistics_enabled(EnabledStatistics::Page)
                    .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP_ROWS));
                if let Some(k) = key {
                    props = props.with_file_encryption_properties(
                        FileEncryptionProperties::builder(k.bytes().to_vec()).build()?,
                    );
                }
                Some(ArrowWriter::try_new(
                    Vec::new(),
                    Arc::clone(&schema),
                    Some(props.build()),
                )?)
            }
            _ => None,
        };
        Ok(Encoder {
            signal,
            format,
            schema,
            rows: Arc::new(AtomicU64::new(0)),
            header_written: false,
            parquet,
        })
    }

    /// Rows encoded so far.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// A counter of the rows encoded so far that stays readable while the encoder is
    /// consumed by [`encode_stream`] (progress reports).
    pub fn row_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.rows)
    }

    /// Encodes `batch` (rows of this encoder's signal); returns the bytes that are ready,
    /// possibly none (Parquet hands bytes on a row group at a time).
    pub fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<u8>> {
        if batch.num_columns() != self.schema.fields().len() {
            return Err(StoreError::InvalidInput(format!(
                "the batch does not have the {} schema",
                self.signal
            )));
        }
        let mut out = Vec::new();
        if self.format == Format::Csv && !self.header_written {
            out.extend_from_slice(csv_header(&self.schema).as_bytes());
            self.header_written = true;
        }
        match self.format {
            Format::OtlpJson => {
                let mut offset = 0;
                while offset < batch.num_rows() {
                    let len = OTLP_ROWS_PER_LINE.min(batch.num_rows() - offset);
                    let part = [batch.slice(offset, len)];
                    let written = match self.signal {
                        Signal::Spans => serde_json::to_writer(&mut out, &spans_to_otlp(&part)?),
                        Signal::Logs => serde_json::to_writer(&mut out, &logs_to_otlp(&part)?),
                        Signal::Metrics => unreachable!("refused in Encoder::new"),
                    };
                    written.map_err(|e| StoreError::Format(e.to_string()))?;
                    out.push(b'\n');
                    offset += len;
                }
            }
            Format::JsonLines => {
                let mut w = arrow_json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow_json::writer::LineDelimited>(&mut out);
                w.write(batch)?;
                w.finish()?;
            }
            Format::Csv => csv_rows(batch, &mut out)?,
            Format::Parquet => {
                let w = self
                    .parquet
                    .as_mut()
                    .ok_or_else(|| StoreError::Format("the Parquet writer is closed".into()))?;
                // The stored schema exactly (a scan may differ in field metadata).
                let batch =
                    RecordBatch::try_new(Arc::clone(&self.schema), batch.columns().to_vec())?;
                w.write(&batch)?;
                // Row groups the writer finished are complete bytes of the file.
                out = std::mem::take(w.inner_mut());
            }
        }
        self.rows
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        Ok(out)
    }

    /// The bytes that end the export: the CSV header of an empty export, Parquet's last row
    /// group and footer.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        if self.format == Format::Csv && !self.header_written {
            out.extend_from_slice(csv_header(&self.schema).as_bytes());
        }
        if let Some(w) = self.parquet.take() {
            out.extend(w.into_inner()?);
        }
        Ok(out)
    }
}

/// Batches of rows to export, as [`TenantQuery::export`](crate::query::TenantQuery::export)
/// yields them.
pub type RowStream = BoxStream<'static, Result<RecordBatch>>;

/// The export's bytes: each batch of `rows` encoded as it arrives, then the end of the
/// export. An error ends the stream (a consumer must treat the export as incomplete).
pub fn encode_stream(rows: RowStream, encoder: Encoder) -> BoxStream<'static, Result<Bytes>> {
    enum State {
        Running(RowStream, Box<Encoder>),
        Done,
    }
    futures::stream::unfold(
        State::Running(rows, Box::new(encoder)),
        |state| async move {
            let State::Running(mut rows, mut encoder) = state else {
                return None;
            };
            loop {
                match rows.next().await {
                    Some(Ok(batch)) => match encoder.encode(&batch) {
                        Ok(bytes) if bytes.is_empty() => continue,
                        Ok(bytes) => {
                            return Some((Ok(Bytes::from(bytes)), State::Running(rows, encoder)));
                        }
                        Err(e) => return Some((Err(e), State::Done)),
                    },
                    Some(Err(e)) => return Some((Err(e), State::Done)),
                    None => {
                        return Some((encoder.finish().map(Bytes::from), State::Done));
                    }
                }
            }
        },
    )
    .boxed()
}

// ---------------------------------------------------------------------------------------
// CSV.

fn csv_header(schema: &SchemaRef) -> String {
    let mut line = String::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        csv_field(f.name(), true, &mut line);
    }
    line.push_str("\r\n");
    line
}

/// Appends `value` as one field: quoted when it holds a comma, a double quote, CR or LF
/// (quotes doubled); text that a spreadsheet would read as a formula gets a leading
/// apostrophe.
fn csv_field(value: &str, text: bool, out: &mut String) {
    let neutralise = text && value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = value.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if neutralise {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

/// RFC 3339 UTC with nanoseconds.
fn rfc3339(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// One column's cells as CSV text: `(text, is free text)`; `None` for null.
fn csv_cell(col: &dyn Array, i: usize) -> Result<Option<(String, bool)>> {
    if col.is_null(i) {
        return Ok(None);
    }
    let any = col.as_any();
    let cell = match col.data_type() {
        DataType::Utf8 => downcast::<StringArray>(any)?.value(i).to_owned(),
        DataType::Timestamp(..) => {
            return Ok(Some((
                rfc3339(downcast::<TimestampNanosecondArray>(any)?.value(i)),
                false,
            )));
        }
        DataType::Int64 => return number(downcast::<Int64Array>(any)?.value(i)),
        DataType::Int32 => return number(downcast::<Int32Array>(any)?.value(i)),
        DataType::UInt32 => return number(downcast::<UInt32Array>(any)?.value(i)),
        DataType::UInt64 => return number(downcast::<UInt64Array>(any)?.value(i)),
        DataType::Float64 => return number(downcast::<Float64Array>(any)?.value(i)),
        DataType::Boolean => return number(downcast::<BooleanArray>(any)?.value(i)),
        DataType::Map(..) => map_json(downcast::<MapArray>(any)?, i)?,
        other => {
            return Err(StoreError::Format(format!(
                "no CSV form for a column of type {other}"
            )));
        }
    };
    Ok(Some((cell, true)))
}

fn number(v: impl ToString) -> Result<Option<(String, bool)>> {
    Ok(Some((v.to_string(), false)))
}

fn downcast<T: 'static>(a: &dyn std::any::Any) -> Result<&T> {
    a.downcast_ref::<T>()
        .ok_or_else(|| StoreError::Format("a column has an unexpected type".into()))
}

/// An attribute map as a JSON object, keys in stored order.
fn map_json(a: &MapArray, i: usize) -> Result<String> {
    let entries = a.value(i);
    let keys = downcast::<StringArray>(entries.column(0).as_any())?;
    let values = downcast::<StringArray>(entries.column(1).as_any())?;
    let mut m = serde_json::Map::new();
    for j in 0..entries.len() {
        let v = if values.is_null(j) {
            serde_json::Value::Null
        } else {
            values.value(j).into()
        };
        m.insert(keys.value(j).to_owned(), v);
    }
    Ok(serde_json::Value::Object(m).to_string())
}

fn csv_rows(batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
    let mut line = String::new();
    for i in 0..batch.num_rows() {
        line.clear();
        for (c, col) in batch.columns().iter().enumerate() {
            if c > 0 {
                line.push(',');
            }
            if let Some((cell, text)) = csv_cell(col.as_ref(), i)? {
                csv_field(&cell, text, &mut line);
            }
        }
        line.push_str("\r\n");
        out.extend_from_slice(line.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_their_names() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.as_str()), Some(f));
        }
        assert_eq!(Format::parse("xlsx"), None);
        assert_eq!(
            Format::OtlpJson.file_name(Signal::Spans),
            "spans.otlp.jsonl"
        );
    }

    #[test]
    fn keys_are_64_hex_digits_and_never_shown() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let k = ExportKey::from_hex(&format!(" {hex}\n")).unwrap();
        assert_eq!(k.bytes()[1], 0x11);
        assert_eq!(k.bytes()[31], 0xff);
        assert!(!format!("{k:?}").contains("0011"));
        for bad in [
            "",
            "00",
            &hex[..63],
            &format!("{hex}00"),
            &hex.replace('0', "g"),
        ] {
            let e = ExportKey::from_hex(bad).unwrap_err().to_string();
            assert!(!e.contains("0011"), "{e}");
        }
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        let mut s = String::new();
        for (v, text) in [
            ("plain", true),
            ("a,b", true),
            ("say \"hi\"", true),
            ("=1+2", true),
            ("-5", false),
            ("@x,y", true),
            ("two\nlines", true),
        ] {
            csv_field(v, text, &mut s);
            s.push('|');
        }
        assert_eq!(
            s,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|'=1+2|-5|\"'@x,y\"|\"two\nlines\"|"
        );
    }

    #[test]
    fn filters_that_do_not_apply_are_refused() {
        let f = ExportFilter {
            operation: Some("GET".into()),
            ..Default::default()
        };
        assert!(f.check(Signal::Spans).is_ok());
        assert!(f.check(Signal::Logs).is_err());
        let f = ExportFilter {
            text: Some("x".into()),
            ..Default::default()
        };
        assert!(f.check(Signal::Logs).is_ok());
        assert!(f.check(Signal::Spans).is_err());
        let f = ExportFilter {
            trace_id: Some("xyz".into()),
            ..Default::default()
        };
        assert!(f.check(Signal::Spans).is_err());
        assert!(Encoder::new(Signal::Metrics, Format::OtlpJson, None).is_err());
        let k = ExportKey::from_hex(&"ab".repeat(32)).unwrap();
        assert!(Encoder::new(Signal::Spans, Format::Csv, Some(&k)).is_err());
        assert!(Encoder::new(Signal::Spans, Format::Parquet, Some(&k)).is_ok());
    }
}
