//! The built-in traffic generator behind `scrim demo`.
//!
//! A small shop — services `frontend`, `checkout`, `payments` and `users`, a PostgreSQL
//! database, a Redis cache, an external payment provider — sends realistic OpenTelemetry
//! traces, logs and metrics **full of sensitive data**: SQL with card numbers and emails,
//! Redis commands with session tokens, URLs with tokens in the query, `Authorization`
//! headers, login bodies with passwords, exceptions quoting connection strings, AWS keys and
//! JWTs, logs with emails, cards and client IPs. Running it through Scrim shows at once what
//! the capture policy removes.
//!
//! - [`Generator`]: deterministic for a seed (and the `now`s it is given), so tests can
//!   assert exact contents. Trace ids and span ids are W3C-valid random ids; children lie
//!   inside their parents; a few requests fail (status `ERROR`, 5xx, `exception` events)
//!   and a few are slow outliers, so p95/p99 differ from p50.
//! - [`planted_secrets`] / [`PLANTED_SECRETS`]: every sensitive literal the generator ever
//!   plants, for tests that grep stored data and API answers for leaks.
//! - [`run`]: sends the traffic to an OTLP endpoint through [`scrim_otlp::Exporter`] at a
//!   configurable rate, counting what was delivered in [`DemoStats`].
//!
//! ```
//! use std::time::SystemTime;
//!
//! let mut shop = scrim_demo::Generator::new(42);
//! // Ten traces, the logs written during them, and the cumulative metrics.
//! let batches = shop.tick(10, SystemTime::now(), true);
//! assert_eq!(batches.len(), 3);
//! ```

mod generator;
mod run;
pub mod secrets;

pub use generator::{DURATION_BUCKETS, Generator, Service};
pub use run::{DemoStats, DemoStatsSnapshot, DemoTrafficConfig, run};
pub use secrets::{PLANTED_SECRETS, planted_secrets};
