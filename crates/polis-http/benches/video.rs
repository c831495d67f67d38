//! Video: what recording and relaying cameras costs, side by side with the common do-it-yourself
//! recorder, and the live view's server-added latency.
//!
//! The source is a 1080p H.264 clip of about 2 Mbit/s (a busy test pattern with noise, a key frame
//! every 2 s, encoded once with ffmpeg/x264 and kept in the target directory) served without
//! re-encoding by GStreamer's RTSP server (`scripts/lib/rtsp_server.py --file`), from its start
//! for each client. Every camera pulls its own upstream connection of it.
//!
//! 1. For N streams (`POLIS_BENCH_STREAMS`, default 1,10,20): the release `polis serve` binary
//!    (`POLIS_BIN`, default `target/release/polis`) records N cameras continuously (created
//!    through the API); then a fresh one records them and relays each to one live WebSocket
//!    viewer (in this process). Its CPU (utime+stime from /proc) over `POLIS_BENCH_SECONDS`
//!    (default 60) after a warm-up, minus the same process idle before the cameras, per stream; its resident memory with N streams minus
//!    idle, per stream. Then the same N streams recorded by N `ffmpeg -rtsp_transport tcp -i URL
//!    -c copy -f segment -segment_time 60 -reset_timestamps 1 out%05d.mp4` processes.
//! 2. One camera with `POLIS_BENCH_VIEWERS` (default 50) live viewers: the server-added latency
//!    (a frame's arrival from RTSP to its fragment written to each viewer's socket) from the
//!    `polis_live_latency_seconds` histogram on /metrics, counted after a warm-up (a new viewer is
//!    sent the current group of pictures at once, which is not live latency).
//!
//! Run: `scripts/bench-video` (builds the binary, then `cargo bench -p polis-http --bench video`).
//! The RTSP server's and the viewers' CPU are not counted.

use futures::StreamExt;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().expect("getconf");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("stat") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

/// Resident memory of a process in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The 1080p source clip, made once (about two minutes of x264 on two cores).
fn source(seconds: u64) -> PathBuf {
    if let Ok(p) = std::env::var("POLIS_BENCH_VIDEO_SOURCE") {
        return PathBuf::from(p);
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("video-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let path = dir.join(format!("source-1080p-2mbit-{seconds}s.mp4"));
    if !path.exists() {
        eprintln!("encoding the {seconds} s 1080p source clip once: {}", path.display());
        let tmp = dir.join("encoding.mp4");
        let ok = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=1920x1080:rate=25,noise=alls=12:allf=t")
            .args(["-t", &seconds.to_string(), "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main"])
            .args(["-bf", "0", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0"])
            .args(["-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M", "-pix_fmt", "yuv420p"])
            .arg(&tmp)
            .status()
            .expect("run ffmpeg (Debian's ffmpeg, installed by scripts/bench)")
            .success();
        assert!(ok, "ffmpeg could not encode the source clip");
        std::fs::rename(&tmp, &path).expect("keep the source clip");
    }
    path
}

/// GStreamer's RTSP server serving the clip at rtsp://127.0.0.1:PORT/main.
fn rtsp_server(clip: &Path) -> (Proc, String) {
    let port = free_port();
    let mut child = Command::new("/usr/bin/python3")
        .arg(repo().join("scripts/lib/rtsp_server.py"))
        .arg(port.to_string())
        .arg("--file")
        .arg(clip)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the RTSP server (scripts/bench installs GStreamer)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    assert!(line.starts_with("ready"), "RTSP server: {line:?}");
    (Proc(child), format!("rtsp://127.0.0.1:{port}/main"))
}

struct Polis {
    proc: Proc,
    base: String,
    token: String,
    client: reqwest::Client,
    _data: tempfile::TempDir,
}

async fn start_polis() -> Polis {
    let bin = std::env::var("POLIS_BIN").map(PathBuf::from).unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| repo().join("target"));
        target.join("release/polis")
    });
    assert!(bin.exists(), "no {} (scripts/bench-video builds it)", bin.display());
    let data = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = Command::new(&bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data.path())
        .env("POLIS_ADMIN_PASSWORD", "bench-password")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start polis");
    let proc = Proc(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "polis did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "bench-password"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let token = login["token"].as_str().expect("token").to_string();
    let p = Polis { proc, base, token, client, _data: data };
    p.post(
        "/api/v1/organisations",
        json!({"id": "bench", "kind": "municipality", "name_en": "Bench", "name_bg": "Бенч", "municipality": "bench"}),
    )
    .await;
    p
}

impl Polis {
    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self.client.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body).send().await;
        let r = r.expect("post");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {v}");
        v
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.client.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.expect("get");
        r.json().await.expect("json")
    }

    async fn metrics(&self) -> String {
        let r = self.client.get(format!("{}/metrics", self.base)).bearer_auth(&self.token).send().await;
        r.expect("metrics").text().await.expect("metrics text")
    }

    async fn cameras(&self, n: usize, url: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..n {
            let id = format!("cam-{i:03}");
            self.post(
                "/api/v1/cameras",
                json!({"id": id, "municipality": "bench", "name": format!("Camera {i}"),
                       "lat": 42.62 + i as f64 * 1e-4, "lon": 25.39, "heading_deg": 90.0, "fov_deg": 60.0,
                       "range_m": 150.0, "kind": "fixed", "mount_height_m": 6.0,
                       "stream_url": url, "recording": "continuous"}),
            )
            .await;
            ids.push(id);
        }
        ids
    }

    /// Waits until every camera is online; returns their summed bitrate (bit/s).
    async fn online(&self, ids: &[String]) -> f64 {
        let t0 = Instant::now();
        loop {
            let mut up = 0;
            let mut bps = 0.0;
            for id in ids {
                let h = self.get(&format!("/api/v1/cameras/{id}/health")).await;
                if h["status"] == "online" {
                    up += 1;
                    bps += h["bitrate_bps"].as_f64().unwrap_or(0.0);
                }
            }
            if up == ids.len() {
                return bps;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "{up} of {} cameras online after 60 s", ids.len());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// A live viewer of `id`'s main stream that reads and drops what it is sent; counts bytes.
    async fn viewer(&self, id: &str, bytes: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        let url = format!("{}/api/v1/cameras/{id}/live?stream=main", self.base.replace("http://", "ws://"));
        let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).expect("url");
        let protocols = format!("polis.live, polis.token.{}", self.token);
        req.headers_mut().insert("sec-websocket-protocol", protocols.parse().expect("header"));
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("websocket");
        tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Binary(b) = m {
                    bytes.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
    }
}

/// Bytes of the files under a directory.
fn du(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                du(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

struct Cost {
    cpu_pct_per_stream: f64,
    rss_mb_per_stream: f64,
}

async fn polis_streams(n: usize, url: &str, relay: bool, warm: Duration, window: Duration, tck: f64) -> Cost {
    let polis = start_polis().await;
    let pid = polis.proc.pid();
    // Idle: the server with no camera, over a quarter of the window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (c0, t0) = (cpu_ticks(pid), Instant::now());
    tokio::time::sleep(window / 4).await;
    let idle_cpu = (cpu_ticks(pid) - c0) as f64 / tck / t0.elapsed().as_secs_f64();
    let idle_rss = rss(pid);

    let ids = polis.cameras(n, url).await;
    let relayed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    if relay {
        for id in &ids {
            polis.viewer(id, relayed.clone()).await;
        }
    }
    polis.online(&ids).await;
    tokio::time::sleep(warm).await;
    let rec_dir = polis._data.path().join("video/rec");
    let (c0, t0, b0, d0) =
        (cpu_ticks(pid), Instant::now(), relayed.load(std::sync::atomic::Ordering::Relaxed), du(&rec_dir));
    tokio::time::sleep(window).await;
    let secs = t0.elapsed().as_secs_f64();
    let busy = (cpu_ticks(pid) - c0) as f64 / tck / secs;
    let sent = relayed.load(std::sync::atomic::Ordering::Relaxed) - b0;
    let written = du(&rec_dir).saturating_sub(d0);
    let rss_now = rss(pid);
    let bps = polis.online(&ids).await; // over the last 5 s
    let per = (busy - idle_cpu) * 100.0 / n as f64;
    let mem = rss_now.saturating_sub(idle_rss) as f64 / n as f64 / 1048576.0;
    let what = if relay { "polis record+relay" } else { "polis record      " };
    println!(
        "{what} N={n:>3}: {busy_pct:.2}% of a core (idle {idle_pct:.2}%) => {per:.3}% per stream; RSS {rss_mb:.1} MB (idle {idle_mb:.1} MB) => {mem:.2} MB per stream; upstream {up:.2} Mbit/s per stream (health), recorded {rec:.2} Mbit/s, relayed {rel:.2} Mbit/s per stream",
        busy_pct = busy * 100.0,
        idle_pct = idle_cpu * 100.0,
        rss_mb = rss_now as f64 / 1048576.0,
        idle_mb = idle_rss as f64 / 1048576.0,
        up = bps / n as f64 / 1e6,
        rec = written as f64 * 8.0 / secs / n as f64 / 1e6,
        rel = sent as f64 * 8.0 / secs / n as f64 / 1e6,
    );
    Cost { cpu_pct_per_stream: per, rss_mb_per_stream: mem }
}

fn ffmpeg_streams(n: usize, url: &str, warm: Duration, window: Duration, tck: f64) -> Cost {
    let dir = tempfile::tempdir().expect("tempdir");
    let procs: Vec<Proc> = (0..n)
        .map(|i| {
            let out = dir.path().join(format!("{i:03}"));
            std::fs::create_dir_all(&out).expect("dir");
            let child = Command::new("ffmpeg")
                .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url])
                .args(["-c", "copy", "-f", "segment", "-segment_time", "60", "-reset_timestamps", "1"])
                .arg(out.join("out%05d.mp4"))
                .stdout(Stdio::null())
                .spawn()
                .expect("ffmpeg");
            Proc(child)
        })
        .collect();
    std::thread::sleep(warm);
    let ticks = |procs: &[Proc]| procs.iter().map(|p| cpu_ticks(p.pid())).sum::<u64>();
    let (c0, t0, d0) = (ticks(&procs), Instant::now(), du(dir.path()));
    std::thread::sleep(window);
    let secs = t0.elapsed().as_secs_f64();
    let busy = (ticks(&procs) - c0) as f64 / tck / secs;
    let written = du(dir.path()).saturating_sub(d0);
    let mem: u64 = procs.iter().map(|p| rss(p.pid())).sum();
    let per = busy * 100.0 / n as f64;
    let mem = mem as f64 / n as f64 / 1048576.0;
    println!(
        "ffmpeg -c copy      N={n:>3}: {busy_pct:.2}% of a core => {per:.3}% per stream; RSS {mem:.1} MB per process; recorded {rec:.2} Mbit/s per stream",
        busy_pct = busy * 100.0,
        rec = written as f64 * 8.0 / secs / n as f64 / 1e6,
    );
    Cost { cpu_pct_per_stream: per, rss_mb_per_stream: mem }
}

/// The cumulative counts of `polis_live_latency_seconds` by upper bound (seconds).
fn histogram(metrics: &str) -> Vec<(f64, u64)> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("polis_live_latency_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (le, count) = l.split_once("\"} ")?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, count.trim().parse().ok()?))
        })
        .collect()
}

/// The smallest bucket bound holding the `q` quantile of the samples between two readings.
fn quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> (f64, u64) {
    let total = after.last().map(|b| b.1).unwrap_or(0) - before.last().map(|b| b.1).unwrap_or(0);
    let want = (q * total as f64).ceil() as u64;
    for ((le, a), (_, b)) in after.iter().zip(before) {
        if a - b >= want {
            return (*le, total);
        }
    }
    (f64::INFINITY, total)
}

async fn latency(url: &str, viewers: usize, warm: Duration, window: Duration) {
    let polis = start_polis().await;
    let ids = polis.cameras(1, url).await;
    let relayed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    for _ in 0..viewers {
        polis.viewer(&ids[0], relayed.clone()).await;
    }
    polis.online(&ids).await;
    tokio::time::sleep(warm).await;
    let before = histogram(&polis.metrics().await);
    let b0 = relayed.load(std::sync::atomic::Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    let after = histogram(&polis.metrics().await);
    let rate = (relayed.load(std::sync::atomic::Ordering::Relaxed) - b0) as f64 * 8.0 / t0.elapsed().as_secs_f64();
    let (p50, total) = quantile(&before, &after, 0.50);
    let (p99, _) = quantile(&before, &after, 0.99);
    let (p999, _) = quantile(&before, &after, 0.999);
    println!(
        "live latency, {viewers} viewers on one 1080p stream, {total} fragments over {:.0} s: p50 <= {:.2} ms, p99 <= {:.2} ms, p99.9 <= {:.2} ms (bucket bounds); relayed {:.1} Mbit/s in all",
        window.as_secs_f64(),
        p50 * 1e3,
        p99 * 1e3,
        p999 * 1e3,
        rate / 1e6
    );
}

fn main() {
    let window = Duration::from_secs(env("POLIS_BENCH_SECONDS", 60));
    let warm = Duration::from_secs(env("POLIS_BENCH_WARMUP", 10));
    let viewers = env("POLIS_BENCH_VIEWERS", 50) as usize;
    let counts: Vec<usize> = std::env::var("POLIS_BENCH_STREAMS")
        .unwrap_or_else(|_| "1,10,20".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    // Long enough for a run: the idle measurement, start-up, warm-up and the window (the RTSP
    // server is restarted for each run, so the clip plays from its start each time).
    let clip = source(window.as_secs() * 5 / 4 + warm.as_secs() + 60);
    let tck = clock_ticks();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut rows = Vec::new();
    for &n in &counts {
        let (server, url) = rtsp_server(&clip);
        let rec = rt.block_on(polis_streams(n, &url, false, warm, window, tck));
        drop(server);
        let (server, url) = rtsp_server(&clip);
        let relay = rt.block_on(polis_streams(n, &url, true, warm, window, tck));
        drop(server);
        let (server, url) = rtsp_server(&clip);
        let f = ffmpeg_streams(n, &url, warm, window, tck);
        drop(server);
        rows.push((n, rec, relay, f));
    }
    println!("\n| streams | Polis CPU/stream, record | Polis CPU/stream, record + 1 live viewer | ffmpeg -c copy CPU/stream | ffmpeg / Polis (record) | Polis RSS/stream (record + viewer) | ffmpeg RSS/process |");
    println!("|---|---|---|---|---|---|---|");
    for (n, r, p, f) in &rows {
        println!(
            "| {n} | {:.3}% | {:.3}% | {:.3}% | {:.2}x | {:.2} MB | {:.1} MB |",
            r.cpu_pct_per_stream,
            p.cpu_pct_per_stream,
            f.cpu_pct_per_stream,
            f.cpu_pct_per_stream / r.cpu_pct_per_stream.max(1e-9),
            p.rss_mb_per_stream,
            f.rss_mb_per_stream
        );
    }
    if viewers > 0 {
        let (_server, url) = rtsp_server(&clip);
        rt.block_on(latency(&url, viewers, warm, window));
    }
}
