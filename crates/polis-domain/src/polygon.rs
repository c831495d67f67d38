//! Flat polygons: the one implementation of point-in-polygon, segment crossing and the
//! self-intersection check, on the `geo` crate's predicates. Coordinates are planar: degrees
//! (x = longitude, y = latitude) as a web map draws them at city scale, or metres in a local frame.
//!
//! Every polygon that comes from outside is checked with [`check_ring`]: the corner count first
//! (before any work), then a sweep-line test for crossing edges that takes O(n log n) time, so a
//! caller cannot make the server spend quadratic time on one request.

use crate::values::LatLon;
use geo::kernels::{Kernel, RobustKernel};
use geo::{Coord, CoordinatePosition, LineString, Orientation, Polygon};
use polis_base::{Error, Result};
use std::cmp::Ordering;

/// The most corners of any polygon taken from outside (drawn areas, zones, site outlines).
pub const MAX_CORNERS: usize = 10_000;

/// Whether the segments `a`-`b` and `c`-`d` cross at one point inside both (touching at an
/// end, or lying along each other, is not crossing).
/// Robust orientation predicates (`geo`'s kernel), as `geo::line_intersection` uses them.
pub fn segments_cross(a: (f64, f64), b: (f64, f64), c: (f64, f64), d: (f64, f64)) -> bool {
    let o = |p: (f64, f64), q: (f64, f64), r: (f64, f64)| {
        RobustKernel::orient2d(Coord { x: p.0, y: p.1 }, Coord { x: q.0, y: q.1 }, Coord { x: r.0, y: r.1 })
    };
    let opposite = |x: Orientation, y: Orientation| {
        matches!(
            (x, y),
            (Orientation::Clockwise, Orientation::CounterClockwise)
                | (Orientation::CounterClockwise, Orientation::Clockwise)
        )
    };
    opposite(o(a, b, c), o(a, b, d)) && opposite(o(c, d, a), o(c, d, b))
}

/// A planar ring (first corner not repeated, or repeated: both work) ready for fast
/// point-in-polygon tests: the polygon and its bounding box.
#[derive(Debug, Clone)]
pub struct Ring {
    polygon: Polygon<f64>,
    min: (f64, f64),
    max: (f64, f64),
}

impl Ring {
    /// A ring of planar points.
    pub fn from_xy(pts: impl IntoIterator<Item = (f64, f64)>) -> Ring {
        let coords: Vec<Coord<f64>> = pts.into_iter().map(|(x, y)| Coord { x, y }).collect();
        let mut min = (f64::INFINITY, f64::INFINITY);
        let mut max = (f64::NEG_INFINITY, f64::NEG_INFINITY);
        for c in &coords {
            min = (min.0.min(c.x), min.1.min(c.y));
            max = (max.0.max(c.x), max.1.max(c.y));
        }
        Ring { polygon: Polygon::new(LineString::new(coords), Vec::new()), min, max }
    }

    /// A ring of positions, taken flat in degrees.
    pub fn from_latlon(ring: &[LatLon]) -> Ring {
        Ring::from_xy(ring.iter().map(|p| (p.lon(), p.lat())))
    }

    /// The polygon, for `geo` predicates between shapes.
    pub fn polygon(&self) -> &Polygon<f64> {
        &self.polygon
    }

    /// Whether the planar point is inside the ring or on its edge. A ring of fewer than three
    /// corners contains nothing.
    pub fn contains_xy(&self, x: f64, y: f64) -> bool {
        if self.polygon.exterior().0.len() < 4 || x < self.min.0 || x > self.max.0 || y < self.min.1 || y > self.max.1 {
            return false;
        }
        !matches!(self.polygon.coordinate_position(&Coord { x, y }), geo::coordinate_position::CoordPos::Outside)
    }

    /// Whether the position is inside the ring (taken flat in degrees) or on its edge.
    pub fn contains(&self, p: LatLon) -> bool {
        self.contains_xy(p.lon(), p.lat())
    }
}

/// Whether `p` is inside the ring of positions (flat in degrees) or on its edge.
pub fn contains(ring: &[LatLon], p: LatLon) -> bool {
    Ring::from_latlon(ring).contains(p)
}

/// Checks a polygon taken from outside: 3 to `max` corners (counted before anything else is
/// done with them; a closing corner equal to the first is not counted) and no two edges
/// crossing. Errors name `field`.
pub fn check_ring(field: &str, ring: &[LatLon], max: usize) -> Result<()> {
    let n = corner_count(ring);
    if n < 3 || n > max {
        return Err(Error::invalid(field, format!("must have 3 to {max} corners (has {n})")));
    }
    let pts: Vec<(f64, f64)> = ring[..n].iter().map(|p| (p.lon(), p.lat())).collect();
    match crossing_edges(&pts) {
        Some((i, j)) => Err(Error::invalid(field, format!("edges {i} and {j} cross: the polygon intersects itself"))),
        None => Ok(()),
    }
}

/// The corners of a ring, not counting a last corner that repeats the first.
pub fn corner_count(ring: &[LatLon]) -> usize {
    match ring {
        [first, .., last] if ring.len() > 1 && first == last => ring.len() - 1,
        _ => ring.len(),
    }
}

/// Whether two edges of the closed planar ring cross (see [`crossing_edges`]).
pub fn self_intersects(pts: &[(f64, f64)]) -> bool {
    crossing_edges(pts).is_some()
}

/// One edge of the ring for the sweep: its index and its ends, left (smaller x, then y) first.
#[derive(Debug, Clone, Copy)]
struct Edge {
    i: usize,
    l: (f64, f64),
    r: (f64, f64),
}

fn orient(a: (f64, f64), b: (f64, f64), p: (f64, f64)) -> Orientation {
    RobustKernel::orient2d(Coord { x: a.0, y: a.1 }, Coord { x: b.0, y: b.1 }, Coord { x: p.0, y: p.1 })
}

fn lex(a: (f64, f64), b: (f64, f64)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))
}

/// Where the active edge `k` lies on the sweep line relative to the edge `e` entering at its
/// left end `p`: `Less` when `k` is below. The sweep visits points by x, then y, so a vertical
/// edge is met where the sweep is now (its span clamped), and an edge that starts on it lies
/// below it. Exact (robust orientation): a corner a hair off an edge is on the side it really
/// is. Ties go by the side of `e`'s right end, then by index.
fn below(k: &Edge, e: &Edge) -> Ordering {
    let e_vertical = e.l.0 == e.r.0;
    if k.l.0 == k.r.0 {
        let p = e.l.1;
        return if p > k.r.1 {
            Ordering::Less
        } else if p < k.l.1 {
            Ordering::Greater
        } else if e_vertical {
            k.i.cmp(&e.i)
        } else {
            Ordering::Greater
        };
    }
    let side = |p: (f64, f64)| match orient(k.l, k.r, p) {
        Orientation::CounterClockwise => Ordering::Less,
        Orientation::Clockwise => Ordering::Greater,
        Orientation::Collinear => Ordering::Equal,
    };
    side(e.l).then_with(|| side(e.r)).then(k.i.cmp(&e.i))
}

/// Two edges of a closed ring of `pts` that cross (at a point inside both; neighbouring edges
/// share a corner and are not compared), found by a sweep line (Shamos and Hoey) in
/// O(n log n): edges enter the ordered set of edges the sweep line meets at their left end and
/// leave at their right end, and only edges that become neighbours in that order are tested.
/// Edge `i` runs from corner `i` to corner `i + 1` (the last one back to corner 0).
pub fn crossing_edges(pts: &[(f64, f64)]) -> Option<(usize, usize)> {
    let n = pts.len();
    if n < 4 {
        return None;
    }
    let edges: Vec<Edge> = (0..n)
        .map(|i| {
            let (a, b) = (pts[i], pts[(i + 1) % n]);
            let (l, r) = if lex(a, b) == Ordering::Greater { (b, a) } else { (a, b) };
            Edge { i, l, r }
        })
        .collect();
    // Events: (point, leaving?, edge); at one point, leaving edges go first.
    let mut events: Vec<((f64, f64), bool, usize)> = Vec::with_capacity(2 * n);
    // An edge of no length (a repeated corner) crosses nothing.
    for e in edges.iter().filter(|e| e.l != e.r) {
        events.push((e.l, false, e.i));
        events.push((e.r, true, e.i));
    }
    events.sort_by(|a, b| lex(a.0, b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let adjacent = |i: usize, j: usize| i.abs_diff(j) == 1 || i.abs_diff(j) == n - 1;
    let cross = |i: usize, j: usize| -> Option<(usize, usize)> {
        if i == j || adjacent(i, j) {
            return None;
        }
        let (a, b) = (&edges[i], &edges[j]);
        segments_cross(a.l, a.r, b.l, b.r).then_some((i.min(j), i.max(j)))
    };
    let mut active: Vec<usize> = Vec::new();
    for (_, leaving, i) in events {
        let e = edges[i];
        if leaving {
            let Some(pos) = active.iter().position(|&k| k == i) else { continue };
            active.remove(pos);
            if pos > 0 && pos < active.len() {
                if let Some(hit) = cross(active[pos - 1], active[pos]) {
                    return Some(hit);
                }
            }
        } else {
            let pos = active.partition_point(|&k| below(&edges[k], &e) == Ordering::Less);
            active.insert(pos, i);
            if e.l.0 == e.r.0 {
                // A vertical edge: every edge that crosses it passes between its ends, above it
                // in this order; edges that only touch it may lie in between, so look past them.
                for &k in &active[pos + 1..] {
                    let ke = &edges[k];
                    let passes_below_top = ke.l.0 != ke.r.0 && orient(ke.l, ke.r, e.r) == Orientation::CounterClockwise;
                    if !passes_below_top {
                        break;
                    }
                    if let Some(hit) = cross(i, k) {
                        return Some(hit);
                    }
                }
            }
            if pos > 0 {
                if let Some(hit) = cross(active[pos - 1], i) {
                    return Some(hit);
                }
            }
            if pos + 1 < active.len() {
                if let Some(hit) = cross(i, active[pos + 1]) {
                    return Some(hit);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(pts: &[(f64, f64)]) -> bool {
        let n = pts.len();
        (0..n).any(|i| {
            (i + 1..n).any(|j| {
                let adjacent = j == i + 1 || (i == 0 && j == n - 1);
                !adjacent && segments_cross(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n])
            })
        })
    }

    #[test]
    fn a_bow_tie_crosses_a_square_does_not() {
        let square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
        assert_eq!(crossing_edges(&square), None);
        let bow = [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)];
        assert_eq!(crossing_edges(&bow), Some((0, 2)));
        // Vertical edges and a concave notch.
        let l = [(0.0, 0.0), (0.0, 2.0), (1.0, 2.0), (1.0, 1.0), (2.0, 1.0), (2.0, 0.0)];
        assert_eq!(crossing_edges(&l), None);
    }

    #[test]
    fn ring_contains_inside_and_edge_points_only() {
        let l = Ring::from_xy([(0.0, 0.0), (0.0, 2.0), (1.0, 2.0), (1.0, 1.0), (2.0, 1.0), (2.0, 0.0)]);
        assert!(l.contains_xy(0.5, 1.5) && l.contains_xy(1.5, 0.5) && l.contains_xy(0.0, 1.0));
        assert!(!l.contains_xy(1.5, 1.5) && !l.contains_xy(3.0, 0.5));
        assert!(!Ring::from_xy([(0.0, 0.0), (1.0, 1.0)]).contains_xy(0.5, 0.5));
    }

    #[test]
    fn corner_limits_are_checked_before_the_work() {
        let p = |x: f64, y: f64| LatLon::new(y, x).unwrap();
        let many: Vec<LatLon> = (0..20_000).map(|i| p(i as f64 * 1e-5, if i % 2 == 0 { 0.0 } else { 1.0 })).collect();
        let e = check_ring("area", &many, MAX_CORNERS).unwrap_err();
        assert!(e.details[0].message.contains("3 to 10000"), "{e}");
        assert!(check_ring("area", &[p(0.0, 0.0), p(1.0, 0.0)], 10).is_err());
        let closed = [p(0.0, 0.0), p(1.0, 0.0), p(1.0, 1.0), p(0.0, 0.0)];
        assert!(check_ring("area", &closed, 3).is_ok(), "the closing corner is not counted");
    }

    #[test]
    fn a_long_comb_is_checked_in_n_log_n() {
        // A comb of 5,000 teeth: every edge's box overlaps many others, none cross.
        let mut pts = Vec::new();
        for i in 0..2_500 {
            let x = i as f64 * 2.0;
            pts.extend([(x, 0.0), (x, 100.0), (x + 1.0, 100.0), (x + 1.0, 0.0)]);
        }
        pts.push((5_000.0, -1.0));
        pts.push((0.0, -1.0));
        assert_eq!(crossing_edges(&pts), None);
        let last = pts.len() - 1;
        pts[last] = (0.5, 50.0);
        assert!(crossing_edges(&pts).is_some());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// The sweep finds a crossing exactly when comparing every pair of edges does.
        #[test]
        fn the_sweep_agrees_with_every_pair(
            pts in proptest::collection::vec((0i32..12, 0i32..12), 3..12),
            scale in proptest::prop_oneof![proptest::strategy::Just(1.0f64), proptest::strategy::Just(0.37f64)],
        ) {
            let pts: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x as f64 * scale, y as f64 * scale)).collect();
            let got = crossing_edges(&pts);
            proptest::prop_assert_eq!(got.is_some(), brute(&pts), "{:?} {:?}", pts, got);
        }
    }
}
