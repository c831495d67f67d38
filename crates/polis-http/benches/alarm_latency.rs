//! Latency from an observation crossing a threshold to the alarm arriving at WebSocket clients,
//! while background intake runs at 20,000 observations per second and 200 clients are connected
//! to `/api/v1/events?types=alarm`. Each probe POSTs one reading of a probe gauge that crosses its
//! rule (alternately above and back below, so every probe changes the alarm); the latency is
//! from sending that request to each client receiving the alarm event: intake, durable write,
//! rule evaluation, alarm write, publication and fan-out.
//! Run: `cargo bench -p polis-http --bench alarm_latency` (`POLIS_BENCH_CLIENTS`,
//! `POLIS_BENCH_RATE`, `POLIS_BENCH_PROBES` change the load).

mod common;

use futures::StreamExt;
use polis_domain::Id;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SENSORS: usize = 1000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let clients = env("POLIS_BENCH_CLIENTS", 200) as usize;
    let rate = env("POLIS_BENCH_RATE", 20_000);
    let probes = env("POLIS_BENCH_PROBES", 100) as usize;
    let server = common::start(&Id::from_trusted("bench")).await;
    // Background gauges never reach 1,000; the probe gauge's rule is at 100.
    common::gauges_with_rules(&server, SENSORS, 1_000.0).await;
    let probe = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.39, 42.62]},
                       "properties": {"id": "probe", "name": "Probe", "kind": "water_level", "unit": "cm"}});
    let r = server
        .client
        .post(format!("{}/api/v1/import/sensors?municipality=bench", server.base))
        .bearer_auth(&server.token)
        .header("content-type", "application/geo+json")
        .body(json!({"type": "FeatureCollection", "features": [probe]}).to_string())
        .send()
        .await
        .expect("probe");
    assert!(r.status().is_success());
    let r = server
        .client
        .post(format!("{}/api/v1/rules", server.base))
        .bearer_auth(&server.token)
        .json(&json!({"name": "Probe high", "sensor": "probe", "condition": {"type": "threshold", "above": 100, "hysteresis": 1}}))
        .send()
        .await
        .expect("rule");
    assert!(r.status().is_success());

    // The WebSocket clients: each sends the instant it received an alarm event.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let ws_url = server.base.replace("http://", "ws://") + "/api/v1/events?types=alarm";
    for _ in 0..clients {
        let mut req = ws_url.as_str().into_client_request().expect("request");
        req.headers_mut().insert("authorization", format!("Bearer {}", server.token).parse().expect("header"));
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("websocket");
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                    if text.contains("\"alarm\"") && tx.send(Instant::now()).is_err() {
                        return;
                    }
                }
            }
        });
    }

    // Background intake: batches of 1,000 at the chosen rate.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let per_batch = 1000u64;
    let interval = Duration::from_secs_f64(per_batch as f64 / rate as f64);
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let (client, base, token, stop, sent) =
            (server.client.clone(), server.base.clone(), server.token.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                let now = common::now();
                let batch: Vec<_> = (0..per_batch)
                    .map(|k| {
                        n += 1;
                        json!({"sensor": format!("s{:04}", (n + k) as usize % SENSORS), "time": now, "value": (n % 500) as f64})
                    })
                    .collect();
                let (client, base, token, sent) = (client.clone(), base.clone(), token.clone(), sent.clone());
                tokio::spawn(async move {
                    if let Ok(r) =
                        client.post(format!("{base}/api/v1/observations")).bearer_auth(&token).json(&batch).send().await
                    {
                        if let Ok(v) = r.json::<serde_json::Value>().await {
                            sent.fetch_add(v["accepted"].as_u64().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // intake settles
    let started = Instant::now();
    let sent_before = sent.load(std::sync::atomic::Ordering::Relaxed);

    let mut latencies_ms = Vec::with_capacity(probes * clients);
    let mut first_ms = Vec::with_capacity(probes);
    for i in 0..probes {
        while rx.try_recv().is_ok() {}
        let value = if i % 2 == 0 { 150.0 } else { 50.0 };
        let t0 = Instant::now();
        let r = server
            .client
            .post(format!("{}/api/v1/observations", server.base))
            .bearer_auth(&server.token)
            .json(&json!([{"sensor": "probe", "time": common::now(), "value": value}]))
            .send()
            .await
            .expect("probe");
        assert!(r.status().is_success());
        let mut got = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while got < clients {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(at)) => {
                    let ms = at.duration_since(t0).as_secs_f64() * 1e3;
                    if got == 0 {
                        first_ms.push(ms);
                    }
                    latencies_ms.push(ms);
                    got += 1;
                }
                _ => panic!("probe {i}: only {got} of {clients} clients got the alarm"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let intake = (sent.load(std::sync::atomic::Ordering::Relaxed) - sent_before) as f64 / secs;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    latencies_ms.sort_by(f64::total_cmp);
    first_ms.sort_by(f64::total_cmp);
    println!(
        "{clients} WebSocket clients, background intake {intake:.0} observations/s (asked {rate}), {probes} probes"
    );
    println!(
        "observation -> alarm at every client: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} deliveries)",
        common::pct(&latencies_ms, 0.5),
        common::pct(&latencies_ms, 0.9),
        common::pct(&latencies_ms, 0.99),
        latencies_ms.last().copied().unwrap_or(f64::NAN),
        latencies_ms.len()
    );
    println!(
        "observation -> alarm at the first client: p50 {:.2} ms, p99 {:.2} ms",
        common::pct(&first_ms, 0.5),
        common::pct(&first_ms, 0.99)
    );
}
