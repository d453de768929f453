//! The shop simulation: traces, correlated logs and cumulative metrics.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exemplar, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span::Event, span::SpanKind, status::StatusCode,
};
use scrim_otlp::Batch;

use crate::secrets::*;

/// The shop's instrumented services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// The web frontend (the entry point of every trace).
    Frontend,
    /// Orders: cart, database, receipts, payments.
    Checkout,
    /// Card charges through an external payment provider.
    Payments,
    /// Accounts and logins.
    Users,
}

impl Service {
    /// Every service, in resource order.
    pub const ALL: [Service; 4] = [
        Service::Frontend,
        Service::Checkout,
        Service::Payments,
        Service::Users,
    ];

    /// `service.name`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Frontend => "frontend",
            Service::Checkout => "checkout",
            Service::Payments => "payments",
            Service::Users => "users",
        }
    }

    fn version(self) -> &'static str {
        match self {
            Service::Frontend => "1.8.2",
            Service::Checkout => "2.3.0",
            Service::Payments => "0.9.4",
            Service::Users => "1.2.7",
        }
    }

    fn host(self) -> &'static str {
        match self {
            Service::Frontend => "shop-frontend-7d9f8c-x2kq",
            Service::Checkout => "shop-checkout-5b6c4d-p9wz",
            Service::Payments => "shop-payments-6f7a9b-m4tn",
            Service::Users => "shop-users-84c2e1-h7rd",
        }
    }

    /// The instrumentation library, as each service's SDK would name it.
    fn scope(self) -> (&'static str, &'static str) {
        match self {
            Service::Frontend => ("@opentelemetry/instrumentation-http", "0.57.1"),
            Service::Checkout => ("io.opentelemetry.spring-webmvc-6.0", "2.10.0-alpha"),
            Service::Payments => ("opentelemetry.instrumentation.flask", "0.50b0"),
            Service::Users => (
                "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
                "0.58.0",
            ),
        }
    }

    fn internal_url(self) -> &'static str {
        match self {
            Service::Frontend => "http://frontend.shop.svc:8080",
            Service::Checkout => "http://checkout.shop.svc:8080",
            Service::Payments => "http://payments.shop.svc:8080",
            Service::Users => "http://users.shop.svc:8080",
        }
    }

    fn pod_ip(self) -> &'static str {
        match self {
            Service::Frontend => "10.42.0.17",
            Service::Checkout => "10.42.1.23",
            Service::Payments => "10.42.2.31",
            Service::Users => "10.42.3.12",
        }
    }
}

/// One customer of the shop: the personal data their requests carry.
struct Customer {
    user_id: &'static str,
    name: &'static str,
    email: &'static str,
    card: &'static str,
    card_compact: &'static str,
    ip: &'static str,
    user_agent: &'static str,
}

const CUSTOMERS: [Customer; 3] = [
    Customer {
        user_id: "u-48213",
        name: "Maria Garcia",
        email: EMAIL_MARIA,
        card: CARD_VISA,
        card_compact: CARD_VISA_COMPACT,
        ip: IPV4_MARIA,
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    },
    Customer {
        user_id: "u-10977",
        name: "John Smith",
        email: EMAIL_JOHN,
        card: CARD_MASTERCARD,
        card_compact: CARD_MASTERCARD_COMPACT,
        ip: IPV4_JOHN,
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    },
    Customer {
        user_id: "u-77310",
        name: "Li Wei",
        email: EMAIL_LI,
        card: CARD_AMEX,
        card_compact: CARD_AMEX,
        ip: IPV6_LI,
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    },
];

/// Bucket bounds of `http.server.request.duration`, in seconds (the semantic conventions'
/// recommendation).
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A time window in Unix nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: u64,
    end: u64,
}

impl Window {
    /// The part of the window between fractions `a` and `b` of it (`0 <= a < b <= 1`), so a
    /// child always lies inside its parent.
    fn part(self, a: f64, b: f64) -> Window {
        let len = (self.end - self.start) as f64;
        Window {
            start: self.start + (len * a) as u64,
            end: self.start + (len * b) as u64,
        }
    }

    fn seconds(self) -> f64 {
        (self.end - self.start) as f64 / 1e9
    }
}

/// The identity of a span that children hang from.
#[derive(Clone, Copy)]
struct Parent {
    span_id: [u8; 8],
    window: Window,
}

/// One `http.server.request.duration` / `http.server.requests` series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    service: Service,
    method: &'static str,
    route: &'static str,
    status: i64,
}

#[derive(Clone, Debug, Default)]
struct Series {
    count: u64,
    /// In nanoseconds: a sum of f64 seconds would print with 17 digits, which OTLP/JSON
    /// decoders do not all read back exactly.
    sum_ns: u64,
    min: f64,
    max: f64,
    buckets: [u64; DURATION_BUCKETS.len() + 1],
    /// The latest request, as the histogram's exemplar.
    exemplar: Option<Sample>,
}

/// One request kept as an exemplar.
#[derive(Clone, Copy, Debug)]
struct Sample {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    at: u64,
    seconds: f64,
    client: &'static str,
}

/// The trace being built.
struct TraceBuild {
    trace_id: [u8; 16],
    spans: Vec<(Service, Span)>,
}

/// Generates a small shop's telemetry: deterministic for a seed and a sequence of `now`s.
///
/// [`next_traces`](Self::next_traces) builds whole traces that end before `now` and queues
/// the log records their services wrote; [`next_logs`](Self::next_logs) returns those;
/// [`next_metrics`](Self::next_metrics) reports cumulative request counts, latency
/// histograms and connection-pool gauges over every trace generated so far.
pub struct Generator {
    rng: fastrand::Rng,
    /// Start of the cumulative metrics: the first `now` seen.
    start_ns: Option<u64>,
    pending_logs: Vec<(Service, LogRecord)>,
    series: BTreeMap<SeriesKey, Series>,
    config_logged: bool,
}

impl Generator {
    /// A generator whose output is a function of `seed` (and the `now`s it is given).
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: fastrand::Rng::with_seed(seed),
            start_ns: None,
            pending_logs: Vec::new(),
            series: BTreeMap::new(),
            config_logged: false,
        }
    }

    /// `n_traces` whole traces, each ending at or before `now`, one resource per service.
    pub fn next_traces(&mut self, n_traces: usize, now: SystemTime) -> ExportTraceServiceRequest {
        let now = self.clock(now);
        let mut spans: BTreeMap<Service, Vec<Span>> = BTreeMap::new();
        for _ in 0..n_traces {
            // Traces finish at different moments of the last second.
            let end = now - self.rng.u64(0..900_000_000);
            let trace = self.trace(end);
            for (service, span) in trace.spans {
                spans.entry(service).or_default().push(span);
            }
        }
        ExportTraceServiceRequest {
            resource_spans: spans
                .into_iter()
                .map(|(service, spans)| ResourceSpans {
                    resource: Some(resource(service)),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(scope(service)),
                        spans,
                        schema_url: SCHEMA_URL.into(),
                    }],
                    schema_url: SCHEMA_URL.into(),
                })
                .collect(),
        }
    }

    /// The log records written during the traces generated since the last call (with their
    /// `trace_id` and `span_id`), one resource per service.
    pub fn next_logs(&mut self) -> ExportLogsServiceRequest {
        let mut logs: BTreeMap<Service, Vec<LogRecord>> = BTreeMap::new();
        for (service, record) in self.pending_logs.drain(..) {
            logs.entry(service).or_default().push(record);
        }
        ExportLogsServiceRequest {
            resource_logs: logs
                .into_iter()
                .map(|(service, log_records)| ResourceLogs {
                    resource: Some(resource(service)),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(scope(service)),
                        log_records,
                        schema_url: SCHEMA_URL.into(),
                    }],
                    schema_url: SCHEMA_URL.into(),
                })
                .collect(),
        }
    }

    /// Cumulative metrics at `now` over every trace generated so far: `http.server.requests`
    /// (monotonic sum), `http.server.request.duration` (histogram with exemplars) and
    /// `db.client.connection.count` (gauge).
    pub fn next_metrics(&mut self, now: SystemTime) -> ExportMetricsServiceRequest {
        let now = self.clock(now);
        // The services started a minute before the first request seen.
        let start = self.start_ns.unwrap_or(now) - 60_000_000_000;
        let mut per_service: BTreeMap<Service, Vec<Metric>> = BTreeMap::new();
        for service in Service::ALL {
            let series: Vec<(&SeriesKey, &Series)> = self
                .series
                .iter()
                .filter(|(k, _)| k.service == service)
                .collect();
            let mut metrics = Vec::new();
            if !series.is_empty() {
                metrics.push(requests_metric(&series, start, now));
                metrics.push(duration_metric(&series, start, now));
            }
            if let Some(pool) = pool_name(service) {
                let used = self.rng.i64(1..12);
                let idle = 20 - used;
                metrics.push(pool_metric(pool, used, idle, now));
            }
            per_service.insert(service, metrics);
        }
        ExportMetricsServiceRequest {
            resource_metrics: per_service
                .into_iter()
                .map(|(service, metrics)| ResourceMetrics {
                    resource: Some(resource(service)),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(scope(service)),
                        metrics,
                        schema_url: SCHEMA_URL.into(),
                    }],
                    schema_url: SCHEMA_URL.into(),
                })
                .collect(),
        }
    }

    /// One tick of traffic: `n_traces` traces, then their logs, then (when `with_metrics`)
    /// the metrics, each as a [`Batch`]; empty requests are left out.
    pub fn tick(&mut self, n_traces: usize, now: SystemTime, with_metrics: bool) -> Vec<Batch> {
        let mut batches = Vec::with_capacity(3);
        let traces = self.next_traces(n_traces, now);
        if !traces.resource_spans.is_empty() {
            batches.push(Batch::Traces(traces));
        }
        let logs = self.next_logs();
        if !logs.resource_logs.is_empty() {
            batches.push(Batch::Logs(logs));
        }
        if with_metrics {
            batches.push(Batch::Metrics(self.next_metrics(now)));
        }
        batches
    }

    fn clock(&mut self, now: SystemTime) -> u64 {
        let ns = now
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
            // Room for a trace's length before `now`.
            .max(120_000_000_000);
        self.start_ns.get_or_insert(ns);
        ns
    }

    // ---- ids, randomness ----

    /// A W3C-valid trace id: 16 random bytes, not all zero.
    fn trace_id(&mut self) -> [u8; 16] {
        loop {
            let id = self.rng.u128(..).to_be_bytes();
            if id != [0; 16] {
                return id;
            }
        }
    }

    /// A W3C-valid span id: 8 random bytes, not all zero.
    fn span_id(&mut self) -> [u8; 8] {
        loop {
            let id = self.rng.u64(..).to_be_bytes();
            if id != [0; 8] {
                return id;
            }
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.f64() < p
    }

    /// A request duration around `typical_ms`: a skewed spread, and now and then a slow
    /// outlier (lock waits, a cold cache, provider retries) so p99 stands apart from p50.
    fn latency_ns(&mut self, typical_ms: f64) -> u64 {
        let spread = 0.6 + self.rng.f64() * 0.8 + self.rng.f64() * self.rng.f64();
        let outlier = if self.chance(0.04) {
            6.0 + self.rng.f64() * 14.0
        } else {
            1.0
        };
        (typical_ms * spread * outlier * 1e6) as u64
    }

    fn customer(&mut self) -> &'static Customer {
        &CUSTOMERS[self.rng.usize(..CUSTOMERS.len())]
    }

    // ---- traces ----

    fn trace(&mut self, end: u64) -> TraceBuild {
        let mut t = TraceBuild {
            trace_id: self.trace_id(),
            spans: Vec::new(),
        };
        let customer = self.customer();
        match self.rng.u32(0..100) {
            0..40 => self.checkout(&mut t, customer, end),
            40..65 => self.login(&mut t, customer, end),
            _ => self.account(&mut t, customer, end),
        }
        t
    }

    /// Adds a span; returns it as a parent for children.
    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        t: &mut TraceBuild,
        service: Service,
        parent: Option<Parent>,
        name: impl Into<String>,
        kind: SpanKind,
        window: Window,
        attributes: Vec<KeyValue>,
    ) -> Parent {
        let span_id = self.span_id();
        t.spans.push((
            service,
            Span {
                trace_id: t.trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: parent.map(|p| p.span_id.to_vec()).unwrap_or_default(),
                // W3C trace flags: sampled.
                flags: 0x101,
                name: name.into(),
                kind: kind as i32,
                start_time_unix_nano: window.start,
                end_time_unix_nano: window.end,
                attributes,
                ..Default::default()
            },
        ));
        Parent { span_id, window }
    }

    /// The last span added to `t` (to set its status or add events).
    fn last(t: &mut TraceBuild) -> &mut Span {
        &mut t.spans.last_mut().expect("a span was added").1
    }

    fn fail(span: &mut Span, status: &str, ty: &str, message: &str, stack: &str) {
        span.status = Some(Status {
            code: StatusCode::Error as i32,
            message: message.into(),
        });
        span.events.push(Event {
            time_unix_nano: span.end_time_unix_nano.saturating_sub(1_000),
            name: "exception".into(),
            attributes: vec![
                s("exception.type", ty),
                s("exception.message", message),
                s("exception.stacktrace", stack),
                b("exception.escaped", true),
            ],
            ..Default::default()
        });
        if !status.is_empty() {
            span.attributes.push(s("error.type", status));
        }
    }

    fn log(
        &mut self,
        service: Service,
        t: &TraceBuild,
        at: Parent,
        severity: Severity,
        body: impl Into<String>,
        attributes: Vec<KeyValue>,
    ) {
        let time = at.window.start + (at.window.end - at.window.start) / 2;
        self.pending_logs.push((
            service,
            LogRecord {
                time_unix_nano: time,
                observed_time_unix_nano: time + 2_000_000,
                severity_number: severity.number(),
                severity_text: severity.text().into(),
                body: Some(sv(body.into())),
                attributes,
                flags: 1,
                trace_id: t.trace_id.to_vec(),
                span_id: at.span_id.to_vec(),
                ..Default::default()
            },
        ));
    }

    /// `frontend` SERVER for a browser request: the attributes every entry span carries.
    #[allow(clippy::too_many_arguments)]
    fn entry_span(
        &mut self,
        t: &mut TraceBuild,
        c: &Customer,
        method: &'static str,
        route: &'static str,
        query: String,
        status: i64,
        window: Window,
    ) -> Parent {
        let attrs = vec![
            s("http.request.method", method),
            s("http.route", route),
            s("url.scheme", "https"),
            s("url.path", route),
            s("url.query", &query),
            s(
                "url.full",
                &format!("https://shop.example.com{route}?{query}"),
            ),
            s("server.address", "shop.example.com"),
            i("server.port", 443),
            s("client.address", c.ip),
            s("network.peer.address", c.ip),
            i(
                "network.peer.port",
                51_000 + i64::from(self.rng.u16(0..9000)),
            ),
            s("network.protocol.version", "2"),
            s("user_agent.original", c.user_agent),
            a(
                "http.request.header.authorization",
                &[&format!("Bearer {JWT}")],
            ),
            a(
                "http.request.header.cookie",
                &[&format!("sid={SESSION_ID}; theme=dark")],
            ),
            a("http.request.header.x-forwarded-for", &[c.ip]),
            i("http.response.status_code", status),
        ];
        let p = self.span(
            t,
            Service::Frontend,
            None,
            format!("{method} {route}"),
            SpanKind::Server,
            window,
            attrs,
        );
        if status >= 500 {
            Self::last(t).status = Some(Status {
                code: StatusCode::Error as i32,
                message: String::new(),
            });
        }
        self.record(
            Service::Frontend,
            method,
            route,
            status,
            p,
            t.trace_id,
            c.ip,
        );
        let level = if status >= 500 {
            Severity::Error
        } else {
            Severity::Info
        };
        let ms = (p.window.end - p.window.start) / 1_000_000;
        self.log(
            Service::Frontend,
            t,
            p,
            level,
            format!(
                "{} - \"{method} {route}?{query} HTTP/2\" {status} {ms}ms \"{}\"",
                c.ip, c.user_agent
            ),
            vec![
                s("client.address", c.ip),
                s("http.route", route),
                i("http.response.status_code", status),
            ],
        );
        if !self.config_logged {
            // A service that dumps its environment at start-up: a classic leak.
            self.config_logged = true;
            self.log(
                Service::Frontend,
                t,
                p,
                Severity::Info,
                format!(
                    "config loaded: NODE_ENV=production GITHUB_TOKEN={GITHUB_TOKEN} SLACK_BOT_TOKEN={SLACK_TOKEN} STRIPE_SECRET_KEY={STRIPE_KEY}"
                ),
                vec![s("code.function", "loadConfig")],
            );
        }
        p
    }

    /// A CLIENT span from `from` to `to` and the SERVER span it causes, inside `window`.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        t: &mut TraceBuild,
        from: Service,
        parent: Parent,
        to: Service,
        method: &'static str,
        route: &'static str,
        path: &str,
        query: Option<String>,
        status: i64,
        window: Window,
        mut server_attrs: Vec<KeyValue>,
    ) -> Parent {
        let host = to.internal_url();
        let url = match &query {
            Some(q) => format!("{host}{path}?{q}"),
            None => format!("{host}{path}"),
        };
        let client = self.span(
            t,
            from,
            Some(parent),
            method,
            SpanKind::Client,
            window,
            vec![
                s("http.request.method", method),
                s("url.full", &url),
                s("server.address", &host[7..host.len() - 5]),
                i("server.port", 8080),
                a("http.request.header.x-api-key", &[INTERNAL_API_KEY]),
                i("http.response.status_code", status),
            ],
        );
        if status >= 500 {
            Self::last(t).status = Some(Status {
                code: StatusCode::Error as i32,
                message: String::new(),
            });
        }
        // The server sees the request a little after the client sent it.
        let mut attrs = vec![
            s("http.request.method", method),
            s("http.route", route),
            s("url.scheme", "http"),
            s("url.path", path),
            s("client.address", from.pod_ip()),
            s("network.peer.address", from.pod_ip()),
            s("user_agent.original", "shop-internal/1.0"),
            i("http.response.status_code", status),
        ];
        if let Some(q) = query {
            attrs.push(s("url.query", &q));
        }
        attrs.append(&mut server_attrs);
        let server = self.span(
            t,
            to,
            Some(client),
            format!("{method} {route}"),
            SpanKind::Server,
            window.part(0.04, 0.96),
            attrs,
        );
        self.record(to, method, route, status, server, t.trace_id, from.pod_ip());
        server
    }

    #[allow(clippy::too_many_arguments)]
    fn postgres(
        &mut self,
        t: &mut TraceBuild,
        service: Service,
        parent: Parent,
        window: Window,
        operation: &str,
        table: &str,
        sql: String,
        legacy_name: bool,
    ) -> Parent {
        // Older instrumentations name the span after the whole statement.
        let name = if legacy_name {
            sql.clone()
        } else {
            format!("{operation} {table}")
        };
        self.span(
            t,
            service,
            Some(parent),
            name,
            SpanKind::Client,
            window,
            vec![
                s("db.system.name", "postgresql"),
                s("db.system", "postgresql"),
                s("db.namespace", "shop"),
                s("db.operation.name", operation),
                s("db.collection.name", table),
                s("db.query.text", &sql),
                s("db.statement", &sql),
                s("server.address", "pg-primary.shop.svc"),
                i("server.port", 5432),
            ],
        )
    }

    fn redis(
        &mut self,
        t: &mut TraceBuild,
        service: Service,
        parent: Parent,
        window: Window,
        command: String,
    ) -> Parent {
        let op = command.split(' ').next().unwrap_or("").to_owned();
        self.span(
            t,
            service,
            Some(parent),
            op.clone(),
            SpanKind::Client,
            window,
            vec![
                s("db.system.name", "redis"),
                s("db.system", "redis"),
                s("db.operation.name", &op),
                s("db.namespace", "0"),
                s("db.query.text", &command),
                s("db.statement", &command),
                s("server.address", "redis.shop.svc"),
                i("server.port", 6379),
            ],
        )
    }

    /// Feeds the request metrics from a SERVER span.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        service: Service,
        method: &'static str,
        route: &'static str,
        status: i64,
        span: Parent,
        trace_id: [u8; 16],
        client: &'static str,
    ) {
        let secs = span.window.seconds();
        let e = self
            .series
            .entry(SeriesKey {
                service,
                method,
                route,
                status,
            })
            .or_default();
        if e.count == 0 || secs < e.min {
            e.min = secs;
        }
        if secs > e.max {
            e.max = secs;
        }
        e.count += 1;
        e.sum_ns += span.window.end - span.window.start;
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(DURATION_BUCKETS.len());
        e.buckets[bucket] += 1;
        e.exemplar = Some(Sample {
            trace_id,
            span_id: span.span_id,
            at: span.window.end,
            seconds: secs,
            client,
        });
    }

    /// `GET /checkout`: frontend ▸ checkout (cart, order insert, receipt upload) ▸ payments
    /// (card lookup, provider charge).
    fn checkout(&mut self, t: &mut TraceBuild, c: &'static Customer, end: u64) {
        let d = self.latency_ns(180.0);
        let root_w = Window {
            start: end - d,
            end,
        };
        let provider_fails = self.chance(0.05);
        let receipt_fails = !provider_fails && self.chance(0.03);
        let db_down = !provider_fails && !receipt_fails && self.chance(0.02);
        let status = if provider_fails {
            502
        } else if receipt_fails || db_down {
            500
        } else {
            200
        };
        let query = format!("session={SESSION_ID}&email={}&promo=SPRING24", c.email);
        let root = self.entry_span(t, c, "GET", "/checkout", query, status, root_w);

        let body = format!(
            r#"{{"cart_id":"c-{}","email":"{}","card":{{"number":"{}","exp":"12/27","holder":"{}"}},"refund_iban":"{IBAN}"}}"#,
            self.rng.u32(1000..9999),
            c.email,
            c.card,
            c.name
        );
        let co = self.call(
            t,
            Service::Frontend,
            root,
            Service::Checkout,
            "POST",
            "/api/orders",
            "/api/orders",
            Some(format!("customer_email={}", c.email)),
            status,
            root_w.part(0.06, 0.97),
            vec![s("http.request.body", &body)],
        );
        let w = co.window;
        self.redis(
            t,
            Service::Checkout,
            co,
            w.part(0.01, 0.04),
            format!("HGETALL cart:{}", c.user_id),
        );
        if db_down {
            let db = self.postgres(
                t,
                Service::Checkout,
                co,
                w.part(0.05, 0.95),
                "INSERT",
                "orders",
                insert_order(c),
                false,
            );
            let msg = format!(
                "connection to \"postgresql://payments:{DB_PASSWORD}@pg-primary.shop.svc:5432/shop\" failed: timeout expired after 5000ms"
            );
            Self::fail(
                Self::last(t),
                "",
                "org.postgresql.util.PSQLException",
                &msg,
                &java_stack(
                    "org.postgresql.util.PSQLException",
                    &msg,
                    "OrderRepository.insert",
                ),
            );
            Self::fail(
                Self::last_server(t, Service::Checkout),
                "500",
                "org.postgresql.util.PSQLException",
                &msg,
                "",
            );
            self.log(
                Service::Checkout,
                t,
                db,
                Severity::Error,
                format!("order insert failed: {msg}"),
                vec![
                    s("exception.type", "org.postgresql.util.PSQLException"),
                    s("exception.message", &msg),
                ],
            );
            return;
        }
        let db = self.postgres(
            t,
            Service::Checkout,
            co,
            w.part(0.05, 0.2),
            "INSERT",
            "orders",
            insert_order(c),
            false,
        );
        self.log(
            Service::Checkout,
            t,
            db,
            Severity::Info,
            format!(
                r#"{{"event":"order_created","customer":"{}","card":"{}","amount":42.5,"currency":"EUR","client_ip":"{}"}}"#,
                c.email, c.card, c.ip
            ),
            vec![s("enduser.id", c.user_id), s("event.name", "order_created")],
        );
        let s3 = self.span(
            t,
            Service::Checkout,
            Some(co),
            "S3.PutObject",
            SpanKind::Client,
            w.part(0.21, 0.32),
            vec![
                s("rpc.system", "aws-api"),
                s("rpc.service", "S3"),
                s("rpc.method", "PutObject"),
                s("aws.s3.bucket", "shop-receipts"),
                s("aws.s3.key", &format!("receipts/{}/o-1042.pdf", c.user_id)),
                s("server.address", "shop-receipts.s3.eu-west-1.amazonaws.com"),
            ],
        );
        if receipt_fails {
            let msg = format!(
                "InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records. (config: aws_access_key_id={AWS_ACCESS_KEY_ID} aws_secret_access_key={AWS_SECRET_ACCESS_KEY})"
            );
            Self::fail(
                Self::last(t),
                "",
                "software.amazon.awssdk.services.s3.model.S3Exception",
                &msg,
                &java_stack(
                    "software.amazon.awssdk.services.s3.model.S3Exception",
                    &msg,
                    "ReceiptStore.upload",
                ),
            );
            Self::fail(
                Self::last_server(t, Service::Checkout),
                "500",
                "software.amazon.awssdk.services.s3.model.S3Exception",
                &msg,
                "",
            );
            self.log(
                Service::Checkout,
                t,
                s3,
                Severity::Error,
                format!("receipt upload failed: {msg}"),
                vec![s("exception.type", "S3Exception")],
            );
            return;
        }
        let pay_body = format!(
            r#"{{"amount":4250,"currency":"EUR","card_number":"{}","cardholder":"{}","email":"{}"}}"#,
            c.card_compact, c.name, c.email
        );
        let pay = self.call(
            t,
            Service::Checkout,
            co,
            Service::Payments,
            "POST",
            "/v1/charges",
            "/v1/charges",
            None,
            status,
            w.part(0.34, 0.98),
            vec![s("http.request.body", &pay_body)],
        );
        let pw = pay.window;
        self.postgres(
            t,
            Service::Payments,
            pay,
            pw.part(0.02, 0.12),
            "SELECT",
            "payment_methods",
            format!(
                "SELECT id, status FROM payment_methods WHERE card_number = '{}' AND customer_email = '{}' LIMIT 1",
                c.card, c.email
            ),
            false,
        );
        let provider = self.span(
            t,
            Service::Payments,
            Some(pay),
            "POST",
            SpanKind::Client,
            pw.part(0.14, 0.97),
            vec![
                s("http.request.method", "POST"),
                s("url.full", &format!("https://api.paymentprovider.example/v1/charges?customer_email={}&key={STRIPE_KEY}", c.email)),
                s("server.address", "api.paymentprovider.example"),
                i("server.port", 443),
                s("peer.service", "payment-provider"),
                a("http.request.header.authorization", &[&format!("Bearer {STRIPE_KEY}")]),
                i("http.response.status_code", if provider_fails { 502 } else { 200 }),
            ],
        );
        if provider_fails {
            let msg = format!(
                "charge failed: provider answered 502 Bad Gateway for card {} (request authorized with {STRIPE_KEY})",
                c.card
            );
            let stack = format!(
                "Traceback (most recent call last):\n  File \"/app/payments/provider.py\", line 88, in charge\n    resp.raise_for_status()\npayments.provider.ProviderError: {msg}"
            );
            Self::fail(
                Self::last(t),
                "502",
                "payments.provider.ProviderError",
                &msg,
                &stack,
            );
            Self::fail(
                Self::last_server(t, Service::Payments),
                "502",
                "payments.provider.ProviderError",
                &msg,
                &stack,
            );
            self.log(
                Service::Payments,
                t,
                provider,
                Severity::Error,
                format!("payment declined upstream for {}: {msg}", c.email),
                vec![
                    s("exception.type", "ProviderError"),
                    s("exception.message", &msg),
                    s("client.address", c.ip),
                ],
            );
            self.log(
                Service::Payments,
                t,
                provider,
                Severity::Warn,
                format!("alerting #payments-oncall via Slack (token {SLACK_TOKEN})"),
                vec![s("code.function", "notify_oncall")],
            );
        } else {
            self.log(
                Service::Payments,
                t,
                provider,
                Severity::Info,
                format!(
                    "charge authorized: card={} email={} amount=42.50 EUR",
                    c.card, c.email
                ),
                vec![s("enduser.id", c.user_id), s("payment.amount", "42.50")],
            );
        }
    }

    /// `POST /login`: frontend ▸ users (user lookup by email, session stored in Redis).
    fn login(&mut self, t: &mut TraceBuild, c: &'static Customer, end: u64) {
        let d = self.latency_ns(90.0);
        let root_w = Window {
            start: end - d,
            end,
        };
        let wrong_password = self.chance(0.10);
        let jwt_error = !wrong_password && self.chance(0.03);
        let status = if wrong_password {
            401
        } else if jwt_error {
            500
        } else {
            200
        };
        let query = format!(
            "redirect=%2Faccount&utm_source=newsletter&email={}",
            c.email
        );
        let root = self.entry_span(t, c, "POST", "/login", query, status, root_w);
        let body = format!(
            r#"{{"email":"{}","password":"{LOGIN_PASSWORD}","remember_me":true}}"#,
            c.email
        );
        let mut attrs = vec![s("http.request.body", &body)];
        if status == 200 {
            attrs.push(s(
                "http.response.body",
                &format!(r#"{{"token":"{JWT}","user_id":"{}"}}"#, c.user_id),
            ));
        }
        let users = self.call(
            t,
            Service::Frontend,
            root,
            Service::Users,
            "POST",
            "/api/v1/login",
            "/api/v1/login",
            None,
            status,
            root_w.part(0.05, 0.97),
            attrs,
        );
        let w = users.window;
        let db = self.postgres(
            t,
            Service::Users,
            users,
            w.part(0.03, 0.45),
            "SELECT",
            "users",
            format!(
                "SELECT id, password_hash, mfa_enabled FROM users WHERE email = '{}' AND password_hash = crypt('{LOGIN_PASSWORD}', password_hash) AND active = true",
                c.email
            ),
            true,
        );
        if wrong_password {
            self.log(
                Service::Users,
                t,
                db,
                Severity::Warn,
                format!(
                    "login failed for {} from {}: invalid password",
                    c.email, c.ip
                ),
                vec![s("enduser.id", c.user_id), s("client.address", c.ip)],
            );
            return;
        }
        let r = self.redis(
            t,
            Service::Users,
            users,
            w.part(0.5, 0.6),
            format!("SET session:{} {JWT} EX 3600", c.user_id),
        );
        if jwt_error {
            let msg = format!(
                "jwt.exceptions.InvalidSignatureError: signature verification failed for token {JWT}"
            );
            let stack = format!(
                "goroutine 91 [running]:\nmain.(*Sessions).Issue(...)\n\t/src/users/session.go:112\npanic: {msg}"
            );
            Self::fail(
                Self::last_server(t, Service::Users),
                "500",
                "jwt.InvalidSignatureError",
                &msg,
                &stack,
            );
            self.log(
                Service::Users,
                t,
                r,
                Severity::Error,
                msg,
                vec![s("exception.type", "jwt.InvalidSignatureError")],
            );
            return;
        }
        self.log(
            Service::Users,
            t,
            r,
            Severity::Info,
            format!(
                "user {} logged in from {}, session token {JWT}",
                c.email, c.ip
            ),
            vec![s("enduser.id", c.user_id), s("user.email", c.email)],
        );
    }

    /// `GET /account` (or `PUT` to update it): frontend ▸ users (cache, database, and for
    /// some accounts the GitHub API).
    fn account(&mut self, t: &mut TraceBuild, c: &'static Customer, end: u64) {
        let update = self.chance(0.3);
        let d = self.latency_ns(if update { 70.0 } else { 45.0 });
        let root_w = Window {
            start: end - d,
            end,
        };
        let (method, route) = if update {
            ("PUT", "/account")
        } else {
            ("GET", "/account")
        };
        let query = format!("session={SESSION_ID}");
        let root = self.entry_span(t, c, method, route, query, 200, root_w);
        let mut attrs = Vec::new();
        if update {
            attrs.push(s(
                "http.request.body",
                &format!(
                    r#"{{"name":"{}","ssn":"{SSN}","iban":"{IBAN}","email":"{}"}}"#,
                    c.name, c.email
                ),
            ));
        }
        let users = self.call(
            t,
            Service::Frontend,
            root,
            Service::Users,
            method,
            "/api/v1/users/{id}",
            &format!("/api/v1/users/{}", c.user_id),
            None,
            200,
            root_w.part(0.05, 0.96),
            attrs,
        );
        let w = users.window;
        self.redis(
            t,
            Service::Users,
            users,
            w.part(0.02, 0.08),
            format!("GET user:{}", c.user_id),
        );
        let db = if update {
            self.postgres(
                t,
                Service::Users,
                users,
                w.part(0.1, 0.6),
                "UPDATE",
                "users",
                format!("UPDATE users SET ssn = '{SSN}', iban = '{IBAN_COMPACT}', email = '{}' WHERE id = 48213", c.email),
                false,
            )
        } else {
            self.postgres(
                t,
                Service::Users,
                users,
                w.part(0.1, 0.6),
                "SELECT",
                "users",
                format!("SELECT id, name, email, last_login_ip FROM users WHERE email = '{}' OR last_login_ip = '{}'", c.email, c.ip),
                false,
            )
        };
        if update {
            self.log(
                Service::Users,
                t,
                db,
                Severity::Info,
                format!("profile updated for {}: ssn={SSN} iban={IBAN}", c.email),
                vec![s("enduser.id", c.user_id)],
            );
        }
        if self.chance(0.3) {
            self.span(
                t,
                Service::Users,
                Some(users),
                "GET",
                SpanKind::Client,
                w.part(0.62, 0.95),
                vec![
                    s("http.request.method", "GET"),
                    s(
                        "url.full",
                        &format!("https://api.github.com/user?access_token={GITHUB_TOKEN}"),
                    ),
                    s("server.address", "api.github.com"),
                    i("server.port", 443),
                    a(
                        "http.request.header.authorization",
                        &[&format!("token {GITHUB_TOKEN}")],
                    ),
                    i("http.response.status_code", 200),
                ],
            );
        }
    }

    /// The latest SERVER span of `service` in the trace (the one whose request failed).
    fn last_server(t: &mut TraceBuild, service: Service) -> &mut Span {
        &mut t
            .spans
            .iter_mut()
            .rev()
            .find(|(s, span)| *s == service && span.kind == SpanKind::Server as i32)
            .expect("the service has a server span")
            .1
    }
}

fn insert_order(c: &Customer) -> String {
    format!(
        "INSERT INTO orders (customer_email, card_number, amount, refund_iban, client_ip) VALUES ('{}', '{}', 42.50, '{IBAN_COMPACT}', '{}') RETURNING id",
        c.email, c.card_compact, c.ip
    )
}

fn java_stack(ty: &str, msg: &str, at: &str) -> String {
    format!(
        "{ty}: {msg}\n\tat com.shop.checkout.{at}(Unknown Source)\n\tat com.shop.checkout.OrderController.create(OrderController.java:57)\n\tat java.base/java.lang.Thread.run(Thread.java:1583)"
    )
}

#[derive(Clone, Copy)]
enum Severity {
    Info,
    Warn,
    Error,
}

impl Severity {
    fn number(self) -> i32 {
        match self {
            Severity::Info => 9,
            Severity::Warn => 13,
            Severity::Error => 17,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
        }
    }
}

const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

/// The connection pool each service holds, by the name its driver reports. The payments
/// driver names its pool after the connection string, password included.
fn pool_name(service: Service) -> Option<String> {
    match service {
        Service::Frontend => None,
        Service::Checkout => Some("checkout-pg-pool".into()),
        Service::Payments => Some(format!(
            "postgresql://payments:{DB_PASSWORD}@pg-primary.shop.svc:5432/payments"
        )),
        Service::Users => Some("users-pg-pool".into()),
    }
}

fn resource(service: Service) -> Resource {
    Resource {
        attributes: vec![
            s("service.name", service.name()),
            s("service.namespace", "shop"),
            s("service.version", service.version()),
            s("deployment.environment.name", "demo"),
            s("host.name", service.host()),
            s("telemetry.sdk.name", "opentelemetry"),
        ],
        ..Default::default()
    }
}

fn scope(service: Service) -> InstrumentationScope {
    let (name, version) = service.scope();
    InstrumentationScope {
        name: name.into(),
        version: version.into(),
        ..Default::default()
    }
}

fn series_attrs(k: &SeriesKey) -> Vec<KeyValue> {
    vec![
        s("http.request.method", k.method),
        s("http.route", k.route),
        i("http.response.status_code", k.status),
        s(
            "url.scheme",
            if k.service == Service::Frontend {
                "https"
            } else {
                "http"
            },
        ),
    ]
}

fn requests_metric(series: &[(&SeriesKey, &Series)], start: u64, now: u64) -> Metric {
    Metric {
        name: "http.server.requests".into(),
        description: "HTTP server requests handled".into(),
        unit: "{request}".into(),
        data: Some(Data::Sum(Sum {
            data_points: series
                .iter()
                .map(|(k, v)| NumberDataPoint {
                    attributes: series_attrs(k),
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    value: Some(number_data_point::Value::AsInt(v.count as i64)),
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn duration_metric(series: &[(&SeriesKey, &Series)], start: u64, now: u64) -> Metric {
    Metric {
        name: "http.server.request.duration".into(),
        description: "Duration of HTTP server requests".into(),
        unit: "s".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: series
                .iter()
                .map(|(k, v)| HistogramDataPoint {
                    attributes: series_attrs(k),
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    count: v.count,
                    sum: Some(v.sum_ns as f64 / 1e9),
                    bucket_counts: v.buckets.to_vec(),
                    explicit_bounds: DURATION_BUCKETS.to_vec(),
                    exemplars: v
                        .exemplar
                        .iter()
                        .map(|x| Exemplar {
                            // An SDK that keeps every attribute the view filtered out.
                            filtered_attributes: vec![s("client.address", x.client)],
                            time_unix_nano: x.at,
                            span_id: x.span_id.to_vec(),
                            trace_id: x.trace_id.to_vec(),
                            value: Some(exemplar::Value::AsDouble(x.seconds)),
                        })
                        .collect(),
                    min: Some(v.min),
                    max: Some(v.max),
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}

fn pool_metric(pool: String, used: i64, idle: i64, now: u64) -> Metric {
    let point = |state: &str, v: i64| NumberDataPoint {
        attributes: vec![
            s("db.client.connection.pool.name", &pool),
            s("db.client.connection.state", state),
        ],
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsInt(v)),
        ..Default::default()
    };
    Metric {
        name: "db.client.connection.count".into(),
        description: "Connections in the pool, by state".into(),
        unit: "{connection}".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![point("used", used), point("idle", idle)],
        })),
        ..Default::default()
    }
}

fn sv(v: String) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(v)),
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

fn i(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

fn b(key: &str, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

/// A string-array attribute, as HTTP header attributes are.
fn a(key: &str, values: &[&str]) -> KeyValue {
    kv(
        key,
        Value::ArrayValue(ArrayValue {
            values: values.iter().map(|v| sv((*v).into())).collect(),
        }),
    )
}
