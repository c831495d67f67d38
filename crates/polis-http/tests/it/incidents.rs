//! Incidents end to end through the API: the accident scenario, the workflow and its illegal
//! steps, procedures and their versions, units, video shares (expiry, revocation, scope),
//! agency scoping, correlation of alarms, statistics, the SOS path and the live stream.

use crate::events::read_events;
use crate::harness::{assert_error, camera, TestApp};
use crate::{both, both_clocked};
use polis_base::SimClock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

const SPOT: (f64, f64) = (42.6190, 25.3960);

/// Cameras around the spot: two fixed cameras looking at it from the west (near and farther), a
/// PTZ camera south of it, one looking away, and one in Stara Zagora.
async fn city(t: &TestApp) {
    let mut cams = vec![
        camera("cam-near", SPOT.0, SPOT.1 - 0.0006, 90.0),
        camera("cam-far", SPOT.0, SPOT.1 - 0.0012, 90.0),
        camera("cam-away", SPOT.0, SPOT.1 - 0.0006, 270.0),
    ];
    let mut ptz = camera("cam-ptz", SPOT.0 - 0.0008, SPOT.1, 0.0);
    ptz["kind"] = "ptz".into();
    cams.push(ptz);
    let mut sz = camera("cam-sz", 42.42, 25.63, 0.0);
    sz["municipality"] = "stara-zagora".into();
    cams.push(sz);
    for c in cams {
        let (s, b) = t.post("/api/v1/cameras", c).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    for (id, kind) in [("kz-police", "police"), ("kz-ambulance", "ambulance"), ("kz-fire", "fire_safety")] {
        let (s, b) = t
            .post(
                "/api/v1/organisations",
                json!({"id": id, "kind": "agency", "agency_kind": kind, "name_en": id, "municipality": "kazanlak"}),
            )
            .await;
        assert!(s.is_success(), "{b}");
    }
    for (id, agency, kind, lat, lon) in [
        ("patrol-1", "kz-police", "patrol_car", 42.625, 25.40),
        ("patrol-2", "kz-police", "patrol_car", 42.619, 25.397),
        ("amb-1", "kz-ambulance", "ambulance", 42.62, 25.39),
        ("engine-1", "kz-fire", "fire_engine", 42.60, 25.38),
    ] {
        let (s, b) = t
            .post(
                "/api/v1/units",
                json!({"id": id, "agency": agency, "kind": kind, "name": id, "lat": lat, "lon": lon}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
}

async fn accident(t: &TestApp, token: &str) -> Value {
    let (s, b) = t
        .call(t.req_as(token, Method::POST, "/api/v1/incidents").json(&json!({
            "type": "traffic_accident", "priority": 2, "lat": SPOT.0, "lon": SPOT.1,
            "description": "Two cars collided at the crossroads", "external_ref": "112-000042",
        })))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

async fn transition(t: &TestApp, token: &str, id: &str, to: &str, reason: Option<&str>) -> (StatusCode, Value) {
    let path = format!("/api/v1/incidents/{id}/transitions");
    t.call(t.req_as(token, Method::POST, &path).json(&json!({"to": to, "reason": reason}))).await
}

both!(the_accident_scenario_runs_from_call_to_closure);
async fn the_accident_scenario_runs_from_call_to_closure(t: TestApp) {
    city(&t).await;
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    let op = t.user("op", "operator", "kazanlak").await;
    let (s, p) = t
        .call(t.req_as(&sup, Method::PUT, "/api/v1/procedures/type/traffic_accident").json(&json!({
            "title": "Traffic accident", "items": ["Turn the PTZ camera to the spot", "Share video with police and ambulance", "Close the street"]
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["version"], 1);

    let inc = accident(&t, &op).await;
    let id = inc["id"].as_str().unwrap().to_string();
    assert_eq!(inc["status"], "new");
    // The cameras that can see the spot, nearest first, with the PTZ camera flagged; not the one
    // looking away, not the one in another municipality.
    let cams: Vec<&str> = inc["cameras"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(cams, ["cam-near", "cam-ptz", "cam-far"], "{inc}");
    let d: Vec<f64> = inc["cameras"].as_array().unwrap().iter().map(|c| c["distance_m"].as_f64().unwrap()).collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]) && (45.0..55.0).contains(&d[0]), "{d:?}");
    assert_eq!(inc["cameras"][1]["ptz"], true);
    assert!(inc["cameras"][0].get("stream_url").is_none(), "no stream addresses in incident views");
    // Police first (nearest patrol car first), then ambulance, then fire.
    let units: Vec<&str> =
        inc["proposed_units"].as_array().unwrap().iter().map(|u| u["unit"].as_str().unwrap()).collect();
    assert_eq!(units, ["patrol-2", "patrol-1", "amb-1", "engine-1"]);
    assert_eq!(inc["checklist"]["version"], 1);
    assert_eq!(inc["checklist"]["items"].as_array().unwrap().len(), 3);

    // The procedure changes; the incident keeps its version.
    let (s, p2) = t
        .call(
            t.req_as(&sup, Method::PUT, "/api/v1/procedures/type/traffic_accident")
                .json(&json!({"title": "Traffic accident", "items": ["Only one step now"]})),
        )
        .await;
    assert_eq!((s, p2["version"].clone()), (StatusCode::OK, json!(2)));
    let (_, versions) = t.get(&format!("/api/v1/procedures/{}/versions", p2["id"].as_str().unwrap())).await;
    assert_eq!(versions.as_array().unwrap().len(), 2);

    let (s, b) = t
        .call(t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/checklist/0")).json(&json!({"done": true})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["checklist"]["items"][0]["done"], true);
    assert_eq!(b["checklist"]["items"][0]["checked_by"], "op");
    assert_eq!(b["checklist"]["items"].as_array().unwrap().len(), 3, "the version it started with");

    for to in ["verified", "dispatched"] {
        let (s, b) = transition(&t, &op, &id, to, None).await;
        assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some(to)), "{b}");
    }
    for unit in ["patrol-2", "amb-1"] {
        let (s, b) = t
            .call(t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/units")).json(&json!({"unit": unit})))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, b) = t
        .call(t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/units")).json(&json!({"unit": "patrol-2"})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a dispatched unit cannot be sent twice: {b}");
    let (_, units) = t.get("/api/v1/units").await;
    let status_of = |u: &str| units.as_array().unwrap().iter().find(|x| x["id"] == u).unwrap()["status"].clone();
    assert_eq!(status_of("patrol-2"), "dispatched");
    for to in ["on_scene", "resolved"] {
        assert_eq!(transition(&t, &op, &id, to, None).await.0, StatusCode::OK);
    }
    let (_, units) = t.get("/api/v1/units").await;
    let status_of = |u: &str| units.as_array().unwrap().iter().find(|x| x["id"] == u).unwrap()["status"].clone();
    assert_eq!(status_of("patrol-2"), "available", "units are released when the incident is resolved");
    assert_eq!(transition(&t, &op, &id, "closed", None).await.0, StatusCode::OK);

    let (s, detail) = t.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    for k in ["verified_at", "dispatched_at", "on_scene_at", "resolved_at", "closed_at"] {
        assert!(detail["times"][k].is_string(), "{k} is stamped: {detail}");
    }
    let kinds: Vec<&str> = detail["journal"].as_array().unwrap().iter().map(|j| j["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"created"));
    assert_eq!(kinds.iter().filter(|k| **k == "status").count(), 5, "{kinds:?}");
    assert!(kinds.contains(&"unit") && kinds.contains(&"checklist"));
    assert!(detail["journal"].as_array().unwrap().iter().all(|j| j["by"] == "op" || j["by"] == "sup"));

    // Reopening is a supervisor's, with a reason, and audited.
    let (s, _) = transition(&t, &op, &id, "verified", Some("new information")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = transition(&t, &sup, &id, "verified", Some("new information")).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("verified")), "{b}");
    let (_, audit) = t.get("/api/v1/audit?limit=100").await;
    assert!(audit.to_string().contains("incident.reopen"), "{audit}");

    // Statistics see the response times.
    let (s, st) = t.get("/api/v1/stats/incidents?group=type").await;
    assert_eq!(s, StatusCode::OK, "{st}");
    let row = &st["rows"][0];
    assert_eq!((row["group"].as_str(), row["incidents"].as_u64()), (Some("traffic_accident"), Some(1)));
    assert_eq!(row["to_arrive"]["count"], 1);
    let (_, by_agency) = t.get("/api/v1/stats/incidents?group=agency").await;
    let groups: Vec<&str> =
        by_agency["rows"].as_array().unwrap().iter().map(|r| r["group"].as_str().unwrap()).collect();
    assert_eq!(groups, ["kz-ambulance", "kz-police"]);
}

both!(illegal_transitions_answer_409_and_change_nothing);
async fn illegal_transitions_answer_409_and_change_nothing(t: TestApp) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let id = accident(&t, &op).await["id"].as_str().unwrap().to_string();
    for to in ["dispatched", "on_scene", "resolved", "closed", "new"] {
        let (s, b) = transition(&t, &op, &id, to, None).await;
        assert_eq!(s, StatusCode::CONFLICT, "new -> {to}: {b}");
    }
    let (s, b) = transition(&t, &op, &id, "flying", None).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "to", None);
    let (s, b) = transition(&t, &op, &id, "cancelled", None).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "reason", None);
    let (_, detail) = t.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(detail["status"], "new");
    assert_eq!(detail["steps"].as_array().unwrap().len(), 1);
    assert_eq!(detail["journal"].as_array().unwrap().len(), 1, "nothing journaled: {detail}");
    assert_eq!(transition(&t, &op, &id, "cancelled", Some("false alarm")).await.0, StatusCode::OK);
    assert_eq!(transition(&t, &op, &id, "verified", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(transition(&t, &op, &id, "dispatched", None).await.0, StatusCode::CONFLICT);

    // Bad input names its field.
    let (s, b) = t.post("/api/v1/incidents", json!({"type": "meteor", "lat": 91, "lon": 25.0})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "type", None);
    assert!(b.to_string().contains("lat"), "{b}");
    let (s, b) = t.post("/api/v1/incidents", json!({"type": "fire", "priority": 7, "lat": 42.6, "lon": 25.4})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "priority", None);
    let (s, b) = t.post("/api/v1/incidents", json!({"type": "fire"})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "lat", None);
    let bow_tie = json!([[25.39, 42.61], [25.40, 42.62], [25.40, 42.61], [25.39, 42.62]]);
    let (s, b) =
        t.post("/api/v1/incidents", json!({"type": "flood", "lat": 42.615, "lon": 25.395, "area": bow_tie})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "area", None);
}

both!(viewers_change_nothing_and_other_municipalities_see_nothing);
async fn viewers_change_nothing_and_other_municipalities_see_nothing(t: TestApp) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let viewer = t.user("viewer", "viewer", "kazanlak").await;
    let sz = t.user("sz-op", "operator", "stara-zagora").await;
    let id = accident(&t, &op).await["id"].as_str().unwrap().to_string();
    let (s, b) = t.call(t.req_as(&viewer, Method::GET, &format!("/api/v1/incidents/{id}"))).await;
    assert_eq!(s, StatusCode::OK, "viewers read: {b}");
    assert_eq!(transition(&t, &viewer, &id, "verified", None).await.0, StatusCode::FORBIDDEN);
    let (s, _) = t
        .call(t.req_as(&viewer, Method::POST, &format!("/api/v1/incidents/{id}/notes")).json(&json!({"text": "hi"})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = t
        .call(
            t.req_as(&viewer, Method::POST, "/api/v1/incidents")
                .json(&json!({"type": "fire", "lat": 42.6, "lon": 25.4})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(t.call(t.req_as(&sz, Method::GET, &format!("/api/v1/incidents/{id}"))).await.0, StatusCode::NOT_FOUND);
    assert_eq!(transition(&t, &sz, &id, "verified", None).await.0, StatusCode::NOT_FOUND);
    let (_, list) = t.call(t.req_as(&sz, Method::GET, "/api/v1/incidents")).await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    assert_eq!(t.call(t.client.get(t.url("/api/v1/incidents")).bearer_auth("nope")).await.0, StatusCode::UNAUTHORIZED);
}

async fn agency_user(t: &TestApp, name: &str, agency: &str) -> String {
    let (s, b) = t
        .post(
            "/api/v1/users",
            json!({"username": name, "password": "password-123", "role": "agency", "municipality": "kazanlak", "agency": agency}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    t.login(name, "password-123").await
}

async fn open_share(t: &TestApp, token: &str, camera: Option<&str>) -> (StatusCode, Value) {
    let path = match camera {
        Some(c) => format!("/api/v1/share/cameras/{c}"),
        None => "/api/v1/share".to_string(),
    };
    t.call(t.client.get(t.url(&path)).header("x-polis-share", token)).await
}

both_clocked!(shares_expire_can_be_revoked_and_reach_only_their_cameras);
async fn shares_expire_can_be_revoked_and_reach_only_their_cameras(t: TestApp, clock: Arc<SimClock>) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let police = agency_user(&t, "police-desk", "kz-police").await;
    let ambulance = agency_user(&t, "ambulance-desk", "kz-ambulance").await;
    let id = accident(&t, &op).await["id"].as_str().unwrap().to_string();

    // Before anything is shared, the incident does not exist for the police.
    let path = format!("/api/v1/incidents/{id}");
    assert_eq!(t.call(t.req_as(&police, Method::GET, &path)).await.0, StatusCode::NOT_FOUND);
    let (_, list) = t.call(t.req_as(&police, Method::GET, "/api/v1/incidents")).await;
    assert_eq!(list.as_array().unwrap().len(), 0);

    let shares = format!("/api/v1/incidents/{id}/shares");
    let (s, b) = t
        .call(t.req_as(&op, Method::POST, &shares).json(&json!({"agency": "kz-police", "cameras": ["cam-nowhere"]})))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "cameras[0]", None);
    let (s, b) =
        t.call(t.req_as(&op, Method::POST, &shares).json(&json!({"agency": "kz-police", "cameras": ["cam-sz"]}))).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "cameras[0]", None);
    let (s, share) = t
        .call(t.req_as(&op, Method::POST, &shares).json(&json!({
            "agency": "kz-police", "cameras": ["cam-near", "cam-ptz"], "expires_in_s": 3600
        })))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{share}");
    let token = share["token"].as_str().unwrap().to_string();
    assert!(token.len() > 40);

    // The police see the incident, only the shared cameras, no journal; the ambulance does not.
    let (s, seen) = t.call(t.req_as(&police, Method::GET, &path)).await;
    assert_eq!(s, StatusCode::OK, "{seen}");
    let cams: Vec<&str> = seen["cameras"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(cams, ["cam-near", "cam-ptz"]);
    assert_eq!(seen["journal"].as_array().unwrap().len(), 0);
    assert_eq!(t.call(t.req_as(&ambulance, Method::GET, &path)).await.0, StatusCode::NOT_FOUND);
    let (_, list) = t.call(t.req_as(&police, Method::GET, "/api/v1/incidents")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // An agency user changes nothing.
    assert_eq!(transition(&t, &police, &id, "verified", None).await.0, StatusCode::FORBIDDEN);

    // The token opens the share and its cameras, not others.
    let (s, v) = open_share(&t, &token, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["cameras"].as_array().unwrap().len(), 2);
    assert!(!v.to_string().contains("rtsp://"), "no stream addresses to agencies: {v}");
    assert_eq!(open_share(&t, &token, Some("cam-near")).await.0, StatusCode::OK);
    assert_eq!(open_share(&t, &token, Some("cam-far")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(open_share(&t, "pshr_forged", None).await.0, StatusCode::FORBIDDEN);
    let (s, _) = t.call(t.client.get(t.url("/api/v1/share"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let share_id = share["id"].as_str().unwrap();
    let (s, uses) = t.call(t.req_as(&op, Method::GET, &format!("/api/v1/shares/{share_id}/uses"))).await;
    assert_eq!(s, StatusCode::OK);
    let uses = uses.as_array().unwrap();
    let passed: Vec<&Value> = uses.iter().filter(|u| u["refused"].is_null()).collect();
    assert_eq!(passed.len(), 2, "every use that passed is logged: {uses:?}");
    let refused: Vec<&Value> = uses.iter().filter(|u| !u["refused"].is_null()).collect();
    assert_eq!(refused.len(), 1, "and the refused one: {uses:?}");
    assert_eq!((refused[0]["refused"].as_str(), refused[0]["camera"].as_str()), (Some("camera"), Some("cam-far")));

    // Expiry.
    clock.advance(time::Duration::seconds(3601));
    assert_eq!(open_share(&t, &token, None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.call(t.req_as(&police, Method::GET, &path)).await.0, StatusCode::NOT_FOUND);

    // Revocation.
    let (_, second) = t
        .call(t.req_as(&op, Method::POST, &shares).json(&json!({"agency": "kz-ambulance", "cameras": ["cam-far"]})))
        .await;
    let token2 = second["token"].as_str().unwrap();
    assert_eq!(open_share(&t, token2, Some("cam-far")).await.0, StatusCode::OK);
    assert_eq!(t.call(t.req_as(&ambulance, Method::GET, &path)).await.0, StatusCode::OK);
    let revoke = format!("/api/v1/shares/{}/revoke", second["id"].as_str().unwrap());
    assert_eq!(t.call(t.req_as(&police, Method::POST, &revoke)).await.0, StatusCode::NOT_FOUND);
    let (s, r) = t.call(t.req_as(&op, Method::POST, &revoke)).await;
    assert_eq!((s, r["active"].clone()), (StatusCode::OK, json!(false)));
    assert_eq!(open_share(&t, token2, Some("cam-far")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.call(t.req_as(&ambulance, Method::GET, &path)).await.0, StatusCode::NOT_FOUND);
    let (_, audit) = t.get("/api/v1/audit?limit=200").await;
    let audit = audit.to_string();
    assert!(audit.contains("share.create") && audit.contains("share.revoke"));
    assert!(!audit.contains(&token) && !audit.contains(token2), "share tokens never reach the audit log");
}

both!(a_new_alarm_near_an_open_incident_is_offered_for_linking);
async fn a_new_alarm_near_an_open_incident_is_offered_for_linking(t: TestApp) {
    let (s, b) = t
        .post(
            "/api/v1/sensors",
            json!({"id": "tundzha-1", "municipality": "kazanlak", "name": "Tundzha gauge", "kind": "water_level",
                   "unit": "cm", "lat": 42.6100, "lon": 25.3900}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = t
        .post(
            "/api/v1/rules",
            json!({"name": "Tundzha high", "sensor": "tundzha-1", "severity": "major",
                   "condition": {"type": "threshold", "above": 250, "hysteresis": 10}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, inc) = t
        .post("/api/v1/incidents", json!({"type": "flood", "municipality": "kazanlak", "lat": 42.6110, "lon": 25.3905, "description": "river rising"}))
        .await;
    let (_, other) =
        t.post("/api/v1/incidents", json!({"type": "crime", "municipality": "kazanlak", "lat": 42.6101, "lon": 25.3901, "description": "theft"})).await;
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let (s, b) = t.post("/api/v1/observations", json!([{"sensor": "tundzha-1", "time": now, "value": 280}])).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, alarms) = t.get("/api/v1/alarms?state=active").await;
    let alarm = alarms.as_array().unwrap()[0]["id"].as_str().unwrap().to_string();
    let (s, related) = t.get(&format!("/api/v1/alarms/{alarm}/incidents")).await;
    assert_eq!(s, StatusCode::OK, "{related}");
    let ids: Vec<&str> = related.as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [inc["id"].as_str().unwrap()], "the flood, not the theft: {related} {other}");
    let (s, linked) = t.post(&format!("/api/v1/incidents/{}/alarms", ids[0]), json!({"alarm": alarm})).await;
    assert_eq!(s, StatusCode::OK, "{linked}");
    assert_eq!(linked["alarms"][0], alarm.as_str());
    let (_, related) = t.get(&format!("/api/v1/alarms/{alarm}/incidents")).await;
    assert_eq!(related.as_array().unwrap().len(), 0, "a linked alarm is not offered again");
    // An incident created from the alarm takes its place and type.
    let (s, from_alarm) = t.post("/api/v1/incidents", json!({"alarms": [alarm]})).await;
    assert_eq!(s, StatusCode::CREATED, "{from_alarm}");
    assert_eq!((from_alarm["type"].as_str(), from_alarm["source"].as_str()), (Some("flood"), Some("alarm")));
    assert!((from_alarm["lat"].as_f64().unwrap() - 42.61).abs() < 1e-9);
    let (s, b) = t.post("/api/v1/incidents", json!({"alarms": ["alarm-nope"]})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "alarms[0]", None);
}

both!(an_sos_opens_an_incident_whose_profile_only_authorised_roles_see);
async fn an_sos_opens_an_incident_whose_profile_only_authorised_roles_see(t: TestApp) {
    city(&t).await;
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    let op = t.user("op", "operator", "kazanlak").await;
    let viewer = t.user("viewer", "viewer", "kazanlak").await;
    let body = json!({"id": "tracker-7", "label": "tracker 7",
                      "profile": {"name": "Мария Иванова", "details": "dementia, 81", "contact": "+359 888 000 111"}});
    let (s, b) = t.call(t.req_as(&op, Method::POST, "/api/v1/sos/devices").json(&body)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "operators do not register devices: {b}");
    let (s, b) = t.call(t.req_as(&sup, Method::POST, "/api/v1/sos/devices").json(&body)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, _) = t.call(t.req_as(&viewer, Method::GET, "/api/v1/sos/devices")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let alert = json!({"device": "tracker-7", "lat": SPOT.0, "lon": SPOT.1});
    let (s, inc) = t.call(t.req_as(&op, Method::POST, "/api/v1/sos/alerts").json(&alert)).await;
    assert_eq!(s, StatusCode::CREATED, "{inc}");
    assert_eq!((inc["source"].as_str(), inc["priority"].as_u64()), (Some("sos"), Some(1)));
    assert_eq!(inc["sos_profile"]["name"], "Мария Иванова");
    assert_eq!(inc["cameras"][0]["id"], "cam-near", "the cameras near the person");
    let id = inc["id"].as_str().unwrap().to_string();
    // A second SOS moves the same incident.
    let alert2 = json!({"device": "tracker-7", "lat": SPOT.0 + 0.001, "lon": SPOT.1});
    let (s, again) = t.call(t.req_as(&op, Method::POST, "/api/v1/sos/alerts").json(&alert2)).await;
    assert_eq!((s, again["id"].as_str()), (StatusCode::CREATED, Some(id.as_str())));

    let (_, seen) = t.call(t.req_as(&viewer, Method::GET, &format!("/api/v1/incidents/{id}"))).await;
    assert!(seen.get("sos_profile").is_none(), "viewers never see the profile: {seen}");
    assert!(!seen.to_string().contains("Мария"));
    let police = agency_user(&t, "police-desk", "kz-police").await;
    t.call(
        t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/shares"))
            .json(&json!({"agency": "kz-police", "cameras": ["cam-near"]})),
    )
    .await;
    let (s, seen) = t.call(t.req_as(&police, Method::GET, &format!("/api/v1/incidents/{id}"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!seen.to_string().contains("Мария"), "agencies never see the profile: {seen}");
    let (_, audit) = t.get("/api/v1/audit?limit=200").await;
    assert!(!audit.to_string().contains("Мария") && !audit.to_string().contains("dementia"), "{audit}");
    let (s, b) = t.call(t.req_as(&op, Method::POST, "/api/v1/sos/alerts").json(&json!({"device": "tracker-7"}))).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "lat", None);
}

both!(an_area_incident_lists_what_is_inside_and_sensors_nearby);
async fn an_area_incident_lists_what_is_inside_and_sensors_nearby(t: TestApp) {
    city(&t).await;
    let (s, b) = t
        .post(
            "/api/v1/sensors",
            json!({"id": "gauge", "municipality": "kazanlak", "name": "Gauge", "kind": "water_level", "unit": "cm",
                   "lat": SPOT.0, "lon": SPOT.1 - 0.0003}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    t.post("/api/v1/observations", json!([{"sensor": "gauge", "time": now, "value": 181.5}])).await;
    let area = json!([
        [SPOT.1 - 0.001, SPOT.0 - 0.0005],
        [SPOT.1 + 0.001, SPOT.0 - 0.0005],
        [SPOT.1 + 0.001, SPOT.0 + 0.0005],
        [SPOT.1 - 0.001, SPOT.0 + 0.0005]
    ]);
    let (s, inc) = t
        .post(
            "/api/v1/incidents",
            json!({"type": "flood", "municipality": "kazanlak", "lat": SPOT.0, "lon": SPOT.1, "area": area}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inc}");
    let (_, detail) = t.get(&format!("/api/v1/incidents/{}", inc["id"].as_str().unwrap())).await;
    let inside: Vec<&str> =
        detail["area_contents"]["cameras"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(inside.len(), 2, "cam-near and cam-away stand inside; cam-far and cam-ptz outside: {inside:?}");
    assert!(inside.contains(&"cam-near") && inside.contains(&"cam-away"));
    assert_eq!(detail["area_contents"]["sensors"][0]["id"], "gauge");
    assert_eq!(detail["sensors"][0]["latest"][0]["value"], 181.5, "dispatch support: live values nearby");
}

both!(incident_changes_travel_on_the_live_stream_to_those_who_may_see_them);
async fn incident_changes_travel_on_the_live_stream_to_those_who_may_see_them(t: TestApp) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let police = agency_user(&t, "police-desk", "kz-police").await;
    let sub = |token: &str| {
        t.req_as(token, Method::GET, "/api/v1/events?types=incident").header("accept", "text/event-stream").send()
    };
    let mut ops = sub(&op).await.unwrap();
    let mut theirs = sub(&police).await.unwrap();
    assert_eq!(theirs.status(), StatusCode::OK);
    let id = accident(&t, &op).await["id"].as_str().unwrap().to_string();
    let created = read_events(&mut ops, 1).await;
    assert_eq!((created[0].1.as_str(), created[0].2["data"]["id"].as_str()), ("incident", Some(id.as_str())));
    // Nothing for the police until something is shared with them; then the share's event.
    t.call(
        t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/shares"))
            .json(&json!({"agency": "kz-police", "cameras": ["cam-near"]})),
    )
    .await;
    let shared = read_events(&mut ops, 1).await;
    let got = read_events(&mut theirs, 1).await;
    assert_eq!(got[0].2["data"]["id"], id.as_str());
    assert_ne!(got[0].0, created[0].0, "the police received the creation, made before the share");
    assert_eq!(got[0].0, shared[0].0, "the police's first event is the share's (event ids)");
    assert!(got[0].0.parse::<u64>().unwrap() > created[0].0.parse::<u64>().unwrap());
}

/// A subscription to every event type the caller may receive.
async fn subscribe_all(t: &TestApp, token: &str) -> reqwest::Response {
    let r = t.send(t.req_as(token, Method::GET, "/api/v1/events").header("accept", "text/event-stream")).await;
    assert_eq!(r.status(), StatusCode::OK);
    r
}

/// The next event of `ty` on a stream, skipping others.
async fn next_of(r: &mut reqwest::Response, ty: &str) -> Value {
    for _ in 0..20 {
        let got = read_events(r, 1).await;
        if got[0].1 == ty {
            return got[0].2.clone();
        }
    }
    panic!("no {ty} event among the next 20");
}

both!(dispatch_support_pushes_the_incident_its_cameras_and_sensors_to_the_agency);
async fn dispatch_support_pushes_the_incident_its_cameras_and_sensors_to_the_agency(t: TestApp) {
    city(&t).await;
    let (s, b) = t
        .post(
            "/api/v1/sensors",
            json!({"id": "gauge", "municipality": "kazanlak", "name": "Gauge", "kind": "water_level", "unit": "cm",
                   "lat": SPOT.0, "lon": SPOT.1 - 0.0003}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    t.post("/api/v1/observations", json!([{"sensor": "gauge", "time": now, "value": 181.5}])).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let police = agency_user(&t, "police-desk", "kz-police").await;
    let ambulance = agency_user(&t, "ambulance-desk", "kz-ambulance").await;
    let mut theirs = subscribe_all(&t, &police).await;
    let mut amb = subscribe_all(&t, &ambulance).await;
    let id = accident(&t, &op).await["id"].as_str().unwrap().to_string();

    // A patrol car is sent: the police receive the incident with its cameras and the gauge's value.
    let (s, b) = t
        .call(t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/units")).json(&json!({"unit": "patrol-2"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let first = read_events(&mut theirs, 1).await;
    assert_eq!(first[0].2["data"]["id"], id.as_str());
    assert_eq!(first[0].2["data"]["units"][0]["unit"], "patrol-2", "their first event is the assignment: {first:?}");
    let d = next_of(&mut theirs, "dispatch").await;
    assert_eq!((d["data"]["agency"].as_str(), d["data"]["reason"].as_str()), (Some("kz-police"), Some("assigned")));
    assert!(d["data"]["at"].is_string(), "{d}");
    let inc = &d["data"]["incident"];
    assert_eq!(inc["id"], id.as_str());
    assert_eq!(inc["units"][0]["unit"], "patrol-2");
    let cams: Vec<&str> = inc["cameras"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(cams, ["cam-near", "cam-ptz", "cam-far"], "the cameras that see it: {inc}");
    assert_eq!(inc["sensors"][0]["id"], "gauge");
    assert_eq!(inc["sensors"][0]["latest"][0]["value"], 181.5, "the live value nearby: {inc}");
    assert_eq!(inc["journal"].as_array().map(Vec::len), Some(0), "no journal for agencies");
    assert!(inc["proposed_units"].as_array().unwrap().is_empty());

    // A share for the ambulance: they receive it with the shared camera only.
    let (s, b) = t
        .call(
            t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/shares"))
                .json(&json!({"agency": "kz-ambulance", "cameras": ["cam-far"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let d = next_of(&mut amb, "dispatch").await;
    assert_eq!((d["data"]["agency"].as_str(), d["data"]["reason"].as_str()), (Some("kz-ambulance"), Some("shared")));
    let cams: Vec<&str> =
        d["data"]["incident"]["cameras"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(cams, ["cam-far"]);
    assert_eq!(d["data"]["incident"]["sensors"][0]["latest"][0]["value"], 181.5);
    let shares = d["data"]["incident"]["shares"].as_array().unwrap();
    assert_eq!(shares.len(), 1);
    assert!(shares[0].get("token").is_none(), "no token in events: {d}");
    // The police did not receive the ambulance's dispatch: their next event is the share's
    // incident change, then nothing of type dispatch.
    let next = read_events(&mut theirs, 1).await;
    assert_eq!(next[0].1, "incident", "the police got {next:?}");
}

both!(agency_users_see_only_the_cameras_shared_with_them_also_in_the_area);
async fn agency_users_see_only_the_cameras_shared_with_them_also_in_the_area(t: TestApp) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let police = agency_user(&t, "police-desk", "kz-police").await;
    let area = json!([
        [SPOT.1 - 0.001, SPOT.0 - 0.0005],
        [SPOT.1 + 0.001, SPOT.0 - 0.0005],
        [SPOT.1 + 0.001, SPOT.0 + 0.0005],
        [SPOT.1 - 0.001, SPOT.0 + 0.0005]
    ]);
    let (s, inc) = t
        .call(t.req_as(&op, Method::POST, "/api/v1/incidents").json(&json!({
            "type": "flood", "lat": SPOT.0, "lon": SPOT.1, "area": area,
        })))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inc}");
    let id = inc["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/incidents/{id}");
    let (_, full) = t.call(t.req_as(&op, Method::GET, &path)).await;
    assert_eq!(full["area_contents"]["cameras"].as_array().unwrap().len(), 2, "the control room sees both: {full}");
    let (s, b) = t
        .call(
            t.req_as(&op, Method::POST, &format!("{path}/shares"))
                .json(&json!({"agency": "kz-police", "cameras": ["cam-ptz"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, seen) = t.call(t.req_as(&police, Method::GET, &path)).await;
    assert_eq!(s, StatusCode::OK, "{seen}");
    let ids = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&seen["cameras"]), ["cam-ptz"]);
    // cam-near and cam-away stand inside the area but were not shared with the police.
    assert!(ids(&seen["area_contents"]["cameras"]).is_empty(), "{seen}");
    for cam in ["cam-near", "cam-away", "cam-far"] {
        assert!(!seen.to_string().contains(cam), "{cam} leaks to the police: {seen}");
    }
    // Shared, a camera inside the area shows there too.
    t.call(
        t.req_as(&op, Method::POST, &format!("{path}/shares"))
            .json(&json!({"agency": "kz-police", "cameras": ["cam-near"]})),
    )
    .await;
    let (_, seen) = t.call(t.req_as(&police, Method::GET, &path)).await;
    assert_eq!(ids(&seen["area_contents"]["cameras"]), ["cam-near"]);
    assert!(!seen.to_string().contains("cam-away"), "{seen}");
}

both!(units_report_positions_and_an_assigned_agency_sees_its_incident);
async fn units_report_positions_and_an_assigned_agency_sees_its_incident(t: TestApp) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let viewer = t.user("viewer", "viewer", "kazanlak").await;
    let police = agency_user(&t, "police-desk", "kz-police").await;
    let ambulance = agency_user(&t, "ambulance-desk", "kz-ambulance").await;
    // A crew reports where it is; another agency cannot move it, a viewer cannot either.
    let report = |token: &str, unit: &str, body: Value| {
        t.call(t.req_as(token, Method::POST, &format!("/api/v1/units/{unit}/report")).json(&body))
    };
    let (s, u) = report(&police, "patrol-1", json!({"lat": 42.6195, "lon": 25.3962})).await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["lat"], 42.6195);
    assert_eq!(report(&ambulance, "patrol-1", json!({"lat": 42.6, "lon": 25.4})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(report(&viewer, "patrol-1", json!({"lat": 42.6, "lon": 25.4})).await.0, StatusCode::FORBIDDEN);
    let (s, b) = report(&police, "patrol-1", json!({"lat": 142.6, "lon": 25.4})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "lat", None);
    let (_, list) = t.call(t.req_as(&police, Method::GET, "/api/v1/units")).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "an agency lists its own units: {list}");

    // The moved patrol car is now the nearest proposal.
    let inc = accident(&t, &op).await;
    assert_eq!(inc["proposed_units"][0]["unit"], "patrol-1");
    let id = inc["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/incidents/{id}");
    assert_eq!(t.call(t.req_as(&police, Method::GET, &path)).await.0, StatusCode::NOT_FOUND);
    let (s, b) = t
        .call(t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/units")).json(&json!({"unit": "patrol-1"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Dispatch support: the assigned agency sees the incident, its cameras and sensors.
    let (s, seen) = t.call(t.req_as(&police, Method::GET, &path)).await;
    assert_eq!(s, StatusCode::OK, "{seen}");
    assert!(!seen["cameras"].as_array().unwrap().is_empty());
    assert_eq!(t.call(t.req_as(&ambulance, Method::GET, &path)).await.0, StatusCode::NOT_FOUND);
    // An assigned unit cannot declare itself available; releasing it can.
    let (s, _) = report(&police, "patrol-1", json!({"status": "available"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, b) = t.call(t.req_as(&op, Method::DELETE, &format!("/api/v1/incidents/{id}/units/patrol-1"))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        t.call(t.req_as(&police, Method::GET, &path)).await.0,
        StatusCode::NOT_FOUND,
        "released: no longer theirs"
    );

    // Attachments are journaled with their hash and read back whole; agencies cannot fetch them.
    let file = b"photo bytes \x00\x01\x02".to_vec();
    let (s, att) = t
        .call(
            t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/attachments?name=scene.jpg"))
                .header("content-type", "image/jpeg")
                .body(file.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{att}");
    assert_eq!(att["size"], file.len());
    let att_path = format!("/api/v1/attachments/{}", att["id"].as_str().unwrap());
    let r = t.send(t.req_as(&viewer, Method::GET, &att_path)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.unwrap().to_vec(), file);
    assert_eq!(t.call(t.req_as(&police, Method::GET, &att_path)).await.0, StatusCode::NOT_FOUND);
    let (_, journal) = t.call(t.req_as(&op, Method::GET, &format!("/api/v1/incidents/{id}/journal"))).await;
    let last = journal.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "attachment");
    assert!(last["text"].as_str().unwrap().contains(att["sha256"].as_str().unwrap()));
    let (s, b) = t
        .call(
            t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/attachments?name=empty.txt")).body(Vec::new()),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "file", None);
}

both!(two_quick_sos_messages_of_one_device_open_one_incident);
async fn two_quick_sos_messages_of_one_device_open_one_incident(t: TestApp) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let body = json!({"id": "tracker-9", "label": "tracker 9", "municipality": "kazanlak",
                      "profile": {"name": "Petar", "details": "", "contact": ""}});
    let (s, b) = t.post("/api/v1/sos/devices", body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Eight SOS messages at once, as a device repeating its alarm does.
    let calls = (0..8).map(|i| {
        let alert = json!({"device": "tracker-9", "lat": SPOT.0 + f64::from(i) * 0.0001, "lon": SPOT.1});
        t.call(t.req_as(&op, Method::POST, "/api/v1/sos/alerts").json(&alert))
    });
    let answers = futures::future::join_all(calls).await;
    let mut ids: Vec<&str> = answers
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::CREATED, "{b}");
            b["id"].as_str().unwrap()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1, "one incident for one device: {ids:?}");
    let (_, list) = t.get("/api/v1/incidents?open=true").await;
    let sos: Vec<&Value> = list.as_array().unwrap().iter().filter(|i| i["source"] == "sos").collect();
    assert_eq!(sos.len(), 1, "{list}");
    // Every message is in its journal, each line with its own number (no two share one).
    let (_, journal) = t.get(&format!("/api/v1/incidents/{}/journal", ids[0])).await;
    let again =
        journal.as_array().unwrap().iter().filter(|j| j["text"].as_str().unwrap().contains("SOS again")).count();
    assert_eq!(again, 7, "{journal}");
}

both!(attachments_at_once_each_get_their_journal_line);
async fn attachments_at_once_each_get_their_journal_line(t: TestApp) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let id = accident(&t, &op).await["id"].as_str().unwrap().to_string();
    // Sixteen at once: without the desk's lock two of them would take the same journal line
    // number (and one would fail).
    let calls = (0..16).map(|i| {
        t.call(
            t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/attachments?name=f{i}.txt"))
                .header("content-type", "text/plain")
                .body(format!("file {i}")),
        )
    });
    for (s, b) in futures::future::join_all(calls).await {
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (_, journal) = t.get(&format!("/api/v1/incidents/{id}/journal")).await;
    let n = journal.as_array().unwrap().iter().filter(|j| j["kind"] == "attachment").count();
    assert_eq!(n, 16, "{journal}");
}

/// An open alarm of a new water-level gauge near the spot; returns its id.
async fn an_alarm(t: &TestApp) -> String {
    let (s, b) = t
        .post(
            "/api/v1/sensors",
            json!({"id": "gauge-a", "municipality": "kazanlak", "name": "Gauge A", "kind": "water_level",
                   "unit": "cm", "lat": SPOT.0, "lon": SPOT.1 + 0.0002}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = t
        .post(
            "/api/v1/rules",
            json!({"name": "Gauge A high", "sensor": "gauge-a", "severity": "major",
                   "condition": {"type": "threshold", "above": 250, "hysteresis": 10}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let (s, b) = t.post("/api/v1/observations", json!([{"sensor": "gauge-a", "time": now, "value": 280}])).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, alarms) = t.get("/api/v1/alarms?state=active").await;
    alarms.as_array().unwrap()[0]["id"].as_str().unwrap().to_string()
}

both!(viewers_and_agency_users_cannot_change_anything);
async fn viewers_and_agency_users_cannot_change_anything(t: TestApp) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let viewer = t.user("viewer", "viewer", "kazanlak").await;
    let police = agency_user(&t, "police-desk", "kz-police").await;
    let alarm = an_alarm(&t).await;
    let (s, b) = t
        .post(
            "/api/v1/sos/devices",
            json!({"id": "tracker-1", "label": "tracker 1", "municipality": "kazanlak",
               "profile": {"name": "Ivan", "details": "", "contact": ""}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = accident(&t, &op).await["id"].as_str().unwrap().to_string();
    // The police may read the incident: a share for them, and one of their cars on it.
    let (s, share) = t
        .call(
            t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/shares"))
                .json(&json!({"agency": "kz-police", "cameras": ["cam-near"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{share}");
    let share_id = share["id"].as_str().unwrap().to_string();
    let (s, b) = t
        .call(t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/units")).json(&json!({"unit": "patrol-2"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let path = format!("/api/v1/incidents/{id}");
    let (_, before) = t.call(t.req_as(&op, Method::GET, &path)).await;
    let (_, audit_before) = t.get("/api/v1/audit?limit=1000").await;
    assert_eq!(t.call(t.req_as(&police, Method::GET, &path)).await.0, StatusCode::OK, "the police read it");

    let inc = |rest: &str| format!("{path}{rest}");
    let routes: Vec<(&str, Method, String, Option<Value>)> = vec![
        ("open", Method::POST, "/api/v1/incidents".into(), Some(json!({"type": "fire", "lat": SPOT.0, "lon": SPOT.1}))),
        ("transition", Method::POST, inc("/transitions"), Some(json!({"to": "verified"}))),
        ("checklist", Method::POST, inc("/checklist/0"), Some(json!({"done": true}))),
        ("note", Method::POST, inc("/notes"), Some(json!({"text": "hello"}))),
        ("attachment", Method::POST, inc("/attachments?name=x.txt"), None),
        ("snapshot", Method::POST, inc("/snapshots"), Some(json!({"camera": "cam-near"}))),
        ("link alarm", Method::POST, inc("/alarms"), Some(json!({"alarm": alarm}))),
        ("assign", Method::POST, inc("/units"), Some(json!({"unit": "patrol-1"}))),
        ("release", Method::DELETE, inc("/units/patrol-2"), None),
        (
            "share",
            Method::POST,
            inc("/shares"),
            Some(json!({"agency": "kz-police", "cameras": ["cam-far"], "expires_in_s": 600})),
        ),
        ("revoke", Method::POST, format!("/api/v1/shares/{share_id}/revoke"), Some(json!({}))),
        (
            "procedure",
            Method::PUT,
            "/api/v1/procedures/type/traffic_accident".into(),
            Some(json!({"title": "Mine", "items": ["one"]})),
        ),
        (
            "sos alert",
            Method::POST,
            "/api/v1/sos/alerts".into(),
            Some(json!({"device": "tracker-1", "lat": SPOT.0, "lon": SPOT.1})),
        ),
        (
            "sos device",
            Method::POST,
            "/api/v1/sos/devices".into(),
            Some(json!({"id": "tracker-2", "label": "t2", "profile": {"name": "X", "details": "", "contact": ""}})),
        ),
        (
            "unit",
            Method::POST,
            "/api/v1/units".into(),
            Some(json!({"id": "patrol-9", "agency": "kz-police", "kind": "patrol_car", "name": "p9"})),
        ),
        ("unit edit", Method::PATCH, "/api/v1/units/patrol-1".into(), Some(json!({"name": "renamed"}))),
    ];
    for (who, token) in [("viewer", &viewer), ("agency user", &police)] {
        for (what, method, path, body) in &routes {
            let rb = t.req_as(token, method.clone(), path);
            let rb = match body {
                Some(b) => rb.json(b),
                None => rb.header("content-type", "text/plain").body("some bytes"),
            };
            let (s, b) = t.call(rb).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "a {who} may not {what} ({method} {path}): {b}");
            assert_eq!(b["error"]["code"].as_str().map(str::is_empty), Some(false), "{b}");
        }
    }
    // Nothing changed: the incident, its journal, its shares, the units, the audit log.
    let (_, after) = t.call(t.req_as(&op, Method::GET, &path)).await;
    assert_eq!(before, after, "the incident changed");
    let (_, audit_after) = t.get("/api/v1/audit?limit=1000").await;
    assert_eq!(audit_before, audit_after, "something was audited");
    let (_, list) = t.get("/api/v1/incidents").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "no incident was opened: {list}");
    let (_, units) = t.get("/api/v1/units").await;
    assert!(units.as_array().unwrap().iter().all(|u| u["name"] != "renamed" && u["id"] != "patrol-9"), "{units}");
}

both!(incidents_come_from_calls_citizens_warnings_and_several_alarms);
async fn incidents_come_from_calls_citizens_warnings_and_several_alarms(t: TestApp) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let open = |body: Value| t.call(t.req_as(&op, Method::POST, "/api/v1/incidents").json(&body));
    // An emergency-call system: its case number is kept; a retry with the same number is the
    // same incident (200, nothing new), another number a new one.
    let call = json!({"type": "fire", "lat": SPOT.0, "lon": SPOT.1, "source": "external",
                      "external_ref": "112-2026-000900", "description": "smoke from a roof"});
    let (s, first) = open(call.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!((first["source"].as_str(), first["external_ref"].as_str()), (Some("external"), Some("112-2026-000900")));
    let (s, again) = open(call.clone()).await;
    assert_eq!(s, StatusCode::OK, "a retry answers the incident it opened: {again}");
    assert_eq!(again["id"], first["id"]);
    let (s, other) = open(json!({"type": "fire", "lat": SPOT.0, "lon": SPOT.1, "source": "external",
                                 "external_ref": "112-2026-000901"}))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{other}");
    assert_ne!(other["id"], first["id"]);
    // Once the first is closed (here: cancelled), the same number opens a new incident.
    let id = first["id"].as_str().unwrap();
    assert_eq!(transition(&t, &op, id, "cancelled", Some("duplicate call")).await.0, StatusCode::OK);
    let (s, reopened) = open(call).await;
    assert_eq!(s, StatusCode::CREATED, "{reopened}");
    assert_ne!(reopened["id"], first["id"]);
    let (s, b) = open(json!({"type": "fire", "lat": SPOT.0, "lon": SPOT.1, "source": "external",
                             "external_ref": "x".repeat(201)}))
    .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "external_ref", None);

    // A citizen's report and a public warning keep their source; SOS only from the devices.
    for source in ["citizen", "warning"] {
        let (s, b) = open(json!({"type": "infrastructure", "lat": SPOT.0, "lon": SPOT.1, "source": source})).await;
        assert_eq!((s, b["source"].as_str()), (StatusCode::CREATED, Some(source)), "{b}");
    }
    let (s, b) = open(json!({"type": "medical", "lat": SPOT.0, "lon": SPOT.1, "source": "sos"})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "source", None);
    let (s, b) = open(json!({"type": "medical", "lat": SPOT.0, "lon": SPOT.1, "source": "rumour"})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "source", None);

    // From two alarms: both linked and journaled, type and place from the first.
    let first_alarm = an_alarm(&t).await;
    let (s, b) = t
        .post(
            "/api/v1/sensors",
            json!({"id": "gauge-b", "municipality": "kazanlak", "name": "Gauge B", "kind": "water_level",
                   "unit": "cm", "lat": SPOT.0 + 0.0004, "lon": SPOT.1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = t
        .post(
            "/api/v1/rules",
            json!({"name": "Gauge B high", "sensor": "gauge-b", "severity": "major",
                   "condition": {"type": "threshold", "above": 250, "hysteresis": 10}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    t.post("/api/v1/observations", json!([{"sensor": "gauge-b", "time": now, "value": 300}])).await;
    let (_, alarms) = t.get("/api/v1/alarms?state=active").await;
    let second_alarm = alarms
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["source"] == "gauge-b")
        .and_then(|a| a["id"].as_str())
        .unwrap_or_else(|| panic!("no alarm of gauge-b: {alarms}"))
        .to_string();
    let (s, inc) = open(json!({"alarms": [first_alarm, second_alarm]})).await;
    assert_eq!(s, StatusCode::CREATED, "{inc}");
    assert_eq!((inc["type"].as_str(), inc["source"].as_str()), (Some("flood"), Some("alarm")));
    assert_eq!(inc["alarms"], json!([first_alarm, second_alarm]));
    assert!((inc["lon"].as_f64().unwrap() - (SPOT.1 + 0.0002)).abs() < 1e-9, "at the first alarm: {inc}");
    let (_, journal) = t.get(&format!("/api/v1/incidents/{}/journal", inc["id"].as_str().unwrap())).await;
    let linked = journal.as_array().unwrap().iter().filter(|j| j["kind"] == "alarm").count();
    assert_eq!(linked, 2, "{journal}");
    let (s, b) = open(json!({"alarms": [first_alarm, "alarm-nope"]})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "alarms[1]", None);
}

both_clocked!(statistics_group_by_type_municipality_and_period_within_from_and_to);
async fn statistics_group_by_type_municipality_and_period_within_from_and_to(mut t: TestApp, clock: Arc<SimClock>) {
    use polis_base::Clock as _;
    city(&t).await;
    t.user("op", "operator", "kazanlak").await;
    let mut op = String::new();
    let iso = |at: time::OffsetDateTime| at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let c0 = clock.now();
    // Three traffic accidents in Kazanlak verified after 60, 180 and 300 s, on day 0, 1 and 40;
    // a fire in Stara Zagora on day 40.
    let mut created = Vec::new();
    for (day, verify_s) in [(0, 60), (1, 180), (40, 300)] {
        clock.advance(c0 + time::Duration::days(day) - clock.now());
        // Sessions end; sign in again on each day.
        op = t.login("op", "password-123").await;
        t.token = t.login("admin", crate::harness::ADMIN_PASSWORD).await;
        created.push(clock.now());
        let (s, inc) = t
            .call(t.req_as(&op, Method::POST, "/api/v1/incidents").json(&json!({
                "type": "traffic_accident", "lat": SPOT.0, "lon": SPOT.1, "source": "external",
                "external_ref": format!("112-day-{day}"),
            })))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{inc}");
        let id = inc["id"].as_str().unwrap().to_string();
        clock.advance(time::Duration::seconds(verify_s));
        assert_eq!(transition(&t, &op, &id, "verified", None).await.0, StatusCode::OK);
    }
    let (s, fire) = t
        .post("/api/v1/incidents", json!({"type": "fire", "municipality": "stara-zagora", "lat": 42.42, "lon": 25.63}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{fire}");
    let window =
        format!("from={}&to={}", iso(c0 - time::Duration::hours(1)), iso(clock.now() + time::Duration::hours(1)))
            .replace('+', "%2B");
    let t = &t;
    let stats = |q: String| async move { t.get(&format!("/api/v1/stats/incidents?{q}")).await };

    let (s, st) = stats(format!("{window}&group=type")).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    let rows = st["rows"].as_array().unwrap();
    let traffic = rows.iter().find(|r| r["group"] == "traffic_accident").unwrap();
    assert_eq!(traffic["incidents"], 3);
    let v = &traffic["to_verify"];
    assert_eq!((v["count"].as_u64(), v["mean_s"].as_f64()), (Some(3), Some(180.0)), "{traffic}");
    assert_eq!((v["median_s"].as_f64(), v["p90_s"].as_f64()), (Some(180.0), Some(300.0)), "{traffic}");
    assert!(traffic["period"].is_null());

    // By municipality; one municipality asked for; a Kazanlak user never sees Stara Zagora.
    let (_, st) = stats(format!("{window}&group=municipality")).await;
    let groups: Vec<(&str, u64)> = st["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["group"].as_str().unwrap(), r["incidents"].as_u64().unwrap()))
        .collect();
    assert_eq!(groups, [("kazanlak", 3), ("stara-zagora", 1)]);
    let (_, st) = stats(format!("{window}&group=type&municipality=stara-zagora")).await;
    let groups: Vec<&str> = st["rows"].as_array().unwrap().iter().map(|r| r["group"].as_str().unwrap()).collect();
    assert_eq!(groups, ["fire"]);
    let (_, st) =
        t.call(t.req_as(&op, Method::GET, &format!("/api/v1/stats/incidents?{window}&group=municipality"))).await;
    assert_eq!(st["rows"].as_array().unwrap().len(), 1, "{st}");
    assert_eq!(st["rows"][0]["group"], "kazanlak");
    let (s, st) = t
        .call(t.req_as(
            &op,
            Method::GET,
            &format!("/api/v1/stats/incidents?{window}&group=type&municipality=stara-zagora"),
        ))
        .await;
    assert_eq!((s, st["rows"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{st}");

    // From and to: from 12 hours in, the first accident is left out.
    let later =
        format!("from={}&to={}", iso(c0 + time::Duration::hours(12)), iso(clock.now() + time::Duration::hours(1)))
            .replace('+', "%2B");
    let (_, st) = stats(format!("{later}&group=type")).await;
    let traffic = st["rows"].as_array().unwrap().iter().find(|r| r["group"] == "traffic_accident").unwrap().clone();
    let v = &traffic["to_verify"];
    assert_eq!(
        (traffic["incidents"].as_u64(), v["median_s"].as_f64(), v["p90_s"].as_f64()),
        (Some(2), Some(240.0), Some(300.0)),
        "the median of two is their mean: {traffic}"
    );
    let (s, b) = stats(format!("from={}&to={}", iso(clock.now()), iso(c0)).replace('+', "%2B")).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "from", None);

    // By period: each row names the first day of its period (UTC, weeks from Monday).
    type PeriodOf = fn(time::OffsetDateTime) -> time::Date;
    let periods: [(&str, PeriodOf); 3] = [
        ("day", |at| at.to_offset(time::UtcOffset::UTC).date()),
        ("week", |at| {
            let d = at.to_offset(time::UtcOffset::UTC).date();
            d - time::Duration::days(i64::from(d.weekday().number_days_from_monday()))
        }),
        ("month", |at| at.to_offset(time::UtcOffset::UTC).date().replace_day(1).unwrap()),
    ];
    for (name, of) in periods {
        let (s, st) = stats(format!("{window}&group=type&municipality=kazanlak&period={name}")).await;
        assert_eq!(s, StatusCode::OK, "{st}");
        assert_eq!(st["period"], name);
        let mut want: Vec<(String, u64)> = Vec::new();
        for at in &created {
            let p = of(*at).to_string();
            match want.iter_mut().find(|(q, _)| *q == p) {
                Some((_, n)) => *n += 1,
                None => want.push((p, 1)),
            }
        }
        let got: Vec<(String, u64)> = st["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["period"].as_str().unwrap().to_string(), r["incidents"].as_u64().unwrap()))
            .collect();
        assert_eq!(got, want, "by {name}: {st}");
        assert!(st["rows"].as_array().unwrap().iter().all(|r| r["group"] == "traffic_accident"));
    }
    let (s, b) = stats(format!("{window}&period=year")).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "period", None);
}

both_clocked!(shares_end_with_their_incident_and_every_refused_use_is_logged);
async fn shares_end_with_their_incident_and_every_refused_use_is_logged(t: TestApp, clock: Arc<SimClock>) {
    city(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let share = |id: String, life: u64| {
        let op = op.clone();
        let t = &t;
        async move {
            let (s, b) = t
                .call(t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/shares")).json(&json!({
                    "agency": "kz-police", "cameras": ["cam-near"], "expires_in_s": life,
                })))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            (b["id"].as_str().unwrap().to_string(), b["token"].as_str().unwrap().to_string())
        }
    };
    let reason = |b: &Value| b["error"]["details"][0].clone();
    let id = accident(&t, &op).await["id"].as_str().unwrap().to_string();
    let (expiring, expiring_token) = share(id.clone(), 600).await;
    let (revoked, revoked_token) = share(id.clone(), 3600).await;
    let (kept, kept_token) = share(id.clone(), 3600).await;

    // Each refusal says why, in a detail on the field "share".
    let (s, b) = open_share(&t, &kept_token, Some("cam-far")).await;
    assert_eq!((s, reason(&b)), (StatusCode::FORBIDDEN, json!({"field": "share", "message": "camera", "row": null})));
    t.call(t.req_as(&op, Method::POST, &format!("/api/v1/shares/{revoked}/revoke"))).await;
    let (s, b) = open_share(&t, &revoked_token, None).await;
    assert_eq!((s, reason(&b)["message"].as_str()), (StatusCode::FORBIDDEN, Some("revoked")), "{b}");
    clock.advance(time::Duration::seconds(601));
    let (s, b) = open_share(&t, &expiring_token, Some("cam-near")).await;
    assert_eq!((s, reason(&b)["message"].as_str()), (StatusCode::FORBIDDEN, Some("expired")), "{b}");
    let (s, b) = open_share(&t, "pshr_no-such-share", None).await;
    assert_eq!((s, reason(&b)["message"].as_str()), (StatusCode::FORBIDDEN, Some("unknown")), "{b}");
    // The shared camera's snapshot is refused the same way (a camera outside the share).
    let r = t.client.get(t.url("/api/v1/share/cameras/cam-far/snapshot")).header("x-polis-share", &kept_token);
    let (s, b) = t.call(r).await;
    assert_eq!((s, reason(&b)["message"].as_str()), (StatusCode::FORBIDDEN, Some("camera")), "{b}");

    // The share still valid works until its incident ends; then it stops, saying why. (A second
    // between uses keeps the use log's order certain.)
    clock.advance(time::Duration::seconds(1));
    assert_eq!(open_share(&t, &kept_token, None).await.0, StatusCode::OK);
    clock.advance(time::Duration::seconds(1));
    assert_eq!(transition(&t, &op, &id, "cancelled", Some("false alarm")).await.0, StatusCode::OK);
    let (s, b) = open_share(&t, &kept_token, None).await;
    assert_eq!((s, reason(&b)["message"].as_str()), (StatusCode::FORBIDDEN, Some("closed")), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("cancelled"), "{b}");

    // Every refused use of a known share is in its use log, with the reason.
    let uses = |share: String| {
        let op = op.clone();
        let t = &t;
        async move {
            let (s, u) = t.call(t.req_as(&op, Method::GET, &format!("/api/v1/shares/{share}/uses"))).await;
            assert_eq!(s, StatusCode::OK, "{u}");
            u.as_array()
                .unwrap()
                .iter()
                .map(|u| (u["what"].as_str().unwrap().to_string(), u["refused"].as_str().map(String::from)))
                .collect::<Vec<_>>()
        }
    };
    let s = |a: &str| a.to_string();
    assert_eq!(uses(expiring).await, [(s("camera"), Some(s("expired")))]);
    assert_eq!(uses(revoked).await, [(s("open"), Some(s("revoked")))]);
    assert_eq!(
        uses(kept).await,
        [
            (s("camera"), Some(s("camera"))),
            (s("snapshot"), Some(s("camera"))),
            (s("open"), None),
            (s("open"), Some(s("closed")))
        ]
    );
}

both!(live_video_opened_with_a_share_ends_when_the_share_is_revoked);
async fn live_video_opened_with_a_share_ends_when_the_share_is_revoked(t: TestApp) {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    city(&t).await;
    let mut cam = camera("cam-live", SPOT.0, SPOT.1 - 0.0004, 90.0);
    cam["stream_url"] = "demo://test/Crossroads".into();
    let (s, b) = t.post("/api/v1/cameras", cam).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let op = t.user("op", "operator", "kazanlak").await;
    let id = accident(&t, &op).await["id"].as_str().unwrap().to_string();
    let (s, share) = t
        .call(
            t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/shares"))
                .json(&json!({"agency": "kz-police", "cameras": ["cam-live"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{share}");
    let token = share["token"].as_str().unwrap().to_string();
    let ws_url = |cam: &str| format!("{}/api/v1/cameras/{cam}/live", t.base.replace("http", "ws"));
    async fn next<S>(ws: &mut S) -> Option<Message>
    where
        S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    {
        tokio::time::timeout(std::time::Duration::from_secs(15), ws.next()).await.expect("a message within 15 s")?.ok()
    }

    // A camera outside the share: refused at once (the upgrade answers 403).
    match crate::harness::ws_live(&ws_url("cam-near"), &format!("polis.share.{token}")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 403),
        other => panic!("expected a refused upgrade, got {:?}", other.map(|_| ())),
    }

    // The shared camera plays: the init message, the init segment, fragments.
    let mut ws = crate::harness::ws_live(&ws_url("cam-live"), &format!("polis.share.{token}")).await.expect("upgrade");
    let Some(Message::Text(text)) = next(&mut ws).await else { panic!("expected the init message") };
    let v: Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(v["type"], "init", "{v}");
    for _ in 0..5 {
        assert!(matches!(next(&mut ws).await, Some(Message::Binary(_))), "video follows the init message");
    }
    // Revoked while it plays: within seconds an error message says so, and the video ends.
    let (s, _) =
        t.call(t.req_as(&op, Method::POST, &format!("/api/v1/shares/{}/revoke", share["id"].as_str().unwrap()))).await;
    assert_eq!(s, StatusCode::OK);
    let started = std::time::Instant::now();
    let error = loop {
        match next(&mut ws).await {
            Some(Message::Binary(_)) => {
                assert!(started.elapsed() < std::time::Duration::from_secs(12), "video goes on after the revocation");
            }
            Some(Message::Text(text)) => break serde_json::from_str::<Value>(text.as_str()).unwrap(),
            other => panic!("the socket ended without saying why: {other:?}"),
        }
    };
    assert_eq!((error["type"].as_str(), error["code"].as_str()), (Some("error"), Some("permission_denied")), "{error}");
    assert!(error["message"].as_str().unwrap().contains("revoked"), "{error}");
    assert!(!matches!(next(&mut ws).await, Some(Message::Binary(_))), "no video after the error");
    let (_, uses) =
        t.call(t.req_as(&op, Method::GET, &format!("/api/v1/shares/{}/uses", share["id"].as_str().unwrap()))).await;
    let uses = uses.to_string();
    assert!(uses.contains("\"what\":\"live\""), "{uses}");
}
