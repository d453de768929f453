//! URL, query, path and IP redaction never panic, are idempotent, and let no query value
//! of an absolute URL or a bare query through unless its key is allow-listed. The input
//! layout and the checks are in `fuzz/checks/url.rs`, which `cargo test` also runs on
//! `fuzz/regressions/url-*`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/url.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check(data));
