//! Live city data through the API: intake, rules, alarms, their events.

use crate::both;
use crate::harness::{assert_error, camera, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

const LAT: f64 = 42.6105;
const LON: f64 = 25.3930;

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap()
}

async fn gauge(t: &TestApp) {
    let (s, b) = t
        .post(
            "/api/v1/sensors",
            json!({"id": "tundzha-1", "municipality": "kazanlak", "name": "Tundzha gauge", "kind": "water_level", "unit": "cm", "lat": LAT, "lon": LON}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // A camera 50 m west looking east at the gauge.
    let dlon = 50.0 / (111_320.0 * LAT.to_radians().cos());
    assert_eq!(t.post("/api/v1/cameras", camera("river-cam", LAT, LON - dlon, 90.0)).await.0, StatusCode::CREATED);
}

async fn observe(t: &TestApp, value: f64) -> Value {
    let (s, b) = t.post("/api/v1/observations", json!([{"sensor": "tundzha-1", "time": now(), "value": value}])).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["accepted"], 1, "{b}");
    b
}

async fn open_alarms(t: &TestApp) -> Vec<Value> {
    let (s, b) = t.get("/api/v1/alarms?state=open").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b.as_array().unwrap().clone()
}

both!(intake_keeps_good_observations_and_names_bad_ones);
async fn intake_keeps_good_observations_and_names_bad_ones(t: TestApp) {
    gauge(&t).await;
    let batch = json!([
        {"sensor": "tundzha-1", "time": now(), "value": 120.5},
        {"sensor": "nowhere", "time": now(), "value": 1},
        {"sensor": "tundzha-1", "time": "yesterday", "value": 1},
        {"sensor": "tundzha-1", "time": now(), "value": "high"},
        {"sensor": "tundzha-1", "time": "2001-01-01T00:00:00Z", "value": 1},
        {"sensor": "tundzha-1", "time": now(), "values": {"pm25": 12.0, "pm10": 30.5}},
    ]);
    let (s, b) = t.post("/api/v1/observations", batch).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["accepted"], 3, "{b}");
    let rejected: Vec<(u64, &str)> = b["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(rejected, vec![(1, "sensor"), (2, "time"), (3, "value"), (4, "time")]);

    let (s, b) = t.get("/api/v1/sensors/tundzha-1/observations").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["points"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["points"][0]["value"], 120.5);
    let (_, b) = t.get("/api/v1/sensors/tundzha-1/observations?quantity=pm10").await;
    assert_eq!(b["points"][0]["value"], 30.5);
    let (s, b) = t.get("/api/v1/sensors/tundzha-1/observations?step=1m").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["points"][0]["count"], 1);
    let (s, b) = t.get("/api/v1/sensors/tundzha-1/observations?step=fortnight").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "step", None);
    let (s, b) =
        t.call(t.req(Method::POST, "/api/v1/observations").header("content-type", "application/json").body("[{")).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "body", None);
}

both!(a_river_above_its_warning_level_raises_one_alarm_that_clears_with_hysteresis);
async fn a_river_above_its_warning_level_raises_one_alarm_that_clears_with_hysteresis(t: TestApp) {
    gauge(&t).await;
    let (s, rule) = t
        .post(
            "/api/v1/rules",
            json!({"name": "Tundzha warning level", "sensor": "tundzha-1",
                   "condition": {"type": "threshold", "above": 400, "hysteresis": 20}, "severity": "major"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    let rule_id = rule["id"].as_str().unwrap().to_string();
    assert_eq!(rule["version"], 1);

    observe(&t, 380.0).await;
    assert!(open_alarms(&t).await.is_empty());
    observe(&t, 410.0).await;
    observe(&t, 415.0).await;
    let alarms = open_alarms(&t).await;
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    let a = &alarms[0];
    assert_eq!(a["rule"], rule_id.as_str());
    assert_eq!(a["source"], "tundzha-1");
    assert_eq!(a["severity"], "major");
    assert_eq!(a["state"], "active_unacknowledged");
    assert_eq!(a["count"], 2);
    assert_eq!(a["cameras"][0]["id"], "river-cam", "the alarm names the cameras that see the gauge: {a}");
    let id = a["id"].as_str().unwrap().to_string();

    let (s, b) = t.call(t.req(Method::POST, &format!("/api/v1/alarms/{id}/ack"))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["state"], "active_acknowledged");
    assert_eq!(b["acknowledged_by"], "admin");
    let (s, _) = t.call(t.req(Method::POST, &format!("/api/v1/alarms/{id}/ack"))).await;
    assert_eq!(s, StatusCode::CONFLICT, "acknowledging twice is refused");

    observe(&t, 390.0).await; // below 400 but not below 400 - 20: still active
    assert_eq!(open_alarms(&t).await[0]["state"], "active_acknowledged");
    observe(&t, 370.0).await; // cleared, and already acknowledged: closed
    assert!(open_alarms(&t).await.is_empty());
    let (_, all) = t.get("/api/v1/alarms?state=all").await;
    assert_eq!(all[0]["state"], "cleared_acknowledged");

    // A new rise opens a new alarm.
    observe(&t, 430.0).await;
    let alarms = open_alarms(&t).await;
    assert_eq!(alarms.len(), 1);
    assert_ne!(alarms[0]["id"], id.as_str());

    // Comment and clear by hand (a reason is required); every step is audited.
    let id2 = alarms[0]["id"].as_str().unwrap().to_string();
    let (s, b) = t.post(&format!("/api/v1/alarms/{id2}/comment"), json!({"text": "crew on the way"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["comments"][0]["text"], "crew on the way");
    let (s, b) = t.post(&format!("/api/v1/alarms/{id2}/clear"), json!({})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "reason", None);
    let (s, b) = t.post(&format!("/api/v1/alarms/{id2}/clear"), json!({"reason": "gauge being serviced"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["clear_reason"], "gauge being serviced");
    let (_, audit) = t.get("/api/v1/audit?limit=5").await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(&actions[..3], &["alarm.clear", "alarm.comment", "alarm.acknowledge"]);
}

both!(concurrent_intake_of_one_source_opens_exactly_one_alarm);
async fn concurrent_intake_of_one_source_opens_exactly_one_alarm(t: TestApp) {
    gauge(&t).await;
    let (s, b) = t
        .post(
            "/api/v1/rules",
            json!({"name": "High", "sensor": "tundzha-1", "condition": {"type": "threshold", "above": 400}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Twenty batches at once, all stamped with the same time (the engine ignores readings older
    // than the newest it has seen for a source, so distinct times racing would not all count).
    let at = now();
    let sends = (0..20).map(|i| {
        t.call(
            t.req(Method::POST, "/api/v1/observations")
                .json(&json!([{"sensor": "tundzha-1", "time": at, "value": 450.0 + i as f64}])),
        )
    });
    for (s, b) in futures::future::join_all(sends).await {
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let alarms = open_alarms(&t).await;
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0]["count"], 20);
}

both!(rules_are_validated_and_versioned);
async fn rules_are_validated_and_versioned(t: TestApp) {
    gauge(&t).await;
    let bad = [
        (json!({"name": "x", "sensor": "tundzha-1", "condition": {"type": "threshold"}}), "condition.above"),
        (json!({"name": "x", "sensor": "tundzha-1", "condition": {"type": "tide"}}), "condition.type"),
        (json!({"name": "x", "sensor": "tundzha-1"}), "condition"),
        (json!({"name": "x", "municipality": "kazanlak", "condition": {"type": "silence", "minutes": 5}}), "sensor"),
        (
            json!({"name": "x", "municipality": "kazanlak", "sensor": "nowhere", "condition": {"type": "silence", "minutes": 5}}),
            "sensor",
        ),
        (
            json!({"name": "x", "municipality": "kazanlak", "sensor_kind": "water_level", "condition": {"type": "silence", "minutes": 0}}),
            "condition.minutes",
        ),
        (
            json!({"name": "x", "sensor": "tundzha-1", "severity": "apocalyptic", "condition": {"type": "silence", "minutes": 5}}),
            "severity",
        ),
    ];
    for (body, field) in bad {
        let (s, b) = t.post("/api/v1/rules", body.clone()).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, field, None);
    }
    let (s, r) = t
        .post(
            "/api/v1/rules",
            json!({"name": "Gauges silent", "municipality": "kazanlak", "sensor_kind": "water_level",
                   "zone": {"type": "Polygon", "coordinates": [[[25.38, 42.60], [25.40, 42.60], [25.40, 42.62], [25.38, 42.62], [25.38, 42.60]]]},
                   "condition": {"type": "silence", "minutes": 10}, "severity": "minor"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap();
    let (s, r2) = t
        .call(
            t.req(Method::PATCH, &format!("/api/v1/rules/{id}"))
                .json(&json!({"condition": {"type": "silence", "minutes": 20}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r2}");
    assert_eq!(r2["version"], 2);
    assert_eq!(r2["condition"]["minutes"], 20);
    assert_eq!(r2["sensor_kind"], "water_level");
    let (_, list) = t.get("/api/v1/rules").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let viewer = t.user("viewer-r", "viewer", "kazanlak").await;
    let (s, _) = t.call(t.req_as(&viewer, Method::DELETE, &format!("/api/v1/rules/{id}"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = t.call(t.req(Method::DELETE, &format!("/api/v1/rules/{id}"))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

both!(viewers_cannot_send_observations_or_handle_alarms);
async fn viewers_cannot_send_observations_or_handle_alarms(t: TestApp) {
    gauge(&t).await;
    let viewer = t.user("viewer-l", "viewer", "kazanlak").await;
    let (s, _) = t
        .call(
            t.req_as(&viewer, Method::POST, "/api/v1/observations")
                .json(&json!([{"sensor": "tundzha-1", "time": now(), "value": 1}])),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    t.post(
        "/api/v1/rules",
        json!({"name": "High", "sensor": "tundzha-1", "condition": {"type": "threshold", "above": 1}}),
    )
    .await;
    observe(&t, 5.0).await;
    let id = open_alarms(&t).await[0]["id"].as_str().unwrap().to_string();
    let (s, _) = t.call(t.req_as(&viewer, Method::POST, &format!("/api/v1/alarms/{id}/ack"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let operator = t.user("operator-l", "operator", "kazanlak").await;
    let (s, b) = t.call(t.req_as(&operator, Method::POST, &format!("/api/v1/alarms/{id}/ack"))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let sz = t.user("sz-op", "operator", "stara-zagora").await;
    let (s, _) = t.call(t.req_as(&sz, Method::GET, &format!("/api/v1/alarms/{id}"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

both!(an_alarm_reaches_a_live_client);
async fn an_alarm_reaches_a_live_client(t: TestApp) {
    gauge(&t).await;
    t.post(
        "/api/v1/rules",
        json!({"name": "High", "sensor": "tundzha-1", "condition": {"type": "threshold", "above": 400}}),
    )
    .await;
    let mut stream =
        t.send(t.req(Method::GET, "/api/v1/events?types=alarm").header("accept", "text/event-stream")).await;
    observe(&t, 401.0).await;
    let got = crate::events::read_events(&mut stream, 1).await;
    assert_eq!(got[0].1, "alarm");
    assert_eq!(got[0].2["data"]["source"], "tundzha-1");
    assert_eq!(got[0].2["data"]["state"], "active_unacknowledged");
}

both!(rule_changes_and_an_alarms_cameras_reach_the_event_stream);
/// A console learns of rule changes from the stream (it reloads its rules), and an alarm arrives
/// with the cameras that see its source, as `GET /alarms/{id}` gives them.
async fn rule_changes_and_an_alarms_cameras_reach_the_event_stream(t: TestApp) {
    gauge(&t).await;
    let (s, b) = t.post("/api/v1/cameras", crate::harness::camera("gauge-cam", LAT, LON - 0.0005, 90.0)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let operator = t.user("stream-op", "operator", "kazanlak").await;
    let mut stream = t
        .send(
            t.req_as(&operator, Method::GET, "/api/v1/events?types=alarm,registry")
                .header("accept", "text/event-stream"),
        )
        .await;
    let (s, rule) = t
        .post(
            "/api/v1/rules",
            json!({"name": "High", "sensor": "tundzha-1", "condition": {"type": "threshold", "above": 400}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    let rule_id = rule["id"].as_str().unwrap().to_string();
    let got = crate::events::read_events(&mut stream, 1).await;
    assert_eq!(got[0].1, "registry");
    assert_eq!(got[0].2["data"]["entity"], "rule");
    assert_eq!(got[0].2["data"]["change"], "created");
    assert_eq!(got[0].2["data"]["ids"], json!([rule_id]));
    assert_eq!(got[0].2["municipality"], "kazanlak");

    observe(&t, 401.0).await;
    let got = crate::events::read_events(&mut stream, 1).await;
    assert_eq!(got[0].1, "alarm");
    let streamed = &got[0].2["data"];
    let (s, rest) =
        t.call(t.req_as(&operator, Method::GET, &format!("/api/v1/alarms/{}", streamed["id"].as_str().unwrap()))).await;
    assert_eq!(s, StatusCode::OK, "{rest}");
    assert_eq!(streamed["cameras"], rest["cameras"]);
    assert_eq!(streamed["cameras"][0]["id"], "gauge-cam", "{streamed}");

    let (s, b) =
        t.call(t.req(Method::PATCH, &format!("/api/v1/rules/{rule_id}")).json(&json!({"name": "Higher"}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = t.call(t.req(Method::DELETE, &format!("/api/v1/rules/{rule_id}"))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // (An alarm event may come between, if the rule's end changes its alarm.)
    let mut changes = Vec::new();
    while changes.len() < 2 {
        for (_, ty, d) in crate::events::read_events(&mut stream, 1).await {
            if ty == "registry" {
                assert_eq!(d["data"]["entity"], "rule");
                changes.push(d["data"]["change"].as_str().unwrap_or("").to_string());
            }
        }
    }
    assert_eq!(changes, ["updated", "deleted"]);
}

both!(concurrent_batches_crossing_a_threshold_leave_the_alarm_as_the_last_reading_says);
/// Batches of several gauges race each other: in every round each gauge gets two batches at
/// once, one above and one below the threshold, the later one (by observation time) alternating
/// between the two. Whatever order they are evaluated and applied in, once the round is over each
/// gauge's alarm must be active exactly when its newest reading is above the threshold: a clear
/// must never be applied before the raise it answers.
async fn concurrent_batches_crossing_a_threshold_leave_the_alarm_as_the_last_reading_says(t: TestApp) {
    const GAUGES: usize = 8;
    for g in 0..GAUGES {
        let (s, b) = t
            .post(
                "/api/v1/sensors",
                json!({"id": format!("race-{g}"), "municipality": "kazanlak", "name": format!("Gauge {g}"),
                       "kind": "water_level", "unit": "cm", "lat": LAT, "lon": LON + g as f64 * 0.001}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, b) = t
        .post(
            "/api/v1/rules",
            json!({"name": "High", "municipality": "kazanlak", "sensor_kind": "water_level",
                   "condition": {"type": "threshold", "above": 400}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let start = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    for round in 0..40i64 {
        // Even rounds end below the threshold, odd rounds above.
        let (first, last) = if round % 2 == 0 { (450.0, 350.0) } else { (350.0, 450.0) };
        let mut sends = Vec::new();
        for g in 0..GAUGES {
            for (k, value) in [(0, first), (1, last)] {
                let at = (start + time::Duration::seconds(2 * round + k)).format(&Rfc3339).unwrap();
                let body = json!([{"sensor": format!("race-{g}"), "time": at, "value": value}]);
                sends.push(t.call(t.req(Method::POST, "/api/v1/observations").json(&body)));
            }
        }
        for (s, b) in futures::future::join_all(sends).await {
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        let active: Vec<String> = open_alarms(&t)
            .await
            .iter()
            .filter(|a| a["state"] == "active_unacknowledged")
            .map(|a| a["source"].to_string())
            .collect();
        let want = if last > 400.0 { GAUGES } else { 0 };
        assert_eq!(active.len(), want, "round {round}: newest reading {last}, active alarms for {active:?}");
    }
    // Never more than one open alarm per gauge.
    let (_, all) = t.get("/api/v1/alarms?state=open").await;
    let mut sources: Vec<&str> = all.as_array().unwrap().iter().map(|a| a["source"].as_str().unwrap()).collect();
    let n = sources.len();
    sources.sort_unstable();
    sources.dedup();
    assert_eq!(sources.len(), n, "{all}");
}

// ---- Every rule kind through the API, on a simulated clock ---------------------------------

use crate::both_clocked;
use polis_base::{Clock, SimClock};
use std::sync::Arc;

async fn sensor(t: &TestApp, id: &str, kind: &str) {
    let (s, b) = t
        .post(
            "/api/v1/sensors",
            json!({"id": id, "municipality": "kazanlak", "name": id, "kind": kind, "unit": "cm", "lat": LAT, "lon": LON}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

async fn rule(t: &TestApp, body: Value) -> String {
    let (s, r) = t.post("/api/v1/rules", body).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r["id"].as_str().unwrap().to_string()
}

/// Sends one reading stamped with the simulated clock's time.
async fn observe_sim(t: &TestApp, clock: &SimClock, sensor: &str, value: f64, at: Option<(f64, f64)>) -> Value {
    let mut o = json!({"sensor": sensor, "time": clock.now().format(&Rfc3339).unwrap(), "value": value});
    if let Some((lat, lon)) = at {
        o["lat"] = json!(lat);
        o["lon"] = json!(lon);
    }
    let (s, b) = t.post("/api/v1/observations", json!([o])).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["accepted"], 1, "{b}");
    b
}

/// The alarms of a rule, newest first.
async fn alarms_of(t: &TestApp, rule: &str) -> Vec<Value> {
    let (s, b) = t.get("/api/v1/alarms?state=all").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b.as_array().unwrap().iter().filter(|a| a["rule"] == rule).cloned().collect()
}

async fn state_of(t: &TestApp, rule: &str) -> Option<String> {
    alarms_of(t, rule).await.first().map(|a| a["state"].as_str().unwrap().to_string())
}

both_clocked!(a_silent_gauge_raises_an_alarm_on_the_rule_tick_and_its_next_reading_clears_it);
async fn a_silent_gauge_raises_an_alarm_on_the_rule_tick_and_its_next_reading_clears_it(
    t: TestApp,
    clock: Arc<SimClock>,
) {
    sensor(&t, "quiet-1", "water_level").await;
    let id = rule(
        &t,
        json!({"name": "Gauge silent", "sensor": "quiet-1", "condition": {"type": "silence", "minutes": 10}, "severity": "minor"}),
    )
    .await;
    observe_sim(&t, &clock, "quiet-1", 120.0, None).await;
    clock.advance(time::Duration::minutes(9));
    assert_eq!(t.app.tick().await.unwrap(), 0);
    assert_eq!(state_of(&t, &id).await, None, "nine minutes of silence are not ten");
    clock.advance(time::Duration::minutes(2));
    assert_eq!(t.app.tick().await.unwrap(), 1);
    let a = &alarms_of(&t, &id).await[0];
    assert_eq!(a["state"], "active_unacknowledged", "{a}");
    assert_eq!(a["severity"], "minor");
    assert_eq!(a["source"], "quiet-1");
    assert!(a["message"].as_str().unwrap().contains("no data"), "{a}");
    // Further ticks do not repeat it.
    clock.advance(time::Duration::minutes(5));
    assert_eq!(t.app.tick().await.unwrap(), 0);
    assert_eq!(alarms_of(&t, &id).await[0]["count"], 1);
    let b = observe_sim(&t, &clock, "quiet-1", 121.0, None).await;
    assert_eq!(b["alarms_changed"], 1, "{b}");
    assert_eq!(state_of(&t, &id).await.as_deref(), Some("cleared_unacknowledged"));
}

both_clocked!(a_device_entering_and_leaving_a_geofence_raises_and_clears_an_alarm);
async fn a_device_entering_and_leaving_a_geofence_raises_and_clears_an_alarm(t: TestApp, clock: Arc<SimClock>) {
    sensor(&t, "boat-1", "other").await;
    // A square of about 1.6 by 2.2 km around the gauge.
    let id = rule(
        &t,
        json!({"name": "Dam exclusion zone", "sensor": "boat-1", "severity": "critical",
               "condition": {"type": "geofence", "trigger": "enter",
                             "zone": {"type": "Polygon", "coordinates": [[[25.38, 42.60], [25.40, 42.60], [25.40, 42.62], [25.38, 42.62], [25.38, 42.60]]]}}}),
    )
    .await;
    let outside = (42.65, 25.45);
    let inside = (42.61, 25.39);
    // The first position only says where the device is.
    observe_sim(&t, &clock, "boat-1", 1.0, Some(outside)).await;
    clock.advance(time::Duration::seconds(30));
    observe_sim(&t, &clock, "boat-1", 1.0, Some(outside)).await;
    assert_eq!(state_of(&t, &id).await, None);
    // A reading without a position says nothing about the zone.
    clock.advance(time::Duration::seconds(30));
    observe_sim(&t, &clock, "boat-1", 1.0, None).await;
    assert_eq!(state_of(&t, &id).await, None);
    clock.advance(time::Duration::seconds(30));
    observe_sim(&t, &clock, "boat-1", 1.0, Some(inside)).await;
    let a = &alarms_of(&t, &id).await[0];
    assert_eq!(a["state"], "active_unacknowledged", "{a}");
    assert_eq!(a["severity"], "critical");
    assert!(a["message"].as_str().unwrap().contains("entered"), "{a}");
    clock.advance(time::Duration::seconds(30));
    observe_sim(&t, &clock, "boat-1", 1.0, Some(inside)).await;
    assert_eq!(alarms_of(&t, &id).await[0]["count"], 2, "still inside repeats");
    clock.advance(time::Duration::seconds(30));
    observe_sim(&t, &clock, "boat-1", 1.0, Some(outside)).await;
    assert_eq!(state_of(&t, &id).await.as_deref(), Some("cleared_unacknowledged"));
    assert_eq!(alarms_of(&t, &id).await.len(), 1);
}

both_clocked!(a_level_held_for_the_rule_minutes_raises_a_duration_alarm);
async fn a_level_held_for_the_rule_minutes_raises_a_duration_alarm(t: TestApp, clock: Arc<SimClock>) {
    sensor(&t, "held-1", "water_level").await;
    let id = rule(
        &t,
        json!({"name": "High for 5 min", "sensor": "held-1",
               "condition": {"type": "duration", "above": 400, "hysteresis": 10, "minutes": 5}}),
    )
    .await;
    observe_sim(&t, &clock, "held-1", 450.0, None).await;
    clock.advance(time::Duration::minutes(3));
    observe_sim(&t, &clock, "held-1", 455.0, None).await;
    assert_eq!(state_of(&t, &id).await, None, "three minutes are not five");
    // A dip below the level restarts the count.
    clock.advance(time::Duration::minutes(1));
    observe_sim(&t, &clock, "held-1", 395.0, None).await;
    clock.advance(time::Duration::minutes(2));
    observe_sim(&t, &clock, "held-1", 460.0, None).await;
    clock.advance(time::Duration::minutes(4));
    observe_sim(&t, &clock, "held-1", 460.0, None).await;
    assert_eq!(state_of(&t, &id).await, None, "four minutes since the dip");
    clock.advance(time::Duration::minutes(1) + time::Duration::seconds(1));
    observe_sim(&t, &clock, "held-1", 470.0, None).await;
    let a = &alarms_of(&t, &id).await[0];
    assert_eq!(a["state"], "active_unacknowledged", "{a}");
    assert!(a["message"].as_str().unwrap().contains("for 5 min"), "{a}");
    clock.advance(time::Duration::minutes(1));
    observe_sim(&t, &clock, "held-1", 395.0, None).await;
    assert_eq!(state_of(&t, &id).await.as_deref(), Some("active_unacknowledged"), "within the hysteresis");
    clock.advance(time::Duration::minutes(1));
    observe_sim(&t, &clock, "held-1", 380.0, None).await;
    assert_eq!(state_of(&t, &id).await.as_deref(), Some("cleared_unacknowledged"));
}

both_clocked!(a_fast_rise_raises_a_rate_of_change_alarm_that_clears_when_it_slows);
async fn a_fast_rise_raises_a_rate_of_change_alarm_that_clears_when_it_slows(t: TestApp, clock: Arc<SimClock>) {
    sensor(&t, "rise-1", "water_level").await;
    let id = rule(
        &t,
        json!({"name": "Rising fast", "sensor": "rise-1",
               "condition": {"type": "rate_of_change", "max_per_minute": 10, "window_minutes": 5}}),
    )
    .await;
    observe_sim(&t, &clock, "rise-1", 100.0, None).await;
    clock.advance(time::Duration::minutes(5));
    observe_sim(&t, &clock, "rise-1", 110.0, None).await; // 2 cm/min
    assert_eq!(state_of(&t, &id).await, None);
    clock.advance(time::Duration::minutes(5));
    observe_sim(&t, &clock, "rise-1", 200.0, None).await; // 18 cm/min
    let a = &alarms_of(&t, &id).await[0];
    assert_eq!(a["state"], "active_unacknowledged", "{a}");
    assert!(a["message"].as_str().unwrap().contains("rising 18 cm/min"), "{a}");
    clock.advance(time::Duration::minutes(5));
    observe_sim(&t, &clock, "rise-1", 205.0, None).await; // 1 cm/min
    assert_eq!(state_of(&t, &id).await.as_deref(), Some("cleared_unacknowledged"));
}

both_clocked!(cleared_alarms_include_the_acknowledged_ones);
async fn cleared_alarms_include_the_acknowledged_ones(t: TestApp, clock: Arc<SimClock>) {
    sensor(&t, "lvl-1", "water_level").await;
    sensor(&t, "lvl-2", "water_level").await;
    rule(&t, json!({"name": "High", "municipality": "kazanlak", "sensor_kind": "water_level", "condition": {"type": "threshold", "above": 400}})).await;
    for s in ["lvl-1", "lvl-2"] {
        observe_sim(&t, &clock, s, 450.0, None).await;
    }
    clock.advance(time::Duration::seconds(10));
    for s in ["lvl-1", "lvl-2"] {
        observe_sim(&t, &clock, s, 350.0, None).await;
    }
    // lvl-1's alarm is cleared and then acknowledged (closed); lvl-2's only cleared.
    let (_, all) = t.get("/api/v1/alarms?state=all").await;
    let one =
        all.as_array().unwrap().iter().find(|a| a["source"] == "lvl-1").unwrap()["id"].as_str().unwrap().to_string();
    let (s, b) = t.call(t.req(Method::POST, &format!("/api/v1/alarms/{one}/ack"))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["state"], "cleared_acknowledged");
    let (s, cleared) = t.get("/api/v1/alarms?state=cleared").await;
    assert_eq!(s, StatusCode::OK, "{cleared}");
    let mut got: Vec<(&str, &str)> = cleared
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["source"].as_str().unwrap(), a["state"].as_str().unwrap()))
        .collect();
    got.sort_unstable();
    assert_eq!(got, vec![("lvl-1", "cleared_acknowledged"), ("lvl-2", "cleared_unacknowledged")]);
    let (_, open) = t.get("/api/v1/alarms?state=open").await;
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    let (_, closed) = t.get("/api/v1/alarms?state=cleared_acknowledged").await;
    assert_eq!(closed.as_array().unwrap().len(), 1, "{closed}");
}

/// Readings of a sensor stored in the last day (of the server's clock).
async fn stored(t: &TestApp, sensor: &str) -> usize {
    let (s, b) = t.get(&format!("/api/v1/sensors/{sensor}/observations")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["points"].as_array().unwrap().len()
}

async fn wait_for(what: &str, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ok().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

both_clocked!(the_http_simulator_feeds_a_polis_and_logs_in_again_when_its_session_expires);
async fn the_http_simulator_feeds_a_polis_and_logs_in_again_when_its_session_expires(
    mut t: TestApp,
    clock: Arc<SimClock>,
) {
    sensor(&t, "sim-river", "water_level").await;
    sensor(&t, "sim-rain", "rain").await;
    t.user("feeder", "operator", "kazanlak").await;
    let (_, fc) = t.get("/api/v1/sensors").await;
    let sensors: Vec<polis_domain::Sensor> = fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let d = polis_http::wire::Defaults { municipality: None, id: None };
            polis_http::wire::sensor_from(f["properties"].as_object().unwrap(), &d, None).unwrap()
        })
        .collect();
    assert_eq!(sensors.len(), 2);
    let credentials = polis_ingest::sim::Credentials::Login {
        username: "feeder".into(),
        password: polis_domain::registry::Secret::new("password-123"),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let base = t.base.clone();
    let run = tokio::spawn(async move {
        polis_ingest::sim::run_http_with(
            &base,
            credentials,
            polis_ingest::sim::Simulator::new(sensors, 3),
            std::time::Duration::from_millis(100),
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    wait_for("readings of both sensors", async || {
        stored(&t, "sim-river").await >= 3 && stored(&t, "sim-rain").await >= 3
    })
    .await;
    // Thirteen hours on, the simulator's twelve-hour session has expired: its next post is
    // refused, it logs in again and carries on with the batch it kept.
    clock.advance(time::Duration::hours(13));
    t.token = t.login("admin", crate::harness::ADMIN_PASSWORD).await;
    let before = stored(&t, "sim-river").await;
    wait_for("readings after the session expired", async || stored(&t, "sim-river").await >= before + 3).await;
    let _ = stop.send(());
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.logins, 2, "{report:?}");
    assert_eq!(report.dropped, 0, "nothing lost to the expired session: {report:?}");
    assert!(report.failures >= 1, "{report:?}");
}

both!(a_rule_is_previewed_over_the_stored_readings_before_it_is_saved);
async fn a_rule_is_previewed_over_the_stored_readings_before_it_is_saved(t: TestApp) {
    gauge(&t).await;
    // Six readings over the last six hours: up over 400 cm, back down, up again.
    let now = time::OffsetDateTime::now_utc();
    let levels = [380.0, 405.0, 410.0, 398.0, 390.0, 420.0];
    let batch: Vec<Value> = levels
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at = now - time::Duration::minutes(60 * (6 - i as i64)) + time::Duration::minutes(5);
            json!({"sensor": "tundzha-1", "time": at.format(&Rfc3339).unwrap(), "value": v})
        })
        .collect();
    let (s, b) = t.post("/api/v1/observations", json!(batch)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let rule = json!({"name": "Tundzha above 400", "sensor": "tundzha-1", "severity": "major",
                      "condition": {"type": "threshold", "above": 400, "hysteresis": 5}});
    let (s, p) = t.post("/api/v1/rules/preview", rule.clone()).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!((p["sensors"].as_u64(), p["readings"].as_u64()), (Some(1), Some(6)), "{p}");
    assert_eq!((p["raised"].as_u64(), p["cleared"].as_u64()), (Some(2), Some(1)), "{p}");
    let events: Vec<(String, f64)> = p["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_string(), e["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(events, vec![("raise".into(), 405.0), ("clear".into(), 390.0), ("raise".into(), 420.0)]);
    assert_eq!(p["events"][0]["source_name"], "Tundzha gauge");
    // Over the last two hours only the last rise is seen (after a reading of 390).
    let (s, p2) = t.post("/api/v1/rules/preview?hours=2", rule.clone()).await;
    assert_eq!(s, StatusCode::OK, "{p2}");
    assert_eq!((p2["readings"].as_u64(), p2["raised"].as_u64()), (Some(2), Some(1)), "{p2}");
    // A tighter level would have fired once and never cleared.
    let mut tight = rule.clone();
    tight["condition"]["above"] = json!(415);
    let (_, p3) = t.post("/api/v1/rules/preview", tight).await;
    assert_eq!((p3["raised"].as_u64(), p3["cleared"].as_u64()), (Some(1), Some(0)), "{p3}");
    // Nothing was saved, and no alarm was raised.
    let (_, list) = t.get("/api/v1/rules").await;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    assert!(open_alarms(&t).await.is_empty());
    // Bad input names its field; a viewer may not preview.
    let (s, b) = t.post("/api/v1/rules/preview?hours=500", rule.clone()).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "hours", None);
    let (s, b) = t
        .post("/api/v1/rules/preview", json!({"name": "x", "sensor": "tundzha-1", "condition": {"type": "threshold"}}))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "condition.above", None);
    let viewer = t.user("viewer-p", "viewer", "kazanlak").await;
    let (s, _) = t.call(t.req_as(&viewer, Method::POST, "/api/v1/rules/preview").json(&rule)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
