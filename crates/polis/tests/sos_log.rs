//! The profile of an SOS device's wearer never reaches the server's log, the live event stream or
//! the audit log: the real binary (`polis serve`) logging everything (`RUST_LOG=trace`) while a
//! device is registered, edited, sends two SOS messages and its incident is handled; then its log
//! output, the events a subscriber received and the audit log are searched for the profile.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "sos-log-test-Pa55word";
const NAME: &str = "Мария Петкова Иванова";
const DETAILS: &str = "деменция, 81 години, диабет";
const CONTACT: &str = "+359 888 123 456";
const EDITED_DETAILS: &str = "dementia, 81, diabetes, walks with a stick";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

async fn start(data: &Path, log: &Path, port: u16) -> Server {
    let out = std::fs::File::create(log).expect("the log file");
    let err = out.try_clone().expect("the log file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("POLIS_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("POLIS_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("starting polis serve");
    let server = Server(child);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/healthz")).send().await {
            if r.status().is_success() {
                return server;
            }
        }
        assert!(Instant::now() < deadline, "polis did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("a request");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (s, b) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(s.is_success(), "POST {path}: {s} {b}");
        b
    }
}

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
    let server = start(&tmp.path().join("data"), &log, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("a token").to_string();
    let api = Api { http: reqwest::Client::new(), base: base.clone(), token };

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
