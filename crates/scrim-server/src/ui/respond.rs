//! Responding: alert rules with their history, notification channels and what was sent
//! (`/alerts`); what the capture policy removed, as sentences (`/insights`); security
//! detections and containment (`/security/detections`). Every list and change goes through
//! the alerting API, which checks the permission and writes the audit record.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use scrim_alerts::{DetectionKind, Metric};
use scrim_auth::Permission;
use scrim_ui::pages::{
    AlertEventRow, AlertsPage, ChannelRow, ContainAction, ContainmentView, DeliveryRow,
    DetectionRow, DetectionsPage, FindingRow, INSIGHT_WINDOWS, InsightsPage, NotificationRow,
    RULE_OPS, RuleDraft, RuleRow, SEVERITIES,
};
use serde_json::{Value, json};

use crate::containment::Action;

use super::govern::when;
use super::{
    Api, Failure, Person, Ui, enter_page, failure_page, field, html, query, redirect, segment, text,
};

pub(super) fn routes() -> Router<Ui> {
    Router::new()
        .route("/alerts", get(alerts))
        .route("/alerts/rules", post(create_rule))
        .route("/alerts/rules/{id}/delete", post(delete_rule))
        .route("/alerts/channels", post(create_channel))
        .route("/alerts/channels/{id}/delete", post(delete_channel))
        .route("/alerts/channels/{id}/test", post(test_channel))
        .route("/insights", get(insights))
        .route("/security/detections", get(detections))
        .route("/security/containment/{action}", post(contain))
}

/// How many history events, notifications and detections a page lists.
const RECENT: u32 = 50;

/// What a form's change came to, shown on the page drawn after it.
struct Outcome {
    status: StatusCode,
    error: Option<String>,
    flash: Option<String>,
    new_secret: Option<String>,
    draft: Option<RuleDraft>,
}

impl Outcome {
    fn shown() -> Outcome {
        Outcome {
            status: StatusCode::OK,
            error: None,
            flash: None,
            new_secret: None,
            draft: None,
        }
    }

    fn done(flash: impl Into<String>) -> Outcome {
        Outcome {
            flash: Some(flash.into()),
            ..Outcome::shown()
        }
    }

    fn refused(status: StatusCode, error: impl Into<String>) -> Outcome {
        Outcome {
            status,
            error: Some(error.into()),
            ..Outcome::shown()
        }
    }

    fn failed(f: Failure) -> Outcome {
        Outcome::refused(f.status, f.message)
    }
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

// ---- alerts ----

/// The form's label of each metric. Exhaustive, so a new metric cannot go unoffered.
fn metric_label(m: Metric) -> &'static str {
    match m {
        Metric::ErrorRate => "Error rate (fraction)",
        Metric::P95Latency => "p95 latency (ms)",
        Metric::P99Latency => "p99 latency (ms)",
        Metric::RequestRate => "Request rate (per second)",
        Metric::LogCount => "Log records (count)",
    }
}

fn metric_of(spec: &Value) -> Option<Metric> {
    serde_json::from_value(spec["metric"].clone()).ok()
}

/// A rule's number as people read it (error rates as percentages), or "—".
fn shown_value(metric: Option<Metric>, v: &Value) -> String {
    match (v.as_f64(), metric) {
        (Some(x), Some(m)) => m.format(x),
        (Some(x), None) => x.to_string(),
        (None, _) => "—".to_owned(),
    }
}

fn badge(state: &str) -> &'static str {
    match state {
        "firing" | "failed" | "critical" => "error",
        "pending" | "warning" => "warn",
        "ok" | "resolved" | "delivered" => "ok",
        _ => "",
    }
}

/// Where a channel delivers, from its public settings (the API never returns a secret, and
/// masks a URL's query values).
fn channel_target(c: &Value) -> String {
    let s = &c["settings"];
    match c["type"].as_str() {
        Some("webhook") => text(&s["url"]),
        Some("slack") => format!("Slack ({})", text(&s["host"])),
        Some("email") => list(&s["to"])
            .iter()
            .map(text)
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

async fn alerts_page(api: &Api<'_>, p: &Person, o: Outcome) -> Response {
    let rules = match api.get("/api/v1/alerts/rules").await {
        Ok(v) => v,
        Err(f) => return failure_page(p, "alerts", &f),
    };
    let rules = list(&rules["rules"]);
    let metrics: HashMap<String, Option<Metric>> = rules
        .iter()
        .map(|r| (text(&r["id"]), metric_of(&r["spec"])))
        .collect();
    let rule_rows = rules
        .iter()
        .map(|r| {
            let state = text(&r["state"]);
            RuleRow {
                id: text(&r["id"]),
                name: text(&r["name"]),
                description: text(&r["description"]),
                severity: text(&r["spec"]["severity"]),
                enabled: r["enabled"] != false,
                badge: badge(&state),
                since: if state == "ok" {
                    String::new()
                } else {
                    when(&r["state_since"])
                },
                last_value: shown_value(metric_of(&r["spec"]), &r["last_value"]),
                evaluated: when(&r["last_evaluated_at"]),
                state,
            }
        })
        .collect();
    let history = api
        .get(&format!("/api/v1/alerts/history?limit={RECENT}"))
        .await
        .unwrap_or_default();
    let history = list(&history["events"])
        .iter()
        .map(|e| {
            // A deleted rule's events stay; its numbers are then shown bare.
            let metric = metrics.get(&text(&e["rule_id"])).copied().flatten();
            let state = text(&e["state"]);
            AlertEventRow {
                at: when(&e["at"]),
                rule: text(&e["rule_name"]),
                firing: state == "firing",
                state,
                value: shown_value(metric, &e["value"]),
                threshold: shown_value(metric, &e["threshold"]),
            }
        })
        .collect();
    let channels = api
        .get("/api/v1/notifications/channels")
        .await
        .unwrap_or_default();
    let channels = list(&channels["channels"]);
    let channel_names: HashMap<String, String> = channels
        .iter()
        .map(|c| (text(&c["id"]), text(&c["name"])))
        .collect();
    let channel_rows = channels
        .iter()
        .map(|c| ChannelRow {
            id: text(&c["id"]),
            name: text(&c["name"]),
            kind: text(&c["type"]),
            target: channel_target(c),
            enabled: c["enabled"] != false,
            created: when(&c["created_at"]),
        })
        .collect();
    let notifications = api
        .get(&format!("/api/v1/notifications?limit={RECENT}"))
        .await
        .unwrap_or_default();
    let notifications = list(&notifications["notifications"])
        .iter()
        .map(|n| NotificationRow {
            at: when(&n["created_at"]),
            title: text(&n["title"]),
            kind: text(&n["kind"]),
            severity: text(&n["severity"]),
            deliveries: list(&n["deliveries"])
                .iter()
                .map(|d| {
                    let id = text(&d["channel_id"]);
                    let state = text(&d["state"]);
                    let attempts = d["attempts"].as_u64().unwrap_or(0);
                    DeliveryRow {
                        channel: channel_names
                            .get(&id)
                            .cloned()
                            .unwrap_or_else(|| format!("{id} (deleted)")),
                        badge: badge(&state),
                        state,
                        attempts: if attempts == 1 {
                            "1 attempt".to_owned()
                        } else {
                            format!("{attempts} attempts")
                        },
                        detail: match (d["last_error"].as_str(), d["last_status"].as_u64()) {
                            (Some(e), _) => e.to_owned(),
                            (None, Some(s)) => format!("answered {s}"),
                            (None, None) => String::new(),
                        },
                    }
                })
                .collect(),
        })
        .collect();
    html(
        o.status,
        &AlertsPage {
            frame: p.frame("Alerts", "alerts").with_flash(o.flash),
            error: o.error,
            new_secret: o.new_secret,
            rules: rule_rows,
            history,
            channels: channel_rows,
            notifications,
            can_manage: p.may(Permission::ManageAlerts),
            draft: o.draft.unwrap_or_default(),
            metrics: Metric::ALL
                .into_iter()
                .map(|m| (m.as_str(), metric_label(m)))
                .collect(),
            ops: RULE_OPS.iter().map(|s| (*s).to_owned()).collect(),
            severities: SEVERITIES.iter().map(|s| (*s).to_owned()).collect(),
        },
    )
}

async fn alerts(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "alerts").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    alerts_page(&api, &p, Outcome::shown()).await
}

/// The API's body for the new-rule form; the API checks the rule itself.
fn rule_body(d: &RuleDraft) -> Result<Value, String> {
    let threshold = d
        .threshold
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or("the threshold is a number (an error rate is a fraction: 0.05 is 5 %)")?;
    let seconds = |name: &str, v: &str| -> Result<Option<u64>, String> {
        match v.trim() {
            "" => Ok(None),
            t => t
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{name} is a whole number of seconds")),
        }
    };
    let mut body = json!({
        "name": d.name,
        "metric": d.metric,
        "op": d.op,
        "threshold": threshold,
        "severity": d.severity,
    });
    if let Some(w) = seconds("the window", &d.window_seconds)? {
        body["window_seconds"] = json!(w);
    }
    if let Some(f) = seconds("the for time", &d.for_seconds)? {
        body["for_seconds"] = json!(f);
    }
    if !d.service.is_empty() {
        body["service"] = json!(d.service);
    }
    Ok(body)
}

async fn create_rule(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "alerts").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let typed = |name: &str| field(&form, name).trim().to_owned();
    let draft = RuleDraft {
        name: typed("name"),
        metric: typed("metric"),
        service: typed("service"),
        op: typed("op"),
        threshold: typed("threshold"),
        window_seconds: typed("window_seconds"),
        for_seconds: typed("for_seconds"),
        severity: typed("severity"),
    };
    let body = match rule_body(&draft) {
        Ok(b) => b,
        Err(e) => {
            let o = Outcome {
                draft: Some(draft),
                ..Outcome::refused(StatusCode::BAD_REQUEST, e)
            };
            return alerts_page(&api, &p, o).await;
        }
    };
    let o = match api.send(Method::POST, "/api/v1/alerts/rules", &body).await {
        Ok(v) => Outcome::done(format!(
            "Rule “{}” created: {}. The change is in the audit log.",
            text(&v["name"]),
            text(&v["description"])
        )),
        Err(f) => Outcome {
            draft: Some(draft),
            ..Outcome::failed(f)
        },
    };
    alerts_page(&api, &p, o).await
}

/// Runs one change of the alerts page (no body, no answer needed) and shows the page again.
async fn alerts_change(
    ui: &Ui,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: &[(String, String)],
    path: &str,
    done: &str,
) -> Response {
    let api = Api::new(ui, headers, peer).with_csrf(Some(field(form, "csrf_token")));
    let p = match enter_page(&api, "alerts").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let o = match api.send(Method::DELETE, path, &Value::Null).await {
        Ok(_) => Outcome::done(done),
        Err(f) => Outcome::failed(f),
    };
    alerts_page(&api, &p, o).await
}

async fn delete_rule(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let path = format!("/api/v1/alerts/rules/{}", segment(&id));
    let done = "Rule deleted; its history stays. The change is in the audit log.";
    alerts_change(&ui, peer, &headers, &form, &path, done).await
}

async fn delete_channel(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let path = format!("/api/v1/notifications/channels/{}", segment(&id));
    let done = "Channel deleted. The change is in the audit log.";
    alerts_change(&ui, peer, &headers, &form, &path, done).await
}

async fn create_channel(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "alerts").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let kind = field(&form, "type");
    if !matches!(kind, "webhook" | "slack") {
        let o = Outcome::refused(StatusCode::BAD_REQUEST, "the type is webhook or slack");
        return alerts_page(&api, &p, o).await;
    }
    let name = field(&form, "name").trim();
    // The URL is not put back into the form on a refusal: a Slack URL is itself a secret.
    let body = json!({
        "name": name,
        "channel": { "type": kind, "url": field(&form, "url").trim() },
    });
    let o = match api
        .send(Method::POST, "/api/v1/notifications/channels", &body)
        .await
    {
        Ok(v) => Outcome {
            new_secret: v["signing_secret"].as_str().map(str::to_owned),
            ..Outcome::done(format!(
                "Channel “{}” added: it receives every notification from now on. The change is in the audit log.",
                text(&v["name"])
            ))
        },
        Err(f) => Outcome::failed(f),
    };
    alerts_page(&api, &p, o).await
}

async fn test_channel(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "alerts").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let path = format!("/api/v1/notifications/channels/{}/test", segment(&id));
    let o = match api.send(Method::POST, &path, &Value::Null).await {
        Ok(v) if v["delivered"] == true => Outcome::done(format!(
            "Test notification delivered (the receiver answered {}).",
            v["status"]
        )),
        // The page worked; the receiver did not take the notification.
        Ok(v) => Outcome::refused(
            StatusCode::OK,
            format!("Test notification not delivered: {}", text(&v["error"])),
        ),
        Err(f) => Outcome::failed(f),
    };
    alerts_page(&api, &p, o).await
}

// ---- insights ----

async fn insights(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "insights").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let window = INSIGHT_WINDOWS
        .iter()
        .map(|(k, _)| *k)
        .find(|k| params.get("window").map(String::as_str) == Some(*k))
        .unwrap_or(INSIGHT_WINDOWS[0].0);
    let v = match api
        .get(&format!(
            "/api/v1/insights/sensitive-data?{}",
            query([("window", window)])
        ))
        .await
    {
        Ok(v) => v,
        Err(f) => return failure_page(&p, "insights", &f),
    };
    let mut findings: Vec<FindingRow> = list(&v["findings"])
        .iter()
        .map(|f| FindingRow {
            sentence: text(&f["sentence"]),
            routine: f["routine"] == true,
        })
        .collect();
    // What needs fixing first; SQL literals and query parameters are removed as a matter of
    // course.
    findings.sort_by_key(|f| f.routine);
    let mut first_seen: Vec<FindingRow> = list(&v["first_seen"])
        .iter()
        .map(|f| FindingRow {
            sentence: format!(
                "service `{}` first sent {} in `{}` at {} UTC",
                text(&f["service"]),
                scrim_alerts::kind_phrase(&text(&f["kind"]), 2),
                text(&f["attribute"]),
                when(&f["first_seen"])
            ),
            routine: f["routine"] == true,
        })
        .collect();
    first_seen.sort_by_key(|f| f.routine);
    html(
        StatusCode::OK,
        &InsightsPage {
            frame: p.frame("Insights", "insights"),
            error: None,
            window: window.to_owned(),
            windows: INSIGHT_WINDOWS.to_vec(),
            findings,
            first_seen,
        },
    )
}

// ---- detections and containment ----

/// A containment button. Exhaustive, so a new action cannot go without its words; the
/// actions that lock people or keys out ask for a confirmation.
fn contain_action(a: Action) -> ContainAction {
    let (label, explain, confirm) = match a {
        Action::SuspendKeys => (
            "Suspend every API key",
            "Ingest and reads with any key of this tenant are refused until the keys are restored.",
            Some("I want to suspend every API key of this tenant"),
        ),
        Action::RestoreKeys => (
            "Restore suspended keys",
            "Lifts the suspension only; revoked keys stay revoked.",
            None,
        ),
        Action::EndSessions => (
            "End every session",
            "Everyone in this tenant is signed out, you included.",
            Some("I want to sign everyone out, myself included"),
        ),
        Action::FreezeReads => (
            "Freeze telemetry reads",
            "Nothing can be read, searched, exported or sent to the AI provider; ingest goes on.",
            Some("I want to freeze every read of this tenant's telemetry"),
        ),
        Action::UnfreezeReads => ("Unfreeze reads", "Telemetry can be read again.", None),
    };
    ContainAction {
        action: a.as_str(),
        label,
        explain,
        confirm,
    }
}

async fn detections_page(api: &Api<'_>, p: &Person, o: Outcome) -> Response {
    let v = match api.get(&format!("/api/v1/detections?limit={RECENT}")).await {
        Ok(v) => v,
        Err(f) => return failure_page(p, "detections", &f),
    };
    let detections = list(&v["detections"])
        .iter()
        .map(|d| {
            let kind = text(&d["kind"]);
            let severity = text(&d["severity"]);
            DetectionRow {
                at: when(&d["at"]),
                kind: DetectionKind::ALL
                    .into_iter()
                    .find(|k| k.name() == kind)
                    .map_or(kind, |k| k.title().to_owned()),
                badge: badge(&severity),
                severity,
                summary: text(&d["summary"]),
                target: text(&d["target"]),
                fields: d["fields"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    let mut error = o.error;
    let containment = if p.may(Permission::Contain) {
        match api.get("/api/v1/containment").await {
            Ok(c) => Some(ContainmentView {
                reads_frozen: c["reads_frozen"] == true,
                frozen: format!(
                    "since {} UTC by {}",
                    when(&c["reads_frozen_at"]),
                    c["reads_frozen_by"].as_str().unwrap_or("—")
                ),
                keys_active: c["keys_active"].to_string(),
                keys_suspended: c["keys_suspended"].to_string(),
                actions: Action::ALL.into_iter().map(contain_action).collect(),
            }),
            Err(f) => {
                if error.is_none() {
                    error = Some(f.message);
                }
                None
            }
        }
    } else {
        None
    };
    html(
        o.status,
        &DetectionsPage {
            frame: p
                .frame("Security detections", "detections")
                .with_flash(o.flash),
            error,
            detections,
            containment,
        },
    )
}

async fn detections(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "detections").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    detections_page(&api, &p, Outcome::shown()).await
}

async fn contain(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(action): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "detections").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(a) = Action::parse(&action) else {
        let f = Failure {
            status: StatusCode::NOT_FOUND,
            message: "no such containment action".into(),
        };
        return failure_page(&p, "detections", &f);
    };
    let view = contain_action(a);
    if let Some(confirm) = view.confirm
        && field(&form, "confirm") != "yes"
    {
        let o = Outcome::refused(
            StatusCode::BAD_REQUEST,
            format!("Nothing was done: tick “{confirm}” to confirm."),
        );
        return detections_page(&api, &p, o).await;
    }
    let path = format!("/api/v1/containment/{}", a.as_str());
    let v = match api.send(Method::POST, &path, &Value::Null).await {
        Ok(v) => v,
        Err(f) => return detections_page(&api, &p, Outcome::failed(f)).await,
    };
    let changed = &v["changed"];
    let flash = match a {
        // This session ended with the others.
        Action::EndSessions => return redirect("/login"),
        Action::SuspendKeys => format!("{changed} API keys suspended."),
        Action::RestoreKeys => format!("{changed} API keys restored."),
        Action::FreezeReads => "Telemetry reads are frozen; ingest goes on.".to_owned(),
        Action::UnfreezeReads => "Telemetry reads are open again.".to_owned(),
    };
    let o = Outcome::done(format!("{flash} The action is in the audit log."));
    detections_page(&api, &p, o).await
}
