//! `herd-bench`: measures a running herd from outside, over real TCP
//! (docs/BENCHMARKS.md). Every throughput mode can first measure the echo
//! ceiling (`--echo`): a minimal tokio line server, run as a separate
//! process on this machine, driven by the same load, so figures come with a
//! ratio that holds from one run to the next.

mod absorb;
mod args;
mod echo;
mod load;
mod modes;
mod report;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::args::{HerdArgs, LoadArgs};

#[derive(Parser)]
#[command(version, about = "Benchmarks for a running herd")]
struct Cli {
    /// One JSON object per result on stdout instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Closed-loop IAMAT round trips over N connections.
    Iamat {
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Closed-loop WHATSAT round trips (radius 10 km, bound 5) over N
    /// connections, for clients located first.
    Whatsat {
        #[command(flatten)]
        load: LoadArgs,
    },
    /// A minimal tokio line server answering each line with an AT-sized
    /// line: the ceiling. Prints its address, then serves until killed.
    Echo {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// IAMATs at one node at a fixed rate; how long until each is merged
    /// at every other node (from the nodes' admin event streams, `records`
    /// events only unless `--watch all`).
    Propagate {
        #[command(flatten)]
        herd: HerdArgs,
        /// The node the updates go to.
        #[arg(long, default_value = "Clark")]
        from: String,
        /// Updates per second.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// The events watched at every node.
        #[arg(long, value_enum, default_value_t = modes::Watch::Records)]
        watch: modes::Watch,
    },
    /// Cuts a node off, loads N updates into it, heals, and times until
    /// every node's digest is equal.
    Heal {
        #[command(flatten)]
        herd: HerdArgs,
        #[arg(long, default_value = "Clark")]
        node: String,
        #[arg(long, default_value_t = 100_000)]
        records: usize,
    },
    /// Loads N distinct clients into a node; its RSS per record.
    Memory {
        #[command(flatten)]
        herd: HerdArgs,
        #[arg(long, default_value = "Clark")]
        node: String,
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
    },
    /// Speaks the peer protocol to a node as one of its configured peers
    /// and pushes updates as fast as it takes them: updates merged per
    /// second (the herd's capacity: every node applies every update).
    Absorb {
        #[command(flatten)]
        absorb: absorb::AbsorbArgs,
    },
    /// Starts a one-node herd N times; time until its client port accepts.
    Startup {
        /// The herd-node program.
        #[arg(long, default_value = "target/release/herd-node")]
        node_binary: PathBuf,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("herd-bench: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Iamat { load } => modes::iamat(&load, cli.json).await,
            Command::Whatsat { load } => modes::whatsat(&load, cli.json).await,
            Command::Echo { listen } => modes::echo(listen).await,
            Command::Propagate {
                herd,
                from,
                rate,
                seconds,
                watch,
            } => modes::propagate(&herd, &from, rate, seconds, watch, cli.json).await,
            Command::Heal {
                herd,
                node,
                records,
            } => modes::heal(&herd, &node, records, cli.json).await,
            Command::Memory {
                herd,
                node,
                records,
            } => modes::memory(&herd, &node, records, cli.json).await,
            Command::Absorb { absorb } => absorb::absorb(&absorb, cli.json).await,
            Command::Startup { node_binary, runs } => {
                modes::startup(&node_binary, runs, cli.json).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("herd-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}
