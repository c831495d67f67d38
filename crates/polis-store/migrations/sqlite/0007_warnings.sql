-- Public warnings, their CAP messages, warnings received from outside, and what is published on
-- the portal (SQLite). Conventions as 0001: times are Unix milliseconds; `body` holds the nested
-- parts in the store's JSON text form.

CREATE TABLE warnings (
    id           TEXT    NOT NULL PRIMARY KEY,
    municipality TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    expires_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    body         TEXT    NOT NULL
) STRICT;
CREATE INDEX warnings_status ON warnings (status, expires_ms);

-- Each CAP message as sent, never changed.
CREATE TABLE cap_messages (
    identifier   TEXT    NOT NULL PRIMARY KEY,
    warning      TEXT    NOT NULL REFERENCES warnings (id),
    municipality TEXT    NOT NULL,
    sent_ms      INTEGER NOT NULL,
    msg_type     TEXT    NOT NULL,
    xml          TEXT    NOT NULL
) STRICT;
CREATE INDEX cap_messages_warning ON cap_messages (warning, sent_ms);

CREATE TABLE cap_inbound (
    key          TEXT    NOT NULL PRIMARY KEY,
    municipality TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    sent_ms      INTEGER NOT NULL,
    body         TEXT    NOT NULL
) STRICT;

CREATE TABLE publications (
    kind         TEXT    NOT NULL,
    item         TEXT    NOT NULL,
    municipality TEXT    NOT NULL,
    public       INTEGER NOT NULL,
    by_name      TEXT    NOT NULL,
    at_ms        INTEGER NOT NULL,
    PRIMARY KEY (kind, item)
) STRICT;
