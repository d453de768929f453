//! From a verified identity to a Scrim role: an ordered list of rules, the first that matches
//! wins; otherwise the default role, and without one, no access.
//!
//! Roles are strings here (`owner`, `admin`, `member`, `viewer`, `auditor`); the server
//! converts them and refuses a name it does not know. Rules on e-mail addresses only match an
//! address the provider marked verified: an unverified address is whatever the user typed.
//!
//! Stored as JSON, e.g.
//! `{"rules": [{"group": "scrim-admins", "role": "admin"}, {"email_domain": "example.com",
//! "role": "viewer"}], "default_role": null}`.

use serde::{Deserialize, Serialize};

use crate::VerifiedIdentity;

/// Which identities a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleMatch {
    /// Member of this group (from the configured groups claim), compared exactly.
    Group(String),
    /// This verified e-mail address, compared without regard to ASCII case.
    Email(String),
    /// A verified e-mail address at this domain (the part after the last `@`), without regard
    /// to ASCII case. Subdomains do not match.
    EmailDomain(String),
    /// This subject (`sub`), compared exactly.
    Subject(String),
    /// Everyone the provider signs in.
    Any,
}

/// One rule: identities that match get `role`. As JSON, one matcher key (`group`, `email`,
/// `email_domain`, `subject`, or `"any": true`) and `role`; a rule with two matchers or an
/// unknown key is refused rather than read as something broader than was meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct RoleRule {
    /// Which identities.
    pub when: RoleMatch,
    /// The role they get.
    pub role: String,
}

/// A rule's stored form.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    any: bool,
    role: String,
}

impl TryFrom<RawRule> for RoleRule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, String> {
        let mut matchers = [
            raw.group.map(RoleMatch::Group),
            raw.email.map(RoleMatch::Email),
            raw.email_domain.map(RoleMatch::EmailDomain),
            raw.subject.map(RoleMatch::Subject),
            raw.any.then_some(RoleMatch::Any),
        ]
        .into_iter()
        .flatten();
        let (Some(when), None) = (matchers.next(), matchers.next()) else {
            return Err(
                "a role rule needs exactly one of group, email, email_domain, subject, any".into(),
            );
        };
        if raw.role.is_empty() {
            return Err("a role rule needs a role".into());
        }
        Ok(RoleRule {
            when,
            role: raw.role,
        })
    }
}

impl From<RoleRule> for RawRule {
    fn from(rule: RoleRule) -> Self {
        let mut raw = RawRule {
            role: rule.role,
            ..RawRule::default()
        };
        match rule.when {
            RoleMatch::Group(g) => raw.group = Some(g),
            RoleMatch::Email(e) => raw.email = Some(e),
            RoleMatch::EmailDomain(d) => raw.email_domain = Some(d),
            RoleMatch::Subject(s) => raw.subject = Some(s),
            RoleMatch::Any => raw.any = true,
        }
        raw
    }
}

/// A tenant's mapping from identities to roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// Tried in order; the first match wins.
    #[serde(default)]
    pub rules: Vec<RoleRule>,
    /// The role of an identity no rule matches; `None` denies it.
    #[serde(default)]
    pub default_role: Option<String>,
}

impl RoleMatch {
    /// Whether `identity` matches.
    pub fn matches(&self, identity: &VerifiedIdentity) -> bool {
        let verified_email = identity
            .email
            .as_deref()
            .filter(|_| identity.email_verified);
        match self {
            RoleMatch::Group(group) => identity.groups.iter().any(|g| g == group),
            RoleMatch::Email(email) => {
                verified_email.is_some_and(|address| address.eq_ignore_ascii_case(email))
            }
            RoleMatch::EmailDomain(domain) => verified_email
                .and_then(|address| address.rsplit_once('@'))
                .is_some_and(|(local, at)| {
                    !local.is_empty() && at.eq_ignore_ascii_case(domain.trim_start_matches('@'))
                }),
            RoleMatch::Subject(subject) => identity.subject == *subject,
            RoleMatch::Any => true,
        }
    }
}

impl RoleMapping {
    /// The role of `identity`: the first matching rule's, else the default; `None` means no
    /// access.
    pub fn role_for(&self, identity: &VerifiedIdentity) -> Option<String> {
        self.rules
            .iter()
            .find(|rule| rule.when.matches(identity))
            .map(|rule| rule.role.clone())
            .or_else(|| self.default_role.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> VerifiedIdentity {
        VerifiedIdentity {
            issuer: "https://idp.example.test".into(),
            subject: "alice".into(),
            email: Some("Alice@Example.com".into()),
            email_verified: true,
            name: Some("Alice".into()),
            groups: vec!["staff".into(), "scrim-admins".into()],
        }
    }

    fn mapping(json: &str) -> RoleMapping {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn first_matching_rule_wins() {
        let m = mapping(
            r#"{"rules": [
                {"group": "scrim-owners", "role": "owner"},
                {"group": "scrim-admins", "role": "admin"},
                {"group": "staff", "role": "viewer"}
            ]}"#,
        );
        assert_eq!(m.role_for(&alice()).as_deref(), Some("admin"));
    }

    #[test]
    fn no_match_and_no_default_denies() {
        let m = mapping(r#"{"rules": [{"group": "other", "role": "admin"}]}"#);
        assert_eq!(m.role_for(&alice()), None);
        assert_eq!(RoleMapping::default().role_for(&alice()), None);
        let m = mapping(r#"{"rules": [], "default_role": "viewer"}"#);
        assert_eq!(m.role_for(&alice()).as_deref(), Some("viewer"));
    }

    #[test]
    fn email_rules_need_a_verified_address() {
        let m = mapping(
            r#"{"rules": [
                {"email": "alice@example.com", "role": "owner"},
                {"email_domain": "example.com", "role": "member"}
            ]}"#,
        );
        assert_eq!(m.role_for(&alice()).as_deref(), Some("owner"));
        let mut bob = alice();
        bob.email = Some("bob@EXAMPLE.com".into());
        assert_eq!(m.role_for(&bob).as_deref(), Some("member"));
        bob.email_verified = false;
        assert_eq!(m.role_for(&bob), None);
        bob.email_verified = true;
        bob.email = Some("bob@sub.example.com".into());
        assert_eq!(m.role_for(&bob), None);
        bob.email = Some("@example.com".into());
        assert_eq!(m.role_for(&bob), None);
    }

    #[test]
    fn subject_and_any() {
        let m = mapping(
            r#"{"rules": [{"subject": "alice", "role": "auditor"}, {"any": true, "role": "viewer"}]}"#,
        );
        assert_eq!(m.role_for(&alice()).as_deref(), Some("auditor"));
        let mut carol = alice();
        carol.subject = "carol".into();
        assert_eq!(m.role_for(&carol).as_deref(), Some("viewer"));
    }

    #[test]
    fn round_trips_as_json() {
        let m = RoleMapping {
            rules: vec![
                RoleRule {
                    when: RoleMatch::Group("g".into()),
                    role: "admin".into(),
                },
                RoleRule {
                    when: RoleMatch::EmailDomain("example.com".into()),
                    role: "viewer".into(),
                },
            ],
            default_role: None,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"rules":[{"group":"g","role":"admin"},{"email_domain":"example.com","role":"viewer"}],"default_role":null}"#
        );
        assert_eq!(serde_json::from_str::<RoleMapping>(&json).unwrap(), m);
        for bad in [
            r#"{"rules": [{"groop": "g", "role": "admin"}]}"#,
            r#"{"rules": [{"group": "g", "email": "a@example.com", "role": "admin"}]}"#,
            r#"{"rules": [{"group": "g", "role": "admin", "when": "always"}]}"#,
            r#"{"rules": [{"role": "admin"}]}"#,
            r#"{"rules": [{"any": false, "role": "admin"}]}"#,
            r#"{"rules": [{"group": "g"}]}"#,
            r#"{"rules": [{"group": "g", "role": ""}]}"#,
            r#"{"rules": [], "default": "viewer"}"#,
        ] {
            assert!(serde_json::from_str::<RoleMapping>(bad).is_err(), "{bad}");
        }
        let any = RoleMapping {
            rules: vec![RoleRule {
                when: RoleMatch::Any,
                role: "viewer".into(),
            }],
            default_role: Some("viewer".into()),
        };
        let json = serde_json::to_string(&any).unwrap();
        assert_eq!(
            json,
            r#"{"rules":[{"any":true,"role":"viewer"}],"default_role":"viewer"}"#
        );
        assert_eq!(serde_json::from_str::<RoleMapping>(&json).unwrap(), any);
    }
}
