//! Logs go to a file under the node's data directory; stderr only gets the
//! start-up line and errors (printed by `app`).

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

pub const LOG_FILE: &str = "node.log";

/// Starts logging to `dir/node.log` (appending). The guard flushes the log
/// when dropped, so keep it until the process ends. `HERD_LOG` (an
/// `EnvFilter` directive such as `debug`) overrides the default `info`.
pub fn init(dir: &Path) -> std::io::Result<(WorkerGuard, PathBuf)> {
    let path = dir.join(LOG_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    // The writer thread drains every queued line, then flushes: buffered,
    // that is one write per batch instead of one per line. Not lossy: the
    // contract wants every client line in the log, so a log that cannot
    // keep up slows the node rather than dropping lines.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(64 * 1024, file));
    let filter = EnvFilter::try_from_env("HERD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
    Ok((guard, path))
}
