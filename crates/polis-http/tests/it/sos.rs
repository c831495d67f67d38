//! SOS devices with safe zones and a check-in: their position reports raise and clear alarms
//! through the rules engine, like a sensor's.

use crate::harness::{assert_error, TestApp};
use crate::{both, both_clocked};
use polis_base::{Clock, SimClock};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// The wearer's home: a square of about 450 by 600 m in Kazanlak, as [lon, lat] corners.
const HOME: [[f64; 2]; 4] = [[25.390, 42.616], [25.396, 42.616], [25.396, 42.620], [25.390, 42.620]];
const INSIDE: (f64, f64) = (42.618, 25.393);
const OUTSIDE: (f64, f64) = (42.630, 25.410);

fn device(id: &str) -> Value {
    json!({"id": id, "label": "tracker 9", "municipality": "kazanlak",
           "profile": {"name": "Стоян Колев", "details": "dementia, 79", "contact": "+359 888 123 456"},
           "safe_zones": [{"name": "home", "zone": HOME}], "checkin_minutes": 10})
}

async fn report(t: &TestApp, token: &str, id: &str, (lat, lon): (f64, f64)) -> Value {
    let path = format!("/api/v1/sos/devices/{id}/positions");
    let (s, b) = t.call(t.req_as(token, Method::POST, &path).json(&json!({"lat": lat, "lon": lon}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

/// The alarms of a rule, newest first.
async fn alarms_of(t: &TestApp, token: &str, rule: &str) -> Vec<Value> {
    let (s, b) = t.call(t.req_as(token, Method::GET, "/api/v1/alarms?state=all")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b.as_array().unwrap().iter().filter(|a| a["rule"] == rule).cloned().collect()
}

both_clocked!(a_wearer_leaving_the_safe_zone_or_missing_a_check_in_raises_an_alarm_through_the_rules);
async fn a_wearer_leaving_the_safe_zone_or_missing_a_check_in_raises_an_alarm_through_the_rules(
    t: TestApp,
    clock: Arc<SimClock>,
) {
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    let op = t.user("op", "operator", "kazanlak").await;
    let viewer = t.user("viewer", "viewer", "kazanlak").await;
    let (s, d) = t.call(t.req_as(&sup, Method::POST, "/api/v1/sos/devices").json(&device("tracker-9"))).await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert_eq!((d["sensor"].as_str(), d["checkin_minutes"].as_u64()), (Some("tracker-9.tracker"), Some(10)));
    assert_eq!(d["safe_zones"][0]["zone"].as_array().map(Vec::len), Some(4), "{d}");
    // The rules behind it are ordinary rules, listed with the others.
    let (_, rules) = t.get("/api/v1/rules").await;
    let ids: Vec<&str> = rules.as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
    assert!(ids.contains(&"tracker-9.zone-1") && ids.contains(&"tracker-9.checkin"), "{rules}");

    // Inside, then outside: one alarm, labelled by the device, never by the wearer.
    assert_eq!(report(&t, &op, "tracker-9", INSIDE).await["alarms_changed"], 0);
    clock.advance(time::Duration::minutes(1));
    assert_eq!(report(&t, &op, "tracker-9", OUTSIDE).await["alarms_changed"], 1);
    clock.advance(time::Duration::minutes(1));
    report(&t, &op, "tracker-9", (OUTSIDE.0 + 0.001, OUTSIDE.1)).await;
    let zone = alarms_of(&t, &viewer, "tracker-9.zone-1").await;
    assert_eq!(zone.len(), 1, "one alarm however many reports outside: {zone:?}");
    assert_eq!(zone[0]["state"], "active_unacknowledged");
    assert_eq!(zone[0]["source"], "tracker-9.tracker");
    assert_eq!(zone[0]["message"], "tracker 9 left zone \"home\"");
    let at = (zone[0]["lat"].as_f64(), zone[0]["lon"].as_f64());
    assert_eq!(at, (Some(OUTSIDE.0), Some(OUTSIDE.1)), "the alarm is where the wearer left: {zone:?}");
    let (_, all) = t.call(t.req_as(&viewer, Method::GET, "/api/v1/alarms?state=all")).await;
    assert!(!all.to_string().contains("Стоян") && !all.to_string().contains("dementia"), "{all}");
    // The track is for those who may see the device.
    let track = "/api/v1/sensors/tracker-9.tracker/observations";
    assert_eq!(t.call(t.req_as(&viewer, Method::GET, track)).await.0, StatusCode::FORBIDDEN);
    let (s, b) = t.call(t.req_as(&op, Method::GET, track)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Back inside: cleared.
    clock.advance(time::Duration::minutes(1));
    assert_eq!(report(&t, &op, "tracker-9", INSIDE).await["alarms_changed"], 1);
    let zone = alarms_of(&t, &viewer, "tracker-9.zone-1").await;
    assert_eq!((zone.len(), zone[0]["state"].as_str()), (1, Some("cleared_unacknowledged")), "{zone:?}");

    // A missed check-in: eleven minutes without a report.
    clock.advance(time::Duration::minutes(9));
    t.app.tick().await.unwrap();
    assert!(alarms_of(&t, &op, "tracker-9.checkin").await.is_empty(), "nine minutes are not ten");
    clock.advance(time::Duration::minutes(2));
    t.app.tick().await.unwrap();
    let missed = alarms_of(&t, &op, "tracker-9.checkin").await;
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0]["state"], "active_unacknowledged");
    assert!(missed[0]["message"].as_str().unwrap().contains("tracker 9"), "{missed:?}");
    clock.advance(time::Duration::minutes(1));
    report(&t, &op, "tracker-9", INSIDE).await;
    assert_eq!(alarms_of(&t, &op, "tracker-9.checkin").await[0]["state"], "cleared_unacknowledged");
    let (_, list) = t.call(t.req_as(&op, Method::GET, "/api/v1/sos/devices")).await;
    let at = list[0]["position_at"].as_str().unwrap();
    let now = clock.now().format(&time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!((list[0]["lat"].as_f64(), at), (Some(INSIDE.0), now.as_str()), "{list}");

    // Without safe zones and check-in, the sensor and rules go; the alarms stay.
    let mut plain = device("tracker-9");
    plain["safe_zones"] = json!([]);
    plain["checkin_minutes"] = Value::Null;
    let (s, d) = t.call(t.req_as(&sup, Method::POST, "/api/v1/sos/devices").json(&plain)).await;
    assert_eq!((s, &d["sensor"]), (StatusCode::CREATED, &Value::Null), "{d}");
    let (_, rules) = t.get("/api/v1/rules").await;
    assert!(!rules.to_string().contains("tracker-9."), "{rules}");
    assert_eq!(t.get("/api/v1/sensors/tracker-9.tracker").await.0, StatusCode::NOT_FOUND);
    assert_eq!(report(&t, &op, "tracker-9", OUTSIDE).await["alarms_changed"], 0);
    assert_eq!(alarms_of(&t, &op, "tracker-9.zone-1").await.len(), 1);
}

both!(sos_devices_are_edited_by_supervisors_checked_field_by_field_and_removed_with_their_rules);
async fn sos_devices_are_edited_by_supervisors_checked_field_by_field_and_removed_with_their_rules(t: TestApp) {
    let op = t.user("op", "operator", "kazanlak").await;
    let other = t.user("sz-sup", "supervisor", "stara-zagora").await;
    let (s, b) = t.call(t.req_as(&op, Method::POST, "/api/v1/sos/devices").json(&device("tracker-3"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "operators do not register devices: {b}");
    let mut bad = device("tracker-3");
    bad["safe_zones"][0]["zone"] = json!([[25.39, 42.61], [25.40, 42.61]]);
    let (s, b) = t.post("/api/v1/sos/devices", bad).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "safe_zones[0].zone", None);
    let mut bad = device("tracker-3");
    bad["checkin_minutes"] = json!(0);
    let (s, b) = t.post("/api/v1/sos/devices", bad).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "checkin_minutes", None);
    let mut bad = device("tracker-3");
    bad["safe_zones"][0]["zone"][1] = json!([25.39, 142.0]);
    let (s, b) = t.post("/api/v1/sos/devices", bad).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "safe_zones[0].zone[1]", None);
    let mut bad = device("tracker-3");
    bad["safe_zones"][0]["colour"] = json!("red");
    let (s, b) = t.post("/api/v1/sos/devices", bad).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.to_string().contains("safe_zones[0]"), "{b}");
    let (s, b) = t.post("/api/v1/sos/devices/tracker-3/positions", json!({"lat": 42.6})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    let (s, b) = t.post("/api/v1/sos/devices", device("tracker-3")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) =
        t.post("/api/v1/sos/devices/tracker-3/positions", json!({"lat": 42.6, "lon": 25.4, "time": "soon"})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "time", None);
    let ahead = json!({"lat": 42.6, "lon": 25.4, "time": "2099-01-01T00:00:00Z"});
    let (s, b) = t.post("/api/v1/sos/devices/tracker-3/positions", ahead).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "time", None);
    assert_eq!(t.get("/api/v1/sos/devices").await.1[0]["position_at"], Value::Null, "nothing kept");
    // Another municipality does not learn that the device exists.
    let path = "/api/v1/sos/devices/tracker-3";
    assert_eq!(t.call(t.req_as(&other, Method::DELETE, path)).await.0, StatusCode::NOT_FOUND);
    let pos = format!("{path}/positions");
    let (s, _) = t.call(t.req_as(&other, Method::POST, &pos).json(&json!({"lat": 42.6, "lon": 25.4}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(t.call(t.req_as(&op, Method::DELETE, path)).await.0, StatusCode::FORBIDDEN);
    let (s, b) = t.call(t.req(Method::DELETE, path)).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(t.get("/api/v1/sos/devices").await.1, json!([]));
    assert_eq!(t.get("/api/v1/sensors/tracker-3.tracker").await.0, StatusCode::NOT_FOUND);
    let (_, rules) = t.get("/api/v1/rules").await;
    assert_eq!(rules, json!([]));
    let (_, audit) = t.get("/api/v1/audit?limit=100").await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|a| a["action"].as_str()).collect();
    for want in
        ["sos_device.create", "sos_device.delete", "rule.create", "rule.delete", "sensor.create", "sensor.delete"]
    {
        assert!(actions.contains(&want), "{want} audited: {actions:?}");
    }
    assert!(!audit.to_string().contains("Стоян"), "no profile in the audit log");
}
