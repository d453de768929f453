//! A realistic OTLP trace workload, shared by `benches/redact.rs` and the agent's load
//! generator (`crates/scrim-agent/examples/otlp_load.rs`, which includes this file by path).
//!
//! A request holds `spans` spans from one service: per trace, an HTTP server span and a mix
//! of child spans (database client with SQL, outgoing HTTP client, cache, internal). The
//! attributes are the ones OpenTelemetry instrumentations really set. About 5% of the
//! values carry a planted secret (an email in a query string, a card number in SQL, a token
//! in a header, a password in a JSON body, an email in an exception). Deterministic: the
//! same `seed` gives the same bytes.
#![allow(dead_code)]

use scrim_otlp::proto::any_value::Value;
use scrim_otlp::proto::{
    AnyValue, ArrayValue, ExportTraceServiceRequest, InstrumentationScope, KeyValue, Resource,
    ResourceSpans, ScopeSpans, Span, Status, span,
};

/// A small xorshift generator: no dependency, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True about `percent`% of the time.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn s(key: &str, v: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn i(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

fn strings(key: &str, vs: &[String]) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: vs
                    .iter()
                    .map(|v| AnyValue {
                        value: Some(Value::StringValue(v.clone())),
                    })
                    .collect(),
            })),
        }),
        ..Default::default()
    }
}

const ROUTES: &[&str] = &[
    "/api/orders/{id}",
    "/api/cart",
    "/api/users/{id}/profile",
    "/checkout",
    "/api/search",
    "/health",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
];
const TABLES: &[&str] = &["orders", "users", "cart_items", "products", "payments"];

/// One request of `spans` spans (rounded to whole traces is not needed: the last trace
/// may be cut short).
pub fn trace_request(spans: usize, seed: u64) -> ExportTraceServiceRequest {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::with_capacity(spans);
    let mut trace = 0u64;
    while out.len() < spans {
        trace += 1;
        let trace_id: Vec<u8> = [rng.next().to_be_bytes(), rng.next().to_be_bytes()].concat();
        let root_id = rng.next().to_be_bytes().to_vec();
        let start = 1_732_400_000_000_000_000u64 + trace * 1_000_000;
        let route = rng.pick(ROUTES);
        let id = rng.below(1_000_000);
        let path = route.replace("{id}", &id.to_string());
        let mut query = format!("page={}&sort=desc", rng.below(20));
        if rng.chance(5) {
            query.push_str("&email=jane.doe@example.com");
        }
        let status = if rng.chance(3) { 500 } else { 200 };
        let mut attrs = vec![
            s(
                "http.request.method",
                if rng.chance(70) { "GET" } else { "POST" },
            ),
            s("url.scheme", "https"),
            s("url.path", path.clone()),
            s("url.query", query.clone()),
            s(
                "url.full",
                format!("https://shop.example.com{path}?{query}"),
            ),
            s("http.route", route),
            i("http.response.status_code", status),
            s("server.address", "shop.example.com"),
            i("server.port", 443),
            s(
                "client.address",
                format!("203.0.{}.{}", rng.below(256), rng.below(256)),
            ),
            s("user_agent.original", rng.pick(AGENTS)),
            s("network.protocol.version", "1.1"),
        ];
        if rng.chance(5) {
            attrs.push(strings(
                "http.request.header.authorization",
                &["Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U".into()],
            ));
        }
        if rng.chance(5) {
            attrs.push(s(
                "http.request.body",
                r#"{"username":"jane","password":"hunter2!","remember":true}"#,
            ));
        }
        if rng.chance(30) {
            attrs.push(s("enduser.id", format!("user-{}", rng.below(100_000))));
        }
        let mut events = Vec::new();
        if status == 500 {
            let message = if rng.chance(50) {
                "payment declined for jane.doe@example.com".to_string()
            } else {
                format!("timeout after {}ms", rng.below(5000))
            };
            events.push(span::Event {
                time_unix_nano: start + 900_000,
                name: "exception".into(),
                attributes: vec![
                    s("exception.type", "PaymentError"),
                    s("exception.message", message),
                    s(
                        "exception.stacktrace",
                        "PaymentError: declined\n  at charge (/app/src/payments.js:118:11)\n  at process (/app/src/checkout.js:42:5)",
                    ),
                ],
                dropped_attributes_count: 0,
            });
        }
        out.push(Span {
            trace_id: trace_id.clone(),
            span_id: root_id.clone(),
            name: format!("{} {route}", if status == 500 { "POST" } else { "GET" }),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1_000_000,
            attributes: attrs,
            events,
            status: Some(Status {
                message: String::new(),
                code: if status == 500 { 2 } else { 0 },
            }),
            ..Default::default()
        });
        // Children: 2 to 6 spans, mostly database.
        let children = 2 + rng.below(5);
        for c in 0..children {
            if out.len() >= spans {
                break;
            }
            let child_start = start + 10_000 * (c + 1);
            let (name, kind, attrs) = match rng.below(10) {
                0..=5 => {
                    let table = rng.pick(TABLES);
                    let sql = if rng.chance(5) {
                        format!(
                            "UPDATE {table} SET card_number = '4111111111111111', holder = 'Jane Doe' WHERE id = {}",
                            rng.below(100_000)
                        )
                    } else if rng.chance(50) {
                        format!(
                            "SELECT id, status, total_cents, created_at FROM {table} WHERE customer_id = {} AND status IN ('paid', 'shipped') ORDER BY created_at DESC LIMIT 20",
                            rng.below(100_000)
                        )
                    } else {
                        format!("SELECT * FROM {table} WHERE id = $1")
                    };
                    (
                        format!("SELECT {table}"),
                        span::SpanKind::Client,
                        vec![
                            s("db.system.name", "postgresql"),
                            s("db.namespace", "shop"),
                            s("db.operation.name", "SELECT"),
                            s("db.collection.name", table),
                            s("db.query.text", sql),
                            s("server.address", "db.internal"),
                            i("server.port", 5432),
                        ],
                    )
                }
                6 | 7 => {
                    let mut url = format!(
                        "https://payments.example.net/v1/charges/{}",
                        rng.below(1_000_000)
                    );
                    if rng.chance(5) {
                        url.push_str("?api_key=sk_live_51HxYzAbCdEfGhIjKlMnOpQr");
                    }
                    (
                        "POST".to_string(),
                        span::SpanKind::Client,
                        vec![
                            s("http.request.method", "POST"),
                            s("url.full", url),
                            s("server.address", "payments.example.net"),
                            i("server.port", 443),
                            i("http.response.status_code", 201),
                        ],
                    )
                }
                8 => (
                    "GET".to_string(),
                    span::SpanKind::Client,
                    vec![
                        s("db.system.name", "redis"),
                        s(
                            "db.query.text",
                            format!("GET session:{}", rng.below(1_000_000)),
                        ),
                        s("server.address", "cache.internal"),
                        i("server.port", 6379),
                    ],
                ),
                _ => {
                    let note = if rng.chance(5) {
                        "notified jane.doe@example.com".to_string()
                    } else {
                        format!("rendered {} items", rng.below(50))
                    };
                    (
                        "render".to_string(),
                        span::SpanKind::Internal,
                        vec![s("app.template", "order.html"), s("app.note", note)],
                    )
                }
            };
            out.push(Span {
                trace_id: trace_id.clone(),
                span_id: rng.next().to_be_bytes().to_vec(),
                parent_span_id: root_id.clone(),
                name,
                kind: kind as i32,
                start_time_unix_nano: child_start,
                end_time_unix_nano: child_start + 5_000,
                attributes: attrs,
                status: Some(Status::default()),
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "checkout"),
                    s("service.version", "2.14.1"),
                    s("deployment.environment.name", "production"),
                    s("host.name", "checkout-7f9c6d5b8-x2kqp"),
                    s("telemetry.sdk.name", "opentelemetry"),
                    s("telemetry.sdk.language", "python"),
                    s("telemetry.sdk.version", "1.45.2"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.flask".into(),
                    version: "0.66b2".into(),
                    ..Default::default()
                }),
                spans: out,
                ..Default::default()
            }],
            schema_url: "https://opentelemetry.io/schemas/1.27.0".into(),
        }],
    }
}
