//! Tickets: short-lived stand-ins for a bearer token in a URL, for clients that cannot send an
//! Authorization header (an `EventSource`, a `<video>` element). They live in the store so that
//! a ticket issued by one node of a region is honoured by whichever node the next request reaches.

use crate::codec;
use crate::db::{Arg, Db, DbRow};
use crate::error::db_error;
use polis_base::{Error, Result};
use polis_domain::Id;
use time::OffsetDateTime;

/// What a ticket opens.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketPurpose {
    /// The event stream, once.
    Events,
    /// One camera's recording over one range, as often as the player asks until it expires.
    Playback { camera: Id, from: OffsetDateTime, to: OffsetDateTime },
}

/// A ticket as stored: the SHA-256 (hex) of the ticket, never the ticket itself, and the token
/// hash of the session that asked for it (the ticket works only while that session does).
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub hash: String,
    pub session: String,
    pub purpose: TicketPurpose,
    pub expires: OffsetDateTime,
}

const COLS: &str = "ticket_hash, session_hash, purpose, camera, from_ms, to_ms, expires_at_ms";

fn ticket_from(row: &DbRow) -> Result<Ticket> {
    let bad = |e: sqlx::Error| Error::internal("a ticket row is malformed").with_source(e);
    let time =
        |ms: i64| codec::from_ms(ms).map_err(|e| Error::internal("a ticket time is out of range").with_source(e));
    let purpose = match row.text(2).map_err(bad)?.as_str() {
        "events" => TicketPurpose::Events,
        "playback" => {
            let camera = row.opt_text(3).map_err(bad)?.unwrap_or_default();
            let from = row.opt_int(4).map_err(bad)?.unwrap_or_default();
            let to = row.opt_int(5).map_err(bad)?.unwrap_or_default();
            TicketPurpose::Playback { camera: Id::parse("camera", &camera)?, from: time(from)?, to: time(to)? }
        }
        other => return Err(Error::internal(format!("a ticket has an unknown purpose {other:?}"))),
    };
    Ok(Ticket {
        hash: row.text(0).map_err(bad)?,
        session: row.text(1).map_err(bad)?,
        purpose,
        expires: time(row.int(6).map_err(bad)?)?,
    })
}

/// Stores a ticket, and forgets the expired ones in the same transaction.
pub(crate) async fn put_ticket(db: &Db, t: &Ticket, now: OffsetDateTime) -> Result<()> {
    const WHAT: &str = "store a ticket";
    let (purpose, camera, from, to) = match &t.purpose {
        TicketPurpose::Events => ("events", None, None, None),
        TicketPurpose::Playback { camera, from, to } => {
            ("playback", Some(camera.as_str()), Some(codec::to_ms(*from)), Some(codec::to_ms(*to)))
        }
    };
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        tx.execute("DELETE FROM tickets WHERE expires_at_ms <= $1", &[Arg::Int(codec::to_ms(now))]).await?;
        tx.execute(
            &format!("INSERT INTO tickets ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
            &[
                Arg::Text(&t.hash),
                Arg::Text(&t.session),
                Arg::Text(purpose),
                Arg::OptText(camera),
                Arg::OptInt(from),
                Arg::OptInt(to),
                Arg::Int(codec::to_ms(t.expires)),
            ],
        )
        .await
    }
    .await
    .map(|_| ())
    .map_err(|e| db_error(WHAT, e));
    tx.finish(WHAT, r).await
}

/// Takes a one-time ticket: deletes it and returns it if it had not expired at `now`. Two nodes
/// taking the same ticket at once: one gets it, the other `None`.
pub(crate) async fn take_ticket(db: &Db, hash: &str, now: OffsetDateTime) -> Result<Option<Ticket>> {
    const WHAT: &str = "take a ticket";
    let mut tx = db.begin(WHAT).await?;
    let r = tx
        .fetch_all(&format!("DELETE FROM tickets WHERE ticket_hash = $1 RETURNING {COLS}"), &[Arg::Text(hash)])
        .await
        .map_err(|e| db_error(WHAT, e));
    let r = match r {
        Ok(rows) => rows.first().map(ticket_from).transpose(),
        Err(e) => Err(e),
    };
    let t = tx.finish(WHAT, r).await?;
    Ok(t.filter(|t| t.expires > now))
}

/// A ticket that may be used again until it expires.
pub(crate) async fn ticket(db: &Db, hash: &str, now: OffsetDateTime) -> Result<Option<Ticket>> {
    let rows = db
        .fetch_all(
            "find a ticket",
            &format!("SELECT {COLS} FROM tickets WHERE ticket_hash = $1 AND expires_at_ms > $2"),
            &[Arg::Text(hash), Arg::Int(codec::to_ms(now))],
        )
        .await?;
    rows.first().map(ticket_from).transpose()
}
