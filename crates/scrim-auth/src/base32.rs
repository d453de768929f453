//! RFC 4648 base32 without padding, for TOTP secrets (authenticator apps read it in
//! otpauth URIs). Twenty lines do not need a dependency.

/// The RFC 4648 alphabet, upper case as authenticator apps expect.
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Encodes `bytes` in upper-case base32 without `=` padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[usize::from((buffer >> bits) & 31)]));
        }
    }
    if bits > 0 {
        out.push(char::from(
            ALPHABET[usize::from((buffer << (5 - bits)) & 31)],
        ));
    }
    out
}

/// Decodes base32 in either case, with or without trailing `=` padding; spaces are
/// ignored (secrets are often shown in groups). `None` for any other character, for a
/// length no encoder produces, or for non-zero leftover bits (so each value has one text).
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u16 = 0;
    let mut bits = 0u32;
    let mut symbols = 0usize;
    let body = text.trim_end_matches('=');
    for c in body.bytes().filter(|c| *c != b' ') {
        let value = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        symbols += 1;
        buffer = ((buffer << 5) | u16::from(value)) & 0x1fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    // 1, 3 and 6 symbols in a final group of 8 leave whole unused symbols: not an encoding.
    if matches!(symbols % 8, 1 | 3 | 6) || buffer & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        // RFC 4648 section 10, without the padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(encode(plain.as_bytes()), encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
            assert_eq!(decode(&encoded.to_lowercase()).unwrap(), plain.as_bytes());
        }
        assert_eq!(decode("MZXW6YQ=").unwrap(), b"foob");
        assert_eq!(decode("MZXW 6YTB").unwrap(), b"fooba");
    }

    #[test]
    fn round_trips_every_length() {
        let bytes: Vec<u8> = (0..=255u8).rev().collect();
        for n in 0..64 {
            let text = encode(&bytes[..n]);
            assert_eq!(decode(&text).unwrap(), &bytes[..n], "{n}");
        }
    }

    #[test]
    fn refuses_what_no_encoder_writes() {
        for bad in ["M", "MZX", "MZXW6Y", "MZ1", "MZ!Q", "MZXR"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
