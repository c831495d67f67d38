//! The live event stream: SSE with resume, scoping, filters.

use crate::both;
use crate::harness::{assert_error, camera, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Reads SSE events from a streaming response until `n` events (ignoring comments/keep-alives).
pub async fn read_events(resp: &mut reqwest::Response, n: usize) -> Vec<(String, String, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event within 10 s")
            .expect("stream readable")
            .expect("stream not closed");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut ty, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("event:") {
                    ty = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !data.is_empty() {
                out.push((id, ty, serde_json::from_str(&data).expect("JSON data")));
            }
        }
    }
    out
}

async fn subscribe(t: &TestApp, token: &str, last_id: Option<&str>) -> reqwest::Response {
    let mut rb = t.req_as(token, Method::GET, "/api/v1/events?types=registry").header("accept", "text/event-stream");
    if let Some(id) = last_id {
        rb = rb.header("last-event-id", id);
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    r
}

both!(a_reconnecting_client_gets_what_it_missed_and_nothing_twice);
async fn a_reconnecting_client_gets_what_it_missed_and_nothing_twice(t: TestApp) {
    let mut stream = subscribe(&t, &t.token, None).await;
    assert_eq!(t.post("/api/v1/cameras", camera("e1", 42.619, 25.393, 0.0)).await.0, StatusCode::CREATED);
    let first = read_events(&mut stream, 1).await;
    let (id1, ty, data) = &first[0];
    assert_eq!(ty, "registry");
    assert_eq!(data["type"], "registry");
    assert_eq!(data["municipality"], "kazanlak");
    assert_eq!(data["data"]["entity"], "camera");
    assert_eq!(data["data"]["change"], "created");
    assert_eq!(data["data"]["ids"][0], "e1");
    drop(stream);

    // While disconnected: two changes.
    assert_eq!(t.post("/api/v1/cameras", camera("e2", 42.619, 25.393, 0.0)).await.0, StatusCode::CREATED);
    let (s, _) = t.call(t.req(Method::DELETE, "/api/v1/cameras/e1")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let mut again = subscribe(&t, &t.token, Some(id1)).await;
    assert_eq!(t.post("/api/v1/cameras", camera("e3", 42.619, 25.393, 0.0)).await.0, StatusCode::CREATED);
    let got = read_events(&mut again, 3).await;
    let summary: Vec<(String, String)> = got
        .iter()
        .map(|(_, _, d)| {
            (d["data"]["change"].as_str().unwrap().to_string(), d["data"]["ids"][0].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        summary,
        vec![("created".into(), "e2".into()), ("deleted".into(), "e1".into()), ("created".into(), "e3".into())]
    );
    let ids: Vec<u64> = got.iter().map(|(id, _, _)| id.parse().unwrap()).collect();
    assert!(ids[0] > id1.parse::<u64>().unwrap() && ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

both!(events_are_scoped_to_the_municipality);
async fn events_are_scoped_to_the_municipality(t: TestApp) {
    let sz = t.user("sz-operator", "operator", "stara-zagora").await;
    let mut theirs = subscribe(&t, &sz, None).await;
    assert_eq!(t.post("/api/v1/cameras", camera("kz-secret", 42.619, 25.393, 0.0)).await.0, StatusCode::CREATED);
    let mut own = camera("sz-cam", 42.42, 25.63, 0.0);
    own["municipality"] = "stara-zagora".into();
    assert_eq!(t.post("/api/v1/cameras", own).await.0, StatusCode::CREATED);
    let got = read_events(&mut theirs, 1).await;
    assert_eq!(got[0].2["data"]["ids"][0], "sz-cam", "a Stara Zagora operator saw a Kazanlak event first");
}

both!(the_event_stream_needs_a_token_and_valid_filters);
async fn the_event_stream_needs_a_token_and_valid_filters(t: TestApp) {
    let r = t.client.get(t.url("/api/v1/events")).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (s, b) = t.call(t.req(Method::GET, "/api/v1/events?types=weather").header("accept", "text/event-stream")).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "types", None);
    let (s, b) = t
        .call(t.req(Method::GET, "/api/v1/events").header("accept", "text/event-stream").header("last-event-id", "x"))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "after", None);
}

both!(the_websocket_form_carries_the_same_events_and_resumes);
async fn the_websocket_form_carries_the_same_events_and_resumes(t: TestApp) {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let connect = |after: Option<u64>| {
        let url = match after {
            Some(a) => format!("{}/api/v1/events?types=registry&after={a}", t.base.replace("http", "ws")),
            None => format!("{}/api/v1/events?types=registry", t.base.replace("http", "ws")),
        };
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {}", t.token).parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };
    async fn next_json<S>(ws: &mut S) -> Value
    where
        S: futures::Stream<
                Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
            > + Unpin,
    {
        loop {
            let msg =
                tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message").unwrap().unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }
    let (mut ws, _) = connect(None).await.expect("websocket upgrade");
    assert_eq!(t.post("/api/v1/cameras", camera("w1", 42.619, 25.393, 0.0)).await.0, StatusCode::CREATED);
    let first = next_json(&mut ws).await;
    assert_eq!(first["type"], "registry");
    assert_eq!(first["data"]["ids"][0], "w1");
    drop(ws);
    assert_eq!(t.post("/api/v1/cameras", camera("w2", 42.619, 25.393, 0.0)).await.0, StatusCode::CREATED);
    let (mut again, _) = connect(first["id"].as_u64()).await.expect("websocket upgrade");
    let missed = next_json(&mut again).await;
    assert_eq!(missed["data"]["ids"][0], "w2", "the resumed socket starts with what it missed");
    // Without a token, no upgrade.
    let bare = format!("{}/api/v1/events", t.base.replace("http", "ws"));
    assert!(tokio_tungstenite::connect_async(bare).await.is_err());
}
