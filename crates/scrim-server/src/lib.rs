//! The platform role of Scrim (`scrim serve`): authenticated OTLP ingest, the capture policy
//! per tenant, encrypted storage and the query API, wired from the library crates.
//!
//! - [`Platform`]: what every platform command opens first: the data directory, the master
//!   key and the metadata database.
//! - [`admin`]: tenants and API keys (`scrim tenant create`, `scrim apikey create`).
//! - [`Server`]: `scrim serve`: OTLP receivers whose sink authenticates the key, applies
//!   the capture policy and writes the tenant's WAL; a flusher that turns buffered rows
//!   into encrypted segments and catalogs them, and merges small segments ([`compact`]);
//!   the REST API (`/api/v1`).
//! - [`export`]: telemetry export, shared by `GET /api/v1/export` and `scrim export`.
//! - [`backup`]: encrypted, incremental backups (`scrim backup`).
//! - [`regions`]: data residency: each region's segment store and WAL directory.

mod access;
pub mod accounts;
pub mod admin;
pub mod ai;
pub mod alerts;
mod api;
pub mod audit;
pub mod backup;
pub mod compact;
pub mod containment;
pub mod deletion;
mod error;
pub mod export;
mod identity_api;
mod ingest;
mod insights;
pub mod keys;
mod openapi;
mod platform;
mod rate;
pub mod regions;
pub mod retention;
pub mod review;
mod serve;
pub mod sso;
pub mod tenant_keys;
mod tenants;
mod ui;

pub use compact::Compaction;
pub use error::ServerError;
pub use platform::{Platform, PlatformConfig};
pub use scrim_tls::TlsMode;
pub use serve::{Server, ServerConfig};
