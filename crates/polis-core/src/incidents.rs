//! Incident services: the workflow from alarm or call to closure, procedures, units, video
//! shares with outside agencies, SOS devices, correlation of alarms and statistics.
//!
//! Every change runs under one lock (`Desk::write`), so that concurrent changes of one incident
//! or unit cannot overwrite each other; it goes to the store with its journal lines and audit
//! record in one transaction, then to the in-memory caches (units, procedures, SOS devices), then
//! on the live bus with the agencies that may see it.

use crate::auth::token_hash;
use crate::live::LiveEvent;
use crate::registry::new_id;
use crate::App;
use polis_base::{Error, Result};
use polis_domain::incident::{
    self, check_share_life, check_text, correlates, incident_stats, propose_units, Incident, IncidentSource,
    IncidentStatus, IncidentType, JournalEntry, JournalKind, NewIncident, Procedure, SafeZone, Share, SosDevice,
    SosProfile, StatsGroup, StatsRow, Unit, UnitKind, UnitProposal, UnitStatus,
};
use polis_domain::{Actor, AgencyKind, Camera, CameraKind, Id, LatLon, Observation, OrgKind, Role, Rule, Sensor, Site};
use polis_store::{AttachmentMeta, IncidentFilter, ShareUse};
use std::collections::BTreeMap;
use std::sync::RwLock;
use time::OffsetDateTime;

/// How many cameras an incident lists.
pub const INCIDENT_CAMERAS: usize = 8;
/// How many units of each agency are proposed.
pub const UNITS_PER_AGENCY: usize = 3;
/// How far around an incident sensors are shown (dispatch support).
pub const SENSOR_RADIUS_M: f64 = 1_500.0;
/// The largest attachment.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// The incident desk's state: the write lock and the caches of small, often read tables.
pub(crate) struct Desk {
    write: tokio::sync::Mutex<()>,
    units: RwLock<BTreeMap<Id, Unit>>,
    procedures: RwLock<BTreeMap<Id, Procedure>>,
    sos: RwLock<BTreeMap<Id, SosDevice>>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Desk {
    pub(crate) async fn load(store: &dyn polis_store::Store) -> Result<Desk> {
        let units = store.list_units().await?.into_iter().map(|u| (u.id.clone(), u)).collect();
        let procedures = store.list_procedures().await?.into_iter().map(|p| (p.id.clone(), p)).collect();
        let sos = store.list_sos_devices().await?.into_iter().map(|d| (d.id.clone(), d)).collect();
        Ok(Desk {
            write: tokio::sync::Mutex::new(()),
            units: RwLock::new(units),
            procedures: RwLock::new(procedures),
            sos: RwLock::new(sos),
        })
    }
}

/// What a caller asks for when opening an incident.
#[derive(Debug, Clone)]
pub struct IncidentRequest {
    pub municipality: Option<Id>,
    /// Defaults to the type the first linked alarm suggests.
    pub kind: Option<IncidentType>,
    pub priority: Option<u8>,
    /// Defaults to the position of the first linked alarm.
    pub location: Option<LatLon>,
    pub area: Option<Vec<LatLon>>,
    pub address: String,
    pub description: String,
    pub source: Option<IncidentSource>,
    pub external_ref: Option<String>,
    pub alarms: Vec<Id>,
}

/// A camera that can see an incident (emergency video support).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CameraHit {
    pub camera: Camera,
    pub distance_m: f64,
    /// A PTZ camera: it can be turned to the spot.
    pub ptz: bool,
}

/// A sensor near an incident with its newest readings (dispatch support).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SensorReading {
    pub sensor: Sensor,
    pub distance_m: f64,
    pub latest: Vec<Observation>,
}

/// Everything inside an area incident (disaster support).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AreaContents {
    pub cameras: Vec<Camera>,
    pub sensors: Vec<Sensor>,
    pub sites: Vec<Site>,
}

/// An incident with what the control room needs around it. What a caller receives depends on
/// its role: agency users get no proposals, no journal, only their own shares, only the cameras
/// they may see (see [`App::incident`]), and never the SOS profile.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IncidentView {
    pub incident: Incident,
    pub cameras: Vec<CameraHit>,
    pub units: Vec<UnitProposal>,
    pub journal: Vec<JournalEntry>,
    pub shares: Vec<Share>,
    pub sensors: Vec<SensorReading>,
    pub area: Option<AreaContents>,
    /// Never serialised: a profile does not travel on the bus or anywhere else as data.
    #[serde(skip)]
    pub sos_profile: Option<SosProfile>,
}

/// What watches an SOS device: its safe zones and check-in interval.
#[derive(Debug, Clone, Default)]
pub struct SosWatch {
    pub safe_zones: Vec<SafeZone>,
    pub checkin_minutes: Option<u32>,
}

/// What a position report did.
#[derive(Debug, Clone)]
pub struct SosPositionReport {
    pub device: SosDevice,
    /// Alarms raised, repeated or cleared by it (0 in a region: they follow on the event stream).
    pub alarms_changed: usize,
}

/// What a share token opens: the incident in brief and the shared cameras.
#[derive(Debug, Clone)]
pub struct SharedView {
    pub share: Share,
    pub incident: Incident,
    pub cameras: Vec<Camera>,
}

/// A step of the workflow asked for by a person.
#[derive(Debug, Clone)]
pub struct TransitionRequest {
    pub to: IncidentStatus,
    pub reason: Option<String>,
}

/// A new unit or a change of one.
#[derive(Debug, Clone)]
pub struct UnitRequest {
    pub id: Option<Id>,
    pub agency: Id,
    pub name: String,
    pub kind: UnitKind,
    pub status: Option<UnitStatus>,
    pub position: Option<LatLon>,
}

/// Handling incidents: operators, supervisors, administrators.
fn check_handle(actor: &Actor, m: &Id) -> Result<()> {
    if !matches!(actor.role, Role::Admin | Role::Supervisor | Role::Operator) {
        return Err(Error::permission_denied(format!("role {} may not handle incidents", actor.role)));
    }
    if !actor.sees(m) {
        return Err(Error::permission_denied(format!("you may not act in municipality {m}")));
    }
    Ok(())
}

/// Editing procedures and units, reopening incidents: supervisors and administrators.
fn check_supervise(actor: &Actor, m: &Id) -> Result<()> {
    if !matches!(actor.role, Role::Admin | Role::Supervisor) {
        return Err(Error::permission_denied(format!("role {} may not do this; supervisors may", actor.role)));
    }
    if !actor.sees(m) {
        return Err(Error::permission_denied(format!("you may not act in municipality {m}")));
    }
    Ok(())
}

/// Whether the actor may see the personal profile behind an SOS device.
fn sees_profile(actor: &Actor, m: &Id) -> bool {
    matches!(actor.role, Role::Admin | Role::Supervisor | Role::Operator) && actor.sees(m)
}

fn unknown_share() -> Error {
    incident::share_refused("unknown", "this share does not exist")
}

/// The reason of a refused share use (see [`incident::share_refused`]).
fn share_reason(e: &Error) -> &str {
    e.details.iter().find(|d| d.field == "share").map_or(e.kind.code(), |d| d.message.as_str())
}

fn not_found(id: &Id) -> Error {
    Error::not_found(format!("no incident with id {id}"))
}

fn line(incident: &Id, at: OffsetDateTime, by: &str, kind: JournalKind, text: String) -> JournalEntry {
    JournalEntry { incident: incident.clone(), at, by: by.to_string(), kind, text, attachment: None }
}

/// The procedure id of an incident type in a municipality: one procedure per pair.
pub fn procedure_id(m: &Id, kind: IncidentType) -> Id {
    Id::from_trusted(format!("sop-{m}-{}", kind.as_str().replace('_', "-")))
}

impl App {
    fn desk(&self) -> &Desk {
        &self.desk
    }

    /// The kind of an agency organisation, if `id` is one.
    async fn agency_kinds(&self) -> BTreeMap<Id, AgencyKind> {
        let reg = self.registry().await;
        reg.organisations
            .values()
            .filter(|o| o.kind == OrgKind::Agency)
            .filter_map(|o| o.agency_kind.map(|k| (o.id.clone(), k)))
            .collect()
    }

    /// The agencies that may see an incident now: those with a valid share or a unit on it.
    async fn agencies_seeing(&self, incident: &Incident) -> Result<Vec<Id>> {
        let now = self.clock().now();
        let mut v = incident.assigned_agencies();
        for s in self.store().shares_of_incident(&incident.id).await? {
            if s.is_valid(now) {
                v.push(s.agency);
            }
        }
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// Stores a change (journal lines, audit) and publishes it.
    async fn save_incident(
        &self,
        actor: &Actor,
        verb: &str,
        before: Option<&Incident>,
        incident: &Incident,
        journal: &[JournalEntry],
    ) -> Result<()> {
        self.save_incident_units(actor, verb, before, incident, &[], journal).await
    }

    /// Stores a change with the units it moved (journal lines, audit) in one transaction, then
    /// updates the units in memory and publishes the change.
    async fn save_incident_units(
        &self,
        actor: &Actor,
        verb: &str,
        before: Option<&Incident>,
        incident: &Incident,
        units: &[Unit],
        journal: &[JournalEntry],
    ) -> Result<()> {
        let audit = self.audit(actor, verb, incident.id.as_str(), Some(&incident.municipality), before, Some(incident));
        if units.is_empty() {
            self.store().put_incident(incident, journal, Some(&audit)).await?;
        } else {
            self.store().put_incident_and_units(incident, units, journal, Some(&audit)).await?;
            let mut cache = write(&self.desk().units);
            for u in units {
                cache.insert(u.id.clone(), u.clone());
            }
        }
        if before.is_none() {
            // A new incident has no shares and no units yet: nobody outside its municipality.
            self.publish_to(incident, Vec::new());
        } else {
            self.publish_incident(incident).await;
        }
        Ok(())
    }

    async fn publish_incident(&self, incident: &Incident) {
        let agencies = match self.agencies_seeing(incident).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, incident = %incident.id, "cannot list the agencies of an incident");
                incident.assigned_agencies()
            }
        };
        self.publish_to(incident, agencies);
    }

    fn publish_to(&self, incident: &Incident, agencies: Vec<Id>) {
        self.bus().publish(
            Some(incident.municipality.clone()),
            LiveEvent::Incident(Box::new(crate::live::IncidentEvent { incident: incident.clone(), agencies })),
        );
    }

    /// Loads an incident the actor may read: handlers and viewers of its municipality, agency
    /// users whose agency has a valid share or a unit on it. Anything else is `NotFound`, so a
    /// caller never learns that an incident it may not see exists.
    async fn readable(&self, actor: &Actor, id: &Id) -> Result<Incident> {
        let incident = self.store().incident(id).await?.ok_or_else(|| not_found(id))?;
        let ok = match actor.role {
            Role::Agency => match &actor.agency {
                Some(a) => self.agencies_seeing(&incident).await?.contains(a),
                None => false,
            },
            _ => actor.sees(&incident.municipality),
        };
        if ok {
            Ok(incident)
        } else {
            Err(not_found(id))
        }
    }

    /// Whether the actor may change the incident (`NotFound` when it may not even read it).
    pub(crate) async fn check_handles(&self, actor: &Actor, id: &Id) -> Result<()> {
        self.handled(actor, id).await.map(|_| ())
    }

    /// Loads an incident the actor may change (`NotFound` when it may not even read it).
    async fn handled(&self, actor: &Actor, id: &Id) -> Result<Incident> {
        let incident = self.readable(actor, id).await?;
        check_handle(actor, &incident.municipality)?;
        Ok(incident)
    }

    /// The cameras that see a point of municipality `m`, nearest first, PTZ flagged.
    async fn cameras_for(&self, m: &Id, p: LatLon) -> Vec<CameraHit> {
        let reg = self.registry().await;
        reg.camera_index
            .seeing(p, Some(m), INCIDENT_CAMERAS)
            .into_iter()
            .filter_map(|h| reg.cameras.get(&h.id).map(|c| (c, h.distance_m)))
            .map(|(c, d)| CameraHit { ptz: c.kind == CameraKind::Ptz, camera: c.clone(), distance_m: d })
            .collect()
    }

    async fn propose(&self, incident: &Incident) -> Vec<UnitProposal> {
        let kinds = self.agency_kinds().await;
        let units = read(&self.desk().units);
        propose_units(
            incident.kind,
            incident.location,
            units.values().filter(|u| u.municipality == incident.municipality),
            |a| kinds.get(a).copied(),
            UNITS_PER_AGENCY,
        )
    }

    /// Opens an incident: from a call, an alarm (or several), an external system, a citizen's
    /// report, a public warning. Returns it with the cameras that see it and the units proposed,
    /// and `true`; or, when an open incident of the municipality has the same `external_ref`
    /// already (a retry of an emergency-call system), that incident and `false`.
    pub async fn create_incident(&self, actor: &Actor, req: IncidentRequest) -> Result<(IncidentView, bool)> {
        let mut alarms = Vec::with_capacity(req.alarms.len());
        for (i, a) in req.alarms.iter().enumerate() {
            let alarm = self.alarm(actor, a).await.map_err(|e| match e.kind {
                polis_base::ErrorKind::NotFound | polis_base::ErrorKind::PermissionDenied => {
                    Error::invalid(format!("alarms[{i}]"), format!("no alarm with id {a}"))
                }
                _ => e,
            })?;
            alarms.push(alarm);
        }
        // An incident from alarms belongs to their municipality unless the request says otherwise.
        let m = match (req.municipality.clone(), alarms.first()) {
            (Some(m), _) => m,
            (None, Some(a)) => a.municipality.clone(),
            (None, None) => match self.default_municipality(actor).await {
                Some(m) => m,
                None => actor.default_municipality()?,
            },
        };
        check_handle(actor, &m)?;
        if !self.registry().await.is_municipality(&m) {
            return Err(Error::invalid("municipality", format!("no municipality with id {m}")));
        }
        if let Some(i) = alarms.iter().position(|a| a.municipality != m) {
            return Err(Error::invalid(format!("alarms[{i}]"), "the alarm belongs to another municipality"));
        }
        let first_alarm = alarms.into_iter().next();
        let location = match (req.location, &first_alarm) {
            (Some(p), _) => p,
            (None, Some(a)) => match a.location {
                Some(p) => p,
                None => return Err(Error::invalid("lat", "required: the alarm has no position")),
            },
            (None, None) => return Err(Error::invalid("lat", "required (or link an alarm)")),
        };
        let kind = match (req.kind, &first_alarm) {
            (Some(k), _) => k,
            (None, Some(a)) => {
                let reg = self.registry().await;
                reg.sensors.get(&a.source).map(|s| IncidentType::for_sensor(s.kind)).unwrap_or(IncidentType::Other)
            }
            (None, None) => return Err(Error::invalid("type", "required")),
        };
        let source =
            req.source.unwrap_or(if first_alarm.is_some() { IncidentSource::Alarm } else { IncidentSource::Operator });
        let new = NewIncident {
            kind,
            priority: req.priority,
            location,
            area: req.area,
            address: req.address,
            description: req.description,
            source,
            external_ref: req.external_ref,
            alarms: req.alarms,
            sos_device: None,
        };
        let _w = self.desk().write.lock().await;
        // An emergency-call system retries: the same reference of an open incident is that
        // incident, not a second one.
        if let Some(r) = new.external_ref.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            let filter =
                IncidentFilter { municipality: Some(m.clone()), open_only: true, limit: 10_000, ..Default::default() };
            let found = self
                .store()
                .list_incidents(&filter)
                .await?
                .into_iter()
                .find(|i| i.external_ref.as_deref().map(str::trim) == Some(r));
            if let Some(existing) = found {
                return Ok((self.incident(actor, &existing.id).await?, false));
            }
        }
        Ok((self.open_incident_locked(actor, m, new).await?, true))
    }

    /// Opens an incident (journal, audit, event); the caller holds the desk's write lock.
    async fn open_incident_locked(&self, actor: &Actor, m: Id, new: NewIncident) -> Result<IncidentView> {
        let now = self.clock().now();
        let procedure = read(&self.desk().procedures).get(&procedure_id(&m, new.kind)).cloned();
        let incident = Incident::open(new_id("inc"), m, new, procedure.as_ref(), now, &actor.username)?;
        let mut text =
            format!("{} incident opened ({}), priority {}", incident.kind, incident.source, incident.priority);
        if let Some(p) = &procedure {
            text.push_str(&format!("; procedure {} version {}", p.id, p.version));
        }
        let mut journal = vec![line(&incident.id, now, &actor.username, JournalKind::Created, text)];
        for a in &incident.alarms {
            journal.push(line(&incident.id, now, &actor.username, JournalKind::Alarm, format!("alarm {a} linked")));
        }
        self.save_incident(actor, "incident.create", None, &incident, &journal).await?;
        self.record_event(&incident.municipality, incident.location).await;
        let cameras = self.cameras_for(&incident.municipality, incident.location).await;
        let units = self.propose(&incident).await;
        Ok(IncidentView {
            incident,
            cameras,
            units,
            journal,
            shares: Vec::new(),
            sensors: Vec::new(),
            area: None,
            sos_profile: None,
        })
    }

    /// Incidents the actor may see, newest first.
    pub async fn incidents(&self, actor: &Actor, mut filter: IncidentFilter) -> Result<Vec<Incident>> {
        filter.limit = filter.limit.clamp(1, 10_000);
        match actor.role {
            Role::Agency => {
                let Some(agency) = &actor.agency else { return Ok(Vec::new()) };
                let now = self.clock().now();
                let mut ids: Vec<Id> = self
                    .store()
                    .shares_of_agency(agency, now)
                    .await?
                    .into_iter()
                    .filter(|s| s.is_valid(now))
                    .map(|s| s.incident)
                    .collect();
                let units = read(&self.desk().units);
                ids.extend(units.values().filter(|u| &u.agency == agency).filter_map(|u| u.incident.clone()));
                drop(units);
                ids.sort();
                ids.dedup();
                filter.ids = Some(ids);
            }
            _ => {
                if let Some(own) = actor.scope() {
                    if filter.municipality.as_ref().is_some_and(|m| m != own) {
                        return Ok(Vec::new());
                    }
                    filter.municipality = Some(own.clone());
                }
            }
        }
        self.store().list_incidents(&filter).await
    }

    /// One incident with its cameras, proposals, journal, shares, nearby sensors, area contents
    /// and (for authorised roles) the SOS profile. An agency user gets what its agency may see
    /// (`App::agency_view`).
    pub async fn incident(&self, actor: &Actor, id: &Id) -> Result<IncidentView> {
        let incident = self.readable(actor, id).await?;
        if actor.role == Role::Agency {
            let agency = actor.agency.as_ref().ok_or_else(|| not_found(id))?;
            return self.agency_view(incident, agency).await;
        }
        let shares = self.store().shares_of_incident(id).await?;
        let cameras = self.cameras_for(&incident.municipality, incident.location).await;
        let units = if incident.is_open() { self.propose(&incident).await } else { Vec::new() };
        let journal = self.store().journal(id).await?;
        let sensors = self.sensors_near(&incident).await?;
        let area = match &incident.area {
            Some(ring) => Some(self.area_contents(&incident.municipality, ring).await),
            None => None,
        };
        let sos_profile = match &incident.sos_device {
            Some(d) if sees_profile(actor, &incident.municipality) => {
                read(&self.desk().sos).get(d).map(|d| d.profile.clone())
            }
            _ => None,
        };
        Ok(IncidentView { incident, cameras, units, journal, shares, sensors, area, sos_profile })
    }

    /// What an agency sees of an incident: its own valid shares; the cameras shared with it (with
    /// no share but a unit on the incident, the cameras that see the spot, without video: that
    /// needs a share); the sensors near it with their live values (dispatch support); of its
    /// area, the sensors and key sites, and the cameras only among those it may see. No
    /// proposals, no journal, never the SOS profile.
    async fn agency_view(&self, incident: Incident, agency: &Id) -> Result<IncidentView> {
        let now = self.clock().now();
        let mut shares = self.store().shares_of_incident(&incident.id).await?;
        shares.retain(|s| &s.agency == agency && s.is_valid(now));
        let assigned = incident.assigned_agencies().contains(agency);
        let mut cameras = Vec::new();
        if !shares.is_empty() {
            let reg = self.registry().await;
            cameras = shares
                .iter()
                .flat_map(|s| s.cameras.iter())
                .filter_map(|c| reg.cameras.get(c))
                .map(|c| CameraHit {
                    ptz: c.kind == CameraKind::Ptz,
                    distance_m: polis_domain::distance_m(c.position, incident.location),
                    camera: c.clone(),
                })
                .collect();
            cameras.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then_with(|| a.camera.id.cmp(&b.camera.id)));
            cameras.dedup_by(|a, b| a.camera.id == b.camera.id);
        } else if assigned {
            cameras = self.cameras_for(&incident.municipality, incident.location).await;
        }
        let sensors = self.sensors_near(&incident).await?;
        let area = match &incident.area {
            Some(ring) => {
                let mut a = self.area_contents(&incident.municipality, ring).await;
                a.cameras.retain(|c| cameras.iter().any(|h| h.camera.id == c.id));
                Some(a)
            }
            None => None,
        };
        Ok(IncidentView {
            incident,
            cameras,
            units: Vec::new(),
            journal: Vec::new(),
            shares,
            sensors,
            area,
            sos_profile: None,
        })
    }

    /// Dispatch support: pushes the incident as `agency` sees it (cameras, nearby live sensor
    /// values) to that agency's live event stream.
    async fn push_dispatch(&self, incident: &Incident, agency: &Id, reason: &'static str) {
        match self.agency_view(incident.clone(), agency).await {
            Ok(view) => {
                self.bus().publish(
                    Some(incident.municipality.clone()),
                    LiveEvent::Dispatch(Box::new(crate::live::DispatchEvent {
                        agency: agency.clone(),
                        reason: reason.to_string(),
                        view,
                        at: self.clock().now(),
                    })),
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, incident = %incident.id, agency = %agency, "cannot push dispatch support")
            }
        }
    }

    async fn sensors_near(&self, incident: &Incident) -> Result<Vec<SensorReading>> {
        let near: Vec<(Sensor, f64)> = {
            let reg = self.registry().await;
            reg.sensor_index
                .within_radius(incident.location, SENSOR_RADIUS_M, Some(&incident.municipality), 12)
                .into_iter()
                .filter_map(|h| reg.sensors.get(&h.id).map(|s| (s.clone(), h.distance_m)))
                .collect()
        };
        if near.is_empty() {
            return Ok(Vec::new());
        }
        let mut latest: BTreeMap<Id, Vec<Observation>> = BTreeMap::new();
        for o in self.store().latest_observations().await? {
            if near.iter().any(|(s, _)| &s.id == o.sensor()) {
                latest.entry(o.sensor().clone()).or_default().push(o);
            }
        }
        Ok(near
            .into_iter()
            .map(|(s, d)| SensorReading { latest: latest.remove(&s.id).unwrap_or_default(), sensor: s, distance_m: d })
            .collect())
    }

    async fn area_contents(&self, m: &Id, ring: &[LatLon]) -> AreaContents {
        let reg = self.registry().await;
        // Cameras standing inside the area: those within the ring's bounding circle, then the
        // exact test.
        let c = ring.iter().fold((0.0, 0.0), |(a, b), p| (a + p.lat(), b + p.lon()));
        let n = ring.len().max(1) as f64;
        let centre = LatLon::new(c.0 / n, c.1 / n).unwrap_or(ring[0]);
        let radius = ring.iter().map(|p| polis_domain::distance_m(centre, *p)).fold(0.0, f64::max);
        let cameras = reg
            .camera_index
            .within_radius(centre, radius + 1.0, Some(m), 10_000)
            .into_iter()
            .filter_map(|h| reg.cameras.get(&h.id))
            .filter(|c| polis_domain::geometry::distance_to_ring_m(c.position, ring) == 0.0)
            .cloned()
            .collect();
        let sensors = reg
            .sensor_index
            .within_polygon(ring, Some(m), 10_000)
            .into_iter()
            .filter_map(|h| reg.sensors.get(&h.id).cloned())
            .collect();
        let sites = reg
            .site_index
            .within_polygon(ring, Some(m), 10_000)
            .into_iter()
            .filter_map(|h| reg.sites.get(&h.id).cloned())
            .collect();
        AreaContents { cameras, sensors, sites }
    }

    /// Moves an incident along its workflow. Illegal steps are `FailedPrecondition` and change
    /// nothing; reopening needs a supervisor. Units follow: on scene with the incident, released
    /// when it is resolved, closed or cancelled.
    pub async fn transition_incident(&self, actor: &Actor, id: &Id, req: TransitionRequest) -> Result<Incident> {
        let _w = self.desk().write.lock().await;
        let before = self.handled(actor, id).await?;
        let mut incident = before.clone();
        let now = self.clock().now();
        let may_reopen = matches!(actor.role, Role::Admin | Role::Supervisor);
        incident.transition(req.to, req.reason.as_deref(), may_reopen, now, &actor.username)?;
        let reopened = !before.is_open();
        let mut text = format!("{} -> {}", before.status, incident.status);
        if let Some(r) = incident.steps.last().and_then(|s| s.reason.clone()) {
            text.push_str(&format!(": {r}"));
        }
        let mut journal = vec![line(id, now, &actor.username, JournalKind::Status, text)];
        let mut changed_units = Vec::new();
        {
            let units = read(&self.desk().units);
            let active: Vec<Id> = incident.active_units().map(|a| a.unit.clone()).collect();
            for u in active {
                let Some(mut unit) = units.get(&u).cloned() else { continue };
                match incident.status {
                    IncidentStatus::OnScene => unit.status = UnitStatus::OnScene,
                    IncidentStatus::Resolved | IncidentStatus::Closed | IncidentStatus::Cancelled => {
                        unit.status = UnitStatus::Available;
                        unit.incident = None;
                        incident.release(&u, now, &actor.username)?;
                        journal.push(line(id, now, &actor.username, JournalKind::Unit, format!("unit {u} released")));
                    }
                    _ => continue,
                }
                changed_units.push(unit);
            }
        }
        let verb = if reopened { "incident.reopen" } else { "incident.transition" };
        self.save_incident_units(actor, verb, Some(&before), &incident, &changed_units, &journal).await?;
        Ok(incident)
    }

    /// Marks a procedure item done or not done; journaled.
    pub async fn check_procedure_item(&self, actor: &Actor, id: &Id, item: usize, done: bool) -> Result<Incident> {
        let _w = self.desk().write.lock().await;
        let before = self.handled(actor, id).await?;
        let mut incident = before.clone();
        let now = self.clock().now();
        let text = incident.check_item(item, done, now, &actor.username)?.text.clone();
        let verb = if done { "done" } else { "not done" };
        let journal = [line(id, now, &actor.username, JournalKind::Checklist, format!("{verb}: {text}"))];
        self.save_incident(actor, "incident.checklist", Some(&before), &incident, &journal).await?;
        Ok(incident)
    }

    /// Adds a note to the journal.
    pub async fn add_note(&self, actor: &Actor, id: &Id, text: &str) -> Result<JournalEntry> {
        let _w = self.desk().write.lock().await;
        let mut incident = self.handled(actor, id).await?;
        let text = check_text("text", text, polis_domain::alarm::MAX_TEXT_CHARS)?;
        let now = self.clock().now();
        incident.updated_at = now;
        let entry = line(id, now, &actor.username, JournalKind::Note, text);
        let audit =
            self.audit::<Incident>(actor, "incident.note", id.as_str(), Some(&incident.municipality), None, None);
        self.store().put_incident(&incident, std::slice::from_ref(&entry), Some(&audit)).await?;
        self.publish_incident(&incident).await;
        Ok(entry)
    }

    /// Attaches a file (at most [`MAX_ATTACHMENT_BYTES`]); journaled with its SHA-256.
    pub async fn attach(
        &self,
        actor: &Actor,
        id: &Id,
        name: &str,
        content_type: &str,
        data: &[u8],
    ) -> Result<AttachmentMeta> {
        use base64::Engine as _;
        use sha2::Digest as _;
        // Under the desk's lock like every other journal line: the next line number is read and
        // written in one go.
        let _w = self.desk().write.lock().await;
        let incident = self.handled(actor, id).await?;
        let name = check_text("name", name, 200)?;
        if data.is_empty() || data.len() > MAX_ATTACHMENT_BYTES {
            return Err(Error::invalid("file", format!("must be 1 to {MAX_ATTACHMENT_BYTES} bytes")));
        }
        let sha: String = sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect();
        let now = self.clock().now();
        let meta = AttachmentMeta {
            id: new_id("att"),
            incident: id.clone(),
            name: name.clone(),
            content_type: check_text("content_type", content_type, 200)?,
            size: data.len() as u64,
            sha256: sha.clone(),
            created_at: now,
            by: actor.username.clone(),
        };
        let mut entry = line(id, now, &actor.username, JournalKind::Attachment, format!("{name} (SHA-256 {sha})"));
        entry.attachment = Some(meta.id.clone());
        let audit =
            self.audit::<Incident>(actor, "incident.attach", id.as_str(), Some(&incident.municipality), None, None);
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        self.store().put_attachment(&meta, &b64, &entry, &audit).await?;
        Ok(meta)
    }

    /// An attachment's description and bytes, for those who may read its incident's journal.
    pub async fn attachment(&self, actor: &Actor, id: &Id) -> Result<(AttachmentMeta, Vec<u8>)> {
        use base64::Engine as _;
        let missing = || Error::not_found(format!("no attachment with id {id}"));
        let (meta, b64) = self.store().attachment(id).await?.ok_or_else(missing)?;
        let incident = self.readable(actor, &meta.incident).await.map_err(|_| missing())?;
        if actor.role == Role::Agency || !actor.sees(&incident.municipality) {
            return Err(missing());
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| Error::internal("a stored attachment does not decode").with_source(e))?;
        Ok((meta, data))
    }

    /// The incident's journal, oldest first (not for agency users).
    pub async fn journal(&self, actor: &Actor, id: &Id) -> Result<Vec<JournalEntry>> {
        let incident = self.readable(actor, id).await?;
        if actor.role == Role::Agency {
            return Err(not_found(&incident.id));
        }
        self.store().journal(id).await
    }

    /// Links an alarm to an open incident (idempotent).
    pub async fn link_alarm(&self, actor: &Actor, id: &Id, alarm: &Id) -> Result<Incident> {
        let _w = self.desk().write.lock().await;
        let before = self.handled(actor, id).await?;
        let a =
            self.alarm(actor, alarm).await.map_err(|_| Error::invalid("alarm", format!("no alarm with id {alarm}")))?;
        if a.municipality != before.municipality {
            return Err(Error::invalid("alarm", "the alarm belongs to another municipality"));
        }
        let mut incident = before.clone();
        let now = self.clock().now();
        if incident.link_alarm(alarm, now)? {
            let journal = [line(id, now, &actor.username, JournalKind::Alarm, format!("alarm {alarm} linked"))];
            self.save_incident(actor, "incident.link_alarm", Some(&before), &incident, &journal).await?;
        }
        Ok(incident)
    }

    /// Open incidents an alarm may belong to (a matching type, near, recent), nearest first:
    /// offered for linking instead of a new incident.
    pub async fn related_incidents(&self, actor: &Actor, alarm: &Id) -> Result<Vec<(Incident, f64)>> {
        let a = self.alarm(actor, alarm).await?;
        let Some(at) = a.location else { return Ok(Vec::new()) };
        let kind = {
            let reg = self.registry().await;
            match reg.sensors.get(&a.source) {
                Some(s) => s.kind,
                None => return Ok(Vec::new()),
            }
        };
        let filter = IncidentFilter {
            municipality: Some(a.municipality.clone()),
            open_only: true,
            limit: 1_000,
            ..Default::default()
        };
        let mut found: Vec<(Incident, f64)> = self
            .store()
            .list_incidents(&filter)
            .await?
            .into_iter()
            .filter(|i| !i.alarms.contains(alarm))
            .filter_map(|i| correlates(&i, kind, at, a.last_seen).map(|d| (i, d)))
            .collect();
        found.sort_by(|x, y| x.1.total_cmp(&y.1));
        Ok(found)
    }

    // ---- Units -----------------------------------------------------------------------------

    /// Units the actor may see: its municipality's (an agency user: its agency's).
    pub fn units(&self, actor: &Actor) -> Result<Vec<Unit>> {
        let units = read(&self.desk().units);
        Ok(units
            .values()
            .filter(|u| match actor.role {
                Role::Agency => actor.agency.as_ref() == Some(&u.agency),
                _ => actor.sees(&u.municipality),
            })
            .cloned()
            .collect())
    }

    /// Creates or edits a unit: supervisors and administrators.
    pub async fn put_unit(&self, actor: &Actor, req: UnitRequest) -> Result<Unit> {
        let (agency_m, agency_kind) = {
            let reg = self.registry().await;
            match reg.organisations.get(&req.agency) {
                Some(o) if o.kind == OrgKind::Agency => (o.municipality.clone(), o.agency_kind),
                _ => return Err(Error::invalid("agency", format!("no agency with id {}", req.agency))),
            }
        };
        let _ = agency_kind;
        check_supervise(actor, &agency_m)?;
        let name = check_text("name", &req.name, 100)?;
        let _w = self.desk().write.lock().await;
        let now = self.clock().now();
        let before = req.id.as_ref().and_then(|id| read(&self.desk().units).get(id).cloned());
        if let Some(b) = &before {
            if !actor.sees(&b.municipality) {
                return Err(Error::not_found(format!("no unit with id {}", b.id)));
            }
        }
        let unit = Unit {
            id: req.id.clone().unwrap_or_else(|| new_id("unit")),
            municipality: agency_m,
            agency: req.agency,
            name,
            kind: req.kind,
            status: req.status.or(before.as_ref().map(|b| b.status)).unwrap_or(UnitStatus::Available),
            position: req.position.or(before.as_ref().and_then(|b| b.position)),
            position_at: if req.position.is_some() { Some(now) } else { before.as_ref().and_then(|b| b.position_at) },
            incident: before.as_ref().and_then(|b| b.incident.clone()),
        };
        let verb = if before.is_some() { "unit.update" } else { "unit.create" };
        let audit = self.audit(actor, verb, unit.id.as_str(), Some(&unit.municipality), before.as_ref(), Some(&unit));
        self.store().put_units(std::slice::from_ref(&unit), &[audit]).await?;
        write(&self.desk().units).insert(unit.id.clone(), unit.clone());
        Ok(unit)
    }

    /// A unit reports where it is and, optionally, its status: handlers of its municipality or
    /// users of its own agency. Not audited per report (positions are telemetry), but a change of
    /// status is.
    pub async fn report_unit(
        &self,
        actor: &Actor,
        id: &Id,
        position: Option<LatLon>,
        status: Option<UnitStatus>,
    ) -> Result<Unit> {
        let _w = self.desk().write.lock().await;
        let missing = || Error::not_found(format!("no unit with id {id}"));
        let before = read(&self.desk().units).get(id).cloned().ok_or_else(missing)?;
        let allowed = match actor.role {
            Role::Agency => actor.agency.as_ref() == Some(&before.agency),
            Role::Admin | Role::Supervisor | Role::Operator => actor.sees(&before.municipality),
            Role::Viewer => false,
        };
        if !allowed {
            return Err(if actor.role == Role::Viewer && actor.sees(&before.municipality) {
                Error::permission_denied("viewers may not change units")
            } else {
                missing()
            });
        }
        let now = self.clock().now();
        let mut unit = before.clone();
        if let Some(p) = position {
            unit.position = Some(p);
            unit.position_at = Some(now);
        }
        let mut audit = Vec::new();
        if let Some(s) = status {
            if s != unit.status {
                if unit.incident.is_some() && matches!(s, UnitStatus::Available | UnitStatus::OutOfService) {
                    return Err(Error::failed_precondition(format!(
                        "unit {id} is assigned to an incident; release it first"
                    )));
                }
                unit.status = s;
                audit.push(self.audit(
                    actor,
                    "unit.status",
                    id.as_str(),
                    Some(&unit.municipality),
                    Some(&before),
                    Some(&unit),
                ));
            }
        }
        self.store().put_units(std::slice::from_ref(&unit), &audit).await?;
        write(&self.desk().units).insert(unit.id.clone(), unit.clone());
        Ok(unit)
    }

    /// Sends an available unit to an open incident.
    pub async fn assign_unit(&self, actor: &Actor, id: &Id, unit_id: &Id) -> Result<Incident> {
        let _w = self.desk().write.lock().await;
        let before = self.handled(actor, id).await?;
        let mut unit = read(&self.desk().units)
            .get(unit_id)
            .filter(|u| u.municipality == before.municipality)
            .cloned()
            .ok_or_else(|| Error::invalid("unit", format!("no unit with id {unit_id}")))?;
        if unit.status != UnitStatus::Available {
            return Err(Error::failed_precondition(format!("unit {unit_id} is {}, not available", unit.status)));
        }
        let now = self.clock().now();
        let mut incident = before.clone();
        incident.assign(&unit, now, &actor.username)?;
        unit.status =
            if incident.status == IncidentStatus::OnScene { UnitStatus::OnScene } else { UnitStatus::Dispatched };
        unit.incident = Some(id.clone());
        let journal =
            [line(id, now, &actor.username, JournalKind::Unit, format!("unit {} ({}) assigned", unit.id, unit.name))];
        self.save_incident_units(
            actor,
            "incident.assign",
            Some(&before),
            &incident,
            std::slice::from_ref(&unit),
            &journal,
        )
        .await?;
        let agency = unit.agency;
        self.push_dispatch(&incident, &agency, "assigned").await;
        Ok(incident)
    }

    /// Takes a unit off an incident; it becomes available.
    pub async fn release_unit(&self, actor: &Actor, id: &Id, unit_id: &Id) -> Result<Incident> {
        let _w = self.desk().write.lock().await;
        let before = self.handled(actor, id).await?;
        let now = self.clock().now();
        let mut incident = before.clone();
        incident.release(unit_id, now, &actor.username)?;
        let unit = read(&self.desk().units).get(unit_id).cloned();
        let units: Vec<Unit> = unit
            .map(|mut unit| {
                unit.status = UnitStatus::Available;
                unit.incident = None;
                unit
            })
            .into_iter()
            .collect();
        let journal = [line(id, now, &actor.username, JournalKind::Unit, format!("unit {unit_id} released"))];
        self.save_incident_units(actor, "incident.release", Some(&before), &incident, &units, &journal).await?;
        Ok(incident)
    }

    // ---- Procedures ------------------------------------------------------------------------

    /// The current procedures of the actor's municipality (every role but agency).
    pub fn procedures(&self, actor: &Actor) -> Result<Vec<Procedure>> {
        actor.check_read_registry()?;
        Ok(read(&self.desk().procedures).values().filter(|p| actor.sees(&p.municipality)).cloned().collect())
    }

    /// Every version of a procedure.
    pub async fn procedure_versions(&self, actor: &Actor, id: &Id) -> Result<Vec<Procedure>> {
        actor.check_read_registry()?;
        let v = self.store().procedure_versions(id).await?;
        if v.is_empty() || !v.iter().all(|p| actor.sees(&p.municipality)) {
            return Err(Error::not_found(format!("no procedure with id {id}")));
        }
        Ok(v)
    }

    /// Sets the procedure of an incident type: a new version. Supervisors and administrators.
    pub async fn put_procedure(
        &self,
        actor: &Actor,
        municipality: Option<Id>,
        kind: IncidentType,
        title: &str,
        items: &[String],
    ) -> Result<Procedure> {
        let m = match municipality {
            Some(m) => m,
            None => actor.default_municipality()?,
        };
        check_supervise(actor, &m)?;
        let (title, items) = Procedure::check(title, items)?;
        let _w = self.desk().write.lock().await;
        let id = procedure_id(&m, kind);
        let before = read(&self.desk().procedures).get(&id).cloned();
        let p = Procedure {
            id: id.clone(),
            municipality: m.clone(),
            kind,
            version: before.as_ref().map_or(1, |b| b.version + 1),
            title,
            items,
            updated_at: self.clock().now(),
            updated_by: actor.username.clone(),
        };
        let verb = if before.is_some() { "procedure.update" } else { "procedure.create" };
        let audit = self.audit(actor, verb, id.as_str(), Some(&m), before.as_ref(), Some(&p));
        self.store().put_procedure(&p, &audit).await?;
        write(&self.desk().procedures).insert(id, p.clone());
        Ok(p)
    }

    // ---- Shares ----------------------------------------------------------------------------

    /// Shares chosen cameras of an incident with an agency until it expires. Returns the share
    /// and its token; the token is shown once and only its hash is kept.
    pub async fn create_share(
        &self,
        actor: &Actor,
        id: &Id,
        agency: &Id,
        cameras: &[Id],
        expires_in_s: Option<i64>,
    ) -> Result<(Share, String)> {
        use base64::Engine as _;
        let life = check_share_life(expires_in_s)?;
        let _w = self.desk().write.lock().await;
        let incident = self.handled(actor, id).await?;
        if !incident.is_open() {
            return Err(Error::failed_precondition(format!("incident {id} is {}", incident.status)));
        }
        {
            let reg = self.registry().await;
            match reg.organisations.get(agency) {
                Some(o) if o.kind == OrgKind::Agency && o.municipality == incident.municipality => {}
                _ => return Err(Error::invalid("agency", format!("no agency with id {agency}"))),
            }
            if cameras.is_empty() || cameras.len() > 64 {
                return Err(Error::invalid("cameras", "must name 1 to 64 cameras"));
            }
            for (i, c) in cameras.iter().enumerate() {
                if reg.cameras.get(c).is_none_or(|c| c.municipality != incident.municipality) {
                    return Err(Error::invalid(format!("cameras[{i}]"), format!("no camera with id {c}")));
                }
            }
        }
        let mut cams = cameras.to_vec();
        cams.sort();
        cams.dedup();
        let now = self.clock().now();
        let bytes: [u8; 32] = rand::random();
        let token = format!("pshr_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
        let share = Share {
            id: new_id("share"),
            municipality: incident.municipality.clone(),
            incident: id.clone(),
            agency: agency.clone(),
            cameras: cams,
            token_hash: token_hash(&token),
            created_at: now,
            created_by: actor.username.clone(),
            expires_at: now + life,
            revoked_at: None,
            revoked_by: None,
        };
        let text = format!(
            "video of {} camera(s) shared with {agency} until {}",
            share.cameras.len(),
            share.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
        );
        let journal = line(id, now, &actor.username, JournalKind::Share, text);
        let audit = self.audit(actor, "share.create", share.id.as_str(), Some(&share.municipality), None, Some(&share));
        self.store().put_share(&share, &journal, &audit).await?;
        self.publish_incident(&incident).await;
        self.push_dispatch(&incident, agency, "shared").await;
        Ok((share, token))
    }

    /// Revokes a share at once.
    pub async fn revoke_share(&self, actor: &Actor, share_id: &Id) -> Result<Share> {
        let _w = self.desk().write.lock().await;
        let missing = || Error::not_found(format!("no share with id {share_id}"));
        let before = self.store().share(share_id).await?.ok_or_else(missing)?;
        let incident = self.handled(actor, &before.incident).await.map_err(|e| match e.kind {
            polis_base::ErrorKind::NotFound => missing(),
            _ => e,
        })?;
        let now = self.clock().now();
        let mut share = before.clone();
        share.revoke(now, &actor.username);
        let journal = line(&incident.id, now, &actor.username, JournalKind::Share, format!("share {share_id} revoked"));
        let audit = self.audit(
            actor,
            "share.revoke",
            share_id.as_str(),
            Some(&share.municipality),
            Some(&before),
            Some(&share),
        );
        self.store().put_share(&share, &journal, &audit).await?;
        self.publish_incident(&incident).await;
        Ok(share)
    }

    /// The uses of a share, for handlers of its incident.
    pub async fn share_uses(&self, actor: &Actor, share_id: &Id) -> Result<Vec<ShareUse>> {
        let missing = || Error::not_found(format!("no share with id {share_id}"));
        let share = self.store().share(share_id).await?.ok_or_else(missing)?;
        self.handled(actor, &share.incident).await.map_err(|_| missing())?;
        self.store().share_uses(share_id).await
    }

    /// Opens a share by its token, for `camera` if named: an unknown, expired or revoked token,
    /// a camera outside the share, or a share of an incident that was closed or cancelled, is
    /// `PermissionDenied` with the reason (see [`incident::share_refused`]). Every use is logged,
    /// a refused one of a known share too (`what` then ends in `refused: REASON`).
    pub async fn use_share(&self, token: &str, camera: Option<&Id>, what: &str) -> Result<SharedView> {
        let (share, found) = self.valid_share(token, camera).await;
        let Some(share) = share else { return Err(found.err().unwrap_or_else(unknown_share)) };
        let now = self.clock().now();
        let what = match &found {
            Ok(_) => what.to_string(),
            Err(e) => format!("{what} refused: {}", share_reason(e)),
        };
        self.store()
            .record_share_use(&ShareUse { share: share.id.clone(), at: now, what, camera: camera.cloned() })
            .await?;
        let incident = found?;
        let reg = self.registry().await;
        let cameras = share.cameras.iter().filter_map(|c| reg.cameras.get(c).cloned()).collect();
        Ok(SharedView { share, incident, cameras })
    }

    /// Whether a share still opens `camera` (not logged: a live video socket asks this every few
    /// seconds, and ends when the share does).
    pub async fn check_share(&self, token: &str, camera: &Id) -> Result<()> {
        match self.valid_share(token, Some(camera)).await {
            (Some(_), Ok(_)) => Ok(()),
            (_, Err(e)) => Err(e),
            (None, Ok(_)) => Err(unknown_share()),
        }
    }

    /// The share of a token (if any) and its incident, or why it may not be used now.
    async fn valid_share(&self, token: &str, camera: Option<&Id>) -> (Option<Share>, Result<Incident>) {
        let share = match self.store().share_by_token(&token_hash(token)).await {
            Ok(Some(s)) => s,
            Ok(None) => return (None, Err(unknown_share())),
            Err(e) => return (None, Err(e)),
        };
        let now = self.clock().now();
        if let Err(e) = share.check_use(now, camera) {
            return (Some(share), Err(e));
        }
        let incident = match self.store().incident(&share.incident).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                return (Some(share), Err(incident::share_refused("closed", "the incident of this share is gone")))
            }
            Err(e) => return (Some(share), Err(e)),
        };
        if !incident.is_open() {
            let msg = format!("the incident of this share is {}: its shares ended with it", incident.status);
            return (Some(share), Err(incident::share_refused("closed", &msg)));
        }
        (Some(share), Ok(incident))
    }

    // ---- SOS devices -----------------------------------------------------------------------

    /// Registers (or edits) an SOS device and the profile of its wearer, with its safe zones and
    /// check-in interval: supervisors and administrators. The audit record leaves the profile
    /// out. A watched device (safe zones or a check-in) is backed by a registry sensor of its own
    /// (`<id>.tracker`, named by the label) with a geofence `leave` rule per safe zone and a
    /// silence rule for the check-in; they are made, changed and removed with the device (each
    /// audited), so that its alarms come from the same rules engine and alarm queue as a
    /// sensor's. See `docs/design/0009-sos-safe-zones.md`.
    pub async fn put_sos_device(
        &self,
        actor: &Actor,
        id: Option<Id>,
        municipality: Option<Id>,
        label: &str,
        profile: SosProfile,
        watch: SosWatch,
    ) -> Result<SosDevice> {
        let m = match municipality {
            Some(m) => m,
            None => actor.default_municipality()?,
        };
        check_supervise(actor, &m)?;
        let label = check_text("label", label, 100)?;
        let profile = SosProfile {
            name: check_text("name", &profile.name, 200)?,
            details: incident::check_text("details", &profile.details, 2_000).unwrap_or_default(),
            contact: incident::check_text("contact", &profile.contact, 200).unwrap_or_default(),
        };
        let _w = self.desk().write.lock().await;
        let before = id.as_ref().and_then(|i| read(&self.desk().sos).get(i).cloned());
        if before.as_ref().is_some_and(|b| b.municipality != m) {
            // The same answer whoever holds the id: nothing about another municipality.
            return Err(Error::already_exists("this id is taken; choose another"));
        }
        let device = SosDevice {
            id: id.unwrap_or_else(|| new_id("sos")),
            municipality: m.clone(),
            label,
            profile,
            position: before.as_ref().and_then(|b| b.position),
            position_at: before.as_ref().and_then(|b| b.position_at),
            safe_zones: watch.safe_zones,
            checkin_minutes: watch.checkin_minutes,
        };
        let problems = device.check_watch();
        if !problems.is_empty() {
            return Err(Error::invalid_fields("invalid SOS device", problems));
        }
        self.sync_sos_watch(actor, before.as_ref(), Some(&device)).await?;
        let verb = if before.is_some() { "sos_device.update" } else { "sos_device.create" };
        let audit = self.audit(actor, verb, device.id.as_str(), Some(&m), before.as_ref(), Some(&device));
        self.store().put_sos_device(&device, Some(&audit)).await?;
        write(&self.desk().sos).insert(device.id.clone(), device.clone());
        Ok(device)
    }

    /// Removes an SOS device with its profile, its sensor and its rules: supervisors and
    /// administrators. Its alarms stay in the alarm list.
    pub async fn delete_sos_device(&self, actor: &Actor, id: &Id) -> Result<()> {
        let missing = || Error::not_found(format!("no SOS device with id {id}"));
        let _w = self.desk().write.lock().await;
        let before = read(&self.desk().sos).get(id).cloned().ok_or_else(missing)?;
        if !actor.sees(&before.municipality) {
            return Err(missing());
        }
        check_supervise(actor, &before.municipality)?;
        self.sync_sos_watch(actor, Some(&before), None).await?;
        let audit =
            self.audit(actor, "sos_device.delete", id.as_str(), Some(&before.municipality), Some(&before), None);
        self.store().delete_sos_device(id, &audit).await?;
        write(&self.desk().sos).remove(id);
        Ok(())
    }

    /// Makes the registry sensor and the rules behind a device match `after` (none when `after`
    /// is `None` or not watched). Rules that did not change are left alone (they keep their
    /// state: whether the wearer is inside, when they last reported).
    async fn sync_sos_watch(&self, actor: &Actor, before: Option<&SosDevice>, after: Option<&SosDevice>) -> Result<()> {
        let after = after.filter(|d| d.watched());
        let want: Vec<polis_domain::Rule> = after.map(|d| d.watch_rules()).unwrap_or_default();
        if let Some(d) = after {
            let sensor_id = d.tracker_sensor();
            let existing = self.registry().await.sensors.get(&sensor_id).cloned();
            let position = d
                .position
                .or_else(|| existing.as_ref().map(|s| s.position))
                .or_else(|| d.safe_zones.first().and_then(|z| z.zone.first().copied()))
                .ok_or_else(|| Error::invalid("safe_zones", "a device without a position needs a safe zone first"))?;
            let sensor = Sensor {
                id: sensor_id,
                municipality: d.municipality.clone(),
                name: d.label.clone(),
                name_en: String::new(),
                kind: polis_domain::SensorKind::Other,
                unit: String::new(),
                position,
                owner: None,
                demo: false,
            };
            match existing {
                Some(s) if s == sensor => {}
                Some(_) => {
                    self.update(actor, sensor).await?;
                }
                None => {
                    self.create(actor, sensor).await?;
                }
            }
            for rule in &want {
                let same = self.rule(actor, &rule.id).await.is_ok_and(|r| Rule { version: 0, ..r } == *rule);
                if !same {
                    self.put_rule(actor, rule.clone()).await?;
                }
            }
        }
        // Rules of the device that are no longer wanted: zones removed, the check-in dropped.
        if let Some(b) = before {
            let mut old: Vec<Id> = (0..b.safe_zones.len()).map(|i| b.zone_rule_id(i)).collect();
            old.push(b.checkin_rule_id());
            for id in old {
                let exists = self.rule(actor, &id).await.is_ok();
                if exists && !want.iter().any(|r| r.id == id) {
                    self.delete_rule(actor, &id).await?;
                }
            }
            if after.is_none() {
                let sensor_id = b.tracker_sensor();
                let exists = self.registry().await.sensors.contains_key(&sensor_id);
                if exists {
                    self.delete::<Sensor>(actor, &sensor_id).await?;
                }
            }
        }
        Ok(())
    }

    /// A position report of an SOS device (from the device or its gateway): operators,
    /// supervisors and administrators of its municipality. The device's position is kept, and a
    /// watched device's sensor takes the position as an observation (value 1), which its rules
    /// judge: outside every safe zone, or back, or reporting again after a missed check-in.
    /// Not audited (a reading, not a change by a person).
    pub async fn sos_position(
        &self,
        actor: &Actor,
        device: &Id,
        position: LatLon,
        at: Option<OffsetDateTime>,
    ) -> Result<SosPositionReport> {
        let missing = || Error::not_found(format!("no SOS device with id {device}"));
        let at = at.unwrap_or_else(|| self.clock().now());
        // The same window as any reading's: a time far ahead must not pin the device's position.
        polis_domain::TimeWindow::new(self.clock().now(), crate::intake::MAX_OBSERVATION_AGE).check(at)?;
        let d = {
            let _w = self.desk().write.lock().await;
            let mut d = read(&self.desk().sos).get(device).cloned().ok_or_else(missing)?;
            check_handle(actor, &d.municipality)
                .map_err(|e| if actor.sees(&d.municipality) { e } else { missing() })?;
            if d.position_at.is_none_or(|t| t <= at) {
                d.position = Some(position);
                d.position_at = Some(at);
                self.store().put_sos_device(&d, None).await?;
                write(&self.desk().sos).insert(d.id.clone(), d.clone());
            }
            d
        };
        let mut report = SosPositionReport { device: d, alarms_changed: 0 };
        if !report.device.watched() {
            return Ok(report);
        }
        let raw = polis_ingest::RawObservation {
            sensor: report.device.tracker_sensor().to_string(),
            time: at
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| Error::internal(e.to_string()))?,
            value: Some(serde_json::json!(1)),
            values: None,
            lat: Some(position.lat()),
            lon: Some(position.lon()),
        };
        let r = self.ingest(Some(actor), None, vec![raw]).await?;
        if let Some(bad) = r.rejected.first() {
            return Err(Error::invalid(&bad.field, bad.reason.clone()));
        }
        report.alarms_changed = r.alarms_changed;
        Ok(report)
    }

    /// Whether `sensor` is the sensor behind an SOS device (its readings are a wearer's track:
    /// only for operators, supervisors and administrators, and never on the live bus).
    pub fn is_sos_tracker(&self, sensor: &Id) -> bool {
        sensor.as_str().strip_suffix(".tracker").is_some_and(|d| read(&self.desk().sos).keys().any(|k| k.as_str() == d))
    }

    /// SOS devices of the actor's municipality (profiles only for authorised roles: callers
    /// must not pass them to others).
    pub fn sos_devices(&self, actor: &Actor) -> Result<Vec<SosDevice>> {
        if !matches!(actor.role, Role::Admin | Role::Supervisor | Role::Operator) {
            return Err(Error::permission_denied(format!("role {} may not see SOS devices", actor.role)));
        }
        Ok(read(&self.desk().sos).values().filter(|d| actor.sees(&d.municipality)).cloned().collect())
    }

    /// An SOS from a device at `position`: opens a missing-person incident (priority 1) with
    /// the cameras near the person, or, when one is open for the device already, moves it to the
    /// new position and journals it.
    pub async fn sos_alert(&self, actor: &Actor, device: &Id, position: LatLon) -> Result<IncidentView> {
        let missing = || Error::not_found(format!("no SOS device with id {device}"));
        // One lock from the look for an open incident to opening one: two quick SOS messages of
        // one device open one incident, not two.
        let w = self.desk().write.lock().await;
        let mut d = read(&self.desk().sos).get(device).cloned().ok_or_else(missing)?;
        check_handle(actor, &d.municipality).map_err(|e| if actor.sees(&d.municipality) { e } else { missing() })?;
        let now = self.clock().now();
        d.position = Some(position);
        d.position_at = Some(now);
        self.store().put_sos_device(&d, None).await?;
        write(&self.desk().sos).insert(d.id.clone(), d.clone());
        let filter = IncidentFilter {
            municipality: Some(d.municipality.clone()),
            open_only: true,
            limit: 1_000,
            ..Default::default()
        };
        let open =
            self.store().list_incidents(&filter).await?.into_iter().find(|i| i.sos_device.as_ref() == Some(device));
        if let Some(before) = open {
            let mut incident = before.clone();
            incident.location = position;
            incident.updated_at = now;
            let text = format!("SOS again from {} at {:.5}, {:.5}", d.label, position.lat(), position.lon());
            let journal = [line(&incident.id, now, &actor.username, JournalKind::Update, text)];
            self.save_incident(actor, "incident.sos", Some(&before), &incident, &journal).await?;
            drop(w);
            return self.incident(actor, &incident.id).await;
        }
        let new = NewIncident {
            kind: IncidentType::MissingPerson,
            priority: Some(1),
            location: position,
            area: None,
            address: String::new(),
            description: format!("SOS from device {}", d.label),
            source: IncidentSource::Sos,
            external_ref: None,
            alarms: Vec::new(),
            sos_device: Some(device.clone()),
        };
        let view = self.open_incident_locked(actor, d.municipality.clone(), new).await?;
        drop(w);
        let mut full = self.incident(actor, &view.incident.id).await?;
        full.units = view.units;
        Ok(full)
    }

    // ---- Statistics ------------------------------------------------------------------------

    /// Response times of the incidents created in `[from, to)` (of one municipality if asked),
    /// grouped, and split by period if asked. Every role but agency; a user of one municipality
    /// sees only its own (another municipality asked for gives no rows).
    pub async fn incident_stats(&self, actor: &Actor, query: StatsQuery) -> Result<Vec<StatsRow>> {
        actor.check_read_registry()?;
        if query.from >= query.to {
            return Err(Error::invalid("from", "must be before to"));
        }
        let municipality = match (actor.scope(), query.municipality) {
            (Some(own), Some(m)) if *own != m => return Ok(Vec::new()),
            (Some(own), _) => Some(own.clone()),
            (None, m) => m,
        };
        let filter = IncidentFilter {
            municipality,
            from: Some(query.from),
            to: Some(query.to),
            limit: 100_000,
            ..Default::default()
        };
        let incidents = self.store().list_incidents(&filter).await?;
        Ok(incident_stats(&incidents, query.group, query.period))
    }
}

/// What incident statistics are asked for.
#[derive(Debug, Clone)]
pub struct StatsQuery {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub group: StatsGroup,
    pub period: Option<incident::StatsPeriod>,
    pub municipality: Option<Id>,
}
