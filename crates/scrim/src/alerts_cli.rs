//! `scrim alerts` and `scrim contain`: the operator's view of a tenant's alert rules,
//! sensitive-data insights, security detections, notification channels and history, and
//! containment. The logic is `scrim_server::alerts` and `scrim_server::containment`'s;
//! this file wires flags to it and prints JSON. Changes are recorded in the tenant's audit
//! log as the operator. Rules are evaluated and notifications sent by `scrim serve`.

use clap::Subcommand;
use scrim_server::ServerError;
use scrim_server::accounts::Act;
use serde_json::{Value, json};

use crate::PlatformArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// The tenant's alert rules with their state.
    Rules {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Add an alert rule, given as JSON: `{"metric": "p95_latency", "service":
    /// "checkout", "op": ">", "threshold": 500, "window_seconds": 300, "for_seconds": 60}`.
    AddRule {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        /// The rule's name.
        #[arg(long, value_name = "TEXT")]
        name: String,
        /// The rule (JSON).
        #[arg(long, value_name = "JSON")]
        rule: String,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Delete an alert rule (its history stays).
    RemoveRule {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        /// The rule's id (`al_…`).
        id: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Firing and resolved events, newest first.
    History {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// What the capture policy removed, by service, attribute and kind, as sentences.
    Insights {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        /// How far back: 1h, 24h, 7d.
        #[arg(long, value_name = "WINDOW", default_value = "24h")]
        window: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Security detections, newest first.
    Detections {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Notification channels (without their secrets).
    Channels {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Add a notification channel, given as JSON: `{"type": "webhook", "url":
    /// "https://…"}` (a signing secret is generated and printed once unless given),
    /// `{"type": "slack", "url": …}` or `{"type": "email", "host", "port", "tls", "from",
    /// "to": […]}`.
    AddChannel {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[arg(long, value_name = "TEXT")]
        name: String,
        /// The channel (JSON).
        #[arg(long, value_name = "JSON")]
        channel: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Delete a notification channel.
    RemoveChannel {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        /// The channel's id (`ch_…`).
        id: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Notifications sent, newest first, with each delivery's state.
    Notifications {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

fn usage(m: impl Into<String>) -> ServerError {
    ServerError::Usage(m.into())
}

async fn open(
    platform: &PlatformArgs,
    tenant: &str,
) -> Result<(scrim_server::Platform, scrim_meta::Tenant), ServerError> {
    let p = scrim_server::Platform::open(&platform.config()?).await?;
    let t = p.tenant_named(tenant).await?;
    Ok((p, t))
}

fn print(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

pub(crate) async fn run(cmd: AlertsCommand) -> Result<(), ServerError> {
    use scrim_server::alerts::{ops, views};
    match cmd {
        AlertsCommand::Rules { tenant, platform } => {
            let (p, t) = open(&platform, &tenant).await?;
            let rules = p.meta().alert_rules(&t.id).await?;
            print(&json!({ "rules": rules.iter().map(views::rule).collect::<Vec<_>>() }));
        }
        AlertsCommand::AddRule {
            tenant,
            name,
            rule,
            disabled,
            platform,
        } => {
            let value: Value = serde_json::from_str(&rule)
                .map_err(|e| usage(format!("--rule is not JSON: {e}")))?;
            let spec = scrim_alerts::RuleSpec::from_json(value).map_err(|e| usage(e.0))?;
            let (p, t) = open(&platform, &tenant).await?;
            let act = Act::operator(t.id.as_str());
            let row = ops::create_rule(&p, &act, &t.id, &name, !disabled, &spec).await?;
            print(&views::rule(&row));
        }
        AlertsCommand::RemoveRule {
            tenant,
            id,
            platform,
        } => {
            let (p, t) = open(&platform, &tenant).await?;
            if !ops::delete_rule(&p, &Act::operator(t.id.as_str()), &t.id, &id).await? {
                return Err(usage("no such alert rule"));
            }
            eprintln!("scrim alerts: rule {id} deleted");
        }
        AlertsCommand::History {
            tenant,
            limit,
            platform,
        } => {
            let (p, t) = open(&platform, &tenant).await?;
            let events = p
                .meta()
                .alert_events(&t.id, None, limit.clamp(1, 1000))
                .await?;
            print(&json!({ "events": events.iter().map(views::event).collect::<Vec<_>>() }));
        }
        AlertsCommand::Insights {
            tenant,
            window,
            platform,
        } => {
            let (p, t) = open(&platform, &tenant).await?;
            print(&views::insights(&p, &t.id, &window).await?);
        }
        AlertsCommand::Detections {
            tenant,
            limit,
            platform,
        } => {
            let (p, t) = open(&platform, &tenant).await?;
            let list = views::detections(p.meta(), &t.id, limit.clamp(1, 1000)).await?;
            print(&json!({ "detections": list }));
        }
        AlertsCommand::Channels { tenant, platform } => {
            let (p, t) = open(&platform, &tenant).await?;
            let rows = p.meta().channels(&t.id).await?;
            print(&json!({ "channels": rows.iter().map(views::channel).collect::<Vec<_>>() }));
        }
        AlertsCommand::AddChannel {
            tenant,
            name,
            channel,
            platform,
        } => {
            let spec: serde_json::Map<String, Value> = serde_json::from_str(&channel)
                .map_err(|_| usage("--channel is a JSON object: {\"type\": \"webhook\", …}"))?;
            let (p, t) = open(&platform, &tenant).await?;
            let act = Act::operator(t.id.as_str());
            let (row, channel, generated) =
                ops::create_channel(&p, &act, &t.id, &name, spec).await?;
            let mut out = views::channel(&row);
            out["settings"] = channel.public();
            if let Some(secret) = generated {
                eprintln!(
                    "scrim alerts: the webhook's signing secret, shown only now (receivers verify Scrim-Signature with it):"
                );
                out["signing_secret"] = Value::String(secret);
            }
            print(&out);
        }
        AlertsCommand::RemoveChannel {
            tenant,
            id,
            platform,
        } => {
            let (p, t) = open(&platform, &tenant).await?;
            if !ops::delete_channel(&p, &Act::operator(t.id.as_str()), &t.id, &id).await? {
                return Err(usage("no such channel"));
            }
            eprintln!("scrim alerts: channel {id} deleted");
        }
        AlertsCommand::Notifications {
            tenant,
            limit,
            platform,
        } => {
            let (p, t) = open(&platform, &tenant).await?;
            let list = p.meta().notifications(&t.id, limit.clamp(1, 1000)).await?;
            print(&json!({
                "notifications": list.iter().map(|(n, d)| views::notification(n, d)).collect::<Vec<_>>()
            }));
        }
    }
    Ok(())
}

/// `scrim contain ACTION --tenant NAME`.
pub(crate) async fn contain(
    action: String,
    tenant: String,
    platform: PlatformArgs,
) -> Result<(), ServerError> {
    let (p, t) = open(&platform, &tenant).await?;
    if action == "status" {
        print(&scrim_server::containment::status(&p, &t.id).await?);
        return Ok(());
    }
    let action = scrim_server::containment::Action::parse(&action).ok_or_else(|| {
        usage("the action is status, suspend-keys, restore-keys, end-sessions, freeze-reads or unfreeze-reads")
    })?;
    let act = Act::operator(t.id.as_str());
    print(&scrim_server::containment::apply(&p, &act, &t.id, action).await?);
    Ok(())
}
