-- Keep in step with ../sqlite/0006_api_key_addresses.sql. Times are Unix milliseconds.

-- Every address each API key has been used from. The server writes the audit record "API key
-- used from a new address" only when its insert here is the one that created the row, so
-- the record is written once per key and address even with several nodes. Keys are only
-- ever revoked, never deleted, so these rows are kept as long as the key's own row.
CREATE TABLE api_key_addresses (
    key_id        TEXT    NOT NULL,
    addr          TEXT    NOT NULL,
    first_seen_ms BIGINT  NOT NULL,
    PRIMARY KEY (key_id, addr)
);
