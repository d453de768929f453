//! Exploring telemetry: services, one service, trace search and the waterfall, logs, and
//! the SQL console. Every list is bounded (the API's limits) and pages backwards in time
//! with an `end` bound, so a tenant with ten million spans costs the same per page.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use scrim_auth::Permission;
use scrim_ui::chart::{Chart, Series};
use scrim_ui::format;
use scrim_ui::pages::{
    AiOffer, Charts, LogForm, LogRow, LogsPage, OperationRow, RangePicker, ServicePage, ServiceRow,
    ServicesPage, SqlPage, SqlResultFragment, StatementRow, TraceForm, TracePage, TraceRow,
    TracesPage, marked, marked_sql,
};
use serde_json::{Value, json};

use super::{
    Api, Failure, Person, Ui, enter_page, failure_page, field, html, now_ns, page_start, query,
    segment, text,
};

pub(super) fn routes() -> Router<Ui> {
    Router::new()
        .route("/services", get(services))
        .route("/services/{name}", get(service))
        .route("/traces", get(traces))
        .route("/traces/find", get(find_trace))
        .route("/traces/{id}", get(trace))
        .route("/logs", get(logs))
        .route("/sql", get(sql_page).post(sql_run))
}

type Params = Query<HashMap<String, String>>;

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map_or("", |v| v.trim())
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// One service's row from the API's statistics.
fn service_row(s: &Value, sparkline: String) -> ServiceRow {
    let name = text(&s["service"]);
    let error_rate = f64_of(&s["error_rate"]);
    ServiceRow {
        path: segment(&name),
        name,
        requests: format::count(u64_of(&s["requests"])),
        rate: format::rate(f64_of(&s["request_rate"])),
        error_rate: format::percent(error_rate),
        failing: error_rate >= 0.05,
        p50: format::duration_ns(f64_of(&s["p50_ns"])),
        p95: format::duration_ns(f64_of(&s["p95_ns"])),
        p99: format::duration_ns(f64_of(&s["p99_ns"])),
        sparkline,
    }
}

/// The time series of the window, per service: (requests, errors, p95) points.
struct SeriesSet {
    start_ns: i64,
    end_ns: i64,
    step_ns: i64,
    by_service: Vec<SeriesEntry>,
}

impl SeriesSet {
    fn from(v: &Value) -> SeriesSet {
        let mut by_service: Vec<SeriesEntry> = Vec::new();
        for p in v["points"].as_array().into_iter().flatten() {
            let name = text(&p["service"]);
            let t = p["start_ns"].as_i64().unwrap_or(0);
            let idx = match by_service.iter().position(|s| s.0 == name) {
                Some(i) => i,
                None => {
                    by_service.push((name, Vec::new(), Vec::new(), Vec::new()));
                    by_service.len() - 1
                }
            };
            let s = &mut by_service[idx];
            s.1.push((t, f64_of(&p["requests"])));
            s.2.push((t, f64_of(&p["errors"])));
            s.3.push((t, f64_of(&p["p95_ns"])));
        }
        SeriesSet {
            start_ns: v["window"]["start_ns"].as_i64().unwrap_or(0),
            end_ns: v["window"]["end_ns"].as_i64().unwrap_or(0),
            step_ns: v["step_ns"].as_i64().unwrap_or(1).max(1),
            by_service,
        }
    }

    fn chart(&self, width: u32, height: u32) -> Chart {
        Chart {
            width,
            height,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
        }
    }

    /// Sums of a measure over every service, per bucket (missing buckets are zero).
    fn total(&self, pick: impl Fn(&SeriesEntry) -> &Vec<(i64, f64)>) -> Vec<(i64, f64)> {
        self.summed(self.by_service.iter(), pick)
    }

    /// A measure of one service, missing buckets as zero.
    fn of(&self, name: &str, pick: impl Fn(&SeriesEntry) -> &Vec<(i64, f64)>) -> Vec<(i64, f64)> {
        self.summed(self.by_service.iter().filter(|s| s.0 == name), pick)
    }

    /// A measure summed over `services` on every bucket of the window.
    fn summed<'s>(
        &self,
        services: impl Iterator<Item = &'s SeriesEntry>,
        pick: impl Fn(&SeriesEntry) -> &Vec<(i64, f64)>,
    ) -> Vec<(i64, f64)> {
        let mut sums: std::collections::BTreeMap<i64, f64> = Default::default();
        let mut t = self.start_ns;
        while t < self.end_ns {
            sums.insert(t, 0.0);
            t = t.saturating_add(self.step_ns);
        }
        for s in services {
            for (t, v) in pick(s) {
                *sums.entry(*t).or_default() += v;
            }
        }
        sums.into_iter().collect()
    }
}

/// A service's (name, requests, errors, p95) points.
type SeriesEntry = (String, Vec<(i64, f64)>, Vec<(i64, f64)>, Vec<(i64, f64)>);

fn count_unit(v: f64) -> String {
    format::count(v.max(0.0).round() as u64)
}

fn latency_unit(v: f64) -> String {
    format::duration_ns(v)
}

async fn services(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "services").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (range, _) = RangePicker::new(params.get("range").map(String::as_str));
    let window = query([("window", range.key.as_str())]);
    let stats = match api.get(&format!("/api/v1/services?{window}")).await {
        Ok(v) => v,
        Err(f) => return failure_page(&p, "services", &f),
    };
    let (series, error) = match api
        .get(&format!("/api/v1/services/timeseries?{window}"))
        .await
    {
        Ok(v) => (SeriesSet::from(&v), None),
        Err(f) => (SeriesSet::from(&Value::Null), Some(f.message)),
    };
    let spark = series.chart(120, 28);
    let rows: Vec<ServiceRow> = stats["services"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let name = text(&s["service"]);
            let points = series.of(&name, |e| &e.1);
            service_row(s, spark.sparkline(&points, &format!("requests of {name}")))
        })
        .collect();
    let big = series.chart(360, 120);
    let charts = Charts {
        requests: big.line(
            &[Series {
                label: "requests",
                points: &series.total(|e| &e.1),
            }],
            count_unit,
            "Requests per interval, all services",
        ),
        errors: big.line(
            &[Series {
                label: "errors",
                points: &series.total(|e| &e.2),
            }],
            count_unit,
            "Errors per interval, all services",
        ),
        latency: {
            let lines: Vec<(String, Vec<(i64, f64)>)> = series
                .by_service
                .iter()
                .take(6)
                .map(|s| (s.0.clone(), series.of(&s.0, |e| &e.3)))
                .collect();
            let list: Vec<Series<'_>> = lines
                .iter()
                .map(|(l, pts)| Series {
                    label: l,
                    points: pts,
                })
                .collect();
            big.line(&list, latency_unit, "p95 latency per service")
        },
    };
    html(
        StatusCode::OK,
        &ServicesPage {
            frame: p.frame("Services", "services"),
            range,
            error,
            services: rows,
            charts,
        },
    )
}

fn statement_rows(v: &Value) -> Vec<StatementRow> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|q| StatementRow {
            statement: marked_sql(q["statement"].as_str().unwrap_or_default()),
            raw: q["statement"].as_str().unwrap_or_default().to_owned(),
            system: q["db_system"].as_str().unwrap_or("").to_owned(),
            count: format::count(u64_of(&q["count"])),
            avg: format::duration_ns(f64_of(&q["avg_ns"])),
            p95: format::duration_ns(f64_of(&q["p95_ns"])),
        })
        .collect()
}

fn trace_rows(v: &Value) -> Vec<TraceRow> {
    v["traces"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let id = text(&t["trace_id"]);
            let start = t["start_ns"].as_i64().unwrap_or(0);
            TraceRow {
                short_id: id.chars().take(12).collect(),
                id,
                service: text(&t["root_service"]),
                operation: text(&t["root_operation"]),
                started: format::timestamp_ns(start),
                iso: format::iso_ns(start),
                duration: format::duration_ns(f64_of(&t["duration_ns"])),
                spans: u64_of(&t["span_count"]),
                error: t["error"].as_bool().unwrap_or(false),
            }
        })
        .collect()
}

async fn service(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Params,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "services").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (range, seconds) = RangePicker::new(params.get("range").map(String::as_str));
    let path = segment(&name);
    let window = query([("window", range.key.as_str())]);
    let stats = match api.get(&format!("/api/v1/services?{window}")).await {
        Ok(v) => v,
        Err(f) => return failure_page(&p, "services", &f),
    };
    let mut errors_seen: Vec<String> = Vec::new();
    let mut note = |f: Failure| errors_seen.push(f.message);
    let series = match api
        .get(&format!(
            "/api/v1/services/timeseries?{}",
            query([("window", range.key.as_str()), ("service", name.as_str())])
        ))
        .await
    {
        Ok(v) => SeriesSet::from(&v),
        Err(f) => {
            note(f);
            SeriesSet::from(&Value::Null)
        }
    };
    let operations = match api
        .get(&format!("/api/v1/services/{path}/operations?{window}"))
        .await
    {
        Ok(v) => v["operations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                let op = text(&o["operation"]);
                OperationRow {
                    path: segment(&op),
                    name: op,
                    kind: text(&o["kind"]).to_lowercase(),
                    count: format::count(u64_of(&o["count"])),
                    errors: format::count(u64_of(&o["errors"])),
                    p50: format::duration_ns(f64_of(&o["p50_ns"])),
                    p95: format::duration_ns(f64_of(&o["p95_ns"])),
                }
            })
            .collect(),
        Err(f) => {
            note(f);
            Vec::new()
        }
    };
    let (slowest, frequent) = match api
        .get(&format!("/api/v1/services/{path}/queries?{window}"))
        .await
    {
        Ok(v) => (
            statement_rows(&v["queries"]["slowest"]),
            statement_rows(&v["queries"]["most_frequent"]),
        ),
        Err(f) => {
            note(f);
            (Vec::new(), Vec::new())
        }
    };
    // Failed traces need the telemetry permission, which a viewer does not hold.
    let errors = if p.may(Permission::ReadTelemetry) {
        let start = format!("{}", (now_ns() / 1_000_000_000).saturating_sub(seconds));
        match api
            .get(&format!(
                "/api/v1/traces?{}",
                query([
                    ("service", name.as_str()),
                    ("error", "true"),
                    ("limit", "10"),
                    ("start", start.as_str()),
                ])
            ))
            .await
        {
            Ok(v) => trace_rows(&v),
            Err(f) => {
                note(f);
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let stats_row = stats["services"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["service"] == name.as_str())
        .map(|s| service_row(s, String::new()));
    let big = series.chart(480, 140);
    let requests = series.of(&name, |e| &e.1);
    let failed = series.of(&name, |e| &e.2);
    let charts = Charts {
        requests: big.line(
            &[
                Series {
                    label: "requests",
                    points: &requests,
                },
                Series {
                    label: "errors",
                    points: &failed,
                },
            ],
            count_unit,
            &format!("Requests and errors of {name}"),
        ),
        errors: String::new(),
        latency: big.line(
            &[Series {
                label: "p95",
                points: &series.of(&name, |e| &e.3),
            }],
            latency_unit,
            &format!("p95 latency of {name}"),
        ),
    };
    html(
        StatusCode::OK,
        &ServicePage {
            frame: p.frame(&name, "services"),
            range,
            error: (!errors_seen.is_empty()).then(|| errors_seen.join("; ")),
            path,
            name,
            stats: stats_row,
            charts,
            operations,
            slowest,
            frequent,
            errors,
            ai: ai_offer(&api, &p).await,
        },
    )
}

/// Where an AI question would go, if the tenant turned AI diagnostics on and the person may
/// ask (and read what would be sent).
pub(super) async fn ai_offer(api: &Api<'_>, p: &Person) -> Option<AiOffer> {
    if !(p.may(Permission::UseAiDiagnostics) && p.may(Permission::ReadTelemetry)) {
        return None;
    }
    let v = api.get("/api/v1/ai/status").await.ok()?;
    (v["enabled"] == true).then(|| AiOffer {
        host: text(&v["host"]),
        model: text(&v["model"]),
    })
}

/// The services that sent spans in the last 30 days, for the filter lists (from the
/// catalog: no telemetry is read for it).
async fn known_services(api: &Api<'_>, p: &Person) -> Vec<String> {
    if !p.may(Permission::ViewServices) {
        return Vec::new();
    }
    api.get("/api/v1/service-names?window=30d")
        .await
        .ok()
        .and_then(|v| {
            v["services"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
        })
        .unwrap_or_default()
}

/// Page size of the trace and log lists.
const PAGE: usize = 50;

async fn traces(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "traces").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (range, seconds) = RangePicker::new(params.get("range").map(String::as_str));
    let form = TraceForm {
        service: param(&params, "service").to_owned(),
        operation: param(&params, "operation").to_owned(),
        min_ms: param(&params, "min_ms").to_owned(),
        attr: param(&params, "attr").to_owned(),
        errors: param(&params, "errors") == "1",
    };
    let end = param(&params, "end");
    let start = page_start(end, seconds);
    let limit = PAGE.to_string();
    let mut pairs: Vec<(String, String)> = vec![("start".into(), start), ("limit".into(), limit)];
    if !end.is_empty() {
        pairs.push(("end".into(), end.to_owned()));
    }
    for (k, v) in [
        ("service", &form.service),
        ("operation", &form.operation),
        ("min_duration_ms", &form.min_ms),
    ] {
        if !v.is_empty() {
            pairs.push((k.into(), v.clone()));
        }
    }
    if form.errors {
        pairs.push(("error".into(), "true".into()));
    }
    let mut error = None;
    if !form.attr.is_empty() {
        match form.attr.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                pairs.push((format!("attr.{}", k.trim()), v.trim().to_owned()))
            }
            _ => {
                error =
                    Some("an attribute filter is name=value, e.g. http.route=/checkout".to_owned())
            }
        }
    }
    let q = query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (rows, older) = if error.is_some() {
        (Vec::new(), None)
    } else {
        match api.get(&format!("/api/v1/traces?{q}")).await {
            Ok(v) => {
                let rows = trace_rows(&v);
                // Older: the page before the oldest trace shown (search orders by the newest
                // matching span, so the bound is on the oldest of those).
                let older = (rows.len() == PAGE)
                    .then(|| {
                        v["traces"]
                            .as_array()
                            .and_then(|a| a.iter().filter_map(|t| t["start_ns"].as_i64()).min())
                    })
                    .flatten()
                    .map(|oldest_ns| {
                        let end = format!("{:.9}", oldest_ns as f64 / 1e9);
                        format!(
                            "/traces?{}",
                            query([
                                ("service", form.service.as_str()),
                                ("operation", form.operation.as_str()),
                                ("min_ms", form.min_ms.as_str()),
                                ("attr", form.attr.as_str()),
                                ("errors", if form.errors { "1" } else { "" }),
                                ("range", range.key.as_str()),
                                ("end", end.as_str()),
                            ])
                        )
                    });
                (rows, older)
            }
            Err(f) if f.status.is_client_error() && f.status != StatusCode::FORBIDDEN => {
                error = Some(f.message);
                (Vec::new(), None)
            }
            Err(f) => return failure_page(&p, "traces", &f),
        }
    };
    let services = known_services(&api, &p).await;
    html(
        StatusCode::OK,
        &TracesPage {
            frame: p.frame("Traces", "traces"),
            range,
            filter: form,
            services,
            error,
            traces: rows,
            older,
        },
    )
}

async fn find_trace(Query(params): Params) -> Response {
    let id = param(&params, "id").to_ascii_lowercase();
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        super::redirect(&format!("/traces/{id}"))
    } else {
        super::redirect("/traces")
    }
}

async fn trace(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "traces").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = id.to_ascii_lowercase();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return failure_page(
            &p,
            "traces",
            &Failure {
                status: StatusCode::BAD_REQUEST,
                message: "a trace id is 32 hexadecimal characters".into(),
            },
        );
    }
    let v = match api.get(&format!("/api/v1/traces/{id}")).await {
        Ok(v) => v,
        Err(f) => return failure_page(&p, "traces", &f),
    };
    match scrim_ui::waterfall::layout(&v) {
        Some(wf) => {
            let mut page = TracePage::new(p.frame(&format!("Trace {}", &id[..12]), "traces"), wf);
            page.ai = ai_offer(&api, &p).await;
            html(StatusCode::OK, &page)
        }
        None => failure_page(
            &p,
            "traces",
            &Failure {
                status: StatusCode::NOT_FOUND,
                message: "no span of this trace is stored".into(),
            },
        ),
    }
}

const SEVERITIES: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

async fn logs(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "logs").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (range, seconds) = RangePicker::new(params.get("range").map(String::as_str));
    let severity = match param(&params, "severity") {
        s if SEVERITIES.contains(&s) => s,
        _ => "trace",
    };
    let form = LogForm {
        text: param(&params, "q").to_owned(),
        service: param(&params, "service").to_owned(),
        severity: severity.to_owned(),
        trace: param(&params, "trace").to_ascii_lowercase(),
    };
    let end = param(&params, "end");
    // A trace's logs are wanted whenever they were written.
    let start = if form.trace.is_empty() {
        page_start(end, seconds)
    } else {
        String::new()
    };
    let limit = PAGE.to_string();
    let q = query([
        ("q", form.text.as_str()),
        ("service", form.service.as_str()),
        ("severity", if severity == "trace" { "" } else { severity }),
        ("trace_id", form.trace.as_str()),
        ("start", start.as_str()),
        ("end", end),
        ("limit", limit.as_str()),
    ]);
    let mut error = None;
    let (rows, older) = match api.get(&format!("/api/v1/logs?{q}")).await {
        Ok(v) => {
            let records = v["logs"].as_array().cloned().unwrap_or_default();
            let rows: Vec<LogRow> = records
                .iter()
                .map(|l| {
                    let trace_id = text(&l["trace_id"]);
                    let number = l["severity_number"].as_i64().unwrap_or(0);
                    LogRow {
                        time: format::timestamp_ns(time_ns(&l["time"])),
                        service: text(&l["service_name"]),
                        severity: match l["severity_text"].as_str() {
                            Some(s) if !s.is_empty() => s.to_owned(),
                            _ => number.to_string(),
                        },
                        severe: number >= 17,
                        body: marked(l["body"].as_str().unwrap_or_default()),
                        short_trace: trace_id.chars().take(12).collect(),
                        trace_id,
                    }
                })
                .collect();
            let older = (rows.len() == PAGE)
                .then(|| records.iter().map(|l| time_ns(&l["time"])).min())
                .flatten()
                .map(|oldest| {
                    let end = format!("{:.9}", oldest as f64 / 1e9);
                    format!(
                        "/logs?{}",
                        query([
                            ("q", form.text.as_str()),
                            ("service", form.service.as_str()),
                            ("severity", form.severity.as_str()),
                            ("trace", form.trace.as_str()),
                            ("range", range.key.as_str()),
                            ("end", end.as_str()),
                        ])
                    )
                });
            (rows, older)
        }
        Err(f) if f.status.is_client_error() && f.status != StatusCode::FORBIDDEN => {
            error = Some(f.message);
            (Vec::new(), None)
        }
        Err(f) => return failure_page(&p, "logs", &f),
    };
    let services = known_services(&api, &p).await;
    html(
        StatusCode::OK,
        &LogsPage {
            frame: p.frame("Logs", "logs"),
            range,
            filter: form,
            services,
            severities: SEVERITIES.iter().map(|s| (*s).to_owned()).collect(),
            error,
            logs: rows,
            older,
        },
    )
}

/// A log record's time as the API writes it: ns (number) or RFC 3339 text.
fn time_ns(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .or_else(|| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

const SQL_UI_ROWS: usize = 1000;
const SQL_EXAMPLE: &str = "SELECT service_name, count(*) AS spans, avg(duration_ns) / 1e6 AS avg_ms\nFROM spans\nGROUP BY service_name\nORDER BY spans DESC\nLIMIT 20";

async fn sql_page(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let api = Api::new(&ui, &headers, peer);
    let p = match enter_page(&api, "sql").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    html(
        StatusCode::OK,
        &SqlPage {
            frame: p.frame("SQL console", "sql"),
            query: SQL_EXAMPLE.into(),
            max_rows: SQL_UI_ROWS,
            result: None,
        },
    )
}

/// A result cell as text: strings as they are, everything else as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => marked(s),
        Value::Null => "<span class=\"muted\">null</span>".into(),
        other => marked(&other.to_string()),
    }
}

async fn sql_run(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let api = Api::new(&ui, &headers, peer).with_csrf(Some(field(&form, "csrf_token")));
    let p = match enter_page(&api, "sql").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let text = field(&form, "query");
    let fragment = match api
        .send(
            Method::POST,
            "/api/v1/sql",
            &json!({ "query": text, "max_rows": SQL_UI_ROWS }),
        )
        .await
    {
        Ok(v) => SqlResultFragment {
            error: None,
            columns: v["columns"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| c.as_str().unwrap_or("").to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            rows: v["rows"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|r| {
                            r.as_array()
                                .map(|c| c.iter().map(cell).collect())
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .unwrap_or_default(),
            truncated: v["truncated"].as_bool().unwrap_or(false),
        },
        Err(f) => SqlResultFragment {
            error: Some(f.message),
            ..Default::default()
        },
    };
    if headers.contains_key("hx-request") {
        return html(StatusCode::OK, &fragment);
    }
    use askama::Template;
    html(
        StatusCode::OK,
        &SqlPage {
            frame: p.frame("SQL console", "sql"),
            query: text.to_owned(),
            max_rows: SQL_UI_ROWS,
            result: fragment.render().ok(),
        },
    )
}
