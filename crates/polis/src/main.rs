//! `polis`: the command line. `serve` runs Polis, `demo` runs it with the demo city of Kazanlak
//! seeded, `user add` creates users, `import` loads registry files.

mod config;
mod plan_cmd;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use config::{Config, RawConfig, ServeFlags};
use polis_base::SystemClock;
use polis_core::{App, NewUser};
use polis_domain::{Actor, Id, Role};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "polis", version, about = "Polis: an open integrated control center for cities")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run Polis.
    Serve {
        /// A TOML configuration file (see docs/ref/config.md).
        #[arg(long, env = "POLIS_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: ServeFlags,
    },
    /// Run Polis with the demo city of Kazanlak (seeded on first start) on the embedded database.
    Demo {
        #[command(flatten)]
        flags: ServeFlags,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Feed plausible sensor values (with floods, smog, jams and silent gauges now and then) to a
    /// running Polis over HTTP. The password is read from POLIS_PASSWORD.
    Simulate {
        /// The Polis to feed, e.g. http://127.0.0.1:8080
        #[arg(long)]
        target: String,
        #[arg(long, default_value = "admin")]
        username: String,
        /// Seconds between batches.
        #[arg(long, default_value_t = 5)]
        interval_secs: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Plan where the next cameras go, phase by phase: the demo city's scenario or an instance
    /// file (docs/ref/plan-input.md). Writes plan.geojson, summary.json and report.html to --out.
    Plan {
        /// A built-in scenario: demo.
        #[arg(long, conflicts_with = "input")]
        scenario: Option<String>,
        /// An instance file in the documented JSON format.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Phases of the scenario (an input file gives its own budgets).
        #[arg(long, default_value_t = 3)]
        phases: usize,
        /// The scenario's budget per phase (default 15000, or none with --cameras alone).
        #[arg(long)]
        budget: Option<f64>,
        /// The most new cameras per phase of the scenario (instead of or besides --budget).
        #[arg(long)]
        cameras: Option<u32>,
        /// The output directory.
        #[arg(long)]
        out: PathBuf,
        /// Greedy only, without the swap improvement.
        #[arg(long)]
        no_local_search: bool,
    },
    /// Import cameras, sites or sensors from a GeoJSON or CSV file (all or nothing).
    Import {
        /// cameras, sites or sensors.
        kind: String,
        /// The file: .geojson/.json or .csv.
        file: PathBuf,
        /// The municipality for items that do not name one.
        #[arg(long)]
        municipality: Option<String>,
        #[command(flatten)]
        store: StoreFlags,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user. The password is read from POLIS_USER_PASSWORD or, if unset, from standard input.
    Add {
        #[arg(long)]
        username: String,
        /// admin, supervisor, operator, agency or viewer.
        #[arg(long)]
        role: String,
        /// The user's municipality (omit for a region-wide administrator).
        #[arg(long)]
        municipality: Option<String>,
        /// For agency users: the agency organisation id.
        #[arg(long)]
        agency: Option<String>,
        #[command(flatten)]
        store: StoreFlags,
    },
}

#[derive(clap::Args)]
struct StoreFlags {
    /// Directory of the embedded database.
    #[arg(long, env = "POLIS_DATA", default_value = "polis-data")]
    data: PathBuf,
    /// A PostgreSQL URL instead of the embedded database.
    #[arg(long, env = "POLIS_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

impl StoreFlags {
    fn url(&self) -> anyhow::Result<String> {
        match &self.database_url {
            Some(u) => Ok(u.clone()),
            None => {
                std::fs::create_dir_all(&self.data).with_context(|| format!("creating {}", self.data.display()))?;
                Ok(format!("sqlite://{}", self.data.join("polis.db").display()))
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config, flags } => {
            let raw = match config {
                Some(p) => RawConfig::load(&p)?,
                None => RawConfig::default(),
            };
            serve(Config::resolve(flags, raw, "polis-data")?, false).await
        }
        Command::Demo { flags } => {
            if flags.database_url.is_some() {
                bail!("the demo runs on the embedded database; use `polis serve` for PostgreSQL");
            }
            serve(Config::resolve(flags, RawConfig::default(), "polis-demo-data")?, true).await
        }
        Command::Plan { scenario, input, phases, budget, cameras, out, no_local_search } => {
            plan_cmd::run(plan_cmd::PlanArgs {
                scenario,
                input,
                phases,
                budget,
                cameras,
                out,
                local_search: !no_local_search,
            })
            .await
        }
        Command::Simulate { target, username, interval_secs, seed } => {
            polis_base::init_tracing(false);
            simulate(&target, &username, std::time::Duration::from_secs(interval_secs.max(1)), seed).await
        }
        Command::User { command: UserCommand::Add { username, role, municipality, agency, store } } => {
            polis_base::init_tracing(false);
            let role = Role::parse("role", &role)?;
            let municipality = municipality.map(|m| Id::parse("municipality", &m)).transpose()?;
            let agency = agency.map(|a| Id::parse("agency", &a)).transpose()?;
            let password = match std::env::var("POLIS_USER_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s).context("reading the password from standard input")?;
                    s.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let app = open_app(&store.url()?).await?;
            let user =
                app.create_user(&Actor::system(), NewUser { username, password, role, municipality, agency }).await?;
            println!("created user {} ({})", user.username, user.role);
            Ok(())
        }
        Command::Import { kind, file, municipality, store } => {
            polis_base::init_tracing(false);
            let body = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            let format =
                if ext == "csv" { polis_http::import::Format::Csv } else { polis_http::import::Format::GeoJson };
            let municipality = municipality.map(|m| Id::parse("municipality", &m)).transpose()?;
            let d = polis_http::wire::Defaults { municipality: municipality.as_ref(), id: None };
            let app = open_app(&store.url()?).await?;
            let actor = Actor::system();
            let result = match kind.as_str() {
                "cameras" => match polis_http::import::parse_cameras(&body, format, &d) {
                    Ok(p) => app.import(&actor, p.items).await.map_err(|e| p.rows.locate(e)),
                    Err(e) => Err(e),
                },
                "sites" => match polis_http::import::parse_sites(&body, format, &d) {
                    Ok(p) => app.import(&actor, p.items).await.map_err(|e| p.rows.locate(e)),
                    Err(e) => Err(e),
                },
                "sensors" => match polis_http::import::parse_sensors(&body, format, &d) {
                    Ok(p) => app.import(&actor, p.items).await.map_err(|e| p.rows.locate(e)),
                    Err(e) => Err(e),
                },
                other => bail!("cannot import {other:?}: use cameras, sites or sensors"),
            };
            match result {
                Ok(n) => {
                    println!("imported {n} {kind}");
                    Ok(())
                }
                Err(e) => {
                    for d in &e.details {
                        eprintln!("  {d}");
                    }
                    bail!("{}", e.message)
                }
            }
        }
    }
}

/// `polis simulate`: logs in, reads the target's sensors, and feeds them.
async fn simulate(target: &str, username: &str, interval: std::time::Duration, seed: u64) -> anyhow::Result<()> {
    let password =
        std::env::var("POLIS_PASSWORD").context("set POLIS_PASSWORD to the password of the simulating user")?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = target.trim_end_matches('/');
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?
        .error_for_status()
        .context("login refused")?
        .json()
        .await?;
    let token = login["token"].as_str().context("no token in the login answer")?.to_string();
    let fc: serde_json::Value = client
        .get(format!("{base}/api/v1/sensors"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut sensors = Vec::new();
    for f in fc["features"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let Some(props) = f["properties"].as_object() else { continue };
        let d = polis_http::wire::Defaults { municipality: None, id: None };
        match polis_http::wire::sensor_from(props, &d, None) {
            Ok(s) => sensors.push(s),
            Err(e) => tracing::warn!(?e, "skipping a sensor the simulator cannot read"),
        }
    }
    if sensors.is_empty() {
        bail!("{base} has no sensors to simulate");
    }
    println!("simulating {} sensors of {base} every {} s (Ctrl-C to stop)", sensors.len(), interval.as_secs());
    let sim = polis_ingest::sim::Simulator::new(sensors, seed);
    // Logs in again by itself when its session expires.
    let credentials = polis_ingest::sim::Credentials::Login {
        username: username.to_string(),
        password: polis_domain::registry::Secret::new(password),
    };
    let report = polis_ingest::sim::run_http_with(base, credentials, sim, interval, shutdown_signal()).await?;
    println!("delivered {} observations in {} steps ({} failures)", report.delivered, report.steps, report.failures);
    Ok(())
}

async fn open_app(url: &str) -> anyhow::Result<Arc<App>> {
    let store = polis_store::open(url).await?;
    Ok(App::open(store, Arc::new(SystemClock)).await?)
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    polis_base::init_tracing(config.log_json);
    let started = std::time::Instant::now();
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data).with_context(|| format!("creating {}", config.data.display()))?;
    }
    let store = polis_store::open(&config.database_url).await?;
    let backend = store.backend();
    // A node of a region: the bus is the region's JetStream stream, and the node's name is
    // leased so that two processes never run as one node.
    let node = match &config.region {
        Some(r) => Some(
            polis_core::region::Node::join(&r.nats_url, &r.node_id, r.replicas)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?,
        ),
        None => None,
    };
    let bus: Option<Arc<dyn polis_core::bus::EventBus<polis_core::live::LiveEvent>>> = match &config.region {
        Some(r) => {
            let opts = polis_core::nats_bus::NatsOptions::region(r.nats_url.clone(), r.replicas);
            let nats =
                polis_core::nats_bus::NatsBus::connect(&opts).await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
            Some(Arc::new(nats))
        }
        None => None,
    };
    let options = polis_core::Options { session_ttl_hours: config.session_ttl_hours, bus };
    let app = App::open_with(store, Arc::new(SystemClock), options).await?;
    if node.is_some() {
        tokio::spawn(app.clone().follow_region_registry());
    }
    tokio::spawn(app.clone().run_media_reaper(std::time::Duration::from_secs(10)));
    let video_dir = config.data.join("video");
    app.configure_video(polis_core::video::VideoConfig::new(&video_dir))
        .map_err(|e| anyhow::anyhow!("video storage at {}: {}", video_dir.display(), e.message))?;
    if demo && app.seed_demo().await? {
        tracing::info!("seeded the demo city of Kazanlak (demo data)");
    }
    let admin_password = std::env::var("POLIS_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    if let Some(generated) = app.ensure_admin(admin_password).await? {
        // Shown once, on the terminal only, never in the log.
        eprintln!("\n  Created the administrator: username admin, password {generated}\n  (set POLIS_ADMIN_PASSWORD to choose it)\n");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    // The periodic duties: on a single node always; in a region, only on the node holding the
    // leader lease (started when it takes the lease, stopped when it loses it).
    let duties = {
        let app = app.clone();
        let retention = config.retention.clone();
        let stopped = stopped.clone();
        move || start_duties(app.clone(), retention.clone(), demo, stopped.clone())
    };
    match &node {
        None => {
            let _running = duties();
        }
        Some(node) => {
            let mut leadership = node.leadership();
            tokio::spawn(async move {
                let mut running: Vec<tokio::task::JoinHandle<()>> = Vec::new();
                loop {
                    let lead = *leadership.borrow_and_update();
                    if lead && running.is_empty() {
                        running = duties();
                    } else if !lead {
                        for h in running.drain(..) {
                            h.abort();
                        }
                    }
                    if leadership.changed().await.is_err() {
                        break;
                    }
                }
            });
        }
    }
    if let Some(mqtt) = config.mqtt.clone() {
        tracing::info!(topics = %mqtt.topic_filter(), "taking observations from MQTT");
        let sink: Arc<dyn polis_ingest::Sink> = app.clone();
        polis_ingest::mqtt::spawn(mqtt, sink, stopped());
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = backend, demo, startup_ms = started.elapsed().as_millis() as u64, "listening on http://{addr}");
    let router = polis_http::router(app, config.console.clone());
    polis_http::serve(listener, router, shutdown_signal()).await?;
    if let Some(node) = &node {
        node.leave().await;
    }
    let _ = stop_tx.send(true);
    tracing::info!("stopped");
    Ok(())
}

/// Starts the periodic work of a city (or of the region, on its leader): the recorder, video
/// retention, the camera watch, the rule tick with hourly housekeeping, and the demo simulator.
fn start_duties<S, F>(
    app: Arc<App>,
    retention: polis_core::retention::RetentionPolicy,
    demo: bool,
    stopped: S,
) -> Vec<tokio::task::JoinHandle<()>>
where
    S: Fn() -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut tasks = vec![
        tokio::spawn(app.clone().run_recorder(std::time::Duration::from_secs(2))),
        tokio::spawn(app.clone().run_video_retention(std::time::Duration::from_secs(60))),
        tokio::spawn(app.clone().run_camera_watch(std::time::Duration::from_secs(5))),
    ];
    // Silence rules need a clock that ticks even when no data comes.
    let ticking = app.clone();
    let tick_stop = stopped();
    tasks.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(15));
        let mut ticks: u64 = 0;
        tokio::pin!(tick_stop);
        loop {
            tokio::select! {
                _ = &mut tick_stop => break,
                _ = every.tick() => {
                    if let Err(e) = ticking.tick().await {
                        tracing::warn!(error = %e, "rule tick failed");
                    }
                    ticks += 1;
                    // Hourly housekeeping (and once at start): expired login sessions, and
                    // sensor data past its retention.
                    if ticks % 240 == 1 {
                        match ticking.purge_expired_sessions().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(sessions = n, "purged expired sessions"),
                            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
                        }
                        match ticking.apply_retention(&retention).await {
                            Ok(r) if r.readings + r.rollups == 0 => {}
                            Ok(r) => tracing::info!(readings = r.readings, rollups = r.rollups, "retention applied"),
                            Err(e) => tracing::warn!(error = %e, "applying retention failed"),
                        }
                    }
                }
            }
        }
    }));
    if demo {
        let app = app.clone();
        let stop = stopped();
        tasks.push(tokio::spawn(async move {
            let sensors: Vec<polis_domain::Sensor> = match app.list(&Actor::system()).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "the demo simulator cannot list sensors");
                    return;
                }
            };
            let sensors: Vec<_> = sensors.into_iter().filter(|s| s.demo).collect();
            tracing::info!(sensors = sensors.len(), "the demo simulator feeds the demo city's sensors");
            let sim = polis_ingest::sim::Simulator::new(sensors, 1);
            let sink: Arc<dyn polis_ingest::Sink> = app;
            polis_ingest::sim::run_sink(sink, sim, std::time::Duration::from_secs(5), stop).await;
        }));
    }
    tasks
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
