//! What the console's browser tests share: chromedriver and a headless Chromium session, and the
//! steps a person takes (wait for something to show, click, type, click the map at a pixel).

use super::{free_port, Proc};
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub type TestResult<T = ()> = Result<T, String>;

pub fn tool(var: &str, default: &str, what: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    assert!(path.is_file(), "{what} not found at {}: install it or set {var}", path.display());
    path
}

pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F) -> TestResult
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

pub async fn count(c: &Client, css: &str) -> TestResult<usize> {
    Ok(c.find_all(Locator::Css(css)).await.map_err(|e| format!("{css}: {e}"))?.len())
}

pub async fn wait_css(c: &Client, css: &str, timeout: Duration) -> TestResult {
    wait_until(css, timeout, move || async move { Ok(count(c, css).await? > 0) }).await
}

/// Clicks `css`, again if the panel was drawn anew between finding and clicking.
pub async fn click(c: &Client, css: &str) -> TestResult {
    let start = Instant::now();
    loop {
        let r = match c.find(Locator::Css(css)).await {
            Ok(e) => e.click().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match r {
            Err(e)
                if start.elapsed() < Duration::from_secs(5) && (e.contains("stale") || e.contains("interactable")) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other.map_err(|e| format!("clicking {css}: {e}")),
        }
    }
}

pub async fn type_into(c: &Client, css: &str, text: &str) -> TestResult {
    let e = c.find(Locator::Css(css)).await.map_err(|e| format!("no {css}: {e}"))?;
    e.clear().await.map_err(|e| format!("clearing {css}: {e}"))?;
    e.send_keys(text).await.map_err(|e| format!("typing into {css}: {e}"))
}

pub async fn browser(driver: &str, profile: &Path, chromium: &Path) -> Client {
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
    ClientBuilder::rustls().expect("rustls").capabilities(caps).connect(driver).await.expect("a browser session")
}

/// chromedriver on a free port, waited for; its process and address.
pub async fn start_chromedriver(chromedriver: &Path, dir: &Path) -> (Proc, String) {
    let driver_port = free_port();
    let driver_log = std::fs::File::create(dir.join("chromedriver.log")).expect("log");
    let driver_proc = Proc(
        Command::new(chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(driver_log.try_clone().expect("log"))
            .stderr(driver_log)
            .spawn()
            .expect("starting chromedriver"),
    );
    let driver = format!("http://127.0.0.1:{driver_port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http.get(format!("{driver}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (driver_proc, driver)
}

/// Clicks the map with the mouse at container pixel (x, y) of `#map`.
pub async fn click_map_px(c: &Client, x: f64, y: f64) -> TestResult {
    let at = c
        .execute(
            "const r = document.getElementById('map').getBoundingClientRect(); return [Math.round(r.left + arguments[0]), Math.round(r.top + arguments[1])];",
            vec![json!(x), json!(y)],
        )
        .await
        .map_err(|e| format!("script failed: {e}"))?;
    let (x, y) = (at[0].as_i64().unwrap_or(0), at[1].as_i64().unwrap_or(0));
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveTo { duration: None, x, y })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    c.perform_actions(mouse).await.map_err(|e| format!("clicking the map at ({x}, {y}): {e}"))
}
