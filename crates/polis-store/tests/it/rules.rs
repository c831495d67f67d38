//! Rules: every kind of condition and scope round-trips; put replaces; every version is kept,
//! also after a delete; a saved version never changes.

use crate::fixtures::*;
use polis_base::ErrorKind;
use polis_domain::{Condition, GeofenceTrigger, Rule, RuleScope, SensorKind, Severity};
use polis_store::DynStore;

/// A zone with corners whose decimal forms are long.
fn zone() -> Vec<polis_domain::LatLon> {
    vec![
        ll(42.600_000_000_000_01, 25.300_000_000_000_01),
        ll(42.610_123_456_789, 25.300_000_000_000_01),
        ll(42.610_123_456_789, f64::from_bits(25.393f64.to_bits() + 1)),
        ll(42.600_000_000_000_01, 25.330_000_000_000_002),
    ]
}

/// A threshold rule on one sensor.
pub fn rule(code: &str, version: u32) -> Rule {
    Rule {
        id: id(code),
        municipality: id("kazanlak"),
        name: format!("Тунджа над предупредителното ниво ({code})"),
        version,
        enabled: true,
        scope: RuleScope::Sensor(id("gauge-tundzha")),
        quantity: None,
        condition: Condition::Threshold { above: Some(400.000_000_000_000_06), below: None, hysteresis: 0.1 },
        severity: Severity::Major,
    }
}

/// One rule of every condition kind and scope form.
fn every_kind() -> Vec<Rule> {
    let base = rule("r", 1);
    let r = |code: &str, scope: RuleScope, quantity: Option<&str>, condition: Condition, severity: Severity| Rule {
        id: id(code),
        scope,
        quantity: quantity.map(String::from),
        condition,
        severity,
        enabled: code != "r-5",
        ..base.clone()
    };
    let water = RuleScope::Kind { kind: SensorKind::WaterLevel, zone: None };
    vec![
        r(
            "r-1",
            RuleScope::Sensor(id("aq-1")),
            Some("pm25"),
            Condition::Threshold { above: None, below: Some(-0.0), hysteresis: 0.0 },
            Severity::Warning,
        ),
        r(
            "r-2",
            RuleScope::Kind { kind: SensorKind::WaterLevel, zone: Some(zone()) },
            None,
            Condition::Duration { above: Some(1e-7), below: None, hysteresis: 2.5, minutes: 5 },
            Severity::Critical,
        ),
        r(
            "r-3",
            water.clone(),
            None,
            Condition::RateOfChange { max_per_minute: 0.333_333_333_333_333_3, window_minutes: 10 },
            Severity::Minor,
        ),
        r("r-4", water, None, Condition::Silence { minutes: 7 * 24 * 60 }, Severity::Major),
        r(
            "r-5",
            RuleScope::Kind { kind: SensorKind::Other, zone: None },
            Some("wind.speed"),
            Condition::Geofence { zone: zone(), trigger: GeofenceTrigger::Leave },
            Severity::Critical,
        ),
    ]
}

pub async fn every_kind_of_rule_round_trips(store: DynStore) {
    let rules = every_kind();
    for (i, r) in rules.iter().enumerate().rev() {
        store.put_rule(r, &audit("create", "rule", r.id.as_str(), Some("kazanlak"), i as i64)).await.expect("put");
    }
    assert_eq!(store.list_rules().await.expect("list"), rules, "exact, ordered by id");
    for r in &rules {
        assert_eq!(store.rule_version(&r.id, 1).await.expect("version").as_ref(), Some(r));
    }
}

pub async fn rules_put_replace_list_and_delete_keeping_every_version(store: DynStore) {
    let v1 = rule("r-1", 1);
    store.put_rule(&v1, &audit("create", "rule", "r-1", Some("kazanlak"), 1)).await.expect("v1");
    store.put_rule(&rule("r-0", 1), &audit("create", "rule", "r-0", Some("kazanlak"), 2)).await.expect("r-0");
    let mut v2 = rule("r-1", 2);
    v2.condition = Condition::Threshold { above: Some(450.0), below: None, hysteresis: 5.0 };
    v2.enabled = false;
    store.put_rule(&v2, &audit("update", "rule", "r-1", Some("kazanlak"), 3)).await.expect("v2");

    assert_eq!(store.list_rules().await.expect("list"), vec![rule("r-0", 1), v2.clone()], "current versions");
    assert_eq!(store.rule_version(&id("r-1"), 1).await.expect("v1"), Some(v1.clone()));
    assert_eq!(store.rule_version(&id("r-1"), 2).await.expect("v2"), Some(v2.clone()));
    assert_eq!(store.rule_version(&id("r-1"), 3).await.expect("v3"), None);

    store.delete_rule(&id("r-1"), &audit("delete", "rule", "r-1", Some("kazanlak"), 4)).await.expect("delete");
    assert_eq!(store.list_rules().await.expect("list"), vec![rule("r-0", 1)]);
    assert_eq!(store.rule_version(&id("r-1"), 1).await.expect("v1"), Some(v1), "kept after the delete");
    assert_eq!(store.rule_version(&id("r-1"), 2).await.expect("v2"), Some(v2));

    let e = store.delete_rule(&id("r-1"), &audit("delete", "rule", "r-1", None, 5)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    // Re-created under the same id, it carries on from its last version.
    store.put_rule(&rule("r-1", 3), &audit("create", "rule", "r-1", None, 6)).await.expect("v3");
    assert_eq!(store.list_rules().await.expect("list"), vec![rule("r-0", 1), rule("r-1", 3)]);
    assert_eq!(store.list_audit(None, 100).await.expect("audit").len(), 5, "every change audited, not the refusal");
}

pub async fn a_saved_rule_version_never_changes(store: DynStore) {
    store.put_rule(&rule("r", 1), &audit("create", "rule", "r", None, 1)).await.expect("v1");
    store.put_rule(&rule("r", 3), &audit("update", "rule", "r", None, 2)).await.expect("v3");

    // Older than the current version.
    let e = store.put_rule(&rule("r", 2), &audit("update", "rule", "r", None, 3)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition, "{e:?}");
    assert!(e.message.contains("version 3"), "{}", e.message);

    // The current version again with other contents: two editors who both saved version 3.
    let mut other = rule("r", 3);
    other.name = "someone else's edit".into();
    let e = store.put_rule(&other, &audit("update", "rule", "r", None, 4)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e:?}");
    assert_eq!(e.details[0].field, "version");

    // The same version with the same contents: a retry, accepted.
    store.put_rule(&rule("r", 3), &audit("update", "rule", "r", None, 5)).await.expect("retry");
    assert_eq!(store.list_rules().await.expect("list"), vec![rule("r", 3)]);
    assert_eq!(store.rule_version(&id("r"), 3).await.expect("v3"), Some(rule("r", 3)));
    assert_eq!(store.list_audit(None, 100).await.expect("audit").len(), 3, "refused saves audit nothing");

    // A rule that would not read back is refused before it is written.
    let mut bad = rule("bad", 1);
    bad.condition = Condition::Threshold { above: Some(1.0), below: Some(2.0), hysteresis: -1.0 };
    let e = store.put_rule(&bad, &audit("create", "rule", "bad", None, 6)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.details.iter().any(|d| d.field == "condition.hysteresis"), "{e:?}");
    assert_eq!(store.rule_version(&id("bad"), 1).await.expect("lookup"), None);
}

/// Two editors save the same next version at the same time: one wins, the other is told.
pub async fn concurrent_saves_of_one_version_keep_one(store: DynStore) {
    store.put_rule(&rule("r", 1), &audit("create", "rule", "r", None, 1)).await.expect("v1");
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = rule("r", 2);
            r.name = format!("edit {i}");
            store.put_rule(&r, &audit("update", "rule", "r", None, 2 + i)).await.map(|()| r)
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            Ok(r) => won.push(r),
            Err(e) => assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e:?}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one edit is version 2");
    assert_eq!(store.list_rules().await.expect("list"), won);
    assert_eq!(store.rule_version(&id("r"), 2).await.expect("v2").as_ref(), won.first());
}
