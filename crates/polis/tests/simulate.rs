//! `polis simulate --target URL` end to end: the real binary feeds a real `polis serve`, which
//! stores what it sends.

mod common;

use common::{free_port, Api, Proc, Serve};
use reqwest::StatusCode;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "simulate-test-Pa55word";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polis_simulate_feeds_a_running_polis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server =
        Serve { data: dir.path(), port, admin_password: PASSWORD, log_level: "warn", log_file: None }.start().await;
    let api = Api::login(&base, "admin", PASSWORD).await;
    let (s, b) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/organisations",
            Some(json!({"id": "simtown", "kind": "municipality", "name_en": "Simtown"})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let sensors = [("st-river", "water_level", "cm"), ("st-rain", "rain", "mm"), ("st-air", "air_quality", "µg/m³")];
    for (i, (id, kind, unit)) in sensors.iter().enumerate() {
        let body = json!({"id": id, "municipality": "simtown", "name": id, "kind": kind, "unit": unit,
                          "lat": 42.6 + i as f64 * 0.01, "lon": 25.4});
        let (s, b) = api.call(reqwest::Method::POST, "/api/v1/sensors", Some(body)).await;
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
            let (s, b) = api.call(reqwest::Method::GET, &format!("/api/v1/sensors/{id}/observations"), None).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            let points = b["points"].as_array().map_or(0, Vec::len);
            // The air-quality station sends named values (pm25, pm10), not a main value.
            let points = if points == 0 {
                let (_, b) = api
                    .call(reqwest::Method::GET, &format!("/api/v1/sensors/{id}/observations?quantity=pm10"), None)
                    .await;
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
