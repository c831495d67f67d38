-- Live city data (SQLite): observations, rules with every version kept, alarms. Conventions as
-- in 0001: unix milliseconds, TEXT ids compared byte by byte, STRICT tables.

-- Observations live in two tables (see src/live.rs for why):
--
-- observation_log: the intake log. A batch is appended at the end (seq is the rowid, in arrival
-- order), so a commit writes a few new pages however many sensors the batch names.
--
-- observations: the series, keyed and clustered (WITHOUT ROWID) by (sensor, quantity, time): a
-- sensor's series is one contiguous range, read in time order without a sort. The log is folded
-- into it in large steps, each sorted by that key, so that every page changes once per step.
-- A reading delivered twice (intake is at-least-once) is kept once: the first to arrive.
--
-- quantity '' is the sensor's main value; lat/lon the position a moving device reported (both
-- or neither). No foreign key to sensors: a deleted sensor's history stays until retention
-- purges it, and intake pays for no lookup per reading.
CREATE TABLE observation_log (
    seq      INTEGER PRIMARY KEY,
    sensor   TEXT    NOT NULL,
    quantity TEXT    NOT NULL,
    time_ms  INTEGER NOT NULL,
    value    REAL    NOT NULL,
    lat      REAL,
    lon      REAL
) STRICT;

CREATE TABLE observations (
    sensor   TEXT    NOT NULL,
    quantity TEXT    NOT NULL,
    time_ms  INTEGER NOT NULL,
    value    REAL    NOT NULL,
    lat      REAL,
    lon      REAL,
    PRIMARY KEY (sensor, quantity, time_ms)
) STRICT, WITHOUT ROWID;

-- The current version of each rule. body is JSON written by polis-store (src/live.rs): the
-- name, enabled flag, scope, quantity, condition and severity; numbers as exact decimal text.
CREATE TABLE rules (
    id           TEXT    NOT NULL PRIMARY KEY,
    municipality TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    body         TEXT    NOT NULL
) STRICT;

-- Every version a rule ever had, kept after the rule is deleted, so that the rule_version of an
-- alarm can always be looked up. A version once saved never changes.
CREATE TABLE rule_versions (
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    municipality TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    saved_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (id, version)
) STRICT;

-- Alarms: what is queried in columns, the rest (message, value, location, acknowledgement,
-- clearing, comments) as JSON in body (src/live.rs).
CREATE TABLE alarms (
    id            TEXT    NOT NULL PRIMARY KEY,
    municipality  TEXT    NOT NULL,
    rule          TEXT    NOT NULL,
    rule_version  INTEGER NOT NULL,
    source        TEXT    NOT NULL,
    severity      TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    body          TEXT    NOT NULL
) STRICT;
-- At most one open alarm per rule and source, whatever the callers do, even concurrently.
CREATE UNIQUE INDEX alarms_one_open ON alarms (rule, source) WHERE state <> 'cleared_acknowledged';
CREATE INDEX alarms_last_seen ON alarms (last_seen_ms, id);
CREATE INDEX alarms_municipality_last_seen ON alarms (municipality, last_seen_ms, id);
