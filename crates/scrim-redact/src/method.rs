//! What happens to a sensitive value once found: masked, pseudonymised, removed or kept.
//!
//! The replacement texts are part of the output contract:
//!
//! | method | replacement | example |
//! | --- | --- | --- |
//! | `mask` | `[REDACTED:<kind>]` | `[REDACTED:email]` |
//! | `hash` | `[<kind>:<16 base32 chars>]`, a keyed HMAC-SHA256 pseudonym | `[email:k5vq2mxa7ehtq3ld]` |
//! | `remove` | nothing (the value disappears) | |
//! | `keep` | the value itself | |
//!
//! Pseudonyms are HMAC-SHA256 over the kind and the value, keyed by a per-tenant secret,
//! truncated to 80 bits and written in lowercase base32 (`a-z2-7`). The same value of the
//! same kind gives the same pseudonym within a tenant, so people can still count distinct
//! users or follow one through traces; without the key it cannot be reversed, and two
//! tenants' pseudonyms of the same value differ. Neither marker contains anything a
//! detector recognises, so redacting twice gives the same result as redacting once.

use std::borrow::Cow;
use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::kind::Kind;

/// What to do with a sensitive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Replace with `[REDACTED:<kind>]`.
    #[default]
    Mask,
    /// Replace with a keyed pseudonym `[<kind>:<hash>]`.
    Hash,
    /// Remove the value.
    Remove,
    /// Leave the value as it is.
    Keep,
}

impl Method {
    /// The name used in policies (`mask`, `hash`, `remove`, `keep`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Mask => "mask",
            Method::Hash => "hash",
            Method::Remove => "remove",
            Method::Keep => "keep",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A method per kind: what a policy says to do with each kind of value found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Methods([Method; Kind::COUNT]);

impl Default for Methods {
    /// Everything masked.
    fn default() -> Self {
        Methods::all(Method::Mask)
    }
}

impl Methods {
    /// The same method for every kind.
    pub const fn all(method: Method) -> Self {
        Methods([method; Kind::COUNT])
    }

    /// Sets the method for `kind`.
    pub fn set(&mut self, kind: Kind, method: Method) -> &mut Self {
        self.0[kind as usize] = method;
        self
    }

    /// The method for `kind`.
    pub fn get(&self, kind: Kind) -> Method {
        self.0[kind as usize]
    }
}

/// The marker that replaces a masked value of `kind`: `[REDACTED:<kind>]`.
pub const fn mask_marker(kind: Kind) -> &'static str {
    // A `const fn` cannot format: one literal per kind (a test checks they agree).
    match kind {
        Kind::Card => "[REDACTED:card]",
        Kind::Ssn => "[REDACTED:ssn]",
        Kind::Iban => "[REDACTED:iban]",
        Kind::Email => "[REDACTED:email]",
        Kind::Ipv4 => "[REDACTED:ipv4]",
        Kind::Ipv6 => "[REDACTED:ipv6]",
        Kind::Jwt => "[REDACTED:jwt]",
        Kind::BearerToken => "[REDACTED:bearer_token]",
        Kind::AwsAccessKey => "[REDACTED:aws_access_key]",
        Kind::AwsSecretKey => "[REDACTED:aws_secret_key]",
        Kind::GithubToken => "[REDACTED:github_token]",
        Kind::SlackToken => "[REDACTED:slack_token]",
        Kind::StripeKey => "[REDACTED:stripe_key]",
        Kind::GoogleApiKey => "[REDACTED:google_api_key]",
        Kind::PrivateKey => "[REDACTED:private_key]",
        Kind::UrlCredentials => "[REDACTED:url_credentials]",
        Kind::Secret => "[REDACTED:secret]",
        Kind::QueryParam => "[REDACTED:query_param]",
        Kind::UrlSignature => "[REDACTED:url_signature]",
        Kind::SqlStatement => "[REDACTED:sql]",
        Kind::Identifier => "[REDACTED:id]",
    }
}

/// Length of a pseudonym's hash part, in base32 characters (5 bits each: 80 bits).
pub const PSEUDONYM_CHARS: usize = 16;

/// Keyed pseudonyms for one tenant. The key never appears in `Debug` output.
#[derive(Clone)]
pub struct Pseudonymizer {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymizer { key: <hidden> }")
    }
}

impl Pseudonymizer {
    /// A pseudonymizer keyed by `secret` (32 random bytes per tenant is the intended use;
    /// HMAC accepts any length).
    pub fn new(secret: &[u8]) -> Self {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Pseudonymizer { mac }
    }

    /// The pseudonym of `value` as a `kind`: `[<kind>:<16 base32 chars>]`.
    pub fn pseudonym(&self, kind: Kind, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(kind.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(kind.as_str().len() + PSEUDONYM_CHARS + 3);
        out.push('[');
        out.push_str(kind.as_str());
        out.push(':');
        base32_lower(&digest[..10], &mut out);
        out.push(']');
        out
    }
}

/// Whether `text` is exactly a replacement this module writes: a mask marker
/// (`[REDACTED:email]`) or a pseudonym (`[email:k5vq2mxa7ehtq3ld]`). Redacting such a value
/// again must leave it alone, or a second pass would pseudonymise a pseudonym.
pub fn is_replacement(text: &str) -> bool {
    replacement_kind(text).is_some()
}

/// The kind a replacement this module writes stands for (`[REDACTED:email]` and
/// `[email:…]` → `email`), or `None` when `text` is not exactly one.
pub fn replacement_kind(text: &str) -> Option<Kind> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    let (head, tail) = inner.split_once(':')?;
    if head == "REDACTED" {
        return Kind::from_name(tail);
    }
    let is_hash = tail.len() == PSEUDONYM_CHARS
        && tail.bytes().all(|c| matches!(c, b'a'..=b'z' | b'2'..=b'7'));
    Kind::from_name(head).filter(|_| is_hash)
}

/// RFC 4648 base32 in lowercase, without padding; `bytes.len()` must be a multiple of 5.
fn base32_lower(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = buf.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        for i in (0..8).rev() {
            out.push(ALPHABET[((n >> (i * 5)) & 31) as usize] as char);
        }
    }
}

/// The replacement for `value`, a `kind`, under `method`. `Hash` without a pseudonymizer
/// masks instead: a missing key must never mean the value is kept.
pub fn apply<'v>(
    method: Method,
    kind: Kind,
    value: &'v str,
    pseudonymizer: Option<&Pseudonymizer>,
) -> Cow<'v, str> {
    match (method, pseudonymizer) {
        (Method::Keep, _) => Cow::Borrowed(value),
        (Method::Remove, _) => Cow::Borrowed(""),
        (Method::Hash, Some(p)) => Cow::Owned(p.pseudonym(kind, value)),
        (Method::Mask | Method::Hash, _) => Cow::Borrowed(mask_marker(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_mask_marker_naming_it() {
        for &k in Kind::ALL {
            assert_eq!(mask_marker(k), format!("[REDACTED:{}]", k.as_str()));
        }
    }

    #[test]
    fn pseudonyms_are_stable_per_key_and_differ_across_keys_and_kinds() {
        let a = Pseudonymizer::new(b"tenant-a secret, 32 bytes long!!");
        let b = Pseudonymizer::new(b"tenant-b secret, 32 bytes long!!");
        let p = a.pseudonym(Kind::Email, "alice@example.com");
        assert_eq!(p, a.pseudonym(Kind::Email, "alice@example.com"));
        assert_ne!(p, a.pseudonym(Kind::Email, "bob@example.com"));
        assert_ne!(p, b.pseudonym(Kind::Email, "alice@example.com"));
        assert_ne!(p, a.pseudonym(Kind::Secret, "alice@example.com"));
        assert!(p.starts_with("[email:") && p.ends_with(']'), "{p}");
        let hash = &p["[email:".len()..p.len() - 1];
        assert_eq!(hash.len(), PSEUDONYM_CHARS);
        assert!(hash.bytes().all(|c| matches!(c, b'a'..=b'z' | b'2'..=b'7')));
        assert!(!p.contains("alice"));
    }

    #[test]
    fn replacements_are_recognised() {
        let p = Pseudonymizer::new(b"k");
        assert!(is_replacement(&p.pseudonym(Kind::Email, "a@b.c")));
        assert!(is_replacement(&p.pseudonym(Kind::Identifier, "u-1")));
        assert_eq!(
            replacement_kind(&p.pseudonym(Kind::Secret, "x")),
            Some(Kind::Secret)
        );
        assert_eq!(replacement_kind("[REDACTED:secret]"), Some(Kind::Secret));
        for &k in Kind::ALL {
            assert!(is_replacement(mask_marker(k)));
        }
        for not in [
            "",
            "[]",
            "[REDACTED:nope]",
            "[email:short]",
            "[email:UPPERCASEUPPERCA]",
            "x[REDACTED:email]",
        ] {
            assert!(!is_replacement(not), "{not}");
        }
    }

    #[test]
    fn base32_matches_rfc4648_vectors() {
        let mut s = String::new();
        base32_lower(b"fooba", &mut s);
        assert_eq!(s, "mzxw6ytb");
    }

    #[test]
    fn apply_follows_the_method() {
        let p = Pseudonymizer::new(b"k");
        let v = "4111 1111 1111 1111";
        assert_eq!(apply(Method::Keep, Kind::Card, v, Some(&p)), v);
        assert_eq!(apply(Method::Remove, Kind::Card, v, Some(&p)), "");
        assert_eq!(
            apply(Method::Mask, Kind::Card, v, Some(&p)),
            "[REDACTED:card]"
        );
        assert_eq!(
            apply(Method::Hash, Kind::Card, v, Some(&p)),
            p.pseudonym(Kind::Card, v)
        );
        assert_eq!(apply(Method::Hash, Kind::Card, v, None), "[REDACTED:card]");
        assert_eq!(format!("{p:?}"), "Pseudonymizer { key: <hidden> }");
    }

    #[test]
    fn methods_per_kind() {
        let mut m = Methods::default();
        assert!(Kind::ALL.iter().all(|&k| m.get(k) == Method::Mask));
        m.set(Kind::Email, Method::Hash)
            .set(Kind::Ipv4, Method::Keep);
        assert_eq!(m.get(Kind::Email), Method::Hash);
        assert_eq!(m.get(Kind::Ipv4), Method::Keep);
        assert_eq!(m.get(Kind::Card), Method::Mask);
        assert_eq!(Methods::all(Method::Remove).get(Kind::Jwt), Method::Remove);
    }

    #[test]
    fn methods_parse_from_policy_names() {
        for m in [Method::Mask, Method::Hash, Method::Remove, Method::Keep] {
            let parsed: Method = serde_json_like(m.as_str());
            assert_eq!(parsed, m);
        }
    }

    fn serde_json_like(name: &str) -> Method {
        #[derive(Deserialize)]
        struct W {
            m: Method,
        }
        toml::from_str::<W>(&format!("m = \"{name}\""))
            .expect("parses")
            .m
    }
}
