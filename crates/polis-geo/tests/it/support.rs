//! Builders shared by the tests.

use polis_domain::geometry::destination;
use polis_domain::{Camera, CameraKind, CameraStatus, FieldOfView, Heading, Id, LatLon, RangeM, SiteGeometry};

pub fn id(s: &str) -> Id {
    Id::from_trusted(s)
}

pub fn ll(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon).unwrap()
}

/// Kazanlak's centre.
pub fn kazanlak() -> LatLon {
    ll(42.619, 25.393)
}

/// The point `dist` metres from `from` along bearing `bearing`.
pub fn at(from: LatLon, bearing: f64, dist: f64) -> LatLon {
    destination(from, bearing, dist)
}

#[allow(clippy::too_many_arguments)]
pub fn camera(
    name: &str,
    municipality: &str,
    position: LatLon,
    kind: CameraKind,
    heading: f64,
    fov: f64,
    range: f64,
) -> Camera {
    Camera {
        id: id(name),
        municipality: id(municipality),
        name: name.to_string(),
        name_en: String::new(),
        position,
        mount_height_m: 6.0,
        heading: Heading::new(heading).unwrap(),
        fov: FieldOfView::new(fov).unwrap(),
        range: RangeM::new("range_m", range).unwrap(),
        kind,
        stream: None,
        sub_stream: None,
        retention_days: 30,
        owner: None,
        status: CameraStatus::Active,
        demo: false,
        video: Default::default(),
    }
}

/// A fixed camera of municipality `m` looking along `heading` with a 60-degree view, 200 m.
pub fn fixed(name: &str, position: LatLon, heading: f64) -> Camera {
    camera(name, "m", position, CameraKind::Fixed, heading, 60.0, 200.0)
}

/// A square of side `side` metres whose south-west corner is `sw`.
pub fn square(sw: LatLon, side: f64) -> SiteGeometry {
    let se = at(sw, 90.0, side);
    let ne = at(se, 0.0, side);
    let nw = at(sw, 0.0, side);
    SiteGeometry::polygon(vec![sw, se, ne, nw]).unwrap()
}

pub fn ids(hits: &[polis_geo::Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.id.as_str()).collect()
}
