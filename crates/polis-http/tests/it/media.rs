//! Camera health over HTTP, against Debian's GStreamer RTSP server on loopback.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_rtsp(port: u16) -> Server {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/lib/rtsp_server.py");
    let mut child = Command::new("/usr/bin/python3")
        .args([script, &port.to_string(), "--user", "cam", "--password", "pa55word"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the RTSP test server (run scripts/test)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("ready"), "RTSP test server: {line:?}");
    Server(child)
}

#[tokio::test]
async fn camera_health_goes_online_and_is_scoped() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _server = start_rtsp(port);
    let t = spawn(Backend::Sqlite).await;
    let mut cam = camera("gate-1", 42.62, 25.39, 90.0);
    cam["stream_url"] = format!("rtsp://cam:pa55word@127.0.0.1:{port}/main").into();
    let (s, b) = t.post("/api/v1/cameras", cam).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    let deadline = Instant::now() + Duration::from_secs(15);
    let body = loop {
        let (s, b) = t.get("/api/v1/cameras/gate-1/health").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        if b["status"] == "online" && b["fps"].as_f64().unwrap_or(0.0) > 5.0 {
            break b;
        }
        assert!(Instant::now() < deadline, "camera never came online: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(body["fps"].as_f64().unwrap() > 5.0, "{body}");
    assert!(body["bitrate_bps"].as_u64().unwrap() > 0, "{body}");
    assert!(body["last_frame_at"].is_string(), "{body}");
    assert_eq!(body["reconnects"], 0);
    assert!(!body.to_string().contains("pa55word"));

    let (s, _) = t.call(t.client.request(Method::GET, t.url("/api/v1/cameras/gate-1/health"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let other = t.user("sz-viewer", "viewer", "stara-zagora").await;
    let (s, _) = t.call(t.req_as(&other, Method::GET, "/api/v1/cameras/gate-1/health")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = t.get("/api/v1/cameras/nope/health").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
}
