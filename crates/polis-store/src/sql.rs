//! [`SqlStore`]: the [`Store`] of both engines. The SQL text is shared; [`crate::db`] runs it.
//!
//! Each table is described once ([`Table`]: its name and columns in order) next to the two
//! functions that write an item as arguments in that order and read it back from a row in that
//! order. Reads rebuild domain values through their validating constructors; a row that does not
//! make a valid value is an `Internal` error naming the table, id and column.

use crate::codec;
use crate::db::{Arg, Db, DbRow, Tx};
use crate::error::{constraint_text, corrupt, db_error, id_taken, is_foreign_key_violation, is_unique_violation};
use crate::incidents::{self, AttachmentMeta, IncidentFilter, ShareUse};
use crate::{live, AuditEntry, ObservationBucket, Store};
use async_trait::async_trait;
use polis_base::{Error, FieldError, Result};
use polis_domain::incident::{Incident, JournalEntry, Procedure, Share, SosDevice, Unit};
use polis_domain::registry::Secret;
use polis_domain::{
    AgencyKind, Alarm, AuditRecord, Camera, CameraKind, CameraStatus, CameraVideo, FieldOfView, Heading, Id, LatLon,
    Observation, OrgKind, Organisation, Priority, RangeM, RecordingMode, Role, Rule, Sensor, SensorKind, Site,
    SiteCategory, StreamUrl, User,
};
use std::collections::HashSet;
use time::OffsetDateTime;

/// The most arguments one multi-row INSERT binds (400 cameras): below SQLite's limit (32766) and
/// PostgreSQL's (65535), large enough that per-statement costs vanish in a bulk insert. Sizes
/// from 1,000 to 16,000 measured the same within noise (docs/benchmarks.md).
const MAX_ARGS_PER_STATEMENT: usize = 8_000;

/// A table: its name, the entity it holds (for messages) and its columns, id first.
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) entity: &'static str,
    pub(crate) cols: &'static [&'static str],
}

const ORGANISATIONS: Table = Table {
    name: "organisations",
    entity: "organisation",
    cols: &["id", "kind", "name_bg", "name_en", "municipality", "agency_kind", "demo"],
};

pub(crate) const USERS: Table = Table {
    name: "users",
    entity: "user",
    cols: &[
        "id",
        "username",
        "role",
        "municipality",
        "agency",
        "password_hash",
        "created_at_ms",
        "disabled",
        "last_login_at_ms",
    ],
};

const CAMERAS: Table = Table {
    name: "cameras",
    entity: "camera",
    cols: &[
        "id",
        "municipality",
        "name",
        "lat",
        "lon",
        "mount_height_m",
        "heading_deg",
        "fov_deg",
        "range_m",
        "kind",
        "stream_url",
        "stream_username",
        "stream_password",
        "sub_stream_url",
        "sub_stream_username",
        "sub_stream_password",
        "retention_days",
        "owner",
        "status",
        "demo",
        "recording",
        "retention_bytes",
        "privacy_zones",
        "name_en",
    ],
};

const SITES: Table = Table {
    name: "sites",
    entity: "site",
    cols: &["id", "municipality", "name_bg", "name_en", "category", "sectors", "priority", "geometry", "demo"],
};

const SENSORS: Table = Table {
    name: "sensors",
    entity: "sensor",
    cols: &["id", "municipality", "name", "kind", "unit", "lat", "lon", "owner", "demo", "name_en"],
};

/// The audit log as inserted (`seq` is assigned by the database).
pub(crate) const AUDIT: Table = Table {
    name: "audit_log",
    entity: "audit record",
    cols: &["at_ms", "actor", "\"action\"", "entity", "entity_id", "municipality", "\"before\"", "\"after\""],
};

impl Table {
    pub(crate) fn select_sql(&self) -> String {
        format!("SELECT {} FROM {}", self.cols.join(", "), self.name)
    }

    /// `INSERT INTO t (..) VALUES ($1, ..), (..)` for `rows` rows; with `positional`,
    /// `VALUES (?, ..), (..)` instead.
    ///
    /// SQLite resolves a *named* parameter such as `$7` by a linear search of the statement's
    /// parameter names, and SQLx asks it for the name of every parameter when binding, so a bulk
    /// INSERT with thousands of `$N` costs O(n^2) per statement (it made 100,000 cameras take a
    /// minute). Anonymous `?` parameters skip that: SQLite statements use them where the count
    /// is large. PostgreSQL only understands `$N`.
    pub(crate) fn insert_sql_with(&self, rows: usize, positional: bool) -> String {
        let n = self.cols.len();
        let mut s = String::with_capacity(64 + rows * n * 8);
        s.push_str("INSERT INTO ");
        s.push_str(self.name);
        s.push_str(" (");
        s.push_str(&self.cols.join(", "));
        s.push_str(") VALUES ");
        let mut p = 1;
        for r in 0..rows {
            s.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..n {
                if c > 0 {
                    s.push_str(", ");
                }
                if positional {
                    s.push('?');
                } else {
                    s.push('$');
                    s.push_str(&p.to_string());
                    p += 1;
                }
            }
            s.push(')');
        }
        s
    }

    /// A one-row insert in the shared `$N` form.
    pub(crate) fn insert_sql(&self, rows: usize) -> String {
        self.insert_sql_with(rows, false)
    }

    /// `UPDATE t SET c2 = $2, .. WHERE id = $1`: takes the same arguments as a one-row insert.
    fn update_sql(&self) -> String {
        let sets: Vec<String> =
            self.cols.iter().enumerate().skip(1).map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
        format!("UPDATE {} SET {} WHERE id = $1", self.name, sets.join(", "))
    }

    /// An insert that replaces the row with the same id.
    pub(crate) fn upsert_sql(&self) -> String {
        let sets: Vec<String> = self.cols.iter().skip(1).map(|c| format!("{c} = excluded.{c}")).collect();
        format!("{} ON CONFLICT (id) DO UPDATE SET {}", self.insert_sql(1), sets.join(", "))
    }
}

/// Reads the columns of a row in order, turning every failure into a "corrupt row" error that
/// names the table, the id and the column.
pub(crate) struct Cols<'r> {
    row: &'r DbRow,
    table: &'static Table,
    /// The index in the row of the next column to read.
    next: usize,
    /// Row index of `table.cols[0]` (1 when the row starts with a column not in `cols`).
    offset: usize,
    id: String,
}

impl<'r> Cols<'r> {
    /// Starts reading a row whose first column is `id`.
    pub(crate) fn new(row: &'r DbRow, table: &'static Table) -> Result<Self> {
        let id = row.text(0).map_err(|e| corrupt(table.name, "?", "id", e))?;
        Ok(Cols { row, table, next: 1, offset: 0, id })
    }

    /// Starts reading a row that begins with a number (`seq`) followed by `table.cols`.
    fn after_seq(row: &'r DbRow, table: &'static Table) -> Result<(i64, Self)> {
        let seq = row.int(0).map_err(|e| corrupt(table.name, "?", "seq", e))?;
        Ok((seq, Cols { row, table, next: 1, offset: 1, id: format!("seq {seq}") }))
    }

    pub(crate) fn id(&self) -> Id {
        Id::from_trusted(self.id.clone())
    }

    fn take<T>(&mut self, get: impl FnOnce(&DbRow, usize) -> Result<T, sqlx::Error>) -> Result<T> {
        let i = self.next;
        self.next += 1;
        get(self.row, i).map_err(|e| self.fail(i, e))
    }

    fn fail(&self, i: usize, e: impl std::error::Error + Send + Sync + 'static) -> Error {
        let column = i.checked_sub(self.offset).and_then(|c| self.table.cols.get(c)).copied().unwrap_or("?");
        corrupt(self.table.name, &self.id, column.trim_matches('"'), e)
    }

    /// Checks the value of the column read last.
    pub(crate) fn check<T, E: std::error::Error + Send + Sync + 'static>(&self, r: Result<T, E>) -> Result<T> {
        r.map_err(|e| self.fail(self.next.saturating_sub(1), e))
    }

    /// A value of the row that is not valid, naming its column.
    pub(crate) fn bad(&self, column: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
        corrupt(self.table.name, &self.id, column, e)
    }

    pub(crate) fn int(&mut self) -> Result<i64> {
        self.take(DbRow::int)
    }
    pub(crate) fn real(&mut self) -> Result<f64> {
        self.take(DbRow::real)
    }
    pub(crate) fn boolean(&mut self) -> Result<bool> {
        self.take(DbRow::boolean)
    }
    pub(crate) fn text(&mut self) -> Result<String> {
        self.take(DbRow::text)
    }
    pub(crate) fn opt_int(&mut self) -> Result<Option<i64>> {
        self.take(DbRow::opt_int)
    }
    pub(crate) fn opt_text(&mut self) -> Result<Option<String>> {
        self.take(DbRow::opt_text)
    }
    /// Passes over a column.
    pub(crate) fn skip(&mut self) {
        self.next += 1;
    }
    pub(crate) fn opt_real(&mut self) -> Result<Option<f64>> {
        self.take(DbRow::opt_real)
    }
    pub(crate) fn ref_id(&mut self) -> Result<Id> {
        self.text().map(Id::from_trusted)
    }
    pub(crate) fn opt_ref_id(&mut self) -> Result<Option<Id>> {
        self.opt_text().map(|o| o.map(Id::from_trusted))
    }
    pub(crate) fn timestamp(&mut self) -> Result<OffsetDateTime> {
        let ms = self.int()?;
        self.check(codec::from_ms(ms))
    }
    /// Two columns, `lat` then `lon`.
    fn position(&mut self) -> Result<LatLon> {
        let lat = self.real()?;
        let lon = self.real()?;
        self.check(LatLon::new(lat, lon))
    }
    /// Three columns: the URL without credentials, the username, the password.
    fn stream(&mut self) -> Result<Option<StreamUrl>> {
        let url = self.opt_text()?;
        let username = self.opt_text()?;
        let password = self.opt_text()?;
        // The URL column keeps the credential query parameters; they are split off again here.
        Ok(url.map(|url| StreamUrl::from_stored(url, username, password.map(Secret::new))))
    }
}

// ---- Organisations -------------------------------------------------------------------------

fn organisation_args<'a>(o: &'a Organisation, out: &mut Vec<Arg<'a>>) {
    out.extend([
        Arg::Text(o.id.as_str()),
        Arg::Text(o.kind.as_str()),
        Arg::Text(&o.name_bg),
        Arg::Text(&o.name_en),
        Arg::Text(o.municipality.as_str()),
        Arg::OptText(o.agency_kind.map(AgencyKind::as_str)),
        Arg::Bool(o.demo),
    ]);
}

fn organisation_from(row: &DbRow) -> Result<Organisation> {
    let mut c = Cols::new(row, &ORGANISATIONS)?;
    let kind = c.text()?;
    let kind = c.check(OrgKind::parse("kind", &kind))?;
    let name_bg = c.text()?;
    let name_en = c.text()?;
    let municipality = c.ref_id()?;
    let agency_kind = c.opt_text()?;
    let agency_kind = c.check(agency_kind.map(|a| AgencyKind::parse("agency_kind", &a)).transpose())?;
    let demo = c.boolean()?;
    Ok(Organisation { id: c.id(), kind, name_bg, name_en, municipality, agency_kind, demo })
}

// ---- Users ---------------------------------------------------------------------------------

fn user_args<'a>(u: &'a User, out: &mut Vec<Arg<'a>>) {
    out.extend([
        Arg::Text(u.id.as_str()),
        Arg::Text(&u.username),
        Arg::Text(u.role.as_str()),
        Arg::OptText(u.municipality.as_ref().map(Id::as_str)),
        Arg::OptText(u.agency.as_ref().map(Id::as_str)),
        Arg::Text(&u.password_hash),
        Arg::Int(codec::to_ms(u.created_at)),
        Arg::Bool(u.disabled),
        Arg::OptInt(u.last_login_at.map(codec::to_ms)),
    ]);
}

pub(crate) fn user_from(row: &DbRow) -> Result<User> {
    let mut c = Cols::new(row, &USERS)?;
    let username = c.text()?;
    let role = c.text()?;
    let role = c.check(Role::parse("role", &role))?;
    let municipality = c.opt_ref_id()?;
    let agency = c.opt_ref_id()?;
    let password_hash = c.text()?;
    let created_at = c.timestamp()?;
    let disabled = c.boolean()?;
    let last_login_at = c.opt_int()?;
    let last_login_at = c.check(last_login_at.map(codec::from_ms).transpose())?;
    Ok(User { id: c.id(), username, role, municipality, agency, password_hash, created_at, disabled, last_login_at })
}

// ---- Cameras -------------------------------------------------------------------------------

fn stream_args<'a>(s: Option<&'a StreamUrl>, stored: &'a Option<Secret>) -> [Arg<'a>; 3] {
    [
        Arg::OptText(stored.as_ref().map(Secret::expose)),
        Arg::OptText(s.and_then(|s| s.username.as_deref())),
        Arg::OptText(s.and_then(|s| s.password.as_ref()).map(Secret::expose)),
    ]
}

/// The columns of a camera made before the arguments borrow them: the privacy zones as JSON
/// text (`[[[x, y], ...], ...]`) and the stream URLs with their credential query parameters.
struct CameraEnc {
    zones: String,
    stream: Option<Secret>,
    sub_stream: Option<Secret>,
}

fn camera_enc(c: &Camera) -> CameraEnc {
    let zones: Vec<Vec<[f64; 2]>> =
        c.video.privacy_zones.iter().map(|z| z.iter().map(|&(x, y)| [x, y]).collect()).collect();
    CameraEnc {
        zones: serde_json::to_string(&zones).unwrap_or_else(|_| "[]".into()),
        stream: c.stream.as_ref().map(StreamUrl::stored),
        sub_stream: c.sub_stream.as_ref().map(StreamUrl::stored),
    }
}

fn camera_args<'a>((c, enc): (&'a Camera, &'a CameraEnc), out: &mut Vec<Arg<'a>>) {
    out.extend([
        Arg::Text(c.id.as_str()),
        Arg::Text(c.municipality.as_str()),
        Arg::Text(&c.name),
        Arg::Real(c.position.lat()),
        Arg::Real(c.position.lon()),
        Arg::Real(c.mount_height_m),
        Arg::Real(c.heading.deg()),
        Arg::Real(c.fov.deg()),
        Arg::Real(c.range.m()),
        Arg::Text(c.kind.as_str()),
    ]);
    out.extend(stream_args(c.stream.as_ref(), &enc.stream));
    out.extend(stream_args(c.sub_stream.as_ref(), &enc.sub_stream));
    out.extend([
        Arg::Int(i64::from(c.retention_days)),
        Arg::OptText(c.owner.as_ref().map(Id::as_str)),
        Arg::Text(c.status.as_str()),
        Arg::Bool(c.demo),
        Arg::Text(c.video.recording.as_str()),
        Arg::OptInt(c.video.retention_bytes.and_then(|b| i64::try_from(b).ok())),
        Arg::Text(&enc.zones),
        Arg::Text(&c.name_en),
    ]);
}

fn camera_from(row: &DbRow) -> Result<Camera> {
    let mut c = Cols::new(row, &CAMERAS)?;
    let municipality = c.ref_id()?;
    let name = c.text()?;
    let position = c.position()?;
    let mount_height_m = c.real()?;
    let heading = c.real()?;
    let heading = c.check(Heading::new(heading))?;
    let fov = c.real()?;
    let fov = c.check(FieldOfView::new(fov))?;
    let range = c.real()?;
    let range = c.check(RangeM::new("range_m", range))?;
    let kind = c.text()?;
    let kind = c.check(CameraKind::parse("kind", &kind))?;
    let stream = c.stream()?;
    let sub_stream = c.stream()?;
    let retention_days = c.int()?;
    let retention_days = c.check(u32::try_from(retention_days))?;
    let owner = c.opt_ref_id()?;
    let status = c.text()?;
    let status = c.check(CameraStatus::parse("status", &status))?;
    let demo = c.boolean()?;
    let recording = c.text()?;
    let recording = c.check(RecordingMode::parse("recording", &recording))?;
    let retention_bytes = c.opt_int()?.and_then(|b| u64::try_from(b).ok());
    let zones = c.text()?;
    let zones: Vec<Vec<[f64; 2]>> =
        c.check(serde_json::from_str(&zones).map_err(|e| polis_base::Error::invalid("privacy_zones", e.to_string())))?;
    let privacy_zones = zones.into_iter().map(|z| z.into_iter().map(|[x, y]| (x, y)).collect()).collect();
    let name_en = c.text()?;
    Ok(Camera {
        id: c.id(),
        municipality,
        name,
        name_en,
        position,
        mount_height_m,
        heading,
        fov,
        range,
        kind,
        stream,
        sub_stream,
        retention_days,
        owner,
        status,
        demo,
        video: CameraVideo { recording, retention_bytes, privacy_zones },
    })
}

// ---- Sites ---------------------------------------------------------------------------------

/// A site as arguments; the two encoded columns are made first and borrowed from `enc`.
struct SiteEnc {
    sectors: String,
    geometry: String,
}

fn site_enc(s: &Site) -> SiteEnc {
    SiteEnc { sectors: codec::sectors_to_text(&s.sectors), geometry: codec::geometry_to_wkt(&s.geometry) }
}

fn site_args<'a>((s, enc): (&'a Site, &'a SiteEnc), out: &mut Vec<Arg<'a>>) {
    out.extend([
        Arg::Text(s.id.as_str()),
        Arg::Text(s.municipality.as_str()),
        Arg::Text(&s.name_bg),
        Arg::Text(&s.name_en),
        Arg::Text(s.category.as_str()),
        Arg::Text(&enc.sectors),
        Arg::Int(i64::from(s.priority.get())),
        Arg::Text(&enc.geometry),
        Arg::Bool(s.demo),
    ]);
}

fn site_from(row: &DbRow) -> Result<Site> {
    let mut c = Cols::new(row, &SITES)?;
    let municipality = c.ref_id()?;
    let name_bg = c.text()?;
    let name_en = c.text()?;
    let category = c.text()?;
    let category = c.check(SiteCategory::parse("category", &category))?;
    let sectors = c.text()?;
    let sectors = c.check(codec::sectors_from_text(&sectors))?;
    let priority = c.int()?;
    let priority = c.check(Priority::new(priority))?;
    let geometry = c.text()?;
    let geometry = c.check(codec::geometry_from_wkt(&geometry))?;
    let demo = c.boolean()?;
    Ok(Site { id: c.id(), municipality, name_bg, name_en, category, sectors, priority, geometry, demo })
}

// ---- Sensors -------------------------------------------------------------------------------

fn sensor_args<'a>(s: &'a Sensor, out: &mut Vec<Arg<'a>>) {
    out.extend([
        Arg::Text(s.id.as_str()),
        Arg::Text(s.municipality.as_str()),
        Arg::Text(&s.name),
        Arg::Text(s.kind.as_str()),
        Arg::Text(&s.unit),
        Arg::Real(s.position.lat()),
        Arg::Real(s.position.lon()),
        Arg::OptText(s.owner.as_ref().map(Id::as_str)),
        Arg::Bool(s.demo),
        Arg::Text(&s.name_en),
    ]);
}

fn sensor_from(row: &DbRow) -> Result<Sensor> {
    let mut c = Cols::new(row, &SENSORS)?;
    let municipality = c.ref_id()?;
    let name = c.text()?;
    let kind = c.text()?;
    let kind = c.check(SensorKind::parse("kind", &kind))?;
    let unit = c.text()?;
    let position = c.position()?;
    let owner = c.opt_ref_id()?;
    let demo = c.boolean()?;
    let name_en = c.text()?;
    Ok(Sensor { id: c.id(), municipality, name, name_en, kind, unit, position, owner, demo })
}

// ---- Audit log -----------------------------------------------------------------------------

fn audit_args<'a>(a: &'a AuditRecord, out: &mut Vec<Arg<'a>>) {
    out.extend([
        Arg::Int(codec::to_ms(a.at)),
        Arg::Text(&a.actor),
        Arg::Text(&a.action),
        Arg::Text(&a.entity),
        Arg::Text(&a.entity_id),
        Arg::OptText(a.municipality.as_ref().map(Id::as_str)),
        Arg::OptText(a.before.as_deref()),
        Arg::OptText(a.after.as_deref()),
    ]);
}

/// Reads `seq` followed by the [`AUDIT`] columns.
pub(crate) fn audit_from(row: &DbRow) -> Result<AuditEntry> {
    let (seq, mut c) = Cols::after_seq(row, &AUDIT)?;
    let at = c.timestamp()?;
    let actor = c.text()?;
    let action = c.text()?;
    let entity = c.text()?;
    let entity_id = c.text()?;
    let municipality = c.opt_ref_id()?;
    let before = c.opt_text()?;
    let after = c.opt_text()?;
    Ok(AuditEntry { seq, record: AuditRecord { at, actor, action, entity, entity_id, municipality, before, after } })
}

// ---- Writing in bulk -----------------------------------------------------------------------

/// Why a bulk insert stopped: the chunk of items whose statement failed.
pub(crate) struct ChunkFailure {
    start: usize,
    len: usize,
    pub(crate) error: sqlx::Error,
}

/// Inserts `items` with multi-row INSERTs of as many rows as fit in [`MAX_ARGS_PER_STATEMENT`].
/// All full chunks share one SQL text, so the engine prepares it once and reuses it.
async fn bulk_insert<'a, T: Copy + 'a>(
    tx: &mut Tx,
    table: &Table,
    items: impl ExactSizeIterator<Item = T>,
    encode: impl Fn(T, &mut Vec<Arg<'a>>),
) -> Result<(), ChunkFailure> {
    bulk_insert_with(tx, table, "", items, encode).await
}

/// [`bulk_insert`] with `suffix` (such as an `ON CONFLICT` clause) after each statement.
pub(crate) async fn bulk_insert_with<'a, T: Copy + 'a>(
    tx: &mut Tx,
    table: &Table,
    suffix: &str,
    items: impl ExactSizeIterator<Item = T>,
    encode: impl Fn(T, &mut Vec<Arg<'a>>),
) -> Result<(), ChunkFailure> {
    let total = items.len();
    if total == 0 {
        return Ok(());
    }
    let per = (MAX_ARGS_PER_STATEMENT / table.cols.len()).clamp(1, total);
    let positional = tx.is_sqlite();
    let full_sql = table.insert_sql_with(per, positional) + suffix;
    let mut args: Vec<Arg<'a>> = Vec::with_capacity(per * table.cols.len());
    let mut start = 0;
    let mut len = 0;
    let mut items = items.peekable();
    while let Some(item) = items.next() {
        encode(item, &mut args);
        len += 1;
        if len == per || items.peek().is_none() {
            let short_sql;
            let sql = if len == per {
                &full_sql
            } else {
                short_sql = table.insert_sql_with(len, positional) + suffix;
                &short_sql
            };
            if let Err(error) = tx.execute(sql, &args).await {
                return Err(ChunkFailure { start, len, error });
            }
            args.clear();
            start += len;
            len = 0;
        }
    }
    Ok(())
}

pub(crate) async fn write_audit(tx: &mut Tx, what: &str, audit: &[AuditRecord]) -> Result<()> {
    bulk_insert(tx, &AUDIT, audit.iter(), audit_args).await.map_err(|f| db_error(what, f.error))
}

/// The index of the first id that occurs earlier in `ids`.
fn first_repeat<'a>(ids: impl Iterator<Item = &'a str>) -> Option<usize> {
    let mut seen = HashSet::new();
    ids.enumerate().find(|(_, id)| !seen.insert(*id)).map(|(i, _)| i)
}

pub(crate) fn one(audit: Option<&AuditRecord>) -> &[AuditRecord] {
    audit.map(std::slice::from_ref).unwrap_or(&[])
}

// ---- The store -----------------------------------------------------------------------------

pub(crate) struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub(crate) fn new(db: Db) -> Self {
        SqlStore { db }
    }

    async fn list<T>(&self, table: &Table, from: fn(&DbRow) -> Result<T>) -> Result<Vec<T>> {
        let sql = format!("{} ORDER BY id", table.select_sql());
        let rows = self.db.fetch_all(&format!("list {}", table.name), &sql, &[]).await?;
        rows.iter().map(from).collect()
    }

    /// The index of the first of `ids` that is in `table` now.
    async fn first_taken(&self, table: &Table, ids: &[&str]) -> Result<Option<usize>> {
        let what = format!("look up {} ids", table.entity);
        let mut taken = HashSet::new();
        for chunk in ids.chunks(MAX_ARGS_PER_STATEMENT) {
            // Anonymous `?` on SQLite, for the reason given at `Table::insert_sql_with`.
            let marks: Vec<String> = (1..=chunk.len())
                .map(|i| if self.db.is_sqlite() { "?".to_string() } else { format!("${i}") })
                .collect();
            let sql = format!("SELECT id FROM {} WHERE id IN ({})", table.name, marks.join(", "));
            let args: Vec<Arg> = chunk.iter().map(|id| Arg::Text(id)).collect();
            for row in self.db.fetch_all(&what, &sql, &args).await? {
                taken.insert(row.text(0).map_err(|e| db_error(&what, e))?);
            }
        }
        Ok(ids.iter().position(|id| taken.contains(*id)))
    }

    /// Inserts all `items` and their audit records in one transaction, or nothing.
    async fn insert_all<'a, T: Copy + 'a>(
        &self,
        table: &Table,
        ids: Vec<&str>,
        items: impl ExactSizeIterator<Item = T>,
        encode: impl Fn(T, &mut Vec<Arg<'a>>),
        audit: &[AuditRecord],
    ) -> Result<()> {
        let what = format!("insert {}", table.name);
        if let Some(repeat) = first_repeat(ids.iter().copied()) {
            // The first offender is an id taken before the repeat, or the repeat itself.
            let row = self.first_taken(table, &ids[..repeat]).await?.unwrap_or(repeat);
            return Err(id_taken(table.entity, ids[row], Some(row)));
        }
        let mut tx = self.db.begin(&what).await?;
        if let Err(f) = bulk_insert(&mut tx, table, items, encode).await {
            tx.rollback().await;
            if !is_unique_violation(&f.error) {
                return Err(db_error(&what, f.error));
            }
            // No id repeats within the batch, so an earlier item of this chunk was in the table.
            let chunk = &ids[f.start..f.start + f.len];
            return Err(match self.first_taken(table, chunk).await? {
                Some(i) => id_taken(table.entity, chunk[i], Some(f.start + i)),
                // It was deleted in the meantime: say so without naming an item.
                None => id_taken(table.entity, "", None),
            });
        }
        let r = write_audit(&mut tx, &what, audit).await;
        tx.finish(&what, r).await
    }

    async fn update_one(&self, table: &Table, id: &Id, args: &[Arg<'_>], audit: &AuditRecord) -> Result<()> {
        let what = format!("update {}", table.entity);
        let mut tx = self.db.begin(&what).await?;
        let r = async {
            let n = tx.execute(&table.update_sql(), args).await.map_err(|e| db_error(&what, e))?;
            if n == 0 {
                return Err(Error::not_found(format!("no {} with id {id}", table.entity)));
            }
            if table.name == CAMERAS.name {
                // A deleted camera's ONVIF link (and its password) goes with it.
                tx.execute("DELETE FROM camera_onvif WHERE camera = $1", &[Arg::Text(id.as_str())])
                    .await
                    .map_err(|e| db_error(&what, e))?;
            }
            write_audit(&mut tx, &what, std::slice::from_ref(audit)).await
        }
        .await;
        tx.finish(&what, r).await
    }

    async fn delete_one(&self, table: &Table, id: &Id, audit: &AuditRecord) -> Result<()> {
        let what = format!("delete {}", table.entity);
        let mut tx = self.db.begin(&what).await?;
        let r = async {
            let sql = format!("DELETE FROM {} WHERE id = $1", table.name);
            let n = tx.execute(&sql, &[Arg::Text(id.as_str())]).await.map_err(|e| db_error(&what, e))?;
            if n == 0 {
                return Err(Error::not_found(format!("no {} with id {id}", table.entity)));
            }
            if table.name == CAMERAS.name {
                // A deleted camera's ONVIF link (and its password) goes with it.
                tx.execute("DELETE FROM camera_onvif WHERE camera = $1", &[Arg::Text(id.as_str())])
                    .await
                    .map_err(|e| db_error(&what, e))?;
            }
            write_audit(&mut tx, &what, std::slice::from_ref(audit)).await
        }
        .await;
        tx.finish(&what, r).await
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.db.backend()
    }

    async fn put_organisation(&self, org: &Organisation, audit: Option<&AuditRecord>) -> Result<()> {
        const WHAT: &str = "save organisation";
        let mut tx = self.db.begin(WHAT).await?;
        let r = async {
            let mut args = Vec::with_capacity(ORGANISATIONS.cols.len());
            organisation_args(org, &mut args);
            tx.execute(&ORGANISATIONS.upsert_sql(), &args).await.map_err(|e| db_error(WHAT, e))?;
            write_audit(&mut tx, WHAT, one(audit)).await
        }
        .await;
        tx.finish(WHAT, r).await
    }

    async fn list_organisations(&self) -> Result<Vec<Organisation>> {
        self.list(&ORGANISATIONS, organisation_from).await
    }

    async fn create_user(&self, user: &User, audit: Option<&AuditRecord>) -> Result<()> {
        const WHAT: &str = "create user";
        let mut tx = self.db.begin(WHAT).await?;
        let r = async {
            let mut args = Vec::with_capacity(USERS.cols.len());
            user_args(user, &mut args);
            if let Err(e) = tx.execute(&USERS.insert_sql(1), &args).await {
                if !is_unique_violation(&e) {
                    return Err(db_error(WHAT, e));
                }
                let (field, message) = if constraint_text(&e).contains("username") {
                    ("username", format!("the username {:?} is taken", user.username))
                } else {
                    ("id", format!("a user with id {} exists", user.id))
                };
                return Err(Error::already_exists(message.clone()).with_details(vec![FieldError::new(field, message)]));
            }
            write_audit(&mut tx, WHAT, one(audit)).await
        }
        .await;
        tx.finish(WHAT, r).await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("{} WHERE username = $1", USERS.select_sql());
        let rows = self.db.fetch_all("find user", &sql, &[Arg::Text(username)]).await?;
        rows.first().map(user_from).transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.list(&USERS, user_from).await
    }

    async fn create_session(&self, token_hash: &str, user: &Id, expires_at: OffsetDateTime) -> Result<()> {
        const WHAT: &str = "create session";
        let mut tx = self.db.begin(WHAT).await?;
        let r = tx
            .execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at_ms) VALUES ($1, $2, $3)",
                &[Arg::Text(token_hash), Arg::Text(user.as_str()), Arg::Int(codec::to_ms(expires_at))],
            )
            .await
            .map(|_| ())
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    Error::not_found(format!("no user with id {user}"))
                } else {
                    db_error(WHAT, e)
                }
            });
        tx.finish(WHAT, r).await
    }

    async fn session_user(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<User>> {
        let cols: Vec<String> = USERS.cols.iter().map(|c| format!("u.{c}")).collect();
        let sql = format!(
            "SELECT {} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at_ms > $2 AND u.disabled = $3",
            cols.join(", ")
        );
        let args = [Arg::Text(token_hash), Arg::Int(codec::to_ms(now)), Arg::Bool(false)];
        let rows = self.db.fetch_all("find session", &sql, &args).await?;
        rows.first().map(user_from).transpose()
    }

    async fn user(&self, id: &Id) -> Result<Option<User>> {
        crate::accounts::user(&self.db, id).await
    }

    async fn update_user(&self, user: &User, end_sessions: bool, audit: &[AuditRecord]) -> Result<()> {
        crate::accounts::update_user(&self.db, user, end_sessions, audit).await
    }

    async fn record_login(&self, user: &Id, at: OffsetDateTime) -> Result<()> {
        crate::accounts::record_login(&self.db, user, at).await
    }

    async fn search_audit(&self, filter: &crate::AuditFilter) -> Result<Vec<AuditEntry>> {
        crate::accounts::search_audit(&self.db, filter).await
    }

    async fn put_segment(&self, segment: &crate::Segment) -> Result<()> {
        crate::recordings::put_segment(&self.db, segment).await
    }

    async fn segments(&self, camera: &Id, from: OffsetDateTime, to: OffsetDateTime) -> Result<Vec<crate::Segment>> {
        crate::recordings::segments(&self.db, camera, from, to).await
    }

    async fn oldest_segments(&self, camera: Option<&Id>, limit: u32) -> Result<Vec<crate::Segment>> {
        crate::recordings::oldest_segments(&self.db, camera, limit).await
    }

    async fn segment_usage(&self) -> Result<Vec<crate::SegmentUsage>> {
        crate::recordings::segment_usage(&self.db).await
    }

    async fn delete_segment(&self, camera: &Id, start: OffsetDateTime) -> Result<()> {
        crate::recordings::delete_segment(&self.db, camera, start).await
    }

    async fn put_onvif_link(&self, link: &polis_domain::OnvifLink, audit: &AuditRecord) -> Result<()> {
        crate::onvif::put_onvif_link(&self.db, link, audit).await
    }

    async fn onvif_link(&self, camera: &Id) -> Result<Option<polis_domain::OnvifLink>> {
        crate::onvif::onvif_link(&self.db, camera).await
    }

    async fn onvif_links(&self) -> Result<Vec<polis_domain::OnvifLink>> {
        crate::onvif::onvif_links(&self.db).await
    }

    async fn delete_onvif_link(&self, camera: &Id, audit: &AuditRecord) -> Result<bool> {
        crate::onvif::delete_onvif_link(&self.db, camera, audit).await
    }

    async fn put_ticket(&self, ticket: &crate::Ticket, now: OffsetDateTime) -> Result<()> {
        crate::tickets::put_ticket(&self.db, ticket, now).await
    }

    async fn take_ticket(&self, hash: &str, now: OffsetDateTime) -> Result<Option<crate::Ticket>> {
        crate::tickets::take_ticket(&self.db, hash, now).await
    }

    async fn ticket(&self, hash: &str, now: OffsetDateTime) -> Result<Option<crate::Ticket>> {
        crate::tickets::ticket(&self.db, hash, now).await
    }

    async fn purge_sessions(&self, now: OffsetDateTime) -> Result<u64> {
        const WHAT: &str = "purge expired sessions";
        let mut tx = self.db.begin(WHAT).await?;
        let r = tx
            .execute("DELETE FROM sessions WHERE expires_at_ms <= $1", &[Arg::Int(codec::to_ms(now))])
            .await
            .map_err(|e| db_error(WHAT, e));
        tx.finish(WHAT, r).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        const WHAT: &str = "delete session";
        let mut tx = self.db.begin(WHAT).await?;
        let r = tx
            .execute("DELETE FROM sessions WHERE token_hash = $1", &[Arg::Text(token_hash)])
            .await
            .map(|_| ())
            .map_err(|e| db_error(WHAT, e));
        tx.finish(WHAT, r).await
    }

    async fn insert_cameras(&self, cameras: &[Camera], audit: &[AuditRecord]) -> Result<()> {
        let ids = cameras.iter().map(|c| c.id.as_str()).collect();
        let encs: Vec<CameraEnc> = cameras.iter().map(camera_enc).collect();
        self.insert_all(&CAMERAS, ids, cameras.iter().zip(&encs), camera_args, audit).await
    }

    async fn update_camera(&self, camera: &Camera, audit: &AuditRecord) -> Result<()> {
        let enc = camera_enc(camera);
        let mut args = Vec::with_capacity(CAMERAS.cols.len());
        camera_args((camera, &enc), &mut args);
        self.update_one(&CAMERAS, &camera.id, &args, audit).await
    }

    async fn delete_camera(&self, id: &Id, audit: &AuditRecord) -> Result<()> {
        self.delete_one(&CAMERAS, id, audit).await
    }

    async fn list_cameras(&self) -> Result<Vec<Camera>> {
        self.list(&CAMERAS, camera_from).await
    }

    async fn insert_sites(&self, sites: &[Site], audit: &[AuditRecord]) -> Result<()> {
        let ids = sites.iter().map(|s| s.id.as_str()).collect();
        let encs: Vec<SiteEnc> = sites.iter().map(site_enc).collect();
        self.insert_all(&SITES, ids, sites.iter().zip(&encs), site_args, audit).await
    }

    async fn update_site(&self, site: &Site, audit: &AuditRecord) -> Result<()> {
        let enc = site_enc(site);
        let mut args = Vec::with_capacity(SITES.cols.len());
        site_args((site, &enc), &mut args);
        self.update_one(&SITES, &site.id, &args, audit).await
    }

    async fn delete_site(&self, id: &Id, audit: &AuditRecord) -> Result<()> {
        self.delete_one(&SITES, id, audit).await
    }

    async fn list_sites(&self) -> Result<Vec<Site>> {
        self.list(&SITES, site_from).await
    }

    async fn insert_sensors(&self, sensors: &[Sensor], audit: &[AuditRecord]) -> Result<()> {
        let ids = sensors.iter().map(|s| s.id.as_str()).collect();
        self.insert_all(&SENSORS, ids, sensors.iter(), sensor_args, audit).await
    }

    async fn update_sensor(&self, sensor: &Sensor, audit: &AuditRecord) -> Result<()> {
        let mut args = Vec::with_capacity(SENSORS.cols.len());
        sensor_args(sensor, &mut args);
        self.update_one(&SENSORS, &sensor.id, &args, audit).await
    }

    async fn delete_sensor(&self, id: &Id, audit: &AuditRecord) -> Result<()> {
        self.delete_one(&SENSORS, id, audit).await
    }

    async fn list_sensors(&self) -> Result<Vec<Sensor>> {
        self.list(&SENSORS, sensor_from).await
    }

    async fn append_audit(&self, audit: &[AuditRecord]) -> Result<()> {
        const WHAT: &str = "append to the audit log";
        let mut tx = self.db.begin(WHAT).await?;
        let r = write_audit(&mut tx, WHAT, audit).await;
        tx.finish(WHAT, r).await
    }

    async fn list_audit(&self, municipality: Option<&Id>, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut sql = format!("SELECT seq, {} FROM audit_log", AUDIT.cols.join(", "));
        let mut args = vec![Arg::Int(i64::from(limit))];
        if let Some(m) = municipality {
            sql.push_str(" WHERE municipality = $2");
            args.push(Arg::Text(m.as_str()));
        }
        sql.push_str(" ORDER BY seq DESC LIMIT $1");
        let rows = self.db.fetch_all("list audit log", &sql, &args).await?;
        rows.iter().map(audit_from).collect()
    }

    async fn insert_observations(&self, obs: &[Observation]) -> Result<()> {
        live::insert_observations(&self.db, obs).await
    }

    async fn observations(
        &self,
        sensor: &Id,
        quantity: Option<&str>,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Observation>> {
        live::observations(&self.db, sensor, quantity, from, to, limit).await
    }

    async fn observation_buckets(
        &self,
        sensor: &Id,
        quantity: Option<&str>,
        from: OffsetDateTime,
        to: OffsetDateTime,
        step: time::Duration,
    ) -> Result<Vec<ObservationBucket>> {
        live::observation_buckets(&self.db, sensor, quantity, from, to, step).await
    }

    async fn latest_observations(&self) -> Result<Vec<Observation>> {
        live::latest_observations(&self.db).await
    }

    async fn purge_observations(&self, sensors: &[Id], before: OffsetDateTime) -> Result<u64> {
        live::purge_observations(&self.db, sensors, before).await
    }
    async fn purge_rollups(&self, sensors: &[Id], before: OffsetDateTime) -> Result<u64> {
        live::purge_rollups(&self.db, sensors, before).await
    }

    async fn put_rule(&self, rule: &Rule, audit: &AuditRecord) -> Result<()> {
        live::put_rule(&self.db, rule, audit).await
    }

    async fn delete_rule(&self, id: &Id, audit: &AuditRecord) -> Result<()> {
        live::delete_rule(&self.db, id, audit).await
    }

    async fn list_rules(&self) -> Result<Vec<Rule>> {
        live::list_rules(&self.db).await
    }

    async fn rule_version(&self, id: &Id, version: u32) -> Result<Option<Rule>> {
        live::rule_version(&self.db, id, version).await
    }

    async fn put_alarm(&self, alarm: &Alarm, audit: Option<&AuditRecord>) -> Result<()> {
        live::put_alarm(&self.db, alarm, audit).await
    }

    async fn put_alarms(&self, alarms: &[Alarm]) -> Result<()> {
        live::put_alarms(&self.db, alarms).await
    }

    async fn open_alarms(&self) -> Result<Vec<Alarm>> {
        live::open_alarms(&self.db).await
    }

    async fn alarm(&self, id: &Id) -> Result<Option<Alarm>> {
        live::alarm(&self.db, id).await
    }
    async fn list_alarms(&self, municipality: Option<&Id>, open_only: bool, limit: u32) -> Result<Vec<Alarm>> {
        live::list_alarms(&self.db, municipality, open_only, limit).await
    }

    async fn put_incident_and_units(
        &self,
        incident: &Incident,
        units: &[Unit],
        journal: &[JournalEntry],
        audit: Option<&AuditRecord>,
    ) -> Result<()> {
        incidents::put_incident(&self.db, incident, units, journal, audit).await
    }
    async fn incident(&self, id: &Id) -> Result<Option<Incident>> {
        incidents::incident(&self.db, id).await
    }
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        incidents::list_incidents(&self.db, filter).await
    }
    async fn journal(&self, incident: &Id) -> Result<Vec<JournalEntry>> {
        incidents::journal(&self.db, incident).await
    }
    async fn put_attachment(
        &self,
        meta: &AttachmentMeta,
        data_base64: &str,
        journal: &JournalEntry,
        audit: &AuditRecord,
    ) -> Result<()> {
        incidents::put_attachment(&self.db, meta, data_base64, journal, audit).await
    }
    async fn attachment(&self, id: &Id) -> Result<Option<(AttachmentMeta, String)>> {
        incidents::attachment(&self.db, id).await
    }
    async fn put_procedure(&self, procedure: &Procedure, audit: &AuditRecord) -> Result<()> {
        incidents::put_procedure(&self.db, procedure, audit).await
    }
    async fn list_procedures(&self) -> Result<Vec<Procedure>> {
        incidents::list_procedures(&self.db).await
    }
    async fn procedure_versions(&self, id: &Id) -> Result<Vec<Procedure>> {
        incidents::procedure_versions(&self.db, id).await
    }
    async fn put_units(&self, units: &[Unit], audit: &[AuditRecord]) -> Result<()> {
        incidents::put_units(&self.db, units, audit).await
    }
    async fn list_units(&self) -> Result<Vec<Unit>> {
        incidents::list_units(&self.db).await
    }
    async fn put_share(&self, share: &Share, journal: &JournalEntry, audit: &AuditRecord) -> Result<()> {
        incidents::put_share(&self.db, share, journal, audit).await
    }
    async fn share(&self, id: &Id) -> Result<Option<Share>> {
        incidents::share(&self.db, id).await
    }
    async fn share_by_token(&self, token_hash: &str) -> Result<Option<Share>> {
        incidents::share_by_token(&self.db, token_hash).await
    }
    async fn shares_of_incident(&self, incident: &Id) -> Result<Vec<Share>> {
        incidents::shares_of_incident(&self.db, incident).await
    }
    async fn shares_of_agency(&self, agency: &Id, now: OffsetDateTime) -> Result<Vec<Share>> {
        incidents::shares_of_agency(&self.db, agency, now).await
    }
    async fn record_share_use(&self, share_use: &ShareUse) -> Result<()> {
        incidents::record_share_use(&self.db, share_use).await
    }
    async fn share_uses(&self, share: &Id) -> Result<Vec<ShareUse>> {
        incidents::share_uses(&self.db, share).await
    }
    async fn put_sos_device(&self, device: &SosDevice, audit: Option<&AuditRecord>) -> Result<()> {
        incidents::put_sos_device(&self.db, device, audit).await
    }
    async fn delete_sos_device(&self, id: &Id, audit: &AuditRecord) -> Result<()> {
        incidents::delete_sos_device(&self.db, id, audit).await
    }
    async fn list_sos_devices(&self) -> Result<Vec<SosDevice>> {
        incidents::list_sos_devices(&self.db).await
    }

    async fn put_warning(
        &self,
        warning: &polis_domain::warning::Warning,
        message: Option<&polis_domain::warning::CapRecord>,
        audit: Option<&AuditRecord>,
    ) -> Result<()> {
        crate::warnings::put_warning(&self.db, warning, message, audit).await
    }
    async fn warning(&self, id: &Id) -> Result<Option<polis_domain::warning::Warning>> {
        crate::warnings::warning(&self.db, id).await
    }
    async fn list_warnings(&self) -> Result<Vec<polis_domain::warning::Warning>> {
        crate::warnings::list_warnings(&self.db).await
    }
    async fn cap_message(&self, identifier: &str) -> Result<Option<polis_domain::warning::CapRecord>> {
        crate::warnings::cap_message(&self.db, identifier).await
    }
    async fn cap_messages_of(&self, warning: &Id) -> Result<Vec<polis_domain::warning::CapRecord>> {
        crate::warnings::cap_messages_of(&self.db, warning).await
    }
    async fn put_inbound(
        &self,
        alert: &polis_domain::warning::InboundAlert,
        audit: Option<&AuditRecord>,
    ) -> Result<()> {
        crate::warnings::put_inbound(&self.db, alert, audit).await
    }
    async fn list_inbound(&self) -> Result<Vec<polis_domain::warning::InboundAlert>> {
        crate::warnings::list_inbound(&self.db).await
    }
    async fn put_publication(&self, p: &polis_domain::warning::Publication, audit: &AuditRecord) -> Result<()> {
        crate::warnings::put_publication(&self.db, p, audit).await
    }
    async fn list_publications(&self) -> Result<Vec<polis_domain::warning::Publication>> {
        crate::warnings::list_publications(&self.db).await
    }

    fn write_status(&self) -> crate::WriteStatus {
        self.db.health().status()
    }

    async fn probe_write(&self) -> Result<()> {
        crate::events::probe_write(&self.db).await
    }

    async fn append_events(&self, events: &[crate::StoredEvent]) -> Result<()> {
        crate::events::append(&self.db, events).await
    }

    async fn newest_events(&self, limit: u32) -> Result<Vec<crate::StoredEvent>> {
        crate::events::newest(&self.db, limit).await
    }

    async fn prune_events(&self, keep: u64, before: OffsetDateTime) -> Result<u64> {
        crate::events::prune(&self.db, keep, before).await
    }

    async fn event_log_state(&self) -> Result<crate::EventLogState> {
        crate::events::log_state(&self.db).await
    }

    async fn set_event_log_state(&self, state: crate::EventLogState) -> Result<()> {
        crate::events::set_log_state(&self.db, state).await
    }

    async fn close(&self) {
        self.db.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sql_numbers_every_placeholder() {
        let t = Table { name: "t", entity: "thing", cols: &["id", "a"] };
        assert_eq!(t.insert_sql(2), "INSERT INTO t (id, a) VALUES ($1, $2), ($3, $4)");
        assert_eq!(t.insert_sql_with(2, true), "INSERT INTO t (id, a) VALUES (?, ?), (?, ?)");
        assert_eq!(t.update_sql(), "UPDATE t SET a = $2 WHERE id = $1");
        assert_eq!(
            t.upsert_sql(),
            "INSERT INTO t (id, a) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET a = excluded.a"
        );
    }

    #[test]
    fn first_repeat_finds_the_second_occurrence() {
        assert_eq!(first_repeat(["a", "b", "c"].into_iter()), None);
        assert_eq!(first_repeat(["a", "b", "c", "b", "a"].into_iter()), Some(3));
    }

    #[test]
    fn a_full_chunk_of_cameras_stays_under_the_sqlite_argument_limit() {
        let per = MAX_ARGS_PER_STATEMENT / CAMERAS.cols.len();
        assert!(per * CAMERAS.cols.len() <= 32_766);
        assert!(per >= 100);
    }
}
