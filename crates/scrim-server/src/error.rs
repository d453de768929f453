use std::fmt;

/// Why a platform operation failed. Messages name what went wrong, never a key or a value
/// of telemetry.
#[derive(Debug)]
pub enum ServerError {
    /// The caller asked for something invalid (a bad name, an unknown tenant): exit code 2
    /// on the command line, 4xx on the API.
    Usage(String),
    /// The access check refused the action (403 on the API).
    Forbidden(String),
    /// The metadata database failed.
    Meta(scrim_meta::MetaError),
    /// The master key or a data key could not be used.
    Crypto(scrim_crypto::CryptoError),
    /// The file system failed.
    Io(std::io::Error),
    /// Segments, the WAL or a query failed.
    Store(scrim_store::StoreError),
    /// The audit record of the action could not be written, so the action was not done
    /// (503 on the API).
    AuditUnavailable,
    /// The tenant's telemetry lives in a region this node does not serve (421 on the
    /// APIs): it is neither read nor written here.
    OtherRegion { region: String, served: String },
    /// The tenant's reads are frozen by containment (423 on the API); ingest goes on.
    ReadsFrozen,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Usage(m) | ServerError::Forbidden(m) => f.write_str(m),
            ServerError::Meta(e) => write!(f, "metadata database: {e}"),
            ServerError::Crypto(e) => write!(f, "{e}"),
            ServerError::Io(e) => write!(f, "{e}"),
            ServerError::Store(e) => write!(f, "storage: {e}"),
            ServerError::AuditUnavailable => write!(f, "{}", crate::audit::AuditUnavailable),
            ServerError::ReadsFrozen => f.write_str(
                "reads of this tenant's telemetry are frozen (containment); an owner or admin \
                 can lift it with POST /api/v1/containment/unfreeze-reads",
            ),
            ServerError::OtherRegion { region, served } => write!(
                f,
                "the tenant's data stays in region {region}, which this node does not serve \
                 (it serves {served}): send its requests to a node of region {region}"
            ),
        }
    }
}

impl std::error::Error for ServerError {}

impl From<scrim_meta::MetaError> for ServerError {
    fn from(e: scrim_meta::MetaError) -> Self {
        match e {
            scrim_meta::MetaError::Invalid { .. }
            | scrim_meta::MetaError::AlreadyExists { .. }
            | scrim_meta::MetaError::NotFound { .. }
            | scrim_meta::MetaError::UnsupportedUrl => ServerError::Usage(e.to_string()),
            e => ServerError::Meta(e),
        }
    }
}

impl From<scrim_crypto::CryptoError> for ServerError {
    fn from(e: scrim_crypto::CryptoError) -> Self {
        ServerError::Crypto(e)
    }
}

impl From<std::io::Error> for ServerError {
    fn from(e: std::io::Error) -> Self {
        ServerError::Io(e)
    }
}

impl From<scrim_store::StoreError> for ServerError {
    fn from(e: scrim_store::StoreError) -> Self {
        match e {
            scrim_store::StoreError::InvalidInput(m) => ServerError::Usage(m),
            e => ServerError::Store(e),
        }
    }
}

impl From<crate::audit::AuditUnavailable> for ServerError {
    fn from(_: crate::audit::AuditUnavailable) -> Self {
        ServerError::AuditUnavailable
    }
}
