//! Storage faults under load: the SQLite database fills up (its writer may not grow past its
//! size: `PRAGMA max_page_count`, no privileges needed) while observations arrive over HTTP and
//! a camera records, and then space returns. What a user would notice is checked: intake answers
//! 503 with a JSON error while full and takes batches again within seconds of space returning,
//! no acknowledged reading is lost, `/readyz` and the `storage-unavailable` alarm say so while
//! it lasts, the camera's health says it is not recording, the database is intact, and no
//! recorded file is left that the index does not know.

use polis_base::SystemClock;
use polis_core::bus::Delivery;
use polis_core::live::LiveEvent;
use polis_core::App;
use polis_domain::{Actor, Id, OrgKind, Organisation};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const PASSWORD: &str = "faults-Pa55word";

struct Full {
    base: String,
    client: Client,
    token: String,
    app: Arc<App>,
    /// The SQLite database's size limit (none on PostgreSQL).
    limit: Option<polis_store::testing::PageLimit>,
    /// The small filesystem the data lives on, when the test mounted one (dropped, so unmounted,
    /// before `dir` is removed).
    fs: Option<Tmpfs>,
    /// Where the database and the recordings are.
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Full {
    async fn start() -> Full {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_path_buf();
        Full::start_sqlite(dir, data, None).await
    }

    /// The application with its data on a small filesystem of its own (`mib` MiB), or `None`
    /// when this process may not mount one.
    async fn start_mounted(mib: u32) -> Option<Full> {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("fs");
        let fs = Tmpfs::mount(&data, mib)?;
        Some(Full::start_sqlite(dir, data, Some(fs)).await)
    }

    async fn start_sqlite(dir: tempfile::TempDir, data: PathBuf, fs: Option<Tmpfs>) -> Full {
        let (store, limit) = polis_store::testing::PageLimit::open(&data.join("polis.db")).await.expect("store");
        let (base, client, token, app) = serve(store, &data).await;
        Full { base, client, token, app, limit: Some(limit), fs, data, _dir: dir }
    }

    /// The application on the PostgreSQL database at `url`.
    async fn start_pg(url: &str) -> Full {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_path_buf();
        let store = polis_store::open(url).await.expect("store");
        let (base, client, token, app) = serve(store, &data).await;
        Full { base, client, token, app, limit: None, fs: None, data, _dir: dir }
    }

    fn limit(&self) -> &polis_store::testing::PageLimit {
        self.limit.as_ref().expect("a SQLite store")
    }

    /// The disk fills up: the filesystem when the test mounted one (another program writes until
    /// the kernel refuses), else the database's page limit (no new pages).
    async fn fill_disk(&self) {
        match &self.fs {
            Some(fs) => {
                let bytes = fs.fill();
                eprintln!("filler of {} KiB written until the filesystem was full", bytes / 1024);
            }
            None => {
                let pages = self.limit().page_count().await.expect("pages");
                self.limit().set(Some(pages)).await.expect("limit");
            }
        }
    }

    /// Space returns.
    async fn free_disk(&self) {
        match &self.fs {
            Some(fs) => fs.free(),
            None => self.limit().set(None).await.expect("unlimit"),
        }
    }
}

/// A small tmpfs mounted for one test and unmounted when dropped: a disk that really fills up
/// (the kernel answers `ENOSPC`). Mounting needs the right to (root, as in CI).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, mib: u32) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).expect("mount point");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0700"), "polis-test"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Tmpfs { path: path.to_path_buf() })
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }

    /// Writes zeros into a file until the filesystem refuses more (down to 4 KiB writes);
    /// the bytes written.
    fn fill(&self) -> u64 {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(self.filler()).expect("filler");
        let zeros = vec![0u8; 1 << 20];
        let mut chunk = zeros.len();
        let mut written = 0u64;
        while chunk >= 4096 {
            match f.write_all(&zeros[..chunk]).and_then(|()| f.sync_data()) {
                Ok(()) => written += chunk as u64,
                Err(_) => chunk /= 2,
            }
        }
        written
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: the application may still hold files open on it.
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The application on `store` with a recorder, the storage watch and the HTTP server; logged in
/// as the administrator.
async fn serve(store: polis_store::DynStore, data: &Path) -> (String, Client, String, Arc<App>) {
    let app = App::open(store, Arc::new(SystemClock)).await.expect("app");
    let mut video = polis_core::video::VideoConfig::new(data.join("video"));
    video.segment = time::Duration::seconds(1);
    app.configure_video(video).expect("video");
    tokio::spawn(app.clone().run_recorder(Duration::from_millis(200)));
    tokio::spawn(app.clone().run_storage_watch(Duration::from_millis(200)));
    let org = Organisation {
        id: Id::from_trusted("kazanlak"),
        kind: OrgKind::Municipality,
        name_bg: "Казанлък".into(),
        name_en: "Kazanlak".into(),
        municipality: Id::from_trusted("kazanlak"),
        agency_kind: None,
        demo: false,
    };
    app.put_organisation(&Actor::system(), org).await.expect("org");
    app.ensure_admin(Some(PASSWORD.into())).await.expect("admin");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = polis_http::router(app.clone(), polis_http::ConsoleConfig::default());
    tokio::spawn(polis_http::serve(listener, router, std::future::pending()));
    let client = Client::new();
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let token = r.json::<Value>().await.expect("login body")["token"].as_str().expect("token").to_string();
    (base, client, token, app)
}

impl Full {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut rb = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("request");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn wait_for(&self, what: &str, secs: u64, mut check: impl FnMut(&Value) -> bool, path: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (_, b) = self.call(reqwest::Method::GET, path, None).await;
            if check(&b) {
                return b;
            }
            assert!(Instant::now() < deadline, "{what} did not happen within {secs} s: {b}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Recorded files under the video directory that the index does not know.
    async fn unindexed_files(&self) -> Vec<String> {
        let rec = self.data.join("video").join("rec");
        let mut out = Vec::new();
        for cam in std::fs::read_dir(&rec).into_iter().flatten().flatten() {
            let camera = Id::from_trusted(cam.file_name().to_str().expect("name"));
            for f in std::fs::read_dir(cam.path()).expect("dir").flatten() {
                let name = format!("{}/{}", camera, f.file_name().to_str().expect("name"));
                let ms: i64 = f.file_name().to_str().and_then(|n| n.strip_suffix(".mp4")?.parse().ok()).expect("ms");
                let start = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("time");
                let one = time::Duration::milliseconds(1);
                let known = self.app.store().segments(&camera, start - one, start + one).await.expect("segments");
                if !known.iter().any(|s| s.file == name) {
                    out.push(name);
                }
            }
        }
        out
    }
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("time").format(&Rfc3339).expect("fmt")
}

type Acked = Arc<Mutex<HashMap<i64, f64>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_disk_refuses_writes_with_503_and_recovers_by_itself_without_losing_a_reading() {
    full_disk_under_intake_and_recording(Full::start().await).await;
}

/// The same on a real small filesystem (a 48 MiB tmpfs) that another program fills until the
/// kernel refuses, and then frees. Needs the right to mount: `scripts/test` requires it when it
/// runs as root (`POLIS_REQUIRE_MOUNT=1`), as in CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_filesystem_that_fills_up_refuses_writes_with_503_and_recovers_without_losing_a_reading() {
    let Some(t) = Full::start_mounted(48).await else {
        assert!(
            std::env::var("POLIS_REQUIRE_MOUNT").as_deref() != Ok("1"),
            "POLIS_REQUIRE_MOUNT=1 but this test could not mount a tmpfs"
        );
        eprintln!("cannot mount a tmpfs here (not root): the small-filesystem half not run");
        return;
    };
    full_disk_under_intake_and_recording(t).await;
}

async fn full_disk_under_intake_and_recording(t: Full) {
    let mut events = t.app.bus().subscribe(None).await.expect("subscribe");
    let (s, b) = t
        .call(
            reqwest::Method::POST,
            "/api/v1/sensors",
            Some(json!({"id": "g1", "municipality": "kazanlak", "name": "Gauge", "kind": "water_level",
                        "unit": "cm", "lat": 42.6, "lon": 25.4})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mut cam = crate::harness::camera("rec-full", 42.62, 25.39, 90.0);
    cam["stream_url"] = "demo://test/Full".into();
    cam["recording"] = "continuous".into();
    let (s, b) = t.call(reqwest::Method::POST, "/api/v1/cameras", Some(cam)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let health = "/api/v1/cameras/rec-full/health";
    t.wait_for("recording", 30, |b| b["recording"] == "recording" && b["status"] == "online", health).await;
    let (s, ready) = t.call(reqwest::Method::GET, "/readyz", None).await;
    assert_eq!((s, ready["status"].as_str()), (StatusCode::OK, Some("ready")), "{ready}");

    // Intake: batches of 50 readings, each its own millisecond, as fast as they are answered.
    let acked: Acked = Arc::default();
    let refused = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let accepted_at = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let clock = Arc::new(AtomicI64::new((OffsetDateTime::now_utc().unix_timestamp() - 3600) * 1000));
    let intake = {
        let (client, url, token) = (t.client.clone(), format!("{}/api/v1/observations", t.base), t.token.clone());
        let (acked, refused, stop, accepted_at, clock) =
            (acked.clone(), refused.clone(), stop.clone(), accepted_at.clone(), clock.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let mut batch = Vec::new();
                let mut sent = Vec::new();
                for k in 0..50u64 {
                    let ms = clock.fetch_add(1, Ordering::SeqCst);
                    let value = ((n * 50 + k) % 200) as f64;
                    batch.push(json!({"sensor": "g1", "time": rfc3339(ms), "value": value}));
                    sent.push((ms, value));
                }
                n += 1;
                let r = client.post(&url).bearer_auth(&token).json(&batch).send().await.expect("post");
                let status = r.status();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                match status {
                    StatusCode::OK => {
                        assert_eq!(body["accepted"], 50, "{body}");
                        acked.lock().expect("lock").extend(sent);
                        accepted_at.lock().expect("lock").push(Instant::now());
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert_eq!(body["error"]["code"], "unavailable", "a 503 without a JSON error: {body}");
                        refused.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => panic!("intake answered {other} (not 200 or 503): {body}"),
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!acked.lock().expect("lock").is_empty(), "no intake before the disk filled");

    // The disk is full.
    t.fill_disk().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while refused.load(Ordering::SeqCst) < 5 {
        assert!(Instant::now() < deadline, "intake never refused a batch on a full disk");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, ready) = t.call(reqwest::Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(ready["reason"].as_str().is_some_and(|r| !r.is_empty()), "{ready}");
    // Any other write too (a name long enough to need new pages).
    let (s, b) = t
        .call(
            reqwest::Method::POST,
            "/api/v1/organisations",
            Some(json!({"id": "full-town", "kind": "municipality", "name_en": "x".repeat(20_000)})),
        )
        .await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")), "{b}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let raised = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, events.next()).await {
            Ok(Some(Delivery::Event(e))) => match &e.event {
                LiveEvent::Alarm(a) if a.rule.as_str() == "storage-unavailable" && a.is_active() => break a.clone(),
                _ => {}
            },
            Ok(Some(Delivery::Gap { .. })) => {}
            Ok(None) | Err(_) => panic!("no storage-unavailable alarm within 10 s of the disk filling"),
        }
    };
    assert_eq!(raised.municipality.as_str(), "kazanlak");
    // The recorder keeps recording while its small index rows still fit; when they do not, it
    // says "not recording" and opens no file: either way no file is left unindexed.
    let (_, h) = t.call(reqwest::Method::GET, health, None).await;
    assert!(h["recording"] == "recording" || h["recording"] == "not recording", "{h}");
    if t.fs.is_some() {
        // On a full filesystem nothing can be written: the camera must say so.
        let h = t.wait_for("not recording", 10, |b| b["recording"] == "not recording", health).await;
        assert!(h["recording_error"].as_str().is_some_and(|e| !e.is_empty()), "{h}");
    }
    let files_while_full = t.unindexed_files().await;
    assert!(files_while_full.is_empty(), "files the index does not know while full: {files_while_full:?}");

    // The disk stays full while intake goes on (a few more batches refused), then space returns.
    let refused_so_far = refused.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused.load(Ordering::SeqCst) < refused_so_far + 3 {
        assert!(Instant::now() < deadline, "intake stopped being refused while the disk was full");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t.free_disk().await;
    let freed = Instant::now();
    let deadline = freed + Duration::from_secs(10);
    let back = loop {
        if let Some(at) = accepted_at.lock().expect("lock").iter().rev().find(|a| **a > freed) {
            break *at - freed;
        }
        assert!(Instant::now() < deadline, "intake not accepted within 10 s of space returning");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    eprintln!("writes accepted again {back:?} after space returned");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    intake.await.expect("intake");

    let (s, ready) = t.call(reqwest::Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{ready}");
    t.wait_for("recording again", 15, |b| b["recording"] == "recording", health).await;
    let (_, alarms) = t.call(reqwest::Method::GET, "/api/v1/alarms?state=all", None).await;
    let storage: Vec<&Value> =
        alarms.as_array().expect("alarms").iter().filter(|a| a["rule"] == "storage-unavailable").collect();
    assert_eq!(storage.len(), 1, "{alarms}");
    assert!(storage[0]["state"].as_str().is_some_and(|s| s.starts_with("cleared")), "{}", storage[0]);

    // Every acknowledged reading is stored, once.
    let acked = acked.lock().expect("lock").clone();
    let from = acked.keys().min().copied().expect("some acked");
    let to = acked.keys().max().copied().expect("some acked") + 1;
    let stored = t
        .app
        .store()
        .observations(
            &Id::from_trusted("g1"),
            None,
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(from) * 1_000_000).expect("from"),
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(to) * 1_000_000).expect("to"),
            1_000_000,
        )
        .await
        .expect("observations");
    let stored: HashMap<i64, f64> =
        stored.iter().map(|o| ((o.time().unix_timestamp_nanos() / 1_000_000) as i64, o.value())).collect();
    let lost: Vec<_> = acked.iter().filter(|(ms, v)| stored.get(ms) != Some(v)).take(5).collect();
    assert!(lost.is_empty(), "acknowledged readings lost: {lost:?} (of {})", acked.len());
    eprintln!(
        "{} readings acknowledged, {} batches refused while full, 0 lost",
        acked.len(),
        refused.load(Ordering::SeqCst)
    );
    assert_eq!(t.limit().integrity_check().await.expect("integrity"), "ok");
    let orphans = t.unindexed_files().await;
    assert!(orphans.is_empty(), "recorded files the index does not know: {orphans:?}");
}

/// A TCP relay to PostgreSQL that the test can cut, as a stopped or unreachable database server
/// looks to Polis: while cut, every connection it carried is dropped and its port refuses new
/// ones; when restored, it listens on the same port again.
struct Relay {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: std::net::SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
        let port = listener.local_addr().expect("addr").port();
        let (up, state) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(Self::run(Some(listener), port, target, state));
        Relay { port, up, task }
    }

    async fn run(
        mut first: Option<tokio::net::TcpListener>,
        port: u16,
        target: std::net::SocketAddr,
        mut state: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if state.wait_for(|up| *up).await.is_err() {
                return;
            }
            let listener = match first.take() {
                Some(l) => l,
                None => loop {
                    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                        Ok(l) => break l,
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                },
            };
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        let mut cut = state.clone();
                        tokio::spawn(async move {
                            let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else { return };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                _ = cut.wait_for(|up| !*up) => {}
                            }
                        });
                    }
                    changed = state.changed() => {
                        if changed.is_err() || !*state.borrow() {
                            break;
                        }
                    }
                }
            }
            // The listener is dropped: the port refuses connections until the relay is restored.
        }
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Issue 17: PostgreSQL goes away for 20 s under HTTP intake (every connection to it dropped and
/// its port refusing, through a relay). Writes answer 503 with a JSON error meanwhile, `/readyz`
/// says so, the `storage-unavailable` alarm is raised; within 10 s of the database's return
/// intake is accepted again without a restart, the alarm clears, and no acknowledged reading is
/// lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_gone_for_20_s_under_intake_answers_503_and_recovers_by_itself_without_losing_a_reading() {
    if !crate::harness::spawn_pg_wanted() {
        return;
    }
    let server = std::env::var("POLIS_TEST_PG_URL").expect("POLIS_TEST_PG_URL");
    let url = polis_store::testing::fresh_postgres_database(&server).await.expect("a fresh database");
    // postgres://user@HOST:PORT/DB -> the same through the relay.
    let (head, db) = url.rsplit_once('/').expect("a database in the URL");
    let (prefix, port) = head.rsplit_once(':').expect("a port in the URL");
    let host = prefix.rsplit_once('@').map_or(prefix, |(_, h)| h).trim_start_matches("postgres://");
    let target: std::net::SocketAddr = format!("{host}:{port}").parse().expect("a loopback address");
    let relay = Relay::start(target).await;
    let t = Full::start_pg(&format!("{prefix}:{}/{db}", relay.port)).await;
    let mut events = t.app.bus().subscribe(None).await.expect("subscribe");
    let (s, b) = t
        .call(
            reqwest::Method::POST,
            "/api/v1/sensors",
            Some(json!({"id": "g1", "municipality": "kazanlak", "name": "Gauge", "kind": "water_level",
                        "unit": "cm", "lat": 42.6, "lon": 25.4})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, ready) = t.call(reqwest::Method::GET, "/readyz", None).await;
    assert_eq!((s, ready["status"].as_str()), (StatusCode::OK, Some("ready")), "{ready}");

    // Intake: batches of 50 readings, each its own millisecond, as fast as they are answered.
    let acked: Acked = Arc::default();
    let refused = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let accepted_at = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let clock = Arc::new(AtomicI64::new((OffsetDateTime::now_utc().unix_timestamp() - 3600) * 1000));
    let intake = {
        let (client, url, token) = (t.client.clone(), format!("{}/api/v1/observations", t.base), t.token.clone());
        let (acked, refused, stop, accepted_at, clock, slowest) =
            (acked.clone(), refused.clone(), stop.clone(), accepted_at.clone(), clock.clone(), slowest.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let mut batch = Vec::new();
                let mut sent = Vec::new();
                for k in 0..50u64 {
                    let ms = clock.fetch_add(1, Ordering::SeqCst);
                    let value = ((n * 50 + k) % 200) as f64;
                    batch.push(json!({"sensor": "g1", "time": rfc3339(ms), "value": value}));
                    sent.push((ms, value));
                }
                n += 1;
                let asked = Instant::now();
                let r = client.post(&url).bearer_auth(&token).json(&batch).send().await.expect("post");
                let status = r.status();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                let took = asked.elapsed();
                match status {
                    StatusCode::OK => {
                        assert_eq!(body["accepted"], 50, "{body}");
                        acked.lock().expect("lock").extend(sent);
                        accepted_at.lock().expect("lock").push(Instant::now());
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert_eq!(body["error"]["code"], "unavailable", "a 503 without a JSON error: {body}");
                        refused.fetch_add(1, Ordering::SeqCst);
                        {
                            let mut slowest = slowest.lock().expect("lock");
                            *slowest = (*slowest).max(took);
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => panic!("intake answered {other} (not 200 or 503): {body}"),
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!acked.lock().expect("lock").is_empty(), "no intake before the database went away");

    // The database goes away for 20 s.
    relay.set(false);
    let cut = Instant::now();
    let deadline = cut + Duration::from_secs(15);
    while refused.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "intake never answered 503 while the database was gone");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_503 = cut.elapsed();
    let (s, ready) = t.call(reqwest::Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(ready["reason"].as_str().is_some_and(|r| !r.is_empty()), "{ready}");
    let deadline = cut + Duration::from_secs(15);
    let raised = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, events.next()).await {
            Ok(Some(Delivery::Event(e))) => match &e.event {
                LiveEvent::Alarm(a) if a.rule.as_str() == "storage-unavailable" && a.is_active() => break a.clone(),
                _ => {}
            },
            Ok(Some(Delivery::Gap { .. })) => {}
            Ok(None) | Err(_) => panic!("no storage-unavailable alarm within 15 s of the database going away"),
        }
    };
    let alarm_after = cut.elapsed();
    assert_eq!(raised.municipality.as_str(), "kazanlak");
    tokio::time::sleep_until((cut + Duration::from_secs(20)).into()).await;

    // The database is back.
    relay.set(true);
    let back = Instant::now();
    let deadline = back + Duration::from_secs(10);
    let accepted_again = loop {
        if let Some(at) = accepted_at.lock().expect("lock").iter().rev().find(|a| **a > back) {
            break *at - back;
        }
        assert!(Instant::now() < deadline, "intake not accepted within 10 s of the database's return");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    intake.await.expect("intake");
    let (s, ready) = t.call(reqwest::Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{ready}");
    let cleared = t
        .wait_for(
            "the storage-unavailable alarm to clear",
            10,
            |b| {
                b.as_array().is_some_and(|a| {
                    let storage: Vec<&Value> = a.iter().filter(|x| x["rule"] == "storage-unavailable").collect();
                    storage.len() == 1 && storage[0]["state"].as_str().is_some_and(|s| s.starts_with("cleared"))
                })
            },
            "/api/v1/alarms?state=all",
        )
        .await;
    assert!(!cleared.as_array().expect("alarms").is_empty());

    // Every acknowledged reading is stored, once.
    let acked = acked.lock().expect("lock").clone();
    let from = acked.keys().min().copied().expect("some acked");
    let to = acked.keys().max().copied().expect("some acked") + 1;
    let stored = t
        .app
        .store()
        .observations(
            &Id::from_trusted("g1"),
            None,
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(from) * 1_000_000).expect("from"),
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(to) * 1_000_000).expect("to"),
            1_000_000,
        )
        .await
        .expect("observations");
    let stored: HashMap<i64, f64> =
        stored.iter().map(|o| ((o.time().unix_timestamp_nanos() / 1_000_000) as i64, o.value())).collect();
    let lost: Vec<_> = acked.iter().filter(|(ms, v)| stored.get(ms) != Some(v)).take(5).collect();
    assert!(lost.is_empty(), "acknowledged readings lost: {lost:?} (of {})", acked.len());
    println!(
        "PostgreSQL gone for 20 s: first 503 {:.1} s after, storage-unavailable alarm {:.1} s after, {} batches \
         refused (slowest answer {:.1} s), intake accepted again {:.2} s after its return; {} readings acknowledged, 0 lost",
        first_503.as_secs_f64(),
        alarm_after.as_secs_f64(),
        refused.load(Ordering::SeqCst),
        slowest.lock().expect("lock").as_secs_f64(),
        accepted_again.as_secs_f64(),
        acked.len()
    );
}
