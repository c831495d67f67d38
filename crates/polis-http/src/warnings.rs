//! Wire forms and handlers of public warnings (operators' side), warnings received from
//! outside, and publications on the portal. Bodies are serde-derived structs; each input field
//! is parsed into a domain value with a problem naming the field.

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::live::rfc3339;
use crate::routes::parse_id;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use polis_base::{Error, FieldError, Result};
use polis_core::warnings::WarningRequest;
use polis_domain::warning::{
    CapCategory, CapRecord, CapSeverity, Certainty, InboundAlert, MessageRef, PublicKind, Publication, Revision, Texts,
    Urgency, Warning, WarningArea, WarningContent,
};
use polis_domain::LatLon;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

// ---- Output ----------------------------------------------------------------------------------

/// A GeoJSON geometry: a polygon, or a circle as a point with `radius_m`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum GeometryOut {
    Polygon {
        #[serde(rename = "type")]
        kind: &'static str,
        coordinates: Vec<Vec<[f64; 2]>>,
    },
    Circle {
        #[serde(rename = "type")]
        kind: &'static str,
        coordinates: [f64; 2],
        radius_m: f64,
    },
}

fn closed(ring: &[LatLon]) -> Vec<Vec<[f64; 2]>> {
    let mut pts: Vec<[f64; 2]> = ring.iter().map(|p| [p.lon(), p.lat()]).collect();
    if let Some(first) = pts.first().copied() {
        pts.push(first);
    }
    vec![pts]
}

impl GeometryOut {
    pub fn of(area: &WarningArea) -> GeometryOut {
        match area {
            WarningArea::Polygon(r) => GeometryOut::Polygon { kind: "Polygon", coordinates: closed(r) },
            WarningArea::Circle { center, radius_m } => {
                GeometryOut::Circle { kind: "Point", coordinates: [center.lon(), center.lat()], radius_m: *radius_m }
            }
        }
    }
    /// Always a polygon (a circle as a 48-gon): plain GeoJSON for maps.
    pub fn polygon(area: &WarningArea) -> GeometryOut {
        GeometryOut::Polygon { kind: "Polygon", coordinates: closed(&area.ring()) }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TextsOut {
    pub bg: String,
    pub en: String,
}

impl From<&Texts> for TextsOut {
    fn from(t: &Texts) -> Self {
        TextsOut { bg: t.bg.clone(), en: t.en.clone() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageOut {
    pub identifier: String,
    pub msg_type: &'static str,
    pub sent: String,
    /// Where the CAP 1.2 message is served, without a token.
    pub url: String,
}

pub fn cap_url(identifier: &str) -> String {
    format!("/public/cap/alerts/{identifier}.xml")
}

impl From<&MessageRef> for MessageOut {
    fn from(m: &MessageRef) -> Self {
        MessageOut {
            identifier: m.identifier.clone(),
            msg_type: m.msg_type.as_str(),
            sent: rfc3339(m.sent),
            url: cap_url(&m.identifier),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ContentOut {
    pub event: String,
    pub category: &'static str,
    pub urgency: &'static str,
    pub severity: &'static str,
    pub certainty: &'static str,
    pub area: GeometryOut,
    pub area_desc: TextsOut,
    pub headline: TextsOut,
    pub description: TextsOut,
    pub instruction: TextsOut,
    pub onset: Option<String>,
    pub expires: String,
}

impl From<&WarningContent> for ContentOut {
    fn from(c: &WarningContent) -> Self {
        ContentOut {
            event: c.event.clone(),
            category: c.category.as_str(),
            urgency: c.urgency.as_str(),
            severity: c.severity.as_str(),
            certainty: c.certainty.as_str(),
            area: GeometryOut::of(&c.area),
            area_desc: (&c.area_desc).into(),
            headline: (&c.headline).into(),
            description: (&c.description).into(),
            instruction: (&c.instruction).into(),
            onset: c.onset.map(rfc3339),
            expires: rfc3339(c.expires),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RevisionOut {
    pub by: String,
    pub at: String,
    #[serde(flatten)]
    pub content: ContentOut,
}

impl From<&Revision> for RevisionOut {
    fn from(r: &Revision) -> Self {
        RevisionOut { by: r.by.clone(), at: rfc3339(r.at), content: (&r.content).into() }
    }
}

/// A warning on the wire: its content flattened next to its life.
#[derive(Debug, Clone, Serialize)]
pub struct WarningOut {
    pub id: String,
    pub municipality: String,
    pub status: &'static str,
    #[serde(flatten)]
    pub content: ContentOut,
    pub alarm: Option<String>,
    pub revision: Option<RevisionOut>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub approved_by: Option<String>,
    pub published_at: Option<String>,
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<String>,
    pub messages: Vec<MessageOut>,
}

impl From<&Warning> for WarningOut {
    fn from(w: &Warning) -> Self {
        WarningOut {
            id: w.id.to_string(),
            municipality: w.municipality.to_string(),
            status: w.status.as_str(),
            content: (&w.content).into(),
            alarm: w.alarm.as_ref().map(|a| a.to_string()),
            revision: w.revision.as_ref().map(RevisionOut::from),
            created_by: w.created_by.clone(),
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
            approved_by: w.approved_by.clone(),
            published_at: w.published_at.map(rfc3339),
            cancelled_by: w.cancelled_by.clone(),
            cancelled_at: w.cancelled_at.map(rfc3339),
            messages: w.messages.iter().map(MessageOut::from).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ListOut<T> {
    pub items: Vec<T>,
}

/// A warning received from outside.
#[derive(Debug, Clone, Serialize)]
pub struct ExternalOut {
    pub key: String,
    pub identifier: String,
    pub sender: String,
    pub sent: String,
    pub municipality: String,
    pub feed: String,
    pub msg_type: String,
    pub status: &'static str,
    pub event: String,
    pub urgency: String,
    pub severity: String,
    pub certainty: String,
    pub headline: String,
    pub description: String,
    pub language: String,
    pub expires: Option<String>,
    pub areas: Vec<GeometryOut>,
    pub references: Vec<String>,
    pub received_at: String,
}

impl From<&InboundAlert> for ExternalOut {
    fn from(a: &InboundAlert) -> Self {
        ExternalOut {
            key: a.key.clone(),
            identifier: a.identifier.clone(),
            sender: a.sender.clone(),
            sent: rfc3339(a.sent),
            municipality: a.municipality.to_string(),
            feed: a.feed.clone(),
            msg_type: a.msg_type.clone(),
            status: a.status.as_str(),
            event: a.event.clone(),
            urgency: a.urgency.clone(),
            severity: a.severity.clone(),
            certainty: a.certainty.clone(),
            headline: a.headline.clone(),
            description: a.description.clone(),
            language: a.language.clone(),
            expires: a.expires.map(rfc3339),
            areas: a
                .areas
                .iter()
                .map(|r| GeometryOut::Polygon {
                    kind: "Polygon",
                    coordinates: vec![r.iter().map(|p| [p.lon(), p.lat()]).collect()],
                })
                .collect(),
            references: a.references.clone(),
            received_at: rfc3339(a.received_at),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicationOut {
    pub kind: &'static str,
    pub item: String,
    pub municipality: String,
    pub public: bool,
    pub by: String,
    pub at: String,
    /// Where the portal shows a published plan's report.
    pub url: Option<String>,
}

impl From<&Publication> for PublicationOut {
    fn from(p: &Publication) -> Self {
        PublicationOut {
            kind: p.kind.as_str(),
            item: p.item.to_string(),
            municipality: p.municipality.to_string(),
            public: p.public,
            by: p.by.clone(),
            at: rfc3339(p.at),
            url: (p.public && p.snapshot.is_some()).then(|| format!("/public/plans/{}.html", p.item)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CapMessageOut {
    pub identifier: String,
    pub msg_type: &'static str,
    pub sent: String,
    pub url: String,
    pub xml: String,
}

impl From<&CapRecord> for CapMessageOut {
    fn from(m: &CapRecord) -> Self {
        CapMessageOut {
            identifier: m.identifier.clone(),
            msg_type: m.msg_type.as_str(),
            sent: rfc3339(m.sent),
            url: cap_url(&m.identifier),
            xml: m.xml.clone(),
        }
    }
}

// ---- Input -----------------------------------------------------------------------------------

/// A text in both languages as sent.
#[derive(Debug, Clone, Deserialize)]
pub struct TextsIn {
    #[serde(default)]
    pub bg: Option<Value>,
    #[serde(default)]
    pub en: Option<Value>,
}

/// The body of `POST /warnings` and `PATCH /warnings/{id}`. Every field is optional on the
/// wire so that each problem is reported by name; a create needs the required ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningIn {
    pub municipality: Option<Value>,
    pub event: Option<Value>,
    pub category: Option<Value>,
    pub urgency: Option<Value>,
    pub severity: Option<Value>,
    pub certainty: Option<Value>,
    pub area: Option<Value>,
    pub area_desc: Option<Value>,
    pub headline: Option<Value>,
    pub description: Option<Value>,
    pub instruction: Option<Value>,
    pub onset: Option<Value>,
    pub expires: Option<Value>,
}

fn string(field: &str, v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| Error::invalid(field, "must be a string"))
}

fn number(field: &str, v: &Value) -> Result<f64> {
    v.as_f64().filter(|f| f.is_finite()).ok_or_else(|| Error::invalid(field, "must be a number"))
}

fn position(field: &str, v: &Value) -> Result<LatLon> {
    match v.as_array().map(|a| a.as_slice()) {
        Some([lon, lat, ..]) => {
            LatLon::new(number(field, lat)?, number(field, lon)?).map_err(|e| Error::invalid(field, e.message))
        }
        _ => Err(Error::invalid(field, "a position is [lon, lat]")),
    }
}

/// A GeoJSON Polygon (outer ring only; holes are refused), a Feature holding one, or a Point
/// with `radius_m` (a circle).
pub fn parse_area(v: &Value) -> Result<WarningArea> {
    let v = if v.get("type").and_then(Value::as_str) == Some("Feature") { &v["geometry"] } else { v };
    match v.get("type").and_then(Value::as_str) {
        Some("Polygon") => {
            let rings = v["coordinates"]
                .as_array()
                .ok_or_else(|| Error::invalid("area", "coordinates must be an array of rings"))?;
            match rings.as_slice() {
                [outer] => {
                    let pts =
                        outer.as_array().ok_or_else(|| Error::invalid("area", "a ring is an array of positions"))?;
                    let ring = pts.iter().map(|p| position("area", p)).collect::<Result<Vec<_>>>()?;
                    WarningArea::polygon(ring)
                }
                [] => Err(Error::invalid("area", "a polygon needs a ring")),
                _ => Err(Error::invalid("area", "holes are not supported: give one ring")),
            }
        }
        Some("Point") => {
            let c = position("area", &v["coordinates"])?;
            let r = v.get("radius_m").ok_or_else(|| Error::invalid("area.radius_m", "a circle needs radius_m"))?;
            WarningArea::circle(c, number("area.radius_m", r)?)
        }
        _ => Err(Error::invalid("area", "must be a GeoJSON Polygon, or a Point with radius_m")),
    }
}

fn texts(field: &str, v: &Value, base: Option<&Texts>) -> Result<Texts> {
    let t: TextsIn =
        serde_json::from_value(v.clone()).map_err(|_| Error::invalid(field, "must be an object {\"bg\", \"en\"}"))?;
    let pick = |lang: &str, x: Option<Value>, b: Option<&String>| -> Result<String> {
        match x {
            Some(Value::Null) | None => Ok(b.cloned().unwrap_or_default()),
            Some(v) => string(&format!("{field}.{lang}"), &v),
        }
    };
    Ok(Texts { bg: pick("bg", t.bg, base.map(|b| &b.bg))?, en: pick("en", t.en, base.map(|b| &b.en))? })
}

fn time_of(field: &str, v: &Value) -> Result<OffsetDateTime> {
    let s = string(field, v)?;
    OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| Error::invalid(field, "must be an RFC 3339 time"))
}

fn present(v: &Option<Value>) -> Option<&Value> {
    v.as_ref().filter(|v| !v.is_null())
}

/// Builds the content from the body over `base` (the current content for an edit). Every
/// problem of every field is collected.
pub fn content_from(input: &WarningIn, base: Option<&WarningContent>, now: OffsetDateTime) -> Result<WarningContent> {
    let mut errs: Vec<FieldError> = Vec::new();
    let mut take = |r: Result<()>| {
        if let Err(e) = r {
            if e.details.is_empty() {
                errs.push(FieldError::new("body", e.message));
            } else {
                errs.extend(e.details);
            }
        }
    };
    fn pick<T: Clone>(
        name: &str,
        v: Option<&Value>,
        parse: impl Fn(&Value) -> Result<T>,
        base: Option<T>,
        default: Option<T>,
    ) -> Result<Option<T>> {
        match v {
            Some(v) => parse(v).map(Some),
            None => match base.or(default) {
                Some(b) => Ok(Some(b)),
                None => Err(Error::invalid(name, "is required")),
            },
        }
    }
    let mut event = None;
    take(
        pick("event", present(&input.event), |v| string("event", v), base.map(|b| b.event.clone()), None)
            .map(|v| event = v),
    );
    let mut category = None;
    take(
        pick(
            "category",
            present(&input.category),
            |v| CapCategory::parse("category", &string("category", v)?),
            base.map(|b| b.category),
            Some(CapCategory::Other),
        )
        .map(|v| category = v),
    );
    let mut urgency = None;
    take(
        pick(
            "urgency",
            present(&input.urgency),
            |v| Urgency::parse("urgency", &string("urgency", v)?),
            base.map(|b| b.urgency),
            None,
        )
        .map(|v| urgency = v),
    );
    let mut severity = None;
    take(
        pick(
            "severity",
            present(&input.severity),
            |v| CapSeverity::parse("severity", &string("severity", v)?),
            base.map(|b| b.severity),
            None,
        )
        .map(|v| severity = v),
    );
    let mut certainty = None;
    take(
        pick(
            "certainty",
            present(&input.certainty),
            |v| Certainty::parse("certainty", &string("certainty", v)?),
            base.map(|b| b.certainty),
            None,
        )
        .map(|v| certainty = v),
    );
    let mut area = None;
    take(pick("area", present(&input.area), parse_area, base.map(|b| b.area.clone()), None).map(|v| area = v));
    let mut texts_of = |name: &'static str, v: &Option<Value>, b: Option<Texts>, required: bool| -> Option<Texts> {
        let r = match present(v) {
            Some(v) => texts(name, v, b.as_ref()),
            None => match b {
                Some(b) => Ok(b),
                None if required => Err(Error::invalid(name, "is required")),
                None => Ok(Texts::default()),
            },
        };
        match r {
            Ok(t) => Some(t),
            Err(e) => {
                take(Err(e));
                None
            }
        }
    };
    let area_desc = texts_of("area_desc", &input.area_desc, base.map(|b| b.area_desc.clone()), false);
    let headline = texts_of("headline", &input.headline, base.map(|b| b.headline.clone()), true);
    let description = texts_of("description", &input.description, base.map(|b| b.description.clone()), true);
    let instruction = texts_of("instruction", &input.instruction, base.map(|b| b.instruction.clone()), false);
    let mut onset = base.and_then(|b| b.onset);
    if let Some(v) = input.onset.as_ref() {
        if v.is_null() {
            onset = None;
        } else {
            take(time_of("onset", v).map(|t| onset = Some(t)));
        }
    }
    let mut expires = None;
    take(
        pick(
            "expires",
            present(&input.expires),
            |v| time_of("expires", v),
            base.map(|b| b.expires),
            Some(now + time::Duration::hours(24)),
        )
        .map(|v| expires = v),
    );
    // Every missing or refused field left an error in `errs`. Stand-ins take their place so that
    // the content's own checks also run on what was given (an empty event, a text too long) and
    // one answer names every problem; a stand-in is never reported.
    let stand_in_text = || Texts::new("-", "-");
    let onset = if expires.is_some() { onset } else { None };
    let content = WarningContent {
        event: event.unwrap_or_else(|| "-".into()),
        category: category.unwrap_or(CapCategory::Other),
        urgency: urgency.unwrap_or(Urgency::Unknown),
        severity: severity.unwrap_or(CapSeverity::Unknown),
        certainty: certainty.unwrap_or(Certainty::Unknown),
        area: match area {
            Some(a) => a,
            None => WarningArea::circle(LatLon::new(0.0, 0.0)?, 1.0)?,
        },
        area_desc: area_desc.unwrap_or_default(),
        headline: headline.unwrap_or_else(stand_in_text),
        description: description.unwrap_or_else(stand_in_text),
        instruction: instruction.unwrap_or_default(),
        onset,
        expires: expires.unwrap_or(now + time::Duration::hours(1)),
    };
    match content.check(now) {
        Ok(c) if errs.is_empty() => Ok(c),
        Err(e) if errs.is_empty() => Err(e),
        checked => {
            for d in checked.err().map(|e| e.details).unwrap_or_default() {
                if !errs.iter().any(|x| x.field == d.field) {
                    errs.push(d);
                }
            }
            let msg = errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
            Err(Error::invalid_fields(msg, errs))
        }
    }
}

fn warning_in(body: &[u8]) -> Result<WarningIn> {
    crate::extract::refuse_nul(body)?;
    serde_json::from_slice::<WarningIn>(body).map_err(|e| {
        let msg = e.to_string();
        // serde names an unknown field in its message: `unknown field `x``.
        let field = msg.split('`').nth(1).filter(|_| msg.starts_with("unknown field")).unwrap_or("body").to_string();
        Error::invalid(field, format!("malformed body: {msg}"))
    })
}

// ---- Handlers --------------------------------------------------------------------------------

pub async fn list(State(s): State<AppState>, Authed(actor): Authed) -> ApiResult<Json<ListOut<WarningOut>>> {
    let list = s.app.warnings(&actor).await?;
    Ok(Json(ListOut { items: list.iter().map(WarningOut::from).collect() }))
}

pub async fn create(State(s): State<AppState>, Authed(actor): Authed, body: Bytes) -> ApiResult<Response> {
    let input = warning_in(&body)?;
    let now = s.app.clock().now();
    let municipality = present(&input.municipality)
        .map(|v| string("municipality", v).and_then(|m| parse_id("municipality", &m)))
        .transpose()?;
    // Permission first: a viewer learns nothing from a validation answer.
    let m = match &municipality {
        Some(m) => m.clone(),
        None => actor.default_municipality()?,
    };
    actor.check_warnings(&m)?;
    let content = content_from(&input, None, now)?;
    let w = s.app.create_warning(&actor, WarningRequest { municipality: Some(m), content, alarm: None }).await?;
    Ok((StatusCode::CREATED, Json(WarningOut::from(&w))).into_response())
}

pub async fn get_one(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<WarningOut>> {
    let w = s.app.warning(&actor, &parse_id("id", &id)?).await?;
    Ok(Json(WarningOut::from(&w)))
}

pub async fn patch(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<WarningOut>> {
    let id = parse_id("id", &id)?;
    let current = s.app.warning(&actor, &id).await?;
    actor.check_warnings(&current.municipality)?;
    let input = warning_in(&body)?;
    let base = current.revision.as_ref().map(|r| &r.content).unwrap_or(&current.content);
    let content = content_from(&input, Some(base), s.app.clock().now())?;
    let w = s.app.update_warning(&actor, &id, content).await?;
    Ok(Json(WarningOut::from(&w)))
}

pub async fn approve(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<WarningOut>> {
    let (w, _) = s.app.approve_warning(&actor, &parse_id("id", &id)?).await?;
    Ok(Json(WarningOut::from(&w)))
}

pub async fn cancel(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<WarningOut>> {
    let (w, _) = s.app.cancel_warning(&actor, &parse_id("id", &id)?).await?;
    Ok(Json(WarningOut::from(&w)))
}

pub async fn messages(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<ListOut<CapMessageOut>>> {
    let list = s.app.warning_messages(&actor, &parse_id("id", &id)?).await?;
    Ok(Json(ListOut { items: list.iter().map(CapMessageOut::from).collect() }))
}

pub async fn draft_from_alarm(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let w = s.app.draft_warning_from_alarm(&actor, &parse_id("id", &id)?).await?;
    Ok((StatusCode::CREATED, Json(WarningOut::from(&w))).into_response())
}

pub async fn external(State(s): State<AppState>, Authed(actor): Authed) -> ApiResult<Json<ListOut<ExternalOut>>> {
    let list = s.app.external_warnings(&actor)?;
    Ok(Json(ListOut { items: list.iter().map(ExternalOut::from).collect() }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicationIn {
    pub public: bool,
}

pub async fn publications(
    State(s): State<AppState>,
    Authed(actor): Authed,
) -> ApiResult<Json<ListOut<PublicationOut>>> {
    let list = s.app.publications(&actor)?;
    Ok(Json(ListOut { items: list.iter().map(PublicationOut::from).collect() }))
}

pub async fn put_publication(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<PublicationOut>> {
    let kind = PublicKind::parse("kind", &kind)?;
    let id = parse_id("id", &id)?;
    let input: PublicationIn = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid("public", format!("expected {{\"public\": true|false}}: {e}")))?;
    let p = s.app.set_public(&actor, kind, &id, input.public).await?;
    Ok(Json(PublicationOut::from(&p)))
}
