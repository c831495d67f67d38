//! The city registry: organisations (municipalities and agencies), key sites, cameras, sensors.

use crate::values::{FieldOfView, Heading, Id, LatLon, Priority, RangeM};
use polis_base::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares a closed, snake_case-named enum with `parse(field, s)` and `as_str()`.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses the snake_case name; the error names `field` and lists the allowed values.
            pub fn parse(field: &str, s: &str) -> Result<$name> {
                let t = s.trim().to_ascii_lowercase();
                match t.as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::invalid(field, format!(
                        "unknown value {:?}; expected one of: {}", s, [$($text),+].join(", ")))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// Whether an organisation is a municipality or an agency working with it.
    OrgKind { Municipality = "municipality", Agency = "agency" }
);

string_enum!(
    /// The kinds of agency a control center works with.
    AgencyKind {
        Police = "police",
        FireSafety = "fire_safety",
        Ambulance = "ambulance",
        CivilProtection = "civil_protection",
        MunicipalServices = "municipal_services",
    }
);

string_enum!(
    /// The four sectors the control center serves.
    Sector { Safety = "safety", Transport = "transport", Disaster = "disaster", Tourism = "tourism" }
);

string_enum!(
    /// Categories of key sites (zones and objects).
    SiteCategory {
        School = "school",
        Kindergarten = "kindergarten",
        Hospital = "hospital",
        Square = "square",
        Crossroads = "crossroads",
        BusStation = "bus_station",
        RailStation = "rail_station",
        Bridge = "bridge",
        RiverBank = "river_bank",
        Dam = "dam",
        Industrial = "industrial",
        Tourist = "tourist",
        MunicipalBuilding = "municipal_building",
        Park = "park",
        Market = "market",
        Stadium = "stadium",
        Other = "other",
    }
);

string_enum!(
    /// Camera kinds. A PTZ camera can turn: it sees its whole range circle.
    CameraKind { Fixed = "fixed", Ptz = "ptz", Anpr = "anpr", Thermal = "thermal" }
);

string_enum!(
    /// Lifecycle of a camera in the registry.
    CameraStatus { Active = "active", Planned = "planned", Offline = "offline", Decommissioned = "decommissioned" }
);

string_enum!(
    /// What a sensor measures.
    SensorKind {
        WaterLevel = "water_level",
        Rain = "rain",
        AirQuality = "air_quality",
        TrafficCount = "traffic_count",
        TrafficSpeed = "traffic_speed",
        Noise = "noise",
        Smoke = "smoke",
        Temperature = "temperature",
        Other = "other",
    }
);

/// A municipality, or an agency (police, fire, ...) attached to a municipality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organisation {
    pub id: Id,
    pub kind: OrgKind,
    pub name_bg: String,
    pub name_en: String,
    /// For an agency: the municipality it serves. For a municipality: itself.
    pub municipality: Id,
    pub agency_kind: Option<AgencyKind>,
    pub demo: bool,
}

/// Where a key site is: a point or a polygon (outer ring, not repeated first point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SiteGeometry {
    Point(LatLon),
    Polygon(Vec<LatLon>),
}

impl SiteGeometry {
    /// Validates a polygon ring: at least three distinct corners. A closing point equal to the
    /// first is dropped.
    pub fn polygon(mut ring: Vec<LatLon>) -> Result<SiteGeometry> {
        if ring.len() >= 2 && ring.first() == ring.last() {
            ring.pop();
        }
        if ring.len() < 3 {
            return Err(Error::invalid("geometry", "a polygon needs at least three corners"));
        }
        Ok(SiteGeometry::Polygon(ring))
    }

    /// The point a label or a distance is measured from: the point, or the polygon's vertex mean.
    pub fn anchor(&self) -> LatLon {
        match self {
            SiteGeometry::Point(p) => *p,
            SiteGeometry::Polygon(ring) => {
                let n = ring.len() as f64;
                let lat = ring.iter().map(|p| p.lat()).sum::<f64>() / n;
                let lon = ring.iter().map(|p| p.lon()).sum::<f64>() / n;
                LatLon::new(lat, lon).unwrap_or(ring[0])
            }
        }
    }
}

/// A key site: a zone or object the network should watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub id: Id,
    pub municipality: Id,
    pub name_bg: String,
    pub name_en: String,
    pub category: SiteCategory,
    pub sectors: Vec<Sector>,
    pub priority: Priority,
    pub geometry: SiteGeometry,
    pub demo: bool,
}

/// A secret string: never printed, never serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A stream address split into the part that may be shown and the credentials that may not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamUrl {
    /// The URL without user information, e.g. `rtsp://10.0.0.5:554/main`.
    pub url: String,
    #[serde(skip)]
    pub username: Option<String>,
    #[serde(skip)]
    pub password: Option<Secret>,
}

impl StreamUrl {
    /// Parses `rtsp://user:pass@host:port/path` (also `rtsps`, `http`, `https`), splitting off the
    /// credentials. Percent-escapes in the credentials are kept as written.
    pub fn parse(field: &str, s: &str) -> Result<StreamUrl> {
        let s = s.trim();
        let (scheme, rest) =
            s.split_once("://").ok_or_else(|| Error::invalid(field, "must be a URL like rtsp://host:554/path"))?;
        let scheme_lc = scheme.to_ascii_lowercase();
        if !matches!(scheme_lc.as_str(), "rtsp" | "rtsps" | "http" | "https" | "demo") {
            return Err(Error::invalid(
                field,
                "scheme must be rtsp, rtsps, http, https (or demo, a synthetic picture)",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
            return Err(Error::invalid(field, "the URL has no valid host"));
        }
        let (username, password) = match userinfo {
            None => (None, None),
            Some(ui) => match ui.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(Secret::new(p))),
                None => (Some(ui.to_string()), None),
            },
        };
        Ok(StreamUrl { url: format!("{scheme_lc}://{host}{path}"), username, password })
    }

    pub fn has_credentials(&self) -> bool {
        self.username.is_some() || self.password.is_some()
    }

    /// The full URL with credentials, for connecting to the camera only. Never log it.
    pub fn with_credentials(&self) -> Secret {
        match (&self.username, &self.password) {
            (None, None) => Secret::new(self.url.clone()),
            (u, p) => {
                let (scheme, rest) = self.url.split_once("://").unwrap_or(("rtsp", &self.url));
                let user = u.as_deref().unwrap_or("");
                match p {
                    Some(p) => Secret::new(format!("{scheme}://{user}:{}@{rest}", p.expose())),
                    None => Secret::new(format!("{scheme}://{user}@{rest}")),
                }
            }
        }
    }
}

/// Whether a camera's stream is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RecordingMode {
    /// Recorded only when someone asks (live view pulls the stream, nothing is kept).
    #[default]
    Off,
    /// Recorded all the time, kept for the camera's retention.
    Continuous,
    /// Recorded when an alarm or an incident happens where the camera sees, from a few seconds
    /// before (a pre-buffer kept in memory) to a few minutes after.
    Events,
}

impl RecordingMode {
    pub fn parse(field: &str, s: &str) -> Result<RecordingMode> {
        match s {
            "off" => Ok(RecordingMode::Off),
            "continuous" => Ok(RecordingMode::Continuous),
            "events" => Ok(RecordingMode::Events),
            _ => Err(Error::invalid(field, "must be off, continuous or events")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordingMode::Off => "off",
            RecordingMode::Continuous => "continuous",
            RecordingMode::Events => "events",
        }
    }
}

/// A privacy zone: a polygon in image coordinates, each vertex `(x, y)` a fraction of the
/// picture's width and height from its top-left corner, so it holds at any resolution.
pub type PrivacyZone = Vec<(f64, f64)>;

/// How a camera's video is handled.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CameraVideo {
    pub recording: RecordingMode,
    /// At most this many bytes of recordings are kept (the oldest go first); `None`: no budget
    /// but the days.
    pub retention_bytes: Option<u64>,
    /// Blacked out in snapshots.
    pub privacy_zones: Vec<PrivacyZone>,
}

impl CameraVideo {
    /// Every problem of the privacy zones, with the field named.
    pub fn check(&self) -> Vec<polis_base::FieldError> {
        let mut errs = Vec::new();
        if self.privacy_zones.len() > 32 {
            errs.push(polis_base::FieldError::new("privacy_zones", "at most 32 zones"));
        }
        for (i, z) in self.privacy_zones.iter().enumerate() {
            if !(3..=64).contains(&z.len()) {
                errs.push(polis_base::FieldError::new(format!("privacy_zones[{i}]"), "needs 3 to 64 points"));
            } else if z.iter().any(|(x, y)| !(0.0..=1.0).contains(x) || !(0.0..=1.0).contains(y)) {
                errs.push(polis_base::FieldError::new(
                    format!("privacy_zones[{i}]"),
                    "points are [x, y] fractions of the picture's width and height, from 0 to 1",
                ));
            }
        }
        errs
    }
}

/// Days a camera's recordings are kept when its `retention_days` is not given.
pub const DEFAULT_RETENTION_DAYS: u32 = 60;

/// A camera in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Camera {
    pub id: Id,
    pub municipality: Id,
    pub name: String,
    pub position: LatLon,
    pub mount_height_m: f64,
    pub heading: Heading,
    pub fov: FieldOfView,
    pub range: RangeM,
    pub kind: CameraKind,
    pub stream: Option<StreamUrl>,
    pub sub_stream: Option<StreamUrl>,
    /// Days recordings are kept ([`DEFAULT_RETENTION_DAYS`] unless given).
    pub retention_days: u32,
    /// The organisation that owns the camera (the municipality, or an agency, or a third party).
    pub owner: Option<Id>,
    pub status: CameraStatus,
    pub demo: bool,
    #[serde(default)]
    pub video: CameraVideo,
}

impl Camera {
    /// Checks the fields that are not covered by their types. Returns every problem.
    pub fn check(&self) -> Vec<polis_base::FieldError> {
        let mut errs = Vec::new();
        if self.name.trim().is_empty() || self.name.len() > 200 {
            errs.push(polis_base::FieldError::new("name", "must be 1 to 200 characters"));
        }
        if !self.mount_height_m.is_finite() || !(0.0..=500.0).contains(&self.mount_height_m) {
            errs.push(polis_base::FieldError::new("mount_height_m", "must be a number of metres in [0, 500]"));
        }
        if self.retention_days > 3650 {
            errs.push(polis_base::FieldError::new("retention_days", "must be at most 3650 days"));
        }
        errs.extend(self.video.check());
        errs
    }
}

/// A sensor in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sensor {
    pub id: Id,
    pub municipality: Id,
    pub name: String,
    pub kind: SensorKind,
    pub unit: String,
    pub position: LatLon,
    pub owner: Option<Id>,
    pub demo: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_url_splits_credentials() {
        let s = StreamUrl::parse("stream_url", "rtsp://admin:s3cret@10.0.0.5:554/Streaming/101").unwrap();
        assert_eq!(s.url, "rtsp://10.0.0.5:554/Streaming/101");
        assert_eq!(s.username.as_deref(), Some("admin"));
        assert_eq!(s.password.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(s.with_credentials().expose(), "rtsp://admin:s3cret@10.0.0.5:554/Streaming/101");
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn stream_url_rejects_other_schemes() {
        assert!(StreamUrl::parse("stream_url", "ftp://x/y").is_err());
        assert!(StreamUrl::parse("stream_url", "not a url").is_err());
    }

    #[test]
    fn unknown_category_lists_allowed_values() {
        let e = SiteCategory::parse("category", "spaceport").unwrap_err();
        assert_eq!(e.details[0].field, "category");
        assert!(e.message.contains("school"));
    }
}
