//! A per-segment Bloom filter of trace ids, kept in the catalog beside the segment.
//!
//! Finding one trace otherwise means opening every span segment of the tenant: fetch the
//! footer, decrypt it, probe the Parquet bloom filter. At 10 million spans that is about a
//! hundred files and over 100 ms. With this filter the query opens only the segments that
//! may hold the trace (about one, plus a false positive in ~0.3 % of segments).
//!
//! The filter says which trace ids a segment holds, so it is telemetry of the tenant and is
//! stored sealed (AES-256-GCM) under a key derived from the tenant's data key, with the
//! segment's path as associated data: a filter cannot be moved to another segment or
//! tenant, and the catalog database alone does not reveal it.
//!
//! Format (before sealing): `[version: 1][hashes: u8][bits: u32 LE][words: u64 LE …]`.

use std::collections::HashSet;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;

use crate::segment::DataKey;
use crate::{Result, StoreError};

const VERSION: u8 = 1;
const HEADER: usize = 1 + 1 + 4;
/// 12 bits per trace and 8 hashes: about 0.3 % false positives.
const BITS_PER_KEY: usize = 12;
const HASHES: u8 = 8;
/// A filter larger than this (about 10 M traces) is refused when read back.
const MAX_BITS: u32 = 1 << 27;

/// The trace ids of one segment, approximately: no false negatives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceIdFilter {
    hashes: u8,
    bits: u32,
    words: Vec<u64>,
}

impl TraceIdFilter {
    /// A filter of the `trace_id` column of span rows. Ids that are not 32 hex digits
    /// cannot be looked up ([`crate::convert::is_trace_id`]) and are left out.
    pub fn of_spans(batch: &RecordBatch) -> Result<TraceIdFilter> {
        let ids = batch
            .column_by_name("trace_id")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| StoreError::Format("trace_id column".into()))?;
        let distinct: HashSet<u128> = (0..ids.len())
            .filter(|&i| ids.is_valid(i))
            .filter_map(|i| parse(ids.value(i)))
            .collect();
        let bits = (distinct.len() * BITS_PER_KEY).clamp(64, MAX_BITS as usize);
        let bits = bits.next_multiple_of(64) as u32;
        let mut f = TraceIdFilter {
            hashes: HASHES,
            bits,
            words: vec![0; bits as usize / 64],
        };
        for id in distinct {
            for bit in positions(f.hashes, f.bits, id) {
                f.words[bit / 64] |= 1 << (bit % 64);
            }
        }
        Ok(f)
    }

    /// Whether the segment may hold `trace_id` (32 hex digits, either case). `false` is
    /// certain; an id that does not parse is never held.
    pub fn may_contain(&self, trace_id: &str) -> bool {
        match parse(trace_id) {
            Some(id) => positions(self.hashes, self.bits, id)
                .all(|bit| self.words[bit / 64] & (1 << (bit % 64)) != 0),
            None => false,
        }
    }

    /// Sealed bytes for the catalog, bound to the segment at `path`.
    pub fn seal(&self, key: &DataKey, path: &str) -> Result<Vec<u8>> {
        let mut plain = Vec::with_capacity(HEADER + self.words.len() * 8);
        plain.push(VERSION);
        plain.push(self.hashes);
        plain.extend_from_slice(&self.bits.to_le_bytes());
        for w in &self.words {
            plain.extend_from_slice(&w.to_le_bytes());
        }
        scrim_crypto::seal(&filter_key(key), &aad(path), &plain)
            .map_err(|e| StoreError::Crypto(e.to_string()))
    }

    /// Opens what [`TraceIdFilter::seal`] made for the segment at `path`.
    pub fn open(key: &DataKey, path: &str, sealed: &[u8]) -> Result<TraceIdFilter> {
        let plain = scrim_crypto::open(&filter_key(key), &aad(path), sealed)
            .map_err(|e| StoreError::Crypto(format!("trace filter: {e}")))?;
        let corrupt = || StoreError::Corrupt("a trace filter is malformed".into());
        if plain.len() < HEADER || plain[0] != VERSION {
            return Err(corrupt());
        }
        let hashes = plain[1];
        let bits = u32::from_le_bytes(plain[2..6].try_into().map_err(|_| corrupt())?);
        let body = &plain[HEADER..];
        if hashes == 0
            || bits == 0
            || bits > MAX_BITS
            || bits % 64 != 0
            || body.len() != bits as usize / 8
        {
            return Err(corrupt());
        }
        let words = body
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok(TraceIdFilter {
            hashes,
            bits,
            words,
        })
    }
}

/// Bit positions of `id` in a filter of `bits` bits: double hashing over a 64-bit mix of
/// the id, so that ids that are not random (counters, zero halves) still spread. A free
/// function, not a method, so that building a filter can set bits while iterating.
fn positions(hashes: u8, bits: u32, id: u128) -> impl Iterator<Item = usize> {
    let h1 = mix(mix(id as u64) ^ (id >> 64) as u64);
    let h2 = mix(h1) | 1;
    let bits = u64::from(bits);
    (0..u64::from(hashes)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
}

/// A 32-hex-digit trace id as a number.
fn parse(hex: &str) -> Option<u128> {
    if hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(hex, 16).ok()
}

/// SplitMix64's finaliser: a cheap, stable 64-bit mixer (the format depends on it).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn filter_key(key: &DataKey) -> scrim_crypto::DataKey {
    scrim_crypto::DataKey::from_bytes(*key.bytes()).derive(b"", b"scrim/trace-filter/v1")
}

fn aad(path: &str) -> Vec<u8> {
    let mut aad = b"scrim/trace-filter/v1\0".to_vec();
    aad.extend_from_slice(path.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn ids(n: u64, salt: u64) -> Vec<String> {
        (0..n)
            .map(|i| {
                let j = i | (salt << 40);
                format!("{:016x}{:016x}", mix(j), mix(!j))
            })
            .collect()
    }

    fn batch(ids: &[String]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "trace_id",
            DataType::Utf8,
            true,
        )]));
        let col = StringArray::from(ids.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>());
        RecordBatch::try_new(schema, vec![Arc::new(col)]).unwrap()
    }

    fn key(byte: u8) -> DataKey {
        DataKey::new("k", [byte; 32])
    }

    #[test]
    fn holds_every_id_and_few_others() {
        let held = ids(20_000, 1);
        let f = TraceIdFilter::of_spans(&batch(&held)).unwrap();
        assert!(held.iter().all(|id| f.may_contain(id)));
        assert!(held.iter().all(|id| f.may_contain(&id.to_uppercase())));
        let others = ids(100_000, 2);
        let false_positives = others.iter().filter(|id| f.may_contain(id)).count();
        // 12 bits and 8 hashes per id: about 0.3 %; allow twice that.
        assert!(false_positives < 600, "{false_positives} false positives");
    }

    #[test]
    fn counter_ids_spread_too() {
        let held: Vec<String> = (0..5_000u64).map(|i| format!("{:032x}", i)).collect();
        let f = TraceIdFilter::of_spans(&batch(&held)).unwrap();
        assert!(held.iter().all(|id| f.may_contain(id)));
        let others: Vec<String> = (5_000..55_000u64).map(|i| format!("{:032x}", i)).collect();
        let false_positives = others.iter().filter(|id| f.may_contain(id)).count();
        assert!(false_positives < 300, "{false_positives} false positives");
    }

    #[test]
    fn malformed_ids_are_never_held() {
        let f = TraceIdFilter::of_spans(&batch(&["not-a-trace".to_owned()])).unwrap();
        assert!(!f.may_contain("not-a-trace"));
        assert!(!f.may_contain(""));
        assert!(!f.may_contain(&"g".repeat(32)));
    }

    #[test]
    fn sealed_filters_open_only_with_their_key_and_path() {
        let held = ids(1_000, 3);
        let f = TraceIdFilter::of_spans(&batch(&held)).unwrap();
        let sealed = f.seal(&key(7), "local/t1/traces/a.parquet").unwrap();
        // No run of the filter's own bits shows through.
        let plain: Vec<u8> = f.words[..4].iter().flat_map(|w| w.to_le_bytes()).collect();
        assert!(plain.iter().any(|&b| b != 0));
        assert!(!sealed.windows(plain.len()).any(|w| w == plain));
        let back = TraceIdFilter::open(&key(7), "local/t1/traces/a.parquet", &sealed).unwrap();
        assert_eq!(back, f);
        assert!(TraceIdFilter::open(&key(8), "local/t1/traces/a.parquet", &sealed).is_err());
        assert!(TraceIdFilter::open(&key(7), "local/t2/traces/a.parquet", &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(TraceIdFilter::open(&key(7), "local/t1/traces/a.parquet", &tampered).is_err());
    }
}
