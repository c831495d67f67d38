//! Camera models and how far they see for a purpose.
//!
//! EN 62676-4 names four levels of detail by the pixel density on the target: detect 25 px/m,
//! observe 62 px/m, recognise 125 px/m, identify 250 px/m. A camera whose sensor is `h` pixels
//! wide behind a lens of horizontal field of view `fov` spreads `h` pixels over a width of
//! `2 d tan(fov/2)` at distance `d`, so it reaches density `ppm` up to
//! `d = h / (2 tan(fov/2) ppm)`.
//!
//! A PTZ camera is planned as covering a full circle (it can turn to anything around it) at one
//! level below the purpose of the plan (it watches one direction at a time, so it is counted as
//! seeing less detail): the radius is its range at that lower density, with its widest view.

use polis_base::{Error, Result};
use serde::{Deserialize, Serialize};

/// A level of detail of EN 62676-4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Dori {
    Detect,
    Observe,
    Recognise,
    Identify,
}

impl Dori {
    /// Pixels per metre on the target.
    pub fn ppm(self) -> f64 {
        match self {
            Dori::Detect => 25.0,
            Dori::Observe => 62.0,
            Dori::Recognise => 125.0,
            Dori::Identify => 250.0,
        }
    }

    /// The next lower level (detect stays detect).
    pub fn lower(self) -> Dori {
        match self {
            Dori::Identify => Dori::Recognise,
            Dori::Recognise => Dori::Observe,
            Dori::Observe | Dori::Detect => Dori::Detect,
        }
    }
}

/// A camera model on offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraModel {
    pub id: String,
    /// Horizontal field of view in degrees (0 < fov < 180).
    pub hfov_deg: f64,
    /// Horizontal resolution in pixels.
    pub h_pixels: u32,
    #[serde(default)]
    pub ptz: bool,
    /// The price of the camera (added to the candidate's mounting cost).
    #[serde(default)]
    pub cost: f64,
}

/// How far a camera with `h_pixels` across `hfov_deg` reaches the density of `level`, in metres.
pub fn range_m(h_pixels: u32, hfov_deg: f64, level: Dori) -> f64 {
    let half = (hfov_deg.to_radians() / 2.0).tan();
    if half <= 0.0 || !half.is_finite() {
        return 0.0;
    }
    f64::from(h_pixels) / (2.0 * half * level.ppm())
}

impl CameraModel {
    /// Checks the model: a field of view in (0, 180), at least one pixel, a cost not negative.
    pub fn check(&self) -> Result<()> {
        let field = |f: &str| format!("models[{}].{f}", self.id);
        if !(self.hfov_deg > 0.0 && self.hfov_deg < 180.0) {
            return Err(Error::invalid(field("hfov_deg"), "must be more than 0 and less than 180 degrees"));
        }
        if self.h_pixels == 0 {
            return Err(Error::invalid(field("h_pixels"), "must be at least 1: a model with zero range sees nothing"));
        }
        if !(self.cost >= 0.0 && self.cost.is_finite()) {
            return Err(Error::invalid(field("cost"), "must be a number, 0 or more"));
        }
        Ok(())
    }

    /// The distance this model covers for a plan of level `level`: for a fixed camera its DORI
    /// range, for a PTZ camera the radius of its circle (one level lower).
    pub fn reach_m(&self, level: Dori) -> f64 {
        if self.ptz {
            range_m(self.h_pixels, self.hfov_deg, level.lower())
        } else {
            range_m(self.h_pixels, self.hfov_deg, level)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dori_ranges_follow_the_pixel_density() {
        // 1920 px over 90 degrees: 2 tan(45) = 2, so 960 px per metre of distance.
        let r = |l| range_m(1920, 90.0, l);
        assert!((r(Dori::Detect) - 38.4).abs() < 1e-9);
        assert!((r(Dori::Observe) - 960.0 / 62.0).abs() < 1e-9);
        assert!((r(Dori::Recognise) - 7.68).abs() < 1e-9);
        assert!((r(Dori::Identify) - 3.84).abs() < 1e-9);
        // A narrower lens sees further at the same density.
        assert!(range_m(1920, 30.0, Dori::Recognise) > 3.0 * r(Dori::Recognise));
        assert_eq!(range_m(1920, 0.0, Dori::Detect), 0.0);
    }

    #[test]
    fn a_ptz_camera_covers_its_circle_one_level_lower() {
        let m = CameraModel { id: "ptz".into(), hfov_deg: 60.0, h_pixels: 1920, ptz: true, cost: 0.0 };
        assert_eq!(m.reach_m(Dori::Recognise), range_m(1920, 60.0, Dori::Observe));
        let zero = CameraModel { id: "z".into(), hfov_deg: 60.0, h_pixels: 0, ptz: false, cost: 0.0 };
        assert!(zero.check().unwrap_err().message.contains("zero range"));
    }
}
