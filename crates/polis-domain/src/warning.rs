//! Public warnings: what the control center tells the city, and what it hears from outside.
//!
//! A [`Warning`] is written as a draft, approved by a second person (never its author), then
//! published; it can be updated (the update is approved the same way), cancelled (the
//! all-clear) or it expires. Each published step is a Common Alerting Protocol (CAP 1.2)
//! message ([`MessageRef`]) with its own identifier; updates and cancels reference the earlier
//! ones. Every step here refuses an illegal move without changing anything.
//!
//! Texts come in Bulgarian and English ([`Texts`]), within the limits CAP sets (a headline under
//! 160 characters) and ours. The area is a polygon or a circle ([`WarningArea`]).

use crate::incident::check_area;
use crate::registry::string_enum;
use crate::values::{Id, LatLon};
use polis_base::{Error, FieldError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

string_enum!(
    /// Where a warning is in its life.
    WarningStatus {
        Draft = "draft",
        Published = "published",
        Updated = "updated",
        Cancelled = "cancelled",
        Expired = "expired",
    }
);

string_enum!(
    /// CAP `urgency`.
    Urgency { Immediate = "immediate", Expected = "expected", Future = "future", Past = "past", Unknown = "unknown" }
);

string_enum!(
    /// CAP `severity`.
    CapSeverity { Extreme = "extreme", Severe = "severe", Moderate = "moderate", Minor = "minor", Unknown = "unknown" }
);

string_enum!(
    /// CAP `certainty`.
    Certainty { Observed = "observed", Likely = "likely", Possible = "possible", Unlikely = "unlikely", Unknown = "unknown" }
);

string_enum!(
    /// CAP `category`.
    CapCategory {
        Geo = "geo",
        Met = "met",
        Safety = "safety",
        Security = "security",
        Rescue = "rescue",
        Fire = "fire",
        Health = "health",
        Env = "env",
        Transport = "transport",
        Infra = "infra",
        Cbrne = "cbrne",
        Other = "other",
    }
);

string_enum!(
    /// CAP `msgType` of the messages Polis sends.
    MsgType { Alert = "alert", Update = "update", Cancel = "cancel" }
);

/// The CAP spelling of an enum value: `immediate` -> `Immediate`, `cbrne` -> `CBRNE`.
pub fn cap_word(snake: &str) -> String {
    if snake == "cbrne" {
        return "CBRNE".into();
    }
    let mut c = snake.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// CAP 1.2 (section 3.2.2) asks for headlines under 160 characters.
pub const MAX_HEADLINE_CHARS: usize = 160;
/// The longest description and instruction (per language).
pub const MAX_TEXT_CHARS: usize = 4_000;
/// The longest event name and area description.
pub const MAX_EVENT_CHARS: usize = 200;
/// The most corners of a polygon area.
pub const MAX_AREA_CORNERS: usize = 1_000;
/// The largest circle.
pub const MAX_RADIUS_M: f64 = 200_000.0;

/// A text in Bulgarian and English.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Texts {
    pub bg: String,
    pub en: String,
}

impl Texts {
    pub fn new(bg: impl Into<String>, en: impl Into<String>) -> Texts {
        Texts { bg: bg.into(), en: en.into() }
    }

    /// Trims both; each must be 1 to `max` characters (0 to `max` when not `required`).
    fn check(&self, field: &str, max: usize, required: bool, errs: &mut Vec<FieldError>) -> Texts {
        let mut out = Texts::default();
        for (lang, s, slot) in [("bg", &self.bg, &mut out.bg), ("en", &self.en, &mut out.en)] {
            let t = s.trim();
            let n = t.chars().count();
            if required && n == 0 {
                errs.push(FieldError::new(format!("{field}.{lang}"), "is required"));
            } else if n > max {
                errs.push(FieldError::new(format!("{field}.{lang}"), format!("must be at most {max} characters")));
            } else if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
                errs.push(FieldError::new(format!("{field}.{lang}"), "must not contain control characters"));
            }
            *slot = t.to_string();
        }
        out
    }
}

/// Where a warning applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningArea {
    /// A polygon's corners in order, not closed (the first corner is not repeated).
    Polygon(Vec<LatLon>),
    Circle {
        center: LatLon,
        radius_m: f64,
    },
}

impl WarningArea {
    /// Checks a polygon ring (a closing corner equal to the first is dropped): 3 to
    /// [`MAX_AREA_CORNERS`] corners that enclose an area and do not cross themselves.
    pub fn polygon(mut ring: Vec<LatLon>) -> Result<WarningArea> {
        if ring.len() >= 2 && ring.first() == ring.last() {
            ring.pop();
        }
        if ring.len() < 3 || ring.len() > MAX_AREA_CORNERS {
            return Err(Error::invalid("area", format!("a polygon needs 3 to {MAX_AREA_CORNERS} distinct corners")));
        }
        check_area(&ring)?;
        let twice_area: f64 =
            ring.iter().zip(ring.iter().cycle().skip(1)).map(|(a, b)| a.lon() * b.lat() - b.lon() * a.lat()).sum();
        if twice_area.abs() < 1e-10 {
            return Err(Error::invalid("area", "the corners must enclose an area"));
        }
        Ok(WarningArea::Polygon(ring))
    }

    pub fn circle(center: LatLon, radius_m: f64) -> Result<WarningArea> {
        if !radius_m.is_finite() || !(1.0..=MAX_RADIUS_M).contains(&radius_m) {
            return Err(Error::invalid("area.radius_m", format!("must be from 1 to {MAX_RADIUS_M} metres")));
        }
        Ok(WarningArea::Circle { center, radius_m })
    }

    /// The area as a closed-enough ring (a circle as a 48-gon), for drawing and intersection.
    pub fn ring(&self) -> Vec<LatLon> {
        match self {
            WarningArea::Polygon(r) => r.clone(),
            WarningArea::Circle { center, radius_m } => {
                (0..48).map(|i| crate::geometry::destination(*center, f64::from(i) * 7.5, *radius_m)).collect()
            }
        }
    }

    /// Whether this area and the polygon `other` (corners in order) share any point.
    pub fn intersects_ring(&self, other: &[LatLon]) -> bool {
        rings_intersect(&self.ring(), other)
    }

    /// A point inside or on the area (for a label or the nearest camera).
    pub fn anchor(&self) -> LatLon {
        match self {
            WarningArea::Circle { center, .. } => *center,
            WarningArea::Polygon(r) => {
                let n = r.len().max(1) as f64;
                let lat = r.iter().map(|p| p.lat()).sum::<f64>() / n;
                let lon = r.iter().map(|p| p.lon()).sum::<f64>() / n;
                LatLon::new(lat, lon).unwrap_or(r[0])
            }
        }
    }
}

/// Whether two polygons (corners in order, plane lon/lat) share any point.
pub fn rings_intersect(a: &[LatLon], b: &[LatLon]) -> bool {
    use geo::Intersects;
    let poly = |r: &[LatLon]| {
        geo::Polygon::new(geo::LineString::from(r.iter().map(|p| (p.lon(), p.lat())).collect::<Vec<_>>()), vec![])
    };
    if a.len() < 3 || b.len() < 3 {
        return false;
    }
    poly(a).intersects(&poly(b))
}

/// What a warning says: the part a person edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningContent {
    pub event: String,
    pub category: CapCategory,
    pub urgency: Urgency,
    pub severity: CapSeverity,
    pub certainty: Certainty,
    pub area: WarningArea,
    /// Names the area for people ("Tundzha river banks, Kazanlak").
    pub area_desc: Texts,
    pub headline: Texts,
    pub description: Texts,
    pub instruction: Texts,
    pub onset: Option<OffsetDateTime>,
    pub expires: OffsetDateTime,
}

impl WarningContent {
    /// Checks every field at once (trimming the texts); `now` is when it is written: `expires`
    /// must be after it. All problems are reported together, each naming its field.
    pub fn check(mut self, now: OffsetDateTime) -> Result<WarningContent> {
        let mut errs = Vec::new();
        let event = self.event.trim().to_string();
        if event.is_empty() || event.chars().count() > MAX_EVENT_CHARS {
            errs.push(FieldError::new("event", format!("must be 1 to {MAX_EVENT_CHARS} characters")));
        }
        self.event = event;
        self.headline = self.headline.check("headline", MAX_HEADLINE_CHARS, true, &mut errs);
        self.description = self.description.check("description", MAX_TEXT_CHARS, true, &mut errs);
        self.instruction = self.instruction.check("instruction", MAX_TEXT_CHARS, false, &mut errs);
        self.area_desc = self.area_desc.check("area_desc", MAX_EVENT_CHARS, false, &mut errs);
        if self.expires <= now {
            errs.push(FieldError::new("expires", "must be in the future"));
        }
        if let Some(onset) = self.onset {
            if onset >= self.expires {
                errs.push(FieldError::new("onset", "must be before expires"));
            }
        }
        if self.expires > now + time::Duration::days(366) {
            errs.push(FieldError::new("expires", "must be within a year"));
        }
        if errs.is_empty() {
            Ok(self)
        } else {
            let msg = errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
            Err(Error::invalid_fields(msg, errs))
        }
    }
}

/// One CAP message of a warning, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub identifier: String,
    pub sender: String,
    pub sent: OffsetDateTime,
    pub msg_type: MsgType,
}

impl MessageRef {
    /// The CAP `references` form: `sender,identifier,sent`.
    pub fn reference(&self, sent_text: &str) -> String {
        format!("{},{},{}", self.sender, self.identifier, sent_text)
    }
}

/// A change of a published warning waiting for a second person's approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub content: WarningContent,
    pub by: String,
    pub at: OffsetDateTime,
}

/// A public warning of one municipality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub id: Id,
    pub municipality: Id,
    pub status: WarningStatus,
    pub content: WarningContent,
    /// A proposed update of a published warning, not yet approved.
    pub revision: Option<Revision>,
    /// The alarm it was drafted from.
    pub alarm: Option<Id>,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub approved_by: Option<String>,
    pub published_at: Option<OffsetDateTime>,
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<OffsetDateTime>,
    /// The CAP messages sent, oldest first.
    pub messages: Vec<MessageRef>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning {} ({})", self.id, self.status)
    }
}

impl Warning {
    /// A new draft, with checked content.
    pub fn draft(
        id: Id,
        municipality: Id,
        content: WarningContent,
        alarm: Option<Id>,
        at: OffsetDateTime,
        by: &str,
    ) -> Result<Warning> {
        let content = content.check(at)?;
        Ok(Warning {
            id,
            municipality,
            status: WarningStatus::Draft,
            content,
            revision: None,
            alarm,
            created_by: by.to_string(),
            created_at: at,
            updated_at: at,
            approved_by: None,
            published_at: None,
            cancelled_by: None,
            cancelled_at: None,
            messages: Vec::new(),
        })
    }

    /// In force at `now`: published (or updated) and not past its expiry.
    pub fn in_force(&self, now: OffsetDateTime) -> bool {
        matches!(self.status, WarningStatus::Published | WarningStatus::Updated) && self.content.expires > now
    }

    /// Edits a draft in place, or proposes an update of a warning in force (to be approved).
    pub fn edit(&mut self, content: WarningContent, at: OffsetDateTime, by: &str) -> Result<()> {
        let content = content.check(at)?;
        match self.status {
            WarningStatus::Draft => {
                self.content = content;
                self.created_by = by.to_string();
            }
            WarningStatus::Published | WarningStatus::Updated => {
                self.revision = Some(Revision { content, by: by.to_string(), at });
            }
            WarningStatus::Cancelled | WarningStatus::Expired => {
                return Err(Error::failed_precondition(format!("{self} can no longer be changed")));
            }
        }
        self.updated_at = at;
        Ok(())
    }

    /// Who must not approve: the author of the draft, or of the pending update.
    pub fn author(&self) -> &str {
        match &self.revision {
            Some(r) if self.status != WarningStatus::Draft => &r.by,
            _ => &self.created_by,
        }
    }

    /// Approves the draft (published, a CAP `Alert`) or the pending update (updated, a CAP
    /// `Update`). `identifier` names the new message. A person may not approve their own text:
    /// `PermissionDenied`, nothing changed.
    pub fn approve(&mut self, identifier: String, sender: &str, at: OffsetDateTime, by: &str) -> Result<MessageRef> {
        if self.author() == by {
            return Err(Error::permission_denied("a warning must be approved by someone other than its author"));
        }
        let msg_type = match (self.status, &self.revision) {
            (WarningStatus::Draft, _) => MsgType::Alert,
            (WarningStatus::Published | WarningStatus::Updated, Some(_)) => MsgType::Update,
            _ => return Err(Error::failed_precondition(format!("{self} has nothing to approve"))),
        };
        let expires = self.revision.as_ref().map_or(self.content.expires, |r| r.content.expires);
        if expires <= at {
            return Err(Error::invalid("expires", "must be in the future: edit the warning first"));
        }
        if let Some(r) = self.revision.take().filter(|_| msg_type == MsgType::Update) {
            self.content = r.content;
        }
        self.status = if msg_type == MsgType::Alert { WarningStatus::Published } else { WarningStatus::Updated };
        self.approved_by = Some(by.to_string());
        if msg_type == MsgType::Alert {
            self.published_at = Some(at);
        }
        self.updated_at = at;
        let m = MessageRef { identifier, sender: sender.to_string(), sent: at, msg_type };
        self.messages.push(m.clone());
        Ok(m)
    }

    /// Cancels: a draft is dropped (no message); a warning in force gets a CAP `Cancel`
    /// (returned) referencing every earlier message.
    pub fn cancel(
        &mut self,
        identifier: String,
        sender: &str,
        at: OffsetDateTime,
        by: &str,
    ) -> Result<Option<MessageRef>> {
        let msg = match self.status {
            WarningStatus::Draft => None,
            WarningStatus::Published | WarningStatus::Updated => {
                Some(MessageRef { identifier, sender: sender.to_string(), sent: at, msg_type: MsgType::Cancel })
            }
            WarningStatus::Cancelled | WarningStatus::Expired => {
                return Err(Error::failed_precondition(format!("{self} is no longer in force")));
            }
        };
        self.status = WarningStatus::Cancelled;
        self.revision = None;
        self.cancelled_by = Some(by.to_string());
        self.cancelled_at = Some(at);
        self.updated_at = at;
        if let Some(m) = &msg {
            self.messages.push(m.clone());
        }
        Ok(msg)
    }

    /// Marks a warning in force whose time has passed as expired; `true` if it changed.
    pub fn expire(&mut self, now: OffsetDateTime) -> bool {
        if matches!(self.status, WarningStatus::Published | WarningStatus::Updated) && self.content.expires <= now {
            self.status = WarningStatus::Expired;
            self.revision = None;
            self.updated_at = now;
            return true;
        }
        false
    }
}

/// A published CAP message as stored: its XML text is kept as sent, so that it never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapRecord {
    pub identifier: String,
    pub warning: Id,
    pub municipality: Id,
    pub sent: OffsetDateTime,
    pub msg_type: MsgType,
    pub xml: String,
}

string_enum!(
    /// Where a warning from outside stands.
    InboundStatus { InForce = "in_force", Cancelled = "cancelled", Expired = "expired" }
);

/// A CAP message received from an outside feed whose area touches a municipality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundAlert {
    /// `sender` + `identifier` of the message as received (unique together).
    pub key: String,
    pub identifier: String,
    pub sender: String,
    pub sent: OffsetDateTime,
    pub municipality: Id,
    /// The feed it came from.
    pub feed: String,
    pub msg_type: String,
    pub status: InboundStatus,
    pub event: String,
    pub urgency: String,
    pub severity: String,
    pub certainty: String,
    pub headline: String,
    pub description: String,
    pub language: String,
    pub expires: Option<OffsetDateTime>,
    pub areas: Vec<Vec<LatLon>>,
    /// The keys of earlier messages it updates or cancels.
    pub references: Vec<String>,
    pub received_at: OffsetDateTime,
}

impl InboundAlert {
    pub fn in_force(&self, now: OffsetDateTime) -> bool {
        self.status == InboundStatus::InForce && self.expires.is_none_or(|e| e > now)
    }

    /// Whether it calls for an alarm: severe or extreme.
    pub fn is_severe(&self) -> bool {
        matches!(self.severity.to_ascii_lowercase().as_str(), "severe" | "extreme")
    }
}

string_enum!(
    /// What an administrator may publish on the portal.
    PublicKind { Sensor = "sensor", Camera = "camera", Plan = "plan" }
);

/// That an item is (or is no longer) shown on the public portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    pub kind: PublicKind,
    pub item: Id,
    pub municipality: Id,
    pub public: bool,
    pub by: String,
    pub at: OffsetDateTime,
    /// What the portal shows of the item as it was when published: a plan's report (HTML),
    /// since plans are not kept. None for items shown live (sensors, webcams) and withdrawals.
    #[serde(default)]
    pub snapshot: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn p(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).unwrap()
    }

    fn content(now: OffsetDateTime) -> WarningContent {
        WarningContent {
            event: "Flood".into(),
            category: CapCategory::Met,
            urgency: Urgency::Immediate,
            severity: CapSeverity::Severe,
            certainty: Certainty::Likely,
            area: WarningArea::polygon(vec![p(42.60, 25.38), p(42.60, 25.41), p(42.61, 25.41), p(42.61, 25.38)])
                .unwrap(),
            area_desc: Texts::new("Тунджа", "Tundzha"),
            headline: Texts::new("Наводнение", "Flood"),
            description: Texts::new("Реката расте", "The river is rising"),
            instruction: Texts::new("", ""),
            onset: None,
            expires: now + time::Duration::hours(6),
        }
    }

    #[test]
    fn a_self_intersecting_area_is_refused_naming_area() {
        let bow = vec![p(42.60, 25.38), p(42.61, 25.41), p(42.60, 25.41), p(42.61, 25.38)];
        let e = WarningArea::polygon(bow).unwrap_err();
        assert_eq!(e.details[0].field, "area");
    }

    #[test]
    fn texts_over_the_cap_limit_and_past_expiry_name_their_fields() {
        let now = datetime!(2026-12-07 10:00 UTC);
        let mut c = content(now);
        c.headline.en = "x".repeat(MAX_HEADLINE_CHARS + 1);
        c.expires = now - time::Duration::minutes(1);
        let e = c.check(now).unwrap_err();
        let fields: Vec<_> = e.details.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["headline.en", "expires"]);
    }

    #[test]
    fn the_author_cannot_approve_and_nothing_changes() {
        let now = datetime!(2026-12-07 10:00 UTC);
        let mut w =
            Warning::draft(Id::from_trusted("w1"), Id::from_trusted("kz"), content(now), None, now, "op").unwrap();
        let before = w.clone();
        let e = w.approve("id-1".into(), "s", now, "op").unwrap_err();
        assert_eq!(e.kind, polis_base::ErrorKind::PermissionDenied);
        assert_eq!(w, before);
        let m = w.approve("id-1".into(), "s", now, "sup").unwrap();
        assert_eq!((w.status, m.msg_type), (WarningStatus::Published, MsgType::Alert));
        assert!(w.in_force(now));
        // An update proposed by the supervisor must be approved by someone else.
        let mut c = content(now);
        c.headline.en = "Flood, worse".into();
        w.edit(c, now, "sup").unwrap();
        assert_eq!(w.status, WarningStatus::Published, "an edit of a published warning waits for approval");
        assert!(w.approve("id-2".into(), "s", now, "sup").is_err());
        let m = w.approve("id-2".into(), "s", now, "op").unwrap();
        assert_eq!((w.status, m.msg_type), (WarningStatus::Updated, MsgType::Update));
        assert_eq!(w.content.headline.en, "Flood, worse");
        let c = w.cancel("id-3".into(), "s", now, "op").unwrap().unwrap();
        assert_eq!(c.msg_type, MsgType::Cancel);
        assert_eq!(w.messages.len(), 3);
        assert!(!w.in_force(now));
        assert!(w.cancel("id-4".into(), "s", now, "op").is_err());
    }

    #[test]
    fn warnings_expire_and_areas_intersect() {
        let now = datetime!(2026-12-07 10:00 UTC);
        let mut w =
            Warning::draft(Id::from_trusted("w1"), Id::from_trusted("kz"), content(now), None, now, "op").unwrap();
        w.approve("id-1".into(), "s", now, "sup").unwrap();
        assert!(!w.expire(now));
        assert!(w.expire(now + time::Duration::hours(7)));
        assert_eq!(w.status, WarningStatus::Expired);
        let town = [p(42.59, 25.35), p(42.59, 25.45), p(42.65, 25.45), p(42.65, 25.35)];
        assert!(content(now).area.intersects_ring(&town));
        let far = WarningArea::circle(p(43.2, 27.9), 5_000.0).unwrap();
        assert!(!far.intersects_ring(&town));
        let near = WarningArea::circle(p(42.58, 25.40), 2_000.0).unwrap();
        assert!(near.intersects_ring(&town));
    }
}
