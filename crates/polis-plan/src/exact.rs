//! The exact optimum of small instances, by enumeration: every set of options with at most one
//! per candidate within the budget. For checking the fast path and the bound on instances of up
//! to about 20 options; larger instances are compared with an integer program solver in the
//! benchmarks.

use crate::coverage::Opt;
use crate::instance::Problem;
use crate::solve::covered;

/// The best weight coverable with `budget` (existing cameras counted), and the options chosen.
/// `None` when there are more than `max_options` options.
pub fn optimum(p: &Problem, opts: &[Opt], base: &[u8], budget: f64, max_options: usize) -> Option<(f64, Vec<usize>)> {
    if opts.len() > max_options {
        return None;
    }
    let mut best = (covered(p, base), Vec::new());
    let mut counts = base.to_vec();
    let mut used = vec![false; p.candidates.len()];
    let mut stack = Vec::new();
    walk(p, opts, 0, budget, &mut counts, &mut used, &mut stack, &mut best);
    Some(best)
}

#[allow(clippy::too_many_arguments)]
fn walk(
    p: &Problem,
    opts: &[Opt],
    from: usize,
    left: f64,
    counts: &mut [u8],
    used: &mut [bool],
    stack: &mut Vec<usize>,
    best: &mut (f64, Vec<usize>),
) {
    for i in from..opts.len() {
        let o = &opts[i];
        if used[o.candidate] || o.cost > left + 1e-9 {
            continue;
        }
        for &d in &o.covers {
            counts[d as usize] = counts[d as usize].saturating_add(1);
        }
        used[o.candidate] = true;
        stack.push(i);
        let v = covered(p, counts);
        if v > best.0 + 1e-12 {
            *best = (v, stack.clone());
        }
        walk(p, opts, i + 1, left - o.cost, counts, used, stack, best);
        stack.pop();
        used[o.candidate] = false;
        for &d in &o.covers {
            counts[d as usize] = counts[d as usize].saturating_sub(1);
        }
    }
}
