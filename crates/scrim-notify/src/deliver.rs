//! One delivery attempt per call, and the retry schedule the caller follows.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use lettre::AsyncTransport;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters, TlsVersion};
use scrim_http_client::{HttpClient, HttpError, HttpOptions};
use scrim_redact::TextScrubber;
use sha2::{Digest, Sha256};

use crate::channel::{Channel, EmailChannel, SmtpTls};
use crate::model::Outgoing;
use crate::signature::{self, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Attempts per notification and channel, the first included. With [`backoff`] the last
/// retry comes about an hour after the first attempt (30 s, 1, 2, 4, 8, 16 and 32 minutes,
/// each with jitter).
pub const MAX_ATTEMPTS: u32 = 8;
/// First retry delay; each later one doubles.
pub const BACKOFF_BASE: Duration = Duration::from_secs(30);
/// No retry delay exceeds this (nor does an honoured `Retry-After`).
pub const BACKOFF_CAP: Duration = Duration::from_secs(60 * 60);

/// The delay before retry number `attempt` (1 for the retry after the first failure; 0
/// gives no delay): `BACKOFF_BASE·2^(attempt-1)` capped at [`BACKOFF_CAP`], with "equal
/// jitter": half of it fixed, the other half scaled by `jitter` (0..1, from the caller's
/// random source; clamped, NaN counts as 0). Pure.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    let exp = (attempt - 1).min(20);
    let full = BACKOFF_BASE.saturating_mul(1 << exp).min(BACKOFF_CAP);
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    full / 2 + (full / 2).mul_f64(jitter)
}

/// When to try again after `error`, given how many attempts were made (the failed one
/// included): `None` when the error is final or the attempts are used up; otherwise the
/// longer of [`backoff`] and the receiver's `Retry-After`.
pub fn next_retry(error: &DeliveryError, attempts_made: u32, jitter: f64) -> Option<Duration> {
    if !error.retryable() || attempts_made >= MAX_ATTEMPTS {
        return None;
    }
    let delay = backoff(attempts_made, jitter);
    Some(error.retry_after().map_or(delay, |after| after.max(delay)))
}

/// How a [`Notifier`] connects.
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// Deadline for one attempt, connection included (HTTP and SMTP).
    pub timeout: Duration,
    /// Whether the system's root certificates are trusted (default true).
    pub system_roots: bool,
    /// Certificates (PEM) of a CA trusted for every channel, besides the system's roots and
    /// a channel's own `ca_pem`.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// `User-Agent` of webhook and Slack requests (default `scrim/<version>`).
    pub user_agent: String,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            timeout: Duration::from_secs(10),
            system_roots: true,
            extra_ca_pem: None,
            user_agent: scrim_http_client::DEFAULT_USER_AGENT.to_string(),
        }
    }
}

/// A webhook or Slack answer is read up to this size (only its status matters).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Clients for channels with a private CA are kept, up to this many.
const MAX_CA_CLIENTS: usize = 64;

/// Delivers notifications, one attempt per call. Share one per process.
pub struct Notifier {
    options: NotifierOptions,
    http: HttpClient,
    /// HTTP clients for channels with their own CA, by the PEM's SHA-256.
    with_ca: Mutex<HashMap<[u8; 32], HttpClient>>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A successful attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The HTTP status, or the SMTP reply code.
    pub status: Option<u16>,
    /// What the receiver said, briefly: `HTTP 200`, `SMTP 250 2.0.0 Ok: queued`.
    pub detail: String,
}

/// What kind of failure a [`DeliveryError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The channel's settings are unusable (see [`Channel::check`]).
    Channel,
    /// No connection, a broken one, or no answer in time.
    Unreachable,
    /// The receiver answered with an HTTP status other than 2xx.
    Http,
    /// The SMTP server refused (reply code in `status`).
    Smtp,
    /// The TLS handshake failed (an untrusted or mismatched certificate).
    Tls,
}

/// A failed attempt. Its message names the channel type, the kind of failure and at most a
/// status or reply code: never a body, a URL's path or query, a secret or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    kind: FailureKind,
    status: Option<u16>,
    retryable: bool,
    retry_after: Option<Duration>,
    message: String,
}

impl DeliveryError {
    fn new(kind: FailureKind, retryable: bool, message: impl Into<String>) -> Self {
        DeliveryError {
            kind,
            status: None,
            retryable,
            retry_after: None,
            message: message.into(),
        }
    }

    /// Whether trying again later may succeed: connection failures, timeouts, HTTP 408, 425,
    /// 429 and 5xx, SMTP 4xx. Other HTTP 4xx, SMTP 5xx, TLS and settings errors are final.
    pub fn retryable(&self) -> bool {
        self.retryable
    }

    /// The HTTP status or SMTP reply code, if the receiver answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The receiver's `Retry-After`, if it sent one (capped at [`BACKOFF_CAP`]).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    pub fn kind(&self) -> FailureKind {
        self.kind
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        f.write_str(if self.retryable {
            " (will retry)"
        } else {
            " (final)"
        })
    }
}

impl std::error::Error for DeliveryError {}

impl Notifier {
    /// A notifier with these options. Fails when the trust roots are unusable.
    pub fn new(options: NotifierOptions) -> Result<Notifier, DeliveryError> {
        let http = http_client(&options, None)?;
        Ok(Notifier {
            options,
            http,
            with_ca: Mutex::new(HashMap::new()),
        })
    }

    /// One attempt to deliver `out` to `channel`, signed (webhooks) with `now_unix` as the
    /// timestamp. The caller records the result and, on a retryable error, schedules the
    /// next attempt with [`next_retry`].
    pub async fn deliver(
        &self,
        channel: &Channel,
        out: &Outgoing,
        now_unix: i64,
    ) -> Result<Delivered, DeliveryError> {
        channel.check().map_err(|e| {
            DeliveryError::new(
                FailureKind::Channel,
                false,
                format!("{}: settings refused: {e}", channel.kind()),
            )
        })?;
        match channel {
            Channel::Webhook {
                url,
                secret,
                ca_pem,
            } => {
                let body = out.webhook_body();
                let id = &out.notification().id;
                let signature = signature::sign(secret.as_bytes(), id, now_unix, &body);
                let mut request = http::Request::post(strip_userinfo(url))
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .header(ID_HEADER, id.as_str())
                    .header(TIMESTAMP_HEADER, now_unix.to_string())
                    .header(SIGNATURE_HEADER, signature);
                if let Some(auth) = basic_auth(url) {
                    request = request.header(http::header::AUTHORIZATION, auth);
                }
                let client = self.client_for(ca_pem.as_deref())?;
                self.post(&client, "webhook", request, body, now_unix).await
            }
            Channel::Slack { url } => {
                let request = http::Request::post(url.as_str())
                    .header(http::header::CONTENT_TYPE, "application/json");
                self.post(&self.http, "slack", request, out.slack_body(), now_unix)
                    .await
            }
            Channel::Email(email) => self.send_email(email, out).await,
        }
    }

    fn client_for(&self, ca_pem: Option<&str>) -> Result<HttpClient, DeliveryError> {
        let Some(pem) = ca_pem else {
            return Ok(self.http.clone());
        };
        let key: [u8; 32] = Sha256::digest(pem.as_bytes()).into();
        let mut cache = self.with_ca.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = cache.get(&key) {
            return Ok(client.clone());
        }
        let client = http_client(&self.options, Some(pem.as_bytes()))?;
        if cache.len() >= MAX_CA_CLIENTS {
            cache.clear();
        }
        cache.insert(key, client.clone());
        Ok(client)
    }

    async fn post(
        &self,
        client: &HttpClient,
        what: &str,
        request: http::request::Builder,
        body: Vec<u8>,
        now_unix: i64,
    ) -> Result<Delivered, DeliveryError> {
        let request = request.body(body).map_err(|_| {
            DeliveryError::new(
                FailureKind::Channel,
                false,
                format!("{what}: the URL is not usable"),
            )
        })?;
        let response = client
            .send(request)
            .await
            .map_err(|e| http_failure(what, &e))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(Delivered {
                status: Some(status),
                detail: format!("HTTP {status}"),
            });
        }
        let retryable = matches!(status, 408 | 425 | 429 | 500..=599);
        let mut message = format!("{what}: the receiver answered HTTP {status}");
        if (300..400).contains(&status) {
            message.push_str(" (redirects are not followed)");
        }
        // Slack names its refusals with a bare code (`invalid_payload`, `no_service`, …);
        // nothing else of a body is repeated.
        if what == "slack" {
            let text = response.body();
            if !text.is_empty()
                && text.len() <= 40
                && text.iter().all(|b| b.is_ascii_lowercase() || *b == b'_')
            {
                message.push_str(&format!(" ({})", String::from_utf8_lossy(text)));
            }
        }
        let mut error = DeliveryError::new(FailureKind::Http, retryable, message);
        error.status = Some(status);
        error.retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now_unix));
        Err(error)
    }

    async fn send_email(
        &self,
        email: &EmailChannel,
        out: &Outgoing,
    ) -> Result<Delivered, DeliveryError> {
        let message = build_email(email, out)?;
        let transport = self.smtp_transport(email)?;
        match transport.send(message).await {
            Ok(response) => {
                let code = smtp_code(response.code());
                let line = response.first_line().unwrap_or_default();
                Ok(Delivered {
                    status: Some(code),
                    detail: format!("SMTP {code} {}", safe_reply(line)),
                })
            }
            Err(e) => Err(smtp_failure(&e)),
        }
    }

    fn smtp_transport(
        &self,
        email: &EmailChannel,
    ) -> Result<AsyncSmtpTransport<lettre::Tokio1Executor>, DeliveryError> {
        let host = email.host.trim_start_matches('[').trim_end_matches(']');
        let tls = || -> Result<TlsParameters, DeliveryError> {
            let mut builder =
                TlsParameters::builder(host.to_owned()).set_min_tls_version(TlsVersion::Tlsv12);
            if !self.options.system_roots {
                builder = builder
                    .certificate_store(lettre::transport::smtp::client::CertificateStore::None);
            }
            for pem in [
                self.options.extra_ca_pem.as_deref(),
                email.ca_pem.as_deref().map(str::as_bytes),
            ]
            .into_iter()
            .flatten()
            {
                let cert = Certificate::from_pem(pem).map_err(|_| {
                    DeliveryError::new(FailureKind::Channel, false, "email: invalid CA PEM")
                })?;
                builder = builder.add_root_certificate(cert);
            }
            builder.build_rustls().map_err(|_| {
                DeliveryError::new(FailureKind::Tls, false, "email: TLS set-up failed")
            })
        };
        let tls = match email.tls {
            SmtpTls::Implicit => Tls::Wrapper(tls()?),
            SmtpTls::Starttls => Tls::Required(tls()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
            .port(email.port)
            .tls(tls)
            .timeout(Some(self.options.timeout));
        if let Some(user) = &email.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                email.password.clone().unwrap_or_default(),
            ));
        }
        Ok(builder.build())
    }
}

fn http_client(options: &NotifierOptions, ca: Option<&[u8]>) -> Result<HttpClient, DeliveryError> {
    let mut pem = options.extra_ca_pem.clone().unwrap_or_default();
    if let Some(ca) = ca {
        pem.push(b'\n');
        pem.extend_from_slice(ca);
    }
    HttpClient::new(HttpOptions {
        extra_ca_pem: (!pem.is_empty()).then_some(pem),
        system_roots: options.system_roots,
        timeout: options.timeout,
        max_response_bytes: MAX_ANSWER_BYTES,
        plain_http_on_loopback: true,
        user_agent: options.user_agent.clone(),
    })
    .map_err(|e| DeliveryError::new(FailureKind::Channel, false, format!("HTTP client: {e}")))
}

fn http_failure(what: &str, e: &HttpError) -> DeliveryError {
    let (kind, message) = match e {
        HttpError::Connect(m) if m.contains("certificate") || m.contains("TLS") => {
            (FailureKind::Tls, format!("{what}: TLS handshake failed"))
        }
        HttpError::Connect(_) => (
            FailureKind::Unreachable,
            format!("{what}: could not connect"),
        ),
        HttpError::Timeout(d) => (
            FailureKind::Unreachable,
            format!("{what}: no answer within {} ms", d.as_millis()),
        ),
        HttpError::TooLarge(_) => (
            FailureKind::Unreachable,
            format!("{what}: the answer was too large to read"),
        ),
        HttpError::Transport(_) => (
            FailureKind::Unreachable,
            format!("{what}: the connection failed"),
        ),
        _ => (FailureKind::Channel, format!("{what}: the URL was refused")),
    };
    // A TLS failure is a configuration problem; an oversized answer left the outcome unknown,
    // and receivers dedupe on the id, so it is retried.
    let retryable =
        kind != FailureKind::Tls && (e.is_transient() || matches!(e, HttpError::TooLarge(_)));
    DeliveryError::new(kind, retryable, message)
}

/// `Retry-After` as seconds or an HTTP date, relative to `now_unix`, capped.
fn parse_retry_after(value: &str, now_unix: i64) -> Option<Duration> {
    let value = value.trim();
    let after = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        let at = at.duration_since(UNIX_EPOCH).ok()?.as_secs();
        Duration::from_secs(at.saturating_sub(u64::try_from(now_unix).unwrap_or(0)))
    };
    Some(after.min(BACKOFF_CAP))
}

/// The URL without `user:password@`, which goes in an `Authorization` header instead.
fn strip_userinfo(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.into()
        }
        _ => url.to_owned(),
    }
}

/// HTTP Basic credentials from the URL's userinfo, marked sensitive.
fn basic_auth(url: &str) -> Option<http::HeaderValue> {
    let u = url::Url::parse(url).ok()?;
    if u.username().is_empty() && u.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let pair = format!(
        "{}:{}",
        decode(u.username()),
        decode(u.password().unwrap_or(""))
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = http::HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn build_email(email: &EmailChannel, out: &Outgoing) -> Result<Message, DeliveryError> {
    let bad = |field: &str| {
        DeliveryError::new(
            FailureKind::Channel,
            false,
            format!("email: invalid {field} address"),
        )
    };
    let n = out.notification();
    let mut builder = Message::builder()
        .from(Mailbox::from_str(&email.from).map_err(|_| bad("from"))?)
        .subject(out.email_subject())
        // The id makes retries of one notification the same message to mail systems.
        .message_id(Some(format!("<{}@notify.scrim.invalid>", n.id)))
        .date(SystemTime::now());
    for to in &email.to {
        builder = builder.to(Mailbox::from_str(to).map_err(|_| bad("to"))?);
    }
    let mut message = builder
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(out.email_text())
        .map_err(|_| {
            DeliveryError::new(FailureKind::Channel, false, "email: message not buildable")
        })?;
    if let Ok(name) = HeaderName::new_from_ascii("X-Scrim-Notification-Id".to_owned()) {
        message
            .headers_mut()
            .insert_raw(HeaderValue::new(name, n.id.clone()));
    }
    Ok(message)
}

fn smtp_code(code: lettre::transport::smtp::response::Code) -> u16 {
    code.to_string().parse().unwrap_or(0)
}

/// A server's reply line, redacted and cut: servers may quote an address or a queue id.
fn safe_reply(line: &str) -> String {
    let printable: String = line.chars().filter(|c| !c.is_control()).take(120).collect();
    let mut counts = scrim_redact::Counts::default();
    scrim_redact::detect::TextRedactor::default()
        .scrub(&printable, &mut counts)
        .into_owned()
}

fn smtp_failure(e: &lettre::transport::smtp::Error) -> DeliveryError {
    let code = e.status().map(smtp_code);
    let (kind, retryable, message) = if let Some(code) = code {
        (
            FailureKind::Smtp,
            e.is_transient(),
            format!("email: the SMTP server answered {code}"),
        )
    } else if e.is_tls() {
        (FailureKind::Tls, false, "email: TLS failed".to_owned())
    } else if e.is_timeout() {
        (
            FailureKind::Unreachable,
            true,
            "email: timed out".to_owned(),
        )
    } else if e.is_client() {
        (
            FailureKind::Channel,
            false,
            "email: the SMTP exchange failed on our side".to_owned(),
        )
    } else {
        (
            FailureKind::Unreachable,
            true,
            "email: could not talk to the SMTP server".to_owned(),
        )
    };
    let mut error = DeliveryError::new(kind, retryable, message);
    error.status = code;
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_equal_jitter() {
        assert_eq!(backoff(0, 0.5), Duration::ZERO);
        assert_eq!(backoff(1, 0.0), Duration::from_secs(15));
        assert_eq!(backoff(1, 1.0), Duration::from_secs(30));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(7, 1.0), Duration::from_secs(32 * 60));
        assert_eq!(backoff(8, 1.0), BACKOFF_CAP);
        assert_eq!(backoff(u32::MAX, 1.0), BACKOFF_CAP);
        assert_eq!(backoff(3, f64::NAN), Duration::from_secs(60));
        assert_eq!(backoff(3, 7.0), Duration::from_secs(120));
        for attempt in 1..40 {
            for j in [0.0, 0.3, 0.99, 1.0] {
                let d = backoff(attempt, j);
                assert!(d <= BACKOFF_CAP && d >= backoff(attempt, 0.0));
                assert!(backoff(attempt + 1, j) >= d);
            }
        }
    }

    #[test]
    fn next_retry_respects_finality_attempts_and_retry_after() {
        let mut e = DeliveryError::new(FailureKind::Http, true, "x");
        assert_eq!(next_retry(&e, 1, 1.0), Some(Duration::from_secs(30)));
        assert_eq!(next_retry(&e, MAX_ATTEMPTS, 1.0), None);
        e.retry_after = Some(Duration::from_secs(600));
        assert_eq!(next_retry(&e, 1, 1.0), Some(Duration::from_secs(600)));
        e.retryable = false;
        assert_eq!(next_retry(&e, 1, 1.0), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = 1_772_366_400; // 2026-03-01T12:00:00Z
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 12:02:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("999999", now), Some(BACKOFF_CAP));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn userinfo_becomes_basic_auth() {
        let url = "https://bob:p%40ss@hooks.example.test/in";
        assert_eq!(strip_userinfo(url), "https://hooks.example.test/in");
        let auth = basic_auth(url).unwrap();
        assert!(auth.is_sensitive());
        // base64("bob:p@ss")
        assert_eq!(auth, "Basic Ym9iOnBAc3M=");
        assert!(basic_auth("https://hooks.example.test/in").is_none());
    }
}
