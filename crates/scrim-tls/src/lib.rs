//! TLS for every Scrim listener.
//!
//! Telemetry carries what the capture policy has not yet removed, and the API keys that
//! say whose it is. Anything that crosses a network must therefore be encrypted, and an
//! operator must not be able to expose a plain port by accident. This crate is the one
//! place where Scrim's listeners (OTLP receivers, the REST API, the UI) get that right:
//!
//! - **rustls only, TLS 1.2 and 1.3 only.** The ring provider is installed in each
//!   [`rustls::ServerConfig`] this crate builds, never as a process-wide default. A client
//!   that offers TLS 1.1 or older gets a `protocol_version` alert.
//! - **A certificate from files, or a self-signed one.** [`TlsMode::Files`] loads a PEM
//!   chain and key (PKCS#8, RSA or SEC1) and checks they belong together.
//!   [`TlsMode::SelfSigned`] generates an ECDSA P-256 certificate once, writes it and its
//!   key (mode 0600, atomically) to a directory and reuses them on every later start, so
//!   the [`ServerIdentity::fingerprint`] the operator printed and clients pinned stays
//!   valid.
//! - **Plain connections on loopback only.** [`check_plaintext`] refuses to serve without
//!   TLS on any other address (including `0.0.0.0` and `::`) unless the operator set an
//!   explicit flag, and then logs a warning on every start.
//! - **A listener that a slow client cannot stall.** [`Listener`] runs every TLS handshake in
//!   its own task with a timeout; failed handshakes are logged at debug level and dropped.
//!   It works with `axum::serve` and, as a stream of connections, with tonic.
//!
//! ```no_run
//! # async fn run(router: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! use std::net::SocketAddr;
//! use scrim_tls::{ALPN_HTTP, Listener, TlsMode};
//!
//! let mode = TlsMode::SelfSigned { dir: "/var/lib/scrim/tls".into(), names: vec![] };
//! let tls = match mode.load()? {
//!     Some(identity) => {
//!         println!("TLS certificate SHA-256 fingerprint: {}", identity.fingerprint());
//!         Some(identity.server_config(ALPN_HTTP)?)
//!     }
//!     None => None,
//! };
//! let addr: SocketAddr = "0.0.0.0:8443".parse()?;
//! let listener = Listener::bind(addr, tls, false).await?;
//! axum::serve(
//!     listener.with_connect_info(),
//!     router.into_make_service_with_connect_info::<SocketAddr>(),
//! )
//! .await?;
//! # Ok(())
//! # }
//! ```

mod error;
mod identity;
mod listener;
mod plaintext;

pub use error::TlsError;
pub use identity::{
    ALPN_GRPC, ALPN_HTTP, SELF_SIGNED_CERT_FILE, SELF_SIGNED_DEFAULT_NAMES, SELF_SIGNED_KEY_FILE,
    ServerIdentity, TlsMode, fingerprint_sha256,
};
pub use listener::{
    AxumListener, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_PENDING_HANDSHAKES, Listener,
    MaybeTlsStream,
};
pub use plaintext::check_plaintext;

/// Returns `config` with `alpn` as its ALPN protocols, for serving one identity on
/// listeners that speak different protocols (HTTP: [`ALPN_HTTP`]; gRPC: [`ALPN_GRPC`]).
pub fn with_alpn(
    config: &rustls::ServerConfig,
    alpn: &[&[u8]],
) -> std::sync::Arc<rustls::ServerConfig> {
    let mut config = config.clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    std::sync::Arc::new(config)
}
