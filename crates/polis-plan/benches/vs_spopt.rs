//! Side by side with PySAL `spopt`'s maximal covering location problem (MCLP, solved exactly by
//! PuLP + CBC), the tool planners use today, on the same instances: PTZ cameras only (a circle
//! of coverage, which is what MCLP models), equal costs (p cameras), no buildings, no existing
//! cameras. Time and covered weight of each: Polis's fast path alone (greedy and local search)
//! and its default path (then the in-process integer program, `p` when it proved the optimum).
//! Run: `POLIS_SPOPT_PYTHON=/tmp/spopt/bin/python cargo bench -p polis-plan --bench vs_spopt`
//! after `python3 -m venv /tmp/spopt && /tmp/spopt/bin/pip install spopt`.

use polis_plan::instance::{Candidate, DemandPoint, Instance};
use polis_plan::model::{CameraModel, Dori};
use polis_plan::synthetic::{city, CitySize};
use std::process::Command;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let python = std::env::var("POLIS_SPOPT_PYTHON").unwrap_or_else(|_| "/tmp/spopt/bin/python".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/bench-plan-spopt.py");
    let seeds = env("POLIS_BENCH_SEEDS", 5) as u64;
    let p_cameras = env("POLIS_BENCH_CAMERAS", 15);
    let size = CitySize {
        candidates: env("POLIS_BENCH_CANDIDATES", 300),
        demand: env("POLIS_BENCH_DEMAND", 3000),
        buildings: false,
        phases: 1,
        cameras_per_phase: 1,
    };
    let dir = std::env::temp_dir().join(format!("polis-vs-spopt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    println!("in-process exact solver: {}", polis_plan::exact::SOLVER);
    println!("seed  demand  candidates  p   fast covered  exact covered  spopt covered  fast ms  exact ms  spopt ms");
    let (mut ours, mut theirs, mut t_ours, mut t_theirs) = (0.0, 0.0, 0.0, 0.0);
    let (mut fast_total, mut t_fast, mut proven) = (0.0, 0.0, 0);
    for seed in 0..seeds {
        let base = city(size, seed);
        let dome = CameraModel { id: "dome".into(), hfov_deg: 60.0, h_pixels: 1920, ptz: true, cost: 1.0 };
        let inst = Instance {
            purpose: Dori::Observe,
            models: vec![dome.clone()],
            candidates: base
                .candidates
                .iter()
                .map(|c| Candidate { cost: 0.0, mount_height_m: 0.0, models: vec![], ..c.clone() })
                .collect(),
            demand: base.demand.iter().map(|d| DemandPoint { required: 1, ..d.clone() }).collect(),
            sector_weights: Default::default(),
            buildings: vec![],
            budgets: vec![p_cameras as f64],
            ..base
        };
        let problem = match inst.problem() {
            Ok(p) => p,
            Err(e) => panic!("seed {seed}: {e:?}"),
        };
        let t0 = Instant::now();
        let fast_only = polis_plan::PlanOptions { exact: None, lns: None, ..Default::default() };
        let Some(fast) = polis_plan::plan(&problem, &fast_only) else { panic!("no plan") };
        let fast_s = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let Some(plan) = polis_plan::plan(&problem, &Default::default()) else { panic!("no plan") };
        let ours_s = t0.elapsed().as_secs_f64();
        let covered = plan.phases[0].covered_weight;
        let is_proven = plan.phases[0].gap <= 1e-12;
        proven += usize::from(is_proven);
        let radius = dome.reach_m(problem.purpose);
        let file = dir.join(format!("s{seed}.json"));
        let demand: Vec<[f64; 3]> = problem.demand.iter().map(|d| [d.x, d.y, d.weight]).collect();
        let candidates: Vec<[f64; 2]> = problem.candidates.iter().map(|c| [c.x, c.y]).collect();
        let body = serde_json::json!({"demand": demand, "candidates": candidates, "radius": radius, "p": p_cameras});
        std::fs::write(&file, body.to_string()).expect("write");
        let out = Command::new(&python).arg(script).arg(&file).output().expect("python with spopt");
        assert!(out.status.success(), "spopt failed: {}", String::from_utf8_lossy(&out.stderr));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("spopt's answer");
        let (their_cov, their_s) = (r["covered"].as_f64().unwrap_or(0.0), r["seconds"].as_f64().unwrap_or(0.0));
        println!(
            "{seed:>4}  {:>6}  {:>10}  {p_cameras:>2}  {:>12.2}  {covered:>12.2}{}  {their_cov:>13.2}  {:>7.1}  {:>8.1}  {:>8.1}",
            problem.demand.len(),
            problem.candidates.len(),
            fast.phases[0].covered_weight,
            if is_proven { "p" } else { " " },
            fast_s * 1e3,
            ours_s * 1e3,
            their_s * 1e3
        );
        fast_total += fast.phases[0].covered_weight;
        t_fast += fast_s;
        ours += covered;
        theirs += their_cov;
        t_ours += ours_s;
        t_theirs += their_s;
    }
    println!(
        "fast path: covered {fast_total:.2} (ratio to spopt {:.4}) in {t_fast:.2} s ({:.0} times faster)",
        fast_total / theirs,
        t_theirs / t_fast.max(1e-9)
    );
    println!(
        "default path (fast + exact, proven optimal on {proven} of {seeds}): covered {ours:.2}, spopt {theirs:.2} (ratio {:.4}); time: Polis {t_ours:.2} s, spopt {t_theirs:.2} s ({:.1} times faster)",
        ours / theirs,
        t_theirs / t_ours.max(1e-9)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
