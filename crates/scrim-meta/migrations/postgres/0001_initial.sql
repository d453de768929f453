-- Scrim metadata, PostgreSQL. Keep in step with ../sqlite/0001_initial.sql: same tables,
-- columns and constraints; only the types differ. Times are Unix milliseconds, except the
-- segment time range, which is Unix nanoseconds like the telemetry it describes.

CREATE TABLE tenants (
    id               TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    region           TEXT    NOT NULL DEFAULT 'local',
    retention_days   INTEGER NOT NULL DEFAULT 30 CHECK (retention_days BETWEEN 1 AND 3650),
    -- Opaque: the tenant's data key, wrapped by the master key (scrim-crypto).
    wrapped_data_key BYTEA   NOT NULL,
    created_at       BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    id             TEXT    NOT NULL PRIMARY KEY,
    tenant_id      TEXT    NOT NULL REFERENCES tenants (id),
    -- SHA-256 over a domain tag, the id and the secret (scrim-auth); never the secret.
    secret_hash    BYTEA   NOT NULL,
    scopes         TEXT    NOT NULL,
    name           TEXT,
    description    TEXT,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT,
    last_used_at   BIGINT,
    last_used_addr TEXT,
    revoked_at     BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE segments (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    signal      TEXT    NOT NULL CHECK (signal IN ('traces', 'logs', 'metrics')),
    path        TEXT    NOT NULL UNIQUE,
    min_time_ns BIGINT  NOT NULL,
    max_time_ns BIGINT  NOT NULL,
    row_count   BIGINT  NOT NULL CHECK (row_count >= 0),
    byte_count  BIGINT  NOT NULL CHECK (byte_count >= 0),
    created_at  BIGINT  NOT NULL,
    CHECK (min_time_ns <= max_time_ns)
);
-- Every catalog read starts with tenant and signal, then prunes by time.
CREATE INDEX segments_tenant_signal_time ON segments (tenant_id, signal, min_time_ns);

-- One row per service present in a segment: pruning by service is an indexed EXISTS.
CREATE TABLE segment_services (
    segment_id BIGINT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    service    TEXT   NOT NULL,
    PRIMARY KEY (segment_id, service)
);
