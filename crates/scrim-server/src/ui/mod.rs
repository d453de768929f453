//! The web UI: server-rendered pages (templates in `scrim-ui`) with htmx for the parts that
//! update in place.
//!
//! Every page reads and writes through the REST API, called in-process with the person's
//! own session cookie ([`Api`]): the UI can show or do nothing the API would refuse them,
//! the API's audit records are written exactly as for any other client, and no access rule
//! is written twice. What a role may not do is not offered (the navigation and the forms
//! follow [`scrim_auth::rbac::Role::grants`]); the API refuses it anyway.
//!
//! Forms are protected against cross-site requests: the sign-in form by a double-submit
//! cookie, every other form by the session's CSRF token, which the UI passes to the API as
//! `X-CSRF-Token` (the API checks it). htmx sends the same token in that header. Pages carry
//! a strict Content-Security-Policy: scripts and styles from this server only, nothing
//! inline, no framing.

mod ai;
mod explore;
mod govern;
mod respond;
mod signin;

use std::net::SocketAddr;
use std::str::FromStr;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use scrim_auth::Permission;
use scrim_auth::rbac::Role;
use scrim_ui::pages::{ErrorPage, Frame, Who};
use serde_json::Value;
use tower::ServiceExt;

use crate::api::ApiState;

pub(crate) use signin::continue_home;

/// What the UI's handlers share: the JSON API they call, and the server state for the few
/// things that are not API calls (the sign-in steps).
#[derive(Clone)]
pub(crate) struct Ui {
    pub api: Router,
    pub state: ApiState,
}

/// The UI's routes; `api` is the JSON API router they call.
pub(crate) fn routes(api: Router, state: ApiState) -> Router {
    Router::new()
        .route("/assets/{name}", get(asset))
        .route("/", get(home))
        .merge(signin::routes())
        .merge(explore::routes())
        .merge(ai::routes())
        .merge(govern::routes())
        .merge(respond::routes())
        .with_state(Ui { api, state })
}

/// The pages of the navigation and the permission each needs.
fn page_permission(key: &str) -> Option<Permission> {
    Some(match key {
        "services" => Permission::ViewServices,
        "traces" | "logs" => Permission::ReadTelemetry,
        "sql" => Permission::SqlConsole,
        "privacy" | "data" | "security" => Permission::ViewSecuritySettings,
        "access" => Permission::ViewMembers,
        "audit" => Permission::ReadAudit,
        "alerts" | "insights" => Permission::ViewAlerts,
        "detections" => Permission::ViewDetections,
        _ => return None,
    })
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The sign-in page's policy: as [`CSP`], but its "Sign in with SSO" form leads (through a
/// redirect, which `form-action` also governs) to the tenant's identity provider, whose
/// address is not known in advance.
const SIGN_IN_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self' https:; frame-ancestors 'none'; base-uri 'none'";

/// Adds the headers every page carries.
fn secure_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// A rendered template as an HTML answer.
fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut r = (status, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            secure_headers(&mut r);
            r
        }
        Err(e) => {
            tracing::error!("rendering a page: {e}");
            let mut r = (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn",
            )
                .into_response();
            secure_headers(&mut r);
            r
        }
    }
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// htmx follows a redirect by itself only with its own header.
fn redirect_for(headers: &HeaderMap, to: &str) -> Response {
    if headers.contains_key("hx-request") {
        let mut r = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        redirect(to)
    }
}

async fn asset(Path(name): Path<String>) -> Response {
    match scrim_ui::assets::get(&name) {
        Some(a) => {
            let mut r = a.bytes.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            );
            // The name carries the content's digest: it never changes under this name.
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            r
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A failed API call, as the UI tells it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: StatusCode,
    pub message: String,
}

impl Failure {
    fn internal(message: impl Into<String>) -> Failure {
        Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

/// The REST API, called on behalf of the person behind one browser request.
pub(crate) struct Api<'a> {
    ui: &'a Ui,
    headers: &'a HeaderMap,
    peer: SocketAddr,
    /// The CSRF token the browser presented (form field or header), passed on as
    /// `X-CSRF-Token` for changes; the API checks it against the session.
    csrf: Option<String>,
}

/// Headers of the browser's request that the API sees too: who (the session cookie) and
/// what the audit log records (user agent, request id).
const FORWARDED: [header::HeaderName; 2] = [header::COOKIE, header::USER_AGENT];

impl<'a> Api<'a> {
    pub fn new(ui: &'a Ui, headers: &'a HeaderMap, peer: SocketAddr) -> Api<'a> {
        let csrf = headers
            .get(crate::access::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Api {
            ui,
            headers,
            peer,
            csrf,
        }
    }

    /// Uses the CSRF token of a submitted form.
    pub fn with_csrf(mut self, token: Option<&str>) -> Api<'a> {
        if let Some(t) = token {
            self.csrf = Some(t.to_owned());
        }
        self
    }

    /// The same caller with the session's own CSRF token, for calls the UI makes by
    /// itself while drawing a page (a preview), never for a change the browser asked for.
    pub fn own_call(&self, session_csrf: &str) -> Api<'a> {
        Api {
            ui: self.ui,
            headers: self.headers,
            peer: self.peer,
            csrf: Some(session_csrf.to_owned()),
        }
    }

    pub async fn get(&self, path_and_query: &str) -> Result<Value, Failure> {
        self.call(Method::GET, path_and_query, None).await
    }

    pub async fn send(&self, method: Method, path: &str, body: &Value) -> Result<Value, Failure> {
        self.call(method, path, Some(body)).await
    }

    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(path_and_query);
        for name in FORWARDED {
            if let Some(v) = self.headers.get(&name) {
                builder = builder.header(name, v);
            }
        }
        if let Some(v) = self.headers.get(crate::audit::REQUEST_ID_HEADER) {
            builder = builder.header(crate::audit::REQUEST_ID_HEADER, v);
        }
        if method != Method::GET
            && let Some(t) = &self.csrf
        {
            builder = builder.header(crate::access::CSRF_HEADER, t.as_str());
        }
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(v).map_err(|e| Failure::internal(e.to_string()))?)
            }
            None => Body::empty(),
        };
        let mut request = builder
            .body(body)
            .map_err(|e| Failure::internal(e.to_string()))?;
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let response = self
            .ui
            .api
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| Failure::internal(e.to_string()))?;
        let status = response.status();
        // Answers of the JSON API are bounded by its own limits; this only guards memory.
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
            .await
            .map_err(|e| Failure::internal(e.to_string()))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            Ok(value)
        } else {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| status.to_string());
            Err(Failure { status, message })
        }
    }
}

/// The signed-in person of one request, with their role and CSRF token.
pub(crate) struct Person {
    pub who: Who,
    pub role: Option<Role>,
}

impl Person {
    pub fn may(&self, permission: Permission) -> bool {
        self.role.is_some_and(|r| r.grants(permission))
    }

    pub fn may_open(&self, key: &str) -> bool {
        page_permission(key).is_some_and(|p| self.may(p))
    }

    /// The frame of a page of this person.
    pub fn frame(&self, title: &str, active: &'static str) -> Frame {
        Frame::new(title, active, self.who.clone(), |k| self.may_open(k))
    }
}

/// Who is signed in, or the answer that sends them to sign in.
pub(crate) async fn person(api: &Api<'_>) -> Result<Person, Response> {
    if api.headers.contains_key(header::AUTHORIZATION) {
        // Pages are for people; API keys call the API.
        return Err(redirect("/login"));
    }
    let me = match api.get("/api/v1/session").await {
        Ok(v) => v,
        Err(f) if f.status == StatusCode::UNAUTHORIZED => {
            return Err(redirect_for(api.headers, "/login"));
        }
        Err(f) => return Err(plain_error(f.status, &f.message)),
    };
    if me["kind"] != "user" {
        return Err(redirect("/login"));
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let role = me["role"].as_str().and_then(|r| Role::from_str(r).ok());
    Ok(Person {
        who: Who {
            email: text(&me["user"]["email"]),
            role: text(&me["role"]),
            tenant: text(&me["tenant"]["name"]),
            tenants: me["tenants"]
                .as_array()
                .map(|a| a.iter().map(|t| text(&t["name"])).collect())
                .unwrap_or_default(),
            csrf: text(&me["csrf_token"]),
            restricted: me["restricted"].as_str().map(str::to_owned),
        },
        role,
    })
}

/// An error page without the frame (nobody to frame it for).
fn plain_error(status: StatusCode, message: &str) -> Response {
    html(
        status,
        &scrim_ui::pages::MessagePage {
            title: "Something went wrong".into(),
            css: scrim_ui::assets::stylesheet(),
            message: message.to_owned(),
            error: true,
            link: "/".into(),
            link_text: "Back".into(),
            refresh: None,
        },
    )
}

/// The page that says an API call failed: refusals as such (403), the rest as errors.
pub(crate) fn failure_page(p: &Person, active: &'static str, f: &Failure) -> Response {
    let heading = match f.status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::MISDIRECTED_REQUEST => "Served in another region",
        s if s.is_client_error() => "Cannot do that",
        _ => "Something went wrong",
    };
    html(
        f.status,
        &ErrorPage {
            frame: p.frame(heading, active),
            heading: heading.into(),
            message: f.message.clone(),
        },
    )
}

/// The refusal of a page the role may not open, before any API call.
pub(crate) fn not_allowed(p: &Person, active: &'static str) -> Response {
    failure_page(
        p,
        active,
        &Failure {
            status: StatusCode::FORBIDDEN,
            message: format!(
                "the {} role may not open this page",
                p.role.map_or("current", |r| r.as_str())
            ),
        },
    )
}

async fn home(
    axum::extract::State(ui): axum::extract::State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match person(&api).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let first = scrim_ui::pages::PAGES
        .iter()
        .find(|(_, key, _, _)| p.may_open(key))
        .map_or("/mfa", |(_, _, href, _)| href);
    redirect(first)
}

/// Signs the person in (or answers why not) and checks the page's permission.
pub(crate) async fn enter_page(api: &Api<'_>, key: &'static str) -> Result<Person, Response> {
    let p = person(api).await?;
    if !p.may_open(key) {
        return Err(not_allowed(&p, key));
    }
    Ok(p)
}

/// A JSON string from an API answer, or "".
pub(crate) fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The `start` (Unix seconds) of one page of a list that pages backwards in time: `seconds`
/// before `end`, the bound an "Older" link carries (Unix seconds), or before now.
pub(crate) fn page_start(end: &str, seconds: i64) -> String {
    let end_s: f64 = end.parse().unwrap_or_else(|_| now_ns() as f64 / 1e9 + 1.0);
    format!("{:.0}", end_s.floor() - seconds as f64)
}

/// A URL path segment, percent-encoded.
pub(crate) fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A query string from pairs, skipping empty values.
pub(crate) fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

/// The form field `name`, or "".
pub(crate) fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}
