//! The common case costs nothing: obfuscating a statement that is already parameterised
//! makes no heap allocation, in every dialect.
//!
//! The guarantee covers single-line, single-spaced, comment-free statements without
//! literals under the default options; anything else may allocate, because it changes.
//!
//! Allocations are counted by `allocation-counter`, a counting wrapper around the system
//! allocator that counts per thread, so tests running in parallel do not disturb it. (The
//! workspace forbids `unsafe_code`, which a local `unsafe impl GlobalAlloc` would need.)

use std::borrow::Cow;

use scrim_redact::sql::{Dialect, SqlOptions, obfuscate};

/// Statements every dialect must return unchanged and without allocating, besides
/// [`with_native_placeholder`].
const PARAMETERISED: [&str; 7] = [
    "SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at DESC LIMIT ?",
    "UPDATE accounts SET balance = ?, updated_at = NOW() WHERE id = ?",
    "DELETE FROM sessions WHERE expires_at < ?",
    "INSERT INTO events (kind, payload) SELECT kind, payload FROM staging WHERE id = ?",
    "SELECT u.id, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.id",
    "SELECT a FROM t WHERE b IS NULL",
    "COMMIT",
];

/// `$1` is a bind parameter everywhere but in T-SQL, which reads it as a money literal.
fn with_native_placeholder(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::MsSql => "SELECT id, name FROM users WHERE id = @p1 AND status = ?",
        _ => "SELECT id, name FROM users WHERE id = $1 AND status = ?",
    }
}

#[test]
fn parameterised_statements_are_returned_unchanged_without_allocating() {
    for dialect in Dialect::ALL {
        let options = SqlOptions::for_dialect(dialect);
        let native = with_native_placeholder(dialect);
        for statement in std::iter::once(native).chain(PARAMETERISED) {
            // Warm up once: a one-time initialisation is not a per-statement cost.
            drop(obfuscate(statement, &options));
            let mut output = None;
            let info = allocation_counter::measure(|| {
                output = Some(obfuscate(statement, &options));
            });
            let output = output.expect("obfuscate ran");
            assert_eq!(output, statement, "{dialect}: statement changed");
            assert!(
                matches!(output, Cow::Borrowed(_)),
                "{dialect}: unchanged statement returned as an owned copy: {statement}"
            );
            assert_eq!(
                info.count_total, 0,
                "{dialect}: {} heap allocation(s), {} bytes, for {statement}",
                info.count_total, info.bytes_total
            );
        }
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that silently counts nothing.
    let info = allocation_counter::measure(|| {
        std::hint::black_box(String::from("allocates"));
    });
    assert!(info.count_total >= 1, "allocation counter is not installed");
}

#[test]
fn unchanged_urls_and_ips_are_returned_without_allocating() {
    use scrim_redact::ip::{IpMode, redact_ip};
    use scrim_redact::url::{UrlOptions, redact_path, redact_query, redact_url};
    use scrim_redact::{Counts, NoScrub};

    let opts = UrlOptions::with_safe_query_keys(["page"]);
    let urls = [
        "https://api.example.com/v1/orders/42?id=?&page=2&sig=REDACTED#top",
        "https://REDACTED:REDACTED@[2001:db8::1]:8443/a%20b/c?x=#y=?",
        "/users/%7Bid%7D/orders?status=?",
        "postgres://db.internal:5432/orders?sslmode=?",
    ];
    for url in urls {
        let mut counts = Counts::default();
        let mut output = None;
        let info = allocation_counter::measure(|| {
            output = Some(redact_url(url, &opts, &NoScrub, &mut counts));
        });
        assert!(
            matches!(output, Some(Cow::Borrowed(o)) if o == url),
            "{url}"
        );
        assert_eq!(
            info.count_total, 0,
            "{url}: {} allocation(s)",
            info.count_total
        );
    }
    let mut counts = Counts::default();
    let info = allocation_counter::measure(|| {
        let q = redact_query("?a=?&page=3&b", &opts, &NoScrub, &mut counts);
        let p = redact_path("/api/v1/users/a%40b/orders", &NoScrub, &mut counts);
        assert!(matches!((q, p), (Cow::Borrowed(_), Cow::Borrowed(_))));
    });
    assert_eq!(info.count_total, 0);
    for value in [
        "203.0.113.0",
        "10.1.2.0:8080, [2001:db8::]:443",
        "api.example.com",
    ] {
        let info = allocation_counter::measure(|| {
            let out = redact_ip(value, IpMode::Mask, None, &mut counts);
            assert!(matches!(out, Some(Cow::Borrowed(_))), "{value}");
        });
        assert_eq!(info.count_total, 0, "{value}");
    }
}
