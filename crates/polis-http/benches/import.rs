//! Bulk import rate through the API into SQLite: 100,000 cameras as one GeoJSON
//! FeatureCollection POSTed to `/api/v1/import/cameras` on a fresh embedded store, timed from the
//! first byte sent to the acknowledged answer (parse, validate, write durably, index).
//! Run: `cargo bench -p polis-http --bench import`.

use polis_base::SystemClock;
use polis_core::App;
use polis_domain::{Actor, Id, LatLon, OrgKind, Organisation};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let n: usize = std::env::var("POLIS_BENCH_CAMERAS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let rounds = 3;
    let m = Id::from_trusted("bench");
    let cams = polis_geo::synthetic::cameras(n, 7, LatLon::new(42.619, 25.393).expect("centre"), 6000.0, &m);
    let features: Vec<_> = cams
        .iter()
        .map(|c| {
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [c.position.lon(), c.position.lat()]},
                   "properties": {"id": c.id.as_str(), "name": c.name, "heading_deg": c.heading.deg(), "fov_deg": c.fov.deg(),
                                  "range_m": c.range.m(), "kind": c.kind.as_str(), "mount_height_m": c.mount_height_m,
                                  "stream_url": format!("rtsp://op:secret@10.0.0.1/{}", c.id)}})
        })
        .collect();
    let body = serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features})).expect("json");
    println!("import: {n} cameras, {:.1} MB of GeoJSON per request", body.len() as f64 / 1e6);
    let mut rates = Vec::new();
    for round in 0..rounds {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            polis_store::open(&format!("sqlite://{}", dir.path().join("polis.db").display())).await.expect("store");
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
        let start = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/import/cameras?municipality=bench"))
            .bearer_auth(&token)
            .header("content-type", "application/geo+json")
            .body(body.clone())
            .send()
            .await
            .expect("import");
        let status = r.status();
        let text = r.text().await.expect("answer");
        let secs = start.elapsed().as_secs_f64();
        assert!(status.is_success(), "import failed: {status} {text}");
        let rate = n as f64 / secs;
        println!("round {}: {secs:.3} s, {rate:.0} cameras/s", round + 1);
        rates.push(rate);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!("import median: {:.0} cameras/s over {rounds} rounds", rates[rounds / 2]);
}
