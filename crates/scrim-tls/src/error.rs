//! [`TlsError`]: every way setting up a listener can fail, each with a message an operator
//! can act on. No message quotes key material.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a certificate could not be loaded or generated, or a listener could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// Reading or writing a certificate or key file failed.
    Io {
        /// What was being done, e.g. "reading the certificate file".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A certificate or key file does not hold what it should.
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never quotes key material).
        problem: String,
    },
    /// The self-signed certificate could not be generated.
    Generate(String),
    /// rustls refused the certificate and key (e.g. the key does not match the certificate).
    Config(rustls::Error),
    /// Plain connections on an address other than loopback, without the explicit flag.
    PlaintextRefused {
        /// The address that was to be served without TLS.
        addr: SocketAddr,
    },
    /// Binding the listening socket failed.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Io {
                action,
                path,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            TlsError::Pem { path, problem } => write!(f, "{}: {problem}", path.display()),
            TlsError::Generate(e) => write!(f, "generating a self-signed certificate: {e}"),
            TlsError::Config(e) => write!(f, "the TLS certificate and key are not usable: {e}"),
            TlsError::PlaintextRefused { addr } => write!(
                f,
                "refusing to serve plain (unencrypted) connections on {addr}: it is not a \
                 loopback address. Configure a TLS certificate and key, or a self-signed \
                 certificate, or, to accept unencrypted traffic on purpose, set the explicit \
                 allow-plaintext option"
            ),
            TlsError::Bind { addr, source } => write!(f, "binding {addr}: {source}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Io { source, .. } | TlsError::Bind { source, .. } => Some(source),
            TlsError::Config(e) => Some(e),
            _ => None,
        }
    }
}

/// For callers that report `io::Error`: the kind follows the cause, the message and the
/// [`TlsError`] itself (reachable with `get_ref().downcast_ref()`) are kept.
impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        let kind = match &e {
            TlsError::Io { source, .. } | TlsError::Bind { source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}
