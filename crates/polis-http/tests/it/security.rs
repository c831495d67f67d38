//! Authentication, roles, municipality scoping, rate limiting, secrets.

use crate::both;
use crate::harness::{assert_error, camera, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

both!(every_api_but_health_needs_a_token);
async fn every_api_but_health_needs_a_token(t: TestApp) {
    let r = t.client.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = t.client.get(t.url("/metrics")).send().await.unwrap();
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
