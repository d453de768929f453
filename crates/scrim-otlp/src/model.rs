//! The types receivers hand to a [`Sink`], and what the sink answers.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use scrim_redact::Redactor;

use crate::proto::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest, metric_data,
};
use crate::wire::RedactedTraces;

/// A boxed, `Send` future, as returned by [`Sink::consume`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The three OTLP signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans (`/v1/traces`, `TraceService/Export`).
    Traces,
    /// Log records (`/v1/logs`, `LogsService/Export`).
    Logs,
    /// Metric data points (`/v1/metrics`, `MetricsService/Export`).
    Metrics,
}

impl Signal {
    /// Every signal, in a fixed order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

    /// The OTLP/HTTP path of the signal, `/v1/traces`, `/v1/logs` or `/v1/metrics`.
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
            Signal::Metrics => "/v1/metrics",
        }
    }

    /// `traces`, `logs` or `metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    /// What one item of the signal is called in messages: `spans`, `log records`, `data points`.
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "log records",
            Signal::Metrics => "data points",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decoded, validated OTLP export request.
#[derive(Clone, Debug, PartialEq)]
pub enum Batch {
    /// An `ExportTraceServiceRequest`.
    Traces(ExportTraceServiceRequest),
    /// An `ExportLogsServiceRequest`.
    Logs(ExportLogsServiceRequest),
    /// An `ExportMetricsServiceRequest`.
    Metrics(ExportMetricsServiceRequest),
}

impl Batch {
    /// The signal this batch carries.
    pub fn signal(&self) -> Signal {
        match self {
            Batch::Traces(_) => Signal::Traces,
            Batch::Logs(_) => Signal::Logs,
            Batch::Metrics(_) => Signal::Metrics,
        }
    }

    /// Number of items: spans, log records or metric data points.
    pub fn item_count(&self) -> u64 {
        let n: usize = match self {
            Batch::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
            Batch::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum(),
            Batch::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(|m| match &m.data {
                    None => 0,
                    Some(metric_data::Data::Gauge(g)) => g.data_points.len(),
                    Some(metric_data::Data::Sum(s)) => s.data_points.len(),
                    Some(metric_data::Data::Histogram(h)) => h.data_points.len(),
                    Some(metric_data::Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(metric_data::Data::Summary(s)) => s.data_points.len(),
                })
                .sum(),
        };
        n as u64
    }

    /// The batch as an OTLP protobuf message (the body of an OTLP/HTTP protobuf request).
    pub fn encode_to_vec(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.encode_into(&mut buf);
        buf
    }

    /// Appends the batch as an OTLP protobuf message to `buf`: the bytes of
    /// [`Batch::encode_to_vec`]. Trace requests, the bulk of ingest, are written by a
    /// two-pass encoder that measures each nested message once.
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        match self {
            Batch::Traces(r) => crate::encode::encode_traces(r, buf),
            // Writing into a Vec cannot run out of room.
            Batch::Logs(r) => {
                let _ = r.encode(buf);
            }
            Batch::Metrics(r) => {
                let _ = r.encode(buf);
            }
        }
    }

    /// Decodes the OTLP protobuf `Export*ServiceRequest` of `signal`; `None` when the bytes
    /// are not one.
    pub fn decode(signal: Signal, protobuf: &[u8]) -> Option<Batch> {
        match signal {
            Signal::Traces => ExportTraceServiceRequest::decode(protobuf)
                .ok()
                .map(Batch::Traces),
            Signal::Logs => ExportLogsServiceRequest::decode(protobuf)
                .ok()
                .map(Batch::Logs),
            Signal::Metrics => ExportMetricsServiceRequest::decode(protobuf)
                .ok()
                .map(Batch::Metrics),
        }
    }
}

impl From<ExportTraceServiceRequest> for Batch {
    fn from(r: ExportTraceServiceRequest) -> Self {
        Batch::Traces(r)
    }
}

impl From<ExportLogsServiceRequest> for Batch {
    fn from(r: ExportLogsServiceRequest) -> Self {
        Batch::Logs(r)
    }
}

impl From<ExportMetricsServiceRequest> for Batch {
    fn from(r: ExportMetricsServiceRequest) -> Self {
        Batch::Metrics(r)
    }
}

/// A secret string, such as the value of an `Authorization` header.
///
/// `Debug` and `Display` never show the value; [`Credential::expose`] does, on purpose.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Credential(secret.into())
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How a request reached a receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// OTLP/gRPC.
    #[default]
    Grpc,
    /// OTLP/HTTP with a binary protobuf body.
    HttpProtobuf,
    /// OTLP/HTTP with a JSON body.
    HttpJson,
}

/// What a receiver knows about the sender of a request, for the sink to authenticate and log.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// The `Authorization` HTTP header or `authorization` gRPC metadata, if present and made
    /// of visible ASCII. Hidden from `Debug`.
    pub authorization: Option<Credential>,
    /// The peer's socket address, when the server knows it.
    pub peer: Option<SocketAddr>,
    /// The `User-Agent` header / `user-agent` metadata, if present and valid ASCII.
    pub user_agent: Option<String>,
    /// The protocol and encoding the request used.
    pub transport: Transport,
}

/// A sink's acknowledgement: the batch is durable, except for `rejected` items.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Items (spans, log records, data points) the sink refused; `0` means all were accepted.
    /// Reported to the client as OTLP partial success.
    pub rejected: u64,
    /// Why items were rejected (or a warning when `rejected == 0`); sent to the client, so
    /// it must not contain secrets or telemetry content.
    pub message: String,
}

impl Accepted {
    /// Everything was accepted.
    pub fn all() -> Self {
        Accepted::default()
    }

    /// Partial success: `rejected` items were refused, for the reason in `message`.
    pub fn partial(rejected: u64, message: impl Into<String>) -> Self {
        Accepted {
            rejected,
            message: message.into(),
        }
    }
}

/// Why a sink refused a whole batch. Each variant maps to an OTLP status:
///
/// | variant | HTTP | gRPC | client retries |
/// | --- | --- | --- | --- |
/// | `Invalid` | 400 | `INVALID_ARGUMENT` | no |
/// | `Unauthenticated` | 401 | `UNAUTHENTICATED` | no |
/// | `PermissionDenied` | 403 | `PERMISSION_DENIED` | no |
/// | `Throttled` | 429 + `Retry-After` | `RESOURCE_EXHAUSTED` + `RetryInfo` | yes |
/// | `Unavailable` | 503 (+ `Retry-After`) | `UNAVAILABLE` (+ `RetryInfo`) | yes |
/// | `Internal` | 500 | `INTERNAL` | no |
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkError {
    /// The data is not acceptable; the message is sent to the client.
    Invalid(String),
    /// No or unknown credentials.
    Unauthenticated,
    /// The credentials do not allow this.
    PermissionDenied,
    /// This receiver does not serve the data's owner (its data is kept in a region this
    /// node does not serve); the message, which names where to send it, goes to the client.
    Misdirected(String),
    /// Too much data: the client should retry later.
    Throttled {
        /// How long the client should wait; `None` lets the receiver pick
        /// ([`DEFAULT_THROTTLE_RETRY_AFTER`](crate::DEFAULT_THROTTLE_RETRY_AFTER)).
        retry_after: Option<Duration>,
    },
    /// The sink cannot take data right now (queue full, disk unavailable, shutting down).
    Unavailable {
        /// How long the client should wait, if known.
        retry_after: Option<Duration>,
    },
    /// A bug or unexpected failure. The message is logged, never sent to the client.
    Internal(String),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Invalid(m) => write!(f, "invalid data: {m}"),
            SinkError::Unauthenticated => f.write_str("unauthenticated"),
            SinkError::PermissionDenied => f.write_str("permission denied"),
            SinkError::Misdirected(m) => write!(f, "misdirected: {m}"),
            SinkError::Throttled { .. } => f.write_str("throttled"),
            SinkError::Unavailable { .. } => f.write_str("unavailable"),
            SinkError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for SinkError {}

/// Where receivers deliver batches: the agent's disk queue, the server's WAL, a test vector.
///
/// Receivers call `consume` once per request, with a batch that decoded and passed the
/// [`Limits`](crate::Limits). Return `Ok` only once the data is durable: the client is told
/// it was delivered and will not send it again. Authentication and redaction are the sink's
/// job (it sees the [`RequestContext`]).
pub trait Sink: Send + Sync + 'static {
    /// Takes one batch.
    fn consume(
        &self,
        batch: Batch,
        ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>>;

    /// The capture policy this sink applies to every trace request, when it is one policy
    /// for all of them (the agent's). With `Some`, the receivers apply it to protobuf
    /// trace requests (OTLP/HTTP protobuf and OTLP/gRPC) themselves as they decode and
    /// check them, on the wire format
    /// ([`wire`](crate::wire): no `prost` structures are built), and hands the result to
    /// [`Sink::consume_redacted_traces`] instead of [`Sink::consume`]. Default `None`.
    fn trace_policy(&self) -> Option<Arc<Redactor>> {
        None
    }

    /// Takes one trace request that passed the limits and was redacted with
    /// [`Sink::trace_policy`]'s policy, encoded, with at least one span. Called only when
    /// `trace_policy` gives a policy; the default refuses (500).
    fn consume_redacted_traces(
        &self,
        traces: RedactedTraces,
        ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
        let _ = (traces, ctx);
        Box::pin(async {
            Err(SinkError::Internal(
                "this sink takes no redacted trace requests".into(),
            ))
        })
    }
}
