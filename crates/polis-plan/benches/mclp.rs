//! Seeded cities of the maximal-covering kind (`polis_plan::synthetic::mclp`: weighted demand
//! points, mounting points with costs, sector cameras of 1 or 3 models at 8 headings, coverage
//! given explicitly) at several sizes, with a count limit or a budget, one slot or several per
//! mounting point: Polis's plan (the default path) against a plain lazy greedy and against CBC
//! (Debian's `coinor-cbc`) given a time limit: its optimum where it proves one, else its best.
//! The best known is the larger of CBC's answer and Polis's plan. Also checks that the reported
//! bound is at or above every optimum CBC proves.
//! Run: `cargo bench -p polis-plan --bench mclp` (`POLIS_BENCH_SIZES` as `demand:sites,...`,
//! default `200:50,1000:200,5000:800`; `POLIS_BENCH_CBC_SECS`, default 60, 0 skips CBC;
//! `POLIS_BENCH_SLOTS`, default `1,3`; `POLIS_BENCH_MODELS`, default `1,3`; `POLIS_BENCH_SEED`;
//! the large-neighbourhood search: `POLIS_BENCH_LNS_REGION` options per region,
//! `POLIS_BENCH_LNS_SECS` per phase (0: off), `POLIS_BENCH_LNS_MIP_SECS` per region; the tabu
//! search: `POLIS_BENCH_TABU_SECS` per phase (0: off), `POLIS_BENCH_TABU_STALL` rounds).

use polis_plan::synthetic::{mclp, Limit, MclpSize};
use std::process::Command;
use std::time::Instant;

fn list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name).unwrap_or_else(|_| default.into()).split(',').map(|s| s.trim().to_string()).collect()
}

/// CBC's answer from its solution file's first line ("Optimal - objective value 12.5").
fn objective(solution: &str) -> Option<(bool, f64)> {
    let first = solution.lines().next()?;
    let optimal = first.starts_with("Optimal");
    let v = first.rsplit(' ').next()?.parse().ok()?;
    Some((optimal, v))
}

fn main() {
    let sizes: Vec<(usize, usize)> = list("POLIS_BENCH_SIZES", "200:50,1000:200,5000:800")
        .iter()
        .filter_map(|s| s.split_once(':').and_then(|(d, c)| Some((d.parse().ok()?, c.parse().ok()?))))
        .collect();
    let slots: Vec<u32> = list("POLIS_BENCH_SLOTS", "1,3").iter().filter_map(|s| s.parse().ok()).collect();
    let models: Vec<usize> = list("POLIS_BENCH_MODELS", "1,3").iter().filter_map(|s| s.parse().ok()).collect();
    let cbc_secs: f64 = std::env::var("POLIS_BENCH_CBC_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60.0);
    let seed: u64 = std::env::var("POLIS_BENCH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
    let mut how = polis_plan::PlanOptions::default();
    if let Some(l) = how.lns.as_mut() {
        l.region_options = num("POLIS_BENCH_LNS_REGION").map_or(l.region_options, |v| v as usize);
        l.total_s = num("POLIS_BENCH_LNS_SECS").unwrap_or(l.total_s);
        l.time_limit_s = num("POLIS_BENCH_LNS_MIP_SECS").unwrap_or(l.time_limit_s);
    }
    if num("POLIS_BENCH_LNS_SECS") == Some(0.0) {
        how.lns = None;
    }
    if let Some(t) = how.tabu.as_mut() {
        t.total_s = num("POLIS_BENCH_TABU_SECS").unwrap_or(t.total_s);
        t.stall = num("POLIS_BENCH_TABU_STALL").map_or(t.stall, |v| v as usize);
    }
    if num("POLIS_BENCH_TABU_SECS") == Some(0.0) {
        how.tabu = None;
    }
    let dir = std::env::temp_dir().join(format!("polis-mclp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    println!("in-process exact solver: {}; CBC time limit {cbc_secs} s; seed {seed}", polis_plan::exact::SOLVER);
    println!(
        "demand  sites  options  models slots limit   greedy/best  polis/best  gap%  bound>=opt  CBC(best)     polis s  CBC s  polis"
    );
    let (mut worst, mut below_greedy, mut n, mut bound_bad) = (f64::INFINITY, 0, 0, 0);
    for &(demand, sites) in &sizes {
        for &m in &models {
            for &s in &slots {
                for limit in [Limit::Count, Limit::Budget] {
                    let per_phase = (sites / 10).max(3);
                    let size = MclpSize { demand, sites, models: m, slots: s, limit, phases: 1, per_phase };
                    let inst = mclp(size, seed);
                    let p = match inst.problem() {
                        Ok(p) => p,
                        Err(e) => panic!("{e:?}"),
                    };
                    drop(inst);
                    let t0 = Instant::now();
                    let Some(pl) = polis_plan::plan(&p, &how) else { panic!("no plan") };
                    let polis_s = t0.elapsed().as_secs_f64();
                    let ph = &pl.phases[0];
                    let (_, greedy) = polis_plan::solve::lazy_greedy(&p, &pl.options, ph.budget, ph.max_cameras);
                    let mut best = ph.covered_weight;
                    let (mut cbc, mut cbc_s) = (String::from("-"), 0.0);
                    let mut bound_ok = String::from("-");
                    if cbc_secs > 0.0 {
                        let budget = ph.budget.is_finite().then_some(ph.budget);
                        let lp = polis_plan::lp::write_within(&p, &pl.options, &pl.base_counts, budget, ph.max_cameras);
                        let (lp_path, sol_path) = (dir.join("m.lp"), dir.join("m.sol"));
                        std::fs::write(&lp_path, lp).expect("write lp");
                        let t1 = Instant::now();
                        let out = Command::new("cbc")
                            .arg(&lp_path)
                            .args(["sec", &cbc_secs.to_string(), "threads", "1", "solve", "solu"])
                            .arg(&sol_path)
                            .output()
                            .expect("cbc (apt-get install coinor-cbc)");
                        cbc_s = t1.elapsed().as_secs_f64();
                        assert!(out.status.success(), "cbc failed: {}", String::from_utf8_lossy(&out.stderr));
                        let sol = std::fs::read_to_string(&sol_path).unwrap_or_default();
                        if let Some((optimal, obj)) = objective(&sol) {
                            let v = obj + polis_plan::lp::constant(&p, &pl.base_counts);
                            best = best.max(v);
                            cbc = format!("{v:.1}{}", if optimal { " opt" } else { "" });
                            if optimal {
                                let ok = ph.upper_bound >= v - 1e-6 * v.max(1.0);
                                bound_bad += usize::from(!ok);
                                bound_ok = if ok { "yes".into() } else { "NO".into() };
                            }
                        }
                    }
                    let ratio = ph.covered_weight / best;
                    worst = worst.min(ratio);
                    below_greedy += usize::from(ph.covered_weight < greedy - 1e-9);
                    n += 1;
                    println!(
                        "{demand:>6}  {:>5}  {:>7}  {m:>6} {s:>5} {:<6}  {:>11.4}  {:>10.4}  {:>4.2}  {bound_ok:>10}  {cbc:<12}  {polis_s:>7.2}  {cbc_s:>5.1}  {:.1}",
                        p.candidates.len(),
                        pl.options.len(),
                        format!("{limit:?}").to_lowercase(),
                        greedy / best,
                        ratio,
                        100.0 * ph.gap,
                        ph.covered_weight,
                    );
                }
            }
        }
    }
    println!(
        "{n} instances: worst Polis / best known {worst:.4}; below the plain greedy on {below_greedy}; bound below a proven optimum on {bound_bad}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
