//! The platform role of Scrim (`scrim serve`): authenticated OTLP ingest, the capture policy
//! per tenant, encrypted storage and the query API, wired from the library crates.
//!
//! - [`Platform`]: what every platform command opens first: the data directory, the master
//!   key and the metadata database.
//! - [`admin`]: tenants and API keys (`scrim tenant create`, `scrim apikey create`).

pub mod admin;
mod error;
mod platform;

pub use error::ServerError;
pub use platform::{Platform, PlatformConfig};
