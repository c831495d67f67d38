//! Rules after a crash: readings can be stored (and acknowledged) and the process killed before
//! the rules engine evaluated them, so at start the open alarms may disagree with the stored
//! data (an alarm still active although the last stored value is back below its level, or none
//! raised although it is above). At start, [`App::settle_alarms`] (in `intake`) feeds the
//! engine the stored readings each rule needs (the newest of each sensor and quantity, and
//! before it the window a duration, rate-of-change or geofence rule looks at), and applies the
//! last raise or clear of each (rule, sensor) that the alarms do not show yet, through the same
//! path as live intake.
//!
//! Only what is newer than what the alarm already saw is applied: a raise of a reading the
//! alarm has counted, or one before an operator cleared the alarm by hand, is not repeated, and
//! a silence alarm raised after the sensor's last reading stays.

use polis_domain::{Alarm, AlarmKey, Condition, Engine, Id, Observation, Rule, Sensor, Signal, SignalKind};
use std::collections::{BTreeMap, HashMap};
use time::Duration;

/// How far before a sensor's newest reading a rule looks: `None` when the newest is enough.
pub(crate) fn lookback(rule: &Rule) -> Option<Duration> {
    match &rule.condition {
        Condition::Threshold { .. } | Condition::Silence { .. } => None,
        Condition::Duration { minutes, .. } => Some(Duration::minutes(i64::from(*minutes))),
        Condition::RateOfChange { window_minutes, .. } => Some(Duration::minutes(2 * i64::from(*window_minutes))),
        // The crossing needs the position before the newest one.
        Condition::Geofence { .. } => Some(Duration::hours(1)),
    }
}

/// For each (sensor, quantity) newest reading: how far back the enabled rules that watch it
/// look (`Some(None)`: the newest is enough), or `None` when no rule watches it.
pub(crate) fn lookbacks<'a>(
    rules: &[Rule],
    sensors: &HashMap<Id, Sensor>,
    latest: &'a [Observation],
) -> Vec<(&'a Observation, Option<Duration>)> {
    let mut out = Vec::new();
    for o in latest {
        let Some(sensor) = sensors.get(o.sensor()) else { continue };
        let watching: Vec<&Rule> = rules
            .iter()
            .filter(|r| r.enabled && r.quantity.as_deref() == o.quantity() && r.applies_to(sensor))
            .collect();
        if watching.is_empty() {
            continue;
        }
        out.push((o, watching.iter().copied().filter_map(lookback).max()));
    }
    out
}

/// Feeds `readings` (each sensor's in time order) to the engine, which already holds the rules
/// and the open alarms' active states, and returns the signals that bring the alarms in line
/// with the data: per (rule, source), the last raise or clear, if the alarm does not show it
/// and it is newer than what the alarm saw. `alarms` are the open ones; `closed` the newest
/// closed one per key.
pub(crate) fn replay(
    engine: &mut Engine,
    sensors: &HashMap<Id, Sensor>,
    readings: &[Observation],
    alarms: &HashMap<AlarmKey, Alarm>,
    closed: &HashMap<AlarmKey, Alarm>,
) -> Vec<Signal> {
    let mut last: BTreeMap<AlarmKey, Signal> = BTreeMap::new();
    for o in readings {
        let Some(sensor) = sensors.get(o.sensor()) else { continue };
        for signal in engine.on_observation(sensor, o) {
            if signal.kind != SignalKind::Repeat {
                last.insert(AlarmKey::of(&signal), signal);
            }
        }
    }
    let mut out: Vec<Signal> = last
        .into_iter()
        .filter(|(key, signal)| {
            let open = alarms.get(key);
            let seen = open.or_else(|| closed.get(key)).map(|a| {
                [Some(a.last_seen), a.cleared_at, a.acknowledged_at].into_iter().flatten().max().unwrap_or(a.last_seen)
            });
            if seen.is_some_and(|t| signal.time <= t) {
                return false;
            }
            let active = open.is_some_and(Alarm::is_active);
            match signal.kind {
                SignalKind::Raise => !active,
                SignalKind::Clear => active,
                SignalKind::Repeat => false,
            }
        })
        .map(|(_, s)| s)
        .collect();
    out.sort_by_key(|s| s.time);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_domain::{LatLon, RuleScope, SensorKind, Severity};
    use time::OffsetDateTime;

    fn gauge() -> Sensor {
        Sensor {
            id: Id::from_trusted("gauge"),
            municipality: Id::from_trusted("m"),
            name: "gauge".into(),
            name_en: String::new(),
            kind: SensorKind::WaterLevel,
            unit: "cm".into(),
            position: LatLon::new(42.6, 25.4).expect("position"),
            owner: None,
            demo: false,
        }
    }

    fn rule() -> Rule {
        Rule {
            id: Id::from_trusted("high"),
            municipality: Id::from_trusted("m"),
            name: "High".into(),
            version: 1,
            enabled: true,
            scope: RuleScope::Sensor(Id::from_trusted("gauge")),
            quantity: None,
            condition: Condition::Threshold { above: Some(100.0), below: None, hysteresis: 0.0 },
            severity: Severity::Major,
        }
    }

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(s)
    }

    fn reading(s: i64, v: f64) -> Observation {
        Observation::stored(Id::from_trusted("gauge"), at(s), None, v, None).expect("reading")
    }

    /// The engine and alarms as `Live::load` leaves them: the open alarm raised at `raised`.
    fn start(raised: Option<i64>) -> (Engine, HashMap<AlarmKey, Alarm>) {
        let mut engine = Engine::new();
        engine.set_rule(rule(), at(0)).expect("rule");
        let mut alarms = HashMap::new();
        if let Some(t) = raised {
            let mut e = Engine::new();
            e.set_rule(rule(), at(0)).expect("rule");
            let signal = e.on_observation(&gauge(), &reading(t, 150.0)).remove(0);
            let alarm = Alarm::open(Id::from_trusted("a1"), Id::from_trusted("m"), &signal, None).expect("alarm");
            engine.restore_active(&alarm.rule, &alarm.source);
            alarms.insert(alarm.key(), alarm);
        }
        (engine, alarms)
    }

    fn sensors() -> HashMap<Id, Sensor> {
        HashMap::from([(Id::from_trusted("gauge"), gauge())])
    }

    #[test]
    fn a_reading_below_the_level_stored_after_the_raise_clears_the_alarm() {
        let (mut engine, alarms) = start(Some(10));
        let out = replay(&mut engine, &sensors(), &[reading(20, 40.0)], &alarms, &HashMap::new());
        assert_eq!(out.iter().map(|s| s.kind).collect::<Vec<_>>(), vec![SignalKind::Clear]);
    }

    #[test]
    fn a_reading_above_the_level_with_no_alarm_raises_one_and_an_agreeing_state_changes_nothing() {
        let (mut engine, alarms) = start(None);
        let out = replay(&mut engine, &sensors(), &[reading(20, 140.0)], &alarms, &HashMap::new());
        assert_eq!(out.iter().map(|s| s.kind).collect::<Vec<_>>(), vec![SignalKind::Raise]);
        // Active alarm, reading still above: nothing to do (no repeat counted twice).
        let (mut engine, alarms) = start(Some(10));
        assert!(replay(&mut engine, &sensors(), &[reading(20, 140.0)], &alarms, &HashMap::new()).is_empty());
        // No alarm, reading below: nothing.
        let (mut engine, alarms) = start(None);
        assert!(replay(&mut engine, &sensors(), &[reading(20, 40.0)], &alarms, &HashMap::new()).is_empty());
    }

    #[test]
    fn what_the_alarm_already_saw_is_not_applied_again() {
        // The raising reading itself is the newest stored: the alarm has it.
        let (mut engine, _) = start(None);
        let (_, alarms) = start(Some(20));
        let closed: HashMap<AlarmKey, Alarm> = alarms
            .into_iter()
            .map(|(k, mut a)| {
                a.cleared_at = Some(at(30));
                (k, a)
            })
            .collect();
        // Closed by hand at 30 while the level held: the reading at 20 raises nothing new.
        let out = replay(&mut engine, &sensors(), &[reading(20, 150.0)], &HashMap::new(), &closed);
        assert!(out.is_empty(), "{out:?}");
        // A reading after the hand clear does.
        let (mut engine, _) = start(None);
        let out = replay(&mut engine, &sensors(), &[reading(40, 150.0)], &HashMap::new(), &closed);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn only_windowed_rules_look_back() {
        let mut r = rule();
        assert_eq!(lookback(&r), None);
        r.condition = Condition::Duration { above: Some(1.0), below: None, hysteresis: 0.0, minutes: 15 };
        assert_eq!(lookback(&r), Some(Duration::minutes(15)));
        r.condition = Condition::RateOfChange { max_per_minute: 1.0, window_minutes: 10 };
        assert_eq!(lookback(&r), Some(Duration::minutes(20)));
        let latest = vec![reading(5, 1.0)];
        let l = lookbacks(&[r.clone()], &sensors(), &latest);
        assert_eq!(l.len(), 1);
        r.enabled = false;
        assert!(lookbacks(&[r], &sensors(), &latest).is_empty());
    }
}
