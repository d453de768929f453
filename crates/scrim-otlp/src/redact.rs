//! Applying a capture policy ([`Redactor`]) to whole OTLP requests, by semantic convention.
//!
//! Receivers do not redact; a caller's [`Sink`](crate::Sink) calls [`redact_batch`] before
//! the batch is queued, written or forwarded. Every signal is walked completely:
//!
//! - **spans**: the name (SQL there, from some database instrumentations, is obfuscated;
//!   anything else goes through the detectors), attributes, the status message, events
//!   (names and attributes, `exception.*` included) and links' attributes;
//! - **logs**: the body (any `AnyValue`, recursively; a string that is a JSON document is
//!   redacted as a JSON body, any other string as text) and attributes;
//! - **metrics**: every data point's attributes and its exemplars' filtered attributes;
//! - **resources and scopes**: their attributes.
//!
//! # Attributes by name
//!
//! The policy's `[attributes]` rules come first (`deny` drops, `pseudonymize` replaces the
//! value with a keyed pseudonym, a non-empty `allow` drops the rest). Then, old and new
//! semantic-convention names alike:
//!
//! | attributes | treatment |
//! | --- | --- |
//! | `db.query.text`, `db.statement` | per `[sql]`, in the language of `db.system.name` / `db.system` (SQL dialects, Redis, Memcached, JSON queries); `db.query.summary` added when absent |
//! | `db.query.plan`, `db.plan` | query plan per `[query_plans]` (off by default: dropped) |
//! | `url.full`, `http.url`, `http.target` | URL redaction per `[query_params]` |
//! | `url.query` | query string per `[query_params]` |
//! | `url.path` | detectors over the path |
//! | `client.address`, `client.socket.address`, `source.address`, `net.peer.ip`, `net.sock.peer.addr`, `network.peer.address`, `http.client_ip`, `http.request.header.x-forwarded-for`, `http.request.header.x-real-ip`, `http.request.header.forwarded` | IP per `[client_ips]` (each element of an array) |
//! | `http.request.body`, `http.response.body` (and `….content`), `rpc.request.body`, `rpc.response.body`, `messaging.message.body` | JSON body per `[json_bodies]` (text that is not JSON is scanned) |
//! | `exception.message`, `exception.stacktrace` | per `[exceptions]` |
//! | `enduser.id`, `enduser.email`, `user.id`, `user.email`, `user.name`, `user.full_name` | keyed pseudonym (`[id:…]`) |
//! | a name [`SensitiveKeys`](scrim_redact::keys::SensitiveKeys) matches (`db.password`, `http.request.header.authorization`, `…cookie`) | whole value replaced (`[REDACTED:secret]`) |
//! | anything else | detectors over every string, recursively through arrays and maps (map keys that are sensitive replace their value whole) |
//!
//! An item the policy drops (`drop`) is removed. Bytes values are scanned when they are
//! UTF-8 and replaced by the redacted text if anything was found.
//!
//! # Counting
//!
//! Each span and log record gets one integer attribute `scrim.redacted.<kind>` per kind
//! removed from it (its events and links included), added to any count an earlier pass (an
//! agent) left. Attributes under `scrim.redacted.` are not scanned. The counts for the whole
//! batch, resources, scopes and metrics included, are returned.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, metric::Data};
use scrim_redact::policy::AttributeRule;
use scrim_redact::sql::{Dialect, summarize};
use scrim_redact::{Counts, Kind, Redactor};

use crate::Batch;

/// One request's walk: the redactor, and the sensitivity of the attribute names met so
/// far. A request repeats the same few dozen names on every item, and deciding whether a
/// name is sensitive is otherwise the costliest step of the walk.
pub(crate) struct Walker<'r> {
    redactor: &'r Redactor,
    sensitive: RefCell<Memo<bool>>,
    /// `db.query.summary` of obfuscated statements, per dialect: spans repeat the same few
    /// statement shapes once their literals are gone.
    summaries: RefCell<Vec<(Dialect, Memo<String>)>>,
    /// Where removals were found, when the caller asked ([`redact_batch_located`]).
    located: Option<RefCell<Located>>,
}

/// The walk's position for [`Locations`]: the current resource's service.
#[derive(Default)]
struct Located {
    service: String,
    found: Locations,
}

/// What was removed where: count per service, location and kind, for sensitive-data
/// insights ("service `payments` sent 1,204 card numbers in `http.request.body`").
///
/// A location is an attribute name (of a span, span event, link, log record, resource,
/// scope or data point), or `span.name`, `status.message`, `event.name`, `log.body`. The
/// service is the resource's `service.name` (`unknown_service` without one).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Locations {
    counts: std::collections::BTreeMap<(String, String, Kind), u64>,
}

impl Locations {
    /// Every (service, location, kind) with its count, in that order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, Kind, u64)> + '_ {
        self.counts
            .iter()
            .map(|((s, l, k), n)| (s.as_str(), l.as_str(), *k, *n))
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: Locations) {
        for (key, n) in other.counts {
            let slot = self.counts.entry(key).or_default();
            *slot = slot.saturating_add(n);
        }
    }

    fn add(&mut self, service: &str, location: &str, before: &Counts, after: &Counts) {
        for kind in Kind::ALL {
            let n = after.get(*kind).saturating_sub(before.get(*kind));
            if n > 0 {
                let slot = self
                    .counts
                    .entry((service.to_owned(), location.to_owned(), *kind))
                    .or_default();
                *slot = slot.saturating_add(n);
            }
        }
    }
}

/// A per-request memo keyed by text.
type Memo<V> = HashMap<String, V, FastHash>;

/// Names remembered per request at most (a request with more distinct names is checked
/// without memo past this).
const MEMO_KEYS: usize = 4096;

/// The memos' hasher: their keys are attribute names and statements from one request,
/// looked up once per attribute, where SipHash's cost showed in the profile. Flooding a
/// memo only makes it slower, and each is capped at [`MEMO_KEYS`] and lives for one
/// request.
#[derive(Clone, Copy, Default)]
struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = Fx;
    fn build_hasher(&self) -> Fx {
        Fx(0)
    }
}

/// The Fx hash (rustc's), 8 bytes at a time.
struct Fx(u64);

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }
    fn finish(&self) -> u64 {
        // Spread the high bits down too: the table takes its control byte from the top 7
        // and its bucket from the low bits.
        self.0 ^ (self.0 >> 32)
    }
}

impl<'r> Walker<'r> {
    pub(crate) fn new(redactor: &'r Redactor) -> Self {
        Walker {
            redactor,
            sensitive: RefCell::new(HashMap::with_hasher(FastHash)),
            summaries: RefCell::new(Vec::new()),
            located: None,
        }
    }

    fn located(redactor: &'r Redactor) -> Self {
        Walker {
            located: Some(RefCell::new(Located::default())),
            ..Walker::new(redactor)
        }
    }

    /// Starts a resource: removals until the next one belong to its service.
    fn enter_resource(&self, attrs: &[KeyValue]) {
        if let Some(l) = &self.located {
            let service = attrs
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
                    _ => None,
                })
                .unwrap_or("unknown_service");
            let mut l = l.borrow_mut();
            l.service.clear();
            l.service.push_str(service);
        }
    }

    /// Runs `f`, and when locations are wanted, files what it removed under `location`.
    fn at<T>(&self, location: &str, c: &mut Counts, f: impl FnOnce(&mut Counts) -> T) -> T {
        match &self.located {
            None => f(c),
            Some(_) => {
                let before = *c;
                let out = f(c);
                if *c != before {
                    self.record(location, &before, c);
                }
                out
            }
        }
    }

    /// Files the difference between `before` and `after` under `location`.
    fn record(&self, location: &str, before: &Counts, after: &Counts) {
        if let Some(l) = &self.located {
            let mut l = l.borrow_mut();
            let Located { service, found } = &mut *l;
            found.add(service, location, before, after);
        }
    }

    /// [`summarize`]`(sql, dialect).summary`, remembered.
    pub(crate) fn summary(&self, sql: &str, dialect: Dialect) -> String {
        let mut memos = self.summaries.borrow_mut();
        let i = match memos.iter().position(|(d, _)| *d == dialect) {
            Some(i) => i,
            None => {
                memos.push((dialect, HashMap::with_hasher(FastHash)));
                memos.len() - 1
            }
        };
        let memo = &mut memos[i].1;
        if let Some(known) = memo.get(sql) {
            return known.clone();
        }
        let summary = summarize(sql, dialect).summary;
        if memo.len() < MEMO_KEYS {
            memo.insert(sql.to_owned(), summary.clone());
        }
        summary
    }

    /// [`SensitiveKeys::is_sensitive`](scrim_redact::keys::SensitiveKeys::is_sensitive),
    /// remembered.
    fn is_sensitive_key(&self, key: &str) -> bool {
        if let Some(&known) = self.sensitive.borrow().get(key) {
            return known;
        }
        let sensitive = self.redactor.sensitive_keys().is_sensitive(key);
        let mut memo = self.sensitive.borrow_mut();
        if memo.len() < MEMO_KEYS {
            memo.insert(key.to_owned(), sensitive);
        }
        sensitive
    }
}

impl std::ops::Deref for Walker<'_> {
    type Target = Redactor;
    fn deref(&self) -> &Redactor {
        self.redactor
    }
}

/// Prefix of the per-item count attributes.
pub const COUNT_PREFIX: &str = "scrim.redacted.";

/// Redacts every signal of `batch` in place; returns what was removed, by kind.
pub fn redact_batch(batch: &mut Batch, r: &Redactor) -> Counts {
    match batch {
        Batch::Traces(t) => redact_traces(t, r),
        Batch::Logs(l) => redact_logs(l, r),
        Batch::Metrics(m) => redact_metrics(m, r),
    }
}

/// [`redact_batch`], also saying where each removal was found, by service (for
/// sensitive-data insights; the server asks, the agent does not).
pub fn redact_batch_located(batch: &mut Batch, r: &Redactor) -> (Counts, Locations) {
    let w = Walker::located(r);
    let counts = match batch {
        Batch::Traces(t) => walk_traces(t, &w),
        Batch::Logs(l) => walk_logs(l, &w),
        Batch::Metrics(m) => walk_metrics(m, &w),
    };
    let found = w.located.map(|l| l.into_inner().found).unwrap_or_default();
    (counts, found)
}

/// Redacts a trace export request in place.
pub fn redact_traces(req: &mut ExportTraceServiceRequest, r: &Redactor) -> Counts {
    walk_traces(req, &Walker::new(r))
}

fn walk_traces(req: &mut ExportTraceServiceRequest, r: &Walker<'_>) -> Counts {
    let mut total = Counts::default();
    for rs in &mut req.resource_spans {
        r.enter_resource(rs.resource.as_ref().map_or(&[][..], |res| &res.attributes));
        if let Some(res) = rs.resource.as_mut() {
            attributes(&mut res.attributes, r, &mut total);
        }
        for ss in &mut rs.scope_spans {
            if let Some(scope) = ss.scope.as_mut() {
                attributes(&mut scope.attributes, r, &mut total);
            }
            for span in &mut ss.spans {
                let mut c = Counts::default();
                let system = db_system(&span.attributes);
                r.at("span.name", &mut c, |c| {
                    redact_span_name(&mut span.name, system, r, c)
                });
                attributes(&mut span.attributes, r, &mut c);
                if let Some(status) = span.status.as_mut()
                    && let Some(n) = r.at("status.message", &mut c, |c| {
                        changed(&status.message, r.text(&status.message, c))
                    })
                {
                    status.message = n;
                }
                for event in &mut span.events {
                    if let Some(n) = r.at("event.name", &mut c, |c| {
                        changed(&event.name, r.text(&event.name, c))
                    }) {
                        event.name = n;
                    }
                    attributes(&mut event.attributes, r, &mut c);
                }
                for link in &mut span.links {
                    attributes(&mut link.attributes, r, &mut c);
                }
                add_counts(&mut span.attributes, &c);
                total.merge(&c);
            }
        }
    }
    total
}

/// Redacts a logs export request in place.
pub fn redact_logs(req: &mut ExportLogsServiceRequest, r: &Redactor) -> Counts {
    walk_logs(req, &Walker::new(r))
}

fn walk_logs(req: &mut ExportLogsServiceRequest, r: &Walker<'_>) -> Counts {
    let mut total = Counts::default();
    for rl in &mut req.resource_logs {
        r.enter_resource(rl.resource.as_ref().map_or(&[][..], |res| &res.attributes));
        if let Some(res) = rl.resource.as_mut() {
            attributes(&mut res.attributes, r, &mut total);
        }
        for sl in &mut rl.scope_logs {
            if let Some(scope) = sl.scope.as_mut() {
                attributes(&mut scope.attributes, r, &mut total);
            }
            for log in &mut sl.log_records {
                let mut c = Counts::default();
                if let Some(body) = log.body.as_mut()
                    && !r.at("log.body", &mut c, |c| redact_body_value(body, r, c))
                {
                    log.body = None;
                }
                attributes(&mut log.attributes, r, &mut c);
                add_counts(&mut log.attributes, &c);
                total.merge(&c);
            }
        }
    }
    total
}

/// Redacts a metrics export request in place. Data points get no count attributes: an
/// attribute would change the series a point belongs to.
pub fn redact_metrics(req: &mut ExportMetricsServiceRequest, r: &Redactor) -> Counts {
    walk_metrics(req, &Walker::new(r))
}

fn walk_metrics(req: &mut ExportMetricsServiceRequest, r: &Walker<'_>) -> Counts {
    let mut total = Counts::default();
    for rm in &mut req.resource_metrics {
        r.enter_resource(rm.resource.as_ref().map_or(&[][..], |res| &res.attributes));
        if let Some(res) = rm.resource.as_mut() {
            attributes(&mut res.attributes, r, &mut total);
        }
        for sm in &mut rm.scope_metrics {
            if let Some(scope) = sm.scope.as_mut() {
                attributes(&mut scope.attributes, r, &mut total);
            }
            for metric in &mut sm.metrics {
                let c = &mut total;
                match metric.data.as_mut() {
                    Some(Data::Gauge(g)) => {
                        for p in &mut g.data_points {
                            attributes(&mut p.attributes, r, c);
                            redact_exemplars(&mut p.exemplars, r, c);
                        }
                    }
                    Some(Data::Sum(s)) => {
                        for p in &mut s.data_points {
                            attributes(&mut p.attributes, r, c);
                            redact_exemplars(&mut p.exemplars, r, c);
                        }
                    }
                    Some(Data::Histogram(h)) => {
                        for p in &mut h.data_points {
                            attributes(&mut p.attributes, r, c);
                            redact_exemplars(&mut p.exemplars, r, c);
                        }
                    }
                    Some(Data::ExponentialHistogram(h)) => {
                        for p in &mut h.data_points {
                            attributes(&mut p.attributes, r, c);
                            redact_exemplars(&mut p.exemplars, r, c);
                        }
                    }
                    Some(Data::Summary(s)) => {
                        for p in &mut s.data_points {
                            attributes(&mut p.attributes, r, c);
                        }
                    }
                    None => {}
                }
            }
        }
    }
    total
}

fn redact_exemplars(exemplars: &mut [Exemplar], r: &Walker<'_>, c: &mut Counts) {
    for e in exemplars {
        attributes(&mut e.filtered_attributes, r, c);
    }
}

/// What an attribute name means to the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Sql,
    Plan,
    Url,
    Query,
    Path,
    Ip,
    Body,
    Exception,
    Identity,
    Count,
    Other,
}

pub(crate) fn role(key: &str) -> Role {
    match key {
        "db.query.text" | "db.statement" => Role::Sql,
        "db.query.plan" | "db.plan" => Role::Plan,
        "url.full" | "http.url" | "http.target" => Role::Url,
        "url.query" => Role::Query,
        "url.path" => Role::Path,
        "client.address"
        | "client.socket.address"
        | "source.address"
        | "net.peer.ip"
        | "net.sock.peer.addr"
        | "network.peer.address"
        | "http.client_ip"
        | "http.request.header.x-forwarded-for"
        | "http.request.header.x-real-ip"
        | "http.request.header.forwarded" => Role::Ip,
        "http.request.body"
        | "http.response.body"
        | "http.request.body.content"
        | "http.response.body.content"
        | "rpc.request.body"
        | "rpc.response.body"
        | "messaging.message.body" => Role::Body,
        "exception.message" | "exception.stacktrace" => Role::Exception,
        "enduser.id" | "enduser.email" | "user.id" | "user.email" | "user.name"
        | "user.full_name" => Role::Identity,
        k if k.starts_with(COUNT_PREFIX) => Role::Count,
        _ => Role::Other,
    }
}

/// The `db.system.name` (or older `db.system`) of an attribute set.
fn db_system(attrs: &[KeyValue]) -> Option<&str> {
    ["db.system.name", "db.system"].iter().find_map(|name| {
        attrs.iter().find(|kv| kv.key == *name).and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            }
        })
    })
}

/// Redacts one attribute list in place: drops what the policy drops, rewrites the rest.
pub fn redact_attributes(attrs: &mut Vec<KeyValue>, r: &Redactor, c: &mut Counts) {
    attributes(attrs, &Walker::new(r), c);
}

pub(crate) fn attributes(attrs: &mut Vec<KeyValue>, r: &Walker<'_>, c: &mut Counts) {
    if attrs.is_empty() {
        return;
    }
    let system = db_system(attrs).map(str::to_owned);
    let has_summary = attrs.iter().any(|kv| kv.key == "db.query.summary");
    let mut summary: Option<String> = None;
    attrs.retain_mut(|kv| {
        let keep = match &r.located {
            None => redact_attribute(kv, system.as_deref(), r, c),
            Some(_) => {
                let before = *c;
                let keep = redact_attribute(kv, system.as_deref(), r, c);
                // Keys are never rewritten: the name is still the attribute's.
                if *c != before {
                    r.record(&kv.key, &before, c);
                }
                keep
            }
        };
        if keep
            && !has_summary
            && summary.is_none()
            && role(&kv.key) == Role::Sql
            && let Some(Value::StringValue(s)) = kv.value.as_ref().and_then(|v| v.value.as_ref())
        {
            let dialect = system
                .as_deref()
                .map(Dialect::from_db_system)
                .unwrap_or_default();
            let s = r.summary(s, dialect);
            if !s.is_empty() {
                summary = Some(s);
            }
        }
        keep
    });
    if let Some(s) = summary {
        attrs.push(string_kv("db.query.summary", s));
    }
}

/// A scalar attribute value, borrowed (the wire-format walk reads them in place).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
}

impl<'a> Scalar<'a> {
    fn of(v: &'a Value) -> Option<Scalar<'a>> {
        Some(match v {
            Value::StringValue(s) => Scalar::Str(s),
            Value::IntValue(i) => Scalar::Int(*i),
            Value::DoubleValue(d) => Scalar::Double(*d),
            Value::BoolValue(b) => Scalar::Bool(*b),
            _ => return None,
        })
    }

    /// [`value_text`] of the value.
    fn text(self) -> Option<Cow<'a, str>> {
        let text = match self {
            Scalar::Str(s) => Cow::Borrowed(s),
            Scalar::Int(i) => Cow::Owned(i.to_string()),
            Scalar::Double(d) => Cow::Owned(d.to_string()),
            Scalar::Bool(b) => Cow::Owned(b.to_string()),
        };
        (!text.is_empty()).then_some(text)
    }
}

/// What the policy does to an attribute with a scalar value.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    Keep,
    Drop,
    /// The value becomes this string.
    Set(String),
}

/// [`redact_attribute`] for a scalar value: one implementation for the walk on decoded
/// requests and the one on the wire format.
pub(crate) fn redact_scalar(
    key: &str,
    value: Scalar<'_>,
    system: Option<&str>,
    r: &Walker<'_>,
    c: &mut Counts,
) -> Outcome {
    let whole = |f: &dyn for<'s> Fn(&'s str, &mut Counts) -> Cow<'s, str>, c: &mut Counts| {
        let Some(text) = value.text() else {
            return Outcome::Keep;
        };
        match changed(&text, f(&text, c)) {
            Some(n) => Outcome::Set(n),
            None => Outcome::Keep,
        }
    };
    match r.attribute_rule(key) {
        AttributeRule::Drop => return Outcome::Drop,
        AttributeRule::Pseudonymize => return whole(&|t, c| r.pseudonymize(t, c), c),
        AttributeRule::Redact => {}
    }
    let role = role(key);
    let string = |out: Option<Cow<'_, str>>, s: &str| match out.map(|out| changed(s, out)) {
        Some(Some(n)) => Outcome::Set(n),
        Some(None) => Outcome::Keep,
        None => Outcome::Drop,
    };
    match (role, value) {
        (Role::Count, _) => Outcome::Keep,
        (Role::Identity, _) => whole(&|t, c| r.pseudonymize(t, c), c),
        (
            Role::Sql
            | Role::Plan
            | Role::Url
            | Role::Query
            | Role::Path
            | Role::Ip
            | Role::Body
            | Role::Exception,
            Scalar::Str(s),
        ) => string(
            match role {
                Role::Sql => r.sql(s, system, c),
                Role::Plan => r.query_plan(s, system, c),
                Role::Url => Some(r.url(s, c)),
                Role::Query => r.query(s, c),
                Role::Path => Some(r.path(s, c)),
                Role::Ip => r.ip(s, c),
                Role::Body => r.body(s, c),
                _ => r.exception(s, c),
            },
            s,
        ),
        // A number where a string was expected: drop rather than guess.
        (
            Role::Sql
            | Role::Plan
            | Role::Url
            | Role::Query
            | Role::Path
            | Role::Ip
            | Role::Body
            | Role::Exception,
            _,
        ) => Outcome::Drop,
        (Role::Other, _) if r.is_sensitive_key(key) => whole(&|t, c| r.sensitive_value(t, c), c),
        (Role::Other, Scalar::Str(s)) => string(Some(r.text(s, c)), s),
        (Role::Other, Scalar::Int(i)) => {
            // A card number sent as an integer is still a card number.
            let text = i.to_string();
            match changed(&text, r.text(&text, c)) {
                Some(n) => Outcome::Set(n),
                None => Outcome::Keep,
            }
        }
        (Role::Other, Scalar::Double(_) | Scalar::Bool(_)) => Outcome::Keep,
    }
}

/// Rewrites one attribute; false when it must be dropped.
pub(crate) fn redact_attribute(
    kv: &mut KeyValue,
    system: Option<&str>,
    r: &Walker<'_>,
    c: &mut Counts,
) -> bool {
    let Some(value) = kv.value.as_mut() else {
        return true;
    };
    if let Some(scalar) = value.value.as_ref().and_then(Scalar::of) {
        return match redact_scalar(&kv.key, scalar, system, r, c) {
            Outcome::Keep => true,
            Outcome::Drop => false,
            Outcome::Set(n) => {
                value.value = Some(Value::StringValue(n));
                true
            }
        };
    }
    match r.attribute_rule(&kv.key) {
        AttributeRule::Drop => return false,
        AttributeRule::Pseudonymize => {
            pseudonymize(value, r, c);
            return true;
        }
        AttributeRule::Redact => {}
    }
    let role = role(&kv.key);
    match role {
        Role::Count => true,
        Role::Identity => {
            pseudonymize(value, r, c);
            true
        }
        Role::Sql
        | Role::Plan
        | Role::Url
        | Role::Query
        | Role::Path
        | Role::Ip
        | Role::Body
        | Role::Exception => apply_strings(value, c, &mut |s, c| match role {
            Role::Sql => r.sql(s, system, c),
            Role::Plan => r.query_plan(s, system, c),
            Role::Url => Some(r.url(s, c)),
            Role::Query => r.query(s, c),
            Role::Path => Some(r.path(s, c)),
            Role::Ip => r.ip(s, c),
            Role::Body => r.body(s, c),
            _ => r.exception(s, c),
        }),
        Role::Other if r.is_sensitive_key(&kv.key) => {
            replace_whole(value, r, c);
            true
        }
        Role::Other => {
            redact_value(value, r, c);
            true
        }
    }
}

/// Applies `f` to the string (or each string of an array) in `value`; a `None` from `f`
/// drops the attribute (or the array element). Non-string values go through the detectors.
/// False when the whole attribute must go.
fn apply_strings(
    value: &mut AnyValue,
    c: &mut Counts,
    f: &mut dyn for<'s> FnMut(&'s str, &mut Counts) -> Option<Cow<'s, str>>,
) -> bool {
    match value.value.as_mut() {
        Some(Value::StringValue(s)) => match f(s, c).map(|out| changed(s, out)) {
            Some(Some(n)) => {
                *s = n;
                true
            }
            Some(None) => true,
            None => false,
        },
        Some(Value::ArrayValue(arr)) => {
            arr.values.retain_mut(|v| apply_strings(v, c, f));
            true
        }
        // A number or a map where a string was expected: drop rather than guess.
        Some(_) => false,
        None => true,
    }
}

/// The whole value replaced with a pseudonym of its text.
fn pseudonymize(value: &mut AnyValue, r: &Walker<'_>, c: &mut Counts) {
    let Some(text) = value.value.as_ref().and_then(value_text) else {
        return;
    };
    if let Some(n) = changed(&text, r.pseudonymize(&text, c)) {
        value.value = Some(Value::StringValue(n));
    }
}

/// The whole value replaced as a secret (its key is sensitive).
fn replace_whole(value: &mut AnyValue, r: &Walker<'_>, c: &mut Counts) {
    let Some(text) = value.value.as_ref().and_then(value_text) else {
        return;
    };
    if let Some(n) = changed(&text, r.sensitive_value(&text, c)) {
        value.value = Some(Value::StringValue(n));
    }
}

/// A value as the text a pseudonym is computed over; `None` for an empty one.
fn value_text(v: &Value) -> Option<String> {
    let text = match v {
        Value::StringValue(s) => s.clone(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        Value::BoolValue(b) => b.to_string(),
        Value::BytesValue(b) => String::from_utf8_lossy(b).into_owned(),
        // A structure under a sensitive name: its protobuf text form, replaced whole.
        Value::ArrayValue(_) | Value::KvlistValue(_) => format!("{v:?}"),
        Value::StringValueStrindex(_) => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Detectors over every string in `value`, recursively; map entries under sensitive keys
/// are replaced whole.
fn redact_value(value: &mut AnyValue, r: &Walker<'_>, c: &mut Counts) {
    match value.value.as_mut() {
        Some(Value::StringValue(s)) => {
            if let Some(n) = changed(s, r.text(s, c)) {
                *s = n;
            }
        }
        Some(Value::ArrayValue(arr)) => {
            for v in &mut arr.values {
                redact_value(v, r, c);
            }
        }
        Some(Value::KvlistValue(list)) => {
            for kv in &mut list.values {
                let Some(v) = kv.value.as_mut() else { continue };
                if r.is_sensitive_key(&kv.key) {
                    replace_whole(v, r, c);
                } else {
                    redact_value(v, r, c);
                }
            }
        }
        Some(Value::BytesValue(b)) => {
            if let Ok(text) = std::str::from_utf8(b)
                && let Some(out) = changed(text, r.text(text, c))
            {
                *b = out.into_bytes();
            }
        }
        Some(Value::IntValue(i)) => {
            // A card number sent as an integer is still a card number.
            let text = i.to_string();
            if let Some(out) = changed(&text, r.text(&text, c)) {
                value.value = Some(Value::StringValue(out));
            }
        }
        // String-table indexes (profiles) carry no text here.
        Some(Value::BoolValue(_) | Value::DoubleValue(_) | Value::StringValueStrindex(_))
        | None => {}
    }
}

/// A log body: JSON documents as bodies, other strings as text, structures recursively.
/// False when the policy drops it.
fn redact_body_value(value: &mut AnyValue, r: &Walker<'_>, c: &mut Counts) -> bool {
    if let Some(Value::StringValue(s)) = value.value.as_mut()
        && looks_like_json(s)
    {
        return match r.body(s, c).map(|out| changed(s, out)) {
            Some(Some(n)) => {
                *s = n;
                true
            }
            Some(None) => true,
            None => false,
        };
    }
    redact_value(value, r, c);
    true
}

fn looks_like_json(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with('{') || t.starts_with('[')
}

/// A span name: SQL (on a database span) obfuscated, anything else through the detectors.
fn redact_span_name(name: &mut String, system: Option<&str>, r: &Walker<'_>, c: &mut Counts) {
    if let Some(n) = span_name(name, system, r, c) {
        *name = n;
    }
}

/// The new span name, `None` when it stays (see [`redact_span_name`]).
pub(crate) fn span_name(
    name: &str,
    system: Option<&str>,
    r: &Walker<'_>,
    c: &mut Counts,
) -> Option<String> {
    if system.is_some() && looks_like_sql(name) {
        match r.sql(name, system, c).map(|out| changed(name, out)) {
            Some(n) => n,
            None => {
                // SQL is not captured: the span keeps only the statement's summary.
                let dialect = system.map(Dialect::from_db_system).unwrap_or_default();
                let summary = summarize(name, dialect).summary;
                Some(if summary.is_empty() {
                    "db.query".into()
                } else {
                    summary
                })
            }
        }
    } else {
        changed(name, r.text(name, c))
    }
}

fn looks_like_sql(name: &str) -> bool {
    let first = name
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    [
        "select", "insert", "update", "delete", "merge", "upsert", "with", "call", "exec",
        "execute", "replace", "create", "alter", "drop", "truncate", "begin", "declare", "set",
        "show",
    ]
    .iter()
    .any(|k| first.eq_ignore_ascii_case(k))
        && name.trim().contains(char::is_whitespace)
}

/// The new text when a redaction changed `orig`, else `None`. A borrowed result can still
/// be new text (a static marker), so "unchanged" means "the very same slice".
pub(crate) fn changed(orig: &str, out: Cow<'_, str>) -> Option<String> {
    match out {
        Cow::Borrowed(b) if std::ptr::eq(b, orig) => None,
        out => Some(out.into_owned()),
    }
}

fn string_kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

/// Adds `scrim.redacted.<kind>` counts to an item's attributes, summing with existing ones.
fn add_counts(attrs: &mut Vec<KeyValue>, counts: &Counts) {
    for (kind, n) in counts.iter() {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let is_key = |k: &str| {
            k.strip_prefix(COUNT_PREFIX)
                .is_some_and(|rest| rest == kind.as_str())
        };
        match attrs.iter_mut().find(|kv| is_key(&kv.key)) {
            Some(kv) => {
                let old = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::IntValue(i)) => *i,
                    _ => 0,
                };
                kv.value = Some(AnyValue {
                    value: Some(Value::IntValue(old.saturating_add(n))),
                });
            }
            None => attrs.push(KeyValue {
                key: count_key(kind),
                value: Some(AnyValue {
                    value: Some(Value::IntValue(n)),
                }),
                ..Default::default()
            }),
        }
    }
}

/// `scrim.redacted.<kind>`.
pub fn count_key(kind: Kind) -> String {
    format!("{COUNT_PREFIX}{kind}")
}
