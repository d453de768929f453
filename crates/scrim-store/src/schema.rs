//! Arrow schemas of the three tables: `spans`, `logs` and `metrics` (one row per data point).
//!
//! The common OpenTelemetry semantic conventions get typed columns, so the queries the UI runs
//! (latency per service, slow statements, HTTP errors) read a few narrow columns and Parquet's
//! statistics can prune on them. Everything else stays in two attribute maps.
//!
//! **Attributes are `Map<Utf8, Utf8>`, not a JSON string.** DataFusion reads a map key with
//! plain SQL (`attributes['http.route']`), needs no JSON function library, and only decodes the
//! map column when a query names it. Values are the attribute's text rendering: strings as
//! they are, integers, doubles and booleans in their usual text form, arrays and key-value
//! lists as OTLP/JSON. The typed columns are *copies* taken from the attributes (the map stays
//! complete), so nothing is lost when a row goes back to OTLP/JSON and the legacy and current
//! names (`db.statement`, `db.query.text`) need no bookkeeping; zstd makes the copy cheap.
//! Span events and links are stored as their OTLP/JSON text, which keeps their types.
//!
//! Ids are lowercase hex strings (32 characters for a trace id, 16 for a span id): that is the
//! OTLP/JSON form and what people paste into SQL.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// The signal a table or a segment holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Spans (`spans` table).
    Spans,
    /// Log records (`logs` table).
    Logs,
    /// Metric data points (`metrics` table).
    Metrics,
}

impl Signal {
    /// Every signal, in table order.
    pub const ALL: [Signal; 3] = [Signal::Spans, Signal::Logs, Signal::Metrics];

    /// The table name, also the path component of a segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Spans => "spans",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    /// Parses a table name.
    pub fn parse(s: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|sig| sig.as_str() == s)
    }

    /// The Arrow schema of this signal's table.
    pub fn schema(self) -> SchemaRef {
        match self {
            Signal::Spans => spans_schema(),
            Signal::Logs => logs_schema(),
            Signal::Metrics => metrics_schema(),
        }
    }

    /// The timestamp column that segments are partitioned and pruned by.
    pub fn time_column(self) -> &'static str {
        match self {
            Signal::Spans => "start_time",
            Signal::Logs | Signal::Metrics => "time",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Timestamps: nanoseconds since the Unix epoch, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// `Map<Utf8, Utf8>` with Arrow's default field names (`entries`, `keys`, `values`), which
/// is what `MapBuilder` produces and what Parquet gives back.
pub fn attribute_map_type() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("keys", DataType::Utf8, false),
            Field::new("values", DataType::Utf8, true),
        ])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn ts(name: &str, nullable: bool) -> Field {
    Field::new(name, timestamp_type(), nullable)
}

fn map(name: &str) -> Field {
    Field::new(name, attribute_map_type(), false)
}

static SPANS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("trace_id", false),
        utf8("span_id", false),
        // Null for a root span.
        utf8("parent_span_id", true),
        utf8("trace_state", true),
        utf8("name", false),
        // "UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER".
        utf8("kind", false),
        // Resource `service.name`, "unknown_service" when absent (the SDK default).
        utf8("service_name", false),
        ts("start_time", false),
        ts("end_time", false),
        Field::new("duration_ns", DataType::Int64, false),
        // "UNSET", "OK", "ERROR".
        utf8("status_code", false),
        utf8("status_message", true),
        // http.request.method | http.method
        utf8("http_method", true),
        utf8("http_route", true),
        // http.response.status_code | http.status_code
        Field::new("http_status_code", DataType::Int64, true),
        // url.full | http.url
        utf8("url_full", true),
        utf8("db_system", true),
        // db.query.text | db.statement (already obfuscated by the capture policy)
        utf8("db_statement", true),
        // db.operation.name | db.operation
        utf8("db_operation", true),
        // server.address | net.peer.name
        utf8("server_address", true),
        // client.address | network.peer.address | net.peer.ip
        utf8("client_address", true),
        utf8("scope_name", true),
        utf8("scope_version", true),
        map("resource_attributes"),
        map("attributes"),
        // OTLP/JSON arrays of span events and links ("[]" when there are none).
        utf8("events", false),
        utf8("links", false),
        Field::new("flags", DataType::UInt32, false),
    ]))
});

static LOGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        // time_unix_nano, or the observed time when the record has none (0).
        ts("time", false),
        ts("observed_time", true),
        Field::new("severity_number", DataType::Int32, false),
        utf8("severity_text", true),
        // A string body as is; any other body as its OTLP/JSON AnyValue text.
        utf8("body", true),
        // Whether `body` holds OTLP/JSON (a non-string body) rather than the text itself.
        Field::new("body_is_json", DataType::Boolean, false),
        utf8("trace_id", true),
        utf8("span_id", true),
        utf8("event_name", true),
        utf8("service_name", false),
        utf8("scope_name", true),
        utf8("scope_version", true),
        map("resource_attributes"),
        map("attributes"),
        Field::new("flags", DataType::UInt32, false),
    ]))
});

static METRICS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        ts("time", false),
        ts("start_time", true),
        utf8("metric_name", false),
        utf8("description", true),
        utf8("unit", true),
        // "gauge", "sum", "histogram", "exp_histogram", "summary".
        utf8("type", false),
        // Gauge and sum points: one of the two is set.
        Field::new("value_double", DataType::Float64, true),
        Field::new("value_int", DataType::Int64, true),
        // Histogram, exponential histogram and summary points.
        Field::new("count", DataType::UInt64, true),
        Field::new("sum", DataType::Float64, true),
        Field::new("min", DataType::Float64, true),
        Field::new("max", DataType::Float64, true),
        // JSON: histogram {"bounds":[..],"counts":[..]}; exponential histogram {"scale",
        // "zero_count","zero_threshold","positive":{"offset","counts"},"negative":{..}};
        // summary {"quantiles":[{"q","v"}..]}.
        utf8("buckets", true),
        Field::new("is_monotonic", DataType::Boolean, true),
        // "DELTA" | "CUMULATIVE" for sums and histograms.
        utf8("temporality", true),
        utf8("service_name", false),
        utf8("scope_name", true),
        utf8("scope_version", true),
        map("resource_attributes"),
        map("attributes"),
        Field::new("flags", DataType::UInt32, false),
    ]))
});

/// Schema of the `spans` table.
pub fn spans_schema() -> SchemaRef {
    SPANS.clone()
}

/// Schema of the `logs` table.
pub fn logs_schema() -> SchemaRef {
    LOGS.clone()
}

/// Schema of the `metrics` table.
pub fn metrics_schema() -> SchemaRef {
    METRICS.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_name_their_tables_and_time_columns() {
        for sig in Signal::ALL {
            assert_eq!(Signal::parse(sig.as_str()), Some(sig));
            let schema = sig.schema();
            let time = schema.field_with_name(sig.time_column()).unwrap();
            assert_eq!(time.data_type(), &timestamp_type());
            assert!(
                !time.is_nullable(),
                "{sig}: segments are pruned by this column"
            );
            assert!(schema.field_with_name("service_name").is_ok());
            assert_eq!(
                schema.field_with_name("attributes").unwrap().data_type(),
                &attribute_map_type()
            );
        }
        assert_eq!(Signal::parse("spans_secret"), None);
    }

    #[test]
    fn span_columns_cover_the_common_conventions() {
        let schema = spans_schema();
        for name in [
            "trace_id",
            "span_id",
            "parent_span_id",
            "http_method",
            "http_route",
            "http_status_code",
            "url_full",
            "db_system",
            "db_statement",
            "db_operation",
            "server_address",
            "client_address",
            "events",
            "links",
        ] {
            assert!(schema.field_with_name(name).is_ok(), "{name}");
        }
        assert_eq!(
            schema.field_with_name("duration_ns").unwrap().data_type(),
            &DataType::Int64
        );
    }
}
