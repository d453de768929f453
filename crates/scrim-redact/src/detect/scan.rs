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
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Masks {
    /// ASCII digits.
    pub(super) digit: u64,
    /// Word characters: ASCII letters, digits, `_`.
    pub(super) word: u64,
    /// `.`.
    pub(super) dot: u64,
    /// `=` and `:`.
    pub(super) sep: u64,
    /// Key characters of the assignment detector: word characters, `.`, `-`.
    pub(super) key: u64,
    /// The digits `2` to `6` (the first digit of every card).
    pub(super) lead: u64,
}

impl Masks {
    /// The bits of `block`. Bytes of no class (the spaces that pad a text's tail) give 0
    /// bits, so a block is always read whole.
    #[inline(always)]
    fn of(block: &[u8; 64]) -> Masks {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            sse2::masks(block)
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            Masks::portable(block)
        }
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
    const KEY: u8 = 16;
    const LEAD: u8 = 32;
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
            | (u8::from(word | dot | (c == b'-')) * KEY)
            | (u8::from(c.wrapping_sub(b'2') < 5) * LEAD)
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
                m.key |= g(4);
                m.lead |= g(5);
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
    pub(super) fn masks(block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for k in 0..4 {
            let mut lane = [0u8; 16];
            lane.copy_from_slice(&block[16 * k..16 * k + 16]);
            let v = load_unaligned_m128i(&lane);
            let digit = range(v, b'0', 10);
            // `c | 0x20` maps exactly the ASCII letters (and nothing else) to `a..=z`.
            let alpha = range(v | set_splat_i8_m128i(0x20), b'a', 26);
            let word = digit | alpha | eq(v, b'_');
            let dot = eq(v, b'.');
            let sep = eq(v, b'=') | eq(v, b':');
            let key = word | dot | eq(v, b'-');
            let s = 16 * k;
            m.digit |= bits(digit) << s;
            m.word |= bits(word) << s;
            m.dot |= bits(dot) << s;
            m.sep |= bits(sep) << s;
            m.key |= bits(key) << s;
            m.lead |= bits(range(v, b'2', 5)) << s;
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
    let mut numbers = if nums { Numbers::new(set) } else { None };
    let ipv6 = set.contains(Kind::Ipv6);
    let mut seps = (seps && (assign.is_some() || ipv6)).then(|| Separators::new(assign, ipv6));
    if numbers.is_none() && seps.is_none() {
        return;
    }
    // Long texts repeat their keys: the assignment prefilter's verdict per key.
    let mut cache = (seps.is_some() && assign.is_some() && b.len() > 256).then(KeyCache::new);
    // The text is as if preceded by bytes of no class.
    let mut prev = Masks::default();
    let n = b.len();
    let mut i = 0;
    while i < n {
        let m = match b.get(i..i + 64) {
            Some(chunk) => {
                let mut w = [0u8; 64];
                w.copy_from_slice(chunk);
                Masks::of(&w)
            }
            None => {
                // The tail, padded with spaces (of no class).
                let mut w = [b' '; 64];
                w[..n - i].copy_from_slice(&b[i..]);
                Masks::of(&w)
            }
        };
        if let Some(num) = &mut numbers {
            num.block(b, i, &m, &prev, out);
        }
        if let Some(s) = &mut seps {
            // Key characters over this block and the one before (bit `64 + j`: byte
            // `j` of this block).
            let keys = (u128::from(m.key) << 64) | u128::from(prev.key);
            let mut sep = m.sep;
            while sep != 0 {
                let j = sep.trailing_zeros() as usize;
                sep &= sep - 1;
                let p = i + j;
                let fast = match &mut cache {
                    Some(c) => key_start(keys, j, p).map(|ks| (&mut *c, ks)),
                    None => None,
                };
                s.visit(b, p, fast, out);
            }
        }
        prev = m;
        i += 64;
    }
}

/// The start of the key that ends right before the separator at `p` (byte `j` of its
/// block, `keys` as in [`find`]), if the byte before `p` is a key character and the key
/// is at most [`KeyCache::LONGEST`] bytes long, within the text's first `p` bytes.
#[inline(always)]
fn key_start(keys: u128, j: usize, p: usize) -> Option<usize> {
    let t = j + 64;
    if (keys >> (t - 1)) & 1 == 0 || p < KeyCache::LONGEST {
        return None;
    }
    // Non-key characters before `p`, in the two blocks.
    let below = !keys & ((1u128 << t) - 1);
    if below == 0 {
        return None;
    }
    let len = below.leading_zeros() as usize - (128 - t);
    (len <= KeyCache::LONGEST).then(|| p - len)
}

/// The assignment prefilter's verdict ([`Assignments::key_before`]) for recently seen
/// keys of at most 16 bytes. The verdict for a key that ends right before its separator
/// depends only on the key's bytes (its first byte always starts a word: the byte before
/// is not a key character), so a key met again gets the same answer.
pub(super) struct KeyCache {
    /// The key's bytes, the earlier ones zeroed (key bytes are never 0, so an empty slot,
    /// all 0, never matches).
    keys: [[u64; 2]; 256],
    hit: [bool; 256],
}

impl KeyCache {
    const LONGEST: usize = 16;

    fn new() -> Self {
        KeyCache {
            keys: [[0; 2]; 256],
            hit: [false; 256],
        }
    }

    /// The verdict for the key `b[ks..p]` (1 to 16 bytes, `p >= 16`), from `compute` if it
    /// was not seen.
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
        let (lo, hi) = w.split_at(8);
        let mut lo = u64::from_le_bytes(lo.try_into().unwrap_or_default());
        let mut hi = u64::from_le_bytes(hi.try_into().unwrap_or_default());
        let len = p - ks;
        if len <= 8 {
            lo = 0;
            hi &= u64::MAX << (8 * (8 - len));
        } else {
            lo &= u64::MAX << (8 * (16 - len));
        }
        let h = ((lo.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi).wrapping_mul(0xff51_afd7_ed55_8ccd)
            >> 56) as usize;
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

    use super::Masks;

    fn same(a: Masks, b: Masks) -> bool {
        (a.digit, a.word, a.dot, a.sep, a.key, a.lead)
            == (b.digit, b.word, b.dot, b.sep, b.key, b.lead)
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
                    same(Masks::of(&block), Masks::portable(&block)),
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
                prop_assert!(same(Masks::of(&block), Masks::portable(&block)));
            }
        }
    }
}
