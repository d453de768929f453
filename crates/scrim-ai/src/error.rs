//! What can go wrong, in words an operator can act on. No message quotes telemetry, the
//! request body, the provider's answer or the API key.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AiError {
    /// The settings are not acceptable (the message says which field and why).
    Settings(String),
    /// The provider could not be reached or did not answer in time.
    Unreachable(String),
    /// The provider answered with an error status.
    Provider { status: u16, message: String },
    /// The provider's answer is not a chat completion.
    BadAnswer(String),
}

impl fmt::Display for AiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AiError::Settings(m) => write!(f, "AI settings: {m}"),
            AiError::Unreachable(m) => write!(f, "the AI provider could not be reached: {m}"),
            AiError::Provider { status, message } => {
                write!(f, "the AI provider answered HTTP {status}: {message}")
            }
            AiError::BadAnswer(m) => write!(f, "the AI provider's answer is unusable: {m}"),
        }
    }
}

impl std::error::Error for AiError {}
