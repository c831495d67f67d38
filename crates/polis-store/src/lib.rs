//! All persistence of Polis flows through the [`Store`] trait. Two engines implement it:
//! SQLite (the embedded default, one file, WAL, `synchronous=FULL` so an acknowledged write is
//! on disk) and PostgreSQL (production, many municipalities). Both pass one shared test suite.
//! This is the only crate that speaks SQL.

use async_trait::async_trait;
use polis_base::Result;
use polis_domain::{AuditRecord, Camera, Id, Organisation, Sensor, Site, User};
use std::sync::Arc;
use time::OffsetDateTime;

/// An audit record as read back, with its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub seq: i64,
    pub record: AuditRecord,
}

/// The storage interface. Every method is atomic: it either fully happens or changes nothing.
/// Mutations that a person makes carry their audit records, written in the same transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    // Organisations (municipalities and agencies).
    /// Inserts or replaces an organisation by id.
    async fn put_organisation(&self, org: &Organisation, audit: Option<&AuditRecord>) -> Result<()>;
    async fn list_organisations(&self) -> Result<Vec<Organisation>>;

    // Users and sessions.
    /// `AlreadyExists` when the username or id is taken.
    async fn create_user(&self, user: &User, audit: Option<&AuditRecord>) -> Result<()>;
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Stores a session: the SHA-256 hash (hex) of a bearer token, never the token itself.
    async fn create_session(&self, token_hash: &str, user: &Id, expires_at: OffsetDateTime) -> Result<()>;
    /// The user of an unexpired session.
    async fn session_user(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<User>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    // Cameras.
    /// Inserts all or none. A taken id gives `AlreadyExists` with a detail naming field `id` and
    /// the 0-based index of the item (as `row`).
    async fn insert_cameras(&self, cameras: &[Camera], audit: &[AuditRecord]) -> Result<()>;
    /// `NotFound` when the id does not exist.
    async fn update_camera(&self, camera: &Camera, audit: &AuditRecord) -> Result<()>;
    /// `NotFound` when the id does not exist.
    async fn delete_camera(&self, id: &Id, audit: &AuditRecord) -> Result<()>;
    /// Every camera, credentials included (the caller keeps them secret), ordered by id.
    async fn list_cameras(&self) -> Result<Vec<Camera>>;

    // Key sites.
    async fn insert_sites(&self, sites: &[Site], audit: &[AuditRecord]) -> Result<()>;
    async fn update_site(&self, site: &Site, audit: &AuditRecord) -> Result<()>;
    async fn delete_site(&self, id: &Id, audit: &AuditRecord) -> Result<()>;
    async fn list_sites(&self) -> Result<Vec<Site>>;

    // Sensors.
    async fn insert_sensors(&self, sensors: &[Sensor], audit: &[AuditRecord]) -> Result<()>;
    async fn update_sensor(&self, sensor: &Sensor, audit: &AuditRecord) -> Result<()>;
    async fn delete_sensor(&self, id: &Id, audit: &AuditRecord) -> Result<()>;
    async fn list_sensors(&self) -> Result<Vec<Sensor>>;

    // Audit log.
    /// Newest first; `municipality` filters (records without a municipality are region-wide and
    /// only returned when the filter is `None`).
    async fn list_audit(&self, municipality: Option<&Id>, limit: u32) -> Result<Vec<AuditEntry>>;
}

pub type DynStore = Arc<dyn Store>;

/// Opens a store from a URL: `sqlite://PATH` (created if missing) or `postgres://...`.
/// Runs migrations.
pub async fn open(url: &str) -> Result<DynStore> {
    let _ = url;
    Err(polis_base::Error::unavailable("store not implemented yet"))
}
