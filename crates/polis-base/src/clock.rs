use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;

/// The source of "now". Production uses [`SystemClock`]; tests use [`SimClock`] and move time by hand.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct SimClock {
    nanos: AtomicI64,
}

impl SimClock {
    pub fn new(start: OffsetDateTime) -> Self {
        SimClock { nanos: AtomicI64::new(start.unix_timestamp_nanos() as i64) }
    }
    pub fn advance(&self, by: time::Duration) {
        self.nanos.fetch_add(by.whole_nanoseconds() as i64, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now(&self) -> OffsetDateTime {
        let n = self.nanos.load(Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp_nanos(n as i128).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_clock_moves_only_when_advanced() {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let c = SimClock::new(start);
        assert_eq!(c.now(), start);
        c.advance(time::Duration::minutes(5));
        assert_eq!(c.now(), start + time::Duration::minutes(5));
    }
}
