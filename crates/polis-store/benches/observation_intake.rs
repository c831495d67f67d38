//! `Store::insert_observations` into a fresh SQLite file with the production settings (WAL,
//! `synchronous=FULL`: every call is durable when it returns), as live intake calls it: batches
//! of 1,000 to 10,000 readings, each batch one call, sensors reporting in turn with increasing
//! times. Then the reads that follow intake on the filled database: the newest reading of every
//! sensor (warm start), a day of one sensor raw and in one-minute buckets.
//!
//! `cargo bench -p polis-store --bench observation_intake`; after `--`: `--quick` (200,000
//! readings per case instead of 2,000,000), `--observations N`, `--only SENSORS:BATCH`.
//! With `POLIS_BENCH_PG_URL` set (a PostgreSQL server), the same intake runs on PostgreSQL too.

use polis_domain::{Id, Observation};
use polis_store::DynStore;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// 2024-11-25 02:00:00 UTC.
const T0_MS: i64 = 1_732_500_000_000;

struct Case {
    sensors: usize,
    batch: usize,
    total: usize,
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let quick = args.iter().any(|a| a == "--quick");
    let total = match arg("--observations") {
        Some(n) => n.parse().expect("--observations takes a number"),
        None if quick => 200_000,
        None => 2_000_000,
    };
    // `--only SENSORS:BATCH` runs one case.
    let only = arg("--only").cloned();
    println!("machine: {} cores, {}; load average at start: {}", cores(), cpu_model(), loadavg());
    println!("{total} observations per case, one reading per sensor every 10 s of observation time\n");
    let cases: Vec<Case> = [(1_000, 1_000), (1_000, 5_000), (1_000, 10_000), (10_000, 10_000), (100, 10_000)]
        .into_iter()
        .filter(|(s, b)| only.as_ref().is_none_or(|o| *o == format!("{s}:{b}")))
        .map(|(sensors, batch)| Case { sensors, batch, total })
        .collect();
    println!("SQLite (fresh file per case)");
    for case in &cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = polis_store::open_sqlite(&dir.path().join("obs.db")).await.expect("open SQLite");
        intake(&store, case).await;
        if case.sensors == 1_000 && case.batch == 10_000 {
            reads(&store, case).await;
        }
        store.close().await;
    }
    if let Ok(server) = std::env::var("POLIS_BENCH_PG_URL") {
        println!("\nPostgreSQL (fresh database per case)");
        for case in cases.iter().filter(|c| c.sensors == 1_000) {
            let url = polis_store::testing::fresh_postgres_database(&server).await.expect("a fresh database");
            let store = polis_store::open(&url).await.expect("open PostgreSQL");
            intake(&store, case).await;
            store.close().await;
        }
    }
}

/// Readings of `sensors` sensors, each every 10 s, in time order: batch after batch as they
/// would arrive. Values wander like a gauge.
fn readings(case: &Case) -> Vec<Vec<Observation>> {
    let ids: Vec<Id> = (0..case.sensors).map(|i| Id::from_trusted(format!("sensor-{i:05}"))).collect();
    let all: Vec<Observation> = (0..case.total)
        .map(|n| {
            let (round, s) = (n / case.sensors, n % case.sensors);
            let ms = T0_MS + round as i64 * 10_000 + (s as i64 * 7) % 10_000;
            let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("in range");
            let value = 250.0 + 50.0 * ((n as f64) * 0.001).sin() + (s as f64) * 0.01;
            Observation::stored(ids[s].clone(), time, None, value, None).expect("a valid reading")
        })
        .collect();
    all.chunks(case.batch).map(<[Observation]>::to_vec).collect()
}

async fn intake(store: &DynStore, case: &Case) {
    let batches = readings(case);
    let mut times = Vec::with_capacity(batches.len());
    let start = Instant::now();
    for b in &batches {
        let t = Instant::now();
        store.insert_observations(b).await.expect("insert");
        times.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    times.sort();
    println!(
        "  {:>6} sensors, batches of {:>6}: {:>9.0} observations/s ({:.2} s); per batch p50 {:.1} ms, p99 {:.1} ms, max \
         {:.1} ms",
        case.sensors,
        case.batch,
        case.total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default()),
    );
}

async fn reads(store: &DynStore, case: &Case) {
    let t = Instant::now();
    let latest = store.latest_observations().await.expect("latest");
    println!("    latest_observations: {} series in {:.1} ms", latest.len(), ms(t.elapsed()));
    assert_eq!(latest.len(), case.sensors);

    let from = OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0_MS) * 1_000_000).expect("in range");
    let to = from + time::Duration::days(1);
    let sensor = Id::from_trusted("sensor-00042");
    let t = Instant::now();
    let raw = store.observations(&sensor, None, from, to, 100_000).await.expect("raw");
    println!("    observations of one sensor over a day: {} readings in {:.1} ms", raw.len(), ms(t.elapsed()));
    let t = Instant::now();
    let buckets =
        store.observation_buckets(&sensor, None, from, to, time::Duration::minutes(1)).await.expect("buckets");
    println!("    the same in one-minute buckets: {} buckets in {:.1} ms", buckets.len(), ms(t.elapsed()));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
