//! Planning scenarios built from a registry: the key sites become demand (priority and sector
//! weights; critical objects need two cameras), installed cameras count as covering, and
//! candidate mounting points are generated around the sites (street-light poles a few dozen
//! metres away, on eight bearings) with costs, so a planner can start from what the city has.

use polis_domain::geometry::destination;
use polis_domain::{Camera, CameraKind, CameraStatus, Site, SiteCategory, SiteGeometry};
use polis_plan::instance::{Candidate, ExistingCamera, Instance, SiteDemand};
use polis_plan::model::Dori;

/// Sites whose categories make them critical objects (watched by two cameras).
fn critical(s: &Site) -> bool {
    matches!(s.category, SiteCategory::School | SiteCategory::Dam | SiteCategory::Hospital)
}

/// A scenario from the sites and cameras of a registry, with `phases` equal budgets of
/// `budget_per_phase`.
pub fn scenario(name: &str, sites: &[Site], cameras: &[Camera], phases: usize, budget_per_phase: f64) -> Instance {
    let mut demand_sites = Vec::new();
    let mut candidates = Vec::new();
    for s in sites {
        let sector = s.sectors.first().map(|x| x.as_str()).unwrap_or("safety").to_string();
        let (point, polygon, centre) = match &s.geometry {
            SiteGeometry::Point(p) => (Some([p.lon(), p.lat()]), None, *p),
            SiteGeometry::Polygon(r) => {
                let n = r.len().max(1) as f64;
                let (lat, lon) = r.iter().fold((0.0, 0.0), |(a, b), p| (a + p.lat() / n, b + p.lon() / n));
                let c = polis_domain::LatLon::new(lat, lon).unwrap_or(r[0]);
                (None, Some(r.iter().map(|p| [p.lon(), p.lat()]).collect()), c)
            }
        };
        demand_sites.push(SiteDemand {
            id: s.id.to_string(),
            name: s.name_en.clone(),
            priority: s.priority.get(),
            sector,
            point,
            polygon,
            spacing_m: Some(15.0),
            critical: critical(s),
        });
        // Poles around the site: eight bearings at 30 m, costs by how busy the place is.
        for k in 0..8 {
            let q = destination(centre, f64::from(k) * 45.0 + 22.5, 30.0);
            candidates.push(Candidate {
                id: format!("{}-pole-{}", s.id, k + 1),
                lon: q.lon(),
                lat: q.lat(),
                cost: 600.0 + 150.0 * f64::from(k % 3),
                models: Vec::new(),
                mount_height_m: 6.0,
            });
        }
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
    Instance {
        name: name.to_string(),
        purpose: Dori::Observe,
        headings: 8,
        area: None,
        demand: Vec::new(),
        sites: demand_sites,
        sector_weights: [("safety", 1.5), ("disaster", 1.3), ("transport", 1.0), ("tourism", 0.8)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        candidates,
        models: polis_plan::synthetic::catalogue(),
        existing,
        buildings: Vec::new(),
        budgets: vec![budget_per_phase; phases.max(1)],
    }
}

/// The demo city's planning scenario.
pub fn demo_scenario(phases: usize, budget_per_phase: f64) -> Instance {
    let city = crate::demo::kazanlak();
    scenario("Kazanlak: camera network, phases 1-3", &city.sites, &city.cameras, phases, budget_per_phase)
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
}

// ---- Planning jobs ---------------------------------------------------------------------------

use crate::live::LiveEvent;
use crate::registry::new_id;
use crate::App;
use polis_base::{Error, Result};
use polis_domain::{Actor, FieldOfView, Heading, Id, LatLon, RangeM, Role};
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
    /// The problem and its plan, when done.
    pub result: Option<Arc<(polis_plan::instance::Problem, polis_plan::Plan)>>,
    pub accepted: bool,
    cancel: Arc<AtomicBool>,
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
    /// The municipality's own registry: its key sites, its installed cameras, poles around the
    /// sites; `phases` equal budgets.
    Registry { phases: usize, budget_per_phase: f64 },
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
                status: job.status.as_str(),
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
            PlanInput::Registry { phases, budget_per_phase } => {
                if !(1..=10).contains(&phases) {
                    return Err(Error::invalid("phases", "must be from 1 to 10"));
                }
                let reg = self.registry().await;
                let sites: Vec<_> = reg.sites.values().filter(|s| s.municipality == m).cloned().collect();
                let cameras: Vec<_> = reg.cameras.values().filter(|c| c.municipality == m).cloned().collect();
                if sites.is_empty() {
                    return Err(Error::invalid("municipality", "has no key sites to plan for"));
                }
                scenario(&format!("{m}: camera network"), &sites, &cameras, phases, budget_per_phase)
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
            result: None,
            accepted: false,
            cancel: Arc::new(AtomicBool::new(false)),
        };
        self.jobs().insert(job.id.clone(), job.clone());
        self.publish_job(&job);
        let app = self.clone();
        let (id, cancel) = (job.id.clone(), job.cancel.clone());
        tokio::task::spawn_blocking(move || {
            let last = Mutex::new(-1.0f64);
            let progress = |stage: &str, share: f64| {
                let mut l = last.lock().unwrap_or_else(|p| p.into_inner());
                if share - *l < 0.05 && share < 1.0 {
                    return;
                }
                *l = share;
                let mut jobs = app.jobs();
                if let Some(j) = jobs.get_mut(&id) {
                    j.stage = stage.to_string();
                    j.progress = share;
                    let j = j.clone();
                    drop(jobs);
                    app.publish_job(&j);
                }
            };
            let opts = polis_plan::PlanOptions { local_search: true, progress: Some(&progress), cancel: Some(&cancel) };
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
    /// import). Accepting twice is refused.
    pub async fn accept_plan(&self, actor: &Actor, id: &Id) -> Result<usize> {
        let job = self.plan_job(actor, id)?;
        let Some(result) = job.result.clone() else {
            return Err(Error::failed_precondition(format!("plan {id} is {}", job.status.as_str())));
        };
        if job.accepted {
            return Err(Error::failed_precondition(format!("plan {id} was accepted already")));
        }
        let (problem, plan) = &*result;
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
                name: format!("Planned {} ({}, phase {})", rank + 1, model.id, c.phase),
                position: LatLon::new(lat, lon)?,
                mount_height_m: cand.mount_height_m,
                heading: Heading::new(o.heading.unwrap_or(0.0))?,
                fov: FieldOfView::new(if ptz { 360.0 } else { model.hfov_deg })?,
                range: RangeM::new("range_m", model.reach_m(problem.purpose))?,
                kind: if ptz { CameraKind::Ptz } else { CameraKind::Fixed },
                stream: None,
                sub_stream: None,
                retention_days: 30,
                owner: None,
                status: CameraStatus::Planned,
                demo: false,
                video: Default::default(),
            });
        }
        let n = self.import(actor, cameras).await?;
        if let Some(j) = self.jobs().get_mut(id) {
            j.accepted = true;
        }
        Ok(n)
    }
}
