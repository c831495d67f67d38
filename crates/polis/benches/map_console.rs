//! The console's map in headless Chromium with a region of cameras (issue 13): time to first
//! render and frame times while panning and zooming at town zoom.
//!
//! For each load (`POLIS_BENCH_MAP_CAMERAS`, default `5000,50000`): a fresh `polis serve`, a
//! seeded synthetic region imported through `POST /api/v1/import/cameras` (40 towns over some
//! 160 x 110 km around Kazanlak, town sizes falling as 1/rank, 15% of the cameras scattered),
//! chromedriver with headless Chromium (1366 x 900), the administrator signed in through the form.
//! - Time to first render: the page reloaded with the session kept; from the start of navigation
//!   to the first painted frame after the console says ready with cameras drawn (markers or
//!   clusters), as `performance.now()` in the page. Median of 3 reloads.
//! - Frames: at the largest town, 240 animation frames of panning (300 px one way and back,
//!   10 px a frame) at zoom 15 and at zoom 16, and 240 frames zooming between 14.5 and 16.5 about
//!   the centre; each frame moves the map and draws it (`MapView.render`), and a frame's time is
//!   the interval between consecutive `requestAnimationFrame` callbacks (script, style, layout
//!   and paint of the frame before). p50, p95 and the worst frame.
//!
//! Run: `scripts/bench-map` (or `cargo bench -p polis --bench map_console`). `POLIS_BENCH_POLIS`
//! names another `polis` binary to measure (e.g. one built from an older console).
//! Needs `chromedriver` and `chromium` (`POLIS_TEST_CHROMEDRIVER`, `POLIS_TEST_CHROMIUM`).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{free_port, Api, Proc, Serve};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "map-bench-Pa55word";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run());
}

/// A seeded region: (towns with their centre and share, cameras as GeoJSON).
fn region(n: usize, seed: u64) -> ((f64, f64), Value) {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64)
    };
    let (lat0, lon0) = (42.619, 25.393);
    let (dlat, dlon) = (1.0, 1.95); // about 110 km by 160 km
    let towns: Vec<(f64, f64)> = (0..40)
        .map(|k| if k == 0 { (lat0, lon0) } else { (lat0 + (next() - 0.5) * dlat, lon0 + (next() - 0.5) * dlon) })
        .collect();
    let harmonic: f64 = (1..=towns.len()).map(|k| 1.0 / k as f64).sum();
    let weights: Vec<f64> = (1..=towns.len()).map(|k| 1.0 / (k as f64 * harmonic)).collect();
    let kinds = ["fixed", "fixed", "fixed", "ptz", "anpr", "thermal"];
    let km_lat = 1.0 / 111.32;
    let km_lon = km_lat / lat0.to_radians().cos();
    let features: Vec<Value> = (0..n)
        .map(|i| {
            let (lat, lon) = if next() < 0.85 {
                let mut u = next();
                let mut k = 0;
                while k + 1 < weights.len() && u > weights[k] {
                    u -= weights[k];
                    k += 1;
                }
                let sigma_km = 0.8 * (weights[k] * towns.len() as f64).sqrt();
                // Box-Muller.
                let r = (-2.0 * next().max(1e-12).ln()).sqrt() * sigma_km;
                let th = 2.0 * std::f64::consts::PI * next();
                (towns[k].0 + r * th.sin() * km_lat, towns[k].1 + r * th.cos() * km_lon)
            } else {
                (lat0 + (next() - 0.5) * dlat, lon0 + (next() - 0.5) * dlon)
            };
            let kind = kinds[(next() * kinds.len() as f64) as usize % kinds.len()];
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                   "properties": {"id": format!("r{i:06}"), "name": format!("Region camera {i}"),
                                  "heading_deg": (next() * 360.0).floor(), "fov_deg": 40.0 + (next() * 60.0).floor(),
                                  "range_m": 40.0 + (next() * 120.0).floor(), "kind": kind, "mount_height_m": 6.0}})
        })
        .collect();
    (towns[0], json!({"type": "FeatureCollection", "features": features}))
}

fn tool(var: &str, default: &str) -> PathBuf {
    let p = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    assert!(p.is_file(), "{} not found: set {var}", p.display());
    p
}

async fn browser(driver: &str, profile: &std::path::Path, chromium: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1366,900", "--accept-lang=en-US",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::rustls().expect("rustls").capabilities(caps).connect(driver).await.expect("chromedriver session")
}

async fn js(c: &Client, script: &str, args: Vec<Value>) -> Value {
    c.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

async fn js_async(c: &Client, script: &str, args: Vec<Value>) -> Value {
    c.execute_async(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Resolves with `performance.now()` at the first painted frame after the console is ready with
/// cameras drawn (canvas markers or clusters, or SVG markers in an older console).
const FIRST_RENDER: &str = r#"
const done = arguments[arguments.length - 1];
const drawn = () => {
  if (document.body.dataset.ready !== "1") return false;
  if (window.PolisMap && window.PolisMap.drawnCameras) {
    const d = window.PolisMap.drawnCameras();
    return d.markers.length + d.clusters.length > 0;
  }
  return document.querySelector(".camera-marker") !== null;
};
const tick = () => {
  if (drawn()) requestAnimationFrame(() => done(performance.now()));
  else requestAnimationFrame(tick);
};
tick();
"#;

/// Runs `frames` animation frames, each moving the map by `step(i)` and drawing it; resolves with
/// the intervals between the frames in milliseconds.
const FRAMES: &str = r#"
const [mode, frames] = [arguments[0], arguments[1]];
const done = arguments[arguments.length - 1];
const v = window.polisMap.view;
const out = [];
let last = 0;
let i = 0;
const step = (now) => {
  if (last) out.push(now - last);
  last = now;
  if (i >= frames) { done(out); return; }
  if (mode === "pan") {
    const dir = Math.floor(i / 30) % 2 === 0 ? 1 : -1;
    v.panBy(10 * dir, 4 * dir);
  } else {
    const phase = (i % 80) / 80;
    const z = 14.5 + 2 * (phase < 0.5 ? phase * 2 : 2 - phase * 2);
    v.zoomAround(z, { x: v.width / 2, y: v.height / 2 });
  }
  v.render();
  i++;
  requestAnimationFrame(step);
};
requestAnimationFrame(step);
"#;

fn stats(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    println!(
        "  {name}: {} frames, p50 {:.1} ms, p95 {:.1} ms, worst {:.1} ms",
        v.len(),
        at(0.5),
        at(0.95),
        v.last().copied().unwrap_or(0.0)
    );
}

async fn measure(n: usize, chromedriver: &std::path::Path, chromium: &std::path::Path) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data = tmp.path().join("data");
    let serve = Serve { data: &data, port, admin_password: PASSWORD, log_level: "error", log_file: None };
    let _server = match std::env::var("POLIS_BENCH_POLIS") {
        Ok(bin) => start_other(&bin, &data, port).await,
        Err(_) => serve.start().await,
    };
    let api = Api::login(&base, "admin", PASSWORD).await;
    api.post(
        "/api/v1/organisations",
        json!({"id": "kazanlak", "kind": "municipality", "name_en": "Kazanlak", "name_bg": "Казанлък"}),
    )
    .await;
    let (town, body) = region(n, 2026);
    let started = Instant::now();
    api.post("/api/v1/import/cameras?municipality=kazanlak", body).await;
    println!("{n} cameras: imported in {:.1} s", started.elapsed().as_secs_f64());

    let driver_port = free_port();
    let _driver = Proc(
        Command::new(chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver"),
    );
    let driver = format!("http://127.0.0.1:{driver_port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http.get(format!("{driver}/status")).send().await, Ok(r) if r.status().is_success()) {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = browser(&driver, &tmp.path().join("profile"), chromium).await;
    c.update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
        Some(Duration::from_secs(300)),
        Some(Duration::from_secs(300)),
        Some(Duration::from_secs(0)),
    ))
    .await
    .expect("timeouts");
    c.goto(&format!("{base}/")).await.expect("the console");
    c.wait().for_element(Locator::Css("#username")).await.expect("the sign-in form");
    c.find(Locator::Css("#username")).await.expect("username").send_keys("admin").await.expect("typing");
    c.find(Locator::Css("#password")).await.expect("password").send_keys(PASSWORD).await.expect("typing");
    c.find(Locator::Css("#login-submit")).await.expect("submit").click().await.expect("sign in");
    let first = js_async(&c, FIRST_RENDER, vec![]).await;
    println!("  first render after signing in: {:.0} ms after the page's start", first.as_f64().unwrap_or(0.0));

    let mut ttfr = Vec::new();
    for _ in 0..3 {
        c.refresh().await.expect("reload");
        let t = js_async(&c, FIRST_RENDER, vec![]).await.as_f64().unwrap_or(0.0);
        ttfr.push(t);
    }
    ttfr.sort_by(|a, b| a.total_cmp(b));
    println!("  time to first render (reload, signed in): median {:.0} ms, runs {:?}", ttfr[1], ttfr);

    for (name, mode, zoom) in
        [("pan at zoom 15", "pan", 15.0), ("pan at zoom 16", "pan", 16.0), ("zoom 14.5-16.5", "zoom", 15.0)]
    {
        js(
            &c,
            "window.polisMap.setView(arguments[0], arguments[1], arguments[2]);",
            vec![json!(town.0), json!(town.1), json!(zoom)],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let drawn = js(
            &c,
            "if (window.PolisMap.drawnCameras) { const d = window.PolisMap.drawnCameras(); \
             return d.mode + ': ' + d.markers.length + ' markers, ' + d.clusters.length + ' clusters, ' + d.cones + ' cones'; } \
             return Array.from(document.querySelectorAll('.camera-marker')).filter((e) => e.style.display !== 'none').length + ' SVG markers shown';",
            vec![],
        )
        .await;
        let frames = js_async(&c, FRAMES, vec![json!(mode), json!(240)]).await;
        let v: Vec<f64> = frames.as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
        stats(&format!("{name} ({})", drawn.as_str().unwrap_or("")), v);
    }
    let _ = c.close().await;
}

/// `polis serve` from another binary (`POLIS_BENCH_POLIS`), as `Serve::start` does.
async fn start_other(bin: &str, data: &std::path::Path, port: u16) -> Proc {
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("POLIS_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("POLIS_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let p = Proc(cmd.spawn().expect("start polis serve"));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(http.get(format!("http://127.0.0.1:{port}/healthz")).send().await, Ok(r) if r.status().is_success())
    {
        assert!(Instant::now() < deadline, "polis did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p
}

async fn run() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromedriver = tool("POLIS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = tool("POLIS_TEST_CHROMIUM", "/usr/bin/chromium");
    let loads = std::env::var("POLIS_BENCH_MAP_CAMERAS").unwrap_or_else(|_| "5000,50000".into());
    for n in loads.split(',').filter_map(|s| s.trim().parse::<usize>().ok()) {
        measure(n, &chromedriver, &chromium).await;
    }
}
