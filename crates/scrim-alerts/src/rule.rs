//! Alert rules on service metrics and their state machine.
//!
//! A rule watches one number over a trailing window: a service's error rate, p95 or p99
//! latency or request rate (entry spans, as the services page counts them), or how many log
//! records match a query. Each evaluation computes that number for the window ending now
//! and calls [`step`]:
//!
//! ```text
//!   ok ──breach──▶ pending ──breach for `for_seconds`──▶ firing ──no breach──▶ ok
//!    ▲                │ no breach                                  (resolved)
//!    └────────────────┘
//! ```
//!
//! With `for_seconds = 0` a breach fires at once. Only the moves into and out of `firing`
//! are [`Transition`]s: they are what the history keeps and what notifications say.
//!
//! A window without data is no breach for error rates and latencies (nothing failed, nothing
//! was slow), and counts as `0` for request rates and log counts, so that "fewer than 1
//! request per second" fires when traffic stops.

use serde::{Deserialize, Serialize};

/// What a rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Failed entry spans over all entry spans, from 0 to 1.
    ErrorRate,
    /// 95th percentile of entry-span duration, in milliseconds.
    P95Latency,
    /// 99th percentile of entry-span duration, in milliseconds.
    P99Latency,
    /// Entry spans per second.
    RequestRate,
    /// Log records matching the rule's `log_query` in the window.
    LogCount,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::ErrorRate,
        Metric::P95Latency,
        Metric::P99Latency,
        Metric::RequestRate,
        Metric::LogCount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::P95Latency => "p95_latency",
            Metric::P99Latency => "p99_latency",
            Metric::RequestRate => "request_rate",
            Metric::LogCount => "log_count",
        }
    }

    /// The value's unit, for messages.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::ErrorRate => "",
            Metric::P95Latency | Metric::P99Latency => " ms",
            Metric::RequestRate => " req/s",
            Metric::LogCount => " records",
        }
    }

    /// Whether a window without data counts as zero (counts and rates) rather than as no
    /// value at all (ratios and percentiles).
    pub fn empty_is_zero(self) -> bool {
        matches!(self, Metric::RequestRate | Metric::LogCount)
    }

    /// `value` as people read it: error rates as percentages.
    pub fn format(self, value: f64) -> String {
        match self {
            Metric::ErrorRate => format!("{:.2} %", value * 100.0),
            Metric::P95Latency | Metric::P99Latency => format!("{value:.1} ms"),
            Metric::RequestRate => format!("{value:.2} req/s"),
            Metric::LogCount => format!("{value:.0} records"),
        }
    }
}

/// How the value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    #[serde(rename = ">")]
    Above,
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "<=")]
    AtMost,
}

impl Comparison {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Above => value > threshold,
            Comparison::AtLeast => value >= threshold,
            Comparison::Below => value < threshold,
            Comparison::AtMost => value <= threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
        }
    }
}

/// How urgent a rule's notifications are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Which log records a `log_count` rule counts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Records at this severity or above (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<String>,
    /// Records whose body contains this text (case-insensitive; matched against the
    /// stored, redacted body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

/// The shortest and longest window and for-duration a rule may have.
pub const MIN_WINDOW_SECONDS: u64 = 60;
pub const MAX_WINDOW_SECONDS: u64 = 7 * 86_400;
pub const MAX_FOR_SECONDS: u64 = 86_400;
const MAX_TEXT: usize = 200;

/// What an alert rule watches and when it fires. Stored as JSON; the API accepts the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub metric: Metric,
    /// The service whose entry spans (or logs) are measured. Required except for
    /// `log_count`, where no service means every service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// How the value is compared with `threshold` (default `>`).
    #[serde(default = "default_op")]
    pub op: Comparison,
    /// In the metric's unit: a fraction for `error_rate` (0.05 is 5 %), milliseconds for
    /// latencies, requests per second, a number of records.
    pub threshold: f64,
    /// The trailing window each evaluation measures.
    #[serde(default = "default_window")]
    pub window_seconds: u64,
    /// How long the breach must last before the rule fires (0: at once).
    #[serde(default)]
    pub for_seconds: u64,
    /// For `error_rate` and latencies: fewer entry spans than this in the window is no
    /// breach (a single failed request is not a 100 % error rate worth waking someone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
    /// For `log_count`: which records count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_query: Option<LogQuery>,
    #[serde(default)]
    pub severity: Severity,
}

fn default_op() -> Comparison {
    Comparison::Above
}

fn default_window() -> u64 {
    300
}

/// Why a rule was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError(pub String);

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuleError {}

impl RuleSpec {
    /// Parses and checks a rule from JSON. Serde's message names the unknown or missing
    /// field; it never quotes more of the input than the offending token.
    pub fn from_json(value: serde_json::Value) -> Result<RuleSpec, RuleError> {
        let spec: RuleSpec = serde_json::from_value(value).map_err(|e| RuleError(e.to_string()))?;
        spec.check()?;
        Ok(spec)
    }

    /// Checks the fields against each other and against their limits.
    pub fn check(&self) -> Result<(), RuleError> {
        let bad = |m: String| Err(RuleError(m));
        if !self.threshold.is_finite() {
            return bad("threshold must be a finite number".into());
        }
        if self.threshold < 0.0 {
            return bad("threshold must not be negative".into());
        }
        if self.metric == Metric::ErrorRate && self.threshold > 1.0 {
            return bad(
                "threshold of an error_rate rule is a fraction from 0 to 1 (0.05 is 5 %)".into(),
            );
        }
        if !(MIN_WINDOW_SECONDS..=MAX_WINDOW_SECONDS).contains(&self.window_seconds) {
            return bad(format!(
                "window_seconds must be from {MIN_WINDOW_SECONDS} to {MAX_WINDOW_SECONDS}"
            ));
        }
        if self.for_seconds > MAX_FOR_SECONDS {
            return bad(format!("for_seconds must be at most {MAX_FOR_SECONDS}"));
        }
        match &self.service {
            Some(s) if s.is_empty() || s.len() > MAX_TEXT || s.chars().any(char::is_control) => {
                return bad(format!(
                    "service must be 1 to {MAX_TEXT} bytes without control characters"
                ));
            }
            None if self.metric != Metric::LogCount => {
                return bad(format!("a {} rule needs a service", self.metric.as_str()));
            }
            _ => {}
        }
        match (&self.log_query, self.metric) {
            (Some(_), m) if m != Metric::LogCount => {
                return bad("log_query only applies to log_count rules".into());
            }
            (Some(q), _) => {
                if let Some(s) = &q.min_severity
                    && severity_number(s).is_none()
                {
                    return bad(
                        "log_query.min_severity must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"
                            .into(),
                    );
                }
                if let Some(c) = &q.contains
                    && (c.is_empty() || c.len() > MAX_TEXT || c.chars().any(char::is_control))
                {
                    return bad(format!(
                        "log_query.contains must be 1 to {MAX_TEXT} bytes without control characters"
                    ));
                }
            }
            (None, _) => {}
        }
        if self.min_requests.is_some()
            && matches!(self.metric, Metric::RequestRate | Metric::LogCount)
        {
            return bad("min_requests only applies to error_rate and latency rules".into());
        }
        Ok(())
    }

    /// One line that says what the rule watches: `p95_latency of checkout > 500 ms over 5m
    /// for 1m`.
    pub fn describe(&self) -> String {
        let subject = match &self.service {
            Some(s) => format!("{} of {s}", self.metric.as_str()),
            None => format!("{} of every service", self.metric.as_str()),
        };
        let threshold = match self.metric {
            Metric::ErrorRate => format!("{} %", self.threshold * 100.0),
            _ => format!("{}{}", self.threshold, self.metric.unit()),
        };
        let mut s = format!(
            "{subject} {} {threshold} over {}",
            self.op.symbol(),
            duration_label(self.window_seconds)
        );
        if self.for_seconds > 0 {
            s.push_str(&format!(" for {}", duration_label(self.for_seconds)));
        }
        s
    }

    /// Whether `value` (already resolved against an empty window, see [`Self::value_of`])
    /// breaches the rule.
    pub fn breached(&self, value: Option<f64>) -> bool {
        value.is_some_and(|v| self.op.holds(v, self.threshold))
    }

    /// The value an evaluation compares: `measured` when there is one, `0` for counts and
    /// rates over an empty window, and nothing when `min_requests` is not met.
    pub fn value_of(&self, measured: Option<f64>, requests: u64) -> Option<f64> {
        if let Some(min) = self.min_requests
            && requests < min
        {
            return None;
        }
        match measured {
            Some(v) if v.is_finite() => Some(v),
            _ if self.metric.empty_is_zero() => Some(0.0),
            _ => None,
        }
    }
}

/// Log severity names to OpenTelemetry severity numbers (the lowest of each range).
pub fn severity_number(name: &str) -> Option<i32> {
    Some(match name.to_ascii_uppercase().as_str() {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARN" | "WARNING" => 13,
        "ERROR" => 17,
        "FATAL" => 21,
        _ => return None,
    })
}

/// `90` ▸ `90s`, `300` ▸ `5m`, `7200` ▸ `2h`, `86400` ▸ `1d`.
pub fn duration_label(seconds: u64) -> String {
    match seconds {
        s if s >= 86_400 && s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        s if s >= 3_600 && s.is_multiple_of(3_600) => format!("{}h", s / 3_600),
        s if s >= 60 && s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Where a rule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    #[default]
    Ok,
    /// Breaching since then, not yet for long enough.
    Pending { since_ms: i64 },
    /// Firing since then.
    Firing { since_ms: i64 },
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Pending { .. } => "pending",
            State::Firing { .. } => "firing",
        }
    }

    pub fn since_ms(self) -> Option<i64> {
        match self {
            State::Ok => None,
            State::Pending { since_ms } | State::Firing { since_ms } => Some(since_ms),
        }
    }

    /// The state stored as a name and a time; an unknown name reads as `ok`, so a rule whose
    /// row was damaged starts over rather than staying stuck.
    pub fn from_parts(name: &str, since_ms: Option<i64>) -> State {
        match (name, since_ms) {
            ("pending", Some(since_ms)) => State::Pending { since_ms },
            ("firing", Some(since_ms)) => State::Firing { since_ms },
            _ => State::Ok,
        }
    }
}

/// A move into or out of `firing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Fired,
    Resolved,
}

impl Transition {
    pub fn name(self) -> &'static str {
        match self {
            Transition::Fired => "firing",
            Transition::Resolved => "resolved",
        }
    }
}

/// One evaluation: the state after seeing `value` at `now_ms`, and the transition if the
/// rule started or stopped firing.
pub fn step(
    spec: &RuleSpec,
    state: State,
    value: Option<f64>,
    now_ms: i64,
) -> (State, Option<Transition>) {
    let for_ms = i64::try_from(spec.for_seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    if spec.breached(value) {
        match state {
            State::Firing { .. } => (state, None),
            State::Pending { since_ms } if now_ms.saturating_sub(since_ms) >= for_ms => {
                (State::Firing { since_ms: now_ms }, Some(Transition::Fired))
            }
            State::Pending { .. } => (state, None),
            State::Ok if for_ms == 0 => {
                (State::Firing { since_ms: now_ms }, Some(Transition::Fired))
            }
            State::Ok => (State::Pending { since_ms: now_ms }, None),
        }
    } else {
        match state {
            State::Firing { .. } => (State::Ok, Some(Transition::Resolved)),
            _ => (State::Ok, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn latency(threshold: f64, for_seconds: u64) -> RuleSpec {
        RuleSpec::from_json(json!({
            "metric": "p95_latency", "service": "checkout", "threshold": threshold,
            "window_seconds": 300, "for_seconds": for_seconds
        }))
        .unwrap()
    }

    #[test]
    fn a_breach_waits_for_its_duration_then_fires_and_resolves() {
        let rule = latency(500.0, 60);
        let (s, t) = step(&rule, State::Ok, Some(900.0), 0);
        assert_eq!((s, t), (State::Pending { since_ms: 0 }, None));
        let (s, t) = step(&rule, s, Some(900.0), 59_999);
        assert_eq!((s, t), (State::Pending { since_ms: 0 }, None));
        let (s, t) = step(&rule, s, Some(900.0), 60_000);
        assert_eq!(
            (s, t),
            (State::Firing { since_ms: 60_000 }, Some(Transition::Fired))
        );
        let (s, t) = step(&rule, s, Some(950.0), 90_000);
        assert_eq!((s, t), (State::Firing { since_ms: 60_000 }, None));
        let (s, t) = step(&rule, s, Some(100.0), 120_000);
        assert_eq!((s, t), (State::Ok, Some(Transition::Resolved)));
    }

    #[test]
    fn a_short_breach_never_fires() {
        let rule = latency(500.0, 60);
        let (s, _) = step(&rule, State::Ok, Some(900.0), 0);
        let (s, t) = step(&rule, s, Some(100.0), 30_000);
        assert_eq!((s, t), (State::Ok, None));
        let (s, t) = step(&rule, s, Some(900.0), 70_000);
        assert_eq!((s, t), (State::Pending { since_ms: 70_000 }, None));
    }

    #[test]
    fn zero_duration_fires_at_once_and_no_data_resolves_a_latency_rule() {
        let rule = latency(500.0, 0);
        let (s, t) = step(&rule, State::Ok, Some(501.0), 5);
        assert_eq!(t, Some(Transition::Fired));
        let v = rule.value_of(None, 0);
        assert_eq!(v, None);
        assert_eq!(step(&rule, s, v, 10).1, Some(Transition::Resolved));
    }

    #[test]
    fn empty_windows_count_as_zero_for_rates_and_counts() {
        let rule = RuleSpec::from_json(json!({
            "metric": "request_rate", "service": "checkout", "op": "<", "threshold": 1.0
        }))
        .unwrap();
        assert_eq!(rule.value_of(None, 0), Some(0.0));
        assert!(rule.breached(rule.value_of(None, 0)));
        let errors = RuleSpec::from_json(json!({
            "metric": "error_rate", "service": "checkout", "threshold": 0.1, "min_requests": 20
        }))
        .unwrap();
        assert_eq!(errors.value_of(Some(1.0), 3), None, "too few requests");
        assert_eq!(errors.value_of(Some(0.5), 20), Some(0.5));
        assert!(!errors.breached(None));
    }

    #[test]
    fn bad_rules_are_refused_with_the_field_named() {
        let cases = [
            (
                json!({"metric": "p95_latency", "threshold": 5}),
                "needs a service",
            ),
            (
                json!({"metric": "error_rate", "service": "a", "threshold": 5}),
                "fraction",
            ),
            (
                json!({"metric": "p95_latency", "service": "a", "threshold": 5, "window_seconds": 10}),
                "window_seconds",
            ),
            (
                json!({"metric": "p95_latency", "service": "a", "threshold": -1}),
                "negative",
            ),
            (
                json!({"metric": "p95_latency", "service": "a", "threshold": 5, "log_query": {}}),
                "log_query",
            ),
            (
                json!({"metric": "log_count", "threshold": 5, "log_query": {"min_severity": "LOUD"}}),
                "min_severity",
            ),
            (
                json!({"metric": "p95_latency", "service": "a", "threshold": 5, "colour": "red"}),
                "colour",
            ),
            (
                json!({"metric": "apdex", "service": "a", "threshold": 5}),
                "apdex",
            ),
        ];
        for (value, needle) in cases {
            let e = RuleSpec::from_json(value.clone()).unwrap_err();
            assert!(e.0.contains(needle), "{value}: {e}");
        }
    }

    #[test]
    fn rules_round_trip_and_describe_themselves() {
        let rule = RuleSpec::from_json(json!({
            "metric": "log_count", "threshold": 10, "op": ">=", "window_seconds": 3600,
            "for_seconds": 120, "log_query": {"min_severity": "ERROR", "contains": "timeout"},
            "severity": "critical"
        }))
        .unwrap();
        let back = RuleSpec::from_json(serde_json::to_value(&rule).unwrap()).unwrap();
        assert_eq!(back, rule);
        assert_eq!(
            rule.describe(),
            "log_count of every service >= 10 records over 1h for 2m"
        );
        assert_eq!(
            latency(500.0, 0).describe(),
            "p95_latency of checkout > 500 ms over 5m"
        );
    }

    #[test]
    fn stored_states_read_back() {
        for s in [
            State::Ok,
            State::Pending { since_ms: 7 },
            State::Firing { since_ms: 9 },
        ] {
            assert_eq!(State::from_parts(s.name(), s.since_ms()), s);
        }
        assert_eq!(State::from_parts("firing", None), State::Ok);
        assert_eq!(State::from_parts("weird", Some(1)), State::Ok);
    }

    proptest::proptest! {
        /// Whatever the values, a transition always matches the state change, and `Fired`
        /// never happens before the breach has lasted `for_seconds`.
        #[test]
        fn transitions_agree_with_states(values in proptest::collection::vec(0.0f64..1000.0, 1..60), for_s in 0u64..300) {
            let rule = latency(500.0, for_s);
            let firing = |s: State| matches!(s, State::Firing { .. });
            let mut state = State::Ok;
            let mut breach_start: Option<i64> = None;
            for (i, v) in values.iter().enumerate() {
                let now = i as i64 * 30_000;
                if *v > 500.0 { breach_start.get_or_insert(now); } else { breach_start = None; }
                let (next, t) = step(&rule, state, Some(*v), now);
                match t {
                    Some(Transition::Fired) => {
                        proptest::prop_assert!(!firing(state));
                        proptest::prop_assert!(firing(next));
                        proptest::prop_assert!(now - breach_start.unwrap() >= for_s as i64 * 1000);
                    }
                    Some(Transition::Resolved) => {
                        proptest::prop_assert!(firing(state));
                        proptest::prop_assert_eq!(next, State::Ok);
                    }
                    None => proptest::prop_assert_eq!(firing(state), firing(next)),
                }
                state = next;
            }
        }
    }
}
