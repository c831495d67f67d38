//! Seeded synthetic cities for tests and benchmarks: a grid of streets around a centre, building
//! footprints in the blocks, demand points on the streets and squares (weighted by sector and
//! priority, some critical), poles along the streets as candidates with costs, and a catalogue of
//! camera models.

use crate::instance::{Candidate, DemandPoint, Frame, Instance};
use crate::model::{CameraModel, Dori};
use polis_domain::LatLon;
use rand::{Rng, SeedableRng};

/// The size of a synthetic city.
#[derive(Debug, Clone, Copy)]
pub struct CitySize {
    pub candidates: usize,
    pub demand: usize,
    /// Buildings in the blocks (line of sight) or none.
    pub buildings: bool,
    pub phases: usize,
    /// Budget of each phase, in cameras of average cost.
    pub cameras_per_phase: usize,
}

/// Three common models: a wide fixed camera, a narrow fixed camera, a PTZ dome.
pub fn catalogue() -> Vec<CameraModel> {
    vec![
        CameraModel { id: "wide-4mp".into(), hfov_deg: 100.0, h_pixels: 2560, ptz: false, cost: 400.0 },
        CameraModel { id: "tele-4mp".into(), hfov_deg: 35.0, h_pixels: 2560, ptz: false, cost: 550.0 },
        CameraModel { id: "ptz-2mp".into(), hfov_deg: 60.0, h_pixels: 1920, ptz: true, cost: 1800.0 },
    ]
}

const SECTORS: [&str; 4] = ["safety", "transport", "disaster", "tourism"];

/// A seeded city around Kazanlak.
pub fn city(size: CitySize, seed: u64) -> Instance {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let origin = LatLon::new(42.619, 25.393).expect("a valid constant position");
    let frame = Frame::new(origin);
    // A square grid of streets 80 m apart sized so that the candidates fit along them.
    let block = 80.0;
    let poles_per_block = 4usize;
    let streets = (((size.candidates / (2 * poles_per_block)) as f64).sqrt().ceil() as usize).max(2);
    let extent = streets as f64 * block;
    let half = extent / 2.0;
    let mut candidates = Vec::with_capacity(size.candidates);
    let mut k = 0usize;
    'outer: for i in 0..=streets {
        for j in 0..streets {
            for q in 0..poles_per_block {
                for horizontal in [true, false] {
                    if candidates.len() >= size.candidates {
                        break 'outer;
                    }
                    let along = j as f64 * block + (q as f64 + 0.5) * block / poles_per_block as f64;
                    let across = i as f64 * block;
                    let (x, y) = if horizontal { (along - half, across - half) } else { (across - half, along - half) };
                    let [lon, lat] = frame.lonlat(x, y);
                    k += 1;
                    candidates.push(Candidate {
                        id: format!("pole-{k}"),
                        lon,
                        lat,
                        cost: rng.gen_range(300.0..1200.0_f64).round(),
                        models: Vec::new(),
                        mount_height_m: rng.gen_range(4.0..8.0_f64).round(),
                    });
                }
            }
        }
    }
    // Demand on the streets (near intersections and along them), a few squares.
    let mut demand = Vec::with_capacity(size.demand);
    for n in 0..size.demand {
        let i = rng.gen_range(0..=streets) as f64 * block - half;
        let t = rng.gen_range(-half..half);
        let jitter = rng.gen_range(-6.0..6.0);
        let (x, y) = if n % 2 == 0 { (t, i + jitter) } else { (i + jitter, t) };
        let [lon, lat] = frame.lonlat(x, y);
        let sector = SECTORS[rng.gen_range(0..SECTORS.len())];
        let priority = rng.gen_range(1..=5u8);
        demand.push(DemandPoint {
            id: format!("d{n}"),
            lon,
            lat,
            weight: f64::from(6 - priority),
            sector: Some(sector.to_string()),
            required: if rng.gen_bool(0.05) { 2 } else { 1 },
        });
    }
    let mut buildings = Vec::new();
    if size.buildings {
        for i in 0..streets {
            for j in 0..streets {
                if rng.gen_bool(0.7) {
                    let (x0, y0) = (i as f64 * block - half + 12.0, j as f64 * block - half + 12.0);
                    let (w, h) = (rng.gen_range(20.0..block - 24.0), rng.gen_range(20.0..block - 24.0));
                    buildings.push(
                        [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]
                            .iter()
                            .map(|(x, y)| frame.lonlat(*x, *y))
                            .collect(),
                    );
                }
            }
        }
    }
    let models = catalogue();
    let avg = candidates.iter().map(|c| c.cost).sum::<f64>() / candidates.len().max(1) as f64 + 500.0;
    Instance {
        name: format!("synthetic city {seed}"),
        purpose: Dori::Observe,
        headings: 8,
        area: None,
        demand,
        sites: Vec::new(),
        sector_weights: [("safety", 1.5), ("disaster", 1.2)].iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        candidates,
        models,
        existing: Vec::new(),
        buildings,
        budgets: vec![(avg * size.cameras_per_phase as f64).round(); size.phases],
        max_cameras: Vec::new(),
    }
}
