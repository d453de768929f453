//! The fused pass over the text for the number detectors (cards, SSNs, IBANs, IPv4) and
//! the separator detectors (assignments, IPv6): the text is read once, 64 bytes at a
//! time, into one bit per byte for each byte class those detectors look at; the
//! candidates are computed with shifts and masks over those bits, and only there do the
//! anchored checks run. The bits also give the extent of a digit run (not walked again
//! byte by byte) and of the key before each separator (so that the key check's verdict
//! is reused when the same key comes again).

use super::assign::{Assignments, Separators};
use super::numeric::Numbers;
use super::{DetectorSet, Finding};
use crate::kind::Kind;

/// One bit per byte of a 64-byte block (bit `k` for the block's byte `k`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Masks {
    /// ASCII digits.
    pub(super) digit: u64,
    /// Word characters: ASCII letters, digits, `_`.
    pub(super) word: u64,
    /// `.`.
    pub(super) dot: u64,
    /// `-`.
    pub(super) dash: u64,
    /// The digits `2` to `6` (the first digit of every card).
    pub(super) lead: u64,
    /// The bytes of an IPv6 address: hex digits, `:`, `.`.
    pub(super) v6: u64,
    /// `=` and `:`.
    pub(super) sep: u64,
}

impl Masks {
    /// The bits of `block`, whose bytes from `16 * LANES` on are of no class (the spaces
    /// that pad a text's tail) and give 0 bits.
    #[inline(always)]
    fn of<const LANES: usize>(block: &[u8; 64]) -> Masks {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            sse2::masks::<LANES>(block)
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            Masks::portable(block)
        }
    }

    /// Key characters of the assignment detector: word characters, `.`, `-`.
    #[inline(always)]
    pub(super) fn key(&self) -> u64 {
        self.word | self.dot | self.dash
    }
}

/// [`Masks::of`] without SIMD instructions, for other targets; the x86-64 build uses
/// `sse2::masks` and tests it against this.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
mod portable {
    use super::Masks;

    const DIGIT: u8 = 1;
    const WORD: u8 = 2;
    const DOT: u8 = 4;
    const SEP: u8 = 8;
    const DASH: u8 = 16;
    const LEAD: u8 = 32;
    const V6: u8 = 128;
    const LO: u64 = 0x0101_0101_0101_0101;
    /// Multiplying bytes of 0 or 1 by this gathers them into the top byte (byte `k`'s bit
    /// to bit `56 + k`; no two products overlap, so there are no carries).
    const GATHER: u64 = 0x0102_0408_1020_4080;

    /// The class bits of one byte (a sum of the constants above). Branch-free, so that
    /// the compiler computes it sixteen bytes at a time.
    #[inline(always)]
    fn class(c: u8) -> u8 {
        let digit = c.wrapping_sub(b'0') < 10;
        let upper = c.wrapping_sub(b'A') < 26;
        let lower = c.wrapping_sub(b'a') < 26;
        let word = digit | upper | lower | (c == b'_');
        let dot = c == b'.';
        (u8::from(digit) * DIGIT)
            | (u8::from(word) * WORD)
            | (u8::from(dot) * DOT)
            | (u8::from((c == b'=') | (c == b':')) * SEP)
            | (u8::from(c == b'-') * DASH)
            | (u8::from(c.wrapping_sub(b'2') < 5) * LEAD)
            | (u8::from(c.is_ascii_hexdigit() || c == b':' || dot) * V6)
    }

    impl Masks {
        /// The class bytes, computed branch-free so that the compiler vectorises them,
        /// gathered eight at a time by a multiply.
        #[inline(always)]
        pub(in super::super) fn portable(block: &[u8; 64]) -> Masks {
            let cls: [u8; 64] = std::array::from_fn(|k| class(block[k]));
            let mut m = Masks::default();
            for q in 0..8 {
                let mut w = [0u8; 8];
                w.copy_from_slice(&cls[q * 8..q * 8 + 8]);
                let x = u64::from_le_bytes(w);
                let g = |bit: u32| ((((x >> bit) & LO).wrapping_mul(GATHER)) >> 56) << (8 * q);
                m.digit |= g(0);
                m.word |= g(1);
                m.dot |= g(2);
                m.sep |= g(3);
                m.dash |= g(4);
                m.lead |= g(5);
                m.v6 |= g(7);
            }
            m
        }
    }
}

/// The class masks with SSE2 (part of the x86-64 baseline): sixteen bytes per compare,
/// the bits taken out with `pmovmskb`. Through `safe_arch`, whose functions wrap the
/// `core::arch` intrinsics for the target features the build enables: the intrinsics
/// themselves can only be called from `unsafe` code or a `#[target_feature]` function
/// (rustc 1.95 does not count the features enabled by default), and this workspace
/// forbids `unsafe`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use safe_arch::{
        add_i8_m128i, cmp_eq_mask_i8_m128i, cmp_lt_mask_i8_m128i, load_unaligned_m128i, m128i,
        move_mask_i8_m128i, set_splat_i8_m128i,
    };

    use super::Masks;

    /// Bytes `c` with `lo <= c < lo + n` (unsigned), as 0xff: shifted so that the range
    /// starts at -128, then one signed compare.
    #[inline(always)]
    fn range(v: m128i, lo: u8, n: u8) -> m128i {
        let shifted = add_i8_m128i(v, set_splat_i8_m128i(0x80u8.wrapping_sub(lo) as i8));
        cmp_lt_mask_i8_m128i(shifted, set_splat_i8_m128i(i8::MIN.wrapping_add(n as i8)))
    }

    #[inline(always)]
    fn eq(v: m128i, c: u8) -> m128i {
        cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(c as i8))
    }

    #[inline(always)]
    fn bits(v: m128i) -> u64 {
        u64::from(move_mask_i8_m128i(v) as u16)
    }

    #[inline(always)]
    pub(super) fn masks<const LANES: usize>(block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for k in 0..LANES {
            let mut lane = [0u8; 16];
            lane.copy_from_slice(&block[16 * k..16 * k + 16]);
            let v = load_unaligned_m128i(&lane);
            let digit = range(v, b'0', 10);
            // `c | 0x20` maps exactly the ASCII letters (and nothing else) to `a..=z`.
            let lower = v | set_splat_i8_m128i(0x20);
            let alpha = range(lower, b'a', 26);
            let word = digit | alpha | eq(v, b'_');
            let dot = eq(v, b'.');
            let colon = eq(v, b':');
            let hex = digit | range(lower, b'a', 6);
            let s = 16 * k;
            m.digit |= bits(digit) << s;
            m.word |= bits(word) << s;
            m.dot |= bits(dot) << s;
            m.dash |= bits(eq(v, b'-')) << s;
            m.lead |= bits(range(v, b'2', 5)) << s;
            m.v6 |= bits(hex | colon | dot) << s;
            m.sep |= bits(colon | eq(v, b'=')) << s;
        }
        m
    }
}

/// Bits `f` moved up by `k`, the top bits of `prev` (the previous block's) filling in:
/// bit `j` of the result is the bit of the byte `k` before byte `j`.
#[inline(always)]
pub(super) fn back(f: u64, prev: u64, k: u32) -> u64 {
    (f << k) | (prev >> (64 - k))
}

/// Runs the number detectors of `set` (if `nums`) and the separator detectors (`assign`,
/// IPv6 if in `set`; if `seps`) over `b`.
pub(super) fn find(
    set: DetectorSet,
    assign: Option<&Assignments>,
    b: &[u8],
    nums: bool,
    seps: bool,
    out: &mut Vec<Finding>,
) {
    find_with(set, assign, b, nums, seps, false, out);
}

/// [`find`]; `exhaustive` (tests only) turns the number triggers' rejections off.
#[inline(always)]
fn find_with(
    set: DetectorSet,
    assign: Option<&Assignments>,
    b: &[u8],
    nums: bool,
    seps: bool,
    #[cfg_attr(not(test), allow(unused_variables))] exhaustive: bool,
    out: &mut Vec<Finding>,
) {
    #[cfg_attr(not(test), allow(unused_mut))]
    let mut numbers = if nums { Numbers::new(set) } else { None };
    #[cfg(test)]
    if let Some(n) = &mut numbers {
        n.exhaustive = exhaustive;
    }
    let ipv6 = seps && set.contains(Kind::Ipv6);
    let assign = if seps { assign } else { None };
    if numbers.is_none() && !ipv6 && assign.is_none() {
        return;
    }
    let mut s = Separators::new(assign, ipv6);
    // The text is as if preceded by bytes of no class.
    let mut prev = Masks::default();
    // Whether a run of IPv6 bytes glued to a word character goes on into the next block.
    let mut glued_carry = false;
    // Long texts repeat their keys: the assignment prefilter's verdict per key.
    let mut cache = (assign.is_some() && b.len() > 256).then(KeyCache::new);
    let n = b.len();
    let mut i = 0;
    while i < n {
        let m = match b.get(i..i + 64) {
            Some(chunk) => {
                let mut w = [0u8; 64];
                w.copy_from_slice(chunk);
                Masks::of::<4>(&w)
            }
            None => {
                // The tail, padded with spaces (of no class); short texts (most JSON
                // strings) only pay for the sixteen-byte lanes they have.
                let mut w = [b' '; 64];
                w[..n - i].copy_from_slice(&b[i..]);
                match (n - i).div_ceil(16) {
                    1 => Masks::of::<1>(&w),
                    2 => Masks::of::<2>(&w),
                    3 => Masks::of::<3>(&w),
                    _ => Masks::of::<4>(&w),
                }
            }
        };
        if let Some(num) = &mut numbers {
            num.block(b, i, &m, &prev, out);
        }
        if ipv6 {
            // An address is never glued to a word character before it, and every colon
            // of a run of IPv6 bytes is checked against the whole run: so only the
            // colons of runs that do not start right after a word character are looked
            // at. Adding a run's first bit clears the run (the carry runs through it).
            let starts = m.v6 & !back(m.v6, prev.v6, 1);
            let glued = starts & back(m.word, prev.word, 1);
            let (x, c1) = m.v6.overflowing_add(glued);
            let (x, c2) = x.overflowing_add(u64::from(glued_carry));
            glued_carry = c1 | c2;
            // The colons: the separators that are IPv6 bytes.
            let mut colons = m.sep & m.v6 & x;
            while colons != 0 {
                let j = colons.trailing_zeros() as usize;
                colons &= colons - 1;
                s.colon(b, i + j, out);
            }
        }
        if let Some(a) = assign {
            let (key, prev_key) = (m.key(), prev.key());
            let mut sep = m.sep;
            while sep != 0 {
                let j = sep.trailing_zeros() as usize;
                sep &= sep - 1;
                let p = i + j;
                let direct = key_start(key, prev_key, j, p);
                // Timestamps (`08:52:44`), `ts=`: too short to hold a pattern.
                if direct.is_some_and(|ks| p - ks < a.shortest_key()) {
                    continue;
                }
                // Most keys are not sensitive, and keys repeat: the cached verdict first.
                if let Some(c) = &mut cache
                    && let Some(ks) = direct.or_else(|| quoted_key_start(b, key, prev_key, j, p))
                    && !c.get(b, ks, p, || a.key_before(b, p).is_some())
                {
                    continue;
                }
                s.assignment(b, p, out);
            }
        }
        prev = m;
        i += 64;
    }
}

/// The start of the key that ends right before the separator at `p` (byte `j` of its
/// block; `key` and `prev` the key-character bits of the block and the one before), if
/// the byte before `p` is a key character and the key is at most [`KeyCache::LONGEST`]
/// bytes long, within the text's first `p` bytes.
#[inline(always)]
fn key_start(key: u64, prev: u64, j: usize, p: usize) -> Option<usize> {
    // Non-key characters before byte `j` of the block; if none, the key goes on into the
    // previous block, over its top key-character bits.
    let below = !key & ((1u64 << j) - 1);
    let len = if below != 0 {
        j - (64 - below.leading_zeros() as usize)
    } else {
        j + prev.leading_ones() as usize
    };
    (len != 0 && len <= KeyCache::LONGEST && p >= KeyCache::LONGEST).then(|| p - len)
}

/// For a quoted key (`"key":`, `'key'=`) right before the separator at `p`: where its
/// opening quote is, if the quoted key is at most [`KeyCache::LONGEST`] bytes. The
/// verdict depends on those bytes alone: the key, and whether the opening quote matches
/// the closing one.
#[inline]
fn quoted_key_start(b: &[u8], key: u64, prev: u64, j: usize, p: usize) -> Option<usize> {
    if j == 0 || p <= KeyCache::LONGEST || !matches!(b[p - 1], b'"' | b'\'') {
        return None;
    }
    let ks = key_start(key, prev, j - 1, p - 1)?;
    // A 0 byte would read as the cache's padding of a shorter string.
    (p - ks < KeyCache::LONGEST && b[ks - 1] != 0).then(|| ks - 1)
}

/// The assignment prefilter's verdict ([`Assignments::key_before`]) for recently seen
/// keys of at most 16 bytes. The verdict for a key that ends right before its separator
/// depends only on the key's bytes (its first byte always starts a word: the byte before
/// is not a key character), so a key met again gets the same answer; a quoted key is
/// cached with its quotes ([`quoted_key_start`]).
pub(super) struct KeyCache {
    /// The key's bytes, the earlier ones zeroed (key bytes are never 0, so an empty slot,
    /// all 0, never matches).
    keys: [[u64; 2]; 512],
    hit: [bool; 512],
}

impl KeyCache {
    const LONGEST: usize = 16;

    fn new() -> Self {
        KeyCache {
            keys: [[0; 2]; 512],
            hit: [false; 512],
        }
    }

    /// The verdict for the bytes `b[ks..p]` (1 to 16 bytes, none 0, `p >= 16`), from
    /// `compute` if they were not seen.
    #[inline]
    pub(super) fn get(
        &mut self,
        b: &[u8],
        ks: usize,
        p: usize,
        compute: impl FnOnce() -> bool,
    ) -> bool {
        let mut w = [0u8; 16];
        w.copy_from_slice(&b[p - 16..p]);
        // The key's bytes, the earlier ones zeroed; without a branch on the length (key
        // lengths vary from one separator to the next).
        let w = u128::from_le_bytes(w) & (u128::MAX << (8 * (16 - (p - ks))));
        let (lo, hi) = (w as u64, (w >> 64) as u64);
        let h = ((lo.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi).wrapping_mul(0xff51_afd7_ed55_8ccd)
            >> 55) as usize;
        if self.keys[h] == [lo, hi] {
            return self.hit[h];
        }
        let v = compute();
        self.keys[h] = [lo, hi];
        self.hit[h] = v;
        v
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::assign::{Assignments, Separators};
    use super::super::{DetectorSet, Finding};
    use super::{Masks, find_with};
    use crate::keys::SensitiveKeys;
    use crate::kind::Kind;

    /// Pieces of numbers, addresses, assignments and times, glued at random.
    const PIECES: &[&str] = &[
        "1",
        "12",
        "123",
        "2024",
        "4111",
        "1111",
        "5500",
        "0004",
        "378282246310005",
        "6011000990139424",
        "6011 0009 9013 9424",
        "2221000000000009",
        "123",
        "45",
        "6789",
        "123-45-6789",
        "078-05-1120",
        "2024-11-24T08",
        "2024-4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500-0000-0000-0004",
        "5018-0000-0009",
        "501800000009",
        "-",
        ".",
        " ",
        ":",
        "::",
        "=",
        "\n",
        "a",
        "fe80",
        "db8",
        "ffff",
        "T",
        "x",
        "_",
        "Z",
        "DE89",
        "3704",
        "0044",
        "0532",
        "013000",
        "GB82",
        "WEST",
        "10.0.0.1",
        "192.168.",
        "255",
        "08:52:44.123",
        "2001:db8::1",
        "password",
        "token",
        "ssn",
        "\"",
        "key",
        "1.2.3",
        "[REDACTED:card]",
        "é",
        "   ",
        "0",
        "9",
        "6",
        "v",
        "Pass",
        "API",
        "Key",
        "sEcret",
        "p_i_n",
        "tok",
        "en",
        "'",
        "\t",
        "Zip",
        "2fa",
        "9",
        "XML",
    ];

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(PIECES), 0..120).prop_map(|v| v.concat())
    }

    /// The default keys; a longer list, some of its patterns starting with a digit; and
    /// one with patterns of one and two letters (keys of any length may be sensitive).
    fn key_lists() -> [SensitiveKeys; 3] {
        [
            SensitiveKeys::default(),
            SensitiveKeys::with_extra([
                "bank", "dob", "email", "gender", "hash", "jwt", "license", "mobile", "name",
                "routing", "vin", "2fa", "zip", "9lives",
            ]),
            SensitiveKeys::new(["x", "pw", "key"]),
        ]
    }

    fn scan(
        keys: &SensitiveKeys,
        text: &str,
        nums: bool,
        seps: bool,
        exhaustive: bool,
    ) -> Vec<Finding> {
        let a = Assignments::new(DetectorSet::all(), keys);
        let mut out = Vec::new();
        let b = text.as_bytes();
        find_with(
            DetectorSet::all(),
            a.as_ref(),
            b,
            nums,
            seps,
            exhaustive,
            &mut out,
        );
        sorted(out)
    }

    /// The findings in one order: the two detectors report in their own orders, and
    /// `resolve` sorts them.
    fn sorted(mut v: Vec<Finding>) -> Vec<Finding> {
        v.sort_by_key(|f| (f.start, f.end, f.kind as u32));
        v
    }

    /// The separator detectors visiting every `=` and `:` by themselves: no bits, no
    /// word starts, no IPv6 rejection.
    fn plain_separators(keys: &SensitiveKeys, text: &str) -> Vec<Finding> {
        let a = Assignments::new(DetectorSet::all(), keys);
        let mut out = Vec::new();
        let mut s = Separators::new(a.as_ref(), true);
        for p in memchr::memchr2_iter(b'=', b':', text.as_bytes()) {
            s.visit(text.as_bytes(), p, &mut out);
        }
        sorted(out)
    }

    /// The text three times, shifted by `pad`, so that its runs fall at every block
    /// offset and across block boundaries.
    fn long(text: &str, pad: usize) -> String {
        format!("{}{text} {text} {text}", " ".repeat(pad))
    }

    #[test]
    fn ipv6_rejection_keeps_every_address() {
        let keys = SensitiveKeys::default();
        for t in [
            "at 2024-11-24T08:52:44.123Z x=fe80::1 y=2001:db8:0:0:1:0:0:1 z=::ffff:10.0.0.1",
            "a 1:2:3:4:5:6:7:8 b 1:2:3:4:5:6:1.2.3.4 c Foo.java:123 d ab:cd:ef:01:23:45",
        ] {
            for pad in 0..70 {
                let t = long(t, pad);
                let found = scan(&keys, &t, false, true, false);
                assert_eq!(found, plain_separators(&keys, &t), "{t:?}");
                assert!(found.iter().filter(|f| f.kind == Kind::Ipv6).count() >= 6);
            }
        }
    }

    #[test]
    fn every_form_of_assignment_is_found_at_every_offset() {
        let keys = SensitiveKeys::default();
        let t = concat!(
            "a password=x1 b \"apiKey\" : \"x2\" c X-API-KEY:x3 d db.password.old = x4 ",
            "e 'p_i_n'=x5 f XMLHttpToken:=x6 g aws_secret_access_key => ",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY h tokenizer=bpe",
        );
        for pad in 0..70 {
            let t = long(t, pad);
            let found = scan(&keys, &t, false, true, false);
            assert_eq!(found, plain_separators(&keys, &t), "{t:?}");
            assert_eq!(found.len(), 3 * 7, "{t:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// The fused pass finds what the separator detectors find visiting every
        /// separator, and what the number checks find at every trigger of old.
        #[test]
        fn rejections_in_the_mask_stage_change_nothing(t in text(), pad in 0usize..64) {
            let t = long(&t, pad);
            for keys in &key_lists() {
                prop_assert_eq!(scan(keys, &t, false, true, false), plain_separators(keys, &t));
            }
            let keys = &key_lists()[0];
            prop_assert_eq!(scan(keys, &t, true, false, false), scan(keys, &t, true, false, true));
        }
    }

    fn same(a: Masks, b: Masks) -> bool {
        a == b
    }

    /// Every byte value at every position of a block gives the same bits either way.
    #[test]
    fn masks_of_every_byte_match_the_portable_masks() {
        for c in 0..=255u8 {
            for k in 0..64 {
                let mut block = [b' '; 64];
                block[k] = c;
                block[(k + 17) % 64] = c.wrapping_add(1);
                assert!(
                    same(Masks::of::<4>(&block), Masks::portable(&block)),
                    "byte {c:#x} at {k}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Random blocks, and blocks of the bytes around the class boundaries.
        #[test]
        fn masks_match_the_portable_masks(
            bytes in proptest::collection::vec(any::<u8>(), 64),
            near in proptest::collection::vec(
                proptest::sample::select(b"/09:;@AZ[_`az{-.=\\x7f\\x80\\xaf\\xb0\\xba\\xc1\\xfa\\xff ".to_vec()),
                64,
            ),
        ) {
            for v in [bytes, near] {
                let mut block = [0u8; 64];
                block.copy_from_slice(&v);
                prop_assert!(same(Masks::of::<4>(&block), Masks::portable(&block)));
                // A tail block: the lanes past the text are spaces, and not read.
                for lanes in 1..4 {
                    block[16 * lanes..].fill(b' ');
                    let portable = Masks::portable(&block);
                    let m = match lanes {
                        1 => Masks::of::<1>(&block),
                        2 => Masks::of::<2>(&block),
                        _ => Masks::of::<3>(&block),
                    };
                    prop_assert!(same(m, portable));
                }
            }
        }
    }
}
