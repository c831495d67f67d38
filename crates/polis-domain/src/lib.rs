//! The vocabulary of Polis as plain values: ids, positions, the registry (organisations, key
//! sites, cameras, sensors), users and roles, audit records, and the geometry of what a camera
//! sees. Values are parsed once at the edge into types that cannot hold nonsense
//! ([`LatLon`], [`Heading`], [`FieldOfView`], ...). No I/O, no async.

pub mod alarm;
pub mod auth;
pub mod geometry;
pub mod incident;
pub mod observation;
pub mod polygon;
pub mod ptz;
pub mod registry;
pub mod rules;
pub mod values;
pub mod warning;

pub use alarm::{Alarm, AlarmComment, AlarmKey, AlarmState};
pub use auth::{Actor, AuditRecord, Role, User};
pub use geometry::{bearing_deg, destination, distance_m, sees_point, view_sector, EARTH_RADIUS_M};
pub use incident::{
    Incident, IncidentSource, IncidentStatus, IncidentType, JournalEntry, JournalKind, NewIncident, Procedure, Share,
    SosDevice, SosProfile, Unit, UnitKind, UnitStatus,
};
pub use observation::{Observation, TimeWindow};
pub use ptz::{aim, Aim, OnvifLink, PtzCalibration};
pub use registry::{
    AgencyKind, Camera, CameraKind, CameraStatus, CameraVideo, OrgKind, Organisation, PrivacyZone, RecordingMode,
    Sector, Sensor, SensorKind, Site, SiteCategory, SiteGeometry, StreamUrl,
};
pub use rules::{replay, Condition, Engine, GeofenceTrigger, Rule, RuleScope, Severity, Signal, SignalKind};
pub use values::{FieldOfView, Heading, Id, LatLon, Priority, RangeM};
