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
}

const DIGIT: u8 = 1;
const WORD: u8 = 2;
const DOT: u8 = 4;
const SEP: u8 = 8;
const KEY: u8 = 16;
const LO: u64 = 0x0101_0101_0101_0101;
/// Multiplying bytes of 0 or 1 by this gathers them into the top byte (byte `k`'s bit
/// to bit `56 + k`; no two products overlap, so there are no carries).
const GATHER: u64 = 0x0102_0408_1020_4080;

/// The class bits of one byte (a sum of the constants above). Branch-free, so that the
/// compiler computes it sixteen bytes at a time.
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
}

impl Masks {
    /// The bits of the first `words` eight-byte words of `block` (the others stay 0).
    #[inline(always)]
    fn of(block: &[u8; 64], words: usize) -> Masks {
        let cls: [u8; 64] = std::array::from_fn(|k| class(block[k]));
        let mut m = Masks::default();
        for q in 0..words {
            let mut w = [0u8; 8];
            w.copy_from_slice(&cls[q * 8..q * 8 + 8]);
            let x = u64::from_le_bytes(w);
            let g = |bit: u32| ((((x >> bit) & LO).wrapping_mul(GATHER)) >> 56) << (8 * q);
            m.digit |= g(0);
            m.word |= g(1);
            m.dot |= g(2);
            m.sep |= g(3);
            m.key |= g(4);
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
                Masks::of(&w, 8)
            }
            None => {
                // The tail, padded with spaces (of no class); short texts (most JSON
                // strings) only pay for the words they have.
                let mut w = [b' '; 64];
                w[..n - i].copy_from_slice(&b[i..]);
                Masks::of(&w, (n - i).div_ceil(8))
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
