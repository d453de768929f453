//! The generator's output: valid OTLP, consistent traces, deterministic, and really full of
//! the planted secrets.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use scrim_demo::{DURATION_BUCKETS, Generator, planted_secrets};
use scrim_otlp::{Batch, Signal};

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

/// Spans with the `service.name` of their resource.
fn spans(batch: &Batch) -> Vec<(String, Span)> {
    let Batch::Traces(t) = batch else {
        panic!("not traces")
    };
    t.resource_spans
        .iter()
        .flat_map(|rs| {
            let service =
                str_attr(&rs.resource.as_ref().unwrap().attributes, "service.name").to_owned();
            rs.scope_spans
                .iter()
                .flat_map(|ss| ss.spans.clone())
                .map(move |s| (service.clone(), s))
        })
        .collect()
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

fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(Value::IntValue(v)) => Some(*v),
        _ => None,
    }
}

fn raw_text(batches: &[Batch]) -> String {
    batches
        .iter()
        .map(|b| String::from_utf8(scrim_otlp::json::encode(b)).unwrap())
        .collect()
}

#[test]
fn output_is_valid_otlp_that_round_trips() {
    let mut g = Generator::new(1);
    let batches = g.tick(30, now(), true);
    assert_eq!(
        batches.iter().map(Batch::signal).collect::<Vec<_>>(),
        Signal::ALL
    );
    for batch in &batches {
        assert!(batch.item_count() > 0, "{}", batch.signal());
        let bytes = batch.encode_to_vec();
        assert_eq!(
            Batch::decode(batch.signal(), &bytes).as_ref(),
            Some(batch),
            "protobuf"
        );
        let json = scrim_otlp::json::encode(batch);
        assert_eq!(
            scrim_otlp::json::decode(batch.signal(), &json).as_ref(),
            Ok(batch),
            "OTLP/JSON"
        );
    }
    // Resource attributes every service carries.
    let Batch::Metrics(m) = &batches[2] else {
        panic!()
    };
    let names: BTreeSet<&str> = m
        .resource_metrics
        .iter()
        .map(|rm| {
            let attrs = &rm.resource.as_ref().unwrap().attributes;
            for key in [
                "service.version",
                "deployment.environment.name",
                "host.name",
            ] {
                assert!(!str_attr(attrs, key).is_empty(), "{key}");
            }
            str_attr(attrs, "service.name")
        })
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["frontend", "checkout", "payments", "users"])
    );
}

#[test]
fn traces_have_a_consistent_structure() {
    let mut g = Generator::new(7);
    let batch = Batch::Traces(g.next_traces(300, now()));
    let spans = spans(&batch);
    let now_ns = now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut traces: HashMap<Vec<u8>, Vec<&(String, Span)>> = HashMap::new();
    let mut span_ids = BTreeSet::new();
    for entry in &spans {
        let s = &entry.1;
        assert_eq!(s.trace_id.len(), 16);
        assert_eq!(s.span_id.len(), 8);
        assert!(s.trace_id.iter().any(|&b| b != 0), "W3C: not all zero");
        assert!(s.span_id.iter().any(|&b| b != 0), "W3C: not all zero");
        assert!(span_ids.insert(s.span_id.clone()), "span ids are unique");
        assert!(s.start_time_unix_nano < s.end_time_unix_nano, "{}", s.name);
        assert!(s.end_time_unix_nano <= now_ns, "traces end before now");
        traces.entry(s.trace_id.clone()).or_default().push(entry);
    }
    assert_eq!(traces.len(), 300, "trace ids are unique per trace");
    let mut checkout_chains = 0;
    for trace in traces.values() {
        let by_id: HashMap<&[u8], &(String, Span)> =
            trace.iter().map(|e| (e.1.span_id.as_slice(), *e)).collect();
        let roots: Vec<_> = trace
            .iter()
            .filter(|e| e.1.parent_span_id.is_empty())
            .collect();
        assert_eq!(roots.len(), 1, "one root per trace");
        let (root_service, root) = &roots[0];
        assert_eq!(root_service, "frontend");
        assert_eq!(root.kind, SpanKind::Server as i32);
        for (service, s) in trace.iter().map(|e| (&e.0, &e.1)) {
            if s.parent_span_id.is_empty() {
                continue;
            }
            let (parent_service, parent) = by_id
                .get(s.parent_span_id.as_slice())
                .unwrap_or_else(|| panic!("{}: parent is in the trace", s.name));
            assert!(
                parent.start_time_unix_nano <= s.start_time_unix_nano
                    && s.end_time_unix_nano <= parent.end_time_unix_nano,
                "{} lies inside {}",
                s.name,
                parent.name
            );
            // A SERVER span that is not a root is caused by a CLIENT span of another service.
            if s.kind == SpanKind::Server as i32 {
                assert_eq!(parent.kind, SpanKind::Client as i32);
                assert_ne!(parent_service, service);
            }
        }
        // frontend GET /checkout ▸ checkout SERVER ▸ payments SERVER ▸ provider CLIENT.
        if root.name == "GET /checkout"
            && let Some((_, provider)) = trace.iter().map(|e| (&e.0, &e.1)).find(|(_, s)| {
                attr(&s.attributes, "server.address")
                    == Some(&Value::StringValue("api.paymentprovider.example".into()))
            })
        {
            let mut chain = vec![];
            let mut cur = provider;
            loop {
                let (svc, _) = by_id[cur.span_id.as_slice()];
                chain.push((svc.as_str(), cur.kind));
                if cur.parent_span_id.is_empty() {
                    break;
                }
                cur = &by_id[cur.parent_span_id.as_slice()].1;
            }
            chain.reverse();
            let (server, client) = (SpanKind::Server as i32, SpanKind::Client as i32);
            assert_eq!(
                chain,
                [
                    ("frontend", server),
                    ("frontend", client),
                    ("checkout", server),
                    ("checkout", client),
                    ("payments", server),
                    ("payments", client),
                ]
            );
            checkout_chains += 1;
        }
    }
    assert!(checkout_chains > 50, "{checkout_chains}");
}

#[test]
fn some_requests_fail_and_some_are_slow() {
    let mut g = Generator::new(3);
    let batch = Batch::Traces(g.next_traces(1000, now()));
    let spans = spans(&batch);
    let errors: Vec<&Span> = spans
        .iter()
        .map(|e| &e.1)
        .filter(|s| {
            s.status
                .as_ref()
                .is_some_and(|st| st.code == StatusCode::Error as i32)
        })
        .collect();
    assert!(errors.len() > 20, "{}", errors.len());
    let with_exception = errors
        .iter()
        .filter(|s| s.events.iter().any(|e| e.name == "exception"))
        .count();
    assert!(with_exception > 10);
    let server_5xx = spans
        .iter()
        .filter(|(_, s)| {
            s.kind == SpanKind::Server as i32
                && int_attr(&s.attributes, "http.response.status_code").is_some_and(|c| c >= 500)
        })
        .count();
    assert!(server_5xx > 20);
    // Errors are a minority.
    let roots: Vec<&Span> = spans
        .iter()
        .map(|e| &e.1)
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    let failed_roots = roots.iter().filter(|s| s.status.is_some()).count();
    assert!(failed_roots * 10 < roots.len(), "{failed_roots}");

    let mut checkout: Vec<u64> = roots
        .iter()
        .filter(|s| s.name == "GET /checkout")
        .map(|s| s.end_time_unix_nano - s.start_time_unix_nano)
        .collect();
    checkout.sort_unstable();
    let pct = |p: f64| checkout[((checkout.len() - 1) as f64 * p) as usize];
    assert!(
        pct(0.99) > 3 * pct(0.5),
        "p50 {} p99 {}",
        pct(0.5),
        pct(0.99)
    );
    assert!(pct(0.95) > pct(0.5));
}

#[test]
fn deterministic_for_a_seed() {
    let run = |seed| {
        let mut g = Generator::new(seed);
        let mut out = g.tick(20, now(), true);
        out.extend(g.tick(5, now() + Duration::from_secs(1), true));
        out
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn logs_belong_to_the_spans_just_generated() {
    let mut g = Generator::new(5);
    let traces = Batch::Traces(g.next_traces(200, now()));
    let spans: HashMap<Vec<u8>, Span> = spans(&traces)
        .into_iter()
        .map(|(_, s)| (s.span_id.clone(), s))
        .collect();
    let Batch::Logs(logs) = Batch::Logs(g.next_logs()) else {
        unreachable!()
    };
    let records: Vec<_> = logs
        .resource_logs
        .iter()
        .flat_map(|rl| rl.scope_logs.iter().flat_map(|sl| &sl.log_records))
        .collect();
    assert!(records.len() >= 200, "one access log per request at least");
    for r in &records {
        let span = &spans[&r.span_id];
        assert_eq!(r.trace_id, span.trace_id);
        assert!(span.start_time_unix_nano <= r.time_unix_nano);
        assert!(r.time_unix_nano <= span.end_time_unix_nano);
        assert!(r.severity_number >= 9 && !r.severity_text.is_empty());
    }
    assert!(records.iter().any(|r| r.severity_text == "ERROR"));
    assert!(
        g.next_logs().resource_logs.is_empty(),
        "logs are handed out once"
    );
}

#[test]
fn metrics_are_cumulative_and_match_the_traces() {
    let mut g = Generator::new(9);
    let traces = Batch::Traces(g.next_traces(100, now()));
    let server_spans = spans(&traces)
        .iter()
        .filter(|(_, s)| s.kind == SpanKind::Server as i32)
        .count() as u64;
    let totals = |g: &mut Generator, at| {
        let m = g.next_metrics(at);
        let (mut requests, mut hist, mut gauges) = (0, 0, 0);
        for metric in m
            .resource_metrics
            .iter()
            .flat_map(|rm| rm.scope_metrics.iter().flat_map(|sm| &sm.metrics))
        {
            match metric.data.as_ref().unwrap() {
                Data::Sum(s) => {
                    assert_eq!(metric.name, "http.server.requests");
                    assert!(s.is_monotonic);
                    assert_eq!(s.aggregation_temporality, 2, "cumulative");
                    for p in &s.data_points {
                        assert!(p.start_time_unix_nano < p.time_unix_nano);
                        let Some(
                            opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(v),
                        ) = p.value
                        else {
                            panic!()
                        };
                        requests += v as u64;
                    }
                }
                Data::Histogram(h) => {
                    assert_eq!(metric.name, "http.server.request.duration");
                    assert_eq!(h.aggregation_temporality, 2);
                    for p in &h.data_points {
                        assert_eq!(p.explicit_bounds, DURATION_BUCKETS);
                        assert_eq!(p.bucket_counts.len(), DURATION_BUCKETS.len() + 1);
                        assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
                        assert!(p.min.unwrap() <= p.max.unwrap());
                        assert!(!p.exemplars.is_empty());
                        hist += p.count;
                    }
                }
                Data::Gauge(gauge) => {
                    assert_eq!(metric.name, "db.client.connection.count");
                    gauges += gauge.data_points.len();
                }
                other => panic!("{other:?}"),
            }
        }
        (requests, hist, gauges)
    };
    let (requests, hist, gauges) = totals(&mut g, now());
    assert_eq!(requests, server_spans);
    assert_eq!(hist, server_spans);
    assert_eq!(gauges, 6, "used and idle for three pools");
    g.next_traces(10, now() + Duration::from_secs(1));
    let (later, _, _) = totals(&mut g, now() + Duration::from_secs(1));
    assert!(later > requests, "counters only grow");
}

/// The demo demonstrates something only if the raw data really holds every kind of secret.
#[test]
fn every_planted_secret_appears_in_the_raw_output() {
    let mut g = Generator::new(11);
    let mut batches = g.tick(300, now(), true);
    batches.extend(g.tick(300, now() + Duration::from_secs(1), true));
    let text = raw_text(&batches);
    for secret in planted_secrets() {
        assert!(text.contains(secret), "{secret} is never planted");
    }
    // And in the places the brief promises.
    let spans = spans(&batches[0]);
    let has = |key: &str, needle: &str| {
        spans.iter().any(|(_, s)| {
            s.attributes
                .iter()
                .chain(s.events.iter().flat_map(|e| &e.attributes))
                .any(|kv| kv.key == key && format!("{:?}", kv.value).contains(needle))
        })
    };
    assert!(has("db.query.text", "4111111111111111"));
    assert!(has("db.statement", "@example.com"));
    assert!(has("db.system", "redis") && has("db.query.text", "SET session:"));
    assert!(has("url.full", "session="));
    assert!(has("url.query", "email="));
    assert!(has("http.request.header.authorization", "Bearer "));
    assert!(has("http.request.body", "password"));
    assert!(has("client.address", "203.0.113.57"));
    assert!(has("network.peer.address", "2001:db8:85a3::8a2e:370:7334"));
    assert!(has("exception.message", "aws_secret_access_key="));
    assert!(has("exception.message", "postgresql://payments:"));
    assert!(has("exception.message", "eyJhbGciOi"));
    assert!(has("user_agent.original", "Mozilla/5.0"));
}
