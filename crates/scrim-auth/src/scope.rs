//! What an API key may do.
//!
//! Scopes are literal: [`Scopes::contains`] answers membership only, and `admin` does not
//! imply the others. Role-based decisions that combine scopes belong to the RBAC layer.

use std::fmt;
use std::str::FromStr;

/// One permission an API key can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    IngestTraces,
    IngestLogs,
    IngestMetrics,
    Read,
    Export,
    Delete,
    Admin,
    AuditRead,
}

impl Scope {
    /// Every scope, in the canonical (display) order.
    pub const ALL: [Scope; 8] = [
        Scope::IngestTraces,
        Scope::IngestLogs,
        Scope::IngestMetrics,
        Scope::Read,
        Scope::Export,
        Scope::Delete,
        Scope::Admin,
        Scope::AuditRead,
    ];

    /// The three ingest scopes, what `ingest` expands to.
    pub const INGEST: [Scope; 3] = [Scope::IngestTraces, Scope::IngestLogs, Scope::IngestMetrics];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::IngestTraces => "ingest:traces",
            Scope::IngestLogs => "ingest:logs",
            Scope::IngestMetrics => "ingest:metrics",
            Scope::Read => "read",
            Scope::Export => "export",
            Scope::Delete => "delete",
            Scope::Admin => "admin",
            Scope::AuditRead => "audit:read",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ParseScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| ParseScopeError::unknown(s))
    }
}

/// A set of scopes.
///
/// Text form: scope names separated by commas and/or whitespace, e.g.
/// `ingest:traces,read`. Parsing accepts `ingest` as shorthand for the three ingest scopes
/// and ignores duplicates; display writes each scope once, in [`Scope::ALL`] order,
/// separated by `,`, so display ▸ parse ▸ display is the identity. The empty set displays
/// as the empty string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u16);

impl Scopes {
    pub const fn empty() -> Self {
        Scopes(0)
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    pub fn with(mut self, scope: Scope) -> Self {
        self.insert(scope);
        self
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut scopes = Scopes::empty();
        for scope in iter {
            scopes.insert(scope);
        }
        scopes
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

impl FromStr for Scopes {
    type Err = ParseScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut scopes = Scopes::empty();
        for word in s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
        {
            if word == "ingest" {
                Scope::INGEST.into_iter().for_each(|s| scopes.insert(s));
            } else {
                scopes.insert(word.parse()?);
            }
        }
        Ok(scopes)
    }
}

/// An unknown scope name. Holds a bounded, escaped copy of the word to name it in the
/// message (scope lists are configuration, not secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseScopeError {
    word: String,
}

impl ParseScopeError {
    fn unknown(word: &str) -> Self {
        Self {
            word: word.chars().take(40).collect(),
        }
    }
}

impl fmt::Display for ParseScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown scope {:?}; known scopes: ingest (= ", self.word)?;
        for (i, s) in Scope::INGEST.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        f.write_str(")")?;
        for s in &Scope::ALL[3..] {
            write!(f, ", {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseScopeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
            let set: Scopes = scope.as_str().parse().unwrap();
            assert_eq!(set.iter().collect::<Vec<_>>(), vec![scope]);
        }
        let all: Scopes = Scope::ALL.into_iter().collect();
        assert_eq!(
            all.to_string(),
            "ingest:traces,ingest:logs,ingest:metrics,read,export,delete,admin,audit:read"
        );
        assert_eq!(all.to_string().parse::<Scopes>().unwrap(), all);
        assert_eq!("".parse::<Scopes>().unwrap(), Scopes::empty());
        assert_eq!(Scopes::empty().to_string(), "");
    }

    #[test]
    fn ingest_expands_to_the_three_ingest_scopes() {
        let s: Scopes = "ingest".parse().unwrap();
        assert!(s.contains(Scope::IngestTraces));
        assert!(s.contains(Scope::IngestLogs));
        assert!(s.contains(Scope::IngestMetrics));
        assert!(!s.contains(Scope::Read));
        assert_eq!(s.to_string(), "ingest:traces,ingest:logs,ingest:metrics");
    }

    #[test]
    fn separators_duplicates_and_order_do_not_matter() {
        let a: Scopes = "read, export  ingest:logs,read\n".parse().unwrap();
        let b: Scopes = "ingest:logs,export,read".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "ingest:logs,read,export");
        assert!(!a.contains(Scope::Admin));
        assert!(!a.contains(Scope::IngestTraces));
    }

    #[test]
    fn admin_does_not_imply_other_scopes() {
        let s: Scopes = "admin".parse().unwrap();
        assert!(s.contains(Scope::Admin));
        assert!(!s.contains(Scope::Read));
        assert!(!s.contains(Scope::AuditRead));
    }

    #[test]
    fn unknown_scope_is_a_clear_error() {
        for bad in [
            "write",
            "read,writ",
            "Read",
            "ingest:spans",
            "audit",
            "ingest:",
        ] {
            let err = bad.parse::<Scopes>().unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with("unknown scope"), "{msg}");
            assert!(msg.contains("audit:read"), "{msg}");
        }
        let msg = "read,writ".parse::<Scopes>().unwrap_err().to_string();
        assert!(msg.contains("\"writ\""), "{msg}");
        let long = "x".repeat(1000);
        assert!(long.parse::<Scopes>().unwrap_err().to_string().len() < 300);
    }
}
