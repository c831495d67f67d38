//! Live city data: observations (one time series per sensor and quantity), rules (the current
//! version, and every version ever saved) and alarms (at most one open per rule and source,
//! which the database itself guarantees).
//!
//! Observations are the hot path, and live in two tables. A batch is appended to the intake log
//! (`observation_log`), one transaction of multi-row INSERTs, durable when it returns: a few new
//! pages at the end of the log, however many sensors the batch names. Writing each reading into
//! its sensor's place in the series instead changes one page per sensor and commit, and SQLite
//! logs whole pages: 1,000 sensors in batches of 1,000 ran at 10,000 readings/s that way, against
//! about 150,000-200,000/s now (docs/benchmarks.md). Once the log holds [`FOLD_AT`] readings it
//! is folded into the series (`observations`, keyed and on SQLite clustered by sensor, quantity
//! and time) in one sorted step, so that each page of the series changes once per step. Reads
//! take the series and the log together. A reading delivered twice (intake is at-least-once) is
//! kept once: the first to arrive, in the log as in the series.
//!
//! Rules and alarms keep what is queried in columns and the rest as JSON in a `body` column, in
//! a format written here and independent of the domain types' own serde form (which belongs to
//! whoever changes the domain). Numbers in bodies are decimal text in Rust's shortest
//! round-trip form: JSON number parsers may be off by one unit in the last place for long
//! numbers, a string is read back bit for bit. Everything read back is rebuilt through the
//! domain's validating constructors; a value that does not make a valid one is an `Internal`
//! error naming the table, id and column.

use crate::codec::{self, BadValue};
use crate::db::{Arg, Db, DbRow, Tx};
use crate::error::{db_error, is_unique_violation};
use crate::sql::{bulk_insert_with, one, write_audit, Cols, Table};
use crate::ObservationBucket;
use polis_base::{Error, FieldError, Result};
use polis_domain::alarm::{Alarm, AlarmComment, AlarmState};
use polis_domain::observation::{check_quantity, Observation};
use polis_domain::rules::{Condition, GeofenceTrigger, Rule, RuleScope, Severity};
use polis_domain::{AuditRecord, Id, LatLon, SensorKind};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

// ---- Observations --------------------------------------------------------------------------

/// The series (and the column order of every observation read, from the series or the log).
const OBSERVATIONS: Table = Table {
    name: "observations",
    entity: "observation",
    cols: &["sensor", "quantity", "time_ms", "value", "lat", "lon"],
};

/// The intake log: the columns of [`OBSERVATIONS`], after a `seq` the database assigns.
const OBSERVATION_LOG: Table = Table {
    name: "observation_log",
    entity: "observation",
    cols: &["sensor", "quantity", "time_ms", "value", "lat", "lon"],
};

/// The `quantity` column of a sensor's main value (`Observation::quantity() == None`).
const MAIN: &str = "";

/// When the intake log holds about this many readings, the insert that saw it folds the log into
/// the series. Every read scans the log, and a fold pauses intake (about 0.3-0.5 s for 100,000
/// readings on the 2-core test machine); 250,000 measured no faster overall.
const FOLD_AT: i64 = 100_000;

/// Serialises folds of one PostgreSQL database (an arbitrary, fixed key).
const PG_FOLD_LOCK: i64 = 0x706f_6c69_735f_6f62; // "polis_ob"

/// The longest bucket of [`observation_buckets`]: far beyond any chart, and small enough that
/// the bucket arithmetic cannot overflow.
const MAX_STEP_MS: i64 = 1_000 * 366 * 86_400_000;

/// About how many readings the log holds (exact until a fold races with an insert on
/// PostgreSQL): two lookups in the `seq` index instead of a count.
const LOG_LEN_SQL: &str = "SELECT COALESCE((SELECT MAX(seq) FROM observation_log) - \
                           (SELECT MIN(seq) FROM observation_log) + 1, 0)";

/// The fold on SQLite, where the writer is alone: copy in key order (the first reading to
/// arrive for a key wins), then empty the log.
const SQLITE_FOLD_SQL: &str = "INSERT INTO observations (sensor, quantity, time_ms, value, lat, lon) \
    SELECT sensor, quantity, time_ms, value, lat, lon FROM observation_log WHERE true \
    ORDER BY sensor, quantity, time_ms, seq \
    ON CONFLICT (sensor, quantity, time_ms) DO NOTHING";

/// The fold on PostgreSQL, in one statement, so that it moves exactly the rows it deletes even
/// while other transactions append (rows they commit later stay for the next fold).
const PG_FOLD_SQL: &str = "WITH moved AS (\
    DELETE FROM observation_log RETURNING seq, sensor, quantity, time_ms, value, lat, lon) \
    INSERT INTO observations (sensor, quantity, time_ms, value, lat, lon) \
    SELECT sensor, quantity, time_ms, value, lat, lon FROM moved ORDER BY sensor, quantity, time_ms, seq \
    ON CONFLICT (sensor, quantity, time_ms) DO NOTHING";

/// The readings of one sensor and quantity with `$3 <= time_ms < $4`, from the series and from
/// the log, as each key would be after a fold: the series' reading, else the log's first.
const SERIES_SQL: &str = "\
SELECT sensor, quantity, time_ms, value, lat, lon FROM observations
 WHERE sensor = $1 AND quantity = $2 AND time_ms >= $3 AND time_ms < $4
UNION ALL
SELECT sensor, quantity, time_ms, value, lat, lon FROM (
    SELECT sensor, quantity, time_ms, value, lat, lon,
           ROW_NUMBER() OVER (PARTITION BY time_ms ORDER BY seq) AS n
      FROM observation_log
     WHERE sensor = $1 AND quantity = $2 AND time_ms >= $3 AND time_ms < $4
) AS l
 WHERE n = 1 AND NOT EXISTS (
    SELECT 1 FROM observations o WHERE o.sensor = $1 AND o.quantity = $2 AND o.time_ms = l.time_ms)";

/// -0 as 0: SQLite stores a REAL without a fraction as an integer and reads -0 back as 0, so
/// PostgreSQL is given 0 too and both engines return the same values.
fn positive_zero(v: f64) -> f64 {
    if v == 0.0 {
        0.0
    } else {
        v
    }
}

fn observation_args<'a>(o: &'a Observation, out: &mut Vec<Arg<'a>>) {
    let position = o.position();
    out.extend([
        Arg::Text(o.sensor().as_str()),
        Arg::Text(o.quantity().unwrap_or(MAIN)),
        Arg::Int(codec::to_ms(o.time())),
        Arg::Real(positive_zero(o.value())),
        Arg::OptReal(position.map(|p| positive_zero(p.lat()))),
        Arg::OptReal(position.map(|p| positive_zero(p.lon()))),
    ]);
}

/// The column a domain error names in its details (`lat`, `value`, ...), else `fallback`.
fn named_column(e: &Error, fallback: &str) -> String {
    e.details.first().map_or_else(|| fallback.to_string(), |d| d.field.clone())
}

fn observation_from(row: &DbRow) -> Result<Observation> {
    let mut c = Cols::new(row, &OBSERVATIONS)?;
    let quantity = c.text()?;
    let quantity = if quantity == MAIN {
        None
    } else {
        c.check(check_quantity(&quantity))?;
        Some(quantity)
    };
    let time = c.timestamp()?;
    let value = c.real()?;
    if !value.is_finite() {
        return Err(c.bad("value", BadValue(format!("{value} is not a finite number"))));
    }
    let lat = c.opt_real()?;
    let lon = c.opt_real()?;
    let position = match (lat, lon) {
        (Some(lat), Some(lon)) => Some(LatLon::new(lat, lon).map_err(|e| c.bad(&named_column(&e, "lat"), e))?),
        (None, None) => None,
        _ => return Err(c.bad("lat", BadValue("lat and lon must both be set or both be empty".into()))),
    };
    Observation::stored(c.id(), time, quantity, value, position).map_err(|e| c.bad(&named_column(&e, "value"), e))
}

/// The column value of an optional quantity, checked (it may come from a URL).
fn quantity_arg(quantity: Option<&str>) -> Result<&str> {
    match quantity {
        None => Ok(MAIN),
        Some(q) => check_quantity(q).map(|()| q),
    }
}

/// The first whole millisecond at or after `t`. Times are stored in whole milliseconds, so
/// `time >= t` is `time_ms >= ceil_ms(t)` and `time < t` is `time_ms < ceil_ms(t)`, also when
/// `t` has finer digits.
fn ceil_ms(t: OffsetDateTime) -> i64 {
    let ns = t.unix_timestamp_nanos();
    let ms = ns.div_euclid(1_000_000) + i128::from(ns.rem_euclid(1_000_000) != 0);
    // Every OffsetDateTime is within +-3.2e14 ms: the cast cannot truncate.
    ms as i64
}

fn step_ms(step: Duration) -> Result<i64> {
    let ns = step.whole_nanoseconds();
    if ns % 1_000_000 != 0 || ns < 1_000_000 || ns / 1_000_000 > i128::from(MAX_STEP_MS) {
        return Err(Error::invalid("step", "must be a whole number of milliseconds, from 1 ms to 1,000 years"));
    }
    // Checked just above: within 1..=MAX_STEP_MS.
    Ok((ns / 1_000_000) as i64)
}

/// Appends the batch to the log (a few pages at its end, however many sensors the batch names:
/// writing each reading into its sensor's place in the series would change a page per sensor
/// and commit, and SQLite logs whole pages), and folds the log into the series once it is large.
pub(crate) async fn insert_observations(db: &Db, obs: &[Observation]) -> Result<()> {
    const WHAT: &str = "store observations";
    if obs.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        bulk_insert_with(&mut tx, &OBSERVATION_LOG, "", obs.iter(), observation_args).await.map_err(|f| f.error)?;
        let rows = tx.fetch_all(LOG_LEN_SQL, &[]).await?;
        rows.first().map_or(Ok(0), |r| r.int(0))
    }
    .await
    .map_err(|e| db_error(WHAT, e));
    let logged = tx.finish(WHAT, r).await?;
    if logged >= FOLD_AT {
        // The batch is durable: a failed fold leaves the log as it is, for the next insert.
        let started = std::time::Instant::now();
        match fold(db).await {
            Ok(()) => tracing::debug!(readings = logged, ms = started.elapsed().as_millis(), "folded observation log"),
            Err(e) => tracing::warn!(error = %e, "could not fold the observation log into the series; retrying later"),
        }
    }
    Ok(())
}

/// Folds the intake log into the series, in one transaction.
async fn fold(db: &Db) -> Result<()> {
    const WHAT: &str = "fold the observation log into the series";
    let mut tx = db.begin(WHAT).await?;
    let r = fold_in(&mut tx, false).await.map_err(|e| db_error(WHAT, e));
    tx.finish(WHAT, r).await
}

/// On PostgreSQL one fold runs at a time: with `wait`, this one waits for another to finish;
/// without, it leaves the work to that one.
async fn fold_in(tx: &mut Tx, wait: bool) -> Result<(), sqlx::Error> {
    if tx.is_sqlite() {
        tx.execute(SQLITE_FOLD_SQL, &[]).await?;
        tx.execute("DELETE FROM observation_log", &[]).await?;
        return Ok(());
    }
    let key = [Arg::Int(PG_FOLD_LOCK)];
    if wait {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &key).await?;
    } else {
        let rows = tx.fetch_all("SELECT pg_try_advisory_xact_lock($1)", &key).await?;
        if rows.first().map(|r| r.boolean(0)).transpose()? != Some(true) {
            return Ok(());
        }
    }
    tx.execute(PG_FOLD_SQL, &[]).await?;
    Ok(())
}

pub(crate) async fn observations(
    db: &Db,
    sensor: &Id,
    quantity: Option<&str>,
    from: OffsetDateTime,
    to: OffsetDateTime,
    limit: u32,
) -> Result<Vec<Observation>> {
    let quantity = quantity_arg(quantity)?;
    // `ORDER BY 3`: time_ms, the third column of both halves.
    let sql = format!("{SERIES_SQL}\nORDER BY 3 LIMIT $5");
    let args = [
        Arg::Text(sensor.as_str()),
        Arg::Text(quantity),
        Arg::Int(ceil_ms(from)),
        Arg::Int(ceil_ms(to)),
        Arg::Int(i64::from(limit)),
    ];
    let rows = db.fetch_all("read observations", &sql, &args).await?;
    rows.iter().map(observation_from).collect()
}

pub(crate) async fn observation_buckets(
    db: &Db,
    sensor: &Id,
    quantity: Option<&str>,
    from: OffsetDateTime,
    to: OffsetDateTime,
    step: Duration,
) -> Result<Vec<ObservationBucket>> {
    const WHAT: &str = "aggregate observations";
    let quantity = quantity_arg(quantity)?;
    let step = step_ms(step)?;
    // The bucket of t is t - (t mod step), with a modulo that is never negative, so that
    // buckets before 1970 are aligned too.
    let sql = format!(
        "SELECT time_ms - ((time_ms % $5) + $5) % $5 AS bucket, COUNT(*), MIN(value), MAX(value), AVG(value) \
         FROM ({SERIES_SQL}) AS s GROUP BY bucket ORDER BY bucket"
    );
    let args = [
        Arg::Text(sensor.as_str()),
        Arg::Text(quantity),
        Arg::Int(ceil_ms(from)),
        Arg::Int(ceil_ms(to)),
        Arg::Int(step),
    ];
    let rows = db.fetch_all(WHAT, &sql, &args).await?;
    let err = |e: sqlx::Error| db_error(WHAT, e);
    // bucket start -> (count, min, max, sum)
    let mut buckets: std::collections::BTreeMap<i64, (i64, f64, f64, f64)> = std::collections::BTreeMap::new();
    for row in &rows {
        let count = row.int(1).map_err(err)?;
        let avg = row.real(4).map_err(err)?;
        buckets.insert(
            row.int(0).map_err(err)?,
            (count, row.real(2).map_err(err)?, row.real(3).map_err(err)?, avg * count as f64),
        );
    }
    // Readings older than the raw retention live on as hourly roll-ups: steps of whole hours
    // take them in (a roll-up counts in the bucket its hour starts in).
    if step % HOUR_MS == 0 {
        let sql = "SELECT start_ms - ((start_ms % $5) + $5) % $5 AS bucket, CAST(SUM(count) AS BIGINT), MIN(min), MAX(max), SUM(sum) \
                   FROM observation_rollups WHERE sensor = $1 AND quantity = $2 AND start_ms >= $3 AND start_ms < $4 \
                   GROUP BY bucket";
        for row in db.fetch_all(WHAT, sql, &args).await? {
            let (start, count) = (row.int(0).map_err(err)?, row.int(1).map_err(err)?);
            let (min, max, sum) = (row.real(2).map_err(err)?, row.real(3).map_err(err)?, row.real(4).map_err(err)?);
            let e = buckets.entry(start).or_insert((0, f64::INFINITY, f64::NEG_INFINITY, 0.0));
            *e = (e.0 + count, e.1.min(min), e.2.max(max), e.3 + sum);
        }
    }
    buckets
        .into_iter()
        .filter(|(_, (count, ..))| *count > 0)
        .map(|(start, (count, min, max, sum))| {
            let start =
                codec::from_ms(start).map_err(|e| Error::internal(format!("{WHAT}: bad time")).with_source(e))?;
            Ok(ObservationBucket { start, count: u64::try_from(count).unwrap_or(0), min, max, avg: sum / count as f64 })
        })
        .collect()
}

/// The newest reading of every (sensor, quantity), with a last column saying where from: 0 the
/// series, 1 the log. In the series, rather than reading the whole table (months of data, at
/// every start), the distinct keys are walked with one index seek each (a "loose index scan" as
/// a recursive query, the same SQL on both engines), then each key's newest row is one more
/// seek. The log is small: a scan. One statement, so that a fold cannot move rows from one half
/// to the other between the two.
const LATEST_SQL: &str = "\
WITH RECURSIVE k(sensor, quantity) AS (
    SELECT sensor, quantity FROM (
        SELECT sensor, quantity FROM observations ORDER BY sensor, quantity LIMIT 1
    ) AS f0
  UNION ALL
    SELECT
        COALESCE(
            (SELECT o.sensor FROM observations o
              WHERE o.sensor = k.sensor AND o.quantity > k.quantity ORDER BY o.quantity LIMIT 1),
            (SELECT o.sensor FROM observations o WHERE o.sensor > k.sensor ORDER BY o.sensor LIMIT 1)),
        COALESCE(
            (SELECT o.quantity FROM observations o
              WHERE o.sensor = k.sensor AND o.quantity > k.quantity ORDER BY o.quantity LIMIT 1),
            (SELECT o.quantity FROM observations o
              WHERE o.sensor = (SELECT o2.sensor FROM observations o2
                                 WHERE o2.sensor > k.sensor ORDER BY o2.sensor LIMIT 1)
              ORDER BY o.quantity LIMIT 1))
    FROM k WHERE k.sensor IS NOT NULL
)
SELECT o.sensor, o.quantity, o.time_ms, o.value, o.lat, o.lon, CAST(0 AS BIGINT)
FROM k JOIN observations o ON o.sensor = k.sensor AND o.quantity = k.quantity
 AND o.time_ms = (SELECT o3.time_ms FROM observations o3
                   WHERE o3.sensor = k.sensor AND o3.quantity = k.quantity
                   ORDER BY o3.time_ms DESC LIMIT 1)
UNION ALL
SELECT sensor, quantity, time_ms, value, lat, lon, CAST(1 AS BIGINT) FROM (
    SELECT sensor, quantity, time_ms, value, lat, lon,
           ROW_NUMBER() OVER (PARTITION BY sensor, quantity ORDER BY time_ms DESC, seq) AS n
      FROM observation_log
) AS l WHERE n = 1";

pub(crate) async fn latest_observations(db: &Db) -> Result<Vec<Observation>> {
    const WHAT: &str = "read the latest observations";
    let mut latest: std::collections::BTreeMap<(Id, String), (Observation, bool)> = Default::default();
    for row in db.fetch_all(WHAT, LATEST_SQL, &[]).await? {
        let o = observation_from(&row)?;
        let logged = row.int(6).map_err(|e| db_error(WHAT, e))? == 1;
        let key = (o.sensor().clone(), o.quantity().unwrap_or(MAIN).to_string());
        // At the same time, the series' reading arrived first.
        let newer = match latest.get(&key) {
            None => true,
            Some((stored, _)) if logged => o.time() > stored.time(),
            Some((stored, _)) => o.time() >= stored.time(),
        };
        if newer {
            latest.insert(key, (o, logged));
        }
    }
    Ok(latest.into_values().map(|(o, _)| o).collect())
}

/// Folds the log first (waiting for a fold in progress), so that the deletes only touch the
/// series, each one range of its key.
/// One hour in milliseconds: the step of the stored roll-ups.
const HOUR_MS: i64 = 3_600_000;

/// Deletes the hourly roll-ups of `sensors` for hours that start before `before`.
pub(crate) async fn purge_rollups(db: &Db, sensors: &[Id], before: OffsetDateTime) -> Result<u64> {
    const WHAT: &str = "purge roll-ups";
    let before = ceil_ms(before);
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        let mut deleted = 0;
        for sensor in sensors {
            deleted += tx
                .execute(
                    "DELETE FROM observation_rollups WHERE sensor = $1 AND start_ms < $2",
                    &[Arg::Text(sensor.as_str()), Arg::Int(before)],
                )
                .await?;
        }
        Ok(deleted)
    }
    .await
    .map_err(|e| db_error(WHAT, e));
    tx.finish(WHAT, r).await
}

pub(crate) async fn purge_observations(db: &Db, sensors: &[Id], before: OffsetDateTime) -> Result<u64> {
    const WHAT: &str = "purge observations";
    if sensors.is_empty() {
        return Ok(0);
    }
    let before = ceil_ms(before);
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        fold_in(&mut tx, true).await?;
        let (least, greatest) = if tx.is_sqlite() { ("MIN", "MAX") } else { ("LEAST", "GREATEST") };
        // What is deleted is first added to the hourly roll-ups (merged with what an earlier purge
        // rolled up of the same hour).
        let roll_up = format!(
            "INSERT INTO observation_rollups (sensor, quantity, start_ms, count, min, max, sum) \
             SELECT sensor, quantity, time_ms - ((time_ms % {HOUR_MS}) + {HOUR_MS}) % {HOUR_MS} AS h, \
                    COUNT(*), MIN(value), MAX(value), SUM(value) \
               FROM observations WHERE sensor = $1 AND time_ms < $2 GROUP BY sensor, quantity, h \
             ON CONFLICT (sensor, quantity, start_ms) DO UPDATE SET \
                count = observation_rollups.count + excluded.count, \
                min = {least}(observation_rollups.min, excluded.min), \
                max = {greatest}(observation_rollups.max, excluded.max), \
                sum = observation_rollups.sum + excluded.sum"
        );
        let mut deleted = 0;
        for sensor in sensors {
            let args = [Arg::Text(sensor.as_str()), Arg::Int(before)];
            tx.execute(&roll_up, &args).await?;
            deleted += tx.execute("DELETE FROM observations WHERE sensor = $1 AND time_ms < $2", &args).await?;
        }
        Ok(deleted)
    }
    .await
    .map_err(|e| db_error(WHAT, e));
    tx.finish(WHAT, r).await
}

// ---- Bodies: numbers and positions as exact text -------------------------------------------

/// A number as decimal text that reads back bit for bit.
type Num = String;

fn num(v: f64) -> Num {
    v.to_string()
}

fn parse_num(field: &str, s: &str) -> Result<f64, BadValue> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(BadValue(format!("{field}: {s:?} is not a finite number"))),
    }
}

fn opt_num(field: &str, s: Option<&str>) -> Result<Option<f64>, BadValue> {
    s.map(|s| parse_num(field, s)).transpose()
}

/// `[lat, lon]`.
fn point(p: LatLon) -> [Num; 2] {
    [num(p.lat()), num(p.lon())]
}

fn point_from(field: &str, [lat, lon]: &[Num; 2]) -> Result<LatLon, BadValue> {
    LatLon::new(parse_num(field, lat)?, parse_num(field, lon)?).map_err(|e| BadValue(format!("{field}: {}", e.message)))
}

fn zone_from(field: &str, zone: &[[Num; 2]]) -> Result<Vec<LatLon>, BadValue> {
    zone.iter().map(|p| point_from(field, p)).collect()
}

/// Parses a domain value from body text, naming the body field when it fails.
fn domain<T>(field: &str, r: Result<T>) -> Result<T, BadValue> {
    r.map_err(|e| BadValue(format!("{field}: {}", e.message)))
}

fn to_json<T: Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::internal(format!("{what}: cannot encode")).with_source(e))
}

// ---- Rules ---------------------------------------------------------------------------------

const RULES: Table = Table { name: "rules", entity: "rule", cols: &["id", "municipality", "version", "body"] };

/// Read with the first four columns of [`RULES`]'s order.
const RULE_VERSIONS: Table = Table {
    name: "rule_versions",
    entity: "rule version",
    cols: &["id", "municipality", "version", "body", "saved_at_ms"],
};

#[derive(Serialize, Deserialize)]
struct RuleBody {
    name: String,
    enabled: bool,
    scope: ScopeBody,
    quantity: Option<String>,
    condition: ConditionBody,
    severity: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ScopeBody {
    Sensor { sensor: String },
    Kind { kind: String, zone: Option<Vec<[Num; 2]>> },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ConditionBody {
    Threshold { above: Option<Num>, below: Option<Num>, hysteresis: Num },
    Duration { above: Option<Num>, below: Option<Num>, hysteresis: Num, minutes: u32 },
    RateOfChange { max_per_minute: Num, window_minutes: u32 },
    Silence { minutes: u32 },
    Geofence { zone: Vec<[Num; 2]>, trigger: String },
}

fn rule_body(r: &Rule) -> RuleBody {
    let scope = match &r.scope {
        RuleScope::Sensor(id) => ScopeBody::Sensor { sensor: id.to_string() },
        RuleScope::Kind { kind, zone } => ScopeBody::Kind {
            kind: kind.as_str().to_string(),
            zone: zone.as_ref().map(|z| z.iter().copied().map(point).collect()),
        },
    };
    let condition = match &r.condition {
        Condition::Threshold { above, below, hysteresis } => {
            ConditionBody::Threshold { above: above.map(num), below: below.map(num), hysteresis: num(*hysteresis) }
        }
        Condition::Duration { above, below, hysteresis, minutes } => ConditionBody::Duration {
            above: above.map(num),
            below: below.map(num),
            hysteresis: num(*hysteresis),
            minutes: *minutes,
        },
        Condition::RateOfChange { max_per_minute, window_minutes } => {
            ConditionBody::RateOfChange { max_per_minute: num(*max_per_minute), window_minutes: *window_minutes }
        }
        Condition::Silence { minutes } => ConditionBody::Silence { minutes: *minutes },
        Condition::Geofence { zone, trigger } => ConditionBody::Geofence {
            zone: zone.iter().copied().map(point).collect(),
            trigger: trigger.as_str().to_string(),
        },
    };
    RuleBody {
        name: r.name.clone(),
        enabled: r.enabled,
        scope,
        quantity: r.quantity.clone(),
        condition,
        severity: r.severity.as_str().to_string(),
    }
}

fn rule_from_body(id: Id, municipality: Id, version: u32, b: RuleBody) -> Result<Rule, BadValue> {
    let scope = match b.scope {
        ScopeBody::Sensor { sensor } => RuleScope::Sensor(domain("scope.sensor", Id::parse("sensor", &sensor))?),
        ScopeBody::Kind { kind, zone } => RuleScope::Kind {
            kind: domain("scope.kind", SensorKind::parse("kind", &kind))?,
            zone: zone.map(|z| zone_from("scope.zone", &z)).transpose()?,
        },
    };
    let condition = match b.condition {
        ConditionBody::Threshold { above, below, hysteresis } => Condition::Threshold {
            above: opt_num("condition.above", above.as_deref())?,
            below: opt_num("condition.below", below.as_deref())?,
            hysteresis: parse_num("condition.hysteresis", &hysteresis)?,
        },
        ConditionBody::Duration { above, below, hysteresis, minutes } => Condition::Duration {
            above: opt_num("condition.above", above.as_deref())?,
            below: opt_num("condition.below", below.as_deref())?,
            hysteresis: parse_num("condition.hysteresis", &hysteresis)?,
            minutes,
        },
        ConditionBody::RateOfChange { max_per_minute, window_minutes } => Condition::RateOfChange {
            max_per_minute: parse_num("condition.max_per_minute", &max_per_minute)?,
            window_minutes,
        },
        ConditionBody::Silence { minutes } => Condition::Silence { minutes },
        ConditionBody::Geofence { zone, trigger } => Condition::Geofence {
            zone: zone_from("condition.zone", &zone)?,
            trigger: domain("condition.trigger", GeofenceTrigger::parse("trigger", &trigger))?,
        },
    };
    let rule = Rule {
        id,
        municipality,
        name: b.name,
        version,
        enabled: b.enabled,
        scope,
        quantity: b.quantity,
        condition,
        severity: domain("severity", Severity::parse("severity", &b.severity))?,
    };
    let problems = rule.check();
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
        return Err(BadValue(format!("not a valid rule: {}", list.join("; "))));
    }
    Ok(rule)
}

/// Reads `id, municipality, version, body` of `table`.
fn rule_from(row: &DbRow, table: &'static Table) -> Result<Rule> {
    let mut c = Cols::new(row, table)?;
    let municipality = c.ref_id()?;
    let version = c.int()?;
    let version = c.check(u32::try_from(version))?;
    let body = c.text()?;
    let body: RuleBody = c.check(serde_json::from_str(&body))?;
    c.check(rule_from_body(c.id(), municipality, version, body))
}

pub(crate) async fn put_rule(db: &Db, rule: &Rule, audit: &AuditRecord) -> Result<()> {
    const WHAT: &str = "save rule";
    // A rule that would not read back is refused here rather than stored.
    let problems = rule.check();
    if !problems.is_empty() {
        return Err(Error::invalid_fields(format!("rule {} is not valid", rule.id), problems));
    }
    let body = to_json(WHAT, &rule_body(rule))?;
    let (id, municipality, version) = (rule.id.as_str(), rule.municipality.as_str(), i64::from(rule.version));
    let err = |e: sqlx::Error| db_error(WHAT, e);
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        // Replaces the current version unless a newer one is there (also when it was saved by a
        // concurrent transaction: PostgreSQL re-checks the condition on the locked row).
        let replaced = tx
            .execute(
                "INSERT INTO rules (id, municipality, version, body) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET municipality = excluded.municipality, \
                 version = excluded.version, body = excluded.body WHERE rules.version <= excluded.version",
                &[Arg::Text(id), Arg::Text(municipality), Arg::Int(version), Arg::Text(&body)],
            )
            .await
            .map_err(err)?;
        if replaced == 0 {
            let rows = tx.fetch_all("SELECT version FROM rules WHERE id = $1", &[Arg::Text(id)]).await.map_err(err)?;
            let current = rows.first().map(|r| r.int(0)).transpose().map_err(err)?.unwrap_or(0);
            let message = format!("rule {id} is at version {current}; version {version} is older");
            return Err(
                Error::failed_precondition(message.clone()).with_details(vec![FieldError::new("version", message)])
            );
        }
        let saved = tx
            .execute(
                "INSERT INTO rule_versions (id, municipality, version, body, saved_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id, version) DO NOTHING",
                &[
                    Arg::Text(id),
                    Arg::Text(municipality),
                    Arg::Int(version),
                    Arg::Text(&body),
                    Arg::Int(codec::to_ms(audit.at)),
                ],
            )
            .await
            .map_err(err)?;
        if saved == 0 {
            // Saving the same version again is a retry, harmless when it holds the same rule.
            let rows = tx
                .fetch_all(
                    "SELECT municipality, body FROM rule_versions WHERE id = $1 AND version = $2",
                    &[Arg::Text(id), Arg::Int(version)],
                )
                .await
                .map_err(err)?;
            let same = match rows.first() {
                Some(row) => row.text(0).map_err(err)? == municipality && row.text(1).map_err(err)? == body,
                None => false,
            };
            if !same {
                let message = format!(
                    "version {version} of rule {id} was saved before with other contents; save the change as a \
                     newer version"
                );
                return Err(
                    Error::already_exists(message.clone()).with_details(vec![FieldError::new("version", message)])
                );
            }
        }
        write_audit(&mut tx, WHAT, std::slice::from_ref(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn delete_rule(db: &Db, id: &Id, audit: &AuditRecord) -> Result<()> {
    const WHAT: &str = "delete rule";
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        // Its versions stay: alarms name them.
        let n = tx
            .execute("DELETE FROM rules WHERE id = $1", &[Arg::Text(id.as_str())])
            .await
            .map_err(|e| db_error(WHAT, e))?;
        if n == 0 {
            return Err(Error::not_found(format!("no rule with id {id}")));
        }
        write_audit(&mut tx, WHAT, std::slice::from_ref(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn list_rules(db: &Db) -> Result<Vec<Rule>> {
    let sql = format!("{} ORDER BY id", RULES.select_sql());
    let rows = db.fetch_all("list rules", &sql, &[]).await?;
    rows.iter().map(|r| rule_from(r, &RULES)).collect()
}

pub(crate) async fn rule_version(db: &Db, id: &Id, version: u32) -> Result<Option<Rule>> {
    let sql = "SELECT id, municipality, version, body FROM rule_versions WHERE id = $1 AND version = $2";
    let rows =
        db.fetch_all("read a rule version", sql, &[Arg::Text(id.as_str()), Arg::Int(i64::from(version))]).await?;
    rows.first().map(|r| rule_from(r, &RULE_VERSIONS)).transpose()
}

// ---- Alarms --------------------------------------------------------------------------------

const ALARMS: Table = Table {
    name: "alarms",
    entity: "alarm",
    cols: &[
        "id",
        "municipality",
        "rule",
        "rule_version",
        "source",
        "severity",
        "state",
        "first_seen_ms",
        "last_seen_ms",
        "count",
        "body",
    ],
};

/// The state that is not open; the partial unique index `alarms_one_open` names it too.
const CLOSED: AlarmState = AlarmState::ClearedAcknowledged;

#[derive(Serialize, Deserialize)]
struct AlarmBody {
    message: String,
    value: Option<Num>,
    /// `[lat, lon]`.
    location: Option<[Num; 2]>,
    acknowledged_by: Option<String>,
    acknowledged_at_ms: Option<i64>,
    cleared_at_ms: Option<i64>,
    cleared_by: Option<String>,
    clear_reason: Option<String>,
    comments: Vec<CommentBody>,
}

#[derive(Serialize, Deserialize)]
struct CommentBody {
    at_ms: i64,
    by: String,
    text: String,
}

fn alarm_body(a: &Alarm) -> AlarmBody {
    AlarmBody {
        message: a.message.clone(),
        value: a.value.map(num),
        location: a.location.map(point),
        acknowledged_by: a.acknowledged_by.clone(),
        acknowledged_at_ms: a.acknowledged_at.map(codec::to_ms),
        cleared_at_ms: a.cleared_at.map(codec::to_ms),
        cleared_by: a.cleared_by.clone(),
        clear_reason: a.clear_reason.clone(),
        comments: a
            .comments
            .iter()
            .map(|c| CommentBody { at_ms: codec::to_ms(c.at), by: c.by.clone(), text: c.text.clone() })
            .collect(),
    }
}

fn opt_time(ms: Option<i64>) -> Result<Option<OffsetDateTime>, BadValue> {
    ms.map(codec::from_ms).transpose()
}

fn alarm_from(row: &DbRow) -> Result<Alarm> {
    let mut c = Cols::new(row, &ALARMS)?;
    let municipality = c.ref_id()?;
    let rule = c.ref_id()?;
    let rule_version = c.int()?;
    let rule_version = c.check(u32::try_from(rule_version))?;
    let source = c.ref_id()?;
    let severity = c.text()?;
    let severity = c.check(Severity::parse("severity", &severity))?;
    let state = c.text()?;
    let state = c.check(AlarmState::parse("state", &state))?;
    let first_seen = c.timestamp()?;
    let last_seen = c.timestamp()?;
    let count = c.int()?;
    let count = c.check(u32::try_from(count))?;
    let body = c.text()?;
    let b: AlarmBody = c.check(serde_json::from_str(&body))?;
    let decoded = (|| {
        let comments = b
            .comments
            .into_iter()
            .map(|k| Ok(AlarmComment { at: codec::from_ms(k.at_ms)?, by: k.by, text: k.text }))
            .collect::<Result<Vec<_>, BadValue>>()?;
        Ok::<_, BadValue>(Alarm {
            id: c.id(),
            municipality,
            rule,
            rule_version,
            source,
            severity,
            state,
            message: b.message,
            first_seen,
            last_seen,
            count,
            value: opt_num("value", b.value.as_deref())?,
            location: b.location.as_ref().map(|p| point_from("location", p)).transpose()?,
            acknowledged_by: b.acknowledged_by,
            acknowledged_at: opt_time(b.acknowledged_at_ms)?,
            cleared_at: opt_time(b.cleared_at_ms)?,
            cleared_by: b.cleared_by,
            clear_reason: b.clear_reason,
            comments,
        })
    })();
    c.check(decoded)
}

pub(crate) async fn put_alarm(db: &Db, alarm: &Alarm, audit: Option<&AuditRecord>) -> Result<()> {
    put_alarms_with(db, std::slice::from_ref(alarm), audit).await
}

/// Several alarms in one transaction (coalesced repeats of an alarm storm).
pub(crate) async fn put_alarms(db: &Db, alarms: &[Alarm]) -> Result<()> {
    if alarms.is_empty() {
        return Ok(());
    }
    put_alarms_with(db, alarms, None).await
}

async fn put_alarms_with(db: &Db, alarms: &[Alarm], audit: Option<&AuditRecord>) -> Result<()> {
    const WHAT: &str = "save alarm";
    let mut bodies = Vec::with_capacity(alarms.len());
    for alarm in alarms {
        if alarm.value.is_some_and(|v| !v.is_finite()) {
            return Err(Error::invalid("value", "must be a finite number"));
        }
        bodies.push(to_json(WHAT, &alarm_body(alarm))?);
    }
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        for (alarm, body) in alarms.iter().zip(&bodies) {
            let args = [
                Arg::Text(alarm.id.as_str()),
                Arg::Text(alarm.municipality.as_str()),
                Arg::Text(alarm.rule.as_str()),
                Arg::Int(i64::from(alarm.rule_version)),
                Arg::Text(alarm.source.as_str()),
                Arg::Text(alarm.severity.as_str()),
                Arg::Text(alarm.state.as_str()),
                Arg::Int(codec::to_ms(alarm.first_seen)),
                Arg::Int(codec::to_ms(alarm.last_seen)),
                Arg::Int(i64::from(alarm.count)),
                Arg::Text(body),
            ];
            if let Err(e) = tx.execute(&ALARMS.upsert_sql(), &args).await {
                if is_unique_violation(&e) {
                    // Ids are replaced by the upsert: the only other unique key is alarms_one_open.
                    return Err(Error::already_exists(format!(
                        "alarm {}: another alarm for {} is open; update that one instead",
                        alarm.id,
                        alarm.key()
                    ))
                    .with_source(db_error(WHAT, e)));
                }
                return Err(db_error(WHAT, e));
            }
        }
        write_audit(&mut tx, WHAT, one(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn open_alarms(db: &Db) -> Result<Vec<Alarm>> {
    let sql = format!("{} WHERE state <> $1 ORDER BY last_seen_ms DESC, id", ALARMS.select_sql());
    let rows = db.fetch_all("list open alarms", &sql, &[Arg::Text(CLOSED.as_str())]).await?;
    rows.iter().map(alarm_from).collect()
}

pub(crate) async fn alarm(db: &Db, id: &Id) -> Result<Option<Alarm>> {
    let sql = format!("{} WHERE id = $1", ALARMS.select_sql());
    let rows = db.fetch_all("read alarm", &sql, &[Arg::Text(id.as_str())]).await?;
    rows.first().map(alarm_from).transpose()
}

pub(crate) async fn list_alarms(db: &Db, municipality: Option<&Id>, open_only: bool, limit: u32) -> Result<Vec<Alarm>> {
    let mut sql = format!("{} WHERE 1 = 1", ALARMS.select_sql());
    let mut args = vec![Arg::Int(i64::from(limit))];
    if let Some(m) = municipality {
        args.push(Arg::Text(m.as_str()));
        sql.push_str(&format!(" AND municipality = ${}", args.len()));
    }
    if open_only {
        args.push(Arg::Text(CLOSED.as_str()));
        sql.push_str(&format!(" AND state <> ${}", args.len()));
    }
    sql.push_str(" ORDER BY last_seen_ms DESC, id LIMIT $1");
    let rows = db.fetch_all("list alarms", &sql, &args).await?;
    rows.iter().map(alarm_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_ns(ns: i128) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(ns).expect("in range")
    }

    #[test]
    fn ceil_ms_rounds_up_to_the_next_whole_millisecond() {
        assert_eq!(ceil_ms(at_ns(1_000_000)), 1);
        assert_eq!(ceil_ms(at_ns(1_000_001)), 2);
        assert_eq!(ceil_ms(at_ns(0)), 0);
        assert_eq!(ceil_ms(at_ns(-1)), 0);
        assert_eq!(ceil_ms(at_ns(-1_000_001)), -1);
    }

    #[test]
    fn steps_are_whole_positive_milliseconds() {
        assert_eq!(step_ms(Duration::minutes(1)).ok(), Some(60_000));
        assert_eq!(step_ms(Duration::milliseconds(1)).ok(), Some(1));
        for bad in [Duration::ZERO, Duration::milliseconds(-5), Duration::microseconds(1500), Duration::days(400_000)] {
            let e = step_ms(bad).unwrap_err();
            assert_eq!(e.details[0].field, "step", "{bad}");
        }
    }

    #[test]
    fn numbers_in_bodies_read_back_bit_for_bit() {
        for v in [0.1, -0.0, 1e-300, 5e-324, f64::MAX, 42.619_123_456_789_01, f64::from_bits(25.393f64.to_bits() + 1)] {
            let back = parse_num("x", &num(v)).expect("parses");
            assert_eq!(back.to_bits(), v.to_bits(), "{v}");
        }
        assert!(parse_num("x", "NaN").is_err());
        assert!(parse_num("x", "inf").is_err());
        assert!(parse_num("x", "12 cm").is_err());
    }
}
