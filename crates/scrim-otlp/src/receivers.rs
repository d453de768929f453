//! Binding both receivers, with graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

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
}

impl Default for ReceiversConfig {
    fn default() -> Self {
        ReceiversConfig {
            grpc: Some(DEFAULT_GRPC_ADDR),
            http: Some(DEFAULT_HTTP_ADDR),
            limits: Limits::default(),
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
            limits: Limits::default(),
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
    pub async fn start(config: ReceiversConfig, sink: Arc<dyn Sink>) -> io::Result<Receivers> {
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut grpc_addr = None;
        let mut http_addr = None;
        if let Some(addr) = config.grpc {
            let listener = TcpListener::bind(addr).await?;
            grpc_addr = Some(listener.local_addr()?);
            let routes = grpc_router(sink.clone(), config.limits);
            let rx = rx.clone();
            tasks.push(tokio::spawn(async move {
                tonic::transport::Server::builder()
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signalled(rx))
                    .await
                    .map_err(io::Error::other)
            }));
        }
        if let Some(addr) = config.http {
            let listener = TcpListener::bind(addr).await?;
            http_addr = Some(listener.local_addr()?);
            let router = http_router(sink, config.limits);
            let rx = rx.clone();
            tasks.push(tokio::spawn(async move {
                axum::serve(
                    listener,
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
