//! Choosing cameras: lazy greedy by gain per cost with a local search, phase by phase, the exact
//! integer program on phases small enough, and an upper bound on the optimum for every phase.
//!
//! The value of a set of cameras is the weight covered: each demand point counts its weight
//! times the share of its required coverage that is met (`min(seen by, required) / required`),
//! existing cameras included. This is monotone and submodular, so:
//! - *greedy*: repeatedly add the option with the largest marginal gain per cost (per camera
//!   when only a count limits the phase) that fits the budget and the count, is not taken yet
//!   and whose candidate has a slot left (a mounting point holds up to `slots` cameras); gains
//!   only shrink, so stale gains in a priority queue are upper bounds and most need no
//!   recomputation (lazy greedy). The best single option that fits is also tried (the classic
//!   guard for budgets).
//!   With money, a greedy by gain alone is tried too: the best of them is the start, so a plan
//!   never covers less than the plain lazy greedy ([`lazy_greedy`]).
//! - *local search* (see `local_search`): swaps, refilling what is left, and drop-and-refill
//!   moves, with every option's gain kept up to date incrementally.
//! - *tabu search* (see [`TabuLimits`]): the best swap each round even when it covers less, with
//!   short memories against undoing it, overspending at a price with money, and restarts from
//!   the best plan; only plans within the limits are kept.
//! - *exact*: when a phase is small enough ([`ExactLimits`]), its integer program (given the
//!   earlier phases' cameras) is solved in process from the plan so far; a better answer
//!   replaces the plan, and a proven optimum of the first phase is its bound (gap 0).
//! - *upper bounds*, valid for the problem as stated (slots, budgets, counts, nested phases):
//!   (1) for any set S and the best set O within budget B,
//!   `f(O) <= f(S) + sum over O of the marginal gains w.r.t. S`, which is at most the best
//!   fractional knapsack of those gains with capacity B (the slots relaxed); (2) the Lagrangian
//!   dual of the linear relaxation (see `lagrangian_bound`: the slots kept), which reaches the
//!   relaxation's optimum and is far tighter. With a count of cameras, both are also taken with
//!   every camera costing 1 and the count as capacity. The least of them, capped by the total
//!   weight, is reported; `gap = (bound - covered) / bound`. The relaxation's own gap to the
//!   integer optimum is what is left.
//!
//! Phases are nested: phase k spends its own budget and adds to phases 1..k-1; its bound is for
//! the cumulative budget (and count) without the nesting, hence also a bound for every nested
//! plan. A later phase's exact optimum is conditional on the earlier phases' choices, so it
//! improves the plan but is not used as a bound.

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
    /// Large-neighbourhood search on phases too large for `exact`: regions of the city re-solved
    /// exactly (see [`LnsLimits`]); `None`: not tried.
    pub lns: Option<LnsLimits>,
    /// Tabu search of swaps after the local search (see [`TabuLimits`]); `None`: not tried.
    /// Needs `local_search`.
    pub tabu: Option<TabuLimits>,
    /// Subgradient steps of the Lagrangian bound per phase (more: a tighter bound, slower).
    pub bound_steps: usize,
    /// Called with a stage name and the share done (0 to 1).
    pub progress: Option<&'a Progress<'a>>,
    /// Set to stop: planning ends with `None` at the next check.
    pub cancel: Option<&'a AtomicBool>,
}

impl Default for PlanOptions<'_> {
    fn default() -> Self {
        PlanOptions {
            local_search: true,
            exact: Some(ExactLimits::default()),
            lns: Some(LnsLimits::default()),
            tabu: Some(TabuLimits::default()),
            bound_steps: 250,
            progress: None,
            cancel: None,
        }
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

/// Which options are taken and how many cameras each mounting point may still take: an option
/// is free when it is not taken and its candidate has a slot left.
#[derive(Clone)]
pub(crate) struct Room {
    /// Slots left per candidate.
    pub(crate) left: Vec<u32>,
    /// Whether each option is taken.
    pub(crate) on: Vec<bool>,
}

impl Room {
    pub(crate) fn new(p: &Problem, n_options: usize) -> Room {
        Room { left: p.candidates.iter().map(|c| c.slots).collect(), on: vec![false; n_options] }
    }
    pub(crate) fn free(&self, opts: &[Opt], k: usize) -> bool {
        !self.on[k] && self.left[opts[k].candidate] > 0
    }
    pub(crate) fn take(&mut self, opts: &[Opt], k: usize) {
        self.on[k] = true;
        let c = &mut self.left[opts[k].candidate];
        *c = c.saturating_sub(1);
    }
    pub(crate) fn give(&mut self, opts: &[Opt], k: usize) {
        self.on[k] = false;
        self.left[opts[k].candidate] += 1;
    }
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

/// Lazy greedy within `budget` and `count` from `state`, taking only free options (not taken,
/// their candidate with a slot left), by gain per cost when `by_ratio` and money limits, else by
/// gain. Returns the chosen options with their gains, in order.
pub(crate) fn greedy(
    opts: &[Opt],
    state: &mut State<'_>,
    used: &mut Room,
    budget: f64,
    count: Option<usize>,
    by_ratio: bool,
    cancel: Option<&AtomicBool>,
) -> Option<Vec<(usize, f64)>> {
    // By gain per cost (when money limits), or by gain.
    let key = |g: f64, o: &Opt| if by_ratio && budget.is_finite() { ratio(g, o.cost) } else { g };
    let mut heap: BinaryHeap<Entry> = opts
        .iter()
        .enumerate()
        .filter(|(i, o)| used.free(opts, *i) && o.cost <= budget)
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
        if !used.free(opts, top.option) || o.cost > left {
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
        used.take(opts, top.option);
        left -= o.cost;
        out.push((top.option, g));
    }
    Some(out)
}

/// The local search's view of a plan: how often each point is seen, which candidates are
/// used, and every option's marginal gain, kept up to date as cameras come and go (only the
/// options seeing a point whose count changed are touched).
struct Search<'a> {
    p: &'a Problem,
    opts: &'a [Opt],
    /// The options seeing each demand point.
    seen_by: &'a [Vec<u32>],
    counts: Vec<u8>,
    used: Room,
    gain: Vec<f64>,
}

impl<'a> Search<'a> {
    fn new(p: &'a Problem, opts: &'a [Opt], seen_by: &'a [Vec<u32>], state: &State<'_>, used: &Room) -> Search<'a> {
        let gain = opts.iter().map(|o| state.gain(o)).collect();
        Search { p, opts, seen_by, counts: state.counts.clone(), used: used.clone(), gain }
    }

    fn change(&mut self, k: usize, up: bool) {
        let o = &self.opts[k];
        if up {
            self.used.take(self.opts, k);
        } else {
            self.used.give(self.opts, k);
        }
        for &i in &o.covers {
            let i = i as usize;
            let d = &self.p.demand[i];
            let before = unit_gain(d.weight, d.required, self.counts[i]);
            self.counts[i] = if up { self.counts[i].saturating_add(1) } else { self.counts[i].saturating_sub(1) };
            let after = unit_gain(d.weight, d.required, self.counts[i]);
            if after != before {
                for &q in &self.seen_by[i] {
                    self.gain[q as usize] += after - before;
                }
            }
        }
    }

    /// Adds option `k`; returns what it added.
    fn add(&mut self, k: usize) -> f64 {
        let g = self.gain[k];
        self.change(k, true);
        g
    }

    /// Removes option `k`; returns what it had added.
    fn remove(&mut self, k: usize) -> f64 {
        self.change(k, false);
        self.gain[k]
    }

    /// What member `k` adds to the others (what removing it would lose).
    fn loss(&self, k: usize) -> f64 {
        self.opts[k]
            .covers
            .iter()
            .map(|&i| {
                let d = &self.p.demand[i as usize];
                let c = self.counts[i as usize];
                if c == 0 {
                    0.0
                } else {
                    unit_gain(d.weight, d.required, c - 1)
                }
            })
            .sum()
    }

    /// Lazy greedy with the money `left` and at most `count` more cameras; by gain per cost
    /// when money limits, else by gain. Returns the options added with what each added.
    fn refill(&mut self, mut left: f64, count: Option<usize>, by_ratio: bool) -> Vec<(usize, f64)> {
        let key = |g: f64, c: f64| if by_ratio { ratio(g, c) } else { g };
        let mut heap: BinaryHeap<Entry> = (0..self.opts.len())
            .filter(|&k| self.used.free(self.opts, k) && self.opts[k].cost <= left + 1e-9 && self.gain[k] > 1e-12)
            .map(|k| Entry { key: key(self.gain[k], self.opts[k].cost), option: k })
            .collect();
        let mut out = Vec::new();
        while let Some(top) = heap.pop() {
            if count.is_some_and(|n| out.len() >= n) {
                break;
            }
            let (k, o) = (top.option, &self.opts[top.option]);
            if !self.used.free(self.opts, k) || o.cost > left + 1e-9 || self.gain[k] <= 1e-12 {
                continue;
            }
            let now = key(self.gain[k], o.cost);
            if heap.peek().is_some_and(|next| next.key > now + 1e-12) {
                heap.push(Entry { key: now, option: k });
                continue;
            }
            left -= o.cost;
            let g = self.add(k);
            out.push((k, g));
        }
        out
    }
}

/// Improves the phase's choices `mine` within its `budget` and `count`, from `state` and `used`
/// (which include them), until no move helps (or 20 rounds):
/// - *swap*: replace a camera with the unused option that adds the most within the money it
///   frees;
/// - *refill*: spend what is left (money and count) greedily;
/// - *drop and refill*: take a camera out and spend the money it frees greedily, kept when
///   that covers more.
#[allow(clippy::too_many_arguments)]
fn local_search(
    opts: &[Opt],
    seen_by: &[Vec<u32>],
    state: &mut State<'_>,
    used: &mut Room,
    mine: &mut Vec<(usize, f64)>,
    budget: f64,
    count: Option<usize>,
    cancel: Option<&AtomicBool>,
) {
    let eps = 1e-9 * state.value().max(1.0);
    let by_ratio = budget.is_finite();
    let mut s = Search::new(state.p, opts, seen_by, state, used);
    let mut cams: Vec<usize> = mine.iter().map(|(k, _)| *k).collect();
    let spent = |cams: &[usize]| cams.iter().map(|&k| opts[k].cost).sum::<f64>();
    let left_count = |cams: &[usize]| count.map(|n| n.saturating_sub(cams.len()));
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    // Swaps and refills until neither helps; then one pass of drop and refill; again while that
    // helps (a few times at most: drop and refill looks at every option for every camera).
    for _outer in 0..4 {
        for _pass in 0..20 {
            let mut improved = false;
            for pos in 0..cams.len() {
                if cancelled() {
                    break;
                }
                let cur = cams[pos];
                let room = budget - spent(&cams) + opts[cur].cost;
                let had = s.remove(cur);
                let mut best = (cur, had);
                for (j, o) in opts.iter().enumerate() {
                    if s.gain[j] > best.1 + eps && s.used.free(opts, j) && o.cost <= room + 1e-9 {
                        best = (j, s.gain[j]);
                    }
                }
                s.add(best.0);
                if best.0 != cur {
                    cams[pos] = best.0;
                    improved = true;
                }
            }
            let added = s.refill(budget - spent(&cams), left_count(&cams), by_ratio);
            improved |= !added.is_empty();
            cams.extend(added.into_iter().map(|(k, _)| k));
            if !improved || cancelled() {
                break;
            }
        }
        // Drop one and refill, from the camera that adds least.
        let mut improved = false;
        let mut ranked: Vec<(usize, f64)> = cams.iter().map(|&k| (k, s.loss(k))).collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (cur, _) in ranked {
            if cancelled() {
                break;
            }
            let Some(pos) = cams.iter().position(|&k| k == cur) else { continue };
            let lost = s.remove(cur);
            cams.swap_remove(pos);
            let added = s.refill(budget - spent(&cams), left_count(&cams), by_ratio);
            let won: f64 = added.iter().map(|(_, g)| g).sum();
            if won > lost + eps {
                cams.extend(added.into_iter().map(|(k, _)| k));
                improved = true;
            } else {
                for &(k, _) in &added {
                    s.remove(k);
                }
                s.add(cur);
                cams.push(cur);
            }
        }
        if !improved || cancelled() {
            break;
        }
    }
    state.counts = s.counts;
    *used = s.used;
    *mine = cams.into_iter().map(|k| (k, 0.0)).collect();
}

/// How the tabu search runs: each round makes the best swap of one of the phase's cameras for
/// an option not taken (within the money the camera frees and what is left), even when it
/// covers less, then spends what is left; an option swapped out may not come back, and one
/// swapped in may not leave, for a few rounds (unless that finds a better plan than any so far).
/// The best plan seen is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TabuLimits {
    /// The most rounds per phase.
    pub rounds: usize,
    /// Stop after this many rounds without a better plan.
    pub stall: usize,
    /// The most time for the whole plan, seconds, shared equally among its phases.
    pub total_s: f64,
}

impl Default for TabuLimits {
    fn default() -> Self {
        TabuLimits { rounds: 100_000, stall: 6_000, total_s: 12.0 }
    }
}

/// The tabu search of one phase (see [`TabuLimits`]) from the phase's cameras `mine` (in `state`
/// and `used`), which it replaces by the best plan it finds (never a worse one). A swap's
/// partner is looked for among the options whose gain the camera's removal changes, the options
/// of its own mounting point, and the free options of largest gain: with every option's gain
/// kept up to date incrementally, a round costs about the options near the cameras, not all
/// options times all cameras.
#[allow(clippy::too_many_arguments)]
fn tabu(
    opts: &[Opt],
    seen_by: &[Vec<u32>],
    by_candidate: &[Vec<usize>],
    state: &mut State<'_>,
    used: &mut Room,
    mine: &mut Vec<(usize, f64)>,
    budget: f64,
    count: Option<usize>,
    limits: &TabuLimits,
    seed: u64,
    cancel: Option<&AtomicBool>,
    progress: &dyn Fn(f64),
) {
    use rand::{Rng, SeedableRng};
    if mine.is_empty() || opts.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let by_ratio = budget.is_finite();
    let first = state.value();
    let eps = 1e-9 * first.max(1.0);
    let mut s = Search::new(state.p, opts, seen_by, state, used);
    let start: Vec<usize> = mine.iter().map(|(k, _)| *k).collect();
    let mut cams = start.clone();
    let mut spent: f64 = cams.iter().map(|&k| opts[k].cost).sum();
    let cheapest = opts.iter().map(|o| o.cost).fold(f64::INFINITY, f64::min);
    let mut value = first;
    let (mut best_value, mut best) = (value, cams.clone());
    // The round until which an option may not be added again / removed.
    let (mut no_add, mut no_drop) = (vec![0usize; opts.len()], vec![0usize; opts.len()]);
    let mut stamp = vec![0u32; opts.len()];
    let mut mark = 0u32;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x7461_6275);
    const TOP: usize = 48;
    let (mut top, mut near): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    let mut since_best = 0;
    // With money: a swap may overspend by up to the dearest option's cost, at a price per unit
    // of money over (strategic oscillation), which starts at what the plan's cameras cover per
    // unit of money at the margin; only plans within the budget are kept.
    let slack = if budget.is_finite() { opts.iter().map(|o| o.cost).fold(0.0, f64::max) } else { 0.0 };
    let base_price = {
        let mut r: Vec<f64> = cams.iter().map(|&k| s.loss(k) / opts[k].cost.max(1e-9)).collect();
        r.sort_by(|a, b| a.total_cmp(b));
        r.get(r.len() / 2).copied().unwrap_or(0.0).max(1e-9)
    };
    let mut price = base_price;
    let kick_every = (10 * cams.len()).clamp(100, 1_000).min(limits.stall.max(2) / 2);
    for round in 1..=limits.rounds {
        if since_best >= limits.stall {
            break;
        }
        if round % 16 == 0 {
            let t = started.elapsed().as_secs_f64();
            if t > limits.total_s || cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                break;
            }
            if round % 256 == 0 {
                progress((t / limits.total_s.max(1e-3)).max(since_best as f64 / limits.stall.max(1) as f64).min(1.0));
            }
        }
        // Stuck: back to the best plan, shaken by a few random swaps of its cameras for
        // options near them (kept from swapping back for a while).
        if since_best > 0 && since_best % kick_every == 0 {
            for &k in &cams {
                s.remove(k);
            }
            for &k in &best {
                s.add(k);
            }
            cams.clone_from(&best);
            spent = cams.iter().map(|&k| opts[k].cost).sum();
            for _ in 0..2 + cams.len() / 10 {
                let pos = rng.gen_range(0..cams.len());
                let a = cams[pos];
                let room = budget - spent + opts[a].cost;
                s.remove(a);
                let around = opts[a].covers.iter().flat_map(|&i| seen_by[i as usize].iter().map(|&q| q as usize));
                near.clear();
                near.extend(
                    around.filter(|&b| {
                        b != a && s.gain[b] > 1e-12 && opts[b].cost <= room + 1e-9 && s.used.free(opts, b)
                    }),
                );
                let b = if near.is_empty() { a } else { near[rng.gen_range(0..near.len())] };
                s.add(b);
                cams[pos] = b;
                spent += opts[b].cost - opts[a].cost;
                no_add[a] = round + 10 + rng.gen_range(0..10);
                no_drop[b] = round + 3 + rng.gen_range(0..4);
            }
            value = covered(s.p, &s.counts);
        }
        // The free options of largest gain (a removal does not change the others' gains).
        top.clear();
        top.extend((0..opts.len()).filter(|&k| s.gain[k] > 1e-12 && s.used.free(opts, k)));
        if top.len() > TOP {
            top.select_nth_unstable_by(TOP - 1, |a, b| s.gain[*b].total_cmp(&s.gain[*a]));
            top.truncate(TOP);
        }
        // (score, change of value, position, the option swapped in or `None` for a drop)
        let mut pick: Option<(f64, f64, usize, Option<usize>)> = None;
        let over = |x: f64| if budget.is_finite() { (x - budget).max(0.0) } else { 0.0 };
        let over_now = over(spent);
        for (pos, &a) in cams.iter().enumerate() {
            let room = budget - spent + opts[a].cost + slack;
            let loss = s.remove(a);
            let mut consider = |score: f64, delta: f64, b: Option<usize>, feasible: bool, pick: &mut Option<_>| {
                let forbidden = b.is_some_and(|b| no_add[b] > round) || no_drop[a] > round;
                if forbidden && !(feasible && value + delta > best_value + eps) {
                    return;
                }
                let better = match pick {
                    None => true,
                    Some((sc, _, _, _)) => score > *sc + eps || (score > *sc - eps && rng.gen_bool(0.25)),
                };
                if better {
                    *pick = Some((score, delta, pos, b));
                }
            };
            // Over the budget: dropping a camera is a move too.
            if over_now > 0.0 {
                let after = spent - opts[a].cost;
                consider(-loss + price * (over_now - over(after)), -loss, None, over(after) <= 1e-9, &mut pick);
            }
            mark = mark.wrapping_add(1);
            near.clear();
            let around = opts[a].covers.iter().flat_map(|&i| seen_by[i as usize].iter().map(|&q| q as usize));
            for q in around.chain(by_candidate[opts[a].candidate].iter().copied()).chain(top.iter().copied()) {
                if stamp[q] != mark {
                    stamp[q] = mark;
                    near.push(q);
                }
            }
            for &b in &near {
                if b == a || s.gain[b] <= 1e-12 || opts[b].cost > room + 1e-9 || !s.used.free(opts, b) {
                    continue;
                }
                let delta = s.gain[b] - loss;
                let after = over(spent - opts[a].cost + opts[b].cost);
                consider(delta - price * (after - over_now), delta, Some(b), after <= 1e-9, &mut pick);
            }
            s.add(a);
        }
        let Some((_, delta, pos, b)) = pick else {
            since_best += 1;
            continue;
        };
        let a = cams[pos];
        s.remove(a);
        no_add[a] = round + 7 + rng.gen_range(0..8);
        match b {
            Some(b) => {
                s.add(b);
                cams[pos] = b;
                spent += opts[b].cost - opts[a].cost;
                no_drop[b] = round + 2 + rng.gen_range(0..4);
            }
            None => {
                cams.swap_remove(pos);
                spent -= opts[a].cost;
            }
        }
        value += delta;
        // The price of overspending follows how often the plan is over the budget.
        if budget.is_finite() {
            price = if over(spent) > 0.0 {
                (price * 1.1).min(16.0 * base_price)
            } else {
                (price / 1.05).max(base_price / 8.0)
            };
        }
        // Spend what is left.
        let count_left = count.map(|n| n.saturating_sub(cams.len()));
        if budget - spent >= cheapest - 1e-9 && count_left != Some(0) {
            for (k, g) in s.refill(budget - spent, count_left, by_ratio) {
                cams.push(k);
                spent += opts[k].cost;
                value += g;
            }
        }
        if over(spent) > 1e-6 * budget.abs().max(1.0) {
            since_best += 1;
            continue;
        }
        if value > best_value + eps {
            // Exactly, so that rounding does not drift.
            value = covered(s.p, &s.counts);
            if value > best_value + eps {
                best_value = value;
                best.clone_from(&cams);
                since_best = 0;
                continue;
            }
        }
        since_best += 1;
    }
    progress(1.0);
    if best_value > first + eps {
        for &k in &start {
            state.remove(&opts[k]);
            used.give(opts, k);
        }
        for &k in &best {
            state.add(&opts[k]);
            used.take(opts, k);
        }
        *mine = best.into_iter().map(|k| (k, 0.0)).collect();
    }
}

/// How the large-neighbourhood search runs: each round frees the phase's cameras on the
/// mounting points nearest one of its cameras (about `region_options` options in all) and
/// re-solves that region exactly (the integer program, everything else fixed, with the money
/// and count the freed cameras and the plan's leftovers give), keeping a better answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LnsLimits {
    /// The most rounds per phase.
    pub rounds: usize,
    /// About how many options a region holds.
    pub region_options: usize,
    /// The solver's time limit per region, seconds.
    pub time_limit_s: f64,
    /// The most time per phase, seconds (the search stops after the round that passes it).
    pub total_s: f64,
}

impl Default for LnsLimits {
    fn default() -> Self {
        LnsLimits { rounds: 200, region_options: 400, time_limit_s: 1.0, total_s: 4.0 }
    }
}

/// The large-neighbourhood search of one phase (see [`LnsLimits`]), from the phase's cameras
/// `mine` (in `state` and `used`); `earlier` are the earlier phases' cameras (fixed).
#[allow(clippy::too_many_arguments)]
fn lns(
    p: &Problem,
    opts: &[Opt],
    by_candidate: &[Vec<usize>],
    state: &mut State<'_>,
    used: &mut Room,
    mine: &mut Vec<(usize, f64)>,
    earlier: &[usize],
    budget: f64,
    count: Option<usize>,
    limits: &LnsLimits,
    cancel: Option<&AtomicBool>,
) {
    use rstar::primitives::GeomWithData;
    let started = std::time::Instant::now();
    let tree = rstar::RTree::bulk_load(
        p.candidates
            .iter()
            .enumerate()
            .filter(|(c, _)| !by_candidate[*c].is_empty())
            .map(|(c, s)| GeomWithData::new([s.x, s.y], c))
            .collect(),
    );
    let mip_limits =
        ExactLimits { max_options: usize::MAX, max_nonzeros: usize::MAX, time_limit_s: limits.time_limit_s };
    let mut in_region = vec![false; p.candidates.len()];
    let mut fixed_on = vec![false; opts.len()];
    for &k in earlier {
        fixed_on[k] = true;
    }
    let mut centres: Vec<usize> = mine.iter().map(|(k, _)| opts[*k].candidate).collect();
    centres.sort_unstable();
    centres.dedup();
    // Centres in a fixed order that spreads over the city: every 7th of the sorted candidates.
    let mut order = Vec::with_capacity(centres.len());
    for start in 0..7.min(centres.len()) {
        order.extend(centres.iter().skip(start).step_by(7).copied());
    }
    let mut since_better = 0;
    for (round, &centre) in order.iter().cycle().enumerate() {
        if round >= limits.rounds
            || since_better >= order.len()
            || started.elapsed().as_secs_f64() > limits.total_s
            || cancel.is_some_and(|c| c.load(Ordering::Relaxed))
        {
            break;
        }
        since_better += 1;
        let at = [p.candidates[centre].x, p.candidates[centre].y];
        let mut region: Vec<usize> = Vec::new();
        let mut sub: Vec<usize> = Vec::new();
        for g in tree.nearest_neighbor_iter(&at) {
            if sub.len() >= limits.region_options {
                break;
            }
            region.push(g.data);
            sub.extend_from_slice(&by_candidate[g.data]);
        }
        for &c in &region {
            in_region[c] = true;
        }
        let freed: Vec<usize> = mine.iter().map(|(k, _)| *k).filter(|&k| in_region[opts[k].candidate]).collect();
        for &c in &region {
            in_region[c] = false;
        }
        let mut base = state.counts.clone();
        for &k in &freed {
            for &i in &opts[k].covers {
                base[i as usize] = base[i as usize].saturating_sub(1);
            }
        }
        let spent: f64 = mine.iter().map(|(k, _)| opts[*k].cost).sum();
        let freed_cost: f64 = freed.iter().map(|&k| opts[k].cost).sum();
        let money = budget.is_finite().then_some(budget - spent + freed_cost);
        let n = count.map(|n| n.saturating_sub(mine.len() - freed.len()));
        let sub_opts: Vec<Opt> = sub.iter().map(|&k| opts[k].clone()).collect();
        let taken: Vec<usize> = (0..sub.len()).filter(|&j| fixed_on[sub[j]]).collect();
        let start: Vec<usize> = (0..sub.len()).filter(|&j| freed.contains(&sub[j])).collect();
        let Some(mip) = Mip::build(p, &sub_opts, &base, &taken, money, n, &start, &mip_limits) else { continue };
        let Some((answer, _)) = mip.choose() else { continue };
        let answer: Vec<usize> = answer.into_iter().map(|j| sub[j]).collect();
        // Only an answer that keeps every rule (the solver works to a tolerance).
        let mut room = used.clone();
        for &k in &freed {
            room.give(opts, k);
        }
        let mut fits = true;
        for &k in &answer {
            fits &= room.free(opts, k);
            room.take(opts, k);
        }
        let new_spent = spent - freed_cost + answer.iter().map(|&k| opts[k].cost).sum::<f64>();
        fits &= new_spent <= budget + 1e-6 * budget.abs().max(1.0);
        fits &= count.is_none_or(|c| mine.len() - freed.len() + answer.len() <= c);
        let now = state.value();
        let value = crate::exact::value_with(p, opts, &base, &answer);
        if fits && value > now + 1e-9 * now.max(1.0) {
            state.counts = base;
            for &k in &answer {
                state.add(&opts[k]);
            }
            *used = room;
            mine.retain(|(k, _)| !freed.contains(k));
            mine.extend(answer.into_iter().map(|k| (k, 0.0)));
            since_better = 0;
        }
    }
}

/// The upper bound for budget `capacity` given the current state (see the module comment).
/// With `unit`, every option costs 1 (`capacity` is a count of cameras).
fn upper_bound(opts: &[Opt], state: &State<'_>, capacity: f64, unit: bool, total: f64) -> f64 {
    let mut items: Vec<(f64, f64)> =
        opts.iter().map(|o| (state.gain(o), if unit { 1.0 } else { o.cost })).filter(|(g, _)| *g > 0.0).collect();
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

/// The Lagrangian subproblem's structure: the options of each candidate that has any, with its
/// slots.
pub(crate) struct Poles {
    members: Vec<(u32, Vec<usize>)>,
}

impl Poles {
    fn new(p: &Problem, opts: &[Opt]) -> Poles {
        let mut by: Vec<Vec<usize>> = vec![Vec::new(); p.candidates.len()];
        for (k, o) in opts.iter().enumerate() {
            by[o.candidate].push(k);
        }
        let members = by
            .into_iter()
            .enumerate()
            .filter(|(_, ks)| !ks.is_empty())
            .map(|(c, ks)| (p.candidates[c].slots, ks))
            .collect();
        Poles { members }
    }
}

/// The subproblem for the budget multiplier `lambda`: every candidate takes its (at most
/// `slots`) options of the largest positive `value - lambda cost`. Returns the sum of those and
/// the cost of the options taken (pushed onto `take` when given).
fn subproblem(
    poles: &Poles,
    value: &[f64],
    costs: &[f64],
    lambda: f64,
    buf: &mut Vec<(f64, usize)>,
    mut take: Option<&mut Vec<usize>>,
) -> (f64, f64) {
    let (mut val, mut spent) = (0.0, 0.0);
    for (slots, ks) in &poles.members {
        buf.clear();
        for &k in ks {
            let r = value[k] - lambda * costs[k];
            if r > 0.0 {
                buf.push((r, k));
            }
        }
        let s = (*slots as usize).max(1);
        if buf.len() > s {
            buf.select_nth_unstable_by(s - 1, |a, b| b.0.total_cmp(&a.0));
            buf.truncate(s);
        }
        for &(r, k) in buf.iter() {
            val += r;
            spent += costs[k];
            if let Some(t) = take.as_deref_mut() {
                t.push(k);
            }
        }
    }
    (val, spent)
}

/// The linear relaxation of the knapsack with slots, `max sum value_k x_k` subject to
/// `sum cost_k x_k <= capacity`, at most `slots` options per candidate and `0 <= x_k <= 1`, by
/// its dual in the budget's multiplier: `min over lambda >= 0 of lambda capacity +
/// subproblem(lambda)`, a convex piecewise linear function searched by cutting planes from
/// `warm`. Any `lambda` gives an upper bound; the search finds the least. Returns that value, its
/// `lambda`, and a solution as the options taken at the two ends of the last bracket
/// (`take_lo`, spending at least the capacity, and `take_hi`) with the share `t` of the first
/// (mixed so the money is spent exactly).
#[allow(clippy::too_many_arguments)]
fn knapsack_dual(
    poles: &Poles,
    value: &[f64],
    costs: &[f64],
    capacity: f64,
    warm: f64,
    buf: &mut Vec<(f64, usize)>,
    take_lo: &mut Vec<usize>,
    take_hi: &mut Vec<usize>,
) -> (f64, f64, f64) {
    take_lo.clear();
    take_hi.clear();
    let mut eval = |l: f64, take: Option<&mut Vec<usize>>| {
        let (v, sp) = subproblem(poles, value, costs, l, buf, take);
        (l, l * capacity + v, sp)
    };
    let zero = eval(0.0, None);
    if zero.2 <= capacity {
        eval(0.0, Some(take_lo));
        return (zero.1, 0.0, 1.0);
    }
    let lmax = (0..costs.len()).filter(|&k| costs[k] > 0.0).map(|k| value[k] / costs[k]).fold(0.0, f64::max);
    // (lambda, value, spent): `lo` spends more than the capacity, `hi` at most.
    let (mut lo, mut hi) = (zero, eval(lmax, None));
    if warm > 0.0 && warm < lmax {
        let w = eval(warm, None);
        if w.2 > capacity {
            lo = w;
        } else {
            hi = w;
        }
    }
    for _ in 0..60 {
        let (s_lo, s_hi) = (capacity - lo.2, capacity - hi.2);
        if s_hi == 0.0 {
            break;
        }
        // Where the two tangents meet: the least the function could be between them.
        let l = (hi.1 - lo.1 + s_lo * lo.0 - s_hi * hi.0) / (s_lo - s_hi);
        if !(l > lo.0 && l < hi.0) {
            break;
        }
        let floor = lo.1 + s_lo * (l - lo.0);
        let at = eval(l, None);
        if at.2 > capacity {
            lo = at;
        } else {
            hi = at;
        }
        if at.1 <= floor + 1e-12 * at.1.abs().max(1.0) {
            break;
        }
    }
    let best = if lo.1 < hi.1 { lo } else { hi };
    eval(lo.0, Some(take_lo));
    eval(hi.0, Some(take_hi));
    let t = if lo.2 > hi.2 { ((capacity - hi.2) / (lo.2 - hi.2)).clamp(0.0, 1.0) } else { 0.0 };
    (best.1, best.0, t)
}

/// A second, usually much tighter bound: the Lagrangian dual of the linear relaxation. For
/// multipliers `u` on the coverage constraints `required_i y_i <= existing_i + sum of x_o over
/// the options o seeing i` (`0 <= y_i <= 1`),
/// `L(u) = sum_i [max(0, w_i - required_i u_i) + u_i existing_i] + K(u)` where `K(u)` is the
/// linear relaxation of a knapsack with slots: the options valued `sum of u_i over what they
/// see`, each at most once, at most `slots` per candidate, within the capacity (see
/// `knapsack_dual`). Every `L(u)` bounds the optimum of the problem as stated (several cameras
/// per mounting point included), and `u_i` above `w_i / required_i` never lowers it, so `u`
/// stays in `[0, w_i / required_i]`. A deflected subgradient descent (Polyak steps towards the
/// plan's value `lower`) from `start` looks for a small `L(u)`. Returns the least `L(u)` found
/// and its multipliers (to start the next phase from).
#[allow(clippy::too_many_arguments)]
fn lagrangian_bound(
    p: &Problem,
    opts: &[Opt],
    poles: &Poles,
    existing: &[u8],
    capacity: f64,
    unit: bool,
    lower: f64,
    iters: usize,
    start: Option<&[f64]>,
    cancel: Option<&AtomicBool>,
    progress: &dyn Fn(f64),
) -> (f64, Vec<f64>) {
    let n = p.demand.len();
    let cap: Vec<f64> = p.demand.iter().map(|d| d.weight.max(0.0) / f64::from(d.required)).collect();
    let mut u: Vec<f64> = match start {
        Some(s) if s.len() == n => s.iter().zip(&cap).map(|(x, c)| x.clamp(0.0, *c)).collect(),
        _ => {
            p.demand.iter().zip(existing).zip(&cap).map(|((d, &e), c)| if e >= d.required { 0.0 } else { *c }).collect()
        }
    };
    let costs: Vec<f64> = opts.iter().map(|o| if unit { 1.0 } else { o.cost.max(0.0) }).collect();
    let mut best = f64::INFINITY;
    let mut best_u = u.clone();
    let mut theta = 1.0;
    let mut stall = 0;
    let mut g = vec![0.0; n];
    let mut dir = vec![0.0; n];
    let mut value = vec![0.0; opts.len()];
    let mut buf = Vec::new();
    let (mut take_lo, mut take_hi) = (Vec::new(), Vec::new());
    let mut lambda = 0.0;
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
        for (k, o) in opts.iter().enumerate() {
            value[k] = o.covers.iter().map(|&i| u[i as usize]).sum();
        }
        let (k_val, l, t) =
            knapsack_dual(poles, &value, &costs, capacity, lambda, &mut buf, &mut take_lo, &mut take_hi);
        lambda = l;
        val += k_val;
        for (set, share) in [(&take_lo, t), (&take_hi, 1.0 - t)] {
            if share > 0.0 {
                for &k in set.iter() {
                    for &i in &opts[k].covers {
                        g[i as usize] += share;
                    }
                }
            }
        }
        if !best.is_finite() || val < best - 1e-9 * best.abs().max(1.0) {
            best = val;
            best_u.clone_from(&u);
            stall = 0;
        } else {
            stall += 1;
            if stall >= 8 {
                theta /= 2.0;
                stall = 0;
            }
        }
        // Deflection (Camerini, Fratta and Maffioli): bend the step away from the last one
        // where they disagree, which damps the zig-zag of plain subgradient steps.
        let gd: f64 = g.iter().zip(&dir).map(|(a, b)| a * b).sum();
        let dd: f64 = dir.iter().map(|x| x * x).sum();
        let beta = if dd > 0.0 && gd < 0.0 { -1.5 * gd / dd } else { 0.0 };
        for i in 0..n {
            dir[i] = g[i] + beta * dir[i];
        }
        let norm2: f64 = dir.iter().map(|x| x * x).sum();
        if norm2 <= 1e-18 || theta < 1e-5 {
            break;
        }
        let step = theta * (val - lower).max(1e-9 * val.abs().max(1.0)) / norm2;
        for i in 0..n {
            u[i] = (u[i] - step * dir[i]).clamp(0.0, cap[i]);
        }
    }
    (best, best_u)
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
    let mut used = Room::new(p, opts.len());
    let mut chosen = Vec::new();
    let mut phases = Vec::new();
    let mut cumulative = 0.0;
    let mut cumulative_count = Some(0usize);
    let mut relaxed_bounds = Vec::new();
    // The Lagrangian subproblem's candidates, and each phase's multipliers to start the next from.
    let poles = Poles::new(p, &opts);
    let mut by_candidate: Vec<Vec<usize>> = vec![Vec::new(); p.candidates.len()];
    for (k, x) in opts.iter().enumerate() {
        by_candidate[x.candidate].push(k);
    }
    let mut seen_by: Vec<Vec<u32>> = vec![Vec::new(); p.demand.len()];
    if o.local_search {
        for (k, x) in opts.iter().enumerate() {
            for &i in &x.covers {
                seen_by[i as usize].push(k as u32);
            }
        }
    }
    let (mut warm_money, mut warm_count): (Option<Vec<f64>>, Option<Vec<f64>>) = (None, None);
    for (k, &budget) in p.budgets.iter().enumerate() {
        let count = p.max_cameras.get(k).copied().flatten();
        // Every stage's share runs over all the phases: phase k of n covers k/n to (k+1)/n.
        let n_phases = p.budgets.len() as f64;
        let share = |x: f64| (k as f64 + x.clamp(0.0, 1.0)) / n_phases;
        report("phase", share(0.0));
        let mut s_greedy = state.clone();
        let mut u_greedy = used.clone();
        let mut mine = greedy(&opts, &mut s_greedy, &mut u_greedy, budget, count, true, o.cancel)?;
        // With money, also by gain alone (it spends on the big cameras first): the better start.
        if budget.is_finite() {
            let (mut s2, mut u2) = (state.clone(), used.clone());
            let by_gain = greedy(&opts, &mut s2, &mut u2, budget, count, false, o.cancel)?;
            if s2.value() > s_greedy.value() + 1e-9 * s_greedy.value().max(1.0) {
                (s_greedy, u_greedy, mine) = (s2, u2, by_gain);
            }
        }
        // The best single option that fits, against the ratio greedy.
        let single = opts
            .iter()
            .enumerate()
            .filter(|(i, x)| used.free(&opts, *i) && x.cost <= budget)
            .map(|(i, x)| (i, state.gain(x)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        report("phase", share(0.5));
        let greedy_gain = s_greedy.value() - state.value();
        if let Some((i, g)) = single {
            if g > greedy_gain {
                s_greedy = state.clone();
                u_greedy = used.clone();
                s_greedy.add(&opts[i]);
                u_greedy.take(&opts, i);
                mine = vec![(i, g)];
            }
        }
        if o.local_search {
            local_search(&opts, &seen_by, &mut s_greedy, &mut u_greedy, &mut mine, budget, count, o.cancel);
            if let Some(limits) = &o.tabu {
                let before = s_greedy.value();
                let tabu_share = |x: f64| report("phase", share(0.5 + 0.4 * x));
                let limits = &TabuLimits { total_s: limits.total_s / n_phases, ..*limits };
                tabu(
                    &opts,
                    &seen_by,
                    &by_candidate,
                    &mut s_greedy,
                    &mut u_greedy,
                    &mut mine,
                    budget,
                    count,
                    limits,
                    k as u64,
                    o.cancel,
                    &tabu_share,
                );
                if s_greedy.value() > before + 1e-9 * before.max(1.0) {
                    local_search(&opts, &seen_by, &mut s_greedy, &mut u_greedy, &mut mine, budget, count, o.cancel);
                }
            }
        }
        // Re-solve regions exactly, unless one region would hold the whole phase (then the
        // exact program below solves it whole).
        if let Some(limits) = &o.lns {
            let whole = o.exact.is_some() && {
                let live = opts.iter().enumerate().filter(|(i, x)| used.free(&opts, *i) && x.cost <= budget).count();
                live <= limits.region_options
            };
            if !whole && !mine.is_empty() {
                let earlier: Vec<usize> = chosen.iter().map(|c: &Chosen| c.option).collect();
                report("search", share(0.5));
                lns(
                    p,
                    &opts,
                    &by_candidate,
                    &mut s_greedy,
                    &mut u_greedy,
                    &mut mine,
                    &earlier,
                    budget,
                    count,
                    limits,
                    o.cancel,
                );
            }
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
            let taken: Vec<usize> = chosen.iter().map(|c: &Chosen| c.option).collect();
            if let Some(mip) = Mip::build(p, &opts, &state.counts, &taken, money, count, &start, limits) {
                let exact_share = |x: f64| report("exact", share(x));
                let answer = run_exact(mip, limits.time_limit_s, &exact_share, o.cancel)?;
                // Only an answer that keeps every rule (the solver works to a tolerance).
                let answer = answer.filter(|(exact, _)| {
                    let mut room = used.clone();
                    let mut fits = true;
                    for &i in exact {
                        fits &= room.free(&opts, i);
                        room.take(&opts, i);
                    }
                    let spent: f64 = exact.iter().map(|&i| opts[i].cost).sum();
                    fits && spent <= budget + 1e-6 * budget.abs().max(1.0) && count.is_none_or(|n| exact.len() <= n)
                });
                if let Some((exact, optimal)) = answer {
                    let fast = s_greedy.value();
                    let value = crate::exact::value_with(p, &opts, &state.counts, &exact);
                    if value > fast + 1e-9 * fast.max(1.0) {
                        s_greedy = state.clone();
                        u_greedy = used.clone();
                        for &i in &exact {
                            s_greedy.add(&opts[i]);
                            u_greedy.take(&opts, i);
                        }
                        mine = exact.into_iter().map(|i| (i, 0.0)).collect();
                    }
                    // Given the earlier phases' cameras: a bound for the nested plans only in
                    // the first phase (later ones could do better with other earlier choices).
                    if optimal && k == 0 {
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
            let (b, u) = lagrangian_bound(
                p,
                &opts,
                &poles,
                &base_counts,
                cumulative,
                false,
                covered_weight,
                o.bound_steps,
                warm_money.as_deref(),
                o.cancel,
                &progress,
            );
            lagrangian = b;
            warm_money = Some(u);
        }
        if let Some(n) = cumulative_count {
            let progress = |x: f64| report("bound", share((both - 1.0 + x) / both));
            let (b, u) = lagrangian_bound(
                p,
                &opts,
                &poles,
                &base_counts,
                n as f64,
                true,
                covered_weight,
                o.bound_steps,
                warm_count.as_deref(),
                o.cancel,
                &progress,
            );
            lagrangian = lagrangian.min(b);
            warm_count = Some(u);
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

/// A plain lazy greedy alone, for comparison (no best-single guard, no local search, no exact
/// program): from the existing cameras, within `budget` (`f64::INFINITY`: none) and `count`,
/// by gain per cost when money limits and by gain otherwise, several cameras per mounting point
/// as its slots allow. Returns the options chosen and the weight covered.
pub fn lazy_greedy(p: &Problem, opts: &[Opt], budget: f64, count: Option<usize>) -> (Vec<usize>, f64) {
    let mut state = State { p, counts: existing_counts(p) };
    let mut room = Room::new(p, opts.len());
    let chosen = greedy(opts, &mut state, &mut room, budget, count, true, None).unwrap_or_default();
    (chosen.into_iter().map(|(k, _)| k).collect(), state.value())
}
