//! The crate's error type. Messages never quote row data or key material.

use std::fmt;

/// What went wrong in the store or the query layer.
#[derive(Debug)]
pub enum StoreError {
    /// Input the caller gave is not valid (bad tenant id, malformed id, bad URL, …).
    InvalidInput(String),
    /// A segment or path does not belong to the tenant the operation is bound to.
    TenantMismatch(String),
    /// A segment could not be decrypted: wrong key, another tenant's key, or a damaged file.
    Decryption(String),
    /// A SQL text was refused before planning (not a single read-only query).
    SqlRefused(String),
    /// A query ran longer than its limit.
    Timeout,
    /// Arrow or Parquet encoding or decoding failed.
    Format(String),
    /// The object store failed.
    ObjectStore(String),
    /// DataFusion failed to plan or run a query (including SQL syntax errors).
    Query(String),
    /// The WAL's disk failed.
    Io(String),
    /// A WAL record could not be opened: wrong key, or the file was altered.
    Crypto(String),
    /// A WAL record is not in a format this version reads.
    Corrupt(String),
    /// The WAL is at its size limit: the sender should retry once a flush made room.
    Full,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            StoreError::TenantMismatch(m) => write!(f, "tenant mismatch: {m}"),
            StoreError::Decryption(m) => write!(f, "segment cannot be decrypted: {m}"),
            StoreError::SqlRefused(m) => write!(f, "SQL refused: {m}"),
            StoreError::Timeout => f.write_str("query timed out"),
            StoreError::Format(m) => write!(f, "data format error: {m}"),
            StoreError::ObjectStore(m) => write!(f, "object store error: {m}"),
            StoreError::Query(m) => write!(f, "query error: {m}"),
            StoreError::Io(m) => write!(f, "I/O error: {m}"),
            StoreError::Crypto(m) => write!(f, "cannot decrypt: {m}"),
            StoreError::Corrupt(m) => write!(f, "corrupt data: {m}"),
            StoreError::Full => f.write_str("the write-ahead log is full"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<datafusion::arrow::error::ArrowError> for StoreError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        StoreError::Format(e.to_string())
    }
}

impl From<parquet::errors::ParquetError> for StoreError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        classify_parquet_message(e.to_string())
    }
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        StoreError::ObjectStore(e.to_string())
    }
}

impl From<datafusion::error::DataFusionError> for StoreError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        match e.find_root() {
            D::ParquetError(p) => classify_parquet_message(p.to_string()),
            D::ObjectStore(o) => StoreError::ObjectStore(o.to_string()),
            _ => {
                let msg = e.to_string();
                if looks_like_decryption(&msg) {
                    StoreError::Decryption(msg)
                } else {
                    StoreError::Query(msg)
                }
            }
        }
    }
}

/// An encrypted file read with no key or a wrong key fails in the footer (AES-GCM tag
/// mismatch, or "encrypted footer" without decryption properties). Those are reported as
/// [`StoreError::Decryption`] so callers can tell them from corrupt input.
fn looks_like_decryption(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("decrypt") || m.contains("encrypt") || m.contains("aead") || m.contains("magic")
}

fn classify_parquet_message(msg: String) -> StoreError {
    if looks_like_decryption(&msg) {
        StoreError::Decryption(msg)
    } else {
        StoreError::Format(msg)
    }
}
