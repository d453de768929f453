//! Server identities: the self-signed certificate generated once and reused, its
//! fingerprint, certificate and key files in each key format, and clear errors for bad
//! files.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use rustls::client::verify_server_name;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::ParsedCertificate;
use rustls::version::{TLS12, TLS13};
use scrim_tls::{
    ALPN_HTTP, Listener, SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE, ServerIdentity, TlsError,
    TlsMode, fingerprint_sha256,
};
use sha2::{Digest, Sha256};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn covers(cert: &CertificateDer<'_>, name: &str) -> bool {
    let parsed = ParsedCertificate::try_from(cert).unwrap();
    verify_server_name(&parsed, &ServerName::try_from(name).unwrap()).is_ok()
}

#[test]
fn self_signed_is_generated_once_then_reused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state/tls");
    let mode = TlsMode::SelfSigned {
        dir: dir.clone(),
        names: names(&["scrim.example.com", "192.0.2.7", "localhost"]),
    };
    let first = mode.load().unwrap().unwrap();
    assert!(first.was_generated());
    let cert_pem = fs::read(dir.join(SELF_SIGNED_CERT_FILE)).unwrap();
    let key_pem = fs::read(dir.join(SELF_SIGNED_KEY_FILE)).unwrap();
    assert!(String::from_utf8_lossy(&key_pem).contains("BEGIN PRIVATE KEY"));
    // What is on disk is what is served.
    let on_disk = CertificateDer::from_pem_slice(&cert_pem).unwrap();
    assert_eq!(first.certificate_chain(), std::slice::from_ref(&on_disk));
    for name in [
        "localhost",
        "127.0.0.1",
        "::1",
        "scrim.example.com",
        "192.0.2.7",
    ] {
        assert!(covers(&on_disk, name), "{name}");
    }
    assert!(!covers(&on_disk, "other.example.com"));
    // Only the two files: no temporary file left behind.
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, [SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |f: &str| fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(SELF_SIGNED_KEY_FILE), 0o600);
        assert_eq!(mode(SELF_SIGNED_CERT_FILE), 0o644);
    }

    // Later starts reuse the files, whatever names they ask for: the fingerprint stays.
    for later_names in [vec![], names(&["new.example.com"])] {
        let again = ServerIdentity::self_signed(&dir, &later_names).unwrap();
        assert!(!again.was_generated());
        assert_eq!(again.fingerprint(), first.fingerprint());
        assert_eq!(again.certificate_chain(), first.certificate_chain());
    }
    assert_eq!(fs::read(dir.join(SELF_SIGNED_KEY_FILE)).unwrap(), key_pem);
    assert_eq!(fs::read(dir.join(SELF_SIGNED_CERT_FILE)).unwrap(), cert_pem);

    // Another directory, another certificate.
    let (other, _other_dir) = identity();
    assert_ne!(other.fingerprint(), first.fingerprint());
}

#[test]
fn a_key_left_without_its_certificate_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(SELF_SIGNED_KEY_FILE), "half-written").unwrap();
    let identity = ServerIdentity::self_signed(dir.path(), &[]).unwrap();
    assert!(identity.was_generated());
    let reloaded = ServerIdentity::self_signed(dir.path(), &[]).unwrap();
    assert_eq!(reloaded.fingerprint(), identity.fingerprint());
}

#[test]
fn a_certificate_without_its_key_is_an_error_not_a_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    ServerIdentity::self_signed(dir.path(), &[]).unwrap();
    let cert_before = fs::read(dir.path().join(SELF_SIGNED_CERT_FILE)).unwrap();
    fs::remove_file(dir.path().join(SELF_SIGNED_KEY_FILE)).unwrap();
    let err = ServerIdentity::self_signed(dir.path(), &[]).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(SELF_SIGNED_KEY_FILE), "{message}");
    assert!(message.contains("delete the certificate"), "{message}");
    assert_eq!(
        fs::read(dir.path().join(SELF_SIGNED_CERT_FILE)).unwrap(),
        cert_before
    );
}

#[test]
fn a_name_that_is_neither_dns_nor_ip_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = ServerIdentity::self_signed(dir.path(), &names(&["not a name"])).unwrap_err();
    assert!(matches!(err, TlsError::Generate(_)), "{err:?}");
    assert!(err.to_string().contains("\"not a name\""), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn fingerprint_is_colon_separated_upper_case_sha256() {
    // SHA-256("abc"), a published test vector.
    assert_eq!(
        fingerprint_sha256(&CertificateDer::from(&b"abc"[..])),
        "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:\
         B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
    );
    let (identity, _dir) = identity();
    let fingerprint = identity.fingerprint();
    assert_eq!(fingerprint.len(), 32 * 3 - 1);
    let bytes: Vec<u8> = fingerprint
        .split(':')
        .map(|pair| {
            assert!(
                pair.len() == 2 && pair.chars().all(|c| matches!(c, '0'..='9' | 'A'..='F')),
                "{fingerprint}"
            );
            u8::from_str_radix(pair, 16).unwrap()
        })
        .collect();
    assert_eq!(
        bytes,
        Sha256::digest(identity.certificate_chain()[0].as_ref()).to_vec()
    );
    assert!(format!("{identity:?}").contains(fingerprint));
}

#[test]
fn debug_output_shows_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let identity = ServerIdentity::self_signed(dir.path(), &[]).unwrap();
    let key_pem = fs::read_to_string(dir.path().join(SELF_SIGNED_KEY_FILE)).unwrap();
    let key_b64: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let debug = format!("{identity:?}");
    assert!(!debug.contains(&key_b64[..16]), "{debug}");
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    path
}

#[test]
fn bad_files_give_errors_that_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (good, good_dir) = identity();
    let good_cert = good_dir.path().join(SELF_SIGNED_CERT_FILE);
    let good_key = good_dir.path().join(SELF_SIGNED_KEY_FILE);
    let d = dir.path();
    let secret = "c2VjcmV0LWtleS1tYXRlcmlhbA";
    let cases: Vec<(std::path::PathBuf, std::path::PathBuf, &str)> = vec![
        (
            d.join("missing.pem"),
            good_key.clone(),
            "reading the certificate file",
        ),
        (
            good_cert.clone(),
            d.join("missing-key.pem"),
            "reading the private key file",
        ),
        (
            write(d, "garbage.pem", "this is not PEM"),
            good_key.clone(),
            "no CERTIFICATE block found",
        ),
        (
            write(d, "truncated.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n"),
            good_key.clone(),
            "not a valid PEM certificate file",
        ),
        (
            write(
                d,
                "not-der.pem",
                "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
            ),
            good_key.clone(),
            "does not parse",
        ),
        // The certificate file given as the key: no key in it.
        (good_cert.clone(), good_cert.clone(), "no private key found"),
        (
            good_cert.clone(),
            write(
                d,
                "bad-base64.pem",
                format!("-----BEGIN PRIVATE KEY-----\n{secret}!!\n-----END PRIVATE KEY-----\n"),
            ),
            "not valid base64",
        ),
        (
            good_cert.clone(),
            write(
                d,
                "encrypted.pem",
                format!(
                    "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{secret}\n-----END ENCRYPTED \
                     PRIVATE KEY-----\n"
                ),
            ),
            "encrypted keys are not supported",
        ),
        (
            write(d, "huge.pem", vec![b'A'; 2 * 1024 * 1024]),
            good_key.clone(),
            "larger than",
        ),
    ];
    for (cert, key, expected) in cases {
        let err = ServerIdentity::from_pem_files(&cert, &key).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(expected),
            "{cert:?} {key:?}: {message:?} lacks {expected:?}"
        );
        assert!(!message.contains(secret), "{message}");
        let named = if expected.contains("certificate") || expected.contains("CERTIFICATE") {
            &cert
        } else if message.contains(&key.display().to_string()) {
            &key
        } else {
            &cert
        };
        assert!(
            message.contains(&named.display().to_string()),
            "{message} names the file"
        );
    }

    // A key that belongs to another certificate.
    let (_, other_dir) = identity();
    let other_key = other_dir.path().join(SELF_SIGNED_KEY_FILE);
    let err = ServerIdentity::from_pem_files(&good_cert, &other_key).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("does not belong"), "{message}");
    assert!(
        message.contains(&other_key.display().to_string()),
        "{message}"
    );
    drop(good);
}

/// Certificates and keys made by OpenSSL in the three key encodings: PKCS#8, PKCS#1 (RSA)
/// and SEC1 (EC). Each is loaded and serves a TLS 1.3 and a TLS 1.2 client.
#[tokio::test]
async fn files_in_pkcs8_rsa_and_sec1_encodings_are_served() {
    let version = std::process::Command::new("openssl")
        .arg("version")
        .output();
    if !version.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED files_in_pkcs8_rsa_and_sec1_encodings_are_served: no openssl command");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    fs::write(
        d.join("ext.cnf"),
        "basicConstraints = critical, CA:FALSE\nsubjectAltName = DNS:localhost\n",
    )
    .unwrap();
    openssl(&["genrsa", "-traditional", "-out", "rsa.pem", "2048"]);
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "sec1.pem",
    ]);
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-out",
        "pkcs8.pem",
    ]);
    for (key, label) in [
        ("rsa.pem", "BEGIN RSA PRIVATE KEY"),
        ("sec1.pem", "BEGIN EC PRIVATE KEY"),
        ("pkcs8.pem", "BEGIN PRIVATE KEY"),
    ] {
        assert!(fs::read_to_string(d.join(key)).unwrap().contains(label));
        // A self-signed end-entity certificate (`req -x509` would make a CA certificate).
        let csr = format!("{key}.csr");
        let cert = format!("{key}.crt");
        openssl(&[
            "req",
            "-new",
            "-key",
            key,
            "-subj",
            "/CN=localhost",
            "-out",
            &csr,
        ]);
        openssl(&[
            "x509", "-req", "-in", &csr, "-signkey", key, "-days", "2", "-extfile", "ext.cnf",
            "-out", &cert,
        ]);
        let identity = TlsMode::Files {
            cert: d.join(&cert),
            key: d.join(key),
        }
        .load()
        .unwrap()
        .unwrap();
        assert!(!identity.was_generated());
        let config = identity.server_config(ALPN_HTTP).unwrap();
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), Some(config), false)
            .await
            .unwrap();
        let addr = serve(listener);
        for version in [&TLS13, &TLS12] {
            let client = client_config(&identity.certificate_chain()[0], version, &[b"http/1.1"]);
            let exchange = https_get(addr, client, "/").await;
            assert_eq!(body(&exchange.response), "hello", "{key} {version:?}");
        }
    }
}

#[test]
fn off_loads_nothing() {
    assert!(TlsMode::Off.load().unwrap().is_none());
}
