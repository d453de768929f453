//! `scrim`: the command-line entry point.
//!
//! The binary only parses arguments and wires library crates together; every rule about
//! what is removed lives in `scrim-redact`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use scrim_redact::sql::{self, Dialect, SqlOptions};

mod ai_cli;
mod alerts_cli;
mod audit_cli;
mod backup_cli;
mod delete_cli;
mod export_cli;
mod identity_cli;
use scrim_redact::{Counts, Policy, Redactor, json_query, memcached, redis};

/// Scrim: a privacy-first APM for OpenTelemetry.
#[derive(Debug, Parser)]
#[command(name = "scrim", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Remove sensitive values from database statements: a filter from stdin to stdout.
    ///
    /// Each filter reads the whole of standard input as one statement and writes the
    /// redacted statement followed by a newline (one trailing line break of the input is
    /// not part of the statement). With `--lines`, every input line is its own statement
    /// and is answered by exactly one output line. Input that is not valid UTF-8 is read
    /// with each invalid sequence replaced by U+FFFD; any input, even malformed, exits 0.
    #[command(subcommand, arg_required_else_help = true)]
    Redact(Redact),
    /// Run the edge forwarder: receive OTLP from applications, apply the capture policy,
    /// queue on disk, forward upstream over HTTPS.
    ///
    /// Every setting can also come from the config file (`--config`) or a `SCRIM_*`
    /// environment variable (`SCRIM_UPSTREAM`, `SCRIM_QUEUE_MAX_BYTES`, …); a flag beats
    /// the environment, which beats the file. Secrets (`SCRIM_API_KEY`,
    /// `SCRIM_PSEUDONYM_KEY`) come from the environment or the file, never from flags.
    Agent(Box<AgentArgs>),
    /// Run the platform: OTLP ingest with API keys, the capture policy before anything is
    /// written, encrypted per-tenant storage, and the REST API.
    Serve(Box<ServeArgs>),
    /// Try Scrim in one command: a server on loopback with a fresh data directory, a demo
    /// tenant and keys, and a small shop sending telemetry full of secrets, so you see
    /// what Scrim removes.
    Demo(Box<DemoArgs>),
    /// Manage tenants (the unit of isolation: own data key, region, retention, API keys).
    #[command(subcommand, arg_required_else_help = true)]
    Tenant(TenantCommand),
    /// Manage API keys (`scrim_…`): how machines send and read a tenant's telemetry.
    #[command(subcommand, arg_required_else_help = true)]
    Apikey(ApikeyCommand),
    /// Manage people: accounts, their roles in tenants, passwords and authenticators.
    #[command(subcommand, arg_required_else_help = true)]
    User(identity_cli::UserCommand),
    /// Review who can reach each tenant, how they sign in, and which keys exist.
    #[command(subcommand, arg_required_else_help = true)]
    Access(identity_cli::AccessCommand),
    /// Export and verify the tamper-evident audit log.
    #[command(subcommand, arg_required_else_help = true)]
    Audit(audit_cli::AuditCommand),
    /// Manage the keys that protect stored data.
    #[command(subcommand, arg_required_else_help = true)]
    Key(KeyCommand),
    /// Export a tenant's spans, logs or metrics: OTLP/JSON lines that another OpenTelemetry
    /// backend ingests, JSON lines, CSV, or Parquet (plain or encrypted with your key).
    ///
    /// Reads the segments `scrim serve` wrote (rows a running server has not flushed yet
    /// are not in them). The export is recorded in the tenant's audit log before anything
    /// is written; progress and the final count go to standard error.
    Export(Box<export_cli::ExportArgs>),
    /// Encrypted, incremental backups of the telemetry under a backup key of their own;
    /// restores that never bring back a deleted tenant's data.
    #[command(subcommand, arg_required_else_help = true)]
    Backup(backup_cli::BackupCommand),
    /// Delete on request: a whole tenant (crypto-shredded), or the rows that match a time
    /// range, a service or an attribute (a person's erasure request). Recorded in the
    /// tenant's audit log first; kept as a tombstone that a backup restore re-applies.
    #[command(subcommand, arg_required_else_help = true)]
    Delete(delete_cli::DeleteCommand),
    /// AI diagnostics (when the tenant turned them on): ask the tenant's AI provider about a
    /// trace, a statement or a service's errors, from stored (redacted) data, passed through
    /// every detector again. `--preview` prints exactly what would be sent. Recorded in the
    /// tenant's audit log with the SHA-256 of what was sent.
    #[command(subcommand, arg_required_else_help = true)]
    Ai(ai_cli::AiCommand),
    /// Alert rules, sensitive-data insights, security detections, notification channels
    /// and the notifications sent (rules are evaluated and notifications delivered by
    /// `scrim serve`). Changes are recorded in the tenant's audit log.
    #[command(subcommand, arg_required_else_help = true)]
    Alerts(alerts_cli::AlertsCommand),
    /// Containment during an incident, recorded in the tenant's audit log and reversible:
    /// status, suspend-keys, restore-keys, end-sessions, freeze-reads (telemetry reads
    /// refused, ingest continues), unfreeze-reads.
    Contain {
        /// status, suspend-keys, restore-keys, end-sessions, freeze-reads or unfreeze-reads.
        action: String,
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Replace the master key (`<data-dir>/master.key`) with a new random one: every
    /// tenant's data key and every platform key is re-wrapped in one transaction; no data is
    /// rewritten. Stop the servers first and start them again after.
    RotateMaster {
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Make a new random data key the current one of tenant NAME: every segment and WAL
    /// record written from now on is encrypted under it; what was written before stays
    /// readable under its own key until compaction rewrites it. Pseudonyms do not change.
    /// Running servers switch at their next flush round; recorded in the tenant's audit log.
    RotateTenant {
        /// The tenant's name.
        name: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    platform: PlatformArgs,
    /// UI and REST API listen address [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long, value_name = "ADDR")]
    otlp_grpc: Option<SocketAddr>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318].
    #[arg(long, value_name = "ADDR")]
    otlp_http: Option<SocketAddr>,
    /// PEM certificate chain for TLS on every listener (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Generate (once, in <data-dir>/tls) and use a self-signed certificate; its SHA-256
    /// fingerprint is printed at start.
    #[arg(long, conflicts_with = "tls_cert")]
    tls_self_signed: bool,
    /// Serve plain HTTP on addresses other than loopback (not recommended: credentials and
    /// telemetry would cross the network in clear).
    #[arg(long)]
    allow_plaintext: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Keep the demo's state here instead of a fresh temporary directory.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// UI and REST API listen address [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// OTLP/gRPC listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4317")]
    otlp_grpc: SocketAddr,
    /// OTLP/HTTP listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318")]
    otlp_http: SocketAddr,
    /// Traces per second the shop sends.
    #[arg(long, value_name = "N", default_value_t = 5.0)]
    traces_per_second: f64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
}

/// Where the platform's state lives (shared by `serve`, `tenant`, `apikey`).
#[derive(Debug, Args)]
struct PlatformArgs {
    /// Local state: master key, metadata (SQLite), WAL, segments.
    #[arg(long, value_name = "DIR", default_value = "scrim-data")]
    data_dir: PathBuf,
    /// A shared metadata database instead of SQLite in the data directory
    /// (`postgres://user@host:5432/db`).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The key that signs audit checkpoints [default: <data-dir>/audit-checkpoint.key].
    /// Kept apart from the master key; every node of a deployment needs the same file.
    #[arg(long, value_name = "FILE")]
    audit_key_file: Option<PathBuf>,
    /// The serve config (TOML). `scrim serve` reads all of it: http, otlp_grpc, otlp_http,
    /// data_dir, database_url, object_store and region (one region) or [[regions]] (each
    /// with name, object_store, wal_dir, backup_to), flush_interval_seconds, flush_rows,
    /// policy (a capture policy file), tls_cert_file, tls_key_file, tls_self_signed,
    /// allow_plaintext, audit settings. Other commands take its data_dir, database_url,
    /// audit_key_file and regions. Flags win. Give it to every command of a deployment
    /// with several regions (or set SCRIM_CONFIG once).
    #[arg(long, value_name = "FILE", env = "SCRIM_CONFIG")]
    config: Option<PathBuf>,
}

impl PlatformArgs {
    /// The flags alone, without the config file.
    fn flags(&self) -> scrim_server::PlatformConfig {
        scrim_server::PlatformConfig {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            audit_key_file: self.audit_key_file.clone(),
            regions: Vec::new(),
        }
    }

    /// The flags, then the config file (`--config`) where no flag was given.
    fn config(&self) -> Result<scrim_server::PlatformConfig, scrim_server::ServerError> {
        self.config_with(None)
    }

    /// [`config`](Self::config), with the one region `store` names when it names one.
    fn config_with(
        &self,
        store: Option<(&str, Option<&str>)>,
    ) -> Result<scrim_server::PlatformConfig, scrim_server::ServerError> {
        let mut flags = self.flags();
        if let Some((object_store, region)) = store {
            flags.regions = vec![scrim_server::regions::RegionConfig::single(
                region.unwrap_or(scrim_server::regions::DEFAULT_REGION),
                Some(object_store.to_owned()),
            )];
        }
        let Some(path) = &self.config else {
            return Ok(flags);
        };
        let text = fs::read_to_string(path).map_err(|e| {
            scrim_server::ServerError::Usage(format!("cannot read config {}: {e}", path.display()))
        })?;
        Ok(scrim_server::ServerConfig::from_toml(flags, &text, Some(path))?.platform)
    }
}

/// The segment store of a deployment with one region, given by flags instead of `--config`
/// (as `scrim serve`'s `object_store` and `region` settings).
#[derive(Debug, Args)]
struct StoreArgs {
    /// Where the server keeps segments, as its `object_store` setting (a directory,
    /// `file:///…`, `s3://bucket/prefix?endpoint=…&region=…`), for use without --config
    /// [default: <data-dir>/segments].
    #[arg(long, value_name = "URL", conflicts_with = "config")]
    object_store: Option<String>,
    /// The name of that region [default: local].
    #[arg(long, value_name = "REGION", requires = "object_store")]
    region: Option<String>,
}

impl StoreArgs {
    fn platform(
        &self,
        platform: &PlatformArgs,
    ) -> Result<scrim_server::PlatformConfig, scrim_server::ServerError> {
        platform.config_with(
            self.object_store
                .as_deref()
                .map(|s| (s, self.region.as_deref())),
        )
    }
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant with a fresh data key; prints its id.
    Create {
        /// Lower-case letters, digits and dashes, 1 to 63 characters.
        name: String,
        /// Where the tenant's data must stay for good: one of the regions of --config
        /// [default: the only region; `local` without a config].
        #[arg(long, value_name = "R")]
        region: Option<String>,
        /// Days telemetry is kept, 1 to 3650 [default: 30].
        #[arg(long, value_name = "N")]
        retention_days: Option<u16>,
        /// The tenant's own capture policy (docs/capture-policy.md) [default: the server's].
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Show or change a tenant's capture policy. Running servers apply a change within one
    /// flush interval, to data that arrives from then on.
    Policy {
        /// The tenant's name.
        name: String,
        /// Set the policy from this TOML file.
        #[arg(long, value_name = "FILE", conflicts_with = "default")]
        file: Option<PathBuf>,
        /// Go back to the server's policy.
        #[arg(long)]
        default: bool,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Show or change how many days a tenant's telemetry is kept. Whole segments past it
    /// are removed by `scrim serve` every hour, each removal recorded in the audit log.
    Retention {
        /// The tenant's name.
        name: String,
        /// Keep telemetry this many days (1-3650).
        #[arg(long, value_name = "N")]
        days: Option<u16>,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Show or change a tenant's security settings: MFA or SSO required, session timeouts.
    Security {
        /// The tenant's name.
        name: String,
        /// Every member must sign in with a second factor.
        #[arg(long, value_name = "BOOL")]
        require_mfa: Option<bool>,
        /// Members must sign in through the tenant's OpenID provider (configure it first).
        #[arg(long, value_name = "BOOL")]
        require_sso: Option<bool>,
        /// Minutes without a request before a session ends (1-1440; 0: the server's default).
        #[arg(long, value_name = "N")]
        session_idle_minutes: Option<u32>,
        /// Minutes after sign-in a session ends however active (1-43200; 0: the default).
        #[arg(long, value_name = "N")]
        session_absolute_minutes: Option<u32>,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Show, set (from a JSON file) or remove a tenant's single sign-on (OpenID Connect).
    ///
    /// The file: {"oidc": {"issuer", "client_id", "client_secret", "redirect_uri",
    /// "groups_claim", "scopes"}, "roles": {"rules": [{"group": "ops", "role": "admin"}],
    /// "default_role": "viewer"}, "ca_pem": "…"}. The client secret is stored encrypted and
    /// never shown again.
    Sso {
        /// The tenant's name.
        name: String,
        #[arg(long, value_name = "FILE", conflicts_with = "remove")]
        file: Option<PathBuf>,
        #[arg(long)]
        remove: bool,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ApikeyCommand {
    /// Create an API key; the key itself is printed once, alone on the last line.
    Create {
        /// The tenant's name.
        #[arg(long, value_name = "NAME")]
        tenant: String,
        /// Comma-separated: ingest (= ingest:traces,ingest:logs,ingest:metrics),
        /// ingest:traces, ingest:logs, ingest:metrics, read, export, delete, admin, audit:read.
        #[arg(long, value_name = "SCOPES")]
        scopes: String,
        /// A name to recognise the key by.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Days until the key stops working [default: never].
        #[arg(long, value_name = "N")]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// List a tenant's keys: scopes, state, last use, expiry (never the secret).
    List {
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Revoke a key; every node refuses it from its next request on.
    Revoke {
        /// The key id (the 16 characters after `scrim_`).
        id: String,
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

#[derive(Debug, Args)]
struct AgentArgs {
    /// Where to forward: `https://host:4318` (OTLP/HTTP) or, with
    /// `--upstream-protocol grpc`, `https://host:4317`.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// `http` (OTLP/HTTP protobuf, default) or `grpc`.
    #[arg(long, value_name = "PROTOCOL")]
    upstream_protocol: Option<String>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long, value_name = "ADDR")]
    otlp_grpc: Option<String>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318].
    #[arg(long, value_name = "ADDR")]
    otlp_http: Option<String>,
    /// `/healthz` and Prometheus `/metrics` listen address [default: 127.0.0.1:9464].
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Disk queue, generated keys and the self-signed certificate
    /// [default: ./scrim-agent-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// PEM certificate chain (leaf first) for TLS on the OTLP and metrics listeners (with
    /// --tls-key-file).
    #[arg(long, value_name = "FILE")]
    tls_cert_file: Option<String>,
    /// PEM private key of --tls-cert-file.
    #[arg(long, value_name = "FILE")]
    tls_key_file: Option<String>,
    /// TLS on the OTLP and metrics listeners with a self-signed certificate, generated once
    /// in <data-dir>/tls and reused; its SHA-256 fingerprint is printed at start.
    #[arg(long)]
    tls_self_signed: bool,
    /// Without TLS, serve plain connections on listen addresses other than loopback (not
    /// recommended: telemetry would cross the network in clear).
    #[arg(long)]
    allow_plaintext: bool,
    /// Permit a plain http:// upstream; each plain connection is logged as a warning.
    #[arg(long)]
    allow_http_fallback: bool,
    /// `auto` (default: on-prem for a loopback upstream, cloud otherwise), `cloud` or
    /// `on-prem`.
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// Capture policy file (docs/capture-policy.md).
    #[arg(long, value_name = "FILE")]
    policy: Option<String>,
    /// Disk queue bound in bytes [default: 1 GiB].
    #[arg(long, value_name = "BYTES")]
    queue_max_bytes: Option<String>,
    /// `drop-oldest` (default) or `drop-newest` when the queue is full.
    #[arg(long, value_name = "POLICY")]
    queue_overflow: Option<String>,
    /// PEM CA certificate(s) to trust for the upstream instead of the system roots.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<String>,
    /// PEM client certificate for mutual TLS (with --client-key-file).
    #[arg(long, value_name = "FILE")]
    client_cert_file: Option<String>,
    /// PEM private key of the client certificate.
    #[arg(long, value_name = "FILE")]
    client_key_file: Option<String>,
    /// Compress requests upstream (`true` or `false`) [default: true].
    #[arg(long, value_name = "BOOL")]
    gzip: Option<String>,
    /// Deadline of one export attempt, in seconds [default: 10].
    #[arg(long, value_name = "SECONDS")]
    export_timeout_secs: Option<String>,
    /// TOML configuration file; flags and SCRIM_* variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl AgentArgs {
    /// The flags that were given, as `config key → value`.
    fn overrides(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let pairs = [
            ("upstream", &self.upstream),
            ("upstream_protocol", &self.upstream_protocol),
            ("otlp_grpc", &self.otlp_grpc),
            ("otlp_http", &self.otlp_http),
            ("metrics", &self.metrics),
            ("data_dir", &self.data_dir),
            ("tls_cert_file", &self.tls_cert_file),
            ("tls_key_file", &self.tls_key_file),
            ("mode", &self.mode),
            ("policy_file", &self.policy),
            ("queue_max_bytes", &self.queue_max_bytes),
            ("queue_overflow", &self.queue_overflow),
            ("ca_file", &self.ca_file),
            ("client_cert_file", &self.client_cert_file),
            ("client_key_file", &self.client_key_file),
            ("gzip", &self.gzip),
            ("export_timeout_secs", &self.export_timeout_secs),
        ];
        for (key, value) in pairs {
            if let Some(v) = value {
                m.insert(key.to_string(), v.clone());
            }
        }
        for (key, set) in [
            ("tls_self_signed", self.tls_self_signed),
            ("allow_plaintext", self.allow_plaintext),
            ("allow_http_fallback", self.allow_http_fallback),
        ] {
            if set {
                m.insert(key.into(), "true".into());
            }
        }
        m
    }
}

// The `scrim redact` filters.
#[derive(Debug, Subcommand)]
enum Redact {
    /// Replace every literal in a SQL statement with `?`.
    ///
    /// Example: `echo "SELECT * FROM users WHERE id = 42" | scrim redact sql`
    /// prints `SELECT * FROM users WHERE id = ?`.
    Sql {
        /// Lexical rules of the database the statement was written for (quotes,
        /// backslash escapes, comments). `generic` accepts the union of all dialects
        /// and, where they disagree, removes more.
        #[arg(
            long,
            value_name = "DIALECT",
            default_value = "generic",
            ignore_case = true,
            value_parser = dialect_parser()
        )]
        dialect: Dialect,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Keep a Redis / Valkey command and its keys, remove the values.
    Redis {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Keep a Memcached command and its keys, remove the stored data.
    Memcached {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Keep the shape of a MongoDB / Elasticsearch JSON query, remove its values.
    Mongo {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Remove sensitive values from free text (log lines, messages, stack traces).
    ///
    /// Example: `echo "card 4111 1111 1111 1111 for alice@example.com" | scrim redact text`
    /// prints `card [REDACTED:card] for [REDACTED:email]`.
    Text {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Redact a JSON request or response body: values under sensitive keys replaced,
    /// every other string scanned. Input that is not JSON is scanned as text.
    Json {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Redact a URL: credentials, query parameter values, signatures, and the path.
    Url {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Mask, pseudonymise or drop IP addresses (a value such as `client.address` or an
    /// `X-Forwarded-For` list).
    Ip {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Print what the detectors find in the text, as JSON lines:
    /// `{"kind":"email","start":5,"end":22,"method":"mask"}` (byte offsets; with
    /// `--lines`, also `"line"`, counted from 1, and offsets within that line).
    Explain {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

#[derive(Debug, Args)]
struct InputArgs {
    /// Treat each input line as a separate statement; each output line answers the
    /// input line at the same position (an empty line answers an empty line).
    #[arg(long)]
    lines: bool,
}

#[derive(Debug, Args)]
struct PolicyArgs {
    /// A capture policy in TOML (docs/capture-policy.md); without it, the default policy.
    /// Pseudonyms (`hash`) are keyed by the environment variable SCRIM_PSEUDONYM_KEY;
    /// without it, `hash` masks.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

impl PolicyArgs {
    /// The redactor for this policy, or a usage error naming the file and the problem.
    fn redactor(&self) -> Result<Redactor, String> {
        let policy = match &self.policy {
            None => Policy::default(),
            Some(path) => {
                let text = fs::read_to_string(path)
                    .map_err(|e| format!("cannot read policy {}: {e}", path.display()))?;
                Policy::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        let key = std::env::var_os("SCRIM_PSEUDONYM_KEY").filter(|k| !k.is_empty());
        let redactor = Redactor::new(&policy, key.as_ref().map(|k| k.as_encoded_bytes()));
        for o in redactor.overrides() {
            eprintln!("scrim: policy: {o}");
        }
        Ok(redactor)
    }
}

/// `--dialect` accepts exactly the names of [`Dialect::ALL`], listed in help and errors.
fn dialect_parser() -> impl TypedValueParser<Value = Dialect> {
    PossibleValuesParser::new(Dialect::ALL.map(Dialect::name)).map(|name| {
        Dialect::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(&name))
            .unwrap_or_default()
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Redact(redact) => run_redact(redact),
        Command::Agent(args) => run_agent(*args),
        Command::Serve(args) => run_serve(*args),
        Command::Demo(args) => run_demo(*args),
        Command::Tenant(cmd) => run_platform(|| run_tenant(cmd)),
        Command::Apikey(cmd) => run_platform(|| run_apikey(cmd)),
        Command::User(cmd) => run_platform(|| identity_cli::run_user(cmd)),
        Command::Access(cmd) => run_platform(|| identity_cli::run_access(cmd)),
        Command::Audit(cmd) => audit_cli::run(cmd),
        Command::Key(KeyCommand::RotateMaster { platform }) => run_platform(|| async move {
            let r = scrim_server::keys::rotate_master_key(&platform.config()?).await?;
            println!(
                "master key rotated: {} keys re-wrapped from key {} to key {}; start the servers again",
                r.keys, r.from, r.to
            );
            Ok(())
        }),
        Command::Key(KeyCommand::RotateTenant { name, platform }) => run_platform(|| async move {
            let r =
                scrim_server::tenant_keys::rotate_tenant_key_by_name(&platform.config()?, &name)
                    .await?;
            println!(
                "data key of tenant {name} rotated: key {} is current (was {}); running servers switch at their next flush",
                r.to, r.from
            );
            Ok(())
        }),
        Command::Export(args) => run_platform(|| export_cli::run(*args)),
        Command::Backup(cmd) => run_platform(|| backup_cli::run(cmd)),
        Command::Delete(cmd) => run_platform(|| delete_cli::run(cmd)),
        Command::Ai(cmd) => run_platform(|| ai_cli::run(cmd)),
        Command::Alerts(cmd) => run_platform(|| alerts_cli::run(cmd)),
        Command::Contain {
            action,
            tenant,
            platform,
        } => run_platform(|| alerts_cli::contain(action, tenant, platform)),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            eprintln!("scrim: {e}");
            ExitCode::from(2)
        }
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`scrim redact sql | head -1`): nothing left to do.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scrim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_redact(redact: Redact) -> io::Result<()> {
    match redact {
        Redact::Sql { dialect, input } => {
            let options = SqlOptions::for_dialect(dialect);
            filter(input.lines, |s| sql::obfuscate(s, &options))
        }
        Redact::Redis { input } => filter(input.lines, redis::obfuscate_redis),
        Redact::Memcached { input } => filter(input.lines, memcached::obfuscate_memcached),
        Redact::Mongo { input } => filter(input.lines, json_query::obfuscate_json_query),
        Redact::Text { input, policy } => {
            let r = load(&policy)?;
            filter(input.lines, |s| r.text(s, &mut Counts::default()))
        }
        Redact::Json { input, policy } => {
            let r = load(&policy)?;
            filter(input.lines, |s| {
                r.body(s, &mut Counts::default()).unwrap_or_default()
            })
        }
        Redact::Url { input, policy } => {
            let r = load(&policy)?;
            filter(input.lines, |s| r.url(s, &mut Counts::default()))
        }
        Redact::Ip { input, policy } => {
            let r = load(&policy)?;
            filter(input.lines, |s| {
                r.ip(s, &mut Counts::default()).unwrap_or_default()
            })
        }
        Redact::Explain { input, policy } => explain(&load(&policy)?, input.lines),
    }
}

/// `scrim agent`: runs until SIGINT or SIGTERM. A bad configuration is a usage error.
fn run_agent(args: AgentArgs) -> io::Result<()> {
    init_logging();
    let usage = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
    let file = match &args.config {
        Some(path) => Some((
            path.clone(),
            fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read config {}: {e}", path.display())))?,
        )),
        None => None,
    };
    let config = scrim_agent::AgentConfig::load(
        file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())),
        std::env::vars(),
        &args.overrides(),
    )
    .map_err(|e| usage(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let agent = scrim_agent::Agent::start(&config)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        if let Some(fp) = agent.tls_fingerprint() {
            eprintln!("scrim agent: TLS certificate SHA-256 fingerprint {fp}");
        }
        // The readiness line: tests and scripts wait for it and parse it
        // (tests/agent_e2e.rs); keep its format. With TLS, the metrics URL is https://.
        eprintln!(
            "scrim agent: OTLP/gRPC {}, OTLP/HTTP {}, metrics {}://{}/metrics, mode {:?}",
            agent
                .otlp_grpc_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            agent
                .otlp_http_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            if agent.tls_fingerprint().is_some() {
                "https"
            } else {
                "http"
            },
            agent.metrics_addr(),
            agent.mode(),
        );
        wait_for_signal().await?;
        tracing::info!("shutting down");
        agent.shutdown().await;
        Ok(())
    })
}

fn server_error(e: scrim_server::ServerError) -> io::Error {
    match e {
        scrim_server::ServerError::Usage(m) => io::Error::new(io::ErrorKind::InvalidInput, m),
        e => io::Error::other(e.to_string()),
    }
}

/// `scrim serve`: runs until SIGINT or SIGTERM, then flushes what it buffered.
fn run_serve(args: ServeArgs) -> io::Result<()> {
    init_logging();
    let file = match &args.platform.config {
        Some(path) => Some(fs::read_to_string(path).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot read config {}: {e}", path.display()),
            )
        })?),
        None => None,
    };
    let mut config = scrim_server::ServerConfig::from_toml(
        args.platform.flags(),
        file.as_deref().unwrap_or(""),
        args.platform.config.as_deref(),
    )
    .map_err(server_error)?;
    if let Some(a) = args.http {
        config.http = a;
    }
    if let Some(a) = args.otlp_grpc {
        config.otlp_grpc = Some(a);
    }
    if let Some(a) = args.otlp_http {
        config.otlp_http = Some(a);
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = scrim_server::TlsMode::Files { cert, key };
    } else if args.tls_self_signed {
        config.tls = config.self_signed();
    }
    if args.allow_plaintext {
        config.allow_plaintext = true;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = scrim_server::Server::start(config)
            .await
            .map_err(server_error)?;
        if let Some(fp) = server.tls_fingerprint() {
            eprintln!("scrim serve: TLS certificate SHA-256 fingerprint {fp}");
        }
        // The readiness line: tests and scripts wait for it and parse it; keep its format.
        eprintln!(
            "scrim serve: API {}://{}, OTLP/gRPC {}, OTLP/HTTP {}",
            if server.tls_fingerprint().is_some() {
                "https"
            } else {
                "http"
            },
            server.http_addr(),
            server
                .otlp_grpc_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            server
                .otlp_http_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
        );
        wait_for_signal().await?;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(())
    })
}

/// `scrim demo`: a server, a tenant, keys, and the shop's traffic.
fn run_demo(args: DemoArgs) -> io::Result<()> {
    init_logging();
    let (data_dir, _temporary) = match args.data_dir {
        Some(d) => (d, None),
        None => {
            let t = tempfile::Builder::new().prefix("scrim-demo-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let mut config =
        scrim_server::ServerConfig::new(scrim_server::PlatformConfig::in_dir(&data_dir));
    config.http = args.http;
    config.otlp_grpc = Some(args.otlp_grpc);
    config.otlp_http = Some(args.otlp_http);
    config.flush_interval = std::time::Duration::from_secs(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = scrim_server::Server::start(config)
            .await
            .map_err(server_error)?;
        let demo = scrim_server::admin::demo_tenant(server.platform())
            .await
            .map_err(server_error)?;
        let api = format!("http://{}", server.http_addr());
        let otlp_http = server.otlp_http_addr().map(|a| a.to_string()).unwrap_or_default();
        println!("Scrim demo is running (data in {}).", data_dir.display());
        println!();
        println!("  Open       {api}/   sign in as {} / {}", demo.owner_email, demo.owner_password);
        println!("  REST API   {api}/api/v1   (OpenAPI: {api}/api/v1/openapi.json)");
        println!("  OTLP/HTTP  http://{otlp_http}   OTLP/gRPC {}", server.otlp_grpc_addr().map(|a| a.to_string()).unwrap_or_default());
        println!("  tenant     {}", demo.tenant);
        println!("  ingest key {}", demo.ingest_key);
        println!("  read key   {}", demo.read_key);
        println!();
        println!("A small shop (frontend, checkout, payments, users) is sending traces, logs and metrics");
        println!("full of card numbers, emails, tokens, passwords and client IPs. Look at what was kept:");
        println!();
        println!("  curl -s -H 'Authorization: Bearer {}' {api}/api/v1/services", demo.read_key);
        println!("  curl -s -H 'Authorization: Bearer {}' '{api}/api/v1/traces?service=checkout&limit=5'", demo.read_key);
        println!("  curl -s -H 'Authorization: Bearer {}' {api}/api/v1/sql -d '{{\"query\": \"SELECT service_name, db_statement FROM spans WHERE db_statement IS NOT NULL LIMIT 5\"}}'", demo.read_key);
        println!();
        let mut traffic = scrim_demo::DemoTrafficConfig::new(format!("http://{otlp_http}"), &demo.ingest_key);
        traffic.traces_per_second = args.traces_per_second;
        let stats = traffic.stats.clone();
        let stop = async move {
            match args.duration {
                Some(s) => tokio::time::sleep(std::time::Duration::from_secs(s)).await,
                None => {
                    let _ = wait_for_signal().await;
                }
            }
        };
        let mut traffic = tokio::spawn(scrim_demo::run(traffic, stop));
        let mut report = tokio::time::interval(std::time::Duration::from_secs(10));
        report.tick().await;
        loop {
            tokio::select! {
                _ = report.tick() => {
                    let s = stats.snapshot();
                    println!(
                        "sent {} traces ({} spans), {} log records, {} metric points; {} batches failed",
                        s.traces, s.spans, s.log_records, s.data_points, s.batches_failed
                    );
                }
                finished = &mut traffic => {
                    match finished {
                        Ok(Ok(s)) => println!("done: {} spans and {} log records sent", s.spans, s.log_records),
                        Ok(Err(e)) => eprintln!("scrim demo: traffic stopped: {e}"),
                        Err(e) => eprintln!("scrim demo: traffic task: {e}"),
                    }
                    break;
                }
            }
        }
        server.shutdown().await;
        Ok(())
    })
}

/// Runs a platform command on a small runtime; a usage error exits 2, anything else 1.
pub(crate) fn run_platform<F, Fut>(f: F) -> io::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), scrim_server::ServerError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(f()).map_err(|e| match e {
        scrim_server::ServerError::Usage(m) | scrim_server::ServerError::Forbidden(m) => {
            io::Error::new(io::ErrorKind::InvalidInput, m)
        }
        e => io::Error::other(e.to_string()),
    })
}

/// The operator at this command line. Functions that act on a named tenant record in that
/// tenant's chain whatever the act's chain says; this one names the platform's.
fn operator() -> scrim_server::accounts::Act {
    scrim_server::accounts::Act::operator(scrim_audit::PLATFORM_TENANT)
}

async fn run_tenant(cmd: TenantCommand) -> Result<(), scrim_server::ServerError> {
    let read_policy = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|e| {
            scrim_server::ServerError::Usage(format!("cannot read {}: {e}", path.display()))
        })
    };
    match cmd {
        TenantCommand::Create {
            name,
            region,
            retention_days,
            policy,
            platform,
        } => {
            let mut options = scrim_server::admin::TenantOptions {
                region,
                ..Default::default()
            };
            if let Some(d) = retention_days {
                options.retention_days = d;
            }
            if let Some(path) = &policy {
                options.capture_policy = Some(read_policy(path)?);
            }
            let p = scrim_server::Platform::open(&platform.config()?).await?;
            let t = scrim_server::admin::create_tenant(&p, &operator(), &name, &options).await?;
            println!(
                "created tenant {} (id {}, region {}, retention {} days, {} capture policy)",
                t.name,
                t.id,
                t.region,
                t.retention_days,
                if t.capture_policy.is_some() {
                    "its own"
                } else {
                    "the server's"
                }
            );
        }
        TenantCommand::Policy {
            name,
            file,
            default,
            platform,
        } => {
            let p = scrim_server::Platform::open(&platform.config()?).await?;
            if let Some(path) = &file {
                let text = read_policy(path)?;
                let v =
                    scrim_server::admin::set_capture_policy(&p, &operator(), &name, Some(&text))
                        .await?;
                println!(
                    "tenant {name}: capture policy from {} (version {v})",
                    path.display()
                );
            } else if default {
                let v =
                    scrim_server::admin::set_capture_policy(&p, &operator(), &name, None).await?;
                println!("tenant {name}: the server's capture policy (version {v})");
            } else {
                match scrim_server::admin::capture_policy(&p, &name).await? {
                    Some(text) => print!("{text}"),
                    None => println!("# tenant {name} uses the server's capture policy"),
                }
            }
        }
        TenantCommand::Retention {
            name,
            days,
            platform,
        } => {
            let p = scrim_server::Platform::open(&platform.config()?).await?;
            let t = p.tenant_named(&name).await?;
            let actor = scrim_auth::rbac::Actor::Operator;
            match days {
                Some(d) => {
                    scrim_server::accounts::check(
                        &actor,
                        scrim_auth::rbac::Permission::ManageSecuritySettings,
                    )?;
                    let act = scrim_server::accounts::Act::operator(t.id.as_str());
                    scrim_server::admin::set_retention_days(&p, &act, &t.id, d).await?;
                    println!(
                        "tenant {name}: telemetry kept {d} days (was {}); what is past it goes at the next hourly run",
                        t.retention_days
                    );
                }
                None => {
                    scrim_server::accounts::check(
                        &actor,
                        scrim_auth::rbac::Permission::ViewSecuritySettings,
                    )?;
                    println!("tenant {name}: telemetry kept {} days", t.retention_days);
                }
            }
        }
        TenantCommand::Security {
            name,
            require_mfa,
            require_sso,
            session_idle_minutes,
            session_absolute_minutes,
            platform,
        } => {
            identity_cli::tenant_security(
                &name,
                identity_cli::SecurityChange {
                    require_mfa,
                    require_sso,
                    session_idle_minutes,
                    session_absolute_minutes,
                },
                &platform,
            )
            .await?;
        }
        TenantCommand::Sso {
            name,
            file,
            remove,
            platform,
        } => {
            let text = match &file {
                Some(path) => Some(read_policy(path)?),
                None => None,
            };
            identity_cli::tenant_sso(&name, text.as_deref(), remove, &platform).await?;
        }
    }
    Ok(())
}

async fn run_apikey(cmd: ApikeyCommand) -> Result<(), scrim_server::ServerError> {
    let (tenant, scopes, name, expires_in_days, platform) = match cmd {
        ApikeyCommand::Create {
            tenant,
            scopes,
            name,
            expires_in_days,
            platform,
        } => (tenant, scopes, name, expires_in_days, platform),
        ApikeyCommand::List { tenant, platform } => {
            return identity_cli::list_keys(&tenant, &platform).await;
        }
        ApikeyCommand::Revoke {
            id,
            tenant,
            platform,
        } => return identity_cli::revoke_key(&tenant, &id, &platform).await,
    };
    scrim_server::accounts::check(
        &scrim_auth::rbac::Actor::Operator,
        scrim_auth::rbac::Permission::CreateApiKey,
    )?;
    let scopes: scrim_meta::Scopes = scopes
        .parse()
        .map_err(|e| scrim_server::ServerError::Usage(format!("--scopes: {e}")))?;
    let expires_at = expires_in_days.map(|d| {
        std::time::SystemTime::now() + std::time::Duration::from_secs(u64::from(d) * 86_400)
    });
    let p = scrim_server::Platform::open(&platform.config()?).await?;
    let details = scrim_meta::NewApiKey {
        name,
        description: None,
        expires_at,
        created_by: None,
    };
    let (record, key) =
        scrim_server::admin::create_api_key(&p, &operator(), &tenant, scopes, details).await?;
    println!(
        "created API key {} for tenant {tenant} with scopes {}; it is shown once, below:",
        record.id.as_str(),
        record.scopes
    );
    // Alone on the last line, so that scripts can take it with `tail -n 1`.
    println!("{}", key.expose());
    Ok(())
}

async fn wait_for_signal() -> io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

/// The redactor for `--policy`; a bad policy is a usage error (exit 2).
fn load(policy: &PolicyArgs) -> io::Result<Redactor> {
    policy
        .redactor()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// `scrim redact explain`: one JSON object per finding.
fn explain(redactor: &Redactor, lines: bool) -> io::Result<()> {
    let text = read_stdin()?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut write = |line: Option<usize>, s: &str| -> io::Result<()> {
        for (f, method) in redactor.explain(s) {
            let line = line.map(|n| format!(r#","line":{n}"#)).unwrap_or_default();
            writeln!(
                out,
                r#"{{"kind":"{}","start":{},"end":{},"method":"{}"{line}}}"#,
                f.kind, f.start, f.end, method
            )?;
        }
        Ok(())
    };
    if lines {
        for (n, line) in text.lines().enumerate() {
            write(Some(n + 1), line)?;
        }
    } else {
        write(None, strip_final_newline(&text))?;
    }
    out.flush()
}

fn read_stdin() -> io::Result<String> {
    let mut bytes = Vec::new();
    io::stdin().lock().read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// One trailing line break (`\n` or `\r\n`) is not part of a single statement.
fn strip_final_newline(text: &str) -> &str {
    text.strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(text)
}

/// Reads all of stdin, applies `redact` to the whole text or to each line, writes stdout.
fn filter<F>(lines: bool, redact: F) -> io::Result<()>
where
    F: for<'a> Fn(&'a str) -> Cow<'a, str>,
{
    let text = read_stdin()?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    if lines {
        for line in text.lines() {
            let redacted = redact(line);
            // One output line per input line, whatever the engine returns.
            if redacted.contains('\n') {
                writeln!(out, "{}", redacted.replace('\n', " "))?;
            } else {
                writeln!(out, "{redacted}")?;
            }
        }
    } else {
        writeln!(out, "{}", redact(strip_final_newline(&text)))?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn agent_tls_flags_become_config_keys() {
        let cli = Cli::try_parse_from([
            "scrim",
            "agent",
            "--tls-cert-file",
            "cert.pem",
            "--tls-key-file",
            "key.pem",
            "--tls-self-signed",
            "--allow-plaintext",
        ])
        .unwrap();
        let Command::Agent(args) = cli.command else {
            panic!("not the agent command");
        };
        let flags = args.overrides();
        for (key, value) in [
            ("tls_cert_file", "cert.pem"),
            ("tls_key_file", "key.pem"),
            ("tls_self_signed", "true"),
            ("allow_plaintext", "true"),
        ] {
            assert_eq!(flags.get(key).map(String::as_str), Some(value), "{key}");
        }
        let cli = Cli::try_parse_from(["scrim", "agent"]).unwrap();
        let Command::Agent(args) = cli.command else {
            panic!("not the agent command");
        };
        assert!(args.overrides().is_empty());
    }
}
