//! Discovery's refusals (plain-HTTP issuers and endpoints, documents that are not a
//! provider's), against small servers on loopback (rustls with a CA made by rcgen for the TLS
//! cases). The HTTP client itself is tested in scrim-http-client.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use scrim_oidc::{HttpClient, HttpOptions, OidcClient, OidcConfig, OidcError};
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
    /// 200 with the body of the first route whose path the request line names, else 404.
    Routes(Arc<[(&'static str, String)]>),
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
    let request_line = String::from_utf8_lossy(&request)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
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
        Answer::Routes(routes) => {
            let response = routes
                .iter()
                .find(|(path, _)| request_line.contains(&format!(" {path} ")))
                .map(|(_, body)| found(body))
                .unwrap_or_else(|| "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".into());
            let _ = stream.write_all(response.as_bytes()).await;
        }
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

/// A TLS server whose answer depends on its own port.
async fn tls_server_for(pki: &Pki, answer: impl FnOnce(u16) -> Answer) -> u16 {
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
    let answer = answer(port);
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

#[tokio::test]
async fn discovery_refuses_plain_http_and_invalid_documents() {
    let http = client_trusting(&pki().ca_pem);
    // A non-loopback plain issuer is refused before any request.
    let config = OidcConfig::new(
        "http://idp.example.test",
        "scrim",
        None,
        "http://127.0.0.1/cb",
    );
    let error = OidcClient::discover(config, &http).await.unwrap_err();
    assert!(matches!(error, OidcError::Config(_)), "{error:?}");

    // A loopback server that is not an OpenID provider.
    let port = plain_server(body(r#"{"issuer": 42}"#)).await;
    let config = OidcConfig::new(
        format!("http://127.0.0.1:{port}"),
        "scrim",
        None,
        "http://127.0.0.1/cb",
    );
    let error = OidcClient::discover(config, &http).await.unwrap_err();
    assert!(matches!(error, OidcError::Discovery(_)), "{error:?}");

    // An https issuer whose document sends the token endpoint over plain http, even to
    // loopback: refused.
    let pki = pki();
    let port = tls_server_for(&pki, |port| {
        let document = r#"{"issuer": "https://localhost:PORT",
            "authorization_endpoint": "https://localhost:PORT/auth",
            "token_endpoint": "http://127.0.0.1:PORT/token",
            "jwks_uri": "https://localhost:PORT/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"]}"#
            .replace("PORT", &port.to_string());
        Answer::Routes(Arc::from(vec![
            ("/.well-known/openid-configuration", document),
            ("/jwks", r#"{"keys": []}"#.to_string()),
        ]))
    })
    .await;
    let config =
        |issuer: String| OidcConfig::new(issuer, "scrim", None, "https://scrim.example.test/cb");
    let http = client_trusting(&pki.ca_pem);
    let error = OidcClient::discover(config(format!("https://localhost:{port}")), &http)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, OidcError::Config(m) if m.contains("token endpoint")),
        "{error:?}"
    );
    // The document names `localhost`; asked as 127.0.0.1 the issuer does not match.
    let error = OidcClient::discover(config(format!("https://127.0.0.1:{port}")), &http)
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::Discovery(_)), "{error:?}");
}
