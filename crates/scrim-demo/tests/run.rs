//! `run` against in-process OTLP receivers: batches arrive with the bearer header, and the
//! counters match what arrived.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use scrim_demo::{DemoTrafficConfig, run};
use scrim_otlp::{
    Accepted, Batch, BoxFuture, Protocol, Receivers, ReceiversConfig, RequestContext, Signal, Sink,
    SinkError, Transport,
};
use tokio::sync::Notify;

/// Records each batch with its `Authorization` header; wakes the test once every signal
/// arrived.
#[derive(Default)]
struct Recorder {
    received: Mutex<Vec<(Batch, Option<String>, Transport)>>,
    all_signals: Notify,
}

impl Sink for Recorder {
    fn consume(
        &self,
        batch: Batch,
        ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
        let auth = ctx.authorization.map(|c| c.expose().to_owned());
        let mut received = self.received.lock().unwrap();
        received.push((batch, auth, ctx.transport));
        if Signal::ALL
            .iter()
            .all(|s| received.iter().any(|(b, _, _)| b.signal() == *s))
        {
            self.all_signals.notify_one();
        }
        Box::pin(async { Ok(Accepted::all()) })
    }
}

async fn deliver(protocol: Protocol) {
    let sink = Arc::new(Recorder::default());
    let receivers = Receivers::start(ReceiversConfig::loopback_ephemeral(), sink.clone())
        .await
        .unwrap();
    let endpoint = match protocol {
        Protocol::HttpProtobuf => format!("http://{}", receivers.http_addr().unwrap()),
        Protocol::Grpc => format!("http://{}", receivers.grpc_addr().unwrap()),
    };
    let mut config = DemoTrafficConfig::new(endpoint, "scrim_demo_key_123");
    config.exporter.protocol = protocol;
    config.traces_per_second = 20.0;
    let live = config.stats.clone();

    // The first tick fires at once and sends traces, their logs and the first metrics.
    // Stop once they arrived and `run` heard the answers (a shutdown abandons a send).
    let (done, watcher) = (sink.clone(), live.clone());
    let stop = async move {
        done.all_signals.notified().await;
        let arrived = done.received.lock().unwrap().len() as u64;
        while watcher.snapshot().batches_sent < arrived {
            tokio::task::yield_now().await;
        }
    };
    let stats = tokio::time::timeout(Duration::from_secs(30), run(config, stop))
        .await
        .expect("every signal arrives")
        .unwrap();

    let received = std::mem::take(&mut *sink.received.lock().unwrap());
    let expected_transport = match protocol {
        Protocol::HttpProtobuf => Transport::HttpProtobuf,
        Protocol::Grpc => Transport::Grpc,
    };
    for (batch, auth, transport) in received.iter() {
        assert_eq!(auth.as_deref(), Some("Bearer scrim_demo_key_123"));
        assert_eq!(*transport, expected_transport);
        assert!(batch.item_count() > 0);
    }
    let count = |signal| -> u64 {
        received
            .iter()
            .filter(|(b, _, _)| b.signal() == signal)
            .map(|(b, _, _)| b.item_count())
            .sum()
    };
    assert_eq!(stats.spans, count(Signal::Traces));
    assert_eq!(stats.log_records, count(Signal::Logs));
    assert_eq!(stats.data_points, count(Signal::Metrics));
    assert_eq!(stats.batches_sent, received.len() as u64);
    assert_eq!(stats.batches_failed, 0);
    assert!(
        stats.traces >= 20,
        "the first tick carries a second of traffic"
    );
    assert_eq!(
        live.snapshot(),
        stats,
        "the caller's handle sees the same counters"
    );
    receivers.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_delivers_every_signal_over_http_with_the_bearer_key() {
    deliver(Protocol::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_delivers_over_grpc_too() {
    deliver(Protocol::Grpc).await;
}

#[tokio::test]
async fn refused_batches_are_counted_as_failures() {
    struct Refuse;
    impl Sink for Refuse {
        fn consume(
            &self,
            _: Batch,
            _: RequestContext,
        ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
            Box::pin(async { Err(SinkError::Unauthenticated) })
        }
    }
    let receivers = Receivers::start(ReceiversConfig::loopback_ephemeral(), Arc::new(Refuse))
        .await
        .unwrap();
    let config = DemoTrafficConfig::new(
        format!("http://{}", receivers.http_addr().unwrap()),
        "wrong",
    );
    let live = config.stats.clone();
    let watcher = live.clone();
    // Stop once the first tick's three batches were refused.
    let stop = async move {
        while watcher.snapshot().batches_failed < 3 {
            tokio::task::yield_now().await;
        }
    };
    let stats = tokio::time::timeout(Duration::from_secs(30), run(config, stop))
        .await
        .expect("the batches are refused")
        .unwrap();
    assert_eq!(stats.batches_failed, 3);
    assert_eq!(stats.batches_sent, 0);
    assert_eq!(stats.spans + stats.log_records + stats.data_points, 0);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_endpoint_the_exporter_refuses_is_an_error() {
    let config = DemoTrafficConfig::new("http://203.0.113.1:4318", "k");
    let err = run(config, std::future::pending::<()>()).await.unwrap_err();
    assert_eq!(err, scrim_otlp::ExporterError::PlainHttpRefused);
}
