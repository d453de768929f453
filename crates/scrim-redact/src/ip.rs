//! IP addresses: OpenTelemetry's `client.address`, `source.address`,
//! `network.peer.address`, `http.client_ip`, and `X-Forwarded-For` / `Forwarded` values.
//!
//! [`redact_ip`] applies an [`IpMode`] to every address in a value; [`mask_ip`] is the
//! masking on its own.
//!
//! # Output contract
//!
//! | mode | `203.0.113.57` | `2001:db8:85a3:8d3:1319:8a2e:370:7348` |
//! | --- | --- | --- |
//! | `mask` (default) | `203.0.113.0` (/24) | `2001:db8:85a3::` (/48) |
//! | `hash` | `[ipv4:<16 base32 chars>]` | `[ipv6:<16 base32 chars>]` |
//! | `drop` | the attribute is dropped (`None`) | |
//! | `keep` | unchanged | |
//!
//! - **Mask** keeps the network and zeroes the host part: IPv4 to its /24, IPv6 to its /48.
//!   An IPv4-mapped IPv6 address is masked as the IPv4 address it carries
//!   (`::ffff:203.0.113.57` → `::ffff:203.0.113.0`). A changed address is written in its
//!   canonical form (RFC 5952 for IPv6: lowercase, `::` compression).
//! - **Hash** replaces each address with [`Pseudonymizer::pseudonym`] of its canonical
//!   text, as [`Kind::Ipv4`] or [`Kind::Ipv6`]; an IPv4-mapped address is hashed as its
//!   IPv4 address, so a client seen over a dual-stack socket keeps one pseudonym. A
//!   bracketed IPv6 address is replaced brackets included (`[2001:db8::1]:443` →
//!   `[ipv6:…]:443`). Hash without a pseudonymizer masks: a missing key never keeps.
//! - **Drop** returns `None` whatever the value holds; each address in it is counted.
//! - **Keep** returns the value borrowed and counts nothing.
//!
//! # Where addresses are found
//!
//! The value is scanned for runs of hex digits, `.` and `:`; a run that reads as an IPv6
//! address, an IPv4 address (dotted decimal, leading zeros allowed) or an IPv4 address
//! with a port (`1.2.3.4:8080`) is an address (when a whole run does not read as one,
//! the run without its trailing dots is tried). Everything else is kept byte for byte, so
//! the shape survives: ports (`[2001:db8::1]:443` → `[2001:db8::]:443`), zone ids
//! (`fe80::1%eth0` → `fe80::%eth0`), lists (`X-Forwarded-For: 203.0.113.57, 10.0.0.1`
//! → `203.0.113.0, 10.0.0.0`), `Forwarded` syntax (`for=192.0.2.60;proto=https` →
//! `for=192.0.2.0;proto=https`), whitespace.
//!
//! A value holding no address (`api.example.com`, `unknown`, `_hidden`) is returned
//! unchanged under Mask and Hash: hostnames are not addresses. An address inside a
//! hostname (`ip-10-0-0-1.ec2.internal`, `10.0.0.1.nip.io`) is not found.
//!
//! # Counting and idempotence
//!
//! Each address whose text changes is counted once, as [`Kind::Ipv4`] (IPv4-mapped
//! included) or [`Kind::Ipv6`]. An address that is already masked (`203.0.113.0`) masks to
//! itself, is kept as written and is not counted, so masking is idempotent and a second
//! pass counts nothing. Pseudonyms hold no address, so hashing is idempotent too.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::cow::CowBuilder;
use crate::{Counts, Kind, Pseudonymizer};

/// What to do with IP addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpMode {
    /// IPv4 to /24, IPv6 to /48.
    #[default]
    Mask,
    /// A keyed pseudonym per address (masks when there is no key).
    Hash,
    /// Drop the attribute.
    Drop,
    /// Leave the value as it is.
    Keep,
}

/// Applies `mode` to every address in `value` (module docs give the rules). `None` means
/// the attribute must be dropped ([`IpMode::Drop`]).
///
/// ```
/// use scrim_redact::{Counts, Kind, ip::{redact_ip, IpMode}};
/// let mut counts = Counts::default();
/// let out = redact_ip("203.0.113.57, [2001:db8:85a3::7]:443", IpMode::Mask, None, &mut counts);
/// assert_eq!(out.as_deref(), Some("203.0.113.0, [2001:db8:85a3::]:443"));
/// assert_eq!((counts.get(Kind::Ipv4), counts.get(Kind::Ipv6)), (1, 1));
/// ```
pub fn redact_ip<'a>(
    value: &'a str,
    mode: IpMode,
    pseudonymizer: Option<&Pseudonymizer>,
    counts: &mut Counts,
) -> Option<Cow<'a, str>> {
    match mode {
        IpMode::Keep => Some(Cow::Borrowed(value)),
        IpMode::Drop => {
            for_each_address(value, |_, _, addr| counts.add(kind_of(addr)));
            None
        }
        IpMode::Mask | IpMode::Hash => {
            let hasher = if mode == IpMode::Hash {
                pseudonymizer
            } else {
                None
            };
            let bytes = value.as_bytes();
            let mut out = CowBuilder::new(value);
            let mut pos = 0;
            for_each_address(value, |s, e, addr| {
                let kind = kind_of(addr);
                if let Some(p) = hasher {
                    // A bracketed address goes with its brackets: the pseudonym has its own.
                    let bracketed = s > 0 && bytes[s - 1] == b'[' && bytes.get(e) == Some(&b']');
                    let (s, e) = if bracketed { (s - 1, e + 1) } else { (s, e) };
                    out.keep(pos, s);
                    out.push_new(&p.pseudonym(kind, &canonical(addr)));
                    counts.add(kind);
                    pos = e;
                    return;
                }
                out.keep(pos, s);
                let masked = mask_ip(addr);
                if masked == addr {
                    out.keep(s, e);
                } else {
                    out.push_new(&masked.to_string());
                    counts.add(kind);
                }
                pos = e;
            });
            out.keep(pos, value.len());
            Some(out.finish())
        }
    }
}

/// `addr` with its host part zeroed: IPv4 to /24 (`a.b.c.0`), IPv6 to /48; an
/// IPv4-mapped IPv6 address is masked as its IPv4 address and stays mapped.
pub fn mask_ip(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(mask_v4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V6(mask_v4(v4).to_ipv6_mapped()),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
            }
        },
    }
}

fn mask_v4(v4: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, _] = v4.octets();
    Ipv4Addr::new(a, b, c, 0)
}

/// The kind an address counts as: IPv4-mapped IPv6 addresses are IPv4.
fn kind_of(addr: IpAddr) -> Kind {
    match addr {
        IpAddr::V4(_) => Kind::Ipv4,
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Kind::Ipv4,
        IpAddr::V6(_) => Kind::Ipv6,
    }
}

/// The text a pseudonym is computed over: canonical, IPv4-mapped addresses as IPv4.
fn canonical(addr: IpAddr) -> String {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Calls `f(start, end, addr)` for each address in `value`, in order; `start..end` is the
/// address text alone (no port, zone or brackets).
fn for_each_address(value: &str, mut f: impl FnMut(usize, usize, IpAddr)) {
    let b = value.as_bytes();
    let in_run = |c: u8| c.is_ascii_hexdigit() || c == b'.' || c == b':';
    let mut i = 0;
    while i < b.len() {
        if !in_run(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && in_run(b[i]) {
            i += 1;
        }
        let run = &value[start..i];
        let found = parse_run(run).or_else(|| {
            let trimmed = run.trim_end_matches('.');
            (trimmed.len() < run.len())
                .then(|| parse_run(trimmed))
                .flatten()
        });
        if let Some((len, addr)) = found {
            f(start, start + len, addr);
        }
    }
}

/// An address at the start of `run`, with the length of its text: the whole run as IPv6
/// or IPv4, or IPv4 followed by `:port`.
fn parse_run(run: &str) -> Option<(usize, IpAddr)> {
    if run.contains(':')
        && let Ok(v6) = run.parse::<Ipv6Addr>()
    {
        return Some((run.len(), IpAddr::V6(v6)));
    }
    if let Some(v4) = parse_v4(run) {
        return Some((run.len(), IpAddr::V4(v4)));
    }
    let (host, port) = run.split_once(':')?;
    let port_ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|c| c.is_ascii_digit());
    let v4 = parse_v4(host).filter(|_| port_ok)?;
    Some((host.len(), IpAddr::V4(v4)))
}

/// Dotted decimal: four numbers of one to three digits, each at most 255.
fn parse_v4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *o = part.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(s: &str) -> (String, Counts) {
        let mut c = Counts::default();
        let out = redact_ip(s, IpMode::Mask, None, &mut c).expect("kept");
        (out.into_owned(), c)
    }

    #[test]
    fn masks_v4_and_v6() {
        assert_eq!(mask("203.0.113.57").0, "203.0.113.0");
        assert_eq!(
            mask("2001:db8:85a3:8d3:1319:8a2e:370:7348").0,
            "2001:db8:85a3::"
        );
        assert_eq!(mask("::ffff:203.0.113.57").0, "::ffff:203.0.113.0");
        assert_eq!(mask("010.001.002.003").0, "10.1.2.0");
    }

    #[test]
    fn parse_v4_is_strict() {
        assert_eq!(parse_v4("1.2.3.4"), Some(Ipv4Addr::new(1, 2, 3, 4)));
        for bad in [
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1..2.3",
            "1.2.3.0004",
            "a.b.c.d",
        ] {
            assert_eq!(parse_v4(bad), None, "{bad}");
        }
    }

    #[test]
    fn runs() {
        assert_eq!(
            parse_run("1.2.3.4:8080"),
            Some((7, IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4))))
        );
        assert_eq!(parse_run("1.2.3.4:"), None);
        assert_eq!(parse_run("beef"), None);
        assert_eq!(parse_run("4:abcd"), None);
    }
}
