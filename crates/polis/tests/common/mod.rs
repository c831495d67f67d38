//! What the tests of the real `polis` binary share: a child process that dies with the test, a
//! free loopback port, `polis serve` started and waited for, and an authenticated API client.
//! Each test binary uses a part of it.
#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, however it ends.
pub struct Proc(pub Child);

impl Proc {
    /// Stops the process as an operator would (SIGTERM) and waits until it has exited.
    pub fn terminate(&mut self) {
        let pid = self.0.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        assert!(status.success(), "kill -TERM {pid} failed");
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free now on loopback, never one this process handed out before: the tests of one
/// binary run at once, and the system may give a released port to the next asker.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port =
            TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// How to start `polis serve`.
pub struct Serve<'a> {
    pub data: &'a Path,
    pub port: u16,
    pub admin_password: &'a str,
    /// `RUST_LOG` for the server.
    pub log_level: &'a str,
    /// Where its standard output and error go (nowhere without one).
    pub log_file: Option<&'a Path>,
}

impl Serve<'_> {
    /// Starts `polis serve` on loopback with only the settings given here (no `POLIS_*` from the
    /// test's environment) and waits until `/healthz` answers.
    pub async fn start(&self) -> Proc {
        self.start_with(&[]).await
    }

    /// [`Serve::start`] with more arguments for `polis serve` (e.g. `--database-url`).
    pub async fn start_with(&self, extra: &[String]) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_polis"));
        for (k, _) in std::env::vars() {
            if k.starts_with("POLIS_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{}", self.port), "--data"])
            .arg(self.data)
            .args(extra)
            .env("POLIS_ADMIN_PASSWORD", self.admin_password)
            .env("RUST_LOG", self.log_level)
            .stdin(Stdio::null());
        match self.log_file {
            Some(path) => {
                let out = std::fs::File::create(path).expect("the log file");
                let err = out.try_clone().expect("the log file");
                cmd.stdout(out).stderr(err);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let server = Proc(cmd.spawn().expect("starting polis serve"));
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("http://127.0.0.1:{}/healthz", self.port)).send().await {
                if r.status().is_success() {
                    return server;
                }
            }
            assert!(Instant::now() < deadline, "polis did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An API client logged in as a user.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    /// Logs in at `base` (`http://HOST:PORT`).
    pub async fn login(base: &str, username: &str, password: &str) -> Api {
        // No overall timeout: the same client reads event streams that stay open.
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().expect("a client");
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login");
        assert!(r.status().is_success(), "login: {}", r.status());
        let body: Value = r.json().await.expect("the login answer");
        let token = body["token"].as_str().expect("a token").to_string();
        Api { http, base: base.to_string(), token }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("a request");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// A POST that must succeed; its answer.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (s, b) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(s.is_success(), "POST {path}: {s} {b}");
        b
    }
}

pub mod browser;
#[path = "ipycam.rs"]
pub mod ipycam;
