//! The registry through the API: create, read, update, delete, import and export, geo queries.

use crate::both;
use crate::harness::{assert_error, camera, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const LAT: f64 = 42.619;
const LON: f64 = 25.393;

both!(camera_crud_round_trip_and_audit);
async fn camera_crud_round_trip_and_audit(t: TestApp) {
    let (s, b) = t.post("/api/v1/cameras", camera("gate-1", LAT, LON, 90.0)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["id"], "gate-1");
    assert_eq!(b["stream_url"], "rtsp://10.1.1.1/gate-1");
    assert_eq!(b["has_credentials"], true);

    // Created without an id: one is generated.
    let mut anon = camera("x", LAT, LON, 0.0);
    anon.as_object_mut().unwrap().remove("id");
    let (s, b) = t.post("/api/v1/cameras", anon).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let generated = b["id"].as_str().unwrap().to_string();
    assert!(generated.starts_with("cam-"));

    let (s, list) = t.get("/api/v1/cameras").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["type"], "FeatureCollection");
    let f = list["features"].as_array().unwrap().iter().find(|f| f["properties"]["id"] == "gate-1").unwrap().clone();
    assert_eq!(f["geometry"]["coordinates"], json!([LON, LAT]));
    assert_eq!(f["properties"]["fov_deg"], 60.0);
    assert_eq!(f["properties"]["kind"], "fixed");

    let (s, b) = t
        .call(t.req(Method::PATCH, "/api/v1/cameras/gate-1").json(&json!({"heading_deg": 180.0, "name": "Gate south"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["heading_deg"], 180.0);
    assert_eq!(b["has_credentials"], true, "a patch that does not touch the stream keeps its credentials");
    let (_, b) = t.get("/api/v1/cameras/gate-1").await;
    assert_eq!(b["name"], "Gate south");

    let (s, _) = t.call(t.req(Method::DELETE, &format!("/api/v1/cameras/{generated}"))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = t.get(&format!("/api/v1/cameras/{generated}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(b["error"]["code"], "not_found");

    let (s, audit) = t.get("/api/v1/audit?limit=10").await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(&actions[..4], &["camera.delete", "camera.update", "camera.create", "camera.create"]);
    let update = &audit[1];
    assert_eq!(update["actor"], "admin");
    assert_eq!(update["entity_id"], "gate-1");
    assert!(update["before"].is_object() && update["after"].is_object(), "{update}");
    assert!(!audit.to_string().contains("pa55word"), "a secret reached the audit log");
}

both!(who_sees_this_point_is_ordered_by_distance);
async fn who_sees_this_point_is_ordered_by_distance(t: TestApp) {
    // Three cameras west of a point, looking east at it, at 30, 60 and 90 m; one looking away;
    // one PTZ 100 m east (sees all around).
    let dlon = 1.0 / (111_320.0 * (LAT.to_radians()).cos());
    for (id, metres, heading) in
        [("c-near", 30.0, 90.0), ("c-mid", 60.0, 90.0), ("c-far", 90.0, 90.0), ("c-away", 20.0, 270.0)]
    {
        let (s, b) = t.post("/api/v1/cameras", camera(id, LAT, LON - metres * dlon, heading)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let mut ptz = camera("ptz", LAT, LON + 100.0 * dlon, 0.0);
    ptz["kind"] = json!("ptz");
    ptz["fov_deg"] = json!(60.0);
    assert_eq!(t.post("/api/v1/cameras", ptz).await.0, StatusCode::CREATED);

    let (s, b) = t.get(&format!("/api/v1/cameras/seeing?lat={LAT}&lon={LON}&limit=10")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let ids: Vec<&str> =
        b["features"].as_array().unwrap().iter().map(|f| f["properties"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["c-near", "c-mid", "c-far", "ptz"]);
    let d: Vec<f64> =
        b["features"].as_array().unwrap().iter().map(|f| f["properties"]["distance_m"].as_f64().unwrap()).collect();
    assert!((d[0] - 30.0).abs() < 1.0 && (d[3] - 100.0).abs() < 1.0, "{d:?}");

    // A planned camera sees nothing yet; set back to active, it does.
    let (s, _) = t.call(t.req(Method::PATCH, "/api/v1/cameras/c-near").json(&json!({"status": "planned"}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, b) = t.get(&format!("/api/v1/cameras/seeing?lat={LAT}&lon={LON}")).await;
    assert_eq!(b["features"][0]["properties"]["id"], "c-mid");
    t.call(t.req(Method::PATCH, "/api/v1/cameras/c-near").json(&json!({"status": "active"}))).await;

    let (_, b) = t.get(&format!("/api/v1/cameras/seeing?lat={LAT}&lon={LON}&limit=2")).await;
    assert_eq!(b["features"].as_array().unwrap().len(), 2);

    let (_, b) = t.get(&format!("/api/v1/cameras/near?lat={LAT}&lon={LON}&radius_m=50")).await;
    let ids: Vec<&str> =
        b["features"].as_array().unwrap().iter().map(|f| f["properties"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["c-away", "c-near"]);

    let (s, b) = t.get("/api/v1/cameras/seeing?lat=91&lon=25").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "lat", None);
    let (s, b) = t.get("/api/v1/cameras/seeing?lat=abc&lon=25").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "lat", None);
}

both!(bad_camera_fields_are_named_and_nothing_is_written);
async fn bad_camera_fields_are_named_and_nothing_is_written(t: TestApp) {
    let cases = [
        ("lat", json!(91.0)),
        ("lat", json!(-90.5)),
        ("fov_deg", json!(0.0)),
        ("fov_deg", json!(361.0)),
        ("range_m", json!(-1.0)),
        ("kind", json!("drone")),
        ("lon", json!("east")),
    ];
    for (field, value) in cases {
        let mut body = camera("bad", LAT, LON, 10.0);
        body[field] = value.clone();
        let (s, b) = t.post("/api/v1/cameras", body).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, field, None);
    }
    let (s, b) = t
        .call(t.req(Method::POST, "/api/v1/cameras").header("content-type", "application/json").body("{\"name\": "))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "body", None);
    assert_eq!(t.count("/api/v1/cameras").await, 0);

    assert_eq!(t.post("/api/v1/cameras", camera("dup", LAT, LON, 1.0)).await.0, StatusCode::CREATED);
    let (s, b) = t.post("/api/v1/cameras", camera("dup", LAT, LON, 1.0)).await;
    assert_error(s, &b, StatusCode::CONFLICT, "id", Some(0));
    assert_eq!(t.count("/api/v1/cameras").await, 1);
}

both!(csv_import_is_all_or_nothing_and_reports_every_bad_row);
async fn csv_import_is_all_or_nothing_and_reports_every_bad_row(t: TestApp) {
    let header = "id,name,lat,lon,heading_deg,fov_deg,range_m,kind,mount_height_m,stream_url\n";
    let good =
        "c1,One,42.62,25.39,90,60,120,fixed,6,rtsp://u:secret@10.0.0.1/1\nc2,Two,42.621,25.391,180,90,80,ptz,8,\n";
    let bad = format!("{header}{good}c3,Three,95,25.39,90,60,100,fixed,6,\nc4,Four,42.6,25.39,90,400,100,fixed,6,\nc1,Dup,42.6,25.39,90,60,100,fixed,6,\n");
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?municipality=kazanlak")
                .header("content-type", "text/csv")
                .body(bad),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "lat", Some(4));
    assert_error(s, &b, StatusCode::BAD_REQUEST, "fov_deg", Some(5));
    assert_eq!(t.count("/api/v1/cameras").await, 0, "a failed import wrote something");

    // A duplicate id inside the file: found at its line too.
    let dup = format!("{header}{good}c1,Dup,42.6,25.39,90,60,100,fixed,6,\n");
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?municipality=kazanlak")
                .header("content-type", "text/csv")
                .body(dup),
        )
        .await;
    assert_eq!(s.as_u16() / 100, 4, "{b}");
    assert!(b["error"]["details"].as_array().unwrap().iter().any(|d| d["field"] == "id"), "{b}");
    assert_eq!(t.count("/api/v1/cameras").await, 0);

    let ragged = format!("{header}c9,Nine,42.6\n");
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?municipality=kazanlak")
                .header("content-type", "text/csv")
                .body(ragged),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "row", Some(2));

    // The wizard's check: every bad row named, and nothing written; a good file is counted.
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?municipality=kazanlak&dry_run=true")
                .header("content-type", "text/csv")
                .body(format!("{header}{good}c3,Three,95,25.39,90,60,100,fixed,6,\n")),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "lat", Some(4));
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?municipality=kazanlak&dry_run=true")
                .header("content-type", "text/csv")
                .body(format!("{header}{good}")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["checked"].as_u64(), b["imported"].as_u64()), (Some(2), Some(0)), "{b}");
    assert_eq!(t.count("/api/v1/cameras").await, 0, "a dry run wrote something");
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?dry_run=yes")
                .header("content-type", "text/csv")
                .body(format!("{header}{good}")),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "dry_run", None);

    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?municipality=kazanlak")
                .header("content-type", "text/csv")
                .body(format!("{header}{good}")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["imported"], 2);
    let (_, audit) = t.get("/api/v1/audit?limit=1").await;
    assert_eq!(audit[0]["action"], "camera.import");
    assert_eq!(audit[0]["actor"], "admin");
    assert_eq!(audit[0]["after"], json!({"count": 2, "ids": ["c1", "c2"]}));

    // Export: CSV without credentials, importable again.
    let r = t.send(t.req(Method::GET, "/api/v1/export/cameras.csv")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("id,municipality,name,name_en,lat,lon"), "{csv}");
    assert!(csv.contains("rtsp://10.0.0.1/1") && !csv.contains("secret"), "{csv}");

    // Importing the same ids again conflicts and names the row.
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?municipality=kazanlak")
                .header("content-type", "text/csv")
                .body(format!("{header}{good}")),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "id", Some(2));
}

both!(geojson_import_of_cameras_sites_and_sensors);
async fn geojson_import_of_cameras_sites_and_sensors(t: TestApp) {
    let cams = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.393, 42.619]},
         "properties": {"id": "g1", "name": "Square", "heading_deg": 45, "fov_deg": 70, "range_m": 100, "kind": "fixed", "mount_height_m": 7}},
        {"type": "Feature", "id": "g2", "geometry": {"type": "Point", "coordinates": [25.395, 42.620]},
         "properties": {"name": "Crossroads", "fov_deg": 360, "range_m": 150, "kind": "ptz"}}
    ]});
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?municipality=kazanlak")
                .header("content-type", "application/geo+json")
                .body(cams.to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["imported"], 2);
    let (_, g2) = t.get("/api/v1/cameras/g2").await;
    assert_eq!(g2["kind"], "ptz");

    let bad_site = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.39, 42.62]},
         "properties": {"id": "s-ok", "name_en": "School", "category": "school", "sectors": ["safety"], "priority": 1}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.39, 42.62]},
         "properties": {"id": "s-bad", "name_en": "Port", "category": "spaceport", "sectors": ["safety"], "priority": 9}}
    ]});
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/sites?municipality=kazanlak")
                .header("content-type", "application/geo+json")
                .body(bad_site.to_string()),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "category", Some(1));
    assert_error(s, &b, StatusCode::BAD_REQUEST, "priority", Some(1));
    assert_eq!(t.count("/api/v1/sites").await, 0);

    let sites = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.3935, 42.6192]},
         "properties": {"id": "school-1", "name_bg": "Училище", "name_en": "School", "category": "school", "sectors": ["safety", "transport"], "priority": 1}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[25.394, 42.6195], [25.396, 42.6195], [25.396, 42.6205], [25.394, 42.6205], [25.394, 42.6195]]]},
         "properties": {"id": "park-1", "name_en": "Park", "category": "park", "sectors": "tourism;safety", "priority": 3}}
    ]});
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/sites?municipality=kazanlak")
                .header("content-type", "application/geo+json")
                .body(sites.to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, list) = t.get("/api/v1/sites").await;
    let park = list["features"].as_array().unwrap().iter().find(|f| f["id"] == "park-1").unwrap();
    assert_eq!(park["geometry"]["type"], "Polygon");
    assert_eq!(park["properties"]["sectors"], json!(["tourism", "safety"]));
    assert_eq!(park["properties"]["category"], "park");
    assert_eq!(park["properties"]["priority"], 3);

    // Which cameras see the park (g2, a PTZ 150 m around, reaches it); sites near a point;
    // sites inside a polygon.
    let (s, b) = t.get("/api/v1/sites/park-1/cameras").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["features"].as_array().unwrap().iter().any(|f| f["id"] == "g2"), "{b}");
    let (_, b) = t.get("/api/v1/sites/near?lat=42.6192&lon=25.3935&radius_m=20").await;
    let ids: Vec<&Value> = b["features"].as_array().unwrap().iter().map(|f| &f["id"]).collect();
    assert_eq!(ids, vec!["school-1"]);
    let poly = json!({"type": "Polygon", "coordinates": [[[25.3950, 42.6190], [25.3990, 42.6190], [25.3990, 42.6230], [25.3950, 42.6230], [25.3950, 42.6190]]]});
    let (s, b) = t.post("/api/v1/sites/within", poly).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let ids: Vec<&Value> = b["features"].as_array().unwrap().iter().map(|f| &f["id"]).collect();
    assert_eq!(ids, vec!["park-1"]);

    let sensors =
        "id,name,kind,unit,lat,lon\nw1,Tundzha gauge,water_level,cm,42.605,25.39\nr1,Rain,rain,mm,42.62,25.40\n";
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/sensors?municipality=kazanlak")
                .header("content-type", "text/csv")
                .body(sensors),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, b) = t.get("/api/v1/sensors").await;
    assert_eq!(b["features"][0]["properties"]["kind"], "rain");
    assert_eq!(b["features"][1]["properties"]["unit"], "cm");
    let (_, b) = t.get("/api/v1/sensors/near?lat=42.605&lon=25.39&radius_m=100").await;
    assert_eq!(b["features"].as_array().unwrap().len(), 1);

    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/sites?municipality=kazanlak")
                .header("content-type", "application/geo+json")
                .body("[1, 2"),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "body", None);
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?municipality=kazanlak")
                .header("content-type", "application/xml")
                .body("<x/>"),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "content-type", None);
}

both!(the_registry_survives_a_restart);
async fn the_registry_survives_a_restart(t: TestApp) {
    assert_eq!(t.post("/api/v1/cameras", camera("keep", LAT, LON, 1.0)).await.0, StatusCode::CREATED);
    // A second application on the same store sees what the first acknowledged.
    let again =
        polis_core::App::open(t.app.store().clone(), std::sync::Arc::new(polis_base::SystemClock)).await.unwrap();
    let cams: Vec<polis_domain::Camera> = again.list(&polis_domain::Actor::system()).await.unwrap();
    assert_eq!(cams.len(), 1);
    assert_eq!(cams[0].stream.as_ref().unwrap().password.as_ref().unwrap().expose(), "pa55word");
}
