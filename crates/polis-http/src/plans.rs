//! The camera network planner over HTTP: planning jobs with progress on the live stream, their
//! results (summary, GeoJSON, the HTML report) and accepting a plan into the registry.

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::routes::object;
use crate::wire::Fields;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use polis_base::Error;
use polis_core::plan::{PlanInput, PlanJob};
use polis_domain::Id;
use serde_json::{json, Value};

fn job_json(j: &PlanJob, full: bool) -> Value {
    let mut v = json!({
        "id": j.id.as_str(), "municipality": j.municipality.as_str(), "created_by": j.created_by,
        "status": j.status.as_str(), "stage": j.stage, "progress": (j.progress * 1000.0).round() / 1000.0,
        "error": j.error, "accepted": j.accepted,
    });
    if let (true, Some(r)) = (full, &j.result) {
        let (problem, plan) = &**r;
        v["summary"] = polis_plan::report::summary(problem, plan);
        v["geojson"] = polis_plan::report::geojson(problem, plan);
    }
    v
}

/// `POST /api/v1/plans`: `{"phases", "budget", "municipality"}` plans the municipality's own
/// key sites and cameras; `{"instance": {...}}` plans an instance in the file format of
/// `docs/ref/plan-input.md`. Answers 202 with the job; `plan` events follow.
pub async fn create(State(s): State<AppState>, Authed(a): Authed, body: Bytes) -> ApiResult<Response> {
    let m = object(&body)?;
    let mut f = Fields::new(&m);
    let municipality = f.opt_id("municipality");
    let input = match m.get("instance") {
        Some(inst) => {
            let i: polis_plan::Instance = serde_json::from_value(inst.clone())
                .map_err(|e| Error::invalid("instance", format!("not a valid instance: {e}")))?;
            PlanInput::Instance(Box::new(i))
        }
        None => {
            let phases = f.opt_int("phases").unwrap_or(3);
            let budget = f.opt_f64("budget").unwrap_or(15_000.0);
            if !(budget.is_finite() && budget > 0.0) {
                f.problem("budget", "must be a positive number");
            }
            PlanInput::Registry { phases: phases.clamp(0, 100) as usize, budget_per_phase: budget }
        }
    };
    if !f.errors.is_empty() {
        return Err(Error::invalid_fields("invalid plan request", f.errors).into());
    }
    let job = s.app.start_plan(&a, municipality, input).await?;
    Ok((StatusCode::ACCEPTED, Json(job_json(&job, false))).into_response())
}

pub async fn get(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let job = s.app.plan_job(&a, &Id::parse("id", &id)?)?;
    Ok(Json(job_json(&job, true)))
}

/// `DELETE /api/v1/plans/{id}`: cancels a running job.
pub async fn cancel(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let job = s.app.cancel_plan(&a, &Id::parse("id", &id)?)?;
    Ok(Json(job_json(&job, false)))
}

pub async fn report(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Response> {
    let job = s.app.plan_job(&a, &Id::parse("id", &id)?)?;
    let Some(r) = job.result.as_ref() else {
        return Err(Error::failed_precondition(format!("plan {id} is {}", job.status.as_str())).into());
    };
    let (problem, plan) = &**r;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], polis_plan::report::html(problem, plan)).into_response())
}

/// `POST /api/v1/plans/{id}/accept`: the plan's cameras go into the registry as planned.
pub async fn accept(State(s): State<AppState>, Authed(a): Authed, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let n = s.app.accept_plan(&a, &Id::parse("id", &id)?).await?;
    Ok(Json(json!({"cameras": n})))
}
