//! Grouping metadata: the operation, the tables a statement touches, and a short,
//! low-cardinality summary in the shape of OpenTelemetry's `db.query.summary`
//! (`SELECT orders`, `INSERT shipping_details SELECT orders`).

use super::Dialect;
use super::lexer::{Lexer, Token, TokenKind};

/// OpenTelemetry recommends keeping `db.query.summary` short; this is its limit.
const MAX_SUMMARY_LEN: usize = 255;

/// What a statement does, for grouping and display. Holds identifiers only, never
/// literals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatementSummary {
    /// The first operation (`SELECT`, `INSERT`, …), upper-case.
    pub operation: Option<&'static str>,
    /// The tables (and called procedures) in order of first appearance, without quotes.
    pub tables: Vec<String>,
    /// Operations and their targets in order, each operation once per run
    /// (`SELECT orders customers`), at most 255 bytes.
    pub summary: String,
}

const OPERATIONS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "CREATE", "ALTER", "DROP",
    "TRUNCATE", "CALL", "EXEC", "EXECUTE", "GRANT", "REVOKE", "SHOW", "DESCRIBE", "EXPLAIN",
    "COPY", "LOCK", "VACUUM", "ANALYZE", "COMMIT", "ROLLBACK", "BEGIN", "DECLARE", "SET", "USE",
    "OPTIMIZE", "REPLACE",
];

/// Words after which a table name follows.
const TABLE_INTRODUCERS: &[&str] = &[
    "FROM", "JOIN", "INTO", "UPDATE", "TABLE", "USING", "CALL", "EXEC", "EXECUTE",
];

/// Words that may sit between an introducer and the table name.
const TABLE_NOISE: &[&str] = &[
    "IF",
    "NOT",
    "EXISTS",
    "ONLY",
    "TEMP",
    "TEMPORARY",
    "LATERAL",
    "UNLOGGED",
];

/// Words that end a table list (`FROM a, b WHERE …`) and are never table names.
const CLAUSE_KEYWORDS: &[&str] = &[
    "WHERE",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "OUTER",
    "CROSS",
    "ON",
    "GROUP",
    "ORDER",
    "LIMIT",
    "HAVING",
    "UNION",
    "SET",
    "VALUES",
    "SELECT",
    "WITH",
    "AS",
    "RETURNING",
    "OFFSET",
    "FETCH",
    "FOR",
    "WINDOW",
    "NATURAL",
    "DEFAULT",
    "OUTPUT",
    "EXCEPT",
    "INTERSECT",
    "USING",
    "WHEN",
    "THEN",
    "TOP",
    "DISTINCT",
    "ALL",
];

fn upper_match(list: &[&'static str], word: &str) -> Option<&'static str> {
    list.iter().copied().find(|k| k.eq_ignore_ascii_case(word))
}

/// Derives grouping metadata from a statement. Literals are never looked at, so the
/// result is the same for the original and the obfuscated statement.
///
/// ```
/// use scrim_redact::sql::{summarize, Dialect};
/// let s = summarize("INSERT INTO shipping_details (id) SELECT id FROM orders WHERE x = 1", Dialect::Generic);
/// assert_eq!(s.operation, Some("INSERT"));
/// assert_eq!(s.tables, ["shipping_details", "orders"]);
/// assert_eq!(s.summary, "INSERT shipping_details SELECT orders");
/// ```
pub fn summarize(input: &str, dialect: Dialect) -> StatementSummary {
    let tokens = Lexer::new(input, dialect).filter(|t| !t.kind.is_trivia());
    let mut out = StatementSummary::default();
    let mut summary_parts: Vec<String> = Vec::new();
    let mut last_op: Option<&'static str> = None;
    let mut prev: Option<Token> = None;
    // Set after a table name in a FROM list, where `, name` names another table.
    let mut in_from_list = false;
    let mut pending_introducer: Option<&'static str> = None;

    let mut iter = tokens.peekable();
    while let Some(t) = iter.next() {
        let text = t.text(input);
        let is_word = t.kind == TokenKind::Word;
        let after_dot = prev.is_some_and(|p| p.text(input) == ".");

        if let Some(intro) = pending_introducer {
            if is_word && upper_match(TABLE_NOISE, text).is_some() {
                prev = Some(t);
                continue;
            }
            pending_introducer = None;
            let name_like = (is_word
                && upper_match(CLAUSE_KEYWORDS, text).is_none()
                && upper_match(OPERATIONS, text).is_none())
                || t.kind == TokenKind::QuotedIdent;
            if name_like {
                let name = qualified_name(input, t, &mut iter);
                let is_function = matches!(intro, "FROM" | "JOIN")
                    && iter.peek().is_some_and(|n| n.text(input) == "(");
                if !is_function {
                    add_table(&mut out, &mut summary_parts, name);
                    in_from_list = intro == "FROM";
                }
                prev = Some(t);
                continue;
            }
        }

        if is_word && !after_dot {
            if let Some(op) = upper_match(OPERATIONS, text) {
                let op_follows_table = op == "REPLACE"
                    && !iter
                        .peek()
                        .is_some_and(|n| n.text(input).eq_ignore_ascii_case("into"));
                // `SET` inside `UPDATE … SET` is a clause, not an operation.
                let set_clause = op == "SET" && last_op.is_some();
                if !(op_follows_table || set_clause) {
                    if out.operation.is_none() {
                        out.operation = Some(op);
                    }
                    if last_op != Some(op) {
                        summary_parts.push(op.to_string());
                        last_op = Some(op);
                    }
                }
            }
            if let Some(intro) = upper_match(TABLE_INTRODUCERS, text) {
                pending_introducer = Some(intro);
            }
            if upper_match(CLAUSE_KEYWORDS, text).is_some() && !text.eq_ignore_ascii_case("join") {
                in_from_list = false;
            }
        } else if in_from_list && text == "," {
            pending_introducer = Some("FROM");
        } else if text == "(" || text == ")" || text == ";" {
            in_from_list = false;
        }
        prev = Some(t);
    }

    out.summary = join_bounded(&summary_parts, MAX_SUMMARY_LEN);
    out
}

/// Reads `a`, `a.b` or `"a"."b"` starting at `first`, without quotes.
fn qualified_name(
    src: &str,
    first: Token,
    iter: &mut std::iter::Peekable<impl Iterator<Item = Token>>,
) -> String {
    let mut name = String::from(unquote(first.text(src)));
    while iter.peek().is_some_and(|t| t.text(src) == ".") {
        iter.next();
        match iter.peek() {
            Some(t) if matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent) => {
                name.push('.');
                name.push_str(unquote(t.text(src)));
                iter.next();
            }
            _ => break,
        }
    }
    name
}

fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2
        && matches!(
            (b[0], b[b.len() - 1]),
            (b'"', b'"') | (b'`', b'`') | (b'[', b']')
        )
    {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn add_table(out: &mut StatementSummary, parts: &mut Vec<String>, name: String) {
    // Within one operation, name each table once (`SELECT a b`, not `SELECT a b a`).
    let since_op = parts
        .iter()
        .rev()
        .take_while(|p| upper_match(OPERATIONS, p).is_none());
    if !since_op.into_iter().any(|p| *p == name) {
        parts.push(name.clone());
    }
    if !out.tables.contains(&name) {
        out.tables.push(name);
    }
}

/// Joins with spaces, stopping before the part that would pass `max` bytes.
fn join_bounded(parts: &[String], max: usize) -> String {
    let mut s = String::new();
    for p in parts {
        let extra = p.len() + usize::from(!s.is_empty());
        if s.len() + extra > max {
            break;
        }
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(p);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(s: &str) -> StatementSummary {
        summarize(s, Dialect::Generic)
    }

    #[test]
    fn select_with_join_and_list() {
        let s = sum("SELECT * FROM orders o, items JOIN customers c ON o.c = c.id WHERE x = 'a'");
        assert_eq!(s.operation, Some("SELECT"));
        assert_eq!(s.tables, ["orders", "items", "customers"]);
        assert_eq!(s.summary, "SELECT orders items customers");
    }

    #[test]
    fn dml_and_ddl() {
        assert_eq!(
            sum("UPDATE public.users SET a = 1").summary,
            "UPDATE public.users"
        );
        assert_eq!(
            sum("DELETE FROM \"Users\" WHERE id = $1").summary,
            "DELETE Users"
        );
        assert_eq!(
            sum("CREATE TABLE IF NOT EXISTS t (id int)").summary,
            "CREATE t"
        );
        assert_eq!(sum("INSERT INTO t (a) VALUES (1)").tables, ["t"]);
        assert_eq!(
            sum("SELECT * FROM generate_series(1, 3)").tables,
            Vec::<String>::new()
        );
        assert_eq!(sum("CALL refresh_stats()").summary, "CALL refresh_stats");
        assert_eq!(
            sum("SELECT replace(a, 'x', 'y') FROM t").summary,
            "SELECT t"
        );
    }

    #[test]
    fn summary_is_bounded_and_never_holds_literals() {
        let long = format!(
            "SELECT * FROM {}",
            (0..100)
                .map(|i| format!("table_{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(sum(&long).summary.len() <= MAX_SUMMARY_LEN);
        let s = sum("SELECT 'secret' FROM t WHERE a = 'x'");
        assert!(!s.summary.contains("secret"));
    }
}
