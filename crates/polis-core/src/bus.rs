//! The live event bus. Every event gets a monotonically increasing id from the engine; a
//! subscriber that comes back with the last id it saw gets everything after it (within the
//! retention window) and then the live stream, with nothing twice. The in-process bus
//! ([`LocalBus`]) is the embedded default; a multi-node deployment puts another engine (NATS
//! JetStream, see `docs/design/0006-event-bus.md`) behind the same [`EventBus`] trait, so nothing
//! above it may assume one process: publishing is asynchronous and may fail, a subscription is
//! any stream of deliveries, and events are owned data that serialise.
//!
//! The application publishes through [`Bus`]: callers (some on blocking threads) never wait. An
//! in-process engine takes the event at once ([`EventBus::publish_now`]); for a remote one, an
//! ordered outbox and one task publish the events in the order they were handed over.

use futures::stream::{BoxStream, Stream, StreamExt};
use polis_base::Result;
use polis_domain::Id;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};

/// One event on the bus.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Envelope<E> {
    pub id: u64,
    /// The municipality the event belongs to; `None` for region-wide events.
    pub municipality: Option<Id>,
    pub event: E,
}

/// What a subscriber receives.
#[derive(Debug)]
pub enum Delivery<E> {
    Event(Arc<Envelope<E>>),
    /// The subscriber fell behind or asked for events older than the retention window: events
    /// after `last_id` may be missing. It should resume from its last id (or reload state).
    Gap {
        last_id: u64,
    },
}

/// The bus interface: what every engine provides.
#[async_trait::async_trait]
pub trait EventBus<E>: Send + Sync + 'static {
    /// Publishes an event and returns the id the engine gave it, once the engine has it.
    async fn publish(&self, municipality: Option<Id>, event: E) -> Result<u64>;
    /// Subscribes: with `after`, first the retained events with a greater id (a [`Delivery::Gap`]
    /// first if some of them are no longer retained), then live ones; without, the events
    /// published from now on. Always in id order, never one twice.
    async fn subscribe(&self, after: Option<u64>) -> Result<Subscription<E>>;

    /// Publishes at once, without waiting, if this engine can (an in-process one), returning the
    /// id; otherwise hands the event back for [`EventBus::publish`]. An engine either always
    /// publishes here or never does, so that [`Bus`] keeps one order.
    #[allow(clippy::result_large_err)]
    fn publish_now(&self, municipality: Option<Id>, event: E) -> std::result::Result<u64, (Option<Id>, E)> {
        Err((municipality, event))
    }

    /// Finishes what the engine still has to do with the events published so far (an engine
    /// that keeps them writes them out), at shutdown. Publishing afterwards is not supported.
    async fn close(&self) {}
}

/// A subscription: any stream of deliveries an engine provides, remembering the last id
/// delivered. Call [`Subscription::next`] in a loop; `None` means the bus is gone.
pub struct Subscription<E> {
    stream: BoxStream<'static, Delivery<E>>,
    last: u64,
}

impl<E> Subscription<E> {
    /// Wraps an engine's stream; `start` is the id the subscriber starts after (or the current
    /// one when it starts now).
    pub fn new(stream: impl Stream<Item = Delivery<E>> + Send + 'static, start: u64) -> Self {
        Subscription { stream: stream.boxed(), last: start }
    }

    /// The next delivery; `None` when the bus is gone.
    pub async fn next(&mut self) -> Option<Delivery<E>> {
        let d = self.stream.next().await?;
        if let Delivery::Event(e) = &d {
            self.last = e.id;
        }
        Some(d)
    }

    /// The id of the last event delivered (or the start).
    pub fn last_id(&self) -> u64 {
        self.last
    }
}

/// The application's handle on the bus: an ordered outbox in front of an engine.
pub struct Bus<E> {
    engine: Arc<dyn EventBus<E>>,
    outbox: mpsc::UnboundedSender<(Option<Id>, E)>,
}

impl<E: Send + 'static> Bus<E> {
    /// Starts the task that publishes the outbox to `engine`, in order; it ends when the handle
    /// is dropped. Call inside a Tokio runtime.
    pub fn new(engine: Arc<dyn EventBus<E>>) -> Self {
        let (outbox, mut rx) = mpsc::unbounded_channel::<(Option<Id>, E)>();
        let publisher = engine.clone();
        tokio::spawn(async move {
            while let Some((municipality, event)) = rx.recv().await {
                if let Err(e) = publisher.publish(municipality, event).await {
                    tracing::warn!(error = %e, "live event not published");
                }
            }
        });
        Bus { engine, outbox }
    }

    /// Publishes an event without waiting (from any thread): at once on an engine that can
    /// (the in-process one: the event is on the bus when this returns), else through the
    /// outbox. Either way, events handed over by one caller are published in that order.
    pub fn publish(&self, municipality: Option<Id>, event: E) {
        if let Err(queued) = self.engine.publish_now(municipality, event) {
            if self.outbox.send(queued).is_err() {
                tracing::warn!("live event dropped: the publisher has stopped");
            }
        }
    }

    /// Subscribes to the engine (see [`EventBus::subscribe`]).
    pub async fn subscribe(&self, after: Option<u64>) -> Result<Subscription<E>> {
        self.engine.subscribe(after).await
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Arc<dyn EventBus<E>> {
        &self.engine
    }
}

/// The in-process bus: a ring of recent events for resumption and a broadcast channel for live
/// delivery. A slow subscriber never slows publishers: it lags, is told so, and resumes from the
/// ring. Made with [`LocalBus::durable`], the ring is also kept in the store (written in batches
/// by a task, so publishing never waits for it) and loaded again at start, so that a subscriber
/// resuming after a restart gets what it missed.
pub struct LocalBus<E> {
    inner: Mutex<Ring<E>>,
    live: broadcast::Sender<Arc<Envelope<E>>>,
    next_id: AtomicU64,
    /// Where retained events go to be written to the store, with a durable bus.
    keeper: Option<mpsc::UnboundedSender<Keep<E>>>,
    /// A subscriber resuming after an id below this one may have missed events that were never
    /// written (the run before a crash): it is told of a gap. 0 when none.
    gap_before: u64,
}

/// What the keeper task of a durable [`LocalBus`] is handed.
enum Keep<E> {
    Event(Arc<Envelope<E>>),
    /// Write everything handed over so far, mark the log as stopped cleanly, then answer.
    Close(tokio::sync::oneshot::Sender<()>),
}

struct Ring<E> {
    events: VecDeque<Arc<Envelope<E>>>,
    capacity: usize,
}

impl<E: Clone + Send + Sync + 'static> LocalBus<E> {
    /// `retain` events are kept for resumption; `live_capacity` is how far a subscriber may fall
    /// behind before it is told it lagged. Ids start at the current time in microseconds, so they
    /// keep increasing across restarts.
    pub fn new(retain: usize, live_capacity: usize) -> Self {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1);
        let (live, _) = broadcast::channel(live_capacity.max(16));
        LocalBus {
            inner: Mutex::new(Ring { events: VecDeque::with_capacity(retain.min(1 << 16)), capacity: retain.max(1) }),
            live,
            next_id: AtomicU64::new(start),
            keeper: None,
            gap_before: 0,
        }
    }

    fn publish_local(&self, municipality: Option<Id>, event: E) -> u64 {
        // The lock orders ids, the ring and the channel identically.
        let mut ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let env = Arc::new(Envelope { id, municipality, event });
        if ring.events.len() == ring.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(env.clone());
        if let Some(keeper) = &self.keeper {
            let _ = keeper.send(Keep::Event(env.clone()));
        }
        let _ = self.live.send(env);
        id
    }
}

/// How a durable [`LocalBus`] keeps its retention in the store.
#[derive(Debug, Clone, Copy)]
pub struct Durability {
    /// Events older than this are dropped from the store (the count is the bus's `retain`).
    pub max_age: time::Duration,
    /// Events are written in batches gathered over this long.
    pub batch_window: std::time::Duration,
}

impl Default for Durability {
    fn default() -> Self {
        Durability { max_age: time::Duration::days(1), batch_window: std::time::Duration::from_millis(50) }
    }
}

impl<E> LocalBus<E>
where
    E: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    /// A [`LocalBus`] whose retention (the newest `retain` events, none older than
    /// `durability.max_age`) is also kept in `store`: loaded now, and written by a task in
    /// batches as events are published. Ids go on from the newest event kept. If the previous
    /// run did not stop cleanly ([`EventBus::close`]), events it published but had not written
    /// are lost: a subscriber resuming from before this start is told of a gap.
    pub async fn durable(
        store: polis_store::DynStore,
        retain: usize,
        live_capacity: usize,
        durability: Durability,
    ) -> Result<LocalBus<E>> {
        let mut bus = LocalBus::new(retain, live_capacity);
        let kept = store.newest_events(u32::try_from(retain).unwrap_or(u32::MAX)).await?;
        let mut log = store.event_log_state().await?;
        let newest = kept.last().map(|e| e.id);
        {
            let ring = bus.inner.get_mut().unwrap_or_else(|p| p.into_inner());
            for e in kept {
                match serde_json::from_str::<E>(&e.body) {
                    Ok(event) => {
                        ring.events.push_back(Arc::new(Envelope { id: e.id, municipality: e.municipality, event }))
                    }
                    Err(err) => {
                        tracing::warn!(id = e.id, error = %err, "a kept live event does not read back; skipped")
                    }
                }
            }
        }
        let start = bus.next_id.get_mut();
        *start = (*start).max(newest.unwrap_or(0));
        if newest.is_some() && log.clean_through != newest {
            // The last run ended without writing out all it published.
            log.gap_before = Some(*start + 1);
            tracing::warn!("the previous run did not stop cleanly: live events may have been lost");
        }
        bus.gap_before = log.gap_before.unwrap_or(0);
        store.set_event_log_state(polis_store::EventLogState { clean_through: None, ..log }).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        bus.keeper = Some(tx);
        tokio::spawn(keep_events(store, rx, retain, durability, log.gap_before));
        Ok(bus)
    }
}

/// The keeper task of a durable [`LocalBus`]: gathers events for a batch window, writes them
/// in one transaction (retrying, in order, while the store fails), and prunes the store now and
/// then. Ends when the bus is dropped or closed.
async fn keep_events<E: serde::Serialize + Send + Sync + 'static>(
    store: polis_store::DynStore,
    mut rx: mpsc::UnboundedReceiver<Keep<E>>,
    retain: usize,
    durability: Durability,
    mut gap_before: Option<u64>,
) {
    let mut waiting: VecDeque<polis_store::StoredEvent> = VecDeque::new();
    let mut last_written: Option<u64> = None;
    let mut last_prune = std::time::Instant::now();
    let mut closing: Option<tokio::sync::oneshot::Sender<()>> = None;
    let mut open = true;
    while open || !waiting.is_empty() {
        if waiting.is_empty() {
            match rx.recv().await {
                Some(first) => gather(first, &mut waiting, &mut closing),
                None => break,
            }
            if closing.is_none() {
                tokio::time::sleep(durability.batch_window).await;
            }
        }
        while let Ok(more) = rx.try_recv() {
            gather(more, &mut waiting, &mut closing);
        }
        if closing.is_some() {
            open = false;
        }
        // A store that fails for long does not grow memory without bound: the oldest unwritten
        // events go, and a resumer from before them will be told of a gap after a restart.
        while waiting.len() > retain.max(1) {
            if let Some(dropped) = waiting.pop_front() {
                gap_before = Some(gap_before.unwrap_or(0).max(dropped.id + 1));
            }
        }
        let batch: Vec<polis_store::StoredEvent> = waiting.iter().cloned().collect();
        match store.append_events(&batch).await {
            Ok(()) => {
                last_written = batch.last().map(|e| e.id).or(last_written);
                waiting.clear();
            }
            Err(e) => {
                tracing::warn!(error = %e, waiting = waiting.len(), "live events not kept yet; retrying");
                if closing.is_some() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        }
        if last_prune.elapsed() >= std::time::Duration::from_secs(10) {
            last_prune = std::time::Instant::now();
            let before = time::OffsetDateTime::now_utc() - durability.max_age;
            if let Err(e) = store.prune_events(retain as u64, before).await {
                tracing::warn!(error = %e, "pruning kept live events failed");
            }
        }
    }
    if let Some(done) = closing {
        if waiting.is_empty() {
            let newest = match last_written {
                Some(id) => Some(id),
                None => store.newest_events(1).await.ok().and_then(|v| v.last().map(|e| e.id)),
            };
            let state = polis_store::EventLogState { clean_through: newest, gap_before };
            if let Err(e) = store.set_event_log_state(state).await {
                tracing::warn!(error = %e, "marking the live event log as stopped cleanly failed");
            }
        }
        let _ = done.send(());
    }
}

fn gather<E: serde::Serialize>(
    keep: Keep<E>,
    waiting: &mut VecDeque<polis_store::StoredEvent>,
    closing: &mut Option<tokio::sync::oneshot::Sender<()>>,
) {
    match keep {
        Keep::Event(env) => match serde_json::to_string(&env.event) {
            Ok(body) => waiting.push_back(polis_store::StoredEvent {
                id: env.id,
                at: time::OffsetDateTime::now_utc(),
                municipality: env.municipality.clone(),
                body,
            }),
            Err(e) => tracing::warn!(id = env.id, error = %e, "a live event does not serialise; not kept"),
        },
        Keep::Close(done) => *closing = Some(done),
    }
}

/// What a [`LocalBus`] subscription walks through: a gap notice, the backlog, then the channel.
struct LocalState<E> {
    gap_first: bool,
    backlog: VecDeque<Arc<Envelope<E>>>,
    live: broadcast::Receiver<Arc<Envelope<E>>>,
    last: u64,
}

impl<E: Clone + Send + Sync + 'static> LocalState<E> {
    async fn next(&mut self) -> Option<Delivery<E>> {
        if self.gap_first {
            self.gap_first = false;
            return Some(Delivery::Gap { last_id: self.last });
        }
        if let Some(e) = self.backlog.pop_front() {
            self.last = e.id;
            return Some(Delivery::Event(e));
        }
        loop {
            match self.live.recv().await {
                // Already delivered from the backlog.
                Ok(e) if e.id <= self.last => continue,
                Ok(e) => {
                    self.last = e.id;
                    return Some(Delivery::Event(e));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(Delivery::Gap { last_id: self.last }),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[async_trait::async_trait]
impl<E: Clone + Send + Sync + 'static> EventBus<E> for LocalBus<E> {
    async fn publish(&self, municipality: Option<Id>, event: E) -> Result<u64> {
        Ok(self.publish_local(municipality, event))
    }

    fn publish_now(&self, municipality: Option<Id>, event: E) -> std::result::Result<u64, (Option<Id>, E)> {
        Ok(self.publish_local(municipality, event))
    }

    async fn close(&self) {
        if let Some(keeper) = &self.keeper {
            let (done, wait) = tokio::sync::oneshot::channel();
            if keeper.send(Keep::Close(done)).is_ok() {
                let _ = wait.await;
            }
        }
    }

    async fn subscribe(&self, after: Option<u64>) -> Result<Subscription<E>> {
        let ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.live.subscribe();
        let current = self.next_id.load(Ordering::SeqCst);
        let state = match after {
            None => LocalState { gap_first: false, backlog: VecDeque::new(), live, last: current },
            Some(after) => {
                let oldest = ring.events.front().map(|e| e.id).unwrap_or(current + 1);
                let backlog: VecDeque<_> = ring.events.iter().filter(|e| e.id > after).cloned().collect();
                // Events between `after` and the oldest retained one are gone, or may have been
                // lost in a crash.
                let gap = (after + 1 < oldest && after < current) || after < self.gap_before;
                LocalState { gap_first: gap, backlog, live, last: after }
            }
        };
        drop(ring);
        let start = state.last;
        let stream = futures::stream::unfold(state, |mut st| async move { st.next().await.map(|d| (d, st)) });
        Ok(Subscription::new(stream, start))
    }
}

/// The contract every engine keeps, as test functions over `dyn EventBus<LiveEvent>`: call
/// [`contract::run_all`] with a constructor that makes a fresh, empty bus retaining at most the
/// given number of events (an engine's own tests do; `LocalBus` runs it below).
pub mod contract {
    use super::{Delivery, EventBus, Subscription};
    use crate::live::LiveEvent;
    use polis_domain::{Id, Observation};
    use std::future::Future;
    use std::sync::Arc;
    use std::time::Duration;

    /// How long a test waits for a delivery before it calls the engine broken.
    const WAIT: Duration = Duration::from_secs(10);

    /// A distinguishable event: a reading whose value is `n`.
    pub fn event(n: u32) -> LiveEvent {
        let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(i64::from(n));
        match Observation::stored(Id::from_trusted("contract-sensor"), t, None, f64::from(n), None) {
            Ok(o) => LiveEvent::Observation(o),
            Err(e) => panic!("a contract event must be valid: {e}"),
        }
    }

    fn number(e: &LiveEvent) -> u32 {
        match e {
            LiveEvent::Observation(o) => o.value() as u32,
            other => panic!("not a contract event: {other:?}"),
        }
    }

    async fn next(sub: &mut Subscription<LiveEvent>) -> Delivery<LiveEvent> {
        match tokio::time::timeout(WAIT, sub.next()).await {
            Ok(Some(d)) => d,
            Ok(None) => panic!("the subscription ended"),
            Err(_) => panic!("no delivery within {WAIT:?}"),
        }
    }

    /// The next `n` events as (id, number), failing on a gap.
    async fn take(sub: &mut Subscription<LiveEvent>, n: usize) -> Vec<(u64, u32)> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match next(sub).await {
                Delivery::Event(e) => out.push((e.id, number(&e.event))),
                Delivery::Gap { last_id } => panic!("unexpected gap after {last_id} (got {out:?})"),
            }
        }
        out
    }

    /// Asserts that nothing more arrives for a short while.
    async fn quiet(sub: &mut Subscription<LiveEvent>) {
        if let Ok(d) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
            panic!("expected nothing more, got {d:?}");
        }
    }

    async fn publish(bus: &dyn EventBus<LiveEvent>, n: u32) -> u64 {
        match bus.publish(Some(Id::from_trusted("kazanlak")), event(n)).await {
            Ok(id) => id,
            Err(e) => panic!("publish failed: {e}"),
        }
    }

    async fn subscribe(bus: &dyn EventBus<LiveEvent>, after: Option<u64>) -> Subscription<LiveEvent> {
        match bus.subscribe(after).await {
            Ok(s) => s,
            Err(e) => panic!("subscribe failed: {e}"),
        }
    }

    /// Live events arrive in publication order, with increasing ids equal to what publish
    /// returned, and with their municipality.
    pub async fn order(bus: Arc<dyn EventBus<LiveEvent>>) {
        let mut sub = subscribe(&*bus, None).await;
        let mut ids = Vec::new();
        for n in 0..50 {
            ids.push(publish(&*bus, n).await);
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids must increase: {ids:?}");
        let got = take(&mut sub, 50).await;
        assert_eq!(got, ids.iter().copied().zip(0..50).collect::<Vec<_>>());
        assert_eq!(sub.last_id(), ids[49]);
        let region = bus.publish(None, event(99)).await.expect("publish");
        match next(&mut sub).await {
            Delivery::Event(e) => {
                assert_eq!((e.id, e.municipality.clone()), (region, None));
            }
            gap => panic!("unexpected {gap:?}"),
        }
        let mut again = subscribe(&*bus, Some(ids[48])).await;
        match next(&mut again).await {
            Delivery::Event(e) => assert_eq!(e.municipality.as_ref().map(Id::as_str), Some("kazanlak")),
            gap => panic!("unexpected {gap:?}"),
        }
    }

    /// A subscriber without a last id gets only what is published after it subscribed.
    pub async fn subscribe_from_now(bus: Arc<dyn EventBus<LiveEvent>>) {
        publish(&*bus, 1).await;
        let mut sub = subscribe(&*bus, None).await;
        publish(&*bus, 2).await;
        assert_eq!(take(&mut sub, 1).await.iter().map(|e| e.1).collect::<Vec<_>>(), vec![2]);
        quiet(&mut sub).await;
    }

    /// Resuming after an id gives every later event, then live ones, each once.
    pub async fn resume_after_id(bus: Arc<dyn EventBus<LiveEvent>>) {
        let mut ids = Vec::new();
        for n in 0..10 {
            ids.push(publish(&*bus, n).await);
        }
        let mut sub = subscribe(&*bus, Some(ids[3])).await;
        for n in 10..15 {
            publish(&*bus, n).await;
        }
        let got: Vec<u32> = take(&mut sub, 11).await.into_iter().map(|e| e.1).collect();
        assert_eq!(got, (4..15).collect::<Vec<_>>());
        quiet(&mut sub).await;
        // Resuming from the newest id gives only what comes next.
        let mut tail = subscribe(&*bus, Some(sub.last_id())).await;
        publish(&*bus, 15).await;
        assert_eq!(take(&mut tail, 1).await[0].1, 15);
        quiet(&mut tail).await;
    }

    /// Publishing while a subscriber resumes: the retained part and the live part meet without
    /// a duplicate or a hole.
    pub async fn no_duplicates_across_the_handover(bus: Arc<dyn EventBus<LiveEvent>>) {
        let first = publish(&*bus, 0).await;
        let publisher = bus.clone();
        let task = tokio::spawn(async move {
            for n in 1..400 {
                publish(&*publisher, n).await;
                if n % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let mut sub = subscribe(&*bus, Some(first)).await;
        let got = take(&mut sub, 399).await;
        task.await.expect("publisher");
        assert_eq!(got.iter().map(|e| e.1).collect::<Vec<_>>(), (1..400).collect::<Vec<_>>());
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        quiet(&mut sub).await;
    }

    /// Resuming after an id older than what is retained starts with a gap, then the retained
    /// events. `retained` is what the bus under test was made to keep.
    pub async fn gap_when_retention_exceeded(bus: Arc<dyn EventBus<LiveEvent>>, retained: usize) {
        let total = retained as u32 + 5;
        let mut ids = Vec::new();
        for n in 0..total {
            ids.push(publish(&*bus, n).await);
        }
        let mut sub = subscribe(&*bus, Some(ids[0])).await;
        match next(&mut sub).await {
            Delivery::Gap { last_id } => assert_eq!(last_id, ids[0]),
            other => panic!("expected a gap, got {other:?}"),
        }
        let got = take(&mut sub, retained).await;
        assert_eq!(got.iter().map(|e| e.1).collect::<Vec<_>>(), (5..total).collect::<Vec<_>>());
        // Within the window, no gap.
        let mut ok = subscribe(&*bus, Some(ids[5])).await;
        assert_eq!(take(&mut ok, 1).await[0].1, 6);
    }

    /// Runs every contract test, each on a fresh bus from `make(retain)`.
    pub async fn run_all<F, Fut>(make: F)
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = Arc<dyn EventBus<LiveEvent>>>,
    {
        order(make(1000).await).await;
        subscribe_from_now(make(1000).await).await;
        resume_after_id(make(1000).await).await;
        no_duplicates_across_the_handover(make(1000).await).await;
        gap_when_retention_exceeded(make(20).await, 20).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::LiveEvent;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_local_bus_keeps_the_contract() {
        contract::run_all(|retain| async move {
            Arc::new(LocalBus::<LiveEvent>::new(retain, 4096)) as Arc<dyn EventBus<LiveEvent>>
        })
        .await;
    }

    async fn take(sub: &mut Subscription<u32>, n: usize) -> Vec<u32> {
        let mut out = Vec::new();
        while out.len() < n {
            match sub.next().await {
                Some(Delivery::Event(e)) => out.push(e.event),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged_and_never_blocks_publishers() {
        let bus = LocalBus::new(1000, 16);
        let mut sub = bus.subscribe(None).await.unwrap();
        for i in 0..100u32 {
            bus.publish(None, i).await.unwrap();
        }
        assert!(matches!(sub.next().await, Some(Delivery::Gap { .. })));
        let last = sub.last_id();
        let mut resumed = bus.subscribe(Some(last)).await.unwrap();
        assert_eq!(take(&mut resumed, 100).await, (0..100).collect::<Vec<_>>());
    }

    /// An engine that publishes only asynchronously, like a remote one.
    struct Remote(LocalBus<u32>);

    #[async_trait::async_trait]
    impl EventBus<u32> for Remote {
        async fn publish(&self, municipality: Option<Id>, event: u32) -> Result<u64> {
            tokio::task::yield_now().await;
            self.0.publish(municipality, event).await
        }
        async fn subscribe(&self, after: Option<u64>) -> Result<Subscription<u32>> {
            self.0.subscribe(after).await
        }
    }

    #[tokio::test]
    async fn the_outbox_publishes_in_order() {
        let engine: Arc<dyn EventBus<u32>> = Arc::new(Remote(LocalBus::new(1000, 1000)));
        let bus = Bus::new(engine);
        let mut sub = bus.subscribe(None).await.unwrap();
        for i in 0..200u32 {
            bus.publish(None, i);
        }
        assert_eq!(take(&mut sub, 200).await, (0..200).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn an_in_process_engine_has_the_event_when_publish_returns() {
        let engine: Arc<dyn EventBus<u32>> = Arc::new(LocalBus::new(1000, 1000));
        let bus = Bus::new(engine);
        let before = bus.subscribe(None).await.unwrap().last_id();
        bus.publish(None, 7);
        let mut sub = bus.subscribe(Some(before)).await.unwrap();
        assert_eq!(take(&mut sub, 1).await, vec![7]);
        // Subscribing from now after it was published does not see it.
        let mut later = bus.subscribe(None).await.unwrap();
        bus.publish(None, 8);
        assert_eq!(take(&mut later, 1).await, vec![8]);
    }
}
