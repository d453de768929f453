//! Every sensitive literal the generator plants, each in the format Scrim's detectors know.
//!
//! Tests elsewhere grep data directories and API responses for [`PLANTED_SECRETS`]: if one
//! shows up, raw data got past the capture policy. Each value is a whole token, long or
//! specific enough that it cannot appear by chance in redacted output.

/// Visa test card (Luhn-valid), as printed on a card.
pub const CARD_VISA: &str = "4111 1111 1111 1111";
/// The same card as a payment form submits it (SQL literals).
pub const CARD_VISA_COMPACT: &str = "4111111111111111";
/// Mastercard test card (Luhn-valid).
pub const CARD_MASTERCARD: &str = "5555 5555 5555 4444";
/// The same card without separators.
pub const CARD_MASTERCARD_COMPACT: &str = "5555555555554444";
/// American Express test card (Luhn-valid, 15 digits).
pub const CARD_AMEX: &str = "378282246310005";

/// Customers' email addresses.
pub const EMAIL_MARIA: &str = "maria.garcia@example.com";
/// A sub-addressed email (the `+` must not end the match).
pub const EMAIL_JOHN: &str = "j.smith+shop@example.org";
/// A third customer.
pub const EMAIL_LI: &str = "li.wei@example.net";

/// Client addresses, as the frontend's load balancer reports them.
pub const IPV4_MARIA: &str = "203.0.113.57";
/// Second client, IPv4.
pub const IPV4_JOHN: &str = "198.51.100.23";
/// Third client, IPv6.
pub const IPV6_LI: &str = "2001:db8:85a3::8a2e:370:7334";

/// A session JWT (HS256 header with `"alg"`, as the JWT detector requires).
pub const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTQ4MjEzIiwic2NvcGUiOiJjaGVja291dCBvcmRlcnMiLCJpYXQiOjE3MzU2ODk2MDAsImV4cCI6MTczNTY5MzIwMH0.pU3KGCUwux1tEyze1iN7LtkeP3IfyxlxF0SU1kk8nVw";
/// An AWS access key id (`AKIA` + 16 of `[A-Z0-9]`).
pub const AWS_ACCESS_KEY_ID: &str = "AKIAYOJFLJOOA5LQSAJ0";
/// An AWS secret access key (40 of `[A-Za-z0-9/+]`), planted as an assignment.
pub const AWS_SECRET_ACCESS_KEY: &str = "ors+6ILi8IHn5kxsC7tVO+HbkQfyy+KV5zjR3j1t";
/// A GitHub personal access token (`ghp_` + 36).
pub const GITHUB_TOKEN: &str = "ghp_GlkoMXGjtEkDnNfribxUdl7dXTPyLsxPFkTh";
/// A Stripe live secret key.
pub const STRIPE_KEY: &str = "sk_live_51f4VucSmEHgaKwVJ7faC9qE";
/// A Slack bot token.
pub const SLACK_TOKEN: &str = "xoxb-2048151162-4411956932114-Vq8tR3mK9xL2pN7wB4sJ6hFd";
/// A customer's password, in the login request body.
pub const LOGIN_PASSWORD: &str = "Tr0ub4dor&3-shop";
/// The payments database password, inside a connection string.
pub const DB_PASSWORD: &str = "Pg-pr0d-S3cret";
/// An opaque session id, in URL query strings and cookies.
pub const SESSION_ID: &str = "ba41ecccc3fc1626e53a13043b026c48";
/// An internal service-to-service API key, in an `x-api-key` header.
pub const INTERNAL_API_KEY: &str = "int-7Hq2Lx9Vd4Rk8Wp3Zs6N";
/// A German IBAN (MOD-97 valid), as printed.
pub const IBAN: &str = "DE89 3704 0044 0532 0130 00";
/// The same IBAN without spaces.
pub const IBAN_COMPACT: &str = "DE89370400440532013000";
/// A US social security number that passes validation.
pub const SSN: &str = "512-84-3097";

/// Every sensitive literal the generator ever plants.
pub const PLANTED_SECRETS: &[&str] = &[
    CARD_VISA,
    CARD_VISA_COMPACT,
    CARD_MASTERCARD,
    CARD_MASTERCARD_COMPACT,
    CARD_AMEX,
    EMAIL_MARIA,
    EMAIL_JOHN,
    EMAIL_LI,
    IPV4_MARIA,
    IPV4_JOHN,
    IPV6_LI,
    JWT,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    GITHUB_TOKEN,
    STRIPE_KEY,
    SLACK_TOKEN,
    LOGIN_PASSWORD,
    DB_PASSWORD,
    SESSION_ID,
    INTERNAL_API_KEY,
    IBAN,
    IBAN_COMPACT,
    SSN,
];

/// [`PLANTED_SECRETS`], as a function.
pub fn planted_secrets() -> &'static [&'static str] {
    PLANTED_SECRETS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luhn(digits: &str) -> bool {
        let ds: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
        let sum: u32 = ds
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| {
                if i % 2 == 1 {
                    (d * 2) % 9 + u32::from(d == 9) * 9
                } else {
                    d
                }
            })
            .sum();
        sum.is_multiple_of(10)
    }

    fn iban_valid(iban: &str) -> bool {
        let s: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
        let rearranged = format!("{}{}", &s[4..], &s[..4]);
        let mut rem = 0u32;
        for c in rearranged.chars() {
            let v = c.to_digit(36).unwrap();
            for d in v.to_string().chars() {
                rem = (rem * 10 + d.to_digit(10).unwrap()) % 97;
            }
        }
        rem == 1
    }

    #[test]
    fn values_have_the_formats_the_detectors_validate() {
        for card in [CARD_VISA, CARD_MASTERCARD, CARD_AMEX] {
            assert!(luhn(card), "{card}");
        }
        assert!(!luhn("4111 1111 1111 1112"), "the Luhn check itself works");
        assert_eq!(CARD_VISA.replace(' ', ""), CARD_VISA_COMPACT);
        assert_eq!(CARD_MASTERCARD.replace(' ', ""), CARD_MASTERCARD_COMPACT);
        assert!(iban_valid(IBAN));
        assert!(!iban_valid("DE88 3704 0044 0532 0130 00"));
        assert_eq!(IBAN.replace(' ', ""), IBAN_COMPACT);
        assert_eq!(AWS_ACCESS_KEY_ID.len(), 20);
        assert!(
            AWS_ACCESS_KEY_ID[4..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(AWS_SECRET_ACCESS_KEY.len(), 40);
        assert_eq!(GITHUB_TOKEN.len(), 4 + 36);
        assert_eq!(JWT.split('.').count(), 3);
        let (area, rest) = SSN.split_once('-').unwrap();
        assert!(area != "000" && area != "666" && !area.starts_with('9'));
        assert!(!rest.starts_with("00") && !rest.ends_with("0000"));
        let mut sorted = PLANTED_SECRETS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), PLANTED_SECRETS.len(), "no duplicates");
    }
}
