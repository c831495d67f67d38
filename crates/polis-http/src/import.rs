//! Bulk formats: GeoJSON FeatureCollections (all kinds) and CSV (cameras and sensors), in and
//! out. Parsing reports every bad item with its row (CSV: the file's line, the header being
//! line 1; GeoJSON: the feature's 0-based index) and field; a file with any problem yields no
//! items, so an import is all or nothing.

use crate::wire::{self, Defaults};
use polis_base::{Error, FieldError, Result};
use polis_domain::{Camera, Sensor, Site};
use serde_json::{Map, Value};

/// The body formats an import accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    GeoJson,
    Csv,
}

impl Format {
    /// From a Content-Type header: `application/geo+json` or `application/json` -> GeoJSON,
    /// `text/csv` -> CSV.
    pub fn from_content_type(ct: Option<&str>) -> Result<Format> {
        let ct = ct.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match ct.as_str() {
            "application/geo+json" | "application/json" => Ok(Format::GeoJson),
            "text/csv" => Ok(Format::Csv),
            _ => Err(Error::invalid("content-type", "send application/geo+json (a FeatureCollection) or text/csv")),
        }
    }
}

fn fail(kind: &str, problems: Vec<FieldError>) -> Error {
    let rows: std::collections::BTreeSet<_> = problems.iter().filter_map(|p| p.row).collect();
    Error::invalid_fields(
        format!("{} problem(s) in {} {kind} row(s); nothing was imported", problems.len(), rows.len().max(1)),
        problems,
    )
}

/// One GeoJSON feature as a flat property map (id and point position folded in) plus its
/// geometry.
/// A feature's properties (with `id`, `lat`, `lon` folded in) and its geometry.
type FeatureParts = (Map<String, Value>, Option<Value>);

fn features(body: &[u8]) -> Result<Vec<FeatureParts>> {
    crate::extract::refuse_nul(body)?;
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        Error::invalid("body", format!("malformed JSON at line {}, column {}: {e}", e.line(), e.column()))
    })?;
    let list = match v.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => match v {
            Value::Object(mut o) => match o.remove("features") {
                Some(Value::Array(a)) => a,
                _ => return Err(Error::invalid("features", "a FeatureCollection needs a features array")),
            },
            _ => Vec::new(),
        },
        Some("Feature") => vec![v],
        _ => return Err(Error::invalid("type", "expected a GeoJSON FeatureCollection")),
    };
    let mut out = Vec::with_capacity(list.len());
    let mut problems = Vec::new();
    for (row, f) in list.into_iter().enumerate() {
        let Value::Object(mut obj) = f else {
            problems.push(FieldError::new("feature", "must be an object").at_row(row));
            continue;
        };
        if obj.get("type").and_then(Value::as_str) != Some("Feature") {
            problems.push(FieldError::new("type", "must be \"Feature\"").at_row(row));
            continue;
        }
        let mut props = match obj.remove("properties") {
            Some(Value::Object(p)) => p,
            None | Some(Value::Null) => Map::new(),
            Some(_) => {
                problems.push(FieldError::new("properties", "must be an object").at_row(row));
                continue;
            }
        };
        if !props.contains_key("id") {
            if let Some(id) = obj.get("id").filter(|v| v.is_string() || v.is_number()) {
                props.insert("id".into(), id.clone());
            }
        }
        let geometry = obj.remove("geometry").filter(|g| !g.is_null());
        if let Some(g) = &geometry {
            if g.get("type").and_then(Value::as_str) == Some("Point") {
                match wire::geometry_from(g) {
                    Ok(polis_domain::SiteGeometry::Point(p)) => {
                        props.insert("lat".into(), Value::from(p.lat()));
                        props.insert("lon".into(), Value::from(p.lon()));
                    }
                    Ok(_) => {}
                    Err(e) => problems.push(e.at_row(row)),
                }
            }
        }
        out.push((props, geometry));
    }
    if !problems.is_empty() {
        return Err(fail("feature", problems));
    }
    Ok(out)
}

/// CSV rows as property maps, with their line numbers.
fn csv_rows(body: &[u8]) -> Result<Vec<(usize, Map<String, Value>)>> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(body);
    let headers = rdr
        .headers()
        .map_err(|e| Error::invalid("header", format!("unreadable CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect::<Vec<_>>();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(Error::invalid("header", "the CSV file has no header line"));
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for rec in rdr.records() {
        match rec {
            Ok(r) => {
                let line = r.position().map(|p| p.line() as usize).unwrap_or(0);
                let map = headers.iter().cloned().zip(r.iter().map(|v| Value::String(csv_text_value(v)))).collect();
                rows.push((line, map));
            }
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                let msg = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("has {len} fields, the header has {expected_len}")
                    }
                    _ => e.to_string(),
                };
                problems.push(FieldError::new("row", msg).at_row(line));
            }
        }
    }
    if !problems.is_empty() {
        return Err(fail("CSV", problems));
    }
    Ok(rows)
}

/// `f` applied to every element, in order, spread over the machine's cores (scoped threads on
/// contiguous chunks). Small inputs run on the calling thread.
fn par_map<I: Sync, O: Send>(items: &[I], f: impl Fn(&I) -> O + Sync) -> Vec<O> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    if threads < 2 || items.len() < 2000 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|c| scope.spawn(|| c.iter().map(&f).collect::<Vec<O>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

/// Parsed items with the row each came from (CSV line or feature index).
#[derive(Debug)]
pub struct Parsed<T> {
    pub items: Vec<T>,
    pub rows: RowMap,
}

/// The file row of each parsed item, by the item's index.
#[derive(Debug, PartialEq)]
pub struct RowMap(pub Vec<usize>);

impl RowMap {
    /// Rewrites an error about items (whose `row` is the item's index) so that each row is the
    /// item's row in the file.
    pub fn locate(&self, mut e: Error) -> Error {
        for d in &mut e.details {
            d.row = d.row.and_then(|i| self.0.get(i).copied());
        }
        e
    }
}

fn numbered(features: Vec<FeatureParts>) -> Vec<(usize, FeatureParts)> {
    features.into_iter().enumerate().collect()
}

fn collect<T>(kind: &str, results: Vec<(usize, Result<T, Vec<FieldError>>)>) -> Result<Parsed<T>> {
    let mut items = Vec::with_capacity(results.len());
    let mut rows = Vec::with_capacity(results.len());
    let mut problems = Vec::new();
    for (row, r) in results {
        match r {
            Ok(i) => {
                items.push(i);
                rows.push(row);
            }
            Err(e) => problems.extend(e),
        }
    }
    if problems.is_empty() {
        Ok(Parsed { items, rows: RowMap(rows) })
    } else {
        Err(fail(kind, problems))
    }
}

pub fn parse_cameras(body: &[u8], format: Format, d: &Defaults) -> Result<Parsed<Camera>> {
    let results = match format {
        Format::GeoJson => {
            par_map(&numbered(features(body)?), |(row, (props, _))| (*row, wire::camera_from(props, d, Some(*row))))
        }
        Format::Csv => par_map(&csv_rows(body)?, |(line, m)| (*line, wire::camera_from(m, d, Some(*line)))),
    };
    collect("camera", results)
}

pub fn parse_sensors(body: &[u8], format: Format, d: &Defaults) -> Result<Parsed<Sensor>> {
    let results = match format {
        Format::GeoJson => {
            par_map(&numbered(features(body)?), |(row, (props, _))| (*row, wire::sensor_from(props, d, Some(*row))))
        }
        Format::Csv => par_map(&csv_rows(body)?, |(line, m)| (*line, wire::sensor_from(m, d, Some(*line)))),
    };
    collect("sensor", results)
}

pub fn parse_sites(body: &[u8], format: Format, d: &Defaults) -> Result<Parsed<Site>> {
    let results = match format {
        Format::GeoJson => features(body)?
            .iter()
            .enumerate()
            .map(|(row, (props, g))| (row, wire::site_from(props, g.as_ref(), d, Some(row))))
            .collect(),
        Format::Csv => {
            csv_rows(body)?.iter().map(|(line, m)| (*line, wire::site_from(m, None, d, Some(*line)))).collect()
        }
    };
    collect("site", results)
}

/// The CSV columns of a camera, in order. The same names as the JSON API.
pub const CAMERA_COLUMNS: &[&str] = &[
    "id",
    "municipality",
    "name",
    "name_en",
    "lat",
    "lon",
    "heading_deg",
    "fov_deg",
    "range_m",
    "kind",
    "mount_height_m",
    "stream_url",
    "sub_stream_url",
    "retention_days",
    "owner",
    "status",
    "demo",
    "recording",
    "retention_bytes",
    "privacy_zones",
];

/// Cameras as CSV (no credentials), readable by the CSV import.
/// A text cell that a spreadsheet will not run as a formula: one starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading `'` (numbers are written as numbers).
pub fn csv_text_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// A cell's text as written before [`csv_text_cell`] guarded it: the `'` put before a leading
/// `=`, `+`, `-`, `@`, tab or carriage return is taken off, so an export imports back the same.
pub fn csv_text_value(cell: &str) -> String {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_string(),
        _ => cell.to_string(),
    }
}

pub fn cameras_csv(cameras: &[Camera]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::internal("writing CSV failed").with_source(e);
    w.write_record(CAMERA_COLUMNS).map_err(io)?;
    for c in cameras {
        let props = wire::camera_props(c);
        let rec: Vec<String> = CAMERA_COLUMNS
            .iter()
            .map(|k| match props.get(*k) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => csv_text_cell(s),
                Some(v) => v.to_string(),
            })
            .collect();
        w.write_record(&rec).map_err(io)?;
    }
    w.into_inner().map_err(|e| Error::internal("writing CSV failed").with_source(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_domain::Id;

    fn defaults(m: &Id) -> Defaults<'_> {
        Defaults { municipality: Some(m), id: None }
    }

    #[test]
    fn csv_reports_every_bad_row_with_its_line_and_field() {
        let m = Id::from_trusted("kazanlak");
        let csv = "id,name,lat,lon,heading_deg,fov_deg,range_m,kind\n\
                   c1,Good,42.6,25.4,90,60,100,fixed\n\
                   c2,Bad lat,95,25.4,90,60,100,fixed\n\
                   c3,Bad fov,42.6,25.4,90,0,100,fixed\n\
                   c4,Bad kind,42.6,25.4,90,60,-5,drone\n";
        let e = parse_cameras(csv.as_bytes(), Format::Csv, &defaults(&m)).unwrap_err();
        let got: Vec<_> = e.details.iter().map(|d| (d.row.unwrap(), d.field.as_str())).collect();
        assert_eq!(got, vec![(3, "lat"), (4, "fov_deg"), (5, "kind"), (5, "range_m")]);
    }

    #[test]
    fn a_guarded_formula_cell_reads_back_as_written() {
        for text in ["=SUM(A1)", "+359 888", "-5 north", "@home", "plain", "'quoted", "''=x"] {
            assert_eq!(csv_text_value(&csv_text_cell(text)), text);
        }
        assert_eq!(csv_text_cell("=1+1"), "'=1+1");
    }

    #[test]
    fn csv_round_trips_through_export() {
        let m = Id::from_trusted("kazanlak");
        let csv = "id,name,lat,lon,heading_deg,fov_deg,range_m,kind,stream_url\n\
                   c1,Gate,42.6,25.4,90,60,100,ptz,rtsp://u:p@10.0.0.1/s\n";
        let cams = parse_cameras(csv.as_bytes(), Format::Csv, &defaults(&m)).unwrap();
        let out = String::from_utf8(cameras_csv(&cams.items).unwrap()).unwrap();
        assert!(!out.contains("u:p@"), "credentials leaked: {out}");
        let back = parse_cameras(out.as_bytes(), Format::Csv, &defaults(&m)).unwrap();
        assert_eq!(back.items[0].position, cams.items[0].position);
        assert_eq!(back.items[0].kind, cams.items[0].kind);
        assert_eq!(back.rows, RowMap(vec![2]));
    }

    #[test]
    fn malformed_geojson_names_the_body() {
        let m = Id::from_trusted("kazanlak");
        let e = parse_cameras(b"{\"type\": \"FeatureCollection\", ", Format::GeoJson, &defaults(&m)).unwrap_err();
        assert_eq!(e.details[0].field, "body");
    }

    #[test]
    fn self_intersecting_polygon_is_refused() {
        let m = Id::from_trusted("kazanlak");
        let body = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name_en":"Bow","category":"park","sectors":["tourism"],"priority":2},
          "geometry":{"type":"Polygon","coordinates":[[[25.0,42.0],[25.1,42.1],[25.1,42.0],[25.0,42.1],[25.0,42.0]]]}}]}"#;
        let e = parse_sites(body.as_bytes(), Format::GeoJson, &defaults(&m)).unwrap_err();
        assert_eq!(e.details[0].field, "geometry");
        assert_eq!(e.details[0].row, Some(0));
    }
}
