//! Storage for alerting (issue 11): alert rules and their evaluation state, the history of
//! alerts firing and resolving, notification channels, notifications with their outbox of
//! deliveries, counts of the sensitive data the redactor caught, and the cursors of the
//! security detectors.
//!
//! This module keeps rows and the rules that need the database (one transaction where two
//! writes must go together, conditional updates where several nodes may race); what a rule
//! means, how a notification is sent and what counts as suspicious are the server's. The
//! JSON columns (`spec`, `settings`, `payload`) are opaque here, and so is a channel's
//! secret, sealed by the caller.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use sqlx::Row;

use crate::BeginWrite as _;
use crate::error::{MetaError, classify};
use crate::tenant::random_id;
use crate::{Meta, TenantId, now_ms, on_pool};

/// Rule and channel names: a label for people, at most this many bytes.
const MAX_NAME: usize = 200;
/// A rule's spec, a channel's settings or its sealed secret.
const MAX_JSON: usize = 64 * 1024;
/// A notification's payload.
const MAX_PAYLOAD: usize = 256 * 1024;
/// A notification's title.
const MAX_TITLE: usize = 1000;
/// A notification's kind and severity: short words chosen by the server.
const MAX_WORD: usize = 64;
/// A delivery's last error is cut to this many bytes (a remote's error page can be large).
const MAX_ERROR: usize = 1000;
/// Most rows any list returns.
const MAX_ROWS: u32 = 10_000;
const HOUR_MS: i64 = 3_600_000;

/// A stored alert rule with its evaluation state.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRuleRow {
    /// `al_` and 16 characters of lowercase base32.
    pub id: String,
    pub tenant_id: TenantId,
    /// Unique within the tenant.
    pub name: String,
    /// The rule as JSON, owned by the caller.
    pub spec: String,
    pub enabled: bool,
    pub created_at_ms: i64,
    pub created_by: Option<String>,
    pub updated_at_ms: i64,
    /// `ok`, `pending` or `firing`.
    pub state: String,
    /// Since when the rule has been in `state`; `None` for a rule never out of `ok`, or
    /// whose spec changed.
    pub state_since_ms: Option<i64>,
    pub last_value: Option<f64>,
    pub last_evaluated_at_ms: Option<i64>,
}

/// What [`Meta::create_alert_rule`] needs.
#[derive(Debug, Clone)]
pub struct NewAlertRule {
    pub name: String,
    pub spec: String,
    pub enabled: bool,
    pub created_by: Option<String>,
}

/// An alert firing or resolving.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEventRow {
    pub id: i64,
    pub tenant_id: TenantId,
    pub rule_id: String,
    /// The rule's name when it happened (the rule may since have been renamed or deleted).
    pub rule_name: String,
    /// `firing` or `resolved`.
    pub state: String,
    pub value: Option<f64>,
    pub threshold: f64,
    pub at_ms: i64,
}

/// A stored notification channel.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelRow {
    /// `ch_` and 16 characters of lowercase base32.
    pub id: String,
    pub tenant_id: TenantId,
    pub name: String,
    /// `webhook`, `slack` or `email`.
    pub kind: String,
    /// The public part of the settings, JSON.
    pub settings: String,
    /// Sealed by the caller; opaque here, and never shown by `Debug`.
    pub secret: Vec<u8>,
    pub enabled: bool,
    pub created_at_ms: i64,
    pub created_by: Option<String>,
}

impl fmt::Debug for ChannelRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelRow")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("settings", &self.settings)
            .field("secret", &format_args!("[{} bytes]", self.secret.len()))
            .field("enabled", &self.enabled)
            .field("created_at_ms", &self.created_at_ms)
            .field("created_by", &self.created_by)
            .finish()
    }
}

/// A notification, its payload already redacted by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    /// Chosen by the caller: 3 to 64 letters, digits, `_` or `-`.
    pub id: String,
    pub tenant_id: TenantId,
    pub kind: String,
    pub severity: String,
    pub title: String,
    /// JSON.
    pub payload: String,
    pub created_at_ms: i64,
}

/// One notification's delivery to one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub notification_id: String,
    pub channel_id: String,
    pub tenant_id: TenantId,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    /// When a `pending` delivery is due; `None` once it is `delivered` or `failed`.
    pub next_attempt_at_ms: Option<i64>,
    /// The remote's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub updated_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

/// How one attempt at a delivery went ([`Meta::record_delivery`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered {
        status: Option<u16>,
    },
    /// Failed for now; try again at `next_attempt_at_ms`.
    Retry {
        next_attempt_at_ms: i64,
        status: Option<u16>,
        error: String,
    },
    /// Failed for good (refused, or out of attempts).
    Failed {
        status: Option<u16>,
        error: String,
    },
}

/// How many values of one kind the redactor caught in one attribute of one service, in
/// one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRow {
    /// The start of the UTC hour, Unix ms (a time within the hour is floored to it).
    pub hour_ms: i64,
    pub service: String,
    pub attribute: String,
    pub kind: String,
    pub count: u64,
}

/// Findings of one (service, attribute, kind), summed over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingTotal {
    pub service: String,
    pub attribute: String,
    pub kind: String,
    pub count: u64,
    /// When this triple was first caught, Unix ms.
    pub first_seen_ms: i64,
}

const RULE_COLUMNS: &str = "id, tenant_id, name, spec, enabled, created_at, created_by, \
     updated_at, state, state_since, last_value, last_evaluated_at";

const CHANNEL_COLUMNS: &str =
    "id, tenant_id, name, kind, settings, secret, enabled, created_at, created_by";

const NOTIFICATION_COLUMNS: &str = "n.id, n.tenant_id, n.kind, n.severity, n.title, n.payload, \
     n.created_at";

const DELIVERY_COLUMNS: &str = "d.notification_id, d.channel_id, d.tenant_id, d.state, \
     d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.updated_at, d.delivered_at";

macro_rules! rule_from_row {
    ($row:expr) => {{
        let row = $row;
        let enabled: i32 = row.try_get("enabled")?;
        AlertRuleRow {
            id: row.try_get("id")?,
            tenant_id: TenantId::from_db(row.try_get("tenant_id")?),
            name: row.try_get("name")?,
            spec: row.try_get("spec")?,
            enabled: enabled != 0,
            created_at_ms: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
            updated_at_ms: row.try_get("updated_at")?,
            state: row.try_get("state")?,
            state_since_ms: row.try_get("state_since")?,
            last_value: row.try_get("last_value")?,
            last_evaluated_at_ms: row.try_get("last_evaluated_at")?,
        }
    }};
}

macro_rules! channel_from_row {
    ($row:expr) => {{
        let row = $row;
        let enabled: i32 = row.try_get("enabled")?;
        ChannelRow {
            id: row.try_get("id")?,
            tenant_id: TenantId::from_db(row.try_get("tenant_id")?),
            name: row.try_get("name")?,
            kind: row.try_get("kind")?,
            settings: row.try_get("settings")?,
            secret: row.try_get("secret")?,
            enabled: enabled != 0,
            created_at_ms: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
        }
    }};
}

macro_rules! notification_from_row {
    ($row:expr) => {{
        let row = $row;
        NotificationRow {
            id: row.try_get("id")?,
            tenant_id: TenantId::from_db(row.try_get("tenant_id")?),
            kind: row.try_get("kind")?,
            severity: row.try_get("severity")?,
            title: row.try_get("title")?,
            payload: row.try_get("payload")?,
            created_at_ms: row.try_get("created_at")?,
        }
    }};
}

macro_rules! delivery_from_row {
    ($row:expr) => {{
        let row = $row;
        let attempts: i32 = row.try_get("attempts")?;
        let status: Option<i32> = row.try_get("last_status")?;
        DeliveryRow {
            notification_id: row.try_get("notification_id")?,
            channel_id: row.try_get("channel_id")?,
            tenant_id: TenantId::from_db(row.try_get("tenant_id")?),
            state: row.try_get("state")?,
            attempts: u32::try_from(attempts).map_err(|_| MetaError::Corrupt {
                what: "delivery attempts",
            })?,
            next_attempt_at_ms: row.try_get("next_attempt_at")?,
            last_status: status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.try_get("last_error")?,
            updated_at_ms: row.try_get("updated_at")?,
            delivered_at_ms: row.try_get("delivered_at")?,
        }
    }};
}

macro_rules! total_from_row {
    ($row:expr) => {{
        let row = $row;
        let count: i64 = row.try_get("total")?;
        FindingTotal {
            service: row.try_get("service")?,
            attribute: row.try_get("attribute")?,
            kind: row.try_get("kind")?,
            count: u64::try_from(count).unwrap_or(0),
            first_seen_ms: row.try_get("first_seen")?,
        }
    }};
}

fn check_name(field: &'static str, name: &str) -> Result<(), MetaError> {
    if name.trim().is_empty() || name.len() > MAX_NAME {
        return Err(MetaError::Invalid {
            field,
            reason: "must be 1 to 200 bytes, not only spaces",
        });
    }
    Ok(())
}

fn check_len(
    field: &'static str,
    s: &[u8],
    max: usize,
    reason: &'static str,
) -> Result<(), MetaError> {
    if s.len() > max {
        return Err(MetaError::Invalid { field, reason });
    }
    Ok(())
}

fn check_word(field: &'static str, s: &str) -> Result<(), MetaError> {
    if s.is_empty() || s.len() > MAX_WORD {
        return Err(MetaError::Invalid {
            field,
            reason: "must be 1 to 64 bytes",
        });
    }
    Ok(())
}

/// Notification ids come from the caller (they go into the audit record first).
fn check_notification_id(id: &str) -> Result<(), MetaError> {
    let ok = (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(MetaError::Invalid {
            field: "notification id",
            reason: "3 to 64 letters, digits, '_' or '-'",
        })
    }
}

/// Cuts `s` to at most `max` bytes, on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn floor_to_hour(ms: i64) -> i64 {
    ms - ms.rem_euclid(HOUR_MS)
}

fn db_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, MAX_ROWS))
}

fn db_count(n: u64) -> Result<i64, MetaError> {
    i64::try_from(n).map_err(|_| MetaError::Invalid {
        field: "finding count",
        reason: "too large",
    })
}

impl Meta {
    // ---- Alert rules ------------------------------------------------------------------

    /// Creates an alert rule of `tenant`, in state `ok`. A name the tenant already uses is
    /// `AlreadyExists { what: "alert rule name" }`; an unknown tenant is `NotFound`.
    pub async fn create_alert_rule(
        &self,
        tenant: &TenantId,
        new: &NewAlertRule,
        now_ms: i64,
    ) -> Result<AlertRuleRow, MetaError> {
        check_name("alert rule name", &new.name)?;
        check_len(
            "alert rule spec",
            new.spec.as_bytes(),
            MAX_JSON,
            "must be at most 64 KiB",
        )?;
        let id = random_id("al_")?;
        let sql = format!(
            "INSERT INTO alert_rules (id, tenant_id, name, spec, enabled, created_at, \
             created_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6) \
             RETURNING {RULE_COLUMNS}"
        );
        on_pool!(self, pool => {
            let row = sqlx::query(&sql)
                .bind(&id)
                .bind(tenant.as_str())
                .bind(&new.name)
                .bind(&new.spec)
                .bind(i32::from(new.enabled))
                .bind(now_ms)
                .bind(new.created_by.as_deref())
                .fetch_one(pool)
                .await
                .map_err(|e| classify(e, "alert rule name", "tenant"))?;
            Ok(rule_from_row!(row))
        })
    }

    /// Every alert rule of `tenant`, by name.
    pub async fn alert_rules(&self, tenant: &TenantId) -> Result<Vec<AlertRuleRow>, MetaError> {
        let sql =
            format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE tenant_id = $1 ORDER BY name");
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(tenant.as_str()).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(rule_from_row!(row));
            }
            Ok(out)
        })
    }

    /// One alert rule of `tenant`; a rule of another tenant is `None`, like a missing one.
    pub async fn alert_rule(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<AlertRuleRow>, MetaError> {
        let sql =
            format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE tenant_id = $1 AND id = $2");
        on_pool!(self, pool => {
            match sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Ok(Some(rule_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    /// Replaces a rule's name, spec and enabled flag. A changed spec puts the rule back to
    /// `ok` with no `state_since`, in the same statement: the old state measured another
    /// rule, and a `pending` carried over would fire the new one early. Missing (or of
    /// another tenant): `NotFound`; a name taken by another rule: `AlreadyExists`.
    pub async fn update_alert_rule(
        &self,
        tenant: &TenantId,
        id: &str,
        name: &str,
        spec: &str,
        enabled: bool,
        now_ms: i64,
    ) -> Result<AlertRuleRow, MetaError> {
        check_name("alert rule name", name)?;
        check_len(
            "alert rule spec",
            spec.as_bytes(),
            MAX_JSON,
            "must be at most 64 KiB",
        )?;
        // Every right-hand side reads the row as it was before the update.
        let sql = format!(
            "UPDATE alert_rules SET name = $3, enabled = $5, updated_at = $6, \
             state = CASE WHEN spec = $4 THEN state ELSE 'ok' END, \
             state_since = CASE WHEN spec = $4 THEN state_since ELSE NULL END, \
             spec = $4 WHERE tenant_id = $1 AND id = $2 RETURNING {RULE_COLUMNS}"
        );
        on_pool!(self, pool => {
            let row = sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(id)
                .bind(name)
                .bind(spec)
                .bind(i32::from(enabled))
                .bind(now_ms)
                .fetch_optional(pool)
                .await
                .map_err(|e| classify(e, "alert rule name", "tenant"))?
                .ok_or(MetaError::NotFound { what: "alert rule" })?;
            Ok(rule_from_row!(row))
        })
    }

    /// Deletes a rule. Its events stay, as history. Missing: `NotFound`.
    pub async fn delete_alert_rule(&self, tenant: &TenantId, id: &str) -> Result<(), MetaError> {
        let sql = "DELETE FROM alert_rules WHERE tenant_id = $1 AND id = $2";
        let n = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(MetaError::NotFound { what: "alert rule" });
        }
        Ok(())
    }

    /// Records an evaluation: the rule's state (`ok`, `pending` or `firing`) and since
    /// when, the value measured and when. Missing (deleted meanwhile): `NotFound`.
    pub async fn set_alert_state(
        &self,
        tenant: &TenantId,
        id: &str,
        state: &str,
        state_since_ms: Option<i64>,
        last_value: Option<f64>,
        evaluated_at_ms: i64,
    ) -> Result<(), MetaError> {
        if !matches!(state, "ok" | "pending" | "firing") {
            return Err(MetaError::Invalid {
                field: "alert state",
                reason: "must be ok, pending or firing",
            });
        }
        let sql = "UPDATE alert_rules SET state = $3, state_since = $4, last_value = $5, \
                   last_evaluated_at = $6 WHERE tenant_id = $1 AND id = $2";
        let n = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(id)
                .bind(state)
                .bind(state_since_ms)
                .bind(last_value)
                .bind(evaluated_at_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(MetaError::NotFound { what: "alert rule" });
        }
        Ok(())
    }

    /// The tenants (not deleted) that have at least one enabled rule: the evaluator's
    /// round, without reading every tenant.
    pub async fn tenants_with_alert_rules(&self) -> Result<Vec<TenantId>, MetaError> {
        let sql = "SELECT DISTINCT r.tenant_id FROM alert_rules r \
                   JOIN tenants t ON t.id = r.tenant_id \
                   WHERE r.enabled = 1 AND t.deleted_at IS NULL ORDER BY r.tenant_id";
        let ids: Vec<String> = on_pool!(self, pool => {
            sqlx::query_scalar(sql).fetch_all(pool).await?
        });
        Ok(ids.into_iter().map(TenantId::from_db).collect())
    }

    // ---- Alert events -----------------------------------------------------------------

    /// Records an alert firing or resolving (`state` is `firing` or `resolved`); returns
    /// the event's id.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_alert_event(
        &self,
        tenant: &TenantId,
        rule_id: &str,
        rule_name: &str,
        state: &str,
        value: Option<f64>,
        threshold: f64,
        at_ms: i64,
    ) -> Result<i64, MetaError> {
        if !matches!(state, "firing" | "resolved") {
            return Err(MetaError::Invalid {
                field: "alert event state",
                reason: "must be firing or resolved",
            });
        }
        let sql = "INSERT INTO alert_events (tenant_id, rule_id, rule_name, state, value, \
                   threshold, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        on_pool!(self, pool => {
            Ok(sqlx::query_scalar(sql)
                .bind(tenant.as_str())
                .bind(rule_id)
                .bind(rule_name)
                .bind(state)
                .bind(value)
                .bind(threshold)
                .bind(at_ms)
                .fetch_one(pool)
                .await?)
        })
    }

    /// `tenant`'s alert events (of one rule, if given), newest first, at most `limit`
    /// (1 to 10 000).
    pub async fn alert_events(
        &self,
        tenant: &TenantId,
        rule_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AlertEventRow>, MetaError> {
        let sql = "SELECT id, tenant_id, rule_id, rule_name, state, value, threshold, at_ms \
                   FROM alert_events WHERE tenant_id = $1 AND ($2 IS NULL OR rule_id = $2) \
                   ORDER BY at_ms DESC, id DESC LIMIT $3";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(rule_id)
                .bind(db_limit(limit))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(AlertEventRow {
                    id: row.try_get("id")?,
                    tenant_id: TenantId::from_db(row.try_get("tenant_id")?),
                    rule_id: row.try_get("rule_id")?,
                    rule_name: row.try_get("rule_name")?,
                    state: row.try_get("state")?,
                    value: row.try_get("value")?,
                    threshold: row.try_get("threshold")?,
                    at_ms: row.try_get("at_ms")?,
                });
            }
            Ok(out)
        })
    }

    // ---- Notification channels --------------------------------------------------------

    /// Creates a notification channel of `tenant` (enabled). `kind` is `webhook`, `slack`
    /// or `email`; `secret` is stored as given (sealed by the caller). A name the tenant
    /// already uses is `AlreadyExists { what: "channel name" }`.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_channel(
        &self,
        tenant: &TenantId,
        name: &str,
        kind: &str,
        settings: &str,
        secret: &[u8],
        created_by: Option<&str>,
        now_ms: i64,
    ) -> Result<ChannelRow, MetaError> {
        check_name("channel name", name)?;
        if !matches!(kind, "webhook" | "slack" | "email") {
            return Err(MetaError::Invalid {
                field: "channel kind",
                reason: "must be webhook, slack or email",
            });
        }
        check_len(
            "channel settings",
            settings.as_bytes(),
            MAX_JSON,
            "must be at most 64 KiB",
        )?;
        check_len("channel secret", secret, MAX_JSON, "must be at most 64 KiB")?;
        let id = random_id("ch_")?;
        let sql = "INSERT INTO notification_channels (id, tenant_id, name, kind, settings, \
                   secret, enabled, created_at, created_by) \
                   VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(&id)
                .bind(tenant.as_str())
                .bind(name)
                .bind(kind)
                .bind(settings)
                .bind(secret)
                .bind(now_ms)
                .bind(created_by)
                .execute(pool)
                .await
                .map_err(|e| classify(e, "channel name", "tenant"))?;
        });
        Ok(ChannelRow {
            id,
            tenant_id: tenant.clone(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            settings: settings.to_owned(),
            secret: secret.to_vec(),
            enabled: true,
            created_at_ms: now_ms,
            created_by: created_by.map(str::to_owned),
        })
    }

    /// Every channel of `tenant`, by name.
    pub async fn channels(&self, tenant: &TenantId) -> Result<Vec<ChannelRow>, MetaError> {
        let sql = format!(
            "SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE tenant_id = $1 \
             ORDER BY name"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(tenant.as_str()).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(channel_from_row!(row));
            }
            Ok(out)
        })
    }

    /// One channel of `tenant`; one of another tenant is `None`.
    pub async fn channel(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<ChannelRow>, MetaError> {
        let sql = format!(
            "SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE tenant_id = $1 AND id = $2"
        );
        on_pool!(self, pool => {
            match sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Ok(Some(channel_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    /// Enables or disables a channel. Missing: `NotFound`.
    pub async fn set_channel_enabled(
        &self,
        tenant: &TenantId,
        id: &str,
        enabled: bool,
    ) -> Result<(), MetaError> {
        let sql = "UPDATE notification_channels SET enabled = $3 WHERE tenant_id = $1 AND id = $2";
        let n = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(id)
                .bind(i32::from(enabled))
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(MetaError::NotFound { what: "channel" });
        }
        Ok(())
    }

    /// Deletes a channel, secret included. Its deliveries stay as history; those still
    /// `pending` become `failed` ("channel deleted") in the same transaction, so no sender
    /// looks for the channel afterwards. Missing: `NotFound`.
    pub async fn delete_channel(&self, tenant: &TenantId, id: &str) -> Result<(), MetaError> {
        let delete = "DELETE FROM notification_channels WHERE tenant_id = $1 AND id = $2";
        let fail = "UPDATE notification_deliveries SET state = 'failed', next_attempt_at = NULL, \
                    last_error = 'channel deleted', updated_at = $3 \
                    WHERE tenant_id = $1 AND channel_id = $2 AND state = 'pending'";
        let now = now_ms();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(delete)
                .bind(tenant.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(MetaError::NotFound { what: "channel" });
            }
            sqlx::query(fail)
                .bind(tenant.as_str())
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    // ---- Notifications and their deliveries -------------------------------------------

    /// Stores a notification and a `pending` delivery to each of `channel_ids`, due at
    /// `n.created_at_ms`, in one transaction: a notification is never stored without its
    /// deliveries, nor the other way round.
    ///
    /// Each channel must be one of `n.tenant_id`'s (else `NotFound { what: "channel" }` and
    /// nothing is stored), so a notification cannot be sent through another tenant's
    /// channel. A channel listed twice gets one delivery. A taken id is
    /// `AlreadyExists { what: "notification id" }`.
    pub async fn enqueue_notification(
        &self,
        n: &NotificationRow,
        channel_ids: &[String],
    ) -> Result<(), MetaError> {
        check_notification_id(&n.id)?;
        check_word("notification kind", &n.kind)?;
        check_word("notification severity", &n.severity)?;
        check_len(
            "notification title",
            n.title.as_bytes(),
            MAX_TITLE,
            "must be at most 1000 bytes",
        )?;
        check_len(
            "notification payload",
            n.payload.as_bytes(),
            MAX_PAYLOAD,
            "must be at most 256 KiB",
        )?;
        let mut channels: Vec<&str> = channel_ids.iter().map(String::as_str).collect();
        channels.sort_unstable();
        channels.dedup();
        let insert = "INSERT INTO notifications (id, tenant_id, kind, severity, title, payload, \
                      created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        // Through the channel's row: inserts nothing for a channel of another tenant.
        let deliver = "INSERT INTO notification_deliveries (notification_id, channel_id, \
                       tenant_id, state, attempts, next_attempt_at, updated_at) \
                       SELECT $1, id, tenant_id, 'pending', 0, $4, $4 \
                       FROM notification_channels WHERE id = $2 AND tenant_id = $3";
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(insert)
                .bind(&n.id)
                .bind(n.tenant_id.as_str())
                .bind(&n.kind)
                .bind(&n.severity)
                .bind(&n.title)
                .bind(&n.payload)
                .bind(n.created_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify(e, "notification id", "tenant"))?;
            for channel in channels {
                let added = sqlx::query(deliver)
                    .bind(&n.id)
                    .bind(channel)
                    .bind(n.tenant_id.as_str())
                    .bind(n.created_at_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if added != 1 {
                    return Err(MetaError::NotFound { what: "channel" });
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deliveries due by `now_ms` (`pending`, `next_attempt_at <= now_ms`), of every
    /// tenant, oldest due first, at most `limit`, each with its notification.
    ///
    /// Nothing is claimed: two nodes reading at once get the same rows. Use
    /// [`Meta::claim_delivery`] before sending to make one of them the sender.
    pub async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(NotificationRow, DeliveryRow)>, MetaError> {
        // `tenant_id` once (the notification's, which is the delivery's too): a name
        // selected twice would be ambiguous to read back.
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS}, d.notification_id, d.channel_id, d.state, \
             d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.updated_at, \
             d.delivered_at FROM notification_deliveries d \
             JOIN notifications n ON n.id = d.notification_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
             ORDER BY d.next_attempt_at, n.created_at, d.notification_id, d.channel_id LIMIT $2"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(now_ms)
                .bind(db_limit(limit))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let notification = NotificationRow {
                    id: row.try_get("id")?,
                    tenant_id: TenantId::from_db(row.try_get("tenant_id")?),
                    kind: row.try_get("kind")?,
                    severity: row.try_get("severity")?,
                    title: row.try_get("title")?,
                    payload: row.try_get("payload")?,
                    created_at_ms: row.try_get("created_at")?,
                };
                let delivery = delivery_from_row!(&row);
                out.push((notification, delivery));
            }
            Ok(out)
        })
    }

    /// Takes a due delivery for sending: moves its `next_attempt_at` from `seen_due_ms`
    /// (what [`Meta::due_deliveries`] returned) to `lease_until_ms`, only if it is still
    /// `pending` and due then. Returns whether this call took it; of several nodes trying
    /// the same delivery exactly one gets `true`. If the sender stops before
    /// [`Meta::record_delivery`], the delivery is due again at `lease_until_ms`.
    pub async fn claim_delivery(
        &self,
        notification_id: &str,
        channel_id: &str,
        seen_due_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool, MetaError> {
        let sql = "UPDATE notification_deliveries SET next_attempt_at = $4 \
                   WHERE notification_id = $1 AND channel_id = $2 AND state = 'pending' \
                   AND next_attempt_at = $3";
        let n = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(notification_id)
                .bind(channel_id)
                .bind(seen_due_ms)
                .bind(lease_until_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Records one attempt at a delivery: `attempts + 1`, the status and error, and the
    /// new state (`delivered`; `pending` again at a later time; `failed`). Only a delivery
    /// still `pending` changes, so an attempt recorded twice (two nodes, or a late answer
    /// after the channel was deleted) is not counted twice. The error is cut to 1000 bytes.
    pub async fn record_delivery(
        &self,
        notification_id: &str,
        channel_id: &str,
        outcome: &DeliveryOutcome,
        now_ms: i64,
    ) -> Result<(), MetaError> {
        let (state, next, status, error, delivered) = match outcome {
            DeliveryOutcome::Delivered { status } => {
                ("delivered", None, *status, None, Some(now_ms))
            }
            DeliveryOutcome::Retry {
                next_attempt_at_ms,
                status,
                error,
            } => (
                "pending",
                Some(*next_attempt_at_ms),
                *status,
                Some(truncate(error, MAX_ERROR)),
                None,
            ),
            DeliveryOutcome::Failed { status, error } => (
                "failed",
                None,
                *status,
                Some(truncate(error, MAX_ERROR)),
                None,
            ),
        };
        let sql = "UPDATE notification_deliveries SET state = $3, attempts = attempts + 1, \
                   next_attempt_at = $4, last_status = $5, last_error = $6, updated_at = $7, \
                   delivered_at = $8 \
                   WHERE notification_id = $1 AND channel_id = $2 AND state = 'pending'";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(notification_id)
                .bind(channel_id)
                .bind(state)
                .bind(next)
                .bind(status.map(i32::from))
                .bind(error)
                .bind(now_ms)
                .bind(delivered)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// `tenant`'s notifications, newest first, at most `limit` (1 to 10 000), each with
    /// its deliveries (by channel id).
    pub async fn notifications(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> Result<Vec<(NotificationRow, Vec<DeliveryRow>)>, MetaError> {
        let list = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications n WHERE n.tenant_id = $1 \
             ORDER BY n.created_at DESC, n.id DESC LIMIT $2"
        );
        let deliveries = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries d \
             WHERE d.tenant_id = $1 AND d.notification_id IN (SELECT n.id FROM notifications n \
             WHERE n.tenant_id = $1 ORDER BY n.created_at DESC, n.id DESC LIMIT $2) \
             ORDER BY d.channel_id"
        );
        let limit = db_limit(limit);
        let (notes, mut by_id) = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows = sqlx::query(&list)
                .bind(tenant.as_str())
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            let mut notes = Vec::with_capacity(rows.len());
            for row in rows {
                notes.push(notification_from_row!(row));
            }
            let mut by_id: HashMap<String, Vec<DeliveryRow>> = HashMap::new();
            for row in sqlx::query(&deliveries)
                .bind(tenant.as_str())
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?
            {
                let d = delivery_from_row!(row);
                by_id.entry(d.notification_id.clone()).or_default().push(d);
            }
            tx.commit().await?;
            (notes, by_id)
        });
        Ok(notes
            .into_iter()
            .map(|n| {
                let d = by_id.remove(&n.id).unwrap_or_default();
                (n, d)
            })
            .collect())
    }

    // ---- Sensitive-data findings ------------------------------------------------------

    /// Adds the redactor's counts, in one transaction: each row's count is added to its
    /// hour's (rows of the same hour and triple are summed first), and each (service,
    /// attribute, kind) not seen before is noted as first seen at `now_ms`. Returns those
    /// first sightings: the insert that creates the row decides, so across every node each
    /// triple is returned exactly once. Rows with a count of 0 are skipped.
    ///
    /// Rows are written in key order, so two nodes adding overlapping batches lock them in
    /// the same order and cannot deadlock on PostgreSQL.
    pub async fn add_redaction_findings(
        &self,
        tenant: &TenantId,
        rows: &[FindingRow],
        now_ms: i64,
    ) -> Result<Vec<(String, String, String)>, MetaError> {
        let mut hours: BTreeMap<(&str, &str, &str, i64), u64> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.count > 0) {
            let key = (
                r.service.as_str(),
                r.attribute.as_str(),
                r.kind.as_str(),
                floor_to_hour(r.hour_ms),
            );
            let sum = hours.entry(key).or_default();
            *sum = sum.saturating_add(r.count);
        }
        let mut triples: Vec<(&str, &str, &str)> =
            hours.keys().map(|&(s, a, k, _)| (s, a, k)).collect();
        triples.dedup();
        let upsert = "INSERT INTO redaction_findings (tenant_id, hour, service, attribute, kind, \
                      count) VALUES ($1, $2, $3, $4, $5, $6) \
                      ON CONFLICT (tenant_id, hour, service, attribute, kind) \
                      DO UPDATE SET count = redaction_findings.count + excluded.count";
        let first = "INSERT INTO redaction_first_seen (tenant_id, service, attribute, kind, \
                     first_seen) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (tenant_id, service, attribute, kind) DO NOTHING";
        let mut new = Vec::new();
        if hours.is_empty() {
            return Ok(new);
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (&(service, attribute, kind, hour), &count) in &hours {
                sqlx::query(upsert)
                    .bind(tenant.as_str())
                    .bind(hour)
                    .bind(service)
                    .bind(attribute)
                    .bind(kind)
                    .bind(db_count(count)?)
                    .execute(&mut *tx)
                    .await?;
            }
            for &(service, attribute, kind) in &triples {
                let created = sqlx::query(first)
                    .bind(tenant.as_str())
                    .bind(service)
                    .bind(attribute)
                    .bind(kind)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if created == 1 {
                    new.push((service.to_owned(), attribute.to_owned(), kind.to_owned()));
                }
            }
            tx.commit().await?;
        });
        Ok(new)
    }

    /// `tenant`'s findings summed per (service, attribute, kind) over the hours from the
    /// one holding `since_ms` up to (not including) `until_ms`, biggest count first.
    pub async fn redaction_findings(
        &self,
        tenant: &TenantId,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<FindingTotal>, MetaError> {
        // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back to read it as i64.
        let sql = "SELECT f.service, f.attribute, f.kind, CAST(SUM(f.count) AS BIGINT) AS total, \
                   s.first_seen FROM redaction_findings f \
                   JOIN redaction_first_seen s ON s.tenant_id = f.tenant_id \
                   AND s.service = f.service AND s.attribute = f.attribute AND s.kind = f.kind \
                   WHERE f.tenant_id = $1 AND f.hour >= $2 AND f.hour < $3 \
                   GROUP BY f.service, f.attribute, f.kind, s.first_seen \
                   ORDER BY total DESC, f.service, f.attribute, f.kind";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(floor_to_hour(since_ms))
                .bind(until_ms)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(total_from_row!(row));
            }
            Ok(out)
        })
    }

    /// The (service, attribute, kind) triples of `tenant` first seen at or after
    /// `since_ms`, oldest sighting first, each with its count over all time kept.
    pub async fn first_seen_since(
        &self,
        tenant: &TenantId,
        since_ms: i64,
    ) -> Result<Vec<FindingTotal>, MetaError> {
        let sql = "SELECT s.service, s.attribute, s.kind, s.first_seen, \
                   COALESCE(CAST(SUM(f.count) AS BIGINT), 0) AS total \
                   FROM redaction_first_seen s LEFT JOIN redaction_findings f \
                   ON f.tenant_id = s.tenant_id AND f.service = s.service \
                   AND f.attribute = s.attribute AND f.kind = s.kind \
                   WHERE s.tenant_id = $1 AND s.first_seen >= $2 \
                   GROUP BY s.service, s.attribute, s.kind, s.first_seen \
                   ORDER BY s.first_seen, s.service, s.attribute, s.kind";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(since_ms)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(total_from_row!(row));
            }
            Ok(out)
        })
    }

    // ---- Detector cursors -------------------------------------------------------------

    /// Where detector `name` got to in `tenant` (a tenant id, or `-` for the platform);
    /// `None` before its first [`Meta::set_cursor`].
    pub async fn cursor(&self, tenant: &str, name: &str) -> Result<Option<i64>, MetaError> {
        let sql = "SELECT value FROM alert_cursors WHERE tenant_id = $1 AND name = $2";
        on_pool!(self, pool => {
            Ok(sqlx::query_scalar(sql)
                .bind(tenant)
                .bind(name)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// Sets (inserting or replacing) detector `name`'s cursor in `tenant`.
    pub async fn set_cursor(&self, tenant: &str, name: &str, value: i64) -> Result<(), MetaError> {
        check_word("cursor name", name)?;
        let sql = "INSERT INTO alert_cursors (tenant_id, name, value) VALUES ($1, $2, $3) \
                   ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(tenant)
                .bind(name)
                .bind(value)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Takes or renews the platform-wide lease `name` until `until_ms`, for a job that
    /// one node at a time should run (the alerting job). `held` is the token this holder
    /// got from its previous call (a renewal), `None` at first. Returns the new token when
    /// this call holds the lease, `None` while another holder's lease runs.
    ///
    /// Why a token: the row's value is the expiry in milliseconds times 1000 plus three
    /// random digits, so a renewal is accepted only from the holder that wrote it, and the
    /// conditional upsert decides between racing nodes in one statement on both engines.
    pub async fn take_lease(
        &self,
        name: &str,
        held: Option<i64>,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<i64>, MetaError> {
        check_word("lease name", name)?;
        let mut random = [0u8; 2];
        getrandom::fill(&mut random).map_err(|_| MetaError::Invalid {
            field: "lease",
            reason: "no randomness",
        })?;
        let token = until_ms
            .saturating_mul(1000)
            .saturating_add(i64::from(u16::from_le_bytes(random) % 1000));
        let sql = "INSERT INTO alert_cursors (tenant_id, name, value) VALUES ('-', $1, $2) \
                   ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value \
                   WHERE alert_cursors.value < $3 OR alert_cursors.value = $4";
        let taken = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(name)
                .bind(token)
                .bind(now_ms.saturating_mul(1000))
                .bind(held.unwrap_or(-1))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok((taken == 1).then_some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_floor_toward_the_past() {
        assert_eq!(floor_to_hour(0), 0);
        assert_eq!(floor_to_hour(HOUR_MS - 1), 0);
        assert_eq!(floor_to_hour(HOUR_MS), HOUR_MS);
        assert_eq!(floor_to_hour(-1), -HOUR_MS);
    }

    #[test]
    fn errors_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate(&"x".repeat(5000), MAX_ERROR).len(), MAX_ERROR);
    }
}
