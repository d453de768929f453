//! OTLP/HTTP receiver: encodings, compression, status codes, limits, partial success.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::StatusCode;
use prost::Message;
use scrim_otlp::proto::*;
use scrim_otlp::{
    Accepted, Batch, Limits, Receivers, ReceiversConfig, Signal, Sink, SinkError, Transport,
};

const PB: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

async fn start(sink: Arc<dyn Sink>, limits: Limits) -> (Receivers, std::net::SocketAddr) {
    let config = ReceiversConfig {
        grpc: None,
        limits,
        ..ReceiversConfig::loopback_ephemeral()
    };
    let receivers = Receivers::start(config, sink).await.unwrap();
    let addr = receivers.http_addr().unwrap();
    (receivers, addr)
}

fn rpc_status(body: &[u8]) -> RpcStatus {
    RpcStatus::decode(body).expect("a google.rpc.Status body")
}

#[tokio::test]
async fn protobuf_round_trip_for_each_signal_with_context() {
    let sink = TestSink::new();
    let (receivers, addr) = start(sink.clone(), Limits::default()).await;
    let sent = [
        Batch::Traces(traces(3)),
        Batch::Logs(logs(2)),
        Batch::Metrics(metrics(4)),
    ];
    for batch in &sent {
        let answer = post(
            addr,
            batch.signal().http_path(),
            &[
                PB,
                ("authorization", "Bearer tok-123"),
                ("user-agent", "test-agent/1"),
            ],
            batch.encode_to_vec(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.headers["content-type"], "application/x-protobuf");
        match batch.signal() {
            Signal::Traces => {
                let r = ExportTraceServiceResponse::decode(answer.body).unwrap();
                assert_eq!(r.partial_success, None);
            }
            Signal::Logs => {
                ExportLogsServiceResponse::decode(answer.body).unwrap();
            }
            Signal::Metrics => {
                ExportMetricsServiceResponse::decode(answer.body).unwrap();
            }
        }
    }
    assert_eq!(sink.batches(), sent.to_vec());
    assert_eq!(
        sent.iter().map(Batch::item_count).collect::<Vec<_>>(),
        vec![3, 2, 4]
    );
    for ctx in sink.contexts() {
        assert_eq!(
            ctx.authorization.as_ref().unwrap().expose(),
            "Bearer tok-123"
        );
        assert!(!format!("{ctx:?}").contains("tok-123"));
        assert_eq!(ctx.user_agent.as_deref(), Some("test-agent/1"));
        assert_eq!(ctx.peer.unwrap().ip(), addr.ip());
        assert_eq!(ctx.transport, Transport::HttpProtobuf);
    }
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn json_round_trip_answers_json() {
    let sink = TestSink::new();
    let (receivers, addr) = start(sink.clone(), Limits::default()).await;
    let batch = Batch::Traces(traces(2));
    let body = scrim_otlp::json::encode(&batch);
    let answer = post(
        addr,
        "/v1/traces",
        &[("content-type", "application/json; charset=utf-8")],
        body,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/json");
    let reply: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(reply.is_object(), "{reply}");
    assert_eq!(sink.batches(), vec![batch]);
    assert_eq!(sink.contexts()[0].transport, Transport::HttpJson);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn gzip_bodies_are_inflated_in_both_encodings() {
    let sink = TestSink::new();
    let (receivers, addr) = start(sink.clone(), Limits::default()).await;
    let batch = Batch::Logs(logs(5));
    let gz = gzip(&batch.encode_to_vec());
    let answer = post(addr, "/v1/logs", &[PB, ("content-encoding", "gzip")], gz).await;
    assert_eq!(answer.status, StatusCode::OK);
    let gz = gzip(&scrim_otlp::json::encode(&batch));
    let answer = post(addr, "/v1/logs", &[JSON, ("content-encoding", "gzip")], gz).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = post(
        addr,
        "/v1/logs",
        &[PB, ("content-encoding", "identity")],
        batch.encode_to_vec(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(sink.batches(), vec![batch.clone(), batch.clone(), batch]);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_bodies_are_400_with_a_status_and_nothing_is_sunk() {
    let sink = TestSink::new();
    let (receivers, addr) = start(sink.clone(), Limits::default()).await;
    // Field 1 (resource_spans) as a length-delimited value running past the end.
    let answer = post(addr, "/v1/traces", &[PB], vec![0x0a, 0x05, 0x01]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let status = rpc_status(&answer.body);
    assert_eq!(status.code, 3);
    assert!(
        status.message.starts_with("invalid protobuf"),
        "{}",
        status.message
    );

    let secret = "alice@example.com";
    let answer = post(
        addr,
        "/v1/traces",
        &[JSON],
        format!(r#"{{"resourceSpans": "{secret}"}}"#),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.headers["content-type"], "application/json");
    let status: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(status["code"], 3);
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("JSON does not match the OTLP schema"),
        "{message}"
    );
    assert!(!message.contains(secret), "{message}");

    let answer = post(addr, "/v1/traces", &[JSON], "{not json").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);

    let answer = post(
        addr,
        "/v1/logs",
        &[PB, ("content-encoding", "gzip")],
        "not gzip at all",
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(rpc_status(&answer.body).message, "invalid gzip body");

    // A well-formed request with one bad span id refuses the whole request.
    let mut req = traces(3);
    req.resource_spans[0].scope_spans[0].spans[2].span_id = vec![1, 2, 3];
    let answer = post(addr, "/v1/traces", &[PB], req.encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        rpc_status(&answer.body)
            .message
            .contains("span_id must be 8 bytes")
    );

    assert_eq!(sink.calls(), 0);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn unsupported_media_is_415_and_unknown_paths_404() {
    let sink = TestSink::new();
    let (receivers, addr) = start(sink.clone(), Limits::default()).await;
    let body = traces(1).encode_to_vec();
    let answer = post(
        addr,
        "/v1/traces",
        &[("content-type", "text/plain")],
        body.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let answer = post(addr, "/v1/traces", &[], body.clone()).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let answer = post(addr, "/v1/traces", &[PB, ("content-encoding", "br")], body).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let answer = post(addr, "/v1/nothing", &[PB], "").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(sink.calls(), 0);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversize_bodies_and_gzip_bombs_are_413() {
    let sink = TestSink::new();
    let limits = Limits {
        max_body_bytes: 256 * 1024,
        max_decompressed_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    let (receivers, addr) = start(sink.clone(), limits).await;

    let answer = post(addr, "/v1/traces", &[PB], vec![0u8; 256 * 1024 + 1]).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        rpc_status(&answer.body)
            .message
            .contains("exceeds 262144 bytes")
    );

    // 100 MiB of zeros: 100 gzip members of 1 MiB each (a valid multi-member gzip stream),
    // about 100 KiB, under the 256 KiB body limit. The receiver stops inflating past 8 MiB.
    let member = gzip(&vec![0u8; 1024 * 1024]);
    let bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 100)
        .collect();
    assert!(bomb.len() < 256 * 1024, "bomb is {} bytes", bomb.len());
    let answer = post(
        addr,
        "/v1/traces",
        &[PB, ("content-encoding", "gzip")],
        bomb,
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    let message = rpc_status(&answer.body).message;
    assert!(
        message.contains("decompressed request body exceeds 8388608 bytes"),
        "{message}"
    );

    assert_eq!(sink.calls(), 0);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn partial_success_from_the_sink_and_from_limits() {
    let sink = TestSink::scripted([Ok(Accepted::partial(2, "2 spans were too old"))]);
    let (receivers, addr) = start(sink.clone(), Limits::default()).await;
    let answer = post(addr, "/v1/traces", &[PB], traces(5).encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let partial = ExportTraceServiceResponse::decode(answer.body)
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert_eq!(partial.error_message, "2 spans were too old");

    // A data point over the attribute limit is removed and reported, in JSON too.
    let mut req = metrics(3);
    let Some(metric_data::Data::Sum(sum)) =
        &mut req.resource_metrics[0].scope_metrics[0].metrics[0].data
    else {
        unreachable!()
    };
    sum.data_points[1].attributes = (0..200).map(|i| string_kv(&format!("k{i}"), "v")).collect();
    let body = scrim_otlp::json::encode(&Batch::Metrics(req));
    let answer = post(addr, "/v1/metrics", &[JSON], body).await;
    assert_eq!(answer.status, StatusCode::OK);
    let reply: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    let rejected = &reply["partialSuccess"]["rejectedDataPoints"];
    assert!(rejected == 1 || rejected == "1", "{reply}");
    assert_eq!(sink.batches()[1].item_count(), 2);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn attributes_over_the_limits_are_trimmed_and_counted() {
    let sink = TestSink::new();
    let (receivers, addr) = start(sink.clone(), Limits::default()).await;
    let mut req = traces(1);
    let span = &mut req.resource_spans[0].scope_spans[0].spans[0];
    span.attributes = (0..130).map(|i| string_kv(&format!("k{i}"), "v")).collect();
    span.attributes[0] = string_kv("db.statement", &"x".repeat(20_000));
    let answer = post(addr, "/v1/traces", &[PB], req.encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let Batch::Traces(got) = &sink.batches()[0] else {
        unreachable!()
    };
    let span = &got.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.attributes.len(), 128);
    assert_eq!(span.dropped_attributes_count, 2);
    let Some(any_value::Value::StringValue(s)) = &span.attributes[0].value.as_ref().unwrap().value
    else {
        unreachable!()
    };
    assert_eq!(s.len(), 16 * 1024);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn sink_errors_map_to_statuses_with_retry_after() {
    let sink = TestSink::scripted([
        Err(SinkError::Throttled {
            retry_after: Some(Duration::from_secs(7)),
        }),
        Err(SinkError::Unavailable {
            retry_after: Some(Duration::from_millis(1500)),
        }),
        Err(SinkError::Unavailable { retry_after: None }),
        Err(SinkError::Throttled { retry_after: None }),
        Err(SinkError::Unauthenticated),
        Err(SinkError::PermissionDenied),
        Err(SinkError::Misdirected("served in region eu".into())),
        Err(SinkError::Invalid("tenant quota forbids metrics".into())),
        Err(SinkError::Internal("disk /var/lib/scrim full".into())),
    ]);
    let (receivers, addr) = start(sink.clone(), Limits::default()).await;
    let body = traces(1).encode_to_vec();
    let expected = [
        (StatusCode::TOO_MANY_REQUESTS, Some("7")),
        (StatusCode::SERVICE_UNAVAILABLE, Some("2")),
        (StatusCode::SERVICE_UNAVAILABLE, None),
        (StatusCode::TOO_MANY_REQUESTS, Some("1")),
        (StatusCode::UNAUTHORIZED, None),
        (StatusCode::FORBIDDEN, None),
        (StatusCode::MISDIRECTED_REQUEST, None),
        (StatusCode::BAD_REQUEST, None),
        (StatusCode::INTERNAL_SERVER_ERROR, None),
    ];
    for (status, retry_after) in expected {
        let answer = post(addr, "/v1/traces", &[PB], body.clone()).await;
        assert_eq!(answer.status, status);
        assert_eq!(
            answer
                .headers
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            retry_after,
            "{status}"
        );
        let message = rpc_status(&answer.body).message;
        if status == StatusCode::BAD_REQUEST {
            assert_eq!(message, "tenant quota forbids metrics");
        }
        if status == StatusCode::MISDIRECTED_REQUEST {
            assert_eq!(message, "served in region eu");
        }
        assert!(!message.contains("/var/lib"), "{message}");
    }
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn empty_requests_succeed_without_reaching_the_sink() {
    let sink = TestSink::new();
    let (receivers, addr) = start(sink.clone(), Limits::default()).await;
    let answer = post(addr, "/v1/traces", &[PB], Vec::new()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = post(addr, "/v1/logs", &[JSON], "{}").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(sink.calls(), 0);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_body_that_never_finishes_is_408() {
    use http_body_util::BodyExt;
    use http_body_util::channel::Channel;
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    let sink = TestSink::new();
    let limits = Limits {
        body_read_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let (receivers, addr) = start(sink.clone(), limits).await;
    let (mut sender, body) = Channel::<bytes::Bytes, std::convert::Infallible>::new(1);
    sender
        .send_data(bytes::Bytes::from_static(b"\x0a"))
        .await
        .unwrap();
    let client: Client<HttpConnector, _> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let request = http::Request::post(format!("http://{addr}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .unwrap();
    // The sender stays alive (and silent) until the answer is in.
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(rpc_status(&body).code, 4);
    drop(sender);
    assert_eq!(sink.calls(), 0);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_sink_with_a_policy_gets_protobuf_traces_redacted_and_the_rest_decoded() {
    let sink = PolicySink::new();
    let redactor = Arc::clone(&sink.redactor);
    let (receivers, addr) = start(sink.clone(), Limits::default()).await;
    let mut req = traces(2);
    req.resource_spans[0].scope_spans[0].spans[1]
        .attributes
        .push(string_kv("note", "mail alice@example.com"));
    let answer = post(addr, "/v1/traces", &[PB], req.encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::OK);
    {
        let redacted = sink.redacted.lock().unwrap();
        assert_eq!(redacted.len(), 1);
        let mut expected = req.clone();
        let counts = scrim_otlp::redact::redact_traces(&mut expected, &redactor);
        assert_eq!(redacted[0].0.spans, 2);
        assert_eq!(redacted[0].0.counts, counts);
        assert_eq!(
            ExportTraceServiceRequest::decode(redacted[0].0.body.as_slice()).unwrap(),
            expected
        );
        assert!(!String::from_utf8_lossy(&redacted[0].0.body).contains("alice@"));
    }
    // Invalid protobuf, or a request the limits refuse: 400 as before, nothing sunk.
    let answer = post(addr, "/v1/traces", &[PB], vec![0x0a, 0x05, 0x01]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        rpc_status(&answer.body)
            .message
            .starts_with("invalid protobuf")
    );
    req.resource_spans[0].scope_spans[0].spans[0].span_id = vec![1, 2, 3];
    let answer = post(addr, "/v1/traces", &[PB], req.encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        rpc_status(&answer.body)
            .message
            .contains("span_id must be 8 bytes")
    );
    // No spans: nothing to sink.
    let answer = post(addr, "/v1/traces", &[PB], Vec::new()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(sink.redacted.lock().unwrap().len(), 1);
    // JSON traces and other signals take the decoded path.
    let body = scrim_otlp::json::encode(&Batch::Traces(traces(1)));
    let answer = post(addr, "/v1/traces", &[JSON], body).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = post(addr, "/v1/logs", &[PB], logs(1).encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(sink.inner.calls(), 2);
    receivers.shutdown().await.unwrap();
}
