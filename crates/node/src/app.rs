//! Start-up and shutdown of a node.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use herd_config::{Config, PlacesBackendKind};
use herd_places::{OfflinePlaces, PlacesBackend};
use herd_proto::Nanos;
use tokio::net::TcpListener;
use tracing::{error, info, warn};

use crate::cli::Cli;
use crate::node::{Node, Settings};
use crate::peer::{Link, LinkSettings, run_link, serve_peers};
use crate::store::{RecordStore, VolatileStore};
use crate::{client, logging};

/// Exit status for configuration and usage errors (clap uses it too).
const EXIT_CONFIG: u8 = 2;
/// Exit status for failures of the environment (ports, files).
const EXIT_RUNTIME: u8 = 1;

/// Default client line limit (contract section 2) and the prefix echoed.
pub const MAX_LINE: usize = 8 * 1024;
pub const TOO_LONG_PREFIX: usize = 256;

/// A start-up failure: what to print and how to exit.
struct Fatal(u8, String);

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            return fail(Fatal(
                EXIT_RUNTIME,
                format!("cannot start the runtime: {err}"),
            ));
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(fatal) => fail(fatal),
    }
}

fn fail(Fatal(code, message): Fatal) -> ExitCode {
    error!("{message}");
    eprintln!("herd-node: {message}");
    ExitCode::from(code)
}

async fn run(cli: Cli) -> Result<(), Fatal> {
    let mut config =
        Config::load(cli.config.as_deref()).map_err(|err| Fatal(EXIT_CONFIG, err.to_string()))?;
    config.apply_env(|var| std::env::var(var).ok());
    let Some(me) = config.node(&cli.name).cloned() else {
        let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(Fatal(
            EXIT_CONFIG,
            format!(
                "no node named {:?} in the config (nodes: {})",
                cli.name,
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
    let (_log_guard, log_path) = logging::init(&dir).map_err(|err| {
        Fatal(
            EXIT_RUNTIME,
            format!("cannot open log in {}: {err}", dir.display()),
        )
    })?;
    let mut warnings = config.warnings.clone();
    if config.herd.secret.is_some() {
        warnings.push(
            "a herd secret is set, but this build does not authenticate peers yet: keep peer ports on trusted networks".to_owned(),
        );
    }
    for warning in &warnings {
        warn!("config: {warning}");
        eprintln!("herd-node: warning: {warning}");
    }

    let places = load_places(&cli, &config)?;
    let client_listener = bind("client", me.client).await?;
    let peer_listener = bind("peer", me.peer).await?;

    let peers = config.peers_of(&me.name);
    let mut links = Vec::with_capacity(peers.len());
    let mut accepted = Vec::with_capacity(peers.len());
    for (id, peer) in peers.iter().enumerate() {
        let (link, receiver) =
            Link::new(id, &me.name, &peer.name, peer.peer, LinkSettings::default());
        links.push(link);
        accepted.push(receiver);
    }
    let settings = Settings {
        name: me.name.clone(),
        herd: config.herd.name.clone(),
        boot_id: format!("{:016x}", fastrand::u64(..)),
        max_future_skew: Nanos(
            u64::try_from(config.herd.max_future_skew.as_nanos()).unwrap_or(u64::MAX),
        ),
        max_line: MAX_LINE,
        too_long_prefix: TOO_LONG_PREFIX,
    };
    let store: Box<dyn RecordStore> = Box::new(VolatileStore);
    let store_description = store.describe();
    let node = Node::new(settings, store, links, places.clone())
        .map_err(|err| Fatal(EXIT_RUNTIME, format!("cannot load records: {err}")))?;
    let node = Arc::new(node);

    let peer_names: Vec<String> = node
        .links
        .iter()
        .map(|l| format!("{}@{}", l.peer, l.peer_addr))
        .collect();
    let banner = format!(
        "node {} of herd {:?}: client {}, peer {}; links to {}; {}; {}; log {}",
        me.name,
        config.herd.name,
        me.client,
        me.peer,
        if peer_names.is_empty() {
            "nobody".to_owned()
        } else {
            peer_names.join(", ")
        },
        places.describe(),
        store_description,
        log_path.display(),
    );
    info!(
        "starting {banner} (boot {}, pid {})",
        node.settings.boot_id,
        std::process::id()
    );
    eprintln!("herd-node: {banner}");

    tokio::spawn(client::serve(node.clone(), client_listener));
    tokio::spawn(serve_peers(node.clone(), peer_listener));
    for (link, receiver) in node.links.iter().zip(accepted) {
        tokio::spawn(run_link(node.clone(), link.clone(), receiver));
    }

    let signal = wait_for_stop().await;
    info!(
        "received {signal}; stopping with {} records",
        node.record_count()
    );
    Ok(())
}

async fn bind(role: &str, address: std::net::SocketAddr) -> Result<TcpListener, Fatal> {
    TcpListener::bind(address).await.map_err(|err| {
        Fatal(
            EXIT_RUNTIME,
            format!("cannot listen on {role} address {address}: {err}"),
        )
    })
}

fn load_places(cli: &Cli, config: &Config) -> Result<Arc<dyn PlacesBackend>, Fatal> {
    match config.places.backend {
        PlacesBackendKind::Offline => {}
        PlacesBackendKind::Google => {
            return Err(Fatal(
                EXIT_CONFIG,
                "places backend \"google\" is not available in this build; use backend = \"offline\"".to_owned(),
            ));
        }
    }
    let file = cli.places_file.as_deref().or(config.places.file.as_deref());
    let places = match file {
        Some(path) => OfflinePlaces::from_file(path),
        None => OfflinePlaces::embedded(),
    }
    .map_err(|err| Fatal(EXIT_CONFIG, err.to_string()))?;
    Ok(Arc::new(places))
}

/// Waits for SIGINT or SIGTERM; returns which.
async fn wait_for_stop() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the default actions still stop us.
        std::future::pending::<()>().await;
        return "nothing";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
