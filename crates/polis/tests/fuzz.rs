//! Schema fuzzing: Schemathesis (a pinned version, installed by `scripts/test` into a virtual
//! environment; its program in `POLIS_TEST_SCHEMATHESIS`) against a throw-away `polis serve` on
//! each store, as an administrator, with every check on: no server error, every response as the
//! served OpenAPI document says (status, content type, headers, body), every input the document
//! calls invalid refused, every valid one accepted. Bounded: a fixed number of cases per
//! operation with a fixed seed, and a time budget.
//!
//! Left out: `POST /auth/logout` (it would end the fuzzer's own session), the event stream and
//! live video (they never end; their own tests cover them).

mod common;

use common::{free_port, Api, Serve};
use std::path::PathBuf;
use std::process::Command;

const PASSWORD: &str = "fuzz-admin-Pa55word";

/// The Schemathesis program, or `None` (with a note) outside the test command.
fn schemathesis() -> Option<PathBuf> {
    match std::env::var_os("POLIS_TEST_SCHEMATHESIS") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            assert!(
                std::env::var("POLIS_REQUIRE_PG").as_deref() != Ok("1"),
                "POLIS_TEST_SCHEMATHESIS is not set: run scripts/test"
            );
            eprintln!("POLIS_TEST_SCHEMATHESIS not set: schema fuzzing not run (scripts/test sets it)");
            None
        }
    }
}

/// Runs the fuzzer against a fresh server on `database_url` (SQLite in the data directory when
/// `None`) and fails with its report when anything is off.
async fn fuzz(database_url: Option<String>, store: &str) {
    let Some(st) = schemathesis() else { return };
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
    // Something to find: a municipality, an agency, a camera, a site and a sensor.
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

    let report = tmp.path().join("report.json");
    let out = Command::new(&st)
        .args(["run", &format!("{base}/api/v1/openapi.json"), "--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {}", api.token)])
        .args(["--exclude-path", "/auth/logout", "--exclude-path", "/events", "--exclude-path", "/cameras/{id}/live"])
        .args(["--max-examples", "25", "--seed", "20261207", "--workers", "1", "--max-time", "120"])
        .args(["--request-timeout", "20", "--suppress-health-check", "all", "--no-color", "--report", "json"])
        .arg("--report-json-path")
        .arg(&report)
        .output()
        .expect("running schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stdout.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
    eprintln!("schemathesis on {store}:\n{}", tail.join("\n"));
    let report: serde_json::Value = match std::fs::read(&report).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(r) => r,
        None => panic!("schemathesis wrote no report ({}):\n{stdout}\n{stderr}", out.status),
    };
    // Every failure counts but one: a request valid by the schema that the server refuses (400
    // for an id that names nothing, a range whose end is before its start: rules a schema does
    // not express). Those are reported, not failed on.
    let mut counts = Vec::new();
    let mut off = Vec::new();
    for f in report["failures"].as_array().into_iter().flatten() {
        let code = f["code"].as_str().unwrap_or("?");
        counts.push(format!("{code} {} x{}", f["title"].as_str().unwrap_or(""), f["count"]));
        if code != "ST202" {
            off.push(format!("{code} {}: {}", f["title"].as_str().unwrap_or(""), f["operations"]));
        }
    }
    // Schemathesis's own faults are not the server's (Hypothesis describing a lambda can trip
    // over its source cache): they are shown, not failed on. Any other error (a refused
    // connection, a timeout) fails.
    let errors: Vec<serde_json::Value> = report["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| !e.to_string().contains("AST constructor recursion depth mismatch"))
        .cloned()
        .collect();
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
