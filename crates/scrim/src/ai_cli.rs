//! `scrim ai`: the operator asks a tenant's AI provider about a trace, a statement or a
//! service's errors, or previews exactly what would be sent. The logic (the tenant's
//! settings and their checks, the context from stored data, the second detector pass, the
//! audit records) is `scrim_server::ai`'s; this file wires flags to it.
//!
//! It reads the segments `scrim serve` wrote (rows a running server has not flushed yet are
//! not in them), and records in the tenant's audit log as the operator.

use clap::{Args, Subcommand};
use scrim_server::ServerError;
use scrim_server::accounts::Act;
use scrim_server::ai::{AskError, Mode, Subject};

use crate::{PlatformArgs, StoreArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum AiCommand {
    /// Explain a trace: its critical path, slow or failing spans and the likely cause.
    ExplainTrace {
        /// The trace id (32 hexadecimal digits).
        trace_id: String,
        #[command(flatten)]
        common: AiArgs,
    },
    /// Explain a slow or failing SQL statement of a service (give it as stored: literals
    /// replaced by `?`).
    ExplainSql {
        #[arg(long, value_name = "NAME")]
        service: String,
        #[arg(long, value_name = "SQL")]
        statement: String,
        /// How far back: 30m, 1h, 7d.
        #[arg(long, value_name = "WINDOW", default_value = "1h")]
        window: String,
        #[command(flatten)]
        common: AiArgs,
    },
    /// Summarise a service's errors over a window.
    SummarizeErrors {
        #[arg(long, value_name = "NAME")]
        service: String,
        /// How far back: 30m, 1h, 7d.
        #[arg(long, value_name = "WINDOW", default_value = "1h")]
        window: String,
        #[command(flatten)]
        common: AiArgs,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AiArgs {
    /// The tenant's name.
    #[arg(long, value_name = "NAME")]
    tenant: String,
    /// Print the exact request body that would be sent (and its SHA-256 on standard
    /// error), and send nothing.
    #[arg(long)]
    preview: bool,
    /// Send only if the body's SHA-256 is this one (from an earlier --preview).
    #[arg(long, value_name = "SHA256")]
    expect_sha256: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    platform: PlatformArgs,
}

fn usage(m: impl Into<String>) -> ServerError {
    ServerError::Usage(m.into())
}

pub(crate) async fn run(cmd: AiCommand) -> Result<(), ServerError> {
    let (subject, common) = match cmd {
        AiCommand::ExplainTrace { trace_id, common } => {
            let id = trace_id.to_ascii_lowercase();
            if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(usage("a trace id is 32 hexadecimal digits"));
            }
            (Subject::Trace(id), common)
        }
        AiCommand::ExplainSql {
            service,
            statement,
            window,
            common,
        } => (Subject::sql(service, statement, window)?, common),
        AiCommand::SummarizeErrors {
            service,
            window,
            common,
        } => (Subject::service_errors(service, window)?, common),
    };
    let p = scrim_server::Platform::open(&common.store.platform(&common.platform)?).await?;
    let tenant = p.tenant_named(&common.tenant).await?;
    let q = scrim_server::ai::segment_query(&p, &tenant).await?;
    let mode = Mode {
        preview: common.preview,
        expect_sha256: common.expect_sha256,
    };
    let scrubber = scrim_redact::Redactor::new(&scrim_redact::Policy::default(), None);
    let scrub = |t: &str| {
        let mut counts = scrim_redact::Counts::default();
        scrubber.text(t, &mut counts).into_owned()
    };
    let act = Act::operator(tenant.id.as_str());
    let out = scrim_server::ai::ask(&p, &act, &tenant, &q, &subject, &mode, scrub)
        .await
        .map_err(|e| match e {
            AskError::Server(e) => e,
            e => usage(e.to_string()),
        })?;
    let field = |k: &str| out.get(k).map(|v| v.to_string()).unwrap_or_default();
    eprintln!(
        "scrim ai: {} to {} (model {}), body {} bytes, sha256 {}",
        field("feature"),
        field("host"),
        field("model"),
        field("bytes"),
        out.get("sha256")
            .and_then(|v| v.as_str())
            .unwrap_or_default(),
    );
    if let Some(payload) = out.get("payload").and_then(|v| v.as_str()) {
        println!("{payload}");
        eprintln!("scrim ai: preview only, nothing was sent (send it with --expect-sha256)");
    } else if let Some(answer) = out.get("answer").and_then(|v| v.as_str()) {
        println!("{answer}");
    }
    Ok(())
}
