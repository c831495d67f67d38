//! The operator console in a real browser: `polis demo` serves the console and the demo city of
//! Kazanlak; headless Chromium, driven through chromedriver (WebDriver), signs in, waits for the
//! map layers, clicks a point that a demo camera sees and checks the "cameras that see this
//! point" panel against the API, raises an alarm through the API and sees it arrive live in the
//! alarm queue, acknowledges it, opens a sensor's chart, switches to Bulgarian, and signs out.
//! A second test runs the accident scenario of the incident desk: a traffic accident at a
//! crossroads opened from a map click, its cameras, checklist, a video share for the police (and
//! the share page the police open), a patrol car assigned, the workflow to dispatched, a note.
//!
//! Needs Chromium and chromedriver: `POLIS_TEST_CHROMEDRIVER` (default `/usr/bin/chromedriver`)
//! and `POLIS_TEST_CHROMIUM` (default `/usr/bin/chromium`). Set `POLIS_CONSOLE_SCREENSHOT` to a
//! file name to save a screenshot of the console (docs/guide/console.png is made this way),
//! `POLIS_INCIDENT_SCREENSHOT` for the incident panel (docs/guide/incident.png), and
//! `POLIS_PLANNER_SCREENSHOT` for the planner with its result (the form before running goes to
//! the same name with `-form` before the extension).

mod common;

use common::free_port;
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN_PASSWORD: &str = "console-test-Pa55word";
const EARTH_RADIUS_M: f64 = 6_371_008.8;

type TestResult<T = ()> = Result<T, String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if $cond {
        } else {
            return Err(format!($($msg)+));
        }
    };
}

/// Kills what the test started, even when it fails, and on failure prints the end of their logs.
struct Processes {
    children: Vec<(&'static str, Child, PathBuf)>,
}

impl Processes {
    fn spawn(&mut self, name: &'static str, mut cmd: Command, log: PathBuf) -> TestResult<()> {
        let out = File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        // A process group of its own, so that the browser chromedriver starts goes with it.
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        let child = cmd.spawn().map_err(|e| format!("starting {name} ({cmd:?}): {e}"))?;
        self.children.push((name, child, log));
        Ok(())
    }

    /// Kills `name` (and its process group) at once, as a crash would.
    fn kill(&mut self, name: &str) {
        if let Some(i) = self.children.iter().position(|(n, _, _)| *n == name) {
            let (_, mut child, _) = self.children.remove(i);
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Fails if `name` has exited.
    fn check_alive(&mut self, name: &str) -> TestResult<()> {
        for (n, child, log) in &mut self.children {
            if *n == name {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("{name} exited early ({status}); its log:\n{}", tail(log, 60)));
                }
            }
        }
        Ok(())
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (name, child, log) in self.children.iter_mut().rev() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!("---- end of the {name} log ({}) ----\n{}", log.display(), tail(log, 40));
            }
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn tool(var: &str, default: &str, what: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    assert!(
        path.is_file(),
        "{what} not found at {}: install Chromium and its driver (Debian: apt-get install chromium chromium-driver) \
         or set {var} to its path",
        path.display()
    );
    path
}

/// The point `dist_m` metres from (lat, lon) along `bearing_deg`, on a sphere.
fn destination(lat: f64, lon: f64, bearing_deg: f64, dist_m: f64) -> (f64, f64) {
    let d = dist_m / EARTH_RADIUS_M;
    let (p1, l1, th) = (lat.to_radians(), lon.to_radians(), bearing_deg.to_radians());
    let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * th.cos()).asin();
    let l2 = l1 + (th.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
    (p2.to_degrees(), l2.to_degrees())
}

fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let (dp, dl) = (p2 - p1, (b.1 - a.1).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F) -> TestResult<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = TestResult<bool>>,
{
    let start = Instant::now();
    let mut last = String::new();
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = e,
        }
        if start.elapsed() > timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what} {last}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The API, as the test sees it (for the expected answers).
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn get(&self, path: &str) -> TestResult<Value> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = res.status();
        let body: Value = res.json().await.map_err(|e| format!("GET {path}: body: {e}"))?;
        ensure!(status.is_success(), "GET {path}: {status} {body}");
        Ok(body)
    }

    async fn post(&self, path: &str, json: &Value) -> TestResult<Value> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(json)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = res.status();
        let body: Value = res.json().await.map_err(|e| format!("POST {path}: body: {e}"))?;
        ensure!(status.is_success(), "POST {path}: {status} {body}");
        Ok(body)
    }
}

fn feature_ids(fc: &Value) -> Vec<String> {
    fc["features"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["properties"]["id"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

async fn js(c: &Client, script: &str, args: Vec<Value>) -> TestResult<Value> {
    c.execute(script, args).await.map_err(|e| format!("script failed: {e}\n{script}"))
}

/// The attribute `attr` of every element matching `css`, read in one step in the page (a panel
/// that live updates draw again cannot change between finding the elements and reading them).
async fn attrs(c: &Client, css: &str, attr: &str) -> TestResult<Vec<String>> {
    let v = js(
        c,
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getAttribute(arguments[1]) || '');",
        vec![json!(css), json!(attr)],
    )
    .await?;
    Ok(v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default())
}

/// What the map's camera layer drew in its last frame (markers with their pixel and halo,
/// clusters with their count, the highlighted cameras).
async fn drawn_cameras(c: &Client) -> TestResult<Value> {
    js(c, "return window.PolisMap.drawnCameras();", vec![]).await
}

async fn find(c: &Client, css: &str) -> TestResult<fantoccini::elements::Element> {
    c.find(Locator::Css(css)).await.map_err(|e| format!("no element {css}: {e}"))
}

async fn count(c: &Client, css: &str) -> TestResult<usize> {
    Ok(c.find_all(Locator::Css(css)).await.map_err(|e| format!("{css}: {e}"))?.len())
}

async fn text_of(c: &Client, css: &str) -> TestResult<String> {
    find(c, css).await?.text().await.map_err(|e| format!("text of {css}: {e}"))
}

async fn type_into(c: &Client, css: &str, text: &str) -> TestResult<()> {
    let e = find(c, css).await?;
    e.clear().await.map_err(|e| format!("clearing {css}: {e}"))?;
    e.send_keys(text).await.map_err(|e| format!("typing into {css}: {e}"))
}

async fn click(c: &Client, css: &str) -> TestResult<()> {
    find(c, css).await?.click().await.map_err(|e| format!("clicking {css}: {e}"))
}

/// Whether a WebDriver error comes from a live redraw of the panel between finding an element and
/// using it (the element was replaced, or is momentarily hidden while the panel draws again).
fn redrawn(e: &str) -> bool {
    e.contains("stale") || e.contains("not interactable")
}

/// Clicks `css` in a panel that live updates may draw again between finding and clicking.
async fn click_live(c: &Client, css: &str) -> TestResult<()> {
    let start = Instant::now();
    loop {
        match click(c, css).await {
            Err(e) if redrawn(&e) && start.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// Types into `css` in a panel that live updates may draw again.
async fn type_live(c: &Client, css: &str, text: &str) -> TestResult<()> {
    let start = Instant::now();
    loop {
        match type_into(c, css, text).await {
            Err(e) if redrawn(&e) && start.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

async fn wait_css(c: &Client, css: &str, timeout: Duration) -> TestResult<()> {
    wait_until(css, timeout, move || async move { Ok(count(c, css).await? > 0) }).await
}

/// `polis demo` on loopback `port` with its data in `data`, without the test's `POLIS_*`; with a
/// configuration file `polis.toml` beside `data` when there is one.
fn demo_command(port: u16, data: &Path) -> Command {
    let mut polis = Command::new(env!("CARGO_BIN_EXE_polis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("POLIS_") {
            polis.env_remove(k);
        }
    }
    polis
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("POLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "info");
    let config = data.with_file_name("polis.toml");
    if config.is_file() {
        polis.arg("--config").arg(config);
    }
    polis
}

/// A running `polis demo`, chromedriver with headless Chromium, and the admin's API token.
struct Console {
    procs: Processes,
    tmp: tempfile::TempDir,
    client: Client,
    api: Api,
    base: String,
}

async fn start_console() -> Console {
    start_console_with(None).await
}

/// [`start_console`] with a configuration file for `polis demo` (TOML text).
async fn start_console_with(config: Option<&str>) -> Console {
    // reqwest and fantoccini bring rustls with two crypto back-ends; name the process's one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromedriver = tool("POLIS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver");
    let chromium = tool("POLIS_TEST_CHROMIUM", "/usr/bin/chromium", "Chromium");

    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut procs = Processes { children: Vec::new() };
    if let Some(text) = config {
        std::fs::write(tmp.path().join("polis.toml"), text).expect("writing polis.toml");
    }

    // The server: the demo city on a fresh embedded database.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    procs.spawn("polis", demo_command(port, &tmp.path().join("data")), tmp.path().join("polis.log")).unwrap();

    // The browser driver.
    let driver_port = free_port();
    let mut driver = Command::new(&chromedriver);
    driver.arg(format!("--port={driver_port}"));
    procs.spawn("chromedriver", driver, tmp.path().join("chromedriver.log")).unwrap();

    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let health = format!("{base}/healthz");
    let started = Instant::now();
    loop {
        procs.check_alive("polis").unwrap();
        if let Ok(r) = http.get(&health).send().await {
            if r.status() == reqwest::StatusCode::OK {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "polis did not answer {health} within 90 s; its log:\n{}",
            tail(&tmp.path().join("polis.log"), 60)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let driver_url = format!("http://127.0.0.1:{driver_port}");
    let started = Instant::now();
    loop {
        procs.check_alive("chromedriver").unwrap();
        if let Ok(r) = http.get(format!("{driver_url}/status")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not start within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The admin's token, for the expected answers.
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login request")
        .json()
        .await
        .expect("login body");
    let token = login["token"].as_str().unwrap_or_else(|| panic!("no token in {login}")).to_string();
    let api = Api { http: http.clone(), base: base.clone(), token };

    let profile = tmp.path().join("chromium-profile");
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1366,900", "--accept-lang=en-US",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let client =
        ClientBuilder::rustls().expect("rustls").capabilities(caps).connect(&driver_url).await.unwrap_or_else(|e| {
            panic!("connecting to chromedriver: {e}; its log:\n{}", tail(&tmp.path().join("chromedriver.log"), 40))
        });

    Console { procs, tmp, client, api, base }
}

impl Console {
    /// Ends the browser and the processes; on failure keeps a screenshot and panics with `outcome`.
    async fn finish(self, outcome: TestResult, name: &str) {
        if outcome.is_err() {
            if let Ok(png) = self.client.screenshot().await {
                let keep = std::env::temp_dir().join(format!("polis-console-{name}-failure.png"));
                if std::fs::write(&keep, png).is_ok() {
                    eprintln!("screenshot of the failure: {}", keep.display());
                }
            }
        }
        let _ = self.client.close().await;
        drop(self.procs);
        drop(self.tmp);
        if let Err(e) = outcome {
            panic!("{e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_signs_in_shows_the_city_and_finds_the_cameras_that_see_a_clicked_point() {
    let con = start_console().await;
    let outcome = tokio::time::timeout(Duration::from_secs(180), scenario(&con.client, &con.base, &con.api))
        .await
        .unwrap_or_else(|_| Err("the browser scenario took more than 180 s".into()));
    con.finish(outcome, "scenario").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_handles_a_traffic_accident_at_a_crossroads_from_the_call_to_dispatch() {
    let con = start_console().await;
    let outcome = tokio::time::timeout(Duration::from_secs(180), accident_scenario(&con.client, &con.base, &con.api))
        .await
        .unwrap_or_else(|_| Err("the accident scenario took more than 180 s".into()));
    con.finish(outcome, "accident").await;
}

/// Issue 17: the server is killed under a signed-in console. At once a banner across the
/// screen says the connection is lost (in English and in Bulgarian) and the map and lists are
/// marked out of date; once the server is back and the console has caught up, both go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_says_at_once_that_it_lost_the_server_and_clears_it_once_caught_up() {
    let mut con = start_console().await;
    let outcome = tokio::time::timeout(Duration::from_secs(150), lost_server(&mut con))
        .await
        .unwrap_or_else(|_| Err("the lost-server scenario took more than 150 s".into()));
    con.finish(outcome, "lost-server").await;
}

async fn banner_shown(c: &Client) -> TestResult<bool> {
    let shown = js(
        c,
        "const b = document.getElementById('conn-banner'); \
         return !b.hidden && b.offsetHeight > 0 && document.getElementById('app-view').classList.contains('stale');",
        vec![],
    )
    .await?;
    Ok(shown == Value::Bool(true))
}

/// How many one-time event tickets the console has asked for (`POST /events/ticket`).
async fn event_tickets(c: &Client) -> TestResult<u64> {
    let n = js(
        c,
        "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/events/ticket')).length;",
        vec![],
    )
    .await?;
    Ok(n.as_u64().unwrap_or(0))
}

async fn lost_server(con: &mut Console) -> TestResult {
    let c = con.client.clone();
    let c = &c;
    c.goto(&format!("{}/", con.base)).await.map_err(|e| format!("opening the console: {e}"))?;
    wait_css(c, "#login-form", Duration::from_secs(10)).await?;
    // Room to count the console's requests (the event tickets) however many it makes.
    js(c, "performance.setResourceTimingBufferSize(100000); return true;", vec![]).await?;
    type_into(c, "#username", "admin").await?;
    type_into(c, "#password", ADMIN_PASSWORD).await?;
    click(c, "#login-submit").await?;
    wait_css(c, "body[data-ready=\"1\"]", Duration::from_secs(30)).await?;
    wait_css(c, "#live-state[data-live=\"on\"]", Duration::from_secs(15)).await?;
    ensure!(!banner_shown(c).await?, "a lost-connection banner while the server runs");
    // The event stream was opened with a one-time ticket (an EventSource cannot send the token).
    let first_tickets = event_tickets(c).await?;
    ensure!(first_tickets >= 1, "the console opened its event stream without a ticket");

    con.procs.kill("polis");
    let killed = Instant::now();
    wait_until("the lost-connection banner", Duration::from_secs(5), move || async move { banner_shown(c).await })
        .await?;
    let shown_after = killed.elapsed();
    let text = text_of(c, "#conn-banner").await?;
    ensure!(text.contains("NO CONNECTION TO THE SERVER"), "the banner says {text:?}");
    let width = js(c, "return document.getElementById('conn-banner').offsetWidth / window.innerWidth;", vec![]).await?;
    ensure!(width.as_f64().unwrap_or(0.0) > 0.95, "the banner does not go across the screen: {width}");
    click(c, "#lang-bg").await?;
    let text = text_of(c, "#conn-banner").await?;
    ensure!(text.contains("НЯМА ВРЪЗКА СЪС СЪРВЪРА"), "the Bulgarian banner says {text:?}");
    click(c, "#lang-en").await?;

    // The server comes back on the same port and data.
    let port: u16 = con.base.rsplit(':').next().and_then(|p| p.parse().ok()).ok_or("no port in the base URL")?;
    let data = con.tmp.path().join("data");
    con.procs.spawn("polis", demo_command(port, &data), con.tmp.path().join("polis-2.log"))?;
    let back = Instant::now();
    wait_until("the banner to go once caught up", Duration::from_secs(60), move || async move {
        Ok(!banner_shown(c).await? && count(c, "#conn-banner:not([hidden])").await? == 0)
    })
    .await?;
    let cleared_after = back.elapsed();
    ensure!(count(c, "#live-state[data-live=\"on\"]").await? == 1, "the live stream is not back");
    // It came back with a new ticket (a ticket works once).
    let tickets = event_tickets(c).await?;
    ensure!(tickets > first_tickets, "the event stream came back without a new ticket ({tickets})");
    ensure!(count(c, ".app-view.stale").await? == 0, "still marked out of date");
    println!(
        "console: lost-connection banner {:.2} s after the kill; gone {:.1} s after the restart began",
        shown_after.as_secs_f64(),
        cleared_after.as_secs_f64()
    );
    Ok(())
}

async fn scenario(c: &Client, base: &str, api: &Api) -> TestResult {
    c.goto(&format!("{base}/")).await.map_err(|e| format!("opening the console: {e}"))?;
    wait_css(c, "#login-form", Duration::from_secs(10)).await?;
    ensure!(text_of(c, "#login-submit").await? == "Sign in", "the default language should be English");

    // A wrong password: an error, and no map.
    type_into(c, "#username", "admin").await?;
    type_into(c, "#password", "not-the-password").await?;
    click(c, "#login-submit").await?;
    wait_until("the sign-in error", Duration::from_secs(10), move || async move {
        let e = find(c, "#login-error").await?;
        Ok(e.is_displayed().await.unwrap_or(false) && !e.text().await.unwrap_or_default().trim().is_empty())
    })
    .await?;
    ensure!(!find(c, "#map").await?.is_displayed().await.unwrap_or(true), "the map shows after a wrong password");
    ensure!(count(c, "body[data-ready]").await? == 0, "the console says ready after a wrong password");

    // The right password: the map and its layers.
    type_into(c, "#password", ADMIN_PASSWORD).await?;
    click(c, "#login-submit").await?;
    wait_css(c, "body[data-ready=\"1\"]", Duration::from_secs(30)).await?;
    ensure!(find(c, "#map").await?.is_displayed().await.unwrap_or(false), "the map is not shown after signing in");
    // Cameras are drawn on the map's canvas: what it drew, as data.
    let drawn = drawn_cameras(c).await?;
    let markers = drawn["markers"].as_array().map_or(0, |a| a.len());
    ensure!(markers >= 60, "expected at least 60 camera markers drawn, found {markers}: {drawn}");
    ensure!(count(c, ".sensor-marker[data-sensor-id]").await? > 0, "no sensor markers");
    ensure!(find(c, "#demo-badge").await?.is_displayed().await.unwrap_or(false), "no DEMO DATA badge");

    // A point 20 m in front of a demo camera, clicked with the mouse.
    let cameras = api.get("/api/v1/cameras").await?;
    let candidates: Vec<&Value> = cameras["features"]
        .as_array()
        .ok_or("no camera features")?
        .iter()
        .filter(|f| {
            let p = &f["properties"];
            p["kind"] != "ptz"
                && p["range_m"].as_f64().unwrap_or(0.0) >= 40.0
                && p["fov_deg"].as_f64().unwrap_or(0.0) >= 20.0
        })
        .collect();
    ensure!(!candidates.is_empty(), "no fixed camera with a range of 40 m or more in the demo");

    let mut clicked = None;
    for f in candidates.iter().take(25) {
        let p = &f["properties"];
        let id = p["id"].as_str().ok_or("camera without id")?.to_string();
        let (lat, lon, heading) = (
            p["lat"].as_f64().ok_or("lat")?,
            p["lon"].as_f64().ok_or("lon")?,
            p["heading_deg"].as_f64().ok_or("heading_deg")?,
        );
        let target = destination(lat, lon, heading, 20.0);
        // Centre the target at street zoom, where 20 m are some 45 px, then find its pixel.
        let at = js(
            c,
            r#"const [lat, lon] = arguments;
               window.polisMap.setView(lat, lon, 18);
               const p = window.polisMap.project(lat, lon);
               const r = document.getElementById('map').getBoundingClientRect();
               const x = Math.round(r.left + p.x), y = Math.round(r.top + p.y);
               const hit = document.elementFromPoint(x, y);
               const free = !!hit && document.getElementById('map').contains(hit)
                 && !hit.closest('[data-feature], .map-ui')
                 && window.PolisMap.camerasAt(p.x, p.y).length === 0;
               return {x, y, free};"#,
            vec![json!(target.0), json!(target.1)],
        )
        .await?;
        if at["free"] == json!(true) {
            clicked = Some((id, target, at["x"].as_i64().unwrap_or(0), at["y"].as_i64().unwrap_or(0)));
            break;
        }
    }
    let (camera_id, target) = match clicked {
        Some((id, target, x, y)) => {
            let mouse = MouseActions::new("mouse".into())
                .then(PointerAction::MoveTo { duration: None, x, y })
                .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
                .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
            c.perform_actions(mouse).await.map_err(|e| format!("clicking the map at ({x}, {y}): {e}"))?;
            (id, target)
        }
        None => {
            // Every candidate point lay under a marker: do what the click would.
            let f = candidates[0];
            let p = &f["properties"];
            let id = p["id"].as_str().unwrap_or_default().to_string();
            let target = destination(
                p["lat"].as_f64().unwrap_or(0.0),
                p["lon"].as_f64().unwrap_or(0.0),
                p["heading_deg"].as_f64().unwrap_or(0.0),
                20.0,
            );
            js(c, "window.polisMap.clickLatLon(arguments[0], arguments[1]);", vec![json!(target.0), json!(target.1)])
                .await?;
            (id, target)
        }
    };

    wait_css(c, "#seeing-panel[data-state=\"done\"]", Duration::from_secs(10)).await?;
    let panel = find(c, "#seeing-panel").await?;
    let qlat = panel.attr("data-lat").await.map_err(|e| e.to_string())?.ok_or("no data-lat on the panel")?;
    let qlon = panel.attr("data-lon").await.map_err(|e| e.to_string())?.ok_or("no data-lon on the panel")?;
    let queried = (qlat.parse::<f64>().map_err(|e| e.to_string())?, qlon.parse::<f64>().map_err(|e| e.to_string())?);
    let off = distance_m(queried, target);
    ensure!(off < 2.0, "the click landed {off:.1} m from the point aimed at");

    let mut shown = Vec::new();
    for item in c.find_all(Locator::Css("#seeing-panel .seeing-item")).await.map_err(|e| e.to_string())? {
        shown.push(item.attr("data-camera-id").await.map_err(|e| e.to_string())?.unwrap_or_default());
    }
    ensure!(shown.contains(&camera_id), "camera {camera_id} sees the clicked point but the panel lists {shown:?}");
    let expected = api.get(&format!("/api/v1/cameras/seeing?lat={qlat}&lon={qlon}&limit=10")).await?;
    let expected = feature_ids(&expected);
    ensure!(shown == expected, "the panel lists {shown:?}, the API answers {expected:?}");
    let first_text = text_of(c, "#seeing-panel .seeing-item").await?;
    ensure!(first_text.contains(" m"), "a seeing item shows no distance in metres: {first_text:?}");
    let drawn = drawn_cameras(c).await?;
    let mut highlighted: Vec<String> = drawn["seeing"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default();
    highlighted.sort();
    let mut listed = shown.clone();
    listed.sort();
    ensure!(highlighted == listed, "cameras {highlighted:?} highlighted for {listed:?} listed");
    let ringed = drawn["markers"].as_array().map_or(0, |a| a.iter().filter(|m| m["halo"] == "seeing").count());
    ensure!(ringed >= 1, "no camera drawn with the highlight of those that see the point: {drawn}");

    // Clicking an item selects that camera.
    click(c, &format!("#seeing-panel .seeing-item[data-camera-id=\"{camera_id}\"]")).await?;
    wait_css(c, &format!("#details[data-id=\"{camera_id}\"]"), Duration::from_secs(5)).await?;
    ensure!(find(c, "#details").await?.is_displayed().await.unwrap_or(false), "the details panel is hidden");

    // A live alarm: a rule and a reading above it, posted through the API, reach the open page.
    let (sensor_id, sensor_at) = live_alarm(c, api).await?;

    // Bulgarian.
    click(c, "#lang-bg").await?;
    wait_until("Bulgarian labels", Duration::from_secs(5), move || async move {
        let legend = text_of(c, "#legend").await?;
        Ok(legend.contains("Ключови обекти") && legend.contains("Камери"))
    })
    .await?;
    ensure!(text_of(c, "#logout").await? == "Изход", "the sign-out button is not in Bulgarian");
    ensure!(
        text_of(c, "#seeing-panel").await?.contains("Камери, които виждат тази точка"),
        "the seeing panel is not in Bulgarian"
    );
    ensure!(text_of(c, "#alarm-queue").await?.to_lowercase().contains("аларми"), "the alarm queue is not in Bulgarian");
    ensure!(text_of(c, "#alarm-queue").await?.to_lowercase().contains("критична"), "the severity is not in Bulgarian");
    let lang = js(c, "return document.documentElement.lang;", vec![]).await?;
    ensure!(lang == json!("bg"), "<html lang> is {lang} after switching to Bulgarian");
    click(c, "#lang-en").await?;
    ensure!(text_of(c, "#logout").await? == "Sign out", "the sign-out button is not back in English");

    ensure!(
        text_of(c, "#alarm-queue").await?.to_lowercase().contains("alarms"),
        "the alarm queue is not back in English"
    );

    if let Ok(path) = std::env::var("POLIS_CONSOLE_SCREENSHOT") {
        // The gauge in alarm, its chart, and the queue.
        let _ = target;
        js(
            c,
            "window.polisMap.setView(arguments[0], arguments[1] - 0.002, 16);",
            vec![json!(sensor_at.0), json!(sensor_at.1)],
        )
        .await?;
        if count(c, "#seeing-panel .icon-btn").await? > 0 {
            click(c, "#seeing-panel .icon-btn").await?;
        }
        js(c, "window.polisMap.select('sensor', arguments[0]);", vec![json!(sensor_id)]).await?;
        wait_css(c, "#sensor-chart svg", Duration::from_secs(10)).await?;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = c.screenshot().await.map_err(|e| format!("screenshot: {e}"))?;
        std::fs::write(&path, png).map_err(|e| format!("writing {path}: {e}"))?;
    }

    // The top bar's search: a key site by two words of its English name, in another order and
    // case; Enter opens its panel and brings the map to it.
    let sites = api.get("/api/v1/sites").await?;
    let site = sites["features"]
        .as_array()
        .and_then(|f| {
            f.iter().find(|x| x["properties"]["name_en"].as_str().is_some_and(|n| n.split_whitespace().count() >= 2))
        })
        .ok_or("no demo site with a name of two words")?;
    let (site_id, site_name) = (
        site["properties"]["id"].as_str().or(site["id"].as_str()).unwrap_or_default().to_string(),
        site["properties"]["name_en"].as_str().unwrap_or_default().to_string(),
    );
    // The site's extent (its outline's corners, or its point), a little widened.
    let g = &site["geometry"];
    let corners: Vec<Value> = if g["type"] == "Point" {
        vec![g["coordinates"].clone()]
    } else {
        g["coordinates"][0].as_array().cloned().unwrap_or_default()
    };
    let (mut lat0, mut lat1, mut lon0, mut lon1) = (90.0_f64, -90.0_f64, 180.0_f64, -180.0_f64);
    for q in &corners {
        let (la, lo) = (q[1].as_f64().unwrap_or(0.0), q[0].as_f64().unwrap_or(0.0));
        (lat0, lat1, lon0, lon1) = (lat0.min(la), lat1.max(la), lon0.min(lo), lon1.max(lo));
    }
    let words: Vec<&str> = site_name.split_whitespace().collect();
    let query = format!("{} {}", words[1].to_uppercase(), words[0].to_lowercase());
    js(c, "window.polisMap.setView(42.70, 25.20, 14);", vec![]).await?;
    type_into(c, "#map-search", &query).await?;
    let hit = format!("#map-search-results .search-item[data-kind=site][data-id='{site_id}']");
    wait_css(c, &hit, Duration::from_secs(5)).await?;
    find(c, "#map-search").await?.send_keys("\u{E007}").await.map_err(|e| format!("pressing Enter: {e}"))?;
    wait_until("the searched site's panel", Duration::from_secs(10), || async {
        Ok(text_of(c, "#details").await.unwrap_or_default().contains(&site_name))
    })
    .await?;
    wait_until("the map at the searched site", Duration::from_secs(10), || async {
        let v = js(c, "return window.polisMap.getView();", vec![]).await?;
        let (lat, lon) = (v["lat"].as_f64().unwrap_or(0.0), v["lon"].as_f64().unwrap_or(0.0));
        let inside = lat > lat0 - 0.001 && lat < lat1 + 0.001 && lon > lon0 - 0.001 && lon < lon1 + 0.001;
        if !inside {
            return Err(format!("the map is at {v}, the site within {lat0}..{lat1}, {lon0}..{lon1}"));
        }
        Ok(v["zoom"].as_f64().unwrap_or(0.0) >= 15.9)
    })
    .await?;
    type_into(c, "#map-search", "no such place at all").await?;
    wait_css(c, "#map-search-results .search-none", Duration::from_secs(5)).await?;

    // Signing out returns to the form.
    click(c, "#logout").await?;
    wait_until("the sign-in form after signing out", Duration::from_secs(10), move || async move {
        Ok(find(c, "#login-form").await?.is_displayed().await.unwrap_or(false))
    })
    .await?;
    ensure!(count(c, "body[data-ready]").await? == 0, "still ready after signing out");
    Ok(())
}

/// The playhead of the `<video>` under `css`, and whether it has a picture.
async fn playhead(c: &Client, css: &str) -> TestResult<(f64, u64)> {
    let v = js(
        c,
        "const v = document.querySelector(arguments[0]); return v ? [v.currentTime, v.videoWidth] : null;",
        vec![json!(css)],
    )
    .await?;
    ensure!(!v.is_null(), "no video element {css}");
    Ok((v[0].as_f64().unwrap_or(0.0), v[1].as_u64().unwrap_or(0)))
}

/// Waits until the `<video>` under `css` shows a picture and its playhead moves on by 1 s.
async fn plays(c: &Client, css: &str, what: &str) -> TestResult {
    let start = Instant::now();
    let mut first = None;
    let mut last = (0.0, 0);
    while start.elapsed() < Duration::from_secs(30) {
        last = playhead(c, css).await?;
        if last.1 > 0 {
            match first {
                None => first = Some(last.0),
                Some(t0) if last.0 >= t0 + 1.0 => return Ok(()),
                Some(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{what} does not play: its playhead is at {:.2} s, its picture {} px wide", last.0, last.1))
}

/// A 112 call: a traffic accident at a main crossroads of the demo city, handled in the console
/// from the map click to a dispatched patrol car; then the police open the video share.
async fn accident_scenario(c: &Client, base: &str, api: &Api) -> TestResult {
    c.goto(&format!("{base}/")).await.map_err(|e| format!("opening the console: {e}"))?;
    wait_css(c, "#login-form", Duration::from_secs(10)).await?;
    type_into(c, "#username", "admin").await?;
    type_into(c, "#password", ADMIN_PASSWORD).await?;
    click(c, "#login-submit").await?;
    wait_css(c, "body[data-ready=\"1\"]", Duration::from_secs(30)).await?;
    wait_css(c, "#incident-empty:not([hidden])", Duration::from_secs(10)).await?;

    planner(c, api).await?;

    // A crossroads that at least two cameras see, one of them PTZ if any is.
    let sites = api.get("/api/v1/sites").await?;
    let mut at = None;
    let mut best = 0;
    for f in sites["features"].as_array().ok_or("no site features")? {
        if f["properties"]["category"] != "crossroads" || f["geometry"]["type"] != "Point" {
            continue;
        }
        let (lon, lat) = (
            f["geometry"]["coordinates"][0].as_f64().ok_or("lon")?,
            f["geometry"]["coordinates"][1].as_f64().ok_or("lat")?,
        );
        let seeing = api.get(&format!("/api/v1/cameras/seeing?lat={lat}&lon={lon}&limit=10")).await?;
        let n = feature_ids(&seeing).len();
        let ptz = seeing["features"].as_array().is_some_and(|a| a.iter().any(|f| f["properties"]["kind"] == "ptz"));
        // A crossroads in town ("x-…") before the entries to it.
        let in_town = f["properties"]["id"].as_str().is_some_and(|id| id.starts_with("x-"));
        let score = if n >= 2 { n + if ptz { 100 } else { 0 } + if in_town { 1000 } else { 0 } } else { 0 };
        if score > best {
            best = score;
            at = Some((lat, lon));
        }
    }
    let at = at.ok_or("no crossroads in the demo that two cameras see")?;
    js(c, "window.polisMap.setView(arguments[0], arguments[1], 17);", vec![json!(at.0), json!(at.1)]).await?;

    let (id, token) = accident(c, api, at).await?;
    statistics(c, api, &id).await?;

    // The police open the link without an account: the incident and the two cameras.
    c.goto(&format!("{base}/share.html#{token}")).await.map_err(|e| format!("opening the share page: {e}"))?;
    wait_css(c, "#share-view[data-state=\"ok\"]", Duration::from_secs(10)).await?;
    let page = text_of(c, "#share-view").await?;
    ensure!(page.contains("Traffic accident") && page.contains("Shared cameras (2)"), "the share page shows {page:?}");
    ensure!(count(c, "#share-view .share-cameras li").await? == 2, "the share page lists other than two cameras");
    ensure!(page.contains(&format!("{:.5}", at.0)), "the share page does not show where: {page:?}");
    ensure!(page.contains("Shared until"), "the share page does not show the expiry: {page:?}");

    // Each shared camera that streams plays live on the page and shows a snapshot (the demo's
    // synthetic cameras; an offline one says so instead).
    let inc = api.get(&format!("/api/v1/incidents/{id}")).await?;
    let shared_ids = inc["shares"][0]["cameras"].clone();
    let streaming: Vec<String> = inc["cameras"]
        .as_array()
        .ok_or("no cameras")?
        .iter()
        .filter(|cam| cam["status"] == "active")
        .filter_map(|cam| cam["id"].as_str().map(String::from))
        .filter(|cam| shared_ids.as_array().is_some_and(|a| a.contains(&json!(cam))))
        .collect();
    ensure!(!streaming.is_empty(), "no shared camera is active: {inc}");
    for cam in &streaming {
        let card = format!("#share-view .share-cam[data-camera=\"{cam}\"]");
        plays(c, &format!("{card} video.share-video"), &format!("the shared camera {cam}")).await?;
        wait_css(c, &format!("{card}[data-snapshot=\"ok\"]"), Duration::from_secs(20)).await?;
        let w = js(c, "return document.querySelector(arguments[0]).naturalWidth;", vec![json!(format!("{card} img"))])
            .await?;
        ensure!(w.as_u64().unwrap_or(0) > 0, "the snapshot of {cam} shows no picture");
    }
    // In Bulgarian, and the video keeps playing.
    click(c, ".lang-btn[data-lang=\"bg\"]").await?;
    let page = text_of(c, "#share-view").await?;
    ensure!(page.contains("Споделени камери (2)") && page.contains("Споделено до"), "no Bulgarian: {page:?}");
    plays(c, &format!("#share-view .share-cam[data-camera=\"{}\"] video", streaming[0]), "the video in Bulgarian")
        .await?;
    click(c, ".lang-btn[data-lang=\"en\"]").await?;

    // Revoked while the police watch: the video stops and the page says why, without a reload.
    let share = inc["shares"][0]["id"].as_str().ok_or(format!("no share on {inc}"))?;
    api.post(&format!("/api/v1/shares/{share}/revoke"), &json!({})).await?;
    wait_css(c, "#share-view[data-state=\"error\"][data-reason=\"revoked\"]", Duration::from_secs(20)).await?;
    let page = text_of(c, "#share-view").await?;
    ensure!(page.contains("revoked this share"), "no clear message for a revoked share: {page:?}");
    ensure!(count(c, "#share-view video").await? == 0, "a revoked share still shows video");
    c.refresh().await.map_err(|e| format!("reloading the share page: {e}"))?;
    wait_css(c, "#share-view[data-state=\"error\"][data-reason=\"revoked\"]", Duration::from_secs(10)).await?;
    ensure!(count(c, "#share-view .share-cameras li").await? == 0, "a revoked share still lists cameras");
    // The use log has the page's live video and snapshots, and the refused uses after the end.
    let uses = api.get(&format!("/api/v1/shares/{share}/uses")).await?;
    let uses = uses.as_array().ok_or("no uses")?;
    for what in ["open", "live", "snapshot"] {
        ensure!(uses.iter().any(|u| u["what"] == what && u["refused"].is_null()), "no {what} in the share's uses");
    }
    ensure!(uses.iter().any(|u| u["refused"] == "revoked"), "the refused uses are not logged: {uses:?}");
    c.goto(&format!("{base}/share.html#pshr_not-a-real-token")).await.map_err(|e| e.to_string())?;
    wait_css(c, "#share-view[data-state=\"error\"]", Duration::from_secs(10)).await?;

    // A police liaison signed in to the console sees the incident shared with the police, read
    // only, with the one camera shared, and nothing else of the city.
    let cams: Vec<Value> = inc["cameras"].as_array().cloned().unwrap_or_default();
    let shared_cam = cams.last().and_then(|c| c["id"].as_str()).ok_or("no camera")?.to_string();
    api.post(
        &format!("/api/v1/incidents/{id}/shares"),
        &json!({"agency": "kazanlak-police", "cameras": [shared_cam], "expires_in_s": 3600}),
    )
    .await?;
    let liaison_password = "Police-liaison-Pa55";
    api.post(
        "/api/v1/users",
        &json!({"username": "police-liaison", "password": liaison_password, "role": "agency",
                "agency": "kazanlak-police", "municipality": "kazanlak"}),
    )
    .await?;
    c.goto(&format!("{base}/")).await.map_err(|e| format!("opening the console: {e}"))?;
    wait_until("the console or the sign-in form", Duration::from_secs(15), move || async move {
        Ok(count(c, "body[data-ready=\"1\"]").await? > 0
            || find(c, "#login-form").await?.is_displayed().await.unwrap_or(false))
    })
    .await?;
    if count(c, "body[data-ready=\"1\"]").await? > 0 {
        click(c, "#logout").await?;
    }
    wait_until("the sign-in form", Duration::from_secs(10), move || async move {
        Ok(find(c, "#login-form").await?.is_displayed().await.unwrap_or(false))
    })
    .await?;
    type_into(c, "#username", "police-liaison").await?;
    type_into(c, "#password", liaison_password).await?;
    click(c, "#login-submit").await?;
    wait_css(c, "body[data-ready=\"1\"]", Duration::from_secs(30)).await?;
    let item = format!("#incident-list .incident-item[data-incident-id=\"{id}\"]");
    wait_css(c, &item, Duration::from_secs(10)).await?;
    click(c, &item).await?;
    wait_css(
        c,
        &format!("#details[data-kind=\"incident\"][data-id=\"{id}\"] .incident-camera"),
        Duration::from_secs(10),
    )
    .await?;
    let mut listed = Vec::new();
    for e in c.find_all(Locator::Css("#details .incident-camera")).await.map_err(|e| e.to_string())? {
        listed.push(e.attr("data-camera-id").await.map_err(|e| e.to_string())?.unwrap_or_default());
    }
    ensure!(listed == [shared_cam.clone()], "the police liaison sees cameras {listed:?}, not the shared {shared_cam}");
    for action in [
        ".incident-next",
        ".incident-cancel",
        ".checklist-box:not([disabled])",
        ".incident-share-open",
        ".unit-assign",
        ".incident-note-text",
    ] {
        ensure!(count(c, &format!("#details {action}")).await? == 0, "the police liaison may {action}");
    }
    let drawn = drawn_cameras(c).await?;
    ensure!(
        drawn["markers"].as_array().is_some_and(|a| a.is_empty())
            && drawn["clusters"].as_array().is_some_and(|a| a.is_empty()),
        "the police liaison sees the city's cameras: {drawn}"
    );
    ensure!(
        !find(c, "#alarm-queue").await?.is_displayed().await.unwrap_or(true),
        "the police liaison sees the alarm queue"
    );
    ensure!(!find(c, "#toast").await?.is_displayed().await.unwrap_or(false), "an error shows for the police liaison");
    ensure!(
        !find(c, "#incident-stats").await?.is_displayed().await.unwrap_or(true),
        "the police liaison is offered statistics"
    );

    // Dispatch support: the control room shares a second camera; the liaison's console says so
    // at once, and the notice opens the incident with both cameras.
    let second = cams.first().and_then(|c| c["id"].as_str()).ok_or("no camera")?.to_string();
    api.post(
        &format!("/api/v1/incidents/{id}/shares"),
        &json!({"agency": "kazanlak-police", "cameras": [second], "expires_in_s": 3600}),
    )
    .await?;
    wait_css(c, "#incident-notice:not([hidden])[data-reason=\"shared\"]", Duration::from_secs(10)).await?;
    let notice = text_of(c, "#incident-notice").await?;
    ensure!(notice.contains("Traffic accident") && notice.contains("2 cameras"), "the notice says {notice:?}");
    click(c, "#incident-notice").await?;
    let both = format!("#details[data-id=\"{id}\"] .incident-camera");
    let both = both.as_str();
    wait_until("both shared cameras in the details", Duration::from_secs(10), move || async move {
        Ok(count(c, both).await? == 2)
    })
    .await?;
    ensure!(count(c, "#incident-notice:not([hidden])").await? == 0, "the notice stays after it was opened");
    Ok(())
}

/// The statistics dialog: response times by type of the last 30 days, then per day; the
/// accident just handled is there with its time to verify.
async fn statistics(c: &Client, api: &Api, id: &str) -> TestResult {
    click(c, "#incident-stats").await?;
    wait_css(c, "dialog.stats-dialog .stats-table-box[data-state=\"done\"]", Duration::from_secs(10)).await?;
    let row = "dialog.stats-dialog .stats-row[data-group=\"traffic_accident\"]";
    wait_css(c, row, Duration::from_secs(5)).await?;
    let n = text_of(c, &format!("{row} .stats-incidents")).await?;
    ensure!(n.trim().parse::<u32>().unwrap_or(0) >= 1, "the accident is not counted: {n:?}");
    let verify = text_of(c, &format!("{row} .stats-to_verify")).await?;
    ensure!(verify.contains(':') && verify.contains('·'), "no time to verify: {verify:?}");
    js(
        c,
        "const s = document.querySelector('dialog.stats-dialog .stats-period'); s.value = 'day'; s.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await?;
    // The day it was created (UTC).
    let inc = api.get(&format!("/api/v1/incidents/{id}")).await?;
    let day = inc["created_at"].as_str().and_then(|t| t.get(..10)).ok_or(format!("no created_at in {inc}"))?;
    wait_css(c, &format!("{row}[data-period=\"{day}\"]"), Duration::from_secs(10)).await?;
    click(c, "dialog.stats-dialog .dialog-close").await?;
    wait_until("the statistics dialog to close", Duration::from_secs(5), move || async move {
        Ok(count(c, "dialog.stats-dialog").await? == 0)
    })
    .await
}

/// Opens an incident from the seeing panel at `at`, ticks the first procedure item, shares two
/// cameras with the police, assigns the proposed unit, moves it to verified and dispatched, and
/// adds a note; checks each step in the page and through the API. Returns the incident's id and
/// the share token.
async fn accident(c: &Client, api: &Api, at: (f64, f64)) -> TestResult<(String, String)> {
    js(c, "window.polisMap.clickLatLon(arguments[0], arguments[1]);", vec![json!(at.0), json!(at.1)]).await?;
    wait_css(c, "#seeing-panel[data-state=\"done\"] .incident-create-open", Duration::from_secs(10)).await?;
    click(c, "#seeing-panel .incident-create-open").await?;
    wait_css(c, "#seeing-panel .incident-create", Duration::from_secs(5)).await?;
    js(c, "document.querySelector('#seeing-panel .incident-type').value = 'traffic_accident';", vec![]).await?;
    type_into(c, "#seeing-panel .incident-description", "Two cars collided at the crossroads").await?;
    // The call came through the 112 system: its source and case number.
    js(c, "const s = document.querySelector('#seeing-panel .incident-source'); s.value = 'external'; s.dispatchEvent(new Event('change'));", vec![]).await?;
    type_into(c, "#seeing-panel .incident-external-ref", "112-2026-000777").await?;
    click(c, "#seeing-panel .incident-create-submit").await?;
    wait_css(c, "#details[data-kind=\"incident\"][data-state=\"new\"] .incident-title", Duration::from_secs(10))
        .await?;
    let id = find(c, "#details").await?.attr("data-id").await.map_err(|e| e.to_string())?.ok_or("no incident id")?;
    let inc = api.get(&format!("/api/v1/incidents/{id}")).await?;
    ensure!(
        inc["type"] == "traffic_accident" && inc["source"] == "external" && inc["external_ref"] == "112-2026-000777",
        "the API has {inc}"
    );
    ensure!(
        distance_m((inc["lat"].as_f64().unwrap_or(0.0), inc["lon"].as_f64().unwrap_or(0.0)), at) < 2.0,
        "placed elsewhere"
    );
    let cams: Vec<String> = inc["cameras"]
        .as_array()
        .ok_or("no cameras")?
        .iter()
        .filter_map(|c| c["id"].as_str().map(String::from))
        .collect();
    ensure!(!cams.is_empty(), "no camera sees the incident: {inc}");
    let listed = attrs(c, "#details .incident-camera", "data-camera-id").await?;
    ensure!(listed == cams, "the panel lists {listed:?}, the API answers {cams:?} (nearest first)");
    let ptz = inc["cameras"].as_array().map_or(0, |a| a.iter().filter(|c| c["ptz"] == json!(true)).count());
    ensure!(count(c, "#details .incident-camera .badge-ptz").await? == ptz, "not every PTZ camera is flagged");
    ensure!(text_of(c, "#details .incident-camera").await?.contains(" m"), "the nearest camera shows no distance");
    wait_css(c, &format!("#incident-list .incident-item[data-incident-id=\"{id}\"]"), Duration::from_secs(5)).await?;
    wait_css(c, &format!(".incident-marker[data-id=\"{id}\"]"), Duration::from_secs(5)).await?;

    // The procedure for traffic accidents, first item done.
    ensure!(count(c, "#details .checklist-box").await? >= 3, "no procedure checklist");
    click_live(c, "#details .checklist-box[data-item=\"0\"]").await?;
    wait_css(c, "#details .checklist-item.is-done", Duration::from_secs(5)).await?;
    let inc = api.get(&format!("/api/v1/incidents/{id}")).await?;
    ensure!(inc["checklist"]["items"][0]["done"] == json!(true), "the API does not have the item done");

    // Video for the police: the nearest cameras are ticked; a link comes back once.
    ensure!(cams.len() >= 2, "fewer than two cameras to share: {cams:?}");
    click_live(c, "#details .incident-share-open").await?;
    wait_css(c, "#details .share-agency", Duration::from_secs(5)).await?;
    let ticked = js(
        c,
        "return [...document.querySelectorAll('#details .share-camera:checked')].map(b => b.dataset.camera);",
        vec![],
    )
    .await?;
    ensure!(ticked == json!(cams[..2]), "the two nearest cameras should be ticked, not {ticked}");
    let life = js(c, "return document.querySelector('#details .share-life').value;", vec![]).await?;
    ensure!(life == json!("7200"), "the share should last 2 h by default, not {life} s");
    js(c, "document.querySelector('#details .share-agency').value = 'kazanlak-police';", vec![]).await?;
    click_live(c, "#details .share-submit").await?;
    wait_css(c, "#details .share-token", Duration::from_secs(5)).await?;
    let link = js(c, "return document.querySelector('#details .share-token').value;", vec![]).await?;
    let link = link.as_str().unwrap_or_default().to_string();
    // No public address configured: the link is on the console's own.
    ensure!(link.starts_with(&format!("{}/share.html#", api.base)), "the share link is not on this address: {link}");
    let token =
        link.split_once("/share.html#").map(|(_, t)| t.to_string()).ok_or(format!("not a share link: {link}"))?;
    let shared: Value = api
        .http
        .get(format!("{}/api/v1/share", api.base))
        .header("x-polis-share", &token)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let mut opened: Vec<&str> =
        shared["cameras"].as_array().map(|a| a.iter().filter_map(|c| c["id"].as_str()).collect()).unwrap_or_default();
    opened.sort_unstable();
    let mut chosen: Vec<&str> = cams[..2].iter().map(String::as_str).collect();
    chosen.sort_unstable();
    ensure!(opened == chosen, "the share opens {shared}, not the two nearest cameras {chosen:?}");
    ensure!(shared["share"]["agency"] == "kazanlak-police", "the share is for {}", shared["share"]["agency"]);
    wait_css(c, "#details .share-item .share-revoke", Duration::from_secs(5)).await?;

    // The nearest proposed patrol car goes; the workflow moves on.
    let units = api.get("/api/v1/units").await?;
    let patrol_cars: Vec<&str> = units
        .as_array()
        .ok_or("no units")?
        .iter()
        .filter(|u| u["kind"] == "patrol_car")
        .filter_map(|u| u["id"].as_str())
        .collect();
    let proposed = attrs(c, "#details .unit-item.is-proposed", "data-unit-id").await?;
    let unit = proposed
        .iter()
        .find(|u| patrol_cars.contains(&u.as_str()))
        .cloned()
        .ok_or(format!("no patrol car among the proposed units {proposed:?}"))?;
    click_live(c, &format!("#details .unit-item.is-proposed[data-unit-id=\"{unit}\"] .unit-assign")).await?;
    wait_css(c, &format!("#details .unit-item.is-assigned[data-unit-id=\"{unit}\"]"), Duration::from_secs(5)).await?;
    for to in ["verified", "dispatched"] {
        click_live(c, &format!("#details .incident-next[data-to=\"{to}\"]")).await?;
        wait_css(c, &format!("#details[data-state=\"{to}\"]"), Duration::from_secs(5)).await?;
    }
    type_live(c, "#details .incident-note-text", "Police patrol on the way").await?;
    click_live(c, "#details .incident-note").await?;
    wait_until("the note in the journal", Duration::from_secs(5), move || async move {
        Ok(text_of(c, "#details .incident-journal").await?.contains("Police patrol on the way"))
    })
    .await?;
    let inc = api.get(&format!("/api/v1/incidents/{id}")).await?;
    ensure!(inc["status"] == "dispatched", "the API has status {}", inc["status"]);
    ensure!(inc["units"][0]["unit"] == unit.as_str(), "the API has units {}", inc["units"]);
    let kinds: Vec<&str> =
        inc["journal"].as_array().ok_or("no journal")?.iter().filter_map(|j| j["kind"].as_str()).collect();
    for k in ["created", "checklist", "share", "unit", "status", "note"] {
        ensure!(kinds.contains(&k), "the journal has no {k} line: {kinds:?}");
    }
    ensure!(
        count(c, "#details .incident-step.is-reached").await? == 3,
        "the workflow does not show three steps reached"
    );
    if let Ok(path) = std::env::var("POLIS_INCIDENT_SCREENSHOT") {
        // The panel from its top, with the map beside it.
        if count(c, "#seeing-panel:not([hidden]) .icon-btn").await? > 0 {
            click(c, "#seeing-panel .icon-btn").await?;
        }
        js(c, "document.querySelector('#details .panel-body').scrollTop = 0;", vec![]).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = c.screenshot().await.map_err(|e| format!("screenshot: {e}"))?;
        std::fs::write(&path, png).map_err(|e| format!("writing {path}: {e}"))?;
    }

    // On to the end: it leaves the list and the map; a supervisor (here the admin) reopens it
    // from the closed ones, with a reason.
    for to in ["on_scene", "resolved", "closed"] {
        click_live(c, &format!("#details .incident-next[data-to=\"{to}\"]")).await?;
        wait_css(c, &format!("#details[data-state=\"{to}\"]"), Duration::from_secs(5)).await?;
    }
    let item = format!("#incident-list .incident-item[data-incident-id=\"{id}\"]");
    let marker = format!(".incident-marker[data-id=\"{id}\"]");
    wait_until("the closed incident to leave the list and the map", Duration::from_secs(5), || async {
        Ok(count(c, &item).await? == 0 && count(c, &marker).await? == 0)
    })
    .await?;
    click(c, "#incident-closed").await?;
    wait_css(c, &format!("{item}.is-closed"), Duration::from_secs(5)).await?;
    click(c, &format!("{item}.is-closed")).await?;
    click_live(c, "#details .incident-reopen").await?;
    type_live(c, "#details .incident-reason", "The driver called back: a second car is involved").await?;
    click_live(c, "#details .incident-reason-ok").await?;
    wait_css(c, "#details[data-state=\"verified\"] .incident-next[data-to=\"dispatched\"]", Duration::from_secs(5))
        .await?;
    wait_css(c, &format!("{item}:not(.is-closed)"), Duration::from_secs(5)).await?;
    wait_css(c, &marker, Duration::from_secs(5)).await?;
    let inc = api.get(&format!("/api/v1/incidents/{id}")).await?;
    let last = inc["steps"].as_array().and_then(|s| s.last()).cloned().unwrap_or_default();
    ensure!(
        inc["status"] == "verified"
            && last["from"] == "closed"
            && last["reason"].as_str().is_some_and(|r| r.contains("second car")),
        "the API has status {} after reopening, last step {last}",
        inc["status"]
    );
    click(c, "#incident-closed").await?;
    Ok((id, token))
}

/// The planner panel: plans two key sites of the demo city (all others deselected) with one
/// camera model, two phases with their own budgets and one extra mounting point clicked on the
/// map; follows the job to the end, shows the phases, coverage by sector and the new cameras (on
/// the map with their views), checks through the API that the plan used exactly those sites,
/// that model and those budgets, and accepts it into the registry as planned cameras.
async fn planner(c: &Client, api: &Api) -> TestResult {
    let planned_before = api.get("/api/v1/cameras").await?["features"]
        .as_array()
        .ok_or("no cameras")?
        .iter()
        .filter(|f| f["properties"]["status"] == "planned")
        .count();
    // Two point sites that the fewest cameras see (then the highest priority), to plan for.
    let sites = api.get("/api/v1/sites").await?;
    let mut points: Vec<(usize, i64, String, (f64, f64))> = Vec::new();
    for f in sites["features"].as_array().ok_or("no site features")? {
        let c = &f["geometry"]["coordinates"];
        let (Some(priority), Some(id), Some(lat), Some(lon)) =
            (f["properties"]["priority"].as_i64(), f["properties"]["id"].as_str(), c[1].as_f64(), c[0].as_f64())
        else {
            continue;
        };
        if f["geometry"]["type"] != "Point" {
            continue;
        }
        let seeing = feature_ids(&api.get(&format!("/api/v1/sites/{id}/cameras")).await?).len();
        points.push((seeing, priority, id.to_string(), (lat, lon)));
    }
    points.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    ensure!(points.len() >= 2, "the demo has fewer than two point sites");
    let chosen: Vec<String> = points.iter().take(2).map(|p| p.2.clone()).collect();
    let near = points[0].3;

    click(c, "#open-planner").await?;
    wait_css(c, "#details[data-kind=\"plan\"] .plan-run", Duration::from_secs(5)).await?;
    wait_css(c, "#details .plan-model-check", Duration::from_secs(10)).await?;

    // Two phases, each with its own budget.
    while count(c, "#details .plan-budget-row").await? > 2 {
        click_live(c, "#details .plan-budget-row:last-child .plan-remove-phase").await?;
    }
    while count(c, "#details .plan-budget-row").await? < 2 {
        click_live(c, "#details .plan-add-phase").await?;
    }
    type_live(c, "#details .plan-budget-row[data-phase=\"1\"] .plan-budget", "6000").await?;
    type_live(c, "#details .plan-budget-row[data-phase=\"2\"] .plan-budget", "9000").await?;
    // And at most three new cameras in each.
    type_live(c, "#details .plan-max-cameras", "3").await?;

    // Every site off, then the two on; they are highlighted on the map.
    click_live(c, "#details .plan-sites-none").await?;
    ensure!(count(c, "#details .plan-site-check:checked").await? == 0, "\"none\" left sites chosen");
    for id in &chosen {
        click_live(c, &format!("#details .plan-site-check[data-site-id=\"{id}\"]")).await?;
    }
    let checked = attrs(c, "#details .plan-site-check:checked", "data-site-id").await?;
    ensure!(checked.len() == 2 && chosen.iter().all(|id| checked.contains(id)), "chosen in the form: {checked:?}");
    ensure!(count(c, ".plan-site-ring").await? == 2, "the two chosen sites are not highlighted on the map");
    // Both critical: watched by two cameras.
    for id in &chosen {
        let toggle = format!("#details .plan-site-critical[data-site-id=\"{id}\"]");
        if attrs(c, &toggle, "aria-pressed").await? != ["true"] {
            click_live(c, &toggle).await?;
        }
        ensure!(attrs(c, &toggle, "aria-pressed").await? == ["true"], "{id} is not marked critical");
    }

    // One model: the narrow one, which sees a site from the poles around it.
    let model = "tele-4mp";
    for m in attrs(c, "#details .plan-model-check", "data-model").await? {
        if m != model {
            click_live(c, &format!("#details .plan-model-check[data-model=\"{m}\"]")).await?;
        }
    }
    let models = attrs(c, "#details .plan-model-check:checked", "data-model").await?;
    ensure!(models == [model], "models chosen: {models:?}");

    // One extra mounting point, clicked on the map near the first site.
    let seeing_before = count(c, "#seeing-panel:not([hidden])").await?;
    click_live(c, "#details .plan-pick").await?;
    let mut at = None;
    'search: for dist in [40.0, 70.0, 100.0] {
        for k in 0..8 {
            let target = destination(near.0, near.1, f64::from(k) * 45.0, dist);
            let v = js(
                c,
                r#"const [lat, lon] = arguments;
                   window.polisMap.setView(lat, lon, 17);
                   const p = window.polisMap.project(lat, lon);
                   const r = document.getElementById('map').getBoundingClientRect();
                   const x = Math.round(r.left + p.x), y = Math.round(r.top + p.y);
                   const hit = document.elementFromPoint(x, y);
                   const free = !!hit && document.getElementById('map').contains(hit)
                     && !hit.closest('[data-feature], .map-ui');
                   return {x, y, free};"#,
                vec![json!(target.0), json!(target.1)],
            )
            .await?;
            if v["free"] == json!(true) {
                at = Some((v["x"].as_i64().unwrap_or(0), v["y"].as_i64().unwrap_or(0)));
                break 'search;
            }
        }
    }
    let (x, y) = at.ok_or("no free point of the map near the first site to click")?;
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveTo { duration: None, x, y })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    c.perform_actions(mouse).await.map_err(|e| format!("clicking the map at ({x}, {y}): {e}"))?;
    wait_css(c, "#details .plan-point[data-point=\"1\"]", Duration::from_secs(5)).await?;
    ensure!(count(c, ".plan-point-marker").await? == 1, "the picked point is not on the map");
    ensure!(
        count(c, "#seeing-panel:not([hidden])").await? == seeing_before,
        "the click while picking also looked for the cameras that see the point"
    );
    type_live(c, "#details .plan-point-cost", "250").await?;

    if let Ok(path) = std::env::var("POLIS_PLANNER_SCREENSHOT") {
        let path = Path::new(&path);
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("planner");
        let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("png");
        let png = c.screenshot().await.map_err(|e| format!("screenshot: {e}"))?;
        let form = path.with_file_name(format!("{stem}-form.{ext}"));
        std::fs::write(&form, png).map_err(|e| format!("writing {}: {e}", form.display()))?;
    }

    click_live(c, "#details .plan-run").await?;
    wait_css(c, "#details[data-kind=\"plan\"][data-state=\"done\"] .plan-phase-row", Duration::from_secs(60)).await?;
    ensure!(count(c, "#details .plan-phase-row").await? == 2, "two phases in the table");
    // The results show without scrolling to them.
    let seen = js(
        c,
        "const r = document.querySelector('#details .plan-phase-row').getBoundingClientRect();
         const p = document.querySelector('#details .plan-body').getBoundingClientRect();
         return r.top >= p.top && r.bottom <= Math.min(p.bottom, window.innerHeight);",
        vec![],
    )
    .await?;
    ensure!(seen == json!(true), "the plan's phases are out of view after the run");
    ensure!(count(c, "#details .plan-sector-row").await? >= 1, "no coverage by sector");
    let cameras = count(c, "#details .plan-camera").await?;
    ensure!(cameras > 0, "no new cameras listed");
    ensure!(count(c, ".plan-marker").await? == cameras, "the new cameras are not all on the map");
    ensure!(count(c, ".plan-cone").await? == cameras, "the new cameras' views are not all on the map");
    if let Ok(path) = std::env::var("POLIS_PLANNER_SCREENSHOT") {
        js(c, "window.polisMap.setView(arguments[0], arguments[1], 17);", vec![json!(near.0), json!(near.1)]).await?;
        js(c, "document.querySelector('#details .plan-result').scrollIntoView();", vec![]).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = c.screenshot().await.map_err(|e| format!("screenshot: {e}"))?;
        std::fs::write(&path, png).map_err(|e| format!("writing {path}: {e}"))?;
    }

    // What was planned, through the API.
    let id = find(c, "#details").await?.attr("data-id").await.map_err(|e| e.to_string())?.ok_or("no plan id")?;
    let job = api.get(&format!("/api/v1/plans/{id}")).await?;
    let mut planned_sites: Vec<String> =
        job["summary"]["before"]["sites"].as_object().ok_or("no per-site coverage")?.keys().cloned().collect();
    planned_sites.sort();
    let mut want = chosen.clone();
    want.sort();
    ensure!(planned_sites == want, "the plan covers sites {planned_sites:?}, the form chose {want:?}");
    ensure!(job["input"]["models"] == json!([model]), "the plan used models {}", job["input"]["models"]);
    ensure!(job["input"]["candidates"] == json!(2 * 8 + 1), "candidates: {}", job["input"]["candidates"]);
    let features = job["geojson"]["features"].as_array().ok_or("no features")?;
    ensure!(features.len() == cameras, "the panel lists {cameras} cameras, the API {}", features.len());
    ensure!(features.iter().all(|f| f["properties"]["model"] == model), "a camera of another model: {features:?}");
    let budgets: Vec<f64> =
        job["summary"]["phases"].as_array().ok_or("no phases")?.iter().filter_map(|p| p["budget"].as_f64()).collect();
    ensure!(budgets == [6000.0, 9000.0], "the phases' budgets are {budgets:?}");
    ensure!(job["input"]["max_cameras"] == json!([3, 3]), "the counts are {}", job["input"]["max_cameras"]);
    let per_phase: Vec<u64> =
        job["summary"]["phases"].as_array().ok_or("no phases")?.iter().filter_map(|p| p["cameras"].as_u64()).collect();
    ensure!(per_phase.len() == 2 && per_phase.iter().all(|n| *n <= 3), "cameras per phase: {per_phase:?}");

    click_live(c, "#details .plan-accept").await?;
    wait_css(c, "#details .plan-accepted", Duration::from_secs(10)).await?;
    let planned_after = api.get("/api/v1/cameras").await?["features"]
        .as_array()
        .ok_or("no cameras")?
        .iter()
        .filter(|f| f["properties"]["status"] == "planned")
        .count();
    ensure!(
        planned_after == planned_before + cameras,
        "{planned_before} planned cameras before, {planned_after} after"
    );

    // A file instead of the form: options with their coverage given (a GIS viewshed), a pole
    // that holds two cameras; both of its cameras are bought.
    let viewshed = json!({
        "name": "viewshed",
        "demand": [{"id": "gate", "lon": near.1, "lat": near.0, "weight": 3},
                   {"id": "yard", "lon": near.1 + 0.0004, "lat": near.0, "weight": 2}],
        "candidates": [{"id": "pole", "name": "Viewshed pole 1", "lon": near.1 + 0.0002, "lat": near.0 + 0.0001,
                        "cost": 100, "slots": 2}],
        "models": [{"id": "m", "hfov_deg": 90, "h_pixels": 1920, "cost": 400}],
        "options": [
            {"id": "pole-west", "candidate": "pole", "model": "m", "heading": 270, "covers": ["gate"]},
            {"id": "pole-east", "candidate": "pole", "model": "m", "heading": 90, "covers": ["yard"]}
        ],
        "budgets": [1000]
    });
    let file = std::env::temp_dir().join(format!("polis-viewshed-{}.json", std::process::id()));
    std::fs::write(&file, viewshed.to_string()).map_err(|e| format!("writing {}: {e}", file.display()))?;
    find(c, "#details .plan-file")
        .await?
        .send_keys(&file.to_string_lossy())
        .await
        .map_err(|e| format!("choosing the file: {e}"))?;
    wait_until("the file's plan", Duration::from_secs(60), || async {
        let done = attrs(c, "#details[data-kind=\"plan\"][data-state=\"done\"]", "data-id").await?;
        Ok(done.first().is_some_and(|now| *now != id))
    })
    .await?;
    let _ = std::fs::remove_file(&file);
    ensure!(count(c, "#details .plan-camera").await? == 2, "the pole's two cameras are not listed");
    let listed = text_of(c, "#details .plan-result").await?;
    ensure!(listed.contains("Viewshed pole 1"), "the cameras are not named by their place: {listed}");
    let file_id = find(c, "#details").await?.attr("data-id").await.map_err(|e| e.to_string())?.ok_or("no plan id")?;
    let job = api.get(&format!("/api/v1/plans/{file_id}")).await?;
    let mut options: Vec<&str> = job["geojson"]["features"]
        .as_array()
        .ok_or("no features")?
        .iter()
        .filter_map(|f| f["properties"]["option"].as_str())
        .collect();
    options.sort();
    ensure!(options == ["pole-east", "pole-west"], "the file's plan chose {options:?}");
    click_live(c, "#details .panel-head .icon-btn").await?;
    Ok(())
}

/// Creates a threshold rule on a demo water-level gauge and posts a reading far above it; the
/// alarm must appear in the queue without a reload, be acknowledged from its details, and the
/// gauge's chart must draw. Returns the gauge's id and position.
async fn live_alarm(c: &Client, api: &Api) -> TestResult<(String, (f64, f64))> {
    js(c, "window.__polisNoReload = 'still the same page';", vec![]).await?;
    wait_css(c, "#live-state[data-live=\"on\"]", Duration::from_secs(10)).await?;

    let sensors = api.get("/api/v1/sensors").await?;
    let gauge = sensors["features"]
        .as_array()
        .ok_or("no sensor features")?
        .iter()
        .find(|f| f["properties"]["kind"] == "water_level")
        .ok_or("no water_level sensor in the demo")?;
    let sensor_id = gauge["properties"]["id"].as_str().ok_or("a sensor without id")?.to_string();
    let coords = &gauge["geometry"]["coordinates"];
    let at = (coords[1].as_f64().ok_or("sensor lat")?, coords[0].as_f64().ok_or("sensor lon")?);

    let rule = api
        .post(
            "/api/v1/rules",
            &json!({"name": "Test level", "sensor": sensor_id,
                    "condition": {"type": "threshold", "above": 1}, "severity": "critical"}),
        )
        .await?;
    let rule_id = rule["id"].as_str().ok_or_else(|| format!("no rule id in {rule}"))?.to_string();
    let now = js(c, "return new Date().toISOString();", vec![]).await?;
    let intake = api.post("/api/v1/observations", &json!([{"sensor": sensor_id, "time": now, "value": 999}])).await?;
    ensure!(intake["accepted"] == json!(1), "the reading was not accepted: {intake}");

    let item_css = format!("#alarm-queue .alarm-item[data-source=\"{sensor_id}\"][data-severity=\"critical\"]");
    wait_css(c, &item_css, Duration::from_secs(5)).await.map_err(|e| format!("the alarm did not arrive live: {e}"))?;
    let alarms = api.get("/api/v1/alarms?state=open").await?;
    let alarm = alarms
        .as_array()
        .and_then(|a| a.iter().find(|a| a["rule"] == json!(rule_id)))
        .ok_or_else(|| format!("no open alarm of rule {rule_id} in {alarms}"))?;
    let alarm_id = alarm["id"].as_str().ok_or("an alarm without id")?.to_string();
    let item = format!("#alarm-queue .alarm-item[data-alarm-id=\"{alarm_id}\"]");
    wait_css(c, &item, Duration::from_secs(5)).await?;
    let e = find(c, &item).await?;
    let attr = |name: &'static str| {
        let e = e.clone();
        async move { e.attr(name).await.map_err(|x| x.to_string()).map(|v| v.unwrap_or_default()) }
    };
    ensure!(attr("data-severity").await? == "critical", "the alarm's item is not critical");
    ensure!(attr("data-source").await? == sensor_id, "the alarm's item names another source");
    ensure!(attr("data-state").await? == "active_unacknowledged", "a new alarm is not active and unacknowledged");
    let same = js(c, "return window.__polisNoReload || null;", vec![]).await?;
    ensure!(same == json!("still the same page"), "the page was reloaded to show the alarm");
    let badge = text_of(c, "#alarm-count").await?;
    ensure!(badge.trim().parse::<u32>().unwrap_or(0) >= 1, "the top bar counts {badge:?} open alarms");

    // Its details, then acknowledge. The panel follows the alarm live, so retry a click that
    // met a panel just redrawn.
    click(c, &item).await?;
    wait_css(c, &format!("#details[data-kind=\"alarm\"][data-id=\"{alarm_id}\"]"), Duration::from_secs(5)).await?;
    let details = text_of(c, "#details").await?;
    ensure!(details.contains("Acknowledge") && details.contains("Clear"), "no alarm actions in {details:?}");
    let acked = format!("{item}[data-state=\"active_acknowledged\"]");
    wait_until("the alarm acknowledged in the queue", Duration::from_secs(20), || {
        let acked = acked.clone();
        async move {
            if count(c, &acked).await? > 0 {
                return Ok(true);
            }
            if let Ok(b) = c.find(Locator::Css("#details .alarm-ack")).await {
                let _ = b.click().await;
            }
            Ok(false)
        }
    })
    .await?;
    let api_alarm = api.get(&format!("/api/v1/alarms/{alarm_id}")).await?;
    ensure!(api_alarm["state"] == "active_acknowledged", "the API says {} after acknowledging", api_alarm["state"]);
    ensure!(api_alarm["acknowledged_by"] == "admin", "acknowledged by {}", api_alarm["acknowledged_by"]);

    // An incident from the alarm: the water level makes it a flood, linked to the alarm.
    click_live(c, "#details .alarm-incident .incident-create-open").await?;
    wait_css(c, "#details .alarm-incident .incident-create", Duration::from_secs(5)).await?;
    click_live(c, "#details .alarm-incident .incident-create-submit").await?;
    wait_css(c, "#details[data-kind=\"incident\"][data-state=\"new\"] .incident-title", Duration::from_secs(10))
        .await?;
    ensure!(text_of(c, "#details .incident-title").await? == "Flood", "the incident from a water level is not a flood");
    let inc_id = find(c, "#details").await?.attr("data-id").await.map_err(|e| e.to_string())?.ok_or("no id")?;
    let inc = api.get(&format!("/api/v1/incidents/{inc_id}")).await?;
    ensure!(inc["alarms"] == json!([alarm_id]) && inc["source"] == "alarm", "the incident from the alarm is {inc}");
    // Back on the alarm, the panel leads to that incident instead of offering a new one.
    click_live(c, &item).await?;
    wait_css(c, "#details[data-kind=\"alarm\"] .alarm-incident-open", Duration::from_secs(5)).await?;
    ensure!(
        count(c, "#details .alarm-incident .incident-create-open").await? == 0,
        "a linked alarm offers a new incident"
    );

    // A second alarm on the gauge is offered for linking to the open flood, and linked.
    let rule2 = api
        .post(
            "/api/v1/rules",
            &json!({"name": "Test level 2", "sensor": sensor_id,
                    "condition": {"type": "threshold", "above": 2}, "severity": "warning"}),
        )
        .await?;
    let rule2 = rule2["id"].as_str().ok_or("no rule id")?.to_string();
    let now = js(c, "return new Date().toISOString();", vec![]).await?;
    api.post("/api/v1/observations", &json!([{"sensor": sensor_id, "time": now, "value": 998}])).await?;
    let mut second = None;
    let start = Instant::now();
    while second.is_none() && start.elapsed() < Duration::from_secs(5) {
        let alarms = api.get("/api/v1/alarms?state=open").await?;
        second = alarms
            .as_array()
            .and_then(|a| a.iter().find(|a| a["rule"] == json!(rule2)))
            .and_then(|a| a["id"].as_str().map(String::from));
        if second.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let second = second.ok_or("no alarm from the second rule")?;
    let item2 = format!("#alarm-queue .alarm-item[data-alarm-id=\"{second}\"]");
    wait_css(c, &item2, Duration::from_secs(5)).await?;
    click_live(c, &item2).await?;
    let link = format!("#details[data-id=\"{second}\"] .alarm-incident-link[data-incident-id=\"{inc_id}\"]");
    wait_css(c, &link, Duration::from_secs(5)).await?;
    ensure!(
        count(c, "#details .alarm-incident .incident-create-open").await? == 0,
        "an alarm next to an open incident offers a new one instead of linking"
    );
    click_live(c, &link).await?;
    wait_css(c, &format!("#details[data-kind=\"incident\"][data-id=\"{inc_id}\"]"), Duration::from_secs(5)).await?;
    let inc = api.get(&format!("/api/v1/incidents/{inc_id}")).await?;
    ensure!(inc["alarms"] == json!([alarm_id, second]), "the flood's alarms are {}", inc["alarms"]);

    // The gauge on the map: coloured by its alarm; a click draws its chart. Cameras are hidden
    // for the click, as an operator would, since one may stand on the gauge.
    js(c, "window.polisMap.setView(arguments[0], arguments[1], 17);", vec![json!(at.0), json!(at.1)]).await?;
    let marker = format!(".sensor-marker[data-sensor-id=\"{sensor_id}\"]");
    wait_css(c, &format!("{marker}[data-state=\"alarm\"][data-severity=\"critical\"]"), Duration::from_secs(5)).await?;
    click(c, "#layer-cameras").await?;
    find(c, &marker).await?.click().await.map_err(|e| format!("clicking the gauge's marker: {e}"))?;
    click(c, "#layer-cameras").await?;
    wait_css(c, &format!("#details[data-kind=\"sensor\"][data-id=\"{sensor_id}\"]"), Duration::from_secs(5)).await?;
    wait_until("the gauge's chart", Duration::from_secs(10), move || async move {
        let n = js(
            c,
            "const s = document.querySelector('#sensor-chart svg'); return s ? +s.getAttribute('data-points') : 0;",
            vec![],
        )
        .await?;
        Ok(n.as_i64().unwrap_or(0) >= 1 && count(c, "#sensor-chart svg .chart-line").await? >= 1)
    })
    .await?;
    ensure!(count(c, "#sensor-chart svg .chart-point").await? >= 1, "the chart marks no reading");
    let latest = text_of(c, "#sensor-latest").await?;
    ensure!(latest.chars().any(|ch| ch.is_ascii_digit()), "the gauge's latest value is not shown: {latest:?}");
    Ok((sensor_id, at))
}

// ---- Public warnings (issue 12) ----------------------------------------------------------------

/// A CAP feed of another authority on loopback: an Atom feed with one Severe storm warning whose
/// area covers Kazanlak. Serves until the test ends.
async fn meteo_feed() -> String {
    const OVER_KAZANLAK: &str = "42.55,25.30 42.55,25.50 42.70,25.50 42.70,25.30 42.55,25.30";
    let alert = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>meteo-storm-1</identifier><sender>meteo@example.bg</sender>
<sent>2026-12-07T10:00:00+02:00</sent><status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
<info><language>bg-BG</language><category>Met</category><event>Буря</event><urgency>Expected</urgency><severity>Severe</severity>
<certainty>Likely</certainty><expires>2099-12-08T10:00:00+02:00</expires><headline>Силен вятър над Казанлък</headline>
<description>Пориви до 90 km/h</description><area><areaDesc>Казанлък</areaDesc><polygon>{OVER_KAZANLAK}</polygon></area></info></alert>"#
    );
    let feed = "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Meteo</title><id>urn:meteo</id>\
        <updated>2026-12-07T08:00:00Z</updated><entry><id>meteo-storm-1</id><title>Storm</title>\
        <updated>2026-12-07T08:00:00Z</updated><link rel=\"alternate\" type=\"application/cap+xml\" href=\"/storm-1.xml\"/></entry></feed>";
    let app = axum::Router::new()
        .route(
            "/feed.atom",
            axum::routing::get(move || async move { ([("content-type", "application/atom+xml")], feed) }),
        )
        .route(
            "/storm-1.xml",
            axum::routing::get(move || async move { ([("content-type", "application/cap+xml")], alert) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the feed");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Issue 12, as its users meet it in the demo city: a storm warning of the meteorological service
/// arrives by itself (the console lists it and draws its area); the Tundzha rises past its
/// warning level and the duty officer drafts a warning from the alarm's panel (the river bank the
/// gauge watches as its area), edits it and saves it; a form with no event and no area is
/// refused naming both, writing nothing; an area is drawn on the map with real clicks; the
/// supervisor (a second person) approves the flood warning; a citizen, without an account, reads
/// it on the portal in Bulgarian and English; the independent CAP 1.2 validator accepts the
/// message the Atom feed links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_turns_a_flood_alarm_into_a_public_warning_and_shows_the_meteo_service_s() {
    let feed = meteo_feed().await;
    let config =
        format!("public_url = \"https://polis.example.bg/\"\n[[warnings.cap_feeds]]\nurl = \"{feed}/feed.atom\"\nmunicipality = \"kazanlak\"\nevery_s = 5\n");
    let con = start_console_with(Some(&config)).await;
    let outcome = tokio::time::timeout(Duration::from_secs(240), warnings_scenario(&con.client, &con.base, &con.api))
        .await
        .unwrap_or_else(|_| Err("the warnings scenario took more than 240 s".into()));
    con.finish(outcome, "warnings").await;
}

async fn sign_in_as(c: &Client, base: &str, user: &str, password: &str) -> TestResult {
    c.goto(&format!("{base}/")).await.map_err(|e| format!("opening the console: {e}"))?;
    wait_css(c, "#login-form", Duration::from_secs(10)).await?;
    type_into(c, "#username", user).await?;
    type_into(c, "#password", password).await?;
    click(c, "#login-submit").await?;
    wait_css(c, "body[data-ready=\"1\"]", Duration::from_secs(30)).await?;
    wait_css(c, "#live-state[data-live=\"on\"]", Duration::from_secs(15)).await
}

/// Clicks the map with the mouse at container pixel (x, y) of `#map`.
async fn click_map_px(c: &Client, x: f64, y: f64) -> TestResult {
    let at = js(
        c,
        "const r = document.getElementById('map').getBoundingClientRect(); return [Math.round(r.left + arguments[0]), Math.round(r.top + arguments[1])];",
        vec![json!(x), json!(y)],
    )
    .await?;
    let (x, y) = (at[0].as_i64().unwrap_or(0), at[1].as_i64().unwrap_or(0));
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveTo { duration: None, x, y })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    c.perform_actions(mouse).await.map_err(|e| format!("clicking the map at ({x}, {y}): {e}"))
}

async fn warnings_of(api: &Api) -> TestResult<Vec<Value>> {
    Ok(api.get("/api/v1/warnings").await?["items"].as_array().cloned().unwrap_or_default())
}

async fn warnings_scenario(c: &Client, base: &str, api: &Api) -> TestResult {
    const OFFICER: &str = "officer-Pa55word";
    for (name, role) in [("ivan", "operator"), ("vera", "supervisor")] {
        api.post(
            "/api/v1/users",
            &json!({"username": name, "password": OFFICER, "role": role, "municipality": "kazanlak"}),
        )
        .await?;
    }
    sign_in_as(c, base, "ivan", OFFICER).await?;

    // The meteorological service's storm warning arrives by itself: listed, and drawn on the map.
    click(c, "#open-warnings").await?;
    wait_css(c, "#warnings-dialog[open]", Duration::from_secs(5)).await?;
    wait_css(c, ".warn-external-item[data-identifier=\"meteo-storm-1\"]", Duration::from_secs(20))
        .await
        .map_err(|e| format!("the outside warning did not reach the console: {e}"))?;
    let ext = text_of(c, ".warn-external-item[data-identifier=\"meteo-storm-1\"]").await?;
    ensure!(
        ext.contains("Силен вятър над Казанлък") && ext.contains("meteo@example.bg"),
        "the outside warning reads {ext:?}"
    );
    wait_until("the outside warning's area on the map", Duration::from_secs(5), || async move {
        Ok(count(c, ".layer-warnings .warn-area-external").await? == 1)
    })
    .await?;

    // Severe: the control room also gets an alarm, named for what it is.
    let outside = "#alarm-queue .alarm-item[data-source^=\"cap-\"] .alarm-source";
    wait_css(c, outside, Duration::from_secs(10)).await?;
    let label = text_of(c, outside).await?;
    ensure!(label == "Warning from outside", "the outside warning's alarm is labelled {label:?}");

    // A form with no event and no area is refused naming both; nothing is written.
    click_live(c, ".warn-new").await?;
    wait_css(c, ".warn-editor[data-id=\"new\"]", Duration::from_secs(5)).await?;
    type_live(c, "#warn-headline-en", "Something").await?;
    click_live(c, ".warn-save").await?;
    wait_css(c, ".warn-error", Duration::from_secs(5)).await?;
    let error = text_of(c, ".warn-error").await?;
    ensure!(error.contains("event") && error.contains("area"), "the refusal does not name event and area: {error:?}");
    ensure!(count(c, "#warn-event[aria-invalid=\"true\"]").await? == 1, "the event field is not marked");
    ensure!(count(c, ".warn-area-field[aria-invalid=\"true\"]").await? == 1, "the area is not marked");
    ensure!(
        js(c, "return document.getElementById('warn-headline-en').value;", vec![]).await? == json!("Something"),
        "the refused form lost what was typed"
    );
    ensure!(warnings_of(api).await?.is_empty(), "a refused warning was written");

    // An area drawn on the map with three real clicks around the centre of the town.
    type_live(c, "#warn-event", "Road closed").await?;
    type_live(c, "#warn-headline-bg", "Затворен път").await?;
    type_live(c, "#warn-description-bg", "Ремонт на моста.").await?;
    type_live(c, "#warn-description-en", "The bridge is being repaired.").await?;
    let centre = (42.6195, 25.3935);
    js(
        c,
        "window.polisMap.setView(arguments[0], arguments[1], 15); return true;",
        vec![json!(centre.0), json!(centre.1)],
    )
    .await?;
    click_live(c, ".warn-draw-polygon").await?;
    wait_css(c, "#draw-bar:not([hidden])", Duration::from_secs(5)).await?;
    ensure!(count(c, "#warnings-dialog[open]").await? == 0, "the panel hides the map while drawing");
    let size =
        js(c, "const r = document.getElementById('map').getBoundingClientRect(); return [r.width, r.height];", vec![])
            .await?;
    let (w, h) = (size[0].as_f64().unwrap_or(800.0), size[1].as_f64().unwrap_or(600.0));
    let corners = [(w * 0.45, h * 0.45), (w * 0.58, h * 0.47), (w * 0.5, h * 0.62)];
    let mut expected = Vec::new();
    for (x, y) in corners {
        let p =
            js(c, "return window.polisMap.unproject(arguments[0], arguments[1]);", vec![json!(x), json!(y)]).await?;
        expected.push((p["lat"].as_f64().unwrap_or(0.0), p["lon"].as_f64().unwrap_or(0.0)));
        click_map_px(c, x, y).await?;
    }
    wait_until("the three corners drawn", Duration::from_secs(5), || async move {
        Ok(count(c, ".layer-drawing .warn-vertex").await? == 3)
    })
    .await?;
    ensure!(count(c, "#seeing-panel:not([hidden])").await? == 0, "a corner's click also looked for cameras");
    click_live(c, "#draw-bar .draw-finish").await?;
    wait_css(c, "#warnings-dialog[open] .warn-area-summary[data-kind=\"Polygon\"]", Duration::from_secs(5)).await?;
    ensure!(text_of(c, ".warn-area-summary").await?.contains("3 corners"), "the drawn area is not in the form");
    click_live(c, ".warn-save").await?;
    wait_css(c, ".warn-item[data-status=\"draft\"]", Duration::from_secs(5)).await?;
    let drawn = warnings_of(api).await?;
    ensure!(drawn.len() == 1, "one warning expected, the API has {drawn:?}");
    let ring = drawn[0]["area"]["coordinates"][0].as_array().cloned().unwrap_or_default();
    ensure!(ring.len() == 4, "the drawn area has {} positions", ring.len());
    for (i, (lat, lon)) in expected.iter().enumerate() {
        let got = (ring[i][1].as_f64().unwrap_or(0.0), ring[i][0].as_f64().unwrap_or(0.0));
        ensure!(distance_m((*lat, *lon), got) < 5.0, "corner {i} is at {got:?}, clicked at {:?}", (lat, lon));
    }
    let road_id = drawn[0]["id"].as_str().unwrap_or_default().to_string();
    click_live(c, &format!(".warn-item[data-id=\"{road_id}\"] .warn-cancel")).await?;
    wait_css(c, &format!(".warn-item[data-id=\"{road_id}\"][data-status=\"cancelled\"]"), Duration::from_secs(5))
        .await?;
    click_live(c, ".warn-close").await?;

    // The Tundzha passes its warning level (400 cm) at the I-5 bridge.
    let now = js(c, "return new Date().toISOString();", vec![]).await?;
    api.post("/api/v1/observations", &json!([{"sensor": "kz-sens-wl-tundzha-i5", "time": now, "value": 432}])).await?;
    let item = "#alarm-queue .alarm-item[data-source=\"kz-sens-wl-tundzha-i5\"]";
    wait_css(c, item, Duration::from_secs(10)).await.map_err(|e| format!("no flood alarm: {e}"))?;
    click_live(c, item).await?;
    wait_css(c, "#details[data-kind=\"alarm\"] .warn-draft-from-alarm", Duration::from_secs(5)).await?;
    click_live(c, "#details .warn-draft-from-alarm").await?;
    wait_css(c, "#warnings-dialog[open] .warn-editor", Duration::from_secs(10)).await?;
    ensure!(
        js(c, "return document.getElementById('warn-event').value;", vec![]).await? == json!("Flood"),
        "the draft's event is not Flood"
    );
    ensure!(text_of(c, ".warn-area-summary").await?.contains("4 corners"), "the draft's area is not the river bank");
    type_live(c, "#warn-headline-en", "The Tundzha is rising at the I-5 bridge").await?;
    let severity = find(c, "#warn-severity").await?;
    severity.select_by_value("severe").await.map_err(|e| format!("choosing the severity: {e}"))?;
    click_live(c, ".warn-save").await?;
    wait_until("the edited draft", Duration::from_secs(10), || async move {
        Ok(warnings_of(api).await?.iter().any(|w| w["headline"]["en"] == "The Tundzha is rising at the I-5 bridge"))
    })
    .await?;
    let flood = warnings_of(api).await?.into_iter().find(|w| w["event"] == "Flood").ok_or("no flood warning")?;
    ensure!(flood["status"] == "draft" && flood["severity"] == "severe", "the flood warning is {flood}");
    ensure!(
        flood["area_desc"]["en"] == "Tundzha bank – south of the town",
        "the draft's area is {}",
        flood["area_desc"]
    );
    let flood_id = flood["id"].as_str().unwrap_or_default().to_string();
    let flood_item = format!(".warn-item[data-id=\"{flood_id}\"]");
    wait_css(c, &flood_item, Duration::from_secs(5)).await?;
    ensure!(count(c, &format!("{flood_item} .warn-approve")).await? == 0, "the author is offered to approve");

    // The supervisor approves it: published at once.
    click_live(c, ".warn-close").await?;
    click(c, "#logout").await?;
    sign_in_as(c, base, "vera", OFFICER).await?;
    click(c, "#open-warnings").await?;
    wait_css(c, &format!("{flood_item} .warn-approve"), Duration::from_secs(10)).await?;
    click_live(c, &format!("{flood_item} .warn-approve")).await?;
    wait_css(c, &format!("{flood_item}[data-status=\"published\"] .warn-cap"), Duration::from_secs(10)).await?;
    wait_until("the published warning's area on the map", Duration::from_secs(5), || async move {
        Ok(count(c, ".layer-warnings .warn-area:not(.warn-area-external)").await? == 1)
    })
    .await?;
    click_live(c, ".warn-close").await?;
    click(c, "#logout").await?;

    // The administrator publishes the gauge's readings on the portal.
    sign_in_as(c, base, "admin", ADMIN_PASSWORD).await?;
    click(c, "#open-warnings").await?;
    wait_css(c, "#warn-pub-item", Duration::from_secs(10)).await?;
    find(c, "#warn-pub-item")
        .await?
        .select_by_value("kz-sens-wl-tundzha-i5")
        .await
        .map_err(|e| format!("choosing the gauge: {e}"))?;
    click_live(c, ".warn-publish").await?;
    wait_css(
        c,
        ".warn-publication[data-kind=\"sensor\"][data-item=\"kz-sens-wl-tundzha-i5\"]",
        Duration::from_secs(10),
    )
    .await?;
    let published = api.get("/api/v1/publications").await?;
    ensure!(
        published["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["item"] == "kz-sens-wl-tundzha-i5" && p["public"] == true)),
        "the API does not list the gauge as public: {published}"
    );
    click_live(c, ".warn-close").await?;
    click(c, "#logout").await?;

    // A citizen without an account: the portal in Bulgarian, then in English.
    c.goto(&format!("{base}/public/")).await.map_err(|e| format!("opening the portal: {e}"))?;
    let page = text_of(c, "main").await?;
    ensure!(page.contains("Опасност от наводнение"), "the portal does not show the warning in Bulgarian: {page}");
    ensure!(page.contains("Тунджа – мост път I-5"), "the portal does not show the published gauge: {page}");
    click(c, "a[hreflang=\"en\"]").await?;
    wait_until("the portal in English", Duration::from_secs(10), || async move {
        Ok(text_of(c, "main").await?.contains("The Tundzha is rising at the I-5 bridge"))
    })
    .await?;

    // The Atom feed links the CAP 1.2 message; the independent validator accepts it.
    let atom = api.http.get(format!("{base}/public/cap/feed.atom")).send().await.map_err(|e| e.to_string())?;
    let atom = atom.text().await.map_err(|e| e.to_string())?;
    let href = atom
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("/public/cap/alerts/"))
        .ok_or_else(|| format!("no alert link in the feed: {atom}"))?;
    let path = &href[href.find("/public/").unwrap_or(0)..];
    let xml = api.http.get(format!("{base}{path}")).send().await.map_err(|e| e.to_string())?;
    let xml = xml.text().await.map_err(|e| e.to_string())?;
    ensure!(
        xml.contains("The Tundzha is rising at the I-5 bridge"),
        "the CAP message is not the approved warning: {xml}"
    );
    // The public address given in the configuration: in the message, and for the console's share links.
    ensure!(
        xml.contains("<web>https://polis.example.bg/public/</web>"),
        "the CAP message's web is not the public address: {xml}"
    );
    let console = api.get("/api/v1/console/config").await?;
    ensure!(
        console["public_url"] == "https://polis.example.bg",
        "the console is not told the public address: {console}"
    );
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("flood.xml");
    std::fs::write(&file, &xml).map_err(|e| e.to_string())?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/cap_validate.sh");
    let out = Command::new("bash").arg(script).arg(&file).output().map_err(|e| format!("the CAP validator: {e}"))?;
    ensure!(
        out.status.success(),
        "the CAP validator refused the message: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// `n` synthetic cameras around Kazanlak as a GeoJSON FeatureCollection for
/// `POST /api/v1/import/cameras`: most in five dense quarters, the rest scattered over 20 km,
/// from a seeded generator (the same cameras every run).
fn synthetic_cameras(n: usize, seed: u64) -> Value {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64)
    };
    let quarters = [(42.619, 25.393), (42.626, 25.405), (42.612, 25.380), (42.630, 25.380), (42.607, 25.408)];
    let kinds = ["fixed", "fixed", "fixed", "ptz", "anpr", "thermal"];
    let features: Vec<Value> = (0..n)
        .map(|i| {
            let (lat, lon) = if next() < 0.8 {
                let (qlat, qlon) = quarters[i % quarters.len()];
                (qlat + (next() - 0.5) * 0.012, qlon + (next() - 0.5) * 0.016)
            } else {
                (42.619 + (next() - 0.5) * 0.18, 25.393 + (next() - 0.5) * 0.24)
            };
            let kind = kinds[(next() * kinds.len() as f64) as usize % kinds.len()];
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                   "properties": {"id": format!("bulk-{i:05}"), "name": format!("Synthetic camera {i}"),
                                  "heading_deg": (next() * 360.0).floor(), "fov_deg": 40.0 + (next() * 60.0).floor(),
                                  "range_m": 40.0 + (next() * 120.0).floor(), "kind": kind, "mount_height_m": 6.0}})
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}

/// Issue 13, a map for a region: with 5,000 more cameras loaded, the map at region zoom draws
/// clusters whose counts add up to every camera; a click on the largest cluster zooms in and it
/// splits; at town zoom only the cameras in view are drawn, and a click on one opens its panel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_map_clusters_many_cameras_at_low_zoom_and_a_camera_is_clickable_at_town_zoom() {
    let con = start_console().await;
    let outcome = tokio::time::timeout(Duration::from_secs(120), many_cameras(&con.client, &con.base, &con.api))
        .await
        .unwrap_or_else(|_| Err("the many-cameras scenario took more than 120 s".into()));
    con.finish(outcome, "many-cameras").await;
}

async fn many_cameras(c: &Client, base: &str, api: &Api) -> TestResult {
    let demo = api.get("/api/v1/cameras").await?;
    let municipality = demo["features"][0]["properties"]["municipality"]
        .as_str()
        .ok_or("no municipality on a demo camera")?
        .to_string();
    let body = synthetic_cameras(5000, 13);
    api.post(&format!("/api/v1/import/cameras?municipality={municipality}"), &body).await?;
    let total = feature_ids(&api.get("/api/v1/cameras").await?).len();
    ensure!(total >= 5000, "the API has {total} cameras after the import");

    sign_in_as(c, base, "admin", ADMIN_PASSWORD).await?;
    // Region zoom: clusters, and every camera counted once (a marker or in a cluster).
    let drawn = js(
        c,
        "window.polisMap.setView(42.619, 25.393, 10); window.polisMap.view.render(); return window.PolisMap.drawnCameras();",
        vec![],
    )
    .await?;
    ensure!(drawn["mode"] == "clusters", "the map at zoom 10 draws {}", drawn["mode"]);
    let clusters = drawn["clusters"].as_array().cloned().unwrap_or_default();
    let markers = drawn["markers"].as_array().map_or(0, |a| a.len());
    let clustered: u64 = clusters.iter().map(|cl| cl["count"].as_u64().unwrap_or(0)).sum();
    ensure!(!clusters.is_empty(), "no cluster at zoom 10: {drawn}");
    ensure!(
        clustered as usize + markers == total,
        "{clustered} cameras in clusters and {markers} markers drawn for {total} cameras"
    );
    ensure!(markers < 100, "{markers} single markers at region zoom");
    let largest = clusters.iter().max_by_key(|cl| cl["count"].as_u64().unwrap_or(0)).ok_or("no cluster")?.clone();
    let largest_count = largest["count"].as_u64().unwrap_or(0);
    ensure!(largest_count >= 500, "the largest cluster holds {largest_count} cameras");

    // A click on it zooms in and it splits. The demo's key sites and sensors sit on the town's
    // cluster at this zoom: hidden for the click, as an operator would.
    click(c, "#layer-sites").await?;
    click(c, "#layer-sensors").await?;
    let (lx, ly) = (largest["x"].as_f64().unwrap_or(0.0), largest["y"].as_f64().unwrap_or(0.0));
    click_map_px(c, lx, ly).await?;
    wait_until("the map to zoom into the cluster", Duration::from_secs(5), || async {
        let z = js(c, "return window.polisMap.getView().zoom;", vec![]).await?;
        Ok(z.as_f64().unwrap_or(0.0) >= 11.0 - 1e-6)
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = js(c, "window.polisMap.view.render(); return window.PolisMap.drawnCameras();", vec![]).await?;
    let max_after = after["clusters"]
        .as_array()
        .map_or(0, |a| a.iter().map(|cl| cl["count"].as_u64().unwrap_or(0)).max().unwrap_or(0));
    let pieces =
        after["clusters"].as_array().map_or(0, |a| a.len()) + after["markers"].as_array().map_or(0, |a| a.len());
    ensure!(
        max_after < largest_count && pieces > 1,
        "after the click the largest cluster holds {max_after} (before {largest_count}), {pieces} drawn"
    );

    click(c, "#layer-sites").await?;
    click(c, "#layer-sensors").await?;

    // Town zoom: only what is in view is drawn; a camera is clicked with the mouse (one whose
    // marker no site or sensor marker covers).
    let mut found = None;
    for cam in body["features"].as_array().ok_or("no features")?.iter().take(40) {
        let pos = &cam["geometry"]["coordinates"];
        let (lon, lat) = (pos[0].as_f64().unwrap_or(0.0), pos[1].as_f64().unwrap_or(0.0));
        let at = js(
            c,
            "window.polisMap.setView(arguments[0], arguments[1], 17); window.polisMap.view.render(); \
             const p = window.polisMap.project(arguments[0], arguments[1]); \
             const r = document.getElementById('map').getBoundingClientRect(); \
             const hit = document.elementFromPoint(r.left + p.x, r.top + p.y); \
             const free = !!hit && document.getElementById('map').contains(hit) && !hit.closest('[data-feature], .map-ui'); \
             return {p, free, ids: window.PolisMap.camerasAt(p.x, p.y), drawn: window.PolisMap.drawnCameras()};",
            vec![json!(lat), json!(lon)],
        )
        .await?;
        if at["free"] == json!(true) {
            found = Some(at);
            break;
        }
    }
    let at = found.ok_or("every synthetic camera tried lies under a site or sensor marker")?;
    ensure!(at["drawn"]["mode"] == "cameras", "the map at zoom 17 draws {}", at["drawn"]["mode"]);
    let in_view = at["drawn"]["markers"].as_array().map_or(0, |a| a.len());
    ensure!(in_view > 0 && in_view < total / 4, "{in_view} markers drawn at zoom 17 out of {total}");
    let top =
        at["ids"][0].as_str().ok_or_else(|| format!("no camera drawn under a camera's position: {at}"))?.to_string();
    let (x, y) = (at["p"]["x"].as_f64().unwrap_or(0.0), at["p"]["y"].as_f64().unwrap_or(0.0));
    click_map_px(c, x, y).await?;
    wait_css(c, &format!("#details[data-kind=\"camera\"][data-id=\"{top}\"]"), Duration::from_secs(5)).await?;
    let selected = drawn_cameras(c).await?;
    ensure!(
        selected["selected"] == top.as_str(),
        "the map highlights {} after the click on {top}",
        selected["selected"]
    );
    ensure!(
        selected["markers"]
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m["id"] == top.as_str() && m["halo"] == "selected")),
        "the clicked camera is not drawn selected"
    );
    Ok(())
}

/// Drags from one page point to another with the mouse, in steps.
async fn drag_px(c: &Client, from: (i64, i64), to: (i64, i64)) -> TestResult {
    let mut mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveTo { duration: None, x: from.0, y: from.1 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT });
    for i in 1..=10 {
        let x = from.0 + (to.0 - from.0) * i / 10;
        let y = from.1 + (to.1 - from.1) * i / 10;
        mouse = mouse.then(PointerAction::MoveTo { duration: Some(Duration::from_millis(20)), x, y });
    }
    mouse = mouse.then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    c.perform_actions(mouse).await.map_err(|e| format!("dragging from {from:?} to {to:?}: {e}"))
}

/// The page point at the centre of `css`.
async fn centre_of(c: &Client, css: &str) -> TestResult<(i64, i64)> {
    let v = js(
        c,
        "const e = document.querySelector(arguments[0]); if (!e) return null; const r = e.getBoundingClientRect(); \
         return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)];",
        vec![json!(css)],
    )
    .await?;
    Ok((v[0].as_i64().ok_or_else(|| format!("no {css}"))?, v[1].as_i64().unwrap_or(0)))
}

/// Issue 13, cameras on the map: the administrator adds a camera by clicking the map, drags it
/// to another place and turns it with the handle at the tip of its view; a refused value shows
/// the server's message beside its field. The API then has the new position and heading, and
/// the audit log has the creation and both changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_admin_adds_a_camera_by_clicking_the_map_then_drags_and_turns_it() {
    let con = start_console().await;
    let outcome = tokio::time::timeout(Duration::from_secs(120), camera_on_the_map(&con.client, &con.base, &con.api))
        .await
        .unwrap_or_else(|_| Err("the camera-editing scenario took more than 120 s".into()));
    con.finish(outcome, "camera-edit").await;
}

async fn camera_on_the_map(c: &Client, base: &str, api: &Api) -> TestResult {
    sign_in_as(c, base, "admin", ADMIN_PASSWORD).await?;
    click(c, "#layer-sites").await?;
    click(c, "#layer-sensors").await?;
    // Fields west of the town, where the demo has no camera.
    let (lat, lon) = (42.612, 25.345);
    let size = js(
        c,
        "window.polisMap.setView(arguments[0], arguments[1], 17); window.polisMap.view.render(); \
         const v = window.polisMap.view; return [v.width, v.height, window.PolisMap.camerasAt(v.width / 2 + 40, v.height / 2).length];",
        vec![json!(lat), json!(lon)],
    )
    .await?;
    ensure!(size[2] == 0, "a camera is drawn where the test adds one");
    let (w, h) = (size[0].as_f64().unwrap_or(0.0), size[1].as_f64().unwrap_or(0.0));
    click(c, ".camedit-toggle").await?;
    let (cx, cy) = (w / 2.0 + 40.0, h / 2.0);
    let aimed =
        js(c, "return window.polisMap.unproject(arguments[0], arguments[1]);", vec![json!(cx), json!(cy)]).await?;
    click_map_px(c, cx, cy).await?;
    wait_css(c, "#camedit-panel[data-mode=\"new\"]", Duration::from_secs(5)).await?;
    type_into(c, "#camedit-name", "Field gate camera").await?;
    // A range the server refuses: its message beside the field, nothing written.
    type_into(c, "#camedit-range_m", "-5").await?;
    click(c, "#camedit-panel .camedit-save").await?;
    wait_css(c, "#camedit-panel .camedit-field[data-field=\"range_m\"] .field-error", Duration::from_secs(5)).await?;
    ensure!(count(c, "#camedit-panel[data-mode=\"new\"]").await? == 1, "a refused camera was saved");
    type_into(c, "#camedit-range_m", "60").await?;
    click(c, "#camedit-panel .camedit-save").await?;
    wait_css(c, "#camedit-panel[data-mode=\"edit\"]", Duration::from_secs(5)).await?;
    let id = js(c, "return document.getElementById('camedit-panel').dataset.id;", vec![]).await?;
    let id = id.as_str().filter(|s| !s.is_empty()).ok_or("no id on the saved camera's panel")?.to_string();
    let cam = api.get(&format!("/api/v1/cameras/{id}")).await?;
    let at = (cam["lat"].as_f64().unwrap_or(0.0), cam["lon"].as_f64().unwrap_or(0.0));
    let want = (aimed["lat"].as_f64().unwrap_or(0.0), aimed["lon"].as_f64().unwrap_or(0.0));
    ensure!(distance_m(at, want) < 2.0, "the camera was added {:.1} m from the click", distance_m(at, want));
    ensure!(cam["name"] == "Field gate camera" && cam["range_m"] == 60.0, "the API has {cam}");

    // Drag it 80 px east and 60 px south.
    let from = centre_of(c, ".camedit-handle.camedit-move").await?;
    let to = (from.0 + 80, from.1 + 60);
    let target = js(
        c,
        "const r = document.getElementById('map').getBoundingClientRect(); return window.polisMap.unproject(arguments[0] - r.left, arguments[1] - r.top);",
        vec![json!(to.0), json!(to.1)],
    )
    .await?;
    let target = (target["lat"].as_f64().unwrap_or(0.0), target["lon"].as_f64().unwrap_or(0.0));
    drag_px(c, from, to).await?;
    let moved = || async {
        let cam = api.get(&format!("/api/v1/cameras/{id}")).await?;
        let at = (cam["lat"].as_f64().unwrap_or(0.0), cam["lon"].as_f64().unwrap_or(0.0));
        Ok(distance_m(at, target) < 2.0)
    };
    wait_until("the camera moved where it was dragged", Duration::from_secs(5), moved).await?;

    // Turn it east: the tip of its view dragged 100 px to the right of the camera.
    let body = centre_of(c, ".camedit-handle.camedit-move").await?;
    let tip = centre_of(c, ".camedit-handle.camedit-aim").await?;
    drag_px(c, tip, (body.0 + 100, body.1)).await?;
    wait_until("the camera turned east", Duration::from_secs(5), || async {
        let cam = api.get(&format!("/api/v1/cameras/{id}")).await?;
        let heading = cam["heading_deg"].as_f64().unwrap_or(-1.0);
        Ok((heading - 90.0).abs() <= 2.0)
    })
    .await?;
    let cam = api.get(&format!("/api/v1/cameras/{id}")).await?;
    ensure!(
        distance_m((cam["lat"].as_f64().unwrap_or(0.0), cam["lon"].as_f64().unwrap_or(0.0)), target) < 2.0,
        "turning moved it: {cam}"
    );

    // The audit log: created, moved, turned.
    let audit = api.get(&format!("/api/v1/audit?object={id}")).await?;
    let actions: Vec<String> = audit
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    ensure!(actions.iter().filter(|a| *a == "camera.create").count() == 1, "the audit log of {id}: {actions:?}");
    ensure!(actions.iter().filter(|a| *a == "camera.update").count() >= 2, "the audit log of {id}: {actions:?}");
    let turned = audit.as_array().is_some_and(|a| {
        a.iter().any(|e| {
            e["action"] == "camera.update" && (e["after"]["heading"].as_f64().unwrap_or(-1.0) - 90.0).abs() <= 2.0
        })
    });
    ensure!(turned, "no audited change turns the camera east: {audit}");
    let moved = audit.as_array().is_some_and(|a| {
        a.iter().any(|e| {
            let p = &e["after"]["position"];
            e["action"] == "camera.update"
                && distance_m((p["lat"].as_f64().unwrap_or(0.0), p["lon"].as_f64().unwrap_or(0.0)), target) < 2.0
                && e["before"]["position"] != e["after"]["position"]
        })
    });
    ensure!(moved, "no audited change moves the camera where it was dragged: {audit}");
    Ok(())
}
