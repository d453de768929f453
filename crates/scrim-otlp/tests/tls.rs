//! Receivers over TLS (a self-signed certificate from `scrim_tls`), and the plaintext
//! rule: plain listeners on loopback only unless explicitly allowed.

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use scrim_otlp::{
    Batch, ExportOutcome, Exporter, ExporterConfig, Protocol, Receivers, ReceiversConfig, Sink,
};
use scrim_tls::{SELF_SIGNED_CERT_FILE, ServerIdentity, TlsError};

const PROTOCOLS: [Protocol; 2] = [Protocol::Grpc, Protocol::HttpProtobuf];

/// A self-signed identity, and the PEM certificate a client trusts for it.
fn self_signed() -> (ServerIdentity, Vec<u8>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let identity = ServerIdentity::self_signed(dir.path(), &[]).unwrap();
    let pem = std::fs::read(dir.path().join(SELF_SIGNED_CERT_FILE)).unwrap();
    (identity, pem, dir)
}

fn tls_config(identity: &ServerIdentity) -> ReceiversConfig {
    ReceiversConfig {
        // Whatever ALPN the caller set is replaced per listener.
        tls: Some(identity.server_config(&[b"not-used"]).unwrap()),
        ..ReceiversConfig::loopback_ephemeral()
    }
}

fn addr_of(receivers: &Receivers, protocol: Protocol) -> SocketAddr {
    match protocol {
        Protocol::Grpc => receivers.grpc_addr().unwrap(),
        Protocol::HttpProtobuf => receivers.http_addr().unwrap(),
    }
}

async fn export(config: ExporterConfig) -> ExportOutcome {
    Exporter::new(config)
        .unwrap()
        .export(&Batch::Traces(traces(2)))
        .await
}

#[tokio::test]
async fn exports_over_tls_with_a_self_signed_certificate_on_both_protocols() {
    let (identity, pem, _dir) = self_signed();
    let sink = TestSink::new();
    let receivers = Receivers::start(tls_config(&identity), sink.clone() as Arc<dyn Sink>)
        .await
        .unwrap();
    for protocol in PROTOCOLS {
        let port = addr_of(&receivers, protocol).port();
        for host in ["localhost", "127.0.0.1"] {
            let mut config = ExporterConfig::new(format!("https://{host}:{port}"), protocol);
            config.ca_pem = Some(pem.clone());
            assert_eq!(
                export(config).await,
                ExportOutcome::Delivered { attempts: 1 },
                "{protocol:?} {host}"
            );
        }
    }
    assert_eq!(sink.batches().len(), 4);
    // The peer address still reaches the sink through TLS, on both listeners.
    for ctx in sink.contexts() {
        assert!(ctx.peer.unwrap().ip().is_loopback(), "{ctx:?}");
    }
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_untrusted_or_plain_client_delivers_nothing() {
    let (identity, _pem, _dir) = self_signed();
    let (_other, other_pem, _other_dir) = self_signed();
    let sink = TestSink::new();
    let receivers = Receivers::start(tls_config(&identity), sink.clone() as Arc<dyn Sink>)
        .await
        .unwrap();
    for protocol in PROTOCOLS {
        let port = addr_of(&receivers, protocol).port();
        // Trusting another certificate: the handshake fails.
        let mut config = ExporterConfig::new(format!("https://localhost:{port}"), protocol);
        config.ca_pem = Some(other_pem.clone());
        config.retry.enabled = false;
        let outcome = export(config).await;
        assert!(!outcome.is_delivered(), "{protocol:?} {outcome:?}");
        // Plain HTTP/2 or HTTP/1.1 to the TLS port: no answer the client can use.
        let mut config = ExporterConfig::new(format!("http://127.0.0.1:{port}"), protocol);
        config.allow_http = true;
        config.retry.enabled = false;
        let outcome = export(config).await;
        assert!(!outcome.is_delivered(), "{protocol:?} {outcome:?}");
    }
    assert_eq!(sink.calls(), 0);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn plain_receivers_refuse_a_non_loopback_address_without_the_flag() {
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    for (grpc, http) in [
        (Some(any), None),
        (None, Some(any)),
        (Some(loopback), Some(any)),
    ] {
        let config = ReceiversConfig {
            grpc,
            http,
            ..ReceiversConfig::default()
        };
        let err = Receivers::start(config, TestSink::new()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let message = err.to_string();
        assert!(message.contains("0.0.0.0:0"), "{message}");
        assert!(message.contains("allow-plaintext"), "{message}");
        let cause = err.get_ref().unwrap().downcast_ref::<TlsError>().unwrap();
        assert!(matches!(cause, TlsError::PlaintextRefused { addr } if *addr == any));
    }
}

#[tokio::test]
async fn plain_receivers_on_every_interface_serve_when_explicitly_allowed() {
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let sink = TestSink::new();
    let config = ReceiversConfig {
        grpc: Some(any),
        http: Some(any),
        allow_plaintext: true,
        ..ReceiversConfig::default()
    };
    let receivers = Receivers::start(config, sink.clone() as Arc<dyn Sink>)
        .await
        .unwrap();
    for protocol in PROTOCOLS {
        let port = addr_of(&receivers, protocol).port();
        let mut config = ExporterConfig::new(format!("http://127.0.0.1:{port}"), protocol);
        config.allow_http = true;
        assert!(export(config).await.is_delivered(), "{protocol:?}");
    }
    assert_eq!(sink.batches().len(), 2);
    receivers.shutdown().await.unwrap();
}

#[tokio::test]
async fn tls_receivers_need_no_flag_on_every_interface() {
    let (identity, pem, _dir) = self_signed();
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let sink = TestSink::new();
    let config = ReceiversConfig {
        grpc: Some(any),
        http: Some(any),
        ..tls_config(&identity)
    };
    let receivers = Receivers::start(config, sink.clone() as Arc<dyn Sink>)
        .await
        .unwrap();
    for protocol in PROTOCOLS {
        let port = addr_of(&receivers, protocol).port();
        let mut config = ExporterConfig::new(format!("https://localhost:{port}"), protocol);
        config.ca_pem = Some(pem.clone());
        assert!(export(config).await.is_delivered(), "{protocol:?}");
    }
    assert_eq!(sink.batches().len(), 2);
    receivers.shutdown().await.unwrap();
}
