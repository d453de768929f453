-- Keep in step with ../sqlite/0005_audit.sql. Times are Unix milliseconds.

-- The audit log (scrim-audit): one hash chain per tenant ('-' for platform-wide actions).
-- `body` is the whole record as scrim-audit wrote it, and what verification reads; the
-- other columns repeat some of its fields for filtering, and verification checks that they
-- agree with it. Rows are only ever inserted (and, after the retention period, deleted
-- from the oldest end by a job that writes its own record).
CREATE TABLE audit_records (
    tenant    TEXT    NOT NULL,
    seq       BIGINT  NOT NULL CHECK (seq >= 1),
    at_ms     BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    body      TEXT    NOT NULL,
    prev_hash BYTEA   NOT NULL,
    hash      BYTEA   NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX audit_records_time ON audit_records (tenant, at_ms);

-- The end of each chain: appends serialise on this row, so two nodes never write the
-- same sequence number or fork the chain.
CREATE TABLE audit_heads (
    tenant TEXT    NOT NULL PRIMARY KEY,
    seq    BIGINT  NOT NULL CHECK (seq >= 0),
    hash   BYTEA   NOT NULL
);

-- Signed checkpoints: "tenant T had record seq with hash H at time X", signed with the
-- audit key (not a data key), so a truncated or rewritten chain is caught.
CREATE TABLE audit_checkpoints (
    tenant    TEXT    NOT NULL,
    seq       BIGINT  NOT NULL CHECK (seq >= 1),
    body      TEXT    NOT NULL,
    signature BYTEA   NOT NULL,
    key_id    TEXT    NOT NULL,
    at_ms     BIGINT  NOT NULL,
    PRIMARY KEY (tenant, seq)
);
