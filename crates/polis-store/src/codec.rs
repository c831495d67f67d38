//! How domain values that have no SQL type of their own are written to a column and read back:
//! timestamps, site geometry, lists of sectors. Every encoding round-trips exactly.

use polis_domain::{LatLon, Sector, SiteGeometry};
use std::fmt::{self, Write as _};
use time::OffsetDateTime;

/// A column value that does not decode; the message says why (never the value of a secret: these
/// codecs only see timestamps, geometry and sector names).
#[derive(Debug)]
pub(crate) struct BadValue(pub(crate) String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadValue {}

/// Unix milliseconds (UTC). Sub-millisecond digits are dropped (rounding towards the past), so a
/// value with millisecond precision round-trips exactly.
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    // Every OffsetDateTime (years -9999..=9999) is within +-3.2e14 ms: the cast cannot truncate.
    t.unix_timestamp_nanos().div_euclid(1_000_000) as i64
}

pub(crate) fn from_ms(ms: i64) -> Result<OffsetDateTime, BadValue> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| BadValue(format!("timestamp {ms} ms is out of range")))
}

/// Site geometry as WKT in WGS84, longitude first: `POINT(lon lat)` or
/// `POLYGON((lon lat, ..., lon lat))` with the ring closed as WKT requires. Numbers are written
/// in Rust's shortest round-trip form, so they read back bit for bit; PostGIS and SpatiaLite can
/// read the column as it is (`ST_GeomFromText`).
pub(crate) fn geometry_to_wkt(g: &SiteGeometry) -> String {
    match g {
        SiteGeometry::Point(p) => format!("POINT({} {})", p.lon(), p.lat()),
        SiteGeometry::Polygon(ring) => {
            let mut s = String::with_capacity(16 + ring.len() * 40);
            s.push_str("POLYGON((");
            for (i, p) in ring.iter().chain(ring.first()).enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                // Writing to a String cannot fail.
                let _ = write!(s, "{} {}", p.lon(), p.lat());
            }
            s.push_str("))");
            s
        }
    }
}

pub(crate) fn geometry_from_wkt(s: &str) -> Result<SiteGeometry, BadValue> {
    let s = s.trim();
    let bad = |why: &str| BadValue(format!("geometry is not WKT POINT or POLYGON: {why}"));
    if let Some(inner) = s.strip_prefix("POINT(").and_then(|r| r.strip_suffix(')')) {
        return Ok(SiteGeometry::Point(lon_lat(inner)?));
    }
    if let Some(inner) = s.strip_prefix("POLYGON((").and_then(|r| r.strip_suffix("))")) {
        let ring = inner.split(',').map(lon_lat).collect::<Result<Vec<_>, _>>()?;
        if ring.len() < 2 || ring.first() != ring.last() {
            return Err(bad("the ring is not closed"));
        }
        return SiteGeometry::polygon(ring).map_err(|e| bad(&e.message));
    }
    Err(bad("unknown shape"))
}

fn lon_lat(s: &str) -> Result<LatLon, BadValue> {
    let mut it = s.split_whitespace().map(str::parse::<f64>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(lon)), Some(Ok(lat)), None) => LatLon::new(lat, lon).map_err(|e| BadValue(e.message)),
        _ => Err(BadValue(format!("{:?} is not a pair of numbers", s.trim()))),
    }
}

/// Sectors as a comma-separated list of their names, in the order given.
pub(crate) fn sectors_to_text(sectors: &[Sector]) -> String {
    sectors.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

pub(crate) fn sectors_from_text(s: &str) -> Result<Vec<Sector>, BadValue> {
    s.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| Sector::parse("sectors", t).map_err(|e| BadValue(e.message)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).expect("valid test position")
    }

    #[test]
    fn milliseconds_round_trip_and_sub_milliseconds_are_dropped() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_000_000).expect("in range");
        assert_eq!(from_ms(to_ms(t)).expect("in range"), t);
        let t2 = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_999_999).expect("in range");
        assert_eq!(from_ms(to_ms(t2)).expect("in range"), t);
        // Before 1970 the division rounds towards the past too.
        let old = OffsetDateTime::from_unix_timestamp_nanos(-1_500_000).expect("in range");
        assert_eq!(to_ms(old), -2);
        assert!(from_ms(i64::MAX).is_err());
    }

    #[test]
    fn geometry_round_trips_bit_for_bit() {
        // One ulp above 25.393: its shortest decimal form has 17 significant digits.
        let awkward = ll(42.619_123_456_789_01, f64::from_bits(25.393f64.to_bits() + 1));
        for g in [
            SiteGeometry::Point(awkward),
            SiteGeometry::Point(ll(-0.0, -180.0)),
            SiteGeometry::polygon(vec![ll(42.1, 25.1), ll(42.2, 25.1), awkward, ll(42.1, 25.3)]).expect("polygon"),
        ] {
            let wkt = geometry_to_wkt(&g);
            assert_eq!(geometry_from_wkt(&wkt).expect("parses"), g, "{wkt}");
        }
    }

    #[test]
    fn polygon_wkt_is_closed_and_lon_first() {
        let g = SiteGeometry::polygon(vec![ll(1.0, 10.0), ll(2.0, 10.0), ll(2.0, 11.0)]).expect("polygon");
        assert_eq!(geometry_to_wkt(&g), "POLYGON((10 1, 10 2, 11 2, 10 1))");
        assert_eq!(geometry_to_wkt(&SiteGeometry::Point(ll(42.5, 25.25))), "POINT(25.25 42.5)");
    }

    #[test]
    fn bad_geometry_is_an_error_not_a_panic() {
        for s in
            ["", "POINT()", "POINT(1)", "POINT(1 2 3)", "POINT(200 1)", "LINESTRING(1 2, 3 4)", "POLYGON((1 2, 3 4))"]
        {
            assert!(geometry_from_wkt(s).is_err(), "{s}");
        }
        // An open ring is refused: it was not written by this crate.
        assert!(geometry_from_wkt("POLYGON((10 1, 10 2, 11 2))").is_err());
    }

    #[test]
    fn sectors_round_trip_in_order() {
        let s = vec![Sector::Transport, Sector::Safety];
        assert_eq!(sectors_from_text(&sectors_to_text(&s)).expect("parses"), s);
        assert_eq!(sectors_from_text("").expect("parses"), vec![]);
        assert!(sectors_from_text("safety,space").is_err());
    }
}
