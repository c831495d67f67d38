//! A region of two `polis serve` nodes (release binary) on one PostgreSQL and one NATS JetStream
//! server, on loopback: how long a registry change made on node A takes to be served by node B
//! (p50/p99), and how long an alarm raised by a reading posted to node A takes to reach a console
//! on node B (p50/p99), while background readings are posted to both nodes.
//!
//! Run: `scripts/bench-region` (starts PostgreSQL, needs Debian's `nats-server`), or
//! `POLIS_BENCH_PG_URL=postgres://... cargo bench -p polis --bench region`.
//! `POLIS_BENCH_CHANGES` (200), `POLIS_BENCH_PROBES` (200) and `POLIS_BENCH_RATE` (background
//! readings per second over both nodes, 5,000) change the load.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{free_port, Api, Proc};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "region-bench-pw";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run());
}

async fn start_node(data: &Path, port: u16, db: &str, nats: &str, name: &str) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("POLIS_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .args(["--database-url", db, "--nats-url", nats, "--node-id", name])
        .env("POLIS_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let p = Proc(cmd.spawn().expect("start polis serve"));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(http.get(format!("http://127.0.0.1:{port}/healthz")).send().await, Ok(r) if r.status().is_success())
    {
        assert!(Instant::now() < deadline, "node {name} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p
}

fn percentiles(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    println!(
        "{name}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        v.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).expect("time")
}

async fn run() {
    let pg = std::env::var("POLIS_BENCH_PG_URL").expect("POLIS_BENCH_PG_URL (scripts/bench-region sets it)");
    let nats_bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("Debian's nats-server");
    let db = polis_store::testing::fresh_postgres_database(&pg).await.expect("a fresh database");
    let nats_dir = tempfile::tempdir().expect("tempdir");
    let nats_port = free_port();
    let _nats = Proc(
        Command::new(nats_bin)
            .args(["-a", "127.0.0.1", "-p", &nats_port.to_string(), "-js", "-sd"])
            .arg(nats_dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server"),
    );
    while std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let nats = format!("nats://127.0.0.1:{nats_port}");
    let (da, dbd) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let (pa, pb) = (free_port(), free_port());
    let _a = start_node(da.path(), pa, &db, &nats, "bench-a").await;
    let _b = start_node(dbd.path(), pb, &db, &nats, "bench-b").await;
    let a = Api::login(&format!("http://127.0.0.1:{pa}"), "admin", PASSWORD).await;
    let b = Api::login(&format!("http://127.0.0.1:{pb}"), "admin", PASSWORD).await;
    a.post("/api/v1/organisations", json!({"id": "benchville", "kind": "municipality", "name_en": "Benchville"})).await;

    // Background readings: 100 gauges with no rule, posted to both nodes in batches of 250.
    for i in 0..100 {
        a.post(
            "/api/v1/sensors",
            json!({"id": format!("bg-{i}"), "municipality": "benchville", "name": format!("Gauge {i}"),
                   "kind": "air_quality", "unit": "ug/m3", "lat": 42.6, "lon": 25.4}),
        )
        .await;
    }
    let rate = env("POLIS_BENCH_RATE", 5_000);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut background = Vec::new();
    for api in [&a, &b] {
        let (http, base, token, stop) = (api.http.clone(), api.base.clone(), api.token.clone(), stop_rx.clone());
        background.push(tokio::spawn(async move {
            let per_node = (rate / 2).max(1);
            let mut every = tokio::time::interval(Duration::from_secs_f64(250.0 / per_node as f64));
            let mut sent = 0u64;
            while !*stop.borrow() {
                every.tick().await;
                let now = time::OffsetDateTime::now_utc();
                let batch: Vec<serde_json::Value> = (0..250)
                    .map(|i| {
                        json!({"sensor": format!("bg-{}", i % 100),
                               "time": rfc3339(now - time::Duration::milliseconds(i)), "value": 10.0})
                    })
                    .collect();
                let r = http.post(format!("{base}/api/v1/observations")).bearer_auth(&token).json(&batch).send().await;
                if matches!(r, Ok(r) if r.status().is_success()) {
                    sent += 250;
                }
            }
            sent
        }));
    }
    let load_started = Instant::now();

    // Registry: a camera created on A, polled for on B every millisecond.
    let changes = env("POLIS_BENCH_CHANGES", 200);
    let mut seen = Vec::new();
    for i in 0..changes {
        let id = format!("bench-cam-{i}");
        a.post(
            "/api/v1/cameras",
            json!({"id": id, "municipality": "benchville", "name": "Bench", "lat": 42.6, "lon": 25.4,
                   "heading_deg": 90, "fov_deg": 90, "range_m": 100, "kind": "fixed"}),
        )
        .await;
        let committed = Instant::now();
        loop {
            let r = b.http.get(format!("{}/api/v1/cameras/{id}", b.base)).bearer_auth(&b.token).send().await;
            if matches!(r, Ok(r) if r.status().is_success()) {
                break;
            }
            assert!(committed.elapsed() < Duration::from_secs(10), "node B never served {id}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        seen.push(committed.elapsed());
    }
    percentiles("registry change on A served by B (from A's answer)", seen);

    // Alarms: a probe gauge with a rule at 100, readings posted to A alternately above and below,
    // each raising or clearing the alarm; a console on B receives them.
    a.post(
        "/api/v1/sensors",
        json!({"id": "probe", "municipality": "benchville", "name": "Probe", "kind": "water_level", "unit": "cm",
               "lat": 42.6, "lon": 25.4}),
    )
    .await;
    a.post(
        "/api/v1/rules",
        json!({"name": "Probe high", "sensor": "probe", "municipality": "benchville",
               "condition": {"type": "threshold", "above": 100, "hysteresis": 1}}),
    )
    .await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let mut events = b
        .http
        .get(format!("{}/api/v1/events?types=alarm", b.base))
        .bearer_auth(&b.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("event stream on B");
    tokio::spawn(async move {
        let mut text = String::new();
        while let Ok(Some(chunk)) = events.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                if block.lines().any(|l| l.trim() == "event: alarm") && tx.send(Instant::now()).is_err() {
                    return;
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probes = env("POLIS_BENCH_PROBES", 200);
    let mut latencies = Vec::new();
    for i in 0..probes {
        while rx.try_recv().is_ok() {}
        let value = if i % 2 == 0 { 150.0 } else { 50.0 };
        let sent = Instant::now();
        let now = rfc3339(time::OffsetDateTime::now_utc());
        a.post("/api/v1/observations", json!([{"sensor": "probe", "time": now, "value": value}])).await;
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(at)) => latencies.push(at.duration_since(sent)),
            _ => panic!("probe {i}: no alarm on node B within 10 s"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    percentiles("alarm from a reading posted to A to a console on B", latencies);
    let _ = stop_tx.send(true);
    let mut sent = 0;
    for t in background {
        sent += t.await.unwrap_or(0);
    }
    let secs = load_started.elapsed().as_secs_f64();
    println!("background readings stored: {sent} in {secs:.1} s ({:.0}/s over both nodes)", sent as f64 / secs);
}
