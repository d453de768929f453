//! TOTP (RFC 6238) as authenticator apps implement it: HMAC-SHA1, 6 digits, 30-second steps,
//! a 160-bit secret (the HMAC-SHA1 block-size recommendation of RFC 4226 section 4).
//!
//! Enrolment: [`TotpSecret::generate`], then show [`otpauth_uri`] as text and as a QR code
//! ([`qr_svg`]); store the secret encrypted (the caller's job, with `scrim-crypto`) and
//! confirm enrolment with a first [`verify`]. Sign-in: [`verify`] with the last step used,
//! then store the step it returns so the same code cannot be used twice.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::base32;

/// Bytes in a secret (160 bits).
pub const TOTP_SECRET_LEN: usize = 20;
/// Digits in a code.
pub const TOTP_DIGITS: u32 = 6;
/// Seconds in a time step.
pub const TOTP_STEP_SECS: u64 = 30;
/// Steps accepted either side of the current one, for clock drift and typing time.
pub const TOTP_WINDOW: u64 = 1;

/// A TOTP shared secret. `Debug` does not show it; it is wiped from memory when dropped.
#[derive(Clone)]
pub struct TotpSecret([u8; TOTP_SECRET_LEN]);

impl TotpSecret {
    /// 20 random bytes from the operating system.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; TOTP_SECRET_LEN];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// A stored secret (after decryption); `None` unless it is [`TOTP_SECRET_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw bytes, to encrypt for storage.
    pub fn expose_bytes(&self) -> &[u8; TOTP_SECRET_LEN] {
        &self.0
    }

    /// The secret as authenticator apps take it: RFC 4648 base32, upper case, no padding
    /// (32 characters). For the one-time display at enrolment.
    pub fn expose_base32(&self) -> String {
        base32::encode(&self.0)
    }

    /// Reads a base32 secret (either case, spaces and padding ignored).
    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        base32::decode(text)
            .and_then(|bytes| Self::from_bytes(&bytes))
            .ok_or(TotpError::BadSecret)
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([hidden])")
    }
}

impl Drop for TotpSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// Why a code was refused or an enrolment artefact could not be made. Never contains the
/// code or the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpError {
    /// Not six digits (spaces aside).
    MalformedCode,
    /// Matches no step in the window.
    WrongCode,
    /// Matches a step at or before the last one used: a replay.
    Replayed,
    /// Not a base32 secret of [`TOTP_SECRET_LEN`] bytes.
    BadSecret,
    /// The URI does not fit in a QR code (an issuer or account name far too long).
    QrCode,
}

impl fmt::Display for TotpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MalformedCode => "the code must be 6 digits",
            Self::WrongCode => "wrong or expired code",
            Self::Replayed => "this code has already been used; wait for the next one",
            Self::BadSecret => "not a TOTP secret: expected 20 bytes in base32",
            Self::QrCode => "the otpauth URI is too long for a QR code",
        })
    }
}

impl std::error::Error for TotpError {}

/// The time step of a Unix time in seconds.
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / TOTP_STEP_SECS
}

/// HOTP (RFC 4226 section 5.3): HMAC-SHA1 of the big-endian counter, dynamic truncation,
/// the last `digits` decimal digits.
fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let binary = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

fn format_code(value: u32, digits: u32) -> String {
    format!("{value:0width$}", width = digits as usize)
}

/// The code for a time step, with `digits` digits (6 in use; 8 for the RFC vectors).
fn code_for_step(secret: &TotpSecret, step: u64, digits: u32) -> String {
    format_code(hotp(&secret.0, step, digits), digits)
}

/// The 6-digit code at `unix_secs`, as an authenticator app would show it.
pub fn code_at(secret: &TotpSecret, unix_secs: u64) -> String {
    code_for_step(secret, step_at(unix_secs), TOTP_DIGITS)
}

/// Checks a code presented at `now_unix_secs`. Accepts the current step and
/// [`TOTP_WINDOW`] step either side; refuses a step at or before `last_used_step` (the
/// value the previous successful call returned, `None` before the first). Returns the
/// matched step, for the caller to store.
///
/// Every step in the window is computed and compared in constant time, whatever matches.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now_unix_secs: u64,
    last_used_step: Option<u64>,
) -> Result<u64, TotpError> {
    verify_digits(secret, code, now_unix_secs, last_used_step, TOTP_DIGITS)
}

fn verify_digits(
    secret: &TotpSecret,
    code: &str,
    now_unix_secs: u64,
    last_used_step: Option<u64>,
    digits: u32,
) -> Result<u64, TotpError> {
    // Apps show "123 456"; people paste it as shown.
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::MalformedCode);
    }
    let now = step_at(now_unix_secs);
    let mut fresh: Option<u64> = None;
    let mut replayed = false;
    for step in now.saturating_sub(TOTP_WINDOW)..=now.saturating_add(TOTP_WINDOW) {
        let expected = code_for_step(secret, step, digits);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            if last_used_step.is_some_and(|last| step <= last) {
                replayed = true;
            } else {
                // Ascending order: the latest unused match wins (two steps sharing a code
                // is a one-in-a-million chance; the later one is the safer to record).
                fresh = Some(step);
            }
        }
    }
    match (fresh, replayed) {
        (Some(step), _) => Ok(step),
        (None, true) => Err(TotpError::Replayed),
        (None, false) => Err(TotpError::WrongCode),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The enrolment URI (Key Uri Format, as Google Authenticator and others read it):
/// `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
/// Issuer and account are percent-encoded (a `:` inside either becomes `%3A`, so the label
/// still splits at the one literal colon). The URI contains the secret: show it once.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECS}",
        account = percent_encode(account),
        secret = secret.expose_base32(),
    )
}

/// A QR code of `uri` as a standalone SVG document (black on white, with the quiet zone),
/// for the enrolment page. Error correction level M, as authenticator apps expect to scan
/// from a screen.
pub fn qr_svg(uri: &str) -> Result<String, TotpError> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map_err(|_| TotpError::QrCode)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA1 key is the ASCII of "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let secret = rfc_secret();
        for (time, code) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_for_step(&secret, step_at(time), 8), code, "T={time}");
            assert_eq!(
                verify_digits(&secret, code, time, None, 8),
                Ok(step_at(time)),
                "T={time}"
            );
            // The 6-digit code is the last six digits of the same truncated value.
            assert_eq!(code_at(&secret, time), code[2..], "T={time}");
        }
    }

    #[test]
    fn rfc4226_appendix_d_hotp_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.into_iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), want);
        }
    }

    #[test]
    fn window_accepts_one_step_either_side_only() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_700_000_015u64;
        let step = step_at(now);
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let s = step.checked_add_signed(offset).unwrap();
            let code = code_for_step(&secret, s, TOTP_DIGITS);
            let got = verify(&secret, &code, now, None);
            if accepted {
                assert_eq!(got, Ok(s), "offset {offset}");
            } else {
                // Never its own step; another step only if the codes collide (1 in 10^6).
                assert_ne!(got, Ok(s), "offset {offset}");
            }
        }
    }

    #[test]
    fn a_code_is_refused_once_its_step_was_used() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_700_000_000u64;
        let code = code_at(&secret, now);
        let step = verify(&secret, &code, now, None).unwrap();
        assert_eq!(step, step_at(now));
        assert_eq!(
            verify(&secret, &code, now, Some(step)),
            Err(TotpError::Replayed)
        );
        // Still refused a step later, while it is inside the window.
        assert_eq!(
            verify(&secret, &code, now + TOTP_STEP_SECS, Some(step)),
            Err(TotpError::Replayed)
        );
        // An earlier code is refused too once a later step was used.
        let previous = code_for_step(&secret, step - 1, TOTP_DIGITS);
        if previous != code {
            assert_eq!(
                verify(&secret, &previous, now, Some(step)),
                Err(TotpError::Replayed)
            );
        }
        // The next step's code is fine.
        let next = code_at(&secret, now + TOTP_STEP_SECS);
        assert_eq!(
            verify(&secret, &next, now + TOTP_STEP_SECS, Some(step)),
            Ok(step + 1)
        );
    }

    #[test]
    fn malformed_codes_are_refused_before_any_hmac() {
        let secret = rfc_secret();
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６", "-12345"] {
            assert_eq!(
                verify(&secret, bad, 59, None),
                Err(TotpError::MalformedCode),
                "{bad}"
            );
        }
        // Spaces as apps display them are fine.
        assert_eq!(verify(&secret, " 287 082\n", 59, None), Ok(1));
    }

    #[test]
    fn time_zero_has_no_step_before_it() {
        let secret = rfc_secret();
        let code = code_at(&secret, 0);
        assert_eq!(verify(&secret, &code, 0, None), Ok(0));
    }

    #[test]
    fn secret_round_trips_through_base32_and_bytes() {
        let secret = TotpSecret::generate().unwrap();
        let text = secret.expose_base32();
        assert_eq!(text.len(), 32);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        let back = TotpSecret::from_base32(&text.to_lowercase()).unwrap();
        assert_eq!(back.expose_bytes(), secret.expose_bytes());
        assert_eq!(
            TotpSecret::from_bytes(secret.expose_bytes())
                .unwrap()
                .expose_bytes(),
            secret.expose_bytes()
        );
        assert_eq!(
            rfc_secret().expose_base32(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBV").unwrap_err(),
            TotpError::BadSecret
        );
        assert_eq!(
            TotpSecret::from_base32("not base32!").unwrap_err(),
            TotpError::BadSecret
        );
        assert!(TotpSecret::from_bytes(&[0u8; 19]).is_none());
    }

    #[test]
    fn uri_has_the_key_uri_format_shape() {
        let secret = rfc_secret();
        let uri = otpauth_uri(&secret, "Scrim", "alice@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Scrim:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Scrim&algorithm=SHA1&digits=6&period=30"
        );
        let uri = otpauth_uri(&secret, "Acme Corp: EU", "bob smith/ops");
        assert!(
            uri.starts_with("otpauth://totp/Acme%20Corp%3A%20EU:bob%20smith%2Fops?secret="),
            "{uri}"
        );
        assert!(uri.contains("&issuer=Acme%20Corp%3A%20EU&"), "{uri}");
        assert_eq!(uri.matches(':').count(), 2, "scheme and label only: {uri}");
    }

    #[test]
    fn qr_code_is_an_svg_document() {
        let uri = otpauth_uri(&rfc_secret(), "Scrim", "alice@example.com");
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<?xml"), "{}", &svg[..60]);
        assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<path"));
        assert_eq!(qr_svg(&"x".repeat(8000)), Err(TotpError::QrCode));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = rfc_secret();
        let shown = format!("{secret:?}");
        assert_eq!(shown, "TotpSecret([hidden])");
        assert!(!shown.contains("GEZDGNBV"));
        assert!(!format!("{:?}", verify(&secret, "000000", 59, None)).contains("000000"));
    }
}
