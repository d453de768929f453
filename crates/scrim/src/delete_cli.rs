//! `scrim delete`: deletion on request, as the operator. The logic (the audit record first,
//! crypto-shredding, the rewrite job and its check by query) is `scrim_server::deletion`'s;
//! this file wires flags to it.

use clap::Subcommand;
use scrim_server::ServerError;
use scrim_server::deletion::{Selection, deletion_json};

use crate::{PlatformArgs, StoreArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum DeleteCommand {
    /// Delete a whole tenant: its data key is destroyed first (everything of it, backups
    /// included, becomes unreadable), then its segments, WAL, catalog entries, API keys,
    /// members and settings. Its audit log stays. Cannot be undone.
    Tenant {
        /// The tenant's name.
        name: String,
        /// The tenant's name again, to confirm.
        #[arg(long, value_name = "NAME")]
        confirm: String,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Delete the rows that match (a person's erasure request, say: --attribute
    /// enduser.id=u-123): hidden from every query at once, then their segments are
    /// rewritten without them, the old files removed, and a query checks that nothing
    /// matches before the request is done. Only data received before now is deleted.
    Rows {
        /// The tenant's name.
        name: String,
        /// From this time on: RFC 3339 or Unix seconds [default: the beginning].
        #[arg(long, value_name = "TIME")]
        start: Option<String>,
        /// Before this time [default: now].
        #[arg(long, value_name = "TIME")]
        end: Option<String>,
        /// Only rows of this service.
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
        /// Only rows whose attribute (or resource attribute) KEY has VALUE.
        #[arg(long, value_name = "KEY=VALUE")]
        attribute: Option<String>,
        /// Only these signals (traces, logs, metrics; repeatable) [default: all].
        #[arg(long = "signal", value_name = "SIGNAL", value_parser = ["traces", "logs", "metrics"])]
        signals: Vec<String>,
        /// Record the request and leave the work to a running server.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// A tenant's deletion requests and where each is, newest first (JSON lines).
    Status {
        /// The tenant's name.
        name: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

pub(crate) async fn run(cmd: DeleteCommand) -> Result<(), ServerError> {
    match cmd {
        DeleteCommand::Tenant {
            name,
            confirm,
            store,
            platform,
        } => {
            let platform = scrim_server::Platform::open(&store.platform(&platform)?).await?;
            let done =
                scrim_server::deletion::operator_delete_tenant(&platform, &name, &confirm).await?;
            println!(
                "tenant {name} deleted ({}): data key destroyed, {} segments and {} objects \
                 removed, {} API keys and {} members removed",
                done.id, done.segments, done.objects, done.api_keys, done.members
            );
        }
        DeleteCommand::Rows {
            name,
            start,
            end,
            service,
            attribute,
            signals,
            no_wait,
            store,
            platform,
        } => {
            let attribute = attribute
                .map(|a| match a.split_once('=') {
                    Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                    _ => Err(ServerError::Usage("--attribute takes KEY=VALUE".into())),
                })
                .transpose()?;
            let selection = Selection {
                start,
                end,
                service,
                attribute,
                signals: (!signals.is_empty()).then_some(signals),
            };
            let platform = scrim_server::Platform::open(&store.platform(&platform)?).await?;
            let d = scrim_server::deletion::operator_delete_rows(
                &platform, &name, &selection, !no_wait,
            )
            .await?;
            println!("{}", deletion_json(&d));
            if d.status == scrim_meta::DeletionStatus::Failed {
                return Err(ServerError::Usage(format!(
                    "deletion {} failed and will be retried: {}",
                    d.id,
                    d.error.as_deref().unwrap_or("unknown error")
                )));
            }
        }
        DeleteCommand::Status { name, platform } => {
            let platform = scrim_server::Platform::open(&platform.config()?).await?;
            for d in scrim_server::deletion::operator_deletions(&platform, &name).await? {
                println!("{}", deletion_json(&d));
            }
        }
    }
    Ok(())
}
