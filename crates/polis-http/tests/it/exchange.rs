//! Export then import: the registry of a municipality exported as CSV or GeoJSON and imported
//! into the emptied municipality comes back the same, field by field, except the stream
//! credentials (never exported).

use crate::both;
use crate::harness::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn cameras() -> Vec<Value> {
    vec![
        json!({"id": "rt-1", "municipality": "kazanlak", "name": "Гара, \"северен\" вход", "name_en": "=Station, \"north\" gate",
               "lat": 42.6191234, "lon": 25.3934567, "heading_deg": 123.5, "fov_deg": 72.5, "range_m": 180.0,
               "kind": "anpr", "mount_height_m": 7.5, "stream_url": "rtsp://viewer:pa55word@10.1.1.1:554/main",
               "sub_stream_url": "rtsp://10.1.1.1:554/sub", "retention_days": 45, "owner": "kazanlak",
               "status": "planned", "demo": true, "recording": "continuous", "retention_bytes": 5_000_000_000u64,
               "privacy_zones": [[[0.1, 0.2], [0.4, 0.2], [0.4, 0.5]], [[0.6, 0.6], [0.9, 0.6], [0.9, 0.95], [0.6, 0.95]]]}),
        json!({"id": "rt-2", "municipality": "kazanlak", "name": "PTZ tower", "lat": 42.62, "lon": 25.40,
               "range_m": 300.0, "kind": "ptz"}),
    ]
}

fn sites() -> Vec<Value> {
    vec![
        json!({"id": "rt-school", "municipality": "kazanlak", "name_bg": "Училище „Христо Ботев“", "name_en": "Botev school",
               "category": "school", "sectors": ["safety", "transport"], "priority": 5, "lat": 42.615, "lon": 25.391}),
        json!({"id": "rt-dam", "municipality": "kazanlak", "name_bg": "Язовир", "name_en": "",
               "category": "dam", "sectors": ["disaster"], "priority": 4, "demo": true,
               "geometry": {"type": "Polygon", "coordinates": [[[25.30, 42.62], [25.32, 42.62], [25.32, 42.64], [25.30, 42.64], [25.30, 42.62]]]}}),
    ]
}

fn sensors() -> Vec<Value> {
    vec![
        json!({"id": "rt-gauge", "municipality": "kazanlak", "name": "Тунджа, мост", "name_en": "Tundzha, bridge", "kind": "water_level",
               "unit": "cm", "lat": 42.6055, "lon": 25.4123, "owner": "kazanlak", "demo": true}),
        json!({"id": "rt-air", "municipality": "kazanlak", "name": "Въздух", "kind": "air_quality", "unit": "ug/m3",
               "lat": 42.62, "lon": 25.39}),
    ]
}

/// Each item by id as the API shows it (`GET /{kind}/{id}`).
async fn items(t: &TestApp, kind: &str, ids: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        let (s, b) = t.get(&format!("/api/v1/{kind}/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{kind}/{id}: {b}");
        out.push(b);
    }
    out
}

async fn export(t: &TestApp, file: &str) -> (String, Vec<u8>) {
    let r = t.req(Method::GET, &format!("/api/v1/export/{file}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{file}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    (ct, r.bytes().await.unwrap().to_vec())
}

async fn empty(t: &TestApp, kind: &str, ids: &[&str]) {
    for id in ids {
        let (s, b) = t.call(t.req(Method::DELETE, &format!("/api/v1/{kind}/{id}"))).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    }
    assert_eq!(t.count(&format!("/api/v1/{kind}")).await, 0, "the municipality is empty");
}

async fn import(t: &TestApp, kind: &str, content_type: &str, body: Vec<u8>) {
    let (s, b) = t
        .call(t.req(Method::POST, &format!("/api/v1/import/{kind}")).header("content-type", content_type).body(body))
        .await;
    assert_eq!(s, StatusCode::OK, "import {kind}: {b}");
}

/// Compares every field; `except` are fields that may differ, with the value they must have after.
fn same(before: &[Value], after: &[Value], except: &[(&str, Value)]) {
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(after) {
        let (b, a) = (b.as_object().unwrap(), a.as_object().unwrap());
        let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
        for k in keys {
            match except.iter().find(|(e, _)| e == k) {
                Some((_, want)) => assert_eq!(a.get(k.as_str()), Some(want), "{k} of {}", b["id"]),
                None => {
                    assert_eq!(a.get(k.as_str()), b.get(k.as_str()), "{k} of {} changed in the round trip", b["id"])
                }
            }
        }
    }
}

async fn round_trip(t: &TestApp, kind: &str, bodies: Vec<Value>, format: &str, except: &[(&str, Value)]) {
    let ids: Vec<String> = bodies.iter().map(|b| b["id"].as_str().unwrap().to_string()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    for b in bodies {
        let (s, r) = t.post(&format!("/api/v1/{kind}"), b).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }
    let before = items(t, kind, &ids).await;
    let (ct, file) = export(t, &format!("{kind}.{format}")).await;
    let want_ct = if format == "csv" { "text/csv" } else { "application/geo+json" };
    assert!(ct.starts_with(want_ct), "{ct}");
    assert!(!String::from_utf8_lossy(&file).contains("pa55word"), "a stream password in the export");
    empty(t, kind, &ids).await;
    import(t, kind, want_ct, file).await;
    let after = items(t, kind, &ids).await;
    same(&before, &after, except);
}

both!(cameras_sites_and_sensors_come_back_the_same_from_csv);
async fn cameras_sites_and_sensors_come_back_the_same_from_csv(t: TestApp) {
    round_trip(&t, "cameras", cameras(), "csv", &[("has_credentials", json!(false))]).await;
    round_trip(&t, "sites", sites(), "csv", &[]).await;
    round_trip(&t, "sensors", sensors(), "csv", &[]).await;
}

both!(cameras_sites_and_sensors_come_back_the_same_from_geojson);
async fn cameras_sites_and_sensors_come_back_the_same_from_geojson(t: TestApp) {
    round_trip(&t, "cameras", cameras(), "geojson", &[("has_credentials", json!(false))]).await;
    round_trip(&t, "sites", sites(), "geojson", &[]).await;
    round_trip(&t, "sensors", sensors(), "geojson", &[]).await;
    let (s, b) = t.get("/api/v1/export/secrets.csv").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
}
