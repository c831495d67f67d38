//! `GET /export/{kind}.{csv|geojson}`: the registry of the caller's municipalities as files that
//! `POST /import/{kind}` takes back, with every field but secrets (stream credentials), so that
//! an export imported into an empty municipality gives back the same registry.
//! (`/export/cameras.csv` is served by the routes module with `import::cameras_csv`.)

use crate::auth::Authed;
use crate::error::ApiResult;
use crate::wire;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use polis_base::{Error, Result};
use polis_domain::{Camera, Sensor, Site, SiteGeometry};
use serde_json::{Map, Value};

/// The CSV columns of a key site. A point site has `lat` and `lon`; a polygon its GeoJSON
/// geometry as text in `geometry`.
pub const SITE_COLUMNS: &[&str] =
    &["id", "municipality", "name_bg", "name_en", "category", "sectors", "priority", "lat", "lon", "geometry", "demo"];

/// The CSV columns of a sensor.
pub const SENSOR_COLUMNS: &[&str] =
    &["id", "municipality", "name", "name_en", "kind", "unit", "lat", "lon", "owner", "demo"];

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => crate::import::csv_text_cell(s),
        Some(v) => v.to_string(),
    }
}

fn csv_of(columns: &[&str], rows: impl Iterator<Item = Map<String, Value>>) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::internal("writing CSV failed").with_source(e);
    w.write_record(columns).map_err(io)?;
    for props in rows {
        w.write_record(columns.iter().map(|k| cell(props.get(*k)))).map_err(io)?;
    }
    w.into_inner().map_err(|e| Error::internal("writing CSV failed").with_source(e.into_error()))
}

pub fn sites_csv(sites: &[Site]) -> Result<Vec<u8>> {
    csv_of(
        SITE_COLUMNS,
        sites.iter().map(|s| {
            let mut p = wire::site_props(s);
            let sectors: Vec<&str> = s.sectors.iter().map(|x| x.as_str()).collect();
            p.insert("sectors".into(), sectors.join(";").into());
            match &s.geometry {
                SiteGeometry::Point(pt) => {
                    p.insert("lat".into(), pt.lat().into());
                    p.insert("lon".into(), pt.lon().into());
                }
                g @ SiteGeometry::Polygon(_) => {
                    p.insert("geometry".into(), wire::site_geometry(g).to_string().into());
                }
            }
            p
        }),
    )
}

pub fn sensors_csv(sensors: &[Sensor]) -> Result<Vec<u8>> {
    csv_of(SENSOR_COLUMNS, sensors.iter().map(wire::sensor_props))
}

fn file(body: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    ([(header::CONTENT_TYPE, content_type.to_string()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}

fn geojson(features: Vec<Value>) -> Result<Vec<u8>> {
    serde_json::to_vec(&wire::feature_collection(features))
        .map_err(|e| Error::internal("writing GeoJSON failed").with_source(e))
}

/// `GET /export/{file}`: `cameras.geojson`, `sites.csv`, `sites.geojson`, `sensors.csv`,
/// `sensors.geojson`.
pub(crate) async fn export(
    State(s): State<AppState>,
    Authed(a): Authed,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    const CSV: &str = "text/csv; charset=utf-8";
    const GEO: &str = "application/geo+json";
    let r = match name.as_str() {
        "cameras.geojson" => {
            let items: Vec<Camera> = s.app.list(&a).await?;
            file(geojson(items.iter().map(|c| wire::camera_feature(c, None)).collect())?, GEO, &name)
        }
        "sites.csv" => file(sites_csv(&s.app.list::<Site>(&a).await?)?, CSV, &name),
        "sites.geojson" => {
            let items: Vec<Site> = s.app.list(&a).await?;
            file(geojson(items.iter().map(|x| wire::site_feature(x, None)).collect())?, GEO, &name)
        }
        "sensors.csv" => file(sensors_csv(&s.app.list::<Sensor>(&a).await?)?, CSV, &name),
        "sensors.geojson" => {
            let items: Vec<Sensor> = s.app.list(&a).await?;
            file(geojson(items.iter().map(|x| wire::sensor_feature(x, None)).collect())?, GEO, &name)
        }
        _ => {
            return Err(Error::not_found(format!(
                "no export {name:?}; use cameras.csv, cameras.geojson, sites.csv, sites.geojson, sensors.csv or sensors.geojson"
            ))
            .into())
        }
    };
    Ok(r)
}
