//! The OTLP protobuf types (from `opentelemetry-proto`), under short paths, and the
//! `google.rpc` messages OTLP uses for errors.

pub use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
pub use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
pub use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
pub use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
pub use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, metric as metric_data, number_data_point,
};
pub use opentelemetry_proto::tonic::resource::v1::Resource;
pub use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};

/// `opentelemetry.proto.resource.v1`.
pub mod resource {
    pub use opentelemetry_proto::tonic::resource::v1::Resource;
}

/// `opentelemetry.proto.common.v1` scope type.
pub mod scope {
    pub use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
}

/// `google.rpc.Status`: the body of an OTLP/HTTP error response and the details of a gRPC
/// status.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` value.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Typed details, such as [`RetryInfo`].
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    /// Type URL, e.g. [`RETRY_INFO_TYPE_URL`].
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    /// How long the client should wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The `type_url` of `google.rpc.RetryInfo` in an `Any`.
pub const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl ProtoDuration {
    /// From a std duration (saturating).
    pub fn from_std(d: std::time::Duration) -> Self {
        ProtoDuration {
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: d.subsec_nanos() as i32,
        }
    }

    /// To a std duration; negative values become zero.
    pub fn to_std(self) -> std::time::Duration {
        if self.seconds < 0 || self.nanos < 0 {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::new(self.seconds as u64, (self.nanos as u32).min(999_999_999))
    }
}

impl RpcStatus {
    /// The `RetryInfo` delay among the details, if any.
    pub fn retry_delay(&self) -> Option<std::time::Duration> {
        use prost::Message;
        self.details
            .iter()
            .filter(|d| d.type_url == RETRY_INFO_TYPE_URL)
            .find_map(|d| RetryInfo::decode(d.value.as_slice()).ok())
            .and_then(|r| r.retry_delay)
            .map(ProtoDuration::to_std)
    }

    /// A status whose details carry a `RetryInfo` with `delay`.
    pub fn with_retry_delay(code: i32, message: String, delay: std::time::Duration) -> Self {
        use prost::Message;
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration::from_std(delay)),
        };
        RpcStatus {
            code,
            message,
            details: vec![ProtoAny {
                type_url: RETRY_INFO_TYPE_URL.into(),
                value: info.encode_to_vec(),
            }],
        }
    }
}
