//! Key names that mark a value as sensitive whatever it looks like: `password`,
//! `api_key`, `Authorization`, `creditCard`, …
//!
//! One list serves JSON bodies (`{"password": "…"}`), `key=value` assignments in free
//! text (`password=hunter2`), headers and attribute names.
//!
//! Matching is by words, not substrings, so that `cardinality` or `tokenizer_version` are
//! not mistaken for `card` or `token`: a key is split into lowercase words at `_`, `-`,
//! `.`, spaces and camelCase boundaries (`X-Api-Key` → `x api key`, `creditCardNumber` →
//! `credit card number`), and it is sensitive when some run of consecutive words, joined,
//! equals a pattern with its separators removed. So `api_key` matches `apiKey`,
//! `X-API-KEY` and `apikey`; `token` matches `access_token` and `tokenValue`;
//! `card` matches `credit_card` but not `cardinality`.

/// The default sensitive key names. Part of the documented capture policy.
pub const DEFAULT_SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "secret",
    "token",
    "auth",
    "authorization",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "client_secret",
    "credentials",
    "credential",
    "cookie",
    "set_cookie",
    "session",
    "sessionid",
    "csrf",
    "xsrf",
    "signature",
    "card",
    "card_number",
    "cardnumber",
    "pan",
    "cvv",
    "cvc",
    "cvv2",
    "ssn",
    "social_security_number",
    "iban",
    "pin",
    "otp",
];

/// The longest joined run of words compared with the patterns. Bounds the work per word,
/// so matching stays linear in the key's length however hostile the key.
const MAX_JOINED: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensitiveKeys {
    /// Patterns lowercased with separators removed, sorted and deduplicated.
    patterns: Vec<String>,
}

impl Default for SensitiveKeys {
    fn default() -> Self {
        Self::new(DEFAULT_SENSITIVE_KEYS.iter().copied())
    }
}

impl SensitiveKeys {
    /// A set of exactly these key names (an empty set matches nothing).
    pub fn new<'s>(names: impl IntoIterator<Item = &'s str>) -> Self {
        let mut patterns: Vec<String> = names
            .into_iter()
            .map(|n| {
                n.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_lowercase)
                    .collect::<String>()
            })
            .filter(|p| !p.is_empty())
            .collect();
        patterns.sort();
        patterns.dedup();
        SensitiveKeys { patterns }
    }

    /// The defaults plus `extra`.
    pub fn with_extra<'s>(extra: impl IntoIterator<Item = &'s str>) -> Self {
        Self::new(DEFAULT_SENSITIVE_KEYS.iter().copied().chain(extra))
    }

    /// The normalised patterns (lowercase, separators removed).
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(String::as_str)
    }

    /// Whether a value under `key` must be treated as sensitive.
    pub fn is_sensitive(&self, key: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let bytes = key.as_bytes();
        let mut joined = [0u8; MAX_JOINED];
        let mut pos = 0;
        while let Some((start, end)) = next_word(bytes, pos) {
            pos = end;
            // Every run of consecutive words starting here, while it fits.
            let (mut len, mut word) = (0, Some((start, end)));
            while let Some((s, e)) = word {
                let w = &bytes[s..e];
                if len + w.len() > MAX_JOINED {
                    break;
                }
                for (dst, b) in joined[len..len + w.len()].iter_mut().zip(w) {
                    *dst = b.to_ascii_lowercase();
                }
                len += w.len();
                // Only ASCII letters and digits are copied, so this is valid UTF-8.
                let candidate = std::str::from_utf8(&joined[..len]).unwrap_or("");
                if self
                    .patterns
                    .binary_search_by(|p| p.as_str().cmp(candidate))
                    .is_ok()
                {
                    return true;
                }
                word = next_word(bytes, e);
            }
        }
        false
    }
}

/// The next ASCII alphanumeric word at or after `pos`. Words end at separators and at
/// lower→upper case changes (`apiKey`, `XMLHttpToken` → `xml http token`); non-ASCII
/// characters separate words.
fn next_word(b: &[u8], mut pos: usize) -> Option<(usize, usize)> {
    while pos < b.len() && !b[pos].is_ascii_alphanumeric() {
        pos += 1;
    }
    if pos >= b.len() {
        return None;
    }
    let start = pos;
    pos += 1;
    while pos < b.len() && b[pos].is_ascii_alphanumeric() {
        let (prev, cur) = (b[pos - 1], b[pos]);
        let lower_to_upper = prev.is_ascii_lowercase() && cur.is_ascii_uppercase();
        // `XMLHttp`: the last capital of a run starts the next word.
        let acronym_end = prev.is_ascii_uppercase()
            && cur.is_ascii_uppercase()
            && b.get(pos + 1).is_some_and(u8::is_ascii_lowercase);
        if lower_to_upper || acronym_end {
            break;
        }
        pos += 1;
    }
    Some((start, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_match_common_spellings() {
        let k = SensitiveKeys::default();
        for key in [
            "password",
            "Password",
            "user_password",
            "newPassword",
            "X-Api-Key",
            "x-api-key",
            "apiKey",
            "API_KEY",
            "apikey",
            "access_token",
            "refreshToken",
            "Authorization",
            "Set-Cookie",
            "creditCard",
            "card_number",
            "CardNumber",
            "cvv",
            "client_secret",
            "db.password",
            "XMLHttpToken",
        ] {
            assert!(k.is_sensitive(key), "{key} should be sensitive");
        }
    }

    #[test]
    fn look_alike_keys_do_not_match() {
        let k = SensitiveKeys::default();
        for key in [
            "cardinality",
            "tokenizer",
            "passenger",
            "compass",
            "pinned",
            "span",
            "user_id",
            "email_verified",
            "",
            "___",
            "http.request.method",
        ] {
            assert!(!k.is_sensitive(key), "{key} should not be sensitive");
        }
    }

    #[test]
    fn custom_lists_replace_or_extend_the_defaults() {
        let only = SensitiveKeys::new(["enduser.id"]);
        assert!(only.is_sensitive("enduser_id"));
        assert!(only.is_sensitive("EnduserId"));
        assert!(!only.is_sensitive("password"));
        let extended = SensitiveKeys::with_extra(["dob"]);
        assert!(extended.is_sensitive("user.dob"));
        assert!(extended.is_sensitive("password"));
        assert!(!SensitiveKeys::new([]).is_sensitive("password"));
    }

    #[test]
    fn hostile_keys_are_bounded() {
        let k = SensitiveKeys::default();
        // Linear however long: the last word still counts.
        assert!(k.is_sensitive(&("a_".repeat(100_000) + "password")));
        assert!(k.is_sensitive(&("password_".to_string() + &"a_".repeat(100_000))));
        assert!(!k.is_sensitive(&"x".repeat(100_000)));
        assert!(!k.is_sensitive(&"aB".repeat(100_000)));
    }
}
