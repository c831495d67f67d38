//! Alarm storm (issue 17): sensor intake through the HTTP API into SQLite, 1,000 gauges with a
//! threshold rule each, 4 concurrent clients POSTing batches of 1,000 readings, in alternating
//! phases: quiet (every reading below its level) and storm (the readings of every other gauge
//! above its level, so 500 alarms stay active and every second reading repeats one). Per phase:
//! readings accepted per second (acknowledged, hence durable), batch latency, and the alarm
//! events published, after 3 s of each phase that are not counted (when the 500 alarms are
//! raised or cleared). Goal: the storm keeps at least 80% of the quiet rate.
//!
//! Alarm latency to consoles meanwhile: `CONSOLES` WebSocket clients of `/api/v1/events?types=alarm`
//! (so they receive the storm's alarm events too), and a probe gauge whose own rule a probe
//! reading crosses every 250 ms, alternately up and down: from sending that reading to each
//! console receiving the probe's alarm change (intake behind the storm's batches, durable write,
//! rule, alarm write, publication, fan-out). Goal: p99 under 50 ms. Measured in the saturated
//! phases above, and at the end in a paced storm: `POLIS_BENCH_RATE` readings/s (5,000, the
//! quiet rate the issue saw), half above their level, in batches of 100 every 1/50 of a second.
//! Run: `cargo bench -p polis-http --bench alarm_storm` (`POLIS_BENCH_SECONDS` per phase, 15;
//! `POLIS_BENCH_PAIRS` quiet/storm pairs, 2).

mod common;

use futures::StreamExt;
use polis_domain::Id;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SENSORS: usize = 1000;
const BATCH: usize = 1000;
const CLIENTS: usize = 4;
const LEVEL: f64 = 10_000.0;
const CONSOLES: usize = 10;
const PROBE_EVERY: Duration = Duration::from_millis(250);

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run());
}

struct Phase {
    accepted: u64,
    secs: f64,
    latencies_ms: Vec<f64>,
    alarm_events: u64,
    /// Probe reading sent -> its alarm change at a console, every delivery.
    alarm_ms: Vec<f64>,
}

/// Sends a probe reading every [`PROBE_EVERY`] until `deadline`, alternately above and below the
/// probe's level, and measures how long each takes to reach every console as an alarm change.
async fn probe(
    server: &common::Server,
    deadline: Instant,
    consoles: &mut tokio::sync::mpsc::UnboundedReceiver<Instant>,
    flip: &mut bool,
) -> Vec<f64> {
    let mut out = Vec::new();
    while Instant::now() + PROBE_EVERY < deadline {
        tokio::time::sleep(PROBE_EVERY).await;
        while consoles.try_recv().is_ok() {}
        *flip = !*flip;
        let value = if *flip { 150.0 } else { 50.0 };
        let t0 = Instant::now();
        let r = server
            .client
            .post(format!("{}/api/v1/observations", server.base))
            .bearer_auth(&server.token)
            .json(&json!([{"sensor": "probe", "time": common::now_precise(), "value": value}]))
            .send()
            .await
            .expect("probe");
        assert!(r.status().is_success());
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        for _ in 0..CONSOLES {
            match tokio::time::timeout_at(until, consoles.recv()).await {
                Ok(Some(at)) => out.push(at.duration_since(t0).as_secs_f64() * 1e3),
                _ => panic!("a probe's alarm did not reach every console within 30 s"),
            }
        }
    }
    out
}

async fn phase(
    server: &common::Server,
    storm: bool,
    seconds: u64,
    alarm_events: &AtomicU64,
    probes: Option<(&mut tokio::sync::mpsc::UnboundedReceiver<Instant>, &mut bool)>,
) -> Phase {
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
    let mut alarm_ms = match probes {
        Some((consoles, flip)) => probe(server, deadline, consoles, flip).await,
        None => Vec::new(),
    };
    alarm_ms.sort_by(f64::total_cmp);
    let mut out = Phase { accepted: 0, secs: 0.0, latencies_ms: Vec::new(), alarm_events: 0, alarm_ms };
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
    let probe_gauge = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.39, 42.62]},
                       "properties": {"id": "probe", "name": "Probe", "kind": "water_level", "unit": "cm"}});
    let r = server
        .client
        .post(format!("{}/api/v1/import/sensors?municipality=bench", server.base))
        .bearer_auth(&server.token)
        .header("content-type", "application/geo+json")
        .body(json!({"type": "FeatureCollection", "features": [probe_gauge]}).to_string())
        .send()
        .await
        .expect("probe gauge");
    assert!(r.status().is_success());
    let r = server
        .client
        .post(format!("{}/api/v1/rules", server.base))
        .bearer_auth(&server.token)
        .json(&json!({"name": "Probe high", "sensor": "probe", "condition": {"type": "threshold", "above": 100, "hysteresis": 1}}))
        .send()
        .await
        .expect("probe rule");
    assert!(r.status().is_success());
    // The consoles: each tells the instant it received a change of the probe's alarm.
    let (tx, mut consoles) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let ws_url = server.base.replace("http://", "ws://") + "/api/v1/events?types=alarm";
    for _ in 0..CONSOLES {
        let mut req = ws_url.as_str().into_client_request().expect("request");
        req.headers_mut().insert("authorization", format!("Bearer {}", server.token).parse().expect("header"));
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("websocket");
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                    if text.contains("\"probe\"") && tx.send(Instant::now()).is_err() {
                        return;
                    }
                }
            }
        });
    }
    let mut flip = false;
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
    let pairs: usize = std::env::var("POLIS_BENCH_PAIRS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let mut quiet = Vec::new();
    let mut stormy = Vec::new();
    let mut storm_alarm_ms = Vec::new();
    for (i, storm) in (0..pairs * 2).map(|i| i % 2 == 1).enumerate() {
        // Not counted: the first seconds of a phase, when its 500 alarms are raised (or cleared),
        // each a change of state written at once on its own.
        phase(&server, storm, 3, &alarm_events, None).await;
        let p = phase(&server, storm, seconds, &alarm_events, Some((&mut consoles, &mut flip))).await;
        let rate = p.accepted as f64 / p.secs;
        println!(
            "  phase {} {:>5}: {:>9.0} readings/s ({} in {:.1} s); batch p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
             {} alarm events ({:.0}/s); probe alarm to {CONSOLES} consoles p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms \
             ({} deliveries)",
            i + 1,
            if storm { "storm" } else { "quiet" },
            rate,
            p.accepted,
            p.secs,
            common::pct(&p.latencies_ms, 0.5),
            common::pct(&p.latencies_ms, 0.99),
            p.latencies_ms.last().copied().unwrap_or(f64::NAN),
            p.alarm_events,
            p.alarm_events as f64 / p.secs,
            common::pct(&p.alarm_ms, 0.5),
            common::pct(&p.alarm_ms, 0.99),
            p.alarm_ms.last().copied().unwrap_or(f64::NAN),
            p.alarm_ms.len()
        );
        if storm {
            stormy.push(rate);
            storm_alarm_ms.extend(p.alarm_ms.iter().copied());
        } else {
            quiet.push(rate);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let ratios: Vec<String> = quiet.iter().zip(&stormy).map(|(q, s)| format!("{:.2}", s / q)).collect();
    println!(
        "storm rate / quiet rate: {:.2} (quiet {:.0}/s, storm {:.0}/s; per pair {}); goal at least 0.80",
        mean(&stormy) / mean(&quiet),
        mean(&quiet),
        mean(&stormy),
        ratios.join(", ")
    );
    storm_alarm_ms.sort_by(f64::total_cmp);
    println!(
        "probe alarm to {CONSOLES} consoles during the storm: p50 {:.1} ms, p99 {:.1} ms ({} deliveries); goal p99 under 50 ms",
        common::pct(&storm_alarm_ms, 0.5),
        common::pct(&storm_alarm_ms, 0.99),
        storm_alarm_ms.len()
    );

    // A paced storm: the offered rate the server takes without queueing.
    let rate: u64 = std::env::var("POLIS_BENCH_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let pacer = {
        let (client, base, token, stop, sent) =
            (server.client.clone(), server.base.clone(), server.token.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            const PACED_BATCH: u64 = 100;
            let mut tick = tokio::time::interval(Duration::from_secs_f64(PACED_BATCH as f64 / rate as f64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let now = common::now_precise();
                let batch: Vec<_> = (0..PACED_BATCH as usize)
                    .map(|k| {
                        n += 1;
                        let s = (n * 7 + k) % SENSORS;
                        let value = if s.is_multiple_of(2) { LEVEL * 2.0 } else { (n % 500) as f64 };
                        json!({"sensor": format!("s{s:04}"), "time": now, "value": value})
                    })
                    .collect();
                let (client, base, token, sent) = (client.clone(), base.clone(), token.clone(), sent.clone());
                tokio::spawn(async move {
                    if let Ok(r) =
                        client.post(format!("{base}/api/v1/observations")).bearer_auth(&token).json(&batch).send().await
                    {
                        if let Ok(v) = r.json::<serde_json::Value>().await {
                            sent.fetch_add(v["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
                        }
                    }
                });
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await; // the storm's alarms are raised
    let started = Instant::now();
    let before = sent.load(Ordering::Relaxed);
    let mut paced_ms = probe(&server, Instant::now() + Duration::from_secs(seconds), &mut consoles, &mut flip).await;
    let took = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = pacer.await;
    paced_ms.sort_by(f64::total_cmp);
    println!(
        "paced storm ({rate} readings/s asked, {:.0}/s taken, half above their level): probe alarm to {CONSOLES} consoles \
         p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} deliveries); goal p99 under 50 ms",
        (sent.load(Ordering::Relaxed) - before) as f64 / took,
        common::pct(&paced_ms, 0.5),
        common::pct(&paced_ms, 0.9),
        common::pct(&paced_ms, 0.99),
        paced_ms.last().copied().unwrap_or(f64::NAN),
        paced_ms.len()
    );
}
