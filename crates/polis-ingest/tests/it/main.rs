//! Integration tests of polis-ingest: MQTT intake against a real Mosquitto broker, and the
//! simulator.

mod broker;
mod mqtt;
mod sim;

use polis_base::{Error, Result};
use polis_ingest::{RawObservation, Sink};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A sink that records what it stores, and fails on demand.
#[derive(Default)]
pub struct RecordingSink {
    stored: Mutex<Vec<(String, RawObservation)>>,
    calls: AtomicU64,
    /// Calls still to fail with `Unavailable` (u64::MAX: always).
    failures_left: AtomicU64,
    /// Calls still to panic (a bug in the application).
    panics_left: AtomicU64,
}

impl RecordingSink {
    pub fn failing(times: u64) -> RecordingSink {
        RecordingSink { failures_left: AtomicU64::new(times), ..Default::default() }
    }

    pub fn panicking(times: u64) -> RecordingSink {
        RecordingSink { panics_left: AtomicU64::new(times), ..Default::default() }
    }

    pub fn stored(&self) -> Vec<(String, RawObservation)> {
        self.stored.lock().map(|g| g.clone()).unwrap_or_default()
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Sink for RecordingSink {
    async fn ingest(&self, municipality: &str, batch: Vec<RawObservation>) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.panics_left.load(Ordering::SeqCst) > 0 {
            self.panics_left.fetch_sub(1, Ordering::SeqCst);
            panic!("a bug in the sink (test)");
        }
        let left = self.failures_left.load(Ordering::SeqCst);
        if left > 0 {
            if left != u64::MAX {
                self.failures_left.fetch_sub(1, Ordering::SeqCst);
            }
            return Err(Error::unavailable("store is down (test)"));
        }
        let mut g = self.stored.lock().map_err(|_| Error::internal("poisoned"))?;
        g.extend(batch.into_iter().map(|o| (municipality.to_string(), o)));
        Ok(())
    }
}

/// Polls `cond` every 20 ms until it holds, or panics after `within` with `what`.
pub async fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
