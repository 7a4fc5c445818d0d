//! What the modes that drive a herd take: the command line's shared
//! arguments, in their own module so that `main` (the command line) and
//! `modes` (the work) both use them without depending on each other.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::load::Mode;

#[derive(clap::Args, Clone)]
pub struct LoadArgs {
    /// The node's client address.
    #[arg(long, default_value = "127.0.0.1:12003")]
    pub addr: SocketAddr,
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    #[arg(long, value_enum, default_value_t = Mode::Session)]
    pub mode: Mode,
    /// Client ids are drawn from this many.
    #[arg(long, default_value_t = 64_000)]
    pub clients: u64,
    /// Measure the echo ceiling first, with the same load, and print the
    /// ratio.
    #[arg(long)]
    pub echo: bool,
    /// Spread the connections over every node of the herd (round robin
    /// over the config's client addresses) instead of `--addr`: the herd's
    /// throughput as a whole. The echo ceiling takes them all.
    #[arg(long)]
    pub spread: bool,
    /// The herd's config for `--spread` (default: the embedded default
    /// herd).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
pub struct HerdArgs {
    /// The herd's config (default: the embedded default herd).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Admin token, if the herd has one (or HERD_ADMIN_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
}
