//! The planner over HTTP: a planning job on the municipality's own sites with progress on the
//! live stream, its results, accepting it into the registry, cancelling, roles and bad input.

use crate::both;
use crate::events::read_events;
use crate::harness::{assert_error, camera, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn sites(t: &TestApp) {
    let sites = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.3930, 42.6190]},
         "properties": {"id": "square", "name_en": "Main square", "category": "square", "sectors": ["safety"], "priority": 1}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.3990, 42.6210]},
         "properties": {"id": "school", "name_en": "School", "category": "school", "sectors": ["safety"], "priority": 1}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.3870, 42.6160]},
         "properties": {"id": "museum", "name_en": "Museum", "category": "tourist", "sectors": ["tourism"], "priority": 3}}
    ]});
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/sites?municipality=kazanlak")
                .header("content-type", "application/geo+json")
                .body(sites.to_string()),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let (s, b) = t.post("/api/v1/cameras", camera("cam-square", 42.6188, 25.3930, 0.0)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

async fn wait_done(t: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, b) = t.call(t.req_as(token, Method::GET, &format!("/api/v1/plans/{id}"))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        if b["status"] != "running" {
            return b;
        }
        assert!(Instant::now() < deadline, "the plan did not finish: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both!(a_supervisor_plans_the_municipality_and_accepts_the_plan);
async fn a_supervisor_plans_the_municipality_and_accepts_the_plan(t: TestApp) {
    sites(&t).await;
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    let mut events = t
        .req_as(&sup, Method::GET, "/api/v1/events?types=plan")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let (s, job) =
        t.call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"phases": 2, "budget": 3000}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let done = wait_done(&t, &sup, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    let phases = done["summary"]["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2);
    for ph in phases {
        assert!(ph["covered_weight"].as_f64().unwrap() <= ph["upper_bound"].as_f64().unwrap() + 1e-9);
        assert!(ph["spent"].as_f64().unwrap() <= 3000.0);
    }
    assert!(phases[1]["covered_weight"].as_f64() > done["summary"]["before"]["covered_weight"].as_f64());
    let features = done["geojson"]["features"].as_array().unwrap().len();
    assert!(features > 0);
    // Progress travelled on the live stream, ending with "done".
    let got = read_events(&mut events, 1).await;
    assert_eq!(got[0].1, "plan");
    let r = t.req_as(&sup, Method::GET, &format!("/api/v1/plans/{id}/report.html")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("<svg"));
    // Accepting puts the cameras into the registry as planned, once.
    let (s, b) = t.call(t.req_as(&sup, Method::POST, &format!("/api/v1/plans/{id}/accept"))).await;
    assert_eq!((s, b["cameras"].as_u64()), (StatusCode::OK, Some(features as u64)), "{b}");
    let (_, cams) = t.get("/api/v1/cameras").await;
    let planned =
        cams["features"].as_array().unwrap().iter().filter(|f| f["properties"]["status"] == "planned").count();
    assert_eq!(planned, features);
    let (s, _) = t.call(t.req_as(&sup, Method::POST, &format!("/api/v1/plans/{id}/accept"))).await;
    assert_eq!(s, StatusCode::CONFLICT);
}

both!(planning_needs_a_planner_and_bad_instances_name_the_item);
async fn planning_needs_a_planner_and_bad_instances_name_the_item(t: TestApp) {
    sites(&t).await;
    let op = t.user("op", "operator", "kazanlak").await;
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    let sz = t.user("sz-sup", "supervisor", "stara-zagora").await;
    let (s, _) = t.call(t.req_as(&op, Method::POST, "/api/v1/plans").json(&json!({"phases": 1}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, job) = t.call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"phases": 1}))).await;
    let id = job["id"].as_str().unwrap();
    assert_eq!(t.call(t.req_as(&sz, Method::GET, &format!("/api/v1/plans/{id}"))).await.0, StatusCode::NOT_FOUND);
    let (s, b) = t.call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"phases": 11}))).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "phases", None);
    let mut inst = serde_json::to_value(polis_plan::synthetic::city(
        polis_plan::synthetic::CitySize {
            candidates: 20,
            demand: 100,
            buildings: false,
            phases: 2,
            cameras_per_phase: 2,
        },
        1,
    ))
    .unwrap();
    inst["budgets"] = json!([5000, 1]);
    let (s, b) = t.call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"instance": inst}))).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "budgets[1]", None);
    let (s, b) =
        t.call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"instance": {"candidates": 1}}))).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "instance", None);
}

both!(a_cancelled_plan_stops_and_keeps_nothing);
async fn a_cancelled_plan_stops_and_keeps_nothing(t: TestApp) {
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    // Big enough to be running when the cancel arrives (a debug build plans it in seconds).
    let inst = serde_json::to_value(polis_plan::synthetic::city(
        polis_plan::synthetic::CitySize {
            candidates: 3000,
            demand: 30000,
            buildings: true,
            phases: 3,
            cameras_per_phase: 60,
        },
        2,
    ))
    .unwrap();
    let (s, job) = t
        .call(
            t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"municipality": "kazanlak", "instance": inst})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let (s, _) = t.call(t.req_as(&sup, Method::DELETE, &format!("/api/v1/plans/{id}"))).await;
    assert_eq!(s, StatusCode::OK);
    let started = Instant::now();
    let done = wait_done(&t, &sup, &id).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    assert!(started.elapsed() < Duration::from_secs(10), "it stopped promptly");
    assert!(done.get("summary").is_none());
    let (s, _) = t.call(t.req_as(&sup, Method::POST, &format!("/api/v1/plans/{id}/accept"))).await;
    assert_eq!(s, StatusCode::CONFLICT);
}
