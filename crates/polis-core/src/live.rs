//! The closed set of live events that travel on the bus to consoles and integrations.

use polis_domain::incident::Incident;
use polis_domain::{Alarm, Id, Observation};

/// What changed in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// Registry items were created, updated or deleted.
    Registry { entity: &'static str, change: Change, count: usize, ids: Vec<Id> },
    /// An alarm was opened or changed: its whole current state.
    Alarm(Box<Alarm>),
    /// The newest reading of a sensor (one per sensor and quantity per intake batch).
    Observation(Observation),
    /// An incident was opened or changed: its whole current state, and who may see it.
    Incident(Box<IncidentEvent>),
    /// A planning job moved on.
    Plan { id: Id, status: &'static str, stage: String, progress: f64 },
    /// Dispatch support: an incident with what an agency may see of it (its cameras, the live
    /// values of the sensors near it), pushed to that agency when one of its units is assigned
    /// or a share is made for it.
    Dispatch(Box<DispatchEvent>),
}

/// What [`LiveEvent::Dispatch`] carries: the incident as `agency` sees it, and why it was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchEvent {
    pub agency: Id,
    /// `assigned` (a unit of the agency) or `shared` (a video share for it).
    pub reason: &'static str,
    pub view: crate::incidents::IncidentView,
    /// When it was sent (the application's clock): decides which shares were active.
    pub at: time::OffsetDateTime,
}

/// An incident as it is now, with the agencies that may see it (a valid share or a unit on it):
/// consumers deliver it to the incident's municipality and to those agencies only.
#[derive(Debug, Clone, PartialEq)]
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
        }
    }

    /// Every type name, for validating filters.
    pub const TYPES: &'static [&'static str] = &["registry", "alarm", "observation", "incident", "plan", "dispatch"];

    pub(crate) fn registry<'a>(
        entity: &'static str,
        change: Change,
        ids: impl ExactSizeIterator<Item = &'a Id>,
    ) -> Self {
        let count = ids.len();
        let ids = if count <= MAX_IDS_PER_EVENT { ids.cloned().collect() } else { Vec::new() };
        LiveEvent::Registry { entity, change, count, ids }
    }
}
