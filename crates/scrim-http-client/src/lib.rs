//! Scrim's outbound HTTP client: hyper over TCP, rustls (ring provider, TLS 1.2+) for
//! `https`, a deadline on every request and a cap on every response body. One crate so that
//! every call Scrim makes to another party (OpenID providers, AI providers, webhooks) gets the
//! same transport rules.
//!
//! Trust roots are the system's (`rustls-native-certs`) plus, optionally, the certificates of
//! an extra CA in PEM, for servers behind a private CA. Plain `http://` is refused unless the
//! option allows it and the host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`):
//! a server on the same machine, as in tests. Redirects are not followed: a redirect could
//! send credentials or a signed payload somewhere the caller never checked.
//!
//! Errors ([`HttpError`]) name what failed (a host, a deadline, a size) and never carry a
//! request or response body.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The `User-Agent` sent unless the options or the request set another.
pub const DEFAULT_USER_AGENT: &str = concat!("scrim/", env!("CARGO_PKG_VERSION"));

/// Default deadline for one request, from connecting to the last byte of the body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on a response body. The answers Scrim reads (discovery documents, key sets,
/// tokens, chat completions, webhook acknowledgements) are a few kilobytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How [`HttpClient`] connects.
#[derive(Clone)]
pub struct HttpOptions {
    /// Certificates (PEM) of a CA to trust besides the system's roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Whether to trust the system's root certificates (default true). Off, only
    /// `extra_ca_pem` is trusted.
    pub system_roots: bool,
    /// Deadline for one request, connection included.
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Whether plain `http://` to a loopback host is allowed (default true, for a server on
    /// the same machine). Off, every request goes over TLS.
    pub plain_http_on_loopback: bool,
    /// `User-Agent` for requests that do not set one (default [`DEFAULT_USER_AGENT`]).
    pub user_agent: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            extra_ca_pem: None,
            system_roots: true,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            plain_http_on_loopback: true,
            user_agent: DEFAULT_USER_AGENT.to_string(),
        }
    }
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field(
                "extra_ca_pem",
                &self
                    .extra_ca_pem
                    .as_ref()
                    .map(|pem| format!("<{} bytes>", pem.len())),
            )
            .field("system_roots", &self.system_roots)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("plain_http_on_loopback", &self.plain_http_on_loopback)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// An HTTP client. Cheap to clone (one connection pool); build one per set of options and
/// share it.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    max_response_bytes: usize,
    plain_http_on_loopback: bool,
    user_agent: http::HeaderValue,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with the given trust roots and limits.
    ///
    /// Fails when `extra_ca_pem` holds no valid certificate, or when no root at all is
    /// trusted, or when the user agent is not a valid header value.
    pub fn new(options: HttpOptions) -> Result<Self, HttpError> {
        let user_agent = http::HeaderValue::from_str(&options.user_agent)
            .map_err(|_| HttpError::Config("user agent: not a valid header value".into()))?;
        let tls = tls_config(&options)?;
        let connector = Connector {
            tls: TlsConnector::from(Arc::new(tls)),
            plain_http_on_loopback: options.plain_http_on_loopback,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(HttpClient {
            client,
            timeout: options.timeout,
            max_response_bytes: options.max_response_bytes,
            plain_http_on_loopback: options.plain_http_on_loopback,
            user_agent,
        })
    }

    /// Sends `request` and reads the whole response, within the deadline and the size cap.
    /// Any status is returned as a response; only transport failures are errors. A
    /// `User-Agent` the request carries is kept.
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let (parts, body) = request.into_parts();
        check_url(&parts.uri, self.plain_http_on_loopback)?;
        let mut request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        request
            .headers_mut()
            .entry(http::header::USER_AGENT)
            .or_insert_with(|| self.user_agent.clone());
        let max = self.max_response_bytes;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| transport_error(&e))?;
            let (parts, body) = response.into_parts();
            if let Some(length) = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                && length > max as u64
            {
                return Err(too_large(max));
            }
            let body = Limited::new(body, max)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        too_large(max)
                    } else {
                        HttpError::Transport("the response body could not be read".into())
                    }
                })?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body.to_vec()))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout(self.timeout)),
        }
    }
}

fn too_large(max: usize) -> HttpError {
    HttpError::TooLarge(max)
}

/// A transport error without anything from the exchange itself (hyper's messages name the
/// failure, never the request or response).
fn transport_error(e: &hyper_util::client::legacy::Error) -> HttpError {
    let mut message = String::from("request failed");
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    if let Some(refused) = refused_in(e) {
        return refused;
    }
    if e.is_connect() {
        if !message.contains("connect") {
            message.push_str(" (connecting)");
        }
        return HttpError::Connect(message);
    }
    HttpError::Transport(message)
}

/// The connector's own refusal (a URL it will not dial), if that is what failed.
fn refused_in(e: &hyper_util::client::legacy::Error) -> Option<HttpError> {
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if let Some(refusal) = inner.downcast_ref::<HttpError>() {
            return Some(refusal.clone());
        }
        source = inner.source();
    }
    None
}

/// True for a host name or address that stays on this machine: a loopback IP address (with
/// or without IPv6 brackets) or `localhost`. Other names are not resolved.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
}

/// `https`, or (if `plain_on_loopback`) `http` to a loopback host; nothing else is fetched.
pub fn check_url(uri: &Uri, plain_on_loopback: bool) -> Result<(), HttpError> {
    let host = uri
        .host()
        .ok_or_else(|| HttpError::Refused("the URL has no host".into()))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if !plain_on_loopback => Err(HttpError::Refused(format!(
            "plain http:// to {host} refused: only https is used"
        ))),
        Some("http") if is_loopback_host(host) => Ok(()),
        Some("http") => Err(HttpError::Refused(format!(
            "plain http:// to {host} refused: use https (plain http is allowed on loopback only)"
        ))),
        _ => Err(HttpError::Refused("only https:// URLs are fetched".into())),
    }
}

fn tls_config(options: &HttpOptions) -> Result<rustls::ClientConfig, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| HttpError::Config(format!("TLS: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = &options.extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| HttpError::Config("extra CA: invalid PEM".to_string()))?;
            roots
                .add(cert)
                .map_err(|e| HttpError::Config(format!("extra CA: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(HttpError::Config(
                "extra CA: the PEM holds no certificate".into(),
            ));
        }
    }
    if options.system_roots {
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::warn!("no system root certificates found; only the extra CA is trusted");
        }
    }
    if roots.is_empty() {
        return Err(HttpError::Config(
            "no trusted root certificate: the system has none and no extra CA is set".into(),
        ));
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Dials the host and port of each request's URL; TLS for `https`.
#[derive(Clone)]
struct Connector {
    tls: TlsConnector,
    plain_http_on_loopback: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Uri> for Connector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        let plain_on_loopback = self.plain_http_on_loopback;
        Box::pin(async move {
            // `send` checked the URL already; the pool may also dial for it, so again here.
            check_url(&uri, plain_on_loopback)?;
            let https = uri.scheme_str() == Some("https");
            let host = uri.host().unwrap_or_default().to_string();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let tcp = match bare.parse::<IpAddr>() {
                Ok(ip) => TcpStream::connect((ip, port)).await,
                Err(_) if !https && is_loopback_host(bare) => connect_localhost(port).await,
                Err(_) => TcpStream::connect((bare, port)).await,
            }
            .map_err(|e| io::Error::new(e.kind(), format!("connect to {host}:{port}: {e}")))?;
            let _ = tcp.set_nodelay(true);
            let stream = if https {
                let name = ServerName::try_from(bare.to_string())
                    .map_err(|_| format!("{host} is not a valid TLS server name"))?;
                Stream::Tls(Box::new(tls.connect(name, tcp).await?))
            } else {
                Stream::Plain(tcp)
            };
            Ok(Conn {
                io: TokioIo::new(stream),
            })
        })
    }
}

/// `localhost` over plain HTTP is dialled on the loopback addresses themselves, never
/// through name resolution (which could answer with a non-local address).
async fn connect_localhost(port: u16) -> io::Result<TcpStream> {
    match TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await {
        Ok(tcp) => Ok(tcp),
        Err(_) => TcpStream::connect((Ipv6Addr::LOCALHOST, port)).await,
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A connection as hyper sees it.
struct Conn {
    io: TokioIo<Stream>,
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Why a request could not be made or its answer read. No variant carries a request or
/// response body, a header value or a URL's query: at most a host, a duration or a size.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The options are unusable: an unreadable CA certificate, no trusted root.
    Config(String),
    /// The URL was refused before any connection: plain `http://` where it is not allowed,
    /// another scheme, no host.
    Refused(String),
    /// Connecting failed: name resolution, TCP, the TLS handshake (an untrusted certificate).
    Connect(String),
    /// The connection broke or the answer was malformed after connecting.
    Transport(String),
    /// No complete answer within the deadline.
    Timeout(Duration),
    /// The answer is larger than the cap (in bytes).
    TooLarge(usize),
}

impl HttpError {
    /// True for failures worth trying again later (connecting, a broken connection, the
    /// deadline): the same request might succeed. A refusal or bad options will not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HttpError::Connect(_) | HttpError::Transport(_) | HttpError::Timeout(_)
        )
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Config(m) => write!(f, "HTTP client configuration: {m}"),
            HttpError::Refused(m) | HttpError::Connect(m) | HttpError::Transport(m) => {
                f.write_str(m)
            }
            HttpError::Timeout(d) => write!(f, "no complete answer within {} ms", d.as_millis()),
            HttpError::TooLarge(max) => write!(f, "the response is larger than {max} bytes"),
        }
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST.",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "example.test",
            "127.0.0.1.example.test",
            "localhost.test",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn urls_are_checked_before_dialling() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        check_url(&uri("https://example.test/x"), false).unwrap();
        check_url(&uri("http://127.0.0.1:80/x"), true).unwrap();
        for (url, plain) in [
            ("http://127.0.0.1/x", false),
            ("http://example.test/x", true),
            ("ftp://example.test/x", true),
            ("/relative", true),
        ] {
            let e = check_url(&uri(url), plain).unwrap_err();
            assert!(matches!(e, HttpError::Refused(_)), "{url}: {e:?}");
            assert!(!e.is_transient());
        }
    }

    #[test]
    fn user_agent_must_be_a_header_value() {
        let e = HttpClient::new(HttpOptions {
            user_agent: "bad\nagent".into(),
            ..HttpOptions::default()
        })
        .unwrap_err();
        assert!(matches!(e, HttpError::Config(_)), "{e:?}");
    }
}
