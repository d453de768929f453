//! The exporter against in-process receivers: both protocols, retries with recorded
//! (never slept) delays, permanent rejections, plain-HTTP refusal and warnings, TLS with a
//! CA made in the test, mutual TLS.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use scrim_otlp::{
    Accepted, Batch, BoxFuture, ClientIdentity, Credential, ExportOutcome, Exporter,
    ExporterConfig, ExporterError, Limits, Protocol, Receivers, ReceiversConfig, RetryPolicy, Sink,
    SinkError, Sleeper, grpc_router, http_router,
};
use tokio::net::TcpListener;

/// Records requested delays and returns at once: no test waits on a clock.
#[derive(Default)]
struct RecordingSleeper(Mutex<Vec<Duration>>);

impl RecordingSleeper {
    fn delays(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, delay: Duration) -> BoxFuture<'static, ()> {
        self.0.lock().unwrap().push(delay);
        Box::pin(std::future::ready(()))
    }
}

const PROTOCOLS: [Protocol; 2] = [Protocol::Grpc, Protocol::HttpProtobuf];

async fn receivers(sink: Arc<dyn Sink>) -> Receivers {
    Receivers::start(ReceiversConfig::loopback_ephemeral(), sink)
        .await
        .unwrap()
}

fn plain_config(receivers: &Receivers, protocol: Protocol) -> ExporterConfig {
    let addr = match protocol {
        Protocol::Grpc => receivers.grpc_addr().unwrap(),
        Protocol::HttpProtobuf => receivers.http_addr().unwrap(),
    };
    let mut config = ExporterConfig::new(format!("http://{addr}"), protocol);
    config.allow_http = true;
    config
}

fn make_exporter(config: ExporterConfig) -> (Exporter, Arc<RecordingSleeper>) {
    let sleeper = Arc::new(RecordingSleeper::default());
    let exporter = Exporter::with_sleeper(config, sleeper.clone()).unwrap();
    (exporter, sleeper)
}

#[tokio::test]
async fn delivers_every_signal_over_both_protocols_with_headers() {
    for protocol in PROTOCOLS {
        for gzip in [true, false] {
            let sink = TestSink::new();
            let receivers = receivers(sink.clone()).await;
            let mut config = plain_config(&receivers, protocol);
            config.gzip = gzip;
            config
                .headers
                .push(("Authorization".into(), Credential::new("Bearer up-123")));
            let (exporter, sleeper) = make_exporter(config);
            let batches = [
                Batch::Traces(traces(3)),
                Batch::Logs(logs(2)),
                Batch::Metrics(metrics(2)),
            ];
            for batch in &batches {
                assert_eq!(
                    exporter.export(batch).await,
                    ExportOutcome::Delivered { attempts: 1 },
                    "{protocol:?}"
                );
            }
            assert_eq!(sink.batches(), batches.to_vec(), "{protocol:?} gzip={gzip}");
            for ctx in sink.contexts() {
                assert_eq!(ctx.authorization.unwrap().expose(), "Bearer up-123");
                assert!(ctx.user_agent.unwrap().starts_with("scrim-otlp/"));
            }
            assert!(sleeper.delays().is_empty());
            receivers.shutdown().await.unwrap();
        }
    }
}

#[tokio::test]
async fn retries_unavailable_honouring_retry_after_then_delivers() {
    for protocol in PROTOCOLS {
        let sink = TestSink::scripted([
            Err(SinkError::Unavailable {
                retry_after: Some(Duration::from_secs(7)),
            }),
            Err(SinkError::Throttled {
                retry_after: Some(Duration::from_secs(3)),
            }),
        ]);
        let receivers = receivers(sink.clone()).await;
        let (exporter, sleeper) = make_exporter(plain_config(&receivers, protocol));
        let outcome = exporter.export(&Batch::Traces(traces(2))).await;
        assert_eq!(
            outcome,
            ExportOutcome::Delivered { attempts: 3 },
            "{protocol:?}"
        );
        assert_eq!(
            sleeper.delays(),
            vec![Duration::from_secs(7), Duration::from_secs(3)],
            "{protocol:?}"
        );
        assert_eq!(sink.batches().len(), 1);
        receivers.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn backs_off_with_jitter_when_the_server_gives_no_delay() {
    for protocol in PROTOCOLS {
        let unavailable = || Err(SinkError::Unavailable { retry_after: None });
        let sink = TestSink::scripted([unavailable(), unavailable(), unavailable()]);
        let receivers = receivers(sink.clone()).await;
        let (exporter, sleeper) = make_exporter(plain_config(&receivers, protocol));
        let outcome = exporter.export(&Batch::Logs(logs(1))).await;
        assert_eq!(outcome, ExportOutcome::Delivered { attempts: 4 });
        let delays = sleeper.delays();
        assert_eq!(delays.len(), 3);
        for (retry, delay) in delays.iter().enumerate() {
            // Full jitter: uniform in [0, 500 ms × 2^retry).
            assert!(*delay < Duration::from_millis(500 << retry), "{delays:?}");
        }
        receivers.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn gives_up_when_the_next_delay_would_pass_max_elapsed() {
    for protocol in PROTOCOLS {
        let unavailable = || {
            Err(SinkError::Unavailable {
                retry_after: Some(Duration::from_secs(7)),
            })
        };
        let sink = TestSink::scripted([unavailable(), unavailable(), unavailable()]);
        let receivers = receivers(sink.clone()).await;
        let mut config = plain_config(&receivers, protocol);
        config.retry = RetryPolicy {
            max_elapsed: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let (exporter, sleeper) = make_exporter(config);
        match exporter.export(&Batch::Traces(traces(1))).await {
            ExportOutcome::GaveUp {
                attempts,
                last_error,
            } => {
                assert_eq!(attempts, 2);
                assert!(
                    last_error.contains("503") || last_error.contains("Unavailable"),
                    "{last_error}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sleeper.delays(), vec![Duration::from_secs(7)]);
        receivers.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn does_not_retry_permanent_errors() {
    for protocol in PROTOCOLS {
        let sink = TestSink::scripted([
            Err(SinkError::Invalid("tenant forbids logs".into())),
            Err(SinkError::Unauthenticated),
            // RESOURCE_EXHAUSTED without RetryInfo is not retryable; the receiver always
            // sends RetryInfo for Throttled, so here is a request over the size limit.
        ]);
        let receivers = receivers(sink.clone()).await;
        let (exporter, sleeper) = make_exporter(plain_config(&receivers, protocol));
        for expected in [
            ["400", "InvalidArgument", "tenant forbids logs"],
            ["401", "Unauthenticated", "unauthenticated"],
        ] {
            match exporter.export(&Batch::Logs(logs(1))).await {
                ExportOutcome::Rejected { reason, attempts } => {
                    assert_eq!(attempts, 1);
                    let code = if protocol == Protocol::Grpc {
                        expected[1]
                    } else {
                        expected[0]
                    };
                    assert!(reason.contains(code), "{reason}");
                    assert!(reason.contains(expected[2]), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(sleeper.delays().is_empty());
        receivers.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn oversize_requests_are_rejected_not_retried() {
    for protocol in PROTOCOLS {
        let sink = TestSink::new();
        let config = ReceiversConfig {
            limits: Limits {
                max_body_bytes: 1024,
                max_decompressed_bytes: 1024,
                ..Limits::default()
            },
            ..ReceiversConfig::loopback_ephemeral()
        };
        let receivers = Receivers::start(config, sink.clone()).await.unwrap();
        let mut config = plain_config(&receivers, protocol);
        config.gzip = false;
        let (exporter, sleeper) = make_exporter(config);
        let outcome = exporter.export(&Batch::Traces(traces(100))).await;
        assert!(
            matches!(outcome, ExportOutcome::Rejected { attempts: 1, .. }),
            "{outcome:?}"
        );
        assert!(sleeper.delays().is_empty());
        assert_eq!(sink.calls(), 0);
        receivers.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn reports_partial_success() {
    for protocol in PROTOCOLS {
        let sink = TestSink::scripted([Ok(Accepted::partial(2, "2 points too old"))]);
        let receivers = receivers(sink.clone()).await;
        let (exporter, _) = make_exporter(plain_config(&receivers, protocol));
        assert_eq!(
            exporter.export(&Batch::Metrics(metrics(5))).await,
            ExportOutcome::PartialSuccess {
                rejected: 2,
                message: "2 points too old".into(),
                attempts: 1
            }
        );
        receivers.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn unreachable_upstream_is_retryable_and_given_up_without_retries() {
    // A port that was just free: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    for protocol in PROTOCOLS {
        let mut config = ExporterConfig::new(format!("http://{addr}"), protocol);
        config.allow_http = true;
        config.retry.enabled = false;
        let (exporter, sleeper) = make_exporter(config);
        let outcome = exporter.export(&Batch::Traces(traces(1))).await;
        assert!(
            matches!(outcome, ExportOutcome::GaveUp { attempts: 1, .. }),
            "{outcome:?}"
        );
        assert!(sleeper.delays().is_empty());
    }
}

#[test]
fn plain_http_is_refused_unless_allowed() {
    for protocol in PROTOCOLS {
        let err =
            Exporter::new(ExporterConfig::new("http://127.0.0.1:4318", protocol)).unwrap_err();
        assert_eq!(err, ExporterError::PlainHttpRefused);
    }
}

/// Counts WARN events mentioning plain HTTP, on the current thread.
#[derive(Default, Clone)]
struct WarnCounter(Arc<Mutex<u32>>);

struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for WarnCounter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut visitor = MessageVisitor(String::new());
        event.record(&mut visitor);
        if *event.metadata().level() == tracing::Level::WARN && visitor.0.contains("plain HTTP") {
            *self.0.lock().unwrap() += 1;
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn each_plain_http_connection_logs_a_warning() {
    let counter = WarnCounter::default();
    let _guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(counter.clone()));
    let sink = TestSink::new();
    let receivers = receivers(sink.clone()).await;
    for protocol in PROTOCOLS {
        let before = *counter.0.lock().unwrap();
        // A fresh exporter makes a new connection and warns; reusing it reuses the connection.
        let (exporter, _) = make_exporter(plain_config(&receivers, protocol));
        exporter.export(&Batch::Traces(traces(1))).await;
        exporter.export(&Batch::Traces(traces(1))).await;
        let (exporter, _) = make_exporter(plain_config(&receivers, protocol));
        exporter.export(&Batch::Traces(traces(1))).await;
        assert_eq!(*counter.0.lock().unwrap() - before, 2, "{protocol:?}");
    }
    receivers.shutdown().await.unwrap();
}

struct TestPki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn pki() -> TestPki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client_cert = CertificateParams::new(vec!["agent-1".to_string()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        server_cert: server_cert.pem(),
        server_key: server_key.serialize_pem(),
        client_cert: client_cert.pem(),
        client_key: client_key.serialize_pem(),
    }
}

/// Serves both receivers (HTTP and gRPC routes on one port) over rustls, TLS 1.2+.
async fn tls_server(pki: &TestPki, sink: Arc<dyn Sink>, require_client_cert: bool) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = vec![CertificateDer::from_pem_slice(pki.server_cert.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs, key).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let router = http_router(sink.clone(), Limits::default())
        .merge(grpc_router(sink, Limits::default()).into_axum_router());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(router))
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn delivers_over_tls_to_a_server_signed_by_the_configured_ca() {
    let pki = pki();
    let sink = TestSink::new();
    let addr = tls_server(&pki, sink.clone(), false).await;
    for protocol in PROTOCOLS {
        for host in ["localhost", "127.0.0.1"] {
            let mut config =
                ExporterConfig::new(format!("https://{host}:{}", addr.port()), protocol);
            config.ca_pem = Some(pki.ca_pem.clone().into_bytes());
            let (exporter, _) = make_exporter(config);
            assert_eq!(
                exporter.export(&Batch::Traces(traces(2))).await,
                ExportOutcome::Delivered { attempts: 1 },
                "{protocol:?} {host}"
            );
        }
    }
    assert_eq!(sink.batches().len(), 4);

    // Without the CA (system roots only), the server is not trusted.
    for protocol in PROTOCOLS {
        let mut config =
            ExporterConfig::new(format!("https://localhost:{}", addr.port()), protocol);
        config.retry.enabled = false;
        let (exporter, _) = make_exporter(config);
        let outcome = exporter.export(&Batch::Traces(traces(1))).await;
        assert!(
            matches!(outcome, ExportOutcome::GaveUp { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(sink.batches().len(), 4);
}

#[tokio::test]
async fn presents_a_client_certificate_for_mutual_tls() {
    let pki = pki();
    let sink = TestSink::new();
    let addr = tls_server(&pki, sink.clone(), true).await;
    for protocol in PROTOCOLS {
        let mut config =
            ExporterConfig::new(format!("https://localhost:{}", addr.port()), protocol);
        config.ca_pem = Some(pki.ca_pem.clone().into_bytes());
        config.retry.enabled = false;
        let (without, _) = make_exporter(config.clone());
        let outcome = without.export(&Batch::Logs(logs(1))).await;
        assert!(!outcome.is_delivered(), "{protocol:?} {outcome:?}");

        config.client_identity = Some(ClientIdentity {
            cert_pem: pki.client_cert.clone().into_bytes(),
            key_pem: pki.client_key.clone().into_bytes(),
        });
        let (with, _) = make_exporter(config);
        assert_eq!(
            with.export(&Batch::Logs(logs(1))).await,
            ExportOutcome::Delivered { attempts: 1 },
            "{protocol:?}"
        );
    }
    assert_eq!(sink.batches().len(), 2);
}
