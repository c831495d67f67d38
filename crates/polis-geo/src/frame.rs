//! Cheap, conservative stand-ins for the geodesic: bounding boxes in degrees that surely hold a
//! geodesic circle, and a flat local frame whose error is bounded well enough to reject or rank
//! candidates before the exact (and about fifty times dearer) geodesic calls.

use polis_domain::geometry::plane_distance_to_ring;
use polis_domain::LatLon;
use rstar::AABB;

/// WGS84 semi-major axis, metres.
const WGS84_A: f64 = 6_378_137.0;
/// WGS84 flattening.
const WGS84_F: f64 = 1.0 / 298.257_223_563;
/// The smallest radius of curvature of WGS84 (the meridian's, at the equator): a (1 - e^2).
/// No geodesic of length `d` changes latitude by more than `d / MIN_RADIUS_M` radians.
const MIN_RADIUS_M: f64 = 6_335_439.327;
/// Mean Earth radius, the unit of the error model below.
const MEAN_RADIUS_M: f64 = 6_371_008.8;

/// Beyond this latitude the local frame is not used (meridians converge too fast).
const FAST_MAX_LAT: f64 = 80.0;
/// Beyond this distance the local frame is not used.
pub(crate) const FAST_MAX_DIST_M: f64 = 50_000.0;

/// A point as the R-tree sees it: `[lon, lat]` in degrees.
pub(crate) fn key(p: LatLon) -> [f64; 2] {
    [p.lon(), p.lat()]
}

/// A longitude difference brought into [-180, 180].
pub(crate) fn wrap_deg(d: f64) -> f64 {
    if d > 180.0 {
        d - 360.0
    } else if d < -180.0 {
        d + 360.0
    } else {
        d
    }
}

/// A box in degrees that holds every point within `radius_m` (geodesic) of `p`, with margin.
/// Near a pole or across the antimeridian it spans every longitude.
pub(crate) fn reach_box(p: LatLon, radius_m: f64) -> AABB<[f64; 2]> {
    let r = radius_m.max(0.0) * 1.02 + 1.0;
    let ang = r / MIN_RADIUS_M;
    let dlat = ang.to_degrees();
    let (lo, hi) = (p.lat() - dlat, p.lat() + dlat);
    let full = |lo: f64, hi: f64| AABB::from_corners([-180.0, lo.max(-90.0)], [180.0, hi.min(90.0)]);
    if lo <= -89.0 || hi >= 89.0 || ang >= 1.0 {
        return full(lo, hi);
    }
    // On a sphere a point at angular distance `ang` is at most asin(sin ang / cos lat) away in
    // longitude; taking the band's widest latitude and a margin covers the ellipsoid.
    let cos_band = lo.abs().max(hi.abs()).to_radians().cos();
    let s = ang.sin() / cos_band;
    if s >= 0.99 {
        return full(lo, hi);
    }
    let dlon = s.asin().to_degrees() * 1.02 + 1e-9;
    if p.lon() - dlon < -180.0 || p.lon() + dlon > 180.0 {
        return full(lo, hi);
    }
    AABB::from_corners([p.lon() - dlon, lo], [p.lon() + dlon, hi])
}

/// A flat frame at a reference point: offsets in metres east and north, from degree differences
/// scaled by the radii of curvature at the reference latitude.
///
/// For a point at true geodesic distance `d` and bearing `b` from the reference, the frame's
/// distance and bearing differ from `d` and `b` by at most [`LocalFrame::error`]`(d)` (relative,
/// and radians). The error is first order in `q = d / R`, growing with `tan(lat)` as meridians
/// converge: against Karney's algorithm over 2 million pairs (latitudes up to 80 degrees,
/// distances 1 mm to 50 km) the worst cases were 0.17 (distance) and 0.46 (bearing) times
/// `(1 + |tan lat|) q`; the bound takes 4 times that, plus a second-order term and a floor for
/// rounding. Outside that domain the frame is not `fast` and callers go to the geodesic
/// directly. A test sweeps the bound again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalFrame {
    pub lat: f64,
    pub lon: f64,
    /// Metres per degree of longitude, of latitude.
    pub kx: f64,
    pub ky: f64,
    tan: f64,
    pub fast: bool,
}

impl LocalFrame {
    pub fn at(p: LatLon) -> LocalFrame {
        let phi = p.lat().to_radians();
        let e2 = WGS84_F * (2.0 - WGS84_F);
        let s = phi.sin();
        let w2 = 1.0 - e2 * s * s;
        let w = w2.sqrt();
        let n = WGS84_A / w;
        let m = WGS84_A * (1.0 - e2) / (w2 * w);
        let rad = std::f64::consts::PI / 180.0;
        LocalFrame {
            lat: p.lat(),
            lon: p.lon(),
            kx: n * phi.cos() * rad,
            ky: m * rad,
            tan: phi.tan().abs(),
            fast: p.lat().abs() <= FAST_MAX_LAT,
        }
    }

    /// The offset of `q` in metres east and north.
    #[inline]
    pub fn offset(&self, q: LatLon) -> (f64, f64) {
        (wrap_deg(q.lon() - self.lon) * self.kx, (q.lat() - self.lat) * self.ky)
    }

    /// A bound on the frame's relative distance error and on its bearing error in radians, for
    /// points up to `d` metres away (`d` <= [`FAST_MAX_DIST_M`]). Increasing in `d`.
    pub fn error(&self, d: f64) -> f64 {
        let q = d / MEAN_RADIUS_M;
        4.0 * (1.0 + self.tan) * q + 40.0 * (1.0 + self.tan * self.tan) * q * q + 1e-6
    }

    /// A bound on the absolute distance error in metres for points up to `d` metres away.
    pub fn abs_error(&self, d: f64) -> f64 {
        self.error(d) * d + 1e-6
    }
}

/// A box in degrees around a polygon ring, padded so that it also holds the ring's edges as the
/// geodesic frames of [`polis_domain::geometry`] draw them (straight in a frame centred
/// elsewhere, hence slightly bowed in degrees). `None` for an empty ring.
pub(crate) fn ring_box(ring: &[LatLon]) -> Option<AABB<[f64; 2]>> {
    let first = ring.first()?;
    let (mut lo, mut hi) = (key(*first), key(*first));
    for p in ring {
        let k = key(*p);
        lo = [lo[0].min(k[0]), lo[1].min(k[1])];
        hi = [hi[0].max(k[0]), hi[1].max(k[1])];
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    // Bowing grows with the square of an edge's length; 5% plus a quadratic term in radians
    // covers it with a wide margin up to rings hundreds of kilometres across.
    let pad = 0.05 * span + 2.0 * span * span.to_radians() + 1e-6;
    let (lat_lo, lat_hi) = (lo[1] - pad, hi[1] + pad);
    let full_lon = hi[0] - lo[0] > 180.0 || lat_lo <= -89.0 || lat_hi >= 89.0;
    let cos_band = lat_lo.abs().max(lat_hi.abs()).to_radians().cos();
    let pad_lon = pad / cos_band;
    let (lon_lo, lon_hi) = (lo[0] - pad_lon, hi[0] + pad_lon);
    if full_lon || lon_lo < -180.0 || lon_hi > 180.0 {
        return Some(AABB::from_corners([-180.0, lat_lo.max(-90.0)], [180.0, lat_hi.min(90.0)]));
    }
    Some(AABB::from_corners([lon_lo, lat_lo], [lon_hi, lat_hi]))
}

/// A lower bound of the geodesic distance from the frame's reference point to a polygon ring
/// (as [`polis_domain::geometry::distance_to_ring_m`] measures it), from the ring drawn in the
/// flat frame. Each corner of the flat ring is within twice the frame's error of where the
/// geodesic frame puts it, and so is every point of its edges; hence the distance too.
/// 0 when the frame cannot be trusted that far.
pub(crate) fn ring_lower_bound(frame: &LocalFrame, ring: &[LatLon]) -> f64 {
    if !frame.fast {
        return 0.0;
    }
    let pts: Vec<(f64, f64)> = ring.iter().map(|p| frame.offset(*p)).collect();
    let far = pts.iter().map(|(x, y)| x.hypot(*y)).fold(0.0, f64::max);
    if far > 0.9 * FAST_MAX_DIST_M {
        return 0.0;
    }
    let shift = 2.5 * frame.abs_error(far * 1.1 + 1.0);
    (plane_distance_to_ring(&pts) - shift).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_domain::geometry::{angle_between, bearing_deg, destination, distance_m};

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).unwrap()
    }

    #[test]
    fn reach_box_holds_the_whole_circle() {
        for &(lat, lon) in &[(42.6, 25.4), (0.0, 0.0), (-33.9, 151.2), (70.0, -20.0), (85.0, 10.0), (-60.0, 179.99)] {
            for &r in &[0.0, 1.0, 250.0, 5_000.0, 100_000.0, 2_000_000.0] {
                let c = ll(lat, lon);
                let b = reach_box(c, r);
                for i in 0..72 {
                    let q = destination(c, i as f64 * 5.0, r);
                    let pt = key(q);
                    assert!(
                        b.lower()[0] <= pt[0]
                            && pt[0] <= b.upper()[0]
                            && b.lower()[1] <= pt[1]
                            && pt[1] <= b.upper()[1],
                        "{lat},{lon} r={r} bearing {}: {pt:?} outside {b:?}",
                        i * 5
                    );
                }
            }
        }
    }

    #[test]
    fn reach_box_spans_every_longitude_across_the_antimeridian_and_near_poles() {
        let b = reach_box(ll(10.0, 179.999), 1_000.0);
        assert_eq!((b.lower()[0], b.upper()[0]), (-180.0, 180.0));
        let b = reach_box(ll(89.95, 0.0), 10_000.0);
        assert_eq!((b.lower()[0], b.upper()[0]), (-180.0, 180.0));
        assert_eq!(b.upper()[1], 90.0);
    }

    /// A deterministic sweep of the frame against the geodesic, including the latitudes and
    /// distances at the edge of where it is used.
    #[test]
    fn local_frame_error_is_within_its_bound() {
        let mut rng = crate::synthetic::SplitMix::new(0x5eed);
        let mut next = move || rng.unit();
        for _ in 0..20_000 {
            let lat = (next() * 2.0 - 1.0) * FAST_MAX_LAT;
            let c = ll(lat, next() * 360.0 - 180.0);
            let d = 10f64.powf(next() * 7.0 - 2.3).min(FAST_MAX_DIST_M);
            let q = destination(c, next() * 360.0, d);
            let f = LocalFrame::at(c);
            assert!(f.fast);
            let (x, y) = f.offset(q);
            let exact = distance_m(c, q);
            let approx = x.hypot(y);
            assert!((approx - exact).abs() <= f.abs_error(exact), "distance at {c:?}, d={d}: {approx} vs {exact}");
            if exact >= 1.0 {
                let b = x.atan2(y).to_degrees();
                let err = angle_between(b, bearing_deg(c, q)).to_radians();
                assert!(err <= f.error(exact), "bearing at {c:?}, d={d}: {err} > {}", f.error(exact));
            }
        }
    }
}
