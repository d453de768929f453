//! The redactor: one [`Policy`] compiled into everything needed to apply it.
//!
//! Build one per tenant (the policy and the tenant's pseudonym key) and reuse it for every
//! request: the detectors are compiled once. Each method handles one item of the policy
//! and returns `None` when the policy drops that item; every replacement is counted in the
//! `counts` passed in, by kind, so callers can report what was caught.

use std::borrow::Cow;

use crate::TextScrubber;
use crate::detect::{DetectorSet, Finding, Scanner, TextRedactor};
use crate::ip::{self, IpMode};
use crate::json_body::{BodyShape, JsonBodyRedactor};
use crate::keys::SensitiveKeys;
use crate::kind::{Counts, Kind};
use crate::method::{Method, Methods, Pseudonymizer};
use crate::policy::{AttributeRule, Capture, IpMethod, Override, PlanCapture, Policy, SqlCapture};
use crate::sql::{self, Dialect, SqlOptions};
use crate::url::{self, UrlOptions};
use crate::{json_query, memcached, redis};

/// A compiled capture policy.
#[derive(Debug, Clone)]
pub struct Redactor {
    policy: Policy,
    overrides: Vec<Override>,
    keys: SensitiveKeys,
    methods: Methods,
    text: TextRedactor,
    url: UrlOptions,
    pseudonymizer: Option<Pseudonymizer>,
}

impl Default for Redactor {
    /// The default policy, without a pseudonym key (`hash` then masks).
    fn default() -> Self {
        Redactor::new(&Policy::default(), None)
    }
}

impl Redactor {
    /// Compiles `policy` (its [effective](Policy::effective) form: the cloud floor
    /// applies). `pseudonym_key` is the tenant's secret for `hash`; without one, `hash`
    /// masks.
    pub fn new(policy: &Policy, pseudonym_key: Option<&[u8]>) -> Redactor {
        let (policy, overrides) = policy.effective();
        let keys =
            SensitiveKeys::with_extra(policy.detectors.sensitive_keys.iter().map(String::as_str));
        let mut detectors = DetectorSet::none();
        for &kind in crate::policy::DETECTOR_KINDS {
            if policy.detects(kind) {
                detectors = detectors.with(kind);
            }
        }
        let methods = policy.methods();
        let pseudonymizer = pseudonym_key.map(Pseudonymizer::new);
        let text = TextRedactor::new(
            Scanner::new(&detectors, &keys),
            methods,
            pseudonymizer.clone(),
        );
        let url = UrlOptions {
            safe_query_keys: policy.query_params.safe_keys.clone(),
        };
        Redactor {
            policy,
            overrides,
            keys,
            methods,
            text,
            url,
            pseudonymizer,
        }
    }

    /// The policy that applies (after the cloud floor).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Where the cloud floor replaced what the policy file said.
    pub fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    /// The sensitive key names in force.
    pub fn sensitive_keys(&self) -> &SensitiveKeys {
        &self.keys
    }

    /// Free text (log bodies, attribute values, messages): every detector finding
    /// replaced per its method.
    pub fn text<'a>(&self, text: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        self.text.scrub(text, counts)
    }

    /// What the detectors find in `text`, with the method that applies to each.
    pub fn explain(&self, text: &str) -> Vec<(Finding, Method)> {
        let mut found = Vec::new();
        self.text.scanner().find(text, &mut found);
        found
            .into_iter()
            .map(|f| (f, self.methods.get(f.kind)))
            .collect()
    }

    /// The value of an attribute whose name is sensitive (`db.password`,
    /// `http.request.header.authorization`): replaced whole, like a JSON value under a
    /// sensitive key.
    pub fn sensitive_value<'a>(&self, value: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        if value.is_empty() || crate::method::is_replacement(value) {
            return Cow::Borrowed(value);
        }
        counts.add(Kind::Secret);
        let method = self.policy.json_bodies.sensitive_key_method;
        crate::method::apply(method, Kind::Secret, value, self.pseudonymizer.as_ref())
    }

    /// A database statement (`db.query.text`): obfuscated, kept or dropped per `[sql]`.
    /// `db_system` is OTel's `db.system` / `db.system.name`, which picks the dialect.
    pub fn sql<'a>(
        &self,
        statement: &'a str,
        db_system: Option<&str>,
        counts: &mut Counts,
    ) -> Option<Cow<'a, str>> {
        match self.policy.sql.capture {
            SqlCapture::Drop => None,
            SqlCapture::Raw => Some(Cow::Borrowed(statement)),
            SqlCapture::Obfuscate => {
                let out = match StatementLanguage::of(db_system, statement) {
                    StatementLanguage::Sql => {
                        sql::obfuscate(statement, &self.sql_options(db_system))
                    }
                    StatementLanguage::Redis => {
                        self.command(redis::obfuscate_redis(statement), counts)
                    }
                    StatementLanguage::Memcached => {
                        self.command(memcached::obfuscate_memcached(statement), counts)
                    }
                    StatementLanguage::JsonQuery => json_query::obfuscate_json_query(statement),
                };
                if out != statement {
                    counts.add(Kind::SqlStatement);
                }
                Some(out)
            }
        }
    }

    /// A key-value store command after its values are gone: its keys stay, and keys can
    /// hold an email or a token (`SET session:alice@example.com …`), so the detectors run
    /// over what is left.
    fn command<'a>(&self, obfuscated: Cow<'a, str>, counts: &mut Counts) -> Cow<'a, str> {
        match obfuscated {
            Cow::Borrowed(b) => self.text.scrub(b, counts),
            Cow::Owned(o) => Cow::Owned(self.text.scrub(&o, counts).into_owned()),
        }
    }

    /// A query plan: not captured unless `[query_plans]` says so; obfuscated like SQL.
    pub fn query_plan<'a>(
        &self,
        plan: &'a str,
        db_system: Option<&str>,
        counts: &mut Counts,
    ) -> Option<Cow<'a, str>> {
        match self.policy.query_plans.capture {
            PlanCapture::Off => None,
            PlanCapture::Raw => Some(Cow::Borrowed(plan)),
            PlanCapture::Obfuscate => {
                let out = sql::obfuscate(plan, &self.sql_options(db_system));
                if out != plan {
                    counts.add(Kind::SqlStatement);
                }
                Some(out)
            }
        }
    }

    fn sql_options(&self, db_system: Option<&str>) -> SqlOptions {
        let dialect = db_system.map(Dialect::from_db_system).unwrap_or_default();
        let p = &self.policy.sql;
        SqlOptions {
            collapse_lists: p.collapse_lists,
            replace_digits: p.replace_digits,
            keep_comments: p.keep_comments,
            keep_aliases: p.keep_aliases,
            ..SqlOptions::for_dialect(dialect)
        }
    }

    /// A full or relative URL (`url.full`, `http.url`, `http.target`).
    pub fn url<'a>(&self, value: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        match self.policy.query_params.capture {
            Capture::Redact => url::redact_url(value, &self.url, &self.text, counts),
            Capture::Drop => {
                // The query and the fragment go; credentials and the path are redacted.
                let cut = value.find(['?', '#']).unwrap_or(value.len());
                url::redact_url(&value[..cut], &self.url, &self.text, counts)
            }
            Capture::Raw => {
                // Parameters as sent; credentials and the path still go through.
                let cut = value.find(['?', '#']).unwrap_or(value.len());
                let head = url::redact_url(&value[..cut], &self.url, &self.text, counts);
                if matches!(head, Cow::Borrowed(h) if std::ptr::eq(h, &value[..cut])) {
                    Cow::Borrowed(value)
                } else {
                    Cow::Owned(format!("{head}{}", &value[cut..]))
                }
            }
        }
    }

    /// A query string alone (`url.query`): `None` when `[query_params]` drops it.
    pub fn query<'a>(&self, value: &'a str, counts: &mut Counts) -> Option<Cow<'a, str>> {
        match self.policy.query_params.capture {
            Capture::Redact => Some(url::redact_query(value, &self.url, &self.text, counts)),
            Capture::Raw => Some(Cow::Borrowed(value)),
            Capture::Drop => None,
        }
    }

    /// A path alone (`url.path`): detectors run over it.
    pub fn path<'a>(&self, value: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        url::redact_path(value, &self.text, counts)
    }

    /// A client address (`client.address`, `X-Forwarded-For`): `None` when dropped.
    pub fn ip<'a>(&self, value: &'a str, counts: &mut Counts) -> Option<Cow<'a, str>> {
        let mode = match self.policy.client_ips.method {
            IpMethod::Mask => IpMode::Mask,
            IpMethod::Hash => IpMode::Hash,
            IpMethod::Drop => IpMode::Drop,
            IpMethod::Keep => IpMode::Keep,
        };
        ip::redact_ip(value, mode, self.pseudonymizer.as_ref(), counts)
    }

    /// A request or response body: JSON redacted by key and by detector, anything else
    /// scanned as text; `None` when `[json_bodies]` drops bodies.
    pub fn body<'a>(&self, body: &'a str, counts: &mut Counts) -> Option<Cow<'a, str>> {
        match self.policy.json_bodies.capture {
            Capture::Drop => None,
            Capture::Raw => Some(Cow::Borrowed(body)),
            Capture::Redact => Some(self.json_redactor().redact(body, counts).0),
        }
    }

    /// Like [`Redactor::body`], also saying whether the body parsed as JSON.
    pub fn body_shape<'a>(
        &self,
        body: &'a str,
        counts: &mut Counts,
    ) -> (Option<Cow<'a, str>>, BodyShape) {
        match self.policy.json_bodies.capture {
            Capture::Drop => (None, BodyShape::Json),
            Capture::Raw => (Some(Cow::Borrowed(body)), BodyShape::Json),
            Capture::Redact => {
                let (out, shape) = self.json_redactor().redact(body, counts);
                (Some(out), shape)
            }
        }
    }

    fn json_redactor(&self) -> JsonBodyRedactor<'_> {
        JsonBodyRedactor {
            keys: &self.keys,
            key_method: self.policy.json_bodies.sensitive_key_method,
            pseudonymizer: self.pseudonymizer.as_ref(),
            text: &self.text,
        }
    }

    /// An exception message or stack trace: detectors run over it; `None` when dropped.
    pub fn exception<'a>(&self, text: &'a str, counts: &mut Counts) -> Option<Cow<'a, str>> {
        match self.policy.exceptions.capture {
            Capture::Drop => None,
            Capture::Raw => Some(Cow::Borrowed(text)),
            Capture::Redact => Some(self.text.scrub(text, counts)),
        }
    }

    /// The `[attributes]` rule for an attribute name.
    pub fn attribute_rule(&self, name: &str) -> AttributeRule {
        self.policy.attribute_rule(name)
    }

    /// The keyed pseudonym that replaces a pseudonymised attribute's value (`[id:…]`);
    /// masked when there is no pseudonym key.
    pub fn pseudonymize<'a>(&self, value: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        if value.is_empty() || crate::method::is_replacement(value) {
            return Cow::Borrowed(value);
        }
        counts.add(Kind::Identifier);
        crate::method::apply(
            Method::Hash,
            Kind::Identifier,
            value,
            self.pseudonymizer.as_ref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(toml: &str) -> Redactor {
        Redactor::new(
            &Policy::from_toml(toml).expect("valid policy"),
            Some(b"tenant key"),
        )
    }

    #[test]
    fn defaults_redact_every_item_and_count_it() {
        let r = Redactor::default();
        let mut c = Counts::default();
        assert_eq!(
            r.sql(
                "SELECT * FROM t WHERE email = 'a@b.c'",
                Some("postgresql"),
                &mut c
            )
            .as_deref(),
            Some("SELECT * FROM t WHERE email = ?")
        );
        assert_eq!(
            r.url("https://u:p@h/x?q=1", &mut c),
            "https://REDACTED:REDACTED@h/x?q=?"
        );
        assert_eq!(r.query("a=1", &mut c).as_deref(), Some("a=?"));
        assert_eq!(r.ip("203.0.113.9", &mut c).as_deref(), Some("203.0.113.0"));
        assert_eq!(
            r.body(r#"{"password":"x"}"#, &mut c).as_deref(),
            Some(r#"{"password":"[REDACTED:secret]"}"#)
        );
        assert_eq!(
            r.exception("failed for bob@example.com", &mut c).as_deref(),
            Some("failed for [REDACTED:email]")
        );
        assert_eq!(
            r.query_plan("Seq Scan", None, &mut c),
            None,
            "plans are off by default"
        );
        for kind in [
            Kind::SqlStatement,
            Kind::UrlCredentials,
            Kind::QueryParam,
            Kind::Ipv4,
            Kind::Secret,
            Kind::Email,
        ] {
            assert!(c.get(kind) >= 1, "{kind} not counted: {c:?}");
        }
        // Nothing to do: borrowed, nothing counted.
        let mut c = Counts::default();
        assert!(matches!(
            r.text("GET /health 200", &mut c),
            Cow::Borrowed(_)
        ));
        assert_eq!(c.total(), 0);
    }

    #[test]
    fn statements_are_obfuscated_in_their_own_language() {
        let r = Redactor::default();
        let mut c = Counts::default();
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        let set = format!("SET cart:u-48213 {jwt} EX 3600");
        assert_eq!(
            r.sql(&set, Some("redis"), &mut c).as_deref(),
            Some("SET cart:u-48213 ? EX 3600")
        );
        // `session:<id>` reads as an assignment to a sensitive name, and a session id in a
        // key is a credential.
        assert_eq!(
            r.sql("GET session:u-48213", Some("redis"), &mut c)
                .as_deref(),
            Some("GET session:[REDACTED:secret]")
        );
        // Keys stay, so the detectors look at them.
        assert_eq!(
            r.sql("GET user:alice@example.com", Some("redis"), &mut c)
                .as_deref(),
            Some("GET user:[REDACTED:email]")
        );
        assert_eq!(
            r.sql("set k 0 60 6\r\nsecret", Some("memcached"), &mut c)
                .as_deref(),
            Some("set k 0 60 6")
        );
        assert_eq!(
            r.sql(
                r#"{"email": "a@b.c", "age": {"$gt": 3}}"#,
                Some("mongodb"),
                &mut c
            )
            .as_deref(),
            Some(r#"{"email":?,"age":{"$gt":?}}"#)
        );
        // Not JSON on a document store, or no system at all: SQL rules.
        assert_eq!(
            r.sql("find x where y = 'z'", Some("mongodb"), &mut c)
                .as_deref(),
            Some("find x where y = ?")
        );
        assert_eq!(r.sql("SELECT 1", None, &mut c).as_deref(), Some("SELECT ?"));
    }

    #[test]
    fn drop_and_raw_follow_the_policy() {
        let r = with(
            "mode = \"on-prem\"\nsql = { capture = \"drop\" }\nquery_params = { capture = \"raw\" }\n\
             client_ips = { method = \"drop\" }\njson_bodies = { capture = \"drop\" }\n\
             exceptions = { capture = \"raw\" }\nquery_plans = { capture = \"obfuscate\" }\n",
        );
        let mut c = Counts::default();
        assert_eq!(r.sql("SELECT 1", None, &mut c), None);
        assert_eq!(r.ip("10.0.0.1", &mut c), None);
        assert_eq!(r.body("{}", &mut c), None);
        assert_eq!(r.query("a=1", &mut c).as_deref(), Some("a=1"));
        assert_eq!(
            r.url("https://u:p@h/x?token=1", &mut c),
            "https://REDACTED:REDACTED@h/x?token=1",
            "raw parameters; credentials still go"
        );
        assert_eq!(
            r.exception("bob@example.com", &mut c).as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(
            r.query_plan("Filter: (id = 42)", None, &mut c).as_deref(),
            Some("Filter: (id = ?)")
        );
        let r = with("query_params = { capture = \"drop\" }\n");
        assert_eq!(r.url("https://h/x?token=1#frag", &mut c), "https://h/x");
        assert_eq!(r.query("a=1", &mut c), None);
    }

    #[test]
    fn cloud_floor_applies_and_is_reported() {
        let r = with("sql = { capture = \"raw\" }\n");
        assert_eq!(r.policy().sql.capture, SqlCapture::Obfuscate);
        assert_eq!(r.overrides().len(), 1);
        let mut c = Counts::default();
        assert_eq!(r.sql("SELECT 1", None, &mut c).as_deref(), Some("SELECT ?"));
    }

    #[test]
    fn pseudonyms_and_attribute_rules() {
        let r = with(
            "[attributes]\npseudonymize = [\"enduser.id\"]\ndeny = [\"http.request.header.*\"]\n",
        );
        assert_eq!(r.attribute_rule("enduser.id"), AttributeRule::Pseudonymize);
        assert_eq!(
            r.attribute_rule("http.request.header.cookie"),
            AttributeRule::Drop
        );
        let mut c = Counts::default();
        let p = r.pseudonymize("u-123", &mut c);
        assert!(p.starts_with("[id:") && !p.contains("u-123"), "{p}");
        assert_eq!(p, r.pseudonymize("u-123", &mut c));
        assert_eq!(c.get(Kind::Identifier), 2);
        let other = Redactor::new(&Policy::default(), Some(b"another tenant"));
        assert_ne!(other.pseudonymize("u-123", &mut c), p);
        assert_eq!(r.sensitive_value("hunter2", &mut c), "[REDACTED:secret]");
        let keyless = Redactor::default();
        assert_eq!(keyless.pseudonymize("u-123", &mut c), "[REDACTED:id]");
    }

    #[test]
    fn explain_reports_kind_range_and_method() {
        let r = with("[detectors]\nmethods = { email = \"hash\" }\n");
        let text = "to alice@example.com";
        let found = r.explain(text);
        assert_eq!(found.len(), 1);
        let (f, m) = found[0];
        assert_eq!(
            (f.kind, &text[f.start..f.end], m),
            (Kind::Email, "alice@example.com", Method::Hash)
        );
        assert!(
            r.text(text, &mut Counts::default())
                .starts_with("to [email:")
        );
    }
}

/// Which obfuscator a database statement needs, from OTel's `db.system.name` / `db.system`:
/// SQL is the default, key-value stores have their own command syntax, and document stores
/// send JSON queries (OTel records MongoDB's and Elasticsearch's query bodies as text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StatementLanguage {
    Sql,
    Redis,
    Memcached,
    JsonQuery,
}

impl StatementLanguage {
    fn of(db_system: Option<&str>, statement: &str) -> StatementLanguage {
        let Some(system) = db_system else {
            return StatementLanguage::Sql;
        };
        let json = matches!(statement.trim_start().as_bytes().first(), Some(b'{' | b'['));
        match system.to_ascii_lowercase().as_str() {
            "redis" | "valkey" | "keydb" => StatementLanguage::Redis,
            "memcached" => StatementLanguage::Memcached,
            "mongodb" | "elasticsearch" | "opensearch" | "couchdb" | "cosmosdb"
            | "azure.cosmosdb" | "couchbase"
                if json =>
            {
                StatementLanguage::JsonQuery
            }
            _ => StatementLanguage::Sql,
        }
    }
}
