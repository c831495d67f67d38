//! Planning scenarios built from a registry: the key sites become demand (priority and sector
//! weights; critical objects need two cameras), installed cameras count as covering, and
//! candidate mounting points are generated around the sites (street-light poles a few dozen
//! metres away, on eight bearings) with costs, so a planner can start from what the city has.

use polis_base::{Error, FieldError, Result};
use polis_domain::geometry::{destination, distance_m};
use polis_domain::{Camera, CameraKind, CameraStatus, LatLon, Sector, Site, SiteCategory, SiteGeometry};
use polis_plan::instance::{Candidate, ExistingCamera, Instance, SiteDemand, MAX_SLOTS};
use polis_plan::model::{CameraModel, Dori};
use std::collections::{BTreeMap, HashSet};

/// Sites whose categories make them critical objects (watched by two cameras).
fn critical(s: &Site) -> bool {
    matches!(s.category, SiteCategory::School | SiteCategory::Dam | SiteCategory::Hospital)
}

/// The bearings of the poles generated around a site, in order (every 45 degrees from north).
const BEARINGS: [&str; 8] = ["north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west"];

/// The most phases a registry scenario may have.
pub const MAX_PHASES: usize = 10;
/// The most extra candidate mounting points a registry scenario may name.
pub const MAX_EXTRA_CANDIDATES: usize = 500;
/// How far (metres) an extra candidate may be from the nearest chosen site.
pub const EXTRA_CANDIDATE_REACH_M: f64 = 20_000.0;
/// The base cost of a generated pole (the busier bearings cost 150 or 300 more).
pub const DEFAULT_POLE_COST: f64 = 600.0;
/// The level of detail a registry scenario plans for unless told otherwise.
pub const DEFAULT_PURPOSE: Dori = Dori::Observe;

/// The camera models on offer to registry scenarios.
pub fn catalogue() -> Vec<CameraModel> {
    polis_plan::synthetic::catalogue()
}

/// The default weight of each sector.
pub fn default_sector_weights() -> BTreeMap<Sector, f64> {
    [(Sector::Safety, 1.5), (Sector::Disaster, 1.3), (Sector::Transport, 1.0), (Sector::Tourism, 0.8)]
        .into_iter()
        .collect()
}

/// A key site chosen for a plan, optionally with its priority or critical flag changed for this
/// plan only.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteChoice {
    pub id: String,
    /// 1 (highest) to 5; `None` keeps the site's own.
    pub priority: Option<i64>,
    /// `None` keeps the rule by category (schools, hospitals and dams are critical).
    pub critical: Option<bool>,
}

impl SiteChoice {
    pub fn new(id: impl Into<String>) -> SiteChoice {
        SiteChoice { id: id.into(), priority: None, critical: None }
    }
}

/// An extra candidate mounting point (a municipal building, say), besides the generated poles.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraCandidate {
    /// `None`: `extra-N`, N counting from 1 in the order given.
    pub id: Option<String>,
    pub lat: f64,
    pub lon: f64,
    /// The cost of mounting a camera there (added to the model's price).
    pub cost: f64,
    /// How many cameras it may hold (`None`: the scenario's `slots`).
    pub slots: Option<u32>,
}

/// What a registry scenario plans, beyond the registry itself: every part has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioOptions {
    /// The budget of each phase (1 to [`MAX_PHASES`] phases); empty when `max_cameras` alone
    /// limits the phases.
    pub budgets: Vec<f64>,
    /// The most new cameras of each phase (empty: money alone limits them; else one per phase).
    pub max_cameras: Vec<u32>,
    /// The key sites to plan for, in the order given (`None`: every site of the municipality).
    pub sites: Option<Vec<SiteChoice>>,
    /// Weights replacing the defaults of the sectors named.
    pub sector_weights: BTreeMap<Sector, f64>,
    /// The catalogue models allowed, by name (`None`: all).
    pub models: Option<Vec<String>>,
    /// Extra candidate mounting points.
    pub candidates: Vec<ExtraCandidate>,
    /// Whether poles are generated around the chosen sites.
    pub generate_poles: bool,
    /// The generated poles' base cost.
    pub pole_cost: f64,
    /// The level of detail planned for.
    pub purpose: Dori,
    /// How many cameras each mounting point may hold (1 to [`polis_plan::instance::MAX_SLOTS`]).
    pub slots: u32,
}

impl ScenarioOptions {
    /// Every site, every model, generated poles, `phases` equal budgets.
    pub fn equal_phases(phases: usize, budget_per_phase: f64) -> ScenarioOptions {
        ScenarioOptions {
            budgets: vec![budget_per_phase; phases],
            max_cameras: Vec::new(),
            sites: None,
            sector_weights: BTreeMap::new(),
            models: None,
            candidates: Vec::new(),
            generate_poles: true,
            pole_cost: DEFAULT_POLE_COST,
            purpose: DEFAULT_PURPOSE,
            slots: 1,
        }
    }
}

/// `[lon, lat]`, as the instance format writes positions.
type Lonlat = polis_plan::instance::Lonlat;

/// The point a site is planned from (a polygon's vertex mean) and its demand geometry.
fn site_geometry(s: &Site) -> (LatLon, Option<Lonlat>, Option<Vec<Lonlat>>) {
    match &s.geometry {
        SiteGeometry::Point(p) => (*p, Some([p.lon(), p.lat()]), None),
        SiteGeometry::Polygon(r) => {
            let n = r.len().max(1) as f64;
            let (lat, lon) = r.iter().fold((0.0, 0.0), |(a, b), p| (a + p.lat() / n, b + p.lon() / n));
            let c = LatLon::new(lat, lon).unwrap_or(r[0]);
            (c, None, Some(r.iter().map(|p| [p.lon(), p.lat()]).collect()))
        }
    }
}

/// A scenario from the sites and cameras of a registry (one municipality's): the chosen key
/// sites become demand (their priority and sector's weight; critical objects need two cameras),
/// the installed cameras count as covering, and the candidates are poles generated around the
/// chosen sites (eight bearings at 30 m) and the extra points given.
///
/// Every problem with the options is reported at once, each naming its field as the API does
/// (`sites[i]`, `sites[i].priority`, `models[i]`, `sector_weights.S`, `candidates[i]`, ...).
/// Budgets are checked when the instance is (`Instance::problem`).
pub fn scenario(name: &str, sites: &[Site], cameras: &[Camera], opts: &ScenarioOptions) -> Result<Instance> {
    let mut errors = Vec::new();
    // The sites, in the order chosen, with their overrides.
    let chosen: Vec<(&Site, Option<u8>, Option<bool>)> = match &opts.sites {
        None => sites.iter().map(|s| (s, None, None)).collect(),
        Some(choices) => {
            if choices.is_empty() {
                errors.push(FieldError::new("sites", "choose at least one key site"));
            }
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for (i, c) in choices.iter().enumerate() {
                let field = format!("sites[{i}]");
                let Some(site) = sites.iter().find(|s| s.id.as_str() == c.id) else {
                    errors.push(FieldError::new(&field, format!("no key site {:?} in this municipality", c.id)));
                    continue;
                };
                if !seen.insert(c.id.as_str()) {
                    errors.push(FieldError::new(&field, format!("site {:?} is chosen twice", c.id)));
                    continue;
                }
                let priority = match c.priority {
                    Some(p) if (1..=5).contains(&p) => Some(p as u8),
                    Some(_) => {
                        errors.push(FieldError::new(format!("{field}.priority"), "must be from 1 (highest) to 5"));
                        None
                    }
                    None => None,
                };
                out.push((site, priority, c.critical));
            }
            out
        }
    };
    let mut weights = default_sector_weights();
    for (sector, w) in &opts.sector_weights {
        if !(w.is_finite() && *w >= 0.0) {
            errors.push(FieldError::new(format!("sector_weights.{sector}"), "must be a number, 0 or more"));
        }
        weights.insert(*sector, *w);
    }
    let all = catalogue();
    let models = match &opts.models {
        None => all,
        Some(names) => {
            if names.is_empty() {
                errors.push(FieldError::new("models", "allow at least one camera model"));
            }
            let mut out: Vec<CameraModel> = Vec::new();
            for (i, n) in names.iter().enumerate() {
                match all.iter().find(|m| &m.id == n) {
                    Some(_) if out.iter().any(|m| &m.id == n) => {
                        errors.push(FieldError::new(format!("models[{i}]"), format!("model {n:?} is named twice")))
                    }
                    Some(m) => out.push(m.clone()),
                    None => errors.push(FieldError::new(
                        format!("models[{i}]"),
                        format!(
                            "no model {n:?} in the catalogue; it has: {}",
                            all.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    )),
                }
            }
            out
        }
    };
    if !(1..=MAX_SLOTS).contains(&opts.slots) {
        errors.push(FieldError::new("slots", format!("must be from 1 to {MAX_SLOTS} cameras on one mounting point")));
    }
    if opts.generate_poles && !(opts.pole_cost.is_finite() && opts.pole_cost >= 0.0) {
        errors.push(FieldError::new("pole_cost", "must be a number, 0 or more"));
    }
    if !opts.generate_poles && opts.candidates.is_empty() {
        errors
            .push(FieldError::new("candidates", "without generated poles, give at least one candidate mounting point"));
    }
    if opts.candidates.len() > MAX_EXTRA_CANDIDATES {
        errors.push(FieldError::new("candidates", format!("at most {MAX_EXTRA_CANDIDATES} extra candidates")));
    }

    let mut demand_sites = Vec::new();
    let mut candidates = Vec::new();
    let mut centres = Vec::new();
    for (s, priority, is_critical) in &chosen {
        let sector = s.sectors.first().map(|x| x.as_str()).unwrap_or("safety").to_string();
        let (centre, point, polygon) = site_geometry(s);
        centres.push(centre);
        demand_sites.push(SiteDemand {
            id: s.id.to_string(),
            name: s.name_en.clone(),
            priority: priority.unwrap_or(s.priority.get()),
            sector,
            point,
            polygon,
            spacing_m: Some(15.0),
            critical: is_critical.unwrap_or_else(|| critical(s)),
        });
        if opts.generate_poles {
            // Poles around the site: eight bearings at 30 m, costs by how busy the place is. The
            // bearings are those the fixed cameras' headings are tried at, so that a narrow lens
            // on a pole can look straight at its site.
            for k in 0..8 {
                let q = destination(centre, f64::from(k) * 45.0, 30.0);
                candidates.push(Candidate {
                    id: format!("{}-pole-{}", s.id, k + 1),
                    name: format!("{}, pole {} ({})", s.name_en, k + 1, BEARINGS[k as usize]),
                    lon: q.lon(),
                    lat: q.lat(),
                    cost: opts.pole_cost + 150.0 * f64::from(k % 3),
                    models: Vec::new(),
                    mount_height_m: 6.0,
                    slots: opts.slots,
                });
            }
        }
    }
    let mut ids: HashSet<String> = candidates.iter().map(|c| c.id.clone()).collect();
    for (i, c) in opts.candidates.iter().enumerate() {
        let field = format!("candidates[{i}]");
        let id = c.id.clone().unwrap_or_else(|| format!("extra-{}", i + 1));
        let at = match LatLon::new(c.lat, c.lon) {
            Ok(p) => p,
            Err(e) => {
                errors.push(FieldError::new(&field, e.message));
                continue;
            }
        };
        if !(c.cost.is_finite() && c.cost >= 0.0) {
            errors.push(FieldError::new(format!("{field}.cost"), "must be a number, 0 or more"));
        }
        let slots = c.slots.unwrap_or(opts.slots);
        if c.slots.is_some() && !(1..=MAX_SLOTS).contains(&slots) {
            errors.push(FieldError::new(format!("{field}.slots"), format!("must be from 1 to {MAX_SLOTS} cameras")));
        }
        if id.trim().is_empty() || !ids.insert(id.clone()) {
            errors.push(FieldError::new(format!("{field}.id"), format!("candidate id {id:?} is used twice")));
        }
        if !centres.is_empty() && centres.iter().all(|s| distance_m(*s, at) > EXTRA_CANDIDATE_REACH_M) {
            errors.push(FieldError::new(
                &field,
                format!("is more than {} km from every chosen site", EXTRA_CANDIDATE_REACH_M / 1000.0),
            ));
        }
        candidates.push(Candidate {
            name: id.clone(),
            id,
            lon: at.lon(),
            lat: at.lat(),
            cost: c.cost,
            models: Vec::new(),
            mount_height_m: 6.0,
            slots,
        });
    }
    if !errors.is_empty() {
        return Err(Error::invalid_fields("invalid planning options", errors));
    }
    let existing = cameras
        .iter()
        .filter(|c| c.status == CameraStatus::Active)
        .map(|c| ExistingCamera {
            id: c.id.to_string(),
            lon: c.position.lon(),
            lat: c.position.lat(),
            heading_deg: c.heading.deg(),
            hfov_deg: c.fov.deg(),
            range_m: c.range.m(),
            ptz: c.kind == CameraKind::Ptz,
        })
        .collect();
    Ok(Instance {
        name: name.to_string(),
        purpose: opts.purpose,
        headings: 8,
        area: None,
        demand: Vec::new(),
        sites: demand_sites,
        sector_weights: weights.iter().map(|(k, v)| (k.as_str().to_string(), *v)).collect(),
        candidates,
        models,
        existing,
        buildings: Vec::new(),
        budgets: opts.budgets.clone(),
        max_cameras: opts.max_cameras.clone(),
        options: Vec::new(),
    })
}

/// The demo city's planning scenario: every site and model, `phases` equal budgets.
pub fn demo_scenario(phases: usize, budget_per_phase: f64) -> Instance {
    let city = crate::demo::kazanlak();
    scenario(
        "Kazanlak: camera network, phases 1-3",
        &city.sites,
        &city.cameras,
        &ScenarioOptions::equal_phases(phases.max(1), budget_per_phase),
    )
    .expect("the default options fit any registry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_scenario_plans_and_improves_coverage() {
        let inst = demo_scenario(3, 15_000.0);
        let p = inst.problem().expect("a valid scenario");
        let plan = polis_plan::plan(&p, &Default::default()).expect("a plan");
        assert_eq!(plan.phases.len(), 3);
        assert!(plan.phases[2].covered_weight > plan.base_covered, "the plan adds coverage");
        assert!(plan.chosen.iter().all(|c| c.phase >= 1));
    }

    fn fields(e: &Error) -> Vec<String> {
        e.details.iter().map(|d| d.field.clone()).collect()
    }

    #[test]
    fn fewer_sites_and_models_make_a_smaller_instance() {
        let city = crate::demo::kazanlak();
        let all = scenario("all", &city.sites, &city.cameras, &ScenarioOptions::equal_phases(2, 9000.0)).unwrap();
        assert_eq!(all.sites.len(), city.sites.len());
        assert_eq!(all.candidates.len(), 8 * city.sites.len());
        assert_eq!(all.models.len(), catalogue().len());
        assert_eq!(all.budgets, vec![9000.0, 9000.0]);

        let (a, b) = (city.sites[0].id.to_string(), city.sites[3].id.to_string());
        let opts = ScenarioOptions {
            budgets: vec![5000.0, 7000.0],
            max_cameras: Vec::new(),
            sites: Some(vec![
                SiteChoice { id: b.clone(), priority: Some(5), critical: Some(true) },
                SiteChoice::new(a.clone()),
            ]),
            models: Some(vec!["tele-4mp".into()]),
            sector_weights: [(Sector::Tourism, 3.0)].into_iter().collect(),
            candidates: vec![ExtraCandidate { id: None, lat: 42.62, lon: 25.39, cost: 100.0, slots: Some(1) }],
            pole_cost: 50.0,
            purpose: Dori::Recognise,
            generate_poles: true,
            slots: 3,
        };
        let few = scenario("few", &city.sites, &city.cameras, &opts).unwrap();
        let ids: Vec<&str> = few.sites.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, [b.as_str(), a.as_str()], "only the chosen sites, in the order chosen");
        assert_eq!((few.sites[0].priority, few.sites[0].critical), (5, true), "the overrides apply");
        assert_eq!(few.sites[1].priority, city.sites[0].priority.get(), "no override keeps the site's own");
        assert_eq!(few.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["tele-4mp"]);
        assert_eq!(few.candidates.len(), 2 * 8 + 1, "poles around the two sites and the extra point");
        assert!(few.candidates.iter().all(|c| c.id.starts_with(&a) || c.id.starts_with(&b) || c.id == "extra-1"));
        assert_eq!(few.candidates.iter().map(|c| c.cost).fold(f64::INFINITY, f64::min), 50.0);
        assert_eq!(
            few.candidates[0].name,
            format!("{}, pole 1 (north)", city.sites[3].name_en),
            "poles are named by place"
        );
        assert_eq!(few.candidates[16].name, "extra-1");
        let slots: Vec<u32> = few.candidates.iter().map(|c| c.slots).collect();
        assert!(slots[..16].iter().all(|&s| s == 3) && slots[16] == 1, "poles take the scenario's slots: {slots:?}");
        assert_eq!(few.sector_weights["tourism"], 3.0);
        assert_eq!(few.sector_weights["safety"], 1.5, "sectors not named keep their default");
        assert_eq!((few.purpose, few.budgets.clone()), (Dori::Recognise, vec![5000.0, 7000.0]));
        let p = few.problem().unwrap();
        assert!(p
            .demand
            .iter()
            .all(|d| d.site.as_deref() == Some(a.as_str()) || d.site.as_deref() == Some(b.as_str())));

        // Only the extra points: no poles.
        let only = ScenarioOptions { generate_poles: false, ..opts.clone() };
        let only = scenario("only", &city.sites, &city.cameras, &only).unwrap();
        assert_eq!(only.candidates.len(), 1);
    }

    #[test]
    fn bad_options_name_every_field() {
        let city = crate::demo::kazanlak();
        let opts = ScenarioOptions {
            sites: Some(vec![
                SiteChoice::new(city.sites[0].id.to_string()),
                SiteChoice::new("no-such-site"),
                SiteChoice { id: city.sites[1].id.to_string(), priority: Some(9), critical: None },
                SiteChoice::new(city.sites[0].id.to_string()),
            ]),
            models: Some(vec!["wide-4mp".into(), "no-such-model".into()]),
            sector_weights: [(Sector::Safety, -1.0)].into_iter().collect(),
            candidates: vec![
                ExtraCandidate { id: Some("x".into()), lat: 95.0, lon: 25.0, cost: 1.0, slots: None },
                ExtraCandidate { id: Some("y".into()), lat: 42.6, lon: 25.4, cost: -1.0, slots: Some(0) },
                ExtraCandidate { id: Some("y".into()), lat: 48.0, lon: 2.0, cost: 1.0, slots: None },
            ],
            pole_cost: f64::NAN,
            slots: 0,
            ..ScenarioOptions::equal_phases(1, 5000.0)
        };
        let e = scenario("bad", &city.sites, &city.cameras, &opts).unwrap_err();
        assert_eq!(
            fields(&e),
            [
                "sites[1]",
                "sites[2].priority",
                "sites[3]",
                "sector_weights.safety",
                "models[1]",
                "slots",
                "pole_cost",
                "candidates[0]",
                "candidates[1].cost",
                "candidates[1].slots",
                "candidates[2].id",
                "candidates[2]",
            ]
        );
        let none = ScenarioOptions {
            sites: Some(vec![]),
            models: Some(vec![]),
            generate_poles: false,
            ..ScenarioOptions::equal_phases(1, 5000.0)
        };
        let e = scenario("none", &city.sites, &city.cameras, &none).unwrap_err();
        assert_eq!(fields(&e), ["sites", "models", "candidates"]);
    }
}

// ---- Planning jobs ---------------------------------------------------------------------------

use crate::live::LiveEvent;
use crate::registry::new_id;
use crate::App;
use polis_domain::{Actor, FieldOfView, Heading, Id, RangeM, Role};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Where a planning job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// A planning job as callers see it.
#[derive(Clone)]
pub struct PlanJob {
    pub id: Id,
    pub municipality: Id,
    pub created_by: String,
    pub status: JobStatus,
    pub stage: String,
    pub progress: f64,
    pub error: Option<String>,
    /// What is planned (from the checked problem, so also for an instance).
    pub input: Arc<JobInput>,
    /// The problem and its plan, when done.
    pub result: Option<Arc<(polis_plan::instance::Problem, polis_plan::Plan)>>,
    pub accepted: bool,
    cancel: Arc<AtomicBool>,
}

/// What a job plans, in short.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInput {
    /// The key sites planned for, in order (demand points given one by one have none).
    pub sites: Vec<String>,
    /// The camera models allowed.
    pub models: Vec<String>,
    /// The money of each phase (`f64::INFINITY`: only a count limits it).
    pub budgets: Vec<f64>,
    /// The most new cameras of each phase, where limited.
    pub max_cameras: Vec<Option<usize>>,
    pub purpose: Dori,
    /// How many candidate mounting points there are.
    pub candidates: usize,
    pub demand_points: usize,
}

impl JobInput {
    fn of(p: &polis_plan::instance::Problem) -> JobInput {
        let mut sites: Vec<String> = Vec::new();
        for d in &p.demand {
            if let Some(s) = &d.site {
                if sites.last() != Some(s) && !sites.contains(s) {
                    sites.push(s.clone());
                }
            }
        }
        JobInput {
            sites,
            models: p.models.iter().map(|m| m.id.clone()).collect(),
            budgets: p.budgets.clone(),
            max_cameras: p.max_cameras.clone(),
            purpose: p.purpose,
            candidates: p.candidates.len(),
            demand_points: p.demand.len(),
        }
    }
}

/// The planning jobs of this process (kept in memory: a restart forgets them; their outputs are
/// what `polis plan` writes, and an accepted plan is in the registry).
#[derive(Default)]
pub(crate) struct Jobs {
    jobs: Mutex<HashMap<Id, PlanJob>>,
}

fn check_planner(actor: &Actor, m: &Id) -> Result<()> {
    if !matches!(actor.role, Role::Admin | Role::Supervisor) || !actor.sees(m) {
        return Err(Error::permission_denied("planning is for administrators and supervisors of the municipality"));
    }
    Ok(())
}

/// What a planning job plans.
pub enum PlanInput {
    /// The municipality's own registry: its key sites (all or those chosen), its installed
    /// cameras, poles generated around the sites and extra candidates, as the options say.
    Registry(ScenarioOptions),
    /// An instance in the documented file format.
    Instance(Box<Instance>),
}

impl App {
    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<Id, PlanJob>> {
        self.plans.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish_job(&self, job: &PlanJob) {
        self.bus().publish(
            Some(job.municipality.clone()),
            LiveEvent::Plan {
                id: job.id.clone(),
                status: job.status.as_str().to_string(),
                stage: job.stage.clone(),
                progress: job.progress,
            },
        );
    }

    /// Starts planning in the background; progress travels on the live stream as `plan` events.
    /// Bad input is refused at once (before the job starts), naming the item.
    pub async fn start_plan(
        self: &Arc<Self>,
        actor: &Actor,
        municipality: Option<Id>,
        input: PlanInput,
    ) -> Result<PlanJob> {
        let m = match municipality {
            Some(m) => m,
            None => match self.default_municipality(actor).await {
                Some(m) => m,
                None => actor.default_municipality()?,
            },
        };
        check_planner(actor, &m)?;
        let instance = match input {
            PlanInput::Instance(i) => *i,
            PlanInput::Registry(opts) => {
                if !(1..=MAX_PHASES).contains(&opts.budgets.len().max(opts.max_cameras.len())) {
                    return Err(Error::invalid("budgets", format!("give from 1 to {MAX_PHASES} phase budgets")));
                }
                let reg = self.registry().await;
                let mut sites: Vec<_> = reg.sites.values().filter(|s| s.municipality == m).cloned().collect();
                sites.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
                let cameras: Vec<_> = reg.cameras.values().filter(|c| c.municipality == m).cloned().collect();
                drop(reg);
                if sites.is_empty() {
                    return Err(Error::invalid("municipality", "has no key sites to plan for"));
                }
                scenario(&format!("{m}: camera network"), &sites, &cameras, &opts)?
            }
        };
        let problem = instance.problem()?;
        let job = PlanJob {
            id: new_id("plan"),
            municipality: m,
            created_by: actor.username.clone(),
            status: JobStatus::Running,
            stage: "queued".into(),
            progress: 0.0,
            error: None,
            input: Arc::new(JobInput::of(&problem)),
            result: None,
            accepted: false,
            cancel: Arc::new(AtomicBool::new(false)),
        };
        self.jobs().insert(job.id.clone(), job.clone());
        self.publish_job(&job);
        let app = self.clone();
        let (id, cancel) = (job.id.clone(), job.cancel.clone());
        tokio::task::spawn_blocking(move || {
            // The last stage and share published: each stage's share is throttled on its own (a
            // new stage is always published, then steps of 5% and its end).
            let last = Mutex::new((String::new(), -1.0f64));
            let progress = |stage: &str, share: f64| {
                let mut l = last.lock().unwrap_or_else(|p| p.into_inner());
                if l.0 == stage && (share - l.1 < 0.05 && (share < 1.0 || l.1 >= 1.0)) {
                    return;
                }
                *l = (stage.to_string(), share);
                let mut jobs = app.jobs();
                if let Some(j) = jobs.get_mut(&id) {
                    j.stage = stage.to_string();
                    j.progress = share;
                    let j = j.clone();
                    drop(jobs);
                    app.publish_job(&j);
                }
            };
            let opts = polis_plan::PlanOptions {
                local_search: true,
                progress: Some(&progress),
                cancel: Some(&cancel),
                ..Default::default()
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| polis_plan::plan(&problem, &opts)));
            let mut jobs = app.jobs();
            let Some(j) = jobs.get_mut(&id) else { return };
            match outcome {
                Ok(Some(plan)) => {
                    j.status = JobStatus::Done;
                    j.progress = 1.0;
                    j.stage = "done".into();
                    j.result = Some(Arc::new((problem, plan)));
                }
                Ok(None) => {
                    j.status = JobStatus::Cancelled;
                    j.stage = "cancelled".into();
                }
                Err(_) => {
                    j.status = JobStatus::Failed;
                    j.error = Some("the planner failed".into());
                    tracing::error!(job = %id, "planning job panicked");
                }
            }
            let j = j.clone();
            drop(jobs);
            app.publish_job(&j);
        });
        Ok(job)
    }

    /// A planning job the actor may see.
    pub fn plan_job(&self, actor: &Actor, id: &Id) -> Result<PlanJob> {
        let job = self.jobs().get(id).cloned().filter(|j| actor.sees(&j.municipality));
        let job = job.ok_or_else(|| Error::not_found(format!("no plan with id {id}")))?;
        check_planner(actor, &job.municipality)?;
        Ok(job)
    }

    /// Cancels a running job: it stops promptly and keeps no result.
    pub fn cancel_plan(&self, actor: &Actor, id: &Id) -> Result<PlanJob> {
        let job = self.plan_job(actor, id)?;
        job.cancel.store(true, Ordering::Relaxed);
        Ok(job)
    }

    /// Accepts a finished plan: its cameras go into the registry as `planned` (audited as one
    /// import). Accepting twice is refused, also when two accepts race: the first claims the
    /// job before importing (and gives it back if the import fails).
    pub async fn accept_plan(&self, actor: &Actor, id: &Id) -> Result<usize> {
        let job = self.plan_job(actor, id)?;
        let Some(result) = job.result.clone() else {
            return Err(Error::failed_precondition(format!("plan {id} is {}", job.status.as_str())));
        };
        {
            let mut jobs = self.jobs();
            let Some(j) = jobs.get_mut(id) else {
                return Err(Error::not_found(format!("no plan with id {id}")));
            };
            if j.accepted {
                return Err(Error::failed_precondition(format!("plan {id} was accepted already")));
            }
            j.accepted = true;
        }
        let imported = self.import_plan(actor, id, &job, &result).await;
        if imported.is_err() {
            if let Some(j) = self.jobs().get_mut(id) {
                j.accepted = false;
            }
        }
        imported
    }

    async fn import_plan(
        &self,
        actor: &Actor,
        id: &Id,
        job: &PlanJob,
        result: &(polis_plan::instance::Problem, polis_plan::Plan),
    ) -> Result<usize> {
        let (problem, plan) = result;
        let frame = polis_plan::instance::Frame::new(problem.origin);
        let mut cameras = Vec::with_capacity(plan.chosen.len());
        for (rank, c) in plan.chosen.iter().enumerate() {
            let o = &plan.options[c.option];
            let cand = &problem.candidates[o.candidate];
            let model = &problem.models[o.model];
            let [lon, lat] = frame.lonlat(cand.x, cand.y);
            let ptz = o.heading.is_none();
            cameras.push(polis_domain::Camera {
                id: Id::from_trusted(format!("{id}-{}", rank + 1)),
                municipality: job.municipality.clone(),
                name: format!("Planned {}: {} ({}, phase {})", rank + 1, cand.name, model.id, c.phase),
                name_en: String::new(),
                position: LatLon::new(lat, lon)?,
                mount_height_m: cand.mount_height_m,
                heading: Heading::new(o.heading.unwrap_or(0.0))?,
                fov: FieldOfView::new(if ptz { 360.0 } else { model.hfov_deg })?,
                range: RangeM::new("range_m", model.reach_m(problem.purpose))?,
                kind: if ptz { CameraKind::Ptz } else { CameraKind::Fixed },
                stream: None,
                sub_stream: None,
                retention_days: polis_domain::registry::DEFAULT_RETENTION_DAYS,
                owner: None,
                status: CameraStatus::Planned,
                demo: false,
                video: Default::default(),
            });
        }
        self.import(actor, cameras).await
    }
}
