//! `polis simulate --target URL` end to end: the real binary feeds a real `polis serve`, which
//! stores what it sends.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "simulate-test-Pa55word";

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

async fn serve(data: &Path, port: u16) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_polis"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("POLIS_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting polis serve");
    let server = Proc(child);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/healthz")).send().await {
            if r.status().is_success() {
                return server;
            }
        }
        assert!(Instant::now() < deadline, "polis did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polis_simulate_feeds_a_running_polis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = serve(dir.path(), port).await;
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let token = login["token"].as_str().expect("token").to_string();
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut rb = http.request(method, format!("{base}{path}")).bearer_auth(&token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        async move {
            let r = rb.send().await.expect("request");
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, b) = call(
        reqwest::Method::POST,
        "/api/v1/organisations".into(),
        Some(json!({"id": "simtown", "kind": "municipality", "name_en": "Simtown"})),
    )
    .await;
    assert!(s.is_success(), "{b}");
    let sensors = [("st-river", "water_level", "cm"), ("st-rain", "rain", "mm"), ("st-air", "air_quality", "µg/m³")];
    for (i, (id, kind, unit)) in sensors.iter().enumerate() {
        let body = json!({"id": id, "municipality": "simtown", "name": id, "kind": kind, "unit": unit,
                          "lat": 42.6 + i as f64 * 0.01, "lon": 25.4});
        let (s, b) = call(reqwest::Method::POST, "/api/v1/sensors".into(), Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    let _simulator = Proc(
        Command::new(env!("CARGO_BIN_EXE_polis"))
            .args(["simulate", "--target", &base, "--interval-secs", "1", "--seed", "7"])
            .env("POLIS_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting polis simulate"),
    );
    // Every sensor gets readings, more than one each.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut counts = Vec::new();
        for (id, _, _) in sensors {
            let (s, b) = call(reqwest::Method::GET, format!("/api/v1/sensors/{id}/observations"), None).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            let points = b["points"].as_array().map_or(0, Vec::len);
            // The air-quality station sends named values (pm25, pm10), not a main value.
            let points = if points == 0 {
                let (_, b) =
                    call(reqwest::Method::GET, format!("/api/v1/sensors/{id}/observations?quantity=pm10"), None).await;
                b["points"].as_array().map_or(0, Vec::len)
            } else {
                points
            };
            counts.push(points);
        }
        if counts.iter().all(|&n| n >= 2) {
            break;
        }
        assert!(Instant::now() < deadline, "the simulator's readings did not arrive: {counts:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
