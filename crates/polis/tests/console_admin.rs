//! Administration in a real browser: an administrator disables an operator from the console
//! while the operator's console is open in another browser; the operator's console is signed out
//! at once and signing in again says the account is disabled; the administrator re-enables them
//! and finds both changes by searching the audit log. `polis serve` on a fresh database,
//! chromedriver with two headless Chromium sessions.
//!
//! A second test turns a PTZ camera from the console: an operator opens an incident and clicks
//! "Turn to the incident" beside its PTZ camera, a virtual ONVIF camera (ipycam) that then
//! reports the pan the geometry says; the camera's PTZ panel saves a preset on it.
//!
//! Needs Chromium and chromedriver: `POLIS_TEST_CHROMEDRIVER` (default `/usr/bin/chromedriver`)
//! and `POLIS_TEST_CHROMIUM` (default `/usr/bin/chromium`).

mod common;

use common::browser::{
    browser, click, click_map_px, count, start_chromedriver, tool, type_into, wait_css, wait_until, TestResult,
};

use common::ipycam::Ipycam;
use common::{free_port, Api, Proc, Serve};
use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ADMIN_PASSWORD: &str = "console-admin-Pa55word";
const OPERATOR_PASSWORD: &str = "operator-Pa55word";

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

async fn text_of(c: &Client, css: &str) -> TestResult<String> {
    let e = c.find(Locator::Css(css)).await.map_err(|e| format!("no {css}: {e}"))?;
    e.text().await.map_err(|e| format!("text of {css}: {e}"))
}

async fn sign_in(c: &Client, base: &str, username: &str, password: &str) -> TestResult {
    c.goto(&format!("{base}/")).await.map_err(|e| format!("opening the console: {e}"))?;
    wait_css(c, "#login-form", Duration::from_secs(15)).await?;
    type_into(c, "#username", username).await?;
    type_into(c, "#password", password).await?;
    click(c, "#login-submit").await
}

/// `polis serve` on a fresh database in `dir` with the municipality of Kazanlak; the server, its
/// address, the administrator's API client and the server's log file.
async fn start_polis(dir: &Path) -> (Proc, String, Api, PathBuf) {
    start_polis_with(dir, &[]).await
}

/// `polis serve` on an empty database in `dir`: nothing but its first administrator.
async fn start_polis_empty(dir: &Path, extra: &[String]) -> (Proc, String, Api, PathBuf) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.join("polis.log");
    let data = dir.join("data");
    let serve = Serve { data: &data, port, admin_password: ADMIN_PASSWORD, log_level: "info", log_file: Some(&log) };
    let server = serve.start_with(extra).await;
    let api = Api::login(&base, "admin", ADMIN_PASSWORD).await;
    (server, base, api, log)
}

/// [`start_polis`] with more arguments for `polis serve`.
async fn start_polis_with(dir: &Path, extra: &[String]) -> (Proc, String, Api, PathBuf) {
    let (server, base, api, log) = start_polis_empty(dir, extra).await;
    api.post(
        "/api/v1/organisations",
        json!({"id": "kazanlak", "kind": "municipality", "name_en": "Kazanlak", "name_bg": "Казанлък"}),
    )
    .await;
    (server, base, api, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_disabled_from_the_console_is_signed_out_of_theirs() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromedriver = tool("POLIS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver");
    let chromium = tool("POLIS_TEST_CHROMIUM", "/usr/bin/chromium", "Chromium");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_server, base, api, log) = start_polis(tmp.path()).await;
    api.post(
        "/api/v1/users",
        json!({"username": "ana", "password": OPERATOR_PASSWORD, "role": "operator", "municipality": "kazanlak"}),
    )
    .await;

    let (driver_proc, driver) = start_chromedriver(&chromedriver, tmp.path()).await;
    let operator = browser(&driver, &tmp.path().join("operator-profile"), &chromium).await;
    let admin = browser(&driver, &tmp.path().join("admin-profile"), &chromium).await;

    let outcome = tokio::time::timeout(Duration::from_secs(150), scenario(&operator, &admin, &base, &api))
        .await
        .unwrap_or_else(|_| Err("the scenario took more than 150 s".into()));
    if outcome.is_err() {
        for (name, c) in [("operator", &operator), ("admin", &admin)] {
            if let Ok(png) = c.screenshot().await {
                let keep = std::env::temp_dir().join(format!("polis-console-admin-{name}-failure.png"));
                if std::fs::write(&keep, png).is_ok() {
                    eprintln!("screenshot: {}", keep.display());
                }
            }
        }
        eprintln!("---- polis log ----\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    }
    let _ = operator.close().await;
    let _ = admin.close().await;
    drop(driver_proc);
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

async fn scenario(operator: &Client, admin: &Client, base: &str, api: &Api) -> TestResult {
    // The operator works, their live stream connected.
    sign_in(operator, base, "ana", OPERATOR_PASSWORD).await?;
    wait_css(operator, "body[data-ready]", Duration::from_secs(30)).await?;
    wait_css(operator, "#live-state[data-live=on]", Duration::from_secs(20)).await?;
    ensure!(count(operator, "#open-admin:not([hidden])").await? == 0, "an operator sees the administration button");

    // The administrator opens the users, and cannot disable themselves.
    sign_in(admin, base, "admin", ADMIN_PASSWORD).await?;
    wait_css(admin, "body[data-ready]", Duration::from_secs(30)).await?;
    wait_css(admin, "#open-admin:not([hidden])", Duration::from_secs(10)).await?;
    click(admin, "#open-admin").await?;
    wait_css(admin, "#admin-users tr[data-username=ana]", Duration::from_secs(10)).await?;
    ensure!(
        count(admin, "#admin-users tr[data-username=admin] button[data-action=disable][disabled]").await? == 1,
        "the administrator's own disable button is not disabled"
    );

    // Disable: the operator's console is signed out at once, saying the session ended.
    click(admin, "#admin-users tr[data-username=ana] button[data-action=disable]").await?;
    wait_css(admin, "#admin-users tr[data-username=ana][data-disabled='1']", Duration::from_secs(10)).await?;
    wait_until("the operator's console to sign out", Duration::from_secs(15), || async {
        let shown = operator.find(Locator::Css("#login-view")).await.map_err(|e| e.to_string())?;
        Ok(shown.is_displayed().await.unwrap_or(false))
    })
    .await?;
    let msg = text_of(operator, "#login-error").await?;
    ensure!(msg.contains("session has ended"), "the operator was told {msg:?}");

    // Signing in again is refused, saying the account is disabled.
    type_into(operator, "#username", "ana").await?;
    type_into(operator, "#password", OPERATOR_PASSWORD).await?;
    click(operator, "#login-submit").await?;
    wait_until("the disabled message", Duration::from_secs(10), || async {
        Ok(text_of(operator, "#login-error").await.unwrap_or_default().contains("disabled"))
    })
    .await?;
    ensure!(count(operator, "body[data-ready]").await? == 0, "a disabled operator got a console");

    // Re-enabled from the console: they sign in again.
    click(admin, "#admin-users tr[data-username=ana] button[data-action=enable]").await?;
    wait_css(admin, "#admin-users tr[data-username=ana][data-disabled='0']", Duration::from_secs(10)).await?;
    click(operator, "#login-submit").await?;
    wait_css(operator, "body[data-ready]", Duration::from_secs(30)).await?;

    // Both changes are found in the audit log, searched from the console.
    click(admin, "button[data-tab=audit]").await?;
    wait_css(admin, "#admin-audit-form", Duration::from_secs(5)).await?;
    type_into(admin, "input[name=audit-action]", "user").await?;
    type_into(admin, "input[name=audit-actor]", "admin").await?;
    click(admin, "#admin-audit-form button[type=submit]").await?;
    wait_css(admin, "#admin-audit tbody tr", Duration::from_secs(10)).await?;
    let rows = admin
        .execute(
            "return Array.from(document.querySelectorAll('#admin-audit tbody tr')).map(r => r.children[2].textContent);",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    let actions: Vec<&str> = rows.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    ensure!(
        actions.first() == Some(&"user.enable") && actions.get(1) == Some(&"user.disable"),
        "audit rows: {actions:?}"
    );
    let (_, users) = api.call(reqwest::Method::GET, "/api/v1/users", None).await;
    ensure!(
        users.as_array().is_some_and(|u| u.iter().any(|u| u["username"] == "ana" && u["disabled"] == false)),
        "{users}"
    );
    Ok(())
}

const CAMERA_PASSWORD: &str = "Cam-S3cret-77";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_turns_a_ptz_camera_to_an_incident_from_the_console() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromedriver = tool("POLIS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver");
    let chromium = tool("POLIS_TEST_CHROMIUM", "/usr/bin/chromium", "Chromium");
    let cam = Ipycam::start("Rose Square PTZ", "onvif", CAMERA_PASSWORD).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    // Cameras nobody watches are checked every 2 s here (5 minutes by default).
    // And an offline basemap: an MBTiles file of the town's tiles at zoom 14, made here.
    let tiles = tmp.path().join("kazanlak.mbtiles");
    make_mbtiles(&tiles, 14, 42.619, 25.393);
    let config = tmp.path().join("polis.toml");
    let toml = format!("tiles = \"{}\"\n[video]\nprobe_interval_seconds = 2\n", tiles.display());
    std::fs::write(&config, toml).expect("polis.toml");
    let (_server, base, api, log) =
        start_polis_with(tmp.path(), &["--config".to_string(), config.display().to_string()]).await;
    // A camera whose address does not answer, recorded by nobody.
    api.post(
        "/api/v1/cameras",
        json!({"id": "dead-cam", "municipality": "kazanlak", "name": "Gate camera", "lat": 42.6195,
               "lon": 25.3930, "heading_deg": 90, "fov_deg": 60, "range_m": 80, "kind": "fixed", "mount_height_m": 5,
               "stream_url": format!("rtsp://viewer:Secret-pw1@127.0.0.1:{}/main", free_port())}),
    )
    .await;
    api.post(
        "/api/v1/cameras",
        json!({"id": "rose-ptz", "municipality": "kazanlak", "name": "Rose Square PTZ", "lat": 42.6191,
               "lon": 25.3936, "heading_deg": 0, "fov_deg": 60, "range_m": 200, "kind": "ptz", "mount_height_m": 8}),
    )
    .await;
    let (s, b) = api
        .call(
            reqwest::Method::PUT,
            "/api/v1/cameras/rose-ptz/onvif",
            Some(json!({"url": cam.device_url, "username": "onvif", "password": CAMERA_PASSWORD})),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    api.post(
        "/api/v1/users",
        json!({"username": "petar", "password": OPERATOR_PASSWORD, "role": "operator", "municipality": "kazanlak"}),
    )
    .await;
    let op = Api::login(&base, "petar", OPERATOR_PASSWORD).await;
    // An incident 60 m east of the camera: bearing 90 degrees, half a unit of pan from north.
    let east = 25.3936 + 60.0 / (111_320.0 * 42.6191f64.to_radians().cos());
    let inc = op
        .post(
            "/api/v1/incidents",
            json!({"type": "fire", "priority": 2, "lat": 42.6191, "lon": east, "description": "smoke"}),
        )
        .await;
    let id = inc["id"].as_str().expect("an incident id").to_string();

    let (driver_proc, driver) = start_chromedriver(&chromedriver, tmp.path()).await;
    let c = browser(&driver, &tmp.path().join("ptz-profile"), &chromium).await;
    let scenario = async {
        ptz_scenario(&c, &base, &op, &id).await?;
        dead_camera_on_the_map(&c).await?;
        offline_basemap(&c, &base).await
    };
    let outcome = tokio::time::timeout(Duration::from_secs(150), scenario)
        .await
        .unwrap_or_else(|_| Err("the scenario took more than 150 s".into()));
    if outcome.is_err() {
        if let Ok(png) = c.screenshot().await {
            let keep = std::env::temp_dir().join("polis-console-ptz-failure.png");
            if std::fs::write(&keep, png).is_ok() {
                eprintln!("screenshot: {}", keep.display());
            }
        }
        eprintln!("---- polis log ----\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    }
    let _ = c.close().await;
    drop(driver_proc);
    drop(cam);
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// A raster MBTiles file with the 5 x 5 tiles of zoom `z` around a place, each a 256-pixel PNG
/// of one colour, and an attribution (Python's own sqlite3, zlib and struct make it).
fn make_mbtiles(path: &Path, z: u32, lat: f64, lon: f64) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n) as i64;
    let y =
        ((1.0 - (lat.to_radians().tan() + 1.0 / lat.to_radians().cos()).ln() / std::f64::consts::PI) / 2.0 * n) as i64;
    let script = r#"
import sqlite3, struct, sys, zlib
path, z, x0, y0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def png(rgb):
    raw = b"".join(b"\x00" + bytes(rgb) * 256 for _ in range(256))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 256, 256, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
db = sqlite3.connect(path)
db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
db.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "Kazanlak"), ("format", "png"), ("attribution", "Test streets of Kazanlak")])
for dx in range(-2, 3):
    for dy in range(-2, 3):
        row = (1 << z) - 1 - (y0 + dy)
        db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x0 + dx, row, png((40 + 20 * (dx + 2), 60, 90))))
db.commit()
"#;
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(path)
        .args([z.to_string(), x.to_string(), y.to_string()])
        .status()
        .expect("python3");
    assert!(ok.success(), "making the MBTiles file");
}

/// The offline basemap: the console's map shows the tiles the server reads from the MBTiles
/// file, with its attribution; a tile the file lacks is a 404.
async fn offline_basemap(c: &Client, base: &str) -> TestResult {
    c.execute("window.polisMap.setView(42.619, 25.393, 14); return true;", vec![]).await.map_err(|e| e.to_string())?;
    wait_until("the basemap's tiles loaded", Duration::from_secs(20), || async move {
        let n = c
            .execute("return document.querySelectorAll('#map img.loaded[src^=\"/tiles/14/\"]').length;", vec![])
            .await
            .map_err(|e| e.to_string())?;
        Ok(n.as_u64().unwrap_or(0) >= 4)
    })
    .await?;
    let size = c
        .execute("const i = document.querySelector('#map img.loaded[src^=\"/tiles/14/\"]'); return [i.naturalWidth, i.naturalHeight];", vec![])
        .await
        .map_err(|e| e.to_string())?;
    ensure!(size == json!([256, 256]), "a tile is {size}");
    let text = text_of(c, "#map").await?;
    ensure!(text.contains("Test streets of Kazanlak"), "no attribution on the map: {text:?}");
    let far = reqwest::get(format!("{base}/tiles/14/0/0.png")).await.map_err(|e| e.to_string())?;
    ensure!(far.status() == reqwest::StatusCode::NOT_FOUND, "a missing tile answered {}", far.status());
    Ok(())
}

/// Issue 13: the camera nobody watches and whose address does not answer is marked on the map
/// (drawn on the map's canvas with a dashed red ring), and the pointer's tip over it says why,
/// without its password.
async fn dead_camera_on_the_map(c: &Client) -> TestResult {
    // Back from the video view to the map.
    if count(c, "#video-view .video-close").await? > 0 {
        click(c, "#video-view .video-close").await?;
    }
    c.execute("window.polisMap.setView(42.6195, 25.3930, 18);", vec![]).await.map_err(|e| e.to_string())?;
    let script = "window.polisMap.view.render(); \
                  return window.PolisMap.drawnCameras().markers.find((m) => m.id === 'dead-cam') || null;";
    wait_until("the dead camera drawn with the offline ring", Duration::from_secs(40), || async {
        let m = c.execute(script, vec![]).await.map_err(|e| e.to_string())?;
        Ok(m["live"] == "offline" && m["halo"] == "offline")
    })
    .await?;
    // The pointer over it: its tip.
    let m = c.execute(script, vec![]).await.map_err(|e| e.to_string())?;
    let at = c
        .execute(
            "const r = document.getElementById('map').getBoundingClientRect(); \
             return [Math.round(r.left + arguments[0]), Math.round(r.top + arguments[1])];",
            vec![m["x"].clone(), m["y"].clone()],
        )
        .await
        .map_err(|e| e.to_string())?;
    let (x, y) = (at[0].as_i64().unwrap_or(0), at[1].as_i64().unwrap_or(0));
    let ids = c
        .execute("return window.PolisMap.camerasAt(arguments[0], arguments[1]);", vec![m["x"].clone(), m["y"].clone()])
        .await
        .map_err(|e| e.to_string())?;
    ensure!(ids[0] == "dead-cam", "the camera under its own marker is {ids}");
    let hover = MouseActions::new("mouse".into())
        .then(PointerAction::MoveTo { duration: None, x: x + 3, y: y + 3 })
        .then(PointerAction::MoveTo { duration: None, x, y });
    c.perform_actions(hover).await.map_err(|e| format!("moving the pointer over the camera: {e}"))?;
    wait_css(c, ".map-tip[data-id=\"dead-cam\"]:not([hidden])", Duration::from_secs(5)).await?;
    let title = text_of(c, ".map-tip").await?;
    ensure!(title.contains("does not answer (connection refused)"), "the marker's tip says {title:?}");
    ensure!(!title.contains("Secret-pw1"), "a password in the tip: {title:?}");
    Ok(())
}

async fn ptz_scenario(c: &Client, base: &str, op: &Api, id: &str) -> TestResult {
    sign_in(c, base, "petar", OPERATOR_PASSWORD).await?;
    wait_css(c, "body[data-ready]", Duration::from_secs(30)).await?;
    let item = format!("#incident-list .incident-item[data-incident-id=\"{id}\"]");
    wait_css(c, &item, Duration::from_secs(10)).await?;
    click(c, &item).await?;
    let turn = format!("#details[data-kind=\"incident\"][data-id=\"{id}\"] .ptz-turn[data-camera=\"rose-ptz\"]");
    wait_css(c, &turn, Duration::from_secs(10)).await?;
    click(c, &turn).await?;
    wait_css(c, "#details .ptz-turn-result[data-state]", Duration::from_secs(15)).await?;
    let said = text_of(c, "#details .ptz-turn-result").await?;
    ensure!(said.contains("Turned to 90°") && said.contains("60 m"), "the console said {said:?}");
    // The camera itself turned: its reported pan is half a unit east of north.
    let (_, st) = op.call(reqwest::Method::GET, "/api/v1/cameras/rose-ptz/ptz", None).await;
    let pan = st["pan"].as_f64().ok_or(format!("no pan: {st}"))?;
    let east_of_north = (pan - 0.5).abs() < 0.01;
    ensure!(east_of_north, "the camera's pan is {pan}, not 0.5: {st}");
    ensure!(st["holder"]["username"] == "petar" && st["holder"]["incident"] == id, "{st}");

    // The camera's own view has the PTZ panel: a preset saved there is kept by the camera.
    c.execute("window.PolisVideo.openCamera('rose-ptz');", vec![]).await.map_err(|e| e.to_string())?;
    wait_css(c, ".ptz-panel[data-state=ready]", Duration::from_secs(15)).await?;
    type_into(c, ".ptz-panel .ptz-preset-name", "Fountain").await?;
    click(c, ".ptz-panel .ptz-save-preset").await?;
    wait_until("the new preset in the panel", Duration::from_secs(10), || async {
        Ok(text_of(c, ".ptz-panel .ptz-presets").await.unwrap_or_default().contains("Fountain"))
    })
    .await?;
    let (_, presets) = op.call(reqwest::Method::GET, "/api/v1/cameras/rose-ptz/ptz/presets", None).await;
    ensure!(presets.as_array().is_some_and(|p| p.iter().any(|p| p["name"] == "Fountain")), "{presets}");
    Ok(())
}

// ---- City setup from the console -------------------------------------------------------------

/// Chooses the option `value` of the select `css`, as a person does.
async fn choose(c: &Client, css: &str, value: &str) -> TestResult {
    let e = c.find(Locator::Css(css)).await.map_err(|e| format!("no {css}: {e}"))?;
    e.select_by_value(value).await.map_err(|e| format!("choosing {value} in {css}: {e}"))
}

/// The setup panel's preview as the person reads it: (raised, its summary sentence).
async fn preview_seen(c: &Client, raised: &str) -> TestResult<String> {
    let css = format!("#setup-preview[data-raised='{raised}'] .setup-preview-summary");
    wait_css(c, &css, Duration::from_secs(15)).await?;
    text_of(c, &css).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_city_is_set_up_from_the_console_as_the_guide_says() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromedriver = tool("POLIS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver");
    let chromium = tool("POLIS_TEST_CHROMIUM", "/usr/bin/chromium", "Chromium");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_server, base, api, log) = start_polis_empty(tmp.path(), &[]).await;
    let (driver_proc, driver) = start_chromedriver(&chromedriver, tmp.path()).await;
    let c = browser(&driver, &tmp.path().join("setup-profile"), &chromium).await;
    let outcome = tokio::time::timeout(Duration::from_secs(150), setup_scenario(&c, &base, &api, tmp.path()))
        .await
        .unwrap_or_else(|_| Err("the scenario took more than 150 s".into()));
    if outcome.is_err() {
        if let Ok(png) = c.screenshot().await {
            let keep = std::env::temp_dir().join("polis-console-setup-failure.png");
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

async fn setup_scenario(c: &Client, base: &str, api: &Api, dir: &Path) -> TestResult {
    sign_in(c, base, "admin", ADMIN_PASSWORD).await?;
    wait_css(c, "body[data-ready]", Duration::from_secs(30)).await?;
    wait_css(c, "#open-setup:not([hidden])", Duration::from_secs(10)).await?;
    click(c, "#open-setup").await?;
    wait_css(c, "#setup-dialog[open] .setup-tab[data-tab=orgs]", Duration::from_secs(10)).await?;

    // The municipality itself, then the town's police, an agency of it.
    click(c, ".setup-tab[data-tab=orgs]").await?;
    click(c, ".setup-new").await?;
    choose(c, ".setup-form select[name=kind]", "municipality").await?;
    type_into(c, ".setup-form input[name=id]", "kazanlak").await?;
    type_into(c, ".setup-form input[name=name_bg]", "Казанлък").await?;
    type_into(c, ".setup-form input[name=name_en]", "Kazanlak").await?;
    click(c, ".setup-form .setup-save").await?;
    wait_css(c, ".setup-orgs tr[data-org=kazanlak]", Duration::from_secs(10)).await?;
    click(c, ".setup-new").await?;
    type_into(c, ".setup-form input[name=id]", "kz-police").await?;
    type_into(c, ".setup-form input[name=name_bg]", "РУ Казанлък").await?;
    type_into(c, ".setup-form input[name=name_en]", "Kazanlak Police").await?;
    choose(c, ".setup-form select[name=agency_kind]", "police").await?;
    choose(c, ".setup-form select[name=municipality]", "kazanlak").await?;
    click(c, ".setup-form .setup-save").await?;
    wait_css(c, ".setup-orgs tr[data-org=kz-police]", Duration::from_secs(10)).await?;
    let (_, orgs) = api.call(reqwest::Method::GET, "/api/v1/organisations", None).await;
    ensure!(
        orgs.as_array().is_some_and(|o| o
            .iter()
            .any(|o| o["id"] == "kz-police" && o["kind"] == "agency" && o["agency_kind"] == "police")),
        "the agency is not as entered: {orgs}"
    );

    // A river gauge, placed with a click on the map.
    click(c, ".setup-tab[data-tab=sensors]").await?;
    click(c, ".setup-new").await?;
    type_into(c, ".setup-form input[name=id]", "tundzha-gauge").await?;
    type_into(c, ".setup-form input[name=name]", "Водомер Тунджа").await?;
    type_into(c, ".setup-form input[name=name_en]", "Tundzha gauge").await?;
    choose(c, ".setup-form select[name=kind]", "water_level").await?;
    type_into(c, ".setup-form input[name=unit]", "cm").await?;
    click(c, ".setup-form .setup-pick").await?;
    wait_css(c, "#draw-bar:not([hidden])", Duration::from_secs(5)).await?;
    ensure!(count(c, "#setup-dialog[open]").await? == 0, "the panel did not step aside while picking");
    let want = c
        .execute(
            "const r = document.getElementById('map').getBoundingClientRect(); return window.polisMap.unproject(r.width / 2 + 120, r.height / 2 + 60);",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    let size = c
        .execute(
            "const r = document.getElementById('map').getBoundingClientRect(); return [r.width, r.height];",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    let (w, h) = (size[0].as_f64().unwrap_or(0.0), size[1].as_f64().unwrap_or(0.0));
    click_map_px(c, w / 2.0 + 120.0, h / 2.0 + 60.0).await?;
    wait_css(c, "#setup-dialog[open] .setup-form[data-form=sensor]", Duration::from_secs(5)).await?;
    click(c, ".setup-form .setup-save").await?;
    wait_css(c, ".setup-sensors tr[data-sensor=tundzha-gauge]", Duration::from_secs(10)).await?;
    let (_, sensor) = api.call(reqwest::Method::GET, "/api/v1/sensors/tundzha-gauge", None).await;
    let p = if sensor["properties"].is_object() { &sensor["properties"] } else { &sensor };
    let (lat, lon) = (
        p["lat"].as_f64().or(sensor["geometry"]["coordinates"][1].as_f64()).unwrap_or(0.0),
        p["lon"].as_f64().or(sensor["geometry"]["coordinates"][0].as_f64()).unwrap_or(0.0),
    );
    let (wlat, wlon) = (want["lat"].as_f64().unwrap_or(f64::NAN), want["lon"].as_f64().unwrap_or(f64::NAN));
    ensure!(
        (lat - wlat).abs() < 2e-4
            && (lon - wlon).abs() < 2e-4
            && p["unit"] == "cm"
            && p["name"] == "Водомер Тунджа"
            && p["name_en"] == "Tundzha gauge",
        "the gauge is not where it was clicked ({wlat}, {wlon}): {sensor}"
    );

    // Six hours of its readings: up over 400 cm, back down, up again.
    let now = time::OffsetDateTime::now_utc();
    let batch: Vec<Value> = [380.0, 405.0, 410.0, 398.0, 390.0, 420.0]
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at = now - time::Duration::minutes(55 * (6 - i as i64));
            let at = at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            json!({"sensor": "tundzha-gauge", "time": at, "value": v})
        })
        .collect();
    let (s, b) = api.call(reqwest::Method::POST, "/api/v1/observations", Some(json!(batch))).await;
    ensure!(s.is_success() && b["accepted"] == 6, "readings not taken: {s} {b}");

    // A rule, previewed before it is saved: at 400 cm it would have fired twice, at 415 once.
    click(c, ".setup-tab[data-tab=rules]").await?;
    click(c, ".setup-new").await?;
    type_into(c, ".setup-form input[name=name]", "Tundzha above 400 cm").await?;
    choose(c, ".setup-form select[name=sensor]", "tundzha-gauge").await?;
    type_into(c, ".setup-form input[name=level]", "400").await?;
    type_into(c, ".setup-form input[name=hysteresis]", "5").await?;
    click(c, ".setup-form .setup-run-preview").await?;
    let said = preview_seen(c, "2").await?;
    ensure!(
        said.contains("6 readings") && said.contains("raised 2 alarms; 1 of them cleared"),
        "the preview said {said:?}"
    );
    type_into(c, ".setup-form input[name=level]", "415").await?;
    click(c, ".setup-form .setup-run-preview").await?;
    let said = preview_seen(c, "1").await?;
    ensure!(said.contains("raised 1 alarms; 0 of them cleared"), "the preview at 415 said {said:?}");
    // Without a level the server names the field, and the form marks it.
    c.find(Locator::Css(".setup-form input[name=level]"))
        .await
        .map_err(|e| e.to_string())?
        .clear()
        .await
        .map_err(|e| e.to_string())?;
    click(c, ".setup-form .setup-run-preview").await?;
    wait_css(c, ".setup-problems li[data-field='condition.above']", Duration::from_secs(10)).await?;
    ensure!(
        count(c, ".setup-form input[name=level][aria-invalid=true]").await? == 1,
        "the level is not marked as the problem"
    );
    ensure!(
        api.call(reqwest::Method::GET, "/api/v1/rules", None).await.1.as_array().is_some_and(Vec::is_empty),
        "a preview saved a rule"
    );
    type_into(c, ".setup-form input[name=level]", "400").await?;
    click(c, ".setup-form .setup-save").await?;
    wait_css(c, ".setup-rules tr[data-rule]", Duration::from_secs(10)).await?;
    let (_, rules) = api.call(reqwest::Method::GET, "/api/v1/rules", None).await;
    let r = &rules[0];
    ensure!(
        r["sensor"] == "tundzha-gauge" && r["condition"]["above"] == 400.0 && r["condition"]["hysteresis"] == 5.0,
        "the rule is not as entered: {rules}"
    );

    // A key site on the river bank, its outline drawn with four clicks.
    click(c, ".setup-tab[data-tab=sites]").await?;
    click(c, ".setup-new").await?;
    type_into(c, ".setup-form input[name=name_bg]", "Бряг на Тунджа").await?;
    type_into(c, ".setup-form input[name=name_en]", "Tundzha bank").await?;
    choose(c, ".setup-form select[name=category]", "river_bank").await?;
    click(c, ".setup-form input[name=sector-disaster]").await?;
    click(c, ".setup-form input[name=sector-safety]").await?;
    click(c, ".setup-form .setup-draw-outline").await?;
    wait_css(c, "#draw-bar:not([hidden])", Duration::from_secs(5)).await?;
    for (dx, dy) in [(-200.0, -150.0), (-80.0, -150.0), (-80.0, -60.0), (-200.0, -60.0)] {
        click_map_px(c, w / 2.0 + dx, h / 2.0 + dy).await?;
    }
    ensure!(count(c, ".warn-vertex").await? == 4, "the four corners are not drawn");
    click(c, "#draw-bar .draw-finish").await?;
    wait_css(c, "#setup-dialog[open] .setup-outline-summary", Duration::from_secs(5)).await?;
    click(c, ".setup-form .setup-save").await?;
    wait_until("the site in the list", Duration::from_secs(10), || async {
        Ok(text_of(c, ".setup-sites tbody").await.unwrap_or_default().contains("Tundzha bank"))
    })
    .await?;
    let (_, sites) = api.call(reqwest::Method::GET, "/api/v1/sites", None).await;
    let site = sites["features"].as_array().and_then(|f| f.first()).cloned().unwrap_or(Value::Null);
    ensure!(
        site["geometry"]["type"] == "Polygon"
            && site["geometry"]["coordinates"][0].as_array().is_some_and(|r| r.len() == 5)
            && site["properties"]["category"] == "river_bank"
            && site["properties"]["sectors"] == json!(["disaster"]),
        "the site is not as drawn: {sites}"
    );

    // Cameras imported with the wizard: a file with a bad row is checked, every problem shown
    // and nothing written; the corrected file is checked, then imported.
    let header = "id,name,lat,lon,heading_deg,fov_deg,range_m,kind,mount_height_m,stream_url\n";
    let good = "cam-1,Bridge,42.62,25.39,90,60,120,fixed,6,\ncam-2,Square,42.621,25.391,180,90,80,ptz,8,\n";
    let bad_file = dir.join("cameras-bad.csv");
    let good_file = dir.join("cameras.csv");
    std::fs::write(&bad_file, format!("{header}{good}cam-3,Far,95,25.39,90,60,100,fixed,6,\n"))
        .map_err(|e| e.to_string())?;
    std::fs::write(&good_file, format!("{header}{good}")).map_err(|e| e.to_string())?;
    click(c, ".setup-tab[data-tab=io]").await?;
    choose(c, "select[name=io-kind]", "cameras").await?;
    let upload = |path: PathBuf| async move {
        let e = c.find(Locator::Css("input[name=io-file]")).await.map_err(|e| e.to_string())?;
        e.send_keys(&path.display().to_string()).await.map_err(|e| format!("choosing the file: {e}"))
    };
    upload(bad_file).await?;
    wait_css(c, ".setup-io-chosen", Duration::from_secs(5)).await?;
    click(c, ".setup-io-check").await?;
    wait_css(c, ".setup-io-problems tr[data-row='4'][data-field=lat]", Duration::from_secs(10)).await?;
    ensure!(count(c, ".setup-io-import").await? == 0, "a file with problems may be imported");
    ensure!(
        api.call(reqwest::Method::GET, "/api/v1/cameras", None).await.1["features"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "checking a file wrote cameras"
    );
    upload(good_file).await?;
    wait_until("the chosen file's name", Duration::from_secs(5), || async {
        Ok(text_of(c, ".setup-io-chosen").await.unwrap_or_default() == "cameras.csv")
    })
    .await?;
    click(c, ".setup-io-check").await?;
    wait_css(c, ".setup-io-ready", Duration::from_secs(10)).await?;
    let ready = text_of(c, ".setup-io-ready").await?;
    ensure!(ready.contains("2 rows are ready"), "the check said {ready:?}");
    click(c, ".setup-io-import").await?;
    wait_until("the import's message", Duration::from_secs(10), || async {
        Ok(text_of(c, "#setup-message").await.unwrap_or_default().contains("Imported 2"))
    })
    .await?;
    let (_, cams) = api.call(reqwest::Method::GET, "/api/v1/cameras", None).await;
    ensure!(
        cams["features"].as_array().is_some_and(|f| f.len() == 2),
        "the import did not create both cameras: {cams}"
    );

    // An operator for the control room, created in the administration panel.
    click(c, "#setup-close").await?;
    click(c, "#open-admin").await?;
    wait_css(c, "#admin-create", Duration::from_secs(10)).await?;
    type_into(c, "#admin-create input[name=username]", "maria").await?;
    type_into(c, "#admin-create input[name=password]", OPERATOR_PASSWORD).await?;
    choose(c, "#admin-create select[name=role]", "operator").await?;
    choose(c, "#admin-create select[name=municipality]", "kazanlak").await?;
    click(c, "#admin-create button[type=submit]").await?;
    wait_css(c, "#admin-users tr[data-username=maria]", Duration::from_secs(10)).await?;
    let (_, users) = api.call(reqwest::Method::GET, "/api/v1/users", None).await;
    ensure!(
        users.as_array().is_some_and(|u| u
            .iter()
            .any(|u| u["username"] == "maria" && u["role"] == "operator" && u["municipality"] == "kazanlak")),
        "the operator is not as entered: {users}"
    );

    // Every change is in the audit log, by the administrator.
    let (_, audit) = api.call(reqwest::Method::GET, "/api/v1/audit?actor=admin&limit=50", None).await;
    let actions: Vec<&str> =
        audit.as_array().map(|a| a.iter().filter_map(|r| r["action"].as_str()).collect()).unwrap_or_default();
    for want in ["organisation.create", "sensor.create", "rule.create", "site.create", "camera.import", "user.create"] {
        ensure!(actions.contains(&want), "{want} is not in the audit log: {actions:?}");
    }
    Ok(())
}
