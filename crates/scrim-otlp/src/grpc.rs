//! The OTLP/gRPC receiver (tonic).

use std::sync::Arc;

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Body, BoxFuture, Context, EnabledCompressionEncodings, Poll, StdError};
use tonic::{Code, Request, Response, Status};

use crate::http::merge;
use crate::limits::{Checked, check};
use crate::model::{Accepted, Batch, Credential, RequestContext, Sink, SinkError, Transport};
use crate::proto::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse, RpcStatus,
};
use crate::wire::{self, TracesError};
use crate::{DEFAULT_THROTTLE_RETRY_AFTER, Limits};

#[derive(Clone)]
struct GrpcReceiver {
    sink: Arc<dyn Sink>,
    limits: Limits,
}

/// The OTLP/gRPC receiver: `TraceService`, `LogsService` and `MetricsService` `Export`.
///
/// Accepts gzip-compressed messages, answers gzip when the client accepts it. Messages
/// larger than `limits.max_decompressed_bytes` (compressed, or once inflated) are refused
/// with `RESOURCE_EXHAUSTED` by tonic while reading.
///
/// Trace requests reach the handler as their protobuf bytes ([`TraceServer`]): with a sink
/// that has one [`Sink::trace_policy`] (the agent), they take the same wire-format path as
/// OTLP/HTTP protobuf ([`wire::redact_traces_protobuf`], no `prost` structures built) and
/// go to [`Sink::consume_redacted_traces`]; with any other sink they are decoded and go to
/// [`Sink::consume`] as before. Both answer a request tonic's `prost` codec would have
/// refused with the same status (`INTERNAL` with `prost`'s message). Serve with
/// `tonic::transport::Server::builder().add_routes(..)`, or merge into an axum router with
/// `Routes::into_axum_router`.
pub fn grpc_router(sink: Arc<dyn Sink>, limits: Limits) -> tonic::service::Routes {
    let receiver = GrpcReceiver { sink, limits };
    let max = limits.max_decompressed_bytes;
    let mut gzip = EnabledCompressionEncodings::default();
    gzip.enable(CompressionEncoding::Gzip);
    let routes = tonic::service::Routes::new(TraceServer {
        receiver: Arc::new(receiver.clone()),
        compression: gzip,
        max_decoding_message_size: max,
    })
    .add_service(
        LogsServiceServer::new(receiver.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max),
    )
    .add_service(
        MetricsServiceServer::new(receiver)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max),
    );
    let router = routes
        .into_axum_router()
        .layer(tower::util::MapResponseLayer::new(
            oversize_is_resource_exhausted,
        ));
    tonic::service::Routes::from(router)
}

/// tonic refuses a message over `max_decoding_message_size` with `OUT_OF_RANGE`, which the
/// OTLP specification lists as retryable: a client would resend the same oversize request
/// forever. Such a refusal becomes `RESOURCE_EXHAUSTED` without `RetryInfo` (not
/// retryable), as the OpenTelemetry Collector answers. The handlers here never return
/// `OUT_OF_RANGE` themselves, and tonic's refusal is a trailers-only response (the status
/// is in the headers), so rewriting the header is enough.
fn oversize_is_resource_exhausted(
    mut response: axum::response::Response,
) -> axum::response::Response {
    const OUT_OF_RANGE: &str = "11";
    const RESOURCE_EXHAUSTED: http::HeaderValue = http::HeaderValue::from_static("8");
    if response
        .headers()
        .get("grpc-status")
        .is_some_and(|v| v == OUT_OF_RANGE)
    {
        response
            .headers_mut()
            .insert("grpc-status", RESOURCE_EXHAUSTED);
    }
    response
}

/// The gRPC status for a sink error (see [`SinkError`] for the table).
pub(crate) fn sink_status(e: SinkError) -> Status {
    match e {
        SinkError::Invalid(m) => Status::invalid_argument(m),
        SinkError::Unauthenticated => Status::unauthenticated("unauthenticated"),
        SinkError::PermissionDenied => Status::permission_denied("permission denied"),
        SinkError::Misdirected(m) => Status::failed_precondition(m),
        SinkError::Throttled { retry_after } => with_retry_info(
            Code::ResourceExhausted,
            "too many requests, retry later",
            Some(retry_after.unwrap_or(DEFAULT_THROTTLE_RETRY_AFTER)),
        ),
        SinkError::Unavailable { retry_after } => with_retry_info(
            Code::Unavailable,
            "service unavailable, retry later",
            retry_after,
        ),
        SinkError::Internal(detail) => {
            tracing::error!(error = %detail, "OTLP/gRPC sink failed");
            Status::internal("internal error")
        }
    }
}

fn with_retry_info(code: Code, message: &str, delay: Option<std::time::Duration>) -> Status {
    match delay {
        None => Status::new(code, message),
        Some(delay) => {
            let details =
                RpcStatus::with_retry_delay(code as i32, message.to_owned(), delay).encode_to_vec();
            Status::with_details(code, message, details.into())
        }
    }
}

impl GrpcReceiver {
    async fn export(
        &self,
        mut batch: Batch,
        metadata: &tonic::metadata::MetadataMap,
        peer: Option<std::net::SocketAddr>,
    ) -> Result<(u64, String), Status> {
        let checked = check(&mut batch, &self.limits).map_err(Status::invalid_argument)?;
        let ctx = context(metadata, peer);
        let accepted = if batch.item_count() == 0 {
            Accepted::all()
        } else {
            self.sink.consume(batch, ctx).await.map_err(sink_status)?
        };
        Ok(merge(checked, accepted))
    }
}

fn context(
    metadata: &tonic::metadata::MetadataMap,
    peer: Option<std::net::SocketAddr>,
) -> RequestContext {
    let ascii = |key: &str| {
        metadata
            .get(key)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    RequestContext {
        authorization: ascii("authorization").map(Credential::new),
        peer,
        user_agent: ascii("user-agent"),
        transport: Transport::Grpc,
    }
}

fn partial<T>(rejected: u64, message: String, make: impl FnOnce(i64, String) -> T) -> Option<T> {
    (rejected > 0 || !message.is_empty())
        .then(|| make(i64::try_from(rejected).unwrap_or(i64::MAX), message))
}

/// The gRPC path of `TraceService/Export`.
const TRACE_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// `opentelemetry.proto.collector.trace.v1.TraceService` as the generated
/// `TraceServiceServer` serves it (same route, compression and size limit), but with
/// [`RawTraceCodec`]: the handler gets the request's protobuf bytes, inflated and
/// size-checked by tonic, not a decoded `ExportTraceServiceRequest`.
#[derive(Clone)]
struct TraceServer {
    receiver: Arc<GrpcReceiver>,
    compression: EnabledCompressionEncodings,
    max_decoding_message_size: usize,
}

impl tonic::server::NamedService for TraceServer {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> tower::Service<http::Request<B>> for TraceServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != TRACE_EXPORT {
            // As the generated server answers an unknown method of its service.
            return Box::pin(async {
                let mut response = http::Response::new(tonic::body::Body::default());
                let headers = response.headers_mut();
                headers.insert(Status::GRPC_STATUS, (Code::Unimplemented as i32).into());
                headers.insert(
                    http::header::CONTENT_TYPE,
                    tonic::metadata::GRPC_CONTENT_TYPE,
                );
                Ok(response)
            });
        }
        let method = ExportTraces(Arc::clone(&self.receiver));
        let mut grpc = tonic::server::Grpc::new(RawTraceCodec)
            .apply_compression_config(self.compression, self.compression)
            .apply_max_message_size_config(Some(self.max_decoding_message_size), None);
        Box::pin(async move { Ok(grpc.unary(method, req).await) })
    }
}

/// Requests as bytes (tonic has inflated them and checked their size), responses encoded
/// with `prost`.
#[derive(Debug, Clone, Copy, Default)]
struct RawTraceCodec;

impl Codec for RawTraceCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = RawTraceCodec;
    type Decoder = RawTraceCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawTraceCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawTraceCodec
    }
}

impl Encoder for RawTraceCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // The buffer grows as needed: encoding cannot run out of room.
        item.encode(buf)
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    }
}

impl Decoder for RawTraceCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        // The message's bytes, split off tonic's buffer without a copy.
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}

struct ExportTraces(Arc<GrpcReceiver>);

impl tonic::server::UnaryService<Bytes> for ExportTraces {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Response<ExportTraceServiceResponse>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let receiver = Arc::clone(&self.0);
        Box::pin(async move { receiver.export_traces(request).await })
    }
}

/// The status tonic's `prost` codec gives a message that does not decode.
fn decode_status(e: &prost::DecodeError) -> Status {
    Status::internal(e.to_string())
}

impl GrpcReceiver {
    async fn export_traces(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let peer = request.remote_addr();
        let (metadata, _, body) = request.into_parts();
        let (rejected, msg) = match self.sink.trace_policy() {
            Some(policy) => {
                // Walking (or decoding) and redacting are CPU work proportional to the
                // request: off the async workers, as on OTLP/HTTP.
                let limits = self.limits;
                let redacted = tokio::task::spawn_blocking(move || {
                    wire::redact_traces_protobuf(&body, &policy, &limits)
                })
                .await
                .map_err(|_| Status::internal("internal error"))?
                .map_err(|e| match e {
                    TracesError::Decode(e) => decode_status(&e),
                    TracesError::Limits(m) => Status::invalid_argument(m),
                })?;
                // The limits cut values and attributes, or refuse the request; they never
                // reject spans, so there is nothing to add to the sink's answer.
                let accepted = if redacted.spans == 0 {
                    Accepted::all()
                } else {
                    self.sink
                        .consume_redacted_traces(redacted, context(&metadata, peer))
                        .await
                        .map_err(sink_status)?
                };
                merge(Checked::default(), accepted)
            }
            None => {
                let message =
                    ExportTraceServiceRequest::decode(body).map_err(|e| decode_status(&e))?;
                GrpcReceiver::export(self, Batch::Traces(message), &metadata, peer).await?
            }
        };
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: partial(rejected, msg, |rejected_spans, error_message| {
                ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                }
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let peer = request.remote_addr();
        let (metadata, _, message) = request.into_parts();
        let (rejected, msg) =
            GrpcReceiver::export(self, Batch::Logs(message), &metadata, peer).await?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: partial(rejected, msg, |rejected_log_records, error_message| {
                ExportLogsPartialSuccess {
                    rejected_log_records,
                    error_message,
                }
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let peer = request.remote_addr();
        let (metadata, _, message) = request.into_parts();
        let (rejected, msg) =
            GrpcReceiver::export(self, Batch::Metrics(message), &metadata, peer).await?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: partial(rejected, msg, |rejected_data_points, error_message| {
                ExportMetricsPartialSuccess {
                    rejected_data_points,
                    error_message,
                }
            }),
        }))
    }
}
