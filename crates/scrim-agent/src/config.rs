//! The agent's configuration: a TOML file, `SCRIM_*` environment variables and flags.
//!
//! Every setting has a TOML key, an environment variable (`SCRIM_` and the key in capitals:
//! `queue_max_bytes` → `SCRIM_QUEUE_MAX_BYTES`) and a command-line flag (`--queue-max-bytes`).
//! A flag beats the environment, which beats the file, which beats the default.
//!
//! | key | default | meaning |
//! | --- | --- | --- |
//! | `upstream` | (required) | where to forward: `https://host:4318` (OTLP/HTTP) or `https://host:4317` with `upstream_protocol = "grpc"` |
//! | `upstream_protocol` | `http` | `http` (OTLP/HTTP protobuf) or `grpc` |
//! | `otlp_grpc` | `127.0.0.1:4317` | OTLP/gRPC listener |
//! | `otlp_http` | `127.0.0.1:4318` | OTLP/HTTP listener |
//! | `metrics` | `127.0.0.1:9464` | `/healthz` and Prometheus `/metrics` |
//! | `data_dir` | `./scrim-agent-data` | disk queue, generated keys and the self-signed certificate |
//! | `tls_cert_file`, `tls_key_file` | none | PEM certificate chain (leaf first) and private key: TLS on the OTLP/gRPC, OTLP/HTTP and metrics listeners; set both |
//! | `tls_self_signed` | `false` | TLS on those listeners with a self-signed certificate generated once in `<data_dir>/tls` and reused (it covers `localhost`, `127.0.0.1`, `::1` and the listen addresses that are specific IPs); not with `tls_cert_file` |
//! | `allow_plaintext` | `false` | without TLS, serve plain connections on non-loopback listen addresses (e.g. `0.0.0.0:4318`); otherwise such an address is refused at start (loopback is always allowed) |
//! | `allow_http_fallback` | `false` | permit a plain `http://` upstream (each connection is logged as a warning) |
//! | `mode` | `auto` | `auto`, `cloud` or `on-prem`; `auto` is `on-prem` when the upstream is on loopback and `cloud` otherwise, unless the policy file names a mode |
//! | `policy_file` | none | capture policy (docs/capture-policy.md); none means the default policy |
//! | `queue_max_bytes` | `1073741824` | disk queue bound |
//! | `queue_overflow` | `drop-oldest` | `drop-oldest` or `drop-newest` when the queue is full |
//! | `ca_file` | none | PEM CA to trust for the upstream instead of the system roots |
//! | `client_cert_file`, `client_key_file` | none | PEM client certificate and key for mutual TLS |
//! | `gzip` | `true` | compress requests upstream |
//! | `export_timeout_secs` | `10` | deadline of one export attempt |
//! | `api_key` | none | sent upstream as `Authorization: Bearer <key>` (a Scrim ingest key); prefer the environment variable |
//! | `pseudonym_key` | generated | the tenant's secret for pseudonyms; when absent, a random key is generated once and kept (0600) in the data directory |
//!
//! With TLS, the certificate's SHA-256 fingerprint is printed and logged at every start, so
//! applications can pin it or trust the generated certificate
//! (`<data_dir>/tls/tls-cert.pem`) as their CA.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use scrim_tls::TlsMode;
use serde::{Deserialize, Serialize};

/// Which OTLP transport the agent forwards with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// OTLP/HTTP with protobuf bodies.
    #[default]
    Http,
    /// OTLP/gRPC.
    Grpc,
}

/// Whether the cloud floor applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ModeSetting {
    /// `on-prem` for a loopback upstream, `cloud` otherwise (unless the policy names one).
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// The floor applies.
    #[serde(rename = "cloud")]
    Cloud,
    /// The policy applies as written.
    #[serde(rename = "on-prem")]
    OnPrem,
}

/// What happens when the disk queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OverflowSetting {
    /// Drop the oldest queued data.
    #[default]
    #[serde(rename = "drop-oldest")]
    DropOldest,
    /// Refuse new data (the application is told to retry).
    #[serde(rename = "drop-newest")]
    DropNewest,
}

/// A secret string: never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The agent's settings (see the module documentation for each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub upstream: Option<String>,
    pub upstream_protocol: UpstreamProtocol,
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    pub metrics: SocketAddr,
    pub data_dir: PathBuf,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub tls_self_signed: bool,
    pub allow_plaintext: bool,
    pub allow_http_fallback: bool,
    pub mode: ModeSetting,
    pub policy_file: Option<PathBuf>,
    pub queue_max_bytes: u64,
    pub queue_overflow: OverflowSetting,
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub gzip: bool,
    pub export_timeout_secs: u64,
    pub api_key: Option<Secret>,
    pub pseudonym_key: Option<Secret>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            upstream: None,
            upstream_protocol: UpstreamProtocol::Http,
            otlp_grpc: scrim_otlp::DEFAULT_GRPC_ADDR,
            otlp_http: scrim_otlp::DEFAULT_HTTP_ADDR,
            metrics: SocketAddr::from(([127, 0, 0, 1], 9464)),
            data_dir: PathBuf::from("./scrim-agent-data"),
            tls_cert_file: None,
            tls_key_file: None,
            tls_self_signed: false,
            allow_plaintext: false,
            allow_http_fallback: false,
            mode: ModeSetting::Auto,
            policy_file: None,
            queue_max_bytes: 1 << 30,
            queue_overflow: OverflowSetting::DropOldest,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            gzip: true,
            export_timeout_secs: 10,
            api_key: None,
            pseudonym_key: None,
        }
    }
}

/// Keys whose values are booleans or integers (everything else is a string).
const BOOL_KEYS: &[&str] = &[
    "tls_self_signed",
    "allow_plaintext",
    "allow_http_fallback",
    "gzip",
];
const INT_KEYS: &[&str] = &["queue_max_bytes", "export_timeout_secs"];

/// Every key, for environment lookup and error messages.
pub const KEYS: &[&str] = &[
    "upstream",
    "upstream_protocol",
    "otlp_grpc",
    "otlp_http",
    "metrics",
    "data_dir",
    "tls_cert_file",
    "tls_key_file",
    "tls_self_signed",
    "allow_plaintext",
    "allow_http_fallback",
    "mode",
    "policy_file",
    "queue_max_bytes",
    "queue_overflow",
    "ca_file",
    "client_cert_file",
    "client_key_file",
    "gzip",
    "export_timeout_secs",
    "api_key",
    "pseudonym_key",
];

/// A configuration that could not be read; says where and why, never a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl AgentConfig {
    /// Builds the configuration from a file's text (if any), the environment and flag
    /// overrides (`key → value` as typed), in increasing precedence.
    pub fn load(
        file: Option<(&Path, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &BTreeMap<String, String>,
    ) -> Result<AgentConfig, ConfigError> {
        let mut table = match file {
            Some((path, text)) => text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.message().trim())))?,
            None => toml::Table::new(),
        };
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("SCRIM_")?.to_ascii_lowercase();
                KEYS.contains(&key.as_str()).then_some((key, v))
            })
            .collect();
        for (source, overrides) in [("environment variable SCRIM_", &env), ("flag --", flags)] {
            for (key, value) in overrides {
                let value = typed(key, value).map_err(|why| {
                    let shown = if source.starts_with("flag") {
                        key.replace('_', "-")
                    } else {
                        key.to_ascii_uppercase()
                    };
                    ConfigError(format!("{source}{shown}: {why}"))
                })?;
                table.insert(key.clone(), value);
            }
        }
        let origin = file.map_or("configuration".to_string(), |(p, _)| {
            p.display().to_string()
        });
        let config: AgentConfig =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    ConfigError(format!("{origin}: {}", e.message().trim()))
                })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let Some(upstream) = &self.upstream else {
            return Err(ConfigError(
                "no upstream: set --upstream URL, SCRIM_UPSTREAM or `upstream` in the config file"
                    .into(),
            ));
        };
        let lower = upstream.to_ascii_lowercase();
        if !lower.starts_with("https://") && !lower.starts_with("http://") {
            return Err(ConfigError(format!(
                "upstream must be an https:// URL (http:// only with allow_http_fallback), not `{}`",
                upstream.chars().take(100).collect::<String>()
            )));
        }
        if lower.starts_with("http://") && !self.allow_http_fallback {
            return Err(ConfigError(
                "upstream is plain http://: refused unless allow_http_fallback = true (data would cross the network unencrypted)"
                    .into(),
            ));
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            return Err(ConfigError(
                "client_cert_file and client_key_file go together".into(),
            ));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(ConfigError(
                "tls_cert_file and tls_key_file go together: set both (a PEM certificate chain and its private key), or tls_self_signed = true"
                    .into(),
            ));
        }
        if self.tls_self_signed && self.tls_cert_file.is_some() {
            return Err(ConfigError(
                "tls_self_signed = true and tls_cert_file/tls_key_file exclude each other: use the certificate files or a generated self-signed certificate, not both"
                    .into(),
            ));
        }
        if self.queue_max_bytes < 1 << 20 {
            return Err(ConfigError("queue_max_bytes must be at least 1 MiB".into()));
        }
        if self.export_timeout_secs == 0 {
            return Err(ConfigError("export_timeout_secs must be at least 1".into()));
        }
        Ok(())
    }

    /// Where the listeners' certificate comes from: the PEM files, a self-signed certificate
    /// kept in `<data_dir>/tls`, or none ([`TlsMode::Off`]).
    pub fn tls_mode(&self) -> TlsMode {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => TlsMode::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ if self.tls_self_signed => TlsMode::SelfSigned {
                dir: self.data_dir.join("tls"),
                names: self.listen_names(),
            },
            _ => TlsMode::Off,
        }
    }

    /// The specific (not loopback, not unspecified) IP addresses the listeners are bound
    /// to, for a self-signed certificate to cover besides `localhost` and loopback.
    fn listen_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for addr in [self.otlp_grpc, self.otlp_http, self.metrics] {
            let ip = addr.ip().to_canonical();
            let name = ip.to_string();
            if !ip.is_loopback() && !ip.is_unspecified() && !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// Whether the upstream host is a loopback address or `localhost`.
    pub fn upstream_is_loopback(&self) -> bool {
        let Some(url) = &self.upstream else {
            return false;
        };
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if let Some(v6) = host_port.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            host_port.split(':').next().unwrap_or("")
        };
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

fn typed(key: &str, value: &str) -> Result<toml::Value, String> {
    if BOOL_KEYS.contains(&key) {
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" => Ok(toml::Value::Boolean(false)),
            _ => Err("expected true or false".into()),
        }
    } else if INT_KEYS.contains(&key) {
        value
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| "expected a whole number".into())
    } else {
        Ok(toml::Value::String(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let file =
            "upstream = \"https://file.example:4318\"\nqueue_max_bytes = 2097152\ngzip = false\n";
        let env = vec![
            (
                "SCRIM_UPSTREAM".to_string(),
                "https://env.example:4318".to_string(),
            ),
            ("SCRIM_QUEUE_MAX_BYTES".to_string(), "3145728".to_string()),
            ("HOME".to_string(), "/root".to_string()),
            ("SCRIM_UNRELATED".to_string(), "x".to_string()),
        ];
        let c = AgentConfig::load(
            Some((Path::new("agent.toml"), file)),
            env,
            &flags(&[("upstream", "https://flag.example:4318")]),
        )
        .unwrap();
        assert_eq!(c.upstream.as_deref(), Some("https://flag.example:4318"));
        assert_eq!(c.queue_max_bytes, 3 << 20);
        assert!(!c.gzip);
        assert_eq!(c.otlp_grpc, scrim_otlp::DEFAULT_GRPC_ADDR);
        assert_eq!(c.mode, ModeSetting::Auto);
    }

    #[test]
    fn plain_http_needs_the_explicit_flag() {
        let e =
            AgentConfig::load(None, vec![], &flags(&[("upstream", "http://up:4318")])).unwrap_err();
        assert!(e.0.contains("allow_http_fallback"), "{e}");
        let c = AgentConfig::load(
            None,
            vec![],
            &flags(&[
                ("upstream", "http://up:4318"),
                ("allow_http_fallback", "true"),
            ]),
        )
        .unwrap();
        assert!(c.allow_http_fallback);
    }

    #[test]
    fn errors_name_the_setting() {
        let e = AgentConfig::load(None, vec![], &flags(&[])).unwrap_err();
        assert!(e.0.contains("no upstream"), "{e}");
        let e = AgentConfig::load(
            None,
            vec![("SCRIM_GZIP".to_string(), "maybe".to_string())],
            &flags(&[("upstream", "https://u")]),
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "environment variable SCRIM_GZIP: expected true or false"
        );
        let e = AgentConfig::load(
            Some((
                Path::new("a.toml"),
                "upstream = \"https://u\"\nqueue_overflow = \"drop-all\"\n",
            )),
            vec![],
            &flags(&[]),
        )
        .unwrap_err();
        assert!(e.0.starts_with("a.toml: unknown variant `drop-all`"), "{e}");
        let e = AgentConfig::load(
            Some((
                Path::new("a.toml"),
                "upstream = \"https://u\"\nupstreem = 1\n",
            )),
            vec![],
            &flags(&[]),
        )
        .unwrap_err();
        assert!(e.0.contains("unknown field `upstreem`"), "{e}");
    }

    #[test]
    fn secrets_are_hidden_from_debug() {
        let c = AgentConfig::load(
            None,
            vec![("SCRIM_API_KEY".to_string(), "scrim_live_abcdef".to_string())],
            &flags(&[("upstream", "https://u")]),
        )
        .unwrap();
        assert_eq!(c.api_key, Some(Secret("scrim_live_abcdef".into())));
        assert!(!format!("{c:?}").contains("abcdef"));
    }

    #[test]
    fn tls_settings_from_file_env_and_flags() {
        let c = AgentConfig::load(None, vec![], &flags(&[("upstream", "https://u")])).unwrap();
        assert_eq!(c.tls_mode(), TlsMode::Off, "no TLS by default");
        assert!(!c.allow_plaintext);
        assert!(!c.tls_self_signed);

        let file = "upstream = \"https://u\"\ntls_cert_file = \"/etc/scrim/cert.pem\"\n\
                    tls_key_file = \"/etc/scrim/key.pem\"\nallow_plaintext = true\n";
        let c = AgentConfig::load(Some((Path::new("a.toml"), file)), vec![], &flags(&[])).unwrap();
        assert_eq!(
            c.tls_mode(),
            TlsMode::Files {
                cert: "/etc/scrim/cert.pem".into(),
                key: "/etc/scrim/key.pem".into(),
            }
        );
        assert!(c.allow_plaintext);

        let env = vec![
            ("SCRIM_TLS_SELF_SIGNED".to_string(), "true".to_string()),
            ("SCRIM_ALLOW_PLAINTEXT".to_string(), "no".to_string()),
        ];
        let c = AgentConfig::load(
            None,
            env,
            &flags(&[
                ("upstream", "https://u"),
                ("data_dir", "/var/lib/scrim-agent"),
                ("otlp_http", "10.1.2.3:4318"),
                ("otlp_grpc", "0.0.0.0:4317"),
            ]),
        )
        .unwrap();
        assert!(!c.allow_plaintext);
        assert_eq!(
            c.tls_mode(),
            TlsMode::SelfSigned {
                dir: "/var/lib/scrim-agent/tls".into(),
                // A specific listen address is covered; 0.0.0.0 and loopback are not names.
                names: vec!["10.1.2.3".into()],
            }
        );

        // Flags beat the environment for the booleans too.
        let c = AgentConfig::load(
            None,
            vec![("SCRIM_ALLOW_PLAINTEXT".to_string(), "false".to_string())],
            &flags(&[("upstream", "https://u"), ("allow_plaintext", "true")]),
        )
        .unwrap();
        assert!(c.allow_plaintext);
        let e = AgentConfig::load(
            None,
            vec![("SCRIM_TLS_SELF_SIGNED".to_string(), "sure".to_string())],
            &flags(&[("upstream", "https://u")]),
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "environment variable SCRIM_TLS_SELF_SIGNED: expected true or false"
        );
    }

    #[test]
    fn tls_settings_that_do_not_fit_together_are_refused() {
        for (pairs, expected) in [
            (
                &[("tls_cert_file", "c.pem")][..],
                "tls_cert_file and tls_key_file go together",
            ),
            (
                &[("tls_key_file", "k.pem")][..],
                "tls_cert_file and tls_key_file go together",
            ),
            (
                &[("tls_key_file", "k.pem"), ("tls_self_signed", "true")][..],
                "tls_cert_file and tls_key_file go together",
            ),
            (
                &[
                    ("tls_cert_file", "c.pem"),
                    ("tls_key_file", "k.pem"),
                    ("tls_self_signed", "true"),
                ][..],
                "tls_self_signed = true and tls_cert_file/tls_key_file exclude each other",
            ),
        ] {
            let mut f = flags(pairs);
            f.insert("upstream".into(), "https://u".into());
            let e = AgentConfig::load(None, vec![], &f).unwrap_err();
            assert!(e.0.starts_with(expected), "{pairs:?}: {e}");
        }
        // Self-signed with the files explicitly off is fine.
        let c = AgentConfig::load(
            Some((
                Path::new("a.toml"),
                "upstream = \"https://u\"\ntls_self_signed = true\n",
            )),
            vec![],
            &flags(&[]),
        )
        .unwrap();
        assert!(matches!(c.tls_mode(), TlsMode::SelfSigned { .. }));
    }

    #[test]
    fn loopback_upstreams() {
        for (url, lo) in [
            ("https://127.0.0.1:4318", true),
            ("https://localhost:4318/base", true),
            ("https://[::1]:4317", true),
            ("https://user@127.0.0.2", true),
            ("https://scrim.example.com", false),
            ("https://10.0.0.1:4318", false),
        ] {
            let c = AgentConfig {
                upstream: Some(url.into()),
                ..AgentConfig::default()
            };
            assert_eq!(c.upstream_is_loopback(), lo, "{url}");
        }
    }
}
