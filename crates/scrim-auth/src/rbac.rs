//! Role-based access control: who may do what inside one tenant.
//!
//! Every route and every CLI action names one [`Permission`] and asks [`authorize`]; there
//! is no other path to a grant. People hold a [`Role`] in a tenant; machines hold API-key
//! [`Scopes`]. Both map onto the same permissions, in two tables:
//! [`Role::grants`] and [`Permission::scopes`]. Anything not in a table is denied.
//!
//! The matrix is documented in `docs/access-control.md`; a test there checks that the
//! document and these tables agree, so neither can drift.

use std::fmt;
use std::str::FromStr;

use crate::{KeyId, Scope, Scopes};

/// A person's role in one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including making other owners and the tenant's own settings.
    Owner,
    /// Everything but owner-only actions: manages people, keys, settings and telemetry.
    Admin,
    /// Explores telemetry: traces, logs, raw attributes, the SQL console, exports.
    Member,
    /// Dashboards and services only: no raw attributes, logs or SQL console.
    Viewer,
    /// The audit log, access review and security settings; no telemetry.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Member,
        Role::Viewer,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
        }
    }

    /// Whether this role holds `permission`: the role half of the matrix.
    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            // Turning AI diagnostics on sends the tenant's data to a third party: owners only.
            Role::Admin => !matches!(permission, ManageOwners | ManageAiDiagnostics),
            Role::Member => matches!(
                permission,
                IngestTraces
                    | IngestLogs
                    | IngestMetrics
                    | ViewServices
                    | ReadTelemetry
                    | SqlConsole
                    | Export
                    | CreateApiKey
                    | UseAiDiagnostics
                    | ViewAlerts
                    | ManageOwnAccount
            ),
            Role::Viewer => matches!(permission, ViewServices | ViewAlerts | ManageOwnAccount),
            Role::Auditor => matches!(
                permission,
                ReadAudit
                    | AccessReview
                    | ViewMembers
                    | ViewApiKeys
                    | ViewSecuritySettings
                    | ViewAlerts
                    | ViewDetections
                    | CreateApiKey
                    | ManageOwnAccount
            ),
        }
    }

    /// The API-key scopes a person in this role may put on a key they create: those whose
    /// every permission the role holds, so a key never does more than its creator could.
    pub fn grantable_scopes(self) -> Scopes {
        Scope::ALL
            .into_iter()
            .filter(|&scope| {
                Permission::ALL
                    .into_iter()
                    .filter(|p| p.scopes().contains(scope))
                    .all(|p| self.grants(p))
            })
            .collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseRoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(ParseRoleError)
    }
}

/// A role name that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseRoleError;

impl fmt::Display for ParseRoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown role; roles: owner, admin, member, viewer, auditor")
    }
}

impl std::error::Error for ParseRoleError {}

/// One thing a route or command does, in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Send spans (OTLP).
    IngestTraces,
    /// Send log records (OTLP).
    IngestLogs,
    /// Send metric data points (OTLP).
    IngestMetrics,
    /// Service list, per-service statistics and normalised query statistics.
    ViewServices,
    /// Traces, spans and logs with their (redacted) attributes.
    ReadTelemetry,
    /// Ad-hoc SQL over the tenant's telemetry.
    SqlConsole,
    /// Export telemetry in standard formats.
    Export,
    /// Delete telemetry (deletion requests).
    DeleteTelemetry,
    /// List the tenant's people and their roles.
    ViewMembers,
    /// Add people, change roles (except to or from owner), remove people.
    ManageMembers,
    /// Make someone an owner, or change or remove an owner.
    ManageOwners,
    /// List the tenant's API keys (never their secrets).
    ViewApiKeys,
    /// Create API keys, with at most the creator's own scopes.
    CreateApiKey,
    /// Revoke any key of the tenant (anyone may revoke a key they created).
    RevokeApiKey,
    /// MFA and SSO requirements, SSO configuration, session timeouts: read.
    ViewSecuritySettings,
    /// The same: change.
    ManageSecuritySettings,
    /// The tenant's capture policy.
    ManageCapturePolicy,
    /// The audit log.
    ReadAudit,
    /// `scrim access review`: people, roles, MFA state, keys, scopes, last use.
    AccessReview,
    /// One's own password, MFA and sessions.
    ManageOwnAccount,
    /// Ask the tenant's AI provider to explain a trace, a statement or a service's errors
    /// (when the tenant turned AI diagnostics on); what is sent is redacted data only.
    UseAiDiagnostics,
    /// Turn AI diagnostics on or off and choose the provider.
    ManageAiDiagnostics,
    /// Alert rules and their history, sensitive-data insights, notifications sent.
    ViewAlerts,
    /// Create, change and delete alert rules and notification channels.
    ManageAlerts,
    /// Security detections (failed sign-in bursts, key misuse, escalations, …).
    ViewDetections,
    /// Containment: suspend every API key, end every session, freeze reads; and undo them.
    Contain,
}

impl Permission {
    pub const ALL: [Permission; 26] = [
        Permission::IngestTraces,
        Permission::IngestLogs,
        Permission::IngestMetrics,
        Permission::ViewServices,
        Permission::ReadTelemetry,
        Permission::SqlConsole,
        Permission::Export,
        Permission::DeleteTelemetry,
        Permission::ViewMembers,
        Permission::ManageMembers,
        Permission::ManageOwners,
        Permission::ViewApiKeys,
        Permission::CreateApiKey,
        Permission::RevokeApiKey,
        Permission::ViewSecuritySettings,
        Permission::ManageSecuritySettings,
        Permission::ManageCapturePolicy,
        Permission::ReadAudit,
        Permission::AccessReview,
        Permission::ManageOwnAccount,
        Permission::UseAiDiagnostics,
        Permission::ManageAiDiagnostics,
        Permission::ViewAlerts,
        Permission::ManageAlerts,
        Permission::ViewDetections,
        Permission::Contain,
    ];

    /// The name used in the documentation and in denial messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::IngestTraces => "ingest traces",
            Permission::IngestLogs => "ingest logs",
            Permission::IngestMetrics => "ingest metrics",
            Permission::ViewServices => "view services",
            Permission::ReadTelemetry => "read telemetry",
            Permission::SqlConsole => "SQL console",
            Permission::Export => "export",
            Permission::DeleteTelemetry => "delete telemetry",
            Permission::ViewMembers => "view members",
            Permission::ManageMembers => "manage members",
            Permission::ManageOwners => "manage owners",
            Permission::ViewApiKeys => "view API keys",
            Permission::CreateApiKey => "create API keys",
            Permission::RevokeApiKey => "revoke API keys",
            Permission::ViewSecuritySettings => "view security settings",
            Permission::ManageSecuritySettings => "manage security settings",
            Permission::ManageCapturePolicy => "manage capture policy",
            Permission::ReadAudit => "read audit log",
            Permission::AccessReview => "access review",
            Permission::ManageOwnAccount => "manage own account",
            Permission::UseAiDiagnostics => "use AI diagnostics",
            Permission::ManageAiDiagnostics => "manage AI diagnostics",
            Permission::ViewAlerts => "view alerts",
            Permission::ManageAlerts => "manage alerts",
            Permission::ViewDetections => "view security detections",
            Permission::Contain => "contain incidents",
        }
    }

    /// The API-key scopes any one of which grants this permission: the key half of the
    /// matrix. Empty: no key can do it (only a signed-in person can).
    pub fn scopes(self) -> Scopes {
        use Permission::*;
        let one = |s: Scope| Scopes::empty().with(s);
        match self {
            IngestTraces => one(Scope::IngestTraces),
            IngestLogs => one(Scope::IngestLogs),
            IngestMetrics => one(Scope::IngestMetrics),
            ViewServices | ReadTelemetry | SqlConsole | ViewAlerts => one(Scope::Read),
            Export => one(Scope::Export),
            DeleteTelemetry => one(Scope::Delete),
            ViewMembers | ViewApiKeys | ViewSecuritySettings | AccessReview | ViewDetections => {
                one(Scope::Admin).with(Scope::AuditRead)
            }
            ManageMembers
            | CreateApiKey
            | RevokeApiKey
            | ManageSecuritySettings
            | ManageCapturePolicy
            | ManageAlerts
            // A security tool holding an admin key may contain an incident it detected.
            | Contain => one(Scope::Admin),
            ReadAudit => one(Scope::AuditRead),
            // Owners are made by owners, in person; accounts are managed by their holder;
            // questions to the AI provider are asked, and the provider chosen, by people (the
            // audit log names who sent what).
            ManageOwners | ManageOwnAccount | UseAiDiagnostics | ManageAiDiagnostics => {
                Scopes::empty()
            }
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The permission matrix as a Markdown table: one row per permission, a column per role
/// (`✓` granted) and the API-key scopes that grant it. `docs/access-control.md` holds this
/// table; a test keeps the two equal.
pub fn matrix_markdown() -> String {
    let mut out = String::from("| permission |");
    for role in Role::ALL {
        out.push_str(&format!(" {role} |"));
    }
    out.push_str(" API-key scopes |\n| --- |");
    for _ in Role::ALL {
        out.push_str(" :-: |");
    }
    out.push_str(" --- |\n");
    for p in Permission::ALL {
        out.push_str(&format!("| {} |", p.as_str()));
        for role in Role::ALL {
            out.push_str(if role.grants(p) { " ✓ |" } else { "   |" });
        }
        let scopes = p.scopes();
        if scopes.is_empty() {
            out.push_str(" none: people only |\n");
        } else {
            let names: Vec<String> = scopes.iter().map(|s| format!("`{s}`")).collect();
            out.push_str(&format!(" {} |\n", names.join(" or ")));
        }
    }
    out
}

/// A user's id: `u_` and 16 characters of lowercase base32, like tenant ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    const PREFIX: &'static str = "u_";
    const RANDOM: usize = 16;

    /// A new random id.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let random = crate::apikey::random_base32(Self::RANDOM)?;
        Ok(Self(format!("{}{random}", Self::PREFIX)))
    }

    /// Checks an id that came from outside (a URL, a command line).
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(Self::PREFIX)?;
        crate::apikey::is_base32(rest, Self::RANDOM).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is acting, inside a tenant the caller has already resolved from the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in person, with their role in the tenant.
    User { id: UserId, role: Role },
    /// An API key, with its scopes.
    ApiKey { id: KeyId, scopes: Scopes },
    /// The operator at the command line (`scrim user …`, `scrim apikey …`), who holds the
    /// master key and so could read everything anyway; granted every permission, but still
    /// asked, so that every action takes the same path (and, later, the same audit record).
    Operator,
}

impl Actor {
    /// The scopes this actor may put on a key it creates.
    pub fn grantable_scopes(&self) -> Scopes {
        match self {
            Actor::User { role, .. } => role.grantable_scopes(),
            Actor::ApiKey { scopes, .. } => *scopes,
            Actor::Operator => Scope::ALL.into_iter().collect(),
        }
    }

    /// A short, non-secret name for messages and audit records: the user or key id.
    pub fn name(&self) -> &str {
        match self {
            Actor::User { id, .. } => id.as_str(),
            Actor::ApiKey { id, .. } => id.as_str(),
            Actor::Operator => "operator",
        }
    }
}

/// A refused action: safe to show the caller (it names the permission, never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub permission: Permission,
    reason: DeniedReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DeniedReason {
    Role(Role),
    Scopes,
    PeopleOnly,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            DeniedReason::Role(role) => write!(
                f,
                "the {role} role does not allow {}",
                self.permission.as_str()
            ),
            DeniedReason::Scopes => write!(
                f,
                "this API key lacks a scope that allows {} (one of: {})",
                self.permission.as_str(),
                self.permission.scopes()
            ),
            DeniedReason::PeopleOnly => write!(
                f,
                "{} needs a signed-in person; API keys cannot do it",
                self.permission.as_str()
            ),
        }
    }
}

impl std::error::Error for Denied {}

/// The one authorisation check. Allows exactly what the matrix grants.
pub fn authorize(actor: &Actor, permission: Permission) -> Result<(), Denied> {
    let allowed = match actor {
        Actor::User { role, .. } => role.grants(permission),
        Actor::ApiKey { scopes, .. } => permission.scopes().iter().any(|s| scopes.contains(s)),
        Actor::Operator => true,
    };
    if allowed {
        return Ok(());
    }
    let reason = match actor {
        Actor::User { role, .. } => DeniedReason::Role(*role),
        Actor::ApiKey { .. } if permission.scopes().is_empty() => DeniedReason::PeopleOnly,
        Actor::ApiKey { .. } | Actor::Operator => DeniedReason::Scopes,
    };
    Err(Denied { permission, reason })
}

/// Whether `actor` may give `target` the role `new_role` (or remove them, `None`), where
/// `target_role` is the target's current role (`None`: not yet a member). Owners are made,
/// changed and removed only by owners.
pub fn may_assign_role(
    actor: &Actor,
    target_role: Option<Role>,
    new_role: Option<Role>,
) -> Result<(), Denied> {
    authorize(actor, Permission::ManageMembers)?;
    if target_role == Some(Role::Owner) || new_role == Some(Role::Owner) {
        authorize(actor, Permission::ManageOwners)?;
    }
    Ok(())
}

/// Whether `actor` may create a key with `requested` scopes: it must hold
/// [`Permission::CreateApiKey`] and every requested scope itself.
pub fn may_grant_scopes(actor: &Actor, requested: Scopes) -> Result<(), GrantError> {
    authorize(actor, Permission::CreateApiKey).map_err(GrantError::Denied)?;
    let mine = actor.grantable_scopes();
    let excess: Scopes = requested.iter().filter(|s| !mine.contains(*s)).collect();
    if excess.is_empty() {
        Ok(())
    } else {
        Err(GrantError::Excess(excess))
    }
}

/// Why a key with the requested scopes may not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantError {
    Denied(Denied),
    /// Scopes the creator does not hold.
    Excess(Scopes),
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrantError::Denied(d) => d.fmt(f),
            GrantError::Excess(s) => write!(
                f,
                "a key cannot be given scopes its creator does not hold: {s}"
            ),
        }
    }
}

impl std::error::Error for GrantError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> Actor {
        Actor::User {
            id: UserId::generate().unwrap(),
            role,
        }
    }

    fn key(scopes: &str) -> Actor {
        Actor::ApiKey {
            id: KeyId::parse("aaaaaaaaaaaaaaaa").unwrap(),
            scopes: scopes.parse().unwrap(),
        }
    }

    #[test]
    fn owner_holds_everything_and_admin_all_but_owners() {
        for p in Permission::ALL {
            assert!(authorize(&user(Role::Owner), p).is_ok(), "{p}");
            assert_eq!(
                authorize(&user(Role::Admin), p).is_ok(),
                !matches!(
                    p,
                    Permission::ManageOwners | Permission::ManageAiDiagnostics
                ),
                "{p}"
            );
        }
    }

    #[test]
    fn viewer_and_auditor_see_no_raw_telemetry() {
        for role in [Role::Viewer, Role::Auditor] {
            for p in [
                Permission::ReadTelemetry,
                Permission::SqlConsole,
                Permission::Export,
                Permission::DeleteTelemetry,
            ] {
                let err = authorize(&user(role), p).unwrap_err();
                assert!(err.to_string().contains(role.as_str()), "{err}");
            }
        }
        assert!(authorize(&user(Role::Viewer), Permission::ViewServices).is_ok());
        assert!(authorize(&user(Role::Auditor), Permission::ViewServices).is_err());
        assert!(authorize(&user(Role::Auditor), Permission::ReadAudit).is_ok());
        assert!(authorize(&user(Role::Member), Permission::ReadAudit).is_err());
    }

    #[test]
    fn keys_need_a_matching_scope_and_admin_implies_nothing_else() {
        assert!(authorize(&key("read"), Permission::ReadTelemetry).is_ok());
        assert!(authorize(&key("ingest"), Permission::ReadTelemetry).is_err());
        let admin = key("admin");
        assert!(authorize(&admin, Permission::ManageMembers).is_ok());
        assert!(authorize(&admin, Permission::ReadTelemetry).is_err());
        assert!(authorize(&admin, Permission::ReadAudit).is_err());
        assert!(authorize(&key("audit:read"), Permission::AccessReview).is_ok());
        assert!(authorize(&key("audit:read"), Permission::ManageMembers).is_err());
        assert!(authorize(&key("read"), Permission::UseAiDiagnostics).is_err());
        // Only an owner chooses where the tenant's data may go.
        assert!(authorize(&user(Role::Admin), Permission::ManageAiDiagnostics).is_err());
        assert!(authorize(&user(Role::Owner), Permission::ManageAiDiagnostics).is_ok());
        // Nothing a key holds reaches the people-only permissions.
        let all = key("ingest,read,export,delete,admin,audit:read");
        for p in [
            Permission::ManageOwners,
            Permission::ManageOwnAccount,
            Permission::UseAiDiagnostics,
            Permission::ManageAiDiagnostics,
        ] {
            let err = authorize(&all, p).unwrap_err();
            assert!(err.to_string().contains("signed-in person"), "{err}");
        }
        let err = authorize(&key("read"), Permission::Export).unwrap_err();
        assert!(err.to_string().contains("export"), "{err}");
    }

    #[test]
    fn grantable_scopes_follow_the_role() {
        let all: Scopes = Scope::ALL.into_iter().collect();
        assert_eq!(Role::Owner.grantable_scopes(), all);
        assert_eq!(Role::Admin.grantable_scopes(), all);
        assert_eq!(
            Role::Member.grantable_scopes().to_string(),
            "ingest:traces,ingest:logs,ingest:metrics,read,export"
        );
        assert_eq!(Role::Viewer.grantable_scopes(), Scopes::empty());
        assert_eq!(Role::Auditor.grantable_scopes().to_string(), "audit:read");
    }

    #[test]
    fn keys_never_carry_more_than_their_creator() {
        let member = user(Role::Member);
        assert!(may_grant_scopes(&member, "ingest,read".parse().unwrap()).is_ok());
        assert_eq!(
            may_grant_scopes(&member, "read,admin".parse().unwrap()),
            Err(GrantError::Excess("admin".parse().unwrap()))
        );
        assert!(matches!(
            may_grant_scopes(&user(Role::Viewer), "read".parse().unwrap()),
            Err(GrantError::Denied(_))
        ));
        let admin_key = key("admin,read");
        assert!(may_grant_scopes(&admin_key, "read".parse().unwrap()).is_ok());
        assert_eq!(
            may_grant_scopes(&admin_key, "read,export".parse().unwrap()),
            Err(GrantError::Excess("export".parse().unwrap()))
        );
        // Without admin a key creates nothing, whatever it holds.
        assert!(may_grant_scopes(&key("read"), "read".parse().unwrap()).is_err());
    }

    #[test]
    fn only_owners_touch_owners() {
        let admin = user(Role::Admin);
        assert!(may_assign_role(&admin, Some(Role::Member), Some(Role::Viewer)).is_ok());
        assert!(may_assign_role(&admin, None, Some(Role::Admin)).is_ok());
        assert!(may_assign_role(&admin, Some(Role::Member), Some(Role::Owner)).is_err());
        assert!(may_assign_role(&admin, Some(Role::Owner), Some(Role::Member)).is_err());
        assert!(may_assign_role(&admin, Some(Role::Owner), None).is_err());
        let owner = user(Role::Owner);
        assert!(may_assign_role(&owner, Some(Role::Owner), Some(Role::Admin)).is_ok());
        assert!(may_assign_role(&user(Role::Member), None, Some(Role::Viewer)).is_err());
        assert!(may_assign_role(&key("admin"), Some(Role::Member), Some(Role::Owner)).is_err());
    }

    #[test]
    fn role_and_user_id_text_forms() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("Owner".parse::<Role>().is_err());
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .to_string()
                .contains("auditor")
        );
        let id = UserId::generate().unwrap();
        assert_eq!(UserId::parse(id.as_str()), Some(id.clone()));
        assert!(UserId::parse("u_short").is_none());
        assert!(UserId::parse("t_aaaaaaaaaaaaaaaa").is_none());
        assert!(UserId::parse("u_AAAAAAAAAAAAAAAA").is_none());
    }
}
