//! The listener against real clients: TLS 1.3 and 1.2 accepted, TLS 1.1 and plaintext
//! refused, slow clients unable to stall anyone, the plaintext rule at bind time.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use rustls::ProtocolVersion;
use rustls::version::{TLS12, TLS13};
use scrim_tls::{ALPN_GRPC, ALPN_HTTP, Listener, TlsError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_stream::StreamExt;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A bound on how long a test may wait for something that should happen at once; reaching
/// it fails the test instead of hanging it. Nothing is asserted about the time taken.
const GIVE_UP: Duration = Duration::from_secs(30);

async fn tls_listener() -> (Listener, scrim_tls::ServerIdentity, tempfile::TempDir) {
    let (identity, dir) = identity();
    let config = identity.server_config(ALPN_HTTP).unwrap();
    let listener = Listener::bind(loopback(), Some(config), false)
        .await
        .unwrap();
    assert!(listener.is_tls());
    (listener, identity, dir)
}

#[tokio::test]
async fn tls13_and_tls12_clients_complete_a_request() {
    let (listener, identity, _dir) = tls_listener().await;
    let addr = serve(listener);
    let trusted = &identity.certificate_chain()[0];
    for (version, expected) in [
        (&TLS13, ProtocolVersion::TLSv1_3),
        (&TLS12, ProtocolVersion::TLSv1_2),
    ] {
        let config = client_config(trusted, version, &[b"http/1.1"]);
        let exchange = https_get(addr, config, "/peer").await;
        assert_eq!(exchange.version, expected);
        assert_eq!(exchange.alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert!(
            exchange.response.starts_with("HTTP/1.1 200"),
            "{}",
            exchange.response
        );
        // The connect info axum hands the handler is the client's real address.
        assert_eq!(body(&exchange.response), exchange.client_addr.to_string());
    }
}

#[tokio::test]
async fn alpn_prefers_h2_for_http_and_allows_only_h2_for_grpc() {
    let (identity, _dir) = identity();
    let trusted = identity.certificate_chain()[0].clone();
    let handshake = |alpn: &'static [&'static [u8]], offered: &'static [&'static [u8]]| {
        let server = identity.server_config(alpn).unwrap();
        let client = client_config(&trusted, &TLS13, offered);
        async move {
            let mut listener = Listener::bind(loopback(), Some(server), false)
                .await
                .unwrap();
            let addr = listener.local_addr();
            let server = tokio::spawn(async move { listener.accept().await.0 });
            let tcp = TcpStream::connect(addr).await.unwrap();
            let client = tokio_rustls::TlsConnector::from(client)
                .connect("localhost".try_into().unwrap(), tcp)
                .await;
            match client {
                Ok(tls) => {
                    let server = server.await.unwrap();
                    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                    assert_eq!(
                        server.tls_session().unwrap().alpn_protocol(),
                        negotiated.as_deref()
                    );
                    Ok(negotiated)
                }
                Err(e) => Err(e.to_string()),
            }
        }
    };
    assert_eq!(
        handshake(ALPN_HTTP, &[b"http/1.1", b"h2"]).await,
        Ok(Some(b"h2".to_vec()))
    );
    assert_eq!(
        handshake(ALPN_HTTP, &[b"http/1.1"]).await,
        Ok(Some(b"http/1.1".to_vec()))
    );
    assert_eq!(
        handshake(ALPN_GRPC, &[b"h2"]).await,
        Ok(Some(b"h2".to_vec()))
    );
    let refused = handshake(ALPN_GRPC, &[b"http/1.1"]).await.unwrap_err();
    assert!(refused.contains("NoApplicationProtocol"), "{refused}");
}

/// A TLS 1.1 ClientHello: record and hello version 0x0302, no `supported_versions`
/// extension, TLS 1.0/1.1 cipher suites. A real TLS 1.1 client sends no
/// `signature_algorithms` either (TLS 1.2 introduced it); `with_signature_algorithms` adds
/// one, as a client that knows the extension but still caps at TLS 1.1 would.
fn tls11_client_hello(with_signature_algorithms: bool) -> Vec<u8> {
    let mut hello = vec![0x03, 0x02]; // client_version: TLS 1.1
    hello.extend((0u8..32).map(|i| i.wrapping_mul(7))); // random
    hello.push(0); // session_id: empty
    let suites: [u16; 5] = [0xc013, 0xc014, 0x002f, 0x0035, 0x000a];
    hello.extend(((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        hello.extend(suite.to_be_bytes());
    }
    hello.extend([1, 0]); // compression: null
    let mut extensions = vec![
        0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x17, 0x00, 0x18, // supported_groups
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
    ];
    if with_signature_algorithms {
        // ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
        extensions.extend([
            0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01,
        ]);
    }
    hello.extend((extensions.len() as u16).to_be_bytes());
    hello.extend(extensions);

    let mut handshake = vec![0x01]; // client_hello
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x02]; // handshake record, TLS 1.1
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

/// Everything the server sends until it closes the connection.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    tokio::time::timeout(GIVE_UP, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    received
}

const ALERT: u8 = 21;
const FATAL: u8 = 2;
const HANDSHAKE_FAILURE: u8 = 40;
const PROTOCOL_VERSION: u8 = 70;

#[tokio::test]
async fn a_tls11_client_is_refused_with_a_fatal_alert_and_no_server_hello() {
    let (listener, identity, _dir) = tls_listener().await;
    let addr = serve(listener);
    // rustls requires `signature_algorithms` before it looks at the version, so a faithful
    // TLS 1.1 hello gets handshake_failure; with the extension, the version is what is
    // refused: protocol_version.
    for (with_signature_algorithms, description) in
        [(false, HANDSHAKE_FAILURE), (true, PROTOCOL_VERSION)]
    {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(&tls11_client_hello(with_signature_algorithms))
            .await
            .unwrap();
        let answer = read_until_closed(&mut tcp).await;
        // One alert record (type 21, 2 bytes long), then the connection closes: no
        // ServerHello, no certificate.
        assert_eq!(answer.len(), 7, "{answer:02x?}");
        assert_eq!(answer[0], ALERT, "{answer:02x?}");
        assert_eq!(&answer[3..5], &[0, 2], "{answer:02x?}");
        assert_eq!(&answer[5..], &[FATAL, description], "{answer:02x?}");
    }

    // The refusals stopped nothing: a TLS 1.2 client is still served.
    let config = client_config(&identity.certificate_chain()[0], &TLS12, &[b"http/1.1"]);
    let exchange = https_get(addr, config, "/").await;
    assert_eq!(body(&exchange.response), "hello");
}

#[tokio::test]
async fn a_python_tls11_client_is_refused() {
    // Python's ssl module (OpenSSL) as an independent TLS 1.1 client; the hand-made hello
    // above is the test that always runs.
    const PYTHON_SSL: scrim_testkit::PythonPackage = scrim_testkit::PythonPackage {
        name: "Python's ssl module",
        import: "import ssl",
        install: "install python3",
        require_env: "SCRIM_REQUIRE_PYTHON_SSL",
    };
    if !scrim_testkit::python_package_available("a_python_tls11_client_is_refused", &PYTHON_SSL) {
        return;
    }
    let (listener, _identity, _dir) = tls_listener().await;
    let addr = serve(listener);
    // First check that this OpenSSL will send a TLS 1.1 hello at all (OpenSSL 3 refuses
    // below security level 0); then connect and report how the handshake ended.
    let script = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    probe = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
    try:
        probe.do_handshake()
    except ssl.SSLWantReadError:
        pass
except Exception as e:
    print("SKIP", e)
    sys.exit(0)
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    ctx.wrap_socket(sock).do_handshake()
    print("CONNECTED")
except ssl.SSLError as e:
    print("REFUSED", e.reason)
except OSError as e:
    print("CLOSED", e)
"#;
    // On the blocking pool: the server answers on this test's runtime meanwhile.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(scrim_testkit::python())
            .args(["-c", script, &addr.port().to_string()])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    if let Some(reason) = stdout.strip_prefix("SKIP") {
        eprintln!(
            "SKIPPED a_python_tls11_client_is_refused: this OpenSSL will not send a TLS 1.1 \
             hello:{reason}"
        );
        return;
    }
    // OpenSSL names the alert it received: handshake_failure for its hello without
    // `signature_algorithms` (see the test above), protocol_version should it send one.
    assert!(
        [
            "REFUSED SSLV3_ALERT_HANDSHAKE_FAILURE",
            "REFUSED TLSV1_ALERT_PROTOCOL_VERSION"
        ]
        .contains(&stdout.trim()),
        "{stdout}"
    );
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_http_response() {
    let (listener, identity, _dir) = tls_listener().await;
    let addr = serve(listener);
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut tcp).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/"),
        "{answer:02x?}"
    );
    // Either nothing or a TLS alert record.
    assert!(answer.is_empty() || answer[0] == 21, "{answer:02x?}");

    let config = client_config(&identity.certificate_chain()[0], &TLS13, &[b"http/1.1"]);
    assert_eq!(body(&https_get(addr, config, "/").await.response), "hello");
}

#[tokio::test]
async fn clients_that_never_finish_their_hello_do_not_stall_others() {
    let (identity, _dir) = identity();
    let config = identity.server_config(ALPN_HTTP).unwrap();
    // A timeout far beyond the test, so the slow clients are still connected at the end.
    let listener = Listener::bind(loopback(), Some(config), false)
        .await
        .unwrap()
        .with_handshake_timeout(Duration::from_secs(3600));
    let addr = serve(listener);
    // One client connects and sends nothing; another sends the first bytes of a record.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial.write_all(&[0x16, 0x03, 0x01]).await.unwrap();

    // Connected after both, and served while both still wait.
    let client = client_config(&identity.certificate_chain()[0], &TLS13, &[b"http/1.1"]);
    let exchange = tokio::time::timeout(GIVE_UP, https_get(addr, client, "/"))
        .await
        .expect("a later client is served while earlier handshakes are pending");
    assert_eq!(body(&exchange.response), "hello");

    for stream in [&mut silent, &mut partial] {
        let mut buf = [0u8; 16];
        match stream.try_read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("the slow connection should still be open and silent: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_handshake_not_finished_in_time_is_closed() {
    let (identity, _dir) = identity();
    let config = identity.server_config(ALPN_HTTP).unwrap();
    let listener = Listener::bind(loopback(), Some(config), false)
        .await
        .unwrap()
        .with_handshake_timeout(Duration::from_millis(50));
    let addr = serve(listener);
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // Closed by the server with nothing sent (read_until_closed fails the test if not).
    assert_eq!(read_until_closed(&mut silent).await, Vec::<u8>::new());
}

#[tokio::test]
async fn handshakes_beyond_the_limit_are_closed_at_once() {
    let (identity, _dir) = identity();
    let config = identity.server_config(ALPN_HTTP).unwrap();
    let listener = Listener::bind(loopback(), Some(config), false)
        .await
        .unwrap()
        .with_handshake_timeout(Duration::from_secs(3600))
        .with_max_pending_handshakes(1);
    let addr = serve(listener);
    let first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    // The second is over the limit: closed without waiting for the (hour-long) timeout.
    assert_eq!(read_until_closed(&mut second).await, Vec::<u8>::new());
    let mut buf = [0u8; 16];
    assert!(matches!(
        first.try_read(&mut buf),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    ));
}

#[tokio::test]
async fn the_listener_is_a_stream_of_connections() {
    let (listener, identity, _dir) = tls_listener().await;
    let addr = listener.local_addr();
    let client = client_config(&identity.certificate_chain()[0], &TLS13, &[b"h2"]);
    let connecting = tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let local = tcp.local_addr().unwrap();
        let tls = tokio_rustls::TlsConnector::from(client)
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        (local, tls)
    });
    let mut incoming = listener;
    let server_side = incoming.next().await.unwrap().unwrap();
    let (client_addr, _tls) = connecting.await.unwrap();
    assert_eq!(server_side.peer_addr().unwrap(), client_addr);
    let session = server_side.tls_session().unwrap();
    assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(session.protocol_version(), Some(ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn plain_listener_serves_on_loopback() {
    let listener = Listener::bind(loopback(), None, false).await.unwrap();
    assert!(!listener.is_tls());
    let addr = serve(listener);
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let client_addr = tcp.local_addr().unwrap();
    tcp.write_all(b"GET /peer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let response = String::from_utf8(read_until_closed(&mut tcp).await).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(body(&response), client_addr.to_string());
}

#[tokio::test]
async fn plain_listener_on_every_interface_needs_the_explicit_flag() {
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let addr: SocketAddr = addr.parse().unwrap();
        let err = Listener::bind(addr, None, false).await.unwrap_err();
        assert!(
            matches!(err, TlsError::PlaintextRefused { addr: a } if a == addr),
            "{err:?}"
        );
        // A socket bound elsewhere is checked by its own address.
        let tcp = tokio::net::TcpListener::bind(addr).await;
        if let Ok(tcp) = tcp {
            let err = Listener::from_tcp(tcp, None, false).unwrap_err();
            assert!(matches!(err, TlsError::PlaintextRefused { .. }), "{err:?}");
        }
    }
    // With the flag, it binds (IPv4; IPv6 may be absent on the machine).
    let listener = Listener::bind("0.0.0.0:0".parse().unwrap(), None, true)
        .await
        .unwrap();
    assert!(!listener.is_tls());
    // With TLS, any address is fine without the flag.
    let (identity, _dir) = identity();
    let config = identity.server_config(ALPN_HTTP).unwrap();
    let listener = Listener::bind("0.0.0.0:0".parse().unwrap(), Some(config), false)
        .await
        .unwrap();
    assert!(listener.is_tls());
}
