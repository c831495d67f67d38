//! Property tests: every query equals a brute-force scan over all items with the domain's
//! functions (same ids, same order, same distances), whatever the latitude, the kinds of camera,
//! the order of updates, and for query points placed right on the edges of views.

use crate::support::*;
use geo::{Coord, Intersects, LineString, Polygon};
use polis_domain::geometry::{destination, distance_m, distance_to_site_m, sees_point, sees_site};
use polis_domain::{Camera, CameraKind, Id, LatLon, SiteGeometry};
use polis_geo::{CameraIndex, Hit, PointIndex};
use proptest::prelude::*;
use proptest::sample::select;

const MUNICIPALITIES: [&str; 2] = ["m0", "m1"];

fn by_distance_then_id(mut hits: Vec<Hit>, limit: usize) -> Vec<Hit> {
    hits.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then_with(|| a.id.cmp(&b.id)));
    hits.truncate(limit);
    hits
}

fn in_scope(m: &Id, scope: Option<&Id>) -> bool {
    scope.is_none_or(|s| s == m)
}

/// Where the tests happen: anywhere on Earth, poles and antimeridian included.
fn center() -> impl Strategy<Value = LatLon> {
    prop_oneof![
        4 => (-70.0..70.0f64, -180.0..180.0f64),
        1 => (-89.5..89.5f64, -180.0..180.0f64),
        1 => (-60.0..60.0f64, prop_oneof![179.99..180.0f64, -180.0..-179.99f64]),
    ]
    .prop_map(|(lat, lon)| ll(lat, lon))
}

/// An offset from the centre: bearing and distance (sometimes exactly on it).
fn offset(max: f64) -> impl Strategy<Value = (f64, f64)> {
    (0.0..360.0f64, prop_oneof![1 => Just(0.0), 6 => 0.0..max])
}

#[derive(Debug, Clone)]
struct CamSpec {
    at: (f64, f64),
    kind: CameraKind,
    heading: f64,
    fov: f64,
    range: f64,
    municipality: usize,
}

fn cam_spec() -> impl Strategy<Value = CamSpec> {
    (
        offset(1_000.0),
        select(CameraKind::ALL.to_vec()),
        0.0..360.0f64,
        prop_oneof![6 => 1.0..359.0f64, 1 => Just(360.0), 1 => 0.01..2.0f64],
        prop_oneof![8 => 0.0..400.0f64, 1 => 0.0..100_000.0f64],
        0..2usize,
    )
        .prop_map(|(at, kind, heading, fov, range, municipality)| CamSpec {
            at,
            kind,
            heading,
            fov,
            range,
            municipality,
        })
}

fn build_camera(c: LatLon, i: usize, s: &CamSpec) -> Camera {
    let mut cam = camera(
        &format!("c{:03}", i % 40),
        MUNICIPALITIES[s.municipality],
        destination(c, s.at.0, s.at.1),
        s.kind,
        s.heading,
        s.fov,
        s.range,
    );
    // Some ids repeat (i % 40): later cameras replace earlier ones, as in the store.
    cam.name = format!("camera {i}");
    cam
}

/// A query point: anywhere near the centre, or right on the edge of some camera's view.
#[derive(Debug, Clone)]
enum Query {
    Near((f64, f64)),
    ViewEdge { cam: usize, side: f64, angle_off: f64, range_factor: f64 },
}

fn query() -> impl Strategy<Value = Query> {
    let tiny = prop_oneof![Just(0.0), -1e-6..1e-6f64, -1e-3..1e-3f64, -0.5..0.5f64];
    prop_oneof![
        offset(1_200.0).prop_map(Query::Near),
        (any::<prop::sample::Index>(), select(vec![-1.0, 1.0]), tiny.clone(), tiny).prop_map(|(i, side, a, r)| {
            Query::ViewEdge { cam: i.index(1 << 20), side, angle_off: a, range_factor: 1.0 + r / 100.0 }
        }),
    ]
}

fn query_point(c: LatLon, q: &Query, cams: &[Camera]) -> LatLon {
    match q {
        Query::Near((b, d)) => destination(c, *b, *d),
        Query::ViewEdge { cam, side, angle_off, range_factor } => {
            let k = &cams[cam % cams.len()];
            let b = k.heading.deg() + side * k.fov.deg() / 2.0 + angle_off;
            destination(k.position, b, k.range.m() * range_factor)
        }
    }
}

fn scope_strategy() -> impl Strategy<Value = Option<Id>> {
    prop_oneof![2 => Just(None), 1 => select(MUNICIPALITIES.to_vec()).prop_map(|m| Some(id(m))), 1 => Just(Some(id("none")))]
}

fn limit_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0..12usize, 1 => Just(usize::MAX)]
}

/// Builds the index through bulk loading, inserts, moves and removals, and returns it with the
/// cameras it should hold.
fn index_and_truth(c: LatLon, specs: &[CamSpec], moves: &[CamSpec]) -> (CameraIndex, Vec<Camera>) {
    let cams: Vec<Camera> = specs.iter().enumerate().map(|(i, s)| build_camera(c, i, s)).collect();
    let half = cams.len() / 2;
    let mut index = CameraIndex::from_cameras(&cams[..half]);
    let mut truth: std::collections::BTreeMap<Id, Camera> =
        cams[..half].iter().map(|k| (k.id.clone(), k.clone())).collect();
    for k in &cams[half..] {
        index.upsert(k);
        truth.insert(k.id.clone(), k.clone());
    }
    for (i, m) in moves.iter().enumerate() {
        let moved = build_camera(c, i * 3, m);
        if i % 3 == 2 {
            assert_eq!(index.remove(&moved.id), truth.remove(&moved.id).is_some());
        } else {
            index.upsert(&moved);
            truth.insert(moved.id.clone(), moved);
        }
    }
    assert_eq!(index.len(), truth.len());
    (index, truth.into_values().collect())
}

/// A star-shaped polygon: corners at increasing bearings around a point.
fn star(around: LatLon, corners: &[(f64, f64)]) -> Vec<LatLon> {
    let mut cs = corners.to_vec();
    cs.sort_by(|a, b| a.0.total_cmp(&b.0));
    cs.iter().map(|(b, d)| destination(around, *b, *d)).collect()
}

fn star_spec(max: f64) -> impl Strategy<Value = ((f64, f64), Vec<(f64, f64)>)> {
    (offset(1_000.0), prop::collection::vec((0.0..360.0f64, 1.0..max), 3..7))
}

fn planar(ring: &[LatLon]) -> Polygon<f64> {
    Polygon::new(LineString::new(ring.iter().map(|p| Coord { x: p.lon(), y: p.lat() }).collect()), vec![])
}

/// 96 cases per property by default (fast in a debug build); `PROPTEST_CASES` asks for more.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn seeing_equals_a_brute_force_scan(
        c in center(),
        specs in prop::collection::vec(cam_spec(), 1..60),
        moves in prop::collection::vec(cam_spec(), 0..12),
        q in query(),
        scope in scope_strategy(),
        limit in limit_strategy(),
    ) {
        let (index, cams) = index_and_truth(c, &specs, &moves);
        prop_assume!(!cams.is_empty());
        let p = query_point(c, &q, &cams);
        let brute = cams
            .iter()
            .filter(|k| in_scope(&k.municipality, scope.as_ref()))
            .filter_map(|k| sees_point(k, p).map(|d| Hit { id: k.id.clone(), distance_m: d }))
            .collect();
        prop_assert_eq!(index.seeing(p, scope.as_ref(), limit), by_distance_then_id(brute, limit));
        let site = SiteGeometry::Point(p);
        prop_assert_eq!(index.seeing_site(&site, scope.as_ref(), limit), index.seeing(p, scope.as_ref(), limit));
    }

    #[test]
    fn camera_within_radius_equals_a_brute_force_scan(
        c in center(),
        specs in prop::collection::vec(cam_spec(), 1..60),
        q in offset(1_200.0),
        radius in prop_oneof![6 => 0.0..1_500.0f64, 1 => 0.0..200_000.0f64],
        scope in scope_strategy(),
        limit in limit_strategy(),
    ) {
        let (index, cams) = index_and_truth(c, &specs, &[]);
        let p = destination(c, q.0, q.1);
        let brute = cams
            .iter()
            .filter(|k| in_scope(&k.municipality, scope.as_ref()))
            .map(|k| Hit { id: k.id.clone(), distance_m: distance_m(p, k.position) })
            .filter(|h| h.distance_m <= radius)
            .collect();
        prop_assert_eq!(index.within_radius(p, radius, scope.as_ref(), limit), by_distance_then_id(brute, limit));
    }

    #[test]
    fn seeing_a_polygon_site_equals_a_brute_force_scan(
        c in center(),
        specs in prop::collection::vec(cam_spec(), 1..40),
        (at, corners) in star_spec(300.0),
        scope in scope_strategy(),
        limit in limit_strategy(),
    ) {
        let (index, cams) = index_and_truth(c, &specs, &[]);
        let ring = star(destination(c, at.0, at.1), &corners);
        let site = SiteGeometry::Polygon(ring);
        let brute = cams
            .iter()
            .filter(|k| in_scope(&k.municipality, scope.as_ref()))
            .filter_map(|k| {
                sees_site(k.position, k.heading.deg(), k.fov.deg(), k.range.m(), k.kind, &site)
                    .map(|d| Hit { id: k.id.clone(), distance_m: d })
            })
            .collect();
        prop_assert_eq!(index.seeing_site(&site, scope.as_ref(), limit), by_distance_then_id(brute, limit));
    }

    #[test]
    fn point_index_queries_equal_a_brute_force_scan(
        c in center(),
        items in prop::collection::vec(
            (prop_oneof![2 => offset(1_000.0).prop_map(|o| (o, vec![])), 1 => star_spec(200.0)], 0..2usize),
            1..40,
        ),
        removed in prop::collection::vec(0..40usize, 0..5),
        q in offset(1_200.0),
        radius in prop_oneof![6 => 0.0..800.0f64, 1 => 0.0..200_000.0f64],
        (area_at, area_corners) in star_spec(800.0),
        scope in scope_strategy(),
        limit in limit_strategy(),
    ) {
        let mut index = PointIndex::new();
        let mut truth = std::collections::BTreeMap::new();
        for (i, ((at, corners), m)) in items.iter().enumerate() {
            let here = destination(c, at.0, at.1);
            let g = if corners.is_empty() { SiteGeometry::Point(here) } else { SiteGeometry::Polygon(star(here, corners)) };
            let key = id(&format!("i{:02}", i % 30));
            index.upsert(&key, &id(MUNICIPALITIES[*m]), &g);
            truth.insert(key, (id(MUNICIPALITIES[*m]), g));
        }
        for r in &removed {
            let key = id(&format!("i{:02}", r));
            prop_assert_eq!(index.remove(&key), truth.remove(&key).is_some());
        }
        prop_assert_eq!(index.len(), truth.len());
        let scoped = || truth.iter().filter(|(_, (m, _))| in_scope(m, scope.as_ref()));

        let p = destination(c, q.0, q.1);
        let brute = scoped()
            .map(|(k, (_, g))| Hit { id: k.clone(), distance_m: distance_to_site_m(p, g) })
            .filter(|h| h.distance_m <= radius)
            .collect();
        prop_assert_eq!(index.within_radius(p, radius, scope.as_ref(), limit), by_distance_then_id(brute, limit));

        let area = star(destination(c, area_at.0, area_at.1), &area_corners);
        let shape = planar(&area);
        let mut inside: Vec<Hit> = scoped()
            .filter(|(_, (_, g))| match g {
                SiteGeometry::Point(p) => shape.intersects(&Coord { x: p.lon(), y: p.lat() }),
                SiteGeometry::Polygon(ring) => shape.intersects(&planar(ring)),
            })
            .map(|(k, _)| Hit { id: k.clone(), distance_m: 0.0 })
            .collect();
        inside.truncate(limit);
        prop_assert_eq!(index.within_polygon(&area, scope.as_ref(), limit), inside);
    }
}
