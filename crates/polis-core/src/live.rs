//! The closed set of live events that travel on the bus to consoles and integrations. Events are
//! owned data that serialise (serde), so a bus engine may carry them between processes.

use polis_domain::incident::Incident;
use polis_domain::{Alarm, Id, Observation};

/// What changed in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Updated,
    Deleted,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
        }
    }
}

/// At most this many ids travel in one registry event; a bigger import sends the count only
/// and consumers reload.
pub const MAX_IDS_PER_EVENT: usize = 1000;

/// A live event. Consumers match on it; adding a kind is a compile error for every consumer that
/// must handle it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveEvent {
    /// Registry items were created, updated or deleted.
    Registry { entity: String, change: Change, count: usize, ids: Vec<Id> },
    /// An alarm was opened or changed: its whole current state.
    Alarm(Box<Alarm>),
    /// The newest reading of a sensor (one per sensor and quantity per intake batch).
    Observation(Observation),
    /// An incident was opened or changed: its whole current state, and who may see it.
    Incident(Box<IncidentEvent>),
    /// A planning job moved on.
    Plan { id: Id, status: String, stage: String, progress: f64 },
    /// Dispatch support: an incident with what an agency may see of it (its cameras, the live
    /// values of the sensors near it), pushed to that agency when one of its units is assigned
    /// or a share is made for it.
    Dispatch(Box<DispatchEvent>),
    /// A public warning was drafted, changed, approved, cancelled or expired: its whole state.
    Warning(Box<polis_domain::warning::Warning>),
    /// A warning from an outside CAP feed arrived (or left force).
    ExternalWarning(Box<polis_domain::warning::InboundAlert>),
}

/// What [`LiveEvent::Dispatch`] carries: the incident as `agency` sees it, and why it was sent.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DispatchEvent {
    pub agency: Id,
    /// `assigned` (a unit of the agency) or `shared` (a video share for it).
    pub reason: String,
    pub view: crate::incidents::IncidentView,
    /// When it was sent (the application's clock): decides which shares were active.
    pub at: time::OffsetDateTime,
}

/// An incident as it is now, with the agencies that may see it (a valid share or a unit on it):
/// consumers deliver it to the incident's municipality and to those agencies only.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IncidentEvent {
    pub incident: Incident,
    pub agencies: Vec<Id>,
}

impl LiveEvent {
    /// The event's type name on the wire and in subscription filters.
    pub fn type_name(&self) -> &'static str {
        match self {
            LiveEvent::Registry { .. } => "registry",
            LiveEvent::Alarm(_) => "alarm",
            LiveEvent::Observation(_) => "observation",
            LiveEvent::Incident(_) => "incident",
            LiveEvent::Plan { .. } => "plan",
            LiveEvent::Dispatch(_) => "dispatch",
            LiveEvent::Warning(_) => "warning",
            LiveEvent::ExternalWarning(_) => "external_warning",
        }
    }

    /// Every type name, for validating filters.
    pub const TYPES: &'static [&'static str] =
        &["registry", "alarm", "observation", "incident", "plan", "dispatch", "warning", "external_warning"];

    pub(crate) fn registry<'a>(entity: &str, change: Change, ids: impl ExactSizeIterator<Item = &'a Id>) -> Self {
        let count = ids.len();
        let ids = if count <= MAX_IDS_PER_EVENT { ids.cloned().collect() } else { Vec::new() };
        LiveEvent::Registry { entity: entity.to_string(), change, count, ids }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_domain::{Alarm, LatLon, Observation, Severity, Signal, SignalKind};

    /// Every kind of event survives a trip through JSON, as it would between processes.
    #[test]
    fn every_event_kind_round_trips_through_json() {
        let t = time::macros::datetime!(2026-12-06 10:00 UTC);
        let sensor = Id::from_trusted("gauge");
        let signal = Signal {
            rule: Id::from_trusted("high"),
            rule_version: 2,
            source: sensor.clone(),
            kind: SignalKind::Raise,
            value: Some(412.5),
            time: t,
            severity: Severity::Critical,
            message: "water level 412.5 cm above 400 cm".into(),
            position: None,
        };
        let position = LatLon::new(42.61, 25.39).expect("position");
        let alarm = Alarm::open(Id::from_trusted("alarm-1"), Id::from_trusted("kazanlak"), &signal, Some(position))
            .expect("alarm");
        let reading = Observation::stored(sensor.clone(), t, Some("pm25".into()), 12.25, Some(position)).expect("obs");
        let events = vec![
            LiveEvent::registry("camera", Change::Deleted, [Id::from_trusted("cam-1")].iter()),
            LiveEvent::Alarm(Box::new(alarm)),
            LiveEvent::Observation(reading),
            LiveEvent::Plan {
                id: Id::from_trusted("plan-1"),
                status: "running".into(),
                stage: "greedy".into(),
                progress: 0.5,
            },
        ];
        for e in events {
            let json = serde_json::to_string(&e).expect("serialise");
            let back: LiveEvent = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back, e, "{json}");
        }
        // A reading that breaks the domain's rules is refused when read back.
        let bad = r#"{"observation":{"sensor":"gauge","time":"2026-12-06T10:00:00Z","quantity":"PM 2.5","value":1.0}}"#;
        assert!(serde_json::from_str::<LiveEvent>(bad).is_err());
    }
}
