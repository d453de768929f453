//! The API behind the web UI's charts and control pages (they are plain `/api/v1` routes,
//! usable by anyone with the permission): service time series and operations, what the
//! capture policy caught, a live preview of a capture policy, and the tenant's security
//! posture.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method};
use scrim_auth::Permission;
use scrim_redact::{Counts, Kind, Policy, Redactor};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{
    ApiError, ApiState, bad_request, enter, not_found, number, recorded_read, tenant_query, window,
};
use crate::audit::Origin;

/// `GET /api/v1/services/timeseries?window=1h&step=60&service=checkout`: requests, errors
/// and p95 latency of entry spans per service and time bucket (`step` seconds; by default
/// about 60 buckets over the window, never more than 1 000).
pub(crate) async fn service_series(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewServices),
    )
    .await?;
    for k in params.keys() {
        if !matches!(k.as_str(), "window" | "step" | "service") {
            return Err(bad_request(format!("unknown parameter {k:?}")));
        }
    }
    let range = window(&params)?;
    let asked = match params.get("step") {
        Some(v) => number::<i64>("step", v)?
            .max(1)
            .saturating_mul(1_000_000_000),
        None => ((range.end_ns - range.start_ns) / 60).max(1_000_000_000),
    };
    // The step the buckets really have (the store allows at most 1 000): the answer's
    // points start on its grid.
    let step_ns = range.series_step(asked);
    let service = params.get("service").filter(|s| !s.is_empty());
    let result = async {
        let q = tenant_query(&state, &p).await?;
        let points = q
            .service_series(range, step_ns, service.map(String::as_str))
            .await?;
        Ok(Json(json!({
            "window": { "start_ns": range.start_ns, "end_ns": range.end_ns },
            "step_ns": step_ns,
            "points": points,
        })))
    }
    .await;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let details = state.shared.parameters(params.iter());
    recorded_read(&state, &p, &origin, "services/timeseries", details, result).await
}

/// `GET /api/v1/service-names?window=30d`: the names of the services that sent spans in
/// the window, from the catalog (no segment is read), for filter lists.
pub(crate) async fn service_names(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewServices),
    )
    .await?;
    if let Some(k) = params.keys().find(|k| k.as_str() != "window") {
        return Err(bad_request(format!("unknown parameter {k:?}")));
    }
    let range = window(&params)?;
    let result = async {
        let q = tenant_query(&state, &p).await?;
        Ok(Json(json!({ "services": q.service_names(range)? })))
    }
    .await;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let details = state.shared.parameters(params.iter());
    recorded_read(&state, &p, &origin, "service-names", details, result).await
}

/// `GET /api/v1/services/{name}/operations?window=1h&limit=50`: the service's span names,
/// most frequent first.
pub(crate) async fn service_operations(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewServices),
    )
    .await?;
    let range = window(&params)?;
    let limit = match params.get("limit") {
        Some(v) => number::<usize>("limit", v)?.clamp(1, 1000),
        None => 50,
    };
    let result = async {
        let q = tenant_query(&state, &p).await?;
        let operations = q.service_operations(&name, range, limit).await?;
        Ok(Json(json!({ "service": name, "operations": operations })))
    }
    .await;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let details = state.shared.parameters(params.iter());
    let target = format!("services/{}/operations", state.shared.scrub(&name));
    recorded_read(&state, &p, &origin, &target, details, result).await
}

/// `GET /api/v1/redactions?window=24h`: how many values of each kind the capture policy
/// removed from each service's spans and logs (counts only, never a value).
pub(crate) async fn redactions(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ViewSecuritySettings),
    )
    .await?;
    if let Some(k) = params.keys().find(|k| k.as_str() != "window") {
        return Err(bad_request(format!("unknown parameter {k:?}")));
    }
    let range = window(&params)?;
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    let result = async {
        let q = tenant_query(&state, &p).await?;
        let counts = q.redaction_counts(range, &kinds).await?;
        Ok(Json(json!({
            "window": { "start_ns": range.start_ns, "end_ns": range.end_ns },
            "redactions": counts,
        })))
    }
    .await;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let details = state.shared.parameters(params.iter());
    recorded_read(&state, &p, &origin, "redactions", details, result).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    /// `sql`, `url`, `json`, `text` or `ip`.
    kind: String,
    input: String,
    /// A draft policy (TOML) to try instead of the tenant's current one.
    #[serde(default)]
    policy: Option<String>,
    /// For `sql`: OTel's `db.system.name`, which picks the dialect.
    #[serde(default)]
    db_system: Option<String>,
}

/// The most text one preview takes.
const PREVIEW_MAX: usize = 64 * 1024;

/// `POST /api/v1/settings/capture-policy/preview`: what the tenant's capture policy (or a
/// draft of it) would store for one value. Neither the input nor the output is stored,
/// logged or audited: it is text the caller typed, not telemetry. Pseudonyms use a key
/// made for this request, so the preview cannot be used to compute the pseudonym of a
/// guessed value and find it in stored data.
pub(crate) async fn policy_preview(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let c = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::ViewSecuritySettings),
    )
    .await?;
    let req: PreviewRequest = crate::identity_api::json_body(&headers, &body)?;
    if req.input.len() > PREVIEW_MAX {
        return Err(bad_request(format!(
            "the input is over {} KiB",
            PREVIEW_MAX / 1024
        )));
    }
    let policy: Cow<'_, Policy> = match req.policy.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(draft) => Cow::Owned(
            Policy::from_toml(draft).map_err(|e| bad_request(format!("invalid policy: {e}")))?,
        ),
        None => {
            let tenant = state
                .shared
                .platform
                .meta
                .tenant_by_id(&c.tenant_id)
                .await?
                .ok_or_else(|| not_found("tenant not found"))?;
            state.shared.tenants.policy_of(&tenant)?
        }
    };
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            &format!("no randomness: {e}"),
        )
    })?;
    let redactor = Redactor::new(&policy, Some(&key));
    let mut counts = Counts::default();
    let input = req.input.as_str();
    let output: Option<String> = match req.kind.as_str() {
        "sql" => redactor
            .sql(input, req.db_system.as_deref(), &mut counts)
            .map(|c| c.into_owned()),
        "url" => Some(redactor.url(input, &mut counts).into_owned()),
        "json" => redactor.body(input, &mut counts).map(|c| c.into_owned()),
        "text" => redactor
            .exception(input, &mut counts)
            .map(|c| c.into_owned()),
        "ip" => redactor
            .ip(input.trim(), &mut counts)
            .map(|c| c.into_owned()),
        _ => return Err(bad_request("kind is sql, url, json, text or ip")),
    };
    let found: serde_json::Map<String, Value> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.as_str().to_owned(), n.into()))
        .collect();
    Ok(Json(json!({
        "kind": req.kind,
        "stored": output.is_some(),
        "output": output,
        "found": found,
        "mode": mode_name(&policy),
    })))
}

/// How long a verified audit chain is trusted before the posture walks it again.
const CHAIN_CHECK_EVERY: Duration = Duration::from_secs(300);

/// `GET /api/v1/security/posture`: the controls in force for the caller's tenant, read
/// live (the audit chain verified at most five minutes ago).
pub(crate) async fn posture(
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
    let shared = &state.shared;
    let meta = &shared.platform.meta;
    let tenant = meta
        .tenant_by_id(&c.tenant_id)
        .await?
        .ok_or_else(|| not_found("tenant not found"))?;
    let settings = meta.security_settings(&c.tenant_id).await?;
    let ai = match crate::ai::settings(&state.shared.platform, &c.tenant_id).await? {
        Some(s) if s.enabled => json!({
            "enabled": true,
            "provider": s.provider.as_str(),
            "host": s.host().unwrap_or_default(),
            "model": s.model,
            "region": s.region,
            "same_region": s.region == tenant.region,
            "note": format!(
                "an owner turned it on; only redacted data is sent, after a second detector pass, and every request is audited with its digest; provider region {}",
                s.region
            ),
        }),
        _ => {
            json!({ "enabled": false, "note": "off: nothing is sent; an owner can turn it on (Privacy page)" })
        }
    };
    let members = meta.tenant_members(&c.tenant_id).await?;
    let with_mfa = members.iter().filter(|m| m.user.has_totp()).count();
    let keys = meta.tenant_data_keys(&c.tenant_id).await?;
    let now = SystemTime::now();
    let key_age_days = keys
        .last()
        .and_then(|k| now.duration_since(k.created_at).ok())
        .map(|d| d.as_secs() / 86_400);
    let api_keys = meta.list_api_keys(&c.tenant_id).await?;
    let active_keys = api_keys.iter().filter(|k| k.revoked_at.is_none()).count();
    let stale_keys = api_keys
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .filter(|k| {
            let last = k.last_used_at.unwrap_or(k.created_at);
            now.duration_since(last)
                .is_ok_and(|d| d > Duration::from_secs(90 * 86_400))
        })
        .count();
    let policy_mode = shared
        .tenants
        .policy_of(&tenant)
        .map_or("invalid", |p| mode_name(&p));
    let chain = chain_verdict(&state, c.tenant_id.as_str()).await?;
    Ok(Json(json!({
        "tenant": tenant.name,
        "region": tenant.region,
        "tls": {
            "enabled": shared.secure_cookies,
            "versions": if shared.secure_cookies { "TLS 1.2, TLS 1.3 (rustls)" } else { "off (plain HTTP, loopback only)" },
        },
        "encryption_at_rest": {
            "algorithm": "AES-256-GCM",
            "covers": "write-ahead log, Parquet segments (modular encryption), TOTP secrets; backups under a separate backup key",
            "data_key_version": keys.last().map(|k| k.version),
            "data_key_age_days": key_age_days,
        },
        "mfa": {
            "required": settings.require_mfa,
            "members": members.len(),
            "enrolled": with_mfa,
        },
        "sso": {
            "configured": settings.sso_config.is_some(),
            "required": settings.require_sso,
        },
        "sessions": {
            "idle_minutes": settings.session_idle_minutes,
            "absolute_minutes": settings.session_absolute_minutes,
        },
        "api_keys": { "active": active_keys, "unused_90_days": stale_keys },
        "capture_policy": {
            "own": tenant.capture_policy.is_some(),
            "version": tenant.policy_version,
            "mode": policy_mode,
        },
        "retention_days": tenant.retention_days,
        "ai_diagnostics": ai,
        "audit_chain": chain,
    })))
}

/// The tenant's audit chain verdict, from the cache when it is recent.
async fn chain_verdict(state: &ApiState, tenant: &str) -> Result<Value, ApiError> {
    let shared = &state.shared;
    if let Some((at, verdict)) = shared
        .chain_checks
        .lock()
        .ok()
        .and_then(|m| m.get(tenant).cloned())
        && at.elapsed() < CHAIN_CHECK_EVERY
    {
        return Ok(verdict);
    }
    let verdict = crate::audit::read::verify_tenant(
        &shared.platform.meta,
        tenant,
        &shared.signer.public_key(),
    )
    .await?;
    let checked_at = scrim_audit::utc_text(crate::audit::now_ms());
    let value = match verdict.result {
        Ok(report) => json!({
            "intact": true,
            "records": report.records,
            "checkpoints_checked": report.checkpoints_checked,
            "verified_at": checked_at,
        }),
        Err(why) => json!({ "intact": false, "problem": why, "verified_at": checked_at }),
    };
    if let Ok(mut m) = shared.chain_checks.lock() {
        m.insert(tenant.to_owned(), (Instant::now(), value.clone()));
    }
    Ok(value)
}

fn mode_name(policy: &Policy) -> &'static str {
    match policy.mode {
        scrim_redact::policy::Mode::Cloud => "cloud",
        scrim_redact::policy::Mode::OnPrem => "on-prem",
    }
}
