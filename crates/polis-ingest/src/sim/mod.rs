//! A deterministic simulator of the demo city's sensors, so that a new user sees Polis live.
//!
//! [`Simulator::step`] gives one observation per sensor for a moment in time, with values that
//! follow the day: river gauges on the Tundzha swing around ~120 cm, the Koprinka reservoir sits
//! near its level in metres, rain comes in bursts shared by all gauges, air quality has morning
//! and evening peaks (`pm25` and `pm10` as named values), traffic has rush hours on working
//! days, noise is loud by day and quiet by night, smoke detectors read near zero.
//!
//! Now and then an [`Episode`] starts: a flood rise (a river gauge climbs past 400 cm in about ten
//! minutes, then falls), a smog episode, a traffic jam (speed collapses), or a silent gauge (no
//! reports for fifteen minutes). The same seed and the same sequence of times give the same
//! output, so tests and demos are repeatable. Times are read in the city's winter time
//! (UTC+2) for the daily patterns.
//!
//! [`run_http`] posts the output to a Polis over HTTP; [`run_sink`] delivers it in-process.

mod run;

pub use run::{run_http, run_http_with, run_sink, Credentials, SimReport};

use crate::RawObservation;
use polis_domain::{Id, Sensor, SensorKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset, Weekday};

/// The things that happen now and then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EpisodeKind {
    /// A river gauge rises past 400 cm over ~10 minutes, holds, and falls back (35 minutes).
    Flood,
    /// An air-quality station's PM2.5 climbs to 90-160 µg/m³ and stays a while (50 minutes).
    Smog,
    /// A speed sensor's speed collapses to a crawl (22 minutes).
    TrafficJam,
    /// A gauge stops reporting (15 minutes).
    SilentGauge,
}

impl EpisodeKind {
    pub const ALL: [EpisodeKind; 4] =
        [EpisodeKind::Flood, EpisodeKind::Smog, EpisodeKind::TrafficJam, EpisodeKind::SilentGauge];

    pub fn as_str(self) -> &'static str {
        match self {
            EpisodeKind::Flood => "flood",
            EpisodeKind::Smog => "smog",
            EpisodeKind::TrafficJam => "traffic_jam",
            EpisodeKind::SilentGauge => "silent_gauge",
        }
    }

    pub fn duration(self) -> Duration {
        Duration::minutes(match self {
            EpisodeKind::Flood => 35,
            EpisodeKind::Smog => 50,
            EpisodeKind::TrafficJam => 22,
            EpisodeKind::SilentGauge => 15,
        })
    }

    /// Minutes from the first step to the first episode of this kind: soon, for a demo.
    fn first_after_min(self) -> (i64, i64) {
        match self {
            EpisodeKind::Flood => (4, 12),
            EpisodeKind::Smog => (2, 10),
            EpisodeKind::TrafficJam => (1, 6),
            EpisodeKind::SilentGauge => (3, 10),
        }
    }

    /// Minutes from the end of one episode to the start of the next of the same kind.
    fn gap_min(self) -> (i64, i64) {
        match self {
            EpisodeKind::Flood => (60, 180),
            EpisodeKind::Smog => (45, 120),
            EpisodeKind::TrafficJam => (30, 90),
            EpisodeKind::SilentGauge => (40, 120),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for EpisodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One episode: what, where, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub kind: EpisodeKind,
    pub sensor: Id,
    pub started_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
}

impl Episode {
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.started_at <= now && now < self.ends_at
    }

    /// Minutes since the start, as a fraction.
    fn minutes_in(&self, now: OffsetDateTime) -> f64 {
        (now - self.started_at).as_seconds_f64() / 60.0
    }
}

/// How a sensor's values are made, from its kind and unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// A river gauge in cm.
    River,
    /// A reservoir level in metres.
    Reservoir,
    Rain,
    Air,
    Count,
    Speed,
    Noise,
    Smoke,
    Temperature,
    Other,
}

impl Profile {
    fn of(s: &Sensor) -> Profile {
        match s.kind {
            SensorKind::WaterLevel if s.unit.trim() == "m" => Profile::Reservoir,
            SensorKind::WaterLevel => Profile::River,
            SensorKind::Rain => Profile::Rain,
            SensorKind::AirQuality => Profile::Air,
            SensorKind::TrafficCount => Profile::Count,
            SensorKind::TrafficSpeed => Profile::Speed,
            SensorKind::Noise => Profile::Noise,
            SensorKind::Smoke => Profile::Smoke,
            SensorKind::Temperature => Profile::Temperature,
            SensorKind::Other => Profile::Other,
        }
    }

    fn is_gauge(self) -> bool {
        matches!(self, Profile::River | Profile::Reservoir | Profile::Rain)
    }
}

/// Per-sensor parameters, drawn once from the seed, and the sensor's noise.
#[derive(Debug, Clone)]
struct Model {
    profile: Profile,
    /// Mean level, capacity, free speed... depending on the profile.
    base: f64,
    /// Daily amplitude, pm10/pm25 ratio, rain catch factor... depending on the profile.
    factor: f64,
    /// Shift of the daily pattern, hours.
    shift_h: f64,
    /// Peak of this sensor's episode (flood level cm, smog PM2.5), drawn at the episode's start.
    episode_peak: f64,
    /// AR(1) noise, in standard deviations.
    noise: f64,
}

/// Rain shared by every gauge in the city.
#[derive(Debug, Clone)]
struct Weather {
    shower: Option<(OffsetDateTime, OffsetDateTime, f64)>,
    next_shower: OffsetDateTime,
}

/// The city's sensors, simulated. See the module documentation.
#[derive(Debug, Clone)]
pub struct Simulator {
    sensors: Vec<Sensor>,
    models: Vec<Model>,
    rng: StdRng,
    /// Every episode so far (the latest [`MAX_HISTORY`]).
    episodes: Vec<Episode>,
    next_episode: [Option<OffsetDateTime>; 4],
    weather: Option<Weather>,
    last_step: Option<OffsetDateTime>,
    local: UtcOffset,
}

const MAX_HISTORY: usize = 256;

impl Simulator {
    pub fn new(sensors: Vec<Sensor>, seed: u64) -> Simulator {
        let mut rng = StdRng::seed_from_u64(seed);
        let models = sensors
            .iter()
            .map(|s| {
                let profile = Profile::of(s);
                let (base, factor) = match profile {
                    Profile::River => (rng.gen_range(105.0..135.0), rng.gen_range(5.0..10.0)),
                    Profile::Reservoir => (rng.gen_range(24.0..30.0), rng.gen_range(0.02..0.05)),
                    Profile::Rain => (0.0, rng.gen_range(0.7..1.3)),
                    Profile::Air => (rng.gen_range(8.0..16.0), rng.gen_range(1.5..2.1)),
                    Profile::Count => (rng.gen_range(400.0..1200.0), 0.0),
                    Profile::Speed => (rng.gen_range(48.0..75.0), 0.0),
                    Profile::Noise => (rng.gen_range(-3.0..3.0), 0.0),
                    Profile::Smoke => (rng.gen_range(0.005..0.015), 0.0),
                    Profile::Temperature => (rng.gen_range(10.0..14.0), rng.gen_range(5.0..8.0)),
                    Profile::Other => (50.0, 0.0),
                };
                Model { profile, base, factor, shift_h: rng.gen_range(-1.0..1.0), episode_peak: 0.0, noise: 0.0 }
            })
            .collect();
        let local = UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC);
        Simulator {
            sensors,
            models,
            rng,
            episodes: Vec::new(),
            next_episode: [None; 4],
            weather: None,
            last_step: None,
            local,
        }
    }

    pub fn sensors(&self) -> &[Sensor] {
        &self.sensors
    }

    /// Every episode started so far (the latest 256), oldest first. An episode is under way
    /// while [`Episode::is_active`].
    pub fn episodes(&self) -> Vec<Episode> {
        self.episodes.clone()
    }

    /// The episodes under way at `now`.
    pub fn active_episodes(&self, now: OffsetDateTime) -> Vec<Episode> {
        self.episodes.iter().filter(|e| e.is_active(now)).cloned().collect()
    }

    /// Starts an episode of `kind` now, on a sensor that suits it and is in no other episode
    /// (None if there is none). Scheduled episodes of the same kind wait until it is over.
    pub fn start_episode(&mut self, kind: EpisodeKind, now: OffsetDateTime) -> Option<Episode> {
        let busy: Vec<&Id> = self.episodes.iter().filter(|e| e.is_active(now)).map(|e| &e.sensor).collect();
        let fits = |m: &Model| match kind {
            EpisodeKind::Flood => m.profile == Profile::River,
            EpisodeKind::Smog => m.profile == Profile::Air,
            EpisodeKind::TrafficJam => m.profile == Profile::Speed,
            EpisodeKind::SilentGauge => m.profile.is_gauge(),
        };
        let mut candidates: Vec<usize> = (0..self.sensors.len())
            .filter(|&i| fits(&self.models[i]) && !busy.contains(&&self.sensors[i].id))
            .collect();
        if candidates.is_empty() && kind == EpisodeKind::SilentGauge {
            // A city without gauges: any sensor may fall silent.
            candidates = (0..self.sensors.len()).filter(|&i| !busy.contains(&&self.sensors[i].id)).collect();
        }
        if candidates.is_empty() {
            return None;
        }
        let i = candidates[self.rng.gen_range(0..candidates.len())];
        self.models[i].episode_peak = match kind {
            EpisodeKind::Flood => self.rng.gen_range(430.0..480.0),
            EpisodeKind::Smog => self.rng.gen_range(90.0..160.0),
            EpisodeKind::TrafficJam | EpisodeKind::SilentGauge => 0.0,
        };
        let episode =
            Episode { kind, sensor: self.sensors[i].id.clone(), started_at: now, ends_at: now + kind.duration() };
        let (lo, hi) = kind.gap_min();
        self.next_episode[kind.index()] = Some(episode.ends_at + Duration::minutes(self.rng.gen_range(lo..=hi)));
        tracing::info!(kind = %kind, sensor = %episode.sensor, until = %fmt_time(episode.ends_at), "simulator: episode started");
        if self.episodes.len() >= MAX_HISTORY {
            self.episodes.remove(0);
        }
        self.episodes.push(episode.clone());
        Some(episode)
    }

    /// One observation per sensor at `now` (none for a sensor that is silent).
    pub fn step(&mut self, now: OffsetDateTime) -> Vec<RawObservation> {
        self.start_due_episodes(now);
        let dt_h = match self.last_step {
            Some(prev) => (now - prev).as_seconds_f64().clamp(0.0, 3600.0) / 3600.0,
            None => 1.0 / 60.0,
        };
        self.last_step = Some(now);
        let rain_mm_h = self.rain_intensity(now);

        let local = now.to_offset(self.local);
        let hour = f64::from(local.hour()) + f64::from(local.minute()) / 60.0 + f64::from(local.second()) / 3600.0;
        let weekend = matches!(local.weekday(), Weekday::Saturday | Weekday::Sunday);
        let time = fmt_time(now);

        let active: Vec<Episode> = self.active_episodes(now);
        let mut out = Vec::with_capacity(self.sensors.len());
        for i in 0..self.sensors.len() {
            let n = self.next_noise(i);
            let id = &self.sensors[i].id;
            let episode = active.iter().find(|e| &e.sensor == id);
            if episode.is_some_and(|e| e.kind == EpisodeKind::SilentGauge) {
                continue;
            }
            let ep = episode.map(|e| (e.kind, e.minutes_in(now)));
            let m = &self.models[i];
            let reading = match m.profile {
                Profile::Rain => {
                    let gust = self.rng.gen_range(0.7..1.3);
                    Reading::One(round(rain_mm_h * m.factor * gust * dt_h, 2))
                }
                _ => m.reading(hour, weekend, n, ep),
            };
            let (value, values) = match reading {
                Reading::One(v) => (Some(serde_json::json!(v)), None),
                Reading::Air { pm25, pm10 } => {
                    let map = BTreeMap::from([
                        ("pm10".to_string(), serde_json::json!(pm10)),
                        ("pm25".to_string(), serde_json::json!(pm25)),
                    ]);
                    (None, Some(map))
                }
            };
            out.push(RawObservation {
                sensor: id.to_string(),
                time: time.clone(),
                value,
                values,
                lat: None,
                lon: None,
            });
        }
        out
    }

    fn start_due_episodes(&mut self, now: OffsetDateTime) {
        for kind in EpisodeKind::ALL {
            let k = kind.index();
            let due = match self.next_episode[k] {
                None => {
                    let (lo, hi) = kind.first_after_min();
                    self.next_episode[k] = Some(now + Duration::minutes(self.rng.gen_range(lo..=hi)));
                    false
                }
                Some(at) => now >= at,
            };
            let running = self.episodes.iter().any(|e| e.kind == kind && e.is_active(now));
            if due && !running && self.start_episode(kind, now).is_none() {
                // Nothing suits this kind now; look again in a while.
                self.next_episode[k] = Some(now + Duration::minutes(30));
            }
        }
    }

    /// mm/h falling at `now`: dry spells of one to six hours, showers of 10 to 45 minutes that
    /// swell and fade.
    fn rain_intensity(&mut self, now: OffsetDateTime) -> f64 {
        let rng = &mut self.rng;
        let w = self.weather.get_or_insert_with(|| Weather {
            shower: None,
            next_shower: now + Duration::minutes(rng.gen_range(5..=40)),
        });
        if w.shower.is_some_and(|(_, until, _)| now >= until) {
            w.shower = None;
        }
        if w.shower.is_none() && now >= w.next_shower {
            let until = now + Duration::minutes(self.rng.gen_range(10..=45));
            w.shower = Some((now, until, self.rng.gen_range(2.0..25.0)));
            w.next_shower = until + Duration::minutes(self.rng.gen_range(60..=360));
        }
        match w.shower {
            Some((from, until, peak)) if now >= from => {
                let f = (now - from).as_seconds_f64() / (until - from).as_seconds_f64().max(1.0);
                peak * (PI * f).sin().max(0.0)
            }
            _ => 0.0,
        }
    }

    /// Advances sensor `i`'s AR(1) noise and returns it (about one standard deviation).
    fn next_noise(&mut self, i: usize) -> f64 {
        // Box-Muller: u1 in (0, 1].
        let u1: f64 = 1.0 - self.rng.gen::<f64>();
        let u2: f64 = self.rng.gen();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
        let m = &mut self.models[i];
        m.noise = 0.9 * m.noise + (1.0f64 - 0.81).sqrt() * z;
        m.noise
    }
}

enum Reading {
    One(f64),
    Air { pm25: f64, pm10: f64 },
}

impl Model {
    /// The value at local `hour`, with noise `n` and this sensor's episode (kind, minutes in).
    fn reading(&self, hour: f64, weekend: bool, n: f64, episode: Option<(EpisodeKind, f64)>) -> Reading {
        let h = hour + self.shift_h;
        let ep = |kind: EpisodeKind| episode.filter(|e| e.0 == kind).map(|e| e.1);
        match self.profile {
            Profile::River => {
                // A daily wave peaking in the evening (snowmelt and releases upstream).
                let level = self.base + self.factor * daily(h, 18.0) + 1.0 * n;
                let flood = ep(EpisodeKind::Flood)
                    .map_or(0.0, |t| (self.episode_peak - self.base) * envelope(t, 10.0, 3.0, 22.0));
                Reading::One(round((level + flood).max(0.0), 1))
            }
            Profile::Reservoir => Reading::One(round(self.base + self.factor * daily(h, 16.0) + 0.005 * n, 2)),
            Profile::Rain => Reading::One(0.0),
            Profile::Air => {
                // Heating and traffic: a morning and a larger evening peak.
                let diurnal = 0.7 + 0.5 * bump(h, 8.5, 1.5) + 0.8 * bump(h, 20.5, 2.0);
                let smog = ep(EpisodeKind::Smog).map_or(0.0, |t| self.episode_peak * envelope(t, 15.0, 20.0, 15.0));
                let pm25 = (self.base * diurnal * (1.0 + 0.08 * n) + smog).max(1.0);
                let pm10 = pm25 * self.factor + 2.0 * n.abs();
                Reading::Air { pm25: round(pm25, 1), pm10: round(pm10, 1) }
            }
            Profile::Count => {
                let profile = if weekend {
                    0.04 + 0.55 * bump(h, 14.0, 4.5)
                } else {
                    0.04 + 0.45 * bump(h, 14.0, 4.5) + 0.5 * bump(h, 8.0, 1.0) + 0.45 * bump(h, 17.5, 1.2)
                };
                Reading::One((self.base * profile * (1.0 + 0.07 * n)).max(0.0).round())
            }
            Profile::Speed => {
                let congestion = if weekend { 0.1 } else { bump(h, 8.0, 0.8).max(bump(h, 17.5, 1.0)) };
                let jam = ep(EpisodeKind::TrafficJam).map_or(1.0, |t| 1.0 - 0.85 * envelope(t, 2.0, 15.0, 5.0));
                let v = (self.base * (1.0 - 0.35 * congestion) + 2.5 * n) * jam;
                Reading::One(round(v.clamp(0.0, 130.0), 1))
            }
            Profile::Noise => {
                let db = 43.0 + self.base + 22.0 * bump(h, 13.5, 4.5) + 1.5 * n;
                Reading::One(round(db, 1))
            }
            Profile::Smoke => Reading::One(round(self.base + 0.01 * n.abs(), 3)),
            Profile::Temperature => Reading::One(round(self.base + self.factor * daily(h, 15.0) + 0.3 * n, 1)),
            Profile::Other => Reading::One(round(self.base + 5.0 * n, 2)),
        }
    }
}

/// 1 at `peak_h`, -1 twelve hours away.
fn daily(h: f64, peak_h: f64) -> f64 {
    (2.0 * PI * (h - peak_h) / 24.0).cos()
}

/// A bell around `centre_h` of width `width_h` (hours), on the 24-hour circle.
fn bump(h: f64, centre_h: f64, width_h: f64) -> f64 {
    let d = (h - centre_h).rem_euclid(24.0);
    let d = d.min(24.0 - d);
    (-0.5 * (d / width_h).powi(2)).exp()
}

/// 0 → 1 over `rise` minutes (smoothly), 1 for `hold`, back to 0 over `fall`.
fn envelope(t: f64, rise: f64, hold: f64, fall: f64) -> f64 {
    let smooth = |x: f64| {
        let x = x.clamp(0.0, 1.0);
        x * x * (3.0 - 2.0 * x)
    };
    if t < 0.0 {
        0.0
    } else if t < rise {
        smooth(t / rise)
    } else if t < rise + hold {
        1.0
    } else {
        1.0 - smooth((t - rise - hold) / fall)
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (x * p).round() / p
}

fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_rises_holds_and_falls() {
        assert_eq!(envelope(-1.0, 10.0, 3.0, 22.0), 0.0);
        assert!((envelope(5.0, 10.0, 3.0, 22.0) - 0.5).abs() < 1e-9);
        assert_eq!(envelope(11.0, 10.0, 3.0, 22.0), 1.0);
        assert_eq!(envelope(35.0, 10.0, 3.0, 22.0), 0.0);
        assert_eq!(envelope(99.0, 10.0, 3.0, 22.0), 0.0);
    }

    #[test]
    fn bump_wraps_around_midnight() {
        assert!((bump(23.5, 0.5, 1.0) - bump(1.5, 0.5, 1.0)).abs() < 1e-12);
        assert_eq!(bump(8.0, 8.0, 1.0), 1.0);
    }
}
