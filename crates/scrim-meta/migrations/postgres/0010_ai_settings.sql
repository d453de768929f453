-- Keep in step with ../sqlite/0010_ai_settings.sql.

-- AI diagnostics per tenant (off unless ai_config says enabled): the provider settings as
-- JSON, without the provider's API key, which is sealed apart under a key derived from the
-- tenant's data key (so destroying the tenant's keys shreds it too).
ALTER TABLE tenants ADD COLUMN ai_config TEXT;
ALTER TABLE tenants ADD COLUMN ai_api_key BYTEA;
