//! Sensor intake over MQTT: a real Mosquitto broker on loopback, Polis subscribed at QoS 1
//! (acknowledging each message only after storing it), 1,000 gauges with a threshold rule each,
//! one publisher sending JSON arrays of readings at QoS 1 as fast as the broker takes them.
//! Observations per second from the first publish to the last reading stored.
//! Run: `cargo bench -p polis-http --bench mqtt_intake` (needs `/usr/sbin/mosquitto`;
//! `POLIS_BENCH_OBSERVATIONS` and `POLIS_BENCH_PER_MESSAGE` change the load).

mod common;

use polis_base::Result;
use polis_domain::Id;
use polis_ingest::RawObservation;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SENSORS: usize = 1000;

/// Counts what the application stored, then passes it on.
struct Counting {
    app: Arc<polis_core::App>,
    stored: AtomicU64,
}

#[async_trait::async_trait]
impl polis_ingest::Sink for Counting {
    async fn ingest(&self, municipality: &str, batch: Vec<RawObservation>) -> Result<()> {
        let n = batch.len() as u64;
        polis_ingest::Sink::ingest(&*self.app, municipality, batch).await?;
        self.stored.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let total: u64 = std::env::var("POLIS_BENCH_OBSERVATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(300_000);
    let per_message: u64 = std::env::var("POLIS_BENCH_PER_MESSAGE").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 1000\nmax_queued_messages 100000\nuser root\n"),
    )
    .expect("conf");
    let mut broker = Command::new("/usr/sbin/mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto (apt-get install mosquitto)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }

    let server = common::start(&Id::from_trusted("bench")).await;
    common::gauges_with_rules(&server, SENSORS, 1e9).await;
    let sink = Arc::new(Counting { app: server.app.clone(), stored: AtomicU64::new(0) });
    let config = polis_ingest::mqtt::MqttConfig::from_url(&format!("mqtt://127.0.0.1:{port}?client_id=polis-bench"))
        .expect("mqtt url");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    polis_ingest::mqtt::spawn(config, sink.clone() as Arc<dyn polis_ingest::Sink>, async move {
        let _ = stop_rx.await;
    });
    tokio::time::sleep(Duration::from_millis(500)).await; // the subscription

    let mut opts = MqttOptions::new("bench-publisher", "127.0.0.1", port);
    opts.set_inflight(1000);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(opts, 10_000);
    let acked = Arc::new(AtomicU64::new(0));
    let acked2 = acked.clone();
    tokio::spawn(async move {
        while let Ok(ev) = events.poll().await {
            if let Event::Incoming(Packet::PubAck(_)) = ev {
                acked2.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let base_ms = (time::OffsetDateTime::now_utc() - time::Duration::hours(1)).unix_timestamp() * 1000;
    let messages = total / per_message;
    println!("mqtt intake: {SENSORS} sensors and rules, {messages} messages of {per_message} readings, QoS 1");
    let start = Instant::now();
    for m in 0..messages {
        let sensor = m as usize % SENSORS;
        let readings: Vec<_> = (0..per_message)
            .map(|k| {
                let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(base_ms + (m * per_message + k) as i64) * 1_000_000)
                    .expect("time");
                json!({"time": t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(), "value": (k % 300) as f64})
            })
            .collect();
        let payload = serde_json::to_vec(&readings).expect("json");
        client
            .publish(format!("polis/bench/sensors/s{sensor:04}/obs"), QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish");
    }
    let published = start.elapsed().as_secs_f64();
    let expected = messages * per_message;
    let deadline = Instant::now() + Duration::from_secs(600);
    while sink.stored.load(Ordering::Relaxed) < expected {
        assert!(Instant::now() < deadline, "only {} of {expected} stored", sink.stored.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "stored {expected} observations in {secs:.2} s: {:.0} observations/s ({:.0} messages/s); publishing took {published:.2} s; RSS {:.0} MiB",
        expected as f64 / secs,
        messages as f64 / secs,
        common::rss_mib()
    );
    let _ = stop_tx.send(());
    let _ = broker.kill();
    let _ = broker.wait();
}
