//! The live event bus's retention, and the write probe.

use polis_domain::Id;
use polis_store::{DynStore, EventLogState, StoredEvent};
use time::macros::datetime;
use time::Duration;

fn event(id: u64, minutes_ago: i64) -> StoredEvent {
    StoredEvent {
        id,
        at: datetime!(2026-11-25 08:00 UTC) - Duration::minutes(minutes_ago),
        municipality: id.is_multiple_of(2).then(|| Id::from_trusted("kazanlak")),
        body: format!("{{\"n\":{id}}}"),
    }
}

pub async fn kept_events_read_back_newest_last_and_prune_by_count_and_age(store: DynStore) {
    assert!(store.newest_events(10).await.expect("empty").is_empty());
    let batch: Vec<StoredEvent> = (1..=10).map(|i| event(1_000 + i, 20 - i as i64)).collect();
    store.append_events(&batch).await.expect("append");
    // Written again (a retry after an unknown outcome): kept once.
    store.append_events(&batch[8..]).await.expect("append again");
    assert_eq!(store.newest_events(100).await.expect("all"), batch);
    assert_eq!(store.newest_events(3).await.expect("newest"), batch[7..].to_vec());
    // By age: the two from 19 and 18 minutes before 08:00 go; then by count: keep 5.
    let cutoff = datetime!(2026-11-25 08:00 UTC) - Duration::minutes(17) - Duration::seconds(30);
    assert_eq!(store.prune_events(100, cutoff).await.expect("by age"), 2);
    assert_eq!(store.prune_events(5, cutoff).await.expect("by count"), 3);
    assert_eq!(store.newest_events(100).await.expect("left"), batch[5..].to_vec());
    assert_eq!(store.prune_events(5, cutoff).await.expect("nothing"), 0);

    assert_eq!(store.event_log_state().await.expect("log"), EventLogState::default());
    let state = EventLogState { clean_through: Some(1_010), gap_before: Some(7) };
    store.set_event_log_state(state).await.expect("set");
    assert_eq!(store.event_log_state().await.expect("log"), state);

    store.probe_write().await.expect("a healthy store takes the probe");
    assert!(store.write_status().failing_since.is_none());
}
