//! Scrim's edge forwarder (`scrim agent`): it runs beside applications, receives OTLP,
//! applies the capture policy, keeps what it accepted in a disk queue, and forwards it
//! upstream over HTTPS.
//!
//! ```text
//! app ──OTLP──▶ receivers ▸ capture policy ▸ disk queue (fsync, then ack) ──▶ forwarder ──HTTPS──▶ upstream
//! ```
//!
//! - [`config`]: settings from a TOML file, `SCRIM_*` variables and flags.
//! - [`agent`]: the running agent ([`Agent::start`]).
//! - [`queue`]: the persistent, bounded, crash-safe disk queue between receiving and
//!   exporting.
//! - [`metrics`]: counters, `/healthz` and Prometheus `/metrics`.

pub mod agent;
pub mod config;
pub mod metrics;
/// The disk queue, which is the `scrim-wal` crate (the server uses it as its write-ahead log).
pub use scrim_wal as queue;

pub use agent::{Agent, StartError};
pub use config::AgentConfig;
