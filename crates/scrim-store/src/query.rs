//! The query layer: a DataFusion session bound to exactly one tenant.
//!
//! [`TenantQuery`] is built for one tenant from that tenant's id and data keys (its
//! [`Keyring`]: each segment is decrypted with the key its footer names, so segments from
//! before and after a key rotation are read together), the segment store, the tenant's
//! [`SegmentMeta`] list (from the catalog) and its not-yet-flushed batches. Every read of
//! telemetry goes through it. Isolation does not rest on SQL filtering; the session simply
//! has nothing else in it:
//!
//! - a segment of another tenant, or whose path leaves `{region}/{tenant}/`, is refused when
//!   the query object is built;
//! - the session's object store registry holds a single store, the segment store narrowed
//!   to the tenant's prefix and read-only (`TenantStore`), under one private URL; `file://` and every other
//!   URL are unknown to it, so no path can name another object;
//! - `spans`, `logs` and `metrics` are views over an explicit list of this tenant's files
//!   (pruned by time and service from the catalog data before DataFusion sees them) plus
//!   the in-memory buffer;
//! - user SQL ([`TenantQuery::sql`]) must parse as exactly one query (`SELECT`/`WITH`/
//!   `VALUES`); DDL (including `CREATE EXTERNAL TABLE`), DML, `COPY`, `SET`, `EXPLAIN`
//!   (plain or `ANALYZE`: refused, it is not needed and a plan shows file paths) and
//!   multiple statements are refused before planning, and DataFusion's own
//!   `SQLOptions` refuse them again. No file-reading table function is registered
//!   (DataFusion ships none without its CLI), URL tables are off, and `information_schema`
//!   is off.
//!
//! Sessions never spill to disk (spill files would hold plaintext) and each query's memory
//! is capped ([`TenantQuery::with_memory_limit`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{
    Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{col, lit};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{SetExpr, Statement as SqlStatement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::StreamExt;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::convert::{is_trace_id, spans_to_otlp_json};
use crate::erase::{Erasure, any_erased};
use crate::error::{Result, StoreError};
use crate::export::{ExportFilter, RowStream};
use crate::schema::Signal;
use crate::segment::{Keyring, SegmentMeta, SegmentStore};
use crate::tenant_store::TenantStore;
use crate::trace_filter::TraceIdFilter;

/// The only object store URL a tenant session knows.
const STORE_URL: &str = "scrim-tenant://segments/";

/// The id under which a session's runtime knows the tenant's keyring.
const KEYRING_FACTORY: &str = "scrim-tenant-keyring";

/// Gives DataFusion the tenant's keyring for every segment it opens; the file's footer
/// names which of the keys decrypts it. Sessions never write Parquet.
#[derive(Debug)]
struct KeyringFactory(Keyring);

#[async_trait::async_trait]
impl datafusion::execution::parquet_encryption::EncryptionFactory for KeyringFactory {
    async fn get_file_encryption_properties(
        &self,
        _config: &datafusion::config::EncryptionFactoryOptions,
        _schema: &SchemaRef,
        _file_path: &object_store::path::Path,
    ) -> datafusion::error::Result<
        Option<Arc<parquet::encryption::encrypt::FileEncryptionProperties>>,
    > {
        Err(datafusion::error::DataFusionError::Plan(
            "tenant sessions do not write files".into(),
        ))
    }

    async fn get_file_decryption_properties(
        &self,
        _config: &datafusion::config::EncryptionFactoryOptions,
        _file_path: &object_store::path::Path,
    ) -> datafusion::error::Result<
        Option<Arc<parquet::encryption::decrypt::FileDecryptionProperties>>,
    > {
        let props = self
            .0
            .decryption()
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        Ok(Some(props))
    }
}

/// Rows not yet flushed to segments, per table. Each batch must have its table's schema.
#[derive(Clone, Debug, Default)]
pub struct BufferedBatches {
    pub spans: Vec<RecordBatch>,
    pub logs: Vec<RecordBatch>,
    pub metrics: Vec<RecordBatch>,
}

impl BufferedBatches {
    fn of(&self, signal: Signal) -> &[RecordBatch] {
        match signal {
            Signal::Spans => &self.spans,
            Signal::Logs => &self.logs,
            Signal::Metrics => &self.metrics,
        }
    }
}

/// A half-open time window `[start_ns, end_ns)`, ns since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start_ns: i64,
    pub end_ns: i64,
}

impl TimeRange {
    /// `[start_ns, end_ns)`.
    pub fn new(start_ns: i64, end_ns: i64) -> Self {
        TimeRange { start_ns, end_ns }
    }

    /// The bucket length a time series over this range uses when `step_ns` is asked for:
    /// never more than 1 000 buckets, never under 1 ns.
    pub fn series_step(&self, step_ns: i64) -> i64 {
        let span = self.end_ns.saturating_sub(self.start_ns).max(1);
        step_ns.max(span / 1000).max(1)
    }

    fn seconds(&self) -> f64 {
        (self.end_ns.saturating_sub(self.start_ns)).max(1) as f64 / 1e9
    }
}

/// Trace search: every field narrows; one span of the trace must match all of them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TraceFilter {
    pub service: Option<String>,
    /// Span name.
    pub operation: Option<String>,
    pub min_duration_ms: Option<u64>,
    pub range: Option<TimeRange>,
    /// Exact attribute matches on the span's attributes.
    pub attributes: Vec<(String, String)>,
    /// At most this many traces (default 20, capped at 1000).
    pub limit: Option<usize>,
    /// Only traces with a failed span (status ERROR) that matches the other fields.
    #[serde(default)]
    pub errors_only: bool,
}

/// One trace in search results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    pub trace_id: String,
    /// Service and span name of the root span (or of the earliest span if the root is
    /// not stored).
    pub root_service: String,
    pub root_operation: String,
    pub start_ns: i64,
    /// From the earliest start to the latest end.
    pub duration_ns: i64,
    pub span_count: u64,
    pub error: bool,
}

/// Request statistics of one service over a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceStats {
    pub service: String,
    /// Entry spans (SERVER or CONSUMER kind, or roots) in the window.
    pub requests: u64,
    pub errors: u64,
    /// Requests per second over the window.
    pub request_rate: f64,
    /// Errors / requests.
    pub error_rate: f64,
    /// Latency percentiles in ns (exact, linear interpolation between ranks:
    /// `percentile_cont`).
    pub p50_ns: f64,
    pub p95_ns: f64,
    pub p99_ns: f64,
}

/// Statistics of one database statement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementStats {
    pub statement: String,
    pub db_system: Option<String>,
    pub count: u64,
    pub avg_ns: f64,
    pub p95_ns: f64,
}

/// The statements of one service, slowest by p95 and most frequent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceQueries {
    pub slowest: Vec<StatementStats>,
    pub most_frequent: Vec<StatementStats>,
}

/// One statement of one service in detail ([`TenantQuery::statement_detail`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementDetail {
    pub statement: String,
    pub db_system: Option<String>,
    pub count: u64,
    pub errors: u64,
    pub p50_ns: f64,
    pub p95_ns: f64,
    pub max_ns: i64,
    /// A captured query plan (`db.query.plan` or `db.plan`, as the capture policy stored
    /// it), if any span of the statement has one.
    pub plan: Option<String>,
    /// Status messages of failed executions, most frequent first, with their counts.
    pub error_messages: Vec<(String, u64)>,
    /// The trace of the slowest execution.
    pub slowest_trace_id: String,
}

/// Failed spans of one service grouped by span name and status message
/// ([`TenantQuery::error_groups`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    pub operation: String,
    pub kind: String,
    pub status_message: String,
    pub count: u64,
    /// The latest start, ns since the epoch.
    pub last_ns: i64,
    /// One trace of the group (the latest).
    pub sample_trace_id: String,
    /// `exception.type: exception.message` of the latest span's first exception event.
    pub exception: Option<String>,
}

/// Log search.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LogFilter {
    pub range: Option<TimeRange>,
    pub service: Option<String>,
    /// Lowest `severity_number` (OpenTelemetry: 9 INFO, 13 WARN, 17 ERROR).
    pub min_severity: Option<i32>,
    /// Case-insensitive substring of the body.
    pub text: Option<String>,
    /// At most this many records, newest first (default 100, capped at 10 000).
    pub limit: Option<usize>,
    /// Only the records of this trace (32 hex digits).
    #[serde(default)]
    pub trace_id: Option<String>,
}

/// One time bucket of a service's entry spans ([`TenantQuery::service_series`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    pub service: String,
    /// Start of the bucket, ns since the epoch.
    pub start_ns: i64,
    pub requests: u64,
    pub errors: u64,
    /// Latency percentile in ns (`percentile_cont`, exact).
    pub p95_ns: f64,
}

/// Statistics of one span name of a service ([`TenantQuery::service_operations`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperationStats {
    pub operation: String,
    /// SERVER, CLIENT, INTERNAL, PRODUCER or CONSUMER.
    pub kind: String,
    pub count: u64,
    pub errors: u64,
    pub p50_ns: f64,
    pub p95_ns: f64,
}

/// How many values of one kind the capture policy removed from one service's spans and
/// logs ([`TenantQuery::redaction_counts`]), from the `scrim.redacted.<kind>` counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedactionCount {
    pub service: String,
    pub kind: String,
    pub count: u64,
}

/// Limits of one SQL query.
#[derive(Clone, Copy, Debug)]
pub struct SqlLimits {
    pub max_rows: usize,
    pub timeout: Duration,
}

impl Default for SqlLimits {
    fn default() -> Self {
        SqlLimits {
            max_rows: 10_000,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Result of [`TenantQuery::sql`]: column names and rows of JSON values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SqlResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows existed than `max_rows`.
    pub truncated: bool,
}

/// Every telemetry read of one tenant. Build one per request or keep one per tenant and
/// rebuild it when the catalog changes; it holds no lock and is cheap to build.
#[derive(Debug)]
pub struct TenantQuery {
    tenant_id: String,
    keys: Keyring,
    /// `{region}/{tenant}/`: segment paths below are relative to it.
    prefix: String,
    segments: Vec<SegmentMeta>,
    buffer: BufferedBatches,
    registry: Arc<SingleStoreRegistry>,
    runtime: Arc<RuntimeEnv>,
    /// Rows recorded for deletion: hidden from every table of every session.
    erasures: Vec<Erasure>,
}

/// Default cap on one query's memory.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// The runtime of every session of a tenant: its one object store, its keyring, a memory
/// cap, and no disk manager, so sorts and joins never write unencrypted spill files.
fn runtime(
    registry: Arc<SingleStoreRegistry>,
    keys: &Keyring,
    memory: usize,
) -> Result<Arc<RuntimeEnv>> {
    use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(registry)
        .with_memory_limit(memory, 1.0)
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()?;
    runtime.register_parquet_encryption_factory(
        KEYRING_FACTORY,
        Arc::new(KeyringFactory(keys.clone())),
    );
    Ok(runtime)
}

/// An object store registry that knows exactly one store and refuses to learn more.
#[derive(Debug)]
struct SingleStoreRegistry {
    url: Url,
    store: Arc<dyn ObjectStore>,
}

impl ObjectStoreRegistry for SingleStoreRegistry {
    fn register_store(
        &self,
        _url: &Url,
        _store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        // Registration is refused by ignoring it: `get_store` only ever answers for `url`.
        None
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if url.scheme() == self.url.scheme() && url.host_str() == self.url.host_str() {
            Ok(Arc::clone(&self.store))
        } else {
            Err(datafusion::error::DataFusionError::Plan(
                "no object store is available for this URL".into(),
            ))
        }
    }
}

impl TenantQuery {
    /// A query object for `tenant_id`, reading its segments with `keys` (every version of
    /// its data key; a single [`crate::DataKey`] converts). Refuses any segment that is not
    /// this tenant's.
    pub fn new(
        tenant_id: &str,
        keys: impl Into<Keyring>,
        store: &SegmentStore,
        segments: Vec<SegmentMeta>,
        buffer: BufferedBatches,
    ) -> Result<Self> {
        let keys = keys.into();
        let prefix = store.tenant_prefix(tenant_id)?;
        for m in &segments {
            store.check_owned(tenant_id, m)?;
        }
        for sig in Signal::ALL {
            let schema = sig.schema();
            if buffer
                .of(sig)
                .iter()
                .any(|b| b.schema().fields() != schema.fields())
            {
                return Err(StoreError::InvalidInput(format!(
                    "a buffered {sig} batch does not have the {sig} schema"
                )));
            }
        }
        let narrowed: Arc<dyn ObjectStore> = Arc::new(TenantStore::new(
            Arc::clone(store.object_store()),
            prefix.trim_end_matches('/'),
        ));
        let url = Url::parse(STORE_URL).map_err(|e| StoreError::Query(e.to_string()))?;
        let registry = Arc::new(SingleStoreRegistry {
            url,
            store: narrowed,
        });
        let runtime = runtime(Arc::clone(&registry), &keys, DEFAULT_MEMORY_LIMIT)?;
        // Store paths relative to the tenant prefix from here on.
        let segments = segments
            .into_iter()
            .map(|mut m| {
                m.path = m.path[prefix.len()..].to_owned();
                m
            })
            .collect();
        Ok(TenantQuery {
            tenant_id: tenant_id.to_owned(),
            keys,
            prefix,
            segments,
            buffer,
            registry,
            runtime,
            erasures: Vec::new(),
        })
    }

    /// Hides the rows any of `erasures` covers from every query of this object, whatever
    /// table, route or SQL reads them (recorded deletion requests whose segments may not
    /// be rewritten yet).
    pub fn with_erasures(mut self, erasures: Vec<Erasure>) -> Self {
        self.erasures = erasures;
        self
    }

    /// How many stored or buffered rows `erasure` covers, ignoring the erasures this object
    /// hides: a deletion job's check that nothing it removed is left.
    pub async fn count_erased(&self, erasure: &Erasure) -> Result<u64> {
        let mut total = 0u64;
        for signal in Signal::ALL {
            let Some(covered) = erasure.expr(signal) else {
                continue;
            };
            let ctx = self.session_raw(None, None, None).await?;
            let n = ctx
                .table(signal.as_str())
                .await?
                .filter(covered.is_true())?
                .count()
                .await?;
            total += n as u64;
        }
        Ok(total)
    }

    /// Caps the memory one query may use (default 1 GiB); past it the query fails with a
    /// "resources exhausted" error. Nothing spills to disk: spill files would be plaintext.
    pub fn with_memory_limit(mut self, bytes: usize) -> Result<Self> {
        self.runtime = runtime(Arc::clone(&self.registry), &self.keys, bytes)?;
        Ok(self)
    }

    /// The tenant this object is bound to.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// A session with `spans`, `logs` and `metrics`, reading only the segments that may hold
    /// rows in `range` and of `service`.
    async fn session(
        &self,
        range: Option<TimeRange>,
        service: Option<&str>,
    ) -> Result<SessionContext> {
        self.session_for(range, service, None).await
    }

    /// [`Self::session`], and when `trace_id` is given, only the span segments whose trace
    /// filter may hold it.
    async fn session_for(
        &self,
        range: Option<TimeRange>,
        service: Option<&str>,
        trace_id: Option<&str>,
    ) -> Result<SessionContext> {
        self.session_with(range, service, trace_id, &self.erasures)
            .await
    }

    /// [`Self::session_for`] without hiding erased rows.
    async fn session_raw(
        &self,
        range: Option<TimeRange>,
        service: Option<&str>,
        trace_id: Option<&str>,
    ) -> Result<SessionContext> {
        self.session_with(range, service, trace_id, &[]).await
    }

    async fn session_with(
        &self,
        range: Option<TimeRange>,
        service: Option<&str>,
        trace_id: Option<&str>,
        erasures: &[Erasure],
    ) -> Result<SessionContext> {
        let mut config = SessionConfig::new()
            .with_information_schema(false)
            .with_target_partitions(2);
        let opts = config.options_mut();
        opts.execution.parquet.pushdown_filters = true;
        opts.execution.parquet.reorder_filters = true;
        opts.sql_parser.enable_ident_normalization = true;
        let ctx = SessionContext::new_with_config_rt(config, Arc::clone(&self.runtime));
        for sig in Signal::ALL {
            let files: Vec<&SegmentMeta> = self
                .segments
                .iter()
                .filter(|m| m.signal == sig)
                .filter(|m| range.is_none_or(|r| m.overlaps(r.start_ns, r.end_ns)))
                .filter(|m| service.is_none_or(|s| m.services.iter().any(|x| x == s)))
                .filter(|m| trace_id.is_none_or(|t| self.may_hold_trace(m, t)))
                .collect();
            let table = self.table(&ctx, sig, &files, erasures)?;
            ctx.register_table(sig.as_str(), table)?;
        }
        Ok(ctx)
    }

    /// Whether segment `m` may hold spans of `trace_id`. A segment without a filter, whose
    /// key (`key_id`, the key it was written under) is not in the keyring, or whose filter
    /// does not open, is read: a wrong answer here would hide spans.
    fn may_hold_trace(&self, m: &SegmentMeta, trace_id: &str) -> bool {
        let (Some(sealed), Some(key)) = (&m.trace_filter, self.keys.get(&m.key_id)) else {
            return true;
        };
        let path = format!("{}{}", self.prefix, m.path);
        match TraceIdFilter::open(key, &path, sealed) {
            Ok(f) => f.may_contain(trace_id),
            Err(_) => true,
        }
    }

    fn table(
        &self,
        ctx: &SessionContext,
        sig: Signal,
        files: &[&SegmentMeta],
        erasures: &[Erasure],
    ) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
        let schema = sig.schema();
        let mem: Arc<dyn datafusion::catalog::TableProvider> = Arc::new(MemTable::try_new(
            Arc::clone(&schema),
            vec![self.buffer.of(sig).to_vec()],
        )?);
        let erased = any_erased(sig, erasures);
        if files.is_empty() {
            return Ok(match erased {
                None => mem,
                Some(e) => ctx.read_table(mem)?.filter(e.is_not_true())?.into_view(),
            });
        }
        let mut parquet = datafusion::config::TableParquetOptions::default();
        // Each file with the key its footer names (`KeyringFactory`).
        parquet.crypto.factory_id = Some(KEYRING_FACTORY.into());
        let format = ParquetFormat::default().with_options(parquet);
        let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
        let urls = files
            .iter()
            .map(|m| ListingTableUrl::parse(format!("{STORE_URL}{}", m.path)))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(schema);
        let listing = Arc::new(ListingTable::try_new(config)?);
        let mut df = ctx.read_table(listing)?.union(ctx.read_table(mem)?)?;
        if let Some(e) = erased {
            df = df.filter(e.is_not_true())?;
        }
        Ok(df.into_view())
    }

    /// A whole trace as OTLP/JSON, or `None` if no span of it is stored or buffered.
    pub async fn trace(&self, trace_id: &str) -> Result<Option<serde_json::Value>> {
        if !is_trace_id(trace_id) {
            return Err(StoreError::InvalidInput(
                "a trace id is 32 hex digits".into(),
            ));
        }
        let ctx = self.session_for(None, None, Some(trace_id)).await?;
        let batches = ctx
            .table("spans")
            .await?
            .filter(col("trace_id").eq(lit(trace_id.to_ascii_lowercase())))?
            .sort(vec![col("start_time").sort(true, false)])?
            .collect()
            .await?;
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(None);
        }
        spans_to_otlp_json(&batches).map(Some)
    }

    /// Traces with a span matching every field of `filter`, newest first.
    pub async fn search_traces(&self, filter: &TraceFilter) -> Result<Vec<TraceSummary>> {
        let limit = filter.limit.unwrap_or(20).clamp(1, 1000);
        let ctx = self
            .session(filter.range, filter.service.as_deref())
            .await?;
        let mut matched = ctx.table("spans").await?;
        if let Some(r) = filter.range {
            matched = matched.filter(time_filter("start_time", r))?;
        }
        if let Some(s) = &filter.service {
            matched = matched.filter(col("service_name").eq(lit(s.as_str())))?;
        }
        if let Some(op) = &filter.operation {
            matched = matched.filter(col("name").eq(lit(op.as_str())))?;
        }
        if let Some(ms) = filter.min_duration_ms {
            let ns = i64::try_from(ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
            matched = matched.filter(col("duration_ns").gt_eq(lit(ns)))?;
        }
        for (k, v) in &filter.attributes {
            matched =
                matched.filter(get_field(col("attributes"), k.as_str()).eq(lit(v.as_str())))?;
        }
        if filter.errors_only {
            matched = matched.filter(col("status_code").eq(lit("ERROR")))?;
        }
        let ids = matched
            .aggregate(
                vec![col("trace_id")],
                vec![datafusion::functions_aggregate::expr_fn::max(col("start_time")).alias("t")],
            )?
            .sort(vec![
                col("t").sort(false, false),
                col("trace_id").sort(true, false),
            ])?
            .limit(0, Some(limit))?
            .select(vec![col("trace_id")])?
            .collect()
            .await?;
        let mut order: Vec<String> = Vec::new();
        for b in &ids {
            let a = string_col(b, "trace_id")?;
            order.extend((0..a.len()).map(|i| a.value(i).to_owned()));
        }
        if order.is_empty() {
            return Ok(Vec::new());
        }
        // The summaries count every span of the trace, also those of other services, so
        // this session is not pruned by service.
        let all_services = match filter.service {
            Some(_) => self.session(filter.range, None).await?,
            None => ctx,
        };
        let rows = all_services
            .table("spans")
            .await?
            .filter(
                col("trace_id").in_list(order.iter().map(|t| lit(t.as_str())).collect(), false),
            )?
            .select(vec![
                col("trace_id"),
                col("service_name"),
                col("name"),
                col("parent_span_id"),
                col("start_time"),
                col("end_time"),
                col("status_code"),
            ])?
            .collect()
            .await?;
        let mut acc: HashMap<String, SummaryAcc> = HashMap::new();
        for b in &rows {
            let (tid, svc, name, parent) = (
                string_col(b, "trace_id")?,
                string_col(b, "service_name")?,
                string_col(b, "name")?,
                string_col(b, "parent_span_id")?,
            );
            let (start, end) = (ts_col(b, "start_time")?, ts_col(b, "end_time")?);
            let status = string_col(b, "status_code")?;
            for i in 0..b.num_rows() {
                let a = acc.entry(tid.value(i).to_owned()).or_default();
                a.add(
                    svc.value(i),
                    name.value(i),
                    parent.is_null(i),
                    start.value(i),
                    end.value(i),
                    status.value(i) == "ERROR",
                );
            }
        }
        Ok(order
            .into_iter()
            .filter_map(|t| acc.remove(&t).map(|a| a.finish(t)))
            .collect())
    }

    /// Request rate, error rate and latency percentiles per service over `range`, counting
    /// entry spans: SERVER or CONSUMER kind, or spans without a parent.
    pub async fn services(&self, range: TimeRange) -> Result<Vec<ServiceStats>> {
        let ctx = self.session(Some(range), None).await?;
        let df = ctx
            .sql(
                "SELECT service_name, count(*) AS requests, \
                   sum(CASE WHEN status_code = 'ERROR' THEN 1 ELSE 0 END) AS errors, \
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE)) AS p50, \
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE)) AS p95, \
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE)) AS p99 \
                 FROM spans \
                 WHERE start_time >= $1 AND start_time < $2 \
                   AND (kind IN ('SERVER', 'CONSUMER') OR parent_span_id IS NULL) \
                 GROUP BY service_name ORDER BY service_name",
            )
            .await?
            .with_param_values(vec![ts_param(range.start_ns), ts_param(range.end_ns)])?;
        let batches = df.collect().await?;
        let secs = range.seconds();
        let mut out = Vec::new();
        for b in &batches {
            let svc = string_col(b, "service_name")?;
            let req = int_like(b, "requests")?;
            let err = int_like(b, "errors")?;
            let (p50, p95, p99) = (
                float_like(b, "p50")?,
                float_like(b, "p95")?,
                float_like(b, "p99")?,
            );
            for i in 0..b.num_rows() {
                let requests = req[i].max(0) as u64;
                let errors = err[i].max(0) as u64;
                out.push(ServiceStats {
                    service: svc.value(i).to_owned(),
                    requests,
                    errors,
                    request_rate: requests as f64 / secs,
                    error_rate: if requests == 0 {
                        0.0
                    } else {
                        errors as f64 / requests as f64
                    },
                    p50_ns: p50[i],
                    p95_ns: p95[i],
                    p99_ns: p99[i],
                });
            }
        }
        Ok(out)
    }

    /// The service's database statements over `range`: the `limit` slowest by p95 and the
    /// `limit` most frequent. Statements are stored obfuscated (the capture policy runs
    /// before storage), so equal shapes group together.
    pub async fn service_queries(
        &self,
        service: &str,
        range: TimeRange,
        limit: usize,
    ) -> Result<ServiceQueries> {
        let limit = limit.clamp(1, 1000);
        let ctx = self.session(Some(range), Some(service)).await?;
        let stats = |order: &str| {
            format!(
                "SELECT db_statement, max(db_system) AS db_system, count(*) AS n, \
                   avg(duration_ns) AS avg_ns, \
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE)) AS p95 \
                 FROM spans \
                 WHERE service_name = $1 AND start_time >= $2 AND start_time < $3 \
                   AND db_statement IS NOT NULL \
                 GROUP BY db_statement ORDER BY {order}, db_statement LIMIT {limit}"
            )
        };
        let params = || {
            vec![
                ScalarValue::Utf8(Some(service.to_owned())),
                ts_param(range.start_ns),
                ts_param(range.end_ns),
            ]
        };
        let mut result = ServiceQueries::default();
        for (order, target) in [("p95 DESC", 0), ("n DESC", 1)] {
            let batches = ctx
                .sql(&stats(order))
                .await?
                .with_param_values(params())?
                .collect()
                .await?;
            let mut list = Vec::new();
            for b in &batches {
                let stmt = string_col(b, "db_statement")?;
                let sys = string_col(b, "db_system")?;
                let n = int_like(b, "n")?;
                let (avg, p95) = (float_like(b, "avg_ns")?, float_like(b, "p95")?);
                for i in 0..b.num_rows() {
                    list.push(StatementStats {
                        statement: stmt.value(i).to_owned(),
                        db_system: (!sys.is_null(i)).then(|| sys.value(i).to_owned()),
                        count: n[i].max(0) as u64,
                        avg_ns: avg[i],
                        p95_ns: p95[i],
                    });
                }
            }
            if target == 0 {
                result.slowest = list;
            } else {
                result.most_frequent = list;
            }
        }
        Ok(result)
    }

    /// One statement of `service` over `range`: counts, latency, a captured plan, the
    /// messages of failed executions and the slowest execution's trace. `None` when the
    /// service ran no such statement in the window (the text must match the stored,
    /// obfuscated statement exactly).
    pub async fn statement_detail(
        &self,
        service: &str,
        statement: &str,
        range: TimeRange,
    ) -> Result<Option<StatementDetail>> {
        let ctx = self.session(Some(range), Some(service)).await?;
        let filter = "FROM spans WHERE service_name = $1 AND start_time >= $2 \
                      AND start_time < $3 AND db_statement = $4";
        let params = || {
            vec![
                ScalarValue::Utf8(Some(service.to_owned())),
                ts_param(range.start_ns),
                ts_param(range.end_ns),
                ScalarValue::Utf8(Some(statement.to_owned())),
            ]
        };
        let run = |text: String| {
            let ctx = &ctx;
            async move {
                Ok::<_, StoreError>(
                    ctx.sql(&text)
                        .await?
                        .with_param_values(params())?
                        .collect()
                        .await?,
                )
            }
        };
        let stats = run(format!(
            "SELECT count(*) AS n, \
               sum(CASE WHEN status_code = 'ERROR' THEN 1 ELSE 0 END) AS errors, \
               percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE)) AS p50, \
               percentile_cont(0.95) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE)) AS p95, \
               max(duration_ns) AS max_ns, max(db_system) AS db_system, \
               max(attributes['db.query.plan']) AS plan, max(attributes['db.plan']) AS old_plan \
             {filter}"
        ))
        .await?;
        let Some(b) = stats.iter().find(|b| b.num_rows() > 0) else {
            return Ok(None);
        };
        let count = int_like(b, "n")?[0].max(0) as u64;
        if count == 0 {
            return Ok(None);
        }
        let opt = |name: &str| -> Result<Option<String>> {
            let c = string_col(b, name)?;
            Ok((!c.is_null(0)).then(|| c.value(0).to_owned()))
        };
        let mut detail = StatementDetail {
            statement: statement.to_owned(),
            db_system: opt("db_system")?,
            count,
            errors: int_like(b, "errors")?[0].max(0) as u64,
            p50_ns: float_like(b, "p50")?[0],
            p95_ns: float_like(b, "p95")?[0],
            max_ns: int_like(b, "max_ns")?[0],
            plan: opt("plan")?.or(opt("old_plan")?),
            error_messages: Vec::new(),
            slowest_trace_id: String::new(),
        };
        let messages = run(format!(
            "SELECT coalesce(status_message, '') AS message, count(*) AS n {filter} \
               AND status_code = 'ERROR' GROUP BY 1 ORDER BY n DESC, message LIMIT 5"
        ))
        .await?;
        for b in &messages {
            let (m, n) = (string_col(b, "message")?, int_like(b, "n")?);
            for (i, count) in n.iter().enumerate() {
                detail
                    .error_messages
                    .push((m.value(i).to_owned(), (*count).max(0) as u64));
            }
        }
        let slowest = run(format!(
            "SELECT trace_id {filter} ORDER BY duration_ns DESC, trace_id LIMIT 1"
        ))
        .await?;
        if let Some(b) = slowest.iter().find(|b| b.num_rows() > 0) {
            detail.slowest_trace_id = string_col(b, "trace_id")?.value(0).to_owned();
        }
        Ok(Some(detail))
    }

    /// The failed spans (status ERROR) of `service` over `range`, grouped by span name and
    /// status message, most frequent first, at most `limit` groups; each with the first
    /// exception event of its latest span.
    pub async fn error_groups(
        &self,
        service: &str,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<ErrorGroup>> {
        let limit = limit.clamp(1, 1000);
        let ctx = self.session(Some(range), Some(service)).await?;
        let text = format!(
            "SELECT name, kind, coalesce(status_message, '') AS message, count(*) AS n, \
               max(CAST(start_time AS BIGINT)) AS last_ns, \
               max(trace_id) AS sample \
             FROM spans \
             WHERE service_name = $1 AND start_time >= $2 AND start_time < $3 \
               AND status_code = 'ERROR' \
             GROUP BY name, kind, 3 ORDER BY n DESC, name, message LIMIT {limit}"
        );
        let batches = ctx
            .sql(&text)
            .await?
            .with_param_values(vec![
                ScalarValue::Utf8(Some(service.to_owned())),
                ts_param(range.start_ns),
                ts_param(range.end_ns),
            ])?
            .collect()
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let name = string_col(b, "name")?;
            let kind = string_col(b, "kind")?;
            let message = string_col(b, "message")?;
            let sample = string_col(b, "sample")?;
            let (n, last) = (int_like(b, "n")?, int_like(b, "last_ns")?);
            for i in 0..b.num_rows() {
                out.push(ErrorGroup {
                    operation: name.value(i).to_owned(),
                    kind: kind.value(i).to_owned(),
                    status_message: message.value(i).to_owned(),
                    count: n[i].max(0) as u64,
                    last_ns: last[i],
                    sample_trace_id: sample.value(i).to_owned(),
                    exception: None,
                });
            }
        }
        // The first exception of the latest failed span of each group.
        let events = ctx
            .sql(
                "SELECT name, coalesce(status_message, '') AS message, events FROM spans \
                 WHERE service_name = $1 AND start_time >= $2 AND start_time < $3 \
                   AND status_code = 'ERROR' AND events <> '[]' \
                 ORDER BY start_time DESC LIMIT 500",
            )
            .await?
            .with_param_values(vec![
                ScalarValue::Utf8(Some(service.to_owned())),
                ts_param(range.start_ns),
                ts_param(range.end_ns),
            ])?
            .collect()
            .await?;
        for b in &events {
            let (name, message, ev) = (
                string_col(b, "name")?,
                string_col(b, "message")?,
                string_col(b, "events")?,
            );
            for i in 0..b.num_rows() {
                let Some(group) = out.iter_mut().find(|g| {
                    g.exception.is_none()
                        && g.operation == name.value(i)
                        && g.status_message == message.value(i)
                }) else {
                    continue;
                };
                group.exception = first_exception(ev.value(i));
            }
        }
        Ok(out)
    }

    /// The names of the services with spans in `range`, sorted, read from the catalog's
    /// per-segment service lists and the buffer: no segment is opened, so it costs the
    /// same at any volume. A service is left out where a deletion request (by service,
    /// from the beginning) hides all of its rows there.
    pub fn service_names(&self, range: TimeRange) -> Result<Vec<String>> {
        // The latest time up to which all of a service's spans are erased, if any.
        let erased_until = |service: &str| -> Option<i64> {
            self.erasures
                .iter()
                .filter(|e| {
                    e.service.as_deref() == Some(service)
                        && e.start_ns.is_none()
                        && e.attribute.is_none()
                        && e.signals.contains(&Signal::Spans)
                })
                .map(|e| e.end_ns)
                .max()
        };
        let mut names: std::collections::BTreeSet<String> = Default::default();
        for m in &self.segments {
            if m.signal != Signal::Spans || !m.overlaps(range.start_ns, range.end_ns) {
                continue;
            }
            for s in &m.services {
                if erased_until(s).is_none_or(|until| m.max_time_ns >= until) {
                    names.insert(s.clone());
                }
            }
        }
        for b in &self.buffer.spans {
            let (svc, start) = (string_col(b, "service_name")?, ts_col(b, "start_time")?);
            for i in 0..svc.len() {
                let (s, t) = (svc.value(i), start.value(i));
                if t >= range.start_ns
                    && t < range.end_ns
                    && erased_until(s).is_none_or(|until| t >= until)
                {
                    names.insert(s.to_owned());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Requests, errors and p95 latency of entry spans (as in [`Self::services`]) per
    /// service and per `step_ns` bucket of `range`; buckets without requests are absent.
    /// `service` narrows to one service.
    pub async fn service_series(
        &self,
        range: TimeRange,
        step_ns: i64,
        service: Option<&str>,
    ) -> Result<Vec<SeriesPoint>> {
        let step = range.series_step(step_ns);
        let ctx = self.session(Some(range), service).await?;
        let only = if service.is_some() {
            "AND service_name = $3"
        } else {
            ""
        };
        // Integers, not user text: the bucket arithmetic is written into the statement.
        let text = format!(
            "SELECT service_name, \
               (CAST(start_time AS BIGINT) - {start}) / {step} AS bucket, \
               count(*) AS requests, \
               sum(CASE WHEN status_code = 'ERROR' THEN 1 ELSE 0 END) AS errors, \
               percentile_cont(0.95) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE)) AS p95 \
             FROM spans \
             WHERE start_time >= $1 AND start_time < $2 {only} \
               AND (kind IN ('SERVER', 'CONSUMER') OR parent_span_id IS NULL) \
             GROUP BY service_name, bucket ORDER BY service_name, bucket",
            start = range.start_ns,
        );
        let mut params = vec![ts_param(range.start_ns), ts_param(range.end_ns)];
        if let Some(s) = service {
            params.push(ScalarValue::Utf8(Some(s.to_owned())));
        }
        let batches = ctx
            .sql(&text)
            .await?
            .with_param_values(params)?
            .collect()
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let svc = string_col(b, "service_name")?;
            let bucket = int_like(b, "bucket")?;
            let req = int_like(b, "requests")?;
            let err = int_like(b, "errors")?;
            let p95 = float_like(b, "p95")?;
            for i in 0..b.num_rows() {
                out.push(SeriesPoint {
                    service: svc.value(i).to_owned(),
                    start_ns: range
                        .start_ns
                        .saturating_add(bucket[i].saturating_mul(step)),
                    requests: req[i].max(0) as u64,
                    errors: err[i].max(0) as u64,
                    p95_ns: p95[i],
                });
            }
        }
        Ok(out)
    }

    /// The span names of `service` over `range`, most frequent first: count, errors and
    /// latency per name and kind.
    pub async fn service_operations(
        &self,
        service: &str,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<OperationStats>> {
        let limit = limit.clamp(1, 1000);
        let ctx = self.session(Some(range), Some(service)).await?;
        let text = format!(
            "SELECT name, kind, count(*) AS n, \
               sum(CASE WHEN status_code = 'ERROR' THEN 1 ELSE 0 END) AS errors, \
               percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE)) AS p50, \
               percentile_cont(0.95) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE)) AS p95 \
             FROM spans \
             WHERE service_name = $1 AND start_time >= $2 AND start_time < $3 \
             GROUP BY name, kind ORDER BY n DESC, name, kind LIMIT {limit}"
        );
        let batches = ctx
            .sql(&text)
            .await?
            .with_param_values(vec![
                ScalarValue::Utf8(Some(service.to_owned())),
                ts_param(range.start_ns),
                ts_param(range.end_ns),
            ])?
            .collect()
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let name = string_col(b, "name")?;
            let kind = string_col(b, "kind")?;
            let n = int_like(b, "n")?;
            let errors = int_like(b, "errors")?;
            let (p50, p95) = (float_like(b, "p50")?, float_like(b, "p95")?);
            for i in 0..b.num_rows() {
                out.push(OperationStats {
                    operation: name.value(i).to_owned(),
                    kind: kind.value(i).to_owned(),
                    count: n[i].max(0) as u64,
                    errors: errors[i].max(0) as u64,
                    p50_ns: p50[i],
                    p95_ns: p95[i],
                });
            }
        }
        Ok(out)
    }

    /// How many values of each kind in `kinds` the capture policy removed, per service,
    /// from the spans and logs of `range` (their `scrim.redacted.<kind>` counts). Kinds
    /// with no removal are absent.
    pub async fn redaction_counts(
        &self,
        range: TimeRange,
        kinds: &[&str],
    ) -> Result<Vec<RedactionCount>> {
        let ctx = self.session(Some(range), None).await?;
        let mut totals: std::collections::BTreeMap<(String, String), u64> = Default::default();
        // Kind names are Scrim's own identifiers; anything else is refused rather than
        // written into the statement.
        let kinds: Vec<&str> = kinds
            .iter()
            .copied()
            .filter(|k| {
                !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
            })
            .collect();
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        for (table, time) in [("spans", "start_time"), ("logs", "time")] {
            let sums: Vec<String> = kinds
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    format!("sum(TRY_CAST(attributes['scrim.redacted.{k}'] AS BIGINT)) AS k{i}")
                })
                .collect();
            let text = format!(
                "SELECT service_name, {} FROM {table} \
                 WHERE {time} >= $1 AND {time} < $2 GROUP BY service_name",
                sums.join(", ")
            );
            let batches = ctx
                .sql(&text)
                .await?
                .with_param_values(vec![ts_param(range.start_ns), ts_param(range.end_ns)])?
                .collect()
                .await?;
            for b in &batches {
                let svc = string_col(b, "service_name")?;
                for (i, kind) in kinds.iter().enumerate() {
                    let counts = int_like(b, &format!("k{i}"))?;
                    for (row, n) in counts.iter().enumerate() {
                        if *n > 0 {
                            *totals
                                .entry((svc.value(row).to_owned(), (*kind).to_owned()))
                                .or_default() += *n as u64;
                        }
                    }
                }
            }
        }
        let mut out: Vec<RedactionCount> = totals
            .into_iter()
            .map(|((service, kind), count)| RedactionCount {
                service,
                kind,
                count,
            })
            .collect();
        out.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.service.cmp(&b.service))
                .then(a.kind.cmp(&b.kind))
        });
        Ok(out)
    }

    /// Log records matching `filter`, newest first, as JSON objects (column → value;
    /// attribute maps as objects).
    pub async fn logs(&self, filter: &LogFilter) -> Result<Vec<serde_json::Value>> {
        let limit = filter.limit.unwrap_or(100).clamp(1, 10_000);
        let ctx = self
            .session(filter.range, filter.service.as_deref())
            .await?;
        let mut df = ctx.table("logs").await?;
        if let Some(r) = filter.range {
            df = df.filter(time_filter("time", r))?;
        }
        if let Some(s) = &filter.service {
            df = df.filter(col("service_name").eq(lit(s.as_str())))?;
        }
        if let Some(sev) = filter.min_severity {
            df = df.filter(col("severity_number").gt_eq(lit(sev)))?;
        }
        if let Some(t) = &filter.trace_id {
            if !is_trace_id(t) {
                return Err(StoreError::InvalidInput(
                    "a trace id is 32 hex digits".into(),
                ));
            }
            df = df.filter(col("trace_id").eq(lit(t.to_ascii_lowercase())))?;
        }
        if let Some(t) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            use datafusion::functions::expr_fn::{lower, strpos};
            df = df.filter(strpos(lower(col("body")), lit(t.to_lowercase())).gt(lit(0_i64)))?;
        }
        let batches = df
            .sort(vec![col("time").sort(false, false)])?
            .limit(0, Some(limit))?
            .collect()
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            out.extend(batch_to_json_objects(b)?);
        }
        Ok(out)
    }

    /// How many log records match `filter` (its `limit` and `trace_id` are ignored): what a
    /// `log_count` alert rule measures.
    pub async fn log_count(&self, filter: &LogFilter) -> Result<u64> {
        let ctx = self
            .session(filter.range, filter.service.as_deref())
            .await?;
        let mut df = ctx.table("logs").await?;
        if let Some(r) = filter.range {
            df = df.filter(time_filter("time", r))?;
        }
        if let Some(s) = &filter.service {
            df = df.filter(col("service_name").eq(lit(s.as_str())))?;
        }
        if let Some(sev) = filter.min_severity {
            df = df.filter(col("severity_number").gt_eq(lit(sev)))?;
        }
        if let Some(t) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            use datafusion::functions::expr_fn::{lower, strpos};
            df = df.filter(strpos(lower(col("body")), lit(t.to_lowercase())).gt(lit(0_i64)))?;
        }
        Ok(df.count().await? as u64)
    }

    /// The rows of `signal` that match `filter`, as a stream of record batches in the
    /// table's schema, for an export ([`crate::export`]). Rows come in storage order (no
    /// sort: nothing but the batches in flight is held in memory), segments first, then the
    /// buffer. A segment that cannot be read fails the stream; the consumer must treat the
    /// export as incomplete.
    pub async fn export(&self, signal: Signal, filter: &ExportFilter) -> Result<RowStream> {
        filter.check(signal)?;
        let trace_id = filter.trace_id.as_deref().map(str::to_ascii_lowercase);
        let ctx = self
            .session_for(
                filter.range,
                filter.service.as_deref(),
                trace_id.as_deref().filter(|_| signal == Signal::Spans),
            )
            .await?;
        let mut df = ctx.table(signal.as_str()).await?;
        if let Some(r) = filter.range {
            df = df.filter(time_filter(signal.time_column(), r))?;
        }
        if let Some(s) = &filter.service {
            df = df.filter(col("service_name").eq(lit(s.as_str())))?;
        }
        if let Some(t) = &trace_id {
            df = df.filter(col("trace_id").eq(lit(t.as_str())))?;
        }
        if let Some(op) = &filter.operation {
            df = df.filter(col("name").eq(lit(op.as_str())))?;
        }
        if let Some(ms) = filter.min_duration_ms {
            let ns = i64::try_from(ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
            df = df.filter(col("duration_ns").gt_eq(lit(ns)))?;
        }
        for (k, v) in &filter.attributes {
            df = df.filter(get_field(col("attributes"), k.as_str()).eq(lit(v.as_str())))?;
        }
        if let Some(sev) = filter.min_severity {
            df = df.filter(col("severity_number").gt_eq(lit(sev)))?;
        }
        if let Some(t) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            use datafusion::functions::expr_fn::{lower, strpos};
            df = df.filter(strpos(lower(col("body")), lit(t.to_lowercase())).gt(lit(0_i64)))?;
        }
        let stream = df.execute_stream().await?;
        Ok(stream.map(|b| b.map_err(StoreError::from)).boxed())
    }

    /// Read-only SQL over `spans`, `logs` and `metrics` of this tenant. Exactly one query
    /// statement; anything else is [`StoreError::SqlRefused`]. At most `limits.max_rows`
    /// rows come back (`truncated` says whether there were more); the whole query, planning
    /// included, is bounded by `limits.timeout`.
    pub async fn sql(&self, text: &str, limits: SqlLimits) -> Result<SqlResult> {
        check_read_only(text)?;
        let run = async {
            let ctx = self.session(None, None).await?;
            let options = datafusion::execution::context::SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false);
            let df: DataFrame = ctx.sql_with_options(text, options).await?;
            let columns: Vec<String> = df
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let batches = df
                .limit(0, Some(limits.max_rows.saturating_add(1)))?
                .collect()
                .await?;
            Ok::<_, StoreError>((columns, batches))
        };
        let (columns, batches) = tokio::time::timeout(limits.timeout, run)
            .await
            .map_err(|_| StoreError::Timeout)??;
        let mut rows = Vec::new();
        for b in &batches {
            rows.extend(batch_to_json_rows(b)?);
        }
        let truncated = rows.len() > limits.max_rows;
        rows.truncate(limits.max_rows);
        Ok(SqlResult {
            columns,
            rows,
            truncated,
        })
    }
}

/// Refuses anything but a single query statement, before DataFusion plans it.
pub fn check_read_only(text: &str) -> Result<()> {
    let statements = DFParser::parse_sql_with_dialect(text, &GenericDialect {})
        .map_err(|e| StoreError::SqlRefused(format!("does not parse: {e}")))?;
    if statements.len() != 1 {
        return Err(StoreError::SqlRefused(
            "exactly one statement is allowed".into(),
        ));
    }
    match &statements[0] {
        DfStatement::Statement(s) if matches!(**s, SqlStatement::Query(_)) => {
            // `SELECT … INTO t` parses as a query but creates a table.
            if let SqlStatement::Query(q) = &**s
                && let SetExpr::Select(sel) = &*q.body
                && sel.into.is_some()
            {
                return Err(StoreError::SqlRefused("SELECT INTO creates a table".into()));
            }
            Ok(())
        }
        DfStatement::Statement(s) => Err(StoreError::SqlRefused(format!(
            "only queries are allowed, not {}",
            statement_kind(s)
        ))),
        DfStatement::CreateExternalTable(_) => Err(StoreError::SqlRefused(
            "only queries are allowed, not CREATE EXTERNAL TABLE".into(),
        )),
        DfStatement::CopyTo(_) => Err(StoreError::SqlRefused(
            "only queries are allowed, not COPY".into(),
        )),
        DfStatement::Explain(_) => Err(StoreError::SqlRefused(
            "only queries are allowed, not EXPLAIN".into(),
        )),
        _ => Err(StoreError::SqlRefused("only queries are allowed".into())),
    }
}

/// The statement's leading keyword(s), for the error message (never the whole text).
fn statement_kind(s: &SqlStatement) -> String {
    let text = s.to_string();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(40)
        .collect()
}

/// `exception.type: exception.message` of the first `exception` event in a span's stored
/// events (OTLP/JSON), if any.
fn first_exception(events: &str) -> Option<String> {
    let events: serde_json::Value = serde_json::from_str(events).ok()?;
    let event = events
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(|n| n.as_str()) == Some("exception"))?;
    let attr = |key: &str| {
        event
            .get("attributes")?
            .as_array()?
            .iter()
            .find(|a| a.get("key").and_then(|k| k.as_str()) == Some(key))?
            .get("value")?
            .get("stringValue")?
            .as_str()
            .map(str::to_owned)
    };
    match (attr("exception.type"), attr("exception.message")) {
        (Some(t), Some(m)) => Some(format!("{t}: {m}")),
        (Some(t), None) => Some(t),
        (None, Some(m)) => Some(m),
        (None, None) => None,
    }
}

fn ts_param(ns: i64) -> ScalarValue {
    ScalarValue::TimestampNanosecond(Some(ns), Some("UTC".into()))
}

fn time_filter(column: &str, r: TimeRange) -> datafusion::logical_expr::Expr {
    col(column)
        .gt_eq(lit(ts_param(r.start_ns)))
        .and(col(column).lt(lit(ts_param(r.end_ns))))
}

#[derive(Default)]
struct SummaryAcc {
    root: Option<(String, String)>,
    earliest: Option<(i64, String, String)>,
    start: i64,
    end: i64,
    count: u64,
    error: bool,
}

impl SummaryAcc {
    fn add(&mut self, svc: &str, name: &str, is_root: bool, start: i64, end: i64, error: bool) {
        if self.count == 0 {
            self.start = start;
            self.end = end;
        }
        self.start = self.start.min(start);
        self.end = self.end.max(end);
        self.count += 1;
        self.error |= error;
        if is_root && self.root.is_none() {
            self.root = Some((svc.to_owned(), name.to_owned()));
        }
        if self.earliest.as_ref().is_none_or(|(t, _, _)| start < *t) {
            self.earliest = Some((start, svc.to_owned(), name.to_owned()));
        }
    }

    fn finish(self, trace_id: String) -> TraceSummary {
        let (root_service, root_operation) = self
            .root
            .or(self.earliest.map(|(_, s, n)| (s, n)))
            .unwrap_or_default();
        TraceSummary {
            trace_id,
            root_service,
            root_operation,
            start_ns: self.start,
            duration_ns: self.end - self.start,
            span_count: self.count,
            error: self.error,
        }
    }
}

fn string_col<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| StoreError::Query(format!("result column {name} is not text")))
}

fn ts_col<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a TimestampNanosecondArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
        .ok_or_else(|| StoreError::Query(format!("result column {name} is not a timestamp")))
}

/// An integer result column as i64 whatever its integer type (null as 0).
fn int_like(b: &RecordBatch, name: &str) -> Result<Vec<i64>> {
    let c = b
        .column_by_name(name)
        .ok_or_else(|| StoreError::Query(format!("missing result column {name}")))?;
    let c = datafusion::arrow::compute::cast(c, &DataType::Int64)?;
    let a = c
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| StoreError::Query(format!("result column {name}")))?;
    Ok((0..a.len())
        .map(|i| if a.is_null(i) { 0 } else { a.value(i) })
        .collect())
}

/// A numeric result column as f64 (null as NaN).
fn float_like(b: &RecordBatch, name: &str) -> Result<Vec<f64>> {
    let c = b
        .column_by_name(name)
        .ok_or_else(|| StoreError::Query(format!("missing result column {name}")))?;
    let c = datafusion::arrow::compute::cast(c, &DataType::Float64)?;
    let a = c
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| StoreError::Query(format!("result column {name}")))?;
    Ok((0..a.len())
        .map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) })
        .collect())
}

fn batch_to_json_objects(b: &RecordBatch) -> Result<Vec<serde_json::Value>> {
    let mut w = arrow_json::ArrayWriter::new(Vec::new());
    w.write(b)?;
    w.finish()?;
    let buf = w.into_inner();
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let v: Vec<serde_json::Value> =
        serde_json::from_slice(&buf).map_err(|e| StoreError::Format(e.to_string()))?;
    Ok(v)
}

/// Rows as arrays in column order. Columns are renamed `c0`, `c1`, … first, since a query
/// may return two columns with one name.
fn batch_to_json_rows(b: &RecordBatch) -> Result<Vec<Vec<serde_json::Value>>> {
    let n = b.num_columns();
    let fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| f.as_ref().clone().with_name(format!("c{i}")))
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let renamed = RecordBatch::try_new(schema, b.columns().to_vec())?;
    let objects = batch_to_json_objects(&renamed)?;
    Ok(objects
        .into_iter()
        .map(|o| {
            let mut o = match o {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            (0..n)
                .map(|i| {
                    o.remove(&format!("c{i}"))
                        .unwrap_or(serde_json::Value::Null)
                })
                .collect()
        })
        .collect())
}
