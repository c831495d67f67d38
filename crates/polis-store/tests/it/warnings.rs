//! Public warnings, their CAP messages, received warnings and publications on both engines.

use crate::fixtures::{at_ms, id, ll, T0};
use polis_base::ErrorKind;
use polis_domain::warning::{
    CapCategory, CapRecord, CapSeverity, Certainty, InboundAlert, InboundStatus, MsgType, PublicKind, Publication,
    Texts, Urgency, Warning, WarningArea, WarningContent, WarningStatus,
};
use polis_domain::AuditRecord;
use polis_store::DynStore;
use time::Duration;

fn audit(action: &str, entity_id: &str) -> AuditRecord {
    AuditRecord {
        at: at_ms(T0),
        actor: "op".into(),
        action: action.into(),
        entity: "warning".into(),
        entity_id: entity_id.into(),
        municipality: Some(id("kazanlak")),
        before: None,
        after: None,
    }
}

fn warning(code: &str) -> Warning {
    let now = at_ms(T0);
    let content = WarningContent {
        event: "Flood".into(),
        category: CapCategory::Met,
        urgency: Urgency::Immediate,
        severity: CapSeverity::Severe,
        certainty: Certainty::Likely,
        area: WarningArea::polygon(vec![ll(42.60, 25.38), ll(42.60, 25.41), ll(42.61, 25.41)]).unwrap(),
        area_desc: Texts::new("Тунджа", "Tundzha"),
        headline: Texts::new("Наводнение по Тунджа", "Flood on the Tundzha"),
        description: Texts::new("Нивото расте", "The level is rising"),
        instruction: Texts::new("Стойте далеч от реката", "Keep away from the river"),
        onset: None,
        expires: now + Duration::hours(6),
    };
    Warning::draft(id(code), id("kazanlak"), content, Some(id("alarm-1")), now, "op").unwrap()
}

fn record(w: &Warning, identifier: &str) -> CapRecord {
    CapRecord {
        identifier: identifier.into(),
        warning: w.id.clone(),
        municipality: w.municipality.clone(),
        sent: at_ms(T0),
        msg_type: MsgType::Alert,
        xml: format!("<alert>{identifier}</alert>"),
    }
}

pub async fn warnings_and_their_cap_messages_round_trip(store: DynStore) {
    let mut w = warning("w-1");
    store.put_warning(&w, None, Some(&audit("warning.create", "w-1"))).await.unwrap();
    assert_eq!(store.warning(&id("w-1")).await.unwrap().as_ref(), Some(&w));
    let m = w.approve("polis.kazanlak.w-1.1".into(), "polis@kazanlak", at_ms(T0), "sup").unwrap();
    let rec = record(&w, &m.identifier);
    store.put_warning(&w, Some(&rec), Some(&audit("warning.approve", "w-1"))).await.unwrap();
    let back = store.warning(&id("w-1")).await.unwrap().unwrap();
    assert_eq!(back.status, WarningStatus::Published);
    assert_eq!(back, w);
    assert_eq!(store.cap_message(&m.identifier).await.unwrap(), Some(rec.clone()));
    assert_eq!(store.cap_messages_of(&w.id).await.unwrap(), vec![rec.clone()]);
    assert_eq!(store.list_warnings().await.unwrap(), vec![w.clone()]);

    // A message is never replaced: the same identifier again writes nothing at all.
    let mut w2 = w.clone();
    w2.status = WarningStatus::Cancelled;
    let mut again = rec.clone();
    again.xml = "<alert>changed</alert>".into();
    let e = store.put_warning(&w2, Some(&again), None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e}");
    assert_eq!(store.warning(&id("w-1")).await.unwrap().unwrap().status, WarningStatus::Published);
    assert_eq!(store.cap_message(&m.identifier).await.unwrap().unwrap().xml, rec.xml);
    assert!(store.cap_message("nope").await.unwrap().is_none());
}

pub async fn received_warnings_and_publications_are_replaced_by_key(store: DynStore) {
    let mut a = InboundAlert {
        key: "meteo.bg,BG-2026-1".into(),
        identifier: "BG-2026-1".into(),
        sender: "meteo.bg".into(),
        sent: at_ms(T0),
        municipality: id("kazanlak"),
        feed: "http://127.0.0.1/feed".into(),
        msg_type: "Alert".into(),
        status: InboundStatus::InForce,
        event: "Storm".into(),
        urgency: "Expected".into(),
        severity: "Severe".into(),
        certainty: "Likely".into(),
        headline: "Storm".into(),
        description: "Wind".into(),
        language: "en".into(),
        expires: Some(at_ms(T0) + Duration::hours(3)),
        areas: vec![vec![ll(42.5, 25.3), ll(42.7, 25.3), ll(42.7, 25.5), ll(42.5, 25.3)]],
        references: vec![],
        received_at: at_ms(T0),
    };
    store.put_inbound(&a, None).await.unwrap();
    a.status = InboundStatus::Cancelled;
    store.put_inbound(&a, None).await.unwrap();
    assert_eq!(store.list_inbound().await.unwrap(), vec![a]);

    let mut p = Publication {
        kind: PublicKind::Sensor,
        item: id("gauge-1"),
        municipality: id("kazanlak"),
        public: true,
        by: "admin".into(),
        at: at_ms(T0),
        snapshot: None,
    };
    store.put_publication(&p, &audit("publication.publish", "gauge-1")).await.unwrap();
    // A plan's report is kept as published, for the portal.
    let report = Publication {
        kind: PublicKind::Plan,
        item: id("plan-1"),
        snapshot: Some("<!DOCTYPE html><title>Plan</title>".into()),
        ..p.clone()
    };
    store.put_publication(&report, &audit("publication.publish", "plan-1")).await.unwrap();
    assert_eq!(store.list_publications().await.unwrap(), vec![report.clone(), p.clone()]);
    let withdrawn = Publication { public: false, snapshot: None, ..report };
    store.put_publication(&withdrawn, &audit("publication.withdraw", "plan-1")).await.unwrap();
    p.public = false;
    store.put_publication(&p, &audit("publication.withdraw", "gauge-1")).await.unwrap();
    assert_eq!(store.list_publications().await.unwrap(), vec![withdrawn, p]);
    let log = store.list_audit(None, 10).await.unwrap();
    assert!(log.iter().any(|e| e.record.action == "publication.withdraw"));
}
