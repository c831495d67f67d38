-- The first schema of Polis (PostgreSQL). Timestamps are BIGINT unix milliseconds (UTC), as in
-- the SQLite schema, so both engines share their SQL and round-trip exactly. Ids use the "C"
-- collation: ORDER BY id is byte order on both engines whatever the database locale.

CREATE TABLE organisations (
    id           TEXT COLLATE "C" PRIMARY KEY,
    kind         TEXT    NOT NULL,
    name_bg      TEXT    NOT NULL,
    name_en      TEXT    NOT NULL,
    municipality TEXT COLLATE "C" NOT NULL,
    agency_kind  TEXT,
    demo         BOOLEAN NOT NULL
);

CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    username      TEXT    NOT NULL CONSTRAINT users_username_key UNIQUE,
    role          TEXT    NOT NULL,
    municipality  TEXT COLLATE "C",
    agency        TEXT COLLATE "C",
    password_hash TEXT    NOT NULL,
    created_at_ms BIGINT  NOT NULL
);

-- A session is the SHA-256 (hex) of a bearer token; the token itself is never stored.
CREATE TABLE sessions (
    token_hash    TEXT   PRIMARY KEY,
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Stream URLs are split: the part that may be shown, and the credentials in their own columns.
CREATE TABLE cameras (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    municipality        TEXT COLLATE "C" NOT NULL,
    name                TEXT             NOT NULL,
    lat                 DOUBLE PRECISION NOT NULL,
    lon                 DOUBLE PRECISION NOT NULL,
    mount_height_m      DOUBLE PRECISION NOT NULL,
    heading_deg         DOUBLE PRECISION NOT NULL,
    fov_deg             DOUBLE PRECISION NOT NULL,
    range_m             DOUBLE PRECISION NOT NULL,
    kind                TEXT             NOT NULL,
    stream_url          TEXT,
    stream_username     TEXT,
    stream_password     TEXT,
    sub_stream_url      TEXT,
    sub_stream_username TEXT,
    sub_stream_password TEXT,
    retention_days      BIGINT           NOT NULL,
    owner               TEXT COLLATE "C",
    status              TEXT             NOT NULL,
    demo                BOOLEAN          NOT NULL
);

-- geometry is WKT in WGS84 (lon lat order): POINT(lon lat) or POLYGON((lon lat, ...)), closed.
-- sectors is a comma-separated list of sector names, in the order given.
CREATE TABLE sites (
    id           TEXT COLLATE "C" PRIMARY KEY,
    municipality TEXT COLLATE "C" NOT NULL,
    name_bg      TEXT    NOT NULL,
    name_en      TEXT    NOT NULL,
    category     TEXT    NOT NULL,
    sectors      TEXT    NOT NULL,
    priority     BIGINT  NOT NULL,
    geometry     TEXT    NOT NULL,
    demo         BOOLEAN NOT NULL
);

CREATE TABLE sensors (
    id           TEXT COLLATE "C" PRIMARY KEY,
    municipality TEXT COLLATE "C" NOT NULL,
    name         TEXT             NOT NULL,
    kind         TEXT             NOT NULL,
    unit         TEXT             NOT NULL,
    lat          DOUBLE PRECISION NOT NULL,
    lon          DOUBLE PRECISION NOT NULL,
    owner        TEXT COLLATE "C",
    demo         BOOLEAN          NOT NULL
);

CREATE TABLE audit_log (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms        BIGINT NOT NULL,
    actor        TEXT   NOT NULL,
    "action"     TEXT   NOT NULL,
    entity       TEXT   NOT NULL,
    entity_id    TEXT   NOT NULL,
    municipality TEXT COLLATE "C",
    "before"     TEXT,
    "after"      TEXT
);
CREATE INDEX audit_log_municipality_seq ON audit_log (municipality, seq);
