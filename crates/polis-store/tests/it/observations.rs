//! Observations: exact round trips, half-open ranges, limits, buckets, the latest per sensor and
//! quantity, idempotent redelivery, retention.

use crate::fixtures::*;
use polis_base::ErrorKind;
use polis_domain::{Id, LatLon, Observation};
use polis_store::{DynStore, ObservationBucket};
use time::{Duration, OffsetDateTime};

/// A reading at `T0 + ms`.
pub fn obs(sensor: &str, quantity: Option<&str>, ms: i64, value: f64) -> Observation {
    Observation::stored(id(sensor), at_ms(T0 + ms), quantity.map(String::from), value, None)
        .expect("valid test reading")
}

fn moved(o: Observation, p: LatLon) -> Observation {
    Observation::stored(o.sensor().clone(), o.time(), o.quantity().map(String::from), o.value(), Some(p))
        .expect("valid test reading")
}

/// Far enough on either side of every test reading.
fn all_time() -> (OffsetDateTime, OffsetDateTime) {
    (at_ms(0), at_ms(T0 + 365 * 86_400_000))
}

async fn series(store: &DynStore, sensor: &str, quantity: Option<&str>) -> Vec<Observation> {
    let (from, to) = all_time();
    store.observations(&id(sensor), quantity, from, to, u32::MAX).await.expect("read series")
}

pub async fn observations_round_trip_exactly(store: DynStore) {
    // Values whose shortest decimal form is long, a negative zero, a tiny and a huge number.
    let awkward = f64::from_bits(25.393f64.to_bits() + 1);
    let bus = ll(42.619_123_456_789_01, awkward);
    let main = vec![
        obs("gauge-1", None, 0, awkward),
        obs("gauge-1", None, 1, -0.0),
        obs("gauge-1", None, 2, 1e-300),
        obs("gauge-1", None, 3, -f64::MAX),
    ];
    let pm25 = vec![obs("aq-1", Some("pm25"), 0, 17.25), obs("aq-1", Some("pm25"), 60_000, 18.5)];
    let pm10 = vec![obs("aq-1", Some("pm10"), 0, 31.0)];
    let moving = vec![moved(obs("bus-7", None, 5, 31.0), bus), moved(obs("bus-7", Some("speed"), 5, 42.0), bus)];
    let mut batch: Vec<Observation> = main.iter().chain(&pm25).chain(&pm10).chain(&moving).cloned().collect();
    batch.reverse();
    store.insert_observations(&batch).await.expect("insert");

    let back = series(&store, "gauge-1", None).await;
    assert_eq!(back, main);
    for (b, m) in back.iter().zip(&main) {
        // -0 is stored as 0 on both engines (SQLite would turn it into 0, so PostgreSQL does
        // too): the one value that does not come back bit for bit.
        let expected = if m.value() == 0.0 { 0.0f64 } else { m.value() };
        assert_eq!(b.value().to_bits(), expected.to_bits(), "bit for bit: {}", m.value());
    }
    assert_eq!(series(&store, "aq-1", Some("pm25")).await, pm25);
    assert_eq!(series(&store, "aq-1", Some("pm10")).await, pm10);
    assert!(series(&store, "aq-1", None).await.is_empty(), "None is the main value, not every quantity");
    assert_eq!(series(&store, "bus-7", None).await, moving[..1]);
    assert_eq!(series(&store, "bus-7", Some("speed")).await, moving[1..]);
    assert_eq!(series(&store, "bus-7", None).await[0].position(), Some(bus));

    // Time is kept to the millisecond: finer digits are dropped.
    let fine = at_ms(T0 + 10) + Duration::nanoseconds(999_999);
    let o = Observation::stored(id("gauge-2"), fine, None, 1.0, None).expect("reading");
    store.insert_observations(&[o]).await.expect("insert");
    assert_eq!(series(&store, "gauge-2", None).await[0].time(), at_ms(T0 + 10));

    store.insert_observations(&[]).await.expect("an empty batch is fine");
}

pub async fn observation_ranges_are_half_open_ordered_and_limited(store: DynStore) {
    let mut batch: Vec<Observation> = (0..10).map(|i| obs("g", None, i * 1_000, i as f64)).collect();
    batch.push(obs("g", Some("t"), 3_000, 99.0));
    batch.push(obs("other", None, 3_000, 99.0));
    batch.swap(0, 7);
    store.insert_observations(&batch).await.expect("insert");

    let values = |v: Vec<Observation>| v.iter().map(Observation::value).collect::<Vec<_>>();
    let g = id("g");
    let read = |from: OffsetDateTime, to: OffsetDateTime, limit: u32| {
        let (store, g) = (store.clone(), g.clone());
        async move { store.observations(&g, None, from, to, limit).await.expect("read") }
    };
    assert_eq!(values(read(at_ms(T0 + 2_000), at_ms(T0 + 5_000), 100).await), [2.0, 3.0, 4.0], "from <= t < to");
    assert_eq!(values(read(at_ms(T0 + 2_000), at_ms(T0 + 5_000), 2).await), [2.0, 3.0], "limit keeps the oldest");
    assert!(read(at_ms(T0 + 2_000), at_ms(T0 + 5_000), 0).await.is_empty());
    assert!(read(at_ms(T0 + 5_000), at_ms(T0 + 2_000), 100).await.is_empty(), "an empty range");
    assert!(read(at_ms(T0 + 2_000), at_ms(T0 + 2_000), 100).await.is_empty(), "an empty range");
    // Bounds between two milliseconds: 2.000000001 s excludes the reading at 2 s, and a `to` of
    // 4.000000001 s includes the one at 4 s.
    let ns = Duration::nanoseconds(1);
    assert_eq!(values(read(at_ms(T0 + 2_000) + ns, at_ms(T0 + 4_000) + ns, 100).await), [3.0, 4.0]);
    assert_eq!(values(read(at_ms(T0 + 2_000) - ns, at_ms(T0 + 4_000) - ns, 100).await), [2.0, 3.0]);

    let e = store.observations(&g, Some("PM2.5"), at_ms(0), at_ms(T0 + 1), 10).await.unwrap_err();
    assert_eq!((e.kind, e.details[0].field.as_str()), (ErrorKind::InvalidArgument, "quantity"));
    let e = store.observations(&g, Some(""), at_ms(0), at_ms(T0 + 1), 10).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "the main value is None, not an empty name");
}

pub async fn a_redelivered_batch_is_stored_once(store: DynStore) {
    let batch: Vec<Observation> = (0..50).map(|i| obs("g", None, i * 10, i as f64)).collect();
    store.insert_observations(&batch).await.expect("first delivery");
    store.insert_observations(&batch).await.expect("the same batch again");
    // A duplicate within a batch, and a different value for a time already stored: the stored
    // reading stays.
    let again = vec![obs("g", None, 1_000, 1.0), obs("g", None, 1_000, 1.0), obs("g", None, 0, 12345.0)];
    store.insert_observations(&again).await.expect("duplicates");
    let back = series(&store, "g", None).await;
    assert_eq!(back.len(), 51);
    assert_eq!(back[0].value(), 0.0, "the first reading stored for a time is kept");
}

/// Enough observations to need several statements, from many sensors.
pub async fn a_large_batch_lands_whole(store: DynStore) {
    let batch: Vec<Observation> = (0..10_000).map(|i| obs(&format!("s{:03}", i % 100), None, i, i as f64)).collect();
    store.insert_observations(&batch).await.expect("insert");
    let s7 = series(&store, "s007", None).await;
    assert_eq!(s7.len(), 100);
    assert!(s7.windows(2).all(|w| w[0].time() < w[1].time()), "ascending time");
    assert_eq!(s7[99].value(), 9_907.0);
    let latest = store.latest_observations().await.expect("latest");
    assert_eq!(latest.len(), 100);
    assert_eq!(latest[7], obs("s007", None, 9_907, 9_907.0));
}

fn bucket(start_ms: i64, values: &[f64]) -> ObservationBucket {
    let sum: f64 = values.iter().sum();
    ObservationBucket {
        start: at_ms(start_ms),
        count: values.len() as u64,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        avg: sum / values.len() as f64,
    }
}

pub async fn buckets_aggregate_per_step_aligned_to_the_epoch(store: DynStore) {
    const MIN: i64 = 60_000;
    // T0 is not on a minute: the first bucket starts at the minute before it.
    let m0 = T0 - T0.rem_euclid(MIN);
    let t = |ms: i64| ms - T0;
    let batch = vec![
        obs("g", None, t(m0 + 5_000), 4.0),
        obs("g", None, t(m0 + 59_999), 8.0),
        obs("g", None, t(m0 + 30_000), 6.0),
        obs("g", None, t(m0 + MIN), -2.5),
        // An empty minute, then one reading.
        obs("g", None, t(m0 + 3 * MIN + 1), 100.0),
        // Other series do not mix in.
        obs("g", Some("t"), t(m0 + 1), 1e9),
        obs("h", None, t(m0 + 1), 1e9),
    ];
    store.insert_observations(&batch).await.expect("insert");
    let g = id("g");
    let buckets = |from: i64, to: i64, step: Duration| {
        let (store, g) = (store.clone(), g.clone());
        async move { store.observation_buckets(&g, None, at_ms(from), at_ms(to), step).await.expect("buckets") }
    };
    let got = buckets(m0, m0 + 10 * MIN, Duration::minutes(1)).await;
    assert_eq!(got, vec![bucket(m0, &[4.0, 6.0, 8.0]), bucket(m0 + MIN, &[-2.5]), bucket(m0 + 3 * MIN, &[100.0])]);
    // The range cuts inside a bucket: only readings in the range count, the bucket keeps its
    // aligned start.
    let got = buckets(m0 + 10_000, m0 + 3 * MIN, Duration::minutes(1)).await;
    assert_eq!(got, vec![bucket(m0, &[6.0, 8.0]), bucket(m0 + MIN, &[-2.5])]);
    // One bucket of an hour holds them all (T0 is 123 ms after the hour).
    let h0 = T0 - T0.rem_euclid(3_600_000);
    assert_eq!(h0, m0);
    let got = buckets(0, T0 + 86_400_000, Duration::hours(1)).await;
    assert_eq!(got, vec![bucket(h0, &[4.0, 8.0, 6.0, -2.5, 100.0])]);

    let e = store.observation_buckets(&g, None, at_ms(0), at_ms(T0), Duration::ZERO).await.unwrap_err();
    assert_eq!((e.kind, e.details[0].field.as_str()), (ErrorKind::InvalidArgument, "step"));
    let e = store.observation_buckets(&g, None, at_ms(0), at_ms(T0), Duration::microseconds(1_500)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
}

/// Buckets are aligned to the epoch before 1970 too (a modulo that stays positive).
pub async fn buckets_before_1970_are_aligned(store: DynStore) {
    let o = |ms: i64, v: f64| Observation::stored(id("old"), at_ms(ms), None, v, None).expect("reading");
    store.insert_observations(&[o(-90_000, 1.0), o(-61_000, 3.0), o(-59_999, 5.0), o(1, 7.0)]).await.expect("insert");
    let got = store
        .observation_buckets(&id("old"), None, at_ms(-1_000_000), at_ms(1_000_000), Duration::minutes(1))
        .await
        .expect("buckets");
    assert_eq!(got, vec![bucket(-120_000, &[1.0, 3.0]), bucket(-60_000, &[5.0]), bucket(0, &[7.0])]);
}

pub async fn latest_is_the_newest_per_sensor_and_quantity(store: DynStore) {
    assert!(store.latest_observations().await.expect("latest").is_empty(), "none stored yet");
    let p = ll(42.6, 25.4);
    let batch = vec![
        obs("b", None, 5, 1.0),
        obs("b", None, 9, 2.0),
        obs("b", None, 7, 3.0),
        obs("a", Some("pm25"), 100, 4.0),
        obs("a", Some("pm25"), 50, 5.0),
        obs("a", Some("pm10"), 1, 6.0),
        obs("a", None, -5, 7.0),
        moved(obs("bus", None, 3, 8.0), p),
        obs("c", Some("x"), 0, 9.0),
    ];
    store.insert_observations(&batch).await.expect("insert");
    // An older reading arriving later does not replace the newest.
    store.insert_observations(&[obs("b", None, 1, 10.0)]).await.expect("late");
    let latest = store.latest_observations().await.expect("latest");
    assert_eq!(
        latest,
        vec![
            obs("a", None, -5, 7.0),
            obs("a", Some("pm10"), 1, 6.0),
            obs("a", Some("pm25"), 100, 4.0),
            obs("b", None, 9, 2.0),
            moved(obs("bus", None, 3, 8.0), p),
            obs("c", Some("x"), 0, 9.0),
        ]
    );
}

pub async fn purge_deletes_older_observations_of_the_given_sensors(store: DynStore) {
    let mut batch = Vec::new();
    for s in ["a", "b", "c"] {
        for q in [None, Some("pm10")] {
            batch.extend((0..10).map(|i| obs(s, q, i * 1_000, i as f64)));
        }
    }
    store.insert_observations(&batch).await.expect("insert");
    let deleted = store.purge_observations(&[id("a"), id("b"), id("nobody")], at_ms(T0 + 4_000)).await.expect("purge");
    assert_eq!(deleted, 2 * 2 * 4, "4 readings before the cut, 2 quantities, 2 sensors");
    let first = |v: Vec<Observation>| v.first().map(Observation::time);
    assert_eq!(first(series(&store, "a", None).await), Some(at_ms(T0 + 4_000)), "the cut itself stays");
    assert_eq!(first(series(&store, "b", Some("pm10")).await), Some(at_ms(T0 + 4_000)));
    assert_eq!(series(&store, "c", None).await.len(), 10, "other sensors are untouched");
    assert_eq!(store.purge_observations(&[id("a")], at_ms(T0 + 4_000)).await.expect("again"), 0);
    assert_eq!(store.purge_observations(&[], at_ms(T0 + 99_000)).await.expect("none"), 0);
    let all: Vec<Id> = ["a", "b", "c"].into_iter().map(id).collect();
    assert_eq!(store.purge_observations(&all, at_ms(T0 + 99_000)).await.expect("all"), 2 * 2 * 6 + 2 * 10);
    assert!(store.latest_observations().await.expect("latest").is_empty());
}

/// Every read: the series (to `to`, raw and in buckets) and the latest, as one value to compare.
async fn everything(store: &DynStore, sensors: &[&str]) -> Vec<String> {
    let (from, to) = all_time();
    let mut out = vec![format!("{:?}", store.latest_observations().await.expect("latest"))];
    for s in sensors {
        for q in [None, Some("pm10")] {
            out.push(format!("{:?}", store.observations(&id(s), q, from, to, 1_000).await.expect("read")));
            out.push(format!("{:?}", store.observations(&id(s), q, from, to, 3).await.expect("read")));
            let b = store.observation_buckets(&id(s), q, from, to, Duration::seconds(10)).await.expect("buckets");
            out.push(format!("{b:?}"));
        }
    }
    out
}

/// Readings wait in the intake log until it is folded into the series (when it is large, or
/// before a purge); reads see the same either way, and the first reading of a time wins across
/// the two.
pub async fn reads_are_the_same_before_and_after_a_fold(store: DynStore) {
    let fold = || async { store.purge_observations(&[id("nobody")], at_ms(0)).await.expect("fold") };
    let first: Vec<Observation> = (0..40)
        .map(|i| obs(["a", "b"][i as usize % 2], [None, Some("pm10")][i as usize % 3 % 2], i * 1_000, i as f64))
        .collect();
    store.insert_observations(&first).await.expect("insert");
    let logged = everything(&store, &["a", "b"]).await;
    fold().await;
    assert_eq!(everything(&store, &["a", "b"]).await, logged, "the same after the fold");

    // Now some in the series, some in the log: redelivered with other values (the stored ones
    // stay), repeated within the log (the first stays), and new ones older and newer.
    let mut second: Vec<Observation> =
        first.iter().take(10).map(|o| obs(o.sensor().as_str(), o.quantity(), 0, -1.0)).collect();
    second.push(obs("a", None, 50_000, 50.0));
    second.push(obs("a", None, 50_000, -50.0));
    second.push(obs("a", None, -1_000, -1.0));
    second.push(obs("b", Some("pm10"), 99_000, 99.0));
    store.insert_observations(&second).await.expect("insert");
    store.insert_observations(&[obs("a", None, 50_000, -51.0)]).await.expect("insert");
    let mixed = everything(&store, &["a", "b"]).await;
    let a = series(&store, "a", None).await;
    assert_eq!(a.first(), Some(&obs("a", None, -1_000, -1.0)));
    assert_eq!(a.last(), Some(&obs("a", None, 50_000, 50.0)), "the first of three for one time");
    assert_eq!(a.iter().find(|o| o.time() == at_ms(T0)).map(Observation::value), Some(0.0), "the series' wins");
    fold().await;
    assert_eq!(everything(&store, &["a", "b"]).await, mixed, "the same after the second fold");
}

/// Readings purged by retention live on in hourly roll-ups: hour-step buckets are the same
/// before and after the purge (also when an hour is split between roll-ups and raw readings),
/// finer steps see only the raw readings left, and roll-ups have their own retention.
pub async fn purged_readings_live_on_in_hourly_rollups(store: DynStore) {
    const H: i64 = 3_600_000;
    // Three hours of readings every 10 minutes (T0 is not on an hour: buckets split).
    let batch: Vec<Observation> = (0..18).map(|i| obs("g", None, i * 600_000, (i % 5) as f64 * 10.0 - 7.5)).collect();
    store.insert_observations(&batch).await.expect("insert");
    let (from, to) = all_time();
    let hourly = |store: DynStore| async move {
        store.observation_buckets(&id("g"), None, from, to, Duration::hours(1)).await.expect("buckets")
    };
    let two_hourly = |store: DynStore| async move {
        store.observation_buckets(&id("g"), None, from, to, Duration::hours(2)).await.expect("buckets")
    };
    let before = hourly(store.clone()).await;
    let before2 = two_hourly(store.clone()).await;
    // Cut in the middle of an hour, in two steps, so that one hour is rolled up twice.
    assert_eq!(store.purge_observations(&[id("g")], at_ms(T0 + 50 * 60_000)).await.expect("purge"), 5);
    assert_eq!(store.purge_observations(&[id("g")], at_ms(T0 + 95 * 60_000)).await.expect("purge"), 5);
    let same = |a: &[ObservationBucket], b: &[ObservationBucket]| {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.start == y.start
                    && x.count == y.count
                    && x.min == y.min
                    && x.max == y.max
                    && (x.avg - y.avg).abs() < 1e-9
            })
    };
    assert!(same(&before, &hourly(store.clone()).await), "hourly buckets changed: {before:?}");
    assert!(same(&before2, &two_hourly(store.clone()).await), "two-hour buckets changed");
    let minutes = store.observation_buckets(&id("g"), None, from, to, Duration::minutes(10)).await.expect("buckets");
    assert_eq!(minutes.iter().map(|b| b.count).sum::<u64>(), 8, "finer steps read what is still raw");
    assert_eq!(series(&store, "g", None).await.len(), 8);
    // Roll-ups of hours that start before the cut go with their own retention.
    let first_hour = before[0].start;
    store.purge_rollups(&[id("g")], first_hour + Duration::milliseconds(H)).await.expect("purge roll-ups");
    let after = hourly(store.clone()).await;
    assert!(after.iter().all(|b| b.start > first_hour), "the first hour's roll-up is gone: {after:?}");
    assert_eq!(after.iter().map(|b| b.count).sum::<u64>(), 18 - before[0].count);
}
