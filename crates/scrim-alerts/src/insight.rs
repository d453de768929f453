//! Sensitive-data insights: what the capture policy removed, said so that the team that owns
//! the instrumentation can fix it at the source.
//!
//! The server counts every removal by service, attribute (where in the span or log record it
//! was found) and kind as it ingests, and keeps the first time each triple was seen. From
//! those counts this module writes the sentences people read: in the UI, in the daily
//! digest, and in the notification sent when a service starts sending a kind of sensitive
//! data it never sent before.
//!
//! Only names and counts appear here, never a value: the values were removed before the
//! counts existed.

use serde::Serialize;

/// Removals of one kind, in one attribute of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub service: String,
    /// Where it was found: an attribute name (`http.request.body`), or `span.name`,
    /// `status.message`, `event.name`, `log.body`.
    pub attribute: String,
    /// A `scrim_redact::Kind` name (`card`, `email`, …).
    pub kind: String,
    pub count: u64,
}

impl Finding {
    /// `service `payments` sent 1,204 card numbers in `http.request.body` in the last
    /// hour`.
    pub fn sentence(&self, period: &str) -> String {
        format!(
            "service `{}` sent {} {} in `{}` {period}",
            self.service,
            thousands(self.count),
            kind_phrase(&self.kind, self.count),
            self.attribute
        )
    }

    /// The sentence for a first sighting.
    pub fn first_sighting(&self) -> String {
        format!(
            "service `{}` started sending {} in `{}`",
            self.service,
            kind_phrase(&self.kind, 2),
            self.attribute
        )
    }
}

/// A kind's name for people, singular or plural by `count`.
pub fn kind_phrase(kind: &str, count: u64) -> String {
    let (one, many) = match kind {
        "card" => ("card number", "card numbers"),
        "ssn" => ("US social security number", "US social security numbers"),
        "iban" => ("IBAN", "IBANs"),
        "email" => ("email address", "email addresses"),
        "ipv4" => ("IPv4 address", "IPv4 addresses"),
        "ipv6" => ("IPv6 address", "IPv6 addresses"),
        "jwt" => ("JSON Web Token", "JSON Web Tokens"),
        "bearer_token" => ("bearer token", "bearer tokens"),
        "aws_access_key" => ("AWS access key id", "AWS access key ids"),
        "aws_secret_key" => ("AWS secret key", "AWS secret keys"),
        "github_token" => ("GitHub token", "GitHub tokens"),
        "slack_token" => ("Slack token", "Slack tokens"),
        "stripe_key" => ("Stripe key", "Stripe keys"),
        "google_api_key" => ("Google API key", "Google API keys"),
        "private_key" => ("private key", "private keys"),
        "url_credentials" => ("credential in a URL", "credentials in URLs"),
        "secret" => ("secret value", "secret values"),
        "query_param" => ("query parameter value", "query parameter values"),
        "url_signature" => ("URL signature", "URL signatures"),
        "sql" => (
            "SQL statement with literals",
            "SQL statements with literals",
        ),
        "id" => ("identifier", "identifiers"),
        other => return format!("`{other}` value{}", if count == 1 { "" } else { "s" }),
    };
    (if count == 1 { one } else { many }).to_owned()
}

/// Kinds that are only bookkeeping: SQL literals and query parameter values are removed
/// from every statement and URL by design, so their counts say nothing about a mistake in
/// the instrumentation. Insights and first-sighting alerts leave them out.
pub fn is_routine(kind: &str) -> bool {
    matches!(kind, "sql" | "query_param")
}

/// `1204` ▸ `1,204`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The daily digest's summary: the total and the three largest findings, one sentence each.
pub fn digest_summary(findings: &[Finding]) -> String {
    let relevant: Vec<&Finding> = findings.iter().filter(|f| !is_routine(&f.kind)).collect();
    if relevant.is_empty() {
        return "The capture policy removed no sensitive values outside SQL literals and query \
                parameters in the last 24 hours."
            .to_owned();
    }
    let total: u64 = relevant.iter().map(|f| f.count).sum();
    let services: std::collections::BTreeSet<&str> =
        relevant.iter().map(|f| f.service.as_str()).collect();
    let mut top: Vec<&&Finding> = relevant.iter().collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then(a.service.cmp(&b.service)));
    let mut s = format!(
        "In the last 24 hours the capture policy removed {} sensitive value{} from {} service{}.",
        thousands(total),
        if total == 1 { "" } else { "s" },
        services.len(),
        if services.len() == 1 { "" } else { "s" }
    );
    for f in top.iter().take(3) {
        s.push(' ');
        let mut line = f.sentence("");
        line.truncate(line.trim_end().len());
        s.push_str(&capitalise(&line));
        s.push('.');
    }
    s
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(service: &str, attribute: &str, kind: &str, count: u64) -> Finding {
        Finding {
            service: service.into(),
            attribute: attribute.into(),
            kind: kind.into(),
            count,
        }
    }

    #[test]
    fn sentences_read_as_the_issue_asks() {
        assert_eq!(
            f("payments", "http.request.body", "card", 1204).sentence("in the last hour"),
            "service `payments` sent 1,204 card numbers in `http.request.body` in the last hour"
        );
        assert_eq!(
            f("users", "log.body", "email", 1).sentence("today"),
            "service `users` sent 1 email address in `log.body` today"
        );
        assert_eq!(
            f("users", "enduser.email", "email", 1).first_sighting(),
            "service `users` started sending email addresses in `enduser.email`"
        );
    }

    #[test]
    fn thousands_groups_digits() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(thousands(n), s);
        }
    }

    #[test]
    fn every_kind_has_a_phrase() {
        // The names scrim-redact uses; an unknown one still reads sensibly.
        for kind in [
            "card",
            "ssn",
            "iban",
            "email",
            "ipv4",
            "ipv6",
            "jwt",
            "bearer_token",
            "aws_access_key",
            "aws_secret_key",
            "github_token",
            "slack_token",
            "stripe_key",
            "google_api_key",
            "private_key",
            "url_credentials",
            "secret",
            "query_param",
            "url_signature",
            "sql",
            "id",
        ] {
            assert!(!kind_phrase(kind, 2).contains('`'), "{kind}");
        }
        assert_eq!(kind_phrase("new_kind", 1), "`new_kind` value");
    }

    #[test]
    fn the_digest_leaves_routine_kinds_out_and_names_the_largest() {
        let findings = [
            f("checkout", "db.query.text", "sql", 90_000),
            f("payments", "http.request.body", "card", 1204),
            f("users", "log.body", "email", 30),
            f("users", "enduser.id", "id", 2),
            f("frontend", "url.full", "query_param", 5000),
            f("frontend", "client.address", "ipv4", 7),
        ];
        let s = digest_summary(&findings);
        assert!(s.starts_with(
            "In the last 24 hours the capture policy removed 1,243 sensitive values from 3 services."
        ), "{s}");
        assert!(s.contains("Service `payments` sent 1,204 card numbers in `http.request.body`."));
        assert!(!s.contains("sql") && !s.contains("query parameter"), "{s}");
        assert!(!s.contains("identifier"), "only the three largest: {s}");
        assert!(digest_summary(&findings[..1]).contains("removed no sensitive values"));
    }
}
