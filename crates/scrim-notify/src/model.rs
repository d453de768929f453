//! What a notification says, and [`Outgoing`]: the same after redaction and length caps, the
//! only form that can be formatted or delivered.

use std::borrow::Cow;
use std::sync::LazyLock;

use scrim_redact::detect::TextRedactor;
use scrim_redact::{Counts, TextScrubber};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest summary kept, in characters.
pub const MAX_SUMMARY_CHARS: usize = 2000;
/// Most fields kept; later ones are dropped.
pub const MAX_FIELDS: usize = 30;
/// Longest field label or value kept, in characters.
pub const MAX_FIELD_CHARS: usize = 500;
/// Longest kind, tenant name and id kept, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest link kept, in bytes; a longer one is dropped.
pub const MAX_LINK_BYTES: usize = 2000;
/// Text read from any one field before redaction: bounds the work on absurd input.
const MAX_INPUT_BYTES: usize = 64 * 1024;
/// Replaces a field that redaction and cutting could not settle (see [`settle`]).
const WITHHELD: &str = "[REDACTED]";

/// How urgent a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// `info`, `warning` or `critical`, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What the server builds for one event. Nothing here is trusted to be free of sensitive
/// data: [`Outgoing::new`] redacts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique event id, e.g. `ntf_<base32>`; receivers dedupe on it, so a retry keeps it.
    pub id: String,
    /// The tenant's name.
    pub tenant: String,
    /// Dotted kind: `alert.firing`, `alert.resolved`, `insight.new_kind`, `insight.digest`,
    /// `detection.failed_sign_ins`, `test`, …
    pub kind: String,
    pub severity: Severity,
    pub title: String,
    pub summary: String,
    /// (label, value) pairs, in order.
    pub fields: Vec<(String, String)>,
    /// A URL into the web UI.
    pub link: Option<String>,
    /// When the event happened, Unix seconds.
    pub time_unix: i64,
}

/// A [`Notification`] after redaction: every text field went through every detector of
/// `scrim-redact` with every value masked, and was cut to its cap on a character boundary.
/// The only thing [`crate::Notifier::deliver`] accepts, so nothing unredacted can leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    n: Notification,
    redacted: u64,
}

/// Every detector, default sensitive keys, every value masked: what the tenant's capture
/// policy kept in storage is not a reason to send it out.
static REDACTOR: LazyLock<TextRedactor> = LazyLock::new(TextRedactor::default);

impl Outgoing {
    /// Redacts and caps `n`. Infallible: what cannot be made safe is replaced or dropped
    /// (an id that is not `[A-Za-z0-9._-]` becomes `ntf_` and a digest of it, a link that is
    /// not an absolute http(s) URL is dropped).
    pub fn new(n: Notification) -> Outgoing {
        let mut counts = Counts::default();
        let mut c =
            |text: &str, cap: usize, lines: Lines| settle(&clean(text, lines), cap, &mut counts);
        let out = Notification {
            id: String::new(),
            tenant: c(&n.tenant, MAX_NAME_CHARS, Lines::One),
            kind: c(&n.kind, MAX_NAME_CHARS, Lines::One),
            severity: n.severity,
            title: c(&n.title, MAX_TITLE_CHARS, Lines::One),
            summary: c(&n.summary, MAX_SUMMARY_CHARS, Lines::Many),
            fields: n
                .fields
                .iter()
                .take(MAX_FIELDS)
                .map(|(label, value)| {
                    (
                        c(label, MAX_FIELD_CHARS, Lines::One),
                        c(value, MAX_FIELD_CHARS, Lines::Many),
                    )
                })
                .collect(),
            link: None,
            time_unix: n.time_unix,
        };
        let link = n.link.as_deref().and_then(|l| redact_link(l, &mut counts));
        let id = safe_id(&n.id, &mut counts);
        Outgoing {
            n: Notification { id, link, ..out },
            redacted: counts.total(),
        }
    }

    /// The redacted notification.
    pub fn notification(&self) -> &Notification {
        &self.n
    }

    /// How many values redaction replaced (for the caller's audit record).
    pub fn redacted_count(&self) -> u64 {
        self.redacted
    }

    /// `time_unix` as RFC 3339 UTC with seconds, e.g. `2026-03-01T12:00:00Z`.
    pub fn time_rfc3339(&self) -> String {
        chrono::DateTime::from_timestamp(self.n.time_unix, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// The webhook's JSON body (docs/notifications.md):
    /// `{"id","type","tenant","severity","title","summary","fields":[{"label","value"}],"link","time"}`.
    pub fn webhook_body(&self) -> Vec<u8> {
        crate::format::webhook(self)
    }

    /// A Slack incoming-webhook body: `{"text": fallback, "blocks": [...]}`.
    pub fn slack_body(&self) -> Vec<u8> {
        crate::format::slack(self)
    }

    /// The e-mail's subject: `[Scrim] <title>`.
    pub fn email_subject(&self) -> String {
        format!("[Scrim] {}", self.n.title)
    }

    /// The e-mail's plain-text body: the same content as the webhook, one item a line.
    pub fn email_text(&self) -> String {
        crate::format::email_text(self)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Lines {
    One,
    Many,
}

/// Control characters out (line breaks kept where `lines` allows, as `\n`), input bounded.
fn clean(text: &str, lines: Lines) -> String {
    let text = cut(text, usize::MAX, MAX_INPUT_BYTES);
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\n' if lines == Lines::Many => out.push('\n'),
            '\r' if lines == Lines::Many => {}
            c if c.is_control() => out.push(' '),
            // Bidirectional overrides could make a mail or chat line read backwards.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

/// At most `chars` characters and `bytes` bytes of `text`, cut on a character boundary.
pub(crate) fn cut(text: &str, chars: usize, bytes: usize) -> &str {
    let mut end = 0;
    for (n, (i, ch)) in text.char_indices().enumerate() {
        if n == chars || i + ch.len_utf8() > bytes {
            return &text[..end];
        }
        end = i + ch.len_utf8();
    }
    text
}

/// Redacted and cut to `cap` characters. Redaction runs before the cut (a cut could split a
/// value so that no detector recognises the rest) and again after it (a cut can also turn
/// text into a value a detector recognises, e.g. a 17-digit run into a valid card number),
/// until the text is stable; a field that does not settle is withheld entirely.
fn settle(text: &str, cap: usize, counts: &mut Counts) -> String {
    let mut current = REDACTOR.scrub(text, counts).into_owned();
    for _ in 0..4 {
        let kept = cut(&current, cap, usize::MAX);
        match REDACTOR.scrub(kept, counts) {
            Cow::Borrowed(_) => return kept.to_owned(),
            Cow::Owned(again) => current = again,
        }
    }
    WITHHELD.to_owned()
}

/// The link without userinfo, its query and fragment redacted; `None` when it is not an
/// absolute `http(s)` URL or is too long.
fn redact_link(link: &str, counts: &mut Counts) -> Option<String> {
    if link.len() > MAX_INPUT_BYTES {
        return None;
    }
    let mut url = url::Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if let Some(query) = url.query().map(str::to_owned) {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| {
                (
                    REDACTOR.scrub(&k, counts).into_owned(),
                    REDACTOR.scrub(&v, counts).into_owned(),
                )
            })
            .collect();
        if pairs.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    if let Some(fragment) = url.fragment().map(str::to_owned) {
        let decoded = percent_decode(&fragment);
        let scrubbed = REDACTOR.scrub(&decoded, counts);
        if let Cow::Owned(s) = scrubbed {
            url.set_fragment(Some(&s));
        }
    }
    // The path is the UI's own route (ids, not values), but a caller could still have put
    // something there: a path a detector objects to drops the link.
    let path = percent_decode(url.path());
    if matches!(REDACTOR.scrub(&path, counts), Cow::Owned(_)) {
        return None;
    }
    let out = String::from(url);
    (out.len() <= MAX_LINK_BYTES).then_some(out)
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The id as given when it is a plain token (`[A-Za-z0-9._-]`, at most 100 characters) that
/// no detector objects to; otherwise `ntf_` and the first 26 hex digits of its SHA-256, so
/// the same input still gives the same id (receivers dedupe on it) and reveals nothing.
fn safe_id(id: &str, counts: &mut Counts) -> String {
    let plain = !id.is_empty()
        && id.len() <= MAX_NAME_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain && matches!(REDACTOR.scrub(id, counts), Cow::Borrowed(_)) {
        return id.to_owned();
    }
    let digest = Sha256::digest(id.as_bytes());
    let hex: String = digest.iter().take(13).map(|b| format!("{b:02x}")).collect();
    format!("ntf_{hex}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Values no notification may carry out, whatever the caller put in it.
    pub(crate) const PLANTED: &[&str] = &[
        "4111 1111 1111 1111",
        "4111111111111111",
        "jane.doe@example.com",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "hunter2secret",
        "203.0.113.42",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ];

    /// Text that carries each planted value in a way a detector must recognise.
    fn carrier(i: usize) -> String {
        match i {
            4 => "password=hunter2secret".to_owned(),
            _ => PLANTED[i].to_owned(),
        }
    }

    pub(crate) fn sample() -> Notification {
        Notification {
            id: "ntf_abc123".into(),
            tenant: "acme".into(),
            kind: "alert.firing".into(),
            severity: Severity::Critical,
            title: "Error rate above 5% on checkout".into(),
            summary: "checkout's error rate is 7.2% over 5 minutes.\nThreshold 5%.".into(),
            fields: vec![
                ("Service".into(), "checkout".into()),
                ("Error rate".into(), "7.2%".into()),
            ],
            link: Some("https://scrim.example.test/t/acme/services/checkout?window=5m".into()),
            time_unix: 1_772_366_400,
        }
    }

    fn all_text(o: &Outgoing) -> String {
        let n = o.notification();
        let mut s = format!(
            "{} {} {} {} {} {:?}",
            n.id, n.tenant, n.kind, n.title, n.summary, n.link
        );
        for (l, v) in &n.fields {
            s.push_str(&format!(" {l} {v}"));
        }
        // The link decoded, so that an encoded value (`4111+1111…`) is seen too.
        if let Some(link) = &n.link {
            for (k, v) in form_urlencoded::parse(link.as_bytes()) {
                s.push_str(&format!(" {k} {v}"));
            }
        }
        s.push_str(&String::from_utf8_lossy(&o.webhook_body()));
        s.push_str(&String::from_utf8_lossy(&o.slack_body()));
        s.push_str(&o.email_text());
        s.push_str(&o.email_subject());
        s
    }

    #[test]
    fn a_clean_notification_goes_out_unchanged() {
        let n = sample();
        let o = Outgoing::new(n.clone());
        assert_eq!(o.notification(), &n);
        assert_eq!(o.redacted_count(), 0);
        assert_eq!(o.time_rfc3339(), "2026-03-01T12:00:00Z");
    }

    #[test]
    fn planted_values_are_removed_from_every_field() {
        for (i, planted) in PLANTED.iter().enumerate() {
            let v = carrier(i);
            let n = Notification {
                id: v.clone(),
                tenant: format!("t {v}"),
                kind: format!("alert {v}"),
                title: format!("title {v} end"),
                summary: format!("line one\nsummary {v} end"),
                fields: vec![(format!("label {v}"), format!("value {v}"))],
                link: Some(format!("https://scrim.example.test/x?q={v}#{v}")),
                ..sample()
            };
            let o = Outgoing::new(n);
            let text = all_text(&o);
            assert!(!text.contains(planted), "{planted} left in {text}");
            assert!(o.redacted_count() >= 7, "{i}: {}", o.redacted_count());
            assert!(o.notification().id.starts_with("ntf_"));
        }
    }

    #[test]
    fn caps_cut_on_character_boundaries() {
        let n = Notification {
            title: "é".repeat(1000),
            summary: "ü".repeat(5000),
            fields: (0..50)
                .map(|i| (format!("f{i}"), "ß".repeat(900)))
                .collect(),
            ..sample()
        };
        let o = Outgoing::new(n);
        let n = o.notification();
        assert_eq!(n.title.chars().count(), MAX_TITLE_CHARS);
        assert_eq!(n.summary.chars().count(), MAX_SUMMARY_CHARS);
        assert_eq!(n.fields.len(), MAX_FIELDS);
        assert!(
            n.fields
                .iter()
                .all(|(_, v)| v.chars().count() == MAX_FIELD_CHARS)
        );
    }

    #[test]
    fn a_cut_that_makes_a_card_number_is_redacted_again() {
        // 17 digits that no detector takes for a card; cut to 16 they are a valid one.
        let seventeen = (0..10)
            .map(|d| format!("4111111111111111{d}"))
            .find(|s| {
                matches!(
                    REDACTOR.scrub(&format!("x {s}"), &mut Counts::default()),
                    Cow::Borrowed(_)
                )
            })
            .expect("some 17-digit run is not redacted");
        let title = format!("{} {seventeen}", "x".repeat(MAX_TITLE_CHARS - 17));
        let o = Outgoing::new(Notification { title, ..sample() });
        assert!(!o.notification().title.contains("4111111111111111"));
    }

    #[test]
    fn control_characters_and_bad_links_do_not_pass() {
        let o = Outgoing::new(Notification {
            title: "a\r\nBcc: x\u{202e}y".into(),
            link: Some("javascript:alert(1)".into()),
            ..sample()
        });
        assert_eq!(o.notification().title, "a  Bcc: xy");
        assert_eq!(o.notification().link, None);
        let o = Outgoing::new(Notification {
            link: Some("https://user:pw@scrim.example.test/a?b=1".into()),
            ..sample()
        });
        assert_eq!(
            o.notification().link.as_deref(),
            Some("https://scrim.example.test/a?b=1")
        );
    }

    #[test]
    fn an_unsafe_id_is_replaced_by_a_stable_digest() {
        let a = Outgoing::new(Notification {
            id: "jane.doe@example.com".into(),
            ..sample()
        });
        let b = Outgoing::new(Notification {
            id: "jane.doe@example.com".into(),
            ..sample()
        });
        assert_eq!(a.notification().id, b.notification().id);
        assert_eq!(a.notification().id.len(), 4 + 26);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn no_planted_value_survives(
            which in 0..PLANTED.len(),
            field in 0usize..7,
            before in "[a-zA-Z ,.:;()\\n-]{0,300}",
            after in "[a-zA-Z ,.:;()\\n-]{0,300}",
        ) {
            let text = format!("{before} {} {after}", carrier(which));
            let mut n = sample();
            match field {
                0 => n.title = text,
                1 => n.summary = text,
                2 => n.fields.push((text, "v".into())),
                3 => n.fields.push(("l".into(), text)),
                4 => n.kind = text,
                5 => n.tenant = text,
                _ => n.link = Some(format!("https://scrim.example.test/p?q={}", text.replace('\n', " "))),
            }
            let o = Outgoing::new(n);
            let all = all_text(&o);
            prop_assert!(!all.contains(PLANTED[which]), "{} left in {}", PLANTED[which], all);
        }
    }
}
