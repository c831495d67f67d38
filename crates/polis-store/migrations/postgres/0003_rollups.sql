-- Hourly roll-ups of observations (PostgreSQL): as the SQLite schema (see its comments).
CREATE TABLE observation_rollups (
    sensor   TEXT COLLATE "C" NOT NULL,
    quantity TEXT COLLATE "C" NOT NULL,
    start_ms BIGINT           NOT NULL,
    count    BIGINT           NOT NULL,
    min      DOUBLE PRECISION NOT NULL,
    max      DOUBLE PRECISION NOT NULL,
    sum      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (sensor, quantity, start_ms)
);
