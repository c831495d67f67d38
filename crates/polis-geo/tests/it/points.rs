//! `PointIndex` queries over sensors (points) and key sites (points and zones).

use crate::support::*;
use polis_domain::geometry::distance_m;
use polis_domain::SiteGeometry;
use polis_geo::PointIndex;

/// Around Kazanlak's centre: three sensors, a point site and a 100 m square zone whose nearest
/// edge is 300 m east (its centre is 350 m away).
fn city() -> PointIndex {
    let c = kazanlak();
    let mut index = PointIndex::new();
    let m = id("kazanlak");
    index.upsert(&id("sensor-near"), &m, &SiteGeometry::Point(at(c, 0.0, 40.0)));
    index.upsert(&id("sensor-mid"), &m, &SiteGeometry::Point(at(c, 200.0, 180.0)));
    index.upsert(&id("sensor-far"), &m, &SiteGeometry::Point(at(c, 90.0, 900.0)));
    index.upsert(&id("school"), &id("stara-zagora"), &SiteGeometry::Point(at(c, 300.0, 100.0)));
    index.upsert(&id("park"), &m, &square(at(at(c, 90.0, 300.0), 180.0, 50.0), 100.0));
    index
}

#[test]
fn within_radius_counts_a_zone_by_its_nearest_edge() {
    let c = kazanlak();
    let index = city();
    assert_eq!(index.len(), 5);
    assert_eq!(ids(&index.within_radius(c, 250.0, None, 10)), ["sensor-near", "school", "sensor-mid"]);
    let hits = index.within_radius(c, 320.0, None, 10);
    assert_eq!(ids(&hits), ["sensor-near", "school", "sensor-mid", "park"]);
    assert!((hits[3].distance_m - 300.0).abs() < 0.5, "{}", hits[3].distance_m);
    assert!((hits[0].distance_m - 40.0).abs() < 1e-6);
    assert_eq!(ids(&index.within_radius(c, 320.0, None, 2)), ["sensor-near", "school"]);
}

#[test]
fn inside_a_zone_its_distance_is_zero() {
    let c = kazanlak();
    let index = city();
    let in_park = at(at(c, 90.0, 350.0), 0.0, 10.0);
    let hits = index.within_radius(in_park, 1.0, None, 10);
    assert_eq!(ids(&hits), ["park"]);
    assert_eq!(hits[0].distance_m, 0.0);
}

#[test]
fn scope_limits_to_one_municipality() {
    let c = kazanlak();
    let index = city();
    assert_eq!(ids(&index.within_radius(c, 250.0, Some(&id("stara-zagora")), 10)), ["school"]);
    assert_eq!(ids(&index.within_radius(c, 250.0, Some(&id("kazanlak")), 10)), ["sensor-near", "sensor-mid"]);
    assert!(index.within_radius(c, 250.0, Some(&id("nowhere")), 10).is_empty());
}

#[test]
fn within_polygon_finds_points_inside_and_zones_that_overlap_ordered_by_id() {
    let c = kazanlak();
    let index = city();
    // A 400 m box from 100 m south and 50 m west of the centre: holds sensor-near, overlaps the
    // west part of the park, misses the rest (the school is 87 m west).
    let sw = at(at(c, 180.0, 100.0), 270.0, 50.0);
    let SiteGeometry::Polygon(area) = square(sw, 400.0) else { unreachable!() };
    let hits = index.within_polygon(&area, None, 10);
    assert_eq!(ids(&hits), ["park", "sensor-near"]);
    assert!(hits.iter().all(|h| h.distance_m == 0.0));
    assert_eq!(ids(&index.within_polygon(&area, None, 1)), ["park"]);
    assert_eq!(ids(&index.within_polygon(&area, Some(&id("kazanlak")), 10)), ["park", "sensor-near"]);
    assert!(index.within_polygon(&area, Some(&id("stara-zagora")), 10).is_empty());
    // The closing point may be repeated.
    let mut closed = area.clone();
    closed.push(area[0]);
    assert_eq!(index.within_polygon(&closed, None, 10), hits);
    // Fewer than three points is no area.
    assert!(index.within_polygon(&area[..2], None, 10).is_empty());
}

#[test]
fn upsert_replaces_and_remove_forgets() {
    let c = kazanlak();
    let mut index = city();
    index.upsert(&id("sensor-near"), &id("kazanlak"), &SiteGeometry::Point(at(c, 0.0, 5_000.0)));
    assert_eq!(index.len(), 5);
    assert_eq!(ids(&index.within_radius(c, 100.0, None, 10)), Vec::<&str>::new());
    let moved = index.within_radius(at(c, 0.0, 5_000.0), 10.0, None, 10);
    assert_eq!(ids(&moved), ["sensor-near"]);
    assert!(index.remove(&id("park")));
    assert!(!index.remove(&id("park")));
    assert_eq!(index.len(), 4);
    assert!(index.within_radius(c, 10_000.0, None, 10).iter().all(|h| h.id.as_str() != "park"));
    // An item may change from a point to a zone.
    index.upsert(&id("school"), &id("stara-zagora"), &square(c, 50.0));
    let hits = index.within_radius(at(c, 45.0, 10.0), 1.0, None, 10);
    assert_eq!(ids(&hits), ["school"]);
    assert_eq!(hits[0].distance_m, 0.0);
    assert!((distance_m(c, at(c, 45.0, 10.0)) - 10.0).abs() < 1e-6);
}
