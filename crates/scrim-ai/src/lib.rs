//! AI-assisted diagnostics that only ever see redacted data.
//!
//! A tenant may let Scrim ask a large language model "why is this trace slow?". This crate
//! decides what may leave and shows it first; it does no storage and knows no tenant:
//!
//! - [`settings`]: the provider a tenant chose (OpenAI, Azure OpenAI, or any
//!   OpenAI-compatible chat-completions server such as vLLM, llama.cpp or Ollama) and the
//!   checks every use repeats: `https://` only, the host on the tenant's allow-list, a
//!   provider outside the tenant's region only when confirmed; and each provider's
//!   data-handling terms, shown when the feature is turned on.
//! - [`context`]: the text a question is asked about, built from stored telemetry (which
//!   the capture policy already redacted): a trace's critical path, failures and slowest
//!   spans; one SQL statement with its figures and plan; a service's errors.
//! - [`payload`]: the exact request body. The context goes once more through every text
//!   detector (whatever the tenant's policy keeps, nothing detectable leaves), is cut to
//!   the size budget, and is wrapped in a chat-completions request; its SHA-256 is what the
//!   audit log records and what a caller confirms after seeing it.
//! - [`client`]: sends a prepared body over TLS (rustls, 1.2+; never plain HTTP), with a
//!   deadline, a response cap and errors that say what failed without quoting the exchange.

pub mod client;
pub mod context;
pub mod error;
pub mod payload;
pub mod settings;

pub use client::{Answer, Provider};
pub use error::AiError;
pub use payload::{Feature, Prepared, prepare};
pub use settings::{AiSettings, ProviderKind};
