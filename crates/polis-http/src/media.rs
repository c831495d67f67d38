//! Camera video endpoints: `GET /cameras/{id}/health`.

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use polis_media::Health;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

fn health_json(h: &Health) -> Value {
    json!({
        "status": h.status.as_str(),
        "fps": (h.fps * 10.0).round() / 10.0,
        "bitrate_bps": h.bitrate_bps,
        "last_frame_at": h.last_frame_at.and_then(|t| t.format(&Rfc3339).ok()),
        "reconnects": h.reconnects,
    })
}

pub(crate) async fn camera_health(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = crate::routes::parse_id("id", &id)?;
    Ok(Json(health_json(&s.app.camera_health(&a, &id).await?)))
}
