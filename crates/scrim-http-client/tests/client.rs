//! `HttpClient`: trust roots, plain-HTTP refusal, the size cap, the deadline and the user
//! agent, against small
//! servers on loopback (rustls with a CA made by rcgen for the TLS cases).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use scrim_http_client::{DEFAULT_USER_AGENT, HttpClient, HttpError, HttpOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server_cert: server_cert.pem(),
        server_key: server_key.serialize_pem(),
    }
}

fn client_trusting(ca_pem: &str) -> HttpClient {
    HttpClient::new(HttpOptions {
        extra_ca_pem: Some(ca_pem.as_bytes().to_vec()),
        system_roots: false,
        ..HttpOptions::default()
    })
    .unwrap()
}

/// What a test server does with each connection.
#[derive(Clone)]
enum Answer {
    /// 200 with this body and a Content-Length.
    Body(Arc<str>),
    /// 200 with `n` bytes, chunked (no Content-Length).
    Chunked(usize),
    /// 200 announcing this Content-Length, then nothing.
    Announce(u64),
    /// Reads the request and never answers.
    Silent,
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, answer: Answer) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let found = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    match answer {
        Answer::Body(body) => {
            let _ = stream.write_all(found(&body).as_bytes()).await;
        }
        Answer::Chunked(n) => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = n;
            while left > 0 {
                let size = left.min(chunk.len());
                let head = format!("{size:x}\r\n");
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(&chunk[..size]).await.is_err()
                    || stream.write_all(b"\r\n").await.is_err()
                {
                    return;
                }
                left -= size;
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
        }
        Answer::Announce(length) => {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Answer::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
    }
    let _ = stream.shutdown().await;
}

fn body(text: &str) -> Answer {
    Answer::Body(Arc::from(text))
}

async fn plain_server(answer: Answer) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp, answer.clone()));
        }
    });
    port
}

async fn tls_server(pki: &Pki, answer: Answer) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = vec![CertificateDer::from_pem_slice(pki.server_cert.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    serve(tls, answer).await;
                }
            });
        }
    });
    port
}

fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url).body(Vec::new()).unwrap()
}

#[tokio::test]
async fn https_is_trusted_through_the_extra_ca_only() {
    let ours = pki();
    let port = tls_server(&ours, body(r#"{"ok":true}"#)).await;
    for host in ["localhost", "127.0.0.1"] {
        let response = client_trusting(&ours.ca_pem)
            .send(get(&format!("https://{host}:{port}/x")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body(), br#"{"ok":true}"#);
    }
    // Another CA does not vouch for this server.
    let other = pki();
    let error = client_trusting(&other.ca_pem)
        .send(get(&format!("https://localhost:{port}/x")))
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Connect(_)), "{error:?}");
    assert!(error.is_transient());
    assert!(error.to_string().contains("certificate"), "{error}");
}

#[tokio::test]
async fn plain_http_only_on_loopback() {
    let port = plain_server(body("{}")).await;
    let client = client_trusting(&pki().ca_pem);
    for host in ["127.0.0.1", "localhost", "[::1]"] {
        let result = client.send(get(&format!("http://{host}:{port}/x"))).await;
        if host == "[::1]" {
            // The server listens on IPv4 only; refused by the socket, not by the client.
            assert!(!matches!(&result, Err(HttpError::Refused(_))), "{result:?}");
            continue;
        }
        assert_eq!(result.unwrap().status(), 200, "{host}");
    }
    for url in [
        "http://example.test/x",
        "http://10.0.0.1/x",
        "http://127.0.0.1.example.test/x",
    ] {
        let error = client.send(get(url)).await.unwrap_err();
        assert!(
            matches!(&error, HttpError::Refused(m) if m.contains("refused: use https")),
            "{url}: {error:?}"
        );
    }
}

#[tokio::test]
async fn answers_over_the_cap_are_refused() {
    let client = HttpClient::new(HttpOptions {
        extra_ca_pem: Some(pki().ca_pem.into_bytes()),
        system_roots: false,
        max_response_bytes: 1000,
        ..HttpOptions::default()
    })
    .unwrap();
    for answer in [Answer::Chunked(5 * 1024 * 1024), Answer::Announce(1 << 40)] {
        let port = plain_server(answer).await;
        let started = Instant::now();
        let error = client
            .send(get(&format!("http://127.0.0.1:{port}/x")))
            .await
            .unwrap_err();
        assert!(matches!(&error, HttpError::TooLarge(1000)), "{error:?}");
        assert!(
            error.to_string().contains("larger than 1000 bytes"),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    let port = plain_server(Answer::Chunked(1000)).await;
    let response = client
        .send(get(&format!("http://127.0.0.1:{port}/x")))
        .await
        .unwrap();
    assert_eq!(response.body().len(), 1000);
}

#[tokio::test]
async fn a_silent_provider_times_out() {
    let client = HttpClient::new(HttpOptions {
        extra_ca_pem: Some(pki().ca_pem.into_bytes()),
        system_roots: false,
        timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    })
    .unwrap();
    let port = plain_server(Answer::Silent).await;
    let started = Instant::now();
    let error = client
        .send(get(&format!("http://127.0.0.1:{port}/x")))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, HttpError::Timeout(d) if *d == Duration::from_millis(300)),
        "{error:?}"
    );
    assert!(error.to_string().contains("within 300 ms"), "{error}");
    assert!(error.is_transient());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn bad_trust_configuration_is_refused() {
    let error = HttpClient::new(HttpOptions {
        extra_ca_pem: Some(b"not a certificate".to_vec()),
        system_roots: false,
        ..HttpOptions::default()
    })
    .unwrap_err();
    assert!(matches!(error, HttpError::Config(_)), "{error:?}");
    let error = HttpClient::new(HttpOptions {
        extra_ca_pem: None,
        system_roots: false,
        ..HttpOptions::default()
    })
    .unwrap_err();
    assert!(matches!(error, HttpError::Config(_)), "{error:?}");
}

/// Answers 200 with the request's head as the body, so a test can see what was sent.
async fn echo_head_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", head.len());
                let _ = tcp.write_all(response.as_bytes()).await;
                let _ = tcp.write_all(&head).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn user_agent_defaults_to_scrim_and_can_be_set() {
    let port = echo_head_server().await;
    let url = format!("http://127.0.0.1:{port}/x");
    let user_agent = |response: http::Response<Vec<u8>>| {
        String::from_utf8(response.into_body())
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("user-agent: ").map(str::to_owned))
    };
    let default = client_trusting(&pki().ca_pem);
    assert!(DEFAULT_USER_AGENT.starts_with("scrim/"));
    let sent = user_agent(default.send(get(&url)).await.unwrap());
    assert_eq!(sent.as_deref(), Some(DEFAULT_USER_AGENT));

    // Per client, through the options.
    let custom = HttpClient::new(HttpOptions {
        extra_ca_pem: Some(pki().ca_pem.into_bytes()),
        system_roots: false,
        user_agent: "scrim-test/1".into(),
        ..HttpOptions::default()
    })
    .unwrap();
    let sent = user_agent(custom.send(get(&url)).await.unwrap());
    assert_eq!(sent.as_deref(), Some("scrim-test/1"));

    // Per request: the request's own header wins.
    let request = http::Request::get(&url)
        .header("user-agent", "caller/2")
        .body(Vec::new())
        .unwrap();
    let sent = user_agent(default.send(request).await.unwrap());
    assert_eq!(sent.as_deref(), Some("caller/2"));
}
