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

/// A snapshot of a stream's health.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub status: HealthStatus,
    pub fps: f64,
    pub bitrate_bps: u64,
    pub last_frame_at: Option<OffsetDateTime>,
    pub reconnects: u64,
}

impl Health {
    pub fn offline() -> Health {
        Health { status: HealthStatus::Offline, fps: 0.0, bitrate_bps: 0, last_frame_at: None, reconnects: 0 }
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
        }
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
        Health { status, fps, bitrate_bps, last_frame_at, reconnects: self.reconnects }
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
    fn a_disconnected_stream_is_offline_even_with_a_recent_frame() {
        let clock = SimClock::new(start());
        let mut c = HealthCalc::new(HealthPolicy::default());
        c.connected(clock.now());
        feed(&mut c, &clock, 25, 1000, 2);
        c.disconnected();
        assert_eq!(c.health(clock.now()).status, HealthStatus::Offline);
    }
}
