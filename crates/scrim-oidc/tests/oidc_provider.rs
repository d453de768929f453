//! Sign-in end to end against a real OpenID provider nobody on this project wrote: panva's
//! certified `oidc-provider` from npm, run with Node on loopback (`tests/provider/`).
//!
//! Each test starts its own provider (`node provider.mjs`, port 0, fresh signing keys), waits
//! for the issuer line it prints, and goes through the provider's own sign-in pages with a
//! small cookie-keeping HTTP client standing in for the browser: the authorization URL, the
//! login form, the consent form, then the redirect to our redirect URI, which is not followed:
//! its `code` and `state` are handed to `OidcClient::finish`.
//!
//! Without Node or without the package installed (`npm ci` in `tests/provider`) each test
//! prints why it is skipped and passes, unless `SCRIM_REQUIRE_OIDC_PROVIDER` is set (CI sets
//! it once it has installed the package), where that is a failure.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use scrim_oidc::{
    ClientAuthMethod, ClientSecret, HttpClient, HttpOptions, IdTokenError, OidcClient, OidcConfig,
    OidcError, PENDING_LOGIN_MAX_AGE, PendingLogin, RoleMapping, Url,
};

const CLIENT_ID: &str = "scrim-test";
const CLIENT_SECRET: &str = "a-client-secret-for-tests-only-0123456789";
/// Never contacted: the test reads the provider's redirect to it instead of following it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/oidc/callback";
const REQUIRE_ENV: &str = "SCRIM_REQUIRE_OIDC_PROVIDER";

// ---------------------------------------------------------------------------------------------
// The gate and the provider process

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/provider")
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

#[derive(Clone)]
struct ProviderOptions {
    port: u16,
    client_secret: &'static str,
    auth_method: &'static str,
    id_token_alg: &'static str,
    claims_in_id_token: bool,
}

impl Default for ProviderOptions {
    fn default() -> Self {
        ProviderOptions {
            port: 0,
            client_secret: CLIENT_SECRET,
            auth_method: "client_secret_basic",
            id_token_alg: "RS256",
            claims_in_id_token: false,
        }
    }
}

/// A running `node provider.mjs`; killed when dropped.
struct Provider {
    child: Child,
    /// Held open: the provider exits when its stdin closes.
    _stdin: ChildStdin,
    issuer: String,
    port: u16,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    fn start(options: &ProviderOptions) -> Provider {
        let mut child = Command::new(node())
            .arg("provider.mjs")
            .current_dir(provider_dir())
            .env("SCRIM_OIDC_CLIENT_ID", CLIENT_ID)
            .env("SCRIM_OIDC_CLIENT_SECRET", options.client_secret)
            .env("SCRIM_OIDC_REDIRECT_URI", REDIRECT_URI)
            .env("SCRIM_OIDC_PORT", options.port.to_string())
            .env("SCRIM_OIDC_AUTH_METHOD", options.auth_method)
            .env("SCRIM_OIDC_ID_TOKEN_ALG", options.id_token_alg)
            .env(
                "SCRIM_OIDC_CLAIMS_IN_ID_TOKEN",
                if options.claims_in_id_token { "1" } else { "0" },
            )
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
        let mut provider = Provider {
            child,
            _stdin: stdin,
            issuer: String::new(),
            port: 0,
        };
        let first = line
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        let issuer = serde_json::from_str::<serde_json::Value>(&first)
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
        provider.port = Url::parse(&issuer).unwrap().port().unwrap();
        provider.issuer = issuer;
        provider
    }
}

// ---------------------------------------------------------------------------------------------
// The relying party under test

fn http() -> HttpClient {
    // Only loopback http is used here; a throwaway CA keeps the client independent of the
    // machine's trust store.
    let ca = rcgen::generate_simple_self_signed(vec!["unused.test".to_string()]).unwrap();
    HttpClient::new(HttpOptions {
        extra_ca_pem: Some(ca.cert.pem().into_bytes()),
        system_roots: false,
        ..HttpOptions::default()
    })
    .unwrap()
}

fn config(provider: &Provider) -> OidcConfig {
    let mut config = OidcConfig::new(
        provider.issuer.clone(),
        CLIENT_ID,
        Some(ClientSecret::new(CLIENT_SECRET)),
        REDIRECT_URI,
    );
    config.scopes = ["openid", "email", "profile", "groups"]
        .map(String::from)
        .to_vec();
    config.groups_claim = Some("groups".into());
    config
}

async fn client(provider: &Provider) -> OidcClient {
    OidcClient::discover(config(provider), &http())
        .await
        .expect("discovery")
}

fn roles() -> RoleMapping {
    serde_json::from_str(
        r#"{"rules": [
            {"group": "scrim-admins", "role": "admin"},
            {"email_domain": "example.test", "role": "member"},
            {"group": "staff", "role": "viewer"}
        ]}"#,
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The browser: follows redirects, keeps cookies, fills the provider's two forms

struct Browser {
    client: Client<HttpConnector, Full<Bytes>>,
    /// (path, name) → value.
    cookies: BTreeMap<(String, String), String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

/// What the provider sent to the redirect URI.
struct Callback {
    code: String,
    state: String,
}

impl Browser {
    fn new() -> Self {
        Browser {
            client: Client::builder(TokioExecutor::new()).build_http(),
            cookies: BTreeMap::new(),
        }
    }

    async fn request(&mut self, method: &str, url: &Url, form: Option<String>) -> Page {
        let mut request = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header("accept", "text/html");
        let cookie = self
            .cookies
            .iter()
            .filter(|((path, _), _)| url.path().starts_with(path.as_str()))
            .map(|((_, name), value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        if !cookie.is_empty() {
            request = request.header("cookie", cookie);
        }
        let body = match form {
            Some(form) => {
                request = request.header("content-type", "application/x-www-form-urlencoded");
                Bytes::from(form)
            }
            None => Bytes::new(),
        };
        let response = self
            .client
            .request(request.body(Full::new(body)).unwrap())
            .await
            .expect("provider request");
        for value in response.headers().get_all("set-cookie") {
            self.keep_cookie(value.to_str().unwrap());
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
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
                "expires" => {
                    expired |= httpdate_in_past(val);
                }
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

    /// Signs in as `login` starting at `authorize_url`, and returns what the provider sent
    /// to the redirect URI.
    async fn sign_in(&mut self, authorize_url: &Url, login: &str) -> Callback {
        let mut url = authorize_url.clone();
        let mut form: Option<String> = None;
        for _ in 0..20 {
            let method = if form.is_some() { "POST" } else { "GET" };
            let page = self.request(method, &url, form.take()).await;
            if let Some(location) = page.location.filter(|_| (300..400).contains(&page.status)) {
                let next = url.join(&location).unwrap();
                if next.as_str().starts_with(REDIRECT_URI) {
                    let query: BTreeMap<String, String> = next.query_pairs().into_owned().collect();
                    if let Some(error) = query.get("error") {
                        panic!("the provider answered with error {error}: {query:?}");
                    }
                    return Callback {
                        code: query["code"].clone(),
                        state: query["state"].clone(),
                    };
                }
                url = next;
                continue;
            }
            assert_eq!(page.status, 200, "unexpected page at {url}: {}", page.body);
            let (action, mut fields) =
                parse_form(&page.body).unwrap_or_else(|| panic!("no form at {url}: {}", page.body));
            match fields.get("prompt").map(String::as_str) {
                Some("login") => {
                    fields.insert("login".into(), login.into());
                    fields.insert("password".into(), "any password".into());
                }
                Some("consent") => {}
                other => panic!("unexpected prompt {other:?} at {url}"),
            }
            form = Some(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields.iter())
                    .finish(),
            );
            url = url.join(&action).unwrap();
        }
        panic!("no redirect to {REDIRECT_URI} after 20 steps");
    }
}

fn httpdate_in_past(value: &str) -> bool {
    // oidc-provider clears a cookie with `expires=Thu, 01 Jan 1970 00:00:00 GMT`.
    value.contains("1970")
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

/// Begins a login and signs in at the provider as `login`.
async fn login(client: &OidcClient, login: &str) -> (PendingLogin, Callback) {
    let (url, pending) = client.begin().unwrap();
    let callback = Browser::new().sign_in(&url, login).await;
    (pending, callback)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn signs_in_end_to_end_with_groups_from_userinfo() {
    if !provider_available("signs_in_end_to_end_with_groups_from_userinfo") {
        return;
    }
    let provider = Provider::start(&ProviderOptions::default());
    let client = client(&provider).await;

    let (url, pending) = client.begin().unwrap();
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/auth?", provider.issuer))
    );
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], REDIRECT_URI);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["state"], pending.state());
    assert!(query["code_challenge"].len() >= 43);
    assert!(query["nonce"].len() >= 32);
    let scopes: Vec<&str> = query["scope"].split(' ').collect();
    for scope in ["openid", "email", "profile", "groups"] {
        assert!(scopes.contains(&scope), "{scopes:?}");
    }

    // The pending login survives the trip through a cookie or a table.
    let stored = serde_json::to_string(&pending).unwrap();
    let pending: PendingLogin = serde_json::from_str(&stored).unwrap();

    let callback = Browser::new().sign_in(&url, "alice").await;
    assert_eq!(callback.state, pending.state());
    let identity = client
        .finish(&pending, &callback.state, &callback.code)
        .await
        .expect("finish");
    assert_eq!(identity.issuer, provider.issuer);
    assert_eq!(identity.subject, "alice");
    assert_eq!(identity.email.as_deref(), Some("alice@example.test"));
    assert!(identity.email_verified);
    assert_eq!(identity.name.as_deref(), Some("Alice Example"));
    assert_eq!(identity.groups, ["scrim-admins", "staff"]);
    assert_eq!(roles().role_for(&identity).as_deref(), Some("admin"));

    // Bob's address is not verified, so the e-mail rule does not apply to him.
    let (pending, callback) = login(&client, "bob").await;
    let bob = client
        .finish(&pending, &callback.state, &callback.code)
        .await
        .expect("finish");
    assert_eq!(bob.subject, "bob");
    assert_eq!(bob.email.as_deref(), Some("bob@example.test"));
    assert!(!bob.email_verified);
    assert_eq!(bob.groups, ["staff"]);
    assert_eq!(roles().role_for(&bob).as_deref(), Some("viewer"));
    let strict: RoleMapping =
        serde_json::from_str(r#"{"rules": [{"group": "scrim-admins", "role": "admin"}]}"#).unwrap();
    assert_eq!(strict.role_for(&bob), None);
}

#[tokio::test]
async fn signs_in_with_claims_in_an_es256_id_token_and_client_secret_post() {
    if !provider_available("signs_in_with_claims_in_an_es256_id_token_and_client_secret_post") {
        return;
    }
    let provider = Provider::start(&ProviderOptions {
        auth_method: "client_secret_post",
        id_token_alg: "ES256",
        claims_in_id_token: true,
        ..ProviderOptions::default()
    });
    // Left to choose, the client would use client_secret_basic, which this registration
    // refuses: the configured method is what the provider gets.
    let mut config = config(&provider);
    config.client_auth = Some(ClientAuthMethod::ClientSecretPost);
    let client = OidcClient::discover(config, &http()).await.unwrap();
    let (pending, callback) = login(&client, "alice").await;
    let identity = client
        .finish(&pending, &callback.state, &callback.code)
        .await
        .expect("finish");
    assert_eq!(identity.subject, "alice");
    assert_eq!(identity.email.as_deref(), Some("alice@example.test"));
    assert_eq!(identity.groups, ["scrim-admins", "staff"]);
    assert_eq!(roles().role_for(&identity).as_deref(), Some("admin"));
}

#[tokio::test]
async fn wrong_state_is_refused_before_the_code_is_spent() {
    if !provider_available("wrong_state_is_refused_before_the_code_is_spent") {
        return;
    }
    let provider = Provider::start(&ProviderOptions::default());
    let client = client(&provider).await;
    let (pending, callback) = login(&client, "alice").await;
    for state in [
        "",
        "x",
        &format!("{}0", callback.state),
        &callback.state[1..],
    ] {
        assert_eq!(
            client.finish(&pending, state, &callback.code).await,
            Err(OidcError::StateMismatch)
        );
    }
    // Refused without a request: the code is still good.
    client
        .finish(&pending, &callback.state, &callback.code)
        .await
        .expect("finish");
}

#[tokio::test]
async fn replayed_code_is_refused() {
    if !provider_available("replayed_code_is_refused") {
        return;
    }
    let provider = Provider::start(&ProviderOptions::default());
    let client = client(&provider).await;
    let (pending, callback) = login(&client, "alice").await;
    client
        .finish(&pending, &callback.state, &callback.code)
        .await
        .expect("first use");
    let replay = client
        .finish(&pending, &callback.state, &callback.code)
        .await;
    assert_eq!(
        replay,
        Err(OidcError::Provider {
            error: "invalid_grant".into()
        })
    );
}

#[tokio::test]
async fn code_of_another_login_is_refused() {
    if !provider_available("code_of_another_login_is_refused") {
        return;
    }
    let provider = Provider::start(&ProviderOptions::default());
    let client = client(&provider).await;
    let (victim, victim_callback) = login(&client, "bob").await;
    let (_attacker, attacker_callback) = login(&client, "alice").await;
    // The attacker's code injected into the victim's callback: the state is the victim's, but
    // the code was bound to another PKCE challenge (and another nonce).
    let result = client
        .finish(&victim, &victim_callback.state, &attacker_callback.code)
        .await;
    assert_eq!(
        result,
        Err(OidcError::Provider {
            error: "invalid_grant".into()
        })
    );
}

#[tokio::test]
async fn nonce_of_another_login_is_refused() {
    if !provider_available("nonce_of_another_login_is_refused") {
        return;
    }
    let provider = Provider::start(&ProviderOptions::default());
    let client = client(&provider).await;
    let (first, _) = login(&client, "alice").await;
    let (second, callback) = login(&client, "alice").await;
    // The second login's pending state with the first one's nonce: state and PKCE pass, the
    // provider issues an ID token, and its nonce is not the one expected.
    let mut spliced = serde_json::to_value(&second).unwrap();
    spliced["nonce"] = serde_json::to_value(&first).unwrap()["nonce"].clone();
    let spliced: PendingLogin = serde_json::from_value(spliced).unwrap();
    assert_eq!(
        client
            .finish(&spliced, &callback.state, &callback.code)
            .await,
        Err(OidcError::IdToken(IdTokenError::NonceMismatch))
    );
}

#[tokio::test]
async fn expired_pending_login_is_refused() {
    if !provider_available("expired_pending_login_is_refused") {
        return;
    }
    let provider = Provider::start(&ProviderOptions::default());
    let client = client(&provider).await;
    let started = SystemTime::now() - PENDING_LOGIN_MAX_AGE - Duration::from_secs(60);
    let (url, pending) = client.begin_at(started).unwrap();
    let callback = Browser::new().sign_in(&url, "alice").await;
    assert_eq!(
        client
            .finish(&pending, &callback.state, &callback.code)
            .await,
        Err(OidcError::LoginExpired)
    );
}

#[tokio::test]
async fn pending_login_of_another_client_is_refused() {
    if !provider_available("pending_login_of_another_client_is_refused") {
        return;
    }
    let provider = Provider::start(&ProviderOptions::default());
    let client = client(&provider).await;
    let mut other = config(&provider);
    other.redirect_uri = "http://127.0.0.1:9/another/callback".into();
    let other = OidcClient::discover(other, &http()).await.unwrap();
    let (pending, callback) = login(&client, "alice").await;
    assert_eq!(
        other
            .finish(&pending, &callback.state, &callback.code)
            .await,
        Err(OidcError::WrongClient)
    );
}

#[tokio::test]
async fn wrong_client_secret_is_refused() {
    if !provider_available("wrong_client_secret_is_refused") {
        return;
    }
    let provider = Provider::start(&ProviderOptions::default());
    let mut config = config(&provider);
    config.client_secret = Some(ClientSecret::new("not-the-registered-secret"));
    let client = OidcClient::discover(config, &http()).await.unwrap();
    let (pending, callback) = login(&client, "alice").await;
    let error = client
        .finish(&pending, &callback.state, &callback.code)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        OidcError::Provider {
            error: "invalid_client".into()
        }
    );
    assert!(!error.to_string().contains("not-the-registered-secret"));
    assert!(!error.to_string().contains(&callback.code));
}

#[tokio::test]
async fn discovery_refuses_another_issuer() {
    if !provider_available("discovery_refuses_another_issuer") {
        return;
    }
    let provider = Provider::start(&ProviderOptions::default());
    // The same provider reached under another name: its document names 127.0.0.1.
    let mut config = config(&provider);
    config.issuer = format!("http://localhost:{}", provider.port);
    let error = OidcClient::discover(config, &http()).await.unwrap_err();
    assert!(matches!(error, OidcError::Discovery(_)), "{error:?}");
}

#[tokio::test]
async fn rotated_signing_keys_are_fetched_again() {
    if !provider_available("rotated_signing_keys_are_fetched_again") {
        return;
    }
    let first = Provider::start(&ProviderOptions::default());
    let port = first.port;
    let client = client(&first).await;
    drop(first);
    // The same issuer restarted with new keys, as after a rotation: the client has only the
    // old key set cached, meets an unknown key id, fetches the set again and succeeds.
    let second = Provider::start(&ProviderOptions {
        port,
        ..ProviderOptions::default()
    });
    assert_eq!(second.port, port);
    let (pending, callback) = login(&client, "alice").await;
    let identity = client
        .finish(&pending, &callback.state, &callback.code)
        .await
        .expect("finish after rotation");
    assert_eq!(identity.subject, "alice");
}
