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
use scrim_alerts::detect::DetectionKind;
use scrim_auth::Permission;
use scrim_meta::{AuditQuery, NewAlertRule};
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

/// Who created something, for its row: the user or key id.
fn creator(c: &Caller) -> Option<String> {
    match crate::audit::actor_of(&c.actor) {
        scrim_audit::Actor::User { id } | scrim_audit::Actor::ApiKey { id } => Some(id),
        _ => None,
    }
}

fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn rule_json(row: &scrim_meta::AlertRuleRow) -> Value {
    let spec: Value = serde_json::from_str(&row.spec).unwrap_or(Value::Null);
    let description = RuleSpec::from_json(spec.clone())
        .map(|s| s.describe())
        .unwrap_or_default();
    json!({
        "id": row.id,
        "name": row.name,
        "enabled": row.enabled,
        "spec": spec,
        "description": description,
        "state": row.state,
        "state_since": row.state_since_ms.map(ms_to_rfc3339),
        "last_value": row.last_value,
        "last_evaluated_at": row.last_evaluated_at_ms.map(ms_to_rfc3339),
        "created_at": ms_to_rfc3339(row.created_at_ms),
        "created_by": row.created_by,
    })
}

/// The body of a rule: `name`, optional `enabled` (default true), and the rule's fields.
fn rule_body(headers: &HeaderMap, body: &[u8]) -> Result<(String, bool, RuleSpec), ApiError> {
    let mut v: Map<String, Value> = json_body(headers, body)?;
    let name = match v.remove("name") {
        Some(Value::String(n)) if !n.trim().is_empty() && n.len() <= 200 => n.trim().to_owned(),
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
        json!({ "rules": rows.iter().map(rule_json).collect::<Vec<_>>() }),
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
    Ok(Json(rule_json(&row)))
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
    let spec_json = serde_json::to_string(&spec).map_err(|e| bad_request(e.to_string()))?;
    let o = origin(&headers, peer);
    let new = NewAlertRule {
        name: name.clone(),
        spec: spec_json,
        enabled,
        created_by: creator(&c),
    };
    let meta = &state.shared.platform.meta;
    let row = entry(&state, &c, &o, actions::ALERT_RULE_CREATE)
        .target(name)
        .detail("rule", serde_json::to_value(&spec).unwrap_or_default())
        .detail("enabled", enabled)
        .around(meta.create_alert_rule(&c.tenant_id, &new, crate::audit::now_ms()))
        .await
        .map_err(audit_unavailable)??;
    Ok((StatusCode::CREATED, Json(rule_json(&row))))
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
    Ok(Json(rule_json(&row)))
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
    let meta = &state.shared.platform.meta;
    let before = meta
        .alert_rule(&c.tenant_id, &id)
        .await?
        .ok_or_else(|| not_found("no such alert rule"))?;
    let o = origin(&headers, peer);
    entry(&state, &c, &o, actions::ALERT_RULE_DELETE)
        .target(id.clone())
        .detail("name", before.name)
        .around(meta.delete_alert_rule(&c.tenant_id, &id))
        .await
        .map_err(audit_unavailable)??;
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
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({
                "rule_id": e.rule_id, "rule_name": e.rule_name, "state": e.state,
                "value": e.value, "threshold": e.threshold, "at": ms_to_rfc3339(e.at_ms),
            })
        })
        .collect();
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
    let spec = params.get("window").map(String::as_str).unwrap_or("1h");
    let range = crate::api::window_ending_now(spec).map_err(bad_request)?;
    let (since, until) = (range.start_ns / 1_000_000, range.end_ns / 1_000_000);
    let period = format!("in the last {spec}");
    let shared = &state.shared;
    let findings = super::findings_between(shared, &c.tenant_id, since, until).await?;
    let first = shared
        .platform
        .meta
        .first_seen_since(&c.tenant_id, since)
        .await?;
    Ok(Json(json!({
        "window": spec,
        "findings": findings.iter().map(|f| json!({
            "service": f.service, "attribute": f.attribute, "kind": f.kind, "count": f.count,
            "routine": scrim_alerts::insight::is_routine(&f.kind),
            "sentence": f.sentence(&period),
        })).collect::<Vec<_>>(),
        "first_seen": first.iter().map(|f| json!({
            "service": f.service, "attribute": f.attribute, "kind": f.kind, "count": f.count,
            "first_seen": ms_to_rfc3339(f.first_seen_ms),
            "routine": scrim_alerts::insight::is_routine(&f.kind),
        })).collect::<Vec<_>>(),
    })))
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
    let detections = detections(&state.shared.platform.meta, &c.tenant_id, limit).await?;
    Ok(Json(json!({ "detections": detections })))
}

/// The tenant's detection records, newest first, as JSON.
pub(crate) async fn detections(
    meta: &scrim_meta::Meta,
    tenant: &scrim_meta::TenantId,
    limit: u32,
) -> Result<Vec<Value>, ApiError> {
    let mut rows = Vec::new();
    for kind in DetectionKind::ALL {
        let q = AuditQuery {
            action: Some(kind.action().to_owned()),
            limit: Some(limit),
            ..Default::default()
        };
        rows.extend(meta.audit_rows(tenant.as_str(), &q).await?);
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.seq));
    rows.truncate(limit as usize);
    Ok(rows
        .iter()
        .filter_map(|row| crate::audit::record_of(row).ok())
        .map(|r| {
            json!({
                "seq": r.seq,
                "at": ms_to_rfc3339(r.at_ms),
                "kind": r.action.trim_start_matches("detection."),
                "target": r.target,
                "summary": r.details.get("summary"),
                "severity": r.details.get("severity"),
                "fields": r.details.get("fields"),
                "source_seq": r.details.get("source_seq"),
            })
        })
        .collect())
}

fn channel_json(row: &scrim_meta::ChannelRow) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "type": row.kind,
        "enabled": row.enabled,
        "settings": serde_json::from_str::<Value>(&row.settings).unwrap_or(Value::Null),
        "created_at": ms_to_rfc3339(row.created_at_ms),
        "created_by": row.created_by,
    })
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
        json!({ "channels": rows.iter().map(channel_json).collect::<Vec<_>>() }),
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
        Some(Value::String(n)) if !n.trim().is_empty() && n.len() <= 200 => n.trim().to_owned(),
        _ => return Err(bad_request("name is required: 1 to 200 characters")),
    };
    let mut spec = match v.remove("channel") {
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
    let mut generated = None;
    if spec.get("type").and_then(Value::as_str) == Some("webhook") && !spec.contains_key("secret") {
        let secret = scrim_notify::SigningSecret::generate()
            .map_err(|e| bad_request(format!("no randomness: {e}")))?;
        generated = Some(secret.expose().to_owned());
        spec.insert("secret".into(), Value::String(secret.expose().to_owned()));
    }
    // Serde's message names the field; the value is never quoted back.
    let channel: scrim_notify::Channel = serde_json::from_value(Value::Object(spec))
        .map_err(|e| bad_request(format!("invalid channel: {}", first_line(&e.to_string()))))?;
    channel.check().map_err(|e| bad_request(e.to_string()))?;
    let (public, secret) = channel.split();
    let platform = &state.shared.platform;
    let sealed = notify::seal_secret(platform, &c.tenant_id, &secret).await?;
    let o = origin(&headers, peer);
    let kind = channel.kind();
    let settings = public.to_string();
    let created_by = creator(&c);
    let row = entry(&state, &c, &o, actions::CHANNEL_CREATE)
        .target(name.clone())
        .detail("type", kind)
        .detail("channel", channel.public())
        .around(platform.meta.create_channel(
            &c.tenant_id,
            &name,
            kind,
            &settings,
            &sealed,
            created_by.as_deref(),
            crate::audit::now_ms(),
        ))
        .await
        .map_err(audit_unavailable)??;
    let mut out = channel_json(&row);
    out["settings"] = channel.public();
    if let Some(s) = generated {
        out["signing_secret"] = Value::String(s);
    }
    Ok((StatusCode::CREATED, Json(out)))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
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
    let meta = &state.shared.platform.meta;
    let row = meta
        .channel(&c.tenant_id, &id)
        .await?
        .ok_or_else(|| not_found("no such channel"))?;
    let o = origin(&headers, peer);
    entry(&state, &c, &o, actions::CHANNEL_DELETE)
        .target(id.clone())
        .detail("name", row.name)
        .around(meta.delete_channel(&c.tenant_id, &id))
        .await
        .map_err(audit_unavailable)??;
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
        .into_iter()
        .map(|(n, deliveries)| {
            let stored: Value = serde_json::from_str(&n.payload).unwrap_or(Value::Null);
            json!({
                "id": n.id, "kind": n.kind, "severity": n.severity, "title": n.title,
                "summary": stored.get("summary"), "fields": stored.get("fields"),
                "created_at": ms_to_rfc3339(n.created_at_ms),
                "deliveries": deliveries.iter().map(|d| json!({
                    "channel_id": d.channel_id, "state": d.state, "attempts": d.attempts,
                    "last_status": d.last_status, "last_error": d.last_error,
                    "next_attempt_at": d.next_attempt_at_ms.map(ms_to_rfc3339),
                    "delivered_at": d.delivered_at_ms.map(ms_to_rfc3339),
                })).collect::<Vec<_>>(),
            })
        })
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
