//! The demo city of Kazanlak (Bulgaria): organisations, key sites, cameras and sensors, all
//! marked as demo data (`demo: true`). Coordinates are approximate, names of streets and
//! institutions are given as a town would know them, and nothing here describes a real camera
//! network: it is a plausible network for demonstrations, tests and the planner.
//!
//! The data is written as tables below and built through the validating constructors of
//! `polis-domain`; a value they reject is a bug in the tables, so [`valid`] panics on it and the
//! unit tests build the whole city.
//!
//! Most cameras are placed relative to a key site: a distance (20-80 m) and a direction from the
//! site's anchor point; the camera's heading is then the bearing back to the anchor, so it points
//! at what it is meant to watch. A few perimeter cameras (the Arsenal fence) are placed at a
//! point and look along a line instead.

use polis_domain::geometry::{bearing_deg, destination};
use polis_domain::CameraKind::{self, Anpr, Fixed, Ptz, Thermal};
use polis_domain::CameraStatus::{self, Active, Offline, Planned};
use polis_domain::{
    incident::{IncidentType, UnitKind},
    AgencyKind, Camera, CameraVideo, FieldOfView, Heading, Id, LatLon, OrgKind, Organisation, Priority, RangeM,
    RecordingMode, Sector, Sensor, SensorKind, Site, SiteCategory, SiteGeometry, StreamUrl,
};
use std::collections::BTreeMap;

/// Everything the demo city seeds.
pub struct DemoCity {
    pub organisations: Vec<Organisation>,
    pub sites: Vec<Site>,
    pub cameras: Vec<Camera>,
    pub sensors: Vec<Sensor>,
}

/// The municipality id of the demo city.
pub const MUNICIPALITY: &str = "kazanlak";

/// The approximate centre of Kazanlak (Sevtopolis square), latitude and longitude in degrees.
pub const CENTRE_LAT_LON: (f64, f64) = (42.619, 25.393);

/// Builds the demo city.
pub fn kazanlak() -> DemoCity {
    let organisations = organisations();
    let sites = sites();
    let cameras = placed_cameras(&sites).into_iter().map(|(camera, _)| camera).collect();
    let sensors = sensors();
    DemoCity { organisations, sites, cameras, sensors }
}

/// Unwraps a value built from the demo tables. The tables are ours: a rejected value is a bug.
fn valid<T>(r: polis_base::Result<T>) -> T {
    r.expect("demo data is valid")
}

fn id(s: &str) -> Id {
    valid(Id::parse("id", s))
}

fn latlon((lat, lon): (f64, f64)) -> LatLon {
    valid(LatLon::new(lat, lon))
}

fn org_id(suffix: &str) -> Id {
    if suffix.is_empty() {
        id(MUNICIPALITY)
    } else {
        id(&format!("{MUNICIPALITY}-{suffix}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Organisations
// ---------------------------------------------------------------------------------------------

/// Agencies working with the municipality: id suffix, kind, Bulgarian and English names.
#[rustfmt::skip]
const AGENCIES: &[(&str, AgencyKind, &str, &str)] = &[
    ("police", AgencyKind::Police,
        "Районно управление на МВР – Казанлък", "Kazanlak District Police Department (Ministry of Interior)"),
    ("fire-safety", AgencyKind::FireSafety,
        "РС ПБЗН – Казанлък", "Kazanlak Fire Safety and Civil Protection Service"),
    ("ambulance", AgencyKind::Ambulance,
        "ФСМП Казанлък към ЦСМП – Стара Загора", "Kazanlak Emergency Care Branch of Stara Zagora EMC"),
    ("civil-protection", AgencyKind::CivilProtection,
        "Гражданска защита – Казанлък", "Kazanlak Civil Protection"),
    ("municipal-services", AgencyKind::MunicipalServices,
        "ОП „Общински услуги“ – Казанлък", "Municipal Services Enterprise, Kazanlak"),
];

fn organisations() -> Vec<Organisation> {
    let municipality = Organisation {
        id: org_id(""),
        kind: OrgKind::Municipality,
        name_bg: "Община Казанлък".into(),
        name_en: "Municipality of Kazanlak".into(),
        municipality: org_id(""),
        agency_kind: None,
        demo: true,
    };
    let agencies = AGENCIES.iter().map(|&(suffix, kind, bg, en)| Organisation {
        id: org_id(suffix),
        kind: OrgKind::Agency,
        name_bg: bg.into(),
        name_en: en.into(),
        municipality: org_id(""),
        agency_kind: Some(kind),
        demo: true,
    });
    std::iter::once(municipality).chain(agencies).collect()
}

/// The agencies' response units: id, agency suffix, kind, name, position (lat, lon).
#[rustfmt::skip]
pub const UNITS: &[(&str, &str, UnitKind, &str, f64, f64)] = &[
    ("police-patrol-1", "police", UnitKind::PatrolCar, "Патрул 1 / Patrol 1", 42.6205, 25.3965),
    ("police-patrol-2", "police", UnitKind::PatrolCar, "Патрул 2 / Patrol 2", 42.6140, 25.4040),
    ("police-patrol-3", "police", UnitKind::PatrolCar, "Патрул 3 / Patrol 3", 42.6260, 25.3850),
    ("fire-engine-1", "fire-safety", UnitKind::FireEngine, "Пожарна 1 / Engine 1", 42.6118, 25.3882),
    ("fire-engine-2", "fire-safety", UnitKind::FireEngine, "Пожарна 2 / Engine 2", 42.6118, 25.3885),
    ("ambulance-1", "ambulance", UnitKind::Ambulance, "Линейка 1 / Ambulance 1", 42.6231, 25.4012),
    ("ambulance-2", "ambulance", UnitKind::Ambulance, "Линейка 2 / Ambulance 2", 42.6229, 25.4015),
    ("civil-protection-1", "civil-protection", UnitKind::Crew, "Екип ГЗ / Civil protection crew", 42.6170, 25.3925),
    ("municipal-crew-1", "municipal-services", UnitKind::Crew, "Аварийна група 1 / Repair crew 1", 42.6095, 25.3990),
    ("municipal-crew-2", "municipal-services", UnitKind::Crew, "Аварийна група 2 / Repair crew 2", 42.6300, 25.3940),
];

/// The unit's agency id.
pub fn unit_agency(suffix: &str) -> Id {
    org_id(suffix)
}

/// Standard operating procedures per incident type: title and checklist, in Bulgarian and
/// English as an operator of the demo city would write them.
#[rustfmt::skip]
pub const PROCEDURES: &[(IncidentType, &str, &[&str])] = &[
    (IncidentType::TrafficAccident, "ПТП / Traffic accident", &[
        "Насочете PTZ камерите към мястото / Turn the PTZ cameras to the spot",
        "Споделете видео с полиция и спешна помощ / Share video with police and ambulance",
        "Изпратете патрул и линейка / Dispatch a patrol car and an ambulance",
        "Предупредете за затворено движение / Warn of the closed road",
    ]),
    (IncidentType::Flood, "Наводнение / Flood", &[
        "Проверете камерите по реката и язовира / Check the river and dam cameras",
        "Уведомете Гражданска защита / Notify civil protection",
        "Предупредете засегнатите улици / Warn the affected streets",
        "Следете нивомерите на всеки 15 минути / Watch the gauges every 15 minutes",
    ]),
    (IncidentType::Fire, "Пожар / Fire", &[
        "Потвърдете по камерите / Confirm on the cameras",
        "Изпратете пожарна и линейка / Dispatch fire engines and an ambulance",
        "Споделете видео с ПБЗН / Share video with the fire service",
        "Проверете качеството на въздуха наоколо / Check the air quality nearby",
    ]),
    (IncidentType::Crime, "Престъпление или безредици / Crime or disorder", &[
        "Запазете записите от близките камери / Preserve the nearby recordings",
        "Споделете видео с полицията / Share video with the police",
        "Изпратете патрул / Dispatch a patrol car",
    ]),
    (IncidentType::Medical, "Спешен медицински случай / Medical emergency", &[
        "Изпратете линейка / Dispatch an ambulance",
        "Насочете камера към мястото / Point a camera at the spot",
    ]),
    (IncidentType::MissingPerson, "Изчезнало лице / Missing person", &[
        "Прегледайте камерите около последното място / Review the cameras around the last position",
        "Споделете видео с полицията / Share video with the police",
        "Уведомете близките / Inform the family",
    ]),
    (IncidentType::Infrastructure, "Авария в инфраструктурата / Infrastructure failure", &[
        "Изпратете аварийна група / Dispatch a repair crew",
        "Предупредете гражданите в района / Warn the residents of the area",
    ]),
    (IncidentType::Other, "Друго / Other", &[
        "Проверете по камерите / Check on the cameras",
        "Решете кого да уведомите / Decide whom to notify",
    ]),
];

// ---------------------------------------------------------------------------------------------
// Key sites
// ---------------------------------------------------------------------------------------------

const SAF: Sector = Sector::Safety;
const TRA: Sector = Sector::Transport;
const DIS: Sector = Sector::Disaster;
const TOU: Sector = Sector::Tourism;

/// Where a site is, as plain (lat, lon) numbers.
enum Shape {
    Pt(f64, f64),
    /// The outer ring, first corner not repeated.
    Poly(&'static [(f64, f64)]),
}

struct SiteRow {
    /// The id is `kz-site-<key>`.
    key: &'static str,
    bg: &'static str,
    en: &'static str,
    category: SiteCategory,
    sectors: &'static [Sector],
    priority: i64,
    shape: Shape,
}

const fn site(
    key: &'static str,
    bg: &'static str,
    en: &'static str,
    category: SiteCategory,
    sectors: &'static [Sector],
    priority: i64,
    shape: Shape,
) -> SiteRow {
    SiteRow { key, bg, en, category, sectors, priority, shape }
}

use Shape::{Poly, Pt};
use SiteCategory as Cat;

/// The key sites. Priorities: 1 for schools, main crossroads and entries, stations, the hospital,
/// the dam and the Arsenal; 2 for kindergartens, bridges and river banks, museums; 3-4 for
/// parks, markets and the rest.
#[rustfmt::skip]
const SITES: &[SiteRow] = &[
    // Centre and public safety.
    site("sevtopolis-square", "Площад „Севтополис“", "Sevtopolis Square", Cat::Square, &[SAF, TOU], 1,
        Poly(&[(42.6196, 25.3922), (42.6197, 25.3940), (42.6184, 25.3943), (42.6182, 25.3924)])),
    site("municipality", "Сграда на Община Казанлък", "Kazanlak Municipality building", Cat::MunicipalBuilding,
        &[SAF], 2, Pt(42.6201, 25.3916)),
    site("iskra-museum", "Исторически музей „Искра“ и галерия", "Iskra Museum and Art Gallery", Cat::Tourist,
        &[TOU, SAF], 2, Pt(42.6207, 25.3953)),
    site("chitalishte-iskra", "Читалище „Искра“", "Iskra community centre", Cat::Other, &[TOU, SAF], 4,
        Pt(42.6187, 25.3957)),
    site("central-market", "Централен пазар", "Central market", Cat::Market, &[SAF], 2, Pt(42.6172, 25.3948)),
    site("police-station", "Сграда на РУ на МВР Казанлък", "Kazanlak police station", Cat::Other, &[SAF], 2,
        Pt(42.6177, 25.3976)),
    site("fire-station", "Пожарна – РС ПБЗН Казанлък", "Kazanlak fire station", Cat::Other, &[SAF, DIS], 2,
        Pt(42.6128, 25.4012)),
    site("hospital", "МБАЛ „Д-р Христо Стамболски“", "Dr Hristo Stambolski Hospital", Cat::Hospital, &[SAF, DIS], 1,
        Poly(&[(42.6230, 25.3842), (42.6231, 25.3862), (42.6214, 25.3864), (42.6213, 25.3843)])),
    site("city-garden", "Градска градина", "City garden", Cat::Park, &[SAF, TOU], 3, Pt(42.6178, 25.3912)),
    // Schools and kindergartens.
    site("school-antim", "СУ „Екзарх Антим I“", "Exarch Antim I Secondary School", Cat::School, &[SAF], 1,
        Pt(42.6165, 25.3878)),
    site("school-obreshkov", "ПМГ „Никола Обрешков“", "Nikola Obreshkov Maths High School", Cat::School, &[SAF], 1,
        Pt(42.6238, 25.3925)),
    site("school-chistemenski", "ОУ „Кочо Чистеменски“", "Kocho Chistemenski Primary School", Cat::School, &[SAF],
        1, Pt(42.6140, 25.3918)),
    site("school-botev", "ОУ „Христо Ботев“", "Hristo Botev Primary School", Cat::School, &[SAF], 1,
        Pt(42.6262, 25.3858)),
    site("school-iztok", "Училище в кв. „Изток“", "School, Iztok quarter", Cat::School, &[SAF], 2,
        Pt(42.6188, 25.4085)),
    site("school-levski", "Училище в кв. „Васил Левски“", "School, Vasil Levski quarter", Cat::School, &[SAF], 2,
        Pt(42.6108, 25.3792)),
    site("kg-centre", "Детска градина – център", "Kindergarten, centre", Cat::Kindergarten, &[SAF], 2,
        Pt(42.6206, 25.3884)),
    site("kg-iztok", "Детска градина – кв. „Изток“", "Kindergarten, Iztok quarter", Cat::Kindergarten, &[SAF], 2,
        Pt(42.6205, 25.4108)),
    site("kg-levski", "Детска градина – кв. „Васил Левски“", "Kindergarten, Vasil Levski quarter",
        Cat::Kindergarten, &[SAF], 2, Pt(42.6092, 25.3812)),
    site("kg-kulata", "Детска градина – кв. „Кулата“", "Kindergarten, Kulata quarter", Cat::Kindergarten, &[SAF], 2,
        Pt(42.6245, 25.3955)),
    site("kg-rozova-dolina", "Детска градина – кв. „Розова долина“", "Kindergarten, Rozova Dolina quarter",
        Cat::Kindergarten, &[SAF], 3, Pt(42.6300, 25.3905)),
    // Transport: stations, crossroads on the main boulevards, entries to the town.
    site("bus-station", "Автогара Казанлък", "Kazanlak bus station", Cat::BusStation, &[TRA, SAF], 1,
        Poly(&[(42.6112, 25.3938), (42.6113, 25.3958), (42.6101, 25.3960), (42.6100, 25.3939)])),
    site("rail-station", "Железопътна гара Казанлък", "Kazanlak railway station", Cat::RailStation, &[TRA, SAF], 1,
        Poly(&[(42.6095, 25.3905), (42.6097, 25.3935), (42.6087, 25.3937), (42.6085, 25.3906)])),
    site("x-rozova-dolina-23-polk", "Кръстовище бул. „Розова долина“ / бул. „23-ти полк“",
        "Rozova Dolina Blvd / 23rd Regiment Blvd crossroads", Cat::Crossroads, &[TRA, SAF], 1, Pt(42.6212, 25.3933)),
    site("x-petkov-iskra", "Кръстовище бул. „Никола Петков“ / ул. „Искра“",
        "Nikola Petkov Blvd / Iskra St crossroads", Cat::Crossroads, &[TRA, SAF], 1, Pt(42.6158, 25.3938)),
    site("x-osvoboditel-batenberg", "Кръстовище бул. „Цар Освободител“ / бул. „Ал. Батенберг“",
        "Tsar Osvoboditel Blvd / Al. Batenberg Blvd crossroads", Cat::Crossroads, &[TRA, SAF], 1,
        Pt(42.6148, 25.3962)),
    site("x-rozova-dolina-stara-reka", "Кръстовище бул. „Розова долина“ / ул. „Стара река“",
        "Rozova Dolina Blvd / Stara Reka St crossroads", Cat::Crossroads, &[TRA], 2, Pt(42.6232, 25.3878)),
    site("x-23-polk-orehovo-pole", "Кръстовище бул. „23-ти полк“ / ул. „Орехово поле“",
        "23rd Regiment Blvd / Orehovo Pole St crossroads", Cat::Crossroads, &[TRA], 2, Pt(42.6292, 25.3882)),
    site("x-batenberg-level-crossing", "Жп прелез на бул. „Ал. Батенберг“", "Al. Batenberg Blvd level crossing",
        Cat::Crossroads, &[TRA, SAF], 1, Pt(42.6082, 25.3972)),
    site("x-arsenal-gate", "Кръстовище бул. „Розова долина“ / вход „Арсенал“",
        "Rozova Dolina Blvd / Arsenal gate crossroads", Cat::Crossroads, &[TRA, SAF], 2, Pt(42.6262, 25.4068)),
    site("entry-south", "Южен вход – път I-5 от Стара Загора", "South entry – road I-5 from Stara Zagora",
        Cat::Crossroads, &[TRA, SAF], 1, Pt(42.6040, 25.3985)),
    site("entry-west", "Западен вход – път I-6 от Карлово", "West entry – road I-6 from Karlovo", Cat::Crossroads,
        &[TRA, SAF], 1, Pt(42.6150, 25.3625)),
    site("entry-east", "Източен изход – път I-6 към Сливен", "East exit – road I-6 to Sliven", Cat::Crossroads,
        &[TRA, SAF], 2, Pt(42.6215, 25.4330)),
    site("exit-shipka", "Северен изход – път към прохода Шипка", "North exit – road to the Shipka pass",
        Cat::Crossroads, &[TRA, TOU, SAF], 1, Pt(42.6405, 25.3818)),
    // Disasters: the Tundzha, Stara reka, the Koprinka dam, industry.
    site("bridge-tundzha-i5", "Мост на р. Тунджа – път I-5", "Tundzha bridge – road I-5", Cat::Bridge, &[DIS, TRA],
        1, Pt(42.5978, 25.3985)),
    site("bridge-tundzha-ovoshtnik", "Мост на р. Тунджа – път към Овощник", "Tundzha bridge – road to Ovoshtnik",
        Cat::Bridge, &[DIS, TRA], 2, Pt(42.5962, 25.4200)),
    site("bridge-tundzha-koprinka", "Мост на р. Тунджа под яз. „Копринка“", "Tundzha bridge below Koprinka dam",
        Cat::Bridge, &[DIS, TRA], 2, Pt(42.5975, 25.3360)),
    site("bridge-stara-reka", "Мост на Стара река – център", "Stara reka bridge – centre", Cat::Bridge, &[DIS, TRA],
        3, Pt(42.6182, 25.3893)),
    site("bank-tundzha-south", "Бряг на р. Тунджа – южно от града", "Tundzha bank – south of the town",
        Cat::RiverBank, &[DIS], 2,
        Poly(&[(42.5984, 25.3900), (42.5985, 25.3960), (42.5976, 25.3962), (42.5973, 25.3902)])),
    site("bank-tundzha-east", "Бряг на р. Тунджа – при пречиствателната станция",
        "Tundzha bank – by the treatment plant", Cat::RiverBank, &[DIS], 2,
        Poly(&[(42.5975, 25.4080), (42.5973, 25.4140), (42.5964, 25.4142), (42.5966, 25.4080)])),
    site("bank-stara-reka", "Корито на Стара река – център", "Stara reka channel – centre", Cat::RiverBank,
        &[DIS], 3, Poly(&[(42.6175, 25.3893), (42.6175, 25.3902), (42.6150, 25.3905), (42.6150, 25.3896)])),
    site("koprinka-dam-wall", "Стена на яз. „Копринка“", "Koprinka dam wall", Cat::Dam, &[DIS], 1,
        Pt(42.5992, 25.3285)),
    site("koprinka-reservoir", "Язовир „Копринка“ (над древния Севтополис)",
        "Koprinka reservoir (over ancient Seuthopolis)", Cat::Dam, &[DIS, TOU], 1,
        Poly(&[(42.6060, 25.2700), (42.6120, 25.2950), (42.6080, 25.3200), (42.6010, 25.3270),
               (42.5950, 25.3150), (42.5930, 25.2900), (42.5970, 25.2720)])),
    site("koprinka-shore", "Бряг на яз. „Копринка“ – зона за отдих", "Koprinka shore – recreation area",
        Cat::Tourist, &[TOU, DIS], 3, Pt(42.6095, 25.3120)),
    site("wastewater-plant", "Пречиствателна станция за отпадъчни води", "Wastewater treatment plant",
        Cat::Industrial, &[DIS], 3, Pt(42.5990, 25.4110)),
    site("arsenal", "Завод „Арсенал“", "Arsenal engineering works", Cat::Industrial, &[SAF, DIS], 1,
        Poly(&[(42.6300, 25.4050), (42.6320, 25.4180), (42.6250, 25.4220), (42.6230, 25.4090)])),
    site("industrial-east", "Промишлена зона „Изток“", "East industrial zone", Cat::Industrial, &[SAF, DIS], 3,
        Poly(&[(42.6190, 25.4180), (42.6195, 25.4280), (42.6150, 25.4285), (42.6145, 25.4185)])),
    // Tourism.
    site("tyulbeto-park", "Парк „Тюлбето“", "Tyulbeto park", Cat::Park, &[TOU, SAF], 2,
        Poly(&[(42.6282, 25.3975), (42.6280, 25.4030), (42.6240, 25.4035), (42.6238, 25.3978)])),
    site("thracian-tomb", "Казанлъшка тракийска гробница (ЮНЕСКО)", "Thracian Tomb of Kazanlak (UNESCO)",
        Cat::Tourist, &[TOU, SAF], 1, Pt(42.6257, 25.3998)),
    site("rose-museum", "Музей на розата", "Rose Museum", Cat::Tourist, &[TOU, SAF], 2, Pt(42.6344, 25.3899)),
    site("rozarium-park", "Парк „Розариум“", "Rozarium park", Cat::Park, &[TOU], 3,
        Poly(&[(42.6365, 25.3890), (42.6363, 25.3935), (42.6335, 25.3937), (42.6337, 25.3892)])),
    site("kulata", "Етнографски комплекс „Кулата“", "Kulata ethnographic complex", Cat::Tourist, &[TOU, SAF], 2,
        Pt(42.6228, 25.3978)),
    site("chudomir-museum", "Литературно-художествен музей „Чудомир“", "Chudomir Literary and Art Museum",
        Cat::Tourist, &[TOU], 3, Pt(42.6197, 25.3896)),
    site("convent", "Девически манастир „Въведение Богородично“", "Convent of the Presentation of the Virgin",
        Cat::Tourist, &[TOU], 4, Pt(42.6218, 25.4003)),
    site("stadium", "Стадион „Севтополис“", "Sevtopolis stadium", Cat::Stadium, &[SAF], 3,
        Poly(&[(42.6136, 25.3852), (42.6136, 25.3874), (42.6120, 25.3874), (42.6120, 25.3852)])),
    site("market-iztok", "Пазар „Изток“", "Iztok market", Cat::Market, &[SAF], 4, Pt(42.6195, 25.4055)),
];

fn sites() -> Vec<Site> {
    SITES
        .iter()
        .map(|r| Site {
            id: id(&format!("kz-site-{}", r.key)),
            municipality: org_id(""),
            name_bg: r.bg.into(),
            name_en: r.en.into(),
            category: r.category,
            sectors: r.sectors.to_vec(),
            priority: valid(Priority::new(r.priority)),
            geometry: match r.shape {
                Pt(lat, lon) => SiteGeometry::Point(latlon((lat, lon))),
                Poly(ring) => valid(SiteGeometry::polygon(ring.iter().copied().map(latlon).collect())),
            },
            demo: true,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Cameras
// ---------------------------------------------------------------------------------------------

/// Where a camera stands and what it looks at.
enum Spot {
    /// `dist_m` metres from the anchor of the site `kz-site-<key>`, in the direction `from_deg`
    /// (seen from the site), looking back at the anchor.
    Site { key: &'static str, from_deg: f64, dist_m: f64 },
    /// At `at`, looking towards `look_at` (a perimeter camera watching a fence line).
    Line { bg: &'static str, en: &'static str, at: (f64, f64), look_at: (f64, f64) },
}

struct CamRow {
    spot: Spot,
    kind: CameraKind,
    fov: f64,
    range: f64,
    height: f64,
    status: CameraStatus,
}

/// A camera watching a site: direction from the site, distance, kind, field of view, range,
/// mount height, status.
#[allow(clippy::too_many_arguments)]
const fn cam(
    key: &'static str,
    from_deg: f64,
    dist_m: f64,
    kind: CameraKind,
    fov: f64,
    range: f64,
    height: f64,
    status: CameraStatus,
) -> CamRow {
    CamRow { spot: Spot::Site { key, from_deg, dist_m }, kind, fov, range, height, status }
}

/// A perimeter camera at `at` looking towards `look_at`.
#[allow(clippy::too_many_arguments)]
const fn line(
    bg: &'static str,
    en: &'static str,
    at: (f64, f64),
    look_at: (f64, f64),
    kind: CameraKind,
    fov: f64,
    range: f64,
    height: f64,
    status: CameraStatus,
) -> CamRow {
    CamRow { spot: Spot::Line { bg, en, at, look_at }, kind, fov, range, height, status }
}

/// The camera network, numbered `kz-cam-001`... in this order. Fixed cameras 50-90 degrees,
/// ANPR 25-35 on entries and main crossroads, thermal at the dam and the Arsenal, PTZ (fov 60,
/// longer range) on squares and crossroads.
#[rustfmt::skip]
const CAMERAS: &[CamRow] = &[
    // Sevtopolis square: a PTZ in the square and fixed views from three sides.
    cam("sevtopolis-square", 0.0, 25.0, Ptz, 60.0, 200.0, 10.0, Active),
    cam("sevtopolis-square", 180.0, 60.0, Fixed, 70.0, 120.0, 8.0, Active),
    cam("sevtopolis-square", 90.0, 70.0, Fixed, 80.0, 120.0, 6.0, Active),
    cam("sevtopolis-square", 270.0, 55.0, Fixed, 75.0, 100.0, 6.0, Active),
    cam("municipality", 350.0, 30.0, Fixed, 60.0, 80.0, 5.0, Active),
    cam("municipality", 200.0, 35.0, Fixed, 70.0, 80.0, 5.0, Active),
    cam("iskra-museum", 45.0, 30.0, Fixed, 70.0, 80.0, 5.0, Active),
    cam("iskra-museum", 225.0, 40.0, Fixed, 60.0, 90.0, 6.0, Active),
    cam("chitalishte-iskra", 90.0, 30.0, Fixed, 60.0, 60.0, 5.0, Active),
    cam("central-market", 0.0, 40.0, Ptz, 60.0, 150.0, 9.0, Active),
    cam("central-market", 200.0, 50.0, Fixed, 80.0, 100.0, 7.0, Active),
    cam("police-station", 90.0, 25.0, Fixed, 70.0, 60.0, 5.0, Active),
    cam("police-station", 270.0, 30.0, Fixed, 70.0, 60.0, 5.0, Active),
    cam("fire-station", 0.0, 35.0, Fixed, 70.0, 80.0, 6.0, Active),
    cam("hospital", 0.0, 70.0, Fixed, 80.0, 120.0, 8.0, Active),
    cam("hospital", 180.0, 65.0, Fixed, 70.0, 120.0, 8.0, Active),
    cam("hospital", 90.0, 60.0, Ptz, 60.0, 150.0, 10.0, Active),
    cam("city-garden", 90.0, 45.0, Fixed, 80.0, 100.0, 6.0, Active),
    // Schools and kindergartens: entrances.
    cam("school-antim", 90.0, 40.0, Fixed, 70.0, 90.0, 6.0, Active),
    cam("school-antim", 270.0, 35.0, Fixed, 60.0, 80.0, 5.0, Active),
    cam("school-obreshkov", 180.0, 40.0, Fixed, 70.0, 90.0, 6.0, Active),
    cam("school-obreshkov", 0.0, 35.0, Fixed, 60.0, 80.0, 5.0, Active),
    cam("school-chistemenski", 0.0, 35.0, Fixed, 70.0, 80.0, 6.0, Active),
    cam("school-botev", 90.0, 40.0, Fixed, 70.0, 90.0, 6.0, Active),
    cam("school-iztok", 180.0, 35.0, Fixed, 65.0, 80.0, 5.0, Planned),
    cam("school-levski", 0.0, 40.0, Fixed, 65.0, 80.0, 5.0, Active),
    cam("kg-centre", 270.0, 25.0, Fixed, 60.0, 60.0, 4.0, Active),
    cam("kg-iztok", 0.0, 30.0, Fixed, 60.0, 60.0, 4.0, Active),
    cam("kg-kulata", 180.0, 30.0, Fixed, 60.0, 60.0, 4.0, Planned),
    cam("kg-rozova-dolina", 90.0, 25.0, Fixed, 60.0, 60.0, 4.0, Planned),
    // Stations.
    cam("bus-station", 90.0, 45.0, Ptz, 60.0, 180.0, 10.0, Active),
    cam("bus-station", 270.0, 50.0, Fixed, 80.0, 100.0, 7.0, Active),
    cam("bus-station", 0.0, 55.0, Fixed, 70.0, 100.0, 7.0, Active),
    cam("rail-station", 0.0, 45.0, Fixed, 80.0, 100.0, 7.0, Active),
    cam("rail-station", 270.0, 60.0, Fixed, 70.0, 120.0, 8.0, Active),
    cam("rail-station", 180.0, 40.0, Fixed, 60.0, 80.0, 6.0, Active),
    // Crossroads on the main boulevards.
    cam("x-rozova-dolina-23-polk", 45.0, 25.0, Ptz, 60.0, 220.0, 10.0, Active),
    cam("x-rozova-dolina-23-polk", 0.0, 60.0, Anpr, 30.0, 120.0, 6.0, Active),
    cam("x-rozova-dolina-23-polk", 225.0, 50.0, Fixed, 70.0, 120.0, 7.0, Active),
    cam("x-petkov-iskra", 135.0, 25.0, Ptz, 60.0, 200.0, 10.0, Active),
    cam("x-petkov-iskra", 315.0, 50.0, Fixed, 70.0, 120.0, 7.0, Active),
    cam("x-osvoboditel-batenberg", 180.0, 55.0, Anpr, 30.0, 120.0, 6.0, Active),
    cam("x-osvoboditel-batenberg", 45.0, 25.0, Ptz, 60.0, 200.0, 10.0, Active),
    cam("x-rozova-dolina-stara-reka", 90.0, 45.0, Fixed, 70.0, 120.0, 7.0, Active),
    cam("x-rozova-dolina-stara-reka", 270.0, 50.0, Fixed, 70.0, 120.0, 7.0, Active),
    cam("x-23-polk-orehovo-pole", 0.0, 60.0, Anpr, 30.0, 120.0, 6.0, Active),
    cam("x-23-polk-orehovo-pole", 180.0, 45.0, Fixed, 65.0, 100.0, 7.0, Active),
    cam("x-batenberg-level-crossing", 0.0, 40.0, Fixed, 60.0, 100.0, 7.0, Active),
    cam("x-batenberg-level-crossing", 180.0, 45.0, Fixed, 60.0, 100.0, 7.0, Offline),
    cam("x-arsenal-gate", 270.0, 30.0, Ptz, 60.0, 200.0, 10.0, Active),
    cam("x-arsenal-gate", 0.0, 50.0, Anpr, 30.0, 100.0, 6.0, Active),
    // Entries to the town: ANPR on the incoming lanes.
    cam("entry-south", 180.0, 60.0, Anpr, 25.0, 150.0, 6.0, Active),
    cam("entry-south", 0.0, 55.0, Anpr, 30.0, 150.0, 6.0, Active),
    cam("entry-south", 90.0, 30.0, Ptz, 60.0, 250.0, 12.0, Active),
    cam("entry-west", 270.0, 60.0, Anpr, 30.0, 150.0, 6.0, Active),
    cam("entry-west", 90.0, 50.0, Fixed, 70.0, 150.0, 8.0, Active),
    cam("entry-east", 90.0, 60.0, Anpr, 30.0, 150.0, 6.0, Active),
    cam("entry-east", 270.0, 50.0, Fixed, 70.0, 150.0, 8.0, Planned),
    cam("exit-shipka", 0.0, 60.0, Anpr, 30.0, 150.0, 6.0, Active),
    cam("exit-shipka", 135.0, 30.0, Ptz, 60.0, 250.0, 12.0, Active),
    // Bridges and river banks: water level and debris at the piers.
    cam("bridge-tundzha-i5", 0.0, 60.0, Fixed, 60.0, 150.0, 8.0, Active),
    cam("bridge-tundzha-i5", 180.0, 60.0, Fixed, 60.0, 150.0, 8.0, Active),
    cam("bridge-tundzha-ovoshtnik", 0.0, 50.0, Fixed, 60.0, 150.0, 8.0, Offline),
    cam("bridge-tundzha-koprinka", 90.0, 50.0, Fixed, 60.0, 150.0, 8.0, Active),
    cam("bridge-stara-reka", 90.0, 30.0, Fixed, 70.0, 80.0, 6.0, Active),
    cam("bank-tundzha-south", 0.0, 70.0, Fixed, 90.0, 200.0, 10.0, Active),
    cam("bank-tundzha-south", 315.0, 65.0, Fixed, 90.0, 200.0, 10.0, Active),
    cam("bank-tundzha-east", 0.0, 60.0, Fixed, 90.0, 200.0, 10.0, Active),
    cam("bank-stara-reka", 90.0, 35.0, Fixed, 60.0, 120.0, 6.0, Planned),
    // The Koprinka dam: thermal on the crest (the one east of the anchor looks west over the
    // reservoir), a PTZ downstream.
    cam("koprinka-dam-wall", 90.0, 30.0, Thermal, 35.0, 250.0, 10.0, Active),
    cam("koprinka-dam-wall", 0.0, 60.0, Thermal, 40.0, 250.0, 10.0, Active),
    cam("koprinka-dam-wall", 180.0, 50.0, Ptz, 60.0, 250.0, 12.0, Active),
    cam("koprinka-dam-wall", 135.0, 40.0, Fixed, 80.0, 150.0, 8.0, Active),
    cam("koprinka-shore", 90.0, 40.0, Ptz, 60.0, 200.0, 10.0, Planned),
    cam("wastewater-plant", 0.0, 50.0, Fixed, 80.0, 120.0, 6.0, Active),
    // Industry: thermal cameras along the Arsenal fence, a PTZ over the east zone.
    line("Завод „Арсенал“ – ограда север", "Arsenal works – north fence",
        (42.6301, 25.4048), (42.6320, 25.4180), Thermal, 30.0, 250.0, 12.0, Active),
    line("Завод „Арсенал“ – ограда изток", "Arsenal works – east fence",
        (42.6322, 25.4182), (42.6250, 25.4220), Thermal, 30.0, 250.0, 12.0, Active),
    line("Завод „Арсенал“ – ограда юг", "Arsenal works – south fence",
        (42.6229, 25.4088), (42.6250, 25.4220), Thermal, 30.0, 250.0, 12.0, Active),
    cam("industrial-east", 0.0, 50.0, Ptz, 60.0, 250.0, 12.0, Active),
    // Tourism.
    cam("tyulbeto-park", 180.0, 60.0, Fixed, 80.0, 150.0, 8.0, Active),
    cam("tyulbeto-park", 90.0, 45.0, Ptz, 60.0, 200.0, 10.0, Active),
    cam("thracian-tomb", 180.0, 25.0, Fixed, 70.0, 60.0, 5.0, Active),
    cam("thracian-tomb", 0.0, 30.0, Fixed, 70.0, 60.0, 5.0, Active),
    cam("rose-museum", 180.0, 35.0, Fixed, 70.0, 80.0, 6.0, Active),
    cam("rose-museum", 90.0, 30.0, Fixed, 60.0, 60.0, 5.0, Active),
    cam("rozarium-park", 270.0, 60.0, Fixed, 80.0, 150.0, 8.0, Active),
    cam("kulata", 270.0, 30.0, Fixed, 70.0, 80.0, 5.0, Active),
    cam("kulata", 45.0, 35.0, Fixed, 70.0, 80.0, 5.0, Active),
    cam("chudomir-museum", 0.0, 25.0, Fixed, 60.0, 60.0, 5.0, Active),
    cam("stadium", 0.0, 60.0, Ptz, 60.0, 200.0, 12.0, Active),
    cam("stadium", 90.0, 50.0, Fixed, 80.0, 150.0, 10.0, Active),
];

/// Compass point of a direction: Bulgarian and English abbreviations.
fn compass(deg: f64) -> (&'static str, &'static str) {
    const POINTS: [(&str, &str); 8] =
        [("С", "N"), ("СИ", "NE"), ("И", "E"), ("ЮИ", "SE"), ("Ю", "S"), ("ЮЗ", "SW"), ("З", "W"), ("СЗ", "NW")];
    POINTS[((deg.rem_euclid(360.0) + 22.5) / 45.0) as usize % 8]
}

/// Builds the cameras of [`CAMERAS`] around `sites`, each with the id of the site it was placed
/// to watch (`None` for perimeter cameras).
fn placed_cameras(sites: &[Site]) -> Vec<(Camera, Option<Id>)> {
    let by_key: BTreeMap<&str, &Site> = SITES.iter().map(|r| r.key).zip(sites).collect();
    let police = org_id("police");
    CAMERAS
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let cam_id = format!("kz-cam-{:03}", i + 1);
            let suffix = match row.kind {
                Fixed => "",
                Ptz => " (PTZ)",
                Anpr => " (ANPR)",
                Thermal => " (thermal)",
            };
            let (position, heading, (name, name_en), target, retention_days, owner) = match row.spot {
                Spot::Site { key, from_deg, dist_m } => {
                    let site = by_key.get(key).unwrap_or_else(|| panic!("demo camera refers to unknown site {key}"));
                    let anchor = site.geometry.anchor();
                    let position = destination(anchor, from_deg, dist_m);
                    let heading = bearing_deg(position, anchor);
                    let (dir_bg, dir_en) = compass(from_deg);
                    let names = (
                        format!("{} - {dir_bg}{suffix}", site.name_bg),
                        format!("{} - {dir_en}{suffix}", site.name_en),
                    );
                    let retention = match (row.kind, site.priority.get()) {
                        (Anpr, _) | (_, 1 | 2) => 60,
                        (_, 3) => 45,
                        _ => 30,
                    };
                    let owner = if row.kind == Anpr || key == "police-station" { police.clone() } else { org_id("") };
                    (position, heading, names, Some(site.id.clone()), retention, owner)
                }
                Spot::Line { bg, en, at, look_at } => {
                    let position = latlon(at);
                    let heading = bearing_deg(position, latlon(look_at));
                    (position, heading, (format!("{bg}{suffix}"), format!("{en}{suffix}")), None, 60, org_id(""))
                }
            };
            let stream = demo_stream(&cam_id, &name_en, row.status, false);
            let sub_stream = demo_stream(&cam_id, &name_en, row.status, true);
            let camera = Camera {
                id: id(&cam_id),
                municipality: org_id(""),
                name,
                name_en,
                position,
                mount_height_m: row.height,
                heading: valid(Heading::new(heading)),
                fov: valid(FieldOfView::new(row.fov)),
                range: valid(RangeM::new("range_m", row.range)),
                kind: row.kind,
                // A synthetic picture with the camera's name and the time (see polis-media's
                // synthetic opener), so the video wall plays without real cameras.
                // An offline camera points at a port where nothing answers; a planned one has none.
                stream: stream.map(|u| valid(StreamUrl::parse("stream_url", &u))),
                sub_stream: sub_stream.map(|u| valid(StreamUrl::parse("sub_stream_url", &u))),
                retention_days,
                owner: Some(owner),
                status: row.status,
                demo: true,
                video: CameraVideo {
                    // Two cameras record all the time, so the timeline and playback have something.
                    recording: if RECORDED.contains(&cam_id.as_str()) {
                        RecordingMode::Continuous
                    } else {
                        RecordingMode::Off
                    },
                    ..CameraVideo::default()
                },
            };
            (camera, target)
        })
        .collect()
}

/// The demo cameras recorded continuously.
pub const RECORDED: [&str; 2] = ["kz-cam-001", "kz-cam-002"];

/// The synthetic stream of a demo camera: labelled with its id and English name.
fn demo_stream(cam_id: &str, name_en: &str, status: CameraStatus, sub: bool) -> Option<String> {
    match status {
        Active => {}
        Offline => return Some(format!("rtsp://127.0.0.1:9/{cam_id}/{}", if sub { "sub" } else { "main" })),
        _ => return None,
    }
    let label: String = format!("{cam_id} {name_en}")
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    Some(format!("demo://kazanlak/{label}{}", if sub { "?sub" } else { "" }))
}

// ---------------------------------------------------------------------------------------------
// Sensors
// ---------------------------------------------------------------------------------------------

struct SensorRow {
    /// The id is `kz-sens-<key>`.
    key: &'static str,
    bg: &'static str,
    en: &'static str,
    kind: SensorKind,
    unit: &'static str,
    at: (f64, f64),
    /// Owner: suffix of the organisation id, "" for the municipality.
    owner: &'static str,
}

const fn sensor(
    key: &'static str,
    bg: &'static str,
    en: &'static str,
    kind: SensorKind,
    unit: &'static str,
    at: (f64, f64),
    owner: &'static str,
) -> SensorRow {
    SensorRow { key, bg, en, kind, unit, at, owner }
}

use SensorKind as K;

/// The sensors. Water level and rain belong to civil protection, the rest to the municipality.
/// Smoke detectors report optical obscuration in percent per metre.
#[rustfmt::skip]
const SENSORS: &[SensorRow] = &[
    // Water level.
    sensor("wl-tundzha-i5", "Ниво р. Тунджа – мост път I-5", "Tundzha level – road I-5 bridge", K::WaterLevel,
        "cm", (42.5977, 25.3980), "civil-protection"),
    sensor("wl-tundzha-ovoshtnik", "Ниво р. Тунджа – мост към Овощник", "Tundzha level – Ovoshtnik road bridge",
        K::WaterLevel, "cm", (42.5961, 25.4195), "civil-protection"),
    sensor("wl-tundzha-koprinka", "Ниво р. Тунджа – под яз. „Копринка“", "Tundzha level – below Koprinka dam",
        K::WaterLevel, "cm", (42.5974, 25.3355), "civil-protection"),
    sensor("wl-tundzha-wwtp", "Ниво р. Тунджа – пречиствателна станция", "Tundzha level – treatment plant",
        K::WaterLevel, "cm", (42.5970, 25.4112), "civil-protection"),
    sensor("wl-stara-reka", "Ниво Стара река – център", "Stara reka level – centre", K::WaterLevel, "cm",
        (42.6181, 25.3894), "civil-protection"),
    sensor("wl-koprinka-wall", "Ниво яз. „Копринка“ – стена", "Koprinka reservoir level – dam wall",
        K::WaterLevel, "m", (42.5995, 25.3280), "civil-protection"),
    sensor("wl-koprinka-west", "Ниво яз. „Копринка“ – западен ръкав", "Koprinka reservoir level – west arm",
        K::WaterLevel, "m", (42.6050, 25.2760), "civil-protection"),
    // Rain.
    sensor("rain-centre", "Дъждомер – Община", "Rain gauge – municipality building", K::Rain, "mm",
        (42.6202, 25.3918), "civil-protection"),
    sensor("rain-koprinka", "Дъждомер – яз. „Копринка“", "Rain gauge – Koprinka dam", K::Rain, "mm",
        (42.6000, 25.3295), "civil-protection"),
    sensor("rain-rozarium", "Дъждомер – парк „Розариум“", "Rain gauge – Rozarium park", K::Rain, "mm",
        (42.6352, 25.3915), "civil-protection"),
    sensor("rain-iztok", "Дъждомер – кв. „Изток“", "Rain gauge – Iztok quarter", K::Rain, "mm",
        (42.6200, 25.4150), "civil-protection"),
    // Air quality.
    sensor("aq-sevtopolis", "Качество на въздуха – пл. „Севтополис“", "Air quality – Sevtopolis Square",
        K::AirQuality, "µg/m³", (42.6191, 25.3937), ""),
    sensor("aq-arsenal", "Качество на въздуха – „Арсенал“", "Air quality – Arsenal", K::AirQuality, "µg/m³",
        (42.6240, 25.4100), ""),
    sensor("aq-bus-station", "Качество на въздуха – автогара", "Air quality – bus station", K::AirQuality,
        "µg/m³", (42.6108, 25.3962), ""),
    sensor("aq-levski", "Качество на въздуха – кв. „Васил Левски“", "Air quality – Vasil Levski quarter",
        K::AirQuality, "µg/m³", (42.6100, 25.3800), ""),
    // Traffic counts and speed.
    sensor("tc-entry-south", "Брояч на трафик – южен вход I-5", "Traffic count – south entry I-5",
        K::TrafficCount, "veh/h", (42.6035, 25.3986), ""),
    sensor("tc-entry-west", "Брояч на трафик – западен вход I-6", "Traffic count – west entry I-6",
        K::TrafficCount, "veh/h", (42.6148, 25.3618), ""),
    sensor("tc-exit-east", "Брояч на трафик – източен изход I-6", "Traffic count – east exit I-6",
        K::TrafficCount, "veh/h", (42.6218, 25.4338), ""),
    sensor("tc-exit-shipka", "Брояч на трафик – път към Шипка", "Traffic count – Shipka road",
        K::TrafficCount, "veh/h", (42.6412, 25.3812), ""),
    sensor("tc-rozova-dolina", "Брояч на трафик – бул. „Розова долина“", "Traffic count – Rozova Dolina Blvd",
        K::TrafficCount, "veh/h", (42.6218, 25.3960), ""),
    sensor("sp-entry-south", "Скорост – южен вход I-5", "Speed – south entry I-5", K::TrafficSpeed, "km/h",
        (42.6030, 25.3987), ""),
    sensor("sp-entry-west", "Скорост – западен вход I-6", "Speed – west entry I-6", K::TrafficSpeed, "km/h",
        (42.6152, 25.3600), ""),
    sensor("sp-exit-shipka", "Скорост – път към Шипка", "Speed – Shipka road", K::TrafficSpeed, "km/h",
        (42.6420, 25.3805), ""),
    sensor("sp-batenberg", "Скорост – бул. „Ал. Батенберг“", "Speed – Al. Batenberg Blvd", K::TrafficSpeed,
        "km/h", (42.6120, 25.3967), ""),
    // Noise.
    sensor("noise-sevtopolis", "Шум – пл. „Севтополис“", "Noise – Sevtopolis Square", K::Noise, "dB",
        (42.6189, 25.3928), ""),
    sensor("noise-bus-station", "Шум – автогара", "Noise – bus station", K::Noise, "dB", (42.6104, 25.3945), ""),
    sensor("noise-arsenal", "Шум – „Арсенал“", "Noise – Arsenal", K::Noise, "dB", (42.6255, 25.4075), ""),
    // Smoke in the tomb and the museums.
    sensor("smoke-thracian-tomb", "Димооткривател – тракийска гробница", "Smoke – Thracian Tomb", K::Smoke, "%/m",
        (42.6257, 25.3998), ""),
    sensor("smoke-rose-museum", "Димооткривател – Музей на розата", "Smoke – Rose Museum", K::Smoke, "%/m",
        (42.6344, 25.3899), ""),
    sensor("smoke-iskra-museum", "Димооткривател – музей „Искра“", "Smoke – Iskra Museum", K::Smoke, "%/m",
        (42.6207, 25.3953), ""),
    sensor("smoke-kulata", "Димооткривател – „Кулата“", "Smoke – Kulata complex", K::Smoke, "%/m",
        (42.6228, 25.3978), ""),
    sensor("smoke-chudomir", "Димооткривател – музей „Чудомир“", "Smoke – Chudomir Museum", K::Smoke, "%/m",
        (42.6197, 25.3896), ""),
    sensor("smoke-convent", "Димооткривател – девически манастир", "Smoke – convent", K::Smoke, "%/m",
        (42.6218, 25.4003), ""),
];

fn sensors() -> Vec<Sensor> {
    SENSORS
        .iter()
        .map(|r| Sensor {
            id: id(&format!("kz-sens-{}", r.key)),
            municipality: org_id(""),
            name: r.bg.into(),
            name_en: r.en.into(),
            kind: r.kind,
            unit: r.unit.into(),
            position: latlon(r.at),
            owner: Some(org_id(r.owner)),
            demo: true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_domain::geometry::{distance_m, sees_point};
    use std::collections::HashSet;

    fn centre() -> LatLon {
        latlon(CENTRE_LAT_LON)
    }

    #[test]
    fn counts() {
        let city = kazanlak();
        assert!(city.sites.len() >= 40, "{} sites", city.sites.len());
        assert!(city.cameras.len() >= 60, "{} cameras", city.cameras.len());
        assert!(city.sensors.len() >= 20, "{} sensors", city.sensors.len());
        let agencies: Vec<_> = city.organisations.iter().filter(|o| o.kind == OrgKind::Agency).collect();
        assert_eq!(agencies.len(), 5);
        let kinds: HashSet<_> = agencies.iter().map(|o| o.agency_kind.expect("agency kind")).collect();
        assert_eq!(kinds.len(), AgencyKind::ALL.len(), "one agency of each kind");
        let munis: Vec<_> = city.organisations.iter().filter(|o| o.kind == OrgKind::Municipality).collect();
        assert_eq!(munis.len(), 1);
        assert_eq!(munis[0].id.as_str(), MUNICIPALITY);
        assert!(munis[0].agency_kind.is_none());
        let polygons = city.sites.iter().filter(|s| matches!(s.geometry, SiteGeometry::Polygon(_))).count();
        assert!(polygons >= 8, "{polygons} polygon sites");
    }

    #[test]
    fn all_four_sectors_are_present() {
        let city = kazanlak();
        let sectors: HashSet<Sector> = city.sites.iter().flat_map(|s| s.sectors.iter().copied()).collect();
        for s in Sector::ALL {
            assert!(sectors.contains(s), "no site in sector {s}");
        }
        assert!(city.sites.iter().all(|s| !s.sectors.is_empty()));
    }

    #[test]
    fn ids_are_unique() {
        let city = kazanlak();
        let ids: Vec<&str> = city
            .organisations
            .iter()
            .map(|o| o.id.as_str())
            .chain(city.sites.iter().map(|s| s.id.as_str()))
            .chain(city.cameras.iter().map(|c| c.id.as_str()))
            .chain(city.sensors.iter().map(|s| s.id.as_str()))
            .collect();
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "duplicate ids");
        assert!(city.cameras.iter().all(|c| c.id.as_str().starts_with("kz-cam-")));
        assert!(city.sensors.iter().all(|s| s.id.as_str().starts_with("kz-sens-")));
        assert_eq!(city.cameras[0].id.as_str(), "kz-cam-001");
        let names: HashSet<&str> = city.cameras.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), city.cameras.len(), "duplicate camera names");
    }

    #[test]
    fn everything_is_demo_data_of_kazanlak() {
        let city = kazanlak();
        let m = Id::parse("m", MUNICIPALITY).unwrap();
        assert!(city.organisations.iter().all(|o| o.demo && o.municipality == m));
        assert!(city.sites.iter().all(|s| s.demo && s.municipality == m));
        assert!(city.cameras.iter().all(|c| c.demo && c.municipality == m));
        assert!(city.sensors.iter().all(|s| s.demo && s.municipality == m));
        let orgs: HashSet<&Id> = city.organisations.iter().map(|o| &o.id).collect();
        for c in &city.cameras {
            assert!(orgs.contains(c.owner.as_ref().expect("owner")), "{} has an unknown owner", c.id);
        }
        for s in &city.sensors {
            assert!(orgs.contains(s.owner.as_ref().expect("owner")), "{} has an unknown owner", s.id);
        }
        assert!(city.cameras.iter().any(|c| c.owner.as_ref().is_some_and(|o| o.as_str() == "kazanlak-police")));
    }

    #[test]
    fn everything_is_near_kazanlak() {
        let city = kazanlak();
        for c in &city.cameras {
            let d = distance_m(centre(), c.position);
            assert!(d <= 12_000.0, "{} is {d:.0} m from the centre", c.id);
        }
        for s in &city.sites {
            let d = distance_m(centre(), s.geometry.anchor());
            assert!(d <= 12_000.0, "{} is {d:.0} m from the centre", s.id);
        }
        for s in &city.sensors {
            let d = distance_m(centre(), s.position);
            assert!(d <= 12_000.0, "{} is {d:.0} m from the centre", s.id);
        }
    }

    #[test]
    fn cameras_watch_their_sites() {
        let city = kazanlak();
        let placed = placed_cameras(&city.sites);
        let by_id: BTreeMap<&Id, &Site> = city.sites.iter().map(|s| (&s.id, s)).collect();
        for (camera, target) in &placed {
            if let Some(target) = target {
                let site = by_id[target];
                let d = distance_m(camera.position, site.geometry.anchor());
                assert!((19.0..=81.0).contains(&d), "{} stands {d:.1} m from {}", camera.id, site.id);
                assert!(sees_point(camera, site.geometry.anchor()).is_some(), "{} misses {}", camera.id, site.id);
            }
        }
        let seeing = city
            .cameras
            .iter()
            .filter(|c| city.sites.iter().any(|s| sees_point(c, s.geometry.anchor()).is_some()))
            .count();
        assert!(seeing * 10 >= city.cameras.len() * 9, "only {seeing} of {} cameras see a site", city.cameras.len());
    }

    #[test]
    fn camera_parameters_are_realistic() {
        let city = kazanlak();
        for c in &city.cameras {
            assert!(c.check().is_empty(), "{}: {:?}", c.id, c.check());
            assert!((40.0..=250.0).contains(&c.range.m()), "{} range", c.id);
            assert!((4.0..=12.0).contains(&c.mount_height_m), "{} height", c.id);
            assert!((30..=60).contains(&c.retention_days), "{} retention", c.id);
            let fov = c.fov.deg();
            let ok = match c.kind {
                Fixed => (50.0..=90.0).contains(&fov),
                Anpr => (25.0..=35.0).contains(&fov),
                Ptz => fov == 60.0,
                Thermal => (20.0..=60.0).contains(&fov),
            };
            assert!(ok, "{} has fov {fov} for {}", c.id, c.kind);
            match c.status {
                Active => {
                    let main = c.stream.as_ref().expect("main stream");
                    let sub = c.sub_stream.as_ref().expect("sub stream");
                    assert!(main.url.starts_with(&format!("demo://kazanlak/{}%20", c.id)), "{}", main.url);
                    assert_eq!(sub.url, format!("{}?sub", main.url));
                }
                Offline => assert!(c.stream.as_ref().is_some_and(|s| s.url.starts_with("rtsp://127.0.0.1:9/"))),
                _ => assert!(c.stream.is_none() && c.sub_stream.is_none(), "{}", c.id),
            }
            assert!(c.stream.iter().chain(&c.sub_stream).all(|s| !s.has_credentials()));
        }
        let n = city.cameras.len();
        let ptz = city.cameras.iter().filter(|c| c.kind == Ptz).count();
        assert!(ptz * 100 >= n * 10 && ptz * 100 <= n * 20, "{ptz} PTZ of {n}");
        assert!(city.cameras.iter().any(|c| c.kind == Anpr));
        assert!(city.cameras.iter().any(|c| c.kind == Thermal));
        let active = city.cameras.iter().filter(|c| c.status == Active).count();
        assert!(active * 100 >= n * 80, "{active} active of {n}");
        assert!(city.cameras.iter().any(|c| c.status == Planned));
        let offline = city.cameras.iter().filter(|c| c.status == Offline).count();
        assert!((1..=2).contains(&offline));
        let most_60 = city.cameras.iter().filter(|c| c.retention_days == 60).count();
        assert!(most_60 * 2 > n);
    }

    #[test]
    fn site_categories_and_priorities_are_valid() {
        let city = kazanlak();
        for s in &city.sites {
            assert!(SiteCategory::ALL.contains(&s.category));
            assert_eq!(SiteCategory::parse("category", s.category.as_str()).unwrap(), s.category);
            assert!((1..=5).contains(&s.priority.get()));
            assert!(!s.name_bg.trim().is_empty() && !s.name_en.trim().is_empty());
            if matches!(s.category, SiteCategory::School | SiteCategory::Crossroads | SiteCategory::Dam) {
                assert!(s.priority.get() <= 2, "{} should have a high priority", s.id);
            }
        }
        let categories: HashSet<SiteCategory> = city.sites.iter().map(|s| s.category).collect();
        assert!(categories.len() >= 14, "{} categories used", categories.len());
    }

    #[test]
    fn sensors_cover_the_required_kinds() {
        let city = kazanlak();
        let count =
            |kind: SensorKind, unit: &str| city.sensors.iter().filter(|s| s.kind == kind && s.unit == unit).count();
        assert!(count(K::WaterLevel, "cm") >= 3);
        assert!(count(K::WaterLevel, "m") >= 1);
        assert!(count(K::Rain, "mm") >= 1);
        assert!(count(K::AirQuality, "µg/m³") >= 1);
        assert!(count(K::TrafficCount, "veh/h") >= 1);
        assert!(count(K::TrafficSpeed, "km/h") >= 1);
        assert!(count(K::Noise, "dB") >= 1);
        assert!(count(K::Smoke, "%/m") >= 1);
    }

    #[test]
    fn building_is_deterministic() {
        let (a, b) = (kazanlak(), kazanlak());
        assert_eq!(a.organisations, b.organisations);
        assert_eq!(a.sites, b.sites);
        assert_eq!(a.cameras, b.cameras);
        assert_eq!(a.sensors, b.sensors);
    }
}
