//! Keeping secrets out of audit details.

use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Key fragments that mark a value as secret, compared with the key lowercased and with `_`,
/// `-`, `.` and spaces removed (so `api_key`, `API-Key` and `apiKey` all match `apikey`).
const SECRET_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "cookie",
    "privatekey",
    "credential",
    "accesskey",
    "signingkey",
    "masterkey",
    "datakey",
    "totp",
    "recoverycode",
];

/// Whether a JSON key looks like it holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let norm: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEY_PARTS.iter().any(|p| norm.contains(p))
}

/// Replaces, at every depth, the value under each secret-looking key (see [`is_secret_key`]:
/// password, secret, token, api_key, client_secret, authorization, cookie, private_key, …,
/// case-insensitive substrings) with `"[redacted]"`. Whole values go, objects and arrays
/// included (a before/after diff of a password shows neither side); `null` and booleans stay,
/// since they cannot carry a secret and say whether one is set.
///
/// Audit details hold diffs of settings and queries; they must never hold a secret, and this
/// is applied to every [`NewRecord`](crate::NewRecord)'s details.
pub fn redact_secrets(details: &mut Value) {
    match details {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) {
                    if !matches!(v, Value::Null | Value::Bool(_)) {
                        *v = Value::String(REDACTED.to_owned());
                    }
                } else {
                    redact_secrets(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}
