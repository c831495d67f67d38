//! `polis plan` on the command line: the demo city's scenario and an instance file, with the
//! files it writes, and clear errors that leave nothing behind.

use serde_json::Value;
use std::process::Command;

fn polis() -> Command {
    Command::new(env!("CARGO_BIN_EXE_polis"))
}

#[test]
fn the_demo_scenario_is_planned_in_three_phases_with_its_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("plan");
    let r = polis().args(["plan", "--scenario", "demo", "--phases", "3", "--out"]).arg(&out).output().expect("run");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let geo: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.geojson")).expect("geojson")).expect("json");
    let features = geo["features"].as_array().expect("features");
    assert!(!features.is_empty());
    for f in features {
        let p = &f["properties"];
        assert!(p["phase"].as_u64().is_some_and(|x| (1..=3).contains(&x)), "{p}");
        assert!(p["model"].is_string() && p["gain"].as_f64().is_some_and(|g| g > 0.0), "{p}");
        assert!(p.get("heading").is_some());
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
    let phases = summary["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 3);
    for ph in phases {
        let (c, t, b, g) = (
            ph["covered_weight"].as_f64(),
            ph["total_weight"].as_f64(),
            ph["upper_bound"].as_f64(),
            ph["gap"].as_f64(),
        );
        let (c, t, b, g) = (c.expect("covered"), t.expect("total"), b.expect("bound"), g.expect("gap"));
        assert!(c <= b + 1e-6 && b <= t + 1e-6 && (0.0..1.0).contains(&g), "{ph}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).expect("report");
    assert!(html.contains("<svg") && !html.contains("<script"));
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(text.contains("phase 3:") && text.contains("gap"), "{text}");
    // Not a terminal: progress in plain lines, no bar redrawn in place.
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!err.contains('\r'), "{err}");
    for line in
        ["what each camera sees 0%", "what each camera sees 100%", "choosing cameras 100%", "proving the bound 100%"]
    {
        assert!(err.lines().any(|l| l.trim() == line), "no {line:?} in {err}");
    }
}

#[test]
fn a_count_of_cameras_limits_the_demo_phases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("plan");
    let r = polis()
        .args(["plan", "--scenario", "demo", "--phases", "2", "--cameras", "2", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
    for ph in summary["phases"].as_array().expect("phases") {
        assert!(ph["budget"].is_null() && ph["max_cameras"] == 2 && ph["cameras"] == 2, "{ph}");
    }
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(text.contains("at most 2 cameras"), "{text}");
    let r = polis().args(["plan", "--scenario", "demo", "--cameras", "0", "--out"]).arg(&out).output().expect("run");
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("--cameras"));
}

#[test]
fn an_instance_file_is_planned_and_bad_input_is_refused_with_nothing_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("city.json");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ref/plan-example.json");
    std::fs::copy(example, &input).expect("the documented example");
    let out = dir.path().join("out");
    let r = polis().args(["plan", "--input"]).arg(&input).arg("--out").arg(&out).output().expect("run");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(out.join("summary.json").is_file());

    // A budget below the cheapest camera: refused, naming the item; nothing written.
    let mut inst: Value = serde_json::from_str(&std::fs::read_to_string(&input).expect("read")).expect("json");
    inst["budgets"] = serde_json::json!([100000, 1]);
    std::fs::write(&input, inst.to_string()).expect("write");
    let bad_out = dir.path().join("bad");
    let r = polis().args(["plan", "--input"]).arg(&input).arg("--out").arg(&bad_out).output().expect("run");
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("budgets[1]") && err.contains("cheapest"), "{err}");
    assert!(!bad_out.exists(), "nothing written");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty());
    let r = polis().args(["plan", "--scenario", "atlantis", "--out"]).arg(dir.path().join("x")).output().expect("run");
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("unknown scenario"));
}
