-- Tickets: short-lived stand-ins for a bearer token in a URL (an event stream, a recorded clip),
-- kept in the store so that a ticket issued by one node of a region works on every node. Only
-- the SHA-256 of a ticket is kept, with the token hash of the session that asked for it.
CREATE TABLE tickets (
    ticket_hash TEXT NOT NULL PRIMARY KEY,
    session_hash TEXT NOT NULL,
    purpose TEXT NOT NULL,
    camera TEXT,
    from_ms BIGINT,
    to_ms BIGINT,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX tickets_expires ON tickets (expires_at_ms);
