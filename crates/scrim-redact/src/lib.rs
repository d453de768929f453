//! Scrim's sensitive-data engine.
//!
//! Every function here is pure: no I/O, no async, no global state. Functions that may
//! leave their input unchanged return [`std::borrow::Cow`] so that the common case (an
//! already parameterised statement) costs no allocation.
//!
//! Modules:
//! - [`sql`]: SQL statement obfuscation per dialect, plus grouping metadata
//!   (operation, tables, an OpenTelemetry-style `db.query.summary`).
//! - [`redis`]: Redis / Valkey command scrubbing.
//! - [`memcached`]: Memcached command scrubbing.
//! - [`json_query`]: MongoDB / Elasticsearch JSON query scrubbing.

mod cow;
pub mod json_query;
pub mod memcached;
pub mod redis;
pub mod sql;

/// The text every removed value is replaced with. Part of the output contract.
pub const PLACEHOLDER: &str = "?";
