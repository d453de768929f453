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
use crate::audit::read::{AuditFilter, ExportFormat};
use crate::audit::{AuditUnavailable, Origin, REQUEST_ID_HEADER, actions};
use crate::export::{EXPORT_KEY_HEADER, ExportRequest};
use crate::serve::Shared;
use futures::StreamExt;
use scrim_audit::Outcome;
use scrim_store::export::ExportKey;

#[derive(Clone)]
pub(crate) struct ApiState {
    pub shared: Arc<Shared>,
}

pub(crate) fn router(state: ApiState) -> Router {
    let api = api_routes().with_state(state.clone());
    api.clone()
        .merge(crate::ui::routes(api, state))
        .layer(axum::middleware::from_fn(request_id))
}

/// The JSON API alone (the web UI calls it in-process).
fn api_routes() -> Router<ApiState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/traces", get(search_traces))
        .route("/api/v1/traces/{trace_id}", get(trace))
        .route("/api/v1/services", get(services))
        .route("/api/v1/services/{name}/queries", get(service_queries))
        .route(
            "/api/v1/services/{name}/operations",
            get(crate::insights::service_operations),
        )
        .route(
            "/api/v1/services/timeseries",
            get(crate::insights::service_series),
        )
        .route("/api/v1/redactions", get(crate::insights::redactions))
        .route("/api/v1/service-names", get(crate::insights::service_names))
        .route(
            "/api/v1/settings/capture-policy/preview",
            post(crate::insights::policy_preview),
        )
        .route("/api/v1/security/posture", get(crate::insights::posture))
        .route("/api/v1/logs", get(logs))
        .route("/api/v1/sql", post(sql))
        .route("/api/v1/export", get(export))
        .route("/api/v1/audit", get(audit_log))
        .merge(crate::ai::routes())
        .merge(crate::alerts::api::routes())
        .merge(crate::identity_api::routes())
        .merge(crate::deletion::routes())
        .merge(crate::sso::routes())
}

/// Gives every request an id (`x-request-id`, on the request for the handlers and the
/// audit log, and on the answer for the caller). A caller's own id is kept when it is a
/// short token; anything else is replaced, so that an id in the audit log is always one
/// line of plain characters.
async fn request_id(mut request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let given = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (8..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
        .map(str::to_owned);
    let id = given.unwrap_or_else(new_request_id);
    let value = HeaderValue::from_str(&id).expect("checked or generated: plain characters");
    request
        .headers_mut()
        .insert(REQUEST_ID_HEADER, value.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID_HEADER, value);
    response
}

/// 128 random bits in hex.
fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Ids only correlate records and logs; the time still tells requests apart.
        bytes[..8].copy_from_slice(&crate::audit::now_ms().to_be_bytes());
    }
    scrim_audit::hex(&bytes)
}

/// The answer when an action's audit record could not be written (it was not done).
pub(crate) fn audit_unavailable(e: AuditUnavailable) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()).retry_after(5)
}

/// Records a read of telemetry once it ran: the answer is sent only if its record was
/// written. `details` holds the parameters; a failure's message goes in as the reason.
pub(crate) async fn recorded_read<T>(
    state: &ApiState,
    c: &Caller,
    origin: &Origin,
    target: &str,
    details: serde_json::Map<String, Value>,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let outcome = match &result {
        Ok(_) => Outcome::Success,
        Err(e) => Outcome::failed(state.shared.scrub(&e.message)),
    };
    let mut entry = state
        .shared
        .audit
        .entry(
            c.tenant_id.as_str(),
            crate::audit::actor_of(&c.actor),
            actions::TELEMETRY_READ,
            origin,
        )
        .target(target);
    for (k, v) in details {
        entry = entry.detail(&k, v);
    }
    entry.write(outcome).await.map_err(audit_unavailable)?;
    result
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
            crate::ServerError::AuditUnavailable => audit_unavailable(AuditUnavailable),
            e @ crate::ServerError::OtherRegion { .. } => {
                ApiError::new(StatusCode::MISDIRECTED_REQUEST, &e.to_string())
            }
            e @ crate::ServerError::ReadsFrozen => {
                ApiError::new(StatusCode::LOCKED, &e.to_string())
            }
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
pub(crate) async fn tenant_query(state: &ApiState, p: &Caller) -> Result<TenantQuery, ApiError> {
    tenant_query_with(state, p, false).await
}

/// [`tenant_query`], with the span segments' trace filters when `trace_filters` (only trace
/// lookups use them).
pub(crate) async fn tenant_query_with(
    state: &ApiState,
    p: &Caller,
    trace_filters: bool,
) -> Result<TenantQuery, ApiError> {
    // Containment: a frozen tenant's telemetry is not read through the API (or the UI,
    // the AI diagnostics and exports, which come through here).
    crate::containment::check_reads(&state.shared.platform, &p.tenant_id).await?;
    Ok(query_for_tenant(&state.shared, &p.tenant_id, trace_filters).await?)
}

/// [`tenant_query_with`] for the server's own jobs (alert rules), without a caller.
pub(crate) async fn query_for_tenant(
    shared: &Shared,
    tenant: &scrim_meta::TenantId,
    trace_filters: bool,
) -> Result<TenantQuery, crate::ServerError> {
    let rt = shared.tenants.get(tenant).await?;
    let snapshot = rt.gate.read().await;
    let mut filters = if trace_filters {
        shared.platform.meta.trace_filters(tenant).await?
    } else {
        Default::default()
    };
    let mut segments = Vec::new();
    let mut newest_key = 0;
    for signal in scrim_store::Signal::ALL {
        let rows = shared
            .platform
            .meta
            .segments(tenant, meta_signal(signal), CatalogRange::all(), None)
            .await?;
        segments.extend(rows.into_iter().map(|s| {
            newest_key = newest_key.max(s.key_version);
            let filter = filters.remove(&s.path);
            store_meta(s, signal, filter)
        }));
    }
    let buffer = rt.log.buffered();
    drop(snapshot);
    // Segments another node wrote after a rotation this one has not seen yet.
    let keys = shared.tenants.keys_for(&rt, newest_key).await?;
    // Rows of recorded deletion requests are hidden from every read, rewritten or not.
    let erasures = crate::deletion::active_erasures(&shared.platform, &rt.tenant).await?;
    let store = &shared.platform.regions.of(&rt.tenant)?.store;
    Ok(
        TenantQuery::new(rt.tenant.id.as_str(), keys, store, segments, buffer)?
            .with_erasures(erasures),
    )
}

/// Every catalogued segment of `tenant`, of every signal, as the store describes them
/// (without trace filters): what a query over flushed data alone reads.
pub(crate) async fn catalogued_segments(
    platform: &crate::Platform,
    tenant: &scrim_meta::TenantId,
) -> Result<Vec<SegmentMeta>, crate::ServerError> {
    let mut segments = Vec::new();
    for signal in scrim_store::Signal::ALL {
        let rows = platform
            .meta
            .segments(tenant, meta_signal(signal), CatalogRange::all(), None)
            .await?;
        segments.extend(rows.into_iter().map(|s| store_meta(s, signal, None)));
    }
    Ok(segments)
}

/// A catalog segment as the store describes it (its key id from its key version).
pub(crate) fn store_meta(
    s: scrim_meta::Segment,
    signal: scrim_store::Signal,
    trace_filter: Option<Vec<u8>>,
) -> SegmentMeta {
    SegmentMeta {
        key_id: crate::tenant_keys::key_id(&s.tenant_id, s.key_version),
        path: s.path,
        tenant_id: s.tenant_id.to_string(),
        signal,
        min_time_ns: s.min_time_ns,
        max_time_ns: s.max_time_ns,
        rows: s.rows,
        bytes: s.bytes,
        services: s.services,
        trace_filter,
    }
}

/// What the catalog records of a segment the store wrote for `tenant` (its key version
/// from the id of the key it was written under).
pub(crate) fn catalog_segment(
    tenant: &scrim_meta::TenantId,
    seg: &SegmentMeta,
) -> Result<scrim_meta::NewSegment, crate::ServerError> {
    Ok(scrim_meta::NewSegment {
        signal: meta_signal(seg.signal),
        path: seg.path.clone(),
        min_time_ns: seg.min_time_ns,
        max_time_ns: seg.max_time_ns,
        rows: seg.rows,
        bytes: seg.bytes,
        services: seg.services.clone(),
        trace_filter: seg.trace_filter.clone(),
        key_version: crate::tenant_keys::version_of(tenant, &seg.key_id)?,
    })
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
    let result = async {
        let q = tenant_query_with(&state, &p, true).await?;
        match q.trace(&trace_id).await? {
            Some(t) => Ok(Json(t)),
            None => Err(not_found("no such trace")),
        }
    }
    .await;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let target = format!("traces/{trace_id}");
    recorded_read(&state, &p, &origin, &target, Default::default(), result).await
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
    let details = state.shared.parameters(params.iter().map(|(k, v)| (k, v)));
    let mut filter = TraceFilter::default();
    let mut start = None;
    let mut end = None;
    for (k, v) in params {
        match k.as_str() {
            "service" => filter.service = Some(v),
            "operation" => filter.operation = Some(v),
            "min_duration_ms" => filter.min_duration_ms = Some(number(&k, &v)?),
            "error" => filter.errors_only = flag(&k, &v)?,
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
    let result = async {
        let q = tenant_query(&state, &p).await?;
        let traces = q.search_traces(&filter).await?;
        Ok(Json(json!({ "traces": traces })))
    }
    .await;
    let origin = Origin::of(&headers, Some(peer.ip()));
    recorded_read(&state, &p, &origin, "traces", details, result).await
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
    let result = async {
        let q = tenant_query(&state, &p).await?;
        let services = q.services(range).await?;
        Ok(Json(json!({
            "window": { "start_ns": range.start_ns, "end_ns": range.end_ns },
            "services": services,
        })))
    }
    .await;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let details = state.shared.parameters(params.iter());
    recorded_read(&state, &p, &origin, "services", details, result).await
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
    let result = async {
        let q = tenant_query(&state, &p).await?;
        let queries = q.service_queries(&name, range, limit).await?;
        Ok(Json(json!({ "service": name, "queries": queries })))
    }
    .await;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let details = state.shared.parameters(params.iter());
    let target = format!("services/{}/queries", state.shared.scrub(&name));
    recorded_read(&state, &p, &origin, &target, details, result).await
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
    let details = state.shared.parameters(params.iter());
    let mut filter = LogFilter::default();
    let (mut start, mut end) = (None, None);
    for (k, v) in params {
        match k.as_str() {
            "service" => filter.service = Some(v),
            "q" | "text" => filter.text = Some(v),
            "severity" | "min_severity" => filter.min_severity = Some(severity(&v)?),
            "trace_id" => filter.trace_id = Some(v),
            "limit" => filter.limit = Some(number(&k, &v)?),
            "start" => start = Some(time(&k, &v)?),
            "end" => end = Some(time(&k, &v)?),
            _ => return Err(bad_request(format!("unknown parameter {k:?}"))),
        }
    }
    filter.range = range(start, end);
    let result = async {
        let q = tenant_query(&state, &p).await?;
        let records = q.logs(&filter).await?;
        Ok(Json(json!({ "logs": records })))
    }
    .await;
    let origin = Origin::of(&headers, Some(peer.ip()));
    recorded_read(&state, &p, &origin, "logs", details, result).await
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
    let result = async {
        let q = tenant_query(&state, &p).await?;
        let result = q.sql(&request.query, limits).await?;
        Ok(Json(serde_json::to_value(result).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        })?))
    }
    .await;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let mut details = serde_json::Map::new();
    details.insert("query".into(), state.shared.scrub(&request.query).into());
    recorded_read(&state, &p, &origin, "sql", details, result).await
}

/// `GET /api/v1/export?signal=&format=&…`: the caller's tenant's spans, logs or metrics
/// matching the filters, streamed in OTLP/JSON lines, JSON lines, CSV or Parquet
/// (`crate::export`). An encrypted Parquet export takes its key in `X-Scrim-Export-Key`.
/// The export is recorded (`telemetry.export`) before its first byte is sent.
async fn export(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let p = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::Export),
    )
    .await?;
    let key = match headers.get(EXPORT_KEY_HEADER) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| ExportKey::from_hex(t).ok())
                .ok_or_else(|| {
                    bad_request(format!(
                        "{EXPORT_KEY_HEADER} is 64 hexadecimal digits (32 bytes, AES-256)"
                    ))
                })?,
        ),
    };
    let request = ExportRequest::from_params(params, key)?;
    let encoder = request.encoder()?;
    let origin = Origin::of(&headers, Some(peer.ip()));
    let entry = request.describe(
        state.shared.audit.entry(
            p.tenant_id.as_str(),
            crate::audit::actor_of(&p.actor),
            actions::TELEMETRY_EXPORT,
            &origin,
        ),
        &state.shared.scrubber,
    );
    let rows = async {
        let q = tenant_query(&state, &p).await?;
        Ok::<_, ApiError>(q.export(request.signal, &request.filter).await?)
    }
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            entry
                .write(Outcome::failed(state.shared.scrub(&e.message)))
                .await
                .map_err(audit_unavailable)?;
            return Err(e);
        }
    };
    // No record, no export: written before the first byte of the body.
    entry.success().await.map_err(audit_unavailable)?;
    let tenant = p.tenant_id.to_string();
    let rows_sent = encoder.row_counter();
    let bytes_sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let complete = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (counted, ok) = (Arc::clone(&bytes_sent), Arc::clone(&complete));
    let chunks =
        scrim_store::export::encode_stream(rows, encoder).inspect(move |chunk| match chunk {
            Ok(b) => {
                counted.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => {
                ok.store(false, std::sync::atomic::Ordering::Relaxed);
                // The answer ends without its last chunk, so the client sees it incomplete.
                tracing::error!(tenant, "export stopped: {e}");
            }
        });
    // Once the last byte went out: how much left, for the large-export detection.
    let done = entry.clone().for_action(actions::EXPORT_DONE);
    let finished = futures::stream::once(async move {
        use std::sync::atomic::Ordering::Relaxed;
        let written = done
            .detail("rows", rows_sent.load(Relaxed))
            .detail("bytes", bytes_sent.load(Relaxed))
            .detail("complete", complete.load(Relaxed))
            .success()
            .await;
        if written.is_err() {
            tracing::warn!("the end of an export could not be recorded in the audit log");
        }
    })
    .filter_map(|()| async { None });
    let chunks = chunks.chain(finished);
    Ok((
        crate::export::response_headers(&request),
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}

/// `GET /api/v1/audit?actor=&action=&start=&end=&limit=&format=`: the caller's tenant's
/// audit records. `format=json` (default): the newest `limit` (100, at most 10 000), newest
/// first. `format=jsonl` or `csv`: every match, oldest first, as a download. Reading is
/// itself recorded (`audit.read`, `audit.export`) before the answer is sent.
async fn audit_log(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let p = enter(
        &state,
        &headers,
        peer,
        Method::GET,
        Some(Permission::ReadAudit),
    )
    .await?;
    let mut filter = AuditFilter::default();
    let mut limit = 100u32;
    let mut format = None;
    for (k, v) in &params {
        match k.as_str() {
            "actor" => filter.actor = Some(v.clone()),
            "action" => filter.action = Some(v.clone()),
            "start" => filter.start_ms = Some(time(k, v)?.div_euclid(1_000_000)),
            "end" => filter.end_ms = Some(time(k, v)?.div_euclid(1_000_000)),
            "limit" => limit = number::<u32>(k, v)?.clamp(1, 10_000),
            "format" => {
                format = match v.as_str() {
                    "json" => None,
                    other => Some(
                        ExportFormat::parse(other)
                            .ok_or_else(|| bad_request("format is json, jsonl or csv"))?,
                    ),
                }
            }
            _ => return Err(bad_request(format!("unknown parameter {k:?}"))),
        }
    }
    let meta = &state.shared.platform.meta;
    let tenant = p.tenant_id.as_str();
    let origin = Origin::of(&headers, Some(peer.ip()));
    let mut details = serde_json::Map::new();
    for (k, v) in [("actor", &filter.actor), ("action", &filter.action)] {
        if let Some(v) = v {
            details.insert(k.into(), v.clone().into());
        }
    }
    for (k, v) in [("start", filter.start_ms), ("end", filter.end_ms)] {
        if let Some(ms) = v {
            details.insert(k.into(), scrim_audit::utc_text(ms).into());
        }
    }
    let action = if format.is_some() {
        actions::AUDIT_EXPORT
    } else {
        actions::AUDIT_READ
    };
    let mut entry =
        state
            .shared
            .audit
            .entry(tenant, crate::audit::actor_of(&p.actor), action, &origin);
    for (k, v) in details {
        entry = entry.detail(&k, v);
    }
    match format {
        None => {
            let records = crate::audit::read::query(meta, tenant, &filter, limit).await?;
            entry
                .detail("records", records.len())
                .success()
                .await
                .map_err(audit_unavailable)?;
            Ok(Json(json!({ "records": records })).into_response())
        }
        Some(format) => {
            let mut body = Vec::new();
            let n = crate::audit::read::export(meta, tenant, &filter, format, &mut body).await?;
            entry
                .detail("records", n)
                .detail(
                    "format",
                    if format == ExportFormat::Csv {
                        "csv"
                    } else {
                        "jsonl"
                    },
                )
                .success()
                .await
                .map_err(audit_unavailable)?;
            let name = match format {
                ExportFormat::Csv => "audit.csv",
                ExportFormat::JsonLines => "audit.jsonl",
            };
            Ok((
                [
                    (header::CONTENT_TYPE, format.content_type().to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                body,
            )
                .into_response())
        }
    }
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT,
    )
}

/// `true` / `false` (also `1` / `0`).
pub(crate) fn flag(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad_request(format!("{name} is true or false"))),
    }
}

pub(crate) fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ApiError> {
    v.parse()
        .map_err(|_| bad_request(format!("{name} must be a non-negative integer")))
}

/// A time parameter: RFC 3339 (`2026-11-24T10:00:00Z`) or Unix seconds (`1795000000`,
/// fractions allowed), as nanoseconds since the epoch.
pub(crate) fn time(name: &str, v: &str) -> Result<i64, ApiError> {
    crate::export::parse_time_ns(v).ok_or_else(|| {
        bad_request(format!(
            "{name} must be RFC 3339 (2026-11-24T10:00:00Z) or Unix seconds"
        ))
    })
}

/// The `start` / `end` parameters as a range; open on a side that was not given.
pub(crate) fn range(start: Option<i64>, end: Option<i64>) -> Option<TimeRange> {
    (start.is_some() || end.is_some())
        .then(|| TimeRange::new(start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX)))
}

/// `window=15m` (s, m, h, d; default 1h), ending now.
pub(crate) fn window(params: &HashMap<String, String>) -> Result<TimeRange, ApiError> {
    let spec = params.get("window").map(String::as_str).unwrap_or("1h");
    window_ending_now(spec).map_err(bad_request)
}

/// A window such as `30s`, `15m`, `1h` or `7d` (1 s to 366 d) that ends now.
pub(crate) fn window_ending_now(spec: &str) -> Result<TimeRange, String> {
    let (n, unit) = spec.split_at(spec.len().saturating_sub(1));
    let form = || "window is a number and a unit: 30s, 15m, 1h, 7d".to_owned();
    let n: u64 = n.parse().map_err(|_| form())?;
    let seconds = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(form()),
    };
    if seconds == 0 || seconds > 366 * 86_400 {
        return Err("window must be between 1s and 366d".into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64;
    Ok(TimeRange::new(now - seconds as i64 * 1_000_000_000, now))
}

/// `severity=warn` or a severity number (OpenTelemetry: 9 INFO, 13 WARN, 17 ERROR).
pub(crate) fn severity(v: &str) -> Result<i32, ApiError> {
    crate::export::parse_severity(v)
        .ok_or_else(|| bad_request("severity is trace, debug, info, warn, error, fatal or 1-24"))
}
