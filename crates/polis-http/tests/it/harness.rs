use polis_base::SystemClock;
use polis_core::App;
use polis_domain::{Actor, Id, OrgKind, Organisation};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub token: String,
    pub app: Arc<App>,
    _dir: tempfile::TempDir,
}

/// Runs a test body once per store backend.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::harness::spawn($crate::harness::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::harness::spawn_pg().await {
                    super::$name(app).await
                }
            }
        }
    };
}

pub async fn spawn_pg() -> Option<TestApp> {
    match std::env::var("POLIS_TEST_PG_URL") {
        Ok(_) => Some(spawn(Backend::Postgres).await),
        Err(_) => {
            assert!(
                std::env::var("POLIS_REQUIRE_PG").as_deref() != Ok("1"),
                "POLIS_REQUIRE_PG=1 but POLIS_TEST_PG_URL is not set: run scripts/test"
            );
            eprintln!("POLIS_TEST_PG_URL not set: PostgreSQL half not run (scripts/test sets it)");
            None
        }
    }
}

/// Runs a test body once per store backend with a simulated clock the test advances.
#[macro_export]
macro_rules! both_clocked {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let clock = $crate::harness::sim_clock();
                let app = $crate::harness::spawn_with($crate::harness::Backend::Sqlite, clock.clone()).await;
                super::$name(app, clock).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::harness::spawn_pg_wanted() {
                    let clock = $crate::harness::sim_clock();
                    let app = $crate::harness::spawn_with($crate::harness::Backend::Postgres, clock.clone()).await;
                    super::$name(app, clock).await
                }
            }
        }
    };
}

/// A simulated clock starting now.
pub fn sim_clock() -> Arc<polis_base::SimClock> {
    Arc::new(polis_base::SimClock::new(time::OffsetDateTime::now_utc()))
}

/// Whether the PostgreSQL half runs (see [`spawn_pg`]).
pub fn spawn_pg_wanted() -> bool {
    match std::env::var("POLIS_TEST_PG_URL") {
        Ok(_) => true,
        Err(_) => {
            assert!(
                std::env::var("POLIS_REQUIRE_PG").as_deref() != Ok("1"),
                "POLIS_REQUIRE_PG=1 but POLIS_TEST_PG_URL is not set: run scripts/test"
            );
            false
        }
    }
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, Arc::new(SystemClock)).await
}

pub async fn spawn_with(backend: Backend, clock: Arc<dyn polis_base::Clock>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("polis.db").display()),
        Backend::Postgres => {
            let base = std::env::var("POLIS_TEST_PG_URL").unwrap();
            polis_store::testing::fresh_postgres_database(&base).await.unwrap()
        }
    };
    let store = polis_store::open(&url).await.unwrap();
    let app = App::open(store, clock).await.unwrap();
    let mut video = polis_core::video::VideoConfig::new(dir.path().join("video"));
    video.offline_alarm_after = polis_core::video::DEFAULT_OFFLINE_ALARM_AFTER;
    app.configure_video(video).unwrap();
    tokio::spawn(app.clone().run_recorder(std::time::Duration::from_millis(200)));
    tokio::spawn(app.clone().run_camera_watch(std::time::Duration::from_millis(250)));
    let system = Actor::system();
    for (id, bg, en) in [("kazanlak", "Казанлък", "Kazanlak"), ("stara-zagora", "Стара Загора", "Stara Zagora")]
    {
        app.put_organisation(
            &system,
            Organisation {
                id: Id::from_trusted(id),
                kind: OrgKind::Municipality,
                name_bg: bg.into(),
                name_en: en.into(),
                municipality: Id::from_trusted(id),
                agency_kind: None,
                demo: false,
            },
        )
        .await
        .unwrap();
    }
    app.ensure_admin(Some(ADMIN_PASSWORD.into())).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = polis_http::router(app.clone(), polis_http::ConsoleConfig::default());
    tokio::spawn(polis_http::serve(listener, router, std::future::pending()));
    let client = Client::new();
    let mut t = TestApp { base, client, token: String::new(), app, _dir: dir };
    t.token = t.login("admin", ADMIN_PASSWORD).await;
    t
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self
            .send(
                self.client
                    .post(self.url("/api/v1/auth/login"))
                    .json(&json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "login of {username} failed");
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }

    pub fn req_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(token)
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.req_as(&self.token, method, path)
    }

    /// Sends a request and holds the response against the OpenAPI document (status, content type,
    /// JSON body): a response off the document fails the test. An event stream's body is not read.
    pub async fn send(&self, rb: RequestBuilder) -> reqwest::Response {
        let req = rb.build().unwrap();
        let (method, path) = (req.method().clone(), req.url().path().to_string());
        let r = self.client.execute(req).await.unwrap();
        let status = r.status();
        let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
        if content_type.as_deref().is_some_and(|c| c.starts_with("text/event-stream")) {
            if let Err(e) = crate::contract::check(&method, &path, status, content_type.as_deref(), b"") {
                panic!("{e}");
            }
            return r;
        }
        let headers = r.headers().clone();
        let version = r.version();
        let body = r.bytes().await.unwrap();
        if let Err(e) = crate::contract::check(&method, &path, status, content_type.as_deref(), &body) {
            panic!("{e}");
        }
        let mut rebuilt = axum::http::Response::builder().status(status).version(version).body(body).unwrap();
        *rebuilt.headers_mut() = headers;
        reqwest::Response::from(rebuilt)
    }

    /// Sends (checked against the document, see [`TestApp::send`]) and returns (status, JSON body or Null).
    pub async fn call(&self, rb: RequestBuilder) -> (StatusCode, Value) {
        let r = self.send(rb).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(self.req(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(self.req(Method::POST, path).json(&body)).await
    }

    /// Creates a user with the admin token and logs in as them.
    pub async fn user(&self, username: &str, role: &str, municipality: &str) -> String {
        let (s, b) = self
            .post(
                "/api/v1/users",
                json!({"username": username, "password": "password-123", "role": role, "municipality": municipality}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        self.login(username, "password-123").await
    }

    pub async fn count(&self, path: &str) -> usize {
        let (s, b) = self.get(path).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["features"].as_array().unwrap().len()
    }
}

/// A camera body in Kazanlak looking east from the centre.
pub fn camera(id: &str, lat: f64, lon: f64, heading: f64) -> Value {
    json!({
        "id": id, "municipality": "kazanlak", "name": format!("Camera {id}"),
        "lat": lat, "lon": lon, "heading_deg": heading, "fov_deg": 60.0, "range_m": 150.0,
        "kind": "fixed", "mount_height_m": 6.0, "stream_url": format!("rtsp://viewer:pa55word@10.1.1.1/{id}")
    })
}

/// Asserts an error body names `field` (and `row` when given).
pub fn assert_error(status: StatusCode, body: &Value, want: StatusCode, field: &str, row: Option<u64>) {
    assert_eq!(status, want, "{body}");
    let err = &body["error"];
    assert!(err["code"].is_string() && err["message"].is_string(), "not an error body: {body}");
    let details = err["details"].as_array().unwrap();
    assert!(
        details.iter().any(|d| d["field"] == field && row.is_none_or(|r| d["row"] == r)),
        "no detail for field {field} row {row:?}: {body}"
    );
}

/// Opens a live-video WebSocket the way the console does: credentials in the upgrade request, as
/// the subprotocol `credential` (`polis.token.<token>` or `polis.share.<token>`) beside
/// `polis.live`. Errs when the upgrade is refused (the response says why).
pub async fn ws_live(
    url: &str,
    credential: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request()?;
    let protocols = format!("polis.live, {credential}");
    req.headers_mut().insert("sec-websocket-protocol", protocols.parse().expect("a header value"));
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(ws)
}
