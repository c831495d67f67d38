//! The camera index: who can see a point, a site, or stands within a radius.

use crate::frame::{key, reach_box, ring_box, ring_lower_bound, wrap_deg, LocalFrame, FAST_MAX_DIST_M};
use crate::{best_hits, Candidate, Hit, Scopes};
use polis_domain::geometry::{distance_m, sees, sees_ring};
use polis_domain::{Camera, CameraKind, Id, LatLon, SiteGeometry};
use rstar::{Envelope, RStarInsertionStrategy, RTree, RTreeObject, RTreeParams, AABB};
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

/// The smallest `f32` at or above `x` (towards +infinity), so that a bound stays a bound.
fn f32_up(x: f64) -> f32 {
    let y = x as f32;
    if (y as f64) >= x || y.is_nan() || y == f32::INFINITY {
        return y;
    }
    if y == 0.0 {
        return f32::from_bits(1);
    }
    if y > 0.0 {
        f32::from_bits(y.to_bits() + 1)
    } else {
        f32::from_bits(y.to_bits() - 1)
    }
}

/// The largest `f32` at or below `x`.
fn f32_down(x: f64) -> f32 {
    -f32_up(-x)
}

/// A camera as the tree holds it, kept small (72 bytes) because every query walks a few hundred
/// of them: the box of its reach, and the flat-frame pre-filter, with every `f32` rounded
/// towards "undecided" so that the pre-filter never rejects a camera the exact test would keep.
#[derive(Debug, Clone, Copy)]
struct CamLeaf {
    /// The box in degrees holding everything within range. Unless it spans every longitude it is
    /// centred on the camera, whose position the pre-filter takes from its centre.
    reach: AABB<[f64; 2]>,
    /// Metres per degree of longitude and latitude at the camera.
    kx: f32,
    ky: f32,
    /// A bound of the flat frame's distance error within range (`INFINITY`: no pre-filter).
    err_m: f32,
    /// `range + err_m`: a flat distance beyond this is surely out of range.
    reach_m: f32,
    /// The heading as a unit vector (east, north).
    sin_h: f32,
    cos_h: f32,
    /// A dot product with the heading at or above `|v| * cos_in` is surely inside the view
    /// (`NEG_INFINITY` for a whole circle, `INFINITY` when nothing is sure); below
    /// `|v| * cos_out` it is surely outside (`NEG_INFINITY` when nothing is sure).
    cos_in: f32,
    cos_out: f32,
    slot: u32,
    scope: u32,
}

impl PartialEq for CamLeaf {
    fn eq(&self, other: &Self) -> bool {
        self.slot == other.slot
    }
}

impl RTreeObject for CamLeaf {
    type Envelope = AABB<[f64; 2]>;
    #[inline]
    fn envelope(&self) -> Self::Envelope {
        self.reach
    }
}

/// Ids up to this many bytes are also kept inside [`CamData`], so that answering does not chase a
/// pointer to the id's own allocation (a cache miss per hit on a large index).
const SHORT_ID: usize = 22;

/// Everything about a camera that the exact test and the answer need.
#[derive(Debug, Clone)]
struct CamData {
    id: Id,
    short_id: [u8; SHORT_ID],
    short_len: u8,
    pos: LatLon,
    heading: f64,
    fov: f64,
    range: f64,
    kind: CameraKind,
    scope: u32,
}

impl CamData {
    fn new(cam: &Camera, scope: u32) -> CamData {
        let bytes = cam.id.as_str().as_bytes();
        let mut short_id = [0u8; SHORT_ID];
        let short_len = if bytes.len() <= SHORT_ID {
            short_id[..bytes.len()].copy_from_slice(bytes);
            bytes.len() as u8
        } else {
            0
        };
        CamData {
            id: cam.id.clone(),
            short_id,
            short_len,
            pos: cam.position,
            heading: cam.heading.deg(),
            fov: cam.fov.deg(),
            range: cam.range.m(),
            kind: cam.kind,
            scope,
        }
    }

    /// The id, from the inline copy when there is one.
    #[inline]
    fn id_str(&self) -> &str {
        match self.short_len {
            0 => self.id.as_str(),
            n => std::str::from_utf8(&self.short_id[..n as usize]).unwrap_or(self.id.as_str()),
        }
    }

    /// The camera as the tree holds it (the same every time, so that it can be found to remove).
    fn leaf(&self, slot: u32) -> CamLeaf {
        let (heading, fov, range) = (self.heading, self.fov, self.range);
        let frame = LocalFrame::at(self.pos);
        let reach = reach_box(self.pos, range);
        let full_circle = self.kind == CameraKind::Ptz || fov >= 360.0;
        let mut leaf = CamLeaf {
            reach,
            kx: frame.kx as f32,
            ky: frame.ky as f32,
            err_m: f32::INFINITY,
            reach_m: f32::INFINITY,
            sin_h: 0.0,
            cos_h: 0.0,
            cos_in: f32::INFINITY,
            cos_out: f32::NEG_INFINITY,
            slot,
            scope: self.scope,
        };
        let centred = reach.upper()[0] - reach.lower()[0] < 360.0;
        if frame.fast && range <= FAST_MAX_DIST_M && centred {
            // The f32 scales add up to 2^-24 relative error, well inside the bound's 1e-6 floor;
            // the box's centre is the position to within 1e-9 m, inside the 1e-6 m floor.
            let err_m = frame.abs_error(range) + 1e-7 * range;
            leaf.err_m = f32_up(err_m);
            leaf.reach_m = f32_up(range + leaf.err_m as f64);
            if full_circle {
                leaf.cos_in = f32::NEG_INFINITY;
            } else {
                let h = heading.to_radians();
                leaf.sin_h = h.sin() as f32;
                leaf.cos_h = h.cos() as f32;
                // The f32 heading points up to ~1e-7 rad off: add that to the bearing error. Its
                // length is not exactly 1: fold the length into the thresholds, since
                // `dot = |v| |u| cos(angle)`.
                let u = (leaf.sin_h as f64).hypot(leaf.cos_h as f64);
                let eps = frame.error(range) + 1e-6;
                let half = (fov / 2.0).to_radians();
                if half - eps > 0.0 {
                    leaf.cos_in = f32_up((half - eps).cos() * u);
                }
                // `sees` allows 1e-9 degrees beyond the half-angle.
                let outer = half + 1e-9f64.to_radians() + eps;
                if outer < std::f64::consts::PI {
                    leaf.cos_out = f32_down(outer.cos() * u);
                }
            }
        }
        leaf
    }

    /// The exact answer, equal to [`sees`]: with `Check::Range` the view angle is already known
    /// to hold, so only the distance is computed.
    fn exact(&self, p: LatLon, check: Check) -> Option<f64> {
        match check {
            Check::Range => {
                let d = distance_m(self.pos, p);
                (d <= self.range).then_some(d)
            }
            Check::Full => sees(self.pos, self.heading, self.fov, self.range, self.kind, p),
        }
    }
}

impl CamLeaf {
    /// The flat offset of `p` from the camera in metres (east, north).
    #[inline]
    fn offset(&self, p: LatLon) -> (f64, f64) {
        let (lo, hi) = (self.reach.lower(), self.reach.upper());
        let (lon, lat) = (0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]));
        (wrap_deg(p.lon() - lon) * self.kx as f64, (p.lat() - lat) * self.ky as f64)
    }

    /// The flat-frame verdict on whether this camera may see `p`: `None` if it surely does not,
    /// else a lower bound of the geodesic distance and what is left to check.
    #[inline]
    fn prefilter(&self, p: LatLon) -> Option<(f64, Check)> {
        let (x, y) = self.offset(p);
        let d = (x * x + y * y).sqrt();
        if d > self.reach_m as f64 {
            return None;
        }
        let lower = (d - self.err_m as f64).max(0.0);
        let cos_in = self.cos_in as f64;
        if cos_in == f64::NEG_INFINITY {
            return Some((lower, Check::Range));
        }
        if d < MIN_ANGLE_DIST_M {
            return Some((lower, Check::Full));
        }
        let dot = x * self.sin_h as f64 + y * self.cos_h as f64;
        if dot < d * self.cos_out as f64 {
            None
        } else if dot >= d * cos_in {
            Some((lower, Check::Range))
        } else {
            Some((lower, Check::Full))
        }
    }
}

/// The Morton (Z-order) code of a position: interleaved bits of its quantised longitude and
/// latitude, so that sorting by it keeps neighbours together.
fn z_order(p: LatLon) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut x = v as u64;
        x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
        x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
        x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        x = (x | (x << 2)) & 0x3333_3333_3333_3333;
        x = (x | (x << 1)) & 0x5555_5555_5555_5555;
        x
    }
    let q = |v: f64, lo: f64, span: f64| (((v - lo) / span).clamp(0.0, 1.0) * u32::MAX as f64) as u32;
    spread(q(p.lon(), -180.0, 360.0)) | (spread(q(p.lat(), -90.0, 180.0)) << 1)
}

/// Wider nodes than rstar's default (3 to 6 children): a point query over 100,000 overlapping
/// reach boxes then visits fewer, shallower nodes (measured on the `seeing` benchmark: tree
/// walks about 2x faster with 8 to 24; maxima of 12, 16 and 32 were about the same).
#[derive(Debug, Clone, Copy, Default)]
struct Params;

impl RTreeParams for Params {
    const MIN_SIZE: usize = 8;
    const MAX_SIZE: usize = 24;
    const REINSERTION_COUNT: usize = 6;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

/// A spatial index of cameras, answering "who can see this point?" in microseconds.
///
/// Each camera is held in an R-tree under the box (in degrees) of everything within its range,
/// and checked exactly with the domain's geodesic functions; see the crate documentation for the
/// guarantees.
#[derive(Debug, Default)]
pub struct CameraIndex {
    tree: RTree<CamLeaf, Params>,
    /// Slot -> the camera (its leaf too, to find it in the tree for removal).
    slots: Vec<Option<CamData>>,
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
        // The last camera of each id, laid out in Z-order so that cameras near each other on the
        // map are near each other in memory (and so are their ids): a query's exact checks then
        // touch a few cache lines rather than one per camera.
        let mut last: HashMap<&Id, &Camera> = HashMap::new();
        for cam in cams {
            last.insert(&cam.id, cam);
        }
        let mut unique: Vec<&Camera> = last.into_values().collect();
        unique.sort_by_cached_key(|c| (z_order(c.position), c.id.clone()));
        let mut index = Self::new();
        for (slot, cam) in unique.into_iter().enumerate() {
            let scope = index.scopes.code(&cam.municipality);
            index.by_id.insert(cam.id.clone(), slot as u32);
            index.slots.push(Some(CamData::new(cam, scope)));
        }
        let leaves = index.slots.iter().enumerate().flat_map(|(i, c)| c.as_ref().map(|c| c.leaf(i as u32)));
        index.tree = RTree::bulk_load_with_params(leaves.collect());
        index
    }

    /// Inserts a camera, or replaces the one with the same id (its old position is forgotten).
    pub fn upsert(&mut self, cam: &Camera) {
        let scope = self.scopes.code(&cam.municipality);
        let slot = match self.by_id.get(&cam.id) {
            Some(&slot) => {
                if let Some(old) = &self.slots[slot as usize] {
                    self.tree.remove(&old.leaf(slot));
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
        let data = CamData::new(cam, scope);
        self.tree.insert(data.leaf(slot));
        self.slots[slot as usize] = Some(data);
    }

    /// Removes a camera; false if it was not indexed.
    pub fn remove(&mut self, id: &Id) -> bool {
        let Some(slot) = self.by_id.remove(id) else { return false };
        if let Some(old) = self.slots[slot as usize].take() {
            self.tree.remove(&old.leaf(slot));
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

    fn data(&self, leaf: &CamLeaf) -> &CamData {
        match &self.slots[leaf.slot as usize] {
            Some(data) => data,
            None => unreachable!("a camera in the tree has its slot filled"),
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
        let mut cands = Vec::with_capacity(128);
        let _ = self.tree.locate_in_envelope_intersecting_int(&AABB::from_point(key(p)), |leaf| {
            if scope.is_none_or(|s| s == leaf.scope) {
                if let Some((lower, check)) = leaf.prefilter(p) {
                    cands.push(Candidate { lower, item: (leaf, check) });
                }
            }
            ControlFlow::<()>::Continue(())
        });
        best_hits(cands, limit, |(leaf, check)| self.data(leaf).exact(p, *check), |(leaf, _)| self.data(leaf).id_str())
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
        let _ = self.tree.locate_in_envelope_intersecting_int(&area, |leaf| {
            if scope.is_some_and(|s| s != leaf.scope) {
                return ControlFlow::<()>::Continue(());
            }
            let data = self.data(leaf);
            if area.contains_point(&key(data.pos)) {
                let lower = if fast {
                    let (x, y) = frame.offset(data.pos);
                    (x * x + y * y).sqrt() - err_m
                } else {
                    0.0
                };
                if lower <= radius_m {
                    cands.push(Candidate { lower: lower.max(0.0), item: data });
                }
            }
            ControlFlow::Continue(())
        });
        let exact = |data: &&CamData| {
            let d = distance_m(p, data.pos);
            (d <= radius_m).then_some(d)
        };
        best_hits(cands, limit, exact, |data| data.id_str())
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
        let _ = self.tree.locate_in_envelope_intersecting_int(&area, |leaf| {
            if scope.is_none_or(|s| s == leaf.scope) {
                let data = self.data(leaf);
                let lower =
                    if leaf.err_m.is_finite() { ring_lower_bound(&LocalFrame::at(data.pos), ring) } else { 0.0 };
                if lower <= data.range {
                    cands.push(Candidate { lower, item: data });
                }
            }
            ControlFlow::<()>::Continue(())
        });
        let exact = |d: &&CamData| sees_ring(d.pos, d.heading, d.fov, d.range, d.kind, ring);
        best_hits(cands, limit, exact, |data| data.id_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_rounding_keeps_bounds_on_the_safe_side() {
        for x in [0.1, -0.1, 1.0 / 3.0, -1.0 / 3.0, 0.999_999_999_9, 1e-30, -1e-30, 123_456.789, 0.0] {
            assert!(f32_up(x) as f64 >= x, "{x}");
            assert!(f32_down(x) as f64 <= x, "{x}");
            assert!((f32_up(x) as f64 - x).abs() <= x.abs() * 1.2e-7 + 1e-44, "{x}");
        }
        assert_eq!(f32_up(f64::INFINITY), f32::INFINITY);
        assert_eq!(f32_down(f64::NEG_INFINITY), f32::NEG_INFINITY);
    }

    /// The leaf is what every query walks; keep it small.
    #[test]
    fn a_tree_leaf_is_72_bytes() {
        assert_eq!(std::mem::size_of::<CamLeaf>(), 72);
    }
}
