//! The checks of the fuzz target `url`, shared with `cargo test`, which replays
//! `fuzz/regressions/url-*` through them (crates/scrim-redact/tests/fuzz_regressions.rs).
//!
//! Input layout: byte 0 holds flags, the rest is the value (invalid UTF-8 replaced by
//! U+FFFD).
//! - bits 0–1: what is redacted: 0 `redact_url`, 1 `redact_query`, 2 `redact_path`,
//!   3 `redact_ip` (bits 4–5 pick the mode: mask, hash, drop, keep);
//! - bit 2: allow-list [`SAFE_KEYS`];
//! - bit 3: scrub text with [`Awkward`] instead of `NoScrub`.
//!
//! Checks: no panic; every function is idempotent (IP: under mask and hash; drop gives
//! `None`, keep the value); and with `NoScrub`, no query value of an absolute URL
//! (`scheme://…`) or of a bare query survives unless its key is allow-listed.

use std::borrow::Cow;

use scrim_redact::ip::{IpMode, redact_ip};
use scrim_redact::url::{UrlOptions, redact_path, redact_query, redact_url};
use scrim_redact::{Counts, NoScrub, Pseudonymizer, TextScrubber};

/// The allow-list of bit 2.
pub const SAFE_KEYS: [&str; 2] = ["q", "page"];

/// An idempotent text scrubber whose output holds every character that is structure in a
/// URL: `secret` → `[S]`, `zz` → `?#/=&;%@ +` (neither replacement can form either word).
pub struct Awkward;

impl TextScrubber for Awkward {
    fn scrub<'t>(&self, text: &'t str, counts: &mut Counts) -> Cow<'t, str> {
        if !text.contains("secret") && !text.contains("zz") {
            return Cow::Borrowed(text);
        }
        counts.add(scrim_redact::Kind::Secret);
        Cow::Owned(text.replace("secret", "[S]").replace("zz", "?#/=&;%@ +"))
    }
}

/// Runs every check on one fuzz input; panics with the details when one fails.
pub fn check(data: &[u8]) {
    let [flags, rest @ ..] = data else {
        return;
    };
    let input = String::from_utf8_lossy(rest);
    let input = input.as_ref();
    let opts = if flags & 4 != 0 {
        UrlOptions::with_safe_query_keys(SAFE_KEYS)
    } else {
        UrlOptions::default()
    };
    let no_scrub = flags & 8 == 0;
    let scrubber: &dyn TextScrubber = if no_scrub { &NoScrub } else { &Awkward };
    let mut counts = Counts::default();
    let (once, twice, what) = match flags & 3 {
        0 => {
            let once = redact_url(input, &opts, scrubber, &mut counts);
            if no_scrub && is_absolute(input) {
                let before_fragment = input.split('#').next().unwrap_or("");
                if let Some((_, query)) = before_fragment.split_once('?') {
                    assert_no_value_survives(input, query, &once, &opts);
                }
            }
            let twice = redact_url(&once, &opts, scrubber, &mut counts).into_owned();
            (once, twice, "redact_url")
        }
        1 => {
            let once = redact_query(input, &opts, scrubber, &mut counts);
            if no_scrub {
                let query = input.strip_prefix('?').unwrap_or(input);
                assert_no_value_survives(input, query, &once, &opts);
            }
            let twice = redact_query(&once, &opts, scrubber, &mut counts).into_owned();
            (once, twice, "redact_query")
        }
        2 => {
            let once = redact_path(input, scrubber, &mut counts);
            let twice = redact_path(&once, scrubber, &mut counts).into_owned();
            (once, twice, "redact_path")
        }
        _ => {
            let mode = [IpMode::Mask, IpMode::Hash, IpMode::Drop, IpMode::Keep]
                [usize::from((flags >> 4) & 3)];
            let key = Pseudonymizer::new(b"fuzz");
            let once = redact_ip(input, mode, Some(&key), &mut counts);
            match mode {
                IpMode::Drop => return assert!(once.is_none()),
                IpMode::Keep => return assert_eq!(once.as_deref(), Some(input)),
                IpMode::Mask | IpMode::Hash => {}
            }
            let once = once.expect("mask and hash keep the attribute");
            let twice = redact_ip(&once, mode, Some(&key), &mut counts)
                .expect("kept")
                .into_owned();
            (once, twice, "redact_ip")
        }
    };
    assert_eq!(
        twice, once,
        "{what} is not idempotent (flags {flags:#04x})\n  input: {input:?}\n  once:  {once:?}\n  twice: {twice:?}"
    );
}

/// `scheme://…` after leading whitespace, as `redact_url` reads a scheme.
fn is_absolute(input: &str) -> bool {
    let t = input.trim_start_matches(|c: char| c.is_ascii_whitespace());
    t.find("://").is_some_and(|end| {
        t[..end].split(':').all(|name| {
            let mut b = name.bytes();
            b.next().is_some_and(|c| c.is_ascii_alphabetic())
                && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        })
    })
}

/// Each value of `query` (`&`/`;`-separated `key=value`) that can be told apart (at least
/// three ASCII letters and digits, found once in `input`, not part of a marker the output
/// adds) must be gone from `output`, unless its key is allow-listed (in this reading, or
/// in the output's).
fn assert_no_value_survives(input: &str, query: &str, output: &str, opts: &UrlOptions) {
    for param in query.split(['&', ';']) {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let traceable = value.len() >= 3
            && value.bytes().all(|c| c.is_ascii_alphanumeric())
            && input.matches(value).count() == 1
            && !"REDACTED:REDACTED".contains(value);
        if traceable && !opts.safe_query_keys.iter().any(|k| k == key) {
            // Where a userinfo holds a '?', the library's reading of the keys may differ from
            // this naive one; a value may survive only as `<safe key>=value` in the output.
            let under_safe_key = opts.safe_query_keys.iter().any(|k| {
                let kept = format!("{k}={value}");
                output.match_indices(&kept).any(|(i, _)| {
                    i == 0 || matches!(output.as_bytes()[i - 1], b'?' | b'&' | b';' | b'#')
                })
            });
            assert!(
                under_safe_key || !output.contains(value),
                "query value {value:?} (key {key:?}) survived\n  input:  {input:?}\n  output: {output:?}"
            );
        }
    }
}
