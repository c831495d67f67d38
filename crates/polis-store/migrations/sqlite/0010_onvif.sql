-- ONVIF links: how Polis reaches a PTZ camera's device service (its user and password, kept
-- here only: never returned or logged) and how its pan and tilt map to compass bearings.
CREATE TABLE camera_onvif (
    camera TEXT NOT NULL PRIMARY KEY,
    url TEXT NOT NULL,
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    profile TEXT,
    pan_north DOUBLE PRECISION NOT NULL,
    pan_degrees DOUBLE PRECISION NOT NULL,
    tilt_degrees DOUBLE PRECISION NOT NULL
);
