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
    // Progress travelled on the live stream through the stages, each stage's share never going
    // back, ending with "done".
    let mut got: Vec<Value> = Vec::new();
    while got.last().is_none_or(|e| e["status"] == "running") {
        let (_, ty, event) = read_events(&mut events, 1).await.remove(0);
        assert_eq!(ty, "plan");
        assert_eq!(event["data"]["id"], id.as_str());
        got.push(event["data"].clone());
    }
    let stages: Vec<&str> = got.iter().map(|e| e["stage"].as_str().unwrap()).collect();
    assert_eq!(got.last().unwrap()["status"], "done", "{stages:?}");
    let mut firsts: Vec<&str> = Vec::new();
    for s in &stages {
        if !firsts.contains(s) {
            firsts.push(s);
        }
    }
    assert_eq!(firsts[..4], ["queued", "coverage", "phase", "exact"], "{stages:?}");
    assert!(firsts.contains(&"bound") && firsts.last() == Some(&"done"), "{stages:?}");
    let share = |e: &Value| e["progress"].as_f64().unwrap();
    assert!(
        got.iter().any(|e| e["stage"] == "coverage" && share(e) > 0.0 && share(e) < 1.0),
        "coverage reports its way: {got:?}"
    );
    for stage in ["coverage", "phase", "exact", "bound"] {
        let shares: Vec<f64> = got.iter().filter(|e| e["stage"] == stage).map(share).collect();
        assert!(shares.len() >= 2, "{stage}: {shares:?}");
        assert!(shares.windows(2).all(|w| w[0] <= w[1]), "{stage} goes back: {shares:?}");
        assert!(shares.last().is_some_and(|s| (*s - 1.0).abs() < 1e-9), "{stage} ends at 1: {shares:?}");
    }
    let r = t.send(t.req_as(&sup, Method::GET, &format!("/api/v1/plans/{id}/report.html"))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("<svg"));
    // Accepting puts the cameras into the registry as planned, once, even when two accepts race.
    let url = format!("/api/v1/plans/{id}/accept");
    let ((s1, b1), (s2, b2)) =
        tokio::join!(t.call(t.req_as(&sup, Method::POST, &url)), t.call(t.req_as(&sup, Method::POST, &url)));
    let ((s, refused), b) = if s1 == StatusCode::OK { ((s2, b2), b1) } else { ((s1, b1), b2) };
    assert_eq!(s, StatusCode::CONFLICT, "one of two racing accepts is refused: {s1} {s2}");
    // Refused for being accepted already, not by the registry finding the cameras there.
    assert!(refused.to_string().contains("accepted already"), "{refused}");
    assert_eq!(b["cameras"].as_u64(), Some(features as u64), "{b}");
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

async fn start(t: &TestApp, token: &str, body: Value) -> String {
    let (s, job) = t.call(t.req_as(token, Method::POST, "/api/v1/plans").json(&body)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body} -> {job}");
    job["id"].as_str().unwrap().to_string()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

both!(chosen_sites_models_budgets_and_candidates_shape_the_plan);
async fn chosen_sites_models_budgets_and_candidates_shape_the_plan(t: TestApp) {
    sites(&t).await;
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    let id = start(
        &t,
        &sup,
        json!({
            "budgets": [2500, 4000],
            "sites": ["square", {"id": "museum", "priority": 1, "critical": true}],
            "models": ["wide-4mp"],
            "sector_weights": {"tourism": 2, "safety": 1.5},
            "candidates": [{"lat": 42.6162, "lon": 25.3872, "cost": 100, "id": "town-hall"}],
            "pole_cost": 300,
            "purpose": "detect",
        }),
    )
    .await;
    let done = wait_done(&t, &sup, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    // The job says what it planned.
    let input = &done["input"];
    assert_eq!(input["sites"], json!(["square", "museum"]), "{input}");
    assert_eq!(input["models"], json!(["wide-4mp"]));
    assert_eq!(input["budgets"], json!([2500.0, 4000.0]));
    assert_eq!(input["purpose"], "detect");
    assert_eq!(input["candidates"], 2 * 8 + 1, "poles around the two sites and the town hall");
    // Only the chosen sites are planned for, with the overrides and weights given.
    let summary = &done["summary"];
    assert_eq!(summary["purpose"], "detect");
    assert_eq!(keys(&summary["before"]["sites"]), ["museum", "square"]);
    assert_eq!(summary["before"]["sites"]["museum"]["total"], 10.0, "priority 1 x tourism 2: {summary}");
    assert_eq!(summary["before"]["sites"]["square"]["total"], 7.5, "priority 1 x safety 1.5");
    let budgets: Vec<f64> =
        summary["phases"].as_array().unwrap().iter().map(|p| p["budget"].as_f64().unwrap()).collect();
    assert_eq!(budgets, [2500.0, 4000.0]);
    let features = done["geojson"]["features"].as_array().unwrap();
    assert!(!features.is_empty());
    for f in features {
        assert_eq!(f["properties"]["model"], "wide-4mp", "{f}");
        // Every camera's cost is its mount (300, 450 or 600 for poles, 100 for the town hall)
        // plus the model's 400.
        let cost = f["properties"]["cost"].as_f64().unwrap();
        assert!([500.0, 700.0, 850.0, 1000.0].contains(&cost), "cost {cost}");
    }
}

both!(a_count_of_cameras_limits_the_phases_instead_of_money);
async fn a_count_of_cameras_limits_the_phases_instead_of_money(t: TestApp) {
    sites(&t).await;
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    let id = start(&t, &sup, json!({"max_cameras": [2, 1]})).await;
    let done = wait_done(&t, &sup, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["input"]["max_cameras"], json!([2, 1]), "{}", done["input"]);
    assert_eq!(done["input"]["budgets"], json!([null, null]), "no money limit");
    let phases = done["summary"]["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2);
    assert_eq!((phases[0]["cameras"].as_u64(), phases[1]["cameras"].as_u64()), (Some(2), Some(1)), "{phases:?}");
    assert!(phases[0]["budget"].is_null() && phases[0]["max_cameras"] == 2);
    // Besides money: one number for every phase.
    let id = start(&t, &sup, json!({"budgets": [20000, 20000, 20000], "max_cameras": 1})).await;
    let done = wait_done(&t, &sup, &id).await;
    assert_eq!(done["input"]["max_cameras"], json!([1, 1, 1]));
    for ph in done["summary"]["phases"].as_array().unwrap() {
        assert_eq!(ph["cameras"], 1, "{ph}");
        assert_eq!(ph["budget"], 20000.0);
    }
}

both!(extra_candidates_can_replace_the_generated_poles);
async fn extra_candidates_can_replace_the_generated_poles(t: TestApp) {
    sites(&t).await;
    let id = start(
        &t,
        &t.token,
        json!({
            "municipality": "kazanlak",
            "budgets": [3000],
            "generate_poles": false,
            "candidates": [{"lat": 42.6192, "lon": 25.3932, "cost": 200}, {"lat": 42.6208, "lon": 25.3988, "cost": 200}],
        }),
    )
    .await;
    let done = wait_done(&t, &t.token, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["input"]["candidates"], 2);
    assert_eq!(done["input"]["sites"], json!(["museum", "school", "square"]), "every site by default");
    assert_eq!(done["input"]["models"].as_array().unwrap().len(), 3, "every model by default");
    assert_eq!(done["input"]["purpose"], "observe");
    let features = done["geojson"]["features"].as_array().unwrap();
    assert!(!features.is_empty());
    for f in features {
        let c = f["properties"]["candidate"].as_str().unwrap();
        assert!(c == "extra-1" || c == "extra-2", "{c}");
    }
    // The old form: phases x budget.
    let id = start(&t, &t.token, json!({"municipality": "kazanlak", "phases": 2, "budget": 3000})).await;
    let done = wait_done(&t, &t.token, &id).await;
    assert_eq!(done["input"]["budgets"], json!([3000.0, 3000.0]));
    assert_eq!(done["input"]["candidates"], 3 * 8);
}

both!(the_model_catalogue_lists_names_kinds_costs_and_dori_ranges);
async fn the_model_catalogue_lists_names_kinds_costs_and_dori_ranges(t: TestApp) {
    let (s, b) = t.get("/api/v1/plans/models").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["purpose"], "observe");
    assert_eq!(b["defaults"]["pole_cost"], 600.0);
    let models = b["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["wide-4mp", "tele-4mp", "ptz-2mp"]);
    let wide = &models[0];
    assert_eq!(
        (wide["kind"].as_str(), wide["hfov_deg"].as_f64(), wide["h_pixels"].as_u64()),
        (Some("fixed"), Some(100.0), Some(2560))
    );
    assert_eq!(wide["cost"], 400.0);
    let r = &wide["ranges_m"];
    let (d, o, rc, i) = (
        r["detect"].as_f64().unwrap(),
        r["observe"].as_f64().unwrap(),
        r["recognise"].as_f64().unwrap(),
        r["identify"].as_f64().unwrap(),
    );
    assert!(d > o && o > rc && rc > i && i > 0.0, "{r}");
    assert_eq!(wide["reach_m"].as_f64(), Some(o), "a fixed camera reaches its range for the purpose");
    assert_eq!(models[2]["kind"], "ptz");
    assert_eq!(models[2]["reach_m"], models[2]["ranges_m"]["detect"], "a PTZ camera is planned one level lower");
    let (_, b) = t.get("/api/v1/plans/models?purpose=identify").await;
    assert_eq!(b["models"][0]["reach_m"], b["models"][0]["ranges_m"]["identify"]);
    let (s, b) = t.get("/api/v1/plans/models?purpose=admire").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "purpose", None);
    let (s, _) = t.call(t.client.get(t.url("/api/v1/plans/models"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

both!(bad_planning_options_are_refused_naming_the_field);
async fn bad_planning_options_are_refused_naming_the_field(t: TestApp) {
    sites(&t).await;
    let elsewhere = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.6420, 42.4250]},
         "properties": {"id": "sz-square", "name_en": "Square", "category": "square", "sectors": ["safety"], "priority": 1}}
    ]});
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/sites?municipality=stara-zagora")
                .header("content-type", "application/geo+json")
                .body(elsewhere.to_string()),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    let at = |extra: Value| {
        let mut c = json!({"lat": 42.6195, "lon": 25.3935, "cost": 100});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let eleven: Vec<f64> = vec![5000.0; 11];
    let cases: Vec<(Value, &str)> = vec![
        (json!({"budgets": []}), "budgets"),
        (json!({"budgets": eleven}), "budgets"),
        (json!({"budgets": 5000}), "budgets"),
        (json!({"budgets": [5000, -5]}), "budgets[1]"),
        (json!({"budgets": [5000, "lots"]}), "budgets[1]"),
        (json!({"budgets": [5000, 10]}), "budgets[1]"),
        (json!({"budgets": [5000], "phases": 2}), "budgets"),
        (json!({"phases": 0}), "phases"),
        (json!({"budget": -1}), "budget"),
        (json!({"max_cameras": 0}), "max_cameras"),
        (json!({"max_cameras": "two"}), "max_cameras"),
        (json!({"max_cameras": [2, 0]}), "max_cameras[1]"),
        (json!({"max_cameras": [2, 1.5]}), "max_cameras[1]"),
        (json!({"budgets": [5000, 5000], "max_cameras": [2]}), "max_cameras"),
        (json!({"sites": "square"}), "sites"),
        (json!({"sites": []}), "sites"),
        (json!({"sites": ["square", "nowhere"]}), "sites[1]"),
        (json!({"sites": ["sz-square"]}), "sites[0]"),
        (json!({"sites": ["square", "square"]}), "sites[1]"),
        (json!({"sites": [7]}), "sites[0]"),
        (json!({"sites": [{"priority": 1}]}), "sites[0].id"),
        (json!({"sites": [{"id": "square", "priority": 7}]}), "sites[0].priority"),
        (json!({"sites": [{"id": "square", "priority": 1.5}]}), "sites[0].priority"),
        (json!({"sites": [{"id": "square", "critical": "yes"}]}), "sites[0].critical"),
        (json!({"sites": [{"id": "square", "weight": 2}]}), "sites[0].weight"),
        (json!({"sector_weights": [1]}), "sector_weights"),
        (json!({"sector_weights": {"weather": 1}}), "sector_weights.weather"),
        (json!({"sector_weights": {"safety": -1}}), "sector_weights.safety"),
        (json!({"sector_weights": {"safety": "high"}}), "sector_weights.safety"),
        (json!({"models": "wide-4mp"}), "models"),
        (json!({"models": []}), "models"),
        (json!({"models": ["wide-4mp", "nope"]}), "models[1]"),
        (json!({"models": [4]}), "models[0]"),
        (json!({"candidates": {}}), "candidates"),
        (json!({"candidates": [5]}), "candidates[0]"),
        (json!({"candidates": [at(json!({"lat": 95}))]}), "candidates[0]"),
        (json!({"candidates": [at(json!({"lat": 48.8566, "lon": 2.3522}))]}), "candidates[0]"),
        (json!({"candidates": [at(json!({"cost": null}))]}), "candidates[0].cost"),
        (json!({"candidates": [at(json!({"cost": -1}))]}), "candidates[0].cost"),
        (json!({"candidates": [at(json!({"lon": "east"}))]}), "candidates[0].lon"),
        (json!({"candidates": [at(json!({"id": 3}))]}), "candidates[0].id"),
        (json!({"candidates": [at(json!({"height": 3}))]}), "candidates[0].height"),
        (json!({"candidates": [at(json!({"id": "a"})), at(json!({"id": "a"}))]}), "candidates[1].id"),
        (json!({"candidates": [at(json!({"id": "square-pole-1"}))]}), "candidates[0].id"),
        (json!({"generate_poles": false}), "candidates"),
        (json!({"generate_poles": "maybe"}), "generate_poles"),
        (json!({"pole_cost": -5}), "pole_cost"),
        (json!({"pole_cost": "cheap"}), "pole_cost"),
        (json!({"purpose": "admire"}), "purpose"),
        (json!({"budget_per_phase": 5000}), "budget_per_phase"),
        (json!({"instance": {}, "phases": 2}), "phases"),
    ];
    for (body, field) in cases {
        let (s, b) = t.call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&body)).await;
        assert!(s == StatusCode::BAD_REQUEST, "{body}: {s} {b}");
        assert_error(s, &b, StatusCode::BAD_REQUEST, field, None);
    }
    // Every problem at once.
    let (s, b) = t
        .call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"sites": ["nowhere"], "models": ["nope"]})))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "sites[0]", None);
    assert_error(s, &b, StatusCode::BAD_REQUEST, "models[0]", None);
}

both!(the_networks_coverage_and_a_published_plan_are_on_the_portal);
async fn the_networks_coverage_and_a_published_plan_are_on_the_portal(t: TestApp) {
    sites(&t).await;
    let page = |path: &'static str| {
        let t = &t;
        async move { t.client.get(t.url(path)).send().await.unwrap().text().await.unwrap() }
    };
    // The camera on the square sees it; nothing sees the school or the museum.
    let html = page("/public/?lang=en").await;
    assert!(html.contains("1 cameras in service of 1 registered."), "{html}");
    assert!(html.contains("<th scope=\"row\">Main square</th><td>Public safety</td><td>100%</td>"), "{html}");
    assert!(html.contains("<th scope=\"row\">School</th><td>Public safety</td><td>0%</td>"), "{html}");
    assert!(html.contains("<th scope=\"row\">Public safety</th><td>2</td><td>50%</td>"), "{html}");
    assert!(html.contains("<th scope=\"row\">Tourism</th><td>1</td><td>0%</td>"), "{html}");
    assert!(html.contains("No plan is published."));
    assert!(!html.contains("cam-square") && !html.contains("42.6188"), "no camera's id or place: {html}");

    // A supervisor plans; the administrator publishes the plan's report, which stays as it was.
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    let (s, job) =
        t.call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"phases": 1, "budget": 3000}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(wait_done(&t, &sup, &id).await["status"], "done");
    let (s, e) =
        t.call(t.req(Method::PUT, "/api/v1/publications/plan/no-such-plan").json(&json!({"public": true}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, e) = t
        .call(t.req_as(&sup, Method::PUT, &format!("/api/v1/publications/plan/{id}")).json(&json!({"public": true})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a supervisor may not publish: {e}");
    let (s, p) =
        t.call(t.req(Method::PUT, &format!("/api/v1/publications/plan/{id}")).json(&json!({"public": true}))).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let url = p["url"].as_str().expect("the report's address").to_string();
    assert_eq!(url, format!("/public/plans/{id}.html"));
    let r = t.client.get(t.url(&url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let report = r.text().await.unwrap();
    assert!(report.contains("<html") && report.contains("camera network"), "{report}");
    let html = page("/public/?lang=en").await;
    assert!(html.contains(&format!("href=\"/public/plans/{id}.html\"")), "{html}");
    // Audited without the report's copy; withdrawn, it is gone from the portal.
    let (_, audit) = t.get("/api/v1/audit?action=publication.publish").await;
    assert!(audit.to_string().contains(&id) && !audit.to_string().contains("<html"), "{audit}");
    let (s, _) =
        t.call(t.req(Method::PUT, &format!("/api/v1/publications/plan/{id}")).json(&json!({"public": false}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t.client.get(t.url(&url)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert!(page("/public/?lang=en").await.contains("No plan is published."));
}

/// An instance with its options' coverage given (a viewshed made elsewhere) and a pole that
/// holds `slots` cameras.
fn viewshed_instance(slots: u32) -> Value {
    json!({
        "name": "viewshed",
        "demand": [
            {"id": "gate", "lon": 25.3930, "lat": 42.6190, "weight": 3},
            {"id": "yard", "lon": 25.3936, "lat": 42.6190, "weight": 2},
            {"id": "lane", "lon": 25.3920, "lat": 42.6194, "weight": 1}
        ],
        "candidates": [
            {"id": "pole", "name": "Main square, pole 1", "lon": 25.3933, "lat": 42.6191, "cost": 100, "slots": slots},
            {"id": "wall", "lon": 25.3922, "lat": 42.6195, "cost": 100}
        ],
        "models": [{"id": "m", "hfov_deg": 90, "h_pixels": 1920, "cost": 400}],
        "options": [
            {"id": "pole-west", "candidate": "pole", "model": "m", "heading": 270, "covers": ["gate"]},
            {"id": "pole-east", "candidate": "pole", "model": "m", "heading": 90, "covers": ["yard"]},
            {"id": "wall-south", "candidate": "wall", "model": "m", "heading": 180, "cost": 900, "covers": ["lane"]}
        ],
        "budgets": [1000]
    })
}

both!(several_cameras_on_a_pole_and_options_with_their_coverage_are_planned_over_http);
async fn several_cameras_on_a_pole_and_options_with_their_coverage_are_planned_over_http(t: TestApp) {
    sites(&t).await;
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    let chosen = |done: &Value| -> Vec<String> {
        let mut v: Vec<String> = done["geojson"]["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["properties"]["option"].as_str().map(str::to_string))
            .collect();
        v.sort();
        v
    };
    // Two slots: both of the pole's cameras (the money buys two, the wall's is dearer).
    let id = start(&t, &sup, json!({"municipality": "kazanlak", "instance": viewshed_instance(2)})).await;
    let done = wait_done(&t, &sup, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(chosen(&done), ["pole-east", "pole-west"], "{}", done["geojson"]);
    let ph = &done["summary"]["phases"][0];
    assert_eq!(ph["covered_weight"], 5.0, "{ph}");
    assert!(ph["upper_bound"].as_f64().unwrap() >= 5.0 - 1e-9, "{ph}");
    // One slot: one camera there, the best one.
    let id = start(&t, &sup, json!({"municipality": "kazanlak", "instance": viewshed_instance(1)})).await;
    let done = wait_done(&t, &sup, &id).await;
    assert_eq!(chosen(&done), ["pole-west"], "{}", done["geojson"]);
    // Bad input names the field.
    let mut bad = viewshed_instance(2);
    bad["options"][1]["covers"] = json!(["yard", "nowhere"]);
    let (s, b) = t
        .call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"municipality": "kazanlak", "instance": bad})))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "options[pole-east].covers[1]", None);
    let mut bad = viewshed_instance(2);
    bad["options"][0]["candidate"] = json!("tower");
    let (s, b) = t
        .call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"municipality": "kazanlak", "instance": bad})))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "options[pole-west].candidate", None);
    let (s, b) = t
        .call(
            t.req_as(&sup, Method::POST, "/api/v1/plans")
                .json(&json!({"municipality": "kazanlak", "instance": viewshed_instance(0)})),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "candidates[pole].slots", None);
    // The registry form's slots.
    let (s, b) = t.call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"slots": 0}))).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "slots", None);
    let (s, b) = t.call(t.req_as(&sup, Method::POST, "/api/v1/plans").json(&json!({"slots": "two"}))).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "slots", None);
}
