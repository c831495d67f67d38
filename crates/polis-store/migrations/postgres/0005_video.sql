-- Video (PostgreSQL): as the SQLite schema (see its comments).
ALTER TABLE cameras ADD COLUMN recording TEXT NOT NULL DEFAULT 'off';
ALTER TABLE cameras ADD COLUMN retention_bytes BIGINT;
ALTER TABLE cameras ADD COLUMN privacy_zones TEXT NOT NULL DEFAULT '[]';

CREATE TABLE recording_segments (
    camera   TEXT COLLATE "C" NOT NULL,
    start_ms BIGINT           NOT NULL,
    end_ms   BIGINT           NOT NULL,
    file     TEXT             NOT NULL,
    bytes    BIGINT           NOT NULL,
    PRIMARY KEY (camera, start_ms)
);
CREATE INDEX recording_segments_start ON recording_segments (start_ms);
