//! The simulator: repeatable, plausible, and its episodes show in the data.

use crate::{wait_until, RecordingSink};
use polis_domain::{Id, LatLon, Sensor, SensorKind};
use polis_ingest::sim::{self, EpisodeKind, Simulator};
use polis_ingest::RawObservation;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sensor(id: &str, municipality: &str, kind: SensorKind, unit: &str) -> Sensor {
    Sensor {
        id: Id::parse("id", id).expect("id"),
        municipality: Id::parse("municipality", municipality).expect("id"),
        name: id.to_string(),
        name_en: String::new(),
        kind,
        unit: unit.to_string(),
        position: LatLon::new(42.62, 25.39).expect("position"),
        owner: None,
        demo: true,
    }
}

/// A small city like the demo's: every kind, the reservoir in metres.
fn city() -> Vec<Sensor> {
    use SensorKind as K;
    vec![
        sensor("wl-tundzha-i5", "kz", K::WaterLevel, "cm"),
        sensor("wl-tundzha-wwtp", "kz", K::WaterLevel, "cm"),
        sensor("wl-koprinka-wall", "kz", K::WaterLevel, "m"),
        sensor("rain-centre", "kz", K::Rain, "mm"),
        sensor("rain-koprinka", "kz", K::Rain, "mm"),
        sensor("aq-sevtopolis", "kz", K::AirQuality, "µg/m³"),
        sensor("aq-arsenal", "kz", K::AirQuality, "µg/m³"),
        sensor("tc-entry-south", "kz", K::TrafficCount, "veh/h"),
        sensor("tc-entry-west", "kz", K::TrafficCount, "veh/h"),
        sensor("sp-entry-south", "kz", K::TrafficSpeed, "km/h"),
        sensor("sp-batenberg", "kz", K::TrafficSpeed, "km/h"),
        sensor("noise-sevtopolis", "kz", K::Noise, "dB"),
        sensor("smoke-thracian-tomb", "kz", K::Smoke, "%/m"),
        sensor("temp-centre", "kz", K::Temperature, "°C"),
        sensor("wl-other-town", "other", K::WaterLevel, "cm"),
    ]
}

/// Runs `sim` from `start` for `hours` with steps of `step`; returns (time, observation).
fn run(
    sim: &mut Simulator,
    start: OffsetDateTime,
    hours: i64,
    step: Duration,
) -> Vec<(OffsetDateTime, RawObservation)> {
    let mut out = Vec::new();
    let mut t = start;
    while t < start + Duration::hours(hours) {
        out.extend(sim.step(t).into_iter().map(|o| (t, o)));
        t += step;
    }
    out
}

fn num(o: &RawObservation) -> f64 {
    o.value.as_ref().and_then(|v| v.as_f64()).unwrap_or_else(|| panic!("{} has no numeric value: {o:?}", o.sensor))
}

fn series<'a>(
    obs: &'a [(OffsetDateTime, RawObservation)],
    sensor: &'a str,
) -> impl Iterator<Item = (OffsetDateTime, f64)> + 'a {
    obs.iter().filter(move |(_, o)| o.sensor == sensor).map(|(t, o)| (*t, num(o)))
}

// A Monday, 00:00 in Kazanlak (UTC+2).
const START: OffsetDateTime = datetime!(2025-03-09 22:00 UTC);

#[test]
fn the_same_seed_gives_the_same_city() {
    let a = run(&mut Simulator::new(city(), 7), START, 6, Duration::minutes(1));
    let b = run(&mut Simulator::new(city(), 7), START, 6, Duration::minutes(1));
    let c = run(&mut Simulator::new(city(), 8), START, 6, Duration::minutes(1));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mut sa = Simulator::new(city(), 7);
    let mut sb = Simulator::new(city(), 7);
    run(&mut sa, START, 6, Duration::minutes(1));
    run(&mut sb, START, 6, Duration::minutes(1));
    assert_eq!(sa.episodes(), sb.episodes());
    assert!(!sa.episodes().is_empty());
}

#[test]
fn values_are_plausible_for_each_kind() {
    for seed in 0..8 {
        values_are_plausible(seed);
    }
}

fn values_are_plausible(seed: u64) {
    let sensors = city();
    let kinds: BTreeMap<String, (SensorKind, String)> =
        sensors.iter().map(|s| (s.id.to_string(), (s.kind, s.unit.clone()))).collect();
    let mut sim = Simulator::new(sensors, seed);
    let obs = run(&mut sim, START, 48, Duration::minutes(2));
    assert!(obs.len() > 1000);
    let mut rained = 0.0;
    for (t, o) in &obs {
        let (kind, unit) = &kinds[&o.sensor];
        assert_eq!(o.time, t.format(&time::format_description::well_known::Rfc3339).unwrap());
        if *kind == SensorKind::AirQuality {
            assert!(o.value.is_none(), "{o:?}");
            let v = o.values.as_ref().expect("pm values");
            let pm25 = v["pm25"].as_f64().expect("pm25");
            let pm10 = v["pm10"].as_f64().expect("pm10");
            assert!((1.0..=250.0).contains(&pm25), "{o:?}");
            assert!(pm10 >= pm25 && pm10 <= 500.0, "{o:?}");
            continue;
        }
        let v = num(o);
        assert!(v.is_finite());
        let ok = match (kind, unit.as_str()) {
            (SensorKind::WaterLevel, "m") => (20.0..=35.0).contains(&v),
            (SensorKind::WaterLevel, _) => (50.0..=520.0).contains(&v),
            (SensorKind::Rain, _) => {
                rained += v;
                (0.0..=2.0).contains(&v) // mm in two minutes
            }
            (SensorKind::TrafficCount, _) => (0.0..=2000.0).contains(&v) && v.fract() == 0.0,
            (SensorKind::TrafficSpeed, _) => (0.0..=130.0).contains(&v),
            (SensorKind::Noise, _) => (30.0..=95.0).contains(&v),
            (SensorKind::Smoke, _) => (0.0..=0.1).contains(&v),
            (SensorKind::Temperature, _) => (-30.0..=45.0).contains(&v),
            _ => true,
        };
        assert!(ok, "seed {seed}: implausible {kind} value {v} {unit}: {o:?}");
    }
    assert!(rained > 0.0, "two days without a drop of rain");

    // Rush hour and night, noise by day and by night (Monday, local time).
    // The mean of a sensor's values within 20 minutes of a local hour on the Monday.
    let at = |sensor: &str, local_h: i64| {
        let t = START + Duration::hours(local_h);
        let near: Vec<f64> =
            series(&obs, sensor).filter(|(u, _)| (*u - t).abs() <= Duration::minutes(20)).map(|(_, v)| v).collect();
        near.iter().sum::<f64>() / near.len() as f64
    };
    for counter in ["tc-entry-south", "tc-entry-west"] {
        assert!(at(counter, 8) > 4.0 * at(counter, 3), "no morning rush hour at {counter}");
        assert!(at(counter, 17) + at(counter, 18) > 2.2 * at(counter, 13), "no evening rush hour at {counter}");
    }
    assert!(at("noise-sevtopolis", 13) > at("noise-sevtopolis", 3) + 12.0, "nights are as loud as days");
    let river: Vec<f64> = series(&obs, "wl-tundzha-i5").map(|(_, v)| v).collect();
    let median = {
        let mut r = river.clone();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    assert!((100.0..=140.0).contains(&median), "the Tundzha at {median} cm");
}

#[test]
fn a_flood_episode_takes_a_river_gauge_past_400_cm_and_back() {
    for seed in 0..8 {
        flood_passes_400_cm(seed);
    }
}

fn flood_passes_400_cm(seed: u64) {
    let mut sim = Simulator::new(city(), seed);
    let obs = run(&mut sim, START, 8, Duration::seconds(30));
    let floods: Vec<_> = sim.episodes().into_iter().filter(|e| e.kind == EpisodeKind::Flood).collect();
    assert!(!floods.is_empty(), "seed {seed}: no flood in 8 hours");
    for flood in floods.iter().filter(|f| f.ends_at + Duration::minutes(10) < START + Duration::hours(8)) {
        let s = flood.sensor.as_str();
        assert!(s.starts_with("wl-") && s != "wl-koprinka-wall", "a flood at {s}");
        let before = series(&obs, s).filter(|(t, _)| *t < flood.started_at).last().expect("readings before");
        assert!(before.1 < 200.0, "seed {seed}: {before:?}");
        let first_over = series(&obs, s)
            .find(|(t, v)| *t >= flood.started_at && *v > 400.0)
            .unwrap_or_else(|| panic!("seed {seed}: {s} never passed 400 cm during {flood:?}"));
        let rise = first_over.0 - flood.started_at;
        assert!(
            rise >= Duration::minutes(4) && rise <= Duration::minutes(12),
            "seed {seed}: rose past 400 cm in {rise}"
        );
        let after = series(&obs, s).find(|(t, _)| *t >= flood.ends_at + Duration::minutes(5)).expect("after");
        assert!(after.1 < 200.0, "seed {seed}: still {} cm after the flood", after.1);
    }
}

#[test]
fn smog_and_traffic_jams_show_in_the_values() {
    for seed in 0..8 {
        smog_and_jam(seed);
    }
}

fn smog_and_jam(seed: u64) {
    let mut sim = Simulator::new(city(), seed);
    let obs = run(&mut sim, START, 6, Duration::minutes(1));
    let episodes = sim.episodes();
    let smog = episodes.iter().find(|e| e.kind == EpisodeKind::Smog).expect("a smog episode");
    let peak = obs
        .iter()
        .filter(|(t, o)| o.sensor == smog.sensor.as_str() && smog.is_active(*t))
        .filter_map(|(_, o)| o.values.as_ref().and_then(|v| v["pm25"].as_f64()))
        .fold(0.0, f64::max);
    assert!(peak > 80.0, "seed {seed}: smog peaked at {peak} µg/m³");
    let jam = episodes.iter().find(|e| e.kind == EpisodeKind::TrafficJam).expect("a jam");
    let slowest =
        series(&obs, jam.sensor.as_str()).filter(|(t, _)| jam.is_active(*t)).map(|(_, v)| v).fold(999.0, f64::min);
    assert!(slowest < 15.0, "seed {seed}: the jam never got slower than {slowest} km/h");
}

#[test]
fn a_silent_gauge_reports_nothing_for_its_window() {
    for seed in 0..8 {
        silent_gauge(seed);
    }
}

fn silent_gauge(seed: u64) {
    let mut sim = Simulator::new(city(), seed);
    let obs = run(&mut sim, START, 4, Duration::seconds(20));
    let silent = sim.episodes().into_iter().find(|e| e.kind == EpisodeKind::SilentGauge).expect("a silent gauge");
    assert_eq!(silent.ends_at - silent.started_at, Duration::minutes(15));
    let s = silent.sensor.as_str();
    assert!(s.starts_with("wl-") || s.starts_with("rain-"), "{s} is no gauge");
    let times: Vec<OffsetDateTime> = obs.iter().filter(|(_, o)| o.sensor == s).map(|(t, _)| *t).collect();
    assert!(!times.iter().any(|t| silent.is_active(*t)), "seed {seed}: {s} reported while silent");
    assert!(times.iter().any(|t| *t < silent.started_at), "{s} never reported before");
    assert!(times.iter().any(|t| *t >= silent.ends_at), "{s} never came back");
    // The other sensors went on reporting.
    let others = obs.iter().filter(|(t, o)| o.sensor != s && silent.is_active(*t)).count();
    assert!(others > 0);
}

#[test]
fn an_episode_can_be_started_by_hand() {
    let mut sim = Simulator::new(city(), 2);
    sim.step(START);
    let e = sim.start_episode(EpisodeKind::Flood, START + Duration::minutes(1)).expect("a river gauge");
    assert!(e.is_active(START + Duration::minutes(2)));
    let obs = sim.step(START + Duration::minutes(11));
    let v = obs.iter().find(|o| o.sensor == e.sensor.as_str()).map(num).expect("a reading");
    assert!(v > 400.0, "{v}");
    let none = Simulator::new(vec![sensor("noise-1", "kz", SensorKind::Noise, "dB")], 1)
        .start_episode(EpisodeKind::Flood, START);
    assert!(none.is_none(), "a city without rivers cannot flood");
}

#[tokio::test]
async fn run_sink_delivers_batches_grouped_by_municipality() {
    let sink = Arc::new(RecordingSink::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task =
        tokio::spawn(sim::run_sink(sink.clone(), Simulator::new(city(), 1), StdDuration::from_millis(10), async {
            let _ = stopped.await;
        }));
    wait_until("three steps delivered", StdDuration::from_secs(10), || sink.calls() >= 6).await;
    let _ = stop.send(());
    let report = task.await.expect("joins");
    assert!(report.steps >= 3 && report.delivered > 0, "{report:?}");
    let stored = sink.stored();
    assert!(stored.iter().all(|(m, o)| (m == "other") == (o.sensor == "wl-other-town")), "mixed municipalities");
    assert!(stored.iter().any(|(m, _)| m == "kz"));
}

/// One HTTP request as the fake Polis saw it.
#[derive(Debug, Clone)]
struct Seen {
    request_line: String,
    authorization: Option<String>,
    body: serde_json::Value,
}

/// A minimal HTTP/1.1 server: answers 503 to the first request and 200 to the rest.
async fn fake_polis() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // Read one request: head, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let header = |name: &str| {
                        head.lines().find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                        })
                    };
                    let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 65536];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body =
                        serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(serde_json::Value::Null);
                    let n = {
                        let mut g = log.lock().expect("lock");
                        g.push(Seen {
                            request_line: head.lines().next().unwrap_or("").to_string(),
                            authorization: header("authorization"),
                            body,
                        });
                        g.len()
                    };
                    buf.drain(..head_end + len);
                    let reply: &[u8] = if n == 1 {
                        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy"
                    } else {
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
                    };
                    if conn.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/"), seen)
}

#[tokio::test]
async fn run_http_posts_batches_with_the_token_and_retries_after_a_failure() {
    let (target, seen) = fake_polis().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sim = Simulator::new(city(), 9);
    let n = city().len();
    let task = tokio::spawn(async move {
        sim::run_http(
            &target,
            polis_domain::registry::Secret::new("tok-123"),
            sim,
            StdDuration::from_millis(50),
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    wait_until("three posts", StdDuration::from_secs(10), || seen.lock().map(|g| g.len() >= 3).unwrap_or(false)).await;
    let _ = stop.send(());
    let report = task.await.expect("joins").expect("valid target");
    assert!(report.failures >= 1 && report.delivered > 0, "{report:?}");

    let seen = seen.lock().expect("lock").clone();
    for s in &seen {
        assert_eq!(s.request_line, "POST /api/v1/observations HTTP/1.1");
        assert_eq!(s.authorization.as_deref(), Some("Bearer tok-123"));
        for item in s.body.as_array().expect("a JSON array") {
            let o = item.as_object().expect("objects");
            assert!(o["sensor"].is_string() && o["time"].is_string(), "{item}");
            assert!(o.contains_key("value") != o.contains_key("values"), "value or values: {item}");
        }
    }
    // The first batch was refused with 503, so it went again with the second.
    let len = |i: usize| seen[i].body.as_array().map_or(0, |a| a.len());
    assert!(len(0) >= n - 1 && len(0) <= n, "{}", len(0));
    assert!(len(1) > len(0), "the failed batch was not sent again");
    assert_eq!(seen[1].body.as_array().map(|a| a[..len(0)].to_vec()), seen[0].body.as_array().cloned());
}

#[tokio::test]
async fn run_http_rejects_a_target_that_is_no_url() {
    let e = sim::run_http(
        "localhost:8080",
        polis_domain::registry::Secret::new("t"),
        Simulator::new(city(), 1),
        StdDuration::from_secs(1),
        async {},
    )
    .await
    .unwrap_err();
    assert!(e.message.contains("http://"), "{}", e.message);
}
