//! Evaluating a tenant's alert rules: each rule's metric over the window ending now, read
//! through the same tenant-bound query as the services page (segments and buffer), then
//! `scrim_alerts::step`. A transition goes into the history and becomes a notification.

use std::collections::HashMap;

use scrim_alerts::{Metric, RuleSpec, State, Transition, step};
use scrim_meta::{AlertRuleRow, Tenant};
use scrim_store::query::{LogFilter, ServiceStats, TimeRange};

use super::notify::{Message, enqueue, severity_of};
use crate::ServerError;
use crate::serve::Shared;

/// What evaluating one tenant's rules did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Evaluated {
    pub rules: u64,
    pub fired: u64,
    pub resolved: u64,
}

/// The value of `spec`'s metric for the window ending at `now_ms`, and the requests behind
/// it (for `min_requests`).
async fn measure(
    q: &scrim_store::TenantQuery,
    spec: &RuleSpec,
    now_ms: i64,
    stats_by_window: &mut HashMap<u64, Vec<ServiceStats>>,
) -> Result<(Option<f64>, u64), ServerError> {
    let end_ns = now_ms.saturating_mul(1_000_000);
    let window_ns = i64::try_from(spec.window_seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000_000);
    let range = TimeRange::new(end_ns.saturating_sub(window_ns), end_ns);
    if spec.metric == Metric::LogCount {
        let query = spec.log_query.clone().unwrap_or_default();
        let filter = LogFilter {
            range: Some(range),
            service: spec.service.clone(),
            min_severity: query
                .min_severity
                .as_deref()
                .and_then(scrim_alerts::rule::severity_number),
            text: query.contains,
            ..Default::default()
        };
        let n = q.log_count(&filter).await?;
        return Ok((Some(n as f64), n));
    }
    if let std::collections::hash_map::Entry::Vacant(slot) =
        stats_by_window.entry(spec.window_seconds)
    {
        slot.insert(q.services(range).await?);
    }
    let stats = stats_by_window.get(&spec.window_seconds).and_then(|all| {
        all.iter()
            .find(|s| Some(&s.service) == spec.service.as_ref())
    });
    let Some(s) = stats else {
        return Ok((None, 0));
    };
    let value = match spec.metric {
        Metric::ErrorRate => s.error_rate,
        Metric::P95Latency => s.p95_ns / 1e6,
        Metric::P99Latency => s.p99_ns / 1e6,
        Metric::RequestRate => s.request_rate,
        Metric::LogCount => unreachable!("handled above"),
    };
    Ok((Some(value), s.requests))
}

/// Evaluates every enabled rule of `tenant` at `now_ms`.
pub(crate) async fn evaluate_tenant(
    shared: &Shared,
    public_url: Option<&str>,
    tenant: &Tenant,
    now_ms: i64,
) -> Result<Evaluated, ServerError> {
    let meta = &shared.platform.meta;
    let rules: Vec<AlertRuleRow> = meta
        .alert_rules(&tenant.id)
        .await?
        .into_iter()
        .filter(|r| r.enabled)
        .collect();
    let mut done = Evaluated::default();
    if rules.is_empty() {
        return Ok(done);
    }
    let q = crate::api::query_for_tenant(shared, &tenant.id, false).await?;
    let mut stats = HashMap::new();
    for row in rules {
        let spec = match serde_json::from_str(&row.spec)
            .map_err(|e| scrim_alerts::RuleError(e.to_string()))
            .and_then(RuleSpec::from_json)
        {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(
                    rule = row.id,
                    "alert rule skipped, its stored spec is invalid: {e}"
                );
                continue;
            }
        };
        let (measured, requests) = measure(&q, &spec, now_ms, &mut stats).await?;
        let value = spec.value_of(measured, requests);
        let state = State::from_parts(&row.state, row.state_since_ms);
        let (next, transition) = step(&spec, state, value, now_ms);
        done.rules += 1;
        if let Some(t) = transition {
            meta.record_alert_event(
                &tenant.id,
                &row.id,
                &row.name,
                t.name(),
                value,
                spec.threshold,
                now_ms,
            )
            .await?;
            match t {
                Transition::Fired => done.fired += 1,
                Transition::Resolved => done.resolved += 1,
            }
            enqueue(
                &shared.platform,
                public_url,
                &tenant.id,
                &tenant.name,
                message(&row, &spec, t, value),
                now_ms,
            )
            .await?;
        }
        meta.set_alert_state(
            &tenant.id,
            &row.id,
            next.name(),
            next.since_ms(),
            value,
            now_ms,
        )
        .await?;
    }
    Ok(done)
}

fn message(row: &AlertRuleRow, spec: &RuleSpec, t: Transition, value: Option<f64>) -> Message {
    let shown = value.map_or_else(|| "no data".to_owned(), |v| spec.metric.format(v));
    let (kind, title, summary, severity) = match t {
        Transition::Fired => (
            "alert.firing",
            format!("Alert firing: {}", row.name),
            format!("{} (now {shown})", spec.describe()),
            severity_of(spec.severity),
        ),
        Transition::Resolved => (
            "alert.resolved",
            format!("Alert resolved: {}", row.name),
            format!("back within {} (now {shown})", spec.describe()),
            scrim_notify::Severity::Info,
        ),
    };
    let mut fields = vec![
        ("rule".to_owned(), row.name.clone()),
        ("metric".to_owned(), spec.metric.as_str().to_owned()),
        ("value".to_owned(), shown),
        (
            "threshold".to_owned(),
            format!(
                "{} {}",
                spec.op.symbol(),
                spec.metric.format(spec.threshold)
            ),
        ),
    ];
    if let Some(s) = &spec.service {
        fields.insert(1, ("service".to_owned(), s.clone()));
    }
    Message {
        kind: kind.to_owned(),
        severity,
        title,
        summary,
        fields,
        path: Some(format!("/alerts#{}", row.id)),
    }
}
