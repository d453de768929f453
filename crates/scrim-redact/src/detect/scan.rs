//! The fused pass over the text for the number detectors (cards, SSNs, IBANs, IPv4) and
//! the separator detectors (assignments, IPv6): the text is read once, 64 bytes at a
//! time, into one bit per byte for each byte class those detectors look at; the
//! candidates are computed with shifts and masks over those bits, and only there do the
//! anchored checks run.

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
}

const DIGIT: u8 = 1;
const WORD: u8 = 2;
const DOT: u8 = 4;
const SEP: u8 = 8;
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
    (u8::from(digit) * DIGIT)
        | (u8::from(digit | upper | lower | (c == b'_')) * WORD)
        | (u8::from(c == b'.') * DOT)
        | (u8::from((c == b'=') | (c == b':')) * SEP)
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

/// Runs the number detectors of `set` and the separator detectors (`assign`, IPv6 if in
/// `set`) over `b`.
pub(super) fn find(
    set: DetectorSet,
    assign: Option<&Assignments>,
    b: &[u8],
    out: &mut Vec<Finding>,
) {
    let mut numbers = Numbers::new(set);
    let ipv6 = set.contains(Kind::Ipv6);
    let mut seps = (assign.is_some() || ipv6).then(|| Separators::new(assign, ipv6));
    if numbers.is_none() && seps.is_none() {
        return;
    }
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
            let mut sep = m.sep;
            while sep != 0 {
                let j = sep.trailing_zeros() as usize;
                sep &= sep - 1;
                s.visit(b, i + j, out);
            }
        }
        prev = m;
        i += 64;
    }
}
