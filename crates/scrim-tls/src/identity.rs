//! The server's identity: a certificate chain and its private key, from PEM files or a
//! self-signed certificate generated once and kept on disk, and the rustls configuration
//! built from it.

use std::fmt::{self, Write as _};
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ServerConfig, version};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sha2::{Digest, Sha256};

use crate::TlsError;

/// ALPN for an HTTP listener: HTTP/2 preferred, HTTP/1.1 accepted.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

/// ALPN for a gRPC listener: HTTP/2 only.
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];

/// File name of the generated certificate in the self-signed directory.
pub const SELF_SIGNED_CERT_FILE: &str = "tls-cert.pem";

/// File name of the generated private key in the self-signed directory.
pub const SELF_SIGNED_KEY_FILE: &str = "tls-key.pem";

/// Names a generated certificate always covers, besides those asked for.
pub const SELF_SIGNED_DEFAULT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Certificate and key files larger than this are refused (a PEM chain is a few KiB).
const MAX_PEM_FILE: u64 = 1024 * 1024;

/// How a listener gets its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS: plain connections (subject to [`check_plaintext`](crate::check_plaintext)).
    Off,
    /// A PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 RSA or
    /// SEC1 EC; not encrypted).
    Files {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
    },
    /// A self-signed certificate kept in `dir` ([`SELF_SIGNED_CERT_FILE`],
    /// [`SELF_SIGNED_KEY_FILE`]): generated on the first start, reused afterwards, so its
    /// fingerprint stays the same. See [`ServerIdentity::self_signed`].
    SelfSigned {
        /// Where the certificate and key live.
        dir: PathBuf,
        /// DNS names and IP addresses the certificate covers besides
        /// [`SELF_SIGNED_DEFAULT_NAMES`].
        names: Vec<String>,
    },
}

impl TlsMode {
    /// Loads (or, for [`TlsMode::SelfSigned`] on the first start, generates) the identity;
    /// `None` for [`TlsMode::Off`].
    pub fn load(&self) -> Result<Option<ServerIdentity>, TlsError> {
        match self {
            TlsMode::Off => Ok(None),
            TlsMode::Files { cert, key } => ServerIdentity::from_pem_files(cert, key).map(Some),
            TlsMode::SelfSigned { dir, names } => ServerIdentity::self_signed(dir, names).map(Some),
        }
    }
}

/// A certificate chain with its private key, checked to belong together.
///
/// `Debug` shows the fingerprint, never the key.
#[derive(Clone)]
pub struct ServerIdentity {
    certified: CertifiedKey,
    fingerprint: String,
    generated: bool,
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("fingerprint", &self.fingerprint)
            .field("chain_len", &self.certified.cert.len())
            .field("generated", &self.generated)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl ServerIdentity {
    /// From PEM text: every `CERTIFICATE` block of `cert_pem` (leaf first) and the first
    /// private key of `key_pem`. `cert_path` and `key_path` only name the sources in errors.
    fn from_pem(
        cert_pem: &[u8],
        cert_path: &Path,
        key_pem: &[u8],
        key_path: &Path,
    ) -> Result<ServerIdentity, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem {
                path: cert_path.to_owned(),
                problem: format!("not a valid PEM certificate file: {e}"),
            })?;
        let Some(leaf) = chain.first() else {
            return Err(TlsError::Pem {
                path: cert_path.to_owned(),
                problem: "no CERTIFICATE block found (expected a PEM certificate chain, leaf \
                          first)"
                    .into(),
            });
        };
        ParsedCertificate::try_from(leaf).map_err(|e| TlsError::Pem {
            path: cert_path.to_owned(),
            problem: format!("the first certificate does not parse: {e}"),
        })?;
        let fingerprint = fingerprint_sha256(leaf);
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Pem {
            path: key_path.to_owned(),
            problem: key_pem_problem(&e),
        })?;
        let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::Pem {
                path: key_path.to_owned(),
                problem: format!(
                    "this private key does not belong to the certificate in {}",
                    cert_path.display()
                ),
            },
            e => TlsError::Config(e),
        })?;
        Ok(ServerIdentity {
            certified,
            fingerprint,
            generated: false,
        })
    }

    /// Loads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 RSA
    /// or SEC1 EC, unencrypted), and checks that the key belongs to the certificate. On Unix,
    /// a key file readable by group or others is used but logged as a warning.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<ServerIdentity, TlsError> {
        let cert_pem = read_pem_file(cert, "reading the certificate file")?;
        let key_pem = read_pem_file(key, "reading the private key file")?;
        warn_if_key_is_readable_by_others(key);
        ServerIdentity::from_pem(&cert_pem, cert, &key_pem, key)
    }

    /// The self-signed certificate kept in `dir`.
    ///
    /// On the first start (neither file exists), generates an ECDSA P-256 key and a
    /// certificate for [`SELF_SIGNED_DEFAULT_NAMES`] and `names`, and writes
    /// `dir/`[`SELF_SIGNED_KEY_FILE`] (mode 0600 on Unix) and then
    /// `dir/`[`SELF_SIGNED_CERT_FILE`], each atomically (a temporary file renamed into
    /// place). Later starts load both files, so the fingerprint clients pin stays the
    /// same; when the stored certificate does not cover one of `names`, that is logged as a
    /// warning (delete both files to generate a new certificate). A key without its
    /// certificate (a first start interrupted between the two writes) is replaced; a
    /// certificate without its key is an error. One process per directory.
    pub fn self_signed(dir: &Path, names: &[String]) -> Result<ServerIdentity, TlsError> {
        let all_names = self_signed_names(names)?;
        let cert_path = dir.join(SELF_SIGNED_CERT_FILE);
        let key_path = dir.join(SELF_SIGNED_KEY_FILE);
        let exists = |path: &Path| {
            path.try_exists().map_err(|source| TlsError::Io {
                action: "looking for",
                path: path.to_owned(),
                source,
            })
        };
        match (exists(&cert_path)?, exists(&key_path)?) {
            (true, true) => {
                let identity = ServerIdentity::from_pem_files(&cert_path, &key_path)?;
                identity.warn_about_missing_names(&cert_path, &all_names);
                Ok(identity)
            }
            (true, false) => Err(TlsError::Pem {
                path: key_path,
                problem: format!(
                    "not found, although the self-signed certificate {} exists; restore the \
                     key, or delete the certificate to generate a new pair (its fingerprint \
                     will change)",
                    cert_path.display()
                ),
            }),
            (false, _) => generate_self_signed(dir, &cert_path, &key_path, all_names),
        }
    }

    /// The SHA-256 fingerprint of the leaf certificate, as colon-separated upper-case hex
    /// (`AB:CD:…`, 32 bytes), the form `openssl x509 -fingerprint -sha256` prints.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The certificate chain, leaf first.
    pub fn certificate_chain(&self) -> &[CertificateDer<'static>] {
        &self.certified.cert
    }

    /// Whether this start generated the certificate (a new fingerprint to publish), as
    /// opposed to loading it from files.
    pub fn was_generated(&self) -> bool {
        self.generated
    }

    /// A rustls configuration serving this identity: the ring provider (installed in this
    /// configuration, not process-wide), TLS 1.3 and 1.2 only, no client certificates, and
    /// `alpn` as the ALPN protocols in order of preference ([`ALPN_HTTP`], [`ALPN_GRPC`]).
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&version::TLS13, &version::TLS12])
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(self.certified.clone())));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    fn warn_about_missing_names(&self, cert_path: &Path, names: &[String]) {
        let Ok(parsed) = ParsedCertificate::try_from(&self.certified.cert[0]) else {
            return;
        };
        let missing: Vec<&str> = names
            .iter()
            .filter(|name| {
                ServerName::try_from(name.as_str())
                    .is_ok_and(|sn| rustls::client::verify_server_name(&parsed, &sn).is_err())
            })
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            tracing::warn!(
                cert = %cert_path.display(),
                missing = ?missing,
                "the stored self-signed certificate does not cover these names; delete it and \
                 its key to generate a new one (the fingerprint will change)"
            );
        }
    }
}

/// The SHA-256 fingerprint of a DER certificate as colon-separated upper-case hex.
pub fn fingerprint_sha256(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let mut out = String::with_capacity(digest.len() * 3);
    for (i, byte) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{byte:02X}");
    }
    out
}

/// What is wrong with a private key file, without quoting any of it.
fn key_pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::NoItemsFound => "no private key found (expected an unencrypted PEM \
                                     PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block; \
                                     encrypted keys are not supported)"
            .into(),
        pem::Error::MissingSectionEnd { .. } => {
            "not a valid PEM private key file: a block is missing its END line".into()
        }
        pem::Error::IllegalSectionStart { .. } => {
            "not a valid PEM private key file: a BEGIN line is malformed".into()
        }
        pem::Error::Base64Decode(_) => {
            "not a valid PEM private key file: the key is not valid base64".into()
        }
        _ => "not a valid PEM private key file".into(),
    }
}

fn read_pem_file(path: &Path, action: &'static str) -> Result<Vec<u8>, TlsError> {
    let io_error = |source| TlsError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let mut data = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_FILE + 1).read_to_end(&mut data))
        .map_err(io_error)?;
    if data.len() as u64 > MAX_PEM_FILE {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            problem: format!("larger than {MAX_PEM_FILE} bytes; not a PEM certificate or key"),
        });
    }
    Ok(data)
}

#[cfg(unix)]
fn warn_if_key_is_readable_by_others(key: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(key)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            key = %key.display(),
            mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
            "the TLS private key file is readable by other users; chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_key_is_readable_by_others(_key: &Path) {}

/// The default names followed by `names`, each checked, without repeats.
fn self_signed_names(names: &[String]) -> Result<Vec<String>, TlsError> {
    let mut all: Vec<String> = SELF_SIGNED_DEFAULT_NAMES.map(String::from).to_vec();
    for name in names {
        if ServerName::try_from(name.as_str()).is_err() {
            return Err(TlsError::Generate(format!(
                "{name:?} is neither a DNS name nor an IP address"
            )));
        }
        if !all.contains(name) {
            all.push(name.clone());
        }
    }
    Ok(all)
}

fn generate_self_signed(
    dir: &Path,
    cert_path: &Path,
    key_path: &Path,
    names: Vec<String>,
) -> Result<ServerIdentity, TlsError> {
    fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        action: "creating the directory",
        path: dir.to_owned(),
        source,
    })?;
    let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generate)?;
    let mut params = rcgen::CertificateParams::new(names).map_err(generate)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Scrim self-signed certificate");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key).map_err(generate)?;
    // Key first: a start interrupted after it finds no certificate and generates again.
    write_atomic(dir, key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(dir, cert_path, cert.pem().as_bytes(), 0o644)?;
    let certified = CertifiedKey::from_der(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        &provider(),
    )
    .map_err(TlsError::Config)?;
    let fingerprint = fingerprint_sha256(cert.der());
    tracing::info!(
        cert = %cert_path.display(),
        key = %key_path.display(),
        %fingerprint,
        "generated a self-signed TLS certificate"
    );
    Ok(ServerIdentity {
        certified,
        fingerprint,
        generated: true,
    })
}

/// Writes `path` as a whole or not at all: a temporary file in `dir` (created with mode
/// 0600), set to `mode`, synced, renamed over `path`, and the directory synced.
fn write_atomic(dir: &Path, path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let io_error = |source| TlsError::Io {
        action: "writing",
        path: path.to_owned(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".scrim-tls-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_error)?;
    tmp.write_all(contents).map_err(io_error)?;
    set_mode(tmp.path(), mode).map_err(io_error)?;
    tmp.as_file().sync_all().map_err(io_error)?;
    tmp.persist(path).map_err(|e| io_error(e.error))?;
    sync_dir(dir).map_err(io_error)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
