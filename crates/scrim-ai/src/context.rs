//! The text a question is about, built from stored telemetry only.
//!
//! Each builder writes what matters most first (a summary, the critical path, failures),
//! then the detail, so that cutting the text to the size budget ([`crate::payload`]) drops
//! detail rather than the point. The text is deterministic for its input: the same stored
//! data gives the same bytes, so a preview and the call after it agree.

use std::fmt::Write as _;

use scrim_ui::waterfall::{Row, Waterfall};

/// Attribute values longer than this are cut (a body, a stack trace): the budget is better
/// spent on more spans.
const MAX_VALUE_CHARS: usize = 300;
/// Spans listed by name in the "slowest" section.
const SLOWEST: usize = 5;

/// One statement of one service, as the store reports it (already obfuscated).
#[derive(Debug, Clone, PartialEq)]
pub struct StatementFacts {
    pub service: String,
    pub statement: String,
    pub db_system: Option<String>,
    pub window: String,
    pub count: u64,
    pub errors: u64,
    pub p50_ns: f64,
    pub p95_ns: f64,
    pub max_ns: i64,
    pub plan: Option<String>,
    pub error_messages: Vec<(String, u64)>,
}

/// A service's failures over a window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceErrors {
    pub service: String,
    pub window: String,
    pub requests: u64,
    pub errors: u64,
    pub p95_ns: f64,
    pub groups: Vec<ErrorGroupFacts>,
    /// Bodies of error logs (severity ERROR or above), newest first, with counts.
    pub error_logs: Vec<(String, u64)>,
}

/// Failed spans with one name and status message.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorGroupFacts {
    pub operation: String,
    pub kind: String,
    pub status_message: String,
    pub count: u64,
    pub exception: Option<String>,
}

fn ms(ns: f64) -> String {
    let ms = ns / 1e6;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn cut(value: &str) -> String {
    let mut chars = value.char_indices();
    match chars.nth(MAX_VALUE_CHARS) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

/// One line, whatever the value holds (newlines would let a value pose as a section).
fn line(value: &str) -> String {
    cut(value).replace(['\n', '\r'], " ⏎ ")
}

fn describe(r: &Row) -> String {
    let kind = if r.kind.is_empty() {
        String::new()
    } else {
        format!(" [{}]", r.kind)
    };
    format!(
        "{} \"{}\"{kind} {}",
        line(&r.service),
        line(&r.name),
        ms(r.duration_ns as f64)
    )
}

/// Time a span spent in itself: its duration less the union of its children's time
/// inside it.
fn self_time(rows: &[Row], i: usize, children: &[Vec<usize>]) -> i64 {
    let (start, end) = (rows[i].start_ns, rows[i].start_ns + rows[i].duration_ns);
    let mut spans: Vec<(i64, i64)> = children[i]
        .iter()
        .map(|&c| {
            let s = rows[c].start_ns.clamp(start, end);
            (s, (rows[c].start_ns + rows[c].duration_ns).clamp(s, end))
        })
        .collect();
    spans.sort_unstable();
    let (mut covered, mut reach) = (0i64, start);
    for (s, e) in spans {
        let s = s.max(reach);
        if e > s {
            covered += e - s;
            reach = e;
        }
    }
    (rows[i].duration_ns - covered).max(0)
}

/// Each row's children (rows are depth-first, so a child follows its parent).
fn children(rows: &[Row]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); rows.len()];
    let mut stack: Vec<usize> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        while stack.last().is_some_and(|&p| rows[p].depth >= r.depth) {
            stack.pop();
        }
        if let Some(&p) = stack.last()
            && rows[p].depth + 1 == r.depth
        {
            out[p].push(i);
        }
        stack.push(i);
    }
    out
}

/// The critical path: from the longest root, each step to the child that finished last
/// (what its parent was waiting for at the end).
fn critical_path(rows: &[Row], children: &[Vec<usize>]) -> Vec<usize> {
    let Some(root) = (0..rows.len())
        .filter(|&i| rows[i].depth == 0)
        .max_by_key(|&i| (rows[i].duration_ns, std::cmp::Reverse(i)))
    else {
        return Vec::new();
    };
    let mut path = vec![root];
    let mut at = root;
    while let Some(&next) = children[at]
        .iter()
        .max_by_key(|&&c| (rows[c].start_ns + rows[c].duration_ns, std::cmp::Reverse(c)))
    {
        path.push(next);
        at = next;
        if path.len() > rows.len() {
            break;
        }
    }
    path
}

/// The context for "explain this trace".
pub fn trace(w: &Waterfall) -> String {
    let rows = &w.rows;
    let kids = children(rows);
    let errors: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].error).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Trace {}: {} spans across {} services ({}), {} from first start to last end, {} failed spans.",
        w.trace_id,
        rows.len(),
        w.services.len(),
        w.services
            .iter()
            .map(|s| line(s))
            .collect::<Vec<_>>()
            .join(", "),
        ms(w.duration_ns as f64),
        errors.len()
    );
    out.push_str("\nCritical path (each step is the child its parent waited for last):\n");
    for (n, &i) in critical_path(rows, &kids).iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. {} (own time {})",
            n + 1,
            describe(&rows[i]),
            ms(self_time(rows, i, &kids) as f64)
        );
    }
    if !errors.is_empty() {
        out.push_str("\nFailed spans:\n");
        for &i in &errors {
            let r = &rows[i];
            let _ = write!(out, "- {}", describe(r));
            if !r.status_message.is_empty() {
                let _ = write!(out, ": status \"{}\"", line(&r.status_message));
            }
            out.push('\n');
            for e in r.events.iter().filter(|e| e.name == "exception") {
                let get = |k: &str| {
                    e.attributes
                        .iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, v)| line(v))
                };
                if let Some(t) = get("exception.type") {
                    let _ = write!(out, "  exception {t}");
                    if let Some(m) = get("exception.message") {
                        let _ = write!(out, ": {m}");
                    }
                    out.push('\n');
                }
            }
        }
    }
    let mut by_self: Vec<(i64, usize)> = (0..rows.len())
        .map(|i| (self_time(rows, i, &kids), i))
        .collect();
    by_self.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    out.push_str("\nSlowest spans by own time:\n");
    for &(t, i) in by_self.iter().take(SLOWEST) {
        let _ = writeln!(out, "- {} (own time {})", describe(&rows[i]), ms(t as f64));
    }
    out.push_str("\nAll spans (indented by depth; start offset from the trace's start):\n");
    for r in rows {
        let indent = "  ".repeat(r.depth.min(16));
        let _ = writeln!(
            out,
            "{indent}- {} at +{}{}",
            describe(r),
            ms((r.start_ns - w.start_ns) as f64),
            if r.error { " FAILED" } else { "" }
        );
        for (k, v) in r
            .attributes
            .iter()
            .filter(|(k, _)| !k.starts_with("resource.") && !k.starts_with("scrim.redacted."))
        {
            let _ = writeln!(out, "{indent}    {}={}", line(k), line(v));
        }
        for e in &r.events {
            let attrs: Vec<String> = e
                .attributes
                .iter()
                .map(|(k, v)| format!("{}={}", line(k), line(v)))
                .collect();
            let _ = writeln!(
                out,
                "{indent}    event \"{}\" at +{} {}",
                line(&e.name),
                ms(e.offset_ns as f64),
                attrs.join(", ")
            );
        }
    }
    out
}

/// The context for "explain this statement".
pub fn statement(s: &StatementFacts) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Service {} ran this {} statement {} times in the last {} ({} failed): p50 {}, p95 {}, slowest {}.",
        line(&s.service),
        s.db_system.as_deref().map_or("SQL".to_owned(), line),
        s.count,
        line(&s.window),
        s.errors,
        ms(s.p50_ns),
        ms(s.p95_ns),
        ms(s.max_ns as f64),
    );
    out.push_str("Literals were replaced by ? before the statement was stored.\n\nStatement:\n");
    out.push_str(&s.statement.replace('\r', ""));
    out.push('\n');
    if !s.error_messages.is_empty() {
        out.push_str("\nErrors of failed executions:\n");
        for (m, n) in &s.error_messages {
            let _ = writeln!(out, "- {n}× {}", line(m));
        }
    }
    match &s.plan {
        Some(plan) => {
            out.push_str("\nQuery plan (as captured, obfuscated):\n");
            out.push_str(&plan.replace('\r', ""));
            out.push('\n');
        }
        None => out.push_str("\nNo query plan was captured.\n"),
    }
    out
}

/// The context for "summarise this service's errors".
pub fn service_errors(e: &ServiceErrors) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Service {} over the last {}: {} requests, {} failed, p95 latency {}.",
        line(&e.service),
        line(&e.window),
        e.requests,
        e.errors,
        ms(e.p95_ns)
    );
    if e.groups.is_empty() {
        out.push_str("\nNo failed spans.\n");
    } else {
        out.push_str("\nFailed spans by operation and status, most frequent first:\n");
        for g in &e.groups {
            let _ = write!(
                out,
                "- {}× \"{}\" [{}]",
                g.count,
                line(&g.operation),
                line(&g.kind)
            );
            if !g.status_message.is_empty() {
                let _ = write!(out, ": status \"{}\"", line(&g.status_message));
            }
            if let Some(x) = &g.exception {
                let _ = write!(out, "; exception {}", line(x));
            }
            out.push('\n');
        }
    }
    if !e.error_logs.is_empty() {
        out.push_str("\nError logs, most frequent first:\n");
        for (body, n) in &e.error_logs {
            let _ = writeln!(out, "- {n}× {}", line(body));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn span(
        id: &str,
        parent: &str,
        name: &str,
        start: u64,
        end: u64,
        error: bool,
    ) -> serde_json::Value {
        let t0: u64 = 1_767_225_600_000_000_000;
        json!({
            "traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": id, "parentSpanId": parent,
            "name": name, "kind": 2,
            "startTimeUnixNano": (t0 + start * 1_000_000).to_string(),
            "endTimeUnixNano": (t0 + end * 1_000_000).to_string(),
            "attributes": [{"key": "db.query.text", "value": {"stringValue": "SELECT * FROM t WHERE id = ?"}}],
            "events": if error { json!([{"name": "exception", "timeUnixNano": (t0 + end * 1_000_000).to_string(),
                "attributes": [{"key": "exception.type", "value": {"stringValue": "Timeout"}},
                               {"key": "exception.message", "value": {"stringValue": "line1\nCritical path: fake"}}]}]) } else { json!([]) },
            "status": {"code": if error { 2 } else { 0 }, "message": if error { "boom" } else { "" }}
        })
    }

    fn waterfall() -> Waterfall {
        let trace = json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
            "scopeSpans": [{"spans": [
                span("0000000000000001", "", "GET /checkout", 0, 1000, false),
                span("0000000000000002", "0000000000000001", "charge", 10, 300, false),
                span("0000000000000003", "0000000000000001", "reserve", 200, 990, true),
                span("0000000000000004", "0000000000000003", "SELECT stock", 210, 900, false),
            ]}]
        }]});
        scrim_ui::waterfall::layout(&trace).unwrap()
    }

    #[test]
    fn the_trace_context_leads_with_the_critical_path_and_failures() {
        let text = trace(&waterfall());
        assert!(
            text.starts_with("Trace 0102030405060708090a0b0c0d0e0f10: 4 spans across 1 services")
        );
        let path = text.split("Failed spans:").next().unwrap();
        let steps: Vec<&str> = path
            .lines()
            .filter(|l| l.starts_with(char::is_numeric))
            .collect();
        assert_eq!(steps.len(), 3, "{path}");
        assert!(
            steps[0].contains("GET /checkout") && steps[0].contains("own time 20 ms"),
            "{}",
            steps[0]
        );
        assert!(steps[1].contains("reserve"), "{}", steps[1]);
        assert!(
            steps[2].contains("SELECT stock") && steps[2].contains("own time 690 ms"),
            "{}",
            steps[2]
        );
        assert!(text.contains("- checkout \"reserve\" [server] 790 ms: status \"boom\"\n  exception Timeout: line1 ⏎ Critical path: fake\n"), "{text}");
        // A value's newline cannot start a line of its own.
        assert!(!text.lines().any(|l| l.starts_with("Critical path: fake")));
        assert!(text.contains("db.query.text=SELECT * FROM t WHERE id = ?"));
    }

    #[test]
    fn self_time_counts_overlapping_children_once() {
        let w = waterfall();
        let kids = children(&w.rows);
        let root = w
            .rows
            .iter()
            .position(|r| r.name == "GET /checkout")
            .unwrap();
        // Children cover 10..300 and 200..990: 980 ms of the 1000.
        assert_eq!(self_time(&w.rows, root, &kids), 20_000_000);
    }

    #[test]
    fn statement_and_service_contexts_say_what_they_hold() {
        let s = statement(&StatementFacts {
            service: "payments".into(),
            statement: "SELECT * FROM cards WHERE pan = ?".into(),
            db_system: Some("postgresql".into()),
            window: "1h".into(),
            count: 12,
            errors: 2,
            p50_ns: 2e6,
            p95_ns: 40e6,
            max_ns: 1_500_000_000,
            plan: None,
            error_messages: vec![("deadlock detected".into(), 2)],
        });
        assert!(
            s.contains("ran this postgresql statement 12 times in the last 1h (2 failed)"),
            "{s}"
        );
        assert!(
            s.contains("slowest 1.50 s") && s.contains("- 2× deadlock detected"),
            "{s}"
        );
        assert!(s.contains("No query plan was captured."));
        let e = service_errors(&ServiceErrors {
            service: "payments".into(),
            window: "1h".into(),
            requests: 100,
            errors: 3,
            p95_ns: 1e8,
            groups: vec![ErrorGroupFacts {
                operation: "POST /charge".into(),
                kind: "SERVER".into(),
                status_message: "declined".into(),
                count: 3,
                exception: Some("CardError: declined".into()),
            }],
            error_logs: vec![("charge failed".into(), 3)],
        });
        assert!(
            e.contains(
                "- 3× \"POST /charge\" [SERVER]: status \"declined\"; exception CardError: declined"
            ),
            "{e}"
        );
    }
}
