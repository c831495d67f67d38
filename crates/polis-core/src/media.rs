//! Camera video: the application's side of the [`polis_media::MediaHub`]: who may see a camera's
//! health, when a camera's stream is pulled (someone looks at it), and the probing of the cameras
//! nobody pulls, so that none can go dark unnoticed.

use crate::App;
use futures::StreamExt;
use polis_base::{Clock, Error, Result};
use polis_domain::{Actor, Camera, CameraStatus, Id};
use polis_media::{Health, HubConfig, MediaHub, OfflineReason, RetinaOpener, RoutingOpener, SyntheticOpener};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the cameras nobody records or watches are checked (see [`App::run_camera_probe`]).
#[derive(Debug, Clone, Copy)]
pub struct ProbeConfig {
    /// Each such camera is checked this often; the first checks are spread over one interval
    /// (by the camera's id), so that thousands of cameras do not connect at once.
    pub every: Duration,
    /// After a first failure the camera is checked again this soon; a second failure in a row
    /// raises `camera-offline`.
    pub retry_after: Duration,
    /// The longest a check waits for the camera's first picture.
    pub timeout: Duration,
    /// Checks at the same time.
    pub concurrency: usize,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            every: Duration::from_secs(300),
            retry_after: Duration::from_secs(20),
            timeout: Duration::from_secs(10),
            concurrency: 8,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ProbeState {
    next: Instant,
    failures: u32,
    /// The last check: when, and why it failed if it did.
    last: Option<(time::OffsetDateTime, Option<OfflineReason>)>,
}

/// What is known now of a camera's stream, for the map: from the session of a pulled stream,
/// else from the last regular check.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraLive {
    pub id: Id,
    /// `online`, `degraded` or `offline` from a session; `online` or `offline` from a check
    /// (offline after two failures in a row); `unknown` before a first check, or for a camera
    /// out of service or without a stream.
    pub status: &'static str,
    pub reason: Option<OfflineReason>,
    /// `stream` (someone records or watches it) or `check`.
    pub by: &'static str,
    /// When the check was made (for `check`).
    pub checked_at: Option<time::OffsetDateTime>,
}

/// What probing learnt of the cameras nobody pulls.
#[derive(Default)]
pub(crate) struct Probes(std::sync::Mutex<HashMap<Id, ProbeState>>);

impl Probes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Id, ProbeState>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the last checks of an unpulled camera found it dead (two failures in a row).
    pub(crate) fn dead(&self, id: &Id) -> bool {
        self.lock().get(id).is_some_and(|s| s.failures >= 2)
    }
}

/// Where within one interval a camera's checks fall: spread by its id.
fn spread(id: &Id, every: Duration) -> Duration {
    let h =
        id.as_str().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let ms = every.as_millis().max(1) as u64;
    Duration::from_millis(h % ms)
}

/// The hub of the running server: RTSP through retina, `demo://` streams drawn and encoded here.
pub(crate) fn hub(clock: Arc<dyn Clock>) -> MediaHub {
    MediaHub::new(Arc::new(RoutingOpener::new(RetinaOpener, SyntheticOpener::new())), clock, HubConfig::default())
}

impl App {
    pub fn media(&self) -> &MediaHub {
        &self.media
    }

    /// The health of the session of one of a camera's streams (the actor may see the camera):
    /// `None` when that stream is not pulled now (nobody records or watches it). Asking does not
    /// start a session: health is read from the session a recorder or a viewer keeps running.
    pub async fn camera_health(&self, actor: &Actor, id: &Id, choice: StreamChoice) -> Result<Option<Health>> {
        let cam: Camera = self.get(actor, id).await?;
        let Some((key, _)) = stream_of(&cam, choice) else {
            // Nothing to pull: offline for want of a stream address.
            let reason = Some(polis_media::OfflineReason::NoStream);
            return Ok(Some(Health { reason, ..Health::offline() }));
        };
        Ok(self.media.is_running(&key).then(|| self.media.health(&key)))
    }

    /// Checks the cameras in service that nobody records or watches, each every
    /// `config.every` (spread by id), with a short connection that waits for a first picture;
    /// two failures in a row raise `camera-offline` (with the reason: refused, unauthorised,
    /// timeout, lost), an answer clears it. A camera someone pulls is watched by its session
    /// instead ([`App::check_camera_health`]). Run by the binary.
    pub async fn run_camera_probe(self: Arc<Self>, config: ProbeConfig) {
        let start = Instant::now();
        loop {
            let now = Instant::now();
            let running: HashSet<Id> = self.media.running().into_iter().collect();
            let cams: Vec<Camera> = {
                let reg = self.registry().await;
                reg.cameras
                    .values()
                    .filter(|c| c.stream.is_some() && c.status == CameraStatus::Active && !running.contains(&c.id))
                    .cloned()
                    .collect()
            };
            let due: Vec<Camera> = {
                let mut map = self.probes.lock();
                let known: HashSet<&Id> = cams.iter().map(|c| &c.id).collect();
                map.retain(|id, _| known.contains(id));
                cams.iter()
                    .filter(|c| {
                        let st = map.entry(c.id.clone()).or_insert_with(|| ProbeState {
                            next: start + spread(&c.id, config.every),
                            failures: 0,
                            last: None,
                        });
                        st.next <= now
                    })
                    .cloned()
                    .collect()
            };
            futures::stream::iter(due)
                .for_each_concurrent(config.concurrency.max(1), |cam| {
                    let app = self.clone();
                    async move { app.probe_camera(&cam, &config).await }
                })
                .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn probe_camera(&self, cam: &Camera, config: &ProbeConfig) {
        let Some(url) = cam.stream.as_ref() else { return };
        let result = self.media.probe(url, config.timeout).await;
        let now = Instant::now();
        let raise = {
            let mut map = self.probes.lock();
            let st = map.entry(cam.id.clone()).or_insert(ProbeState { next: now, failures: 0, last: None });
            st.last = Some((self.clock().now(), result.err()));
            match result {
                Ok(()) => {
                    st.failures = 0;
                    st.next = now + config.every;
                    Some(false)
                }
                Err(_) => {
                    st.failures += 1;
                    if st.failures >= 2 {
                        st.next = now + config.every;
                        Some(true)
                    } else {
                        st.next = now + config.retry_after;
                        None
                    }
                }
            }
        };
        // A camera someone began to pull meanwhile is its session's to watch.
        if self.media.is_running(&cam.id) {
            return;
        }
        let Some(raise) = raise else { return };
        let message = match result {
            Err(reason) => format!(
                "camera {} does not answer ({}): found by its regular check (nobody records or watches it)",
                cam.name,
                reason_text(reason)
            ),
            Ok(()) => format!("camera {} answers again", cam.name),
        };
        let sev = polis_domain::Severity::Major;
        let r =
            self.system_alarm("camera-offline", &cam.id, &cam.municipality, Some(cam.position), sev, message, raise);
        if let Err(e) = r.await {
            tracing::warn!(camera = %cam.id, error = %e.message, "recording a camera check's alarm failed");
        }
    }

    /// What is known now of the stream of every camera the actor may see (see [`CameraLive`]).
    pub async fn camera_states(&self, actor: &Actor) -> Result<Vec<CameraLive>> {
        let cams: Vec<Camera> = self.list(actor).await?;
        let probes = self.probes.lock().clone();
        Ok(cams
            .into_iter()
            .map(|c| {
                let unknown =
                    |by| CameraLive { id: c.id.clone(), status: "unknown", reason: None, by, checked_at: None };
                if c.stream.is_none() {
                    return CameraLive { reason: Some(OfflineReason::NoStream), ..unknown("check") };
                }
                if self.media.is_running(&c.id) {
                    let h = self.media.health(&c.id);
                    let status = match h.status {
                        polis_media::HealthStatus::Online => "online",
                        polis_media::HealthStatus::Degraded => "degraded",
                        polis_media::HealthStatus::Offline => "offline",
                    };
                    return CameraLive { status, reason: h.reason, ..unknown("stream") };
                }
                match probes.get(&c.id).and_then(|p| p.last.map(|l| (p.failures, l))) {
                    Some((0, (at, _))) => CameraLive { status: "online", checked_at: Some(at), ..unknown("check") },
                    Some((f, (at, reason))) if f >= 2 => {
                        CameraLive { status: "offline", reason, checked_at: Some(at), ..unknown("check") }
                    }
                    _ => unknown("check"),
                }
            })
            .collect())
    }

    /// Stops watched sessions nobody has looked at lately; run periodically by the binary.
    pub async fn run_media_reaper(self: Arc<Self>, every: std::time::Duration) {
        loop {
            tokio::time::sleep(every).await;
            let n = self.media.reap_idle();
            if n > 0 {
                tracing::info!(stopped = n, "idle camera sessions stopped");
            }
        }
    }
}

fn reason_text(r: OfflineReason) -> &'static str {
    match r {
        OfflineReason::Refused => "connection refused",
        OfflineReason::Unauthorised => "the camera refused the credentials",
        OfflineReason::Timeout => "no picture in time",
        OfflineReason::NoStream => "no stream address",
        OfflineReason::Lost => "the stream broke off",
    }
}

/// Which of a camera's streams a viewer wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamChoice {
    Main,
    /// The sub stream (smaller, for video walls); the main stream when the camera has none.
    Sub,
}

impl App {
    /// Frames of a camera's live stream for a viewer with the right to watch it.
    pub async fn live(&self, actor: &Actor, id: &Id, choice: StreamChoice) -> Result<polis_media::Subscription> {
        let cam: Camera = self.get(actor, id).await?;
        actor.check_video(&cam.municipality)?;
        let sub = self.live_of(&cam, choice)?;
        self.log_view(actor, &cam, "live").await?;
        Ok(sub)
    }

    /// Frames of a camera's live stream for the holder of a share that covers it.
    pub async fn live_shared(&self, token: &str, id: &Id, choice: StreamChoice) -> Result<polis_media::Subscription> {
        let view = self.use_share(token, Some(id), "live").await?;
        let cam = view.cameras.into_iter().find(|c| c.id == *id).ok_or_else(|| Error::not_found("no such camera"))?;
        self.live_of(&cam, choice)
    }

    fn live_of(&self, cam: &Camera, choice: StreamChoice) -> Result<polis_media::Subscription> {
        let (key, url) = stream_of(cam, choice)
            .ok_or_else(|| Error::failed_precondition(format!("camera {} has no stream", cam.id)))?;
        Ok(self.media.subscribe(&key, url))
    }
}

/// The hub's key and the address of the stream a viewer chose: the sub stream is keyed
/// `<camera>~sub`; a camera without a sub stream gives its main stream.
fn stream_of(cam: &Camera, choice: StreamChoice) -> Option<(Id, &polis_domain::registry::StreamUrl)> {
    match (choice, &cam.sub_stream, &cam.stream) {
        (StreamChoice::Sub, Some(sub), _) => Some((Id::from_trusted(format!("{}~sub", cam.id)), sub)),
        (_, _, Some(main)) => Some((cam.id.clone(), main)),
        _ => None,
    }
}

impl App {
    /// A JPEG of the camera's latest key frame with its privacy zones blacked out. Asking
    /// watches the camera; the first picture may take up to a key-frame interval. A view like
    /// live and playback: recorded in the audit log (`video.snapshot`).
    pub async fn snapshot(&self, actor: &Actor, id: &Id) -> Result<Vec<u8>> {
        let cam: Camera = self.get(actor, id).await?;
        actor.check_video(&cam.municipality)?;
        let jpeg = self.snapshot_of(&cam).await?;
        self.log_view(actor, &cam, "snapshot").await?;
        Ok(jpeg)
    }

    /// [`App::snapshot`] for the holder of a share that covers the camera.
    pub async fn snapshot_shared(&self, token: &str, id: &Id) -> Result<Vec<u8>> {
        let view = self.use_share(token, Some(id), "snapshot").await?;
        let cam = view.cameras.into_iter().find(|c| c.id == *id).ok_or_else(|| Error::not_found("no such camera"))?;
        self.snapshot_of(&cam).await
    }

    pub(crate) async fn snapshot_of(&self, cam: &Camera) -> Result<Vec<u8>> {
        let url = cam
            .stream
            .as_ref()
            .ok_or_else(|| Error::failed_precondition(format!("camera {} has no stream", cam.id)))?;
        self.media.watch(&cam.id, url);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(8);
        let frame = loop {
            if let Some(f) = self.media.latest_key_frame(&cam.id) {
                break f;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::unavailable(format!("camera {} sent no picture", cam.id)));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        // The same key frame and privacy zones give the same picture: kept until the next one.
        let key = (frame.pts, frame.at, cam.video.privacy_zones.clone());
        if let Some(jpeg) = self.snapshots.get(&cam.id, &key) {
            return Ok(jpeg);
        }
        let zones = key.2.clone();
        let jpeg = tokio::task::spawn_blocking(move || polis_media::snapshot_jpeg(&frame, &zones))
            .await
            .map_err(|e| Error::internal(format!("snapshot: {e}")))??;
        self.snapshots.put(&cam.id, key, jpeg.clone());
        Ok(jpeg)
    }
}

/// What a snapshot was made of: the key frame (its time) and the privacy zones.
type SnapshotKey = (i64, time::OffsetDateTime, Vec<polis_domain::PrivacyZone>);

/// The last snapshot of each camera, by what it was made of.
#[derive(Default)]
pub(crate) struct SnapshotCache(std::sync::Mutex<std::collections::HashMap<Id, (SnapshotKey, Vec<u8>)>>);

impl SnapshotCache {
    fn get(&self, cam: &Id, key: &SnapshotKey) -> Option<Vec<u8>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(cam).filter(|(k, _)| k == key).map(|(_, j)| j.clone())
    }

    fn put(&self, cam: &Id, key: SnapshotKey, jpeg: Vec<u8>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(cam.clone(), (key, jpeg));
    }
}

impl App {
    /// Takes a snapshot of `camera` and attaches it to the incident's journal (a JPEG with its
    /// SHA-256, named after the camera and the time).
    pub async fn attach_snapshot(
        &self,
        actor: &Actor,
        incident: &Id,
        camera: &Id,
    ) -> Result<polis_store::AttachmentMeta> {
        // Refuse those who may not change the incident before any camera is watched.
        self.check_handles(actor, incident).await?;
        let jpeg = self.snapshot(actor, camera).await.map_err(|e| match e.kind {
            polis_base::ErrorKind::NotFound => Error::invalid("camera", format!("no camera {camera}")),
            _ => e,
        })?;
        let at = self.clock().now();
        let stamp = format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        self.attach(actor, incident, &format!("snapshot-{camera}-{stamp}.jpg"), "image/jpeg", &jpeg).await
    }
}
