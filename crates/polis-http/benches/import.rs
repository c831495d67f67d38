//! Bulk import rate through the API into SQLite: 100,000 cameras as one GeoJSON
//! FeatureCollection POSTed to `/api/v1/import/cameras` on a fresh embedded store, timed from the
//! first byte sent to the acknowledged answer (parse, validate, write durably, index).
//! Run: `cargo bench -p polis-http --bench import`.

mod common;

use polis_domain::{Id, LatLon};
use serde_json::json;
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
        let server = common::start(&m).await;
        let (base, token, client) = (&server.base, &server.token, &server.client);
        let start = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/import/cameras?municipality=bench"))
            .bearer_auth(token)
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
