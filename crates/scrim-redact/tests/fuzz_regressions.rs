//! Replays inputs the coverage-guided fuzzer once failed on (`fuzz/regressions/`), with
//! the same checks as the fuzz targets: `sql_obfuscate-*` (no panic, idempotent output)
//! and `url-*` (the target's own checks, `fuzz/checks/url.rs`).
//! `SCRIM_FUZZ_REPLAY_DIR` points it at another folder (for example fuzz/artifacts/…).

use std::fs;
use std::path::PathBuf;

use scrim_redact::sql::{Dialect, SqlOptions, obfuscate, summarize};

#[path = "../../../fuzz/checks/url.rs"]
mod url_checks;

fn replay_dir() -> PathBuf {
    std::env::var_os("SCRIM_FUZZ_REPLAY_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions"))
}

/// The fuzz target's input layout: byte 0 picks the dialect, byte 1 flips options.
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

#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = replay_dir();
    let mut failures = Vec::new();
    let mut replayed = 0;
    for entry in fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("sql_obfuscate"))
            && !path.to_string_lossy().contains("sql_obfuscate")
        {
            continue;
        }
        let data = fs::read(&path).expect("readable");
        let [dialect, flips, statement @ ..] = data.as_slice() else {
            continue;
        };
        replayed += 1;
        let options = options(*dialect, *flips);
        let input = String::from_utf8_lossy(statement);
        let once = obfuscate(&input, &options);
        let twice = obfuscate(&once, &options);
        let _ = summarize(&input, options.dialect);
        if twice != once {
            failures.push(format!("{}\n  options: {options:?}\n  input: {input:?}\n  once:  {once:?}\n  twice: {twice:?}", path.display()));
        }
    }
    println!("replayed {replayed} fuzz inputs from {}", dir.display());
    assert!(
        failures.is_empty(),
        "{} not idempotent:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn url_fuzz_regressions_stay_fixed() {
    let dir = replay_dir();
    let mut failures = Vec::new();
    let mut replayed = 0;
    for entry in fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        // `url-*` here, or anything in a replayed fuzz/artifacts/url/.
        let named = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("url-"));
        if !named && !path.to_string_lossy().contains("artifacts/url/") {
            continue;
        }
        let data = fs::read(&path).expect("readable");
        replayed += 1;
        if let Err(panic) = std::panic::catch_unwind(|| url_checks::check(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", path.display()));
        }
    }
    println!("replayed {replayed} url fuzz inputs from {}", dir.display());
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
