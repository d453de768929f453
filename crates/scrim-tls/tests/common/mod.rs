//! Shared by the integration tests: an axum app behind a [`Listener`], and TLS clients
//! restricted to one protocol version.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use scrim_tls::{Listener, ServerIdentity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A self-signed identity in a fresh directory (kept alive by the returned guard).
pub fn identity() -> (ServerIdentity, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let identity = ServerIdentity::self_signed(dir.path(), &[]).unwrap();
    (identity, dir)
}

/// `GET /` answers "hello"; `GET /peer` answers the client address axum saw.
pub fn app() -> Router {
    Router::new().route("/", get(|| async { "hello" })).route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    )
}

/// Serves [`app`] through `listener` in a background task; returns the address.
pub fn serve(listener: Listener) -> SocketAddr {
    let addr = listener.local_addr();
    tokio::spawn(async move {
        axum::serve(
            listener.with_connect_info(),
            app().into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// A rustls client that trusts only `trusted` and speaks only `version`.
pub fn client_config(
    trusted: &CertificateDer<'static>,
    version: &'static SupportedProtocolVersion,
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// What an HTTPS request saw.
#[derive(Debug)]
pub struct Exchange {
    pub version: ProtocolVersion,
    pub alpn: Option<Vec<u8>>,
    /// The client's own address (what the server should report as the peer).
    pub client_addr: SocketAddr,
    pub response: String,
}

/// `GET path` over HTTP/1.1 and TLS to `localhost` at `addr`, reading the whole response.
pub async fn https_get(addr: SocketAddr, config: Arc<ClientConfig>, path: &str) -> Exchange {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let client_addr = tcp.local_addr().unwrap();
    let mut tls = TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (_, session) = tls.get_ref();
    let version = session.protocol_version().unwrap();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await.unwrap();
    Exchange {
        version,
        alpn,
        client_addr,
        response: String::from_utf8(response).unwrap(),
    }
}

/// The body of an HTTP/1.1 response (after the blank line).
pub fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}
