//! Governing the tenant: the capture policy with its live preview and what it caught,
//! members, keys and sign-in rules, the audit log, data (retention, export, deletion) and
//! the security posture.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use scrim_auth::Permission;
use scrim_auth::rbac::Role;
use scrim_ui::format;
use scrim_ui::pages::{
    AccessPage, AiSettingsView, AuditForm, AuditPage, AuditRow, CaughtRow, Control, DataPage,
    DeletionRow, KeyRow, MemberRow, PREVIEW_KINDS, PreviewFragment, PrivacyPage, RangePicker,
    SecurityPage, marked, marked_sql,
};
use serde_json::{Value, json};

use crate::audit::actions;

use super::{
    Api, Person, Ui, enter_page, failure_page, field, html, page_start, query, segment, text,
};

pub(super) fn routes() -> Router<Ui> {
    Router::new()
        .route("/privacy", get(privacy))
        .route("/privacy/policy", post(save_policy))
        .route("/privacy/preview", post(preview))
        .route("/privacy/ai", post(save_ai))
        .route("/access", get(access))
        .route("/access/members", post(add_member))
        .route("/access/members/{id}", post(change_member))
        .route("/access/keys", post(create_key))
        .route("/access/keys/{id}/revoke", post(revoke_key))
        .route("/access/security", post(save_security))
        .route("/access/sso", post(save_sso))
        .route("/audit", get(audit))
        .route("/data", get(data))
        .route("/data/retention", post(save_retention))
        .route("/data/deletions", post(request_deletion))
        .route("/data/rotate-key", post(rotate_key))
        .route("/security", get(security))
}

/// An RFC 3339 time from the API, shortened to the second and without the zone (pages
/// say UTC once).
pub(super) fn when(v: &Value) -> String {
    match v.as_str() {
        Some(s) => s
            .get(..19)
            .map_or_else(|| s.to_owned(), |t| t.replace('T', " ")),
        None => "—".to_owned(),
    }
}

// ---- privacy ----

/// How many hours of "caught" the privacy page sums.
const CAUGHT_HOURS: u32 = 24;

async fn privacy_page(
    api: &Api<'_>,
    p: &Person,
    status: StatusCode,
    draft: Option<String>,
    error: Option<String>,
    flash: Option<String>,
    typed: Option<(&str, &str)>,
) -> Response {
    let policy = match api.get("/api/v1/settings/capture-policy").await {
        Ok(v) => v,
        Err(f) => return failure_page(p, "privacy", &f),
    };
    let is_default = policy["default"].as_bool().unwrap_or(true);
    let current = policy["policy"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            "# The server's default policy applies: every value is the safe default.\n\
         # See docs/capture-policy.md for every key. For example:\n\
         # [client_ips]\n# method = \"mask\"\n"
                .to_owned()
        });
    let caught = match api
        .get(&format!("/api/v1/redactions?window={CAUGHT_HOURS}h"))
        .await
    {
        Ok(v) => v["redactions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let kind = text(&r["kind"]);
                CaughtRow {
                    service: text(&r["service"]),
                    label: format::kind_label(&kind),
                    kind,
                    count: format::count(r["count"].as_u64().unwrap_or(0)),
                }
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let sample =
        "SELECT * FROM users WHERE email = 'ann@example.com' AND card = '4111 1111 1111 1111'";
    let (kind, input) = typed.unwrap_or(("sql", sample));
    let preview = render_preview(&api.own_call(&p.who.csrf), kind, input, draft.as_deref()).await;
    let ai = ai_settings_view(api, p).await;
    html(
        status,
        &PrivacyPage {
            frame: p.frame("Privacy", "privacy").with_flash(flash),
            error,
            policy: draft.unwrap_or(current),
            version: policy["version"].as_i64().unwrap_or(0),
            is_default,
            can_edit: p.may(Permission::ManageCapturePolicy),
            preview_kinds: PREVIEW_KINDS.to_vec(),
            preview_kind: kind.into(),
            preview_input: input.into(),
            preview,
            caught_hours: CAUGHT_HOURS,
            caught,
            ai,
        },
    )
}

/// An example for a tenant that has none: a server on its own network, off.
const AI_EXAMPLE: &str = r#"{
  "enabled": false,
  "provider": "openai-compatible",
  "url": "https://llm.internal.example/v1/chat/completions",
  "model": "llama3.1:8b",
  "region": "eu",
  "allowed_hosts": ["llm.internal.example"]
}"#;

async fn ai_settings_view(api: &Api<'_>, p: &Person) -> AiSettingsView {
    let Ok(v) = api.get("/api/v1/settings/ai").await else {
        return AiSettingsView::default();
    };
    let settings = &v["settings"];
    AiSettingsView {
        enabled: v["enabled"] == true,
        configured: v["configured"] == true,
        destination: format!(
            "{} ({})",
            url_host(&text(&settings["url"])),
            text(&settings["model"])
        ),
        tenant_region: text(&v["tenant_region"]),
        api_key_set: v["api_key_set"] == true,
        settings_json: if settings.is_null() {
            AI_EXAMPLE.to_owned()
        } else {
            serde_json::to_string_pretty(settings).unwrap_or_default()
        },
        terms: text(&v["terms"]),
        can_edit: p.may(Permission::ManageAiDiagnostics),
    }
}

/// The host of a URL, for display.
fn url_host(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .unwrap_or_default()
        .to_owned()
}

async fn save_ai(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "privacy").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut body = json!({ "accept_terms": field(&form, "accept_terms") == "1" });
    if field(&form, "action") == "remove" {
        body["settings"] = Value::Null;
    } else {
        match serde_json::from_str::<Value>(field(&form, "settings")) {
            Ok(v) => body["settings"] = v,
            Err(e) => {
                let error = format!("the AI settings are not JSON: {e}");
                return privacy_page(
                    &api,
                    &p,
                    StatusCode::BAD_REQUEST,
                    None,
                    Some(error),
                    None,
                    None,
                )
                .await;
            }
        }
    }
    if field(&form, "remove_key") == "1" {
        body["api_key"] = Value::Null;
    } else if !field(&form, "api_key").is_empty() {
        body["api_key"] = json!(field(&form, "api_key"));
    }
    match api.send(Method::PUT, "/api/v1/settings/ai", &body).await {
        Ok(v) => {
            let flash = if v["enabled"] == true {
                "AI diagnostics are on. The change and the terms agreed to are in the audit log."
            } else {
                "AI diagnostics are off. The change is in the audit log."
            };
            privacy_page(
                &api,
                &p,
                StatusCode::OK,
                None,
                None,
                Some(flash.into()),
                None,
            )
            .await
        }
        Err(f) if f.status == StatusCode::FORBIDDEN => failure_page(&p, "privacy", &f),
        Err(f) => privacy_page(&api, &p, f.status, None, Some(f.message), None, None).await,
    }
}

async fn privacy(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "privacy").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    privacy_page(&api, &p, StatusCode::OK, None, None, None, None).await
}

async fn save_policy(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "privacy").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let text = field(&form, "policy").replace("\r\n", "\n");
    let body = if field(&form, "action") == "reset" {
        json!({ "policy": null })
    } else {
        json!({ "policy": text })
    };
    match api
        .send(Method::PUT, "/api/v1/settings/capture-policy", &body)
        .await
    {
        Ok(v) => {
            let flash = format!(
                "Capture policy saved (version {}); it applies to everything received from now on. The change is in the audit log.",
                v["version"].as_i64().unwrap_or(0)
            );
            privacy_page(&api, &p, StatusCode::OK, None, None, Some(flash), None).await
        }
        Err(f) if f.status == StatusCode::FORBIDDEN => failure_page(&p, "privacy", &f),
        Err(f) => privacy_page(&api, &p, f.status, Some(text), Some(f.message), None, None).await,
    }
}

/// The preview fragment of one value under the tenant's policy, or under `draft`.
async fn render_preview(api: &Api<'_>, kind: &str, input: &str, draft: Option<&str>) -> String {
    use askama::Template;
    let mut body = json!({ "kind": kind, "input": input });
    if let Some(d) = draft
        .filter(|d| !d.trim().is_empty() && !d.trim_start().starts_with("# The server's default"))
    {
        body["policy"] = json!(d);
    }
    let fragment = match api
        .send(
            Method::POST,
            "/api/v1/settings/capture-policy/preview",
            &body,
        )
        .await
    {
        Ok(v) => {
            let output = v["output"].as_str();
            let found: Vec<String> = v["found"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, n)| format!("{} {}", n, format::kind_label(k)))
                        .collect()
                })
                .unwrap_or_default();
            PreviewFragment {
                error: None,
                output: match output {
                    Some(o) if kind == "sql" => marked_sql(o),
                    Some(o) => marked(o),
                    None => "<span class=\"muted\">(not stored: the policy drops this item)</span>"
                        .to_owned(),
                },
                summary: if found.is_empty() {
                    format!("Nothing sensitive found ({} mode).", text(&v["mode"]))
                } else {
                    format!("Removed: {} ({} mode).", found.join(", "), text(&v["mode"]))
                },
            }
        }
        Err(f) => PreviewFragment {
            error: Some(f.message),
            ..Default::default()
        },
    };
    fragment.render().unwrap_or_default()
}

async fn preview(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "privacy").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let kind = match field(&form, "kind") {
        k if PREVIEW_KINDS.iter().any(|(v, _)| *v == k) => k,
        _ => "text",
    };
    let draft = Some(field(&form, "policy")).filter(|d| !d.is_empty());
    let fragment = render_preview(&api, kind, field(&form, "input"), draft).await;
    if headers.contains_key("hx-request") {
        let mut r = axum::response::IntoResponse::into_response(fragment);
        r.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        super::secure_headers(&mut r);
        return r;
    }
    // Without scripts: the whole page, with the preview of what was typed.
    privacy_page(
        &api,
        &p,
        StatusCode::OK,
        draft.map(str::to_owned),
        None,
        None,
        Some((kind, field(&form, "input"))),
    )
    .await
}

// ---- access ----

async fn access_page(
    api: &Api<'_>,
    p: &Person,
    status: StatusCode,
    error: Option<String>,
    new_key: Option<String>,
    flash: Option<String>,
) -> Response {
    let users = match api.get("/api/v1/users").await {
        Ok(v) => v,
        Err(f) => return failure_page(p, "access", &f),
    };
    let members: Vec<MemberRow> = users["users"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| MemberRow {
            id: text(&u["id"]),
            email: text(&u["email"]),
            role: text(&u["role"]),
            mfa: u["mfa"].as_bool().unwrap_or(false),
            since: when(&u["member_since"]),
        })
        .collect();
    let with_mfa = members.iter().filter(|m| m.mfa).count();
    let keys = if p.may(Permission::ViewApiKeys) {
        api.get("/api/v1/apikeys")
            .await
            .ok()
            .and_then(|v| v["api_keys"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|k| KeyRow {
                id: text(&k["id"]),
                name: k["name"].as_str().unwrap_or("—").to_owned(),
                scopes: text(&k["scopes"]),
                created: when(&k["created_at"]),
                last_used: when(&k["last_used_at"]),
                revoked: !k["revoked_at"].is_null(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let settings = api
        .get("/api/v1/settings/security")
        .await
        .unwrap_or_default();
    let yes_no = |v: &Value| {
        if v.as_bool() == Some(true) {
            "yes"
        } else {
            "no"
        }
        .to_owned()
    };
    let minutes = |v: &Value| {
        v.as_u64()
            .map_or_else(|| "server default".to_owned(), |m| format!("{m} minutes"))
    };
    let security = vec![
        (
            "Two-step sign-in required".to_owned(),
            yes_no(&settings["require_mfa"]),
        ),
        (
            "Single sign-on only".to_owned(),
            yes_no(&settings["require_sso"]),
        ),
        (
            "Single sign-on configured".to_owned(),
            yes_no(&settings["sso_configured"]),
        ),
        (
            "Idle session timeout".to_owned(),
            minutes(&settings["session_idle_minutes"]),
        ),
        (
            "Absolute session lifetime".to_owned(),
            minutes(&settings["session_absolute_minutes"]),
        ),
    ];
    let sso = api.get("/api/v1/settings/sso").await.unwrap_or_default();
    let sso_json = if sso["settings"].is_null() {
        String::new()
    } else {
        serde_json::to_string_pretty(&sso["settings"]).unwrap_or_default()
    };
    let roles: Vec<String> = Role::ALL
        .into_iter()
        .filter(|r| *r != Role::Owner || p.may(Permission::ManageOwners))
        .map(|r| r.as_str().to_owned())
        .collect();
    html(
        status,
        &AccessPage {
            frame: p.frame("Access", "access").with_flash(flash),
            error,
            new_key,
            mfa_coverage: format!(
                "{with_mfa} of {} members use two-step sign-in.",
                members.len()
            ),
            members,
            roles,
            keys,
            security,
            require_mfa: settings["require_mfa"].as_bool().unwrap_or(false),
            require_sso: settings["require_sso"].as_bool().unwrap_or(false),
            sso_json,
            sso_secret_set: sso["client_secret_set"].as_bool().unwrap_or(false),
            can_manage_members: p.may(Permission::ManageMembers),
            can_create_key: p.may(Permission::CreateApiKey),
            can_revoke: p.may(Permission::RevokeApiKey),
            can_manage_security: p.may(Permission::ManageSecuritySettings),
        },
    )
}

async fn access(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "access").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    access_page(&api, &p, StatusCode::OK, None, None, None).await
}

/// One API call the access page makes for a form, and what to say when it worked.
struct Change<'a> {
    method: Method,
    path: &'a str,
    body: Value,
    done: &'a str,
}

/// Runs one change on the access page and shows the page again with its outcome.
async fn access_change(
    ui: &Ui,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: &[(String, String)],
    change: Change<'_>,
) -> Response {
    let Change {
        method,
        path,
        body,
        done,
    } = change;
    let api = Api::new(ui, headers, peer).with_csrf(Some(field(form, "csrf_token")));
    let p = match enter_page(&api, "access").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match api.send(method, path, &body).await {
        Ok(v) => {
            let key = v["key"].as_str().map(str::to_owned);
            access_page(&api, &p, StatusCode::OK, None, key, Some(done.to_owned())).await
        }
        Err(f) => access_page(&api, &p, f.status, Some(f.message), None, None).await,
    }
}

async fn add_member(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let password = Some(field(&form, "password")).filter(|p| !p.is_empty());
    let body = json!({
        "email": field(&form, "email").trim(),
        "role": field(&form, "role"),
        "password": password,
    });
    access_change(
        &ui,
        peer,
        &headers,
        &form,
        Change {
            method: Method::POST,
            path: "/api/v1/users",
            body,
            done: "Member added.",
        },
    )
    .await
}

async fn change_member(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let path = format!("/api/v1/users/{}", segment(&id));
    if field(&form, "action") == "remove" {
        access_change(
            &ui,
            peer,
            &headers,
            &form,
            Change {
                method: Method::DELETE,
                path: &path,
                body: Value::Null,
                done: "Member removed.",
            },
        )
        .await
    } else {
        let body = json!({ "role": field(&form, "role") });
        access_change(
            &ui,
            peer,
            &headers,
            &form,
            Change {
                method: Method::PATCH,
                path: &path,
                body,
                done: "Role changed.",
            },
        )
        .await
    }
}

async fn create_key(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let body = json!({
        "name": field(&form, "name").trim(),
        "scopes": field(&form, "scopes").trim(),
    });
    access_change(
        &ui,
        peer,
        &headers,
        &form,
        Change {
            method: Method::POST,
            path: "/api/v1/apikeys",
            body,
            done: "API key created.",
        },
    )
    .await
}

async fn revoke_key(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let path = format!("/api/v1/apikeys/{}", segment(&id));
    access_change(
        &ui,
        peer,
        &headers,
        &form,
        Change {
            method: Method::DELETE,
            path: &path,
            body: Value::Null,
            done: "API key revoked.",
        },
    )
    .await
}

async fn save_security(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let body = json!({
        "require_mfa": field(&form, "require_mfa") == "1",
        "require_sso": field(&form, "require_sso") == "1",
    });
    access_change(
        &ui,
        peer,
        &headers,
        &form,
        Change {
            method: Method::PUT,
            path: "/api/v1/settings/security",
            body,
            done: "Sign-in rules saved.",
        },
    )
    .await
}

async fn save_sso(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let text = field(&form, "settings").trim();
    let settings: Value = if text.is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let api = Api::new(&ui, &headers, peer);
                let p = match enter_page(&api, "access").await {
                    Ok(p) => p,
                    Err(r) => return r,
                };
                // serde_json's message names a line and column, not the content.
                let message = format!("the single sign-on settings are not JSON: {e}");
                return access_page(&api, &p, StatusCode::BAD_REQUEST, Some(message), None, None)
                    .await;
            }
        }
    };
    access_change(
        &ui,
        peer,
        &headers,
        &form,
        Change {
            method: Method::PUT,
            path: "/api/v1/settings/sso",
            body: json!({ "settings": settings }),
            done: "Single sign-on settings saved.",
        },
    )
    .await
}

// ---- audit ----

/// Actions people filter by most, offered as suggestions.
const AUDIT_ACTIONS: [&str; 12] = [
    actions::SIGN_IN,
    actions::TELEMETRY_READ,
    actions::TELEMETRY_EXPORT,
    actions::CAPTURE_POLICY,
    actions::SECURITY_SETTINGS,
    actions::APIKEY_CREATE,
    actions::APIKEY_REVOKE,
    actions::MEMBER_ADD,
    actions::MEMBER_ROLE,
    actions::DELETION_REQUEST,
    actions::RETENTION_SETTINGS,
    actions::ACCESS_DENIED,
];

async fn audit(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "audit").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (range, seconds) =
        RangePicker::new(Some(params.get("range").map_or("24h", String::as_str)));
    let filter = AuditForm {
        action: params.get("action").map_or("", |v| v.trim()).to_owned(),
        actor: params.get("actor").map_or("", |v| v.trim()).to_owned(),
    };
    let end = params.get("end").map_or("", |v| v.trim()).to_owned();
    let start = page_start(&end, seconds);
    let page = "100";
    let base = [
        ("action", filter.action.as_str()),
        ("actor", filter.actor.as_str()),
        ("start", start.as_str()),
        ("end", end.as_str()),
    ];
    let q = query(base.iter().copied().chain([("limit", page)]));
    let mut error = None;
    let records: Vec<scrim_audit::AuditRecord> = match api.get(&format!("/api/v1/audit?{q}")).await
    {
        Ok(v) => serde_json::from_value(v["records"].clone()).unwrap_or_default(),
        Err(f) if f.status == StatusCode::BAD_REQUEST => {
            error = Some(f.message);
            Vec::new()
        }
        Err(f) => return failure_page(&p, "audit", &f),
    };
    let older = (records.len() == 100)
        .then(|| records.iter().map(|r| r.at_ms).min())
        .flatten()
        .map(|ms| {
            let end = format!("{:.3}", ms as f64 / 1000.0);
            format!(
                "/audit?{}",
                query([
                    ("action", filter.action.as_str()),
                    ("actor", filter.actor.as_str()),
                    ("range", range.key.as_str()),
                    ("end", end.as_str()),
                ])
            )
        });
    // People by e-mail where the role may see members; ids otherwise (and always for keys).
    let emails: HashMap<String, String> = if p.may(Permission::ViewMembers) {
        api.get("/api/v1/users")
            .await
            .ok()
            .and_then(|v| v["users"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|u| (text(&u["id"]), text(&u["email"])))
            .collect()
    } else {
        HashMap::new()
    };
    let rows = records
        .iter()
        .map(|r| AuditRow {
            seq: r.seq,
            time: format::timestamp_ns(r.at_ms.saturating_mul(1_000_000)),
            actor: {
                let id = crate::audit::actor_column(&r.actor);
                match emails.get(&id) {
                    Some(email) => format!("{email} ({id})"),
                    None => id,
                }
            },
            action: r.action.clone(),
            target: r.target.clone().unwrap_or_default(),
            outcome: match &r.outcome {
                scrim_audit::Outcome::Success => "success".to_owned(),
                scrim_audit::Outcome::Denied { reason } => {
                    format!(
                        "denied{}",
                        reason
                            .as_ref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    )
                }
                scrim_audit::Outcome::Failed { reason } => {
                    format!(
                        "failed{}",
                        reason
                            .as_ref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    )
                }
            },
            details: if r.details.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                serde_json::to_string_pretty(&r.details).unwrap_or_default()
            },
        })
        .collect();
    let export = |format: &str| {
        format!(
            "/api/v1/audit?{}",
            query(
                base.iter()
                    .copied()
                    .chain([("format", format), ("limit", "10000")])
            )
        )
    };
    let (export_csv, export_jsonl) = (export("csv"), export("jsonl"));
    html(
        StatusCode::OK,
        &AuditPage {
            frame: p.frame("Audit log", "audit"),
            range,
            filter,
            actions: AUDIT_ACTIONS.to_vec(),
            chain: String::new(),
            error,
            records: rows,
            older,
            export_csv,
            export_jsonl,
        },
    )
}

// ---- data ----

async fn data_page(
    api: &Api<'_>,
    p: &Person,
    status: StatusCode,
    error: Option<String>,
    flash: Option<String>,
) -> Response {
    let retention = match api.get("/api/v1/settings/retention").await {
        Ok(v) => v,
        Err(f) => return failure_page(p, "data", &f),
    };
    let keys = api
        .get("/api/v1/settings/data-key")
        .await
        .unwrap_or_default();
    let posture = api
        .get("/api/v1/security/posture")
        .await
        .unwrap_or_default();
    let deletions = if p.may(Permission::DeleteTelemetry) {
        api.get("/api/v1/deletions")
            .await
            .ok()
            .and_then(|v| v["deletions"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .take(100)
            .map(|d| DeletionRow {
                id: text(&d["id"]),
                requested: when(&d["requested_at"]),
                selection: if d["scope"] == "tenant" {
                    "the whole tenant".to_owned()
                } else {
                    describe_selection(&d["covers"])
                },
                status: match d["error"].as_str() {
                    Some(e) => format!("{} ({e})", text(&d["status"])),
                    None => text(&d["status"]),
                },
                done: when(&d["finished_at"]),
            })
            .collect()
    } else {
        Vec::new()
    };
    let days = retention["retention_days"].as_u64().unwrap_or(0);
    html(
        status,
        &DataPage {
            frame: p.frame("Data", "data").with_flash(flash),
            error,
            retention: vec![
                ("Kept for".to_owned(), format!("{days} days")),
                (
                    "Removes data older than".to_owned(),
                    text(&retention["removes_data_older_than"]),
                ),
                (
                    "Oldest stored data".to_owned(),
                    retention["oldest_stored_data"]
                        .as_str()
                        .unwrap_or("none yet")
                        .to_owned(),
                ),
            ],
            retention_days: days.to_string(),
            keys: vec![
                (
                    "Region".to_owned(),
                    posture["region"].as_str().unwrap_or("—").to_owned(),
                ),
                (
                    "Data key version".to_owned(),
                    keys["current_version"]
                        .as_u64()
                        .map_or("—".to_owned(), |v| v.to_string()),
                ),
                (
                    "Encryption".to_owned(),
                    "AES-256-GCM, per-tenant data key wrapped by the master key".to_owned(),
                ),
            ],
            deletions,
            can_manage: p.may(Permission::ManageSecuritySettings),
            can_export: p.may(Permission::Export),
            can_delete: p.may(Permission::DeleteTelemetry),
        },
    )
}

fn describe_selection(covers: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(s) = covers["service"].as_str() {
        parts.push(format!("service {s}"));
    }
    if let Some(k) = covers["attribute"]["key"].as_str() {
        parts.push(format!("{k} = {}", text(&covers["attribute"]["value"])));
    }
    match covers["start"].as_str() {
        Some(s) => parts.push(format!("from {s} to {}", text(&covers["end"]))),
        None => parts.push(format!("until {}", text(&covers["end"]))),
    }
    parts.join(", ")
}

async fn data(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "data").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    data_page(&api, &p, StatusCode::OK, None, None).await
}

async fn save_retention(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "data").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(days) = field(&form, "days").trim().parse::<u16>() else {
        return data_page(
            &api,
            &p,
            StatusCode::BAD_REQUEST,
            Some("retention is a whole number of days".into()),
            None,
        )
        .await;
    };
    match api
        .send(
            Method::PUT,
            "/api/v1/settings/retention",
            &json!({ "retention_days": days }),
        )
        .await
    {
        Ok(_) => {
            data_page(
                &api,
                &p,
                StatusCode::OK,
                None,
                Some(format!("Retention set to {days} days.")),
            )
            .await
        }
        Err(f) => data_page(&api, &p, f.status, Some(f.message), None).await,
    }
}

async fn request_deletion(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "data").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let opt = |name: &str| Some(field(&form, name).trim()).filter(|v| !v.is_empty());
    let mut body = json!({ "scope": "selective" });
    if let Some(a) = opt("attribute") {
        match a.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                body["attribute"] = json!({ "key": k.trim(), "value": v.trim() });
            }
            _ => {
                return data_page(
                    &api,
                    &p,
                    StatusCode::BAD_REQUEST,
                    Some("the attribute is name=value, e.g. enduser.id=u-123".into()),
                    None,
                )
                .await;
            }
        }
    }
    for name in ["service", "start", "end"] {
        if let Some(v) = opt(name) {
            body[name] = json!(v);
        }
    }
    match api.send(Method::POST, "/api/v1/deletions", &body).await {
        Ok(v) => {
            let flash = format!(
                "Deletion {} recorded: the rows are hidden from every query now and will be removed from storage.",
                text(&v["id"])
            );
            data_page(&api, &p, StatusCode::OK, None, Some(flash)).await
        }
        Err(f) => data_page(&api, &p, f.status, Some(f.message), None).await,
    }
}

async fn rotate_key(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "data").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match api
        .send(
            Method::POST,
            "/api/v1/settings/data-key/rotate",
            &Value::Null,
        )
        .await
    {
        Ok(v) => {
            let flash = format!(
                "Data key rotated: version {} encrypts everything written from now on; older data stays readable until compaction re-encrypts it.",
                v["version"]
                    .as_u64()
                    .or_else(|| v["current_version"].as_u64())
                    .map_or("new".to_owned(), |n| n.to_string())
            );
            data_page(&api, &p, StatusCode::OK, None, Some(flash)).await
        }
        Err(f) => data_page(&api, &p, f.status, Some(f.message), None).await,
    }
}

// ---- security posture ----

async fn security(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "security").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let v = match api.get("/api/v1/security/posture").await {
        Ok(v) => v,
        Err(f) => return failure_page(&p, "security", &f),
    };
    let control = |name: &str, good: bool, state: String, detail: String| Control {
        name: name.to_owned(),
        state,
        good,
        detail,
    };
    let tls = v["tls"]["enabled"].as_bool().unwrap_or(false);
    let key_age = v["encryption_at_rest"]["data_key_age_days"].as_u64();
    let members = v["mfa"]["members"].as_u64().unwrap_or(0);
    let enrolled = v["mfa"]["enrolled"].as_u64().unwrap_or(0);
    let mfa_required = v["mfa"]["required"].as_bool().unwrap_or(false);
    let chain_ok = v["audit_chain"]["intact"].as_bool().unwrap_or(false);
    let controls = vec![
        control(
            "TLS on every listener",
            tls,
            text(&v["tls"]["versions"]),
            if tls {
                "HTTPS and OTLP over TLS; cookies marked Secure".into()
            } else {
                "plain HTTP is allowed on loopback only; serve with --tls for anything else".into()
            },
        ),
        control(
            "Encryption at rest",
            true,
            text(&v["encryption_at_rest"]["algorithm"]),
            text(&v["encryption_at_rest"]["covers"]),
        ),
        control(
            "Tenant data key age",
            key_age.is_some_and(|d| d < 365),
            key_age.map_or("unknown".into(), |d| format!("{d} days")),
            format!(
                "version {}; rotate at least yearly (Data → Rotate the data key, or scrim key rotate-tenant)",
                v["encryption_at_rest"]["data_key_version"]
            ),
        ),
        control(
            "Two-step sign-in coverage",
            mfa_required || (members > 0 && enrolled == members),
            format!("{enrolled} of {members} members"),
            if mfa_required {
                "required for every member of this tenant".into()
            } else {
                "not required; members choose".into()
            },
        ),
        control(
            "Single sign-on enforcement",
            v["sso"]["required"].as_bool().unwrap_or(false)
                || !v["sso"]["configured"].as_bool().unwrap_or(false),
            if v["sso"]["required"].as_bool() == Some(true) {
                "enforced".into()
            } else if v["sso"]["configured"].as_bool() == Some(true) {
                "configured, passwords still allowed".into()
            } else {
                "not configured".into()
            },
            "with SSO required, people sign in only through the identity provider".into(),
        ),
        control(
            "Capture policy",
            v["capture_policy"]["mode"] == "cloud",
            format!("{} mode", text(&v["capture_policy"]["mode"])),
            format!(
                "{} policy, version {}; cloud mode enforces the redaction floor",
                if v["capture_policy"]["own"].as_bool() == Some(true) {
                    "tenant's own"
                } else {
                    "server's default"
                },
                v["capture_policy"]["version"]
            ),
        ),
        control(
            "Retention",
            true,
            format!("{} days", v["retention_days"]),
            "older data is removed hourly; deletion requests on the Data page".into(),
        ),
        control(
            "API keys",
            v["api_keys"]["unused_90_days"].as_u64() == Some(0),
            format!("{} active", v["api_keys"]["active"]),
            format!(
                "{} unused for 90 days or more; revoke what nobody uses",
                v["api_keys"]["unused_90_days"]
            ),
        ),
        control(
            "AI-assisted diagnostics",
            // On is a choice an owner made and accepted terms for; what leaves is redacted
            // and audited. Data leaving the tenant's region is worth a second look.
            v["ai_diagnostics"]["same_region"].as_bool() != Some(false),
            if v["ai_diagnostics"]["enabled"] == true {
                format!("on: {}", text(&v["ai_diagnostics"]["host"]))
            } else {
                "off".into()
            },
            text(&v["ai_diagnostics"]["note"]),
        ),
        control(
            "Audit chain",
            chain_ok,
            if chain_ok {
                "verified".into()
            } else {
                "BROKEN".into()
            },
            if chain_ok {
                format!(
                    "{} records, {} signed checkpoints checked, at {}",
                    v["audit_chain"]["records"],
                    v["audit_chain"]["checkpoints_checked"],
                    text(&v["audit_chain"]["verified_at"])
                )
            } else {
                text(&v["audit_chain"]["problem"])
            },
        ),
    ];
    html(
        StatusCode::OK,
        &SecurityPage {
            frame: p.frame("Security posture", "security"),
            checked_at: text(&v["audit_chain"]["verified_at"]),
            controls,
        },
    )
}
