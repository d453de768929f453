-- Deletion requests (issue 8). Keep in step with ../postgres/0007_deletions.sql.
--
-- A deleted tenant's row stays, emptied: its data key is gone (crypto-shredding), its name
-- freed, its settings cleared; `deleted_at` hides it from every lookup. Its audit chain and
-- its deletion requests stay, so the erasure can still be proved and re-applied.
ALTER TABLE tenants ADD COLUMN deleted_at INTEGER;

-- Every deletion request, and the tombstone a restore re-applies. `erasure` is the rows a
-- selective request covers, as scrim-store's `Erasure` in JSON (opaque here).
CREATE TABLE deletions (
    id                 TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (id),
    scope              TEXT    NOT NULL CHECK (scope IN ('tenant', 'selective')),
    erasure            TEXT,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    requested_by       TEXT    NOT NULL,
    requested_at       INTEGER NOT NULL,
    claimed_at         INTEGER,
    finished_at        INTEGER,
    rows_removed       INTEGER NOT NULL DEFAULT 0 CHECK (rows_removed >= 0),
    segments_rewritten INTEGER NOT NULL DEFAULT 0 CHECK (segments_rewritten >= 0),
    error              TEXT,
    CHECK ((scope = 'selective') = (erasure IS NOT NULL))
);
CREATE INDEX deletions_tenant ON deletions (tenant_id, requested_at);
CREATE INDEX deletions_status ON deletions (status, requested_at);
