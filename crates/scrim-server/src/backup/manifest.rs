//! A backup's manifest: every tenant backed up and every catalog row, complete on its own.
//! It never holds a key: not the backup key, not a tenant's data key, wrapped or not.

use serde::{Deserialize, Serialize};

use crate::ServerError;

/// The format this version writes and reads.
pub const FORMAT: u32 = 1;

/// One backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Sortable by time: `20261124T101500123Z`.
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    pub scrim_version: String,
    /// The public id of the backup key everything in this backup is sealed under.
    pub backup_key_id: String,
    pub tenants: Vec<ManifestTenant>,
}

/// A tenant as it was when backed up: who it is and its settings, never its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestTenant {
    pub id: String,
    pub name: String,
    pub region: String,
    pub retention_days: u16,
    /// The tenant's own capture policy (TOML), if it had one.
    pub capture_policy: Option<String>,
    pub policy_version: i64,
    pub segments: Vec<ManifestSegment>,
}

/// One catalog row and the object it describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSegment {
    /// `traces`, `logs` or `metrics`.
    pub signal: String,
    /// The object's path in the segment store; in the backup, `objects/<path>`.
    pub path: String,
    pub min_time_ns: i64,
    pub max_time_ns: i64,
    pub rows: u64,
    pub bytes: u64,
    pub services: Vec<String>,
    /// Span segments: the sealed trace-id filter (sealed under a key derived from the
    /// tenant's data key), base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_filter: Option<String>,
    /// The id of the tenant data key the segment is encrypted under (an id, not a key).
    pub key_id: String,
    /// SHA-256 of the segment file, hex.
    pub hash: String,
}

impl Manifest {
    /// Every segment in the manifest.
    pub fn segments(&self) -> usize {
        self.tenants.iter().map(|t| t.segments.len()).sum()
    }

    /// Every segment's bytes.
    pub fn bytes(&self) -> u64 {
        self.tenants
            .iter()
            .flat_map(|t| &t.segments)
            .map(|s| s.bytes)
            .sum()
    }

    pub(crate) fn parse(bytes: &[u8]) -> Result<Manifest, ServerError> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            ServerError::Usage(format!("the backup's manifest does not parse: {e}"))
        })?;
        if m.format != FORMAT {
            return Err(ServerError::Usage(format!(
                "the backup's manifest has format {}; this version reads format {FORMAT}",
                m.format
            )));
        }
        Ok(m)
    }
}

const ID_FORMAT: &str = "%Y%m%dT%H%M%S%3fZ";

/// The id of a backup made at `at_ms` (Unix milliseconds).
pub(crate) fn id_at(at_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap_or_default()
        .format(ID_FORMAT)
        .to_string()
}

/// The time (Unix milliseconds) of a backup id, or `None` if it is not one.
pub(crate) fn id_time(id: &str) -> Option<i64> {
    if id.len() != 19 {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(id, ID_FORMAT)
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// A new id at `now_ms`, later than every id in `existing`, so that "the latest backup" is
/// always the one made last.
pub(crate) fn next_id(now_ms: i64, existing: &[String]) -> String {
    let latest = existing.iter().filter_map(|id| id_time(id)).max();
    id_at(match latest {
        Some(t) if t >= now_ms => t + 1,
        _ => now_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_never_repeat() {
        let a = id_at(1_735_787_045_678);
        assert_eq!(a, "20250102T030405678Z");
        assert_eq!(id_time(&a), Some(1_735_787_045_678));
        assert_eq!(id_time("../x"), None);
        assert_eq!(id_time("20250102T030405678"), None);
        let b = next_id(1_735_787_045_678, std::slice::from_ref(&a));
        assert!(b > a, "{b} > {a}");
        let c = next_id(1_000, &[a.clone(), b.clone()]);
        assert!(c > b);
        assert_eq!(next_id(1_735_787_046_000, &[a]), "20250102T030406000Z");
    }
}
