//! Notifications for Scrim: alerts, insights and security detections sent to a signed
//! webhook, a Slack incoming webhook or e-mail (docs/notifications.md).
//!
//! This crate owns what leaves and how: the model ([`Notification`]), the redaction
//! guarantee ([`Outgoing`]: every text field through every `scrim-redact` detector, every
//! value masked, lengths capped; the only thing [`Notifier::deliver`] accepts), the three
//! formats, webhook signatures and their verification ([`signature`]), one delivery attempt
//! per call, and the retry schedule ([`backoff`], [`next_retry`], [`MAX_ATTEMPTS`]).
//!
//! It does not store anything: the server persists channels (public half and sealed secret
//! half, [`Channel::split`]), delivery history and the retry queue.

mod channel;
mod deliver;
mod format;
mod model;
pub mod signature;

pub use channel::{
    Channel, ChannelError, EmailChannel, MAX_RECIPIENTS, MIN_SECRET_BYTES, SigningSecret, SmtpTls,
};
pub use deliver::{
    BACKOFF_BASE, BACKOFF_CAP, Delivered, DeliveryError, FailureKind, MAX_ATTEMPTS, Notifier,
    NotifierOptions, backoff, next_retry,
};
pub use model::{
    MAX_FIELD_CHARS, MAX_FIELDS, MAX_LINK_BYTES, MAX_NAME_CHARS, MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS, Notification, Outgoing, Severity,
};
pub use signature::{Verifier, VerifyError, sign};
