-- Reliability (SQLite): the live event bus's retention, kept across restarts, and a table the
-- readiness probe writes to.

-- The newest live events (pruned to the bus's retention by count and age), each as the JSON text
-- of its event, for subscribers that resume after a restart.
CREATE TABLE live_events (
    id           INTEGER NOT NULL PRIMARY KEY,
    at_ms        INTEGER NOT NULL,
    municipality TEXT,
    body         TEXT    NOT NULL
) STRICT;
CREATE INDEX live_events_at ON live_events (at_ms);

-- One row: up to which event id the last run stopped cleanly (NULL while a run is going), and
-- below which id events may have been lost (a run that ended without writing all its events).
CREATE TABLE live_event_log (
    id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    clean_through INTEGER,
    gap_before    INTEGER
) STRICT;
INSERT INTO live_event_log (id, clean_through, gap_before) VALUES (1, NULL, NULL);

-- Written and emptied again by the readiness probe: proof that a write of a few pages commits.
CREATE TABLE store_probe (
    id  INTEGER NOT NULL PRIMARY KEY,
    pad BLOB    NOT NULL
) STRICT;
