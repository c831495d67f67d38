//! `polis`: the command line. `serve` runs Polis, `demo` runs it with the demo city of Kazanlak
//! seeded, `user add` creates users, `import` loads registry files.

mod config;

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
    let mut app = App::open(store, Arc::new(SystemClock)).await?;
    if let Some(a) = Arc::get_mut(&mut app) {
        a.session_ttl = time_hours(config.session_ttl_hours);
    }
    if demo && app.seed_demo().await? {
        tracing::info!("seeded the demo city of Kazanlak (demo data)");
    }
    let admin_password = std::env::var("POLIS_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    if let Some(generated) = app.ensure_admin(admin_password).await? {
        // Shown once, on the terminal only, never in the log.
        eprintln!("\n  Created the administrator: username admin, password {generated}\n  (set POLIS_ADMIN_PASSWORD to choose it)\n");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = backend, demo, startup_ms = started.elapsed().as_millis() as u64, "listening on http://{addr}");
    let router = polis_http::router(app, config.console.clone());
    polis_http::serve(listener, router, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

fn time_hours(h: u32) -> polis_core::SessionTtl {
    polis_core::SessionTtl::hours(h as i64)
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
