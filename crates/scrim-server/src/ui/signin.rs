//! Signing in and out, two-step sign-in (enrolment and the code step), sessions and the
//! tenant switch.
//!
//! Sign-in is two pages: the password, then (for accounts with an authenticator) the code.
//! The password step hands the code step a sealed ticket ([`crate::accounts::FirstStep`]),
//! never the password. Both forms are protected by a double-submit cookie
//! (`scrim_login_csrf`, `SameSite=Strict`), which the ticket is also bound to.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use scrim_ui::pages::{Enrolment, LoginCodePage, LoginPage, MessagePage, MfaPage, SessionsPage};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{Api, Ui, field, html, person, redirect};
use crate::access;
use crate::accounts::{FirstStep, LoginError, LoginRequest, SignedIn};

const LOGIN_CSRF_COOKIE: &str = "scrim_login_csrf";

pub(super) fn routes() -> Router<Ui> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/login/code", post(code_submit))
        .route("/logout", post(logout))
        .route("/mfa", get(mfa_page))
        .route("/mfa/start", post(mfa_start))
        .route("/mfa/confirm", post(mfa_confirm))
        .route("/sessions", get(sessions_page))
        .route("/sessions/revoke-all", post(revoke_all))
        .route("/tenant", post(switch_tenant))
}

fn random_token() -> Option<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn login_cookie(token: &str, secure: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=900{}",
        if secure { "; Secure" } else { "" }
    ))
    .ok()
}

/// The sign-in page with a fresh double-submit token.
fn login_response(
    status: StatusCode,
    secure: bool,
    email: &str,
    tenant: &str,
    message: Option<String>,
) -> Response {
    let Some(token) = random_token() else {
        return super::plain_error(StatusCode::SERVICE_UNAVAILABLE, "try again");
    };
    let mut response = html(
        status,
        &LoginPage {
            title: "Sign in to Scrim".into(),
            css: scrim_ui::assets::stylesheet(),
            csrf: token.clone(),
            email: email.to_owned(),
            tenant: tenant.to_owned(),
            message,
        },
    );
    if let Some(v) = login_cookie(&token, secure) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(super::SIGN_IN_CSP),
    );
    response
}

/// After single sign-on: the provider's redirect was a cross-site navigation, so a browser
/// would not send the new `SameSite=Strict` session cookie on a redirect straight to `/`;
/// this same-site page moves on by itself (a meta refresh, which the policy allows; the
/// link is there for browsers that do not follow it).
pub(crate) fn continue_home() -> Response {
    html(
        StatusCode::OK,
        &MessagePage {
            title: "Signed in".into(),
            css: scrim_ui::assets::stylesheet(),
            message: "Signed in with single sign-on.".into(),
            error: false,
            link: "/".into(),
            link_text: "Continue to Scrim".into(),
            refresh: Some("/".into()),
        },
    )
}

async fn login_page(State(ui): State<Ui>) -> Response {
    login_response(StatusCode::OK, ui.state.shared.secure_cookies, "", "", None)
}

/// The double-submit check of the sign-in forms: the cookie equals the form's field.
fn login_csrf_ok(headers: &HeaderMap, form: &[(String, String)]) -> Option<String> {
    let presented = field(form, "csrf_token");
    let cookie = access::cookie(headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    (!cookie.is_empty()
        && cookie.len() == presented.len()
        && bool::from(cookie.as_bytes().ct_eq(presented.as_bytes())))
    .then(|| cookie.to_owned())
}

fn signed_in(ui: &Ui, signed: &SignedIn) -> Response {
    let mut response = redirect("/");
    response.headers_mut().insert(
        header::SET_COOKIE,
        access::session_cookie(
            &signed.token,
            signed.timeouts.absolute,
            ui.state.shared.secure_cookies,
        ),
    );
    response
}

fn login_failure(e: LoginError) -> (StatusCode, String) {
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
    (status, message)
}

async fn login_submit(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let secure = ui.state.shared.secure_cookies;
    let (email, tenant) = (field(&form, "email"), field(&form, "tenant").trim());
    let Some(binding) = login_csrf_ok(&headers, &form) else {
        return login_response(
            StatusCode::FORBIDDEN,
            secure,
            email,
            tenant,
            Some("the form expired; please try again".into()),
        );
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let request_id = headers
        .get(crate::audit::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok());
    let request = LoginRequest {
        email,
        password: field(&form, "password"),
        second_factor: None,
        tenant: Some(tenant).filter(|t| !t.is_empty()),
        addr: Some(peer.ip()),
        user_agent,
        request_id,
    };
    match ui
        .state
        .shared
        .accounts
        .login_first_step(&request, &binding)
        .await
    {
        Ok(FirstStep::SignedIn(signed)) => signed_in(&ui, &signed),
        Ok(FirstStep::CodeNeeded { ticket }) => html(
            StatusCode::OK,
            &LoginCodePage {
                title: "Two-step sign-in".into(),
                css: scrim_ui::assets::stylesheet(),
                csrf: binding,
                ticket,
                message: None,
            },
        ),
        Err(e) => {
            let (status, message) = login_failure(e);
            login_response(status, secure, email, tenant, Some(message))
        }
    }
}

async fn code_submit(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let secure = ui.state.shared.secure_cookies;
    let Some(binding) = login_csrf_ok(&headers, &form) else {
        return login_response(
            StatusCode::FORBIDDEN,
            secure,
            "",
            "",
            Some("the form expired; please sign in again".into()),
        );
    };
    let ticket = field(&form, "ticket");
    let result = ui
        .state
        .shared
        .accounts
        .login_second_step(
            ticket,
            &binding,
            field(&form, "code").trim(),
            Some(peer.ip()),
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
            headers
                .get(crate::audit::REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok()),
        )
        .await;
    match result {
        Ok(signed) => signed_in(&ui, &signed),
        // A wrong code may be corrected on the same ticket while it lasts.
        Err(LoginError::InvalidCredentials | LoginError::SecondFactorRequired) => html(
            StatusCode::UNAUTHORIZED,
            &LoginCodePage {
                title: "Two-step sign-in".into(),
                css: scrim_ui::assets::stylesheet(),
                csrf: binding,
                ticket: ticket.to_owned(),
                message: Some(
                    "that code is not right, or this sign-in expired (start again after 5 minutes)"
                        .into(),
                ),
            },
        ),
        Err(e) => {
            let (status, message) = login_failure(e);
            login_response(status, secure, "", "", Some(message))
        }
    }
}

async fn logout(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    match api
        .send(Method::DELETE, "/api/v1/session", &serde_json::Value::Null)
        .await
    {
        Ok(_) => {}
        Err(f) if f.status == StatusCode::UNAUTHORIZED => {}
        Err(f) => return super::plain_error(f.status, &f.message),
    }
    let mut response = redirect("/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        access::clear_session_cookie(ui.state.shared.secure_cookies),
    );
    response
}

async fn mfa_page(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match person(&api).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let enrolled = api
        .get("/api/v1/session")
        .await
        .ok()
        .and_then(|me| me["user"]["mfa"].as_bool())
        .unwrap_or(false);
    html(
        StatusCode::OK,
        &MfaPage {
            frame: p.frame("Two-step sign-in", ""),
            error: None,
            enrolled,
            enrolment: None,
            codes: Vec::new(),
        },
    )
}

async fn mfa_start(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match person(&api).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (enrolment, error) = match api
        .send(Method::POST, "/api/v1/me/mfa/totp", &json!({}))
        .await
    {
        Ok(v) => (
            Some(Enrolment {
                qr_svg: v["qr_svg"].as_str().unwrap_or_default().to_owned(),
                secret: v["secret"].as_str().unwrap_or_default().to_owned(),
            }),
            None,
        ),
        Err(f) => (None, Some(f.message)),
    };
    html(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &MfaPage {
            frame: p.frame("Two-step sign-in", ""),
            error,
            enrolled: false,
            enrolment,
            codes: Vec::new(),
        },
    )
}

async fn mfa_confirm(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match person(&api).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let code = field(&form, "code").trim();
    match api
        .send(
            Method::POST,
            "/api/v1/me/mfa/totp/confirm",
            &json!({ "code": code }),
        )
        .await
    {
        Ok(v) => html(
            StatusCode::OK,
            &MfaPage {
                frame: p.frame("Two-step sign-in", ""),
                error: None,
                enrolled: true,
                enrolment: None,
                codes: v["recovery_codes"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
        ),
        Err(f) => html(
            f.status,
            &MfaPage {
                frame: p.frame("Two-step sign-in", ""),
                error: Some(format!("{}; start again", f.message)),
                enrolled: false,
                enrolment: None,
                codes: Vec::new(),
            },
        ),
    }
}

async fn sessions_page(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match person(&api).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let me = api.get("/api/v1/session").await.unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("—").to_owned();
    let facts = vec![
        ("Account".to_owned(), text(&me["user"]["email"])),
        ("Signed in with".to_owned(), text(&me["method"])),
        ("Tenant".to_owned(), text(&me["tenant"]["name"])),
        ("Role".to_owned(), text(&me["role"])),
        (
            "Two-step sign-in".to_owned(),
            if me["user"]["mfa"].as_bool() == Some(true) {
                "on".to_owned()
            } else {
                "off".to_owned()
            },
        ),
    ];
    html(
        StatusCode::OK,
        &SessionsPage {
            frame: p.frame("Sessions", ""),
            facts,
        },
    )
}

async fn revoke_all(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match person(&api).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(f) = api
        .send(
            Method::POST,
            "/api/v1/me/sign-out-everywhere",
            &serde_json::Value::Null,
        )
        .await
    {
        return super::failure_page(&p, "", &f);
    }
    let mut response = redirect("/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        access::clear_session_cookie(ui.state.shared.secure_cookies),
    );
    response
}

async fn switch_tenant(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match person(&api).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match api
        .send(
            Method::POST,
            "/api/v1/session/tenant",
            &json!({ "tenant": field(&form, "tenant") }),
        )
        .await
    {
        Ok(_) => redirect("/"),
        Err(f) => super::failure_page(&p, "", &f),
    }
}
