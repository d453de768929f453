//! [`Listener`]: a TCP listener that hands out plain or TLS connections, for `axum::serve`
//! and as a stream of connections for tonic.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::ServerConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::{TlsError, check_plaintext};

/// How long a client has to complete the TLS handshake before its connection is closed.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many TLS handshakes may be in progress at once; connections beyond it are closed
/// at once, so a flood of idle connections costs a bounded amount of memory.
pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 1024;

/// How many connections one poll accepts before it yields to other tasks.
const ACCEPT_BATCH: usize = 64;

/// An accepted connection: plain TCP, or TLS with the handshake completed.
#[derive(Debug)]
pub enum MaybeTlsStream {
    /// A plain connection (only where [`check_plaintext`] allowed it).
    Plain(TcpStream),
    /// A TLS connection whose handshake has completed.
    Tls(Box<TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The underlying TCP connection.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp,
            MaybeTlsStream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// The client's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// The local address of this connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    /// The TLS session (negotiated version, ALPN protocol, …), if this is a TLS connection.
    pub fn tls_session(&self) -> Option<&ServerConnection> {
        match self {
            MaybeTlsStream::Plain(_) => None,
            MaybeTlsStream::Tls(tls) => Some(tls.get_ref().1),
        }
    }
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTlsStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTlsStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTlsStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(s) => s.is_write_vectored(),
            MaybeTlsStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTlsStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTlsStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type Handshake = Option<(TlsStream<TcpStream>, SocketAddr)>;

struct TlsState {
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    max_pending: usize,
    /// Handshakes in progress, each in its own task. Dropping the listener aborts them.
    pending: JoinSet<Handshake>,
}

impl TlsState {
    fn start_handshake(&mut self, tcp: TcpStream, peer: SocketAddr) {
        if self.pending.len() >= self.max_pending {
            tracing::debug!(
                %peer,
                pending = self.pending.len(),
                "too many TLS handshakes in progress; connection closed"
            );
            return;
        }
        let accept = self.acceptor.accept(tcp);
        let timeout = self.handshake_timeout;
        self.pending.spawn(async move {
            match tokio::time::timeout(timeout, accept).await {
                Ok(Ok(tls)) => Some((tls, peer)),
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed; connection closed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, ?timeout, "TLS handshake timed out; connection closed");
                    None
                }
            }
        });
    }
}

/// A bound listening socket that yields plain or TLS connections.
///
/// With TLS, each handshake runs in its own task with a timeout
/// ([`DEFAULT_HANDSHAKE_TIMEOUT`]), so a client that is slow or never sends its hello does
/// not hold up anyone else; a failed or timed-out handshake is logged at debug level and
/// the connection dropped, never reported as an error. Connections come out in the order
/// their handshakes complete.
///
/// Use it with `axum::serve` (it implements [`axum::serve::Listener`]; call
/// [`Listener::with_connect_info`] for `ConnectInfo<SocketAddr>`), or as a
/// [`Stream`](tokio_stream::Stream) of connections (tonic's `serve_with_incoming`, after
/// wrapping each connection in a type implementing tonic's `Connected`). The stream never
/// yields an error and never ends.
///
/// Accept errors (e.g. out of file descriptors) are logged and retried after a second, as
/// axum does. Dropping the listener closes the socket and aborts handshakes in progress.
pub struct Listener {
    tcp: TcpListener,
    local_addr: SocketAddr,
    tls: Option<TlsState>,
    backoff: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Binds `addr` (port 0 picks a free port). With `tls`, every connection is TLS. Without
    /// it, [`check_plaintext`] decides first: loopback is fine, any other address needs
    /// `allow_plaintext` (and then logs a warning).
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
        allow_plaintext: bool,
    ) -> Result<Listener, TlsError> {
        if tls.is_none() {
            check_plaintext(addr, allow_plaintext)?;
        }
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| TlsError::Bind { addr, source })?;
        let local_addr = local_addr_of(&tcp)?;
        Ok(Listener::new(tcp, local_addr, tls))
    }

    /// Wraps a socket already bound, with the same rules as [`Listener::bind`] (the
    /// plaintext check applies to the socket's local address).
    pub fn from_tcp(
        tcp: TcpListener,
        tls: Option<Arc<ServerConfig>>,
        allow_plaintext: bool,
    ) -> Result<Listener, TlsError> {
        let local_addr = local_addr_of(&tcp)?;
        if tls.is_none() {
            check_plaintext(local_addr, allow_plaintext)?;
        }
        Ok(Listener::new(tcp, local_addr, tls))
    }

    fn new(tcp: TcpListener, local_addr: SocketAddr, tls: Option<Arc<ServerConfig>>) -> Listener {
        Listener {
            tcp,
            local_addr,
            tls: tls.map(|config| TlsState {
                acceptor: TlsAcceptor::from(config),
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
                max_pending: DEFAULT_MAX_PENDING_HANDSHAKES,
                pending: JoinSet::new(),
            }),
            backoff: None,
        }
    }

    /// Sets how long a client has to complete the TLS handshake (no effect without TLS).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Listener {
        if let Some(tls) = &mut self.tls {
            tls.handshake_timeout = timeout;
        }
        self
    }

    /// Sets how many TLS handshakes may be in progress at once (no effect without TLS).
    pub fn with_max_pending_handshakes(mut self, max: usize) -> Listener {
        if let Some(tls) = &mut self.tls {
            tls.max_pending = max.max(1);
        }
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Waits for the next connection (TLS: with its handshake completed) and its peer.
    pub async fn accept(&mut self) -> (MaybeTlsStream, SocketAddr) {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Wraps the listener so that `axum::serve` can provide `ConnectInfo<SocketAddr>`.
    ///
    /// axum implements `Connected` for `SocketAddr` only over its own `TcpListener` and
    /// over any listener wrapped by `ListenerExt::tap_io`; this is that wrapping, with a tap
    /// that does nothing.
    pub fn with_connect_info(self) -> AxumListener {
        axum::serve::ListenerExt::tap_io(self, no_tap as fn(&mut MaybeTlsStream))
    }

    /// Polls for the next connection. Accepts whatever the socket has (starting a
    /// handshake task for each under TLS), then returns a finished handshake if any.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<(MaybeTlsStream, SocketAddr)> {
        let mut accepted = 0;
        loop {
            if let Some(sleep) = &mut self.backoff {
                if sleep.as_mut().poll(cx).is_pending() {
                    break;
                }
                self.backoff = None;
            }
            if accepted == ACCEPT_BATCH {
                // Let finished handshakes out and other tasks run; come back at once.
                cx.waker().wake_by_ref();
                break;
            }
            match self.tcp.poll_accept(cx) {
                Poll::Pending => break,
                Poll::Ready(Ok((tcp, peer))) => {
                    // Answers go out as they are written: with Nagle's algorithm, an HTTP/2
                    // response written in parts (headers, data, trailers) can wait for the
                    // client's delayed ACK. Failing to set it changes only latency.
                    let _ = tcp.set_nodelay(true);
                    match &mut self.tls {
                        None => return Poll::Ready((MaybeTlsStream::Plain(tcp), peer)),
                        Some(tls) => {
                            accepted += 1;
                            tls.start_handshake(tcp, peer);
                        }
                    }
                }
                Poll::Ready(Err(error)) if is_connection_error(&error) => {}
                Poll::Ready(Err(error)) => {
                    tracing::error!(
                        addr = %self.local_addr,
                        %error,
                        "accepting a connection failed; retrying in 1 s"
                    );
                    self.backoff = Some(Box::pin(tokio::time::sleep(Duration::from_secs(1))));
                }
            }
        }
        let Some(tls) = &mut self.tls else {
            return Poll::Pending;
        };
        loop {
            match tls.pending.poll_join_next(cx) {
                Poll::Ready(Some(Ok(Some((stream, peer))))) => {
                    return Poll::Ready((MaybeTlsStream::Tls(Box::new(stream)), peer));
                }
                // A failed handshake (logged by its task), or a task that panicked.
                Poll::Ready(Some(_)) => {}
                // Nothing in progress: the socket's waker brings us back.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

fn no_tap(_: &mut MaybeTlsStream) {}

fn local_addr_of(tcp: &TcpListener) -> Result<SocketAddr, TlsError> {
    tcp.local_addr().map_err(|source| TlsError::Io {
        action: "reading the address of",
        path: "the listening socket".into(),
        source,
    })
}

/// [`Listener`] as wrapped by [`Listener::with_connect_info`].
pub type AxumListener = axum::serve::TapIo<Listener, fn(&mut MaybeTlsStream)>;

/// Errors that concern one connection only (axum's list): accept again at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

impl axum::serve::Listener for Listener {
    type Io = MaybeTlsStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (MaybeTlsStream, SocketAddr) {
        Listener::accept(self).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

/// Never yields an error and never ends; the `Result` is what tonic's
/// `serve_with_incoming` asks for.
impl tokio_stream::Stream for Listener {
    type Item = io::Result<MaybeTlsStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .poll_accept(cx)
            .map(|(stream, _)| Some(Ok(stream)))
    }
}
