//! AI diagnostics for a tenant (docs/ai-diagnostics.md): its settings, with the provider's
//! API key sealed apart; the API routes; and [`ask`], shared by the routes and `scrim ai`.
//!
//! Off unless an owner turned it on. While off, nothing is built, shown or sent, and no
//! connection is opened. Every preview and every call writes an audit record with the
//! SHA-256 of the exact request body, the provider's host, the model and the actor; a call's
//! record is written before anything is sent (fail closed). What is sent is built from
//! stored data only (redacted at ingest), then passes every text detector again
//! ([`scrim_ai::payload`]).
//!
//! - `GET /api/v1/settings/ai` (view security settings): the settings, whether a key is
//!   set (never the key), the provider's terms, the tenant's region.
//! - `PUT /api/v1/settings/ai` (manage AI diagnostics: owners): `{"settings": {…} | null,
//!   "api_key": "…" | null (omitted: kept), "accept_terms": true}`.
//! - `POST /api/v1/ai/explain/trace/{id}`, `POST /api/v1/ai/explain/sql` (`service`,
//!   `statement`, `window`), `POST /api/v1/ai/summarize/service/{name}` (`window`) (use AI
//!   diagnostics and read telemetry): body `{"preview": true}` answers with the exact body
//!   without sending it; `{"expect_sha256": "…"}` sends only if the body is still that one.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use scrim_ai::context::{ErrorGroupFacts, ServiceErrors, StatementFacts};
use scrim_ai::{AiError, AiSettings, Feature, Prepared, Provider};
use scrim_auth::Permission;
use scrim_meta::{AiSettingsRow, Tenant, TenantId};
use scrim_store::TenantQuery;
use scrim_store::query::{LogFilter, TimeRange};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access;
use crate::accounts::Act;
use crate::api::{ApiError, ApiState, audit_unavailable, bad_request, enter, not_found};
use crate::audit::{Origin, actions};
use crate::identity_api::json_body;
use crate::{Platform, ServerError};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/settings/ai", get(get_settings).put(put_settings))
        .route("/api/v1/ai/status", get(status))
        .route("/api/v1/ai/explain/trace/{trace_id}", post(explain_trace))
        .route("/api/v1/ai/explain/sql", post(explain_sql))
        .route(
            "/api/v1/ai/summarize/service/{name}",
            post(summarize_service),
        )
}

/// What the provider's API key is sealed under ([`crate::tenant_keys::secret_key`]).
const KEY_LABEL: &[u8] = b"scrim ai api key";

fn key_aad(tenant: &TenantId) -> Vec<u8> {
    crate::tenant_keys::secret_aad(tenant, KEY_LABEL)
}

async fn sealing_key(
    platform: &Platform,
    tenant: &TenantId,
) -> Result<scrim_crypto::DataKey, ServerError> {
    crate::tenant_keys::secret_key(platform, tenant, KEY_LABEL).await
}

/// The tenant's settings as stored, if any (unreadable settings are an error, not "off").
pub async fn settings(
    platform: &Platform,
    tenant: &TenantId,
) -> Result<Option<AiSettings>, ServerError> {
    let row = platform.meta.ai_settings(tenant).await?;
    parse(&row)
}

fn parse(row: &AiSettingsRow) -> Result<Option<AiSettings>, ServerError> {
    row.config
        .as_deref()
        .map(|t| {
            serde_json::from_str(t)
                .map_err(|_| ServerError::Usage("the stored AI settings do not parse".into()))
        })
        .transpose()
}

/// A change of the settings. `api_key`: absent keeps the stored key, `null` removes it.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AiChange {
    pub settings: Option<AiSettings>,
    #[serde(default, deserialize_with = "some_option")]
    pub api_key: Option<Option<String>>,
    #[serde(default)]
    pub accept_terms: bool,
}

impl std::fmt::Debug for AiChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiChange")
            .field("settings", &self.settings)
            .field("api_key_given", &self.api_key.is_some())
            .field("accept_terms", &self.accept_terms)
            .finish()
    }
}

/// `null` as `Some(None)`, so that "remove" and "keep" differ.
fn some_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Stores a change: checked for the tenant's region, the terms accepted when data would
/// start going somewhere new, recorded (`settings.ai_change`, before and after, whether the
/// key changed, the terms agreed to) before it is written.
pub async fn store(
    platform: &Platform,
    act: &Act,
    tenant: &Tenant,
    change: AiChange,
) -> Result<Value, ServerError> {
    let meta = &platform.meta;
    let stored = meta.ai_settings(&tenant.id).await?;
    let before = parse(&stored)?;
    let mut row = stored.clone();
    let after = change.settings.map(AiSettings::normalized);
    let mut terms = None;
    if let Some(s) = &after {
        let host = s
            .check(&tenant.region)
            .map_err(|e| ServerError::Usage(e.to_string()))?;
        // Data starts going somewhere: on, or still on with another destination.
        let same_destination = before.as_ref().is_some_and(|b| {
            b.enabled && b.provider == s.provider && b.url == s.url && b.region == s.region
        });
        if s.enabled && !same_destination {
            let text = s.terms();
            if !change.accept_terms {
                return Err(ServerError::Usage(format!(
                    "turning AI diagnostics on sends redacted telemetry to {host}. {text} \
                     Set accept_terms to true to agree."
                )));
            }
            terms = Some(text);
        }
        row.config = Some(serde_json::to_string(s).map_err(|e| ServerError::Usage(e.to_string()))?);
    } else {
        row.config = None;
        row.sealed_api_key = None;
    }
    match &change.api_key {
        Some(Some(key)) if !key.is_empty() => {
            if key.len() > 4096 || key.chars().any(char::is_control) {
                return Err(ServerError::Usage(
                    "api_key: at most 4096 printable characters".into(),
                ));
            }
            let sealing = sealing_key(platform, &tenant.id).await?;
            row.sealed_api_key = Some(scrim_crypto::seal(
                &sealing,
                &key_aad(&tenant.id),
                key.as_bytes(),
            )?);
        }
        Some(_) => row.sealed_api_key = None,
        None => {}
    }
    let as_value = |s: &Option<AiSettings>| serde_json::to_value(s).unwrap_or(Value::Null);
    let mut entry = act
        .entry(platform.audit(), actions::AI_SETTINGS, "ai")
        .change("ai", as_value(&before), as_value(&after))
        .detail(
            "api_key_changed",
            row.sealed_api_key != stored.sealed_api_key,
        );
    if let Some(t) = &terms {
        entry = entry
            .detail("terms_accepted", t.as_str())
            .detail("terms_sha256", scrim_ai::payload::hex_sha256(t.as_bytes()));
    }
    entry
        .around(meta.set_ai_settings(&tenant.id, &row))
        .await
        .map_err(|_| ServerError::AuditUnavailable)??;
    Ok(json!({
        "configured": after.is_some(),
        "enabled": after.as_ref().is_some_and(|s| s.enabled),
        "api_key_set": row.sealed_api_key.is_some(),
    }))
}

/// What a question is about.
#[derive(Debug, Clone)]
pub enum Subject {
    Trace(String),
    Sql {
        service: String,
        statement: String,
        range: TimeRange,
        window: String,
    },
    ServiceErrors {
        service: String,
        range: TimeRange,
        window: String,
    },
}

impl Subject {
    /// A statement of `service` over `window` (`30m`, `1h`, `7d`, ending now).
    pub fn sql(service: String, statement: String, window: String) -> Result<Subject, ServerError> {
        if statement.is_empty() || statement.len() > 64 * 1024 {
            return Err(ServerError::Usage("statement: 1 byte to 64 KiB".into()));
        }
        Ok(Subject::Sql {
            range: crate::api::window_ending_now(&window).map_err(ServerError::Usage)?,
            service,
            statement,
            window,
        })
    }

    /// The errors of `service` over `window`.
    pub fn service_errors(service: String, window: String) -> Result<Subject, ServerError> {
        Ok(Subject::ServiceErrors {
            range: crate::api::window_ending_now(&window).map_err(ServerError::Usage)?,
            service,
            window,
        })
    }

    fn feature(&self) -> Feature {
        match self {
            Subject::Trace(_) => Feature::ExplainTrace,
            Subject::Sql { .. } => Feature::ExplainSql,
            Subject::ServiceErrors { .. } => Feature::ServiceErrors,
        }
    }

    /// The audit record's target (service names scrubbed; statements are not named).
    fn target(&self, scrub: impl Fn(&str) -> String) -> String {
        match self {
            Subject::Trace(id) => format!("traces/{id}"),
            Subject::Sql { service, .. } => format!("services/{}/queries", scrub(service)),
            Subject::ServiceErrors { service, .. } => format!("services/{}", scrub(service)),
        }
    }
}

/// Show the body, or send it (only if it is still `expect_sha256`, when given).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mode {
    #[serde(default)]
    pub preview: bool,
    #[serde(default)]
    pub expect_sha256: Option<String>,
}

/// Why a question got no answer.
#[derive(Debug)]
pub enum AskError {
    /// AI diagnostics are off (or not configured) for the tenant: nothing was built or sent.
    Off,
    NotFound(String),
    /// The body is not the one the caller confirmed (the data changed): nothing was sent.
    Changed {
        sha256: String,
    },
    Provider(AiError),
    Server(ServerError),
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AskError::Off => f.write_str(
                "AI diagnostics are off for this tenant: an owner can turn them on (PUT /api/v1/settings/ai)",
            ),
            AskError::NotFound(m) => f.write_str(m),
            AskError::Changed { sha256 } => write!(
                f,
                "the request body is no longer the one confirmed (it is now {sha256}): preview it again; nothing was sent"
            ),
            AskError::Provider(e) => write!(f, "{e}"),
            AskError::Server(e) => write!(f, "{e}"),
        }
    }
}

impl From<ServerError> for AskError {
    fn from(e: ServerError) -> Self {
        AskError::Server(e)
    }
}

impl From<scrim_store::StoreError> for AskError {
    fn from(e: scrim_store::StoreError) -> Self {
        AskError::Server(e.into())
    }
}

impl From<AskError> for ApiError {
    fn from(e: AskError) -> Self {
        let m = e.to_string();
        match e {
            AskError::Off => {
                ApiError::new(StatusCode::CONFLICT, &m).with("ai_enabled", false.into())
            }
            AskError::NotFound(_) => not_found(&m),
            AskError::Changed { sha256 } => {
                ApiError::new(StatusCode::CONFLICT, &m).with("sha256", sha256.into())
            }
            AskError::Provider(AiError::Settings(_)) => bad_request(m),
            AskError::Provider(AiError::Unreachable(ref d)) if d.contains("within") => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, &m)
            }
            AskError::Provider(_) => ApiError::new(StatusCode::BAD_GATEWAY, &m),
            AskError::Server(e) => e.into(),
        }
    }
}

/// The context for `subject`, from `q` (stored, redacted data only).
async fn context(q: &TenantQuery, subject: &Subject) -> Result<String, AskError> {
    match subject {
        Subject::Trace(id) => {
            let trace = q
                .trace(id)
                .await?
                .ok_or_else(|| AskError::NotFound("no such trace".into()))?;
            let w = scrim_ui::waterfall::layout(&trace)
                .ok_or_else(|| AskError::NotFound("the trace has no spans".into()))?;
            Ok(scrim_ai::context::trace(&w))
        }
        Subject::Sql {
            service,
            statement,
            range,
            window,
        } => {
            let d = q
                .statement_detail(service, statement, *range)
                .await?
                .ok_or_else(|| {
                    AskError::NotFound(format!(
                        "the service ran no such statement in the last {window} (give it as stored, literals replaced by ?)"
                    ))
                })?;
            Ok(scrim_ai::context::statement(&StatementFacts {
                service: service.clone(),
                statement: d.statement,
                db_system: d.db_system,
                window: window.clone(),
                count: d.count,
                errors: d.errors,
                p50_ns: d.p50_ns,
                p95_ns: d.p95_ns,
                max_ns: d.max_ns,
                plan: d.plan,
                error_messages: d.error_messages,
            }))
        }
        Subject::ServiceErrors {
            service,
            range,
            window,
        } => {
            let stats = q.services(*range).await?;
            let Some(s) = stats.into_iter().find(|s| s.service == *service) else {
                return Err(AskError::NotFound(format!(
                    "no requests from this service in the last {window}"
                )));
            };
            let groups = q.error_groups(service, *range, 20).await?;
            let logs = q
                .logs(&LogFilter {
                    range: Some(*range),
                    service: Some(service.clone()),
                    min_severity: Some(17),
                    limit: Some(500),
                    ..LogFilter::default()
                })
                .await?;
            let mut bodies: Vec<(String, u64)> = Vec::new();
            for l in &logs {
                let body = l.get("body").and_then(Value::as_str).unwrap_or_default();
                match bodies.iter_mut().find(|(b, _)| b == body) {
                    Some((_, n)) => *n += 1,
                    None => bodies.push((body.to_owned(), 1)),
                }
            }
            bodies.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            bodies.truncate(10);
            Ok(scrim_ai::context::service_errors(&ServiceErrors {
                service: service.clone(),
                window: window.clone(),
                requests: s.requests,
                errors: s.errors,
                p95_ns: s.p95_ns,
                groups: groups
                    .into_iter()
                    .map(|g| ErrorGroupFacts {
                        operation: g.operation,
                        kind: g.kind,
                        status_message: g.status_message,
                        count: g.count,
                        exception: g.exception,
                    })
                    .collect(),
                error_logs: bodies,
            }))
        }
    }
}

/// Asks the tenant's provider about `subject` (or, with `mode.preview`, shows exactly what
/// would be sent). Every outcome that reads data is recorded in the tenant's audit chain.
pub async fn ask(
    platform: &Platform,
    act: &Act,
    tenant: &Tenant,
    q: &TenantQuery,
    subject: &Subject,
    mode: &Mode,
    scrub: impl Fn(&str) -> String,
) -> Result<Value, AskError> {
    // Off means nothing: no query, no body, no connection.
    let row = platform
        .meta
        .ai_settings(&tenant.id)
        .await
        .map_err(ServerError::from)?;
    let Some(settings) = parse(&row)?.filter(|s| s.enabled) else {
        return Err(AskError::Off);
    };
    let provider = Provider::new(&settings, &tenant.region).map_err(AskError::Provider)?;
    let host = settings.host().map_err(AskError::Provider)?;
    let feature = subject.feature();
    let target = subject.target(&scrub);
    let record = |action: &'static str, p: Option<&Prepared>| {
        let mut e = act
            .entry(platform.audit(), action, &target)
            .detail("feature", feature.as_str())
            .detail("provider", settings.provider.as_str())
            .detail("host", host.as_str())
            .detail("model", settings.model.as_str());
        if let Some(p) = p {
            e = e
                .detail("payload_sha256", p.sha256.as_str())
                .detail("payload_bytes", p.body.len() as u64)
                .detail("context_omitted_bytes", p.omitted_bytes as u64)
                // "email 2, ipv4 8": counts by kind, as text (a detail keyed `secret`
                // would be masked by the audit log's own secret rule).
                .detail(
                    "second_pass_redacted",
                    p.redacted
                        .iter()
                        .map(|(k, n)| format!("{} {n}", k.as_str()))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
        }
        e
    };
    let text = match context(q, subject).await {
        Ok(t) => t,
        Err(e) => {
            let reason = scrub(&e.to_string());
            let action = if mode.preview {
                actions::AI_PREVIEW
            } else {
                actions::AI_REQUEST
            };
            record(action, None)
                .write(scrim_audit::Outcome::failed(reason))
                .await
                .map_err(|_| ServerError::AuditUnavailable)?;
            return Err(e);
        }
    };
    let prepared = scrim_ai::prepare(&settings, feature, &text);
    let summary = json!({
        "feature": feature.as_str(),
        "provider": settings.provider.as_str(),
        "host": host,
        "model": settings.model,
        "sha256": prepared.sha256,
        "bytes": prepared.body.len(),
        "context_omitted_bytes": prepared.omitted_bytes,
    });
    if mode.preview {
        record(actions::AI_PREVIEW, Some(&prepared))
            .success()
            .await
            .map_err(|_| ServerError::AuditUnavailable)?;
        let mut out = summary;
        out["payload"] = Value::String(prepared.body_text().to_owned());
        return Ok(out);
    }
    if let Some(expect) = &mode.expect_sha256
        && !expect.eq_ignore_ascii_case(&prepared.sha256)
    {
        record(actions::AI_REQUEST, Some(&prepared))
            .denied("the body changed since it was previewed")
            .await
            .map_err(|_| ServerError::AuditUnavailable)?;
        return Err(AskError::Changed {
            sha256: prepared.sha256,
        });
    }
    let api_key =
        match &row.sealed_api_key {
            Some(sealed) => {
                let key = sealing_key(platform, &tenant.id).await?;
                let bytes = scrim_crypto::open(&key, &key_aad(&tenant.id), sealed)
                    .map_err(ServerError::from)?;
                Some(String::from_utf8(bytes).map_err(|_| {
                    ServerError::Usage("the stored AI provider key is not text".into())
                })?)
            }
            None => None,
        };
    // Recorded first: no record, nothing sent. A failed call gets a second record.
    let answer = record(actions::AI_REQUEST, Some(&prepared))
        .around(provider.send(&prepared, api_key.as_deref()))
        .await
        .map_err(|_| ServerError::AuditUnavailable)?
        .map_err(AskError::Provider)?;
    let mut out = summary;
    out["answer"] = Value::String(answer.text);
    out["answered_by"] = Value::String(answer.model);
    Ok(out)
}

/// A query over a tenant's flushed segments (for `scrim ai` on the command line, which does
/// not see a running server's buffer).
pub async fn segment_query(
    platform: &Platform,
    tenant: &Tenant,
) -> Result<TenantQuery, ServerError> {
    let keys = crate::tenant_keys::load(platform, &tenant.id)
        .await?
        .keyring;
    let segments = crate::api::catalogued_segments(platform, &tenant.id).await?;
    let store = &platform.regions.of(tenant)?.store;
    let erasures = crate::deletion::active_erasures(platform, tenant).await?;
    Ok(TenantQuery::new(
        tenant.id.as_str(),
        keys,
        store,
        segments,
        scrim_store::query::BufferedBatches::default(),
    )?
    .with_erasures(erasures))
}

async fn get_settings(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewSecuritySettings),
    )
    .await?;
    let rt = state.shared.tenants.get(&c.tenant_id).await?;
    let row = state.shared.platform.meta.ai_settings(&c.tenant_id).await?;
    let s = parse(&row)?;
    Ok(Json(json!({
        "configured": s.is_some(),
        "enabled": s.as_ref().is_some_and(|s| s.enabled),
        "api_key_set": row.sealed_api_key.is_some(),
        "tenant_region": rt.tenant.region,
        "terms": s.as_ref().map(AiSettings::terms),
        "settings": s,
    })))
}

/// `GET /api/v1/ai/status` (use AI diagnostics): whether the tenant's AI diagnostics are on
/// and where a question would go, for the people who may ask.
async fn status(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::UseAiDiagnostics),
    )
    .await?;
    let s = settings(&state.shared.platform, &c.tenant_id)
        .await?
        .filter(|s| s.enabled);
    Ok(Json(match s {
        Some(s) => json!({
            "enabled": true,
            "provider": s.provider.as_str(),
            "host": s.host().unwrap_or_default(),
            "model": s.model,
        }),
        None => json!({ "enabled": false }),
    }))
}

async fn put_settings(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::PUT,
        Some(Permission::ManageAiDiagnostics),
    )
    .await?;
    let change: AiChange = json_body(&headers, &body)?;
    let rt = state.shared.tenants.get(&c.tenant_id).await?;
    let act = Act {
        actor: c.actor.clone(),
        chain: c.tenant_id.as_str().to_owned(),
        origin: Origin::of(&headers, Some(peer.ip())),
    };
    Ok(Json(
        store(&state.shared.platform, &act, &rt.tenant, change).await?,
    ))
}

/// The access checks, then the question (refused only after them, so a caller without the
/// permission learns nothing from the validation), the query, and [`ask`].
async fn question(
    state: &ApiState,
    headers: &HeaderMap,
    peer: SocketAddr,
    asked: Result<(Subject, Mode), ApiError>,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        state,
        headers,
        peer,
        Method::POST,
        Some(Permission::UseAiDiagnostics),
    )
    .await?;
    // What is sent is telemetry: the caller must be allowed to read it.
    access::check(&c, Permission::ReadTelemetry)?;
    let (subject, mode) = asked?;
    let rt = state.shared.tenants.get(&c.tenant_id).await?;
    let q = crate::api::tenant_query_with(state, &c, matches!(subject, Subject::Trace(_))).await?;
    let act = Act {
        actor: c.actor.clone(),
        chain: c.tenant_id.as_str().to_owned(),
        origin: Origin::of(headers, Some(peer.ip())),
    };
    let shared = &state.shared;
    let answer = ask(
        &shared.platform,
        &act,
        &rt.tenant,
        &q,
        &subject,
        &mode,
        |t| shared.scrub(t),
    )
    .await;
    if let Err(AskError::Server(ServerError::AuditUnavailable)) = &answer {
        return Err(audit_unavailable(crate::audit::AuditUnavailable));
    }
    Ok(Json(answer?))
}

async fn explain_trace(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(trace_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let trace_id = trace_id.to_ascii_lowercase();
    let asked = if scrim_store::convert::is_trace_id(&trace_id) {
        mode_of(&headers, &body).map(|m| (Subject::Trace(trace_id), m))
    } else {
        Err(bad_request("a trace id is 32 hexadecimal characters"))
    };
    question(&state, &headers, peer, asked).await
}

/// `POST /api/v1/ai/explain/sql`: `{"service": …, "statement": …, "window": "1h",
/// "preview"?, "expect_sha256"?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlQuestion {
    service: String,
    statement: String,
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    preview: bool,
    #[serde(default)]
    expect_sha256: Option<String>,
}

async fn explain_sql(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let asked = json_body::<SqlQuestion>(&headers, &body).and_then(|q| {
        let window = q.window.unwrap_or_else(|| "1h".into());
        let subject = Subject::sql(q.service, q.statement, window)?;
        let mode = Mode {
            preview: q.preview,
            expect_sha256: q.expect_sha256,
        };
        Ok((subject, mode))
    });
    question(&state, &headers, peer, asked).await
}

async fn summarize_service(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let asked = match params.keys().find(|k| k.as_str() != "window") {
        Some(k) => Err(bad_request(format!("unknown parameter {k:?}"))),
        None => {
            let window = params.get("window").cloned().unwrap_or_else(|| "1h".into());
            Subject::service_errors(name, window)
                .map_err(ApiError::from)
                .and_then(|s| Ok((s, mode_of(&headers, &body)?)))
        }
    };
    question(&state, &headers, peer, asked).await
}

/// The body of a question: empty (send) or a [`Mode`].
fn mode_of(headers: &HeaderMap, body: &[u8]) -> Result<Mode, ApiError> {
    if body.is_empty() {
        Ok(Mode::default())
    } else {
        json_body(headers, body)
    }
}
