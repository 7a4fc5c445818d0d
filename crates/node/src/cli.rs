//! Command line (contract section 4).

use std::path::PathBuf;

use clap::Parser;

/// Runs one node of a server herd.
#[derive(Debug, Parser)]
#[command(name = "herd-node", version, about)]
pub struct Cli {
    /// The herd's configuration (TOML). Without it, the embedded default
    /// five-node herd (assets/herd.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where the node keeps its files: DIR/NAME/ holds its records, its
    /// log and its link states, so several nodes can share one DIR.
    #[arg(long, value_name = "DIR", default_value = "./herd-data")]
    pub data_dir: PathBuf,

    /// A places file (TSV or gzip TSV, the format of assets/places.tsv.gz)
    /// to use instead of the embedded places; overrides `[places] file`.
    #[arg(long, value_name = "FILE")]
    pub places_file: Option<PathBuf>,

    /// Take the node's name from the first label of this machine's host
    /// name (a Kubernetes StatefulSet pod `herd-2` runs node `herd-2`),
    /// when neither NAME nor HERD_NODE gives one.
    #[arg(long, conflicts_with = "name")]
    pub name_from_hostname: bool,

    /// The node to run: a `[[node]]` name from the configuration. Without
    /// it, the environment variable HERD_NODE, then --name-from-hostname.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}
