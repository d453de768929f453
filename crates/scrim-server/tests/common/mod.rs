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

/// A request with a raw `Cookie` header and an optional form body.
pub async fn raw(
    server: &Server,
    method: &str,
    path: &str,
    cookie: &str,
    form: Option<&[(&str, &str)]>,
) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", server.http_addr()))
        .header("user-agent", USER_AGENT);
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    let body = match form {
        Some(pairs) => {
            req = req.header("content-type", "application/x-www-form-urlencoded");
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                s.append_pair(k, v);
            }
            Bytes::from(s.finish())
        }
        None => Bytes::new(),
    };
    let resp = client
        .request(req.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()),
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

// ---------------------------------------------------------------------------------------
// Backends: the same scenario on SQLite with a local directory, and on PostgreSQL with
// segments in the S3-compatible store (`SCRIM_TEST_POSTGRES_URL`, `SCRIM_TEST_S3_URL` and
// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, what `scripts/garage-up.sh` prints and
// `.ci/run` sets).

/// Where a scenario keeps its state.
pub enum Backend {
    Local,
    PgS3 { pg: String, s3: String },
}

/// The PostgreSQL + S3 backend, or `None` with the reason printed (the test then passes).
pub fn pg_s3() -> Option<Backend> {
    match (
        std::env::var("SCRIM_TEST_POSTGRES_URL"),
        std::env::var("SCRIM_TEST_S3_URL"),
    ) {
        (Ok(pg), Ok(s3)) => Some(Backend::PgS3 { pg, s3 }),
        _ => {
            eprintln!(
                "SKIPPED (PostgreSQL + S3 variant): set SCRIM_TEST_POSTGRES_URL and \
                 SCRIM_TEST_S3_URL (with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), e.g. \
                 eval \"$(scripts/garage-up.sh)\"; .ci/run does"
            );
            None
        }
    }
}

/// 16 random hex digits: keeps the runs' schemas and S3 prefixes apart.
pub fn suffix() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `s3://bucket?query` with `/prefix` after the bucket.
pub fn s3_under(url: &str, prefix: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    format!("{}/{prefix}?{query}", base.trim_end_matches('/'))
}

/// Drops the test's PostgreSQL schema, even when the test fails.
pub struct Schema(pub String, pub String);

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                &self.0,
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.1),
            ])
            .output();
    }
}

/// A fresh PostgreSQL schema on `pg`: its URL (with the search path) and its guard.
pub fn fresh_schema(pg: &str, label: &str) -> (String, Schema) {
    let schema = format!("scrim_{label}_{}", suffix());
    let out = std::process::Command::new("psql")
        .args([pg, "-q", "-c", &format!("CREATE SCHEMA {schema}")])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sep = if pg.contains('?') { '&' } else { '?' };
    (
        format!("{pg}{sep}options[search_path]={schema}"),
        Schema(pg.to_owned(), schema),
    )
}

/// Where one test server keeps its state: a fresh directory (data directory: master key,
/// WAL, and on `Local` the metadata database and segments), and on `PgS3` a fresh schema
/// and a fresh S3 prefix for the segments.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
    pub object_store: Option<String>,
    _schema: Option<Schema>,
}

impl Site {
    pub fn new(backend: &Backend, label: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Local => Site {
                dir,
                database_url: None,
                object_store: None,
                _schema: None,
            },
            Backend::PgS3 { pg, s3 } => {
                let (url, schema) = fresh_schema(pg, label);
                Site {
                    dir,
                    database_url: Some(url),
                    object_store: Some(s3_under(s3, &format!("{label}-{}", suffix()))),
                    _schema: Some(schema),
                }
            }
        }
    }

    pub fn is_local(&self) -> bool {
        self.database_url.is_none()
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    /// The platform's state on this site: its data directory, database and segment store
    /// (one region, `local`).
    pub fn platform_config(&self) -> PlatformConfig {
        let mut c = PlatformConfig::in_dir(self.data());
        c.database_url = self.database_url.clone();
        if let Some(store) = &self.object_store {
            c.regions = vec![scrim_server::regions::RegionConfig::single(
                "local",
                Some(store.clone()),
            )];
        }
        c
    }

    /// Points `c` at this site's database and segment store.
    pub fn configure(&self, c: &mut ServerConfig) {
        c.platform = self.platform_config();
    }

    /// A server on this site, `edit` applied after the site's settings.
    pub async fn start(&self, edit: impl FnOnce(&mut ServerConfig)) -> Server {
        start_with(self.data(), |c| {
            self.configure(c);
            edit(c);
        })
        .await
    }
}

/// The segment store of the server's one region.
pub fn segment_store(server: &Server) -> scrim_store::SegmentStore {
    server
        .platform()
        .regions()
        .get("local")
        .expect("the test server has the one region `local`")
        .store
        .clone()
}

/// Every object of the server's segment store under `prefix` (`""`: all), path and bytes.
pub async fn stored_objects(server: &Server, prefix: &str) -> Vec<(String, bytes::Bytes)> {
    use futures::TryStreamExt;
    let store = segment_store(server);
    let store = store.object_store();
    let prefix = (!prefix.is_empty()).then(|| object_store::path::Path::from(prefix));
    let listed: Vec<object_store::ObjectMeta> =
        store.list(prefix.as_ref()).try_collect().await.unwrap();
    let mut out = Vec::new();
    for m in listed {
        let bytes = object_store::ObjectStoreExt::get(&**store, &m.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((m.location.to_string(), bytes));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Whether the server's segment store holds `path`.
pub async fn object_exists(server: &Server, path: &str) -> bool {
    let store = segment_store(server);
    match object_store::ObjectStoreExt::head(
        &**store.object_store(),
        &object_store::path::Path::from(path),
    )
    .await
    {
        Ok(_) => true,
        Err(object_store::Error::NotFound { .. }) => false,
        Err(e) => panic!("{path}: {e}"),
    }
}

/// Whether any text of `batch` (plain columns, map keys and values) contains `needle`.
pub fn holds(batch: &datafusion::arrow::array::RecordBatch, needle: &str) -> bool {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::DataType;
    fn strings(a: &dyn Array, needle: &str) -> bool {
        match a.data_type() {
            DataType::Utf8 => a
                .as_string::<i32>()
                .iter()
                .any(|v| v.is_some_and(|v| v.contains(needle))),
            DataType::Map(_, _) => {
                let m = a.as_map();
                strings(m.keys().as_ref(), needle) || strings(m.values().as_ref(), needle)
            }
            _ => false,
        }
    }
    batch.columns().iter().any(|c| strings(c.as_ref(), needle))
}

/// The tenant's wrapped data key (version 1: the tenant must have only that one).
pub async fn wrapped_key(server: &Server, tenant: &scrim_meta::Tenant) -> Vec<u8> {
    let keys = server
        .platform()
        .meta()
        .tenant_data_keys(&tenant.id)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    keys[0].wrapped_key.clone()
}

/// The tenant's segment key, as the server builds it.
pub async fn segment_key(server: &Server, tenant: &scrim_meta::Tenant) -> scrim_store::DataKey {
    let k = server
        .platform()
        .keys()
        .unwrap(
            &wrapped_key(server, tenant).await,
            tenant.id.as_str().as_bytes(),
        )
        .unwrap();
    scrim_store::DataKey::new(format!("{}-1", tenant.id), *k.as_bytes())
}
