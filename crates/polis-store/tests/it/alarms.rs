//! Alarms: round trips of every field, updates, listing and filters, and the guarantee that the
//! database keeps at most one open alarm per rule and source, under concurrent writers too.

use crate::fixtures::*;
use polis_base::ErrorKind;
use polis_domain::{Alarm, AlarmState, Severity, Signal, SignalKind};
use polis_store::DynStore;

fn signal(rule: &str, source: &str, ms: i64) -> Signal {
    Signal {
        rule: id(rule),
        rule_version: 3,
        source: id(source),
        kind: SignalKind::Raise,
        value: Some(f64::from_bits(412.7f64.to_bits() + 1)),
        time: at_ms(T0 + ms),
        severity: Severity::Critical,
        message: "ниво 412.7 cm над 400 cm".into(),
        position: None,
    }
}

/// A new alarm, active and unacknowledged, seen at `T0 + ms`.
pub fn alarm(code: &str, rule: &str, source: &str, ms: i64) -> Alarm {
    Alarm::open(id(code), id("kazanlak"), &signal(rule, source, ms), Some(ll(42.605_555_555_555_55, 25.412_345_678_9)))
        .expect("open")
}

/// An alarm brought to cleared and acknowledged (closed) by legal steps.
fn closed(mut a: Alarm) -> Alarm {
    let t = a.last_seen;
    a.clear_auto(t + time::Duration::minutes(1)).expect("clear");
    if !a.state.is_acknowledged() {
        a.acknowledge("ivana", t + time::Duration::minutes(2)).expect("ack");
    }
    assert_eq!(a.state, AlarmState::ClearedAcknowledged);
    a
}

pub async fn alarms_round_trip_update_and_list(store: DynStore) {
    // Every field set: acknowledged, cleared by hand, comments in Cyrillic, no value.
    let mut full = alarm("a-full", "r-1", "gauge-1", 0);
    full.repeat(Some(415.0), at_ms(T0 + 60_000)).expect("repeat");
    full.comment("ivana (supervisor)", "Екипът е на място — \"проверка\"", at_ms(T0 + 61_001)).expect("comment");
    full.comment("georgi", "second note", at_ms(T0 + 61_002)).expect("comment");
    full.clear_by_hand("ivana (supervisor)", "sensor being serviced", at_ms(T0 + 62_003)).expect("clear");
    full.value = None;
    // Every optional field empty.
    let mut bare = alarm("a-bare", "r-2", "gauge-2", 120_000);
    bare.location = None;
    bare.value = None;
    store.put_alarm(&full, Some(&audit("clear", "alarm", "a-full", Some("kazanlak"), 1))).await.expect("put full");
    store.put_alarm(&bare, None).await.expect("put bare");
    assert_eq!(store.list_alarms(None, false, 10).await.expect("list"), vec![bare.clone(), full.clone()]);
    assert_eq!(store.alarm(&full.id).await.expect("get").as_ref(), Some(&full), "read back by id");
    assert_eq!(store.alarm(&crate::fixtures::id("a-missing")).await.expect("get"), None);
    assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 1, "the audit record went with it");

    // An update replaces every field.
    let mut updated = bare.clone();
    updated.repeat(Some(1e-9), at_ms(T0 + 180_000)).expect("repeat");
    updated.acknowledge("georgi", at_ms(T0 + 181_000)).expect("ack");
    updated.severity = Severity::Warning;
    store.put_alarm(&updated, None).await.expect("update");
    let listed = store.list_alarms(None, false, 10).await.expect("list");
    assert_eq!(listed, vec![updated.clone(), full.clone()]);
    assert_eq!(listed[0].count, 2);
    assert_eq!(listed[0].state, AlarmState::ActiveAcknowledged);
}

pub async fn alarms_list_newest_first_with_filters(store: DynStore) {
    let a1 = alarm("a1", "r", "s1", 1_000);
    let a2 = closed(alarm("a2", "r", "s2", 3_000));
    let mut a3 = alarm("a3", "r", "s3", 2_000);
    a3.municipality = id("stara-zagora");
    let a4 = alarm("a4", "r", "s4", 2_000);
    for a in [&a1, &a2, &a3, &a4] {
        store.put_alarm(a, None).await.expect("put");
    }
    let ids = |v: Vec<Alarm>| v.into_iter().map(|a| a.id.to_string()).collect::<Vec<_>>();
    // a2 was last seen at 3,000 ms (clearing does not move last_seen); a3 and a4 tie, by id.
    assert_eq!(ids(store.list_alarms(None, false, 10).await.expect("all")), ["a2", "a3", "a4", "a1"]);
    assert_eq!(ids(store.list_alarms(None, false, 2).await.expect("limit")), ["a2", "a3"]);
    assert_eq!(ids(store.list_alarms(None, true, 10).await.expect("open")), ["a3", "a4", "a1"]);
    let kz = id("kazanlak");
    assert_eq!(ids(store.list_alarms(Some(&kz), false, 10).await.expect("kz")), ["a2", "a4", "a1"]);
    assert_eq!(ids(store.list_alarms(Some(&kz), true, 1).await.expect("kz open")), ["a4"]);
    assert!(store.list_alarms(Some(&id("nowhere")), false, 10).await.expect("none").is_empty());
    assert_eq!(ids(store.open_alarms().await.expect("open")), ["a3", "a4", "a1"]);
}

/// The issue's guarantee: exactly one open alarm per source and rule, even when two intake
/// tasks raise the same alarm at once.
pub async fn one_open_alarm_per_rule_and_source_even_under_concurrency(store: DynStore) {
    for round in 0..10 {
        let source = format!("gauge-{round}");
        let mut tasks = Vec::new();
        for task in 0..2 {
            let (store, source) = (store.clone(), source.clone());
            tasks.push(tokio::spawn(async move {
                let a = alarm(&format!("a-{round}-{task}"), "r-flood", &source, round);
                let audit = audit("raise", "alarm", a.id.as_str(), Some("kazanlak"), round);
                store.put_alarm(&a, Some(&audit)).await.map(|()| a)
            }));
        }
        let mut won = Vec::new();
        for t in tasks {
            match t.await.expect("task") {
                Ok(a) => won.push(a),
                Err(e) => {
                    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e:?}");
                    assert!(e.message.contains(&source), "{}", e.message);
                }
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one of the two is stored");
    }
    let open = store.open_alarms().await.expect("open");
    assert_eq!(open.len(), 10);
    assert_eq!(store.list_audit(None, 100).await.expect("audit").len(), 10, "no audit record for a refusal");

    // The same key with another rule, or another source, is another alarm.
    let winner = open.iter().find(|a| a.source.as_str() == "gauge-0").cloned().expect("gauge-0");
    store.put_alarm(&alarm("other-rule", "r-silence", "gauge-0", 0), None).await.expect("another rule");

    // Updating the open one is fine; a second open one is not, in any open state.
    let mut acked = winner.clone();
    acked.acknowledge("ivana", at_ms(T0 + 5)).expect("ack");
    store.put_alarm(&acked, None).await.expect("update the open alarm");
    let mut second = alarm("second", "r-flood", "gauge-0", 10);
    second.clear_auto(at_ms(T0 + 11)).expect("cleared, not acknowledged: still open");
    let e = store.put_alarm(&second, None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);

    // Once the open alarm is closed, a new one for the same key is accepted, and the closed one
    // stays in the history.
    store.put_alarm(&closed(acked), None).await.expect("close");
    store.put_alarm(&second, None).await.expect("a new open alarm after the close");
    let e = store.put_alarm(&alarm("third", "r-flood", "gauge-0", 20), None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    // Re-opening the closed one while the new one is open is refused too.
    let e = store.put_alarm(&winner, None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    let flood0 = |v: Vec<Alarm>| {
        v.into_iter().filter(|a| a.rule.as_str() == "r-flood" && a.source.as_str() == "gauge-0").count()
    };
    assert_eq!(flood0(store.open_alarms().await.expect("open")), 1);
    assert_eq!(flood0(store.list_alarms(None, false, 100).await.expect("all")), 2);
}

/// Many writers racing for one key: still exactly one.
pub async fn many_racing_writers_open_one_alarm(store: DynStore) {
    let mut tasks = Vec::new();
    for task in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(
            async move { store.put_alarm(&alarm(&format!("a-{task}"), "r", "s", task), None).await },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(()) => ok += 1,
            Err(e) => assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(store.open_alarms().await.expect("open").len(), 1);
}

/// Issue 17: the coalesced repeats of an alarm storm are written in one transaction; a batch
/// with one alarm the database refuses (a second open alarm for a key) writes none of them.
pub async fn several_alarms_are_written_together_or_not_at_all(store: DynStore) {
    let mut a = alarm("s-a", "r", "g-a", 0);
    let b = alarm("s-b", "r", "g-b", 0);
    store.put_alarms(&[a.clone(), b.clone()]).await.expect("put two");
    assert_eq!(store.open_alarms().await.expect("open").len(), 2);
    store.put_alarms(&[]).await.expect("nothing to write");
    a.repeat(Some(500.0), at_ms(T0 + 1_000)).expect("repeat");
    a.repeat(Some(501.0), at_ms(T0 + 2_000)).expect("repeat");
    let clash = alarm("s-clash", "r", "g-b", 5);
    let e = store.put_alarms(&[a.clone(), clash]).await.expect_err("a second open alarm for g-b");
    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e:?}");
    assert_eq!(store.alarm(&a.id).await.expect("get").map(|x| x.count), Some(1), "nothing of the batch was written");
    store.put_alarms(&[a.clone()]).await.expect("put the repeats");
    let back = store.alarm(&a.id).await.expect("get").expect("there");
    assert_eq!((back.count, back.value), (3, Some(501.0)));
    assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 0, "the server's own writes are not audited");
}
