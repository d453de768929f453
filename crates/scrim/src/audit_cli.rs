//! `scrim audit export|verify|checkpoint`: the operator's side of the audit log. Exports
//! and verifications are themselves recorded, as the operator.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Subcommand;
use scrim_audit::{PLATFORM_TENANT, hex};
use scrim_auth::rbac::{Actor, Permission};
use scrim_server::ServerError;
use scrim_server::accounts::{Act, check};
use scrim_server::audit::checkpoints::{self, CheckpointSigner};
use scrim_server::audit::read::{self, AuditFilter, ExportFormat};
use scrim_server::audit::{actions, now_ms};

use crate::PlatformArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Write one tenant's audit records, oldest first, as JSON lines or CSV.
    Export {
        /// The tenant's name, or `-` for platform-wide records (sign-ins of unknown
        /// accounts, operator actions on accounts).
        #[arg(long, value_name = "NAME")]
        tenant: String,
        /// jsonl or csv.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Only this actor: a user id, a key id, `operator` or `system:<name>`.
        #[arg(long)]
        actor: Option<String>,
        /// Only this action (`session.sign_in`, `telemetry.read`, …; docs/audit-log.md).
        #[arg(long)]
        action: Option<String>,
        /// From this time on: RFC 3339 or Unix seconds.
        #[arg(long)]
        start: Option<String>,
        /// Before this time: RFC 3339 or Unix seconds.
        #[arg(long)]
        end: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Walk every audit chain (or one tenant's) against its signed checkpoints, and name
    /// the first record that was changed, removed or reordered. Exit status 1 if any.
    Verify {
        /// One tenant by name (`-`: the platform's chain) [default: every chain].
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        /// Check checkpoints with this public key (64 hex digits) instead of the key file.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Sign a checkpoint at the end of every chain that grew (`scrim serve` does this
    /// every hour).
    Checkpoint {
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

fn usage(m: impl Into<String>) -> ServerError {
    ServerError::Usage(m.into())
}

/// A chain by tenant name, or `-`.
async fn chain_of(platform: &scrim_server::Platform, name: &str) -> Result<String, ServerError> {
    if name == PLATFORM_TENANT {
        return Ok(PLATFORM_TENANT.to_owned());
    }
    Ok(platform.tenant_named(name).await?.id.to_string())
}

fn time(flag: &str, text: Option<&str>) -> Result<Option<i64>, ServerError> {
    text.map(|t| {
        read::parse_time(t).ok_or_else(|| {
            usage(format!(
                "{flag} must be RFC 3339 (2026-11-24T10:00:00Z) or Unix seconds"
            ))
        })
    })
    .transpose()
}

pub(crate) fn run(cmd: AuditCommand) -> io::Result<()> {
    // A verification that found tampering fails with status 1, not as a usage error.
    let mut tampered = false;
    crate::run_platform(|| async {
        tampered = run_async(cmd).await?;
        Ok(())
    })?;
    if tampered {
        return Err(io::Error::other(
            "the audit log was tampered with (see above)",
        ));
    }
    Ok(())
}

/// Returns whether verification found tampering.
async fn run_async(cmd: AuditCommand) -> Result<bool, ServerError> {
    check(&Actor::Operator, Permission::ReadAudit)?;
    match cmd {
        AuditCommand::Export {
            tenant,
            format,
            actor,
            action,
            start,
            end,
            output,
            platform,
        } => {
            let format =
                ExportFormat::parse(&format).ok_or_else(|| usage("--format is jsonl or csv"))?;
            let filter = AuditFilter {
                actor,
                action,
                start_ms: time("--start", start.as_deref())?,
                end_ms: time("--end", end.as_deref())?,
            };
            let p = scrim_server::Platform::open(&platform.config()?).await?;
            let chain = chain_of(&p, &tenant).await?;
            let mut out: Box<dyn Write> = match &output {
                Some(path) => Box::new(io::BufWriter::new(
                    std::fs::File::create(path)
                        .map_err(|e| usage(format!("cannot create {}: {e}", path.display())))?,
                )),
                None => Box::new(io::BufWriter::new(io::stdout().lock())),
            };
            // Recorded before anything is written out: no record, no export.
            Act::operator(&chain)
                .entry(p.audit(), actions::AUDIT_EXPORT, &chain)
                .detail(
                    "format",
                    if format == ExportFormat::Csv {
                        "csv"
                    } else {
                        "jsonl"
                    },
                )
                .detail("filter", format!("{filter:?}"))
                .success()
                .await?;
            let n = read::export(p.meta(), &chain, &filter, format, &mut out).await?;
            drop(out);
            if let Some(path) = output {
                eprintln!("{n} records written to {}", path.display());
            }
            Ok(false)
        }
        AuditCommand::Verify {
            tenant,
            public_key,
            platform,
        } => {
            let p = scrim_server::Platform::open(&platform.config()?).await?;
            let key = match &public_key {
                Some(path) => checkpoints::read_public_key(path)?,
                None => CheckpointSigner::load(p.audit_key_file())?.public_key(),
            };
            let chains = match &tenant {
                Some(name) => vec![chain_of(&p, name).await?],
                None => read::chains(p.meta()).await?,
            };
            let mut tampered = 0usize;
            let mut records = 0u64;
            for chain in &chains {
                let verdict = read::verify_tenant(p.meta(), chain, &key).await?;
                match &verdict.result {
                    Ok(r) => {
                        records += r.records;
                        println!(
                            "ok       {chain}: {} records (last {}, hash {}), {} checkpoints checked",
                            r.records,
                            r.last_seq,
                            &hex(&r.last_hash)[..16],
                            r.checkpoints_checked
                        );
                    }
                    Err(m) => {
                        tampered += 1;
                        println!("TAMPERED {chain}: {m}");
                    }
                }
                for other in &verdict.other_keys {
                    println!(
                        "         {chain}: checkpoints signed by key {other} not checked (not key {})",
                        key.key_id()
                    );
                }
            }
            println!(
                "{} chains, {records} records, {tampered} tampered (checkpoint key {})",
                chains.len(),
                key.key_id()
            );
            Act::operator(PLATFORM_TENANT)
                .entry(
                    p.audit(),
                    actions::AUDIT_VERIFY,
                    tenant.as_deref().unwrap_or("*"),
                )
                .detail("chains", chains.len())
                .detail("tampered", tampered)
                .success()
                .await?;
            Ok(tampered > 0)
        }
        AuditCommand::Checkpoint { platform } => {
            let p = scrim_server::Platform::open(&platform.config()?).await?;
            let signer = p.checkpoint_signer()?;
            let made = checkpoints::checkpoint_all(p.meta(), &signer, now_ms()).await?;
            println!(
                "{made} checkpoints signed with key {} ({})",
                signer.key_id(),
                p.audit_key_file().display()
            );
            Ok(false)
        }
    }
}
