//! The capture policy: what Scrim captures, and how each sensitive item is treated.
//!
//! A policy is written in TOML; every field has a safe default, so an empty file (or no
//! file) is the default policy. Unknown keys and bad values are rejected with the line and
//! the key ([`PolicyError`]). The full reference, with every default, is
//! `docs/capture-policy.md`.
//!
//! ```toml
//! mode = "cloud"            # or "on-prem"
//!
//! [sql]
//! capture = "obfuscate"     # obfuscate | raw | drop
//!
//! [query_params]
//! capture = "redact"        # redact | raw | drop
//! safe_keys = ["page", "limit"]
//!
//! [client_ips]
//! method = "mask"           # mask | hash | drop | keep
//!
//! [json_bodies]
//! capture = "redact"        # redact | raw | drop
//!
//! [query_plans]
//! capture = "off"           # off | obfuscate | raw
//!
//! [exceptions]
//! capture = "redact"        # redact | raw | drop
//!
//! [detectors]
//! disabled = []             # kinds not looked for, e.g. ["ipv6"]
//! method = "mask"           # mask | hash | remove | keep, for every kind …
//! methods = { email = "hash" }   # … unless named here
//! sensitive_keys = ["dob"]  # key names added to the built-in list
//!
//! [attributes]
//! deny = ["http.request.header.cookie"]   # dropped; `*` matches any run of characters
//! allow = []                # when not empty, only these attributes are kept
//! pseudonymize = ["enduser.id"]           # replaced with a keyed pseudonym
//! ```
//!
//! # Modes
//!
//! `on-prem` lets an operator choose `raw` (or `keep`) for any item: the data stays on
//! their own hardware. `cloud` enforces a floor whatever the file says
//! ([`Policy::effective`]): SQL is obfuscated (without comments), query parameters,
//! JSON bodies and exceptions are redacted, client IPs are at least masked, query plans
//! are obfuscated when captured, every detector runs and none of them keeps what it finds.
//! Stricter choices (`drop`, `hash`, `remove`) stay as written.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kind::Kind;
use crate::method::{Method, Methods};

/// Where the data lives, which decides whether `raw` choices are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Mode {
    /// Scrim runs as a service: the floor applies.
    #[default]
    #[serde(rename = "cloud")]
    Cloud,
    /// Scrim runs on the operator's own machines: any item may be captured raw.
    #[serde(rename = "on-prem")]
    OnPrem,
}

/// How database statements are captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlCapture {
    /// Literals replaced with `?` ([`crate::sql::obfuscate`]).
    #[default]
    Obfuscate,
    /// Kept as sent (on-prem only).
    Raw,
    /// Not captured at all.
    Drop,
}

/// How a redactable item (query parameters, JSON bodies, exceptions) is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capture {
    /// Sensitive values replaced, the rest kept.
    #[default]
    Redact,
    /// Kept as sent (on-prem only).
    Raw,
    /// Not captured at all.
    Drop,
}

/// What happens to client IP addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpMethod {
    /// IPv4 to its /24, IPv6 to its /48.
    #[default]
    Mask,
    /// A keyed pseudonym.
    Hash,
    /// The attribute is dropped.
    Drop,
    /// Kept as sent (on-prem only).
    Keep,
}

/// Whether query plans are captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanCapture {
    /// Not captured (the default: plans can hold literals).
    #[default]
    Off,
    /// Captured with literals replaced.
    Obfuscate,
    /// Captured as sent (on-prem only).
    Raw,
}

/// `[sql]`: database statements (`db.query.text`, `db.statement`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqlPolicy {
    /// obfuscate | raw | drop.
    pub capture: SqlCapture,
    /// Collapse `IN (1, 2, 3)` and multi-row `VALUES` to one `(?)`.
    pub collapse_lists: bool,
    /// Replace digits inside identifiers (`orders_2024` → `orders_?`).
    pub replace_digits: bool,
    /// Keep comments (they can carry secrets; never in cloud mode).
    pub keep_comments: bool,
    /// Keep `AS alias`.
    pub keep_aliases: bool,
}

impl Default for SqlPolicy {
    fn default() -> Self {
        let d = crate::sql::SqlOptions::default();
        SqlPolicy {
            capture: SqlCapture::Obfuscate,
            collapse_lists: d.collapse_lists,
            replace_digits: d.replace_digits,
            keep_comments: d.keep_comments,
            keep_aliases: d.keep_aliases,
        }
    }
}

/// `[query_params]`: URL query strings (`url.query`, the query of `url.full`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryParamPolicy {
    /// redact (values become `?`) | raw | drop (the whole query string).
    pub capture: Capture,
    /// Keys whose values are kept (still scanned by the detectors). Empty by default.
    pub safe_keys: Vec<String>,
}

/// `[client_ips]`: `client.address`, `http.client_ip`, `X-Forwarded-For`, …
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientIpPolicy {
    /// mask | hash | drop | keep.
    pub method: IpMethod,
}

/// `[json_bodies]`: request and response bodies that parse as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsonBodyPolicy {
    /// redact | raw | drop.
    pub capture: Capture,
    /// What replaces a value under a sensitive key (`"password": …`).
    pub sensitive_key_method: Method,
}

impl Default for JsonBodyPolicy {
    fn default() -> Self {
        JsonBodyPolicy {
            capture: Capture::Redact,
            sensitive_key_method: Method::Mask,
        }
    }
}

/// `[query_plans]`: `EXPLAIN` output attached to database spans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryPlanPolicy {
    /// off | obfuscate | raw.
    pub capture: PlanCapture,
}

/// `[exceptions]`: exception messages and stack traces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExceptionPolicy {
    /// redact | raw | drop.
    pub capture: Capture,
}

/// `[detectors]`: which kinds of sensitive values are looked for in text, and how each
/// is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorPolicy {
    /// Kinds not looked for. Only detector kinds ([`DETECTOR_KINDS`]) may be named.
    pub disabled: Vec<Kind>,
    /// The method for every kind not named in `methods`.
    pub method: Method,
    /// Methods per kind.
    pub methods: BTreeMap<Kind, Method>,
    /// Key names added to the built-in sensitive key list ([`crate::keys`]).
    pub sensitive_keys: Vec<String>,
}

impl Default for DetectorPolicy {
    fn default() -> Self {
        DetectorPolicy {
            disabled: Vec::new(),
            method: Method::Mask,
            methods: BTreeMap::new(),
            sensitive_keys: Vec::new(),
        }
    }
}

/// `[attributes]`: rules by attribute name. Patterns match whole names; `*` matches any
/// run of characters (`http.request.header.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributePolicy {
    /// Attributes dropped entirely.
    pub deny: Vec<String>,
    /// When not empty, only matching attributes are kept (the rest are dropped).
    pub allow: Vec<String>,
    /// Attributes whose whole value is replaced with a keyed pseudonym (`[id:…]`).
    pub pseudonymize: Vec<String>,
}

/// Kinds a text detector finds; the others (`query_param`, `url_signature`, `sql`, `id`)
/// come from structured redaction.
pub const DETECTOR_KINDS: &[Kind] = crate::detect::DetectorSet::DETECTABLE;

/// The capture policy. `Policy::default()` is the safe default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// cloud | on-prem.
    pub mode: Mode,
    /// `[sql]`.
    pub sql: SqlPolicy,
    /// `[query_params]`.
    pub query_params: QueryParamPolicy,
    /// `[client_ips]`.
    pub client_ips: ClientIpPolicy,
    /// `[json_bodies]`.
    pub json_bodies: JsonBodyPolicy,
    /// `[query_plans]`.
    pub query_plans: QueryPlanPolicy,
    /// `[exceptions]`.
    pub exceptions: ExceptionPolicy,
    /// `[detectors]`.
    pub detectors: DetectorPolicy,
    /// `[attributes]`.
    pub attributes: AttributePolicy,
}

/// One place where the cloud floor replaced what the policy said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The key, such as `sql.capture`.
    pub key: String,
    /// What the policy said.
    pub written: String,
    /// What applies instead.
    pub enforced: String,
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} is not allowed in cloud mode; {} applies",
            self.key, self.written, self.enforced
        )
    }
}

impl Policy {
    /// Parses and validates a TOML policy. The policy is returned as written; use
    /// [`Policy::effective`] for what applies.
    pub fn from_toml(source: &str) -> Result<Policy, PolicyError> {
        let policy: Policy =
            toml::from_str(source).map_err(|e| PolicyError::from_toml(source, &e))?;
        policy.validate(source)?;
        Ok(policy)
    }

    /// The policy as TOML (every field, defaults included).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| unreachable!("a policy always serialises: {e}"))
    }

    fn validate(&self, source: &str) -> Result<(), PolicyError> {
        for kind in &self.detectors.disabled {
            if !DETECTOR_KINDS.contains(kind) {
                return Err(PolicyError::at_key(
                    source,
                    "detectors.disabled",
                    format!(
                        "`{kind}` is not a detector; detectors: {}",
                        detector_names()
                    ),
                ));
            }
        }
        for kind in self.detectors.methods.keys() {
            if !DETECTOR_KINDS.contains(kind) {
                return Err(PolicyError::at_key(
                    source,
                    &format!("detectors.methods.{kind}"),
                    format!(
                        "`{kind}` is not a detector; detectors: {}",
                        detector_names()
                    ),
                ));
            }
        }
        let patterns = [
            ("attributes.deny", &self.attributes.deny),
            ("attributes.allow", &self.attributes.allow),
            ("attributes.pseudonymize", &self.attributes.pseudonymize),
        ];
        for (key, list) in patterns {
            if list.iter().any(|p| p.trim().is_empty()) {
                return Err(PolicyError::at_key(
                    source,
                    key,
                    "an empty pattern matches nothing; remove it".into(),
                ));
            }
        }
        if self
            .detectors
            .sensitive_keys
            .iter()
            .any(|k| !k.chars().any(char::is_alphanumeric))
        {
            return Err(PolicyError::at_key(
                source,
                "detectors.sensitive_keys",
                "a key name needs at least one letter or digit".into(),
            ));
        }
        Ok(())
    }

    /// What applies: in `cloud` mode the floor replaces any weaker choice, and each
    /// replacement is listed so that it can be shown to the operator. In `on-prem` mode
    /// the policy applies as written.
    pub fn effective(&self) -> (Policy, Vec<Override>) {
        let mut p = self.clone();
        let mut overrides = Vec::new();
        if p.mode == Mode::OnPrem {
            return (p, overrides);
        }
        let mut floor = |key: &str, written: String, enforced: String| {
            overrides.push(Override {
                key: key.into(),
                written,
                enforced,
            });
        };
        if p.sql.capture == SqlCapture::Raw {
            p.sql.capture = SqlCapture::Obfuscate;
            floor("sql.capture", "raw".into(), "obfuscate".into());
        }
        if p.sql.keep_comments {
            p.sql.keep_comments = false;
            floor("sql.keep_comments", "true".into(), "false".into());
        }
        for (key, capture) in [
            ("query_params.capture", &mut p.query_params.capture),
            ("json_bodies.capture", &mut p.json_bodies.capture),
            ("exceptions.capture", &mut p.exceptions.capture),
        ] {
            if *capture == Capture::Raw {
                *capture = Capture::Redact;
                floor(key, "raw".into(), "redact".into());
            }
        }
        if p.json_bodies.sensitive_key_method == Method::Keep {
            p.json_bodies.sensitive_key_method = Method::Mask;
            floor(
                "json_bodies.sensitive_key_method",
                "keep".into(),
                "mask".into(),
            );
        }
        if p.client_ips.method == IpMethod::Keep {
            p.client_ips.method = IpMethod::Mask;
            floor("client_ips.method", "keep".into(), "mask".into());
        }
        if p.query_plans.capture == PlanCapture::Raw {
            p.query_plans.capture = PlanCapture::Obfuscate;
            floor("query_plans.capture", "raw".into(), "obfuscate".into());
        }
        if !p.detectors.disabled.is_empty() {
            let names: Vec<&str> = p.detectors.disabled.iter().map(|k| k.as_str()).collect();
            floor("detectors.disabled", format!("{names:?}"), "[]".into());
            p.detectors.disabled.clear();
        }
        if p.detectors.method == Method::Keep {
            p.detectors.method = Method::Mask;
            floor("detectors.method", "keep".into(), "mask".into());
        }
        for (kind, method) in p.detectors.methods.iter_mut() {
            if *method == Method::Keep {
                *method = Method::Mask;
                floor(
                    &format!("detectors.methods.{kind}"),
                    "keep".into(),
                    "mask".into(),
                );
            }
        }
        (p, overrides)
    }

    /// The method for each kind, from `[detectors]`.
    pub fn methods(&self) -> Methods {
        let mut m = Methods::all(self.detectors.method);
        for (&kind, &method) in &self.detectors.methods {
            m.set(kind, method);
        }
        m
    }

    /// Whether the detector for `kind` runs.
    pub fn detects(&self, kind: Kind) -> bool {
        DETECTOR_KINDS.contains(&kind) && !self.detectors.disabled.contains(&kind)
    }

    /// What happens to the attribute called `name` by the `[attributes]` rules:
    /// deny wins over pseudonymize, which wins over the allow-list.
    pub fn attribute_rule(&self, name: &str) -> AttributeRule {
        let a = &self.attributes;
        if a.deny.iter().any(|p| glob_match(p, name)) {
            AttributeRule::Drop
        } else if a.pseudonymize.iter().any(|p| glob_match(p, name)) {
            AttributeRule::Pseudonymize
        } else if !a.allow.is_empty() && !a.allow.iter().any(|p| glob_match(p, name)) {
            AttributeRule::Drop
        } else {
            AttributeRule::Redact
        }
    }
}

/// The `[attributes]` decision for one attribute name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeRule {
    /// Drop the attribute.
    Drop,
    /// Replace its whole value with a keyed pseudonym.
    Pseudonymize,
    /// Keep it, redacted by the rest of the policy.
    Redact,
}

fn detector_names() -> String {
    DETECTOR_KINDS
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whole-string match where `*` matches any run of characters (including none).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and the name position it currently absorbs up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// A policy that was rejected: where, which key, and why. Never quotes a value from the
/// file beyond the key's own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The dotted key, such as `sql.capture`, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid policy")?;
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for PolicyError {}

impl PolicyError {
    fn from_toml(source: &str, e: &toml::de::Error) -> PolicyError {
        let message = e.message().trim().to_string();
        match e.span() {
            Some(span) => {
                let (line, key) = locate(source, span.start);
                PolicyError {
                    line: Some(line),
                    key,
                    message,
                }
            }
            None => PolicyError {
                line: None,
                key: None,
                message,
            },
        }
    }

    /// An error about `key` (dotted), placed at the line that sets it if one does.
    fn at_key(source: &str, key: &str, message: String) -> PolicyError {
        let line = find_key_line(source, key);
        PolicyError {
            line,
            key: Some(key.to_string()),
            message,
        }
    }
}

/// The 1-based line of byte `offset`, and the dotted key set on that line (the table
/// header above it, then the key before `=`).
fn locate(source: &str, offset: usize) -> (usize, Option<String>) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line_no = before.matches('\n').count() + 1;
    let line = source.lines().nth(line_no - 1).unwrap_or("");
    let table = source.lines().take(line_no).filter_map(table_header).last();
    let own_key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let key = match (table, own_key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    };
    (line_no, key)
}

fn table_header(line: &str) -> Option<String> {
    let l = line.trim();
    let inner = l.strip_prefix('[')?.split(']').next()?;
    Some(inner.trim_matches('[').trim().to_string())
}

/// The line that sets dotted `key` (`detectors.disabled`), or its table's header.
fn find_key_line(source: &str, key: &str) -> Option<usize> {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    let mut table_line = None;
    for (i, line) in source.lines().enumerate() {
        if let Some(t) = table_header(line) {
            current = t;
            if current == table {
                table_line = Some(i + 1);
            }
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches('"');
        let full = if current.is_empty() {
            k.to_string()
        } else {
            format!("{current}.{k}")
        };
        if full == key || (current == table && k == leaf) || full == table {
            return Some(i + 1);
        }
    }
    table_line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_safe_default() {
        let p = Policy::from_toml("").expect("empty policy parses");
        assert_eq!(p, Policy::default());
        assert_eq!(p.mode, Mode::Cloud);
        assert_eq!(p.sql.capture, SqlCapture::Obfuscate);
        assert!(!p.sql.keep_comments);
        assert_eq!(p.query_params.capture, Capture::Redact);
        assert_eq!(p.client_ips.method, IpMethod::Mask);
        assert_eq!(p.json_bodies.capture, Capture::Redact);
        assert_eq!(p.query_plans.capture, PlanCapture::Off);
        assert_eq!(p.exceptions.capture, Capture::Redact);
        assert!(DETECTOR_KINDS.iter().all(|&k| p.detects(k)));
        assert!(
            Kind::ALL
                .iter()
                .all(|&k| p.methods().get(k) == Method::Mask)
        );
    }

    #[test]
    fn a_full_policy_round_trips() {
        let src = r#"
mode = "on-prem"
[sql]
capture = "raw"
keep_comments = true
[query_params]
capture = "redact"
safe_keys = ["page"]
[client_ips]
method = "hash"
[json_bodies]
capture = "drop"
[query_plans]
capture = "obfuscate"
[exceptions]
capture = "raw"
[detectors]
disabled = ["ipv6"]
method = "mask"
methods = { email = "hash", ipv4 = "keep" }
sensitive_keys = ["dob"]
[attributes]
deny = ["http.request.header.cookie"]
pseudonymize = ["enduser.*"]
"#;
        let p = Policy::from_toml(src).expect("valid policy");
        assert_eq!(p.mode, Mode::OnPrem);
        assert_eq!(p.sql.capture, SqlCapture::Raw);
        assert_eq!(p.methods().get(Kind::Email), Method::Hash);
        assert_eq!(p.methods().get(Kind::Card), Method::Mask);
        assert!(!p.detects(Kind::Ipv6));
        assert_eq!(Policy::from_toml(&p.to_toml()), Ok(p.clone()));
        // On-prem: applies as written.
        let (eff, overrides) = p.effective();
        assert_eq!(eff, p);
        assert!(overrides.is_empty());
    }

    #[test]
    fn cloud_mode_enforces_the_floor() {
        let src = r#"
mode = "cloud"
sql = { capture = "raw", keep_comments = true }
query_params = { capture = "raw" }
client_ips = { method = "keep" }
json_bodies = { capture = "raw", sensitive_key_method = "keep" }
query_plans = { capture = "raw" }
exceptions = { capture = "raw" }
detectors = { disabled = ["card"], method = "keep", methods = { email = "keep", ssn = "hash" } }
"#;
        let p = Policy::from_toml(src).expect("valid policy");
        let (eff, overrides) = p.effective();
        assert_eq!(eff.sql.capture, SqlCapture::Obfuscate);
        assert!(!eff.sql.keep_comments);
        assert_eq!(eff.query_params.capture, Capture::Redact);
        assert_eq!(eff.client_ips.method, IpMethod::Mask);
        assert_eq!(eff.json_bodies.capture, Capture::Redact);
        assert_eq!(eff.json_bodies.sensitive_key_method, Method::Mask);
        assert_eq!(eff.query_plans.capture, PlanCapture::Obfuscate);
        assert_eq!(eff.exceptions.capture, Capture::Redact);
        assert!(eff.detects(Kind::Card));
        assert_eq!(eff.methods().get(Kind::Email), Method::Mask);
        assert_eq!(eff.methods().get(Kind::Card), Method::Mask);
        // Stricter choices stay.
        assert_eq!(eff.methods().get(Kind::Ssn), Method::Hash);
        assert_eq!(overrides.len(), 11, "{overrides:#?}");
        assert!(
            overrides[0]
                .to_string()
                .contains("sql.capture = raw is not allowed in cloud mode")
        );
        // Drop is stricter than redact: kept.
        let p =
            Policy::from_toml("json_bodies = { capture = \"drop\" }\nsql = { capture = \"drop\" }")
                .unwrap();
        let (eff, overrides) = p.effective();
        assert_eq!(eff.json_bodies.capture, Capture::Drop);
        assert_eq!(eff.sql.capture, SqlCapture::Drop);
        assert!(overrides.is_empty());
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let cases = [
            (
                "mode = \"cloud\"\n[sql]\ncapture = \"rawx\"\n",
                3,
                "sql.capture",
                "rawx",
            ),
            (
                "[sql]\ncolapse_lists = true\n",
                2,
                "sql.colapse_lists",
                "unknown field",
            ),
            ("mode = \"hybrid\"\n", 1, "mode", "hybrid"),
            (
                "[detectors]\nmethods = { emial = \"hash\" }\n",
                2,
                "detectors.methods",
                "emial",
            ),
            (
                "\n[detectors]\nmethod = 3\n",
                3,
                "detectors.method",
                "wanted string",
            ),
            (
                "[detectors]\ndisabled = [\"sql\"]\n",
                2,
                "detectors.disabled",
                "not a detector",
            ),
            (
                "[attributes]\ndeny = [\"\"]\n",
                2,
                "attributes.deny",
                "empty pattern",
            ),
            (
                "[client_ips]\nmethod = \"mask\"\n[bogus]\n",
                3,
                "bogus",
                "unknown field",
            ),
        ];
        for (src, line, key, needle) in cases {
            let e = Policy::from_toml(src).expect_err(src);
            assert_eq!(e.line, Some(line), "{src:?}: {e}");
            assert_eq!(e.key.as_deref(), Some(key), "{src:?}: {e}");
            let text = e.to_string();
            assert!(text.contains(needle), "{src:?}: {text}");
            assert!(
                text.starts_with(&format!("invalid policy: line {line}, key `{key}`")),
                "{text}"
            );
        }
        let e = Policy::from_toml("[sql\ncapture = 1").expect_err("bad syntax");
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn attribute_rules_by_pattern() {
        let p = Policy::from_toml(
            "[attributes]\ndeny = [\"http.request.header.*\", \"*.password\"]\npseudonymize = [\"enduser.id\"]\n",
        )
        .unwrap();
        assert_eq!(
            p.attribute_rule("http.request.header.cookie"),
            AttributeRule::Drop
        );
        assert_eq!(p.attribute_rule("db.password"), AttributeRule::Drop);
        assert_eq!(p.attribute_rule("enduser.id"), AttributeRule::Pseudonymize);
        assert_eq!(p.attribute_rule("http.route"), AttributeRule::Redact);
        let allow =
            Policy::from_toml("[attributes]\nallow = [\"http.*\", \"service.name\"]\n").unwrap();
        assert_eq!(allow.attribute_rule("http.route"), AttributeRule::Redact);
        assert_eq!(allow.attribute_rule("service.name"), AttributeRule::Redact);
        assert_eq!(allow.attribute_rule("user.email"), AttributeRule::Drop);
    }

    #[test]
    fn glob_matches_whole_names() {
        assert!(glob_match("a.*", "a.b.c"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*.id", "enduser.id"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(glob_match("a*b*c", "abc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(!glob_match("a.b", "a.bc"));
        assert!(!glob_match("enduser.id", "enduser.idx"));
        assert!(glob_match("**x", "yyx"));
        assert!(!glob_match("*x*y", &"x".repeat(2000)));
    }
}
