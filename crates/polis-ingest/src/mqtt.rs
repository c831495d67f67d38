//! MQTT intake: subscribes to `<prefix>/+/sensors/+/obs` on a broker and delivers to a [`Sink`].
//!
//! Nothing is lost on the way: the subscription is QoS 1 in a persistent MQTT 5 session
//! (`clean_start = false`, a session that never expires, a fixed client id) with manual
//! acknowledgements. A PUBACK goes back
//! to the broker only after [`Sink::ingest`] returned `Ok`, i.e. once the data is durable; until
//! then the broker keeps the message and sends it again after a reconnect or a restart of Polis.
//! The price is duplicates after such events (delivery is at least once).
//!
//! Two tasks share the work. The connection task polls the `rumqttc` event loop, which must
//! never block: it reconnects with a short jittered backoff (0.02 s doubling to at most 0.05 s,
//! each delay scaled by a random factor in `[0.5, 1]`), re-subscribes when the broker lost the
//! session, and passes each PUBLISH on. The cap is low on purpose: while Polis is away the
//! broker queues its messages only up to `max_queued_messages` (1000 by default in Mosquitto),
//! and sensors that come back with the broker send their backlog at once; a refused TCP connect
//! costs nothing. A broker that refuses Polis, or connections that keep ending within seconds,
//! are retried every 1 s doubling to 10 s instead. The delivery task takes every message
//! waiting (up to [`MAX_BATCH_MESSAGES`]), parses them, hands them to the sink grouped by
//! municipality, and then acknowledges them in the order they came. A message that cannot be
//! parsed is logged (200 bytes of it at most) and acknowledged with its round, so that it
//! cannot come back forever; so is one the sink refuses for good. If the
//! delivery task panics, the connection is dropped and opened again, so the broker redelivers
//! what it had in hand.
//!
//! Throughput: an MQTT 3.1.1 client gets at most the broker's `max_inflight_messages` (20 by
//! default in Mosquitto) unacknowledged messages at a time, and the rest wait in its queue of
//! `max_queued_messages` (1000), beyond which the broker drops them: with acknowledgements after
//! a durable write, a backlog arriving faster than 20 per store round overflowed it. So the
//! intake speaks MQTT 5 and announces a receive maximum of 65,535 ([`RECEIVE_MAXIMUM`]), which
//! Mosquitto uses instead of its own limit: the broker sends everything at once, the delivery
//! task stores what waits in one round (up to [`MAX_BATCH_MESSAGES`]) and acknowledges it. What
//! is still bounded by the broker is what it keeps while Polis is not connected at all
//! (`max_queued_messages`), hence the short reconnect delay.

use crate::{excerpt, is_transient, Backoff, RawObservation, Sink};
use polis_base::{Error, Result};
use polis_domain::registry::Secret;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::Outgoing;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// At most this many messages go to the sink in one round.
pub const MAX_BATCH_MESSAGES: usize = 1000;
/// Largest accepted MQTT packet: the protocol's own maximum. rumqttc drops the connection on a
/// larger packet, and the broker would send the same message again on every reconnect, so a
/// lower limit here would turn one big message into an endless loop. Cap sizes at the broker
/// instead (Mosquitto's `message_size_limit`).
pub const MAX_PACKET_BYTES: usize = 268_435_455 + 5;
/// A connection that lived this long starts the reconnect backoff afresh when it drops; when
/// [`FLAPPING`] in a row drop sooner (e.g. a second Polis with the same client id taking the
/// session over), the slow delays apply.
const STABLE_CONNECTION: Duration = Duration::from_secs(10);
/// How much of a malformed payload may appear in a log line.
const LOG_PAYLOAD_BYTES: usize = 200;

const RECONNECT_MIN: Duration = Duration::from_millis(20);
/// The longest wait between connection attempts while the broker is down (its port refuses
/// connections): the intake is back within this long (and the connect itself) of the broker's
/// return. Short, because what the broker receives for Polis while Polis is not connected is
/// kept only up to its `max_queued_messages` (1000 by default), and sensors that come back
/// with the broker send what they kept at once, thousands a second: Polis must be connected
/// before they are. A refused TCP connect 20 to 40 times a second costs nothing.
pub const RECONNECT_MAX: Duration = Duration::from_millis(50);
/// A broker that refuses the connection (credentials, client id) is asked again only this
/// often, doubling from the first to the second; so are connections that ended within
/// [`STABLE_CONNECTION`] [`FLAPPING`] times in a row.
const SLOW_RECONNECT_MIN: Duration = Duration::from_secs(1);
const SLOW_RECONNECT_MAX: Duration = Duration::from_secs(10);
/// Connections in a row that ended within [`STABLE_CONNECTION`] before the slow delays apply
/// (two broker restarts a few seconds apart are not flapping).
const FLAPPING: u32 = 3;
/// MQTT 5's receive maximum: how many QoS 1 messages the broker may have in flight to Polis
/// (unacknowledged). It replaces the broker's own limit (Mosquitto's `max_inflight_messages`,
/// 20 by default), beyond which messages wait in the broker's queue for Polis, which holds at
/// most `max_queued_messages` (1000) and drops the rest: with 20 in flight, a backlog that
/// arrives faster than Polis stores 20 at a time overflowed it.
pub const RECEIVE_MAXIMUM: u16 = u16::MAX;
/// MQTT 5's session expiry interval that means "never": the broker keeps Polis's session (its
/// subscription and the messages for it) however long Polis is away, as MQTT 3.1.1 did.
const SESSION_NEVER_EXPIRES: u32 = u32::MAX;
const SINK_RETRY_MIN: Duration = Duration::from_millis(200);
const SINK_RETRY_MAX: Duration = Duration::from_secs(5);

/// Where and how to subscribe. Build it with [`MqttConfig::from_url`].
#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// The broker URL without credentials, for logs: `mqtt://HOST:PORT`.
    pub url: String,
    pub host: String,
    pub port: u16,
    /// Names the persistent session at the broker: keep it stable across restarts, and give
    /// each Polis process its own.
    pub client_id: String,
    /// The first topic level, `polis` by default.
    pub topic_prefix: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub keep_alive: Duration,
    /// In a region: the MQTT shared subscription group (`$share/GROUP/...`) the nodes form, so
    /// that the broker gives each message to one node of the group.
    pub share_group: Option<String>,
}

impl MqttConfig {
    /// Parses `mqtt://[USER[:PASSWORD]@]HOST[:PORT][?client_id=ID&topic_prefix=PREFIX]`.
    /// The port defaults to 1883, the client id to `polis`, the prefix to `polis`.
    /// `tcp://` is accepted as a synonym; TLS (`mqtts://`) is not supported yet.
    pub fn from_url(url: &str) -> Result<MqttConfig> {
        const FIELD: &str = "mqtt_url";
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::invalid(FIELD, "must be a URL like mqtt://HOST:PORT, e.g. mqtt://127.0.0.1:1883"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => {}
            "mqtts" | "ssl" | "tls" | "wss" => {
                return Err(Error::invalid(FIELD, "TLS brokers are not supported yet: use mqtt://HOST:PORT"))
            }
            _ => return Err(Error::invalid(FIELD, format!("unknown scheme {scheme:?}: use mqtt://HOST:PORT"))),
        }
        let (authority_path, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = match authority_path.split_once('/') {
            Some((a, "")) => a,
            Some(_) => return Err(Error::invalid(FIELD, "must not have a path: use mqtt://HOST:PORT")),
            None => authority_path,
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport)?;

        let (username, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(Secret::new(p))),
                    None => (ui, None),
                };
                if u.is_empty() {
                    return Err(Error::invalid(FIELD, "the user name before '@' is empty"));
                }
                (Some(u.to_string()), p)
            }
        };

        let mut client_id = "polis".to_string();
        let mut topic_prefix = "polis".to_string();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "client_id" => client_id = v.to_string(),
                "topic_prefix" => topic_prefix = v.to_string(),
                _ => {
                    return Err(Error::invalid(
                        FIELD,
                        format!("unknown parameter {k:?}; expected client_id or topic_prefix"),
                    ))
                }
            }
        }
        let config = MqttConfig {
            url: format!("mqtt://{hostport}"),
            host,
            port,
            client_id,
            topic_prefix,
            username,
            password,
            keep_alive: Duration::from_secs(15),
            share_group: None,
        };
        config.check()?;
        Ok(config)
    }

    /// For a node of a region: its own session (`CLIENT_ID-NODE`, so nodes never take each
    /// other's session over) in a shared subscription named after the client id, so that each
    /// message goes to one node.
    pub fn for_region_node(mut self, node_id: &str) -> Result<MqttConfig> {
        self.share_group = Some(self.client_id.clone());
        self.client_id = format!("{}-{node_id}", self.client_id);
        self.check()?;
        Ok(self)
    }

    /// Replaces the client id (e.g. from a config file), checking it.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Result<MqttConfig> {
        self.client_id = client_id.into();
        self.check()?;
        Ok(self)
    }

    /// Replaces the topic prefix, checking it.
    pub fn with_topic_prefix(mut self, prefix: impl Into<String>) -> Result<MqttConfig> {
        self.topic_prefix = prefix.into();
        self.check()?;
        Ok(self)
    }

    fn check(&self) -> Result<()> {
        let id_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        if !id_ok(&self.client_id) {
            return Err(Error::invalid("client_id", "must be 1 to 64 characters of letters, digits, '.', '_' and '-'"));
        }
        let p = &self.topic_prefix;
        if p.is_empty() || p.starts_with('/') || p.ends_with('/') || p.contains(['+', '#', '\0']) || p.contains("//") {
            return Err(Error::invalid(
                "topic_prefix",
                "must be one or more non-empty topic levels without wildcards, e.g. polis",
            ));
        }
        Ok(())
    }

    /// The subscription: `<prefix>/+/sensors/+/obs`.
    pub fn topic_filter(&self) -> String {
        match &self.share_group {
            Some(g) => format!("$share/{g}/{}/+/sensors/+/obs", self.topic_prefix),
            None => format!("{}/+/sensors/+/obs", self.topic_prefix),
        }
    }

    fn options(&self) -> MqttOptions {
        let mut o = MqttOptions::new(self.client_id.clone(), self.host.clone(), self.port);
        o.set_keep_alive(self.keep_alive)
            .set_clean_start(false)
            .set_session_expiry_interval(Some(SESSION_NEVER_EXPIRES))
            .set_receive_maximum(Some(RECEIVE_MAXIMUM))
            .set_manual_acks(true)
            .set_max_packet_size(Some(MAX_PACKET_BYTES as u32));
        if let Some(u) = &self.username {
            let p = self.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
            o.set_credentials(u.clone(), p);
        }
        o
    }
}

fn split_host_port(hostport: &str) -> Result<(String, u16)> {
    const FIELD: &str = "mqtt_url";
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        // [IPv6]:port
        let (h, after) =
            rest.split_once(']').ok_or_else(|| Error::invalid(FIELD, "an IPv6 address must be closed with ']'"))?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or_else(|| Error::invalid(FIELD, "expected ':' after ']'"))?)),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '[' | ']')) {
        return Err(Error::invalid(FIELD, "the URL has no valid host: use mqtt://HOST:PORT"));
    }
    let port = match port {
        None => 1883,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(Error::invalid(FIELD, format!("port {p:?} is not a number from 1 to 65535"))),
        },
    };
    Ok((host.to_string(), port))
}

/// Health of the MQTT intake, for a status page and the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MqttStatus {
    /// Whether the broker accepted the connection and it has not failed since.
    pub connected: bool,
    /// Whether the broker holds our subscription (confirmed, or kept in the resumed session).
    pub subscribed: bool,
    /// Successful connections after the first one.
    pub reconnects: u64,
    /// PUBLISH messages received (redeliveries included).
    pub received: u64,
    /// Observations handed to the sink and accepted by it.
    pub delivered: u64,
    /// Messages (or array items) dropped because they could not be read.
    pub malformed: u64,
    /// Messages acknowledged to the broker.
    pub acked: u64,
    /// The last connection or sink error, kept after recovery for the record.
    pub last_error: Option<String>,
}

/// A running MQTT intake, from [`spawn`].
#[derive(Debug)]
pub struct MqttHandle {
    /// The current health; `changed()` wakes on every update.
    pub status: watch::Receiver<MqttStatus>,
    /// Ends once the shutdown future passed to [`spawn`] has completed and the intake stopped.
    pub task: JoinHandle<()>,
}

/// Starts the intake as a task; see [`run`].
pub fn spawn(
    config: MqttConfig,
    sink: Arc<dyn Sink>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> MqttHandle {
    let (tx, rx) = watch::channel(MqttStatus::default());
    let task = tokio::spawn(run_with_status(config, sink, Arc::new(tx), shutdown));
    MqttHandle { status: rx, task }
}

/// Subscribes and delivers until `shutdown` completes. Never gives up on the broker: connection
/// failures are logged and retried with backoff.
pub async fn run(config: MqttConfig, sink: Arc<dyn Sink>, shutdown: impl Future<Output = ()>) {
    let (tx, _rx) = watch::channel(MqttStatus::default());
    run_with_status(config, sink, Arc::new(tx), shutdown).await
}

type StatusTx = Arc<watch::Sender<MqttStatus>>;

/// The connection to the broker and the delivery task working for it.
struct Session {
    client: AsyncClient,
    eventloop: EventLoop,
    to_worker: mpsc::UnboundedSender<Publish>,
    worker: JoinHandle<()>,
    stop_worker: watch::Sender<bool>,
}

impl Session {
    fn open(config: &MqttConfig, sink: &Arc<dyn Sink>, status: &StatusTx) -> Session {
        let (client, eventloop) = AsyncClient::new(config.options(), 1024);
        let (to_worker, from_poller) = mpsc::unbounded_channel();
        let (stop_worker, stop) = watch::channel(false);
        let worker = Worker {
            client: client.clone(),
            sink: sink.clone(),
            prefix: config.topic_prefix.clone(),
            status: status.clone(),
            stop,
        };
        let worker = tokio::spawn(worker.run(from_poller));
        Session { client, eventloop, to_worker, worker, stop_worker }
    }
}

async fn run_with_status(
    config: MqttConfig,
    sink: Arc<dyn Sink>,
    status: StatusTx,
    shutdown: impl Future<Output = ()>,
) {
    let filter = config.topic_filter();
    tracing::info!(url = %config.url, client_id = %config.client_id, topic = %filter, "mqtt intake starting");
    let mut session = Session::open(&config, &sink, &status);
    let mut backoff = Backoff::new(RECONNECT_MIN, RECONNECT_MAX);
    // For a broker that refuses Polis, and for connections that keep ending soon after they
    // began (e.g. a second Polis with the same client id taking the session over).
    let mut slow = Backoff::new(SLOW_RECONNECT_MIN, SLOW_RECONNECT_MAX);
    let mut short_lived = 0u32;
    let mut ever_connected = false;
    let mut subscribe_pending = false;
    let mut had_subscription = false;
    let mut connected_at: Option<tokio::time::Instant> = None;
    let mut failures_in_row = 0u64;
    let mut last_warned: Option<tokio::time::Instant> = None;
    tokio::pin!(shutdown);

    loop {
        if subscribe_pending {
            match session.client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                Ok(()) => subscribe_pending = false,
                Err(e) => tracing::warn!(error = %e, "mqtt: could not queue the subscription yet"),
            }
        }
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            joined = &mut session.worker => {
                let why = match joined {
                    Err(e) if e.is_panic() => "the delivery task panicked",
                    _ => "the delivery task stopped",
                };
                tracing::error!("mqtt: {why}; reconnecting so that the broker redelivers its messages");
                status.send_modify(|s| {
                    s.connected = false;
                    s.subscribed = false;
                    s.last_error = Some(why.to_string());
                });
                session = Session::open(&config, &sink, &status);
                subscribe_pending = false;
                connected_at = None;
                if sleep_or_shutdown(backoff.next_jittered(), &mut shutdown).await {
                    break;
                }
            }
            event = session.eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    // Mosquitto keeps the subscription in a persistent session; subscribe anew
                    // when it does not have one (first start, or a broker that lost its state).
                    if !ever_connected || !ack.session_present {
                        subscribe_pending = true;
                    }
                    tracing::info!(url = %config.url, session_present = ack.session_present, "mqtt connected");
                    failures_in_row = 0;
                    let reconnect = ever_connected;
                    ever_connected = true;
                    connected_at = Some(tokio::time::Instant::now());
                    let resubscribing = subscribe_pending;
                    status.send_modify(|s| {
                        s.connected = true;
                        s.subscribed = had_subscription && !resubscribing;
                        if reconnect {
                            s.reconnects += 1;
                        }
                    });
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    status.send_modify(|s| s.received += 1);
                    if let Err(e) = session.to_worker.send(p) {
                        // Only if the worker is gone; the join branch reopens the session and
                        // the broker redelivers.
                        let topic = excerpt(&e.0.topic, LOG_PAYLOAD_BYTES);
                        tracing::warn!(%topic, "mqtt: delivery task gone; message left to the broker");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if ack.return_codes.iter().any(|c| !matches!(c, SubscribeReasonCode::Success(_))) {
                        tracing::error!(topic = %filter, "mqtt: the broker refused the subscription");
                        status.send_modify(|s| s.last_error = Some(format!("subscription to {filter} refused")));
                    } else {
                        tracing::info!(topic = %filter, "mqtt subscribed");
                        had_subscription = true;
                        status.send_modify(|s| s.subscribed = true);
                    }
                }
                Ok(Event::Outgoing(Outgoing::PubAck(_))) => status.send_modify(|s| s.acked += 1),
                Ok(_) => {}
                Err(e) => {
                    match connected_at.take() {
                        Some(t) if t.elapsed() >= STABLE_CONNECTION => {
                            backoff.reset();
                            slow.reset();
                            short_lived = 0;
                        }
                        Some(_) => short_lived += 1,
                        None => {}
                    }
                    let refused = matches!(e, rumqttc::v5::ConnectionError::ConnectionRefused(_));
                    let delay = if refused || short_lived >= FLAPPING {
                        slow.next_jittered()
                    } else {
                        backoff.next_jittered()
                    };
                    failures_in_row += 1;
                    // Probing many times a second: say so at the first failure and then once a minute.
                    if failures_in_row == 1 || last_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        last_warned = Some(tokio::time::Instant::now());
                        tracing::warn!(url = %config.url, error = %e, failures_in_row, retry_in_ms = delay.as_millis() as u64, "mqtt connection failed");
                    } else {
                        tracing::debug!(url = %config.url, error = %e, failures_in_row, "mqtt connection failed");
                    }
                    status.send_modify(|s| {
                        s.connected = false;
                        s.last_error = Some(format!("connection: {e}"));
                    });
                    if sleep_or_shutdown(delay, &mut shutdown).await {
                        break;
                    }
                }
            }
        }
    }

    // Shutting down: let the delivery task finish the round it is in (its acks still go out),
    // then say goodbye to the broker. Whatever is not acknowledged is redelivered next time.
    let _ = session.stop_worker.send(true);
    drop(session.to_worker);
    let connected = status.borrow().connected;
    if connected {
        let deadline = tokio::time::sleep(Duration::from_secs(3));
        tokio::pin!(deadline);
        let mut worker_done = false;
        loop {
            tokio::select! {
                () = &mut deadline => break,
                _ = &mut session.worker, if !worker_done => {
                    worker_done = true;
                    if session.client.try_disconnect().is_err() {
                        break;
                    }
                }
                event = session.eventloop.poll() => match event {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(Event::Outgoing(Outgoing::PubAck(_))) => status.send_modify(|s| s.acked += 1),
                    Ok(_) => {}
                },
            }
        }
    }
    session.worker.abort();
    status.send_modify(|s| s.connected = false);
    tracing::info!("mqtt intake stopped");
}

/// Sleeps, or returns true early if `shutdown` completes.
async fn sleep_or_shutdown<F: Future<Output = ()>>(d: Duration, shutdown: &mut std::pin::Pin<&mut F>) -> bool {
    tokio::select! {
        () = shutdown.as_mut() => true,
        () = tokio::time::sleep(d) => false,
    }
}

/// Takes messages from the connection task, delivers them, acknowledges them.
struct Worker {
    client: AsyncClient,
    sink: Arc<dyn Sink>,
    prefix: String,
    status: StatusTx,
    stop: watch::Receiver<bool>,
}

/// One received message, read.
struct Message {
    municipality: String,
    observations: Vec<RawObservation>,
}

/// The delivery task was told to stop in the middle of a round.
struct Stopped;

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Publish>) {
        loop {
            if *self.stop.borrow() {
                return;
            }
            let first = tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => m,
                    None => return,
                },
                _ = self.stop.changed() => return,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH_MESSAGES {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            if self.deliver(&batch).await.is_err() {
                return;
            }
            // Acknowledge in the order received, as MQTT asks. If the connection dropped
            // meanwhile, rumqttc sends these on the new one, where the broker has redelivered
            // the same packet ids: the ack then settles the copy (which is processed again).
            for p in &batch {
                if self.client.ack(p).await.is_err() {
                    return;
                }
            }
        }
    }

    async fn deliver(&mut self, batch: &[Publish]) -> Result<(), Stopped> {
        let mut malformed = 0u64;
        let messages: Vec<Option<Message>> = batch
            .iter()
            .map(|p| {
                let (m, bad) = read_message(&self.prefix, p);
                malformed += bad;
                m
            })
            .collect();
        if malformed > 0 {
            self.status.send_modify(|s| s.malformed += malformed);
        }
        // Group by municipality, keeping message order within each group.
        let mut groups: BTreeMap<&str, Vec<&Message>> = BTreeMap::new();
        for m in messages.iter().flatten() {
            groups.entry(m.municipality.as_str()).or_default().push(m);
        }
        for (municipality, msgs) in groups {
            match self.offer(municipality, &msgs).await? {
                Ok(n) => self.status.send_modify(|s| s.delivered += n),
                Err(e) if msgs.len() > 1 => {
                    tracing::warn!(municipality, error = %e, "mqtt: sink refused a batch; offering its messages one by one");
                    for m in msgs {
                        match self.offer(municipality, &[m]).await? {
                            Ok(n) => self.status.send_modify(|s| s.delivered += n),
                            Err(e) => self.refused(municipality, &e),
                        }
                    }
                }
                Err(e) => self.refused(municipality, &e),
            }
        }
        Ok(())
    }

    fn refused(&self, municipality: &str, e: &Error) {
        tracing::warn!(municipality, error = %e, kind = e.kind.code(), "mqtt: sink refused a message; dropping it");
        self.status.send_modify(|s| s.last_error = Some(format!("sink refused: {e}")));
    }

    /// Offers the messages' observations to the sink until it takes them or refuses them for
    /// good (`Ok(Err(..))`). Transient failures are retried with backoff.
    async fn offer(&mut self, municipality: &str, msgs: &[&Message]) -> Result<Result<u64, Error>, Stopped> {
        let observations: Vec<RawObservation> = msgs.iter().flat_map(|m| m.observations.iter().cloned()).collect();
        if observations.is_empty() {
            return Ok(Ok(0));
        }
        let n = observations.len() as u64;
        let mut backoff = Backoff::new(SINK_RETRY_MIN, SINK_RETRY_MAX);
        loop {
            match self.sink.ingest(municipality, observations.clone()).await {
                Ok(()) => return Ok(Ok(n)),
                Err(e) if is_transient(e.kind) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(municipality, error = %e, retry_in_ms = delay.as_millis() as u64, "mqtt: sink failed; will retry");
                    self.status.send_modify(|s| s.last_error = Some(format!("sink: {e}")));
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = self.stop.changed() => return Err(Stopped),
                    }
                }
                Err(e) => return Ok(Err(e)),
            }
        }
    }
}

/// Reads one PUBLISH: the topic gives municipality and sensor, the payload one observation or
/// an array of them. Returns the message (None if nothing in it can be used) and how many
/// pieces were malformed.
fn read_message(prefix: &str, p: &Publish) -> (Option<Message>, u64) {
    let topic = excerpt(&p.topic, LOG_PAYLOAD_BYTES);
    let Some((municipality, sensor)) = std::str::from_utf8(&p.topic).ok().and_then(|t| parse_topic(prefix, t)) else {
        tracing::warn!(%topic, "mqtt: unexpected topic; message dropped");
        return (None, 1);
    };
    match parse_payload(sensor, &p.payload) {
        Ok(Payload { observations, bad_items }) => {
            for (i, e) in &bad_items {
                tracing::warn!(%topic, item = i, error = %e, "mqtt: malformed array item dropped");
            }
            (Some(Message { municipality: municipality.to_string(), observations }), bad_items.len() as u64)
        }
        Err(e) => {
            tracing::warn!(
                %topic,
                error = %e,
                payload = %excerpt(&p.payload, LOG_PAYLOAD_BYTES),
                "mqtt: malformed payload dropped"
            );
            (None, 1)
        }
    }
}

/// `<prefix>/<municipality>/sensors/<sensor>/obs` → (municipality, sensor).
pub fn parse_topic<'a>(prefix: &str, topic: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let mut levels = rest.split('/');
    match (levels.next(), levels.next(), levels.next(), levels.next(), levels.next()) {
        (Some(m), Some("sensors"), Some(s), Some("obs"), None) if !m.is_empty() && !s.is_empty() => Some((m, s)),
        _ => None,
    }
}

/// A payload, read: the observations, and the array items that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub observations: Vec<RawObservation>,
    /// (index in the array, reason).
    pub bad_items: Vec<(usize, String)>,
}

/// Reads a payload: one observation object or an array of them. The topic's `sensor` replaces
/// whatever the payload says. Array items that cannot be read are listed beside the good ones;
/// a payload that is not JSON, or not an object or array, or has no readable item, is an error.
pub fn parse_payload(sensor: &str, payload: &[u8]) -> std::result::Result<Payload, String> {
    let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let read = |v: serde_json::Value| -> std::result::Result<RawObservation, String> {
        let serde_json::Value::Object(mut map) = v else {
            return Err("not a JSON object".to_string());
        };
        map.insert("sensor".into(), serde_json::Value::String(sensor.to_string()));
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())
    };
    match v {
        serde_json::Value::Array(items) => {
            let mut good = Vec::with_capacity(items.len());
            let mut bad = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                match read(item) {
                    Ok(o) => good.push(o),
                    Err(e) => bad.push((i, e)),
                }
            }
            if good.is_empty() && !bad.is_empty() {
                return Err(format!("no readable item in the array; item {}: {}", bad[0].0, bad[0].1));
            }
            Ok(Payload { observations: good, bad_items: bad })
        }
        obj @ serde_json::Value::Object(_) => Ok(Payload { observations: vec![read(obj)?], bad_items: Vec::new() }),
        _ => Err("expected an observation object or an array of them".to_string()),
    }
}

/// Publishes messages to the broker: what Polis tells sirens, displays and other systems
/// (`polis/<municipality>/warnings` carries each CAP message as it is sent). Each message is
/// published at QoS 1 on its own connection (client id `<client_id>-out`), reconnecting with
/// backoff; a publish waiting for a broker that is down is kept, in order.
pub fn spawn_publisher(
    config: MqttConfig,
    mut messages: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut o = rumqttc::MqttOptions::new(format!("{}-out", config.client_id), config.host.clone(), config.port);
        o.set_keep_alive(config.keep_alive).set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        if let Some(u) = &config.username {
            let p = config.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
            o.set_credentials(u.clone(), p);
        }
        let (client, mut eventloop) = rumqttc::AsyncClient::new(o, 1024);
        let prefix = config.topic_prefix.clone();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                m = messages.recv() => match m {
                    Some((topic, payload)) => {
                        let topic = format!("{prefix}/{topic}");
                        if let Err(e) = client.publish(topic.clone(), rumqttc::QoS::AtLeastOnce, false, payload).await {
                            tracing::warn!(%topic, error = %e, "MQTT publish not queued");
                        }
                    }
                    None => return,
                },
                ev = eventloop.poll() => match ev {
                    Ok(_) => backoff.reset(),
                    Err(e) => {
                        let d = backoff.next_delay();
                        tracing::warn!(broker = %config.url, error = %e, retry_in_ms = d.as_millis() as u64, "MQTT publisher: connection failed");
                        tokio::time::sleep(d).await;
                    }
                },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_defaults_and_parts() {
        let c = MqttConfig::from_url("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 1884));
        assert_eq!(c.client_id, "polis");
        assert_eq!(c.topic_filter(), "polis/+/sensors/+/obs");
        let node = c.clone().for_region_node("node-a").unwrap();
        assert_eq!(node.client_id, "polis-node-a", "each node its own session");
        assert_eq!(node.topic_filter(), "$share/polis/polis/+/sensors/+/obs", "one shared subscription");
        let c = MqttConfig::from_url("mqtt://broker.local").unwrap();
        assert_eq!(c.port, 1883);
        let c = MqttConfig::from_url("tcp://[::1]:1999/?client_id=polis-a&topic_prefix=city/x").unwrap();
        assert_eq!((c.host.as_str(), c.port, c.client_id.as_str()), ("::1", 1999, "polis-a"));
        assert_eq!(c.topic_filter(), "city/x/+/sensors/+/obs");
    }

    #[test]
    fn url_credentials_stay_out_of_the_printable_parts() {
        let c = MqttConfig::from_url("mqtt://ingest:s3cret@10.0.0.9:1883").unwrap();
        assert_eq!(c.username.as_deref(), Some("ingest"));
        assert_eq!(c.password.as_ref().map(|p| p.expose()), Some("s3cret"));
        assert_eq!(c.url, "mqtt://10.0.0.9:1883");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let msg = |u: &str| MqttConfig::from_url(u).unwrap_err().message;
        assert!(msg("127.0.0.1:1883").contains("mqtt://HOST:PORT"));
        assert!(msg("mqtts://h:8883").contains("TLS"));
        assert!(msg("http://h:1883").contains("unknown scheme"));
        assert!(msg("mqtt://h:99999").contains("port"));
        assert!(msg("mqtt://h:x").contains("port"));
        assert!(msg("mqtt://:1883").contains("host"));
        assert!(msg("mqtt://h:1883/topic").contains("path"));
        assert!(msg("mqtt://h?qos=2").contains("unknown parameter"));
        assert!(msg("mqtt://h?client_id=a b").contains("client_id"));
        assert!(msg("mqtt://h?topic_prefix=a/+").contains("topic_prefix"));
    }

    #[test]
    fn topics_name_municipality_and_sensor() {
        assert_eq!(parse_topic("polis", "polis/kz/sensors/s-1/obs"), Some(("kz", "s-1")));
        assert_eq!(parse_topic("a/b", "a/b/kz/sensors/s/obs"), Some(("kz", "s")));
        assert_eq!(parse_topic("polis", "polis/kz/sensors/s/obs/x"), None);
        assert_eq!(parse_topic("polis", "polis//sensors/s/obs"), None);
        assert_eq!(parse_topic("polis", "polisx/kz/sensors/s/obs"), None);
        assert_eq!(parse_topic("polis", "polis/kz/cameras/s/obs"), None);
    }

    #[test]
    fn payload_sensor_comes_from_the_topic() {
        let p = parse_payload("s-topic", br#"{"sensor":"other","time":"2025-01-01T00:00:00Z","value":3}"#).unwrap();
        assert!(p.bad_items.is_empty());
        assert_eq!(p.observations[0].sensor, "s-topic");
        let p = parse_payload("s", br#"{"time":"2025-01-01T00:00:00Z","values":{"pm25":1}}"#).unwrap();
        assert_eq!(p.observations[0].sensor, "s");
    }

    #[test]
    fn array_items_are_read_one_by_one() {
        let p = parse_payload("s", br#"[{"time":"t1","value":1}, 7, {"value":2}, {"time":"t3","value":"x"}]"#).unwrap();
        assert_eq!(p.observations.iter().map(|o| o.time.as_str()).collect::<Vec<_>>(), ["t1", "t3"]);
        assert_eq!(p.bad_items.iter().map(|b| b.0).collect::<Vec<_>>(), [1, 2]);
        assert!(p.bad_items[1].1.contains("time"), "{}", p.bad_items[1].1);
        assert!(parse_payload("s", b"[1, 2]").is_err());
        assert_eq!(parse_payload("s", b"[]").unwrap().observations.len(), 0);
    }

    #[test]
    fn garbage_payloads_are_errors() {
        assert!(parse_payload("s", b"\xff\xfe").unwrap_err().contains("not JSON"));
        assert!(parse_payload("s", b"42").is_err());
        assert!(parse_payload("s", b"{\"value\":1}").unwrap_err().contains("time"));
    }
}
