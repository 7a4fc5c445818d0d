//! Start-up and shutdown of a node.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use herd_admin::AdminState;
use herd_config::{Config, PlacesBackendKind};
use herd_places::{GoogleApi, GooglePlaces, GoogleSettings, OfflinePlaces, PlacesBackend};
use tokio::net::TcpListener;
use tracing::{error, info, warn};

use crate::admin::serve_admin;
use crate::cli::Cli;
use crate::link_set::LinkSet;
use crate::live::Live;
use crate::log_store::LogStore;
use crate::metrics::{Probe, Served, serve_metrics};
use crate::node::{Node, Settings};
use crate::peer::serve_peers;
use crate::reload::{ConfigSource, Reloader, serve_reloads};
use crate::store::RecordStore;
use crate::supervisor::{Restart, Supervisor};
use crate::{client, logging, name, resolve};

/// Exit status for configuration and usage errors (clap uses it too).
const EXIT_CONFIG: u8 = 2;
/// Exit status for failures of the environment (ports, files).
const EXIT_RUNTIME: u8 = 1;

/// Default client line limit (contract section 2) and the prefix echoed.
pub const TOO_LONG_PREFIX: usize = 256;

/// The node's tasks get this long to stop after SIGTERM or SIGINT (the
/// contract's 5 s covers this and the runtime's own shutdown).
const STOP_TASKS_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// A start-up failure: what to print and how to exit.
pub(crate) struct Fatal(u8, String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

pub fn main() -> ExitCode {
    main_with(Cli::parse())
}

/// Runs a node with arguments already parsed (herdctl runs nodes this way).
pub fn main_with(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            return fail(Fatal(
                EXIT_RUNTIME,
                format!("cannot start the runtime: {err}"),
            ));
        }
    };
    let outcome = runtime.block_on(run(cli));
    // Tasks still blocked (an fsync on a stalled disk) do not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(fatal) => fail(fatal),
    }
}

fn fail(Fatal(code, message): Fatal) -> ExitCode {
    eprintln!("herd-node: {message}");
    ExitCode::from(code)
}

async fn run(cli: Cli) -> Result<(), Fatal> {
    let stop = StopSignals::install();
    let mut config =
        Config::load(cli.config.as_deref()).map_err(|err| Fatal(EXIT_CONFIG, err.to_string()))?;
    config.apply_env(|var| std::env::var(var).ok());
    let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
    let (name, source) = name::node_name(
        cli.name.as_deref(),
        std::env::var_os(name::NAME_ENV),
        cli.name_from_hostname,
        name::host_name,
        &names,
    )
    .map_err(|err| Fatal(EXIT_CONFIG, err.to_string()))?;
    let Some(me) = config.node(&name).cloned() else {
        let from = match source {
            name::NameSource::Argument => String::new(),
            other => format!(" (the name is from {other})"),
        };
        return Err(Fatal(
            EXIT_CONFIG,
            format!(
                "no node named {name:?} in the config (nodes: {}){from}",
                names.join(", ")
            ),
        ));
    };

    let dir = cli.data_dir.join(&me.name);
    std::fs::create_dir_all(&dir).map_err(|err| {
        Fatal(
            EXIT_RUNTIME,
            format!("cannot create data directory {}: {err}", dir.display()),
        )
    })?;
    let log = logging::init(&dir, &config.log)
        .map_err(|err| Fatal(EXIT_RUNTIME, format!("log: {err}")))?;
    // Logged here, while the log's writer is still running (it stops when
    // the guard is dropped at the end of this function).
    let served = serve(&cli, &config, &me, dir, &log, stop).await;
    if let Err(Fatal(_, message)) = &served {
        error!("{message}");
    }
    served
}

/// Everything after the log is open: start the node and serve until a stop
/// signal.
async fn serve(
    cli: &Cli,
    config: &Config,
    me: &herd_config::NodeSpec,
    dir: std::path::PathBuf,
    log: &logging::Logging,
    mut stop: StopSignals,
) -> Result<(), Fatal> {
    // Where the node listens: resolved once, here; the warnings look at
    // these, since they are what is exposed.
    let client_at = listen_addr(me, "client", &me.client).await?;
    let peer_at = listen_addr(me, "peer", &me.peer).await?;
    let admin_at = listen_addr(me, "admin", &me.admin).await?;
    let metrics_at = match &me.metrics {
        Some(address) => Some((address, listen_addr(me, "metrics", address).await?)),
        None => None,
    };
    let mut warnings = config.warnings.clone();
    if config.herd.admin_token.is_none() && !admin_at.ip().is_loopback() {
        warnings.push(format!(
            "admin address {} is not on loopback and no admin_token is set: anyone who can reach it can cut links",
            shown(&me.admin, admin_at)
        ));
    }
    // A peer given by name counts as off loopback (unless it is localhost):
    // what a name resolves to can change after start-up.
    let exposed_peers = !peer_at.ip().is_loopback()
        || config
            .peers_of(&me.name)
            .iter()
            .any(|peer| !resolve::surely_loopback(&peer.peer));
    if config
        .herd
        .secrets
        .iter()
        .any(|secret| secret.expose().len() < 16)
    {
        warnings.push(
            "a herd secret is shorter than 16 bytes: a recorded handshake lets an attacker guess it offline; use a long random one".to_owned(),
        );
    }
    if config.herd.secrets.is_empty() && config.tls.is_none() && exposed_peers {
        warnings.push(format!(
            "peer address {} or a peer's is not on loopback and no herd secret is set (nor [tls]): anyone who can reach the peer port can join as a node and plant updates; set [herd] secret (or HERD_SECRET) or [tls]",
            shown(&me.peer, peer_at)
        ));
    }
    for warning in &warnings {
        warn!("config: {warning}");
        eprintln!("herd-node: warning: {warning}");
    }

    let places = load_places(cli.places_file.as_deref(), config)?;
    let client_listener = bind("client", &me.client, client_at).await?;
    let peer_listener = bind("peer", &me.peer, peer_at).await?;
    let admin_listener = bind("admin", &me.admin, admin_at).await?;
    let tasks = Supervisor::new();
    // The metrics listener serves from before the records are loaded, so
    // /ready can say the node is not ready yet (metrics/probe.rs).
    let probe = Probe::new();
    if let Some((address, at)) = metrics_at {
        let listener = Arc::new(bind("metrics", address, at).await?);
        let served = Served::new(probe.clone());
        tasks.spawn("metrics port", Restart::OnPanic, move || {
            serve_metrics(served.clone(), listener.clone())
        });
    }

    let settings = Settings {
        name: me.name.clone(),
        herd: config.herd.name.clone(),
        boot_id: format!("{:016x}", fastrand::u64(..)),
        too_long_prefix: TOO_LONG_PREFIX,
        client_addr: me.client.clone(),
        peer_addr: me.peer.clone(),
        admin_addr: me.admin.clone(),
        data_dir: dir.clone(),
        fsync: config.herd.fsync,
    };
    let tls = crate::live::read_tls(config, &me.name)
        .map_err(|err| Fatal(EXIT_CONFIG, format!("[tls]: {err}")))?;
    if let Some(tls) = &tls {
        if let Some(warning) = crate::live::key_warning(tls) {
            warn!("tls: {warning}");
            eprintln!("herd-node: warning: {warning}");
        }
        let said = crate::live::describe_certificate(tls);
        if tls.days_left() < crate::live::CERTIFICATE_WARN_DAYS {
            warn!("tls: {said}");
            eprintln!("herd-node: warning: {said}");
        } else {
            info!(
                "tls: peer links{} over TLS 1.3; {said}",
                match tls.admin_acceptor {
                    Some(_) => " and the admin port",
                    None => "",
                }
            );
        }
    }
    let live = Live::of(config, tls);
    let rules = crate::live::CoreRules::of(config);
    let store: Box<dyn RecordStore> = Box::new(LogStore::open(&dir).map_err(|err| {
        Fatal(
            EXIT_RUNTIME,
            format!("cannot open the record log in {}: {err}", dir.display()),
        )
    })?);
    // Reading a big log takes a moment (about 1 s per million records):
    // say so before, so a slow start is not a mystery.
    info!(
        "loading records from {}",
        dir.join(crate::log_store::LOG_FILE).display()
    );
    let node = Node::new(settings, live, rules, store, Vec::new(), places.clone())
        .map_err(|err| Fatal(EXIT_RUNTIME, format!("cannot load records: {err}")))?;
    let node = Arc::new(node);
    node.take_log_filter(log.filter.clone());
    probe.loaded(node.clone());
    // The links, each with its task: they dial at once.
    let mut links = LinkSet::new(node.clone(), tasks.clone());
    links.apply(config);

    let peer_names: Vec<String> = node
        .links()
        .iter()
        .map(|l| {
            let cut = if l.admin_state() == AdminState::Down {
                " (cut by the operator)"
            } else {
                ""
            };
            format!("{}@{}{cut}", l.peer, l.peer_addr())
        })
        .collect();
    let banner = format!(
        "node {} of herd {:?}: client {}, peer {}{}, admin {}{}{}{}; links to {}; {}; {}; config {} (generation {}); log {}",
        me.name,
        config.herd.name,
        shown(&me.client, client_at),
        shown(&me.peer, peer_at),
        if config.tls.is_some() { " (TLS)" } else { "" },
        shown(&me.admin, admin_at),
        if config.tls.as_ref().is_some_and(|tls| tls.admin) {
            " (TLS)"
        } else {
            ""
        },
        if config.herd.admin_token.is_some() {
            " (token required)"
        } else {
            ""
        },
        metrics_at.map_or_else(String::new, |(address, at)| format!(
            ", metrics {}",
            shown(address, at)
        )),
        if peer_names.is_empty() {
            "nobody".to_owned()
        } else {
            peer_names.join(", ")
        },
        places.describe(),
        node.store_description(),
        cli.config.as_deref().map_or_else(
            || "<default herd>".to_owned(),
            |path| path.display().to_string()
        ),
        config.generation,
        log.described,
    );
    info!(
        "starting {banner} (boot {}, pid {})",
        node.settings.boot_id,
        std::process::id()
    );
    eprintln!("herd-node: {banner}");

    // Only when it has work: a supervised task that ends is reported.
    if node.group_commit.is_enabled() {
        let n = node.clone();
        tasks.spawn("group commit", Restart::OnPanic, move || {
            n.group_commit.clone().run()
        });
    }
    if let Some(retention) = log.retention.clone() {
        tasks.spawn("log retention", Restart::OnPanic, move || {
            retention.clone().run()
        });
    }
    let n = node.clone();
    tasks.spawn("store maintenance", Restart::OnPanic, move || {
        n.clone().maintain_store_periodically()
    });
    let (n, l) = (node.clone(), Arc::new(client_listener));
    tasks.spawn("client port", Restart::OnPanic, move || {
        client::serve(n.clone(), l.clone())
    });
    let (n, l) = (node.clone(), Arc::new(peer_listener));
    tasks.spawn("peer port", Restart::OnPanic, move || {
        serve_peers(n.clone(), l.clone())
    });
    let (n, l) = (node.clone(), Arc::new(admin_listener));
    tasks.spawn("admin port", Restart::OnPanic, move || {
        serve_admin(n.clone(), l.clone())
    });
    let (requests, received) = tokio::sync::mpsc::channel(8);
    node.take_reloads_from(requests);
    let source = ConfigSource {
        path: cli.config.clone(),
        places_file: cli.places_file.clone(),
    };
    let reloader = Arc::new(tokio::sync::Mutex::new(Reloader::new(
        node.clone(),
        source,
        config.clone(),
        links,
    )));
    let received = Arc::new(tokio::sync::Mutex::new(received));
    let hangups = Arc::new(tokio::sync::Mutex::new(stop.take_hangups()));
    tasks.spawn("reload", Restart::OnPanic, move || {
        serve_reloads(reloader.clone(), received.clone(), hangups.clone())
    });
    // Every listener was bound before the records were loaded, and each
    // port's task now serves it.
    probe.serving();
    info!("ready");

    let signal = stop.wait().await;
    probe.stopping();
    info!(
        "received {signal}; stopping with {} records",
        node.records_summary().0
    );
    if !tasks.stop(STOP_TASKS_WITHIN).await {
        warn!("some tasks did not stop within {STOP_TASKS_WITHIN:?}");
    }
    Ok(())
}

/// Where the node listens for one of its addresses (`bind`, or the address
/// resolved now); a name that does not resolve stops the start, as a port
/// in use does.
async fn listen_addr(
    me: &herd_config::NodeSpec,
    role: &str,
    address: &herd_config::Address,
) -> Result<SocketAddr, Fatal> {
    resolve::listen_addr(me.bind, address).await.map_err(|err| {
        Fatal(
            EXIT_RUNTIME,
            format!("cannot listen on {role} address {address}: {err}"),
        )
    })
}

/// An address as configured, and where the node listens for it when that
/// is another text (`bind`, or a name resolved): `clark:12003 (on
/// 0.0.0.0:12003)`.
fn shown(address: &herd_config::Address, listening: SocketAddr) -> String {
    if address.socket_addr() == Some(listening) {
        address.to_string()
    } else {
        format!("{address} (on {listening})")
    }
}

async fn bind(
    role: &str,
    address: &herd_config::Address,
    at: SocketAddr,
) -> Result<TcpListener, Fatal> {
    TcpListener::bind(at).await.map_err(|err| {
        Fatal(
            EXIT_RUNTIME,
            format!(
                "cannot listen on {role} address {}: {err}",
                shown(address, at)
            ),
        )
    })
}

/// The places backend `config` asks for; `places_file` (`--places-file`)
/// wins over `[places] file`. A reload builds a new one the same way.
pub(crate) fn load_places(
    places_file: Option<&std::path::Path>,
    config: &Config,
) -> Result<Arc<dyn PlacesBackend>, Fatal> {
    let settings = &config.places;
    if settings.backend == PlacesBackendKind::Google {
        let Some(key) = &settings.google_key else {
            return Err(Fatal(
                EXIT_CONFIG,
                "places backend \"google\" needs an API key: set google_key in [places] or GOOGLE_PLACES_API_KEY".to_owned(),
            ));
        };
        let google = GooglePlaces::build(GoogleSettings {
            key: key.expose().to_owned(),
            endpoint: settings.google_endpoint.clone(),
            api: match settings.google_api {
                herd_config::GoogleApi::Legacy => GoogleApi::Legacy,
                herd_config::GoogleApi::New => GoogleApi::New,
            },
            timeout: settings.timeout,
            cache_ttl: settings.cache_ttl,
            max_concurrent: settings.max_concurrent,
        })
        .map_err(|err| Fatal(EXIT_RUNTIME, err.to_string()))?;
        return Ok(Arc::new(google));
    }
    let file = places_file.or(config.places.file.as_deref());
    let places = match file {
        Some(path) => OfflinePlaces::from_file(path),
        None => OfflinePlaces::embedded(),
    }
    .map_err(|err| Fatal(EXIT_CONFIG, err.to_string()))?;
    Ok(Arc::new(places))
}

/// Waits for SIGINT or SIGTERM; returns which.
/// SIGTERM and SIGINT, caught from the moment this is made: made before
/// any port is bound, so a stop that comes as soon as a port answers is a
/// clean stop, not the default action (death by the signal).
struct StopSignals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    /// SIGHUP (a reload), caught from the start too: its default action
    /// would end the process.
    hangup: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn install() -> StopSignals {
        use tokio::signal::unix::{SignalKind, signal};
        StopSignals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
            hangup: signal(SignalKind::hangup()).ok(),
        }
    }

    /// SIGHUP, for the reload task.
    fn take_hangups(&mut self) -> Option<tokio::signal::unix::Signal> {
        self.hangup.take()
    }

    /// Waits for either; returns which.
    async fn wait(mut self) -> &'static str {
        let (Some(term), Some(int)) = (self.term.as_mut(), self.int.as_mut()) else {
            // Without signal handlers the default actions still stop us.
            std::future::pending::<()>().await;
            return "nothing";
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
}
