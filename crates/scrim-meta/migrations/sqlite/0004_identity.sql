-- Keep in step with ../postgres/0004_identity.sql: same tables, columns and constraints;
-- only the types differ. Times are Unix milliseconds.

-- People. A user belongs to tenants through memberships; the account itself is global so
-- that one person has one password and one second factor.
CREATE TABLE users (
    id                   TEXT    NOT NULL PRIMARY KEY,
    -- Lower-cased; the sign-in name.
    email                TEXT    NOT NULL UNIQUE,
    display_name         TEXT,
    -- Argon2id in PHC form (scrim-auth); NULL for an account that signs in by SSO only.
    password_hash        TEXT,
    -- TOTP secret sealed under the identity key (scrim-crypto, AAD = user id); NULL: none.
    totp_secret          BLOB,
    -- An enrolment begun but not yet confirmed with a code.
    totp_pending         BLOB,
    -- The last TOTP time step accepted, so a code is never accepted twice.
    totp_last_step       INTEGER,
    failed_logins        INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until         INTEGER,
    -- Sessions created before this instant are void ("sign out everywhere").
    sessions_valid_after INTEGER NOT NULL DEFAULT 0,
    -- The OpenID provider and subject of an SSO account.
    oidc_issuer          TEXT,
    oidc_subject         TEXT,
    created_at           INTEGER NOT NULL,
    disabled_at          INTEGER,
    UNIQUE (oidc_issuer, oidc_subject)
);

CREATE TABLE memberships (
    user_id    TEXT    NOT NULL REFERENCES users (id),
    tenant_id  TEXT    NOT NULL REFERENCES tenants (id),
    role       TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer', 'auditor')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX memberships_tenant ON memberships (tenant_id);

-- One-time recovery codes: salted SHA-256 (scrim-auth recovery); a used code is deleted.
CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id),
    code_hash BLOB NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Browser sessions, keyed by the SHA-256 of the cookie's token (scrim-auth session).
CREATE TABLE sessions (
    id           BLOB    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id),
    -- The tenant the session acts in: chosen at sign-in, changed only by a checked switch.
    tenant_id    TEXT    NOT NULL REFERENCES tenants (id),
    auth_method  TEXT    NOT NULL CHECK (auth_method IN ('password', 'password+totp', 'password+recovery', 'sso')),
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    addr         TEXT,
    user_agent   TEXT,
    revoked_at   INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Platform-wide data keys, wrapped by the master key like tenants' (the identity key that
-- seals TOTP secrets). Created once; concurrent nodes keep the first.
CREATE TABLE platform_keys (
    name        TEXT    NOT NULL PRIMARY KEY,
    wrapped_key BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Tenant security settings.
ALTER TABLE tenants ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0 CHECK (require_mfa IN (0, 1));
ALTER TABLE tenants ADD COLUMN require_sso INTEGER NOT NULL DEFAULT 0 CHECK (require_sso IN (0, 1));
-- OpenID Connect settings as JSON, without the client secret.
ALTER TABLE tenants ADD COLUMN sso_config TEXT;
-- The OIDC client secret, sealed under the tenant's data key.
ALTER TABLE tenants ADD COLUMN sso_client_secret BLOB;
-- Minutes; NULL: the server's defaults.
ALTER TABLE tenants ADD COLUMN session_idle_minutes INTEGER CHECK (session_idle_minutes BETWEEN 1 AND 1440);
ALTER TABLE tenants ADD COLUMN session_absolute_minutes INTEGER CHECK (session_absolute_minutes BETWEEN 1 AND 43200);

-- Who created a key: a user id (u_…) or a key id.
ALTER TABLE api_keys ADD COLUMN created_by TEXT;
