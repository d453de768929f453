//! OTLP receivers and exporter, shared by `scrim agent` and `scrim serve`.
//!
//! ```text
//! OTel SDK ──OTLP/gRPC :4317──▶ grpc_router ─┐
//!          ──OTLP/HTTP :4318──▶ http_router ─┴─▶ decode ▸ limits ▸ Sink::consume(Batch, RequestContext)
//!                                                         (caller: authenticate ▸ redact ▸ queue/WAL)
//! Batch ──▶ Exporter::export ──OTLP/gRPC or OTLP/HTTP protobuf, TLS, retries──▶ upstream
//! ```
//!
//! This crate knows nothing about storage or tenants, and its receivers do not redact on
//! their own: [`redact`] applies a capture policy to a whole request, and the caller's sink
//! calls it before anything is queued, written or forwarded. A sink with one policy for
//! every request (the agent's) may instead give it to the receivers
//! ([`Sink::trace_policy`]): both receivers then apply it to protobuf trace requests
//! (OTLP/HTTP protobuf and OTLP/gRPC) on the wire format as they decode them ([`wire`]),
//! and the sink gets them
//! redacted and encoded ([`Sink::consume_redacted_traces`]). Receivers decode and
//! validate each request, then hand it as one [`Batch`] to a [`Sink`] the caller provides
//! (the agent's disk queue, the server's WAL), together with a [`RequestContext`]
//! (credentials, peer, user agent) for the caller to authenticate. The caller redacts inside
//! its sink and acknowledges only once the data is durable. Requests are all-or-nothing: a
//! request that does not decode or breaks a hard limit reaches the sink not at all.
//!
//! # Receivers
//!
//! - [`http_router`]: OTLP/HTTP, `POST /v1/traces`, `/v1/logs`, `/v1/metrics`, bodies
//!   `application/x-protobuf` or `application/json` (OTLP/JSON: hex ids, integer enums,
//!   64-bit integers as strings or numbers, unknown fields ignored), `Content-Encoding: gzip`
//!   or identity. Default address [`DEFAULT_HTTP_ADDR`].
//! - [`grpc_router`]: OTLP/gRPC trace, logs and metrics services (gzip accepted). Default
//!   address [`DEFAULT_GRPC_ADDR`].
//! - [`Receivers`]: binds both (port 0 works), reports the bound addresses, shuts down
//!   gracefully. With [`ReceiversConfig::tls`] both listeners speak TLS 1.2+ only (via
//!   `scrim_tls`); without it they are plain, and an address other than loopback is
//!   refused unless [`ReceiversConfig::allow_plaintext`] is set.
//!
//! ## Status codes
//!
//! Success is HTTP 200 with an `Export*ServiceResponse` in the request's encoding, or gRPC
//! `OK`. When items were rejected (by the [`Limits`] or the sink's [`Accepted::rejected`]),
//! the response carries partial success: `rejected_spans` / `rejected_log_records` /
//! `rejected_data_points` and `error_message`. A request without items succeeds without
//! reaching the sink. Errors carry a `google.rpc.Status` body (protobuf or JSON, as the
//! request) whose message says what was wrong without quoting the payload:
//!
//! | condition | HTTP | gRPC | retryable |
//! | --- | --- | --- | --- |
//! | undecodable protobuf / JSON / gzip, bad id length, value nested too deep | 400 | `INVALID_ARGUMENT` | no |
//! | `Content-Type` not protobuf or JSON, unknown `Content-Encoding` | 415 | — | no |
//! | body over `max_body_bytes`, or over `max_decompressed_bytes` once inflated | 413 | `RESOURCE_EXHAUSTED` (no `RetryInfo`) | no |
//! | body not received within `body_read_timeout` | 408 | — | no |
//! | [`SinkError::Invalid`] | 400 | `INVALID_ARGUMENT` | no |
//! | [`SinkError::Unauthenticated`] | 401 | `UNAUTHENTICATED` | no |
//! | [`SinkError::PermissionDenied`] | 403 | `PERMISSION_DENIED` | no |
//! | [`SinkError::Misdirected`] | 421 | `FAILED_PRECONDITION` | no |
//! | [`SinkError::Throttled`] | 429 + `Retry-After` | `RESOURCE_EXHAUSTED` + `RetryInfo` | yes |
//! | [`SinkError::Unavailable`] | 503 (+ `Retry-After` when known) | `UNAVAILABLE` (+ `RetryInfo`) | yes |
//! | [`SinkError::Internal`] | 500 (message not forwarded) | `INTERNAL` | no |
//!
//! ## Limits
//!
//! See [`Limits`] for the defaults and what happens when each is exceeded. In short: 16 MiB
//! per body as sent, 64 MiB once inflated (gzip is inflated as a stream and abandoned as
//! soon as it passes the cap), 128 attributes per item (excess dropped and counted in
//! `dropped_attributes_count`; a metric data point over the limit is rejected instead),
//! 16 KiB per string or bytes attribute value (truncated), `AnyValue` nesting 16 deep,
//! 30 s to receive an HTTP body.
//!
//! # Exporter
//!
//! [`Exporter`] sends a [`Batch`] over OTLP/gRPC or OTLP/HTTP protobuf, with rustls
//! (TLS 1.2 minimum, system roots or a given CA, optional client certificate), optional
//! gzip, and retries with exponential backoff and full jitter that honour `Retry-After`
//! and `RetryInfo`. Plain `http://` is refused unless [`ExporterConfig::allow_http`] is
//! set, and then each new plain connection logs a warning. [`ExportOutcome`] says whether
//! the batch was delivered, partially accepted, permanently rejected, or given up on.

mod encode;
mod exporter;
mod grpc;
mod http;
pub mod json;
mod limits;
mod model;
pub mod proto;
mod receivers;
pub mod redact;
pub mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

pub use exporter::{
    ClientIdentity, ExportOutcome, Exporter, ExporterConfig, ExporterError, Protocol, RetryPolicy,
    Sleeper, TokioSleeper, backoff_ceiling, next_delay, parse_retry_after,
};
pub use grpc::grpc_router;
pub use http::http_router;
pub use limits::Limits;
pub use model::{
    Accepted, Batch, BoxFuture, Credential, RequestContext, Signal, Sink, SinkError, Transport,
};
pub use receivers::{Receivers, ReceiversConfig};

/// Default OTLP/gRPC listen address, `127.0.0.1:4317` (loopback: exposing it is a choice).
pub const DEFAULT_GRPC_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4317);

/// Default OTLP/HTTP listen address, `127.0.0.1:4318`.
pub const DEFAULT_HTTP_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4318);

/// The `Retry-After` / `RetryInfo` delay sent when a sink reports
/// [`SinkError::Throttled`] without one: 1 second.
pub const DEFAULT_THROTTLE_RETRY_AFTER: Duration = Duration::from_secs(1);
