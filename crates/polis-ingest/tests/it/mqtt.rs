//! MQTT intake against a real Mosquitto: what a sensor publishes at QoS 1 reaches the sink, and
//! nothing acknowledged is lost when the sink fails, Polis restarts or the broker restarts.

use crate::broker::Broker;
use crate::{wait_until, RecordingSink};
use polis_ingest::mqtt::{self, MqttConfig, MqttHandle};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const SECS_10: Duration = Duration::from_secs(10);

/// A running intake and the switch that stops it.
struct Intake {
    handle: MqttHandle,
    stop: Option<oneshot::Sender<()>>,
}

impl Intake {
    /// Starts an intake and waits until the broker holds its subscription.
    async fn start(url: &str, client_id: &str, sink: Arc<RecordingSink>) -> Intake {
        let config = MqttConfig::from_url(url).and_then(|c| c.with_client_id(client_id)).expect("config");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = mqtt::spawn(config, sink, async move {
            let _ = stopped.await;
        });
        let intake = Intake { handle, stop: Some(stop) };
        let status = intake.handle.status.clone();
        wait_until("the intake to subscribe", SECS_10, || status.borrow().subscribed).await;
        intake
    }

    fn status(&self) -> mqtt::MqttStatus {
        self.handle.status.borrow().clone()
    }

    /// Shuts the intake down and waits for it to finish.
    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(SECS_10, &mut self.handle.task).await.expect("intake stops within 10 s").expect("joins");
    }
}

enum PubEvent {
    Acked,
    Down,
}

/// A sensor gateway publishing at QoS 1 that, like a real device, publishes again until the
/// broker has acknowledged (PUBACK).
struct Publisher {
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<PubEvent>,
    task: JoinHandle<()>,
    attempts: u64,
}

impl Publisher {
    fn connect(port: u16, id: &str) -> Publisher {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(o, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        let _ = tx.send(PubEvent::Acked);
                    }
                    Ok(_) => {}
                    Err(_) => {
                        let _ = tx.send(PubEvent::Down);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Publisher { client, events, task, attempts: 0 }
    }

    async fn publish_confirmed(&mut self, topic: &str, payload: impl Into<Vec<u8>>) {
        let payload = payload.into();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            while self.events.try_recv().is_ok() {}
            self.attempts += 1;
            self.client.publish(topic, QoS::AtLeastOnce, false, payload.clone()).await.expect("queue a publish");
            if let Ok(Some(PubEvent::Acked)) = tokio::time::timeout(Duration::from_secs(2), self.events.recv()).await {
                return;
            }
            assert!(Instant::now() < deadline, "the broker did not acknowledge a publish on {topic} within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn obs(value: impl std::fmt::Display) -> String {
    format!(r#"{{"time":"2025-05-11T08:00:00Z","value":{value}}}"#)
}

fn values_of(sink: &RecordingSink) -> Vec<i64> {
    sink.stored().iter().filter_map(|(_, o)| o.value.as_ref().and_then(|v| v.as_i64())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_messages_reach_the_sink_with_the_topics_sensor() {
    let broker = Broker::start();
    let sink = Arc::new(RecordingSink::default());
    let intake = Intake::start(&broker.url(), "polis-basic", sink.clone()).await;
    let mut p = Publisher::connect(broker.port, "gw-basic");

    // The payload claims another sensor: the topic decides.
    p.publish_confirmed(
        "polis/kazanlak/sensors/kz-sens-wl-tundzha-i5/obs",
        r#"{"sensor":"someone-else","time":"2025-05-11T08:00:00Z","value":123.4}"#,
    )
    .await;
    p.publish_confirmed(
        "polis/kazanlak/sensors/kz-sens-aq-arsenal/obs",
        r#"{"time":"2025-05-11T08:00:00Z","values":{"pm25":12.1,"pm10":30}}"#,
    )
    .await;
    // Not ours: another prefix.
    p.publish_confirmed("other/kazanlak/sensors/x/obs", obs(1)).await;

    wait_until("two observations in the sink", SECS_10, || sink.stored().len() >= 2).await;
    let stored = sink.stored();
    assert_eq!(stored.len(), 2, "{stored:?}");
    let (m, o) = &stored[0];
    assert_eq!((m.as_str(), o.sensor.as_str()), ("kazanlak", "kz-sens-wl-tundzha-i5"));
    assert_eq!(o.value, Some(serde_json::json!(123.4)));
    assert_eq!(o.time, "2025-05-11T08:00:00Z");
    let (_, o) = &stored[1];
    assert_eq!(o.sensor, "kz-sens-aq-arsenal");
    let values = o.values.as_ref().expect("named values");
    assert_eq!(values["pm25"], serde_json::json!(12.1));
    assert_eq!(values["pm10"], serde_json::json!(30));

    let status = intake.status();
    assert!(status.connected);
    assert_eq!(status.received, 2);
    assert_eq!(status.delivered, 2);
    wait_until("both messages acknowledged", SECS_10, || intake.status().acked == 2).await;
    intake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_array_payload_delivers_every_observation() {
    let broker = Broker::start();
    let sink = Arc::new(RecordingSink::default());
    let intake = Intake::start(&broker.url(), "polis-array", sink.clone()).await;
    let mut p = Publisher::connect(broker.port, "gw-array");

    let payload = format!("[{}, {}, {}]", obs(1), obs(2), obs(3));
    p.publish_confirmed("polis/kazanlak/sensors/kz-sens-tc-entry-west/obs", payload).await;

    wait_until("three observations", SECS_10, || sink.stored().len() >= 3).await;
    assert_eq!(values_of(&sink), [1, 2, 3]);
    assert!(sink.stored().iter().all(|(m, o)| m == "kazanlak" && o.sensor == "kz-sens-tc-entry-west"));
    assert_eq!(sink.calls(), 1, "one message is one batch");
    intake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_payload_is_skipped_acknowledged_and_does_not_block_later_ones() {
    let broker = Broker::start();
    let sink = Arc::new(RecordingSink::default());
    let intake = Intake::start(&broker.url(), "polis-poison", sink.clone()).await;
    let mut p = Publisher::connect(broker.port, "gw-poison");
    let topic = "polis/kazanlak/sensors/kz-sens-noise-arsenal/obs";

    p.publish_confirmed(topic, "this is not JSON ".repeat(100)).await;
    p.publish_confirmed(topic, r#"{"value": 5}"#).await; // no time
    p.publish_confirmed(topic, obs(7)).await;

    wait_until("the good observation", SECS_10, || !sink.stored().is_empty()).await;
    assert_eq!(values_of(&sink), [7]);
    let status = intake.status();
    assert_eq!(status.malformed, 2, "{status:?}");
    wait_until("all three acknowledged", SECS_10, || intake.status().acked == 3).await;
    intake.shutdown().await;

    // Polis restarts with the same session: the poison messages do not come back.
    let sink2 = Arc::new(RecordingSink::default());
    let intake = Intake::start(&broker.url(), "polis-poison", sink2.clone()).await;
    p.publish_confirmed(topic, obs(8)).await;
    wait_until("the next observation", SECS_10, || !sink2.stored().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(values_of(&sink2), [8]);
    assert_eq!(intake.status().received, 1, "nothing was redelivered: {:?}", intake.status());
    intake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_fails_gets_the_message_again() {
    let broker = Broker::start();
    let sink = Arc::new(RecordingSink::failing(2));
    let intake = Intake::start(&broker.url(), "polis-retry", sink.clone()).await;
    let mut p = Publisher::connect(broker.port, "gw-retry");

    p.publish_confirmed("polis/kazanlak/sensors/kz-sens-rain-centre/obs", obs(42)).await;
    wait_until("the observation stored after two failures", SECS_10, || !sink.stored().is_empty()).await;
    assert_eq!(values_of(&sink), [42]);
    assert_eq!(sink.calls(), 3);
    let status = intake.status();
    assert!(status.last_error.as_deref().is_some_and(|e| e.contains("store is down")), "{status:?}");
    intake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_sink_does_not_stop_the_intake_or_lose_the_message() {
    let broker = Broker::start();
    let sink = Arc::new(RecordingSink::panicking(1));
    let intake = Intake::start(&broker.url(), "polis-panic", sink.clone()).await;
    let mut p = Publisher::connect(broker.port, "gw-panic");

    p.publish_confirmed("polis/kazanlak/sensors/kz-sens-sp-batenberg/obs", obs(9)).await;
    wait_until("the observation stored after the panic", SECS_10, || !sink.stored().is_empty()).await;
    assert_eq!(values_of(&sink), [9]);
    let status = intake.status();
    assert!(status.last_error.as_deref().is_some_and(|e| e.contains("panicked")), "{status:?}");
    assert!(status.reconnects >= 1, "{status:?}");
    p.publish_confirmed("polis/kazanlak/sensors/kz-sens-sp-batenberg/obs", obs(10)).await;
    wait_until("the next observation", SECS_10, || sink.stored().len() >= 2).await;
    intake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_not_yet_stored_come_back_after_polis_restarts() {
    let broker = Broker::start();
    let down = Arc::new(RecordingSink::failing(u64::MAX));
    let intake = Intake::start(&broker.url(), "polis-crash", down.clone()).await;
    let mut p = Publisher::connect(broker.port, "gw-crash");
    let topic = "polis/kazanlak/sensors/kz-sens-wl-stara-reka/obs";
    for i in 0..3 {
        p.publish_confirmed(topic, obs(i)).await;
    }
    wait_until("the intake to try the dead store", SECS_10, || down.calls() >= 2).await;
    assert_eq!(intake.status().acked, 0, "nothing may be acknowledged before it is stored");
    intake.shutdown().await;

    let sink = Arc::new(RecordingSink::default());
    let intake = Intake::start(&broker.url(), "polis-crash", sink.clone()).await;
    wait_until("the three observations redelivered", SECS_10, || sink.stored().len() >= 3).await;
    assert_eq!(values_of(&sink), [0, 1, 2]);
    intake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_reconnects_after_a_broker_restart_and_loses_no_acknowledged_message() {
    const N: usize = 300;
    let broker = Broker::start();
    let port = broker.port;
    let sink = Arc::new(RecordingSink::default());
    let intake = Intake::start(&broker.url(), "polis-restart", sink.clone()).await;

    let progress = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut p = Publisher::connect(port, "gw-restart");
            for i in 0..N {
                p.publish_confirmed("polis/kazanlak/sensors/kz-sens-wl-tundzha-wwtp/obs", obs(i)).await;
                progress.store(i + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            p.attempts
        })
    };

    wait_until("a third of the messages published", SECS_10, || progress.load(Ordering::SeqCst) >= N / 3).await;
    let broker = tokio::task::spawn_blocking(move || {
        let mut broker = broker;
        broker.stop();
        std::thread::sleep(Duration::from_millis(1500));
        broker.start_again();
        broker
    })
    .await
    .expect("restart the broker");

    let attempts =
        tokio::time::timeout(Duration::from_secs(40), publisher).await.expect("publisher finishes").expect("joins");
    wait_until("every acknowledged message in the sink", Duration::from_secs(20), || {
        values_of(&sink).into_iter().collect::<BTreeSet<_>>().len() >= N
    })
    .await;

    let values = values_of(&sink);
    let distinct: BTreeSet<i64> = values.iter().copied().collect();
    let status = intake.status();
    println!(
        "broker restart: {N} messages acknowledged by the broker ({attempts} publish attempts); \
         {} observations reached the sink ({} distinct, {} duplicates); intake reconnects: {}",
        values.len(),
        distinct.len(),
        values.len() - distinct.len(),
        status.reconnects,
    );
    assert_eq!(distinct, (0..N as i64).collect::<BTreeSet<_>>());
    assert!(status.reconnects >= 1, "{status:?}");
    assert!(status.connected, "{status:?}\n{}", broker.log());
    intake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_started_before_the_broker_connects_when_it_comes_up() {
    let mut broker = Broker::start();
    let url = broker.url();
    broker.stop();
    let sink = Arc::new(RecordingSink::default());
    let config = MqttConfig::from_url(&url).and_then(|c| c.with_client_id("polis-late")).expect("config");
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = mqtt::spawn(config, sink.clone(), async move {
        let _ = stopped.await;
    });
    let status = handle.status.clone();
    wait_until("a failed connection attempt", SECS_10, || status.borrow().last_error.is_some()).await;
    assert!(!status.borrow().connected);

    broker.start_again();
    wait_until("the intake to subscribe", Duration::from_secs(15), || status.borrow().subscribed).await;
    let mut p = Publisher::connect(broker.port, "gw-late");
    p.publish_confirmed("polis/kazanlak/sensors/kz-sens-smoke-convent/obs", obs(1)).await;
    wait_until("the observation", SECS_10, || !sink.stored().is_empty()).await;
    let _ = stop.send(());
    tokio::time::timeout(SECS_10, handle.task).await.expect("stops").expect("joins");
}
