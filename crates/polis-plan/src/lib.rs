//! The camera network planner: given the key places a city wants watched (demand points with
//! weights), the places a camera could be mounted (candidates with costs), the camera models on
//! offer and the cameras already there, choose where the next cameras go, phase by phase within
//! a budget, and say how good the plan is: the weight covered, what each camera adds, and an
//! upper bound on the best possible, so every plan reports its gap to the optimum.
//!
//! Pure computation: no I/O, no async. Positions are projected into a flat local frame in metres
//! around the instance's origin (an equirectangular projection: at city scale, a few kilometres,
//! its distance error is far below a camera's range resolution).
//!
//! - [`model`]: camera models and the DORI pixel densities of EN 62676-4.
//! - [`instance`]: the input (the documented JSON file format) and its validation.
//! - [`coverage`]: the options (candidate x model x heading) and what each sees, with line of
//!   sight against building footprints.
//! - [`solve`]: lazy greedy, local search and tabu search of swaps, phases, the upper bound;
//!   [`exact`] for small instances.
//! - [`report`]: GeoJSON, the summary and the self-contained HTML report.
//! - [`synthetic`]: seeded synthetic cities for tests and benchmarks.

pub mod coverage;
pub mod exact;
pub mod instance;
pub mod lp;
pub mod model;
pub mod report;
pub mod solve;
pub mod synthetic;

pub use instance::Instance;
pub use solve::{plan, Plan, PlanOptions};
