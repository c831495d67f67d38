//! The alarm lifecycle as a pure state machine.
//!
//! An alarm is opened by a rule's [`Signal`] for one source and moves through four states
//! (after ISA-18.2): active and unacknowledged, active and acknowledged, cleared and
//! unacknowledged, cleared and acknowledged. Only the last is closed; until then the alarm is
//! *open*, and a new raise of the same rule for the same source goes to it instead of opening a
//! second one. Keeping exactly one open alarm per [`AlarmKey`] (under concurrent intake) is the
//! caller's job; every step here checks that it is legal in the current state.

use crate::registry::string_enum;
use crate::rules::{Severity, Signal, SignalKind};
use crate::values::{Id, LatLon};
use polis_base::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

/// The longest reason or comment, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// The longest name of who acted, in characters.
pub const MAX_BY_CHARS: usize = 200;

string_enum!(
    /// Where an alarm is in its lifecycle.
    AlarmState {
        ActiveUnacknowledged = "active_unacknowledged",
        ActiveAcknowledged = "active_acknowledged",
        ClearedUnacknowledged = "cleared_unacknowledged",
        ClearedAcknowledged = "cleared_acknowledged",
    }
);

impl AlarmState {
    /// Whether the condition still holds.
    pub fn is_active(self) -> bool {
        matches!(self, AlarmState::ActiveUnacknowledged | AlarmState::ActiveAcknowledged)
    }

    /// Whether an operator has acknowledged it.
    pub fn is_acknowledged(self) -> bool {
        matches!(self, AlarmState::ActiveAcknowledged | AlarmState::ClearedAcknowledged)
    }

    /// Open: anything but cleared and acknowledged.
    pub fn is_open(self) -> bool {
        self != AlarmState::ClearedAcknowledged
    }
}

/// What identifies "the same alarm": the rule and the source. At most one open alarm per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AlarmKey {
    pub rule: Id,
    pub source: Id,
}

impl AlarmKey {
    pub fn of(signal: &Signal) -> AlarmKey {
        AlarmKey { rule: signal.rule.clone(), source: signal.source.clone() }
    }
}

impl fmt::Display for AlarmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {} on {}", self.rule, self.source)
    }
}

/// A note an operator added to an alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmComment {
    pub at: OffsetDateTime,
    pub by: String,
    pub text: String,
}

/// An alarm raised by a rule for one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub id: Id,
    pub municipality: Id,
    pub rule: Id,
    /// The version of the rule that raised it.
    pub rule_version: u32,
    /// The sensor.
    pub source: Id,
    pub severity: Severity,
    pub state: AlarmState,
    /// The message of the raise.
    pub message: String,
    pub first_seen: OffsetDateTime,
    /// The newest time the condition was seen to hold.
    pub last_seen: OffsetDateTime,
    /// How many times the condition was seen: 1 at the raise, one more per repeat.
    pub count: u32,
    /// The newest value seen.
    pub value: Option<f64>,
    pub location: Option<LatLon>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<OffsetDateTime>,
    pub cleared_at: Option<OffsetDateTime>,
    /// Who cleared it by hand; `None` when it cleared by itself (or has not cleared).
    pub cleared_by: Option<String>,
    /// Why it was cleared by hand.
    pub clear_reason: Option<String>,
    pub comments: Vec<AlarmComment>,
}

fn check_text(field: &str, s: &str, max: usize) -> Result<String> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(Error::invalid(field, format!("must be 1 to {max} characters")));
    }
    Ok(t.to_string())
}

impl Alarm {
    /// Opens an alarm from a rule's signal, active and unacknowledged, seen once. `location`
    /// is where the source is (the device's reported position, or the sensor's). A `Clear`
    /// signal opens nothing (`FailedPrecondition`); a `Repeat` may open one when none is open
    /// (an alarm closed by hand while its condition holds).
    pub fn open(id: Id, municipality: Id, signal: &Signal, location: Option<LatLon>) -> Result<Alarm> {
        if signal.kind == SignalKind::Clear {
            return Err(Error::failed_precondition(format!(
                "a clear signal of rule {} for {} opens no alarm",
                signal.rule, signal.source
            )));
        }
        Ok(Alarm {
            id,
            municipality,
            rule: signal.rule.clone(),
            rule_version: signal.rule_version,
            source: signal.source.clone(),
            severity: signal.severity,
            state: AlarmState::ActiveUnacknowledged,
            message: signal.message.clone(),
            first_seen: signal.time,
            last_seen: signal.time,
            count: 1,
            value: signal.value,
            location,
            acknowledged_by: None,
            acknowledged_at: None,
            cleared_at: None,
            cleared_by: None,
            clear_reason: None,
            comments: Vec::new(),
        })
    }

    pub fn key(&self) -> AlarmKey {
        AlarmKey { rule: self.rule.clone(), source: self.source.clone() }
    }

    /// Open: not yet both cleared and acknowledged.
    pub fn is_open(&self) -> bool {
        self.state.is_open()
    }

    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    fn seen(&mut self, value: Option<f64>, at: OffsetDateTime) {
        self.count = self.count.saturating_add(1);
        if at >= self.last_seen {
            self.last_seen = at;
            self.value = value;
        }
    }

    /// The condition was seen again: one more in the count, the newest value kept (a late
    /// repeat counts but changes neither `last_seen` nor `value`). Only while active.
    pub fn repeat(&mut self, value: Option<f64>, at: OffsetDateTime) -> Result<()> {
        if !self.is_active() {
            return Err(Error::failed_precondition(format!("alarm {} is cleared; it cannot repeat", self.id)));
        }
        self.seen(value, at);
        Ok(())
    }

    /// The rule raised again for this key. While active, a repeat. Cleared but not yet
    /// acknowledged, the alarm returns to active and unacknowledged, its clearing forgotten.
    /// Closed, it refuses (`FailedPrecondition`): open a new alarm.
    pub fn raise_again(&mut self, value: Option<f64>, at: OffsetDateTime) -> Result<()> {
        match self.state {
            AlarmState::ActiveUnacknowledged | AlarmState::ActiveAcknowledged => {}
            AlarmState::ClearedUnacknowledged => {
                self.state = AlarmState::ActiveUnacknowledged;
                self.cleared_at = None;
                self.cleared_by = None;
                self.clear_reason = None;
            }
            AlarmState::ClearedAcknowledged => {
                return Err(Error::failed_precondition(format!("alarm {} is closed; open a new one", self.id)));
            }
        }
        self.seen(value, at);
        Ok(())
    }

    /// The condition ended by itself. Only while active; an acknowledged alarm closes.
    pub fn clear_auto(&mut self, at: OffsetDateTime) -> Result<()> {
        self.state = match self.state {
            AlarmState::ActiveUnacknowledged => AlarmState::ClearedUnacknowledged,
            AlarmState::ActiveAcknowledged => AlarmState::ClearedAcknowledged,
            AlarmState::ClearedUnacknowledged | AlarmState::ClearedAcknowledged => {
                return Err(Error::failed_precondition(format!("alarm {} is already cleared", self.id)));
            }
        };
        self.cleared_at = Some(at);
        self.cleared_by = None;
        self.clear_reason = None;
        Ok(())
    }

    /// An operator clears an active alarm, with a reason (required: `InvalidArgument` naming
    /// `reason`). Clearing by hand also acknowledges, so the alarm closes. A cleared alarm
    /// refuses (`FailedPrecondition`): acknowledge it instead.
    pub fn clear_by_hand(&mut self, by: &str, reason: &str, at: OffsetDateTime) -> Result<()> {
        let by = check_text("by", by, MAX_BY_CHARS)?;
        let reason = check_text("reason", reason, MAX_TEXT_CHARS)?;
        if !self.is_active() {
            return Err(Error::failed_precondition(format!(
                "alarm {} is already cleared; acknowledge it instead",
                self.id
            )));
        }
        if self.acknowledged_by.is_none() {
            self.acknowledged_by = Some(by.clone());
            self.acknowledged_at = Some(at);
        }
        self.state = AlarmState::ClearedAcknowledged;
        self.cleared_at = Some(at);
        self.cleared_by = Some(by);
        self.clear_reason = Some(reason);
        Ok(())
    }

    /// An operator acknowledges the alarm, active or cleared. Twice is refused
    /// (`FailedPrecondition`).
    pub fn acknowledge(&mut self, by: &str, at: OffsetDateTime) -> Result<()> {
        let by = check_text("by", by, MAX_BY_CHARS)?;
        self.state = match self.state {
            AlarmState::ActiveUnacknowledged => AlarmState::ActiveAcknowledged,
            AlarmState::ClearedUnacknowledged => AlarmState::ClearedAcknowledged,
            AlarmState::ActiveAcknowledged | AlarmState::ClearedAcknowledged => {
                let who = self.acknowledged_by.as_deref().unwrap_or("someone");
                return Err(Error::failed_precondition(format!("alarm {} was already acknowledged by {who}", self.id)));
            }
        };
        self.acknowledged_by = Some(by);
        self.acknowledged_at = Some(at);
        Ok(())
    }

    /// Adds a note, in any state (a closed alarm may still be annotated). The text is required
    /// (`InvalidArgument` naming `text`).
    pub fn comment(&mut self, by: &str, text: &str, at: OffsetDateTime) -> Result<()> {
        let by = check_text("by", by, MAX_BY_CHARS)?;
        let text = check_text("text", text, MAX_TEXT_CHARS)?;
        self.comments.push(AlarmComment { at, by, text });
        Ok(())
    }

    /// Takes in what another copy of this same alarm knows (another node of a region wrote and
    /// announced it): the larger count and the newest sighting, every comment once, an
    /// acknowledgement wherever it was made, a clear by hand at any time, a clear by itself only
    /// if later than the newest sighting known here, and a raise again only if later than the
    /// clear known here (and not after a clear by hand: the alarm is closed). The merge is
    /// idempotent and order-free for human actions, so copies converge whatever order the
    /// announcements arrive in. Another alarm's copy (another id) changes nothing. Returns
    /// whether this copy changed.
    pub fn merge(&mut self, other: &Alarm) -> bool {
        if other.id != self.id {
            return false;
        }
        let before = self.clone();
        if other.last_seen > self.last_seen {
            self.last_seen = other.last_seen;
            self.value = other.value;
        }
        self.count = self.count.max(other.count);
        for c in &other.comments {
            if !self.comments.contains(c) {
                self.comments.push(c.clone());
            }
        }
        self.comments.sort_by_key(|c| c.at);
        if self.acknowledged_by.is_none() && other.acknowledged_by.is_some() {
            self.acknowledged_by = other.acknowledged_by.clone();
            self.acknowledged_at = other.acknowledged_at;
        }
        let closed_by_hand = self.cleared_by.is_some();
        // (A closed alarm never reopens: the rule opens a new one.)
        match (self.cleared_at, other.cleared_at) {
            // Active here, cleared there: by hand always, by itself if after what we saw.
            (None, Some(c)) if other.cleared_by.is_some() || c >= before.last_seen => {
                self.cleared_at = Some(c);
                self.cleared_by = other.cleared_by.clone();
                self.clear_reason = other.clear_reason.clone();
            }
            // Cleared here by itself, active there after the clear: raised again.
            (Some(c), None) if before.is_open() && other.last_seen > c => {
                self.cleared_at = None;
                self.cleared_by = None;
                self.clear_reason = None;
            }
            // Cleared on both: a clear by hand wins over a clear by itself.
            (Some(_), Some(_)) if !closed_by_hand && other.cleared_by.is_some() => {
                self.cleared_at = other.cleared_at;
                self.cleared_by = other.cleared_by.clone();
                self.clear_reason = other.clear_reason.clone();
            }
            _ => {}
        }
        self.state = match (self.cleared_at.is_some(), self.acknowledged_by.is_some()) {
            (false, false) => AlarmState::ActiveUnacknowledged,
            (false, true) => AlarmState::ActiveAcknowledged,
            (true, false) => AlarmState::ClearedUnacknowledged,
            (true, true) => AlarmState::ClearedAcknowledged,
        };
        *self != before
    }

    /// Applies a signal of this alarm's rule and source: a raise is [`Alarm::raise_again`], a
    /// repeat [`Alarm::repeat`], a clear [`Alarm::clear_auto`].
    pub fn apply(&mut self, signal: &Signal) -> Result<()> {
        if signal.rule != self.rule || signal.source != self.source {
            return Err(Error::failed_precondition(format!(
                "a signal of rule {} for {} does not belong to alarm {} ({})",
                signal.rule,
                signal.source,
                self.id,
                self.key()
            )));
        }
        match signal.kind {
            SignalKind::Raise => self.raise_again(signal.value, signal.time),
            SignalKind::Repeat => self.repeat(signal.value, signal.time),
            SignalKind::Clear => self.clear_auto(signal.time),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_base::ErrorKind;
    use time::macros::datetime;
    use time::Duration;
    use AlarmState::*;

    const T0: OffsetDateTime = datetime!(2025-03-01 12:00 UTC);

    fn at(min: i64) -> OffsetDateTime {
        T0 + Duration::minutes(min)
    }

    fn signal(kind: SignalKind, value: Option<f64>, min: i64) -> Signal {
        Signal {
            rule: Id::from_trusted("r1"),
            rule_version: 3,
            source: Id::from_trusted("g1"),
            kind,
            value,
            time: at(min),
            severity: Severity::Critical,
            message: "water level 412 cm above 400 cm".into(),
            position: None,
        }
    }

    fn alarm() -> Alarm {
        let loc = LatLon::new(42.62, 25.39).ok();
        Alarm::open(
            Id::from_trusted("a1"),
            Id::from_trusted("kazanlak"),
            &signal(SignalKind::Raise, Some(412.0), 0),
            loc,
        )
        .unwrap()
    }

    /// An alarm brought into `state` by legal steps.
    fn in_state(state: AlarmState) -> Alarm {
        let mut a = alarm();
        match state {
            ActiveUnacknowledged => {}
            ActiveAcknowledged => a.acknowledge("ana", at(1)).unwrap(),
            ClearedUnacknowledged => a.clear_auto(at(2)).unwrap(),
            ClearedAcknowledged => {
                a.clear_auto(at(2)).unwrap();
                a.acknowledge("ana", at(3)).unwrap();
            }
        }
        assert_eq!(a.state, state);
        a
    }

    fn precondition<T: fmt::Debug>(r: Result<T>) {
        assert_eq!(r.unwrap_err().kind, ErrorKind::FailedPrecondition);
    }

    fn invalid<T: fmt::Debug>(r: Result<T>, field: &str) {
        let e = r.unwrap_err();
        assert_eq!((e.kind, e.details[0].field.as_str()), (ErrorKind::InvalidArgument, field));
    }

    #[test]
    fn opening_takes_everything_from_the_signal() {
        let a = alarm();
        assert_eq!(a.state, ActiveUnacknowledged);
        assert_eq!((a.rule.as_str(), a.rule_version, a.source.as_str()), ("r1", 3, "g1"));
        assert_eq!((a.severity, a.count, a.value), (Severity::Critical, 1, Some(412.0)));
        assert_eq!((a.first_seen, a.last_seen), (T0, T0));
        assert_eq!(a.message, "water level 412 cm above 400 cm");
        assert!(a.is_open() && a.is_active());
        assert_eq!(a.key(), AlarmKey::of(&signal(SignalKind::Raise, None, 0)));
        assert_eq!(a.key().to_string(), "rule r1 on g1");
        assert!(a.acknowledged_by.is_none() && a.cleared_at.is_none() && a.comments.is_empty());
    }

    #[test]
    fn a_clear_signal_opens_nothing_but_a_repeat_may() {
        let m = Id::from_trusted("kazanlak");
        precondition(Alarm::open(Id::from_trusted("a"), m.clone(), &signal(SignalKind::Clear, None, 0), None));
        let a = Alarm::open(Id::from_trusted("a"), m, &signal(SignalKind::Repeat, Some(1.0), 0), None).unwrap();
        assert_eq!(a.state, ActiveUnacknowledged);
    }

    #[test]
    fn repeats_count_while_active_and_keep_the_newest_value() {
        for s in [ActiveUnacknowledged, ActiveAcknowledged] {
            let mut a = in_state(s);
            a.repeat(Some(420.0), at(5)).unwrap();
            a.repeat(Some(415.0), at(4)).unwrap();
            assert_eq!((a.count, a.value, a.last_seen, a.state), (3, Some(420.0), at(5), s));
        }
        for s in [ClearedUnacknowledged, ClearedAcknowledged] {
            let mut a = in_state(s);
            precondition(a.repeat(Some(1.0), at(5)));
            assert_eq!(a.count, 1);
        }
    }

    #[test]
    fn acknowledging_works_once_in_either_activity() {
        let mut a = in_state(ActiveUnacknowledged);
        a.acknowledge(" ana ", at(1)).unwrap();
        assert_eq!(
            (a.state, a.acknowledged_by.as_deref(), a.acknowledged_at),
            (ActiveAcknowledged, Some("ana"), Some(at(1)))
        );
        let e = a.acknowledge("boris", at(2)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::FailedPrecondition);
        assert!(e.message.contains("ana"), "{}", e.message);
        assert_eq!(a.acknowledged_by.as_deref(), Some("ana"));

        let mut c = in_state(ClearedUnacknowledged);
        assert!(c.is_open());
        c.acknowledge("boris", at(4)).unwrap();
        assert_eq!(c.state, ClearedAcknowledged);
        assert!(!c.is_open());
        precondition(c.acknowledge("boris", at(5)));
        invalid(in_state(ActiveUnacknowledged).acknowledge("  ", at(1)), "by");
    }

    #[test]
    fn clearing_by_itself_keeps_an_unacknowledged_alarm_open() {
        let mut a = in_state(ActiveUnacknowledged);
        a.clear_auto(at(2)).unwrap();
        assert_eq!((a.state, a.cleared_at, a.cleared_by.as_deref()), (ClearedUnacknowledged, Some(at(2)), None));
        assert!(a.is_open() && !a.is_active());
        precondition(a.clear_auto(at(3)));

        let mut b = in_state(ActiveAcknowledged);
        b.clear_auto(at(2)).unwrap();
        assert_eq!(b.state, ClearedAcknowledged);
        assert!(!b.is_open());
        precondition(b.clear_auto(at(3)));
    }

    #[test]
    fn clearing_by_hand_needs_a_reason_and_closes_the_alarm() {
        let mut a = in_state(ActiveUnacknowledged);
        invalid(a.clear_by_hand("boris", "", at(2)), "reason");
        invalid(a.clear_by_hand("boris", " \n ", at(2)), "reason");
        invalid(a.clear_by_hand("boris", &"x".repeat(MAX_TEXT_CHARS + 1), at(2)), "reason");
        invalid(a.clear_by_hand("", "gauge under maintenance", at(2)), "by");
        assert_eq!(a.state, ActiveUnacknowledged);
        a.clear_by_hand("boris", " gauge under maintenance ", at(2)).unwrap();
        assert_eq!(a.state, ClearedAcknowledged);
        assert_eq!(
            (a.cleared_by.as_deref(), a.clear_reason.as_deref()),
            (Some("boris"), Some("gauge under maintenance"))
        );
        assert_eq!((a.acknowledged_by.as_deref(), a.acknowledged_at), (Some("boris"), Some(at(2))));
        assert!(!a.is_open());

        // An earlier acknowledgement is kept.
        let mut b = in_state(ActiveAcknowledged);
        b.clear_by_hand("boris", "false reading", at(5)).unwrap();
        assert_eq!((b.acknowledged_by.as_deref(), b.acknowledged_at), (Some("ana"), Some(at(1))));
        assert_eq!(b.cleared_at, Some(at(5)));

        for s in [ClearedUnacknowledged, ClearedAcknowledged] {
            let mut c = in_state(s);
            precondition(c.clear_by_hand("boris", "why not", at(5)));
            assert_eq!(c.state, s);
        }
    }

    #[test]
    fn raising_again_reopens_a_cleared_unacknowledged_alarm_only() {
        let mut a = in_state(ClearedUnacknowledged);
        a.raise_again(Some(430.0), at(6)).unwrap();
        assert_eq!((a.state, a.count, a.value, a.cleared_at), (ActiveUnacknowledged, 2, Some(430.0), None));
        let mut b = in_state(ActiveAcknowledged);
        b.raise_again(Some(430.0), at(6)).unwrap();
        assert_eq!((b.state, b.count), (ActiveAcknowledged, 2));
        let mut c = in_state(ClearedAcknowledged);
        precondition(c.raise_again(Some(430.0), at(6)));
        assert_eq!(c.count, 1);
    }

    #[test]
    fn copies_of_one_alarm_merge_to_the_same_alarm_in_any_order() {
        // Node A saw two more repeats; node B's operator acknowledged and commented.
        let mut a = alarm();
        a.repeat(Some(415.0), at(2)).unwrap();
        a.repeat(Some(420.0), at(3)).unwrap();
        let mut b = alarm();
        b.acknowledge("ana", at(1)).unwrap();
        b.comment("ana", "crew sent", at(1)).unwrap();
        let (mut ab, mut ba) = (a.clone(), b.clone());
        assert!(ab.merge(&b));
        assert!(ba.merge(&a));
        assert_eq!(ab, ba, "the same alarm whatever the order");
        assert_eq!((ab.state, ab.count, ab.value), (ActiveAcknowledged, 3, Some(420.0)));
        assert_eq!(ab.acknowledged_by.as_deref(), Some("ana"));
        assert_eq!(ab.comments.len(), 1);
        assert!(!ab.clone().merge(&b), "merging again changes nothing");

        // A clear by hand on B closes A's copy even though A saw the condition since.
        let mut closed = b.clone();
        closed.clear_by_hand("boris", "gauge under maintenance", at(2)).unwrap();
        let mut a2 = a.clone();
        assert!(a2.merge(&closed));
        assert_eq!((a2.state, a2.cleared_by.as_deref()), (ClearedAcknowledged, Some("boris")));
        assert!(!a2.is_open());
        // ...and a later sighting from elsewhere does not reopen it.
        let mut late = a.clone();
        late.repeat(Some(430.0), at(9)).unwrap();
        a2.merge(&late);
        assert_eq!(a2.state, ClearedAcknowledged);

        // A clear by itself older than the newest sighting is not taken; a newer one is.
        let mut cleared_early = alarm();
        cleared_early.clear_auto(at(1)).unwrap();
        let mut a3 = a.clone();
        a3.merge(&cleared_early);
        assert_eq!(a3.state, ActiveUnacknowledged, "seen at 3 min, cleared at 1 min: still active");
        let mut cleared_late = alarm();
        cleared_late.clear_auto(at(5)).unwrap();
        a3.merge(&cleared_late);
        assert_eq!((a3.state, a3.cleared_at), (ClearedUnacknowledged, Some(at(5))));
        // Raised again elsewhere after that clear: active again.
        let mut again = cleared_late.clone();
        again.raise_again(Some(440.0), at(7)).unwrap();
        a3.merge(&again);
        assert_eq!((a3.state, a3.cleared_at, a3.value), (ActiveUnacknowledged, None, Some(440.0)));

        // Another alarm's copy changes nothing.
        let mut other = alarm();
        other.id = Id::from_trusted("a2");
        other.acknowledge("ana", at(1)).unwrap();
        let mut a4 = a.clone();
        assert!(!a4.merge(&other));
        assert_eq!(a4, a);
    }

    #[test]
    fn comments_go_on_in_every_state_but_need_text() {
        for s in AlarmState::ALL {
            let mut a = in_state(*s);
            a.comment("ana", " called the dam operator ", at(7)).unwrap();
            assert_eq!(
                a.comments,
                [AlarmComment { at: at(7), by: "ana".into(), text: "called the dam operator".into() }]
            );
            invalid(a.comment("ana", "", at(8)), "text");
            invalid(a.comment("", "x", at(8)), "by");
            assert_eq!((a.comments.len(), a.state), (1, *s));
        }
    }

    #[test]
    fn signals_drive_the_alarm_through_its_life() {
        let mut a = alarm();
        a.apply(&signal(SignalKind::Repeat, Some(415.0), 1)).unwrap();
        a.apply(&signal(SignalKind::Clear, Some(390.0), 2)).unwrap();
        assert_eq!((a.state, a.count, a.value), (ClearedUnacknowledged, 2, Some(415.0)));
        a.apply(&signal(SignalKind::Raise, Some(420.0), 3)).unwrap();
        assert_eq!((a.state, a.count), (ActiveUnacknowledged, 3));
        let mut other = signal(SignalKind::Repeat, None, 4);
        other.source = Id::from_trusted("g2");
        precondition(a.apply(&other));
        assert_eq!(a.count, 3);
    }

    #[test]
    fn state_names_parse_and_print() {
        for s in AlarmState::ALL {
            assert_eq!(AlarmState::parse("state", s.as_str()).unwrap(), *s);
        }
        assert_eq!(ActiveUnacknowledged.as_str(), "active_unacknowledged");
        assert_eq!(ClearedAcknowledged.to_string(), "cleared_acknowledged");
        assert!(AlarmState::parse("state", "open").is_err());
        let open: Vec<_> = AlarmState::ALL.iter().filter(|s| s.is_open()).collect();
        assert_eq!(open.len(), 3);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Repeat,
        Raise,
        ClearAuto,
        ClearByHand,
        Ack,
        Comment,
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever steps are tried, the fields stay consistent with the state, the count only
        /// grows, and a closed alarm stays closed.
        #[test]
        fn any_sequence_of_steps_keeps_the_alarm_consistent(
            ops in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(Op::Repeat),
                    proptest::strategy::Just(Op::Raise),
                    proptest::strategy::Just(Op::ClearAuto),
                    proptest::strategy::Just(Op::ClearByHand),
                    proptest::strategy::Just(Op::Ack),
                    proptest::strategy::Just(Op::Comment),
                ],
                0..40,
            )
        ) {
            let mut a = alarm();
            for (i, op) in ops.iter().enumerate() {
                let t = at(i as i64 + 1);
                let before = a.clone();
                let r = match op {
                    Op::Repeat => a.repeat(Some(i as f64), t),
                    Op::Raise => a.raise_again(Some(i as f64), t),
                    Op::ClearAuto => a.clear_auto(t),
                    Op::ClearByHand => a.clear_by_hand("ana", "test", t),
                    Op::Ack => a.acknowledge("ana", t),
                    Op::Comment => a.comment("ana", "note", t),
                };
                match r {
                    Ok(()) => proptest::prop_assert!(before.is_open() || matches!(op, Op::Comment)),
                    Err(e) => {
                        proptest::prop_assert_eq!(e.kind, ErrorKind::FailedPrecondition);
                        proptest::prop_assert_eq!(&a, &before, "a refused step changes nothing");
                    }
                }
                proptest::prop_assert!(a.count >= before.count);
                proptest::prop_assert_eq!(a.acknowledged_by.is_some(), a.state.is_acknowledged());
                proptest::prop_assert_eq!(a.acknowledged_at.is_some(), a.state.is_acknowledged());
                proptest::prop_assert_eq!(a.cleared_at.is_some(), !a.state.is_active());
                proptest::prop_assert_eq!(a.cleared_by.is_some(), a.clear_reason.is_some());
                proptest::prop_assert!(a.last_seen >= a.first_seen);
            }
        }
    }
}
