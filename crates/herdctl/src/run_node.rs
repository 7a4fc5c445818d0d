//! `herdctl node NAME`: runs one node in this process, exactly as
//! `herd-node` would. `herdctl up` starts its nodes this way, so that
//! `cargo run -p herdctl -- up` needs no second binary.
//!
//! When started by `up`, the node also stops when `up` dies, even by
//! SIGKILL: the kernel sends it SIGTERM (PR_SET_PDEATHSIG), so no node is
//! left behind holding the herd's ports.

use std::path::PathBuf;
use std::process::ExitCode;

/// Set by `up` to its own pid in the environment of the nodes it starts.
pub const PARENT_ENV: &str = "HERDCTL_UP_PID";

/// What to run: the same as herd-node's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub config: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub places_file: Option<PathBuf>,
    pub name: String,
}

pub fn run(launch: Launch) -> ExitCode {
    if let Some(parent) = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|pid| pid.parse::<i32>().ok())
    {
        stop_with_parent(parent);
    }
    herd_node::app::main_with(herd_node::cli::Cli {
        config: launch.config,
        data_dir: launch.data_dir,
        places_file: launch.places_file,
        name: Some(launch.name),
        name_from_hostname: false,
    })
}

#[cfg(target_os = "linux")]
fn stop_with_parent(parent: i32) {
    use nix::sys::signal::Signal;
    use nix::unistd::getppid;
    if nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).is_err() {
        return;
    }
    // `up` may have died before the line above: then we were re-parented.
    if getppid().as_raw() != parent {
        std::process::exit(0);
    }
}

#[cfg(not(target_os = "linux"))]
fn stop_with_parent(_parent: i32) {}
