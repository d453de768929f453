-- Keep in step with ../sqlite/0003_tenant_capture_policy.sql.

-- A tenant's own capture policy (TOML, docs/capture-policy.md); NULL means the server's.
-- `policy_version` grows on every change, so nodes notice a change with a cheap read.
ALTER TABLE tenants ADD COLUMN capture_policy TEXT;
ALTER TABLE tenants ADD COLUMN policy_version BIGINT NOT NULL DEFAULT 0;
