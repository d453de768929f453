//! Export: JSON lines and CSV.

use crate::canonical::{canonical_json, hex, utc_text};
use crate::record::AuditRecord;

/// The record as one line of JSON (no trailing newline): every field, hashes in hex, `details`
/// as a JSON object. [`serde_json::from_str`] reads it back into the same record.
pub fn to_json_line(record: &AuditRecord) -> String {
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string(record).unwrap_or_default()
}

const COLUMNS: &[&str] = &[
    "time",
    "at_ms",
    "tenant",
    "seq",
    "actor_kind",
    "actor_id",
    "addr",
    "user_agent",
    "action",
    "target",
    "outcome",
    "reason",
    "request_id",
    "details",
    "prev_hash",
    "hash",
];

/// The CSV header line, ending in CRLF (RFC 4180).
pub fn csv_header() -> String {
    let mut s = COLUMNS.join(",");
    s.push_str("\r\n");
    s
}

/// The record as one CSV line in [`csv_header`]'s columns, ending in CRLF.
///
/// Fields are quoted per RFC 4180 when they hold a comma, a double quote, CR or LF (quotes
/// doubled). Text that a spreadsheet would run as a formula — starting with `=`, `+`, `-`,
/// `@`, a tab or CR — gets a leading apostrophe (OWASP's advice on CSV injection); a lone `-`
/// (the platform tenant) is left as it is. `details` is canonical JSON.
pub fn to_csv_row(record: &AuditRecord) -> String {
    let o = |s: &Option<String>| s.clone().unwrap_or_default();
    let fields: [(String, bool); 16] = [
        (utc_text(record.at_ms), false),
        (record.at_ms.to_string(), false),
        (record.tenant.clone(), true),
        (record.seq.to_string(), false),
        (record.actor.kind().to_owned(), false),
        (record.actor.id().unwrap_or_default().to_owned(), true),
        (o(&record.addr), true),
        (o(&record.user_agent), true),
        (record.action.clone(), true),
        (o(&record.target), true),
        (record.outcome.status().to_owned(), false),
        (record.outcome.reason().unwrap_or_default().to_owned(), true),
        (o(&record.request_id), true),
        (canonical_json(&record.details), true),
        (hex(&record.prev_hash), false),
        (hex(&record.hash), false),
    ];
    let mut line = String::new();
    for (i, (field, text)) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        csv_field(field, *text, &mut line);
    }
    line.push_str("\r\n");
    line
}

fn csv_field(value: &str, text: bool, out: &mut String) {
    let neutralise = text && value != "-" && value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = value.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if neutralise {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}
