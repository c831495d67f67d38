//! Shared set-up of the HTTP benchmarks: a real server on loopback over a fresh SQLite store.
#![allow(dead_code)] // each bench uses a part

use polis_base::SystemClock;
use polis_core::App;
use polis_domain::{Actor, Id, OrgKind, Organisation};
use serde_json::json;
use std::sync::Arc;

pub struct Server {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Starts Polis on a fresh SQLite store with municipality `m`, logged in as admin.
pub async fn start(m: &Id) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = polis_store::open(&format!("sqlite://{}", dir.path().join("polis.db").display())).await.expect("store");
    let app = App::open(store, Arc::new(SystemClock)).await.expect("app");
    let org = Organisation {
        id: m.clone(),
        kind: OrgKind::Municipality,
        name_bg: "Бенч".into(),
        name_en: "Bench".into(),
        municipality: m.clone(),
        agency_kind: None,
        demo: false,
    };
    app.put_organisation(&Actor::system(), org).await.expect("org");
    app.ensure_admin(Some("bench-password".into())).await.expect("admin");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(polis_http::serve(listener, polis_http::router(app, Default::default()), std::future::pending()));
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "bench-password"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let token = login["token"].as_str().expect("token").to_string();
    Server { base, token, client, _dir: dir }
}

/// The resident set size of this process in MiB (Linux).
pub fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
