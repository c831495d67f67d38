//! Configuration in two stages: the raw file (TOML, unknown keys refused) merged with flags and
//! `POLIS_*` environment variables (flags win, then environment, then file, then defaults), then
//! resolved into a checked [`Config`]. Every key is documented in `docs/ref/config.md`.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub database_url: Option<String>,
    pub tile_url: Option<String>,
    pub tile_attribution: Option<String>,
    pub tiles: Option<PathBuf>,
    pub log_format: Option<String>,
    pub session_ttl_hours: Option<u32>,
    pub mqtt_url: Option<String>,
    pub metrics_token: Option<String>,
    pub nats_url: Option<String>,
    pub node_id: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub public_url: Option<String>,
    #[serde(default)]
    pub map: RawMap,
    #[serde(default)]
    pub retention: RawRetention,
    #[serde(default)]
    pub warnings: RawWarnings,
    #[serde(default)]
    pub video: RawVideo,
}

/// `[video]`: camera supervision (see docs/ref/config.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVideo {
    pub offline_alarm_seconds: Option<u32>,
    pub probe_interval_seconds: Option<u32>,
}

/// `[warnings]`: public warnings, the citizen portal and CAP in (see docs/ref/config.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWarnings {
    pub cap_sender: Option<String>,
    pub public_url: Option<String>,
    pub portal_rate_per_sec: Option<f64>,
    pub portal_burst: Option<f64>,
    pub portal_total_per_sec: Option<f64>,
    #[serde(default)]
    pub cap_feeds: Vec<RawFeed>,
}

/// `[[warnings.cap_feeds]]`: a feed of CAP messages to poll for a municipality.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeed {
    pub url: String,
    pub municipality: String,
    pub every_s: Option<u64>,
}

/// `[retention]`: how long sensor data is kept (see docs/ref/config.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub raw_days: Option<u32>,
    pub rollup_days: Option<u32>,
    #[serde(default)]
    pub raw_days_by_kind: std::collections::BTreeMap<String, u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMap {
    pub center_lat: Option<f64>,
    pub center_lon: Option<f64>,
    pub zoom: Option<u8>,
}

impl RawConfig {
    pub fn load(path: &Path) -> anyhow::Result<RawConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config {} is not valid", path.display()))
    }
}

/// Values given on the command line (or through their `POLIS_*` variables).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeFlags {
    /// Address to listen on.
    #[arg(long, env = "POLIS_LISTEN")]
    pub listen: Option<String>,
    /// Directory of the embedded database (SQLite) and other data.
    #[arg(long, env = "POLIS_DATA")]
    pub data: Option<PathBuf>,
    /// A PostgreSQL URL (postgres://...) instead of the embedded database.
    #[arg(long, env = "POLIS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// XYZ basemap tile URL template, e.g. https://tile.example.org/{z}/{x}/{y}.png. Without it
    /// the console draws the city's layers on a plain background (air-gapped).
    #[arg(long, env = "POLIS_TILE_URL")]
    pub tile_url: Option<String>,
    /// Attribution text shown with the tiles.
    #[arg(long, env = "POLIS_TILE_ATTRIBUTION")]
    pub tile_attribution: Option<String>,
    /// An offline basemap: a raster MBTiles file served by this server to the console (for an
    /// air-gapped control room; instead of --tile-url).
    #[arg(long, env = "POLIS_TILES")]
    pub tiles: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, env = "POLIS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "POLIS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "POLIS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The address agencies and citizens reach this server at (e.g. https://polis.example.bg),
    /// when it differs from the one operators use: share links and CAP messages name it.
    #[arg(long, env = "POLIS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// An MQTT broker to take sensor observations from (topic polis/<municipality>/sensors/<sensor>/obs).
    #[arg(long, env = "POLIS_MQTT_URL")]
    pub mqtt_url: Option<String>,
    /// A token Prometheus sends (Authorization: Bearer ...) to read /metrics; administrators'
    /// sessions work too.
    #[arg(long, env = "POLIS_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Requests per second each client address may make on the public portal (0: no limit).
    #[arg(long, env = "POLIS_PORTAL_RATE_PER_SEC")]
    pub portal_rate_per_sec: Option<f64>,
    /// Requests per second the public portal answers in all (0: no limit); beyond, requests
    /// wait their turn, so that a crowd cannot take the processor from the control room.
    #[arg(long, env = "POLIS_PORTAL_TOTAL_PER_SEC")]
    pub portal_total_per_sec: Option<f64>,
    /// NATS server(s) of a region (nats://HOST:PORT, several separated by commas): the live event
    /// bus becomes the region's JetStream stream, shared by every node.
    #[arg(long, env = "POLIS_NATS_URL")]
    pub nats_url: Option<String>,
    /// This node's name in a region (letters, digits, `-`); required with --nats-url.
    #[arg(long, env = "POLIS_NODE_ID")]
    pub node_id: Option<String>,
}

/// The resolved, checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub data: PathBuf,
    pub console: polis_http::ConsoleConfig,
    pub log_json: bool,
    pub session_ttl_hours: u32,
    pub mqtt: Option<polis_ingest::mqtt::MqttConfig>,
    pub retention: polis_core::retention::RetentionPolicy,
    /// The token for `/metrics` (never printed).
    pub metrics_token: Option<polis_domain::registry::Secret>,
    /// An offline basemap (MBTiles) the server serves at `/tiles/`.
    pub tiles: Option<PathBuf>,
    /// HTTPS: the certificate chain and key files, both or neither.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub warnings: polis_core::warnings::WarningConfig,
    pub portal: polis_http::public::PortalConfig,
    pub cap_feeds: Vec<polis_ingest::cap_feed::FeedConfig>,
    /// A pulled camera without a picture this long raises `camera-offline`.
    pub offline_alarm_after: std::time::Duration,
    /// How often a camera nobody records or watches is checked (None: never).
    pub probe_every: Option<std::time::Duration>,
    /// The region this node belongs to, if any.
    pub region: Option<Region>,
}

/// A node of a region: the NATS servers and the node's name.
#[derive(Debug, Clone)]
pub struct Region {
    pub nats_url: String,
    pub node_id: String,
    /// Copies of the region's streams: one per NATS server given, at most 3.
    pub replicas: usize,
}

impl Config {
    pub fn resolve(flags: ServeFlags, raw: RawConfig, default_data: &str) -> anyhow::Result<Config> {
        let listen_s = flags.listen.or(raw.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr =
            listen_s.parse().with_context(|| format!("listen: {listen_s:?} is not an address like 127.0.0.1:8080"))?;
        let data = flags.data.or(raw.data).unwrap_or_else(|| PathBuf::from(default_data));
        let database_url = match flags.database_url.or(raw.database_url) {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") || u.starts_with("sqlite:") => u,
            Some(_) => bail!("database_url: use postgres://... or sqlite://PATH"),
            None => format!("sqlite://{}", data.join("polis.db").display()),
        };
        let tiles = flags.tiles.or(raw.tiles);
        let tile_url = flags.tile_url.or(raw.tile_url).filter(|u| !u.trim().is_empty());
        if tiles.is_some() && tile_url.is_some() {
            bail!("tiles: give either an MBTiles file (tiles) or a tile server (tile_url), not both");
        }
        if let Some(u) = &tile_url {
            if !(u.contains("{z}") && u.contains("{x}") && u.contains("{y}")) {
                bail!("tile_url: must contain {{z}}, {{x}} and {{y}}");
            }
        }
        let log_json = match flags.log_format.or(raw.log_format).as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("log_format: {other:?} is neither text nor json"),
        };
        let center = (raw.map.center_lat.unwrap_or(42.619), raw.map.center_lon.unwrap_or(25.393));
        if polis_domain::LatLon::new(center.0, center.1).is_err() {
            bail!("map.center_lat/center_lon: not a valid position");
        }
        let zoom = raw.map.zoom.unwrap_or(14);
        if zoom > 20 {
            bail!("map.zoom: must be at most 20");
        }
        let session_ttl_hours = raw.session_ttl_hours.unwrap_or(12);
        if session_ttl_hours == 0 || session_ttl_hours > 24 * 30 {
            bail!("session_ttl_hours: must be from 1 to 720");
        }
        let mqtt = match flags.mqtt_url.or(raw.mqtt_url).filter(|u| !u.trim().is_empty()) {
            None => None,
            Some(u) => {
                Some(polis_ingest::mqtt::MqttConfig::from_url(&u).map_err(|e| anyhow::anyhow!("mqtt_url: {e}"))?)
            }
        };
        let retention = resolve_retention(raw.retention)?;
        let offline_alarm_after = match raw.video.offline_alarm_seconds {
            None => std::time::Duration::try_from(polis_core::video::DEFAULT_OFFLINE_ALARM_AFTER)?,
            Some(s @ 1..=3600) => std::time::Duration::from_secs(u64::from(s)),
            Some(_) => bail!("video.offline_alarm_seconds: must be from 1 to 3600"),
        };
        let probe_every = match raw.video.probe_interval_seconds {
            None => Some(polis_core::media::ProbeConfig::default().every),
            Some(0) => None,
            Some(s @ 2..=86_400) => Some(std::time::Duration::from_secs(u64::from(s))),
            Some(_) => bail!("video.probe_interval_seconds: must be 0 (never) or from 2 to 86400"),
        };
        let metrics_token = match flags.metrics_token.or(raw.metrics_token).filter(|t| !t.trim().is_empty()) {
            Some(t) if t.trim().len() < 16 => bail!("metrics_token: use at least 16 characters"),
            t => t.map(|t| polis_domain::registry::Secret::new(t.trim())),
        };
        let tls = match (flags.tls_cert.or(raw.tls_cert), flags.tls_key.or(raw.tls_key)) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => bail!("tls_key: --tls-cert needs --tls-key (the certificate's private key)"),
            (None, Some(_)) => bail!("tls_cert: --tls-key needs --tls-cert (the certificate chain)"),
        };
        let public_url = match flags.public_url.or(raw.public_url).filter(|u| !u.trim().is_empty()) {
            Some(u) if (u.starts_with("https://") || u.starts_with("http://")) && !u.contains(char::is_whitespace) => {
                Some(u.trim_end_matches('/').to_string())
            }
            Some(_) => bail!("public_url: must be an http:// or https:// address without spaces"),
            None => None,
        };
        let w = raw.warnings;
        if let Some(sender) = &w.cap_sender {
            if sender.is_empty() || sender.chars().any(|c| c.is_whitespace() || matches!(c, ',' | '<' | '&')) {
                bail!("warnings.cap_sender: must be non-empty, without spaces, commas, '<' or '&'");
            }
        }
        let mut portal = polis_http::public::PortalConfig::default();
        if let Some(r) = flags.portal_rate_per_sec.or(w.portal_rate_per_sec) {
            if !r.is_finite() || r < 0.0 {
                bail!("warnings.portal_rate_per_sec: must be 0 (no limit) or more");
            }
            portal.rate_per_sec = r;
        }
        if let Some(r) = flags.portal_total_per_sec.or(w.portal_total_per_sec) {
            if !r.is_finite() || r < 0.0 {
                bail!("warnings.portal_total_per_sec: must be 0 (no limit) or more");
            }
            portal.total_per_sec = r;
        }
        if let Some(b) = w.portal_burst {
            if !b.is_finite() || b < 1.0 {
                bail!("warnings.portal_burst: must be at least 1");
            }
            portal.burst = b;
        }
        let mut cap_feeds = Vec::new();
        for (i, f) in w.cap_feeds.into_iter().enumerate() {
            if !(f.url.starts_with("http://") || f.url.starts_with("https://")) {
                bail!("warnings.cap_feeds[{i}].url: must be an http:// or https:// URL");
            }
            let municipality = polis_domain::Id::parse("municipality", &f.municipality)
                .map_err(|e| anyhow::anyhow!("warnings.cap_feeds[{i}].municipality: {}", e.message))?;
            let every = f.every_s.unwrap_or(60);
            if !(5..=86_400).contains(&every) {
                bail!("warnings.cap_feeds[{i}].every_s: must be from 5 to 86400");
            }
            cap_feeds.push(polis_ingest::cap_feed::FeedConfig {
                url: f.url,
                municipality,
                every: std::time::Duration::from_secs(every),
            });
        }
        let warnings = polis_core::warnings::WarningConfig {
            sender: w.cap_sender,
            public_url: w.public_url.or(public_url.clone()),
        };
        let region = resolve_region(flags.nats_url.or(raw.nats_url), flags.node_id.or(raw.node_id))?;
        Ok(Config {
            region,
            metrics_token,
            tls,
            tiles,
            warnings,
            portal,
            cap_feeds,
            offline_alarm_after,
            probe_every,
            retention,
            mqtt,
            listen,
            database_url,
            data,
            console: polis_http::ConsoleConfig {
                tile_url,
                tile_attribution: flags.tile_attribution.or(raw.tile_attribution),
                center,
                zoom,
                public_url,
            },
            log_json,
            session_ttl_hours,
        })
    }
}

fn resolve_region(nats_url: Option<String>, node_id: Option<String>) -> anyhow::Result<Option<Region>> {
    let nats_url = nats_url.filter(|u| !u.trim().is_empty());
    let node_id = node_id.filter(|n| !n.trim().is_empty());
    match (nats_url, node_id) {
        (None, None) => Ok(None),
        (None, Some(_)) => bail!("node_id: only meaningful with nats_url (a region)"),
        (Some(_), None) => bail!("node_id: a node of a region needs a name (--node-id NAME)"),
        (Some(url), Some(node)) => {
            for u in url.split(',') {
                let u = u.trim();
                if !(u.starts_with("nats://") || u.starts_with("tls://")) || u.len() <= "nats://".len() {
                    bail!("nats_url: {u:?} is not like nats://HOST:PORT");
                }
            }
            if node.len() > 64 || !node.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                bail!("node_id: use up to 64 letters, digits, '-' or '_'");
            }
            let replicas = url.split(',').count().clamp(1, 3);
            Ok(Some(Region { nats_url: url, node_id: node, replicas }))
        }
    }
}

fn resolve_retention(raw: RawRetention) -> anyhow::Result<polis_core::retention::RetentionPolicy> {
    let mut p = polis_core::retention::RetentionPolicy::default();
    let days = |what: &str, d: u32| -> anyhow::Result<u32> {
        if d == 0 || d > 36_500 {
            bail!("{what}: must be from 1 to 36500 days");
        }
        Ok(d)
    };
    if let Some(d) = raw.raw_days {
        p.raw_days = days("retention.raw_days", d)?;
    }
    if let Some(d) = raw.rollup_days {
        p.rollup_days = days("retention.rollup_days", d)?;
    }
    for (kind, d) in raw.raw_days_by_kind {
        let k = polis_domain::SensorKind::parse("kind", &kind)
            .map_err(|e| anyhow::anyhow!("retention.raw_days_by_kind.{kind}: {}", e.message))?;
        p.raw_days_by_kind.insert(k, days(&format!("retention.raw_days_by_kind.{kind}"), d)?);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<RawConfig>("listen = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap_err();
        assert!(e.to_string().contains("listen_port"), "{e}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let raw: RawConfig = toml::from_str("listen = \"127.0.0.1:1\"\n[map]\nzoom = 12\n").unwrap();
        let flags = ServeFlags { listen: Some("127.0.0.1:2".into()), ..Default::default() };
        let c = Config::resolve(flags, raw, "data").unwrap();
        assert_eq!(c.listen.port(), 2);
        assert_eq!(c.console.zoom, 12);
        assert!(c.database_url.starts_with("sqlite://"));
    }

    #[test]
    fn retention_is_read_per_sensor_kind_and_checked() {
        let raw: RawConfig =
            toml::from_str("[retention]\nraw_days = 14\n[retention.raw_days_by_kind]\nwater_level = 365\n").unwrap();
        let c = Config::resolve(ServeFlags::default(), raw, "d").unwrap();
        assert_eq!(c.retention.raw_days_of(polis_domain::SensorKind::WaterLevel), 365);
        assert_eq!(c.retention.raw_days_of(polis_domain::SensorKind::Noise), 14);
        assert_eq!(c.retention.rollup_days, 730);
        let raw: RawConfig = toml::from_str("[retention.raw_days_by_kind]\nlava = 3\n").unwrap();
        let e = Config::resolve(ServeFlags::default(), raw, "d").unwrap_err();
        assert!(e.to_string().contains("retention.raw_days_by_kind.lava"), "{e}");
        let raw: RawConfig = toml::from_str("[retention]\nrollup_days = 0\n").unwrap();
        assert!(Config::resolve(ServeFlags::default(), raw, "d").is_err());
    }

    #[test]
    fn the_camera_offline_delay_is_read_and_checked() {
        let c = Config::resolve(ServeFlags::default(), RawConfig::default(), "d").unwrap();
        assert_eq!(c.offline_alarm_after, std::time::Duration::from_secs(8));
        let raw: RawConfig = toml::from_str("[video]\noffline_alarm_seconds = 20\n").unwrap();
        assert_eq!(Config::resolve(ServeFlags::default(), raw, "d").unwrap().offline_alarm_after.as_secs(), 20);
        let raw: RawConfig = toml::from_str("[video]\noffline_alarm_seconds = 0\n").unwrap();
        let e = Config::resolve(ServeFlags::default(), raw, "d").unwrap_err();
        assert!(e.to_string().contains("video.offline_alarm_seconds"), "{e}");
    }

    #[test]
    fn tls_needs_both_files_and_the_probe_interval_is_checked() {
        let raw: RawConfig = toml::from_str("tls_cert = \"c.pem\"\n").unwrap();
        let e = Config::resolve(ServeFlags::default(), raw, "d").unwrap_err();
        assert!(e.to_string().contains("tls_key"), "{e}");
        let flags = ServeFlags { tls_key: Some("k.pem".into()), ..Default::default() };
        let e = Config::resolve(flags, RawConfig::default(), "d").unwrap_err();
        assert!(e.to_string().contains("tls_cert"), "{e}");
        let raw: RawConfig = toml::from_str("tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n").unwrap();
        let c = Config::resolve(ServeFlags::default(), raw, "d").unwrap();
        assert_eq!(c.tls, Some(("c.pem".into(), "k.pem".into())));
        assert_eq!(Config::resolve(ServeFlags::default(), RawConfig::default(), "d").unwrap().tls, None);
        let raw: RawConfig =
            toml::from_str("tiles = \"t.mbtiles\"\ntile_url = \"https://t/{z}/{x}/{y}.png\"\n").unwrap();
        let e = Config::resolve(ServeFlags::default(), raw, "d").unwrap_err();
        assert!(e.to_string().contains("tiles"), "{e}");
        let raw: RawConfig = toml::from_str("[video]\nprobe_interval_seconds = 0\n").unwrap();
        assert_eq!(Config::resolve(ServeFlags::default(), raw, "d").unwrap().probe_every, None);
        let raw: RawConfig = toml::from_str("[video]\nprobe_interval_seconds = 1\n").unwrap();
        let e = Config::resolve(ServeFlags::default(), raw, "d").unwrap_err();
        assert!(e.to_string().contains("video.probe_interval_seconds"), "{e}");
    }

    #[test]
    fn a_tile_url_without_placeholders_is_refused() {
        let flags = ServeFlags { tile_url: Some("https://x/tiles.png".into()), ..Default::default() };
        assert!(Config::resolve(flags, RawConfig::default(), "d").is_err());
    }
}
