//! The planning instance: the documented JSON input (`docs/ref/plan-input.md`), checked and
//! turned into a [`Problem`] in a flat local frame in metres.

use crate::model::{CameraModel, Dori};
use polis_base::{Error, Result};
use polis_domain::LatLon;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[lon, lat]` in degrees, as in GeoJSON.
pub type Lonlat = [f64; 2];

/// A planning instance as written in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    #[serde(default)]
    pub name: String,
    /// The level of detail the plan is for (default `recognise`).
    #[serde(default = "default_purpose")]
    pub purpose: Dori,
    /// Discrete headings tried for fixed cameras (default 8).
    #[serde(default = "default_headings")]
    pub headings: u32,
    /// The planning area (a polygon ring of `[lon, lat]`): candidates must be inside it.
    #[serde(default)]
    pub area: Option<Vec<Lonlat>>,
    /// Demand points given one by one.
    #[serde(default)]
    pub demand: Vec<DemandPoint>,
    /// Key sites turned into demand points (their point, or points sampled inside their polygon).
    #[serde(default)]
    pub sites: Vec<SiteDemand>,
    /// The municipality's weight of each sector (default 1 for any sector not named).
    #[serde(default)]
    pub sector_weights: BTreeMap<String, f64>,
    pub candidates: Vec<Candidate>,
    pub models: Vec<CameraModel>,
    #[serde(default)]
    pub existing: Vec<ExistingCamera>,
    /// Building footprints (polygon rings of `[lon, lat]`) that block the view.
    #[serde(default)]
    pub buildings: Vec<Vec<Lonlat>>,
    /// The budget of each phase (each phase spends its own; phases are nested: phase 2 adds to
    /// phase 1's cameras). May be left out when `max_cameras` limits the phases instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<f64>,
    /// The most new cameras of each phase (instead of or besides the budgets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub max_cameras: Vec<u32>,
    /// Options with their coverage given (a viewshed analysis made elsewhere): when present the
    /// plan chooses among these only, and nothing is computed from the geometry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<GivenOption>,
}

/// An option given with its coverage: a camera of `model` on `candidate` at `heading`, seeing
/// the demand points `covers` (their ids, or a site's id for all of its points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GivenOption {
    pub id: String,
    pub candidate: String,
    pub model: String,
    /// Degrees clockwise from north; required for a fixed model, ignored for a PTZ one.
    #[serde(default)]
    pub heading: Option<f64>,
    /// The whole cost of the camera there (default: the candidate's cost plus the model's).
    #[serde(default)]
    pub cost: Option<f64>,
    pub covers: Vec<String>,
}

fn default_purpose() -> Dori {
    Dori::Recognise
}
fn default_headings() -> u32 {
    8
}
fn one() -> u8 {
    1
}
fn default_mount() -> f64 {
    6.0
}
fn one_slot() -> u32 {
    1
}
/// The most cameras one mounting point may hold.
pub const MAX_SLOTS: u32 = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandPoint {
    pub id: String,
    pub lon: f64,
    pub lat: f64,
    pub weight: f64,
    #[serde(default)]
    pub sector: Option<String>,
    /// How many cameras must see it: 1, or 2 for critical objects (backup coverage).
    #[serde(default = "one")]
    pub required: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteDemand {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// 1 (highest) to 5: the site's weight is `6 - priority` times its sector's weight, shared
    /// among its demand points.
    pub priority: u8,
    pub sector: String,
    #[serde(default)]
    pub point: Option<Lonlat>,
    #[serde(default)]
    pub polygon: Option<Vec<Lonlat>>,
    /// Spacing of the points sampled inside a polygon, metres (default 20).
    #[serde(default)]
    pub spacing_m: Option<f64>,
    /// Critical objects need two cameras.
    #[serde(default)]
    pub critical: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    pub id: String,
    /// Where it is, for people ("Levski school, pole 3 (east)"); the report and the console
    /// name its cameras by it (default: the id).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub lon: f64,
    pub lat: f64,
    /// The cost of mounting a camera here (pole, power, network), added to the model's price.
    pub cost: f64,
    /// The models allowed here (empty: every model).
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default = "default_mount")]
    pub mount_height_m: f64,
    /// How many cameras the mounting point may hold (default 1; a pole often takes 2 to 4).
    #[serde(default = "one_slot")]
    pub slots: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExistingCamera {
    pub id: String,
    pub lon: f64,
    pub lat: f64,
    pub heading_deg: f64,
    pub hfov_deg: f64,
    pub range_m: f64,
    #[serde(default)]
    pub ptz: bool,
}

/// A demand point in the local frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    pub id: String,
    pub x: f64,
    pub y: f64,
    pub weight: f64,
    pub required: u8,
    pub sector: String,
    /// The site it was sampled from, if any.
    pub site: Option<String>,
}

/// A candidate in the local frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub id: String,
    /// Where it is, for people (the id when the instance gave no name).
    pub name: String,
    pub x: f64,
    pub y: f64,
    pub cost: f64,
    pub models: Vec<usize>,
    pub mount_height_m: f64,
    /// The most cameras it may hold.
    pub slots: u32,
}

/// The checked instance in metres around `origin`.
#[derive(Debug, Clone)]
pub struct Problem {
    pub name: String,
    pub origin: LatLon,
    pub purpose: Dori,
    pub headings: u32,
    pub demand: Vec<Demand>,
    pub candidates: Vec<Site>,
    pub models: Vec<CameraModel>,
    pub existing: Vec<ExistingCamera>,
    /// Footprints in the local frame.
    pub buildings: Vec<Vec<(f64, f64)>>,
    /// The money of each phase; `f64::INFINITY` when only a camera count limits it.
    pub budgets: Vec<f64>,
    /// The most new cameras of each phase (`None`: only money limits it); as long as `budgets`.
    pub max_cameras: Vec<Option<usize>>,
    /// The options given with their coverage (`None`: computed from the geometry).
    pub options: Option<Vec<crate::coverage::Opt>>,
    /// The key sites' names by id (the id when the instance gave no name), for reports.
    pub site_names: BTreeMap<String, String>,
}

/// Metres per degree of latitude (mean), for the local frame.
const M_PER_DEG: f64 = 111_195.0;

/// The flat local frame around an origin.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub origin: LatLon,
    kx: f64,
}

impl Frame {
    pub fn new(origin: LatLon) -> Frame {
        Frame { origin, kx: M_PER_DEG * origin.lat().to_radians().cos() }
    }
    pub fn xy(&self, lon: f64, lat: f64) -> (f64, f64) {
        ((lon - self.origin.lon()) * self.kx, (lat - self.origin.lat()) * M_PER_DEG)
    }
    pub fn lonlat(&self, x: f64, y: f64) -> Lonlat {
        [self.origin.lon() + x / self.kx, self.origin.lat() + y / M_PER_DEG]
    }
}

/// Whether (x, y) is inside the ring (even-odd rule).
pub fn inside(ring: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut c = false;
    let n = ring.len();
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        if (a.1 > y) != (b.1 > y) && x < a.0 + (y - a.1) * (b.0 - a.0) / (b.1 - a.1) {
            c = !c;
        }
    }
    c
}

fn latlon(field: &str, lon: f64, lat: f64) -> Result<LatLon> {
    LatLon::new(lat, lon).map_err(|e| Error::invalid(field, e.message))
}

fn ring(field: &str, r: &[Lonlat], frame: &Frame) -> Result<Vec<(f64, f64)>> {
    let pts = r.iter().map(|p| latlon(field, p[0], p[1])).collect::<Result<Vec<_>>>()?;
    let mut pts = pts;
    if pts.len() > 3 && pts.first() == pts.last() {
        pts.pop();
    }
    polis_domain::incident::check_area(&pts).map_err(|e| Error::invalid(field, e.message))?;
    Ok(pts.iter().map(|p| frame.xy(p.lon(), p.lat())).collect())
}

impl Instance {
    /// Parses the JSON file format; errors name the line and column.
    pub fn from_json(text: &str) -> Result<Instance> {
        serde_json::from_str(text).map_err(|e| {
            Error::invalid("instance", format!("not a valid instance at line {}, column {}: {e}", e.line(), e.column()))
        })
    }

    /// Checks everything and projects it; every error names the item.
    pub fn problem(&self) -> Result<Problem> {
        if self.models.is_empty() {
            return Err(Error::invalid("models", "name at least one camera model"));
        }
        for m in &self.models {
            m.check()?;
        }
        if self.candidates.is_empty() {
            return Err(Error::invalid("candidates", "name at least one candidate mounting point"));
        }
        if !(1..=36).contains(&self.headings) {
            return Err(Error::invalid("headings", "must be from 1 to 36 (8 or 16 usually)"));
        }
        if self.budgets.is_empty() && self.max_cameras.is_empty() {
            return Err(Error::invalid("budgets", "give the budget (or max_cameras) of at least one phase"));
        }
        if !self.budgets.is_empty() && !self.max_cameras.is_empty() && self.budgets.len() != self.max_cameras.len() {
            return Err(Error::invalid(
                "max_cameras",
                format!(
                    "give one count per phase: {} budgets but {} counts",
                    self.budgets.len(),
                    self.max_cameras.len()
                ),
            ));
        }
        for (k, n) in self.max_cameras.iter().enumerate() {
            if *n == 0 {
                return Err(Error::invalid(
                    format!("max_cameras[{k}]"),
                    "must be 1 or more: the phase could buy nothing",
                ));
            }
        }
        // The origin: the mean of the candidates (every instance has some).
        let n = self.candidates.len() as f64;
        let (lon, lat) = self.candidates.iter().fold((0.0, 0.0), |(a, b), c| (a + c.lon / n, b + c.lat / n));
        let origin = latlon("candidates", lon, lat)?;
        let frame = Frame::new(origin);
        let area = match &self.area {
            Some(r) => Some(ring("area", r, &frame)?),
            None => None,
        };
        let model_index: BTreeMap<&str, usize> =
            self.models.iter().enumerate().map(|(i, m)| (m.id.as_str(), i)).collect();
        let mut candidates = Vec::with_capacity(self.candidates.len());
        for c in &self.candidates {
            let field = format!("candidates[{}]", c.id);
            latlon(&field, c.lon, c.lat)?;
            let (x, y) = frame.xy(c.lon, c.lat);
            if let Some(a) = &area {
                if !inside(a, x, y) {
                    return Err(Error::invalid(field, "is outside the planning area"));
                }
            }
            if !(c.cost >= 0.0 && c.cost.is_finite()) {
                return Err(Error::invalid(format!("{field}.cost"), "must be a number, 0 or more"));
            }
            if !(1..=MAX_SLOTS).contains(&c.slots) {
                return Err(Error::invalid(
                    format!("{field}.slots"),
                    format!("must be from 1 to {MAX_SLOTS} cameras on one mounting point"),
                ));
            }
            let models = if c.models.is_empty() {
                (0..self.models.len()).collect()
            } else {
                c.models
                    .iter()
                    .map(|m| {
                        model_index
                            .get(m.as_str())
                            .copied()
                            .ok_or_else(|| Error::invalid(format!("{field}.models"), format!("no model {m:?}")))
                    })
                    .collect::<Result<Vec<_>>>()?
            };
            candidates.push(Site {
                id: c.id.clone(),
                name: if c.name.trim().is_empty() { c.id.clone() } else { c.name.trim().to_string() },
                x,
                y,
                cost: c.cost,
                models,
                mount_height_m: c.mount_height_m.max(0.0),
                slots: c.slots,
            });
        }
        let given_costs = self.given_costs(&candidates, &model_index)?;
        let cheapest = match &given_costs {
            Some(costs) => costs.iter().copied().fold(f64::INFINITY, f64::min),
            None => candidates
                .iter()
                .flat_map(|c| c.models.iter().map(move |m| c.cost + self.models[*m].cost))
                .fold(f64::INFINITY, f64::min),
        };
        for (k, b) in self.budgets.iter().enumerate() {
            if !(b.is_finite() && *b >= cheapest) {
                return Err(Error::invalid(
                    format!("budgets[{k}]"),
                    format!("{b} is below the cheapest camera ({cheapest}): the phase could buy nothing"),
                ));
            }
        }
        let sector_weight = |s: &str| self.sector_weights.get(s).copied().unwrap_or(1.0);
        let mut demand = Vec::new();
        for d in &self.demand {
            let field = format!("demand[{}]", d.id);
            latlon(&field, d.lon, d.lat)?;
            if !(d.weight >= 0.0 && d.weight.is_finite()) {
                return Err(Error::invalid(format!("{field}.weight"), "must be a number, 0 or more"));
            }
            if !(1..=2).contains(&d.required) {
                return Err(Error::invalid(format!("{field}.required"), "must be 1 or 2"));
            }
            let (x, y) = frame.xy(d.lon, d.lat);
            let sector = d.sector.clone().unwrap_or_else(|| "other".into());
            let weight = d.weight * sector_weight(&sector);
            demand.push(Demand { id: d.id.clone(), x, y, weight, required: d.required, sector, site: None });
        }
        for s in &self.sites {
            let field = format!("sites[{}]", s.id);
            if !(1..=5).contains(&s.priority) {
                return Err(Error::invalid(format!("{field}.priority"), "must be from 1 (highest) to 5"));
            }
            let points: Vec<(f64, f64)> = match (&s.point, &s.polygon) {
                (Some(p), None) => {
                    latlon(&field, p[0], p[1])?;
                    vec![frame.xy(p[0], p[1])]
                }
                (None, Some(poly)) => {
                    let r = ring(&format!("{field}.polygon"), poly, &frame)?;
                    let spacing = s.spacing_m.unwrap_or(20.0);
                    if !(spacing >= 1.0 && spacing.is_finite()) {
                        return Err(Error::invalid(format!("{field}.spacing_m"), "must be at least 1 metre"));
                    }
                    sample(&r, spacing)
                }
                _ => return Err(Error::invalid(&field, "give either a point or a polygon")),
            };
            if points.is_empty() {
                return Err(Error::invalid(
                    &field,
                    "has no demand points: its polygon is smaller than the sampling spacing; use a smaller spacing_m or a point",
                ));
            }
            let w = f64::from(6 - s.priority) * sector_weight(&s.sector) / points.len() as f64;
            for (i, (x, y)) in points.into_iter().enumerate() {
                demand.push(Demand {
                    id: format!("{}#{i}", s.id),
                    x,
                    y,
                    weight: w,
                    required: if s.critical { 2 } else { 1 },
                    sector: s.sector.clone(),
                    site: Some(s.id.clone()),
                });
            }
        }
        if demand.is_empty() {
            return Err(Error::invalid("demand", "there is nothing to watch: give demand points or sites"));
        }
        let buildings = self
            .buildings
            .iter()
            .enumerate()
            .map(|(i, b)| ring(&format!("buildings[{i}]"), b, &frame))
            .collect::<Result<Vec<_>>>()?;
        let existing = self
            .existing
            .iter()
            .map(|e| {
                let field = format!("existing[{}]", e.id);
                latlon(&field, e.lon, e.lat)?;
                if !(e.range_m.is_finite() && e.range_m > 0.0) {
                    return Err(Error::invalid(format!("{field}.range_m"), "must be a positive number of metres"));
                }
                if !(e.hfov_deg.is_finite() && e.hfov_deg > 0.0 && e.hfov_deg <= 360.0) {
                    return Err(Error::invalid(
                        format!("{field}.hfov_deg"),
                        "must be more than 0 and at most 360 degrees",
                    ));
                }
                if !e.heading_deg.is_finite() {
                    return Err(Error::invalid(format!("{field}.heading_deg"), "must be a number of degrees"));
                }
                Ok(e.clone())
            })
            .collect::<Result<Vec<_>>>()?;
        let options = match given_costs {
            Some(costs) => Some(self.given_options(&candidates, &model_index, &costs, &demand)?),
            None => None,
        };
        Ok(Problem {
            name: self.name.clone(),
            origin,
            purpose: self.purpose,
            headings: self.headings,
            demand,
            candidates,
            models: self.models.clone(),
            existing,
            buildings,
            budgets: if self.budgets.is_empty() {
                vec![f64::INFINITY; self.max_cameras.len()]
            } else {
                self.budgets.clone()
            },
            max_cameras: if self.max_cameras.is_empty() {
                vec![None; self.budgets.len()]
            } else {
                self.max_cameras.iter().map(|n| Some(*n as usize)).collect()
            },
            options,
            site_names: self
                .sites
                .iter()
                .map(|s| {
                    (s.id.clone(), if s.name.trim().is_empty() { s.id.clone() } else { s.name.trim().to_string() })
                })
                .collect(),
        })
    }

    /// The given options' costs, checked (candidate, model, heading, cost, ids used once);
    /// `None` when the instance gives no options. Their coverage is resolved later, once the
    /// demand points are known.
    fn given_costs(&self, candidates: &[Site], model_index: &BTreeMap<&str, usize>) -> Result<Option<Vec<f64>>> {
        if self.options.is_empty() {
            return Ok(None);
        }
        let cand_index: BTreeMap<&str, usize> =
            candidates.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut costs = Vec::with_capacity(self.options.len());
        for o in &self.options {
            let field = format!("options[{}]", o.id);
            if !seen.insert(o.id.as_str()) {
                return Err(Error::invalid(field, "the option id is used twice"));
            }
            let Some(&ci) = cand_index.get(o.candidate.as_str()) else {
                return Err(Error::invalid(format!("{field}.candidate"), format!("no candidate {:?}", o.candidate)));
            };
            let Some(&mi) = model_index.get(o.model.as_str()) else {
                return Err(Error::invalid(format!("{field}.model"), format!("no model {:?}", o.model)));
            };
            if !candidates[ci].models.contains(&mi) {
                return Err(Error::invalid(
                    format!("{field}.model"),
                    format!("model {:?} is not allowed on candidate {:?}", o.model, o.candidate),
                ));
            }
            if !self.models[mi].ptz && !o.heading.is_some_and(f64::is_finite) {
                return Err(Error::invalid(
                    format!("{field}.heading"),
                    "give the heading of a fixed camera (degrees clockwise from north)",
                ));
            }
            let cost = o.cost.unwrap_or(candidates[ci].cost + self.models[mi].cost);
            if !(cost >= 0.0 && cost.is_finite()) {
                return Err(Error::invalid(format!("{field}.cost"), "must be a number, 0 or more"));
            }
            costs.push(cost);
        }
        Ok(Some(costs))
    }

    /// The given options with what each sees (demand indices): every id in `covers` must name a
    /// demand point or a site (all of its points). Options that see nothing are left out.
    fn given_options(
        &self,
        candidates: &[Site],
        model_index: &BTreeMap<&str, usize>,
        costs: &[f64],
        demand: &[Demand],
    ) -> Result<Vec<crate::coverage::Opt>> {
        let cand_index: BTreeMap<&str, usize> =
            candidates.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
        let mut points: std::collections::HashMap<&str, Vec<u32>> = std::collections::HashMap::new();
        for (i, d) in demand.iter().enumerate() {
            points.entry(d.id.as_str()).or_default().push(i as u32);
        }
        let mut by_site: std::collections::HashMap<&str, Vec<u32>> = std::collections::HashMap::new();
        for (i, d) in demand.iter().enumerate() {
            if let Some(s) = &d.site {
                by_site.entry(s.as_str()).or_default().push(i as u32);
            }
        }
        let mut out = Vec::with_capacity(self.options.len());
        for (o, &cost) in self.options.iter().zip(costs) {
            let field = format!("options[{}]", o.id);
            // Checked by `given_costs`.
            let (Some(&candidate), Some(&model)) =
                (cand_index.get(o.candidate.as_str()), model_index.get(o.model.as_str()))
            else {
                return Err(Error::invalid(field, "unknown candidate or model"));
            };
            let mut covers = Vec::with_capacity(o.covers.len());
            for (k, id) in o.covers.iter().enumerate() {
                match points.get(id.as_str()).or_else(|| by_site.get(id.as_str())) {
                    Some(is) => covers.extend_from_slice(is),
                    None => {
                        return Err(Error::invalid(
                            format!("{field}.covers[{k}]"),
                            format!("no demand point or site {id:?}"),
                        ))
                    }
                }
            }
            covers.sort_unstable();
            covers.dedup();
            if covers.is_empty() {
                continue;
            }
            let heading = if self.models[model].ptz { None } else { o.heading.map(|h| h.rem_euclid(360.0)) };
            out.push(crate::coverage::Opt { candidate, model, heading, cost, covers, id: Some(o.id.clone()) });
        }
        Ok(out)
    }
}

/// Points on a square grid of `spacing` inside the ring, the grid centred on the ring's box.
pub fn sample(ring: &[(f64, f64)], spacing: f64) -> Vec<(f64, f64)> {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for &(x, y) in ring {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let nx = ((x1 - x0) / spacing).floor() as i64;
    let ny = ((y1 - y0) / spacing).floor() as i64;
    let (ox, oy) = (x0 + ((x1 - x0) - nx as f64 * spacing) / 2.0, y0 + ((y1 - y0) - ny as f64 * spacing) / 2.0);
    let mut out = Vec::new();
    for i in 0..=nx {
        for j in 0..=ny {
            let (x, y) = (ox + i as f64 * spacing, oy + j as f64 * spacing);
            if inside(ring, x, y) {
                out.push((x, y));
            }
        }
    }
    out
}
