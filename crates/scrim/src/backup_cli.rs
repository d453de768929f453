//! `scrim backup create|restore|list`: encrypted, incremental backups of the telemetry. The
//! logic (sealing, the manifest, what a restore puts back and skips, the audit records) is
//! `scrim_server::backup`'s; this file wires flags to it and prints what happened.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use scrim_server::ServerError;
use scrim_server::backup::{self, BACKUP_KEY_FILE, BackupKey, Destination, Scope};

use crate::PlatformArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum BackupCommand {
    /// Back up the segments of every tenant of a region (or of one tenant) to a directory
    /// or an S3 bucket in that region, sealed under the backup key. Only segments not already there are copied. Tenants'
    /// data keys are never in a backup: a tenant deleted later cannot be read from it.
    Create {
        /// A directory, file:///dir, or s3://bucket/prefix?endpoint=…&region=… (credentials
        /// from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), in the backed-up region
        /// [default: the region's backup_to in --config].
        #[arg(long, value_name = "DEST")]
        to: Option<String>,
        /// Only this tenant.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Put back what a backup holds and the store or catalog lost: missing segment objects
    /// and catalog rows, for tenants that still exist with their data key. Running it twice
    /// adds nothing the second time.
    Restore {
        /// Where the backups are (as given to `create --to`).
        #[arg(long, value_name = "DEST")]
        from: String,
        /// The backup's id [default: the latest].
        #[arg(long, value_name = "ID")]
        backup: Option<String>,
        /// Only this tenant.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Remove the backups older than --older-than-days (never the newest), and the segment
    /// objects only they hold: rows erased and tenants deleted since are then gone from the
    /// backups too. Recorded in the audit log. Do not run it while a backup is being made
    /// to the same destination.
    Prune {
        /// Where the backups are (as given to `create --to`).
        #[arg(long, value_name = "DEST")]
        from: String,
        /// Remove the backups made more than this many days ago.
        #[arg(long, value_name = "DAYS")]
        older_than_days: u32,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// List the backups at a destination, oldest first.
    List {
        #[arg(long, value_name = "DEST")]
        from: String,
        #[command(flatten)]
        key: KeyArgs,
        /// Where the default backup key file is.
        #[arg(long, value_name = "DIR", default_value = "scrim-data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// The backup key (64 hex digits, mode 0600), separate from the master key; created by
    /// the first `create`. Keep a copy off this host [default: <data-dir>/backup.key].
    #[arg(long, value_name = "FILE")]
    backup_key_file: Option<PathBuf>,
}

/// Which region, and where its segments are.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// Where the server keeps segments when it has one region, as its `object_store`
    /// setting (a directory, `file:///…`, `s3://bucket/prefix?endpoint=…&region=…`), for
    /// use without --config [default: <data-dir>/segments].
    #[arg(long, value_name = "URL", conflicts_with = "config")]
    object_store: Option<String>,
    /// The region whose tenants are covered: one of --config's [[regions]], or the name of
    /// --object-store's [default: the tenant's, or the only region].
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
}

impl StoreArgs {
    fn platform(
        &self,
        platform: &PlatformArgs,
    ) -> Result<scrim_server::PlatformConfig, ServerError> {
        crate::StoreArgs {
            object_store: self.object_store.clone(),
            region: self.region.clone().filter(|_| self.object_store.is_some()),
        }
        .platform(platform)
    }
}

impl KeyArgs {
    fn path(&self, data_dir: &std::path::Path) -> PathBuf {
        self.backup_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join(BACKUP_KEY_FILE))
    }
}

fn scope(tenant: Option<String>, store: &StoreArgs) -> Scope {
    Scope {
        tenant,
        region: store.region.clone(),
    }
}

fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

pub(crate) async fn run(cmd: BackupCommand) -> Result<(), ServerError> {
    match cmd {
        BackupCommand::Create {
            to,
            tenant,
            key,
            store,
            platform,
        } => {
            let p = scrim_server::Platform::open(&store.platform(&platform)?).await?;
            // In the data directory in force (the config's, unless --data-dir says).
            let key_file = key.path(p.data_dir());
            let scope = scope(tenant, &store);
            let dest = backup::destination(&p, &scope, to.as_deref()).await?;
            let c = backup::create(&p, &key_file, &dest, &scope).await?;
            if c.key_created {
                eprintln!(
                    "scrim backup: created the backup key {} (id {}); keep a copy off this host: \
                     without it no backup can be restored",
                    key_file.display(),
                    c.backup_key_id
                );
            }
            for path in &c.vanished {
                eprintln!(
                    "scrim backup: {path} is catalogued but gone from the store; not backed up"
                );
            }
            println!("backup {}", c.id);
            println!(
                "{}, {} segments: {} copied ({}), {} already there; backup key {}",
                plural(c.tenants, "tenant"),
                c.segments,
                c.copied,
                size(c.bytes_copied),
                c.skipped,
                c.backup_key_id
            );
            Ok(())
        }
        BackupCommand::Restore {
            from,
            backup: id,
            tenant,
            key,
            store,
            platform,
        } => {
            let dest = Destination::open(&from)?;
            let p = scrim_server::Platform::open(&store.platform(&platform)?).await?;
            let key_file = key.path(p.data_dir());
            let r = backup::restore(&p, &key_file, &dest, id.as_deref(), &scope(tenant, &store))
                .await?;
            println!("backup {}", r.id);
            for u in &r.unreadable {
                println!(
                    "tenant {} ({}): unreadable, {}; nothing restored",
                    u.name, u.id, u.why
                );
            }
            println!(
                "{} restored: {} objects and {} catalog rows put back; {} segments already \
                 there, {} replaced since, {} past retention, {} changed since; {} rows erased \
                 again by recorded deletion requests",
                plural(r.tenants.len(), "tenant"),
                r.objects,
                r.catalog_rows,
                r.present,
                r.superseded,
                r.expired,
                r.changed,
                r.tombstone_rows
            );
            Ok(())
        }
        BackupCommand::Prune {
            from,
            older_than_days,
            key,
            platform,
        } => {
            let dest = Destination::open(&from)?;
            let p = scrim_server::Platform::open(&platform.config()?).await?;
            let key_file = key.path(p.data_dir());
            let age = std::time::Duration::from_secs(u64::from(older_than_days) * 86_400);
            let r = backup::prune(&p, &key_file, &dest, age, std::time::SystemTime::now()).await?;
            for id in &r.removed {
                println!("removed backup {id}");
            }
            println!(
                "{} removed, {} kept; {} segment objects deleted ({})",
                plural(r.removed.len(), "backup"),
                r.kept,
                r.objects,
                size(r.bytes)
            );
            Ok(())
        }
        BackupCommand::List {
            from,
            key,
            data_dir,
        } => {
            let key = BackupKey::load(&key.path(&data_dir))?;
            let dest = Destination::open(&from)?;
            for b in backup::list(&dest, &key).await? {
                println!(
                    "{}  {}  {} segments  {}  {}",
                    b.id,
                    b.created_at,
                    b.segments,
                    size(b.bytes),
                    b.tenants.join(",")
                );
            }
            Ok(())
        }
    }
}
