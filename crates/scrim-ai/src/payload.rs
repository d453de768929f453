//! The exact bytes sent to the provider.
//!
//! [`prepare`] takes a context ([`crate::context`]) and: passes it through every text
//! detector with every value masked (the stored data was redacted by the tenant's capture
//! policy; this second pass holds whatever that policy kept, so nothing detectable leaves
//! whatever the policy says); cuts it to the size budget at a line boundary, saying how
//! much was left out; and writes the chat-completions request body. The body's SHA-256 is
//! what the audit log records, what a preview shows, and what a caller may confirm so that
//! the call sends exactly what was previewed.

use std::sync::LazyLock;

use scrim_redact::detect::TextRedactor;
use scrim_redact::{Counts, TextScrubber};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::settings::{AiSettings, ProviderKind};

/// What is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    ExplainTrace,
    ExplainSql,
    ServiceErrors,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::ExplainTrace => "explain-trace",
            Feature::ExplainSql => "explain-sql",
            Feature::ServiceErrors => "summarize-errors",
        }
    }

    /// The system message: the model's task and the rules of the data it gets.
    fn instruction(self) -> &'static str {
        match self {
            Feature::ExplainTrace => {
                "You are a site reliability engineer reading one distributed trace from an APM. \
                 Explain where the time went along the critical path, which spans failed or are \
                 slow and why that is likely, and what to check or change first. Be brief and \
                 concrete; name spans as the trace does."
            }
            Feature::ExplainSql => {
                "You are a database performance engineer. Explain why this SQL statement is slow \
                 or failing, using its figures, errors and plan if present, and suggest concrete \
                 fixes (indexes, rewrites, settings). Be brief and concrete."
            }
            Feature::ServiceErrors => {
                "You are a site reliability engineer. Summarise this service's errors: group \
                 them by likely cause, say which matter most and what to check first. Be brief \
                 and concrete."
            }
        }
    }
}

/// Appended to every instruction: how to read the redaction markers.
const MARKERS: &str = " Sensitive values were removed before you saw this: `?` replaces SQL \
     literals and query values, `[REDACTED:kind]` a removed value, `[kind:code]` a \
     pseudonym standing for the same value everywhere. Do not try to recover them.";

/// Longest answer asked for, in tokens.
const MAX_ANSWER_TOKENS: u32 = 1024;

/// A request ready to send: the bytes, their digest, and what the second pass did.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub feature: Feature,
    /// The HTTP request body, exactly as it will be sent.
    pub body: Vec<u8>,
    /// Lowercase hex SHA-256 of `body`.
    pub sha256: String,
    /// Bytes of context in the body.
    pub context_bytes: usize,
    /// Bytes of context cut to fit the budget.
    pub omitted_bytes: usize,
    /// What the second detector pass removed (by kind).
    pub redacted: Counts,
}

impl Prepared {
    /// The body as text (it is JSON, so UTF-8).
    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    model: &'a str,
    messages: [Message<'a>; 2],
    temperature: f32,
    max_tokens: u32,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

/// Every detector, the default sensitive keys, every value masked.
static SECOND_PASS: LazyLock<TextRedactor> = LazyLock::new(TextRedactor::default);

/// The request for `feature` about `context`, under `settings`' model and size budget.
pub fn prepare(settings: &AiSettings, feature: Feature, context: &str) -> Prepared {
    let budget = settings.max_context_bytes;
    // Scan at most a few budgets' worth: what lies beyond is cut anyway, and a secret
    // split by this cut lies beyond the final one.
    let (head, _) = split_at_line(context, budget.saturating_mul(4));
    let mut redacted = Counts::default();
    let scrubbed = SECOND_PASS.scrub(head, &mut redacted);
    let (kept, rest) = split_at_line(&scrubbed, budget);
    let omitted_bytes = rest.len() + (context.len() - head.len());
    let text = if omitted_bytes == 0 {
        kept.to_owned()
    } else {
        format!("{kept}\n[{omitted_bytes} more bytes of context left out to fit the size budget]")
    };
    let system = format!("{}{MARKERS}", feature.instruction());
    let model = match settings.provider {
        ProviderKind::AzureOpenai if settings.model.is_empty() => "",
        _ => settings.model.as_str(),
    };
    let request = ChatRequest {
        model,
        messages: [
            Message {
                role: "system",
                content: &system,
            },
            Message {
                role: "user",
                content: &text,
            },
        ],
        temperature: 0.0,
        max_tokens: MAX_ANSWER_TOKENS,
    };
    // Serialising plain strings and numbers cannot fail.
    let body = serde_json::to_vec(&request).unwrap_or_default();
    Prepared {
        feature,
        sha256: hex_sha256(&body),
        body,
        context_bytes: text.len(),
        omitted_bytes,
        redacted,
    }
}

/// Lowercase hex SHA-256.
pub fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `text` cut to at most `max` bytes at the last line end (or, in a single long line, at a
/// character boundary), and the rest.
fn split_at_line(text: &str, max: usize) -> (&str, &str) {
    if text.len() <= max {
        return (text, "");
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if let Some(nl) = text[..end].rfind('\n') {
        end = nl + 1;
    }
    text.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::AiSettings;
    use proptest::prelude::*;

    fn settings(budget: usize) -> AiSettings {
        AiSettings {
            enabled: true,
            provider: ProviderKind::OpenaiCompatible,
            url: "https://llm.internal/v1/chat/completions".into(),
            model: "llama3.1:8b".into(),
            region: "eu".into(),
            allowed_hosts: vec![],
            cross_region_confirmed: false,
            max_context_bytes: budget,
            timeout_seconds: 30,
            ca_pem: None,
        }
    }

    const PLANTED: &[&str] = &[
        "4111 1111 1111 1111",
        "jane.doe@example.com",
        "203.0.113.42",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_1234567890abcdefghijklmnopqrstuvwxyz",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmVfMTIz",
        "password=hunter2hunter2",
        "DE89 3704 0044 0532 0130 00",
        "078-05-1120",
    ];

    #[test]
    fn the_second_pass_removes_what_a_lenient_policy_kept() {
        let context = PLANTED
            .iter()
            .map(|s| format!("span attribute {s} here\n"))
            .collect::<String>();
        let p = prepare(&settings(16 * 1024), Feature::ExplainTrace, &context);
        let body = p.body_text();
        for s in PLANTED {
            assert!(!body.contains(s), "{s} left in {body}");
        }
        assert!(body.contains("[REDACTED:card]"), "{body}");
        assert!(
            p.redacted.total() >= PLANTED.len() as u64,
            "{:?}",
            p.redacted
        );
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["model"], "llama3.1:8b");
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["messages"][1]["role"], "user");
        assert_eq!(p.sha256, hex_sha256(&p.body));
        assert_eq!(p.sha256.len(), 64);
    }

    #[test]
    fn the_budget_cuts_at_a_line_and_says_so() {
        let context: String = (0..200)
            .map(|i| format!("line {i:03} {}\n", "x".repeat(40)))
            .collect();
        let p = prepare(&settings(1024), Feature::ExplainTrace, &context);
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        let user = v["messages"][1]["content"].as_str().unwrap();
        let (kept, note) = user.rsplit_once('\n').unwrap();
        assert!(kept.len() <= 1024 && kept.ends_with('\n'), "{}", kept.len());
        assert_eq!(
            note,
            format!(
                "[{} more bytes of context left out to fit the size budget]",
                p.omitted_bytes
            )
        );
        assert_eq!(kept.len() + p.omitted_bytes, context.len());
    }

    #[test]
    fn the_same_context_gives_the_same_bytes() {
        let a = prepare(&settings(4096), Feature::ExplainSql, "SELECT ? FROM t\n");
        let b = prepare(&settings(4096), Feature::ExplainSql, "SELECT ? FROM t\n");
        assert_eq!(a, b);
        let c = prepare(&settings(4096), Feature::ServiceErrors, "SELECT ? FROM t\n");
        assert_ne!(a.sha256, c.sha256);
    }

    proptest! {
        #[test]
        fn no_planted_value_survives_anywhere_in_any_budget(
            pieces in proptest::collection::vec((0usize..9, "[a-z =:,\n]{0,12}"), 1..40),
            budget in 1024usize..4096,
        ) {
            let context: String = pieces.iter().map(|(i, sep)| format!("{sep} {} {sep}", PLANTED[*i])).collect();
            let p = prepare(&settings(budget), Feature::ExplainTrace, &context);
            let body = p.body_text();
            for s in PLANTED {
                prop_assert!(!body.contains(s), "{} left", s);
            }
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&p.body).is_ok());
        }
    }
}
