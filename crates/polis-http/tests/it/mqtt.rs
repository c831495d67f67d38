//! MQTT end to end: a real Mosquitto broker -> Polis's intake -> the store -> a rule -> an alarm.

use crate::harness::{spawn, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[path = "../../../polis-ingest/tests/it/broker.rs"]
#[allow(dead_code)]
mod broker;

async fn wait_for_open_alarm(t: &TestApp) -> serde_json::Value {
    for _ in 0..100 {
        let (_, b) = t.get("/api/v1/alarms?state=open").await;
        if b.as_array().is_some_and(|a| !a.is_empty()) {
            return b[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no alarm within 10 s of publishing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observation_published_over_mqtt_raises_an_alarm() {
    let broker = broker::Broker::start();
    let t = spawn(Backend::Sqlite).await;
    let (s, b) = t
        .post(
            "/api/v1/sensors",
            json!({"id": "dam-1", "municipality": "kazanlak", "name": "Koprinka dam", "kind": "water_level", "unit": "cm", "lat": 42.60, "lon": 25.31}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = t
        .post("/api/v1/rules", json!({"name": "Dam high", "sensor": "dam-1", "condition": {"type": "threshold", "above": 400}, "severity": "critical"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    let config = polis_ingest::mqtt::MqttConfig::from_url(&format!("{}?client_id=polis-it", broker.url())).unwrap();
    let sink: Arc<dyn polis_ingest::Sink> = t.app.clone();
    let _intake = polis_ingest::mqtt::spawn(config, sink, std::future::pending());

    let mut opts = rumqttc::MqttOptions::new("gauge-publisher", "127.0.0.1", broker.port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = rumqttc::AsyncClient::new(opts, 10);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    // The intake may still be subscribing: publish until the alarm shows (QoS 1, retried).
    let payload = json!({"sensor": "ignored-topic-wins", "time": now, "value": 455.0}).to_string();
    let mut alarm = None;
    for _ in 0..20 {
        client
            .publish("polis/kazanlak/sensors/dam-1/obs", rumqttc::QoS::AtLeastOnce, false, payload.clone())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, b) = t.get("/api/v1/alarms?state=open").await;
        if b.as_array().is_some_and(|a| !a.is_empty()) {
            alarm = Some(b[0].clone());
            break;
        }
    }
    let alarm = match alarm {
        Some(a) => a,
        None => wait_for_open_alarm(&t).await,
    };
    assert_eq!(alarm["source"], "dam-1");
    assert_eq!(alarm["severity"], "critical");
    let (_, series) = t.get("/api/v1/sensors/dam-1/observations").await;
    assert_eq!(series["points"][0]["value"], 455.0, "{series}");
    // A topic naming another municipality's sensor is refused, not stored under the wrong city.
    client
        .publish(
            "polis/stara-zagora/sensors/dam-1/obs",
            rumqttc::QoS::AtLeastOnce,
            false,
            payload.replace("455.0", "1.0"),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, series) = t.get("/api/v1/sensors/dam-1/observations").await;
    assert!(series["points"].as_array().unwrap().iter().all(|p| p["value"] != 1.0), "{series}");
}
