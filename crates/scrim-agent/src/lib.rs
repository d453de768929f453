//! Scrim's edge forwarder (`scrim agent`): it runs beside applications, receives OTLP,
//! applies the capture policy, keeps what it accepted in a disk queue, and forwards it
//! upstream over HTTPS.
//!
//! - [`queue`]: the persistent, bounded, crash-safe disk queue between receiving and
//!   exporting.

pub mod queue;
