//! The JSON shapes of alert rules, history, insights, detections, channels and
//! notifications: one definition for the API and `scrim alerts`.

use scrim_alerts::RuleSpec;
use scrim_alerts::detect::DetectionKind;
use scrim_meta::{AuditQuery, TenantId};
use serde_json::{Value, json};

use crate::ServerError;
use crate::platform::Platform;

/// Unix milliseconds as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A rule with its state.
pub fn rule(row: &scrim_meta::AlertRuleRow) -> Value {
    let spec: Value = serde_json::from_str(&row.spec).unwrap_or(Value::Null);
    let description = RuleSpec::from_json(spec.clone())
        .map(|s| s.describe())
        .unwrap_or_default();
    json!({
        "id": row.id,
        "name": row.name,
        "enabled": row.enabled,
        "spec": spec,
        "description": description,
        "state": row.state,
        "state_since": row.state_since_ms.map(rfc3339),
        "last_value": row.last_value,
        "last_evaluated_at": row.last_evaluated_at_ms.map(rfc3339),
        "created_at": rfc3339(row.created_at_ms),
        "created_by": row.created_by,
    })
}

/// The tenant's detection records, newest first.
pub async fn detections(
    meta: &scrim_meta::Meta,
    tenant: &scrim_meta::TenantId,
    limit: u32,
) -> Result<Vec<Value>, ServerError> {
    let mut rows = Vec::new();
    for kind in DetectionKind::ALL {
        let q = AuditQuery {
            action: Some(kind.action().to_owned()),
            limit: Some(limit),
            ..Default::default()
        };
        rows.extend(meta.audit_rows(tenant.as_str(), &q).await?);
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.seq));
    rows.truncate(limit as usize);
    Ok(rows
        .iter()
        .filter_map(|row| crate::audit::record_of(row).ok())
        .map(|r| {
            json!({
                "seq": r.seq,
                "at": rfc3339(r.at_ms),
                "kind": r.action.trim_start_matches("detection."),
                "target": r.target,
                "summary": r.details.get("summary"),
                "severity": r.details.get("severity"),
                "fields": r.details.get("fields"),
                "source_seq": r.details.get("source_seq"),
            })
        })
        .collect())
}

/// A channel's public settings (never its secret).
pub fn channel(row: &scrim_meta::ChannelRow) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "type": row.kind,
        "enabled": row.enabled,
        "settings": serde_json::from_str::<Value>(&row.settings).unwrap_or(Value::Null),
        "created_at": rfc3339(row.created_at_ms),
        "created_by": row.created_by,
    })
}

/// One firing or resolved event.
pub fn event(e: &scrim_meta::AlertEventRow) -> Value {
    json!({
        "rule_id": e.rule_id, "rule_name": e.rule_name, "state": e.state,
        "value": e.value, "threshold": e.threshold, "at": rfc3339(e.at_ms),
    })
}

/// A notification (as stored: already redacted) with its deliveries.
pub fn notification(
    n: &scrim_meta::NotificationRow,
    deliveries: &[scrim_meta::DeliveryRow],
) -> Value {
    let stored: Value = serde_json::from_str(&n.payload).unwrap_or(Value::Null);
    json!({
        "id": n.id, "kind": n.kind, "severity": n.severity, "title": n.title,
        "summary": stored.get("summary"), "fields": stored.get("fields"),
        "created_at": rfc3339(n.created_at_ms),
        "deliveries": deliveries.iter().map(|d| json!({
            "channel_id": d.channel_id, "state": d.state, "attempts": d.attempts,
            "last_status": d.last_status, "last_error": d.last_error,
            "next_attempt_at": d.next_attempt_at_ms.map(rfc3339),
            "delivered_at": d.delivered_at_ms.map(rfc3339),
        })).collect::<Vec<_>>(),
    })
}

/// The sensitive-data findings of the `window` (`1h`, `24h`, `7d`) ending now, each with
/// its sentence, and what was first seen in it.
pub async fn insights(
    platform: &Platform,
    tenant: &TenantId,
    window: &str,
) -> Result<Value, ServerError> {
    let range = crate::api::window_ending_now(window).map_err(ServerError::Usage)?;
    let (since, until) = (range.start_ns / 1_000_000, range.end_ns / 1_000_000);
    let period = format!("in the last {window}");
    let findings = super::findings_between(platform, tenant, since, until).await?;
    let first = platform.meta.first_seen_since(tenant, since).await?;
    Ok(json!({
        "window": window,
        "findings": findings.iter().map(|f| json!({
            "service": f.service, "attribute": f.attribute, "kind": f.kind, "count": f.count,
            "routine": scrim_alerts::insight::is_routine(&f.kind),
            "sentence": f.sentence(&period),
        })).collect::<Vec<_>>(),
        "first_seen": first.iter().map(|f| json!({
            "service": f.service, "attribute": f.attribute, "kind": f.kind, "count": f.count,
            "first_seen": rfc3339(f.first_seen_ms),
            "routine": scrim_alerts::insight::is_routine(&f.kind),
        })).collect::<Vec<_>>(),
    }))
}
