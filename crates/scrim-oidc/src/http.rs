//! The HTTP client the relying party talks to the provider with: hyper over TCP, rustls
//! (ring provider, TLS 1.2+) for `https`, a deadline on every request and a cap on every
//! response body. It implements `openidconnect`'s `AsyncHttpClient`.
//!
//! Trust roots are the system's (`rustls-native-certs`) plus, optionally, the certificates of
//! an extra CA in PEM, for providers behind a private CA. Plain `http://` is refused unless
//! the host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`): a provider on the same
//! machine, as in tests. Redirects are not followed: an OpenID provider's discovery, JWKS,
//! token and userinfo endpoints answer directly, and following a redirect from the token
//! endpoint would send the client's credentials elsewhere.

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

use crate::error::OidcError;

/// Default deadline for one request, from connecting to the last byte of the body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on a response body. Discovery documents, key sets, token and userinfo
/// responses are a few kilobytes.
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
    /// Whether plain `http://` to a loopback host is allowed (default true, for a provider
    /// on the same machine). Off, every request goes over TLS.
    pub plain_http_on_loopback: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            extra_ca_pem: None,
            system_roots: true,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            plain_http_on_loopback: true,
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
            .finish()
    }
}

/// An HTTP client for the provider's endpoints. Cheap to clone (one connection pool); build
/// one per process and share it between tenants' [`crate::OidcClient`]s.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    max_response_bytes: usize,
    plain_http_on_loopback: bool,
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
    /// trusted.
    pub fn new(options: HttpOptions) -> Result<Self, OidcError> {
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
        })
    }

    /// Sends `request` and reads the whole response, within the deadline and the size cap.
    /// Any status is returned as a response; only transport failures are errors.
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, OidcError> {
        let (parts, body) = request.into_parts();
        check_url(&parts.uri, self.plain_http_on_loopback)?;
        let mut request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        request.headers_mut().insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(concat!("scrim-oidc/", env!("CARGO_PKG_VERSION"))),
        );
        let max = self.max_response_bytes;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| OidcError::Http(describe_transport_error(&e)))?;
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
                        OidcError::Http("the response body could not be read".into())
                    }
                })?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body.to_vec()))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(OidcError::Http(format!(
                "no complete answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

impl<'c> openidconnect::AsyncHttpClient<'c> for HttpClient {
    type Error = OidcError;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, OidcError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

fn too_large(max: usize) -> OidcError {
    OidcError::Http(format!("the response is larger than {max} bytes"))
}

/// A transport error without anything from the exchange itself (hyper's messages name the
/// failure, never the request or response).
fn describe_transport_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut message = String::from("request failed");
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    if e.is_connect() && !message.contains("connect") {
        message.push_str(" (connecting)");
    }
    message
}

/// True for a host name or address that stays on this machine.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
}

/// `https`, or (if `plain_on_loopback`) `http` to a loopback host; nothing else is fetched.
pub(crate) fn check_url(uri: &Uri, plain_on_loopback: bool) -> Result<(), OidcError> {
    let host = uri
        .host()
        .ok_or_else(|| OidcError::Http("the URL has no host".into()))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if !plain_on_loopback => Err(OidcError::Http(format!(
            "plain http:// to {host} refused: only https is used"
        ))),
        Some("http") if is_loopback_host(host) => Ok(()),
        Some("http") => Err(OidcError::Http(format!(
            "plain http:// to {host} refused: use https (plain http is allowed on loopback only)"
        ))),
        _ => Err(OidcError::Http("only https:// URLs are fetched".into())),
    }
}

fn tls_config(options: &HttpOptions) -> Result<rustls::ClientConfig, OidcError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| OidcError::Config(format!("TLS: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = &options.extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| OidcError::Config("extra CA: invalid PEM".to_string()))?;
            roots
                .add(cert)
                .map_err(|e| OidcError::Config(format!("extra CA: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(OidcError::Config(
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
        return Err(OidcError::Config(
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
