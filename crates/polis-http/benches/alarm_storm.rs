//! Alarm storm (issue 17): sensor intake through the HTTP API into SQLite, 1,000 gauges with a
//! threshold rule each, 4 concurrent clients POSTing batches of 1,000 readings, in alternating
//! phases: quiet (every reading below its level) and storm (the readings of every other gauge
//! above its level, so 500 alarms stay active and every second reading repeats one). Per phase:
//! readings accepted per second (acknowledged, hence durable), batch latency, and the alarm
//! events published, after 3 s of each phase that are not counted (when the 500 alarms are
//! raised or cleared). Goal: the storm keeps at least 80% of the quiet rate.
//! Run: `cargo bench -p polis-http --bench alarm_storm` (`POLIS_BENCH_SECONDS` per phase, 15).

mod common;

use polis_domain::Id;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SENSORS: usize = 1000;
const BATCH: usize = 1000;
const CLIENTS: usize = 4;
const LEVEL: f64 = 10_000.0;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run());
}

struct Phase {
    accepted: u64,
    secs: f64,
    latencies_ms: Vec<f64>,
    alarm_events: u64,
}

async fn phase(server: &common::Server, storm: bool, seconds: u64, alarm_events: &AtomicU64) -> Phase {
    let events_before = alarm_events.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, base, token) = (server.client.clone(), server.base.clone(), server.token.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            let mut latencies = Vec::new();
            let mut n = c;
            while Instant::now() < deadline {
                let now = common::now_precise();
                let batch: Vec<_> = (0..BATCH)
                    .map(|k| {
                        n += 1;
                        let s = (n * 7 + k) % SENSORS;
                        let value = if storm && s.is_multiple_of(2) { LEVEL * 2.0 } else { (n % 500) as f64 };
                        json!({"sensor": format!("s{s:04}"), "time": now, "value": value})
                    })
                    .collect();
                let t = Instant::now();
                let r = client
                    .post(format!("{base}/api/v1/observations"))
                    .bearer_auth(&token)
                    .json(&batch)
                    .send()
                    .await
                    .expect("post");
                let body: serde_json::Value = r.json().await.expect("report");
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                sent += body["accepted"].as_u64().unwrap_or(0);
            }
            (sent, latencies)
        }));
    }
    let mut out = Phase { accepted: 0, secs: 0.0, latencies_ms: Vec::new(), alarm_events: 0 };
    for t in tasks {
        let (sent, lat) = t.await.expect("client");
        out.accepted += sent;
        out.latencies_ms.extend(lat);
    }
    out.secs = start.elapsed().as_secs_f64();
    // Let the last coalesced repeats be published before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    out.alarm_events = alarm_events.load(Ordering::SeqCst) - events_before;
    out.latencies_ms.sort_by(f64::total_cmp);
    out
}

async fn run() {
    let seconds: u64 = std::env::var("POLIS_BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let m = Id::from_trusted("bench");
    let server = common::start(&m).await;
    common::gauges_with_rules(&server, SENSORS, LEVEL).await;
    let alarm_events = Arc::new(AtomicU64::new(0));
    {
        let mut sub = server.app.bus().subscribe(None).await.expect("subscribe");
        let count = alarm_events.clone();
        tokio::spawn(async move {
            while let Some(d) = sub.next().await {
                if let polis_core::bus::Delivery::Event(e) = d {
                    if matches!(e.event, polis_core::live::LiveEvent::Alarm(_)) {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
    }
    println!(
        "alarm storm: {SENSORS} gauges with a rule each, batches of {BATCH}, {CLIENTS} clients, phases of {seconds} s"
    );
    let mut quiet = Vec::new();
    let mut stormy = Vec::new();
    for (i, storm) in [false, true, false, true].into_iter().enumerate() {
        // Not counted: the first seconds of a phase, when its 500 alarms are raised (or cleared),
        // each a change of state written at once on its own.
        phase(&server, storm, 3, &alarm_events).await;
        let p = phase(&server, storm, seconds, &alarm_events).await;
        let rate = p.accepted as f64 / p.secs;
        println!(
            "  phase {} {:>5}: {:>9.0} readings/s ({} in {:.1} s); batch p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
             {} alarm events ({:.0}/s)",
            i + 1,
            if storm { "storm" } else { "quiet" },
            rate,
            p.accepted,
            p.secs,
            common::pct(&p.latencies_ms, 0.5),
            common::pct(&p.latencies_ms, 0.99),
            p.latencies_ms.last().copied().unwrap_or(f64::NAN),
            p.alarm_events,
            p.alarm_events as f64 / p.secs
        );
        if storm {
            stormy.push(rate);
        } else {
            quiet.push(rate);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "storm rate / quiet rate: {:.2} (quiet {:.0}/s, storm {:.0}/s); goal at least 0.80",
        mean(&stormy) / mean(&quiet),
        mean(&quiet),
        mean(&stormy)
    );
}
