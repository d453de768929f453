//! Network identifiers: email addresses, IPv6 addresses, credentials inside URLs.

use memchr::memchr_iter;

use super::Finding;
use super::class::{at, before, is_word};
use super::numeric::ipv4_len;
use crate::kind::Kind;

const LOCAL_MAX: usize = 64;
const DOMAIN_MAX: usize = 253;

#[inline]
fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Every email address, found from its `@`.
pub(super) fn find_emails(b: &[u8], out: &mut Vec<Finding>) {
    let mut covered = 0;
    for at_sign in memchr_iter(b'@', b) {
        if at_sign < covered {
            continue;
        }
        if let Some((s, e)) = email_at(b, at_sign) {
            out.push(Finding {
                kind: Kind::Email,
                start: s,
                end: e,
            });
            covered = e;
        }
    }
}

/// The email around the `@` at `a`.
fn email_at(b: &[u8], a: usize) -> Option<(usize, usize)> {
    // Local part: back over local characters, at most 64 (a longer run is not an email
    // local part; only its last 64 bytes could be, which we do not guess at).
    let mut s = a;
    while s > 0 && a - s < LOCAL_MAX && is_local(b[s - 1]) {
        s -= 1;
    }
    if s > 0 && is_local(b[s - 1]) {
        return None;
    }
    while s < a && b[s] == b'.' {
        s += 1;
    }
    if s == a || b[a - 1] == b'.' || in_url_authority(b, s) {
        return None;
    }
    // Domain: labels of [A-Za-z0-9-], separated by single dots.
    let mut p = a + 1;
    let mut labels = 0;
    let mut last_label;
    let mut first_label = (p, p);
    loop {
        let ls = p;
        while p < b.len() && p - a <= DOMAIN_MAX && (b[p].is_ascii_alphanumeric() || b[p] == b'-') {
            p += 1;
        }
        if p == ls || b[ls] == b'-' || b[p - 1] == b'-' {
            // An empty or malformed label: not a domain (deciding by what follows would
            // depend on text a neighbouring finding may replace).
            return None;
        }
        labels += 1;
        if labels == 1 {
            first_label = (ls, p);
        }
        last_label = (ls, p);
        if at(b, p) == b'.' && (at(b, p + 1).is_ascii_alphanumeric()) {
            p += 1;
        } else {
            break;
        }
    }
    if p - a > DOMAIN_MAX || labels < 2 || is_word(at(b, p)) || at(b, p) == b'@' {
        return None;
    }
    // `x.com.[marker]`: the replaced value may have continued the domain.
    if matches!(at(b, p), b'.' | b'-') && super::marker_starts_at(b, p + 1) {
        return None;
    }
    let tld = &b[last_label.0..last_label.1];
    if tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    // `icon@2x.png`: an image-density suffix, not a domain.
    let first = &b[first_label.0..first_label.1];
    if first.len() >= 2
        && first.last() == Some(&b'x')
        && first[..first.len() - 1].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    Some((s, p))
}

/// Whether the local part starting at `s` sits in a URL authority (`scheme://user@` or
/// `scheme://user:pass@`): that is userinfo, not an email.
fn in_url_authority(b: &[u8], s: usize) -> bool {
    let mut p = s;
    let stop = s.saturating_sub(256);
    while p > stop {
        let c = b[p - 1];
        if c == b'/' {
            return p >= 3 && b[p - 2] == b'/' && b[p - 3] == b':';
        }
        if c.is_ascii_whitespace() || c == b'@' || c == b'"' || c == b'\'' {
            return false;
        }
        if c == b']' && super::marker_ends_at(b, p) {
            // A replaced value may have held the `://`: judge as if it had.
            return true;
        }
        p -= 1;
    }
    false
}

/// The userinfo of the URL whose `://` is at `sep`.
pub(super) fn url_credentials_at(b: &[u8], sep: usize) -> Option<(usize, usize)> {
    // A scheme: [A-Za-z][A-Za-z0-9+.-]* right before.
    let mut s = sep;
    while s > 0 && (b[s - 1].is_ascii_alphanumeric() || matches!(b[s - 1], b'+' | b'.' | b'-')) {
        s -= 1;
    }
    if s == sep || !b[s].is_ascii_alphabetic() {
        return None;
    }
    let start = sep + 3;
    let mut last_at = None;
    let mut p = start;
    while p < b.len() {
        match b[p] {
            b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' => break,
            c if c.is_ascii_whitespace() => break,
            b'@' => last_at = Some(p),
            // A replaced value may have held the `/` that ended the authority.
            b'[' if super::marker_starts_at(b, p) => return None,
            _ => {}
        }
        p += 1;
    }
    let end = last_at?;
    (end > start).then_some((start, end))
}

/// The IPv6 address around the `:` at `colon`, if any. Returns its range and the end of
/// the run examined (no other IPv6 can involve a colon before it).
pub(super) fn ipv6_around(b: &[u8], colon: usize) -> (Option<(usize, usize)>, usize) {
    let is_v6 = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let mut s = colon;
    while s > 0 && is_v6(b[s - 1]) {
        s -= 1;
    }
    let mut e = colon + 1;
    while e < b.len() && is_v6(b[e]) {
        e += 1;
    }
    // Trailing dots are punctuation (`… at fe80::1.`).
    while e > colon + 1 && b[e - 1] == b'.' {
        e -= 1;
    }
    // So is a colon that ends a clause (`from 2001:db8::1: refused`), unless it is half of
    // a `::`.
    if e - s >= 3 && b[e - 1] == b':' && b[e - 2] != b':' {
        e -= 1;
    }
    let run_end = e;
    if is_word(before(b, s)) || is_word(at(b, e)) {
        return (None, run_end);
    }
    (ipv6_valid(&b[s..e]).then_some((s, e)), run_end)
}

/// RFC 4291 text form, plus the module's rule for compressed forms.
fn ipv6_valid(t: &[u8]) -> bool {
    if t.len() < 2 || t.len() > 45 {
        return false;
    }
    // Quick rejections first: times, MACs and most non-addresses have neither seven
    // colons nor a `::`.
    let colons = t.iter().filter(|&&c| c == b':').count();
    let double = t.windows(2).position(|w| w == b"::");
    if double.is_none() && !(colons == 7 || (colons == 6 && t.contains(&b'.'))) {
        return false;
    }
    if let Some(d) = double
        && t[d + 1..].windows(2).any(|w| w == b"::")
    {
        return false;
    }
    let (head, tail) = match double {
        Some(d) => (&t[..d], &t[d + 2..]),
        None => (t, &[][..]),
    };
    let mut groups = 0;
    let mut long_group = false;
    for (part_i, part) in [head, tail].into_iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        let pieces: usize = part.split(|&c| c == b':').count();
        for (i, g) in part.split(|&c| c == b':').enumerate() {
            let last = i + 1 == pieces && (part_i == 1 || double.is_none());
            if last && g.contains(&b'.') {
                if ipv4_len(g) != Some(g.len()) {
                    return false;
                }
                groups += 2;
                long_group = true;
                continue;
            }
            if g.is_empty() || g.len() > 4 || !g.iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            long_group |= g.len() >= 3;
            groups += 1;
        }
    }
    match double {
        None => groups == 8,
        Some(_) => (2..=7).contains(&groups) && long_group,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find_emails(text.as_bytes(), &mut out);
        out.iter().map(|f| &text[f.start..f.end]).collect()
    }

    fn v6(text: &str) -> Option<&str> {
        let colon = text.find(':')?;
        ipv6_around(text.as_bytes(), colon)
            .0
            .map(|(s, e)| &text[s..e])
    }

    #[test]
    fn email_rules() {
        assert_eq!(emails("to alice@example.com."), ["alice@example.com"]);
        assert_eq!(
            emails("<bob.smith+tag@mail.example.co.uk>"),
            ["bob.smith+tag@mail.example.co.uk"]
        );
        assert_eq!(emails("mailto:x@ex.io"), ["x@ex.io"]);
        assert_eq!(emails("..a@b.cd"), ["a@b.cd"]);
        for neg in [
            "user@localhost",
            "root@10.0.0.1",
            "icon@2x.png",
            "@example.com",
            "a@",
            "a@-b.com",
            "https://user:pw@example.com/",
            "ssh://git@github.com/x",
            "a.@b.com",
        ] {
            assert_eq!(emails(neg), Vec::<&str>::new(), "{neg}");
        }
    }

    #[test]
    fn ipv6_rules() {
        assert_eq!(v6("2001:db8::1 x"), Some("2001:db8::1"));
        assert_eq!(v6("[fe80::1]:80"), Some("fe80::1"));
        assert_eq!(
            v6("2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
            Some("2001:0db8:85a3:0000:0000:8a2e:0370:7334")
        );
        assert_eq!(v6("::ffff:192.0.2.1"), Some("::ffff:192.0.2.1"));
        // A clause-ending colon is punctuation; `::` is not.
        assert_eq!(
            v6("from 2001:db8:85a3::8a2e:370:7334: invalid"),
            Some("2001:db8:85a3::8a2e:370:7334")
        );
        assert_eq!(v6("peer fe80::1:"), Some("fe80::1"));
        assert_eq!(v6("prefix 2001:db8:: end"), Some("2001:db8::"));
        for neg in [
            "12:30:45",
            "ab:cd:ef:01:23:45",
            "std::io",
            "a::b",
            "::1",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "08:52:44.123",
            "12:30:45:",
            "ab:cd:ef:01:23:45: x",
        ] {
            assert_eq!(v6(neg), None, "{neg}");
        }
    }

    #[test]
    fn url_userinfo() {
        let t = b"https://user:p@ss@example.com/x";
        let sep = 5;
        assert_eq!(url_credentials_at(t, sep), Some((8, 17)));
        assert_eq!(url_credentials_at(b"https://example.com/a@b", 5), None);
        assert_eq!(url_credentials_at(b"://a@b", 0), None);
    }
}
