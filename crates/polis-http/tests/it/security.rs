//! Authentication, roles, municipality scoping, rate limiting, secrets.

use crate::both;
use crate::harness::{assert_error, camera, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

both!(every_api_but_health_needs_a_token);
async fn every_api_but_health_needs_a_token(t: TestApp) {
    let r = t.client.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Metrics are behind a token (issue 14): an administrator's here.
    let r = t.req(Method::GET, "/metrics").send().await.unwrap();
    assert!(r.text().await.unwrap().contains("polis_http_requests_total"));
    for path in [
        "/api/v1/cameras",
        "/api/v1/sites",
        "/api/v1/sensors",
        "/api/v1/cameras/seeing?lat=42&lon=25",
        "/api/v1/audit",
        "/api/v1/users",
        "/api/v1/me",
    ] {
        let r = t.client.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let b: serde_json::Value = r.json().await.unwrap();
        assert_eq!(b["error"]["code"], "unauthenticated", "{path}");
        let r = t.client.get(t.url(path)).bearer_auth("not-a-token").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = t.client.post(t.url("/api/v1/cameras")).json(&camera("x", 42.6, 25.4, 0.0)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(t.count("/api/v1/cameras").await, 0);

    // Logging out ends the session.
    let token = t.login("admin", crate::harness::ADMIN_PASSWORD).await;
    let (s, _) = t.call(t.req_as(&token, Method::POST, "/api/v1/auth/logout")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = t.call(t.req_as(&token, Method::GET, "/api/v1/me")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

both!(failed_logins_are_rate_limited);
async fn failed_logins_are_rate_limited(t: TestApp) {
    let login = |pw: &'static str| {
        t.client.post(t.url("/api/v1/auth/login")).json(&json!({"username": "admin", "password": pw})).send()
    };
    for _ in 0..5 {
        let r = login("wrong-password").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login(crate::harness::ADMIN_PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the right password must not get through a lockout");
    assert!(r.headers().contains_key("retry-after"));
    let (s, b) = t.call(t.client.post(t.url("/api/v1/auth/login")).json(&json!({"username": "admin"}))).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "password", None);
}

both!(another_municipality_sees_nothing_and_changes_nothing);
async fn another_municipality_sees_nothing_and_changes_nothing(t: TestApp) {
    assert_eq!(t.post("/api/v1/cameras", camera("kz-1", 42.619, 25.393, 90.0)).await.0, StatusCode::CREATED);
    let sz = t.user("sz-admin", "admin", "stara-zagora").await;
    let (s, b) = t.call(t.req_as(&sz, Method::GET, "/api/v1/cameras/kz-1")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (_, b) = t.call(t.req_as(&sz, Method::GET, "/api/v1/cameras")).await;
    assert_eq!(b["features"].as_array().unwrap().len(), 0);
    let (_, b) = t.call(t.req_as(&sz, Method::GET, "/api/v1/cameras/seeing?lat=42.619&lon=25.3935")).await;
    assert_eq!(b["features"].as_array().unwrap().len(), 0, "{b}");
    let (s, _) = t.call(t.req_as(&sz, Method::PATCH, "/api/v1/cameras/kz-1").json(&json!({"name": "mine"}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t.call(t.req_as(&sz, Method::DELETE, "/api/v1/cameras/kz-1")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) =
        t.call(t.req_as(&sz, Method::POST, "/api/v1/cameras").json(&camera("sz-into-kz", 42.6, 25.4, 0.0))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["error"]["code"], "permission_denied");
    let csv = "id,municipality,name,lat,lon,heading_deg,fov_deg,range_m\nx1,kazanlak,X,42.6,25.4,0,60,50\n";
    let (s, _) = t
        .call(t.req_as(&sz, Method::POST, "/api/v1/import/cameras").header("content-type", "text/csv").body(csv))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Their own municipality is theirs: the default municipality is their own.
    let mut own = camera("sz-1", 42.42, 25.63, 0.0);
    own.as_object_mut().unwrap().remove("municipality");
    let (s, b) = t.call(t.req_as(&sz, Method::POST, "/api/v1/cameras").json(&own)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["municipality"], "stara-zagora");
    let (s, _) = t
        .call(
            t.req_as(&sz, Method::POST, "/api/v1/users").json(
                &json!({"username": "x", "password": "password-123", "role": "viewer", "municipality": "kazanlak"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, b) = t.get("/api/v1/cameras/kz-1").await;
    assert_eq!(b["name"], "Camera kz-1", "the other municipality changed nothing");
    let (_, audit) = t.call(t.req_as(&sz, Method::GET, "/api/v1/audit")).await;
    assert!(audit.as_array().unwrap().iter().all(|e| e["municipality"] == "stara-zagora"), "{audit}");
}

both!(roles_limit_what_users_may_do);
async fn roles_limit_what_users_may_do(t: TestApp) {
    assert_eq!(t.post("/api/v1/cameras", camera("c", 42.619, 25.393, 90.0)).await.0, StatusCode::CREATED);
    let viewer = t.user("viewer-1", "viewer", "kazanlak").await;
    let operator = t.user("operator-1", "operator", "kazanlak").await;
    for token in [&viewer, &operator] {
        let (s, _) = t.call(t.req_as(token, Method::GET, "/api/v1/cameras")).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = t.call(t.req_as(token, Method::POST, "/api/v1/cameras").json(&camera("v", 42.6, 25.4, 0.0))).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = t.call(t.req_as(token, Method::DELETE, "/api/v1/cameras/c")).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = t.call(t.req_as(token, Method::GET, "/api/v1/audit")).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = t
            .call(
                t.req_as(token, Method::POST, "/api/v1/users")
                    .json(&json!({"username": "y", "password": "password-123", "role": "admin"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    // Agency liaisons see only what is shared with them: not the registry.
    let (s, b) = t.post("/api/v1/organisations", json!({"id": "kz-police", "kind": "agency", "agency_kind": "police", "municipality": "kazanlak", "name_en": "Police"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = t.post("/api/v1/users", json!({"username": "liaison", "password": "password-123", "role": "agency", "municipality": "kazanlak", "agency": "kz-police"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let agency = t.login("liaison", "password-123").await;
    let (s, _) = t.call(t.req_as(&agency, Method::GET, "/api/v1/cameras")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = t
        .post(
            "/api/v1/users",
            json!({"username": "bad", "password": "short", "role": "viewer", "municipality": "kazanlak"}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "password", None);
    let (s, b) = t
        .post(
            "/api/v1/users",
            json!({"username": "viewer-1", "password": "password-123", "role": "viewer", "municipality": "kazanlak"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
}

both!(secrets_never_leave_the_server);
async fn secrets_never_leave_the_server(t: TestApp) {
    let mut c = camera("s1", 42.619, 25.393, 90.0);
    c["sub_stream_url"] = json!("rtsp://viewer:pa55word@10.1.1.1/sub");
    assert_eq!(t.post("/api/v1/cameras", c).await.0, StatusCode::CREATED);
    for path in [
        "/api/v1/cameras",
        "/api/v1/cameras/s1",
        "/api/v1/cameras/seeing?lat=42.619&lon=25.3935",
        "/api/v1/export/cameras.csv",
        "/api/v1/audit",
        "/api/v1/users",
    ] {
        let text = t.req(Method::GET, path).send().await.unwrap().text().await.unwrap();
        assert!(!text.contains("pa55word") && !text.contains("argon2"), "{path} leaked a secret: {text}");
    }
}

both!(the_openapi_document_lists_every_route);
async fn the_openapi_document_lists_every_route(t: TestApp) {
    let r = t.client.get(t.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/auth/login",
        "/auth/logout",
        "/me",
        "/console/config",
        "/cameras",
        "/cameras/seeing",
        "/cameras/near",
        "/cameras/{id}",
        "/sites",
        "/sites/near",
        "/sites/within",
        "/sites/{id}",
        "/sites/{id}/cameras",
        "/sensors",
        "/sensors/near",
        "/sensors/{id}",
        "/import/{kind}",
        "/export/cameras.csv",
        "/organisations",
        "/users",
        "/audit",
        "/incidents",
        "/incidents/{id}",
        "/incidents/{id}/transitions",
        "/incidents/{id}/shares",
        "/share",
        "/units",
        "/procedures",
        "/sos/alerts",
        "/stats/incidents",
        "/plans",
        "/plans/models",
        "/plans/{id}",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }
}

// ---- Issue 14: the security review's findings, one regression test each --------------------

/// A star of `n` corners around Kazanlak's centre (two corners swapped when `crossing`, so that
/// its edges cross), as a GeoJSON Polygon.
fn polygon(n: usize, crossing: bool) -> serde_json::Value {
    let mut ring: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let r = if i % 2 == 0 { 0.01 } else { 0.008 };
            [25.393 + r * a.cos(), 42.619 + r * a.sin()]
        })
        .collect();
    if crossing {
        ring.swap(n / 4, 3 * n / 4);
    }
    ring.push(ring[0]);
    json!({"type": "Polygon", "coordinates": [ring]})
}

/// The best of three tries: (status, body, seconds).
async fn timed_within(t: &TestApp, token: &str, body: &serde_json::Value) -> (StatusCode, serde_json::Value, f64) {
    let text = body.to_string();
    let mut best: Option<(StatusCode, serde_json::Value, f64)> = None;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let (s, b) = t
            .call(
                t.req_as(token, Method::POST, "/api/v1/sites/within")
                    .header("content-type", "application/json")
                    .body(text.clone()),
            )
            .await;
        let secs = started.elapsed().as_secs_f64();
        if best.as_ref().is_none_or(|x| secs < x.2) {
            best = Some((s, b, secs));
        }
    }
    best.expect("three tries")
}

both!(issue_14_a_viewers_huge_polygon_is_answered_at_once);
async fn issue_14_a_viewers_huge_polygon_is_answered_at_once(t: TestApp) {
    let viewer = t.user("poly-viewer", "viewer", "kazanlak").await;
    // 40,000 corners: refused (too many, or too large a body) within half a second.
    let (s, b, secs) = timed_within(&t, &viewer, &polygon(40_000, false)).await;
    assert!(s.is_client_error(), "{s} {b}");
    assert!(secs < 0.5, "40,000 corners took {secs:.3} s");
    // One corner over the limit: refused, naming the geometry.
    let (s, b, _) = timed_within(&t, &viewer, &polygon(polis_domain::polygon::MAX_CORNERS + 1, false)).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "geometry", None);
    // At the limit: answered, and a crossing found without comparing every pair of edges.
    let (s, b, secs) = timed_within(&t, &viewer, &polygon(polis_domain::polygon::MAX_CORNERS, false)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(secs < 2.0, "10,000 corners took {secs:.3} s");
    let (s, b, secs) = timed_within(&t, &viewer, &polygon(polis_domain::polygon::MAX_CORNERS, true)).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "geometry", None);
    assert!(b["error"]["details"][0]["message"].as_str().unwrap_or("").contains("cross"), "{b}");
    assert!(secs < 2.0, "a crossing 10,000-corner ring took {secs:.3} s");
}

/// Sends a request head announcing a body it never sends; the first line of the answer.
async fn head_only(t: &TestApp, token: &str, path: &str, length: u64) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = t.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/csv\r\nContent-Length: {length}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("an answer before the body")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string()
}

both!(issue_14_imports_check_rights_before_the_body_and_when_empty);
async fn issue_14_imports_check_rights_before_the_body_and_when_empty(t: TestApp) {
    let viewer = t.user("import-viewer", "viewer", "kazanlak").await;
    // 200 MB announced, none sent: the viewer is refused at once.
    let first = head_only(&t, &viewer, "/api/v1/import/cameras", 200_000_000).await;
    assert!(first.contains(" 403 "), "{first}");
    let first = head_only(&t, &viewer, "/api/v1/plans", 200_000_000).await;
    assert!(first.contains(" 403 "), "{first}");
    // An empty import is a refused import too.
    let header_only = "id,municipality,name,lat,lon,heading_deg,fov_deg,range_m\n";
    let (s, b) = t
        .call(
            t.req_as(&viewer, Method::POST, "/api/v1/import/cameras")
                .header("content-type", "text/csv")
                .body(header_only),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, b) = t
        .call(
            t.req(Method::POST, "/api/v1/import/cameras?municipality=kazanlak")
                .header("content-type", "text/csv")
                .body(header_only),
        )
        .await;
    assert_eq!((s, b["imported"].as_u64()), (StatusCode::OK, Some(0)), "{b}");
}

both!(issue_14_stream_credentials_in_every_form_never_leave_the_server);
async fn issue_14_stream_credentials_in_every_form_never_leave_the_server(t: TestApp) {
    let forms = [
        ("q-1", "rtsp://10.0.0.5/live?user=admin&password=S3cret", "S3cret"),
        ("q-2", "rtsp://10.0.0.5/cam/realmonitor?channel=1&subtype=0&pwd=Pwd-77x", "Pwd-77x"),
        ("q-3", "http://10.0.0.5/video.cgi?token=tok-4417", "tok-4417"),
        ("slash", "rtsp://admin:sl/ash-pw@10.0.0.6:554/live", "sl/ash-pw"),
        ("qmark", "rtsp://admin:q?mark-pw@10.0.0.7/live", "q?mark-pw"),
    ];
    for (id, url, _) in forms {
        let mut c = camera(id, 42.619, 25.393, 90.0);
        c["stream_url"] = json!(url);
        let (s, b) = t.post("/api/v1/cameras", c).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["has_credentials"], true, "{id}: {b}");
    }
    // A PATCH that sends the URL back as shown keeps the credentials.
    let (_, shown) = t.get("/api/v1/cameras/q-1").await;
    assert_eq!(shown["stream_url"], "rtsp://10.0.0.5/live", "{shown}");
    let (s, b) = t
        .call(
            t.req(Method::PATCH, "/api/v1/cameras/q-1")
                .json(&json!({"name": "Renamed", "stream_url": shown["stream_url"]})),
        )
        .await;
    assert_eq!((s, &b["has_credentials"]), (StatusCode::OK, &json!(true)), "{b}");
    // The stream still gets them.
    let cam: polis_domain::Camera =
        t.app.get(&polis_domain::Actor::system(), &polis_domain::Id::from_trusted("q-1")).await.unwrap();
    assert_eq!(
        cam.stream.as_ref().unwrap().with_credentials().expose(),
        "rtsp://10.0.0.5/live?user=admin&password=S3cret"
    );
    let viewer = t.user("cred-viewer", "viewer", "kazanlak").await;
    for token in [&t.token, &viewer] {
        for path in [
            "/api/v1/cameras",
            "/api/v1/cameras/q-1",
            "/api/v1/cameras/slash",
            "/api/v1/cameras/near?lat=42.619&lon=25.393&radius_m=100",
            "/api/v1/cameras/seeing?lat=42.619&lon=25.3935",
            "/api/v1/export/cameras.csv",
            "/api/v1/audit",
        ] {
            let text = t.req_as(token, Method::GET, path).send().await.unwrap().text().await.unwrap();
            for (_, _, secret) in forms {
                assert!(!text.contains(secret), "{path} shows {secret}: {text}");
            }
        }
    }
}

/// The open-files limit of this process.
fn open_files_limit() -> usize {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// A second server on the test's application, with its own limits and options.
async fn serve_with(t: &TestApp, limits: polis_http::server::Limits, options: polis_http::HttpOptions) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = polis_http::router_with(t.app.clone(), polis_http::ConsoleConfig::default(), options);
    tokio::spawn(polis_http::server::serve(listener, router, limits, std::future::pending()));
    base
}

both!(issue_14_health_answers_under_a_flood_of_half_sent_requests);
async fn issue_14_health_answers_under_a_flood_of_half_sent_requests(t: TestApp) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // 2,000 idle half-sent requests against a server that keeps at most a tenth as many
    // connections (fewer if this process may not open that many sockets: each counts twice,
    // client and server side, and both stores' halves may run at once).
    let flood = 2_000.min(open_files_limit().saturating_sub(400) / 4).max(100);
    let max_connections = flood / 10;
    let limits = polis_http::server::Limits {
        max_connections,
        header_read_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let base = serve_with(&t, limits, Default::default()).await;
    let addr = base.trim_start_matches("http://").to_string();
    let closed = std::sync::Arc::new(AtomicUsize::new(0));
    for _ in 0..flood {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        let closed = closed.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 256];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            closed.fetch_add(1, Ordering::Relaxed);
        });
    }
    let started = std::time::Instant::now();
    let r = t.client.get(format!("{base}/healthz")).timeout(std::time::Duration::from_secs(5)).send().await;
    let r = r.expect("/healthz answers under the flood");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "/healthz took {:?}", started.elapsed());
    // The server held at most its limit: the rest were closed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while closed.load(Ordering::Relaxed) < flood - max_connections {
        assert!(std::time::Instant::now() < deadline, "only {} of {flood} closed", closed.load(Ordering::Relaxed));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // And the header-read timeout closes the others.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while closed.load(Ordering::Relaxed) < flood {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {flood} still open",
            flood - closed.load(Ordering::Relaxed)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

both!(issue_14_live_video_wants_credentials_in_the_upgrade_and_has_a_per_user_limit);
async fn issue_14_live_video_wants_credentials_in_the_upgrade_and_has_a_per_user_limit(t: TestApp) {
    let mut cam = camera("lv-1", 42.62, 25.39, 90.0);
    cam["stream_url"] = "demo://test/Limit".into();
    assert_eq!(t.post("/api/v1/cameras", cam).await.0, StatusCode::CREATED);
    let url = format!("{}/api/v1/cameras/lv-1/live?stream=sub", t.base.replace("http", "ws"));
    // No credentials: refused at once, before any upgrade.
    let started = std::time::Instant::now();
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    // A bad token: refused at once too.
    match crate::harness::ws_live(&url, "polis.token.not-a-token").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    // A user has at most 16 live views open; closing one frees its place.
    let op = t.user("lv-op", "operator", "kazanlak").await;
    let mut open = Vec::new();
    for _ in 0..polis_http::MAX_LIVE_PER_USER {
        open.push(crate::harness::ws_live(&url, &format!("polis.token.{op}")).await.expect("a live view"));
    }
    match crate::harness::ws_live(&url, &format!("polis.token.{op}")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 429),
        other => panic!("expected 429, got {:?}", other.map(|_| ())),
    }
    // Another user is not limited by them.
    assert!(crate::harness::ws_live(&url, &format!("polis.token.{}", t.token)).await.is_ok());
    drop(open.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match crate::harness::ws_live(&url, &format!("polis.token.{op}")).await {
            Ok(_) => break,
            Err(e) => assert!(std::time::Instant::now() < deadline, "the freed place never came back: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A client whose requests come from loopback address `127.0.0.<n>`.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap()
}

async fn login_from(t: &TestApp, n: u8, username: &str, password: &str) -> StatusCode {
    let r = client_from(n)
        .post(t.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    r.status()
}

both!(issue_14_login_throttling_slows_guessers_without_locking_out_the_owner);
async fn issue_14_login_throttling_slows_guessers_without_locking_out_the_owner(t: TestApp) {
    // The owner logs in from their desk (127.0.0.1, as the harness did) and a colleague from the
    // control room's address 127.0.0.9.
    let (s, b) = t
        .post(
            "/api/v1/users",
            json!({"username": "desk", "password": "password-123", "role": "operator", "municipality": "kazanlak"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(login_from(&t, 9, "desk", "password-123").await, StatusCode::OK);
    // Guesses at the admin's password from two addresses, five each: the account-wide count
    // has used its free failures.
    for n in 2..=3 {
        for _ in 0..5 {
            assert_eq!(login_from(&t, n, "admin", "wrong-password").await, StatusCode::UNAUTHORIZED);
        }
    }
    // A new address must wait (even with the right password, so a guesser learns nothing)...
    assert_eq!(login_from(&t, 5, "admin", crate::harness::ADMIN_PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    // ...the owner at their usual address gets in.
    assert_eq!(login_from(&t, 1, "admin", crate::harness::ADMIN_PASSWORD).await, StatusCode::OK);
    // Thirty usernames from the control room's address: new accounts from it must wait, the
    // colleague who works there gets in.
    for i in 0..30 {
        assert_eq!(login_from(&t, 9, &format!("nobody-{i}"), "wrong-password").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login_from(&t, 9, "nobody-new", "wrong-password").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_from(&t, 9, "desk", "password-123").await, StatusCode::OK);
}

both!(issue_14_organisations_are_created_once_and_keep_their_kind);
async fn issue_14_organisations_are_created_once_and_keep_their_kind(t: TestApp) {
    // POST on an existing id: 409, and nothing changes (a municipality does not become an agency).
    let (s, b) = t
        .post(
            "/api/v1/organisations",
            json!({"id": "kazanlak", "kind": "agency", "agency_kind": "police", "municipality": "stara-zagora", "name_en": "Taken"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (_, orgs) = t.get("/api/v1/organisations").await;
    let kz = orgs.as_array().unwrap().iter().find(|o| o["id"] == "kazanlak").cloned().unwrap();
    assert_eq!((kz["kind"].as_str(), kz["name_en"].as_str()), (Some("municipality"), Some("Kazanlak")), "{kz}");
    // Another municipality's administrator learns nothing of whose the id is.
    let (s, b) = t
        .post(
            "/api/v1/organisations",
            json!({"id": "kz-fire", "kind": "agency", "agency_kind": "fire_safety", "municipality": "kazanlak", "name_en": "Fire"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let sz = t.user("sz-org-admin", "admin", "stara-zagora").await;
    let (s, b) = t
        .call(t.req_as(&sz, Method::POST, "/api/v1/organisations").json(
            &json!({"id": "kz-fire", "kind": "agency", "agency_kind": "fire_safety", "municipality": "stara-zagora", "name_en": "Fire"}),
        ))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(!b.to_string().contains("kazanlak"), "{b}");
    // The domain keeps kinds: a replacement that changes it is refused.
    let mut org: polis_domain::Organisation =
        polis_domain::Organisation { kind: polis_domain::OrgKind::Agency, ..kz_org() };
    org.agency_kind = Some(polis_domain::AgencyKind::Police);
    let e = t.app.put_organisation(&polis_domain::Actor::system(), org).await.unwrap_err();
    assert_eq!(e.details[0].field, "kind", "{e}");
}

fn kz_org() -> polis_domain::Organisation {
    polis_domain::Organisation {
        id: polis_domain::Id::from_trusted("kazanlak"),
        kind: polis_domain::OrgKind::Municipality,
        name_bg: "Казанлък".into(),
        name_en: "Kazanlak".into(),
        municipality: polis_domain::Id::from_trusted("kazanlak"),
        agency_kind: None,
        demo: false,
    }
}

both!(issue_14_ids_are_safe_as_file_names_everywhere);
async fn issue_14_ids_are_safe_as_file_names_everywhere(t: TestApp) {
    for bad in [".", "..", ".hidden"] {
        let (s, b) = t.post("/api/v1/cameras", camera(bad, 42.619, 25.393, 90.0)).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "id", None);
        let (s, b) =
            t.post("/api/v1/organisations", json!({"id": bad, "kind": "municipality", "name_en": "Dots"})).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "id", None);
        let csv =
            format!("id,municipality,name,lat,lon,heading_deg,fov_deg,range_m\n{bad},kazanlak,X,42.6,25.4,0,60,50\n");
        let (s, b) =
            t.call(t.req(Method::POST, "/api/v1/import/cameras").header("content-type", "text/csv").body(csv)).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "id", Some(2));
    }
    let video = std::path::Path::new("/nonexistent/video");
    assert!(polis_core::video::inside(video, "..").is_err());
    assert!(polis_core::video::inside(video, "cam/../../etc").is_err());
    assert!(polis_core::video::inside(video, "/etc/passwd").is_err());
    assert!(polis_core::video::inside(video, "cam-1/1700000000000.mp4").is_ok());
}

both!(issue_14_downloads_csv_headers_shares_and_metrics_are_safe);
async fn issue_14_downloads_csv_headers_shares_and_metrics_are_safe(t: TestApp) {
    // An attachment named with control characters downloads, under a clean name.
    let op = t.user("dl-op", "operator", "kazanlak").await;
    let (s, inc) = t
        .call(t.req_as(&op, Method::POST, "/api/v1/incidents").json(&json!({
            "type": "traffic_accident", "priority": 2, "lat": 42.619, "lon": 25.393, "description": "x"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inc}");
    let id = inc["id"].as_str().unwrap();
    let (s, att) = t
        .call(
            t.req_as(&op, Method::POST, &format!("/api/v1/incidents/{id}/attachments?name=re%01port%0A%22x%22.txt"))
                .header("content-type", "text/plain")
                .body("hello"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{att}");
    let r = t
        .req_as(&op, Method::GET, &format!("/api/v1/attachments/{}", att["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cd = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(cd.starts_with("attachment; filename=\"report_x_.txt\""), "{cd}");
    assert_eq!(r.text().await.unwrap(), "hello");

    // CSV cells that a spreadsheet would run are escaped.
    let mut c = camera("csv-1", 42.619, 25.393, 90.0);
    c["name"] = json!("=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(t.post("/api/v1/cameras", c).await.0, StatusCode::CREATED);
    let csv = t.req(Method::GET, "/api/v1/export/cameras.csv").send().await.unwrap().text().await.unwrap();
    let row = csv.lines().find(|l| l.starts_with("csv-1")).unwrap();
    assert!(row.contains("\"'=HYPERLINK(") && !row.contains(",=HYPERLINK") && !row.contains(",\"=HYPERLINK"), "{row}");

    // Security headers on the API, the console and the share page.
    for path in ["/api/v1/me", "/", "/share.html", "/healthz"] {
        let r = t.req(Method::GET, path).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h.get("x-frame-options").map(|v| v.to_str().unwrap()), Some("DENY"), "{path}");
        assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{path}");
        assert_eq!(h.get("referrer-policy").map(|v| v.to_str().unwrap()), Some("no-referrer"), "{path}");
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
    }

    // Guessing share tokens is throttled after ten misses.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r =
            t.client.get(t.url("/api/v1/share")).header("x-polis-share", format!("guess-{i}")).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    assert!(statuses[..10].iter().all(|s| *s == 403), "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");

    // /metrics wants a token: an administrator's, or the configured metrics token.
    let r = t.client.get(t.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let viewer = t.user("metrics-viewer", "viewer", "kazanlak").await;
    assert_eq!(t.req_as(&viewer, Method::GET, "/metrics").send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let r = t.req(Method::GET, "/metrics").send().await.unwrap();
    assert!(r.text().await.unwrap().contains("polis_http_requests_total"));
    let options =
        polis_http::HttpOptions { metrics_token: Some("scrape-token-0123456789".into()), ..Default::default() };
    let base = serve_with(&t, Default::default(), options).await;
    let r = t.client.get(format!("{base}/metrics")).bearer_auth("scrape-token-0123456789").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = t.client.get(format!("{base}/metrics")).bearer_auth("scrape-token-wrong").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

both!(issue_14_schema_fuzzer_findings_stay_fixed);
/// What Schemathesis found (`crates/polis/tests/fuzz.rs`), each as the fuzzer sent it.
async fn issue_14_schema_fuzzer_findings_stay_fixed(t: TestApp) {
    // A NUL character in a login (PostgreSQL cannot store one in text) is a wrong login or a
    // refusal naming the field, never a server error; so in a query filter.
    for username in ["\u{0}", "ad\u{0}min"] {
        let (s, b) = t
            .call(t.client.post(t.url("/api/v1/auth/login")).json(&json!({"username": username, "password": "x"})))
            .await;
        assert!(s == StatusCode::UNAUTHORIZED || s == StatusCode::BAD_REQUEST, "{username:?}: {s} {b}");
    }
    let (s, b) = t.get("/api/v1/audit?actor=%00&object=a%00b").await;
    assert!(s == StatusCode::OK || s == StatusCode::BAD_REQUEST, "{s} {b}");
    let mut c = camera("nul-1", 42.619, 25.393, 90.0);
    c["name"] = json!("Sq\u{0}uare");
    let (s, b) = t.post("/api/v1/cameras", c).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "name", None);

    // Whitespace (Unicode's NEL, %C2%85) is not a number: refused naming the parameter, not
    // taken as "absent".
    for path in ["/api/v1/audit?limit=%C2%85", "/api/v1/audit?before=%20", "/api/v1/audit.csv?limit=%C2%85"] {
        let (s, b) = t.get(path).await;
        let field = if path.contains("before") { "before" } else { "limit" };
        assert_error(s, &b, StatusCode::BAD_REQUEST, field, None);
    }
    for path in ["/api/v1/cameras/near?lat=%C2%85&lon=25&radius_m=100", "/api/v1/alarms?limit=%C2%85"] {
        let (s, _) = t.get(path).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}");
    }
    let (s, b) = t.get("/api/v1/audit?limit=").await;
    assert_eq!(s, StatusCode::OK, "an empty value is absent: {b}");
    // A filter given twice is refused, not taken as its last value.
    for (path, field) in [
        ("/api/v1/audit.csv?limit=%07&limit=&action=", "limit"),
        ("/api/v1/audit?actor=a&actor=b", "actor"),
        ("/api/v1/alarms?limit=%07&limit=", "limit"),
        ("/api/v1/cameras/near?lat=42.6&lon=25.4&radius_m=100&lat=", "lat"),
    ] {
        let (s, b) = t.get(path).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, field, None);
    }

    // `null` only where the document says nullable.
    let (s, me) = t.get("/api/v1/me").await;
    assert_eq!(s, StatusCode::OK);
    let me = me["id"].as_str().unwrap().to_string();
    for field in ["password", "role", "disabled"] {
        let (s, b) = t.call(t.req(Method::PATCH, &format!("/api/v1/users/{me}")).json(&json!({ field: null }))).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, field, None);
    }

    // The administrators' share routes (/shares/...) are not share-token uses: failed share
    // links from an address throttle /share, never an administrator's /shares.
    for i in 0..12 {
        t.client.get(t.url("/api/v1/share")).header("x-polis-share", format!("guess-{i}")).send().await.unwrap();
    }
    let (s, _) = t.call(t.client.get(t.url("/api/v1/share")).header("x-polis-share", "guess-x")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let (s, b) = t.get("/api/v1/shares/no-such-share/uses").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, _) = t.call(t.client.get(t.url("/api/v1/shares/no-such-share/uses"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // An SOS device id taken in another municipality: a documented 409.
    let device = |m: &str| json!({"id": "sos-9", "municipality": m, "label": "Band", "profile": {"name": "A. B."}});
    assert_eq!(t.post("/api/v1/sos/devices", device("kazanlak")).await.0, StatusCode::CREATED);
    let (s, b) = t.post("/api/v1/sos/devices", device("stara-zagora")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    // Ids in the warnings' paths are checked: a 400 naming `id`.
    let (s, b) = t.get("/api/v1/warnings/%C3%A5%C3%A8").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "id", None);
}

both!(issue_14_a_body_over_the_limit_is_a_json_413);
/// A body over its route's limit is refused before it is read with the JSON error of every other
/// 4xx (axum's own answer is plain text), as the document says.
async fn issue_14_a_body_over_the_limit_is_a_json_413(t: TestApp) {
    let viewer = t.user("big-viewer", "viewer", "kazanlak").await;
    let big = |bytes: usize| format!("{{\"pad\": \"{}\"}}", "x".repeat(bytes));
    for (token, path, bytes) in [
        (&viewer, "/api/v1/sites/within", 1024 * 1024 + 1),
        (&t.token, "/api/v1/cameras", 2 * 1024 * 1024 + 1),
        (&t.token, "/api/v1/rules", 2 * 1024 * 1024 + 1),
    ] {
        let rb = t.req_as(token, Method::POST, path).header("content-type", "application/json").body(big(bytes));
        let (s, b) = t.call(rb).await;
        assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "body", None);
        assert_eq!(b["error"]["code"], "payload_too_large", "{path}");
    }
    // Nothing was made of them.
    assert_eq!(t.count("/api/v1/cameras").await, 0);
}

/// Issue 13, HTTPS: `polis serve --tls-cert --tls-key` serves the API over TLS with
/// `Strict-Transport-Security`; a client speaking plain HTTP to it, or one that never finishes
/// its handshake, gets nothing and holds nothing; a key that does not match the certificate is
/// refused at start, naming the problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_the_api_with_hsts_and_refuses_plain_http() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let (cert, key) = (dir.path().join(format!("{name}.pem")), dir.path().join(format!("{name}.key")));
        let ok = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .args([
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-addext",
                "extendedKeyUsage=serverAuth",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl (Debian's openssl package)");
        assert!(ok.success());
        (cert, key)
    };
    let (cert, key) = make("a");
    let (_, other_key) = make("b");
    let e = polis_http::server::tls_config(&cert, &other_key).unwrap_err();
    assert!(e.contains("do not go together"), "{e}");
    let e = polis_http::server::tls_config(&key, &key).unwrap_err();
    assert!(e.contains("no certificate"), "{e}");

    let t = crate::harness::spawn(crate::harness::Backend::Sqlite).await;
    let tls = polis_http::server::tls_config(&cert, &key).expect("the TLS settings");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = polis_http::router_with(t.app.clone(), polis_http::ConsoleConfig::default(), Default::default());
    let limits =
        polis_http::server::Limits { header_read_timeout: std::time::Duration::from_secs(1), ..Default::default() };
    tokio::spawn(polis_http::server::serve_tls(listener, router, limits, Some(tls), std::future::pending()));

    let pem = std::fs::read(&cert).unwrap();
    let client =
        reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap()).build().unwrap();
    let base = format!("https://localhost:{}", addr.port());
    let r = client.get(format!("{base}/healthz")).send().await.expect("an HTTPS answer");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    // The API works over it: sign in, then a request with the token.
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": crate::harness::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let token = login.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let me = client.get(format!("{base}/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let plain = reqwest::Client::new().get(format!("http://{addr}/healthz")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "plain HTTP was served");
    // A client that opens a connection and never says hello is let go after the header timeout.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), idle.read(&mut buf)).await;
    assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "the silent connection was kept: {n:?}");
    let _ = idle.write_all(b"x").await;
}
