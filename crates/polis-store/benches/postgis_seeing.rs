//! Two measurements, in one run (`scripts/bench`, or `cargo bench -p polis-store --bench
//! postgis_seeing` with `POLIS_BENCH_PG_URL` set to a PostgreSQL server with PostGIS installed):
//!
//! 1. `insert_cameras` of 100,000 cameras into a fresh SQLite file, in one call: the synthetic
//!    cameras as they are, and dressed as an import (both stream URLs with credentials, and one
//!    audit record per camera with a JSON snapshot, as `polis-core` writes them).
//! 2. "Who can see this point", on the same 100,000 cameras: `polis_geo::CameraIndex::seeing(p,
//!    None, 10)` against PostgreSQL + PostGIS (`geography(Point, 4326)` with a GiST index;
//!    `ST_DWithin` on the largest range to use the index, then each camera's own range and view
//!    sector with `ST_Distance` and `ST_Azimuth`, PTZ seeing a full circle; ordered by
//!    `ST_Distance`, then id; limit 10). One client, sequential queries, each timed on its own.
//!    Both must return the same ids in the same order for every query point.
//!
//! Without `POLIS_BENCH_PG_URL` the PostGIS half is skipped (and said so).

use polis_domain::registry::Secret;
use polis_domain::{AuditRecord, Camera, CameraKind, Id, LatLon, StreamUrl};
use polis_geo::{synthetic, CameraIndex};
use sqlx::{Connection, PgConnection, Row};
use std::hint::black_box;
use std::time::{Duration, Instant};

const CAMERAS: usize = 100_000;
const RADIUS_M: f64 = 6_000.0;
const WARMUP: usize = 500;
const QUERIES: usize = 5_000;
const INSERT_RUNS: usize = 3;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    rt.block_on(run());
}

async fn run() {
    println!("machine: {} cores, {}; load average at start: {}", cores(), cpu_model(), loadavg());
    let kazanlak = LatLon::new(42.619, 25.393).expect("a valid position");
    let municipality = Id::from_trusted("kazanlak");
    let cams = synthetic::cameras(CAMERAS, 42, kazanlak, RADIUS_M, &municipality);

    bench_sqlite_insert(&cams).await;
    bench_seeing(&cams, kazanlak).await;
    println!("load average at end: {}", loadavg());
}

// ---- 1. Bulk insert into SQLite -------------------------------------------------------------

/// The cameras as an import brings them: credentials in both streams, one audit record each.
fn as_import(cams: &[Camera]) -> (Vec<Camera>, Vec<AuditRecord>) {
    let at = time::OffsetDateTime::now_utc();
    let dressed: Vec<Camera> = cams
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let host = format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256);
            let stream = |ch: u32| StreamUrl {
                url: format!("rtsp://{host}:554/Streaming/Channels/{ch}"),
                username: Some("admin".into()),
                password: Some(Secret::new(format!("pw-{i:06}-s3cret"))),
                secret_query: None,
            };
            Camera { stream: Some(stream(101)), sub_stream: Some(stream(102)), ..c.clone() }
        })
        .collect();
    let audit = dressed
        .iter()
        .map(|c| AuditRecord {
            at,
            actor: "ivana (supervisor)".into(),
            action: "camera.create".into(),
            entity: "camera".into(),
            entity_id: c.id.to_string(),
            municipality: Some(c.municipality.clone()),
            before: None,
            after: Some(format!(
                r#"{{"id":"{}","municipality":"{}","name":"{}","lat":{},"lon":{},"mount_height_m":{},"heading_deg":{},"fov_deg":{},"range_m":{},"kind":"{}","stream_url":"{}","retention_days":{},"status":"{}"}}"#,
                c.id,
                c.municipality,
                c.name,
                c.position.lat(),
                c.position.lon(),
                c.mount_height_m,
                c.heading.deg(),
                c.fov.deg(),
                c.range.m(),
                c.kind,
                c.stream.as_ref().map_or("", |s| s.url.as_str()),
                c.retention_days,
                c.status,
            )),
        })
        .collect();
    (dressed, audit)
}

async fn bench_sqlite_insert(cams: &[Camera]) {
    let (dressed, audit) = as_import(cams);
    let cases: [(&str, &[Camera], &[AuditRecord]); 2] = [
        ("synthetic cameras, no credentials, no audit records", cams, &[]),
        ("with credentials in both streams and one audit record per camera", &dressed, &audit),
    ];
    println!("\n## insert_cameras of {CAMERAS} cameras into a fresh SQLite file, one call, {INSERT_RUNS} runs each");
    for (label, batch, audit) in cases {
        let mut rates = Vec::new();
        let mut list_s = Vec::new();
        for _ in 0..INSERT_RUNS {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let store = polis_store::open_sqlite(&dir.path().join("bench.db")).await.expect("open");
            let t = Instant::now();
            store.insert_cameras(batch, audit).await.expect("insert");
            rates.push(batch.len() as f64 / t.elapsed().as_secs_f64());
            let t = Instant::now();
            let back = store.list_cameras().await.expect("list");
            list_s.push(t.elapsed().as_secs_f64());
            assert_eq!(back.len(), batch.len());
            store.close().await;
        }
        rates.sort_by(f64::total_cmp);
        list_s.sort_by(f64::total_cmp);
        println!(
            "{label}: median {:.0} cameras/s (runs: {}); list_cameras afterwards: median {:.2} s",
            rates[rates.len() / 2],
            rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", "),
            list_s[list_s.len() / 2],
        );
    }
}

// ---- 2. Who can see this point: CameraIndex vs PostGIS --------------------------------------

/// The query point as a geography, in terms of the first two parameters.
const POINT: &str = "ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography";

fn seeing_sql() -> String {
    // `$3` is the largest range of any camera: a constant radius lets ST_DWithin use the GiST
    // index; each camera's own range and sector are then checked on the candidates. The sector
    // test mirrors polis_domain::geometry::sees: within range, and either a full circle, or the
    // point at the camera itself, or the bearing within fov/2 of the heading.
    format!(
        "SELECT c.id, m.d FROM bench_cameras c \
         CROSS JOIN LATERAL (SELECT ST_Distance(c.pos, {POINT}) AS d) m \
         WHERE ST_DWithin(c.pos, {POINT}, $3) \
           AND m.d <= c.range_m \
           AND (c.full_circle OR m.d < 1e-6 OR \
                abs(degrees(ST_Azimuth(c.pos, {POINT})) - c.heading_deg \
                    - 360 * round((degrees(ST_Azimuth(c.pos, {POINT})) - c.heading_deg) / 360)) \
                <= c.fov_deg / 2 + 1e-9) \
         ORDER BY m.d, c.id LIMIT 10"
    )
}

async fn bench_seeing(cams: &[Camera], center: LatLon) {
    println!("\n## who can see this point: {CAMERAS} cameras on a {} km disc, limit 10", RADIUS_M / 1000.0);
    let points = synthetic::points(WARMUP + QUERIES, 7, center, RADIUS_M);
    let (warm, timed) = points.split_at(WARMUP);

    let t = Instant::now();
    let index = CameraIndex::from_cameras(cams);
    println!("CameraIndex::from_cameras: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    for p in warm {
        black_box(index.seeing(*p, None, 10));
    }
    let mut index_times = Vec::with_capacity(QUERIES);
    let mut index_ids = Vec::with_capacity(QUERIES);
    for p in timed {
        let t = Instant::now();
        let hits = index.seeing(black_box(*p), None, 10);
        index_times.push(t.elapsed());
        index_ids.push(hits);
    }
    let hits: usize = index_ids.iter().map(Vec::len).sum();
    println!("CameraIndex::seeing: {} ({:.2} hits per query)", summary(&mut index_times), hits as f64 / QUERIES as f64);

    let Some(server) = std::env::var("POLIS_BENCH_PG_URL").ok().filter(|u| !u.trim().is_empty()) else {
        println!("PostGIS: skipped (set POLIS_BENCH_PG_URL, or run scripts/bench)");
        return;
    };
    let name = format!("polis_bench_{}", std::process::id());
    let mut admin = PgConnection::connect(&server).await.expect("connect to POLIS_BENCH_PG_URL");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await.expect("drop old");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
    let result = postgis(&with_database(&server, &name), cams, warm, timed).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.expect("drop");
    let (mut pg_times, pg_ids) = result;

    let pg = summary(&mut pg_times);
    println!("PostGIS query:       {pg}");
    let mut mismatches = 0;
    let mut max_dd: f64 = 0.0;
    for ((p, ours), theirs) in timed.iter().zip(&index_ids).zip(&pg_ids) {
        let our_ids: Vec<&str> = ours.iter().map(|h| h.id.as_str()).collect();
        let their_ids: Vec<&str> = theirs.iter().map(|(id, _)| id.as_str()).collect();
        if our_ids != their_ids {
            mismatches += 1;
            if mismatches <= 3 {
                println!("  differs at ({}, {}): index {our_ids:?}, PostGIS {their_ids:?}", p.lat(), p.lon());
            }
        } else {
            for (h, (_, d)) in ours.iter().zip(theirs) {
                max_dd = max_dd.max((h.distance_m - d).abs());
            }
        }
    }
    println!(
        "agreement: {} of {QUERIES} points give the same ids in the same order; largest distance difference {:.1e} m",
        QUERIES - mismatches,
        max_dd
    );
    let p50 = |v: &[Duration]| percentile(v, 0.50).as_secs_f64();
    let p99 = |v: &[Duration]| percentile(v, 0.99).as_secs_f64();
    println!(
        "ratio PostGIS / CameraIndex: p50 {:.0}x, p99 {:.0}x",
        p50(&pg_times) / p50(&index_times),
        p99(&pg_times) / p99(&index_times)
    );
}

/// Loads the cameras into a fresh PostGIS database and runs the query for every point; returns
/// each query's latency and answer.
async fn postgis(
    url: &str,
    cams: &[Camera],
    warm: &[LatLon],
    timed: &[LatLon],
) -> (Vec<Duration>, Vec<Vec<(String, f64)>>) {
    let mut c = PgConnection::connect(url).await.expect("connect to the bench database");
    let version: String = sqlx::query_scalar("SELECT version()").fetch_one(&mut c).await.expect("version");
    sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis").execute(&mut c).await.expect("create extension postgis");
    let postgis: String = sqlx::query_scalar("SELECT postgis_full_version()").fetch_one(&mut c).await.expect("postgis");
    println!("server: {}", version.split(" on ").next().unwrap_or(&version));
    println!("PostGIS: {}", postgis.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
    sqlx::query(
        "CREATE TABLE bench_cameras (
            id TEXT COLLATE \"C\" PRIMARY KEY,
            pos geography(Point, 4326) NOT NULL,
            heading_deg DOUBLE PRECISION NOT NULL,
            fov_deg DOUBLE PRECISION NOT NULL,
            range_m DOUBLE PRECISION NOT NULL,
            full_circle BOOLEAN NOT NULL
        )",
    )
    .execute(&mut c)
    .await
    .expect("create table");

    let t = Instant::now();
    sqlx::query(
        "INSERT INTO bench_cameras (id, pos, heading_deg, fov_deg, range_m, full_circle)
         SELECT id, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, h, f, r, fc
         FROM UNNEST($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::bool[])
           AS t(id, lon, lat, h, f, r, fc)",
    )
    .bind(cams.iter().map(|c| c.id.to_string()).collect::<Vec<_>>())
    .bind(cams.iter().map(|c| c.position.lon()).collect::<Vec<_>>())
    .bind(cams.iter().map(|c| c.position.lat()).collect::<Vec<_>>())
    .bind(cams.iter().map(|c| c.heading.deg()).collect::<Vec<_>>())
    .bind(cams.iter().map(|c| c.fov.deg()).collect::<Vec<_>>())
    .bind(cams.iter().map(|c| c.range.m()).collect::<Vec<_>>())
    .bind(cams.iter().map(|c| c.kind == CameraKind::Ptz || c.fov.deg() >= 360.0).collect::<Vec<_>>())
    .execute(&mut c)
    .await
    .expect("load cameras");
    sqlx::query("CREATE INDEX bench_cameras_pos ON bench_cameras USING gist (pos)")
        .execute(&mut c)
        .await
        .expect("index");
    sqlx::query("ANALYZE bench_cameras").execute(&mut c).await.expect("analyze");
    println!("PostGIS load of {} cameras + GiST index: {:.1} s", cams.len(), t.elapsed().as_secs_f64());

    let max_range = cams.iter().map(|c| c.range.m()).fold(0.0, f64::max);
    let sql = seeing_sql();
    let p = warm.first().copied().unwrap_or(LatLon::new(0.0, 0.0).expect("valid"));
    let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}"))
        .bind(p.lon())
        .bind(p.lat())
        .bind(max_range)
        .fetch_all(&mut c)
        .await
        .expect("explain");
    let uses_index = plan.iter().any(|l| l.contains("bench_cameras_pos"));
    println!("query plan uses the GiST index: {}", if uses_index { "yes" } else { "NO" });

    let run = |p: LatLon| sqlx::query(&sql).bind(p.lon()).bind(p.lat()).bind(max_range);
    for p in warm {
        run(*p).fetch_all(&mut c).await.expect("warm-up query");
    }
    let mut times = Vec::with_capacity(timed.len());
    let mut answers = Vec::with_capacity(timed.len());
    for p in timed {
        let t = Instant::now();
        let rows = run(*p).fetch_all(&mut c).await.expect("query");
        times.push(t.elapsed());
        answers.push(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<f64, _>(1))).collect::<Vec<(String, f64)>>());
    }
    let _ = c.close().await;
    (times, answers)
}

// ---- Helpers --------------------------------------------------------------------------------

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Sorts `times` and describes them.
fn summary(times: &mut [Duration]) -> String {
    times.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    format!(
        "{} queries: p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        times.len(),
        us(percentile(times, 0.50)),
        us(percentile(times, 0.99)),
        us(percentile(times, 1.0))
    )
}

/// `url` with its database (path) replaced by `db`, keeping any `?query`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    format!("{}/{db}{query}", &base[..path])
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
