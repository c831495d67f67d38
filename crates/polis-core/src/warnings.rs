//! Public warnings: drafting (also from an alarm), approval by a second person, publication as
//! CAP 1.2 messages, updates, cancellation and expiry; warnings received from outside feeds
//! (CAP in); and what administrators publish on the citizen portal.
//!
//! Every change runs under one lock (`Board::write`): it goes to the store (the warning, the CAP
//! message it sent, its audit record, in one transaction), then to memory, then on the live bus.
//! The portal reads only memory, so a crowd of citizens never reaches the database.

use crate::live::LiveEvent;
use crate::registry::new_id;
use crate::App;
use polis_base::{Error, Result};
use polis_cap::{ParsedAlert, Publisher};
use polis_domain::geometry::distance_to_ring_m;
use polis_domain::rules::RuleScope;
use polis_domain::warning::{
    CapCategory, CapRecord, CapSeverity, Certainty, InboundAlert, InboundStatus, PublicKind, Publication, Texts,
    Urgency, Warning, WarningArea, WarningContent, WarningStatus,
};
use polis_domain::{Actor, Condition, Id, LatLon, Role, Sector, SensorKind, Severity, SiteGeometry};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

/// The built-in alarm rule of severe or extreme warnings received from outside.
pub const CAP_IN_RULE: &str = "cap-inbound";

/// How warnings are signed and linked.
#[derive(Debug, Clone, Default)]
pub struct WarningConfig {
    /// The CAP `sender`; `None`: `polis@<municipality>`.
    pub sender: Option<String>,
    /// The public address of this server (`https://polis.example.org`), for CAP `web` and the
    /// feed's absolute links; `None`: links relative to the server.
    pub public_url: Option<String>,
}

/// The state of the warnings desk.
pub(crate) struct Board {
    write: tokio::sync::Mutex<()>,
    warnings: RwLock<BTreeMap<Id, Warning>>,
    /// The newest CAP message of every warning that sent one.
    latest: RwLock<BTreeMap<Id, Arc<CapRecord>>>,
    inbound: RwLock<BTreeMap<String, InboundAlert>>,
    publications: RwLock<BTreeMap<(PublicKind, Id), Publication>>,
    /// Grows on every change of what the portal shows (its ETags hang on it).
    version: AtomicU64,
    config: std::sync::OnceLock<WarningConfig>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Board {
    pub(crate) async fn load(store: &dyn polis_store::Store, now: OffsetDateTime) -> Result<Board> {
        let warnings: BTreeMap<Id, Warning> =
            store.list_warnings().await?.into_iter().map(|w| (w.id.clone(), w)).collect();
        let mut latest = BTreeMap::new();
        for w in warnings.values().filter(|w| !w.messages.is_empty()) {
            if let Some(m) = store.cap_messages_of(&w.id).await?.pop() {
                latest.insert(w.id.clone(), Arc::new(m));
            }
        }
        let inbound = store.list_inbound().await?.into_iter().map(|a| (a.key.clone(), a)).collect();
        let publications =
            store.list_publications().await?.into_iter().map(|p| ((p.kind, p.item.clone()), p)).collect();
        Ok(Board {
            write: tokio::sync::Mutex::new(()),
            warnings: RwLock::new(warnings),
            latest: RwLock::new(latest),
            inbound: RwLock::new(inbound),
            publications: RwLock::new(publications),
            version: AtomicU64::new(now.unix_timestamp_nanos().max(0) as u64 / 1000),
            config: std::sync::OnceLock::new(),
        })
    }
}

/// What a caller asks for when drafting a warning.
#[derive(Debug, Clone)]
pub struct WarningRequest {
    pub municipality: Option<Id>,
    pub content: WarningContent,
    pub alarm: Option<Id>,
}

/// A warning in force as the public sees it, with its newest CAP message.
#[derive(Debug, Clone)]
pub struct PublicWarning {
    pub warning: Warning,
    pub message: Arc<CapRecord>,
}

/// How far from an alarm's sensor a disaster-sector key site may lie for its outline to be the
/// drafted warning's area (the river bank or dam the gauge watches).
const WATCHED_SITE_M: f64 = 1_000.0;

impl App {
    /// Sets how CAP messages are signed and linked; once, before serving.
    pub fn configure_warnings(&self, config: WarningConfig) -> Result<()> {
        self.board.config.set(config).map_err(|_| Error::failed_precondition("warnings are configured already"))
    }

    fn warning_config(&self) -> WarningConfig {
        self.board.config.get().cloned().unwrap_or_default()
    }

    /// A number that changes whenever what the portal shows may have changed.
    pub fn public_version(&self) -> u64 {
        self.board.version.load(Ordering::Relaxed)
    }

    fn bump(&self) {
        self.board.version.fetch_add(1, Ordering::Relaxed);
    }

    async fn publisher(&self, m: &Id) -> Publisher {
        let config = self.warning_config();
        let name = self
            .registry()
            .await
            .organisations
            .get(m)
            .map(|o| Texts::new(&o.name_bg, &o.name_en))
            .unwrap_or_else(|| Texts::new(m.as_str(), m.as_str()));
        Publisher {
            sender: config.sender.unwrap_or_else(|| format!("polis@{m}")),
            name: Texts::new(format!("Община {}", name.bg), format!("Municipality of {}", name.en)),
            web: config.public_url.map(|u| format!("{}/public/", u.trim_end_matches('/'))),
        }
    }

    /// A warning the actor may see, or `NotFound`.
    fn visible_warning(&self, actor: &Actor, id: &Id) -> Result<Warning> {
        read(&self.board.warnings)
            .get(id)
            .filter(|w| actor.sees(&w.municipality) && actor.role != Role::Agency)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("no warning with id {id}")))
    }

    /// Stores a change (with the CAP message it sent), then memory, then the live event.
    async fn commit_warning(
        &self,
        actor: &Actor,
        verb: &str,
        before: Option<&Warning>,
        w: &Warning,
        message: Option<CapRecord>,
    ) -> Result<()> {
        let audit = self.audit(actor, verb, w.id.as_str(), Some(&w.municipality), before, Some(w));
        self.store().put_warning(w, message.as_ref(), Some(&audit)).await?;
        write(&self.board.warnings).insert(w.id.clone(), w.clone());
        if let Some(m) = message {
            write(&self.board.latest).insert(w.id.clone(), Arc::new(m));
        }
        self.bump();
        self.bus().publish(Some(w.municipality.clone()), LiveEvent::Warning(Box::new(w.clone())));
        Ok(())
    }

    /// Builds and checks the CAP message of `w`'s newest message.
    fn cap_record(&self, w: &Warning, publisher: &Publisher) -> Result<Option<CapRecord>> {
        let Some(msg) = w.messages.last() else { return Ok(None) };
        let xml = polis_cap::alert_xml(w, msg, publisher)?;
        Ok(Some(CapRecord {
            identifier: msg.identifier.clone(),
            warning: w.id.clone(),
            municipality: w.municipality.clone(),
            sent: msg.sent,
            msg_type: msg.msg_type,
            xml,
        }))
    }

    /// The identifier of `w`'s next message: unique (the warning id is) and stable (stored).
    fn next_identifier(w: &Warning, publisher: &Publisher) -> String {
        let host = publisher.sender.rsplit('@').next().unwrap_or(&publisher.sender).to_string();
        format!("{host}.{}.{}", w.id, w.messages.len() + 1)
    }

    /// Drafts a warning: operators, supervisors and administrators of its municipality.
    pub async fn create_warning(&self, actor: &Actor, req: WarningRequest) -> Result<Warning> {
        let m = match req.municipality {
            Some(m) => m,
            None => actor.default_municipality()?,
        };
        actor.check_warnings(&m)?;
        if !self.registry().await.is_municipality(&m) {
            return Err(Error::invalid("municipality", format!("no municipality {m}")));
        }
        let _w = self.board.write.lock().await;
        let w = Warning::draft(new_id("warning"), m, req.content, req.alarm, self.clock().now(), &actor.username)?;
        self.commit_warning(actor, "warning.create", None, &w, None).await?;
        Ok(w)
    }

    /// The warnings the actor may see, newest change first: every role but agency liaisons.
    pub async fn warnings(&self, actor: &Actor) -> Result<Vec<Warning>> {
        actor.check_read_registry()?;
        let mut out: Vec<Warning> =
            read(&self.board.warnings).values().filter(|w| actor.sees(&w.municipality)).cloned().collect();
        out.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub async fn warning(&self, actor: &Actor, id: &Id) -> Result<Warning> {
        actor.check_read_registry()?;
        self.visible_warning(actor, id)
    }

    /// Edits a draft, or proposes an update of a warning in force (published once a second
    /// person approves it).
    pub async fn update_warning(&self, actor: &Actor, id: &Id, content: WarningContent) -> Result<Warning> {
        let _w = self.board.write.lock().await;
        let before = self.visible_warning(actor, id)?;
        actor.check_warnings(&before.municipality)?;
        let mut w = before.clone();
        w.edit(content, self.clock().now(), &actor.username)?;
        let verb = if w.status == WarningStatus::Draft { "warning.update" } else { "warning.propose_update" };
        self.commit_warning(actor, verb, Some(&before), &w, None).await?;
        Ok(w)
    }

    /// Approves a draft (publishes it, a CAP `Alert`) or a proposed update (a CAP `Update`):
    /// supervisors and administrators, never the text's author.
    pub async fn approve_warning(&self, actor: &Actor, id: &Id) -> Result<(Warning, CapRecord)> {
        let _w = self.board.write.lock().await;
        let before = self.visible_warning(actor, id)?;
        actor.check_approve_warning(&before.municipality)?;
        let mut w = before.clone();
        let publisher = self.publisher(&w.municipality).await;
        let identifier = App::next_identifier(&w, &publisher);
        w.approve(identifier, &publisher.sender, self.clock().now(), &actor.username)?;
        let record = self.cap_record(&w, &publisher)?.ok_or_else(|| Error::internal("an approval sent no message"))?;
        self.commit_warning(actor, "warning.approve", Some(&before), &w, Some(record.clone())).await?;
        Ok((w, record))
    }

    /// Cancels: a draft is dropped; a warning in force is ended with a CAP `Cancel` (the
    /// all-clear) referencing its earlier messages. Operators and above.
    pub async fn cancel_warning(&self, actor: &Actor, id: &Id) -> Result<(Warning, Option<CapRecord>)> {
        let _w = self.board.write.lock().await;
        let before = self.visible_warning(actor, id)?;
        actor.check_warnings(&before.municipality)?;
        let mut w = before.clone();
        let publisher = self.publisher(&w.municipality).await;
        let identifier = App::next_identifier(&w, &publisher);
        let sent = w.cancel(identifier, &publisher.sender, self.clock().now(), &actor.username)?;
        let record = if sent.is_some() { self.cap_record(&w, &publisher)? } else { None };
        self.commit_warning(actor, "warning.cancel", Some(&before), &w, record.clone()).await?;
        Ok((w, record))
    }

    /// Marks the warnings whose time has passed as expired; returns how many. Run by the
    /// binary's tick.
    pub async fn expire_warnings(&self) -> Result<usize> {
        let _w = self.board.write.lock().await;
        let now = self.clock().now();
        let due: Vec<Warning> = read(&self.board.warnings)
            .values()
            .filter(|w| {
                matches!(w.status, WarningStatus::Published | WarningStatus::Updated) && w.content.expires <= now
            })
            .cloned()
            .collect();
        for before in &due {
            let mut w = before.clone();
            w.expire(now);
            self.commit_warning(&Actor::system(), "warning.expire", Some(before), &w, None).await?;
        }
        Ok(due.len())
    }

    /// The CAP messages of a warning the actor may see, oldest first.
    pub async fn warning_messages(&self, actor: &Actor, id: &Id) -> Result<Vec<CapRecord>> {
        let w = self.warning(actor, id).await?;
        self.store().cap_messages_of(&w.id).await
    }

    /// Drafts a warning from an alarm: the area from its rule's zone (or a circle around the
    /// sensor), the event and CAP codes from the sensor's kind and the alarm's severity, texts
    /// in Bulgarian and English to edit.
    pub async fn draft_warning_from_alarm(&self, actor: &Actor, alarm_id: &Id) -> Result<Warning> {
        let alarm = self.alarm(actor, alarm_id).await?;
        actor.check_warnings(&alarm.municipality)?;
        let rule = self.store().rule_version(&alarm.rule, alarm.rule_version).await?;
        let registry = self.registry().await;
        let sensor = registry.sensors.get(&alarm.source).cloned();
        let zone = rule.as_ref().and_then(|r| match (&r.scope, &r.condition) {
            (_, Condition::Geofence { zone, .. }) => Some(zone.clone()),
            (RuleScope::Kind { zone: Some(z), .. }, _) => Some(z.clone()),
            _ => None,
        });
        let centre = alarm.location.or(sensor.as_ref().map(|s| s.position));
        // Without a zone in the rule: the zone the sensor watches, that is the outline of the
        // nearest key site of the disaster sector (a river bank, a dam) within 1 km of it.
        let watched = centre.and_then(|c| {
            registry
                .sites
                .values()
                .filter(|s| s.municipality == alarm.municipality && s.sectors.contains(&Sector::Disaster))
                .filter_map(|s| match &s.geometry {
                    SiteGeometry::Polygon(ring) => Some((distance_to_ring_m(c, ring), s)),
                    SiteGeometry::Point(_) => None,
                })
                .filter(|(d, _)| *d <= WATCHED_SITE_M)
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, s)| s.clone())
        });
        drop(registry);
        let (area, area_desc) = match (zone, &watched, centre) {
            (Some(z), _, _) => (WarningArea::polygon(z)?, None),
            (None, Some(site), _) => match &site.geometry {
                SiteGeometry::Polygon(ring) => {
                    (WarningArea::polygon(ring.clone())?, Some(Texts::new(site.name_bg.clone(), site.name_en.clone())))
                }
                SiteGeometry::Point(c) => (WarningArea::circle(*c, 1_000.0)?, None),
            },
            (None, None, Some(c)) => (WarningArea::circle(c, 1_000.0)?, None),
            (None, None, None) => {
                return Err(Error::failed_precondition("the alarm has no place to draft a warning for"))
            }
        };
        let kind = sensor.as_ref().map(|s| s.kind);
        let (event, category, what_bg, what_en) = match kind {
            Some(SensorKind::WaterLevel) | Some(SensorKind::Rain) => {
                ("Flood", CapCategory::Met, "Опасност от наводнение", "Flood danger")
            }
            Some(SensorKind::AirQuality) => ("Air pollution", CapCategory::Env, "Замърсен въздух", "Air pollution"),
            Some(SensorKind::Smoke) => ("Fire", CapCategory::Fire, "Опасност от пожар", "Fire danger"),
            _ => ("Hazard", CapCategory::Safety, "Опасност", "Hazard"),
        };
        let (severity, urgency, certainty) = match alarm.severity {
            Severity::Critical => (CapSeverity::Severe, Urgency::Immediate, Certainty::Observed),
            Severity::Major => (CapSeverity::Moderate, Urgency::Expected, Certainty::Likely),
            Severity::Minor | Severity::Warning => (CapSeverity::Minor, Urgency::Expected, Certainty::Possible),
        };
        let place = sensor.as_ref().map(|s| s.name.clone()).unwrap_or_else(|| alarm.source.to_string());
        let now = self.clock().now();
        let content = WarningContent {
            event: event.into(),
            category,
            urgency,
            severity,
            certainty,
            area,
            area_desc: area_desc.unwrap_or_else(|| Texts::new(format!("Район на {place}"), format!("Area of {place}"))),
            headline: Texts::new(format!("{what_bg}: {place}"), format!("{what_en}: {place}")),
            description: Texts::new(
                format!("Сигнал от {place}: {}", alarm.message),
                format!("Reading at {place}: {}", alarm.message),
            ),
            instruction: Texts::new(
                "Следете указанията на общината и избягвайте засегнатия район.",
                "Follow the municipality's instructions and avoid the affected area.",
            ),
            onset: None,
            expires: now + time::Duration::hours(12),
        };
        self.create_warning(
            actor,
            WarningRequest { municipality: Some(alarm.municipality.clone()), content, alarm: Some(alarm.id.clone()) },
        )
        .await
    }

    // ---- Public (no account) ---------------------------------------------------------------

    /// The warnings in force now with their newest CAP message, most severe and newest first
    /// (of one municipality if asked).
    pub fn public_warnings(&self, municipality: Option<&Id>) -> Vec<PublicWarning> {
        let now = self.clock().now();
        let latest = read(&self.board.latest);
        let mut out: Vec<PublicWarning> = read(&self.board.warnings)
            .values()
            .filter(|w| w.in_force(now) && municipality.is_none_or(|m| *m == w.municipality))
            .filter_map(|w| latest.get(&w.id).map(|m| PublicWarning { warning: w.clone(), message: m.clone() }))
            .collect();
        out.sort_by(|a, b| {
            a.warning.content.severity.cmp(&b.warning.content.severity).then(b.message.sent.cmp(&a.message.sent))
        });
        out
    }

    /// A CAP message Polis sent, by identifier (messages are public once sent).
    pub async fn public_cap_message(&self, identifier: &str) -> Result<CapRecord> {
        if let Some(m) = read(&self.board.latest).values().find(|m| m.identifier == identifier) {
            return Ok((**m).clone());
        }
        self.store()
            .cap_message(identifier)
            .await?
            .ok_or_else(|| Error::not_found(format!("no CAP message {identifier}")))
    }

    /// The Atom feed of the messages in force: the newest message of each warning in force.
    pub fn public_feed(&self, self_href: &str, alert_href: impl Fn(&str) -> String) -> Result<String> {
        let list = self.public_warnings(None);
        let updated = list.iter().map(|p| p.message.sent).max().unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let entries: Vec<polis_cap::FeedEntry> = list
            .iter()
            .map(|p| polis_cap::FeedEntry {
                identifier: p.message.identifier.clone(),
                title: format!("{} / {}", p.warning.content.headline.bg, p.warning.content.headline.en),
                summary: p.warning.content.description.en.clone(),
                updated: p.message.sent,
                href: alert_href(&p.message.identifier),
            })
            .collect();
        polis_cap::feed_xml("Polis public warnings / Публични предупреждения", "Polis", self_href, updated, &entries)
    }

    // ---- What is public ----------------------------------------------------------------------

    /// Publishes an item on the portal, or withdraws it: administrators of its municipality. A
    /// plan is published as a copy of its report as it is now (plans are not kept); only a
    /// finished plan can be.
    pub async fn set_public(&self, actor: &Actor, kind: PublicKind, item: &Id, public: bool) -> Result<Publication> {
        let known = read(&self.board.publications).get(&(kind, item.clone())).map(|p| p.municipality.clone());
        let (municipality, snapshot) = match kind {
            PublicKind::Sensor => (self.registry().await.sensors.get(item).map(|s| s.municipality.clone()), None),
            PublicKind::Camera => (self.registry().await.cameras.get(item).map(|c| c.municipality.clone()), None),
            PublicKind::Plan if public => {
                let job = self.plan_job(actor, item)?;
                let Some(r) = job.result.as_ref() else {
                    return Err(Error::failed_precondition(format!(
                        "plan {item} is {}: only a finished plan can be published",
                        job.status.as_str()
                    )));
                };
                (Some(job.municipality.clone()), Some(polis_plan::report::html(&r.0, &r.1)))
            }
            PublicKind::Plan => (known, None),
        };
        let municipality = municipality
            .filter(|m| actor.sees(m))
            .ok_or_else(|| Error::not_found(format!("no {kind} with id {item}")))?;
        actor.check_admin(Some(&municipality))?;
        let _w = self.board.write.lock().await;
        let p = Publication {
            kind,
            item: item.clone(),
            municipality: municipality.clone(),
            public,
            by: actor.username.clone(),
            at: self.clock().now(),
            snapshot,
        };
        // The audit names what changed; a report's copy stays out of it.
        let brief = |p: &Publication| Publication { snapshot: None, ..p.clone() };
        let before = read(&self.board.publications).get(&(kind, item.clone())).map(brief);
        let verb = if public { "publication.publish" } else { "publication.withdraw" };
        let audit = self.audit(actor, verb, item.as_str(), Some(&municipality), before.as_ref(), Some(&brief(&p)));
        self.store().put_publication(&p, &audit).await?;
        write(&self.board.publications).insert((kind, item.clone()), p.clone());
        self.bump();
        Ok(p)
    }

    /// A published plan's report as published, if it is public now.
    pub fn public_report(&self, plan: &Id) -> Option<String> {
        read(&self.board.publications)
            .get(&(PublicKind::Plan, plan.clone()))
            .filter(|p| p.public)
            .and_then(|p| p.snapshot.clone())
    }

    /// The items published now, of one kind.
    pub fn public_items(&self, kind: PublicKind) -> Vec<Publication> {
        read(&self.board.publications).values().filter(|p| p.kind == kind && p.public).cloned().collect()
    }

    /// Whether an item is public now.
    pub fn is_public(&self, kind: PublicKind, item: &Id) -> bool {
        read(&self.board.publications).get(&(kind, item.clone())).is_some_and(|p| p.public)
    }

    /// Every publication record the actor may see (also withdrawn ones).
    pub fn publications(&self, actor: &Actor) -> Result<Vec<Publication>> {
        actor.check_read_registry()?;
        Ok(read(&self.board.publications).values().filter(|p| actor.sees(&p.municipality)).cloned().collect())
    }

    // ---- CAP in --------------------------------------------------------------------------------

    /// The outline of a municipality for CAP in: the bounding box of its registry (sites,
    /// sensors, cameras), 2 km wider on each side; `None` when it has nothing registered.
    pub async fn municipality_outline(&self, m: &Id) -> Option<Vec<LatLon>> {
        let reg = self.registry().await;
        let pts: Vec<LatLon> = reg
            .sites
            .values()
            .filter(|s| s.municipality == *m)
            .map(|s| s.geometry.anchor())
            .chain(reg.sensors.values().filter(|s| s.municipality == *m).map(|s| s.position))
            .chain(reg.cameras.values().filter(|c| c.municipality == *m).map(|c| c.position))
            .collect();
        if pts.is_empty() {
            return None;
        }
        let pad = 0.02;
        let (mut s, mut w, mut n, mut e) = (90.0f64, 180.0f64, -90.0f64, -180.0f64);
        for p in &pts {
            s = s.min(p.lat());
            n = n.max(p.lat());
            w = w.min(p.lon());
            e = e.max(p.lon());
        }
        let c = |lat: f64, lon: f64| LatLon::new(lat.clamp(-90.0, 90.0), lon.clamp(-180.0, 180.0)).ok();
        [c(s - pad, w - pad), c(s - pad, e + pad), c(n + pad, e + pad), c(n + pad, w - pad)].into_iter().collect()
    }

    /// Takes a CAP message received from `feed` for municipality `m` whose outline is
    /// `outline`: kept when one of its areas intersects the outline, once per sender and
    /// identifier; an update or cancel ends the messages it references; a severe or extreme
    /// one raises an alarm. Returns whether anything changed.
    pub async fn receive_cap(&self, feed: &str, m: &Id, outline: &[LatLon], a: &ParsedAlert) -> Result<bool> {
        let key = format!("{},{}", a.sender, a.identifier);
        if read(&self.board.inbound).contains_key(&key) {
            return Ok(false);
        }
        let rings: Vec<Vec<LatLon>> = a.rings().cloned().collect();
        let touches = rings.iter().any(|r| polis_domain::warning::rings_intersect(r, outline));
        let cancels = a.msg_type.eq_ignore_ascii_case("cancel");
        let references: Vec<String> = a.references.iter().map(|r| format!("{},{}", r.sender, r.identifier)).collect();
        let follows_known = references.iter().any(|r| read(&self.board.inbound).contains_key(r));
        if !touches && !follows_known {
            return Ok(false);
        }
        let _w = self.board.write.lock().await;
        let now = self.clock().now();
        // Earlier messages this one replaces or cancels leave force.
        for r in &references {
            let old = read(&self.board.inbound).get(r).cloned();
            if let Some(mut old) = old.filter(|o| o.status == InboundStatus::InForce) {
                old.status = InboundStatus::Cancelled;
                self.store().put_inbound(&old, None).await?;
                write(&self.board.inbound).insert(old.key.clone(), old.clone());
                self.bus().publish(Some(m.clone()), LiveEvent::ExternalWarning(Box::new(old)));
            }
        }
        let info = a.info.iter().find(|i| i.language.starts_with("bg")).or(a.info.first());
        let alert = InboundAlert {
            key: key.clone(),
            identifier: a.identifier.clone(),
            sender: a.sender.clone(),
            sent: a.sent,
            municipality: m.clone(),
            feed: feed.to_string(),
            msg_type: a.msg_type.clone(),
            status: if cancels { InboundStatus::Cancelled } else { InboundStatus::InForce },
            event: info.map(|i| i.event.clone()).unwrap_or_default(),
            urgency: info.map(|i| i.urgency.clone()).unwrap_or_default(),
            severity: info.map(|i| i.severity.clone()).unwrap_or_default(),
            certainty: info.map(|i| i.certainty.clone()).unwrap_or_default(),
            headline: info.map(|i| i.headline.clone()).unwrap_or_default(),
            description: info.map(|i| i.description.clone()).unwrap_or_default(),
            language: info.map(|i| i.language.clone()).unwrap_or_default(),
            expires: info.and_then(|i| i.expires),
            areas: rings,
            references,
            received_at: now,
        };
        let audit = polis_domain::AuditRecord {
            at: now,
            actor: "cap-in".into(),
            action: "external_warning.receive".into(),
            entity: "external_warning".into(),
            entity_id: key.clone(),
            municipality: Some(m.clone()),
            before: None,
            after: Some(format!("{} {} {}", alert.msg_type, alert.severity, alert.event)),
        };
        self.store().put_inbound(&alert, Some(&audit)).await?;
        write(&self.board.inbound).insert(key.clone(), alert.clone());
        self.bump();
        self.bus().publish(Some(m.clone()), LiveEvent::ExternalWarning(Box::new(alert.clone())));
        drop(_w);
        if alert.in_force(now) && alert.is_severe() {
            let source = Id::from_trusted(format!("cap-{:016x}", fnv(&key)));
            let place = alert.areas.first().and_then(|r| r.first().copied());
            let severity =
                if alert.severity.eq_ignore_ascii_case("extreme") { Severity::Critical } else { Severity::Major };
            let message = format!("{} from {}: {}", alert.event, alert.sender, alert.headline);
            self.system_alarm(CAP_IN_RULE, &source, m, place, severity, message, true).await?;
        }
        Ok(true)
    }

    /// Warnings received from outside that the actor may see, newest first.
    pub fn external_warnings(&self, actor: &Actor) -> Result<Vec<InboundAlert>> {
        actor.check_read_registry()?;
        let mut out: Vec<InboundAlert> =
            read(&self.board.inbound).values().filter(|a| actor.sees(&a.municipality)).cloned().collect();
        out.sort_by_key(|a| std::cmp::Reverse(a.sent));
        Ok(out)
    }

    /// Warnings from outside in force now (for the portal).
    pub fn public_external_warnings(&self) -> Vec<InboundAlert> {
        let now = self.clock().now();
        read(&self.board.inbound).values().filter(|a| a.in_force(now)).cloned().collect()
    }
}

/// A stable 64-bit hash (FNV-1a) for ids derived from outside keys.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// CAP in: the feed pollers deliver here.
#[async_trait::async_trait]
impl polis_ingest::cap_feed::CapSink for App {
    async fn outline(&self, municipality: &Id) -> Option<Vec<LatLon>> {
        self.municipality_outline(municipality).await
    }

    async fn receive(&self, feed: &str, municipality: &Id, outline: &[LatLon], alert: &ParsedAlert) -> Result<bool> {
        self.receive_cap(feed, municipality, outline, alert).await
    }
}

impl App {
    /// Relays each CAP message as it is sent to `out` as (`<municipality>/warnings`, the XML),
    /// for the MQTT publisher (sirens, displays, other systems), until the bus closes or
    /// `out` is dropped.
    pub async fn run_warning_relay(self: Arc<Self>, out: tokio::sync::mpsc::UnboundedSender<(String, Vec<u8>)>) {
        let mut sub = match self.bus().engine().subscribe(None).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "warning relay: cannot subscribe to the live bus");
                return;
            }
        };
        let mut sent: std::collections::HashSet<String> = std::collections::HashSet::new();
        while let Some(d) = sub.next().await {
            let polis_domain_event = match d {
                crate::bus::Delivery::Event(e) => e,
                crate::bus::Delivery::Gap { .. } => continue,
            };
            let LiveEvent::Warning(w) = &polis_domain_event.event else { continue };
            let Some(m) = w.messages.last() else { continue };
            if !sent.insert(m.identifier.clone()) {
                continue;
            }
            let record = read(&self.board.latest).get(&w.id).filter(|r| r.identifier == m.identifier).cloned();
            let xml = match record {
                Some(r) => r.xml.clone(),
                None => match self.store().cap_message(&m.identifier).await {
                    Ok(Some(r)) => r.xml,
                    _ => continue,
                },
            };
            if out.send((format!("{}/warnings", w.municipality), xml.into_bytes())).is_err() {
                return;
            }
        }
    }
}
