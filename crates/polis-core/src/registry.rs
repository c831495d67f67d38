//! The registry in memory (organisations, sites, cameras, sensors and their spatial indexes) and
//! the operations on it. One generic path ([`Entity`]) serves the three kinds of registry item,
//! so create, import, update and delete behave the same for all of them.

use crate::live::{Change, LiveEvent};
use crate::App;
use polis_base::{Error, ErrorKind, FieldError, Result};
use polis_domain::{
    Actor, AuditRecord, Camera, CameraStatus, Id, LatLon, OrgKind, Organisation, Sensor, Site, SiteGeometry,
};
use polis_geo::{CameraIndex, Hit, PointIndex};
use polis_store::Store;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;

type StoreFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Everything the registry holds, with indexes. Kept equal to the store by [`App`].
pub struct Registry {
    pub organisations: BTreeMap<Id, Organisation>,
    pub cameras: BTreeMap<Id, Camera>,
    pub sites: BTreeMap<Id, Site>,
    pub sensors: BTreeMap<Id, Sensor>,
    pub camera_index: CameraIndex,
    pub site_index: PointIndex,
    pub sensor_index: PointIndex,
}

impl Registry {
    /// Whether `id` names a municipality (not an agency, not unknown).
    pub fn is_municipality(&self, id: &Id) -> bool {
        self.organisations.get(id).is_some_and(|o| o.kind == OrgKind::Municipality)
    }

    pub(crate) async fn load(store: &dyn Store) -> Result<Registry> {
        let organisations = store.list_organisations().await?.into_iter().map(|o| (o.id.clone(), o)).collect();
        let cameras: BTreeMap<Id, Camera> =
            store.list_cameras().await?.into_iter().map(|c| (c.id.clone(), c)).collect();
        let sites: BTreeMap<Id, Site> = store.list_sites().await?.into_iter().map(|s| (s.id.clone(), s)).collect();
        let sensors: BTreeMap<Id, Sensor> =
            store.list_sensors().await?.into_iter().map(|s| (s.id.clone(), s)).collect();
        let camera_index = CameraIndex::from_cameras(cameras.values().filter(|c| in_service(c)));
        let mut site_index = PointIndex::new();
        for s in sites.values() {
            site_index.upsert(&s.id, &s.municipality, &s.geometry);
        }
        let mut sensor_index = PointIndex::new();
        for s in sensors.values() {
            sensor_index.upsert(&s.id, &s.municipality, &SiteGeometry::Point(s.position));
        }
        Ok(Registry { organisations, cameras, sites, sensors, camera_index, site_index, sensor_index })
    }
}

/// A kind of registry item: how it is named, stored and indexed.
pub trait Entity: Clone + serde::Serialize + Send + Sync + 'static {
    /// Singular name used in audit actions and messages: "camera", "site", "sensor".
    const KIND: &'static str;
    fn id(&self) -> &Id;
    fn municipality(&self) -> &Id;
    /// Problems not covered by the field types.
    fn check(&self) -> Vec<FieldError> {
        Vec::new()
    }
    fn map(reg: &Registry) -> &BTreeMap<Id, Self>;
    fn put_memory(reg: &mut Registry, item: Self);
    /// Puts many items; kinds with an index may rebuild it in bulk, which is faster than
    /// inserting one by one.
    fn put_many(reg: &mut Registry, items: Vec<Self>) {
        for item in items {
            Self::put_memory(reg, item);
        }
    }
    fn remove_memory(reg: &mut Registry, id: &Id);
    fn store_insert<'a>(store: &'a dyn Store, items: &'a [Self], audit: &'a [AuditRecord]) -> StoreFuture<'a>;
    fn store_update<'a>(store: &'a dyn Store, item: &'a Self, audit: &'a AuditRecord) -> StoreFuture<'a>;
    fn store_delete<'a>(store: &'a dyn Store, id: &'a Id, audit: &'a AuditRecord) -> StoreFuture<'a>;
}

impl Entity for Camera {
    const KIND: &'static str = "camera";
    fn id(&self) -> &Id {
        &self.id
    }
    fn municipality(&self) -> &Id {
        &self.municipality
    }
    fn check(&self) -> Vec<FieldError> {
        Camera::check(self)
    }
    fn map(reg: &Registry) -> &BTreeMap<Id, Self> {
        &reg.cameras
    }
    fn put_memory(reg: &mut Registry, item: Self) {
        if in_service(&item) {
            reg.camera_index.upsert(&item);
        } else {
            reg.camera_index.remove(&item.id);
        }
        reg.cameras.insert(item.id.clone(), item);
    }
    fn put_many(reg: &mut Registry, items: Vec<Self>) {
        if items.len() < 1000 {
            for item in items {
                Self::put_memory(reg, item);
            }
            return;
        }
        for item in items {
            reg.cameras.insert(item.id.clone(), item);
        }
        reg.camera_index = CameraIndex::from_cameras(reg.cameras.values().filter(|c| in_service(c)));
    }
    fn remove_memory(reg: &mut Registry, id: &Id) {
        reg.camera_index.remove(id);
        reg.cameras.remove(id);
    }
    fn store_insert<'a>(store: &'a dyn Store, items: &'a [Self], audit: &'a [AuditRecord]) -> StoreFuture<'a> {
        store.insert_cameras(items, audit)
    }
    fn store_update<'a>(store: &'a dyn Store, item: &'a Self, audit: &'a AuditRecord) -> StoreFuture<'a> {
        store.update_camera(item, audit)
    }
    fn store_delete<'a>(store: &'a dyn Store, id: &'a Id, audit: &'a AuditRecord) -> StoreFuture<'a> {
        store.delete_camera(id, audit)
    }
}

impl Entity for Site {
    const KIND: &'static str = "site";
    fn id(&self) -> &Id {
        &self.id
    }
    fn municipality(&self) -> &Id {
        &self.municipality
    }
    fn check(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.name_bg.trim().is_empty() && self.name_en.trim().is_empty() {
            errs.push(FieldError::new("name_en", "a site needs a name in Bulgarian or English"));
        }
        if self.sectors.is_empty() {
            errs.push(FieldError::new("sectors", "a site needs at least one sector"));
        }
        errs
    }
    fn map(reg: &Registry) -> &BTreeMap<Id, Self> {
        &reg.sites
    }
    fn put_memory(reg: &mut Registry, item: Self) {
        reg.site_index.upsert(&item.id, &item.municipality, &item.geometry);
        reg.sites.insert(item.id.clone(), item);
    }
    fn remove_memory(reg: &mut Registry, id: &Id) {
        reg.site_index.remove(id);
        reg.sites.remove(id);
    }
    fn store_insert<'a>(store: &'a dyn Store, items: &'a [Self], audit: &'a [AuditRecord]) -> StoreFuture<'a> {
        store.insert_sites(items, audit)
    }
    fn store_update<'a>(store: &'a dyn Store, item: &'a Self, audit: &'a AuditRecord) -> StoreFuture<'a> {
        store.update_site(item, audit)
    }
    fn store_delete<'a>(store: &'a dyn Store, id: &'a Id, audit: &'a AuditRecord) -> StoreFuture<'a> {
        store.delete_site(id, audit)
    }
}

impl Entity for Sensor {
    const KIND: &'static str = "sensor";
    fn id(&self) -> &Id {
        &self.id
    }
    fn municipality(&self) -> &Id {
        &self.municipality
    }
    fn check(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            errs.push(FieldError::new("name", "must be 1 to 200 characters"));
        }
        if self.name_en.chars().count() > 200 {
            errs.push(FieldError::new("name_en", "must be at most 200 characters"));
        }
        errs
    }
    fn map(reg: &Registry) -> &BTreeMap<Id, Self> {
        &reg.sensors
    }
    fn put_memory(reg: &mut Registry, item: Self) {
        reg.sensor_index.upsert(&item.id, &item.municipality, &SiteGeometry::Point(item.position));
        reg.sensors.insert(item.id.clone(), item);
    }
    fn remove_memory(reg: &mut Registry, id: &Id) {
        reg.sensor_index.remove(id);
        reg.sensors.remove(id);
    }
    fn store_insert<'a>(store: &'a dyn Store, items: &'a [Self], audit: &'a [AuditRecord]) -> StoreFuture<'a> {
        store.insert_sensors(items, audit)
    }
    fn store_update<'a>(store: &'a dyn Store, item: &'a Self, audit: &'a AuditRecord) -> StoreFuture<'a> {
        store.update_sensor(item, audit)
    }
    fn store_delete<'a>(store: &'a dyn Store, id: &'a Id, audit: &'a AuditRecord) -> StoreFuture<'a> {
        store.delete_sensor(id, audit)
    }
}

/// Whether a camera is installed, so that geo queries should count it: planned and
/// decommissioned cameras see nothing; an offline camera is listed (the operator needs to know
/// that the camera that would see the spot is down).
fn in_service(c: &Camera) -> bool {
    matches!(c.status, CameraStatus::Active | CameraStatus::Offline)
}

/// A fresh id for an item created without one: `<prefix>-<12 hex digits>`.
pub fn new_id(prefix: &str) -> Id {
    let n: u64 = rand::random();
    Id::from_trusted(format!("{prefix}-{:012x}", n & 0xffff_ffff_ffff))
}

fn not_found(kind: &str, id: &Id) -> Error {
    Error::not_found(format!("no {kind} with id {id}"))
}

impl App {
    /// Every item of a kind the actor may see, ordered by id.
    pub async fn list<T: Entity>(&self, actor: &Actor) -> Result<Vec<T>> {
        actor.check_read_registry()?;
        let reg = self.registry.read().await;
        Ok(T::map(&reg).values().filter(|i| actor.sees(i.municipality())).cloned().collect())
    }

    /// One item; `NotFound` also when it belongs to a municipality the actor may not see.
    pub async fn get<T: Entity>(&self, actor: &Actor, id: &Id) -> Result<T> {
        actor.check_read_registry()?;
        let reg = self.registry.read().await;
        T::map(&reg).get(id).filter(|i| actor.sees(i.municipality())).cloned().ok_or_else(|| not_found(T::KIND, id))
    }

    /// Creates one item.
    pub async fn create<T: Entity>(&self, actor: &Actor, item: T) -> Result<T> {
        self.import(actor, vec![item.clone()]).await?;
        Ok(item)
    }

    /// Creates many items, all or none. Every problem is reported with the item's 0-based
    /// index as its row; nothing is written when there is any.
    pub async fn import<T: Entity>(&self, actor: &Actor, items: Vec<T>) -> Result<usize> {
        self.import_or_check(actor, items, false).await
    }

    /// Checks many items as [`App::import`] would (rights, every field, ids free), writing
    /// nothing: the import wizard's first step. Returns how many would be created.
    pub async fn check_import<T: Entity>(&self, actor: &Actor, items: Vec<T>) -> Result<usize> {
        self.import_or_check(actor, items, true).await
    }

    async fn import_or_check<T: Entity>(&self, actor: &Actor, items: Vec<T>, dry_run: bool) -> Result<usize> {
        // Also an empty import is refused to who may not import.
        actor.check_may_write_registry()?;
        let mut problems = Vec::new();
        let mut municipalities = HashSet::new();
        for (row, item) in items.iter().enumerate() {
            problems.extend(item.check().into_iter().map(|e| e.at_row(row)));
            municipalities.insert(item.municipality().clone());
        }
        for m in &municipalities {
            actor.check_write_registry(m)?;
            let reg = self.registry.read().await;
            if !reg.is_municipality(m) {
                problems.push(FieldError::new("municipality", format!("no municipality with id {m}")));
            }
        }
        let _write = self.write_lock.lock().await;
        {
            let reg = self.registry.read().await;
            let mut seen = HashSet::new();
            for (row, item) in items.iter().enumerate() {
                if !seen.insert(item.id()) {
                    problems
                        .push(FieldError::new("id", format!("duplicate id {} in this batch", item.id())).at_row(row));
                } else if T::map(&reg).contains_key(item.id()) {
                    problems
                        .push(FieldError::new("id", format!("a {} with id {} exists", T::KIND, item.id())).at_row(row));
                }
            }
        }
        if !problems.is_empty() {
            let kind = if problems.iter().all(|p| p.field == "id" && p.message.contains("exists")) {
                ErrorKind::AlreadyExists
            } else {
                ErrorKind::InvalidArgument
            };
            let msg = format!("{} problem(s) in {} {}(s); nothing was written", problems.len(), items.len(), T::KIND);
            return Err(Error::new(kind, msg).with_details(problems));
        }
        if dry_run {
            return Ok(items.len());
        }
        // One item: its full state. A bulk import: one record naming every id it created (the
        // items themselves are in the registry, and later changes are audited one by one), which
        // keeps a 100,000-camera import from writing 100,000 snapshots.
        let audit: Vec<AuditRecord> = match items.as_slice() {
            [one] => {
                let action = format!("{}.create", T::KIND);
                vec![self.audit(actor, &action, one.id().as_str(), Some(one.municipality()), None, Some(one))]
            }
            many => {
                let action = format!("{}.import", T::KIND);
                let ids: Vec<&str> = many.iter().map(|i| i.id().as_str()).collect();
                let summary = serde_json::json!({"count": many.len(), "ids": ids});
                let municipality = (municipalities.len() == 1).then(|| many[0].municipality());
                vec![self.audit(actor, &action, &format!("{} items", many.len()), municipality, None, Some(&summary))]
            }
        };
        T::store_insert(&*self.store, &items, &audit).await?;
        let n = items.len();
        let event = LiveEvent::registry(T::KIND, Change::Created, items.iter().map(|i| i.id()));
        T::put_many(&mut *self.registry.write().await, items);
        self.bus.publish(municipality_of(&municipalities), event);
        Ok(n)
    }

    /// Replaces an item (same id). The actor must be allowed to change both the old and the new
    /// municipality of the item.
    pub async fn update<T: Entity>(&self, actor: &Actor, item: T) -> Result<T> {
        let problems = item.check();
        if !problems.is_empty() {
            return Err(Error::invalid_fields(format!("invalid {}", T::KIND), problems));
        }
        let _write = self.write_lock.lock().await;
        let before = self.get::<T>(actor, item.id()).await?;
        actor.check_write_registry(before.municipality())?;
        actor.check_write_registry(item.municipality())?;
        let audit = self.audit(
            actor,
            &format!("{}.update", T::KIND),
            item.id().as_str(),
            Some(item.municipality()),
            Some(&before),
            Some(&item),
        );
        T::store_update(&*self.store, &item, &audit).await?;
        T::put_memory(&mut *self.registry.write().await, item.clone());
        let event = LiveEvent::registry(T::KIND, Change::Updated, std::iter::once(item.id()));
        self.bus.publish(Some(item.municipality().clone()), event);
        Ok(item)
    }

    /// Deletes an item.
    pub async fn delete<T: Entity>(&self, actor: &Actor, id: &Id) -> Result<()> {
        let _write = self.write_lock.lock().await;
        let before = self.get::<T>(actor, id).await?;
        actor.check_write_registry(before.municipality())?;
        let audit = self.audit(
            actor,
            &format!("{}.delete", T::KIND),
            id.as_str(),
            Some(before.municipality()),
            Some(&before),
            None,
        );
        T::store_delete(&*self.store, id, &audit).await?;
        T::remove_memory(&mut *self.registry.write().await, id);
        self.bus.publish(
            Some(before.municipality().clone()),
            LiveEvent::registry(T::KIND, Change::Deleted, std::iter::once(id)),
        );
        Ok(())
    }

    /// Cameras that can see `p`, nearest first, with their distance in metres.
    pub async fn cameras_seeing(&self, actor: &Actor, p: LatLon, limit: usize) -> Result<Vec<(Camera, f64)>> {
        actor.check_read_registry()?;
        let reg = self.registry.read().await;
        Ok(resolve(&reg.cameras, reg.camera_index.seeing(p, actor.scope(), limit)))
    }

    /// Cameras standing within `radius_m` of `p`, nearest first.
    pub async fn cameras_within(
        &self,
        actor: &Actor,
        p: LatLon,
        radius_m: f64,
        limit: usize,
    ) -> Result<Vec<(Camera, f64)>> {
        actor.check_read_registry()?;
        let reg = self.registry.read().await;
        Ok(resolve(&reg.cameras, reg.camera_index.within_radius(p, radius_m, actor.scope(), limit)))
    }

    /// Cameras that see a key site (a point or any part of a polygon), nearest first.
    pub async fn cameras_seeing_site(&self, actor: &Actor, site: &Id, limit: usize) -> Result<Vec<(Camera, f64)>> {
        let site: Site = self.get(actor, site).await?;
        let reg = self.registry.read().await;
        Ok(resolve(&reg.cameras, reg.camera_index.seeing_site(&site.geometry, actor.scope(), limit)))
    }

    /// Key sites within `radius_m` of `p`, nearest first.
    pub async fn sites_within_radius(
        &self,
        actor: &Actor,
        p: LatLon,
        radius_m: f64,
        limit: usize,
    ) -> Result<Vec<(Site, f64)>> {
        actor.check_read_registry()?;
        let reg = self.registry.read().await;
        Ok(resolve(&reg.sites, reg.site_index.within_radius(p, radius_m, actor.scope(), limit)))
    }

    /// Key sites that intersect a polygon, by id.
    pub async fn sites_within_polygon(&self, actor: &Actor, ring: &[LatLon], limit: usize) -> Result<Vec<Site>> {
        actor.check_read_registry()?;
        let reg = self.registry.read().await;
        Ok(resolve(&reg.sites, reg.site_index.within_polygon(ring, actor.scope(), limit))
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    /// Sensors within `radius_m` of `p`, nearest first.
    pub async fn sensors_within_radius(
        &self,
        actor: &Actor,
        p: LatLon,
        radius_m: f64,
        limit: usize,
    ) -> Result<Vec<(Sensor, f64)>> {
        actor.check_read_registry()?;
        let reg = self.registry.read().await;
        Ok(resolve(&reg.sensors, reg.sensor_index.within_radius(p, radius_m, actor.scope(), limit)))
    }

    /// The municipality for an item that names none: the actor's own, or, for a region-wide
    /// actor, the only municipality when there is exactly one.
    pub async fn default_municipality(&self, actor: &Actor) -> Option<Id> {
        if let Some(m) = &actor.municipality {
            return Some(m.clone());
        }
        let reg = self.registry.read().await;
        let mut munis = reg.organisations.values().filter(|o| o.kind == OrgKind::Municipality);
        match (munis.next(), munis.next()) {
            (Some(only), None) => Some(only.id.clone()),
            _ => None,
        }
    }

    /// Organisations the actor may see.
    pub async fn organisations(&self, actor: &Actor) -> Result<Vec<Organisation>> {
        let reg = self.registry.read().await;
        Ok(reg.organisations.values().filter(|o| actor.sees(&o.municipality)).cloned().collect())
    }

    /// Creates or replaces an organisation. A new municipality needs a region-wide administrator;
    /// an agency needs an administrator of its municipality.
    pub async fn put_organisation(&self, actor: &Actor, org: Organisation) -> Result<Organisation> {
        self.save_organisation(actor, org, false).await
    }

    /// Creates an organisation; one with that id already existing is refused (409), whatever its
    /// municipality, with a message that names no municipality.
    pub async fn create_organisation(&self, actor: &Actor, org: Organisation) -> Result<Organisation> {
        self.save_organisation(actor, org, true).await
    }

    /// Creates or replaces an organisation (`create_only`: refuses an existing id). Its kind
    /// never changes: a municipality stays one, an agency stays one.
    async fn save_organisation(&self, actor: &Actor, org: Organisation, create_only: bool) -> Result<Organisation> {
        match org.kind {
            OrgKind::Municipality => {
                if org.municipality != org.id {
                    return Err(Error::invalid("municipality", "a municipality's municipality is itself"));
                }
                actor.check_admin(None)?;
            }
            OrgKind::Agency => {
                actor.check_admin(Some(&org.municipality))?;
                if org.agency_kind.is_none() {
                    return Err(Error::invalid("agency_kind", "an agency needs its kind"));
                }
            }
        }
        let _write = self.write_lock.lock().await;
        {
            let reg = self.registry.read().await;
            if org.kind == OrgKind::Agency && !reg.is_municipality(&org.municipality) {
                return Err(Error::invalid("municipality", format!("no municipality with id {}", org.municipality)));
            }
        }
        let before = self.registry.read().await.organisations.get(&org.id).cloned();
        if let Some(b) = &before {
            if create_only {
                return Err(Error::already_exists(format!("the id {} is taken; choose another", org.id)));
            }
            actor.check_admin(Some(&b.municipality))?;
            if b.kind != org.kind {
                return Err(Error::invalid(
                    "kind",
                    format!("an organisation's kind never changes (it is {})", b.kind.as_str()),
                ));
            }
        }
        let action = if before.is_some() { "organisation.update" } else { "organisation.create" };
        let audit = self.audit(actor, action, org.id.as_str(), Some(&org.municipality), before.as_ref(), Some(&org));
        self.store.put_organisation(&org, Some(&audit)).await?;
        self.registry.write().await.organisations.insert(org.id.clone(), org.clone());
        Ok(org)
    }
}

/// The municipality of a set of items, when they all share one.
fn municipality_of(set: &HashSet<Id>) -> Option<Id> {
    match set.len() {
        1 => set.iter().next().cloned(),
        _ => None,
    }
}

fn resolve<T: Clone>(map: &BTreeMap<Id, T>, hits: Vec<Hit>) -> Vec<(T, f64)> {
    hits.into_iter().filter_map(|h| map.get(&h.id).map(|i| (i.clone(), h.distance_m))).collect()
}
