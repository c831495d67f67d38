//! One supervised RTSP session per stream: open, pull frames, record health, reconnect with backoff.

use crate::health::{Health, HealthCalc, HealthPolicy, OfflineReason};
use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use polis_base::{Clock, Error, Result};
use polis_domain::registry::StreamUrl;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// The video codec of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    H265,
}

/// What a decoder needs to know about a stream before its first frame; shared by every frame that
/// uses it (a camera that changes resolution sends new parameters, and frames after that carry them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamParams {
    pub codec: VideoCodec,
    /// The RFC 6381 codec string, e.g. `avc1.4d401f`, for `video/mp4; codecs="..."`.
    pub rfc6381: String,
    pub width: u32,
    pub height: u32,
    /// The MP4 sample entry box (`avc1` or `hvc1`, with its `avcC`/`hvcC`), ready for an `stsd`.
    pub sample_entry: Vec<u8>,
    /// The decoder configuration record (the body of `avcC` or `hvcC`): SPS and PPS (and VPS).
    pub extra_data: Vec<u8>,
}

/// The RTP video clock: timestamps count 1/90,000 s.
pub const CLOCK_RATE: u32 = 90_000;

/// A compressed video frame (an access unit) as it came from the camera.
#[derive(Debug, Clone)]
pub struct Frame {
    /// NAL units, each prefixed by its 4-byte big-endian length (the MP4 sample format).
    pub data: Bytes,
    /// A key frame (random access point): decoding can start here.
    pub key: bool,
    /// Presentation time in [`CLOCK_RATE`] units; increases within one connection.
    pub pts: i64,
    /// The wall-clock time the frame arrived.
    pub at: OffsetDateTime,
    pub params: Arc<StreamParams>,
    /// The connection that brought the frame, unique in the process (set by the session; a
    /// [`FrameSource`] leaves it 0). Presentation times start afresh with every connection, so
    /// frames of two connections never belong to one timeline (see [`crate::mux::Fragmenter`]).
    pub connection: u64,
}

impl Frame {
    pub fn bytes(&self) -> usize {
        self.data.len()
    }
}

/// An open stream handing out frames until it ends (`Ok(None)`) or fails.
#[async_trait]
pub trait FrameSource: Send {
    async fn next_frame(&mut self) -> Result<Option<Frame>>;
}

/// Opens streams; the RTSP implementation is [`crate::RetinaOpener`], tests substitute their own.
#[async_trait]
pub trait StreamOpener: Send + Sync + 'static {
    async fn open(&self, url: &StreamUrl) -> Result<Box<dyn FrameSource>>;
}

/// Reconnect delays: doubling from `initial` up to `max`, each scaled by a random factor in
/// `[0.5, 1]` so that cameras lost together do not all knock at once.
///
/// The cap is low (2 s by default) whatever the outage's length: a camera must record again
/// within seconds of its return, and a probe of a camera that is down is cheap (a refused TCP
/// connection, or at most a DESCRIBE that fails). A connection that delivered pictures starts
/// the delays afresh.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(250), max: Duration::from_secs(2) }
    }
}

impl Backoff {
    /// The delay before attempt `failures` (0 = first retry), before jitter.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(20)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// [`Backoff::delay`] scaled by `0.5 + r / 2` for `r` in `[0, 1]` (a random number).
    pub fn jittered(&self, failures: u32, r: f64) -> Duration {
        self.delay(failures).mul_f64(0.5 + 0.5 * r.clamp(0.0, 1.0))
    }
}

/// A random number in `[0, 1]` (for jitter; not for anything secret).
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Numbers the connections of every session of the process (see [`Frame::connection`]).
static CONNECTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A stream that sends no picture for this long is dropped and opened again (a camera or a
/// network that stalls without closing the connection).
pub const STALL_AFTER: Duration = Duration::from_secs(5);
/// Opening a stream (connect, DESCRIBE, SETUP, PLAY) gives up after this long.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The health a session shares with whoever asks.
#[derive(Clone)]
pub struct HealthHandle {
    calc: Arc<Mutex<HealthCalc>>,
    clock: Arc<dyn Clock>,
}

impl HealthHandle {
    pub fn new(clock: Arc<dyn Clock>, policy: HealthPolicy) -> Self {
        HealthHandle { calc: Arc::new(Mutex::new(HealthCalc::new(policy))), clock }
    }
    fn with<T>(&self, f: impl FnOnce(&mut HealthCalc) -> T) -> T {
        let mut g = self.calc.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }
    pub fn health(&self) -> Health {
        let now = self.clock.now();
        self.with(|c| c.health(now))
    }
}

/// Where a session's frames go: a broadcast to every subscriber (recorder, live viewers, snapshots)
/// and the current group of pictures (the frames since the last key frame), so a new subscriber
/// starts at once on a key frame.
pub struct Tap {
    tx: tokio::sync::broadcast::Sender<Frame>,
    gop: Mutex<Vec<Frame>>,
}

/// Frames kept per group of pictures at most (a camera with a key frame every 10 s at 30 fps has 300).
const MAX_GOP: usize = 600;
/// Frames a subscriber may fall behind before it skips to the next key frame.
const BROADCAST_DEPTH: usize = 256;

impl Tap {
    pub fn new() -> Self {
        Tap { tx: tokio::sync::broadcast::channel(BROADCAST_DEPTH).0, gop: Mutex::new(Vec::new()) }
    }

    fn gop(&self) -> std::sync::MutexGuard<'_, Vec<Frame>> {
        self.gop.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes a frame.
    pub fn publish(&self, frame: Frame) {
        let mut gop = self.gop();
        if frame.key {
            gop.clear();
        }
        if !gop.is_empty() || frame.key {
            if gop.len() >= MAX_GOP {
                gop.clear();
            } else {
                gop.push(frame.clone());
            }
        }
        // No receiver is not an error: nobody listens right now.
        let _ = self.tx.send(frame);
    }

    /// How many subscribers (live viewers, the recorder) listen now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The connection ended: the cached pictures are no longer current.
    pub fn reset(&self) {
        self.gop().clear();
    }

    /// The latest key frame, if the session has one.
    pub fn latest_key_frame(&self) -> Option<Frame> {
        self.gop().first().cloned()
    }

    /// Frames from now on, starting with the current group of pictures.
    pub fn subscribe(&self) -> Subscription {
        let gop = self.gop();
        let rx = self.tx.subscribe();
        Subscription { pending: gop.iter().cloned().collect(), rx, synced: !gop.is_empty(), skipped: 0, backlog: false }
    }
}

impl Default for Tap {
    fn default() -> Self {
        Self::new()
    }
}

/// A subscriber's view of a stream: starts on a key frame, and after falling behind skips to the
/// newest key frame instead of queueing.
pub struct Subscription {
    pending: std::collections::VecDeque<Frame>,
    rx: tokio::sync::broadcast::Receiver<Frame>,
    synced: bool,
    skipped: u64,
    backlog: bool,
}

impl Subscription {
    /// The next frame, or `None` once the session is gone.
    pub async fn next(&mut self) -> Option<Frame> {
        if let Some(f) = self.pending.pop_front() {
            self.backlog = true;
            return Some(f);
        }
        self.backlog = false;
        loop {
            match self.rx.recv().await {
                Ok(f) => {
                    if !self.synced && !f.key {
                        self.skipped += 1;
                        continue;
                    }
                    self.synced = true;
                    return Some(f);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    self.skipped += n;
                    self.synced = false;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Whether the frame [`Subscription::next`] gave last came from the group of pictures that was
    /// current when this subscriber joined (old by up to a key-frame interval, but needed: the
    /// frames from the key frame on), rather than from the live broadcast.
    pub fn from_backlog(&self) -> bool {
        self.backlog
    }

    /// Frames this subscriber skipped because it fell behind.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Skips what is queued and waits for the next key frame (a live viewer whose socket is slow).
    pub fn resync(&mut self) {
        self.pending.clear();
        self.synced = false;
    }
}

/// Runs a session forever (until the task is aborted): each connection attempt runs in its own task so a
/// panic in it is caught like an error, and the session reconnects after a short jittered delay
/// (see [`Backoff`]); a stream silent for `stall_after` counts as lost.
pub async fn supervise(
    camera: String,
    url: StreamUrl,
    opener: Arc<dyn StreamOpener>,
    health: HealthHandle,
    tap: Arc<Tap>,
    backoff: Backoff,
    stall_after: Duration,
) {
    /// The attempt's task, aborted with the session's (a task spawned inside an aborted one runs
    /// on otherwise: the camera's connection, and the frames' sender that subscribers wait on).
    struct Attempt<T>(tokio::task::JoinHandle<T>);
    impl<T> Drop for Attempt<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut failures = 0u32;
    loop {
        let mut attempt = {
            let (url, opener, health, tap) = (url.clone(), opener.clone(), health.clone(), tap.clone());
            Attempt(tokio::spawn(async move { run_once(&url, opener.as_ref(), &health, &tap, stall_after).await }))
        };
        let (got, outcome) = match (&mut attempt.0).await {
            Ok(r) => r,
            Err(e) => (false, Err(Error::internal(format!("session task failed: {e}")))),
        };
        health.with(|c| c.disconnected());
        tap.reset();
        let reason = match &outcome {
            Ok(()) => OfflineReason::Lost,
            Err(e) => OfflineReason::of_message(&e.message),
        };
        health.with(|c| c.failed(health.clock.now(), reason));
        // Pictures came: the camera was up, so the next attempt comes soon again.
        failures = if got { 0 } else { failures.saturating_add(1) };
        if let Err(e) = outcome {
            // `url.url` carries no credentials, and the message is redacted of them.
            // Said once when the stream is lost, then quietly while the camera stays down.
            if failures <= 1 {
                tracing::warn!(camera = %camera, url = %url.url, error = %url.redact(&e.message), "camera stream lost");
            } else {
                tracing::debug!(camera = %camera, url = %url.url, error = %url.redact(&e.message), failures, "camera still down");
            }
        }
        tokio::time::sleep(backoff.jittered(failures.saturating_sub(1), random_unit())).await;
    }
}

/// One connection: returns whether frames were received (to reset the backoff) and how it ended.
async fn run_once(
    url: &StreamUrl,
    opener: &dyn StreamOpener,
    health: &HealthHandle,
    tap: &Tap,
    stall_after: Duration,
) -> (bool, Result<()>) {
    let mut source = match tokio::time::timeout(OPEN_TIMEOUT, opener.open(url)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return (false, Err(e)),
        Err(_) => {
            return (
                false,
                Err(Error::unavailable(format!(
                    "the camera did not answer: timed out after {} s",
                    OPEN_TIMEOUT.as_secs()
                ))),
            )
        }
    };
    health.with(|c| c.connected(health.clock.now()));
    let connection = CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut got = false;
    loop {
        let next = std::panic::AssertUnwindSafe(source.next_frame()).catch_unwind();
        let next = match tokio::time::timeout(stall_after, next).await {
            Ok(n) => n,
            Err(_) => {
                let msg = format!("no picture for {} s", stall_after.as_secs_f64());
                return (got, Err(Error::unavailable(msg)));
            }
        };
        match next {
            Ok(Ok(Some(mut f))) => {
                got = true;
                f.at = health.clock.now();
                f.connection = connection;
                health.with(|c| c.frame(f.at, f.bytes()));
                tap.publish(f);
            }
            Ok(Ok(None)) => return (got, Ok(())),
            Ok(Err(e)) => return (got, Err(e)),
            Err(_) => return (got, Err(Error::internal("the stream reader panicked"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_base::{Clock, SimClock};

    /// Issue 17: a camera down for 5 minutes records again within seconds of its return. The
    /// supervisor's attempts are replayed on a simulated clock: each probe while the camera is
    /// down fails, and the delay before the next follows the backoff, with the worst and the
    /// best jitter.
    #[test]
    fn after_a_five_minute_outage_the_camera_is_probed_again_within_the_cap() {
        let b = Backoff::default();
        for r in [0.0, 0.5, 1.0] {
            let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
            let clock = SimClock::new(start);
            let back_at = start + time::Duration::minutes(5);
            let mut failures = 0u32;
            let mut probes = 0u32;
            // The stream was lost at `start`; probes until one finds the camera back.
            loop {
                clock.advance(time::Duration::try_from(b.jittered(failures.saturating_sub(1), r)).expect("delay"));
                probes += 1;
                if clock.now() >= back_at {
                    break;
                }
                failures += 1;
            }
            let late = clock.now() - back_at;
            assert!(late <= time::Duration::seconds(2), "probed {late} after the camera's return (r = {r})");
            // Cheap while down: at most one probe a second once the delay reached its cap
            // (and about one a second with the shortest jitter).
            assert!((150..=320).contains(&probes), "{probes} probes in 5 minutes (r = {r})");
        }
    }

    /// A source that sends nothing and says, by a flag, whether it is still open.
    struct Held(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Held {
        fn drop(&mut self) {
            self.0.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }
    #[async_trait]
    impl FrameSource for Held {
        async fn next_frame(&mut self) -> Result<Option<Frame>> {
            std::future::pending().await
        }
    }
    struct HeldOpener(Arc<std::sync::atomic::AtomicBool>);
    #[async_trait]
    impl StreamOpener for HeldOpener {
        async fn open(&self, _url: &StreamUrl) -> Result<Box<dyn FrameSource>> {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(Box::new(Held(self.0.clone())))
        }
    }

    /// Stopping a camera's session (the hub aborts its task) closes the camera's connection too:
    /// the attempt runs in a task of its own, which used to run on (and with it the frames'
    /// sender, so the recorder never saw the end and shutdown waited for it).
    #[tokio::test]
    async fn aborting_a_session_closes_its_connection() {
        let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clock: Arc<dyn Clock> = Arc::new(polis_base::SystemClock);
        let url = StreamUrl::parse("stream_url", "rtsp://127.0.0.1:1/main").expect("a URL");
        let tap = Arc::new(Tap::new());
        let mut sub = tap.subscribe();
        let session = tokio::spawn(supervise(
            "cam".into(),
            url,
            Arc::new(HeldOpener(open.clone())),
            HealthHandle::new(clock, HealthPolicy::default()),
            tap.clone(),
            Backoff::default(),
            Duration::from_secs(3600),
        ));
        while !open.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        session.abort();
        drop(tap);
        // The subscriber sees the end (the last sender is gone), and the connection is closed.
        let end = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
        assert!(matches!(end, Ok(None)), "the subscription did not end with the session");
        assert!(!open.load(std::sync::atomic::Ordering::SeqCst), "the camera's connection is still open");
    }

    #[test]
    fn delays_double_to_a_low_cap_and_jitter_only_shortens_them() {
        let b = Backoff::default();
        let ms: Vec<u128> = (0..6).map(|f| b.delay(f).as_millis()).collect();
        assert_eq!(ms, [250, 500, 1000, 2000, 2000, 2000]);
        assert_eq!(b.jittered(10, 0.0), Duration::from_secs(1));
        assert_eq!(b.jittered(10, 1.0), Duration::from_secs(2));
        for _ in 0..100 {
            let r = random_unit();
            assert!((0.0..=1.0).contains(&r), "{r}");
        }
    }
}
