//! Redis / Valkey command scrubbing.
//!
//! [`obfuscate_redis`] takes a command text as OpenTelemetry's `db.query.text` (formerly
//! `db.statement`) carries it for Redis, for example `SET user:42 "secret"`, possibly several
//! commands separated by line breaks. It keeps the command name and the key shape and
//! replaces every argument that can hold a value with [`PLACEHOLDER`] (`?`).
//!
//! # Output contract
//!
//! Dashboards and alerts group by this output, so it is deterministic and the rules below
//! are an API: changing one is a breaking change.
//!
//! ## Lexing
//!
//! - Arguments are separated by spaces, tabs and `\r`; a line break (`\n`) ends a command.
//! - `"…"` (backslash escapes anything) and `'…'` (only `\'` is an escape) quote, as in
//!   `redis-cli`. A quote may start anywhere in an argument (`a"b c"` is one argument) and may
//!   span line breaks. A quote that is never closed swallows the rest of the input: that
//!   argument and everything after it become a single `?`.
//! - Kept arguments are copied exactly as written, quotes included; nothing is case-folded.
//! - Output: arguments separated by one space, commands by one `\n`, blank lines dropped.
//!
//! ## Command names
//!
//! - The first argument is the command name, matched ignoring ASCII case, and kept if it
//!   looks like one: an ASCII letter, then ASCII letters, digits, `.`, `_` or `-`, at most 64
//!   bytes. Otherwise the line is not a command (a stray line of an unquoted multi-line value,
//!   say) and every argument of it, name included, becomes `?`.
//! - Container commands (`ACL`, `CLIENT`, `CLUSTER`, `COMMAND`, `CONFIG`, `DEBUG`,
//!   `FUNCTION`, `LATENCY`, `MEMORY`, `MODULE`, `OBJECT`, `PUBSUB`, `SCRIPT`, `SLOWLOG`,
//!   `XGROUP`, `XINFO`) also keep their subcommand (`CONFIG SET`), under the same shape
//!   check; if the second word fails it, every remaining argument becomes `?`.
//!
//! ## Arguments
//!
//! "Kept" means copied; every other argument becomes `?`, one `?` per argument.
//!
//! | Rule | Commands (examples) | Output |
//! |------|---------------------|--------|
//! | all kept | `GET DEL EXISTS MGET INCR DECR TTL EXPIRE KEYS SCAN HGET HMGET HDEL LRANGE LPOP SMEMBERS ZRANGEBYSCORE XREAD SUBSCRIBE SELECT`, `OBJECT *`, `XGROUP *`, `XINFO *`, `CONFIG GET` | `GET user:42` |
//! | all replaced | `AUTH HELLO MIGRATE ECHO PING`, `SCRIPT LOAD`, `FUNCTION LOAD`, `FUNCTION RESTORE` | `AUTH ? ?` |
//! | first key kept | `GETSET SETNX APPEND LPUSH RPUSH SADD SREM SISMEMBER ZREM ZSCORE ZRANK PFADD PUBLISH INCRBY DECRBY ZINCRBY GEOADD GEOSEARCH`, every unknown command | `LPUSH q ? ?` |
//! | first two kept | `SETEX PSETEX SETRANGE SETBIT LSET LREM LINSERT SMOVE HSETNX HINCRBY JSON.SET` | `SETEX k 10 ?` |
//! | subcommand's first argument kept | `CLIENT *`, `ACL *`, `CLUSTER *`, `MODULE *`, `DEBUG *` | `ACL SETUSER bob ? ?` |
//! | name/value pairs | `HSET HMSET` (after the key), `MSET MSETNX`, `CONFIG SET` | `HSET h f1 ? f2 ?` |
//! | value, then options | `SET LPOS` | `SET k ? EX 10 NX` |
//! | lex ranges | `ZRANGEBYLEX ZREVRANGEBYLEX ZLEXCOUNT ZREMRANGEBYLEX`; `ZRANGE`/`ZRANGESTORE` when `BYLEX` appears (otherwise all kept) | `ZRANGEBYLEX k ? ? LIMIT 0 10` |
//! | `ZADD` | key and flags kept; numeric scores kept, members replaced | `ZADD z NX 1.5 ? 2 ?` |
//! | `XADD` | key, options and entry id kept; field names kept, values replaced | `XADD s MAXLEN ~ 1000 * f ?` |
//! | scripts | `EVAL EVALSHA EVAL_RO EVALSHA_RO`: script (or SHA) replaced; `FCALL FCALL_RO`: function name kept; then `numkeys` and that many keys kept, arguments replaced. A `numkeys` that is not a number or exceeds the remaining arguments replaces everything. | `EVAL ? 1 k ?` |
//!
//! Options, where a rule accepts them, are recognised keywords (`EX PX EXAT PXAT KEEPTTL NX
//! XX GT LT CH INCR GET REV WITHSCORES BYSCORE BYLEX LIMIT COUNT RANK MAXLEN MINID
//! NOMKSTREAM = ~`, any case); a numeric argument is kept only directly after a keyword that
//! takes one (`EX 10`, `LIMIT 0 10`). Anything else in an option position becomes `?`.
//!
//! ## Known limitations
//!
//! - Keys are kept, so a key that embeds a value (`session:<token>`) survives; key
//!   design is the application's responsibility.
//! - Rules are positional. An instrumentation that writes a value containing spaces
//!   without quotes (`SET k hello world`) shifts positions: for most rules the extra words
//!   still land in replaced positions, but in name/value pair rules (`HSET`, `MSET`) a
//!   value word can land in a name position and survive.
//! - The raw RESP wire format (`*3\r\n$3\r\nSET…`) is not understood; only the inline form.

use std::borrow::Cow;

use crate::cow::CowBuilder;

use crate::PLACEHOLDER;

/// Scrubs a Redis / Valkey command text: keeps command names and keys, replaces values with
/// `?`. See the [module documentation](self) for the exact rules.
///
/// Returns [`Cow::Borrowed`] without allocating when nothing changes (commands whose
/// arguments are all keys, or text that is already scrubbed).
///
/// ```
/// use scrim_redact::redis::obfuscate_redis;
///
/// assert_eq!(obfuscate_redis(r#"SET user:42 "secret" EX 60"#), "SET user:42 ? EX 60");
/// assert_eq!(obfuscate_redis("HSET user:42 email a@b.c name Bob"), "HSET user:42 email ? name ?");
/// assert_eq!(obfuscate_redis("AUTH admin hunter2"), "AUTH ? ?");
/// assert_eq!(obfuscate_redis("CONFIG SET requirepass s3cret"), "CONFIG SET requirepass ?");
/// assert_eq!(obfuscate_redis("MULTI\nINCR hits\nEXEC"), "MULTI\nINCR hits\nEXEC");
/// assert_eq!(obfuscate_redis(r#"SET k "never closed"#), "SET k ?");
///
/// // Nothing to replace: the input itself comes back, without allocation.
/// assert!(matches!(obfuscate_redis("GET user:42"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn obfuscate_redis(cmd: &str) -> Cow<'_, str> {
    let mut out = CowBuilder::new(cmd);
    let mut lexer = Lexer::new(cmd);
    let mut first = true;
    loop {
        let name = match lexer.next() {
            None => break,
            Some(Item::EndOfCommand) => continue, // blank line
            Some(Item::Unterminated) => None,
            Some(Item::Arg(name)) => Some(name),
        };
        if !first {
            out.push("\n");
        }
        first = false;
        match name {
            Some(name) => scrub_command(name, &mut lexer, &mut out),
            None => out.push(PLACEHOLDER),
        }
    }
    out.finish()
}

/// Writes one command (its name already read) to `out`, consuming its arguments.
fn scrub_command<'a>(name: &'a str, lexer: &mut Lexer<'a>, out: &mut CowBuilder<'a>) {
    let mut args = if !is_command_word(name) {
        out.push(PLACEHOLDER);
        ArgScrubber::new(Rule::RedactAll)
    } else {
        out.push(name);
        let mut upper_buf = [0u8; MAX_NAME_LEN];
        let upper_name = ascii_upper(name, &mut upper_buf);
        if is_container(upper_name) {
            scrub_subcommand(upper_name, lexer, out)
        } else {
            ArgScrubber::new(command_rule(upper_name, *lexer))
        }
    };
    for item in lexer.by_ref() {
        let piece = match item {
            Item::EndOfCommand => return,
            Item::Arg(arg) if args.keep(arg) => arg,
            Item::Arg(_) | Item::Unterminated => PLACEHOLDER,
        };
        out.push(" ");
        out.push(piece);
    }
}

/// Reads a container command's subcommand (if any), writes it, and returns the scrubber for
/// the arguments after it.
fn scrub_subcommand<'a>(
    container: &str,
    lexer: &mut Lexer<'a>,
    out: &mut CowBuilder<'a>,
) -> ArgScrubber {
    let mut peek = *lexer;
    let Some(Item::Arg(sub)) = peek.next() else {
        // No subcommand, or an unterminated one: the argument loop handles it.
        return ArgScrubber::new(Rule::RedactAll);
    };
    if !is_command_word(sub) {
        return ArgScrubber::new(Rule::RedactAll);
    }
    *lexer = peek;
    out.push(" ");
    out.push(sub);
    let mut upper_buf = [0u8; MAX_NAME_LEN];
    ArgScrubber::new(subcommand_rule(container, ascii_upper(sub, &mut upper_buf)))
}

/// How a command's arguments (after its name and subcommand) are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// Every argument is a key, pattern, index, count or option.
    KeepAll,
    /// Every argument may be a secret.
    RedactAll,
    /// The first `n` arguments are keys or names; the rest are values.
    KeepFirst(usize),
    /// `n` leading keys, then name/value pairs: names kept, values replaced.
    Pairs(usize),
    /// `keep` leading keys, `values` values, then options.
    ValuesThenOptions {
        keep: usize,
        values: usize,
    },
    ZAdd,
    XAdd,
    /// `EVAL`-like: script or function name, `numkeys`, keys, arguments. `numkeys` is
    /// validated up front, so `keys` is the number of keys to keep, or `None` to replace
    /// everything after the name.
    Script {
        keep_name: bool,
        keys: Option<usize>,
    },
}

/// Decides, argument by argument, what a [`Rule`] keeps.
struct ArgScrubber {
    rule: Rule,
    /// Index of the next argument.
    index: usize,
    /// How many numeric arguments the last option keyword may still take.
    numbers_left: usize,
    /// For `ZADD` and `XADD`: index (from 0) within the body after the options, if reached.
    body: Option<usize>,
}

impl ArgScrubber {
    fn new(rule: Rule) -> Self {
        ArgScrubber {
            rule,
            index: 0,
            numbers_left: 0,
            body: None,
        }
    }

    /// Whether to keep `arg`, the next argument.
    fn keep(&mut self, arg: &str) -> bool {
        let i = self.index;
        self.index += 1;
        match self.rule {
            Rule::KeepAll => true,
            Rule::RedactAll => false,
            Rule::KeepFirst(n) => i < n,
            Rule::Pairs(n) => i < n || (i - n).is_multiple_of(2),
            Rule::ValuesThenOptions { keep, values } => {
                i < keep || (i >= keep + values && self.option(arg))
            }
            Rule::ZAdd => i == 0 || self.zadd_body(arg),
            Rule::XAdd => i == 0 || self.xadd_body(arg),
            Rule::Script { keep_name, keys } => match (i, keys) {
                (0, _) => keep_name,
                (_, None) => false,
                (1, Some(_)) => true, // numkeys
                (i, Some(n)) => i - 2 < n,
            },
        }
    }

    /// Whether `arg`, in an option position, is an option keyword or a number that the
    /// previous keyword takes.
    fn option(&mut self, arg: &str) -> bool {
        if arg == "=" || arg == "~" {
            return true; // `MAXLEN ~ 1000`: sits between a keyword and its number
        }
        if self.numbers_left > 0 && is_number(arg) {
            self.numbers_left -= 1;
            return true;
        }
        match option_arity(arg) {
            Some(arity) => {
                self.numbers_left = arity;
                true
            }
            None => {
                self.numbers_left = 0;
                false
            }
        }
    }

    /// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member …]`, after the key.
    fn zadd_body(&mut self, arg: &str) -> bool {
        let position = match self.body {
            None if is_keyword(arg, &["NX", "XX", "GT", "LT", "CH", "INCR"]) => return true,
            None => 0,
            Some(p) => p,
        };
        self.body = Some(position + 1);
        position.is_multiple_of(2) && is_number(arg) // scores kept, members replaced
    }

    /// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] id field value …`,
    /// after the key.
    fn xadd_body(&mut self, arg: &str) -> bool {
        if let Some(p) = self.body {
            self.body = Some(p + 1);
            return p.is_multiple_of(2); // field names kept, values replaced
        }
        if self.option(arg) {
            return true;
        }
        self.body = Some(0);
        arg == "*" || is_number(arg) // the entry id
    }
}

/// The rule for a non-container command, given its upper-cased name. `rest` is positioned
/// after the name, for the few rules that look ahead.
fn command_rule(name: &str, rest: Lexer<'_>) -> Rule {
    match name {
        "GET" | "GETDEL" | "GETEX" | "DEL" | "UNLINK" | "EXISTS" | "TOUCH" | "MGET" | "INCR"
        | "DECR" | "STRLEN" | "GETRANGE" | "SUBSTR" | "GETBIT" | "BITCOUNT" | "BITPOS"
        | "BITOP" | "LCS" | "TTL" | "PTTL" | "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT"
        | "EXPIRETIME" | "PEXPIRETIME" | "PERSIST" | "TYPE" | "KEYS" | "SCAN" | "RANDOMKEY"
        | "RENAME" | "RENAMENX" | "COPY" | "MOVE" | "SORT" | "SORT_RO" | "DUMP" | "HGET"
        | "HMGET" | "HDEL" | "HEXISTS" | "HGETALL" | "HKEYS" | "HVALS" | "HLEN" | "HSTRLEN"
        | "HRANDFIELD" | "HSCAN" | "LLEN" | "LPOP" | "RPOP" | "LRANGE" | "LINDEX" | "LTRIM"
        | "RPOPLPUSH" | "LMOVE" | "BLPOP" | "BRPOP" | "BRPOPLPUSH" | "BLMOVE" | "LMPOP"
        | "BLMPOP" | "SCARD" | "SMEMBERS" | "SPOP" | "SRANDMEMBER" | "SINTER" | "SINTERCARD"
        | "SINTERSTORE" | "SUNION" | "SUNIONSTORE" | "SDIFF" | "SDIFFSTORE" | "SSCAN" | "ZCARD"
        | "ZCOUNT" | "ZRANGEBYSCORE" | "ZREVRANGEBYSCORE" | "ZREVRANGE" | "ZPOPMIN" | "ZPOPMAX"
        | "BZPOPMIN" | "BZPOPMAX" | "ZMPOP" | "BZMPOP" | "ZREMRANGEBYRANK" | "ZREMRANGEBYSCORE"
        | "ZUNION" | "ZUNIONSTORE" | "ZINTER" | "ZINTERSTORE" | "ZINTERCARD" | "ZDIFF"
        | "ZDIFFSTORE" | "ZRANDMEMBER" | "ZSCAN" | "PFCOUNT" | "PFMERGE" | "XRANGE"
        | "XREVRANGE" | "XREAD" | "XREADGROUP" | "XACK" | "XDEL" | "XLEN" | "XTRIM"
        | "XPENDING" | "XCLAIM" | "XAUTOCLAIM" | "XSETID" | "SUBSCRIBE" | "UNSUBSCRIBE"
        | "PSUBSCRIBE" | "PUNSUBSCRIBE" | "SSUBSCRIBE" | "SUNSUBSCRIBE" | "WATCH" | "UNWATCH"
        | "MULTI" | "EXEC" | "DISCARD" | "SELECT" | "DBSIZE" | "FLUSHDB" | "FLUSHALL" | "INFO"
        | "TIME" | "SAVE" | "BGSAVE" | "BGREWRITEAOF" | "LASTSAVE" | "QUIT" | "RESET"
        | "READONLY" | "READWRITE" | "WAIT" | "WAITAOF" | "ROLE" | "SWAPDB" | "JSON.GET"
        | "JSON.DEL" | "JSON.TYPE" => Rule::KeepAll,
        "AUTH" | "HELLO" | "MIGRATE" | "ECHO" | "PING" => Rule::RedactAll,
        "SETEX" | "PSETEX" | "SETRANGE" | "SETBIT" | "LSET" | "LREM" | "LINSERT" | "SMOVE"
        | "HSETNX" | "HINCRBY" | "HINCRBYFLOAT" | "GEOSEARCHSTORE" | "JSON.SET" => {
            Rule::KeepFirst(2)
        }
        "HSET" | "HMSET" => Rule::Pairs(1),
        "MSET" | "MSETNX" => Rule::Pairs(0),
        "SET" | "LPOS" => Rule::ValuesThenOptions { keep: 1, values: 1 },
        "ZRANGEBYLEX" | "ZREVRANGEBYLEX" | "ZLEXCOUNT" | "ZREMRANGEBYLEX" => {
            Rule::ValuesThenOptions { keep: 1, values: 2 }
        }
        // `ZRANGE key min max [BYSCORE|BYLEX] …`: min and max are members only with BYLEX.
        "ZRANGE" | "ZRANGESTORE" if !args_contain(rest, "BYLEX") => Rule::KeepAll,
        "ZRANGE" => Rule::ValuesThenOptions { keep: 1, values: 2 },
        "ZRANGESTORE" => Rule::ValuesThenOptions { keep: 2, values: 2 },
        "ZADD" => Rule::ZAdd,
        "XADD" => Rule::XAdd,
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" => script_rule(false, rest),
        "FCALL" | "FCALL_RO" => script_rule(true, rest),
        // GETSET SETNX APPEND LPUSH RPUSH SADD PUBLISH …, and every unknown command.
        _ => Rule::KeepFirst(1),
    }
}

/// Commands whose second word is a subcommand.
fn is_container(name: &str) -> bool {
    matches!(
        name,
        "ACL"
            | "CLIENT"
            | "CLUSTER"
            | "COMMAND"
            | "CONFIG"
            | "DEBUG"
            | "FUNCTION"
            | "LATENCY"
            | "MEMORY"
            | "MODULE"
            | "OBJECT"
            | "PUBSUB"
            | "SCRIPT"
            | "SLOWLOG"
            | "XGROUP"
            | "XINFO"
    )
}

/// The rule for the arguments after a container's subcommand (both upper-cased).
fn subcommand_rule(container: &str, sub: &str) -> Rule {
    match (container, sub) {
        ("CONFIG", "SET") => Rule::Pairs(0),
        ("SCRIPT", "LOAD") | ("FUNCTION", "LOAD" | "RESTORE") => Rule::RedactAll,
        ("ACL" | "CLIENT" | "CLUSTER" | "MODULE" | "DEBUG", _) => Rule::KeepFirst(1),
        // OBJECT, XGROUP, XINFO, MEMORY, COMMAND, PUBSUB, SLOWLOG, LATENCY, other CONFIG,
        // SCRIPT and FUNCTION subcommands: keys, names, ids and counts only.
        _ => Rule::KeepAll,
    }
}

/// The rule for `EVAL`-like commands, validating `numkeys` against the argument count.
fn script_rule(keep_name: bool, rest: Lexer<'_>) -> Rule {
    let mut args = command_args(rest);
    let _script = args.next();
    let numkeys = args.next().and_then(|n| n.parse::<usize>().ok());
    let remaining = args.count();
    let keys = numkeys.filter(|&n| n <= remaining);
    Rule::Script { keep_name, keys }
}

/// Option keywords and how many numeric arguments each may take.
fn option_arity(arg: &str) -> Option<usize> {
    const FLAGS: &[&str] = &[
        "NX",
        "XX",
        "GT",
        "LT",
        "CH",
        "INCR",
        "GET",
        "KEEPTTL",
        "REV",
        "WITHSCORES",
        "BYSCORE",
        "BYLEX",
        "NOMKSTREAM",
    ];
    const ONE_NUMBER: &[&str] = &[
        "EX", "PX", "EXAT", "PXAT", "COUNT", "RANK", "MAXLEN", "MINID",
    ];
    if is_keyword(arg, FLAGS) {
        Some(0)
    } else if is_keyword(arg, ONE_NUMBER) {
        Some(1)
    } else if arg.eq_ignore_ascii_case("LIMIT") {
        Some(2) // `LIMIT offset count`; XADD's `LIMIT count` simply stops after one
    } else {
        None
    }
}

fn is_keyword(arg: &str, keywords: &[&str]) -> bool {
    keywords.iter().any(|k| k.eq_ignore_ascii_case(arg))
}

/// A number as Redis accepts in score, count, range and id positions: `10`, `-1`, `1.5e3`,
/// `(5` (exclusive bound), `1526919030474-0` (stream id), `+inf`.
fn is_number(arg: &str) -> bool {
    let digits = arg.strip_prefix('(').unwrap_or(arg);
    let unsigned = digits.trim_start_matches(['-', '+']);
    if unsigned.eq_ignore_ascii_case("inf") {
        return true;
    }
    unsigned
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && unsigned.bytes().any(|b| b.is_ascii_digit())
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
}

/// Longest command or subcommand name that is matched against the tables.
const MAX_NAME_LEN: usize = 64;

/// Whether `word` can be a command or subcommand name (see the module documentation).
fn is_command_word(word: &str) -> bool {
    let mut bytes = word.bytes();
    word.len() <= MAX_NAME_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Upper-cases an ASCII `word` into `buf` without allocating. Words that do not fit give
/// `""`, which matches no table entry.
fn ascii_upper<'b>(word: &str, buf: &'b mut [u8; MAX_NAME_LEN]) -> &'b str {
    let Some(dst) = buf.get_mut(..word.len()) else {
        return "";
    };
    dst.copy_from_slice(word.as_bytes());
    dst.make_ascii_uppercase();
    std::str::from_utf8(dst).unwrap_or("")
}

/// The remaining arguments of the current command.
fn command_args(lexer: Lexer<'_>) -> impl Iterator<Item = &str> {
    lexer.map_while(|item| match item {
        Item::Arg(arg) => Some(arg),
        Item::EndOfCommand | Item::Unterminated => None,
    })
}

fn args_contain(rest: Lexer<'_>, keyword: &str) -> bool {
    command_args(rest).any(|arg| arg.eq_ignore_ascii_case(keyword))
}

/// One lexical item of a command text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item<'a> {
    /// An argument exactly as written, quotes included.
    Arg(&'a str),
    /// A line break outside quotes.
    EndOfCommand,
    /// An argument whose quote never closes; it ran to the end of the input.
    Unterminated,
}

/// Splits a command text into [`Item`]s. `Copy`, which is how rules look ahead.
#[derive(Clone, Copy, Debug)]
struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        let bytes = self.src.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if b == b'\n' {
                self.pos += 1;
                return Some(Item::EndOfCommand);
            }
            if !is_blank(b) {
                break;
            }
            self.pos += 1;
        }
        let start = self.pos;
        while let Some(&b) = bytes.get(self.pos) {
            if b == b'"' || b == b'\'' {
                let Some(close) = closing_quote(bytes, self.pos) else {
                    self.pos = bytes.len();
                    return Some(Item::Unterminated);
                };
                self.pos = close + 1;
            } else if b == b'\n' || is_blank(b) {
                break;
            } else {
                self.pos += 1;
            }
        }
        // `start` and `pos` sit next to ASCII bytes or at the ends: valid char boundaries.
        self.src
            .get(start..self.pos)
            .filter(|arg| !arg.is_empty())
            .map(Item::Arg)
    }
}

/// Argument separators within a command (a line break ends the command instead).
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// The index of the quote closing the one at `open`, following `redis-cli`: in `"…"` a
/// backslash escapes the next byte; in `'…'` only `\'` is an escape.
fn closing_quote(bytes: &[u8], open: usize) -> Option<usize> {
    let quote = *bytes.get(open)?;
    let mut i = open + 1;
    loop {
        match *bytes.get(i)? {
            b'\\' if quote == b'"' || bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Some(i),
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cmd: &str) -> String {
        obfuscate_redis(cmd).into_owned()
    }

    fn assert_borrowed(cmd: &str) {
        assert!(
            matches!(obfuscate_redis(cmd), Cow::Borrowed(s) if s == cmd),
            "expected unchanged and borrowed: {cmd:?}"
        );
    }

    #[test]
    fn key_only_commands_are_unchanged_and_borrowed() {
        for cmd in [
            "GET user:42",
            "DEL a b c",
            "EXISTS k1 k2",
            "MGET a b",
            "INCR hits",
            "TTL session:x",
            "EXPIRE k 60",
            "KEYS user:*",
            "SCAN 0 MATCH user:* COUNT 100",
            "HGET h field",
            "HMGET h f1 f2",
            "LRANGE list 0 -1",
            "ZRANGEBYSCORE z -inf (5 WITHSCORES LIMIT 0 10",
            "ZRANGE z 0 -1 WITHSCORES",
            "XREAD COUNT 2 STREAMS s1 s2 0-0 0-0",
            "MULTI",
            "PING",
            "get user:42",
            "",
        ] {
            assert_borrowed(cmd);
        }
    }

    #[test]
    fn set_family_keeps_key_and_options() {
        assert_eq!(r("SET k v"), "SET k ?");
        assert_eq!(
            r("SET user:42 \"secret\" EX 10 NX"),
            "SET user:42 ? EX 10 NX"
        );
        assert_eq!(r("set k v px 100 xx get"), "set k ? px 100 xx get");
        assert_eq!(r("SET k v KEEPTTL"), "SET k ? KEEPTTL");
        // Numbers survive only right after a keyword that takes one.
        assert_eq!(r("SET k my 1234 pin"), "SET k ? ? ?");
        assert_eq!(r("SET k v EX oops 10"), "SET k ? EX ? ?");
        assert_eq!(r("SET k v junk"), "SET k ? ?");
        assert_eq!(r("SET k"), "SET k");
        assert_eq!(r("SET"), "SET");
    }

    #[test]
    fn first_key_then_values() {
        assert_eq!(r("GETSET k v"), "GETSET k ?");
        assert_eq!(r("SETNX k v"), "SETNX k ?");
        assert_eq!(r("APPEND k v"), "APPEND k ?");
        assert_eq!(r("LPUSH q a b c"), "LPUSH q ? ? ?");
        assert_eq!(r("RPUSH q a"), "RPUSH q ?");
        assert_eq!(r("SADD s m1 m2"), "SADD s ? ?");
        assert_eq!(r("SISMEMBER s alice@example.com"), "SISMEMBER s ?");
        assert_eq!(r("PUBLISH news hello"), "PUBLISH news ?");
        assert_eq!(r("INCRBY balance:42 5000"), "INCRBY balance:42 ?");
        assert_eq!(r("ZINCRBY z 2 member"), "ZINCRBY z ? ?");
        assert_eq!(r("GEOADD places 13.36 38.11 home"), "GEOADD places ? ? ?");
    }

    #[test]
    fn first_two_kept() {
        assert_eq!(r("SETEX k 10 v"), "SETEX k 10 ?");
        assert_eq!(r("LSET list 0 v"), "LSET list 0 ?");
        assert_eq!(r("LINSERT list BEFORE pivot v"), "LINSERT list BEFORE ? ?");
        assert_eq!(r("HSETNX h f v"), "HSETNX h f ?");
        assert_eq!(r("HINCRBY h f 7"), "HINCRBY h f ?");
    }

    #[test]
    fn pairs() {
        assert_eq!(r("HSET h f1 v1 f2 v2"), "HSET h f1 ? f2 ?");
        assert_eq!(r("HMSET user:1 email a@b.c"), "HMSET user:1 email ?");
        assert_eq!(r("HSET h f1"), "HSET h f1");
        assert_eq!(r("MSET a 1 b 2"), "MSET a ? b ?");
        assert_eq!(r("MSETNX a 1"), "MSETNX a ?");
    }

    #[test]
    fn zadd_keeps_flags_and_scores() {
        assert_eq!(r("ZADD z 1 alice 2 bob"), "ZADD z 1 ? 2 ?");
        assert_eq!(r("ZADD z NX CH 1.5 m"), "ZADD z NX CH 1.5 ?");
        assert_eq!(r("ZADD z GT -inf m +inf n"), "ZADD z GT -inf ? +inf ?");
        // A non-numeric score is not kept either.
        assert_eq!(r("ZADD z secret m"), "ZADD z ? ?");
    }

    #[test]
    fn zrange_lex_bounds_are_values() {
        assert_eq!(r("ZRANGE z [alice (bob BYLEX"), "ZRANGE z ? ? BYLEX");
        assert_eq!(
            r("zrange z - + bylex limit 0 5"),
            "zrange z ? ? bylex limit 0 5"
        );
        assert_eq!(
            r("ZRANGESTORE dst src [a [b BYLEX"),
            "ZRANGESTORE dst src ? ? BYLEX"
        );
        assert_eq!(
            r("ZRANGEBYLEX z [a [b LIMIT 0 10"),
            "ZRANGEBYLEX z ? ? LIMIT 0 10"
        );
        assert_eq!(r("ZLEXCOUNT z - +"), "ZLEXCOUNT z ? ?");
        assert_eq!(r("ZRANGE z 0 10 BYSCORE REV"), "ZRANGE z 0 10 BYSCORE REV");
    }

    #[test]
    fn xadd_keeps_fields_and_options() {
        assert_eq!(r("XADD s * name bob age 3"), "XADD s * name ? age ?");
        assert_eq!(
            r("XADD s NOMKSTREAM MAXLEN ~ 1000 LIMIT 10 * f v"),
            "XADD s NOMKSTREAM MAXLEN ~ 1000 LIMIT 10 * f ?"
        );
        assert_eq!(
            r("XADD s MINID 1526919030474-0 1-1 f v"),
            "XADD s MINID 1526919030474-0 1-1 f ?"
        );
        assert_eq!(r("XADD s secret f v"), "XADD s ? f ?");
    }

    #[test]
    fn auth_and_friends_replace_everything() {
        assert_eq!(r("AUTH hunter2"), "AUTH ?");
        assert_eq!(r("AUTH admin hunter2"), "AUTH ? ?");
        assert_eq!(r("HELLO 3 AUTH admin hunter2"), "HELLO ? ? ? ?");
        assert_eq!(
            r("MIGRATE host 6379 k 0 5000 AUTH pw"),
            "MIGRATE ? ? ? ? ? ? ?"
        );
        assert_eq!(r("ECHO hi"), "ECHO ?");
        assert_eq!(r("PING hi"), "PING ?");
    }

    #[test]
    fn scripts() {
        assert_eq!(
            r(r#"EVAL "return redis.call('set', KEYS[1], ARGV[1])" 1 k secret"#),
            "EVAL ? 1 k ?"
        );
        assert_eq!(r("EVALSHA abc123 2 k1 k2 a1 a2"), "EVALSHA ? 2 k1 k2 ? ?");
        assert_eq!(r("EVAL s 0 a1"), "EVAL ? 0 ?");
        assert_eq!(r("FCALL myfn 1 k a"), "FCALL myfn 1 k ?");
        // An invalid or too large numkeys replaces everything.
        assert_eq!(r("EVAL s x k a"), "EVAL ? ? ? ?");
        assert_eq!(r("EVAL s 5 k secret"), "EVAL ? ? ? ?");
        assert_eq!(r("EVAL s -1 k"), "EVAL ? ? ?");
        assert_eq!(r("EVAL s"), "EVAL ?");
    }

    #[test]
    fn container_commands_keep_subcommand() {
        assert_eq!(
            r("CONFIG SET requirepass s3cret"),
            "CONFIG SET requirepass ?"
        );
        assert_eq!(r("config set a 1 b 2"), "config set a ? b ?");
        assert_borrowed("CONFIG GET maxmemory");
        assert_borrowed("CLIENT SETNAME worker-1");
        assert_eq!(r("CLIENT KILL ADDR 10.0.0.1:1234"), "CLIENT KILL ADDR ?");
        assert_eq!(r("ACL SETUSER bob on >pass ~*"), "ACL SETUSER bob ? ? ?");
        assert_borrowed("OBJECT ENCODING user:42");
        assert_eq!(r("SCRIPT LOAD \"return 1\""), "SCRIPT LOAD ?");
        assert_borrowed("SCRIPT EXISTS abc def");
        assert_eq!(r("FUNCTION LOAD \"#!lua name=x\""), "FUNCTION LOAD ?");
        assert_borrowed("XGROUP CREATE s g $ MKSTREAM");
        assert_borrowed("XINFO GROUPS s");
        assert_borrowed("CLIENT");
        // A second word that is not a subcommand name is replaced with everything after it.
        assert_eq!(r("CONFIG \"SET\" a b"), "CONFIG ? ? ?");
        assert_eq!(r("CLIENT 'x"), "CLIENT ?");
    }

    #[test]
    fn unknown_commands_keep_first_argument() {
        assert_eq!(r("FOO key a b"), "FOO key ? ?");
        assert_eq!(
            r("FT.SEARCH idx \"@email:alice\" LIMIT 0 10"),
            "FT.SEARCH idx ? ? ? ?"
        );
        assert_borrowed("FOO key");
    }

    #[test]
    fn non_command_lines_are_replaced_whole() {
        assert_eq!(r("\"SET\" k v"), "? ? ?");
        assert_eq!(r("1234 secret"), "? ?");
        assert_eq!(r("{\"a\": 1}"), "? ?");
        let long = "A".repeat(MAX_NAME_LEN + 1);
        assert_eq!(r(&format!("{long} k")), "? ?");
    }

    #[test]
    fn quoting() {
        assert_eq!(r(r#"SET "my key" "a \" b""#), r#"SET "my key" ?"#);
        assert_eq!(r("SET 'my key' 'it\\'s'"), "SET 'my key' ?");
        // In single quotes only `\'` is an escape, so `'a\\' v` never closes.
        assert_eq!(r(r"SET k 'a\\' v"), "SET k ?");
        assert_eq!(r(r"SET k 'a\\b' v"), "SET k ? ?");
        assert_eq!(r(r#"GET a"b c"d"#), r#"GET a"b c"d"#);
        // A quoted value may span lines.
        assert_eq!(r("SET k \"line1\nline2\"\nGET k"), "SET k ?\nGET k");
    }

    #[test]
    fn unterminated_quote_swallows_the_rest() {
        assert_eq!(r("SET k \"never closed"), "SET k ?");
        assert_eq!(r("SET k \"never closed\nGET other"), "SET k ?");
        assert_eq!(r("GET \"k"), "GET ?");
        assert_eq!(r("HSET h f1 v1 \"f2 v2"), "HSET h f1 ? ?");
        assert_eq!(r("GET a\n\"oops"), "GET a\n?");
        assert_eq!(r("'"), "?");
        assert_eq!(r("SET k ab\"cd"), "SET k ?");
        assert_eq!(r("SET k \"ends in backslash\\"), "SET k ?");
    }

    #[test]
    fn several_commands_and_whitespace() {
        assert_eq!(r("SET a 1\nSET b 2"), "SET a ?\nSET b ?");
        assert_eq!(r("SET a 1\r\nGET b\r\n"), "SET a ?\nGET b");
        assert_eq!(r("\n\n  SET   a\t1  \n\nGET b\n"), "SET a ?\nGET b");
        assert_eq!(r("   \n \t"), "");
        assert_eq!(r("MULTI\nINCR hits\nEXEC"), "MULTI\nINCR hits\nEXEC");
    }

    #[test]
    fn borrowed_when_already_scrubbed() {
        assert_borrowed("SET k ? EX 10");
        assert_borrowed("HSET h f ?\nGET k");
        // A trailing line break is dropped by borrowing a shorter slice.
        assert!(matches!(obfuscate_redis("GET k\n"), Cow::Borrowed("GET k")));
    }

    #[test]
    fn output_is_idempotent_on_examples() {
        for cmd in [
            "SET k v EX oops 10",
            "ZADD z a NX b",
            "ZRANGE z a BYLEX",
            "EVAL s 1 k v",
            "XADD s MAXLEN x * f v",
            "CONFIG \"SET\" a b",
            "\"x\" y",
        ] {
            let once = r(cmd);
            assert_eq!(r(&once), once, "{cmd:?}");
        }
    }

    #[test]
    fn non_ascii_input() {
        assert_eq!(r("SET clé välue"), "SET clé ?");
        assert_eq!(r("ÉCRIRE k v"), "? ? ?");
        assert_eq!(r("GET \"ключ\""), "GET \"ключ\"");
    }

    #[test]
    fn helpers() {
        for n in [
            "0",
            "-1",
            "1.5",
            "1e3",
            "(5",
            "+inf",
            "-INF",
            "1526919030474-0",
            ".5",
        ] {
            assert!(is_number(n), "{n}");
        }
        for n in ["", "-", "(", "abc", "1a", "inf1", "?", "e5"] {
            assert!(!is_number(n), "{n}");
        }
        let mut buf = [0u8; MAX_NAME_LEN];
        assert_eq!(ascii_upper("JSON.set", &mut buf), "JSON.SET");
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert_eq!(ascii_upper(&long, &mut buf), "");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Commands whose second argument is always a value, and formats that write one.
        const PLANTS: &[&str] = &[
            "SET k {}",
            "SET k {} EX 10",
            "GETSET k {}",
            "APPEND k {}",
            "LPUSH k a {}",
            "SADD k {} b",
            "PUBLISH chan {}",
            "HSET h f {}",
            "HMSET h f1 v1 f2 {}",
            "MSET a 1 b {}",
            "ZADD z 1 {}",
            "AUTH {}",
            "AUTH user {}",
            "CONFIG SET requirepass {}",
            "EVAL \"return '{}'\" 0",
            "EVAL s 1 k {}",
            "FOO key {}",
            "XADD s * f {}",
            "SETEX k 10 {}",
            "ZRANGE z [{} + BYLEX",
            "SET k \"prefix {} suffix\"",
            "SET k 'prefix {} suffix'",
            "SET k \"unterminated {}",
            "GET k\nSET k {}\nGET k",
            "SET k \"multi\nline {}\"",
        ];

        proptest! {
            #[test]
            fn never_panics_on_arbitrary_text(s in "\\PC*") {
                let _ = obfuscate_redis(&s);
            }

            #[test]
            fn is_idempotent_on_command_like_text(s in "([A-Za-z]{1,8}|[ \t\r\n\"'\\\\?0-9:*~=-]){0,40}") {
                // Scrubbing scrubbed output changes nothing.
                let once = obfuscate_redis(&s).into_owned();
                prop_assert_eq!(obfuscate_redis(&once), once.as_str());
            }

            #[test]
            fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                let s = String::from_utf8_lossy(&bytes);
                let _ = obfuscate_redis(&s);
            }

            #[test]
            fn planted_value_never_survives(
                secret in "[a-z0-9]{12}",
                plant in proptest::sample::select(PLANTS),
                lower in any::<bool>(),
            ) {
                let secret = format!("zq{secret}");
                let mut cmd = plant.replace("{}", &secret);
                if lower {
                    cmd = cmd.to_ascii_lowercase();
                }
                let out = obfuscate_redis(&cmd);
                prop_assert!(!out.contains(&secret), "{:?} -> {:?}", cmd, out);
            }
        }
    }
}
