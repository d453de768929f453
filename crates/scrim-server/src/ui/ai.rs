//! The AI buttons of the trace and service pages: `POST /ai/preview` shows exactly what
//! would be sent (the API's preview), with a form that sends exactly that (`POST /ai/send`,
//! which passes its SHA-256 on as `expect_sha256`, so the API refuses to send anything
//! else). Both answer with an htmx fragment, or a whole page without scripts.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::post;
use scrim_ui::pages::{AiFragment, AiPage};
use serde_json::{Value, json};

use super::{Api, Ui, enter_page, field, html, text};

pub(super) fn routes() -> Router<Ui> {
    Router::new()
        .route("/ai/preview", post(preview))
        .route("/ai/send", post(send))
}

/// The fields that name a question, as the form sent them (only these are passed on).
fn question_fields(form: &[(String, String)]) -> Vec<(String, String)> {
    ["feature", "trace_id", "service", "statement", "window"]
        .into_iter()
        .filter(|k| !field(form, k).is_empty())
        .map(|k| (k.to_owned(), field(form, k).to_owned()))
        .collect()
}

/// The API call for the question in `form`, with `extra` in its body.
fn api_call(form: &[(String, String)], extra: Value) -> Result<(String, Value), String> {
    let window = match field(form, "window") {
        "" => "1h",
        w => w,
    };
    let mut body = extra;
    let path = match field(form, "feature") {
        "explain-trace" => format!(
            "/api/v1/ai/explain/trace/{}",
            super::segment(field(form, "trace_id"))
        ),
        "explain-sql" => {
            body["service"] = json!(field(form, "service"));
            body["statement"] = json!(field(form, "statement"));
            body["window"] = json!(window);
            "/api/v1/ai/explain/sql".to_owned()
        }
        "summarize-errors" => format!(
            "/api/v1/ai/summarize/service/{}?{}",
            super::segment(field(form, "service")),
            super::query([("window", window)])
        ),
        _ => return Err("unknown question".into()),
    };
    Ok((path, body))
}

async fn preview(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    ask(ui, peer, headers, form, false).await
}

async fn send(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    ask(ui, peer, headers, form, true).await
}

async fn ask(
    ui: Ui,
    peer: SocketAddr,
    headers: HeaderMap,
    form: Vec<(String, String)>,
    send: bool,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "traces").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let extra = if send {
        json!({ "expect_sha256": field(&form, "expect_sha256") })
    } else {
        json!({ "preview": true })
    };
    let mut fragment = AiFragment {
        csrf: p.who.csrf.clone(),
        error: None,
        fields: question_fields(&form),
        host: String::new(),
        model: String::new(),
        sha256: String::new(),
        bytes: String::new(),
        payload: None,
        answer: None,
    };
    match api_call(&form, extra) {
        Err(e) => fragment.error = Some(e),
        Ok((path, body)) => match api.send(Method::POST, &path, &body).await {
            Err(f) => fragment.error = Some(f.message),
            Ok(v) => {
                fragment.host = text(&v["host"]);
                fragment.model = text(&v["model"]);
                fragment.sha256 = text(&v["sha256"]);
                fragment.bytes = text(&v["bytes"]);
                fragment.payload = v["payload"].as_str().map(str::to_owned);
                fragment.answer = v["answer"].as_str().map(str::to_owned);
            }
        },
    }
    if headers.contains_key("hx-request") {
        return html(StatusCode::OK, &fragment);
    }
    let rendered = askama::Template::render(&fragment).unwrap_or_default();
    html(
        StatusCode::OK,
        &AiPage {
            frame: p.frame("AI diagnostics", "traces"),
            fragment: rendered,
        },
    )
}
