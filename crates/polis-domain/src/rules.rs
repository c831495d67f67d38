//! Rules over sensor observations and the in-memory engine that evaluates them.
//!
//! A [`Rule`] says which sensors it watches ([`RuleScope`]), which of their quantities, and
//! what counts as trouble ([`Condition`]). The [`Engine`] holds the rules and a small state per
//! (rule, sensor) and turns each [`Observation`] (and, for silence, each clock tick) into
//! [`Signal`]s: `Raise` on the transition into the alarm condition, `Repeat` for each further
//! violating observation, `Clear` on the transition out. Turning signals into alarms (one open
//! alarm per source and rule) is the caller's job, with [`crate::alarm`].
//!
//! Time is observation time: the engine never reads a clock. Observations older than the
//! newest one a (rule, sensor) state has seen are ignored, so a late or replayed reading never
//! flips an alarm back.

use crate::observation::{check_quantity, Observation};
use crate::registry::{string_enum, Sensor, SensorKind};
use crate::values::{Id, LatLon};
use polis_base::{Error, FieldError, Result};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use time::{Duration, OffsetDateTime};

/// The longest `minutes` a duration or silence condition may name: a week.
pub const MAX_MINUTES: u32 = 7 * 24 * 60;
/// The longest window of a rate-of-change condition: a day.
pub const MAX_WINDOW_MINUTES: u32 = 24 * 60;
/// The most corners a zone may have.
pub const MAX_ZONE_CORNERS: usize = 1_000;
/// The longest rule name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

string_enum!(
    /// How bad an alarm is. Ordered from most to least severe.
    Severity { Critical = "critical", Major = "major", Minor = "minor", Warning = "warning" }
);

string_enum!(
    /// Which crossing of a geofence raises the alarm; the opposite crossing clears it.
    GeofenceTrigger { Enter = "enter", Leave = "leave" }
);

string_enum!(
    /// What a signal tells the alarm keeper.
    SignalKind { Raise = "raise", Repeat = "repeat", Clear = "clear" }
);

/// Which sensors a rule watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleScope {
    /// One sensor.
    Sensor(Id),
    /// Every sensor of a kind in the rule's municipality; with a zone (a polygon ring), only
    /// those whose registered position lies inside it.
    Kind { kind: SensorKind, zone: Option<Vec<LatLon>> },
}

/// What counts as trouble. `above` and `below` are exclusive: a rule names exactly one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Condition {
    /// Raise when the value is above `above` (below `below`); clear when it is back at or
    /// under `above - hysteresis` (at or over `below + hysteresis`).
    Threshold { above: Option<f64>, below: Option<f64>, hysteresis: f64 },
    /// As a threshold, but raised only once the value has been beyond it for `minutes` of
    /// observation time without a break.
    Duration { above: Option<f64>, below: Option<f64>, hysteresis: f64, minutes: u32 },
    /// Raise when the value changes faster than `max_per_minute` (either way), measured against
    /// the reading about `window_minutes` before; clear when it is back within the limit.
    RateOfChange { max_per_minute: f64, window_minutes: u32 },
    /// Raise when no observation arrived for `minutes` (checked on [`Engine::on_tick`]); any
    /// observation clears.
    Silence { minutes: u32 },
    /// Raise when a position-reporting device crosses into (`Enter`) or out of (`Leave`) the
    /// zone; clear on the opposite crossing. A device's first position sets where it is and
    /// raises nothing.
    Geofence { zone: Vec<LatLon>, trigger: GeofenceTrigger },
}

impl Condition {
    /// The snake_case name of the condition's type, as on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Condition::Threshold { .. } => "threshold",
            Condition::Duration { .. } => "duration",
            Condition::RateOfChange { .. } => "rate_of_change",
            Condition::Silence { .. } => "silence",
            Condition::Geofence { .. } => "geofence",
        }
    }

    fn check(&self, errs: &mut Vec<FieldError>) {
        match self {
            Condition::Threshold { above, below, hysteresis } => check_bound(*above, *below, *hysteresis, errs),
            Condition::Duration { above, below, hysteresis, minutes } => {
                check_bound(*above, *below, *hysteresis, errs);
                check_minutes("condition.minutes", *minutes, MAX_MINUTES, errs);
            }
            Condition::RateOfChange { max_per_minute, window_minutes } => {
                if !max_per_minute.is_finite() || *max_per_minute <= 0.0 {
                    errs.push(FieldError::new("condition.max_per_minute", "must be a number greater than 0"));
                }
                check_minutes("condition.window_minutes", *window_minutes, MAX_WINDOW_MINUTES, errs);
            }
            Condition::Silence { minutes } => check_minutes("condition.minutes", *minutes, MAX_MINUTES, errs),
            Condition::Geofence { zone, .. } => check_zone("condition.zone", zone, errs),
        }
    }
}

fn check_bound(above: Option<f64>, below: Option<f64>, hysteresis: f64, errs: &mut Vec<FieldError>) {
    match (above, below) {
        (Some(_), Some(_)) => errs.push(FieldError::new("condition.above", "give either above or below, not both")),
        (None, None) => errs.push(FieldError::new("condition.above", "one of above and below is required")),
        (Some(a), None) if !a.is_finite() => errs.push(FieldError::new("condition.above", "must be a number")),
        (None, Some(b)) if !b.is_finite() => errs.push(FieldError::new("condition.below", "must be a number")),
        _ => {}
    }
    if !hysteresis.is_finite() || hysteresis < 0.0 {
        errs.push(FieldError::new("condition.hysteresis", "must be a number of at least 0"));
    }
}

fn check_minutes(field: &str, minutes: u32, max: u32, errs: &mut Vec<FieldError>) {
    if minutes == 0 || minutes > max {
        errs.push(FieldError::new(field, format!("must be a whole number of minutes from 1 to {max}")));
    }
}

fn check_zone(field: &str, ring: &[LatLon], errs: &mut Vec<FieldError>) {
    let n = if ring.len() >= 2 && ring.first() == ring.last() { ring.len() - 1 } else { ring.len() };
    if n < 3 {
        errs.push(FieldError::new(field, "a zone needs at least three corners"));
    } else if n > MAX_ZONE_CORNERS {
        errs.push(FieldError::new(field, format!("a zone may have at most {MAX_ZONE_CORNERS} corners")));
    } else {
        // Twice the signed area in square degrees (shoelace); about 1e-10 is a square metre.
        let twice_area: f64 =
            ring.iter().zip(ring.iter().cycle().skip(1)).map(|(a, b)| a.lon() * b.lat() - b.lon() * a.lat()).sum();
        if twice_area.abs() < 1e-10 {
            errs.push(FieldError::new(field, "the corners of a zone must enclose an area"));
        }
    }
}

/// Whether `p` lies inside the polygon `ring` (corners in order, closed or not) or on its
/// edge, with longitude and latitude as plane coordinates: exact enough for a city's zones,
/// which do not cross the antimeridian. See [`crate::polygon`].
pub fn zone_contains(ring: &[LatLon], p: LatLon) -> bool {
    crate::polygon::contains(ring, p)
}

/// A rule as the operators define it. Editing a rule makes a new version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: Id,
    pub municipality: Id,
    pub name: String,
    /// 1 for a new rule, one more on each edit.
    pub version: u32,
    pub enabled: bool,
    pub scope: RuleScope,
    /// The quantity of a multi-value station the rule watches (`pm25`); `None` is the main value.
    pub quantity: Option<String>,
    pub condition: Condition,
    pub severity: Severity,
}

impl Rule {
    /// Checks the fields that are not covered by their types. Returns every problem, each
    /// naming its field (`name`, `version`, `quantity`, `zone`, `condition.above`,
    /// `condition.hysteresis`, `condition.minutes`, `condition.max_per_minute`,
    /// `condition.window_minutes`, `condition.zone`).
    pub fn check(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let name_chars = self.name.chars().count();
        if self.name.trim().is_empty() || name_chars > MAX_NAME_CHARS {
            errs.push(FieldError::new("name", format!("must be 1 to {MAX_NAME_CHARS} characters")));
        }
        if self.version == 0 {
            errs.push(FieldError::new("version", "must be at least 1"));
        }
        if let Some(q) = &self.quantity {
            if let Err(e) = check_quantity(q) {
                errs.extend(e.details);
            }
        }
        if let RuleScope::Kind { zone: Some(zone), .. } = &self.scope {
            check_zone("zone", zone, &mut errs);
        }
        self.condition.check(&mut errs);
        errs
    }

    /// Whether the rule's scope takes in `sensor` (same municipality, and the sensor itself or
    /// one of the kind inside the zone). Says nothing about `enabled` or the quantity.
    pub fn applies_to(&self, sensor: &Sensor) -> bool {
        sensor.municipality == self.municipality
            && match &self.scope {
                RuleScope::Sensor(id) => *id == sensor.id,
                RuleScope::Kind { kind, zone } => {
                    *kind == sensor.kind && zone.as_ref().is_none_or(|z| zone_contains(z, sensor.position))
                }
            }
    }
}

/// What the engine tells the alarm keeper about one rule and one source.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub rule: Id,
    pub rule_version: u32,
    /// The sensor.
    pub source: Id,
    pub kind: SignalKind,
    /// The observed value; `None` for silence.
    pub value: Option<f64>,
    /// The observation's time, or the tick's for silence.
    pub time: OffsetDateTime,
    pub severity: Severity,
    /// For people, in English: "water level 412 cm above 400 cm".
    pub message: String,
    /// Where the observation was taken, when it says (a moving device: an SOS wearer, a boat);
    /// an alarm it opens is placed there rather than at the sensor's registered position.
    pub position: Option<LatLon>,
}

/// A zone prepared for fast tests (see [`crate::polygon::Ring`]).
type Zone = crate::polygon::Ring;

/// The memory of one rule for one sensor.
#[derive(Debug, Default)]
struct State {
    /// The newest observation time taken into account.
    last: Option<OffsetDateTime>,
    /// Whether the rule is in its alarm condition for this sensor.
    active: bool,
    /// Duration: when the current unbroken violation began.
    since: Option<OffsetDateTime>,
    /// Geofence: whether the device was last inside the zone.
    inside: Option<bool>,
    /// Rate of change: thinned recent readings, oldest first.
    history: VecDeque<(OffsetDateTime, f64)>,
}

/// The bound of a threshold or duration condition.
#[derive(Debug, Clone, Copy)]
enum Bound {
    Above(f64),
    Below(f64),
}

impl Bound {
    fn of(above: Option<f64>, below: Option<f64>) -> Option<Bound> {
        match (above, below) {
            (Some(a), _) => Some(Bound::Above(a)),
            (None, Some(b)) => Some(Bound::Below(b)),
            (None, None) => None,
        }
    }

    fn violated(self, v: f64) -> bool {
        match self {
            Bound::Above(a) => v > a,
            Bound::Below(b) => v < b,
        }
    }

    fn cleared(self, v: f64, hysteresis: f64) -> bool {
        match self {
            Bound::Above(a) => v <= a - hysteresis,
            Bound::Below(b) => v >= b + hysteresis,
        }
    }

    fn describe(self, kind: SignalKind, what: &Measure<'_>, v: f64) -> String {
        let (word, back, limit) = match self {
            Bound::Above(a) => ("above", "back below", a),
            Bound::Below(b) => ("below", "back above", b),
        };
        let word = if kind == SignalKind::Clear { back } else { word };
        format!("{} {} {word} {}", what.label, what.amount(v), what.amount(limit))
    }
}

/// How a sensor's value is named in messages.
struct Measure<'a> {
    label: &'a str,
    unit: &'a str,
}

impl<'a> Measure<'a> {
    fn of(sensor: &'a Sensor, quantity: Option<&'a str>) -> Measure<'a> {
        match quantity {
            Some(q) => Measure { label: q, unit: "" },
            None => {
                let label = match sensor.kind {
                    SensorKind::WaterLevel => "water level",
                    SensorKind::Rain => "rain",
                    SensorKind::AirQuality => "air quality",
                    SensorKind::TrafficCount => "traffic count",
                    SensorKind::TrafficSpeed => "traffic speed",
                    SensorKind::Noise => "noise",
                    SensorKind::Smoke => "smoke",
                    SensorKind::Temperature => "temperature",
                    SensorKind::Other => "value",
                };
                Measure { label, unit: sensor.unit.trim() }
            }
        }
    }

    fn amount(&self, v: f64) -> String {
        if self.unit.is_empty() {
            num(v)
        } else {
            format!("{} {}", num(v), self.unit)
        }
    }

    fn per_minute(&self, v: f64) -> String {
        if self.unit.is_empty() {
            format!("{} per min", num(v))
        } else {
            format!("{} {}/min", num(v), self.unit)
        }
    }
}

/// A number for people: at most three decimals, no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s.as_str() };
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn minutes(m: u32) -> Duration {
    Duration::minutes(i64::from(m))
}

/// The next state of a threshold-like condition that has a bound, for one value.
fn bound_step(st: &mut State, bound: Bound, hysteresis: f64, v: f64) -> Option<SignalKind> {
    if st.active {
        if bound.violated(v) {
            Some(SignalKind::Repeat)
        } else if bound.cleared(v, hysteresis) {
            st.active = false;
            Some(SignalKind::Clear)
        } else {
            None
        }
    } else if bound.violated(v) {
        st.active = true;
        Some(SignalKind::Raise)
    } else {
        None
    }
}

/// Adds a reading to a rate-of-change history and returns the reading to measure against: the
/// newest one at least `window` old, if it is at most twice `window` old. The history keeps
/// readings about a tenth of the window apart, so it stays short whatever the reporting rate.
fn rate_reference(
    hist: &mut VecDeque<(OffsetDateTime, f64)>,
    t: OffsetDateTime,
    v: f64,
    window: Duration,
) -> Option<(OffsetDateTime, f64)> {
    let step = window / 10;
    let n = hist.len();
    if n >= 2 && hist[n - 1].0 - hist[n - 2].0 < step {
        hist.pop_back();
    }
    hist.push_back((t, v));
    while hist.len() >= 2 && (t - hist[1].0 >= window || t - hist[0].0 > window * 2) {
        hist.pop_front();
    }
    let &(t0, v0) = hist.front()?;
    let age = t - t0;
    (age >= window && age <= window * 2).then_some((t0, v0))
}

/// One rule with its prepared zones and its per-sensor states.
#[derive(Debug)]
struct Slot {
    rule: Rule,
    /// When the rule was set: silence counts from here for sensors never heard from.
    set_at: OffsetDateTime,
    scope_zone: Option<Zone>,
    fence: Option<Zone>,
    states: HashMap<Id, State>,
}

impl Slot {
    fn new(rule: Rule, set_at: OffsetDateTime) -> Slot {
        let scope_zone = match &rule.scope {
            RuleScope::Kind { zone: Some(z), .. } => Some(Zone::from_latlon(z)),
            _ => None,
        };
        let fence = match &rule.condition {
            Condition::Geofence { zone, .. } => Some(Zone::from_latlon(zone)),
            _ => None,
        };
        Slot { rule, set_at, scope_zone, fence, states: HashMap::new() }
    }

    /// [`Rule::applies_to`] with the prepared zone.
    fn scope_takes(&self, sensor: &Sensor) -> bool {
        sensor.municipality == self.rule.municipality
            && match &self.rule.scope {
                RuleScope::Sensor(id) => *id == sensor.id,
                RuleScope::Kind { kind, .. } => {
                    *kind == sensor.kind && self.scope_zone.as_ref().is_none_or(|z| z.contains(sensor.position))
                }
            }
    }

    fn is_silence(&self) -> bool {
        matches!(self.rule.condition, Condition::Silence { .. })
    }

    fn signal(
        &self,
        sensor: &Sensor,
        kind: SignalKind,
        value: Option<f64>,
        time: OffsetDateTime,
        message: String,
    ) -> Signal {
        Signal {
            rule: self.rule.id.clone(),
            rule_version: self.rule.version,
            source: sensor.id.clone(),
            kind,
            value,
            time,
            severity: self.rule.severity,
            message,
            position: None,
        }
    }

    /// Evaluates one observation of a sensor the rule applies to, quantity already matched.
    fn observe(&mut self, sensor: &Sensor, obs: &Observation) -> Option<Signal> {
        let (t, v) = (obs.time(), obs.value());
        let position = obs.position();
        if self.fence.is_some() && position.is_none() {
            return None;
        }
        if !self.states.contains_key(&sensor.id) {
            self.states.insert(sensor.id.clone(), State::default());
        }
        let st = self.states.get_mut(&sensor.id)?;
        if st.last.is_some_and(|last| t < last) {
            return None;
        }
        st.last = Some(t);
        let what = Measure::of(sensor, obs.quantity());
        let (kind, message) = match &self.rule.condition {
            Condition::Threshold { above, below, hysteresis } => {
                let bound = Bound::of(*above, *below)?;
                let kind = bound_step(st, bound, *hysteresis, v)?;
                (kind, bound.describe(kind, &what, v))
            }
            Condition::Duration { above, below, hysteresis, minutes: m } => {
                let bound = Bound::of(*above, *below)?;
                let kind = if st.active {
                    let kind = bound_step(st, bound, *hysteresis, v)?;
                    if kind == SignalKind::Clear {
                        st.since = None;
                    }
                    kind
                } else if bound.violated(v) {
                    let since = *st.since.get_or_insert(t);
                    if t - since < minutes(*m) {
                        return None;
                    }
                    st.active = true;
                    SignalKind::Raise
                } else {
                    st.since = None;
                    return None;
                };
                let mut message = bound.describe(kind, &what, v);
                if let Some(since) = st.since.filter(|_| kind != SignalKind::Clear) {
                    message.push_str(&format!(" for {} min", (t - since).whole_minutes()));
                }
                (kind, message)
            }
            Condition::RateOfChange { max_per_minute, window_minutes } => {
                let (t0, v0) = rate_reference(&mut st.history, t, v, minutes(*window_minutes))?;
                let rate = (v - v0) / ((t - t0).as_seconds_f64() / 60.0);
                let fast = rate.abs() > *max_per_minute;
                let kind = match (st.active, fast) {
                    (false, false) => return None,
                    (false, true) => SignalKind::Raise,
                    (true, true) => SignalKind::Repeat,
                    (true, false) => SignalKind::Clear,
                };
                st.active = fast;
                let message = if fast {
                    let dir = if rate > 0.0 { "rising" } else { "falling" };
                    format!(
                        "{} {dir} {} over {} min, faster than {}",
                        what.label,
                        what.per_minute(rate.abs()),
                        window_minutes,
                        what.per_minute(*max_per_minute)
                    )
                } else {
                    format!(
                        "{} changing {} over {} min, within {}",
                        what.label,
                        what.per_minute(rate.abs()),
                        window_minutes,
                        what.per_minute(*max_per_minute)
                    )
                };
                (kind, message)
            }
            Condition::Silence { .. } => {
                if !st.active {
                    return None;
                }
                st.active = false;
                (SignalKind::Clear, format!("{} reporting again", sensor.name))
            }
            Condition::Geofence { trigger, .. } => {
                let inside = self.fence.as_ref().zip(position).is_some_and(|(z, p)| z.contains(p));
                let before = st.inside.replace(inside);
                let triggered = match trigger {
                    GeofenceTrigger::Enter => inside,
                    GeofenceTrigger::Leave => !inside,
                };
                let kind = match (st.active, triggered) {
                    (true, true) => SignalKind::Repeat,
                    (true, false) => SignalKind::Clear,
                    (false, true) if before == Some(!inside) => SignalKind::Raise,
                    (false, _) => return None,
                };
                st.active = triggered;
                let verb = match (kind, inside) {
                    (SignalKind::Raise, true) => "entered",
                    (SignalKind::Raise, false) => "left",
                    (SignalKind::Repeat, true) => "still inside",
                    (SignalKind::Repeat, false) => "still outside",
                    (SignalKind::Clear, true) => "back inside",
                    (SignalKind::Clear, false) => "left",
                };
                (kind, format!("{} {verb} zone \"{}\"", sensor.name, self.rule.name))
            }
        };
        Some(Signal { position, ..self.signal(sensor, kind, Some(v), t, message) })
    }

    /// Checks a silence rule for one sensor it applies to.
    fn tick(&mut self, sensor: &Sensor, now: OffsetDateTime) -> Option<Signal> {
        let Condition::Silence { minutes: m } = self.rule.condition else { return None };
        if !self.states.contains_key(&sensor.id) {
            self.states.insert(sensor.id.clone(), State::default());
        }
        let st = self.states.get_mut(&sensor.id)?;
        let since = st.last.unwrap_or(self.set_at);
        if st.active || now - since < minutes(m) {
            return None;
        }
        st.active = true;
        let what = match &self.rule.quantity {
            Some(q) => format!("no {q} data"),
            None => "no data".to_string(),
        };
        let message = format!("{what} from {} for {} min", sensor.name, (now - since).whole_minutes());
        Some(self.signal(sensor, SignalKind::Raise, None, now, message))
    }
}

/// The rules engine: every rule in memory, indexed by the sensor or the (kind, municipality)
/// it watches, with a small state per (rule, sensor). Pure and single-threaded; the runtime
/// owns one per shard and feeds it.
#[derive(Debug, Default)]
pub struct Engine {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<Id, usize>,
    /// Enabled sensor-scoped rules by sensor.
    by_sensor: HashMap<Id, Vec<usize>>,
    /// Enabled kind-scoped rules by kind, then municipality.
    by_kind: HashMap<SensorKind, HashMap<Id, Vec<usize>>>,
    /// How many enabled silence rules there are: ticks are free without any.
    silence_rules: usize,
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Adds a rule, or replaces the rule with its id. A replacement (a new version, or any
    /// change) starts the rule afresh for every sensor: no alarm is active, silence counts
    /// from `now`. Setting the very same rule again keeps its state. Refuses an invalid rule
    /// (`InvalidArgument` with every problem) and an older version than the one held
    /// (`FailedPrecondition`).
    pub fn set_rule(&mut self, rule: Rule, now: OffsetDateTime) -> Result<()> {
        let errs = rule.check();
        if !errs.is_empty() {
            let message = errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            return Err(Error::invalid_fields(format!("invalid rule: {message}"), errs));
        }
        let slot = Slot::new(rule, now);
        match self.by_id.get(&slot.rule.id).copied() {
            Some(i) => {
                if let Some(old) = self.slots.get(i).and_then(Option::as_ref) {
                    if old.rule.version > slot.rule.version {
                        return Err(Error::failed_precondition(format!(
                            "rule {} is at version {}; version {} is older",
                            old.rule.id, old.rule.version, slot.rule.version
                        )));
                    }
                    if old.rule == slot.rule {
                        return Ok(());
                    }
                }
                self.unindex(i);
                if let Some(s) = self.slots.get_mut(i) {
                    *s = Some(slot);
                }
                self.index(i);
            }
            None => {
                let id = slot.rule.id.clone();
                let i = match self.free.pop() {
                    Some(i) => {
                        if let Some(s) = self.slots.get_mut(i) {
                            *s = Some(slot);
                        }
                        i
                    }
                    None => {
                        self.slots.push(Some(slot));
                        self.slots.len() - 1
                    }
                };
                self.by_id.insert(id, i);
                self.index(i);
            }
        }
        Ok(())
    }

    /// Removes a rule and its state; returns it if it was there.
    pub fn remove_rule(&mut self, id: &Id) -> Option<Rule> {
        let i = self.by_id.remove(id)?;
        self.unindex(i);
        let slot = self.slots.get_mut(i)?.take()?;
        self.free.push(i);
        Some(slot.rule)
    }

    pub fn rule(&self, id: &Id) -> Option<&Rule> {
        let i = *self.by_id.get(id)?;
        self.slots.get(i)?.as_ref().map(|s| &s.rule)
    }

    /// Every rule held, enabled or not, in no particular order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> + '_ {
        self.slots.iter().flatten().map(|s| &s.rule)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// How many (rule, sensor) states are kept: a gauge for memory.
    pub fn state_count(&self) -> usize {
        self.slots.iter().flatten().map(|s| s.states.len()).sum()
    }

    fn index(&mut self, i: usize) {
        let Some(slot) = self.slots.get(i).and_then(Option::as_ref) else { return };
        if !slot.rule.enabled {
            return;
        }
        match &slot.rule.scope {
            RuleScope::Sensor(id) => self.by_sensor.entry(id.clone()).or_default().push(i),
            RuleScope::Kind { kind, .. } => {
                self.by_kind.entry(*kind).or_default().entry(slot.rule.municipality.clone()).or_default().push(i)
            }
        }
        if slot.is_silence() {
            self.silence_rules += 1;
        }
    }

    fn unindex(&mut self, i: usize) {
        let Some(slot) = self.slots.get(i).and_then(Option::as_ref) else { return };
        if !slot.rule.enabled {
            return;
        }
        match &slot.rule.scope {
            RuleScope::Sensor(id) => {
                if let Some(v) = self.by_sensor.get_mut(id) {
                    v.retain(|&j| j != i);
                    if v.is_empty() {
                        self.by_sensor.remove(id);
                    }
                }
            }
            RuleScope::Kind { kind, .. } => {
                if let Some(by_m) = self.by_kind.get_mut(kind) {
                    if let Some(v) = by_m.get_mut(&slot.rule.municipality) {
                        v.retain(|&j| j != i);
                        if v.is_empty() {
                            by_m.remove(&slot.rule.municipality);
                        }
                    }
                    if by_m.is_empty() {
                        self.by_kind.remove(kind);
                    }
                }
            }
        }
        if slot.is_silence() {
            self.silence_rules = self.silence_rules.saturating_sub(1);
        }
    }

    /// Evaluates an observation of `sensor` against every enabled rule that applies to the
    /// sensor and watches the observation's quantity. Returns nothing if the observation is of
    /// another sensor.
    pub fn on_observation(&mut self, sensor: &Sensor, obs: &Observation) -> Vec<Signal> {
        let mut out = Vec::new();
        if *obs.sensor() != sensor.id {
            return out;
        }
        let Engine { slots, by_sensor, by_kind, .. } = self;
        let direct = by_sensor.get(&sensor.id).map(Vec::as_slice).unwrap_or_default();
        let of_kind =
            by_kind.get(&sensor.kind).and_then(|m| m.get(&sensor.municipality)).map(Vec::as_slice).unwrap_or_default();
        for &i in direct.iter().chain(of_kind) {
            let Some(slot) = slots.get_mut(i).and_then(Option::as_mut) else { continue };
            if slot.rule.quantity.as_deref() != obs.quantity() || !slot.scope_takes(sensor) {
                continue;
            }
            if let Some(signal) = slot.observe(sensor, obs) {
                out.push(signal);
            }
        }
        out
    }

    /// Checks the silence rules at `now` for the given sensors (normally the whole registry):
    /// raises for each sensor a silence rule applies to that has not reported for the rule's
    /// minutes, counting from the rule's `set_rule` time for a sensor never heard from. Raises
    /// once per silence; the next observation clears.
    pub fn on_tick<'a>(&mut self, now: OffsetDateTime, sensors: impl IntoIterator<Item = &'a Sensor>) -> Vec<Signal> {
        let mut out = Vec::new();
        if self.silence_rules == 0 {
            return out;
        }
        let Engine { slots, by_sensor, by_kind, .. } = self;
        for sensor in sensors {
            let direct = by_sensor.get(&sensor.id).map(Vec::as_slice).unwrap_or_default();
            let of_kind = by_kind
                .get(&sensor.kind)
                .and_then(|m| m.get(&sensor.municipality))
                .map(Vec::as_slice)
                .unwrap_or_default();
            for &i in direct.iter().chain(of_kind) {
                let Some(slot) = slots.get_mut(i).and_then(Option::as_mut) else { continue };
                if !slot.is_silence() || !slot.scope_takes(sensor) {
                    continue;
                }
                if let Some(signal) = slot.tick(sensor, now) {
                    out.push(signal);
                }
            }
        }
        out
    }

    /// Marks the rule as in its alarm condition for `source`, so that the engine clears it
    /// when the condition ends. For start-up: call it for every alarm still open (and active)
    /// in storage. Returns false if the rule is not held.
    pub fn restore_active(&mut self, rule: &Id, source: &Id) -> bool {
        let Some(slot) = self.slot_mut(rule) else { return false };
        slot.states.entry(source.clone()).or_default().active = true;
        true
    }

    /// Marks the condition of (`rule`, `source`) as not holding, keeping what the rule remembers
    /// of the source's readings: an alarm another node cleared by itself. Returns false if the
    /// rule is not held.
    pub fn restore_inactive(&mut self, rule: &Id, source: &Id) -> bool {
        let Some(slot) = self.slot_mut(rule) else { return false };
        if let Some(state) = slot.states.get_mut(source) {
            state.active = false;
        }
        true
    }

    /// Forgets what the rule knows of `source`, so that the next violation raises anew: for an
    /// alarm cleared by hand while its condition still holds. Returns false if the rule is not
    /// held.
    pub fn reset(&mut self, rule: &Id, source: &Id) -> bool {
        let Some(slot) = self.slot_mut(rule) else { return false };
        slot.states.remove(source);
        true
    }

    /// Drops every rule's state for a sensor that left the registry.
    pub fn forget_sensor(&mut self, sensor: &Id) {
        for slot in self.slots.iter_mut().flatten() {
            slot.states.remove(sensor);
        }
    }

    fn slot_mut(&mut self, rule: &Id) -> Option<&mut Slot> {
        let i = *self.by_id.get(rule)?;
        self.slots.get_mut(i)?.as_mut()
    }
}

/// How often a replay checks silence rules: once a minute of observation time.
pub const REPLAY_TICK: Duration = Duration::minutes(1);

/// What `rule` would have done over past readings, for a preview before it is saved: every
/// raise and clear (not repeats), oldest first, as a fresh engine holding only this rule (and
/// enabled) would have signalled them. `readings` must be in time order; readings of sensors
/// not in `sensors` are skipped. Silence is checked every [`REPLAY_TICK`] from `from` to `to`,
/// counting a sensor never heard from as silent since `from`. Refuses an invalid rule.
pub fn replay(
    rule: &Rule,
    sensors: &[Sensor],
    readings: &[Observation],
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Signal>> {
    let mut rule = rule.clone();
    rule.enabled = true;
    let silence = matches!(rule.condition, Condition::Silence { .. });
    let mut engine = Engine::new();
    engine.set_rule(rule, from)?;
    let by_id: HashMap<&Id, &Sensor> = sensors.iter().map(|s| (&s.id, s)).collect();
    let mut out = Vec::new();
    let mut tick = from + REPLAY_TICK;
    let keep = |signals: Vec<Signal>, out: &mut Vec<Signal>| {
        out.extend(signals.into_iter().filter(|s| s.kind != SignalKind::Repeat));
    };
    for obs in readings {
        while silence && tick <= obs.time() && tick <= to {
            keep(engine.on_tick(tick, sensors), &mut out);
            tick += REPLAY_TICK;
        }
        if let Some(sensor) = by_id.get(obs.sensor()) {
            keep(engine.on_observation(sensor, obs), &mut out);
        }
    }
    while silence && tick <= to {
        keep(engine.on_tick(tick, sensors), &mut out);
        tick += REPLAY_TICK;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2025-03-01 12:00 UTC);

    fn at(min: f64) -> OffsetDateTime {
        T0 + Duration::seconds_f64(min * 60.0)
    }

    fn id(s: &str) -> Id {
        Id::from_trusted(s)
    }

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).unwrap()
    }

    /// A square zone around Kazanlak's centre, 0.01 degrees a side.
    fn centre() -> Vec<LatLon> {
        vec![ll(42.615, 25.390), ll(42.615, 25.400), ll(42.625, 25.400), ll(42.625, 25.390)]
    }

    fn sensor(name: &str, kind: SensorKind, pos: LatLon) -> Sensor {
        Sensor {
            id: id(name),
            municipality: id("kazanlak"),
            name: format!("{name} sensor"),
            name_en: String::new(),
            kind,
            unit: if kind == SensorKind::WaterLevel { "cm".into() } else { String::new() },
            position: pos,
            owner: None,
            demo: false,
        }
    }

    fn gauge() -> Sensor {
        sensor("g1", SensorKind::WaterLevel, ll(42.62, 25.395))
    }

    fn rule(name: &str, scope: RuleScope, condition: Condition) -> Rule {
        Rule {
            id: id(name),
            municipality: id("kazanlak"),
            name: name.into(),
            version: 1,
            enabled: true,
            scope,
            quantity: None,
            condition,
            severity: Severity::Major,
        }
    }

    fn on(s: &Sensor, c: Condition) -> Rule {
        rule("r1", RuleScope::Sensor(s.id.clone()), c)
    }

    fn above(a: f64, h: f64) -> Condition {
        Condition::Threshold { above: Some(a), below: None, hysteresis: h }
    }

    fn engine(rules: Vec<Rule>) -> Engine {
        let mut e = Engine::new();
        for r in rules {
            e.set_rule(r, T0).unwrap();
        }
        e
    }

    fn obs(s: &Sensor, min: f64, v: f64) -> Observation {
        Observation::stored(s.id.clone(), at(min), None, v, None).unwrap()
    }

    fn qobs(s: &Sensor, min: f64, q: &str, v: f64) -> Observation {
        Observation::stored(s.id.clone(), at(min), Some(q.into()), v, None).unwrap()
    }

    fn pos(s: &Sensor, min: f64, p: LatLon) -> Observation {
        Observation::stored(s.id.clone(), at(min), None, 0.0, Some(p)).unwrap()
    }

    /// Feeds `(minute, value)` readings and returns the kinds of the signals, one per reading
    /// (`None` for no signal).
    fn feed(e: &mut Engine, s: &Sensor, readings: &[(f64, f64)]) -> Vec<Option<SignalKind>> {
        readings
            .iter()
            .map(|&(m, v)| {
                let sig = e.on_observation(s, &obs(s, m, v));
                assert!(sig.len() <= 1, "{sig:?}");
                sig.first().map(|x| x.kind)
            })
            .collect()
    }

    use SignalKind::{Clear, Raise, Repeat};

    fn fields(r: &Rule) -> Vec<String> {
        r.check().into_iter().map(|e| e.field).collect()
    }

    // --- validation ------------------------------------------------------------------------

    #[test]
    fn a_valid_rule_checks_clean() {
        let s = gauge();
        for c in [
            above(400.0, 5.0),
            Condition::Threshold { above: None, below: Some(10.0), hysteresis: 0.0 },
            Condition::Duration { above: Some(400.0), below: None, hysteresis: 5.0, minutes: 5 },
            Condition::RateOfChange { max_per_minute: 2.0, window_minutes: 10 },
            Condition::Silence { minutes: 30 },
            Condition::Geofence { zone: centre(), trigger: GeofenceTrigger::Enter },
        ] {
            assert!(on(&s, c.clone()).check().is_empty(), "{c:?}");
        }
        let zoned = rule("z", RuleScope::Kind { kind: SensorKind::WaterLevel, zone: Some(centre()) }, above(1.0, 0.0));
        assert!(zoned.check().is_empty());
    }

    #[test]
    fn threshold_needs_exactly_one_finite_bound_and_a_non_negative_hysteresis() {
        let s = gauge();
        let both = Condition::Threshold { above: Some(1.0), below: Some(0.0), hysteresis: 0.0 };
        assert_eq!(fields(&on(&s, both)), ["condition.above"]);
        let neither = Condition::Threshold { above: None, below: None, hysteresis: 0.0 };
        assert_eq!(fields(&on(&s, neither)), ["condition.above"]);
        assert_eq!(fields(&on(&s, above(f64::NAN, 0.0))), ["condition.above"]);
        let below_inf = Condition::Threshold { above: None, below: Some(f64::NEG_INFINITY), hysteresis: 0.0 };
        assert_eq!(fields(&on(&s, below_inf)), ["condition.below"]);
        assert_eq!(fields(&on(&s, above(1.0, -0.1))), ["condition.hysteresis"]);
        assert_eq!(fields(&on(&s, above(1.0, f64::NAN))), ["condition.hysteresis"]);
    }

    #[test]
    fn minutes_windows_and_rates_are_bounded() {
        let s = gauge();
        let d = |m| Condition::Duration { above: Some(1.0), below: None, hysteresis: 0.0, minutes: m };
        assert_eq!(fields(&on(&s, d(0))), ["condition.minutes"]);
        assert_eq!(fields(&on(&s, d(MAX_MINUTES + 1))), ["condition.minutes"]);
        assert!(fields(&on(&s, d(MAX_MINUTES))).is_empty());
        assert_eq!(fields(&on(&s, Condition::Silence { minutes: 0 })), ["condition.minutes"]);
        let r = |m, w| Condition::RateOfChange { max_per_minute: m, window_minutes: w };
        assert_eq!(fields(&on(&s, r(0.0, 10))), ["condition.max_per_minute"]);
        assert_eq!(fields(&on(&s, r(f64::INFINITY, 10))), ["condition.max_per_minute"]);
        assert_eq!(fields(&on(&s, r(1.0, 0))), ["condition.window_minutes"]);
        assert_eq!(fields(&on(&s, r(1.0, MAX_WINDOW_MINUTES + 1))), ["condition.window_minutes"]);
    }

    #[test]
    fn zones_need_three_corners_and_an_area() {
        let s = gauge();
        let two = vec![ll(42.0, 25.0), ll(42.1, 25.0)];
        let closed_two = vec![ll(42.0, 25.0), ll(42.1, 25.0), ll(42.0, 25.0)];
        let line = vec![ll(42.0, 25.0), ll(42.1, 25.0), ll(42.2, 25.0)];
        for bad in [vec![], two, closed_two, line] {
            let g = Condition::Geofence { zone: bad.clone(), trigger: GeofenceTrigger::Leave };
            assert_eq!(fields(&on(&s, g)), ["condition.zone"], "{bad:?}");
            let k = rule("k", RuleScope::Kind { kind: SensorKind::Rain, zone: Some(bad) }, above(1.0, 0.0));
            assert_eq!(fields(&k), ["zone"]);
        }
        let many: Vec<LatLon> = (0..=MAX_ZONE_CORNERS)
            .map(|i| {
                let a = i as f64 / (MAX_ZONE_CORNERS as f64 + 1.0) * std::f64::consts::TAU;
                ll(42.0 + 0.01 * a.sin(), 25.0 + 0.01 * a.cos())
            })
            .collect();
        let g = Condition::Geofence { zone: many, trigger: GeofenceTrigger::Enter };
        assert_eq!(fields(&on(&s, g)), ["condition.zone"]);
    }

    #[test]
    fn name_version_and_quantity_are_checked_all_at_once() {
        let mut r = on(&gauge(), above(1.0, 0.0));
        r.name = "  ".into();
        r.version = 0;
        r.quantity = Some("PM 2.5".into());
        assert_eq!(fields(&r), ["name", "version", "quantity"]);
        r.name = "x".repeat(MAX_NAME_CHARS + 1);
        assert!(fields(&r).contains(&"name".to_string()));
    }

    #[test]
    fn the_engine_refuses_invalid_rules_with_their_fields() {
        let mut r = on(&gauge(), Condition::Silence { minutes: 0 });
        r.version = 0;
        let e = Engine::new().set_rule(r, T0).unwrap_err();
        assert_eq!(e.kind, polis_base::ErrorKind::InvalidArgument);
        let f: Vec<_> = e.details.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(f, ["version", "condition.minutes"]);
        assert!(e.message.contains("condition.minutes"), "{}", e.message);
    }

    #[test]
    fn zone_contains_handles_concave_rings_and_closing_points() {
        // An L shape: the notch at the top right is outside.
        let l = vec![ll(0.0, 0.0), ll(0.0, 2.0), ll(1.0, 2.0), ll(1.0, 1.0), ll(2.0, 1.0), ll(2.0, 0.0)];
        assert!(zone_contains(&l, ll(0.5, 1.5)));
        assert!(zone_contains(&l, ll(1.5, 0.5)));
        assert!(!zone_contains(&l, ll(1.5, 1.5)));
        assert!(!zone_contains(&l, ll(3.0, 0.5)));
        let mut closed = l.clone();
        closed.push(l[0]);
        assert!(zone_contains(&closed, ll(0.5, 1.5)));
        assert!(!zone_contains(&closed, ll(1.5, 1.5)));
        assert!(!zone_contains(&[], ll(0.0, 0.0)));
        let z = Zone::from_latlon(&l);
        assert!(z.contains(ll(0.5, 1.5)) && !z.contains(ll(1.5, 1.5)) && !z.contains(ll(-1.0, 0.5)));
    }

    #[test]
    fn applies_to_follows_the_scope_and_the_municipality() {
        let s = gauge();
        let other = sensor("g2", SensorKind::WaterLevel, ll(42.70, 25.50));
        let rain = sensor("r1", SensorKind::Rain, ll(42.62, 25.395));
        let one = on(&s, above(1.0, 0.0));
        assert!(one.applies_to(&s) && !one.applies_to(&other));
        let kind = rule("k", RuleScope::Kind { kind: SensorKind::WaterLevel, zone: None }, above(1.0, 0.0));
        assert!(kind.applies_to(&s) && kind.applies_to(&other) && !kind.applies_to(&rain));
        let zoned = rule("z", RuleScope::Kind { kind: SensorKind::WaterLevel, zone: Some(centre()) }, above(1.0, 0.0));
        assert!(zoned.applies_to(&s) && !zoned.applies_to(&other));
        let mut elsewhere = s.clone();
        elsewhere.municipality = id("stara-zagora");
        assert!(!one.applies_to(&elsewhere) && !kind.applies_to(&elsewhere));
    }

    // --- threshold -------------------------------------------------------------------------

    #[test]
    fn threshold_raises_repeats_and_clears_with_a_message() {
        let s = gauge();
        let mut e = engine(vec![on(&s, above(400.0, 5.0))]);
        assert!(e.on_observation(&s, &obs(&s, 0.0, 390.0)).is_empty());
        let sig = e.on_observation(&s, &obs(&s, 1.0, 412.0));
        assert_eq!(
            sig,
            [Signal {
                rule: id("r1"),
                rule_version: 1,
                source: id("g1"),
                kind: Raise,
                value: Some(412.0),
                time: at(1.0),
                severity: Severity::Major,
                message: "water level 412 cm above 400 cm".into(),
                position: None,
            }]
        );
        let sig = e.on_observation(&s, &obs(&s, 2.0, 415.5));
        assert_eq!((sig[0].kind, sig[0].message.as_str()), (Repeat, "water level 415.5 cm above 400 cm"));
        let sig = e.on_observation(&s, &obs(&s, 3.0, 394.25));
        assert_eq!((sig[0].kind, sig[0].message.as_str()), (Clear, "water level 394.25 cm back below 400 cm"));
        assert!(e.on_observation(&s, &obs(&s, 4.0, 380.0)).is_empty());
    }

    #[test]
    fn threshold_below_mirrors_above() {
        let s = sensor("t1", SensorKind::Temperature, ll(42.62, 25.395));
        let c = Condition::Threshold { above: None, below: Some(-10.0), hysteresis: 2.0 };
        let mut e = engine(vec![on(&s, c)]);
        let got = feed(&mut e, &s, &[(0.0, -5.0), (1.0, -10.5), (2.0, -11.0), (3.0, -9.0), (4.0, -8.0), (5.0, -7.0)]);
        assert_eq!(got, [None, Some(Raise), Some(Repeat), None, Some(Clear), None]);
        let sig = e.on_observation(&s, &obs(&s, 6.0, -12.0));
        assert_eq!(sig[0].message, "temperature -12 below -10");
    }

    #[test]
    fn hysteresis_stops_flapping_around_the_threshold() {
        let s = gauge();
        let mut e = engine(vec![on(&s, above(400.0, 5.0))]);
        // Noise around 400: one raise, repeats above 400, silence in the band, no clear.
        let noisy: Vec<(f64, f64)> =
            (0..40).map(|i| (i as f64, if i % 2 == 0 { 401.0 } else { 396.0 + (i % 3) as f64 })).collect();
        let got = feed(&mut e, &s, &noisy);
        assert_eq!(got.iter().filter(|k| **k == Some(Raise)).count(), 1);
        assert!(!got.contains(&Some(Clear)));
        assert_eq!(got.iter().filter(|k| **k == Some(Repeat)).count(), 19);
        // Exactly at the threshold is not above it; exactly at threshold - hysteresis clears.
        assert_eq!(feed(&mut e, &s, &[(50.0, 400.0), (51.0, 395.0)]), [None, Some(Clear)]);
        assert_eq!(feed(&mut e, &s, &[(52.0, 400.0), (53.0, 400.001)]), [None, Some(Raise)]);
    }

    #[test]
    fn zero_hysteresis_clears_as_soon_as_the_value_is_not_above() {
        let s = gauge();
        let mut e = engine(vec![on(&s, above(400.0, 0.0))]);
        assert_eq!(
            feed(&mut e, &s, &[(0.0, 401.0), (1.0, 400.0), (2.0, 401.0)]),
            [Some(Raise), Some(Clear), Some(Raise)]
        );
    }

    #[test]
    fn out_of_order_observations_are_ignored() {
        let s = gauge();
        let mut e = engine(vec![on(&s, above(400.0, 5.0))]);
        assert_eq!(feed(&mut e, &s, &[(10.0, 410.0), (5.0, 300.0), (9.9, 300.0)]), [Some(Raise), None, None]);
        // The same time again is not older: it counts.
        assert_eq!(feed(&mut e, &s, &[(10.0, 420.0), (11.0, 300.0), (10.5, 450.0)]), [Some(Repeat), Some(Clear), None]);
    }

    #[test]
    fn an_observation_of_another_sensor_is_ignored() {
        let s = gauge();
        let other = sensor("g2", SensorKind::WaterLevel, ll(42.62, 25.395));
        let mut e = engine(vec![on(&s, above(400.0, 5.0))]);
        assert!(e.on_observation(&s, &obs(&other, 0.0, 500.0)).is_empty());
        assert!(e.on_observation(&other, &obs(&other, 0.0, 500.0)).is_empty());
        assert_eq!(e.state_count(), 0);
    }

    // --- duration --------------------------------------------------------------------------

    fn for_minutes(a: f64, h: f64, m: u32) -> Condition {
        Condition::Duration { above: Some(a), below: None, hysteresis: h, minutes: m }
    }

    #[test]
    fn duration_raises_only_after_the_condition_held_for_n_minutes() {
        let s = gauge();
        let mut e = engine(vec![on(&s, for_minutes(400.0, 5.0, 5))]);
        let got = feed(&mut e, &s, &[(0.0, 401.0), (1.0, 405.0), (4.9, 410.0), (5.0, 412.0), (6.0, 413.0)]);
        assert_eq!(got, [None, None, None, Some(Raise), Some(Repeat)]);
        let sig = e.on_observation(&s, &obs(&s, 7.0, 414.0));
        assert_eq!(sig[0].message, "water level 414 cm above 400 cm for 7 min");
        // In the band nothing; at 395 the alarm clears.
        assert_eq!(feed(&mut e, &s, &[(8.0, 398.0), (9.0, 395.0)]), [None, Some(Clear)]);
        // After a clear the clock starts again.
        assert_eq!(feed(&mut e, &s, &[(10.0, 401.0), (14.0, 401.0), (15.0, 401.0)]), [None, None, Some(Raise)]);
    }

    #[test]
    fn duration_restarts_when_the_value_drops_before_n_minutes() {
        let s = gauge();
        let mut e = engine(vec![on(&s, for_minutes(400.0, 5.0, 5))]);
        // A dip to 400 (not above) at minute 4 breaks the run, even inside the hysteresis band.
        let got = feed(&mut e, &s, &[(0.0, 405.0), (4.0, 400.0), (5.0, 405.0), (9.0, 405.0), (10.0, 405.0)]);
        assert_eq!(got, [None, None, None, None, Some(Raise)]);
    }

    #[test]
    fn duration_ignores_late_readings() {
        let s = gauge();
        let mut e = engine(vec![on(&s, for_minutes(400.0, 0.0, 5))]);
        // A late low reading inside the run does not break it.
        let got = feed(&mut e, &s, &[(0.0, 405.0), (3.0, 405.0), (2.0, 100.0), (5.0, 405.0)]);
        assert_eq!(got, [None, None, None, Some(Raise)]);
    }

    #[test]
    fn duration_below() {
        let s = sensor("sp", SensorKind::TrafficSpeed, ll(42.62, 25.395));
        let c = Condition::Duration { above: None, below: Some(10.0), hysteresis: 5.0, minutes: 10 };
        let mut e = engine(vec![on(&s, c)]);
        let got = feed(&mut e, &s, &[(0.0, 8.0), (9.0, 5.0), (10.0, 4.0), (11.0, 12.0), (12.0, 15.0)]);
        assert_eq!(got, [None, None, Some(Raise), None, Some(Clear)]);
    }

    // --- rate of change --------------------------------------------------------------------

    fn rate(max: f64, w: u32) -> Condition {
        Condition::RateOfChange { max_per_minute: max, window_minutes: w }
    }

    #[test]
    fn rate_of_change_raises_on_a_fast_rise_and_clears_when_it_slows() {
        let s = gauge();
        let mut e = engine(vec![on(&s, rate(2.0, 10))]);
        // Steady, slightly noisy level every 30 s for 20 minutes: nothing.
        let steady: Vec<(f64, f64)> = (0..40).map(|i| (i as f64 * 0.5, 300.0 + (i % 3) as f64)).collect();
        assert!(feed(&mut e, &s, &steady).iter().all(Option::is_none));
        // A rise of 5 cm/min: raised once the change over the window exceeds 2 cm/min.
        let rise: Vec<(f64, f64)> = (1..=20).map(|i| (20.0 + i as f64, 300.0 + 5.0 * i as f64)).collect();
        let got = feed(&mut e, &s, &rise);
        let first = got.iter().position(|k| *k == Some(Raise)).unwrap();
        assert!(first <= 5, "{got:?}");
        assert!(got[first + 1..].iter().all(|k| *k == Some(Repeat)), "{got:?}");
        let sig = e.on_observation(&s, &obs(&s, 41.0, 405.0));
        assert_eq!(sig[0].kind, Repeat);
        assert!(sig[0].message.starts_with("water level rising "), "{}", sig[0].message);
        assert!(sig[0].message.ends_with("cm/min over 10 min, faster than 2 cm/min"), "{}", sig[0].message);
        // Level again: cleared once the window no longer spans the rise.
        let flat: Vec<(f64, f64)> = (1..=15).map(|i| (41.0 + i as f64, 405.0)).collect();
        let got = feed(&mut e, &s, &flat);
        assert_eq!(got.iter().filter(|k| **k == Some(Clear)).count(), 1, "{got:?}");
        assert!(!got.contains(&Some(Raise)));
    }

    #[test]
    fn rate_of_change_sees_a_fall_and_needs_a_full_window() {
        let s = gauge();
        let mut e = engine(vec![on(&s, rate(1.0, 10))]);
        // A sharp drop within the first window raises nothing: there is no reading 10 min old.
        assert_eq!(feed(&mut e, &s, &[(0.0, 300.0), (5.0, 250.0), (9.0, 200.0)]), [None, None, None]);
        let sig = e.on_observation(&s, &obs(&s, 10.0, 190.0));
        assert_eq!(sig[0].kind, Raise);
        assert_eq!(sig[0].message, "water level falling 11 cm/min over 10 min, faster than 1 cm/min");
    }

    #[test]
    fn rate_of_change_skips_readings_after_a_long_gap() {
        let s = gauge();
        let mut e = engine(vec![on(&s, rate(1.0, 10))]);
        // 25 minutes apart: more than twice the window, no reference.
        assert_eq!(feed(&mut e, &s, &[(0.0, 100.0), (25.0, 300.0), (36.0, 300.0)]), [None, None, None]);
    }

    #[test]
    fn rate_history_stays_short_at_high_rates() {
        let s = gauge();
        let mut e = engine(vec![on(&s, rate(1000.0, 10))]);
        for i in 0..6_000 {
            e.on_observation(&s, &obs(&s, i as f64 * 0.01, 1.0));
        }
        let len = e.slots[0].as_ref().unwrap().states[&s.id].history.len();
        assert!(len <= 25, "{len}");
    }

    // --- silence ---------------------------------------------------------------------------

    #[test]
    fn silence_raises_on_tick_and_clears_on_the_next_observation() {
        let s = gauge();
        let quiet = sensor("g2", SensorKind::WaterLevel, ll(42.62, 25.395));
        let mut e = engine(vec![rule(
            "silent",
            RuleScope::Kind { kind: SensorKind::WaterLevel, zone: None },
            Condition::Silence { minutes: 30 },
        )]);
        let all = [s.clone(), quiet.clone()];
        e.on_observation(&s, &obs(&s, 20.0, 300.0));
        // The never-heard sensor counts from when the rule was set (T0).
        assert!(e.on_tick(at(29.0), &all).is_empty());
        let sig = e.on_tick(at(30.0), &all);
        assert_eq!(sig.len(), 1);
        assert_eq!((sig[0].kind, &sig[0].source, sig[0].value), (Raise, &quiet.id, None));
        assert_eq!(sig[0].message, "no data from g2 sensor for 30 min");
        assert_eq!(sig[0].time, at(30.0));
        // Raised once, not on every tick.
        assert!(e.on_tick(at(40.0), &all).is_empty());
        let sig = e.on_tick(at(50.0), &all);
        assert_eq!((sig.len(), &sig[0].source), (1, &s.id));
        let sig = e.on_observation(&s, &obs(&s, 51.0, 300.0));
        assert_eq!((sig[0].kind, sig[0].message.as_str()), (Clear, "g1 sensor reporting again"));
        assert!(e.on_observation(&s, &obs(&s, 52.0, 300.0)).is_empty());
        assert!(e.on_tick(at(81.0), &all).is_empty());
        assert_eq!(e.on_tick(at(82.0), &all).len(), 1);
    }

    #[test]
    fn silence_of_one_quantity() {
        let s = sensor("aq1", SensorKind::AirQuality, ll(42.62, 25.395));
        let mut r = on(&s, Condition::Silence { minutes: 10 });
        r.quantity = Some("pm25".into());
        let mut e = engine(vec![r]);
        e.on_observation(&s, &qobs(&s, 0.0, "pm10", 20.0));
        let sig = e.on_tick(at(10.0), [&s]);
        assert_eq!(sig[0].message, "no pm25 data from aq1 sensor for 10 min");
        assert!(e.on_observation(&s, &qobs(&s, 11.0, "pm10", 20.0)).is_empty());
        assert_eq!(e.on_observation(&s, &qobs(&s, 11.0, "pm25", 20.0))[0].kind, Clear);
    }

    #[test]
    fn ticks_without_silence_rules_do_nothing() {
        let s = gauge();
        let mut e = engine(vec![on(&s, above(1.0, 0.0))]);
        assert!(e.on_tick(at(1000.0), [&s]).is_empty());
        assert_eq!(e.state_count(), 0);
    }

    // --- geofence --------------------------------------------------------------------------

    fn bus() -> Sensor {
        sensor("bus7", SensorKind::Other, ll(42.60, 25.38))
    }

    #[test]
    fn geofence_enter_raises_on_entering_and_clears_on_leaving() {
        let b = bus();
        let fence = Condition::Geofence { zone: centre(), trigger: GeofenceTrigger::Enter };
        let mut e = engine(vec![on(&b, fence)]);
        let (out, inn) = (ll(42.60, 25.38), ll(42.62, 25.395));
        let kinds = |e: &mut Engine, m: f64, p: LatLon| e.on_observation(&b, &pos(&b, m, p)).first().map(|s| s.kind);
        assert_eq!(kinds(&mut e, 0.0, out), None);
        let sig = e.on_observation(&b, &pos(&b, 1.0, inn));
        assert_eq!((sig[0].kind, sig[0].message.as_str()), (Raise, "bus7 sensor entered zone \"r1\""));
        assert_eq!(kinds(&mut e, 2.0, inn), Some(Repeat));
        // A reading without a position says nothing about the zone.
        assert!(e.on_observation(&b, &obs(&b, 2.5, 1.0)).is_empty());
        let sig = e.on_observation(&b, &pos(&b, 3.0, out));
        assert_eq!((sig[0].kind, sig[0].message.as_str()), (Clear, "bus7 sensor left zone \"r1\""));
        assert_eq!(kinds(&mut e, 4.0, out), None);
        // A late position from inside changes nothing.
        assert_eq!(kinds(&mut e, 3.5, inn), None);
    }

    #[test]
    fn geofence_first_position_sets_the_baseline() {
        let b = bus();
        let fence = Condition::Geofence { zone: centre(), trigger: GeofenceTrigger::Enter };
        let mut e = engine(vec![on(&b, fence)]);
        let inn = ll(42.62, 25.395);
        assert!(e.on_observation(&b, &pos(&b, 0.0, inn)).is_empty());
        assert!(e.on_observation(&b, &pos(&b, 1.0, inn)).is_empty());
    }

    #[test]
    fn geofence_leave() {
        let b = bus();
        let fence = Condition::Geofence { zone: centre(), trigger: GeofenceTrigger::Leave };
        let mut e = engine(vec![on(&b, fence)]);
        let (out, inn) = (ll(42.60, 25.38), ll(42.62, 25.395));
        let got: Vec<_> = [(0.0, inn), (1.0, inn), (2.0, out), (3.0, out), (4.0, inn), (5.0, out)]
            .iter()
            .map(|&(m, p)| e.on_observation(&b, &pos(&b, m, p)).first().map(|s| (s.kind, s.message.clone())))
            .collect();
        let msg = |k, m: &str| Some((k, format!("bus7 sensor {m} zone \"r1\"")));
        assert_eq!(
            got,
            [
                None,
                None,
                msg(Raise, "left"),
                msg(Repeat, "still outside"),
                msg(Clear, "back inside"),
                msg(Raise, "left")
            ]
        );
    }

    // --- scope and quantity ------------------------------------------------------------------

    #[test]
    fn rules_match_the_quantity_exactly() {
        let s = sensor("aq1", SensorKind::AirQuality, ll(42.62, 25.395));
        let mut pm25 = rule("pm25", RuleScope::Sensor(s.id.clone()), above(50.0, 5.0));
        pm25.quantity = Some("pm25".into());
        let main = rule("main", RuleScope::Sensor(s.id.clone()), above(50.0, 5.0));
        let mut e = engine(vec![pm25, main]);
        let sig = e.on_observation(&s, &qobs(&s, 0.0, "pm25", 60.0));
        assert_eq!(sig.len(), 1);
        assert_eq!((sig[0].rule.as_str(), sig[0].message.as_str()), ("pm25", "pm25 60 above 50"));
        assert!(e.on_observation(&s, &qobs(&s, 1.0, "pm10", 90.0)).is_empty());
        let sig = e.on_observation(&s, &obs(&s, 2.0, 70.0));
        assert_eq!((sig.len(), sig[0].rule.as_str()), (1, "main"));
    }

    #[test]
    fn kind_rules_with_a_zone_watch_only_sensors_inside_it() {
        let inside = gauge();
        let outside = sensor("g9", SensorKind::WaterLevel, ll(42.70, 25.50));
        let rain = sensor("rain1", SensorKind::Rain, ll(42.62, 25.395));
        let mut elsewhere = sensor("g5", SensorKind::WaterLevel, ll(42.62, 25.395));
        elsewhere.municipality = id("stara-zagora");
        let zoned =
            rule("zoned", RuleScope::Kind { kind: SensorKind::WaterLevel, zone: Some(centre()) }, above(100.0, 0.0));
        let everywhere = rule("all", RuleScope::Kind { kind: SensorKind::WaterLevel, zone: None }, above(200.0, 0.0));
        let mut e = engine(vec![zoned, everywhere]);
        let rules_hit = |e: &mut Engine, s: &Sensor| {
            let mut r: Vec<String> =
                e.on_observation(s, &obs(s, 0.0, 500.0)).into_iter().map(|x| x.rule.to_string()).collect();
            r.sort();
            r
        };
        assert_eq!(rules_hit(&mut e, &inside), ["all", "zoned"]);
        assert_eq!(rules_hit(&mut e, &outside), ["all"]);
        assert!(rules_hit(&mut e, &rain).is_empty());
        assert!(rules_hit(&mut e, &elsewhere).is_empty());
    }

    #[test]
    fn disabled_rules_are_not_evaluated() {
        let s = gauge();
        let mut r = on(&s, above(1.0, 0.0));
        r.enabled = false;
        let mut e = engine(vec![r.clone()]);
        assert!(e.on_observation(&s, &obs(&s, 0.0, 5.0)).is_empty());
        assert_eq!(e.len(), 1);
        r.enabled = true;
        r.version = 2;
        e.set_rule(r, T0).unwrap();
        assert_eq!(e.on_observation(&s, &obs(&s, 1.0, 5.0))[0].kind, Raise);
    }

    // --- rule lifecycle -------------------------------------------------------------------

    #[test]
    fn a_new_version_resets_the_rules_state() {
        let s = gauge();
        let r = on(&s, above(400.0, 5.0));
        let mut e = engine(vec![r.clone()]);
        assert_eq!(feed(&mut e, &s, &[(0.0, 410.0)]), [Some(Raise)]);
        // Setting the same rule again keeps the state.
        e.set_rule(r.clone(), at(1.0)).unwrap();
        assert_eq!(feed(&mut e, &s, &[(1.0, 411.0)]), [Some(Repeat)]);
        // A new version starts afresh and signals with its own version.
        let mut r2 = r.clone();
        r2.version = 2;
        r2.condition = above(405.0, 5.0);
        e.set_rule(r2, at(2.0)).unwrap();
        let sig = e.on_observation(&s, &obs(&s, 2.0, 412.0));
        assert_eq!((sig[0].kind, sig[0].rule_version), (Raise, 2));
        // An older version is refused and changes nothing.
        let err = e.set_rule(r, at(3.0)).unwrap_err();
        assert_eq!(err.kind, polis_base::ErrorKind::FailedPrecondition);
        assert_eq!(e.rule(&id("r1")).unwrap().version, 2);
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn replacing_a_rule_moves_it_in_the_index() {
        let a = gauge();
        let b = sensor("g2", SensorKind::WaterLevel, ll(42.62, 25.395));
        let mut e = engine(vec![on(&a, above(1.0, 0.0))]);
        let mut moved = on(&b, above(1.0, 0.0));
        moved.version = 2;
        e.set_rule(moved, T0).unwrap();
        assert!(e.on_observation(&a, &obs(&a, 0.0, 5.0)).is_empty());
        assert_eq!(e.on_observation(&b, &obs(&b, 0.0, 5.0)).len(), 1);
    }

    #[test]
    fn removing_a_rule_drops_it_and_its_slot_is_reused() {
        let s = gauge();
        let mut e = engine(vec![on(&s, above(1.0, 0.0)), rule("r2", RuleScope::Sensor(s.id.clone()), above(2.0, 0.0))]);
        assert_eq!(e.on_observation(&s, &obs(&s, 0.0, 5.0)).len(), 2);
        assert_eq!(e.remove_rule(&id("r1")).map(|r| r.id), Some(id("r1")));
        assert!(e.remove_rule(&id("r1")).is_none());
        assert_eq!(e.on_observation(&s, &obs(&s, 1.0, 5.0)).len(), 1);
        e.set_rule(rule("r3", RuleScope::Sensor(s.id.clone()), above(3.0, 0.0)), T0).unwrap();
        assert_eq!(e.slots.len(), 2);
        let mut names: Vec<_> = e.rules().map(|r| r.id.to_string()).collect();
        names.sort();
        assert_eq!(names, ["r2", "r3"]);
        assert!(!e.is_empty());
    }

    #[test]
    fn restore_active_lets_a_restarted_engine_clear_an_open_alarm() {
        let s = gauge();
        let mut e = engine(vec![on(&s, above(400.0, 5.0))]);
        assert!(e.restore_active(&id("r1"), &s.id));
        assert!(!e.restore_active(&id("nope"), &s.id));
        assert_eq!(feed(&mut e, &s, &[(0.0, 410.0), (1.0, 390.0)]), [Some(Repeat), Some(Clear)]);
    }

    #[test]
    fn reset_makes_the_next_violation_raise_anew() {
        let s = gauge();
        let mut e = engine(vec![on(&s, above(400.0, 5.0))]);
        assert_eq!(feed(&mut e, &s, &[(0.0, 410.0)]), [Some(Raise)]);
        assert!(e.reset(&id("r1"), &s.id));
        assert_eq!(feed(&mut e, &s, &[(1.0, 410.0)]), [Some(Raise)]);
        e.forget_sensor(&s.id);
        assert_eq!(e.state_count(), 0);
        assert_eq!(feed(&mut e, &s, &[(2.0, 410.0)]), [Some(Raise)]);
    }

    #[test]
    fn numbers_in_messages_are_short() {
        assert_eq!(num(412.0), "412");
        assert_eq!(num(0.1 + 0.2), "0.3");
        assert_eq!(num(-0.0001), "0");
        assert_eq!(num(-2.5), "-2.5");
        assert_eq!(num(1e6), "1000000");
    }

    #[test]
    fn names_of_condition_types_severities_and_triggers() {
        assert_eq!(above(400.0, 5.0).type_name(), "threshold");
        assert_eq!(rate(1.0, 1).type_name(), "rate_of_change");
        assert_eq!(Severity::parse("severity", "Critical").unwrap(), Severity::Critical);
        assert!(Severity::Critical < Severity::Warning);
        assert_eq!(GeofenceTrigger::parse("trigger", "leave").unwrap(), GeofenceTrigger::Leave);
    }

    // --- properties ------------------------------------------------------------------------

    /// Checks that raises and clears alternate, starting with a raise, and that repeats come
    /// only between a raise and its clear.
    fn alternates(kinds: &[SignalKind]) -> bool {
        let mut active = false;
        kinds.iter().all(|k| {
            let ok = match k {
                Raise => !active,
                Repeat | Clear => active,
            };
            active = *k != Clear;
            ok
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn threshold_signals_alternate_starting_with_raise(
            values in proptest::collection::vec(350.0..450.0f64, 0..200),
            limit in 380.0..420.0f64,
            hysteresis in 0.0..20.0f64,
            use_below in proptest::bool::ANY,
        ) {
            let s = gauge();
            let c = if use_below {
                Condition::Threshold { above: None, below: Some(limit), hysteresis }
            } else {
                above(limit, hysteresis)
            };
            let mut e = engine(vec![on(&s, c)]);
            let mut kinds = Vec::new();
            for (i, v) in values.iter().enumerate() {
                for sig in e.on_observation(&s, &obs(&s, i as f64, *v)) {
                    // Raises and repeats only beyond the limit; clears only past the hysteresis.
                    let beyond = if use_below { *v < limit } else { *v > limit };
                    let back = if use_below { *v >= limit + hysteresis } else { *v <= limit - hysteresis };
                    match sig.kind {
                        Raise | Repeat => proptest::prop_assert!(beyond),
                        Clear => proptest::prop_assert!(back),
                    }
                    kinds.push(sig.kind);
                }
            }
            proptest::prop_assert!(alternates(&kinds), "{kinds:?}");
        }

        #[test]
        fn other_conditions_alternate_too_even_with_shuffled_times(
            readings in proptest::collection::vec((0.0..120.0f64, 0.0..100.0f64, proptest::bool::ANY), 0..150),
            which in 0..3usize,
        ) {
            let s = gauge();
            let c = match which {
                0 => for_minutes(50.0, 10.0, 5),
                1 => rate(5.0, 5),
                _ => Condition::Geofence { zone: centre(), trigger: GeofenceTrigger::Enter },
            };
            let mut e = engine(vec![on(&s, c)]);
            let mut kinds = Vec::new();
            for (m, v, inside) in readings {
                let p = if inside { ll(42.62, 25.395) } else { ll(42.60, 25.38) };
                let o = Observation::stored(s.id.clone(), at(m), None, v, Some(p)).unwrap();
                kinds.extend(e.on_observation(&s, &o).into_iter().map(|x| x.kind));
            }
            proptest::prop_assert!(alternates(&kinds), "{kinds:?}");
        }
    }
    #[test]
    fn a_replay_says_when_a_rule_would_have_fired_and_cleared() {
        let g = gauge();
        let rule = Rule {
            id: id("r-preview"),
            municipality: g.municipality.clone(),
            name: "level".into(),
            version: 1,
            enabled: false,
            scope: RuleScope::Sensor(g.id.clone()),
            quantity: None,
            condition: Condition::Threshold { above: Some(400.0), below: None, hysteresis: 5.0 },
            severity: Severity::Major,
        };
        let readings: Vec<Observation> =
            [380.0, 405.0, 410.0, 398.0, 390.0, 420.0].iter().enumerate().map(|(i, v)| obs(&g, i as f64, *v)).collect();
        let got = replay(&rule, std::slice::from_ref(&g), &readings, at(-60.0), at(10.0)).unwrap();
        let kinds: Vec<(SignalKind, f64)> = got.iter().map(|s| (s.kind, s.value.unwrap())).collect();
        // Raised at 405 (a disabled rule is previewed as if enabled), not again at 410, cleared
        // at 390 (398 is within the hysteresis), raised again at 420.
        assert_eq!(kinds, vec![(SignalKind::Raise, 405.0), (SignalKind::Clear, 390.0), (SignalKind::Raise, 420.0)]);
        assert_eq!(got[0].time, at(1.0));

        // Silence: a gauge quiet for 20 minutes raises once, 15 minutes after its last reading.
        let quiet = Rule { condition: Condition::Silence { minutes: 15 }, ..rule.clone() };
        let two = vec![obs(&g, 0.0, 1.0), obs(&g, 40.0, 1.0)];
        let got = replay(&quiet, std::slice::from_ref(&g), &two, at(-1.0), at(45.0)).unwrap();
        let seen: Vec<(SignalKind, OffsetDateTime)> = got.iter().map(|s| (s.kind, s.time)).collect();
        assert_eq!(seen, vec![(SignalKind::Raise, at(15.0)), (SignalKind::Clear, at(40.0))]);

        // An invalid rule is refused with its field.
        let bad = Rule { name: String::new(), ..rule };
        assert!(replay(&bad, &[g], &readings, at(0.0), at(1.0)).is_err());
    }
}
