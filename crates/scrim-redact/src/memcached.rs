//! Memcached command scrubbing (text protocol).
//!
//! [`obfuscate_memcached`] keeps the command line of a memcached text-protocol command and
//! never emits a data block.
//!
//! # Output contract
//!
//! Dashboards and alerts group by this output, so it is deterministic and the rules below
//! are an API: changing one is a breaking change.
//!
//! - Only the first line is read: everything after the first `\n` (the data block of a
//!   storage command, or any pipelined command) is dropped, never echoed.
//! - Words are separated by spaces or tabs (a trailing `\r` is a separator too) and written
//!   back separated by one space. Words are copied as written; command names are matched
//!   ignoring ASCII case but not case-folded. Any word that is not kept becomes
//!   [`PLACEHOLDER`] (`?`).
//!
//! | Commands | Kept |
//! |----------|------|
//! | `set add replace append prepend` | a well-formed line, whole: `<cmd> <key> <flags> <exptime> <bytes> [noreply]` |
//! | `cas` | a well-formed line, whole: `cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]` |
//! | the above, malformed (a non-numeric field, a missing field, extra words such as an inline value) | the command and the key |
//! | `get gets gat gats` | everything (keys; `gat`'s exptime) |
//! | `delete touch flush_all verbosity version stats quit shutdown cache_memlimit slabs lru lru_crawler watch misbehave` and meta `mg ms md mn me` | everything |
//! | `incr decr` and meta `ma` | the command and the key (the amount or flags are replaced) |
//! | any other word made of ASCII letters and `_` (at most 32 bytes) | the command only |
//! | anything else (the first line is not a command) | nothing: every word is `?` |
//!
//! Known limitations: keys are kept, so a key that embeds a value (`session:<token>`)
//! survives. `bytes` and `cas unique` vary from call to call, so storage commands with the
//! same key group together only when their sizes match.

use std::borrow::Cow;

use crate::PLACEHOLDER;
use crate::cow::CowBuilder;

/// Scrubs a memcached text-protocol command: keeps the command line's shape and drops any
/// data block. See the [module documentation](self) for the exact rules.
///
/// Returns [`Cow::Borrowed`] without allocating when the output is the input's first line
/// unchanged (a slice of the input).
///
/// ```
/// use scrim_redact::memcached::obfuscate_memcached;
///
/// assert_eq!(obfuscate_memcached("set user:42 0 3600 6\r\nsecret\r\n"), "set user:42 0 3600 6");
/// assert_eq!(obfuscate_memcached("cas k 0 0 5 12345 noreply\nhello"), "cas k 0 0 5 12345 noreply");
/// assert_eq!(obfuscate_memcached("get a b c\r\n"), "get a b c");
/// assert_eq!(obfuscate_memcached("incr counter 5"), "incr counter ?");
/// // A value written inline instead of in a data block is still dropped.
/// assert_eq!(obfuscate_memcached("set k secret"), "set k ?");
///
/// // The command line is borrowed from the input.
/// assert!(matches!(obfuscate_memcached("get k\r\n"), std::borrow::Cow::Borrowed("get k")));
/// ```
pub fn obfuscate_memcached(cmd: &str) -> Cow<'_, str> {
    let line = cmd.split('\n').next().unwrap_or("");
    let mut words = line.split(is_blank).filter(|w| !w.is_empty());
    let mut out = CowBuilder::new(cmd);
    let Some(name) = words.next() else {
        return out.finish();
    };
    let keep = words_kept(name, words.clone());
    out.push(if keep > 0 { name } else { PLACEHOLDER });
    for (i, word) in words.enumerate() {
        out.push(" ");
        out.push(if i + 1 < keep { word } else { PLACEHOLDER });
    }
    out.finish()
}

/// How many leading words of the line (the command name included) are kept; the rest are
/// replaced. `args` are the words after the name.
fn words_kept<'a>(name: &str, args: impl Iterator<Item = &'a str>) -> usize {
    const STORAGE: &[&str] = &["set", "add", "replace", "append", "prepend"];
    const KEEP_ALL: &[&str] = &[
        "get",
        "gets",
        "gat",
        "gats",
        "delete",
        "touch",
        "flush_all",
        "verbosity",
        "version",
        "stats",
        "quit",
        "shutdown",
        "cache_memlimit",
        "slabs",
        "lru",
        "lru_crawler",
        "watch",
        "misbehave",
        "mg",
        "ms",
        "md",
        "mn",
        "me",
    ];
    const KEY_ONLY: &[&str] = &["incr", "decr", "ma"];
    if is_one_of(name, STORAGE) || name.eq_ignore_ascii_case("cas") {
        let has_cas = name.eq_ignore_ascii_case("cas");
        if is_well_formed_storage(args, has_cas) {
            usize::MAX
        } else {
            2
        }
    } else if is_one_of(name, KEEP_ALL) {
        usize::MAX
    } else if is_one_of(name, KEY_ONLY) {
        2
    } else if looks_like_command(name) {
        1
    } else {
        0
    }
}

/// Whether `args` (after the command name) are exactly
/// `<key> <flags> <exptime> <bytes> [<cas unique>] [noreply]`, all numbers well-formed.
fn is_well_formed_storage<'a>(mut args: impl Iterator<Item = &'a str>, has_cas: bool) -> bool {
    let fields_ok = args.next().is_some() // key
        && args.next().is_some_and(is_unsigned) // flags
        && args.next().is_some_and(|e| is_unsigned(e.strip_prefix('-').unwrap_or(e))) // exptime
        && args.next().is_some_and(is_unsigned) // bytes
        && (!has_cas || args.next().is_some_and(is_unsigned));
    fields_ok
        && match args.next() {
            None => true,
            Some(word) => word == "noreply" && args.next().is_none(),
        }
}

fn is_unsigned(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit())
}

fn is_one_of(name: &str, names: &[&str]) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Whether an unknown first word could be a command name rather than data.
fn looks_like_command(word: &str) -> bool {
    word.len() <= 32 && word.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
}

/// Word separators on the command line (`\r` only ever precedes the line break).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(cmd: &str) -> String {
        obfuscate_memcached(cmd).into_owned()
    }

    #[test]
    fn storage_commands_keep_the_line_and_drop_the_data() {
        assert_eq!(m("set k 0 0 5\r\nhello\r\n"), "set k 0 0 5");
        assert_eq!(m("set k 0 0 5\nhello"), "set k 0 0 5");
        assert_eq!(
            m("add k 1 -1 5 noreply\r\nhello\r\n"),
            "add k 1 -1 5 noreply"
        );
        assert_eq!(m("replace k 0 0 5\r\nhello\r\n"), "replace k 0 0 5");
        assert_eq!(m("append k 0 0 5\r\nhello\r\n"), "append k 0 0 5");
        assert_eq!(m("prepend k 0 0 5\r\nhello\r\n"), "prepend k 0 0 5");
        assert_eq!(m("cas k 0 0 5 99\r\nhello\r\n"), "cas k 0 0 5 99");
        assert_eq!(
            m("cas k 0 0 5 99 noreply\r\nhello"),
            "cas k 0 0 5 99 noreply"
        );
        assert_eq!(m("SET k 0 0 5\r\nhello"), "SET k 0 0 5");
        // Data blocks may span lines and look like commands: none of it is read.
        assert_eq!(m("set k 0 0 11\r\nget secret\r\n"), "set k 0 0 11");
    }

    #[test]
    fn malformed_storage_lines_keep_only_command_and_key() {
        assert_eq!(m("set k secret"), "set k ?");
        assert_eq!(m("set k 0 0 5 secret"), "set k ? ? ? ?");
        assert_eq!(m("set k 0 0 5 noreply extra"), "set k ? ? ? ? ?");
        assert_eq!(m("set k 0 0"), "set k ? ?");
        assert_eq!(m("set k x 0 5"), "set k ? ? ?");
        assert_eq!(m("set k 0 1e3 5"), "set k ? ? ?");
        assert_eq!(m("cas k 0 0 5"), "cas k ? ? ?");
        assert_eq!(m("cas k 0 0 5 -1"), "cas k ? ? ? ?");
        assert_eq!(m("set k"), "set k");
        assert_eq!(m("set"), "set");
    }

    #[test]
    fn retrieval_and_other_known_commands_keep_the_line() {
        for cmd in [
            "get k",
            "get a b c",
            "gets a b",
            "gat 100 a b",
            "gats 100 a",
            "delete k",
            "delete k noreply",
            "touch k 10",
            "flush_all",
            "version",
            "stats slabs",
            "mg k v t",
            "ms k 5 T0",
        ] {
            assert!(
                matches!(obfuscate_memcached(cmd), Cow::Borrowed(s) if s == cmd),
                "{cmd}"
            );
        }
        assert_eq!(m("ms k 5 T0\r\nhello\r\n"), "ms k 5 T0");
        assert_eq!(m("get a\r\nget b\r\n"), "get a");
    }

    #[test]
    fn amounts_are_replaced() {
        assert_eq!(m("incr balance 5000"), "incr balance ?");
        assert_eq!(m("decr k 1 noreply"), "decr k ? ?");
        assert_eq!(m("ma k D5000 N0"), "ma k ? ?");
    }

    #[test]
    fn unknown_and_non_commands() {
        assert_eq!(m("frobnicate a b"), "frobnicate ? ?");
        assert_eq!(m("hello world"), "hello ?");
        assert_eq!(m("user@example.com 123"), "? ?");
        assert_eq!(m("{\"password\":\"x\"}"), "?");
        assert_eq!(m(&"a".repeat(33)), "?");
    }

    #[test]
    fn whitespace_is_normalised() {
        assert_eq!(m("  get   a\tb  \r\n"), "get a b");
        assert_eq!(m(""), "");
        assert_eq!(m("\r\nset k 0 0 5\r\nhello"), "");
        assert_eq!(m("   "), "");
        assert_eq!(m("get k\r"), "get k");
    }

    #[test]
    fn borrowed_prefix_when_nothing_changes() {
        assert!(matches!(
            obfuscate_memcached("set k 0 0 5\r\nhello"),
            Cow::Borrowed("set k 0 0 5")
        ));
        assert!(matches!(
            obfuscate_memcached("get k"),
            Cow::Borrowed("get k")
        ));
        assert!(matches!(
            obfuscate_memcached("set k ?"),
            Cow::Borrowed("set k ?")
        ));
    }

    #[test]
    fn non_ascii_input() {
        assert_eq!(m("get clé\r\nx"), "get clé");
        assert_eq!(m("sét k v"), "? ? ?");
        assert_eq!(m("set k 0 0 5\r\nhéllo"), "set k 0 0 5");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const PLANTS: &[&str] = &[
            "set k 0 0 14\r\n{}\r\n",
            "set k 0 0 14\n{}",
            "cas k 0 0 14 7\r\n{}\r\n",
            "append k 0 0 99 noreply\r\nfirst line\r\n{} more\r\n",
            "ms k 14 T0\r\n{}\r\n",
            "set k {}",
            "set k 0 0 5 {}",
            "add k {} 0 5\r\n{}",
            "incr k {}",
            "frobnicate k {}",
            "get k\r\nset k 0 0 14\r\n{}",
            "{}",
            "{} k",
        ];

        proptest! {
            #[test]
            fn never_panics_on_arbitrary_text(s in "\\PC*") {
                let _ = obfuscate_memcached(&s);
            }

            #[test]
            fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                let s = String::from_utf8_lossy(&bytes);
                let out = obfuscate_memcached(&s);
                // Never more than the first line.
                prop_assert!(!out.contains('\n'));
            }

            #[test]
            fn is_idempotent(s in "([a-z]{1,6}|[ \t\r\n0-9?-]){0,30}") {
                let once = obfuscate_memcached(&s).into_owned();
                prop_assert_eq!(obfuscate_memcached(&once), once.as_str());
            }

            #[test]
            fn planted_value_never_survives(
                secret in "[0-9]{4}[a-z0-9]{8}",
                plant in proptest::sample::select(PLANTS),
            ) {
                let secret = format!("9z{secret}");
                let cmd = plant.replace("{}", &secret);
                let out = obfuscate_memcached(&cmd);
                prop_assert!(!out.contains(&secret), "{:?} -> {:?}", cmd, out);
            }
        }
    }
}
