//! Notifications: built from an alert, an insight or a detection, redacted once more
//! (`scrim_notify::Outgoing`), stored with one pending delivery per enabled channel of the
//! tenant, and delivered by the alerting job with retries and backoff. The stored payload
//! is the redacted notification, so the delivery history never holds more than was sent.
//!
//! Channel secrets (a webhook's signing secret, a Slack URL, an SMTP password) are sealed
//! under a key derived from the tenant's data key, like the SSO and AI secrets: shredding
//! the tenant shreds them.

use scrim_meta::{ChannelRow, DeliveryOutcome, NotificationRow, TenantId};
use scrim_notify::{Channel, Notification, Outgoing};

use crate::ServerError;
use crate::platform::Platform;

const SECRET_LABEL: &[u8] = b"scrim notification channel secret";

/// Deliveries handled per job run at most (the rest wait for the next run).
const DELIVERIES_PER_RUN: u32 = 200;
/// How long a claimed delivery is this node's before another may try it (longer than one
/// attempt's deadline).
const LEASE_MS: i64 = 5 * 60_000;

/// What the server wants to say; [`enqueue`] adds the id, the tenant's name and the time.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub kind: String,
    pub severity: scrim_notify::Severity,
    pub title: String,
    pub summary: String,
    pub fields: Vec<(String, String)>,
    /// A path in the web UI (`/alerts`), made absolute with the configured public URL.
    pub path: Option<String>,
}

/// `ntf_` and 26 characters of base32 (130 random bits): the id receivers deduplicate on.
fn new_id() -> Result<String, ServerError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ServerError::Usage(format!("no randomness: {e}")))?;
    Ok(format!("ntf_{}", scrim_audit::hex(&bytes)))
}

/// Stores `m` for `tenant` with a pending delivery per enabled channel; returns its id.
/// With no channel the notification is still kept, so the UI's history shows it.
pub(crate) async fn enqueue(
    platform: &Platform,
    public_url: Option<&str>,
    tenant: &TenantId,
    tenant_name: &str,
    m: Message,
    now_ms: i64,
) -> Result<String, ServerError> {
    let link = match (public_url, m.path.as_deref()) {
        (Some(base), Some(path)) => Some(format!("{}{path}", base.trim_end_matches('/'))),
        _ => None,
    };
    let out = Outgoing::new(Notification {
        id: new_id()?,
        tenant: tenant_name.to_owned(),
        kind: m.kind,
        severity: m.severity,
        title: m.title,
        summary: m.summary,
        fields: m.fields,
        link,
        time_unix: now_ms.div_euclid(1000),
    });
    let n = out.notification();
    let row = NotificationRow {
        id: n.id.clone(),
        tenant_id: tenant.clone(),
        kind: n.kind.clone(),
        severity: severity_name(n.severity).to_owned(),
        title: n.title.clone(),
        // The redacted notification itself: what deliveries are built from.
        payload: serde_json::to_string(n)
            .map_err(|e| ServerError::Usage(format!("notification: {e}")))?,
        created_at_ms: now_ms,
    };
    let channels: Vec<String> = platform
        .meta
        .channels(tenant)
        .await?
        .into_iter()
        .filter(|c| c.enabled)
        .map(|c| c.id)
        .collect();
    platform.meta.enqueue_notification(&row, &channels).await?;
    Ok(row.id)
}

pub(crate) fn severity_name(s: scrim_notify::Severity) -> &'static str {
    match s {
        scrim_notify::Severity::Info => "info",
        scrim_notify::Severity::Warning => "warning",
        scrim_notify::Severity::Critical => "critical",
    }
}

pub(crate) fn severity_of(s: scrim_alerts::Severity) -> scrim_notify::Severity {
    match s {
        scrim_alerts::Severity::Info => scrim_notify::Severity::Info,
        scrim_alerts::Severity::Warning => scrim_notify::Severity::Warning,
        scrim_alerts::Severity::Critical => scrim_notify::Severity::Critical,
    }
}

/// Seals a channel's secret part for storage.
pub(crate) async fn seal_secret(
    platform: &Platform,
    tenant: &TenantId,
    secret: &[u8],
) -> Result<Vec<u8>, ServerError> {
    let key = crate::tenant_keys::secret_key(platform, tenant, SECRET_LABEL).await?;
    scrim_crypto::seal(
        &key,
        &crate::tenant_keys::secret_aad(tenant, SECRET_LABEL),
        secret,
    )
    .map_err(|e| ServerError::Usage(format!("sealing the channel secret: {e}")))
}

/// The channel a stored row describes, its secret opened.
pub(crate) async fn open_channel(
    platform: &Platform,
    row: &ChannelRow,
) -> Result<Channel, ServerError> {
    let key = crate::tenant_keys::secret_key(platform, &row.tenant_id, SECRET_LABEL).await?;
    let secret = scrim_crypto::open(
        &key,
        &crate::tenant_keys::secret_aad(&row.tenant_id, SECRET_LABEL),
        &row.secret,
    )
    .map_err(|_| ServerError::Usage("the channel's secret cannot be opened".into()))?;
    let settings: serde_json::Value = serde_json::from_str(&row.settings)
        .map_err(|_| ServerError::Usage("the channel's settings are unreadable".into()))?;
    Channel::join(&settings, &secret).map_err(|e| ServerError::Usage(e.to_string()))
}

/// What one delivery round did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Delivered {
    pub delivered: u64,
    pub retried: u64,
    pub failed: u64,
}

/// Sends every delivery that is due, once each; schedules retries with backoff (or the
/// receiver's `Retry-After`), and gives up after `scrim_notify::MAX_ATTEMPTS` or on an
/// answer that retrying cannot change (a 4xx other than 408 and 429).
pub(crate) async fn deliver_due(
    platform: &Platform,
    notifier: &scrim_notify::Notifier,
    now_ms: i64,
) -> Result<Delivered, ServerError> {
    let mut done = Delivered::default();
    for (n, d) in platform
        .meta
        .due_deliveries(now_ms, DELIVERIES_PER_RUN)
        .await?
    {
        // Another node may have read the same row: only the one whose lease took it sends.
        let lease_until = now_ms.saturating_add(LEASE_MS);
        let due = d.next_attempt_at_ms.unwrap_or(now_ms);
        if !platform
            .meta
            .claim_delivery(&n.id, &d.channel_id, due, lease_until)
            .await?
        {
            continue;
        }
        let made = d.attempts.saturating_add(1);
        let outcome = match attempt(platform, notifier, &n, &d.channel_id, made, now_ms).await {
            Ok(status) => DeliveryOutcome::Delivered { status },
            Err(Failure {
                retry: Some(after_ms),
                status,
                error,
            }) => DeliveryOutcome::Retry {
                next_attempt_at_ms: now_ms.saturating_add(after_ms),
                status,
                error,
            },
            Err(Failure { status, error, .. }) => DeliveryOutcome::Failed { status, error },
        };
        match &outcome {
            DeliveryOutcome::Delivered { .. } => done.delivered += 1,
            DeliveryOutcome::Retry { .. } => done.retried += 1,
            DeliveryOutcome::Failed { .. } => done.failed += 1,
        }
        if let DeliveryOutcome::Failed { error, .. } | DeliveryOutcome::Retry { error, .. } =
            &outcome
        {
            tracing::warn!(
                notification = n.id,
                channel = d.channel_id,
                attempt = d.attempts + 1,
                "notification not delivered: {error}"
            );
        }
        platform
            .meta
            .record_delivery(&n.id, &d.channel_id, &outcome, now_ms)
            .await?;
    }
    Ok(done)
}

struct Failure {
    /// Milliseconds until the next attempt, when one makes sense.
    retry: Option<i64>,
    status: Option<u16>,
    error: String,
}

async fn attempt(
    platform: &Platform,
    notifier: &scrim_notify::Notifier,
    n: &NotificationRow,
    channel_id: &str,
    attempts_made: u32,
    now_ms: i64,
) -> Result<Option<u16>, Failure> {
    let final_failure = |error: String| Failure {
        retry: None,
        status: None,
        error,
    };
    let row = platform
        .meta
        .channel(&n.tenant_id, channel_id)
        .await
        .map_err(|e| Failure {
            retry: Some(60_000),
            status: None,
            error: format!("metadata database: {e}"),
        })?
        .ok_or_else(|| final_failure("the channel was deleted".into()))?;
    if !row.enabled {
        return Err(final_failure("the channel is disabled".into()));
    }
    let channel = open_channel(platform, &row)
        .await
        .map_err(|e| final_failure(e.to_string()))?;
    let stored: Notification = serde_json::from_str(&n.payload)
        .map_err(|_| final_failure("the stored notification is unreadable".into()))?;
    // Redacted again: the stored text already was, and Outgoing is the only way out.
    let out = Outgoing::new(stored);
    match notifier
        .deliver(&channel, &out, now_ms.div_euclid(1000))
        .await
    {
        Ok(d) => Ok(d.status),
        Err(e) => {
            let retry = scrim_notify::next_retry(&e, attempts_made, fastrand::f64())
                .map(|wait| i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            Err(Failure {
                retry,
                status: e.status(),
                error: e.to_string(),
            })
        }
    }
}
