//! One reading of one sensor at one time: the input of the rules engine and of the time series.
//!
//! An [`Observation`] is parsed once at the edge (HTTP or MQTT intake) and cannot hold a
//! non-finite value or a malformed quantity name afterwards; its fields are read through
//! accessors. Time is never read here: the intake passes the moment of receipt in a
//! [`TimeWindow`].

use crate::values::{Id, LatLon};
use polis_base::{Error, Result};
use time::{Duration, OffsetDateTime};

/// How far in the future of the moment of receipt an observation's time may lie (device clocks
/// drift; more than this is a broken clock, not drift).
pub const MAX_FUTURE: Duration = Duration::minutes(5);

/// The times an intake accepts: from `now - max_age` to `now + MAX_FUTURE`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    now: OffsetDateTime,
    max_age: Duration,
}

impl TimeWindow {
    /// `now` is the moment of receipt; a negative `max_age` is taken as zero.
    pub fn new(now: OffsetDateTime, max_age: Duration) -> TimeWindow {
        TimeWindow { now, max_age: max_age.max(Duration::ZERO) }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.now
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Checks that `time` lies in the window; the error names the field `time`.
    pub fn check(&self, time: OffsetDateTime) -> Result<()> {
        if time > self.now + MAX_FUTURE {
            return Err(Error::invalid("time", "lies more than 5 minutes in the future"));
        }
        if time < self.now - self.max_age {
            let minutes = self.max_age.whole_minutes();
            let age = if minutes >= 60 && minutes % 60 == 0 {
                format!("{} h", minutes / 60)
            } else {
                format!("{minutes} min")
            };
            return Err(Error::invalid("time", format!("is older than the accepted maximum age of {age}")));
        }
        Ok(())
    }
}

/// Checks the name of a measured quantity of a multi-value station (`pm25`, `pm10`, `no2`,
/// `wind.speed`): 1 to 32 characters of `a-z`, `0-9`, `_` and `.`. The error names `quantity`.
pub fn check_quantity(s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 32 {
        return Err(Error::invalid("quantity", "must be 1 to 32 characters"));
    }
    if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.') {
        return Err(Error::invalid("quantity", "may only contain a-z, 0-9, '_' and '.'"));
    }
    Ok(())
}

/// A validated reading. It serialises as `{"sensor", "time" (RFC 3339), "quantity", "value",
/// "position"}` and is checked again (value and quantity) when deserialised.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "ObservationRecord", into = "ObservationRecord")]
pub struct Observation {
    sensor: Id,
    time: OffsetDateTime,
    quantity: Option<String>,
    value: f64,
    position: Option<LatLon>,
}

/// The serialised form of an [`Observation`].
#[derive(serde::Serialize, serde::Deserialize)]
struct ObservationRecord {
    sensor: Id,
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
    #[serde(default)]
    quantity: Option<String>,
    value: f64,
    #[serde(default)]
    position: Option<LatLon>,
}

impl TryFrom<ObservationRecord> for Observation {
    type Error = Error;

    fn try_from(r: ObservationRecord) -> Result<Observation> {
        Observation::stored(r.sensor, r.time, r.quantity, r.value, r.position)
    }
}

impl From<Observation> for ObservationRecord {
    fn from(o: Observation) -> ObservationRecord {
        ObservationRecord { sensor: o.sensor, time: o.time, quantity: o.quantity, value: o.value, position: o.position }
    }
}

impl Observation {
    /// Parses a reading received now: the value must be finite, the quantity (if any) a valid
    /// name, and the time inside `window`. Errors name the field (`value`, `quantity`, `time`).
    pub fn new(
        sensor: Id,
        time: OffsetDateTime,
        quantity: Option<String>,
        value: f64,
        position: Option<LatLon>,
        window: &TimeWindow,
    ) -> Result<Observation> {
        window.check(time)?;
        Observation::stored(sensor, time, quantity, value, position)
    }

    /// Builds a reading whose time is not checked against a window: read back from storage,
    /// replayed, or simulated. The value and the quantity are still checked.
    pub fn stored(
        sensor: Id,
        time: OffsetDateTime,
        quantity: Option<String>,
        value: f64,
        position: Option<LatLon>,
    ) -> Result<Observation> {
        if !value.is_finite() {
            return Err(Error::invalid("value", "must be a finite number"));
        }
        if let Some(q) = &quantity {
            check_quantity(q)?;
        }
        Ok(Observation { sensor, time, quantity, value, position })
    }

    pub fn sensor(&self) -> &Id {
        &self.sensor
    }

    pub fn time(&self) -> OffsetDateTime {
        self.time
    }

    /// The named quantity of a multi-value station; `None` is the sensor's main value.
    pub fn quantity(&self) -> Option<&str> {
        self.quantity.as_deref()
    }

    /// Always finite.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// Where a position-reporting device was.
    pub fn position(&self) -> Option<LatLon> {
        self.position
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-03-01 12:00 UTC);

    fn window() -> TimeWindow {
        TimeWindow::new(NOW, Duration::days(7))
    }

    fn obs(time: OffsetDateTime, quantity: Option<&str>, value: f64) -> Result<Observation> {
        Observation::new(Id::from_trusted("g1"), time, quantity.map(String::from), value, None, &window())
    }

    fn field(r: Result<Observation>) -> String {
        r.unwrap_err().details[0].field.clone()
    }

    #[test]
    fn accepts_a_plain_reading() {
        let o = obs(NOW - Duration::minutes(1), None, 412.0).unwrap();
        assert_eq!(o.sensor().as_str(), "g1");
        assert_eq!(o.value(), 412.0);
        assert_eq!(o.quantity(), None);
        assert_eq!(o.position(), None);
    }

    #[test]
    fn non_finite_values_are_rejected_naming_value() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(field(obs(NOW, None, v)), "value");
        }
    }

    #[test]
    fn time_may_lie_up_to_five_minutes_ahead() {
        assert!(obs(NOW + Duration::minutes(5), None, 1.0).is_ok());
        let e = obs(NOW + Duration::minutes(5) + Duration::seconds(1), None, 1.0).unwrap_err();
        assert_eq!(e.details[0].field, "time");
        assert!(e.message.contains("future"), "{}", e.message);
    }

    #[test]
    fn time_may_not_be_older_than_max_age() {
        assert!(obs(NOW - Duration::days(7), None, 1.0).is_ok());
        let e = obs(NOW - Duration::days(7) - Duration::seconds(1), None, 1.0).unwrap_err();
        assert_eq!(e.details[0].field, "time");
        assert!(e.message.contains("168 h"), "{}", e.message);
        let w = TimeWindow::new(NOW, Duration::minutes(90));
        let e = w.check(NOW - Duration::minutes(91)).unwrap_err();
        assert!(e.message.contains("90 min"), "{}", e.message);
    }

    #[test]
    fn negative_max_age_accepts_only_the_present_and_near_future() {
        let w = TimeWindow::new(NOW, Duration::minutes(-3));
        assert_eq!(w.max_age(), Duration::ZERO);
        assert!(w.check(NOW).is_ok());
        assert!(w.check(NOW - Duration::seconds(1)).is_err());
    }

    #[test]
    fn quantity_names_are_checked() {
        for ok in ["pm25", "pm10", "no2", "wind.speed", "t_2m", "a", &"x".repeat(32)] {
            assert!(check_quantity(ok).is_ok(), "{ok}");
        }
        for bad in ["", "PM25", "pm 25", "pm-25", "pm25\n", "µg", &"x".repeat(33)] {
            let e = check_quantity(bad).unwrap_err();
            assert_eq!(e.details[0].field, "quantity", "{bad:?}");
        }
        assert_eq!(field(obs(NOW, Some("PM2.5"), 1.0)), "quantity");
        assert_eq!(obs(NOW, Some("pm25"), 1.0).unwrap().quantity(), Some("pm25"));
    }

    #[test]
    fn stored_observations_skip_only_the_time_check() {
        let old = NOW - Duration::days(400);
        let o = Observation::stored(Id::from_trusted("g1"), old, None, 3.0, None).unwrap();
        assert_eq!(o.time(), old);
        assert!(Observation::stored(Id::from_trusted("g1"), old, None, f64::NAN, None).is_err());
        assert!(Observation::stored(Id::from_trusted("g1"), old, Some("Bad".into()), 1.0, None).is_err());
    }

    #[test]
    fn positions_are_kept() {
        let p = LatLon::new(42.62, 25.39).unwrap();
        let o = Observation::new(Id::from_trusted("bus-7"), NOW, None, 31.0, Some(p), &window()).unwrap();
        assert_eq!(o.position(), Some(p));
    }
}
