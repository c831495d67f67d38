-- Incidents and the work around them (SQLite). Conventions as 0001: times are Unix
-- milliseconds; `body` holds the nested parts of a row in the store's JSON text form; columns
-- exist for what is filtered or joined on.

CREATE TABLE incidents (
    id           TEXT    NOT NULL PRIMARY KEY,
    municipality TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    body         TEXT    NOT NULL
) STRICT;
CREATE INDEX incidents_municipality_created ON incidents (municipality, created_ms);
CREATE INDEX incidents_created ON incidents (created_ms);
CREATE INDEX incidents_status ON incidents (status);

-- The journal is append-only: the store has no statement that updates or deletes it.
CREATE TABLE incident_journal (
    incident   TEXT    NOT NULL REFERENCES incidents (id),
    seq        INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    by_name    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    attachment TEXT,
    PRIMARY KEY (incident, seq)
) STRICT;

CREATE TABLE incident_attachments (
    id           TEXT    NOT NULL PRIMARY KEY,
    incident     TEXT    NOT NULL REFERENCES incidents (id),
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL,
    by_name      TEXT    NOT NULL,
    data_base64  TEXT    NOT NULL
) STRICT;
CREATE INDEX incident_attachments_incident ON incident_attachments (incident);

-- Every version of every procedure is kept; incidents name the version they follow.
CREATE TABLE procedures (
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    municipality TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    PRIMARY KEY (id, version)
) STRICT;

CREATE TABLE units (
    id           TEXT NOT NULL PRIMARY KEY,
    municipality TEXT NOT NULL,
    agency       TEXT NOT NULL,
    body         TEXT NOT NULL
) STRICT;

-- Only the SHA-256 of a share's token is stored.
CREATE TABLE shares (
    id           TEXT    NOT NULL PRIMARY KEY,
    municipality TEXT    NOT NULL,
    incident     TEXT    NOT NULL REFERENCES incidents (id),
    agency       TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    expires_ms   INTEGER NOT NULL,
    body         TEXT    NOT NULL
) STRICT;
CREATE INDEX shares_incident ON shares (incident);
CREATE INDEX shares_agency ON shares (agency, expires_ms);

CREATE TABLE share_uses (
    share  TEXT    NOT NULL REFERENCES shares (id),
    at_ms  INTEGER NOT NULL,
    what   TEXT    NOT NULL,
    camera TEXT
) STRICT;
CREATE INDEX share_uses_share ON share_uses (share, at_ms);

-- The personal profile of an SOS device is kept in its own columns, never in `body`.
CREATE TABLE sos_devices (
    id              TEXT NOT NULL PRIMARY KEY,
    municipality    TEXT NOT NULL,
    profile_name    TEXT NOT NULL,
    profile_details TEXT NOT NULL,
    profile_contact TEXT NOT NULL,
    body            TEXT NOT NULL
) STRICT;
