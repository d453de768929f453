//! The capture policy applied to OTLP/protobuf trace requests on the wire format.
//!
//! [`redact_traces_protobuf`] takes the body of an `ExportTraceServiceRequest` and returns
//! the redacted request, encoded: what [`decode`](prost::Message::decode) ▸ the [`Limits`]
//! check ▸ [`redact_traces`] ▸ [`encode_traces`] give, without building and freeing the
//! `prost` structures. It walks the encoded request, copies the fields the policy leaves
//! alone byte for byte, writes only the strings it changes (span names, attribute values,
//! status messages, event names) and the attributes it adds (`db.query.summary`,
//! `scrim.redacted.<kind>`), and rewrites the length prefix of every enclosing message.
//! Decoded, its output equals the other path's, counts included (the tests check it on
//! generated requests, and the fuzz target `wire_traces` on arbitrary bytes).
//!
//! The walk takes only requests it can prove equal: every field `prost` knows with its
//! wire type, valid UTF-8 in every string, ids of valid length, no attribute list over
//! the limit, no repeated singular field it rewrites. Anything else (an invalid request,
//! one the limits change or refuse, a `Resource` with entity references, groups) is
//! declined, and [`redact_traces_protobuf`] then takes the `prost` path, which gives the
//! same answer it always gave, errors included. Attribute values other than scalars
//! (arrays, maps, bytes) are decoded one attribute at a time and go through the same code
//! as on the decoded path; so do scalars, through [`redact_scalar`]. Unknown fields are
//! dropped, as decoding drops them.

use std::borrow::Cow;

use prost::Message;
use prost::encoding::{encode_varint, encoded_len_varint};
use scrim_redact::sql::Dialect;
use scrim_redact::{Counts, Redactor};

use crate::Limits;
use crate::encode::encode_traces;
use crate::limits::{check, trim_value};
use crate::model::Batch;
use crate::proto::{AnyValue, ExportTraceServiceRequest, KeyValue, any_value::Value};
use crate::redact::{
    COUNT_PREFIX, Outcome, Role, Scalar, Walker, changed, count_key, redact_attribute,
    redact_scalar, redact_traces, role, span_name,
};

/// A redacted trace request, encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedTraces {
    /// The `ExportTraceServiceRequest`, redacted, as protobuf.
    pub body: Vec<u8>,
    /// Its spans.
    pub spans: u64,
    /// What the policy removed, by kind.
    pub counts: Counts,
}

/// Why a trace request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TracesError {
    /// Not an `ExportTraceServiceRequest`.
    Decode(prost::DecodeError),
    /// It breaks a hard limit (the message names the field and the limit, never data).
    Limits(String),
}

impl std::fmt::Display for TracesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TracesError::Decode(e) => write!(f, "invalid protobuf: {e}"),
            TracesError::Limits(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for TracesError {}

/// Decodes, checks against `limits`, redacts with `r` and encodes an OTLP/protobuf trace
/// request: on the wire format when it can, else through `prost` structures. Both give the
/// same result.
pub fn redact_traces_protobuf(
    body: &[u8],
    r: &Redactor,
    limits: &Limits,
) -> Result<RedactedTraces, TracesError> {
    if let Some(done) = redact_traces_wire(body, r, limits) {
        return Ok(done);
    }
    redact_traces_decoded(body, r, limits)
}

/// The `prost` path of [`redact_traces_protobuf`]: decode ▸ check ▸ [`redact_traces`] ▸
/// encode.
pub fn redact_traces_decoded(
    body: &[u8],
    r: &Redactor,
    limits: &Limits,
) -> Result<RedactedTraces, TracesError> {
    let req = ExportTraceServiceRequest::decode(body).map_err(TracesError::Decode)?;
    let mut batch = Batch::Traces(req);
    check(&mut batch, limits).map_err(TracesError::Limits)?;
    let spans = batch.item_count();
    let Batch::Traces(mut req) = batch else {
        unreachable!("checking keeps the signal")
    };
    let counts = redact_traces(&mut req, r);
    let mut out = Vec::with_capacity(body.len() + body.len() / 8);
    encode_traces(&req, &mut out);
    Ok(RedactedTraces {
        body: out,
        spans,
        counts,
    })
}

/// The wire-format path alone: `None` when it declines the request (see the module
/// documentation), which says nothing about whether the request is valid.
pub fn redact_traces_wire(body: &[u8], r: &Redactor, limits: &Limits) -> Option<RedactedTraces> {
    if limits.max_value_depth == 0 {
        return None;
    }
    let walker = Walker::new(r);
    let mut w = Wire {
        r: &walker,
        limits,
        // An attribute decoded on its own has more of `prost`'s recursion limit (100
        // nested messages) left than inside the request: deeper values are left to the
        // other path, which decodes them where the request has them.
        deep: Limits {
            max_value_depth: limits.max_value_depth.min(16),
            ..*limits
        },
        total: Counts::default(),
        spans: 0,
    };
    // Room for what the policy adds (count attributes, summaries) without growing.
    let mut out = Vec::with_capacity(body.len() + body.len() / 4);
    w.request(body, &mut out).ok()?;
    Some(RedactedTraces {
        body: out,
        spans: w.spans,
        counts: w.total,
    })
}

/// The walk declines the request.
#[derive(Debug)]
struct Declined;

type Res<T> = Result<T, Declined>;

/// Wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// A varint, as `prost` reads it (at most 10 bytes, the tenth 0 or 1).
fn varint(buf: &mut &[u8]) -> Res<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *buf.get(i).ok_or(Declined)?;
        if i == 9 && b > 1 {
            return Err(Declined);
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *buf = &buf[i + 1..];
            return Ok(v);
        }
    }
    Err(Declined)
}

/// One field of a message.
struct Field<'a> {
    tag: u32,
    wire_type: u8,
    /// The value: the varint's or fixed value's bytes, or a length-delimited field's
    /// contents.
    data: &'a [u8],
    /// The whole field, key included, as sent.
    raw: &'a [u8],
}

impl<'a> Field<'a> {
    fn bytes(&self) -> Res<&'a [u8]> {
        (self.wire_type == LEN).then_some(self.data).ok_or(Declined)
    }

    fn str(&self) -> Res<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Declined)
    }

    /// A field copied through as sent, once its wire type is the expected one.
    fn expect(&self, wire_type: u8) -> Res<&'a [u8]> {
        (self.wire_type == wire_type)
            .then_some(self.raw)
            .ok_or(Declined)
    }

    fn varint(&self) -> Res<u64> {
        if self.wire_type != VARINT {
            return Err(Declined);
        }
        varint(&mut { self.data })
    }

    /// An id of `len` bytes or empty (the limits refuse other lengths).
    fn id(&self, len: usize) -> Res<&'a [u8]> {
        let id = self.bytes()?;
        if id.is_empty() || id.len() == len {
            Ok(self.raw)
        } else {
            Err(Declined)
        }
    }
}

/// The fields of one message, in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn next(&mut self) -> Res<Option<Field<'a>>> {
        let start = self.0;
        if start.is_empty() {
            return Ok(None);
        }
        let key = varint(&mut self.0)?;
        let key = u32::try_from(key).map_err(|_| Declined)?;
        let tag = key >> 3;
        if tag == 0 {
            return Err(Declined);
        }
        let wire_type = (key & 7) as u8;
        let data = match wire_type {
            VARINT => {
                let before = self.0;
                varint(&mut self.0)?;
                &before[..before.len() - self.0.len()]
            }
            I64 => self.take(8)?,
            LEN => {
                let len = varint(&mut self.0)?;
                self.take(usize::try_from(len).map_err(|_| Declined)?)?
            }
            I32 => self.take(4)?,
            // Groups (3, 4) and invalid wire types.
            _ => return Err(Declined),
        };
        Ok(Some(Field {
            tag,
            wire_type,
            data,
            raw: &start[..start.len() - self.0.len()],
        }))
    }

    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        if n > self.0.len() {
            return Err(Declined);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}

fn put_key(out: &mut Vec<u8>, tag: u32, wire_type: u8) {
    encode_varint(u64::from(tag << 3 | u32::from(wire_type)), out);
}

fn put_bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    put_key(out, tag, LEN);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A length-delimited field being written: where its length goes.
struct Open {
    at: usize,
    reserved: usize,
}

/// Starts a message field, reserving room for a length of about `hint` bytes.
fn open(out: &mut Vec<u8>, tag: u32, hint: usize) -> Open {
    put_key(out, tag, LEN);
    let at = out.len();
    let reserved = encoded_len_varint(hint as u64);
    out.resize(at + reserved, 0);
    Open { at, reserved }
}

/// Ends a message field: writes its length, moving its contents when the length needs
/// another number of bytes than reserved.
fn close(out: &mut Vec<u8>, open: Open) {
    let start = open.at + open.reserved;
    let len = (out.len() - start) as u64;
    let need = encoded_len_varint(len);
    if need > open.reserved {
        let more = need - open.reserved;
        out.splice(start..start, std::iter::repeat_n(0, more));
    } else if need < open.reserved {
        out.drain(open.at + need..start);
    }
    let mut slot = &mut out[open.at..open.at + need];
    encode_varint(len, &mut slot);
}

/// `KeyValue { key, value: AnyValue { <value> } }`, as field `tag`.
fn put_scalar_kv(out: &mut Vec<u8>, tag: u32, key: &str, value: Scalar<'_>) {
    let value_len = match value {
        Scalar::Str(s) => 1 + encoded_len_varint(s.len() as u64) + s.len(),
        Scalar::Int(i) => 1 + encoded_len_varint(i as u64),
        Scalar::Double(_) => 9,
        Scalar::Bool(_) => 2,
    };
    let key_len = if key.is_empty() {
        0
    } else {
        1 + encoded_len_varint(key.len() as u64) + key.len()
    };
    let len = key_len + 1 + encoded_len_varint(value_len as u64) + value_len;
    put_key(out, tag, LEN);
    encode_varint(len as u64, out);
    if !key.is_empty() {
        put_bytes(out, 1, key.as_bytes());
    }
    put_key(out, 2, LEN);
    encode_varint(value_len as u64, out);
    match value {
        Scalar::Str(s) => put_bytes(out, 1, s.as_bytes()),
        Scalar::Bool(b) => {
            put_key(out, 2, VARINT);
            out.push(u8::from(b));
        }
        Scalar::Int(i) => {
            put_key(out, 3, VARINT);
            encode_varint(i as u64, out);
        }
        Scalar::Double(d) => {
            put_key(out, 4, I64);
            out.extend_from_slice(&d.to_le_bytes());
        }
    }
}

/// One attribute as read.
enum Entry<'a> {
    /// A key and a scalar value (a string already cut to the value limit), read in place.
    Plain {
        key: &'a str,
        value: Scalar<'a>,
        /// The `KeyValue` as sent, when it can be copied through unchanged.
        raw: Option<&'a [u8]>,
    },
    /// Anything else, decoded (and trimmed per the limits) on its own.
    Decoded(KeyValue),
}

impl Entry<'_> {
    fn key(&self) -> &str {
        match self {
            Entry::Plain { key, .. } => key,
            Entry::Decoded(kv) => &kv.key,
        }
    }
}

/// One attribute to write.
enum Out<'a> {
    /// Unchanged: copied through, or written again when the limits cut its value.
    Plain {
        key: &'a str,
        value: Scalar<'a>,
        raw: Option<&'a [u8]>,
    },
    Text {
        key: Cow<'a, str>,
        value: String,
    },
    Int {
        key: Cow<'a, str>,
        value: i64,
    },
    Decoded(KeyValue),
}

impl<'a> Out<'a> {
    fn key(&self) -> &str {
        match self {
            Out::Plain { key, .. } => key,
            Out::Text { key, .. } | Out::Int { key, .. } => key,
            Out::Decoded(kv) => &kv.key,
        }
    }

    fn string_value(&self) -> Option<&str> {
        match self {
            Out::Plain {
                value: Scalar::Str(s),
                ..
            } => Some(s),
            Out::Text { value, .. } => Some(value),
            Out::Decoded(kv) => match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    fn int_value(&self) -> Option<i64> {
        match self {
            Out::Plain {
                value: Scalar::Int(i),
                ..
            } => Some(*i),
            Out::Int { value, .. } => Some(*value),
            Out::Decoded(kv) => match kv.value.as_ref()?.value.as_ref()? {
                Value::IntValue(i) => Some(*i),
                _ => None,
            },
            _ => None,
        }
    }

    fn write(&self, out: &mut Vec<u8>, tag: u32) {
        match self {
            Out::Plain { raw: Some(raw), .. } => put_bytes(out, tag, raw),
            Out::Plain {
                key,
                value,
                raw: None,
            } => put_scalar_kv(out, tag, key, *value),
            Out::Text { key, value } => put_scalar_kv(out, tag, key, Scalar::Str(value)),
            Out::Int { key, value } => put_scalar_kv(out, tag, key, Scalar::Int(*value)),
            Out::Decoded(kv) => {
                put_key(out, tag, LEN);
                encode_varint(kv.encoded_len() as u64, out);
                // Writing into a Vec cannot run out of room.
                let _ = kv.encode(out);
            }
        }
    }
}

/// `s` cut to at most `max` bytes at a character boundary, as the limits cut strings.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

struct Wire<'w> {
    r: &'w Walker<'w>,
    limits: &'w Limits,
    deep: Limits,
    total: Counts,
    spans: u64,
}

impl<'w> Wire<'w> {
    fn request(&mut self, body: &[u8], out: &mut Vec<u8>) -> Res<()> {
        let mut fields = Fields(body);
        while let Some(f) = fields.next()? {
            if f.tag == 1 {
                let b = f.bytes()?;
                let o = open(out, 1, b.len());
                self.resource_spans(b, out)?;
                close(out, o);
            }
        }
        Ok(())
    }

    fn resource_spans(&mut self, body: &[u8], out: &mut Vec<u8>) -> Res<()> {
        let mut fields = Fields(body);
        let mut resource = false;
        while let Some(f) = fields.next()? {
            match f.tag {
                1 => {
                    // A second `resource` would merge into the first.
                    if std::mem::replace(&mut resource, true) {
                        return Err(Declined);
                    }
                    let b = f.bytes()?;
                    let o = open(out, 1, b.len());
                    self.resource(b, out)?;
                    close(out, o);
                }
                2 => {
                    let b = f.bytes()?;
                    let o = open(out, 2, b.len());
                    self.scope_spans(b, out)?;
                    close(out, o);
                }
                3 => {
                    f.str()?;
                    out.extend_from_slice(f.raw);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn resource(&mut self, body: &[u8], out: &mut Vec<u8>) -> Res<()> {
        let mut fields = Fields(body);
        let mut attrs = Vec::new();
        while let Some(f) = fields.next()? {
            match f.tag {
                1 => attrs.push(self.entry(f.bytes()?)?),
                2 => out.extend_from_slice(f.expect(VARINT)?),
                // Entity references: rare, left to the other path.
                3 => return Err(Declined),
                _ => {}
            }
        }
        let mut total = std::mem::take(&mut self.total);
        let attrs = self.attributes(attrs, &mut total)?;
        self.total = total;
        write_all(&attrs, out, 1);
        Ok(())
    }

    fn scope_spans(&mut self, body: &[u8], out: &mut Vec<u8>) -> Res<()> {
        let mut fields = Fields(body);
        let mut scope = false;
        while let Some(f) = fields.next()? {
            match f.tag {
                1 => {
                    if std::mem::replace(&mut scope, true) {
                        return Err(Declined);
                    }
                    let b = f.bytes()?;
                    let o = open(out, 1, b.len());
                    self.scope(b, out)?;
                    close(out, o);
                }
                2 => {
                    let b = f.bytes()?;
                    let o = open(out, 2, b.len());
                    self.span(b, out)?;
                    close(out, o);
                    self.spans += 1;
                }
                3 => {
                    f.str()?;
                    out.extend_from_slice(f.raw);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn scope(&mut self, body: &[u8], out: &mut Vec<u8>) -> Res<()> {
        let mut fields = Fields(body);
        let mut attrs = Vec::new();
        while let Some(f) = fields.next()? {
            match f.tag {
                1 | 2 => {
                    f.str()?;
                    out.extend_from_slice(f.raw);
                }
                3 => attrs.push(self.entry(f.bytes()?)?),
                4 => out.extend_from_slice(f.expect(VARINT)?),
                _ => {}
            }
        }
        let mut total = std::mem::take(&mut self.total);
        let attrs = self.attributes(attrs, &mut total)?;
        self.total = total;
        write_all(&attrs, out, 3);
        Ok(())
    }

    fn span(&mut self, body: &[u8], out: &mut Vec<u8>) -> Res<()> {
        let mut fields = Fields(body);
        let mut name: Option<Field<'_>> = None;
        let mut status: Option<&[u8]> = None;
        let mut attrs = Vec::with_capacity(16);
        let mut events = Vec::new();
        let mut links = Vec::new();
        while let Some(f) = fields.next()? {
            match f.tag {
                1 => out.extend_from_slice(f.id(16)?),
                2 | 4 => out.extend_from_slice(f.id(8)?),
                3 => {
                    f.str()?;
                    out.extend_from_slice(f.raw);
                }
                5 => {
                    f.str()?;
                    if name.replace(f).is_some() {
                        return Err(Declined);
                    }
                }
                6 | 10 | 12 | 14 => out.extend_from_slice(f.expect(VARINT)?),
                7 | 8 => out.extend_from_slice(f.expect(I64)?),
                16 => out.extend_from_slice(f.expect(I32)?),
                9 => attrs.push(self.entry(f.bytes()?)?),
                11 => events.push(f.bytes()?),
                13 => links.push(f.bytes()?),
                // A second status would merge into the first.
                15 if status.replace(f.bytes()?).is_some() => return Err(Declined),
                _ => {}
            }
        }
        let r = self.r;
        let mut c = Counts::default();
        // The name, in the light of the attributes as received.
        let system = db_system(&attrs);
        let old_name = match &name {
            Some(f) => f.str()?,
            None => "",
        };
        match span_name(old_name, system.as_deref(), r, &mut c) {
            Some(n) => put_bytes(out, 5, n.as_bytes()),
            None => {
                if let Some(f) = &name {
                    out.extend_from_slice(f.raw);
                }
            }
        }
        let mut attrs = self.attributes(attrs, &mut c)?;
        if let Some(b) = status {
            let o = open(out, 15, b.len());
            self.status(b, &mut c, out)?;
            close(out, o);
        }
        for b in events {
            let o = open(out, 11, b.len());
            self.event(b, &mut c, out)?;
            close(out, o);
        }
        for b in links {
            let o = open(out, 13, b.len());
            self.link(b, &mut c, out)?;
            close(out, o);
        }
        add_counts(&mut attrs, &c);
        write_all(&attrs, out, 9);
        self.total.merge(&c);
        Ok(())
    }

    fn status(&mut self, body: &[u8], c: &mut Counts, out: &mut Vec<u8>) -> Res<()> {
        let mut fields = Fields(body);
        let mut message: Option<Field<'_>> = None;
        while let Some(f) = fields.next()? {
            match f.tag {
                2 => {
                    f.str()?;
                    if message.replace(f).is_some() {
                        return Err(Declined);
                    }
                }
                3 => out.extend_from_slice(f.expect(VARINT)?),
                _ => {}
            }
        }
        let old = match &message {
            Some(f) => f.str()?,
            None => "",
        };
        match changed(old, self.r.text(old, c)) {
            Some(n) => put_bytes(out, 2, n.as_bytes()),
            None => {
                if let Some(f) = &message {
                    out.extend_from_slice(f.raw);
                }
            }
        }
        Ok(())
    }

    fn event(&mut self, body: &[u8], c: &mut Counts, out: &mut Vec<u8>) -> Res<()> {
        let mut fields = Fields(body);
        let mut name: Option<Field<'_>> = None;
        let mut attrs = Vec::new();
        while let Some(f) = fields.next()? {
            match f.tag {
                1 => out.extend_from_slice(f.expect(I64)?),
                2 => {
                    f.str()?;
                    if name.replace(f).is_some() {
                        return Err(Declined);
                    }
                }
                3 => attrs.push(self.entry(f.bytes()?)?),
                4 => out.extend_from_slice(f.expect(VARINT)?),
                _ => {}
            }
        }
        let old = match &name {
            Some(f) => f.str()?,
            None => "",
        };
        match changed(old, self.r.text(old, c)) {
            Some(n) => put_bytes(out, 2, n.as_bytes()),
            None => {
                if let Some(f) = &name {
                    out.extend_from_slice(f.raw);
                }
            }
        }
        let attrs = self.attributes(attrs, c)?;
        write_all(&attrs, out, 3);
        Ok(())
    }

    fn link(&mut self, body: &[u8], c: &mut Counts, out: &mut Vec<u8>) -> Res<()> {
        let mut fields = Fields(body);
        let mut attrs = Vec::new();
        while let Some(f) = fields.next()? {
            match f.tag {
                1 => out.extend_from_slice(f.id(16)?),
                2 => out.extend_from_slice(f.id(8)?),
                3 => {
                    f.str()?;
                    out.extend_from_slice(f.raw);
                }
                4 => attrs.push(self.entry(f.bytes()?)?),
                5 => out.extend_from_slice(f.expect(VARINT)?),
                6 => out.extend_from_slice(f.expect(I32)?),
                _ => {}
            }
        }
        let attrs = self.attributes(attrs, c)?;
        write_all(&attrs, out, 4);
        Ok(())
    }

    /// One `KeyValue`: read in place when it is a key and a scalar, else decoded alone.
    fn entry<'a>(&self, body: &'a [u8]) -> Res<Entry<'a>> {
        if let Some((key, value)) = plain(body) {
            let value = match value {
                Scalar::Str(s) if s.len() > self.limits.max_attribute_value_bytes => {
                    let s = cut(s, self.limits.max_attribute_value_bytes);
                    return Ok(Entry::Plain {
                        key,
                        value: Scalar::Str(s),
                        raw: None,
                    });
                }
                v => v,
            };
            return Ok(Entry::Plain {
                key,
                value,
                raw: Some(body),
            });
        }
        let mut kv = KeyValue::decode(body).map_err(|_| Declined)?;
        trim_value(kv.value.as_mut(), &self.deep).map_err(|_| Declined)?;
        Ok(Entry::Decoded(kv))
    }

    /// [`attributes`](crate::redact) on read attributes: the same decisions, in the same
    /// order.
    fn attributes<'a>(&self, attrs: Vec<Entry<'a>>, c: &mut Counts) -> Res<Vec<Out<'a>>> {
        if attrs.len() > self.limits.max_attributes {
            return Err(Declined);
        }
        if attrs.is_empty() {
            return Ok(Vec::new());
        }
        let r = self.r;
        let system = db_system(&attrs);
        let system = system.as_deref();
        let has_summary = attrs.iter().any(|e| e.key() == "db.query.summary");
        let mut summary: Option<String> = None;
        let mut out = Vec::with_capacity(attrs.len() + 1);
        for entry in attrs {
            let kept = match entry {
                Entry::Plain { key, value, raw } => match redact_scalar(key, value, system, r, c) {
                    Outcome::Drop => continue,
                    Outcome::Keep => Out::Plain { key, value, raw },
                    Outcome::Set(value) => Out::Text {
                        key: Cow::Borrowed(key),
                        value,
                    },
                },
                Entry::Decoded(mut kv) => {
                    if !redact_attribute(&mut kv, system, r, c) {
                        continue;
                    }
                    Out::Decoded(kv)
                }
            };
            if !has_summary
                && summary.is_none()
                && role(kept.key()) == Role::Sql
                && let Some(s) = kept.string_value()
            {
                let dialect = system.map(Dialect::from_db_system).unwrap_or_default();
                let s = r.summary(s, dialect);
                if !s.is_empty() {
                    summary = Some(s);
                }
            }
            out.push(kept);
        }
        if let Some(s) = summary {
            out.push(Out::Text {
                key: Cow::Borrowed("db.query.summary"),
                value: s,
            });
        }
        Ok(out)
    }
}

/// A `KeyValue` that is a key and a scalar value and nothing else, read in place.
fn plain(body: &[u8]) -> Option<(&str, Scalar<'_>)> {
    let mut fields = Fields(body);
    let mut key = None;
    let mut value = None;
    while let Some(f) = fields.next().ok()? {
        match f.tag {
            1 if key.is_none() => key = Some(f.str().ok()?),
            2 if value.is_none() => value = Some(f.bytes().ok()?),
            _ => return None,
        }
    }
    let mut fields = Fields(value?);
    let f = fields.next().ok()??;
    if fields.next().ok()?.is_some() {
        return None;
    }
    let scalar = match (f.tag, f.wire_type) {
        (1, LEN) => Scalar::Str(f.str().ok()?),
        (2, VARINT) => Scalar::Bool(f.varint().ok()? != 0),
        (3, VARINT) => Scalar::Int(f.varint().ok()? as i64),
        (4, I64) => Scalar::Double(f64::from_le_bytes(f.data.try_into().ok()?)),
        _ => return None,
    };
    Some((key.unwrap_or(""), scalar))
}

/// `db.system.name` (or `db.system`) of read attributes, as the decoded walk finds it: the
/// first attribute of that name, if its value is a string.
fn db_system<'a>(attrs: &[Entry<'a>]) -> Option<Cow<'a, str>> {
    ["db.system.name", "db.system"].iter().find_map(|name| {
        attrs
            .iter()
            .find(|e| e.key() == *name)
            .and_then(|e| match e {
                Entry::Plain {
                    value: Scalar::Str(s),
                    ..
                } => Some(Cow::Borrowed(*s)),
                Entry::Plain { .. } => None,
                Entry::Decoded(kv) => match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(Cow::Owned(s.clone())),
                    _ => None,
                },
            })
    })
}

/// [`add_counts`](crate::redact) on attributes to write.
fn add_counts(attrs: &mut Vec<Out<'_>>, counts: &Counts) {
    for (kind, n) in counts.iter() {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let is_key = |k: &str| {
            k.strip_prefix(COUNT_PREFIX)
                .is_some_and(|rest| rest == kind.as_str())
        };
        match attrs.iter_mut().find(|a| is_key(a.key())) {
            Some(a) => {
                let value = a.int_value().unwrap_or(0).saturating_add(n);
                match a {
                    Out::Decoded(kv) => {
                        kv.value = Some(AnyValue {
                            value: Some(Value::IntValue(value)),
                        });
                    }
                    Out::Plain { key, .. } => {
                        let key = *key;
                        *a = Out::Int {
                            key: Cow::Borrowed(key),
                            value,
                        };
                    }
                    Out::Text { key, .. } | Out::Int { key, .. } => {
                        let key = std::mem::take(key);
                        *a = Out::Int { key, value };
                    }
                }
            }
            None => attrs.push(Out::Int {
                key: Cow::Owned(count_key(kind)),
                value: n,
            }),
        }
    }
}

fn write_all(attrs: &[Out<'_>], out: &mut Vec<u8>, tag: u32) {
    for a in attrs {
        a.write(out, tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_read_as_prost_reads_them() {
        let cases: [&[u8]; 5] = [
            &[0],
            &[0x80, 0],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2],
            &[0x80],
        ];
        for bytes in cases {
            let mut a = bytes;
            let mut b = bytes;
            let ours = varint(&mut a).ok();
            let theirs = prost::encoding::decode_varint(&mut b).ok();
            assert_eq!(ours, theirs, "{bytes:?}");
            if ours.is_some() {
                assert_eq!(a.len(), b.len());
            }
        }
    }

    #[test]
    fn lengths_that_grow_or_shrink_move_the_contents() {
        for (hint, len) in [(0, 200), (300, 5), (100, 100), (20_000, 100)] {
            let mut out = vec![7];
            let o = open(&mut out, 1, hint);
            out.extend(std::iter::repeat_n(9, len));
            close(&mut out, o);
            let mut expected = vec![7, 0x0a];
            encode_varint(len as u64, &mut expected);
            expected.extend(std::iter::repeat_n(9, len));
            assert_eq!(out, expected, "hint {hint}, len {len}");
        }
    }
}
