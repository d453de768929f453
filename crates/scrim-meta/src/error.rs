use std::fmt;

/// What went wrong in a metadata operation. Messages name the field or the kind of record,
/// never a secret (no key, no hash, no wrapped data key, no connection URL).
#[derive(Debug)]
#[non_exhaustive]
pub enum MetaError {
    /// An argument was refused before reaching the database.
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    /// A unique value is taken: `what` names it ("tenant name", "segment path", …).
    AlreadyExists {
        what: &'static str,
    },
    /// The record (or one of the records) the operation needs does not exist for this
    /// tenant.
    NotFound {
        what: &'static str,
    },
    /// The URL is neither `sqlite:` nor `postgres://` / `postgresql://`.
    UnsupportedUrl,
    /// A stored value could not be read back (e.g. an unknown scope in a row written by a
    /// newer version).
    Corrupt {
        what: &'static str,
    },
    /// The operating system's random generator failed.
    Random(getrandom::Error),
    Io(std::io::Error),
    Migrate(sqlx::migrate::MigrateError),
    Database(sqlx::Error),
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { field, reason } => write!(f, "invalid {field}: {reason}"),
            Self::AlreadyExists { what } => write!(f, "{what} already exists"),
            Self::NotFound { what } => write!(f, "{what} not found"),
            Self::UnsupportedUrl => {
                f.write_str("unsupported metadata database URL: expected sqlite:… or postgres://…")
            }
            Self::Corrupt { what } => write!(f, "unreadable {what} in the metadata database"),
            Self::Random(e) => write!(f, "random generator failed: {e}"),
            Self::Io(e) => write!(f, "metadata database directory: {e}"),
            Self::Migrate(e) => write!(f, "metadata database migration failed: {e}"),
            Self::Database(e) => write!(f, "metadata database: {e}"),
        }
    }
}

impl std::error::Error for MetaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Migrate(e) => Some(e),
            Self::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for MetaError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for MetaError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migrate(e)
    }
}

impl From<getrandom::Error> for MetaError {
    fn from(e: getrandom::Error) -> Self {
        Self::Random(e)
    }
}

/// Maps a unique violation to `AlreadyExists { what }` and a foreign-key violation to
/// `NotFound { what: missing }`; other errors pass through.
pub(crate) fn classify(e: sqlx::Error, what: &'static str, missing: &'static str) -> MetaError {
    if let sqlx::Error::Database(db) = &e {
        match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => return MetaError::AlreadyExists { what },
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                return MetaError::NotFound { what: missing };
            }
            _ => {}
        }
    }
    MetaError::Database(e)
}
