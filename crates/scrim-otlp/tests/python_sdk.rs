//! The official OpenTelemetry Python SDK sends spans and logs to the receivers over gRPC and
//! HTTP (tests/python/send_otlp.py); they must arrive with their attributes.
//!
//! Needs `pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc
//! opentelemetry-exporter-otlp-proto-http`. Without those modules the test prints why it
//! is skipped and passes. The interpreter is `$SCRIM_PYTHON`, else `python3`. Set
//! `SCRIM_REQUIRE_PYTHON_OTEL=1` to make a missing SDK a failure instead of a skip.

mod common;

use std::process::Command;

use common::TestSink;
use scrim_otlp::proto::*;
use scrim_otlp::{Batch, Receivers, ReceiversConfig, Transport};
use scrim_testkit::python;

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_spans_and_logs_arrive_with_their_attributes() {
    if !scrim_testkit::python_package_available("python_sdk test", &scrim_testkit::OTEL_SDK) {
        return;
    }
    let sink = TestSink::new();
    let receivers = Receivers::start(ReceiversConfig::loopback_ephemeral(), sink.clone())
        .await
        .unwrap();
    let grpc = format!("http://{}", receivers.grpc_addr().unwrap());
    let http = format!("http://{}", receivers.http_addr().unwrap());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/send_otlp.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .arg(grpc)
            .arg(http)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "send_otlp.py failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    for (transport, wire) in [("grpc", Transport::Grpc), ("http", Transport::HttpProtobuf)] {
        let received = sink.received.lock().unwrap().clone();
        let ours: Vec<_> = received
            .iter()
            .filter(|(batch, _)| {
                let resource = match batch {
                    Batch::Traces(r) => r.resource_spans[0].resource.clone(),
                    Batch::Logs(r) => r.resource_logs[0].resource.clone(),
                    Batch::Metrics(_) => None,
                };
                attr(&resource.unwrap_or_default().attributes, "test.transport")
                    == Some(&string(transport))
            })
            .collect();
        assert!(
            ours.iter().all(|(_, ctx)| ctx.transport == wire),
            "{transport}"
        );
        assert!(
            ours.iter().all(|(_, ctx)| ctx
                .user_agent
                .as_deref()
                .is_some_and(|ua| ua.contains("OTel")
                    || ua.contains("otel")
                    || ua.contains("grpc-python"))),
            "{transport}: {:?}",
            ours.iter()
                .map(|(_, c)| c.user_agent.clone())
                .collect::<Vec<_>>()
        );

        let spans: Vec<&Span> = ours
            .iter()
            .filter_map(|(b, _)| match b {
                Batch::Traces(r) => Some(r),
                _ => None,
            })
            .flat_map(|r| &r.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .collect();
        assert_eq!(spans.len(), 1, "{transport}: {spans:?}");
        let span = spans[0];
        assert_eq!(span.name, format!("checkout {transport}"));
        assert_eq!(span.kind, 2);
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(span.span_id.len(), 8);
        assert_eq!(
            attr(&span.attributes, "http.request.method"),
            Some(&string("POST"))
        );
        assert_eq!(
            attr(&span.attributes, "http.response.status_code"),
            Some(&any_value::Value::IntValue(201))
        );
        assert_eq!(span.events[0].name, "payment authorised");
        assert_eq!(
            attr(&span.events[0].attributes, "amount.cents"),
            Some(&any_value::Value::IntValue(1299))
        );
        assert_eq!(span.status.as_ref().unwrap().code, 1);

        let records: Vec<(&ResourceLogs, &LogRecord)> = ours
            .iter()
            .filter_map(|(b, _)| match b {
                Batch::Logs(r) => Some(r),
                _ => None,
            })
            .flat_map(|r| &r.resource_logs)
            .flat_map(|rl| {
                rl.scope_logs
                    .iter()
                    .flat_map(move |sl| sl.log_records.iter().map(move |lr| (rl, lr)))
            })
            .collect();
        assert_eq!(records.len(), 1, "{transport}: {records:?}");
        let (resource_logs, record) = records[0];
        assert_eq!(
            attr(
                &resource_logs.resource.as_ref().unwrap().attributes,
                "service.name"
            ),
            Some(&string("python-sdk-test"))
        );
        assert_eq!(
            record.body.as_ref().unwrap().value,
            Some(string(&format!("order placed via {transport}")))
        );
        assert_eq!(record.severity_text, "WARN");
        assert_eq!(record.severity_number, 13);
        assert_eq!(
            attr(&record.attributes, "order.id"),
            Some(&any_value::Value::IntValue(4242))
        );
    }
    receivers.shutdown().await.unwrap();
}
