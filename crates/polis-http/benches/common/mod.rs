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
    pub app: Arc<App>,
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
    tokio::spawn(polis_http::serve(
        listener,
        polis_http::router(app.clone(), Default::default()),
        std::future::pending(),
    ));
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
    Server { base, token, client, app, _dir: dir }
}

/// Imports `n` water-level gauges `s0000`.. around Kazanlak with a threshold rule each at
/// `above` (values the benches send stay below it unless they mean to cross it).
pub async fn gauges_with_rules(server: &Server, n: usize, above: f64) {
    let centre = polis_domain::LatLon::new(42.619, 25.393).expect("centre");
    let points = polis_geo::synthetic::points(n, 3, centre, 5000.0);
    let sensors: Vec<_> = points
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [p.lon(), p.lat()]},
                             "properties": {"id": format!("s{i:04}"), "name": format!("Gauge {i}"), "kind": "water_level", "unit": "cm"}}))
        .collect();
    let r = server
        .client
        .post(format!("{}/api/v1/import/sensors?municipality=bench", server.base))
        .bearer_auth(&server.token)
        .header("content-type", "application/geo+json")
        .body(json!({"type": "FeatureCollection", "features": sensors}).to_string())
        .send()
        .await
        .expect("sensors");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    for i in 0..n {
        let r = server
            .client
            .post(format!("{}/api/v1/rules", server.base))
            .bearer_auth(&server.token)
            .json(&json!({"name": format!("High {i}"), "sensor": format!("s{i:04}"),
                          "condition": {"type": "threshold", "above": above, "hysteresis": 1}}))
            .send()
            .await
            .expect("rule");
        assert!(r.status().is_success());
    }
}

/// Now as RFC 3339.
pub fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Now as RFC 3339 with the fraction of a second (readings of successive batches differ).
pub fn now_precise() -> String {
    let t = time::OffsetDateTime::now_utc();
    let ms = t.replace_nanosecond(t.millisecond() as u32 * 1_000_000).unwrap_or(t);
    ms.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Percentile `p` (0..1) of sorted values.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
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
