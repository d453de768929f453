//! The agent's listeners over TLS (a generated self-signed certificate, or certificate
//! files), and the plaintext rule: plain listeners on loopback only unless
//! `allow_plaintext` is set.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use scrim_agent::{Agent, AgentConfig};
use scrim_otlp::proto::*;
use scrim_otlp::{Batch, ExportOutcome, Exporter, ExporterConfig, Protocol, Signal};
use scrim_tls::{SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE, ServerIdentity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An upstream address where nothing listens: what the agent accepts stays queued, which
/// is all these tests need.
fn absent_upstream() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A valid agent configuration on loopback ports chosen by the OS, plus `extra` settings.
fn config(data_dir: &Path, extra: &[(&str, &str)]) -> Result<AgentConfig, String> {
    let mut flags: BTreeMap<String, String> = [
        ("upstream", format!("http://{}", absent_upstream())),
        ("allow_http_fallback", "true".into()),
        ("otlp_grpc", "127.0.0.1:0".into()),
        ("otlp_http", "127.0.0.1:0".into()),
        ("metrics", "127.0.0.1:0".into()),
        ("data_dir", data_dir.display().to_string()),
        ("pseudonym_key", "test tenant key".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        flags.insert(k.to_string(), v.to_string());
    }
    AgentConfig::load(None, Vec::new(), &flags).map_err(|e| e.to_string())
}

fn one_span() -> Batch {
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "checkout".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// Exports one span to `endpoint`; `ca_pem` is the certificate the application trusts.
async fn export(endpoint: String, protocol: Protocol, ca_pem: Option<Vec<u8>>) -> ExportOutcome {
    let mut c = ExporterConfig::new(endpoint, protocol);
    c.allow_http = ca_pem.is_none();
    c.ca_pem = ca_pem;
    c.retry.enabled = false;
    Exporter::new(c).unwrap().export(&one_span()).await
}

/// A rustls client that trusts the certificate(s) in `pem`.
fn tls_client(pem: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// `GET path` over TLS (HTTP/1.1, connection closed after the answer): the whole answer.
async fn https_get(addr: SocketAddr, pem: &[u8], path: &str) -> String {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = tls_client(pem)
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .expect("TLS handshake with the agent");
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    // A peer that closes without close_notify is fine once the answer is complete.
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A plain HTTP/1.1 request to `addr`: whatever comes back before the connection closes.
async fn plain_get(addr: SocketAddr, path: &str) -> Vec<u8> {
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_agent_speaks_tls_on_every_listener() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[("tls_self_signed", "true")]).unwrap();
    let agent = Agent::start(&config).await.expect("agent starts");
    let cert_path = dir.path().join("tls").join(SELF_SIGNED_CERT_FILE);
    let pem = std::fs::read(&cert_path).expect("the certificate is kept in <data_dir>/tls");
    assert!(dir.path().join("tls").join(SELF_SIGNED_KEY_FILE).exists());
    let fingerprint = agent.tls_fingerprint().expect("TLS is on").to_owned();
    let der = rustls_pki_types::pem::PemObject::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(fingerprint, scrim_tls::fingerprint_sha256(&der));
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");

    // An application that trusts the generated certificate exports over TLS, on both
    // transports, by name and by address.
    let http = agent.otlp_http_addr().unwrap();
    let grpc = agent.otlp_grpc_addr().unwrap();
    for (endpoint, protocol) in [
        (
            format!("https://localhost:{}", http.port()),
            Protocol::HttpProtobuf,
        ),
        (format!("https://{http}"), Protocol::HttpProtobuf),
        (format!("https://localhost:{}", grpc.port()), Protocol::Grpc),
    ] {
        let outcome = export(endpoint.clone(), protocol, Some(pem.clone())).await;
        assert_eq!(
            outcome,
            ExportOutcome::Delivered { attempts: 1 },
            "{endpoint}"
        );
    }
    assert_eq!(agent.metrics().received.get(Signal::Traces), 3);

    // /healthz and /metrics over TLS.
    let health = https_get(agent.metrics_addr(), &pem, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200 "), "{health}");
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
    let metrics = https_get(agent.metrics_addr(), &pem, "/metrics").await;
    assert!(
        metrics.contains("scrim_agent_received_items_total{signal=\"traces\"} 3"),
        "{metrics}"
    );

    // Plain HTTP to any TLS port gets no HTTP answer, and a plain export is not delivered.
    for addr in [agent.metrics_addr(), http, grpc] {
        let answer = plain_get(addr, "/healthz").await;
        assert!(
            !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
            "{addr}: {answer:?}"
        );
    }
    for (addr, protocol) in [(http, Protocol::HttpProtobuf), (grpc, Protocol::Grpc)] {
        let outcome = export(format!("http://{addr}"), protocol, None).await;
        assert!(!outcome.is_delivered(), "{protocol:?}: {outcome:?}");
    }
    // An application that trusts another certificate is refused as well.
    let other = tempfile::tempdir().unwrap();
    ServerIdentity::self_signed(other.path(), &[]).unwrap();
    let other_pem = std::fs::read(other.path().join(SELF_SIGNED_CERT_FILE)).unwrap();
    let outcome = export(
        format!("https://localhost:{}", http.port()),
        Protocol::HttpProtobuf,
        Some(other_pem),
    )
    .await;
    assert!(!outcome.is_delivered(), "{outcome:?}");
    assert_eq!(agent.metrics().received.get(Signal::Traces), 3);
    agent.shutdown().await;

    // The next start reuses the certificate: the fingerprint clients pinned stays valid.
    let agent = Agent::start(&config).await.expect("agent restarts");
    assert_eq!(agent.tls_fingerprint(), Some(fingerprint.as_str()));
    assert_eq!(std::fs::read(&cert_path).unwrap(), pem);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_serves_tls_from_certificate_files() {
    let certs = tempfile::tempdir().unwrap();
    let identity = ServerIdentity::self_signed(certs.path(), &[]).unwrap();
    let cert = certs.path().join(SELF_SIGNED_CERT_FILE);
    let key = certs.path().join(SELF_SIGNED_KEY_FILE);
    let pem = std::fs::read(&cert).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &[
            ("tls_cert_file", cert.to_str().unwrap()),
            ("tls_key_file", key.to_str().unwrap()),
        ],
    )
    .unwrap();
    let agent = Agent::start(&config).await.expect("agent starts");
    assert_eq!(agent.tls_fingerprint(), Some(identity.fingerprint()));
    assert!(
        !dir.path().join("tls").exists(),
        "nothing is generated when files are given"
    );
    let http = agent.otlp_http_addr().unwrap();
    let outcome = export(
        format!("https://localhost:{}", http.port()),
        Protocol::HttpProtobuf,
        Some(pem.clone()),
    )
    .await;
    assert_eq!(outcome, ExportOutcome::Delivered { attempts: 1 });
    let health = https_get(agent.metrics_addr(), &pem, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200 "), "{health}");
    agent.shutdown().await;

    // A key file that does not exist: a start error naming it.
    let config = self::config(
        dir.path(),
        &[
            ("tls_cert_file", cert.to_str().unwrap()),
            ("tls_key_file", "/nonexistent/scrim-agent-key.pem"),
        ],
    )
    .unwrap();
    let err = Agent::start(&config).await.unwrap_err().to_string();
    assert!(err.starts_with("TLS: "), "{err}");
    assert!(err.contains("/nonexistent/scrim-agent-key.pem"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_listeners_on_every_interface_need_allow_plaintext() {
    for key in ["otlp_http", "otlp_grpc", "metrics"] {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let config = config(&data_dir, &[(key, "0.0.0.0:0")]).unwrap();
        let err = Agent::start(&config).await.unwrap_err().to_string();
        assert!(err.starts_with(&format!("{key} listener: ")), "{err}");
        assert!(err.contains("0.0.0.0:0"), "{err}");
        assert!(err.contains("allow_plaintext"), "{err}");
        assert!(err.contains("tls_self_signed"), "{err}");
        assert!(!data_dir.exists(), "refused before anything was opened");
    }

    // With the explicit flag, plain listeners on every interface serve.
    let dir = tempfile::tempdir().unwrap();
    let any = [
        ("otlp_http", "0.0.0.0:0"),
        ("otlp_grpc", "0.0.0.0:0"),
        ("metrics", "0.0.0.0:0"),
    ];
    let mut settings = any.to_vec();
    settings.push(("allow_plaintext", "true"));
    let agent = Agent::start(&config(dir.path(), &settings).unwrap())
        .await
        .expect("starts with allow_plaintext");
    assert!(agent.tls_fingerprint().is_none());
    let port = |addr: Option<SocketAddr>| addr.unwrap().port();
    for (port, protocol) in [
        (port(agent.otlp_http_addr()), Protocol::HttpProtobuf),
        (port(agent.otlp_grpc_addr()), Protocol::Grpc),
    ] {
        let outcome = export(format!("http://127.0.0.1:{port}"), protocol, None).await;
        assert!(outcome.is_delivered(), "{protocol:?}: {outcome:?}");
    }
    let metrics = SocketAddr::from(([127, 0, 0, 1], agent.metrics_addr().port()));
    let answer = String::from_utf8(plain_get(metrics, "/healthz").await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    agent.shutdown().await;

    // With TLS, every interface needs no flag.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = any.to_vec();
    settings.push(("tls_self_signed", "true"));
    let agent = Agent::start(&config(dir.path(), &settings).unwrap())
        .await
        .expect("starts with TLS on every interface");
    assert!(agent.tls_fingerprint().is_some());
    agent.shutdown().await;
}
