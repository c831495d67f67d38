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

/// A stream address split into the part that may be shown and the credentials that may not:
/// user information (`rtsp://user:pass@host/...`, also with `/`, `?` or `#` in the password) and
/// query parameters that carry credentials (`?user=admin&password=...`, `token=`, `auth=`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamUrl {
    /// The URL without credentials, e.g. `rtsp://10.0.0.5:554/main?channel=1`.
    pub url: String,
    #[serde(skip)]
    pub username: Option<String>,
    #[serde(skip)]
    pub password: Option<Secret>,
    /// The query parameters that carry credentials, as written (`user=admin&password=...`).
    #[serde(skip)]
    pub secret_query: Option<Secret>,
}

/// Whether a query parameter of this name carries a credential: the usual names, and any name
/// that contains one of the usual words (`camPassword`, `X-Auth-Token`).
pub fn is_credential_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const EXACT: &[&str] = &["user", "username", "usr", "login", "uid", "u", "p", "pw", "account", "sid", "sig"];
    const PARTS: &[&str] =
        &["pass", "pwd", "token", "secret", "auth", "key", "signature", "session", "cred", "user", "login"];
    EXACT.contains(&n.as_str()) || PARTS.iter().any(|w| n.contains(w))
}

/// Splits a query string (`a=1&b=2`) into the public parameters and the credential ones.
fn split_query(q: &str) -> (Vec<&str>, Vec<&str>) {
    let (mut public, mut secret) = (Vec::new(), Vec::new());
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        let name = name.replace("%5F", "_").replace("%5f", "_");
        if is_credential_param(&name) {
            secret.push(pair);
        } else {
            public.push(pair);
        }
    }
    (public, secret)
}

/// Whether `s` looks like a host with an optional port: letters, digits, `.`, `-`, `_`, `:`,
/// or an IPv6 literal in brackets.
fn looks_like_host(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'))
}

/// The end of the user information of `rest` (what follows `scheme://`), if any: the last `@`
/// before the first `/`, `?` or `#`; or, for a password with such a character in it, an `@`
/// further on that is followed by a host and preceded by `user:` (a colon not followed by a
/// port number).
fn userinfo_end(rest: &str) -> Option<usize> {
    let delim = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if let Some(at) = rest[..delim].rfind('@') {
        return Some(at);
    }
    let head = &rest[..delim];
    let (user, after_colon) = head.split_once(':')?;
    let port_like = !after_colon.is_empty() && after_colon.chars().all(|c| c.is_ascii_digit());
    let host_like = user.contains('.') || user.starts_with('[') || user.eq_ignore_ascii_case("localhost");
    if port_like && host_like {
        return None;
    }
    rest.char_indices().rev().filter(|&(_, c)| c == '@').map(|(i, _)| i).find(|&i| {
        let after = &rest[i + 1..];
        let host = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
        looks_like_host(host)
    })
}

impl StreamUrl {
    /// Parses `rtsp://user:pass@host:port/path?query` (also `rtsps`, `http`, `https`, `demo`),
    /// splitting off the credentials. Percent-escapes in the credentials are kept as written.
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
        let (userinfo, after) = match userinfo_end(rest) {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let host = &after[..host_end];
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(Error::invalid(field, "the URL has no valid host"));
        }
        let (username, password) = match userinfo {
            None => (None, None),
            Some(ui) => match ui.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(Secret::new(p))),
                None => (Some(ui.to_string()), None),
            },
        };
        Ok(StreamUrl::from_stored(format!("{scheme_lc}://{after}"), username, password))
    }

    /// A stream address as the store keeps it: the URL with its credential query parameters
    /// (see [`StreamUrl::stored`]), the user name and the password.
    pub fn from_stored(url: String, username: Option<String>, password: Option<Secret>) -> StreamUrl {
        let (base, fragment) = match url.find('#') {
            Some(i) => (&url[..i], &url[i..]),
            None => (url.as_str(), ""),
        };
        let Some((path, query)) = base.split_once('?') else {
            return StreamUrl { url, username, password, secret_query: None };
        };
        let (public, secret) = split_query(query);
        if secret.is_empty() {
            return StreamUrl { url, username, password, secret_query: None };
        }
        let shown = if public.is_empty() { path.to_string() } else { format!("{path}?{}", public.join("&")) };
        StreamUrl {
            url: format!("{shown}{fragment}"),
            username,
            password,
            secret_query: Some(Secret::new(secret.join("&"))),
        }
    }

    /// The URL with its credential query parameters but without user information: what the
    /// store keeps in its URL column, and what an RTSP client connects to (user and password
    /// travel separately). Never log it.
    pub fn stored(&self) -> Secret {
        match &self.secret_query {
            None => Secret::new(self.url.clone()),
            Some(q) => {
                let (base, fragment) = match self.url.find('#') {
                    Some(i) => (&self.url[..i], &self.url[i..]),
                    None => (self.url.as_str(), ""),
                };
                let sep = if base.contains('?') { '&' } else { '?' };
                Secret::new(format!("{base}{sep}{}{fragment}", q.expose()))
            }
        }
    }

    pub fn has_credentials(&self) -> bool {
        self.username.is_some() || self.password.is_some() || self.secret_query.is_some()
    }

    /// The full URL with credentials, for connecting to the camera only. Never log it.
    pub fn with_credentials(&self) -> Secret {
        let stored = self.stored();
        match (&self.username, &self.password) {
            (None, None) => stored,
            (u, p) => {
                let full = stored.expose();
                let (scheme, rest) = full.split_once("://").unwrap_or(("rtsp", full));
                let user = u.as_deref().unwrap_or("");
                match p {
                    Some(p) => Secret::new(format!("{scheme}://{user}:{}@{rest}", p.expose())),
                    None => Secret::new(format!("{scheme}://{user}@{rest}")),
                }
            }
        }
    }

    /// `text` (an error message of an RTSP client, say) with every credential of this address
    /// replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Some(q) = &self.secret_query {
            let stored = self.stored();
            out = out.replace(stored.expose(), &self.url);
            for pair in q.expose().split('&') {
                if let Some((_, v)) = pair.split_once('=').filter(|(_, v)| v.len() >= 2) {
                    out = out.replace(v, "***");
                }
            }
        }
        if let Some(p) = self.password.as_ref().filter(|p| p.expose().len() >= 2) {
            out = out.replace(p.expose(), "***");
        }
        out
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
    /// The name in the municipality's language (Bulgarian here), shown when no other fits.
    pub name: String,
    /// The name in English; empty when it has none (the console then shows `name`).
    #[serde(default)]
    pub name_en: String,
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
        if self.name_en.len() > 200 {
            errs.push(polis_base::FieldError::new("name_en", "must be at most 200 characters"));
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
    /// The name in the municipality's language (Bulgarian here).
    pub name: String,
    /// The name in English; empty when it has none.
    #[serde(default)]
    pub name_en: String,
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

    /// Issue 14: credentials in query parameters and odd characters in passwords never reach
    /// the shown URL, and the stream still gets them.
    #[test]
    fn stream_url_credentials_in_every_form_are_split_off() {
        let s = StreamUrl::parse("stream_url", "rtsp://10.0.0.5/live?user=admin&password=S3cret").unwrap();
        assert_eq!(s.url, "rtsp://10.0.0.5/live");
        assert_eq!(s.with_credentials().expose(), "rtsp://10.0.0.5/live?user=admin&password=S3cret");
        assert_eq!(StreamUrl::from_stored(s.stored().expose().to_string(), None, None), s);
        let s =
            StreamUrl::parse("stream_url", "rtsp://10.0.0.5:554/cam/realmonitor?channel=1&Pwd=x1y2&subtype=0").unwrap();
        assert_eq!(s.url, "rtsp://10.0.0.5:554/cam/realmonitor?channel=1&subtype=0");
        assert_eq!(s.stored().expose(), "rtsp://10.0.0.5:554/cam/realmonitor?channel=1&subtype=0&Pwd=x1y2");
        for (given, secret) in [
            ("rtsp://admin:pa/ss@10.0.0.5/live", "pa/ss"),
            ("rtsp://admin:pa?ss@10.0.0.5:554/live", "pa?ss"),
            ("rtsp://admin:12/34@cam-1/live", "12/34"),
            ("rtsp://admin:p#w@10.0.0.5/live", "p#w"),
            ("http://10.0.0.5/video.cgi?auth=YWRtaW46MTIzNDU=", "YWRtaW46MTIzNDU="),
            ("rtsp://10.0.0.5/live?access_token=abc.def&x=1", "abc.def"),
            ("rtsp://10.0.0.5/live?PASSWD=qwe&USERNAME=root", "qwe"),
        ] {
            let s = StreamUrl::parse("stream_url", given).unwrap();
            assert!(!s.url.contains(secret), "{given} shows {}", s.url);
            assert!(!format!("{s:?}").contains(secret));
            assert!(s.has_credentials(), "{given}");
            let full = s.with_credentials();
            assert!(full.expose().contains(secret), "{given}: {}", full.expose());
            let msg = format!("failed to connect to {}: 401", s.stored().expose());
            assert!(!s.redact(&msg).contains(secret), "{}", s.redact(&msg));
        }
        let plain = StreamUrl::parse("stream_url", "rtsp://10.0.0.5:554/Streaming/101?channel=2").unwrap();
        assert_eq!(plain.url, "rtsp://10.0.0.5:554/Streaming/101?channel=2");
        assert!(!plain.has_credentials());
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
