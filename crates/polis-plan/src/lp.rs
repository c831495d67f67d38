//! The planning problem of one budget as an integer program in CPLEX LP format, for an exact
//! solver (CBC) to check the fast path against on instances it can solve:
//!
//! maximise `sum_i (w_i / r_i) y_i` subject to `y_i <= sum of x_o over the options o that see i`,
//! `0 <= y_i <= r_i - min(existing_i, r_i)`, `sum_o cost_o x_o <= B` (and/or `sum_o x_o <= N`),
//! at most `slots` options per candidate, `x_o` binary. The existing cameras' coverage is a constant left out of the
//! objective (add it back: [`constant`]).

use crate::coverage::Opt;
use crate::instance::Problem;
use std::fmt::Write as _;

/// The weight the existing cameras cover, which the LP objective leaves out.
pub fn constant(p: &Problem, existing: &[u8]) -> f64 {
    crate::solve::covered(p, existing)
}

/// Writes the program of a budget. Long sums are wrapped over several lines, as the format
/// allows.
pub fn write(p: &Problem, opts: &[Opt], existing: &[u8], budget: f64) -> String {
    write_within(p, opts, existing, Some(budget), None)
}

/// Writes the program with a budget, a count of cameras, or both (`None`: no such limit).
pub fn write_within(p: &Problem, opts: &[Opt], existing: &[u8], budget: Option<f64>, count: Option<usize>) -> String {
    let mut seen_by: Vec<Vec<usize>> = vec![Vec::new(); p.demand.len()];
    for (k, o) in opts.iter().enumerate() {
        for &i in &o.covers {
            seen_by[i as usize].push(k);
        }
    }
    let mut s = String::from("\\ Polis camera network plan\nMaximize\n obj:");
    let mut n = 0;
    for (i, d) in p.demand.iter().enumerate() {
        let cap = d.required.saturating_sub(existing[i].min(d.required));
        if cap == 0 || seen_by[i].is_empty() {
            continue;
        }
        let _ = write!(s, " + {} y{i}", d.weight / f64::from(d.required));
        n += 1;
        if n % 8 == 0 {
            s.push_str("\n ");
        }
    }
    s.push_str("\nSubject To\n");
    for (i, d) in p.demand.iter().enumerate() {
        let cap = d.required.saturating_sub(existing[i].min(d.required));
        if cap == 0 || seen_by[i].is_empty() {
            continue;
        }
        let _ = write!(s, " d{i}: y{i}");
        for (n, k) in seen_by[i].iter().enumerate() {
            let _ = write!(s, " - x{k}");
            if n % 10 == 9 {
                s.push_str("\n ");
            }
        }
        s.push_str(" <= 0\n");
    }
    if let Some(budget) = budget.filter(|b| b.is_finite()) {
        s.push_str(" budget:");
        for (k, o) in opts.iter().enumerate() {
            let _ = write!(s, " + {} x{k}", o.cost);
            if k % 8 == 7 {
                s.push_str("\n ");
            }
        }
        let _ = writeln!(s, " <= {budget}");
    }
    if let Some(n) = count {
        s.push_str(" count:");
        for k in 0..opts.len() {
            let _ = write!(s, " + x{k}");
            if k % 16 == 15 {
                s.push_str("\n ");
            }
        }
        let _ = writeln!(s, " <= {n}");
    }
    let mut per_candidate: Vec<Vec<usize>> = vec![Vec::new(); p.candidates.len()];
    for (k, o) in opts.iter().enumerate() {
        per_candidate[o.candidate].push(k);
    }
    for (c, ks) in per_candidate.iter().enumerate() {
        let slots = p.candidates[c].slots as usize;
        if ks.len() > slots {
            let _ = write!(s, " pole{c}:");
            for (n, k) in ks.iter().enumerate() {
                let _ = write!(s, " + x{k}");
                if n % 16 == 15 {
                    s.push_str("\n ");
                }
            }
            let _ = writeln!(s, " <= {slots}");
        }
    }
    s.push_str("Bounds\n");
    for (i, d) in p.demand.iter().enumerate() {
        let cap = d.required.saturating_sub(existing[i].min(d.required));
        if cap == 0 || seen_by[i].is_empty() {
            continue;
        }
        let _ = writeln!(s, " 0 <= y{i} <= {cap}");
    }
    s.push_str("Binary\n");
    for k in 0..opts.len() {
        let _ = write!(s, " x{k}");
        if k % 16 == 15 {
            s.push('\n');
        }
    }
    s.push_str("\nEnd\n");
    s
}
