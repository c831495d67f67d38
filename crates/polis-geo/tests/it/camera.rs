//! `CameraIndex` queries as an operator would notice them.

use crate::support::*;
use polis_domain::geometry::distance_m;
use polis_domain::{CameraKind, SiteGeometry};
use polis_geo::{CameraIndex, Hit};

#[test]
fn a_fixed_camera_sees_ahead_but_not_behind_or_beyond_its_range() {
    let c = kazanlak();
    let index = CameraIndex::from_cameras(&[fixed("east", c, 90.0)]);
    let ahead = at(c, 90.0, 120.0);
    assert_eq!(index.seeing(ahead, None, 10), vec![Hit { id: id("east"), distance_m: distance_m(c, ahead) }]);
    assert!((index.seeing(ahead, None, 10)[0].distance_m - 120.0).abs() < 1e-6);
    assert!(index.seeing(at(c, 270.0, 50.0), None, 10).is_empty(), "behind");
    assert!(index.seeing(at(c, 90.0, 201.0), None, 10).is_empty(), "beyond range");
    assert!(index.seeing(at(c, 125.0, 100.0), None, 10).is_empty(), "just outside the 60-degree view");
    assert_eq!(ids(&index.seeing(at(c, 119.0, 100.0), None, 10)), ["east"], "just inside the view");
}

#[test]
fn a_ptz_camera_or_a_360_degree_view_sees_its_whole_range_circle() {
    let c = kazanlak();
    let index = CameraIndex::from_cameras(&[
        camera("ptz", "m", c, CameraKind::Ptz, 90.0, 50.0, 150.0),
        camera("dome", "m", at(c, 0.0, 10.0), CameraKind::Fixed, 90.0, 360.0, 150.0),
    ]);
    let behind = at(c, 270.0, 100.0);
    assert_eq!(ids(&index.seeing(behind, None, 10)), ["ptz", "dome"]);
    assert!(index.seeing(at(c, 270.0, 170.0), None, 10).is_empty());
}

#[test]
fn the_view_wraps_across_north() {
    let c = kazanlak();
    let index = CameraIndex::from_cameras(&[fixed("north", c, 350.0)]);
    // Heading 350, 60-degree view: bearings 320..360 and 0..20.
    assert_eq!(ids(&index.seeing(at(c, 10.0, 80.0), None, 10)), ["north"]);
    assert_eq!(ids(&index.seeing(at(c, 325.0, 80.0), None, 10)), ["north"]);
    assert!(index.seeing(at(c, 25.0, 80.0), None, 10).is_empty());
    assert!(index.seeing(at(c, 315.0, 80.0), None, 10).is_empty());
}

#[test]
fn results_are_ordered_by_distance_then_id_and_cut_at_the_limit() {
    let c = kazanlak();
    let target = at(c, 90.0, 150.0);
    let cams = vec![
        fixed("far", c, 90.0),
        fixed("near", at(c, 90.0, 100.0), 90.0),
        fixed("b-same", at(c, 90.0, 50.0), 90.0),
        fixed("a-same", at(c, 90.0, 50.0), 90.0),
    ];
    let index = CameraIndex::from_cameras(&cams);
    let hits = index.seeing(target, None, 10);
    assert_eq!(ids(&hits), ["near", "a-same", "b-same", "far"]);
    assert!(hits.windows(2).all(|w| w[0].distance_m <= w[1].distance_m));
    assert_eq!(ids(&index.seeing(target, None, 2)), ["near", "a-same"]);
    assert!(index.seeing(target, None, 0).is_empty());
}

#[test]
fn a_scope_keeps_only_that_municipalitys_cameras() {
    let c = kazanlak();
    let index = CameraIndex::from_cameras(&[
        camera("ours", "kazanlak", c, CameraKind::Ptz, 0.0, 90.0, 200.0),
        camera("theirs", "stara-zagora", at(c, 180.0, 5.0), CameraKind::Ptz, 0.0, 90.0, 200.0),
    ]);
    let p = at(c, 45.0, 60.0);
    assert_eq!(ids(&index.seeing(p, None, 10)), ["ours", "theirs"]);
    assert_eq!(ids(&index.seeing(p, Some(&id("kazanlak")), 10)), ["ours"]);
    assert_eq!(ids(&index.seeing(p, Some(&id("stara-zagora")), 10)), ["theirs"]);
    assert!(index.seeing(p, Some(&id("plovdiv")), 10).is_empty(), "a municipality with no cameras");
    assert_eq!(ids(&index.within_radius(p, 500.0, Some(&id("kazanlak")), 10)), ["ours"]);
}

#[test]
fn upsert_moves_a_camera_and_forgets_its_old_place() {
    let c = kazanlak();
    let old_view = at(c, 90.0, 100.0);
    let elsewhere = at(c, 180.0, 3_000.0);
    let mut index = CameraIndex::new();
    index.upsert(&fixed("cam", c, 90.0));
    assert_eq!(ids(&index.seeing(old_view, None, 10)), ["cam"]);
    index.upsert(&fixed("cam", elsewhere, 90.0));
    assert_eq!(index.len(), 1);
    assert!(index.seeing(old_view, None, 10).is_empty());
    assert!(index.within_radius(c, 1_000.0, None, 10).is_empty());
    assert_eq!(ids(&index.seeing(at(elsewhere, 90.0, 100.0), None, 10)), ["cam"]);
    // Turning it round in place.
    index.upsert(&fixed("cam", elsewhere, 270.0));
    assert!(index.seeing(at(elsewhere, 90.0, 100.0), None, 10).is_empty());
    assert_eq!(ids(&index.seeing(at(elsewhere, 270.0, 100.0), None, 10)), ["cam"]);
}

#[test]
fn remove_takes_a_camera_out_once() {
    let c = kazanlak();
    let mut index = CameraIndex::from_cameras(&[fixed("a", c, 90.0), fixed("b", c, 90.0)]);
    let p = at(c, 90.0, 50.0);
    assert!(index.remove(&id("a")));
    assert!(!index.remove(&id("a")));
    assert!(!index.remove(&id("never")));
    assert_eq!(index.len(), 1);
    assert_eq!(ids(&index.seeing(p, None, 10)), ["b"]);
    assert!(index.remove(&id("b")));
    assert!(index.is_empty());
    assert!(index.seeing(p, None, 10).is_empty());
    // The freed slots are reused without confusion.
    index.upsert(&fixed("c", c, 90.0));
    index.upsert(&fixed("d", c, 270.0));
    assert_eq!(ids(&index.seeing(p, None, 10)), ["c"]);
}

#[test]
fn bulk_loading_keeps_the_last_of_duplicate_ids() {
    let c = kazanlak();
    let index = CameraIndex::from_cameras(&[fixed("a", c, 90.0), fixed("a", c, 270.0)]);
    assert_eq!(index.len(), 1);
    assert!(index.seeing(at(c, 90.0, 50.0), None, 10).is_empty());
    assert_eq!(ids(&index.seeing(at(c, 270.0, 50.0), None, 10)), ["a"]);
}

#[test]
fn within_radius_finds_camera_positions_by_distance() {
    let c = kazanlak();
    let index = CameraIndex::from_cameras(&[
        fixed("300m", at(c, 10.0, 300.0), 0.0),
        fixed("50m", at(c, 200.0, 50.0), 0.0),
        fixed("150m", at(c, 100.0, 150.0), 0.0),
    ]);
    let hits = index.within_radius(c, 200.0, None, 10);
    assert_eq!(ids(&hits), ["50m", "150m"]);
    assert!((hits[0].distance_m - 50.0).abs() < 1e-6 && (hits[1].distance_m - 150.0).abs() < 1e-6);
    assert_eq!(ids(&index.within_radius(c, 1_000.0, None, 2)), ["50m", "150m"]);
    assert!(index.within_radius(c, -1.0, None, 10).is_empty());
    assert!(index.within_radius(c, f64::NAN, None, 10).is_empty());
    assert_eq!(index.within_radius(c, f64::INFINITY, None, 10).len(), 3);
}

#[test]
fn a_polygon_site_is_seen_by_cameras_whose_view_meets_it() {
    let c = kazanlak();
    // A 100 m square starting 80 m east of the cameras' row.
    let site = square(at(at(c, 90.0, 80.0), 180.0, 50.0), 100.0);
    let index = CameraIndex::from_cameras(&[
        fixed("facing", c, 90.0),
        fixed("away", at(c, 270.0, 1.0), 270.0),
        camera("ptz", "m", at(c, 270.0, 10.0), CameraKind::Ptz, 270.0, 30.0, 100.0),
        camera("short", "m", at(c, 270.0, 2.0), CameraKind::Fixed, 90.0, 60.0, 60.0),
        fixed("inside", at(at(c, 90.0, 130.0), 0.0, 10.0), 0.0),
        // 100 m south of the row, the square's corners are seen at bearings from about 28
        // (north-west corner) to 74 degrees. A view of 10-30 degrees catches only the edge
        // near that corner; a view of 0-20 degrees misses the square.
        camera("grazing", "m", at(c, 180.0, 100.0), CameraKind::Fixed, 20.0, 20.0, 250.0),
        camera("missing", "m", at(c, 180.0, 100.0), CameraKind::Fixed, 10.0, 20.0, 250.0),
    ]);
    let hits = index.seeing_site(&site, None, 10);
    assert_eq!(ids(&hits), ["inside", "facing", "ptz", "grazing"]);
    assert_eq!(hits[0].distance_m, 0.0);
    assert!((hits[1].distance_m - 80.0).abs() < 0.5, "{}", hits[1].distance_m);
    // The distance is to the site's nearest point, not to the part the camera sees.
    assert!((hits[3].distance_m - 80f64.hypot(50.0)).abs() < 0.5, "{}", hits[3].distance_m);
    assert_eq!(ids(&index.seeing_site(&site, None, 1)), ["inside"]);
    // A point site is the same question as `seeing`.
    let p = at(c, 90.0, 40.0);
    assert_eq!(index.seeing_site(&SiteGeometry::Point(p), None, 10), index.seeing(p, None, 10));
}

#[test]
fn the_antimeridian_does_not_hide_a_camera() {
    let west_edge = ll(-17.8, 179.9995);
    let index = CameraIndex::from_cameras(&[fixed("fiji", west_edge, 90.0)]);
    let across = ll(-17.8, -179.9995);
    let hits = index.seeing(across, None, 10);
    assert_eq!(ids(&hits), ["fiji"]);
    assert!((hits[0].distance_m - distance_m(west_edge, across)).abs() < 1e-9);
    assert_eq!(ids(&index.within_radius(across, 150.0, None, 10)), ["fiji"]);
}

#[test]
fn synthetic_cameras_are_deterministic_and_inside_their_disc() {
    let m = id("kazanlak");
    let a = polis_geo::synthetic::cameras(500, 7, kazanlak(), 2_000.0, &m);
    let b = polis_geo::synthetic::cameras(500, 7, kazanlak(), 2_000.0, &m);
    assert_eq!(a, b);
    assert_ne!(a, polis_geo::synthetic::cameras(500, 8, kazanlak(), 2_000.0, &m));
    assert_eq!(a[0].id.as_str(), "syn-000001");
    assert_eq!(a[499].id.as_str(), "syn-000500");
    assert!(a.iter().all(|c| distance_m(kazanlak(), c.position) <= 2_000.0 + 1e-6));
    assert!(a.iter().all(|c| (30.0..=250.0).contains(&c.range.m())));
    let ptz = a.iter().filter(|c| c.kind == CameraKind::Ptz).count();
    assert!((40..=110).contains(&ptz), "about 15% PTZ, got {ptz}");
    assert!(a.iter().any(|c| c.kind == CameraKind::Anpr) && a.iter().any(|c| c.kind == CameraKind::Thermal));
    let pts = polis_geo::synthetic::points(100, 1, kazanlak(), 2_000.0);
    assert_eq!(pts, polis_geo::synthetic::points(100, 1, kazanlak(), 2_000.0));
    assert!(pts.iter().all(|p| distance_m(kazanlak(), *p) <= 2_000.0 + 1e-6));
}

#[test]
fn indexes_can_be_shared_between_request_handlers() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<CameraIndex>();
    shareable::<polis_geo::PointIndex>();
    let index = std::sync::Arc::new(CameraIndex::from_cameras(&[fixed("a", kazanlak(), 90.0)]));
    let p = at(kazanlak(), 90.0, 20.0);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let index = index.clone();
            std::thread::spawn(move || index.seeing(p, None, 10).len())
        })
        .collect();
    assert!(handles.into_iter().all(|h| h.join().unwrap() == 1));
}
