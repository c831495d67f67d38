//! The camera index: who can see a point, a site, or stands within a radius.

use crate::frame::{key, reach_box, ring_box, ring_lower_bound, LocalFrame, FAST_MAX_DIST_M};
use crate::{best_hits, Candidate, Hit, Scopes};
use polis_domain::geometry::{distance_m, sees, sees_ring};
use polis_domain::{Camera, CameraKind, Id, LatLon, SiteGeometry};
use rstar::{Envelope, RTree, RTreeObject, AABB};
use std::collections::HashMap;
use std::ops::ControlFlow;

/// Below this flat-frame distance the bearing is not trusted to decide the view: go exact.
const MIN_ANGLE_DIST_M: f64 = 1.0;

/// What the flat frame could tell about a candidate that it did not reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Surely inside the view angle: only the geodesic distance against the range is left.
    Range,
    /// Undecided: run the full geodesic test.
    Full,
}

/// A camera as the tree holds it: what the queries need, and the pre-computed pre-filter.
#[derive(Debug, Clone)]
struct CamNode {
    /// The box in degrees holding everything within range of the camera.
    reach: AABB<[f64; 2]>,
    slot: u32,
    scope: u32,
    pos: LatLon,
    heading: f64,
    fov: f64,
    range: f64,
    kind: CameraKind,
    /// PTZ or 360 degrees: the whole range circle.
    full_circle: bool,
    frame: LocalFrame,
    /// The frame's absolute distance error bound within range, metres.
    err_m: f64,
    /// Unit vector of the heading in the frame (east, north).
    sin_h: f64,
    cos_h: f64,
    /// `cos` of the half-angle less the frame's bearing error: a dot product at or above
    /// `|v| * cos_in` is surely inside the view. `INFINITY` when nothing is sure.
    cos_in: f64,
    /// `cos` of the half-angle plus the error: below `|v| * cos_out` is surely outside.
    /// `NEG_INFINITY` when nothing is sure.
    cos_out: f64,
}

impl PartialEq for CamNode {
    fn eq(&self, other: &Self) -> bool {
        self.slot == other.slot
    }
}

impl RTreeObject for CamNode {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.reach
    }
}

impl CamNode {
    fn new(cam: &Camera, slot: u32, scope: u32) -> CamNode {
        let (heading, fov, range) = (cam.heading.deg(), cam.fov.deg(), cam.range.m());
        let frame = LocalFrame::at(cam.position);
        let fast = frame.fast && range <= FAST_MAX_DIST_M;
        let full_circle = cam.kind == CameraKind::Ptz || fov >= 360.0;
        let (mut cos_in, mut cos_out, mut err_m) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY);
        if fast {
            err_m = frame.abs_error(range);
            let eps = frame.error(range);
            let half = (fov / 2.0).to_radians();
            if half - eps > 0.0 {
                cos_in = (half - eps).cos();
            }
            // `sees` allows 1e-9 degrees beyond the half-angle.
            let outer = half + (1e-9f64).to_radians() + eps;
            if outer < std::f64::consts::PI {
                cos_out = outer.cos();
            }
        }
        let h = heading.to_radians();
        CamNode {
            reach: reach_box(cam.position, range),
            slot,
            scope,
            pos: cam.position,
            heading,
            fov,
            range,
            kind: cam.kind,
            full_circle,
            frame,
            err_m,
            sin_h: h.sin(),
            cos_h: h.cos(),
            cos_in,
            cos_out,
        }
    }

    /// The flat-frame verdict on whether this camera may see `p`: `None` if it surely does not,
    /// else a lower bound of the geodesic distance and what is left to check.
    #[inline]
    fn prefilter(&self, p: LatLon) -> Option<(f64, Check)> {
        if !self.err_m.is_finite() {
            return Some((0.0, Check::Full));
        }
        let (x, y) = self.frame.offset(p);
        let d = x.hypot(y);
        let lower = d - self.err_m;
        if lower > self.range {
            return None;
        }
        let check = if self.full_circle {
            Check::Range
        } else if d < MIN_ANGLE_DIST_M {
            Check::Full
        } else {
            let dot = x * self.sin_h + y * self.cos_h;
            if dot < d * self.cos_out {
                return None;
            }
            if dot >= d * self.cos_in {
                Check::Range
            } else {
                Check::Full
            }
        };
        Some((lower.max(0.0), check))
    }

    /// The exact answer, equal to [`sees`]: with `Check::Range` the view angle is already known
    /// to hold, so only the distance is computed.
    fn exact(&self, p: LatLon, check: Check) -> Option<f64> {
        crate::STATS[if check == Check::Range { 1 } else { 2 }].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match check {
            Check::Range => {
                let d = distance_m(self.pos, p);
                (d <= self.range).then_some(d)
            }
            Check::Full => sees(self.pos, self.heading, self.fov, self.range, self.kind, p),
        }
    }
}

/// A spatial index of cameras, answering "who can see this point?" in microseconds.
///
/// Each camera is held in an R-tree under the box (in degrees) of everything within its range,
/// and checked exactly with the domain's geodesic functions; see the crate documentation for the
/// guarantees.
#[derive(Debug, Default)]
pub struct CameraIndex {
    tree: RTree<CamNode>,
    /// Slot -> the camera's id and its node (to find it in the tree for removal).
    slots: Vec<Option<(Id, CamNode)>>,
    free: Vec<u32>,
    by_id: HashMap<Id, u32>,
    scopes: Scopes,
}

impl CameraIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the index in one go (R-tree bulk loading). A later camera with the same id as an
    /// earlier one replaces it, as with [`CameraIndex::upsert`].
    pub fn from_cameras<'a>(cams: impl IntoIterator<Item = &'a Camera>) -> Self {
        let mut index = Self::new();
        for cam in cams {
            let scope = index.scopes.code(&cam.municipality);
            match index.by_id.get(&cam.id) {
                Some(&slot) => index.slots[slot as usize] = Some((cam.id.clone(), CamNode::new(cam, slot, scope))),
                None => {
                    let slot = index.slots.len() as u32;
                    index.by_id.insert(cam.id.clone(), slot);
                    index.slots.push(Some((cam.id.clone(), CamNode::new(cam, slot, scope))));
                }
            }
        }
        let nodes = index.slots.iter().flatten().map(|(_, n)| n.clone()).collect();
        index.tree = RTree::bulk_load(nodes);
        index
    }

    /// Inserts a camera, or replaces the one with the same id (its old position is forgotten).
    pub fn upsert(&mut self, cam: &Camera) {
        let scope = self.scopes.code(&cam.municipality);
        let slot = match self.by_id.get(&cam.id) {
            Some(&slot) => {
                if let Some((_, old)) = &self.slots[slot as usize] {
                    self.tree.remove(old);
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
                self.by_id.insert(cam.id.clone(), slot);
                slot
            }
        };
        let node = CamNode::new(cam, slot, scope);
        self.tree.insert(node.clone());
        self.slots[slot as usize] = Some((cam.id.clone(), node));
    }

    /// Removes a camera; false if it was not indexed.
    pub fn remove(&mut self, id: &Id) -> bool {
        let Some(slot) = self.by_id.remove(id) else { return false };
        if let Some((_, node)) = self.slots[slot as usize].take() {
            self.tree.remove(&node);
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

    fn id_of(&self, node: &CamNode) -> &Id {
        match &self.slots[node.slot as usize] {
            Some((id, _)) => id,
            None => unreachable!("a camera in the tree has a slot"),
        }
    }

    /// Cameras that can see `p`: within range (geodesic) and inside the view sector (heading ±
    /// fov/2); a PTZ camera, or one with a 360-degree view, sees its whole range circle. Ordered
    /// by distance, ties by id; only cameras of municipality `scope` when given; at most `limit`.
    pub fn seeing(&self, p: LatLon, scope: Option<&Id>, limit: usize) -> Vec<Hit> {
        let Ok(scope) = self.scopes.lookup(scope) else { return Vec::new() };
        if limit == 0 {
            return Vec::new();
        }
        let mut cands = Vec::new();
        let _ = self.tree.locate_in_envelope_intersecting_int(&AABB::from_point(key(p)), |n| {
            crate::STATS[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if scope.is_none_or(|s| s == n.scope) {
                if let Some((lower, check)) = n.prefilter(p) {
                    crate::STATS[3].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    cands.push(Candidate { lower, item: (n, check) });
                }
            }
            ControlFlow::<()>::Continue(())
        });
        best_hits(cands, limit, |(n, check)| n.exact(p, *check), |(n, _)| self.id_of(n))
    }

    /// Cameras whose position is within `radius_m` of `p` (geodesic), ordered by distance, ties
    /// by id; only cameras of municipality `scope` when given; at most `limit`. A negative or
    /// NaN radius finds nothing.
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
            if scope.is_none_or(|s| s == n.scope) && area.contains_point(&key(n.pos)) {
                let lower = if fast {
                    let (x, y) = frame.offset(n.pos);
                    x.hypot(y) - err_m
                } else {
                    0.0
                };
                if lower <= radius_m {
                    cands.push(Candidate { lower: lower.max(0.0), item: n });
                }
            }
            ControlFlow::<()>::Continue(())
        });
        let exact = |n: &&CamNode| {
            let d = distance_m(p, n.pos);
            (d <= radius_m).then_some(d)
        };
        best_hits(cands, limit, exact, |n| self.id_of(n))
    }

    /// Cameras that see a site. For a point site, as [`CameraIndex::seeing`]. For a polygon,
    /// cameras whose view sector (range circle for PTZ) meets the polygon, including cameras
    /// inside it, as [`polis_domain::geometry::sees_ring`] decides; the distance is to the
    /// polygon's nearest point (0 inside). Ordered by distance, ties by id; at most `limit`.
    pub fn seeing_site(&self, g: &SiteGeometry, scope: Option<&Id>, limit: usize) -> Vec<Hit> {
        let ring = match g {
            SiteGeometry::Point(p) => return self.seeing(*p, scope, limit),
            SiteGeometry::Polygon(ring) => ring,
        };
        let Ok(scope) = self.scopes.lookup(scope) else { return Vec::new() };
        let Some(area) = ring_box(ring) else { return Vec::new() };
        if limit == 0 {
            return Vec::new();
        }
        let mut cands = Vec::new();
        let _ = self.tree.locate_in_envelope_intersecting_int(&area, |n| {
            if scope.is_none_or(|s| s == n.scope) {
                let lower = if n.err_m.is_finite() { ring_lower_bound(&n.frame, ring) } else { 0.0 };
                if lower <= n.range {
                    cands.push(Candidate { lower, item: n });
                }
            }
            ControlFlow::<()>::Continue(())
        });
        let exact = |n: &&CamNode| sees_ring(n.pos, n.heading, n.fov, n.range, n.kind, ring);
        best_hits(cands, limit, exact, |n| self.id_of(n))
    }
}
