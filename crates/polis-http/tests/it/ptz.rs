//! PTZ cameras over ONVIF against a real ONVIF device implementation: ipycam (PyPI, pinned;
//! `scripts/lib/ipycam.sh`), a virtual IP camera with device, media and PTZ services behind a
//! WS-Security UsernameToken, and WS-Discovery on UDP 3702. Discovery finds it, a probe fills a
//! camera's stream addresses, "look here" turns it where the geometry says (its reported position
//! changes as computed), moves and presets reach it, one operator controls it at a time (an
//! incident takes priority), and its password never leaves the server.
//!
//! One test (ipycam listens on the fixed WS-Discovery port), on SQLite; the links' storage is
//! in the shared store suite on both engines.

use crate::harness::{spawn, Backend, TestApp};
use crate::ipycam::Ipycam;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CAMERA_PASSWORD: &str = "Cam-S3cret-99";

async fn call(t: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut rb = t.req_as(token, method, path);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    t.call(rb).await
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 0.01, "{what}: {a} is not {b}");
}

/// A point `m` metres east of `(lat, lon)`.
fn east(lat: f64, lon: f64, m: f64) -> (f64, f64) {
    (lat, lon + m / (111_320.0 * lat.to_radians().cos()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ptz_camera_is_discovered_probed_and_turned_to_an_incident_over_onvif() {
    let cam = Ipycam::start("Gate North", "onvif", CAMERA_PASSWORD).await;
    let t = spawn(Backend::Sqlite).await;
    let device_url = cam.device_url.clone();
    let admin = t.token.clone();

    // Discovery: a directed WS-Discovery probe finds the camera, by name and address.
    let (s, found) = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/onvif/discover",
        Some(json!({"addresses": ["127.0.0.1"], "seconds": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{found}");
    let hit = found.as_array().expect("a list").iter().find(|f| f["device_url"] == device_url.as_str());
    let hit = hit.unwrap_or_else(|| panic!("discovery did not find {device_url}: {found}"));
    assert_eq!(hit["name"], "Gate North", "{hit}");
    assert!(hit["endpoint"].as_str().is_some_and(|e| e.starts_with("urn:uuid:")), "{hit}");
    assert_eq!(hit["camera"], Value::Null);
    let (s, b) =
        call(&t, &admin, Method::POST, "/api/v1/onvif/discover", Some(json!({"addresses": ["no such host!"]}))).await;
    crate::harness::assert_error(s, &b, StatusCode::BAD_REQUEST, "addresses", Some(0));

    // Probe: its information and profiles with their stream addresses; a wrong password is named.
    let (s, dev) = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/onvif/probe",
        Some(json!({"url": device_url, "username": "onvif", "password": CAMERA_PASSWORD})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{dev}");
    assert_eq!((dev["manufacturer"].as_str(), dev["ptz"].as_bool()), (Some("PythonCam"), Some(true)), "{dev}");
    let main = &dev["profiles"][0];
    assert_eq!(main["token"], "Profile_Main", "{dev}");
    assert_eq!((main["width"].as_u64(), main["ptz"].as_bool()), (Some(1920), Some(true)), "{dev}");
    assert!(
        main["stream_url"].as_str().is_some_and(|u| u.starts_with("rtsp://127.0.0.1:") && u.ends_with("/video_main")),
        "{dev}"
    );
    let (s, b) = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/onvif/probe",
        Some(json!({"url": device_url, "username": "onvif", "password": "wrong-password"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(b["error"]["message"].as_str().is_some_and(|m| m.contains("user name or password")), "{b}");
    let (s, b) = call(&t, &admin, Method::POST, "/api/v1/onvif/probe", Some(json!({"url": "ftp://x"}))).await;
    crate::harness::assert_error(s, &b, StatusCode::BAD_REQUEST, "onvif_url", None);

    // A PTZ camera at the gate, 10 m up, linked to the device; pan 0.25 faces north.
    let (lat, lon) = (42.6191, 25.3936);
    let mut body = crate::harness::camera("gate-ptz", lat, lon, 0.0);
    body["kind"] = "ptz".into();
    body["mount_height_m"] = 10.0.into();
    body["stream_url"] = main["stream_url"].clone();
    let (s, b) = t.post("/api/v1/cameras", body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let link = json!({"url": device_url, "username": "onvif", "password": CAMERA_PASSWORD, "pan_north": 0.25});
    let (s, b) = call(&t, &admin, Method::PUT, "/api/v1/cameras/gate-ptz/onvif", Some(link)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["has_password"].as_bool(), b["pan_north"].as_f64()), (Some(true), Some(0.25)), "{b}");
    let (s, b) = call(
        &t,
        &admin,
        Method::PUT,
        "/api/v1/cameras/gate-ptz/onvif",
        Some(json!({"url": device_url, "username": "onvif", "pan_north": 3})),
    )
    .await;
    crate::harness::assert_error(s, &b, StatusCode::BAD_REQUEST, "pan_north", None);
    let (s, b) = t.get("/api/v1/cameras/gate-ptz/onvif").await;
    assert_eq!(
        (s, b["has_password"].as_bool(), b["pan_north"].as_f64()),
        (StatusCode::OK, Some(true), Some(0.25)),
        "{b}"
    );

    // Discovery now names the linked camera.
    let (_, found) = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/onvif/discover",
        Some(json!({"addresses": ["127.0.0.1"], "seconds": 1})),
    )
    .await;
    assert!(found.as_array().expect("list").iter().any(|f| f["camera"] == "gate-ptz"), "{found}");

    let op1 = t.user("ptz-op1", "operator", "kazanlak").await;
    let op2 = t.user("ptz-op2", "operator", "kazanlak").await;
    let viewer = t.user("ptz-viewer", "viewer", "kazanlak").await;
    let ptz = "/api/v1/cameras/gate-ptz/ptz";

    // Look here: a point 100 m east. Bearing 90 is half a unit of pan from north's 0.25; 10 m up
    // at 100 m is 5.71 degrees down, -0.0634 of the 90 degrees of a tilt unit.
    let (plat, plon) = east(lat, lon, 100.0);
    let (s, st) = call(&t, &op1, Method::POST, ptz, Some(json!({"command": "look", "lat": plat, "lon": plon}))).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    close(st["aim"]["pan"].as_f64().expect("pan"), 0.75, "aimed pan");
    close(st["aim"]["tilt"].as_f64().expect("tilt"), -(10f64.atan2(100.0).to_degrees()) / 90.0, "aimed tilt");
    close(st["aim"]["distance_m"].as_f64().expect("distance") / 100.0, 1.0, "distance (hundreds of metres)");
    assert_eq!(st["holder"]["username"], "ptz-op1", "{st}");
    // The camera itself reports the new position.
    let (s, now) = call(&t, &op1, Method::GET, ptz, None).await;
    assert_eq!(s, StatusCode::OK, "{now}");
    close(now["pan"].as_f64().expect("pan"), 0.75, "reported pan");
    close(now["tilt"].as_f64().expect("tilt"), -0.0634, "reported tilt");
    close(now["bearing_deg"].as_f64().expect("bearing") / 90.0, 1.0, "reported bearing (quarter turns)");

    // A second operator is refused while the first holds the camera, and told who holds it.
    let (s, b) = call(&t, &op2, Method::POST, ptz, Some(json!({"command": "goto", "pan": 0, "tilt": 0}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(b["error"]["message"].as_str().is_some_and(|m| m.contains("ptz-op1")), "{b}");
    // A viewer may not turn cameras at all.
    let (s, b) = call(&t, &viewer, Method::POST, ptz, Some(json!({"command": "stop"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");

    // An incident takes priority: the second operator, acting for an incident west of the
    // camera, takes control and the camera turns to the incident.
    let (wlat, wlon) = east(lat, lon, -80.0);
    let (s, inc) = call(
        &t,
        &op2,
        Method::POST,
        "/api/v1/incidents",
        Some(json!({"type": "fire", "priority": 1, "lat": wlat, "lon": wlon, "description": "smoke at the west gate"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{inc}");
    let incident = inc["id"].as_str().expect("incident id").to_string();
    let (s, st) = call(&t, &op2, Method::POST, ptz, Some(json!({"command": "look", "incident": incident}))).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(
        (st["holder"]["username"].as_str(), st["holder"]["incident"].as_str()),
        (Some("ptz-op2"), Some(incident.as_str())),
        "{st}"
    );
    // West is 270 degrees: 0.25 + 1.5 = 1.75, wrapped to -0.25.
    close(st["pan"].as_f64().expect("pan"), -0.25, "pan towards the incident");
    let (s, b) = call(&t, &op1, Method::POST, ptz, Some(json!({"command": "stop"}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(b["error"]["message"].as_str().is_some_and(|m| m.contains("ptz-op2") && m.contains(&incident)), "{b}");

    // Presets: save here, go elsewhere, come back.
    let (s, st) = call(&t, &op2, Method::POST, ptz, Some(json!({"command": "set_preset", "name": "west gate"}))).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    let token = st["preset"].as_str().expect("a preset token").to_string();
    let (s, _) =
        call(&t, &op2, Method::POST, ptz, Some(json!({"command": "goto", "pan": 0.5, "tilt": 0.0, "zoom": 0.5}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, now) = call(&t, &op2, Method::GET, ptz, None).await;
    close(now["pan"].as_f64().expect("pan"), 0.5, "pan after goto");
    close(now["zoom"].as_f64().expect("zoom"), 0.5, "zoom after goto");
    let (s, presets) = call(&t, &op2, Method::GET, &format!("{ptz}/presets"), None).await;
    assert_eq!(s, StatusCode::OK, "{presets}");
    assert!(
        presets.as_array().expect("list").iter().any(|p| p["token"] == token.as_str() && p["name"] == "west gate"),
        "{presets}"
    );
    let (s, _) = call(&t, &op2, Method::POST, ptz, Some(json!({"command": "goto_preset", "token": token}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, now) = call(&t, &op2, Method::GET, ptz, None).await;
    close(now["pan"].as_f64().expect("pan"), -0.25, "pan back at the preset");

    // A continuous move turns the camera until stopped.
    let before = now["pan"].as_f64().expect("pan");
    let (s, b) = call(&t, &op2, Method::POST, ptz, Some(json!({"command": "move", "pan": 0.5, "seconds": 5}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, now) = call(&t, &op2, Method::GET, ptz, None).await;
        if now["pan"].as_f64().is_some_and(|p| p > before + 0.05) {
            break;
        }
        assert!(Instant::now() < deadline, "the camera did not turn during a continuous move: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, _) = call(&t, &op2, Method::POST, ptz, Some(json!({"command": "stop"}))).await;
    assert_eq!(s, StatusCode::OK);
    // Bad commands name their field.
    let (s, b) = call(&t, &op2, Method::POST, ptz, Some(json!({"command": "goto", "pan": 2, "tilt": 0}))).await;
    crate::harness::assert_error(s, &b, StatusCode::BAD_REQUEST, "pan", None);
    let (s, b) = call(&t, &op2, Method::POST, ptz, Some(json!({"command": "spin"}))).await;
    crate::harness::assert_error(s, &b, StatusCode::BAD_REQUEST, "command", None);
    let (s, b) = call(&t, &op2, Method::POST, ptz, Some(json!({"pan": 0.5}))).await;
    crate::harness::assert_error(s, &b, StatusCode::BAD_REQUEST, "command", None);
    let (s, b) = call(&t, &op2, Method::POST, ptz, Some(json!({"command": "move", "pan": "fast"}))).await;
    crate::harness::assert_error(s, &b, StatusCode::BAD_REQUEST, "pan", None);

    // Released, the first operator may take it again.
    let (s, _) = call(&t, &op2, Method::DELETE, &format!("{ptz}/control"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, st) = call(&t, &op1, Method::POST, ptz, Some(json!({"command": "take"}))).await;
    assert_eq!((s, st["holder"]["username"].as_str()), (StatusCode::OK, Some("ptz-op1")), "{st}");

    // Every command is in the audit log, and the camera's password is nowhere.
    let (s, audit) = t.get("/api/v1/audit?object=gate-ptz&limit=100").await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let actions: Vec<&str> = audit.as_array().expect("list").iter().filter_map(|a| a["action"].as_str()).collect();
    for want in [
        "camera.onvif_link",
        "camera.ptz_look",
        "camera.ptz_goto",
        "camera.ptz_set_preset",
        "camera.ptz_goto_preset",
        "camera.ptz_move",
        "camera.ptz_stop",
        "camera.ptz_take",
    ] {
        assert!(actions.contains(&want), "no {want} in the audit: {actions:?}");
    }
    assert!(!audit.to_string().contains(CAMERA_PASSWORD), "the camera's password is in the audit log");
    let (_, link) = t.get("/api/v1/cameras/gate-ptz/onvif").await;
    assert!(!link.to_string().contains(CAMERA_PASSWORD));

    // Unlinked (and a deleted camera takes its link along): PTZ says why it cannot.
    let (s, _) = call(&t, &admin, Method::DELETE, "/api/v1/cameras/gate-ptz/onvif", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = call(&t, &op1, Method::POST, ptz, Some(json!({"command": "stop"}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(b["error"]["message"].as_str().is_some_and(|m| m.contains("no ONVIF link")), "{b}");
    drop(cam);
}
