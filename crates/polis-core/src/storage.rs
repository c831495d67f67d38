//! Storage faults, as the application sees them: whether the store takes writes now
//! ([`App::readiness`], behind `GET /readyz`), and the built-in `storage-unavailable` alarm,
//! raised (one per municipality, critical) while writes fail for lack of space or an unavailable
//! database and cleared once a write commits again ([`App::check_storage`]).
//!
//! The store itself recovers without a restart: a failed write rolls back completely, a
//! connection left inside a transaction is never reused (see `polis-store`), and the next write
//! simply tries again. While the store cannot take the alarm, it lives in memory and on the live
//! bus only; it is stored with its clear.

use crate::App;
use polis_base::Result;
use polis_domain::{Id, OrgKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use time::OffsetDateTime;

/// The rule id of the built-in alarm; its source is the municipality.
pub const STORAGE_RULE: &str = "storage-unavailable";

/// Whether the storage alarm is raised now.
#[derive(Debug, Default)]
pub(crate) struct StorageState {
    raised: AtomicBool,
}

/// What `GET /readyz` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    /// The store answered a small write just now.
    pub ready: bool,
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Why not, when not ready.
    pub reason: Option<String>,
    /// Since when writes have been failing (as seen by the application's own writes).
    pub failing_since: Option<OffsetDateTime>,
}

impl App {
    /// Whether the store is reachable and takes a small write now (it writes and removes a few
    /// pages), with the reason when not.
    pub async fn readiness(&self) -> Readiness {
        let store = self.store().backend();
        let probe = self.store().probe_write().await;
        let failing_since = self.store().write_status().failing_since.map(OffsetDateTime::from);
        if let Err(e) = probe {
            return Readiness { ready: false, store, reason: Some(e.message), failing_since };
        }
        // A node of a region takes readings only through the region's queue.
        if let Some(queue) = self.region_readings.get() {
            if let Err(e) = queue.reachable().await {
                return Readiness { ready: false, store, reason: Some(e.message), failing_since };
            }
        }
        Readiness { ready: true, store, reason: None, failing_since }
    }

    /// Raises `storage-unavailable` (for every municipality) when writes have been failing, and
    /// clears it once a write commits again (a probe write while nothing else writes). Returns
    /// whether the store takes writes.
    pub async fn check_storage(&self) -> Result<bool> {
        let status = self.store().write_status();
        let raised = self.storage.raised.load(Ordering::SeqCst);
        let failing = match (status.failing_since.is_some(), raised) {
            (true, false) => true,
            (false, false) => return Ok(true),
            // Raised: only a write that commits proves that space (or the database) is back.
            (_, true) => self.store().probe_write().await.is_err(),
        };
        if failing == raised {
            return Ok(!failing);
        }
        let municipalities: Vec<Id> = {
            let reg = self.registry().await;
            reg.organisations.values().filter(|o| o.kind == OrgKind::Municipality).map(|o| o.id.clone()).collect()
        };
        let message = match (&status.last_error, failing) {
            (Some(e), true) => format!("the store does not take writes: {e}"),
            (None, true) => "the store does not take writes".to_string(),
            (_, false) => "the store takes writes again".to_string(),
        };
        for m in &municipalities {
            self.store_alarm(m, message.clone(), failing).await?;
        }
        self.storage.raised.store(failing, Ordering::SeqCst);
        if failing {
            tracing::error!(reason = %message, "storage unavailable: alarm raised");
        } else {
            tracing::info!("storage available again: alarm cleared");
        }
        Ok(!failing)
    }

    /// Runs [`App::check_storage`] every `every`.
    pub async fn run_storage_watch(self: Arc<Self>, every: std::time::Duration) {
        loop {
            if let Err(e) = self.check_storage().await {
                tracing::warn!(error = %e.message, "storage check failed");
            }
            tokio::time::sleep(every).await;
        }
    }
}
