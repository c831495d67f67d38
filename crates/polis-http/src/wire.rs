//! Wire formats: registry items to and from JSON objects and GeoJSON features, converted by hand
//! so the API stays stable while the domain changes. The same field names serve the JSON API,
//! GeoJSON properties and CSV columns. Parsing collects every problem of an item, each naming
//! its field (and row, for imports).

use polis_base::{Error, FieldError};
use polis_core::registry::new_id;
use polis_domain::{
    AgencyKind, Camera, CameraKind, CameraStatus, CameraVideo, FieldOfView, Heading, Id, LatLon, OrgKind, Organisation,
    Priority, RangeM, RecordingMode, Sector, Sensor, SensorKind, Site, SiteCategory, SiteGeometry, StreamUrl,
};
use serde_json::{json, Map, Value};

/// Serde-derived wire types, one module per area (the hand-built forms below move there).
pub mod session;

/// Reads typed fields out of a JSON object, collecting problems instead of stopping at the first.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    pub errors: Vec<FieldError>,
    /// Each field must have its JSON type (an API body): no numbers or booleans as text, no
    /// numbers as strings. Otherwise (a CSV row, an import's properties) text stands for any type.
    strict: bool,
}

impl<'a> Fields<'a> {
    /// A lenient reader: text stands for numbers, booleans and lists (CSV rows, imports).
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Fields { map, errors: Vec::new(), strict: false }
    }

    /// A reader of an API body, as its OpenAPI schema says: every field of its JSON type, and
    /// `null` only for the fields in `nullable` (for the others it is refused, naming the field).
    pub fn strict(map: &'a Map<String, Value>, nullable: &[&str]) -> Self {
        let mut f = Fields { map, errors: Vec::new(), strict: true };
        for (k, v) in map {
            if v.is_null() && !nullable.contains(&k.as_str()) {
                f.problem(k, "must not be null");
            }
        }
        f
    }

    /// The JSON body reader for `row` `None`, else the lenient import reader.
    fn for_row(map: &'a Map<String, Value>, row: Option<usize>, nullable: &[&str]) -> Self {
        match row {
            None => Fields::strict(map, nullable),
            Some(_) => Fields::new(map),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
    }

    pub fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Absorbs a validation error from a domain constructor.
    pub fn absorb<T>(&mut self, r: polis_base::Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                if e.details.is_empty() {
                    self.errors.push(FieldError::new("?", e.message));
                } else {
                    self.errors.extend(e.details);
                }
                None
            }
        }
    }

    /// A number (a JSON number, or a string holding one, as in CSV).
    pub fn opt_f64(&mut self, name: &str) -> Option<f64> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(_)) if self.strict => {
                self.problem(name, "must be a number");
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => match s.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Some(v),
                _ => {
                    self.problem(name, format!("{s:?} is not a number"));
                    None
                }
            },
            Some(_) => {
                self.problem(name, "must be a number");
                None
            }
        }
    }

    pub fn f64(&mut self, name: &str) -> Option<f64> {
        let v = self.opt_f64(name);
        if v.is_none() && !self.has(name) {
            self.problem(name, "is required");
        }
        v
    }

    pub fn opt_int(&mut self, name: &str) -> Option<i64> {
        let v = self.opt_f64(name)?;
        if v.fract() != 0.0 {
            self.problem(name, "must be a whole number");
            return None;
        }
        Some(v as i64)
    }

    pub fn opt_str(&mut self, name: &str) -> Option<String> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(Value::Number(n)) if !self.strict => Some(n.to_string()),
            Some(_) => {
                self.problem(name, "must be a string");
                None
            }
        }
    }

    pub fn str(&mut self, name: &str) -> Option<String> {
        let v = self.opt_str(name);
        if v.is_none() && !self.has(name) {
            self.problem(name, "is required");
        }
        v
    }

    pub fn opt_bool(&mut self, name: &str) -> Option<bool> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if !self.strict => match s.trim().to_ascii_lowercase().as_str() {
                "" => None,
                "true" | "yes" | "1" => Some(true),
                "false" | "no" | "0" => Some(false),
                _ => {
                    self.problem(name, "must be true or false");
                    None
                }
            },
            Some(_) => {
                self.problem(name, "must be true or false");
                None
            }
        }
    }

    pub fn opt_id(&mut self, name: &str) -> Option<Id> {
        if self.strict && self.map.get(name).and_then(Value::as_str).is_some_and(|s| s.trim().is_empty()) {
            self.problem(name, "must be 1 to 64 characters");
            return None;
        }
        let s = self.opt_str(name)?;
        self.absorb(Id::parse(name, &s))
    }

    /// A list of strings: a JSON array, or a string separated by `,`, `;` or `|` (CSV).
    pub fn list(&mut self, name: &str) -> Option<Vec<String>> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => {
                let mut out = Vec::new();
                for v in a {
                    match v.as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => {
                            self.problem(name, "must be a list of strings");
                            return None;
                        }
                    }
                }
                Some(out)
            }
            Some(Value::String(s)) if !self.strict => {
                Some(s.split([',', ';', '|']).map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
            }
            Some(_) => {
                self.problem(name, "must be a list of strings");
                None
            }
        }
    }

    /// Fails with every collected problem, stamped with `row`.
    pub fn finish<T>(self, value: Option<T>, row: Option<usize>) -> Result<T, Vec<FieldError>> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => {
                let mut errs = self.errors;
                if errs.is_empty() {
                    errs.push(FieldError::new("?", "invalid item"));
                }
                if let Some(r) = row {
                    errs = errs.into_iter().map(|e| e.at_row(r)).collect();
                }
                Err(errs)
            }
        }
    }
}

/// Everything that a parsed item may default from its context.
pub struct Defaults<'a> {
    /// The municipality used when the item names none.
    pub municipality: Option<&'a Id>,
    /// The id to use (from the URL path) instead of the body's.
    pub id: Option<&'a Id>,
}

fn id_or_new(f: &mut Fields, d: &Defaults, prefix: &str) -> Option<Id> {
    if let Some(id) = d.id {
        return Some(id.clone());
    }
    if f.has("id") {
        let id = f.opt_id("id")?;
        // These name query endpoints beside /{id}: an item with such an id could not be reached.
        if ["seeing", "near", "within"].contains(&id.as_str()) {
            f.problem("id", format!("{id:?} is reserved"));
            return None;
        }
        Some(id)
    } else {
        Some(new_id(prefix))
    }
}

fn municipality(f: &mut Fields, d: &Defaults) -> Option<Id> {
    match f.opt_id("municipality") {
        Some(m) => Some(m),
        None if f.has("municipality") => None,
        None => match d.municipality {
            Some(m) => Some(m.clone()),
            None => {
                f.problem("municipality", "is required: this server has several municipalities");
                None
            }
        },
    }
}

fn position(f: &mut Fields) -> Option<LatLon> {
    let lat = f.f64("lat");
    let lon = f.f64("lon");
    f.absorb(LatLon::new(lat?, lon?))
}

fn stream(f: &mut Fields, name: &str) -> Option<StreamUrl> {
    let s = f.opt_str(name)?;
    f.absorb(StreamUrl::parse(name, &s))
}

/// The camera fields that may be `null` in an API body (none, or cleared).
const CAMERA_NULLABLE: &[&str] = &["stream_url", "sub_stream_url", "owner", "retention_bytes"];

/// A camera from a JSON object (API body, GeoJSON properties with `lat`/`lon` filled from the
/// geometry, or a CSV row).
pub fn camera_from(map: &Map<String, Value>, d: &Defaults, row: Option<usize>) -> Result<Camera, Vec<FieldError>> {
    let mut f = Fields::for_row(map, row, CAMERA_NULLABLE);
    let id = id_or_new(&mut f, d, "cam");
    let municipality = municipality(&mut f, d);
    let name = f.str("name");
    let name_en = f.opt_str("name_en").unwrap_or_default();
    let position = position(&mut f);
    let kind = match f.opt_str("kind") {
        Some(k) => f.absorb(CameraKind::parse("kind", &k)),
        None => Some(CameraKind::Fixed),
    };
    let is_ptz = kind == Some(CameraKind::Ptz);
    let heading = match f.opt_f64("heading_deg") {
        Some(h) => f.absorb(Heading::new(h)),
        None if is_ptz => Heading::new(0.0).ok(),
        None => {
            if !f.has("heading_deg") {
                f.problem("heading_deg", "is required for a camera that cannot turn");
            }
            None
        }
    };
    let fov = match f.opt_f64("fov_deg") {
        Some(v) => f.absorb(FieldOfView::new(v)),
        None if is_ptz => FieldOfView::new(360.0).ok(),
        None => {
            if !f.has("fov_deg") {
                f.problem("fov_deg", "is required");
            }
            None
        }
    };
    let range = f.f64("range_m").and_then(|v| {
        let r = RangeM::new("range_m", v);
        f.absorb(r)
    });
    let mount_height_m = f.opt_f64("mount_height_m").unwrap_or(6.0);
    let stream = stream(&mut f, "stream_url");
    let sub_stream = stream_sub(&mut f);
    let retention_days = match f.opt_int("retention_days") {
        Some(d) if (0..=3650).contains(&d) => Some(d as u32),
        Some(_) => {
            f.problem("retention_days", "must be from 0 to 3650 days");
            None
        }
        None => Some(polis_domain::registry::DEFAULT_RETENTION_DAYS),
    };
    let owner = f.opt_id("owner");
    let status = match f.opt_str("status") {
        Some(s) => f.absorb(CameraStatus::parse("status", &s)),
        None => Some(CameraStatus::Active),
    };
    let demo = f.opt_bool("demo").unwrap_or(false);
    let video = camera_video(&mut f);
    let cam = (|| {
        Some(Camera {
            id: id?,
            municipality: municipality?,
            name: name?,
            name_en,
            position: position?,
            mount_height_m,
            heading: heading?,
            fov: fov?,
            range: range?,
            kind: kind?,
            stream,
            sub_stream,
            retention_days: retention_days?,
            owner,
            status: status?,
            demo,
            video: video?,
        })
    })();
    if let Some(c) = &cam {
        f.errors.extend(c.check());
    }
    f.finish(cam, row)
}

/// `recording` ("off" or "continuous"), `retention_bytes` and `privacy_zones` (polygons of
/// `[x, y]` fractions of the picture).
fn camera_video(f: &mut Fields) -> Option<CameraVideo> {
    let recording = match f.opt_str("recording") {
        Some(r) => f.absorb(RecordingMode::parse("recording", &r)),
        None => Some(RecordingMode::Off),
    };
    let retention_bytes = match f.opt_int("retention_bytes") {
        Some(b) if b > 0 => Some(b as u64),
        Some(_) => {
            f.problem("retention_bytes", "must be a positive number of bytes");
            None
        }
        None => None,
    };
    let mut privacy_zones = Vec::new();
    // In CSV the zones are JSON text in their cell.
    let from_text = match f.map.get("privacy_zones") {
        Some(Value::String(s)) if !s.trim().is_empty() => match serde_json::from_str::<Value>(s) {
            Ok(v) => Some(v),
            Err(_) => {
                f.problem("privacy_zones", "must be a list of polygons (JSON)");
                Some(Value::Null)
            }
        },
        Some(Value::String(_)) => Some(Value::Null),
        _ => None,
    };
    match from_text.as_ref().or_else(|| f.map.get("privacy_zones")) {
        None | Some(Value::Null) => {}
        Some(Value::Array(zones)) => {
            for (i, z) in zones.iter().enumerate() {
                let pts: Option<Vec<(f64, f64)>> = z.as_array().and_then(|pts| {
                    pts.iter()
                        .map(|p| match p.as_array().map(Vec::as_slice) {
                            Some([x, y]) => Some((x.as_f64()?, y.as_f64()?)),
                            _ => None,
                        })
                        .collect()
                });
                match pts {
                    Some(p) => privacy_zones.push(p),
                    None => f.problem(&format!("privacy_zones[{i}]"), "must be a list of [x, y] number pairs"),
                }
            }
        }
        Some(_) => f.problem("privacy_zones", "must be a list of polygons"),
    }
    Some(CameraVideo { recording: recording?, retention_bytes, privacy_zones })
}

fn stream_sub(f: &mut Fields) -> Option<StreamUrl> {
    stream(f, "sub_stream_url")
}

/// A camera as a JSON object: every registry field, never credentials.
pub fn camera_props(c: &Camera) -> Map<String, Value> {
    let v = json!({
        "id": c.id.as_str(),
        "municipality": c.municipality.as_str(),
        "name": c.name,
        "name_en": c.name_en,
        "lat": c.position.lat(),
        "lon": c.position.lon(),
        "heading_deg": c.heading.deg(),
        "fov_deg": c.fov.deg(),
        "range_m": c.range.m(),
        "kind": c.kind.as_str(),
        "mount_height_m": c.mount_height_m,
        "stream_url": c.stream.as_ref().map(|s| s.url.clone()),
        "sub_stream_url": c.sub_stream.as_ref().map(|s| s.url.clone()),
        "has_credentials": c.stream.as_ref().is_some_and(|s| s.has_credentials())
            || c.sub_stream.as_ref().is_some_and(|s| s.has_credentials()),
        "retention_days": c.retention_days,
        "owner": c.owner.as_ref().map(|o| o.as_str()),
        "status": c.status.as_str(),
        "demo": c.demo,
        "recording": c.video.recording.as_str(),
        "retention_bytes": c.video.retention_bytes,
        "privacy_zones": c.video.privacy_zones.iter().map(|z| z.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>()).collect::<Vec<_>>(),
    });
    into_map(v)
}

fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn point_geometry(p: LatLon) -> Value {
    json!({"type": "Point", "coordinates": [p.lon(), p.lat()]})
}

pub fn site_geometry(g: &SiteGeometry) -> Value {
    match g {
        SiteGeometry::Point(p) => point_geometry(*p),
        SiteGeometry::Polygon(ring) => {
            let mut coords: Vec<Value> = ring.iter().map(|p| json!([p.lon(), p.lat()])).collect();
            if let Some(first) = ring.first() {
                coords.push(json!([first.lon(), first.lat()]));
            }
            json!({"type": "Polygon", "coordinates": [coords]})
        }
    }
}

/// A GeoJSON feature.
pub fn feature(id: &Id, geometry: Value, properties: Map<String, Value>) -> Value {
    json!({"type": "Feature", "id": id.as_str(), "geometry": geometry, "properties": properties})
}

pub fn feature_collection(features: Vec<Value>) -> Value {
    json!({"type": "FeatureCollection", "features": features})
}

pub fn camera_feature(c: &Camera, distance_m: Option<f64>) -> Value {
    let mut props = camera_props(c);
    if let Some(d) = distance_m {
        props.insert("distance_m".into(), json!((d * 10.0).round() / 10.0));
    }
    feature(&c.id, point_geometry(c.position), props)
}

pub fn site_props(s: &Site) -> Map<String, Value> {
    into_map(json!({
        "id": s.id.as_str(),
        "municipality": s.municipality.as_str(),
        "name_bg": s.name_bg,
        "name_en": s.name_en,
        "category": s.category.as_str(),
        "sectors": s.sectors.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
        "priority": s.priority.get(),
        "demo": s.demo,
    }))
}

pub fn site_feature(s: &Site, distance_m: Option<f64>) -> Value {
    let mut props = site_props(s);
    if let Some(d) = distance_m {
        props.insert("distance_m".into(), json!((d * 10.0).round() / 10.0));
    }
    feature(&s.id, site_geometry(&s.geometry), props)
}

/// Parses a GeoJSON geometry (Point or Polygon; a polygon's holes are ignored).
pub fn geometry_from(v: &Value) -> Result<SiteGeometry, FieldError> {
    let bad = |m: &str| FieldError::new("geometry", m);
    let ty = v.get("type").and_then(Value::as_str).ok_or_else(|| bad("a geometry needs a type"))?;
    let coords = v.get("coordinates").ok_or_else(|| bad("a geometry needs coordinates"))?;
    let pos = |c: &Value| -> Result<LatLon, FieldError> {
        let a = c.as_array().filter(|a| a.len() >= 2).ok_or_else(|| bad("a position is [lon, lat]"))?;
        let lon = a[0].as_f64().ok_or_else(|| bad("longitude must be a number"))?;
        let lat = a[1].as_f64().ok_or_else(|| bad("latitude must be a number"))?;
        LatLon::new(lat, lon).map_err(|e| {
            e.details
                .into_iter()
                .next()
                .map(|d| FieldError::new("geometry", d.message))
                .unwrap_or_else(|| bad("bad position"))
        })
    };
    match ty {
        "Point" => Ok(SiteGeometry::Point(pos(coords)?)),
        "Polygon" => {
            let outer = coords
                .as_array()
                .and_then(|rings| rings.first())
                .and_then(Value::as_array)
                .ok_or_else(|| bad("a polygon is [[[lon, lat], ...]]"))?;
            // The corner limit comes before any work on the corners.
            let max = polis_domain::polygon::MAX_CORNERS;
            if outer.len() > max + 1 {
                return Err(bad(&format!("a polygon may have at most {max} corners")));
            }
            let ring = outer.iter().map(pos).collect::<Result<Vec<_>, _>>()?;
            let g = SiteGeometry::polygon(ring).map_err(|_| bad("a polygon needs at least three corners"))?;
            if let SiteGeometry::Polygon(r) = &g {
                polis_domain::polygon::check_ring("geometry", r, max)
                    .map_err(|e| e.details.into_iter().next().unwrap_or_else(|| bad("the polygon crosses itself")))?;
            }
            Ok(g)
        }
        other => Err(bad(&format!("unsupported geometry type {other}; use Point or Polygon"))),
    }
}

/// A key site from a JSON object; `geometry` is a GeoJSON geometry, or `lat`/`lon` give a point.
pub fn site_from(
    map: &Map<String, Value>,
    geometry: Option<&Value>,
    d: &Defaults,
    row: Option<usize>,
) -> Result<Site, Vec<FieldError>> {
    let mut f = Fields::for_row(map, row, &["geometry"]);
    let id = id_or_new(&mut f, d, "site");
    let municipality = municipality(&mut f, d);
    let name_bg = f.opt_str("name_bg").unwrap_or_default();
    let name_en = f.opt_str("name_en").or_else(|| f.opt_str("name")).unwrap_or_default();
    let category = match f.opt_str("category") {
        Some(c) => f.absorb(SiteCategory::parse("category", &c)),
        None => {
            f.problem("category", "is required");
            None
        }
    };
    let sectors = match f.list("sectors") {
        Some(list) => {
            let mut out = Vec::new();
            for s in list {
                if let Some(x) = f.absorb(Sector::parse("sectors", &s)) {
                    if !out.contains(&x) {
                        out.push(x);
                    }
                }
            }
            Some(out)
        }
        None => {
            f.problem("sectors", "is required (safety, transport, disaster, tourism)");
            None
        }
    };
    let priority = match f.opt_int("priority") {
        Some(p) => f.absorb(Priority::new(p)),
        None => Priority::new(3).ok(),
    };
    // In CSV a polygon is its GeoJSON geometry as text.
    let geometry_text = match map.get("geometry") {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            Some(serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.clone())))
        }
        Some(Value::String(_)) => Some(Value::Null),
        _ => None,
    };
    let geometry = match geometry.or(geometry_text.as_ref()).or_else(|| map.get("geometry")).filter(|g| !g.is_null()) {
        Some(g) => match geometry_from(g) {
            Ok(g) => Some(g),
            Err(e) => {
                f.errors.push(e);
                None
            }
        },
        None => position(&mut f).map(SiteGeometry::Point),
    };
    let demo = f.opt_bool("demo").unwrap_or(false);
    let site = (|| {
        Some(Site {
            id: id?,
            municipality: municipality?,
            name_bg,
            name_en,
            category: category?,
            sectors: sectors?,
            priority: priority?,
            geometry: geometry?,
            demo,
        })
    })();
    f.finish(site, row)
}

pub fn sensor_from(map: &Map<String, Value>, d: &Defaults, row: Option<usize>) -> Result<Sensor, Vec<FieldError>> {
    let mut f = Fields::for_row(map, row, &["owner"]);
    let id = id_or_new(&mut f, d, "sensor");
    let municipality = municipality(&mut f, d);
    let name = f.str("name");
    let name_en = f.opt_str("name_en").unwrap_or_default();
    let kind = match f.opt_str("kind") {
        Some(k) => f.absorb(SensorKind::parse("kind", &k)),
        None => {
            f.problem("kind", "is required");
            None
        }
    };
    let unit = f.opt_str("unit").unwrap_or_default();
    let position = position(&mut f);
    let owner = f.opt_id("owner");
    let demo = f.opt_bool("demo").unwrap_or(false);
    let sensor = (|| {
        Some(Sensor {
            id: id?,
            municipality: municipality?,
            name: name?,
            name_en,
            kind: kind?,
            unit,
            position: position?,
            owner,
            demo,
        })
    })();
    f.finish(sensor, row)
}

pub fn sensor_props(s: &Sensor) -> Map<String, Value> {
    into_map(json!({
        "id": s.id.as_str(),
        "municipality": s.municipality.as_str(),
        "name": s.name,
        "name_en": s.name_en,
        "kind": s.kind.as_str(),
        "unit": s.unit,
        "lat": s.position.lat(),
        "lon": s.position.lon(),
        "owner": s.owner.as_ref().map(|o| o.as_str()),
        "demo": s.demo,
    }))
}

pub fn sensor_feature(s: &Sensor, distance_m: Option<f64>) -> Value {
    let mut props = sensor_props(s);
    if let Some(d) = distance_m {
        props.insert("distance_m".into(), json!((d * 10.0).round() / 10.0));
    }
    feature(&s.id, point_geometry(s.position), props)
}

pub fn organisation_json(o: &Organisation) -> Value {
    json!({
        "id": o.id.as_str(),
        "kind": o.kind.as_str(),
        "name_bg": o.name_bg,
        "name_en": o.name_en,
        "municipality": o.municipality.as_str(),
        "agency_kind": o.agency_kind.map(|k| k.as_str()),
        "demo": o.demo,
    })
}

pub fn organisation_from(map: &Map<String, Value>) -> Result<Organisation, Error> {
    let mut f = Fields::strict(map, &["agency_kind"]);
    let id = f.opt_id("id");
    if !f.has("id") {
        f.problem("id", "is required");
    }
    let kind = match f.opt_str("kind") {
        Some(k) => f.absorb(OrgKind::parse("kind", &k)),
        None => {
            f.problem("kind", "is required (municipality or agency)");
            None
        }
    };
    let name_bg = f.opt_str("name_bg").unwrap_or_default();
    let name_en = f.opt_str("name_en").unwrap_or_default();
    if name_bg.is_empty() && name_en.is_empty() {
        f.problem("name_en", "an organisation needs a name in Bulgarian or English");
    }
    let agency_kind = match f.opt_str("agency_kind") {
        Some(k) => f.absorb(AgencyKind::parse("agency_kind", &k)),
        None => None,
    };
    let municipality = f.opt_id("municipality");
    let org = (|| {
        let id = id?;
        let kind = kind?;
        let municipality = match kind {
            OrgKind::Municipality => municipality.unwrap_or_else(|| id.clone()),
            OrgKind::Agency => municipality?,
        };
        Some(Organisation { id, kind, name_bg, name_en, municipality, agency_kind, demo: false })
    })();
    if org.as_ref().is_some_and(|o| o.kind == OrgKind::Agency) && !f.has("municipality") {
        f.problem("municipality", "an agency needs its municipality");
    }
    if org.as_ref().is_some_and(|o| o.kind == OrgKind::Municipality && o.agency_kind.is_some()) {
        f.problem("agency_kind", "only an agency has an agency kind");
    }
    f.finish(org, None).map_err(|errs| Error::invalid_fields("invalid organisation", errs))
}
