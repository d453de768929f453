//! The OTLP/HTTP receiver (axum).

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;

use crate::limits::{Checked, check};
use crate::model::{
    Accepted, Batch, Credential, RequestContext, Signal, Sink, SinkError, Transport,
};
use crate::proto::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse, RpcStatus,
};
use crate::wire::{self, RedactedTraces};
use crate::{DEFAULT_THROTTLE_RETRY_AFTER, Limits, json};
use scrim_redact::Redactor;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// `google.rpc.Code` values used in error bodies.
mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const UNAUTHENTICATED: i32 = 16;
    pub const UNAVAILABLE: i32 = 14;
    pub const INTERNAL: i32 = 13;
}

struct HttpState {
    sink: Arc<dyn Sink>,
    limits: Limits,
}

/// The OTLP/HTTP receiver: `POST /v1/traces`, `/v1/logs` and `/v1/metrics`.
///
/// Bodies are `application/x-protobuf` or `application/json` (415 otherwise), with
/// `Content-Encoding` `gzip` or `identity` (415 otherwise). The answer is in the request's
/// encoding: 200 with an `Export*ServiceResponse` (partial success when items were
/// rejected), or an error status with a `google.rpc.Status` body; see the crate
/// documentation for the status table. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` for the sink to see peer addresses.
pub fn http_router(sink: Arc<dyn Sink>, limits: Limits) -> Router {
    let state = Arc::new(HttpState { sink, limits });
    Router::new()
        .route(
            Signal::Traces.http_path(),
            post(|st: State<Arc<HttpState>>, req: Request| handle(st, Signal::Traces, req)),
        )
        .route(
            Signal::Logs.http_path(),
            post(|st: State<Arc<HttpState>>, req: Request| handle(st, Signal::Logs, req)),
        )
        .route(
            Signal::Metrics.http_path(),
            post(|st: State<Arc<HttpState>>, req: Request| handle(st, Signal::Metrics, req)),
        )
        .with_state(state)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF,
            Encoding::Json => JSON,
        }
    }
}

/// An error answer: status, `google.rpc` code, message, optional Retry-After.
struct Failure {
    status: StatusCode,
    code: i32,
    message: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn new(status: StatusCode, code: i32, message: impl Into<String>) -> Self {
        Failure {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, code::INVALID_ARGUMENT, message)
    }

    fn too_large(message: impl Into<String>) -> Self {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::RESOURCE_EXHAUSTED,
            message,
        )
    }

    fn into_response(self, encoding: Encoding) -> Response {
        let body = match encoding {
            Encoding::Protobuf => RpcStatus {
                code: self.code,
                message: self.message,
                details: Vec::new(),
            }
            .encode_to_vec(),
            Encoding::Json => serde_json::json!({ "code": self.code, "message": self.message })
                .to_string()
                .into_bytes(),
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, encoding.content_type())],
            body,
        )
            .into_response();
        if let Some(after) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
        }
        response
    }
}

/// Seconds for a `Retry-After` header: rounded up, at least 1.
fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

fn sink_failure(e: SinkError) -> Failure {
    match e {
        SinkError::Invalid(m) => Failure::bad_request(m),
        SinkError::Unauthenticated => Failure::new(
            StatusCode::UNAUTHORIZED,
            code::UNAUTHENTICATED,
            "unauthenticated",
        ),
        SinkError::PermissionDenied => Failure::new(
            StatusCode::FORBIDDEN,
            code::PERMISSION_DENIED,
            "permission denied",
        ),
        SinkError::Misdirected(m) => Failure::new(
            StatusCode::MISDIRECTED_REQUEST,
            code::FAILED_PRECONDITION,
            m,
        ),
        SinkError::Throttled { retry_after } => Failure {
            retry_after: Some(retry_after.unwrap_or(DEFAULT_THROTTLE_RETRY_AFTER)),
            ..Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                code::RESOURCE_EXHAUSTED,
                "too many requests, retry later",
            )
        },
        SinkError::Unavailable { retry_after } => Failure {
            retry_after,
            ..Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                "service unavailable, retry later",
            )
        },
        SinkError::Internal(detail) => {
            tracing::error!(error = %detail, "OTLP/HTTP sink failed");
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "internal error",
            )
        }
    }
}

fn media_type(headers: &HeaderMap) -> Option<Encoding> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case(PROTOBUF) {
        Some(Encoding::Protobuf)
    } else if essence.eq_ignore_ascii_case(JSON) {
        Some(Encoding::Json)
    } else {
        None
    }
}

async fn handle(State(state): State<Arc<HttpState>>, signal: Signal, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(encoding) = media_type(&parts.headers) else {
        return Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::INVALID_ARGUMENT,
            "unsupported Content-Type: use application/x-protobuf or application/json",
        )
        .into_response(Encoding::Protobuf);
    };
    match receive(
        &state,
        signal,
        encoding,
        &parts.headers,
        &parts.extensions,
        body,
    )
    .await
    {
        Ok(response) => response,
        Err(failure) => failure.into_response(encoding),
    }
}

async fn receive(
    state: &HttpState,
    signal: Signal,
    encoding: Encoding,
    headers: &HeaderMap,
    extensions: &http::Extensions,
    body: Body,
) -> Result<Response, Failure> {
    let limits = state.limits;
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("identity") || v.trim().is_empty() => false,
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("gzip") => true,
        Some(_) => {
            return Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code::INVALID_ARGUMENT,
                "unsupported Content-Encoding: use gzip or identity",
            ));
        }
    };
    let too_large = || {
        Failure::too_large(format!(
            "request body exceeds {} bytes",
            limits.max_body_bytes
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let collect = Limited::new(body, limits.max_body_bytes).collect();
    let raw = match tokio::time::timeout(limits.body_read_timeout, collect).await {
        Err(_) => {
            return Err(Failure::new(
                StatusCode::REQUEST_TIMEOUT,
                code::DEADLINE_EXCEEDED,
                "the request body did not arrive in time",
            ));
        }
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Ok(Err(_)) => return Err(Failure::bad_request("could not read the request body")),
    };

    // A sink with one policy for every trace request has protobuf ones redacted here, on
    // the wire format, as they are decoded.
    let policy = if signal == Signal::Traces && encoding == Encoding::Protobuf {
        state.sink.trace_policy()
    } else {
        None
    };
    // Inflating and decoding are CPU work proportional to the body: off the async workers.
    let decoded = tokio::task::spawn_blocking(move || {
        prepare(signal, encoding, gzip, raw, &limits, policy.as_deref())
    })
    .await
    .map_err(|_| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "internal error",
        )
    })?;

    let ctx = RequestContext {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(Credential::new),
        peer: extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        transport: match encoding {
            Encoding::Protobuf => Transport::HttpProtobuf,
            Encoding::Json => Transport::HttpJson,
        },
    };
    let (accepted, checked) = match decoded? {
        Prepared::Batch(batch, checked) if batch.item_count() > 0 => (
            state.sink.consume(batch, ctx).await.map_err(sink_failure)?,
            checked,
        ),
        Prepared::Redacted(traces) if traces.spans > 0 => (
            state
                .sink
                .consume_redacted_traces(traces, ctx)
                .await
                .map_err(sink_failure)?,
            Checked::default(),
        ),
        Prepared::Batch(_, checked) => (Accepted::all(), checked),
        Prepared::Redacted(_) => (Accepted::all(), Checked::default()),
    };
    let (rejected, message) = merge(checked, accepted);
    Ok(success(signal, encoding, rejected, message))
}

/// A request ready for the sink.
enum Prepared {
    /// Decoded and checked.
    Batch(Batch, Checked),
    /// A protobuf trace request, checked and redacted with the sink's policy (the limits
    /// reject no spans: they only cut values and attributes, or refuse the request).
    Redacted(RedactedTraces),
}

/// Inflates (with a cap), decodes and checks a body; with `policy`, also redacts it.
fn prepare(
    signal: Signal,
    encoding: Encoding,
    gzip: bool,
    raw: Bytes,
    limits: &Limits,
    policy: Option<&Redactor>,
) -> Result<Prepared, Failure> {
    let body = if gzip {
        Bytes::from(gunzip(&raw, limits.max_decompressed_bytes)?)
    } else {
        if raw.len() > limits.max_decompressed_bytes {
            return Err(Failure::too_large(format!(
                "request body exceeds {} bytes",
                limits.max_decompressed_bytes
            )));
        }
        raw
    };
    if let Some(r) = policy {
        return wire::redact_traces_protobuf(&body, r, limits)
            .map(Prepared::Redacted)
            .map_err(|e| Failure::bad_request(e.to_string()));
    }
    let mut batch = match encoding {
        Encoding::Protobuf => decode_protobuf(signal, &body)?,
        Encoding::Json => json::decode(signal, &body).map_err(Failure::bad_request)?,
    };
    let checked = check(&mut batch, limits).map_err(Failure::bad_request)?;
    Ok(Prepared::Batch(batch, checked))
}

/// Inflates a gzip body, refusing (413) as soon as the output passes `max` bytes: never
/// more than `max + 1` bytes are produced.
pub(crate) fn gunzip_capped(raw: &[u8], max: usize) -> Result<Vec<u8>, GunzipError> {
    let decoder = flate2::read::MultiGzDecoder::new(raw);
    let mut out = Vec::new();
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    decoder
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|_| GunzipError::Corrupt)?;
    if out.len() > max {
        return Err(GunzipError::TooLarge);
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GunzipError {
    Corrupt,
    TooLarge,
}

fn gunzip(raw: &[u8], max: usize) -> Result<Vec<u8>, Failure> {
    gunzip_capped(raw, max).map_err(|e| match e {
        GunzipError::Corrupt => Failure::bad_request("invalid gzip body"),
        GunzipError::TooLarge => {
            Failure::too_large(format!("decompressed request body exceeds {max} bytes"))
        }
    })
}

fn decode_protobuf(signal: Signal, body: &[u8]) -> Result<Batch, Failure> {
    let describe = |e: prost::DecodeError| {
        // prost's message names the message and field and the kind of problem, never data.
        Failure::bad_request(format!("invalid protobuf: {e}"))
    };
    Ok(match signal {
        Signal::Traces => Batch::Traces(ExportTraceServiceRequest::decode(body).map_err(describe)?),
        Signal::Logs => Batch::Logs(ExportLogsServiceRequest::decode(body).map_err(describe)?),
        Signal::Metrics => {
            Batch::Metrics(ExportMetricsServiceRequest::decode(body).map_err(describe)?)
        }
    })
}

/// Adds the receiver's own rejections to the sink's.
pub(crate) fn merge(checked: Checked, accepted: Accepted) -> (u64, String) {
    let rejected = checked.rejected.saturating_add(accepted.rejected);
    let message = match (checked.message.is_empty(), accepted.message.is_empty()) {
        (true, _) => accepted.message,
        (false, true) => checked.message,
        (false, false) => format!("{}; {}", checked.message, accepted.message),
    };
    (rejected, message)
}

fn success(signal: Signal, encoding: Encoding, rejected: u64, message: String) -> Response {
    let partial = rejected > 0 || !message.is_empty();
    let rejected = i64::try_from(rejected).unwrap_or(i64::MAX);
    let body = match signal {
        Signal::Traces => encode(
            encoding,
            &ExportTraceServiceResponse {
                partial_success: partial.then_some(ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: message,
                }),
            },
        ),
        Signal::Logs => encode(
            encoding,
            &ExportLogsServiceResponse {
                partial_success: partial.then_some(ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: message,
                }),
            },
        ),
        Signal::Metrics => encode(
            encoding,
            &ExportMetricsServiceResponse {
                partial_success: partial.then_some(ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: message,
                }),
            },
        ),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

fn encode<T: Message + serde::Serialize>(encoding: Encoding, message: &T) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => message.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(message).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gunzip_stops_at_the_cap() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&vec![0u8; 1_000_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip_capped(&gz, 999_999), Err(GunzipError::TooLarge));
        assert_eq!(gunzip_capped(&gz, 1_000_000).unwrap().len(), 1_000_000);
        assert_eq!(gunzip_capped(b"not gzip", 10), Err(GunzipError::Corrupt));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(7)), 7);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }

    #[test]
    fn content_types_are_matched_on_their_essence() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert_eq!(media_type(&h), Some(Encoding::Json));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        assert_eq!(media_type(&h), Some(Encoding::Protobuf));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(media_type(&h), None);
    }
}
