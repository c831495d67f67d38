use polis_domain::*;
use std::time::Instant;
#[tokio::main]
async fn main() {
    let n = 100_000;
    let cams: Vec<Camera> = (0..n)
        .map(|i| Camera {
            id: Id::from_trusted(format!("syn-{i:06}")),
            municipality: Id::from_trusted("kazanlak"),
            name: format!("Synthetic camera {i}"),
            position: LatLon::new(42.6 + (i as f64) * 1e-6, 25.39).unwrap(),
            mount_height_m: 6.0,
            heading: Heading::new(90.0).unwrap(),
            fov: FieldOfView::new(60.0).unwrap(),
            range: RangeM::new("r", 100.0).unwrap(),
            kind: CameraKind::Fixed,
            stream: Some(StreamUrl::parse("s", "rtsp://admin:secret@10.0.0.5:554/Streaming/Channels/101").unwrap()),
            sub_stream: Some(StreamUrl::parse("s", "rtsp://admin:secret@10.0.0.5:554/Streaming/Channels/102").unwrap()),
            retention_days: 30,
            owner: None,
            status: CameraStatus::Active,
            demo: false,
        })
        .collect();
    let audit: Vec<AuditRecord> = cams.iter().map(|c| AuditRecord { at: time::OffsetDateTime::now_utc(), actor: "admin (admin)".into(), action: "camera.create".into(), entity: "camera".into(), entity_id: c.id.to_string(), municipality: Some(c.municipality.clone()), before: None, after: Some(format!("{{\"id\":\"{}\",\"name\":\"{}\",\"lat\":42.6,\"lon\":25.39,\"heading_deg\":90,\"fov_deg\":60,\"range_m\":100,\"kind\":\"fixed\",\"stream_url\":\"rtsp://10.0.0.5:554/Streaming/Channels/101\"}}", c.id, c.name)) }).collect();
    for with_audit in [false, true, false, true, false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = polis_store::open_sqlite(&dir.path().join("b.db")).await.unwrap();
        let t = Instant::now();
        store.insert_cameras(&cams, if with_audit { &audit } else { &[] }).await.unwrap();
        let s = t.elapsed().as_secs_f64();
        println!("audit={with_audit}: {:.3}s {:.0} cams/s", s, n as f64 / s);
        if std::env::var("NO_LIST").is_ok() { continue; }
        let t = Instant::now();
        let back = store.list_cameras().await.unwrap();
        println!("  list {} in {:.3}s", back.len(), t.elapsed().as_secs_f64());
        let size = |n: &str| std::fs::metadata(dir.path().join(n)).map(|m| m.len() / 1_000_000).unwrap_or(0);
        println!("  db {} MB, wal {} MB", size("b.db"), size("b.db-wal"));
    }
}
