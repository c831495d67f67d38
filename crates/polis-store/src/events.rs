//! The live event bus's retention in the store (so that a subscriber resuming after a restart of
//! the single binary gets what it missed), and the write probe behind readiness.

use crate::codec;
use crate::db::{Arg, Db};
use crate::error::db_error;
use polis_base::{Error, Result};
use polis_domain::Id;
use time::OffsetDateTime;

/// A live event as the store keeps it: its bus id, when it was published, its municipality, and
/// the event itself as text (the bus's own serialisation, JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: u64,
    pub at: OffsetDateTime,
    pub municipality: Option<Id>,
    pub body: String,
}

/// How the previous run of the event log ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventLogState {
    /// The id of the last event of a run that stopped cleanly, with every event written; `None`
    /// while a run is going (so after a crash too).
    pub clean_through: Option<u64>,
    /// Events with a smaller id may have been lost (a run that did not write all of its events):
    /// a subscriber resuming from before it is told of a gap.
    pub gap_before: Option<u64>,
}

fn to_i64(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

/// Rows per INSERT statement (4 arguments each).
const ROWS_PER_INSERT: usize = 1_000;

pub(crate) async fn append(db: &Db, events: &[StoredEvent]) -> Result<()> {
    const WHAT: &str = "keep live events";
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin(WHAT).await?;
    let mut r = Ok(());
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from("INSERT INTO live_events (id, at_ms, municipality, body) VALUES ");
        let mut args = Vec::with_capacity(chunk.len() * 4);
        for (i, e) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let n = i * 4;
            sql.push_str(&format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4));
            args.push(Arg::Int(to_i64(e.id)));
            args.push(Arg::Int(codec::to_ms(e.at)));
            args.push(Arg::OptText(e.municipality.as_ref().map(Id::as_str)));
            args.push(Arg::Text(&e.body));
        }
        // An event written twice (a retry after an unknown outcome) is kept once.
        sql.push_str(" ON CONFLICT (id) DO NOTHING");
        if let Err(e) = tx.execute(&sql, &args).await {
            r = Err(db_error(WHAT, e));
            break;
        }
    }
    tx.finish(WHAT, r).await
}

/// The newest `limit` events, oldest first.
pub(crate) async fn newest(db: &Db, limit: u32) -> Result<Vec<StoredEvent>> {
    let rows = db
        .fetch_all(
            "read live events",
            "SELECT id, at_ms, municipality, body FROM live_events ORDER BY id DESC LIMIT $1",
            &[Arg::Int(i64::from(limit))],
        )
        .await?;
    let bad = |e: sqlx::Error| Error::internal("a live event row is malformed").with_source(e);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows.iter().rev() {
        let id = u64::try_from(row.int(0).map_err(bad)?).unwrap_or(0);
        let at = codec::from_ms(row.int(1).map_err(bad)?)
            .map_err(|e| Error::internal("a live event time is out of range").with_source(e))?;
        let municipality = row.opt_text(2).map_err(bad)?.map(|m| Id::parse("municipality", &m)).transpose()?;
        out.push(StoredEvent { id, at, municipality, body: row.text(3).map_err(bad)? });
    }
    Ok(out)
}

/// Keeps the newest `keep` events, none older than `before`; returns how many went.
pub(crate) async fn prune(db: &Db, keep: u64, before: OffsetDateTime) -> Result<u64> {
    const WHAT: &str = "prune live events";
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        let by_age = tx
            .execute("DELETE FROM live_events WHERE at_ms < $1", &[Arg::Int(codec::to_ms(before))])
            .await
            .map_err(|e| db_error(WHAT, e))?;
        // With fewer than `keep` rows the sub-query is NULL and nothing is deleted.
        let by_count = tx
            .execute(
                "DELETE FROM live_events WHERE id < \
                 (SELECT id FROM live_events ORDER BY id DESC LIMIT 1 OFFSET $1)",
                &[Arg::Int(to_i64(keep.saturating_sub(1)))],
            )
            .await
            .map_err(|e| db_error(WHAT, e))?;
        Ok(by_age + by_count)
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn log_state(db: &Db) -> Result<EventLogState> {
    let rows = db
        .fetch_all("read the live event log", "SELECT clean_through, gap_before FROM live_event_log WHERE id = 1", &[])
        .await?;
    let bad = |e: sqlx::Error| Error::internal("the live event log row is malformed").with_source(e);
    match rows.first() {
        Some(r) => Ok(EventLogState {
            clean_through: to_u64(r.opt_int(0).map_err(bad)?),
            gap_before: to_u64(r.opt_int(1).map_err(bad)?),
        }),
        None => Ok(EventLogState::default()),
    }
}

pub(crate) async fn set_log_state(db: &Db, state: EventLogState) -> Result<()> {
    const WHAT: &str = "write the live event log";
    let mut tx = db.begin(WHAT).await?;
    let r = tx
        .execute(
            "UPDATE live_event_log SET clean_through = $1, gap_before = $2 WHERE id = 1",
            &[Arg::OptInt(state.clean_through.map(to_i64)), Arg::OptInt(state.gap_before.map(to_i64))],
        )
        .await
        .map(|_| ())
        .map_err(|e| db_error(WHAT, e));
    tx.finish(WHAT, r).await
}

/// Writes a few pages and takes them back in one committed transaction: the store is reachable
/// and has room for a small write.
pub(crate) async fn probe_write(db: &Db) -> Result<()> {
    const WHAT: &str = "probe the store with a write";
    let mut tx = db.begin(WHAT).await?;
    let insert = if tx.is_sqlite() {
        // Four pages of 4 KiB that cannot be stored smaller.
        "INSERT INTO store_probe (id, pad) VALUES (1, randomblob(16384))"
    } else {
        "INSERT INTO store_probe (id, pad) VALUES (1, decode(md5(random()::text), 'hex'))"
    };
    let r = async {
        tx.execute("DELETE FROM store_probe", &[]).await.map_err(|e| db_error(WHAT, e))?;
        tx.execute(insert, &[]).await.map_err(|e| db_error(WHAT, e))?;
        tx.execute("DELETE FROM store_probe", &[]).await.map_err(|e| db_error(WHAT, e))?;
        Ok(())
    }
    .await;
    tx.finish(WHAT, r).await
}
