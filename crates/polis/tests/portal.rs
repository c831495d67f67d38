//! The citizen portal in a real browser: `polis serve` with a published flood warning, a public
//! sensor and a public webcam; headless Chromium at a 375-pixel phone width (through
//! chromedriver) opens `/public/` with no account, and axe-core (installed from npm by
//! `scripts/lib/axe.sh`, injected into the page through WebDriver) finds no WCAG 2.1 A/AA
//! violation, in Bulgarian and in English. The page must fit the phone's width, set no cookie,
//! and load nothing from another origin.
//!
//! Needs Chromium and chromedriver: `POLIS_TEST_CHROMEDRIVER` (default `/usr/bin/chromedriver`)
//! and `POLIS_TEST_CHROMIUM` (default `/usr/bin/chromium`), and npm.

mod common;

use common::{free_port, Api, Proc, Serve};
use fantoccini::ClientBuilder;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN_PASSWORD: &str = "portal-test-Pa55word";

fn tool(var: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    assert!(path.is_file(), "{} not found: install chromium and chromium-driver or set {var}", path.display());
    path
}

fn axe_js() -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/axe.sh");
    let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().expect("run scripts/lib/axe.sh");
    assert!(out.status.success(), "installing axe-core failed");
    let path = String::from_utf8(out.stdout).expect("a path").trim().to_string();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

async fn set_up(api: &Api) {
    let (s, b) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/sensors",
            Some(json!({"id": "tundzha-1", "municipality": "kazanlak", "name": "Tundzha gauge", "kind": "water_level", "unit": "cm", "lat": 42.605, "lon": 25.39})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let now = time::OffsetDateTime::now_utc();
    let obs: Vec<Value> = (0..6)
        .map(|i| {
            let t = now - time::Duration::hours(5 - i);
            json!({"sensor": "tundzha-1", "time": t.format(&time::format_description::well_known::Rfc3339).unwrap(), "value": 300.0 + 25.0 * i as f64})
        })
        .collect();
    api.post("/api/v1/observations", json!(obs)).await;
    // A key site and a camera that sees it: the camera network's section has its tables.
    let (s, b) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/sites",
            Some(json!({"id": "bank-1", "municipality": "kazanlak", "name_bg": "Бряг на Тунджа", "name_en": "Tundzha bank",
                        "category": "river_bank", "sectors": ["disaster"], "priority": 1,
                        "geometry": {"type": "Polygon", "coordinates": [[[25.3895, 42.6045], [25.3905, 42.6045], [25.3905, 42.6052], [25.3895, 42.6045]]]}})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let (s, b) =
        api.call(reqwest::Method::PUT, "/api/v1/publications/sensor/tundzha-1", Some(json!({"public": true}))).await;
    assert!(s.is_success(), "{b}");
    let (s, b) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/users",
            Some(
                json!({"username": "duty", "password": "password-123", "role": "operator", "municipality": "kazanlak"}),
            ),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let duty = Api::login(&api.base, "duty", "password-123").await;
    let expires = (now + time::Duration::hours(6)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let w = duty
        .post(
            "/api/v1/warnings",
            json!({
                "municipality": "kazanlak", "event": "Flood", "urgency": "immediate", "severity": "severe", "certainty": "likely",
                "area": {"type": "Polygon", "coordinates": [[[25.38, 42.600], [25.41, 42.600], [25.41, 42.607], [25.38, 42.607], [25.38, 42.600]]]},
                "headline": {"bg": "Наводнение по Тунджа", "en": "Flood on the Tundzha"},
                "description": {"bg": "Нивото на реката расте.", "en": "The river is rising."},
                "instruction": {"bg": "Стойте далеч от брега.", "en": "Keep away from the banks."},
                "expires": expires,
            }),
        )
        .await;
    let id = w["id"].as_str().expect("an id");
    api.post(&format!("/api/v1/warnings/{id}/approve"), json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_is_accessible_on_a_phone_without_cookies_or_outside_requests() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromedriver = tool("POLIS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = tool("POLIS_TEST_CHROMIUM", "/usr/bin/chromium");
    let axe = axe_js();
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let port = free_port();
    let _server = Serve {
        data: &tmp.path().join("data"),
        port,
        admin_password: ADMIN_PASSWORD,
        log_level: "warn",
        log_file: Some(&tmp.path().join("polis.log")),
    }
    .start()
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let api = Api::login(&base, "admin", ADMIN_PASSWORD).await;
    let (s, b) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/organisations",
            Some(json!({"id": "kazanlak", "kind": "municipality", "name_bg": "Казанлък", "name_en": "Kazanlak"})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    set_up(&api).await;

    let driver_port = free_port();
    let _driver = Proc(
        Command::new(&chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver"),
    );
    let driver_url = format!("http://127.0.0.1:{driver_port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http.get(format!("{driver_url}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--window-size=375,812", format!("--user-data-dir={}", tmp.path().join("profile").display())],
            "mobileEmulation": {"deviceMetrics": {"width": 375, "height": 812, "pixelRatio": 2.0}},
        }),
    );
    let client =
        ClientBuilder::rustls().expect("rustls").capabilities(caps).connect(&driver_url).await.expect("a browser");
    let outcome = async {
        for (path, headline) in [("/public/", "Наводнение по Тунджа"), ("/public/?lang=en", "Flood on the Tundzha")] {
            client.goto(&format!("{base}{path}")).await.map_err(|e| e.to_string())?;
            let html = client.source().await.map_err(|e| e.to_string())?;
            if !html.contains(headline) {
                return Err(format!("{path}: the warning is not shown"));
            }
            // Everything folded is opened, so that axe checks it too (the key sites' table).
            let opened = client
                .execute("document.querySelectorAll('details').forEach((d) => (d.open = true)); return document.querySelectorAll('#network-h ~ details table tbody tr').length;", vec![])
                .await
                .map_err(|e| format!("opening the details: {e}"))?;
            if path.starts_with("/public/") && opened.as_u64().unwrap_or(0) == 0 {
                return Err(format!("{path}: no key site in the camera network's table"));
            }
            client.execute(&axe, vec![]).await.map_err(|e| format!("injecting axe: {e}"))?;
            let result = client
                .execute_async(
                    "const done = arguments[arguments.length - 1];\
                     axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})\
                        .then(r => done({violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,\
                                         nodes: v.nodes.map(n => n.target.join(' '))})), passes: r.passes.length}))\
                        .catch(e => done({error: String(e)}));",
                    vec![],
                )
                .await
                .map_err(|e| format!("running axe: {e}"))?;
            if result.get("error").is_some() {
                return Err(format!("{path}: axe failed: {result}"));
            }
            if result["violations"] != json!([]) {
                return Err(format!("{path}: WCAG 2.1 A/AA violations: {result}"));
            }
            if result["passes"].as_u64().unwrap_or(0) < 10 {
                return Err(format!("{path}: axe checked almost nothing: {result}"));
            }
            let facts = client
                .execute(
                    "return {width: document.documentElement.scrollWidth, viewport: window.innerWidth, cookie: document.cookie,\
                             foreign: performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin))};",
                    vec![],
                )
                .await
                .map_err(|e| e.to_string())?;
            if facts["viewport"].as_u64() != Some(375) || facts["width"].as_u64().unwrap_or(9999) > 375 {
                return Err(format!("{path}: does not fit a 375 px phone: {facts}"));
            }
            if facts["cookie"] != "" || facts["foreign"] != json!([]) {
                return Err(format!("{path}: cookies or outside requests: {facts}"));
            }
        }
        Ok::<(), String>(())
    }
    .await;
    let _ = client.close().await;
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
