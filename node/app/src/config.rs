//! One `Config`, loaded once — defaults, then the config file, then `ATTACH_*`
//! environment variables, then command-line flags — and passed down.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use attach_domain::matching::{PriorityRules, Tier};

/// Everything an operator can set. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the node keeps its documents (a sled database) and local state.
    pub data_dir: PathBuf,
    /// Address the HTTP server (web UI and JSON API) listens on.
    pub listen: SocketAddr,
    /// Log format: "text" for people, "json" for journald / log shippers.
    pub log_format: LogFormat,
    /// Minutes of inactivity after which a signed-in session ends.
    pub session_idle_minutes: u32,
    /// Largest request body accepted, in bytes (file uploads included).
    pub max_body_bytes: usize,
    /// Memory the storage engine may use for its page cache, in MiB.
    pub store_cache_mib: u64,
    /// Mark the web UI's cookies `Secure`: set this when browsers reach the node over
    /// HTTPS (for example behind a TLS-terminating proxy).
    pub secure_cookies: bool,
    /// Address the sync listener binds: on the hub, where clinic nodes connect (TLS); on a
    /// clinic node, where LAN peers of the same clinic connect (mutual TLS, only once the
    /// node is enrolled).
    pub sync_listen: SocketAddr,
    /// Find and sync with other nodes of the same clinic on the LAN (mDNS).
    pub lan_discovery: bool,
    /// Longest wait, in seconds, between attempts to reach the hub while it is unreachable
    /// (waits grow from 1 s to this, with random jitter).
    pub sync_retry_max_secs: u64,
    /// A clinic node's admin listener (`/metrics`, backups of the running node, status for
    /// `attach status`): keep it on loopback. Port 0 picks a free port, which the node
    /// writes to `admin/address` in its data directory. The hub serves the same routes on
    /// its loopback `listen` address instead.
    pub admin_listen: SocketAddr,
    /// The hub's web pages for provincial coordinators (`attach hub` only): the waitlist,
    /// registrations, imports, matching rounds, offers and the provincial view, behind each
    /// coordinator's own sign-in. Reach it over HTTPS (a TLS-terminating proxy, with
    /// `secure_cookies = true`); it is separate from the loopback admin API.
    pub hub_web_listen: SocketAddr,
    /// The hub's matching rules (`[matching]`); clinic nodes ignore them.
    pub matching: MatchingSettings,
}

/// How the hub orders the waitlist and makes offers: a health authority's policy, so it is
/// configuration, not code. Checked when the hub starts (`MatchingConfig::from_settings`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchingSettings {
    /// The province's time zone (an IANA name): monthly capacity is counted by its calendar
    /// months.
    pub time_zone: String,
    /// Days an offer stays open; then the people in it return to the waitlist, keeping
    /// their place.
    pub offer_days: u32,
    /// Days of waiting that move a person up one priority tier; 0 = never.
    pub promote_after_days: u32,
    /// Priority tiers, highest first, each with the clinical factors that put a person in
    /// it; people with none of the listed factors go in the last tier.
    pub tiers: Vec<Tier>,
    /// For each community, the neighbouring communities its clinics also serve.
    pub catchments: BTreeMap<String, Vec<String>>,
    /// The province's health authorities, each with the communities it serves: the
    /// provincial comparison of clinics' measures groups clinics by the community of
    /// their address and this. A community in none is shown under "no health authority".
    pub health_authorities: BTreeMap<String, Vec<String>>,
}

/// BC's five regional health authorities with the larger communities of each: the
/// default for [`MatchingSettings::health_authorities`], to be completed by the province.
pub fn bc_health_authorities() -> BTreeMap<String, Vec<String>> {
    let ha = |name: &str, communities: &[&str]| {
        (
            name.to_owned(),
            communities.iter().map(|c| (*c).to_owned()).collect(),
        )
    };
    BTreeMap::from([
        ha(
            "Fraser Health",
            &[
                "Abbotsford",
                "Agassiz",
                "Burnaby",
                "Chilliwack",
                "Coquitlam",
                "Delta",
                "Hope",
                "Langley",
                "Maple Ridge",
                "Mission",
                "New Westminster",
                "Port Coquitlam",
                "Port Moody",
                "Surrey",
                "White Rock",
            ],
        ),
        ha(
            "Interior Health",
            &[
                "Castlegar",
                "Cranbrook",
                "Golden",
                "Kamloops",
                "Kelowna",
                "Merritt",
                "Nelson",
                "Penticton",
                "Revelstoke",
                "Salmon Arm",
                "Trail",
                "Vernon",
                "West Kelowna",
                "Williams Lake",
                "100 Mile House",
            ],
        ),
        ha(
            "Island Health",
            &[
                "Campbell River",
                "Courtenay",
                "Comox",
                "Duncan",
                "Nanaimo",
                "Parksville",
                "Port Alberni",
                "Port Hardy",
                "Saanich",
                "Sooke",
                "Victoria",
            ],
        ),
        ha(
            "Northern Health",
            &[
                "Burns Lake",
                "Dawson Creek",
                "Fort Nelson",
                "Fort St. James",
                "Fort St. John",
                "Fraser Lake",
                "Hazelton",
                "Houston",
                "Kitimat",
                "Mackenzie",
                "Prince George",
                "Prince Rupert",
                "Quesnel",
                "Smithers",
                "Telkwa",
                "Terrace",
                "Vanderhoof",
            ],
        ),
        ha(
            "Vancouver Coastal Health",
            &[
                "Bella Coola",
                "North Vancouver",
                "Powell River",
                "Richmond",
                "Sechelt",
                "Squamish",
                "Vancouver",
                "West Vancouver",
                "Whistler",
            ],
        ),
    ])
}

impl Default for MatchingSettings {
    fn default() -> Self {
        let rules = PriorityRules::default();
        Self {
            time_zone: "America/Vancouver".to_owned(),
            offer_days: 14,
            promote_after_days: rules.promote_after_days,
            tiers: rules.tiers,
            catchments: BTreeMap::new(),
            health_authorities: bc_health_authorities(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The clinic node's data directory when nothing else is set (the Debian package's).
pub const DEFAULT_NODE_DIR: &str = "/var/lib/attach/node";
/// The hub's data directory when nothing else is set (the Debian package's).
pub const DEFAULT_HUB_DIR: &str = "/var/lib/attach/hub";

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_NODE_DIR),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            log_format: LogFormat::Text,
            session_idle_minutes: 30,
            max_body_bytes: 16 * 1024 * 1024,
            store_cache_mib: 32,
            secure_cookies: false,
            sync_listen: SocketAddr::from(([0, 0, 0, 0], 7443)),
            lan_discovery: true,
            sync_retry_max_secs: 300,
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            matching: MatchingSettings::default(),
            hub_web_listen: SocketAddr::from(([127, 0, 0, 1], 8091)),
        }
    }
}

/// What can go wrong loading configuration; each names the source and the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
}

impl Config {
    /// Defaults overlaid by the file at `path` (if given) and by `ATTACH_*` variables
    /// taken from `env`. Flags are applied by the caller afterwards.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        for (name, value) in env {
            config.apply_env(&name, &value)?;
        }
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    fn apply_env(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::Env {
            name: name.to_owned(),
            message,
        };
        match name {
            "ATTACH_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "ATTACH_LISTEN" => {
                self.listen = value
                    .parse()
                    .map_err(|e| bad(format!("{e} (expected e.g. 0.0.0.0:8080)")))?
            }
            "ATTACH_LOG_FORMAT" => {
                self.log_format = match value {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    other => return Err(bad(format!("{other:?} is not \"text\" or \"json\""))),
                }
            }
            "ATTACH_SESSION_IDLE_MINUTES" => {
                self.session_idle_minutes = parse_number(value).map_err(bad)?
            }
            "ATTACH_MAX_BODY_BYTES" => self.max_body_bytes = parse_number(value).map_err(bad)?,
            "ATTACH_STORE_CACHE_MIB" => self.store_cache_mib = parse_number(value).map_err(bad)?,
            "ATTACH_SECURE_COOKIES" => self.secure_cookies = parse_bool(value).map_err(bad)?,
            "ATTACH_SYNC_LISTEN" => {
                self.sync_listen = value
                    .parse()
                    .map_err(|e| bad(format!("{e} (expected e.g. 0.0.0.0:7443)")))?
            }
            "ATTACH_SYNC_RETRY_MAX_SECS" => {
                self.sync_retry_max_secs = parse_number(value).map_err(bad)?
            }
            "ATTACH_ADMIN_LISTEN" => {
                self.admin_listen = value
                    .parse()
                    .map_err(|e| bad(format!("{e} (expected e.g. 127.0.0.1:9180)")))?
            }
            "ATTACH_HUB_WEB_LISTEN" => {
                self.hub_web_listen = value
                    .parse()
                    .map_err(|e| bad(format!("{e} (expected e.g. 0.0.0.0:8091)")))?
            }
            "ATTACH_LAN_DISCOVERY" => self.lan_discovery = parse_bool(value).map_err(bad)?,
            "ATTACH_MATCHING_TIME_ZONE" => self.matching.time_zone = value.trim().to_owned(),
            "ATTACH_MATCHING_OFFER_DAYS" => {
                self.matching.offer_days = parse_number(value).map_err(bad)?
            }
            // Variables read elsewhere (the config file path itself, log filter).
            "ATTACH_CONFIG" | "ATTACH_LOG" => {}
            other if other.starts_with("ATTACH_") => {
                return Err(bad("not a setting Attach knows".to_owned()));
            }
            _ => {}
        }
        Ok(())
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(format!("{other:?} is not true or false")),
    }
}

fn parse_number<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn example_config_parses_and_matches_defaults_where_uncommented() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/attach.example.toml");
        let config = Config::from_file(&path).expect("example config parses");
        assert_eq!(config.listen, SocketAddr::from(([0, 0, 0, 0], 8080)));
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_NODE_DIR));
        assert_eq!(
            config.admin_listen,
            SocketAddr::from(([127, 0, 0, 1], 9180))
        );
        assert_eq!(
            config.hub_web_listen,
            SocketAddr::from(([127, 0, 0, 1], 8091))
        );
    }

    #[test]
    fn matching_rules_are_configuration_checked_at_start() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/attach.example.toml");
        let example = Config::from_file(&path).expect("example config parses");
        assert_eq!(example.matching, MatchingSettings::default());

        let config: Config = toml::from_str(
            r#"
            [matching]
            offer_days = 7
            [[matching.tiers]]
            name = "Urgent"
            factors = ["pregnancy", "palliative"]
            [[matching.tiers]]
            name = "Everyone else"
            [matching.catchments]
            Smithers = ["Telkwa"]
            [matching.health_authorities]
            "North" = ["Smithers", "Telkwa"]
            "#,
        )
        .expect("valid");
        let rules = crate::MatchingConfig::from_settings(&config.matching).expect("valid");
        // The table replaces the default whole; communities are compared folded.
        assert_eq!(rules.health_authority_of.len(), 2);
        assert_eq!(rules.health_authority_of["telkwa"], "North");
        assert_eq!(
            crate::MatchingConfig::default().health_authority_of["prince george"],
            "Northern Health"
        );
        assert_eq!(rules.offer_days, 7);
        assert_eq!(rules.rules.tiers.len(), 2);
        assert_eq!(rules.rules.tiers[1].name, "Everyone else");
        assert_eq!(rules.catchments["smithers"], vec!["Telkwa".to_owned()]);

        let err = toml::from_str::<Config>(
            "[matching]
[[matching.tiers]]
name = \"x\"
factors = [\"flu\"]
",
        )
        .unwrap_err();
        assert!(err.to_string().contains("flu"), "{err}");
        let refused = |settings: MatchingSettings, field: &str| {
            let err = crate::MatchingConfig::from_settings(&settings).unwrap_err();
            assert!(format!("{err:?}").contains(field), "{field}: {err:?}");
        };
        refused(
            MatchingSettings {
                time_zone: "Mars/Olympus".into(),
                ..MatchingSettings::default()
            },
            "matching.time_zone",
        );
        refused(
            MatchingSettings {
                offer_days: 0,
                ..MatchingSettings::default()
            },
            "matching.offer_days",
        );
        let mut both = MatchingSettings::default();
        both.health_authorities
            .get_mut("Interior Health")
            .expect("shipped")
            .push("smithers ".into());
        refused(
            both,
            "listed under both Interior Health and Northern Health",
        );
        let mut twice = MatchingSettings::default();
        let again = twice.tiers[0].factors.clone();
        twice.tiers[1].factors.extend(again);
        refused(twice, "matching.tiers");
        refused(
            MatchingSettings {
                tiers: Vec::new(),
                ..MatchingSettings::default()
            },
            "matching.tiers",
        );
    }

    #[test]
    fn env_overrides_file_and_defaults() {
        let config = Config::load(
            None,
            env(&[
                ("ATTACH_LISTEN", "127.0.0.1:9000"),
                ("ATTACH_DATA_DIR", "/tmp/x"),
                ("PATH", "/bin"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn bad_env_names_the_variable() {
        let err = Config::load(None, env(&[("ATTACH_LISTEN", "nope")])).unwrap_err();
        assert!(err.to_string().contains("ATTACH_LISTEN"), "{err}");
        let err = Config::load(None, env(&[("ATTACH_LISTN", "x")])).unwrap_err();
        assert!(err.to_string().contains("ATTACH_LISTN"), "{err}");
        let err = Config::load(None, env(&[("ATTACH_MAX_BODY_BYTES", "lots")])).unwrap_err();
        assert!(err.to_string().contains("whole number"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let err = toml::from_str::<Config>("listen_addr = \"x\"").unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }
}
