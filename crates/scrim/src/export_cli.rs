//! `scrim export`: the operator exports a tenant's telemetry from its segments, with
//! progress on standard error. The logic (reading, encoding, the audit record written before
//! the first byte) is `scrim_server::export`'s; this file wires flags to it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use scrim_server::ServerError;
use scrim_server::export::{ExportKey, ExportRequest, export_to_writer};

use crate::{PlatformArgs, StoreArgs};

/// At most this often a progress line.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The tenant's name.
    #[arg(long, value_name = "NAME")]
    tenant: String,
    /// What to export.
    #[arg(long, value_name = "SIGNAL", value_parser = ["traces", "logs", "metrics"])]
    signal: String,
    /// otlp-json (JSON lines of OTLP requests, for another OpenTelemetry backend), jsonl
    /// (one flat object per row), csv, or parquet (encrypted with --key-file).
    #[arg(long, value_name = "FORMAT", value_parser = ["otlp-json", "jsonl", "csv", "parquet"])]
    format: String,
    /// From this time on: RFC 3339 or Unix seconds.
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// Before this time: RFC 3339 or Unix seconds.
    #[arg(long, value_name = "TIME")]
    end: Option<String>,
    /// Only this service.
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
    /// Traces and logs: only this trace (32 hex digits).
    #[arg(long, value_name = "ID")]
    trace_id: Option<String>,
    /// Traces: only spans of this name.
    #[arg(long, value_name = "NAME")]
    operation: Option<String>,
    /// Traces: only spans at least this long.
    #[arg(long, value_name = "MS")]
    min_duration_ms: Option<String>,
    /// Logs: the lowest severity (trace, debug, info, warn, error, fatal or 1-24).
    #[arg(long, value_name = "LEVEL")]
    severity: Option<String>,
    /// Logs: a case-insensitive text in the body.
    #[arg(long, value_name = "TEXT")]
    text: Option<String>,
    /// Only rows whose attribute KEY has VALUE (repeatable).
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    attributes: Vec<String>,
    /// Write here (created owner-only) instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Parquet only: encrypt the file under the 256-bit key in this file (64 hex digits).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    platform: PlatformArgs,
}

fn usage(m: impl Into<String>) -> ServerError {
    ServerError::Usage(m.into())
}

impl ExportArgs {
    /// The flags as the API's parameters.
    fn request(&self) -> Result<ExportRequest, ServerError> {
        let mut params: Vec<(String, String)> = vec![
            ("signal".into(), self.signal.clone()),
            ("format".into(), self.format.clone()),
        ];
        for (name, value) in [
            ("start", &self.start),
            ("end", &self.end),
            ("service", &self.service),
            ("trace_id", &self.trace_id),
            ("operation", &self.operation),
            ("min_duration_ms", &self.min_duration_ms),
            ("severity", &self.severity),
            ("text", &self.text),
        ] {
            if let Some(v) = value {
                params.push((name.into(), v.clone()));
            }
        }
        for a in &self.attributes {
            let (k, v) = a
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| usage(format!("--attr takes KEY=VALUE, not {a:?}")))?;
            params.push((format!("attr.{k}"), v.to_owned()));
        }
        let key = match &self.key_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    usage(format!("cannot read --key-file {}: {e}", path.display()))
                })?;
                Some(ExportKey::from_hex(&text).map_err(|_| {
                    usage(format!(
                        "--key-file {} must hold 64 hexadecimal digits (a 256-bit key)",
                        path.display()
                    ))
                })?)
            }
        };
        ExportRequest::from_params(params, key)
    }
}

/// A new file readable by its owner only: an export holds a tenant's telemetry.
fn create_private(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

pub(crate) async fn run(args: ExportArgs) -> Result<(), ServerError> {
    let request = args.request()?;
    let p = scrim_server::Platform::open(&args.store.platform(&args.platform)?).await?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(io::BufWriter::new(create_private(path).map_err(|e| {
                usage(format!("cannot create {}: {e}", path.display()))
            })?))
        }
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    let what = scrim_server::export::signal_name(request.signal);
    let mut last = Instant::now();
    let mut progress = |rows: u64| {
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            eprintln!("scrim export: {rows} rows of {what} so far");
        }
    };
    let result = export_to_writer(&p, &args.tenant, &request, &mut out, &mut progress).await;
    drop(out);
    match result {
        Ok(rows) => {
            let to = match &args.output {
                Some(path) => path.display().to_string(),
                None => "standard output".into(),
            };
            eprintln!(
                "scrim export: {rows} rows of {what} written to {to} ({})",
                request.format
            );
            Ok(())
        }
        Err(e) => {
            // A partial file would pass for a whole export.
            if let Some(path) = &args.output {
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}
