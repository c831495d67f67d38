//! The hub: one session per stream, started when a camera records or is watched, stopped when idle.

use crate::health::{Health, HealthPolicy, OfflineReason};
use crate::session::{supervise, Backoff, Frame, HealthHandle, StreamOpener, Subscription, Tap, STALL_AFTER};
use polis_base::Clock;
use polis_domain::registry::StreamUrl;
use polis_domain::values::Id;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

struct Entry {
    url: StreamUrl,
    health: HealthHandle,
    tap: Arc<Tap>,
    task: tokio::task::JoinHandle<()>,
    recording: bool,
    last_watched: Option<OffsetDateTime>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Settings of the hub.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    pub backoff: Backoff,
    pub health: HealthPolicy,
    /// A watched (not recorded) session is stopped this long after the last watch.
    pub idle_after: Duration,
    /// A connection that brings no picture for this long is dropped and opened again.
    pub stall_after: std::time::Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            backoff: Backoff::default(),
            health: HealthPolicy::default(),
            idle_after: Duration::seconds(60),
            stall_after: STALL_AFTER,
        }
    }
}

/// Owns every camera session. Cheap to clone.
#[derive(Clone)]
pub struct MediaHub {
    inner: Arc<Mutex<HashMap<Id, Entry>>>,
    opener: Arc<dyn StreamOpener>,
    clock: Arc<dyn Clock>,
    config: HubConfig,
}

impl MediaHub {
    pub fn new(opener: Arc<dyn StreamOpener>, clock: Arc<dyn Clock>, config: HubConfig) -> Self {
        MediaHub { inner: Arc::default(), opener, clock, config }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ensure<'a>(&self, map: &'a mut HashMap<Id, Entry>, camera: &Id, url: &StreamUrl) -> &'a mut Entry {
        if map.get(camera).is_some_and(|e| e.url != *url) {
            map.remove(camera);
        }
        map.entry(camera.clone()).or_insert_with(|| {
            let health = HealthHandle::new(self.clock.clone(), self.config.health);
            let tap = Arc::new(Tap::new());
            let task = tokio::spawn(supervise(
                camera.as_str().to_string(),
                url.clone(),
                self.opener.clone(),
                health.clone(),
                tap.clone(),
                self.config.backoff,
                self.config.stall_after,
            ));
            Entry { url: url.clone(), health, tap, task, recording: false, last_watched: None }
        })
    }

    /// Declares whether a camera is recorded continuously: a recorded camera's session runs always.
    pub fn set_recording(&self, camera: &Id, url: Option<&StreamUrl>, recording: bool) {
        let mut map = self.lock();
        match (url, recording) {
            (Some(url), true) => self.ensure(&mut map, camera, url).recording = true,
            _ => {
                if let Some(e) = map.get_mut(camera) {
                    e.recording = false;
                }
            }
        }
    }

    /// Someone watches the camera: starts its session if needed (one upstream connection however many
    /// viewers) and keeps it alive for `idle_after`.
    pub fn watch(&self, camera: &Id, url: &StreamUrl) {
        let now = self.clock.now();
        let mut map = self.lock();
        self.ensure(&mut map, camera, url).last_watched = Some(now);
    }

    /// Watches the camera and subscribes to its frames (a live viewer); one upstream connection
    /// however many subscribers.
    pub fn subscribe(&self, camera: &Id, url: &StreamUrl) -> Subscription {
        let now = self.clock.now();
        let mut map = self.lock();
        let e = self.ensure(&mut map, camera, url);
        e.last_watched = Some(now);
        e.tap.subscribe()
    }

    /// Frames of a recorded camera's running session (for the recorder); `None` if none runs.
    pub fn subscribe_running(&self, camera: &Id) -> Option<Subscription> {
        self.lock().get(camera).map(|e| e.tap.subscribe())
    }

    /// The camera's latest key frame, if its session has one (for snapshots).
    pub fn latest_key_frame(&self, camera: &Id) -> Option<Frame> {
        self.lock().get(camera).and_then(|e| e.tap.latest_key_frame())
    }

    /// The cameras recorded continuously.
    pub fn recorded(&self) -> Vec<Id> {
        self.lock().iter().filter(|(_, e)| e.recording).map(|(id, _)| id.clone()).collect()
    }

    /// Stops every session (the server shuts down): subscribers, the recorder among them, see
    /// their stream end.
    pub fn stop_all(&self) {
        let drained: Vec<Entry> = self.lock().drain().map(|(_, e)| e).collect();
        drop(drained);
    }

    /// Stops a camera's session (the camera was deleted or lost its stream).
    pub fn stop(&self, camera: &Id) {
        self.lock().remove(camera);
    }

    /// Stops watched sessions nobody has looked at for `idle_after` and nobody subscribes to (a
    /// live viewer keeps its stream however long it watches); returns how many.
    pub fn reap_idle(&self) -> usize {
        let now = self.clock.now();
        let idle_after = self.config.idle_after;
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, e| {
            e.recording || e.tap.subscribers() > 0 || e.last_watched.is_some_and(|t| now - t < idle_after)
        });
        before - map.len()
    }

    /// The streams with a running session.
    /// Checks that a stream answers without keeping a session: opens it (an RTSP camera:
    /// DESCRIBE, SETUP, PLAY) and waits for its first picture, at most `timeout`; why not when it
    /// does not. The reason alone is given back: an error's text may carry the address.
    pub async fn probe(&self, url: &StreamUrl, timeout: std::time::Duration) -> Result<(), OfflineReason> {
        let attempt = async {
            let mut src = self.opener.open(url).await.map_err(|e| OfflineReason::of_message(&e.message))?;
            match src.next_frame().await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(OfflineReason::Lost),
                Err(e) => Err(OfflineReason::of_message(&e.message)),
            }
        };
        tokio::time::timeout(timeout, attempt).await.unwrap_or(Err(OfflineReason::Timeout))
    }

    pub fn running(&self) -> Vec<Id> {
        self.lock().keys().cloned().collect()
    }

    /// Whether a session runs for the camera.
    pub fn is_running(&self, camera: &Id) -> bool {
        self.lock().contains_key(camera)
    }

    pub fn sessions(&self) -> usize {
        self.lock().len()
    }

    /// The camera's health; offline when no session runs.
    pub fn health(&self, camera: &Id) -> Health {
        let handle = self.lock().get(camera).map(|e| e.health.clone());
        handle.map(|h| h.health()).unwrap_or_else(Health::offline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Frame, FrameSource, StreamParams, VideoCodec};
    use crate::HealthStatus;
    use async_trait::async_trait;
    use polis_base::{Result, SystemClock};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Each open yields `frames` frames then fails; every second open panics while reading.
    struct Fake {
        opens: AtomicUsize,
        frames: usize,
    }

    struct Src {
        left: usize,
        panic: bool,
    }

    #[async_trait]
    impl FrameSource for Src {
        async fn next_frame(&mut self) -> Result<Option<Frame>> {
            tokio::task::yield_now().await;
            if self.left == 0 {
                if self.panic {
                    panic!("decoder bug");
                }
                return Err(polis_base::Error::unavailable("connection reset"));
            }
            self.left -= 1;
            Ok(Some(Frame {
                data: bytes::Bytes::from(vec![0u8; 100]),
                key: self.left == 0,
                pts: 0,
                at: OffsetDateTime::UNIX_EPOCH,
                connection: 0,
                params: Arc::new(StreamParams {
                    codec: VideoCodec::H264,
                    rfc6381: "avc1.42c01e".into(),
                    width: 64,
                    height: 64,
                    sample_entry: Vec::new(),
                    extra_data: Vec::new(),
                }),
            }))
        }
    }

    #[async_trait]
    impl StreamOpener for Fake {
        async fn open(&self, _url: &StreamUrl) -> Result<Box<dyn FrameSource>> {
            let n = self.opens.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(Src { left: self.frames, panic: n % 2 == 1 }))
        }
    }

    fn hub(frames: usize) -> (MediaHub, Arc<Fake>) {
        let fake = Arc::new(Fake { opens: AtomicUsize::new(0), frames });
        let config = HubConfig {
            backoff: Backoff { initial: std::time::Duration::from_millis(1), max: std::time::Duration::from_millis(5) },
            ..HubConfig::default()
        };
        (MediaHub::new(fake.clone(), Arc::new(SystemClock), config), fake)
    }

    fn url() -> StreamUrl {
        StreamUrl::parse("stream_url", "rtsp://admin:hunter2@127.0.0.1:1/main").unwrap()
    }

    #[tokio::test]
    async fn many_viewers_share_one_upstream_connection() {
        let (hub, fake) = hub(usize::MAX);
        let cam = Id::parse("id", "cam-1").unwrap();
        for _ in 0..5 {
            hub.watch(&cam, &url());
        }
        for _ in 0..200 {
            if hub.health(&cam).status == HealthStatus::Online {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(hub.health(&cam).status, HealthStatus::Online);
        assert_eq!(fake.opens.load(Ordering::SeqCst), 1);
        assert_eq!(hub.sessions(), 1);
    }

    #[tokio::test]
    async fn failing_and_panicking_sessions_reconnect_and_count_it() {
        let (hub, fake) = hub(3);
        let cam = Id::parse("id", "cam-1").unwrap();
        hub.set_recording(&cam, Some(&url()), true);
        for _ in 0..400 {
            if hub.health(&cam).reconnects >= 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(hub.health(&cam).reconnects >= 3, "{:?}", hub.health(&cam));
        assert!(fake.opens.load(Ordering::SeqCst) >= 4);
        assert!(hub.is_running(&cam));
    }

    #[tokio::test]
    async fn idle_watched_sessions_stop_but_recorded_ones_stay() {
        let clock = Arc::new(polis_base::SimClock::new(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()));
        let fake = Arc::new(Fake { opens: AtomicUsize::new(0), frames: usize::MAX });
        let hub = MediaHub::new(fake, clock.clone(), HubConfig::default());
        let (watched, recorded) = (Id::parse("id", "w").unwrap(), Id::parse("id", "r").unwrap());
        hub.watch(&watched, &url());
        hub.set_recording(&recorded, Some(&url()), true);
        clock.advance(Duration::seconds(30));
        assert_eq!(hub.reap_idle(), 0);
        clock.advance(Duration::seconds(31));
        assert_eq!(hub.reap_idle(), 1);
        assert!(!hub.is_running(&watched));
        assert!(hub.is_running(&recorded));
        assert_eq!(hub.health(&watched).status, HealthStatus::Offline);
        // A live viewer keeps its stream past the idle time, until it goes.
        let viewed = Id::parse("id", "v").unwrap();
        let viewer = hub.subscribe(&viewed, &url());
        clock.advance(Duration::seconds(120));
        assert_eq!(hub.reap_idle(), 0);
        assert!(hub.is_running(&viewed));
        drop(viewer);
        assert_eq!(hub.reap_idle(), 1);
    }
}
