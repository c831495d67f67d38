//! A region of two `polis serve` nodes on one PostgreSQL database and one NATS JetStream server,
//! as real processes on loopback: a camera created on one node is seen by the other within 2 s;
//! an observation posted to one node that crosses a rule raises one alarm, delivered on both
//! nodes' event streams with the same id; a third node with a name in use is refused.
//!
//! Needs `POLIS_TEST_PG_URL` and Debian's `nats-server` (scripts/test provides both).

mod common;

use common::{free_port, Api, Proc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "region-admin-pw";

/// The region tests run one at a time: each starts NATS servers, PostgreSQL databases and
/// Polis nodes, and three regions at once on two cores time out elections instead of testing.
static ONE_REGION_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn nats_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("POLIS_TEST_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let found = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() && std::env::var_os("POLIS_REQUIRE_NATS").is_some() {
        panic!("nats-server not found: run scripts/test");
    }
    found
}

fn node(data: &Path, port: u16, db: &str, nats: &str, name: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("POLIS_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .args(["--database-url", db, "--nats-url", nats, "--node-id", name])
        .env("POLIS_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

async fn start_node(data: &Path, port: u16, db: &str, nats: &str, name: &str) -> Proc {
    let mut cmd = node(data, port, db, nats, name);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let p = Proc(cmd.spawn().expect("start polis serve"));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/healthz")).send().await {
            if r.status().is_success() {
                return p;
            }
        }
        assert!(Instant::now() < deadline, "node {name} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A single `nats-server` with JetStream on a free loopback port: the process, its URL, its
/// storage directory.
fn start_nats(bin: &Path) -> (Proc, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let proc = Proc(
        Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (proc, format!("nats://127.0.0.1:{port}"), dir)
}

/// The region's requirements: nats-server and PostgreSQL (None: skipped, outside scripts/test).
fn requirements() -> Option<(PathBuf, String)> {
    let Some(nats_bin) = nats_binary() else {
        eprintln!("skipped: nats-server not found");
        return None;
    };
    let Ok(pg) = std::env::var("POLIS_TEST_PG_URL") else {
        assert!(std::env::var_os("POLIS_REQUIRE_PG").is_none(), "POLIS_TEST_PG_URL not set: run scripts/test");
        eprintln!("skipped: POLIS_TEST_PG_URL not set");
        return None;
    };
    Some((nats_bin, pg))
}

/// Reads an SSE stream until `n` alarm events arrived (or 20 s passed): their (id, alarm id, state).
async fn alarm_events(api: &Api, n: usize) -> Vec<(String, String)> {
    let mut r = api
        .http
        .get(format!("{}/api/v1/events?types=alarm", api.base))
        .bearer_auth(&api.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("events");
    assert_eq!(r.status(), StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = match tokio::time::timeout_at(deadline, r.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => break,
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let id = block.lines().find_map(|l| l.strip_prefix("id:")).map(|s| s.trim().to_string());
            let ty = block.lines().find_map(|l| l.strip_prefix("event:")).map(|s| s.trim().to_string());
            let data = block.lines().find_map(|l| l.strip_prefix("data:")).map(|s| s.trim().to_string());
            if let (Some(id), Some("alarm"), Some(data)) = (id, ty.as_deref(), data) {
                out.push((id, data));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_the_registry_and_the_alarms_and_refuse_a_duplicate_name() {
    let Some((nats_bin, pg)) = requirements() else { return };
    let _one = ONE_REGION_AT_A_TIME.lock().await;
    let db = polis_store::testing::fresh_postgres_database(&pg).await.expect("a fresh database");
    let (_nats, nats, _nats_dir) = start_nats(&nats_bin);

    let (da, db_dir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let (pa, pb) = (free_port(), free_port());
    let _a = start_node(da.path(), pa, &db, &nats, "node-a").await;
    let _b = start_node(db_dir.path(), pb, &db, &nats, "node-b").await;
    let a = Api::login(&format!("http://127.0.0.1:{pa}"), "admin", PASSWORD).await;
    let b = Api::login(&format!("http://127.0.0.1:{pb}"), "admin", PASSWORD).await;

    // A third process with a name in use is refused, with a message that says why.
    let dc = tempfile::tempdir().expect("tempdir");
    let out = node(dc.path(), free_port(), &db, &nats, "node-a").output().expect("run a duplicate node");
    assert!(!out.status.success(), "a second node-a must not start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("node-a") && err.contains("--node-id"), "unclear refusal: {err}");

    a.post("/api/v1/organisations", json!({"id": "regionville", "kind": "municipality", "name_en": "Regionville"}))
        .await;
    // A camera created on node A is seen by node B within 2 s.
    a.post(
        "/api/v1/cameras",
        json!({"id": "rv-cam-1", "municipality": "regionville", "name": "Bridge", "lat": 42.6, "lon": 25.4,
               "heading_deg": 90, "fov_deg": 90, "range_m": 150, "kind": "fixed"}),
    )
    .await;
    let created = Instant::now();
    loop {
        let (s, fc) = b.call(reqwest::Method::GET, "/api/v1/cameras/seeing?lat=42.6&lon=25.4005", None).await;
        assert_eq!(s, StatusCode::OK, "{fc}");
        let ids: Vec<&str> = fc["features"]
            .as_array()
            .map(|f| f.iter().filter_map(|x| x["properties"]["id"].as_str()).collect())
            .unwrap_or_default();
        if ids.contains(&"rv-cam-1") {
            break;
        }
        assert!(created.elapsed() < Duration::from_secs(2), "node B did not see the camera within 2 s: {fc}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A rule and a sensor, then one reading above the level posted to node A: one alarm, on both
    // nodes' event streams, with the same id.
    a.post(
        "/api/v1/sensors",
        json!({"id": "rv-gauge", "municipality": "regionville", "name": "River gauge", "kind": "water_level",
               "unit": "cm", "lat": 42.6, "lon": 25.4}),
    )
    .await;
    a.post(
        "/api/v1/rules",
        json!({"name": "High water", "sensor_kind": "water_level", "municipality": "regionville",
               "severity": "major", "condition": {"type": "threshold", "above": 100, "hysteresis": 5}}),
    )
    .await;
    // Node B holds the rule made on node A (its rules page, and its engine).
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (s, rules) = b.call(reqwest::Method::GET, "/api/v1/rules", None).await;
        assert_eq!(s, StatusCode::OK, "{rules}");
        if rules.to_string().contains("High water") {
            break;
        }
        assert!(Instant::now() < deadline, "node B does not list the rule made on node A within 2 s: {rules}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ea, eb) = (alarm_events(&a, 1), alarm_events(&b, 1));
    let post = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("t");
        a.post("/api/v1/observations", json!([{"sensor": "rv-gauge", "time": now, "value": 150.0}])).await;
    };
    let (got_a, got_b, ()) = tokio::join!(ea, eb, post);
    assert_eq!(got_a.len(), 1, "node A's console got {got_a:?}");
    assert_eq!(got_b.len(), 1, "node B's console got {got_b:?}");
    assert_eq!(got_a[0].0, got_b[0].0, "the same event id on both nodes");
    let alarm: Value = serde_json::from_str(&got_b[0].1).expect("alarm json");
    assert!(alarm.to_string().contains("rv-gauge"), "{alarm}");
    let (s, open) = b.call(reqwest::Method::GET, "/api/v1/alarms?state=active", None).await;
    assert_eq!(s, StatusCode::OK);
    let n = open.as_array().map(|v| v.len()).or_else(|| open["alarms"].as_array().map(|v| v.len()));
    assert_eq!(n, Some(1), "exactly one open alarm in the region: {open}");

    // An operator on node B acknowledges the alarm node A raised; the water stays high and the
    // next reading goes to node A (a repeat, written within a second): the acknowledgement stays.
    let alarm_id = alarm["data"]["id"].as_str().expect("the alarm's id").to_string();
    let reading = |value: f64| {
        let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("t");
        json!([{"sensor": "rv-gauge", "time": now, "value": value}])
    };
    b.post(&format!("/api/v1/alarms/{alarm_id}/ack"), json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.post("/api/v1/observations", reading(160.0)).await;
    for (name, api) in [("A", &a), ("B", &b)] {
        // Once the repeat shows (on B: once A wrote it, within a second), the acknowledgement
        // must still be there.
        let deadline = Instant::now() + Duration::from_secs(5);
        let got = loop {
            let (s, got) = api.call(reqwest::Method::GET, &format!("/api/v1/alarms/{alarm_id}"), None).await;
            assert_eq!(s, StatusCode::OK, "{got}");
            if got["count"].as_u64().unwrap_or(0) >= 2 {
                break got;
            }
            assert!(Instant::now() < deadline, "node {name}: the repeat on A is lost: {got}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(got["state"], "active_acknowledged", "node {name}: the acknowledgement made on B was undone: {got}");
        assert_eq!(got["acknowledged_by"], "admin", "{got}");
    }

    // Cleared by hand on node B while the water is still high: the next readings (on node B,
    // whose engine has the rule made on A, then on node A) open one new alarm in the region, and
    // do not revive the closed one.
    b.post(&format!("/api/v1/alarms/{alarm_id}/clear"), json!({"reason": "gauge checked on site"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.post("/api/v1/observations", reading(170.0)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.post("/api/v1/observations", reading(175.0)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (s, open) = b.call(reqwest::Method::GET, "/api/v1/alarms?state=active", None).await;
        assert_eq!(s, StatusCode::OK);
        let list = open.as_array().cloned().or_else(|| open["alarms"].as_array().cloned()).unwrap_or_default();
        let ids: Vec<&str> = list.iter().filter_map(|x| x["id"].as_str()).collect();
        if ids.len() == 1 && ids[0] != alarm_id {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after a clear by hand on B, A's next violation must open one new alarm: {open}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, old) = b.call(reqwest::Method::GET, &format!("/api/v1/alarms/{alarm_id}"), None).await;
    assert_eq!(old["state"], "cleared_acknowledged", "the closed alarm stays closed: {old}");

    // A rule with memory (a rate of change) over readings of one sensor that reach different
    // nodes: the region evaluates them in one place and in order, as a single node would.
    a.post(
        "/api/v1/sensors",
        json!({"id": "rv-rise", "municipality": "regionville", "name": "Dam gauge", "kind": "water_level",
               "unit": "cm", "lat": 42.6, "lon": 25.4}),
    )
    .await;
    let rising_rule = a
        .post(
            "/api/v1/rules",
            json!({"name": "Rising fast", "sensor": "rv-rise", "municipality": "regionville",
                   "condition": {"type": "rate_of_change", "max_per_minute": 10, "window_minutes": 5}}),
        )
        .await["id"]
        .as_str()
        .expect("the rule's id")
        .to_string();
    // (A rule reaches the other node's engine with the registry reload: milliseconds.)
    let deadline = Instant::now() + Duration::from_secs(2);
    while !b.call(reqwest::Method::GET, "/api/v1/rules", None).await.1.to_string().contains("Rising fast") {
        assert!(Instant::now() < deadline, "node B does not hold the new rule within 2 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let at = |minutes: i64, value: f64| {
        let t =
            (t0 + time::Duration::minutes(minutes)).format(&time::format_description::well_known::Rfc3339).expect("t");
        json!([{"sensor": "rv-rise", "time": t, "value": value}])
    };
    a.post("/api/v1/observations", at(0, 100.0)).await;
    b.post("/api/v1/observations", at(5, 110.0)).await; // 2 cm/min
    a.post("/api/v1/observations", at(10, 200.0)).await; // 18 cm/min against the reading on B
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, open) = a.call(reqwest::Method::GET, "/api/v1/alarms?state=active", None).await;
        let list = open.as_array().cloned().or_else(|| open["alarms"].as_array().cloned()).unwrap_or_default();
        let rising: Vec<&Value> = list.iter().filter(|x| x["rule"] == rising_rule.as_str()).collect();
        if rising.len() == 1 {
            assert!(rising[0]["message"].as_str().unwrap_or("").contains("rising 18 cm/min"), "{}", rising[0]);
            break;
        }
        assert!(rising.len() < 2, "one alarm per rule and source in the region: {open}");
        assert!(Instant::now() < deadline, "the rate of change over readings on two nodes raised nothing: {open}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An event-stream ticket issued by node A opens the stream on node B (a balancer may send the
    // browser anywhere), once.
    let ticket = a.post("/api/v1/events/ticket", json!({})).await["ticket"].as_str().expect("a ticket").to_string();
    let open = |base: String| {
        let (http, ticket) = (a.http.clone(), ticket.clone());
        async move {
            let r = http
                .get(format!("{base}/api/v1/events?ticket={ticket}"))
                .header("accept", "text/event-stream")
                .send()
                .await
                .expect("open the event stream");
            r.status()
        }
    };
    assert_eq!(open(b.base.clone()).await, StatusCode::OK, "a ticket of node A on node B");
    assert_eq!(open(a.base.clone()).await, StatusCode::UNAUTHORIZED, "a ticket works once, region-wide");
}

/// What a console saw: (event id, event type) in order of arrival; `gap` for a gap.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(u64, String)>>>;

/// A console's event stream as a browser behind a balancer keeps it: it reads events into `seen`,
/// and when its node goes away it opens the stream on the next node of `bases` with the last id
/// it saw (`Last-Event-ID`), until `stop` is set.
async fn console(
    http: reqwest::Client,
    token: String,
    bases: Vec<String>,
    seen: Seen,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut i = 0;
    while !*stop.borrow() {
        let last = seen.lock().expect("seen").iter().rev().find(|(_, t)| t != "gap").map(|(id, _)| *id);
        let mut req =
            http.get(format!("{}/api/v1/events", bases[i])).bearer_auth(&token).header("accept", "text/event-stream");
        if let Some(last) = last {
            req = req.header("last-event-id", last.to_string());
        }
        if let Ok(mut r) = req.send().await {
            if r.status().is_success() {
                let mut text = String::new();
                loop {
                    if *stop.borrow() {
                        return;
                    }
                    let chunk = match tokio::time::timeout(Duration::from_secs(1), r.chunk()).await {
                        Err(_) => continue, // idle: look at `stop` again
                        Ok(Ok(Some(chunk))) => chunk,
                        _ => break, // the stream ended: its node is gone
                    };
                    text.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = text.find("\n\n") {
                        let block: String = text.drain(..end + 2).collect();
                        let id = block.lines().find_map(|l| l.strip_prefix("id:")).and_then(|s| s.trim().parse().ok());
                        let ty = block.lines().find_map(|l| l.strip_prefix("event:")).map(|s| s.trim().to_string());
                        if let (Some(id), Some(ty)) = (id, ty) {
                            seen.lock().expect("seen").push((id, ty));
                        }
                    }
                }
            }
        }
        if *stop.borrow() {
            return;
        }
        // The node is gone (or refused): the balancer sends the browser to the next one.
        i = (i + 1).min(bases.len() - 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every file under `dir` with something in it.
fn files_with_data(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_with_data(&p));
        } else if e.metadata().map(|m| m.len() > 0).unwrap_or(false) {
            out.push(p);
        }
    }
    out
}

/// A node of two dies by SIGKILL while readings are posted to both and consoles are connected:
/// every acknowledged reading is stored once, each rule the readings cross raises exactly one
/// alarm (before and after the death), the console of the dead node resumes on the other
/// with every event it missed and none twice, and the camera the dead node recorded is recorded
/// by the other node within 15 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_node_loses_no_reading_and_its_camera_is_recorded_by_another() {
    let Some((nats_bin, pg)) = requirements() else { return };
    let _one = ONE_REGION_AT_A_TIME.lock().await;
    let db = polis_store::testing::fresh_postgres_database(&pg).await.expect("a fresh database");
    let (_nats, nats, _nats_dir) = start_nats(&nats_bin);

    // A camera: the GStreamer RTSP test server.
    let rtsp_port = free_port();
    let tmp = tempfile::tempdir().expect("tempdir");
    let rtsp_log = tmp.path().join("rtsp.log");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/lib/rtsp_server.py");
    let log = std::fs::File::create(&rtsp_log).expect("rtsp log");
    let _rtsp = Proc(
        Command::new("/usr/bin/python3")
            .args([script, &rtsp_port.to_string(), "--size", "160x120"])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start /usr/bin/python3 scripts/lib/rtsp_server.py (run scripts/test)"),
    );
    let ready = Instant::now();
    while !std::fs::read_to_string(&rtsp_log).unwrap_or_default().contains("ready") {
        assert!(ready.elapsed() < Duration::from_secs(20), "the RTSP server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let dirs = [tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir")];
    let ports = [free_port(), free_port()];
    let mut nodes = [
        Some(start_node(dirs[0].path(), ports[0], &db, &nats, "node-a").await),
        Some(start_node(dirs[1].path(), ports[1], &db, &nats, "node-b").await),
    ];
    let bases: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    let apis = [Api::login(&bases[0], "admin", PASSWORD).await, Api::login(&bases[1], "admin", PASSWORD).await];
    apis[0]
        .post("/api/v1/organisations", json!({"id": "regionville", "kind": "municipality", "name_en": "Regionville"}))
        .await;
    apis[0]
        .post(
            "/api/v1/sensors",
            json!({"id": "rv-air", "municipality": "regionville", "name": "Air", "kind": "air_quality",
                   "unit": "ug/m3", "lat": 42.6, "lon": 25.4}),
        )
        .await;
    // Two rules the readings cross: one before the leader dies, one after.
    let mut rules = Vec::new();
    for (name, level) in [("Smog", 500), ("Heavy smog", 1200)] {
        let r = apis[0]
            .post(
                "/api/v1/rules",
                json!({"name": name, "sensor": "rv-air", "municipality": "regionville",
                       "condition": {"type": "threshold", "above": level, "hysteresis": 1}}),
            )
            .await;
        rules.push(r["id"].as_str().expect("a rule id").to_string());
    }
    apis[0]
        .post(
            "/api/v1/cameras",
            json!({"id": "rv-cam", "municipality": "regionville", "name": "Square", "lat": 42.6, "lon": 25.4,
                   "heading_deg": 90, "fov_deg": 90, "range_m": 150, "kind": "fixed",
                   "stream_url": format!("rtsp://127.0.0.1:{rtsp_port}/main"), "recording": "continuous"}),
        )
        .await;

    // The node that leads the region records the camera: find it by its files.
    let started = Instant::now();
    let leader = loop {
        if let Some(i) = (0..2).find(|i| !files_with_data(dirs[*i].path()).is_empty()) {
            break i;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "no node recorded the camera");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let other = 1 - leader;
    assert!(files_with_data(dirs[other].path()).is_empty(), "one node records a camera, not both");

    // Two consoles: one on each node.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let seen: [Seen; 2] = Default::default();
    let consoles: Vec<_> = (0..2)
        .map(|i| {
            let order = if i == leader {
                vec![bases[leader].clone(), bases[other].clone()]
            } else {
                vec![bases[other].clone()]
            };
            tokio::spawn(console(apis[i].http.clone(), apis[i].token.clone(), order, seen[i].clone(), stop_rx.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Readings posted to both nodes in turn; a batch the dead node does not answer goes to the
    // other (as a balancer retries). The leader dies half-way.
    let t0 = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let mut acked: Vec<u32> = Vec::new();
    let mut killed_at = None;
    for round in 0..160u32 {
        if round == 80 {
            if let Some(mut p) = nodes[leader].take() {
                let _ = p.0.kill();
                let _ = p.0.wait();
            }
            killed_at = Some(Instant::now());
        }
        let values: Vec<u32> = (round * 10..round * 10 + 10).collect();
        let batch: Vec<Value> = values
            .iter()
            .map(|n| {
                let at = (t0 + time::Duration::milliseconds(i64::from(*n)))
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("time");
                json!({"sensor": "rv-air", "time": at, "value": f64::from(*n)})
            })
            .collect();
        let first = (round as usize) % 2;
        for i in [first, 1 - first] {
            let sent = apis[i]
                .http
                .post(format!("{}/api/v1/observations", bases[i]))
                .bearer_auth(&apis[i].token)
                .json(&batch)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            if matches!(&sent, Ok(r) if r.status().is_success()) {
                acked.extend(&values);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let killed_at = killed_at.expect("the leader was killed");
    assert!(acked.len() >= 1500, "too few readings acknowledged: {}", acked.len());

    // Every acknowledged reading stored once.
    let survivor = &apis[other];
    let from = (t0 - time::Duration::seconds(1)).format(&time::format_description::well_known::Rfc3339).expect("t");
    let to = (t0 + time::Duration::minutes(1)).format(&time::format_description::well_known::Rfc3339).expect("t");
    let (s, series) = survivor
        .call(reqwest::Method::GET, &format!("/api/v1/sensors/rv-air/observations?from={from}&to={to}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{series}");
    let mut stored: Vec<u32> = series["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["value"].as_f64())
        .map(|v| v as u32)
        .collect();
    stored.sort_unstable();
    acked.sort_unstable();
    assert_eq!(stored, acked, "every acknowledged reading stored once");

    // The camera is recorded again, by the surviving node, within 15 s of the death.
    loop {
        if !files_with_data(dirs[other].path()).is_empty() {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(15),
            "the surviving node did not record the camera within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recorded_again = killed_at.elapsed();

    // Each rule raised exactly one alarm, still active (the readings stayed above both levels),
    // the first before the leader died and the second after, evaluated by the new leader.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, all) = survivor.call(reqwest::Method::GET, "/api/v1/alarms?state=all", None).await;
        assert_eq!(s, StatusCode::OK, "{all}");
        let list = all.as_array().cloned().or_else(|| all["alarms"].as_array().cloned()).unwrap_or_default();
        let per_rule: Vec<Vec<&Value>> =
            rules.iter().map(|r| list.iter().filter(|a| a["rule"] == r.as_str()).collect()).collect();
        assert!(per_rule.iter().all(|v| v.len() <= 1), "one alarm per rule and source: {all}");
        if per_rule.iter().all(|v| v.len() == 1 && v[0]["state"] == "active_unacknowledged") {
            break;
        }
        assert!(Instant::now() < deadline, "each rule should have raised one active alarm: {all}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Both consoles: no gap, no event twice, and the console of the dead node, resumed on the
    // survivor, saw exactly what the survivor's own console saw over the same span. (Wait until
    // both got the last event.)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let last = |i: usize| seen[i].lock().expect("seen").last().map(|e| e.0);
        if last(leader).is_some() && last(leader) == last(other) {
            break;
        }
        assert!(Instant::now() < deadline, "the resumed console never caught up with the survivor's");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(true);
    for c in consoles {
        let _ = tokio::time::timeout(Duration::from_secs(5), c).await;
    }
    let (moved, stayed) = (seen[leader].lock().expect("seen").clone(), seen[other].lock().expect("seen").clone());
    for (name, s) in [("moved", &moved), ("stayed", &stayed)] {
        assert!(!s.is_empty(), "the {name} console got nothing");
        assert!(s.iter().all(|(_, t)| t != "gap"), "the {name} console got a gap");
        assert!(s.windows(2).all(|w| w[0].0 < w[1].0), "the {name} console got an event twice or out of order");
    }
    assert_eq!(moved.last(), stayed.last(), "the resumed console is as far as the survivor's");
    let start = moved[0].0.max(stayed[0].0);
    let end = moved.last().map(|e| e.0).unwrap_or(0).min(stayed.last().map(|e| e.0).unwrap_or(0));
    let span = |s: &[(u64, String)]| s.iter().filter(|(id, _)| *id >= start && *id <= end).cloned().collect::<Vec<_>>();
    let (m, st) = (span(&moved), span(&stayed));
    assert!(m.len() > 100, "too little overlap to compare: {} events", m.len());
    assert_eq!(m, st, "the resumed console missed or repeated events");
    eprintln!(
        "readings acknowledged {}, recorded again after {recorded_again:?}, events compared {}",
        acked.len(),
        m.len()
    );
}

/// A three-server NATS cluster with JetStream on loopback, ready (its monitoring `/healthz`
/// answers ok on every server): the processes, in order, and the client URLs.
async fn start_nats_cluster(bin: &Path) -> (Vec<Option<Proc>>, Vec<String>, Vec<tempfile::TempDir>) {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let monitors: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut procs = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let others: Vec<String> =
            (0..3).filter(|j| *j != i).map(|j| format!("nats://127.0.0.1:{}", routes[j])).collect();
        let p = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &ports[i].to_string(), "-m", &monitors[i].to_string(), "-js", "-sd"])
            .arg(dir.path())
            .args(["--server_name", &format!("n{i}"), "--cluster_name", "polis-region-test"])
            .args(["--cluster", &format!("nats://127.0.0.1:{}", routes[i]), "--routes", &others.join(",")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        procs.push(Some(Proc(p)));
        dirs.push(dir);
    }
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for m in &monitors {
        loop {
            let r = http.get(format!("http://127.0.0.1:{m}/healthz")).send().await;
            if matches!(r, Ok(r) if r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "the NATS cluster did not become healthy");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    (procs, ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect(), dirs)
}

/// One of the region's three NATS servers dies (SIGKILL) while readings are posted to both
/// nodes and a console is connected: the nodes carry on, every acknowledged reading is stored
/// once, and the console gets the live reading of every acknowledged batch, with no gap and
/// nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_region_carries_on_when_one_of_three_nats_servers_dies() {
    let Some((nats_bin, pg)) = requirements() else { return };
    let _one = ONE_REGION_AT_A_TIME.lock().await;
    let db = polis_store::testing::fresh_postgres_database(&pg).await.expect("a fresh database");
    let (mut servers, urls, _dirs) = start_nats_cluster(&nats_bin).await;
    // Each node prefers a different server; both know all three.
    let list_a = format!("{},{},{}", urls[0], urls[1], urls[2]);
    let list_b = format!("{},{},{}", urls[1], urls[2], urls[0]);
    let dirs = [tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir")];
    let ports = [free_port(), free_port()];
    let _a = start_node(dirs[0].path(), ports[0], &db, &list_a, "node-a").await;
    let _b = start_node(dirs[1].path(), ports[1], &db, &list_b, "node-b").await;
    let bases: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    let apis = [Api::login(&bases[0], "admin", PASSWORD).await, Api::login(&bases[1], "admin", PASSWORD).await];
    apis[0]
        .post("/api/v1/organisations", json!({"id": "regionville", "kind": "municipality", "name_en": "Regionville"}))
        .await;
    apis[0]
        .post(
            "/api/v1/sensors",
            json!({"id": "rv-air", "municipality": "regionville", "name": "Air", "kind": "air_quality",
                   "unit": "ug/m3", "lat": 42.6, "lon": 25.4}),
        )
        .await;

    // A console on node B, reading observation events (id, last value of a batch).
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let seen: Seen = Default::default();
    let values = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    let console = {
        let (http, token, base, seen, values, stop) =
            (apis[1].http.clone(), apis[1].token.clone(), bases[1].clone(), seen.clone(), values.clone(), stop_rx);
        tokio::spawn(async move {
            let mut r = http
                .get(format!("{base}/api/v1/events?types=observation"))
                .bearer_auth(&token)
                .header("accept", "text/event-stream")
                .send()
                .await
                .expect("event stream");
            let mut text = String::new();
            while !*stop.borrow() {
                let chunk = match tokio::time::timeout(Duration::from_secs(1), r.chunk()).await {
                    Err(_) => continue,
                    Ok(Ok(Some(c))) => c,
                    _ => break,
                };
                text.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = text.find("\n\n") {
                    let block: String = text.drain(..end + 2).collect();
                    let id = block.lines().find_map(|l| l.strip_prefix("id:")).and_then(|s| s.trim().parse().ok());
                    let ty = block.lines().find_map(|l| l.strip_prefix("event:")).map(|s| s.trim().to_string());
                    let data = block.lines().find_map(|l| l.strip_prefix("data:")).map(|s| s.trim().to_string());
                    if let (Some(id), Some(ty)) = (id, ty) {
                        if ty == "observation" {
                            let v: Value = data.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null);
                            if let Some(x) = v["data"]["value"].as_f64() {
                                values.lock().expect("values").push(x as u32);
                            }
                        }
                        seen.lock().expect("seen").push((id, ty));
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let t0 = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let mut acked: Vec<u32> = Vec::new();
    let mut batch_ends: Vec<u32> = Vec::new();
    for round in 0..120u32 {
        if round == 40 {
            // SIGKILL the server node A prefers.
            if let Some(mut p) = servers[0].take() {
                let _ = p.0.kill();
                let _ = p.0.wait();
            }
        }
        let values: Vec<u32> = (round * 10..round * 10 + 10).collect();
        let batch: Vec<Value> = values
            .iter()
            .map(|n| {
                let at = (t0 + time::Duration::milliseconds(i64::from(*n)))
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("time");
                json!({"sensor": "rv-air", "time": at, "value": f64::from(*n)})
            })
            .collect();
        let i = (round as usize) % 2;
        let sent = apis[i]
            .http
            .post(format!("{}/api/v1/observations", bases[i]))
            .bearer_auth(&apis[i].token)
            .json(&batch)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                acked.extend(&values);
                batch_ends.push(round * 10 + 9);
            }
            Ok(r) => panic!("node {i} refused a batch while a NATS server was down: {}", r.status()),
            Err(e) => panic!("node {i} did not answer while a NATS server was down: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    // Every acknowledged reading stored once.
    let from = (t0 - time::Duration::seconds(1)).format(&time::format_description::well_known::Rfc3339).expect("t");
    let to = (t0 + time::Duration::minutes(1)).format(&time::format_description::well_known::Rfc3339).expect("t");
    let (s, series) = apis[1]
        .call(reqwest::Method::GET, &format!("/api/v1/sensors/rv-air/observations?from={from}&to={to}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{series}");
    let mut stored: Vec<u32> = series["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["value"].as_f64())
        .map(|v| v as u32)
        .collect();
    stored.sort_unstable();
    assert_eq!(stored, acked, "every acknowledged reading stored once");

    // The console got every batch's live reading (the bus retries while the cluster moves its
    // stream's leader), once, with no gap.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let got: std::collections::BTreeSet<u32> = values.lock().expect("values").iter().copied().collect();
        let missing: Vec<u32> = batch_ends.iter().copied().filter(|v| !got.contains(v)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the console never got the live readings {missing:?}; it saw {:?}",
            seen.lock().expect("seen").iter().take(20).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), console).await;
    let seen = seen.lock().expect("seen").clone();
    assert!(seen.iter().all(|(_, t)| t != "gap"), "the console got a gap");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "the console got an event twice or out of order");
    let v = values.lock().expect("values").clone();
    assert_eq!(v.len(), batch_ends.len(), "one live reading per batch, none twice: {v:?}");

    // With the whole NATS cluster gone a node cannot take readings: `/readyz` says so (503), so
    // that the balancer stops sending it work.
    assert_eq!(http_status(&format!("{}/readyz", bases[0])).await, StatusCode::OK);
    for s in servers.iter_mut() {
        if let Some(mut p) = s.take() {
            let _ = p.0.kill();
            let _ = p.0.wait();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while http_status(&format!("{}/readyz", bases[0])).await != StatusCode::SERVICE_UNAVAILABLE {
        assert!(Instant::now() < deadline, "/readyz still answers 200 with no NATS server");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn http_status(url: &str) -> StatusCode {
    match reqwest::Client::new().get(url).timeout(Duration::from_secs(10)).send().await {
        Ok(r) => r.status(),
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

/// A Mosquitto broker with its defaults (persistence on) on a free loopback port.
fn start_mosquitto(dir: &Path) -> (Proc, u16) {
    let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("Mosquitto (scripts/test installs it)");
    let port = free_port();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("broker data");
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nuser root\n",
            data.display()
        ),
    )
    .expect("mosquitto.conf");
    let p = Proc(
        Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (p, port)
}

/// Two nodes take readings from one MQTT broker: the broker gives each reading to one node (a
/// shared subscription), so every reading is stored and evaluated once: 200 readings above a
/// rule's level make one alarm seen 200 times, not 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_the_mqtt_intake_and_evaluate_each_reading_once() {
    let Some((nats_bin, pg)) = requirements() else { return };
    let _one = ONE_REGION_AT_A_TIME.lock().await;
    let db = polis_store::testing::fresh_postgres_database(&pg).await.expect("a fresh database");
    let (_nats, nats, _nats_dir) = start_nats(&nats_bin);
    let broker_dir = tempfile::tempdir().expect("tempdir");
    let (_broker, broker_port) = start_mosquitto(broker_dir.path());
    let mqtt = format!("mqtt://127.0.0.1:{broker_port}");
    let dirs = [tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir")];
    let ports = [free_port(), free_port()];
    let mut nodes = Vec::new();
    for (i, name) in ["node-a", "node-b"].iter().enumerate() {
        let mut cmd = node(dirs[i].path(), ports[i], &db, &nats, name);
        let log = std::fs::File::create(broker_dir.path().join(format!("{name}.log"))).expect("log");
        cmd.args(["--mqtt-url", &mqtt]).stdout(log.try_clone().expect("log")).stderr(log);
        nodes.push(Proc(cmd.spawn().expect("start polis serve")));
    }
    let http = reqwest::Client::new();
    for port in ports {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(http.get(format!("http://127.0.0.1:{port}/healthz")).send().await, Ok(r) if r.status().is_success())
        {
            if Instant::now() > deadline {
                let logs: Vec<String> = ["node-a", "node-b"]
                    .iter()
                    .map(|n| std::fs::read_to_string(broker_dir.path().join(format!("{n}.log"))).unwrap_or_default())
                    .collect();
                panic!("a node did not come up: {logs:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let a = Api::login(&format!("http://127.0.0.1:{}", ports[0]), "admin", PASSWORD).await;
    let b = Api::login(&format!("http://127.0.0.1:{}", ports[1]), "admin", PASSWORD).await;
    a.post("/api/v1/organisations", json!({"id": "regionville", "kind": "municipality", "name_en": "Regionville"}))
        .await;
    a.post(
        "/api/v1/sensors",
        json!({"id": "rv-mq", "municipality": "regionville", "name": "Weir", "kind": "water_level",
               "unit": "cm", "lat": 42.6, "lon": 25.4}),
    )
    .await;
    let rule = a
        .post(
            "/api/v1/rules",
            json!({"name": "Weir high", "sensor": "rv-mq", "municipality": "regionville",
                   "condition": {"type": "threshold", "above": 100, "hysteresis": 1}}),
        )
        .await["id"]
        .as_str()
        .expect("a rule id")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !b.call(reqwest::Method::GET, "/api/v1/rules", None).await.1.to_string().contains("Weir high") {
        assert!(Instant::now() < deadline, "node B does not hold the rule");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut opts = rumqttc::MqttOptions::new("region-test-sensor", "127.0.0.1", broker_port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = rumqttc::AsyncClient::new(opts, 1000);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let topic = "polis/regionville/sensors/rv-mq/obs";
    let t0 = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let stamp = |ms: i64| {
        (t0 + time::Duration::milliseconds(ms)).format(&time::format_description::well_known::Rfc3339).expect("t")
    };
    // Readings stored between `from` and `to` ms after t0 (the store keeps whole milliseconds,
    // t0 has finer digits: from -1 takes the reading at t0).
    let stored = |api: &Api, from: i64, to: i64| {
        let (from, to) = (stamp(from), stamp(to));
        let (http, base, token) = (api.http.clone(), api.base.clone(), api.token.clone());
        async move {
            let r = http
                .get(format!("{base}/api/v1/sensors/rv-mq/observations?from={from}&to={to}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("observations");
            let v: Value = r.json().await.expect("json");
            v["points"].as_array().map(|p| p.len()).unwrap_or(0)
        }
    };
    // Until both nodes have subscribed, a reading below the level every 200 ms (one is enough).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut k = 0;
    while stored(&a, -60_000, 0).await == 0 {
        k += 1;
        let body = json!({"sensor": "rv-mq", "time": stamp(-30_000 + k), "value": 10.0}).to_string();
        client.publish(topic, rumqttc::QoS::AtLeastOnce, false, body).await.expect("publish");
        assert!(Instant::now() < deadline, "no node took readings from the broker");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let n: u32 = 200;
    for i in 0..n {
        let body = json!({"sensor": "rv-mq", "time": stamp(i64::from(i)), "value": 150.0 + f64::from(i)}).to_string();
        client.publish(topic, rumqttc::QoS::AtLeastOnce, false, body).await.expect("publish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while stored(&b, -1, 1_000).await < n as usize {
        assert!(Instant::now() < deadline, "not every published reading was stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stored(&b, -1, 1_000).await, n as usize, "each reading stored once");
    // One alarm, seen at most once per reading: never more often than readings were sent (both
    // nodes taking every reading gave 387 for 200). A reading the leader gets after a newer one of
    // the same sensor (the two nodes pushed their batches in the other order) is not evaluated,
    // by design, so a few may count less. Repeats are written within a second: wait until stable.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = (0u64, Instant::now());
    let count = loop {
        let (_, all) = b.call(reqwest::Method::GET, "/api/v1/alarms?state=all", None).await;
        let list = all.as_array().cloned().or_else(|| all["alarms"].as_array().cloned()).unwrap_or_default();
        let mine: Vec<&Value> = list.iter().filter(|x| x["rule"] == rule.as_str()).collect();
        assert!(mine.len() <= 1, "one alarm: {all}");
        let count = mine.first().and_then(|x| x["count"].as_u64()).unwrap_or(0);
        assert!(count <= u64::from(n), "readings evaluated more than once: count {count} for {n} readings");
        if count != last.0 {
            last = (count, Instant::now());
        } else if count > 0 && last.1.elapsed() > Duration::from_millis(2500) {
            break count;
        }
        assert!(Instant::now() < deadline, "the alarm's count did not settle: {count} of {n}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(count > u64::from(n) / 2, "the alarm saw only {count} of {n} readings");
    eprintln!("alarm count {count} for {n} readings over MQTT to two nodes");
    drop(nodes);
}
