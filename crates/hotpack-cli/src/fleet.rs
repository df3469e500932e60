//! `hotpack fleet ...`: the operator's commands (publish, rollout, promote, rollback, pause,
//! status), and [`FleetJoinArgs`] / [`join`], the hook `serve --fleet` uses to run a host agent.
//! Connection settings come from flags or `HOTPACK_FLEET`, `HOTPACK_ETCD`, `HOTPACK_REGISTRY`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hotpack_fleet::{AutoOutcome, Fleet, FleetConfig, HostAgent, HostConfig, short};

/// Where the fleet lives (flags win over the environment).
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Fleet name (the `<fleet>` in `/hotpack/<fleet>/...`) [env: HOTPACK_FLEET, default `default`]
    #[arg(long, global = true)]
    pub fleet: Option<String>,
    /// etcd endpoint(s), comma-separated [env: HOTPACK_ETCD, default http://127.0.0.1:2379]
    #[arg(long, global = true)]
    pub etcd: Option<String>,
    /// OCI registry: http://host:port for plain HTTP, else HTTPS [env: HOTPACK_REGISTRY]
    #[arg(long, global = true)]
    pub registry: Option<String>,
}

impl Connection {
    fn config(&self) -> anyhow::Result<FleetConfig> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let name = self.fleet.clone().or_else(|| env("HOTPACK_FLEET")).unwrap_or_else(|| "default".into());
        let etcd = self.etcd.clone().or_else(|| env("HOTPACK_ETCD")).unwrap_or_else(|| "http://127.0.0.1:2379".into());
        let registry = self
            .registry
            .clone()
            .or_else(|| env("HOTPACK_REGISTRY"))
            .context("no registry: pass --registry URL or set HOTPACK_REGISTRY")?;
        Ok(FleetConfig {
            name,
            etcd: etcd.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            registry,
        })
    }
}

/// Arguments of `hotpack fleet`.
#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: FleetCommand,
}

#[derive(Debug, Subcommand)]
enum FleetCommand {
    /// Push a single-module bundle to the registry and write its release record (once)
    Publish {
        /// The bundle.
        bundle: PathBuf,
    },
    /// Roll a published release out in waves; with --auto, watch and roll back on the first failure
    Rollout {
        /// The module.
        module: String,
        /// A published version (or blake3 prefix).
        version: String,
        /// Wave sizes in percent, ascending.
        #[arg(long, value_delimiter = ',', default_value = "100")]
        waves: Vec<u8>,
        /// Keep watching; roll the fleet back when a host of the wave fails a gate or demotes.
        #[arg(long)]
        auto: bool,
    },
    /// Move to the next wave once every host of the current one reports ok
    Promote {
        /// The module.
        module: String,
    },
    /// One transaction: every host returns to the stable version it still holds
    Rollback {
        /// The module.
        module: String,
        /// Why (recorded in the rollout key).
        #[arg(long, default_value = "operator rollback")]
        reason: String,
    },
    /// Pause (or, with --resume, resume) a module's rollout
    Pause {
        /// The module.
        module: String,
        /// Resume instead.
        #[arg(long)]
        resume: bool,
    },
    /// Modules, waves, and each host's active version and state
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs `hotpack fleet ...`.
pub fn run(args: FleetArgs) -> anyhow::Result<ExitCode> {
    let config = args.connection.config()?;
    runtime()?.block_on(async move {
        let fleet = Fleet::connect(config).await?;
        match args.command {
            FleetCommand::Publish { bundle } => {
                let published = fleet.publish(&bundle).await?;
                let r = &published.record;
                let what = if published.created { "published" } else { "already published" };
                println!(
                    "{what} {} {} blake3 {} ({}@{})",
                    r.module, r.version, r.blake3, r.repository, r.manifest_digest
                );
            }
            FleetCommand::Rollout { module, version, waves, auto } => {
                let rollout = fleet.rollout(&module, &version, &waves, auto).await?;
                match &rollout.canary {
                    Some(c) => println!(
                        "{module}: rolling out {} in waves {:?} (wave 0: {}%)",
                        short(c),
                        rollout.waves,
                        rollout.percent()
                    ),
                    None => println!(
                        "{module}: {} is stable (first rollout)",
                        rollout.stable.as_deref().map(short).unwrap_or("?")
                    ),
                }
                if auto && rollout.canary.is_some() {
                    println!("{module}: watching the fleet; a failed gate or demotion rolls it back");
                    match fleet.watch_auto(&module).await? {
                        AutoOutcome::Completed { stable } => {
                            println!("{module}: completed, {} is stable", short(&stable))
                        }
                        AutoOutcome::RolledBack { host, reason } => {
                            println!("{module}: rolled back ({host}: {reason})");
                            return Ok(ExitCode::FAILURE);
                        }
                        AutoOutcome::Ended => println!("{module}: the rollout was ended by someone else"),
                        other => println!("{module}: {other:?}"),
                    }
                }
            }
            FleetCommand::Promote { module } => {
                let r = fleet.promote(&module).await?;
                match &r.canary {
                    Some(_) => println!("{module}: wave {} ({}%)", r.wave, r.percent()),
                    None => {
                        println!("{module}: completed, {} is stable", r.stable.as_deref().map(short).unwrap_or("?"))
                    }
                }
            }
            FleetCommand::Rollback { module, reason } => {
                let r = fleet.rollback(&module, &reason).await?;
                println!("{module}: rolled back; {} is stable", r.stable.as_deref().map(short).unwrap_or("?"));
            }
            FleetCommand::Pause { module, resume } => {
                fleet.pause(&module, !resume).await?;
                println!("{module}: {}", if resume { "resumed" } else { "paused" });
            }
            FleetCommand::Status { json } => {
                let status = fleet.status().await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&status)?);
                } else {
                    print_status(&status);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_status(status: &hotpack_fleet::FleetStatus) {
    println!("fleet {}", status.fleet);
    for r in &status.rollouts {
        let label = |rec: &Option<hotpack_fleet::ReleaseRecord>, b: &Option<String>| match (rec, b) {
            (Some(rec), _) => rec.label(),
            (None, Some(b)) => format!("? [{}]", short(b)),
            (None, None) => "-".into(),
        };
        print!("  {}: stable {}", r.module, label(&r.stable, &r.rollout.stable));
        if r.rollout.canary.is_some() {
            print!(
                ", canary {} wave {}/{} ({}%)",
                label(&r.canary, &r.rollout.canary),
                r.rollout.wave + 1,
                r.rollout.waves.len(),
                r.rollout.percent()
            );
        }
        if r.rollout.paused {
            print!(", paused");
        }
        if let Some(rb) = &r.rollout.rolled_back {
            print!(", last rollback from {}: {}", short(&rb.from), rb.reason);
        }
        println!();
        for h in status.hosts_of(&r.module) {
            let active = h.active.as_ref().map(|a| a.version.as_str()).unwrap_or("-");
            let reason = h.reason.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            println!("    {:<20} {:<10} {:?}{reason}", h.host, active, h.state);
        }
    }
}

/// The flags `hotpack serve` takes to join a fleet (`--fleet NAME --host-id ID --etcd URL
/// --registry URL`; `HOTPACK_ETCD` / `HOTPACK_REGISTRY` fill in the last two).
#[derive(Debug, Clone, Args)]
pub struct FleetJoinArgs {
    /// Join this fleet: serve what its rollouts say (needs --host-id and a registry)
    #[arg(long = "fleet", value_name = "NAME", requires = "host_id")]
    pub fleet: Option<String>,
    /// This host's id in the fleet (stable across restarts: it decides the host's waves)
    #[arg(long)]
    pub host_id: Option<String>,
    /// etcd endpoint(s), comma-separated [env: HOTPACK_ETCD]
    #[arg(long)]
    pub etcd: Option<String>,
    /// OCI registry URL [env: HOTPACK_REGISTRY]
    #[arg(long)]
    pub registry: Option<String>,
}

/// A running fleet agent; dropping it stops the agent and its thread.
#[derive(Debug)]
pub struct FleetHost {
    agent: Option<HostAgent>,
    runtime: Option<tokio::runtime::Runtime>,
}

#[allow(dead_code)] // for a future `/-/fleet` route; serve reads reports from etcd today
impl FleetHost {
    /// The agent's latest report per module.
    pub fn reports(&self) -> std::collections::BTreeMap<String, hotpack_fleet::HostReport> {
        self.agent.as_ref().map(HostAgent::reports).unwrap_or_default()
    }
}

impl Drop for FleetHost {
    fn drop(&mut self) {
        if let (Some(agent), Some(rt)) = (self.agent.take(), self.runtime.as_ref()) {
            rt.block_on(agent.stop());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Joins `runtime` to the fleet named in `args` (`Ok(None)` without `--fleet`). Pulled
/// bundles are kept in `<cache dir>/fleet/<fleet>/<host id>`, outside the served folder. The agent runs on its own small async runtime; the caller's
/// code stays blocking.
///
/// # Errors
///
/// When `--host-id` or the registry is missing, or the agent cannot start.
pub fn join(runtime: &hotpack::Runtime, args: &FleetJoinArgs) -> anyhow::Result<Option<FleetHost>> {
    let Some(fleet) = args.fleet.clone() else { return Ok(None) };
    let Some(host) = args.host_id.clone() else { bail!("--fleet needs --host-id") };
    let connection = Connection { fleet: Some(fleet), etcd: args.etcd.clone(), registry: args.registry.clone() };
    let config = connection.config()?;
    let store = hotpack::default_cache_dir()?.join("fleet").join(&config.name).join(&host);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("hotpack-fleet")
        .enable_all()
        .build()
        .context("cannot start the fleet agent's async runtime")?;
    let agent = {
        let _guard = rt.enter();
        HostAgent::spawn(HostConfig::new(config, host, store), Arc::new(runtime.clone()))?
    };
    Ok(Some(FleetHost { agent: Some(agent), runtime: Some(rt) }))
}
