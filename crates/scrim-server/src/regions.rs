//! Data residency: the regions a deployment stores telemetry in.
//!
//! Each region has its own segment store (a directory or an S3 bucket in that region) and
//! its own WAL directory; a tenant's region is fixed when it is created and must be one of
//! the configured regions. Everything the platform writes of a tenant's telemetry (WAL
//! records, segments, compacted and rewritten segments, backups) goes to its region's
//! locations only: every write path asks [`Regions::of`] for the tenant's [`Region`], and a
//! tenant whose region this node does not serve is refused ([`ServerError::OtherRegion`],
//! 421 on the APIs) rather than written anywhere else.
//!
//! The metadata database (accounts, wrapped keys, the segment catalog: paths, time ranges,
//! row counts, service names, trace-id Bloom filters) is shared by every region.
//!
//! Without a `[[regions]]` table a deployment has one region: `region` (default `local`)
//! with the segment store `object_store` (default `<data_dir>/segments`) and the WAL in
//! `<data_dir>/wal`.

use std::path::{Path, PathBuf};

use scrim_meta::Tenant;
use scrim_store::SegmentStore;

use crate::ServerError;

/// The region of a deployment without a `[[regions]]` table.
pub const DEFAULT_REGION: &str = scrim_meta::NewTenant::DEFAULT_REGION;

/// One region as configured: `[[regions]]` in the serve config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Lower-case letters, digits, `-` and `_`: the first component of every segment path.
    pub name: String,
    /// Where the region's segments go: a directory, `file:///dir`, or
    /// `s3://bucket/prefix?endpoint=…&region=…`. `None` (only for the default region):
    /// `<data_dir>/segments`.
    #[serde(default)]
    pub object_store: Option<String>,
    /// The region's WAL directory. `None` (only for the default region): `<data_dir>/wal`.
    #[serde(default)]
    pub wal_dir: Option<PathBuf>,
    /// Where `scrim backup create --region NAME` writes when `--to` is not given.
    #[serde(default)]
    pub backup_to: Option<String>,
}

impl RegionConfig {
    /// The region of a deployment without a `[[regions]]` table.
    pub fn single(name: &str, object_store: Option<String>) -> RegionConfig {
        RegionConfig {
            name: name.to_owned(),
            object_store,
            wal_dir: None,
            backup_to: None,
        }
    }
}

/// A region, opened.
#[derive(Debug, Clone)]
pub struct Region {
    pub name: String,
    /// Segments of the region's tenants, written under `{name}/{tenant}/…`.
    pub store: SegmentStore,
    /// `{wal_dir}/{tenant}/` holds each tenant's WAL.
    pub wal_dir: PathBuf,
    pub backup_to: Option<String>,
}

impl Region {
    /// The WAL directory of `tenant`.
    pub fn wal_of(&self, tenant: &str) -> PathBuf {
        self.wal_dir.join(tenant)
    }
}

/// Every region this deployment (and this node) serves.
#[derive(Debug, Clone)]
pub struct Regions {
    list: Vec<Region>,
}

impl Regions {
    /// Opens each region's segment store (creating local directories, owner-only).
    /// An empty `configs` is the default region in `data_dir`.
    pub fn open(data_dir: &Path, configs: &[RegionConfig]) -> Result<Regions, ServerError> {
        let default = [RegionConfig::single(DEFAULT_REGION, None)];
        let configs = if configs.is_empty() {
            &default[..]
        } else {
            configs
        };
        let mut list: Vec<Region> = Vec::with_capacity(configs.len());
        for c in configs {
            scrim_store::segment::validate_id("region", &c.name)?;
            if list.iter().any(|r| r.name == c.name) {
                return Err(usage(format!("region {:?} is configured twice", c.name)));
            }
            let store = match c.object_store.as_deref() {
                None => {
                    let dir = data_dir.join("segments");
                    crate::platform::create_private_dir(&dir)?;
                    SegmentStore::local(&dir, &c.name)?
                }
                Some(url) if url.contains("://") => SegmentStore::from_url(url, &c.name)?,
                // `s3:/bucket` is a mistyped URL, not a directory to create.
                Some(dir) if dir.contains(':') => {
                    return Err(usage(format!(
                        "region {}: object_store {:?} is neither a directory nor a URL \
                         (file:///dir, s3://bucket/prefix?endpoint=…)",
                        c.name,
                        dir.chars().take(64).collect::<String>()
                    )));
                }
                Some(dir) => {
                    crate::platform::create_private_dir(Path::new(dir))?;
                    SegmentStore::local(dir, &c.name)?
                }
            };
            let wal_dir = c.wal_dir.clone().unwrap_or_else(|| data_dir.join("wal"));
            // Two regions in one place would hold each other's data.
            let location = c.object_store.as_deref().map(|s| s.trim_end_matches('/'));
            if let Some(other) = list.iter().zip(configs).find(|(r, o)| {
                r.wal_dir == wal_dir
                    || (location.is_some()
                        && o.object_store.as_deref().map(|s| s.trim_end_matches('/')) == location)
            }) {
                return Err(usage(format!(
                    "regions {} and {} share a WAL directory or an object store: each region \
                     needs its own",
                    other.0.name, c.name
                )));
            }
            list.push(Region {
                name: c.name.clone(),
                store,
                wal_dir,
                backup_to: c.backup_to.clone(),
            });
        }
        Ok(Regions { list })
    }

    /// The region called `name`, if this deployment has it.
    pub fn get(&self, name: &str) -> Result<&Region, ServerError> {
        self.list
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| ServerError::OtherRegion {
                region: name.to_owned(),
                served: self.names().join(", "),
            })
    }

    /// The region `tenant`'s telemetry lives in; an error if it is not served here.
    pub fn of(&self, tenant: &Tenant) -> Result<&Region, ServerError> {
        self.get(&tenant.region)
    }

    /// Whether `tenant`'s region is served here.
    pub fn serves(&self, tenant: &Tenant) -> bool {
        self.list.iter().any(|r| r.name == tenant.region)
    }

    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|r| r.name.as_str()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.list.iter()
    }

    /// The region of a new tenant: `requested`, which must be configured, or, when none
    /// is requested, the only region (with several, the caller must choose).
    pub fn for_new_tenant(&self, requested: Option<&str>) -> Result<&Region, ServerError> {
        match requested {
            Some(name) => self.get(name).map_err(|_| {
                usage(format!(
                    "region {:?} is not configured: this deployment has {} (the [[regions]] \
                     of the serve config, --config)",
                    name.chars().take(64).collect::<String>(),
                    self.names().join(", ")
                ))
            }),
            None if self.list.len() == 1 => Ok(&self.list[0]),
            None => Err(usage(format!(
                "this deployment has regions {}: choose the tenant's with --region",
                self.names().join(", ")
            ))),
        }
    }

    /// The one region an operator command works on: `requested`, else the only one.
    pub fn chosen(&self, requested: Option<&str>, what: &str) -> Result<&Region, ServerError> {
        match requested {
            Some(name) => self.get(name).map_err(|_| {
                usage(format!(
                    "no region {:?}: this deployment has {}",
                    name.chars().take(64).collect::<String>(),
                    self.names().join(", ")
                ))
            }),
            None if self.list.len() == 1 => Ok(&self.list[0]),
            None => Err(usage(format!(
                "this deployment has regions {}: {what} covers one region, choose it with \
                 --region",
                self.names().join(", ")
            ))),
        }
    }
}

fn usage(m: String) -> ServerError {
    ServerError::Usage(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str, dir: &Path) -> RegionConfig {
        RegionConfig {
            name: name.into(),
            object_store: Some(dir.join("segments").display().to_string()),
            wal_dir: Some(dir.join("wal")),
            backup_to: None,
        }
    }

    #[test]
    fn without_a_table_there_is_one_region_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let regions = Regions::open(dir.path(), &[]).unwrap();
        assert_eq!(regions.names(), vec!["local"]);
        let r = regions.for_new_tenant(None).unwrap();
        assert_eq!(r.wal_dir, dir.path().join("wal"));
        assert!(dir.path().join("segments").is_dir());
        assert!(regions.for_new_tenant(Some("eu")).is_err());
    }

    #[test]
    fn several_regions_each_with_their_own_locations() {
        let dir = tempfile::tempdir().unwrap();
        let (eu, us) = (dir.path().join("eu"), dir.path().join("us"));
        let regions = Regions::open(dir.path(), &[region("eu", &eu), region("us", &us)]).unwrap();
        assert_eq!(regions.get("us").unwrap().wal_of("t"), us.join("wal/t"));
        assert!(eu.join("segments").is_dir() && us.join("segments").is_dir());
        // With several, a new tenant's region is never guessed.
        let e = regions.for_new_tenant(None).unwrap_err().to_string();
        assert!(e.contains("eu, us"), "{e}");
        assert_eq!(regions.for_new_tenant(Some("us")).unwrap().name, "us");
        let e = regions.get("ap").unwrap_err();
        assert!(matches!(e, ServerError::OtherRegion { .. }), "{e}");
        assert!(regions.chosen(None, "a backup").is_err());
        // A name twice, one that cannot be a path component, two regions in one place, or
        // a location that is neither a directory nor a URL, is refused.
        assert!(Regions::open(dir.path(), &[region("eu", &eu), region("eu", &us)]).is_err());
        assert!(Regions::open(dir.path(), &[region("../x", &eu)]).is_err());
        let e = Regions::open(dir.path(), &[region("eu", &eu), region("us", &eu)]).unwrap_err();
        assert!(e.to_string().contains("share"), "{e}");
        let mut typo = region("eu", &eu);
        typo.object_store = Some("s3:/bucket".into());
        let e = Regions::open(dir.path(), &[typo]).unwrap_err();
        assert!(
            e.to_string().contains("neither a directory nor a URL"),
            "{e}"
        );
        assert!(!Path::new("s3:").exists());
    }
}
