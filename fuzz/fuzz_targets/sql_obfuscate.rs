//! SQL obfuscation never panics and is idempotent: obfuscating its own output changes
//! nothing. Summarizing never panics either.
//!
//! Input layout: byte 0 picks the dialect (index into `Dialect::ALL`), byte 1 flips
//! options away from their defaults (bit i flips option i below; 0 = defaults), the rest
//! is the statement (invalid UTF-8 replaced by U+FFFD).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scrim_redact::sql::{Dialect, SqlOptions, obfuscate, summarize};

fn options(dialect: u8, flips: u8) -> SqlOptions {
    let dialect = Dialect::ALL[usize::from(dialect) % Dialect::ALL.len()];
    let mut o = SqlOptions::for_dialect(dialect);
    let flip = |bit: u8, value: &mut bool| *value ^= flips & (1 << bit) != 0;
    flip(0, &mut o.collapse_lists);
    flip(1, &mut o.replace_digits);
    flip(2, &mut o.keep_comments);
    flip(3, &mut o.keep_aliases);
    flip(4, &mut o.replace_null);
    flip(5, &mut o.replace_booleans);
    flip(6, &mut o.replace_positional_parameters);
    flip(7, &mut o.obfuscate_function_bodies);
    o
}

fuzz_target!(|data: &[u8]| {
    let [dialect, flips, statement @ ..] = data else {
        return;
    };
    let options = options(*dialect, *flips);
    let input = String::from_utf8_lossy(statement);
    let once = obfuscate(&input, &options);
    let twice = obfuscate(&once, &options);
    assert_eq!(
        twice, once,
        "not idempotent\noptions: {options:?}\ninput:  {input:?}"
    );
    std::hint::black_box(summarize(&input, options.dialect));
});
