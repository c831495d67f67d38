//! Schema fuzzing: Schemathesis (pinned; `scripts/lib/schemathesis.sh` installs it into a
//! virtual environment under `target/` on first use) against a throw-away `polis serve` on each
//! store, as an administrator, with every check on: no server error, every response as the served
//! OpenAPI document says (status, content type, headers, body), every input the document calls
//! invalid refused. A valid input refused (ST202) is reported, not failed on: the rules a schema
//! cannot say (an id that names nothing, `to` before `from`) are answered 400 naming the field.
//!
//! Deterministic and bounded by cases, not by time: a fixed seed, Hypothesis's derandomized mode,
//! at most a few cases per operation, one worker, no example database (deterministic mode keeps
//! none; Schemathesis runs in a scratch directory, so nothing of it lands in the tree). A time
//! limit only guards against a hang.
//!
//! Left out: `POST /auth/logout` (it would end the fuzzer's own session), the event stream and
//! live video (they never end; their own tests cover them).

mod common;

use common::{free_port, Api, Serve};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PASSWORD: &str = "fuzz-admin-Pa55word";
/// Cases per operation and phase (the coverage phase adds its own boundary cases); a deeper run
/// by hand: `POLIS_FUZZ_EXAMPLES=50 cargo test --workspace --test fuzz -- --nocapture`.
const MAX_EXAMPLES: &str = "8";
const SEED: &str = "20261207";
/// Only against a hang: a run takes about a minute per store on the shared 2-core machine.
const HANG: Duration = Duration::from_secs(420);

/// Runs the fuzzer against a fresh server on `database_url` (SQLite in the data directory when
/// `None`) and fails with its report when anything is off.
async fn fuzz(database_url: Option<String>, store: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/schemathesis.sh");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let data = tmp.path().join("data");
    let log = tmp.path().join("polis.log");
    let port = free_port();
    let mut extra = Vec::new();
    if let Some(url) = &database_url {
        extra.extend(["--database-url".to_string(), url.clone()]);
    }
    let _server = Serve { data: &data, port, admin_password: PASSWORD, log_level: "warn", log_file: Some(&log) }
        .start_with(&extra)
        .await;
    let base = format!("http://127.0.0.1:{port}");
    let api = Api::login(&base, "admin", PASSWORD).await;
    // Something to find: a municipality, an agency, a camera and a sensor.
    api.post(
        "/api/v1/organisations",
        serde_json::json!({"id": "kazanlak", "kind": "municipality", "name_en": "Kazanlak"}),
    )
    .await;
    api.post(
        "/api/v1/organisations",
        serde_json::json!({"id": "kz-police", "kind": "agency", "name_en": "Police", "municipality": "kazanlak", "agency_kind": "police"}),
    )
    .await;
    api.post(
        "/api/v1/cameras",
        serde_json::json!({"id": "cam-1", "municipality": "kazanlak", "name": "Square", "lat": 42.619, "lon": 25.393,
                           "heading_deg": 90.0, "fov_deg": 60.0, "range_m": 150.0}),
    )
    .await;
    api.post(
        "/api/v1/sensors",
        serde_json::json!({"id": "gauge-1", "municipality": "kazanlak", "name": "Gauge", "kind": "water_level",
                           "unit": "cm", "lat": 42.61, "lon": 25.39}),
    )
    .await;

    let examples = std::env::var("POLIS_FUZZ_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_string());
    let report = tmp.path().join("report.json");
    let started = Instant::now();
    let run = tokio::process::Command::new(&script)
        .current_dir(tmp.path())
        .args(["run", &format!("{base}/api/v1/openapi.json"), "--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {}", api.token)])
        .args(["--exclude-path", "/auth/logout", "--exclude-path", "/events", "--exclude-path", "/cameras/{id}/live"])
        .args(["--max-examples", &examples, "--seed", SEED, "--generation-deterministic"])
        .args(["--workers", "1", "--request-timeout", "60"])
        .args(["--suppress-health-check", "all", "--no-color", "--report", "json"])
        .arg("--report-json-path")
        .arg(&report)
        .kill_on_drop(true)
        .output();
    // A deeper run by hand has an hour.
    let hang = if examples == MAX_EXAMPLES { HANG } else { Duration::from_secs(3600) };
    let out = match tokio::time::timeout(hang, run).await {
        Ok(out) => out.expect("running scripts/lib/schemathesis.sh"),
        Err(_) => panic!("schemathesis on {store} did not finish within {hang:?}"),
    };
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stdout.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
    eprintln!("schemathesis on {store} ({took:.1?}):\n{}", tail.join("\n"));
    let report: serde_json::Value = match std::fs::read(&report).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(r) => r,
        None => panic!("schemathesis wrote no report ({}):\n{stdout}\n{stderr}", out.status),
    };
    let mut counts = Vec::new();
    let mut off = Vec::new();
    for f in report["failures"].as_array().into_iter().flatten() {
        let code = f["code"].as_str().unwrap_or("?");
        counts.push(format!("{code} {} x{}: {}", f["title"].as_str().unwrap_or(""), f["count"], f["operations"]));
        if code != "ST202" {
            off.push(format!("{code} {}: {}", f["title"].as_str().unwrap_or(""), f["operations"]));
        }
    }
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    eprintln!("schemathesis on {store}: failures {counts:?}, errors {}", errors.len());
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        off.is_empty() && errors.is_empty(),
        "schemathesis on {store} found: {off:#?}\nerrors: {errors:#?}\n{stdout}\nserver log (last lines):\n{}",
        log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    assert!(!log.contains("internal error"), "the server had internal errors under fuzzing:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_its_document_under_schema_fuzzing_on_sqlite() {
    fuzz(None, "SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_its_document_under_schema_fuzzing_on_postgres() {
    let Ok(base) = std::env::var("POLIS_TEST_PG_URL") else {
        assert!(
            std::env::var("POLIS_REQUIRE_PG").as_deref() != Ok("1"),
            "POLIS_REQUIRE_PG=1 but POLIS_TEST_PG_URL is not set: run scripts/test"
        );
        eprintln!("POLIS_TEST_PG_URL not set: PostgreSQL half not run (scripts/test sets it)");
        return;
    };
    let url = polis_store::testing::fresh_postgres_database(&base).await.expect("a fresh database");
    fuzz(Some(url), "PostgreSQL").await;
}
