//! The fast path (greedy and local search) and the planner's default path (the fast path, then
//! the in-process integer program with its time limit) against the exact optimum from CBC
//! (Debian's `coinor-cbc`) on 20 seeded synthetic instances small enough for an exact solver:
//! covered weight and time of each. `*` marks a CBC answer not proven optimal, `p` a phase the
//! in-process solver proved optimal.
//! Run: `cargo bench -p polis-plan --bench vs_cbc` (`POLIS_BENCH_SEEDS`, `POLIS_BENCH_CANDIDATES`,
//! `POLIS_BENCH_DEMAND` change the instances).

use polis_plan::synthetic::{city, CitySize};
use std::process::Command;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CBC's objective from its solution file's first line ("Optimal - objective value 12.5").
fn objective(solution: &str) -> Option<(bool, f64)> {
    let first = solution.lines().next()?;
    let optimal = first.starts_with("Optimal");
    let v = first.rsplit(' ').next()?.parse().ok()?;
    Some((optimal, v))
}

fn main() {
    let seeds = env("POLIS_BENCH_SEEDS", 20) as u64;
    let size = CitySize {
        candidates: env("POLIS_BENCH_CANDIDATES", 60),
        demand: env("POLIS_BENCH_DEMAND", 600),
        buildings: true,
        phases: 1,
        cameras_per_phase: 6,
    };
    let dir = std::env::temp_dir().join(format!("polis-vs-cbc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let (mut ratios, mut equal, mut fast_s, mut cbc_s) = (Vec::new(), 0, 0.0, 0.0);
    let (mut exact_ratios, mut exact_equal, mut proven, mut exact_total_s) = (Vec::new(), 0, 0, 0.0);
    println!("in-process exact solver: {}", polis_plan::exact::SOLVER);
    println!(
        "seed  options  fast path  exact path  CBC optimum  fast/opt  exact/opt  bound  fast ms  exact ms  CBC ms"
    );
    for seed in 0..seeds {
        let problem = match city(size, seed).problem() {
            Ok(p) => p,
            Err(e) => panic!("seed {seed}: {e:?}"),
        };
        let t0 = Instant::now();
        let fast_only = polis_plan::PlanOptions { exact: None, lns: None, ..Default::default() };
        let Some(plan) = polis_plan::plan(&problem, &fast_only) else { panic!("no plan") };
        let fast = t0.elapsed().as_secs_f64();
        let ph = &plan.phases[0];
        let t2 = Instant::now();
        let Some(with_exact) = polis_plan::plan(&problem, &Default::default()) else { panic!("no plan") };
        let exact_path_s = t2.elapsed().as_secs_f64();
        let ex = &with_exact.phases[0];
        let lp = polis_plan::lp::write(&problem, &plan.options, &plan.base_counts, ph.budget);
        let (lp_path, sol_path) = (dir.join(format!("s{seed}.lp")), dir.join(format!("s{seed}.sol")));
        std::fs::write(&lp_path, lp).expect("write lp");
        let t1 = Instant::now();
        let out = Command::new("cbc")
            .arg(&lp_path)
            .args(["sec", "300", "solve", "solu"])
            .arg(&sol_path)
            .output()
            .expect("cbc (apt-get install coinor-cbc)");
        let exact_s = t1.elapsed().as_secs_f64();
        assert!(out.status.success(), "cbc failed: {}", String::from_utf8_lossy(&out.stderr));
        let sol = std::fs::read_to_string(&sol_path).expect("solution");
        let (optimal, obj) = objective(&sol).expect("an objective");
        let exact = obj + polis_plan::lp::constant(&problem, &plan.base_counts);
        let ratio = ph.covered_weight / exact;
        if (ph.covered_weight - exact).abs() <= 1e-6 * exact.max(1.0) {
            equal += 1;
        }
        assert!(
            ph.upper_bound >= exact - 1e-6 * exact.max(1.0),
            "seed {seed}: bound {} below the optimum {exact}",
            ph.upper_bound
        );
        let is_proven = ex.gap <= 1e-12;
        assert!(!optimal || ex.upper_bound >= exact - 1e-6 * exact.max(1.0), "seed {seed}: exact path's bound");
        let exact_ratio = ex.covered_weight / exact;
        if (ex.covered_weight - exact).abs() <= 1e-6 * exact.max(1.0) {
            exact_equal += 1;
        }
        proven += usize::from(is_proven);
        println!(
            "{seed:>4}  {:>7}  {:>9.3}  {:>9.3}{}  {:>11.3}{}  {:>8.4}  {:>9.4}  {:>5.3}  {:>7.1}  {:>8.1}  {:>6.1}",
            plan.options.len(),
            ph.covered_weight,
            ex.covered_weight,
            if is_proven { "p" } else { " " },
            exact,
            if optimal { " " } else { "*" },
            ratio,
            exact_ratio,
            ph.upper_bound,
            fast * 1e3,
            exact_path_s * 1e3,
            exact_s * 1e3
        );
        exact_ratios.push(exact_ratio);
        exact_total_s += exact_path_s;
        ratios.push(ratio);
        fast_s += fast;
        cbc_s += exact_s;
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "{} instances: fast path / optimum: worst {:.4}, median {:.4}, mean {:.4}; equal on {equal}; time fast {:.2} s, CBC {:.2} s",
        ratios.len(),
        ratios[0],
        ratios[ratios.len() / 2],
        ratios.iter().sum::<f64>() / ratios.len() as f64,
        fast_s,
        cbc_s
    );
    exact_ratios.sort_by(f64::total_cmp);
    println!(
        "exact path / optimum: worst {:.4}, median {:.4}; equal on {exact_equal}; proven optimal in process on {proven}; time {:.2} s",
        exact_ratios[0],
        exact_ratios[exact_ratios.len() / 2],
        exact_total_s
    );
    let _ = std::fs::remove_dir_all(&dir);
}
