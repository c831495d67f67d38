//! All persistence of Polis flows through the [`Store`] trait. Two engines implement it:
//! SQLite (the embedded default, one file, WAL, `synchronous=FULL` so an acknowledged write is
//! on disk) and PostgreSQL (production, many municipalities). Both pass one shared test suite.
//! This is the only crate that speaks SQL.
//!
//! Open a store with [`open`] (a URL) or [`open_sqlite`] (a path); the schema is migrated on
//! open (see `migrations/`). Inside, both engines share one implementation and one SQL text
//! (`sql.rs`); `db.rs` is the thin layer that runs it on SQLite or PostgreSQL.

mod accounts;
mod backup;
mod codec;
mod db;
mod error;
mod events;
mod incidents;
mod live;
mod migrate;
mod onvif;
mod recordings;
mod sql;
pub mod testing;
mod tickets;
mod tiles;
mod warnings;

pub use backup::{backup_sqlite, restore_sqlite};
pub use events::{EventLogState, StoredEvent};
pub use incidents::{AttachmentMeta, IncidentFilter, ShareUse};
pub use recordings::{Segment, SegmentUsage};
pub use tickets::{Ticket, TicketPurpose};
pub use tiles::MbTiles;

use async_trait::async_trait;
use polis_base::{Error, Result};
use polis_domain::incident::{Incident, JournalEntry, Procedure, Share, SosDevice, Unit};
use polis_domain::warning::{CapRecord, InboundAlert, Publication, Warning};
use polis_domain::{Alarm, AuditRecord, Camera, Id, Observation, Organisation, Rule, Sensor, Site, User};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Connection;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// An audit record as read back, with its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub seq: i64,
    pub record: AuditRecord,
}

/// A search of the audit log ([`Store::search_audit`]): each filter given must match exactly.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditFilter {
    /// Records of this municipality only (`None`: all, region-wide ones included).
    pub municipality: Option<Id>,
    /// Who made the change (the username).
    pub actor: Option<String>,
    /// An action (`camera.update`), or with no `.` an entity (`camera`: every action on cameras).
    pub action: Option<String>,
    /// The id of the item changed.
    pub object: Option<String>,
    /// Records at or after `from` and before `to`.
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    /// Records older than this sequence number (to page back).
    pub before_seq: Option<i64>,
    /// At most this many (newest first).
    pub limit: u32,
}

/// Observations of one sensor and quantity aggregated over one step of time (see
/// [`Store::observation_buckets`]): `count` of at least 1, and the smallest, largest and mean
/// value.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationBucket {
    /// The bucket holds the observations from `start` (a multiple of the step since the unix
    /// epoch) to `start + step`, excluded.
    pub start: OffsetDateTime,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
}

/// Whether the store takes writes: set when a write fails because the database is full or
/// unavailable, cleared when a write commits again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteStatus {
    /// Since when writes fail; `None` when the last write committed (or none failed).
    pub failing_since: Option<std::time::SystemTime>,
    /// The last such failure (an operation and the database's message: no values).
    pub last_error: Option<String>,
    /// Writes failed that way since the store was opened.
    pub failed_writes: u64,
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
    /// The user of an unexpired session, unless the user is disabled.
    async fn session_user(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<User>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Deletes the sessions that expired at or before `now`; returns how many.
    async fn purge_sessions(&self, now: OffsetDateTime) -> Result<u64>;
    /// A user by id.
    async fn user(&self, id: &Id) -> Result<Option<User>>;
    /// Saves an administrator's change of a user: role, municipality, agency, password hash and
    /// disabled (not the username, creation or last sign-in). With `end_sessions`, every session
    /// of the user is deleted in the same transaction. `NotFound` when the id does not exist.
    /// A disabled user's sessions never authenticate ([`Store::session_user`] is `None`).
    async fn update_user(&self, user: &User, end_sessions: bool, audit: &[AuditRecord]) -> Result<()>;
    /// Stamps the user's last sign-in.
    async fn record_login(&self, user: &Id, at: OffsetDateTime) -> Result<()>;

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
    /// Appends records that go with no other change (a person watched or exported video).
    async fn append_audit(&self, audit: &[AuditRecord]) -> Result<()>;
    /// Newest first; `municipality` filters (records without a municipality are region-wide and
    /// only returned when the filter is `None`).
    async fn list_audit(&self, municipality: Option<&Id>, limit: u32) -> Result<Vec<AuditEntry>>;
    /// The records that match every filter given, newest first, at most `filter.limit`.
    async fn search_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;

    // Observations: one time series per (sensor, quantity); `quantity` `None` is the sensor's
    // main value. Times are kept to the millisecond (finer digits are dropped on write).
    /// Stores a batch in one transaction, durable when this returns. A reading already stored
    /// for the same sensor, quantity and time (millisecond) is kept and the new one dropped, so
    /// that a batch delivered again (intake is at-least-once) is stored once.
    async fn insert_observations(&self, obs: &[Observation]) -> Result<()>;
    /// Observations with `from <= time < to`, oldest first, at most `limit`. `InvalidArgument`
    /// (field `quantity`) for a malformed quantity name.
    async fn observations(
        &self,
        sensor: &Id,
        quantity: Option<&str>,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Observation>>;
    /// Observations with `from <= time < to` aggregated per `step`, in buckets aligned to the
    /// unix epoch (a bucket starts at a multiple of `step`), oldest first, only the non-empty
    /// ones. `InvalidArgument` (field `step`) unless `step` is a whole number of milliseconds
    /// from 1 ms to 1,000 years.
    async fn observation_buckets(
        &self,
        sensor: &Id,
        quantity: Option<&str>,
        from: OffsetDateTime,
        to: OffsetDateTime,
        step: time::Duration,
    ) -> Result<Vec<ObservationBucket>>;
    /// The newest observation of every (sensor, quantity) stored, ordered by sensor then
    /// quantity (the main value first): a warm start after a restart.
    async fn latest_observations(&self) -> Result<Vec<Observation>>;
    /// Retention: deletes the observations of `sensors` older than `before`, after adding them to
    /// the hourly roll-ups (which `observation_buckets` reads for steps of whole hours); returns
    /// how many were deleted.
    async fn purge_observations(&self, sensors: &[Id], before: OffsetDateTime) -> Result<u64>;
    /// Retention of the roll-ups: deletes those of `sensors` for hours starting before `before`.
    async fn purge_rollups(&self, sensors: &[Id], before: OffsetDateTime) -> Result<u64>;

    // Rules, versioned: the caller bumps `version` on each change, and every version saved is
    // kept, also after the rule is deleted, so that an alarm's `rule_version` can be looked up.
    /// Inserts or replaces the rule by id, and records its version. `InvalidArgument` for a rule
    /// that fails `Rule::check`; `FailedPrecondition` when a newer version is stored;
    /// `AlreadyExists` when this version was saved before with other contents (two editors
    /// saving the same version: the second must reload). Saving the same version with the same
    /// contents again changes nothing but the audit log.
    async fn put_rule(&self, rule: &Rule, audit: &AuditRecord) -> Result<()>;
    /// `NotFound` when missing. The rule's versions are kept.
    async fn delete_rule(&self, id: &Id, audit: &AuditRecord) -> Result<()>;
    /// The current version of every rule, ordered by id.
    async fn list_rules(&self) -> Result<Vec<Rule>>;
    /// A version of a rule as it was saved, also of a rule since deleted.
    async fn rule_version(&self, id: &Id, version: u32) -> Result<Option<Rule>>;

    // Alarms.
    /// Inserts or replaces the alarm by id, in one transaction with its audit record. The
    /// database refuses a second open alarm (state other than cleared and acknowledged) for the
    /// same rule and source, also under concurrent writers: `AlreadyExists`.
    async fn put_alarm(&self, alarm: &Alarm, audit: Option<&AuditRecord>) -> Result<()>;
    /// Inserts or replaces several alarms (no audit: changes the server made, such as the
    /// coalesced repeats of an alarm storm), all in one transaction or none.
    async fn put_alarms(&self, alarms: &[Alarm]) -> Result<()>;
    /// One alarm by id, open or closed.
    async fn alarm(&self, id: &Id) -> Result<Option<Alarm>>;
    /// Every open alarm (state other than cleared and acknowledged), newest `last_seen` first.
    async fn open_alarms(&self) -> Result<Vec<Alarm>>;
    /// Newest `last_seen` first (then by id), at most `limit`; `municipality` filters, and
    /// `open_only` leaves out the closed ones.
    async fn list_alarms(&self, municipality: Option<&Id>, open_only: bool, limit: u32) -> Result<Vec<Alarm>>;

    // Recorded video: the index of the files on disk (the files are the media layer's).
    /// Inserts or updates (by camera and start) a recorded file's row.
    async fn put_segment(&self, segment: &Segment) -> Result<()>;
    /// The camera's files that overlap `from..to`, oldest first.
    async fn segments(&self, camera: &Id, from: OffsetDateTime, to: OffsetDateTime) -> Result<Vec<Segment>>;
    /// The oldest files of one camera, or of all, at most `limit`.
    async fn oldest_segments(&self, camera: Option<&Id>, limit: u32) -> Result<Vec<Segment>>;
    /// What each camera's recordings take.
    async fn segment_usage(&self) -> Result<Vec<SegmentUsage>>;
    /// Forgets a file (after the media layer deleted it).
    async fn delete_segment(&self, camera: &Id, start: OffsetDateTime) -> Result<()>;

    // ONVIF links of PTZ cameras (credentials included: the caller keeps them secret).
    /// Inserts or replaces the camera's link, with its audit record.
    async fn put_onvif_link(&self, link: &polis_domain::OnvifLink, audit: &AuditRecord) -> Result<()>;
    async fn onvif_link(&self, camera: &Id) -> Result<Option<polis_domain::OnvifLink>>;
    /// Every camera's link, ordered by camera.
    async fn onvif_links(&self) -> Result<Vec<polis_domain::OnvifLink>>;
    /// Removes the camera's link (audited when there was one); whether there was one.
    async fn delete_onvif_link(&self, camera: &Id, audit: &AuditRecord) -> Result<bool>;

    // Tickets (see [`Ticket`]): shared by every node of a region.
    /// Stores a ticket; the tickets expired at `now` are forgotten in the same transaction.
    async fn put_ticket(&self, ticket: &Ticket, now: OffsetDateTime) -> Result<()>;
    /// Takes a one-time ticket by its hash: it is deleted, and returned if unexpired at `now`.
    /// Of two concurrent takes of one ticket, at most one returns it.
    async fn take_ticket(&self, hash: &str, now: OffsetDateTime) -> Result<Option<Ticket>>;
    /// An unexpired ticket by its hash, left in place (playback tickets serve many requests).
    async fn ticket(&self, hash: &str, now: OffsetDateTime) -> Result<Option<Ticket>>;

    // Incidents. The journal is append-only: `journal` lines are appended in the same
    // transaction as the change they describe; nothing updates or deletes them.
    /// Inserts or replaces the incident by id, appends `journal`, writes `audit`, in one
    /// transaction.
    async fn put_incident(
        &self,
        incident: &Incident,
        journal: &[JournalEntry],
        audit: Option<&AuditRecord>,
    ) -> Result<()> {
        self.put_incident_and_units(incident, &[], journal, audit).await
    }
    /// [`Store::put_incident`] that also inserts or replaces `units` (those the change moved:
    /// assigned, released, on scene), all in one transaction.
    async fn put_incident_and_units(
        &self,
        incident: &Incident,
        units: &[Unit],
        journal: &[JournalEntry],
        audit: Option<&AuditRecord>,
    ) -> Result<()>;
    async fn incident(&self, id: &Id) -> Result<Option<Incident>>;
    /// Newest first, at most `filter.limit`.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    /// The incident's journal, oldest first.
    async fn journal(&self, incident: &Id) -> Result<Vec<JournalEntry>>;
    /// Stores an attachment (its bytes as base64) with its journal line and audit record.
    async fn put_attachment(
        &self,
        meta: &AttachmentMeta,
        data_base64: &str,
        journal: &JournalEntry,
        audit: &AuditRecord,
    ) -> Result<()>;
    async fn attachment(&self, id: &Id) -> Result<Option<(AttachmentMeta, String)>>;
    /// Stores a new version of a procedure; `AlreadyExists` if that version (or a newer one) is
    /// stored.
    async fn put_procedure(&self, procedure: &Procedure, audit: &AuditRecord) -> Result<()>;
    /// The newest version of every procedure, by id.
    async fn list_procedures(&self) -> Result<Vec<Procedure>>;
    /// Every version of one procedure, oldest first.
    async fn procedure_versions(&self, id: &Id) -> Result<Vec<Procedure>>;
    /// Inserts or replaces units, with their audit records, in one transaction.
    async fn put_units(&self, units: &[Unit], audit: &[AuditRecord]) -> Result<()>;
    async fn list_units(&self) -> Result<Vec<Unit>>;
    /// Inserts or replaces a share (by id), with a journal line and audit record.
    async fn put_share(&self, share: &Share, journal: &JournalEntry, audit: &AuditRecord) -> Result<()>;
    async fn share(&self, id: &Id) -> Result<Option<Share>>;
    async fn share_by_token(&self, token_hash: &str) -> Result<Option<Share>>;
    async fn shares_of_incident(&self, incident: &Id) -> Result<Vec<Share>>;
    /// The shares of an agency not expired at `now` (revoked ones included).
    async fn shares_of_agency(&self, agency: &Id, now: OffsetDateTime) -> Result<Vec<Share>>;
    async fn record_share_use(&self, share_use: &ShareUse) -> Result<()>;
    async fn share_uses(&self, share: &Id) -> Result<Vec<ShareUse>>;
    /// Inserts or replaces an SOS device; its profile is stored in its own columns.
    async fn put_sos_device(&self, device: &SosDevice, audit: Option<&AuditRecord>) -> Result<()>;
    async fn list_sos_devices(&self) -> Result<Vec<SosDevice>>;
    /// Deletes an SOS device with its profile, with the audit record in the same transaction.
    async fn delete_sos_device(&self, id: &Id, audit: &AuditRecord) -> Result<()>;

    // Public warnings (see `warnings.rs`).
    /// Inserts or replaces a warning, with the CAP message it just sent and its audit record,
    /// in one transaction. A message identifier used before: `AlreadyExists`.
    async fn put_warning(
        &self,
        warning: &Warning,
        message: Option<&CapRecord>,
        audit: Option<&AuditRecord>,
    ) -> Result<()>;
    async fn warning(&self, id: &Id) -> Result<Option<Warning>>;
    /// Every warning, newest change first.
    async fn list_warnings(&self) -> Result<Vec<Warning>>;
    /// A CAP message as sent.
    async fn cap_message(&self, identifier: &str) -> Result<Option<CapRecord>>;
    /// The CAP messages of a warning, oldest first.
    async fn cap_messages_of(&self, warning: &Id) -> Result<Vec<CapRecord>>;
    /// Inserts or replaces a warning received from outside (by its key).
    async fn put_inbound(&self, alert: &InboundAlert, audit: Option<&AuditRecord>) -> Result<()>;
    /// Every warning received, newest first.
    async fn list_inbound(&self) -> Result<Vec<InboundAlert>>;
    /// Records that an item is (or is no longer) public, with its audit record.
    async fn put_publication(&self, publication: &Publication, audit: &AuditRecord) -> Result<()>;
    async fn list_publications(&self) -> Result<Vec<Publication>>;
    // Reliability.
    /// Whether writes fail now for lack of space or an unavailable database (see
    /// [`WriteStatus`]).
    fn write_status(&self) -> WriteStatus {
        WriteStatus::default()
    }
    /// Writes a few pages and removes them again, in one committed transaction: `Unavailable`
    /// when the store cannot take a small write now (full, read-only, unreachable).
    async fn probe_write(&self) -> Result<()>;
    /// Appends live events to the bus's retention (an id already kept is skipped).
    async fn append_events(&self, events: &[StoredEvent]) -> Result<()>;
    /// The newest `limit` kept live events, oldest first.
    async fn newest_events(&self, limit: u32) -> Result<Vec<StoredEvent>>;
    /// Keeps the newest `keep` live events, none published before `before`; returns how many
    /// were deleted.
    async fn prune_events(&self, keep: u64, before: OffsetDateTime) -> Result<u64>;
    /// How the last run of the event log ended (see [`EventLogState`]).
    async fn event_log_state(&self) -> Result<EventLogState>;
    async fn set_event_log_state(&self, state: EventLogState) -> Result<()>;

    /// Closes the store's connections, waiting for work in flight (on SQLite this also folds the
    /// write-ahead log back into the database file). Call it at shutdown; the store must not be
    /// used afterwards. Not needed for durability: every acknowledged write is already on disk.
    async fn close(&self) {}
}

pub type DynStore = Arc<dyn Store>;

/// How long a SQLite connection waits for another process's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Read connections of a SQLite store (reads run in parallel with the one writer, thanks to WAL).
const SQLITE_READERS: u32 = 4;
/// Connections of a PostgreSQL store.
const PG_MAX_CONNECTIONS: u32 = 16;
/// How long a caller waits for a free connection before the store reports `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// The same for PostgreSQL, shorter: while the server is stopped or unreachable the pool keeps
/// trying to connect until this runs out, and every request waits that long for its 503. A
/// healthy server gives one of its connections within milliseconds.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a store URL points.
#[derive(Debug, PartialEq)]
enum Target<'a> {
    SqliteMemory,
    SqliteFile(&'a str),
    Postgres,
}

fn parse_url(url: &str) -> Result<Target<'_>> {
    let url = url.trim();
    let (scheme, rest) = url.split_once(':').unwrap_or(("", url));
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {
            if rest == ":memory:" || rest == "//:memory:" {
                return Ok(Target::SqliteMemory);
            }
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(Error::invalid("store", "a SQLite URL needs a file path: sqlite://PATH or sqlite:PATH"));
            }
            Ok(Target::SqliteFile(path))
        }
        "postgres" | "postgresql" => Ok(Target::Postgres),
        // Only the scheme is echoed: the rest of a URL may hold a password.
        other => Err(Error::invalid(
            "store",
            format!("unsupported store URL scheme {other:?}: expected sqlite:PATH, sqlite::memory: or postgres://..."),
        )),
    }
}

/// Opens a store from a URL and migrates its schema:
/// - `sqlite://PATH` or `sqlite:PATH`: a SQLite file, created if missing (`sqlite:///abs/path`
///   for an absolute path);
/// - `sqlite::memory:`: a private in-memory SQLite database, for tests;
/// - `postgres://user:password@host:port/database` (or `postgresql://`).
pub async fn open(url: &str) -> Result<DynStore> {
    match parse_url(url)? {
        Target::SqliteMemory => open_sqlite_memory().await,
        Target::SqliteFile(path) => open_sqlite(Path::new(path)).await,
        Target::Postgres => open_postgres(url).await,
    }
}

/// Opens (creating if missing) a SQLite store at `path` and migrates its schema.
///
/// Settings: WAL journal, `synchronous=FULL` (a commit returns once it is on disk), foreign keys
/// on, a busy timeout; writes go through one connection, reads through a pool of `query_only`
/// connections.
pub async fn open_sqlite(path: &Path) -> Result<DynStore> {
    let (db, _) = sqlite_db(path, None).await?;
    Ok(Arc::new(sql::SqlStore::new(db)))
}

/// The largest `max_page_count` SQLite takes: no limit.
pub(crate) const SQLITE_NO_PAGE_LIMIT: u64 = 0xffff_fffe;

/// Opens and migrates a SQLite file; `page_limit` (tests only, see [`testing::PageLimit`]) caps
/// the database's size in pages on every writer connection. Returns the writer pool too.
pub(crate) async fn sqlite_db(
    path: &Path,
    page_limit: Option<Arc<std::sync::atomic::AtomicU64>>,
) -> Result<(db::Db, sqlx::SqlitePool)> {
    let cannot_open = |e: sqlx::Error| {
        Error::unavailable(format!("cannot open the SQLite database at {}", path.display())).with_source(e)
    };
    let base = SqliteConnectOptions::new()
        .filename(path)
        .foreign_keys(true)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    // The writer stays open for the life of the store, so the WAL index is never torn down
    // underneath the readers.
    // A connection given back inside a transaction (a failed commit or rollback) is replaced.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _| {
            let limit = page_limit.as_ref().map(|l| l.load(std::sync::atomic::Ordering::SeqCst)).unwrap_or(0);
            Box::pin(async move {
                if limit > 0 {
                    sqlx::query(&format!("PRAGMA max_page_count = {limit}")).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .after_release(|conn, _| Box::pin(db::leaves_no_transaction_open(conn, true)))
        .connect_with(base.clone().create_if_missing(true).journal_mode(SqliteJournalMode::Wal))
        .await
        .map_err(cannot_open)?;
    let db = db::Db::Sqlite {
        writer: writer.clone(),
        reader: SqlitePoolOptions::new()
            .max_connections(SQLITE_READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(base.pragma("query_only", "ON")),
        health: Arc::default(),
    };
    let version = migrate::run(&db).await?;
    tracing::info!(path = %path.display(), schema_version = version, "opened SQLite store");
    Ok((db, writer))
}

/// A private in-memory SQLite database: one connection, kept open as long as the store lives
/// (the database disappears with it).
async fn open_sqlite_memory() -> Result<DynStore> {
    let options = SqliteConnectOptions::from_str("sqlite::memory:")
        .map_err(|e| Error::internal("in-memory SQLite options").with_source(e))?
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| Error::unavailable("cannot open an in-memory SQLite database").with_source(e))?;
    let db = db::Db::Sqlite { writer: pool.clone(), reader: pool, health: Arc::default() };
    migrate::run(&db).await?;
    Ok(Arc::new(sql::SqlStore::new(db)))
}

async fn open_postgres(url: &str) -> Result<DynStore> {
    // Neither message nor source may contain the URL: it can hold the password.
    let options = PgConnectOptions::from_str(url).map_err(|_| Error::invalid("store", "not a valid PostgreSQL URL"))?;
    let place =
        format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or("(default)"));
    let what = format!("connect to PostgreSQL at {place}");
    // One direct attempt first: a refused connection or a bad password fails at once, where the
    // pool would retry until its acquire timeout.
    let probe = PgConnection::connect_with(&options).await.map_err(|e| error::db_error(&what, e))?;
    let _ = probe.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(PG_MAX_CONNECTIONS)
        .acquire_timeout(PG_ACQUIRE_TIMEOUT)
        .after_release(|conn, _| Box::pin(db::leaves_no_transaction_open(conn, false)))
        .connect_with(options)
        .await
        .map_err(|e| error::db_error(&what, e))?;
    let db = db::Db::Postgres(pool, Arc::default());
    let version = migrate::run(&db).await?;
    tracing::info!(database = %place, schema_version = version, "opened PostgreSQL store");
    Ok(Arc::new(sql::SqlStore::new(db)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_base::ErrorKind;

    #[test]
    fn store_urls_are_recognised() {
        assert_eq!(parse_url("sqlite::memory:").ok(), Some(Target::SqliteMemory));
        assert_eq!(parse_url("sqlite://data/polis.db").ok(), Some(Target::SqliteFile("data/polis.db")));
        assert_eq!(parse_url("sqlite:///var/lib/polis.db").ok(), Some(Target::SqliteFile("/var/lib/polis.db")));
        assert_eq!(parse_url("sqlite:polis.db").ok(), Some(Target::SqliteFile("polis.db")));
        assert_eq!(parse_url("postgres://u:p@h/db").ok(), Some(Target::Postgres));
        assert_eq!(parse_url("postgresql://h/db").ok(), Some(Target::Postgres));
        assert_eq!(parse_url("sqlite://").map_err(|e| e.kind).err(), Some(ErrorKind::InvalidArgument));
    }

    #[test]
    fn an_unknown_scheme_is_refused_without_echoing_the_url() {
        let e = parse_url("mysql://root:hunter2@db/polis").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("mysql"), "{e}");
    }

    /// A transaction ended behind the driver's back (as SQLite does by itself on some full-disk
    /// failures) makes its rollback fail: the writer connection must not stay "inside" it, or
    /// every later write fails until a restart.
    #[tokio::test]
    async fn a_failed_rollback_leaves_no_connection_inside_a_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, _) = sqlite_db(&dir.path().join("p.db"), None).await.expect("open");
        let mut tx = db.begin("test").await.expect("begin");
        tx.execute("ROLLBACK", &[]).await.expect("end the transaction underneath");
        let failed = tx.finish::<()>("test", Err(Error::unavailable("the disk is full"))).await;
        assert_eq!(failed.map_err(|e| e.kind).err(), Some(ErrorKind::Unavailable));
        assert!(db.health().status().failing_since.is_some(), "the failure is noted");
        for i in 0..3 {
            let mut tx = db.begin("again").await.unwrap_or_else(|e| panic!("write {i} after the failure: {e}"));
            let r = tx.execute("DELETE FROM store_probe", &[]).await.map(|_| ()).map_err(|e| error::db_error("x", e));
            tx.finish("again", r).await.unwrap_or_else(|e| panic!("commit {i} after the failure: {e}"));
        }
        let status = db.health().status();
        assert_eq!((status.failing_since, status.failed_writes), (None, 1), "a commit clears it");
    }

    /// A database that cannot grow answers `Unavailable` (a 503), takes writes again as soon as
    /// it may grow, and is intact.
    #[tokio::test]
    async fn a_full_database_is_unavailable_and_recovers_by_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, limit) = testing::PageLimit::open(&dir.path().join("p.db")).await.expect("open");
        store.probe_write().await.expect("probe");
        limit.set(Some(limit.page_count().await.expect("pages"))).await.expect("limit");
        let mut refused = None;
        for i in 0..2_000 {
            let org = polis_domain::Organisation {
                id: Id::from_trusted(format!("org-{i}")),
                kind: polis_domain::OrgKind::Municipality,
                name_bg: "x".repeat(500),
                name_en: "y".repeat(500),
                municipality: Id::from_trusted(format!("org-{i}")),
                agency_kind: None,
                demo: false,
            };
            if let Err(e) = store.put_organisation(&org, None).await {
                refused = Some((i, e));
                break;
            }
        }
        let (n, e) = refused.expect("the database filled up");
        assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
        assert!(store.write_status().failing_since.is_some());
        assert_eq!(store.probe_write().await.map_err(|e| e.kind).err(), Some(ErrorKind::Unavailable));
        limit.set(None).await.expect("unlimit");
        store.probe_write().await.expect("writes again");
        assert!(store.write_status().failing_since.is_none());
        assert_eq!(store.list_organisations().await.expect("list").len(), n, "the refused write left nothing");
        assert_eq!(limit.integrity_check().await.expect("check"), "ok");
    }

    #[tokio::test]
    async fn sqlite_connections_are_durable_wal_with_foreign_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_sqlite(&dir.path().join("p.db")).await.expect("open");
        drop(store);
        // The settings are per connection: check them on connections made like the store's.
        let path = dir.path().join("p.db");
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(base).await.expect("connect");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await.expect("pragma");
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&pool).await.expect("pragma");
        assert_eq!(sync, 2, "synchronous=FULL");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&pool).await.expect("pragma");
        assert_eq!(fk, 1);
    }
}
