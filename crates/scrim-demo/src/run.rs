//! Sending the generator's traffic to an OTLP endpoint, continuously.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use scrim_otlp::{
    Batch, Credential, ExportOutcome, Exporter, ExporterConfig, ExporterError, Protocol,
    RetryPolicy, Signal,
};
use tokio::time::{Instant, MissedTickBehavior};

use crate::Generator;

/// What [`run`] does.
#[derive(Clone, Debug)]
pub struct DemoTrafficConfig {
    /// Where and how to send (endpoint, protocol, `authorization` header, TLS, retries).
    pub exporter: ExporterConfig,
    /// Traces per second (each trace is 5 to 12 spans across the shop's services).
    pub traces_per_second: f64,
    /// How often a trace batch and its logs are sent. Default 1 s.
    pub tick: Duration,
    /// How often cumulative metrics are sent (on the first tick, then at this period).
    /// Default 10 s.
    pub metrics_every: Duration,
    /// The generator's seed.
    pub seed: u64,
    /// Counters the caller can read while `run` works (clone it before passing the config).
    pub stats: DemoStats,
}

impl DemoTrafficConfig {
    /// OTLP/HTTP protobuf to `endpoint` (a base URL such as `http://127.0.0.1:4318`) with
    /// `Authorization: Bearer <api_key>`, 5 traces per second. A plain `http://` endpoint is
    /// allowed only on a loopback host, as Scrim's rules require; anything else must be
    /// `https://` (or set `exporter.allow_http` yourself).
    pub fn new(endpoint: impl Into<String>, api_key: &str) -> DemoTrafficConfig {
        let endpoint = endpoint.into();
        let mut exporter = ExporterConfig::new(endpoint.clone(), Protocol::HttpProtobuf);
        exporter.allow_http = is_loopback_http(&endpoint);
        exporter.headers.push((
            "authorization".into(),
            Credential::new(format!("Bearer {api_key}")),
        ));
        // A demo prefers fresh data to old retries: give up on a batch after a few seconds.
        exporter.retry = RetryPolicy {
            max_elapsed: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        DemoTrafficConfig {
            exporter,
            traces_per_second: 5.0,
            tick: Duration::from_secs(1),
            metrics_every: Duration::from_secs(10),
            seed: 0x5c41_de30,
            stats: DemoStats::default(),
        }
    }
}

fn is_loopback_http(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Live counters of [`run`]; cheap to clone (all clones share the counters).
#[derive(Clone, Debug, Default)]
pub struct DemoStats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    traces: AtomicU64,
    spans: AtomicU64,
    log_records: AtomicU64,
    data_points: AtomicU64,
    batches_sent: AtomicU64,
    batches_failed: AtomicU64,
    items_rejected: AtomicU64,
}

/// A reading of [`DemoStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DemoStatsSnapshot {
    /// Traces in delivered batches.
    pub traces: u64,
    /// Spans delivered (accepted by the endpoint).
    pub spans: u64,
    /// Log records delivered.
    pub log_records: u64,
    /// Metric data points delivered.
    pub data_points: u64,
    /// Batches the endpoint accepted, fully or partly.
    pub batches_sent: u64,
    /// Batches refused or given up on.
    pub batches_failed: u64,
    /// Items the endpoint rejected in partly accepted batches.
    pub items_rejected: u64,
}

impl DemoStats {
    /// The counters now.
    pub fn snapshot(&self) -> DemoStatsSnapshot {
        let c = &self.0;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DemoStatsSnapshot {
            traces: get(&c.traces),
            spans: get(&c.spans),
            log_records: get(&c.log_records),
            data_points: get(&c.data_points),
            batches_sent: get(&c.batches_sent),
            batches_failed: get(&c.batches_failed),
            items_rejected: get(&c.items_rejected),
        }
    }

    fn delivered(&self, signal: Signal, items: u64, rejected: u64, traces: u64) {
        let c = &self.0;
        let counter = match signal {
            Signal::Traces => &c.spans,
            Signal::Logs => &c.log_records,
            Signal::Metrics => &c.data_points,
        };
        counter.fetch_add(items.saturating_sub(rejected), Ordering::Relaxed);
        c.items_rejected.fetch_add(rejected, Ordering::Relaxed);
        c.batches_sent.fetch_add(1, Ordering::Relaxed);
        if signal == Signal::Traces {
            c.traces.fetch_add(traces, Ordering::Relaxed);
        }
    }

    fn failed(&self) {
        self.0.batches_failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sends the shop's traffic to `config.exporter`'s endpoint until `shutdown` completes,
/// then returns the final counts. Each tick sends a trace batch, the logs of those traces
/// and, every `metrics_every`, the cumulative metrics. A failed batch is counted and
/// dropped (the next tick brings fresh data). Fails only if the exporter cannot be built.
pub async fn run(
    config: DemoTrafficConfig,
    shutdown: impl Future,
) -> Result<DemoStatsSnapshot, ExporterError> {
    let exporter = Exporter::new(config.exporter)?;
    let stats = config.stats;
    let mut generator = Generator::new(config.seed);
    let tick = config.tick.max(Duration::from_millis(10));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let per_tick = config.traces_per_second.max(0.0) * tick.as_secs_f64();
    // Start with one whole trace owed, so the first tick (immediate) already shows data.
    let mut owed = 1.0_f64.max(per_tick);
    let mut next_metrics = Instant::now();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = interval.tick() => {}
        }
        let n = owed.floor();
        owed = owed - n + per_tick;
        let with_metrics = Instant::now() >= next_metrics;
        if with_metrics {
            next_metrics = Instant::now() + config.metrics_every;
        }
        let batches = generator.tick(n as usize, SystemTime::now(), with_metrics);
        let send = async {
            for batch in &batches {
                send(&exporter, batch, n as u64, &stats).await;
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = send => {}
        }
    }
    Ok(stats.snapshot())
}

async fn send(exporter: &Exporter, batch: &Batch, traces: u64, stats: &DemoStats) {
    let items = batch.item_count();
    match exporter.export(batch).await {
        ExportOutcome::Delivered { .. } => stats.delivered(batch.signal(), items, 0, traces),
        ExportOutcome::PartialSuccess { rejected, .. } => {
            stats.delivered(batch.signal(), items, rejected, traces)
        }
        ExportOutcome::Rejected { reason, .. } => {
            stats.failed();
            tracing::warn!(signal = %batch.signal(), %reason, "demo traffic: batch refused");
        }
        ExportOutcome::GaveUp { last_error, .. } => {
            stats.failed();
            tracing::warn!(signal = %batch.signal(), %last_error, "demo traffic: batch not delivered");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:4318",
            "http://localhost:4318/",
            "http://[::1]:4318",
            "http://127.0.0.1",
        ] {
            assert!(DemoTrafficConfig::new(ok, "k").exporter.allow_http, "{ok}");
        }
        for no in [
            "http://10.0.0.1:4318",
            "http://example.com:4318",
            "https://127.0.0.1:4318",
            "http://localhost.example.com",
        ] {
            assert!(!DemoTrafficConfig::new(no, "k").exporter.allow_http, "{no}");
        }
    }

    #[test]
    fn the_api_key_is_a_bearer_header() {
        let config = DemoTrafficConfig::new("http://127.0.0.1:4318", "scrim_k_1");
        let (name, value) = &config.exporter.headers[0];
        assert_eq!(name, "authorization");
        assert_eq!(value.expose(), "Bearer scrim_k_1");
    }
}
