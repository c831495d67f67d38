//! SIGTERM (issue 14): `polis serve` on SQLite with a camera from the GStreamer RTSP test server
//! (`scripts/lib/rtsp_server.py`, recording continuously), an event-stream client and a live-video
//! client connected, exits within 10 s of SIGTERM, successfully; both clients see their connection
//! end; and the last recording file, closed on the way out, decodes without an error. The
//! camera's password, given as a query parameter of its stream URL, is in no answer, export,
//! audit record or line of the server's log (at `debug`).

mod common;

use common::{free_port, Api, Proc, Serve};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "shutdown-admin-Pa55word";
const EXIT_WITHIN: Duration = Duration::from_secs(10);

/// Waits until `check` holds (polling), or fails saying `what`.
async fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The camera's recording files, oldest first (their names are their start in milliseconds).
fn recordings(data: &Path, camera: &str) -> Vec<PathBuf> {
    let dir = data.join("video").join("rec").join(camera);
    let mut files: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let ms = p.file_stem()?.to_str()?.parse::<i64>().ok()?;
            (p.extension()? == "mp4").then_some((ms, p))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// Opens the camera's live video as a WebSocket by hand (the upgrade with a bearer token) and
/// reads it in the background: the returned task ends when the server closes the connection,
/// with the number of bytes read; `bytes` counts them as they come.
async fn live_client(
    port: u16,
    camera: &str,
    token: &str,
    bytes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connecting for live video");
    let upgrade = format!(
        "GET /api/v1/cameras/{camera}/live?stream=main HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: polis.live\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    tcp.write_all(upgrade.as_bytes()).await.expect("sending the upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut byte).await.expect("reading the upgrade's answer");
        assert!(n == 1 && head.len() < 8192, "the upgrade's answer ended early: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "live video refused: {head}");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    bytes.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exits_within_10_s_of_sigterm_with_streams_open_and_its_last_recording_plays() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let data = tmp.path().join("data");

    // The camera: GStreamer's RTSP server with a test pattern.
    let rtsp_port = free_port();
    let rtsp_log = tmp.path().join("rtsp.log");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/lib/rtsp_server.py");
    let out = std::fs::File::create(&rtsp_log).expect("the RTSP server's log");
    let err = out.try_clone().expect("the RTSP server's log");
    let _rtsp = Proc(
        Command::new("/usr/bin/python3")
            .args([script, &rtsp_port.to_string(), "--size", "160x120"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("starting scripts/lib/rtsp_server.py (run scripts/test)"),
    );
    wait_for("the RTSP server's start", Duration::from_secs(20), || {
        std::fs::read_to_string(&rtsp_log).unwrap_or_default().contains("ready")
    })
    .await;

    let port = free_port();
    let log = tmp.path().join("polis.log");
    let mut server =
        Serve { data: &data, port, admin_password: PASSWORD, log_level: "debug", log_file: Some(&log) }.start().await;
    let base = format!("http://127.0.0.1:{port}");
    let api = Api::login(&base, "admin", PASSWORD).await;
    api.post("/api/v1/organisations", json!({"id": "kazanlak", "kind": "municipality", "name_en": "Kazanlak"})).await;
    api.post(
        "/api/v1/cameras",
        json!({"id": "cam-1", "municipality": "kazanlak", "name": "Square", "lat": 42.619, "lon": 25.393,
               "kind": "fixed", "heading_deg": 90.0, "fov_deg": 60.0, "range_m": 150.0, "mount_height_m": 6.0,
               "stream_url": format!("rtsp://127.0.0.1:{rtsp_port}/main?user=admin&password=S3cret"),
               "recording": "continuous"}),
    )
    .await;
    // Recording has begun and written more than its header.
    wait_for("a recording with video in it", Duration::from_secs(30), || {
        recordings(&data, "cam-1").last().and_then(|p| std::fs::metadata(p).ok()).is_some_and(|m| m.len() > 20_000)
    })
    .await;

    for path in ["/api/v1/cameras", "/api/v1/cameras/cam-1", "/api/v1/export/cameras.csv", "/api/v1/audit"] {
        let r = api.http.get(format!("{base}{path}")).bearer_auth(&api.token).send().await.expect(path);
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let text = r.text().await.expect(path);
        assert!(!text.contains("S3cret"), "the camera's password in {path}: {text}");
    }

    // An event-stream client.
    let events = api
        .http
        .get(format!("{base}/api/v1/events"))
        .bearer_auth(&api.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("the event stream");
    assert!(events.status().is_success(), "the event stream: {}", events.status());
    let events = tokio::spawn(async move {
        let mut events = events;
        while let Ok(Some(_)) = events.chunk().await {}
    });
    // A live-video client, receiving video.
    let live_bytes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let live = live_client(port, "cam-1", &api.token, live_bytes.clone()).await;
    wait_for("live video arriving", Duration::from_secs(20), || {
        live_bytes.load(std::sync::atomic::Ordering::Relaxed) > 10_000
    })
    .await;

    let pid = server.0.id();
    let sent = Instant::now();
    let kill = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill -TERM");
    assert!(kill.success(), "kill -TERM {pid}");
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("waiting for polis") {
            break status;
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        let tail = log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        assert!(sent.elapsed() < EXIT_WITHIN, "polis serve still runs {EXIT_WITHIN:?} after SIGTERM; log:\n{tail}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = sent.elapsed();
    eprintln!("polis serve exited {took:?} after SIGTERM: {status}");
    assert!(status.success(), "polis serve exited with {status}");
    // Both clients saw their connections end (the process is gone, so at the latest now).
    tokio::time::timeout(Duration::from_secs(5), events).await.expect("the event stream ended").ok();
    tokio::time::timeout(Duration::from_secs(5), live).await.expect("live video ended").ok();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    let from_stop = log.find("stopping").map_or("", |i| &log[i.saturating_sub(200)..]);
    eprintln!("polis's log from the signal on:\n{from_stop}");
    assert!(log.contains("stopped"), "polis did not stop in order:\n{log}");
    assert!(!log.contains("recordings still open"), "a recording was not closed:\n{from_stop}");
    assert!(!log.contains("S3cret"), "the camera's password is in the log");

    // The last recording was closed: it decodes from start to end without an error.
    let last = recordings(&data, "cam-1").pop().expect("a recording");
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&last)
        .args(["-f", "null", "-"])
        .output()
        .expect("running ffmpeg");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "ffmpeg on {}: {} {said}", last.display(), out.status);
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(&last)
        .output()
        .expect("running ffprobe");
    let duration: f64 = String::from_utf8_lossy(&probe.stdout).trim().parse().unwrap_or(0.0);
    assert!(duration > 0.5, "the last recording {} lasts {duration} s", last.display());
}
