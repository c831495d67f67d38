-- The first schema of Polis (SQLite). Timestamps are integer unix milliseconds (UTC); ids are
-- TEXT compared byte by byte; booleans are 0/1. STRICT tables refuse values of the wrong type.

CREATE TABLE organisations (
    id           TEXT    NOT NULL PRIMARY KEY,
    kind         TEXT    NOT NULL,
    name_bg      TEXT    NOT NULL,
    name_en      TEXT    NOT NULL,
    municipality TEXT    NOT NULL,
    agency_kind  TEXT,
    demo         INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    municipality  TEXT,
    agency        TEXT,
    password_hash TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;

-- A session is the SHA-256 (hex) of a bearer token; the token itself is never stored.
CREATE TABLE sessions (
    token_hash    TEXT    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Stream URLs are split: the part that may be shown, and the credentials in their own columns.
CREATE TABLE cameras (
    id                  TEXT    NOT NULL PRIMARY KEY,
    municipality        TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    lat                 REAL    NOT NULL,
    lon                 REAL    NOT NULL,
    mount_height_m      REAL    NOT NULL,
    heading_deg         REAL    NOT NULL,
    fov_deg             REAL    NOT NULL,
    range_m             REAL    NOT NULL,
    kind                TEXT    NOT NULL,
    stream_url          TEXT,
    stream_username     TEXT,
    stream_password     TEXT,
    sub_stream_url      TEXT,
    sub_stream_username TEXT,
    sub_stream_password TEXT,
    retention_days      INTEGER NOT NULL,
    owner               TEXT,
    status              TEXT    NOT NULL,
    demo                INTEGER NOT NULL
) STRICT;

-- geometry is WKT in WGS84 (lon lat order): POINT(lon lat) or POLYGON((lon lat, ...)), closed.
-- sectors is a comma-separated list of sector names, in the order given.
CREATE TABLE sites (
    id           TEXT    NOT NULL PRIMARY KEY,
    municipality TEXT    NOT NULL,
    name_bg      TEXT    NOT NULL,
    name_en      TEXT    NOT NULL,
    category     TEXT    NOT NULL,
    sectors      TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    geometry     TEXT    NOT NULL,
    demo         INTEGER NOT NULL
) STRICT;

CREATE TABLE sensors (
    id           TEXT    NOT NULL PRIMARY KEY,
    municipality TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    unit         TEXT    NOT NULL,
    lat          REAL    NOT NULL,
    lon          REAL    NOT NULL,
    owner        TEXT,
    demo         INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT: a sequence number is never reused, even after the newest record is deleted.
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms        INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    "action"     TEXT    NOT NULL,
    entity       TEXT    NOT NULL,
    entity_id    TEXT    NOT NULL,
    municipality TEXT,
    "before"     TEXT,
    "after"      TEXT
) STRICT;
CREATE INDEX audit_log_municipality_seq ON audit_log (municipality, seq);
