//! A console that resumes after a restart of the single binary gets every event it missed: the
//! real `polis serve` (on SQLite, and on PostgreSQL when `POLIS_TEST_PG_URL` is set) is stopped
//! with SIGTERM and started again while a console is away; the console then resumes its event
//! stream (SSE with `Last-Event-ID`, and the WebSocket-style `?after=`) and must receive the
//! events published before and after the restart, in order, none twice, and no `gap`.

mod common;

use common::{free_port, Api, Serve};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const PASSWORD: &str = "restart-Pa55word";

/// One SSE event: its id, type and data.
#[derive(Debug)]
struct Sse {
    id: u64,
    kind: String,
    data: Value,
}

/// Reads an SSE stream until `want` observation events arrived (or 20 seconds passed); returns
/// every event read, gaps included.
async fn read_events(api: &Api, resume: &str, header: bool, want: usize) -> Vec<Sse> {
    let mut rb = api.http.get(format!("{}/api/v1/events{}", api.base, if header { "" } else { resume }));
    if header {
        rb = rb.header("Last-Event-ID", resume);
    }
    let mut r = rb.bearer_auth(&api.token).header("Accept", "text/event-stream").send().await.expect("events");
    assert_eq!(r.status(), StatusCode::OK);
    let mut buf = String::new();
    let mut out: Vec<Sse> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let count = |out: &[Sse]| out.iter().filter(|e| e.kind == "observation").count();
    while count(&out) < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = match tokio::time::timeout(left, r.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => break,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (0u64, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().unwrap_or(0);
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !kind.is_empty() {
                out.push(Sse { id, kind, data: serde_json::from_str(&data).unwrap_or(Value::Null) });
            }
        }
    }
    out
}

async fn post_reading(api: &Api, value: f64) {
    let t = (OffsetDateTime::now_utc() - time::Duration::seconds(1)).format(&Rfc3339).expect("time");
    let b = api.post("/api/v1/observations", json!([{"sensor": "g1", "time": t, "value": value}])).await;
    assert_eq!(b["accepted"], 1, "{b}");
    // Each reading its own millisecond.
    tokio::time::sleep(Duration::from_millis(3)).await;
}

fn values(events: &[Sse]) -> Vec<f64> {
    events.iter().filter(|e| e.kind == "observation").filter_map(|e| e.data["data"]["value"].as_f64()).collect()
}

async fn resume_after_restart(database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = Serve { data: dir.path(), port, admin_password: PASSWORD, log_level: "warn", log_file: None };
    let args: Vec<String> = database_url.map(|u| vec!["--database-url".to_string(), u]).unwrap_or_default();
    let mut server = serve.start_with(&args).await;
    let api = Api::login(&base, "admin", PASSWORD).await;
    api.post("/api/v1/organisations", json!({"id": "resumeville", "kind": "municipality", "name_en": "Resumeville"}))
        .await;
    api.post(
        "/api/v1/sensors",
        json!({"id": "g1", "municipality": "resumeville", "name": "Gauge", "kind": "water_level", "unit": "cm",
               "lat": 42.6, "lon": 25.4}),
    )
    .await;
    // The console sees the first reading (from the start of what is kept), then goes away.
    post_reading(&api, 0.0).await;
    let seen = read_events(&api, "?after=1", false, 1).await;
    let last = seen.iter().rev().find(|e| e.kind == "observation").map(|e| e.id).expect("the first reading's event");
    // Missed while away: before the restart, and after it.
    for v in 1..=20 {
        post_reading(&api, f64::from(v)).await;
    }
    server.terminate();
    server = serve.start_with(&args).await;
    let api = Api::login(&base, "admin", PASSWORD).await;
    for v in 21..=30 {
        post_reading(&api, f64::from(v)).await;
    }
    let want: Vec<f64> = (1..=30).map(f64::from).collect();
    for header in [true, false] {
        let resume = if header { last.to_string() } else { format!("?after={last}") };
        let got = read_events(&api, &resume, header, want.len()).await;
        assert!(!got.iter().any(|e| e.kind == "gap"), "a gap after the restart: {got:?}");
        assert_eq!(values(&got), want, "every missed reading once, in order (resuming by header: {header})");
        assert!(got.windows(2).all(|w| w[0].id < w[1].id), "ids increase: {got:?}");
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_resumes_after_a_restart_without_a_gap_on_sqlite() {
    resume_after_restart(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_resumes_after_a_restart_without_a_gap_on_postgres() {
    let Ok(server) = std::env::var("POLIS_TEST_PG_URL") else {
        assert!(
            std::env::var("POLIS_REQUIRE_PG").as_deref() != Ok("1"),
            "POLIS_REQUIRE_PG=1 but POLIS_TEST_PG_URL is not set: run scripts/test"
        );
        eprintln!("POLIS_TEST_PG_URL not set: PostgreSQL half not run (scripts/test sets it)");
        return;
    };
    let url = polis_store::testing::fresh_postgres_database(&server).await.expect("a fresh database");
    resume_after_restart(Some(url)).await;
}
