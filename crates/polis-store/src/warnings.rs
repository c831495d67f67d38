//! Public warnings with the CAP messages they sent (kept as sent, never changed), warnings
//! received from outside feeds, and what administrators published on the portal.
//!
//! A warning's nested parts are kept in `body` as the domain type's serde form: changing
//! `Warning`'s fields needs a migration of the stored bodies.

use crate::codec;
use crate::db::{Arg, Db, DbRow};
use crate::error::db_error;
use crate::sql::{one, write_audit, Cols, Table};
use polis_base::{Error, Result};
use polis_domain::warning::{CapRecord, InboundAlert, MsgType, PublicKind, Publication, Warning};
use polis_domain::{AuditRecord, Id};

fn to_json<T: serde::Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::internal(format!("{what}: cannot encode")).with_source(e))
}

const WARNINGS: Table = Table {
    name: "warnings",
    entity: "warning",
    cols: &["id", "municipality", "status", "expires_ms", "updated_ms", "body"],
};

const MESSAGES: Table = Table {
    name: "cap_messages",
    entity: "CAP message",
    cols: &["identifier", "warning", "municipality", "sent_ms", "msg_type", "xml"],
};

const INBOUND: Table = Table {
    name: "cap_inbound",
    entity: "received warning",
    cols: &["key", "municipality", "status", "sent_ms", "body"],
};

const PUBLICATIONS: Table = Table {
    name: "publications",
    entity: "publication",
    cols: &["kind", "item", "municipality", "public", "by_name", "at_ms", "snapshot"],
};

/// An insert that replaces the row with the same `key` (a column list).
fn upsert_on(t: &Table, key: &str) -> String {
    let keys: Vec<&str> = key.split(',').map(str::trim).collect();
    let sets: Vec<String> =
        t.cols.iter().filter(|c| !keys.contains(c)).map(|c| format!("{c} = excluded.{c}")).collect();
    format!("{} ON CONFLICT ({key}) DO UPDATE SET {}", t.insert_sql(1), sets.join(", "))
}

fn warning_from(row: &DbRow) -> Result<Warning> {
    let mut c = Cols::new(row, &WARNINGS)?;
    for _ in 0..4 {
        c.skip();
    }
    let text = c.text()?;
    c.check(serde_json::from_str::<Warning>(&text))
}

/// Creates or replaces a warning, inserts the CAP message it sent (if any), writes the audit
/// record, in one transaction. A message identifier used before is `AlreadyExists`.
pub(crate) async fn put_warning(
    db: &Db,
    w: &Warning,
    message: Option<&CapRecord>,
    audit: Option<&AuditRecord>,
) -> Result<()> {
    const WHAT: &str = "save warning";
    let body = to_json(WHAT, w)?;
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        tx.execute(
            &WARNINGS.upsert_sql(),
            &[
                Arg::Text(w.id.as_str()),
                Arg::Text(w.municipality.as_str()),
                Arg::Text(w.status.as_str()),
                Arg::Int(codec::to_ms(w.content.expires)),
                Arg::Int(codec::to_ms(w.updated_at)),
                Arg::Text(&body),
            ],
        )
        .await
        .map_err(|e| db_error(WHAT, e))?;
        if let Some(m) = message {
            tx.execute(
                &MESSAGES.insert_sql(1),
                &[
                    Arg::Text(&m.identifier),
                    Arg::Text(m.warning.as_str()),
                    Arg::Text(m.municipality.as_str()),
                    Arg::Int(codec::to_ms(m.sent)),
                    Arg::Text(m.msg_type.as_str()),
                    Arg::Text(&m.xml),
                ],
            )
            .await
            .map_err(|e| db_error(WHAT, e))?;
        }
        write_audit(&mut tx, WHAT, one(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn warning(db: &Db, id: &Id) -> Result<Option<Warning>> {
    let sql = format!("{} WHERE id = $1", WARNINGS.select_sql());
    let rows = db.fetch_all("read warning", &sql, &[Arg::Text(id.as_str())]).await?;
    rows.first().map(warning_from).transpose()
}

pub(crate) async fn list_warnings(db: &Db) -> Result<Vec<Warning>> {
    let sql = format!("{} ORDER BY updated_ms DESC, id", WARNINGS.select_sql());
    let rows = db.fetch_all("list warnings", &sql, &[]).await?;
    rows.iter().map(warning_from).collect()
}

fn message_from(row: &DbRow) -> Result<CapRecord> {
    let mut c = Cols::new(row, &MESSAGES)?;
    let identifier = c.id().as_str().to_string();
    let warning = c.ref_id()?;
    let municipality = c.ref_id()?;
    let sent = c.timestamp()?;
    let kind = c.text()?;
    let msg_type = c.check(MsgType::parse("msg_type", &kind))?;
    Ok(CapRecord { identifier, warning, municipality, sent, msg_type, xml: c.text()? })
}

pub(crate) async fn cap_message(db: &Db, identifier: &str) -> Result<Option<CapRecord>> {
    let sql = format!("{} WHERE identifier = $1", MESSAGES.select_sql());
    let rows = db.fetch_all("read CAP message", &sql, &[Arg::Text(identifier)]).await?;
    rows.first().map(message_from).transpose()
}

pub(crate) async fn cap_messages_of(db: &Db, warning: &Id) -> Result<Vec<CapRecord>> {
    let sql = format!("{} WHERE warning = $1 ORDER BY sent_ms, identifier", MESSAGES.select_sql());
    let rows = db.fetch_all("read CAP messages", &sql, &[Arg::Text(warning.as_str())]).await?;
    rows.iter().map(message_from).collect()
}

pub(crate) async fn put_inbound(db: &Db, a: &InboundAlert, audit: Option<&AuditRecord>) -> Result<()> {
    const WHAT: &str = "save received warning";
    let body = to_json(WHAT, a)?;
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        tx.execute(
            &upsert_on(&INBOUND, "key"),
            &[
                Arg::Text(&a.key),
                Arg::Text(a.municipality.as_str()),
                Arg::Text(a.status.as_str()),
                Arg::Int(codec::to_ms(a.sent)),
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

pub(crate) async fn list_inbound(db: &Db) -> Result<Vec<InboundAlert>> {
    let sql = format!("{} ORDER BY sent_ms DESC, key", INBOUND.select_sql());
    let rows = db.fetch_all("list received warnings", &sql, &[]).await?;
    rows.iter()
        .map(|row| {
            let mut c = Cols::new(row, &INBOUND)?;
            for _ in 0..3 {
                c.skip();
            }
            let text = c.text()?;
            c.check(serde_json::from_str::<InboundAlert>(&text))
        })
        .collect()
}

pub(crate) async fn put_publication(db: &Db, p: &Publication, audit: &AuditRecord) -> Result<()> {
    const WHAT: &str = "save publication";
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        tx.execute(
            &upsert_on(&PUBLICATIONS, "kind, item"),
            &[
                Arg::Text(p.kind.as_str()),
                Arg::Text(p.item.as_str()),
                Arg::Text(p.municipality.as_str()),
                Arg::Bool(p.public),
                Arg::Text(&p.by),
                Arg::Int(codec::to_ms(p.at)),
                Arg::OptText(p.snapshot.as_deref()),
            ],
        )
        .await
        .map_err(|e| db_error(WHAT, e))?;
        write_audit(&mut tx, WHAT, std::slice::from_ref(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn list_publications(db: &Db) -> Result<Vec<Publication>> {
    let sql = format!("{} ORDER BY kind, item", PUBLICATIONS.select_sql());
    let rows = db.fetch_all("list publications", &sql, &[]).await?;
    rows.iter()
        .map(|row| {
            let mut c = Cols::new(row, &PUBLICATIONS)?;
            let kind = PublicKind::parse("kind", c.id().as_str()).map_err(|e| c.bad("kind", e))?;
            Ok(Publication {
                kind,
                item: c.ref_id()?,
                municipality: c.ref_id()?,
                public: c.boolean()?,
                by: c.text()?,
                at: c.timestamp()?,
                snapshot: c.opt_text()?,
            })
        })
        .collect()
}
