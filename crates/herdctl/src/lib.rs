//! `herdctl`: the herd operator's tool (contract section 4).
//!
//! - [`cli`]: the command line.
//! - The admin port is spoken through `herd_admin::client` (one client for
//!   every command, the dashboard and herd-bench).
//! - [`herd`]: the configuration as herdctl sees it: nodes, links, token.
//! - [`event_text`]: events in words, for `watch` and the dashboard.
//! - [`reorder`]: merging the nodes' event streams in time order.
//! - [`health`]: reachable, converged, diverged, each link's state: one
//!   definition for `status` and the dashboard.
//! - One file per command: [`status`], [`link`], [`send`], [`records`],
//!   [`watch`], [`drill`], [`up`] (which starts nodes by running this same
//!   program as `herdctl node NAME`, see [`run_node`], and restarts them on
//!   request).

pub mod certs;
pub mod cli;
pub mod drill;
pub mod event_text;
pub mod forget;
pub mod health;
pub mod herd;
pub mod link;
pub mod log;
pub mod records;
pub mod reload;
pub mod reorder;
pub mod restart;
pub mod run_node;
pub mod send;
pub mod status;
pub mod tui;
pub mod up;
pub mod watch;

use std::process::ExitCode;

/// Exit status for usage and configuration errors (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the herd is not as asked (a node unreachable, a
/// command refused) or the environment fails.
pub const EXIT_FAILURE: u8 = 1;

/// An error for the user: one line on stderr and an exit status.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_FAILURE,
            message: message.into(),
        }
    }
}

/// Writes a line to stdout. A closed stdout (`herdctl status | head -1`)
/// is not an error worth a panic: the reader has what it wanted.
pub fn say(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Writes a line to stderr, ignoring a closed stderr.
pub fn note(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Prints a failure the way every command does and turns it into the exit
/// status.
pub fn report(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                note(format_args!("herdctl: {}", failure.message));
            }
            ExitCode::from(failure.code)
        }
    }
}
