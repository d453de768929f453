//! OTLP/gRPC receiver: a tonic client round trip, metadata, error codes and RetryInfo.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use scrim_otlp::proto::*;
use scrim_otlp::{Accepted, Batch, Limits, Receivers, ReceiversConfig, Sink, SinkError, Transport};
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

async fn start(sink: Arc<dyn Sink>, limits: Limits) -> (Receivers, Channel) {
    let config = ReceiversConfig {
        http: None,
        limits,
        ..ReceiversConfig::loopback_ephemeral()
    };
    let receivers = Receivers::start(config, sink).await.unwrap();
    let addr = receivers.grpc_addr().unwrap();
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (receivers, channel)
}

async fn channel_of(receivers: &Receivers) -> Channel {
    let addr = receivers.grpc_addr().unwrap();
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn with_auth<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", "Bearer grpc-secret".parse().unwrap());
    request
}

#[tokio::test]
async fn round_trip_for_each_signal_with_metadata() {
    let sink = TestSink::new();
    let (receivers, channel) = start(sink.clone(), Limits::default()).await;
    let reply = TraceServiceClient::new(channel.clone())
        .send_compressed(CompressionEncoding::Gzip)
        .export(with_auth(traces(3)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.partial_success, None);
    LogsServiceClient::new(channel.clone())
        .export(with_auth(logs(2)))
        .await
        .unwrap();
    MetricsServiceClient::new(channel)
        .export(with_auth(metrics(4)))
        .await
        .unwrap();
    assert_eq!(
        sink.batches(),
        vec![
            Batch::Traces(traces(3)),
            Batch::Logs(logs(2)),
            Batch::Metrics(metrics(4))
        ]
    );
    for ctx in sink.contexts() {
        assert_eq!(
            ctx.authorization.as_ref().unwrap().expose(),
            "Bearer grpc-secret"
        );
        assert!(ctx.user_agent.as_deref().unwrap_or("").contains("tonic"));
        assert!(ctx.peer.is_some());
        assert_eq!(ctx.transport, Transport::Grpc);
    }
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn partial_success_is_reported() {
    let sink = TestSink::scripted([Ok(Accepted::partial(1, "one log record refused"))]);
    let (receivers, channel) = start(sink, Limits::default()).await;
    let reply = LogsServiceClient::new(channel)
        .export(logs(3))
        .await
        .unwrap()
        .into_inner();
    let partial = reply.partial_success.unwrap();
    assert_eq!(partial.rejected_log_records, 1);
    assert_eq!(partial.error_message, "one log record refused");
    receivers.shutdown().await.unwrap();
}

fn retry_delay(status: &tonic::Status) -> Option<Duration> {
    RpcStatus::decode(status.details()).ok()?.retry_delay()
}

#[tokio::test]
async fn sink_errors_map_to_grpc_codes() {
    let sink = TestSink::scripted([
        Err(SinkError::Invalid("bad tenant data".into())),
        Err(SinkError::Unauthenticated),
        Err(SinkError::PermissionDenied),
        Err(SinkError::Misdirected("served in region eu".into())),
        Err(SinkError::Throttled {
            retry_after: Some(Duration::from_secs(4)),
        }),
        Err(SinkError::Throttled { retry_after: None }),
        Err(SinkError::Unavailable {
            retry_after: Some(Duration::from_millis(2500)),
        }),
        Err(SinkError::Unavailable { retry_after: None }),
        Err(SinkError::Internal("secret path /etc/x".into())),
    ]);
    let (receivers, channel) = start(sink.clone(), Limits::default()).await;
    let mut client = TraceServiceClient::new(channel);
    let expected = [
        (Code::InvalidArgument, None),
        (Code::Unauthenticated, None),
        (Code::PermissionDenied, None),
        (Code::FailedPrecondition, None),
        (Code::ResourceExhausted, Some(Duration::from_secs(4))),
        (Code::ResourceExhausted, Some(Duration::from_secs(1))),
        (Code::Unavailable, Some(Duration::from_millis(2500))),
        (Code::Unavailable, None),
        (Code::Internal, None),
    ];
    for (code, delay) in expected {
        let status = client.export(traces(1)).await.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        assert_eq!(retry_delay(&status), delay, "{code:?}");
        assert!(!status.message().contains("/etc"));
    }
    assert_eq!(sink.calls(), 9);
    assert!(sink.batches().is_empty());
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_and_oversize_requests_never_reach_the_sink() {
    let sink = TestSink::new();
    let limits = Limits {
        max_decompressed_bytes: 4096,
        ..Limits::default()
    };
    let (receivers, channel) = start(sink.clone(), limits).await;
    let mut client = TraceServiceClient::new(channel).send_compressed(CompressionEncoding::Gzip);
    let mut req = traces(1);
    req.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![1; 3];
    let status = client.export(req).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("trace_id must be 16 bytes"),
        "{}",
        status.message()
    );

    // Compresses to far below 4 KiB, inflates past it.
    let mut big = traces(1);
    big.resource_spans[0].scope_spans[0].spans[0].name = "a".repeat(100_000);
    let status = client.export(big.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(retry_delay(&status), None);

    // Uncompressed: tonic's own OUT_OF_RANGE (retryable in OTLP) is answered as
    // RESOURCE_EXHAUSTED without RetryInfo (not retryable).
    let mut plain = TraceServiceClient::new(channel_of(&receivers).await);
    let status = plain.export(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(retry_delay(&status), None);
    assert_eq!(sink.calls(), 0);
    receivers.shutdown().await.unwrap();
}
