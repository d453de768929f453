//! The REST API of alerts, insights, detections, notification channels and containment.
//! Every change is audited before it takes effect (`Entry::around`); every route checks
//! its permission first.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use scrim_alerts::RuleSpec;
use scrim_auth::Permission;
use serde_json::{Map, Value, json};

use super::notify;
use crate::access::Caller;
use crate::api::{ApiError, ApiState, audit_unavailable, bad_request, enter, not_found, number};
use crate::audit::{Origin, actions};
use crate::identity_api::json_body;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/alerts/rules", get(list_rules).post(create_rule))
        .route(
            "/api/v1/alerts/rules/{id}",
            get(get_rule).put(update_rule).delete(delete_rule),
        )
        .route("/api/v1/alerts/history", get(history))
        .route("/api/v1/insights/sensitive-data", get(sensitive_data))
        .route("/api/v1/detections", get(list_detections))
        .route(
            "/api/v1/notifications/channels",
            get(list_channels).post(create_channel),
        )
        .route(
            "/api/v1/notifications/channels/{id}",
            axum::routing::delete(delete_channel),
        )
        .route(
            "/api/v1/notifications/channels/{id}/test",
            post(test_channel),
        )
        .route("/api/v1/notifications", get(list_notifications))
        .route("/api/v1/containment", get(containment_status))
        .route("/api/v1/containment/{action}", post(contain))
}

fn origin(headers: &HeaderMap, peer: SocketAddr) -> Origin {
    Origin::of(headers, Some(peer.ip()))
}

fn entry(state: &ApiState, c: &Caller, o: &Origin, action: &'static str) -> crate::audit::Entry {
    state.shared.audit.entry(
        c.tenant_id.as_str(),
        crate::audit::actor_of(&c.actor),
        action,
        o,
    )
}

/// The body of a rule: `name`, optional `enabled` (default true), and the rule's fields.
fn rule_body(headers: &HeaderMap, body: &[u8]) -> Result<(String, bool, RuleSpec), ApiError> {
    let mut v: Map<String, Value> = json_body(headers, body)?;
    let name = match v.remove("name") {
        Some(Value::String(n)) => super::ops::checked_name(&n)?.to_owned(),
        _ => return Err(bad_request("name is required: 1 to 200 characters")),
    };
    let enabled = match v.remove("enabled") {
        None => true,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(bad_request("enabled is true or false")),
    };
    let spec = RuleSpec::from_json(Value::Object(v)).map_err(|e| bad_request(e.0))?;
    Ok((name, enabled, spec))
}

/// `GET /api/v1/alerts/rules` (view alerts): every rule with its state.
async fn list_rules(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewAlerts),
    )
    .await?;
    let rows = state.shared.platform.meta.alert_rules(&c.tenant_id).await?;
    Ok(Json(
        json!({ "rules": rows.iter().map(super::views::rule).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/v1/alerts/rules/{id}` (view alerts).
async fn get_rule(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewAlerts),
    )
    .await?;
    let row = state
        .shared
        .platform
        .meta
        .alert_rule(&c.tenant_id, &id)
        .await?
        .ok_or_else(|| not_found("no such alert rule"))?;
    Ok(Json(super::views::rule(&row)))
}

/// `POST /api/v1/alerts/rules` (manage alerts): `{"name", "metric", "service", "op",
/// "threshold", "window_seconds", "for_seconds", …}`; 201 with the rule.
async fn create_rule(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ManageAlerts),
    )
    .await?;
    let (name, enabled, spec) = rule_body(&headers, &body)?;
    let act = crate::identity_api::act(&c, &origin(&headers, peer));
    let row = super::ops::create_rule(
        &state.shared.platform,
        &act,
        &c.tenant_id,
        &name,
        enabled,
        &spec,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(super::views::rule(&row))))
}

/// `PUT /api/v1/alerts/rules/{id}` (manage alerts): the whole rule again. A changed rule
/// starts over from `ok`.
async fn update_rule(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::PUT,
        Some(Permission::ManageAlerts),
    )
    .await?;
    let (name, enabled, spec) = rule_body(&headers, &body)?;
    let meta = &state.shared.platform.meta;
    let before = meta
        .alert_rule(&c.tenant_id, &id)
        .await?
        .ok_or_else(|| not_found("no such alert rule"))?;
    let spec_json = serde_json::to_string(&spec).map_err(|e| bad_request(e.to_string()))?;
    let o = origin(&headers, peer);
    let before_spec: Value = serde_json::from_str(&before.spec).unwrap_or(Value::Null);
    let row = entry(&state, &c, &o, actions::ALERT_RULE_UPDATE)
        .target(id.clone())
        .change("name", before.name.clone(), name.clone())
        .change("enabled", before.enabled, enabled)
        .change(
            "rule",
            before_spec,
            serde_json::to_value(&spec).unwrap_or_default(),
        )
        .around(meta.update_alert_rule(
            &c.tenant_id,
            &id,
            &name,
            &spec_json,
            enabled,
            crate::audit::now_ms(),
        ))
        .await
        .map_err(audit_unavailable)??;
    Ok(Json(super::views::rule(&row)))
}

/// `DELETE /api/v1/alerts/rules/{id}` (manage alerts); its history stays.
async fn delete_rule(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::DELETE,
        Some(Permission::ManageAlerts),
    )
    .await?;
    let act = crate::identity_api::act(&c, &origin(&headers, peer));
    if !super::ops::delete_rule(&state.shared.platform, &act, &c.tenant_id, &id).await? {
        return Err(not_found("no such alert rule"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/alerts/history?rule=&limit=` (view alerts): firing and resolved events,
/// newest first.
async fn history(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewAlerts),
    )
    .await?;
    let limit = match params.get("limit") {
        Some(v) => number::<u32>("limit", v)?.clamp(1, 1000),
        None => 100,
    };
    let events = state
        .shared
        .platform
        .meta
        .alert_events(&c.tenant_id, params.get("rule").map(String::as_str), limit)
        .await?;
    let events: Vec<Value> = events.iter().map(super::views::event).collect();
    Ok(Json(json!({ "events": events })))
}

/// `GET /api/v1/insights/sensitive-data?window=1h` (view alerts): what the capture policy
/// removed, by service, attribute and kind, each with its sentence; and what was seen for
/// the first time in the window.
async fn sensitive_data(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewAlerts),
    )
    .await?;
    let window = params.get("window").map(String::as_str).unwrap_or("1h");
    Ok(Json(
        super::views::insights(&state.shared.platform, &c.tenant_id, window).await?,
    ))
}

/// `GET /api/v1/detections?limit=` (view security detections): the tenant's detection
/// records, newest first.
async fn list_detections(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewDetections),
    )
    .await?;
    let limit = match params.get("limit") {
        Some(v) => number::<u32>("limit", v)?.clamp(1, 1000),
        None => 100,
    };
    let detections =
        super::views::detections(&state.shared.platform.meta, &c.tenant_id, limit).await?;
    Ok(Json(json!({ "detections": detections })))
}

/// `GET /api/v1/notifications/channels` (view alerts): channels without their secrets.
async fn list_channels(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewAlerts),
    )
    .await?;
    let rows = state.shared.platform.meta.channels(&c.tenant_id).await?;
    Ok(Json(
        json!({ "channels": rows.iter().map(super::views::channel).collect::<Vec<_>>() }),
    ))
}

/// `POST /api/v1/notifications/channels` (manage alerts): `{"name", "channel": {"type":
/// "webhook" | "slack" | "email", …}}`. A webhook without `secret` gets a generated one,
/// returned once in `signing_secret`.
async fn create_channel(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ManageAlerts),
    )
    .await?;
    let mut v: Map<String, Value> = json_body(&headers, &body)?;
    let name = match v.remove("name") {
        Some(Value::String(n)) => super::ops::checked_name(&n)?.to_owned(),
        _ => return Err(bad_request("name is required: 1 to 200 characters")),
    };
    let spec = match v.remove("channel") {
        Some(Value::Object(m)) => m,
        _ => {
            return Err(bad_request(
                "channel is required: {\"type\": \"webhook\" | \"slack\" | \"email\", …}",
            ));
        }
    };
    if let Some(k) = v.keys().next() {
        return Err(bad_request(format!("unknown field {k:?}")));
    }
    let act = crate::identity_api::act(&c, &origin(&headers, peer));
    let (row, channel, generated) =
        super::ops::create_channel(&state.shared.platform, &act, &c.tenant_id, &name, spec).await?;
    let mut out = super::views::channel(&row);
    out["settings"] = channel.public();
    if let Some(s) = generated {
        out["signing_secret"] = Value::String(s);
    }
    Ok((StatusCode::CREATED, Json(out)))
}

/// `DELETE /api/v1/notifications/channels/{id}` (manage alerts); pending deliveries to it
/// are marked failed.
async fn delete_channel(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::DELETE,
        Some(Permission::ManageAlerts),
    )
    .await?;
    let act = crate::identity_api::act(&c, &origin(&headers, peer));
    if !super::ops::delete_channel(&state.shared.platform, &act, &c.tenant_id, &id).await? {
        return Err(not_found("no such channel"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/notifications/channels/{id}/test` (manage alerts): sends a test
/// notification to this channel now and answers with the delivery's outcome.
async fn test_channel(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ManageAlerts),
    )
    .await?;
    let shared = &state.shared;
    let meta = &shared.platform.meta;
    let row = meta
        .channel(&c.tenant_id, &id)
        .await?
        .ok_or_else(|| not_found("no such channel"))?;
    let tenant = meta
        .tenant_by_id(&c.tenant_id)
        .await?
        .ok_or_else(|| not_found("no such tenant"))?;
    let o = origin(&headers, peer);
    entry(&state, &c, &o, actions::CHANNEL_TEST)
        .target(id.clone())
        .success()
        .await
        .map_err(audit_unavailable)?;
    let channel = notify::open_channel(&shared.platform, &row).await?;
    let out = scrim_notify::Outgoing::new(scrim_notify::Notification {
        id: format!("ntf_test_{}", crate::audit::now_ms()),
        tenant: tenant.name,
        kind: "test".into(),
        severity: scrim_notify::Severity::Info,
        title: "Scrim test notification".into(),
        summary: format!(
            "This channel ({}) receives Scrim's notifications.",
            row.name
        ),
        fields: Vec::new(),
        link: None,
        time_unix: crate::audit::now_ms() / 1000,
    });
    let sent = shared
        .alerting
        .notifier
        .deliver(&channel, &out, crate::audit::now_ms() / 1000)
        .await;
    Ok(Json(match sent {
        Ok(d) => json!({ "delivered": true, "status": d.status, "detail": d.detail }),
        Err(e) => json!({ "delivered": false, "status": e.status(), "error": e.to_string() }),
    }))
}

/// `GET /api/v1/notifications?limit=` (view alerts): notifications, newest first, each with
/// its deliveries (state, attempts, last status or error).
async fn list_notifications(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewAlerts),
    )
    .await?;
    let limit = match params.get("limit") {
        Some(v) => number::<u32>("limit", v)?.clamp(1, 1000),
        None => 100,
    };
    let list = state
        .shared
        .platform
        .meta
        .notifications(&c.tenant_id, limit)
        .await?;
    let out: Vec<Value> = list
        .iter()
        .map(|(n, d)| super::views::notification(n, d))
        .collect();
    Ok(Json(json!({ "notifications": out })))
}

/// `GET /api/v1/containment` (contain incidents): what containment is in force.
async fn containment_status(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::Contain),
    )
    .await?;
    Ok(Json(
        crate::containment::status(&state.shared.platform, &c.tenant_id).await?,
    ))
}

/// `POST /api/v1/containment/{action}` (contain incidents): `suspend-keys`,
/// `restore-keys`, `end-sessions`, `freeze-reads`, `unfreeze-reads`.
async fn contain(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(action): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::Contain),
    )
    .await?;
    let action = crate::containment::Action::parse(&action).ok_or_else(|| {
        not_found("containment actions: suspend-keys, restore-keys, end-sessions, freeze-reads, unfreeze-reads")
    })?;
    let act = crate::identity_api::act(&c, &origin(&headers, peer));
    let done =
        crate::containment::apply(&state.shared.platform, &act, &c.tenant_id, action).await?;
    Ok(Json(done))
}
