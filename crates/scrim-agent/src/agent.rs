//! The running agent: receivers ▸ policy ▸ disk queue ▸ forwarder ▸ upstream.
//!
//! An application's request is acknowledged only after it was redacted and its record is
//! durable in the disk queue. The forwarder reads the queue in order, exports the records
//! upstream with a few requests in flight (the exporter retries with backoff and honours
//! `Retry-After`), and acknowledges in the queue the run of records from the head that the
//! upstream has answered for good. When the upstream stays away,
//! records wait on disk (bounded by `queue_max_bytes`) and the forwarder keeps trying;
//! after a crash, whatever was not acknowledged upstream is sent again: delivery is at
//! least once.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use prost::Message;
use scrim_otlp::wire::RedactedTraces;
use scrim_otlp::{
    Accepted, Batch, BoxFuture, ClientIdentity, Credential, ExportOutcome, Exporter,
    ExporterConfig, Protocol, Receivers, ReceiversConfig, RequestContext, Signal, Sink, SinkError,
};
use scrim_redact::policy::Mode;
use scrim_redact::{Counts, Policy, Redactor};
use scrim_tls::{ALPN_HTTP, Listener};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{AgentConfig, ModeSetting, OverflowSetting, UpstreamProtocol};
use crate::metrics::{self, Metrics};
use crate::queue::{DiskQueue, Overflow, QueueConfig, QueueError, Record, RecordId};

/// Why the agent could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Records read from the queue per round, and their payload budget.
const PEEK_RECORDS: usize = 64;
/// Export requests in flight at once.
const FORWARD_WINDOW: usize = 4;
const PEEK_BYTES: u64 = 8 << 20;
/// The forwarder's wait between rounds while the upstream is away (after the exporter's
/// own retries gave up), doubling up to the maximum.
const OUTAGE_WAIT_MIN: Duration = Duration::from_millis(200);
const OUTAGE_WAIT_MAX: Duration = Duration::from_secs(30);

/// A running agent. Dropping it without [`Agent::shutdown`] aborts its tasks.
pub struct Agent {
    receivers: Option<Receivers>,
    metrics_addr: SocketAddr,
    tls_fingerprint: Option<String>,
    metrics: Arc<Metrics>,
    queue: Arc<DiskQueue>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    mode: Mode,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("otlp_grpc", &self.otlp_grpc_addr())
            .field("otlp_http", &self.otlp_http_addr())
            .field("metrics", &self.metrics_addr)
            .field("tls_fingerprint", &self.tls_fingerprint)
            .field("mode", &self.mode)
            .finish()
    }
}

impl Agent {
    /// Starts everything `config` describes; returns once every listener is bound.
    ///
    /// With TLS configured, every listener (OTLP/gRPC, OTLP/HTTP, metrics) speaks TLS only.
    /// Without it, a listen address that is not loopback is refused (before anything is
    /// opened or bound) unless `allow_plaintext` is set.
    pub async fn start(config: &AgentConfig) -> Result<Agent, StartError> {
        let identity = load_tls(config)?;
        let tls = identity
            .as_ref()
            .map(|id| id.server_config(ALPN_HTTP))
            .transpose()
            .map_err(|e| StartError(format!("TLS: {e}")))?;
        if tls.is_none() && !config.allow_plaintext {
            check_plaintext_listeners(config)?;
        }
        let policy = load_policy(config)?;
        let mode = policy.mode;
        let key = pseudonym_key(config)?;
        let redactor = Arc::new(Redactor::new(&policy, Some(&key)));
        for o in redactor.overrides() {
            tracing::warn!("policy: {o}");
        }
        let queue_config = QueueConfig {
            max_bytes: config.queue_max_bytes,
            overflow: match config.queue_overflow {
                OverflowSetting::DropOldest => Overflow::DropOldest,
                OverflowSetting::DropNewest => Overflow::DropNewest,
            },
            ..QueueConfig::new(config.data_dir.join("queue"))
        };
        let queue = tokio::task::spawn_blocking(move || DiskQueue::open(queue_config))
            .await
            .map_err(|e| StartError(format!("disk queue: {e}")))?
            .map_err(|e| StartError(format!("disk queue in {}: {e}", config.data_dir.display())))?;
        let queue = Arc::new(queue);
        let exporter = Arc::new(build_exporter(config)?);
        let metrics = Arc::new(Metrics::default());
        let wake = Arc::new(Notify::new());
        let (stop, stop_rx) = watch::channel(false);

        let metrics_listener = Listener::bind(config.metrics, tls.clone(), config.allow_plaintext)
            .await
            .map_err(|e| StartError(format!("metrics listener: {e}")))?;
        let metrics_addr = metrics_listener.local_addr();
        let sink = Arc::new(AgentSink {
            redactor,
            queue: Arc::clone(&queue),
            metrics: Arc::clone(&metrics),
            wake: Arc::clone(&wake),
        });
        let receivers = Receivers::start(
            ReceiversConfig {
                grpc: Some(config.otlp_grpc),
                http: Some(config.otlp_http),
                // The receivers set each listener's ALPN (h2 for gRPC).
                tls,
                allow_plaintext: config.allow_plaintext,
                ..ReceiversConfig::default()
            },
            sink,
        )
        .await
        .map_err(|e| StartError(format!("OTLP listeners: {e}")))?;

        let mut tasks = Vec::new();
        let router = metrics::router(Arc::clone(&metrics), Arc::clone(&queue));
        let mut metrics_stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = metrics_stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(metrics_listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!("metrics endpoint stopped: {e}");
            }
        }));
        tasks.push(tokio::spawn(forward(
            Arc::clone(&queue),
            exporter,
            Arc::clone(&metrics),
            wake,
            stop_rx,
        )));
        tracing::info!(
            mode = ?mode,
            upstream = config.upstream.as_deref().unwrap_or(""),
            tls = identity.is_some(),
            "scrim agent started"
        );
        Ok(Agent {
            receivers: Some(receivers),
            metrics_addr,
            tls_fingerprint: identity.map(|id| id.fingerprint().to_owned()),
            metrics,
            queue,
            stop,
            tasks,
            mode,
        })
    }

    /// The bound OTLP/gRPC address.
    pub fn otlp_grpc_addr(&self) -> Option<SocketAddr> {
        self.receivers.as_ref().and_then(Receivers::grpc_addr)
    }

    /// The bound OTLP/HTTP address.
    pub fn otlp_http_addr(&self) -> Option<SocketAddr> {
        self.receivers.as_ref().and_then(Receivers::http_addr)
    }

    /// The bound `/healthz` and `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The SHA-256 fingerprint of the listeners' TLS certificate (`AB:CD:…`), when they
    /// speak TLS.
    pub fn tls_fingerprint(&self) -> Option<&str> {
        self.tls_fingerprint.as_deref()
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The disk queue.
    pub fn queue(&self) -> &DiskQueue {
        &self.queue
    }

    /// The mode in force (after `auto` was resolved).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Stops accepting, stops forwarding (what is queued stays on disk for next time),
    /// and waits for every task.
    pub async fn shutdown(mut self) {
        if let Some(r) = self.receivers.take()
            && let Err(e) = r.shutdown().await
        {
            tracing::warn!("OTLP listeners: {e}");
        }
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The listeners' certificate, loaded from the PEM files or generated (once) and loaded from
/// `<data_dir>/tls`; `None` without TLS. Its fingerprint is logged.
fn load_tls(config: &AgentConfig) -> Result<Option<scrim_tls::ServerIdentity>, StartError> {
    let identity = config
        .tls_mode()
        .load()
        .map_err(|e| StartError(format!("TLS: {e}")))?;
    if let Some(id) = &identity {
        tracing::info!(
            fingerprint = id.fingerprint(),
            generated = id.was_generated(),
            "TLS on every listener; certificate SHA-256 fingerprint {}",
            id.fingerprint()
        );
    }
    Ok(identity)
}

/// Without TLS and without `allow_plaintext`: every listen address must be loopback. The
/// error names the setting, the address and how to fix it.
fn check_plaintext_listeners(config: &AgentConfig) -> Result<(), StartError> {
    for (key, addr) in [
        ("otlp_grpc", config.otlp_grpc),
        ("otlp_http", config.otlp_http),
        ("metrics", config.metrics),
    ] {
        scrim_tls::check_plaintext(addr, false).map_err(|e| {
            StartError(format!(
                "{key} listener: {e}. For the agent: set tls_cert_file and tls_key_file, or \
                 tls_self_signed = true, or allow_plaintext = true (also as SCRIM_* variables \
                 and --flags)"
            ))
        })?;
    }
    Ok(())
}

/// The policy file (or the default), with `auto` mode resolved: a mode set in the agent's
/// configuration wins, then one the policy file names, then loopback → on-prem, else cloud.
fn load_policy(config: &AgentConfig) -> Result<Policy, StartError> {
    let (mut policy, file_names_mode) = match &config.policy_file {
        None => (Policy::default(), false),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| StartError(format!("policy {}: {e}", path.display())))?;
            let policy = Policy::from_toml(&text)
                .map_err(|e| StartError(format!("{}: {e}", path.display())))?;
            let names_mode = text
                .parse::<toml::Table>()
                .is_ok_and(|t| t.contains_key("mode"));
            (policy, names_mode)
        }
    };
    policy.mode = match config.mode {
        ModeSetting::Cloud => Mode::Cloud,
        ModeSetting::OnPrem => Mode::OnPrem,
        ModeSetting::Auto if file_names_mode => policy.mode,
        ModeSetting::Auto if config.upstream_is_loopback() => Mode::OnPrem,
        ModeSetting::Auto => Mode::Cloud,
    };
    Ok(policy)
}

/// The configured pseudonym key, or one generated once and kept in the data directory.
fn pseudonym_key(config: &AgentConfig) -> Result<Vec<u8>, StartError> {
    if let Some(k) = &config.pseudonym_key {
        return Ok(k.0.as_bytes().to_vec());
    }
    let path = config.data_dir.join("pseudonym.key");
    load_or_create_key(&path)
        .map_err(|e| StartError(format!("pseudonym key {}: {e}", path.display())))
}

fn load_or_create_key(path: &Path) -> io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(k) if k.len() >= 32 => return Ok(k),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "shorter than 32 bytes",
            ));
        }
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    io::Write::write_all(&mut f, &key)?;
    f.sync_all()?;
    tracing::warn!(
        "generated a pseudonym key in {}; set SCRIM_PSEUDONYM_KEY to the tenant's key so that every agent gives the same pseudonyms",
        path.display()
    );
    Ok(key.to_vec())
}

fn build_exporter(config: &AgentConfig) -> Result<Exporter, StartError> {
    let upstream = config
        .upstream
        .clone()
        .ok_or_else(|| StartError("no upstream".into()))?;
    let protocol = match config.upstream_protocol {
        UpstreamProtocol::Http => Protocol::HttpProtobuf,
        UpstreamProtocol::Grpc => Protocol::Grpc,
    };
    let read = |p: &Path| std::fs::read(p).map_err(|e| StartError(format!("{}: {e}", p.display())));
    let mut ec = ExporterConfig::new(upstream, protocol);
    ec.allow_http = config.allow_http_fallback;
    ec.gzip = config.gzip;
    ec.timeout = Duration::from_secs(config.export_timeout_secs);
    if let Some(key) = &config.api_key {
        ec.headers.push((
            "authorization".into(),
            Credential::new(format!("Bearer {}", key.0)),
        ));
    }
    if let Some(ca) = &config.ca_file {
        ec.ca_pem = Some(read(ca)?);
    }
    if let (Some(cert), Some(key)) = (&config.client_cert_file, &config.client_key_file) {
        ec.client_identity = Some(ClientIdentity {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        });
    }
    Exporter::new(ec).map_err(|e| StartError(format!("upstream: {e}")))
}

/// The receivers' sink: redact, encode, queue durably, then acknowledge.
struct AgentSink {
    redactor: Arc<Redactor>,
    queue: Arc<DiskQueue>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
}

impl Sink for AgentSink {
    fn consume(
        &self,
        mut batch: Batch,
        _ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
        Box::pin(async move {
            let redactor = Arc::clone(&self.redactor);
            let queue = Arc::clone(&self.queue);
            let signal = batch.signal();
            let items = batch.item_count();
            // Redaction is CPU work and the push waits for fsync: both off the async workers.
            let (result, counts) = tokio::task::spawn_blocking(move || {
                let counts = scrim_otlp::redact::redact_batch(&mut batch, &redactor);
                (queue.push(&encode_record(&batch)), counts)
            })
            .await
            .map_err(|e| SinkError::Internal(format!("redaction task failed: {e}")))?;
            self.queued(result, signal, items, &counts)
        })
    }

    fn trace_policy(&self) -> Option<Arc<Redactor>> {
        Some(Arc::clone(&self.redactor))
    }

    fn consume_redacted_traces(
        &self,
        traces: RedactedTraces,
        _ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
        Box::pin(async move {
            let queue = Arc::clone(&self.queue);
            let RedactedTraces {
                body,
                spans,
                counts,
            } = traces;
            // The push waits for fsync: off the async workers.
            let result =
                tokio::task::spawn_blocking(move || queue.push(&record(b'T', spans, &body)))
                    .await
                    .map_err(|e| SinkError::Internal(format!("queue task failed: {e}")))?;
            self.queued(result, Signal::Traces, spans, &counts)
        })
    }
}

impl AgentSink {
    /// The answer to a request once its record was pushed (or not).
    fn queued(
        &self,
        result: Result<(), QueueError>,
        signal: Signal,
        items: u64,
        counts: &Counts,
    ) -> Result<Accepted, SinkError> {
        match result {
            Ok(()) => {
                self.metrics.received.add(signal, items);
                self.metrics.add_redacted(counts);
                self.wake.notify_one();
                Ok(Accepted::all())
            }
            Err(QueueError::Full) => {
                self.metrics.refused.add(signal, items);
                Err(SinkError::Throttled {
                    retry_after: Some(Duration::from_secs(1)),
                })
            }
            Err(e @ QueueError::TooLarge { .. }) => {
                self.metrics.refused.add(signal, items);
                Err(SinkError::Invalid(e.to_string()))
            }
            Err(QueueError::Io(e)) => {
                tracing::error!("disk queue: {e}");
                Err(SinkError::Unavailable {
                    retry_after: Some(Duration::from_secs(1)),
                })
            }
        }
    }
}

/// A queue record: one byte naming the signal (`T`, `L`, `M`), the number of items as a
/// u64 little-endian, then the protobuf `Export*ServiceRequest`, exactly the body the
/// forwarder sends upstream over OTLP/HTTP. Records written by the first version hold a
/// lowercase tag (`t`, `l`, `m`) and the protobuf directly; they are still read.
fn record(tag: u8, items: u64, protobuf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + protobuf.len());
    out.push(tag);
    out.extend_from_slice(&items.to_le_bytes());
    out.extend_from_slice(protobuf);
    out
}

/// [`record`] of a decoded batch.
fn encode_record(batch: &Batch) -> Vec<u8> {
    fn record(tag: u8, items: u64, message: &impl Message) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_HEADER + message.encoded_len());
        out.push(tag);
        out.extend_from_slice(&items.to_le_bytes());
        // Encoding into a Vec with enough room cannot fail.
        let _ = message.encode(&mut out);
        out
    }
    let items = batch.item_count();
    match batch {
        Batch::Traces(t) => record(b'T', items, t),
        Batch::Logs(l) => record(b'L', items, l),
        Batch::Metrics(m) => record(b'M', items, m),
    }
}

/// Tag and item count before the protobuf in a current record.
const RECORD_HEADER: usize = 9;

/// What a queue record holds: its signal, its item count, and where its protobuf starts.
fn record_header(payload: &[u8]) -> Option<(Signal, u64, usize)> {
    let (&tag, rest) = payload.split_first()?;
    let signal = match tag.to_ascii_lowercase() {
        b't' => Signal::Traces,
        b'l' => Signal::Logs,
        b'm' => Signal::Metrics,
        _ => return None,
    };
    if tag.is_ascii_lowercase() {
        // First-version record: the count is only known by decoding.
        let items = Batch::decode(signal, rest)?.item_count();
        return Some((signal, items, 1));
    }
    let count: [u8; 8] = rest.get(..8)?.try_into().ok()?;
    Some((signal, u64::from_le_bytes(count), RECORD_HEADER))
}

/// The forwarder: queue ▸ exporter, acknowledging in the queue what the upstream settled.
///
/// Each round peeks up to [`PEEK_RECORDS`] records and exports them with up to
/// [`FORWARD_WINDOW`] requests in flight (an upstream across a network answers after a
/// round trip; one request at a time would cap throughput at one request per round trip).
/// Only the longest run of settled records from the head is acknowledged: a record after
/// one that could not be delivered is sent again next round even if it went through, so
/// delivery stays at least once and nothing is acknowledged before it was delivered.
async fn forward(
    queue: Arc<DiskQueue>,
    exporter: Arc<Exporter>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut outage_wait = OUTAGE_WAIT_MIN;
    loop {
        if *stop.borrow() {
            return;
        }
        let q = Arc::clone(&queue);
        let records =
            match tokio::task::spawn_blocking(move || q.peek(PEEK_RECORDS, PEEK_BYTES)).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::error!("disk queue read: {e}");
                    Vec::new()
                }
                Err(_) => return,
            };
        if records.is_empty() {
            // Wait for a push, or shut down. A push between peek and here is not lost:
            // `notify_one` stores a permit when nobody waits.
            tokio::select! {
                _ = wake.notified() => continue,
                _ = stop.changed() => return,
            }
        }
        let ids: Vec<RecordId> = records.iter().map(|r| r.id).collect();
        let mut settled = vec![false; records.len()];
        let mut outage = false;
        let mut pending = records.into_iter().enumerate();
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            while !outage && in_flight.len() < FORWARD_WINDOW {
                let Some((i, Record { payload, .. })) = pending.next() else {
                    break;
                };
                let Some((signal, items, start)) = record_header(&payload) else {
                    metrics.corrupt_records.fetch_add(1, Relaxed);
                    tracing::error!("skipping an unreadable disk queue record");
                    settled[i] = true;
                    continue;
                };
                // The record holds the request as the upstream receives it: no decode, no
                // re-encode (over gRPC the exporter decodes it).
                let body = bytes::Bytes::from(payload).slice(start..);
                let exporter = Arc::clone(&exporter);
                in_flight.spawn(async move {
                    let outcome = exporter.export_encoded(signal, body).await;
                    (i, signal, items, outcome)
                });
            }
            let joined = tokio::select! {
                j = in_flight.join_next() => j,
                _ = stop.changed() => {
                    in_flight.abort_all();
                    return;
                }
            };
            let Some(joined) = joined else { break };
            let Ok((i, signal, items, outcome)) = joined else {
                // A panicking export task: treat as not delivered.
                outage = true;
                continue;
            };
            if record_outcome(&metrics, signal, items, outcome) {
                settled[i] = true;
            } else {
                outage = true;
            }
        }
        let prefix = settled.iter().take_while(|s| **s).count();
        if prefix > 0 {
            let (q, last) = (Arc::clone(&queue), ids[prefix - 1]);
            match tokio::task::spawn_blocking(move || q.ack(last)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("disk queue acknowledgement: {e}"),
                Err(_) => return,
            }
        }
        if outage {
            tokio::select! {
                _ = tokio::time::sleep(outage_wait) => {}
                _ = stop.changed() => return,
            }
            outage_wait = (outage_wait * 2).min(OUTAGE_WAIT_MAX);
        } else {
            outage_wait = OUTAGE_WAIT_MIN;
        }
    }
}

/// Counts one export's outcome; true when the record is settled (delivered, or refused
/// for good), false when the upstream is unavailable and it must be sent again.
fn record_outcome(metrics: &Metrics, signal: Signal, items: u64, outcome: ExportOutcome) -> bool {
    let retries = |attempts: u32| u64::from(attempts.saturating_sub(1));
    match outcome {
        ExportOutcome::Delivered { attempts } => {
            metrics.exported.add(signal, items);
            metrics.retries.fetch_add(retries(attempts), Relaxed);
            true
        }
        ExportOutcome::PartialSuccess {
            rejected, attempts, ..
        } => {
            metrics.exported.add(signal, items.saturating_sub(rejected));
            metrics.rejected_upstream.add(signal, rejected.min(items));
            metrics.retries.fetch_add(retries(attempts), Relaxed);
            true
        }
        ExportOutcome::Rejected { reason, attempts } => {
            tracing::warn!(
                signal = signal.as_str(),
                items,
                "upstream rejected a request for good: {reason}"
            );
            metrics.rejected_upstream.add(signal, items);
            metrics.retries.fetch_add(retries(attempts), Relaxed);
            true
        }
        ExportOutcome::GaveUp {
            last_error,
            attempts,
        } => {
            metrics.retries.fetch_add(retries(attempts), Relaxed);
            tracing::warn!("upstream unavailable, data stays queued: {last_error}");
            false
        }
    }
}

/// The signal a queue record holds, for tests and tools.
pub fn record_signal(payload: &[u8]) -> Option<Signal> {
    record_header(payload).map(|(signal, _, _)| signal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrim_otlp::proto::{ExportLogsServiceRequest, LogRecord, ResourceLogs, ScopeLogs};

    fn two_logs() -> Batch {
        Batch::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord::default(), LogRecord::default()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    #[test]
    fn a_record_holds_the_upstream_body_and_its_count() {
        let batch = two_logs();
        let record = encode_record(&batch);
        let (signal, items, start) = record_header(&record).unwrap();
        assert_eq!((signal, items), (Signal::Logs, 2));
        assert_eq!(&record[start..], batch.encode_to_vec().as_slice());
        assert_eq!(record_signal(&record), Some(Signal::Logs));
    }

    #[test]
    fn first_version_records_are_still_read() {
        let batch = two_logs();
        let mut old = vec![b'l'];
        old.extend_from_slice(&batch.encode_to_vec());
        assert_eq!(record_header(&old), Some((Signal::Logs, 2, 1)));
        assert_eq!(record_header(b"x123"), None);
        assert_eq!(record_header(b"T123"), None, "a count needs 8 bytes");
        assert_eq!(record_header(b""), None);
    }
}
