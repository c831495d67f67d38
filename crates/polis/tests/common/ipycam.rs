//! ipycam (PyPI, pinned; `scripts/lib/ipycam.sh` installs it), a virtual IP camera with ONVIF
//! device, media and PTZ services behind a WS-Security user, and WS-Discovery on UDP 3702 (so one
//! at a time per machine), on free loopback ports. Shared by the PTZ tests of `polis` (the
//! console) and `polis-http` (the API, which includes this file by path).

use serde_json::json;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running ipycam, killed when dropped.
pub struct Ipycam {
    child: Child,
    /// Its ONVIF device service address.
    pub device_url: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Ipycam {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Ipycam {
    /// Starts a camera announcing `name`, with the ONVIF user `username`/`password`, and waits
    /// until its ONVIF port listens.
    pub async fn start(name: &str, username: &str, password: &str) -> Ipycam {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config = json!({
            "name": name, "local_ip": "127.0.0.1", "onvif_port": port, "rtsp_port": free_port(),
            "rtmp_port": free_port(), "web_port": free_port(), "go2rtc_api_port": free_port(),
            "username": username, "password": password, "show_timestamp": false,
        });
        std::fs::write(dir.path().join("camera_config.json"), config.to_string()).expect("config");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/ipycam.sh");
        let log = std::fs::File::create(dir.path().join("ipycam.log")).expect("log");
        let child = Command::new(script)
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting ipycam");
        let cam = Ipycam { child, device_url: format!("http://127.0.0.1:{port}/onvif/device_service"), dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            let log = std::fs::read_to_string(cam.dir.path().join("ipycam.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "ipycam did not listen on {port} within 60 s:\n{log}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cam
    }
}
