//! Changes to alert rules and notification channels, shared by the API and `scrim alerts`:
//! checked, audited before they take effect (`Entry::around`), then stored.

use scrim_alerts::RuleSpec;
use scrim_meta::{AlertRuleRow, ChannelRow, NewAlertRule, TenantId};
use serde_json::{Map, Value};

use super::notify;
use crate::ServerError;
use crate::accounts::Act;
use crate::audit::actions;
use crate::platform::Platform;

fn usage(m: impl Into<String>) -> ServerError {
    ServerError::Usage(m.into())
}

/// A rule's or channel's name, trimmed: 1 to 200 bytes (the limit counts surrounding
/// spaces), the one check the API and the command line share.
pub(crate) fn checked_name(name: &str) -> Result<&str, ServerError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || name.len() > 200 {
        return Err(usage("name is required: 1 to 200 characters"));
    }
    Ok(trimmed)
}

/// Who created something, for its row: the user or key id (`None` for the operator).
fn creator(act: &Act) -> Option<String> {
    match crate::audit::actor_of(&act.actor) {
        scrim_audit::Actor::User { id } | scrim_audit::Actor::ApiKey { id } => Some(id),
        _ => None,
    }
}

/// Creates a rule (recorded as `alert.rule_create` with the rule).
pub async fn create_rule(
    platform: &Platform,
    act: &Act,
    tenant: &TenantId,
    name: &str,
    enabled: bool,
    spec: &RuleSpec,
) -> Result<AlertRuleRow, ServerError> {
    let name = checked_name(name)?;
    spec.check().map_err(|e| usage(e.0))?;
    let new = NewAlertRule {
        name: name.to_owned(),
        spec: serde_json::to_string(spec).map_err(|e| usage(e.to_string()))?,
        enabled,
        created_by: creator(act),
    };
    Ok(act
        .entry(&platform.audit, actions::ALERT_RULE_CREATE, name)
        .detail("rule", serde_json::to_value(spec).unwrap_or_default())
        .detail("enabled", enabled)
        .around(
            platform
                .meta
                .create_alert_rule(tenant, &new, crate::audit::now_ms()),
        )
        .await??)
}

/// Deletes a rule (recorded as `alert.rule_delete`); its history stays. `false`: the
/// tenant has no such rule, and nothing was recorded.
pub async fn delete_rule(
    platform: &Platform,
    act: &Act,
    tenant: &TenantId,
    id: &str,
) -> Result<bool, ServerError> {
    let Some(before) = platform.meta.alert_rule(tenant, id).await? else {
        return Ok(false);
    };
    act.entry(&platform.audit, actions::ALERT_RULE_DELETE, id)
        .detail("name", before.name)
        .around(platform.meta.delete_alert_rule(tenant, id))
        .await??;
    Ok(true)
}

/// Adds a channel from its JSON description (`{"type": "webhook", "url", "secret"?}`, …);
/// a webhook without a secret gets a generated one, returned (the only time it is shown).
/// Recorded as `notification.channel_create` with the public settings.
pub async fn create_channel(
    platform: &Platform,
    act: &Act,
    tenant: &TenantId,
    name: &str,
    mut spec: Map<String, Value>,
) -> Result<(ChannelRow, scrim_notify::Channel, Option<String>), ServerError> {
    let name = checked_name(name)?;
    let mut generated = None;
    if spec.get("type").and_then(Value::as_str) == Some("webhook") && !spec.contains_key("secret") {
        let secret = scrim_notify::SigningSecret::generate()
            .map_err(|e| usage(format!("no randomness: {e}")))?;
        generated = Some(secret.expose().to_owned());
        spec.insert("secret".into(), Value::String(secret.expose().to_owned()));
    }
    // Serde's message names the field; the value is never quoted back.
    let channel: scrim_notify::Channel =
        serde_json::from_value(Value::Object(spec)).map_err(|e| {
            let m = e.to_string();
            usage(format!(
                "invalid channel: {}",
                m.lines().next().unwrap_or(&m)
            ))
        })?;
    channel.check().map_err(|e| usage(e.to_string()))?;
    let (public, secret) = channel.split();
    let sealed = notify::seal_secret(platform, tenant, &secret).await?;
    let kind = channel.kind();
    let created_by = creator(act);
    let row = act
        .entry(&platform.audit, actions::CHANNEL_CREATE, name)
        .detail("type", kind)
        .detail("channel", channel.public())
        .around(platform.meta.create_channel(
            tenant,
            name,
            kind,
            &public.to_string(),
            &sealed,
            created_by.as_deref(),
            crate::audit::now_ms(),
        ))
        .await??;
    Ok((row, channel, generated))
}

/// Deletes a channel (recorded as `notification.channel_delete`). `false`: the tenant has
/// no such channel, and nothing was recorded.
pub async fn delete_channel(
    platform: &Platform,
    act: &Act,
    tenant: &TenantId,
    id: &str,
) -> Result<bool, ServerError> {
    let Some(row) = platform.meta.channel(tenant, id).await? else {
        return Ok(false);
    };
    act.entry(&platform.audit, actions::CHANNEL_DELETE, id)
        .detail("name", row.name)
        .around(platform.meta.delete_channel(tenant, id))
        .await??;
    Ok(true)
}
