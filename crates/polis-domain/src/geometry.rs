//! The geometry of a camera's view on the WGS84 ellipsoid: geodesic distance and bearing
//! (Karney's algorithm, through the `geo` crate), and whether a camera sees a point.

use crate::registry::{Camera, CameraKind};
use crate::values::LatLon;
use geo::{Bearing, Destination, Distance, Geodesic, Point};

/// Mean Earth radius (IUGG), for quick bounding-box estimates only.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

fn pt(p: LatLon) -> Point<f64> {
    Point::new(p.lon(), p.lat())
}

/// Geodesic distance in metres between two positions on WGS84.
pub fn distance_m(a: LatLon, b: LatLon) -> f64 {
    Geodesic::distance(pt(a), pt(b))
}

/// Initial geodesic bearing from `a` to `b`, in degrees [0, 360).
pub fn bearing_deg(a: LatLon, b: LatLon) -> f64 {
    Geodesic::bearing(pt(a), pt(b)).rem_euclid(360.0)
}

/// The point reached from `a` going `dist_m` metres along the geodesic with initial `bearing`.
pub fn destination(a: LatLon, bearing: f64, dist_m: f64) -> LatLon {
    let p = Geodesic::destination(pt(a), bearing, dist_m);
    LatLon::new(p.y().clamp(-90.0, 90.0), wrap_lon(p.x())).unwrap_or(a)
}

fn wrap_lon(lon: f64) -> f64 {
    let l = (lon + 180.0).rem_euclid(360.0) - 180.0;
    if l == -180.0 && lon > 0.0 {
        180.0
    } else {
        l
    }
}

/// The smallest absolute angle between two bearings, in degrees [0, 180].
pub fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Whether `camera` sees `p`: within its range and, for a camera that cannot turn, within its
/// horizontal field of view around its heading. A PTZ camera sees its whole range circle.
/// Returns the geodesic distance when it does. A point at the camera's own position is seen.
pub fn sees_point(camera: &Camera, p: LatLon) -> Option<f64> {
    sees(camera.position, camera.heading.deg(), camera.fov.deg(), camera.range.m(), camera.kind, p)
}

/// [`sees_point`] on plain numbers, for indexes that keep a compact copy of the camera.
pub fn sees(pos: LatLon, heading: f64, fov: f64, range: f64, kind: CameraKind, p: LatLon) -> Option<f64> {
    let d = distance_m(pos, p);
    if d > range {
        return None;
    }
    if kind == CameraKind::Ptz || fov >= 360.0 || d < 1e-6 {
        return Some(d);
    }
    let b = bearing_deg(pos, p);
    if angle_between(b, heading) <= fov / 2.0 + 1e-9 {
        Some(d)
    } else {
        None
    }
}

/// The outline of what a camera sees, as a closed ring (first point repeated last) for drawing
/// and intersection: a circle for PTZ or 360-degree cameras, a sector otherwise. `steps` is the
/// number of arc segments.
pub fn view_sector(camera: &Camera, steps: usize) -> Vec<LatLon> {
    let steps = steps.max(4);
    let r = camera.range.m();
    let full = camera.kind == CameraKind::Ptz || camera.fov.deg() >= 360.0;
    let mut ring = Vec::with_capacity(steps + 3);
    if full {
        for i in 0..=steps {
            ring.push(destination(camera.position, 360.0 * i as f64 / steps as f64, r));
        }
        return ring;
    }
    let start = camera.heading.deg() - camera.fov.deg() / 2.0;
    ring.push(camera.position);
    for i in 0..=steps {
        ring.push(destination(camera.position, start + camera.fov.deg() * i as f64 / steps as f64, r));
    }
    ring.push(camera.position);
    ring
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::CameraStatus;
    use crate::values::{FieldOfView, Heading, Id, RangeM};

    fn cam(kind: CameraKind, heading: f64, fov: f64, range: f64) -> Camera {
        Camera {
            id: Id::from_trusted("c"),
            municipality: Id::from_trusted("m"),
            name: "c".into(),
            position: LatLon::new(42.619, 25.393).unwrap(),
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
        }
    }

    #[test]
    fn a_degree_of_latitude_is_about_111_km() {
        let d = distance_m(LatLon::new(42.0, 25.0).unwrap(), LatLon::new(43.0, 25.0).unwrap());
        assert!((d - 111_100.0).abs() < 300.0, "{d}");
    }

    #[test]
    fn fixed_camera_sees_ahead_not_behind() {
        let c = cam(CameraKind::Fixed, 90.0, 60.0, 200.0);
        let east = destination(c.position, 90.0, 100.0);
        let west = destination(c.position, 270.0, 100.0);
        let far_east = destination(c.position, 90.0, 300.0);
        assert!(sees_point(&c, east).is_some());
        assert!(sees_point(&c, west).is_none());
        assert!(sees_point(&c, far_east).is_none());
    }

    #[test]
    fn ptz_sees_all_around() {
        let c = cam(CameraKind::Ptz, 90.0, 60.0, 200.0);
        assert!(sees_point(&c, destination(c.position, 270.0, 150.0)).is_some());
    }

    #[test]
    fn heading_wraps_across_north() {
        let c = cam(CameraKind::Fixed, 350.0, 40.0, 200.0);
        assert!(sees_point(&c, destination(c.position, 5.0, 50.0)).is_some());
        assert!(sees_point(&c, destination(c.position, 20.0, 50.0)).is_none());
    }
}
