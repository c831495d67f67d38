//! The index of recorded video files.

use polis_domain::Id;
use polis_store::{DynStore, Segment};
use time::macros::datetime;
use time::Duration;

fn seg(camera: &str, start_min: i64, minutes: i64, bytes: u64) -> Segment {
    let start = datetime!(2026-11-25 08:00 UTC) + Duration::minutes(start_min);
    Segment {
        camera: Id::from_trusted(camera),
        start,
        end: start + Duration::minutes(minutes),
        file: format!("{camera}/{}.mp4", start.unix_timestamp()),
        bytes,
    }
}

pub async fn segments_are_indexed_listed_by_overlap_and_deleted(store: DynStore) {
    for s in [seg("a", 0, 1, 100), seg("a", 1, 1, 200), seg("a", 2, 1, 300), seg("b", 0, 1, 5_000_000_000)] {
        store.put_segment(&s).await.expect("put");
    }
    // A file grows: the same camera and start updates the row.
    let mut growing = seg("a", 3, 0, 10);
    store.put_segment(&growing).await.expect("put");
    growing.end += Duration::seconds(30);
    growing.bytes = 60_000;
    store.put_segment(&growing).await.expect("grow");

    let t0 = datetime!(2026-11-25 08:00 UTC);
    let got = store
        .segments(&Id::from_trusted("a"), t0 + Duration::seconds(90), t0 + Duration::seconds(200))
        .await
        .expect("list");
    assert_eq!(got, vec![seg("a", 1, 1, 200), seg("a", 2, 1, 300), growing.clone()], "overlap, oldest first");
    let exact = store
        .segments(&Id::from_trusted("a"), t0 + Duration::minutes(2), t0 + Duration::minutes(3))
        .await
        .expect("list");
    assert_eq!(exact, vec![seg("a", 2, 1, 300)], "files that only touch the range are left out");
    let all =
        store.segments(&Id::from_trusted("a"), t0 - Duration::hours(1), t0 + Duration::hours(1)).await.expect("list");
    assert_eq!(all.len(), 4);

    let usage = store.segment_usage().await.expect("usage");
    assert_eq!(usage.len(), 2);
    assert_eq!((usage[0].camera.as_str(), usage[0].segments, usage[0].bytes), ("a", 4, 60_600));
    assert_eq!((usage[1].camera.as_str(), usage[1].bytes), ("b", 5_000_000_000), "sums beyond 32 bits");
    assert_eq!(usage[0].oldest, t0);

    let oldest = store.oldest_segments(None, 2).await.expect("oldest");
    assert_eq!(oldest.iter().map(|s| s.camera.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let of_a = store.oldest_segments(Some(&Id::from_trusted("a")), 10).await.expect("oldest");
    assert_eq!(of_a.len(), 4);

    store.delete_segment(&Id::from_trusted("a"), t0).await.expect("delete");
    let of_a = store.oldest_segments(Some(&Id::from_trusted("a")), 10).await.expect("oldest");
    assert_eq!(of_a[0], seg("a", 1, 1, 200));
}
