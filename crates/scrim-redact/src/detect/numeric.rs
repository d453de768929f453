//! Numbers: payment cards, US SSNs, IPv4 addresses and IBANs. The fused pass
//! ([`super::scan`]) finds the candidates 64 bytes at a time; the anchored checks run here.

use super::class::{at, before, is_word};
use super::scan::{Masks, back};
use super::{DetectorSet, Finding, marker_ends_at, marker_starts_at};
use crate::kind::Kind;

/// The number detectors' state over one pass of [`super::scan::find`].
pub(super) struct Numbers {
    st: State,
    want_card: u64,
    want_ssn: u64,
    want_iban: u64,
    want_ip: u64,
    /// Tests: trigger as before the mask-stage rejections (every four-digit run after a
    /// non-word byte, every digit-dot-digit with three such in 9 bytes), to check that
    /// they change nothing.
    #[cfg(test)]
    pub(super) exhaustive: bool,
}

impl Numbers {
    /// The number detectors of `set`, if any.
    pub(super) fn new(set: DetectorSet) -> Option<Numbers> {
        let st = State {
            card: set.contains(Kind::Card),
            ssn: set.contains(Kind::Ssn),
            ipv4: set.contains(Kind::Ipv4),
            iban: set.contains(Kind::Iban),
            card_skip: 0,
            done: 0,
        };
        if !(st.card || st.ssn || st.ipv4 || st.iban) {
            return None;
        }
        Some(Numbers {
            want_card: if st.card { u64::MAX } else { 0 },
            want_ssn: if st.ssn { u64::MAX } else { 0 },
            want_iban: if st.iban { u64::MAX } else { 0 },
            want_ip: if st.ipv4 { u64::MAX } else { 0 },
            st,
            #[cfg(test)]
            exhaustive: false,
        })
    }

    /// The 64-byte block at `i`, with its class bits `m` and the previous block's `p`.
    ///
    /// Without branches, it computes where a candidate can be:
    /// - four digits starting right after a non-word byte (the first group of a card, a
    ///   card without separators, the serial of an SSN, whose start is then 7 bytes back),
    ///   and then only if they end the shape `AAA-GG-SSSS` (digits and dashes), or if the
    ///   first of them is `2` to `6` (as every card's) and the groups from there may hold
    ///   a card (see `short` below);
    /// - two letters and two digits after a non-word byte (an IBAN's start, if the
    ///   letters are uppercase);
    /// - a digit, a dot and a digit (inside an IPv4 address), and then only if two more
    ///   such triples follow, each 2 to 4 bytes after the one before (as the other two
    ///   octets of a dotted quad do), or the block ends too soon to tell.
    ///
    /// Only there do the anchored checks run. Ordinary log text (short numbers, hex ids,
    /// dates) triggers a few times per line at most.
    #[inline]
    pub(super) fn block(
        &mut self,
        b: &[u8],
        i: usize,
        m: &Masks,
        p: &Masks,
        out: &mut Vec<Finding>,
    ) {
        let d = m.digit;
        let bd = |k| back(d, p.digit, k);
        let d1 = bd(1);
        let nw4 = !back(m.word, p.word, 4);
        let four = d & d1 & bd(2) & bd(3) & nw4;
        let (dash, pdash) = (m.dash, p.dash);
        let ssn_shape =
            back(dash, pdash, 4) & bd(5) & bd(6) & back(dash, pdash, 7) & bd(8) & bd(9) & bd(10);
        // Runs whose card check can neither find a card nor change what a later one
        // finds: the groups joined by single dashes from here end within 8 bytes (so
        // they hold fewer than 12 digits) and not at a space or other byte before a
        // digit. (`card_at` would only move `card_skip` to their end, and any trigger
        // inside them would do the same; dates: `2024-11-24T…`.) Unknown for `j > 54`.
        let chain = d | (dash & d1 & (d >> 1));
        let end_ok = !chain & !(!m.word & (d >> 1));
        let short = short_groups(chain, end_ok);
        let four = four
            & ((back(m.lead, p.lead, 3) & !short & self.want_card) | (ssn_shape & self.want_ssn));
        // Letters or `_` (the IBAN check wants uppercase letters: a superset is enough).
        let (l, pl) = (m.word & !m.digit, p.word & !p.digit);
        let iban = d & d1 & back(l, pl, 2) & back(l, pl, 3) & nw4 & self.want_iban;
        let ip = d & back(m.dot, p.dot, 1) & bd(2) & self.want_ip;
        // A dotted quad found from `ip` bit `j` has its first dot right before `j`, and
        // the other two octets start 2 to 4 bytes apart after it: `ip` bits too, within
        // `j..=j + 8` (past the block for `j > 55`, where the check always runs).
        let next = |x: u64| (x >> 2) | (x >> 3) | (x >> 4);
        let ip = ip & (next(ip & next(ip)) | (u64::MAX << 56));
        #[cfg(test)]
        let (four, ip) = if self.exhaustive {
            let ip = d & back(m.dot, p.dot, 1) & bd(2) & self.want_ip;
            let three = (0..64).fold(0u64, |a, j| {
                a | (u64::from(j > 55 || ((ip >> j) & 0x1ff).count_ones() >= 3) << j)
            });
            let four = d & d1 & bd(2) & bd(3) & nw4 & (self.want_card | self.want_ssn);
            (four, ip & three)
        } else {
            (four, ip)
        };
        #[cfg(test)]
        let exhaustive = self.exhaustive;
        let mut trig = four | iban | ip;
        let st = &mut self.st;
        while trig != 0 {
            let j = trig.trailing_zeros() as usize;
            let bit = 1u64 << j;
            trig &= trig - 1;
            let pos = i + j;
            if pos < st.done {
                continue;
            }
            if four & bit != 0 {
                // The end of the digit run, from the bits while it stays in the block.
                let rest = if j < 63 {
                    (!(d >> (j + 1))).trailing_zeros() as usize
                } else {
                    0
                };
                let e = if j + 1 + rest < 64 {
                    pos + 1 + rest
                } else {
                    pos + 1 + run_digits(b, pos + 1)
                };
                // A card in dashed groups from here: `chain` (digits, and dashes between
                // two digits) from the bits (`None` when it may leave the block).
                let dashed = || {
                    #[cfg(test)]
                    if exhaustive {
                        return None;
                    }
                    let rest = !chain >> j;
                    let end = j + rest.trailing_zeros() as usize;
                    if rest == 0 || end >= 63 {
                        return None;
                    }
                    let digits = 4 + (d & ((1u64 << end) - (2u64 << j))).count_ones();
                    Some((digits, i + end))
                };
                st.four_digits(b, pos - 3, e, dashed, out);
            }
            if pos >= st.done && iban & bit != 0 {
                st.iban(b, pos - 3, out);
            }
            if pos >= st.done && ip & bit != 0 {
                st.dotted(b, pos - 2, out);
            }
        }
    }
}

/// Bit `j`: the first byte after `j` that is not in `chain` is within 8 bytes and in
/// `end_ok` (a subset of `!chain`); 0 for `j > 54`, where that may lie past the block.
/// Computed by doubling (distances 1, 2, 4, 8) rather than one step per byte, which
/// would be a chain of 16 dependent operations per block.
#[inline(always)]
fn short_groups(chain: u64, end_ok: u64) -> u64 {
    // `c1`: bit `j` has `chain` at `j + 1`; `c2`, `c4`: at `j + 1 ..= j + 2` and `j + 4`.
    let c1 = chain >> 1;
    let c2 = c1 & (chain >> 2);
    let c4 = c2 & (c2 >> 2);
    let d1 = end_ok >> 1;
    let d2 = d1 | ((d1 >> 1) & c1);
    let d4 = d2 | ((d2 >> 2) & c2);
    let d8 = d4 | ((d4 >> 4) & c4);
    d8 & (u64::MAX >> 9)
}

struct State {
    card: bool,
    ssn: bool,
    ipv4: bool,
    iban: bool,
    /// Card candidates are not looked for again before this offset.
    card_skip: usize,
    /// Triggers before this offset are inside a finding already made.
    done: usize,
}

impl State {
    fn push(&mut self, kind: Kind, start: usize, end: usize, out: &mut Vec<Finding>) {
        out.push(Finding { kind, start, end });
        self.done = end;
    }

    /// A run of at least four digits, `s..e`, after a non-word byte. `dashed`: the number
    /// of digits in the groups joined by single dashes from `s`, and where they end, if
    /// known.
    #[inline]
    fn four_digits(
        &mut self,
        b: &[u8],
        s: usize,
        e: usize,
        dashed: impl FnOnce() -> Option<(u32, usize)>,
        out: &mut Vec<Finding>,
    ) {
        let len = e - s;
        if self.ssn
            && len == 4
            && s >= 7
            && b[s - 1] == b'-'
            && let Some(end) = ssn_at(b, s - 7)
        {
            return self.push(Kind::Ssn, s - 7, end, out);
        }
        let next = at(b, e);
        // Every card starts with 2–6 (the IIN table of `valid_card`). Skipping the others
        // leaves `card_skip` where it was, which only saves later calls.
        if self.card
            && s >= self.card_skip
            && matches!(b[s], b'2'..=b'6')
            && (len >= 12 || (matches!(next, b' ' | b'-') && at(b, e + 1).is_ascii_digit()))
        {
            // Dates (`2024-11-24T…`) have too few digits for a card: `card_at` would say
            // so, and where to skip to, after walking them.
            if len < 12
                && next == b'-'
                && let Some((digits, end)) = dashed()
                && digits < 12
            {
                self.card_skip = end;
                return;
            }
            match card_at(b, s) {
                CardScan::Found(end) => self.push(Kind::Card, s, end, out),
                CardScan::TooShort(end) => self.card_skip = end,
                CardScan::None => {}
            }
        }
    }

    /// Two uppercase letters and two digits start at `s`, after a non-word byte.
    fn iban(&mut self, b: &[u8], s: usize, out: &mut Vec<Finding>) {
        if let Some(end) = iban_at(b, s) {
            self.push(Kind::Iban, s, end, out);
        }
    }

    /// A digit, a dot and a digit start at `p`: try the dotted number around it.
    fn dotted(&mut self, b: &[u8], p: usize, out: &mut Vec<Finding>) {
        // Back to the start of the first octet (at most three digits).
        let mut s = p;
        while s > 0 && p - s < 3 && b[s - 1].is_ascii_digit() {
            s -= 1;
        }
        if s < self.done || before(b, s).is_ascii_digit() {
            return;
        }
        if let Some(end) = ipv4_at(b, s) {
            self.push(Kind::Ipv4, s, end, out);
        }
    }
}

#[inline]
fn run_digits(b: &[u8], from: usize) -> usize {
    b[from..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// The number-boundary rule before `s`: not a word character, nor `.`/`-` after a digit.
/// (A marker counts as a digit there: it may have replaced one, and redacting again must
/// decide as the first time did.)
#[inline]
fn free_before(b: &[u8], s: usize) -> bool {
    let p = before(b, s);
    !(is_word(p)
        || (matches!(p, b'.' | b'-')
            && s >= 2
            && (b[s - 2].is_ascii_digit() || marker_ends_at(b, s - 1))))
}

/// The number-boundary rule after `e`: not a word character, nor `.`/`-` before a digit
/// (or a marker).
#[inline]
fn free_after(b: &[u8], e: usize) -> bool {
    let n = at(b, e);
    !(is_word(n)
        || (matches!(n, b'.' | b'-')
            && (at(b, e + 1).is_ascii_digit() || marker_starts_at(b, e + 1))))
}

enum CardScan {
    /// A card from the start to this offset.
    Found(usize),
    /// No card can start anywhere in the group sequence that ends here.
    TooShort(usize),
    None,
}

/// A card starting at the digit `s`: groups separated by one space or one dash (the same
/// throughout), 12–19 digits, IIN range and length, Luhn; the longest valid one.
fn card_at(b: &[u8], s: usize) -> CardScan {
    let boundary = free_before(b, s);
    let mut digits = [0u8; 19];
    let mut n = 0;
    let mut sep = 0u8;
    let mut p = s;
    let mut best = None;
    loop {
        // One group.
        while p < b.len() && b[p].is_ascii_digit() {
            if n == 19 {
                // Too many digits for a card from here.
                return best.map_or(CardScan::None, CardScan::Found);
            }
            digits[n] = b[p] - b'0';
            n += 1;
            p += 1;
        }
        if boundary && n >= 12 && free_after(b, p) && valid_card(&digits[..n]) {
            best = Some(p);
        }
        let c = at(b, p);
        if matches!(c, b' ' | b'-') && (sep == 0 || sep == c) && at(b, p + 1).is_ascii_digit() {
            sep = c;
            p += 1;
        } else {
            break;
        }
    }
    match best {
        Some(e) => CardScan::Found(e),
        None if n < 12 => CardScan::TooShort(p),
        None => CardScan::None,
    }
}

/// IIN range and length, then Luhn.
pub(crate) fn valid_card(d: &[u8]) -> bool {
    let n = d.len();
    let prefix = |k: usize| d[..k].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    let ok = match p1 {
        4 => matches!(n, 13 | 16 | 19),
        2 => {
            ((2221..=2720).contains(&p4) && n == 16)
                || ((2200..=2204).contains(&p4) && (16..=19).contains(&n))
        }
        3 => {
            ((p2 == 34 || p2 == 37) && n == 15)
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&n))
                || (((300..=305).contains(&p3) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39)
                    && (14..=19).contains(&n))
        }
        5 => {
            ((51..=55).contains(&p2) && n == 16)
                || (matches!(p4, 5018 | 5020 | 5038 | 5893) && (12..=19).contains(&n))
        }
        6 => {
            ((p4 == 6011
                || (644..=649).contains(&p3)
                || p2 == 65
                || (622126..=622925).contains(&p6)
                || p2 == 62)
                && (16..=19).contains(&n))
                || (matches!(p4, 6304 | 6759 | 6761 | 6762 | 6763) && (12..=19).contains(&n))
        }
        _ => false,
    };
    ok && luhn(d)
}

/// The Luhn checksum over decimal digit values.
pub(crate) fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// `AAA-GG-SSSS` at `s`, with the number boundaries and the SSA's invalid values.
fn ssn_at(b: &[u8], s: usize) -> Option<usize> {
    let g = |i: usize, n: usize| -> Option<u32> {
        let part = b.get(s + i..s + i + n)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0u32, |a, &c| a * 10 + u32::from(c - b'0')))
    };
    if at(b, s + 3) != b'-' || at(b, s + 6) != b'-' {
        return None;
    }
    let (area, group, serial) = (g(0, 3)?, g(4, 2)?, g(7, 4)?);
    let e = s + 11;
    (free_before(b, s) && free_after(b, e) && valid_ssn(area, group, serial)).then_some(e)
}

/// The SSA's never-issued values.
pub(crate) fn valid_ssn(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// A dotted-quad IPv4 address at `s`.
pub(crate) fn ipv4_at(b: &[u8], s: usize) -> Option<usize> {
    let p = before(b, s);
    if is_word(p) || p == b'.' {
        return None;
    }
    let e = ipv4_len(&b[s..])? + s;
    let n = at(b, e);
    if is_word(n) || (n == b'.' && at(b, e + 1).is_ascii_digit()) {
        return None;
    }
    Some(e)
}

/// Length of a dotted quad at the start of `b` (octets 0–255, no leading zeros).
pub(crate) fn ipv4_len(b: &[u8]) -> Option<usize> {
    let mut p = 0;
    for k in 0..4 {
        if k > 0 {
            if at(b, p) != b'.' {
                return None;
            }
            p += 1;
        }
        let n = run_digits_max(b, p, 4);
        if n == 0 || n > 3 || (n > 1 && b[p] == b'0') {
            return None;
        }
        let v = b[p..p + n]
            .iter()
            .fold(0u32, |a, &c| a * 10 + u32::from(c - b'0'));
        if v > 255 {
            return None;
        }
        p += n;
    }
    Some(p)
}

fn run_digits_max(b: &[u8], from: usize, max: usize) -> usize {
    b.get(from..)
        .unwrap_or(&[])
        .iter()
        .take(max)
        .take_while(|c| c.is_ascii_digit())
        .count()
}

/// IBAN lengths by country (SWIFT IBAN registry).
fn iban_length(cc: [u8; 2]) -> Option<usize> {
    Some(match &cc {
        b"NO" => 15,
        b"BE" => 16,
        b"DK" | b"FI" | b"FO" | b"GL" | b"NL" | b"SD" | b"FK" => 18,
        b"MK" | b"SI" => 19,
        b"AT" | b"BA" | b"EE" | b"KZ" | b"LT" | b"LU" | b"XK" | b"MN" => 20,
        b"CH" | b"HR" | b"LI" | b"LV" => 21,
        b"BG" | b"BH" | b"CR" | b"DE" | b"GB" | b"GE" | b"IE" | b"ME" | b"RS" | b"VA" => 22,
        b"AE" | b"GI" | b"IL" | b"IQ" | b"TL" | b"SO" | b"OM" => 23,
        b"AD" | b"CZ" | b"ES" | b"MD" | b"PK" | b"RO" | b"SA" | b"SE" | b"SK" | b"TN" | b"VG" => 24,
        b"LY" | b"PT" | b"ST" => 25,
        b"IS" | b"TR" => 26,
        b"FR" | b"GR" | b"IT" | b"MC" | b"MR" | b"SM" | b"BI" | b"DJ" => 27,
        b"AL" | b"AZ" | b"BY" | b"CY" | b"DO" | b"GT" | b"HU" | b"LB" | b"PL" | b"SV" | b"NI"
        | b"HN" => 28,
        b"BR" | b"EG" | b"PS" | b"QA" | b"UA" => 29,
        b"JO" | b"KW" | b"MU" | b"YE" => 30,
        b"MT" | b"SC" => 31,
        b"LC" => 32,
        b"RU" => 33,
        _ => return None,
    })
}

/// An IBAN at `s` (its country code): compact or in space-separated groups of four.
fn iban_at(b: &[u8], s: usize) -> Option<usize> {
    let cc = [b[s], b[s + 1]];
    if !cc.iter().all(u8::is_ascii_uppercase) || is_word(before(b, s)) {
        return None;
    }
    let len = iban_length(cc)?;
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut p = s;
    let mut spaced = false;
    while n < len {
        if spaced && n % 4 == 0 {
            if at(b, p) != b' ' {
                return None;
            }
            p += 1;
        }
        let c = at(b, p);
        if !(c.is_ascii_digit() || c.is_ascii_uppercase()) {
            return None;
        }
        chars[n] = c;
        n += 1;
        p += 1;
        if n == 4 {
            spaced = at(b, p) == b' ';
        }
    }
    if is_word(at(b, p)) || !chars[2].is_ascii_digit() || !chars[3].is_ascii_digit() {
        return None;
    }
    mod97(&chars[..n]).then_some(p)
}

/// The IBAN check: move the first four characters to the end, letters to 10–35, mod 97.
pub(crate) fn mod97(iban: &[u8]) -> bool {
    let mut r = 0u32;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        if c.is_ascii_digit() {
            r = (r * 10 + u32::from(c - b'0')) % 97;
        } else {
            r = (r * 100 + u32::from(c - b'A') + 10) % 97;
        }
    }
    r == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(Kind, &str)> {
        let mut out = Vec::new();
        super::super::scan::find(
            DetectorSet::all(),
            None,
            text.as_bytes(),
            true,
            true,
            &mut out,
        );
        out.retain(|f| f.kind != Kind::Ipv6);
        out.iter()
            .map(|f| (f.kind, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn cards() {
        assert_eq!(
            found("cc 4111 1111 1111 1111."),
            [(Kind::Card, "4111 1111 1111 1111")]
        );
        assert_eq!(
            found("5500-0000-0000-0004"),
            [(Kind::Card, "5500-0000-0000-0004")]
        );
        assert_eq!(
            found("x=378282246310005"),
            [(Kind::Card, "378282246310005")]
        );
        assert_eq!(
            found("n 12 4111 1111 1111 1111 ok"),
            [(Kind::Card, "4111 1111 1111 1111")]
        );
        for neg in [
            "1234567812345678",
            "1732406400000",
            "4111111111111112",
            "a4111111111111111",
            "41111111111111110",
            "4111 1111-1111 1111",
            "0.4111111111111111",
            "2024-11-24 08:52:44",
        ] {
            assert_eq!(found(neg), [], "{neg}");
        }
    }

    #[test]
    fn ssns() {
        assert_eq!(found("ssn 123-45-6789"), [(Kind::Ssn, "123-45-6789")]);
        for neg in [
            "000-12-3456",
            "666-12-3456",
            "901-12-3456",
            "123-00-4567",
            "123-45-0000",
            "1123-45-6789",
            "123-45-67890",
        ] {
            assert_eq!(found(neg), [], "{neg}");
        }
    }

    #[test]
    fn ipv4() {
        assert_eq!(found("from 10.0.0.1:8080"), [(Kind::Ipv4, "10.0.0.1")]);
        assert_eq!(found("192.168.1.254."), [(Kind::Ipv4, "192.168.1.254")]);
        for neg in [
            "v1.2.3.4",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "a.1.2.3.4",
        ] {
            assert_eq!(found(neg), [], "{neg}");
        }
    }

    #[test]
    fn ibans() {
        assert_eq!(
            found("DE89370400440532013000"),
            [(Kind::Iban, "DE89370400440532013000")]
        );
        assert_eq!(
            found("to GB82 WEST 1234 5698 7654 32."),
            [(Kind::Iban, "GB82 WEST 1234 5698 7654 32")]
        );
        assert_eq!(found("NO9386011117947"), [(Kind::Iban, "NO9386011117947")]);
        assert_eq!(found("DE88370400440532013000"), []);
        assert_eq!(found("GB82 WEST12345698765432"), []);
    }

    /// `short_groups` against its definition, one step per byte.
    #[test]
    fn short_groups_match_the_byte_by_byte_definition() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            // Chains dense enough for long runs.
            let chain = next() | next() | next();
            let end_ok = !chain & next();
            let (mut run, mut short) = (u64::MAX, 0);
            for k in 1..=8 {
                short |= run & (end_ok >> k);
                run &= chain >> k;
            }
            assert_eq!(
                super::short_groups(chain, end_ok),
                short & (u64::MAX >> 9),
                "{chain:#x} {end_ok:#x}"
            );
        }
    }
}
