//! A region of two `polis serve` nodes on one PostgreSQL database and one NATS JetStream server,
//! as real processes on loopback: a camera created on one node is seen by the other within 2 s;
//! an observation posted to one node that crosses a rule raises one alarm, delivered on both
//! nodes' event streams with the same id; a third node with a name in use is refused.
//!
//! Needs `POLIS_TEST_PG_URL` and Debian's `nats-server` (scripts/test provides both).

mod common;

use common::{free_port, Api, Proc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "region-admin-pw";

fn nats_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("POLIS_TEST_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let found = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() && std::env::var_os("POLIS_REQUIRE_NATS").is_some() {
        panic!("nats-server not found: run scripts/test");
    }
    found
}

fn node(data: &Path, port: u16, db: &str, nats: &str, name: &str) -> Command {
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
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

async fn start_node(data: &Path, port: u16, db: &str, nats: &str, name: &str) -> Proc {
    let mut cmd = node(data, port, db, nats, name);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let p = Proc(cmd.spawn().expect("start polis serve"));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/healthz")).send().await {
            if r.status().is_success() {
                return p;
            }
        }
        assert!(Instant::now() < deadline, "node {name} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads an SSE stream until `n` alarm events arrived (or 20 s passed): their (id, alarm id, state).
async fn alarm_events(api: &Api, n: usize) -> Vec<(String, String)> {
    let mut r = api
        .http
        .get(format!("{}/api/v1/events?types=alarm", api.base))
        .bearer_auth(&api.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("events");
    assert_eq!(r.status(), StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = match tokio::time::timeout_at(deadline, r.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => break,
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let id = block.lines().find_map(|l| l.strip_prefix("id:")).map(|s| s.trim().to_string());
            let ty = block.lines().find_map(|l| l.strip_prefix("event:")).map(|s| s.trim().to_string());
            let data = block.lines().find_map(|l| l.strip_prefix("data:")).map(|s| s.trim().to_string());
            if let (Some(id), Some("alarm"), Some(data)) = (id, ty.as_deref(), data) {
                out.push((id, data));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_the_registry_and_the_alarms_and_refuse_a_duplicate_name() {
    let Some(nats_bin) = nats_binary() else {
        eprintln!("skipped: nats-server not found");
        return;
    };
    let Ok(pg) = std::env::var("POLIS_TEST_PG_URL") else {
        assert!(std::env::var_os("POLIS_REQUIRE_PG").is_none(), "POLIS_TEST_PG_URL not set: run scripts/test");
        eprintln!("skipped: POLIS_TEST_PG_URL not set");
        return;
    };
    let db = polis_store::testing::fresh_postgres_database(&pg).await.expect("a fresh database");
    let nats_dir = tempfile::tempdir().expect("tempdir");
    let nats_port = free_port();
    let _nats = Proc(
        Command::new(&nats_bin)
            .args(["-a", "127.0.0.1", "-p", &nats_port.to_string(), "-js", "-sd"])
            .arg(nats_dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server"),
    );
    let nats = format!("nats://127.0.0.1:{nats_port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }

    let (da, db_dir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let (pa, pb) = (free_port(), free_port());
    let _a = start_node(da.path(), pa, &db, &nats, "node-a").await;
    let _b = start_node(db_dir.path(), pb, &db, &nats, "node-b").await;
    let a = Api::login(&format!("http://127.0.0.1:{pa}"), "admin", PASSWORD).await;
    let b = Api::login(&format!("http://127.0.0.1:{pb}"), "admin", PASSWORD).await;

    // A third process with a name in use is refused, with a message that says why.
    let dc = tempfile::tempdir().expect("tempdir");
    let out = node(dc.path(), free_port(), &db, &nats, "node-a").output().expect("run a duplicate node");
    assert!(!out.status.success(), "a second node-a must not start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("node-a") && err.contains("--node-id"), "unclear refusal: {err}");

    a.post("/api/v1/organisations", json!({"id": "regionville", "kind": "municipality", "name_en": "Regionville"}))
        .await;
    // A camera created on node A is seen by node B within 2 s.
    a.post(
        "/api/v1/cameras",
        json!({"id": "rv-cam-1", "municipality": "regionville", "name": "Bridge", "lat": 42.6, "lon": 25.4,
               "heading_deg": 90, "fov_deg": 90, "range_m": 150, "kind": "fixed"}),
    )
    .await;
    let created = Instant::now();
    loop {
        let (s, fc) = b.call(reqwest::Method::GET, "/api/v1/cameras/seeing?lat=42.6&lon=25.4005", None).await;
        assert_eq!(s, StatusCode::OK, "{fc}");
        let ids: Vec<&str> = fc["features"]
            .as_array()
            .map(|f| f.iter().filter_map(|x| x["properties"]["id"].as_str()).collect())
            .unwrap_or_default();
        if ids.contains(&"rv-cam-1") {
            break;
        }
        assert!(created.elapsed() < Duration::from_secs(2), "node B did not see the camera within 2 s: {fc}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A rule and a sensor, then one reading above the level posted to node A: one alarm, on both
    // nodes' event streams, with the same id.
    a.post(
        "/api/v1/sensors",
        json!({"id": "rv-gauge", "municipality": "regionville", "name": "River gauge", "kind": "water_level",
               "unit": "cm", "lat": 42.6, "lon": 25.4}),
    )
    .await;
    a.post(
        "/api/v1/rules",
        json!({"name": "High water", "sensor_kind": "water_level", "municipality": "regionville",
               "severity": "major", "condition": {"type": "threshold", "above": 100, "hysteresis": 5}}),
    )
    .await;
    let (ea, eb) = (alarm_events(&a, 1), alarm_events(&b, 1));
    let post = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("t");
        a.post("/api/v1/observations", json!([{"sensor": "rv-gauge", "time": now, "value": 150.0}])).await;
    };
    let (got_a, got_b, ()) = tokio::join!(ea, eb, post);
    assert_eq!(got_a.len(), 1, "node A's console got {got_a:?}");
    assert_eq!(got_b.len(), 1, "node B's console got {got_b:?}");
    assert_eq!(got_a[0].0, got_b[0].0, "the same event id on both nodes");
    let alarm: Value = serde_json::from_str(&got_b[0].1).expect("alarm json");
    assert!(alarm.to_string().contains("rv-gauge"), "{alarm}");
    let (s, open) = b.call(reqwest::Method::GET, "/api/v1/alarms?state=active", None).await;
    assert_eq!(s, StatusCode::OK);
    let n = open.as_array().map(|v| v.len()).or_else(|| open["alarms"].as_array().map(|v| v.len()));
    assert_eq!(n, Some(1), "exactly one open alarm in the region: {open}");
}
