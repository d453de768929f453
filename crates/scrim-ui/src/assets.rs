//! The files the pages load, embedded in the binary (one binary, no build step, nothing
//! fetched from elsewhere: the Content-Security-Policy allows scripts and styles from the
//! server itself only).
//!
//! Each asset is addressed by a name that carries a digest of its content
//! (`scrim.3f2a….css`), so a browser may cache it for a year and still never runs an old
//! script after an upgrade.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// The name pages link to: `<stem>.<digest>.<extension>`.
    pub name: String,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// (stem, extension, content type, bytes).
const FILES: [(&str, &str, &str, &[u8]); 3] = [
    (
        "scrim",
        "css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/scrim.css"),
    ),
    (
        "scrim",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/scrim.js"),
    ),
    // htmx 2.0.11 (0BSD), unmodified from the npm package `htmx.org`.
    (
        "htmx",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/htmx-2.0.11.min.js"),
    ),
];

fn all() -> &'static [Asset] {
    static ALL: OnceLock<Vec<Asset>> = OnceLock::new();
    ALL.get_or_init(|| {
        FILES
            .iter()
            .map(|(stem, ext, content_type, bytes)| {
                let digest = Sha256::digest(bytes);
                let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
                Asset {
                    name: format!("{stem}.{short}.{ext}"),
                    content_type,
                    bytes,
                }
            })
            .collect()
    })
}

/// The asset served at `/assets/<name>`, if any.
pub fn get(name: &str) -> Option<&'static Asset> {
    all().iter().find(|a| a.name == name)
}

fn named(stem: &str, ext: &str) -> &'static str {
    all()
        .iter()
        .find(|a| a.name.starts_with(stem) && a.name.ends_with(ext))
        .map(|a| a.name.as_str())
        .unwrap_or("missing")
}

/// The stylesheet's current name.
pub fn stylesheet() -> &'static str {
    named("scrim.", ".css")
}

/// The UI script's current name.
pub fn script() -> &'static str {
    named("scrim.", ".js")
}

/// htmx's current name.
pub fn htmx() -> &'static str {
    named("htmx.", ".js")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_digest_and_resolve() {
        for name in [stylesheet(), script(), htmx()] {
            let asset = get(name).expect(name);
            let digest = Sha256::digest(asset.bytes);
            let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
            assert!(name.contains(&short), "{name}");
        }
        assert_ne!(stylesheet(), script());
        assert!(get("scrim.css").is_none());
        assert!(get("../Cargo.toml").is_none());
    }

    #[test]
    fn htmx_is_the_vendored_release() {
        let js = std::str::from_utf8(get(htmx()).unwrap().bytes).unwrap();
        assert!(js.starts_with("var htmx=function()"));
        assert!(js.contains("\"2.0.11\""), "vendored htmx version changed");
    }
}
