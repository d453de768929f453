//! Every action the audit log records, by name. `GET /api/v1/audit?action=` and
//! `scrim audit export --action` match these exactly; docs/audit-log.md lists them with
//! their targets and details.

/// A sign-in, by password (and second factor) or single sign-on; `denied` with the reason
/// when refused. Target: the user id when the account is known.
pub const SIGN_IN: &str = "session.sign_in";
/// A session ended by its owner.
pub const SIGN_OUT: &str = "session.sign_out";
/// Every session of a person ended by that person.
pub const SIGN_OUT_EVERYWHERE: &str = "session.sign_out_everywhere";
/// A session moved to another of the person's tenants (recorded in the tenant entered).
pub const SWITCH_TENANT: &str = "session.switch_tenant";

/// A person changed their own password (all their sessions end).
pub const PASSWORD_CHANGE: &str = "user.password_change";
/// The operator set a person's password.
pub const PASSWORD_RESET: &str = "user.password_reset";
/// An account created (by the operator or by adding a new e-mail as a member).
pub const USER_CREATE: &str = "user.create";
/// An account disabled or enabled by the operator.
pub const USER_DISABLE: &str = "user.disable";
pub const USER_ENABLE: &str = "user.enable";
/// The operator ended every session of an account.
pub const USER_SIGN_OUT: &str = "user.sign_out";

/// TOTP enrolment started, confirmed (MFA on), removed by its owner, reset by the operator.
pub const MFA_BEGIN: &str = "mfa.totp_begin";
pub const MFA_ENABLE: &str = "mfa.totp_enable";
pub const MFA_DISABLE: &str = "mfa.totp_disable";
pub const MFA_RESET: &str = "mfa.reset";

/// Members and roles: target the user id; `changes.role` holds before and after.
pub const MEMBER_ADD: &str = "member.add";
pub const MEMBER_ROLE: &str = "member.role_change";
pub const MEMBER_REMOVE: &str = "member.remove";

/// API keys: target the key id (never the secret).
pub const APIKEY_CREATE: &str = "apikey.create";
pub const APIKEY_REVOKE: &str = "apikey.revoke";
/// A key used from an address it had not been used from before (once per key and address).
pub const APIKEY_NEW_ADDRESS: &str = "apikey.new_address";

/// Settings, with a before/after diff under `changes` (never a secret's value).
pub const SECURITY_SETTINGS: &str = "settings.security_change";
pub const CAPTURE_POLICY: &str = "settings.capture_policy_change";
pub const SSO_SETTINGS: &str = "settings.sso_change";
/// AI diagnostics turned on, off or changed (owners only): `changes.ai` before and after
/// (never the provider's API key; `api_key_changed` says whether it changed), and when data
/// starts going to a new destination the provider's terms agreed to, with their SHA-256.
pub const AI_SETTINGS: &str = "settings.ai_change";
/// The exact request body for the AI provider shown to the actor, not sent. Target: what it
/// is about (`traces/<id>`, `services/<name>`, `services/<name>/queries`); details: feature,
/// provider, host, model, `payload_sha256`, `payload_bytes`, what the second detector pass
/// removed.
pub const AI_PREVIEW: &str = "ai.preview";
/// A request sent to the tenant's AI provider, recorded before it is sent (a second,
/// `failed` record when the call fails), with the same details as `ai.preview`:
/// `payload_sha256` is the SHA-256 of exactly the bytes sent.
pub const AI_REQUEST: &str = "ai.request";
/// The master key rotated (`scrim key rotate-master`), by public key ids, in the platform
/// chain.
pub const MASTER_KEY_ROTATE: &str = "key.master_rotate";
/// A tenant's data key rotated (`scrim key rotate-tenant`, `POST
/// /api/v1/settings/data-key/rotate`): target `data_key`, details `from_key_id` and
/// `to_key_id` (never key bytes).
pub const TENANT_KEY_ROTATE: &str = "key.tenant_rotate";
/// A tenant created by the operator (recorded in the new tenant's chain).
pub const TENANT_CREATE: &str = "tenant.create";

/// An authenticated request refused by the access check. Target: the permission.
pub const ACCESS_DENIED: &str = "access.denied";

/// A read of telemetry (traces, services, logs, SQL). Target: what was read; details: the
/// parameters, and for SQL the statement with literals that look sensitive masked.
pub const TELEMETRY_READ: &str = "telemetry.read";

/// Telemetry past the tenant's retention removed (by `system:retention`): segments, rows,
/// bytes and the cutoff.
pub const TELEMETRY_RETENTION: &str = "telemetry.retention";
/// A tenant's retention changed, with before and after.
pub const RETENTION_SETTINGS: &str = "settings.retention_change";
/// An export of telemetry (API or `scrim export`), recorded before its first byte is sent.
/// Target: the signal; details: format, filters, whether encrypted (never the key).
pub const TELEMETRY_EXPORT: &str = "telemetry.export";

/// A backup of telemetry made (`scrim backup create`), in the platform chain. Target: the
/// backup id; details: the destination (without credentials), the backup key's public id,
/// tenants, segments and bytes.
pub const BACKUP_CREATE: &str = "backup.create";
/// A backup restored (`scrim backup restore`), in the platform chain. Target: the backup
/// id; details: the destination, the tenants restored and those unreadable (key gone), the
/// objects and catalog rows put back, and what was skipped.
pub const BACKUP_RESTORE: &str = "backup.restore";
/// Old backups removed (`scrim backup prune`), in the platform chain. Target: the
/// destination (without credentials); details: the age limit, the backups removed and
/// kept, the objects and bytes deleted.
pub const BACKUP_PRUNE: &str = "backup.prune";
/// A deletion request recorded (before it is stored). Target: the request id; details: the
/// scope, and for a selective request what it covers (an attribute value only in its stored,
/// pseudonymised form, never as the requester typed it).
pub const DELETION_REQUEST: &str = "telemetry.deletion_request";
/// A deletion finished (by `system:deletion` for a selective request): rows removed,
/// segments rewritten, and that a query found nothing left; or why it failed.
pub const DELETION_DONE: &str = "telemetry.deletion";
/// A whole tenant deleted: its data key destroyed first, then its data and settings.
pub const TENANT_DELETE: &str = "tenant.delete";

/// Ingest by one API key in one hour, counted, not recorded per request.
pub const INGEST_HOURLY: &str = "ingest.hourly";

/// The audit log read through the API, exported, or verified.
pub const AUDIT_READ: &str = "audit.read";
pub const AUDIT_EXPORT: &str = "audit.export";
pub const AUDIT_VERIFY: &str = "audit.verify";
/// Records older than the retention period removed (recorded in the chain they were
/// removed from, by `system:retention`).
pub const AUDIT_PRUNE: &str = "audit.prune";

/// A key used again after at least `dormant_key_days` unused (details: `idle_days`), once
/// per such return. The `detection.key_dormant_use` detection reads it.
pub const APIKEY_DORMANT_USE: &str = "apikey.dormant_use";
/// A revoked key presented with its right secret (outcome `denied`), at most once an hour
/// per key and process. The `detection.revoked_key_use` detection reads it.
pub const APIKEY_REVOKED_USE: &str = "apikey.revoked_use";
/// An export finished: target the signal; details `rows`, `bytes`, `complete`. Recorded
/// when its last byte was sent (the `telemetry.export` record came before the first).
pub const EXPORT_DONE: &str = "telemetry.export_done";

/// Alert rules: target the rule's name (create) or id; details the rule, or before/after.
pub const ALERT_RULE_CREATE: &str = "alert.rule_create";
pub const ALERT_RULE_UPDATE: &str = "alert.rule_update";
pub const ALERT_RULE_DELETE: &str = "alert.rule_delete";
/// Notification channels: target the name (create) or id; details the channel's public
/// settings (never its signing secret, Slack URL or SMTP password).
pub const CHANNEL_CREATE: &str = "notification.channel_create";
pub const CHANNEL_DELETE: &str = "notification.channel_delete";
/// A test notification sent to a channel.
pub const CHANNEL_TEST: &str = "notification.channel_test";

/// Containment (target the tenant): every key suspended, the suspension lifted, every
/// session ended, reads frozen, reads unfrozen.
pub const CONTAIN_KEYS_SUSPEND: &str = "containment.keys_suspend";
pub const CONTAIN_KEYS_RESTORE: &str = "containment.keys_restore";
pub const CONTAIN_SESSIONS_END: &str = "containment.sessions_end";
pub const CONTAIN_READS_FREEZE: &str = "containment.reads_freeze";
pub const CONTAIN_READS_UNFREEZE: &str = "containment.reads_unfreeze";
