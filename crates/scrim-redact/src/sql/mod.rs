//! SQL statement obfuscation.
//!
//! [`obfuscate`] replaces every literal in a statement with `?` using a hand-written,
//! single-pass lexer per [`Dialect`]; it never parses, so it accepts any statement a
//! database could receive, including vendor extensions it has never seen. [`summarize`]
//! derives grouping metadata (operation, tables, a `db.query.summary`).
//!
//! The output is an API: dashboards and alerts group by it. Its rules are documented in
//! `docs/sql-obfuscation.md` and pinned by tests; changing them is a breaking change.

mod dialect;
mod lexer;
mod obfuscate;
mod summary;

pub use dialect::{Dialect, UnknownDialect};
pub use lexer::{Lexer, Token, TokenKind};
pub use obfuscate::obfuscate;
pub use summary::{StatementSummary, summarize};

/// How [`obfuscate`] rewrites a statement. `SqlOptions::default()` is the safe,
/// documented default; every field is independent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqlOptions {
    /// Which lexical rules apply (quotes, escapes, comments).
    pub dialect: Dialect,
    /// Collapse a parenthesised list that holds only literals and placeholders
    /// (`IN (1, 2, 3)`, `ARRAY[1, 2]`, multi-row `VALUES (…), (…)`) to a single `(?)`,
    /// so that statements differing only in list length group together. Default: on.
    pub collapse_lists: bool,
    /// Replace each run of digits inside an identifier with `?` (`orders_2024` →
    /// `orders_?`), for sharded or dated table names. Default: off.
    pub replace_digits: bool,
    /// Keep comments (normalised to their own tokens). Default: off, because comments
    /// can carry secrets (`/* user=alice@example.com */`).
    pub keep_comments: bool,
    /// Keep `AS alias` in select lists and `FROM` clauses. Default: on.
    pub keep_aliases: bool,
    /// Replace `NULL` with `?`. Default: off (`NULL` carries no data).
    pub replace_null: bool,
    /// Replace `TRUE` / `FALSE` with `?`. Default: off.
    pub replace_booleans: bool,
    /// Replace positional bind parameters (`$1`, `:1`, `?1`, `%s`) with `?`, so that they
    /// collapse in lists like literals do. Named parameters (`:name`, `@name`,
    /// `%(name)s`) are always kept. Default: off.
    pub replace_positional_parameters: bool,
    /// Obfuscate the body of a dollar-quoted function (`AS $$ … $$`, `DO $$ … $$`) as SQL
    /// instead of replacing it whole. Default: on.
    pub obfuscate_function_bodies: bool,
}

impl SqlOptions {
    /// Default options for one dialect.
    pub const fn for_dialect(dialect: Dialect) -> Self {
        SqlOptions {
            dialect,
            collapse_lists: true,
            replace_digits: false,
            keep_comments: false,
            keep_aliases: true,
            replace_null: false,
            replace_booleans: false,
            replace_positional_parameters: false,
            obfuscate_function_bodies: true,
        }
    }
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions::for_dialect(Dialect::Generic)
    }
}
