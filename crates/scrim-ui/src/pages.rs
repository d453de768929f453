//! One struct per page and fragment. Every field is a value already fetched, redacted at
//! ingest and formatted; askama escapes each one it prints. The few fields printed with
//! `|safe` are markup this crate made: charts ([`crate::chart`]) and text whose redaction
//! markers were wrapped by [`marked`], which escapes everything else.

use askama::Template;

use crate::format::{self, Piece};

/// HTML-escapes text for element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text as HTML, escaped, with every redaction marker wrapped in
/// `<mark class="redacted" title="why">` so people see what was removed and why.
pub fn marked(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for piece in format::pieces(text) {
        match piece {
            Piece::Text(t) => out.push_str(&escape(t)),
            Piece::Marker { text, kind, how } => {
                out.push_str("<mark class=\"redacted\" title=\"");
                out.push_str(&escape(&format::explain(kind, how)));
                out.push_str("\">");
                out.push_str(&escape(text));
                out.push_str("</mark>");
            }
        }
    }
    out
}

/// A database statement as HTML: markers as in [`marked`], and each `?` placeholder (a
/// literal the obfuscator removed) marked too.
pub fn marked_sql(statement: &str) -> String {
    let html = marked(statement);
    // `?` never occurs inside an escape sequence or the markup `marked` adds.
    html.replace(
        '?',
        "<mark class=\"redacted\" title=\"a literal removed by the capture policy (sql)\">?</mark>",
    )
}

/// One entry of the side navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub key: &'static str,
    pub href: &'static str,
    pub label: &'static str,
}

#[derive(Debug, Clone)]
pub struct NavGroup {
    pub title: &'static str,
    pub items: Vec<NavItem>,
}

/// Every page of the signed-in UI, by group: (group, key, href, label).
pub const PAGES: [(&str, &str, &str, &str); 12] = [
    ("Explore", "services", "/services", "Services"),
    ("Explore", "traces", "/traces", "Traces"),
    ("Explore", "logs", "/logs", "Logs"),
    ("Explore", "sql", "/sql", "SQL console"),
    ("Govern", "privacy", "/privacy", "Privacy"),
    ("Govern", "access", "/access", "Access"),
    ("Govern", "audit", "/audit", "Audit log"),
    ("Govern", "data", "/data", "Data"),
    ("Govern", "security", "/security", "Security posture"),
    // Last, so that each role's home page stays what it was.
    ("Respond", "alerts", "/alerts", "Alerts"),
    ("Respond", "insights", "/insights", "Insights"),
    (
        "Respond",
        "detections",
        "/security/detections",
        "Detections",
    ),
];

/// What every signed-in page shares: who, where, and the navigation the role allows.
#[derive(Debug, Clone)]
pub struct Frame {
    pub title: String,
    pub active: &'static str,
    pub email: String,
    pub role: String,
    pub tenant: String,
    pub tenants: Vec<String>,
    pub csrf: String,
    pub restricted: Option<String>,
    pub flash: Option<String>,
    pub nav: Vec<NavGroup>,
    pub css: &'static str,
    pub js: &'static str,
    pub htmx: &'static str,
}

impl Frame {
    /// The frame of a page; `allowed(key)` says which pages the role may open (the others
    /// are not offered; the server refuses them anyway).
    pub fn new(
        title: impl Into<String>,
        active: &'static str,
        who: Who,
        allowed: impl Fn(&str) -> bool,
    ) -> Frame {
        let mut nav: Vec<NavGroup> = Vec::new();
        for (group, key, href, label) in PAGES {
            if !allowed(key) {
                continue;
            }
            let item = NavItem { key, href, label };
            match nav.iter_mut().find(|g| g.title == group) {
                Some(g) => g.items.push(item),
                None => nav.push(NavGroup {
                    title: group,
                    items: vec![item],
                }),
            }
        }
        Frame {
            title: title.into(),
            active,
            email: who.email,
            role: who.role,
            tenant: who.tenant,
            tenants: who.tenants,
            csrf: who.csrf,
            restricted: who.restricted,
            flash: None,
            nav,
            css: crate::assets::stylesheet(),
            js: crate::assets::script(),
            htmx: crate::assets::htmx(),
        }
    }

    pub fn with_flash(mut self, flash: Option<String>) -> Frame {
        self.flash = flash;
        self
    }
}

/// The signed-in person, as the session API describes them.
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub email: String,
    pub role: String,
    pub tenant: String,
    pub tenants: Vec<String>,
    pub csrf: String,
    pub restricted: Option<String>,
}

/// The time-range picker.
#[derive(Debug, Clone)]
pub struct RangePicker {
    pub key: String,
    pub label: String,
    pub options: Vec<(&'static str, &'static str)>,
}

/// The ranges offered, as (key, label, seconds).
pub const RANGES: [(&str, &str, i64); 6] = [
    ("15m", "Last 15 minutes", 900),
    ("1h", "Last hour", 3_600),
    ("6h", "Last 6 hours", 21_600),
    ("24h", "Last 24 hours", 86_400),
    ("7d", "Last 7 days", 604_800),
    ("30d", "Last 30 days", 2_592_000),
];

impl RangePicker {
    /// The picker with `key` chosen (unknown keys fall back to the last hour), and the
    /// chosen range's length in seconds.
    pub fn new(key: Option<&str>) -> (RangePicker, i64) {
        let (key, label, secs) = RANGES
            .iter()
            .find(|(k, _, _)| Some(*k) == key)
            .copied()
            .unwrap_or(RANGES[1]);
        (
            RangePicker {
                key: key.to_owned(),
                label: label.to_owned(),
                options: RANGES.iter().map(|(k, l, _)| (*k, *l)).collect(),
            },
            secs,
        )
    }
}

// ---- sign-in (no frame: nobody is signed in yet) ----

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub title: String,
    pub css: &'static str,
    pub csrf: String,
    pub email: String,
    pub tenant: String,
    pub message: Option<String>,
}

#[derive(Template)]
#[template(path = "login_code.html")]
pub struct LoginCodePage {
    pub title: String,
    pub css: &'static str,
    pub csrf: String,
    pub ticket: String,
    pub message: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub css: &'static str,
    pub message: String,
    pub error: bool,
    pub link: String,
    pub link_text: String,
    /// Moves on to this same-site path by itself (a meta refresh: no script needed).
    pub refresh: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub frame: Frame,
    pub heading: String,
    pub message: String,
}

// ---- explore ----

/// One service's numbers, formatted.
#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub name: String,
    /// The name as a URL path segment (percent-encoded).
    pub path: String,
    pub requests: String,
    pub rate: String,
    pub error_rate: String,
    pub failing: bool,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub sparkline: String,
}

#[derive(Debug, Clone, Default)]
pub struct Charts {
    pub requests: String,
    pub errors: String,
    pub latency: String,
}

#[derive(Template)]
#[template(path = "services.html")]
pub struct ServicesPage {
    pub frame: Frame,
    pub range: RangePicker,
    pub error: Option<String>,
    pub services: Vec<ServiceRow>,
    pub charts: Charts,
}

#[derive(Debug, Clone)]
pub struct OperationRow {
    pub name: String,
    pub path: String,
    pub kind: String,
    pub count: String,
    pub errors: String,
    pub p50: String,
    pub p95: String,
}

#[derive(Debug, Clone)]
pub struct StatementRow {
    /// HTML from [`marked_sql`].
    pub statement: String,
    /// The statement as stored (for a form that names it).
    pub raw: String,
    pub system: String,
    pub count: String,
    pub avg: String,
    pub p95: String,
}

#[derive(Debug, Clone)]
pub struct TraceRow {
    pub id: String,
    pub short_id: String,
    pub service: String,
    pub operation: String,
    pub started: String,
    pub iso: String,
    pub duration: String,
    pub spans: u64,
    pub error: bool,
}

#[derive(Template)]
#[template(path = "service.html")]
pub struct ServicePage {
    pub frame: Frame,
    pub range: RangePicker,
    pub error: Option<String>,
    pub name: String,
    pub path: String,
    pub stats: Option<ServiceRow>,
    pub charts: Charts,
    pub operations: Vec<OperationRow>,
    pub slowest: Vec<StatementRow>,
    pub frequent: Vec<StatementRow>,
    pub errors: Vec<TraceRow>,
    /// Where AI questions would go, when the tenant turned them on and the person may ask.
    pub ai: Option<AiOffer>,
}

/// The AI provider a question would go to (shown on the buttons that ask).
#[derive(Debug, Clone)]
pub struct AiOffer {
    pub host: String,
    pub model: String,
}

/// An AI answer or preview on a page of its own (a browser without scripts).
#[derive(Template)]
#[template(path = "ai_page.html")]
pub struct AiPage {
    pub frame: Frame,
    /// The rendered [`AiFragment`].
    pub fragment: String,
}

/// The answer to an AI button: what would be sent (with the form that sends exactly it),
/// the provider's answer, or why there is none.
#[derive(Template)]
#[template(path = "ai.html")]
pub struct AiFragment {
    pub csrf: String,
    pub error: Option<String>,
    /// The fields that name the question (feature, trace id, service, …).
    pub fields: Vec<(String, String)>,
    pub host: String,
    pub model: String,
    pub sha256: String,
    pub bytes: String,
    /// The exact request body (escaped by the template).
    pub payload: Option<String>,
    pub answer: Option<String>,
}

/// The trace search form as it was filled in.
#[derive(Debug, Clone, Default)]
pub struct TraceForm {
    pub service: String,
    pub operation: String,
    pub min_ms: String,
    pub attr: String,
    pub errors: bool,
}

#[derive(Template)]
#[template(path = "traces.html")]
pub struct TracesPage {
    pub frame: Frame,
    pub range: RangePicker,
    pub filter: TraceForm,
    pub services: Vec<String>,
    pub error: Option<String>,
    pub traces: Vec<TraceRow>,
    pub older: Option<String>,
}

/// One span of the waterfall, ready to print.
#[derive(Debug, Clone)]
pub struct SpanView {
    pub span_id: String,
    pub parent: String,
    pub indent: usize,
    pub color: usize,
    pub service: String,
    pub name: String,
    pub kind: String,
    pub error: bool,
    /// HTML from [`marked`].
    pub status: String,
    /// Bar position on a 0..1000 scale.
    pub x: String,
    pub w: String,
    pub offset: String,
    pub duration: String,
    /// (name, HTML from [`marked`]).
    pub attributes: Vec<(String, String)>,
    pub events: Vec<EventView>,
}

#[derive(Debug, Clone)]
pub struct EventView {
    pub name: String,
    pub offset: String,
    pub attributes: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "trace.html")]
pub struct TracePage {
    pub frame: Frame,
    pub ai: Option<AiOffer>,
    pub wf: crate::waterfall::Waterfall,
    pub started: String,
    pub duration: String,
    pub rows: Vec<SpanView>,
}

impl TracePage {
    /// The page of a laid-out trace.
    pub fn new(frame: Frame, wf: crate::waterfall::Waterfall) -> TracePage {
        let rows = wf
            .rows
            .iter()
            .map(|r| {
                let x = (r.offset_pct * 10.0).clamp(0.0, 1000.0);
                let w = (r.width_pct * 10.0).clamp(1.0, 1000.0 - x.min(999.0));
                SpanView {
                    span_id: r.span_id.clone(),
                    parent: r.parent_span_id.clone(),
                    indent: r.depth.min(8),
                    color: r.color % 6,
                    service: r.service.clone(),
                    name: r.name.clone(),
                    kind: r.kind.clone(),
                    error: r.error,
                    status: marked(&r.status_message),
                    x: format!("{x:.1}"),
                    w: format!("{w:.1}"),
                    offset: format::duration_ns((r.start_ns - wf.start_ns) as f64),
                    duration: format::duration_ns(r.duration_ns as f64),
                    attributes: r
                        .attributes
                        .iter()
                        .map(|(k, v)| (k.clone(), attribute_html(k, v)))
                        .collect(),
                    events: r
                        .events
                        .iter()
                        .map(|e| EventView {
                            name: e.name.clone(),
                            offset: format::duration_ns(e.offset_ns as f64),
                            attributes: e
                                .attributes
                                .iter()
                                .map(|(k, v)| (k.clone(), attribute_html(k, v)))
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect();
        TracePage {
            frame,
            ai: None,
            started: format::timestamp_ns(wf.start_ns),
            duration: format::duration_ns(wf.duration_ns as f64),
            rows,
            wf,
        }
    }
}

/// An attribute value as HTML: statements get their placeholders marked too.
fn attribute_html(key: &str, value: &str) -> String {
    if matches!(key, "db.statement" | "db.query.text") {
        marked_sql(value)
    } else {
        marked(value)
    }
}

#[derive(Debug, Clone, Default)]
pub struct LogForm {
    pub text: String,
    pub service: String,
    pub severity: String,
    pub trace: String,
}

#[derive(Debug, Clone)]
pub struct LogRow {
    pub time: String,
    pub service: String,
    pub severity: String,
    pub severe: bool,
    /// HTML from [`marked`].
    pub body: String,
    pub trace_id: String,
    pub short_trace: String,
}

#[derive(Template)]
#[template(path = "logs.html")]
pub struct LogsPage {
    pub frame: Frame,
    pub range: RangePicker,
    pub filter: LogForm,
    pub services: Vec<String>,
    pub severities: Vec<String>,
    pub error: Option<String>,
    pub logs: Vec<LogRow>,
    pub older: Option<String>,
}

#[derive(Template)]
#[template(path = "sql.html")]
pub struct SqlPage {
    pub frame: Frame,
    pub query: String,
    pub max_rows: usize,
    /// HTML of a [`SqlResultFragment`] when the form was posted without htmx.
    pub result: Option<String>,
}

#[derive(Template, Default)]
#[template(path = "sql_result.html")]
pub struct SqlResultFragment {
    pub error: Option<String>,
    pub columns: Vec<String>,
    /// Cells as HTML from [`marked`].
    pub rows: Vec<Vec<String>>,
    pub truncated: bool,
}

// ---- govern ----

#[derive(Debug, Clone)]
pub struct CaughtRow {
    pub service: String,
    pub kind: String,
    pub label: &'static str,
    pub count: String,
}

#[derive(Template)]
#[template(path = "privacy.html")]
pub struct PrivacyPage {
    pub frame: Frame,
    pub error: Option<String>,
    pub policy: String,
    pub version: i64,
    pub is_default: bool,
    pub can_edit: bool,
    pub preview_kinds: Vec<(&'static str, &'static str)>,
    pub preview_kind: String,
    pub preview_input: String,
    /// HTML of a [`PreviewFragment`].
    pub preview: String,
    pub caught_hours: u32,
    pub caught: Vec<CaughtRow>,
    pub ai: AiSettingsView,
}

/// The tenant's AI diagnostics settings on the privacy page.
#[derive(Debug, Clone, Default)]
pub struct AiSettingsView {
    pub enabled: bool,
    pub configured: bool,
    /// Where a question would go (`host`, model), when on.
    pub destination: String,
    pub tenant_region: String,
    pub api_key_set: bool,
    /// The settings as pretty JSON (no key in them), or an example when not configured.
    pub settings_json: String,
    /// The provider's data-handling terms.
    pub terms: String,
    /// Owners only.
    pub can_edit: bool,
}

/// What the live preview can take, as (value, label).
pub const PREVIEW_KINDS: [(&str, &str); 5] = [
    ("sql", "SQL statement"),
    ("url", "URL"),
    ("json", "JSON body"),
    ("text", "Any text (log line, exception)"),
    ("ip", "Client IP address"),
];

#[derive(Template, Default)]
#[template(path = "preview.html")]
pub struct PreviewFragment {
    pub error: Option<String>,
    /// HTML from [`marked`] / [`marked_sql`].
    pub output: String,
    pub summary: String,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub mfa: bool,
    pub since: String,
}

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "access.html")]
pub struct AccessPage {
    pub frame: Frame,
    pub error: Option<String>,
    pub new_key: Option<String>,
    pub members: Vec<MemberRow>,
    pub mfa_coverage: String,
    pub roles: Vec<String>,
    pub keys: Vec<KeyRow>,
    pub security: Vec<(String, String)>,
    pub require_mfa: bool,
    pub require_sso: bool,
    /// The tenant's OpenID Connect settings as JSON (never the client secret).
    pub sso_json: String,
    pub sso_secret_set: bool,
    pub can_manage_members: bool,
    pub can_create_key: bool,
    pub can_revoke: bool,
    pub can_manage_security: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AuditForm {
    pub action: String,
    pub actor: String,
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub frame: Frame,
    pub range: RangePicker,
    pub filter: AuditForm,
    pub actions: Vec<&'static str>,
    pub chain: String,
    pub error: Option<String>,
    pub records: Vec<AuditRow>,
    pub older: Option<String>,
    pub export_csv: String,
    pub export_jsonl: String,
}

#[derive(Debug, Clone)]
pub struct DeletionRow {
    pub id: String,
    pub requested: String,
    pub selection: String,
    pub status: String,
    pub done: String,
}

#[derive(Template)]
#[template(path = "data.html")]
pub struct DataPage {
    pub frame: Frame,
    pub error: Option<String>,
    pub retention: Vec<(String, String)>,
    pub retention_days: String,
    pub keys: Vec<(String, String)>,
    pub deletions: Vec<DeletionRow>,
    pub can_manage: bool,
    pub can_export: bool,
    pub can_delete: bool,
}

#[derive(Debug, Clone)]
pub struct Control {
    pub name: String,
    pub state: String,
    pub good: bool,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "security.html")]
pub struct SecurityPage {
    pub frame: Frame,
    pub checked_at: String,
    pub controls: Vec<Control>,
}

#[derive(Debug, Clone)]
pub struct Enrolment {
    /// SVG from the qrcode crate, made from the otpauth URI on the server.
    pub qr_svg: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "mfa.html")]
pub struct MfaPage {
    pub frame: Frame,
    pub error: Option<String>,
    pub enrolled: bool,
    pub enrolment: Option<Enrolment>,
    pub codes: Vec<String>,
}

#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    pub frame: Frame,
    pub facts: Vec<(String, String)>,
}

// ---- respond ----

/// An alert rule as the alerts page lists it.
#[derive(Debug, Clone)]
pub struct RuleRow {
    pub id: String,
    pub name: String,
    /// `p95_latency of checkout > 500 ms over 5m for 1m`.
    pub description: String,
    pub severity: String,
    pub enabled: bool,
    /// `ok`, `pending` or `firing`.
    pub state: String,
    /// The badge's class: `ok`, `warn` or `error`.
    pub badge: &'static str,
    pub since: String,
    pub last_value: String,
    pub evaluated: String,
}

/// The new-rule form as it was filled in (kept when the API refuses it).
#[derive(Debug, Clone)]
pub struct RuleDraft {
    pub name: String,
    pub metric: String,
    pub service: String,
    pub op: String,
    pub threshold: String,
    pub window_seconds: String,
    pub for_seconds: String,
    pub severity: String,
}

impl Default for RuleDraft {
    fn default() -> Self {
        RuleDraft {
            name: String::new(),
            metric: "error_rate".into(),
            service: String::new(),
            op: ">".into(),
            threshold: String::new(),
            window_seconds: "300".into(),
            for_seconds: "60".into(),
            severity: "warning".into(),
        }
    }
}

/// How a rule compares its value with the threshold.
pub const RULE_OPS: [&str; 4] = [">", ">=", "<", "<="];
pub const SEVERITIES: [&str; 3] = ["info", "warning", "critical"];

/// One move of a rule into or out of `firing`.
#[derive(Debug, Clone)]
pub struct AlertEventRow {
    pub at: String,
    pub rule: String,
    pub state: String,
    pub firing: bool,
    pub value: String,
    pub threshold: String,
}

#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// Where it delivers, as the API shows it (no secret, no query values).
    pub target: String,
    pub enabled: bool,
    pub created: String,
}

#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub channel: String,
    pub state: String,
    /// The badge's class: `ok`, `warn` or `error`.
    pub badge: &'static str,
    pub attempts: String,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct NotificationRow {
    pub at: String,
    pub title: String,
    pub kind: String,
    pub severity: String,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
pub struct AlertsPage {
    pub frame: Frame,
    pub error: Option<String>,
    /// A webhook's generated signing secret, shown once after the channel is created.
    pub new_secret: Option<String>,
    pub rules: Vec<RuleRow>,
    pub history: Vec<AlertEventRow>,
    pub channels: Vec<ChannelRow>,
    pub notifications: Vec<NotificationRow>,
    pub can_manage: bool,
    pub draft: RuleDraft,
    /// (value, label) of each metric a rule may watch.
    pub metrics: Vec<(&'static str, &'static str)>,
    /// [`RULE_OPS`] and [`SEVERITIES`], for the form's selects.
    pub ops: Vec<String>,
    pub severities: Vec<String>,
}

/// The windows the insights page offers, as (key, label).
pub const INSIGHT_WINDOWS: [(&str, &str); 3] = [
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
];

/// One thing the capture policy removed, said as a sentence.
#[derive(Debug, Clone)]
pub struct FindingRow {
    pub sentence: String,
    /// Removed as a matter of course (SQL literals, query parameters): listed after the rest.
    pub routine: bool,
}

#[derive(Template)]
#[template(path = "insights.html")]
pub struct InsightsPage {
    pub frame: Frame,
    pub error: Option<String>,
    pub window: String,
    pub windows: Vec<(&'static str, &'static str)>,
    pub findings: Vec<FindingRow>,
    /// Places where a kind of sensitive value was seen for the first time in the window.
    pub first_seen: Vec<FindingRow>,
}

#[derive(Debug, Clone)]
pub struct DetectionRow {
    pub at: String,
    pub kind: String,
    pub severity: String,
    /// The badge's class: `ok`, `warn` or `error`.
    pub badge: &'static str,
    pub summary: String,
    pub target: String,
    pub fields: Vec<(String, String)>,
}

/// One containment button.
#[derive(Debug, Clone)]
pub struct ContainAction {
    pub action: &'static str,
    pub label: &'static str,
    pub explain: &'static str,
    /// What the person confirms by ticking a box before a destructive action.
    pub confirm: Option<&'static str>,
}

/// The containment in force, and what may be done (contain incidents only).
#[derive(Debug, Clone)]
pub struct ContainmentView {
    pub reads_frozen: bool,
    pub frozen: String,
    pub keys_active: String,
    pub keys_suspended: String,
    pub actions: Vec<ContainAction>,
}

#[derive(Template)]
#[template(path = "detections.html")]
pub struct DetectionsPage {
    pub frame: Frame,
    pub error: Option<String>,
    pub detections: Vec<DetectionRow>,
    pub containment: Option<ContainmentView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Who {
        Who {
            email: "ann@example.com".into(),
            role: "viewer".into(),
            tenant: "acme".into(),
            tenants: vec!["acme".into()],
            csrf: "c5rf".into(),
            restricted: None,
        }
    }

    #[test]
    fn markers_are_marked_and_everything_else_escaped() {
        let html = marked("card [REDACTED:card] for <b>\"x\"</b> [email:abcdefghijklmnop]");
        assert!(html.contains("<mark class=\"redacted\" title=\""), "{html}");
        assert!(html.contains(">[REDACTED:card]</mark>"), "{html}");
        assert!(html.contains(">[email:abcdefghijklmnop]</mark>"), "{html}");
        assert!(html.contains("&lt;b&gt;&quot;x&quot;&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>"));
        let sql = marked_sql("SELECT * FROM users WHERE email = ? AND note = '<x>'");
        assert_eq!(sql.matches("<mark").count(), 1, "{sql}");
        assert!(sql.contains("&#39;&lt;x&gt;&#39;"));
    }

    #[test]
    fn the_navigation_offers_only_what_the_role_may_open() {
        let frame = Frame::new("Services", "services", who(), |k| {
            matches!(k, "services" | "security")
        });
        let keys: Vec<&str> = frame
            .nav
            .iter()
            .flat_map(|g| g.items.iter().map(|i| i.key))
            .collect();
        assert_eq!(keys, ["services", "security"]);
        let html = ErrorPage {
            frame,
            heading: "Nope".into(),
            message: "<script>alert(1)</script>".into(),
        }
        .render()
        .unwrap();
        assert!(
            html.contains("href=\"/services\" aria-current=\"page\""),
            "{html}"
        );
        assert!(!html.contains("href=\"/sql\""));
        assert!(!html.contains("<script>alert"), "escaped");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(!html.contains("style="), "no inline styles under the CSP");
        assert!(
            !html.contains("<script>"),
            "no inline scripts under the CSP"
        );
    }

    #[test]
    fn unknown_ranges_fall_back_to_the_last_hour() {
        assert_eq!(RangePicker::new(Some("7d")).1, 604_800);
        let (p, secs) = RangePicker::new(Some("1y"));
        assert_eq!((p.key.as_str(), secs), ("1h", 3_600));
    }

    #[test]
    fn alert_and_containment_pages_escape_values_and_ask_before_destroying() {
        let frame = Frame::new("Alerts", "alerts", who(), |k| k == "alerts");
        let html = AlertsPage {
            frame,
            error: None,
            new_secret: Some("whsec_<i>x</i>".into()),
            rules: vec![RuleRow {
                id: "r\"1".into(),
                name: "<script>alert(1)</script>".into(),
                description: "p95_latency of checkout > 500 ms over 5m".into(),
                severity: "critical".into(),
                enabled: true,
                state: "firing".into(),
                badge: "error",
                since: "2026-01-01 00:00:00".into(),
                last_value: "900.0 ms".into(),
                evaluated: "2026-01-01 00:01:00".into(),
            }],
            history: Vec::new(),
            channels: Vec::new(),
            notifications: Vec::new(),
            can_manage: false,
            draft: RuleDraft::default(),
            metrics: vec![("error_rate", "Error rate")],
            ops: RULE_OPS.iter().map(|s| (*s).to_owned()).collect(),
            severities: SEVERITIES.iter().map(|s| (*s).to_owned()).collect(),
        }
        .render()
        .unwrap();
        assert!(
            !html.contains("<script>alert") && !html.contains("<i>x"),
            "{html}"
        );
        assert!(html.contains("whsec_&#60;i&#62;x&#60;/i&#62;"), "{html}");
        assert!(
            html.contains("<span class=\"badge error\">firing</span>"),
            "{html}"
        );
        assert!(html.contains("checkout &#62; 500 ms"), "{html}");
        assert!(
            !html.contains("action=\"/alerts/rules\""),
            "no form without the permission"
        );

        let frame = Frame::new("Detections", "detections", who(), |k| k == "detections");
        let html = DetectionsPage {
            frame,
            error: None,
            detections: Vec::new(),
            containment: Some(ContainmentView {
                reads_frozen: false,
                frozen: String::new(),
                keys_active: "2".into(),
                keys_suspended: "0".into(),
                actions: vec![
                    ContainAction {
                        action: "freeze-reads",
                        label: "Freeze",
                        explain: "reads refused",
                        confirm: Some("I want to freeze"),
                    },
                    ContainAction {
                        action: "unfreeze-reads",
                        label: "Unfreeze",
                        explain: "reads allowed",
                        confirm: None,
                    },
                ],
            }),
        }
        .render()
        .unwrap();
        let forms: Vec<&str> = html.split("<form").skip(1).collect();
        let freeze = forms
            .iter()
            .find(|f| f.contains("/security/containment/freeze-reads"))
            .unwrap();
        assert!(
            freeze.contains("name=\"confirm\" value=\"yes\" required")
                && freeze.contains("I want to freeze"),
            "{freeze}"
        );
        assert!(
            freeze.contains("name=\"csrf_token\" value=\"c5rf\""),
            "{freeze}"
        );
        let unfreeze = forms
            .iter()
            .find(|f| f.contains("/security/containment/unfreeze-reads"))
            .unwrap();
        assert!(!unfreeze.contains("name=\"confirm\""), "{unfreeze}");
        assert!(
            html.contains("href=\"/security/detections\" aria-current=\"page\""),
            "{html}"
        );
    }
}
