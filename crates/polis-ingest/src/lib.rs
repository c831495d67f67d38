//! Observation intake: how sensor readings get into Polis from outside, before any validation.
//!
//! - [`RawObservation`] is one reading as it arrives (an HTTP body item or an MQTT payload).
//! - [`Sink`] is where intake delivers. The application implements it (validation, storage,
//!   rules); this crate only moves data and never decides what is valid.
//! - [`mqtt`] subscribes to a broker (`polis/<municipality>/sensors/<sensor>/obs`, QoS 1) and
//!   acknowledges a message only once the sink has made it durable.
//! - [`sim`] is a deterministic simulator of the demo city's sensors, with occasional floods,
//!   smog, traffic jams and silent gauges, delivering over HTTP or in-process.
//!
//! The crate sits below `polis-core`: it depends on `polis-base` and `polis-domain` only.

pub mod cap_feed;
pub mod mqtt;
pub mod sim;

use polis_base::{ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// One observation as it arrives (HTTP body item or MQTT payload), before validation.
///
/// `value` should be a number and `values` a map of named numbers (e.g. `{"pm25": 12.1,
/// "pm10": 30}`); both are kept as raw JSON so that the sink can reject a bad one with a reason
/// while keeping the rest of the batch.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RawObservation {
    pub sensor: String,
    /// RFC 3339, e.g. `2025-05-11T08:30:00Z`.
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, serde_json::Value>>,
    /// Where a moving device was when it measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// Where intake delivers. Implemented by the application (polis-core).
///
/// The contract, which the MQTT intake relies on:
/// - `Ok(())` means the batch is durable: observations the sink found invalid were rejected for
///   good (and logged or counted by the sink), the rest are stored. Intake then acknowledges.
/// - `Err` with a *transient* kind ([`is_transient`]: `Unavailable`, `ResourceExhausted`,
///   `Internal`) means nothing may be assumed stored: intake keeps the data and tries again.
/// - `Err` with any other kind refuses the batch for good (for instance an unknown
///   municipality). Intake retries the messages of a refused batch one by one, so that one bad
///   message does not take others with it, then drops what is still refused.
///
/// Delivery is at least once: after a crash or a reconnect the same observations may arrive
/// again, so storing them must be idempotent or tolerate duplicates.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + 'static {
    /// `municipality` comes from the MQTT topic (or from the sensors' registry entries for the
    /// simulator). Each observation names its sensor; over MQTT the topic's sensor id has
    /// replaced whatever the payload said.
    async fn ingest(&self, municipality: &str, batch: Vec<RawObservation>) -> Result<()>;
}

/// Whether an error from a [`Sink`] may go away by itself, so the data should be offered again.
pub fn is_transient(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Unavailable | ErrorKind::ResourceExhausted | ErrorKind::Internal)
}

/// Exponential backoff: `min`, doubling up to `max`; `reset` after a success.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max, next: min }
    }

    /// The delay to wait now; the following one is twice as long, up to `max`.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }

    /// [`Backoff::next_delay`] scaled by a random factor in `[0.5, 1.0]`, so that many clients
    /// that lost the same server do not all come back in the same instant.
    pub(crate) fn next_jittered(&mut self) -> Duration {
        jitter(self.next_delay(), rand::random::<f64>())
    }
}

/// `d` scaled to `[d/2, d]` by `r` in `[0, 1]`.
pub(crate) fn jitter(d: Duration, r: f64) -> Duration {
    d.mul_f64(0.5 + 0.5 * r.clamp(0.0, 1.0))
}

/// The first `max` bytes of an untrusted payload, printable, for a log line.
pub(crate) fn excerpt(payload: &[u8], max: usize) -> String {
    let cut = &payload[..payload.len().min(max)];
    let mut s = format!("{:?}", String::from_utf8_lossy(cut));
    if payload.len() > max {
        s.push_str(&format!(" (+{} bytes)", payload.len() - max));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        let seq: Vec<u64> = (0..7).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(seq, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_delay() {
        let d = Duration::from_millis(400);
        assert_eq!(jitter(d, 0.0), Duration::from_millis(200));
        assert_eq!(jitter(d, 1.0), d);
        assert_eq!(jitter(d, 7.0), d);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        for _ in 0..50 {
            let x = b.next_jittered();
            assert!(x >= Duration::from_millis(50) && x <= Duration::from_millis(500), "{x:?}");
        }
    }

    #[test]
    fn excerpt_is_bounded_and_printable() {
        let payload = vec![b'\n'; 1000];
        let e = excerpt(&payload, 200);
        assert!(e.len() < 2 * 200 + 40, "{}", e.len());
        assert!(!e.contains('\n'));
        assert!(e.ends_with("(+800 bytes)"));
        // A multi-byte character cut in half does not panic.
        assert!(!excerpt("ж".repeat(150).as_bytes(), 201).is_empty());
    }

    #[test]
    fn raw_observation_reads_single_and_multi_values() {
        let o: RawObservation =
            serde_json::from_str(r#"{"sensor":"s1","time":"2025-01-01T00:00:00Z","value":1.5}"#).unwrap();
        assert_eq!(o.value, Some(serde_json::json!(1.5)));
        assert_eq!(o.values, None);
        let o: RawObservation =
            serde_json::from_str(r#"{"sensor":"aq","time":"2025-01-01T00:00:00Z","values":{"pm25":12.1,"pm10":30}}"#)
                .unwrap();
        assert_eq!(o.value, None);
        assert_eq!(o.values.unwrap()["pm10"], serde_json::json!(30));
        // Absent fields are not written back out.
        let o = RawObservation {
            sensor: "s".into(),
            time: "t".into(),
            value: Some(serde_json::json!(2)),
            values: None,
            lat: None,
            lon: None,
        };
        assert_eq!(serde_json::to_string(&o).unwrap(), r#"{"sensor":"s","time":"t","value":2}"#);
    }

    #[test]
    fn only_outage_kinds_are_transient() {
        assert!(is_transient(ErrorKind::Unavailable));
        assert!(is_transient(ErrorKind::Internal));
        assert!(!is_transient(ErrorKind::InvalidArgument));
        assert!(!is_transient(ErrorKind::NotFound));
    }
}
