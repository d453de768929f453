//! `scrim user …`, `scrim apikey list|revoke` and `scrim access review`: the operator's
//! side of identity. Each action goes through the same permission check as the REST API,
//! as [`Actor::Operator`] (whoever runs these holds the master key).

use std::io::{self, BufRead};
use std::time::SystemTime;

use clap::Subcommand;
use scrim_auth::rbac::{Actor, Permission, Role};
use scrim_server::ServerError;
use scrim_server::accounts::{Accounts, Act, LoginLimits, check};
use scrim_server::audit::actions;

use crate::PlatformArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create an account and add it to a tenant. Without --password-stdin a random initial
    /// password is printed once.
    Create {
        /// The sign-in e-mail address.
        email: String,
        /// The tenant's name.
        #[arg(long, value_name = "NAME")]
        tenant: String,
        /// owner, admin, member, viewer or auditor.
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// List accounts, or the members of one tenant.
    List {
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Change a member's role in a tenant.
    Role {
        email: String,
        /// owner, admin, member, viewer or auditor.
        role: String,
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Remove a person from a tenant (the account stays).
    Remove {
        email: String,
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Disable an account: its sessions end at once and it cannot sign in.
    Disable {
        email: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Enable a disabled account (and lift a lockout).
    Enable {
        email: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Set a new password (read from standard input); signs the account out everywhere.
    Password {
        email: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Remove the account's authenticator and recovery codes (lost device).
    ResetMfa {
        email: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// End every session of the account.
    SignOut {
        email: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AccessCommand {
    /// Users, roles, MFA state, API keys, scopes and last use; flags keys unused for 90 days.
    Review {
        /// One tenant by name [default: every tenant].
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

/// The operator acting on an account as a whole (not one tenant's membership): recorded
/// in the platform's chain.
fn account_act() -> Act {
    Act::operator(scrim_audit::PLATFORM_TENANT)
}

fn usage(m: impl Into<String>) -> ServerError {
    ServerError::Usage(m.into())
}

fn parse_role(text: &str) -> Result<Role, ServerError> {
    text.parse()
        .map_err(|e: scrim_auth::rbac::ParseRoleError| usage(e.to_string()))
}

fn read_password_line() -> Result<String, ServerError> {
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| usage(format!("cannot read the password from standard input: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(usage("no password on standard input"));
    }
    Ok(password)
}

struct Opened {
    platform: scrim_server::Platform,
    accounts: Accounts,
}

async fn open(platform: &PlatformArgs) -> Result<Opened, ServerError> {
    let platform = scrim_server::Platform::open(&platform.config()?).await?;
    let accounts = Accounts::open(&platform, LoginLimits::default()).await?;
    Ok(Opened { platform, accounts })
}

async fn tenant(o: &Opened, name: &str) -> Result<scrim_meta::Tenant, ServerError> {
    o.platform.tenant_named(name).await
}

async fn user(o: &Opened, email: &str) -> Result<scrim_meta::User, ServerError> {
    o.platform
        .meta()
        .user_by_email(email)
        .await?
        .ok_or_else(|| usage(format!("no account with e-mail {email:?}")))
}

pub(crate) async fn run_user(cmd: UserCommand) -> Result<(), ServerError> {
    let actor = Actor::Operator;
    match cmd {
        UserCommand::Create {
            email,
            tenant: name,
            role,
            password_stdin,
            platform,
        } => {
            let role = parse_role(&role)?;
            let password = if password_stdin {
                Some(read_password_line()?)
            } else {
                None
            };
            let o = open(&platform).await?;
            let t = tenant(&o, &name).await?;
            let (u, initial) = o
                .accounts
                .add_member(
                    &Act::operator(t.id.as_str()),
                    &t.id,
                    &email,
                    role,
                    password.as_deref(),
                )
                .await?;
            println!("{} ({}) is {role} in tenant {name}", u.email, u.id);
            if let Some(p) = initial {
                println!("initial password, shown once (change it after signing in):");
                println!("{p}");
            }
        }
        UserCommand::List {
            tenant: name,
            platform,
        } => {
            check(&actor, Permission::ViewMembers)?;
            let o = open(&platform).await?;
            match name {
                Some(name) => {
                    let t = tenant(&o, &name).await?;
                    for m in o.platform.meta().tenant_members(&t.id).await? {
                        println!(
                            "{:<20} {:<32} {:<8} mfa={}",
                            m.user.id,
                            m.user.email,
                            m.role,
                            if m.user.has_totp() { "totp" } else { "none" }
                        );
                    }
                }
                None => {
                    for u in o.platform.meta().list_users().await? {
                        let tenants: Vec<String> = o
                            .platform
                            .meta()
                            .user_memberships(&u.id)
                            .await?
                            .into_iter()
                            .map(|m| format!("{}:{}", m.tenant_name, m.role))
                            .collect();
                        println!(
                            "{:<20} {:<32} {}{}",
                            u.id,
                            u.email,
                            tenants.join(","),
                            if u.disabled_at.is_some() {
                                " (disabled)"
                            } else {
                                ""
                            }
                        );
                    }
                }
            }
        }
        UserCommand::Role {
            email,
            role,
            tenant: name,
            platform,
        } => {
            let role = parse_role(&role)?;
            let o = open(&platform).await?;
            let t = tenant(&o, &name).await?;
            let u = user(&o, &email).await?;
            o.accounts
                .change_member(&Act::operator(t.id.as_str()), &t.id, &u.id, Some(role))
                .await?;
            println!("{} is now {role} in tenant {name}", u.email);
        }
        UserCommand::Remove {
            email,
            tenant: name,
            platform,
        } => {
            let o = open(&platform).await?;
            let t = tenant(&o, &name).await?;
            let u = user(&o, &email).await?;
            o.accounts
                .change_member(&Act::operator(t.id.as_str()), &t.id, &u.id, None)
                .await?;
            println!("{} removed from tenant {name}", u.email);
        }
        UserCommand::Disable { email, platform } => {
            check(&actor, Permission::ManageMembers)?;
            let o = open(&platform).await?;
            let u = user(&o, &email).await?;
            account_act()
                .entry(o.platform.audit(), actions::USER_DISABLE, u.id.as_str())
                .around(o.platform.meta().set_user_disabled(&u.id, true))
                .await??;
            println!("{} disabled; its sessions have ended", u.email);
        }
        UserCommand::Enable { email, platform } => {
            check(&actor, Permission::ManageMembers)?;
            let o = open(&platform).await?;
            let u = user(&o, &email).await?;
            let meta = o.platform.meta();
            account_act()
                .entry(o.platform.audit(), actions::USER_ENABLE, u.id.as_str())
                .around(async {
                    meta.set_user_disabled(&u.id, false).await?;
                    meta.reset_login_failures(&u.id).await
                })
                .await??;
            println!("{} enabled", u.email);
        }
        UserCommand::Password { email, platform } => {
            check(&actor, Permission::ManageMembers)?;
            let password = read_password_line()?;
            let o = open(&platform).await?;
            let u = user(&o, &email).await?;
            o.accounts
                .set_password(&account_act(), &u.id, &password)
                .await?;
            println!(
                "password of {} set; every session of the account has ended",
                u.email
            );
        }
        UserCommand::ResetMfa { email, platform } => {
            check(&actor, Permission::ManageMembers)?;
            let o = open(&platform).await?;
            let u = user(&o, &email).await?;
            o.accounts.reset_mfa(&account_act(), &u.id).await?;
            println!(
                "authenticator and recovery codes of {} removed; sessions ended",
                u.email
            );
        }
        UserCommand::SignOut { email, platform } => {
            check(&actor, Permission::ManageMembers)?;
            let o = open(&platform).await?;
            let u = user(&o, &email).await?;
            account_act()
                .entry(o.platform.audit(), actions::USER_SIGN_OUT, u.id.as_str())
                .around(o.platform.meta().revoke_user_sessions(&u.id))
                .await??;
            println!("every session of {} has ended", u.email);
        }
    }
    Ok(())
}

pub(crate) async fn run_access(cmd: AccessCommand) -> Result<(), ServerError> {
    let AccessCommand::Review {
        tenant: name,
        json,
        platform,
    } = cmd;
    check(&Actor::Operator, Permission::AccessReview)?;
    let o = open(&platform).await?;
    let tenants = match name {
        Some(name) => vec![tenant(&o, &name).await?],
        None => o.platform.meta().list_tenants().await?,
    };
    let now = SystemTime::now();
    let mut reviews = Vec::new();
    for t in &tenants {
        reviews.push(scrim_server::review::access_review(o.platform.meta(), t, now).await?);
    }
    if json {
        let text = serde_json::to_string_pretty(&reviews).map_err(|e| usage(e.to_string()))?;
        println!("{text}");
    } else {
        for (i, r) in reviews.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print!("{}", r.to_text());
        }
    }
    Ok(())
}

/// `scrim apikey list`.
pub(crate) async fn list_keys(
    tenant_name: &str,
    platform: &PlatformArgs,
) -> Result<(), ServerError> {
    check(&Actor::Operator, Permission::ViewApiKeys)?;
    let o = open(platform).await?;
    let t = tenant(&o, tenant_name).await?;
    let keys =
        scrim_server::review::key_reviews(o.platform.meta(), &t.id, SystemTime::now()).await?;
    println!(
        "{:<16} {:<8} {:<50} {:<20} {:<20} name",
        "id", "state", "scopes", "last used", "expires"
    );
    for k in keys {
        println!(
            "{:<16} {:<8} {:<50} {:<20} {:<20} {}",
            k.id,
            k.state,
            k.scopes,
            k.last_used_at.as_deref().unwrap_or("never"),
            k.expires_at.as_deref().unwrap_or("never"),
            k.name.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// `scrim apikey revoke`.
pub(crate) async fn revoke_key(
    tenant_name: &str,
    id: &str,
    platform: &PlatformArgs,
) -> Result<(), ServerError> {
    check(&Actor::Operator, Permission::RevokeApiKey)?;
    let id = scrim_meta::KeyId::parse(id)
        .map_err(|_| usage("a key id is 16 characters of a-z and 2-7 (the part after scrim_)"))?;
    let o = open(platform).await?;
    let t = tenant(&o, tenant_name).await?;
    Act::operator(t.id.as_str())
        .entry(o.platform.audit(), actions::APIKEY_REVOKE, id.as_str())
        .around(o.platform.meta().revoke_api_key(&t.id, &id))
        .await??;
    println!("API key {id} of tenant {tenant_name} revoked; it is refused from now on");
    Ok(())
}

/// What `scrim tenant security` changes; `None` leaves a setting as it is.
pub(crate) struct SecurityChange {
    pub require_mfa: Option<bool>,
    pub require_sso: Option<bool>,
    /// 0 goes back to the server's default.
    pub session_idle_minutes: Option<u32>,
    pub session_absolute_minutes: Option<u32>,
}

/// `scrim tenant security NAME [--require-mfa B] [--require-sso B] [--session-*-minutes N]`.
pub(crate) async fn tenant_security(
    name: &str,
    change: SecurityChange,
    platform: &PlatformArgs,
) -> Result<(), ServerError> {
    let o = open(platform).await?;
    let t = tenant(&o, name).await?;
    let meta = o.platform.meta();
    let mut s = meta.security_settings(&t.id).await?;
    let changing = change.require_mfa.is_some()
        || change.require_sso.is_some()
        || change.session_idle_minutes.is_some()
        || change.session_absolute_minutes.is_some();
    if changing {
        check(&Actor::Operator, Permission::ManageSecuritySettings)?;
        if let Some(v) = change.require_mfa {
            s.require_mfa = v;
        }
        if let Some(v) = change.require_sso {
            s.require_sso = v;
        }
        if let Some(m) = change.session_idle_minutes {
            s.session_idle_minutes = (m > 0).then_some(m);
        }
        if let Some(m) = change.session_absolute_minutes {
            s.session_absolute_minutes = (m > 0).then_some(m);
        }
        scrim_server::admin::set_security_settings(
            &o.platform,
            &Act::operator(t.id.as_str()),
            &t.id,
            &s,
        )
        .await?;
    } else {
        check(&Actor::Operator, Permission::ViewSecuritySettings)?;
    }
    let minutes = |m: Option<u32>| m.map_or("server default".to_owned(), |m| format!("{m} min"));
    println!(
        "tenant {name}: require MFA {}, require SSO {}, SSO {}, session idle {}, absolute {}",
        s.require_mfa,
        s.require_sso,
        if s.sso_config.is_some() {
            "configured"
        } else {
            "not configured"
        },
        minutes(s.session_idle_minutes),
        minutes(s.session_absolute_minutes),
    );
    Ok(())
}

/// `scrim tenant sso NAME [--file F | --remove]`.
pub(crate) async fn tenant_sso(
    name: &str,
    file_text: Option<&str>,
    remove: bool,
    platform: &PlatformArgs,
) -> Result<(), ServerError> {
    let o = open(platform).await?;
    let t = tenant(&o, name).await?;
    if let Some(text) = file_text {
        check(&Actor::Operator, Permission::ManageSecuritySettings)?;
        let settings: scrim_server::sso::SsoSettings =
            serde_json::from_str(text).map_err(|e| usage(format!("SSO settings: {e}")))?;
        if scrim_server::sso::maps_owner(&settings) {
            check(&Actor::Operator, Permission::ManageOwners)?;
        }
        scrim_server::sso::store_sso_settings(
            &o.platform,
            &Act::operator(t.id.as_str()),
            &t.id,
            Some(settings),
        )
        .await?;
        println!("tenant {name}: single sign-on configured");
    } else if remove {
        check(&Actor::Operator, Permission::ManageSecuritySettings)?;
        scrim_server::sso::store_sso_settings(
            &o.platform,
            &Act::operator(t.id.as_str()),
            &t.id,
            None,
        )
        .await?;
        println!("tenant {name}: single sign-on removed");
    } else {
        check(&Actor::Operator, Permission::ViewSecuritySettings)?;
        match o.platform.meta().security_settings(&t.id).await?.sso_config {
            // Stored without the client secret.
            Some(json) => println!("{json}"),
            None => println!("# tenant {name} has no single sign-on"),
        }
    }
    Ok(())
}
