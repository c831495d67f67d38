//! Who can see this point: `CameraIndex::seeing(p, None, 10)` over 100,000 synthetic cameras
//! scattered over a 6 km disc around Kazanlak (about 900 cameras per square kilometre).
//!
//! Run: `cargo bench -p polis-geo --bench seeing`. Prints the build time, the distribution of
//! 100,000 individually timed queries (p50/p99/max), then criterion's estimate.

use criterion::Criterion;
use polis_domain::{Id, LatLon};
use polis_geo::{synthetic, CameraIndex};
use std::hint::black_box;
use std::time::{Duration, Instant};

const CAMERAS: usize = 100_000;
const QUERIES: usize = 100_000;
const RADIUS_M: f64 = 6_000.0;

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// This thread's CPU time so far (Linux), to tell the query's own cost from time spent waiting
/// for a core on a busy machine.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let kazanlak = LatLon::new(42.619, 25.393).expect("a valid position");
    let municipality = Id::from_trusted("kazanlak");
    let cams = synthetic::cameras(CAMERAS, 42, kazanlak, RADIUS_M, &municipality);
    let points = synthetic::points(QUERIES, 7, kazanlak, RADIUS_M);

    let t = Instant::now();
    let index = CameraIndex::from_cameras(&cams);
    println!("bulk load of {CAMERAS} cameras: {:.1} ms", micros(t.elapsed()) / 1e3);

    // Warm up, then time each query on its own.
    for p in points.iter().take(10_000) {
        black_box(index.seeing(*p, None, 10));
    }
    let mut samples = Vec::with_capacity(QUERIES);
    let mut hits = 0usize;
    let mut seen = 0usize;
    let (wall, cpu) = (Instant::now(), thread_cpu());
    for p in &points {
        let t = Instant::now();
        let found = index.seeing(black_box(*p), None, 10);
        samples.push(t.elapsed());
        hits += found.len();
        seen += usize::from(!found.is_empty());
        black_box(found);
    }
    let (wall, cpu) = (wall.elapsed(), thread_cpu().zip(cpu).map(|(b, a)| b - a));
    samples.sort_unstable();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "seeing(p, None, 10), {QUERIES} single queries: p50 {:.2} us, p99 {:.2} us, max {:.2} us, mean {:.2} us",
        micros(percentile(&samples, 0.50)),
        micros(percentile(&samples, 0.99)),
        micros(percentile(&samples, 1.0)),
        micros(mean),
    );
    if let Some(cpu) = cpu {
        println!(
            "  on-CPU share of the run: {:.0}% (mean CPU time per query {:.2} us)",
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
            micros(cpu) / QUERIES as f64
        );
    }
    println!(
        "  {:.1}% of points seen by at least one camera, {:.2} hits per query on average",
        100.0 * seen as f64 / QUERIES as f64,
        hits as f64 / QUERIES as f64
    );

    // A yardstick for comparing runs on machines of different speed or load: one geodesic
    // distance (Karney), of which each answer needs at least one per hit.
    let t = Instant::now();
    let mut total = 0.0;
    for (p, cam) in points.iter().zip(&cams) {
        total += polis_domain::geometry::distance_m(black_box(*p), cam.position);
    }
    black_box(total);
    println!("yardstick: one geodesic distance_m call takes {:.3} us", micros(t.elapsed()) / QUERIES as f64);

    // Keeping the index in step with the store: move 10,000 cameras, one upsert each.
    let mut index = index;
    let moved = synthetic::cameras(10_000, 43, kazanlak, RADIUS_M, &municipality);
    let t = Instant::now();
    for cam in &moved {
        index.upsert(cam);
    }
    println!("upsert (move) of an indexed camera: {:.2} us on average", micros(t.elapsed()) / moved.len() as f64);

    let mut criterion = Criterion::default().configure_from_args();
    let mut i = 0usize;
    criterion.bench_function("seeing(p, None, 10), 100k cameras", |b| {
        b.iter(|| {
            i = (i + 1) % points.len();
            index.seeing(black_box(points[i]), None, 10)
        })
    });
    criterion.final_summary();
}
