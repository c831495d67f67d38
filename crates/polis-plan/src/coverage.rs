//! The options a plan chooses from, and what each one sees.
//!
//! An option is a candidate mounting point with one of its allowed models and, for a fixed
//! camera, one of the instance's discrete headings (north, then every `360 / headings` degrees
//! clockwise); a PTZ model is one option per candidate covering its whole circle.
//!
//! A demand point is seen when it is within the model's reach for the plan's purpose, inside the
//! view sector (fixed cameras), no nearer than the **blind radius** and in line of sight:
//! - *Mount height, a simple rule*: a camera mounted `h` metres up is taken to tilt down at most
//!   about 63 degrees, so it does not see within `h / 2` metres of its foot (its blind disc).
//!   Height does not otherwise change the reach.
//! - *Line of sight*: the straight segment from the camera to the point must not cross the
//!   outline of a building footprint, except the footprint the camera is mounted on (a camera
//!   on a wall or roof looks out from it) and the footprint the point lies in (a site that is a
//!   building is watched from outside: its facade is what is seen).

use crate::instance::{inside, Frame, Problem};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

/// One way to place a camera.
#[derive(Debug, Clone, PartialEq)]
pub struct Opt {
    pub candidate: usize,
    pub model: usize,
    /// Degrees clockwise from north; `None` for a PTZ camera.
    pub heading: Option<f64>,
    pub cost: f64,
    /// The demand points it sees, ascending.
    pub covers: Vec<u32>,
    /// The option's id when the instance gave it (with its coverage).
    pub id: Option<String>,
}

/// The rule of the blind disc: a camera mounted `h` metres up does not see within `h / 2`.
pub fn blind_radius_m(mount_height_m: f64) -> f64 {
    mount_height_m.max(0.0) / 2.0
}

fn bearing_deg(dx: f64, dy: f64) -> f64 {
    dx.atan2(dy).to_degrees().rem_euclid(360.0)
}

fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Buildings for line-of-sight checks, indexed by their boxes.
pub struct Walls {
    rings: Vec<Vec<(f64, f64)>>,
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
}

use polis_domain::polygon::segments_cross;

impl Walls {
    pub fn new(rings: &[Vec<(f64, f64)>]) -> Walls {
        let items = rings
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (mut x0, mut y0, mut x1, mut y1) =
                    (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
                for &(x, y) in r {
                    x0 = x0.min(x);
                    y0 = y0.min(y);
                    x1 = x1.max(x);
                    y1 = y1.max(y);
                }
                GeomWithData::new(Rectangle::from_corners([x0, y0], [x1, y1]), i)
            })
            .collect();
        Walls { rings: rings.to_vec(), tree: RTree::bulk_load(items) }
    }

    /// Whether the segment from `a` to `b` is clear of every footprint but those that hold `a`
    /// or `b`.
    pub fn clear(&self, a: (f64, f64), b: (f64, f64)) -> bool {
        if self.rings.is_empty() {
            return true;
        }
        let env = AABB::from_corners([a.0.min(b.0), a.1.min(b.1)], [a.0.max(b.0), a.1.max(b.1)]);
        for g in self.tree.locate_in_envelope_intersecting(&env) {
            let r = &self.rings[g.data];
            if inside(r, a.0, a.1) || inside(r, b.0, b.1) {
                continue;
            }
            let n = r.len();
            if (0..n).any(|i| segments_cross(a, b, r[i], r[(i + 1) % n])) {
                return false;
            }
        }
        true
    }
}

/// The demand points as an R-tree of positions with their index.
pub fn demand_tree(p: &Problem) -> RTree<GeomWithData<[f64; 2], u32>> {
    RTree::bulk_load(p.demand.iter().enumerate().map(|(i, d)| GeomWithData::new([d.x, d.y], i as u32)).collect())
}

#[allow(clippy::too_many_arguments)]
fn seen(
    tree: &RTree<GeomWithData<[f64; 2], u32>>,
    walls: &Walls,
    at: (f64, f64),
    heading: Option<f64>,
    hfov: f64,
    reach: f64,
    blind: f64,
) -> Vec<u32> {
    let mut out: Vec<u32> = tree
        .locate_within_distance([at.0, at.1], reach * reach)
        .filter(|g| {
            let (dx, dy) = (g.geom()[0] - at.0, g.geom()[1] - at.1);
            let d = dx.hypot(dy);
            if d < blind {
                return false;
            }
            if let Some(h) = heading {
                if d > 1e-9 && angle_between(bearing_deg(dx, dy), h) > hfov / 2.0 {
                    return false;
                }
            }
            walls.clear(at, (g.geom()[0], g.geom()[1]))
        })
        .map(|g| g.data)
        .collect();
    out.sort_unstable();
    out
}

/// Every option of the problem with what it sees (the options the instance gave, if it gave
/// any). Options that see nothing are left out.
pub fn options(p: &Problem) -> Vec<Opt> {
    options_until(p, None, None).unwrap_or_default()
}

/// [`options`], giving up (`None`) as soon as `cancel` is set, telling `progress` the share of
/// the candidates done (about every 1%).
pub fn options_until(
    p: &Problem,
    cancel: Option<&std::sync::atomic::AtomicBool>,
    progress: Option<&dyn Fn(f64)>,
) -> Option<Vec<Opt>> {
    if let Some(given) = &p.options {
        return Some(given.clone());
    }
    let tree = demand_tree(p);
    let walls = Walls::new(&p.buildings);
    let mut out = Vec::new();
    let every = (p.candidates.len() / 100).max(1);
    for (ci, c) in p.candidates.iter().enumerate() {
        if cancel.is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed)) {
            return None;
        }
        if let Some(f) = progress {
            if ci % every == 0 {
                f(ci as f64 / p.candidates.len() as f64);
            }
        }
        let blind = blind_radius_m(c.mount_height_m);
        for &mi in &c.models {
            let m = &p.models[mi];
            let reach = m.reach_m(p.purpose);
            let cost = c.cost + m.cost;
            let headings: Vec<Option<f64>> = if m.ptz {
                vec![None]
            } else {
                (0..p.headings).map(|k| Some(f64::from(k) * 360.0 / f64::from(p.headings))).collect()
            };
            for heading in headings {
                let covers = seen(&tree, &walls, (c.x, c.y), heading, m.hfov_deg, reach, blind);
                if !covers.is_empty() {
                    out.push(Opt { candidate: ci, model: mi, heading, cost, covers, id: None });
                }
            }
        }
    }
    Some(out)
}

/// How many existing cameras see each demand point.
pub fn existing_counts(p: &Problem) -> Vec<u8> {
    let tree = demand_tree(p);
    let walls = Walls::new(&p.buildings);
    let frame = Frame::new(p.origin);
    let mut counts = vec![0u8; p.demand.len()];
    for e in &p.existing {
        let at = frame.xy(e.lon, e.lat);
        let heading = if e.ptz { None } else { Some(e.heading_deg) };
        for i in seen(&tree, &walls, at, heading, e.hfov_deg, e.range_m, 0.0) {
            counts[i as usize] = counts[i as usize].saturating_add(1);
        }
    }
    counts
}
