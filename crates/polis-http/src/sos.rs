//! SOS device routes: registering a device with its wearer's profile, safe zones and check-in
//! interval, removing it, and the device's position reports, which raise and clear alarms
//! through the rules engine (see `docs/design/0009-sos-safe-zones.md`). Wire types are
//! serde-derived here; the document is generated from them (`doc::SosArea`). The SOS alert
//! itself (`POST /sos/alerts`) stays in `incidents.rs`.

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use polis_base::{Error, FieldError, Result};
use polis_core::incidents::SosWatch;
use polis_domain::incident::{SafeZone, SosDevice, SosProfile};
use polis_domain::{Id, LatLon};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The wearer's profile: only for operators, supervisors and administrators of the
/// municipality; never in the audit log, logs or live events.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SosProfile)]
pub struct ProfileWire {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub details: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub contact: String,
}

/// A safe zone: leaving it raises an alarm named after it.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SafeZone)]
pub struct SafeZoneWire {
    /// A name without personal data ("home", "garden"); empty: "safe zone N"
    #[serde(default)]
    #[schema(max_length = 100)]
    pub name: String,
    /// The polygon's corners as [lon, lat] pairs (3 to 1,000; closed or not)
    #[schema(value_type = Vec<Vec<f64>>, min_items = 3, max_items = 1001)]
    pub zone: Vec<[f64; 2]>,
}

/// An SOS device as read (by operators, supervisors and administrators).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SosDevice)]
pub struct SosDeviceOut {
    pub id: String,
    pub municipality: String,
    /// A label without personal data: what alarms and other roles see
    pub label: String,
    pub profile: ProfileWire,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// When the last position was reported
    pub position_at: Option<String>,
    pub safe_zones: Vec<SafeZoneWire>,
    /// The longest time between position reports before an alarm (null: none)
    pub checkin_minutes: Option<u32>,
    /// The registry sensor whose alarms are the device's (null when it has neither safe zones
    /// nor a check-in)
    pub sensor: Option<String>,
}

/// `POST /sos/devices`: registers a device, or replaces one of the same id.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SosDeviceIn)]
pub struct SosDeviceIn {
    /// Absent: a new id is made
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub id: Option<String>,
    /// Absent: the caller's municipality
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub municipality: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub label: String,
    pub profile: ProfileWire,
    /// At most 20; absent: none
    #[serde(default)]
    pub safe_zones: Vec<SafeZoneWire>,
    /// 1 to 10,080 minutes; absent or null: no check-in
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10080)]
    pub checkin_minutes: Option<u32>,
}

/// `POST /sos/devices/{id}/positions`: where the device is.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SosPositionIn)]
pub struct PositionIn {
    #[schema(minimum = -90.0, maximum = 90.0)]
    pub lat: f64,
    #[schema(minimum = -180.0, maximum = 180.0)]
    pub lon: f64,
    /// When the device was there (RFC 3339; absent: now)
    #[serde(default)]
    pub time: Option<String>,
}

/// What a position report did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SosPositionReport)]
pub struct PositionOut {
    pub device: String,
    pub lat: f64,
    pub lon: f64,
    pub time: String,
    /// Alarms raised, repeated or cleared by this report
    pub alarms_changed: usize,
}

fn time_text(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn out(d: &SosDevice) -> SosDeviceOut {
    SosDeviceOut {
        id: d.id.to_string(),
        municipality: d.municipality.to_string(),
        label: d.label.clone(),
        profile: ProfileWire {
            name: d.profile.name.clone(),
            details: d.profile.details.clone(),
            contact: d.profile.contact.clone(),
        },
        lat: d.position.map(|p| p.lat()),
        lon: d.position.map(|p| p.lon()),
        position_at: d.position_at.map(time_text),
        safe_zones: d
            .safe_zones
            .iter()
            .map(|z| SafeZoneWire { name: z.name.clone(), zone: z.zone.iter().map(|p| [p.lon(), p.lat()]).collect() })
            .collect(),
        checkin_minutes: d.checkin_minutes,
        sensor: d.watched().then(|| d.tracker_sensor().to_string()),
    }
}

fn id_of(field: &str, v: Option<String>) -> Result<Option<Id>> {
    v.map(|s| Id::parse(field, &s)).transpose()
}

fn zones(wire: Vec<SafeZoneWire>) -> Result<Vec<SafeZone>> {
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(wire.len());
    for (i, z) in wire.into_iter().enumerate() {
        let mut ring = Vec::with_capacity(z.zone.len());
        for (j, [lon, lat]) in z.zone.into_iter().enumerate() {
            match LatLon::new(lat, lon) {
                Ok(p) => ring.push(p),
                Err(e) => problems.push(FieldError::new(format!("safe_zones[{i}].zone[{j}]"), e.message)),
            }
        }
        out.push(SafeZone { name: z.name, zone: ring });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::invalid_fields("invalid safe zones", problems))
    }
}

/// `GET /sos/devices`.
#[utoipa::path(tag = "sos", get, path = "/sos/devices",
    summary = "SOS devices with their wearers' profiles (operators, supervisors, administrators)",
    description = "The devices of the caller's municipality with their safe zones and check-in interval.",
    responses(
        (status = 200, description = "Devices", body = Vec<SosDeviceOut>),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn list_sos(State(s): State<AppState>, Authed(a): Authed) -> ApiResult<Json<Vec<SosDeviceOut>>> {
    Ok(Json(s.app.sos_devices(&a)?.iter().map(out).collect()))
}

/// `POST /sos/devices`.
#[utoipa::path(tag = "sos", post, path = "/sos/devices",
    summary = "Register or edit an SOS device (supervisors)",
    description = "Supervisors and administrators. With safe zones or a check-in interval, the device is \
        backed by a registry sensor (`<id>.tracker`, named by the label) with a geofence `leave` rule per \
        safe zone (`<id>.zone-N`) and a silence rule for the check-in (`<id>.checkin`), made, changed and \
        removed with it: its alarms are in the alarm queue like a sensor's, labelled by the device's label. \
        Audited as sos_device.create or sos_device.update without the profile.",
    request_body = SosDeviceIn,
    responses(
        (status = 201, description = "Device", body = SosDeviceOut),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 409, response = crate::doc::ErrorResponse),
        (status = 413, response = crate::doc::TooLargeResponse),
    ))]
pub(crate) async fn put_sos(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Response> {
    let i: SosDeviceIn = crate::extract::parse_json(&body)?;
    let id = id_of("id", i.id)?;
    let municipality = id_of("municipality", i.municipality)?;
    let profile = SosProfile { name: i.profile.name, details: i.profile.details, contact: i.profile.contact };
    let watch = SosWatch { safe_zones: zones(i.safe_zones)?, checkin_minutes: i.checkin_minutes };
    let d = s.app.put_sos_device(&a, id, municipality, &i.label, profile, watch).await?;
    Ok((StatusCode::CREATED, Json(out(&d))).into_response())
}

/// `DELETE /sos/devices/{id}`.
#[utoipa::path(tag = "sos", delete, path = "/sos/devices/{id}", summary = "Remove an SOS device (supervisors)",
    description = "Supervisors and administrators. The profile, the device's sensor and rules go with it; \
        its alarms stay. Audited as sos_device.delete.",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn delete_sos(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = Id::parse("id", &id)?;
    s.app.delete_sos_device(&a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /sos/devices/{id}/positions`.
#[utoipa::path(tag = "sos", post, path = "/sos/devices/{id}/positions",
    summary = "A position report of an SOS device (the device or its gateway)",
    description = "Operators, supervisors and administrators of the device's municipality. The position is \
        kept; for a device with safe zones or a check-in it is also a reading of the device's sensor, which \
        the rules judge: outside a safe zone (after a position inside it) raises an alarm, back inside clears \
        it; a report after a missed check-in clears that alarm. The track is not sent on the live event \
        stream.",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    request_body = PositionIn,
    responses(
        (status = 200, description = "What the report did", body = PositionOut),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
        (status = 413, response = crate::doc::TooLargeResponse),
    ))]
pub(crate) async fn post_position(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<PositionOut>> {
    let id = Id::parse("id", &id)?;
    let i: PositionIn = crate::extract::parse_json(&body)?;
    let p = LatLon::new(i.lat, i.lon)?;
    let at = match i.time.as_deref() {
        None => s.app.clock().now(),
        Some(t) => {
            OffsetDateTime::parse(t, &Rfc3339).map_err(|_| Error::invalid("time", "must be an RFC 3339 time"))?
        }
    };
    let r = s.app.sos_position(&a, &id, p, Some(at)).await?;
    Ok(Json(PositionOut {
        device: id.to_string(),
        lat: p.lat(),
        lon: p.lon(),
        time: time_text(at),
        alarms_changed: r.alarms_changed,
    }))
}
