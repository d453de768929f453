//! Where notifications go: a signed webhook, a Slack incoming webhook, or e-mail over SMTP.
//! Secrets (the signing secret, the Slack URL, which is itself a token, the SMTP password,
//! and the webhook URL, which may carry a token) never appear in `Debug`, in [`Channel::public`]
//! or in an error; [`Channel::split`] hands them to the caller as one blob to seal.

use std::fmt;
use std::str::FromStr;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use scrim_http_client::is_loopback_host;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Shortest signing secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
/// Longest URL accepted, in bytes.
const MAX_URL_BYTES: usize = 2048;
/// Most e-mail recipients on one channel.
pub const MAX_RECIPIENTS: usize = 50;

/// A webhook signing secret: its UTF-8 bytes are the HMAC key. Hidden in `Debug`, wiped
/// from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Zeroizing<String>);

impl SigningSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        SigningSecret(Zeroizing::new(secret.into()))
    }

    /// A new random secret: `whsec_` and 32 bytes from the operating system, in hex.
    pub fn generate() -> Result<Self, ChannelError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut())
            .map_err(|_| ChannelError::new("secret", "no random numbers from the system"))?;
        let mut s = String::from("whsec_");
        for b in bytes.iter() {
            s.push_str(&format!("{b:02x}"));
        }
        Ok(SigningSecret::new(s))
    }

    /// The secret, to show once when it is created or to configure a receiver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<hidden>)")
    }
}

impl Serialize for SigningSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SigningSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SigningSecret::new)
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// TLS from the first byte (usually port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    Starttls,
    /// No TLS: only to a loopback host (a relay on the same machine).
    None,
}

impl SmtpTls {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::Implicit => "implicit",
            SmtpTls::Starttls => "starttls",
            SmtpTls::None => "none",
        }
    }
}

/// An SMTP relay and the message's addresses.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Secret: never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    /// A private CA (PEM) to trust besides the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

impl fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailChannel")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("from", &self.from)
            .field("to", &self.to)
            .field("ca_pem", &self.ca_pem.is_some())
            .finish()
    }
}

/// A destination for notifications. Serialises with a `type` tag: `webhook`, `slack`,
/// `email` (secrets included: use [`Channel::split`] to store it, [`Channel::public`] to
/// show it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Channel {
    /// A signed JSON POST (docs/notifications.md).
    Webhook {
        url: String,
        secret: SigningSecret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_pem: Option<String>,
    },
    /// A Slack incoming webhook. The URL is itself the credential.
    Slack {
        url: String,
    },
    Email(EmailChannel),
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Channel({})", self.public())
    }
}

/// Why a channel's settings are refused: the setting, and what is wrong with it (never its
/// value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelError {
    pub field: &'static str,
    pub reason: String,
}

impl ChannelError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        ChannelError {
            field,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ChannelError {}

impl Channel {
    /// `webhook`, `slack` or `email`.
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Webhook { .. } => "webhook",
            Channel::Slack { .. } => "slack",
            Channel::Email(_) => "email",
        }
    }

    /// Refuses settings that cannot work or would be unsafe: webhook and Slack URLs must be
    /// `https://` (`http://` only to a loopback host), with no fragment; the signing secret at
    /// least [`MIN_SECRET_BYTES`]; e-mail addresses valid, one to [`MAX_RECIPIENTS`]
    /// recipients, SMTP without TLS only to a loopback host, a password only with a user name.
    pub fn check(&self) -> Result<(), ChannelError> {
        match self {
            Channel::Webhook {
                url,
                secret,
                ca_pem,
            } => {
                check_url("url", url)?;
                if secret.as_bytes().len() < MIN_SECRET_BYTES {
                    return Err(ChannelError::new(
                        "secret",
                        format!("at least {MIN_SECRET_BYTES} bytes"),
                    ));
                }
                if secret.as_bytes().len() > 1024 {
                    return Err(ChannelError::new("secret", "at most 1024 bytes"));
                }
                check_pem(ca_pem.as_deref())
            }
            Channel::Slack { url } => {
                let parsed = check_url("url", url)?;
                if parsed.username() != "" || parsed.password().is_some() {
                    return Err(ChannelError::new("url", "no user name or password in it"));
                }
                Ok(())
            }
            Channel::Email(e) => e.check(),
        }
    }

    /// The settings without secrets, for APIs and audit records: a webhook's URL without
    /// user name, password or query values; a Slack channel's host only; an e-mail
    /// channel's relay and addresses, and whether a password is set.
    pub fn public(&self) -> Value {
        match self {
            Channel::Webhook { url, ca_pem, .. } => json!({
                "type": "webhook",
                "url": display_url(url),
                "private_ca": ca_pem.is_some(),
            }),
            Channel::Slack { url } => json!({
                "type": "slack",
                "host": url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)),
            }),
            Channel::Email(e) => json!({
                "type": "email",
                "host": e.host,
                "port": e.port,
                "tls": e.tls.as_str(),
                "username": e.username,
                "password_set": e.password.is_some(),
                "from": e.from,
                "to": e.to,
                "private_ca": e.ca_pem.is_some(),
            }),
        }
    }

    /// The public settings (as [`Channel::public`], plus any private CA's PEM) and the secret
    /// settings as bytes for the caller to seal. [`Channel::join`] is the inverse.
    pub fn split(&self) -> (Value, Vec<u8>) {
        let mut public = self.public();
        let (ca_pem, secret) = match self {
            Channel::Webhook {
                url,
                secret,
                ca_pem,
            } => (
                ca_pem.as_deref(),
                json!({"url": url, "secret": secret.expose()}),
            ),
            Channel::Slack { url } => (None, json!({"url": url})),
            Channel::Email(e) => (e.ca_pem.as_deref(), json!({"password": e.password})),
        };
        if let (Some(pem), Some(obj)) = (ca_pem, public.as_object_mut()) {
            obj.insert("ca_pem".into(), Value::String(pem.to_owned()));
        }
        let bytes = serde_json::to_vec(&secret).unwrap_or_default();
        (public, bytes)
    }

    /// Rebuilds a channel from [`Channel::split`]'s two halves, and checks it.
    pub fn join(public: &Value, secret: &[u8]) -> Result<Channel, ChannelError> {
        let secret: Value = serde_json::from_slice(secret)
            .map_err(|_| ChannelError::new("secret", "not the output of split"))?;
        let text = |v: &Value, key: &'static str, field: &'static str| {
            v.get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ChannelError::new(field, "missing"))
        };
        let optional = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let channel = match public.get("type").and_then(Value::as_str) {
            Some("webhook") => Channel::Webhook {
                url: text(&secret, "url", "url")?,
                secret: SigningSecret::new(text(&secret, "secret", "secret")?),
                ca_pem: optional(public, "ca_pem"),
            },
            Some("slack") => Channel::Slack {
                url: text(&secret, "url", "url")?,
            },
            Some("email") => Channel::Email(EmailChannel {
                host: text(public, "host", "host")?,
                port: public
                    .get("port")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| ChannelError::new("port", "missing or out of range"))?,
                tls: public
                    .get("tls")
                    .cloned()
                    .and_then(|t| serde_json::from_value(t).ok())
                    .ok_or_else(|| ChannelError::new("tls", "implicit, starttls or none"))?,
                username: optional(public, "username"),
                password: optional(&secret, "password"),
                from: text(public, "from", "from")?,
                to: public
                    .get("to")
                    .cloned()
                    .and_then(|t| serde_json::from_value(t).ok())
                    .ok_or_else(|| ChannelError::new("to", "a list of addresses"))?,
                ca_pem: optional(public, "ca_pem"),
            }),
            _ => return Err(ChannelError::new("type", "webhook, slack or email")),
        };
        channel.check()?;
        Ok(channel)
    }
}

impl EmailChannel {
    fn check(&self) -> Result<(), ChannelError> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && (host.parse::<std::net::IpAddr>().is_ok()
                || host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')));
        if !host_ok {
            return Err(ChannelError::new("host", "not a host name or IP address"));
        }
        if self.port == 0 {
            return Err(ChannelError::new("port", "must not be 0"));
        }
        if self.tls == SmtpTls::None && !is_loopback_host(&self.host) {
            return Err(ChannelError::new(
                "tls",
                "none is allowed only to a loopback host; use implicit or starttls",
            ));
        }
        address("from", &self.from)?;
        if self.to.is_empty() {
            return Err(ChannelError::new("to", "at least one recipient"));
        }
        if self.to.len() > MAX_RECIPIENTS {
            return Err(ChannelError::new(
                "to",
                format!("at most {MAX_RECIPIENTS} recipients"),
            ));
        }
        for to in &self.to {
            address("to", to)?;
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(ChannelError::new("password", "set only with a username"));
        }
        if let Some(user) = &self.username
            && (user.is_empty() || user.len() > 256 || user.chars().any(char::is_control))
        {
            return Err(ChannelError::new(
                "username",
                "1 to 256 printable characters",
            ));
        }
        check_pem(self.ca_pem.as_deref())
    }
}

/// An address, with or without a display name (`Scrim <scrim@example.com>`).
fn address(field: &'static str, value: &str) -> Result<(), ChannelError> {
    if value.len() > 320 {
        return Err(ChannelError::new(field, "address too long"));
    }
    if value.chars().any(char::is_control) {
        return Err(ChannelError::new(field, "control characters in an address"));
    }
    lettre::message::Mailbox::from_str(value)
        .map(drop)
        .map_err(|_| ChannelError::new(field, "not a valid e-mail address"))
}

fn check_url(field: &'static str, url: &str) -> Result<url::Url, ChannelError> {
    if url.len() > MAX_URL_BYTES {
        return Err(ChannelError::new(
            field,
            format!("longer than {MAX_URL_BYTES} bytes"),
        ));
    }
    let parsed =
        url::Url::parse(url).map_err(|_| ChannelError::new(field, "not an absolute URL"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| ChannelError::new(field, "no host"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback_host(host) => {}
        "http" => {
            return Err(ChannelError::new(
                field,
                "plain http:// is allowed only to a loopback host; use https://",
            ));
        }
        _ => return Err(ChannelError::new(field, "must be https://")),
    }
    if parsed.fragment().is_some() {
        return Err(ChannelError::new(field, "no #fragment"));
    }
    // The http client parses the URL again; both must agree it is usable.
    http::Uri::try_from(parsed.as_str())
        .map_err(|_| ChannelError::new(field, "not usable for a request"))?;
    Ok(parsed)
}

fn check_pem(pem: Option<&str>) -> Result<(), ChannelError> {
    let Some(pem) = pem else { return Ok(()) };
    let mut found = 0;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        cert.map_err(|_| ChannelError::new("ca_pem", "invalid PEM"))?;
        found += 1;
    }
    if found == 0 {
        return Err(ChannelError::new("ca_pem", "holds no certificate"));
    }
    Ok(())
}

/// A URL for display: no user name or password, query values replaced by `***`.
fn display_url(url: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    parsed.set_fragment(None);
    if parsed.query().is_some() {
        let keys: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
        if keys.is_empty() {
            parsed.set_query(None);
        } else {
            parsed
                .query_pairs_mut()
                .clear()
                .extend_pairs(keys.iter().map(|k| (k.as_str(), "***")));
        }
    }
    Some(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_0123456789abcdef";
    const PASSWORD: &str = "smtp-pa55word-xyz";
    const SLACK: &str = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX";

    fn ca_pem() -> String {
        rcgen::generate_simple_self_signed(vec!["ca.test".to_string()])
            .unwrap()
            .cert
            .pem()
    }

    fn channels() -> Vec<Channel> {
        vec![
            Channel::Webhook {
                url: "https://bob:pw-in-url@hooks.example.test/in?token=tok-in-query&x=1".into(),
                secret: SigningSecret::new(SECRET),
                ca_pem: Some(ca_pem()),
            },
            Channel::Webhook {
                url: "http://127.0.0.1:9000/hook".into(),
                secret: SigningSecret::new(SECRET),
                ca_pem: None,
            },
            Channel::Slack { url: SLACK.into() },
            Channel::Email(EmailChannel {
                host: "smtp.example.test".into(),
                port: 587,
                tls: SmtpTls::Starttls,
                username: Some("scrim".into()),
                password: Some(PASSWORD.into()),
                from: "scrim@example.test".into(),
                to: vec!["ops@example.test".into(), "oncall@example.test".into()],
                ca_pem: None,
            }),
        ]
    }

    fn assert_no_secret(text: &str) {
        for secret in [
            SECRET,
            PASSWORD,
            "XXXXXXXXXXXXXXXXXXXXXXXX",
            "pw-in-url",
            "tok-in-query",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn split_and_join_round_trip_and_public_shows_no_secret() {
        for channel in channels() {
            channel.check().unwrap();
            let (public, secret) = channel.split();
            assert_no_secret(&public.to_string());
            assert_no_secret(&channel.public().to_string());
            assert_no_secret(&format!("{channel:?}"));
            let back = Channel::join(&public, &secret).unwrap();
            assert_eq!(back, channel);
            // Serde round trip too (the tagged form).
            let json = serde_json::to_string(&channel).unwrap();
            assert_eq!(serde_json::from_str::<Channel>(&json).unwrap(), channel);
        }
        let public = channels()[0].public();
        assert_eq!(
            public["url"],
            "https://hooks.example.test/in?token=***&x=***"
        );
        assert_eq!(channels()[2].public()["host"], "hooks.slack.com");
        assert_eq!(channels()[3].public()["password_set"], true);
    }

    #[test]
    fn the_tag_names_the_type() {
        let c: Channel = serde_json::from_str(
            r#"{"type":"email","host":"127.0.0.1","port":25,"tls":"none","from":"a@example.test","to":["b@example.test"]}"#,
        )
        .unwrap();
        c.check().unwrap();
        assert_eq!(c.kind(), "email");
        assert!(serde_json::from_str::<Channel>(r#"{"type":"pager","url":"x"}"#).is_err());
    }

    #[test]
    fn check_refuses_unsafe_or_unusable_settings() {
        let webhook = |url: &str, secret: &str| Channel::Webhook {
            url: url.into(),
            secret: SigningSecret::new(secret),
            ca_pem: None,
        };
        let refused = |c: Channel, field: &str| {
            let e = c.check().unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert_no_secret(&e.to_string());
        };
        refused(webhook("http://hooks.example.test/in", SECRET), "url");
        refused(webhook("http://10.0.0.1/in", SECRET), "url");
        refused(webhook("ftp://hooks.example.test/in", SECRET), "url");
        refused(webhook("https://hooks.example.test/in#frag", SECRET), "url");
        refused(webhook("not a url", SECRET), "url");
        refused(
            webhook("https://hooks.example.test/in", "short-secret"),
            "secret",
        );
        webhook("http://localhost:8080/in", SECRET).check().unwrap();
        refused(
            Channel::Slack {
                url: "http://hooks.slack.com/services/x".into(),
            },
            "url",
        );
        refused(
            Channel::Webhook {
                url: "https://hooks.example.test/in".into(),
                secret: SigningSecret::new(SECRET),
                ca_pem: Some("not pem".into()),
            },
            "ca_pem",
        );

        let Channel::Email(email) = channels().remove(3) else {
            unreachable!()
        };
        let with = |f: &dyn Fn(&mut EmailChannel)| {
            let mut e = email.clone();
            f(&mut e);
            Channel::Email(e)
        };
        refused(with(&|e| e.to.clear()), "to");
        refused(with(&|e| e.to.push("not-an-address".into())), "to");
        refused(
            with(&|e| e.to.push("a@b.test\r\nBcc: x@y.test".into())),
            "to",
        );
        refused(with(&|e| e.from = "nobody".into()), "from");
        refused(with(&|e| e.tls = SmtpTls::None), "tls");
        refused(with(&|e| e.username = None), "password");
        refused(with(&|e| e.host = "smtp example".into()), "host");
        refused(with(&|e| e.port = 0), "port");
        with(&|e| {
            e.tls = SmtpTls::None;
            e.host = "127.0.0.1".into();
        })
        .check()
        .unwrap();
    }

    #[test]
    fn join_refuses_mismatched_or_tampered_halves() {
        let (public, secret) = channels()[0].split();
        assert!(Channel::join(&public, b"garbage").is_err());
        let (slack_public, _) = channels()[2].split();
        // The halves carry no binding to each other (the caller stores them together); what
        // join builds must still pass `check`.
        let mut bad = public.clone();
        bad["type"] = "pager".into();
        assert_eq!(Channel::join(&bad, &secret).unwrap_err().field, "type");
        let short =
            serde_json::to_vec(&json!({"url": "https://h.test/", "secret": "short"})).unwrap();
        assert_eq!(Channel::join(&public, &short).unwrap_err().field, "secret");
        // Here: a Slack channel with the webhook's URL, whose user name and password `check`
        // refuses for Slack.
        assert_eq!(
            Channel::join(&slack_public, &secret).unwrap_err().field,
            "url"
        );
    }

    #[test]
    fn generated_secrets_are_long_and_different() {
        let a = SigningSecret::generate().unwrap();
        let b = SigningSecret::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 6 + 64);
        assert_eq!(format!("{a:?}"), "SigningSecret(<hidden>)");
    }
}
