//! Wire forms and handlers of incidents, procedures, units, video shares, SOS devices and
//! incident statistics.

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::live::rfc3339;
use crate::routes::object;
use crate::wire::Fields;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use polis_base::{Error, FieldError, Result};
use polis_core::incidents::{CameraHit, IncidentRequest, IncidentView, SharedView, TransitionRequest, UnitRequest};
use polis_domain::incident::{
    Incident, IncidentSource, IncidentStatus, IncidentType, JournalEntry, Procedure, Share, StatsGroup, StatsRow, Unit,
    UnitKind, UnitStatus,
};
use polis_domain::{Camera, Id, LatLon};
use polis_store::IncidentFilter;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The header that carries a share token.
pub const SHARE_HEADER: &str = "x-polis-share";

fn opt_time(t: Option<OffsetDateTime>) -> Value {
    t.map(|t| Value::String(rfc3339(t))).unwrap_or(Value::Null)
}

fn ring_json(ring: &[LatLon]) -> Value {
    ring.iter().map(|p| json!([p.lon(), p.lat()])).collect()
}

pub fn incident_json(i: &Incident) -> Value {
    json!({
        "id": i.id.as_str(),
        "municipality": i.municipality.as_str(),
        "type": i.kind.as_str(),
        "priority": i.priority,
        "status": i.status.as_str(),
        "lat": i.location.lat(),
        "lon": i.location.lon(),
        "area": i.area.as_deref().map(ring_json),
        "address": i.address,
        "description": i.description,
        "source": i.source.as_str(),
        "external_ref": i.external_ref,
        "alarms": i.alarms.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "sos_device": i.sos_device.as_ref().map(|d| d.as_str()),
        "created_at": rfc3339(i.created_at),
        "created_by": i.created_by,
        "updated_at": rfc3339(i.updated_at),
        "times": {
            "verified_at": opt_time(i.reached(IncidentStatus::Verified)),
            "dispatched_at": opt_time(i.reached(IncidentStatus::Dispatched)),
            "on_scene_at": opt_time(i.reached(IncidentStatus::OnScene)),
            "resolved_at": opt_time(i.reached(IncidentStatus::Resolved)),
            "closed_at": opt_time(i.reached(IncidentStatus::Closed)),
        },
        "steps": i.steps.iter().map(|s| json!({
            "from": s.from.map(|f| f.as_str()), "to": s.to.as_str(), "at": rfc3339(s.at), "by": s.by, "reason": s.reason,
        })).collect::<Vec<_>>(),
        "checklist": i.checklist.as_ref().map(|c| json!({
            "procedure": c.procedure.as_str(),
            "version": c.version,
            "items": c.items.iter().map(|it| json!({
                "text": it.text, "done": it.checked_at.is_some(), "checked_at": opt_time(it.checked_at), "checked_by": it.checked_by,
            })).collect::<Vec<_>>(),
        })),
        "units": i.assignments.iter().map(|a| json!({
            "unit": a.unit.as_str(), "agency": a.agency.as_str(), "assigned_at": rfc3339(a.assigned_at),
            "assigned_by": a.assigned_by, "released_at": opt_time(a.released_at), "released_by": a.released_by,
        })).collect::<Vec<_>>(),
    })
}

/// A camera as an outside agency may see it: no stream addresses.
fn camera_brief(c: &Camera) -> Map<String, Value> {
    let v = json!({
        "id": c.id.as_str(), "name": c.name, "lat": c.position.lat(), "lon": c.position.lon(),
        "kind": c.kind.as_str(), "heading_deg": c.heading.deg(), "fov_deg": c.fov.deg(), "range_m": c.range.m(),
        "status": c.status.as_str(),
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn camera_hit_json(h: &CameraHit) -> Value {
    let mut m = camera_brief(&h.camera);
    m.insert("distance_m".into(), json!((h.distance_m * 10.0).round() / 10.0));
    m.insert("ptz".into(), json!(h.ptz));
    Value::Object(m)
}

pub fn journal_json(e: &JournalEntry) -> Value {
    json!({
        "at": rfc3339(e.at), "by": e.by, "kind": e.kind.as_str(), "text": e.text,
        "attachment": e.attachment.as_ref().map(|a| a.as_str()),
    })
}

fn share_json(s: &Share, now: OffsetDateTime) -> Value {
    json!({
        "id": s.id.as_str(), "incident": s.incident.as_str(), "agency": s.agency.as_str(),
        "cameras": s.cameras.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "created_at": rfc3339(s.created_at), "created_by": s.created_by, "expires_at": rfc3339(s.expires_at),
        "revoked_at": opt_time(s.revoked_at), "revoked_by": s.revoked_by, "active": s.is_valid(now),
    })
}

fn view_json(s: &AppState, v: &IncidentView) -> Value {
    view_json_at(v, s.app.clock().now())
}

/// An incident view as JSON; `now` decides which shares are `active`.
pub(crate) fn view_json_at(v: &IncidentView, now: OffsetDateTime) -> Value {
    let mut out = match incident_json(&v.incident) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    out.insert("cameras".into(), v.cameras.iter().map(camera_hit_json).collect());
    out.insert(
        "proposed_units".into(),
        v.units
            .iter()
            .map(|p| {
                json!({"unit": p.unit.as_str(), "name": p.name, "agency": p.agency.as_str(),
                             "distance_m": p.distance_m.map(|d| d.round())})
            })
            .collect(),
    );
    out.insert("journal".into(), v.journal.iter().map(journal_json).collect());
    out.insert("shares".into(), v.shares.iter().map(|sh| share_json(sh, now)).collect());
    out.insert(
        "sensors".into(),
        v.sensors
            .iter()
            .map(|r| {
                json!({
                    "id": r.sensor.id.as_str(), "name": r.sensor.name, "kind": r.sensor.kind.as_str(), "unit": r.sensor.unit,
                    "distance_m": r.distance_m.round(),
                    "latest": r.latest.iter().map(|o| json!({"quantity": o.quantity(), "value": o.value(), "time": rfc3339(o.time())})).collect::<Vec<_>>(),
                })
            })
            .collect(),
    );
    out.insert(
        "area_contents".into(),
        match &v.area {
            None => Value::Null,
            Some(a) => json!({
                "cameras": a.cameras.iter().map(|c| Value::Object(camera_brief(c))).collect::<Vec<_>>(),
                "sensors": a.sensors.iter().map(|x| json!({"id": x.id.as_str(), "name": x.name, "kind": x.kind.as_str()})).collect::<Vec<_>>(),
                "sites": a.sites.iter().map(|x| json!({"id": x.id.as_str(), "name_bg": x.name_bg, "name_en": x.name_en, "category": x.category.as_str()})).collect::<Vec<_>>(),
            }),
        },
    );
    if let Some(p) = &v.sos_profile {
        out.insert("sos_profile".into(), json!({"name": p.name, "details": p.details, "contact": p.contact}));
    }
    Value::Object(out)
}

fn params_time(q: &HashMap<String, String>, name: &str) -> Result<Option<OffsetDateTime>> {
    match q.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => OffsetDateTime::parse(v, &Rfc3339)
            .map(Some)
            .map_err(|_| Error::invalid(name, format!("{v:?} is not an RFC 3339 time"))),
    }
}

fn path_id(s: &str) -> Result<Id> {
    Id::parse("id", s)
}

fn area_from(v: &Value) -> std::result::Result<Vec<LatLon>, FieldError> {
    let g = if v.get("type").is_some() { v.clone() } else { json!({"type": "Polygon", "coordinates": [v]}) };
    match crate::wire::geometry_from(&g) {
        Ok(polis_domain::SiteGeometry::Polygon(r)) => Ok(r),
        Ok(_) => Err(FieldError::new("area", "must be a polygon")),
        Err(e) => Err(FieldError::new("area", e.message)),
    }
}

fn ids(f: &mut Fields, name: &str) -> Vec<Id> {
    let list = f.list(name).unwrap_or_default();
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        match Id::parse(&format!("{name}[{i}]"), s) {
            Ok(id) => out.push(id),
            Err(e) => f.errors.extend(e.details),
        }
    }
    out
}

fn position(f: &mut Fields, required: bool) -> Option<LatLon> {
    let (lat, lon) = (f.opt_f64("lat"), f.opt_f64("lon"));
    match (lat, lon) {
        (Some(lat), Some(lon)) => f.absorb(LatLon::new(lat, lon)),
        (None, None) if !required => None,
        (None, _) => {
            f.problem("lat", "is required with lon");
            None
        }
        (_, None) => {
            f.problem("lon", "is required with lat");
            None
        }
    }
}

/// The one id field `name` a body must carry.
fn required_id(body: &[u8], name: &str) -> Result<Id> {
    let m = object(body)?;
    let mut f = Fields::new(&m);
    let id = f.opt_id(name);
    if id.is_none() && f.errors.is_empty() {
        f.problem(name, "is required");
    }
    done(f, id)?.ok_or_else(|| Error::invalid(name, "is required"))
}

fn done<T>(f: Fields, v: T) -> Result<T> {
    if f.errors.is_empty() {
        Ok(v)
    } else {
        Err(Error::invalid_fields("invalid request", f.errors))
    }
}

// ---- Incidents ---------------------------------------------------------------------------------

/// `POST /api/v1/incidents`.
pub async fn create_incident(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Response> {
    let m = object(&body)?;
    let mut f = Fields::new(&m);
    let kind = f.opt_str("type").and_then(|t| f.absorb(IncidentType::parse("type", &t)));
    let priority = f.opt_int("priority").and_then(|p| f.absorb(polis_domain::incident::check_priority(p)));
    let location = position(&mut f, false);
    let area = match m.get("area").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => match area_from(v) {
            Ok(r) => Some(r),
            Err(e) => {
                f.errors.push(e);
                None
            }
        },
    };
    let source = f.opt_str("source").and_then(|t| f.absorb(IncidentSource::parse("source", &t)));
    if source == Some(IncidentSource::Sos) {
        f.problem("source", "SOS incidents come from POST /api/v1/sos/alerts");
    }
    let req = IncidentRequest {
        municipality: f.opt_id("municipality"),
        kind,
        priority,
        location,
        area,
        address: f.opt_str("address").unwrap_or_default(),
        description: f.opt_str("description").unwrap_or_default(),
        source,
        external_ref: f.opt_str("external_ref"),
        alarms: ids(&mut f, "alarms"),
    };
    if req.kind.is_none() && req.alarms.is_empty() && !f.has("type") {
        f.problem("type", "is required");
    }
    if req.location.is_none() && req.alarms.is_empty() && !f.has("lat") {
        f.problem("lat", "is required");
    }
    let req = done(f, req)?;
    let (view, created) = s.app.create_incident(&a, req).await?;
    if !created {
        // The same external reference again: the incident it opened before.
        return Ok((StatusCode::OK, Json(view_json(&s, &view))).into_response());
    }
    Ok((StatusCode::CREATED, Json(view_json(&s, &view))).into_response())
}

/// `GET /api/v1/incidents?open=true&from&to&municipality&limit`.
pub async fn list_incidents(
    State(s): State<AppState>,
    Authed(a): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let limit = match q.get("limit").filter(|v| !v.is_empty()) {
        None => 500,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| Error::invalid("limit", "must be a whole number from 1 to 10000"))?,
    };
    let open_only = match q.get("open").map(String::as_str) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::invalid("open", "must be true or false").into()),
    };
    let municipality =
        q.get("municipality").filter(|v| !v.is_empty()).map(|m| Id::parse("municipality", m)).transpose()?;
    let filter = IncidentFilter {
        municipality,
        open_only,
        from: params_time(&q, "from")?,
        to: params_time(&q, "to")?,
        ids: None,
        limit,
    };
    let list = s.app.incidents(&a, filter).await?;
    Ok(Json(Value::Array(list.iter().map(incident_json).collect())))
}

pub async fn get_incident(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let view = s.app.incident(&a, &path_id(&id)?).await?;
    Ok(Json(view_json(&s, &view)))
}

/// `POST /api/v1/incidents/{id}/transitions` with `{"to", "reason"}`.
pub async fn transition(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let m = object(&body)?;
    let mut f = Fields::new(&m);
    let to = f.str("to").and_then(|t| f.absorb(IncidentStatus::parse("to", &t)));
    let reason = f.opt_str("reason");
    let to = done(f, to)?.ok_or_else(|| Error::invalid("to", "is required"))?;
    let i = s.app.transition_incident(&a, &path_id(&id)?, TransitionRequest { to, reason }).await?;
    Ok(Json(incident_json(&i)))
}

/// `POST /api/v1/incidents/{id}/checklist/{item}` with `{"done": true|false}`.
pub async fn check_item(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path((id, item)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let item: usize = item.parse().map_err(|_| Error::invalid("item", "must be an item number"))?;
    let m = object(&body)?;
    let mut f = Fields::new(&m);
    let checked = f.opt_bool("done").unwrap_or(true);
    done(f, ())?;
    let i = s.app.check_procedure_item(&a, &path_id(&id)?, item, checked).await?;
    Ok(Json(incident_json(&i)))
}

/// `POST /api/v1/incidents/{id}/notes` with `{"text"}`.
pub async fn add_note(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let m = object(&body)?;
    let mut f = Fields::new(&m);
    let text = f.str("text");
    let text = done(f, text)?.unwrap_or_default();
    let e = s.app.add_note(&a, &path_id(&id)?, &text).await?;
    Ok((StatusCode::CREATED, Json(journal_json(&e))).into_response())
}

pub async fn journal(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let j = s.app.journal(&a, &path_id(&id)?).await?;
    Ok(Json(Value::Array(j.iter().map(journal_json).collect())))
}

/// `POST /api/v1/incidents/{id}/attachments?name=FILE` with the file as the body and its
/// `Content-Type`.
pub async fn attach(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let name = q.get("name").cloned().unwrap_or_default();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let meta = s.app.attach(&a, &path_id(&id)?, &name, &ct, &body).await?;
    Ok((StatusCode::CREATED, Json(attachment_json(&meta))).into_response())
}

fn attachment_json(meta: &polis_store::AttachmentMeta) -> Value {
    json!({"id": meta.id.as_str(), "incident": meta.incident.as_str(), "name": meta.name,
           "content_type": meta.content_type, "size": meta.size, "sha256": meta.sha256,
           "created_at": rfc3339(meta.created_at), "by": meta.by})
}

/// `POST /api/v1/incidents/{id}/snapshots` with `{"camera"}`: a snapshot of the camera, attached
/// to the incident's journal.
pub async fn attach_snapshot(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    crate::extract::JsonBody(body): crate::extract::JsonBody<Value>,
) -> ApiResult<Response> {
    let camera = body.get("camera").and_then(Value::as_str).ok_or_else(|| Error::invalid("camera", "is required"))?;
    let camera = Id::parse("camera", camera)?;
    let meta = s.app.attach_snapshot(&a, &path_id(&id)?, &camera).await?;
    Ok((StatusCode::CREATED, Json(attachment_json(&meta))).into_response())
}

pub async fn get_attachment(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (meta, data) = s.app.attachment(&a, &path_id(&id)?).await?;
    // Any name downloads (control characters and all), and the type is only ever a valid header.
    let disposition = crate::guard::attachment_disposition(&meta.name);
    let ct = crate::guard::content_type(&meta.content_type);
    Ok(([(header::CONTENT_TYPE, ct), (header::CONTENT_DISPOSITION, disposition)], data).into_response())
}

/// `POST /api/v1/incidents/{id}/alarms` with `{"alarm"}`.
pub async fn link_alarm(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let alarm = required_id(&body, "alarm")?;
    let i = s.app.link_alarm(&a, &path_id(&id)?, &alarm).await?;
    Ok(Json(incident_json(&i)))
}

/// `GET /api/v1/alarms/{id}/incidents`: open incidents the alarm may belong to.
pub async fn related(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let found = s.app.related_incidents(&a, &path_id(&id)?).await?;
    Ok(Json(Value::Array(
        found
            .iter()
            .map(|(i, d)| {
                let mut v = incident_json(i);
                v["distance_m"] = json!(d.round());
                v
            })
            .collect(),
    )))
}

/// `POST /api/v1/incidents/{id}/units` with `{"unit"}`.
pub async fn assign(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let unit = required_id(&body, "unit")?;
    let i = s.app.assign_unit(&a, &path_id(&id)?, &unit).await?;
    Ok(Json(incident_json(&i)))
}

pub async fn release(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path((id, unit)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let i = s.app.release_unit(&a, &path_id(&id)?, &Id::parse("unit", &unit)?).await?;
    Ok(Json(incident_json(&i)))
}

// ---- Shares --------------------------------------------------------------------------------------

/// `POST /api/v1/incidents/{id}/shares` with `{"agency", "cameras", "expires_in_s"}`: the share
/// with its `token` (shown once).
pub async fn create_share(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let m = object(&body)?;
    let mut f = Fields::new(&m);
    let agency = f.opt_id("agency");
    if agency.is_none() && !f.has("agency") {
        f.problem("agency", "is required");
    }
    let cameras = ids(&mut f, "cameras");
    if cameras.is_empty() && f.errors.is_empty() {
        f.problem("cameras", "name at least one camera");
    }
    let life = f.opt_int("expires_in_s");
    let agency = done(f, agency)?.ok_or_else(|| Error::invalid("agency", "is required"))?;
    let (share, token) = s.app.create_share(&a, &path_id(&id)?, &agency, &cameras, life).await?;
    let mut v = share_json(&share, s.app.clock().now());
    v["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn revoke_share(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let share = s.app.revoke_share(&a, &path_id(&id)?).await?;
    Ok(Json(share_json(&share, s.app.clock().now())))
}

pub async fn share_uses(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let uses = s.app.share_uses(&a, &path_id(&id)?).await?;
    Ok(Json(Value::Array(
        uses.iter()
            .map(|u| {
                // A refused use is stored as "<what> refused: <reason>".
                let (what, refused) = match u.what.split_once(" refused: ") {
                    Some((w, r)) => (w, Some(r)),
                    None => (u.what.as_str(), None),
                };
                json!({"at": rfc3339(u.at), "what": what, "refused": refused, "camera": u.camera.as_ref().map(|c| c.as_str())})
            })
            .collect(),
    )))
}

pub(crate) fn share_token(headers: &HeaderMap) -> Result<String> {
    headers
        .get(SHARE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .map(str::to_string)
        .ok_or_else(|| Error::unauthenticated(format!("send the share token in the {SHARE_HEADER} header")))
}

fn shared_json(v: &SharedView) -> Value {
    let i = &v.incident;
    json!({
        "share": {"id": v.share.id.as_str(), "agency": v.share.agency.as_str(), "expires_at": rfc3339(v.share.expires_at)},
        "incident": {"id": i.id.as_str(), "type": i.kind.as_str(), "priority": i.priority, "status": i.status.as_str(),
                     "lat": i.location.lat(), "lon": i.location.lon(), "address": i.address, "description": i.description,
                     "created_at": rfc3339(i.created_at)},
        "cameras": v.cameras.iter().map(|c| Value::Object(camera_brief(c))).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/share` with the token in `X-Polis-Share`: what the share opens. 403 when the
/// share is unknown, expired or revoked.
pub async fn open_share(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let token = share_token(&headers)?;
    let v = s.app.use_share(&token, None, "open").await?;
    Ok(Json(shared_json(&v)))
}

/// `GET /api/v1/share/cameras/{id}`: one shared camera (403 outside the share).
pub async fn shared_camera(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let token = share_token(&headers)?;
    let camera = path_id(&id)?;
    let v = s.app.use_share(&token, Some(&camera), "camera").await?;
    let c = v.cameras.iter().find(|c| c.id == camera).ok_or_else(|| Error::not_found(format!("no camera {camera}")))?;
    Ok(Json(Value::Object(camera_brief(c))))
}

// ---- Units ---------------------------------------------------------------------------------------

pub fn unit_json(u: &Unit) -> Value {
    json!({
        "id": u.id.as_str(), "municipality": u.municipality.as_str(), "agency": u.agency.as_str(), "name": u.name,
        "kind": u.kind.as_str(), "status": u.status.as_str(),
        "lat": u.position.map(|p| p.lat()), "lon": u.position.map(|p| p.lon()),
        "position_at": opt_time(u.position_at), "incident": u.incident.as_ref().map(|i| i.as_str()),
    })
}

pub async fn list_units(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(s.app.units(&a)?.iter().map(unit_json).collect())))
}

fn unit_request(m: &Map<String, Value>, id: Option<Id>, before: Option<&Unit>) -> Result<UnitRequest> {
    let mut f = Fields::new(m);
    let agency = f.opt_id("agency").or(before.map(|b| b.agency.clone()));
    if agency.is_none() && f.errors.is_empty() {
        f.problem("agency", "is required");
    }
    let name = f.opt_str("name").or(before.map(|b| b.name.clone()));
    if name.is_none() {
        f.problem("name", "is required");
    }
    let kind = match f.opt_str("kind") {
        Some(k) => f.absorb(UnitKind::parse("kind", &k)),
        None => Some(before.map_or(UnitKind::Other, |b| b.kind)),
    };
    let status = f.opt_str("status").and_then(|k| f.absorb(UnitStatus::parse("status", &k)));
    let position = position(&mut f, false);
    let id = id.or_else(|| f.opt_id("id"));
    let r = UnitRequest {
        id,
        agency: agency.unwrap_or_else(|| Id::from_trusted("?")),
        name: name.unwrap_or_default(),
        kind: kind.unwrap_or(UnitKind::Other),
        status,
        position,
    };
    done(f, r)
}

pub async fn create_unit(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Response> {
    let m = object(&body)?;
    let req = unit_request(&m, None, None)?;
    if let Some(id) = &req.id {
        if s.app.units(&polis_domain::Actor::system())?.iter().any(|u| &u.id == id) {
            return Err(Error::already_exists(format!("a unit with id {id} exists; PATCH it")).into());
        }
    }
    let u = s.app.put_unit(&a, req).await?;
    Ok((StatusCode::CREATED, Json(unit_json(&u))).into_response())
}

pub async fn patch_unit(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let id = path_id(&id)?;
    let before = s
        .app
        .units(&a)?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| Error::not_found(format!("no unit with id {id}")))?;
    let m = object(&body)?;
    let req = unit_request(&m, Some(id), Some(&before))?;
    Ok(Json(unit_json(&s.app.put_unit(&a, req).await?)))
}

/// `POST /api/v1/units/{id}/report` with `{"lat", "lon", "status"}`: a unit's position and
/// status, from its crew or the control room.
pub async fn report_unit(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let m = object(&body)?;
    let mut f = Fields::new(&m);
    let p = position(&mut f, false);
    let status = f.opt_str("status").and_then(|k| f.absorb(UnitStatus::parse("status", &k)));
    done(f, ())?;
    Ok(Json(unit_json(&s.app.report_unit(&a, &path_id(&id)?, p, status).await?)))
}

// ---- Procedures ------------------------------------------------------------------------------------

pub fn procedure_json(p: &Procedure) -> Value {
    json!({
        "id": p.id.as_str(), "municipality": p.municipality.as_str(), "type": p.kind.as_str(), "version": p.version,
        "title": p.title, "items": p.items, "updated_at": rfc3339(p.updated_at), "updated_by": p.updated_by,
    })
}

pub async fn list_procedures(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(s.app.procedures(&a)?.iter().map(procedure_json).collect())))
}

/// `PUT /api/v1/procedures/{type}` with `{"title", "items": [..], "municipality"}`: a new
/// version of the type's procedure.
pub async fn put_procedure(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(kind): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let kind = IncidentType::parse("type", &kind)?;
    let m = object(&body)?;
    let mut f = Fields::strict(&m, &[]);
    let title = f.str("title");
    let items = f.list("items");
    if items.is_none() && f.errors.is_empty() {
        f.problem("items", "is required");
    }
    let municipality = f.opt_id("municipality");
    let (title, items) = done(f, (title.unwrap_or_default(), items.unwrap_or_default()))?;
    let p = s.app.put_procedure(&a, municipality, kind, &title, &items).await?;
    Ok(Json(procedure_json(&p)))
}

pub async fn procedure_versions(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = s.app.procedure_versions(&a, &path_id(&id)?).await?;
    Ok(Json(Value::Array(v.iter().map(procedure_json).collect())))
}

// ---- SOS ---------------------------------------------------------------------------------------------

/// `POST /api/v1/sos/alerts` with `{"device", "lat", "lon"}`: an SOS; answers with the incident.
pub async fn sos_alert(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Response> {
    let m = object(&body)?;
    let mut f = Fields::new(&m);
    let device = f.opt_id("device");
    if device.is_none() && f.errors.is_empty() {
        f.problem("device", "is required");
    }
    let p = position(&mut f, true);
    let (device, p) = done(f, (device, p))?;
    let (Some(device), Some(p)) = (device, p) else {
        return Err(Error::invalid("device", "is required").into());
    };
    let view = s.app.sos_alert(&a, &device, p).await?;
    Ok((StatusCode::CREATED, Json(view_json(&s, &view))).into_response())
}

// ---- Statistics ------------------------------------------------------------------------------------

fn durations_json(d: &polis_domain::incident::Durations) -> Value {
    json!({"count": d.count, "mean_s": d.mean_s.map(f64::round), "median_s": d.median_s.map(f64::round), "p90_s": d.p90_s.map(f64::round)})
}

fn stats_json(r: &StatsRow) -> Value {
    json!({
        "period": r.period.map(|d| d.to_string()),
        "group": r.group, "incidents": r.incidents, "open": r.open, "cancelled": r.cancelled,
        "to_verify": durations_json(&r.to_verify), "to_dispatch": durations_json(&r.to_dispatch),
        "to_arrive": durations_json(&r.to_arrive), "to_resolve": durations_json(&r.to_resolve),
    })
}

/// `GET /api/v1/stats/incidents?from&to&group=type|agency|municipality`: response times from
/// creation to verified, dispatched, on scene and resolved (default: the last 30 days by type).
pub async fn stats(
    State(s): State<AppState>,
    Authed(a): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let now = s.app.clock().now();
    let to = params_time(&q, "to")?.unwrap_or(now + time::Duration::minutes(1));
    let from = params_time(&q, "from")?.unwrap_or(to - time::Duration::days(30));
    let group = match q.get("group").filter(|g| !g.is_empty()) {
        None => StatsGroup::Type,
        Some(g) => StatsGroup::parse("group", g)?,
    };
    let period = match q.get("period").filter(|g| !g.is_empty()) {
        None => None,
        Some(p) => Some(polis_domain::incident::StatsPeriod::parse("period", p)?),
    };
    let municipality = match q.get("municipality").filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => Some(Id::parse("municipality", m)?),
    };
    let query = polis_core::incidents::StatsQuery { from, to, group, period, municipality: municipality.clone() };
    let rows = s.app.incident_stats(&a, query).await?;
    Ok(Json(json!({"from": rfc3339(from), "to": rfc3339(to), "group": group.as_str(),
                   "period": period.map(|p| p.as_str()), "municipality": municipality.as_ref().map(|m| m.as_str()),
                   "rows": rows.iter().map(stats_json).collect::<Vec<_>>()})))
}
