//! The NATS JetStream engine of [`EventBus`]: the bus of a region, shared by every Polis node.
//!
//! One JetStream stream holds the retained events (a limit on their number, the oldest dropped
//! first, replicated over the NATS cluster); the stream's sequence number is the event id, so
//! every node gives an event the same id and a console that resumes with its last id on another
//! node gets exactly what it missed. Subjects are `<prefix>.<municipality or _>`; the payload is
//! the event's serde form with its municipality. See `docs/design/0006-event-bus.md`.
//!
//! Publishing waits for the server's acknowledgement (the event is stored on a quorum of the
//! stream's replicas when it returns); the application does not wait for it: [`crate::bus::Bus`]
//! queues events for this engine in its ordered outbox.

use crate::bus::{Delivery, Envelope, EventBus, Subscription};
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use polis_base::{Error, Result};
use polis_domain::Id;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a [`NatsBus`] is set up.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// `nats://host:port`, several separated by commas (the client fails over between them).
    pub url: String,
    /// The JetStream stream's name, e.g. `POLIS_EVENTS`.
    pub stream: String,
    /// The subject prefix, e.g. `polis.events`.
    pub subject_prefix: String,
    /// How many events the stream retains for consoles that resume.
    pub retain: usize,
    /// Copies of the stream in the cluster (1 on a single server, 3 in a three-server cluster).
    pub replicas: usize,
}

impl NatsOptions {
    /// The defaults for a region: stream `POLIS_EVENTS`, 100,000 events, `replicas` copies.
    pub fn region(url: impl Into<String>, replicas: usize) -> Self {
        NatsOptions {
            url: url.into(),
            stream: "POLIS_EVENTS".into(),
            subject_prefix: "polis.events".into(),
            retain: 100_000,
            replicas,
        }
    }
}

/// The JetStream engine.
pub struct NatsBus<E> {
    js: jetstream::Context,
    stream: String,
    prefix: String,
    /// This process's prefix for message ids (random per connection).
    origin: String,
    counter: AtomicU64,
    _events: PhantomData<fn() -> E>,
}

/// How long a publication is retried (a cluster electing a new leader takes a few seconds).
const PUBLISH_PATIENCE: Duration = Duration::from_secs(20);
/// How long creating a subscriber is retried: after a server's death the cluster's JetStream
/// meta leader is elected again (seen: 12 s on a loaded two-core machine), and consumers cannot
/// be created meanwhile.
const SUBSCRIBE_PATIENCE: Duration = Duration::from_secs(40);
/// How long a subscriber waits for its next event before checking that its consumer has not
/// stalled (a consumer on a server that died may neither deliver nor fail).
const IDLE_PROBE: Duration = Duration::from_secs(3);

/// What travels in a message's payload.
#[derive(Serialize, serde::Deserialize)]
struct Wire<E> {
    municipality: Option<Id>,
    event: E,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("event bus: {what}: {e}"))
}

impl<E> NatsBus<E> {
    /// Connects and creates the stream if it does not exist yet (its limits are those of
    /// whoever created it first).
    pub async fn connect(opts: &NatsOptions) -> Result<Self> {
        let js = jetstream::new(connect_client(&opts.url).await?);
        let config = stream::Config {
            name: opts.stream.clone(),
            subjects: vec![format!("{}.>", opts.subject_prefix)],
            max_messages: i64::try_from(opts.retain).unwrap_or(i64::MAX),
            discard: stream::DiscardPolicy::Old,
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            num_replicas: opts.replicas.max(1),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        js.get_or_create_stream(config).await.map_err(|e| unavailable("cannot open the event stream", e))?;
        let origin = format!("{:016x}", rand::random::<u64>());
        Ok(NatsBus {
            js,
            stream: opts.stream.clone(),
            prefix: opts.subject_prefix.clone(),
            origin,
            counter: AtomicU64::new(0),
            _events: PhantomData,
        })
    }

    fn subject(&self, municipality: Option<&Id>) -> String {
        match municipality {
            Some(m) => format!("{}.{}", self.prefix, subject_token(m.as_str())),
            None => format!("{}._", self.prefix),
        }
    }

    async fn follow_from(&self, start_sequence: u64) -> Result<consumer::pull::Ordered> {
        follow(&self.js, &self.stream, start_sequence).await
    }

    /// The stream's first and last sequence numbers now.
    async fn bounds(&self) -> Result<(u64, u64)> {
        let mut s = self.js.get_stream(&self.stream).await.map_err(|e| unavailable("no event stream", e))?;
        let info = s.info().await.map_err(|e| unavailable("cannot read the event stream", e))?;
        Ok((info.state.first_sequence, info.state.last_sequence))
    }
}

/// A client of the servers of `url` (comma-separated), failing over between them.
async fn connect_client(url: &str) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name("polis")
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(server_list(url))
        .await
        .map_err(|e| unavailable("cannot connect to NATS", e))
}

/// Publishes `payload` on `subject` and waits for the stream's acknowledgement, retrying for
/// [`PUBLISH_PATIENCE`] (a cluster electing a new leader); `msg_id` makes a retry after a lost
/// acknowledgement store the message once. Returns the message's stream sequence.
async fn publish_retried(js: &jetstream::Context, subject: &str, payload: bytes::Bytes, msg_id: &str) -> Result<u64> {
    let deadline = tokio::time::Instant::now() + PUBLISH_PATIENCE;
    let mut delay = Duration::from_millis(50);
    loop {
        let attempt = async {
            js.send_publish(
                subject.to_string(),
                jetstream::message::PublishMessage::build().payload(payload.clone()).message_id(msg_id),
            )
            .await
            .map_err(|e| unavailable("publish", e))?
            .await
            .map_err(|e| unavailable("publish not acknowledged", e))
        };
        match attempt.await {
            Ok(ack) => return Ok(ack.sequence),
            Err(e) if tokio::time::Instant::now() + delay < deadline => {
                tracing::debug!(error = %e, "event bus: publish retried");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A JetStream work queue shared by the nodes of a region: any node pushes items, one consumer
/// at a time takes them, strictly in order (one item in flight: the next is delivered only once
/// the last was acknowledged), and an item leaves the queue only when its handler succeeded. A
/// consumer that dies mid-item leaves it to the next one, after [`WORK_ACK_WAIT`].
pub struct WorkQueue<T> {
    js: jetstream::Context,
    stream: String,
    subject: String,
    origin: String,
    counter: AtomicU64,
    _items: PhantomData<fn() -> T>,
}

/// How long an item taken by a consumer that went silent waits before another consumer gets it.
pub const WORK_ACK_WAIT: Duration = Duration::from_secs(5);

impl<T: Serialize + DeserializeOwned + Clone> WorkQueue<T> {
    /// Connects and creates the queue's stream (`name`, subject `subject`) if it does not exist.
    pub async fn connect(url: &str, name: &str, subject: &str, replicas: usize) -> Result<Self> {
        let js = jetstream::new(connect_client(url).await?);
        let config = stream::Config {
            name: name.to_string(),
            subjects: vec![subject.to_string()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: replicas.max(1),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        js.get_or_create_stream(config).await.map_err(|e| unavailable("cannot open the work queue", e))?;
        Ok(WorkQueue {
            js,
            stream: name.to_string(),
            subject: subject.to_string(),
            origin: format!("{:016x}", rand::random::<u64>()),
            counter: AtomicU64::new(0),
            _items: PhantomData,
        })
    }

    /// Whether the queue's stream answers now (within 2 s): a node that cannot reach it cannot
    /// take readings.
    pub async fn reachable(&self) -> Result<()> {
        let probe = async {
            let mut s = self.js.get_stream(&self.stream).await.map_err(|e| unavailable("no work queue", e))?;
            s.info().await.map_err(|e| unavailable("cannot read the work queue", e)).map(|_| ())
        };
        tokio::time::timeout(Duration::from_secs(2), probe)
            .await
            .unwrap_or_else(|_| Err(Error::unavailable("event bus: the NATS cluster did not answer within 2 s")))
    }

    /// Adds an item; returns once the queue holds it (replicated).
    pub async fn push(&self, item: &T) -> Result<()> {
        let payload: bytes::Bytes =
            serde_json::to_vec(item).map_err(|e| Error::internal(format!("work item not serialisable: {e}")))?.into();
        let msg_id = format!("{}-{}", self.origin, self.counter.fetch_add(1, Ordering::Relaxed));
        publish_retried(&self.js, &self.subject, payload, &msg_id).await.map(|_| ())
    }

    /// Takes the items in order as the consumer `durable` and hands each to `handle`, again and
    /// again (a second apart) until it succeeds; runs until the task is dropped.
    pub async fn serve<F, Fut>(&self, durable: &str, mut handle: F)
    where
        F: FnMut(T) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        loop {
            let messages = match self.take(durable).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "work queue: cannot take items; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut messages = Box::pin(messages);
            while let Some(next) = messages.next().await {
                let message = match next {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "work queue: consumer failed; taking again");
                        break;
                    }
                };
                match serde_json::from_slice::<T>(&message.payload) {
                    Ok(item) => {
                        while let Err(e) = handle(item.clone()).await {
                            tracing::warn!(error = %e, "work queue: an item failed; trying it again");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "work queue: an unreadable item dropped"),
                }
                if let Err(e) = message.double_ack().await {
                    tracing::warn!(error = %e, "work queue: acknowledgement lost (the item may come again)");
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn take(&self, durable: &str) -> Result<consumer::pull::Stream> {
        let s = self.js.get_stream(&self.stream).await.map_err(|e| unavailable("no work queue", e))?;
        let consumer = s
            .get_or_create_consumer(
                durable,
                consumer::pull::Config {
                    durable_name: Some(durable.to_string()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: WORK_ACK_WAIT,
                    max_ack_pending: 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| unavailable("cannot take from the work queue", e))?;
        consumer.messages().await.map_err(|e| unavailable("cannot take from the work queue", e))
    }
}

/// An ordered consumer of `stream` from `start_sequence` on.
async fn follow(js: &jetstream::Context, stream: &str, start_sequence: u64) -> Result<consumer::pull::Ordered> {
    let s = js.get_stream(stream).await.map_err(|e| unavailable("no event stream", e))?;
    let consumer = s
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence },
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable("cannot follow the event stream", e))?;
    consumer.messages().await.map_err(|e| unavailable("cannot follow the event stream", e))
}

/// The servers of a comma-separated list (`nats://a:4222,nats://b:4222`): the client connects to
/// one and fails over to the others.
pub fn server_list(urls: &str) -> Vec<String> {
    urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string).collect()
}

/// A subject token for a municipality id: ids are lower-case letters, digits and `-`, which NATS
/// takes as they are; anything else (never expected) becomes `_`.
fn subject_token(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

#[async_trait::async_trait]
impl<E> EventBus<E> for NatsBus<E>
where
    E: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    async fn publish(&self, municipality: Option<Id>, event: E) -> Result<u64> {
        let subject = self.subject(municipality.as_ref());
        let payload: bytes::Bytes = serde_json::to_vec(&Wire { municipality, event })
            .map_err(|e| Error::internal(format!("event not serialisable: {e}")))?
            .into();
        // One id per event for the server's de-duplication: a retry after a lost
        // acknowledgement (a server of the cluster died) stores the event once.
        let msg_id = format!("{}-{}", self.origin, self.counter.fetch_add(1, Ordering::Relaxed));
        publish_retried(&self.js, &subject, payload, &msg_id).await
    }

    async fn subscribe(&self, after: Option<u64>) -> Result<Subscription<E>> {
        let deadline = tokio::time::Instant::now() + SUBSCRIBE_PATIENCE;
        let (first, last) = loop {
            match self.bounds().await {
                Ok(b) => break b,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "event bus: reading the stream again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let start = after.unwrap_or(last);
        // Some of what the subscriber asked for is gone: it starts with a gap.
        let gap = after.is_some() && first > 0 && start.saturating_add(1) < first && last >= first;
        let from = if gap { first } else { start.saturating_add(1) };
        // Creating the consumer can time out while the cluster moves a stream's leader (a server
        // died): retry for a while before giving up.
        let messages = loop {
            match self.follow_from(from.max(1)).await {
                Ok(m) => break m,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "event bus: subscribing again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let js = self.js.clone();
        let name = self.stream.clone();
        let again: Arc<dyn Fn(u64) -> futures::future::BoxFuture<'static, Result<Messages>> + Send + Sync> =
            Arc::new(move |from: u64| {
                let (js, name) = (js.clone(), name.clone());
                Box::pin(async move { Ok(Box::pin(follow(&js, &name, from).await?) as Messages) })
            });
        let (js, name) = (self.js.clone(), self.stream.clone());
        let last_sequence: Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<u64>> + Send + Sync> =
            Arc::new(move || {
                let (js, name) = (js.clone(), name.clone());
                Box::pin(async move {
                    let mut s = js.get_stream(&name).await.map_err(|e| unavailable("no event stream", e))?;
                    let info = s.info().await.map_err(|e| unavailable("cannot read the event stream", e))?;
                    Ok(info.state.last_sequence)
                })
            });
        let state = Follow::<E> {
            again,
            last_sequence,
            messages: Box::pin(messages) as Messages,
            last: start,
            resume_from: from.max(1),
            pending_gap: gap,
            stash: None,
            _events: PhantomData,
        };
        let stream = futures::stream::unfold(state, |mut st| async move { st.next().await.map(|d| (d, st)) });
        Ok(Subscription::new(stream, start))
    }
}

type Messages = std::pin::Pin<
    Box<dyn futures::Stream<Item = std::result::Result<jetstream::Message, consumer::pull::OrderedError>> + Send>,
>;

/// One subscriber's position in the stream.
struct Follow<E> {
    messages: Messages,
    /// How to follow the stream again from a sequence (after the consumer failed).
    again: Arc<dyn Fn(u64) -> futures::future::BoxFuture<'static, Result<Messages>> + Send + Sync>,
    /// The stream's last sequence now (to find a consumer that stalled without failing).
    last_sequence: Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<u64>> + Send + Sync>,
    last: u64,
    /// The first sequence the consumer reads.
    resume_from: u64,
    pending_gap: bool,
    /// The event found after a gap, delivered right after the gap.
    stash: Option<Arc<Envelope<E>>>,
    _events: PhantomData<fn() -> E>,
}

impl<E: DeserializeOwned> Follow<E> {
    async fn next(&mut self) -> Option<Delivery<E>> {
        if let Some(envelope) = self.stash.take() {
            return Some(Delivery::Event(envelope));
        }
        if self.pending_gap {
            self.pending_gap = false;
            let last_id = self.last;
            self.last = self.resume_from.saturating_sub(1);
            return Some(Delivery::Gap { last_id });
        }
        loop {
            let next = match tokio::time::timeout(IDLE_PROBE, self.messages.next()).await {
                Ok(next) => next?,
                Err(_) => {
                    // Nothing for a while: either nothing was published, or the consumer stalled
                    // without failing (its server died while the cluster moved the stream). The
                    // stream's last sequence tells which; a stalled consumer is followed again.
                    match (self.last_sequence)().await {
                        Ok(last) if last > self.last => {
                            tracing::warn!(
                                last,
                                delivered = self.last,
                                "event stream: consumer stalled; following again"
                            );
                            if let Ok(m) = (self.again)(self.last + 1).await {
                                self.messages = m;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::debug!(error = %e, "event stream: cannot read the stream's end"),
                    }
                    continue;
                }
            };
            let message = match next {
                Ok(m) => m,
                Err(e) => {
                    // The consumer is gone or stalled (its server died): follow again from the
                    // next sequence on whichever server now has the stream.
                    tracing::warn!(error = %e, "event stream: consumer failed; following again");
                    loop {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        match (self.again)(self.last + 1).await {
                            Ok(m) => {
                                self.messages = m;
                                break;
                            }
                            Err(e) => tracing::warn!(error = %e, "event stream: following again failed"),
                        }
                    }
                    continue;
                }
            };
            let seq = match message.info() {
                Ok(info) => info.stream_sequence,
                Err(e) => {
                    tracing::warn!(error = %e, "event stream: message without metadata skipped");
                    continue;
                }
            };
            if seq <= self.last {
                continue; // already delivered (a consumer recreated after a hiccup)
            }
            let wire: Wire<E> = match serde_json::from_slice(&message.payload) {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, seq, "event stream: unreadable event skipped");
                    self.last = seq;
                    continue;
                }
            };
            if seq > self.last + 1 && self.last > 0 {
                // Events between were dropped by the stream's limits before this subscriber
                // read them: say so, then deliver this one next time.
                let last_id = self.last;
                self.last = seq;
                let envelope = Arc::new(Envelope { id: seq, municipality: wire.municipality, event: wire.event });
                self.stash = Some(envelope);
                return Some(Delivery::Gap { last_id });
            }
            self.last = seq;
            return Some(Delivery::Event(Arc::new(Envelope {
                id: seq,
                municipality: wire.municipality,
                event: wire.event,
            })));
        }
    }
}
