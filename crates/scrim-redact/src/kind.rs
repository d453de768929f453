//! What was found: the kinds of sensitive data Scrim recognises, and counts per kind.
//!
//! A kind's name (`Kind::as_str`) appears in markers (`[REDACTED:email]`), pseudonyms
//! (`[email:…]`), policies and reports, so the names are part of the output contract.

use std::fmt;

macro_rules! kinds {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// A kind of sensitive value.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $(#[doc = $doc] $variant,)*
        }

        impl Kind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The stable, lowercase name used in markers, policies and reports.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }

            /// The kind with this name (as written by [`Kind::as_str`]).
            pub fn from_name(name: &str) -> Option<Kind> {
                match name {
                    $($name => Some(Kind::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    Card => "card", "A payment card number (IIN range and Luhn check pass).";
    Ssn => "ssn", "A US social security number.";
    Iban => "iban", "An international bank account number (length and MOD-97 pass).";
    Email => "email", "An email address.";
    Ipv4 => "ipv4", "An IPv4 address.";
    Ipv6 => "ipv6", "An IPv6 address.";
    Jwt => "jwt", "A JSON Web Token.";
    BearerToken => "bearer_token", "The credential after `Bearer ` (or `Basic `).";
    AwsAccessKey => "aws_access_key", "An AWS access key id (`AKIA…`).";
    AwsSecretKey => "aws_secret_key", "An AWS secret access key, recognised by its assignment.";
    GithubToken => "github_token", "A GitHub token (`ghp_…`, `github_pat_…`).";
    SlackToken => "slack_token", "A Slack token (`xoxb-…`) or webhook URL.";
    StripeKey => "stripe_key", "A Stripe API key (`sk_live_…`).";
    GoogleApiKey => "google_api_key", "A Google API key (`AIza…`).";
    PrivateKey => "private_key", "A PEM private key block.";
    UrlCredentials => "url_credentials", "The user and password inside a URL.";
    Secret => "secret", "A value under a sensitive key name (`password=…`, `\"token\": …`).";
    QueryParam => "query_param", "A URL query parameter value.";
    UrlSignature => "url_signature", "A signature parameter of a pre-signed URL.";
    SqlStatement => "sql", "A database statement whose literals were removed.";
    Identifier => "id", "An attribute the policy pseudonymises by name (`enduser.id`).";
}

impl Kind {
    /// How many kinds there are.
    pub const COUNT: usize = Kind::ALL.len();
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::from_name(s).ok_or_else(|| UnknownKind(s.chars().take(64).collect()))
    }
}

/// A kind name that is not one of [`Kind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown kind `{}`; known kinds: ", self.0)?;
        for (i, k) in Kind::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(k.as_str())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownKind {}

impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Kind::from_name(&name).ok_or_else(|| serde::de::Error::custom(UnknownKind(name.into())))
    }
}

/// How many values of each kind were redacted. Cheap to create and add to (an array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts([u64; Kind::COUNT]);

impl Default for Counts {
    fn default() -> Self {
        Counts([0; Kind::COUNT])
    }
}

impl Counts {
    /// Counts one more `kind`.
    pub fn add(&mut self, kind: Kind) {
        self.add_n(kind, 1);
    }

    /// Counts `n` more `kind`.
    pub fn add_n(&mut self, kind: Kind, n: u64) {
        let slot = &mut self.0[kind as usize];
        *slot = slot.saturating_add(n);
    }

    /// The count for `kind`.
    pub fn get(&self, kind: Kind) -> u64 {
        self.0[kind as usize]
    }

    /// The sum over all kinds.
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Counts) {
        for (k, &n) in Kind::ALL.iter().zip(&other.0) {
            self.add_n(*k, n);
        }
    }

    /// The kinds with a non-zero count, in [`Kind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Kind, u64)> + '_ {
        Kind::ALL
            .iter()
            .zip(&self.0)
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (*k, *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.as_str()), Some(*k));
            assert_eq!(k.as_str().parse::<Kind>(), Ok(*k));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Kind::COUNT);
        let err = "credit".parse::<Kind>().unwrap_err().to_string();
        assert!(err.contains("unknown kind `credit`") && err.contains("card"));
    }

    #[test]
    fn counts_add_merge_and_iterate() {
        let mut a = Counts::default();
        a.add(Kind::Email);
        a.add(Kind::Email);
        a.add_n(Kind::Card, 3);
        let mut b = Counts::default();
        b.add(Kind::Email);
        b.merge(&a);
        assert_eq!(b.get(Kind::Email), 3);
        assert_eq!(b.total(), 6);
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            [(Kind::Card, 3), (Kind::Email, 3)]
        );
        b.add_n(Kind::Card, u64::MAX);
        assert_eq!(b.get(Kind::Card), u64::MAX);
    }
}
