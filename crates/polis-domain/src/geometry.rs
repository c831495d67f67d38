//! The geometry of a camera's view on the WGS84 ellipsoid: geodesic distance and bearing
//! (Karney's algorithm, through the `geo` crate), and whether a camera sees a point.

use crate::registry::{Camera, CameraKind, SiteGeometry};
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

/// A site ring seen from `center` in its azimuthal equidistant frame: each corner becomes
/// `(x, y)` metres east and north of `center` with `hypot(x, y)` its geodesic distance and
/// `atan2(x, y)` its geodesic bearing. Edges are taken as straight lines in this frame, which for
/// rings of city size is the geodesic edge to well under a millimetre.
fn ring_in_frame(center: LatLon, ring: &[LatLon]) -> Vec<(f64, f64)> {
    ring.iter()
        .map(|&v| {
            let d = distance_m(center, v);
            if d == 0.0 {
                return (0.0, 0.0);
            }
            let b = bearing_deg(center, v).to_radians();
            (d * b.sin(), d * b.cos())
        })
        .collect()
}

/// The ring's edges as pairs of corners, closing back to the first corner.
fn edges(pts: &[(f64, f64)]) -> impl Iterator<Item = ((f64, f64), (f64, f64))> + '_ {
    let n = pts.len();
    (0..n).map(move |i| (pts[i], pts[(i + 1) % n]))
}

/// Whether the origin is inside the planar ring or on its edge (at least three corners).
fn origin_inside(pts: &[(f64, f64)]) -> bool {
    crate::polygon::Ring::from_xy(pts.iter().copied()).contains_xy(0.0, 0.0)
}

/// The distance from the origin to the segment `a`-`b` in the plane.
fn origin_to_segment(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 { (-(a.0 * dx + a.1 * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
    (a.0 + t * dx).hypot(a.1 + t * dy)
}

/// The distance from the origin to the nearest point of a ring of planar points (closing back
/// to the first, edges straight): 0 inside or on it (even-odd rule), infinite for no points.
pub fn plane_distance_to_ring(pts: &[(f64, f64)]) -> f64 {
    match pts {
        [] => f64::INFINITY,
        [p] => p.0.hypot(p.1),
        _ if origin_inside(pts) => 0.0,
        _ => edges(pts).map(|(a, b)| origin_to_segment(a, b)).fold(f64::INFINITY, f64::min),
    }
}

/// Geodesic distance in metres from `p` to the nearest point of a polygon ring (first corner not
/// repeated), 0 when `p` is inside or on it. An empty ring is infinitely far.
pub fn distance_to_ring_m(p: LatLon, ring: &[LatLon]) -> f64 {
    plane_distance_to_ring(&ring_in_frame(p, ring))
}

/// Geodesic distance in metres from `p` to the nearest point of a site.
pub fn distance_to_site_m(p: LatLon, g: &SiteGeometry) -> f64 {
    match g {
        SiteGeometry::Point(q) => distance_m(p, *q),
        SiteGeometry::Polygon(ring) => distance_to_ring_m(p, ring),
    }
}

/// The compass bearing of a planar offset (x east, y north), in degrees [0, 360).
fn azimuth(x: f64, y: f64) -> f64 {
    x.atan2(y).to_degrees().rem_euclid(360.0)
}

/// Whether the segment `a`-`b` (which does not pass through the origin) meets the sector of
/// radius `range` spanning `width` degrees clockwise from bearing `start`.
fn segment_meets_sector(a: (f64, f64), b: (f64, f64), range: f64, start: f64, width: f64) -> bool {
    // The part of the segment inside the disc: |a + t (b - a)| <= range, t in [0, 1].
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let qa = dx * dx + dy * dy;
    let qb = 2.0 * (a.0 * dx + a.1 * dy);
    let qc = a.0 * a.0 + a.1 * a.1 - range * range;
    let (t0, t1) = if qa == 0.0 {
        if qc > 0.0 {
            return false;
        }
        (0.0, 0.0)
    } else {
        let disc = qb * qb - 4.0 * qa * qc;
        if disc < 0.0 {
            return false;
        }
        let root = disc.sqrt();
        let lo = ((-qb - root) / (2.0 * qa)).max(0.0);
        let hi = ((-qb + root) / (2.0 * qa)).min(1.0);
        if lo > hi {
            return false;
        }
        (lo, hi)
    };
    // Along a segment that misses the origin the bearing turns monotonically through less than
    // 180 degrees, so the clipped part covers one arc of bearings.
    let b0 = azimuth(a.0 + t0 * dx, a.1 + t0 * dy);
    let b1 = azimuth(a.0 + t1 * dx, a.1 + t1 * dy);
    let sweep = (b1 - b0 + 180.0).rem_euclid(360.0) - 180.0;
    let (arc_start, arc_width) = if sweep < 0.0 { (b1, -sweep) } else { (b0, sweep) };
    (arc_start - start).rem_euclid(360.0) <= width || (start - arc_start).rem_euclid(360.0) <= arc_width
}

/// Whether a camera (as plain numbers, like [`sees`]) sees any part of a polygon ring: the
/// polygon is within range and meets the view sector (the whole range circle for PTZ or
/// 360-degree cameras). A camera inside or on the polygon sees it. Returns the geodesic distance
/// from the camera to the nearest point of the polygon (0 inside) when it does.
pub fn sees_ring(pos: LatLon, heading: f64, fov: f64, range: f64, kind: CameraKind, ring: &[LatLon]) -> Option<f64> {
    let pts = ring_in_frame(pos, ring);
    let d = plane_distance_to_ring(&pts);
    if d > range {
        return None;
    }
    if kind == CameraKind::Ptz || fov >= 360.0 || d < 1e-6 {
        return Some(d);
    }
    // The same tolerance as `sees` on the sector's edges.
    let start = heading - fov / 2.0 - 1e-9;
    let width = fov + 2e-9;
    if pts.len() == 1 {
        let (x, y) = pts[0];
        let b = azimuth(x, y);
        return ((b - start).rem_euclid(360.0) <= width).then_some(d);
    }
    let seen = edges(&pts).any(|(a, b)| segment_meets_sector(a, b, range, start, width));
    seen.then_some(d)
}

/// Whether a camera sees any part of a site: [`sees`] for a point, [`sees_ring`] for a polygon.
pub fn sees_site(pos: LatLon, heading: f64, fov: f64, range: f64, kind: CameraKind, g: &SiteGeometry) -> Option<f64> {
    match g {
        SiteGeometry::Point(p) => sees(pos, heading, fov, range, kind, *p),
        SiteGeometry::Polygon(ring) => sees_ring(pos, heading, fov, range, kind, ring),
    }
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
            name_en: String::new(),
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
            video: Default::default(),
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

    /// A 100 m square whose west edge is 100 m east of the camera, from 50 m south to 50 m north.
    fn square_east_of(c: LatLon) -> Vec<LatLon> {
        let sw = destination(destination(c, 90.0, 100.0), 180.0, 50.0);
        let se = destination(sw, 90.0, 100.0);
        vec![sw, se, destination(se, 0.0, 100.0), destination(sw, 0.0, 100.0)]
    }

    #[test]
    fn distance_to_a_polygon_is_to_its_nearest_edge_and_zero_inside() {
        let c = LatLon::new(42.619, 25.393).unwrap();
        let ring = square_east_of(c);
        assert!((distance_to_ring_m(c, &ring) - 100.0).abs() < 0.01);
        assert_eq!(distance_to_ring_m(destination(c, 90.0, 150.0), &ring), 0.0);
        // Beyond a corner the nearest point is the corner.
        let corner = ring[0];
        let p = destination(corner, 225.0, 30.0);
        assert!((distance_to_ring_m(p, &ring) - 30.0).abs() < 0.01);
        assert_eq!(distance_to_site_m(p, &SiteGeometry::Point(corner)), distance_m(p, corner));
        assert!(distance_to_ring_m(c, &[]).is_infinite());
    }

    #[test]
    fn plane_distance_to_ring_handles_inside_outside_and_degenerate_rings() {
        let sq = [(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)];
        assert!((plane_distance_to_ring(&sq) - 2f64.sqrt()).abs() < 1e-12);
        let around = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];
        assert_eq!(plane_distance_to_ring(&around), 0.0);
        assert_eq!(plane_distance_to_ring(&[(3.0, 4.0)]), 5.0);
        assert_eq!(plane_distance_to_ring(&[(3.0, -4.0), (3.0, 4.0)]), 3.0);
    }

    #[test]
    fn a_camera_sees_a_polygon_its_view_meets() {
        let c = LatLon::new(42.619, 25.393).unwrap();
        let ring = square_east_of(c);
        let site = SiteGeometry::Polygon(ring.clone());
        let see = |kind, heading, fov, range| sees_site(c, heading, fov, range, kind, &site);
        let d = see(CameraKind::Fixed, 90.0, 40.0, 200.0).unwrap();
        assert!((d - 100.0).abs() < 0.01);
        assert!(see(CameraKind::Fixed, 270.0, 40.0, 200.0).is_none(), "looking away");
        assert!(see(CameraKind::Fixed, 90.0, 40.0, 90.0).is_none(), "out of range");
        assert!(see(CameraKind::Ptz, 270.0, 40.0, 150.0).is_some());
        assert!(see(CameraKind::Fixed, 270.0, 360.0, 150.0).is_some());
        // The square spans bearings of about 63 to 117 degrees from the camera (its west
        // corners); a view of 0-60 misses it, 0-70 meets it near its north-west corner.
        assert!(see(CameraKind::Fixed, 30.0, 60.0, 300.0).is_none());
        assert!(see(CameraKind::Fixed, 35.0, 70.0, 300.0).is_some());
        // A view of 110-120 meets the square only beyond about 106 m (along bearing 110), though
        // its nearest point is 100 m away: a range of 105 m misses it, 110 m sees it.
        assert!(see(CameraKind::Fixed, 115.0, 10.0, 105.0).is_none());
        let d = see(CameraKind::Fixed, 115.0, 10.0, 110.0).unwrap();
        assert!((d - 100.0).abs() < 0.01, "the distance is to the nearest point: {d}");
        // A camera inside the square sees it whatever its heading, at distance 0.
        let inside = destination(c, 90.0, 150.0);
        assert_eq!(sees_ring(inside, 0.0, 10.0, 20.0, CameraKind::Fixed, &ring), Some(0.0));
        // A point site is the same as `sees`.
        let p = destination(c, 90.0, 50.0);
        assert_eq!(
            sees_site(c, 90.0, 40.0, 200.0, CameraKind::Fixed, &SiteGeometry::Point(p)),
            sees(c, 90.0, 40.0, 200.0, CameraKind::Fixed, p)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever part of a polygon lies clearly inside a camera's view, `sees_ring` sees it:
        /// points sampled along the edges (in the camera's frame) are checked with `sees`.
        #[test]
        fn sees_ring_misses_nothing_that_sees_finds(
            lat in -70.0..70.0f64,
            heading in 0.0..360.0f64,
            fov in 1.0..360.0f64,
            range in 10.0..500.0f64,
            ptz in proptest::bool::ANY,
            corners in proptest::collection::vec((0.0..360.0f64, 0.0..600.0f64), 3..6),
        ) {
            let pos = LatLon::new(lat, 25.0).unwrap();
            let kind = if ptz { CameraKind::Ptz } else { CameraKind::Fixed };
            let ring: Vec<LatLon> = corners.iter().map(|(b, d)| destination(pos, *b, *d)).collect();
            let got = sees_ring(pos, heading, fov, range, kind, &ring);
            let pts = ring_in_frame(pos, &ring);
            for (a, b) in edges(&pts) {
                for i in 0..=20 {
                    let t = i as f64 / 20.0;
                    let (x, y) = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
                    let d = x.hypot(y);
                    let clearly_in = d <= range - 1e-3
                        && (ptz || fov >= 360.0 || angle_between(azimuth(x, y), heading) <= fov / 2.0 - 1e-6);
                    if clearly_in {
                        let p = destination(pos, azimuth(x, y), d);
                        proptest::prop_assert!(sees(pos, heading, fov, range, kind, p).is_some());
                        proptest::prop_assert!(got.is_some(), "missed a seen point {p:?} of {ring:?}");
                    }
                }
            }
            if let Some(d) = got {
                proptest::prop_assert!(d <= range);
                proptest::prop_assert_eq!(d, distance_to_ring_m(pos, &ring));
            }
        }
    }
}
