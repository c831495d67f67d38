//! In-memory spatial indexes over the registry: which cameras can see this point or this site,
//! what lies within a radius, what lies inside a drawn polygon.
//!
//! Why it exists: an operator clicking on the map, an alarm arriving from a sensor, or the
//! planner scoring a key site all ask "who can see here?", and must get an answer in
//! microseconds from a registry of up to hundreds of thousands of cameras. The store holds the
//! truth; these indexes are derived copies that the caller keeps in step with it
//! ([`CameraIndex::upsert`], [`CameraIndex::remove`], and the same on [`PointIndex`]). They do no
//! I/O and hold no locks: wrap one in an `RwLock` (or swap a rebuilt one in) to share it.
//!
//! Invariants:
//! - **Results equal a brute-force scan.** Every query returns exactly what checking every
//!   indexed item with the domain's functions ([`polis_domain::geometry::sees`],
//!   [`polis_domain::geometry::sees_site`], [`polis_domain::geometry::distance_m`],
//!   [`polis_domain::geometry::distance_to_site_m`]) would return: the same ids, in the same
//!   order (distance, then id), with the same distances. The R-tree boxes and the flat-frame
//!   pre-filter only discard candidates that surely fail, and rank the rest by a lower bound of
//!   their distance; "surely" rests on error bounds with a wide margin over the errors measured
//!   against the geodesic (see `frame.rs`), and the property tests check the whole against a
//!   scan, edges of views included.
//! - **Distances are geodesic on WGS84** (Karney's algorithm through `geo`), in metres. Bounding
//!   boxes are in degrees with a margin, and span every longitude across the antimeridian or
//!   near a pole, so no item is ever missed there.
//! - Ids are unique within an index: `upsert` replaces the item with the same id.
//! - The index does not look at a camera's status: index the cameras that should be found.

mod camera;
mod frame;
mod points;
pub mod synthetic;

pub use camera::CameraIndex;
pub use points::PointIndex;

use polis_domain::Id;
use std::cmp::Ordering;
use std::collections::HashMap;

/// One answer to a query: the item's id and its geodesic distance in metres from the query
/// (for a site or a polygon item, to its nearest point; 0 inside).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: Id,
    pub distance_m: f64,
}

/// Municipality ids as small numbers, so the scope filter is an integer comparison.
#[derive(Debug, Default)]
struct Scopes {
    codes: HashMap<Id, u32>,
}

impl Scopes {
    fn code(&mut self, m: &Id) -> u32 {
        let next = self.codes.len() as u32;
        *self.codes.entry(m.clone()).or_insert(next)
    }

    /// `Ok(None)` for no scope, `Ok(Some(code))` for a known one, `Err(())` for a municipality
    /// that has nothing indexed (the answer is empty).
    fn lookup(&self, scope: Option<&Id>) -> Result<Option<u32>, ()> {
        match scope {
            None => Ok(None),
            Some(m) => self.codes.get(m).copied().map(Some).ok_or(()),
        }
    }
}

/// A candidate found by the tree: a lower bound of its distance and a reference to it.
struct Candidate<T> {
    lower: f64,
    item: T,
}

/// Checks candidates nearest-bound first and keeps the `limit` best hits by (distance, id).
/// `exact` returns the item's exact distance if it is a hit, which must not be below the
/// candidate's lower bound; checking stops once no remaining candidate can enter the result.
fn best_hits<T, E, I>(mut cands: Vec<Candidate<T>>, limit: usize, mut exact: E, id: I) -> Vec<Hit>
where
    E: FnMut(&T) -> Option<f64>,
    I: Fn(&T) -> &str,
{
    if limit == 0 {
        return Vec::new();
    }
    cands.sort_unstable_by(|a, b| a.lower.total_cmp(&b.lower));
    let mut hits: Vec<(f64, &T)> = Vec::with_capacity(limit.min(cands.len()));
    for c in &cands {
        if hits.len() >= limit && c.lower > hits[limit - 1].0 {
            break;
        }
        let Some(d) = exact(&c.item) else { continue };
        let order = |h: &(f64, &T)| h.0.total_cmp(&d).then_with(|| id(h.1).cmp(id(&c.item)));
        let at = hits.partition_point(|h| order(h) == Ordering::Less);
        if at < limit {
            hits.insert(at, (d, &c.item));
            hits.truncate(limit);
        }
    }
    hits.into_iter().map(|(d, item)| Hit { id: Id::from_trusted(id(item)), distance_m: d }).collect()
}
