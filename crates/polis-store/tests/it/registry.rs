//! Organisations, cameras, key sites and sensors: round trips, ordering, all-or-nothing batches,
//! updates and deletes.

use crate::fixtures::*;
use polis_base::{Error, ErrorKind};
use polis_domain::{CameraKind, CameraStatus, Heading, Priority, Sector, SiteGeometry, StreamUrl};
use polis_store::DynStore;

fn sorted<T: Clone>(items: &[T], key: impl Fn(&T) -> String) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort_by_key(|x| key(x));
    v
}

/// Asserts an `AlreadyExists` naming field `id` at item `row`.
fn assert_taken(e: &Error, row: usize) {
    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e:?}");
    assert_eq!(e.details.len(), 1, "{e:?}");
    assert_eq!(e.details[0].field, "id");
    assert_eq!(e.details[0].row, Some(row), "{e:?}");
}

pub async fn organisations_round_trip_and_put_replaces(store: DynStore) {
    let kz = municipality("kazanlak");
    let police = agency("police-kz", "kazanlak");
    store.put_organisation(&police, None).await.expect("put agency");
    store
        .put_organisation(&kz, Some(&audit("create", "organisation", "kazanlak", Some("kazanlak"), 1)))
        .await
        .expect("put");
    assert_eq!(store.list_organisations().await.expect("list"), vec![kz.clone(), police.clone()]);

    let renamed = polis_domain::Organisation { name_en: "Municipality of Kazanlak".into(), demo: true, ..kz };
    store.put_organisation(&renamed, None).await.expect("put again");
    assert_eq!(store.list_organisations().await.expect("list"), vec![renamed, police]);
    assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 1);
}

pub async fn cameras_round_trip_with_every_field_and_their_credentials(store: DynStore) {
    let mut user_only = camera("cam-user-only");
    user_only.stream = Some(StreamUrl::parse("stream_url", "rtsp://viewer@10.0.0.9/live").expect("url"));
    user_only.sub_stream = None;
    let mut no_credentials = camera("cam-open");
    no_credentials.stream = Some(StreamUrl::parse("stream_url", "https://cams.example/kz/1.m3u8").expect("url"));
    let cams = vec![camera("cam-2"), bare_camera("cam-1"), user_only, no_credentials];
    store.insert_cameras(&cams, &[]).await.expect("insert");

    let back = store.list_cameras().await.expect("list");
    assert_eq!(back, sorted(&cams, |c| c.id.to_string()));
    // The comparison above covers secrets too (Secret compares its text); say it outright.
    let full = back.iter().find(|c| c.id.as_str() == "cam-2").expect("cam-2");
    assert_eq!(
        full.stream.as_ref().expect("stream").with_credentials().expose(),
        "rtsp://admin:p@ss:w/rd%20секрет@10.0.0.5:554/Streaming/Channels/101"
    );
    assert_eq!(full.sub_stream.as_ref().and_then(|s| s.password.as_ref()).map(|p| p.expose()), Some("another-secret"));
}

pub async fn sites_round_trip_points_polygons_and_sectors(store: DynStore) {
    let sites = vec![polygon_site("site-dam"), point_site("site-school")];
    store.insert_sites(&sites, &[]).await.expect("insert");
    let back = store.list_sites().await.expect("list");
    assert_eq!(back, sites);
    match &back[0].geometry {
        SiteGeometry::Polygon(ring) => assert_eq!(ring.len(), 4, "the ring comes back open, as it went in"),
        g => panic!("expected a polygon, got {g:?}"),
    }
}

pub async fn sensors_round_trip(store: DynStore) {
    let sensors = vec![sensor("s-2"), bare_sensor("s-1")];
    store.insert_sensors(&sensors, &[]).await.expect("insert");
    assert_eq!(store.list_sensors().await.expect("list"), sorted(&sensors, |s| s.id.to_string()));
}

/// Ids sort byte by byte on both engines, whatever PostgreSQL's locale: the order of `Id`.
pub async fn lists_are_ordered_by_id_byte_order(store: DynStore) {
    let ids = ["b", "a_1", "B", "a-2", "A10", "a.1", "a10", "Z"];
    let cams: Vec<_> = ids.iter().map(|i| bare_camera(i)).collect();
    store.insert_cameras(&cams, &[]).await.expect("insert");
    let mut expected: Vec<_> = ids.iter().map(|i| id(i)).collect();
    expected.sort();
    let got: Vec<_> = store.list_cameras().await.expect("list").into_iter().map(|c| c.id).collect();
    assert_eq!(got, expected);
    assert_eq!(got.first().map(|i| i.as_str()), Some("A10"), "upper case sorts first");
}

pub async fn a_repeated_id_within_a_batch_writes_nothing(store: DynStore) {
    let batch = vec![camera("a"), camera("b"), camera("c"), camera("b"), camera("a")];
    let e = store.insert_cameras(&batch, &[audit("import", "camera", "*", Some("kazanlak"), 1)]).await.unwrap_err();
    assert_taken(&e, 3);
    assert!(e.message.contains("\"b\""), "{}", e.message);
    assert!(store.list_cameras().await.expect("list").is_empty());
    assert!(store.list_audit(None, 10).await.expect("audit").is_empty(), "no audit for a change that did not happen");
}

pub async fn an_id_taken_by_an_existing_row_writes_nothing(store: DynStore) {
    store.insert_cameras(&[camera("x")], &[audit("create", "camera", "x", Some("kazanlak"), 1)]).await.expect("first");
    let batch = vec![camera("p"), camera("q"), bare_camera("x"), camera("r")];
    let e = store.insert_cameras(&batch, &[audit("import", "camera", "*", Some("kazanlak"), 2)]).await.unwrap_err();
    assert_taken(&e, 2);
    assert_eq!(store.list_cameras().await.expect("list"), vec![camera("x")], "x is unchanged, p and q are not there");
    assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 1);

    // An item taken in the table wins over a later repeat within the batch: it comes first.
    let batch = vec![camera("p"), camera("x"), camera("p")];
    assert_taken(&store.insert_cameras(&batch, &[]).await.unwrap_err(), 1);
}

pub async fn sites_and_sensors_batches_are_all_or_nothing(store: DynStore) {
    store.insert_sites(&[point_site("s1")], &[]).await.expect("site");
    let e = store.insert_sites(&[polygon_site("s2"), point_site("s1")], &[]).await.unwrap_err();
    assert_taken(&e, 1);
    assert_eq!(store.list_sites().await.expect("list").len(), 1);

    store.insert_sensors(&[sensor("w1")], &[]).await.expect("sensor");
    let e = store.insert_sensors(&[sensor("w2"), sensor("w3"), sensor("w2")], &[]).await.unwrap_err();
    assert_taken(&e, 2);
    let e = store.insert_sensors(&[sensor("w1")], &[]).await.unwrap_err();
    assert_taken(&e, 0);
    assert_eq!(store.list_sensors().await.expect("list"), vec![sensor("w1")]);
}

/// A batch larger than one INSERT statement: a taken id in a later statement rolls back the
/// earlier ones and is reported at its own index.
pub async fn a_large_batch_with_a_taken_id_far_in_writes_nothing(store: DynStore) {
    let mut cams = many_cameras("big", 5_000);
    store.insert_cameras(&[cams[4_321].clone()], &[]).await.expect("seed one");
    cams[4_321].name = "changed".into();
    let e = store.insert_cameras(&cams, &[]).await.unwrap_err();
    assert_taken(&e, 4_321);
    let back = store.list_cameras().await.expect("list");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].name, "c", "the existing row is not overwritten");

    cams.remove(4_321);
    store.insert_cameras(&cams, &[]).await.expect("the rest goes in");
    assert_eq!(store.list_cameras().await.expect("list").len(), 5_000);
}

pub async fn updates_replace_every_field_and_deletes_remove(store: DynStore) {
    store.insert_cameras(&[camera("c1"), camera("c2")], &[]).await.expect("insert");
    let mut c1 = bare_camera("c1");
    c1.heading = Heading::new(-90.0).expect("heading");
    c1.kind = CameraKind::Thermal;
    c1.status = CameraStatus::Decommissioned;
    store.update_camera(&c1, &audit("update", "camera", "c1", Some("kazanlak"), 1)).await.expect("update");
    assert_eq!(store.list_cameras().await.expect("list"), vec![c1.clone(), camera("c2")]);
    assert!(store.list_cameras().await.expect("list")[0].stream.is_none(), "credentials removed by the update");

    store.delete_camera(&id("c2"), &audit("delete", "camera", "c2", Some("kazanlak"), 2)).await.expect("delete");
    assert_eq!(store.list_cameras().await.expect("list"), vec![c1]);

    store.insert_sites(&[point_site("s")], &[]).await.expect("site");
    let mut s = polygon_site("s");
    s.sectors = vec![Sector::Tourism, Sector::Disaster, Sector::Safety];
    s.priority = Priority::new(2).expect("priority");
    store.update_site(&s, &audit("update", "site", "s", Some("kazanlak"), 3)).await.expect("update site");
    assert_eq!(store.list_sites().await.expect("list"), vec![s]);
    store.delete_site(&id("s"), &audit("delete", "site", "s", Some("kazanlak"), 4)).await.expect("delete site");
    assert!(store.list_sites().await.expect("list").is_empty());

    store.insert_sensors(&[sensor("w")], &[]).await.expect("sensor");
    let w = bare_sensor("w");
    store.update_sensor(&w, &audit("update", "sensor", "w", Some("kazanlak"), 5)).await.expect("update sensor");
    assert_eq!(store.list_sensors().await.expect("list"), vec![w]);
    store.delete_sensor(&id("w"), &audit("delete", "sensor", "w", Some("kazanlak"), 6)).await.expect("delete sensor");
    assert!(store.list_sensors().await.expect("list").is_empty());

    let actions: Vec<_> =
        store.list_audit(None, 100).await.expect("audit").into_iter().map(|e| e.record.action).collect();
    assert_eq!(actions, ["delete", "update", "delete", "update", "delete", "update"]);
}

pub async fn update_or_delete_of_a_missing_id_is_not_found_and_audits_nothing(store: DynStore) {
    let a = audit("update", "camera", "ghost", Some("kazanlak"), 1);
    let not_found = |r: polis_base::Result<()>| r.map_err(|e| e.kind).unwrap_err() == ErrorKind::NotFound;
    assert!(not_found(store.update_camera(&camera("ghost"), &a).await));
    assert!(not_found(store.delete_camera(&id("ghost"), &a).await));
    assert!(not_found(store.update_site(&point_site("ghost"), &a).await));
    assert!(not_found(store.delete_site(&id("ghost"), &a).await));
    assert!(not_found(store.update_sensor(&sensor("ghost"), &a).await));
    assert!(not_found(store.delete_sensor(&id("ghost"), &a).await));
    assert!(store.list_cameras().await.expect("list").is_empty(), "an update does not create");
    assert!(store.list_audit(None, 10).await.expect("audit").is_empty());
}

/// Writes from many tasks at once queue for the single writer instead of failing.
pub async fn concurrent_writers_all_land(store: DynStore) {
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    let code = format!("t{t:02}-{i}");
                    store.insert_cameras(&[bare_camera(&code)], &[audit("create", "camera", &code, None, i)]).await?;
                }
                Ok::<(), polis_base::Error>(())
            })
        })
        .collect::<Vec<_>>();
    for t in tasks {
        t.await.expect("task").expect("insert");
    }
    assert_eq!(store.list_cameras().await.expect("list").len(), 160);
    assert_eq!(store.list_audit(None, 1000).await.expect("audit").len(), 160);
}

/// ONVIF links: stored with the password (the caller keeps it secret), replaced, audited, and
/// removed with their camera.
pub async fn onvif_links_round_trip_and_go_with_their_camera(store: DynStore) {
    use polis_domain::{OnvifLink, PtzCalibration};
    let cam = camera("ptz-1");
    store.insert_cameras(std::slice::from_ref(&cam), &[]).await.expect("camera");
    assert_eq!(store.onvif_link(&cam.id).await.expect("read"), None);
    let link = OnvifLink {
        camera: cam.id.clone(),
        url: "http://10.0.0.5:8080/onvif/device_service".into(),
        username: "onvif".into(),
        password: "S3cret/with?odd&chars".into(),
        profile: None,
        calibration: PtzCalibration { pan_north: -0.125, pan_degrees: 180.0, tilt_degrees: 45.5 },
    };
    store.put_onvif_link(&link, &audit("onvif_link", "camera", "ptz-1", Some("kazanlak"), 1)).await.expect("put");
    assert_eq!(store.onvif_link(&cam.id).await.expect("read"), Some(link.clone()));
    let changed = OnvifLink { profile: Some("Profile_Sub".into()), username: "ptz".into(), ..link.clone() };
    store
        .put_onvif_link(&changed, &audit("onvif_link", "camera", "ptz-1", Some("kazanlak"), 2))
        .await
        .expect("put again");
    assert_eq!(store.onvif_link(&cam.id).await.expect("read"), Some(changed.clone()));
    assert_eq!(store.onvif_links().await.expect("all"), vec![changed]);
    assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 2);
    // Removing: audited once, and only when there was one.
    assert!(store
        .delete_onvif_link(&cam.id, &audit("onvif_unlink", "camera", "ptz-1", None, 3))
        .await
        .expect("delete"));
    assert!(!store
        .delete_onvif_link(&cam.id, &audit("onvif_unlink", "camera", "ptz-1", None, 4))
        .await
        .expect("again"));
    assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 3);
    // A deleted camera's link goes with it.
    store.put_onvif_link(&link, &audit("onvif_link", "camera", "ptz-1", None, 5)).await.expect("put");
    store.delete_camera(&cam.id, &audit("delete", "camera", "ptz-1", None, 6)).await.expect("delete camera");
    assert_eq!(store.onvif_link(&cam.id).await.expect("read"), None);
}
