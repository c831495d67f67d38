//! Opening, migrating, re-opening; durability; what a damaged database does.

use crate::fixtures::*;
use crate::harness::Fresh;
use polis_base::ErrorKind;

pub async fn reopening_migrates_nothing_and_keeps_the_data(db: Fresh) {
    let store = db.open().await;
    store
        .insert_cameras(&[camera("c1")], &[audit("create", "camera", "c1", Some("kazanlak"), 1)])
        .await
        .expect("insert");
    store.close().await;
    for _ in 0..2 {
        let store = db.open().await;
        assert_eq!(store.list_cameras().await.expect("list"), vec![camera("c1")]);
        assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 1);
        store.close().await;
    }
    assert_eq!(db.raw_i64("SELECT COUNT(*) FROM schema_version").await, 12, "each migration recorded once");
    assert_eq!(db.raw_i64("SELECT MAX(version) FROM schema_version").await, 12);
}

pub async fn a_database_newer_than_this_build_is_refused(db: Fresh) {
    db.open().await.close().await;
    db.raw_execute("INSERT INTO schema_version (version, name, applied_at_ms) VALUES (999, 'from_the_future', 0)")
        .await;
    let e = polis_store::open(&db.url).await.err().expect("a newer schema must be refused");
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert!(e.message.contains("999") && e.message.contains("newer"), "{}", e.message);
}

/// Dropping the store without closing it loses nothing it acknowledged.
pub async fn an_acknowledged_write_survives_dropping_the_store(db: Fresh) {
    let store = db.open().await;
    store
        .insert_sites(&[polygon_site("dam")], &[audit("create", "site", "dam", Some("kazanlak"), 1)])
        .await
        .expect("write");
    drop(store);
    let store = db.open().await;
    assert_eq!(store.list_sites().await.expect("list"), vec![polygon_site("dam")]);
    assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 1);
}

/// A row edited behind the store's back into something invalid is reported, not trusted.
pub async fn a_corrupt_row_is_an_internal_error_naming_it(db: Fresh) {
    let store = db.open().await;
    store.insert_cameras(&[camera("c1")], &[]).await.expect("insert");
    store.insert_sites(&[point_site("s1")], &[]).await.expect("insert");
    db.raw_execute("UPDATE cameras SET fov_deg = 0").await;
    db.raw_execute("UPDATE sites SET geometry = 'CIRCLE(25 42, 10)'").await;

    let e = store.list_cameras().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal);
    assert!(
        e.message.contains("cameras") && e.message.contains("c1") && e.message.contains("fov_deg"),
        "{}",
        e.message
    );
    assert!(!format!("{e:?}").contains("p@ss"), "no password in the error: {e:?}");

    let e = store.list_sites().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal);
    assert!(e.message.contains("geometry"), "{}", e.message);
    store.close().await;
}

/// Rows of the live tables edited behind the store's back are reported, not trusted.
pub async fn corrupt_live_rows_are_internal_errors_naming_them(db: Fresh) {
    let store = db.open().await;
    let internal = |e: polis_base::Error, words: &[&str]| {
        assert_eq!(e.kind, ErrorKind::Internal, "{e:?}");
        for w in words {
            assert!(e.message.contains(w), "{w:?} in {}", e.message);
        }
    };

    // One reading in the series (folded by a purge that deletes nothing), one in the intake log.
    store.insert_observations(&[crate::observations::obs("g1", Some("pm10"), 0, 1.0)]).await.expect("insert");
    store.purge_observations(&[id("g1")], at_ms(0)).await.expect("fold");
    store.insert_observations(&[crate::observations::obs("g2", Some("pm10"), 0, 1.0)]).await.expect("insert");
    for table in ["observations", "observation_log"] {
        let sensor = if table == "observations" { "g1" } else { "g2" };
        db.raw_execute(&format!("UPDATE {table} SET quantity = 'PM 10'")).await;
        internal(store.latest_observations().await.unwrap_err(), &["observations", sensor, "quantity"]);
        let e = store.observations(&id(sensor), Some("pm10"), at_ms(0), at_ms(T0 + 1), 10).await;
        assert!(e.expect("no such quantity now").is_empty());
        db.raw_execute(&format!("UPDATE {table} SET quantity = 'pm10', lat = 42.0")).await;
        internal(store.latest_observations().await.unwrap_err(), &["observations", "lat"]);
        db.raw_execute(&format!("UPDATE {table} SET lat = 95.0, lon = 25.0")).await;
        let e = store.observations(&id(sensor), Some("pm10"), at_ms(0), at_ms(T0 + 1), 10).await.unwrap_err();
        internal(e, &["observations", sensor, "lat"]);
        db.raw_execute(&format!("UPDATE {table} SET lat = NULL, lon = NULL")).await;
    }
    assert_eq!(store.latest_observations().await.expect("repaired").len(), 2);

    let r = crate::rules::rule("r1", 1);
    store.put_rule(&r, &audit("create", "rule", "r1", None, 1)).await.expect("rule");
    db.raw_execute("UPDATE rules SET body = '{\"name\": \"half a rule\"'").await;
    internal(store.list_rules().await.unwrap_err(), &["rules", "r1", "body"]);
    // Well-formed JSON, but not a valid rule: hysteresis below zero.
    let bad = r#"{"name":"x","enabled":true,"scope":{"type":"sensor","sensor":"g1"},"quantity":null,"condition":{"type":"threshold","above":"1","below":null,"hysteresis":"-1"},"severity":"major"}"#;
    db.raw_execute(&format!("UPDATE rule_versions SET body = '{bad}'")).await;
    let e = store.rule_version(&id("r1"), 1).await.unwrap_err();
    assert!(format!("{e:?}").contains("condition.hysteresis"), "the source says why: {e:?}");
    internal(e, &["rule_versions", "r1", "body"]);
    db.raw_execute("UPDATE rules SET version = -1").await;
    internal(store.list_rules().await.unwrap_err(), &["rules", "version"]);

    store.put_alarm(&crate::alarms::alarm("a1", "r1", "g1", 0), None).await.expect("alarm");
    db.raw_execute("UPDATE alarms SET state = 'snoozed'").await;
    internal(store.open_alarms().await.unwrap_err(), &["alarms", "a1", "state"]);
    db.raw_execute("UPDATE alarms SET state = 'active_unacknowledged', body = '[]'").await;
    internal(store.list_alarms(None, false, 10).await.unwrap_err(), &["alarms", "body"]);
    store.close().await;
}

/// Observations, rules and alarms are there after a re-open (migration 0002 is not re-run).
pub async fn live_data_survives_reopening(db: Fresh) {
    let store = db.open().await;
    let o = crate::observations::obs("g1", None, 0, 1.5);
    store.insert_observations(std::slice::from_ref(&o)).await.expect("insert");
    store.put_rule(&crate::rules::rule("r1", 1), &audit("create", "rule", "r1", None, 1)).await.expect("rule");
    store.put_alarm(&crate::alarms::alarm("a1", "r1", "g1", 0), None).await.expect("alarm");
    drop(store);
    let store = db.open().await;
    assert_eq!(store.latest_observations().await.expect("latest"), vec![o]);
    assert_eq!(store.list_rules().await.expect("rules"), vec![crate::rules::rule("r1", 1)]);
    assert_eq!(store.open_alarms().await.expect("alarms"), vec![crate::alarms::alarm("a1", "r1", "g1", 0)]);
    store.close().await;
}

/// Once the intake log holds 100,000 readings, the insert that fills it folds it into the
/// series: the log is empty again and every reading is there once.
pub async fn a_large_intake_log_is_folded_by_itself(db: Fresh) {
    let store = db.open().await;
    let batch = |n: i64| -> Vec<polis_domain::Observation> {
        (0..10_000).map(|i| crate::observations::obs(&format!("s{}", i % 500), None, n * 10_000 + i, 1.0)).collect()
    };
    for n in 0..9 {
        store.insert_observations(&batch(n)).await.expect("insert");
    }
    assert_eq!(db.raw_i64("SELECT COUNT(*) FROM observation_log").await, 90_000, "not yet");
    // The last batch again (delivered twice), then one more.
    store.insert_observations(&batch(8)).await.expect("redelivered");
    assert_eq!(db.raw_i64("SELECT COUNT(*) FROM observation_log").await, 0, "folded");
    assert_eq!(db.raw_i64("SELECT COUNT(*) FROM observations").await, 90_000, "each reading once");
    store.insert_observations(&batch(9)).await.expect("insert");
    let b = store
        .observation_buckets(&id("s7"), None, at_ms(0), at_ms(T0 + 1_000_000), time::Duration::days(10_000))
        .await
        .expect("buckets");
    assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 200, "20 from each of 10 batches, log and series");
    store.close().await;
}

pub const CRASH_CHILD_ENV: &str = "POLIS_STORE_TEST_CRASH_CHILD_DB";

/// 120,000 readings of 200 sensors.
fn crash_observations() -> Vec<polis_domain::Observation> {
    (0..120_000).map(|i| crate::observations::obs(&format!("c{}", i % 200), None, i, i as f64)).collect()
}

/// The child's half of [`an_acknowledged_sqlite_write_survives_a_crash`]: write, say so, abort.
pub async fn crash_child(path: &str) {
    let store = polis_store::open_sqlite(std::path::Path::new(path)).await.expect("open");
    let cams = many_cameras("crash", 1_000);
    store.insert_cameras(&cams, &[audit("import", "camera", "*", None, 1)]).await.expect("write");
    // Enough readings to fold the intake log into the series once, and leave some in the log.
    for batch in crash_observations().chunks(10_000) {
        store.insert_observations(batch).await.expect("write observations");
    }
    println!("ACKNOWLEDGED");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    // No destructors, no pool shutdown, no checkpoint: as if the process were killed.
    std::process::abort();
}

/// A process that dies right after `insert_cameras` returned has its write on disk.
pub async fn an_acknowledged_sqlite_write_survives_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.db");
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_ENV, &path)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ACKNOWLEDGED"), "child did not write: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the child must have died");

    let store = polis_store::open_sqlite(&path).await.expect("reopen after the crash");
    assert_eq!(store.list_cameras().await.expect("list"), many_cameras("crash", 1_000));
    let all = crash_observations();
    for sensor in ["c0", "c7"] {
        let back = store.observations(&id(sensor), None, at_ms(0), at_ms(T0 + 1_000_000), 1_000).await.expect("read");
        let sent: Vec<_> = all.iter().filter(|o| o.sensor().as_str() == sensor).cloned().collect();
        assert_eq!(back, sent, "every acknowledged reading of {sensor}");
    }
    assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 1);
}

pub async fn sqlite_memory_stores_are_private_and_work(_db: Fresh) {
    let a = polis_store::open("sqlite::memory:").await.expect("memory a");
    let b = polis_store::open("sqlite::memory:").await.expect("memory b");
    assert_eq!(a.backend(), "sqlite");
    a.insert_cameras(&[camera("c1")], &[]).await.expect("insert");
    assert_eq!(a.list_cameras().await.expect("list"), vec![camera("c1")]);
    assert!(b.list_cameras().await.expect("list").is_empty());
    // A failing batch on the single connection must not deadlock looking up the taken id.
    let e = a.insert_cameras(&[camera("c2"), camera("c1")], &[]).await.unwrap_err();
    assert_eq!(e.details[0].row, Some(1));
}

pub async fn a_sqlite_url_creates_the_file(db: Fresh) {
    let path = db.url.trim_start_matches("sqlite://").to_string();
    assert!(!std::path::Path::new(&path).exists());
    let store = db.open().await;
    assert_eq!(store.backend(), "sqlite");
    assert!(std::path::Path::new(&path).exists());
    let other = format!("sqlite:{path}");
    polis_store::open(&other).await.expect("the sqlite:PATH form opens the same file");
}

pub async fn an_unreachable_postgres_is_unavailable_and_the_password_stays_secret() {
    let url = "postgres://polis:Sup3r-Secret-pw@127.0.0.1:1/polis";
    let e = polis_store::open(url).await.err().expect("nothing listens on port 1");
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e:?}");
    let mut text = format!("{e} {e:?}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    assert!(!text.contains("Sup3r-Secret-pw"), "{text}");
    assert!(e.message.contains("127.0.0.1:1/polis"), "says where: {}", e.message);
}
