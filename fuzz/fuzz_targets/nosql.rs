//! Redis, Memcached and JSON-query scrubbing never panic on any input.
//!
//! Input layout: byte 0 picks the scrubber (0 Redis, 1 Memcached, 2 JSON query, modulo
//! 3), the rest is the command (invalid UTF-8 replaced by U+FFFD).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scrim_redact::{json_query, memcached, redis};

fuzz_target!(|data: &[u8]| {
    let [which, command @ ..] = data else {
        return;
    };
    let input = String::from_utf8_lossy(command);
    let out = match which % 3 {
        0 => redis::obfuscate_redis(&input),
        1 => memcached::obfuscate_memcached(&input),
        _ => json_query::obfuscate_json_query(&input),
    };
    std::hint::black_box(out);
});
