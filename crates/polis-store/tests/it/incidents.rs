//! Incidents, journal, procedures, units, shares and SOS devices on both engines.

use crate::fixtures::{at_ms, id, ll, T0};
use polis_domain::incident::{
    Incident, IncidentSource, IncidentStatus, IncidentType, JournalEntry, JournalKind, NewIncident, Procedure, Share,
    SosDevice, SosProfile, Unit, UnitKind, UnitStatus,
};
use polis_domain::AuditRecord;
use polis_store::{AttachmentMeta, DynStore, IncidentFilter, ShareUse};
use time::Duration;

fn audit(action: &str, entity_id: &str) -> AuditRecord {
    AuditRecord {
        at: at_ms(T0),
        actor: "op".into(),
        action: action.into(),
        entity: action.split('.').next().unwrap_or(action).into(),
        entity_id: entity_id.into(),
        municipality: Some(id("kazanlak")),
        before: None,
        after: None,
    }
}

fn line(incident: &str, kind: JournalKind, text: &str) -> JournalEntry {
    JournalEntry {
        incident: id(incident),
        at: at_ms(T0),
        by: "Оператор 1".into(),
        kind,
        text: text.into(),
        attachment: None,
    }
}

fn procedure(version: u32, items: &[&str]) -> Procedure {
    Procedure {
        id: id("sop-flood"),
        municipality: id("kazanlak"),
        kind: IncidentType::Flood,
        version,
        title: "Наводнение".into(),
        items: items.iter().map(|s| s.to_string()).collect(),
        updated_at: at_ms(T0),
        updated_by: "sup".into(),
    }
}

fn incident(n: &str, m: &str, created: i64, p: Option<&Procedure>) -> Incident {
    let new = NewIncident {
        kind: IncidentType::Flood,
        priority: Some(2),
        location: ll(42.6191, 25.3930),
        area: Some(vec![ll(42.61, 25.39), ll(42.62, 25.39), ll(42.62, 25.40)]),
        address: "бул. Розова долина".into(),
        description: "Тунджа излиза от коритото".into(),
        source: IncidentSource::Alarm,
        external_ref: Some("112-2026-000123".into()),
        alarms: vec![id("alarm-1")],
        sos_device: None,
    };
    Incident::open(id(n), id(m), new, p, at_ms(created), "op").expect("valid incident")
}

pub async fn incidents_round_trip_with_their_journal_in_order(store: DynStore) {
    let p = procedure(1, &["check the river cameras", "notify civil protection"]);
    let mut i = incident("inc-1", "kazanlak", T0, Some(&p));
    store
        .put_incident(&i, &[line("inc-1", JournalKind::Created, "created")], Some(&audit("incident.create", "inc-1")))
        .await
        .unwrap();
    assert_eq!(store.incident(&id("inc-1")).await.unwrap().as_ref(), Some(&i));
    i.transition(IncidentStatus::Verified, None, false, at_ms(T0 + 60_000), "op").unwrap();
    i.check_item(0, true, at_ms(T0 + 61_000), "op").unwrap();
    store
        .put_incident(
            &i,
            &[line("inc-1", JournalKind::Status, "verified"), line("inc-1", JournalKind::Checklist, "item 1 done")],
            None,
        )
        .await
        .unwrap();
    let back = store.incident(&id("inc-1")).await.unwrap().unwrap();
    assert_eq!(back, i, "every field, the steps and the checklist round-trip");
    let j = store.journal(&id("inc-1")).await.unwrap();
    let texts: Vec<&str> = j.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["created", "verified", "item 1 done"]);
    assert_eq!(j[0].by, "Оператор 1");
    assert!(store.incident(&id("missing")).await.unwrap().is_none());
    let audit = store.list_audit(None, 10).await.unwrap();
    assert!(audit.iter().any(|a| a.record.action == "incident.create"));
}

pub async fn an_assignment_stores_the_incident_and_its_units_in_one_transaction(store: DynStore) {
    let mut u = Unit {
        id: id("patrol-1"),
        municipality: id("kazanlak"),
        agency: id("kazanlak-police"),
        name: "Патрул 1".into(),
        kind: UnitKind::PatrolCar,
        status: UnitStatus::Available,
        position: Some(ll(42.62, 25.40)),
        position_at: Some(at_ms(T0)),
        incident: None,
    };
    store.put_units(std::slice::from_ref(&u), &[]).await.unwrap();
    let mut i = incident("inc-a", "kazanlak", T0, None);
    store.put_incident(&i, &[line("inc-a", JournalKind::Created, "created")], None).await.unwrap();
    i.assign(&u, at_ms(T0 + 1000), "op").unwrap();
    u.status = UnitStatus::Dispatched;
    u.incident = Some(id("inc-a"));
    store
        .put_incident_and_units(
            &i,
            std::slice::from_ref(&u),
            &[line("inc-a", JournalKind::Unit, "patrol-1 assigned")],
            Some(&audit("incident.assign", "inc-a")),
        )
        .await
        .unwrap();
    assert_eq!(store.incident(&id("inc-a")).await.unwrap().as_ref(), Some(&i));
    assert_eq!(store.list_units().await.unwrap(), vec![u.clone()]);
    assert_eq!(store.journal(&id("inc-a")).await.unwrap().len(), 2);
    assert!(store.list_audit(None, 10).await.unwrap().iter().any(|a| a.record.action == "incident.assign"));

    // A change that fails part-way (a journal line of an incident that does not exist) stores
    // nothing: neither the incident nor the unit moves.
    let mut released = i.clone();
    released.release(&id("patrol-1"), at_ms(T0 + 2000), "op").unwrap();
    let mut free = u.clone();
    free.status = UnitStatus::Available;
    free.incident = None;
    let r = store
        .put_incident_and_units(
            &released,
            std::slice::from_ref(&free),
            &[line("inc-missing", JournalKind::Unit, "x")],
            None,
        )
        .await;
    assert!(r.is_err(), "a journal line of a missing incident is refused");
    assert_eq!(store.incident(&id("inc-a")).await.unwrap().as_ref(), Some(&i), "the incident did not change");
    assert_eq!(store.list_units().await.unwrap(), vec![u], "the unit did not change");
    assert_eq!(store.journal(&id("inc-a")).await.unwrap().len(), 2);
}

pub async fn incident_lists_filter_by_municipality_status_time_and_ids(store: DynStore) {
    for (n, m, t) in [("a", "kazanlak", T0), ("b", "kazanlak", T0 + 1000), ("c", "stara-zagora", T0 + 2000)] {
        store.put_incident(&incident(n, m, t, None), &[], None).await.unwrap();
    }
    let mut closed = incident("d", "kazanlak", T0 + 3000, None);
    closed.transition(IncidentStatus::Cancelled, Some("false alarm"), false, at_ms(T0 + 4000), "op").unwrap();
    store.put_incident(&closed, &[], None).await.unwrap();
    let ids = |v: Vec<Incident>| v.into_iter().map(|i| i.id.to_string()).collect::<Vec<_>>();
    let all = IncidentFilter { limit: 100, ..Default::default() };
    assert_eq!(ids(store.list_incidents(&all).await.unwrap()), ["d", "c", "b", "a"], "newest first");
    let kz = IncidentFilter { municipality: Some(id("kazanlak")), open_only: true, limit: 100, ..Default::default() };
    assert_eq!(ids(store.list_incidents(&kz).await.unwrap()), ["b", "a"]);
    let window =
        IncidentFilter { from: Some(at_ms(T0 + 1000)), to: Some(at_ms(T0 + 3000)), limit: 100, ..Default::default() };
    assert_eq!(ids(store.list_incidents(&window).await.unwrap()), ["c", "b"], "from inclusive, to exclusive");
    let some = IncidentFilter { ids: Some(vec![id("a"), id("c")]), limit: 100, ..Default::default() };
    assert_eq!(ids(store.list_incidents(&some).await.unwrap()), ["c", "a"]);
    let none = IncidentFilter { ids: Some(vec![]), limit: 100, ..Default::default() };
    assert!(store.list_incidents(&none).await.unwrap().is_empty());
    let one = IncidentFilter { limit: 1, ..Default::default() };
    assert_eq!(ids(store.list_incidents(&one).await.unwrap()), ["d"]);
}

pub async fn procedures_keep_every_version_and_refuse_a_stale_edit(store: DynStore) {
    store.put_procedure(&procedure(1, &["a"]), &audit("procedure.create", "sop-flood")).await.unwrap();
    store.put_procedure(&procedure(2, &["a", "b"]), &audit("procedure.update", "sop-flood")).await.unwrap();
    let e = store.put_procedure(&procedure(2, &["a", "c"]), &audit("procedure.update", "sop-flood")).await.unwrap_err();
    assert_eq!(e.kind, polis_base::ErrorKind::AlreadyExists);
    let current = store.list_procedures().await.unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].items, ["a", "b"]);
    let versions = store.procedure_versions(&id("sop-flood")).await.unwrap();
    assert_eq!(versions.iter().map(|p| p.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(versions[0].items, ["a"]);
}

pub async fn units_round_trip_and_update(store: DynStore) {
    let mut u = Unit {
        id: id("ambulance-1"),
        municipality: id("kazanlak"),
        agency: id("kazanlak-ambulance"),
        name: "Линейка 1".into(),
        kind: UnitKind::Ambulance,
        status: UnitStatus::Available,
        position: Some(ll(42.62, 25.40)),
        position_at: Some(at_ms(T0)),
        incident: None,
    };
    store.put_units(std::slice::from_ref(&u), &[audit("unit.create", "ambulance-1")]).await.unwrap();
    u.status = UnitStatus::Dispatched;
    u.incident = Some(id("inc-1"));
    store.put_units(std::slice::from_ref(&u), &[]).await.unwrap();
    assert_eq!(store.list_units().await.unwrap(), vec![u]);
}

pub async fn shares_are_found_by_token_hash_and_their_uses_logged(store: DynStore) {
    store.put_incident(&incident("inc-1", "kazanlak", T0, None), &[], None).await.unwrap();
    let mut s = Share {
        id: id("share-1"),
        municipality: id("kazanlak"),
        incident: id("inc-1"),
        agency: id("kazanlak-police"),
        cameras: vec![id("cam-1"), id("cam-2")],
        token_hash: "ab".repeat(32),
        created_at: at_ms(T0),
        created_by: "op".into(),
        expires_at: at_ms(T0) + Duration::hours(2),
        revoked_at: None,
        revoked_by: None,
    };
    store.put_share(&s, &line("inc-1", JournalKind::Share, "shared"), &audit("share.create", "share-1")).await.unwrap();
    assert_eq!(store.share_by_token(&"ab".repeat(32)).await.unwrap().as_ref(), Some(&s));
    assert!(store.share_by_token("nope").await.unwrap().is_none());
    assert_eq!(store.shares_of_incident(&id("inc-1")).await.unwrap(), vec![s.clone()]);
    let agency = id("kazanlak-police");
    assert_eq!(store.shares_of_agency(&agency, at_ms(T0)).await.unwrap().len(), 1);
    assert!(store.shares_of_agency(&agency, at_ms(T0) + Duration::hours(3)).await.unwrap().is_empty(), "expired");
    s.revoke(at_ms(T0 + 1000), "op");
    store
        .put_share(&s, &line("inc-1", JournalKind::Share, "revoked"), &audit("share.revoke", "share-1"))
        .await
        .unwrap();
    assert_eq!(store.share(&id("share-1")).await.unwrap().unwrap().revoked_by.as_deref(), Some("op"));
    let u = ShareUse { share: id("share-1"), at: at_ms(T0 + 500), what: "view".into(), camera: Some(id("cam-1")) };
    store.record_share_use(&u).await.unwrap();
    assert_eq!(store.share_uses(&id("share-1")).await.unwrap(), vec![u]);
    assert_eq!(store.journal(&id("inc-1")).await.unwrap().len(), 2);
}

pub async fn attachments_round_trip_with_their_journal_line(store: DynStore) {
    store.put_incident(&incident("inc-1", "kazanlak", T0, None), &[], None).await.unwrap();
    let meta = AttachmentMeta {
        id: id("att-1"),
        incident: id("inc-1"),
        name: "снимка.jpg".into(),
        content_type: "image/jpeg".into(),
        size: 3,
        sha256: "00".repeat(32),
        created_at: at_ms(T0),
        by: "op".into(),
    };
    let mut j = line("inc-1", JournalKind::Attachment, "снимка.jpg");
    j.attachment = Some(id("att-1"));
    store.put_attachment(&meta, "AQID", &j, &audit("incident.attach", "inc-1")).await.unwrap();
    assert_eq!(store.attachment(&id("att-1")).await.unwrap(), Some((meta, "AQID".to_string())));
    assert_eq!(store.journal(&id("inc-1")).await.unwrap()[0].attachment, Some(id("att-1")));
}

pub async fn sos_profiles_live_in_their_own_columns(store: DynStore) {
    let d = SosDevice {
        id: id("tracker-17"),
        municipality: id("kazanlak"),
        label: "tracker 17".into(),
        profile: SosProfile {
            name: "Иван Петров".into(), details: "dementia".into(), contact: "+359 888".into()
        },
        position: Some(ll(42.62, 25.39)),
        position_at: Some(at_ms(T0)),
        safe_zones: vec![polis_domain::incident::SafeZone {
            name: "home".into(),
            zone: vec![ll(42.61, 25.38), ll(42.63, 25.38), ll(42.63, 25.40)],
        }],
        checkin_minutes: Some(30),
    };
    store.put_sos_device(&d, Some(&audit("sos_device.create", "tracker-17"))).await.unwrap();
    assert_eq!(store.list_sos_devices().await.unwrap(), vec![d]);
    let log = store.list_audit(None, 10).await.unwrap();
    assert!(log.iter().all(|a| !format!("{:?}", a.record).contains("Иван")), "no profile in the audit log");
    store.delete_sos_device(&id("tracker-17"), &audit("sos_device.delete", "tracker-17")).await.unwrap();
    assert_eq!(store.list_sos_devices().await.unwrap(), vec![]);
}
