//! Small validated values. Each constructor returns a [`polis_base::Error`] naming the field.

use polis_base::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An identifier: 1-64 characters of `A-Z a-z 0-9 . _ -`, chosen by the importer or generated.
/// It is also safe as a file name: never `.`, `..` or anything starting with a dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(String);

impl TryFrom<String> for Id {
    type Error = Error;
    fn try_from(s: String) -> Result<Id> {
        Id::parse("id", &s)
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0
    }
}

impl Id {
    pub fn parse(field: &str, s: &str) -> Result<Id> {
        let s = s.trim();
        if s.is_empty() || s.len() > 64 {
            return Err(Error::invalid(field, "must be 1 to 64 characters"));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(Error::invalid(field, "may only contain letters, digits, '.', '_' and '-'"));
        }
        if s.starts_with('.') {
            // `.`, `..` and hidden names: an id names files and folders (recordings, exports).
            return Err(Error::invalid(field, "may not start with '.'"));
        }
        Ok(Id(s.to_string()))
    }
    /// Builds an id from trusted, already-valid text (generated ids, stored rows).
    pub fn from_trusted(s: impl Into<String>) -> Id {
        Id(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    lat: f64,
    lon: f64,
}

impl LatLon {
    pub fn new(lat: f64, lon: f64) -> Result<LatLon> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(Error::invalid("lat", "latitude must be a number in [-90, 90]"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(Error::invalid("lon", "longitude must be a number in [-180, 180]"));
        }
        Ok(LatLon { lat, lon })
    }
    pub fn lat(self) -> f64 {
        self.lat
    }
    pub fn lon(self) -> f64 {
        self.lon
    }
}

/// A compass bearing in degrees, normalised to [0, 360): 0 is north, 90 east.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Heading(f64);

impl Heading {
    pub fn new(deg: f64) -> Result<Heading> {
        if !deg.is_finite() || !(-360.0..=720.0).contains(&deg) {
            return Err(Error::invalid("heading_deg", "heading must be a number of degrees in [0, 360)"));
        }
        Ok(Heading(deg.rem_euclid(360.0)))
    }
    pub fn deg(self) -> f64 {
        self.0
    }
}

/// A horizontal field of view in degrees, in (0, 360].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldOfView(f64);

impl FieldOfView {
    pub fn new(deg: f64) -> Result<FieldOfView> {
        if !deg.is_finite() || deg <= 0.0 || deg > 360.0 {
            return Err(Error::invalid("fov_deg", "field of view must be in (0, 360] degrees"));
        }
        Ok(FieldOfView(deg))
    }
    pub fn deg(self) -> f64 {
        self.0
    }
}

/// A distance in metres, finite and not negative.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RangeM(f64);

impl RangeM {
    pub fn new(field: &str, m: f64) -> Result<RangeM> {
        if !m.is_finite() || m < 0.0 {
            return Err(Error::invalid(field, "must be a non-negative number of metres"));
        }
        if m > 100_000.0 {
            return Err(Error::invalid(field, "must be at most 100000 metres"));
        }
        Ok(RangeM(m))
    }
    pub fn m(self) -> f64 {
        self.0
    }
}

/// The priority of a key site: 1 (highest) to 5 (lowest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    pub fn new(p: i64) -> Result<Priority> {
        if !(1..=5).contains(&p) {
            return Err(Error::invalid("priority", "priority must be an integer from 1 (highest) to 5"));
        }
        Ok(Priority(p as u8))
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14: ids name files and folders, so none can climb out of one.
    #[test]
    fn ids_are_safe_as_file_names() {
        for bad in [".", "..", ".hidden", "a/b", "a\\b", "", "a b"] {
            assert!(Id::parse("id", bad).is_err(), "{bad:?} was accepted");
            assert!(serde_json::from_str::<Id>(&format!("{bad:?}")).is_err(), "{bad:?} deserialised");
        }
        for good in ["cam-1", "a.b", "x..y", "_1", "kazanlak"] {
            assert!(Id::parse("id", good).is_ok(), "{good:?} was refused");
        }
    }

    #[test]
    fn latlon_rejects_out_of_range_and_names_the_field() {
        let e = LatLon::new(91.0, 0.0).unwrap_err();
        assert_eq!(e.details[0].field, "lat");
        let e = LatLon::new(0.0, 181.0).unwrap_err();
        assert_eq!(e.details[0].field, "lon");
        assert!(LatLon::new(f64::NAN, 0.0).is_err());
        assert!(LatLon::new(42.6, 25.4).is_ok());
    }

    #[test]
    fn fov_is_open_at_zero_and_closed_at_360() {
        assert!(FieldOfView::new(0.0).is_err());
        assert!(FieldOfView::new(360.0).is_ok());
        assert!(FieldOfView::new(360.1).is_err());
    }

    #[test]
    fn heading_normalises() {
        assert_eq!(Heading::new(-90.0).unwrap().deg(), 270.0);
        assert_eq!(Heading::new(360.0).unwrap().deg(), 0.0);
    }

    #[test]
    fn ids_are_restricted() {
        assert!(Id::parse("id", "cam-001").is_ok());
        assert!(Id::parse("id", "cam 001").is_err());
        assert!(Id::parse("id", "").is_err());
    }

    #[test]
    fn negative_range_is_rejected() {
        assert!(RangeM::new("range_m", -1.0).is_err());
        assert!(RangeM::new("range_m", 0.0).is_ok());
    }
}
