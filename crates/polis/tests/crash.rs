//! Kill Polis with SIGKILL in the middle of heavy intake, restart it, and check that every
//! observation it acknowledged is there, that no alarm is duplicated (checked after every
//! restart, over all alarms of a rule and source, open or not), and that after every restart
//! the alarms agree with the stored data (an alarm is active exactly for the sensors whose last
//! stored reading is above the level); several times over. The real binary (`polis serve` on
//! SQLite, and on PostgreSQL when `POLIS_TEST_PG_URL` is set) and real HTTP clients.
//! `POLIS_CRASH_ROUNDS=20` runs 20 kills per store instead of 10.

mod common;

use common::{free_port, Api, Serve};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const PASSWORD: &str = "crash-test-Pa55word";
const SENSORS: usize = 20;
const CLIENTS: usize = 6;
const BATCH: usize = 250;
/// Kills per run: 10 unless `POLIS_CRASH_ROUNDS` says otherwise.
fn rounds() -> usize {
    std::env::var("POLIS_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(10)
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("time").format(&Rfc3339).expect("fmt")
}

/// What the clients were told was stored: (sensor, time in ms) -> value.
type Acked = Arc<Mutex<HashMap<(usize, i64), f64>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_observations_survive_sigkill_and_alarms_are_not_duplicated() {
    kill_under_intake(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_observations_survive_sigkill_and_alarms_are_not_duplicated_on_postgres() {
    let Ok(server) = std::env::var("POLIS_TEST_PG_URL") else {
        assert!(
            std::env::var("POLIS_REQUIRE_PG").as_deref() != Ok("1"),
            "POLIS_REQUIRE_PG=1 but POLIS_TEST_PG_URL is not set: run scripts/test"
        );
        eprintln!("POLIS_TEST_PG_URL not set: PostgreSQL half not run (scripts/test sets it)");
        return;
    };
    let url = polis_store::testing::fresh_postgres_database(&server).await.expect("a fresh database");
    kill_under_intake(Some(url)).await;
}

async fn kill_under_intake(database_url: Option<String>) {
    let store = if database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    let args: Vec<String> = database_url.map(|u| vec!["--database-url".to_string(), u]).unwrap_or_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = Serve { data: dir.path(), port, admin_password: PASSWORD, log_level: "warn", log_file: None };
    let mut server = serve.start_with(&args).await;
    let api = Api::login(&base, "admin", PASSWORD).await;
    let http = api.http.clone();
    let (s, b) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/organisations",
            Some(json!({"id": "crashville", "kind": "municipality", "name_en": "Crashville"})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    for i in 0..SENSORS {
        let body = json!({"id": format!("g{i}"), "municipality": "crashville", "name": format!("Gauge {i}"),
                          "kind": "water_level", "unit": "cm", "lat": 42.6 + i as f64 * 0.001, "lon": 25.4});
        let (s, b) = api.call(reqwest::Method::POST, "/api/v1/sensors", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let rule = json!({"name": "High water", "sensor_kind": "water_level", "municipality": "crashville", "severity": "major",
                      "condition": {"type": "threshold", "above": 100, "hysteresis": 5}});
    let (s, b) = api.call(reqwest::Method::POST, "/api/v1/rules", Some(rule)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // Every observation has its own millisecond, so each is one row and can be found again.
    let start_ms = (OffsetDateTime::now_utc() - time::Duration::hours(2)).unix_timestamp() * 1000;
    let clock = Arc::new(AtomicI64::new(start_ms));
    let acked: Acked = Arc::new(Mutex::new(HashMap::new()));
    let rounds = rounds();
    for round in 0..rounds {
        let before = acked.lock().expect("lock").len();
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let (http, base, token) = (http.clone(), base.clone(), api.token.clone());
            let (clock, acked) = (clock.clone(), acked.clone());
            clients.push(tokio::spawn(async move {
                let mut n = 0u64;
                loop {
                    let mut batch = Vec::with_capacity(BATCH);
                    let mut sent = Vec::with_capacity(BATCH);
                    for k in 0..BATCH {
                        let t = clock.fetch_add(1, Ordering::SeqCst);
                        let sensor = (c + k) % SENSORS;
                        // Crossing 100 up and down, so alarms open and clear all the time.
                        let value = if (n + k as u64 + round as u64) % 7 < 3 { 130.0 } else { 40.0 } + (k % 10) as f64;
                        batch.push(json!({"sensor": format!("g{sensor}"), "time": rfc3339(t), "value": value}));
                        sent.push(((sensor, t), value));
                    }
                    n += 1;
                    let r =
                        http.post(format!("{base}/api/v1/observations")).bearer_auth(&token).json(&batch).send().await;
                    let Ok(r) = r else { return };
                    if r.status() != StatusCode::OK {
                        return;
                    }
                    let Ok(body) = r.json::<Value>().await else { return };
                    assert_eq!(body["accepted"], BATCH, "a batch was only partly taken: {body}");
                    acked.lock().expect("lock").extend(sent);
                }
            }));
        }
        // Let intake run until some of it is acknowledged (however loaded the machine), then a
        // little longer each round, then kill the server in the middle of it.
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.lock().expect("lock").len() == before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100 + 150 * (round % 5) as u64)).await;
        let during = acked.lock().expect("lock").len();
        server.0.kill().expect("SIGKILL");
        let _ = server.0.wait();
        for c in clients {
            c.await.expect("client");
        }
        assert!(during > before, "round {round}: nothing was acknowledged before the kill");
        server = serve.start_with(&args).await;
        check_alarms(&api, &format!("after restart {}", round + 1)).await;
        check_alarms_agree(&api, clock.load(Ordering::SeqCst), &format!("after restart {}", round + 1)).await;
    }

    // Every acknowledged observation is there after the last restart.
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= rounds * BATCH, "too little intake to mean anything: {}", acked.len());
    let agreed = rounds;
    let end_ms = clock.load(Ordering::SeqCst) + 1;
    let mut by_sensor: BTreeMap<usize, Vec<(i64, f64)>> = BTreeMap::new();
    for ((s, t), v) in &acked {
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
            let points = b["points"].as_array().expect("points").clone();
            for p in &points {
                let t = OffsetDateTime::parse(p["time"].as_str().expect("time"), &Rfc3339).expect("rfc3339");
                let t = (t.unix_timestamp_nanos() / 1_000_000) as i64;
                let again = stored.insert(t, p["value"].as_f64().expect("value"));
                // Pages start after the last time of the one before, so a time twice is a reading stored twice.
                assert!(again.is_none(), "sensor g{sensor}: the reading at {} stored twice", rfc3339(t));
            }
            if points.len() < 10_000 {
                break;
            }
            from = stored.keys().max().copied().unwrap_or(end_ms) + 1;
        }
        let missing: Vec<&(i64, f64)> = want.iter().filter(|(t, v)| stored.get(t) != Some(v)).collect();
        assert!(
            missing.is_empty(),
            "sensor g{sensor}: {} acknowledged observations lost, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
    }

    let sources = check_alarms(&api, "at the end").await;
    assert!(sources > 0, "the threshold was crossed, yet no alarm was raised");
    eprintln!(
        "{store}: {rounds} SIGKILLs under intake, {} acknowledged observations, 0 lost, 0 doubled; alarms agreed \
         with the last stored readings after {agreed} of {rounds} restarts; {sources} sensors alarmed",
        acked.len()
    );
}

/// No alarm is duplicated: of all the alarms (open or closed) of one rule and source, only the
/// newest may be open; every older one must be closed (cleared and acknowledged) before the
/// next was opened. Nobody acknowledges here, so that means exactly one alarm per rule and
/// source, whatever the kills did. Returns how many (rule, source) pairs have alarms.
async fn check_alarms(api: &Api, when: &str) -> usize {
    let (s, alarms) = api.call(reqwest::Method::GET, "/api/v1/alarms?state=all&limit=10000", None).await;
    assert_eq!(s, StatusCode::OK, "{alarms}");
    let mut by_key: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for a in alarms.as_array().expect("alarms") {
        let key =
            (a["rule"].as_str().unwrap_or_default().to_string(), a["source"].as_str().unwrap_or_default().to_string());
        by_key.entry(key).or_default().push(a);
    }
    for (key, list) in &mut by_key {
        list.sort_by_key(|a| a["first_seen"].as_str().unwrap_or_default().to_string());
        let ids: HashSet<&str> = list.iter().filter_map(|a| a["id"].as_str()).collect();
        assert_eq!(ids.len(), list.len(), "{when}: an alarm listed twice for {key:?}");
        for older in &list[..list.len() - 1] {
            assert_eq!(
                older["state"], "cleared_acknowledged",
                "{when}: a second alarm for {key:?} while this one was not closed: {older}; all: {list:?}"
            );
        }
        assert_eq!(list.len(), 1, "{when}: nobody acknowledged, yet {key:?} has {} alarms: {list:?}", list.len());
    }
    by_key.len()
}

/// The alarms agree with the stored data: for every sensor, the rule's alarm is active exactly
/// when the sensor's newest stored reading is above the level (values are 130+ or 40+, so the
/// hysteresis band is never hit). `clock_ms` is past the newest reading sent.
async fn check_alarms_agree(api: &Api, clock_ms: i64, when: &str) {
    let (s, alarms) = api.call(reqwest::Method::GET, "/api/v1/alarms?state=all&limit=10000", None).await;
    assert_eq!(s, StatusCode::OK, "{alarms}");
    let active: HashSet<String> = alarms
        .as_array()
        .expect("alarms")
        .iter()
        .filter(|a| a["state"].as_str().is_some_and(|s| s.starts_with("active")))
        .filter_map(|a| a["source"].as_str().map(str::to_string))
        .collect();
    let mut disagree = Vec::new();
    for i in 0..SENSORS {
        // Every millisecond holds one reading of one of the sensors: the last 60,000 hold each
        // sensor's newest unless intake stalled for that long.
        let mut from = clock_ms - 60_000;
        let newest = loop {
            let path = format!(
                "/api/v1/sensors/g{i}/observations?from={}&to={}",
                rfc3339(from).replace('+', "%2B"),
                rfc3339(clock_ms + 1).replace('+', "%2B")
            );
            let (s, b) = api.call(reqwest::Method::GET, &path, None).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            let points = b["points"].as_array().expect("points").clone();
            match points.last() {
                Some(p) if points.len() < 10_000 => break p["value"].as_f64(),
                Some(p) => {
                    let t = OffsetDateTime::parse(p["time"].as_str().expect("time"), &Rfc3339).expect("rfc3339");
                    from = (t.unix_timestamp_nanos() / 1_000_000) as i64;
                }
                None if from > clock_ms - 10_000_000 => from -= 1_000_000,
                None => break None,
            }
        };
        let Some(value) = newest else { continue };
        let above = value > 100.0;
        if above != active.contains(&format!("g{i}")) {
            disagree.push((format!("g{i}"), value, active.contains(&format!("g{i}"))));
        }
    }
    assert!(
        disagree.is_empty(),
        "{when}: alarms disagree with the last stored readings (sensor, last value, alarm active): {disagree:?}"
    );
}
