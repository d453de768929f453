//! The three renderings of an [`Outgoing`]: webhook JSON, Slack blocks, e-mail text. Each
//! shape is documented in docs/notifications.md; changing one breaks receivers.

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{Outgoing, cut};

#[derive(Serialize)]
struct WebhookBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    tenant: &'a str,
    severity: &'a str,
    title: &'a str,
    summary: &'a str,
    fields: Vec<Field<'a>>,
    link: Option<&'a str>,
    time: String,
}

#[derive(Serialize)]
struct Field<'a> {
    label: &'a str,
    value: &'a str,
}

pub(crate) fn webhook(out: &Outgoing) -> Vec<u8> {
    let n = out.notification();
    let body = WebhookBody {
        id: &n.id,
        kind: &n.kind,
        tenant: &n.tenant,
        severity: n.severity.as_str(),
        title: &n.title,
        summary: &n.summary,
        fields: n
            .fields
            .iter()
            .map(|(label, value)| Field { label, value })
            .collect(),
        link: n.link.as_deref(),
        time: out.time_rfc3339(),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Slack's limits: a header's text 150 characters, a section's text 3000, a field's 2000,
/// ten fields a section.
const SLACK_HEADER_CHARS: usize = 150;
const SLACK_FIELDS_PER_SECTION: usize = 10;

/// Slack mrkdwn needs `&`, `<` and `>` escaped (and nothing else): unescaped, `<!channel>`
/// in a title would notify a whole channel and `<https://x|y>` would disguise a link.
pub(crate) fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn severity_label(out: &Outgoing) -> &'static str {
    match out.notification().severity {
        crate::Severity::Info => "Info",
        crate::Severity::Warning => "Warning",
        crate::Severity::Critical => "Critical",
    }
}

pub(crate) fn slack(out: &Outgoing) -> Vec<u8> {
    let n = out.notification();
    let fallback = slack_escape(&format!(
        "[{}] {}: {}",
        severity_label(out),
        n.tenant,
        n.title
    ));
    let mut blocks: Vec<Value> = Vec::new();
    let header = cut(&n.title, SLACK_HEADER_CHARS, usize::MAX);
    if !header.trim().is_empty() {
        blocks.push(json!({
            "type": "header",
            "text": {"type": "plain_text", "text": header, "emoji": false}
        }));
    }
    if !n.summary.trim().is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": slack_escape(&n.summary)}
        }));
    }
    for chunk in n.fields.chunks(SLACK_FIELDS_PER_SECTION) {
        let fields: Vec<Value> = chunk
            .iter()
            .map(|(label, value)| {
                json!({
                    "type": "mrkdwn",
                    "text": format!("*{}*\n{}", slack_escape(label), slack_escape(value)),
                })
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    let mut context = format!(
        "{} · {} · {} · {}",
        severity_label(out),
        slack_escape(&n.kind),
        slack_escape(&n.tenant),
        out.time_rfc3339()
    );
    if let Some(link) = &n.link {
        // Inside `<url|text>` a `|` or `>` would end the URL early.
        let url = slack_escape(&link.replace('|', "%7C"));
        context.push_str(&format!(" · <{url}|Open in Scrim>"));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": context}]
    }));
    serde_json::to_vec(&json!({"text": fallback, "blocks": blocks})).unwrap_or_default()
}

pub(crate) fn email_text(out: &Outgoing) -> String {
    let n = out.notification();
    let mut text = format!(
        "{}\n\nSeverity: {}\nType: {}\nTenant: {}\nTime: {}\n",
        n.title,
        n.severity.as_str(),
        n.kind,
        n.tenant,
        out.time_rfc3339()
    );
    if !n.summary.is_empty() {
        text.push('\n');
        text.push_str(&n.summary);
        text.push('\n');
    }
    if !n.fields.is_empty() {
        text.push('\n');
        for (label, value) in &n.fields {
            text.push_str(&format!("{label}: {value}\n"));
        }
    }
    if let Some(link) = &n.link {
        text.push_str(&format!("\nOpen in Scrim: {link}\n"));
    }
    text.push_str(&format!("\nNotification id: {}\n", n.id));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;
    use crate::{Notification, Outgoing};

    #[test]
    fn the_webhook_body_has_the_documented_shape() {
        let out = Outgoing::new(sample());
        let v: Value = serde_json::from_slice(&out.webhook_body()).unwrap();
        assert_eq!(
            v,
            json!({
                "id": "ntf_abc123",
                "type": "alert.firing",
                "tenant": "acme",
                "severity": "critical",
                "title": "Error rate above 5% on checkout",
                "summary": "checkout's error rate is 7.2% over 5 minutes.\nThreshold 5%.",
                "fields": [
                    {"label": "Service", "value": "checkout"},
                    {"label": "Error rate", "value": "7.2%"}
                ],
                "link": "https://scrim.example.test/t/acme/services/checkout?window=5m",
                "time": "2026-03-01T12:00:00Z"
            })
        );
        // Key order is part of the bytes that are signed; keep it stable.
        let text = String::from_utf8(out.webhook_body()).unwrap();
        assert!(text.starts_with(r#"{"id":"ntf_abc123","type":"alert.firing","#));
    }

    #[test]
    fn slack_text_is_escaped_and_within_limits() {
        let out = Outgoing::new(Notification {
            title: format!("<!channel> & {}", "t".repeat(300)),
            summary: "see <https://evil.test|your bank>".into(),
            fields: (0..25).map(|i| (format!("f{i}"), "a>b".into())).collect(),
            ..sample()
        });
        let v: Value = serde_json::from_slice(&out.slack_body()).unwrap();
        let text = v["text"].as_str().unwrap();
        assert!(
            text.starts_with("[Critical] acme: &lt;!channel&gt; &amp; "),
            "{text}"
        );
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"].as_str().unwrap().chars().count(),
            150
        );
        assert_eq!(
            blocks[1]["text"]["text"],
            "see &lt;https://evil.test|your bank&gt;"
        );
        // 25 fields: sections of 10, 10 and 5.
        let sizes: Vec<usize> = blocks[2..5]
            .iter()
            .map(|b| b["fields"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(blocks[2]["fields"][0]["text"], "*f0*\na&gt;b");
        let context = blocks[5]["elements"][0]["text"].as_str().unwrap();
        assert!(
            context.ends_with(
                "<https://scrim.example.test/t/acme/services/checkout?window=5m|Open in Scrim>"
            ),
            "{context}"
        );
        // The header is plain_text, which Slack shows as is; every mrkdwn text is escaped.
        let mut mrkdwn = vec![v["text"].clone()];
        for block in blocks {
            mrkdwn.push(block["text"].clone());
            for f in block["fields"].as_array().into_iter().flatten() {
                mrkdwn.push(f["text"].clone());
            }
            for e in block["elements"].as_array().into_iter().flatten() {
                mrkdwn.push(e["text"].clone());
            }
        }
        for m in mrkdwn {
            if let Some(t) = m.as_str() {
                assert!(!t.contains("<!"), "{t}");
            } else if m.get("type") == Some(&json!("mrkdwn")) {
                assert!(!m["text"].as_str().unwrap().contains("<!"), "{m}");
            }
        }
    }

    #[test]
    fn email_text_lists_everything() {
        let out = Outgoing::new(sample());
        let text = out.email_text();
        for needle in [
            "Error rate above 5% on checkout\n",
            "Severity: critical\n",
            "Type: alert.firing\n",
            "Tenant: acme\n",
            "Time: 2026-03-01T12:00:00Z\n",
            "Threshold 5%.\n",
            "Service: checkout\n",
            "Open in Scrim: https://scrim.example.test/",
            "Notification id: ntf_abc123\n",
        ] {
            assert!(text.contains(needle), "{needle:?} not in {text}");
        }
        assert_eq!(
            out.email_subject(),
            "[Scrim] Error rate above 5% on checkout"
        );
    }
}
