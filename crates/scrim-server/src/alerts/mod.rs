//! Alerts, sensitive-data insights, security detections and notifications: the platform
//! telling people when something needs them.
//!
//! One job ([`run_once`], every [`AlertConfig::interval`]; `Server::evaluate_alerts` runs
//! it on demand) does, in order:
//!
//! 1. writes the sensitive-data findings counted at ingest ([`findings`]) and turns first
//!    sightings (a service sending a kind of sensitive data in a place it never did) into
//!    `insight.new_kind` notifications;
//! 2. evaluates every enabled alert rule ([`rules`]);
//! 3. reads each tenant's new audit records for security detections ([`detections`]);
//! 4. once a day per tenant, sends the sensitive-data digest (`insight.digest`);
//! 5. delivers the notifications that are due ([`notify`]), with retries and backoff.
//!
//! The logic is `scrim-alerts`' (no I/O) and `scrim-notify`'s (formatting, signing,
//! delivery); this module reads, stores and wires. Routes are in [`api`].

pub(crate) mod api;
mod detections;
pub(crate) mod findings;
pub(crate) mod notify;
pub mod ops;
mod rules;
pub mod views;

use std::time::Duration;

use scrim_alerts::DetectionSettings;
use scrim_alerts::insight::{Finding, digest_summary, is_routine};
use scrim_meta::{Tenant, TenantId};
use serde::Serialize;

use crate::ServerError;
use crate::serve::Shared;
use notify::{Message, enqueue};

const DAY_MS: i64 = 86_400_000;
const DIGEST_CURSOR: &str = "insight.digest_day";

/// Settings of the alerting job.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// How often rules are evaluated, detections read and notifications delivered.
    pub interval: Duration,
    /// How often each tenant's audit chain is verified for the broken-chain detection.
    pub verify_interval: Duration,
    pub detections: DetectionSettings,
    /// The web UI's address as people reach it (`https://scrim.example.com`), for links in
    /// notifications; without it notifications carry no link.
    pub public_url: Option<String>,
    /// How notifications connect (deadline, extra CA).
    pub notifier: scrim_notify::NotifierOptions,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            interval: Duration::from_secs(30),
            verify_interval: Duration::from_secs(3600),
            detections: DetectionSettings::default(),
            public_url: None,
            notifier: scrim_notify::NotifierOptions::default(),
        }
    }
}

/// What one run of the job did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct AlertReport {
    pub rules_evaluated: u64,
    pub fired: u64,
    pub resolved: u64,
    pub first_sightings: u64,
    pub detections: u64,
    pub digests: u64,
    pub delivered: u64,
    pub retried: u64,
    pub failed_deliveries: u64,
}

/// The alerting state the server shares between ingest, the API and the job.
pub(crate) struct Alerting {
    pub config: AlertConfig,
    pub findings: findings::FindingCounts,
    pub notifier: scrim_notify::Notifier,
    /// One run at a time in this process.
    running: tokio::sync::Mutex<()>,
    /// This node's token for the `alerts` lease, while it holds it.
    lease: std::sync::Mutex<Option<i64>>,
}

impl Alerting {
    pub fn new(config: AlertConfig) -> Result<Alerting, ServerError> {
        let notifier = scrim_notify::Notifier::new(config.notifier.clone())
            .map_err(|e| ServerError::Usage(format!("notifications: {e}")))?;
        Ok(Alerting {
            config,
            findings: Default::default(),
            notifier,
            running: Default::default(),
            lease: Default::default(),
        })
    }
}

/// One run of the job at `now_ms`. A tenant whose step fails is logged and skipped; the
/// others go on. `lead`: whether this node evaluates rules, reads detections and makes
/// digests (one node at a time does, [`alerter`]); every node writes its own findings and
/// delivers what is due (each delivery is claimed by one node).
pub(crate) async fn run_once(
    shared: &Shared,
    now_ms: i64,
    lead: bool,
) -> Result<AlertReport, ServerError> {
    let alerting = &shared.alerting;
    let _one = alerting.running.lock().await;
    let public_url = alerting.config.public_url.as_deref();
    let meta = &shared.platform.meta;
    let mut report = AlertReport::default();

    let scrub = |s: &str| shared.scrub(s);
    for (tenant, first) in alerting.findings.flush(meta, now_ms, &scrub).await {
        let Some(t) = meta.tenant_by_id(&tenant).await? else {
            continue;
        };
        for (service, attribute, kind) in first {
            if is_routine(&kind) {
                continue;
            }
            report.first_sightings += 1;
            let f = Finding {
                service,
                attribute,
                kind,
                count: 0,
            };
            enqueue(
                &shared.platform,
                public_url,
                &t.id,
                &t.name,
                first_sighting(&f),
                now_ms,
            )
            .await?;
        }
    }

    let tenants: Vec<Tenant> = if lead {
        meta.list_tenants().await?
    } else {
        Vec::new()
    };
    for tenant in &tenants {
        // Only the tenants this node serves: another region's are evaluated there.
        if shared.platform.regions.of(tenant).is_err() {
            continue;
        }
        match rules::evaluate_tenant(shared, public_url, tenant, now_ms).await {
            Ok(e) => {
                report.rules_evaluated += e.rules;
                report.fired += e.fired;
                report.resolved += e.resolved;
            }
            Err(e) => tracing::warn!(tenant = %tenant.id, "alert rules not evaluated: {e}"),
        }
        let verify_ms =
            i64::try_from(alerting.config.verify_interval.as_millis()).unwrap_or(i64::MAX);
        match detections::scan(
            shared,
            &alerting.config.detections,
            public_url,
            verify_ms,
            tenant,
            now_ms,
        )
        .await
        {
            Ok(n) => report.detections += n,
            Err(e) => tracing::warn!(tenant = %tenant.id, "detections not read: {e}"),
        }
        match digest(shared, public_url, tenant, now_ms).await {
            Ok(sent) => report.digests += u64::from(sent),
            Err(e) => tracing::warn!(tenant = %tenant.id, "digest not made: {e}"),
        }
    }

    let d = notify::deliver_due(&shared.platform, &alerting.notifier, now_ms).await?;
    report.delivered = d.delivered;
    report.retried = d.retried;
    report.failed_deliveries = d.failed;
    Ok(report)
}

fn first_sighting(f: &Finding) -> Message {
    Message {
        kind: "insight.new_kind".into(),
        severity: scrim_notify::Severity::Warning,
        title: format!(
            "New sensitive data from {}: {}",
            f.service,
            scrim_alerts::kind_phrase(&f.kind, 2)
        ),
        summary: format!(
            "{}. The capture policy removed them before storage; fix the instrumentation \
             so they are not sent at all.",
            f.first_sighting()
        ),
        fields: vec![
            ("service".into(), f.service.clone()),
            ("attribute".into(), f.attribute.clone()),
            ("kind".into(), f.kind.clone()),
        ],
        path: Some("/insights".into()),
    }
}

/// The daily digest of what the capture policy removed, once per UTC day per tenant that
/// had findings in the last 24 hours; returns whether one was made.
async fn digest(
    shared: &Shared,
    public_url: Option<&str>,
    tenant: &Tenant,
    now_ms: i64,
) -> Result<bool, ServerError> {
    let meta = &shared.platform.meta;
    let day = now_ms.div_euclid(DAY_MS);
    let last = meta.cursor(tenant.id.as_str(), DIGEST_CURSOR).await?;
    if last.is_some_and(|d| d >= day) {
        return Ok(false);
    }
    // The first run only marks the day: a digest covers a day the job watched.
    if last.is_none() {
        meta.set_cursor(tenant.id.as_str(), DIGEST_CURSOR, day)
            .await?;
        return Ok(false);
    }
    let findings = findings_between(&shared.platform, &tenant.id, now_ms - DAY_MS, now_ms).await?;
    meta.set_cursor(tenant.id.as_str(), DIGEST_CURSOR, day)
        .await?;
    if findings.iter().all(|f| is_routine(&f.kind)) {
        return Ok(false);
    }
    let mut fields = Vec::new();
    for f in findings.iter().filter(|f| !is_routine(&f.kind)).take(10) {
        fields.push((
            format!("{} · {}", f.service, f.attribute),
            format!(
                "{} {}",
                scrim_alerts::thousands(f.count),
                scrim_alerts::kind_phrase(&f.kind, f.count)
            ),
        ));
    }
    enqueue(
        &shared.platform,
        public_url,
        &tenant.id,
        &tenant.name,
        Message {
            kind: "insight.digest".into(),
            severity: scrim_notify::Severity::Info,
            title: "Daily sensitive-data digest".into(),
            summary: digest_summary(&findings),
            fields,
            path: Some("/insights".into()),
        },
        now_ms,
    )
    .await?;
    Ok(true)
}

/// The findings of `tenant` between two instants, biggest first.
pub(crate) async fn findings_between(
    platform: &crate::Platform,
    tenant: &TenantId,
    since_ms: i64,
    until_ms: i64,
) -> Result<Vec<Finding>, ServerError> {
    Ok(platform
        .meta
        .redaction_findings(tenant, since_ms, until_ms)
        .await?
        .into_iter()
        .map(|t| Finding {
            service: t.service,
            attribute: t.attribute,
            kind: t.kind,
            count: t.count,
        })
        .collect())
}

/// Whether this node leads the alerting job now: it takes or renews the `alerts` lease for
/// three intervals, so that a node that stops is replaced within that time and two nodes
/// never evaluate the same rule at once.
async fn lead(shared: &Shared, now_ms: i64) -> Result<bool, ServerError> {
    let alerting = &shared.alerting;
    let held = *alerting.lease.lock().unwrap_or_else(|p| p.into_inner());
    let term = i64::try_from(alerting.config.interval.as_millis())
        .unwrap_or(i64::MAX / 4)
        .saturating_mul(3);
    let token = shared
        .platform
        .meta
        .take_lease("alerts", held, now_ms, now_ms.saturating_add(term))
        .await?;
    *alerting.lease.lock().unwrap_or_else(|p| p.into_inner()) = token;
    Ok(token.is_some())
}

/// The job's loop: [`run_once`] every interval until the server stops.
pub(crate) async fn alerter(
    shared: std::sync::Arc<Shared>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(shared.alerting.config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let now = crate::audit::now_ms();
        let lead = match lead(&shared, now).await {
            Ok(lead) => lead,
            Err(e) => {
                tracing::warn!("alerting lease not checked: {e}");
                false
            }
        };
        if let Err(e) = run_once(&shared, now, lead).await {
            tracing::warn!("alerting run failed: {e}");
        }
    }
}
