//! Sending a prepared request to the provider: TLS only, a deadline, a capped answer.
//!
//! The HTTP client is scrim-http-client's (hyper + rustls with the ring provider, TLS 1.2 and
//! 1.3, the system's roots plus an optional private CA, no redirects followed) with plain HTTP
//! turned off even on loopback. The settings are checked again before every call, so a
//! provider taken off the allow-list, or a URL changed behind the API's back, is refused
//! before any connection is opened.

use std::time::Duration;

use scrim_http_client::{HttpClient, HttpOptions};
use serde_json::Value;

use crate::error::AiError;
use crate::payload::Prepared;
use crate::settings::{AiSettings, ProviderKind};

/// Largest answer read: chat completions of a thousand tokens are a few kilobytes.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The provider's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The model's text.
    pub text: String,
    /// The model that answered, as the provider names it.
    pub model: String,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// A tenant's provider, ready to call.
pub struct Provider {
    settings: AiSettings,
    http: HttpClient,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("provider", &self.settings.provider)
            .field("url", &self.settings.url)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// A client for `settings` (checked for a tenant in `tenant_region`). Opens nothing.
    pub fn new(settings: &AiSettings, tenant_region: &str) -> Result<Provider, AiError> {
        settings.check(tenant_region)?;
        let http = HttpClient::new(HttpOptions {
            extra_ca_pem: settings.ca_pem.as_ref().map(|p| p.as_bytes().to_vec()),
            system_roots: true,
            timeout: Duration::from_secs(settings.timeout_seconds),
            max_response_bytes: MAX_ANSWER_BYTES,
            plain_http_on_loopback: false,
            ..HttpOptions::default()
        })
        .map_err(|e| AiError::Settings(e.to_string()))?;
        Ok(Provider {
            settings: settings.clone(),
            http,
        })
    }

    /// Sends `prepared.body` and reads the answer. `api_key` goes in the header the
    /// provider expects; nothing else is added to what was prepared.
    pub async fn send(
        &self,
        prepared: &Prepared,
        api_key: Option<&str>,
    ) -> Result<Answer, AiError> {
        let mut request = http::Request::post(self.settings.url.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json");
        if let Some(key) = api_key.filter(|k| !k.is_empty()) {
            let (name, value) = match self.settings.provider {
                ProviderKind::AzureOpenai => ("api-key", key.to_owned()),
                _ => ("authorization", format!("Bearer {key}")),
            };
            let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
                AiError::Settings("the API key holds characters a header cannot".into())
            })?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        let request = request
            .body(prepared.body.clone())
            .map_err(|_| AiError::Settings("url: not usable for a request".into()))?;
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| AiError::Unreachable(e.to_string()))?;
        let status = response.status();
        let body = response.into_body();
        if !status.is_success() {
            return Err(AiError::Provider {
                status: status.as_u16(),
                message: provider_error(status.as_u16(), &body),
            });
        }
        parse_answer(&body)
    }
}

/// What an error answer means, from its status and the OpenAI error object's `type` and
/// `code` (never its `message`, which may quote the request).
fn provider_error(status: u16, body: &[u8]) -> String {
    let meaning = match status {
        400 => "the request was refused",
        401 | 403 => "the API key was refused",
        404 => "no such endpoint or model",
        408 | 504 => "the provider timed out",
        413 => "the request is too large for the provider",
        429 => "rate limited or out of quota",
        500..=599 => "the provider failed",
        _ => "unexpected status",
    };
    let error = serde_json::from_slice::<Value>(body).ok();
    let field = |k: &str| {
        error
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .filter(|s| s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned)
    };
    match (field("type"), field("code")) {
        (Some(t), Some(c)) => format!("{meaning} ({t}, {c})"),
        (Some(x), None) | (None, Some(x)) => format!("{meaning} ({x})"),
        (None, None) => meaning.to_owned(),
    }
}

fn parse_answer(body: &[u8]) -> Result<Answer, AiError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| AiError::BadAnswer("not JSON".into()))?;
    let text = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| AiError::BadAnswer("no choices[0].message.content".into()))?;
    let usage = |k: &str| {
        v.get("usage")
            .and_then(|u| u.get(k))
            .and_then(Value::as_u64)
    };
    Ok(Answer {
        text: text.to_owned(),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        prompt_tokens: usage("prompt_tokens"),
        completion_tokens: usage("completion_tokens"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_errors_are_read_without_quoting_the_exchange() {
        let a = parse_answer(
            br#"{"model":"m1","choices":[{"message":{"role":"assistant","content":"The DB."}}],"usage":{"prompt_tokens":10,"completion_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(a.text, "The DB.");
        assert_eq!(
            (a.model.as_str(), a.prompt_tokens, a.completion_tokens),
            ("m1", Some(10), Some(3))
        );
        assert!(matches!(parse_answer(b"{}"), Err(AiError::BadAnswer(_))));
        let m = provider_error(
            401,
            br#"{"error":{"message":"Incorrect API key provided: sk-abc123","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        );
        assert_eq!(
            m,
            "the API key was refused (invalid_request_error, invalid_api_key)"
        );
        assert_eq!(provider_error(503, b"<html>"), "the provider failed");
    }
}
