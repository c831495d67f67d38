//! Incidents, their append-only journal and attachments, procedures (every version kept),
//! response units, video shares (token hashes only) with their use log, and SOS devices (the
//! personal profile in its own columns, never in a JSON body).
//!
//! The nested parts of incidents, procedures, units and shares are kept in `body` as the domain
//! types' serde form: changing those types' fields needs a migration of the stored bodies.

use crate::codec;
use crate::db::{Arg, Db, DbRow};
use crate::error::db_error;
use crate::sql::{one, write_audit, Cols, Table};
use polis_base::{Error, Result};
use polis_domain::incident::{
    Incident, JournalEntry, JournalKind, Procedure, SafeZone, Share, SosDevice, SosProfile, Unit,
};
use polis_domain::{AuditRecord, Id, LatLon};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use time::OffsetDateTime;

fn to_json<T: Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::internal(format!("{what}: cannot encode")).with_source(e))
}

fn body<T: DeserializeOwned>(c: &mut Cols<'_>) -> Result<T> {
    let text = c.text()?;
    c.check(serde_json::from_str::<T>(&text))
}

/// Filters for listing incidents.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub municipality: Option<Id>,
    pub open_only: bool,
    /// Created at or after.
    pub from: Option<OffsetDateTime>,
    /// Created before.
    pub to: Option<OffsetDateTime>,
    /// Only these ids (for agency users: what is shared with them).
    pub ids: Option<Vec<Id>>,
    pub limit: u32,
}

/// An attachment's description, without its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentMeta {
    pub id: Id,
    pub incident: Id,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub created_at: OffsetDateTime,
    pub by: String,
}

/// One use of a video share.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareUse {
    pub share: Id,
    pub at: OffsetDateTime,
    pub what: String,
    pub camera: Option<Id>,
}

// ---- Incidents and their journal -------------------------------------------------------------

const INCIDENTS: Table = Table {
    name: "incidents",
    entity: "incident",
    cols: &["id", "municipality", "kind", "status", "priority", "created_ms", "updated_ms", "body"],
};

fn incident_from(row: &DbRow) -> Result<Incident> {
    let mut c = Cols::new(row, &INCIDENTS)?;
    for _ in 0..6 {
        c.skip();
    }
    body(&mut c)
}

async fn append_journal(tx: &mut crate::db::Tx, what: &str, entries: &[JournalEntry]) -> Result<()> {
    for e in entries {
        tx.execute(
            "INSERT INTO incident_journal (incident, seq, at_ms, by_name, kind, text, attachment) \
             VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM incident_journal WHERE incident = $1), $2, $3, $4, $5, $6)",
            &[
                Arg::Text(e.incident.as_str()),
                Arg::Int(codec::to_ms(e.at)),
                Arg::Text(&e.by),
                Arg::Text(e.kind.as_str()),
                Arg::Text(&e.text),
                Arg::OptText(e.attachment.as_ref().map(|a| a.as_str())),
            ],
        )
        .await
        .map_err(|e| db_error(what, e))?;
    }
    Ok(())
}

/// Creates or replaces an incident and the `units` that changed with it, and appends `journal`
/// to its journal, with the audit record, in one transaction.
pub(crate) async fn put_incident(
    db: &Db,
    incident: &Incident,
    units: &[Unit],
    journal: &[JournalEntry],
    audit: Option<&AuditRecord>,
) -> Result<()> {
    const WHAT: &str = "save incident";
    let body = to_json(WHAT, incident)?;
    let unit_bodies = units.iter().map(|u| to_json(WHAT, u)).collect::<Result<Vec<_>>>()?;
    let args = [
        Arg::Text(incident.id.as_str()),
        Arg::Text(incident.municipality.as_str()),
        Arg::Text(incident.kind.as_str()),
        Arg::Text(incident.status.as_str()),
        Arg::Int(i64::from(incident.priority)),
        Arg::Int(codec::to_ms(incident.created_at)),
        Arg::Int(codec::to_ms(incident.updated_at)),
        Arg::Text(&body),
    ];
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        tx.execute(&INCIDENTS.upsert_sql(), &args).await.map_err(|e| db_error(WHAT, e))?;
        for (u, b) in units.iter().zip(&unit_bodies) {
            upsert_unit(&mut tx, WHAT, u, b).await?;
        }
        append_journal(&mut tx, WHAT, journal).await?;
        write_audit(&mut tx, WHAT, one(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn incident(db: &Db, id: &Id) -> Result<Option<Incident>> {
    let sql = format!("{} WHERE id = $1", INCIDENTS.select_sql());
    let rows = db.fetch_all("read incident", &sql, &[Arg::Text(id.as_str())]).await?;
    rows.first().map(incident_from).transpose()
}

pub(crate) async fn list_incidents(db: &Db, f: &IncidentFilter) -> Result<Vec<Incident>> {
    let mut sql = format!("{} WHERE 1 = 1", INCIDENTS.select_sql());
    let from_ms = f.from.map(codec::to_ms);
    let to_ms = f.to.map(codec::to_ms);
    let mut args = vec![Arg::Int(i64::from(f.limit.max(1)))];
    if let Some(m) = &f.municipality {
        args.push(Arg::Text(m.as_str()));
        sql.push_str(&format!(" AND municipality = ${}", args.len()));
    }
    if f.open_only {
        sql.push_str(" AND status NOT IN ('closed', 'cancelled')");
    }
    if let Some(ms) = from_ms {
        args.push(Arg::Int(ms));
        sql.push_str(&format!(" AND created_ms >= ${}", args.len()));
    }
    if let Some(ms) = to_ms {
        args.push(Arg::Int(ms));
        sql.push_str(&format!(" AND created_ms < ${}", args.len()));
    }
    if let Some(ids) = &f.ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut marks = Vec::new();
        for id in ids {
            args.push(Arg::Text(id.as_str()));
            marks.push(format!("${}", args.len()));
        }
        sql.push_str(&format!(" AND id IN ({})", marks.join(", ")));
    }
    sql.push_str(" ORDER BY created_ms DESC, id LIMIT $1");
    let rows = db.fetch_all("list incidents", &sql, &args).await?;
    rows.iter().map(incident_from).collect()
}

pub(crate) async fn journal(db: &Db, incident: &Id) -> Result<Vec<JournalEntry>> {
    const T: Table = Table {
        name: "incident_journal",
        entity: "journal entry",
        cols: &["incident", "at_ms", "by_name", "kind", "text", "attachment"],
    };
    let rows = db
        .fetch_all(
            "read incident journal",
            "SELECT incident, at_ms, by_name, kind, text, attachment FROM incident_journal WHERE incident = $1 ORDER BY seq",
            &[Arg::Text(incident.as_str())],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let mut c = Cols::new(row, &T)?;
            let at = c.timestamp()?;
            let by = c.text()?;
            let kind = c.text()?;
            let kind = c.check(JournalKind::parse("kind", &kind))?;
            Ok(JournalEntry { incident: c.id(), at, by, kind, text: c.text()?, attachment: c.opt_ref_id()? })
        })
        .collect()
}

/// Stores an attachment and its journal line (and audit record) in one transaction.
pub(crate) async fn put_attachment(
    db: &Db,
    meta: &AttachmentMeta,
    data_base64: &str,
    journal: &JournalEntry,
    audit: &AuditRecord,
) -> Result<()> {
    const WHAT: &str = "save attachment";
    let size = i64::try_from(meta.size).map_err(|_| Error::invalid("size", "too large"))?;
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        tx.execute(
            "INSERT INTO incident_attachments (id, incident, name, content_type, size, sha256, created_ms, by_name, \
             data_base64) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                Arg::Text(meta.id.as_str()),
                Arg::Text(meta.incident.as_str()),
                Arg::Text(&meta.name),
                Arg::Text(&meta.content_type),
                Arg::Int(size),
                Arg::Text(&meta.sha256),
                Arg::Int(codec::to_ms(meta.created_at)),
                Arg::Text(&meta.by),
                Arg::Text(data_base64),
            ],
        )
        .await
        .map_err(|e| db_error(WHAT, e))?;
        append_journal(&mut tx, WHAT, std::slice::from_ref(journal)).await?;
        write_audit(&mut tx, WHAT, std::slice::from_ref(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

const ATTACHMENTS: Table = Table {
    name: "incident_attachments",
    entity: "attachment",
    cols: &["id", "incident", "name", "content_type", "size", "sha256", "created_ms", "by_name", "data_base64"],
};

/// An attachment and its bytes (base64), if it exists.
pub(crate) async fn attachment(db: &Db, id: &Id) -> Result<Option<(AttachmentMeta, String)>> {
    let sql = format!("{} WHERE id = $1", ATTACHMENTS.select_sql());
    let rows = db.fetch_all("read attachment", &sql, &[Arg::Text(id.as_str())]).await?;
    rows.first()
        .map(|row| {
            let mut c = Cols::new(row, &ATTACHMENTS)?;
            let meta = AttachmentMeta {
                id: c.id(),
                incident: c.ref_id()?,
                name: c.text()?,
                content_type: c.text()?,
                size: c.int()?.max(0) as u64,
                sha256: c.text()?,
                created_at: c.timestamp()?,
                by: c.text()?,
            };
            Ok((meta, c.text()?))
        })
        .transpose()
}

// ---- Procedures ------------------------------------------------------------------------------

const PROCEDURES: Table =
    Table { name: "procedures", entity: "procedure", cols: &["id", "version", "municipality", "kind", "body"] };

fn procedure_from(row: &DbRow) -> Result<Procedure> {
    let mut c = Cols::new(row, &PROCEDURES)?;
    for _ in 0..3 {
        c.skip();
    }
    body(&mut c)
}

/// Stores a new version of a procedure. A version that exists already is `AlreadyExists` (two
/// supervisors editing at once: the second must reload).
pub(crate) async fn put_procedure(db: &Db, p: &Procedure, audit: &AuditRecord) -> Result<()> {
    const WHAT: &str = "save procedure";
    let body = to_json(WHAT, p)?;
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        let rows = tx
            .fetch_all("SELECT COALESCE(MAX(version), 0) FROM procedures WHERE id = $1", &[Arg::Text(p.id.as_str())])
            .await
            .map_err(|e| db_error(WHAT, e))?;
        let current = rows.first().map(|r| r.int(0)).transpose().map_err(|e| db_error(WHAT, e))?.unwrap_or(0);
        if current >= i64::from(p.version) {
            return Err(Error::already_exists(format!(
                "procedure {} is at version {current}; reload it before editing",
                p.id
            )));
        }
        tx.execute(
            "INSERT INTO procedures (id, version, municipality, kind, body) VALUES ($1, $2, $3, $4, $5)",
            &[
                Arg::Text(p.id.as_str()),
                Arg::Int(i64::from(p.version)),
                Arg::Text(p.municipality.as_str()),
                Arg::Text(p.kind.as_str()),
                Arg::Text(&body),
            ],
        )
        .await
        .map_err(|e| db_error(WHAT, e))?;
        write_audit(&mut tx, WHAT, std::slice::from_ref(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

/// The newest version of every procedure.
pub(crate) async fn list_procedures(db: &Db) -> Result<Vec<Procedure>> {
    let sql = format!(
        "{} p WHERE version = (SELECT MAX(version) FROM procedures q WHERE q.id = p.id) ORDER BY id",
        PROCEDURES.select_sql()
    );
    let rows = db.fetch_all("list procedures", &sql, &[]).await?;
    rows.iter().map(procedure_from).collect()
}

pub(crate) async fn procedure_versions(db: &Db, id: &Id) -> Result<Vec<Procedure>> {
    let sql = format!("{} WHERE id = $1 ORDER BY version", PROCEDURES.select_sql());
    let rows = db.fetch_all("list procedure versions", &sql, &[Arg::Text(id.as_str())]).await?;
    rows.iter().map(procedure_from).collect()
}

// ---- Units -------------------------------------------------------------------------------------

const UNITS: Table = Table { name: "units", entity: "unit", cols: &["id", "municipality", "agency", "body"] };

/// Creates or replaces units (with their audit records) in one transaction.
pub(crate) async fn put_units(db: &Db, units: &[Unit], audit: &[AuditRecord]) -> Result<()> {
    const WHAT: &str = "save units";
    let bodies = units.iter().map(|u| to_json(WHAT, u)).collect::<Result<Vec<_>>>()?;
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        for (u, b) in units.iter().zip(&bodies) {
            upsert_unit(&mut tx, WHAT, u, b).await?;
        }
        write_audit(&mut tx, WHAT, audit).await
    }
    .await;
    tx.finish(WHAT, r).await
}

async fn upsert_unit(tx: &mut crate::db::Tx, what: &str, u: &Unit, body: &str) -> Result<()> {
    tx.execute(
        &UNITS.upsert_sql(),
        &[Arg::Text(u.id.as_str()), Arg::Text(u.municipality.as_str()), Arg::Text(u.agency.as_str()), Arg::Text(body)],
    )
    .await
    .map_err(|e| db_error(what, e))?;
    Ok(())
}

pub(crate) async fn list_units(db: &Db) -> Result<Vec<Unit>> {
    let sql = format!("{} ORDER BY id", UNITS.select_sql());
    let rows = db.fetch_all("list units", &sql, &[]).await?;
    rows.iter()
        .map(|row| {
            let mut c = Cols::new(row, &UNITS)?;
            c.skip();
            c.skip();
            body(&mut c)
        })
        .collect()
}

// ---- Shares ------------------------------------------------------------------------------------

const SHARES: Table = Table {
    name: "shares",
    entity: "share",
    cols: &["id", "municipality", "incident", "agency", "token_hash", "expires_ms", "body"],
};

fn share_from(row: &DbRow) -> Result<Share> {
    let mut c = Cols::new(row, &SHARES)?;
    for _ in 0..3 {
        c.skip();
    }
    let hash = c.text()?;
    c.skip();
    let mut s: Share = body(&mut c)?;
    s.token_hash = hash;
    Ok(s)
}

/// Creates or replaces a share, appends the journal line and audit record, in one transaction.
pub(crate) async fn put_share(db: &Db, s: &Share, journal: &JournalEntry, audit: &AuditRecord) -> Result<()> {
    const WHAT: &str = "save share";
    let body = to_json(WHAT, s)?;
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        tx.execute(
            &SHARES.upsert_sql(),
            &[
                Arg::Text(s.id.as_str()),
                Arg::Text(s.municipality.as_str()),
                Arg::Text(s.incident.as_str()),
                Arg::Text(s.agency.as_str()),
                Arg::Text(&s.token_hash),
                Arg::Int(codec::to_ms(s.expires_at)),
                Arg::Text(&body),
            ],
        )
        .await
        .map_err(|e| db_error(WHAT, e))?;
        append_journal(&mut tx, WHAT, std::slice::from_ref(journal)).await?;
        write_audit(&mut tx, WHAT, std::slice::from_ref(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn share_by_token(db: &Db, token_hash: &str) -> Result<Option<Share>> {
    let sql = format!("{} WHERE token_hash = $1", SHARES.select_sql());
    let rows = db.fetch_all("read share", &sql, &[Arg::Text(token_hash)]).await?;
    rows.first().map(share_from).transpose()
}

pub(crate) async fn share(db: &Db, id: &Id) -> Result<Option<Share>> {
    let sql = format!("{} WHERE id = $1", SHARES.select_sql());
    let rows = db.fetch_all("read share", &sql, &[Arg::Text(id.as_str())]).await?;
    rows.first().map(share_from).transpose()
}

pub(crate) async fn shares_of_incident(db: &Db, incident: &Id) -> Result<Vec<Share>> {
    let sql = format!("{} WHERE incident = $1 ORDER BY expires_ms, id", SHARES.select_sql());
    let rows = db.fetch_all("list shares", &sql, &[Arg::Text(incident.as_str())]).await?;
    rows.iter().map(share_from).collect()
}

/// The shares of `agency` that have not expired by `now` (revoked ones included; callers check).
pub(crate) async fn shares_of_agency(db: &Db, agency: &Id, now: OffsetDateTime) -> Result<Vec<Share>> {
    let sql = format!("{} WHERE agency = $1 AND expires_ms > $2 ORDER BY expires_ms, id", SHARES.select_sql());
    let rows = db.fetch_all("list shares", &sql, &[Arg::Text(agency.as_str()), Arg::Int(codec::to_ms(now))]).await?;
    rows.iter().map(share_from).collect()
}

pub(crate) async fn record_share_use(db: &Db, u: &ShareUse) -> Result<()> {
    const WHAT: &str = "log share use";
    let mut tx = db.begin(WHAT).await?;
    let r = tx
        .execute(
            "INSERT INTO share_uses (share, at_ms, what, camera) VALUES ($1, $2, $3, $4)",
            &[
                Arg::Text(u.share.as_str()),
                Arg::Int(codec::to_ms(u.at)),
                Arg::Text(&u.what),
                Arg::OptText(u.camera.as_ref().map(|c| c.as_str())),
            ],
        )
        .await
        .map(|_| ())
        .map_err(|e| db_error(WHAT, e));
    tx.finish(WHAT, r).await
}

pub(crate) async fn share_uses(db: &Db, share: &Id) -> Result<Vec<ShareUse>> {
    const T: Table = Table { name: "share_uses", entity: "share use", cols: &["share", "at_ms", "what", "camera"] };
    let rows = db
        .fetch_all(
            "list share uses",
            "SELECT share, at_ms, what, camera FROM share_uses WHERE share = $1 ORDER BY at_ms",
            &[Arg::Text(share.as_str())],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let mut c = Cols::new(row, &T)?;
            Ok(ShareUse { share: c.id(), at: c.timestamp()?, what: c.text()?, camera: c.opt_ref_id()? })
        })
        .collect()
}

// ---- SOS devices -------------------------------------------------------------------------------

const SOS: Table = Table {
    name: "sos_devices",
    entity: "SOS device",
    cols: &["id", "municipality", "profile_name", "profile_details", "profile_contact", "body"],
};

/// What of an SOS device goes into `body`: never the profile.
#[derive(Serialize, Deserialize)]
struct SosBody {
    label: String,
    position: Option<LatLon>,
    position_at_ms: Option<i64>,
    /// Absent in rows written before safe zones existed.
    #[serde(default)]
    safe_zones: Vec<SafeZone>,
    #[serde(default)]
    checkin_minutes: Option<u32>,
}

pub(crate) async fn put_sos_device(db: &Db, d: &SosDevice, audit: Option<&AuditRecord>) -> Result<()> {
    const WHAT: &str = "save SOS device";
    let body = to_json(
        WHAT,
        &SosBody {
            label: d.label.clone(),
            position: d.position,
            position_at_ms: d.position_at.map(codec::to_ms),
            safe_zones: d.safe_zones.clone(),
            checkin_minutes: d.checkin_minutes,
        },
    )?;
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        tx.execute(
            &SOS.upsert_sql(),
            &[
                Arg::Text(d.id.as_str()),
                Arg::Text(d.municipality.as_str()),
                Arg::Text(&d.profile.name),
                Arg::Text(&d.profile.details),
                Arg::Text(&d.profile.contact),
                Arg::Text(&body),
            ],
        )
        .await
        .map_err(|e| db_error(WHAT, e))?;
        write_audit(&mut tx, WHAT, one(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

/// Deletes an SOS device (its profile with it) and writes the audit record, in one transaction.
pub(crate) async fn delete_sos_device(db: &Db, id: &Id, audit: &AuditRecord) -> Result<()> {
    const WHAT: &str = "delete SOS device";
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        tx.execute("DELETE FROM sos_devices WHERE id = $1", &[Arg::Text(id.as_str())])
            .await
            .map_err(|e| db_error(WHAT, e))?;
        write_audit(&mut tx, WHAT, one(Some(audit))).await
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn list_sos_devices(db: &Db) -> Result<Vec<SosDevice>> {
    let sql = format!("{} ORDER BY id", SOS.select_sql());
    let rows = db.fetch_all("list SOS devices", &sql, &[]).await?;
    rows.iter()
        .map(|row| {
            let mut c = Cols::new(row, &SOS)?;
            let municipality = c.ref_id()?;
            let profile = SosProfile { name: c.text()?, details: c.text()?, contact: c.text()? };
            let b: SosBody = body(&mut c)?;
            let position_at = b.position_at_ms.map(codec::from_ms).transpose().map_err(|e| c.bad("body", e))?;
            Ok(SosDevice {
                id: c.id(),
                municipality,
                label: b.label,
                profile,
                position: b.position,
                position_at,
                safe_zones: b.safe_zones,
                checkin_minutes: b.checkin_minutes,
            })
        })
        .collect()
}
