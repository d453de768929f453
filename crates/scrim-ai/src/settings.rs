//! A tenant's AI provider and the rules every use of it follows.
//!
//! Off by default: a tenant without settings, or with `enabled = false`, sends nothing and
//! opens no connection. The provider's API key is not part of these settings (the caller
//! stores it sealed, apart), so the settings can be shown and audited as they are.

use serde::{Deserialize, Serialize};

use crate::error::AiError;

/// Who runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// OpenAI's API (`https://api.openai.com/v1/chat/completions` unless `url` says
    /// otherwise); key sent as `Authorization: Bearer`.
    Openai,
    /// An Azure OpenAI deployment: `url` is the deployment's chat-completions URL with its
    /// `api-version`; key sent as `api-key`.
    AzureOpenai,
    /// Any server that speaks OpenAI's chat-completions API (vLLM, llama.cpp, Ollama, …),
    /// typically on the tenant's own network; key, if any, sent as `Authorization: Bearer`.
    OpenaiCompatible,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::AzureOpenai => "azure-openai",
            ProviderKind::OpenaiCompatible => "openai-compatible",
        }
    }
}

pub const OPENAI_URL: &str = "https://api.openai.com/v1/chat/completions";
/// Where OpenAI's API processes data.
pub const OPENAI_REGION: &str = "us";
pub const DEFAULT_MAX_CONTEXT_BYTES: usize = 16 * 1024;
pub const MAX_CONTEXT_BYTES: usize = 256 * 1024;
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 60;
const MAX_TIMEOUT_SECONDS: u64 = 300;
const MAX_ALLOWED_HOSTS: usize = 32;
const MAX_CA_PEM: usize = 64 * 1024;

/// A tenant's AI diagnostics settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiSettings {
    /// Nothing is built, shown or sent while this is false.
    pub enabled: bool,
    pub provider: ProviderKind,
    /// The chat-completions URL (`https://` only). Empty: OpenAI's, for `openai`.
    #[serde(default)]
    pub url: String,
    /// The model to ask (`gpt-4o-mini`, `llama3.1:8b`, …). For Azure the deployment in the
    /// URL decides, and this may be empty.
    #[serde(default)]
    pub model: String,
    /// Where the provider processes data, compared with the tenant's region. Empty: `us`
    /// for `openai`; required for the others.
    #[serde(default)]
    pub region: String,
    /// Hosts the provider may be on. Empty: any host; otherwise `url`'s host must be one of
    /// them (exact, case-insensitive).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Set to send data from a tenant whose region differs from `region`.
    #[serde(default)]
    pub cross_region_confirmed: bool,
    /// Size budget of the context (the text the question is about), in bytes.
    #[serde(default = "default_max_context_bytes")]
    pub max_context_bytes: usize,
    /// Deadline for one call, connection included.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// PEM of a private CA the provider's certificate chains to (a self-hosted server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

fn default_max_context_bytes() -> usize {
    DEFAULT_MAX_CONTEXT_BYTES
}

fn default_timeout_seconds() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

impl AiSettings {
    /// The settings with the provider's defaults filled in (OpenAI's URL and region) and
    /// hosts lower-cased.
    pub fn normalized(mut self) -> AiSettings {
        if self.provider == ProviderKind::Openai {
            if self.url.trim().is_empty() {
                self.url = OPENAI_URL.to_owned();
            }
            if self.region.trim().is_empty() {
                self.region = OPENAI_REGION.to_owned();
            }
        }
        self.url = self.url.trim().to_owned();
        self.model = self.model.trim().to_owned();
        self.region = self.region.trim().to_ascii_lowercase();
        for h in &mut self.allowed_hosts {
            *h = h.trim().trim_end_matches('.').to_ascii_lowercase();
        }
        self
    }

    /// The host `url` names, lower-case, checked: `https`, no credentials in it.
    pub fn host(&self) -> Result<String, AiError> {
        let bad = |m: &str| AiError::Settings(format!("url: {m}"));
        let url = url::Url::parse(&self.url).map_err(|_| bad("not a URL"))?;
        if url.scheme() != "https" {
            return Err(bad(
                "only https:// is allowed: data for the AI provider never travels in the clear",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "must not hold credentials (the API key is set on its own)",
            ));
        }
        if url.fragment().is_some() {
            return Err(bad("must not have a fragment"));
        }
        let host = url.host_str().ok_or_else(|| bad("has no host"))?;
        Ok(host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase())
    }

    /// Every rule, for a tenant in `tenant_region`: what turning the feature on, and every
    /// call, must pass. Returns the provider's host.
    pub fn check(&self, tenant_region: &str) -> Result<String, AiError> {
        let bad = |m: String| Err(AiError::Settings(m));
        if self.url.len() > 2048 {
            return bad("url: longer than 2048 bytes".into());
        }
        let host = self.host()?;
        if self.allowed_hosts.len() > MAX_ALLOWED_HOSTS {
            return bad(format!("allowed_hosts: at most {MAX_ALLOWED_HOSTS}"));
        }
        if let Some(h) = self
            .allowed_hosts
            .iter()
            .find(|h| h.is_empty() || h.len() > 253 || h.contains(['/', ':', '@', ' ']))
        {
            return bad(format!(
                "allowed_hosts: {h:?} is not a host name (no scheme, port or path)"
            ));
        }
        if !self.allowed_hosts.is_empty() && !self.allowed_hosts.contains(&host) {
            return bad(format!(
                "the provider's host {host} is not on the tenant's allow-list ({})",
                self.allowed_hosts.join(", ")
            ));
        }
        if self.model.is_empty() && self.provider != ProviderKind::AzureOpenai {
            return bad("model: required".into());
        }
        if self.model.len() > 200 || self.model.chars().any(char::is_control) {
            return bad("model: at most 200 printable characters".into());
        }
        if self.region.is_empty() {
            return bad(
                "region: required (where the provider processes data, e.g. eu or us)".into(),
            );
        }
        if self.region.len() > 63 {
            return bad("region: at most 63 characters".into());
        }
        if self.region != tenant_region && !self.cross_region_confirmed {
            return bad(format!(
                "the tenant's data stays in region {tenant_region}, the provider processes it in \
                 {}: set cross_region_confirmed to send it there",
                self.region
            ));
        }
        if !(1024..=MAX_CONTEXT_BYTES).contains(&self.max_context_bytes) {
            return bad(format!(
                "max_context_bytes: between 1024 and {MAX_CONTEXT_BYTES}"
            ));
        }
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&self.timeout_seconds) {
            return bad(format!(
                "timeout_seconds: between 1 and {MAX_TIMEOUT_SECONDS}"
            ));
        }
        if self.ca_pem.as_ref().is_some_and(|p| p.len() > MAX_CA_PEM) {
            return bad("ca_pem: at most 64 KiB".into());
        }
        Ok(host)
    }

    /// The provider's data-handling terms, as shown (and recorded) when the feature is
    /// turned on.
    pub fn terms(&self) -> String {
        match self.provider {
            ProviderKind::Openai => format!(
                "OpenAI API ({host}): data sent through the API is not used to train OpenAI's \
                 models; OpenAI keeps it for up to 30 days to monitor abuse, then deletes it \
                 unless the law requires otherwise; it is processed in the United States \
                 (region {region}).",
                host = self.host().unwrap_or_default(),
                region = self.region,
            ),
            ProviderKind::AzureOpenai => format!(
                "Azure OpenAI ({host}): prompts and completions are not used to train models \
                 and are not shared with OpenAI; Microsoft may keep them for up to 30 days for \
                 abuse monitoring unless the subscription is approved for modified abuse \
                 monitoring; they are processed in the Azure region of the resource (region \
                 {region}).",
                host = self.host().unwrap_or_default(),
                region = self.region,
            ),
            ProviderKind::OpenaiCompatible => format!(
                "An OpenAI-compatible server at {host}: Scrim knows nothing of its data \
                 handling; what it keeps, for how long and where is up to whoever runs it. \
                 Run it on the tenant's own network to keep the data there (region {region}).",
                host = self.host().unwrap_or_default(),
                region = self.region,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openai() -> AiSettings {
        AiSettings {
            enabled: true,
            provider: ProviderKind::Openai,
            url: String::new(),
            model: "gpt-4o-mini".into(),
            region: String::new(),
            allowed_hosts: vec![],
            cross_region_confirmed: false,
            max_context_bytes: DEFAULT_MAX_CONTEXT_BYTES,
            timeout_seconds: 30,
            ca_pem: None,
        }
        .normalized()
    }

    #[test]
    fn openai_defaults_and_its_terms() {
        let s = openai();
        assert_eq!(s.url, OPENAI_URL);
        assert_eq!(s.check("us").unwrap(), "api.openai.com");
        let terms = s.terms();
        for part in ["not used to train", "30 days", "United States"] {
            assert!(terms.contains(part), "{terms}");
        }
    }

    #[test]
    fn another_region_needs_confirmation() {
        let mut s = openai();
        let err = s.check("eu").unwrap_err().to_string();
        assert!(
            err.contains("region eu") && err.contains("cross_region_confirmed"),
            "{err}"
        );
        s.cross_region_confirmed = true;
        assert!(s.check("eu").is_ok());
    }

    #[test]
    fn only_https_and_no_credentials_in_the_url() {
        let mut s = openai();
        for url in [
            "http://api.openai.com/v1/chat/completions",
            "http://127.0.0.1:11434/v1/chat/completions",
            "ftp://x/",
            "https://user:pw@llm.internal/v1/chat/completions",
            "not a url",
        ] {
            s.url = url.into();
            let err = s.check("us").unwrap_err().to_string();
            assert!(err.starts_with("AI settings: url:"), "{url}: {err}");
            assert!(!err.contains("pw"), "{err}");
        }
    }

    #[test]
    fn the_allow_list_is_exact() {
        let mut s = openai();
        s.allowed_hosts = vec!["LLM.internal".into()];
        let s = s.normalized();
        let err = s.check("us").unwrap_err().to_string();
        assert!(
            err.contains("api.openai.com is not on the tenant's allow-list"),
            "{err}"
        );
        let mut s = AiSettings {
            url: "https://llm.internal:8443/v1/chat/completions".into(),
            provider: ProviderKind::OpenaiCompatible,
            region: "us".into(),
            ..s
        };
        assert_eq!(s.check("us").unwrap(), "llm.internal");
        s.url = "https://llm.internal.evil.example/v1/chat/completions".into();
        assert!(s.check("us").is_err());
        s.allowed_hosts = vec!["https://llm.internal".into()];
        assert!(
            s.check("us")
                .unwrap_err()
                .to_string()
                .contains("not a host name")
        );
    }

    #[test]
    fn self_hosted_needs_a_region_and_a_model() {
        let s = AiSettings {
            provider: ProviderKind::OpenaiCompatible,
            url: "https://llm.internal/v1/chat/completions".into(),
            ..openai()
        };
        let no_region = AiSettings {
            region: String::new(),
            ..s.clone()
        };
        assert!(
            no_region
                .check("eu")
                .unwrap_err()
                .to_string()
                .contains("region: required")
        );
        let no_model = AiSettings {
            model: String::new(),
            ..s
        };
        assert!(
            no_model
                .check("us")
                .unwrap_err()
                .to_string()
                .contains("model: required")
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<AiSettings>(
            r#"{"enabled":true,"provider":"openai","api_key":"sk-123"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field"), "{err}");
    }
}
