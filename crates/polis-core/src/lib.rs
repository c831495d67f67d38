//! Application services of Polis. [`App`] owns the store and an in-memory copy of the registry
//! with its spatial indexes, kept in step with the store: every registry write goes to the store
//! first (with its audit record, in one transaction) and only then to memory, under one write
//! lock, so memory never shows what the store does not have. Reads (listings and geo queries)
//! are served from memory.
//!
//! Every operation takes the [`Actor`] making it; permission and municipality scoping are checked
//! here, server-side, whatever the transport.

pub mod accounts;
pub mod auth;
pub mod bus;
pub mod demo;
pub mod incidents;
pub mod intake;
pub mod live;
pub mod media;
pub mod nats_bus;
pub mod plan;
pub mod portal;
pub mod ptz;
mod recovery;
pub mod region;
pub mod registry;
pub mod retention;
mod seed;
pub mod storage;
pub mod video;
pub mod warnings;

use bus::{Bus, EventBus, LocalBus};
use live::LiveEvent;
use polis_base::{Clock, Error, Result};
use polis_domain::{Actor, AuditRecord, Id};
use polis_store::DynStore;
use std::sync::Arc;

pub use auth::{LoginLimiter, NewUser, Session};
pub use registry::{Entity, Registry};

/// How many events the default in-process bus keeps for resumption.
pub const LOCAL_BUS_RETAIN: usize = 100_000;
/// How far a subscriber of the default bus may fall behind before it is told of a gap.
pub const LOCAL_BUS_LAG: usize = 4096;

/// How to open an [`App`].
pub struct Options {
    /// How long a login session lasts.
    pub session_ttl_hours: u32,
    /// The live event bus engine; `None` is the in-process [`LocalBus`], its retention kept in
    /// the store (see [`LocalBus::durable`]).
    pub bus: Option<Arc<dyn EventBus<LiveEvent>>>,
}

impl Default for Options {
    fn default() -> Self {
        Options { session_ttl_hours: 12, bus: None }
    }
}

/// The application: the store, the registry in memory, the clock.
pub struct App {
    store: DynStore,
    clock: Arc<dyn Clock>,
    registry: tokio::sync::RwLock<Registry>,
    /// Serialises registry writes so that the order of writes in the store and in memory agree.
    write_lock: tokio::sync::Mutex<()>,
    limiter: LoginLimiter,
    bus: Bus<LiveEvent>,
    live: intake::Live,
    desk: incidents::Desk,
    plans: plan::Jobs,
    media: polis_media::MediaHub,
    video: std::sync::OnceLock<video::VideoConfig>,
    snapshots: media::SnapshotCache,
    probes: media::Probes,
    armed: video::Armed,
    clips: video::ClipCache,
    /// Set when the server shuts down: recorders close their files and stop.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Recorder tasks running now (shutdown waits for them to close their files).
    recorders: Arc<std::sync::atomic::AtomicUsize>,
    board: warnings::Board,
    public_snaps: portal::PublicSnapshots,
    storage: storage::StorageState,
    recording: video::RecordingStates,
    /// How long a login session lasts.
    session_ttl: time::Duration,
    /// Open connections of each session; account changes.
    accounts: accounts::Accounts,
    /// In a region: the queue every node hands its stored readings to, for the one node that
    /// evaluates the rules (the leader). Unset on a single node: readings are evaluated where
    /// they arrive.
    region_readings: std::sync::OnceLock<Arc<nats_bus::WorkQueue<Vec<polis_domain::Observation>>>>,
    /// PTZ control leases and connected ONVIF devices.
    ptz: ptz::PtzDesk,
}

impl App {
    /// Loads the registry from the store and builds the indexes; sessions last 12 hours.
    pub async fn open(store: DynStore, clock: Arc<dyn Clock>) -> Result<Arc<App>> {
        App::open_with_sessions(store, clock, 12).await
    }

    /// [`App::open`] with login sessions lasting `session_ttl_hours`.
    pub async fn open_with_sessions(
        store: DynStore,
        clock: Arc<dyn Clock>,
        session_ttl_hours: u32,
    ) -> Result<Arc<App>> {
        App::open_with(store, clock, Options { session_ttl_hours, ..Options::default() }).await
    }

    /// [`App::open`] with options: how long sessions last and which live event bus to use.
    /// Call inside a Tokio runtime.
    pub async fn open_with(store: DynStore, clock: Arc<dyn Clock>, options: Options) -> Result<Arc<App>> {
        let Options { session_ttl_hours, bus } = options;
        let bus: Arc<dyn EventBus<LiveEvent>> = match bus {
            Some(b) => b,
            None => Arc::new(
                LocalBus::<LiveEvent>::durable(
                    store.clone(),
                    LOCAL_BUS_RETAIN,
                    LOCAL_BUS_LAG,
                    bus::Durability::default(),
                )
                .await?,
            ),
        };
        let registry = Registry::load(&*store).await?;
        let live = intake::Live::load(&*store, clock.now()).await?;
        let desk = incidents::Desk::load(&*store).await?;
        let board = warnings::Board::load(&*store, clock.now()).await?;
        let app = Arc::new(App {
            media: media::hub(clock.clone()),
            video: std::sync::OnceLock::new(),
            snapshots: media::SnapshotCache::default(),
            probes: media::Probes::default(),
            armed: video::Armed::default(),
            clips: video::ClipCache::default(),
            stopping: tokio::sync::watch::channel(false).0,
            recorders: Arc::default(),
            board,
            public_snaps: portal::PublicSnapshots::default(),
            store,
            clock,
            registry: tokio::sync::RwLock::new(registry),
            write_lock: tokio::sync::Mutex::new(()),
            limiter: LoginLimiter::new(),
            bus: Bus::new(bus),
            live,
            desk,
            plans: plan::Jobs::default(),
            storage: storage::StorageState::default(),
            recording: video::RecordingStates::default(),
            session_ttl: time::Duration::hours(i64::from(session_ttl_hours)),
            accounts: accounts::Accounts::default(),
            region_readings: std::sync::OnceLock::new(),
            ptz: ptz::PtzDesk::default(),
        });
        App::spawn_alarm_flush(&app);
        Ok(app)
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// At shutdown: the bus writes out what it still holds, then the store closes. The app must
    /// not be used afterwards.
    pub async fn close(&self) {
        self.bus.engine().close().await;
        self.store.close().await;
    }

    /// The live event bus: publish (in order, without waiting) and subscribe.
    pub fn bus(&self) -> &Bus<LiveEvent> {
        &self.bus
    }

    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Read access to the registry for queries.
    pub async fn registry(&self) -> tokio::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().await
    }

    /// An audit record stamped now, with JSON snapshots of the state before and after. The
    /// action is `<entity>.<verb>`, e.g. `camera.update`.
    pub(crate) fn audit<T: serde::Serialize>(
        &self,
        actor: &Actor,
        action: &str,
        entity_id: &str,
        municipality: Option<&Id>,
        before: Option<&T>,
        after: Option<&T>,
    ) -> AuditRecord {
        AuditRecord {
            at: self.clock.now(),
            actor: actor.username.clone(),
            action: action.to_string(),
            entity: action.split('.').next().unwrap_or(action).to_string(),
            entity_id: entity_id.to_string(),
            municipality: municipality.cloned(),
            before: before.and_then(|v| serde_json::to_string(v).ok()),
            after: after.and_then(|v| serde_json::to_string(v).ok()),
        }
    }

    /// The audit log, newest first, scoped to the actor's municipality. Administrators and
    /// supervisors only.
    pub async fn audit_log(&self, actor: &Actor, limit: u32) -> Result<Vec<polis_store::AuditEntry>> {
        if !matches!(actor.role, polis_domain::Role::Admin | polis_domain::Role::Supervisor) {
            return Err(Error::permission_denied("only administrators and supervisors may read the audit log"));
        }
        self.store.list_audit(actor.scope(), limit.clamp(1, 10_000)).await
    }
}
