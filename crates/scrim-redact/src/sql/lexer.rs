//! A single-pass SQL lexer that knows where literals begin and end in each dialect.
//!
//! It does not validate SQL: every byte sequence lexes to a sequence of tokens that covers
//! the input exactly, so the obfuscator can rebuild the statement from source slices. Its
//! only job is to never mistake a literal for something that is kept. Where a dialect is
//! ambiguous, it prefers the reading that makes more of the input a literal.

use super::Dialect;

/// What a [`Token`] is. Literal kinds are replaced by the obfuscator; the rest are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A run of spaces, tabs and line breaks.
    Whitespace,
    /// A complete `-- …`, `# …` (MySQL), `// …` (Snowflake) or `/* … */` comment.
    Comment,
    /// A comment whose end is missing: it runs to the end of the input.
    UnterminatedComment,
    /// A quoted string literal with any prefix: `'…'`, `E'…'`, `N'…'`, `X'…'`, `B'…'`,
    /// `U&'…'`, Oracle `q'[…]'`, MySQL `_utf8mb4'…'`, MySQL `"…"`.
    String,
    /// A dollar-quoted string (`$$…$$`, `$tag$…$tag$`); `tag_len` is the length of the
    /// opening delimiter, so the body is `start + tag_len .. end - tag_len`.
    DollarString { tag_len: usize },
    /// A string, dollar-quoted string or quoted identifier whose closing quote is missing:
    /// it runs to the end of the input and is never echoed.
    UnterminatedQuote,
    /// A numeric literal, with its sign when the sign is unary (`-6` in `INTERVAL -6 DAY`),
    /// and any suffix glued to it (`1.5f`, `10m`).
    Number,
    /// A bare word: keyword, identifier or function name.
    Word,
    /// A quoted identifier: `"…"`, `` `…` ``, `[…]`.
    QuotedIdent,
    /// A bind parameter: `?`, `?1`, `$1`, `:name`, `:1`, `%s`, `%(name)s`.
    Placeholder,
    /// A variable or parameter with a sigil: `@name`, `@@global.x`.
    Variable,
    /// Any other single character (operators, punctuation), or `::`.
    Punct,
}

impl TokenKind {
    /// Whether this token carries a value that the obfuscator replaces.
    pub fn is_literal(self) -> bool {
        matches!(
            self,
            TokenKind::String
                | TokenKind::DollarString { .. }
                | TokenKind::Number
                | TokenKind::UnterminatedQuote
        )
    }

    /// Whitespace and comments: tokens with no meaning to the statement.
    pub fn is_trivia(self) -> bool {
        matches!(
            self,
            TokenKind::Whitespace | TokenKind::Comment | TokenKind::UnterminatedComment
        )
    }
}

/// A token: its kind and its byte range in the input. Ranges always fall on character
/// boundaries, and consecutive tokens cover the input without gaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token's text.
    pub fn text(self, src: &str) -> &str {
        &src[self.start..self.end]
    }
}

/// An iterator over the tokens of one statement in one dialect. Cheap to clone, which is
/// how the obfuscator looks ahead.
#[derive(Clone, Debug)]
pub struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    dialect: Dialect,
    /// The last token that was not whitespace or a comment, for the few decisions that
    /// depend on context (unary minus, `"` in the generic dialect, `[` as a quote).
    prev: Option<Token>,
    /// Whether trivia separates the current position from `prev`.
    trivia_since_prev: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str, dialect: Dialect) -> Self {
        Lexer {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            dialect,
            prev: None,
            trivia_since_prev: false,
        }
    }

    /// The byte offset of the next token.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Consumes the whitespace at the current position, if any, exactly as [`next`]
    /// would return it as a [`TokenKind::Whitespace`] token, and returns its range.
    ///
    /// [`next`]: Iterator::next
    #[inline]
    pub(crate) fn skip_whitespace(&mut self) -> Option<(usize, usize)> {
        let start = self.pos;
        if start < self.bytes.len() && is_space(self.bytes[start]) {
            self.pos = skip_while(self.bytes, start + 1, is_space);
            self.trivia_since_prev = true;
            Some((start, self.pos))
        } else {
            None
        }
    }

    /// The last token that was not trivia.
    pub(crate) fn prev(&self) -> Option<Token> {
        self.prev
    }

    /// Makes the next token follow `prev` (with trivia between), as if the tokens since
    /// had not been there: the obfuscator calls it after dropping `AS alias`, so that what
    /// follows is read as it will be in the output (`> AS x ""`: `""` after `>` is a value).
    pub(crate) fn restore_prev(&mut self, prev: Option<Token>) {
        self.prev = prev;
        self.trivia_since_prev = true;
    }

    fn peek(&self, offset: usize) -> u8 {
        self.bytes.get(self.pos + offset).copied().unwrap_or(0)
    }

    fn prev_text(&self) -> &'a str {
        match self.prev {
            Some(t) => &self.src[t.start..t.end],
            None => "",
        }
    }

    #[inline(never)]
    fn lex(&mut self) -> TokenKind {
        let c = self.peek(0);
        let d = self.dialect;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                self.pos = skip_while(self.bytes, self.pos, is_space);
                TokenKind::Whitespace
            }
            b'-' if self.peek(1) == b'-' => self.line_comment(),
            b'#' if d == Dialect::MySql => self.line_comment(),
            b'#' if d == Dialect::Generic && !is_ident_continue(self.peek(1)) => {
                self.line_comment()
            }
            b'/' if self.peek(1) == b'/' && d == Dialect::Snowflake => self.line_comment(),
            b'/' if self.peek(1) == b'*' => self.block_comment(),
            b'\'' => self.single_quoted(self.pos, self.escape_mode()),
            b'"' if self.double_quote_is_string() => {
                let escape = if d == Dialect::MySql {
                    Escape::Backslash
                } else {
                    self.escape_mode()
                };
                self.quoted(b'"', escape, TokenKind::String)
            }
            b'"' => self.quoted(b'"', Escape::Doubled, TokenKind::QuotedIdent),
            b'`' if matches!(d, Dialect::MySql | Dialect::Sqlite | Dialect::Generic) => {
                self.quoted(b'`', Escape::Doubled, TokenKind::QuotedIdent)
            }
            b'[' if self.bracket_is_quote() => {
                self.quoted(b']', Escape::Doubled, TokenKind::QuotedIdent)
            }
            b'0'..=b'9' => self.number(),
            b'.' if self.peek(1).is_ascii_digit() && !self.prev_is_value_adjacent() => {
                self.number()
            }
            b'-' | b'+' if self.sign_is_unary() => {
                self.pos += 1;
                self.number()
            }
            b'$' => self.dollar(),
            b'?' => {
                self.pos = skip_while(self.bytes, self.pos + 1, |b| b.is_ascii_digit());
                TokenKind::Placeholder
            }
            b':' if self.peek(1) == b':' => {
                self.pos += 2;
                TokenKind::Punct
            }
            b':' if is_ident_start(self.peek(1)) => {
                self.pos = skip_while(self.bytes, self.pos + 1, is_ident_continue);
                TokenKind::Placeholder
            }
            b':' if self.peek(1).is_ascii_digit() && self.colon_digit_is_placeholder() => {
                self.pos = skip_while(self.bytes, self.pos + 1, |b| b.is_ascii_digit());
                TokenKind::Placeholder
            }
            b'@' if self.peek(1) == b'@' && is_ident_start(self.peek(2)) => {
                self.pos = skip_while(self.bytes, self.pos + 2, is_variable_continue);
                TokenKind::Variable
            }
            b'@' if is_ident_start(self.peek(1)) => {
                self.pos = skip_while(self.bytes, self.pos + 1, is_variable_continue);
                TokenKind::Variable
            }
            // `%s?` is `%`, `s`, `?`: the obfuscator writes `s?` for `s1` (replace_digits).
            b'%' if self.peek(1) == b's'
                && !is_ident_continue(self.peek(2))
                && self.peek(2) != b'?' =>
            {
                self.pos += 2;
                TokenKind::Placeholder
            }
            b'%' if self.peek(1) == b'(' => self.pyformat(),
            c if is_ident_start(c) || (c == b'#' && is_ident_continue(self.peek(1))) => self.word(),
            _ => {
                // One character; multi-byte characters never reach here (they start words).
                self.pos += 1;
                TokenKind::Punct
            }
        }
    }

    fn escape_mode(&self) -> Escape {
        match self.dialect {
            Dialect::MySql | Dialect::Snowflake => Escape::Backslash,
            Dialect::Generic => Escape::Guess,
            _ => Escape::Doubled,
        }
    }

    /// MySQL reads `"…"` as a string. The generic dialect does too right after a
    /// comparison, where an identifier would be unusual and a leaked value is costly.
    fn double_quote_is_string(&self) -> bool {
        match self.dialect {
            Dialect::MySql => true,
            Dialect::Generic => {
                let p = self.prev_text();
                matches!(p, "=" | "<" | ">" | "!")
                    || p.eq_ignore_ascii_case("like")
                    || p.eq_ignore_ascii_case("ilike")
            }
            _ => false,
        }
    }

    /// `[` quotes an identifier in SQL Server, and in SQLite and the generic dialect
    /// unless it subscripts something (`arr[1]`, `ARRAY[…]`).
    fn bracket_is_quote(&self) -> bool {
        match self.dialect {
            Dialect::MsSql => true,
            Dialect::Sqlite | Dialect::Generic => {
                let Some(prev) = self.prev else { return true };
                // Glued to a value or a closing bracket, `[` subscripts it. Literals count
                // as values so that `'a'[1]` and its obfuscated form `?[1]` lex alike.
                let glued_to_value = matches!(
                    prev.kind,
                    TokenKind::Word
                        | TokenKind::QuotedIdent
                        | TokenKind::Variable
                        | TokenKind::Placeholder
                        | TokenKind::String
                        | TokenKind::Number
                        | TokenKind::DollarString { .. }
                ) || matches!(self.prev_text(), ")" | "]");
                let subscript = !self.trivia_since_prev && glued_to_value;
                !subscript && !self.prev_text().eq_ignore_ascii_case("array")
            }
            _ => false,
        }
    }

    /// Whether the previous token is a value glued to the current position, so that `.5`
    /// would be a member access rather than a number (`t.5` is not valid SQL, but `x.1e`
    /// in an identifier-ish position should stay a word boundary).
    fn prev_is_value_adjacent(&self) -> bool {
        !self.trivia_since_prev
            && matches!(
                self.prev.map(|t| t.kind),
                Some(TokenKind::Word | TokenKind::QuotedIdent)
            )
    }

    /// A `-` or `+` directly followed by a digit is part of the number when it cannot be
    /// a binary operator: after an operator, an opening bracket, a comma, a keyword, or at
    /// the start.
    fn sign_is_unary(&self) -> bool {
        let next = self.peek(1);
        let starts_number =
            next.is_ascii_digit() || (next == b'.' && self.peek(2).is_ascii_digit());
        if !starts_number {
            return false;
        }
        let Some(prev) = self.prev else { return true };
        match prev.kind {
            TokenKind::Punct => !matches!(self.prev_text(), ")" | "]"),
            TokenKind::Word => is_unary_context_keyword(self.prev_text()),
            _ => false,
        }
    }

    /// `:1` is an Oracle-style bind, except in slices (`arr[1:2]`) and in dialects
    /// without numbered colon binds.
    fn colon_digit_is_placeholder(&self) -> bool {
        matches!(
            self.dialect,
            Dialect::Oracle | Dialect::Sqlite | Dialect::Generic
        ) && self.prev.map(|t| t.kind) != Some(TokenKind::Number)
    }

    fn line_comment(&mut self) -> TokenKind {
        self.pos = match self.bytes[self.pos..].iter().position(|&b| b == b'\n') {
            Some(n) => self.pos + n,
            None => self.bytes.len(),
        };
        TokenKind::Comment
    }

    fn block_comment(&mut self) -> TokenKind {
        // PostgreSQL, SQL Server and Snowflake nest block comments. Counting nesting in
        // the generic dialect too errs towards treating more of the input as comment.
        let nests = matches!(
            self.dialect,
            Dialect::PostgreSql | Dialect::MsSql | Dialect::Snowflake | Dialect::Generic
        );
        let b = self.bytes;
        let mut depth = 1usize;
        let mut i = self.pos + 2;
        while i < b.len() {
            if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    self.pos = i;
                    return TokenKind::Comment;
                }
            } else if nests && b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                depth += 1;
                i += 2;
            } else {
                i += 1;
            }
        }
        self.pos = b.len();
        TokenKind::UnterminatedComment
    }

    /// A `'…'` string whose opening quote is at `quote`, after any prefix.
    fn single_quoted(&mut self, quote: usize, escape: Escape) -> TokenKind {
        self.pos = quote;
        self.quoted(b'\'', escape, TokenKind::String)
    }

    /// Scans from the opening quote at `self.pos` to the matching `close`.
    #[inline(never)]
    fn quoted(&mut self, close: u8, escape: Escape, kind: TokenKind) -> TokenKind {
        let from = self.pos + 1;
        let end = match escape {
            Escape::Doubled => scan_quoted(self.bytes, from, close, false),
            Escape::Backslash => scan_quoted(self.bytes, from, close, true),
            Escape::Guess => guess_quoted(self.bytes, from, close),
        };
        match end {
            Some(end) => {
                self.pos = end;
                kind
            }
            None => {
                self.pos = self.bytes.len();
                TokenKind::UnterminatedQuote
            }
        }
    }

    #[inline(never)]
    fn number(&mut self) -> TokenKind {
        let b = self.bytes;
        let mut i = self.pos;
        let radix_prefix = b.get(i) == Some(&b'0')
            && matches!(b.get(i + 1), Some(b'x' | b'X' | b'b' | b'B' | b'o' | b'O'));
        if radix_prefix {
            i += 2;
        } else {
            i = skip_while(b, i, |c| c.is_ascii_digit() || c == b'_');
            if b.get(i) == Some(&b'.') && b.get(i + 1) != Some(&b'.') {
                i = skip_while(b, i + 1, |c| c.is_ascii_digit() || c == b'_');
            }
            if matches!(b.get(i), Some(b'e' | b'E')) {
                let mut j = i + 1;
                if matches!(b.get(j), Some(b'+' | b'-')) {
                    j += 1;
                }
                if b.get(j).is_some_and(u8::is_ascii_digit) {
                    i = skip_while(b, j, |c| c.is_ascii_digit());
                }
            }
        }
        // A suffix glued to a number is part of the literal (`1.5f`, `0xFF`, `10m`).
        self.pos = skip_while(b, i, is_ident_continue);
        TokenKind::Number
    }

    fn dollar(&mut self) -> TokenKind {
        let b = self.bytes;
        let next = self.peek(1);
        if next.is_ascii_digit() {
            if self.dialect == Dialect::MsSql {
                // `$12.50` is a money literal in SQL Server.
                self.pos += 1;
                return self.number();
            }
            self.pos = skip_while(b, self.pos + 1, |c| c.is_ascii_digit());
            return TokenKind::Placeholder;
        }
        let dollar_quotes = matches!(
            self.dialect,
            Dialect::PostgreSql | Dialect::Snowflake | Dialect::Generic
        );
        if dollar_quotes {
            let tag_end = skip_while(b, self.pos + 1, |c| is_ident_continue(c) && c != b'$');
            if b.get(tag_end) == Some(&b'$') && (tag_end == self.pos + 1 || is_ident_start(next)) {
                let tag = &b[self.pos..=tag_end];
                let body = tag_end + 1;
                return match find(&b[body..], tag) {
                    Some(n) => {
                        self.pos = body + n + tag.len();
                        TokenKind::DollarString { tag_len: tag.len() }
                    }
                    None => {
                        self.pos = b.len();
                        TokenKind::UnterminatedQuote
                    }
                };
            }
        }
        self.pos += 1;
        TokenKind::Punct
    }

    /// Python DB-API `%(name)s`.
    fn pyformat(&mut self) -> TokenKind {
        let b = self.bytes;
        let close = skip_while(b, self.pos + 2, is_ident_continue);
        if b.get(close) == Some(&b')') && b.get(close + 1) == Some(&b's') {
            self.pos = close + 2;
            TokenKind::Placeholder
        } else {
            self.pos += 1;
            TokenKind::Punct
        }
    }

    fn word(&mut self) -> TokenKind {
        let start = self.pos;
        let b = self.bytes;
        let end = skip_ident(b, start + 1);
        let word = &b[start..end];
        let next = b.get(end).copied().unwrap_or(0);
        if next == b'\'' {
            if let Some(escape) = self.string_prefix(word) {
                return self.single_quoted(end, escape);
            }
            if self.is_q_quote_prefix(word) {
                return self.q_quoted(end);
            }
        }
        if next == b'&' && word.eq_ignore_ascii_case(b"u") && b.get(end + 1) == Some(&b'\'') {
            return self.single_quoted(end + 1, Escape::Doubled);
        }
        self.pos = end;
        TokenKind::Word
    }

    /// The escape rule of a string introduced by `word` (`E'…'`, `N'…'`, `_utf8'…'`), or
    /// `None` when `word` is not a string prefix in this dialect.
    fn string_prefix(&self, word: &[u8]) -> Option<Escape> {
        let d = self.dialect;
        let is = |p: &[u8]| word.eq_ignore_ascii_case(p);
        if is(b"e") && matches!(d, Dialect::PostgreSql | Dialect::Generic) {
            return Some(Escape::Backslash);
        }
        if is(b"n") || is(b"x") || is(b"b") || is(b"r") {
            return Some(self.escape_mode());
        }
        if word.first() == Some(&b'_') && matches!(d, Dialect::MySql | Dialect::Generic) {
            return Some(self.escape_mode());
        }
        None
    }

    fn is_q_quote_prefix(&self, word: &[u8]) -> bool {
        matches!(self.dialect, Dialect::Oracle | Dialect::Generic)
            && (word.eq_ignore_ascii_case(b"q") || word.eq_ignore_ascii_case(b"nq"))
    }

    /// Oracle's alternative quoting `q'<d>…<d>'`, where `<d>` pairs `[]`, `{}`, `()`,
    /// `<>` or repeats any other character. The quote at `quote` follows the prefix.
    fn q_quoted(&mut self, quote: usize) -> TokenKind {
        let b = self.bytes;
        let Some(&open) = b.get(quote + 1) else {
            self.pos = b.len();
            return TokenKind::UnterminatedQuote;
        };
        if is_space(open) || open >= 0x80 {
            // Not a valid q-quote delimiter; read it as an ordinary string.
            return self.single_quoted(quote, Escape::Doubled);
        }
        let close = match open {
            b'[' => b']',
            b'{' => b'}',
            b'(' => b')',
            b'<' => b'>',
            other => other,
        };
        let mut i = quote + 2;
        while i + 1 < b.len() {
            if b[i] == close && b[i + 1] == b'\'' {
                self.pos = i + 2;
                return TokenKind::String;
            }
            i += 1;
        }
        self.pos = b.len();
        TokenKind::UnterminatedQuote
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    #[inline(always)]
    fn next(&mut self) -> Option<Token> {
        let start = self.pos;
        let &c = self.bytes.get(start)?;
        // The common tokens first, without going through the full dispatch of `lex`.
        let class = CLASS[usize::from(c)];
        let kind = if class & SPACE != 0 {
            self.pos = skip_while(self.bytes, start + 1, is_space);
            self.trivia_since_prev = true;
            return Some(Token {
                kind: TokenKind::Whitespace,
                start,
                end: self.pos,
            });
        } else if class & IDENT_START != 0 {
            let end = skip_ident(self.bytes, start + 1);
            if matches!(self.bytes.get(end), Some(b'\'' | b'&')) {
                // Perhaps a string prefix (`N'…'`, `U&'…'`).
                self.word()
            } else {
                self.pos = end;
                TokenKind::Word
            }
        } else if class & PUNCT != 0 {
            self.pos = start + 1;
            TokenKind::Punct
        } else if c.is_ascii_digit() {
            self.number()
        } else if c == b'.' && !self.peek(1).is_ascii_digit() {
            // A member access (`t.col`): only `.5` is a number.
            self.pos = start + 1;
            TokenKind::Punct
        } else if c == b'\'' {
            self.single_quoted(start, self.escape_mode())
        } else {
            self.lex()
        };
        debug_assert!(self.pos > start, "the lexer always advances");
        let token = Token {
            kind,
            start,
            end: self.pos,
        };
        if kind.is_trivia() {
            self.trivia_since_prev = true;
        } else {
            self.prev = Some(token);
            self.trivia_since_prev = false;
        }
        Some(token)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    /// Only a doubled quote escapes a quote (standard SQL).
    Doubled,
    /// A backslash escapes any character, and a doubled quote still escapes a quote.
    Backslash,
    /// Unknown dialect: decide per string, see [`guess_quoted`].
    Guess,
}

/// The end (one past the closing quote) of a quoted run starting after the opening quote
/// at `from`, or `None` if it is not closed.
fn scan_quoted(b: &[u8], from: usize, close: u8, backslash: bool) -> Option<usize> {
    let escape = if backslash { b'\\' } else { close };
    let mut i = from;
    loop {
        i = find2(b, i, close, escape)?;
        if b[i] != close {
            // A backslash, in backslash mode: it escapes the next byte.
            i += 2;
        } else if b.get(i + 1) == Some(&close) {
            i += 2;
        } else {
            return Some(i + 1);
        }
    }
}

/// For a dialect we do not know: when a string holds a backslash before what standard
/// SQL would call its closing quote, and that quote is glued to more text (`'it\'s'`),
/// the backslash was an escape. Otherwise standard rules apply (`'C:\'`).
fn guess_quoted(b: &[u8], from: usize, close: u8) -> Option<usize> {
    // The standard reading, noting the first backslash. Up to that backslash both
    // readings agree, so the backslash reading, if needed, resumes from there.
    let mut first_backslash = None;
    let mut i = from;
    let standard = loop {
        let Some(j) = find2(
            b,
            i,
            close,
            if first_backslash.is_none() {
                b'\\'
            } else {
                close
            },
        ) else {
            break None;
        };
        if b[j] != close {
            first_backslash = Some(j);
            i = j + 1;
        } else if b.get(j + 1) == Some(&close) {
            i = j + 2;
        } else {
            break Some(j + 1);
        }
    };
    let Some(end) = standard else {
        return scan_quoted(b, first_backslash?, close, true);
    };
    let glued = b
        .get(end)
        .is_some_and(|&c| is_ident_continue(c) || c == close);
    match first_backslash {
        Some(at) if glued => scan_quoted(b, at, close, true),
        _ => standard,
    }
}

/// The position of the first `x` or `y` in `b` at or after `from`, eight bytes at a time.
#[inline]
fn find2(b: &[u8], from: usize, x: u8, y: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let (xs, ys) = (LO * u64::from(x), LO * u64::from(y));
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let (wx, wy) = (w ^ xs, w ^ ys);
        // The lowest set high bit marks the first zero byte of `wx` or `wy` exactly
        // (a borrow can only mark bytes above a zero byte).
        let hits = (wx.wrapping_sub(LO) & !wx | wy.wrapping_sub(LO) & !wy) & HI;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < b.len() {
        if b[i] == x || b[i] == y {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        match haystack[i..].iter().position(|&c| c == first) {
            Some(n) => i += n,
            None => return None,
        }
        if haystack[i..].starts_with(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[inline(always)]
fn skip_while(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

/// The end of the identifier characters from `i`: [`skip_while`] with
/// [`is_ident_continue`], eight bytes per step, so that a short word costs one
/// well-predicted branch rather than one per byte.
#[inline(always)]
fn skip_ident(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let mut stop = 0u32;
        for (k, &c) in chunk.iter().enumerate() {
            stop |= u32::from(!is_ident_continue(c)) << k;
        }
        if stop != 0 {
            return i + stop.trailing_zeros() as usize;
        }
        i += 8;
    }
    skip_while(b, i, is_ident_continue)
}

/// Byte classes, one bit each, looked up in [`CLASS`].
const SPACE: u8 = 1;
const IDENT_START: u8 = 2;
const IDENT_CONTINUE: u8 = 4;
const VARIABLE_CONTINUE: u8 = 8;
/// Bytes that always lex as a one-byte [`TokenKind::Punct`] (the last arm of `lex`).
const PUNCT: u8 = 16;

/// The class bits of every byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            c |= SPACE;
        }
        let alpha = b.is_ascii_alphabetic() || b == b'_' || b >= 0x80;
        if alpha {
            c |= IDENT_START;
        }
        if alpha || b.is_ascii_digit() || b == b'$' || b == b'#' {
            c |= IDENT_CONTINUE | VARIABLE_CONTINUE;
        }
        // `?` too: the obfuscator writes `@v?.` for `@v1.` (replace_digits), which must lex
        // again as one variable, not `@v`, `?`, `.` (found by cargo fuzz: the trailing `.`
        // then changed what a following `[` meant).
        if b == b'.' || b == b'?' {
            c |= VARIABLE_CONTINUE;
        }
        let special = matches!(
            b,
            b'-' | b'#'
                | b'/'
                | b'\''
                | b'"'
                | b'`'
                | b'['
                | b'.'
                | b'+'
                | b'$'
                | b'?'
                | b':'
                | b'@'
                | b'%'
        );
        if c == 0 && !b.is_ascii_digit() && !special {
            c |= PUNCT;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[inline(always)]
fn is_space(b: u8) -> bool {
    CLASS[usize::from(b)] & SPACE != 0
}

/// Letters, `_`, and any non-ASCII byte (so multi-byte characters stay whole).
#[inline(always)]
pub(crate) fn is_ident_start(b: u8) -> bool {
    CLASS[usize::from(b)] & IDENT_START != 0
}

#[inline(always)]
pub(crate) fn is_ident_continue(b: u8) -> bool {
    CLASS[usize::from(b)] & IDENT_CONTINUE != 0
}

/// `@@session.sql_mode` continues through dots.
#[inline(always)]
fn is_variable_continue(b: u8) -> bool {
    CLASS[usize::from(b)] & VARIABLE_CONTINUE != 0
}

/// Keywords after which `-` or `+` before a number is a sign, not an operator.
fn is_unary_context_keyword(word: &str) -> bool {
    matches!(
        Lower::new(word.as_bytes()).get(),
        b"select"
            | b"where"
            | b"and"
            | b"or"
            | b"not"
            | b"then"
            | b"else"
            | b"when"
            | b"interval"
            | b"return"
            | b"returns"
            | b"by"
            | b"limit"
            | b"offset"
            | b"values"
            | b"in"
            | b"is"
            | b"like"
            | b"between"
            | b"set"
            | b"top"
            | b"case"
            | b"on"
            | b"having"
            | b"default"
            | b"as"
            | b"from"
            | b"exec"
            | b"execute"
            | b"call"
            | b"print"
            | b"throw"
            | b"raise"
            | b"fetch"
            | b"with"
            | b"to"
            | b"all"
            | b"any"
            | b"some"
            | b"exists"
            | b"ilike"
            | b"rows"
            | b"range"
            | b"preceding"
            | b"following"
            | b"distinct"
    )
}

/// A short word in ASCII lower case, for matching keywords with a `match` on its bytes
/// (a comparison per keyword length rather than per keyword). Words too long to be a
/// keyword are empty.
#[derive(Clone, Copy)]
pub(crate) struct Lower {
    buf: [u8; Lower::MAX],
    len: usize,
}

impl Lower {
    /// Longer than every keyword matched against.
    const MAX: usize = 16;

    #[inline]
    pub(crate) fn new(word: &[u8]) -> Lower {
        let mut lower = Lower {
            buf: [0; Lower::MAX],
            len: 0,
        };
        if word.len() <= Lower::MAX {
            for (l, c) in lower.buf.iter_mut().zip(word) {
                *l = c.to_ascii_lowercase();
            }
            lower.len = word.len();
        }
        lower
    }

    #[inline]
    pub(crate) fn get(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str, d: Dialect) -> Vec<(TokenKind, &str)> {
        Lexer::new(src, d)
            .filter(|t| t.kind != TokenKind::Whitespace)
            .map(|t| (t.kind, t.text(src)))
            .collect()
    }

    #[test]
    fn tokens_cover_input_exactly() {
        let src = "SELECT a.b, 'x''y', $1 FROM t -- c\n/* d */ WHERE x = -1.5e3";
        let mut at = 0;
        for t in Lexer::new(src, Dialect::PostgreSql) {
            assert_eq!(t.start, at);
            at = t.end;
        }
        assert_eq!(at, src.len());
    }

    #[test]
    fn strings_per_dialect() {
        let src = r"'a\'b' c";
        assert_eq!(
            kinds(src, Dialect::MySql),
            vec![(TokenKind::String, r"'a\'b'"), (TokenKind::Word, "c")]
        );
        assert_eq!(
            kinds(src, Dialect::PostgreSql)[0],
            (TokenKind::String, r"'a\'")
        );
        assert_eq!(
            kinds(r"E'a\'b'", Dialect::PostgreSql)[0],
            (TokenKind::String, r"E'a\'b'")
        );
        assert_eq!(
            kinds(r"'C:\' x", Dialect::Generic)[0],
            (TokenKind::String, r"'C:\'")
        );
        assert_eq!(
            kinds(r"'it\'s' x", Dialect::Generic)[0],
            (TokenKind::String, r"'it\'s'")
        );
        assert_eq!(
            kinds("\"a\" = 1", Dialect::MySql)[0],
            (TokenKind::String, "\"a\"")
        );
        assert_eq!(
            kinds("\"a\" = 1", Dialect::PostgreSql)[0],
            (TokenKind::QuotedIdent, "\"a\"")
        );
        assert_eq!(
            kinds("q'[it's]' x", Dialect::Oracle)[0],
            (TokenKind::String, "q'[it's]'")
        );
        assert_eq!(
            kinds("N'x' y", Dialect::MsSql)[0],
            (TokenKind::String, "N'x'")
        );
        assert_eq!(
            kinds("U&'x' y", Dialect::PostgreSql)[0],
            (TokenKind::String, "U&'x'")
        );
        assert_eq!(
            kinds("_utf8mb4'x' y", Dialect::MySql)[0],
            (TokenKind::String, "_utf8mb4'x'")
        );
    }

    #[test]
    fn dollar_quotes_and_placeholders() {
        assert_eq!(
            kinds("$1 $$a$b$$ $tag$x$$y$tag$", Dialect::PostgreSql),
            vec![
                (TokenKind::Placeholder, "$1"),
                (TokenKind::DollarString { tag_len: 2 }, "$$a$b$$"),
                (TokenKind::DollarString { tag_len: 5 }, "$tag$x$$y$tag$"),
            ]
        );
        assert_eq!(
            kinds("$$abc", Dialect::PostgreSql),
            vec![(TokenKind::UnterminatedQuote, "$$abc")]
        );
        assert_eq!(
            kinds(":name :1 ? ?2 %s %(n)s @p1 @@x.y", Dialect::Generic)
                .iter()
                .map(|t| t.0)
                .collect::<Vec<_>>(),
            vec![
                TokenKind::Placeholder,
                TokenKind::Placeholder,
                TokenKind::Placeholder,
                TokenKind::Placeholder,
                TokenKind::Placeholder,
                TokenKind::Placeholder,
                TokenKind::Variable,
                TokenKind::Variable,
            ]
        );
    }

    #[test]
    fn signs_fold_only_when_unary() {
        assert_eq!(
            kinds("a - 1", Dialect::Generic)[2],
            (TokenKind::Number, "1")
        );
        assert_eq!(
            kinds("a = -1", Dialect::Generic)[2],
            (TokenKind::Number, "-1")
        );
        assert_eq!(
            kinds("INTERVAL -6 MONTH", Dialect::MySql)[1],
            (TokenKind::Number, "-6")
        );
        assert_eq!(
            kinds("f(1)-2", Dialect::Generic)[5],
            (TokenKind::Number, "2")
        );
    }

    #[test]
    fn brackets_quote_only_where_they_can() {
        assert_eq!(
            kinds("[a b]", Dialect::MsSql)[0],
            (TokenKind::QuotedIdent, "[a b]")
        );
        assert_eq!(
            kinds("ARRAY[1]", Dialect::Generic)[1],
            (TokenKind::Punct, "[")
        );
        assert_eq!(kinds("arr[1]", Dialect::Sqlite)[1], (TokenKind::Punct, "["));
        assert_eq!(
            kinds("ARRAY[1]", Dialect::PostgreSql)[1],
            (TokenKind::Punct, "[")
        );
    }

    #[test]
    fn identifier_scan_matches_the_byte_classes() {
        for b in 0..=255u8 {
            let text = [
                b'x', b'y', b, b'z', b'z', b'z', b'z', b'z', b'z', b'z', b'z', b,
            ];
            for from in 0..text.len() {
                assert_eq!(
                    skip_ident(&text, from),
                    skip_while(&text, from, is_ident_continue),
                    "byte {b:#x}"
                );
            }
        }
    }

    #[test]
    fn comments() {
        assert_eq!(
            kinds("# x\ny", Dialect::MySql)[0],
            (TokenKind::Comment, "# x")
        );
        assert_eq!(kinds("#tmp", Dialect::MsSql)[0], (TokenKind::Word, "#tmp"));
        assert_eq!(
            kinds("/* a /* b */ c */ d", Dialect::PostgreSql)[0].1,
            "/* a /* b */ c */"
        );
        assert_eq!(
            kinds("/* a /* b */ c */ d", Dialect::MySql)[0].1,
            "/* a /* b */"
        );
        assert_eq!(
            kinds("/* a", Dialect::MySql)[0].0,
            TokenKind::UnterminatedComment
        );
    }
}
