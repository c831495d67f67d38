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
    let r = t.send(t.client.get(t.url("/api/v1/events")).header("accept", "text/event-stream")).await;
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

/// A client that stops reading while intake runs: intake is never held up by it, the client is
/// told with a `gap` event where it fell behind, and resuming from the gap's id brings every
/// event it missed, in order, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_falls_behind_is_told_so_resumes_and_never_slows_intake() {
    const BATCHES: usize = 60;
    const QUANTITIES: usize = 1000;
    let t = crate::harness::spawn(crate::harness::Backend::Sqlite).await;
    let (s, b) = t
        .post(
            "/api/v1/sensors",
            serde_json::json!({"id": "aq-1", "municipality": "kazanlak", "name": "Air station", "kind": "air_quality",
                               "unit": "ug/m3", "lat": 42.62, "lon": 25.40}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mut slow = t
        .req(Method::GET, "/api/v1/events?types=observation")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), StatusCode::OK);

    // Each batch is one reading of many quantities, so each publishes QUANTITIES live events:
    // far more than the live buffer and the socket buffers hold while the client reads nothing.
    let start = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    for n in 0..BATCHES {
        let at = (start + time::Duration::seconds(n as i64)).format(&time::format_description::well_known::Rfc3339);
        let values: serde_json::Map<String, Value> =
            (0..QUANTITIES).map(|q| (format!("q{q}"), Value::from((n * QUANTITIES + q) as f64))).collect();
        let post = t.post(
            "/api/v1/observations",
            serde_json::json!([{"sensor": "aq-1", "time": at.unwrap(), "values": values}]),
        );
        // A stalled reader must not block intake: each batch is acknowledged while it stalls.
        let (s, b) = tokio::time::timeout(Duration::from_secs(20), post).await.expect("intake is not held up");
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["accepted"], QUANTITIES, "{b}");
    }
    let total = BATCHES * QUANTITIES;

    // Now the slow client reads: what was buffered, then a gap naming the last id it got.
    let mut before = Vec::new();
    let gap_id = loop {
        let (id, ty, data) = read_events(&mut slow, 1).await.remove(0);
        if ty == "gap" {
            assert_eq!(data["data"]["last_id"].to_string(), id, "the gap names the last id delivered: {data}");
            break id;
        }
        assert_eq!(ty, "observation");
        before.push((id.parse::<u64>().unwrap(), data["data"]["value"].as_f64().unwrap()));
        assert!(before.len() < total, "every event arrived although the client never read: no gap to test");
    };
    assert!(before.len() < total, "the client fell behind but was not told so");
    if let Some(&(last, _)) = before.last() {
        assert_eq!(last.to_string(), gap_id, "the gap names the last event the client got");
    }
    drop(slow);

    // Resuming from the gap's id brings the rest: in order, none twice, none missing.
    let mut resumed = t
        .req(Method::GET, "/api/v1/events?types=observation")
        .header("accept", "text/event-stream")
        .header("last-event-id", &gap_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), StatusCode::OK);
    let rest = read_events(&mut resumed, total - before.len()).await;
    let mut values: Vec<f64> = before.iter().map(|(_, v)| *v).collect();
    let mut last_id: u64 = gap_id.parse().unwrap();
    for (id, ty, data) in &rest {
        assert_eq!(ty, "observation", "no second gap: the retained window covers what was missed");
        let id: u64 = id.parse().unwrap();
        assert!(id > last_id, "event ids increase and none comes twice");
        last_id = id;
        values.push(data["data"]["value"].as_f64().unwrap());
    }
    // Within a batch the events come in quantity-name order, so compare as sets (ids show order).
    values.sort_by(f64::total_cmp);
    let expected: Vec<f64> = (0..total).map(|v| v as f64).collect();
    assert_eq!(values.len(), expected.len());
    assert!(values == expected, "the events before the gap and after the resume are exactly the published ones");
}

/// The next JSON text message of a WebSocket.
pub async fn ws_json<S>(ws: &mut S) -> Value
where
    S: futures::Stream<Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    use futures::StreamExt;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message").unwrap().unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

// What a browser does: it cannot set an Authorization header on a WebSocket, so it asks for a
// ticket with its token and opens the socket with the ticket in the URL. The ticket works once,
// for 30 seconds, and as the user who asked for it.
crate::both_clocked!(a_browser_opens_the_event_socket_with_a_one_time_ticket);
async fn a_browser_opens_the_event_socket_with_a_one_time_ticket(
    t: TestApp,
    clock: std::sync::Arc<polis_base::SimClock>,
) {
    let ws_url =
        |ticket: &str| format!("{}/api/v1/events?types=registry&ticket={ticket}", t.base.replace("http", "ws"));
    let ticket_for = |token: String| {
        let t = &t;
        async move {
            let (s, b) = t.call(t.req_as(&token, Method::POST, "/api/v1/events/ticket")).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            assert_eq!(b["expires_in_s"], 30);
            b["ticket"].as_str().unwrap().to_string()
        }
    };
    // Only a signed-in caller gets a ticket.
    let (s, _) = t.call(t.client.post(t.url("/api/v1/events/ticket"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let sz = t.user("sz-watcher", "operator", "stara-zagora").await;
    let mine = ticket_for(t.token.clone()).await;
    let theirs = ticket_for(sz).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&mine)).await.expect("upgrade with a ticket");
    let (mut sz_ws, _) = tokio_tungstenite::connect_async(ws_url(&theirs)).await.expect("upgrade with a ticket");
    assert_eq!(t.post("/api/v1/cameras", camera("tk1", 42.619, 25.393, 0.0)).await.0, StatusCode::CREATED);
    let got = ws_json(&mut ws).await;
    assert_eq!((got["type"].as_str(), got["data"]["ids"][0].as_str()), (Some("registry"), Some("tk1")));
    // The ticket carries its user's scope: a Stara Zagora operator does not see a Kazanlak camera.
    use futures::StreamExt;
    assert!(tokio::time::timeout(Duration::from_millis(300), sz_ws.next()).await.is_err());

    // Used once: the second try is refused before any upgrade.
    let again = tokio_tungstenite::connect_async(ws_url(&mine)).await;
    match again {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("a used ticket must be refused: {other:?}"),
    }
    // Thirty seconds: a ticket not used in time is refused.
    let late = ticket_for(t.token.clone()).await;
    clock.advance(time::Duration::seconds(31));
    match tokio_tungstenite::connect_async(ws_url(&late)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("an expired ticket must be refused: {other:?}"),
    }
    // A made-up ticket neither.
    assert!(tokio_tungstenite::connect_async(ws_url("not-a-ticket")).await.is_err());
}

both!(a_region_administrator_filters_by_municipality_and_a_console_by_watched_sensors);
async fn a_region_administrator_filters_by_municipality_and_a_console_by_watched_sensors(t: TestApp) {
    for (id, m, lat) in [("kz-a", "kazanlak", 42.62), ("sz-a", "stara-zagora", 42.42), ("sz-b", "stara-zagora", 42.43)]
    {
        let (s, b) = t
            .post(
                "/api/v1/sensors",
                serde_json::json!({"id": id, "municipality": m, "name": id, "kind": "water_level", "unit": "cm", "lat": lat, "lon": 25.6}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let open = |token: String, query: &'static str| {
        let t = &t;
        async move {
            t.req_as(&token, Method::GET, &format!("/api/v1/events?{query}"))
                .header("accept", "text/event-stream")
                .send()
                .await
                .unwrap()
        }
    };
    // The region's administrator (of no one municipality) watches Stara Zagora only; a console
    // watches one sensor's readings only.
    let mut region = open(t.token.clone(), "types=observation,registry&municipality=stara-zagora").await;
    assert_eq!(region.status(), StatusCode::OK);
    let mut console = open(t.token.clone(), "types=observation&sensors=sz-b,kz-a").await;
    assert_eq!(console.status(), StatusCode::OK);
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    for (i, id) in ["kz-a", "sz-a", "sz-b"].iter().enumerate() {
        let batch = serde_json::json!([{"sensor": id, "time": now, "value": 100 + i}]);
        let (s, b) = t.post("/api/v1/observations", batch).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    assert_eq!(t.post("/api/v1/cameras", camera("kz-cam", 42.619, 25.393, 0.0)).await.0, StatusCode::CREATED);
    let mut sz_cam = camera("sz-cam", 42.42, 25.62, 0.0);
    sz_cam["municipality"] = "stara-zagora".into();
    assert_eq!(t.post("/api/v1/cameras", sz_cam).await.0, StatusCode::CREATED);

    let got = read_events(&mut region, 3).await;
    let seen: Vec<(String, String)> = got
        .iter()
        .map(|(_, ty, e)| {
            assert_eq!(e["municipality"], "stara-zagora", "{e}");
            let what = if ty == "observation" { e["data"]["sensor"].clone() } else { e["data"]["ids"][0].clone() };
            (ty.clone(), what.as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("observation".to_string(), "sz-a".to_string()),
            ("observation".to_string(), "sz-b".to_string()),
            ("registry".to_string(), "sz-cam".to_string())
        ]
    );
    let got = read_events(&mut console, 2).await;
    let sensors: Vec<&str> = got.iter().map(|(_, _, e)| e["data"]["sensor"].as_str().unwrap()).collect();
    assert_eq!(sensors, vec!["kz-a", "sz-b"]);

    // A municipality the caller may not see is as unknown as one that does not exist.
    let kz = t.user("kz-events", "operator", "kazanlak").await;
    for (token, query) in [(kz.clone(), "municipality=stara-zagora"), (t.token.clone(), "municipality=atlantis")] {
        let r = open(token, query).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_error(status, &body, StatusCode::NOT_FOUND, "municipality", None);
    }
    let r = open(kz, "municipality=kazanlak").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = open(t.token.clone(), "sensors=Not%20an%20id").await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_error(status, &body, StatusCode::BAD_REQUEST, "sensors", None);
}
