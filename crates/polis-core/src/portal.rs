//! What the citizen portal shows, without an account: only what the municipality published.
//! Sensors and cameras appear only while an administrator has them marked public; webcam
//! pictures are snapshots (privacy zones masked), taken at most once per
//! [`SNAPSHOT_REFRESH`] per camera however many people look; incident statistics are monthly
//! counts with any count below [`MIN_COUNT`] suppressed. Never live video, never a person, an
//! incident's address, or an SOS.

use crate::App;
use polis_base::{Error, Result};
use polis_domain::warning::PublicKind;
use polis_domain::{Camera, CameraStatus, Id, LatLon, Observation, Sector, Sensor, Site, SiteGeometry};
use polis_store::{IncidentFilter, ObservationBucket};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use time::OffsetDateTime;

/// The smallest count the statistics show; smaller ones are suppressed.
pub const MIN_COUNT: usize = 5;
/// How often a public webcam's picture may be taken anew.
pub const SNAPSHOT_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// A public sensor with its newest values and its last 24 hours in hourly buckets.
#[derive(Debug, Clone)]
pub struct PublicSensor {
    pub sensor: Sensor,
    pub latest: Vec<Observation>,
    pub hours: Vec<ObservationBucket>,
}

/// One month of the statistics: incidents per type, `None` when suppressed.
#[derive(Debug, Clone)]
pub struct MonthStats {
    /// `2026-11`.
    pub month: String,
    pub total: Option<usize>,
    pub by_type: BTreeMap<String, Option<usize>>,
    /// Median minutes from creation to on scene, over at least [`MIN_COUNT`] incidents.
    pub median_response_min: Option<f64>,
}

/// How well the camera network covers the key sites, as the portal shows it: no camera's
/// place, only shares.
#[derive(Debug, Clone, Default)]
pub struct PublicNetwork {
    /// Cameras in service (active) and all registered ones (planned and offline included).
    pub active: usize,
    pub total: usize,
    /// Per sector: its key sites and the mean share of them an active camera sees.
    pub sectors: Vec<(Sector, usize, f64)>,
    /// Per key site, most important first: the share of it an active camera sees.
    pub sites: Vec<SiteCover>,
    /// Published plan reports: the plan's id and when it was published.
    pub reports: Vec<(Id, OffsetDateTime)>,
}

/// A key site's coverage: the share of its sample points (its corners and centre, or its
/// point) that at least one active camera sees.
#[derive(Debug, Clone)]
pub struct SiteCover {
    pub name_bg: String,
    pub name_en: String,
    pub sectors: Vec<Sector>,
    pub seen: f64,
}

/// The points a site's coverage is sampled at: a point site's point; a polygon's corners and
/// the mean of its corners.
fn samples(g: &SiteGeometry) -> Vec<LatLon> {
    match g {
        SiteGeometry::Point(p) => vec![*p],
        SiteGeometry::Polygon(ring) => {
            let n = ring.len().max(1) as f64;
            let (lat, lon) = ring.iter().fold((0.0, 0.0), |(a, b), p| (a + p.lat(), b + p.lon()));
            let mut out = ring.clone();
            if let Ok(c) = LatLon::new(lat / n, lon / n) {
                out.push(c);
            }
            out
        }
    }
}

type SnapSlot = Arc<tokio::sync::Mutex<Option<(std::time::Instant, Arc<Vec<u8>>)>>>;

/// The public webcam pictures, one slot per camera.
#[derive(Default)]
pub(crate) struct PublicSnapshots(std::sync::Mutex<HashMap<Id, SnapSlot>>);

fn suppress(n: usize) -> Option<usize> {
    (n >= MIN_COUNT).then_some(n)
}

impl App {
    /// The public sensors, with their last 24 hours.
    pub async fn public_sensors(&self) -> Result<Vec<PublicSensor>> {
        let ids: Vec<Id> = self.public_items(PublicKind::Sensor).into_iter().map(|p| p.item).collect();
        let sensors: Vec<Sensor> = {
            let reg = self.registry().await;
            ids.iter().filter_map(|id| reg.sensors.get(id).cloned()).collect()
        };
        let now = self.clock().now();
        let mut latest: HashMap<Id, Vec<Observation>> = HashMap::new();
        if !sensors.is_empty() {
            for o in self.store().latest_observations().await? {
                if ids.contains(o.sensor()) {
                    latest.entry(o.sensor().clone()).or_default().push(o);
                }
            }
        }
        let mut out = Vec::with_capacity(sensors.len());
        for sensor in sensors {
            let hours = self
                .store()
                .observation_buckets(&sensor.id, None, now - time::Duration::hours(24), now, time::Duration::hours(1))
                .await?;
            let latest = latest.remove(&sensor.id).unwrap_or_default();
            out.push(PublicSensor { sensor, latest, hours });
        }
        Ok(out)
    }

    /// The public cameras (their place and name only).
    /// The camera network's coverage of the key sites, of one municipality or of all.
    pub async fn public_network(&self, m: Option<&Id>) -> PublicNetwork {
        let reg = self.registry().await;
        let mine = |x: &Id| m.is_none_or(|m| m == x);
        let cams = reg.cameras.values().filter(|c| mine(&c.municipality));
        let (mut active, mut total) = (0, 0);
        for c in cams {
            total += 1;
            active += usize::from(c.status == CameraStatus::Active);
        }
        let mut sites: Vec<(&Site, f64)> = reg
            .sites
            .values()
            .filter(|s| mine(&s.municipality))
            .map(|s| {
                let pts = samples(&s.geometry);
                let seen = pts
                    .iter()
                    .filter(|p| {
                        reg.camera_index
                            .seeing(**p, Some(&s.municipality), 64)
                            .iter()
                            .any(|h| reg.cameras.get(&h.id).is_some_and(|c| c.status == CameraStatus::Active))
                    })
                    .count();
                (s, seen as f64 / pts.len().max(1) as f64)
            })
            .collect();
        sites.sort_by(|a, b| a.0.priority.cmp(&b.0.priority).then_with(|| a.0.name_en.cmp(&b.0.name_en)));
        let mut by_sector: BTreeMap<Sector, (usize, f64)> = BTreeMap::new();
        for (site, seen) in &sites {
            for sector in &site.sectors {
                let e = by_sector.entry(*sector).or_default();
                e.0 += 1;
                e.1 += seen;
            }
        }
        let mut reports: Vec<(Id, OffsetDateTime)> = self
            .public_items(PublicKind::Plan)
            .into_iter()
            .filter(|p| p.snapshot.is_some() && mine(&p.municipality))
            .map(|p| (p.item, p.at))
            .collect();
        reports.sort_by_key(|r| std::cmp::Reverse(r.1));
        PublicNetwork {
            active,
            total,
            sectors: by_sector.into_iter().map(|(k, (n, sum))| (k, n, sum / n.max(1) as f64)).collect(),
            sites: sites
                .into_iter()
                .map(|(s, seen)| SiteCover {
                    name_bg: s.name_bg.clone(),
                    name_en: s.name_en.clone(),
                    sectors: s.sectors.clone(),
                    seen,
                })
                .collect(),
            reports,
        }
    }

    pub async fn public_cameras(&self) -> Vec<Camera> {
        let ids: Vec<Id> = self.public_items(PublicKind::Camera).into_iter().map(|p| p.item).collect();
        let reg = self.registry().await;
        ids.iter().filter_map(|id| reg.cameras.get(id).cloned()).collect()
    }

    /// A public camera's picture with its privacy zones masked: taken anew at most every
    /// [`SNAPSHOT_REFRESH`]; meanwhile, and while one is being taken, everyone gets the same.
    pub async fn public_snapshot(&self, id: &Id) -> Result<Arc<Vec<u8>>> {
        if !self.is_public(PublicKind::Camera, id) {
            return Err(Error::not_found(format!("no public camera {id}")));
        }
        let cam = self
            .registry()
            .await
            .cameras
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("no public camera {id}")))?;
        let slot = {
            let mut map = self.public_snaps.0.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(id.clone()).or_default().clone()
        };
        let mut guard = slot.lock().await;
        if let Some((at, jpeg)) = guard.as_ref() {
            if at.elapsed() < SNAPSHOT_REFRESH {
                return Ok(jpeg.clone());
            }
        }
        let jpeg = Arc::new(self.snapshot_of(&cam).await?);
        *guard = Some((std::time::Instant::now(), jpeg.clone()));
        Ok(jpeg)
    }

    /// Incidents per month over the last `months` months (all municipalities, or one), counts
    /// below [`MIN_COUNT`] suppressed.
    pub async fn public_stats(&self, municipality: Option<&Id>, months: u8) -> Result<Vec<MonthStats>> {
        let now = self.clock().now();
        let from = now - time::Duration::days(31 * i64::from(months.clamp(1, 24)));
        let filter = IncidentFilter {
            municipality: municipality.cloned(),
            from: Some(from),
            to: Some(now),
            limit: 200_000,
            ..Default::default()
        };
        let incidents = self.store().list_incidents(&filter).await?;
        let mut months_map: BTreeMap<String, Vec<&polis_domain::Incident>> = BTreeMap::new();
        for i in &incidents {
            let t = i.created_at;
            months_map.entry(format!("{:04}-{:02}", t.year(), u8::from(t.month()))).or_default().push(i);
        }
        Ok(months_map
            .into_iter()
            .rev()
            .map(|(month, list)| {
                let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
                for i in &list {
                    *by_type.entry(i.kind.as_str().to_string()).or_default() += 1;
                }
                let mut minutes: Vec<f64> = list
                    .iter()
                    .filter_map(|i| {
                        i.reached(polis_domain::IncidentStatus::OnScene)
                            .map(|t: OffsetDateTime| (t - i.created_at).as_seconds_f64() / 60.0)
                    })
                    .collect();
                minutes.sort_by(|a, b| a.total_cmp(b));
                let median_response_min =
                    (minutes.len() >= MIN_COUNT).then(|| minutes[minutes.len() / 2]).map(|m| (m * 10.0).round() / 10.0);
                MonthStats {
                    month,
                    total: suppress(list.len()),
                    by_type: by_type.into_iter().map(|(k, n)| (k, suppress(n))).collect(),
                    median_response_min,
                }
            })
            .collect())
    }
}
