//! The index of recorded video: one row per file on disk (see [`Segment`]).

use crate::codec;
use crate::db::{Arg, Db, DbRow};
use crate::error::db_error;
use polis_base::{Error, Result};
use polis_domain::Id;
use time::OffsetDateTime;

/// A recorded file of one camera: a fragmented MP4 covering `start` to `end`, named `file`
/// under the recordings directory, of `bytes` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub camera: Id,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub file: String,
    pub bytes: u64,
}

/// The recordings of one camera, in sum.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentUsage {
    pub camera: Id,
    pub segments: u64,
    pub bytes: u64,
    pub oldest: OffsetDateTime,
}

fn time_of(ms: i64) -> Result<OffsetDateTime> {
    codec::from_ms(ms).map_err(|e| Error::internal("a recording time is out of range").with_source(e))
}

const COLS: &str = "camera, start_ms, end_ms, file, bytes";

fn segment_from(row: &DbRow) -> Result<Segment> {
    let bad = |e: sqlx::Error| Error::internal("a recording segment row is malformed").with_source(e);
    let camera = row.text(0).map_err(bad)?;
    let camera = Id::parse("camera", &camera)?;
    let bytes = row.int(4).map_err(bad)?;
    Ok(Segment {
        camera,
        start: time_of(row.int(1).map_err(bad)?)?,
        end: time_of(row.int(2).map_err(bad)?)?,
        file: row.text(3).map_err(bad)?,
        bytes: u64::try_from(bytes).unwrap_or(0),
    })
}

pub(crate) async fn put_segment(db: &Db, s: &Segment) -> Result<()> {
    const WHAT: &str = "index a recording";
    let mut tx = db.begin(WHAT).await?;
    let r = tx
        .execute(
            "INSERT INTO recording_segments (camera, start_ms, end_ms, file, bytes) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (camera, start_ms) DO UPDATE SET end_ms = excluded.end_ms, file = excluded.file, \
             bytes = excluded.bytes",
            &[
                Arg::Text(s.camera.as_str()),
                Arg::Int(codec::to_ms(s.start)),
                Arg::Int(codec::to_ms(s.end)),
                Arg::Text(&s.file),
                Arg::Int(i64::try_from(s.bytes).unwrap_or(i64::MAX)),
            ],
        )
        .await
        .map(|_| ())
        .map_err(|e| db_error(WHAT, e));
    tx.finish(WHAT, r).await
}

pub(crate) async fn segments(db: &Db, camera: &Id, from: OffsetDateTime, to: OffsetDateTime) -> Result<Vec<Segment>> {
    let sql = format!(
        "SELECT {COLS} FROM recording_segments WHERE camera = $1 AND start_ms < $3 AND end_ms > $2 ORDER BY start_ms"
    );
    let args = [Arg::Text(camera.as_str()), Arg::Int(codec::to_ms(from)), Arg::Int(codec::to_ms(to))];
    db.fetch_all("list recordings", &sql, &args).await?.iter().map(segment_from).collect()
}

pub(crate) async fn oldest_segments(db: &Db, camera: Option<&Id>, limit: u32) -> Result<Vec<Segment>> {
    let limit = i64::from(limit.max(1));
    let rows = match camera {
        Some(c) => {
            let sql = format!("SELECT {COLS} FROM recording_segments WHERE camera = $1 ORDER BY start_ms LIMIT $2");
            db.fetch_all("oldest recordings", &sql, &[Arg::Text(c.as_str()), Arg::Int(limit)]).await?
        }
        None => {
            let sql = format!("SELECT {COLS} FROM recording_segments ORDER BY start_ms, camera LIMIT $1");
            db.fetch_all("oldest recordings", &sql, &[Arg::Int(limit)]).await?
        }
    };
    rows.iter().map(segment_from).collect()
}

pub(crate) async fn segment_usage(db: &Db) -> Result<Vec<SegmentUsage>> {
    let sql = "SELECT camera, COUNT(*), CAST(SUM(bytes) AS BIGINT), MIN(start_ms) FROM recording_segments GROUP BY camera ORDER BY camera";
    let rows = db.fetch_all("recording usage", sql, &[]).await?;
    rows.iter()
        .map(|row| {
            let bad = |e: sqlx::Error| Error::internal("a recording usage row is malformed").with_source(e);
            Ok(SegmentUsage {
                camera: Id::parse("camera", &row.text(0).map_err(bad)?)?,
                segments: u64::try_from(row.int(1).map_err(bad)?).unwrap_or(0),
                bytes: u64::try_from(row.int(2).map_err(bad)?).unwrap_or(0),
                oldest: time_of(row.int(3).map_err(bad)?)?,
            })
        })
        .collect()
}

pub(crate) async fn delete_segment(db: &Db, camera: &Id, start: OffsetDateTime) -> Result<()> {
    const WHAT: &str = "delete a recording";
    let mut tx = db.begin(WHAT).await?;
    let r = tx
        .execute(
            "DELETE FROM recording_segments WHERE camera = $1 AND start_ms = $2",
            &[Arg::Text(camera.as_str()), Arg::Int(codec::to_ms(start))],
        )
        .await
        .map(|_| ())
        .map_err(|e| db_error(WHAT, e));
    tx.finish(WHAT, r).await
}
