//! Audit records, how they are built and sealed into a chain, and their canonical encoding.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::{Encoder, canonical_json};
use crate::hexser;
use crate::redact::redact_secrets;

/// The tenant of platform-wide actions (operator sign-in, tenant creation, …): a chain of its
/// own, next to every tenant's.
pub const PLATFORM_TENANT: &str = "-";

/// `prev_hash` of the first record of every chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// The longest user agent kept, in bytes; longer ones are cut at a character boundary.
pub const MAX_USER_AGENT: usize = 300;
/// The longest action name, in characters (`[a-z0-9._]`).
pub const MAX_ACTION: usize = 64;
/// The longest tenant id, in bytes.
pub const MAX_TENANT: usize = 128;

const MAX_ADDR: usize = 100;
const MAX_ID: usize = 256;
const MAX_TARGET: usize = 512;
const MAX_REQUEST_ID: usize = 128;
const MAX_REASON: usize = 1024;

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A person, by user id.
    User { id: String },
    /// An API key, by its public key id (never the secret).
    ApiKey { id: String },
    /// The platform operator (the `scrim` command line on the server, break-glass access).
    Operator,
    /// Scrim itself: a lifecycle job, retention, the alert evaluator, …
    System { name: String },
}

impl Actor {
    fn tag(&self) -> u8 {
        match self {
            Actor::User { .. } => 1,
            Actor::ApiKey { .. } => 2,
            Actor::Operator => 3,
            Actor::System { .. } => 4,
        }
    }

    /// `user`, `api_key`, `operator` or `system`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User { .. } => "user",
            Actor::ApiKey { .. } => "api_key",
            Actor::Operator => "operator",
            Actor::System { .. } => "system",
        }
    }

    /// The user or key id, or the system component's name; `None` for the operator.
    pub fn id(&self) -> Option<&str> {
        match self {
            Actor::User { id } | Actor::ApiKey { id } => Some(id),
            Actor::System { name } => Some(name),
            Actor::Operator => None,
        }
    }

    fn truncated(self) -> Actor {
        match self {
            Actor::User { id } => Actor::User {
                id: truncate(id, MAX_ID),
            },
            Actor::ApiKey { id } => Actor::ApiKey {
                id: truncate(id, MAX_ID),
            },
            Actor::System { name } => Actor::System {
                name: truncate(name, MAX_ID),
            },
            Actor::Operator => Actor::Operator,
        }
    }
}

/// How it ended. A denied or failed action may say why (never with a secret in the reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Allowed and done.
    Success,
    /// Refused by an authorisation or authentication check.
    Denied {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Allowed, but it did not complete.
    Failed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Outcome {
    /// A denial with a reason.
    pub fn denied(reason: impl Into<String>) -> Outcome {
        Outcome::Denied {
            reason: Some(reason.into()),
        }
    }

    /// A failure with a reason.
    pub fn failed(reason: impl Into<String>) -> Outcome {
        Outcome::Failed {
            reason: Some(reason.into()),
        }
    }

    fn tag(&self) -> u8 {
        match self {
            Outcome::Success => 1,
            Outcome::Denied { .. } => 2,
            Outcome::Failed { .. } => 3,
        }
    }

    /// `success`, `denied` or `failed`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied { .. } => "denied",
            Outcome::Failed { .. } => "failed",
        }
    }

    /// The reason given, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Success => None,
            Outcome::Denied { reason } | Outcome::Failed { reason } => reason.as_deref(),
        }
    }

    fn truncated(self) -> Outcome {
        match self {
            Outcome::Success => Outcome::Success,
            Outcome::Denied { reason } => Outcome::Denied {
                reason: reason.map(|r| truncate(r, MAX_REASON)),
            },
            Outcome::Failed { reason } => Outcome::Failed {
                reason: reason.map(|r| truncate(r, MAX_REASON)),
            },
        }
    }
}

/// One audit record, sealed into its tenant's chain.
///
/// Records are only made by [`seal`] (or read back from storage); every field but `hash` is
/// covered by `hash`, and `prev_hash` ties the record to the one before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Tenant id, or [`PLATFORM_TENANT`].
    pub tenant: String,
    /// 1-based position in the tenant's chain.
    pub seq: u64,
    /// When, in Unix milliseconds.
    pub at_ms: i64,
    pub actor: Actor,
    /// Source address of the request, as the server saw it.
    pub addr: Option<String>,
    /// At most [`MAX_USER_AGENT`] bytes.
    pub user_agent: Option<String>,
    /// Dotted action name: `session.sign_in`, `telemetry.read`, `apikey.create`, …
    pub action: String,
    /// What it was done to: a key id, a user id, a setting, a query's table, …
    pub target: Option<String>,
    pub outcome: Outcome,
    pub request_id: Option<String>,
    /// A JSON object: the query text, a before/after diff, … (secrets redacted on building).
    pub details: Value,
    /// Hash of the record before this one in the chain; [`GENESIS`] for the first.
    #[serde(with = "hexser")]
    pub prev_hash: [u8; 32],
    /// SHA-256 of [`canonical_bytes`] of this record.
    #[serde(with = "hexser")]
    pub hash: [u8; 32],
}

/// Why a record could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The action is not 1–64 characters of `[a-z0-9._]`.
    InvalidAction(String),
    /// The tenant id is empty, longer than [`MAX_TENANT`] bytes, or has characters other than
    /// `[A-Za-z0-9._:-]`.
    InvalidTenant(String),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::InvalidAction(a) => write!(
                f,
                "invalid audit action {a:?}: expected 1 to {MAX_ACTION} characters of a-z, 0-9, '.' and '_'"
            ),
            RecordError::InvalidTenant(t) => write!(
                f,
                "invalid tenant id {t:?} for an audit record: expected 1 to {MAX_TENANT} characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
            ),
        }
    }
}

impl std::error::Error for RecordError {}

/// Checks an action name: 1–64 characters of `[a-z0-9._]`.
pub fn validate_action(action: &str) -> Result<(), RecordError> {
    let ok = !action.is_empty()
        && action.len() <= MAX_ACTION
        && action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RecordError::InvalidAction(truncate(action.to_owned(), 100)))
    }
}

fn validate_tenant(tenant: &str) -> Result<(), RecordError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= MAX_TENANT
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RecordError::InvalidTenant(truncate(tenant.to_owned(), 200)))
    }
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// An audit record before it has a place in a chain: everything but `seq`, `prev_hash` and
/// `hash`. Built with [`NewRecord::new`] and the setters, then [`seal`]ed.
///
/// Free-text fields that come from requests are cut to a bounded length rather than
/// refused, so that a long header cannot make the audit write (and so the action) fail;
/// `details` is always passed through [`redact_secrets`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    tenant: String,
    at_ms: i64,
    actor: Actor,
    addr: Option<String>,
    user_agent: Option<String>,
    action: String,
    target: Option<String>,
    outcome: Outcome,
    request_id: Option<String>,
    details: Map<String, Value>,
}

impl NewRecord {
    /// A record of `actor` doing `action` in `tenant` at `at_ms` (Unix milliseconds).
    pub fn new(
        tenant: impl Into<String>,
        at_ms: i64,
        actor: Actor,
        action: &str,
        outcome: Outcome,
    ) -> Result<NewRecord, RecordError> {
        let tenant = tenant.into();
        validate_tenant(&tenant)?;
        validate_action(action)?;
        Ok(NewRecord {
            tenant,
            at_ms,
            actor: actor.truncated(),
            addr: None,
            user_agent: None,
            action: action.to_owned(),
            target: None,
            outcome: outcome.truncated(),
            request_id: None,
            details: Map::new(),
        })
    }

    /// The chain the record goes into.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The source address of the request.
    #[must_use]
    pub fn addr(mut self, addr: impl Into<String>) -> NewRecord {
        self.addr = Some(truncate(addr.into(), MAX_ADDR));
        self
    }

    /// The request's user agent, cut to [`MAX_USER_AGENT`] bytes.
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> NewRecord {
        self.user_agent = Some(truncate(user_agent.into(), MAX_USER_AGENT));
        self
    }

    /// What the action was done to.
    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> NewRecord {
        self.target = Some(truncate(target.into(), MAX_TARGET));
        self
    }

    /// The request id, to join the record with logs and traces.
    #[must_use]
    pub fn request_id(mut self, request_id: impl Into<String>) -> NewRecord {
        self.request_id = Some(truncate(request_id.into(), MAX_REQUEST_ID));
        self
    }

    /// Replaces the details; values under secret-looking keys are redacted.
    #[must_use]
    pub fn details(mut self, details: Map<String, Value>) -> NewRecord {
        let mut v = Value::Object(details);
        redact_secrets(&mut v);
        if let Value::Object(m) = v {
            self.details = m;
        }
        self
    }

    /// Adds one detail; redacted if the key, or a key inside the value, looks secret.
    #[must_use]
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> NewRecord {
        self.details.insert(key.into(), value.into());
        let details = std::mem::take(&mut self.details);
        self.details(details)
    }
}

/// Places `new` at position `seq` of its tenant's chain, after the record whose hash is
/// `prev_hash` ([`GENESIS`] when `seq` is 1), and computes its hash.
///
/// [`ChainTip::seal`] keeps `seq` and `prev_hash` right by construction.
pub fn seal(new: NewRecord, seq: u64, prev_hash: [u8; 32]) -> AuditRecord {
    let mut record = AuditRecord {
        tenant: new.tenant,
        seq,
        at_ms: new.at_ms,
        actor: new.actor,
        addr: new.addr,
        user_agent: new.user_agent,
        action: new.action,
        target: new.target,
        outcome: new.outcome,
        request_id: new.request_id,
        details: Value::Object(new.details),
        prev_hash,
        hash: [0; 32],
    };
    record.hash = recompute_hash(&record);
    record
}

/// The end of a tenant's chain: the last record's seq and hash (0 and [`GENESIS`] when the
/// chain is empty). What a writer keeps (or reads back) to append the next record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    pub seq: u64,
    pub hash: [u8; 32],
}

impl ChainTip {
    /// The tip of an empty chain.
    pub const GENESIS: ChainTip = ChainTip {
        seq: 0,
        hash: GENESIS,
    };

    /// The tip after `record`.
    pub fn after(record: &AuditRecord) -> ChainTip {
        ChainTip {
            seq: record.seq,
            hash: record.hash,
        }
    }

    /// Seals `new` as the next record, and moves the tip past it.
    pub fn seal(&mut self, new: NewRecord) -> AuditRecord {
        let record = seal(new, self.seq.saturating_add(1), self.hash);
        *self = ChainTip::after(&record);
        record
    }
}

const RECORD_DOMAIN: &[u8] = b"scrim-audit-record";
const RECORD_VERSION: u8 = 1;

/// The bytes that are hashed: every field but `hash`, in a fixed order, each length-prefixed
/// (or fixed-width), after a domain tag and a version byte. `details` is canonical JSON
/// (object keys sorted, no whitespace), so key order never changes the hash.
///
/// Layout (integers big-endian; `str` = u64 length + UTF-8 bytes; `opt` = 0, or 1 + `str`):
/// `str("scrim-audit-record")`, `u8 version = 1`, `str tenant`, `u64 seq`, `i64 at_ms`,
/// `u8 actor kind (1 user, 2 api key, 3 operator, 4 system)`, `opt actor id`, `opt addr`,
/// `opt user_agent`, `str action`, `opt target`, `u8 outcome (1 success, 2 denied,
/// 3 failed)`, `opt reason`, `opt request_id`, `str details`, `32 bytes prev_hash`.
///
/// A change here changes every hash and breaks every stored chain: a new layout needs a new
/// version byte, and verification of the old one kept.
pub fn canonical_bytes(record: &AuditRecord) -> Vec<u8> {
    let mut e = Encoder::new(RECORD_DOMAIN, RECORD_VERSION);
    e.str(&record.tenant);
    e.u64(record.seq);
    e.i64(record.at_ms);
    e.u8(record.actor.tag());
    e.opt(record.actor.id());
    e.opt(record.addr.as_deref());
    e.opt(record.user_agent.as_deref());
    e.str(&record.action);
    e.opt(record.target.as_deref());
    e.u8(record.outcome.tag());
    e.opt(record.outcome.reason());
    e.opt(record.request_id.as_deref());
    e.str(&canonical_json(&record.details));
    e.raw(&record.prev_hash);
    e.finish()
}

/// SHA-256 of [`canonical_bytes`]: what `record.hash` must be.
pub fn recompute_hash(record: &AuditRecord) -> [u8; 32] {
    crate::canonical::sha256(&canonical_bytes(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_char_boundaries() {
        let s = "é".repeat(200); // 400 bytes
        let t = truncate(s, 301);
        assert_eq!(t.len(), 300);
        assert!(t.chars().all(|c| c == 'é'));
    }

    #[test]
    fn actions_are_validated() {
        for ok in [
            "session.sign_in",
            "telemetry.read",
            "apikey.create",
            "a",
            &"a".repeat(64),
        ] {
            assert!(validate_action(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Session.sign_in", "a-b", "a b", "ü", &"a".repeat(65)] {
            assert!(validate_action(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tenants_are_validated() {
        assert!(validate_tenant(PLATFORM_TENANT).is_ok());
        assert!(validate_tenant("t_01h9x").is_ok());
        assert!(validate_tenant("").is_err());
        assert!(validate_tenant("a b").is_err());
        assert!(validate_tenant(&"a".repeat(129)).is_err());
    }
}
