//! Single sign-on through the Scrim server, end to end, against a real OpenID provider nobody
//! on this project wrote: panva's certified `oidc-provider` from npm, the one scrim-oidc's own
//! tests use (`crates/scrim-oidc/tests/provider/`), run with Node on loopback.
//!
//! Each test starts a server (loopback, temporary data directory), then the provider with the
//! server's `/api/v1/sso/callback` as its registered redirect URI, creates tenant `acme` with a
//! password owner, and has the owner configure SSO over HTTP. A small cookie-keeping client
//! stands in for the browser: `GET /api/v1/sso/login?tenant=acme`, the provider's login and
//! consent pages, and the provider's redirect back to the callback, which is sent to the server
//! with (or, for the negative cases, without) the `scrim_sso` cookie.
//!
//! Without Node or without the provider installed (`npm ci` in that directory) each test prints
//! why it is skipped and passes, unless `SCRIM_REQUIRE_OIDC_PROVIDER` is set, where that is a
//! failure (the same convention as scrim-oidc's `tests/oidc_provider.rs`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use scrim_auth::rbac::Role;
use scrim_oidc::Url;
use scrim_server::admin::{self, TenantOptions};
use scrim_server::{PlatformConfig, Server, ServerConfig};
use serde_json::{Value, json};

const CLIENT_ID: &str = "scrim-sso-test";
const CLIENT_SECRET: &str = "a-client-secret-for-the-sso-test-0123456789";
const REQUIRE_ENV: &str = "SCRIM_REQUIRE_OIDC_PROVIDER";
const TENANT: &str = "acme";
const OWNER_EMAIL: &str = "owner@acme.test";
const OWNER_PASSWORD: &str = "a long owner password for tests";
/// A group alice has at the provider and bob has not (provider.mjs).
const ADMIN_GROUP: &str = "scrim-admins";

// ---------------------------------------------------------------------------------------------
// The gate and the provider process

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scrim-oidc/tests/provider")
}

fn node() -> String {
    std::env::var("SCRIM_NODE").unwrap_or_else(|_| "node".into())
}

/// `None` when the provider can run, else why not.
fn provider_missing() -> Option<String> {
    match Command::new(node()).arg("--version").output() {
        Err(e) => return Some(format!("cannot run {}: {e}", node())),
        Ok(out) if !out.status.success() => return Some(format!("{} --version failed", node())),
        Ok(_) => {}
    }
    let package = provider_dir().join("node_modules/oidc-provider/package.json");
    if !package.exists() {
        return Some(format!(
            "oidc-provider is not installed ({} is absent)",
            package.display()
        ));
    }
    None
}

/// True when the provider can run; otherwise prints why `test` is skipped, or panics where
/// the provider is required.
fn provider_available(test: &str) -> bool {
    let Some(reason) = provider_missing() else {
        return true;
    };
    assert!(
        std::env::var_os(REQUIRE_ENV).is_none(),
        "{REQUIRE_ENV} is set but {reason}"
    );
    eprintln!(
        "SKIPPED {test}: {reason}. Install with: (cd crates/scrim-oidc/tests/provider && npm ci)"
    );
    false
}

/// A running `node provider.mjs`; killed when dropped.
struct Provider {
    child: Child,
    /// Held open: the provider exits when its stdin closes.
    _stdin: ChildStdin,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    fn start(redirect_uri: &str) -> Provider {
        let mut child = Command::new(node())
            .arg("provider.mjs")
            .current_dir(provider_dir())
            .env("SCRIM_OIDC_CLIENT_ID", CLIENT_ID)
            .env("SCRIM_OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("SCRIM_OIDC_REDIRECT_URI", redirect_uri)
            .env("SCRIM_OIDC_PORT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node");
        let stdin = child.stdin.take().unwrap();
        // The provider's warnings go to stderr; kept to explain a failed start.
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = stderr_text.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        // Wait for the issuer line (not a sleep): the provider prints it once it listens.
        let stdout = child.stdout.take().unwrap();
        let (lines, line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = lines.send(first);
            // Drain the rest so the provider never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        // The guard exists before the wait, so a panic below still kills node.
        let mut provider = Provider {
            child,
            _stdin: stdin,
            issuer: String::new(),
        };
        let first = line
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        let issuer = serde_json::from_str::<Value>(&first)
            .ok()
            .and_then(|v| v["issuer"].as_str().map(str::to_string));
        let Some(issuer) = issuer else {
            let _ = provider.child.kill();
            let _ = provider.child.wait();
            panic!(
                "the provider did not start: stdout {first:?}, stderr:\n{}",
                stderr_text.lock().unwrap()
            );
        };
        provider.issuer = issuer;
        provider
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP: one request, nothing followed

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> Option<&str> {
        self.headers.get("location").map(|v| v.to_str().unwrap())
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    /// The whole `Set-Cookie` line for cookie `name`, if the response sets it.
    fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies()
            .into_iter()
            .find(|line| line.split_once('=').is_some_and(|(n, _)| n.trim() == name))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// The `error` message of an API error.
    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// The value of a `Set-Cookie` line.
fn cookie_value(line: &str) -> &str {
    line.split(';')
        .next()
        .and_then(|p| p.split_once('='))
        .map(|(_, v)| v.trim())
        .unwrap()
}

async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, String)>,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some((content_type, text)) => {
            request = request.header("content-type", content_type);
            Bytes::from(text)
        }
        None => Bytes::new(),
    };
    let response = client
        .request(request.body(Full::new(body)).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// The browser at the provider: keeps the provider's cookies, fills its two forms

/// What to do at the provider's login page.
#[derive(Clone, Copy)]
enum AtLogin {
    /// Sign in as this account (`alice`, `bob`); any password.
    SignInAs(&'static str),
    /// Follow the page's `[ Cancel ]` link.
    Cancel,
}

#[derive(Default)]
struct ProviderBrowser {
    /// (path, name) → value; only the provider's cookies (Scrim's are handled by the test).
    cookies: BTreeMap<(String, String), String>,
}

impl ProviderBrowser {
    async fn request(&mut self, method: &str, url: &Url, form: Option<String>) -> Reply {
        let cookie = self
            .cookies
            .iter()
            .filter(|((path, _), _)| url.path().starts_with(path.as_str()))
            .map(|((_, name), value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut headers = vec![("accept", "text/html")];
        if !cookie.is_empty() {
            headers.push(("cookie", &cookie));
        }
        let body = form.map(|f| ("application/x-www-form-urlencoded", f));
        let reply = send(method, url.as_str(), &headers, body).await;
        for line in reply.set_cookies() {
            self.keep_cookie(line);
        }
        reply
    }

    fn keep_cookie(&mut self, header: &str) {
        let mut parts = header.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let mut path = "/".to_string();
        let mut expired = value.is_empty();
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.to_ascii_lowercase().as_str() {
                "path" => path = val.to_string(),
                "max-age" => expired |= val.parse::<i64>().is_ok_and(|s| s <= 0),
                // oidc-provider clears a cookie with `expires=Thu, 01 Jan 1970 00:00:00 GMT`.
                "expires" => expired |= val.contains("1970"),
                _ => {}
            }
        }
        let key = (path, name.to_string());
        if expired {
            self.cookies.remove(&key);
        } else {
            self.cookies.insert(key, value.to_string());
        }
    }

    /// Goes from `authorize` through the provider's pages until the provider redirects to
    /// `callback`; returns that URL (not followed).
    async fn walk(&mut self, authorize: &str, callback: &str, at_login: AtLogin) -> Url {
        let mut url = Url::parse(authorize).unwrap();
        let mut form: Option<String> = None;
        for _ in 0..20 {
            let method = if form.is_some() { "POST" } else { "GET" };
            let page = self.request(method, &url, form.take()).await;
            if (300..400).contains(&page.status)
                && let Some(location) = page.location()
            {
                let next = url.join(location).unwrap();
                if next.as_str().starts_with(callback) {
                    return next;
                }
                url = next;
                continue;
            }
            assert_eq!(page.status, 200, "unexpected page at {url}: {}", page.body);
            let (action, mut fields) =
                parse_form(&page.body).unwrap_or_else(|| panic!("no form at {url}: {}", page.body));
            match (fields.get("prompt").map(String::as_str), at_login) {
                (Some("login"), AtLogin::Cancel) => {
                    let cancel = cancel_link(&page.body)
                        .unwrap_or_else(|| panic!("no cancel link at {url}: {}", page.body));
                    url = url.join(&cancel).unwrap();
                    continue;
                }
                (Some("login"), AtLogin::SignInAs(login)) => {
                    fields.insert("login".into(), login.into());
                    fields.insert("password".into(), "any password".into());
                }
                (Some("consent"), _) => {}
                (other, _) => panic!("unexpected prompt {other:?} at {url}"),
            }
            let mut encoder = Url::parse("http://form.invalid/").unwrap();
            encoder.query_pairs_mut().extend_pairs(fields.iter());
            form = Some(encoder.query().unwrap_or_default().to_owned());
            url = url.join(&action).unwrap();
        }
        panic!("no redirect to {callback} after 20 steps");
    }
}

/// The first form of `html`: its action and its inputs with a name (value or empty).
fn parse_form(html: &str) -> Option<(String, BTreeMap<String, String>)> {
    let start = html.find("<form")?;
    let end = start + html[start..].find("</form>")?;
    let form = &html[start..end];
    let open_end = form.find('>')?;
    let action = attribute(&form[..open_end], "action")?;
    let mut fields = BTreeMap::new();
    let mut rest = &form[open_end..];
    while let Some(at) = rest.find("<input") {
        let tag_end = at + rest[at..].find('>')?;
        let tag = &rest[at..tag_end];
        if let Some(name) = attribute(tag, "name") {
            fields.insert(name, attribute(tag, "value").unwrap_or_default());
        }
        rest = &rest[tag_end..];
    }
    Some((action, fields))
}

/// The `href` of the page's `[ Cancel ]` link (the provider's abort URL).
fn cancel_link(html: &str) -> Option<String> {
    let end = html.find("[ Cancel ]")?;
    let start = html[..end].rfind("<a ")?;
    attribute(&html[start..end], "href")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

// ---------------------------------------------------------------------------------------------
// The fixture: a server, a provider registered with its callback, tenant acme with SSO

/// A Scrim session as a browser holds it.
struct Session {
    token: String,
    csrf: String,
}

/// A sign-in started at Scrim: the sealed `scrim_sso` cookie and where the browser goes.
struct Started {
    sso_cookie: String,
    authorize: String,
}

struct Sso {
    // Dropped in this order: the provider (node killed), the server, then its data.
    provider: Provider,
    server: Server,
    tenant: scrim_meta::TenantId,
    owner: Session,
    _dir: tempfile::TempDir,
}

impl Sso {
    /// A server with tenant acme and its password owner, a provider registered with the
    /// server's callback, and SSO configured by the owner over HTTP with `roles`.
    async fn start(roles: Value) -> Sso {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(ServerConfig::loopback_ephemeral(PlatformConfig::in_dir(
            dir.path(),
        )))
        .await
        .expect("server starts");
        // The redirect URI names the server's port, known only now.
        let provider = Provider::start(&callback_uri(&server));
        let tenant = admin::create_tenant(
            server.platform(),
            &scrim_server::accounts::Act::operator("-"),
            TENANT,
            &TenantOptions::default(),
        )
        .await
        .unwrap();
        server
            .accounts()
            .add_member(
                &scrim_server::accounts::Act::operator("-"),
                &tenant.id,
                OWNER_EMAIL,
                Role::Owner,
                Some(OWNER_PASSWORD),
            )
            .await
            .unwrap();
        let mut sso = Sso {
            provider,
            server,
            tenant: tenant.id,
            owner: Session {
                token: String::new(),
                csrf: String::new(),
            },
            _dir: dir,
        };
        let signed = sso.password_sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(signed.status, 200, "{}", signed.body);
        let body = signed.json();
        assert_eq!(body["role"], "owner");
        assert_eq!(body["method"], "password");
        sso.owner = Session {
            token: cookie_value(signed.set_cookie("scrim_session").expect("session cookie"))
                .to_owned(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        };
        let settings = sso.settings(CLIENT_SECRET, roles);
        let put = sso
            .api(
                "PUT",
                "/api/v1/settings/sso",
                Some(&sso.owner),
                Some(settings),
            )
            .await;
        assert_eq!(put.status, 200, "{}", put.body);
        assert_eq!(put.json()["configured"], true);
        sso
    }

    /// The body of `PUT /api/v1/settings/sso` for this provider.
    fn settings(&self, client_secret: &str, roles: Value) -> Value {
        json!({"settings": {
            "oidc": {
                "issuer": self.provider.issuer,
                "client_id": CLIENT_ID,
                "client_secret": client_secret,
                "redirect_uri": callback_uri(&self.server),
                "scopes": ["openid", "email", "profile", "groups"],
                "groups_claim": "groups",
            },
            "roles": roles,
        }})
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.http_addr())
    }

    /// A JSON API call, with the session's cookie and CSRF token when given.
    async fn api(
        &self,
        method: &str,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> Reply {
        let cookie;
        let mut headers = Vec::new();
        if let Some(s) = session {
            cookie = format!("scrim_session={}", s.token);
            headers.push(("cookie", cookie.as_str()));
            headers.push(("x-csrf-token", s.csrf.as_str()));
        }
        let body = body.map(|b| ("application/json", b.to_string()));
        send(method, &self.url(path), &headers, body).await
    }

    async fn password_sign_in(&self, email: &str, password: &str) -> Reply {
        self.api(
            "POST",
            "/api/v1/session",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// `GET /api/v1/sso/login?tenant=acme`, checked.
    async fn begin(&self) -> Started {
        let reply = send(
            "GET",
            &self.url(&format!("/api/v1/sso/login?tenant={TENANT}")),
            &[],
            None,
        )
        .await;
        assert_eq!(reply.status, 303, "{}", reply.body);
        assert_eq!(reply.headers["cache-control"], "no-store");
        let authorize = reply.location().expect("a Location").to_owned();
        assert!(
            authorize.starts_with(&format!("{}/auth?", self.provider.issuer)),
            "{authorize}"
        );
        let query: BTreeMap<String, String> = Url::parse(&authorize)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        assert_eq!(query["client_id"], CLIENT_ID);
        assert_eq!(query["redirect_uri"], callback_uri(&self.server));
        assert_eq!(query["code_challenge_method"], "S256");
        let line = reply.set_cookie("scrim_sso").expect("a scrim_sso cookie");
        for attribute in ["Path=/api/v1/sso", "HttpOnly", "SameSite=Lax"] {
            assert!(line.contains(attribute), "{line}");
        }
        let sso_cookie = cookie_value(line).to_owned();
        // Sealed: none of the pending login's secrets is readable in it.
        assert!(!sso_cookie.contains(&query["state"]), "{sso_cookie}");
        assert!(!sso_cookie.contains(&query["nonce"]), "{sso_cookie}");
        Started {
            sso_cookie,
            authorize,
        }
    }

    /// Walks the provider from a started sign-in; returns the callback URL it redirects to.
    async fn at_provider(&self, started: &Started, at_login: AtLogin) -> Url {
        ProviderBrowser::default()
            .walk(&started.authorize, &callback_uri(&self.server), at_login)
            .await
    }

    /// Sends the provider's redirect to Scrim, with `scrim_sso=<sso_cookie>` when given.
    async fn callback(&self, callback: &Url, sso_cookie: Option<&str>) -> Reply {
        // The provider redirects to the server itself: this is following that redirect.
        assert!(callback.as_str().starts_with(&callback_uri(&self.server)));
        let cookie = sso_cookie.map(|c| format!("scrim_sso={c}"));
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("cookie", c.as_str())).collect();
        let reply = send("GET", callback.as_str(), &headers, None).await;
        // Whatever happens, the pending sign-in's cookie is cleared.
        let clear = reply
            .set_cookie("scrim_sso")
            .unwrap_or_else(|| panic!("scrim_sso not cleared: {} {}", reply.status, reply.body));
        assert_eq!(cookie_value(clear), "");
        assert!(clear.contains("Max-Age=0"), "{clear}");
        reply
    }

    /// A whole SSO sign-in as `login`: the callback's answer.
    async fn sso_sign_in(&self, login: &'static str) -> Reply {
        let started = self.begin().await;
        let callback = self.at_provider(&started, AtLogin::SignInAs(login)).await;
        self.callback(&callback, Some(&started.sso_cookie)).await
    }

    /// The session a successful callback started, with its CSRF token from whoami.
    async fn session_from(&self, reply: &Reply) -> Session {
        // A same-site page that moves on to `/` (not a redirect: see sso.rs).
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.body.contains("url=/"), "{}", reply.body);
        let line = reply.set_cookie("scrim_session").expect("a session cookie");
        for attribute in ["Path=/", "HttpOnly", "SameSite=Strict"] {
            assert!(line.contains(attribute), "{line}");
        }
        let mut session = Session {
            token: cookie_value(line).to_owned(),
            csrf: String::new(),
        };
        let me = self.whoami(&session).await;
        session.csrf = me["csrf_token"].as_str().unwrap().to_owned();
        session
    }

    async fn whoami(&self, session: &Session) -> Value {
        let me = self
            .api("GET", "/api/v1/session", Some(session), None)
            .await;
        assert_eq!(me.status, 200, "{}", me.body);
        me.json()
    }

    async fn user_by_email(&self, email: &str) -> Option<scrim_meta::User> {
        self.server
            .platform()
            .meta()
            .user_by_email(email)
            .await
            .unwrap()
    }

    async fn shutdown(self) {
        let Sso {
            provider,
            server,
            _dir,
            ..
        } = self;
        drop(provider);
        server.shutdown().await;
    }
}

fn callback_uri(server: &Server) -> String {
    format!("http://{}/api/v1/sso/callback", server.http_addr())
}

/// Alice (groups scrim-admins and staff, verified e-mail) is an admin; everyone else the
/// provider signs in is a viewer.
fn admin_group_else_viewer() -> Value {
    json!({"rules": [{"group": ADMIN_GROUP, "role": "admin"}], "default_role": "viewer"})
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_sign_in_creates_the_account_just_in_time_with_the_mapped_role() {
    if !provider_available("sso_sign_in_creates_the_account_just_in_time_with_the_mapped_role") {
        return;
    }
    let sso = Sso::start(admin_group_else_viewer()).await;

    // The settings read back without the client secret, which is stored sealed apart.
    let read = sso
        .api("GET", "/api/v1/settings/sso", Some(&sso.owner), None)
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    let settings = read.json();
    assert_eq!(settings["configured"], true);
    assert_eq!(settings["client_secret_set"], true);
    assert_eq!(settings["settings"]["oidc"]["issuer"], sso.provider.issuer);
    assert!(!read.body.contains(CLIENT_SECRET), "{}", read.body);

    // No account for alice until she signs in.
    assert!(sso.user_by_email("alice@example.test").await.is_none());
    let started = sso.begin().await;
    let callback = sso.at_provider(&started, AtLogin::SignInAs("alice")).await;
    let query: BTreeMap<String, String> = callback.query_pairs().into_owned().collect();
    assert!(
        query.contains_key("code") && query.contains_key("state"),
        "{callback}"
    );
    let reply = sso.callback(&callback, Some(&started.sso_cookie)).await;
    let alice = sso.session_from(&reply).await;
    let me = sso.whoami(&alice).await;
    assert_eq!(me["kind"], "user");
    assert_eq!(me["user"]["email"], "alice@example.test");
    assert_eq!(me["tenant"]["name"], TENANT);
    assert_eq!(me["role"], "admin");
    assert_eq!(me["method"], "sso");
    assert_eq!(me["restricted"], Value::Null);

    // Created just in time: linked to (issuer, subject), with no password.
    let account = sso
        .user_by_email("alice@example.test")
        .await
        .expect("alice's account was created");
    assert_eq!(
        account.oidc,
        Some((sso.provider.issuer.clone(), "alice".to_owned()))
    );
    assert!(account.password_hash.is_none());
    assert_eq!(account.display_name.as_deref(), Some("Alice Example"));
    assert_eq!(me["user"]["id"], account.id.as_str());
    // Nor can anyone sign in to it with a password.
    let refused = sso
        .password_sign_in("alice@example.test", "any password at all")
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);

    // The owner sees her among the members, as an SSO account.
    let members = sso
        .api("GET", "/api/v1/users", Some(&sso.owner), None)
        .await;
    assert_eq!(members.status, 200, "{}", members.body);
    let members = members.json();
    let listed = members["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "alice@example.test")
        .expect("alice is a member")
        .clone();
    assert_eq!(listed["role"], "admin");
    assert_eq!(listed["sso"], true);

    // The session works for telemetry, and for state-changing calls with its CSRF token.
    let services = sso
        .api("GET", "/api/v1/services?window=1h", Some(&alice), None)
        .await;
    assert_eq!(services.status, 200, "{}", services.body);

    // The same redirect sent again (code, state and cookie all replayed): the provider has
    // spent the code.
    let replay = sso.callback(&callback, Some(&started.sso_cookie)).await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert!(replay.set_cookie("scrim_session").is_none());
    assert!(
        replay.error().contains("single sign-on failed"),
        "{}",
        replay.body
    );
    assert!(replay.error().contains("invalid_grant"), "{}", replay.body);

    // A second sign-in finds the same account by (issuer, subject) and creates none.
    let again = sso.session_from(&sso.sso_sign_in("alice").await).await;
    let me_again = sso.whoami(&again).await;
    assert_eq!(me_again["user"]["id"], account.id.as_str());
    assert_eq!(me_again["role"], "admin");
    assert_ne!(again.token, alice.token);

    // The role follows the mapping at every sign-in: with the group rule gone, alice falls
    // to the default role, and her existing session sees the change at once.
    let put = sso
        .api(
            "PUT",
            "/api/v1/settings/sso",
            Some(&sso.owner),
            Some(sso.settings(
                CLIENT_SECRET,
                json!({"rules": [], "default_role": "viewer"}),
            )),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let demoted = sso.session_from(&sso.sso_sign_in("alice").await).await;
    assert_eq!(sso.whoami(&demoted).await["role"], "viewer");
    assert_eq!(sso.whoami(&alice).await["role"], "viewer");

    // Bob's address is not verified at the provider: he would be a viewer, but no account
    // is created for an unverified address.
    let bob = sso.sso_sign_in("bob").await;
    assert_eq!(bob.status, 403, "{}", bob.body);
    assert!(bob.set_cookie("scrim_session").is_none());
    assert_eq!(
        bob.error(),
        "the identity provider did not give a verified e-mail address"
    );
    assert!(sso.user_by_email("bob@example.test").await.is_none());

    // Each sign-in left one audit record: alice's three successes by SSO, the replayed
    // callback refused (before the account is known) and bob's refusal, with the reasons;
    // the settings changes with their diff and never the client secret.
    let records: Vec<scrim_audit::AuditRecord> = sso
        .server
        .platform()
        .meta()
        .audit_chain(sso.tenant.as_str(), 0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|r| scrim_server::audit::record_of(r).unwrap())
        .collect();
    let sign_ins: Vec<(&str, Option<&str>, Option<&str>)> = records
        .iter()
        .filter(|r| r.action == "session.sign_in" && r.details["method"] == "sso")
        .map(|r| (r.outcome.status(), r.target.as_deref(), r.outcome.reason()))
        .collect();
    let alice_id = account.id.as_str();
    assert_eq!(
        sign_ins,
        [
            ("success", Some(alice_id), None),
            ("denied", None, Some(replay.error().as_str())),
            ("success", Some(alice_id), None),
            ("success", Some(alice_id), None),
            ("denied", None, Some(bob.error().as_str())),
        ],
        "{records:#?}"
    );
    let sso_changes: Vec<&scrim_audit::AuditRecord> = records
        .iter()
        .filter(|r| r.action == "settings.sso_change")
        .collect();
    assert_eq!(sso_changes.len(), 2, "{sso_changes:#?}");
    assert!(sso_changes[1].details["changes"]["sso"]["before"]["roles"].is_object());
    for r in &sso_changes {
        assert!(!scrim_audit::to_json_line(r).contains(CLIENT_SECRET));
    }

    sso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_callback_refuses_a_missing_or_tampered_cookie_and_provider_errors() {
    if !provider_available("sso_callback_refuses_a_missing_or_tampered_cookie_and_provider_errors")
    {
        return;
    }
    let sso = Sso::start(admin_group_else_viewer()).await;

    // Sign-in for a tenant that does not exist, or has no SSO: nothing to start.
    let unknown = send("GET", &sso.url("/api/v1/sso/login?tenant=nope"), &[], None).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    admin::create_tenant(
        sso.server.platform(),
        &scrim_server::accounts::Act::operator("-"),
        "plain",
        &TenantOptions::default(),
    )
    .await
    .unwrap();
    let plain = send("GET", &sso.url("/api/v1/sso/login?tenant=plain"), &[], None).await;
    assert_eq!(plain.status, 404, "{}", plain.body);
    assert!(plain.error().contains("not configured"), "{}", plain.body);

    let started = sso.begin().await;
    let callback = sso.at_provider(&started, AtLogin::SignInAs("alice")).await;

    // Without the cookie (another browser, or a forged link): no sign-in in progress.
    let without = sso.callback(&callback, None).await;
    assert_eq!(without.status, 401, "{}", without.body);
    assert!(without.set_cookie("scrim_session").is_none());
    assert!(
        without.error().contains("no sign-in in progress"),
        "{}",
        without.body
    );

    // A cookie with one byte changed does not open.
    let mut tampered = started.sso_cookie.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let forged = sso.callback(&callback, Some(&tampered)).await;
    assert_eq!(forged.status, 401, "{}", forged.body);
    assert!(forged.set_cookie("scrim_session").is_none());
    assert!(
        forged.error().contains("sign-in cookie is not valid"),
        "{}",
        forged.body
    );

    // Another sign-in's cookie: it opens, but its state is not this redirect's.
    let other = sso.begin().await;
    let crossed = sso.callback(&callback, Some(&other.sso_cookie)).await;
    assert_eq!(crossed.status, 401, "{}", crossed.body);
    assert!(crossed.set_cookie("scrim_session").is_none());
    assert!(
        crossed.error().contains("state mismatch"),
        "{}",
        crossed.body
    );

    // All three were refused before the code was spent: with its own cookie it still works.
    let reply = sso.callback(&callback, Some(&started.sso_cookie)).await;
    let alice = sso.session_from(&reply).await;
    assert_eq!(sso.whoami(&alice).await["method"], "sso");

    // The user cancels at the provider, which redirects back with access_denied.
    let started = sso.begin().await;
    let cancelled = sso.at_provider(&started, AtLogin::Cancel).await;
    let query: BTreeMap<String, String> = cancelled.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("access_denied")
    );
    let denied = sso.callback(&cancelled, Some(&started.sso_cookie)).await;
    assert_eq!(denied.status, 401, "{}", denied.body);
    assert!(denied.set_cookie("scrim_session").is_none());
    assert_eq!(
        denied.error(),
        "the identity provider refused the sign-in: access_denied"
    );

    // The redirect's values and the provider's description are not echoed back.
    let crafted = Url::parse(&format!(
        "{}?error=access_denied&error_description=%3Cb%3Ex%3C%2Fb%3E",
        callback_uri(&sso.server)
    ))
    .unwrap();
    let crafted = sso.callback(&crafted, None).await;
    assert_eq!(crafted.status, 401, "{}", crafted.body);
    assert!(!crafted.body.contains("<b>"), "{}", crafted.body);

    sso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_does_not_link_an_existing_password_account_by_e_mail() {
    if !provider_available("sso_does_not_link_an_existing_password_account_by_e_mail") {
        return;
    }
    let sso = Sso::start(admin_group_else_viewer()).await;
    // Someone already has a password account with alice's address.
    let added = sso
        .api(
            "POST",
            "/api/v1/users",
            Some(&sso.owner),
            Some(json!({"email": "alice@example.test", "role": "viewer",
                        "password": "the password account's password"})),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.body);
    let before = sso.user_by_email("alice@example.test").await.unwrap();

    let reply = sso.sso_sign_in("alice").await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(reply.set_cookie("scrim_session").is_none());
    assert!(reply.error().contains("not linked"), "{}", reply.body);
    // The password account is untouched: not linked, same role.
    let after = sso.user_by_email("alice@example.test").await.unwrap();
    assert_eq!(after.id, before.id);
    assert!(after.oidc.is_none());
    assert_eq!(
        sso.server
            .platform()
            .meta()
            .membership(&after.id, &sso.tenant)
            .await
            .unwrap(),
        Some(Role::Viewer)
    );

    sso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_sso_restricts_password_sessions_but_not_sso_ones() {
    if !provider_available("require_sso_restricts_password_sessions_but_not_sso_ones") {
        return;
    }
    let sso = Sso::start(admin_group_else_viewer()).await;
    let alice = sso.session_from(&sso.sso_sign_in("alice").await).await;

    let services = "/api/v1/services?window=1h";
    let before = sso.api("GET", services, Some(&sso.owner), None).await;
    assert_eq!(before.status, 200, "{}", before.body);

    let put = sso
        .api(
            "PUT",
            "/api/v1/settings/security",
            Some(&sso.owner),
            Some(json!({"require_sso": true})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["require_sso"], true);

    // The owner's password session is restricted from now on, telemetry included.
    let after = sso.api("GET", services, Some(&sso.owner), None).await;
    assert_eq!(after.status, 403, "{}", after.body);
    assert!(after.error().contains("single sign-on"), "{}", after.body);
    let me = sso.whoami(&sso.owner).await;
    assert_eq!(me["method"], "password");
    assert!(
        me["restricted"]
            .as_str()
            .is_some_and(|r| r.contains("/api/v1/sso/login")),
        "{me}"
    );
    let settings = sso
        .api("GET", "/api/v1/settings/security", Some(&sso.owner), None)
        .await;
    assert_eq!(settings.status, 403, "{}", settings.body);

    // A new password sign-in to acme is refused, the right password notwithstanding.
    let refused = sso.password_sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.set_cookie("scrim_session").is_none());
    assert!(
        refused.error().contains("requires single sign-on"),
        "{}",
        refused.body
    );
    assert!(
        refused.error().contains("/api/v1/sso/login?tenant=acme"),
        "{}",
        refused.body
    );

    // Alice's SSO session is not restricted, and a new SSO sign-in works.
    assert_eq!(sso.whoami(&alice).await["restricted"], Value::Null);
    let hers = sso.api("GET", services, Some(&alice), None).await;
    assert_eq!(hers.status, 200, "{}", hers.body);
    let fresh = sso.session_from(&sso.sso_sign_in("alice").await).await;
    let hers = sso.api("GET", services, Some(&fresh), None).await;
    assert_eq!(hers.status, 200, "{}", hers.body);

    // Alice, an admin through SSO, manages the settings now. SSO cannot be removed while it
    // is required...
    let remove = sso
        .api(
            "PUT",
            "/api/v1/settings/sso",
            Some(&alice),
            Some(json!({"settings": null})),
        )
        .await;
    assert_eq!(remove.status, 400, "{}", remove.body);
    assert!(remove.error().contains("require_sso"), "{}", remove.body);
    // ...and lifting the requirement frees the owner's password session at once.
    let lift = sso
        .api(
            "PUT",
            "/api/v1/settings/security",
            Some(&alice),
            Some(json!({"require_sso": false})),
        )
        .await;
    assert_eq!(lift.status, 200, "{}", lift.body);
    let owner_again = sso.api("GET", services, Some(&sso.owner), None).await;
    assert_eq!(owner_again.status, 200, "{}", owner_again.body);

    sso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_client_secret_takes_effect_at_once() {
    if !provider_available("a_corrected_client_secret_takes_effect_at_once") {
        return;
    }
    let sso = Sso::start(admin_group_else_viewer()).await;
    // A typo in the secret: discovery works, the provider refuses the code exchange.
    let put = sso
        .api(
            "PUT",
            "/api/v1/settings/sso",
            Some(&sso.owner),
            Some(sso.settings("not-the-registered-secret", admin_group_else_viewer())),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let refused = sso.sso_sign_in("alice").await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(
        refused.error().contains("invalid_client"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("not-the-registered-secret"));

    // The administrator puts the right secret, nothing else changed: the next sign-in uses it.
    let put = sso
        .api(
            "PUT",
            "/api/v1/settings/sso",
            Some(&sso.owner),
            Some(sso.settings(CLIENT_SECRET, admin_group_else_viewer())),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let alice = sso.session_from(&sso.sso_sign_in("alice").await).await;
    assert_eq!(sso.whoami(&alice).await["role"], "admin");

    sso.shutdown().await;
}
