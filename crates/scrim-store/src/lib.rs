//! Scrim's storage: Parquet segments encrypted per tenant in an object store, and a
//! DataFusion query layer bound to exactly one tenant.
//!
//! - [`schema`]: the `spans`, `logs` and `metrics` tables.
//! - [`convert`]: OTLP requests to Arrow batches, span rows back to OTLP/JSON.

pub mod convert;
pub mod error;
pub mod generate;
pub mod schema;

pub use error::{Result, StoreError};
pub use schema::Signal;
