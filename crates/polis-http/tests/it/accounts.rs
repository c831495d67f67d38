//! Accounts: disabling a user or logging out ends their tokens, event streams, live video and
//! tickets at once; administrators manage users without locking themselves out; the audit log
//! is searched and exported.

use crate::both;
use crate::harness::{assert_error, camera, TestApp};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The id of a user by username, as the administrator lists them.
async fn user_id(t: &TestApp, username: &str) -> String {
    let (s, b) = t.get("/api/v1/users").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let u = b.as_array().unwrap().iter().find(|u| u["username"] == username).unwrap_or_else(|| panic!("{b}"));
    u["id"].as_str().unwrap().to_string()
}

async fn patch_as(t: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    t.call(t.req_as(token, Method::PATCH, path).json(&body)).await
}

async fn me(t: &TestApp, token: &str) -> StatusCode {
    t.call(t.req_as(token, Method::GET, "/api/v1/me")).await.0
}

async fn sse(t: &TestApp, token: &str) -> reqwest::Response {
    let r = t
        .req_as(token, Method::GET, "/api/v1/events?types=registry")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r
}

/// Reads an SSE response until it ends; `true` when it ended within `secs` seconds.
async fn sse_ends_within(resp: &mut reqwest::Response, secs: u64) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => return false,
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Ok(Err(_)) => return true,
        }
    }
}

/// Reads SSE data until a registry event naming camera `id` arrives (within 10 s).
async fn sse_sees(resp: &mut reqwest::Response, id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while !text.contains(&format!("\"ids\":[\"{id}\"]")) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk()).await.expect("an event within 10 s");
        let chunk = chunk.expect("readable").expect("the stream is still open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn ticket(t: &TestApp, token: &str) -> String {
    let (s, b) = t.call(t.req_as(token, Method::POST, "/api/v1/events/ticket")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["ticket"].as_str().unwrap().to_string()
}

async fn ws_events(t: &TestApp, ticket: &str) -> Ws {
    let url = format!("{}/api/v1/events?types=registry&ticket={ticket}", t.base.replace("http", "ws"));
    tokio_tungstenite::connect_async(url.into_client_request().unwrap()).await.expect("upgrade").0
}

async fn ticket_refused(t: &TestApp, ticket: &str) -> bool {
    let url = format!("{}/api/v1/events?types=registry&ticket={ticket}", t.base.replace("http", "ws"));
    tokio_tungstenite::connect_async(url.into_client_request().unwrap()).await.is_err()
}

/// Reads a WebSocket until it closes (a close frame, an error or its end); `true` when within
/// `secs` seconds. Returns the text messages seen.
async fn ws_closes_within(ws: &mut Ws, secs: u64) -> (bool, Vec<String>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut texts = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return (false, texts),
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return (true, texts),
            Ok(Some(Ok(Message::Text(s)))) => texts.push(s.to_string()),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Opens live video of `camera` as `token` and waits for its first picture.
async fn live_video(t: &TestApp, camera: &str, token: &str) -> Ws {
    let url = format!("{}/api/v1/cameras/{camera}/live?stream=main", t.base.replace("http", "ws"));
    let mut ws = crate::harness::ws_live(url.as_str(), &format!("polis.token.{token}")).await.expect("upgrade");
    loop {
        let m = tokio::time::timeout(Duration::from_secs(15), ws.next()).await.expect("video").unwrap().unwrap();
        if let Message::Binary(b) = m {
            if &b[4..8] == b"moof" {
                return ws;
            }
        }
    }
}

both!(disabling_a_user_ends_their_tokens_streams_video_and_tickets_at_once);
async fn disabling_a_user_ends_their_tokens_streams_video_and_tickets_at_once(t: TestApp) {
    let mut cam = camera("acc-cam", 42.62, 25.39, 90.0);
    cam["stream_url"] = "demo://test/Accounts".into();
    assert_eq!(t.post("/api/v1/cameras", cam).await.0, StatusCode::CREATED);
    let op = t.user("leaving.operator", "operator", "kazanlak").await;
    let other_token = t.login("leaving.operator", "password-123").await;
    let id = user_id(&t, "leaving.operator").await;

    // Everything a console holds open: an SSE stream, a WebSocket stream from a ticket, live
    // video, and a ticket not used yet.
    let mut stream = sse(&t, &op).await;
    let mut socket = ws_events(&t, &ticket(&t, &op).await).await;
    let mut video = live_video(&t, "acc-cam", &op).await;
    let spare = ticket(&t, &other_token).await;
    assert_eq!(t.post("/api/v1/cameras", camera("acc-2", 42.62, 25.39, 0.0)).await.0, StatusCode::CREATED);
    sse_sees(&mut stream, "acc-2").await;

    let (s, b) = patch_as(&t, &t.token, &format!("/api/v1/users/{id}"), json!({"disabled": true})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["disabled"], true);

    assert!(sse_ends_within(&mut stream, 5).await, "the event stream is still open after disabling");
    assert!(ws_closes_within(&mut socket, 5).await.0, "the event socket is still open after disabling");
    let (closed, texts) = ws_closes_within(&mut video, 5).await;
    assert!(closed, "live video still plays after disabling");
    assert!(texts.iter().any(|m| m.contains("unauthenticated")), "{texts:?}");
    assert_eq!(me(&t, &op).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&t, &other_token).await, StatusCode::UNAUTHORIZED, "every token of the user ends");
    assert!(ticket_refused(&t, &spare).await, "a ticket of a disabled user still opens the stream");

    // Signing in is refused, saying why.
    let (s, b) = t
        .call(
            t.client
                .post(t.url("/api/v1/auth/login"))
                .json(&json!({"username": "leaving.operator", "password": "password-123"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("disabled"), "{b}");
    let (_, list) = t.get("/api/v1/users").await;
    assert!(list.as_array().unwrap().iter().any(|u| u["id"] == id.as_str() && u["disabled"] == true), "{list}");

    // Re-enabled: they sign in again, with new tokens only.
    let (s, b) = patch_as(&t, &t.token, &format!("/api/v1/users/{id}"), json!({"disabled": false})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let again = t.login("leaving.operator", "password-123").await;
    assert_eq!(me(&t, &again).await, StatusCode::OK);
    assert_eq!(me(&t, &op).await, StatusCode::UNAUTHORIZED, "an old token does not come back");

    let (s, log) = t.get(&format!("/api/v1/audit?object={id}")).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["user.enable", "user.disable", "user.create"], "{log}");
    assert_eq!(log[1]["actor"], "admin");
    assert_eq!(log[1]["after"]["disabled"], true);
}

both!(logging_out_ends_that_sessions_streams_video_and_tickets_only);
async fn logging_out_ends_that_sessions_streams_video_and_tickets_only(t: TestApp) {
    let mut cam = camera("out-cam", 42.62, 25.39, 90.0);
    cam["stream_url"] = "demo://test/Logout".into();
    assert_eq!(t.post("/api/v1/cameras", cam).await.0, StatusCode::CREATED);
    let first = t.user("two.sessions", "operator", "kazanlak").await;
    let second = t.login("two.sessions", "password-123").await;
    let mut ended = sse(&t, &first).await;
    let mut socket = ws_events(&t, &ticket(&t, &first).await).await;
    let mut video = live_video(&t, "out-cam", &first).await;
    let spare = ticket(&t, &first).await;
    let mut kept = sse(&t, &second).await;

    let (s, _) = t.call(t.req_as(&first, Method::POST, "/api/v1/auth/logout")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(sse_ends_within(&mut ended, 5).await, "the logged-out session's stream is still open");
    assert!(ws_closes_within(&mut socket, 5).await.0, "the logged-out session's socket is still open");
    assert!(ws_closes_within(&mut video, 5).await.0, "the logged-out session's video still plays");
    assert!(ticket_refused(&t, &spare).await, "a ticket of a logged-out session still opens the stream");
    assert_eq!(me(&t, &first).await, StatusCode::UNAUTHORIZED);

    // The other session of the same user goes on.
    assert_eq!(me(&t, &second).await, StatusCode::OK);
    assert_eq!(t.post("/api/v1/cameras", camera("out-2", 42.62, 25.39, 0.0)).await.0, StatusCode::CREATED);
    sse_sees(&mut kept, "out-2").await;
}

both!(administrators_cannot_lock_themselves_out);
async fn administrators_cannot_lock_themselves_out(t: TestApp) {
    let root = user_id(&t, "admin").await;
    let path = format!("/api/v1/users/{root}");
    let (s, b) = patch_as(&t, &t.token, &path, json!({"disabled": true})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("your own account"), "{b}");
    let (s, b) = patch_as(&t, &t.token, &path, json!({"role": "operator", "municipality": "kazanlak"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (s, b) = patch_as(&t, &t.token, &path, json!({"municipality": "kazanlak"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(me(&t, &t.token).await, StatusCode::OK);

    // A municipal administrator manages their own municipality's users only.
    let kz_admin = t.user("kz.admin", "admin", "kazanlak").await;
    let sz_op = {
        t.user("sz.op", "operator", "stara-zagora").await;
        user_id(&t, "sz.op").await
    };
    let (s, b) = patch_as(&t, &kz_admin, &path, json!({"disabled": true})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a region-wide administrator is not theirs: {b}");
    let (s, b) = patch_as(&t, &kz_admin, &format!("/api/v1/users/{sz_op}"), json!({"disabled": true})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    t.user("kz.op", "operator", "kazanlak").await;
    let kz_op = user_id(&t, "kz.op").await;
    let (s, b) =
        patch_as(&t, &kz_admin, &format!("/api/v1/users/{kz_op}"), json!({"municipality": "stara-zagora"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, b) = patch_as(&t, &kz_admin, &format!("/api/v1/users/{kz_op}"), json!({"disabled": true})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Operators administer nobody.
    let op = t.login("sz.op", "password-123").await;
    let (s, _) = patch_as(&t, &op, &format!("/api/v1/users/{kz_op}"), json!({"disabled": false})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(t.call(t.req_as(&op, Method::GET, "/api/v1/users")).await.0, StatusCode::FORBIDDEN);
}

both!(users_are_listed_with_their_last_login_and_changed_with_an_audit_trail);
async fn users_are_listed_with_their_last_login_and_changed_with_an_audit_trail(t: TestApp) {
    let old = t.user("ivan", "operator", "kazanlak").await;
    let id = user_id(&t, "ivan").await;
    let (s, text) = {
        let r = t.req(Method::GET, "/api/v1/users").send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(s, StatusCode::OK);
    assert!(!text.contains("password") && !text.contains("argon2"), "{text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let ivan = list.as_array().unwrap().iter().find(|u| u["id"] == id.as_str()).unwrap();
    assert!(ivan["last_login_at"].is_string(), "{ivan}");
    assert_eq!(ivan["disabled"], false);
    let never = t
        .post(
            "/api/v1/users",
            json!({"username": "new.one", "password": "password-123", "role": "viewer", "municipality": "kazanlak"}),
        )
        .await;
    assert_eq!(never.0, StatusCode::CREATED, "{}", never.1);
    assert!(never.1["last_login_at"].is_null(), "{}", never.1);

    // Role and organisation.
    let path = format!("/api/v1/users/{id}");
    let (s, b) = patch_as(&t, &t.token, &path, json!({"role": "supervisor"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["role"], "supervisor");
    assert_eq!(me(&t, &old).await, StatusCode::OK, "a new role keeps the session");
    let (_, me_now) = t.call(t.req_as(&old, Method::GET, "/api/v1/me")).await;
    assert_eq!(me_now["role"], "supervisor", "and applies at once");
    let (s, b) = patch_as(&t, &t.token, &path, json!({"role": "agency"})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "agency", None);
    let (s, b) = patch_as(&t, &t.token, &path, json!({"role": "mayor"})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "role", None);
    let (s, b) = patch_as(&t, &t.token, &path, json!({"colour": "red"})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "colour", None);
    let (s, b) = patch_as(&t, &t.token, &path, json!({"disabled": "yes"})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "disabled", None);
    let (s, b) = patch_as(&t, &t.token, "/api/v1/users/nobody", json!({"disabled": true})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");

    // A reset password ends the sessions; the old password no longer works.
    let (s, b) = patch_as(&t, &t.token, &path, json!({"password": "short"})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "password", None);
    let (s, b) = patch_as(&t, &t.token, &path, json!({"password": "a-new-password-42"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(!b.to_string().contains("a-new-password-42"));
    assert_eq!(me(&t, &old).await, StatusCode::UNAUTHORIZED);
    let (s, _) = t
        .call(t.client.post(t.url("/api/v1/auth/login")).json(&json!({"username": "ivan", "password": "password-123"})))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    t.login("ivan", "a-new-password-42").await;

    let (_, log) = t.get(&format!("/api/v1/audit?object={id}")).await;
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["user.password_reset", "user.update", "user.create"], "{log}");
    assert_eq!(log[1]["before"]["role"], "operator");
    assert_eq!(log[1]["after"]["role"], "supervisor");
    assert!(!log.to_string().contains("a-new-password-42") && !log.to_string().contains("argon2"), "{log}");
}

both!(the_audit_log_is_searched_by_actor_action_object_and_time);
async fn the_audit_log_is_searched_by_actor_action_object_and_time(t: TestApp) {
    let sup = t.user("sup", "supervisor", "kazanlak").await;
    assert_eq!(t.post("/api/v1/cameras", camera("au-1", 42.62, 25.39, 0.0)).await.0, StatusCode::CREATED);
    assert_eq!(t.post("/api/v1/cameras", camera("au-2", 42.62, 25.39, 0.0)).await.0, StatusCode::CREATED);
    let (s, b) = t.call(t.req_as(&sup, Method::PATCH, "/api/v1/cameras/au-1").json(&json!({"name": "Gate"}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let ids = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| (e["action"].as_str().unwrap().to_string(), e["entity_id"].as_str().unwrap().to_string()))
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    };
    let (_, by_sup) = t.get("/api/v1/audit?actor=sup").await;
    assert_eq!(ids(&by_sup), pairs(&[("camera.update", "au-1")]));
    let (_, created) = t.get("/api/v1/audit?action=camera.create").await;
    assert_eq!(ids(&created), pairs(&[("camera.create", "au-2"), ("camera.create", "au-1")]));
    let (_, cameras) = t.get("/api/v1/audit?action=camera").await;
    assert_eq!(cameras.as_array().unwrap().len(), 3, "{cameras}");
    let (_, one) = t.get("/api/v1/audit?object=au-1").await;
    assert_eq!(ids(&one), pairs(&[("camera.update", "au-1"), ("camera.create", "au-1")]));
    let (_, both) = t.get("/api/v1/audit?object=au-1&actor=admin").await;
    assert_eq!(ids(&both), pairs(&[("camera.create", "au-1")]));

    // Time: from is included, to is not.
    let at = created[0]["at"].as_str().unwrap().to_string();
    let enc = |s: &str| s.replace('+', "%2B").replace(':', "%3A");
    let (_, since) = t.get(&format!("/api/v1/audit?action=camera&from={}", enc(&at))).await;
    assert!(ids(&since).contains(&("camera.create".into(), "au-2".into())), "{since}");
    let later = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, none) = t.get(&format!("/api/v1/audit?from={}", enc(&later))).await;
    assert_eq!(none, json!([]));
    let (_, until) = t.get(&format!("/api/v1/audit?action=camera&to={}", enc(&at))).await;
    assert!(!ids(&until).contains(&("camera.create".into(), "au-2".into())), "{until}");
    let (s, b) = t.get("/api/v1/audit?from=yesterday").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "from", None);

    // Scoped: a Stara Zagora administrator sees none of it; an operator may not search.
    let sz = t.user("sz.admin", "admin", "stara-zagora").await;
    let (s, theirs) = t.call(t.req_as(&sz, Method::GET, "/api/v1/audit?action=camera")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(theirs, json!([]));
    let op = t.user("kz.operator", "operator", "kazanlak").await;
    assert_eq!(t.call(t.req_as(&op, Method::GET, "/api/v1/audit")).await.0, StatusCode::FORBIDDEN);
}

both!(the_audit_csv_export_cannot_run_formulas);
async fn the_audit_csv_export_cannot_run_formulas(t: TestApp) {
    // A username a spreadsheet would read as a formula (-2-3 = -5).
    let odd = t.user("-2-3", "admin", "kazanlak").await;
    let (s, _) =
        t.call(t.req_as(&odd, Method::POST, "/api/v1/cameras").json(&camera("csv-1", 42.62, 25.39, 0.0))).await;
    assert_eq!(s, StatusCode::CREATED);
    let r = t.req(Method::GET, "/api/v1/audit.csv?object=csv-1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let headers = rows.headers().unwrap().clone();
    assert_eq!(headers.get(2), Some("actor"));
    let recs: Vec<csv::StringRecord> = rows.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), 1, "{text}");
    assert_eq!(recs[0].get(2), Some("'-2-3"), "{text}");
    assert_eq!(recs[0].get(3), Some("camera.create"));
    let after: Value = serde_json::from_str(recs[0].get(8).unwrap()).unwrap();
    assert_eq!(after["id"], "csv-1");
    assert!(!text.contains("pa55word"), "a stream password in the audit export: {text}");
}

both!(the_account_routes_are_documented);
async fn the_account_routes_are_documented(t: TestApp) {
    let doc: Value = t.client.get(t.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for (path, method) in [("/users/{id}", "patch"), ("/users/{id}", "get"), ("/audit.csv", "get"), ("/audit", "get")] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
    let params: Vec<&str> = doc["paths"]["/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in ["actor", "action", "object", "from", "to"] {
        assert!(params.contains(&p), "/audit does not document {p}");
    }
    let user = &doc["components"]["schemas"]["User"]["properties"];
    assert!(user["disabled"].is_object() && user["last_login_at"].is_object(), "{user}");
}
