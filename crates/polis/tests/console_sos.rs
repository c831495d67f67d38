//! An SOS wearer's safe zone in a real browser: a supervisor registers a device from the
//! console's "Units & SOS" panel and draws its safe zone with clicks on the map; the device then
//! reports a position inside the zone and one outside it (through the API, as its gateway
//! would), and the alarm appears in the supervisor's alarm queue under the device's label, never
//! the wearer's name. In the same panel a unit is created with its position picked on the map
//! (drawn there with its status) and a procedure's checklist is saved in two versions.
//! `polis serve` on a fresh database, chromedriver with headless Chromium.
//!
//! Needs Chromium and chromedriver: `POLIS_TEST_CHROMEDRIVER` (default `/usr/bin/chromedriver`)
//! and `POLIS_TEST_CHROMIUM` (default `/usr/bin/chromium`).

mod common;

use common::browser::{
    browser, click, click_map_px, count, start_chromedriver, tool, type_into, wait_css, wait_until, TestResult,
};

use common::{free_port, Api, Serve};
use fantoccini::Client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ADMIN_PASSWORD: &str = "console-sos-Pa55word";
const SUPERVISOR_PASSWORD: &str = "supervisor-Pa55word";
const CENTRE: (f64, f64) = (42.6185, 25.3935);

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// The text of the first element matching `css`, read in one step in the page (a list drawn anew
/// between finding an element and reading it cannot make it stale); empty when there is none.
async fn text_now(c: &Client, css: &str) -> TestResult<String> {
    let v =
        js(c, "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", vec![json!(css)]).await?;
    Ok(v.as_str().unwrap_or_default().to_string())
}

async fn js(c: &Client, script: &str, args: Vec<Value>) -> TestResult<Value> {
    c.execute(script, args).await.map_err(|e| format!("script failed: {e}\n{script}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_zone_drawn_in_the_console_raises_an_alarm_when_its_wearer_leaves_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromedriver = tool("POLIS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver");
    let chromium = tool("POLIS_TEST_CHROMIUM", "/usr/bin/chromium", "Chromium");
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = tmp.path().join("polis.log");
    let data = tmp.path().join("data");
    let serve = Serve { data: &data, port, admin_password: ADMIN_PASSWORD, log_level: "info", log_file: Some(&log) };
    let _server = serve.start().await;
    let api = Api::login(&base, "admin", ADMIN_PASSWORD).await;
    api.post(
        "/api/v1/organisations",
        json!({"id": "kazanlak", "kind": "municipality", "name_en": "Kazanlak", "name_bg": "Казанлък"}),
    )
    .await;
    api.post(
        "/api/v1/organisations",
        json!({"id": "kz-police", "kind": "agency", "agency_kind": "police", "name_en": "Kazanlak police",
               "name_bg": "Полиция Казанлък", "municipality": "kazanlak"}),
    )
    .await;
    api.post(
        "/api/v1/users",
        json!({"username": "sara", "password": SUPERVISOR_PASSWORD, "role": "supervisor", "municipality": "kazanlak"}),
    )
    .await;

    let (driver_proc, driver) = start_chromedriver(&chromedriver, tmp.path()).await;
    let c = browser(&driver, &tmp.path().join("profile"), &chromium).await;
    let outcome = tokio::time::timeout(Duration::from_secs(90), scenario(&c, &base, &api))
        .await
        .unwrap_or_else(|_| Err("the scenario took more than 90 s".into()));
    if outcome.is_err() {
        if let Ok(png) = c.screenshot().await {
            let keep = std::env::temp_dir().join("polis-console-sos-failure.png");
            if std::fs::write(&keep, png).is_ok() {
                eprintln!("screenshot: {}", keep.display());
            }
        }
        eprintln!("---- polis log ----\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    }
    let _ = c.close().await;
    drop(driver_proc);
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

async fn scenario(c: &Client, base: &str, api: &Api) -> TestResult {
    c.goto(&format!("{base}/")).await.map_err(|e| format!("opening the console: {e}"))?;
    wait_css(c, "#login-form", Duration::from_secs(15)).await?;
    type_into(c, "#username", "sara").await?;
    type_into(c, "#password", SUPERVISOR_PASSWORD).await?;
    click(c, "#login-submit").await?;
    wait_css(c, "body[data-ready=\"1\"]", Duration::from_secs(30)).await?;
    wait_css(c, "#live-state[data-live=\"on\"]", Duration::from_secs(15)).await?;
    js(
        c,
        "window.polisMap.setView(arguments[0], arguments[1], 16); return true;",
        vec![json!(CENTRE.0), json!(CENTRE.1)],
    )
    .await?;

    // A new device: label, wearer, check-in left empty.
    wait_css(c, "#open-units:not([hidden])", Duration::from_secs(10)).await?;
    click(c, "#open-units").await?;
    click(c, "#units-dialog button[data-tab=sos]").await?;
    click(c, ".units-new-device").await?;
    type_into(c, "#units-f-sos-id", "tracker-9").await?;
    type_into(c, "#units-f-sos-label", "tracker 9").await?;
    type_into(c, "#units-f-sos-name", "Стоян Колев").await?;

    // Its safe zone: four clicks on the map around the centre.
    click(c, ".units-add-zone").await?;
    wait_css(c, "#units-draw-bar:not([hidden])", Duration::from_secs(5)).await?;
    ensure!(count(c, "#units-dialog[open]").await? == 0, "the panel hides the map while drawing");
    let size =
        js(c, "const r = document.getElementById('map').getBoundingClientRect(); return [r.width, r.height];", vec![])
            .await?;
    let (w, h) = (size[0].as_f64().unwrap_or(800.0), size[1].as_f64().unwrap_or(600.0));
    let corners = [(w * 0.42, h * 0.40), (w * 0.58, h * 0.40), (w * 0.58, h * 0.60), (w * 0.42, h * 0.60)];
    let mut drawn = Vec::new();
    for (x, y) in corners {
        let p =
            js(c, "return window.polisMap.unproject(arguments[0], arguments[1]);", vec![json!(x), json!(y)]).await?;
        drawn.push((p["lat"].as_f64().unwrap_or(0.0), p["lon"].as_f64().unwrap_or(0.0)));
        click_map_px(c, x, y).await?;
    }
    wait_until("the four corners drawn", Duration::from_secs(5), || async move {
        Ok(count(c, ".layer-units .warn-vertex").await? == 4)
    })
    .await?;
    ensure!(count(c, "#seeing-panel:not([hidden])").await? == 0, "a corner's click also looked for cameras");
    click(c, ".units-draw-finish").await?;
    wait_css(c, "#units-dialog[open] .units-zone[data-zone=\"0\"]", Duration::from_secs(5)).await?;
    let corners_text = text_now(c, ".units-zone-corners").await?;
    ensure!(corners_text.contains("4 corners"), "the drawn zone is not in the form: {corners_text:?}");
    type_into(c, "#units-f-zone-0", "home").await?;
    click(c, ".units-sos-form .units-save").await?;
    wait_css(c, ".sos-item[data-device=\"tracker-9\"]", Duration::from_secs(10)).await?;

    // The device as stored: the zone where it was clicked.
    let (_, devices) = api.call(reqwest::Method::GET, "/api/v1/sos/devices", None).await;
    let zone = devices[0]["safe_zones"][0]["zone"].as_array().cloned().unwrap_or_default();
    ensure!(zone.len() == 4, "the stored zone has {} corners: {devices}", zone.len());
    for (i, (lat, lon)) in drawn.iter().enumerate() {
        let got = (zone[i][1].as_f64().unwrap_or(0.0), zone[i][0].as_f64().unwrap_or(0.0));
        ensure!(
            (got.0 - lat).abs() < 5e-5 && (got.1 - lon).abs() < 5e-5,
            "corner {i} is {got:?}, clicked {lat}, {lon}"
        );
    }
    ensure!(devices[0]["safe_zones"][0]["name"] == "home", "{devices}");
    click(c, "#units-dialog .units-close").await?;

    // The device reports: inside, then well outside (north of the zone's top edge).
    let report = |lat: f64, lon: f64| {
        api.call(
            reqwest::Method::POST,
            "/api/v1/sos/devices/tracker-9/positions",
            Some(json!({"lat": lat, "lon": lon})),
        )
    };
    let (s, b) = report(CENTRE.0, CENTRE.1).await;
    ensure!(s.is_success() && b["alarms_changed"] == 0, "inside: {s} {b}");
    let north = drawn[0].0 + (drawn[0].0 - drawn[3].0);
    let (s, b) = report(north, CENTRE.1).await;
    ensure!(s.is_success() && b["alarms_changed"] == 1, "outside: {s} {b}");

    // The alarm in the queue, under the device's label.
    let item = "#alarm-queue .alarm-item[data-source=\"tracker-9.tracker\"]";
    wait_css(c, item, Duration::from_secs(10)).await?;
    let source = format!("{item} .alarm-source");
    let start = Instant::now();
    let label = loop {
        let label = text_now(c, &source).await?;
        if label == "tracker 9" || start.elapsed() > Duration::from_secs(10) {
            break label;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(label == "tracker 9", "the alarm is labelled {label:?}, not by the device's label");
    let text = text_now(c, item).await?;
    ensure!(text.contains("home"), "the alarm does not say which zone was left: {text:?}");
    ensure!(!text.contains("Стоян"), "the alarm shows the wearer: {text:?}");
    units_and_procedures(c, api).await
}

/// A unit created with its position picked on the map is drawn there with its status; a
/// procedure's checklist edited twice has two versions.
async fn units_and_procedures(c: &Client, api: &Api) -> TestResult {
    click(c, "#open-units").await?;
    click(c, "#units-dialog button[data-tab=units]").await?;
    click(c, ".units-new-unit").await?;
    type_into(c, "#units-f-id", "patrol-7").await?;
    type_into(c, "#units-f-name", "Patrol 7").await?;
    click(c, ".units-pick").await?;
    wait_css(c, "#units-draw-bar:not([hidden])", Duration::from_secs(5)).await?;
    let size =
        js(c, "const r = document.getElementById('map').getBoundingClientRect(); return [r.width, r.height];", vec![])
            .await?;
    let (w, h) = (size[0].as_f64().unwrap_or(800.0), size[1].as_f64().unwrap_or(600.0));
    let p =
        js(c, "return window.polisMap.unproject(arguments[0], arguments[1]);", vec![json!(w * 0.3), json!(h * 0.5)])
            .await?;
    click_map_px(c, w * 0.3, h * 0.5).await?;
    wait_css(c, "#units-dialog[open] .units-unit-form", Duration::from_secs(5)).await?;
    click(c, ".units-unit-form .units-save").await?;
    wait_css(c, ".unit-item[data-unit=\"patrol-7\"]", Duration::from_secs(10)).await?;
    let (_, units) = api.call(reqwest::Method::GET, "/api/v1/units", None).await;
    let u = units.as_array().and_then(|l| l.iter().find(|u| u["id"] == "patrol-7")).cloned().unwrap_or_default();
    ensure!(u["agency"] == "kz-police" && u["status"] == "available", "{u}");
    let (lat, lon) = (u["lat"].as_f64().unwrap_or(0.0), u["lon"].as_f64().unwrap_or(0.0));
    let (want_lat, want_lon) = (p["lat"].as_f64().unwrap_or(0.0), p["lon"].as_f64().unwrap_or(0.0));
    ensure!((lat - want_lat).abs() < 5e-5 && (lon - want_lon).abs() < 5e-5, "the unit is at {lat}, {lon}: {u}");
    // Dispatched from elsewhere: the map shows its new status.
    let (s, b) =
        api.call(reqwest::Method::POST, "/api/v1/units/patrol-7/report", Some(json!({"status": "dispatched"}))).await;
    ensure!(s.is_success(), "{s} {b}");
    click(c, "#units-dialog button[data-tab=procedures]").await?;
    wait_css(c, ".layer-units .unit-marker[data-unit=\"patrol-7\"]", Duration::from_secs(5)).await?;

    // A checklist for fires, then a second version with one more step.
    click(c, ".units-new-procedure").await?;
    let fire = "#units-f-type";
    js(
        c,
        "const s = document.querySelector(arguments[0]); s.value = 'fire'; s.dispatchEvent(new Event('change')); return true;",
        vec![json!(fire)],
    )
    .await?;
    type_into(c, "#units-f-title", "Fire").await?;
    type_into(c, ".units-item[data-index=\"0\"]", "Call the fire service").await?;
    click(c, ".units-procedure-form .units-save").await?;
    wait_css(c, ".procedure-item[data-type=fire]", Duration::from_secs(10)).await?;
    click(c, ".procedure-item[data-type=fire] .units-edit-procedure").await?;
    click(c, ".units-add-item").await?;
    type_into(c, ".units-item[data-index=\"1\"]", "Close the street").await?;
    click(c, ".units-procedure-form .units-save").await?;
    wait_until("version 2", Duration::from_secs(10), || async move {
        Ok(text_now(c, ".procedure-item[data-type=fire] .procedure-version").await?.contains('2'))
    })
    .await?;
    let (_, list) = api.call(reqwest::Method::GET, "/api/v1/procedures", None).await;
    let fire = list.as_array().and_then(|l| l.iter().find(|p| p["type"] == "fire")).cloned().unwrap_or_default();
    ensure!(fire["items"] == json!(["Call the fire service", "Close the street"]) && fire["version"] == 2, "{fire}");
    // The unit's marker shows the status it was given.
    wait_css(c, ".layer-units .unit-marker.unit-status-dispatched[data-unit=\"patrol-7\"]", Duration::from_secs(35))
        .await
}
