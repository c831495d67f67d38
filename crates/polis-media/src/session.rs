//! One supervised RTSP session per stream: open, pull frames, record health, reconnect with backoff.

use crate::health::{Health, HealthCalc, HealthPolicy};
use async_trait::async_trait;
use futures::FutureExt;
use polis_base::{Clock, Error, Result};
use polis_domain::registry::StreamUrl;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A compressed video frame as it came from the camera.
#[derive(Debug, Clone)]
pub struct Frame {
    pub bytes: usize,
    /// A key frame (random access point): decoding can start here.
    pub key: bool,
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

/// Reconnect delays: doubling from `initial` up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(250), max: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// The delay before attempt `failures` (0 = first retry).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(20)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

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

/// Runs a session forever (until the task is aborted): each connection attempt runs in its own task so a
/// panic in it is caught like an error, and the session reconnects after a growing delay.
pub async fn supervise(
    camera: String,
    url: StreamUrl,
    opener: Arc<dyn StreamOpener>,
    health: HealthHandle,
    backoff: Backoff,
) {
    let mut failures = 0u32;
    loop {
        let attempt = {
            let (url, opener, health) = (url.clone(), opener.clone(), health.clone());
            tokio::spawn(async move { run_once(&url, opener.as_ref(), &health).await })
        };
        let outcome = match attempt.await {
            Ok(r) => r,
            Err(e) => Err(Error::internal(format!("session task failed: {e}"))),
        };
        health.with(|c| c.disconnected());
        match outcome {
            Ok(true) => failures = 0,
            Ok(false) => failures += 1,
            Err(e) => {
                // `url.url` carries no credentials; the error messages are ours or retina's (no password).
                tracing::warn!(camera = %camera, url = %url.url, error = %e.message, "camera stream lost");
                failures += 1;
            }
        }
        tokio::time::sleep(backoff.delay(failures.saturating_sub(1))).await;
    }
}

/// One connection: returns whether frames were received (to reset the backoff).
async fn run_once(url: &StreamUrl, opener: &dyn StreamOpener, health: &HealthHandle) -> Result<bool> {
    let mut source = opener.open(url).await?;
    health.with(|c| c.connected(health.clock.now()));
    let mut got = false;
    loop {
        let next = std::panic::AssertUnwindSafe(source.next_frame()).catch_unwind().await;
        match next {
            Ok(Ok(Some(f))) => {
                got = true;
                let now = health.clock.now();
                health.with(|c| c.frame(now, f.bytes));
            }
            Ok(Ok(None)) => return Ok(got),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(Error::internal("the stream reader panicked")),
        }
    }
}
