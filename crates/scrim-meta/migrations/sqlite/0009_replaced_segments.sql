-- Keep in step with ../postgres/0009_replaced_segments.sql. Times are Unix milliseconds,
-- except max_time_ns (Unix nanoseconds, as in segments).

-- Which segment replaced which: compaction merges segments into one, and rewrites (deletion
-- requests) replace a segment by a new one, through Meta::replace_segments, which writes a
-- row here for every path it removes. A restore from backup reads them so that a backed-up
-- segment whose rows now live in its replacement is not put back beside it (its rows would
-- be counted twice). Rows go once the replaced segment is past its tenant's retention
-- (a restore skips such segments anyway). No foreign key: these rows never stop a tenant or
-- a segment from going.
CREATE TABLE replaced_segments (
    tenant_id   TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    replaced_by TEXT    NOT NULL,
    max_time_ns INTEGER NOT NULL,
    replaced_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, path)
);
CREATE INDEX replaced_segments_time ON replaced_segments (tenant_id, max_time_ns);
