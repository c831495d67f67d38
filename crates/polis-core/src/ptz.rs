//! PTZ cameras over ONVIF: how Polis reaches each one (its link), discovery of cameras on the
//! network, and control: one operator at a time per camera (an incident takes priority over
//! other work), every command audited, and "look here" (aim at a point or an incident from the
//! camera's position, mount height and pan calibration).
//!
//! Control is a lease kept in this node's memory: it passes to whoever sends the next command
//! after [`LEASE`] without one. In a region, a camera's operators may reach different nodes;
//! each node then enforces its own lease (see `docs/ref/ptz.md`).

use crate::App;
use polis_base::{Error, FieldError, Result};
use polis_domain::{aim, Actor, Camera, Id, LatLon, OnvifLink, PtzCalibration};
use polis_onvif::{Credentials, Device, PtzPosition};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// How long control stays with an operator after their last command.
pub const LEASE: Duration = Duration::seconds(60);
/// The longest a continuous move runs unless stopped.
const MAX_MOVE_SECONDS: u64 = 30;

/// A link as shown: the password only as whether one is set.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OnvifLinkView {
    pub camera: Id,
    pub url: String,
    pub username: String,
    pub has_password: bool,
    pub profile: Option<String>,
    pub pan_north: f64,
    pub pan_degrees: f64,
    pub tilt_degrees: f64,
}

impl From<&OnvifLink> for OnvifLinkView {
    fn from(l: &OnvifLink) -> Self {
        OnvifLinkView {
            camera: l.camera.clone(),
            url: l.url.clone(),
            username: l.username.clone(),
            has_password: !l.password.is_empty(),
            profile: l.profile.clone(),
            pan_north: l.calibration.pan_north,
            pan_degrees: l.calibration.pan_degrees,
            tilt_degrees: l.calibration.tilt_degrees,
        }
    }
}

/// A change of a camera's link; `password` `None` keeps the stored one.
#[derive(Clone, Debug, Default)]
pub struct LinkInput {
    pub url: String,
    pub username: String,
    pub password: Option<String>,
    pub profile: Option<String>,
    pub pan_north: Option<f64>,
    pub pan_degrees: Option<f64>,
    pub tilt_degrees: Option<f64>,
}

/// What a PTZ command does.
#[derive(Clone, Debug, PartialEq)]
pub enum PtzCommand {
    /// Turn at speeds in -1..1 (zoom too) for at most `seconds`, or until `Stop`.
    Move {
        pan: f64,
        tilt: f64,
        zoom: f64,
        seconds: u64,
    },
    Stop,
    /// Go to a position: pan and tilt in -1..1, zoom in 0..1 (unchanged when `None`).
    Goto {
        pan: f64,
        tilt: f64,
        zoom: Option<f64>,
    },
    /// Look at a point on the ground; with neither, at the incident the command is for.
    Look {
        target: Option<LatLon>,
    },
    GotoPreset {
        token: String,
    },
    /// Saves the current position as a preset.
    SetPreset {
        name: String,
    },
    /// Takes control without moving.
    Take,
}

impl PtzCommand {
    fn action(&self) -> &'static str {
        match self {
            PtzCommand::Move { .. } => "camera.ptz_move",
            PtzCommand::Stop => "camera.ptz_stop",
            PtzCommand::Goto { .. } => "camera.ptz_goto",
            PtzCommand::Look { .. } => "camera.ptz_look",
            PtzCommand::GotoPreset { .. } => "camera.ptz_goto_preset",
            PtzCommand::SetPreset { .. } => "camera.ptz_set_preset",
            PtzCommand::Take => "camera.ptz_take",
        }
    }

    fn check(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let unit = |v: f64, lo: f64| v.is_finite() && (lo..=1.0).contains(&v);
        match self {
            PtzCommand::Move { pan, tilt, zoom, seconds } => {
                for (name, v) in [("pan", pan), ("tilt", tilt), ("zoom", zoom)] {
                    if !unit(*v, -1.0) {
                        errs.push(FieldError::new(name, "must be a speed in [-1, 1]"));
                    }
                }
                if !(1..=MAX_MOVE_SECONDS).contains(seconds) {
                    errs.push(FieldError::new("seconds", format!("must be 1 to {MAX_MOVE_SECONDS} seconds")));
                }
            }
            PtzCommand::Goto { pan, tilt, zoom } => {
                for (name, v) in [("pan", pan), ("tilt", tilt)] {
                    if !unit(*v, -1.0) {
                        errs.push(FieldError::new(name, "must be a position in [-1, 1]"));
                    }
                }
                if zoom.is_some_and(|z| !unit(z, 0.0)) {
                    errs.push(FieldError::new("zoom", "must be a position in [0, 1]"));
                }
            }
            PtzCommand::GotoPreset { token } => {
                if token.trim().is_empty() || token.len() > 64 || token.chars().any(char::is_control) {
                    errs.push(FieldError::new("token", "must be 1 to 64 characters, without control characters"));
                }
            }
            PtzCommand::SetPreset { name } => {
                if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                    errs.push(FieldError::new("name", "must be 1 to 64 characters, without control characters"));
                }
            }
            PtzCommand::Stop | PtzCommand::Look { .. } | PtzCommand::Take => {}
        }
        errs
    }
}

/// Who controls a camera now.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Holder {
    pub user: Id,
    pub username: String,
    /// The incident they act for, if any (it gives priority).
    pub incident: Option<Id>,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// A PTZ camera's state: where it points and who controls it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PtzState {
    pub camera: Id,
    pub pan: Option<f64>,
    pub tilt: Option<f64>,
    pub zoom: Option<f64>,
    /// The compass bearing it faces (from the calibration).
    pub bearing_deg: Option<f64>,
    pub holder: Option<Holder>,
    /// The preset saved by the command, or the aim of a "look here".
    pub preset: Option<String>,
    pub aim: Option<AimView>,
}

/// Where a "look here" pointed the camera.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct AimView {
    pub pan: f64,
    pub tilt: f64,
    pub bearing_deg: f64,
    pub distance_m: f64,
    /// Whether the place is beyond what the camera can pan to.
    pub clamped: bool,
}

/// What a camera on the network says about itself (for a new camera's form).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DeviceReport {
    pub manufacturer: String,
    pub model: String,
    pub firmware: String,
    pub serial: String,
    pub ptz: bool,
    pub profiles: Vec<ProfileReport>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProfileReport {
    pub token: String,
    pub name: String,
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    pub ptz: bool,
    /// Without any credentials the camera put in it.
    pub stream_url: Option<String>,
}

/// A camera that answered discovery.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Discovered {
    pub endpoint: String,
    pub device_url: String,
    pub addresses: Vec<String>,
    pub name: Option<String>,
    pub hardware: Option<String>,
    pub location: Option<String>,
    /// The registry's camera with this device address, if one has it.
    pub camera: Option<Id>,
}

/// The PTZ desk: control leases and connected devices.
#[derive(Default)]
pub(crate) struct PtzDesk {
    holders: Mutex<HashMap<Id, Holder>>,
    /// Connected devices by camera, with the link they were connected with and the PTZ
    /// profile chosen.
    devices: tokio::sync::Mutex<HashMap<Id, (OnvifLink, Device, String)>>,
}

/// Removes credentials from a stream address a camera gave: user-info, and query parameters
/// with the usual names.
fn without_credentials(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| {
                    !matches!(
                        k.to_ascii_lowercase().as_str(),
                        "user" | "username" | "usr" | "password" | "pass" | "pwd" | "passwd" | "auth" | "token"
                    )
                })
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if kept.is_empty() {
                u.set_query(None);
            } else {
                u.query_pairs_mut().clear().extend_pairs(kept);
            }
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

impl App {
    /// A camera's ONVIF link, without its password.
    pub async fn onvif_link(&self, actor: &Actor, camera: &Id) -> Result<Option<OnvifLinkView>> {
        let _cam: Camera = self.get(actor, camera).await?;
        Ok(self.store().onvif_link(camera).await?.as_ref().map(OnvifLinkView::from))
    }

    /// Sets how Polis reaches a camera over ONVIF (administrators and supervisors of its
    /// municipality). Audited without the password.
    pub async fn put_onvif_link(&self, actor: &Actor, camera: &Id, input: LinkInput) -> Result<OnvifLinkView> {
        let cam: Camera = self.get(actor, camera).await?;
        actor.check_write_registry(&cam.municipality)?;
        let before = self.store().onvif_link(camera).await?;
        let password = match input.password {
            Some(p) => p,
            None => before.as_ref().map(|b| b.password.clone()).unwrap_or_default(),
        };
        let base = before.as_ref().map(|b| b.calibration).unwrap_or_default();
        let link = OnvifLink {
            camera: camera.clone(),
            url: input.url.trim().to_string(),
            username: input.username,
            password,
            profile: input.profile.filter(|p| !p.trim().is_empty()),
            calibration: PtzCalibration {
                pan_north: input.pan_north.unwrap_or(base.pan_north),
                pan_degrees: input.pan_degrees.unwrap_or(base.pan_degrees),
                tilt_degrees: input.tilt_degrees.unwrap_or(base.tilt_degrees),
            },
        };
        let errs = link.check();
        if !errs.is_empty() {
            return Err(Error::invalid_fields("the ONVIF link is not valid", errs));
        }
        let view = OnvifLinkView::from(&link);
        let audit = self.audit(
            actor,
            "camera.onvif_link",
            camera.as_str(),
            Some(&cam.municipality),
            before.as_ref().map(OnvifLinkView::from).as_ref(),
            Some(&view),
        );
        self.store().put_onvif_link(&link, &audit).await?;
        self.ptz.devices.lock().await.remove(camera);
        Ok(view)
    }

    /// Removes a camera's ONVIF link; `NotFound` when it had none.
    pub async fn delete_onvif_link(&self, actor: &Actor, camera: &Id) -> Result<()> {
        let cam: Camera = self.get(actor, camera).await?;
        actor.check_write_registry(&cam.municipality)?;
        let audit =
            self.audit::<()>(actor, "camera.onvif_unlink", camera.as_str(), Some(&cam.municipality), None, None);
        if !self.store().delete_onvif_link(camera, &audit).await? {
            return Err(Error::not_found(format!("camera {camera} has no ONVIF link")));
        }
        self.ptz.devices.lock().await.remove(camera);
        Ok(())
    }

    /// What the ONVIF camera at `url` says about itself: device information and media
    /// profiles with their stream addresses (credentials removed), to fill a new camera's form.
    /// Administrators and supervisors.
    pub async fn onvif_probe(&self, actor: &Actor, url: &str, username: &str, password: &str) -> Result<DeviceReport> {
        actor.check_may_write_registry()?;
        let credentials = (!username.is_empty())
            .then(|| Credentials { username: username.to_string(), password: password.to_string() });
        let dev = Device::connect(url, credentials).await?;
        let info = dev.device_information().await?;
        let profiles = dev.profiles().await?;
        Ok(DeviceReport {
            manufacturer: info.manufacturer,
            model: info.model,
            firmware: info.firmware,
            serial: info.serial,
            ptz: dev.has_ptz(),
            profiles: profiles
                .into_iter()
                .map(|p| ProfileReport {
                    stream_url: p.stream_uri.as_deref().map(without_credentials).filter(|u| !u.is_empty()),
                    token: p.token,
                    name: p.name,
                    encoding: p.encoding,
                    width: p.width,
                    height: p.height,
                    fps: p.fps,
                    ptz: p.ptz,
                })
                .collect(),
        })
    }

    /// Finds ONVIF cameras: a WS-Discovery probe to the local network and to each `directed`
    /// address (at most 256), answers collected for `within`. Administrators and supervisors.
    pub async fn onvif_discover(
        &self,
        actor: &Actor,
        directed: &[SocketAddr],
        within: std::time::Duration,
    ) -> Result<Vec<Discovered>> {
        actor.check_may_write_registry()?;
        if directed.len() > 256 {
            return Err(Error::invalid("addresses", "at most 256 addresses"));
        }
        let found = polis_onvif::discover(within, directed).await?;
        let mut out = Vec::new();
        for f in found {
            let device_url = f.xaddrs.first().cloned().unwrap_or_default();
            let mut camera = None;
            for x in &f.xaddrs {
                if let Some(c) = self.camera_with_onvif_url(actor, x).await? {
                    camera = Some(c);
                    break;
                }
            }
            out.push(Discovered {
                endpoint: f.endpoint,
                device_url,
                addresses: f.xaddrs,
                name: f.name,
                hardware: f.hardware,
                location: f.location,
                camera,
            });
        }
        Ok(out)
    }

    /// The camera (that `actor` sees) linked to the device service `url`: one read of the links.
    async fn camera_with_onvif_url(&self, actor: &Actor, url: &str) -> Result<Option<Id>> {
        let links = self.store().onvif_links().await?;
        let reg = self.registry().await;
        Ok(links
            .into_iter()
            .filter(|l| l.url == url)
            .find(|l| reg.cameras.get(&l.camera).is_some_and(|c| actor.sees(&c.municipality)))
            .map(|l| l.camera))
    }

    /// The connected device of a camera and its PTZ profile (connecting once per link). The
    /// desk's lock is not held while a camera answers, so a slow camera delays only itself.
    async fn ptz_device(&self, camera: &Id) -> Result<(OnvifLink, Device, String)> {
        let link = self
            .store()
            .onvif_link(camera)
            .await?
            .ok_or_else(|| Error::failed_precondition(format!("camera {camera} has no ONVIF link")))?;
        if let Some((l, d, p)) = self.ptz.devices.lock().await.get(camera) {
            if *l == link {
                return Ok((l.clone(), d.clone(), p.clone()));
            }
        }
        let credentials = (!link.username.is_empty())
            .then(|| Credentials { username: link.username.clone(), password: link.password.clone() });
        let dev = Device::connect(&link.url, credentials).await?;
        if !dev.has_ptz() {
            return Err(Error::failed_precondition(format!("camera {camera} has no ONVIF PTZ service")));
        }
        let profile = match &link.profile {
            Some(p) => p.clone(),
            None => dev
                .profiles()
                .await?
                .into_iter()
                .find(|p| p.ptz)
                .map(|p| p.token)
                .ok_or_else(|| Error::failed_precondition(format!("camera {camera} has no PTZ profile")))?,
        };
        self.ptz.devices.lock().await.insert(camera.clone(), (link.clone(), dev.clone(), profile.clone()));
        Ok((link, dev, profile))
    }

    /// Takes (or renews) control of a camera for `actor`: free, expired or already theirs; or
    /// held by someone without an incident while `incident` is given. Otherwise
    /// `FailedPrecondition` naming who holds it and until when.
    fn take_control(&self, actor: &Actor, camera: &Id, incident: Option<&Id>) -> Result<Holder> {
        let now = self.clock().now();
        let mut holders = self.ptz.holders.lock().map_err(|_| Error::internal("the PTZ desk is poisoned"))?;
        if let Some(h) = holders.get(camera) {
            let free = h.until <= now || h.user == actor.user_id;
            let priority = incident.is_some() && h.incident.is_none();
            if !free && !priority {
                let why = match &h.incident {
                    Some(i) => format!(" for incident {i}"),
                    None => String::new(),
                };
                let (hh, mm, ss) = h.until.to_hms();
                return Err(Error::failed_precondition(format!(
                    "camera {camera} is controlled by {}{why} until {hh:02}:{mm:02}:{ss:02} UTC",
                    h.username
                )));
            }
        }
        let holder = Holder {
            user: actor.user_id.clone(),
            username: actor.username.clone(),
            incident: incident.cloned().or_else(|| {
                holders
                    .get(camera)
                    .filter(|h| h.user == actor.user_id && h.until > now)
                    .and_then(|h| h.incident.clone())
            }),
            until: now + LEASE,
        };
        holders.insert(camera.clone(), holder.clone());
        Ok(holder)
    }

    fn holder(&self, camera: &Id) -> Option<Holder> {
        let now = self.clock().now();
        self.ptz.holders.lock().ok().and_then(|h| h.get(camera).filter(|h| h.until > now).cloned())
    }

    /// Gives control of a camera back (only its holder, or an administrator).
    pub async fn ptz_release(&self, actor: &Actor, camera: &Id) -> Result<()> {
        let cam: Camera = self.get(actor, camera).await?;
        actor.check_video(&cam.municipality)?;
        let mut holders = self.ptz.holders.lock().map_err(|_| Error::internal("the PTZ desk is poisoned"))?;
        if let Some(h) = holders.get(camera) {
            if h.user != actor.user_id && actor.role != polis_domain::Role::Admin && h.until > self.clock().now() {
                return Err(Error::failed_precondition(format!("camera {camera} is controlled by {}", h.username)));
            }
            holders.remove(camera);
        }
        Ok(())
    }

    /// Where a PTZ camera points and who controls it.
    pub async fn ptz_state(&self, actor: &Actor, camera: &Id) -> Result<PtzState> {
        let cam: Camera = self.get(actor, camera).await?;
        actor.check_video(&cam.municipality)?;
        let (link, dev, profile) = self.ptz_device(camera).await?;
        let pos = dev.position(&profile).await?;
        Ok(state(camera, &link, Some(pos), self.holder(camera), None, None))
    }

    /// The presets a PTZ camera keeps.
    pub async fn ptz_presets(&self, actor: &Actor, camera: &Id) -> Result<Vec<polis_onvif::Preset>> {
        let cam: Camera = self.get(actor, camera).await?;
        actor.check_video(&cam.municipality)?;
        let (_, dev, profile) = self.ptz_device(camera).await?;
        dev.presets(&profile).await
    }

    /// Runs a PTZ command for `actor` (operators, supervisors and administrators of the camera's
    /// municipality), taking control first; `incident` gives priority over work without one
    /// and is where "look here" aims when no point is given. Audited.
    pub async fn ptz_command(
        &self,
        actor: &Actor,
        camera: &Id,
        command: PtzCommand,
        incident: Option<&Id>,
    ) -> Result<PtzState> {
        let cam: Camera = self.get(actor, camera).await?;
        actor.check_video(&cam.municipality)?;
        let errs = command.check();
        if !errs.is_empty() {
            return Err(Error::invalid_fields("the PTZ command is not valid", errs));
        }
        let incident_at = match incident {
            Some(id) => {
                let view = self.incident(actor, id).await?;
                Some(view.incident.location)
            }
            None => None,
        };
        let (link, dev, profile) = self.ptz_device(camera).await?;
        let holder = self.take_control(actor, camera, incident)?;
        let mut preset = None;
        let mut aimed = None;
        match &command {
            PtzCommand::Move { pan, tilt, zoom, seconds } => {
                dev.continuous_move(&profile, *pan, *tilt, *zoom, std::time::Duration::from_secs(*seconds)).await?
            }
            PtzCommand::Stop => dev.stop(&profile).await?,
            PtzCommand::Goto { pan, tilt, zoom } => dev.absolute_move(&profile, *pan, *tilt, *zoom).await?,
            PtzCommand::Look { target } => {
                let target = target
                    .or(incident_at)
                    .ok_or_else(|| Error::invalid("lat", "give the point to look at (lat and lon) or the incident"))?;
                let a = aim(cam.position, cam.mount_height_m, target, &link.calibration);
                dev.absolute_move(&profile, a.pan, a.tilt, None).await?;
                aimed = Some(AimView {
                    pan: a.pan,
                    tilt: a.tilt,
                    bearing_deg: a.bearing_deg,
                    distance_m: a.distance_m,
                    clamped: a.clamped,
                });
            }
            PtzCommand::GotoPreset { token } => dev.goto_preset(&profile, token).await?,
            PtzCommand::SetPreset { name } => preset = Some(dev.set_preset(&profile, name).await?),
            PtzCommand::Take => {}
        }
        let detail = serde_json::json!({
            "command": format!("{command:?}"),
            "incident": incident.map(Id::as_str),
            "aim": aimed,
        });
        let audit = self.audit(actor, command.action(), camera.as_str(), Some(&cam.municipality), None, Some(&detail));
        self.store().append_audit(&[audit]).await?;
        let pos = dev.position(&profile).await.ok();
        Ok(state(camera, &link, pos, Some(holder), preset, aimed))
    }
}

fn state(
    camera: &Id,
    link: &OnvifLink,
    pos: Option<PtzPosition>,
    holder: Option<Holder>,
    preset: Option<String>,
    aim: Option<AimView>,
) -> PtzState {
    PtzState {
        camera: camera.clone(),
        pan: pos.map(|p| p.pan),
        tilt: pos.map(|p| p.tilt),
        zoom: pos.map(|p| p.zoom),
        bearing_deg: pos.map(|p| polis_domain::ptz::bearing_at(p.pan, &link.calibration)),
        holder,
        preset,
        aim,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_addresses_from_cameras_lose_their_credentials() {
        assert_eq!(
            without_credentials("rtsp://admin:S3cret@10.0.0.5:554/live?user=admin&password=S3cret&channel=1"),
            "rtsp://10.0.0.5:554/live?channel=1"
        );
        assert_eq!(without_credentials("rtsp://10.0.0.5/main"), "rtsp://10.0.0.5/main");
        assert_eq!(without_credentials("not a url"), "");
    }

    #[test]
    fn commands_name_their_bad_fields() {
        let bad = PtzCommand::Move { pan: 2.0, tilt: f64::NAN, zoom: 0.0, seconds: 0 };
        let fields: Vec<String> = bad.check().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["pan", "tilt", "seconds"]);
        assert!(PtzCommand::Goto { pan: 0.5, tilt: -0.5, zoom: Some(1.0) }.check().is_empty());
        assert_eq!(PtzCommand::Goto { pan: 0.0, tilt: 0.0, zoom: Some(-0.1) }.check()[0].field, "zoom");
    }
}
