//! ONVIF and PTZ routes: a camera's ONVIF link (its password written, never read back),
//! discovery and probing of cameras on the network, and PTZ control (move, stop, go to a
//! position or preset, save a preset, "look here" at a point or an incident) with one operator
//! in control of a camera at a time. Wire types are serde-derived here; the document is
//! generated from them (`doc::PtzArea`).

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use polis_base::{Error, Result};
use polis_core::ptz::{DeviceReport, Discovered, LinkInput, OnvifLinkView, PtzCommand, PtzState};
use polis_domain::{Id, LatLon};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// A camera's ONVIF link as read: the password only as `has_password`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OnvifLink)]
pub struct OnvifLinkOut {
    pub camera: String,
    /// The camera's ONVIF device service, e.g. http://10.0.0.5/onvif/device_service
    pub url: String,
    pub username: String,
    /// Whether a password is stored (it is never returned)
    pub has_password: bool,
    /// The media profile used for PTZ (null: the camera's first PTZ profile)
    pub profile: Option<String>,
    /// The pan value (-1..1) at which the camera faces north
    pub pan_north: f64,
    /// Degrees clockwise per unit of pan (180: -1..1 is a full turn)
    pub pan_degrees: f64,
    /// Degrees up per unit of tilt (90: -1 is straight down)
    pub tilt_degrees: f64,
}

impl From<OnvifLinkView> for OnvifLinkOut {
    fn from(v: OnvifLinkView) -> Self {
        OnvifLinkOut {
            camera: v.camera.to_string(),
            url: v.url,
            username: v.username,
            has_password: v.has_password,
            profile: v.profile,
            pan_north: v.pan_north,
            pan_degrees: v.pan_degrees,
            tilt_degrees: v.tilt_degrees,
        }
    }
}

/// `PUT /cameras/{id}/onvif`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnvifLinkIn {
    /// The camera's ONVIF device service address (http or https, without credentials)
    #[schema(max_length = 500)]
    pub url: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub username: String,
    /// Never returned, logged or audited; absent: keep the stored one
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, max_length = 200)]
    pub password: Option<String>,
    /// The media profile token used for PTZ (absent or null: the first PTZ profile)
    #[serde(default)]
    pub profile: Option<String>,
    /// The pan value (-1..1) at which the camera faces north (absent: unchanged, 0 at first)
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, minimum = -1.0, maximum = 1.0)]
    pub pan_north: Option<f64>,
    /// Degrees per unit of pan, 1 to 360 (absent: unchanged, 180 at first)
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, minimum = 1.0, maximum = 360.0)]
    pub pan_degrees: Option<f64>,
    /// Degrees per unit of tilt, 1 to 180 (absent: unchanged, 90 at first)
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, minimum = 1.0, maximum = 180.0)]
    pub tilt_degrees: Option<f64>,
}

/// `POST /onvif/probe`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeIn {
    /// The camera's ONVIF device service address
    #[schema(max_length = 500)]
    pub url: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub username: String,
    /// Used for this request only: never stored, returned or logged
    #[serde(default)]
    #[schema(max_length = 200)]
    pub password: String,
}

/// A media profile of a probed camera.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OnvifProfile)]
pub struct ProfileOut {
    pub token: String,
    pub name: String,
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    /// Whether the profile can turn the camera
    pub ptz: bool,
    /// The profile's RTSP address, without any credentials the camera put in it
    pub stream_url: Option<String>,
}

/// What a camera says about itself.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OnvifDevice)]
pub struct DeviceOut {
    pub manufacturer: String,
    pub model: String,
    pub firmware: String,
    pub serial: String,
    /// Whether it has an ONVIF PTZ service
    pub ptz: bool,
    pub profiles: Vec<ProfileOut>,
}

impl From<DeviceReport> for DeviceOut {
    fn from(d: DeviceReport) -> Self {
        DeviceOut {
            manufacturer: d.manufacturer,
            model: d.model,
            firmware: d.firmware,
            serial: d.serial,
            ptz: d.ptz,
            profiles: d
                .profiles
                .into_iter()
                .map(|p| ProfileOut {
                    token: p.token,
                    name: p.name,
                    encoding: p.encoding,
                    width: p.width,
                    height: p.height,
                    fps: p.fps,
                    ptz: p.ptz,
                    stream_url: p.stream_url,
                })
                .collect(),
        }
    }
}

/// `POST /onvif/discover`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverIn {
    /// Addresses (host or host:port; port 3702 when not given) to probe directly besides the
    /// local network's multicast group, at most 256
    #[serde(default)]
    pub addresses: Vec<String>,
    /// How long to collect answers, 1 to 5 seconds (2 when absent; cameras answer within 0.5 s)
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, minimum = 1, maximum = 5)]
    pub seconds: Option<u64>,
}

/// A camera that answered discovery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OnvifDiscovered)]
pub struct DiscoveredOut {
    /// Its stable endpoint reference (urn:uuid:...)
    pub endpoint: String,
    /// Its ONVIF device service address
    pub device_url: String,
    pub addresses: Vec<String>,
    pub name: Option<String>,
    pub hardware: Option<String>,
    pub location: Option<String>,
    /// The camera of the registry already linked to this address, if any
    pub camera: Option<String>,
}

impl From<Discovered> for DiscoveredOut {
    fn from(d: Discovered) -> Self {
        DiscoveredOut {
            endpoint: d.endpoint,
            device_url: d.device_url,
            addresses: d.addresses,
            name: d.name,
            hardware: d.hardware,
            location: d.location,
            camera: d.camera.map(|c| c.to_string()),
        }
    }
}

/// Who controls a PTZ camera.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PtzHolder)]
pub struct HolderOut {
    pub username: String,
    /// The incident they act for (it gives priority), or null
    pub incident: Option<String>,
    /// Control passes to whoever commands next after this time
    #[schema(format = DateTime)]
    pub until: String,
}

/// Where a "look here" pointed the camera.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PtzAim)]
pub struct AimOut {
    pub pan: f64,
    pub tilt: f64,
    /// Compass bearing from the camera to the place, degrees clockwise from north
    pub bearing_deg: f64,
    /// Distance on the ground, metres
    pub distance_m: f64,
    /// Whether the place is beyond what the camera can pan to
    pub clamped: bool,
}

/// A PTZ camera's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PtzState)]
pub struct PtzStateOut {
    pub camera: String,
    /// Pan and tilt in -1..1, zoom in 0..1 (null when the camera did not say)
    pub pan: Option<f64>,
    pub tilt: Option<f64>,
    pub zoom: Option<f64>,
    /// The compass bearing the camera faces, from its calibration
    pub bearing_deg: Option<f64>,
    pub holder: Option<HolderOut>,
    /// The token of the preset just saved (set_preset)
    pub preset: Option<String>,
    /// Where a look pointed the camera
    pub aim: Option<AimOut>,
}

impl From<PtzState> for PtzStateOut {
    fn from(s: PtzState) -> Self {
        PtzStateOut {
            camera: s.camera.to_string(),
            pan: s.pan,
            tilt: s.tilt,
            zoom: s.zoom,
            bearing_deg: s.bearing_deg,
            holder: s.holder.map(|h| HolderOut {
                username: h.username,
                incident: h.incident.map(|i| i.to_string()),
                until: h.until.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            }),
            preset: s.preset,
            aim: s.aim.map(|a| AimOut {
                pan: a.pan,
                tilt: a.tilt,
                bearing_deg: a.bearing_deg,
                distance_m: a.distance_m,
                clamped: a.clamped,
            }),
        }
    }
}

/// A preset a camera keeps.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PtzPreset)]
pub struct PresetOut {
    pub token: String,
    pub name: String,
    pub pan: Option<f64>,
    pub tilt: Option<f64>,
    pub zoom: Option<f64>,
}

/// `POST /cameras/{id}/ptz`: one command.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PtzCommandIn {
    /// move (speeds pan, tilt, zoom for `seconds`), stop, goto (position pan, tilt, zoom), look
    /// (at lat/lon, or at the incident), goto_preset (token), set_preset (name), take (control
    /// without moving)
    #[schema(pattern = "^(move|stop|goto|look|goto_preset|set_preset|take)$")]
    pub command: String,
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, minimum = -1.0, maximum = 1.0)]
    pub pan: Option<f64>,
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, minimum = -1.0, maximum = 1.0)]
    pub tilt: Option<f64>,
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, minimum = -1.0, maximum = 1.0)]
    pub zoom: Option<f64>,
    /// How long a move lasts unless stopped, 1 to 30 (5 when absent)
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, minimum = 1, maximum = 30)]
    pub seconds: Option<u64>,
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, minimum = -90.0, maximum = 90.0)]
    pub lat: Option<f64>,
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false, minimum = -180.0, maximum = 180.0)]
    pub lon: Option<f64>,
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false)]
    pub token: Option<String>,
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// The incident this is for: it gives priority over an operator without one, and is where
    /// a look aims without lat/lon
    #[serde(default, deserialize_with = "crate::admin::explicit")]
    #[schema(nullable = false)]
    pub incident: Option<String>,
}

fn need<T>(v: Option<T>, field: &str, command: &str) -> Result<T> {
    v.ok_or_else(|| Error::invalid(field, format!("required for {command}")))
}

impl PtzCommandIn {
    fn into_command(self) -> Result<(PtzCommand, Option<Id>)> {
        let incident = self.incident.as_deref().map(|i| crate::routes::parse_id("incident", i)).transpose()?;
        let c = self.command.as_str();
        let command = match c {
            "move" => PtzCommand::Move {
                pan: self.pan.unwrap_or(0.0),
                tilt: self.tilt.unwrap_or(0.0),
                zoom: self.zoom.unwrap_or(0.0),
                seconds: self.seconds.unwrap_or(5),
            },
            "stop" => PtzCommand::Stop,
            "goto" => {
                PtzCommand::Goto { pan: need(self.pan, "pan", c)?, tilt: need(self.tilt, "tilt", c)?, zoom: self.zoom }
            }
            "look" => {
                let target = match (self.lat, self.lon) {
                    (Some(lat), Some(lon)) => Some(LatLon::new(lat, lon)?),
                    (None, None) => None,
                    (None, Some(_)) => return Err(Error::invalid("lat", "required with lon")),
                    (Some(_), None) => return Err(Error::invalid("lon", "required with lat")),
                };
                if target.is_none() && incident.is_none() {
                    return Err(Error::invalid("lat", "give the point to look at (lat and lon) or the incident"));
                }
                PtzCommand::Look { target }
            }
            "goto_preset" => PtzCommand::GotoPreset { token: need(self.token, "token", c)? },
            "set_preset" => PtzCommand::SetPreset { name: need(self.name, "name", c)? },
            "take" => PtzCommand::Take,
            _ => {
                return Err(Error::invalid(
                    "command",
                    "must be one of move, stop, goto, look, goto_preset, set_preset, take",
                ))
            }
        };
        Ok((command, incident))
    }
}

/// `GET /cameras/{id}/onvif`.
#[utoipa::path(tag = "ptz", get, path = "/cameras/{id}/onvif", summary = "A camera's ONVIF link",
    description = "How Polis reaches the camera over ONVIF, without its password. 404 when it has none.",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses(
        (status = 200, description = "The link", body = OnvifLinkOut),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn get_link(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<OnvifLinkOut>> {
    let id = crate::routes::parse_id("id", &id)?;
    let link = s.app.onvif_link(&a, &id).await?;
    let link = link.ok_or_else(|| Error::not_found(format!("camera {id} has no ONVIF link")))?;
    Ok(Json(link.into()))
}

/// `PUT /cameras/{id}/onvif`.
#[utoipa::path(tag = "ptz", put, path = "/cameras/{id}/onvif", summary = "Set a camera's ONVIF link",
    description = "Administrators and supervisors of the camera's municipality. The password is kept \
        when not given, and never returned, logged or audited. Audited as camera.onvif_link.",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    request_body = OnvifLinkIn,
    responses(
        (status = 200, description = "The link as stored", body = OnvifLinkOut),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
        (status = 413, response = crate::doc::TooLargeResponse),
    ))]
pub(crate) async fn put_link(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<OnvifLinkOut>> {
    let id = crate::routes::parse_id("id", &id)?;
    let i: OnvifLinkIn = crate::admin::parse_object(&body)?;
    let input = LinkInput {
        url: i.url,
        username: i.username,
        password: i.password,
        profile: i.profile,
        pan_north: i.pan_north,
        pan_degrees: i.pan_degrees,
        tilt_degrees: i.tilt_degrees,
    };
    Ok(Json(s.app.put_onvif_link(&a, &id, input).await?.into()))
}

/// `DELETE /cameras/{id}/onvif`.
#[utoipa::path(tag = "ptz", delete, path = "/cameras/{id}/onvif", summary = "Remove a camera's ONVIF link",
    description = "Administrators and supervisors of the camera's municipality. Audited as camera.onvif_unlink.",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn delete_link(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = crate::routes::parse_id("id", &id)?;
    s.app.delete_onvif_link(&a, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /onvif/probe`.
#[utoipa::path(tag = "ptz", post, path = "/onvif/probe", summary = "Ask an ONVIF camera about itself",
    description = "Administrators and supervisors. The device's information and media profiles with their \
        RTSP addresses (credentials removed), to fill a new camera's stream URLs. 409 when the camera \
        refuses the credentials or the request; 503 when it cannot be reached.",
    request_body = ProbeIn,
    responses(
        (status = 200, description = "The camera", body = DeviceOut),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 409, response = crate::doc::ErrorResponse),
        (status = 413, response = crate::doc::TooLargeResponse),
        (status = 503, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn probe(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Json<DeviceOut>> {
    a.check_may_write_registry()?;
    let i: ProbeIn = crate::admin::parse_object(&body)?;
    Ok(Json(s.app.onvif_probe(&a, &i.url, &i.username, &i.password).await?.into()))
}

/// A discovery address: an IP address or host name, with a port or 3702. A name is resolved
/// without blocking, within 2 s.
async fn socket_addr(field: &str, s: &str) -> Result<SocketAddr> {
    let bad = || Error::invalid(field, format!("{s:?} is not a host or host:port"));
    let name_ok = |h: &str| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    if s.is_empty() || s.len() > 255 {
        return Err(bad());
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, 3702));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (s, 3702),
    };
    if !name_ok(host) {
        return Err(bad());
    }
    let found = tokio::time::timeout(std::time::Duration::from_secs(2), tokio::net::lookup_host((host, port))).await;
    match found {
        Ok(Ok(mut addrs)) => addrs.next().ok_or_else(bad),
        _ => Err(Error::invalid(field, format!("{s:?} cannot be resolved"))),
    }
}

/// `POST /onvif/discover`.
#[utoipa::path(tag = "ptz", post, path = "/onvif/discover", summary = "Find ONVIF cameras",
    description = "Administrators and supervisors. A WS-Discovery probe to the local network's multicast \
        group and to each address given (cameras on other subnets); the cameras that answer within the \
        time, each once, with the registry's camera already linked to the address.",
    request_body = DiscoverIn,
    responses(
        (status = 200, description = "The cameras found", body = Vec<DiscoveredOut>),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 413, response = crate::doc::TooLargeResponse),
        (status = 503, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn discover(
    State(s): State<AppState>,
    Authed(a): Authed,
    body: Bytes,
) -> ApiResult<Json<Vec<DiscoveredOut>>> {
    a.check_may_write_registry()?;
    let i: DiscoverIn = crate::admin::parse_object(&body)?;
    if i.addresses.len() > 256 {
        return Err(Error::invalid("addresses", "at most 256 addresses").into());
    }
    let seconds = i.seconds.unwrap_or(2);
    if !(1..=5).contains(&seconds) {
        return Err(Error::invalid("seconds", "must be 1 to 5").into());
    }
    let mut directed = Vec::with_capacity(i.addresses.len());
    for (n, s) in i.addresses.iter().enumerate() {
        let a = socket_addr("addresses", s).await.map_err(|e| {
            let detail = polis_base::FieldError::new("addresses", e.message.clone()).at_row(n);
            e.with_details(vec![detail])
        })?;
        directed.push(a);
    }
    let found = s.app.onvif_discover(&a, &directed, std::time::Duration::from_secs(seconds)).await?;
    Ok(Json(found.into_iter().map(DiscoveredOut::from).collect()))
}

/// `GET /cameras/{id}/ptz`.
#[utoipa::path(tag = "ptz", get, path = "/cameras/{id}/ptz", summary = "Where a PTZ camera points, and who controls it",
    description = "Operators, supervisors and administrators of the camera's municipality.",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses(
        (status = 200, description = "The camera's state", body = PtzStateOut),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
        (status = 409, response = crate::doc::ErrorResponse),
        (status = 503, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn state(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<PtzStateOut>> {
    let id = crate::routes::parse_id("id", &id)?;
    Ok(Json(s.app.ptz_state(&a, &id).await?.into()))
}

/// `POST /cameras/{id}/ptz`.
#[utoipa::path(tag = "ptz", post, path = "/cameras/{id}/ptz", summary = "Turn a PTZ camera",
    description = "Operators, supervisors and administrators of the camera's municipality. The command takes \
        control of the camera for 60 s from the last command: while another operator holds it, 409 names \
        them, unless this command is for an incident and theirs is not (an incident takes priority). \
        `look` aims the camera at lat/lon (or at the incident) from its position, mount height and pan \
        calibration. Every command is audited (camera.ptz_move, camera.ptz_look, ...).",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    request_body = PtzCommandIn,
    responses(
        (status = 200, description = "The camera's state after the command", body = PtzStateOut),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
        (status = 409, response = crate::doc::ErrorResponse),
        (status = 413, response = crate::doc::TooLargeResponse),
        (status = 503, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn command(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<PtzStateOut>> {
    let id = crate::routes::parse_id("id", &id)?;
    let (command, incident) = crate::admin::parse_object::<PtzCommandIn>(&body)?.into_command()?;
    Ok(Json(s.app.ptz_command(&a, &id, command, incident.as_ref()).await?.into()))
}

/// `DELETE /cameras/{id}/ptz/control`.
#[utoipa::path(tag = "ptz", delete, path = "/cameras/{id}/ptz/control", summary = "Give control of a PTZ camera back",
    description = "Its holder, or an administrator.",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses(
        (status = 204, description = "Released"),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
        (status = 409, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn release(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = crate::routes::parse_id("id", &id)?;
    s.app.ptz_release(&a, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /cameras/{id}/ptz/presets`.
#[utoipa::path(tag = "ptz", get, path = "/cameras/{id}/ptz/presets", summary = "A PTZ camera's presets",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses(
        (status = 200, description = "The presets", body = Vec<PresetOut>),
        (status = 400, response = crate::doc::ErrorResponse),
        (status = 401, response = crate::doc::ErrorResponse),
        (status = 403, response = crate::doc::ErrorResponse),
        (status = 404, response = crate::doc::ErrorResponse),
        (status = 409, response = crate::doc::ErrorResponse),
        (status = 503, response = crate::doc::ErrorResponse),
    ))]
pub(crate) async fn presets(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<PresetOut>>> {
    let id = crate::routes::parse_id("id", &id)?;
    let presets = s.app.ptz_presets(&a, &id).await?;
    Ok(Json(
        presets
            .into_iter()
            .map(|p| PresetOut {
                token: p.token,
                name: p.name,
                pan: p.position.map(|x| x.pan),
                tilt: p.position.map(|x| x.tilt),
                zoom: p.position.map(|x| x.zoom),
            })
            .collect(),
    ))
}
