//! The command line (contract section 4). Options may stand anywhere, after
//! positional arguments too: `--config` is global.
//!
//! The clap types stay here: the commands take plain arguments, so no
//! command module depends on this one.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use herd_admin::AdminState;

use crate::Failure;
use crate::herd::Herd;

/// Watch and steer a server herd.
#[derive(Debug, Parser)]
#[command(name = "herdctl", version, about)]
pub struct Cli {
    /// The herd's configuration (TOML). Without it, the embedded default
    /// five-node herd.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Dashboard: watch only; refuse every change (link cuts, IAMATs).
    #[arg(long, global = true)]
    pub readonly: bool,

    /// Dashboard colours for a dark or a light terminal (default:
    /// HERDCTL_THEME, then the config's [dashboard] theme, else dark;
    /// NO_COLOR turns them off).
    #[arg(long, global = true, value_enum)]
    pub theme: Option<ThemeName>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start every node of the herd as its own process and keep them
    /// running until Ctrl-C or SIGTERM, which stops them all.
    Up {
        /// Stay in the foreground without the dashboard.
        #[arg(long)]
        no_tui: bool,
        /// Where the nodes keep their files (DIR/NAME/ per node).
        #[arg(long, value_name = "DIR", default_value = "./herd-data")]
        data_dir: PathBuf,
    },
    /// One snapshot of every node: reachable, records, digest, links.
    /// Exits non-zero when any node is unreachable.
    Status {
        /// One JSON object for scripts.
        #[arg(long)]
        json: bool,
        /// How long to wait for each node.
        #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Cut (down) or restore (up) the link between nodes A and B, on both ends.
    Link {
        a: String,
        b: String,
        #[arg(ignore_case = true)]
        state: LinkState,
    },
    /// Make nodes re-read their config file and apply what changed, as
    /// SIGHUP does (every node when none is named). One line per node;
    /// exits non-zero if any refused or could not be reached.
    Reload {
        #[arg(value_name = "NODE")]
        nodes: Vec<String>,
    },
    /// Change a running node's log filter: `debug`, `info,client=warn`
    /// (tracing's EnvFilter directives), until it stops.
    Log { node: String, filter: String },
    /// Forget a client on the whole herd: its records are gone from every
    /// node and their files, and older updates of it are refused.
    Forget {
        client: String,
        /// The node to ask (default: the first in the config that answers).
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
        /// One JSON object for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Send lines to a node's client port and print the replies.
    Send {
        node: String,
        /// Lines to send, e.g. 'IAMAT kiwi +34.07-118.44 1700000000.0'.
        #[arg(required = true, value_name = "LINE")]
        lines: Vec<String>,
        /// How long to wait for all replies.
        #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// The records a node holds.
    Records {
        node: String,
        /// One JSON object for scripts.
        #[arg(long)]
        json: bool,
        /// Only clients whose id starts with this.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
    },
    /// The live events of every node, merged, one line per event.
    Watch {
        /// One JSON object per line, with the node's name added.
        #[arg(long)]
        json: bool,
        /// Hold events this long to print them in time order across nodes
        /// (0s: print each as it arrives).
        #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = humantime::parse_duration)]
        reorder: Duration,
    },
    /// Run a partition drill against the running herd (contract section
    /// 10): exits 0 when it held, 1 when it did not, 2 for a bad scenario.
    Drill {
        #[arg(value_name = "SCENARIO.toml")]
        scenario: PathBuf,
        /// One JSON object for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Make the herd's TLS certificates (contract section 8).
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Run one node (how `herdctl up` starts nodes; same as herd-node).
    #[command(hide = true)]
    Node(NodeArgs),
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// A new CA in DIR, and a certificate and key for every node of the
    /// config and for herdctl; prints the [tls] section to add.
    Init {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// How long the certificates are valid.
        #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = clap::value_parser!(u64).range(1..=36_500))]
        days: u64,
        /// Replace a CA already in DIR (its certificates stop working).
        #[arg(long)]
        force: bool,
    },
    /// Certificates for new nodes, signed by the herd's CA: the one in
    /// --dir, else the config's [tls] ca (with its key beside it).
    Add {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = clap::value_parser!(u64).range(1..=36_500))]
        days: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ThemeName {
    Dark,
    Light,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LinkState {
    Up,
    Down,
}

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    #[arg(long, value_name = "DIR", default_value = "./herd-data")]
    pub data_dir: PathBuf,
    #[arg(long, value_name = "FILE")]
    pub places_file: Option<PathBuf>,
    pub name: String,
}

pub async fn dispatch(cli: Cli) -> Result<(), Failure> {
    // Before the herd is loaded: its [tls] files may not exist yet.
    if let Some(Command::Certs(command)) = &cli.command {
        let config = herd_config::Config::load(cli.config.as_deref())
            .map_err(|err| Failure::usage(err.to_string()))?;
        return match command {
            CertsCommand::Init { dir, days, force } => {
                crate::certs::init(&config, dir, *days, *force)
            }
            CertsCommand::Add { names, dir, days } => {
                crate::certs::add(&config, dir.as_deref(), names, *days)
            }
        };
    }
    let herd = Herd::load(cli.config.as_deref()).map_err(|mut failure| {
        if matches!(cli.command, Some(Command::Reload { .. })) {
            // Without the file herdctl knows no admin port to ask.
            failure
                .message
                .push_str("; no node was asked to reload: each keeps the config it runs");
        }
        failure
    })?;
    match cli.command {
        Some(Command::Status { json, timeout }) => crate::status::run(&herd, json, timeout).await,
        Some(Command::Link { a, b, state }) => {
            let admin = match state {
                LinkState::Up => AdminState::Up,
                LinkState::Down => AdminState::Down,
            };
            crate::link::run(&herd, &a, &b, admin).await
        }
        Some(Command::Reload { nodes }) => crate::reload::run(&herd, &nodes).await,
        Some(Command::Log { node, filter }) => crate::log::run(&herd, &node, &filter).await,
        Some(Command::Forget { client, node, json }) => {
            crate::forget::run(&herd, &client, node.as_deref(), json).await
        }
        Some(Command::Send {
            node,
            lines,
            timeout,
        }) => crate::send::run(&herd, &node, &lines, timeout).await,
        Some(Command::Records { node, json, prefix }) => {
            crate::records::run(&herd, &node, json, prefix.as_deref()).await
        }
        Some(Command::Watch { json, reorder }) => crate::watch::run(&herd, json, reorder).await,
        Some(Command::Drill { scenario, json }) => crate::drill::run(&herd, &scenario, json).await,
        Some(Command::Up { no_tui, data_dir }) => {
            let dashboard = if no_tui {
                None
            } else if interactive() {
                Some(dashboard_options(&herd, cli.readonly, cli.theme))
            } else {
                crate::note("herdctl: not a terminal: running headless (as --no-tui)");
                None
            };
            crate::up::run(&herd, cli.config.as_deref(), &data_dir, dashboard).await
        }
        Some(Command::Node(_)) => Err(Failure::usage("herdctl node runs outside the runtime")),
        // Served above, before the herd is loaded.
        Some(Command::Certs(_)) => Ok(()),
        None if interactive() => {
            crate::tui::run::run(&herd, dashboard_options(&herd, cli.readonly, cli.theme)).await
        }
        None => {
            crate::note("herdctl: not a terminal, so no dashboard: here is the status");
            crate::status::run(&herd, false, Duration::from_secs(3)).await
        }
    }
}

/// The dashboard needs a terminal on both ends.
fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// NO_COLOR (any non-empty value) turns colours off (no-color.org).
/// `--theme`, then HERDCTL_THEME (read here, not by clap, so that a
/// wrong value in the environment cannot stop other commands; it is
/// ignored), then the config's `[dashboard] theme`.
fn dashboard_options(
    herd: &Herd,
    readonly: bool,
    theme: Option<ThemeName>,
) -> crate::tui::run::Options {
    let from_env = || match std::env::var("HERDCTL_THEME")
        .ok()?
        .to_ascii_lowercase()
        .as_str()
    {
        "dark" => Some(ThemeName::Dark),
        "light" => Some(ThemeName::Light),
        _ => None,
    };
    let light = match theme.or_else(from_env) {
        Some(theme) => theme == ThemeName::Light,
        None => herd.config.dashboard.theme == Some(herd_config::DashboardTheme::Light),
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    crate::tui::run::Options {
        readonly,
        color: !no_color,
        light,
        up: None,
    }
}
