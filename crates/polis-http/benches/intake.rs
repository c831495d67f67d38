//! Sensor intake through the HTTP API into SQLite with 1,000 rules evaluated on every
//! observation: batches of 1,000 observations POSTed by 4 concurrent clients for a fixed time;
//! observations per second (acknowledged, hence durable) and memory over the run.
//! Run: `cargo bench -p polis-http --bench intake` (`POLIS_BENCH_SECONDS` sets the duration).

mod common;

use polis_domain::Id;
use serde_json::json;
use std::time::{Duration, Instant};

const SENSORS: usize = 1000;
const BATCH: usize = 1000;
const CLIENTS: usize = 4;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let seconds: u64 = std::env::var("POLIS_BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let m = Id::from_trusted("bench");
    let server = common::start(&m).await;
    // 1,000 rules: a threshold rule per sensor, values stay below it (no alarm storm).
    common::gauges_with_rules(&server, SENSORS, 10_000.0).await;
    println!("intake: {SENSORS} sensors, {SENSORS} rules, batches of {BATCH}, {CLIENTS} clients, {seconds} s");
    let rss_start = common::rss_mib();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, base, token) = (server.client.clone(), server.base.clone(), server.token.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            let mut n = c;
            while Instant::now() < deadline {
                let now = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let batch: Vec<_> = (0..BATCH)
                    .map(|k| {
                        n += 1;
                        json!({"sensor": format!("s{:04}", (n * 7 + k) % SENSORS), "time": now, "value": (n % 500) as f64})
                    })
                    .collect();
                let r = client
                    .post(format!("{base}/api/v1/observations"))
                    .bearer_auth(&token)
                    .json(&batch)
                    .send()
                    .await
                    .expect("post");
                let body: serde_json::Value = r.json().await.expect("report");
                sent += body["accepted"].as_u64().unwrap_or(0);
            }
            sent
        }));
    }
    // Memory over the run: a sample every 30 s.
    let sampler = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(30));
        every.tick().await;
        loop {
            every.tick().await;
            println!("  t+{:>4.0} s: RSS {:.0} MiB", start.elapsed().as_secs_f64(), common::rss_mib());
        }
    });
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("client");
    }
    sampler.abort();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "accepted {total} observations in {secs:.1} s: {:.0} observations/s; RSS {rss_start:.0} MiB -> {:.0} MiB",
        total as f64 / secs,
        common::rss_mib()
    );
}
