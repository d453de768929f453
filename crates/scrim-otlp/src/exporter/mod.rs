//! The OTLP exporter: sends a [`Batch`] upstream over OTLP/gRPC or OTLP/HTTP (protobuf),
//! with TLS (rustls, TLS 1.2+), optional gzip, and retries per the OTLP specification.

mod connect;
mod retry;

pub use retry::{
    RetryPolicy, Sleeper, TokioSleeper, backoff_ceiling, next_delay, parse_retry_after,
};

use std::fmt;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use self::connect::Connector;
use crate::model::{Batch, Credential, Signal};
use crate::proto::{
    ExportLogsServiceResponse, ExportMetricsServiceResponse, ExportTraceServiceResponse, RpcStatus,
};

/// The wire protocol of an exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC; the endpoint is `scheme://host:port` (conventionally port 4317).
    Grpc,
    /// OTLP/HTTP with protobuf bodies; the endpoint is a base URL to which `/v1/traces`,
    /// `/v1/logs` or `/v1/metrics` is appended (conventionally port 4318).
    HttpProtobuf,
}

/// A client certificate and its private key, both PEM. `Debug` hides the key.
#[derive(Clone)]
pub struct ClientIdentity {
    /// Certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// Private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem", &format_args!("<{} bytes>", self.cert_pem.len()))
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

/// Exporter configuration. `Debug` shows header names but not their values.
#[derive(Clone, Debug)]
pub struct ExporterConfig {
    /// `https://host:port[/base]`; `http://` only with `allow_http`.
    pub endpoint: String,
    /// gRPC or HTTP/protobuf.
    pub protocol: Protocol,
    /// Extra request headers (gRPC metadata), such as `authorization`. Values are secret.
    pub headers: Vec<(String, Credential)>,
    /// Deadline of one attempt (connect, send, answer). Default 10 s.
    pub timeout: Duration,
    /// CA certificates (PEM) to trust instead of the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate for mutual TLS.
    pub client_identity: Option<ClientIdentity>,
    /// Compress requests with gzip. Default on.
    pub gzip: bool,
    /// Retries of retryable failures.
    pub retry: RetryPolicy,
    /// Permit a plain `http://` endpoint. Default off: [`Exporter::new`] refuses one. When
    /// set and used, every new connection logs a warning.
    pub allow_http: bool,
}

impl ExporterConfig {
    /// A configuration with the defaults for `endpoint` and `protocol`.
    pub fn new(endpoint: impl Into<String>, protocol: Protocol) -> Self {
        ExporterConfig {
            endpoint: endpoint.into(),
            protocol,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            ca_pem: None,
            client_identity: None,
            gzip: true,
            retry: RetryPolicy::default(),
            allow_http: false,
        }
    }
}

/// Why an exporter could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExporterError {
    /// The endpoint is `http://` and `allow_http` is not set.
    PlainHttpRefused,
    /// The endpoint is not an `http(s)://host[:port]` URL.
    InvalidEndpoint(String),
    /// A header name or value cannot be sent (the value is not shown).
    InvalidHeader(String),
    /// The TLS material could not be used.
    Tls(String),
}

impl fmt::Display for ExporterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExporterError::PlainHttpRefused => f.write_str(
                "refusing a plain http:// OTLP endpoint: use https://, or set allow_http to send telemetry unencrypted",
            ),
            ExporterError::InvalidEndpoint(m) => write!(f, "invalid OTLP endpoint: {m}"),
            ExporterError::InvalidHeader(name) => write!(f, "invalid exporter header {name:?}"),
            ExporterError::Tls(m) => write!(f, "TLS configuration: {m}"),
        }
    }
}

impl std::error::Error for ExporterError {}

/// What became of one [`Exporter::export`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    /// The upstream accepted everything.
    Delivered {
        /// Attempts made (1 = no retry).
        attempts: u32,
    },
    /// The upstream accepted the request but rejected `rejected` items.
    PartialSuccess {
        /// Items rejected (spans, log records, data points).
        rejected: u64,
        /// The upstream's explanation.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The upstream refused the request with a non-retryable status; do not send it again.
    Rejected {
        /// Status and message, e.g. `HTTP 400 Bad Request: ...` or `gRPC InvalidArgument: ...`.
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Retryable failures until the retry budget ran out (or retries are disabled); the
    /// caller may keep the data and try later.
    GaveUp {
        /// The last failure.
        last_error: String,
        /// Attempts made.
        attempts: u32,
    },
}

impl ExportOutcome {
    /// Delivered, fully or partially.
    pub fn is_delivered(&self) -> bool {
        matches!(
            self,
            ExportOutcome::Delivered { .. } | ExportOutcome::PartialSuccess { .. }
        )
    }
}

/// The result of one attempt.
enum Attempt {
    Accepted {
        rejected: u64,
        message: String,
    },
    Retryable {
        reason: String,
        delay: Option<Duration>,
    },
    Permanent(String),
}

// One value per exporter, never moved in a hot path: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Transport {
    Grpc {
        endpoint: Endpoint,
        connector: Connector,
        channel: OnceLock<Channel>,
        metadata: Vec<(
            MetadataKey<tonic::metadata::Ascii>,
            MetadataValue<tonic::metadata::Ascii>,
        )>,
    },
    Http {
        base: String,
        client: Client<Connector, Full<Bytes>>,
        headers: Vec<(HeaderName, HeaderValue)>,
    },
}

/// Sends batches to one OTLP endpoint. Cheap to share (`Arc`); concurrent exports are fine.
pub struct Exporter {
    transport: Transport,
    gzip: bool,
    timeout: Duration,
    retry: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.transport {
            Transport::Grpc { endpoint, .. } => format!("grpc {}", endpoint.uri()),
            Transport::Http { base, .. } => format!("http {base}"),
        };
        f.debug_struct("Exporter")
            .field("transport", &kind)
            .field("gzip", &self.gzip)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

const USER_AGENT: &str = concat!("scrim-otlp/", env!("CARGO_PKG_VERSION"));
/// Most of an upstream answer read (success bodies are tiny; error bodies are truncated).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Longest upstream error message kept in an outcome.
const MAX_REASON_CHARS: usize = 512;

impl Exporter {
    /// Builds an exporter that waits with tokio's timer. Validates the endpoint (refusing
    /// `http://` without `allow_http`), headers and TLS material; connects lazily.
    pub fn new(config: ExporterConfig) -> Result<Exporter, ExporterError> {
        Exporter::with_sleeper(config, Arc::new(TokioSleeper))
    }

    /// Like [`Exporter::new`], waiting between retries with `sleeper`.
    pub fn with_sleeper(
        config: ExporterConfig,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<Exporter, ExporterError> {
        let uri: Uri = config
            .endpoint
            .parse()
            .map_err(|_| ExporterError::InvalidEndpoint("not a URL".into()))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if config.allow_http => false,
            Some("http") => return Err(ExporterError::PlainHttpRefused),
            _ => {
                return Err(ExporterError::InvalidEndpoint(
                    "the scheme must be https:// (or http:// with allow_http)".into(),
                ));
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ExporterError::InvalidEndpoint("no host".into()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let h2 = config.protocol == Protocol::Grpc;
        let tls_config = if tls {
            Some(Arc::new(tls_config(&config, h2)?))
        } else {
            None
        };
        let connector = Connector::new(host.clone(), port, tls_config, h2)
            .map_err(ExporterError::InvalidEndpoint)?;

        let transport = match config.protocol {
            Protocol::Grpc => {
                // The connector does TLS itself; tonic is given an http:// URI so that it
                // never tries TLS of its own (should a tonic TLS feature be enabled by
                // another crate in the build).
                let authority = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                let endpoint = Endpoint::from_shared(format!("http://{authority}"))
                    .map_err(|_| ExporterError::InvalidEndpoint("bad authority".into()))?
                    .user_agent(USER_AGENT)
                    .map_err(|_| ExporterError::InvalidEndpoint("bad user agent".into()))?
                    .timeout(config.timeout)
                    .connect_timeout(config.timeout);
                let mut metadata = Vec::new();
                for (name, value) in &config.headers {
                    let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|_| ExporterError::InvalidHeader(name.clone()))?;
                    let value = MetadataValue::try_from(value.expose())
                        .map_err(|_| ExporterError::InvalidHeader(name.clone()))?;
                    metadata.push((key, value));
                }
                Transport::Grpc {
                    endpoint,
                    connector,
                    channel: OnceLock::new(),
                    metadata,
                }
            }
            Protocol::HttpProtobuf => {
                let mut headers = Vec::new();
                for (name, value) in &config.headers {
                    let key = HeaderName::try_from(name.as_str())
                        .map_err(|_| ExporterError::InvalidHeader(name.clone()))?;
                    let mut value = HeaderValue::try_from(value.expose())
                        .map_err(|_| ExporterError::InvalidHeader(name.clone()))?;
                    value.set_sensitive(true);
                    headers.push((key, value));
                }
                let client = Client::builder(TokioExecutor::new()).build(connector);
                Transport::Http {
                    base: config.endpoint.trim_end_matches('/').to_owned(),
                    client,
                    headers,
                }
            }
        };
        Ok(Exporter {
            transport,
            gzip: config.gzip,
            timeout: config.timeout,
            retry: config.retry,
            sleeper,
        })
    }

    /// Sends `batch`, retrying retryable failures (HTTP 429, 502, 503, 504 and transport
    /// errors; gRPC `UNAVAILABLE`, `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`,
    /// `OUT_OF_RANGE`, `DATA_LOSS`, and `RESOURCE_EXHAUSTED` when the server sent
    /// `RetryInfo`) with exponential backoff and full jitter, waiting as long as a
    /// `Retry-After` header or `RetryInfo` asks, until the policy's `max_elapsed` budget
    /// would be exceeded.
    pub async fn export(&self, batch: &Batch) -> ExportOutcome {
        match &self.transport {
            Transport::Http { .. } => {
                let body = self.http_body(&batch.encode_to_vec());
                self.with_retries(|| self.http_attempt(batch.signal(), body.clone()))
                    .await
            }
            Transport::Grpc { .. } => self.with_retries(|| self.grpc_attempt(batch)).await,
        }
    }

    /// Sends a request already encoded as OTLP protobuf (`protobuf` is the
    /// `Export*ServiceRequest` of `signal`), with the same retries as
    /// [`export`](Self::export). Over OTLP/HTTP the bytes go out as they are (compressed
    /// when `gzip` is set), without being decoded and encoded again; over gRPC they are
    /// decoded first, and bytes that do not decode are [`ExportOutcome::Rejected`].
    pub async fn export_encoded(&self, signal: Signal, protobuf: Bytes) -> ExportOutcome {
        match &self.transport {
            Transport::Http { .. } => {
                let body = if self.gzip {
                    self.http_body(&protobuf)
                } else {
                    protobuf
                };
                self.with_retries(|| self.http_attempt(signal, body.clone()))
                    .await
            }
            Transport::Grpc { .. } => match Batch::decode(signal, &protobuf) {
                Some(batch) => self.with_retries(|| self.grpc_attempt(&batch)).await,
                None => ExportOutcome::Rejected {
                    reason: format!("the {} request does not decode", signal.as_str()),
                    attempts: 0,
                },
            },
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retry policy gives up.
    async fn with_retries<F, Fut>(&self, mut attempt: F) -> ExportOutcome
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt>,
    {
        let mut spent = Duration::ZERO;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let started = Instant::now();
            let outcome = attempt().await;
            spent += started.elapsed();
            match outcome {
                Attempt::Accepted { rejected: 0, .. } => {
                    return ExportOutcome::Delivered { attempts };
                }
                Attempt::Accepted { rejected, message } => {
                    return ExportOutcome::PartialSuccess {
                        rejected,
                        message,
                        attempts,
                    };
                }
                Attempt::Permanent(reason) => return ExportOutcome::Rejected { reason, attempts },
                Attempt::Retryable { reason, delay } => {
                    if !self.retry.enabled {
                        return ExportOutcome::GaveUp {
                            last_error: reason,
                            attempts,
                        };
                    }
                    let delay = next_delay(&self.retry, attempts - 1, delay, fastrand::f64());
                    if spent.saturating_add(delay) > self.retry.max_elapsed {
                        return ExportOutcome::GaveUp {
                            last_error: reason,
                            attempts,
                        };
                    }
                    tracing::debug!(?delay, %reason, attempts, "OTLP export failed, retrying");
                    self.sleeper.sleep(delay).await;
                    spent += delay;
                }
            }
        }
    }

    /// The HTTP body for protobuf bytes: as they are, or gzipped.
    fn http_body(&self, raw: &[u8]) -> Bytes {
        if !self.gzip {
            return Bytes::copy_from_slice(raw);
        }
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len() / 4),
            flate2::Compression::fast(),
        );
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(raw);
        Bytes::from(encoder.finish().unwrap_or_default())
    }

    async fn http_attempt(&self, signal: Signal, body: Bytes) -> Attempt {
        let Transport::Http {
            base,
            client,
            headers,
        } = &self.transport
        else {
            return Attempt::Permanent("internal: not an HTTP exporter".into());
        };
        let url = format!("{base}{}", signal.http_path());
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .header(header::USER_AGENT, USER_AGENT);
        if self.gzip {
            builder = builder.header(header::CONTENT_ENCODING, "gzip");
        }
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let request = match builder.body(Full::new(body)) {
            Ok(r) => r,
            Err(_) => return Attempt::Permanent("could not build the HTTP request".into()),
        };
        let exchange = async {
            let response = client.request(request).await.map_err(|e| {
                // Connection-level errors never carry request data.
                format!("HTTP transport error: {}", error_chain(&e))
            })?;
            let (parts, body) = response.into_parts();
            let bytes = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            Ok::<_, String>((parts, bytes))
        };
        let (parts, bytes) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                return Attempt::Retryable {
                    reason: format!("HTTP request timed out after {:?}", self.timeout),
                    delay: None,
                };
            }
            Ok(Err(reason)) => {
                return Attempt::Retryable {
                    reason,
                    delay: None,
                };
            }
            Ok(Ok(x)) => x,
        };
        let status = parts.status;
        if status.is_success() {
            let (rejected, message) = partial_success(signal, &bytes);
            return Attempt::Accepted { rejected, message };
        }
        let message = RpcStatus::decode(bytes.as_ref())
            .ok()
            .map(|s| s.message)
            .filter(|m| !m.is_empty());
        let reason = match message {
            Some(m) => format!("HTTP {status}: {}", truncate(m)),
            None => format!("HTTP {status}"),
        };
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        ) {
            let delay = parts
                .headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            Attempt::Retryable { reason, delay }
        } else {
            Attempt::Permanent(reason)
        }
    }

    fn channel(&self) -> Option<Channel> {
        let Transport::Grpc {
            endpoint,
            connector,
            channel,
            ..
        } = &self.transport
        else {
            return None;
        };
        Some(
            channel
                .get_or_init(|| endpoint.connect_with_connector_lazy(connector.clone()))
                .clone(),
        )
    }

    async fn grpc_attempt(&self, batch: &Batch) -> Attempt {
        let (Some(channel), Transport::Grpc { metadata, .. }) = (self.channel(), &self.transport)
        else {
            return Attempt::Permanent("internal: not a gRPC exporter".into());
        };
        fn request<T>(
            message: T,
            metadata: &[(
                MetadataKey<tonic::metadata::Ascii>,
                MetadataValue<tonic::metadata::Ascii>,
            )],
            timeout: Duration,
        ) -> tonic::Request<T> {
            let mut request = tonic::Request::new(message);
            for (k, v) in metadata {
                request.metadata_mut().insert(k.clone(), v.clone());
            }
            request.set_timeout(timeout);
            request
        }
        let compress = |enabled: bool| enabled.then_some(CompressionEncoding::Gzip);
        let result: Result<(i64, String), tonic::Status> = match batch {
            Batch::Traces(r) => {
                let mut client =
                    TraceServiceClient::new(channel).accept_compressed(CompressionEncoding::Gzip);
                if let Some(c) = compress(self.gzip) {
                    client = client.send_compressed(c);
                }
                client
                    .export(request(r.clone(), metadata, self.timeout))
                    .await
                    .map(|resp| {
                        resp.into_inner()
                            .partial_success
                            .map(|p| (p.rejected_spans, p.error_message))
                            .unwrap_or_default()
                    })
            }
            Batch::Logs(r) => {
                let mut client =
                    LogsServiceClient::new(channel).accept_compressed(CompressionEncoding::Gzip);
                if let Some(c) = compress(self.gzip) {
                    client = client.send_compressed(c);
                }
                client
                    .export(request(r.clone(), metadata, self.timeout))
                    .await
                    .map(|resp| {
                        resp.into_inner()
                            .partial_success
                            .map(|p| (p.rejected_log_records, p.error_message))
                            .unwrap_or_default()
                    })
            }
            Batch::Metrics(r) => {
                let mut client =
                    MetricsServiceClient::new(channel).accept_compressed(CompressionEncoding::Gzip);
                if let Some(c) = compress(self.gzip) {
                    client = client.send_compressed(c);
                }
                client
                    .export(request(r.clone(), metadata, self.timeout))
                    .await
                    .map(|resp| {
                        resp.into_inner()
                            .partial_success
                            .map(|p| (p.rejected_data_points, p.error_message))
                            .unwrap_or_default()
                    })
            }
        };
        match result {
            Ok((rejected, message)) => Attempt::Accepted {
                rejected: u64::try_from(rejected).unwrap_or(0),
                message,
            },
            Err(status) => classify_grpc(&status),
        }
    }
}

/// Retryable or not, per the OTLP specification's gRPC table.
fn classify_grpc(status: &tonic::Status) -> Attempt {
    use tonic::Code;
    let delay = RpcStatus::decode(status.details())
        .ok()
        .and_then(|s| s.retry_delay());
    let reason = if status.message().is_empty() {
        format!("gRPC {:?}", status.code())
    } else {
        format!(
            "gRPC {:?}: {}",
            status.code(),
            truncate(status.message().to_owned())
        )
    };
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => Attempt::Retryable { reason, delay },
        Code::ResourceExhausted if delay.is_some() => Attempt::Retryable { reason, delay },
        _ => Attempt::Permanent(reason),
    }
}

/// The partial success in a 2xx OTLP/HTTP answer (protobuf; an undecodable body counts as
/// full success, as the specification says an empty body does).
fn partial_success(signal: Signal, body: &[u8]) -> (u64, String) {
    let (rejected, message) = match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_spans, p.error_message)),
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_log_records, p.error_message)),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_data_points, p.error_message)),
    }
    .unwrap_or_default();
    (u64::try_from(rejected).unwrap_or(0), message)
}

fn truncate(mut s: String) -> String {
    if s.chars().count() > MAX_REASON_CHARS {
        s = s.chars().take(MAX_REASON_CHARS).collect::<String>() + "…";
    }
    s
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn tls_config(config: &ExporterConfig, h2: bool) -> Result<rustls::ClientConfig, ExporterError> {
    let tls_err = |e: &dyn fmt::Display| ExporterError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls_err(&e))?;
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|_| ExporterError::Tls("ca_pem: invalid PEM".into()))?;
                roots
                    .add(cert)
                    .map_err(|e| ExporterError::Tls(format!("ca_pem: {e}")))?;
            }
            if roots.is_empty() {
                return Err(ExporterError::Tls("ca_pem holds no certificate".into()));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(ExporterError::Tls(
                    "no system root certificates found; set ca_pem".into(),
                ));
            }
        }
    }
    let builder = builder.with_root_certificates(roots);
    let mut tls = match &config.client_identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let certs = CertificateDer::pem_slice_iter(&identity.cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| ExporterError::Tls("client certificate: invalid PEM".into()))?;
            if certs.is_empty() {
                return Err(ExporterError::Tls(
                    "client certificate: no certificate".into(),
                ));
            }
            // The key's own parse error is not shown: it could quote key material.
            let key = PrivateKeyDer::from_pem_slice(&identity.key_pem)
                .map_err(|_| ExporterError::Tls("client key: invalid or missing PEM key".into()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| ExporterError::Tls(format!("client certificate: {e}")))?
        }
    };
    tls.alpn_protocols = if h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_without_allow_http() {
        for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
            let err =
                Exporter::new(ExporterConfig::new("http://127.0.0.1:4318", protocol)).unwrap_err();
            assert_eq!(err, ExporterError::PlainHttpRefused);
            assert!(err.to_string().contains("allow_http"));
            let mut config = ExporterConfig::new("http://127.0.0.1:4318", protocol);
            config.allow_http = true;
            assert!(Exporter::new(config).is_ok());
        }
        let err = Exporter::new(ExporterConfig::new("ftp://x", Protocol::Grpc)).unwrap_err();
        assert!(matches!(err, ExporterError::InvalidEndpoint(_)));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let mut config = ExporterConfig::new("https://example.invalid", Protocol::HttpProtobuf);
        config
            .headers
            .push(("authorization".into(), Credential::new("Bearer s3cr3t")));
        config.client_identity = Some(ClientIdentity {
            cert_pem: b"cert".to_vec(),
            key_pem: b"-----BEGIN PRIVATE KEY-----k3y".to_vec(),
        });
        let text = format!("{config:?}");
        assert!(text.contains("authorization"));
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(!text.contains("k3y"), "{text}");
    }

    #[test]
    fn grpc_codes_are_classified_per_the_spec() {
        use tonic::{Code, Status};
        let retryable = |s: &Status| matches!(classify_grpc(s), Attempt::Retryable { .. });
        assert!(retryable(&Status::unavailable("x")));
        assert!(retryable(&Status::deadline_exceeded("x")));
        assert!(!retryable(&Status::invalid_argument("x")));
        assert!(!retryable(&Status::unauthenticated("x")));
        assert!(!retryable(&Status::permission_denied("x")));
        // RESOURCE_EXHAUSTED is retryable only with RetryInfo.
        assert!(!retryable(&Status::resource_exhausted("x")));
        let details =
            RpcStatus::with_retry_delay(8, "x".into(), Duration::from_secs(3)).encode_to_vec();
        let status = Status::with_details(Code::ResourceExhausted, "x", details.into());
        match classify_grpc(&status) {
            Attempt::Retryable { delay, .. } => assert_eq!(delay, Some(Duration::from_secs(3))),
            _ => panic!("not retryable"),
        }
    }
}
