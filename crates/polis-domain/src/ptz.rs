//! PTZ cameras reached over ONVIF: how Polis reaches one (its device service, user and
//! profile), how its pan and tilt map to the world (calibration), and where to point it to look
//! at a place ("look here").
//!
//! ONVIF's generic spaces are used: pan and tilt in -1..1, zoom in 0..1. A camera's pan of
//! `pan_north` faces north and one unit of pan is `pan_degrees` degrees clockwise (180 for the
//! usual full turn over -1..1); a tilt of 0 is level and one unit is `tilt_degrees` degrees up
//! (90 by default, so -1 looks straight down).

use crate::geometry::{bearing_deg, distance_m};
use crate::{Id, LatLon};
use polis_base::FieldError;

/// How Polis reaches a camera over ONVIF and how its pan and tilt map to the world.
#[derive(Clone, PartialEq)]
pub struct OnvifLink {
    pub camera: Id,
    /// The device service, `http(s)://HOST[:PORT]/onvif/device_service`.
    pub url: String,
    pub username: String,
    /// Secret: never returned by the API or written to the log or the audit.
    pub password: String,
    /// The media profile used for PTZ (the camera's first PTZ profile when not given).
    pub profile: Option<String>,
    pub calibration: PtzCalibration,
}

impl std::fmt::Debug for OnvifLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnvifLink")
            .field("camera", &self.camera)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("profile", &self.profile)
            .field("calibration", &self.calibration)
            .finish_non_exhaustive()
    }
}

/// The mapping from a camera's pan and tilt values to compass bearings and elevations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PtzCalibration {
    /// The pan value (-1..1) at which the camera faces north.
    pub pan_north: f64,
    /// Degrees clockwise per unit of pan (180: -1..1 is a full turn).
    pub pan_degrees: f64,
    /// Degrees up per unit of tilt (90: -1 is straight down, 1 straight up).
    pub tilt_degrees: f64,
}

impl Default for PtzCalibration {
    fn default() -> Self {
        PtzCalibration { pan_north: 0.0, pan_degrees: 180.0, tilt_degrees: 90.0 }
    }
}

impl OnvifLink {
    /// Every problem with the fields, named.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let url = self.url.trim();
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        let host =
            url.split_once("://").map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or("")).unwrap_or("");
        if !scheme_ok || host.is_empty() || url.len() > 500 || url.chars().any(char::is_control) {
            errs.push(FieldError::new("url", "must be the camera's http(s) ONVIF device service address"));
        } else if host.contains('@') {
            errs.push(FieldError::new("url", "must not carry credentials: give username and password"));
        }
        if self.username.len() > 100 || self.username.chars().any(char::is_control) {
            errs.push(FieldError::new("username", "must be at most 100 characters, without control characters"));
        }
        if self.password.len() > 200 || self.password.chars().any(char::is_control) {
            errs.push(FieldError::new("password", "must be at most 200 characters, without control characters"));
        }
        if let Some(p) = &self.profile {
            if p.trim().is_empty() || p.len() > 100 || p.chars().any(char::is_control) {
                errs.push(FieldError::new("profile", "must be 1 to 100 characters, without control characters"));
            }
        }
        let c = &self.calibration;
        if !c.pan_north.is_finite() || !(-1.0..=1.0).contains(&c.pan_north) {
            errs.push(FieldError::new("pan_north", "must be a pan value in [-1, 1]"));
        }
        if !c.pan_degrees.is_finite() || !(1.0..=360.0).contains(&c.pan_degrees) {
            errs.push(FieldError::new("pan_degrees", "must be degrees per unit of pan in [1, 360]"));
        }
        if !c.tilt_degrees.is_finite() || !(1.0..=180.0).contains(&c.tilt_degrees) {
            errs.push(FieldError::new("tilt_degrees", "must be degrees per unit of tilt in [1, 180]"));
        }
        errs
    }
}

/// Where to point a camera to look at a place, and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aim {
    /// Pan and tilt in the generic space (-1..1).
    pub pan: f64,
    pub tilt: f64,
    /// The compass bearing from the camera to the place, degrees clockwise from north.
    pub bearing_deg: f64,
    /// The distance on the ground, metres.
    pub distance_m: f64,
    /// Whether the bearing is outside what the camera can pan to (the pan was clamped).
    pub clamped: bool,
}

/// The pan and tilt that make a camera at `camera`, mounted `height_m` above the ground, look at
/// `target` (on the ground).
pub fn aim(camera: LatLon, height_m: f64, target: LatLon, cal: &PtzCalibration) -> Aim {
    let distance = distance_m(camera, target);
    let bearing = if distance < 0.01 { 0.0 } else { bearing_deg(camera, target) };
    // Pan: north's value plus the bearing in pan units, wrapped into the turn -1..1 covers.
    let turn = 360.0 / cal.pan_degrees; // pan units per full turn
    let mut pan = cal.pan_north + bearing / cal.pan_degrees;
    if turn <= 2.0 + 1e-9 {
        // A full turn fits in -1..1: wrap.
        pan = (pan + 1.0).rem_euclid(turn) - 1.0;
    }
    let clamped = !(-1.0 - 1e-9..=1.0 + 1e-9).contains(&pan);
    let pan = pan.clamp(-1.0, 1.0);
    // Tilt: down by the angle of the line of sight to the ground point.
    let down = if distance < 0.01 { 90.0 } else { height_m.max(0.0).atan2(distance).to_degrees() };
    let tilt = (-down / cal.tilt_degrees).clamp(-1.0, 1.0);
    Aim { pan, tilt, bearing_deg: bearing, distance_m: distance, clamped }
}

/// The compass bearing a camera faces at a pan value (the inverse of [`aim`]'s pan).
pub fn bearing_at(pan: f64, cal: &PtzCalibration) -> f64 {
    ((pan - cal.pan_north) * cal.pan_degrees).rem_euclid(360.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::destination;

    fn here() -> LatLon {
        LatLon::new(42.6191, 25.3936).expect("a point")
    }

    #[test]
    fn a_place_east_is_half_a_unit_of_pan_from_north_and_below_the_horizon() {
        let cal = PtzCalibration::default();
        let a = aim(here(), 10.0, destination(here(), 90.0, 10.0), &cal);
        assert!((a.pan - 0.5).abs() < 1e-3, "{a:?}");
        // 10 m up, 10 m away: 45 degrees down, half of the 90 degrees of a tilt unit.
        assert!((a.tilt + 0.5).abs() < 1e-3, "{a:?}");
        assert!(!a.clamped);
    }

    #[test]
    fn pan_wraps_around_the_turn_and_follows_the_calibration() {
        let cal = PtzCalibration { pan_north: 0.8, ..PtzCalibration::default() };
        // West is 270 degrees: 0.8 + 1.5 = 2.3, wrapped to 0.3.
        let a = aim(here(), 5.0, destination(here(), 270.0, 100.0), &cal);
        assert!((a.pan - 0.3).abs() < 1e-3, "{a:?}");
        assert!((bearing_at(a.pan, &cal) - 270.0).abs() < 0.5, "{}", bearing_at(a.pan, &cal));
    }

    #[test]
    fn a_camera_that_pans_less_than_a_turn_is_clamped_and_says_so() {
        let cal = PtzCalibration { pan_north: 0.0, pan_degrees: 90.0, tilt_degrees: 90.0 };
        let a = aim(here(), 5.0, destination(here(), 180.0, 100.0), &cal);
        assert!(a.clamped && a.pan == 1.0, "{a:?}");
    }

    #[test]
    fn credentials_and_bad_values_are_refused_by_name() {
        let mut l = OnvifLink {
            camera: Id::from_trusted("c1"),
            url: "http://admin:pw@10.0.0.5/onvif/device_service".into(),
            username: "admin".into(),
            password: "S3cret".into(),
            profile: None,
            calibration: PtzCalibration { pan_north: 2.0, ..PtzCalibration::default() },
        };
        let fields: Vec<String> = l.check().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["url", "pan_north"]);
        l.url = "http://10.0.0.5/onvif/device_service".into();
        l.calibration.pan_north = -0.25;
        assert!(l.check().is_empty());
        assert!(!format!("{l:?}").contains("S3cret"));
    }
}
