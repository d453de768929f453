//! Webhook signatures (docs/notifications.md has the scheme for receivers in any language).
//!
//! Every webhook request carries
//!
//! - `Scrim-Webhook-Id: <notification id>` (the same on every retry of one notification),
//! - `Scrim-Webhook-Timestamp: <Unix seconds of this attempt>`,
//! - `Scrim-Signature: v1=<lowercase hex HMAC-SHA256(secret, "<id>.<timestamp>.<raw body>")>`.
//!
//! The key is the signing secret's bytes as configured (UTF-8). The header may carry several
//! `v1=` values separated by spaces or commas; a receiver accepts the request when any of
//! them verifies with any secret it holds, so secrets can be rotated without a gap.
//! [`Verifier`] is the receiver's side: signature (constant-time), timestamp within a
//! tolerance, and each id accepted once.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Header naming the notification id.
pub const ID_HEADER: &str = "scrim-webhook-id";
/// Header with the attempt's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "scrim-webhook-timestamp";
/// Header with the signature(s).
pub const SIGNATURE_HEADER: &str = "scrim-signature";
/// Default tolerance between the timestamp and the receiver's clock, either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);
/// Default bound on the ids a [`Verifier`] remembers.
pub const DEFAULT_MAX_REMEMBERED: usize = 100_000;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Scrim-Signature` header value for one request: `v1=` and the lowercase hex
/// HMAC-SHA256 of `"<id>.<timestamp>.<body>"` under `secret`.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, id, timestamp, body).finalize().into_bytes();
    let mut out = String::with_capacity(3 + 64);
    out.push_str("v1=");
    for b in tag {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// Why a request was refused. Messages name the check, never a secret or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is missing (its name).
    MissingHeader(&'static str),
    /// A header is not in the documented form (its name).
    Malformed(&'static str),
    /// No `v1=` value matches under any secret.
    BadSignature,
    /// The timestamp is older than the tolerance.
    TooOld,
    /// The timestamp is further in the future than the tolerance.
    TooNew,
    /// This id was already accepted within the tolerance window.
    Replayed,
    /// The bound on remembered ids is reached (fail closed; the sender retries later).
    TooManyIds,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingHeader(h) => write!(f, "missing header {h}"),
            VerifyError::Malformed(h) => write!(f, "malformed header {h}"),
            VerifyError::BadSignature => f.write_str("signature does not verify"),
            VerifyError::TooOld => f.write_str("timestamp too old"),
            VerifyError::TooNew => f.write_str("timestamp in the future"),
            VerifyError::Replayed => f.write_str("this id was already received"),
            VerifyError::TooManyIds => f.write_str("too many recent ids remembered"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The receiver's check of signed webhook requests. Keep one per endpoint (it remembers ids).
pub struct Verifier {
    secrets: Vec<Zeroizing<Vec<u8>>>,
    tolerance: Duration,
    max_remembered: usize,
    /// Ids accepted, with their timestamps; forgotten once older than the tolerance, when
    /// their requests would fail the timestamp check anyway.
    seen: HashSet<String>,
    by_time: BTreeSet<(i64, String)>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.secrets.len())
            .field("tolerance", &self.tolerance)
            .field("remembered", &self.seen.len())
            .finish()
    }
}

impl Verifier {
    /// A verifier for one secret, with the default tolerance and bound.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self::with_secrets([secret])
    }

    /// A verifier accepting a signature under any of `secrets` (during a rotation: the old
    /// and the new one).
    pub fn with_secrets<S: AsRef<[u8]>>(secrets: impl IntoIterator<Item = S>) -> Self {
        Verifier {
            secrets: secrets
                .into_iter()
                .map(|s| Zeroizing::new(s.as_ref().to_vec()))
                .collect(),
            tolerance: DEFAULT_TOLERANCE,
            max_remembered: DEFAULT_MAX_REMEMBERED,
            seen: HashSet::new(),
            by_time: BTreeSet::new(),
        }
    }

    /// How far the timestamp may be from `now_unix`, either way.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// At most this many ids are remembered; past it, new requests are refused until old
    /// ids expire.
    pub fn max_remembered(mut self, max: usize) -> Self {
        self.max_remembered = max;
        self
    }

    /// How many ids are remembered now.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }

    /// Checks a request by its headers and raw body.
    pub fn verify(
        &mut self,
        headers: &http::HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        let get = |name: &'static str| -> Result<&str, VerifyError> {
            let mut values = headers.get_all(name).iter();
            let value = values.next().ok_or(VerifyError::MissingHeader(name))?;
            if values.next().is_some() {
                return Err(VerifyError::Malformed(name));
            }
            value.to_str().map_err(|_| VerifyError::Malformed(name))
        };
        let id = get(ID_HEADER)?;
        let timestamp = get(TIMESTAMP_HEADER)?;
        let signature = get(SIGNATURE_HEADER)?;
        self.verify_parts(id, timestamp, signature, body, now_unix)
    }

    /// Checks a request given the three header values, for servers without `http` types.
    pub fn verify_parts(
        &mut self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        if id.is_empty() || id.len() > 200 {
            return Err(VerifyError::Malformed(ID_HEADER));
        }
        if timestamp.is_empty()
            || timestamp.len() > 15
            || !timestamp.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(VerifyError::Malformed(TIMESTAMP_HEADER));
        }
        let ts: i64 = timestamp
            .parse()
            .map_err(|_| VerifyError::Malformed(TIMESTAMP_HEADER))?;
        let tags = parse_signatures(signature)?;
        // The signature first: nothing unauthenticated changes this verifier's state.
        let valid = self.secrets.iter().any(|secret| {
            tags.iter()
                .any(|tag| mac(secret, id, ts, body).verify_slice(tag).is_ok())
        });
        if !valid {
            return Err(VerifyError::BadSignature);
        }
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        if ts < now_unix.saturating_sub(tolerance) {
            return Err(VerifyError::TooOld);
        }
        if ts > now_unix.saturating_add(tolerance) {
            return Err(VerifyError::TooNew);
        }
        self.forget_before(now_unix.saturating_sub(tolerance));
        if self.seen.contains(id) {
            return Err(VerifyError::Replayed);
        }
        if self.seen.len() >= self.max_remembered {
            return Err(VerifyError::TooManyIds);
        }
        self.seen.insert(id.to_owned());
        self.by_time.insert((ts, id.to_owned()));
        Ok(())
    }

    fn forget_before(&mut self, oldest: i64) {
        while let Some(first) = self.by_time.first() {
            if first.0 >= oldest {
                break;
            }
            if let Some((_, id)) = self.by_time.pop_first() {
                self.seen.remove(&id);
            }
        }
    }
}

/// The 32-byte tags of every `v1=` value (other versions are ignored, for forward
/// compatibility); at least one is required.
fn parse_signatures(header: &str) -> Result<Vec<[u8; 32]>, VerifyError> {
    let mut tags = Vec::new();
    for item in header.split([' ', ',']).filter(|s| !s.is_empty()).take(16) {
        let Some(hex) = item.strip_prefix("v1=") else {
            continue;
        };
        tags.push(decode_hex(hex).ok_or(VerifyError::Malformed(SIGNATURE_HEADER))?);
    }
    if tags.is_empty() {
        return Err(VerifyError::Malformed(SIGNATURE_HEADER));
    }
    Ok(tags)
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"whsec_test_secret_0123456789";
    const NOW: i64 = 1_772_366_400;

    fn headers(id: &str, ts: i64, sig: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(ID_HEADER, id.parse().unwrap());
        h.insert(TIMESTAMP_HEADER, ts.to_string().parse().unwrap());
        h.insert(SIGNATURE_HEADER, sig.parse().unwrap());
        h
    }

    #[test]
    fn the_documented_example_holds() {
        // docs/notifications.md, "A worked example": the same numbers.
        let body = br#"{"id":"ntf_01","type":"test"}"#;
        let sig = sign(b"whsec_example_secret_0001", "ntf_01", 1772366400, body);
        assert_eq!(
            sig,
            "v1=638cc65d20fa01b53298842ec9355d077012299fe008a2fe063f762fa2305650"
        );
    }

    #[test]
    fn a_signed_request_verifies_once() {
        let body = br#"{"id":"ntf_1"}"#;
        let sig = sign(SECRET, "ntf_1", NOW, body);
        let mut v = Verifier::new(SECRET);
        v.verify(&headers("ntf_1", NOW, &sig), body, NOW + 10)
            .unwrap();
        assert_eq!(
            v.verify(&headers("ntf_1", NOW, &sig), body, NOW + 11),
            Err(VerifyError::Replayed)
        );
        // A retry of the same notification, freshly signed, is still the same id.
        let retry = sign(SECRET, "ntf_1", NOW + 60, body);
        assert_eq!(
            v.verify(&headers("ntf_1", NOW + 60, &retry), body, NOW + 60),
            Err(VerifyError::Replayed)
        );
    }

    #[test]
    fn tampering_and_wrong_secrets_are_refused() {
        let body = br#"{"id":"ntf_1","title":"a"}"#;
        let sig = sign(SECRET, "ntf_1", NOW, body);
        let mut v = Verifier::new(SECRET);
        for (id, ts, body) in [
            ("ntf_1", NOW, &br#"{"id":"ntf_1","title":"b"}"#[..]),
            ("ntf_2", NOW, &body[..]),
            ("ntf_1", NOW + 1, &body[..]),
        ] {
            assert_eq!(
                v.verify(&headers(id, ts, &sig), body, NOW),
                Err(VerifyError::BadSignature)
            );
        }
        let other = sign(b"another_secret_of_16+", "ntf_1", NOW, body);
        assert_eq!(
            v.verify(&headers("ntf_1", NOW, &other), body, NOW),
            Err(VerifyError::BadSignature)
        );
        // None of the refusals was remembered: the genuine request still goes through.
        assert_eq!(v.remembered(), 0);
        v.verify(&headers("ntf_1", NOW, &sig), body, NOW).unwrap();
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_refused() {
        let body = b"{}";
        let mut v = Verifier::new(SECRET);
        let old = NOW - 301;
        let new = NOW + 301;
        assert_eq!(
            v.verify(&headers("a", old, &sign(SECRET, "a", old, body)), body, NOW),
            Err(VerifyError::TooOld)
        );
        assert_eq!(
            v.verify(&headers("b", new, &sign(SECRET, "b", new, body)), body, NOW),
            Err(VerifyError::TooNew)
        );
        let edge = NOW - 300;
        v.verify(
            &headers("c", edge, &sign(SECRET, "c", edge, body)),
            body,
            NOW,
        )
        .unwrap();
    }

    #[test]
    fn rotation_accepts_either_secret_and_several_signatures() {
        let body = b"{}";
        let old = b"old_secret_0123456789";
        let new = b"new_secret_0123456789";
        let mut v = Verifier::with_secrets([&old[..], &new[..]]);
        v.verify(&headers("a", NOW, &sign(old, "a", NOW, body)), body, NOW)
            .unwrap();
        v.verify(&headers("b", NOW, &sign(new, "b", NOW, body)), body, NOW)
            .unwrap();
        // A sender signing with both; a receiver knowing only the new secret.
        let both = format!(
            "{}, {}",
            sign(b"retired_secret_0123", "c", NOW, body),
            sign(new, "c", NOW, body)
        );
        let mut only_new = Verifier::new(new);
        only_new
            .verify(&headers("c", NOW, &both), body, NOW)
            .unwrap();
    }

    #[test]
    fn malformed_headers_are_named() {
        let mut v = Verifier::new(SECRET);
        let mut h = headers("a", NOW, "v1=00");
        assert_eq!(
            v.verify(&h, b"", NOW),
            Err(VerifyError::Malformed(SIGNATURE_HEADER))
        );
        h.insert(SIGNATURE_HEADER, "v0=abc".parse().unwrap());
        assert_eq!(
            v.verify(&h, b"", NOW),
            Err(VerifyError::Malformed(SIGNATURE_HEADER))
        );
        h.insert(TIMESTAMP_HEADER, "-5".parse().unwrap());
        assert_eq!(
            v.verify(&h, b"", NOW),
            Err(VerifyError::Malformed(TIMESTAMP_HEADER))
        );
        h.remove(ID_HEADER);
        assert_eq!(
            v.verify(&h, b"", NOW),
            Err(VerifyError::MissingHeader(ID_HEADER))
        );
    }

    #[test]
    fn memory_is_bounded_and_old_ids_are_forgotten() {
        let body = b"{}";
        let mut v = Verifier::new(SECRET).max_remembered(3);
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            let ts = NOW + i as i64;
            v.verify(&headers(id, ts, &sign(SECRET, id, ts, body)), body, ts)
                .unwrap();
        }
        let ts = NOW + 3;
        assert_eq!(
            v.verify(&headers("d", ts, &sign(SECRET, "d", ts, body)), body, ts),
            Err(VerifyError::TooManyIds)
        );
        // Past the window the old ids go, and new ones fit again.
        let later = NOW + 302;
        v.verify(
            &headers("d", later, &sign(SECRET, "d", later, body)),
            body,
            later,
        )
        .unwrap();
        assert_eq!(v.remembered(), 2);
    }

    proptest! {
        #[test]
        fn any_signed_body_verifies_and_any_change_does_not(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            flip in any::<usize>(),
            id in "[a-z0-9_]{1,40}",
        ) {
            let sig = sign(SECRET, &id, NOW, &body);
            prop_assert_eq!(sig.len(), 67);
            let mut v = Verifier::new(SECRET);
            let mut changed = body.clone();
            if changed.is_empty() {
                changed.push(0);
            } else {
                let i = flip % changed.len();
                changed[i] ^= 1;
            }
            prop_assert_eq!(
                v.verify_parts(&id, &NOW.to_string(), &sig, &changed, NOW),
                Err(VerifyError::BadSignature)
            );
            prop_assert!(v.verify_parts(&id, &NOW.to_string(), &sig, &body, NOW).is_ok());
        }
    }
}
