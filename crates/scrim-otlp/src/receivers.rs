//! Binding both receivers, with TLS or (on loopback, or where explicitly allowed) plain,
//! and graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use scrim_tls::{ALPN_GRPC, ALPN_HTTP, Listener, MaybeTlsStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt as _;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::{DEFAULT_GRPC_ADDR, DEFAULT_HTTP_ADDR, Limits, Sink, grpc_router, http_router};

/// Where [`Receivers::start`] listens.
#[derive(Clone, Debug)]
pub struct ReceiversConfig {
    /// OTLP/gRPC address; `None` disables it. Default [`DEFAULT_GRPC_ADDR`].
    pub grpc: Option<SocketAddr>,
    /// OTLP/HTTP address; `None` disables it. Default [`DEFAULT_HTTP_ADDR`].
    pub http: Option<SocketAddr>,
    /// Limits for both.
    pub limits: Limits,
    /// TLS for both listeners (build it with `scrim_tls`: `ServerIdentity::server_config`).
    /// Its ALPN list is replaced per listener: `h2` for gRPC, `h2` and `http/1.1` for HTTP.
    /// `None` (the default): plain connections, which [`Receivers::start`] allows only on
    /// loopback addresses unless `allow_plaintext` is set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The operator's explicit choice to serve plain connections on a non-loopback address
    /// (logged as a warning at every start). Default `false`. Ignored with `tls`.
    pub allow_plaintext: bool,
}

impl Default for ReceiversConfig {
    fn default() -> Self {
        ReceiversConfig {
            grpc: Some(DEFAULT_GRPC_ADDR),
            http: Some(DEFAULT_HTTP_ADDR),
            limits: Limits::default(),
            tls: None,
            allow_plaintext: false,
        }
    }
}

impl ReceiversConfig {
    /// Both receivers on 127.0.0.1 with ports chosen by the OS (for tests).
    pub fn loopback_ephemeral() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        ReceiversConfig {
            grpc: Some(any),
            http: Some(any),
            ..ReceiversConfig::default()
        }
    }
}

/// Running OTLP receivers. Dropping it without [`Receivers::shutdown`] also stops them
/// (abruptly: in-flight requests are cut).
pub struct Receivers {
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for Receivers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receivers")
            .field("grpc_addr", &self.grpc_addr)
            .field("http_addr", &self.http_addr)
            .finish_non_exhaustive()
    }
}

async fn signalled(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone: stop as well.
    let _ = rx.wait_for(|stop| *stop).await;
}

impl Receivers {
    /// Binds the configured listeners (port 0 picks a free port), then serves in background
    /// tasks. When this returns, the sockets accept connections.
    ///
    /// Without [`ReceiversConfig::tls`], an address that is not loopback fails (before
    /// anything is bound) with an [`io::ErrorKind::InvalidInput`] error whose message names
    /// the address and the remedies, unless [`ReceiversConfig::allow_plaintext`] is set; the
    /// error wraps a [`scrim_tls::TlsError`].
    pub async fn start(config: ReceiversConfig, sink: Arc<dyn Sink>) -> io::Result<Receivers> {
        if config.tls.is_none() && !config.allow_plaintext {
            for addr in [config.grpc, config.http].into_iter().flatten() {
                scrim_tls::check_plaintext(addr, false)?;
            }
        }
        let tls_for = |alpn: &[&[u8]]| {
            config
                .tls
                .as_deref()
                .map(|tls| scrim_tls::with_alpn(tls, alpn))
        };
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut grpc_addr = None;
        let mut http_addr = None;
        if let Some(addr) = config.grpc {
            let listener = Listener::bind(addr, tls_for(ALPN_GRPC), config.allow_plaintext).await?;
            grpc_addr = Some(listener.local_addr());
            let incoming = listener.map(|conn| conn.map(GrpcConn));
            let routes = grpc_router(sink.clone(), config.limits);
            let rx = rx.clone();
            tasks.push(tokio::spawn(async move {
                tonic::transport::Server::builder()
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(incoming, signalled(rx))
                    .await
                    .map_err(io::Error::other)
            }));
        }
        if let Some(addr) = config.http {
            let listener = Listener::bind(addr, tls_for(ALPN_HTTP), config.allow_plaintext).await?;
            http_addr = Some(listener.local_addr());
            let router = http_router(sink, config.limits);
            let rx = rx.clone();
            tasks.push(tokio::spawn(async move {
                axum::serve(
                    listener.with_connect_info(),
                    router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(signalled(rx))
                .await
            }));
        }
        Ok(Receivers {
            grpc_addr,
            http_addr,
            shutdown,
            tasks,
        })
    }

    /// The bound OTLP/gRPC address, if enabled.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The bound OTLP/HTTP address, if enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for both
    /// servers to stop.
    pub async fn shutdown(mut self) -> io::Result<()> {
        let _ = self.shutdown.send(true);
        let mut result = Ok(());
        for task in self.tasks.drain(..) {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(e) => result = Err(io::Error::other(e)),
            }
        }
        result
    }
}

impl Drop for Receivers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A connection as tonic takes it: [`Connected`] reports the TCP addresses as for a plain
/// `TcpStream`, so `Request::remote_addr` gives the peer over TLS too.
struct GrpcConn(MaybeTlsStream);

impl Connected for GrpcConn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        TcpConnectInfo {
            local_addr: self.0.local_addr().ok(),
            remote_addr: self.0.peer_addr().ok(),
        }
    }
}

impl AsyncRead for GrpcConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
