//! A few Prometheus metrics, kept by hand: request counts by status class and a latency
//! histogram. Text exposition format 0.0.4.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

const BUCKETS_MS: [f64; 10] = [1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0];

#[derive(Default)]
pub struct Metrics {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; 10],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, status: u16, elapsed: std::time::Duration) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let ms = elapsed.as_secs_f64() * 1000.0;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// The exposition text; `gauges` are extra `(name, help, value)` lines.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# HELP polis_http_requests_total HTTP requests by status class.");
        let _ = writeln!(s, "# TYPE polis_http_requests_total counter");
        for (i, c) in self.by_class.iter().enumerate() {
            let _ = writeln!(s, "polis_http_requests_total{{class=\"{}xx\"}} {}", i + 1, c.load(Ordering::Relaxed));
        }
        let _ = writeln!(s, "# HELP polis_http_request_duration_seconds HTTP request latency.");
        let _ = writeln!(s, "# TYPE polis_http_request_duration_seconds histogram");
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                s,
                "polis_http_request_duration_seconds_bucket{{le=\"{}\"}} {}",
                b / 1000.0,
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(s, "polis_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ =
            writeln!(s, "polis_http_request_duration_seconds_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(s, "polis_http_request_duration_seconds_count {count}");
        for (name, help, v) in gauges {
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} gauge");
            let _ = writeln!(s, "{name} {v}");
        }
        s
    }
}

/// Live-view latency: a histogram in microseconds with fine buckets (for percentiles in
/// benchmarks), exposed as `polis_live_latency_seconds`.
#[derive(Default)]
pub struct Latency {
    /// Bucket i counts samples below `LIVE_BUCKETS_US[i]` (cumulative on render).
    buckets: [AtomicU64; LIVE_BUCKETS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

const LIVE_BUCKETS_US: [u64; 30] = [
    50, 100, 150, 200, 300, 400, 500, 750, 1_000, 1_250, 1_500, 2_000, 2_500, 3_000, 4_000, 5_000, 6_000, 7_500,
    10_000, 12_500, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 75_000, 100_000, 250_000, 1_000_000,
];

impl Latency {
    pub fn observe(&self, d: std::time::Duration) {
        let us = d.as_micros() as u64;
        if let Some(i) = LIVE_BUCKETS_US.iter().position(|b| us <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn render(&self, s: &mut String) {
        let _ =
            writeln!(s, "# HELP polis_live_latency_seconds Live view: from a frame's arrival to its fragment sent.");
        let _ = writeln!(s, "# TYPE polis_live_latency_seconds histogram");
        let mut cum = 0;
        for (i, b) in LIVE_BUCKETS_US.iter().enumerate() {
            cum += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(s, "polis_live_latency_seconds_bucket{{le=\"{}\"}} {cum}", *b as f64 / 1e6);
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(s, "polis_live_latency_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(s, "polis_live_latency_seconds_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(s, "polis_live_latency_seconds_count {count}");
    }
}
