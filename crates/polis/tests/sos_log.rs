//! The profile of an SOS device's wearer never reaches the server's log, the live event stream or
//! the audit log: the real binary (`polis serve`) logging everything (`RUST_LOG=trace`) while a
//! device is registered, edited, sends two SOS messages and its incident is handled; then its log
//! output, the events a subscriber received and the audit log are searched for the profile.

mod common;

use common::{free_port, Api, Serve};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const PASSWORD: &str = "sos-log-test-Pa55word";
const NAME: &str = "Мария Петкова Иванова";
const DETAILS: &str = "деменция, 81 години, диабет";
const CONTACT: &str = "+359 888 123 456";
const EDITED_DETAILS: &str = "dementia, 81, diabetes, walks with a stick";

/// The events of an SSE stream that arrived within `wait`.
async fn drain(resp: &mut reqwest::Response, wait: Duration) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, resp.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sos_wearers_profile_never_reaches_the_log_the_events_or_the_audit() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let log = tmp.path().join("polis.log");
    let port = free_port();
    let data = tmp.path().join("data");
    let server =
        Serve { data: &data, port, admin_password: PASSWORD, log_level: "trace", log_file: Some(&log) }.start().await;
    let base = format!("http://127.0.0.1:{port}");
    let api = Api::login(&base, "admin", PASSWORD).await;

    api.post("/api/v1/organisations", json!({"id": "soston", "kind": "municipality", "name_en": "Soston"})).await;
    api.post(
        "/api/v1/cameras",
        json!({"id": "cam-1", "municipality": "soston", "name": "Square", "kind": "fixed", "lat": 42.6, "lon": 25.3994,
               "heading_deg": 90.0, "fov_deg": 60.0, "range_m": 150.0}),
    )
    .await;
    let mut events = api
        .http
        .get(format!("{base}/api/v1/events"))
        .bearer_auth(&api.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);

    // Registered, edited, two SOS messages, the incident handled and read.
    let device = json!({"id": "tracker-1", "label": "tracker 1", "municipality": "soston",
                        "profile": {"name": NAME, "details": DETAILS, "contact": CONTACT}});
    api.post("/api/v1/sos/devices", device).await;
    let edited = json!({"id": "tracker-1", "label": "tracker 1", "municipality": "soston",
                        "profile": {"name": NAME, "details": EDITED_DETAILS, "contact": CONTACT}});
    api.post("/api/v1/sos/devices", edited).await;
    let inc = api.post("/api/v1/sos/alerts", json!({"device": "tracker-1", "lat": 42.6, "lon": 25.4})).await;
    assert_eq!(inc["sos_profile"]["name"], NAME, "the administrator sees the profile: {inc}");
    let id = inc["id"].as_str().expect("an incident").to_string();
    api.post("/api/v1/sos/alerts", json!({"device": "tracker-1", "lat": 42.6001, "lon": 25.4})).await;
    api.post(&format!("/api/v1/incidents/{id}/transitions"), json!({"to": "verified"})).await;
    api.post(&format!("/api/v1/incidents/{id}/notes"), json!({"text": "family called"})).await;
    let (s, _) = api.call(reqwest::Method::GET, &format!("/api/v1/incidents/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, devices) = api.call(reqwest::Method::GET, "/api/v1/sos/devices", None).await;
    assert_eq!(s, StatusCode::OK, "{devices}");
    // A refused edit (a name too long) carries the profile in its body too.
    let (s, _) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/sos/devices",
            Some(json!({"id": "tracker-1", "label": "tracker 1", "municipality": "soston",
                        "profile": {"name": "x".repeat(300), "details": DETAILS, "contact": CONTACT}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let secrets = [NAME, DETAILS, CONTACT, EDITED_DETAILS];
    // The live events: the incident's, without the profile.
    let stream = drain(&mut events, Duration::from_secs(2)).await;
    assert!(stream.contains(&id), "the subscriber received the incident's events: {stream}");
    for s in secrets {
        assert!(!stream.contains(s), "{s:?} is in the live events: {stream}");
    }
    // The audit log: the device's and the incident's changes, without the profile.
    let (_, audit) = api.call(reqwest::Method::GET, "/api/v1/audit?limit=1000", None).await;
    let audit = audit.to_string();
    assert!(audit.contains("sos_device.create") && audit.contains("incident.sos"), "{audit}");
    for s in secrets {
        assert!(!audit.contains(s), "{s:?} is in the audit log");
    }

    // The server's log output, everything it wrote at the trace level.
    drop(events);
    drop(server);
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(text.contains("/api/v1/sos/alerts") && text.contains("/api/v1/sos/devices"), "the log has the requests");
    assert!(text.lines().count() > 50, "the log is too short to tell: {text}");
    for s in secrets {
        assert!(!text.contains(s), "{s:?} is in the server's log");
    }
}
