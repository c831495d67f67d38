//! The live event bus. Every event gets a monotonically increasing id; a subscriber that comes
//! back with the last id it saw gets everything after it (within the retention window) and then
//! the live stream, with nothing twice. The in-process bus is the embedded default; a multi-node
//! deployment puts another engine (NATS JetStream) behind the same [`EventBus`] trait, so nothing
//! above it may assume one process.

use polis_domain::Id;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// One event on the bus.
#[derive(Debug, Clone)]
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

/// The bus interface.
pub trait EventBus<E>: Send + Sync + 'static {
    /// Publishes an event and returns its id.
    fn publish(&self, municipality: Option<Id>, event: E) -> u64;
    /// Subscribes: first the retained events with an id greater than `after`, then live ones.
    fn subscribe(&self, after: Option<u64>) -> Subscription<E>;
}

/// A subscription: call [`Subscription::next`] in a loop.
pub struct Subscription<E> {
    backlog: VecDeque<Arc<Envelope<E>>>,
    live: broadcast::Receiver<Arc<Envelope<E>>>,
    last: u64,
    gap_first: bool,
}

impl<E: Clone + Send + Sync + 'static> Subscription<E> {
    /// The next delivery; `None` when the bus is gone.
    pub async fn next(&mut self) -> Option<Delivery<E>> {
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

    /// The id of the last event delivered.
    pub fn last_id(&self) -> u64 {
        self.last
    }
}

/// The in-process bus: a ring of recent events for resumption and a broadcast channel for live
/// delivery. A slow subscriber never slows publishers: it lags, is told so, and resumes from the
/// ring.
pub struct LocalBus<E> {
    inner: Mutex<Ring<E>>,
    live: broadcast::Sender<Arc<Envelope<E>>>,
    next_id: AtomicU64,
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
        }
    }
}

impl<E: Clone + Send + Sync + 'static> EventBus<E> for LocalBus<E> {
    fn publish(&self, municipality: Option<Id>, event: E) -> u64 {
        // The lock orders ids, the ring and the channel identically.
        let mut ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let env = Arc::new(Envelope { id, municipality, event });
        if ring.events.len() == ring.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(env.clone());
        let _ = self.live.send(env);
        id
    }

    fn subscribe(&self, after: Option<u64>) -> Subscription<E> {
        let ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.live.subscribe();
        let current = self.next_id.load(Ordering::SeqCst);
        match after {
            None => Subscription { backlog: VecDeque::new(), live, last: current, gap_first: false },
            Some(after) => {
                let oldest = ring.events.front().map(|e| e.id).unwrap_or(current + 1);
                let backlog: VecDeque<_> = ring.events.iter().filter(|e| e.id > after).cloned().collect();
                // Events between `after` and the oldest retained one are gone.
                let gap = after + 1 < oldest && after < current;
                Subscription { backlog, live, last: after, gap_first: gap }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    async fn resume_gets_everything_missed_and_nothing_twice() {
        let bus = LocalBus::new(100, 100);
        let mut sub = bus.subscribe(None);
        let first = bus.publish(None, 1);
        bus.publish(None, 2);
        assert_eq!(take(&mut sub, 2).await, vec![1, 2]);
        drop(sub);
        bus.publish(None, 3);
        bus.publish(None, 4);
        let mut again = bus.subscribe(Some(first + 1));
        bus.publish(None, 5);
        assert_eq!(take(&mut again, 3).await, vec![3, 4, 5]);
    }

    #[tokio::test]
    async fn ids_increase() {
        let bus = LocalBus::new(10, 10);
        let a = bus.publish(None, 1u32);
        let b = bus.publish(None, 2u32);
        assert!(b > a);
    }

    #[tokio::test]
    async fn a_resume_older_than_the_window_is_told_of_the_gap() {
        let bus = LocalBus::new(2, 100);
        let first = bus.publish(None, 1u32);
        bus.publish(None, 2);
        bus.publish(None, 3);
        bus.publish(None, 4);
        let mut sub = bus.subscribe(Some(first));
        assert!(matches!(sub.next().await, Some(Delivery::Gap { .. })));
        assert_eq!(take(&mut sub, 2).await, vec![3, 4]);
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged_and_never_blocks_publishers() {
        let bus = LocalBus::new(1000, 16);
        let mut sub = bus.subscribe(None);
        for i in 0..100u32 {
            bus.publish(None, i);
        }
        assert!(matches!(sub.next().await, Some(Delivery::Gap { .. })));
        let last = sub.last_id();
        let mut resumed = bus.subscribe(Some(last));
        assert_eq!(take(&mut resumed, 100).await, (0..100).collect::<Vec<_>>());
    }
}
