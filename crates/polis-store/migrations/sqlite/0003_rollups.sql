-- Hourly roll-ups of observations (SQLite): what retention keeps of readings older than the raw
-- retention, for charts over long ranges. One row per (sensor, quantity, hour): the count,
-- smallest, largest and sum of the readings of that hour that were purged. Rows are merged when
-- a later purge reaches the same hour, so an hour may be part here, part still raw; reads add
-- the two.
CREATE TABLE observation_rollups (
    sensor   TEXT    NOT NULL,
    quantity TEXT    NOT NULL,
    start_ms INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    min      REAL    NOT NULL,
    max      REAL    NOT NULL,
    sum      REAL    NOT NULL,
    PRIMARY KEY (sensor, quantity, start_ms)
) STRICT, WITHOUT ROWID;
