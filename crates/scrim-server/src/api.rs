//! The REST API (`/api/v1`, JSON). Every route but sign-in and the OpenAPI document goes
//! through [`enter`] (the access check in `access.rs`) with the one permission it needs,
//! and reads through a query bound to the caller's tenant alone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use scrim_auth::Permission;
use scrim_meta::TimeRange as CatalogRange;
use scrim_store::query::{LogFilter, SqlLimits, TimeRange, TraceFilter};
use scrim_store::{SegmentMeta, StoreError, TenantQuery};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::Caller;
use crate::serve::Shared;

#[derive(Clone)]
pub(crate) struct ApiState {
    pub shared: Arc<Shared>,
}

pub(crate) fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/traces", get(search_traces))
        .route("/api/v1/traces/{trace_id}", get(trace))
        .route("/api/v1/services", get(services))
        .route("/api/v1/services/{name}/queries", get(service_queries))
        .route("/api/v1/logs", get(logs))
        .route("/api/v1/sql", post(sql))
        .merge(crate::identity_api::routes())
        .merge(crate::sso::routes())
        .merge(crate::pages::routes())
        .with_state(state)
}

/// An error as the API answers it: a status and `{"error": "…"}`. Messages never hold
/// telemetry or key material.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// Extra fields of the JSON body (e.g. `mfa_required`).
    pub extra: Option<(&'static str, Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: &str) -> ApiError {
        ApiError {
            status,
            message: message.to_owned(),
            retry_after: None,
            extra: None,
        }
    }

    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with(mut self, key: &'static str, value: Value) -> ApiError {
        self.extra = Some((key, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some((k, v)) = self.extra {
            body[k] = v;
        }
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

pub(crate) fn bad_request(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, &m.into())
}

pub(crate) fn not_found(m: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, m)
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidInput(_) | StoreError::SqlRefused(_) | StoreError::Query(_) => {
                bad_request(e.to_string())
            }
            StoreError::Timeout => ApiError::new(StatusCode::GATEWAY_TIMEOUT, &e.to_string()),
            e => {
                tracing::error!("query failed: {e}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

impl From<crate::ServerError> for ApiError {
    fn from(e: crate::ServerError) -> Self {
        match e {
            crate::ServerError::Usage(m) => bad_request(m),
            crate::ServerError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, &m),
            e => {
                tracing::error!("{e}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

impl From<scrim_meta::MetaError> for ApiError {
    fn from(e: scrim_meta::MetaError) -> Self {
        match e {
            scrim_meta::MetaError::NotFound { .. } => not_found(&e.to_string()),
            scrim_meta::MetaError::AlreadyExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, &e.to_string())
            }
            e => crate::ServerError::from(e).into(),
        }
    }
}

/// The access check for a route: the caller, who must hold `permission` in their tenant.
pub(crate) async fn enter(
    state: &ApiState,
    headers: &HeaderMap,
    peer: SocketAddr,
    method: Method,
    permission: Option<Permission>,
) -> Result<Caller, ApiError> {
    state
        .shared
        .gate
        .enter(headers, Some(peer.ip()), &method, permission)
        .await
}

/// A query over the caller's tenant: its catalogued segments and its buffer, taken
/// together while no flush moves rows between them.
async fn tenant_query(state: &ApiState, p: &Caller) -> Result<TenantQuery, ApiError> {
    tenant_query_with(state, p, false).await
}

/// [`tenant_query`], with the span segments' trace filters when `trace_filters` (only trace
/// lookups use them).
async fn tenant_query_with(
    state: &ApiState,
    p: &Caller,
    trace_filters: bool,
) -> Result<TenantQuery, ApiError> {
    let shared = &state.shared;
    let rt = shared.tenants.get(&p.tenant_id).await?;
    let snapshot = rt.gate.read().await;
    let mut filters = if trace_filters {
        shared
            .platform
            .meta
            .trace_filters(&p.tenant_id)
            .await
            .map_err(crate::ServerError::from)?
    } else {
        Default::default()
    };
    let mut segments = Vec::new();
    for signal in scrim_store::Signal::ALL {
        let rows = shared
            .platform
            .meta
            .segments(&p.tenant_id, meta_signal(signal), CatalogRange::all(), None)
            .await
            .map_err(crate::ServerError::from)?;
        segments.extend(rows.into_iter().map(|s| {
            let filter = filters.remove(&s.path);
            store_meta(s, signal, rt.key.id(), filter)
        }));
    }
    let buffer = rt.log.buffered();
    drop(snapshot);
    Ok(TenantQuery::new(
        rt.tenant.id.as_str(),
        rt.key.clone(),
        &shared.store,
        segments,
        buffer,
    )?)
}

/// A catalog segment as the store describes it.
pub(crate) fn store_meta(
    s: scrim_meta::Segment,
    signal: scrim_store::Signal,
    key_id: &str,
    trace_filter: Option<Vec<u8>>,
) -> SegmentMeta {
    SegmentMeta {
        path: s.path,
        tenant_id: s.tenant_id.to_string(),
        signal,
        min_time_ns: s.min_time_ns,
        max_time_ns: s.max_time_ns,
        rows: s.rows,
        bytes: s.bytes,
        services: s.services,
        key_id: key_id.to_owned(),
        trace_filter,
    }
}

/// What the catalog records of a segment the store wrote.
pub(crate) fn catalog_segment(seg: &SegmentMeta) -> scrim_meta::NewSegment {
    scrim_meta::NewSegment {
        signal: meta_signal(seg.signal),
        path: seg.path.clone(),
        min_time_ns: seg.min_time_ns,
        max_time_ns: seg.max_time_ns,
        rows: seg.rows,
        bytes: seg.bytes,
        services: seg.services.clone(),
        trace_filter: seg.trace_filter.clone(),
    }
}

pub(crate) fn meta_signal(s: scrim_store::Signal) -> scrim_meta::Signal {
    match s {
        scrim_store::Signal::Spans => scrim_meta::Signal::Traces,
        scrim_store::Signal::Logs => scrim_meta::Signal::Logs,
        scrim_store::Signal::Metrics => scrim_meta::Signal::Metrics,
    }
}

async fn trace(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(trace_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ReadTelemetry),
    )
    .await?;
    let trace_id = trace_id.to_ascii_lowercase();
    if !scrim_store::convert::is_trace_id(&trace_id) {
        return Err(bad_request("a trace id is 32 hexadecimal characters"));
    }
    let q = tenant_query_with(&state, &p, true).await?;
    match q.trace(&trace_id).await? {
        Some(t) => Ok(Json(t)),
        None => Err(not_found("no such trace")),
    }
}

async fn search_traces(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let p = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ReadTelemetry),
    )
    .await?;
    let mut filter = TraceFilter::default();
    let mut start = None;
    let mut end = None;
    for (k, v) in params {
        match k.as_str() {
            "service" => filter.service = Some(v),
            "operation" => filter.operation = Some(v),
            "min_duration_ms" => filter.min_duration_ms = Some(number(&k, &v)?),
            "limit" => filter.limit = Some(number(&k, &v)?),
            "start" => start = Some(time(&k, &v)?),
            "end" => end = Some(time(&k, &v)?),
            _ => match k.strip_prefix("attr.") {
                Some(attr) if !attr.is_empty() => filter.attributes.push((attr.to_owned(), v)),
                _ => return Err(bad_request(format!("unknown parameter {k:?}"))),
            },
        }
    }
    filter.range = range(start, end);
    let q = tenant_query(&state, &p).await?;
    let traces = q.search_traces(&filter).await?;
    Ok(Json(json!({ "traces": traces })))
}

async fn services(
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
    let range = window(&params)?;
    let q = tenant_query(&state, &p).await?;
    let services = q.services(range).await?;
    Ok(Json(json!({
        "window": { "start_ns": range.start_ns, "end_ns": range.end_ns },
        "services": services,
    })))
}

async fn service_queries(
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
        Some(v) => number::<usize>("limit", v)?.clamp(1, 100),
        None => 10,
    };
    let q = tenant_query(&state, &p).await?;
    let queries = q.service_queries(&name, range, limit).await?;
    Ok(Json(json!({ "service": name, "queries": queries })))
}

async fn logs(
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
        Some(Permission::ReadTelemetry),
    )
    .await?;
    let mut filter = LogFilter::default();
    let (mut start, mut end) = (None, None);
    for (k, v) in params {
        match k.as_str() {
            "service" => filter.service = Some(v),
            "q" | "text" => filter.text = Some(v),
            "severity" | "min_severity" => filter.min_severity = Some(severity(&v)?),
            "limit" => filter.limit = Some(number(&k, &v)?),
            "start" => start = Some(time(&k, &v)?),
            "end" => end = Some(time(&k, &v)?),
            _ => return Err(bad_request(format!("unknown parameter {k:?}"))),
        }
    }
    filter.range = range(start, end);
    let q = tenant_query(&state, &p).await?;
    let records = q.logs(&filter).await?;
    Ok(Json(json!({ "logs": records })))
}

#[derive(Deserialize)]
struct SqlRequest {
    query: String,
    #[serde(default)]
    max_rows: Option<usize>,
}

/// The most rows and the longest time one `POST /api/v1/sql` may take.
const SQL_MAX_ROWS: usize = 10_000;
const SQL_TIMEOUT: Duration = Duration::from_secs(30);

async fn sql(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let p = enter(
        &state,
        &headers,
        peer,
        Method::POST,
        Some(Permission::SqlConsole),
    )
    .await?;
    let request: SqlRequest = serde_json::from_slice(&body).map_err(|e| {
        bad_request(format!(
            "expected {{\"query\": \"SELECT …\"}}: {}",
            // serde_json's message names a position, not the content.
            e
        ))
    })?;
    let limits = SqlLimits {
        max_rows: request.max_rows.unwrap_or(SQL_MAX_ROWS).min(SQL_MAX_ROWS),
        timeout: SQL_TIMEOUT,
    };
    let q = tenant_query(&state, &p).await?;
    let result = q.sql(&request.query, limits).await?;
    Ok(Json(serde_json::to_value(result).map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
    })?))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT,
    )
}

fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ApiError> {
    v.parse()
        .map_err(|_| bad_request(format!("{name} must be a non-negative integer")))
}

/// A time parameter: RFC 3339 (`2026-11-24T10:00:00Z`) or Unix seconds (`1795000000`,
/// fractions allowed), as nanoseconds since the epoch.
fn time(name: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(seconds) = v.parse::<f64>() {
        if seconds.is_finite() && seconds.abs() < 9.2e9 {
            return Ok((seconds * 1e9) as i64);
        }
    } else if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v)
        && let Some(ns) = t.timestamp_nanos_opt()
    {
        return Ok(ns);
    }
    Err(bad_request(format!(
        "{name} must be RFC 3339 (2026-11-24T10:00:00Z) or Unix seconds"
    )))
}

/// The `start` / `end` parameters as a range; open on a side that was not given.
fn range(start: Option<i64>, end: Option<i64>) -> Option<TimeRange> {
    (start.is_some() || end.is_some())
        .then(|| TimeRange::new(start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX)))
}

/// `window=15m` (s, m, h, d; default 1h), ending now.
fn window(params: &HashMap<String, String>) -> Result<TimeRange, ApiError> {
    let spec = params.get("window").map(String::as_str).unwrap_or("1h");
    let (n, unit) = spec.split_at(spec.len().saturating_sub(1));
    let n: u64 = n
        .parse()
        .map_err(|_| bad_request("window is a number and a unit: 30s, 15m, 1h, 7d"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(bad_request(
                "window is a number and a unit: 30s, 15m, 1h, 7d",
            ));
        }
    };
    if seconds == 0 || seconds > 366 * 86_400 {
        return Err(bad_request("window must be between 1s and 366d"));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64;
    Ok(TimeRange::new(now - seconds as i64 * 1_000_000_000, now))
}

/// `severity=warn` or a severity number (OpenTelemetry: 9 INFO, 13 WARN, 17 ERROR).
fn severity(v: &str) -> Result<i32, ApiError> {
    if let Ok(n) = v.parse::<i32>()
        && (1..=24).contains(&n)
    {
        return Ok(n);
    }
    match v.to_ascii_lowercase().as_str() {
        "trace" => Ok(1),
        "debug" => Ok(5),
        "info" => Ok(9),
        "warn" | "warning" => Ok(13),
        "error" => Ok(17),
        "fatal" => Ok(21),
        _ => Err(bad_request(
            "severity is trace, debug, info, warn, error, fatal or 1-24",
        )),
    }
}
