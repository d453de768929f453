//! One trace laid out for the waterfall view: spans as a tree in display order, each with
//! its depth, its bar's position as percentages of the trace, its attributes and events.
//!
//! The input is OTLP/JSON as `serde` writes opentelemetry-proto's `ExportTraceServiceRequest`
//! (`{"resourceSpans":[{"resource":{"attributes":[…]},"scopeSpans":[{"spans":[…]}]}]}`, hex
//! ids, 64-bit integers as strings, enums as numbers). Reading is lenient because the
//! JSON comes from outside: missing or mistyped fields get defaults, enums may be names,
//! times numbers or strings, and no value (a parent chain that loops, a chain 10 000 spans
//! deep) makes it loop, recurse deeply or panic.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// A trace ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Waterfall {
    pub trace_id: String,
    /// The earliest span start, Unix nanoseconds.
    pub start_ns: i64,
    /// From the earliest start to the latest end.
    pub duration_ns: i64,
    /// Service names in order of first appearance in `rows`; a row's `color` indexes this.
    pub services: Vec<String>,
    /// Spans depth-first from the roots, children by start time.
    pub rows: Vec<Row>,
}

/// One span.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub span_id: String,
    /// As the span says, even when that span is missing from the trace.
    pub parent_span_id: String,
    /// 0 for roots, capped at [`MAX_DEPTH`].
    pub depth: usize,
    pub service: String,
    pub name: String,
    /// "server", "client", "internal", "producer", "consumer", or "" when unspecified.
    pub kind: String,
    pub start_ns: i64,
    pub duration_ns: i64,
    /// Where the bar starts, in percent of the trace's duration.
    pub offset_pct: f64,
    /// The bar's length in percent: at least [`MIN_WIDTH_PCT`], and `offset_pct +
    /// width_pct <= 100`.
    pub width_pct: f64,
    pub error: bool,
    pub status_message: String,
    /// Span attributes, then resource attributes with keys prefixed `resource.`; values as
    /// text, arrays and maps as compact JSON.
    pub attributes: Vec<(String, String)>,
    /// By time.
    pub events: Vec<Event>,
    /// Index of `service` in [`Waterfall::services`], for a CSS class.
    pub color: usize,
}

/// Something that happened during a span (an exception, a retry).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    /// From the span's start; 0 when the event has no time.
    pub offset_ns: i64,
    pub attributes: Vec<(String, String)>,
}

/// Deeper spans are drawn at this depth: the indentation has to stop somewhere.
pub const MAX_DEPTH: usize = 64;
/// The narrowest bar, in percent, so that a 1 µs span in a 10 s trace is still visible.
pub const MIN_WIDTH_PCT: f64 = 0.5;
/// What the store calls a resource without `service.name`, so filters match.
const UNKNOWN_SERVICE: &str = "unknown_service";
/// Nested arrays and maps deeper than this are cut: attribute text, not a stack overflow.
const MAX_VALUE_DEPTH: usize = 16;

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

fn string<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Unix nanoseconds from a number or a decimal string (OTLP/JSON writes `fixed64` as a
/// string); anything else, or a negative time, is 0. Beyond `i64` saturates.
fn time(v: Option<&Value>) -> i64 {
    let clamp = |u: u64| i64::try_from(u).unwrap_or(i64::MAX);
    match v {
        Some(Value::Number(n)) => n.as_u64().map_or_else(
            // `as` saturates and maps NaN to 0.
            || n.as_f64().map_or(0, |f| (f as i64).max(0)),
            clamp,
        ),
        Some(Value::String(s)) => s.trim().parse::<u64>().map_or(0, clamp),
        _ => 0,
    }
}

/// An OTLP `AnyValue` as plain JSON (`{"arrayValue":{"values":[{"intValue":"1"}]}}` →
/// `[1]`), for arrays and maps shown as text.
fn plain(v: &Value, depth: usize) -> Value {
    if depth > MAX_VALUE_DEPTH {
        return Value::String("…".to_owned());
    }
    let Some(obj) = v.as_object() else {
        // Not OTLP-shaped: show it as it is (a bare string or number).
        return v.clone();
    };
    if let Some(s) = obj.get("stringValue") {
        return s.clone();
    }
    if let Some(b) = obj.get("boolValue") {
        return b.clone();
    }
    if let Some(i) = obj.get("intValue") {
        // Written as a string to keep 64 bits; a number reads better.
        return match i {
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map_or_else(|_| i.clone(), Value::from),
            other => other.clone(),
        };
    }
    if let Some(d) = obj.get("doubleValue") {
        return d.clone();
    }
    if let Some(b) = obj.get("bytesValue") {
        return b.clone();
    }
    if let Some(a) = obj.get("arrayValue") {
        return Value::Array(
            list(a, "values")
                .iter()
                .map(|x| plain(x, depth + 1))
                .collect(),
        );
    }
    if let Some(m) = obj.get("kvlistValue") {
        let mut out = Map::new();
        for kv in list(m, "values") {
            let value = kv.get("value").map_or(Value::Null, |x| plain(x, depth + 1));
            out.insert(string(kv, "key").to_owned(), value);
        }
        return Value::Object(out);
    }
    Value::Null
}

/// An attribute value as text: strings as they are, numbers and booleans written out,
/// arrays and maps as compact JSON, an empty value as "".
fn value_text(v: Option<&Value>) -> String {
    match v.map(|v| plain(v, 0)) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    }
}

fn attributes(list: &[Value]) -> Vec<(String, String)> {
    list.iter()
        .filter(|kv| kv.is_object())
        .map(|kv| (string(kv, "key").to_owned(), value_text(kv.get("value"))))
        .collect()
}

/// `SpanKind` as a number (what serde writes) or a name (`SPAN_KIND_SERVER`, `server`).
fn kind(v: Option<&Value>) -> &'static str {
    match v {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(1) => "internal",
            Some(2) => "server",
            Some(3) => "client",
            Some(4) => "producer",
            Some(5) => "consumer",
            _ => "",
        },
        Some(Value::String(s)) => {
            let s = s.trim();
            let s = s.strip_prefix("SPAN_KIND_").unwrap_or(s);
            ["internal", "server", "client", "producer", "consumer"]
                .into_iter()
                .find(|k| k.eq_ignore_ascii_case(s))
                .unwrap_or_default()
        }
        _ => "",
    }
}

/// Whether a `Status` says error: code 2, or the name `STATUS_CODE_ERROR` / `ERROR`.
fn is_error(status: Option<&Value>) -> bool {
    match status.and_then(|s| s.get("code")) {
        Some(Value::Number(n)) => n.as_i64() == Some(2),
        Some(Value::String(s)) => {
            let s = s.trim();
            let s = s.strip_prefix("STATUS_CODE_").unwrap_or(s);
            s.eq_ignore_ascii_case("error") || s == "2"
        }
        _ => false,
    }
}

/// A span as read, before it has a place in the tree.
struct Span {
    row: Row,
    trace_id: String,
    end_ns: i64,
}

fn read_span(span: &Value, service: &str, resource_attrs: &[(String, String)]) -> Span {
    let start_ns = time(span.get("startTimeUnixNano"));
    let end_ns = time(span.get("endTimeUnixNano"));
    let mut attrs = attributes(list(span, "attributes"));
    attrs.extend(
        resource_attrs
            .iter()
            .map(|(k, v)| (format!("resource.{k}"), v.clone())),
    );
    let mut events: Vec<Event> = list(span, "events")
        .iter()
        .filter(|e| e.is_object())
        .map(|e| {
            let t = time(e.get("timeUnixNano"));
            Event {
                name: string(e, "name").to_owned(),
                offset_ns: if t == 0 {
                    0
                } else {
                    t.saturating_sub(start_ns)
                },
                attributes: attributes(list(e, "attributes")),
            }
        })
        .collect();
    events.sort_by_key(|e| e.offset_ns);
    let status = span.get("status");
    Span {
        trace_id: string(span, "traceId").to_owned(),
        end_ns: end_ns.max(start_ns),
        row: Row {
            span_id: string(span, "spanId").to_owned(),
            parent_span_id: string(span, "parentSpanId").to_owned(),
            depth: 0,
            service: service.to_owned(),
            name: string(span, "name").to_owned(),
            kind: kind(span.get("kind")).to_owned(),
            start_ns,
            duration_ns: end_ns.saturating_sub(start_ns).max(0),
            offset_pct: 0.0,
            width_pct: 0.0,
            error: is_error(status),
            status_message: status.map_or("", |s| string(s, "message")).to_owned(),
            attributes: attrs,
            events,
            color: 0,
        },
    }
}

/// Every span of the request, in input order.
fn read(trace: &Value) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in list(trace, "resourceSpans") {
        let resource = rs.get("resource").unwrap_or(&Value::Null);
        let resource_attrs = attributes(list(resource, "attributes"));
        let service = resource_attrs
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.as_str())
            .filter(|s| !s.is_empty())
            .unwrap_or(UNKNOWN_SERVICE);
        // `instrumentationLibrarySpans` is what OTLP called scopes before 0.15.
        let scopes = list(rs, "scopeSpans")
            .iter()
            .chain(list(rs, "instrumentationLibrarySpans"));
        for scope in scopes {
            for span in list(scope, "spans").iter().filter(|s| s.is_object()) {
                out.push(read_span(span, service, &resource_attrs));
            }
        }
    }
    out
}

/// The display order: (span index, depth) for every span exactly once.
fn order(spans: &[Span]) -> Vec<(usize, usize)> {
    let n = spans.len();
    // Ids in either case name the same span; the first span with an id owns it.
    let mut by_id: HashMap<String, usize> = HashMap::with_capacity(n);
    for (i, s) in spans.iter().enumerate() {
        if !s.row.span_id.is_empty() {
            by_id.entry(s.row.span_id.to_ascii_lowercase()).or_insert(i);
        }
    }
    let parent: Vec<Option<usize>> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = &s.row.parent_span_id;
            if p.is_empty() {
                return None;
            }
            by_id
                .get(&p.to_ascii_lowercase())
                .copied()
                .filter(|&p| p != i)
        })
        .collect();
    let key = |i: usize| {
        spans
            .get(i)
            .map(|s| (s.row.start_ns, s.row.span_id.as_str()))
    };
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, p) in parent.iter().enumerate() {
        if let Some(list) = p.and_then(|p| children.get_mut(p)) {
            list.push(i);
        }
    }
    for list in &mut children {
        list.sort_by_key(|&i| (key(i), i));
    }
    let mut by_start: Vec<usize> = (0..n).collect();
    by_start.sort_by_key(|&i| (key(i), i));

    let mut visited = vec![false; n];
    let mut out = Vec::with_capacity(n);
    // An explicit stack: a chain of 10 000 spans must not overflow the thread's stack.
    let mut walk = |root: usize, visited: &mut [bool]| {
        let mut stack = vec![(root, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            match visited.get_mut(i) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            out.push((i, depth));
            for &c in children.get(i).map_or(&[][..], Vec::as_slice).iter().rev() {
                stack.push((c, (depth + 1).min(MAX_DEPTH)));
            }
        }
    };
    for &i in &by_start {
        if parent.get(i).is_some_and(Option::is_none) {
            walk(i, &mut visited);
        }
    }
    // What is left hangs off a cycle of parents (a → b → a), which has no root. Break each
    // cycle at its earliest span. Every span climbed past here is a descendant of that
    // cycle and gets visited from it, so `climbed` never needs resetting.
    let mut climbed = vec![false; n];
    for &u in &by_start {
        if visited.get(u).copied().unwrap_or(true) {
            continue;
        }
        let mut cur = u;
        while let Some(seen) = climbed.get_mut(cur).filter(|seen| !**seen) {
            *seen = true;
            match parent.get(cur).copied().flatten() {
                Some(p) => cur = p,
                None => break,
            }
        }
        // `cur` is on the cycle (or, defensively, a span without a parent).
        let mut root = cur;
        let mut member = cur;
        for _ in 0..n {
            match parent.get(member).copied().flatten() {
                Some(p) if p != cur => member = p,
                _ => break,
            }
            if (key(member), member) < (key(root), root) {
                root = member;
            }
        }
        walk(root, &mut visited);
    }
    out
}

/// `trace` laid out for the waterfall view; `None` when it holds no span.
pub fn layout(trace: &Value) -> Option<Waterfall> {
    let spans = read(trace);
    let start_ns = spans.iter().map(|s| s.row.start_ns).min()?;
    let end_ns = spans.iter().map(|s| s.end_ns).max().unwrap_or(start_ns);
    let duration_ns = end_ns.saturating_sub(start_ns).max(0);
    // A trace of instantaneous spans still divides by something.
    let total = duration_ns.max(1) as f64;

    let order = order(&spans);
    let mut slots: Vec<Option<Span>> = spans.into_iter().map(Some).collect();
    let mut services: Vec<String> = Vec::new();
    let mut trace_id = String::new();
    let mut rows = Vec::with_capacity(order.len());
    for (i, depth) in order {
        let Some(span) = slots.get_mut(i).and_then(Option::take) else {
            continue;
        };
        if trace_id.is_empty() {
            trace_id = span.trace_id;
        }
        let mut row = span.row;
        row.depth = depth;
        row.color = match services.iter().position(|s| *s == row.service) {
            Some(c) => c,
            None => {
                services.push(row.service.clone());
                services.len() - 1
            }
        };
        let width = (row.duration_ns as f64 / total * 100.0).clamp(MIN_WIDTH_PCT, 100.0);
        let offset = row.start_ns.saturating_sub(start_ns) as f64 / total * 100.0;
        row.width_pct = width;
        row.offset_pct = offset.clamp(0.0, 100.0 - width);
        rows.push(row);
    }
    Some(Waterfall {
        trace_id,
        start_ns,
        duration_ns,
        services,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: u64 = 1_767_225_600_000_000_000;
    const MS: u64 = 1_000_000;

    fn span(id: &str, parent: &str, name: &str, start_ms: u64, end_ms: u64) -> Value {
        // As serde writes opentelemetry-proto: times as strings, kind as a number.
        json!({
            "traceId": "0102030405060708090a0b0c0d0e0f10",
            "spanId": id,
            "traceState": "",
            "parentSpanId": parent,
            "flags": 0,
            "name": name,
            "kind": 2,
            "startTimeUnixNano": (T0 + start_ms * MS).to_string(),
            "endTimeUnixNano": (T0 + end_ms * MS).to_string(),
            "attributes": [],
            "droppedAttributesCount": 0,
            "events": [],
            "droppedEventsCount": 0,
            "links": [],
            "droppedLinksCount": 0,
            "status": {"message": "", "code": 0}
        })
    }

    fn resource(service: &str, spans: Vec<Value>) -> Value {
        json!({
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": service}}],
                "droppedAttributesCount": 0,
                "entityRefs": []
            },
            "scopeSpans": [{"scope": {"name": "s", "version": ""}, "spans": spans, "schemaUrl": ""}],
            "schemaUrl": ""
        })
    }

    fn trace(resources: Vec<Value>) -> Value {
        json!({ "resourceSpans": resources })
    }

    fn names(w: &Waterfall) -> Vec<(&str, usize)> {
        w.rows.iter().map(|r| (r.name.as_str(), r.depth)).collect()
    }

    fn assert_bars_fit(w: &Waterfall) {
        for r in &w.rows {
            assert!(r.width_pct >= MIN_WIDTH_PCT, "{r:?}");
            assert!(r.offset_pct >= 0.0, "{r:?}");
            assert!(r.offset_pct + r.width_pct <= 100.0 + 1e-9, "{r:?}");
        }
    }

    #[test]
    fn three_levels_two_services() {
        let t = trace(vec![
            resource(
                "frontend",
                vec![
                    span("aa00000000000001", "", "GET /checkout", 0, 100),
                    // Listed before its earlier sibling: order comes from start times.
                    span("aa00000000000003", "aa00000000000001", "render", 60, 90),
                    span("aa00000000000002", "aa00000000000001", "POST /pay", 10, 50),
                ],
            ),
            resource(
                "payments",
                vec![
                    span("bb00000000000002", "bb00000000000001", "INSERT", 30, 40),
                    span("bb00000000000001", "aa00000000000002", "pay", 20, 45),
                ],
            ),
        ]);
        let w = layout(&t).expect("spans");
        assert_eq!(w.trace_id, "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(w.start_ns, T0 as i64);
        assert_eq!(w.duration_ns, (100 * MS) as i64);
        assert_eq!(
            names(&w),
            [
                ("GET /checkout", 0),
                ("POST /pay", 1),
                ("pay", 2),
                ("INSERT", 3),
                ("render", 1)
            ]
        );
        assert_eq!(w.services, ["frontend", "payments"]);
        let colors: Vec<usize> = w.rows.iter().map(|r| r.color).collect();
        assert_eq!(colors, [0, 0, 1, 1, 0]);
        let pay = &w.rows[2];
        assert_eq!(pay.service, "payments");
        assert_eq!(pay.kind, "server");
        assert_eq!(pay.parent_span_id, "aa00000000000002");
        assert_eq!(pay.duration_ns, (25 * MS) as i64);
        assert!((pay.offset_pct - 20.0).abs() < 1e-9);
        assert!((pay.width_pct - 25.0).abs() < 1e-9);
        assert_eq!((w.rows[0].offset_pct, w.rows[0].width_pct), (0.0, 100.0));
        assert_bars_fit(&w);
    }

    #[test]
    fn attributes_events_and_status() {
        let mut s = span("01", "", "charge", 0, 10);
        s["attributes"] = json!([
            {"key": "http.route", "value": {"stringValue": "/pay/{id}"}},
            {"key": "retries", "value": {"intValue": "3"}},
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "ok", "value": {"boolValue": false}},
            {"key": "tags", "value": {"arrayValue": {"values": [
                {"stringValue": "a"}, {"intValue": "7"}, {"arrayValue": {"values": []}}
            ]}}},
            {"key": "map", "value": {"kvlistValue": {"values": [
                {"key": "k", "value": {"boolValue": true}}
            ]}}},
            {"key": "raw", "value": {"bytesValue": "AAE="}},
            {"key": "empty", "value": {}},
            {"key": "null", "value": null},
            {"key": "bare", "value": "text"}
        ]);
        s["events"] = json!([
            {"timeUnixNano": (T0 + 8 * MS).to_string(), "name": "retry",
             "attributes": [{"key": "n", "value": {"intValue": 2}}], "droppedAttributesCount": 0},
            {"timeUnixNano": (T0 + 2 * MS).to_string(), "name": "exception",
             "attributes": [{"key": "exception.message", "value": {"stringValue": "[REDACTED:card]"}}]},
            {"name": "untimed"}
        ]);
        s["status"] = json!({"message": "card declined", "code": 2});
        let mut r = resource("payments", vec![s]);
        r["resource"]["attributes"]
            .as_array_mut()
            .expect("array")
            .push(json!({"key": "host.name", "value": {"stringValue": "web-1"}}));
        let w = layout(&trace(vec![r])).expect("spans");
        let row = &w.rows[0];
        let attrs: Vec<(&str, &str)> = row
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            attrs,
            [
                ("http.route", "/pay/{id}"),
                ("retries", "3"),
                ("ratio", "0.5"),
                ("ok", "false"),
                ("tags", r#"["a",7,[]]"#),
                ("map", r#"{"k":true}"#),
                ("raw", "AAE="),
                ("empty", ""),
                ("null", ""),
                ("bare", "text"),
                ("resource.service.name", "payments"),
                ("resource.host.name", "web-1"),
            ]
        );
        assert!(row.error);
        assert_eq!(row.status_message, "card declined");
        let events: Vec<(&str, i64)> = row
            .events
            .iter()
            .map(|e| (e.name.as_str(), e.offset_ns))
            .collect();
        assert_eq!(
            events,
            [
                ("untimed", 0),
                ("exception", (2 * MS) as i64),
                ("retry", (8 * MS) as i64)
            ]
        );
        assert_eq!(row.events[2].attributes, [("n".to_owned(), "2".to_owned())]);
    }

    #[test]
    fn enums_by_name_and_times_as_numbers() {
        let s = json!({
            "spanId": "01", "name": "a", "kind": "SPAN_KIND_CLIENT",
            "startTimeUnixNano": T0, "endTimeUnixNano": (T0 + 5_120_000) as f64,
            "status": {"code": "STATUS_CODE_ERROR"}
        });
        let s2 = json!({
            "spanId": "02", "parentSpanId": "01", "name": "b", "kind": "consumer",
            "startTimeUnixNano": (T0 + MS).to_string(), "endTimeUnixNano": "garbage",
            "status": {"code": 1}
        });
        let s3 = json!({"spanId": "03", "parentSpanId": "01", "kind": 99,
            "startTimeUnixNano": -5, "endTimeUnixNano": "18446744073709551615"});
        let w = layout(&trace(vec![
            json!({"scopeSpans": [{"spans": [s, s2, s3]}]}),
        ]))
        .expect("spans");
        let a = &w.rows[0];
        assert_eq!((a.name.as_str(), a.kind.as_str()), ("a", "client"));
        // (A multiple of 256 ns, so the float holds it exactly.)
        assert_eq!(a.duration_ns, 5_120_000);
        assert!(a.error);
        assert_eq!(a.service, "unknown_service");
        assert_eq!(w.services, ["unknown_service"]);
        // A negative start is 0, an end beyond i64 saturates.
        let c = w.rows.iter().find(|r| r.span_id == "03").expect("03");
        assert_eq!(
            (c.kind.as_str(), c.start_ns, c.duration_ns),
            ("", 0, i64::MAX)
        );
        let b = w.rows.iter().find(|r| r.span_id == "02").expect("02");
        assert_eq!(
            (b.kind.as_str(), b.duration_ns, b.error),
            ("consumer", 0, false)
        );
        assert_eq!(w.rows.len(), 3);
        assert_bars_fit(&w);
    }

    #[test]
    fn orphans_are_roots() {
        let t = trace(vec![resource(
            "svc",
            vec![
                span("02", "ffffffffffffffff", "orphan", 5, 6),
                span("01", "", "root", 0, 10),
                span("03", "01", "child", 1, 2),
            ],
        )]);
        let w = layout(&t).expect("spans");
        assert_eq!(names(&w), [("root", 0), ("child", 1), ("orphan", 0)]);
        assert_eq!(w.rows[2].parent_span_id, "ffffffffffffffff");
    }

    #[test]
    fn cycles_keep_every_span_once() {
        let t = trace(vec![resource(
            "svc",
            vec![
                span("0a", "0c", "a", 2, 5),
                span("0b", "0a", "b", 3, 4),
                span("0c", "0b", "c", 1, 9),
                span("0d", "0b", "d", 4, 5),
                span("0e", "0e", "self", 0, 1),
                span("0f", "", "root", 0, 10),
            ],
        )]);
        let w = layout(&t).expect("spans");
        // The self-parent is a root (before `root`: same start, smaller id); the a→b→c→a
        // cycle is broken at its earliest span, c.
        assert_eq!(
            names(&w),
            [
                ("self", 0),
                ("root", 0),
                ("c", 0),
                ("a", 1),
                ("b", 2),
                ("d", 3)
            ]
        );
    }

    #[test]
    fn a_long_ring_and_duplicate_ids_lose_nothing() {
        let n = 2000;
        let mut spans: Vec<Value> = (0..n)
            .map(|i| {
                let parent = format!("{:016x}", (i + n - 1) % n);
                span(&format!("{i:016x}"), &parent, &i.to_string(), i, i + 1)
            })
            .collect();
        // Two spans claiming the same id, one upper-case.
        spans.push(span("00000000000000AA", "", "dup-1", 0, 1));
        spans.push(span("00000000000000aa", "", "dup-2", 0, 1));
        let w = layout(&trace(vec![resource("svc", spans)])).expect("spans");
        assert_eq!(w.rows.len(), n as usize + 2);
        let mut seen: Vec<&str> = w.rows.iter().map(|r| r.name.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), n as usize + 2);
        assert!(w.rows.iter().all(|r| r.depth <= MAX_DEPTH));
    }

    #[test]
    fn a_deep_chain_is_fast_and_capped() {
        let n = 10_000u64;
        let spans: Vec<Value> = (0..n)
            .map(|i| {
                let parent = if i == 0 {
                    String::new()
                } else {
                    format!("{:016x}", i - 1)
                };
                span(&format!("{i:016x}"), &parent, "s", i, 2 * n - i)
            })
            .collect();
        let t = trace(vec![resource("svc", spans)]);
        let started = std::time::Instant::now();
        let w = layout(&t).expect("spans");
        assert!(started.elapsed().as_secs() < 5);
        assert_eq!(w.rows.len(), n as usize);
        let depths: Vec<usize> = w.rows.iter().map(|r| r.depth).collect();
        assert_eq!(depths[..3], [0, 1, 2]);
        assert_eq!(depths[MAX_DEPTH], MAX_DEPTH);
        assert_eq!(*depths.last().expect("rows"), MAX_DEPTH);
        // In chain order.
        assert_eq!(w.rows[9_999].span_id, format!("{:016x}", 9_999));
        assert_bars_fit(&w);
    }

    #[test]
    fn tiny_spans_stay_visible_and_inside() {
        let t = trace(vec![resource(
            "svc",
            vec![
                span("01", "", "root", 0, 10_000),
                span("02", "01", "tiny-at-end", 10_000, 10_000),
                span("03", "01", "tiny", 5_000, 5_000),
            ],
        )]);
        let w = layout(&t).expect("spans");
        let end = &w.rows[2];
        assert_eq!(end.name, "tiny-at-end");
        assert_eq!((end.width_pct, end.offset_pct), (MIN_WIDTH_PCT, 99.5));
        assert_eq!((w.rows[1].width_pct, w.rows[1].offset_pct), (0.5, 50.0));
        assert_bars_fit(&w);
        // A trace of one instantaneous span.
        let w = layout(&trace(vec![resource(
            "svc",
            vec![span("01", "", "x", 3, 3)],
        )]))
        .expect("spans");
        assert_eq!((w.duration_ns, w.rows[0].offset_pct), (0, 0.0));
        assert_bars_fit(&w);
    }

    #[test]
    fn nothing_to_show_is_none() {
        for v in [
            json!(null),
            json!(42),
            json!("resourceSpans"),
            json!([]),
            json!({}),
            json!({"resourceSpans": null}),
            json!({"resourceSpans": {}}),
            json!({"resourceSpans": [null, 1, {"scopeSpans": "x"}]}),
            json!({"resourceSpans": [{"scopeSpans": [{"spans": [1, "a", null, []]}]}]}),
            json!({"resourceSpans": [{"resource": 5, "scopeSpans": [{"spans": []}]}]}),
        ] {
            assert_eq!(layout(&v), None, "{v}");
        }
    }

    #[test]
    fn garbage_fields_get_defaults() {
        let s = json!({
            "spanId": 5, "parentSpanId": [1], "name": {"x": 1}, "kind": null,
            "attributes": [1, {"key": 2, "value": {"intValue": "nope"}}, {"value": {"stringValue": "v"}}],
            "events": "x", "status": "bad"
        });
        let r = json!({"resource": {"attributes": [{"key": "service.name", "value": {"intValue": 7}}]},
            "scopeSpans": [{"spans": [s, {}]}]});
        let w = layout(&trace(vec![r])).expect("spans");
        assert_eq!(w.rows.len(), 2);
        let row = &w.rows[0];
        assert_eq!((row.name.as_str(), row.span_id.as_str()), ("", ""));
        assert_eq!(row.service, "7");
        assert_eq!(
            row.attributes[..2],
            [
                (String::new(), "nope".to_owned()),
                (String::new(), "v".to_owned())
            ]
        );
        assert!(!row.error && row.events.is_empty());
    }

    #[test]
    fn deeply_nested_values_are_cut_not_overflowed() {
        let mut v = json!({"stringValue": "leaf"});
        for _ in 0..100 {
            v = json!({"arrayValue": {"values": [v]}});
        }
        let mut s = span("01", "", "x", 0, 1);
        s["attributes"] = json!([{"key": "deep", "value": v}]);
        let w = layout(&trace(vec![resource("svc", vec![s])])).expect("spans");
        let text = &w.rows[0].attributes[0].1;
        assert!(text.starts_with("[[[[") && text.contains('…') && !text.contains("leaf"));
    }
}
