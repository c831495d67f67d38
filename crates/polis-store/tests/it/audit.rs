//! The audit log: written with the change it describes, listed newest first, filtered by
//! municipality.

use crate::fixtures::*;
use polis_store::DynStore;

pub async fn audit_records_round_trip_newest_first_and_filter_by_municipality(store: DynStore) {
    let kz =
        [audit("create", "camera", "c1", Some("kazanlak"), 1), audit("create", "camera", "c2", Some("kazanlak"), 2)];
    store.insert_cameras(&[camera("c1"), camera("c2")], &kz).await.expect("kazanlak cameras");
    let sz = audit("create", "sensor", "w1", Some("stara-zagora"), 3);
    store.insert_sensors(&[sensor("w1")], std::slice::from_ref(&sz)).await.expect("sensor");
    let region = audit("create", "user", "u1", None, 4);
    store.create_user(&admin("u1", "root"), Some(&region)).await.expect("user");
    let upd = audit("update", "camera", "c1", Some("kazanlak"), 5);
    store.update_camera(&bare_camera("c1"), &upd).await.expect("update");

    let all = store.list_audit(None, 100).await.expect("all");
    let records: Vec<_> = all.iter().map(|e| e.record.clone()).collect();
    assert_eq!(records, vec![upd.clone(), region, sz, kz[1].clone(), kz[0].clone()], "newest first, every field kept");
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "seq decreases");

    let kazanlak = store.list_audit(Some(&id("kazanlak")), 100).await.expect("kazanlak");
    let ids: Vec<_> = kazanlak.iter().map(|e| e.record.entity_id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2", "c1"], "only Kazanlak's records; region-wide ones only without a filter");

    let newest_two = store.list_audit(Some(&id("kazanlak")), 2).await.expect("limited");
    assert_eq!(newest_two.len(), 2);
    assert_eq!(newest_two[0].record, upd);
    assert!(store.list_audit(None, 0).await.expect("none").is_empty());
    assert!(store.list_audit(Some(&id("elsewhere")), 10).await.expect("empty").is_empty());
}

/// Sequence numbers keep growing: a new record never reuses an old number.
pub async fn audit_sequence_numbers_grow(store: DynStore) {
    let mut last = 0;
    for n in 0..3 {
        let code = format!("c{n}");
        store
            .insert_cameras(&[bare_camera(&code)], &[audit("create", "camera", &code, None, n)])
            .await
            .expect("insert");
        let newest = store.list_audit(None, 1).await.expect("audit");
        assert!(newest[0].seq > last);
        last = newest[0].seq;
    }
}
