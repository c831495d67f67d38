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
