//! `polis backup` while `polis serve` takes readings and registry changes, then `polis restore`
//! into a new data directory: the restored Polis has every reading and every change that was
//! acknowledged before the backup began. Also: a backup never overwrites a file, and restoring
//! over a database in use is refused. The real binary on SQLite, real HTTP clients.

mod common;

use common::{free_port, Api, Serve};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const PASSWORD: &str = "backup-test-Pa55word";
const SENSORS: usize = 8;
const CLIENTS: usize = 3;
const BATCH: usize = 200;

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("time").format(&Rfc3339).expect("fmt")
}

/// Runs `polis ARGS` with no `POLIS_*` from the test's environment.
fn polis(args: &[&str], data: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("POLIS_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).arg("--data").arg(data).stdin(Stdio::null()).output().expect("running polis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_every_acknowledged_reading_and_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (live_data, restored_data) = (dir.path().join("live"), dir.path().join("restored"));
    let backup = dir.path().join("polis-backup.db");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = Serve { data: &live_data, port, admin_password: PASSWORD, log_level: "warn", log_file: None };
    let server = serve.start().await;
    let api = Api::login(&base, "admin", PASSWORD).await;
    api.post("/api/v1/organisations", json!({"id": "backupville", "kind": "municipality", "name_en": "Backupville"}))
        .await;
    for i in 0..SENSORS {
        api.post(
            "/api/v1/sensors",
            json!({"id": format!("g{i}"), "municipality": "backupville", "name": format!("Gauge {i}"),
                   "kind": "water_level", "unit": "cm", "lat": 42.6 + i as f64 * 0.001, "lon": 25.4}),
        )
        .await;
    }

    // Load: readings from several clients, and cameras created one after another.
    let start_ms = (OffsetDateTime::now_utc() - time::Duration::hours(1)).unix_timestamp() * 1000;
    let clock = Arc::new(AtomicI64::new(start_ms));
    let readings: Arc<Mutex<HashMap<(usize, i64), f64>>> = Arc::default();
    let cameras: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for c in 0..CLIENTS {
        let (http, base, token) = (api.http.clone(), base.clone(), api.token.clone());
        let (clock, readings, stop) = (clock.clone(), readings.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let mut batch = Vec::with_capacity(BATCH);
                let mut sent = Vec::with_capacity(BATCH);
                for k in 0..BATCH {
                    let t = clock.fetch_add(1, Ordering::SeqCst);
                    let sensor = (c + k) % SENSORS;
                    let value = (t % 1000) as f64 / 10.0;
                    batch.push(json!({"sensor": format!("g{sensor}"), "time": rfc3339(t), "value": value}));
                    sent.push(((sensor, t), value));
                }
                let r = http.post(format!("{base}/api/v1/observations")).bearer_auth(&token).json(&batch).send().await;
                let r = r.expect("the server is up during the load");
                assert_eq!(r.status(), StatusCode::OK);
                readings.lock().expect("lock").extend(sent);
            }
        }));
    }
    {
        let (http, base, token) = (api.http.clone(), base.clone(), api.token.clone());
        let (cameras, stop) = (cameras.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("cam-{n:05}");
                let body = json!({"id": id, "municipality": "backupville", "name": format!("Camera {n}"),
                                  "lat": 42.61, "lon": 25.39, "heading_deg": (n * 7 % 360) as f64, "fov_deg": 60.0,
                                  "range_m": 100.0, "kind": "fixed"});
                let r = http.post(format!("{base}/api/v1/cameras")).bearer_auth(&token).json(&body).send().await;
                let r = r.expect("the server is up during the load");
                assert_eq!(r.status(), StatusCode::CREATED);
                cameras.lock().expect("lock").push(id);
                n += 1;
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (readings.lock().expect("lock").len() < 5 * BATCH || cameras.lock().expect("lock").len() < 5)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // What was acknowledged before the backup begins must be in it.
    let acked_readings = readings.lock().expect("lock").clone();
    let acked_cameras: HashSet<String> = cameras.lock().expect("lock").iter().cloned().collect();
    let backup_arg = backup.to_str().expect("utf-8").to_string();
    let took = {
        let started = Instant::now();
        let data = live_data.clone();
        let args = ["backup", "--out", backup_arg.as_str()].map(String::from);
        let out = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            polis(&args, &data)
        })
        .await
        .expect("backup task");
        assert!(out.status.success(), "polis backup failed: {}", String::from_utf8_lossy(&out.stderr));
        started.elapsed()
    };
    let during = readings.lock().expect("lock").len();
    // The load went on while the backup ran, and a little after.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for l in load {
        l.await.expect("load client");
    }
    let after = readings.lock().expect("lock").len();
    assert!(after > acked_readings.len(), "no intake during and after the backup: the test means nothing");
    eprintln!(
        "backup in {} ms of {} acknowledged readings and {} cameras ({} readings by its end, {after} in all)",
        took.as_millis(),
        acked_readings.len(),
        acked_cameras.len(),
        during
    );

    // A backup never overwrites a file; restoring over the running database is refused.
    let again = polis(&["backup", "--out", &backup_arg], &live_data);
    assert!(!again.status.success(), "a second backup overwrote the first");
    let over = polis(&["restore", &backup_arg], &live_data);
    assert!(!over.status.success(), "restoring over a database in use was allowed");
    assert!(String::from_utf8_lossy(&over.stderr).contains("in use"), "{}", String::from_utf8_lossy(&over.stderr));
    drop(server);

    // Restore into a new place and start Polis on it.
    let out = polis(&["restore", &backup_arg], &restored_data);
    assert!(out.status.success(), "polis restore failed: {}", String::from_utf8_lossy(&out.stderr));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = Serve { data: &restored_data, port, admin_password: PASSWORD, log_level: "warn", log_file: None };
    let _restored = serve.start().await;
    let api = Api::login(&base, "admin", PASSWORD).await;

    let (s, cams) = api.call(reqwest::Method::GET, "/api/v1/cameras", None).await;
    assert_eq!(s, StatusCode::OK);
    let have: HashSet<String> = cams["features"]
        .as_array()
        .expect("features")
        .iter()
        .filter_map(|f| f["properties"]["id"].as_str())
        .map(String::from)
        .collect();
    let lost: Vec<&String> = acked_cameras.iter().filter(|c| !have.contains(*c)).collect();
    assert!(lost.is_empty(), "cameras acknowledged before the backup are missing: {lost:?}");

    let end_ms = clock.load(Ordering::SeqCst) + 1;
    let mut by_sensor: BTreeMap<usize, Vec<(i64, f64)>> = BTreeMap::new();
    for ((s, t), v) in &acked_readings {
        by_sensor.entry(*s).or_default().push((*t, *v));
    }
    for (sensor, want) in by_sensor {
        let mut stored: HashMap<i64, f64> = HashMap::new();
        let mut from = start_ms;
        loop {
            let path = format!(
                "/api/v1/sensors/g{sensor}/observations?from={}&to={}",
                rfc3339(from).replace('+', "%2B"),
                rfc3339(end_ms).replace('+', "%2B")
            );
            let (s, b) = api.call(reqwest::Method::GET, &path, None).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            let points: Vec<Value> = b["points"].as_array().expect("points").clone();
            for p in &points {
                let t = OffsetDateTime::parse(p["time"].as_str().expect("time"), &Rfc3339).expect("rfc3339");
                stored.insert((t.unix_timestamp_nanos() / 1_000_000) as i64, p["value"].as_f64().expect("value"));
            }
            if points.len() < 10_000 {
                break;
            }
            from = stored.keys().max().copied().unwrap_or(end_ms) + 1;
        }
        let missing: Vec<&(i64, f64)> = want.iter().filter(|(t, v)| stored.get(t) != Some(v)).collect();
        assert!(
            missing.is_empty(),
            "sensor g{sensor}: {} readings acknowledged before the backup are missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
    }
}
