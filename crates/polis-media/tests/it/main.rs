//! Sessions against a real RTSP server: Debian's GStreamer RTSP server serving a test pattern on loopback.

use polis_base::SystemClock;
use polis_domain::registry::StreamUrl;
use polis_domain::values::Id;
use polis_media::{Backoff, Health, HealthPolicy, HealthStatus, HubConfig, MediaHub, RetinaOpener};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the test server and waits until it listens.
fn start_server(port: u16, auth: Option<(&str, &str, &str)>) -> Server {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/lib/rtsp_server.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script).arg(port.to_string()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    if let Some((u, p, method)) = auth {
        cmd.args(["--user", u, "--password", p, "--auth", method]);
    }
    let mut child = cmd.spawn().expect("start /usr/bin/python3 scripts/lib/rtsp_server.py (run scripts/test)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("ready"), "the RTSP test server did not start: {line:?}");
    Server(child)
}

fn hub() -> MediaHub {
    let config = HubConfig {
        backoff: Backoff { initial: Duration::from_millis(100), max: Duration::from_millis(400) },
        health: HealthPolicy {
            window: time::Duration::seconds(1),
            stale_after: time::Duration::seconds(1),
            min_fps: 1.0,
        },
        ..HubConfig::default()
    };
    MediaHub::new(Arc::new(RetinaOpener), Arc::new(SystemClock), config)
}

async fn wait_for(hub: &MediaHub, cam: &Id, what: &str, ok: impl Fn(&Health) -> bool) -> Health {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h = hub.health(cam);
        if ok(&h) {
            return h;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {h:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_session_goes_online_offline_and_back_with_digest_auth() {
    let port = free_port();
    let server = start_server(port, Some(("viewer", "s3cret", "digest")));
    let hub = hub();
    let cam = Id::parse("id", "cam-1").unwrap();
    let url = StreamUrl::parse("stream_url", &format!("rtsp://viewer:s3cret@127.0.0.1:{port}/main")).unwrap();
    hub.watch(&cam, &url);

    let h = wait_for(&hub, &cam, "online", |h| h.status == HealthStatus::Online && h.fps > 5.0).await;
    assert!(h.bitrate_bps > 0, "{h:?}");
    assert!(h.last_frame_at.is_some());

    drop(server);
    let h = wait_for(&hub, &cam, "offline", |h| h.status == HealthStatus::Offline).await;
    assert_eq!(h.fps, 0.0);

    let _server = start_server(port, Some(("viewer", "s3cret", "digest")));
    let h = wait_for(&hub, &cam, "back online", |h| h.status == HealthStatus::Online && h.reconnects >= 1).await;
    assert!(h.fps > 5.0, "{h:?}");
}

#[tokio::test]
async fn a_wrong_password_stays_offline() {
    let port = free_port();
    let _server = start_server(port, Some(("viewer", "s3cret", "digest")));
    let hub = hub();
    let cam = Id::parse("id", "cam-2").unwrap();
    let url = StreamUrl::parse("stream_url", &format!("rtsp://viewer:wrong@127.0.0.1:{port}/main")).unwrap();
    hub.watch(&cam, &url);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let h = hub.health(&cam);
    assert_eq!(h.status, HealthStatus::Offline, "{h:?}");
    assert!(h.last_frame_at.is_none());
    assert_eq!(h.reason, Some(polis_media::OfflineReason::Unauthorised), "{h:?}");
    assert!(h.offline_since.is_some(), "{h:?}");
}

#[tokio::test]
async fn nothing_listening_is_offline_as_refused() {
    let port = free_port();
    let hub = hub();
    let cam = Id::parse("id", "cam-refused").unwrap();
    let url = StreamUrl::parse("stream_url", &format!("rtsp://127.0.0.1:{port}/main")).unwrap();
    hub.watch(&cam, &url);
    let h = wait_for(&hub, &cam, "refused", |h| h.reason.is_some()).await;
    assert_eq!((h.status, h.reason), (HealthStatus::Offline, Some(polis_media::OfflineReason::Refused)), "{h:?}");
}

#[tokio::test]
async fn basic_auth_works_too() {
    let port = free_port();
    let _server = start_server(port, Some(("viewer", "s3cret", "basic")));
    let hub = hub();
    let cam = Id::parse("id", "cam-3").unwrap();
    let url = StreamUrl::parse("stream_url", &format!("rtsp://viewer:s3cret@127.0.0.1:{port}/main")).unwrap();
    hub.watch(&cam, &url);
    let h = wait_for(&hub, &cam, "online", |h| h.status == HealthStatus::Online && h.fps > 5.0).await;
    assert_eq!(h.reconnects, 0);
}
