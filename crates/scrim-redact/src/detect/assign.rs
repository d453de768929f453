//! The `=` / `:` pass: assignments under sensitive key names (secrets, AWS secret keys,
//! SSNs under an `ssn` key) and IPv6 addresses, which are found from their colons.

use super::class::{at, before};
use super::net::ipv6_around;
use super::numeric::valid_ssn;
use super::{DetectorSet, Finding};
use crate::keys::SensitiveKeys;
use crate::kind::Kind;

/// Index of a lowercase ASCII alphanumeric in `0..36`.
#[inline]
fn idx(c: u8) -> Option<usize> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as usize),
        b'a'..=b'z' => Some((c - b'a') as usize + 10),
        b'A'..=b'Z' => Some((c - b'A') as usize + 10),
        _ => None,
    }
}

#[inline]
fn is_key(c: u8) -> bool {
    KEY[c as usize]
}

/// Key characters: `[A-Za-z0-9_.-]`.
const KEY: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
        c += 1;
    }
    t
};

/// [`idx`] as a table (`NONE` for non-alphanumerics).
const IDX: [u8; 256] = {
    let mut t = [NONE; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'z' => b - b'a' + 10,
            b'A'..=b'Z' => b - b'A' + 10,
            _ => NONE,
        };
        c += 1;
    }
    t
};
const NONE: u8 = 255;
const TRIGRAM_WORDS: usize = (36usize * 36 * 36).div_ceil(64);

#[inline]
fn trigram(a: u8, b: u8, c: u8) -> usize {
    (a as usize * 36 + b as usize) * 36 + c as usize
}

/// The compiled key-name side of the assignment detector.
#[derive(Debug, Clone)]
pub(super) struct Assignments {
    keys: SensitiveKeys,
    secret: bool,
    aws: bool,
    ssn: bool,
    /// The first three letters (lowercased, separators skipped) of each pattern, as a
    /// bit set over `36³` codes; shorter patterns in `bigrams` and `singles`. A key can
    /// only be sensitive if one of its words starts such a prefix: a cheap, exact
    /// prefilter before `is_sensitive`.
    trigrams: Box<[u64; TRIGRAM_WORDS]>,
    bigrams: Box<[bool; 36 * 36]>,
    singles: [bool; 36],
    /// Bit `i`: some pattern starts with the letter or digit of index `i` (a prefix hit
    /// needs one).
    first: u64,
    /// Keys of fewer bytes have fewer letters and digits than any prefix hit needs
    /// (3 with trigrams only), so they are never sensitive.
    shortest: usize,
}

impl Assignments {
    pub(super) fn new(set: DetectorSet, keys: &SensitiveKeys) -> Option<Assignments> {
        let secret = set.contains(Kind::Secret);
        let aws = set.contains(Kind::AwsSecretKey);
        let ssn = set.contains(Kind::Ssn);
        if !secret && !aws {
            return None;
        }
        let mut trigrams = Box::new([0u64; TRIGRAM_WORDS]);
        let mut bigrams = Box::new([false; 36 * 36]);
        let mut singles = [false; 36];
        let mut first = 0u64;
        let mut add = |p: &[u8]| match p {
            [a] => {
                if let Some(i) = idx(*a) {
                    singles[i] = true;
                    first |= 1 << i;
                }
            }
            [a, b] => {
                if let (Some(i), Some(j)) = (idx(*a), idx(*b)) {
                    bigrams[i * 36 + j] = true;
                    first |= 1 << i;
                }
            }
            [a, b, c, ..] => {
                if let (Some(i), Some(j), Some(k)) = (idx(*a), idx(*b), idx(*c)) {
                    let t = trigram(i as u8, j as u8, k as u8);
                    trigrams[t / 64] |= 1 << (t % 64);
                    first |= 1 << i;
                }
            }
            [] => {}
        };
        if secret {
            for p in keys.patterns() {
                add(p.as_bytes());
            }
        }
        if aws {
            add(b"aws");
            add(b"secretaccesskey");
        }
        let shortest = if singles.contains(&true) {
            1
        } else if bigrams.contains(&true) {
            2
        } else {
            3
        };
        Some(Assignments {
            keys: keys.clone(),
            secret,
            aws,
            ssn,
            trigrams,
            bigrams,
            singles,
            first,
            shortest,
        })
    }

    /// The length under which a key is never sensitive (see `shortest`).
    #[inline]
    pub(super) fn shortest_key(&self) -> usize {
        self.shortest
    }

    /// The plain form of the prefilter in [`Assignments::key_before`], kept as its
    /// specification: whether some word of `key` starts with a known first letter pair (the letters
    /// after it read across separators, as [`SensitiveKeys::is_sensitive`] joins words).
    /// Word starts are taken generously (every start `is_sensitive` uses is one), so
    /// this never rejects a sensitive key.
    #[cfg(test)]
    fn may_match(&self, key: &[u8]) -> bool {
        let n = key.len();
        for i in 0..n {
            let c = key[i];
            let Some(ci) = idx(c) else { continue };
            let p = if i == 0 { 0 } else { key[i - 1] };
            let start = !p.is_ascii_alphanumeric()
                || (p.is_ascii_lowercase() && c.is_ascii_uppercase())
                || (p.is_ascii_uppercase()
                    && c.is_ascii_uppercase()
                    && key.get(i + 1).is_some_and(u8::is_ascii_lowercase));
            if !start {
                continue;
            }
            let mut rest = key[i + 1..].iter().filter_map(|&x| idx(x));
            let (cj, ck) = (rest.next(), rest.next());
            if self.prefix_hit(
                ci as u8,
                cj.map_or(NONE, |x| x as u8),
                ck.map_or(NONE, |x| x as u8),
            ) {
                return true;
            }
        }
        false
    }

    /// Whether a word starting with `a`, `b`, `c` (indexes, `NONE` past the key) may
    /// start a pattern.
    #[inline]
    fn prefix_hit(&self, a: u8, b: u8, c: u8) -> bool {
        if self.singles[a as usize] {
            return true;
        }
        if b == NONE {
            return false;
        }
        if self.bigrams[a as usize * 36 + b as usize] {
            return true;
        }
        if c == NONE {
            return false;
        }
        let t = trigram(a, b, c);
        self.trigrams[t / 64] & (1 << (t % 64)) != 0
    }

    /// The kind of a value under `key` (`None`: not sensitive); `key` passed
    /// [`Assignments::may_match`].
    fn classify(&self, key: &[u8], value: &[u8]) -> Option<Kind> {
        let mut norm = [0u8; 64];
        let mut n = 0;
        for &c in key.iter().filter(|c| c.is_ascii_alphanumeric()) {
            if n == norm.len() {
                break;
            }
            norm[n] = c.to_ascii_lowercase();
            n += 1;
        }
        let norm = &norm[..n];
        let has = |w: &[u8]| memchr::memmem::find(norm, w).is_some();
        if self.aws
            && (has(b"secretaccesskey") || (has(b"aws") && has(b"secret")))
            && value.len() == 40
            && value
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'+'))
        {
            return Some(Kind::AwsSecretKey);
        }
        if !self.secret {
            return None;
        }
        let key_str = std::str::from_utf8(key).unwrap_or("");
        if !self.keys.is_sensitive(key_str) {
            return None;
        }
        if self.ssn && (has(b"ssn") || has(b"socialsecurity")) && ssn_value(value) {
            return Some(Kind::Ssn);
        }
        Some(Kind::Secret)
    }
}

/// Nine digits, or `AAA?GG?SSSS` with one dash or space, forming a valid SSN.
fn ssn_value(v: &[u8]) -> bool {
    let mut d = [0u32; 9];
    let mut n = 0;
    let mut seps = [0usize; 2];
    let mut ns = 0;
    for (i, &c) in v.iter().enumerate() {
        if c.is_ascii_digit() {
            if n == 9 {
                return false;
            }
            d[n] = u32::from(c - b'0');
            n += 1;
        } else if matches!(c, b'-' | b' ') && ns < 2 {
            seps[ns] = i;
            ns += 1;
        } else {
            return false;
        }
    }
    if n != 9 || !(ns == 0 || (ns == 2 && seps == [3, 6] && v[3] == v[6])) {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    valid_ssn(area, group, serial)
}

/// HTTP auth schemes whose word stays in clear before a credential.
const SCHEMES: [&[u8]; 5] = [b"bearer ", b"basic ", b"token ", b"digest ", b"negotiate "];

/// The separator detectors' state over one pass of [`super::scan::find`]: the
/// assignment detector (if any) and the IPv6 detector (if `ipv6`), which visit each `=`
/// and `:` in order.
pub(super) struct Separators<'a> {
    assign: Option<&'a Assignments>,
    ipv6: bool,
    /// Separators before `covered` are inside a value already reported.
    covered: usize,
    /// Colons before `v6_done` belong to a run already examined for IPv6.
    v6_done: usize,
}

impl<'a> Separators<'a> {
    pub(super) fn new(assign: Option<&'a Assignments>, ipv6: bool) -> Self {
        Separators {
            assign,
            ipv6,
            covered: 0,
            v6_done: 0,
        }
    }

    /// The `=` or `:` at `p`: both detectors, as if every separator were visited (the
    /// specification that [`super::scan`]'s rejections are tested against).
    #[cfg(test)]
    pub(super) fn visit(&mut self, b: &[u8], p: usize, out: &mut Vec<Finding>) {
        if b[p] == b':' {
            self.colon(b, p, out);
        }
        self.assignment(b, p, out);
    }

    /// The IPv6 detector at the colon at `p`: the run of IPv6 bytes around it is checked
    /// once (later colons of the run are skipped).
    #[inline]
    pub(super) fn colon(&mut self, b: &[u8], p: usize, out: &mut Vec<Finding>) {
        if !self.ipv6 || p < self.v6_done {
            return;
        }
        let hexish = |x: u8| x.is_ascii_hexdigit() || x == b':';
        if hexish(before(b, p)) || hexish(at(b, p + 1)) {
            let (found, run_end) = ipv6_around(b, p);
            self.v6_done = run_end;
            if let Some((s, e)) = found {
                out.push(Finding {
                    kind: Kind::Ipv6,
                    start: s,
                    end: e,
                });
            }
        }
    }

    /// The assignment detector at the separator (`=` or `:`) at `p`.
    #[inline]
    pub(super) fn assignment(&mut self, b: &[u8], p: usize, out: &mut Vec<Finding>) {
        let Some(a) = self.assign else { return };
        if p < self.covered {
            return;
        }
        let (c, next, prev) = (b[p], at(b, p + 1), before(b, p));
        if !is_key(prev) && !matches!(prev, b' ' | b'\t' | b'"' | b'\'') {
            return;
        }
        let sep_len = match (c, next) {
            (b':', b':') | (b':', b'/') => return,
            (b':', b'=') => 2,
            (b':', _) if prev == b':' => return,
            (b'=', b'=') => return,
            (b'=', b'>') => 2,
            (b'=', _) if matches!(prev, b'=' | b'!' | b'<' | b'>' | b':') => return,
            _ => 1,
        };
        let Some((ks, ke)) = a.key_before(b, p) else {
            return;
        };
        let Some((vs, ve)) = value_after(b, p + sep_len) else {
            return;
        };
        if let Some(kind) = a.classify(&b[ks..ke], &b[vs..ve]) {
            out.push(Finding {
                kind,
                start: vs,
                end: ve,
            });
            self.covered = ve;
        }
    }
}

impl Assignments {
    /// The key ending before the separator at `p` (optional spaces, an optionally quoted
    /// run of key characters), if it passes [`Assignments::may_match`]: computed in the
    /// same backward scan over the key, which stops looking at word starts after the
    /// first hit.
    #[inline]
    pub(super) fn key_before(&self, b: &[u8], p: usize) -> Option<(usize, usize)> {
        let mut e = p;
        while e > 0 && p - e < 8 && matches!(b[e - 1], b' ' | b'\t') {
            e -= 1;
        }
        let quote = match before(b, e) {
            q @ (b'"' | b'\'') => {
                e -= 1;
                Some(q)
            }
            _ => None,
        };
        // Backwards over the key characters: `i` is one past the byte looked at.
        let (mut next, mut next2) = (NONE, NONE);
        let mut hit = false;
        let mut i = e;
        while i > 0 {
            let c = b[i - 1];
            let ci = KIDX[c as usize];
            if ci == NOT_KEY {
                break;
            }
            i -= 1;
            if ci == NONE {
                continue;
            }
            if self.first & (1 << ci) != 0 {
                // A word starts here (the byte before is not alphanumeric, or a
                // lower→upper change, or the last capital of an acronym)?
                let pc = before(b, i);
                let start = !pc.is_ascii_alphanumeric()
                    || (pc.is_ascii_lowercase() && c.is_ascii_uppercase())
                    || (pc.is_ascii_uppercase()
                        && c.is_ascii_uppercase()
                        && i + 1 < e
                        && b[i + 1].is_ascii_lowercase());
                if start && self.prefix_hit(ci, next, next2) {
                    hit = true;
                    while i > 0 && is_key(b[i - 1]) {
                        i -= 1;
                    }
                    break;
                }
            }
            next2 = next;
            next = ci;
        }
        let s = i;
        if !hit || s == e {
            return None;
        }
        if let Some(q) = quote
            && before(b, s) != q
        {
            return None;
        }
        // Exactness is pinned by a unit test against `may_match`.
        Some((s, e))
    }
}

/// [`IDX`] for key characters, `NONE` for the key characters `_`, `.`, `-`, `NOT_KEY`
/// for the rest.
const KIDX: [u8; 256] = {
    let mut t = [NOT_KEY; 256];
    let mut c = 0;
    while c < 256 {
        if KEY[c] {
            t[c] = IDX[c];
        }
        c += 1;
    }
    t
};
const NOT_KEY: u8 = 254;

/// The key ending before the separator at `p`: optional spaces, an optionally quoted run
/// of key characters.
#[cfg(test)]
fn key_range(b: &[u8], p: usize) -> Option<(usize, usize)> {
    let mut e = p;
    while e > 0 && p - e < 8 && matches!(b[e - 1], b' ' | b'\t') {
        e -= 1;
    }
    let quote = match before(b, e) {
        q @ (b'"' | b'\'') => {
            e -= 1;
            Some(q)
        }
        _ => None,
    };
    let mut s = e;
    while s > 0 && is_key(b[s - 1]) {
        s -= 1;
    }
    if s == e {
        return None;
    }
    if let Some(q) = quote
        && before(b, s) != q
    {
        return None;
    }
    Some((s, e))
}

/// The value after a separator ending at `from`.
fn value_after(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut s = from;
    while s < b.len() && s - from < 8 && matches!(b[s], b' ' | b'\t') {
        s += 1;
    }
    let (mut vs, ve) = match at(b, s) {
        q @ (b'"' | b'\'') => {
            let vs = s + 1;
            let mut p = vs;
            while p < b.len() && b[p] != q && b[p] != b'\n' {
                p += if b[p] == b'\\' { 2 } else { 1 };
            }
            (vs, p.min(b.len()))
        }
        b'{' => return None,
        _ => (s, s + unquoted_len(b, s)),
    };
    let quoted = vs != s;
    for scheme in SCHEMES {
        if b.len() - vs > scheme.len() && b[vs..vs + scheme.len()].eq_ignore_ascii_case(scheme) {
            vs += scheme.len();
            if !quoted {
                let e = vs + unquoted_len(b, vs);
                return (e > vs).then_some((vs, e));
            }
            break;
        }
    }
    // A lone `?` is a placeholder the SQL and URL obfuscation left (`card_number = ?`):
    // nothing is there to redact, and a marker would only hide the statement's shape.
    if b.get(vs..ve) == Some(b"?".as_slice()) {
        return None;
    }
    // A value ends on a char boundary: every terminator above is ASCII, and a backslash
    // escape that skipped past the end was clamped.
    (ve > vs).then_some((vs, ve))
}

fn unquoted_len(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .take_while(|&&c| !(c.is_ascii_whitespace() || matches!(c, b'&' | b',' | b';' | b'"')))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(Kind, &str)> {
        let a = Assignments::new(DetectorSet::all(), &SensitiveKeys::default());
        let mut out = Vec::new();
        let mut s = Separators::new(a.as_ref(), true);
        for p in memchr::memchr2_iter(b'=', b':', text.as_bytes()) {
            s.visit(text.as_bytes(), p, &mut out);
        }
        out.iter()
            .map(|f| (f.kind, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn placeholders_left_by_obfuscation_are_not_values() {
        assert_eq!(found("UPDATE cards SET card_number = ? WHERE id = ?"), []);
        assert_eq!(found("/login?password=?&user=?"), []);
        assert_eq!(found("password='?'"), []);
        // A value that merely starts with `?` is still one.
        assert_eq!(found("password=?hunter2"), [(Kind::Secret, "?hunter2")]);
    }

    #[test]
    fn assignments() {
        assert_eq!(found("password=hunter2 next"), [(Kind::Secret, "hunter2")]);
        assert_eq!(found("pwd: x"), [(Kind::Secret, "x")]);
        assert_eq!(
            found(r#"{"secret": "a b\"c", "n": 1}"#),
            [(Kind::Secret, r#"a b\"c"#)]
        );
        assert_eq!(found("api_key='k1'"), [(Kind::Secret, "k1")]);
        assert_eq!(found("?token=abc&next=1"), [(Kind::Secret, "abc")]);
        assert_eq!(
            found("Authorization: Bearer abc.def"),
            [(Kind::Secret, "abc.def")]
        );
        assert_eq!(found("password := \"x\""), [(Kind::Secret, "x")]);
        assert_eq!(found("ssn=123456789"), [(Kind::Ssn, "123456789")]);
        assert_eq!(
            found("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            [(
                Kind::AwsSecretKey,
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
            )]
        );
        assert_eq!(
            found("password=\"unterminated\nnext=1"),
            [(Kind::Secret, "unterminated")]
        );
        for neg in [
            "tokenizer=bpe",
            "password=",
            "password==x",
            "a=b",
            "https://x",
            "password={",
            "std::x",
        ] {
            assert_eq!(found(neg), [], "{neg}");
        }
    }

    #[test]
    fn fused_key_scan_agrees_with_may_match() {
        let a = Assignments::new(DetectorSet::all(), &SensitiveKeys::default()).expect("on");
        for key in [
            "password",
            "user_id",
            "XMLHttpToken",
            "path",
            "a_pass",
            "apiKey",
            "x-api-key",
            "status",
            "pa",
            "pas",
            "product",
            "pr_i",
            "p_i_n",
            "x.pin",
            "\"secret\"",
            "cvv2",
            "p",
            "ssn",
            "db.password",
            "tokenizer",
            "aB",
        ] {
            let text = format!("{key}=v");
            let p = key.len();
            let fused = a.key_before(text.as_bytes(), p).is_some();
            let plain = key_range(text.as_bytes(), p)
                .is_some_and(|(s, e)| a.may_match(&text.as_bytes()[s..e]));
            assert_eq!(fused, plain, "{key}");
            // The prefilter never rejects a sensitive key.
            assert!(
                fused || !SensitiveKeys::default().is_sensitive(key),
                "{key}"
            );
        }
    }

    #[test]
    fn prefilter_never_rejects_a_sensitive_key() {
        let a = Assignments::new(DetectorSet::all(), &SensitiveKeys::default()).expect("on");
        let keys = SensitiveKeys::default();
        let parts = [
            "pass", "word", "p", "in", "a", "pi", "Key", "x", "A", "Token", "_", "-", ".", "se",
            "cret", "Card", "ssn", "o", "tp", "Api", "KEY", "9", "auth", "cv", "v2",
        ];
        let mut seed = 3u64;
        for _ in 0..20_000 {
            let mut key = String::new();
            for _ in 0..1 + seed % 5 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                key.push_str(parts[(seed % parts.len() as u64) as usize]);
            }
            let text = format!("{key}=v");
            let Some((s, e)) = key_range(text.as_bytes(), key.len()) else {
                continue;
            };
            if keys.is_sensitive(&text[s..e]) {
                assert!(a.key_before(text.as_bytes(), key.len()).is_some(), "{key}");
            }
        }
    }

    #[test]
    fn ssn_values() {
        assert!(ssn_value(b"123-45-6789"));
        assert!(ssn_value(b"123 45 6789"));
        assert!(!ssn_value(b"123-45 6789"));
        assert!(!ssn_value(b"000456789"));
    }
}
