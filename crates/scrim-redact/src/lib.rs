//! Scrim's sensitive-data engine.
//!
//! Every function here is pure: no I/O, no async, no global state. Functions that may
//! leave their input unchanged return [`std::borrow::Cow`] so that the common case (an
//! already parameterised statement, a log line without secrets) costs no allocation.
//!
//! Modules:
//! - [`sql`]: SQL statement obfuscation per dialect, plus grouping metadata
//!   (operation, tables, an OpenTelemetry-style `db.query.summary`).
//! - [`redis`]: Redis / Valkey command scrubbing.
//! - [`memcached`]: Memcached command scrubbing.
//! - [`json_query`]: MongoDB / Elasticsearch JSON query scrubbing.
//! - [`detect`]: detectors that find sensitive values (cards, SSNs, IBANs, emails, IPs,
//!   tokens and keys) inside any text, and text redaction.
//! - [`url`]: URL redaction (userinfo, query values, signatures, path).
//! - [`ip`]: IP address handling (mask, pseudonym, drop, keep).
//! - [`json_body`]: JSON request and response bodies.
//! - [`keys`]: sensitive key names (`password`, `api_key`, …), matched by words.
//! - [`kind`]: the kinds of sensitive data and counts per kind.
//! - [`method`]: mask, hash (keyed pseudonyms), remove, keep.
//! - [`policy`]: the capture policy (TOML model, cloud floor, attribute rules).
//! - [`redactor`]: a policy compiled into everything needed to apply it.

mod cow;
pub mod detect;
pub mod ip;
pub mod json_body;
pub mod json_query;
pub mod keys;
pub mod kind;
pub mod memcached;
pub mod method;
pub mod policy;
pub mod redactor;
pub mod redis;
pub mod sql;
pub mod url;

pub use kind::{Counts, Kind};
pub use method::{Method, Methods, Pseudonymizer};
pub use policy::Policy;
pub use redactor::Redactor;

use std::borrow::Cow;

/// Redacts sensitive values inside free text. URL paths, JSON string values, exception
/// messages and log bodies all go through one of these; the detectors' text redactor is
/// the real one, and the structured modules ([`url`], [`json_body`]) take any
/// implementation so that each can be used and tested alone.
pub trait TextScrubber {
    /// `text` with every sensitive value replaced, borrowed when nothing was found; each
    /// replacement is counted in `counts`.
    fn scrub<'t>(&self, text: &'t str, counts: &mut Counts) -> Cow<'t, str>;
}

/// A [`TextScrubber`] that changes nothing: for tests and for policies that turn the
/// detectors off.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoScrub;

impl TextScrubber for NoScrub {
    fn scrub<'t>(&self, text: &'t str, _counts: &mut Counts) -> Cow<'t, str> {
        Cow::Borrowed(text)
    }
}

/// The text every removed value is replaced with. Part of the output contract.
pub const PLACEHOLDER: &str = "?";
