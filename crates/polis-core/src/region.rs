//! A node of a region: several Polis processes on one PostgreSQL and one NATS JetStream cluster.
//!
//! - **Names**: every node holds a lease on its name (`node.<id>` in the JetStream lease
//!   stream `POLIS_REGION`, renewed every few seconds, gone [`LEASE_TTL`] after its node stops
//!   renewing); a second process started with a name in use is refused.
//! - **Duties**: the region's periodic work (rule ticks, retention, the camera watch, the
//!   recorder, the demo simulator) runs on one node at a time, the holder of the `leader` lease;
//!   when it dies, another node takes the lease within [`LEASE_TTL`] plus one renewal period and
//!   starts them.
//! - **Registry**: each node keeps the registry in memory; a change made on any node is in the
//!   store first and then announced on the bus ([`crate::live::LiveEvent::Registry`]); every node
//!   reloads its registry from the store when it sees one (coalesced), and once right after it
//!   starts following the bus, so nothing committed before or after is missed.
//!
//! See `docs/design/0008-region.md`.

use crate::bus::Delivery;
use crate::live::LiveEvent;
use crate::App;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use polis_base::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a lease outlives its holder's last renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(6);
/// How often a holder renews, and a candidate tries.
const RENEW_EVERY: Duration = Duration::from_secs(2);
const BUCKET: &str = "POLIS_REGION";
const SUBJECTS: &str = "polis.region";

/// Leases as keys in a JetStream stream that keeps one message per subject for [`LEASE_TTL`]:
/// taking a lease publishes only if the subject is empty, renewing only if its last message is
/// still ours (the server checks the expected last sequence), so two holders are impossible.
struct Leases {
    js: jetstream::Context,
}

impl Leases {
    async fn put(&self, key: &str, value: &str, expect: u64) -> Result<u64> {
        let msg =
            PublishMessage::build().payload(value.as_bytes().to_vec().into()).expected_last_subject_sequence(expect);
        let ack = self
            .js
            .send_publish(format!("{SUBJECTS}.{key}"), msg)
            .await
            .map_err(|e| unavailable("lease", e))?
            .await
            .map_err(|e| unavailable("lease", e))?;
        Ok(ack.sequence)
    }

    /// Takes a free lease; fails if someone holds it.
    async fn create(&self, key: &str, value: &str) -> Result<u64> {
        self.put(key, value, 0).await
    }

    /// Renews a lease held since `revision`; fails if it ran out or another took it.
    async fn update(&self, key: &str, value: &str, revision: u64) -> Result<u64> {
        self.put(key, value, revision).await
    }

    /// Gives a lease up.
    async fn delete(&self, key: &str) -> Result<()> {
        let s = self.js.get_stream(BUCKET).await.map_err(|e| unavailable("lease stream", e))?;
        s.purge().filter(format!("{SUBJECTS}.{key}")).await.map_err(|e| unavailable("lease", e))?;
        Ok(())
    }
}

/// This node's membership of the region.
pub struct Node {
    id: String,
    kv: Leases,
    leader: watch::Sender<bool>,
    stopping: AtomicBool,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("region: {what}: {e}"))
}

impl Node {
    /// Joins the region as `id`: refused (failed precondition) if another live node has that
    /// name. Starts the task that renews the name and competes for the leader lease.
    pub async fn join(url: &str, id: &str, replicas: usize) -> Result<Arc<Node>> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("polis-{id}"))
            .retry_on_initial_connect()
            .connect(crate::nats_bus::server_list(url))
            .await
            .map_err(|e| unavailable("cannot connect to NATS", e))?;
        let js = jetstream::new(client);
        js.get_or_create_stream(stream::Config {
            name: BUCKET.into(),
            subjects: vec![format!("{SUBJECTS}.>")],
            max_messages_per_subject: 1,
            max_age: LEASE_TTL,
            discard: stream::DiscardPolicy::Old,
            storage: stream::StorageType::File,
            num_replicas: replicas.max(1),
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable("cannot open the lease stream", e))?;
        let kv = Leases { js };
        let key = format!("node.{id}");
        let revision = kv.create(&key, id).await.map_err(|e| {
            Error::failed_precondition(format!(
                "another node of this region is running with the name {id:?} (or stopped less than {} s ago): \
                 give each node its own --node-id ({e})",
                LEASE_TTL.as_secs()
            ))
        })?;
        let (leader, _) = watch::channel(false);
        let node = Arc::new(Node { id: id.to_string(), kv, leader, stopping: AtomicBool::new(false) });
        tokio::spawn(node.clone().keep(key, revision));
        Ok(node)
    }

    /// This node's name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether this node holds the leader lease now, and a way to wait for changes.
    pub fn leadership(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    /// Gives up the name and the leader lease (graceful shutdown), so that another node takes
    /// over at once instead of after the lease's time-out.
    pub async fn leave(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if *self.leader.borrow() {
            let _ = self.kv.delete("leader").await;
            self.leader.send_replace(false);
        }
        let _ = self.kv.delete(&format!("node.{}", self.id)).await;
    }

    async fn keep(self: Arc<Self>, key: String, mut revision: u64) {
        let mut leader_rev: Option<u64> = None;
        let mut every = tokio::time::interval(RENEW_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            match self.kv.update(&key, &self.id, revision).await {
                Ok(r) => revision = r,
                Err(e) => {
                    // Our name's lease ran out (cut off for too long): take it again if free.
                    tracing::warn!(error = %e, node = %self.id, "renewing the node's name failed");
                    if let Ok(r) = self.kv.create(&key, &self.id).await {
                        revision = r;
                    }
                }
            }
            leader_rev = match leader_rev {
                Some(rev) => match self.kv.update("leader", &self.id, rev).await {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!(error = %e, node = %self.id, "lost the leader lease");
                        None
                    }
                },
                None => self.kv.create("leader", &self.id).await.ok(),
            };
            let lead = leader_rev.is_some();
            if *self.leader.borrow() != lead {
                tracing::info!(node = %self.id, leader = lead, "region duties {}", if lead { "taken" } else { "given up" });
                self.leader.send_replace(lead);
            }
        }
    }
}

impl App {
    /// Reloads the registry from the store (under the registry's write lock, so no local change
    /// interleaves): how a node takes in changes made on other nodes.
    pub async fn reload_registry(&self) -> Result<()> {
        let _write = self.write_lock.lock().await;
        let fresh = crate::registry::Registry::load(&*self.store).await?;
        *self.registry.write().await = fresh;
        Ok(())
    }

    /// Follows the bus and keeps this node's registry equal to the store when other nodes
    /// change it (its registry and its rules engine's rules), and its alarms in memory merged
    /// with those other nodes write. Runs until the bus ends. Reloads once after subscribing (catching up with what
    /// changed before), then after each registry event or gap, coalescing bursts.
    pub async fn follow_region_registry(self: Arc<Self>) {
        loop {
            let mut sub = match self.bus.subscribe(None).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "region: cannot follow the bus; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = self.reload_registry().await {
                tracing::warn!(error = %e, "region: registry reload failed");
            }
            if let Err(e) = self.reload_rules().await {
                tracing::warn!(error = %e, "region: rules reload failed");
            }
            while let Some(d) = sub.next().await {
                let stale = match d {
                    Delivery::Event(e) => match &e.event {
                        LiveEvent::Registry { .. } => true,
                        // Alarms written by any node (this one's too: merging is idempotent).
                        LiveEvent::Alarm(a) => {
                            self.absorb_alarm(a).await;
                            false
                        }
                        _ => false,
                    },
                    Delivery::Gap { .. } => true,
                };
                if !stale {
                    continue;
                }
                // Coalesce: take whatever else is already queued before reloading (alarms among
                // it are still merged).
                while let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(5), sub.next()).await {
                    if let Delivery::Event(e) = d {
                        if let LiveEvent::Alarm(a) = &e.event {
                            self.absorb_alarm(a).await;
                        }
                    }
                }
                if let Err(e) = self.reload_registry().await {
                    tracing::warn!(error = %e, "region: registry reload failed");
                }
                if let Err(e) = self.reload_rules().await {
                    tracing::warn!(error = %e, "region: rules reload failed");
                }
            }
            tracing::warn!("region: the bus subscription ended; following again");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
