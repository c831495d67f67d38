//! ONVIF links of PTZ cameras: one row per camera, written with its audit record.

use crate::db::{Arg, Db, DbRow};
use crate::error::db_error;
use crate::sql::write_audit;
use polis_base::{Error, Result};
use polis_domain::{AuditRecord, Id, OnvifLink, PtzCalibration};

const COLS: &str = "camera, url, username, password, profile, pan_north, pan_degrees, tilt_degrees";

fn link_from(row: &DbRow) -> Result<OnvifLink> {
    let bad = |e: sqlx::Error| Error::internal("an ONVIF link row is malformed").with_source(e);
    Ok(OnvifLink {
        camera: Id::parse("camera", &row.text(0).map_err(bad)?)?,
        url: row.text(1).map_err(bad)?,
        username: row.text(2).map_err(bad)?,
        password: row.text(3).map_err(bad)?,
        profile: row.opt_text(4).map_err(bad)?,
        calibration: PtzCalibration {
            pan_north: row.real(5).map_err(bad)?,
            pan_degrees: row.real(6).map_err(bad)?,
            tilt_degrees: row.real(7).map_err(bad)?,
        },
    })
}

/// Inserts or replaces the camera's link, with its audit record.
pub(crate) async fn put_onvif_link(db: &Db, link: &OnvifLink, audit: &AuditRecord) -> Result<()> {
    const WHAT: &str = "store an ONVIF link";
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        tx.execute("DELETE FROM camera_onvif WHERE camera = $1", &[Arg::Text(link.camera.as_str())])
            .await
            .map_err(|e| db_error(WHAT, e))?;
        let c = &link.calibration;
        tx.execute(
            &format!("INSERT INTO camera_onvif ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
            &[
                Arg::Text(link.camera.as_str()),
                Arg::Text(&link.url),
                Arg::Text(&link.username),
                Arg::Text(&link.password),
                Arg::OptText(link.profile.as_deref()),
                Arg::Real(c.pan_north),
                Arg::Real(c.pan_degrees),
                Arg::Real(c.tilt_degrees),
            ],
        )
        .await
        .map_err(|e| db_error(WHAT, e))?;
        write_audit(&mut tx, WHAT, std::slice::from_ref(audit)).await
    }
    .await;
    tx.finish(WHAT, r).await
}

pub(crate) async fn onvif_link(db: &Db, camera: &Id) -> Result<Option<OnvifLink>> {
    let rows = db
        .fetch_all(
            "read an ONVIF link",
            &format!("SELECT {COLS} FROM camera_onvif WHERE camera = $1"),
            &[Arg::Text(camera.as_str())],
        )
        .await?;
    rows.first().map(link_from).transpose()
}

pub(crate) async fn onvif_links(db: &Db) -> Result<Vec<OnvifLink>> {
    let rows =
        db.fetch_all("read ONVIF links", &format!("SELECT {COLS} FROM camera_onvif ORDER BY camera"), &[]).await?;
    rows.iter().map(link_from).collect()
}

/// Removes the camera's link; whether there was one.
pub(crate) async fn delete_onvif_link(db: &Db, camera: &Id, audit: &AuditRecord) -> Result<bool> {
    const WHAT: &str = "remove an ONVIF link";
    let mut tx = db.begin(WHAT).await?;
    let r = async {
        let rows = tx
            .fetch_all("DELETE FROM camera_onvif WHERE camera = $1 RETURNING camera", &[Arg::Text(camera.as_str())])
            .await
            .map_err(|e| db_error(WHAT, e))?;
        if !rows.is_empty() {
            write_audit(&mut tx, WHAT, std::slice::from_ref(audit)).await?;
        }
        Ok(!rows.is_empty())
    }
    .await;
    tx.finish(WHAT, r).await
}
