//! The polis-geo test binary: the queries as a user sees them, and property tests against a
//! brute-force scan.

mod camera;
mod points;
mod props;
mod support;
