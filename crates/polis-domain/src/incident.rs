//! Incidents and the work around them, as pure values and state machines: the incident workflow
//! (new -> verified -> dispatched -> on scene -> resolved -> closed, or cancelled), standard
//! operating procedures (versioned checklists per incident type), response units, video shares
//! with outside agencies, SOS devices, alarm correlation and response-time statistics.
//!
//! Every step checks that it is legal and records who did it and when; nothing here does I/O.

use crate::alarm::MAX_TEXT_CHARS;
use crate::geometry::distance_m;
use crate::registry::{string_enum, AgencyKind, SensorKind};
use crate::values::{Id, LatLon};
use polis_base::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::{Duration, OffsetDateTime};

string_enum!(
    /// What happened.
    IncidentType {
        Fire = "fire",
        TrafficAccident = "traffic_accident",
        Flood = "flood",
        Crime = "crime",
        Medical = "medical",
        MissingPerson = "missing_person",
        Infrastructure = "infrastructure",
        Other = "other",
    }
);

impl IncidentType {
    /// The priority an incident of this type gets when none is given (1 is the most urgent).
    pub fn default_priority(self) -> u8 {
        match self {
            IncidentType::Fire | IncidentType::Medical => 1,
            IncidentType::TrafficAccident | IncidentType::Flood | IncidentType::MissingPerson => 2,
            IncidentType::Crime | IncidentType::Infrastructure => 3,
            IncidentType::Other => 4,
        }
    }

    /// The agencies whose units respond to this type, first the leading one.
    pub fn agencies(self) -> &'static [AgencyKind] {
        use AgencyKind::*;
        match self {
            IncidentType::Fire => &[FireSafety, Ambulance, Police],
            IncidentType::TrafficAccident => &[Police, Ambulance, FireSafety],
            IncidentType::Flood => &[CivilProtection, FireSafety, MunicipalServices],
            IncidentType::Crime | IncidentType::MissingPerson => &[Police],
            IncidentType::Medical => &[Ambulance],
            IncidentType::Infrastructure => &[MunicipalServices, CivilProtection],
            IncidentType::Other => &[Police, MunicipalServices],
        }
    }

    /// Whether an alarm from a sensor of `kind` may belong to an incident of this type.
    pub fn matches_sensor(self, kind: SensorKind) -> bool {
        use SensorKind::*;
        match self {
            IncidentType::Flood => matches!(kind, WaterLevel | Rain),
            IncidentType::Fire => matches!(kind, Smoke | AirQuality | Temperature),
            IncidentType::TrafficAccident => matches!(kind, TrafficCount | TrafficSpeed),
            IncidentType::Infrastructure => true,
            IncidentType::Other => true,
            IncidentType::Crime | IncidentType::Medical | IncidentType::MissingPerson => matches!(kind, Noise | Other),
        }
    }

    /// The incident type an alarm of a sensor of `kind` suggests.
    pub fn for_sensor(kind: SensorKind) -> IncidentType {
        use SensorKind::*;
        match kind {
            WaterLevel | Rain => IncidentType::Flood,
            Smoke => IncidentType::Fire,
            TrafficCount | TrafficSpeed => IncidentType::TrafficAccident,
            AirQuality | Noise | Temperature | Other => IncidentType::Other,
        }
    }
}

string_enum!(
    /// Where an incident is in its workflow.
    IncidentStatus {
        New = "new",
        Verified = "verified",
        Dispatched = "dispatched",
        OnScene = "on_scene",
        Resolved = "resolved",
        Closed = "closed",
        Cancelled = "cancelled",
    }
);

impl IncidentStatus {
    /// Open: anything but closed and cancelled.
    pub fn is_open(self) -> bool {
        !matches!(self, IncidentStatus::Closed | IncidentStatus::Cancelled)
    }

    /// The one status that follows this one on the normal path.
    pub fn next(self) -> Option<IncidentStatus> {
        use IncidentStatus::*;
        match self {
            New => Some(Verified),
            Verified => Some(Dispatched),
            Dispatched => Some(OnScene),
            OnScene => Some(Resolved),
            Resolved => Some(Closed),
            Closed | Cancelled => None,
        }
    }
}

string_enum!(
    /// How an incident came to be.
    IncidentSource {
        Operator = "operator",
        Alarm = "alarm",
        External = "external",
        Citizen = "citizen",
        Warning = "warning",
        Sos = "sos",
    }
);

/// An incident's priority: 1 (most urgent) to 4.
pub fn check_priority(p: i64) -> Result<u8> {
    if !(1..=4).contains(&p) {
        return Err(Error::invalid("priority", "must be an integer from 1 (most urgent) to 4"));
    }
    Ok(p as u8)
}

/// Trims `s` and checks it has 1 to `max` characters.
pub fn check_text(field: &str, s: &str, max: usize) -> Result<String> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(Error::invalid(field, format!("must be 1 to {max} characters")));
    }
    Ok(t.to_string())
}

/// Trims `s`; empty is allowed, more than `max` characters is not.
fn check_optional_text(field: &str, s: &str, max: usize) -> Result<String> {
    let t = s.trim();
    if t.chars().count() > max {
        return Err(Error::invalid(field, format!("must be at most {max} characters")));
    }
    Ok(t.to_string())
}

/// One change of status: from where, to where, when, by whom, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub from: Option<IncidentStatus>,
    pub to: IncidentStatus,
    pub at: OffsetDateTime,
    pub by: String,
    pub reason: Option<String>,
}

/// One item of the procedure an incident follows, and whether it was done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub text: String,
    pub checked_at: Option<OffsetDateTime>,
    pub checked_by: Option<String>,
}

/// The procedure an incident follows: the version it started with, kept even when supervisors
/// edit the procedure later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checklist {
    pub procedure: Id,
    pub version: u32,
    pub items: Vec<ChecklistItem>,
}

/// A unit sent to an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub unit: Id,
    pub agency: Id,
    pub assigned_at: OffsetDateTime,
    pub assigned_by: String,
    pub released_at: Option<OffsetDateTime>,
    pub released_by: Option<String>,
}

/// What a new incident is made of, parsed at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    pub kind: IncidentType,
    pub priority: Option<u8>,
    pub location: LatLon,
    /// For area incidents (a flood): the outer ring, at least three points.
    pub area: Option<Vec<LatLon>>,
    pub address: String,
    pub description: String,
    pub source: IncidentSource,
    /// The case number of the system that reported it (an emergency-call system).
    pub external_ref: Option<String>,
    pub alarms: Vec<Id>,
    pub sos_device: Option<Id>,
}

/// An incident: something happening in the city that the control room handles to closure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: Id,
    pub municipality: Id,
    pub kind: IncidentType,
    pub priority: u8,
    pub status: IncidentStatus,
    pub location: LatLon,
    pub area: Option<Vec<LatLon>>,
    pub address: String,
    pub description: String,
    pub source: IncidentSource,
    pub external_ref: Option<String>,
    pub alarms: Vec<Id>,
    pub sos_device: Option<Id>,
    pub created_at: OffsetDateTime,
    pub created_by: String,
    pub updated_at: OffsetDateTime,
    pub steps: Vec<Step>,
    pub checklist: Option<Checklist>,
    pub assignments: Vec<Assignment>,
}

/// The longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// The most points of an incident area.
pub const MAX_AREA_POINTS: usize = 1_000;

/// Checks an incident area: 3 to [`MAX_AREA_POINTS`] corners, not self-intersecting.
pub fn check_area(ring: &[LatLon]) -> Result<()> {
    crate::polygon::check_ring("area", ring, MAX_AREA_POINTS)
}

impl Incident {
    /// Opens an incident, status `new`, following `procedure` if one exists for its type.
    pub fn open(
        id: Id,
        municipality: Id,
        new: NewIncident,
        procedure: Option<&Procedure>,
        at: OffsetDateTime,
        by: &str,
    ) -> Result<Incident> {
        let description = check_optional_text("description", &new.description, MAX_DESCRIPTION_CHARS)?;
        let address = check_optional_text("address", &new.address, 500)?;
        if let Some(area) = &new.area {
            check_area(area)?;
        }
        let external_ref = match new.external_ref {
            Some(r) => Some(check_text("external_ref", &r, 200)?),
            None => None,
        };
        let priority = match new.priority {
            Some(p) => check_priority(i64::from(p))?,
            None => new.kind.default_priority(),
        };
        Ok(Incident {
            id,
            municipality,
            kind: new.kind,
            priority,
            status: IncidentStatus::New,
            location: new.location,
            area: new.area,
            address,
            description,
            source: new.source,
            external_ref,
            alarms: new.alarms,
            sos_device: new.sos_device,
            created_at: at,
            created_by: by.to_string(),
            updated_at: at,
            steps: vec![Step { from: None, to: IncidentStatus::New, at, by: by.to_string(), reason: None }],
            checklist: procedure.map(|p| p.checklist()),
            assignments: Vec::new(),
        })
    }

    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    /// Moves the incident to `to`. The normal path goes one step at a time; any open incident
    /// can be cancelled (a false alarm) with a reason; a closed or cancelled one can only be
    /// reopened (to `verified`), with a reason, by someone allowed to (`may_reopen`).
    /// Anything else is `FailedPrecondition` and changes nothing.
    pub fn transition(
        &mut self,
        to: IncidentStatus,
        reason: Option<&str>,
        may_reopen: bool,
        at: OffsetDateTime,
        by: &str,
    ) -> Result<()> {
        let from = self.status;
        let reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Some(check_text("reason", r, MAX_TEXT_CHARS)?),
            None => None,
        };
        let legal = if !from.is_open() {
            if to != IncidentStatus::Verified {
                false
            } else if !may_reopen {
                return Err(Error::permission_denied("only supervisors may reopen a closed incident"));
            } else if reason.is_none() {
                return Err(Error::invalid("reason", "reopening an incident needs a reason"));
            } else {
                true
            }
        } else if to == IncidentStatus::Cancelled {
            if reason.is_none() {
                return Err(Error::invalid("reason", "cancelling an incident needs a reason"));
            }
            true
        } else {
            from.next() == Some(to)
        };
        if !legal {
            return Err(Error::failed_precondition(format!("an incident that is {from} cannot become {to}")));
        }
        self.status = to;
        self.updated_at = at;
        self.steps.push(Step { from: Some(from), to, at, by: by.to_string(), reason });
        Ok(())
    }

    /// The first time the incident reached `status` (a reopened incident keeps the times of its
    /// first response, which is what response-time statistics measure).
    pub fn reached(&self, status: IncidentStatus) -> Option<OffsetDateTime> {
        self.steps.iter().find(|s| s.to == status).map(|s| s.at)
    }

    /// Marks procedure item `index` done (or not done).
    pub fn check_item(&mut self, index: usize, done: bool, at: OffsetDateTime, by: &str) -> Result<&ChecklistItem> {
        if !self.is_open() {
            return Err(Error::failed_precondition(format!("incident {} is {}", self.id, self.status)));
        }
        let Some(list) = self.checklist.as_mut() else {
            return Err(Error::failed_precondition(format!("incident {} follows no procedure", self.id)));
        };
        let n = list.items.len();
        let Some(item) = list.items.get_mut(index) else {
            return Err(Error::invalid("item", format!("must be an item number from 0 to {}", n.saturating_sub(1))));
        };
        if done {
            item.checked_at = Some(at);
            item.checked_by = Some(by.to_string());
        } else {
            item.checked_at = None;
            item.checked_by = None;
        }
        self.updated_at = at;
        Ok(item)
    }

    /// Links alarm `alarm` (idempotent).
    pub fn link_alarm(&mut self, alarm: &Id, at: OffsetDateTime) -> Result<bool> {
        if !self.is_open() {
            return Err(Error::failed_precondition(format!("incident {} is {}", self.id, self.status)));
        }
        if self.alarms.contains(alarm) {
            return Ok(false);
        }
        self.alarms.push(alarm.clone());
        self.updated_at = at;
        Ok(true)
    }

    /// The units currently assigned (not released).
    pub fn active_units(&self) -> impl Iterator<Item = &Assignment> {
        self.assignments.iter().filter(|a| a.released_at.is_none())
    }

    /// Records that `unit` of `agency` was sent.
    pub fn assign(&mut self, unit: &Unit, at: OffsetDateTime, by: &str) -> Result<()> {
        if !self.is_open() {
            return Err(Error::failed_precondition(format!("incident {} is {}", self.id, self.status)));
        }
        if self.active_units().any(|a| a.unit == unit.id) {
            return Err(Error::already_exists(format!("unit {} is already assigned to incident {}", unit.id, self.id)));
        }
        self.assignments.push(Assignment {
            unit: unit.id.clone(),
            agency: unit.agency.clone(),
            assigned_at: at,
            assigned_by: by.to_string(),
            released_at: None,
            released_by: None,
        });
        self.updated_at = at;
        Ok(())
    }

    /// Records that `unit` left the incident.
    pub fn release(&mut self, unit: &Id, at: OffsetDateTime, by: &str) -> Result<()> {
        let Some(a) = self.assignments.iter_mut().find(|a| a.unit == *unit && a.released_at.is_none()) else {
            return Err(Error::not_found(format!("unit {unit} is not assigned to incident {}", self.id)));
        };
        a.released_at = Some(at);
        a.released_by = Some(by.to_string());
        self.updated_at = at;
        Ok(())
    }

    /// The agencies with a unit on this incident now.
    pub fn assigned_agencies(&self) -> Vec<Id> {
        let mut v: Vec<Id> = self.active_units().map(|a| a.agency.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// A standard operating procedure: the ordered checklist for one incident type in one
/// municipality. Every edit makes a new version; old versions are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Procedure {
    pub id: Id,
    pub municipality: Id,
    pub kind: IncidentType,
    pub version: u32,
    pub title: String,
    pub items: Vec<String>,
    pub updated_at: OffsetDateTime,
    pub updated_by: String,
}

/// The most items of a procedure.
pub const MAX_PROCEDURE_ITEMS: usize = 100;

impl Procedure {
    /// Checks the title and items (1 to [`MAX_PROCEDURE_ITEMS`], each 1 to 500 characters).
    pub fn check(title: &str, items: &[String]) -> Result<(String, Vec<String>)> {
        let title = check_text("title", title, 200)?;
        if items.is_empty() || items.len() > MAX_PROCEDURE_ITEMS {
            return Err(Error::invalid("items", format!("must have 1 to {MAX_PROCEDURE_ITEMS} items")));
        }
        let items = items
            .iter()
            .enumerate()
            .map(|(i, s)| check_text(&format!("items[{i}]"), s, 500))
            .collect::<Result<Vec<_>>>()?;
        Ok((title, items))
    }

    fn checklist(&self) -> Checklist {
        Checklist {
            procedure: self.id.clone(),
            version: self.version,
            items: self
                .items
                .iter()
                .map(|t| ChecklistItem { text: t.clone(), checked_at: None, checked_by: None })
                .collect(),
        }
    }
}

string_enum!(
    /// What kind of vehicle or team a unit is.
    UnitKind {
        PatrolCar = "patrol_car",
        FireEngine = "fire_engine",
        Ambulance = "ambulance",
        Crew = "crew",
        Other = "other",
    }
);

string_enum!(
    /// Whether a unit can be sent.
    UnitStatus {
        Available = "available",
        Dispatched = "dispatched",
        OnScene = "on_scene",
        OutOfService = "out_of_service",
    }
);

/// A response unit of an agency: a patrol car, a fire engine, an ambulance, a municipal crew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub id: Id,
    pub municipality: Id,
    pub agency: Id,
    pub name: String,
    pub kind: UnitKind,
    pub status: UnitStatus,
    pub position: Option<LatLon>,
    pub position_at: Option<OffsetDateTime>,
    /// The incident it is assigned to.
    pub incident: Option<Id>,
}

/// A unit proposed for an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitProposal {
    pub unit: Id,
    pub agency: Id,
    pub name: String,
    pub distance_m: Option<f64>,
}

/// The nearest available units of the agencies that respond to `kind`, at most `per_agency` for
/// each agency, the leading agency first and nearest first within an agency. `agencies` gives
/// the kind of each agency organisation; units without a position come after those with one.
pub fn propose_units<'a>(
    kind: IncidentType,
    at: LatLon,
    units: impl IntoIterator<Item = &'a Unit>,
    agency_kind: impl Fn(&Id) -> Option<AgencyKind>,
    per_agency: usize,
) -> Vec<UnitProposal> {
    let wanted = kind.agencies();
    // Ordered by a cheap planar distance (good to a fraction of a percent at city scale); the
    // geodesic distance is computed for the proposals only.
    let k = at.lat().to_radians().cos();
    let approx = |p: LatLon| ((p.lat() - at.lat()).powi(2) + ((p.lon() - at.lon()) * k).powi(2)).sqrt();
    let mut found: Vec<(usize, f64, &Unit)> = units
        .into_iter()
        .filter(|u| u.status == UnitStatus::Available)
        .filter_map(|u| {
            let rank = wanted.iter().position(|k| Some(*k) == agency_kind(&u.agency))?;
            Some((rank, u.position.map(approx).unwrap_or(f64::INFINITY), u))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.id.cmp(&b.2.id)));
    let mut out = Vec::new();
    let mut counts: std::collections::HashMap<&Id, usize> = std::collections::HashMap::new();
    for (_, _, u) in found {
        let c = counts.entry(&u.agency).or_default();
        if *c < per_agency {
            *c += 1;
            out.push(UnitProposal {
                unit: u.id.clone(),
                agency: u.agency.clone(),
                name: u.name.clone(),
                distance_m: u.position.map(|p| distance_m(at, p)),
            });
        }
    }
    out
}

/// The default life of a video share.
pub const DEFAULT_SHARE_SECS: i64 = 2 * 3600;
/// The longest life of a video share.
pub const MAX_SHARE_SECS: i64 = 7 * 24 * 3600;

/// A time-limited grant to an agency to watch chosen cameras of one incident. The token itself
/// is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub id: Id,
    pub municipality: Id,
    pub incident: Id,
    pub agency: Id,
    pub cameras: Vec<Id>,
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: OffsetDateTime,
    pub created_by: String,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_by: Option<String>,
}

/// Checks how long a share is to last: 1 minute to [`MAX_SHARE_SECS`].
pub fn check_share_life(secs: Option<i64>) -> Result<Duration> {
    let s = secs.unwrap_or(DEFAULT_SHARE_SECS);
    if !(60..=MAX_SHARE_SECS).contains(&s) {
        return Err(Error::invalid("expires_in_s", format!("must be 60 to {MAX_SHARE_SECS} seconds")));
    }
    Ok(Duration::seconds(s))
}

impl Share {
    /// Whether the share can be used at `now`.
    pub fn is_valid(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// Checks a use of the share at `now`, for `camera` if one is named: a revoked or expired
    /// share, or a camera outside the share, is `PermissionDenied`.
    pub fn check_use(&self, now: OffsetDateTime, camera: Option<&Id>) -> Result<()> {
        if self.revoked_at.is_some() {
            return Err(share_refused("revoked", "this share was revoked"));
        }
        if now >= self.expires_at {
            return Err(share_refused("expired", "this share has expired"));
        }
        if let Some(c) = camera {
            if !self.cameras.contains(c) {
                return Err(share_refused("camera", "this share does not cover that camera"));
            }
        }
        Ok(())
    }

    /// Revokes the share (idempotent: the first revocation stands).
    pub fn revoke(&mut self, at: OffsetDateTime, by: &str) {
        if self.revoked_at.is_none() {
            self.revoked_at = Some(at);
            self.revoked_by = Some(by.to_string());
        }
    }
}

/// A refused use of a share: `PermissionDenied` with the reason in a detail on the field
/// `share` (`unknown`, `revoked`, `expired`, `closed`, `camera`) for pages to explain it.
pub fn share_refused(reason: &str, message: &str) -> Error {
    Error::permission_denied(message).with_details(vec![polis_base::FieldError::new("share", reason)])
}

string_enum!(
    /// What a journal entry records.
    JournalKind {
        Created = "created",
        Status = "status",
        Note = "note",
        Checklist = "checklist",
        Unit = "unit",
        Share = "share",
        Alarm = "alarm",
        Attachment = "attachment",
        Update = "update",
    }
);

/// One line of an incident's journal. The journal is append-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub incident: Id,
    pub at: OffsetDateTime,
    pub by: String,
    pub kind: JournalKind,
    pub text: String,
    /// For attachments: the attachment's id.
    pub attachment: Option<Id>,
}

/// The personal profile behind an SOS device (a child, a person with dementia). Sensitive: its
/// `Debug` says nothing, it has no `Serialize`, and only authorised roles receive it.
#[derive(Clone, PartialEq, Default)]
pub struct SosProfile {
    pub name: String,
    pub details: String,
    pub contact: String,
}

impl fmt::Debug for SosProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SosProfile(<redacted>)")
    }
}

/// A registered SOS device: reports its position and raises SOS for the person wearing it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SosDevice {
    pub id: Id,
    pub municipality: Id,
    /// A label without personal data (e.g. "tracker 17").
    pub label: String,
    #[serde(skip)]
    pub profile: SosProfile,
    pub position: Option<LatLon>,
    pub position_at: Option<OffsetDateTime>,
    /// Where the wearer is safe: leaving any of these raises an alarm.
    pub safe_zones: Vec<SafeZone>,
    /// The longest time between two position reports; a longer silence raises an alarm.
    pub checkin_minutes: Option<u32>,
}

/// A safe zone of an SOS device's wearer (a home, a care home's garden).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SafeZone {
    /// A name without personal data ("home", "garden"); the alarm says which zone was left.
    pub name: String,
    /// The polygon's corners (closed or not).
    pub zone: Vec<LatLon>,
}

/// The most safe zones one device may have.
pub const MAX_SAFE_ZONES: usize = 20;
/// The longest SOS device id that can be watched (its sensor and rule ids add a suffix).
pub const MAX_WATCHED_ID_CHARS: usize = 52;

impl SosDevice {
    /// Whether the device is watched: it has safe zones or a check-in interval. A watched device
    /// is backed by a registry sensor ([`SosDevice::tracker_sensor`]) and rules on it
    /// ([`SosDevice::watch_rules`]), so that its alarms are the rules engine's like any sensor's.
    pub fn watched(&self) -> bool {
        !self.safe_zones.is_empty() || self.checkin_minutes.is_some()
    }

    /// The id of the registry sensor behind the device: `<device>.tracker`.
    pub fn tracker_sensor(&self) -> Id {
        tracker_sensor_id(&self.id)
    }

    /// The rule id of safe zone `index` (from 0): `<device>.zone-<index + 1>`.
    pub fn zone_rule_id(&self, index: usize) -> Id {
        Id::from_trusted(format!("{}.zone-{}", self.id, index + 1))
    }

    /// The rule id of the check-in: `<device>.checkin`.
    pub fn checkin_rule_id(&self) -> Id {
        Id::from_trusted(format!("{}.checkin", self.id))
    }

    /// The rules that watch the device (version 0: the rules keeper numbers them): a geofence
    /// `leave` rule per safe zone, named after the zone, and a silence rule for the check-in.
    pub fn watch_rules(&self) -> Vec<crate::rules::Rule> {
        use crate::rules::{Condition, GeofenceTrigger, Rule, RuleScope, Severity};
        let sensor = self.tracker_sensor();
        let rule = |id: Id, name: String, condition: Condition| Rule {
            id,
            municipality: self.municipality.clone(),
            name,
            version: 0,
            enabled: true,
            scope: RuleScope::Sensor(sensor.clone()),
            quantity: None,
            condition,
            severity: Severity::Major,
        };
        let mut rules: Vec<Rule> = self
            .safe_zones
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let name = if z.name.trim().is_empty() { format!("safe zone {}", i + 1) } else { z.name.clone() };
                rule(
                    self.zone_rule_id(i),
                    name,
                    Condition::Geofence { zone: z.zone.clone(), trigger: GeofenceTrigger::Leave },
                )
            })
            .collect();
        if let Some(minutes) = self.checkin_minutes {
            let name = format!("check-in every {minutes} min");
            rules.push(rule(self.checkin_rule_id(), name, Condition::Silence { minutes }));
        }
        rules
    }

    /// Checks the safe zones and the check-in, naming each field (`safe_zones[1].zone`,
    /// `safe_zones[0].name`, `checkin_minutes`, `id`).
    pub fn check_watch(&self) -> Vec<polis_base::FieldError> {
        use polis_base::FieldError;
        let mut errs = Vec::new();
        if self.safe_zones.len() > MAX_SAFE_ZONES {
            errs.push(FieldError::new("safe_zones", format!("at most {MAX_SAFE_ZONES} safe zones")));
            return errs;
        }
        if self.watched() && self.id.as_str().chars().count() > MAX_WATCHED_ID_CHARS {
            errs.push(FieldError::new(
                "id",
                format!(
                    "a device with safe zones or a check-in needs an id of at most {MAX_WATCHED_ID_CHARS} characters"
                ),
            ));
            return errs;
        }
        for (i, z) in self.safe_zones.iter().enumerate() {
            if z.name.chars().count() > 100 {
                errs.push(FieldError::new(format!("safe_zones[{i}].name"), "must be at most 100 characters"));
            }
        }
        let zones = self.safe_zones.len();
        for (i, r) in self.watch_rules().into_iter().enumerate() {
            for e in (crate::rules::Rule { version: 1, ..r }).check() {
                let field = match (e.field.as_str(), i < zones) {
                    ("condition.zone", true) => format!("safe_zones[{i}].zone"),
                    ("condition.minutes", false) => "checkin_minutes".to_string(),
                    (_, true) => format!("safe_zones[{i}]"),
                    (_, false) => "checkin_minutes".to_string(),
                };
                if !errs.iter().any(|x: &FieldError| x.field == field) {
                    errs.push(FieldError::new(field, e.message));
                }
            }
        }
        errs
    }
}

/// The id of the registry sensor behind SOS device `device` (see [`SosDevice::tracker_sensor`]).
pub fn tracker_sensor_id(device: &Id) -> Id {
    Id::from_trusted(format!("{device}.tracker"))
}

/// How near and how recent an open incident must be to offer an alarm for linking.
pub const CORRELATION_DISTANCE_M: f64 = 1_000.0;
pub const CORRELATION_WINDOW: Duration = Duration::hours(6);

/// Whether an alarm of a sensor of `sensor_kind` at `at`, seen at `time`, belongs with
/// `incident`: the incident is open, of a matching type, active within the window and near (or
/// its area contains the alarm). Returns the distance.
pub fn correlates(incident: &Incident, sensor_kind: SensorKind, at: LatLon, time: OffsetDateTime) -> Option<f64> {
    if !incident.is_open() || !incident.kind.matches_sensor(sensor_kind) {
        return None;
    }
    if (time - incident.updated_at).abs() > CORRELATION_WINDOW
        && (time - incident.created_at).abs() > CORRELATION_WINDOW
    {
        return None;
    }
    let d = distance_m(incident.location, at);
    let inside = incident.area.as_ref().is_some_and(|ring| crate::geometry::distance_to_ring_m(at, ring) == 0.0);
    (d <= CORRELATION_DISTANCE_M || inside).then_some(d)
}

string_enum!(
    /// How statistics are grouped.
    StatsGroup { Type = "type", Agency = "agency", Municipality = "municipality" }
);

string_enum!(
    /// The periods statistics can be split into (UTC; weeks start on Monday).
    StatsPeriod { Day = "day", Week = "week", Month = "month" }
);

impl StatsPeriod {
    /// The first day of the period that holds `at` (in UTC).
    pub fn start_of(self, at: OffsetDateTime) -> time::Date {
        let d = at.to_offset(time::UtcOffset::UTC).date();
        match self {
            StatsPeriod::Day => d,
            StatsPeriod::Week => d - Duration::days(i64::from(d.weekday().number_days_from_monday())),
            StatsPeriod::Month => d.replace_day(1).unwrap_or(d),
        }
    }
}

/// Durations (seconds) of one phase of the response over a group of incidents.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Durations {
    pub count: usize,
    pub mean_s: Option<f64>,
    pub median_s: Option<f64>,
    pub p90_s: Option<f64>,
}

impl Durations {
    fn of(mut v: Vec<f64>) -> Durations {
        if v.is_empty() {
            return Durations::default();
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        let n = v.len();
        // The median of an even number of values is the mean of the two in the middle.
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Durations {
            count: v.len(),
            mean_s: Some(v.iter().sum::<f64>() / v.len() as f64),
            median_s: Some(median),
            p90_s: Some(q(0.9)),
        }
    }
}

/// Response times of one group: time from creation to verified, dispatched, on scene, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsRow {
    /// The first day of the period, when split by period.
    pub period: Option<time::Date>,
    pub group: String,
    pub incidents: usize,
    pub open: usize,
    pub cancelled: usize,
    pub to_verify: Durations,
    pub to_dispatch: Durations,
    pub to_arrive: Durations,
    pub to_resolve: Durations,
}

/// Response-time statistics of `incidents`, grouped by `group` (an incident with units of two
/// agencies counts for both agencies; one without units counts under "none") and, if asked, by
/// the period of their creation; rows in order of period, then group.
pub fn incident_stats(incidents: &[Incident], group: StatsGroup, period: Option<StatsPeriod>) -> Vec<StatsRow> {
    type Key = (Option<time::Date>, String);
    let mut groups: std::collections::BTreeMap<Key, Vec<&Incident>> = std::collections::BTreeMap::new();
    for i in incidents {
        let p = period.map(|p| p.start_of(i.created_at));
        let keys: Vec<String> = match group {
            StatsGroup::Type => vec![i.kind.as_str().to_string()],
            StatsGroup::Municipality => vec![i.municipality.to_string()],
            StatsGroup::Agency => {
                let mut a: Vec<String> = i.assignments.iter().map(|a| a.agency.to_string()).collect();
                a.sort();
                a.dedup();
                if a.is_empty() {
                    vec!["none".to_string()]
                } else {
                    a
                }
            }
        };
        for k in keys {
            groups.entry((p, k)).or_default().push(i);
        }
    }
    groups
        .into_iter()
        .map(|((period, group), list)| {
            let phase = |s: IncidentStatus| {
                Durations::of(
                    list.iter().filter_map(|i| i.reached(s).map(|t| (t - i.created_at).as_seconds_f64())).collect(),
                )
            };
            StatsRow {
                period,
                group,
                incidents: list.len(),
                open: list.iter().filter(|i| i.is_open()).count(),
                cancelled: list.iter().filter(|i| i.status == IncidentStatus::Cancelled).count(),
                to_verify: phase(IncidentStatus::Verified),
                to_dispatch: phase(IncidentStatus::Dispatched),
                to_arrive: phase(IncidentStatus::OnScene),
                to_resolve: phase(IncidentStatus::Resolved),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

    fn new_incident(kind: IncidentType) -> NewIncident {
        NewIncident {
            kind,
            priority: None,
            location: LatLon::new(42.6191, 25.3930).unwrap(),
            area: None,
            address: "ul. Rozova dolina 1".into(),
            description: "two cars".into(),
            source: IncidentSource::Operator,
            external_ref: None,
            alarms: vec![],
            sos_device: None,
        }
    }

    fn incident() -> Incident {
        Incident::open(
            Id::from_trusted("i1"),
            Id::from_trusted("kazanlak"),
            new_incident(IncidentType::TrafficAccident),
            None,
            T0,
            "op",
        )
        .unwrap()
    }

    #[test]
    fn the_normal_path_goes_one_step_at_a_time_and_is_timestamped() {
        let mut i = incident();
        assert_eq!(i.priority, 2, "default priority of a traffic accident");
        let path = [
            IncidentStatus::Verified,
            IncidentStatus::Dispatched,
            IncidentStatus::OnScene,
            IncidentStatus::Resolved,
            IncidentStatus::Closed,
        ];
        for (n, s) in path.iter().enumerate() {
            i.transition(*s, None, false, T0 + Duration::minutes(n as i64 + 1), "op").unwrap();
        }
        assert_eq!(i.status, IncidentStatus::Closed);
        assert_eq!(i.steps.len(), 6);
        assert_eq!(i.reached(IncidentStatus::OnScene), Some(T0 + Duration::minutes(3)));
    }

    #[test]
    fn every_illegal_transition_is_refused_and_changes_nothing() {
        use IncidentStatus::*;
        let all = IncidentStatus::ALL;
        for from in all {
            for to in all {
                let mut i = incident();
                // Walk to `from`.
                let mut s = New;
                while s != *from && s.next().is_some() && *from != Cancelled {
                    s = s.next().unwrap_or(s);
                    i.transition(s, None, false, T0, "op").unwrap();
                }
                if *from == Cancelled {
                    i.transition(Cancelled, Some("false alarm"), false, T0, "op").unwrap();
                }
                assert_eq!(i.status, *from);
                let before = i.clone();
                let legal = (from.is_open() && (from.next() == Some(*to) || *to == Cancelled))
                    || (!from.is_open() && *to == Verified);
                let r = i.transition(*to, Some("because"), true, T0 + Duration::minutes(9), "sup");
                assert_eq!(r.is_ok(), legal, "{from} -> {to}");
                if !legal {
                    assert_eq!(r.unwrap_err().kind, polis_base::ErrorKind::FailedPrecondition);
                    assert_eq!(i, before);
                }
            }
        }
    }

    #[test]
    fn cancelling_and_reopening_need_reasons_and_reopening_needs_a_supervisor() {
        let mut i = incident();
        assert_eq!(
            i.transition(IncidentStatus::Cancelled, None, false, T0, "op").unwrap_err().kind,
            polis_base::ErrorKind::InvalidArgument
        );
        i.transition(IncidentStatus::Cancelled, Some("false alarm"), false, T0, "op").unwrap();
        let e = i.transition(IncidentStatus::Verified, Some("caller rang again"), false, T0, "op").unwrap_err();
        assert_eq!(e.kind, polis_base::ErrorKind::PermissionDenied);
        let e = i.transition(IncidentStatus::Verified, None, true, T0, "sup").unwrap_err();
        assert_eq!(e.kind, polis_base::ErrorKind::InvalidArgument);
        i.transition(IncidentStatus::Verified, Some("caller rang again"), true, T0 + Duration::hours(1), "sup")
            .unwrap();
        assert_eq!(i.status, IncidentStatus::Verified);
        assert_eq!(i.reached(IncidentStatus::Verified), Some(T0 + Duration::hours(1)));
    }

    #[test]
    fn an_incident_keeps_the_procedure_version_it_started_with() {
        let mut p = Procedure {
            id: Id::from_trusted("sop-flood"),
            municipality: Id::from_trusted("kazanlak"),
            kind: IncidentType::Flood,
            version: 1,
            title: "Flood".into(),
            items: vec!["check river cameras".into(), "notify civil protection".into()],
            updated_at: T0,
            updated_by: "sup".into(),
        };
        let mut i = Incident::open(
            Id::from_trusted("i2"),
            Id::from_trusted("kazanlak"),
            new_incident(IncidentType::Flood),
            Some(&p),
            T0,
            "op",
        )
        .unwrap();
        p.version = 2;
        p.items.push("warn the streets".into());
        let list = i.checklist.as_ref().unwrap();
        assert_eq!((list.version, list.items.len()), (1, 2));
        i.check_item(1, true, T0, "op").unwrap();
        assert_eq!(i.checklist.as_ref().unwrap().items[1].checked_by.as_deref(), Some("op"));
        assert_eq!(i.check_item(5, true, T0, "op").unwrap_err().kind, polis_base::ErrorKind::InvalidArgument);
    }

    #[test]
    fn shares_expire_are_revoked_and_cover_only_their_cameras() {
        let mut s = Share {
            id: Id::from_trusted("s1"),
            municipality: Id::from_trusted("kazanlak"),
            incident: Id::from_trusted("i1"),
            agency: Id::from_trusted("police"),
            cameras: vec![Id::from_trusted("cam-1")],
            token_hash: "h".into(),
            created_at: T0,
            created_by: "op".into(),
            expires_at: T0 + Duration::hours(2),
            revoked_at: None,
            revoked_by: None,
        };
        assert!(s.check_use(T0, Some(&Id::from_trusted("cam-1"))).is_ok());
        assert!(s.check_use(T0, Some(&Id::from_trusted("cam-2"))).is_err());
        assert!(s.check_use(T0 + Duration::hours(2), None).is_err());
        s.revoke(T0 + Duration::minutes(1), "op");
        assert!(s.check_use(T0 + Duration::minutes(2), None).is_err());
        assert!(check_share_life(Some(10)).is_err());
        assert_eq!(check_share_life(None).unwrap(), Duration::hours(2));
    }

    #[test]
    fn self_intersecting_areas_are_refused() {
        let p = |lat, lon| LatLon::new(lat, lon).unwrap();
        let bow_tie = [p(0.0, 0.0), p(1.0, 1.0), p(1.0, 0.0), p(0.0, 1.0)];
        assert!(check_area(&bow_tie).is_err());
        let square = [p(0.0, 0.0), p(0.0, 1.0), p(1.0, 1.0), p(1.0, 0.0)];
        assert!(check_area(&square).is_ok());
    }

    #[test]
    fn statistics_measure_from_creation_to_each_phase() {
        let mut a = incident();
        a.transition(IncidentStatus::Verified, None, false, T0 + Duration::seconds(60), "op").unwrap();
        a.transition(IncidentStatus::Dispatched, None, false, T0 + Duration::seconds(120), "op").unwrap();
        let mut b = incident();
        b.transition(IncidentStatus::Verified, None, false, T0 + Duration::seconds(180), "op").unwrap();
        let rows = incident_stats(&[a, b], StatsGroup::Type, None);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].incidents, 2);
        assert_eq!(rows[0].to_verify.count, 2);
        assert_eq!(rows[0].to_verify.mean_s, Some(120.0));
        assert_eq!(rows[0].to_dispatch.count, 1);
        assert_eq!(rows[0].to_arrive.count, 0);
    }

    #[test]
    fn statistics_split_by_day_week_and_month() {
        // T0 is Wednesday 25 November 2026.
        assert_eq!(StatsPeriod::Day.start_of(T0).to_string(), "2026-11-25");
        assert_eq!(StatsPeriod::Week.start_of(T0).to_string(), "2026-11-23");
        assert_eq!(StatsPeriod::Month.start_of(T0).to_string(), "2026-11-01");
        let sunday = datetime!(2026-11-29 23:59 UTC);
        assert_eq!(StatsPeriod::Week.start_of(sunday).to_string(), "2026-11-23");
        assert_eq!(StatsPeriod::Week.start_of(sunday + Duration::minutes(1)).to_string(), "2026-11-30");
        // In UTC: 00:30 in Sofia on the 1st is still the 30th in UTC.
        let sofia = datetime!(2026-12-01 00:30 +2);
        assert_eq!(StatsPeriod::Month.start_of(sofia).to_string(), "2026-11-01");
        let at = |t: OffsetDateTime, verify_s: i64| {
            let mut i = Incident::open(
                Id::from_trusted("i"),
                Id::from_trusted("kazanlak"),
                new_incident(IncidentType::Fire),
                None,
                t,
                "op",
            )
            .unwrap();
            i.transition(IncidentStatus::Verified, None, false, t + Duration::seconds(verify_s), "op").unwrap();
            i
        };
        let list = [at(T0, 60), at(T0 + Duration::hours(30), 120), at(T0 + Duration::days(6), 300)];
        let rows = incident_stats(&list, StatsGroup::Type, Some(StatsPeriod::Week));
        let got: Vec<(String, usize, Option<f64>)> =
            rows.iter().map(|r| (r.period.unwrap().to_string(), r.incidents, r.to_verify.median_s)).collect();
        assert_eq!(got, [("2026-11-23".to_string(), 2, Some(90.0)), ("2026-11-30".to_string(), 1, Some(300.0))]);
        let rows = incident_stats(&list, StatsGroup::Type, Some(StatsPeriod::Day));
        assert_eq!(rows.len(), 3);
        let rows = incident_stats(&list, StatsGroup::Type, Some(StatsPeriod::Month));
        assert_eq!((rows.len(), rows[0].to_verify.p90_s), (2, Some(120.0)));
        assert!(incident_stats(&list, StatsGroup::Type, None)[0].period.is_none());
    }

    fn unit(id: &str, agency: &str, status: UnitStatus, lat: f64) -> Unit {
        Unit {
            id: Id::from_trusted(id),
            municipality: Id::from_trusted("kazanlak"),
            agency: Id::from_trusted(agency),
            name: id.to_string(),
            kind: UnitKind::PatrolCar,
            status,
            position: Some(LatLon::new(lat, 25.40).unwrap()),
            position_at: Some(T0),
            incident: None,
        }
    }

    #[test]
    fn proposals_leave_out_dispatched_busy_and_out_of_service_units() {
        let agency = |a: &Id| match a.as_str() {
            "police" => Some(AgencyKind::Police),
            "ambulance" => Some(AgencyKind::Ambulance),
            _ => None,
        };
        let at = LatLon::new(42.62, 25.40).unwrap();
        let units = [
            unit("p-near-dispatched", "police", UnitStatus::Dispatched, 42.6201),
            unit("p-near-on-scene", "police", UnitStatus::OnScene, 42.6202),
            unit("p-near-broken", "police", UnitStatus::OutOfService, 42.6203),
            unit("p-far", "police", UnitStatus::Available, 42.64),
            unit("p-mid", "police", UnitStatus::Available, 42.63),
            unit("a-1", "ambulance", UnitStatus::Available, 42.61),
            unit("a-2", "ambulance", UnitStatus::OutOfService, 42.6200),
            unit("x-1", "unknown-org", UnitStatus::Available, 42.62),
        ];
        let got: Vec<String> = propose_units(IncidentType::TrafficAccident, at, &units, agency, 3)
            .into_iter()
            .map(|p| p.unit.to_string())
            .collect();
        assert_eq!(got, ["p-mid", "p-far", "a-1"], "available units only, the leading agency first, nearest first");
        let got = propose_units(IncidentType::TrafficAccident, at, &units, agency, 1);
        assert_eq!(got.iter().map(|p| p.unit.as_str()).collect::<Vec<_>>(), ["p-mid", "a-1"]);
        // With every police car busy, none of them is proposed.
        let busy: Vec<Unit> = units.iter().filter(|u| u.status != UnitStatus::Available).cloned().collect();
        assert!(propose_units(IncidentType::TrafficAccident, at, &busy, agency, 3).is_empty());
    }

    #[test]
    fn alarms_correlate_with_near_recent_open_incidents_of_a_matching_type() {
        let mut i = Incident::open(
            Id::from_trusted("i3"),
            Id::from_trusted("kazanlak"),
            new_incident(IncidentType::Flood),
            None,
            T0,
            "op",
        )
        .unwrap();
        let near = LatLon::new(42.6200, 25.3930).unwrap();
        let far = LatLon::new(42.7000, 25.3930).unwrap();
        assert!(correlates(&i, SensorKind::WaterLevel, near, T0 + Duration::minutes(10)).is_some());
        assert!(correlates(&i, SensorKind::WaterLevel, far, T0).is_none());
        assert!(correlates(&i, SensorKind::TrafficCount, near, T0).is_none());
        assert!(correlates(&i, SensorKind::WaterLevel, near, T0 + Duration::hours(7)).is_none());
        i.transition(IncidentStatus::Cancelled, Some("x"), false, T0, "op").unwrap();
        assert!(correlates(&i, SensorKind::WaterLevel, near, T0).is_none());
    }
}
