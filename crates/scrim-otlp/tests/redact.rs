//! The capture policy applied to whole OTLP requests: every place a secret can hide.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span::Event, span::Link,
};
use scrim_otlp::Batch;
use scrim_otlp::redact::{
    count_key, redact_batch, redact_batch_located, redact_logs, redact_metrics, redact_traces,
};
use scrim_redact::{Kind, Policy, Redactor};

const CARD: &str = "4111 1111 1111 1111";
const EMAIL: &str = "alice@example.com";
const JWT: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
const PASSWORD: &str = "hunter2-correct-horse";
const IP: &str = "203.0.113.57";
const USER: &str = "u-8c1f2a";

/// Every planted value; none may survive.
const SECRETS: &[&str] = &[
    "4111",
    EMAIL,
    "alice@",
    JWT,
    AWS,
    PASSWORD,
    IP,
    USER,
    "s3cr3t-token",
    "42.50",
    "sk_live_",
];

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(v.into())),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

fn kvs(key: &str, value: &str) -> KeyValue {
    kv(key, s(value))
}

fn redactor() -> Redactor {
    Redactor::new(&Policy::default(), Some(b"tenant pseudonym key"))
}

fn trace_request() -> ExportTraceServiceRequest {
    let db_span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: format!("SELECT * FROM users WHERE email = '{EMAIL}' AND card = '{CARD}'"),
        attributes: vec![
            kvs("db.system.name", "postgresql"),
            kvs(
                "db.query.text",
                &format!("UPDATE orders SET total = 42.50, note = 'for {EMAIL}' WHERE id = 7"),
            ),
            kvs(
                "db.query.plan",
                "Index Scan using users_email on users (email = 'x')",
            ),
            kvs("enduser.id", USER),
        ],
        ..Default::default()
    };
    let http_span = Span {
        trace_id: vec![1; 16],
        span_id: vec![3; 8],
        name: format!("GET /users/{EMAIL}"),
        attributes: vec![
            kvs(
                "url.full",
                &format!(
                    "https://bob:{PASSWORD}@shop.example.com/cart?session=s3cr3t-token&sig=abc"
                ),
            ),
            kvs("http.target", "/checkout?card=4111111111111111"),
            kvs("url.query", "token=s3cr3t-token"),
            kvs("client.address", IP),
            kv(
                "http.request.header.x-forwarded-for",
                AnyValue {
                    value: Some(Value::ArrayValue(ArrayValue {
                        values: vec![s(IP), s("10.1.2.3")],
                    })),
                },
            ),
            kvs(
                "http.request.header.authorization",
                &format!("Bearer {JWT}"),
            ),
            kvs(
                "http.request.body",
                &format!(r#"{{"email": "{EMAIL}", "password": "{PASSWORD}", "qty": 2}}"#),
            ),
            kvs(
                "app.note",
                &format!("aws key {AWS} and stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
            ),
            kv(
                "app.payload",
                AnyValue {
                    value: Some(Value::KvlistValue(KeyValueList {
                        values: vec![kvs("api_key", "plain-looking"), kvs("to", EMAIL)],
                    })),
                },
            ),
            kv(
                "app.raw",
                AnyValue {
                    value: Some(Value::BytesValue(format!("mail {EMAIL}").into_bytes())),
                },
            ),
            kv(
                "app.card_as_int",
                AnyValue {
                    value: Some(Value::IntValue(4111111111111111)),
                },
            ),
        ],
        events: vec![Event {
            name: "exception".into(),
            attributes: vec![
                kvs("exception.type", "PaymentError"),
                kvs(
                    "exception.message",
                    &format!("card {CARD} declined for {EMAIL}"),
                ),
                kvs(
                    "exception.stacktrace",
                    &format!("at charge(password={PASSWORD})\n at main"),
                ),
            ],
            ..Default::default()
        }],
        links: vec![Link {
            trace_id: vec![9; 16],
            span_id: vec![9; 8],
            attributes: vec![kvs("peer.contact", EMAIL)],
            ..Default::default()
        }],
        status: Some(Status {
            message: format!("failed for {EMAIL}"),
            code: 2,
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kvs("service.name", "checkout"), kvs("host.owner", EMAIL)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test".into(),
                    attributes: vec![kvs("scope.contact", EMAIL)],
                    ..Default::default()
                }),
                spans: vec![db_span, http_span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> &'a str {
    match attr(attrs, key) {
        Some(Value::StringValue(s)) => s,
        other => panic!("{key}: {other:?}"),
    }
}

fn assert_no_secret(dump: &str) {
    for secret in SECRETS {
        assert!(!dump.contains(secret), "{secret} survived in:\n{dump}");
    }
}

#[test]
fn every_place_in_a_trace_is_redacted() {
    let mut req = trace_request();
    let counts = redact_traces(&mut req, &redactor());
    assert_no_secret(&format!("{req:?}"));

    let spans = &req.resource_spans[0].scope_spans[0].spans;
    let db = &spans[0];
    assert_eq!(
        db.name, "SELECT * FROM users WHERE email = ? AND card = ?",
        "SQL in the span name"
    );
    assert_eq!(
        str_attr(&db.attributes, "db.query.text"),
        "UPDATE orders SET total = ?, note = ? WHERE id = ?"
    );
    assert_eq!(
        str_attr(&db.attributes, "db.query.summary"),
        "UPDATE orders"
    );
    assert!(
        attr(&db.attributes, "db.query.plan").is_none(),
        "plans are off by default"
    );
    assert!(str_attr(&db.attributes, "enduser.id").starts_with("[id:"));

    let http = &spans[1];
    assert_eq!(http.name, "GET /users/[REDACTED:email]");
    assert_eq!(
        str_attr(&http.attributes, "url.full"),
        "https://REDACTED:REDACTED@shop.example.com/cart?session=?&sig=REDACTED"
    );
    assert_eq!(str_attr(&http.attributes, "client.address"), "203.0.113.0");
    assert_eq!(
        str_attr(&http.attributes, "http.request.header.authorization"),
        "[REDACTED:secret]"
    );
    assert_eq!(
        str_attr(&http.attributes, "http.request.body"),
        r#"{"email": "[REDACTED:email]", "password": "[REDACTED:secret]", "qty": 2}"#
    );
    assert_eq!(
        str_attr(&http.events[0].attributes, "exception.type"),
        "PaymentError"
    );
    assert_eq!(
        http.status.as_ref().unwrap().message,
        "failed for [REDACTED:email]"
    );
    assert_eq!(
        str_attr(
            &req.resource_spans[0].resource.as_ref().unwrap().attributes,
            "service.name"
        ),
        "checkout"
    );

    // Per-span counts, events and links included.
    match attr(&http.attributes, &count_key(Kind::Email)) {
        Some(Value::IntValue(n)) => assert!(*n >= 6, "{n}"),
        other => panic!("no email count: {other:?}"),
    }
    assert!(attr(&db.attributes, &count_key(Kind::SqlStatement)).is_some());
    for kind in [
        Kind::Email,
        Kind::Card,
        Kind::Secret,
        Kind::Ipv4,
        Kind::QueryParam,
        Kind::UrlCredentials,
        Kind::SqlStatement,
        Kind::Identifier,
        Kind::AwsAccessKey,
        Kind::StripeKey,
    ] {
        assert!(counts.get(kind) > 0, "{kind} not counted: {counts:?}");
    }
}

#[test]
fn a_second_pass_changes_nothing() {
    let r = redactor();
    let mut req = trace_request();
    redact_traces(&mut req, &r);
    let once = req.clone();
    let counts = redact_traces(&mut req, &r);
    assert_eq!(counts.total(), 0, "{counts:?}");
    assert_eq!(req, once);
}

#[test]
fn logs_bodies_and_attributes() {
    let log = |body: AnyValue| LogRecord {
        body: Some(body),
        attributes: vec![kvs("user.email", EMAIL), kvs("db.password", PASSWORD)],
        ..Default::default()
    };
    let mut req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kvs("service.name", "users")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    log(s(&format!("login failed for {EMAIL} with card {CARD}"))),
                    log(s(&format!(
                        r#"{{"user":"{EMAIL}","token":"s3cr3t-token"}}"#
                    ))),
                    log(AnyValue {
                        value: Some(Value::KvlistValue(KeyValueList {
                            values: vec![
                                kvs("msg", &format!("jwt {JWT}")),
                                kvs("password", PASSWORD),
                            ],
                        })),
                    }),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let counts = redact_logs(&mut req, &redactor());
    assert_no_secret(&format!("{req:?}"));
    let records = &req.resource_logs[0].scope_logs[0].log_records;
    match records[1].body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(b)) => {
            assert_eq!(
                b,
                r#"{"user":"[REDACTED:email]","token":"[REDACTED:secret]"}"#
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(str_attr(&records[0].attributes, "user.email").starts_with("[id:"));
    assert_eq!(
        str_attr(&records[0].attributes, "db.password"),
        "[REDACTED:secret]"
    );
    assert!(attr(&records[0].attributes, &count_key(Kind::Card)).is_some());
    assert!(counts.get(Kind::Jwt) == 1 && counts.get(Kind::Identifier) == 3);
}

#[test]
fn metric_points_and_exemplars() {
    let mut req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "http.server.duration".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            attributes: vec![kvs("http.route", "/cart"), kvs("client.address", IP)],
                            exemplars: vec![Exemplar {
                                filtered_attributes: vec![kvs("enduser.email", EMAIL)],
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let counts = redact_metrics(&mut req, &redactor());
    assert_no_secret(&format!("{req:?}"));
    assert_eq!(counts.get(Kind::Ipv4), 1);
    let Some(Data::Gauge(g)) = &req.resource_metrics[0].scope_metrics[0].metrics[0].data else {
        panic!()
    };
    let p = &g.data_points[0];
    assert_eq!(str_attr(&p.attributes, "http.route"), "/cart");
    assert!(
        !p.attributes.iter().any(|kv| kv.key.starts_with("scrim.")),
        "no count attributes on data points"
    );
}

#[test]
fn policy_drops_and_attribute_rules() {
    let policy = Policy::from_toml(
        "mode = \"on-prem\"\nsql = { capture = \"drop\" }\nclient_ips = { method = \"drop\" }\n\
         json_bodies = { capture = \"drop\" }\nexceptions = { capture = \"drop\" }\n\
         [attributes]\ndeny = [\"app.*\"]\npseudonymize = [\"host.owner\"]\n",
    )
    .unwrap();
    let r = Redactor::new(&policy, Some(b"k"));
    let mut batch = Batch::Traces(trace_request());
    redact_batch(&mut batch, &r);
    let Batch::Traces(req) = batch else {
        unreachable!()
    };
    assert_no_secret(&format!("{req:?}"));
    let spans = &req.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans[0].name, "SELECT users", "only the summary stays");
    assert!(attr(&spans[0].attributes, "db.query.text").is_none());
    assert!(attr(&spans[0].attributes, "db.query.summary").is_none());
    let http = &spans[1].attributes;
    for gone in [
        "client.address",
        "http.request.header.x-forwarded-for",
        "http.request.body",
        "app.note",
        "app.payload",
    ] {
        let kept = match attr(http, gone) {
            Some(Value::ArrayValue(a)) => !a.values.is_empty(),
            other => other.is_some(),
        };
        assert!(!kept, "{gone} should be dropped");
    }
    assert!(attr(&spans[1].events[0].attributes, "exception.message").is_none());
    let res = &req.resource_spans[0].resource.as_ref().unwrap().attributes;
    assert!(str_attr(res, "host.owner").starts_with("[id:"));
}

/// Where each removal was found, per service: what sensitive-data insights are built from.
/// The totals agree with the plain walk, and the redacted request is the same.
#[test]
fn located_counts_name_the_service_and_the_place() {
    let r = redactor();
    let mut plain = Batch::Traces(trace_request());
    let counts = redact_batch(&mut plain, &r);
    let mut located = Batch::Traces(trace_request());
    let (same, found) = redact_batch_located(&mut located, &r);
    assert_eq!(counts, same);
    let (Batch::Traces(a), Batch::Traces(b)) = (&plain, &located) else {
        unreachable!()
    };
    assert_eq!(a, b, "asking where changes nothing in the output");
    let at = |place: &str, kind: Kind| {
        found
            .iter()
            .filter(|(s, l, k, _)| *s == "checkout" && *l == place && *k == kind)
            .map(|(_, _, _, n)| n)
            .sum::<u64>()
    };
    assert!(at("http.request.body", Kind::Secret) >= 1, "{found:?}");
    assert_eq!(at("exception.message", Kind::Card), 1, "{found:?}");
    assert_eq!(at("status.message", Kind::Email), 1, "{found:?}");
    assert_eq!(at("host.owner", Kind::Email), 1, "{found:?}");
    assert!(at("span.name", Kind::SqlStatement) >= 1, "{found:?}");
    assert!(found.iter().all(|(s, ..)| s == "checkout"));
    // Every removal the spans count is somewhere in the locations.
    let total: u64 = found.iter().map(|(.., n)| n).sum();
    assert_eq!(total, counts.total());

    let mut logs = Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: None,
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: Some(s(&format!("charged card {CARD}"))),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let (_, found) = redact_batch_located(&mut logs, &r);
    let places: Vec<_> = found.iter().collect();
    assert_eq!(places, vec![("unknown_service", "log.body", Kind::Card, 1)]);
}
