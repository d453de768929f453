//! Telemetry export, shared by `GET /api/v1/export` and `scrim export`: what an export
//! request is (signal, format, filters, an optional encryption key), its audit record, and
//! the command line's export from the catalogued segments.
//!
//! An export is recorded (`telemetry.export`, with the signal, the format, the filters and
//! whether it is encrypted; never the key) before its first byte leaves: no record, no
//! export. The rows come from [`scrim_store::TenantQuery::export`] and are encoded batch by
//! batch ([`scrim_store::export`]), so neither the server nor the command line holds a
//! tenant's data in memory at once.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use scrim_auth::rbac::{Actor, Permission};
use scrim_meta::TimeRange as CatalogRange;
use scrim_redact::Redactor;
use scrim_store::export::{Encoder, RowStream};
pub use scrim_store::export::{ExportFilter, ExportKey, Format};
use scrim_store::query::{BufferedBatches, TimeRange};
use scrim_store::{Signal, TenantQuery};
use serde_json::{Map, Value};

use crate::accounts::{Act, check};
use crate::audit::{Entry, actions};
use crate::{Platform, ServerError};

/// The header that carries the key of an encrypted Parquet export (64 hex digits). A key
/// never goes in the URL, where proxies and logs would keep it.
pub const EXPORT_KEY_HEADER: &str = "x-scrim-export-key";

/// One export: what to export, how, and under which key.
#[derive(Debug)]
pub struct ExportRequest {
    pub signal: Signal,
    pub format: Format,
    pub filter: ExportFilter,
    /// Encrypts a Parquet export.
    pub key: Option<ExportKey>,
}

fn usage(m: impl Into<String>) -> ServerError {
    ServerError::Usage(m.into())
}

/// `traces` (or `spans`), `logs`, `metrics`.
pub fn parse_signal(text: &str) -> Option<Signal> {
    match text {
        "traces" | "spans" => Some(Signal::Spans),
        "logs" => Some(Signal::Logs),
        "metrics" => Some(Signal::Metrics),
        _ => None,
    }
}

/// How the API and the audit log name a signal: `traces`, `logs`, `metrics`.
pub fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Spans => "traces",
        Signal::Logs => "logs",
        Signal::Metrics => "metrics",
    }
}

/// A time: RFC 3339 (`2026-11-24T10:00:00Z`) or Unix seconds (fractions allowed), as
/// nanoseconds since the epoch.
pub fn parse_time_ns(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds.abs() < 9.2e9).then_some((seconds * 1e9) as i64);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

/// `warn` or a severity number (OpenTelemetry: 9 INFO, 13 WARN, 17 ERROR).
pub fn parse_severity(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return (1..=24).contains(&n).then_some(n);
    }
    match text.to_ascii_lowercase().as_str() {
        "trace" => Some(1),
        "debug" => Some(5),
        "info" => Some(9),
        "warn" | "warning" => Some(13),
        "error" => Some(17),
        "fatal" => Some(21),
        _ => None,
    }
}

impl ExportRequest {
    /// From the parameters of `GET /api/v1/export` (the command line passes its flags under
    /// the same names): `signal` and `format` (required), `start`, `end`, `service`,
    /// `trace_id`; for traces `operation`, `min_duration_ms`, `attr.<key>`; for logs
    /// `severity` (or `min_severity`), `q` (or `text`), `attr.<key>`. Each at most once.
    pub fn from_params<K: AsRef<str>, V: AsRef<str>>(
        params: impl IntoIterator<Item = (K, V)>,
        key: Option<ExportKey>,
    ) -> Result<ExportRequest, ServerError> {
        let mut seen = HashSet::new();
        let (mut signal, mut format) = (None, None);
        let (mut start, mut end) = (None, None);
        let mut filter = ExportFilter::default();
        for (k, v) in params {
            let (k, v) = (k.as_ref(), v.as_ref());
            if !seen.insert(k.to_owned()) {
                return Err(usage(format!("{k} is given twice")));
            }
            let time = |v: &str| {
                parse_time_ns(v).ok_or_else(|| {
                    usage(format!(
                        "{k} must be RFC 3339 (2026-11-24T10:00:00Z) or Unix seconds"
                    ))
                })
            };
            match k {
                "signal" => {
                    signal = Some(
                        parse_signal(v)
                            .ok_or_else(|| usage("signal is traces, logs or metrics"))?,
                    )
                }
                "format" => {
                    format = Some(
                        Format::parse(v)
                            .ok_or_else(|| usage("format is otlp-json, jsonl, csv or parquet"))?,
                    )
                }
                "start" => start = Some(time(v)?),
                "end" => end = Some(time(v)?),
                "service" => filter.service = Some(v.to_owned()),
                "trace_id" => filter.trace_id = Some(v.to_owned()),
                "operation" => filter.operation = Some(v.to_owned()),
                "min_duration_ms" => {
                    filter.min_duration_ms = Some(
                        v.parse()
                            .map_err(|_| usage("min_duration_ms must be a non-negative integer"))?,
                    )
                }
                "severity" | "min_severity" => {
                    filter.min_severity = Some(parse_severity(v).ok_or_else(|| {
                        usage("severity is trace, debug, info, warn, error, fatal or 1-24")
                    })?)
                }
                "q" | "text" => filter.text = Some(v.to_owned()),
                _ => match k.strip_prefix("attr.") {
                    Some(attr) if !attr.is_empty() => {
                        filter.attributes.push((attr.to_owned(), v.to_owned()))
                    }
                    _ => return Err(usage(format!("unknown parameter {k:?}"))),
                },
            }
        }
        let signal = signal.ok_or_else(|| usage("signal is required: traces, logs or metrics"))?;
        let format =
            format.ok_or_else(|| usage("format is required: otlp-json, jsonl, csv or parquet"))?;
        if start.is_some() || end.is_some() {
            filter.range = Some(TimeRange::new(
                start.unwrap_or(i64::MIN),
                end.unwrap_or(i64::MAX),
            ));
        }
        filter.check(signal)?;
        let request = ExportRequest {
            signal,
            format,
            filter,
            key,
        };
        request.encoder()?;
        Ok(request)
    }

    /// A fresh encoder for this request (checks the format, the signal and the key fit).
    pub fn encoder(&self) -> Result<Encoder, ServerError> {
        Ok(Encoder::new(self.signal, self.format, self.key.as_ref())?)
    }

    /// The name a download gets: `traces.otlp.jsonl`, `logs.csv`, …
    pub fn file_name(&self) -> String {
        format!("{}.{}", signal_name(self.signal), self.format.extension())
    }

    /// What the audit record holds: signal, format, whether encrypted, and the filters
    /// (their text through the default policy's detectors). Never the key.
    pub fn audit_details(&self, scrubber: &Redactor) -> Map<String, Value> {
        let scrub = |t: &str| {
            let mut counts = scrim_redact::Counts::default();
            scrubber.text(t, &mut counts).into_owned()
        };
        let f = &self.filter;
        let mut filter = Map::new();
        if let Some(r) = f.range {
            for (k, ns) in [("start", r.start_ns), ("end", r.end_ns)] {
                if ns != i64::MIN && ns != i64::MAX {
                    filter.insert(k.into(), rfc3339(ns).into());
                }
            }
        }
        for (k, v) in [
            ("service", &f.service),
            ("trace_id", &f.trace_id),
            ("operation", &f.operation),
            ("text", &f.text),
        ] {
            if let Some(v) = v {
                filter.insert(k.into(), scrub(v).into());
            }
        }
        if let Some(ms) = f.min_duration_ms {
            filter.insert("min_duration_ms".into(), ms.into());
        }
        if let Some(s) = f.min_severity {
            filter.insert("min_severity".into(), s.into());
        }
        if !f.attributes.is_empty() {
            let attrs: Map<String, Value> = f
                .attributes
                .iter()
                .map(|(k, v)| (scrub(k), scrub(v).into()))
                .collect();
            filter.insert("attributes".into(), attrs.into());
        }
        let mut details = Map::new();
        details.insert("signal".into(), signal_name(self.signal).into());
        details.insert("format".into(), self.format.as_str().into());
        details.insert("encrypted".into(), self.key.is_some().into());
        details.insert("filter".into(), filter.into());
        details
    }

    /// `entry` with this request's target and details.
    pub fn describe(&self, entry: Entry, scrubber: &Redactor) -> Entry {
        let mut entry = entry.target(signal_name(self.signal));
        for (k, v) in self.audit_details(scrubber) {
            entry = entry.detail(&k, v);
        }
        entry
    }
}

fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `scrim export`: the operator exports a tenant's catalogued segments (rows a running
/// server has not flushed yet are not in them) into `out`, the record written first.
/// `progress` is called with the rows written so far after every chunk. Returns the rows.
pub async fn export_to_writer(
    platform: &Platform,
    tenant_name: &str,
    request: &ExportRequest,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, ServerError> {
    check(&Actor::Operator, Permission::Export)?;
    let tenant = platform.tenant_named(tenant_name).await?;
    let keys = crate::tenant_keys::load(platform, &tenant.id)
        .await?
        .keyring;
    let rows = platform
        .meta
        .segments(
            &tenant.id,
            crate::api::meta_signal(request.signal),
            CatalogRange::all(),
            None,
        )
        .await?;
    // Read from the tenant's own region only.
    let store = &platform.regions.of(&tenant)?.store;
    let segments = rows
        .into_iter()
        .map(|s| crate::api::store_meta(s, request.signal, None))
        .collect();
    let erasures = crate::deletion::active_erasures(platform, &tenant).await?;
    let query = TenantQuery::new(
        tenant.id.as_str(),
        keys,
        store,
        segments,
        BufferedBatches::default(),
    )?
    .with_erasures(erasures);
    let encoder = request.encoder()?;
    let counter = encoder.row_counter();
    let batches: RowStream = query.export(request.signal, &request.filter).await?;
    let scrubber = Redactor::new(&scrim_redact::Policy::default(), None);
    // Recorded before anything is written out: no record, no export.
    request
        .describe(
            Act::operator(tenant.id.as_str()).entry(
                platform.audit(),
                actions::TELEMETRY_EXPORT,
                "",
            ),
            &scrubber,
        )
        .success()
        .await?;
    let mut chunks = scrim_store::export::encode_stream(batches, encoder);
    let mut bytes = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        out.write_all(&chunk)?;
        bytes += chunk.len() as u64;
        progress(counter.load(Ordering::Relaxed));
    }
    out.flush()?;
    let rows = counter.load(Ordering::Relaxed);
    // The end, with its size, for the large-export detection.
    request
        .describe(
            Act::operator(tenant.id.as_str()).entry(platform.audit(), actions::EXPORT_DONE, ""),
            &scrubber,
        )
        .detail("rows", rows)
        .detail("bytes", bytes)
        .detail("complete", true)
        .success()
        .await?;
    Ok(rows)
}

/// The answer's headers for `request`: type, download name, no caching.
pub(crate) fn response_headers(request: &ExportRequest) -> [(axum::http::HeaderName, String); 3] {
    use axum::http::header;
    [
        (
            header::CONTENT_TYPE,
            request.format.content_type().to_owned(),
        ),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", request.file_name()),
        ),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ]
}
