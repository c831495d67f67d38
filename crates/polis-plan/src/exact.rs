//! Exact optima.
//!
//! - [`Mip`]: one phase as an integer program (the formulation of [`crate::lp`]), solved in
//!   process by a pure-Rust branch and bound (`good_lp` with `microlp`) within a time limit,
//!   from the fast path's plan as the first incumbent. [`crate::solve::plan`] tries it on phases
//!   small enough ([`ExactLimits`]).
//! - [`optimum`], [`optimum_within`]: enumeration of every set of options (each at most once, at
//!   most `slots` per candidate) within the budget and the count, for checking the rest on
//!   instances of up to about 20 options.

use crate::coverage::Opt;
use crate::instance::Problem;
use crate::solve::covered;

/// The best weight coverable with `budget` (existing cameras counted), and the options chosen.
/// `None` when there are more than `max_options` options.
pub fn optimum(p: &Problem, opts: &[Opt], base: &[u8], budget: f64, max_options: usize) -> Option<(f64, Vec<usize>)> {
    optimum_within(p, opts, base, Some(budget), None, max_options)
}

/// The best weight coverable with at most `budget` money and `count` cameras (`None`: no such
/// limit), each option at most once and at most `slots` cameras per candidate, by enumeration;
/// `None` when there are more than `max_options` options.
pub fn optimum_within(
    p: &Problem,
    opts: &[Opt],
    base: &[u8],
    budget: Option<f64>,
    count: Option<usize>,
    max_options: usize,
) -> Option<(f64, Vec<usize>)> {
    if opts.len() > max_options {
        return None;
    }
    let mut best = (covered(p, base), Vec::new());
    let mut w = Walk {
        p,
        opts,
        counts: base.to_vec(),
        slots: p.candidates.iter().map(|c| c.slots).collect(),
        stack: Vec::new(),
        count: count.unwrap_or(usize::MAX),
    };
    w.walk(0, budget.unwrap_or(f64::INFINITY), &mut best);
    Some(best)
}

struct Walk<'a> {
    p: &'a Problem,
    opts: &'a [Opt],
    counts: Vec<u8>,
    slots: Vec<u32>,
    stack: Vec<usize>,
    count: usize,
}

impl Walk<'_> {
    fn walk(&mut self, from: usize, left: f64, best: &mut (f64, Vec<usize>)) {
        if self.stack.len() >= self.count {
            return;
        }
        for i in from..self.opts.len() {
            let o = &self.opts[i];
            if self.slots[o.candidate] == 0 || o.cost > left + 1e-9 {
                continue;
            }
            for &d in &o.covers {
                self.counts[d as usize] = self.counts[d as usize].saturating_add(1);
            }
            self.slots[o.candidate] -= 1;
            self.stack.push(i);
            let v = covered(self.p, &self.counts);
            if v > best.0 + 1e-12 {
                *best = (v, self.stack.clone());
            }
            self.walk(i + 1, left - o.cost, best);
            self.stack.pop();
            self.slots[o.candidate] += 1;
            for &d in &o.covers {
                self.counts[d as usize] = self.counts[d as usize].saturating_sub(1);
            }
        }
    }
}

/// How large a phase the exact integer program is tried on, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExactLimits {
    /// The most options (binary variables) of a phase.
    pub max_options: usize,
    /// The most nonzeros of the coverage rows (after merging demand points seen by the same
    /// options).
    pub max_nonzeros: usize,
    /// The solver's time limit, seconds; past it, the best plan found so far counts.
    pub time_limit_s: f64,
}

impl Default for ExactLimits {
    fn default() -> Self {
        ExactLimits { max_options: 2_000, max_nonzeros: 200_000, time_limit_s: 10.0 }
    }
}

/// The solver's answer for one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct MipAnswer {
    /// The options chosen (indices into the options given).
    pub chosen: Vec<usize>,
    /// The weight covered with them (existing and earlier cameras counted).
    pub value: f64,
    /// Whether the solver proved it optimal (otherwise its time ran out).
    pub optimal: bool,
}

/// The solver: the pure-Rust `microlp`, or HiGHS with the `highs` feature.
#[cfg(not(feature = "highs"))]
type Model = good_lp::solvers::microlp::MicroLpProblem;
#[cfg(not(feature = "highs"))]
use good_lp::microlp as solver;
#[cfg(feature = "highs")]
type Model = good_lp::solvers::highs::HighsProblem;
#[cfg(feature = "highs")]
use good_lp::highs as solver;

/// The solver's name, for reports.
pub const SOLVER: &str = if cfg!(feature = "highs") { "HiGHS" } else { "microlp" };

/// One phase's integer program, built and ready to solve (see [`Mip::build`]).
pub struct Mip {
    model: Model,
    x: Vec<(usize, good_lp::Variable)>,
}

impl Mip {
    /// The program of one phase, as `lp.rs` writes it for CBC: maximise the weight covered
    /// beyond `base` (how often each point is already seen: existing cameras and earlier phases)
    /// with `x_o` binary for each option not `taken` (by earlier phases) whose candidate has a
    /// slot left, at most the slots left per candidate, `y_i <= sum of x_o over the options seeing i`, `0 <= y_i <= r_i - base_i`, the
    /// money `budget` (`None`: no money limit) and at most `count` cameras. Demand points seen
    /// by the same options with the same room are merged into one `y`. `start` (a feasible
    /// plan, as option indices) is the solver's first incumbent. `None` when the phase is larger
    /// than `limits`, or nothing can add coverage.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        p: &Problem,
        opts: &[Opt],
        base: &[u8],
        taken: &[usize],
        budget: Option<f64>,
        count: Option<usize>,
        start: &[usize],
        limits: &ExactLimits,
    ) -> Option<Mip> {
        use good_lp::{variable, Expression, ProblemVariables, SolverModel, WithInitialSolution, WithTimeLimit};
        use std::collections::HashMap;
        let room = |i: usize| p.demand[i].required.saturating_sub(base[i].min(p.demand[i].required));
        let mut slots: Vec<u32> = p.candidates.iter().map(|c| c.slots).collect();
        let mut is_taken = vec![false; opts.len()];
        for &k in taken {
            if let Some(t) = is_taken.get_mut(k) {
                *t = true;
                slots[opts[k].candidate] = slots[opts[k].candidate].saturating_sub(1);
            }
        }
        // The options that may add something.
        let live: Vec<usize> = (0..opts.len())
            .filter(|&k| {
                let o = &opts[k];
                !is_taken[k]
                    && slots[o.candidate] > 0
                    && budget.is_none_or(|b| o.cost <= b + 1e-9)
                    && o.covers.iter().any(|&i| room(i as usize) > 0 && p.demand[i as usize].weight > 0.0)
            })
            .collect();
        if live.is_empty() || live.len() > limits.max_options {
            return None;
        }
        let mut seen_by: Vec<Vec<u32>> = vec![Vec::new(); p.demand.len()];
        for (j, &k) in live.iter().enumerate() {
            for &i in &opts[k].covers {
                if room(i as usize) > 0 {
                    seen_by[i as usize].push(j as u32);
                }
            }
        }
        // Merge the points seen by the same options with the same room.
        let mut groups: HashMap<(Vec<u32>, u8), f64> = HashMap::new();
        for (i, by) in seen_by.into_iter().enumerate() {
            let d = &p.demand[i];
            if by.is_empty() || d.weight <= 0.0 {
                continue;
            }
            *groups.entry((by, room(i))).or_insert(0.0) += d.weight / f64::from(d.required);
        }
        let nonzeros: usize = groups.keys().map(|(by, _)| by.len()).sum();
        if nonzeros > limits.max_nonzeros {
            return None;
        }
        let mut groups: Vec<((Vec<u32>, u8), f64)> = groups.into_iter().collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        let mut vars = ProblemVariables::new();
        let x: Vec<good_lp::Variable> = live.iter().map(|_| vars.add(variable().binary())).collect();
        let y: Vec<good_lp::Variable> =
            groups.iter().map(|((_, cap), _)| vars.add(variable().min(0.0).max(f64::from(*cap)))).collect();
        let objective: Expression = groups.iter().zip(&y).map(|((_, w), v)| *w * *v).sum();
        let mut model = vars.maximise(objective).using(solver);
        for (((by, _), _), v) in groups.iter().zip(&y) {
            let seen: Expression = by.iter().map(|&j| x[j as usize]).sum();
            model.add_constraint((*v - seen).leq(0.0));
        }
        if let Some(b) = budget {
            let spent: Expression = live.iter().zip(&x).map(|(&k, v)| opts[k].cost * *v).sum();
            model.add_constraint(spent.leq(b));
        }
        if let Some(n) = count {
            let all: Expression = x.iter().copied().sum();
            model.add_constraint(all.leq(n as f64));
        }
        let mut per_candidate: HashMap<usize, Vec<good_lp::Variable>> = HashMap::new();
        for (&k, v) in live.iter().zip(&x) {
            per_candidate.entry(opts[k].candidate).or_default().push(*v);
        }
        let mut poles: Vec<(usize, Vec<good_lp::Variable>)> = per_candidate.into_iter().collect();
        poles.sort_by_key(|(c, _)| *c);
        for (c, vs) in poles {
            let left = slots[c] as usize;
            if vs.len() > left {
                let on: Expression = vs.into_iter().sum();
                model.add_constraint(on.leq(left as f64));
            }
        }
        // The starting plan: its options and the coverage they give.
        let mut seen = vec![0u32; groups.len()];
        let mut init = Vec::with_capacity(live.len() + y.len());
        for (j, &k) in live.iter().enumerate() {
            let on = start.contains(&k);
            init.push((x[j], if on { 1.0 } else { 0.0 }));
        }
        for (g, ((by, cap), _)) in groups.iter().enumerate() {
            seen[g] = by.iter().filter(|&&j| start.contains(&live[j as usize])).count() as u32;
            init.push((y[g], f64::from(seen[g].min(u32::from(*cap)))));
        }
        // A proven optimum, not one within a relative gap (HiGHS stops at 1e-4 by default).
        let model = good_lp::WithMipGap::with_mip_gap(model, 0.0).ok()?;
        let model = model.with_initial_solution(init).with_time_limit(limits.time_limit_s);
        Some(Mip { model, x: live.into_iter().zip(x).collect() })
    }

    /// Solves it: the options chosen (indices into the options given) and whether the solver
    /// proved them optimal (otherwise its time ran out). `None` when the solver fails or finds
    /// nothing in its time.
    pub fn choose(self) -> Option<(Vec<usize>, bool)> {
        use good_lp::{Solution, SolutionStatus, SolverModel};
        let solution = self.model.solve().ok()?;
        let optimal = matches!(solution.status(), SolutionStatus::Optimal);
        Some((self.x.iter().filter(|(_, v)| solution.value(*v) > 0.5).map(|(k, _)| *k).collect(), optimal))
    }

    /// [`Mip::choose`] with the weight covered by the answer (`base` counted).
    pub fn solve(self, p: &Problem, opts: &[Opt], base: &[u8]) -> Option<MipAnswer> {
        let (chosen, optimal) = self.choose()?;
        Some(MipAnswer { value: value_with(p, opts, base, &chosen), chosen, optimal })
    }
}

/// The weight covered by `base` and the options `chosen`.
pub fn value_with(p: &Problem, opts: &[Opt], base: &[u8], chosen: &[usize]) -> f64 {
    let mut counts = base.to_vec();
    for &k in chosen {
        for &i in &opts[k].covers {
            counts[i as usize] = counts[i as usize].saturating_add(1);
        }
    }
    covered(p, &counts)
}
