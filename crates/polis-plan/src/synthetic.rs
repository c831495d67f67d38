//! Seeded synthetic cities for tests and benchmarks: a grid of streets around a centre, building
//! footprints in the blocks, demand points on the streets and squares (weighted by sector and
//! priority, some critical), poles along the streets as candidates with costs, and a catalogue of
//! camera models; and cities of the maximal-covering kind with their coverage given ([`mclp`]).

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
                        name: String::new(),
                        lon,
                        lat,
                        cost: rng.gen_range(300.0..1200.0_f64).round(),
                        models: Vec::new(),
                        mount_height_m: rng.gen_range(4.0..8.0_f64).round(),
                        slots: 1,
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
        options: Vec::new(),
        max_cameras: Vec::new(),
    }
}

/// How a maximal-covering city limits its phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most `per_phase` new cameras in each phase.
    Count,
    /// A budget of about `per_phase` cameras of average cost in each phase.
    Budget,
}

/// The size of a seeded city of the maximal-covering kind (see [`mclp`]).
#[derive(Debug, Clone, Copy)]
pub struct MclpSize {
    pub demand: usize,
    /// Mounting points.
    pub sites: usize,
    /// 1 to 3 sector camera models.
    pub models: usize,
    /// Cameras each mounting point may hold.
    pub slots: u32,
    pub limit: Limit,
    pub phases: usize,
    /// Cameras per phase (the count, or the budget in cameras of average cost).
    pub per_phase: usize,
}

/// A seeded city of the maximal-covering kind that peers solve: weighted demand points spread
/// over a square (denser in a few clusters), mounting points at random with mounting costs, 1
/// to 3 sector camera models tried at 8 headings, every option's coverage given explicitly (an
/// instance with `options`, as a viewshed analysis made elsewhere would give it), no buildings,
/// no existing cameras, nested phases limited by a count or by a budget.
pub fn mclp(size: MclpSize, seed: u64) -> Instance {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x6d63_6c70);
    let origin = LatLon::new(42.619, 25.393).expect("a valid constant position");
    let frame = Frame::new(origin);
    let side = 20.0 * (size.demand.max(1) as f64).sqrt();
    // (id, range m, field of view, cost)
    let all_models =
        [("sector-wide", 60.0, 90.0, 400.0), ("sector-tele", 120.0, 40.0, 550.0), ("sector-fish", 35.0, 150.0, 300.0)];
    let models: Vec<(&str, f64, f64, f64)> = all_models.iter().copied().take(size.models.clamp(1, 3)).collect();
    let clusters: Vec<(f64, f64)> = (0..5).map(|_| (rng.gen_range(0.0..side), rng.gen_range(0.0..side))).collect();
    let points: Vec<(f64, f64, f64)> = (0..size.demand)
        .map(|_| {
            let (x, y) = if rng.gen_bool(0.4) {
                let (cx, cy) = clusters[rng.gen_range(0..clusters.len())];
                let r = side * 0.08 * rng.gen_range(0.0..1.0_f64).sqrt();
                let a = rng.gen_range(0.0..std::f64::consts::TAU);
                ((cx + r * a.cos()).clamp(0.0, side), (cy + r * a.sin()).clamp(0.0, side))
            } else {
                (rng.gen_range(0.0..side), rng.gen_range(0.0..side))
            };
            (x, y, f64::from(rng.gen_range(1..=5u8)))
        })
        .collect();
    let sites: Vec<(f64, f64, f64)> = (0..size.sites)
        .map(|_| (rng.gen_range(0.0..side), rng.gen_range(0.0..side), rng.gen_range(300.0..1200.0_f64).round()))
        .collect();
    // A grid of cells as wide as the longest reach, to find the points near a site.
    let reach = models.iter().map(|m| m.1).fold(0.0, f64::max);
    let cells = ((side / reach).ceil() as usize).max(1);
    let cell = |v: f64| ((v / reach) as usize).min(cells - 1);
    let mut grid: Vec<Vec<u32>> = vec![Vec::new(); cells * cells];
    for (i, &(x, y, _)) in points.iter().enumerate() {
        grid[cell(y) * cells + cell(x)].push(i as u32);
    }
    let mut options = Vec::new();
    let mut near: Vec<(u32, f64, f64)> = Vec::new();
    for (si, &(sx, sy, _)) in sites.iter().enumerate() {
        near.clear();
        let (cx, cy) = (cell(sx) as i64, cell(sy) as i64);
        for gy in (cy - 1).max(0)..=(cy + 1).min(cells as i64 - 1) {
            for gx in (cx - 1).max(0)..=(cx + 1).min(cells as i64 - 1) {
                for &i in &grid[gy as usize * cells + gx as usize] {
                    let (dx, dy) = (points[i as usize].0 - sx, points[i as usize].1 - sy);
                    let d = dx.hypot(dy);
                    if d <= reach {
                        near.push((i, d, dx.atan2(dy).to_degrees().rem_euclid(360.0)));
                    }
                }
            }
        }
        for &(mid, range, fov, _) in &models {
            for h in 0..8 {
                let heading = f64::from(h) * 45.0;
                let mut covers: Vec<u32> = near
                    .iter()
                    .filter(|(_, d, b)| {
                        let off = (b - heading).rem_euclid(360.0);
                        *d <= range && (*d < 1e-9 || off.min(360.0 - off) <= fov / 2.0)
                    })
                    .map(|(i, _, _)| *i)
                    .collect();
                if covers.is_empty() {
                    continue;
                }
                covers.sort_unstable();
                options.push(crate::instance::GivenOption {
                    id: format!("s{si}-{mid}-{h}"),
                    candidate: format!("s{si}"),
                    model: mid.to_string(),
                    heading: Some(heading),
                    cost: None,
                    covers: covers.into_iter().map(|i| format!("d{i}")).collect(),
                });
            }
        }
    }
    let half = side / 2.0;
    let demand = points
        .iter()
        .enumerate()
        .map(|(i, &(x, y, w))| {
            let [lon, lat] = frame.lonlat(x - half, y - half);
            DemandPoint { id: format!("d{i}"), lon, lat, weight: w, sector: None, required: 1 }
        })
        .collect();
    let candidates = sites
        .iter()
        .enumerate()
        .map(|(i, &(x, y, cost))| {
            let [lon, lat] = frame.lonlat(x - half, y - half);
            Candidate {
                id: format!("s{i}"),
                name: String::new(),
                lon,
                lat,
                cost,
                models: Vec::new(),
                mount_height_m: 6.0,
                slots: size.slots.max(1),
            }
        })
        .collect();
    let avg_model = models.iter().map(|m| m.3).sum::<f64>() / models.len() as f64;
    let avg = sites.iter().map(|s| s.2).sum::<f64>() / sites.len().max(1) as f64 + avg_model;
    let (budgets, max_cameras) = match size.limit {
        Limit::Count => (Vec::new(), vec![size.per_phase.max(1) as u32; size.phases]),
        Limit::Budget => (vec![(avg * size.per_phase.max(1) as f64).round(); size.phases], Vec::new()),
    };
    Instance {
        name: format!("maximal-covering city {seed}"),
        purpose: Dori::Observe,
        headings: 8,
        area: None,
        demand,
        sites: Vec::new(),
        sector_weights: Default::default(),
        candidates,
        models: models
            .iter()
            .map(|&(id, range, fov, cost)| CameraModel {
                id: id.to_string(),
                hfov_deg: fov,
                // The resolution that reaches `range` at the plan's density (observe).
                h_pixels: (range * 2.0 * (fov.to_radians() / 2.0).tan() * Dori::Observe.ppm()).round() as u32,
                ptz: false,
                cost,
            })
            .collect(),
        existing: Vec::new(),
        buildings: Vec::new(),
        budgets,
        max_cameras,
        options,
    }
}
