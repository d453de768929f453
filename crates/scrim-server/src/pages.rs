//! Minimal server-rendered pages for people: sign in (password, code, or SSO), who am I,
//! sign out, and authenticator enrolment. The full web UI is its own piece of work; these
//! pages only have to make the identity features usable from a browser.
//!
//! Forms are protected against cross-site requests: the sign-in form by a double-submit
//! token (a random `scrim_login_csrf` cookie, `SameSite=Strict`, echoed in a hidden field),
//! every form of a signed-in person by the session's CSRF token in a hidden field. Pages
//! carry a strict Content-Security-Policy (no scripts at all) and may not be framed.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use scrim_auth::rbac::Actor;
use subtle::ConstantTimeEq;

use crate::access::{self, Caller};
use crate::accounts::{Act, LoginError, LoginRequest};
use crate::api::ApiState;
use crate::audit::{Origin, actions};

const LOGIN_CSRF_COOKIE: &str = "scrim_login_csrf";

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/mfa", get(mfa_page))
        .route("/mfa/start", post(mfa_start))
        .route("/mfa/confirm", post(mfa_confirm))
}

/// HTML-escapes text for element content and quoted attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    page_with_head(status, title, "", body)
}

/// After single sign-on: the provider's redirect was a cross-site navigation, so a browser
/// would not send the new `SameSite=Strict` session cookie on a redirect straight to `/`;
/// this same-site page moves on by itself, and the cookie goes with it.
pub(crate) fn continue_home() -> Response {
    page_with_head(
        StatusCode::OK,
        "Signed in",
        "<meta http-equiv=\"refresh\" content=\"0;url=/\">",
        "<p>Signed in. <a href=\"/\">Continue</a></p>",
    )
}

fn page_with_head(status: StatusCode, title: &str, head: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{head}\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{} · Scrim</title>\
         <style>body{{font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}\
         label{{display:block;margin:.6rem 0}}input{{display:block;width:100%;padding:.4rem;font:inherit}}\
         button{{margin-top:1rem;padding:.5rem 1rem;font:inherit}}.error{{color:#b00020}}\
         code{{font-size:1.1rem}}</style></head><body><h1>{}</h1>{body}</body></html>",
        esc(title),
        esc(title)
    );
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// The signed-in person behind the cookie, if any (pages never take API keys).
async fn person(state: &ApiState, headers: &HeaderMap, peer: SocketAddr) -> Option<Caller> {
    if headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    // GET semantics: the form's own CSRF field is checked by each handler.
    let caller = state
        .shared
        .gate
        .enter(headers, Some(peer.ip()), &Method::GET, None)
        .await
        .ok()?;
    caller.session.is_some().then_some(caller)
}

fn form_csrf_ok(caller: &Caller, form: &HashMap<String, String>) -> bool {
    let presented = form.get("csrf_token").map(String::as_str).unwrap_or("");
    caller
        .session
        .as_ref()
        .is_some_and(|s| s.token.check_csrf(presented))
}

fn forbidden_form() -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Form expired",
        "<p>This form is no longer valid. <a href=\"/\">Start again</a>.</p>",
    )
}

fn login_form(token: &str, message: Option<&str>) -> String {
    let message = message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "{message}<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
         <label>E-mail<input name=\"email\" type=\"email\" autocomplete=\"username\" required></label>\
         <label>Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <label>Code from your authenticator, or a recovery code (if enrolled)\
         <input name=\"code\" autocomplete=\"one-time-code\" inputmode=\"numeric\"></label>\
         <label>Tenant (optional)<input name=\"tenant\"></label>\
         <button type=\"submit\">Sign in</button></form>\
         <form method=\"get\" action=\"/api/v1/sso/login\"><label>Single sign-on for tenant\
         <input name=\"tenant\" required></label><button type=\"submit\">Continue with SSO</button></form>",
        token = esc(token)
    )
}

fn random_token() -> Option<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The sign-in page with a fresh double-submit token.
fn login_response(status: StatusCode, secure: bool, message: Option<&str>) -> Response {
    let Some(token) = random_token() else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign in",
            "<p>Try again.</p>",
        );
    };
    let mut response = page(status, "Sign in to Scrim", &login_form(&token, message));
    let cookie = format!(
        "{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=900{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

async fn login_page(State(state): State<ApiState>) -> Response {
    login_response(StatusCode::OK, state.shared.secure_cookies, None)
}

async fn login_submit(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let secure = state.shared.secure_cookies;
    let field = form.get("csrf_token").map(String::as_str).unwrap_or("");
    let cookie = access::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if cookie.is_empty()
        || cookie.len() != field.len()
        || !bool::from(cookie.as_bytes().ct_eq(field.as_bytes()))
    {
        return login_response(
            StatusCode::FORBIDDEN,
            secure,
            Some("the form expired; please try again"),
        );
    }
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let optional = |k: &str| Some(get(k).trim()).filter(|v| !v.is_empty());
    let result = state
        .shared
        .accounts
        .login(&LoginRequest {
            email: get("email"),
            password: get("password"),
            second_factor: optional("code"),
            tenant: optional("tenant"),
            addr: Some(peer.ip()),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
            request_id: headers
                .get(crate::audit::REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok()),
        })
        .await;
    match result {
        Ok(signed) => {
            let mut response = redirect("/");
            response.headers_mut().insert(
                header::SET_COOKIE,
                access::session_cookie(&signed.token, signed.timeouts.absolute, secure),
            );
            response
        }
        Err(e) => {
            let status = match &e {
                LoginError::Locked(_) => StatusCode::TOO_MANY_REQUESTS,
                LoginError::NoTenant(_) | LoginError::SsoRequired { .. } => StatusCode::FORBIDDEN,
                LoginError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::UNAUTHORIZED,
            };
            let message = match e {
                LoginError::Internal(e) => {
                    tracing::error!("sign-in: {e}");
                    "sign-in failed; try again".to_owned()
                }
                e => e.to_string(),
            };
            login_response(status, secure, Some(&message))
        }
    }
}

async fn home(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(c) = person(&state, &headers, peer).await else {
        return redirect("/login");
    };
    let (Actor::User { id, role }, Some(s)) = (&c.actor, &c.session) else {
        return redirect("/login");
    };
    let meta = &state.shared.platform.meta;
    let email = meta
        .user(id)
        .await
        .ok()
        .flatten()
        .map(|u| u.email)
        .unwrap_or_default();
    let tenant = meta
        .tenant_by_id(&c.tenant_id)
        .await
        .ok()
        .flatten()
        .map(|t| t.name)
        .unwrap_or_default();
    let restricted = s
        .restricted
        .as_deref()
        .map(|r| format!("<p class=\"error\">{}</p>", esc(r)))
        .unwrap_or_default();
    let body = format!(
        "<p>Signed in as <strong>{}</strong>, {} in tenant <strong>{}</strong> ({}).</p>{restricted}\
         <p><a href=\"/mfa\">Authenticator (two-step sign-in)</a> · \
         <a href=\"/api/v1/openapi.json\">REST API</a></p>\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
         <button type=\"submit\">Sign out</button></form>",
        esc(&email),
        role,
        esc(&tenant),
        s.method.as_str(),
        esc(&s.token.csrf_token())
    );
    page(StatusCode::OK, "Scrim", &body)
}

/// A person's own account operations, recorded in the tenant of their session.
fn own_act(c: &Caller, origin: &Origin) -> Act {
    Act {
        actor: c.actor.clone(),
        chain: c.tenant_id.as_str().to_owned(),
        origin: origin.clone(),
    }
}

async fn logout(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(c) = person(&state, &headers, peer).await else {
        return redirect("/login");
    };
    if !form_csrf_ok(&c, &form) {
        return forbidden_form();
    }
    let origin = Origin::of(&headers, Some(peer.ip()));
    if let (Some(s), Actor::User { id, .. }) = (&c.session, &c.actor)
        && let Err(e) = own_act(&c, &origin)
            .entry(&state.shared.audit, actions::SIGN_OUT, id.as_str())
            .around(state.shared.platform.meta.revoke_session(&s.token.hash()))
            .await
            .map_err(crate::ServerError::from)
            .and_then(|r| r.map_err(crate::ServerError::from))
    {
        tracing::error!("sign-out: {e}");
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign out",
            "<p>Try again.</p>",
        );
    }
    let mut response = redirect("/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        access::clear_session_cookie(state.shared.secure_cookies),
    );
    response
}

async fn mfa_page(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(c) = person(&state, &headers, peer).await else {
        return redirect("/login");
    };
    let (Actor::User { id, .. }, Some(s)) = (&c.actor, &c.session) else {
        return redirect("/login");
    };
    let enrolled = state
        .shared
        .platform
        .meta
        .user(id)
        .await
        .ok()
        .flatten()
        .is_some_and(|u| u.has_totp());
    let body = if enrolled {
        "<p>An authenticator is set up for this account.</p><p><a href=\"/\">Back</a></p>"
            .to_owned()
    } else {
        format!(
            "<p>Set up an authenticator app (any RFC 6238 app) for two-step sign-in.</p>\
             <form method=\"post\" action=\"/mfa/start\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
             <button type=\"submit\">Start</button></form>",
            esc(&s.token.csrf_token())
        )
    };
    page(StatusCode::OK, "Authenticator", &body)
}

async fn mfa_start(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(c) = person(&state, &headers, peer).await else {
        return redirect("/login");
    };
    if !form_csrf_ok(&c, &form) {
        return forbidden_form();
    }
    let (Actor::User { id, .. }, Some(s)) = (&c.actor, &c.session) else {
        return redirect("/login");
    };
    let Ok(Some(user)) = state.shared.platform.meta.user(id).await else {
        return redirect("/login");
    };
    let origin = Origin::of(&headers, Some(peer.ip()));
    match state
        .shared
        .accounts
        .begin_totp(&own_act(&c, &origin), &user)
        .await
    {
        Ok(e) => {
            let body = format!(
                "<p>Scan this code with your authenticator app, or enter the key by hand.</p>{}\
                 <p>Key: <code>{}</code></p>\
                 <form method=\"post\" action=\"/mfa/confirm\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
                 <label>The 6-digit code the app shows<input name=\"code\" autocomplete=\"one-time-code\" inputmode=\"numeric\" required></label>\
                 <button type=\"submit\">Confirm</button></form>",
                // Generated by the qrcode crate from the URI: markup we made, not input.
                e.qr_svg,
                esc(&e.secret),
                esc(&s.token.csrf_token())
            );
            page(StatusCode::OK, "Authenticator", &body)
        }
        Err(e) => page(
            StatusCode::BAD_REQUEST,
            "Authenticator",
            &format!(
                "<p class=\"error\">{}</p><p><a href=\"/mfa\">Back</a></p>",
                esc(&e.to_string())
            ),
        ),
    }
}

async fn mfa_confirm(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(c) = person(&state, &headers, peer).await else {
        return redirect("/login");
    };
    if !form_csrf_ok(&c, &form) {
        return forbidden_form();
    }
    let Actor::User { id, .. } = &c.actor else {
        return redirect("/login");
    };
    let Ok(Some(user)) = state.shared.platform.meta.user(id).await else {
        return redirect("/login");
    };
    let code = form.get("code").map(String::as_str).unwrap_or("");
    let origin = Origin::of(&headers, Some(peer.ip()));
    match state
        .shared
        .accounts
        .confirm_totp(&own_act(&c, &origin), &user, code)
        .await
    {
        Ok(codes) => {
            let list: String = codes
                .iter()
                .map(|c| format!("<li><code>{}</code></li>", esc(c.expose())))
                .collect();
            page(
                StatusCode::OK,
                "Authenticator set up",
                &format!(
                    "<p>Keep these recovery codes somewhere safe. Each works once, in place of a code, \
                     if you lose the device. They are not shown again.</p><ul>{list}</ul>\
                     <p>Sign in again with a code to use tenants that require it. <a href=\"/\">Continue</a></p>"
                ),
            )
        }
        Err(e) => page(
            StatusCode::BAD_REQUEST,
            "Authenticator",
            &format!(
                "<p class=\"error\">{}</p><p><a href=\"/mfa\">Start again</a></p>",
                esc(&e.to_string())
            ),
        ),
    }
}
