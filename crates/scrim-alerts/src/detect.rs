//! Security detections: the detection step of incident response, over the audit log.
//!
//! Every action worth detecting is already an audit record (a refused sign-in, a key used
//! from a new address, a role change, a finished export, …). The server reads each tenant's
//! new records in chain order and asks [`classify`] about each one. Most records decide on
//! their own ([`Trigger::Now`]); a refused sign-in only matters in a burst, so it asks the
//! server to count the refusals in the window ([`Trigger::CountFailedSignIns`]) and
//! [`failed_sign_in_burst`] decides. A broken audit chain is found by verification, not by a
//! record: [`audit_chain_broken`].
//!
//! A detection is written back to the audit log (action [`DetectionKind::action`]) and sent
//! to the tenant's notification channels. Its text names ids, counts and addresses the
//! audit log already holds; never a secret.

use serde::Serialize;
use serde_json::Value;

/// Thresholds of the detections; the defaults suit a team of tens of people.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionSettings {
    /// Refused sign-ins in `failed_sign_in_window_seconds` that make a burst.
    pub failed_sign_ins: u64,
    pub failed_sign_in_window_seconds: u64,
    /// A key unused for this many days and then used again.
    pub dormant_key_days: u64,
    /// An export of at least this many rows…
    pub large_export_rows: u64,
    /// …or at least this many bytes.
    pub large_export_bytes: u64,
}

impl Default for DetectionSettings {
    fn default() -> Self {
        DetectionSettings {
            failed_sign_ins: 10,
            failed_sign_in_window_seconds: 600,
            dormant_key_days: 30,
            large_export_rows: 100_000,
            large_export_bytes: 100 * 1024 * 1024,
        }
    }
}

/// What was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectionKind {
    FailedSignIns,
    KeyNewAddress,
    KeyDormantUse,
    RoleEscalation,
    LargeExport,
    AuditChainBroken,
    RevokedKeyUse,
}

impl DetectionKind {
    pub const ALL: [DetectionKind; 7] = [
        DetectionKind::FailedSignIns,
        DetectionKind::KeyNewAddress,
        DetectionKind::KeyDormantUse,
        DetectionKind::RoleEscalation,
        DetectionKind::LargeExport,
        DetectionKind::AuditChainBroken,
        DetectionKind::RevokedKeyUse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DetectionKind::FailedSignIns => "failed_sign_ins",
            DetectionKind::KeyNewAddress => "key_new_address",
            DetectionKind::KeyDormantUse => "key_dormant_use",
            DetectionKind::RoleEscalation => "role_escalation",
            DetectionKind::LargeExport => "large_export",
            DetectionKind::AuditChainBroken => "audit_chain_broken",
            DetectionKind::RevokedKeyUse => "revoked_key_use",
        }
    }

    /// The audit action a detection is recorded under: `detection.<name>`.
    pub fn action(self) -> &'static str {
        match self {
            DetectionKind::FailedSignIns => "detection.failed_sign_ins",
            DetectionKind::KeyNewAddress => "detection.key_new_address",
            DetectionKind::KeyDormantUse => "detection.key_dormant_use",
            DetectionKind::RoleEscalation => "detection.role_escalation",
            DetectionKind::LargeExport => "detection.large_export",
            DetectionKind::AuditChainBroken => "detection.audit_chain_broken",
            DetectionKind::RevokedKeyUse => "detection.revoked_key_use",
        }
    }

    /// How urgent: a broken chain and a revoked key in use are critical.
    pub fn severity(self) -> crate::Severity {
        match self {
            DetectionKind::AuditChainBroken | DetectionKind::RevokedKeyUse => {
                crate::Severity::Critical
            }
            DetectionKind::KeyNewAddress => crate::Severity::Info,
            _ => crate::Severity::Warning,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            DetectionKind::FailedSignIns => "Burst of failed sign-ins",
            DetectionKind::KeyNewAddress => "API key used from a new address",
            DetectionKind::KeyDormantUse => "API key used after long disuse",
            DetectionKind::RoleEscalation => "Role escalation",
            DetectionKind::LargeExport => "Large export of telemetry",
            DetectionKind::AuditChainBroken => "Audit chain verification failed",
            DetectionKind::RevokedKeyUse => "Revoked API key used",
        }
    }

    /// What to do about it, for the notification.
    pub fn advice(self) -> &'static str {
        match self {
            DetectionKind::FailedSignIns => {
                "Check the addresses in the audit log; if it is an attack, sign out every \
                 session and review the accounts it targeted."
            }
            DetectionKind::KeyNewAddress | DetectionKind::KeyDormantUse => {
                "If nobody expected this, revoke the key (or suspend every key of the tenant) \
                 and rotate the applications' credentials."
            }
            DetectionKind::RoleEscalation => {
                "Confirm the change with the person who made it; revert the role if it was \
                 not planned."
            }
            DetectionKind::LargeExport => {
                "Confirm the export was expected; freeze the tenant's reads if it was not."
            }
            DetectionKind::AuditChainBroken => {
                "Someone changed or removed audit records outside Scrim. Preserve the \
                 database, run `scrim audit verify`, and investigate access to it."
            }
            DetectionKind::RevokedKeyUse => {
                "An application or attacker still holds a revoked key. Find the address in \
                 the audit log and remove the key there."
            }
        }
    }
}

/// The parts of an audit record a detection looks at (a view, so that this crate does not
/// depend on how records are stored).
#[derive(Debug, Clone, Copy)]
pub struct AuditView<'a> {
    pub seq: u64,
    pub at_ms: i64,
    pub action: &'a str,
    /// `success`, `denied` or `failed`.
    pub outcome: &'a str,
    /// The actor column: a user or key id, `operator`, `system:<name>`.
    pub actor: &'a str,
    pub target: &'a str,
    pub addr: Option<&'a str>,
    pub details: &'a Value,
}

/// A detection to record and send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub kind: DetectionKind,
    /// What it is about: a user, key or export target, or the tenant.
    pub target: String,
    /// One sentence.
    pub summary: String,
    /// Label and value pairs for the record's details and the notification.
    pub fields: Vec<(String, String)>,
    /// The audit record that caused it, when one did.
    pub source_seq: Option<u64>,
}

/// What a record means for the detections.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// A detection, decided by the record alone.
    Now(Detection),
    /// A refused sign-in: the server counts refused sign-ins in the window ending at this
    /// record and asks [`failed_sign_in_burst`].
    CountFailedSignIns { since_ms: i64 },
}

/// The audit actions the detections read (kept equal to scrim-server's `actions`).
pub mod actions {
    pub const SIGN_IN: &str = "session.sign_in";
    pub const APIKEY_NEW_ADDRESS: &str = "apikey.new_address";
    pub const APIKEY_DORMANT_USE: &str = "apikey.dormant_use";
    pub const APIKEY_REVOKED_USE: &str = "apikey.revoked_use";
    pub const MEMBER_ADD: &str = "member.add";
    pub const MEMBER_ROLE: &str = "member.role_change";
    pub const EXPORT_DONE: &str = "telemetry.export_done";
}

/// Roles by how much they may do; an unknown name ranks lowest.
fn rank(role: &str) -> u8 {
    match role {
        "owner" => 4,
        "admin" => 3,
        "member" => 2,
        "viewer" | "auditor" => 1,
        _ => 0,
    }
}

/// Decides what `r` means for the detections, or `None`.
pub fn classify(r: &AuditView<'_>, settings: &DetectionSettings) -> Option<Trigger> {
    let detection =
        |kind: DetectionKind, target: &str, summary: String, fields: Vec<(&str, String)>| {
            let mut fields: Vec<(String, String)> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            if let Some(addr) = r.addr {
                fields.push(("address".into(), addr.to_owned()));
            }
            fields.push(("audit record".into(), format!("#{}", r.seq)));
            Some(Trigger::Now(Detection {
                kind,
                target: target.to_owned(),
                summary,
                fields,
                source_seq: Some(r.seq),
            }))
        };
    match (r.action, r.outcome) {
        (actions::SIGN_IN, "denied") => {
            let window_ms = i64::try_from(settings.failed_sign_in_window_seconds)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000);
            Some(Trigger::CountFailedSignIns {
                since_ms: r.at_ms.saturating_sub(window_ms),
            })
        }
        (actions::APIKEY_NEW_ADDRESS, "success") => {
            // The first address a key is ever used from is not news.
            if r.details.get("first_address").and_then(Value::as_bool) == Some(true) {
                return None;
            }
            detection(
                DetectionKind::KeyNewAddress,
                r.target,
                format!(
                    "API key {} was used from {}, an address it had not been used from before",
                    r.target,
                    r.addr.unwrap_or("an unknown address")
                ),
                vec![("key", r.target.to_owned())],
            )
        }
        (actions::APIKEY_DORMANT_USE, "success") => {
            let days = r.details.get("idle_days").and_then(Value::as_u64)?;
            if days < settings.dormant_key_days {
                return None;
            }
            detection(
                DetectionKind::KeyDormantUse,
                r.target,
                format!(
                    "API key {} was used again after {days} days unused",
                    r.target
                ),
                vec![
                    ("key", r.target.to_owned()),
                    ("idle days", days.to_string()),
                ],
            )
        }
        (actions::APIKEY_REVOKED_USE, _) => detection(
            DetectionKind::RevokedKeyUse,
            r.target,
            format!("revoked API key {} was presented", r.target),
            vec![("key", r.target.to_owned())],
        ),
        (actions::MEMBER_ROLE | actions::MEMBER_ADD, "success") => {
            let (before, after) = if r.action == actions::MEMBER_ADD {
                ("", r.details.get("role").and_then(Value::as_str)?)
            } else {
                let change = r.details.get("changes")?.get("role")?;
                (
                    change.get("before").and_then(Value::as_str).unwrap_or(""),
                    change.get("after").and_then(Value::as_str)?,
                )
            };
            if rank(after) < rank("admin") || rank(after) <= rank(before) {
                return None;
            }
            let from = if before.is_empty() { "no role" } else { before };
            detection(
                DetectionKind::RoleEscalation,
                r.target,
                format!(
                    "{} was given the {after} role (from {from}) by {}",
                    if r.target.is_empty() {
                        "a new account"
                    } else {
                        r.target
                    },
                    r.actor
                ),
                vec![
                    ("user", r.target.to_owned()),
                    ("from", from.to_owned()),
                    ("to", after.to_owned()),
                    ("by", r.actor.to_owned()),
                ],
            )
        }
        (actions::EXPORT_DONE, "success") => {
            let rows = r.details.get("rows").and_then(Value::as_u64).unwrap_or(0);
            let bytes = r.details.get("bytes").and_then(Value::as_u64).unwrap_or(0);
            if rows < settings.large_export_rows && bytes < settings.large_export_bytes {
                return None;
            }
            detection(
                DetectionKind::LargeExport,
                r.target,
                format!(
                    "{} exported {} rows ({}) of {}",
                    r.actor,
                    crate::thousands(rows),
                    byte_label(bytes),
                    if r.target.is_empty() {
                        "telemetry"
                    } else {
                        r.target
                    }
                ),
                vec![
                    ("by", r.actor.to_owned()),
                    ("rows", rows.to_string()),
                    ("bytes", bytes.to_string()),
                ],
            )
        }
        _ => None,
    }
}

/// A burst, when `refused` sign-ins in the window reach the threshold and no burst was
/// reported in the same window yet (`last_reported_ms`: when the previous one was).
pub fn failed_sign_in_burst(
    refused: u64,
    now_ms: i64,
    last_reported_ms: Option<i64>,
    settings: &DetectionSettings,
    source: &AuditView<'_>,
) -> Option<Detection> {
    if refused < settings.failed_sign_ins.max(1) {
        return None;
    }
    let window_ms = i64::try_from(settings.failed_sign_in_window_seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    if last_reported_ms.is_some_and(|t| now_ms.saturating_sub(t) < window_ms) {
        return None;
    }
    let mut fields = vec![
        ("refused sign-ins".to_owned(), refused.to_string()),
        (
            "window".to_owned(),
            crate::rule::duration_label(settings.failed_sign_in_window_seconds),
        ),
    ];
    if let Some(addr) = source.addr {
        fields.push(("latest address".into(), addr.to_owned()));
    }
    fields.push(("audit record".into(), format!("#{}", source.seq)));
    Some(Detection {
        kind: DetectionKind::FailedSignIns,
        target: source.target.to_owned(),
        summary: format!(
            "{refused} sign-ins were refused in the last {}",
            crate::rule::duration_label(settings.failed_sign_in_window_seconds)
        ),
        fields,
        source_seq: Some(source.seq),
    })
}

/// The detection for a chain that failed verification; `problem` is the verifier's message
/// (record numbers and what is wrong, never record contents).
pub fn audit_chain_broken(chain: &str, problem: &str) -> Detection {
    Detection {
        kind: DetectionKind::AuditChainBroken,
        target: chain.to_owned(),
        summary: format!("the audit chain failed verification: {problem}"),
        fields: vec![("problem".into(), problem.to_owned())],
        source_seq: None,
    }
}

fn byte_label(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{} bytes", crate::thousands(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view<'a>(action: &'a str, outcome: &'a str, details: &'a Value) -> AuditView<'a> {
        AuditView {
            seq: 42,
            at_ms: 1_000_000,
            action,
            outcome,
            actor: "u_admin",
            target: "u_target",
            addr: Some("203.0.113.9"),
            details,
        }
    }

    fn kind_of(t: Option<Trigger>) -> Option<DetectionKind> {
        match t {
            Some(Trigger::Now(d)) => Some(d.kind),
            _ => None,
        }
    }

    #[test]
    fn role_changes_upwards_to_admin_or_owner_are_escalations() {
        let s = DetectionSettings::default();
        let change = |before: &str, after: &str| json!({"changes": {"role": {"before": before, "after": after}}});
        for (before, after, escalation) in [
            ("member", "admin", true),
            ("viewer", "owner", true),
            ("admin", "owner", true),
            ("viewer", "member", false),
            ("owner", "admin", false),
            ("admin", "admin", false),
        ] {
            let d = change(before, after);
            let got = kind_of(classify(&view(actions::MEMBER_ROLE, "success", &d), &s));
            assert_eq!(got.is_some(), escalation, "{before} -> {after}");
        }
        let d = change("member", "owner");
        assert_eq!(
            kind_of(classify(&view(actions::MEMBER_ROLE, "denied", &d), &s)),
            None
        );
        let added = json!({"role": "owner"});
        let Some(Trigger::Now(det)) = classify(&view(actions::MEMBER_ADD, "success", &added), &s)
        else {
            panic!("adding an owner is an escalation")
        };
        assert_eq!(det.kind, DetectionKind::RoleEscalation);
        assert!(
            det.summary.contains("owner role (from no role)"),
            "{}",
            det.summary
        );
        let member = json!({"role": "member"});
        assert_eq!(
            kind_of(classify(&view(actions::MEMBER_ADD, "success", &member), &s)),
            None
        );
    }

    #[test]
    fn refused_sign_ins_ask_for_a_count_and_a_burst_reports_once_per_window() {
        let s = DetectionSettings::default();
        let d = json!({});
        let r = view(actions::SIGN_IN, "denied", &d);
        assert_eq!(
            classify(&r, &s),
            Some(Trigger::CountFailedSignIns {
                since_ms: 1_000_000 - 600_000
            })
        );
        assert_eq!(classify(&view(actions::SIGN_IN, "success", &d), &s), None);
        assert!(failed_sign_in_burst(9, 1_000_000, None, &s, &r).is_none());
        let burst = failed_sign_in_burst(10, 1_000_000, None, &s, &r).unwrap();
        assert_eq!(burst.summary, "10 sign-ins were refused in the last 10m");
        assert!(failed_sign_in_burst(11, 1_000_000, Some(900_000), &s, &r).is_none());
        assert!(failed_sign_in_burst(11, 1_700_000, Some(1_000_000), &s, &r).is_some());
    }

    #[test]
    fn key_detections_skip_the_first_address_and_short_idleness() {
        let s = DetectionSettings::default();
        let first = json!({"first_address": true});
        assert_eq!(
            classify(&view(actions::APIKEY_NEW_ADDRESS, "success", &first), &s),
            None
        );
        let later = json!({"first_address": false});
        assert_eq!(
            kind_of(classify(
                &view(actions::APIKEY_NEW_ADDRESS, "success", &later),
                &s
            )),
            Some(DetectionKind::KeyNewAddress)
        );
        let idle = |days: u64| json!({"idle_days": days});
        let d = idle(29);
        assert_eq!(
            classify(&view(actions::APIKEY_DORMANT_USE, "success", &d), &s),
            None
        );
        let d = idle(45);
        assert_eq!(
            kind_of(classify(
                &view(actions::APIKEY_DORMANT_USE, "success", &d),
                &s
            )),
            Some(DetectionKind::KeyDormantUse)
        );
        let none = json!({});
        assert_eq!(
            kind_of(classify(
                &view(actions::APIKEY_REVOKED_USE, "denied", &none),
                &s
            )),
            Some(DetectionKind::RevokedKeyUse)
        );
    }

    #[test]
    fn exports_are_large_by_rows_or_bytes() {
        let s = DetectionSettings::default();
        for (rows, bytes, large) in [
            (99_999, 0, false),
            (100_000, 0, true),
            (10, 200 * 1024 * 1024, true),
        ] {
            let d = json!({"rows": rows, "bytes": bytes});
            let got = kind_of(classify(&view(actions::EXPORT_DONE, "success", &d), &s));
            assert_eq!(got.is_some(), large, "{rows} rows, {bytes} bytes");
        }
    }

    #[test]
    fn every_kind_has_a_distinct_action() {
        let actions: std::collections::HashSet<&str> =
            DetectionKind::ALL.iter().map(|k| k.action()).collect();
        assert_eq!(actions.len(), DetectionKind::ALL.len());
        for k in DetectionKind::ALL {
            assert_eq!(k.action(), format!("detection.{}", k.name()));
        }
    }
}
