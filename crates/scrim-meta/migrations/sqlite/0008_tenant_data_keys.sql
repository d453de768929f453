-- Keep in step with ../postgres/0008_tenant_data_keys.sql. Times are Unix milliseconds.

-- Every data key of every tenant, by version, each wrapped by the master key (opaque here).
-- The highest version is the current key: new segments and WAL records are written under
-- it. Older versions stay so that what was written under them can be read until compaction
-- rewrites it under the current key. Version 1 is the key the tenant was created with; the
-- tenant's pseudonyms and SSO secret are derived from it, so it is never removed but with
-- all the others (crypto-shredding: `Meta::destroy_tenant_keys`).
CREATE TABLE tenant_data_keys (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    version     INTEGER NOT NULL CHECK (version >= 1),
    wrapped_key BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

-- The key each tenant had until now becomes its version 1, and lives only here: one place
-- to rewrap on a master rotation and one place to destroy. A deleted tenant (0007) has no
-- key left to move: it was overwritten with nothing.
INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key, created_at)
    SELECT id, 1, wrapped_data_key, created_at FROM tenants
    WHERE deleted_at IS NULL AND length(wrapped_data_key) > 0;
ALTER TABLE tenants DROP COLUMN wrapped_data_key;

-- The version of the data key each segment is encrypted under (its Parquet footer names
-- the same key as `{tenant}-{version}`). Everything written before this migration was
-- under version 1.
ALTER TABLE segments ADD COLUMN key_version INTEGER NOT NULL DEFAULT 1 CHECK (key_version >= 1);
