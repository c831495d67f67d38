//! Retention of sensor data: raw readings are kept for a number of days per sensor kind, then
//! purged into hourly roll-ups (kept longer), so that charts over months still draw while the
//! store does not grow without end. The server applies the policy every hour.

use crate::App;
use polis_base::Result;
use polis_domain::{Id, SensorKind};
use std::collections::BTreeMap;

/// How long sensor data is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionPolicy {
    /// Raw readings, in days, for kinds not named in `raw_days_by_kind`.
    pub raw_days: u32,
    /// Raw readings of particular kinds (e.g. water levels kept longer for flood studies).
    pub raw_days_by_kind: BTreeMap<SensorKind, u32>,
    /// Hourly roll-ups, in days.
    pub rollup_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy { raw_days: 30, raw_days_by_kind: BTreeMap::new(), rollup_days: 730 }
    }
}

impl RetentionPolicy {
    /// The raw retention of a kind, in days.
    pub fn raw_days_of(&self, kind: SensorKind) -> u32 {
        self.raw_days_by_kind.get(&kind).copied().unwrap_or(self.raw_days)
    }
}

/// What one application of the policy deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub readings: u64,
    pub rollups: u64,
}

impl App {
    /// Purges raw readings older than their kind's retention (into hourly roll-ups) and roll-ups
    /// older than theirs.
    pub async fn apply_retention(&self, policy: &RetentionPolicy) -> Result<RetentionReport> {
        let now = self.clock().now();
        let by_kind: BTreeMap<SensorKind, Vec<Id>> = {
            let reg = self.registry().await;
            let mut m: BTreeMap<SensorKind, Vec<Id>> = BTreeMap::new();
            for s in reg.sensors.values() {
                m.entry(s.kind).or_default().push(s.id.clone());
            }
            m
        };
        let mut report = RetentionReport::default();
        for (kind, sensors) in &by_kind {
            let before = now - time::Duration::days(i64::from(policy.raw_days_of(*kind)));
            report.readings += self.store().purge_observations(sensors, before).await?;
        }
        let all: Vec<Id> = by_kind.into_values().flatten().collect();
        let before = now - time::Duration::days(i64::from(policy.rollup_days));
        report.rollups = self.store().purge_rollups(&all, before).await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_base::SimClock;
    use polis_domain::{Actor, LatLon, Observation, OrgKind, Organisation, Sensor};
    use std::sync::Arc;

    fn sensor(id: &str, kind: SensorKind) -> Sensor {
        Sensor {
            id: Id::from_trusted(id),
            municipality: Id::from_trusted("kazanlak"),
            name: id.into(),
            name_en: String::new(),
            kind,
            unit: "u".into(),
            position: LatLon::new(42.6, 25.4).expect("position"),
            owner: None,
            demo: false,
        }
    }

    #[tokio::test]
    async fn each_kind_keeps_its_days_and_purged_readings_become_rollups() {
        let start = time::macros::datetime!(2026-01-01 00:00 UTC);
        let clock = Arc::new(SimClock::new(start));
        let store = polis_store::open("sqlite::memory:").await.expect("store");
        let app = App::open(store, clock.clone()).await.expect("app");
        let system = Actor::system();
        app.put_organisation(
            &system,
            Organisation {
                id: Id::from_trusted("kazanlak"),
                kind: OrgKind::Municipality,
                name_bg: "Казанлък".into(),
                name_en: "Kazanlak".into(),
                municipality: Id::from_trusted("kazanlak"),
                agency_kind: None,
                demo: false,
            },
        )
        .await
        .expect("org");
        app.import(&system, vec![sensor("river", SensorKind::WaterLevel), sensor("air", SensorKind::AirQuality)])
            .await
            .expect("sensors");
        // One reading a day for 100 days, for both.
        let mut batch = Vec::new();
        for d in 0..100 {
            for s in ["river", "air"] {
                let o = Observation::stored(Id::from_trusted(s), start + time::Duration::days(d), None, d as f64, None)
                    .expect("reading");
                batch.push(o);
            }
        }
        app.store().insert_observations(&batch).await.expect("insert");
        clock.advance(time::Duration::days(100));
        let mut policy = RetentionPolicy { raw_days: 30, rollup_days: 60, ..Default::default() };
        policy.raw_days_by_kind.insert(SensorKind::WaterLevel, 90);
        let r = app.apply_retention(&policy).await.expect("retention");
        // air keeps days 70..99 raw (30), river days 10..99 (90); roll-ups of days before 40 go.
        assert_eq!(r.readings, 70 + 10);
        let (from, to) = (start, start + time::Duration::days(101));
        let raw = |s: &'static str| {
            let app = app.clone();
            async move { app.store().observations(&Id::from_trusted(s), None, from, to, 1000).await.expect("raw").len() }
        };
        assert_eq!(raw("air").await, 30);
        assert_eq!(raw("river").await, 90);
        let daily = app
            .store()
            .observation_buckets(&Id::from_trusted("air"), None, from, to, time::Duration::days(1))
            .await
            .expect("buckets");
        assert_eq!(daily.len(), 60, "days 40..69 from roll-ups, 70..99 raw");
        assert_eq!(r.rollups, 40 + 10, "the roll-ups of air's days 0..39 and the river's 0..9");
    }
}
