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
        /// A TOML configuration file, as for `serve` (its database must be the embedded one).
        #[arg(long)]
        config: Option<PathBuf>,
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
    /// Copy the embedded database to FILE as of one moment, while Polis runs and takes readings
    /// (PostgreSQL: use pg_dump; see docs/guide/backup.md).
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: StoreFlags,
    },
    /// Replace the embedded database with a backup made by `polis backup`. Stop Polis first.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Restore even though the database looks in use (a write-ahead log left behind).
        #[arg(long)]
        force: bool,
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
    /// The embedded database file; an error for a PostgreSQL store.
    fn sqlite_file(&self, what: &str) -> anyhow::Result<PathBuf> {
        if self.database_url.is_some() {
            bail!("{what} works on the embedded database only; back up PostgreSQL with pg_dump (docs/guide/backup.md)");
        }
        Ok(self.data.join("polis.db"))
    }

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
    let result = rt.block_on(run(cli));
    // Whatever still runs (a planning job, a slow client) does not hold the exit up.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    result
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
        Command::Demo { config, flags } => {
            let raw = match config {
                Some(p) => RawConfig::load(&p)?,
                None => RawConfig::default(),
            };
            if flags.database_url.is_some() || raw.database_url.is_some() {
                bail!("the demo runs on the embedded database; use `polis serve` for PostgreSQL");
            }
            serve(Config::resolve(flags, raw, "polis-demo-data")?, true).await
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
        Command::Backup { out, store } => {
            let db = store.sqlite_file("polis backup")?;
            let started = std::time::Instant::now();
            let bytes = polis_store::backup_sqlite(&db, &out).await?;
            println!(
                "backed up {} to {} ({bytes} bytes, {} ms)",
                db.display(),
                out.display(),
                started.elapsed().as_millis()
            );
            Ok(())
        }
        Command::Restore { file, force, store } => {
            let db = store.sqlite_file("polis restore")?;
            if let Some(dir) = db.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let version = polis_store::restore_sqlite(&file, &db, force).await?;
            println!("restored {} from {} (schema version {version}); start Polis again", db.display(), file.display());
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
    if let Some(r) = &config.region {
        tokio::spawn(app.clone().follow_region_registry());
        // Every node hands its stored readings to the leader, which evaluates the rules once.
        let queue =
            polis_core::nats_bus::WorkQueue::connect(&r.nats_url, "POLIS_READINGS", "polis.readings", r.replicas)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        app.evaluate_in_region(Arc::new(queue));
    }
    // Readings stored just before a crash may never have been evaluated by the rules.
    match app.settle_alarms().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(alarms = n, "alarms brought in line with the stored readings"),
        Err(e) => tracing::warn!(error = %e, "settling alarms with the stored readings failed"),
    }
    tokio::spawn(app.clone().run_media_reaper(std::time::Duration::from_secs(10)));
    app.configure_warnings(config.warnings.clone()).map_err(|e| anyhow::anyhow!("warnings: {}", e.message))?;
    let video_dir = config.data.join("video");
    let mut video = polis_core::video::VideoConfig::new(&video_dir);
    video.offline_alarm_after = config.offline_alarm_after.try_into().context("video.offline_alarm_seconds")?;
    app.configure_video(video)
        .map_err(|e| anyhow::anyhow!("video storage at {}: {}", video_dir.display(), e.message))?;
    match app.adopt_orphan_recordings().await {
        Ok(o) if o.indexed + o.deleted > 0 => {
            tracing::info!(indexed = o.indexed, deleted = o.deleted, "recordings the index did not know")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e.message, "looking for recordings the index does not know failed"),
    }
    tokio::spawn(app.clone().run_storage_watch(std::time::Duration::from_secs(1)));
    // The periodic duties run on every single node, and in a region on the leader only.
    let duty = |f: fn(Arc<App>) -> Duty| {
        let app = app.clone();
        spawn_duty(node.as_ref(), move || f(app.clone()))
    };
    duty(|a| Box::pin(a.run_recorder(std::time::Duration::from_secs(2))));
    duty(|a| Box::pin(a.run_video_retention(std::time::Duration::from_secs(60))));
    duty(|a| Box::pin(a.run_camera_watch(std::time::Duration::from_secs(1))));
    if let Some(every) = config.probe_every {
        // A short interval (a test's) checks again soon after a first failure.
        let retry_after = (every / 2).min(polis_core::media::ProbeConfig::default().retry_after);
        let probe = polis_core::media::ProbeConfig { every, retry_after, ..Default::default() };
        let probing = app.clone();
        spawn_duty(node.as_ref(), move || probing.clone().run_camera_probe(probe));
    }
    if node.is_some() {
        duty(|a| Box::pin(a.run_region_rules()));
    }
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
    // Silence rules need a clock that ticks even when no data comes.
    let (tick_app, retention, tick_stopped) = (app.clone(), config.retention.clone(), stopped.clone());
    spawn_duty(node.as_ref(), move || {
        let ticking = tick_app.clone();
        let retention = retention.clone();
        let tick_stop = tick_stopped();
        async move {
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
                        if let Err(e) = ticking.expire_warnings().await {
                            tracing::warn!(error = %e, "expiring warnings failed");
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
        }
    });
    // In a region each node has its own MQTT session (client id CLIENT-NODE) in one shared
    // subscription: the broker gives each message to one node.
    let mqtt_config = match (config.mqtt.clone(), &config.region) {
        (Some(m), Some(r)) => Some(m.for_region_node(&r.node_id).map_err(|e| anyhow::anyhow!("mqtt_url: {e}"))?),
        (m, _) => m,
    };
    if let Some(mqtt) = mqtt_config.clone() {
        tracing::info!(topics = %mqtt.topic_filter(), client_id = %mqtt.client_id, "taking observations from MQTT");
        let sink: Arc<dyn polis_ingest::Sink> = app.clone();
        polis_ingest::mqtt::spawn(mqtt, sink, stopped());
    }
    if let Some(mqtt) = mqtt_config {
        // Each CAP message as it is sent, on polis/<municipality>/warnings (by one node of a
        // region: the relay is a leader duty).
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        polis_ingest::mqtt::spawn_publisher(mqtt, rx, stopped());
        let relay = app.clone();
        spawn_duty(node.as_ref(), move || relay.clone().run_warning_relay(tx.clone()));
    }
    for feed in config.cap_feeds.clone() {
        tracing::info!(feed = %feed.url, municipality = %feed.municipality, "polling a CAP feed");
        let sink: Arc<dyn polis_ingest::cap_feed::CapSink> = app.clone();
        let stopped = stopped.clone();
        // Polled by one node of a region.
        spawn_duty(node.as_ref(), move || polis_ingest::cap_feed::run(feed.clone(), sink.clone(), stopped()));
    }
    if demo {
        let (sim_app, sim_stopped) = (app.clone(), stopped.clone());
        spawn_duty(node.as_ref(), move || {
            let (app, stop) = (sim_app.clone(), sim_stopped());
            async move {
                let sensors: Vec<polis_domain::Sensor> = match app.list(&Actor::system()).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "the demo simulator cannot list the sensors");
                        return;
                    }
                };
                let sensors: Vec<_> = sensors.into_iter().filter(|s| s.demo).collect();
                tracing::info!(sensors = sensors.len(), "the demo simulator feeds the demo city's sensors");
                let sim = polis_ingest::sim::Simulator::new(sensors, 1);
                let sink: Arc<dyn polis_ingest::Sink> = app;
                let _report = polis_ingest::sim::run_sink(sink, sim, std::time::Duration::from_secs(5), stop).await;
            }
        });
    }
    // A wrong certificate or key stops the start, before anything listens.
    let tls = match &config.tls {
        Some((cert, key)) => Some(polis_http::server::tls_config(cert, key).map_err(|e| anyhow::anyhow!("tls: {e}"))?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = backend, demo, startup_ms = started.elapsed().as_millis() as u64, "listening on {scheme}://{addr}");
    let mut console = config.console.clone();
    let tiles = match &config.tiles {
        Some(path) => {
            let t = polis_store::MbTiles::open(path).await.map_err(|e| anyhow::anyhow!("tiles: {}", e.message))?;
            let ext = match t.format() {
                "jpg" | "jpeg" => "jpg",
                "webp" => "webp",
                _ => "png",
            };
            console.tile_url = Some(format!("/tiles/{{z}}/{{x}}/{{y}}.{ext}"));
            if console.tile_attribution.is_none() {
                console.tile_attribution = t.metadata.get("attribution").cloned();
            }
            tracing::info!(file = %path.display(), format = t.format(), "serving an offline basemap");
            Some(t)
        }
        None => None,
    };
    let options = polis_http::HttpOptions {
        metrics_token: config.metrics_token.as_ref().map(|t| t.expose().to_string()),
        portal: config.portal,
        tiles,
    };
    let video_app = app.clone();
    let router = polis_http::router_with(app, console, options);
    // SIGTERM: end the event streams and live video, stop accepting, let other requests finish
    // (at most 4 s), close the recording files, and exit well within 10 s.
    let limits = polis_http::server::Limits { drain: std::time::Duration::from_secs(4), ..Default::default() };
    let closing_app = video_app.clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Event streams and live video never end by themselves: they end now, so the drain
        // waits only for ordinary requests.
        let ended = closing_app.end_connections();
        tracing::info!(connections = ended, "stopping: no new connections, streams ended");
    };
    polis_http::server::serve_tls(listener, router, limits, tls, shutdown).await?;
    tracing::info!("stopping: closing recordings");
    // Give the region's leases up at once, so another node takes the duties without waiting.
    if let Some(node) = &node {
        node.leave().await;
    }
    let _ = stop_tx.send(true);
    video_app.stop_video(std::time::Duration::from_secs(3)).await;
    // The live events still held go to the store, so consoles resume without a gap.
    video_app.close().await;
    // Repeats of active alarms counted in memory since their last write go to the store.
    if let Err(e) = video_app.flush_alarm_repeats(true).await {
        tracing::warn!(error = %e.message, "writing the last alarm repeats failed");
    }
    tracing::info!("stopped");
    Ok(())
}

/// A periodic duty's task.
type Duty = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs the task `make` gives while this node holds the region's leader lease (always, without a
/// region): started when the node takes the lease, stopped when it loses it.
fn spawn_duty<F, Fut>(node: Option<&Arc<polis_core::region::Node>>, make: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(node) = node else {
        tokio::spawn(make());
        return;
    };
    let mut lead = node.leadership();
    tokio::spawn(async move {
        loop {
            while !*lead.borrow_and_update() {
                if lead.changed().await.is_err() {
                    return;
                }
            }
            let task = tokio::spawn(make());
            loop {
                if lead.changed().await.is_err() {
                    task.abort();
                    return;
                }
                if !*lead.borrow_and_update() {
                    break;
                }
            }
            task.abort();
        }
    });
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
