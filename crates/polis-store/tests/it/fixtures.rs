//! Test values that use every field, with awkward contents: Cyrillic, floats that do not print
//! short, credentials with URL-reserved characters.

use polis_domain::registry::Secret;
use polis_domain::{
    AgencyKind, AuditRecord, Camera, CameraKind, CameraStatus, FieldOfView, Heading, Id, LatLon, OrgKind, Organisation,
    Priority, RangeM, Role, Sector, Sensor, SensorKind, Site, SiteCategory, SiteGeometry, StreamUrl, User,
};
use time::OffsetDateTime;

pub fn id(s: &str) -> Id {
    Id::parse("id", s).expect("valid test id")
}

pub fn ll(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon).expect("valid test position")
}

/// A time with millisecond precision (what the store keeps).
pub fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("valid test time")
}

pub const T0: i64 = 1_732_500_000_123;

pub fn municipality(code: &str) -> Organisation {
    Organisation {
        id: id(code),
        kind: OrgKind::Municipality,
        name_bg: "Община Казанлък".into(),
        name_en: "Kazanlak Municipality".into(),
        municipality: id(code),
        agency_kind: None,
        demo: false,
    }
}

pub fn agency(code: &str, m: &str) -> Organisation {
    Organisation {
        id: id(code),
        kind: OrgKind::Agency,
        name_bg: "РУ на МВР".into(),
        name_en: "Police".into(),
        municipality: id(m),
        agency_kind: Some(AgencyKind::Police),
        demo: true,
    }
}

/// A camera with every optional field set.
pub fn camera(code: &str) -> Camera {
    Camera {
        id: id(code),
        municipality: id("kazanlak"),
        name: format!("Камера {code} — пл. Севтополис"),
        name_en: format!("Camera {code}, Sevtopolis Square"),
        // One ulp above 25.393: its shortest decimal form has 17 significant digits.
        position: ll(42.619_123_456_789_01, f64::from_bits(25.393f64.to_bits() + 1)),
        mount_height_m: 6.35,
        heading: Heading::new(359.999_999_9).expect("heading"),
        fov: FieldOfView::new(62.5).expect("fov"),
        range: RangeM::new("range_m", 87.123_456_789).expect("range"),
        kind: CameraKind::Anpr,
        stream: Some(StreamUrl {
            url: "rtsp://10.0.0.5:554/Streaming/Channels/101".into(),
            username: Some("admin".into()),
            password: Some(Secret::new("p@ss:w/rd%20секрет")),
            secret_query: None,
        }),
        sub_stream: Some(StreamUrl {
            url: "rtsp://10.0.0.5:554/Streaming/Channels/102".into(),
            username: Some("viewer".into()),
            password: Some(Secret::new("another-secret")),
            secret_query: Some(Secret::new("token=q-secret")),
        }),
        retention_days: 3650,
        owner: Some(id("police-kz")),
        status: CameraStatus::Offline,
        demo: true,
        video: polis_domain::CameraVideo {
            recording: polis_domain::RecordingMode::Continuous,
            retention_bytes: Some(5_000_000_000_000),
            privacy_zones: vec![
                vec![(0.0, 0.0), (0.125, 0.0), (0.1, 0.333_333_333_333_333_3)],
                vec![(0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)],
            ],
        },
    }
}

/// A camera with every optional field empty.
pub fn bare_camera(code: &str) -> Camera {
    Camera {
        id: id(code),
        municipality: id("stara-zagora"),
        name: "c".into(),
        name_en: String::new(),
        position: ll(-0.000_000_1, -179.999_999_999),
        mount_height_m: 0.0,
        heading: Heading::new(0.0).expect("heading"),
        fov: FieldOfView::new(360.0).expect("fov"),
        range: RangeM::new("range_m", 0.0).expect("range"),
        kind: CameraKind::Ptz,
        stream: None,
        sub_stream: None,
        retention_days: 0,
        owner: None,
        status: CameraStatus::Planned,
        demo: false,
        video: Default::default(),
    }
}

pub fn point_site(code: &str) -> Site {
    Site {
        id: id(code),
        municipality: id("kazanlak"),
        name_bg: "ОУ „Христо Ботев“".into(),
        name_en: "Hristo Botev School".into(),
        category: SiteCategory::School,
        sectors: vec![Sector::Safety, Sector::Transport],
        priority: Priority::new(1).expect("priority"),
        geometry: SiteGeometry::Point(ll(42.621_987_654_321, 25.400_000_000_000_1)),
        demo: false,
    }
}

pub fn polygon_site(code: &str) -> Site {
    Site {
        id: id(code),
        municipality: id("kazanlak"),
        name_bg: "Язовир Копринка".into(),
        name_en: "Koprinka Dam".into(),
        category: SiteCategory::Dam,
        sectors: vec![],
        priority: Priority::new(5).expect("priority"),
        geometry: SiteGeometry::polygon(vec![
            ll(42.600_000_000_000_01, 25.300_000_000_000_01),
            ll(42.610_123_456_789, 25.300_000_000_000_01),
            ll(42.610_123_456_789, 25.321_987_654_321),
            ll(42.600_000_000_000_01, 25.330_000_000_000_002),
        ])
        .expect("polygon"),
        demo: true,
    }
}

pub fn sensor(code: &str) -> Sensor {
    Sensor {
        id: id(code),
        municipality: id("kazanlak"),
        name: "Ниво на р. Тунджа".into(),
        name_en: "Tundzha river level".into(),
        kind: SensorKind::WaterLevel,
        unit: "cm".into(),
        position: ll(42.605_555_555_555_55, 25.412_345_678_9),
        owner: Some(id("civil-protection")),
        demo: false,
    }
}

pub fn bare_sensor(code: &str) -> Sensor {
    Sensor { owner: None, demo: true, kind: SensorKind::Other, unit: String::new(), ..sensor(code) }
}

pub fn user(code: &str, username: &str) -> User {
    User {
        id: id(code),
        username: username.into(),
        role: Role::Operator,
        municipality: Some(id("kazanlak")),
        agency: Some(id("police-kz")),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        created_at: at_ms(T0),
        disabled: false,
        last_login_at: None,
    }
}

pub fn admin(code: &str, username: &str) -> User {
    User { role: Role::Admin, municipality: None, agency: None, created_at: at_ms(T0 + 1), ..user(code, username) }
}

pub fn audit(action: &str, entity: &str, entity_id: &str, municipality: Option<&str>, n: i64) -> AuditRecord {
    AuditRecord {
        at: at_ms(T0 + n),
        actor: "ivana (supervisor)".into(),
        action: action.into(),
        entity: entity.into(),
        entity_id: entity_id.into(),
        municipality: municipality.map(id),
        before: (action != "create").then(|| format!(r#"{{"name":"преди {n}"}}"#)),
        after: (action != "delete").then(|| format!(r#"{{"name":"след {n}"}}"#)),
    }
}

/// `n` distinct cameras `prefix-000000`, ... (bare, so they are small).
pub fn many_cameras(prefix: &str, n: usize) -> Vec<Camera> {
    (0..n).map(|i| bare_camera(&format!("{prefix}-{i:06}"))).collect()
}
