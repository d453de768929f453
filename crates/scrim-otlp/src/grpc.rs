//! The OTLP/gRPC receiver (tonic).

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status};

use crate::http::merge;
use crate::limits::check;
use crate::model::{Accepted, Batch, Credential, RequestContext, Sink, SinkError, Transport};
use crate::proto::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse, RpcStatus,
};
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
/// with `RESOURCE_EXHAUSTED` by tonic while reading. Serve with
/// `tonic::transport::Server::builder().add_routes(..)`, or merge into an axum router with
/// `Routes::into_axum_router`.
pub fn grpc_router(sink: Arc<dyn Sink>, limits: Limits) -> tonic::service::Routes {
    let receiver = GrpcReceiver { sink, limits };
    let max = limits.max_decompressed_bytes;
    let routes = tonic::service::Routes::new(
        TraceServiceServer::new(receiver.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max),
    )
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
        let ascii = |key: &str| {
            metadata
                .get(key)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let ctx = RequestContext {
            authorization: ascii("authorization").map(Credential::new),
            peer,
            user_agent: ascii("user-agent"),
            transport: Transport::Grpc,
        };
        let accepted = if batch.item_count() == 0 {
            Accepted::all()
        } else {
            self.sink.consume(batch, ctx).await.map_err(sink_status)?
        };
        Ok(merge(checked, accepted))
    }
}

fn partial<T>(rejected: u64, message: String, make: impl FnOnce(i64, String) -> T) -> Option<T> {
    (rejected > 0 || !message.is_empty())
        .then(|| make(i64::try_from(rejected).unwrap_or(i64::MAX), message))
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let peer = request.remote_addr();
        let (metadata, _, message) = request.into_parts();
        let (rejected, msg) =
            GrpcReceiver::export(self, Batch::Traces(message), &metadata, peer).await?;
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
