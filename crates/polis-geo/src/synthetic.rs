//! Deterministic synthetic registries for tests and benchmarks: the same seed gives the same
//! cameras and points on every machine.

use polis_domain::geometry::destination;
use polis_domain::{Camera, CameraKind, CameraStatus, FieldOfView, Heading, Id, LatLon, RangeM};

/// SplitMix64 (Steele, Lea and Flood): tiny, fast, and good enough to scatter test data.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub(crate) fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// A point uniformly spread over the disc of `radius_m` around `center`.
    fn in_disc(&mut self, center: LatLon, radius_m: f64) -> LatLon {
        let r = radius_m * self.unit().sqrt();
        destination(center, self.between(0.0, 360.0), r)
    }
}

fn disc_radius(radius_m: f64) -> f64 {
    if radius_m.is_finite() {
        radius_m.max(0.0)
    } else {
        0.0
    }
}

/// `n` cameras scattered uniformly over the disc of `radius_m` around `center`, deterministic for
/// a `seed`: about 73% fixed, 15% PTZ, 7% ANPR and 5% thermal; fields of view 40-110 degrees,
/// ranges 30-250 m, any heading. Ids `syn-000001`, `syn-000002`, ...; all of `municipality`,
/// active, not demo data.
pub fn cameras(n: usize, seed: u64, center: LatLon, radius_m: f64, municipality: &Id) -> Vec<Camera> {
    let radius_m = disc_radius(radius_m);
    let mut rng = SplitMix::new(seed);
    (1..=n)
        .map(|i| {
            let position = rng.in_disc(center, radius_m);
            let kind = match rng.unit() {
                u if u < 0.15 => CameraKind::Ptz,
                u if u < 0.22 => CameraKind::Anpr,
                u if u < 0.27 => CameraKind::Thermal,
                _ => CameraKind::Fixed,
            };
            Camera {
                id: Id::from_trusted(format!("syn-{i:06}")),
                municipality: municipality.clone(),
                name: format!("Synthetic camera {i}"),
                name_en: String::new(),
                position,
                mount_height_m: rng.between(3.0, 12.0),
                heading: Heading::new(rng.between(0.0, 360.0)).expect("a heading in [0, 360) is valid"),
                fov: FieldOfView::new(rng.between(40.0, 110.0)).expect("40-110 degrees is a valid field of view"),
                range: RangeM::new("range_m", rng.between(30.0, 250.0)).expect("30-250 m is a valid range"),
                kind,
                stream: None,
                sub_stream: None,
                retention_days: 30,
                owner: None,
                status: CameraStatus::Active,
                demo: false,
                video: Default::default(),
            }
        })
        .collect()
}

/// `n` points scattered uniformly over the disc of `radius_m` around `center`, deterministic for
/// a `seed`.
pub fn points(n: usize, seed: u64, center: LatLon, radius_m: f64) -> Vec<LatLon> {
    let radius_m = disc_radius(radius_m);
    let mut rng = SplitMix::new(seed);
    (0..n).map(|_| rng.in_disc(center, radius_m)).collect()
}
