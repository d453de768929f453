//! Scrim's alerting logic, without I/O: what a rule means and when it fires, what the
//! redaction counts say about a tenant's instrumentation, and which audit records are
//! security detections. `scrim-server` reads the data, calls these functions with the time
//! it chose, stores the results and sends the notifications (`scrim-notify`).
//!
//! - [`rule`]: [`RuleSpec`] (metric, service, comparison, threshold, window, for-duration),
//!   its validation, and [`step`], the state machine `ok ▸ pending ▸ firing ▸ ok` that one
//!   evaluation advances.
//! - [`insight`]: sentences and digests from redaction counts ("service `payments` sent
//!   1,204 card numbers in `http.request.body` in the last hour").
//! - [`detect`]: the security detections (failed sign-in bursts, a key from a new address
//!   or after long disuse, a role escalation, a large export, ingest with a revoked key,
//!   a broken audit chain) and the thresholds that decide them.
//!
//! Time is always passed in (Unix milliseconds), so every decision is testable without a
//! clock.

pub mod detect;
pub mod insight;
pub mod rule;

pub use detect::{AuditView, Detection, DetectionKind, DetectionSettings, Trigger};
pub use insight::{Finding, kind_phrase, thousands};
pub use rule::{Comparison, Metric, RuleError, RuleSpec, Severity, State, Transition, step};
