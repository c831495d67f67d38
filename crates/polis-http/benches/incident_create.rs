//! Creating an incident through the API with 100,000 cameras and 2,000 response units in the
//! registry: the latency of `POST /api/v1/incidents` from request sent to answer received, which
//! includes the lookup of the cameras that see the spot, the proposal of the nearest available
//! units of the right agencies, the durable write (incident, journal line, audit record) and the
//! live event. One client, requests one after another, on a fresh SQLite store.
//! Run: `cargo bench -p polis-http --bench incident_create`.

mod common;

use polis_domain::{Id, LatLon};
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::time::Instant;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run());
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run() {
    let cameras = env("POLIS_BENCH_CAMERAS", 100_000);
    let units = env("POLIS_BENCH_UNITS", 2_000);
    let incidents = env("POLIS_BENCH_INCIDENTS", 2_000);
    let centre = LatLon::new(42.619, 25.393).expect("centre");
    let radius_m = 6_000.0;
    let m = Id::from_trusted("bench");
    let server = common::start(&m).await;
    let (base, token, client) = (&server.base, &server.token, &server.client);

    let cams = polis_geo::synthetic::cameras(cameras, 7, centre, radius_m, &m);
    let features: Vec<_> = cams
        .iter()
        .map(|c| {
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [c.position.lon(), c.position.lat()]},
                   "properties": {"id": c.id.as_str(), "name": c.name, "heading_deg": c.heading.deg(), "fov_deg": c.fov.deg(),
                                  "range_m": c.range.m(), "kind": c.kind.as_str(), "mount_height_m": c.mount_height_m}})
        })
        .collect();
    let r = client
        .post(format!("{base}/api/v1/import/cameras?municipality=bench"))
        .bearer_auth(token)
        .json(&json!({"type": "FeatureCollection", "features": features}))
        .send()
        .await
        .expect("import");
    assert!(r.status().is_success(), "import: {}", r.text().await.unwrap_or_default());

    let agencies = [
        ("police", "patrol_car"),
        ("ambulance", "ambulance"),
        ("fire_safety", "fire_engine"),
        ("civil_protection", "crew"),
        ("municipal_services", "crew"),
    ];
    for (kind, _) in agencies {
        let r = client
            .post(format!("{base}/api/v1/organisations"))
            .bearer_auth(token)
            .json(&json!({"id": format!("bench-{kind}"), "kind": "agency", "agency_kind": kind, "name_en": kind,
                          "municipality": "bench"}))
            .send()
            .await
            .expect("agency");
        assert!(r.status().is_success(), "agency: {}", r.text().await.unwrap_or_default());
    }
    let positions = polis_geo::synthetic::points(units, 11, centre, radius_m);
    let started = Instant::now();
    let mut pending = futures::stream::FuturesUnordered::new();
    for (i, p) in positions.iter().enumerate() {
        let (kind, unit_kind) = agencies[i % agencies.len()];
        let body = json!({"id": format!("unit-{i}"), "agency": format!("bench-{kind}"), "kind": unit_kind,
                          "name": format!("Unit {i}"), "lat": p.lat(), "lon": p.lon()});
        pending.push(client.post(format!("{base}/api/v1/units")).bearer_auth(token).json(&body).send());
        if pending.len() >= 16 {
            use futures::StreamExt;
            let r = pending.next().await.expect("a request").expect("unit");
            assert!(r.status().is_success(), "unit: {}", r.status());
        }
    }
    {
        use futures::StreamExt;
        while let Some(r) = pending.next().await {
            assert!(r.expect("unit").status().is_success());
        }
    }
    println!(
        "registry: {cameras} cameras, {units} units ({:.1} s to create the units)",
        started.elapsed().as_secs_f64()
    );

    let types = ["traffic_accident", "fire", "flood", "crime", "medical", "missing_person", "infrastructure", "other"];
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let spots = polis_geo::synthetic::points(incidents + 100, 5, centre, radius_m * 0.8);
    let mut lat_ms = Vec::with_capacity(incidents);
    let mut seen_cameras = 0usize;
    for (i, p) in spots.iter().enumerate() {
        let body = json!({"type": types[rng.gen_range(0..types.len())], "priority": rng.gen_range(1..=4),
                          "lat": p.lat(), "lon": p.lon(), "description": "benchmark incident"});
        let t0 = Instant::now();
        let r =
            client.post(format!("{base}/api/v1/incidents")).bearer_auth(token).json(&body).send().await.expect("send");
        let status = r.status();
        let v: serde_json::Value = r.json().await.expect("answer");
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        assert!(status.is_success(), "create: {status} {v}");
        // The first 100 warm the connection and caches.
        if i >= 100 {
            lat_ms.push(ms);
            seen_cameras += v["cameras"].as_array().map_or(0, |a| a.len());
        }
    }
    lat_ms.sort_by(f64::total_cmp);
    let q = |p: f64| lat_ms[((lat_ms.len() - 1) as f64 * p).round() as usize];
    println!(
        "POST /api/v1/incidents x {}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.1} cameras per incident",
        lat_ms.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        lat_ms[lat_ms.len() - 1],
        seen_cameras as f64 / lat_ms.len() as f64
    );
}
