//! Live city data: observations in (HTTP, MQTT, the simulator), stored durably, evaluated by the
//! rules engine in memory, turned into alarms with exactly one open alarm per (rule, source),
//! and published on the live bus.
//!
//! Order of a batch: validate each observation (rejecting bad ones with a reason, keeping the
//! rest) -> store the batch (acknowledged only once durable) -> evaluate rules -> apply signals to
//! alarms under one lock (so concurrent intake of one source cannot open two alarms; the store's
//! partial unique index is the second guard) -> publish.
//!
//! Evaluation and application are one ordered step: signals are queued while the engine is
//! locked, so the queue holds them in the order the engine produced them, and whoever holds the
//! alarm lock applies the whole queue in that order (its own signals and any a concurrent batch
//! queued meanwhile). A clear therefore never overtakes the raise it answers, and a batch that
//! raises nothing never waits for the alarm lock.

use crate::live::{Change, LiveEvent};
use crate::registry::new_id;
use crate::App;
use polis_base::{Error, FieldError, Result};
use polis_domain::{
    Actor, Alarm, AlarmKey, Id, LatLon, Observation, Role, Rule, Sensor, Signal, SignalKind, TimeWindow,
};
use polis_ingest::RawObservation;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The most sensors a rule preview replays.
pub const PREVIEW_MAX_SENSORS: usize = 2_000;
/// The most readings a rule preview replays.
pub const PREVIEW_MAX_READINGS: usize = 500_000;

/// What a rule would have done over past readings ([`App::preview_rule`]).
#[derive(Debug, Clone)]
pub struct RulePreview {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    /// How many sensors the rule applies to (those replayed).
    pub sensors: usize,
    /// How many stored readings were replayed.
    pub readings: usize,
    /// Whether there were more sensors or readings than a preview replays.
    pub truncated: bool,
    /// Every raise and clear, oldest first.
    pub signals: Vec<polis_domain::Signal>,
}

/// How old an observation may be when it arrives.
pub const MAX_OBSERVATION_AGE: time::Duration = time::Duration::days(7);

/// The live state: the rules engine, the signals it produced that are not applied yet, and the
/// open alarms. Lock order: alarms, then engine, then pending (then written); alarms, then the
/// write gate.
pub struct Live {
    engine: std::sync::Mutex<polis_domain::Engine>,
    /// Signals in the order the engine produced them; pushed only while the engine is locked.
    pending: std::sync::Mutex<VecDeque<Pending>>,
    alarms: tokio::sync::Mutex<HashMap<AlarmKey, Alarm>>,
    /// When each open alarm was last written and published, and whether it has repeats since
    /// that are only in `alarms` (see [`REPEAT_EVERY`]). Changed only under the alarm lock.
    written: std::sync::Mutex<HashMap<AlarmKey, Written>>,
    /// Held while alarm rows are written and published, so that they reach the store and the
    /// bus in the order of their changes: the flush of coalesced repeats writes without the
    /// alarm lock (intake goes on meanwhile), and a change of state waits for it.
    write_gate: tokio::sync::Mutex<()>,
}

/// An alarm storm (readings above the level while the alarm is active) is coalesced: the
/// repeats of an active alarm are counted in memory, and the alarm (with its count and newest
/// value) is written and published at most once per this long. A change of state (raise,
/// clear, acknowledgement) is written at once, with every repeat before it.
pub const REPEAT_EVERY: time::Duration = time::Duration::seconds(1);

#[derive(Debug, Clone, Copy)]
struct Written {
    at: OffsetDateTime,
    /// Repeats applied in memory since `at`.
    unwritten: u32,
}

/// A signal waiting for the alarm lock, with the sensor it is about and the counter of alarm
/// changes of the batch (or tick) that produced it.
struct Pending {
    signal: Signal,
    sensor: Option<Sensor>,
    changed: Arc<AtomicUsize>,
}

impl Live {
    /// Loads rules and open alarms; marks active alarms in the engine so that it clears them
    /// when their condition ends instead of raising them again.
    pub(crate) async fn load(store: &dyn polis_store::Store, now: OffsetDateTime) -> Result<Live> {
        let mut engine = polis_domain::Engine::new();
        for rule in store.list_rules().await? {
            engine.set_rule(rule, now)?;
        }
        let mut alarms = HashMap::new();
        for alarm in store.open_alarms().await? {
            if alarm.is_active() {
                engine.restore_active(&alarm.rule, &alarm.source);
            }
            alarms.insert(alarm.key(), alarm);
        }
        Ok(Live {
            engine: std::sync::Mutex::new(engine),
            pending: std::sync::Mutex::new(VecDeque::new()),
            alarms: tokio::sync::Mutex::new(alarms),
            written: std::sync::Mutex::new(HashMap::new()),
            write_gate: tokio::sync::Mutex::new(()),
        })
    }

    fn written(&self) -> std::sync::MutexGuard<'_, HashMap<AlarmKey, Written>> {
        self.written.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The alarm was just written (and published) as it is in memory.
    fn note_written(&self, key: &AlarmKey, at: OffsetDateTime, open: bool) {
        let mut w = self.written();
        if open {
            w.insert(key.clone(), Written { at, unwritten: 0 });
        } else {
            w.remove(key);
        }
    }

    /// A repeat of an active alarm was applied in memory only: [`App::flush_alarm_repeats`]
    /// writes it (with the others due, in one transaction) once the last write is
    /// [`REPEAT_EVERY`] old; never inline, so that a storm of many alarms costs one write a
    /// second, not one per alarm.
    fn note_repeat(&self, key: &AlarmKey, now: OffsetDateTime) {
        let mut w = self.written();
        w.entry(key.clone()).or_insert(Written { at: now - REPEAT_EVERY, unwritten: 0 }).unwritten += 1;
    }

    fn engine(&self) -> std::sync::MutexGuard<'_, polis_domain::Engine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `evaluate` on the engine and queues the signals it returns, in order, while the
    /// engine is still locked. Returns the counter the appliers add this step's alarm changes to,
    /// or `None` if there were no signals.
    fn evaluate(
        &self,
        sensors: &HashMap<Id, Sensor>,
        evaluate: impl FnOnce(&mut polis_domain::Engine) -> Vec<Signal>,
    ) -> Option<Arc<AtomicUsize>> {
        let mut engine = self.engine();
        let signals = evaluate(&mut engine);
        if signals.is_empty() {
            return None;
        }
        let changed = Arc::new(AtomicUsize::new(0));
        let mut pending = self.pending();
        for signal in signals {
            let sensor = sensors.get(&signal.source).cloned();
            pending.push_back(Pending { signal, sensor, changed: changed.clone() });
        }
        Some(changed)
    }
}

/// One observation refused, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Its index in the batch.
    pub index: usize,
    pub field: String,
    pub reason: String,
}

/// What happened to a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntakeReport {
    /// Observations stored (a multi-value item counts once per value).
    pub accepted: usize,
    pub rejected: Vec<Rejection>,
    /// Alarms opened or changed by this batch.
    pub alarms_changed: usize,
}

fn number(v: &serde_json::Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

impl App {
    /// Takes a batch of observations. `actor` is the person or device posting (HTTP), `None`
    /// for MQTT and the in-process simulator, which name their `municipality` instead.
    /// Returns once the accepted observations are durable.
    pub async fn ingest(
        &self,
        actor: Option<&Actor>,
        municipality: Option<&str>,
        batch: Vec<RawObservation>,
    ) -> Result<IntakeReport> {
        if let Some(a) = actor {
            if matches!(a.role, Role::Viewer | Role::Agency) {
                return Err(Error::permission_denied("this role may not send observations"));
            }
        }
        let now = self.clock().now();
        let window = TimeWindow::new(now, MAX_OBSERVATION_AGE);
        let mut report = IntakeReport::default();
        let mut accepted: Vec<Observation> = Vec::with_capacity(batch.len());
        let mut sensors: HashMap<Id, Sensor> = HashMap::new();
        {
            let reg = self.registry().await;
            for (index, raw) in batch.into_iter().enumerate() {
                let mut reject = |field: &str, reason: String| {
                    report.rejected.push(Rejection { index, field: field.to_string(), reason })
                };
                let sensor = Id::parse("sensor", &raw.sensor).ok().and_then(|id| reg.sensors.get(&id));
                let sensor = match sensor {
                    Some(s)
                        if actor.is_none_or(|a| a.sees(&s.municipality))
                            && municipality.is_none_or(|m| m == s.municipality.as_str()) =>
                    {
                        s
                    }
                    _ => {
                        reject("sensor", format!("unknown sensor {:?}", raw.sensor));
                        continue;
                    }
                };
                let time = match OffsetDateTime::parse(&raw.time, &Rfc3339) {
                    Ok(t) => t,
                    Err(_) => {
                        reject("time", format!("{:?} is not an RFC 3339 time", raw.time));
                        continue;
                    }
                };
                let position = match (raw.lat, raw.lon) {
                    (Some(lat), Some(lon)) => match LatLon::new(lat, lon) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            reject("lat", e.message);
                            continue;
                        }
                    },
                    _ => None,
                };
                let mut values: Vec<(Option<String>, f64)> = Vec::new();
                match (&raw.value, &raw.values) {
                    (Some(v), _) => match number(v) {
                        Some(x) => values.push((None, x)),
                        None => {
                            reject("value", format!("{v} is not a number"));
                            continue;
                        }
                    },
                    (None, Some(map)) if !map.is_empty() => {
                        let mut bad = None;
                        for (q, v) in map {
                            match number(v) {
                                Some(x) => values.push((Some(q.clone()), x)),
                                None => bad = Some(format!("values.{q}: {v} is not a number")),
                            }
                        }
                        if let Some(b) = bad {
                            reject("values", b);
                            continue;
                        }
                    }
                    _ => {
                        reject("value", "a value (or named values) is required".into());
                        continue;
                    }
                }
                let mut parsed = Vec::with_capacity(values.len());
                let mut failed = None;
                for (q, x) in values {
                    match Observation::new(sensor.id.clone(), time, q, x, position, &window) {
                        Ok(o) => parsed.push(o),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                if let Some(e) = failed {
                    let field = e.details.first().map(|d| d.field.clone()).unwrap_or_else(|| "value".into());
                    reject(&field, e.message);
                    continue;
                }
                sensors.entry(sensor.id.clone()).or_insert_with(|| sensor.clone());
                accepted.extend(parsed);
            }
        }
        if accepted.is_empty() {
            return Ok(report);
        }
        self.store().insert_observations(&accepted).await?;
        report.accepted = accepted.len();
        match self.region_readings.get() {
            // In a region the leader evaluates every reading, in one order, from the queue: the
            // batch is acknowledged once the queue holds it (a failure here answers 503, and
            // the sender's retry is stored once).
            Some(queue) => queue.push(&accepted).await?,
            None => report.alarms_changed = self.evaluate_with(&sensors, &accepted).await?,
        }
        // The newest reading of each sensor (and quantity) of the batch, for live maps and charts.
        let mut latest: BTreeMap<(&Id, Option<&str>), &Observation> = BTreeMap::new();
        for o in &accepted {
            let e = latest.entry((o.sensor(), o.quantity())).or_insert(o);
            if o.time() >= e.time() {
                *e = o;
            }
        }
        for o in latest.into_values() {
            // An SOS wearer's track does not go to every console of the municipality.
            if self.is_sos_tracker(o.sensor()) {
                continue;
            }
            let m = sensors.get(o.sensor()).map(|s| s.municipality.clone());
            self.bus().publish(m, LiveEvent::Observation(o.clone()));
        }
        Ok(report)
    }

    /// Runs the rules on stored readings and applies what they signal; returns how many alarms
    /// changed.
    async fn evaluate_with(&self, sensors: &HashMap<Id, Sensor>, readings: &[Observation]) -> Result<usize> {
        let queued = self.live.evaluate(sensors, |engine| {
            readings
                .iter()
                .filter_map(|o| sensors.get(o.sensor()).map(|s| (s, o)))
                .flat_map(|(s, o)| engine.on_observation(s, o))
                .collect()
        });
        // Signals left by a batch whose caller went away are applied by the next one.
        if queued.is_some() || !self.live.pending().is_empty() {
            let mut alarms = self.live.alarms.lock().await;
            self.apply_pending(&mut alarms).await?;
        }
        Ok(queued.map_or(0, |c| c.load(Ordering::SeqCst)))
    }

    /// Makes this node one of a region whose rules are evaluated once: its readings go to
    /// `queue` once stored, and [`App::run_region_rules`] (run by the leader) evaluates them.
    pub fn evaluate_in_region(&self, queue: Arc<crate::nats_bus::WorkQueue<Vec<Observation>>>) {
        let _ = self.region_readings.set(queue);
    }

    /// The leader's duty in a region: takes the state of the alarms and the rules from the store
    /// (another node may have evaluated until now), replays the stored readings the rules need
    /// (as after a crash), then evaluates every node's readings from the queue, in order. Runs
    /// until the task is dropped (the node lost the lead).
    pub async fn run_region_rules(self: Arc<Self>) {
        let Some(queue) = self.region_readings.get().cloned() else { return };
        loop {
            match self.reload_live().await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "region: cannot load the alarms to evaluate rules; trying again");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
        if let Err(e) = self.settle_alarms().await {
            tracing::warn!(error = %e, "region: settling the alarms on taking the lead failed");
        }
        let app = self.clone();
        queue
            .serve("rules", move |readings: Vec<Observation>| {
                let app = app.clone();
                async move {
                    let sensors: HashMap<Id, Sensor> = {
                        let reg = app.registry().await;
                        readings
                            .iter()
                            .filter_map(|o| reg.sensors.get(o.sensor()).map(|s| (s.id.clone(), s.clone())))
                            .collect()
                    };
                    app.evaluate_with(&sensors, &readings).await.map(|_| ())
                }
            })
            .await;
    }

    /// Replaces the rules engine and the open alarms in memory by what the store holds.
    async fn reload_live(&self) -> Result<()> {
        let fresh = Live::load(&**self.store(), self.clock().now()).await?;
        let mut alarms = self.live.alarms.lock().await;
        *alarms = fresh.alarms.into_inner();
        *self.live.engine() = fresh.engine.into_inner().unwrap_or_else(|p| p.into_inner());
        self.live.pending().clear();
        self.live.written().clear();
        Ok(())
    }

    /// Raises silence alarms: call it periodically (the server does every 15 seconds).
    pub async fn tick(&self) -> Result<usize> {
        let now = self.clock().now();
        let sensors: HashMap<Id, Sensor> = self.registry().await.sensors.clone().into_iter().collect();
        let queued = self.live.evaluate(&sensors, |engine| engine.on_tick(now, sensors.values()));
        if queued.is_some() || !self.live.pending().is_empty() {
            let mut alarms = self.live.alarms.lock().await;
            self.apply_pending(&mut alarms).await?;
        }
        Ok(queued.map_or(0, |c| c.load(Ordering::SeqCst)))
    }

    /// Turns every queued signal into alarm changes, oldest first; the caller holds the alarm
    /// lock. A signal leaves the queue only once applied, so a caller that is cancelled midway
    /// leaves the rest to the next one.
    async fn apply_pending(&self, alarms: &mut HashMap<AlarmKey, Alarm>) -> Result<()> {
        loop {
            // A repeat of an active alarm (an alarm storm: half the signals of a batch) is
            // applied in place, in memory, without copying the alarm or the signal, and without
            // an await between taking it and applying it (so cancellation cannot split them).
            {
                let mut pending = self.live.pending();
                let Some(front) = pending.front() else { return Ok(()) };
                if front.signal.kind != SignalKind::Clear {
                    let key = AlarmKey::of(&front.signal);
                    if let Some(open) = alarms.get_mut(&key).filter(|a| a.is_active()) {
                        match open.apply(&front.signal) {
                            Ok(()) => {
                                self.live.note_repeat(&key, self.clock().now());
                                front.changed.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => tracing::warn!(error = %e, "signal not applied"),
                        }
                        pending.pop_front();
                        continue;
                    }
                }
            }
            let next = self.live.pending().front().map(|p| (p.signal.clone(), p.sensor.clone(), p.changed.clone()));
            let Some((signal, sensor, changed)) = next else { return Ok(()) };
            let applied = self.apply_signal(alarms, &signal, sensor.as_ref()).await;
            self.live.pending().pop_front();
            if applied? {
                changed.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Applies one rule signal to the alarms; returns whether an alarm changed.
    async fn apply_signal(
        &self,
        alarms: &mut HashMap<AlarmKey, Alarm>,
        signal: &Signal,
        sensor: Option<&Sensor>,
    ) -> Result<bool> {
        let key = AlarmKey::of(signal);
        let alarm = match alarms.get(&key) {
            Some(open) => {
                let mut a = open.clone();
                if let Err(e) = a.apply(signal) {
                    tracing::warn!(error = %e, "signal not applied");
                    return Ok(false);
                }
                // A repeat while active changes only the count and the newest value: counted in
                // memory, written and published at most once per REPEAT_EVERY.
                if open.is_active() && a.state == open.state {
                    self.live.note_repeat(&key, self.clock().now());
                    alarms.insert(key, a);
                    return Ok(true);
                }
                a
            }
            None if signal.kind == SignalKind::Clear => return Ok(false),
            None => {
                let Some(sensor) = sensor else { return Ok(false) };
                // Where the reading was taken (a moving device), else where the sensor stands.
                let at = signal.position.unwrap_or(sensor.position);
                self.record_event(&sensor.municipality, at).await;
                Alarm::open(new_id("alarm"), sensor.municipality.clone(), signal, Some(at))?
            }
        };
        self.commit_alarm(alarms, key, alarm).await?;
        Ok(true)
    }

    /// Stores an alarm's new state, keeps the open ones in memory, and publishes it. The caller
    /// holds the alarm lock.
    async fn commit_alarm(&self, alarms: &mut HashMap<AlarmKey, Alarm>, key: AlarmKey, alarm: Alarm) -> Result<()> {
        let _gate = self.live.write_gate.lock().await;
        self.store().put_alarm(&alarm, None).await?;
        self.live.note_written(&key, self.clock().now(), alarm.is_open());
        if alarm.is_open() {
            alarms.insert(key, alarm.clone());
        } else {
            alarms.remove(&key);
        }
        self.bus().publish(Some(alarm.municipality.clone()), LiveEvent::Alarm(Box::new(alarm)));
        Ok(())
    }

    /// Writes and publishes the alarms whose repeats were only counted in memory (an alarm
    /// storm, see [`REPEAT_EVERY`]): those last written at least `REPEAT_EVERY` ago, or with
    /// `all` every one (at shutdown). One transaction for all of them. Returns how many.
    ///
    /// The alarms are taken as they are under the alarm lock, which is then let go before the
    /// write, so that intake is not held up by it (in a storm every batch needs that lock for
    /// its repeats); the write gate, taken before the lock is let go, keeps a change of state
    /// made meanwhile from being written or published before this older state.
    pub async fn flush_alarm_repeats(&self, all: bool) -> Result<usize> {
        let now = self.clock().now();
        let alarms = self.live.alarms.lock().await;
        let (batch, counts) = {
            let mut written = self.live.written();
            let mut batch = Vec::new();
            let mut counts = Vec::new();
            for (key, w) in written.iter_mut() {
                if w.unwritten == 0 || !(all || now - w.at >= REPEAT_EVERY) {
                    continue;
                }
                if let Some(a) = alarms.get(key) {
                    batch.push(a.clone());
                    counts.push((key.clone(), w.unwritten));
                    // Not due again while this write runs; reads keep showing the memory's
                    // state until it is done (`unwritten` is lowered after the write).
                    w.at = now;
                }
            }
            (batch, counts)
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let gate = self.live.write_gate.lock().await;
        drop(alarms);
        let stored = self.store().put_alarms(&batch).await;
        {
            let mut written = self.live.written();
            for (key, n) in &counts {
                if let Some(w) = written.get_mut(key) {
                    match &stored {
                        Ok(()) => w.unwritten = w.unwritten.saturating_sub(*n),
                        Err(_) => w.at = now - REPEAT_EVERY,
                    }
                }
            }
        }
        stored?;
        for a in &batch {
            self.bus().publish(Some(a.municipality.clone()), LiveEvent::Alarm(Box::new(a.clone())));
        }
        drop(gate);
        Ok(batch.len())
    }

    /// Runs [`App::flush_alarm_repeats`] every quarter of a second (so a repeated alarm's update
    /// follows the previous one within about 1.25 s) for as long as the application lives:
    /// [`App::open_with`] starts it.
    pub(crate) fn spawn_alarm_flush(app: &Arc<App>) {
        let weak = Arc::downgrade(app);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                let Some(app) = weak.upgrade() else { return };
                if let Err(e) = app.flush_alarm_repeats(false).await {
                    tracing::warn!(error = %e.message, "writing coalesced alarm repeats failed; will retry");
                }
            }
        });
    }

    /// Raises (or repeats) an alarm of a built-in rule (e.g. `camera-offline`) for `source`, or
    /// with `raise == false` clears it if open: the same alarm life as rule alarms (one open
    /// alarm per rule and source, acknowledged by operators), for conditions the server itself
    /// watches. Returns whether an alarm changed.
    #[allow(clippy::too_many_arguments)]
    pub async fn system_alarm(
        &self,
        rule: &str,
        source: &Id,
        municipality: &Id,
        location: Option<polis_domain::LatLon>,
        severity: polis_domain::Severity,
        message: String,
        raise: bool,
    ) -> Result<bool> {
        self.system_alarm_with(rule, source, municipality, location, severity, message, raise, false).await
    }

    /// [`App::system_alarm`] for a condition of the store itself (`storage-unavailable`): an
    /// alarm the store cannot take is still kept in memory and published, and is stored with
    /// its next change (the clear, once writes succeed again).
    pub(crate) async fn store_alarm(&self, municipality: &Id, message: String, raise: bool) -> Result<bool> {
        let rule = crate::storage::STORAGE_RULE;
        let sev = polis_domain::Severity::Critical;
        self.system_alarm_with(rule, municipality, municipality, None, sev, message, raise, true).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn system_alarm_with(
        &self,
        rule: &str,
        source: &Id,
        municipality: &Id,
        location: Option<polis_domain::LatLon>,
        severity: polis_domain::Severity,
        message: String,
        raise: bool,
        unstored_ok: bool,
    ) -> Result<bool> {
        let key = AlarmKey { rule: Id::from_trusted(rule), source: source.clone() };
        let mut alarms = self.live.alarms.lock().await;
        let open = alarms.get(&key).cloned();
        let kind = match (raise, &open) {
            (true, None) => SignalKind::Raise,
            (true, Some(a)) if a.cleared_at.is_some() => SignalKind::Raise,
            (true, Some(_)) => SignalKind::Repeat,
            (false, Some(a)) if a.cleared_at.is_none() => SignalKind::Clear,
            (false, _) => return Ok(false),
        };
        // A condition that still holds is repeated only now and then, not on every check.
        if let (SignalKind::Repeat, Some(a)) = (kind, &open) {
            if a.cleared_at.is_none() && self.clock().now() - a.last_seen < time::Duration::minutes(5) {
                return Ok(false);
            }
        }
        let signal = Signal {
            rule: key.rule.clone(),
            rule_version: 1,
            source: source.clone(),
            kind,
            value: None,
            time: self.clock().now(),
            severity,
            message,
            position: None,
        };
        let alarm = match open {
            Some(mut a) => {
                a.apply(&signal)?;
                a
            }
            None => Alarm::open(new_id("alarm"), municipality.clone(), &signal, location)?,
        };
        if !unstored_ok {
            self.commit_alarm(&mut alarms, key, alarm).await?;
            return Ok(true);
        }
        if let Err(e) = self.commit_alarm(&mut alarms, key.clone(), alarm.clone()).await {
            tracing::warn!(error = %e, rule, "alarm kept in memory and published; stored once the store takes writes");
            if alarm.is_open() {
                alarms.insert(key, alarm.clone());
            } else {
                alarms.remove(&key);
            }
            self.bus().publish(Some(alarm.municipality.clone()), LiveEvent::Alarm(Box::new(alarm)));
        }
        Ok(true)
    }

    /// At start, after a crash: evaluates the stored readings the rules need and applies the
    /// raises and clears the open alarms do not show yet (see [`crate::recovery`]), so that the
    /// alarms agree with the stored data. Returns how many alarms changed.
    pub async fn settle_alarms(&self) -> Result<usize> {
        let sensors: HashMap<Id, Sensor> = self.registry().await.sensors.clone().into_iter().collect();
        let rules: Vec<Rule> = self.live.engine().rules().cloned().collect();
        let latest = self.store().latest_observations().await?;
        let mut readings: Vec<Observation> = Vec::new();
        for (newest, back) in crate::recovery::lookbacks(&rules, &sensors, &latest) {
            if let Some(back) = back {
                let to = newest.time() + time::Duration::milliseconds(1);
                let window = self
                    .store()
                    .observations(newest.sensor(), newest.quantity(), newest.time() - back, to, 10_000)
                    .await?;
                readings.extend(window.into_iter().filter(|o| o.time() < newest.time()));
            }
            readings.push(newest.clone());
        }
        readings.sort_by(|a, b| {
            a.sensor()
                .cmp(b.sensor())
                .then_with(|| a.quantity().cmp(&b.quantity()))
                .then_with(|| a.time().cmp(&b.time()))
        });
        let open = self.live.alarms.lock().await.clone();
        let mut closed: HashMap<AlarmKey, Alarm> = HashMap::new();
        if !readings.is_empty() {
            for a in self.store().list_alarms(None, false, 10_000).await? {
                if !a.is_open() && closed.get(&a.key()).is_none_or(|c| c.last_seen < a.last_seen) {
                    closed.insert(a.key(), a);
                }
            }
        }
        let queued =
            self.live.evaluate(&sensors, |engine| crate::recovery::replay(engine, &sensors, &readings, &open, &closed));
        if queued.is_some() {
            let mut alarms = self.live.alarms.lock().await;
            self.apply_pending(&mut alarms).await?;
        }
        Ok(queued.map_or(0, |c| c.load(Ordering::SeqCst)))
    }

    /// The sources (with their municipality) of a built-in rule's alarms whose condition holds
    /// (raised and not cleared).
    pub(crate) async fn active_system_alarms(&self, rule: &str) -> Vec<(Id, Id)> {
        let alarms = self.live.alarms.lock().await;
        alarms
            .iter()
            .filter(|(k, a)| k.rule.as_str() == rule && a.cleared_at.is_none())
            .map(|(k, a)| (k.source.clone(), a.municipality.clone()))
            .collect()
    }

    // ---- Rules --------------------------------------------------------------------------

    /// The rules the actor may see.
    pub async fn rules(&self, actor: &Actor) -> Result<Vec<Rule>> {
        actor.check_read_registry()?;
        Ok(self.live.engine().rules().filter(|r| actor.sees(&r.municipality)).cloned().collect())
    }

    pub async fn rule(&self, actor: &Actor, id: &Id) -> Result<Rule> {
        actor.check_read_registry()?;
        self.live
            .engine()
            .rule(id)
            .filter(|r| actor.sees(&r.municipality))
            .cloned()
            .ok_or_else(|| Error::not_found(format!("no rule with id {id}")))
    }

    /// Creates a rule (version 1) or replaces one (the next version). Administrators and
    /// supervisors of its municipality.
    pub async fn put_rule(&self, actor: &Actor, mut rule: Rule) -> Result<Rule> {
        actor.check_write_registry(&rule.municipality)?;
        if !self.registry().await.is_municipality(&rule.municipality) {
            return Err(Error::invalid("municipality", format!("no municipality with id {}", rule.municipality)));
        }
        if let polis_domain::RuleScope::Sensor(s) = &rule.scope {
            let reg = self.registry().await;
            if reg.sensors.get(s).is_none_or(|x| x.municipality != rule.municipality) {
                return Err(Error::invalid("sensor", format!("no sensor with id {s} in {}", rule.municipality)));
            }
        }
        let _write = self.write_lock.lock().await;
        let before = self.live.engine().rule(&rule.id).cloned();
        if let Some(b) = &before {
            actor.check_write_registry(&b.municipality)?;
        }
        rule.version = before.as_ref().map(|b| b.version + 1).unwrap_or(1);
        let problems: Vec<FieldError> = rule.check();
        if !problems.is_empty() {
            return Err(Error::invalid_fields("invalid rule", problems));
        }
        let action = if before.is_some() { "rule.update" } else { "rule.create" };
        let audit = self.audit(actor, action, rule.id.as_str(), Some(&rule.municipality), before.as_ref(), Some(&rule));
        self.store().put_rule(&rule, &audit).await?;
        self.live.engine().set_rule(rule.clone(), self.clock().now())?;
        let change = if before.is_some() { Change::Updated } else { Change::Created };
        self.bus()
            .publish(Some(rule.municipality.clone()), LiveEvent::registry("rule", change, [&rule.id].into_iter()));
        Ok(rule)
    }

    /// What `rule` would have done over the stored readings of the last `hours` (1 to 168) had it
    /// been in force: every raise and clear, oldest first, with the sensors and readings it
    /// looked at. Nothing is saved. For those who may write the rule (administrators and
    /// supervisors of its municipality); the same checks as saving it. At most
    /// [`PREVIEW_MAX_SENSORS`] sensors and [`PREVIEW_MAX_READINGS`] readings are replayed
    /// (`truncated` says when more were there).
    pub async fn preview_rule(&self, actor: &Actor, rule: &Rule, hours: u32) -> Result<RulePreview> {
        actor.check_write_registry(&rule.municipality)?;
        if !(1..=168).contains(&hours) {
            return Err(Error::invalid("hours", "must be 1 to 168"));
        }
        let problems = rule.check();
        if !problems.is_empty() {
            return Err(Error::invalid_fields("invalid rule", problems));
        }
        let (sensors, more_sensors) = {
            let reg = self.registry().await;
            if !reg.is_municipality(&rule.municipality) {
                return Err(Error::invalid("municipality", format!("no municipality with id {}", rule.municipality)));
            }
            if let polis_domain::RuleScope::Sensor(s) = &rule.scope {
                if reg.sensors.get(s).is_none_or(|x| x.municipality != rule.municipality) {
                    return Err(Error::invalid("sensor", format!("no sensor with id {s} in {}", rule.municipality)));
                }
            }
            let all: Vec<Sensor> = reg.sensors.values().filter(|s| rule.applies_to(s)).cloned().collect();
            let more = all.len() > PREVIEW_MAX_SENSORS;
            (all.into_iter().take(PREVIEW_MAX_SENSORS).collect::<Vec<_>>(), more)
        };
        let to = self.clock().now();
        let from = to - time::Duration::hours(i64::from(hours));
        let mut readings = Vec::new();
        let mut truncated = more_sensors;
        for s in &sensors {
            let room = PREVIEW_MAX_READINGS.saturating_sub(readings.len());
            if room == 0 {
                truncated = true;
                break;
            }
            let limit = u32::try_from(room).unwrap_or(u32::MAX);
            let got = self.store().observations(&s.id, rule.quantity.as_deref(), from, to, limit).await?;
            truncated |= got.len() == room;
            readings.extend(got);
        }
        readings.sort_by_key(|o| o.time());
        let signals = polis_domain::replay(rule, &sensors, &readings, from, to)?;
        Ok(RulePreview { from, to, sensors: sensors.len(), readings: readings.len(), truncated, signals })
    }

    pub async fn delete_rule(&self, actor: &Actor, id: &Id) -> Result<()> {
        let _write = self.write_lock.lock().await;
        let before = self.rule(actor, id).await?;
        actor.check_write_registry(&before.municipality)?;
        let audit = self.audit(actor, "rule.delete", id.as_str(), Some(&before.municipality), Some(&before), None);
        self.store().delete_rule(id, &audit).await?;
        self.live.engine().remove_rule(id);
        self.bus()
            .publish(Some(before.municipality.clone()), LiveEvent::registry("rule", Change::Deleted, [id].into_iter()));
        Ok(())
    }

    // ---- Alarms -------------------------------------------------------------------------

    /// Alarms the actor may see, newest first; `open_only` leaves out cleared and acknowledged.
    /// Open alarms are shown as they are in memory: with the repeats not written yet.
    pub async fn alarms(&self, actor: &Actor, open_only: bool, limit: u32) -> Result<Vec<Alarm>> {
        actor.check_read_registry()?;
        let mut list = self.store().list_alarms(actor.scope(), open_only, limit.clamp(1, 10_000)).await?;
        self.with_unwritten_repeats(&mut list).await;
        Ok(list)
    }

    /// Replaces alarms that have repeats only in memory (an alarm storm) by their current state.
    async fn with_unwritten_repeats(&self, list: &mut [Alarm]) {
        let unwritten: Vec<AlarmKey> =
            self.live.written().iter().filter(|(_, w)| w.unwritten > 0).map(|(k, _)| k.clone()).collect();
        if unwritten.is_empty() {
            return;
        }
        let alarms = self.live.alarms.lock().await;
        for a in list.iter_mut() {
            if let Some(current) = alarms.get(&a.key()).filter(|c| c.id == a.id) {
                *a = current.clone();
            }
        }
    }

    /// The alarm as stored (the caller may hold the alarm lock).
    async fn find_alarm(&self, actor: &Actor, id: &Id) -> Result<Alarm> {
        actor.check_read_registry()?;
        self.store()
            .alarm(id)
            .await?
            .filter(|a| actor.sees(&a.municipality))
            .ok_or_else(|| Error::not_found(format!("no alarm with id {id}")))
    }

    pub async fn alarm(&self, actor: &Actor, id: &Id) -> Result<Alarm> {
        let mut found = [self.find_alarm(actor, id).await?];
        self.with_unwritten_repeats(&mut found).await;
        let [a] = found;
        Ok(a)
    }

    /// Makes the rules engine hold exactly the rules of the store, after another node of a region
    /// changed them: new and changed rules are set (an unchanged rule keeps its state), deleted
    /// ones removed.
    pub async fn reload_rules(&self) -> Result<()> {
        let rules = self.store().list_rules().await?;
        let now = self.clock().now();
        // Lock order: alarms, then engine.
        let _alarms = self.live.alarms.lock().await;
        let mut engine = self.live.engine();
        let keep: std::collections::HashSet<&Id> = rules.iter().map(|r| &r.id).collect();
        let gone: Vec<Id> = engine.rules().filter(|r| !keep.contains(&r.id)).map(|r| r.id.clone()).collect();
        for id in gone {
            engine.remove_rule(&id);
        }
        for rule in rules {
            let id = rule.id.clone();
            if let Err(e) = engine.set_rule(rule, now) {
                tracing::warn!(rule = %id, error = %e, "region: a rule from the store was not taken");
            }
        }
        Ok(())
    }

    /// Takes in an alarm that another node of a region wrote and announced on the bus (see
    /// [`polis_domain::Alarm::merge`]): this node's copy in memory is merged with it, so that an
    /// acknowledgement or a clear by hand made elsewhere is never undone by this node's next
    /// write, and the rules engine learns whether the alarm's condition holds (an alarm raised
    /// elsewhere is cleared here when the condition ends here, not raised a second time; after a
    /// clear by hand, the next violation opens a new alarm). Returns whether anything changed.
    pub async fn absorb_alarm(&self, incoming: &Alarm) -> bool {
        let key = incoming.key();
        let mut alarms = self.live.alarms.lock().await;
        let merged = match alarms.get(&key) {
            Some(mine) if mine.id == incoming.id => {
                let mut merged = mine.clone();
                if !merged.merge(incoming) {
                    return false;
                }
                merged
            }
            // Another alarm of the same rule and source is open here: the store's unique index
            // lets only one be open, so the announced one is older or was refused; keep ours.
            Some(_) => return false,
            None if incoming.is_open() => incoming.clone(),
            None => return false,
        };
        let mut engine = self.live.engine();
        if merged.is_open() {
            if merged.is_active() {
                engine.restore_active(&merged.rule, &merged.source);
            } else {
                engine.restore_inactive(&merged.rule, &merged.source);
            }
            alarms.insert(key, merged);
        } else {
            alarms.remove(&key);
            engine.reset(&merged.rule, &merged.source);
            self.live.pending().retain(|p| AlarmKey::of(&p.signal) != key);
            drop(engine);
            self.live.note_written(&key, self.clock().now(), false);
        }
        true
    }

    /// Acknowledges, comments or clears an alarm by hand: operators, supervisors and
    /// administrators of its municipality. Every step is audited and published.
    pub async fn alarm_action(&self, actor: &Actor, id: &Id, action: AlarmAction) -> Result<Alarm> {
        if !matches!(actor.role, Role::Admin | Role::Supervisor | Role::Operator) {
            return Err(Error::permission_denied(format!("role {} may not handle alarms", actor.role)));
        }
        let mut alarms = self.live.alarms.lock().await;
        // Signals the engine produced before this action go first.
        self.apply_pending(&mut alarms).await?;
        let before = match alarms.values().find(|a| &a.id == id) {
            Some(a) if actor.sees(&a.municipality) => a.clone(),
            Some(_) => return Err(Error::not_found(format!("no alarm with id {id}"))),
            None => self.find_alarm(actor, id).await?,
        };
        let now = self.clock().now();
        let mut alarm = before.clone();
        let verb = match &action {
            AlarmAction::Acknowledge => {
                alarm.acknowledge(&actor.username, now)?;
                "alarm.acknowledge"
            }
            AlarmAction::Comment(text) => {
                alarm.comment(&actor.username, text, now)?;
                "alarm.comment"
            }
            AlarmAction::Clear(reason) => {
                alarm.clear_by_hand(&actor.username, reason, now)?;
                "alarm.clear"
            }
        };
        let audit = self.audit(actor, verb, id.as_str(), Some(&alarm.municipality), Some(&before), Some(&alarm));
        let _gate = self.live.write_gate.lock().await;
        self.store().put_alarm(&alarm, Some(&audit)).await?;
        self.live.note_written(&alarm.key(), now, alarm.is_open());
        if alarm.is_open() {
            alarms.insert(alarm.key(), alarm.clone());
        } else {
            let key = alarm.key();
            alarms.remove(&key);
            // The engine forgets the condition, and signals it produced meanwhile are dropped,
            // both at once, so the next violation raises a new alarm.
            let mut engine = self.live.engine();
            engine.reset(&alarm.rule, &alarm.source);
            self.live.pending().retain(|p| AlarmKey::of(&p.signal) != key);
        }
        self.bus().publish(Some(alarm.municipality.clone()), LiveEvent::Alarm(Box::new(alarm.clone())));
        Ok(alarm)
    }
}

/// What a person does to an alarm.
#[derive(Debug, Clone)]
pub enum AlarmAction {
    Acknowledge,
    Comment(String),
    /// Clear by hand, with a reason.
    Clear(String),
}

/// MQTT and the in-process simulator deliver here: the municipality comes from the topic (or
/// the sensor's registry entry); observations the registry does not know are rejected and
/// logged, the rest stored before this returns, so the broker is acknowledged only then.
#[async_trait::async_trait]
impl polis_ingest::Sink for App {
    async fn ingest(&self, municipality: &str, batch: Vec<RawObservation>) -> Result<()> {
        let report = App::ingest(self, None, Some(municipality), batch).await?;
        if let Some(first) = report.rejected.first() {
            tracing::warn!(
                municipality,
                rejected = report.rejected.len(),
                field = %first.field,
                reason = %first.reason,
                "observations rejected"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_base::SystemClock;
    use polis_domain::{Condition, OrgKind, Organisation, RuleScope, SensorKind, Severity};

    async fn app_with_gauge() -> Arc<App> {
        app_with_gauge_on(Arc::new(SystemClock)).await
    }

    async fn app_with_gauge_on(clock: Arc<dyn polis_base::Clock>) -> Arc<App> {
        let store = polis_store::open("sqlite::memory:").await.expect("store");
        let app = App::open(store, clock).await.expect("app");
        let system = Actor::system();
        let kazanlak = Id::from_trusted("kazanlak");
        app.put_organisation(
            &system,
            Organisation {
                id: kazanlak.clone(),
                kind: OrgKind::Municipality,
                name_bg: "Казанлък".into(),
                name_en: "Kazanlak".into(),
                municipality: kazanlak.clone(),
                agency_kind: None,
                demo: false,
            },
        )
        .await
        .expect("org");
        let gauge = Sensor {
            id: Id::from_trusted("gauge"),
            municipality: kazanlak.clone(),
            name: "gauge".into(),
            name_en: String::new(),
            kind: SensorKind::WaterLevel,
            unit: "cm".into(),
            position: LatLon::new(42.6, 25.4).expect("position"),
            owner: None,
            demo: false,
        };
        app.import(&system, vec![gauge]).await.expect("sensor");
        let rule = Rule {
            id: Id::from_trusted("high"),
            municipality: kazanlak,
            name: "High".into(),
            version: 0,
            enabled: true,
            scope: RuleScope::Sensor(Id::from_trusted("gauge")),
            quantity: None,
            condition: Condition::Threshold { above: Some(400.0), below: None, hysteresis: 0.0 },
            severity: Severity::Major,
        };
        app.put_rule(&system, rule).await.expect("rule");
        app
    }

    fn reading(seconds_ago: i64, value: f64) -> Vec<RawObservation> {
        let t = OffsetDateTime::now_utc() - time::Duration::seconds(seconds_ago);
        vec![RawObservation {
            sensor: "gauge".into(),
            time: t.format(&Rfc3339).expect("time"),
            value: Some(serde_json::json!(value)),
            values: None,
            lat: None,
            lon: None,
        }]
    }

    async fn wait_pending(app: &App, n: usize) {
        for _ in 0..500 {
            if app.live.pending().len() == n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{n} signals never queued");
    }

    /// A raise is evaluated, and its batch is still waiting for the alarm lock when a clear is
    /// evaluated and its batch is cancelled (a client went away): the raise and the clear are
    /// applied in the order the engine produced them, by whoever takes the lock next, so the
    /// alarm ends cleared instead of missing, or open after the level dropped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signals_are_applied_in_evaluation_order_even_when_their_batches_are_not() {
        let app = app_with_gauge().await;
        let held = app.live.alarms.lock().await;
        let raise = tokio::spawn({
            let app = app.clone();
            async move { App::ingest(&app, None, None, reading(20, 450.0)).await }
        });
        wait_pending(&app, 1).await;
        let clear = tokio::spawn({
            let app = app.clone();
            async move { App::ingest(&app, None, None, reading(10, 350.0)).await }
        });
        wait_pending(&app, 2).await;
        // The clear's batch gives up; the raise's batch takes the lock and applies both.
        clear.abort();
        drop(held);
        let report = raise.await.expect("task").expect("ingest");
        assert_eq!(report.alarms_changed, 1);
        assert!(app.live.pending().is_empty());
        let system = Actor::system();
        let all = app.alarms(&system, false, 10).await.expect("alarms");
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(!all[0].is_active(), "the level dropped after the raise: {:?}", all[0]);

        // The same with the raise's batch cancelled: the next batch applies what it left.
        let held = app.live.alarms.lock().await;
        let raise = tokio::spawn({
            let app = app.clone();
            async move { App::ingest(&app, None, None, reading(5, 460.0)).await }
        });
        wait_pending(&app, 1).await;
        raise.abort();
        drop(held);
        App::ingest(&app, None, None, reading(4, 300.0)).await.expect("ingest");
        let all = app.alarms(&system, false, 10).await.expect("alarms");
        // The cleared (unacknowledged) alarm is still open: the rise repeats it, then it clears.
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!((all[0].count, all[0].is_active()), (2, false), "{:?}", all[0]);
        assert!(app.live.pending().is_empty());
    }

    /// Alarm events waiting in a subscription: (count, value) of each.
    async fn alarm_events(sub: &mut crate::bus::Subscription<LiveEvent>) -> Vec<(u32, Option<f64>)> {
        let mut out = Vec::new();
        while let Ok(Some(d)) = tokio::time::timeout(std::time::Duration::from_millis(50), sub.next()).await {
            if let crate::bus::Delivery::Event(e) = d {
                if let LiveEvent::Alarm(a) = &e.event {
                    out.push((a.count, a.value));
                }
            }
        }
        out
    }

    /// Issue 17: readings above the level while the alarm is active are counted in memory, and
    /// the alarm is written and published at most once a second with the count and the newest
    /// value; a clear writes at once, with every repeat before it; and the last repeats of a
    /// storm that simply stops are written by the flush (no state is lost).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn repeats_of_an_active_alarm_are_written_and_published_at_most_once_a_second() {
        let clock = Arc::new(polis_base::SimClock::new(OffsetDateTime::now_utc()));
        let app = app_with_gauge_on(clock.clone()).await;
        let mut sub = app.bus().subscribe(None).await.expect("subscribe");
        let system = Actor::system();
        let stored = |app: Arc<App>| async move {
            let a = app.store().list_alarms(None, false, 10).await.expect("alarms");
            assert_eq!(a.len(), 1, "{a:?}");
            (a[0].count, a[0].value, a[0].is_active())
        };
        let ms = |n: i64| time::Duration::milliseconds(n);
        App::ingest(&app, None, None, reading(100, 450.0)).await.expect("raise");
        // A storm: 9 readings above the level within 0.9 s.
        for i in 1..=9 {
            clock.advance(ms(100));
            App::ingest(&app, None, None, reading(100 - i, 450.0 + i as f64)).await.expect("repeat");
        }
        assert_eq!(stored(app.clone()).await, (1, Some(450.0), true), "repeats within the second are not written");
        assert_eq!(app.flush_alarm_repeats(false).await.expect("flush"), 0, "not due yet");
        clock.advance(ms(100));
        // (The application's own flush, every quarter of a second, may have been first.)
        app.flush_alarm_repeats(false).await.expect("flush");
        assert_eq!(stored(app.clone()).await, (10, Some(459.0), true));
        assert_eq!(alarm_events(&mut sub).await, vec![(1, Some(450.0)), (10, Some(459.0))]);

        // A repeat a second after the last write is due at once (by the next flush).
        clock.advance(ms(1000));
        App::ingest(&app, None, None, reading(80, 470.0)).await.expect("repeat");
        app.flush_alarm_repeats(false).await.expect("flush");
        assert_eq!(stored(app.clone()).await, (11, Some(470.0), true));
        // Coalesced again, then the level drops: the clear carries the repeats before it.
        clock.advance(ms(100));
        App::ingest(&app, None, None, reading(79, 471.0)).await.expect("repeat");
        clock.advance(ms(100));
        App::ingest(&app, None, None, reading(78, 300.0)).await.expect("clear");
        assert_eq!(stored(app.clone()).await, (12, Some(471.0), false));
        assert_eq!(app.flush_alarm_repeats(true).await.expect("flush"), 0, "nothing left unwritten");
        assert_eq!(alarm_events(&mut sub).await, vec![(11, Some(470.0)), (12, Some(471.0))]);

        // Raised again; a storm that stops is written by the flush with its final state.
        clock.advance(ms(100));
        App::ingest(&app, None, None, reading(70, 480.0)).await.expect("raise again");
        for i in 1..=3 {
            clock.advance(ms(10));
            App::ingest(&app, None, None, reading(70 - i, 480.0 + i as f64)).await.expect("repeat");
        }
        assert_eq!(stored(app.clone()).await, (13, Some(480.0), true));
        assert_eq!(app.flush_alarm_repeats(true).await.expect("flush at shutdown"), 1);
        assert_eq!(stored(app.clone()).await, (16, Some(483.0), true));
        assert_eq!(alarm_events(&mut sub).await, vec![(13, Some(480.0)), (16, Some(483.0))]);
        // An operator's acknowledgement carries the in-memory state too.
        let id = app.alarms(&system, false, 1).await.expect("alarms")[0].id.clone();
        clock.advance(ms(10));
        App::ingest(&app, None, None, reading(60, 490.0)).await.expect("repeat");
        let acked = app.alarm_action(&system, &id, AlarmAction::Acknowledge).await.expect("ack");
        assert_eq!((acked.count, acked.value), (17, Some(490.0)));
        assert_eq!(stored(app.clone()).await, (17, Some(490.0), true));
    }
}
