-- Keep in step with ../sqlite/0002_trace_filters_and_wal_marks.sql.

-- Span segments: their trace ids as a Bloom filter, sealed under the tenant's key
-- (scrim-store trace_filter), so a trace lookup opens only the segments that may hold it.
ALTER TABLE segments ADD COLUMN trace_filter BYTEA;

-- How far each node's WAL has been flushed into catalogued segments. Written in the same
-- transaction as the segments, so after a crash between that transaction and the WAL's own
-- acknowledgement the replayed records already in segments are recognised and dropped.
-- `wal_id` is random per WAL directory: a recreated WAL never matches an old mark.
CREATE TABLE wal_marks (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    wal_id      TEXT    NOT NULL,
    wal_segment BIGINT  NOT NULL CHECK (wal_segment >= 0),
    wal_offset  BIGINT  NOT NULL CHECK (wal_offset >= 0),
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, wal_id)
);
