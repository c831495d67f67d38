-- Live city data (PostgreSQL): observations, rules with every version kept, alarms. As the
-- SQLite schema (see its comments); ids and quantities use the "C" collation so that both
-- engines order and compare them byte by byte.

-- The intake log, appended in arrival order, and the series it is folded into.
CREATE TABLE observation_log (
    seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sensor   TEXT COLLATE "C" NOT NULL,
    quantity TEXT COLLATE "C" NOT NULL,
    time_ms  BIGINT           NOT NULL,
    value    DOUBLE PRECISION NOT NULL,
    lat      DOUBLE PRECISION,
    lon      DOUBLE PRECISION
);

CREATE TABLE observations (
    sensor   TEXT COLLATE "C" NOT NULL,
    quantity TEXT COLLATE "C" NOT NULL,
    time_ms  BIGINT           NOT NULL,
    value    DOUBLE PRECISION NOT NULL,
    lat      DOUBLE PRECISION,
    lon      DOUBLE PRECISION,
    PRIMARY KEY (sensor, quantity, time_ms)
);

CREATE TABLE rules (
    id           TEXT COLLATE "C" PRIMARY KEY,
    municipality TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    body         TEXT   NOT NULL
);

CREATE TABLE rule_versions (
    id           TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    municipality TEXT COLLATE "C" NOT NULL,
    body         TEXT   NOT NULL,
    saved_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE alarms (
    id            TEXT COLLATE "C" PRIMARY KEY,
    municipality  TEXT COLLATE "C" NOT NULL,
    rule          TEXT COLLATE "C" NOT NULL,
    rule_version  BIGINT NOT NULL,
    source        TEXT COLLATE "C" NOT NULL,
    severity      TEXT   NOT NULL,
    state         TEXT   NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    count         BIGINT NOT NULL,
    body          TEXT   NOT NULL
);
CREATE UNIQUE INDEX alarms_one_open ON alarms (rule, source) WHERE state <> 'cleared_acknowledged';
CREATE INDEX alarms_last_seen ON alarms (last_seen_ms, id);
CREATE INDEX alarms_municipality_last_seen ON alarms (municipality, last_seen_ms, id);
