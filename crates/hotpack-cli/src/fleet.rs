//! `hotpack fleet ...`: the operator's commands (publish, rollout, promote, rollback, pause,
//! status), and [`FleetJoinArgs`] / [`join`], the hook `serve --fleet` uses to run a host agent.
//! Connection settings come from flags or `HOTPACK_FLEET`, `HOTPACK_ETCD`, `HOTPACK_REGISTRY`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hotpack::archive::{PublicKey, SigningKey};
use hotpack_fleet::{AnalysisConfig, AutoOutcome, Fleet, FleetConfig, HostAgent, HostConfig, short};

/// A duration: `500ms`, `30s`, `5m`, `2h`, `7d` (a bare number is seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration (e.g. 500ms, 30s, 5m, 2h, 7d)"))?;
    let seconds = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        other => return Err(format!("unknown unit `{other}` in `{text}` (ms, s, m, h, d)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// A size: `4096`, `64k`, `256M`, `1G` (binary units).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, shift) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 10),
        Some((i, 'm' | 'M')) => (&text[..i], 20),
        Some((i, 'g' | 'G')) => (&text[..i], 30),
        _ => (text, 0),
    };
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a size (e.g. 4096, 64k, 256M, 1G)"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("`{text}` is too big"))
}

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

/// The operator's key and how long what it signs stays valid.
#[derive(Debug, Clone, Args)]
pub struct Signing {
    /// The operator's secret key (`hotpack keygen`): signs release and rollout records; hosts
    /// trusting its public half ignore records without it [env: HOTPACK_FLEET_KEY]
    #[arg(long, global = true, value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// How long a record written now stays valid; past it hosts report `expired` until
    /// `renew` (run it from a timer)
    #[arg(long, global = true, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub valid_for: Duration,
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
    #[command(flatten)]
    signing: Signing,
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
    /// Roll a published release out in waves; with --auto, watch and roll back on the first
    /// failure; with --auto --bake, also promote each wave once its analysis passes
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
        #[command(flatten)]
        analysis: AnalysisArgs,
    },
    /// Re-sign a module's rollout with a new sequence number and expiry (nothing else changes)
    Renew {
        /// The module.
        module: String,
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

/// How `--auto --bake` judges a wave.
#[derive(Debug, Args)]
struct AnalysisArgs {
    /// Promote each wave by itself once its hosts served the canary this long with an error
    /// rate and p99 latency no worse than the hosts on the stable release (the last wave:
    /// than the baseline measured during the previous wave)
    #[arg(long, value_name = "DURATION", requires = "auto", value_parser = parse_duration)]
    bake: Option<Duration>,
    /// Fewest calls on the canary and on the baseline for a verdict; fewer pauses the rollout
    #[arg(long, value_name = "N", default_value_t = 100, requires = "bake")]
    min_calls: u64,
    /// Most the canary's error rate may exceed the baseline's, in percentage points
    #[arg(long, value_name = "POINTS", default_value_t = 1.0, requires = "bake")]
    max_error_increase: f64,
    /// Most the canary's p99 latency may be, in percent of the baseline's...
    #[arg(long, value_name = "PERCENT", default_value_t = 150, requires = "bake")]
    max_p99_ratio: u64,
    /// ...unless it is within this much of it (microsecond p99s are noise)
    #[arg(long, value_name = "DURATION", default_value = "5ms", requires = "bake", value_parser = parse_duration)]
    p99_slack: Duration,
}

impl AnalysisArgs {
    fn config(&self) -> Option<AnalysisConfig> {
        let bake = self.bake?;
        Some(AnalysisConfig {
            bake_ms: u64::try_from(bake.as_millis()).unwrap_or(u64::MAX),
            min_calls: self.min_calls,
            max_error_increase_bp: (self.max_error_increase.max(0.0) * 100.0).round() as u64,
            max_p99_ratio_pct: self.max_p99_ratio,
            p99_slack_us: u64::try_from(self.p99_slack.as_micros()).unwrap_or(u64::MAX),
        })
    }
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
        let mut fleet = Fleet::connect(config).await?.with_validity(args.signing.valid_for);
        let key = args.signing.key.clone().or_else(|| std::env::var_os("HOTPACK_FLEET_KEY").map(PathBuf::from));
        match key {
            Some(path) => {
                let key =
                    SigningKey::load(&path).with_context(|| format!("operator key {}", crate::log::path(&path)))?;
                fleet = fleet.with_key(key);
            }
            None if matches!(args.command, FleetCommand::Status { .. }) => {}
            None => eprintln!(
                "warning: no --key: records are written unsigned; hosts that trust an operator key ignore them"
            ),
        }
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
            FleetCommand::Renew { module } => {
                let r = fleet.renew(&module).await?;
                println!("{module}: renewed (sequence {}, valid until unix time {})", r.sequence, r.expires);
            }
            FleetCommand::Rollout { module, version, waves, auto, analysis } => {
                let rollout = fleet.rollout_with(&module, &version, &waves, auto, analysis.config()).await?;
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
                        AutoOutcome::Paused { reason } => {
                            println!(
                                "{module}: paused ({reason}); resume with `hotpack fleet pause {module} --resume`"
                            );
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
        if let Some(a) = &r.analysis {
            for w in &a.waves {
                println!("    wave {} ({}%): {:?}: {}", w.wave + 1, w.percent, w.verdict, w.reason);
            }
            for restart in &a.restarts {
                println!("    analysis restarted: {restart}");
            }
        }
        for h in status.hosts_of(&r.module) {
            let active = h.active.as_ref().map(|a| a.version.as_str()).unwrap_or("-");
            let reason = h.reason.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            println!("    {:<20} {:<10} {:?}{reason}", h.host, active, h.state);
        }
    }
    for u in &status.unreadable {
        println!("  unreadable record {}: {}", u.key, u.problem);
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
    /// The operator's public key: follow only release and rollout records it signed
    /// (repeatable; default: the --trusted-key keys)
    #[arg(long, value_name = "PUB")]
    pub operator_key: Vec<PathBuf>,
    /// Join a fleet without keys: anyone who can write to etcd and the registry decides what
    /// this host runs
    #[arg(long)]
    pub allow_unsigned: bool,
    /// The most bytes pulled for one bundle, whatever its release record says (e.g. 256M)
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    pub max_bundle: u64,
    /// How long one pull may take before it is given up and retried
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub pull_deadline: Duration,
}

/// A running fleet agent; dropping it stops the agent and its thread.
#[derive(Debug)]
pub struct FleetHost {
    agent: Option<HostAgent>,
    runtime: Option<tokio::runtime::Runtime>,
    meter: Arc<hotpack_fleet::CallMeter>,
}

#[allow(dead_code)] // reports: a future `/-/fleet` route
impl FleetHost {
    /// The agent's latest report per module.
    pub fn reports(&self) -> std::collections::BTreeMap<String, hotpack_fleet::HostReport> {
        self.agent.as_ref().map(HostAgent::reports).unwrap_or_default()
    }

    /// Where serve's call path records each call, so the host's reports carry what
    /// `rollout --auto --bake` judges.
    pub fn meter(&self) -> &Arc<hotpack_fleet::CallMeter> {
        &self.meter
    }
}

/// Serve's call observer for a joined host: every call into the fleet's analysis meter (a
/// crash counts as an error and a worker death).
pub(crate) fn call_observer(host: &FleetHost) -> crate::serve::host::CallObserver {
    use crate::serve::host::CallKind;
    use hotpack_fleet::Outcome;
    let meter = Arc::clone(&host.meter);
    Arc::new(move |module: &str, kind: CallKind, took: std::time::Duration| match kind {
        CallKind::Ok => meter.record(module, Outcome::Ok, took),
        CallKind::Error => meter.record(module, Outcome::Error, took),
        CallKind::Panic => meter.record(module, Outcome::Panic, took),
        CallKind::Crash => {
            meter.record(module, Outcome::Error, took);
            meter.worker_died(module);
        }
        // The call failed for `module`; the worker's death is the provider's.
        CallKind::ProviderCrash(provider) => {
            meter.record(module, Outcome::Error, took);
            meter.worker_died(&provider);
        }
    })
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

/// Joins `runtime` to the fleet named in `args` (`Ok(None)` without `--fleet`), following
/// records signed by `--operator-key` (default: `trusted`, serve's `--trusted-key` keys);
/// refused without keys unless `--allow-unsigned`. Pulled
/// bundles are kept in `<cache dir>/fleet/<fleet>/<host id>`, outside the served folder. The agent runs on its own small async runtime; the caller's
/// code stays blocking.
///
/// # Errors
///
/// When `--host-id` or the registry is missing, or the agent cannot start.
pub fn join(
    runtime: &hotpack::Runtime,
    args: &FleetJoinArgs,
    trusted: &[PublicKey],
) -> anyhow::Result<Option<FleetHost>> {
    let Some(fleet) = args.fleet.clone() else { return Ok(None) };
    let Some(host) = args.host_id.clone() else { bail!("--fleet needs --host-id") };
    let mut operator_keys = args
        .operator_key
        .iter()
        .map(|p| PublicKey::load(p).with_context(|| format!("operator key {}", crate::log::path(p))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if operator_keys.is_empty() {
        operator_keys = trusted.to_vec();
    }
    if operator_keys.is_empty() && !args.allow_unsigned {
        bail!(
            "--fleet needs --trusted-key PUB (or --operator-key PUB): without a key anyone who can write to etcd and \
             the registry decides what this host runs; pass --allow-unsigned to accept that"
        );
    }
    let connection = Connection { fleet: Some(fleet), etcd: args.etcd.clone(), registry: args.registry.clone() };
    let config = connection.config()?;
    let store = hotpack::default_cache_dir()?.join("fleet").join(&config.name).join(&host);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("hotpack-fleet")
        .enable_all()
        .build()
        .context("cannot start the fleet agent's async runtime")?;
    let meter = Arc::new(hotpack_fleet::CallMeter::new());
    let agent = {
        let _guard = rt.enter();
        let mut config =
            HostConfig::new(config, host, store).operator_keys(operator_keys).allow_unsigned(args.allow_unsigned);
        config.max_bundle = args.max_bundle;
        config.meter = Some(Arc::clone(&meter));
        config.pull_deadline = args.pull_deadline;
        HostAgent::spawn(config, Arc::new(runtime.clone()))?
    };
    Ok(Some(FleetHost { agent: Some(agent), runtime: Some(rt), meter }))
}
