//! The agent in-process: application ▸ agent ▸ upstream, with secrets planted, an upstream
//! outage and an agent restart in between.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scrim_agent::{Agent, AgentConfig};
use scrim_otlp::proto::*;
use scrim_otlp::{
    Accepted, Batch, BoxFuture, ExportOutcome, Exporter, ExporterConfig, Protocol, Receivers,
    ReceiversConfig, RequestContext, Sink, SinkError,
};
use tokio::sync::watch;

/// The upstream: collects span names and attributes as text, and counts spans.
struct Upstream {
    spans: Mutex<Vec<Span>>,
    count: watch::Sender<usize>,
}

impl Upstream {
    fn new() -> Arc<Upstream> {
        Arc::new(Upstream {
            spans: Mutex::new(Vec::new()),
            count: watch::channel(0).0,
        })
    }

    /// Waits (event-driven, with a generous deadline) until `n` spans arrived.
    async fn wait_for(&self, n: usize) {
        let mut rx = self.count.subscribe();
        let arrived = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|c| *c >= n))
            .await
            .is_ok();
        assert!(
            arrived,
            "only {} of {n} spans arrived",
            *self.count.borrow()
        );
    }
}

impl Sink for Upstream {
    fn consume(
        &self,
        batch: Batch,
        _ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
        if let Batch::Traces(t) = batch {
            let mut spans = self.spans.lock().unwrap();
            for rs in t.resource_spans {
                for ss in rs.scope_spans {
                    spans.extend(ss.spans);
                }
            }
            self.count.send_replace(spans.len());
        }
        Box::pin(async { Ok(Accepted::all()) })
    }
}

async fn start_upstream(addr: SocketAddr) -> (Arc<Upstream>, Receivers) {
    let upstream = Upstream::new();
    let receivers = Receivers::start(
        ReceiversConfig {
            grpc: None,
            http: Some(addr),
            ..ReceiversConfig::default()
        },
        upstream.clone(),
    )
    .await
    .expect("upstream listens");
    (upstream, receivers)
}

fn agent_config(upstream: SocketAddr, data_dir: &Path) -> AgentConfig {
    let flags: BTreeMap<String, String> = [
        ("upstream", format!("http://{upstream}")),
        ("allow_http_fallback", "true".into()),
        ("otlp_grpc", "127.0.0.1:0".into()),
        ("otlp_http", "127.0.0.1:0".into()),
        ("metrics", "127.0.0.1:0".into()),
        ("data_dir", data_dir.display().to_string()),
        ("pseudonym_key", "test tenant key".into()),
        // Force the cloud floor even though the upstream is on loopback.
        ("mode", "cloud".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    AgentConfig::load(None, Vec::new(), &flags).expect("valid config")
}

/// What an application sends: one span carrying planted secrets, named `span-<i>`.
fn app_batch(i: usize) -> Batch {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                    name: format!("span-{i}"),
                    attributes: vec![
                        kv("db.system.name", "postgresql"),
                        kv(
                            "db.query.text",
                            "SELECT * FROM users WHERE email = 'alice@example.com'",
                        ),
                        kv(
                            "url.full",
                            "https://shop.example.com/pay?card=4111111111111111",
                        ),
                        kv("client.address", "203.0.113.57"),
                        kv("app.note", "token ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// The application's exporter, pointed at the agent.
fn app(agent: &Agent) -> Exporter {
    let mut c = ExporterConfig::new(
        format!("http://{}", agent.otlp_http_addr().expect("http listener")),
        Protocol::HttpProtobuf,
    );
    c.allow_http = true;
    Exporter::new(c).expect("app exporter")
}

const PLANTED: &[&str] = &[
    "alice@example.com",
    "4111111111111111",
    "203.0.113.57",
    "ghp_",
];

fn assert_clean(spans: &[Span]) {
    let dump = format!("{spans:?}");
    for secret in PLANTED {
        assert!(
            !dump.contains(secret),
            "{secret} reached the upstream: {dump}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_upstream() {
    let (upstream, up_receivers) = start_upstream("127.0.0.1:0".parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(&agent_config(up_receivers.http_addr().unwrap(), dir.path()))
        .await
        .expect("agent starts");
    let app = app(&agent);
    for i in 0..5 {
        assert!(matches!(
            app.export(&app_batch(i)).await,
            ExportOutcome::Delivered { .. }
        ));
    }
    upstream.wait_for(5).await;
    let spans = upstream.spans.lock().unwrap().clone();
    assert_clean(&spans);
    let s = &spans[0];
    let text = format!("{s:?}");
    assert!(
        text.contains("SELECT * FROM users WHERE email = ?"),
        "{text}"
    );
    assert!(text.contains("203.0.113.0"), "{text}");
    assert!(text.contains("scrim.redacted.query_param"), "{text}");
    // The agent's own metrics say the same.
    let m = agent.metrics();
    assert_eq!(m.received.get(scrim_otlp::Signal::Traces), 5);
    assert_eq!(m.redacted(scrim_redact::Kind::GithubToken), 5);
    let body = http_get(agent.metrics_addr(), "/metrics").await;
    assert!(
        body.contains("scrim_agent_received_items_total{signal=\"traces\"} 5"),
        "{body}"
    );
    assert!(
        body.contains("scrim_agent_redacted_total{kind=\"github_token\"} 5"),
        "{body}"
    );
    assert_eq!(http_get(agent.metrics_addr(), "/healthz").await, "ok\n");
    agent.shutdown().await;
    up_receivers.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_data_survives_an_outage_and_a_restart() {
    // An address where nothing listens yet: the upstream is down.
    let up_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = agent_config(up_addr, dir.path());
    let agent = Agent::start(&config).await.expect("agent starts");
    let app = app(&agent);
    for i in 0..20 {
        let outcome = app.export(&app_batch(i)).await;
        assert!(
            matches!(outcome, ExportOutcome::Delivered { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(
        agent.queue().stats().records,
        20,
        "all acknowledged data is queued"
    );
    // Stop the agent while the upstream is still down (the crash variant, SIGKILL, is in
    // the binary's tests), start a new one on the same data, then bring the upstream up.
    agent.shutdown().await;
    let agent = Agent::start(&config).await.expect("agent restarts");
    assert_eq!(
        agent.queue().stats().records,
        20,
        "the queue survived the restart"
    );
    let (upstream, up_receivers) = start_upstream(up_addr).await;
    upstream.wait_for(20).await;
    let spans = upstream.spans.lock().unwrap().clone();
    assert_clean(&spans);
    let mut names: Vec<String> = spans.iter().map(|s| s.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        20,
        "every acknowledged span arrived: {names:?}"
    );
    agent.shutdown().await;
    up_receivers.shutdown().await.unwrap();
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let res = client
        .get(format!("http://{addr}{path}").parse().unwrap())
        .await
        .expect("GET");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}
