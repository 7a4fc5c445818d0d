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

    /// The node to run: a `[[node]]` name from the configuration.
    #[arg(value_name = "NAME")]
    pub name: String,
}
