//! The demo city comes alive by itself: the seeded rules, the simulator and the rule tick,
//! driven on a simulated clock as `polis demo` drives them on the real one, raise alarms for a
//! flood episode and a silent gauge, and clear them when the episodes end.

use polis_base::{Clock, SimClock};
use polis_core::App;
use polis_domain::{Actor, Alarm, Sensor};
use polis_ingest::sim::{EpisodeKind, Simulator};
use polis_ingest::Sink;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::Duration;

/// One simulated minute per this many steps (the server's simulator steps every 5 s and ticks
/// every 15 s; here every 15 s of simulated time do both).
const STEP: Duration = Duration::seconds(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_raises_and_clears_flood_and_silence_alarms_by_itself() {
    let start = time::macros::datetime!(2026-03-10 07:00 UTC);
    let clock = Arc::new(SimClock::new(start));
    let dir = tempfile::tempdir().expect("dir");
    let store = polis_store::open(&format!("sqlite://{}", dir.path().join("polis.db").display())).await.expect("store");
    let app = App::open(store, clock.clone()).await.expect("app");
    assert!(app.seed_demo().await.expect("seed"));
    let system = Actor::system();
    let sensors: Vec<Sensor> = app.list(&system).await.expect("sensors");
    let sensors: Vec<Sensor> = sensors.into_iter().filter(|s| s.demo).collect();
    let municipality: BTreeMap<String, String> =
        sensors.iter().map(|s| (s.id.to_string(), s.municipality.to_string())).collect();
    let mut sim = Simulator::new(sensors, 1);

    // Which rules had an active alarm at some step, and on which source.
    let mut seen_active: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let end = start + Duration::minutes(100);
    while clock.now() < end {
        let mut batches: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for o in sim.step(clock.now()) {
            let m = municipality.get(&o.sensor).cloned().expect("a demo sensor");
            batches.entry(m).or_default().push(o);
        }
        for (m, batch) in batches {
            Sink::ingest(&*app, &m, batch).await.expect("ingest");
        }
        app.tick().await.expect("tick");
        for a in app.alarms(&system, true, 1000).await.expect("alarms").into_iter().filter(Alarm::is_active) {
            let rule = a.rule.to_string();
            let kind = match rule.as_str() {
                r if r.starts_with("demo-river-warning-") => "river-warning".to_string(),
                "demo-gauge-silent" | "demo-rain-gauge-silent" => "silence".to_string(),
                _ => rule,
            };
            let sources = seen_active.entry(kind).or_default();
            if !sources.contains(&a.source.to_string()) {
                sources.push(a.source.to_string());
            }
        }
        clock.advance(STEP);
    }

    let episodes = sim.episodes();
    let ended = |kind: EpisodeKind| -> Vec<String> {
        episodes.iter().filter(|e| e.kind == kind && e.ends_at < end).map(|e| e.sensor.to_string()).collect()
    };
    let floods = ended(EpisodeKind::Flood);
    let silences = ended(EpisodeKind::SilentGauge);
    assert!(!floods.is_empty(), "the simulator had a flood episode in 100 minutes: {episodes:?}");
    assert!(!silences.is_empty(), "the simulator had a silent gauge in 100 minutes: {episodes:?}");

    // Each flooded gauge's warning alarm was raised, and each silent gauge's silence alarm.
    let warned = seen_active.get("river-warning").cloned().unwrap_or_default();
    for gauge in &floods {
        assert!(warned.contains(gauge), "flood on {gauge} raised no warning; active alarms seen: {seen_active:?}");
    }
    let silent = seen_active.get("silence").cloned().unwrap_or_default();
    for gauge in &silences {
        assert!(silent.contains(gauge), "silence of {gauge} raised no alarm; active alarms seen: {seen_active:?}");
    }

    // Once the episodes are over, those alarms have cleared by themselves.
    let all = app.alarms(&system, false, 10_000).await.expect("alarms");
    let episodes_and_rules =
        floods.iter().map(|g| (g, "demo-river-warning-")).chain(silences.iter().map(|g| (g, "demo-")));
    for (gauge, rule_prefix) in episodes_and_rules {
        let mine: Vec<&Alarm> = all
            .iter()
            .filter(|a| {
                a.source.as_str() == gauge
                    && a.rule.as_str().starts_with(rule_prefix)
                    && (rule_prefix != "demo-" || a.rule.as_str().ends_with("gauge-silent"))
            })
            .collect();
        assert!(!mine.is_empty(), "no {rule_prefix} alarm for {gauge}");
        assert!(
            mine.iter().all(|a| a.cleared_at.is_some()),
            "{rule_prefix} alarm of {gauge} still active after its episode: {mine:?}"
        );
    }
}
