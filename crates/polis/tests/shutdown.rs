//! Issue 14, as the real binary: `polis serve` exits within 10 s of SIGTERM with an event-stream
//! client and a live-video client connected, and closes its recording files so that the last
//! one plays; and a camera's stream credentials given as query parameters never show in any
//! answer, export, audit record or log line (the server logs at `debug` while a recorder keeps
//! failing to reach that camera).

mod common;

use common::{free_port, Api, Serve};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PASSWORD: &str = "shutdown-test-Pa55word";
const SECRET: &str = "S3cret";

/// The newest `.mp4` under `dir` (recursively).
fn newest_mp4(dir: &Path) -> Option<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "mp4") {
                let t = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
                if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
                    best = Some((t, p));
                }
            }
        }
    }
    best.map(|(_, p)| p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_polis_serve_within_10_s_with_streams_open_and_the_last_recording_plays() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let log = tmp.path().join("polis.log");
    let data = tmp.path().join("data");
    let port = free_port();
    let mut server =
        Serve { data: &data, port, admin_password: PASSWORD, log_level: "debug", log_file: Some(&log) }.start().await;
    let base = format!("http://127.0.0.1:{port}");
    let api = Api::login(&base, "admin", PASSWORD).await;
    api.post("/api/v1/organisations", json!({"id": "soston", "kind": "municipality", "name_en": "Soston"})).await;
    let camera = |id: &str, url: &str| {
        json!({"id": id, "municipality": "soston", "name": id, "kind": "fixed", "lat": 42.6, "lon": 25.3994,
               "heading_deg": 90.0, "fov_deg": 60.0, "range_m": 150.0, "stream_url": url, "recording": "continuous"})
    };
    // A camera that records (a synthetic picture), and one nobody can reach whose credentials are
    // query parameters: its recorder keeps trying, and failing, at debug level.
    api.post("/api/v1/cameras", camera("gate", "demo://soston/Gate")).await;
    api.post("/api/v1/cameras", camera("vendor", &format!("rtsp://127.0.0.1:9/live?user=admin&password={SECRET}")))
        .await;

    // An event-stream client and a live-video client, connected.
    let mut events = api
        .http
        .get(format!("{base}/api/v1/events"))
        .bearer_auth(&api.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("the event stream");
    assert_eq!(events.status(), StatusCode::OK);
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://127.0.0.1:{port}/api/v1/cameras/gate/live?stream=main"
    ))
    .expect("a request");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("polis.live, polis.token.{}", api.token).parse().expect("a header value"),
    );
    let (mut live, _) = tokio_tungstenite::connect_async(req).await.expect("the live video upgrade");
    let first = tokio::time::timeout(Duration::from_secs(20), live.next()).await.expect("live video starts");
    assert!(matches!(first, Some(Ok(_))), "{first:?}");

    // A few seconds of recording.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let from = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
        let to = time::OffsetDateTime::now_utc();
        let fmt = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339).expect("a time").replace('+', "%2B")
        };
        let (s, spans) = api
            .call(Method::GET, &format!("/api/v1/cameras/gate/recordings?from={}&to={}", fmt(from), fmt(to)), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{spans}");
        let long = spans.as_array().and_then(|a| a.first()).is_some_and(|sp| {
            let p = |k: &str| {
                time::OffsetDateTime::parse(
                    sp[k].as_str().unwrap_or(""),
                    &time::format_description::well_known::Rfc3339,
                )
                .ok()
            };
            matches!((p("from"), p("to")), (Some(a), Some(b)) if b - a >= time::Duration::seconds(3))
        });
        if long {
            break;
        }
        assert!(Instant::now() < deadline, "no recording: {spans}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The credentials show nowhere a user can look.
    for path in [
        "/api/v1/cameras",
        "/api/v1/cameras/vendor",
        "/api/v1/cameras/near?lat=42.6&lon=25.3994&radius_m=100",
        "/api/v1/cameras/seeing?lat=42.6&lon=25.4",
        "/api/v1/export/cameras.csv",
        "/api/v1/audit",
    ] {
        let text =
            api.http.get(format!("{base}{path}")).bearer_auth(&api.token).send().await.unwrap().text().await.unwrap();
        assert!(!text.contains(SECRET), "{path} shows the password: {text}");
    }
    let (_, cam) = api.call(Method::GET, "/api/v1/cameras/vendor", None).await;
    assert_eq!(cam["stream_url"], "rtsp://127.0.0.1:9/live", "{cam}");
    assert_eq!(cam["has_credentials"], true, "{cam}");

    // SIGTERM with both clients connected.
    let pid = server.0.id().to_string();
    let term = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(term.success());
    let sent = Instant::now();
    let status = loop {
        if let Some(st) = server.0.try_wait().expect("the server's status") {
            break st;
        }
        assert!(sent.elapsed() < Duration::from_secs(10), "polis serve still runs 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "polis serve exited with {status}");
    let _ = events.chunk().await;

    // The last recording plays to its end: ffmpeg decodes it without a complaint.
    let file = newest_mp4(&data.join("video")).expect("a recording file");
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg (run scripts/test)");
    let complaints = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && complaints.trim().is_empty(), "{} does not play: {complaints}", file.display());
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .expect("ffprobe");
    let duration: f64 = String::from_utf8_lossy(&probe.stdout).trim().parse().unwrap_or(0.0);
    assert!(duration > 0.5, "{} lasts {duration} s", file.display());

    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(text.contains("camera stream lost") || text.contains("vendor"), "the recorder never tried the camera");
    assert!(!text.contains(SECRET), "the log shows the password");
}
