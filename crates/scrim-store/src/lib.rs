//! Scrim's storage: Parquet segments encrypted per tenant in an object store, and a
//! DataFusion query layer bound to exactly one tenant.
//!
//! - [`schema`]: the `spans`, `logs` and `metrics` tables.
//! - [`convert`]: OTLP requests to Arrow batches, span rows back to OTLP/JSON.
//! - [`segment`]: encrypted Parquet segments, their catalog record, compaction.
//! - [`trace_filter`]: a sealed Bloom filter of each span segment's trace ids, for the catalog.
//! - [`query`]: [`query::TenantQuery`], every read of telemetry.
//! - [`export`]: a tenant's rows in OTLP/JSON, JSON lines, CSV or (encrypted) Parquet,
//!   encoded batch by batch.
//! - [`erase`]: the rows a deletion request covers, one predicate for queries, flushes,
//!   rewrites and the check that nothing is left.
//! - [`ingest`]: [`ingest::TenantLog`], a tenant's encrypted WAL and the buffer of rows not
//!   yet in segments.

pub mod convert;
pub mod erase;
pub mod error;
pub mod export;
pub mod generate;
pub mod ingest;
pub mod query;
pub mod schema;
pub mod segment;
mod tenant_store;
pub mod trace_filter;

pub use error::{Result, StoreError};
pub use query::TenantQuery;
pub use schema::Signal;
pub use segment::{DataKey, Keyring, Rewritten, SegmentMeta, SegmentStore, object_store_from_url};
