//! Per-camera stream health: a pure calculator fed with frames and connection events, read with a clock.

use std::collections::VecDeque;
use time::{Duration, OffsetDateTime};

/// What a viewer of the health endpoint sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    Online,
    Degraded,
    Offline,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Online => "online",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Offline => "offline",
        }
    }
}

/// Why a stream is offline, as an operator can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineReason {
    /// Nothing listens at the camera's address (connection refused).
    Refused,
    /// The camera refused the credentials.
    Unauthorised,
    /// The camera did not answer in time, or stopped sending pictures.
    Timeout,
    /// The camera has no stream address.
    NoStream,
    /// The stream broke off otherwise.
    Lost,
}

impl OfflineReason {
    pub fn as_str(self) -> &'static str {
        match self {
            OfflineReason::Refused => "refused",
            OfflineReason::Unauthorised => "unauthorised",
            OfflineReason::Timeout => "timeout",
            OfflineReason::NoStream => "no_stream",
            OfflineReason::Lost => "lost",
        }
    }

    /// The reason an attempt to pull a stream failed with `message` (retina's or ours).
    pub fn of_message(message: &str) -> OfflineReason {
        let m = message.to_ascii_lowercase();
        if m.contains("401") || m.contains("unauthori") || m.contains("authenticat") || m.contains("credentials") {
            OfflineReason::Unauthorised
        } else if m.contains("refused") {
            OfflineReason::Refused
        } else if m.contains("timed out") || m.contains("timeout") {
            OfflineReason::Timeout
        } else {
            OfflineReason::Lost
        }
    }
}

/// A snapshot of a stream's health.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub status: HealthStatus,
    pub fps: f64,
    pub bitrate_bps: u64,
    pub last_frame_at: Option<OffsetDateTime>,
    pub reconnects: u64,
    /// When offline: since when (the last picture, or the first failed attempt).
    pub offline_since: Option<OffsetDateTime>,
    /// When offline: why, if known.
    pub reason: Option<OfflineReason>,
}

impl Health {
    pub fn offline() -> Health {
        Health {
            status: HealthStatus::Offline,
            fps: 0.0,
            bitrate_bps: 0,
            last_frame_at: None,
            reconnects: 0,
            offline_since: None,
            reason: None,
        }
    }
}

/// Thresholds of the calculator.
#[derive(Debug, Clone, Copy)]
pub struct HealthPolicy {
    /// The window over which fps and bitrate are averaged.
    pub window: Duration,
    /// No frame for this long means offline.
    pub stale_after: Duration,
    /// Below this frame rate a connected stream is degraded.
    pub min_fps: f64,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy { window: Duration::seconds(5), stale_after: Duration::seconds(5), min_fps: 1.0 }
    }
}

/// Accumulates frames and reconnects; [`HealthCalc::health`] reads the state at a given instant.
#[derive(Debug)]
pub struct HealthCalc {
    policy: HealthPolicy,
    connected: bool,
    connected_at: Option<OffsetDateTime>,
    frames: VecDeque<(OffsetDateTime, usize)>,
    reconnects: u64,
    ever_connected: bool,
    /// The first failed attempt since the last picture, and the last failure's reason.
    failing_since: Option<OffsetDateTime>,
    failure: Option<OfflineReason>,
}

impl HealthCalc {
    pub fn new(policy: HealthPolicy) -> Self {
        HealthCalc {
            policy,
            connected: false,
            connected_at: None,
            frames: VecDeque::new(),
            reconnects: 0,
            ever_connected: false,
            failing_since: None,
            failure: None,
        }
    }

    /// An attempt to pull the stream failed (or the stream broke off) at `at`, for `reason`.
    pub fn failed(&mut self, at: OffsetDateTime, reason: OfflineReason) {
        self.failing_since.get_or_insert(at);
        self.failure = Some(reason);
    }

    /// The session started playing.
    pub fn connected(&mut self, at: OffsetDateTime) {
        if self.ever_connected {
            self.reconnects += 1;
        }
        self.ever_connected = true;
        self.connected = true;
        self.connected_at = Some(at);
    }

    /// The session was lost (or could not be opened).
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.connected_at = None;
    }

    /// A frame of `bytes` arrived.
    pub fn frame(&mut self, at: OffsetDateTime, bytes: usize) {
        self.failing_since = None;
        self.failure = None;
        self.frames.push_back((at, bytes));
        self.prune(at);
    }

    fn prune(&mut self, now: OffsetDateTime) {
        // Keep the last frame even when old, for `last_frame_at`.
        while self.frames.len() > 1 && self.frames.front().is_some_and(|(t, _)| now - *t > self.policy.window) {
            self.frames.pop_front();
        }
    }

    pub fn health(&mut self, now: OffsetDateTime) -> Health {
        self.prune(now);
        let last_frame_at = self.frames.back().map(|(t, _)| *t);
        let in_window: Vec<_> = self.frames.iter().filter(|(t, _)| now - *t <= self.policy.window).collect();
        // Average over the window, or over the time since connecting if that is shorter.
        let span = match self.connected_at {
            Some(c) if now - c < self.policy.window => now - c,
            _ => self.policy.window,
        };
        let secs = span.as_seconds_f64().max(1.0);
        let fps = in_window.len() as f64 / secs;
        let bytes: usize = in_window.iter().map(|(_, b)| *b).sum();
        let bitrate_bps = (bytes as f64 * 8.0 / secs) as u64;
        let fresh = last_frame_at.is_some_and(|t| now - t <= self.policy.stale_after);
        let status = if !self.connected || !fresh {
            HealthStatus::Offline
        } else if fps < self.policy.min_fps {
            HealthStatus::Degraded
        } else {
            HealthStatus::Online
        };
        let (fps, bitrate_bps) = if status == HealthStatus::Offline { (0.0, 0) } else { (fps, bitrate_bps) };
        let (offline_since, reason) = if status == HealthStatus::Offline {
            // Connected but silent: the camera stopped sending pictures.
            let reason = if self.connected { Some(OfflineReason::Timeout) } else { self.failure };
            (last_frame_at.or(self.failing_since), reason)
        } else {
            (None, None)
        };
        Health { status, fps, bitrate_bps, last_frame_at, reconnects: self.reconnects, offline_since, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_base::{Clock, SimClock};

    fn start() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    /// Feeds `fps` frames a second of `bytes` each for `secs` seconds.
    fn feed(calc: &mut HealthCalc, clock: &SimClock, fps: u32, bytes: usize, secs: u32) {
        for _ in 0..secs * fps {
            clock.advance(Duration::seconds(1) / fps);
            calc.frame(clock.now(), bytes);
        }
    }

    #[test]
    fn a_never_connected_stream_is_offline() {
        let mut c = HealthCalc::new(HealthPolicy::default());
        let h = c.health(start());
        assert_eq!(h.status, HealthStatus::Offline);
        assert_eq!(h.last_frame_at, None);
    }

    #[test]
    fn a_steady_stream_is_online_with_its_fps_and_bitrate() {
        let clock = SimClock::new(start());
        let mut c = HealthCalc::new(HealthPolicy::default());
        c.connected(clock.now());
        feed(&mut c, &clock, 25, 10_000, 10);
        let h = c.health(clock.now());
        assert_eq!(h.status, HealthStatus::Online);
        assert!((h.fps - 25.0).abs() < 0.5, "fps {}", h.fps);
        assert!((h.bitrate_bps as f64 - 2_000_000.0).abs() < 50_000.0, "bitrate {}", h.bitrate_bps);
        assert_eq!(h.last_frame_at, Some(clock.now()));
        assert_eq!(h.reconnects, 0);
    }

    #[test]
    fn a_trickling_stream_is_degraded() {
        let clock = SimClock::new(start());
        let mut c = HealthCalc::new(HealthPolicy::default());
        c.connected(clock.now());
        for _ in 0..10 {
            clock.advance(Duration::seconds(3));
            c.frame(clock.now(), 1000);
        }
        assert_eq!(c.health(clock.now()).status, HealthStatus::Degraded);
    }

    #[test]
    fn a_silent_stream_goes_offline_and_a_reconnect_is_counted() {
        let clock = SimClock::new(start());
        let mut c = HealthCalc::new(HealthPolicy::default());
        c.connected(clock.now());
        feed(&mut c, &clock, 25, 1000, 2);
        let last = clock.now();
        clock.advance(Duration::seconds(6));
        let h = c.health(clock.now());
        assert_eq!(h.status, HealthStatus::Offline);
        assert_eq!(h.fps, 0.0);
        assert_eq!(h.last_frame_at, Some(last));
        c.disconnected();
        c.connected(clock.now());
        feed(&mut c, &clock, 25, 1000, 2);
        let h = c.health(clock.now());
        assert_eq!(h.status, HealthStatus::Online);
        assert_eq!(h.reconnects, 1);
    }

    #[test]
    fn an_offline_stream_says_since_when_and_why() {
        let clock = SimClock::new(start());
        let mut c = HealthCalc::new(HealthPolicy::default());
        let first = clock.now();
        c.failed(first, OfflineReason::of_message("DESCRIBE: Unable to connect: Connection refused (os error 111)"));
        clock.advance(Duration::seconds(10));
        c.failed(clock.now(), OfflineReason::of_message("DESCRIBE: 401 Unauthorized"));
        let h = c.health(clock.now());
        assert_eq!(
            (h.status, h.offline_since, h.reason),
            (HealthStatus::Offline, Some(first), Some(OfflineReason::Unauthorised))
        );
        // Pictures: online, no reason; then silent while connected: offline since the last picture.
        c.connected(clock.now());
        feed(&mut c, &clock, 25, 1000, 2);
        let last = clock.now();
        assert_eq!((c.health(last).offline_since, c.health(last).reason), (None, None));
        clock.advance(Duration::seconds(6));
        let h = c.health(clock.now());
        assert_eq!(
            (h.status, h.offline_since, h.reason),
            (HealthStatus::Offline, Some(last), Some(OfflineReason::Timeout))
        );
        assert_eq!(OfflineReason::of_message("connection timed out"), OfflineReason::Timeout);
        assert_eq!(OfflineReason::of_message("stream: end of file"), OfflineReason::Lost);
    }

    #[test]
    fn a_disconnected_stream_is_offline_even_with_a_recent_frame() {
        let clock = SimClock::new(start());
        let mut c = HealthCalc::new(HealthPolicy::default());
        c.connected(clock.now());
        feed(&mut c, &clock, 25, 1000, 2);
        c.disconnected();
        assert_eq!(c.health(clock.now()).status, HealthStatus::Offline);
    }
}
