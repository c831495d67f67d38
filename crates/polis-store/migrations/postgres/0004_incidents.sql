-- Incidents and the work around them (PostgreSQL). Conventions as 0001: times are Unix
-- milliseconds; `body` holds the nested parts of a row in the store's JSON text form; columns
-- exist for what is filtered or joined on.

CREATE TABLE incidents (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    municipality TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    priority     BIGINT NOT NULL,
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL,
    body         TEXT    NOT NULL
);
CREATE INDEX incidents_municipality_created ON incidents (municipality, created_ms);
CREATE INDEX incidents_created ON incidents (created_ms);
CREATE INDEX incidents_status ON incidents (status);

-- The journal is append-only: the store has no statement that updates or deletes it.
CREATE TABLE incident_journal (
    incident   TEXT    NOT NULL REFERENCES incidents (id),
    seq        BIGINT NOT NULL,
    at_ms      BIGINT NOT NULL,
    by_name    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    attachment TEXT,
    PRIMARY KEY (incident, seq)
);

CREATE TABLE incident_attachments (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    incident     TEXT    NOT NULL REFERENCES incidents (id),
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT    NOT NULL,
    created_ms   BIGINT NOT NULL,
    by_name      TEXT    NOT NULL,
    data_base64  TEXT    NOT NULL
);
CREATE INDEX incident_attachments_incident ON incident_attachments (incident);

-- Every version of every procedure is kept; incidents name the version they follow.
CREATE TABLE procedures (
    id           TEXT    NOT NULL,
    version      BIGINT NOT NULL,
    municipality TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE units (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    municipality TEXT NOT NULL,
    agency       TEXT NOT NULL,
    body         TEXT NOT NULL
);

-- Only the SHA-256 of a share's token is stored.
CREATE TABLE shares (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    municipality TEXT    NOT NULL,
    incident     TEXT    NOT NULL REFERENCES incidents (id),
    agency       TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    expires_ms   BIGINT NOT NULL,
    body         TEXT    NOT NULL
);
CREATE INDEX shares_incident ON shares (incident);
CREATE INDEX shares_agency ON shares (agency, expires_ms);

CREATE TABLE share_uses (
    share  TEXT    NOT NULL REFERENCES shares (id),
    at_ms  BIGINT NOT NULL,
    what   TEXT    NOT NULL,
    camera TEXT
);
CREATE INDEX share_uses_share ON share_uses (share, at_ms);

-- The personal profile of an SOS device is kept in its own columns, never in `body`.
CREATE TABLE sos_devices (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    municipality    TEXT NOT NULL,
    profile_name    TEXT NOT NULL,
    profile_details TEXT NOT NULL,
    profile_contact TEXT NOT NULL,
    body            TEXT NOT NULL
);
