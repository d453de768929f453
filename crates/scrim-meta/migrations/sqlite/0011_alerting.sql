-- Alerts, notifications, sensitive-data insights and containment (issue 11).
-- Keep in step with ../postgres/0011_alerting.sql: same tables, columns and constraints;
-- only the types differ. Times are Unix milliseconds.

-- Alert rules. `spec` is the rule itself (what to measure, the threshold, for how long) as
-- JSON, owned by the evaluator and opaque here. The evaluation state lives on the row so
-- that any node can take the evaluation over: `ok`, `pending` (over the threshold, not for
-- long enough yet) or `firing`, since `state_since`.
CREATE TABLE alert_rules (
    id                TEXT    NOT NULL PRIMARY KEY,
    tenant_id         TEXT    NOT NULL REFERENCES tenants (id),
    name              TEXT    NOT NULL,
    spec              TEXT    NOT NULL,
    enabled           INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at        INTEGER NOT NULL,
    created_by        TEXT,
    updated_at        INTEGER NOT NULL,
    state             TEXT    NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'pending', 'firing')),
    state_since       INTEGER,
    last_value        REAL,
    last_evaluated_at INTEGER,
    UNIQUE (tenant_id, name)
);

-- Every change of an alert to firing or back to resolved. No foreign key to the rule: the
-- history outlives it (the rule's name is copied for that reason).
CREATE TABLE alert_events (
    id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT    NOT NULL,
    rule_id   TEXT    NOT NULL,
    rule_name TEXT    NOT NULL,
    state     TEXT    NOT NULL CHECK (state IN ('firing', 'resolved')),
    value     REAL,
    threshold REAL NOT NULL,
    at_ms     INTEGER NOT NULL
);
CREATE INDEX alert_events_time ON alert_events (tenant_id, at_ms);

-- Where notifications go. `settings` is the public part as JSON (a URL's host, an address);
-- `secret` (a webhook URL with its token, a signing key) is sealed by the caller under a key
-- derived from the tenant's data key, opaque here, so destroying the tenant's keys shreds it.
CREATE TABLE notification_channels (
    id         TEXT    NOT NULL PRIMARY KEY,
    tenant_id  TEXT    NOT NULL REFERENCES tenants (id),
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    settings   TEXT    NOT NULL,
    secret     BLOB    NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at INTEGER NOT NULL,
    created_by TEXT,
    UNIQUE (tenant_id, name)
);

-- Every notification, with its payload already redacted by the caller (it is shown in the
-- UI and sent out as it is stored).
CREATE TABLE notifications (
    id         TEXT    NOT NULL PRIMARY KEY,
    tenant_id  TEXT    NOT NULL REFERENCES tenants (id),
    kind       TEXT    NOT NULL,
    severity   TEXT    NOT NULL,
    title      TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX notifications_time ON notifications (tenant_id, created_at);

-- One row per notification and channel: the outbox that senders on any node work through.
-- No foreign key to the channel: a deleted channel's deliveries stay, marked failed, as
-- history.
CREATE TABLE notification_deliveries (
    notification_id TEXT    NOT NULL REFERENCES notifications (id),
    channel_id      TEXT    NOT NULL,
    tenant_id       TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    PRIMARY KEY (notification_id, channel_id)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
CREATE INDEX notification_deliveries_tenant ON notification_deliveries (tenant_id);

-- How many values the redactor caught, per hour (Unix ms at the start of the UTC hour),
-- service, attribute and kind of sensitive data. Counts only: never the values.
CREATE TABLE redaction_findings (
    tenant_id TEXT    NOT NULL,
    hour      INTEGER NOT NULL,
    service   TEXT    NOT NULL,
    attribute TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    count     INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant_id, hour, service, attribute, kind)
);

-- When each (service, attribute, kind) was first caught: the insert that creates the row is
-- the one that reports "new kind of sensitive data", once across every node.
CREATE TABLE redaction_first_seen (
    tenant_id  TEXT    NOT NULL,
    service    TEXT    NOT NULL,
    attribute  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, service, attribute, kind)
);

-- How far each detector has read (e.g. the last audit sequence number examined). The
-- tenant may be '-', the platform's audit chain, hence no foreign key.
CREATE TABLE alert_cursors (
    tenant_id TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    value     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Containment: reads of the tenant's telemetry refused since `reads_frozen_at`, by whom.
ALTER TABLE tenants ADD COLUMN reads_frozen_at INTEGER;
ALTER TABLE tenants ADD COLUMN reads_frozen_by TEXT;
-- Containment: a suspended key is refused like a revoked one, but can be restored.
ALTER TABLE api_keys ADD COLUMN suspended_at INTEGER;
