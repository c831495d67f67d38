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

/// The audit log searched by actor, action or entity, object, time (from included, to not) and
/// municipality, together; newest first, limited, paged back by sequence number.
pub async fn the_audit_log_is_searched_by_every_filter_together(store: DynStore) {
    let rec = |action: &str, entity_id: &str, m: Option<&str>, n: i64, actor: &str| polis_domain::AuditRecord {
        actor: actor.into(),
        ..audit(action, action.split('.').next().unwrap_or(action), entity_id, m, n)
    };
    let records = [
        rec("camera.create", "c1", Some("kazanlak"), 1, "ivana"),
        rec("camera.update", "c1", Some("kazanlak"), 2, "petar"),
        rec("camera.create", "c2", Some("stara-zagora"), 3, "ivana"),
        rec("user.disable", "u-1", None, 4, "admin"),
        rec("camera.delete", "c1", Some("kazanlak"), 5, "ivana"),
    ];
    store.append_audit(&records).await.expect("append");
    let search = |f: polis_store::AuditFilter| {
        let store = store.clone();
        async move {
            let got = store.search_audit(&polis_store::AuditFilter { limit: 100, ..f }).await.expect("search");
            got.into_iter().map(|e| (e.record.action, e.record.entity_id)).collect::<Vec<_>>()
        }
    };
    let p = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    use polis_store::AuditFilter as F;
    assert_eq!(search(F::default()).await.len(), 5);
    assert_eq!(
        search(F { actor: Some("ivana".into()), ..F::default() }).await,
        p(&[("camera.delete", "c1"), ("camera.create", "c2"), ("camera.create", "c1")])
    );
    assert_eq!(
        search(F { action: Some("camera.create".into()), ..F::default() }).await,
        p(&[("camera.create", "c2"), ("camera.create", "c1")])
    );
    assert_eq!(search(F { action: Some("camera".into()), ..F::default() }).await.len(), 4, "an entity: every action");
    assert_eq!(search(F { action: Some("camera.".into()), ..F::default() }).await, p(&[]));
    assert_eq!(
        search(F { object: Some("c1".into()), actor: Some("ivana".into()), ..F::default() }).await,
        p(&[("camera.delete", "c1"), ("camera.create", "c1")])
    );
    assert_eq!(
        search(F { from: Some(at_ms(T0 + 2)), to: Some(at_ms(T0 + 4)), ..F::default() }).await,
        p(&[("camera.create", "c2"), ("camera.update", "c1")]),
        "from included, to excluded"
    );
    assert_eq!(
        search(F { municipality: Some(id("kazanlak")), ..F::default() }).await,
        p(&[("camera.delete", "c1"), ("camera.update", "c1"), ("camera.create", "c1")])
    );
    let newest = store.search_audit(&F { limit: 2, ..F::default() }).await.expect("limited");
    assert_eq!(newest.len(), 2);
    let older = search(F { before_seq: Some(newest[1].seq), ..F::default() }).await;
    assert_eq!(older, p(&[("camera.create", "c2"), ("camera.update", "c1"), ("camera.create", "c1")]));
    // A filter value is data, never SQL.
    assert_eq!(search(F { actor: Some("' OR 1=1 --".into()), ..F::default() }).await, p(&[]));
}
