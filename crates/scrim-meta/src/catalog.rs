//! The segment catalog: which Parquet segments exist, per tenant and signal, with the time
//! range and services each covers, so a query opens only the segments it needs.
//!
//! Every read and every change takes a [`TenantId`] and filters on it in SQL: a tenant
//! never sees, replaces or deletes another tenant's segments.

use std::fmt;
use std::time::SystemTime;

use sqlx::Row;

use crate::BeginWrite as _;
use crate::error::{MetaError, classify};
use crate::{Meta, TenantId, from_ms, now_ms, on_pool};

/// The kind of telemetry a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    fn from_db(s: &str) -> Result<Self, MetaError> {
        match s {
            "traces" => Ok(Signal::Traces),
            "logs" => Ok(Signal::Logs),
            "metrics" => Ok(Signal::Metrics),
            _ => Err(MetaError::Corrupt {
                what: "segment signal",
            }),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A half-open time range `[start_ns, end_ns)` in Unix nanoseconds. A segment matches when
/// its own (inclusive) range `[min_time_ns, max_time_ns]` overlaps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start_ns: i64,
    pub end_ns: i64,
}

impl TimeRange {
    pub fn new(start_ns: i64, end_ns: i64) -> Self {
        Self { start_ns, end_ns }
    }

    /// Every representable time.
    pub fn all() -> Self {
        Self {
            start_ns: i64::MIN,
            end_ns: i64::MAX,
        }
    }
}

/// A segment to add to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSegment {
    pub signal: Signal,
    /// Where the segment is in the object store; unique across all tenants.
    pub path: String,
    /// Earliest and latest timestamp in the segment, inclusive, Unix nanoseconds.
    pub min_time_ns: i64,
    pub max_time_ns: i64,
    pub rows: u64,
    pub bytes: u64,
    /// `service.name` values present in the segment. Order and duplicates do not matter.
    pub services: Vec<String>,
    /// Span segments: their sealed trace-id filter (opaque here, at most 16 MiB), read back
    /// with [`Meta::trace_filters`].
    pub trace_filter: Option<Vec<u8>>,
    /// The version of the tenant's data key the segment (and its trace filter) is
    /// encrypted under, 1 or more.
    pub key_version: u32,
}

/// How far one WAL of a tenant has been flushed into catalogued segments: every record up
/// to and including this position is in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalMark {
    /// Random per WAL directory.
    pub wal_id: String,
    pub segment: u64,
    pub offset: u64,
}

/// A segment in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub tenant_id: TenantId,
    pub signal: Signal,
    pub path: String,
    pub min_time_ns: i64,
    pub max_time_ns: i64,
    pub rows: u64,
    pub bytes: u64,
    /// Sorted, without duplicates.
    pub services: Vec<String>,
    pub created_at: SystemTime,
    /// The version of the tenant's data key the segment is encrypted under.
    pub key_version: u32,
}

const MAX_PATH: usize = 1024;
const MAX_SERVICE: usize = 256;
const MAX_SERVICES: usize = 10_000;
const MAX_TRACE_FILTER: usize = 16 << 20;
const MAX_WAL_ID: usize = 64;

/// A checked [`NewSegment`], with the values as the database stores them.
struct Checked<'a> {
    new: &'a NewSegment,
    rows: i64,
    bytes: i64,
    key_version: i32,
    services: Vec<&'a str>,
}

fn check(new: &NewSegment) -> Result<Checked<'_>, MetaError> {
    let invalid = |field, reason| Err(MetaError::Invalid { field, reason });
    if new.path.is_empty() || new.path.len() > MAX_PATH {
        return invalid("segment path", "must be 1 to 1024 bytes long");
    }
    if new.min_time_ns > new.max_time_ns {
        return invalid("segment time range", "min_time_ns is after max_time_ns");
    }
    let (Ok(rows), Ok(bytes)) = (i64::try_from(new.rows), i64::try_from(new.bytes)) else {
        return invalid(
            "segment size",
            "rows and bytes must fit in a signed 64-bit integer",
        );
    };
    let key_version = match i32::try_from(new.key_version) {
        Ok(v) if v >= 1 => v,
        _ => return invalid("segment key version", "must be 1 to 2^31 - 1"),
    };
    let mut services: Vec<&str> = new.services.iter().map(String::as_str).collect();
    services.sort_unstable();
    services.dedup();
    if new
        .trace_filter
        .as_ref()
        .is_some_and(|f| f.len() > MAX_TRACE_FILTER)
    {
        return invalid("trace filter", "at most 16 MiB");
    }
    if services.len() > MAX_SERVICES {
        return invalid("segment services", "at most 10000 services per segment");
    }
    if services
        .iter()
        .any(|s| s.is_empty() || s.len() > MAX_SERVICE)
    {
        return invalid("service name", "must be 1 to 256 bytes long");
    }
    Ok(Checked {
        new,
        rows,
        bytes,
        key_version,
        services,
    })
}

/// A mark's values as the database stores them.
fn check_mark(mark: &WalMark) -> Result<(&str, i64, i64), MetaError> {
    let invalid = |field, reason| Err(MetaError::Invalid { field, reason });
    if mark.wal_id.is_empty() || mark.wal_id.len() > MAX_WAL_ID {
        return invalid("WAL id", "must be 1 to 64 bytes long");
    }
    match (i64::try_from(mark.segment), i64::try_from(mark.offset)) {
        (Ok(s), Ok(o)) => Ok((mark.wal_id.as_str(), s, o)),
        _ => invalid(
            "WAL mark",
            "segment and offset must fit in a signed 64-bit integer",
        ),
    }
}

fn check_range(range: TimeRange) -> Result<(), MetaError> {
    if range.start_ns > range.end_ns {
        return Err(MetaError::Invalid {
            field: "time range",
            reason: "start is after end",
        });
    }
    Ok(())
}

const INSERT_SEGMENT: &str = "INSERT INTO segments (tenant_id, signal, path, min_time_ns, \
     max_time_ns, row_count, byte_count, created_at, trace_filter, key_version) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
const INSERT_SERVICE: &str = "INSERT INTO segment_services (segment_id, service) VALUES ($1, $2)";

/// Inserts one checked segment and its services with `$conn` (a transaction).
macro_rules! insert_segment {
    ($conn:expr, $tenant:expr, $c:expr, $created_at:expr) => {{
        let c = $c;
        let id: i64 = sqlx::query(INSERT_SEGMENT)
            .bind($tenant.as_str())
            .bind(c.new.signal.as_str())
            .bind(&c.new.path)
            .bind(c.new.min_time_ns)
            .bind(c.new.max_time_ns)
            .bind(c.rows)
            .bind(c.bytes)
            .bind($created_at)
            .bind(c.new.trace_filter.as_deref())
            .bind(c.key_version)
            .fetch_one(&mut *$conn)
            .await
            .map_err(|e| classify(e, "segment path", "tenant"))?
            .try_get("id")?;
        for service in &c.services {
            sqlx::query(INSERT_SERVICE)
                .bind(id)
                .bind(*service)
                .execute(&mut *$conn)
                .await?;
        }
    }};
}

fn segment_of(tenant: &TenantId, c: &Checked<'_>, created_at: i64) -> Segment {
    Segment {
        tenant_id: tenant.clone(),
        signal: c.new.signal,
        path: c.new.path.clone(),
        min_time_ns: c.new.min_time_ns,
        max_time_ns: c.new.max_time_ns,
        rows: c.new.rows,
        bytes: c.new.bytes,
        services: c.services.iter().map(|s| (*s).to_owned()).collect(),
        created_at: from_ms(created_at),
        key_version: c.new.key_version,
    }
}

impl Meta {
    /// Adds a segment of `tenant` to the catalog. A path already in the catalog is
    /// `AlreadyExists { what: "segment path" }`; an unknown tenant is `NotFound`.
    pub async fn record_segment(
        &self,
        tenant: &TenantId,
        new: &NewSegment,
    ) -> Result<Segment, MetaError> {
        let c = check(new)?;
        let created_at = now_ms();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            insert_segment!(tx, tenant, &c, created_at);
            tx.commit().await?;
        });
        Ok(segment_of(tenant, &c, created_at))
    }

    /// Records everything one flush of a WAL wrote, in one transaction: the segments, and
    /// the WAL position they cover (`mark`), so that a node that crashes before its WAL
    /// forgets those records can tell, on restart, that they are already in segments
    /// ([`Meta::wal_mark`]). Either all of it is recorded or none.
    pub async fn record_flush(
        &self,
        tenant: &TenantId,
        segments: &[NewSegment],
        mark: Option<&WalMark>,
    ) -> Result<Vec<Segment>, MetaError> {
        let checked = segments.iter().map(check).collect::<Result<Vec<_>, _>>()?;
        let mark = mark.map(check_mark).transpose()?;
        let created_at = now_ms();
        let upsert = "INSERT INTO wal_marks (tenant_id, wal_id, wal_segment, wal_offset, \
             updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, wal_id) DO UPDATE \
             SET wal_segment = excluded.wal_segment, wal_offset = excluded.wal_offset, \
             updated_at = excluded.updated_at";
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // A tenant deleted meanwhile (by another node) gets no new segment: its key is
            // gone, and what this node flushed is the caller's to drop.
            let live: Option<String> = sqlx::query_scalar(
                "SELECT id FROM tenants WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if live.is_none() {
                return Err(MetaError::NotFound { what: "tenant" });
            }
            for c in &checked {
                insert_segment!(tx, tenant, c, created_at);
            }
            if let Some((wal_id, segment, offset)) = mark {
                sqlx::query(upsert)
                    .bind(tenant.as_str())
                    .bind(wal_id)
                    .bind(segment)
                    .bind(offset)
                    .bind(created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| classify(e, "WAL mark", "tenant"))?;
            }
            tx.commit().await?;
        });
        Ok(checked
            .iter()
            .map(|c| segment_of(tenant, c, created_at))
            .collect())
    }

    /// The last position of WAL `wal_id` recorded by [`Meta::record_flush`], if any.
    pub async fn wal_mark(
        &self,
        tenant: &TenantId,
        wal_id: &str,
    ) -> Result<Option<WalMark>, MetaError> {
        let sql = "SELECT wal_segment, wal_offset FROM wal_marks \
             WHERE tenant_id = $1 AND wal_id = $2";
        let row: Option<(i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(tenant.as_str())
                .bind(wal_id)
                .fetch_optional(pool)
                .await?
        });
        let corrupt = |_| MetaError::Corrupt { what: "WAL mark" };
        row.map(|(segment, offset)| {
            Ok(WalMark {
                wal_id: wal_id.to_owned(),
                segment: u64::try_from(segment).map_err(corrupt)?,
                offset: u64::try_from(offset).map_err(corrupt)?,
            })
        })
        .transpose()
    }

    /// The trace filters of `tenant`'s span segments, by path (segments without one are
    /// left out). Read apart from [`Meta::segments`] because only trace lookups need them
    /// and they are the bulk of the catalog's bytes.
    pub async fn trace_filters(
        &self,
        tenant: &TenantId,
    ) -> Result<std::collections::HashMap<String, Vec<u8>>, MetaError> {
        let sql = "SELECT path, trace_filter FROM segments \
             WHERE tenant_id = $1 AND signal = 'traces' AND trace_filter IS NOT NULL";
        let rows: Vec<(String, Vec<u8>)> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(tenant.as_str()).fetch_all(pool).await?
        });
        Ok(rows.into_iter().collect())
    }

    /// The segments of `tenant` and `signal` that overlap `range` and, when `service` is
    /// given, contain that service; ordered by `min_time_ns`.
    pub async fn segments(
        &self,
        tenant: &TenantId,
        signal: Signal,
        range: TimeRange,
        service: Option<&str>,
    ) -> Result<Vec<Segment>, MetaError> {
        check_range(range)?;
        // One round trip: the segments joined with their services, grouped below.
        let mut sql = String::from(
            "SELECT s.id, s.signal, s.path, s.min_time_ns, s.max_time_ns, s.row_count, \
             s.byte_count, s.created_at, s.key_version, ss.service \
             FROM segments s LEFT JOIN segment_services ss ON ss.segment_id = s.id \
             WHERE s.tenant_id = $1 AND s.signal = $2 \
             AND s.max_time_ns >= $3 AND s.min_time_ns < $4",
        );
        if service.is_some() {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM segment_services f \
                 WHERE f.segment_id = s.id AND f.service = $5)",
            );
        }
        sql.push_str(" ORDER BY s.min_time_ns, s.id, ss.service");

        let mut out: Vec<Segment> = Vec::new();
        let mut last_id: Option<i64> = None;
        on_pool!(self, pool => {
            let mut query = sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(signal.as_str())
                .bind(range.start_ns)
                .bind(range.end_ns);
            if let Some(service) = service {
                query = query.bind(service);
            }
            for row in query.fetch_all(pool).await? {
                let id: i64 = row.try_get("id")?;
                let svc: Option<String> = row.try_get("service")?;
                if last_id != Some(id) {
                    last_id = Some(id);
                    let signal: String = row.try_get("signal")?;
                    let rows: i64 = row.try_get("row_count")?;
                    let bytes: i64 = row.try_get("byte_count")?;
                    let corrupt = |_| MetaError::Corrupt { what: "segment size" };
                    let key_version: i32 = row.try_get("key_version")?;
                    out.push(Segment {
                        tenant_id: tenant.clone(),
                        signal: Signal::from_db(&signal)?,
                        path: row.try_get("path")?,
                        min_time_ns: row.try_get("min_time_ns")?,
                        max_time_ns: row.try_get("max_time_ns")?,
                        rows: u64::try_from(rows).map_err(corrupt)?,
                        bytes: u64::try_from(bytes).map_err(corrupt)?,
                        services: Vec::new(),
                        created_at: from_ms(row.try_get("created_at")?),
                        key_version: u32::try_from(key_version).map_err(|_| {
                            MetaError::Corrupt { what: "segment key version" }
                        })?,
                    });
                }
                if let (Some(svc), Some(seg)) = (svc, out.last_mut()) {
                    seg.services.push(svc);
                }
            }
        });
        Ok(out)
    }

    /// How many of `tenant`'s segments (all signals) are encrypted under each version of
    /// its data key, by version; versions without segments are left out. After a rotation,
    /// the older versions' counts fall as compaction rewrites their segments.
    pub async fn segments_per_key_version(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<(u32, u64)>, MetaError> {
        let sql = "SELECT key_version, COUNT(*) AS n FROM segments WHERE tenant_id = $1 \
             GROUP BY key_version ORDER BY key_version";
        let rows: Vec<(i32, i64)> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(tenant.as_str()).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(v, n)| match (u32::try_from(v), u64::try_from(n)) {
                (Ok(v), Ok(n)) => Ok((v, n)),
                _ => Err(MetaError::Corrupt {
                    what: "segment key version",
                }),
            })
            .collect()
    }

    /// Replaces segments of `tenant` by `new` in one transaction (compaction): either every
    /// path in `old` is removed and `new` added, or nothing changes. Each old path must be a
    /// segment of this tenant with `new`'s signal, else `NotFound { what: "segment" }`.
    /// `new.path` may be one of `old`. Every other old path is remembered as replaced by
    /// `new.path` ([`Meta::replacements`]), so that a restore from backup does not put it
    /// back beside its replacement.
    pub async fn replace_segments<S: AsRef<str>>(
        &self,
        tenant: &TenantId,
        old: &[S],
        new: &NewSegment,
    ) -> Result<Segment, MetaError> {
        let c = check(new)?;
        let created_at = now_ms();
        let delete = "DELETE FROM segments WHERE tenant_id = $1 AND signal = $2 AND path = $3 \
             RETURNING max_time_ns";
        let remember = "INSERT INTO replaced_segments (tenant_id, path, replaced_by, \
             max_time_ns, replaced_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, path) DO UPDATE SET replaced_by = excluded.replaced_by, \
             max_time_ns = excluded.max_time_ns, replaced_at = excluded.replaced_at";
        on_pool!(self, pool => {
            // Dropping `tx` on an early return rolls it back.
            let mut tx = pool.begin_write().await?;
            // The first statement writes, so SQLite takes its write lock at once (a
            // deferred transaction that read first could fail to upgrade).
            for path in old {
                let path = path.as_ref();
                let deleted: Vec<(i64,)> = sqlx::query_as(delete)
                    .bind(tenant.as_str())
                    .bind(new.signal.as_str())
                    .bind(path)
                    .fetch_all(&mut *tx)
                    .await?;
                let [(max_time_ns,)] = deleted[..] else {
                    return Err(MetaError::NotFound { what: "segment" });
                };
                if path != new.path {
                    sqlx::query(remember)
                        .bind(tenant.as_str())
                        .bind(path)
                        .bind(&new.path)
                        .bind(max_time_ns)
                        .bind(created_at)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            insert_segment!(tx, tenant, &c, created_at);
            tx.commit().await?;
        });
        Ok(segment_of(tenant, &c, created_at))
    }

    /// Which of `tenant`'s former segments were replaced, and by which path (compaction
    /// and rewrites, through [`Meta::replace_segments`]): old path to new path. A
    /// replacement may itself have been replaced since; follow the chain.
    pub async fn replacements(
        &self,
        tenant: &TenantId,
    ) -> Result<std::collections::HashMap<String, String>, MetaError> {
        let sql = "SELECT path, replaced_by FROM replaced_segments WHERE tenant_id = $1";
        let rows: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(tenant.as_str()).fetch_all(pool).await?
        });
        Ok(rows.into_iter().collect())
    }

    /// Forgets the replacements of `tenant` whose replaced segment's newest row is older
    /// than `before_ns` (past the tenant's retention: a restore skips those segments
    /// anyway). Returns how many were forgotten.
    pub async fn forget_replacements(
        &self,
        tenant: &TenantId,
        before_ns: i64,
    ) -> Result<u64, MetaError> {
        let sql = "DELETE FROM replaced_segments WHERE tenant_id = $1 AND max_time_ns < $2";
        Ok(on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(before_ns)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// Removes segments of `tenant` from the catalog (retention, deletion requests) and
    /// returns how many were removed. Paths that are not this tenant's are ignored.
    pub async fn delete_segments<S: AsRef<str>>(
        &self,
        tenant: &TenantId,
        paths: &[S],
    ) -> Result<u64, MetaError> {
        let delete = "DELETE FROM segments WHERE tenant_id = $1 AND path = $2";
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut deleted = 0;
            for path in paths {
                deleted += sqlx::query(delete)
                    .bind(tenant.as_str())
                    .bind(path.as_ref())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(deleted)
        })
    }
}
