//! Choosing cameras: lazy greedy by gain per cost with a swap local search, phase by phase, and
//! an upper bound on the optimum for every phase.
//!
//! The value of a set of cameras is the weight covered: each demand point counts its weight
//! times the share of its required coverage that is met (`min(seen by, required) / required`),
//! existing cameras included. This is monotone and submodular, so:
//! - *greedy*: repeatedly add the option with the largest marginal gain per cost that fits the
//!   budget and uses a free candidate (one camera per mounting point); gains only shrink, so
//!   stale gains in a priority queue are upper bounds and most need no recomputation (lazy
//!   greedy). The best single option that fits is also tried (the classic guard for budgets).
//! - *local search*: swap a camera of the phase for an unused option when that covers more
//!   within the budget, until no swap helps.
//! - *upper bounds*: (1) for any set S and the best set O within budget B,
//!   `f(O) <= f(S) + sum over O of the marginal gains w.r.t. S`, which is at most the best
//!   fractional knapsack of those gains with capacity B (the one-camera-per-point rule
//!   relaxed); (2) the Lagrangian dual of the linear relaxation (see `lagrangian_bound`), which is
//!   usually far tighter. The least of them, capped by the total weight, is reported;
//!   `gap = (bound - covered) / bound`.
//!
//! Phases are nested: phase k spends its own budget and adds to phases 1..k-1; its bound is for
//! the cumulative budget without the nesting, hence also a bound for the nested plan.

use crate::coverage::{existing_counts, options_until, Opt};
use crate::exact::{ExactLimits, Mip};
use crate::instance::Problem;
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};

/// A chosen camera.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub option: usize,
    pub phase: usize,
    /// What it added when it was chosen (weight).
    pub gain: f64,
}

/// The result of one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseResult {
    pub phase: usize,
    /// `f64::INFINITY` when only a camera count limits the phase.
    pub budget: f64,
    /// The most new cameras of the phase, if limited.
    pub max_cameras: Option<usize>,
    pub spent: f64,
    pub cameras: usize,
    pub covered_weight: f64,
    pub total_weight: f64,
    pub upper_bound: f64,
    pub gap: f64,
    /// How many times each demand point is seen after this phase.
    pub counts: Vec<u8>,
}

/// A plan: the options, the chosen cameras in order of value per phase, and each phase's result.
#[derive(Debug, Clone)]
pub struct Plan {
    pub options: Vec<Opt>,
    pub chosen: Vec<Chosen>,
    pub phases: Vec<PhaseResult>,
    /// Before any new camera: existing cameras only.
    pub base_counts: Vec<u8>,
    pub base_covered: f64,
    pub total_weight: f64,
}

/// A progress callback: a stage name and the share done (0 to 1).
pub type Progress<'a> = dyn Fn(&str, f64) + Sync + 'a;

/// How to plan.
pub struct PlanOptions<'a> {
    pub local_search: bool,
    /// Solve phases small enough exactly (an integer program in process) after the fast path;
    /// `None`: the fast path only.
    pub exact: Option<ExactLimits>,
    /// Called with a stage name and the share done (0 to 1).
    pub progress: Option<&'a Progress<'a>>,
    /// Set to stop: planning ends with `None` at the next check.
    pub cancel: Option<&'a AtomicBool>,
}

impl Default for PlanOptions<'_> {
    fn default() -> Self {
        PlanOptions { local_search: true, exact: Some(ExactLimits::default()), progress: None, cancel: None }
    }
}

/// The weight a demand point adds when seen once more, given how often it is seen.
fn unit_gain(w: f64, required: u8, count: u8) -> f64 {
    if count < required {
        w / f64::from(required)
    } else {
        0.0
    }
}

/// Value state: how often each point is seen.
#[derive(Clone)]
pub(crate) struct State<'p> {
    pub(crate) p: &'p Problem,
    pub(crate) counts: Vec<u8>,
}

impl<'p> State<'p> {
    pub(crate) fn gain(&self, o: &Opt) -> f64 {
        o.covers
            .iter()
            .map(|&i| {
                let d = &self.p.demand[i as usize];
                unit_gain(d.weight, d.required, self.counts[i as usize])
            })
            .sum()
    }
    pub(crate) fn add(&mut self, o: &Opt) {
        for &i in &o.covers {
            self.counts[i as usize] = self.counts[i as usize].saturating_add(1);
        }
    }
    pub(crate) fn remove(&mut self, o: &Opt) {
        for &i in &o.covers {
            self.counts[i as usize] = self.counts[i as usize].saturating_sub(1);
        }
    }
    pub(crate) fn value(&self) -> f64 {
        covered(self.p, &self.counts)
    }
}

/// The weight covered by `counts`.
pub fn covered(p: &Problem, counts: &[u8]) -> f64 {
    p.demand.iter().zip(counts).map(|(d, &c)| d.weight * f64::from(c.min(d.required)) / f64::from(d.required)).sum()
}

struct Entry {
    key: f64,
    option: usize,
}
impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key && self.option == o.option
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> CmpOrdering {
        self.key.total_cmp(&o.key).then(o.option.cmp(&self.option))
    }
}

fn ratio(gain: f64, cost: f64) -> f64 {
    if cost <= 0.0 {
        gain * 1e12
    } else {
        gain / cost
    }
}

/// Lazy greedy within `budget` from `state`, skipping used candidates. Returns the chosen
/// options with their gains, in order.
fn greedy(
    opts: &[Opt],
    state: &mut State<'_>,
    used: &mut [bool],
    budget: f64,
    count: Option<usize>,
    cancel: Option<&AtomicBool>,
) -> Option<Vec<(usize, f64)>> {
    // With money, by gain per cost; with a count alone, by gain.
    let key = |g: f64, o: &Opt| if budget.is_finite() { ratio(g, o.cost) } else { g };
    let mut heap: BinaryHeap<Entry> = opts
        .iter()
        .enumerate()
        .filter(|(_, o)| !used[o.candidate] && o.cost <= budget)
        .map(|(i, o)| Entry { key: key(state.gain(o), o), option: i })
        .filter(|e| e.key > 0.0)
        .collect();
    let mut left = budget;
    let mut out = Vec::new();
    let mut checks = 0u32;
    while let Some(top) = heap.pop() {
        if count.is_some_and(|n| out.len() >= n) {
            break;
        }
        checks += 1;
        if checks.is_multiple_of(4096) && cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return None;
        }
        let o = &opts[top.option];
        if used[o.candidate] || o.cost > left {
            continue;
        }
        let g = state.gain(o);
        if g <= 0.0 {
            continue;
        }
        let key = key(g, o);
        if heap.peek().is_some_and(|next| next.key > key + 1e-12) {
            heap.push(Entry { key, option: top.option });
            continue;
        }
        state.add(o);
        used[o.candidate] = true;
        left -= o.cost;
        out.push((top.option, g));
    }
    Some(out)
}

/// Swaps that raise the value within the phase's budget; `mine` are this phase's choices.
fn local_search(
    opts: &[Opt],
    state: &mut State<'_>,
    used: &mut [bool],
    mine: &mut [(usize, f64)],
    budget: f64,
    cancel: Option<&AtomicBool>,
) {
    for _pass in 0..20 {
        let mut improved = false;
        for k in 0..mine.len() {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return;
            }
            let (cur, _) = mine[k];
            let spent: f64 = mine.iter().map(|(o, _)| opts[*o].cost).sum();
            state.remove(&opts[cur]);
            used[opts[cur].candidate] = false;
            let base = state.gain(&opts[cur]);
            let room = budget - spent + opts[cur].cost;
            let mut best = (cur, base);
            for (j, o) in opts.iter().enumerate() {
                if j == cur || used[o.candidate] || o.cost > room + 1e-9 {
                    continue;
                }
                let g = state.gain(o);
                if g > best.1 + 1e-9 {
                    best = (j, g);
                }
            }
            state.add(&opts[best.0]);
            used[opts[best.0].candidate] = true;
            if best.0 != cur {
                mine[k] = best;
                improved = true;
            }
        }
        if !improved {
            break;
        }
    }
}

/// The upper bound for budget `capacity` given the current state (see the module comment).
/// With `unit`, every option costs 1 (`capacity` is a count of cameras).
fn upper_bound(opts: &[Opt], state: &State<'_>, capacity: f64, unit: bool, total: f64) -> f64 {
    let mut items: Vec<(f64, f64)> = opts
        .iter()
        .map(|o| (state.gain(o), if unit { 1.0 } else { o.cost }))
        .filter(|(g, _)| *g > 0.0)
        .collect();
    items.sort_by(|a, b| ratio(b.0, b.1).total_cmp(&ratio(a.0, a.1)));
    let mut left = capacity;
    let mut extra = 0.0;
    for (g, c) in items {
        if c <= left {
            extra += g;
            left -= c;
        } else {
            if c > 0.0 {
                extra += g * left / c;
            }
            break;
        }
    }
    (state.value() + extra).min(total)
}

/// A second, usually much tighter bound: the Lagrangian dual of the linear relaxation (with
/// the one-camera-per-point rule relaxed). For multipliers `u >= 0` on the coverage constraints
/// `required_i y_i <= existing_i + sum of x_o over the options o seeing i`,
/// `L(u) = sum_i [max(0, w_i - required_i u_i) + u_i existing_i] + K(u)` where `K(u)` is the best
/// fractional knapsack of the options valued `sum of u_i over what they see` within the
/// capacity. Every `L(u)` bounds the optimum; a subgradient descent (Polyak steps towards the
/// plan's value `lower`) looks for a small one. Returns the least `L(u)` found.
fn lagrangian_bound(
    p: &Problem,
    opts: &[Opt],
    existing: &[u8],
    capacity: f64,
    unit: bool,
    lower: f64,
    iters: usize,
    cancel: Option<&AtomicBool>,
    progress: &dyn Fn(f64),
) -> f64 {
    let n = p.demand.len();
    let mut u: Vec<f64> = p
        .demand
        .iter()
        .zip(existing)
        .map(|(d, &e)| if e >= d.required { 0.0 } else { d.weight / f64::from(d.required) })
        .collect();
    let mut best = f64::INFINITY;
    let mut theta = 1.0;
    let mut stall = 0;
    let mut g = vec![0.0; n];
    let mut items: Vec<(f64, f64, usize)> = Vec::with_capacity(opts.len());
    for it in 0..iters {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            break;
        }
        if it % 10 == 0 {
            progress(it as f64 / iters as f64);
        }
        let mut val = 0.0;
        for (i, d) in p.demand.iter().enumerate() {
            let r = f64::from(d.required);
            let e = f64::from(existing[i]);
            g[i] = e;
            val += u[i] * e;
            let a = d.weight - r * u[i];
            if a > 0.0 {
                val += a;
                g[i] -= r;
            }
        }
        items.clear();
        for (k, o) in opts.iter().enumerate() {
            let gain: f64 = o.covers.iter().map(|&i| u[i as usize]).sum();
            if gain > 0.0 {
                items.push((gain, if unit { 1.0 } else { o.cost }, k));
            }
        }
        items.sort_by(|a, b| ratio(b.0, b.1).total_cmp(&ratio(a.0, a.1)));
        let mut left = capacity;
        for &(gain, cost, k) in &items {
            let x = if cost <= 0.0 {
                1.0
            } else if cost <= left {
                left -= cost;
                1.0
            } else {
                let x = left / cost;
                left = 0.0;
                x
            };
            if x <= 0.0 {
                break;
            }
            val += gain * x;
            for &i in &opts[k].covers {
                g[i as usize] += x;
            }
        }
        if !best.is_finite() || val < best - 1e-9 * best.abs().max(1.0) {
            best = val;
            stall = 0;
        } else {
            stall += 1;
            if stall >= 6 {
                theta /= 2.0;
                stall = 0;
            }
        }
        let norm2: f64 = g.iter().map(|x| x * x).sum();
        if norm2 <= 1e-18 || theta < 1e-4 {
            break;
        }
        let step = theta * (val - lower).max(1e-9 * val.abs().max(1.0)) / norm2;
        for i in 0..n {
            u[i] = (u[i] - step * g[i]).max(0.0);
        }
    }
    best
}

/// Runs the exact program on its own thread, so that a cancel stops planning at once (the
/// abandoned solver ends by its time limit). `Some(None)` when the solver gave no answer; `None`
/// when cancelled.
fn run_exact(
    mip: Mip,
    time_limit_s: f64,
    report: &dyn Fn(f64),
    cancel: Option<&AtomicBool>,
) -> Option<Option<(Vec<usize>, bool)>> {
    let started = std::time::Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("polis-plan-exact".into()).spawn(move || {
        let _ = tx.send(mip.choose());
    });
    if spawned.is_err() {
        return Some(None);
    }
    report(0.0);
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(answer) => {
                report(1.0);
                return Some(answer);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Some(None),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return None;
        }
        report((started.elapsed().as_secs_f64() / time_limit_s.max(1e-3)).min(0.99));
    }
}

/// Plans every phase of the problem. `None` when cancelled.
pub fn plan(p: &Problem, o: &PlanOptions<'_>) -> Option<Plan> {
    let report = |stage: &str, share: f64| {
        if let Some(f) = o.progress {
            f(stage, share);
        }
    };
    let coverage_share = |share: f64| report("coverage", share);
    let opts = options_until(p, o.cancel, Some(&coverage_share))?;
    report("coverage", 1.0);
    if o.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        return None;
    }
    let base_counts = existing_counts(p);
    let total_weight: f64 = p.demand.iter().map(|d| d.weight).sum();
    let mut state = State { p, counts: base_counts.clone() };
    let base_covered = state.value();
    let mut used = vec![false; p.candidates.len()];
    let mut chosen = Vec::new();
    let mut phases = Vec::new();
    let mut cumulative = 0.0;
    let mut cumulative_count = Some(0usize);
    let mut relaxed_bounds = Vec::new();
    for (k, &budget) in p.budgets.iter().enumerate() {
        let count = p.max_cameras.get(k).copied().flatten();
        // Every stage's share runs over all the phases: phase k of n covers k/n to (k+1)/n.
        let n_phases = p.budgets.len() as f64;
        let share = |x: f64| (k as f64 + x.clamp(0.0, 1.0)) / n_phases;
        report("phase", share(0.0));
        let mut s_greedy = state.clone();
        let mut u_greedy = used.clone();
        let mut mine = greedy(&opts, &mut s_greedy, &mut u_greedy, budget, count, o.cancel)?;
        // The best single option that fits, against the ratio greedy.
        let single = opts
            .iter()
            .enumerate()
            .filter(|(_, x)| !used[x.candidate] && x.cost <= budget)
            .map(|(i, x)| (i, state.gain(x)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        report("phase", share(0.5));
        let greedy_gain: f64 = mine.iter().map(|(_, g)| g).sum();
        if let Some((i, g)) = single {
            if g > greedy_gain {
                s_greedy = state.clone();
                u_greedy = used.clone();
                s_greedy.add(&opts[i]);
                u_greedy[opts[i].candidate] = true;
                mine = vec![(i, g)];
            }
        }
        if o.local_search {
            local_search(&opts, &mut s_greedy, &mut u_greedy, &mut mine, budget, o.cancel);
        }
        if o.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return None;
        }
        // The exact program of the phase (given the earlier phases' cameras), from the fast
        // path's plan, when the phase is small enough.
        let mut proven = None;
        if let Some(limits) = &o.exact {
            let start: Vec<usize> = mine.iter().map(|(i, _)| *i).collect();
            let money = budget.is_finite().then_some(budget);
            if let Some(mip) = Mip::build(p, &opts, &state.counts, &used, money, count, &start, limits) {
                let exact_share = |x: f64| report("exact", share(x));
                if let Some((exact, optimal)) = run_exact(mip, limits.time_limit_s, &exact_share, o.cancel)? {
                    let fast = s_greedy.value();
                    let value = crate::exact::value_with(p, &opts, &state.counts, &exact);
                    if value > fast + 1e-9 * fast.max(1.0) {
                        s_greedy = state.clone();
                        u_greedy = used.clone();
                        for &i in &exact {
                            s_greedy.add(&opts[i]);
                            u_greedy[opts[i].candidate] = true;
                        }
                        mine = exact.into_iter().map(|i| (i, 0.0)).collect();
                    }
                    if optimal {
                        proven = Some(value.max(fast));
                    }
                }
            }
        }
        state = s_greedy;
        used = u_greedy;
        // Order the phase's cameras by value: their gain when added in that order.
        let mut replay = State { p, counts: state.counts.clone() };
        for (i, _) in &mine {
            replay.remove(&opts[*i]);
        }
        let mut rest: Vec<usize> = mine.iter().map(|(i, _)| *i).collect();
        cumulative += budget;
        cumulative_count = cumulative_count.zip(count).map(|(a, b)| a + b);
        // The bounds of the relaxation: for the money, and for the count of cameras.
        let knapsack = |st: &State<'_>| {
            let mut b = total_weight;
            if cumulative.is_finite() {
                b = b.min(upper_bound(&opts, st, cumulative, false, total_weight));
            }
            if let Some(n) = cumulative_count {
                b = b.min(upper_bound(&opts, st, n as f64, true, total_weight));
            }
            b
        };
        // The bound holds for any set: take the least over some prefixes of the phase's
        // cameras in order of value (from the cameras of earlier phases alone to all of them).
        let step = (rest.len() / 8).max(1);
        let mut bound = knapsack(&replay);
        let mut added = 0usize;
        while !rest.is_empty() {
            let (pos, g) = rest
                .iter()
                .enumerate()
                .map(|(pos, i)| (pos, replay.gain(&opts[*i])))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, 0.0));
            let i = rest.swap_remove(pos);
            replay.add(&opts[i]);
            chosen.push(Chosen { option: i, phase: k + 1, gain: g });
            added += 1;
            if added.is_multiple_of(step) || rest.is_empty() {
                bound = bound.min(knapsack(&replay));
            }
        }
        let covered_weight = state.value();
        if o.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return None;
        }
        report("phase", share(1.0));
        report("bound", share(0.0));
        let mut lagrangian = f64::INFINITY;
        let both = if cumulative.is_finite() && cumulative_count.is_some() { 2.0 } else { 1.0 };
        if cumulative.is_finite() {
            let progress = |x: f64| report("bound", share(x / both));
            lagrangian =
                lagrangian_bound(p, &opts, &base_counts, cumulative, false, covered_weight, 250, o.cancel, &progress);
        }
        if let Some(n) = cumulative_count {
            let progress = |x: f64| report("bound", share((both - 1.0 + x) / both));
            let by_count =
                lagrangian_bound(p, &opts, &base_counts, n as f64, true, covered_weight, 250, o.cancel, &progress);
            lagrangian = lagrangian.min(by_count);
        }
        report("bound", share(1.0));
        if o.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return None;
        }
        let relaxed = bound.min(lagrangian).max(covered_weight);
        relaxed_bounds.push(relaxed);
        // A phase proven optimal (given the earlier phases) is its own bound.
        let bound = match proven {
            Some(opt) => opt.max(covered_weight).min(relaxed),
            None => relaxed,
        };
        let gap = if bound > 0.0 { (bound - covered_weight) / bound } else { 0.0 };
        phases.push(PhaseResult {
            phase: k + 1,
            budget,
            max_cameras: count,
            spent: mine.iter().map(|(i, _)| opts[*i].cost).sum(),
            cameras: mine.len(),
            covered_weight,
            total_weight,
            upper_bound: bound,
            gap,
            counts: state.counts.clone(),
        });
    }
    // The best plan for a smaller budget covers no more than the best for a larger one: each
    // phase's bound is also bounded by the later phases' bounds of the relaxation (which, unlike
    // an exact phase's optimum, do not depend on the earlier phases' choices).
    for k in (0..phases.len().saturating_sub(1)).rev() {
        let later = relaxed_bounds[k + 1..].iter().copied().fold(f64::INFINITY, f64::min);
        let ph = &mut phases[k];
        if later < ph.upper_bound {
            ph.upper_bound = later.max(ph.covered_weight);
            ph.gap = if ph.upper_bound > 0.0 { (ph.upper_bound - ph.covered_weight) / ph.upper_bound } else { 0.0 };
        }
    }
    report("phase", 1.0);
    Some(Plan { options: opts, chosen, phases, base_counts, base_covered, total_weight })
}
