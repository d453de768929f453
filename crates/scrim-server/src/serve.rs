//! `scrim serve`: receivers, the flusher and the HTTP API, started together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use scrim_meta::{NewSegment, WalMark};
use scrim_otlp::{Limits, Receivers, ReceiversConfig};
use scrim_redact::Policy;
use scrim_store::ingest::LogConfig;
use scrim_tls::TlsMode;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::access::{Gate, KeyGuard};
use crate::accounts::{Accounts, LoginLimits};
use crate::api::{self, ApiState};
use crate::audit::checkpoints::CheckpointSigner;
use crate::audit::retention::AuditRetention;
use crate::audit::{AuditLog, IngestCounts};
use crate::compact::{Compaction, Retired, compact_tenant};
use crate::ingest::IngestSink;
use crate::regions::RegionConfig;
use crate::tenants::{TenantRuntime, Tenants};
use crate::{Platform, PlatformConfig, ServerError};

/// Everything `scrim serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub platform: PlatformConfig,
    /// UI and REST API; default 127.0.0.1:8080.
    pub http: SocketAddr,
    /// OTLP receivers; `None` turns one off.
    pub otlp_grpc: Option<SocketAddr>,
    pub otlp_http: Option<SocketAddr>,
    /// The capture policy applied to every tenant's data before it is written.
    pub policy: Policy,
    /// How often buffered rows are written to segments.
    pub flush_interval: Duration,
    /// A tenant's buffer is flushed early once it holds this many rows.
    pub flush_rows: usize,
    /// Merging small segments.
    pub compaction: Compaction,
    /// Telemetry items (spans, log records, data points) per second each tenant may send
    /// to this node, bursts up to twice that; over it, 429 with `Retry-After`. `None`: no
    /// limit.
    pub ingest_items_per_second: Option<u64>,
    pub limits: Limits,
    /// TLS on every listener (the API and both OTLP receivers).
    pub tls: TlsMode,
    /// Serve plain HTTP on a non-loopback address when `tls` is off. Off by default: plain
    /// HTTP is for loopback.
    pub allow_plaintext: bool,
    /// Sign-in lockout limits.
    pub login_limits: LoginLimits,
    /// Session lifetimes for tenants that do not set their own.
    pub session_timeouts: scrim_auth::SessionTimeouts,
    /// How long audit records are kept (at least a year).
    pub audit_retention: AuditRetention,
    /// How often every audit chain that grew gets a signed checkpoint, ingest counts of
    /// finished hours are written, audit records past their retention are removed, and so
    /// is telemetry past each tenant's retention.
    pub audit_checkpoint_interval: Duration,
    /// Alert rules, detections and notifications: how often, with which thresholds.
    pub alerts: crate::alerts::AlertConfig,
}

impl ServerConfig {
    /// Defaults for a data directory: listeners on 127.0.0.1:8080, :4317 and :4318.
    pub fn new(platform: PlatformConfig) -> ServerConfig {
        ServerConfig {
            platform,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            otlp_grpc: Some(scrim_otlp::DEFAULT_GRPC_ADDR),
            otlp_http: Some(scrim_otlp::DEFAULT_HTTP_ADDR),
            policy: Policy::default(),
            flush_interval: Duration::from_secs(10),
            flush_rows: 50_000,
            compaction: Compaction::default(),
            ingest_items_per_second: None,
            limits: Limits::default(),
            tls: TlsMode::Off,
            allow_plaintext: false,
            login_limits: LoginLimits::default(),
            session_timeouts: scrim_auth::SessionTimeouts::default(),
            audit_retention: AuditRetention::default(),
            audit_checkpoint_interval: Duration::from_secs(3600),
            alerts: crate::alerts::AlertConfig::default(),
        }
    }

    /// Every listener on a loopback port the OS picks (tests, `scrim demo`).
    pub fn loopback_ephemeral(platform: PlatformConfig) -> ServerConfig {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        ServerConfig {
            http: any,
            otlp_grpc: Some(any),
            otlp_http: Some(any),
            ..ServerConfig::new(platform)
        }
    }
}

/// `scrim serve --config FILE`: every key is optional; flags given on the command line win.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<std::path::PathBuf>,
    database_url: Option<String>,
    http: Option<SocketAddr>,
    otlp_grpc: Option<SocketAddr>,
    otlp_http: Option<SocketAddr>,
    /// One region's segment store (no `[[regions]]`): `file:///…`, `s3://…`.
    object_store: Option<String>,
    /// The name of that one region.
    region: Option<String>,
    /// Several regions, each with its own segment store and WAL directory.
    regions: Option<Vec<RegionConfig>>,
    flush_interval_seconds: Option<u64>,
    flush_rows: Option<usize>,
    compact_interval_seconds: Option<u64>,
    compact_rows: Option<u64>,
    ingest_items_per_second: Option<u64>,
    /// A capture policy file (docs/capture-policy.md), relative to the config file.
    policy: Option<std::path::PathBuf>,
    /// PEM certificate chain and private key for TLS on every listener.
    tls_cert_file: Option<std::path::PathBuf>,
    tls_key_file: Option<std::path::PathBuf>,
    /// Generate (once, in `<data_dir>/tls`) and use a self-signed certificate.
    tls_self_signed: Option<bool>,
    /// Serve plain HTTP on non-loopback addresses (not recommended).
    allow_plaintext: Option<bool>,
    /// The audit checkpoint key (default `<data_dir>/audit-checkpoint.key`).
    audit_key_file: Option<std::path::PathBuf>,
    /// How long audit records are kept: at least 365.
    audit_retention_days: Option<u32>,
    /// How often the audit chains get a signed checkpoint.
    audit_checkpoint_interval_seconds: Option<u64>,
    /// How often alert rules are evaluated, detections read and notifications sent.
    alert_interval_seconds: Option<u64>,
    /// The web UI's address as people reach it, for links in notifications.
    public_url: Option<String>,
    /// Thresholds of the security detections (docs/alerts.md).
    detections: Option<scrim_alerts::DetectionSettings>,
}

impl ServerConfig {
    /// A self-signed certificate kept in `<data_dir>/tls`.
    pub fn self_signed(&self) -> TlsMode {
        TlsMode::SelfSigned {
            dir: self.platform.data_dir.join("tls"),
            names: Vec::new(),
        }
    }

    /// The defaults, then `toml` (the text of the file at `path`, if any), then
    /// `platform`'s values where they differ from the defaults (they came from flags).
    pub fn from_toml(
        platform: PlatformConfig,
        toml_text: &str,
        path: Option<&std::path::Path>,
    ) -> Result<ServerConfig, ServerError> {
        let file: ConfigFile = toml::from_str(toml_text).map_err(|e| {
            ServerError::Usage(format!(
                "{}: {}",
                path.map(|p| p.display().to_string())
                    .unwrap_or_else(|| "config".into()),
                e.message()
            ))
        })?;
        let default_dir = PlatformConfig::in_dir("scrim-data").data_dir;
        let platform = PlatformConfig {
            data_dir: match file.data_dir {
                Some(d) if platform.data_dir == default_dir => d,
                _ => platform.data_dir,
            },
            database_url: platform.database_url.or(file.database_url),
            audit_key_file: platform
                .audit_key_file
                .or(file.audit_key_file.map(|f| relative_to(path, f))),
            regions: match platform.regions {
                // From flags.
                r if !r.is_empty() => r,
                _ => file_regions(file.regions, file.object_store, file.region, path)?,
            },
        };
        let mut config = ServerConfig::new(platform);
        if let Some(a) = file.http {
            config.http = a;
        }
        if let Some(a) = file.otlp_grpc {
            config.otlp_grpc = Some(a);
        }
        if let Some(a) = file.otlp_http {
            config.otlp_http = Some(a);
        }
        if let Some(s) = file.flush_interval_seconds {
            config.flush_interval = Duration::from_secs(s.max(1));
        }
        if let Some(n) = file.flush_rows {
            config.flush_rows = n.max(1);
        }
        if let Some(s) = file.compact_interval_seconds {
            config.compaction.interval = Duration::from_secs(s.max(1));
        }
        if let Some(n) = file.compact_rows {
            config.compaction.target_rows = n.max(2);
        }
        if let Some(n) = file.ingest_items_per_second {
            config.ingest_items_per_second = Some(n.max(1));
        }
        if let Some(days) = file.audit_retention_days {
            config.audit_retention = AuditRetention::days(days)?;
        }
        if let Some(s) = file.audit_checkpoint_interval_seconds {
            config.audit_checkpoint_interval = Duration::from_secs(s.max(1));
        }
        if let Some(s) = file.alert_interval_seconds {
            config.alerts.interval = Duration::from_secs(s.max(1));
        }
        if let Some(url) = file.public_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ServerError::Usage(
                    "public_url must start with https:// (or http://)".into(),
                ));
            }
            config.alerts.public_url = Some(url);
        }
        if let Some(d) = file.detections {
            config.alerts.detections = d;
        }
        let relative = |f: std::path::PathBuf| relative_to(path, f);
        match (file.tls_cert_file, file.tls_key_file, file.tls_self_signed) {
            (Some(cert), Some(key), None | Some(false)) => {
                config.tls = TlsMode::Files {
                    cert: relative(cert),
                    key: relative(key),
                }
            }
            (None, None, Some(true)) => config.tls = config.self_signed(),
            (None, None, _) => {}
            _ => {
                return Err(ServerError::Usage(
                    "TLS: set tls_cert_file and tls_key_file together, or tls_self_signed = true"
                        .into(),
                ));
            }
        }
        config.allow_plaintext = file.allow_plaintext.unwrap_or(false);
        if let Some(policy) = file.policy {
            let policy = match path.and_then(|p| p.parent()) {
                Some(dir) if policy.is_relative() => dir.join(policy),
                _ => policy,
            };
            let text = std::fs::read_to_string(&policy).map_err(|e| {
                ServerError::Usage(format!("cannot read policy {}: {e}", policy.display()))
            })?;
            config.policy = Policy::from_toml(&text)
                .map_err(|e| ServerError::Usage(format!("{}: {e}", policy.display())))?;
        }
        Ok(config)
    }
}

/// The regions of a config file: `[[regions]]`, each with its own `object_store` and
/// `wal_dir` (relative paths are relative to the file); or the one region `region` with
/// `object_store`; or none (the default region in the data directory).
fn file_regions(
    table: Option<Vec<RegionConfig>>,
    object_store: Option<String>,
    region: Option<String>,
    path: Option<&std::path::Path>,
) -> Result<Vec<RegionConfig>, ServerError> {
    let location = |s: String| {
        if s.contains("://") {
            s
        } else {
            relative_to(path, s.into()).display().to_string()
        }
    };
    let Some(table) = table else {
        return Ok(match (object_store, region) {
            (None, None) => Vec::new(),
            (store, name) => vec![RegionConfig::single(
                name.as_deref().unwrap_or(crate::regions::DEFAULT_REGION),
                store.map(location),
            )],
        });
    };
    if object_store.is_some() || region.is_some() {
        return Err(ServerError::Usage(
            "config: with [[regions]], set object_store in each region, not at the top level"
                .into(),
        ));
    }
    if table.is_empty() {
        return Err(ServerError::Usage(
            "config: [[regions]] is empty: give at least one region".into(),
        ));
    }
    table
        .into_iter()
        .map(|mut r| {
            if r.object_store.is_none() || r.wal_dir.is_none() {
                return Err(ServerError::Usage(format!(
                    "config: region {:?} needs object_store and wal_dir: a region's data \
                     stays in the locations it names",
                    r.name
                )));
            }
            r.wal_dir = r.wal_dir.map(|d| relative_to(path, d));
            r.object_store = r.object_store.map(location);
            r.backup_to = r.backup_to.map(location);
            Ok(r)
        })
        .collect()
}

/// `f` as written in the config file at `path`: relative to the file's directory.
fn relative_to(path: Option<&std::path::Path>, f: std::path::PathBuf) -> std::path::PathBuf {
    match path.and_then(|p| p.parent()) {
        Some(dir) if f.is_relative() => dir.join(f),
        _ => f,
    }
}

/// A running server.
pub struct Server {
    http_addr: SocketAddr,
    tls_fingerprint: Option<String>,
    receivers: Receivers,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// What the flusher and the API share.
pub(crate) struct Shared {
    pub platform: Platform,
    pub tenants: Arc<Tenants>,
    pub compaction: Compaction,
    pub retired: Retired,
    pub accounts: Arc<Accounts>,
    pub gate: Arc<Gate>,
    pub sso: crate::sso::SsoClients,
    /// Cookies carry `Secure`: the API listener speaks TLS.
    pub secure_cookies: bool,
    pub audit: AuditLog,
    /// Ingest per key and hour, written to the audit log when the hour is over.
    pub ingest_counts: Arc<IngestCounts>,
    pub signer: Arc<CheckpointSigner>,
    pub audit_retention: AuditRetention,
    /// Woken when a deletion request is recorded, so its job starts at once.
    pub deletions_due: Notify,
    /// The default capture policy's text detectors, for query texts and messages that go
    /// into audit records.
    pub scrubber: scrim_redact::Redactor,
    /// Each tenant's last audit chain verdict for the security posture, and when it was
    /// reached (walking a long chain on every page view would cost too much).
    /// Alert rules, insights, detections and notifications (the job and its counts).
    pub alerting: Arc<crate::alerts::Alerting>,
    pub chain_checks: std::sync::Mutex<
        std::collections::HashMap<String, (std::time::Instant, serde_json::Value)>,
    >,
}

impl Shared {
    /// `text` with what the detectors find masked (an e-mail typed into a query, say).
    pub fn scrub(&self, text: &str) -> String {
        let mut counts = scrim_redact::Counts::default();
        self.scrubber.text(text, &mut counts).into_owned()
    }

    /// Request parameters as audit details, values scrubbed.
    pub fn parameters<K: AsRef<str>, V: AsRef<str>>(
        &self,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for (k, v) in params {
            out.insert(self.scrub(k.as_ref()), self.scrub(v.as_ref()).into());
        }
        out
    }
}

impl Server {
    /// Opens the platform state, replays every WAL on this node, and starts listening.
    pub async fn start(config: ServerConfig) -> Result<Server, ServerError> {
        let platform = Platform::open(&config.platform).await?;
        let identity = config
            .tls
            .load()
            .map_err(|e| ServerError::Usage(format!("TLS: {e}")))?;
        if let Some(id) = &identity {
            tracing::info!(
                fingerprint = id.fingerprint(),
                generated = id.was_generated(),
                "TLS on every listener; certificate SHA-256 fingerprint {}",
                id.fingerprint()
            );
        }
        let tls_config = |alpn: &[&[u8]]| -> Result<_, ServerError> {
            identity
                .as_ref()
                .map(|id| id.server_config(alpn))
                .transpose()
                .map_err(|e| ServerError::Usage(format!("TLS: {e}")))
        };
        let mut accounts = Accounts::open(&platform, config.login_limits).await?;
        accounts.default_timeouts = config.session_timeouts;
        let accounts = Arc::new(accounts);
        let signer = Arc::new(platform.checkpoint_signer()?);
        tracing::info!(
            key_id = signer.key_id(),
            "audit checkpoints signed with the key in {}",
            platform.audit_key_file().display()
        );
        let gate = Arc::new(Gate::new(
            Arc::clone(&platform.meta),
            platform.audit.clone(),
            Arc::clone(&accounts),
            KeyGuard::new(accounts.address_throttle()),
        ));
        tracing::info!("serving region(s) {}", platform.regions.names().join(", "));
        let tenants = Arc::new(Tenants::new(
            platform.clone(),
            config.policy.clone(),
            LogConfig::default(),
        ));
        let replayed = tenants.open_existing().await?;
        if replayed > 0 {
            tracing::info!("replayed the WAL of {replayed} tenant(s)");
        }
        let shared = Arc::new(Shared {
            platform: platform.clone(),
            tenants: Arc::clone(&tenants),
            compaction: config.compaction.clone(),
            retired: Retired::default(),
            accounts,
            gate: Arc::clone(&gate),
            sso: Default::default(),
            secure_cookies: identity.is_some(),
            audit: platform.audit.clone(),
            ingest_counts: Arc::new(IngestCounts::default()),
            signer,
            audit_retention: config.audit_retention,
            scrubber: scrim_redact::Redactor::new(&Policy::default(), None),
            chain_checks: Default::default(),
            deletions_due: Notify::new(),
            alerting: Arc::new(crate::alerts::Alerting::new(config.alerts.clone())?),
        });
        let flush_now = Arc::new(Notify::new());
        let sink = Arc::new(IngestSink {
            gate,
            alerting: Arc::clone(&shared.alerting),
            counts: Arc::clone(&shared.ingest_counts),
            tenants: Arc::clone(&tenants),
            flush_now: Arc::clone(&flush_now),
            flush_rows: config.flush_rows,
            rate_limits: config
                .ingest_items_per_second
                .map(crate::rate::RateLimits::new),
        });
        let receivers = Receivers::start(
            ReceiversConfig {
                grpc: config.otlp_grpc,
                http: config.otlp_http,
                limits: config.limits,
                tls: tls_config(scrim_tls::ALPN_HTTP)?,
                allow_plaintext: config.allow_plaintext,
            },
            sink,
        )
        .await?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(flusher(
                Arc::clone(&shared),
                config.flush_interval,
                flush_now,
                stopped.clone(),
            )),
            tokio::spawn(deleter(
                Arc::clone(&shared),
                config.flush_interval,
                stopped.clone(),
            )),
            tokio::spawn(crate::alerts::alerter(Arc::clone(&shared), stopped.clone())),
            tokio::spawn(audit_keeper(
                Arc::clone(&shared),
                config.audit_checkpoint_interval,
                stopped.clone(),
            )),
        ];
        let listener = scrim_tls::Listener::bind(
            config.http,
            tls_config(scrim_tls::ALPN_HTTP)?,
            config.allow_plaintext,
        )
        .await
        .map_err(|e| ServerError::Usage(e.to_string()))?;
        let http_addr = listener.local_addr();
        let listener = listener.with_connect_info();
        let app = api::router(ApiState {
            shared: Arc::clone(&shared),
        });
        let mut api_stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = api_stopped.wait_for(|s| *s).await;
            })
            .await;
            if let Err(e) = served {
                tracing::error!("HTTP API stopped: {e}");
            }
        }));
        Ok(Server {
            http_addr,
            tls_fingerprint: identity.map(|id| id.fingerprint().to_owned()),
            receivers,
            shared,
            stop,
            tasks,
        })
    }

    /// The UI and REST API address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The SHA-256 fingerprint of the TLS certificate, when the listeners speak TLS.
    pub fn tls_fingerprint(&self) -> Option<&str> {
        self.tls_fingerprint.as_deref()
    }

    /// Account operations (sign-in, enrolment, members) of this server.
    pub fn accounts(&self) -> &Arc<Accounts> {
        &self.shared.accounts
    }

    /// The OTLP/gRPC address, if enabled.
    pub fn otlp_grpc_addr(&self) -> Option<SocketAddr> {
        self.receivers.grpc_addr()
    }

    /// The OTLP/HTTP address, if enabled.
    pub fn otlp_http_addr(&self) -> Option<SocketAddr> {
        self.receivers.http_addr()
    }

    /// The platform state (for `scrim demo`, which creates its tenant in it).
    pub fn platform(&self) -> &Platform {
        &self.shared.platform
    }

    /// Writes every buffered row of every tenant to segments now.
    pub async fn flush(&self) -> Result<(), ServerError> {
        for rt in self.shared.tenants.all() {
            flush_tenant(&self.shared, &rt).await?;
        }
        Ok(())
    }

    /// Applies changed tenant capture policies now, as the flusher does every flush
    /// interval; returns how many tenants changed.
    pub async fn refresh_policies(&self) -> Result<usize, ServerError> {
        self.shared.tenants.refresh_policies().await
    }

    /// Merges small segments of every open tenant now, as the flusher does every
    /// [`Compaction::interval`]; returns how many merged segments were written.
    pub async fn compact(&self) -> Result<usize, ServerError> {
        let mut merged = 0;
        let now = std::time::SystemTime::now();
        for rt in self.shared.tenants.all() {
            merged += compact_tenant(&self.shared, &rt, &self.shared.compaction, now).await?;
        }
        self.shared.retired.delete_due(false).await;
        Ok(merged)
    }

    /// One run of the alerting job now, at `now` (rules evaluated for the windows ending
    /// then), as it runs every [`crate::alerts::AlertConfig::interval`], as the leader
    /// whatever the `alerts` lease says.
    pub async fn evaluate_alerts(
        &self,
        now: std::time::SystemTime,
    ) -> Result<crate::alerts::AlertReport, ServerError> {
        let now_ms = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        crate::alerts::run_once(&self.shared, now_ms, true).await
    }

    /// The audit log's upkeep now, as it runs every checkpoint interval: ingest counts of
    /// finished hours written, a signed checkpoint for every chain that grew, records past
    /// the retention removed. Returns the checkpoints made.
    pub async fn audit_upkeep(&self) -> Result<usize, ServerError> {
        audit_upkeep(&self.shared, false).await
    }

    /// Removes every tenant's telemetry past its retention as of `now`, as the server does
    /// every [`ServerConfig::audit_checkpoint_interval`]; objects go after the compaction
    /// grace period. Returns what was removed per tenant.
    pub async fn enforce_retention(
        &self,
        now: std::time::SystemTime,
    ) -> Result<Vec<crate::retention::Removed>, ServerError> {
        let removed = crate::retention::enforce(&self.shared, now).await?;
        self.shared.retired.delete_due(false).await;
        Ok(removed)
    }

    /// Runs every deletion request that waits now, as the server does when one is
    /// recorded; returns those finished (done or failed).
    pub async fn run_deletions(&self) -> Result<Vec<scrim_meta::Deletion>, ServerError> {
        crate::deletion::run_pending(&crate::deletion::Deleter::of_server(&self.shared)).await
    }

    /// Stops accepting, flushes what is buffered and stops.
    pub async fn shutdown(self) {
        if let Err(e) = self.receivers.shutdown().await {
            tracing::warn!("stopping the receivers: {e}");
        }
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        for rt in self.shared.tenants.all() {
            if let Err(e) = flush_tenant(&self.shared, &rt).await {
                // The WAL still holds the rows: the next start replays them.
                tracing::warn!("final flush of tenant {}: {e}", rt.tenant.id);
            }
        }
        // This node's queries are over; what compaction retired can go now.
        self.shared.retired.delete_due(true).await;
        // The hour in progress is counted too, and the chains' ends are signed.
        if let Err(e) = audit_upkeep(&self.shared, true).await {
            tracing::warn!("audit upkeep at shutdown: {e}");
        }
    }
}

/// See [`Server::audit_upkeep`]; `stopping` writes the ingest counts of the hour in
/// progress too.
async fn audit_upkeep(shared: &Shared, stopping: bool) -> Result<usize, ServerError> {
    let now = crate::audit::now_ms();
    shared
        .ingest_counts
        .write(&shared.audit, now, stopping)
        .await;
    let meta = &shared.platform.meta;
    let made = crate::audit::checkpoints::checkpoint_all(meta, &shared.signer, now).await?;
    if !stopping {
        let pruned =
            crate::audit::retention::prune(meta, &shared.audit, shared.audit_retention, now)
                .await?;
        for (chain, removed) in pruned.chains {
            tracing::info!(chain, removed, "audit records past the retention removed");
        }
    }
    Ok(made)
}

/// Runs deletion requests: at once when one is recorded here, and every `every` for those
/// recorded on other nodes or waiting for a retry.
async fn deleter(shared: Arc<Shared>, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shared.deletions_due.notified() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let d = crate::deletion::Deleter::of_server(&shared);
        if let Err(e) = crate::deletion::run_pending(&d).await {
            // The request stays claimed and is taken up again after RETRY_AFTER.
            tracing::warn!("deletion requests: {e}");
        }
    }
}

async fn audit_keeper(shared: Arc<Shared>, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        if let Err(e) = audit_upkeep(&shared, false).await {
            // Nothing is lost: the next round signs and prunes what this one could not.
            tracing::warn!("audit upkeep: {e}");
        }
        if let Err(e) = crate::retention::enforce(&shared, std::time::SystemTime::now()).await {
            // What was due stays until the next round.
            tracing::warn!("telemetry retention: {e}");
        }
    }
}

async fn flusher(
    shared: Arc<Shared>,
    every: Duration,
    now: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_compaction = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = now.notified() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        for rt in shared.tenants.all() {
            if let Err(e) = flush_tenant(&shared, &rt).await {
                // Rows stay buffered and in the WAL; the next round tries again.
                tracing::warn!("flush of tenant {}: {e}", rt.tenant.id);
            }
        }
        if let Err(e) = shared.tenants.refresh_policies().await {
            // The policies in force stay until the next round.
            tracing::warn!("refreshing capture policies: {e}");
        }
        if last_compaction.elapsed() >= shared.compaction.interval {
            last_compaction = tokio::time::Instant::now();
            let now = std::time::SystemTime::now();
            for rt in shared.tenants.all() {
                if let Err(e) = compact_tenant(&shared, &rt, &shared.compaction, now).await {
                    // The small segments stay as they are; the next round tries again.
                    tracing::warn!("compaction of tenant {}: {e}", rt.tenant.id);
                }
            }
        }
        shared.retired.delete_due(false).await;
        // Hours that ended are written now rather than at the next audit upkeep.
        shared
            .ingest_counts
            .write(&shared.audit, crate::audit::now_ms(), false)
            .await;
    }
}

/// Buffer ▸ segments ▸ catalog ▸ WAL acknowledgement, for one tenant. Returns the rows
/// left out because a deletion request covers them.
pub(crate) async fn flush_tenant(shared: &Shared, rt: &TenantRuntime) -> Result<u64, ServerError> {
    let _one_flush_at_a_time = rt.flushing.lock().await;
    if rt.log.buffered_rows() == 0 {
        return Ok(0);
    }
    // Rows a deletion request covers never reach a segment.
    let erasures = crate::deletion::active_erasures(&shared.platform, &rt.tenant).await?;
    // Under the current data key (the WAL records may be under older ones).
    let key = rt.keys().current().clone();
    let store = &shared.platform.regions.of(&rt.tenant)?.store;
    let flushed = rt.log.flush_erasing(store, &key, &erasures).await?;
    let erased = flushed.erased;
    if flushed.is_empty() {
        return Ok(erased);
    }
    let segments = flushed
        .segments
        .iter()
        .map(|s| api::catalog_segment(&rt.tenant.id, s))
        .collect::<Result<Vec<NewSegment>, _>>()?;
    let mark = flushed.mark().map(|m| WalMark {
        wal_id: m.wal_id,
        segment: m.segment,
        offset: m.offset,
    });
    let _no_query_snapshot_now = rt.gate.write().await;
    // The segments and the WAL position they cover, in one transaction: after a crash
    // before `commit`, the reopened tenant drops what this mark covers (tenants.rs).
    let recorded = shared
        .platform
        .meta
        .record_flush(&rt.tenant.id, &segments, mark.as_ref())
        .await;
    if let Err(scrim_meta::MetaError::NotFound { .. }) = recorded {
        // The tenant was deleted (by another node): what this flush wrote goes, and so
        // does the tenant on this node.
        let paths: Vec<String> = flushed.segments.iter().map(|s| s.path.clone()).collect();
        drop(_no_query_snapshot_now);
        let _ = store.delete(rt.tenant.id.as_str(), &paths).await;
        shared.tenants.forget(&rt.tenant.id)?;
        return Ok(0);
    }
    recorded?;
    rt.log.commit(flushed)?;
    Ok(erased)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions_of(toml: &str) -> Result<Vec<RegionConfig>, ServerError> {
        let path = std::path::Path::new("/etc/scrim/serve.toml");
        ServerConfig::from_toml(PlatformConfig::in_dir("d"), toml, Some(path))
            .map(|c| c.platform.regions)
    }

    #[test]
    fn regions_come_from_the_table_or_the_one_region_keys() {
        assert!(regions_of("").unwrap().is_empty());
        let one = regions_of("region = \"eu\"\nobject_store = \"s3://b?endpoint=x\"").unwrap();
        assert_eq!(
            one,
            [RegionConfig::single("eu", Some("s3://b?endpoint=x".into()))]
        );
        let table = regions_of(
            "[[regions]]\nname = \"eu\"\nobject_store = \"eu/seg\"\nwal_dir = \"/wal/eu\"\n\
             backup_to = \"s3://bk?endpoint=x\"\n",
        )
        .unwrap();
        // Relative locations are relative to the file; URLs and absolute paths stay.
        assert_eq!(table[0].object_store.as_deref(), Some("/etc/scrim/eu/seg"));
        assert_eq!(
            table[0].wal_dir.as_deref(),
            Some(std::path::Path::new("/wal/eu"))
        );
        assert_eq!(table[0].backup_to.as_deref(), Some("s3://bk?endpoint=x"));
    }

    #[test]
    fn a_region_without_its_own_locations_is_refused() {
        for toml in [
            "[[regions]]\nname = \"eu\"\nobject_store = \"/s\"\n",
            "[[regions]]\nname = \"eu\"\nwal_dir = \"/w\"\n",
            "region = \"eu\"\n[[regions]]\nname = \"eu\"\nobject_store = \"/s\"\nwal_dir = \"/w\"\n",
            "regions = []\n",
        ] {
            let e = regions_of(toml).unwrap_err().to_string();
            assert!(e.starts_with("config:"), "{toml}: {e}");
        }
        // Flags win over the file.
        let mut flags = PlatformConfig::in_dir("d");
        flags.regions = vec![RegionConfig::single("x", Some("/flag".into()))];
        let c = ServerConfig::from_toml(flags, "region = \"eu\"", None).unwrap();
        assert_eq!(c.platform.regions[0].name, "x");
    }
}
