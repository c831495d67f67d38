//! A real Mosquitto broker on a free loopback port, with persistence in a temporary directory.
//! Stopped (SIGTERM, so it saves its sessions) and started again on the same port by the tests;
//! killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn mosquitto_binary() -> PathBuf {
    let candidates = match std::env::var("POLIS_TEST_MOSQUITTO") {
        Ok(p) => vec![p],
        Err(_) => ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"].map(String::from).to_vec(),
    };
    if let Some(p) = candidates.iter().find(|p| Path::new(p).is_file()) {
        return PathBuf::from(p);
    }
    panic!(
        "the MQTT tests need the Mosquitto broker, which is not installed: scripts/test installs it \
         (Debian package `mosquitto`); or run `apt-get install mosquitto`, or point POLIS_TEST_MOSQUITTO \
         at the binary"
    );
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut b = Broker { port: free_port(), dir, child: None };
        b.launch();
        b
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data directory");
        // `user root` only matters when the tests run as root: mosquitto would otherwise switch
        // to the `mosquitto` user, who cannot write into our temporary directory.
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {data}/\n\
             user root\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n",
            port = self.port,
            data = data.display(),
        );
        std::fs::write(&conf, text).expect("write mosquitto.conf");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("mosquitto.log"))
            .expect("log file");
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("mosquitto exited ({status}) on port {}:\n{}", self.port, self.log());
                }
            }
            if Instant::now() > deadline {
                panic!("mosquitto did not listen on port {} within 10 s:\n{}", self.port, self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Stops the broker as a service manager would (SIGTERM): it saves its persistent sessions
    /// and queued messages to disk and exits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port with the same data.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the broker is still running");
        self.launch();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
