//! Planning a large synthetic city: 5,000 candidate poles x 3 models (8 headings for the fixed
//! ones), 50,000 demand points, building footprints, 3 phases. Time to plan (coverage of every
//! option, greedy, local search, bounds) and the reported gap.
//! Run: `cargo bench -p polis-plan --bench plan` (`POLIS_BENCH_CANDIDATES`, `POLIS_BENCH_DEMAND`,
//! `POLIS_BENCH_CAMERAS_PER_PHASE` change the size; `POLIS_BENCH_BOUND_STEPS` the subgradient
//! steps of the Lagrangian bound per phase, default 250; `POLIS_BENCH_LOCAL_SEARCH` `on` or `off`
//! runs one variant only).

use polis_plan::synthetic::{city, CitySize};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let size = CitySize {
        candidates: env("POLIS_BENCH_CANDIDATES", 5_000),
        demand: env("POLIS_BENCH_DEMAND", 50_000),
        buildings: true,
        phases: 3,
        cameras_per_phase: env("POLIS_BENCH_CAMERAS_PER_PHASE", 150),
    };
    let t0 = Instant::now();
    let inst = city(size, 42);
    let problem = match inst.problem() {
        Ok(p) => p,
        Err(e) => panic!("the synthetic instance is not valid: {e:?}"),
    };
    let built = t0.elapsed().as_secs_f64();
    let steps = env("POLIS_BENCH_BOUND_STEPS", 250);
    let variants: &[bool] = match std::env::var("POLIS_BENCH_LOCAL_SEARCH").as_deref() {
        Ok("on") => &[true],
        Ok("off") => &[false],
        _ => &[false, true],
    };
    for &local_search in variants {
        let t1 = Instant::now();
        let mut opts = polis_plan::PlanOptions { local_search, bound_steps: steps, ..Default::default() };
        // `POLIS_BENCH_LNS=off`: no large-neighbourhood search; `POLIS_BENCH_TABU=off`: no tabu search.
        if std::env::var("POLIS_BENCH_LNS").as_deref() == Ok("off") {
            opts.lns = None;
        }
        if std::env::var("POLIS_BENCH_TABU").as_deref() == Ok("off") {
            opts.tabu = None;
        }
        let Some(plan) = polis_plan::plan(&problem, &opts) else { panic!("not cancelled, yet no plan") };
        let secs = t1.elapsed().as_secs_f64();
        println!(
            "{} candidates, {} demand points, {} buildings, {} options; local search {local_search}, {steps} bound steps: planned in {secs:.2} s (instance built in {built:.2} s)",
            problem.candidates.len(),
            problem.demand.len(),
            problem.buildings.len(),
            plan.options.len()
        );
        for ph in &plan.phases {
            println!(
                "  phase {}: {} cameras, covered {:.2}% of the weight, bound {:.2}%, gap {:.3}%",
                ph.phase,
                ph.cameras,
                100.0 * ph.covered_weight / ph.total_weight,
                100.0 * ph.upper_bound / ph.total_weight,
                100.0 * ph.gap
            );
        }
    }
}
