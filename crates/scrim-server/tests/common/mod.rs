//! The harness shared by the API tests: a server on loopback, an HTTP client that signs in
//! and calls routes, and a tenant with one person per role and one key per scope.
#![allow(dead_code)] // each test binary uses part of it

use std::path::Path;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use scrim_auth::rbac::Role;
use scrim_auth::{Scope, Scopes};
use scrim_meta::NewApiKey;
use scrim_server::{PlatformConfig, Server, ServerConfig};
use serde_json::{Value, json};

/// The user agent every test request sends.
pub const USER_AGENT: &str = "scrim-tests/1";

pub async fn start_with(dir: &Path, edit: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut config = ServerConfig::loopback_ephemeral(PlatformConfig::in_dir(dir));
    config.flush_interval = Duration::from_secs(3600);
    edit(&mut config);
    Server::start(config).await.expect("server starts")
}

/// A caller: an API key, a session (cookie and CSRF token), or nobody.
#[derive(Clone, Debug)]
pub enum Cred {
    None,
    Key(String),
    Session { cookie: String, csrf: String },
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: hyper::HeaderMap,
}

pub async fn call(
    server: &Server,
    method: &str,
    path: &str,
    cred: &Cred,
    body: Option<Value>,
) -> Answer {
    call_with(server, method, path, cred, body, true).await
}

pub async fn call_with(
    server: &Server,
    method: &str,
    path: &str,
    cred: &Cred,
    body: Option<Value>,
    send_csrf: bool,
) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", server.http_addr()))
        .header("user-agent", USER_AGENT);
    match cred {
        Cred::None => {}
        Cred::Key(k) => req = req.header("authorization", format!("Bearer {k}")),
        Cred::Session { cookie, csrf } => {
            req = req.header("cookie", cookie.as_str());
            if send_csrf {
                req = req.header("x-csrf-token", csrf.as_str());
            }
        }
    }
    let bytes = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Bytes::from(v.to_string())
        }
        None => Bytes::new(),
    };
    let resp = client
        .request(req.body(Full::new(bytes)).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer {
        status,
        body,
        headers,
    }
}

/// Signs in over HTTP; panics unless it works.
pub async fn sign_in(server: &Server, email: &str, password: &str, code: Option<&str>) -> Cred {
    let mut body = json!({ "email": email, "password": password });
    if let Some(c) = code {
        body["code"] = json!(c);
    }
    let a = call(server, "POST", "/api/v1/session", &Cred::None, Some(body)).await;
    assert_eq!(a.status, 200, "sign-in of {email}: {}", a.body);
    session_of(&a)
}

pub fn session_of(a: &Answer) -> Cred {
    let set = a.headers["set-cookie"].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    Cred::Session {
        cookie,
        csrf: a.body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A tenant with one person per role and one key per scope.
pub struct World {
    pub server: Server,
    pub _dir: tempfile::TempDir,
    pub tenant: scrim_meta::TenantId,
    pub people: Vec<(Role, String, Cred)>,
    pub keys: Vec<(Scope, Cred)>,
}

pub async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    let platform = server.platform();
    let tenant = scrim_server::admin::create_tenant(
        platform,
        &scrim_server::accounts::Act::operator("-"),
        "acme",
        &Default::default(),
    )
    .await
    .unwrap();
    let mut people = Vec::new();
    for role in Role::ALL {
        let email = format!("{role}@acme.example");
        server
            .accounts()
            .add_member(
                &scrim_server::accounts::Act::operator("-"),
                &tenant.id,
                &email,
                role,
                Some(PASSWORD),
            )
            .await
            .unwrap();
        let cred = sign_in(&server, &email, PASSWORD, None).await;
        people.push((role, email, cred));
    }
    let mut keys = Vec::new();
    for scope in Scope::ALL {
        let (_, key) = platform
            .meta()
            .create_api_key(
                &tenant.id,
                Scopes::empty().with(scope),
                NewApiKey::default(),
            )
            .await
            .unwrap();
        keys.push((scope, Cred::Key(key.expose())));
    }
    World {
        server,
        _dir: dir,
        tenant: tenant.id,
        people,
        keys,
    }
}

pub fn code_now(secret_base32: &str, offset_steps: i64) -> String {
    let secret = scrim_auth::TotpSecret::from_base32(secret_base32).unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    scrim_auth::totp::code_at(&secret, (now + offset_steps * 30) as u64)
}

/// An OTLP/HTTP protobuf exporter to `server` with `key`.
pub fn exporter(server: &Server, key: &str) -> scrim_otlp::Exporter {
    let mut c = scrim_otlp::ExporterConfig::new(
        format!("http://{}", server.otlp_http_addr().unwrap()),
        scrim_otlp::Protocol::HttpProtobuf,
    );
    c.allow_http = true;
    c.headers.push((
        "authorization".into(),
        scrim_otlp::Credential::new(format!("Bearer {key}")),
    ));
    c.retry.max_elapsed = Duration::from_secs(2);
    scrim_otlp::Exporter::new(c).unwrap()
}

/// Sends the demo shop's traffic for `ticks` seconds of simulated time from `start`;
/// returns the batches, each delivered.
pub async fn send_shop_at(
    server: &Server,
    key: &str,
    seed: u64,
    ticks: u64,
    start: SystemTime,
) -> Vec<scrim_otlp::Batch> {
    let e = exporter(server, key);
    let mut g = scrim_demo::Generator::new(seed);
    let mut sent = Vec::new();
    for i in 0..ticks {
        for batch in g.tick(20, start + Duration::from_secs(i), true) {
            let outcome = e.export(&batch).await;
            assert!(
                matches!(outcome, scrim_otlp::ExportOutcome::Delivered { .. }),
                "{outcome:?}"
            );
            sent.push(batch);
        }
    }
    sent
}
