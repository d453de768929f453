//! The agent's own counters, served as Prometheus text at `/metrics`, with `/healthz`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use scrim_otlp::Signal;
use scrim_redact::{Counts, Kind};

use crate::queue::DiskQueue;

/// Counters by signal (traces, logs, metrics).
#[derive(Debug, Default)]
pub struct PerSignal([AtomicU64; 3]);

impl PerSignal {
    fn slot(signal: Signal) -> usize {
        match signal {
            Signal::Traces => 0,
            Signal::Logs => 1,
            Signal::Metrics => 2,
        }
    }

    /// Adds `n` for `signal`.
    pub fn add(&self, signal: Signal, n: u64) {
        self.0[Self::slot(signal)].fetch_add(n, Relaxed);
    }

    /// The count for `signal`.
    pub fn get(&self, signal: Signal) -> u64 {
        self.0[Self::slot(signal)].load(Relaxed)
    }
}

/// Everything the agent counts. Shared by the sink, the forwarder and the endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Items (spans, log records, data points) accepted from applications.
    pub received: PerSignal,
    /// Items refused (bad request, queue full under drop-newest).
    pub refused: PerSignal,
    /// Items delivered upstream.
    pub exported: PerSignal,
    /// Items the upstream rejected for good (dropped after delivery was attempted).
    pub rejected_upstream: PerSignal,
    /// Export attempts beyond the first.
    pub retries: AtomicU64,
    /// Queue records that could not be read back and were skipped.
    pub corrupt_records: AtomicU64,
    redacted: [AtomicU64; Kind::COUNT],
}

impl Metrics {
    /// Adds one request's redaction counts.
    pub fn add_redacted(&self, counts: &Counts) {
        for (kind, n) in counts.iter() {
            self.redacted[kind as usize].fetch_add(n, Relaxed);
        }
    }

    /// Values redacted of `kind` so far.
    pub fn redacted(&self, kind: Kind) -> u64 {
        self.redacted[kind as usize].load(Relaxed)
    }

    /// The Prometheus text exposition of every counter, plus the queue's gauges.
    pub fn render(&self, queue: &DiskQueue) -> String {
        let mut out = String::new();
        let mut per_signal = |name: &str, help: &str, c: &PerSignal| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for s in Signal::ALL {
                let _ = writeln!(out, "{name}{{signal=\"{}\"}} {}", s.as_str(), c.get(s));
            }
        };
        per_signal(
            "scrim_agent_received_items_total",
            "Spans, log records and data points accepted from applications.",
            &self.received,
        );
        per_signal(
            "scrim_agent_refused_items_total",
            "Items refused before queueing (queue full under drop-newest).",
            &self.refused,
        );
        per_signal(
            "scrim_agent_exported_items_total",
            "Items delivered upstream.",
            &self.exported,
        );
        per_signal(
            "scrim_agent_rejected_upstream_items_total",
            "Items the upstream rejected permanently.",
            &self.rejected_upstream,
        );
        let _ = writeln!(
            out,
            "# HELP scrim_agent_redacted_total Values removed by the capture policy.\n# TYPE scrim_agent_redacted_total counter"
        );
        for &kind in Kind::ALL {
            let _ = writeln!(
                out,
                "scrim_agent_redacted_total{{kind=\"{kind}\"}} {}",
                self.redacted(kind)
            );
        }
        let q = queue.stats();
        let gauges = [
            (
                "scrim_agent_queue_bytes",
                "Bytes waiting in the disk queue.",
                q.bytes,
            ),
            (
                "scrim_agent_queue_records",
                "Requests waiting in the disk queue.",
                q.records,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let counters = [
            (
                "scrim_agent_queue_dropped_oldest_total",
                "Queued requests dropped to make room (drop-oldest).",
                q.dropped_oldest,
            ),
            (
                "scrim_agent_queue_dropped_newest_total",
                "Requests refused because the queue was full (drop-newest).",
                q.dropped_newest,
            ),
            (
                "scrim_agent_queue_discarded_corrupt_total",
                "Torn or corrupt queue records cut off at start-up.",
                q.discarded_corrupt + self.corrupt_records.load(Relaxed),
            ),
            (
                "scrim_agent_export_retries_total",
                "Export attempts beyond the first.",
                self.retries.load(Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        out
    }
}

/// `/healthz` (200 "ok") and `/metrics`.
pub fn router(metrics: Arc<Metrics>, queue: Arc<DiskQueue>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(serve_metrics))
        .with_state((metrics, queue))
}

async fn serve_metrics(State((m, q)): State<(Arc<Metrics>, Arc<DiskQueue>)>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        m.render(&q),
    )
}
