-- Video (SQLite): how each camera is recorded, and the index of the recordings on disk.
ALTER TABLE cameras ADD COLUMN recording TEXT NOT NULL DEFAULT 'off';
ALTER TABLE cameras ADD COLUMN retention_bytes INTEGER;
-- Polygons in image coordinates, as JSON: [[[x, y], ...], ...].
ALTER TABLE cameras ADD COLUMN privacy_zones TEXT NOT NULL DEFAULT '[]';

-- One row per recorded file (a fragmented MP4 of up to a minute or so): what time it covers,
-- its name under the recordings directory and its size. `end_ms` and `bytes` grow while the
-- file is written.
CREATE TABLE recording_segments (
    camera   TEXT    NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER NOT NULL,
    file     TEXT    NOT NULL,
    bytes    INTEGER NOT NULL,
    PRIMARY KEY (camera, start_ms)
) STRICT, WITHOUT ROWID;
CREATE INDEX recording_segments_start ON recording_segments (start_ms);
