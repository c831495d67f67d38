//! The index of sites and sensors: things that are a point or a polygon.

use crate::frame::{key, reach_box, ring_box, LocalFrame, FAST_MAX_DIST_M};
use crate::{best_hits, Candidate, Hit, Scopes};
use geo::{Coord, Intersects, LineString, Polygon};
use polis_domain::geometry::{distance_m, distance_to_ring_m};
use polis_domain::{Id, LatLon, SiteGeometry};
use rstar::{RTree, RTreeObject, AABB};
use std::collections::HashMap;
use std::ops::ControlFlow;

#[derive(Debug, Clone)]
struct Node {
    bbox: AABB<[f64; 2]>,
    slot: u32,
    scope: u32,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.slot == other.slot
    }
}

impl RTreeObject for Node {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.bbox
    }
}

#[derive(Debug)]
struct Item {
    id: Id,
    geometry: SiteGeometry,
    node: Node,
}

/// A polygon in degrees (x = longitude, y = latitude) for the planar tests of `within_polygon`.
fn planar(ring: &[LatLon]) -> Polygon<f64> {
    let coords: Vec<Coord<f64>> = ring.iter().map(|p| Coord { x: p.lon(), y: p.lat() }).collect();
    Polygon::new(LineString::new(coords), Vec::new())
}

/// Whether an item meets a drawn polygon, both taken as flat shapes in degrees (as a web map
/// draws them at city scale); touching the boundary counts.
pub(crate) fn meets_polygon(g: &SiteGeometry, area: &Polygon<f64>) -> bool {
    match g {
        SiteGeometry::Point(p) => area.intersects(&Coord { x: p.lon(), y: p.lat() }),
        SiteGeometry::Polygon(ring) => area.intersects(&planar(ring)),
    }
}

/// A spatial index of items that are a point (sensors, point sites) or a polygon (zone sites),
/// each with an id and a municipality.
#[derive(Debug, Default)]
pub struct PointIndex {
    tree: RTree<Node>,
    slots: Vec<Option<Item>>,
    free: Vec<u32>,
    by_id: HashMap<Id, u32>,
    scopes: Scopes,
}

impl PointIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts an item, or replaces the one with the same id. An empty polygon is not indexed
    /// (any older item with that id is removed).
    pub fn upsert(&mut self, id: &Id, municipality: &Id, g: &SiteGeometry) {
        let bbox = match g {
            SiteGeometry::Point(p) => Some(AABB::from_point(key(*p))),
            SiteGeometry::Polygon(ring) => ring_box(ring),
        };
        let Some(bbox) = bbox else {
            self.remove(id);
            return;
        };
        let scope = self.scopes.code(municipality);
        let slot = match self.by_id.get(id) {
            Some(&slot) => {
                if let Some(old) = &self.slots[slot as usize] {
                    self.tree.remove(&old.node);
                }
                slot
            }
            None => {
                let slot = match self.free.pop() {
                    Some(s) => s,
                    None => {
                        self.slots.push(None);
                        (self.slots.len() - 1) as u32
                    }
                };
                self.by_id.insert(id.clone(), slot);
                slot
            }
        };
        let node = Node { bbox, slot, scope };
        self.tree.insert(node.clone());
        self.slots[slot as usize] = Some(Item { id: id.clone(), geometry: g.clone(), node });
    }

    /// Removes an item; false if it was not indexed.
    pub fn remove(&mut self, id: &Id) -> bool {
        let Some(slot) = self.by_id.remove(id) else { return false };
        if let Some(item) = self.slots[slot as usize].take() {
            self.tree.remove(&item.node);
        }
        self.free.push(slot);
        true
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn item(&self, node: &Node) -> &Item {
        match &self.slots[node.slot as usize] {
            Some(item) => item,
            None => unreachable!("an item in the tree has a slot"),
        }
    }

    /// Items within `radius_m` of `p`: a polygon counts if any part of it is within the radius,
    /// its distance being to its nearest point (0 if `p` is inside). Ordered by distance, ties
    /// by id; only items of municipality `scope` when given; at most `limit`. A negative or NaN
    /// radius finds nothing.
    pub fn within_radius(&self, p: LatLon, radius_m: f64, scope: Option<&Id>, limit: usize) -> Vec<Hit> {
        let Ok(scope) = self.scopes.lookup(scope) else { return Vec::new() };
        if limit == 0 || radius_m.is_nan() || radius_m < 0.0 {
            return Vec::new();
        }
        let frame = LocalFrame::at(p);
        let fast = frame.fast && radius_m <= FAST_MAX_DIST_M;
        let err_m = frame.abs_error(radius_m.min(FAST_MAX_DIST_M));
        let area = reach_box(p, radius_m);
        let mut cands = Vec::new();
        let _ = self.tree.locate_in_envelope_intersecting_int(&area, |n| {
            if scope.is_none_or(|s| s == n.scope) {
                let item = self.item(n);
                let lower = match &item.geometry {
                    SiteGeometry::Point(q) if fast => {
                        let (x, y) = frame.offset(*q);
                        (x * x + y * y).sqrt() - err_m
                    }
                    _ => 0.0,
                };
                if lower <= radius_m {
                    cands.push(Candidate { lower: lower.max(0.0), item });
                }
            }
            ControlFlow::<()>::Continue(())
        });
        let exact = |item: &&Item| {
            let d = match &item.geometry {
                SiteGeometry::Point(q) => distance_m(p, *q),
                SiteGeometry::Polygon(ring) => distance_to_ring_m(p, ring),
            };
            (d <= radius_m).then_some(d)
        };
        best_hits(cands, limit, exact, |item| item.id.as_str())
    }

    /// Items that meet `polygon` (a ring, first point not necessarily repeated), taken as flat
    /// shapes in degrees; touching counts. Ordered by id; only items of municipality `scope`
    /// when given; at most `limit`. `distance_m` is 0. A ring of fewer than three points finds
    /// nothing.
    pub fn within_polygon(&self, polygon: &[LatLon], scope: Option<&Id>, limit: usize) -> Vec<Hit> {
        let Ok(scope) = self.scopes.lookup(scope) else { return Vec::new() };
        if limit == 0 || polygon.len() < 3 {
            return Vec::new();
        }
        let area = planar(polygon);
        let (mut lo, mut hi) = (key(polygon[0]), key(polygon[0]));
        for p in polygon {
            let k = key(*p);
            lo = [lo[0].min(k[0]), lo[1].min(k[1])];
            hi = [hi[0].max(k[0]), hi[1].max(k[1])];
        }
        let mut found: Vec<&Id> = Vec::new();
        let _ = self.tree.locate_in_envelope_intersecting_int(&AABB::from_corners(lo, hi), |n| {
            if scope.is_none_or(|s| s == n.scope) {
                let item = self.item(n);
                if meets_polygon(&item.geometry, &area) {
                    found.push(&item.id);
                }
            }
            ControlFlow::<()>::Continue(())
        });
        found.sort_unstable();
        found.truncate(limit);
        found.into_iter().map(|id| Hit { id: id.clone(), distance_m: 0.0 }).collect()
    }
}
