//! Logs go to a file under the node's data directory; stderr only gets the
//! start-up line and errors (printed by `app`).
//!
//! `[log] format` picks lines for people (text) or one JSON object per
//! line ([`json`]); `[log] keep` rotates the file daily and deletes what is
//! older; the filter changes while the node runs ([`filter`], `herdctl
//! log`). Every client line is logged, so the writer is never lossy: a log
//! that cannot keep up slows the node rather than dropping lines, and the
//! writing happens on the appender's own thread, off the request path.

pub mod filter;
pub mod json;
pub mod retention;

use std::path::{Path, PathBuf};

use herd_config::{LogFormat, LogSettings};
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use filter::{FilterError, LogFilter};
pub use retention::Retention;

/// The log file without rotation.
pub const LOG_FILE: &str = "node.log";
/// With `keep`: `node.YYYY-MM-DD.log`, one per day (UTC).
const ROTATED_PREFIX: &str = "node";
const ROTATED_SUFFIX: &str = "log";

/// The running log: keep it until the process ends (dropping it flushes).
pub struct Logging {
    pub guard: WorkerGuard,
    /// What the start-up line says about where the log goes.
    pub described: String,
    pub filter: LogFilter,
    /// With `keep`: what deletes the old files (the node runs it hourly).
    pub retention: Option<Retention>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the daily log in {}: {source}", dir.display())]
    Rotating {
        dir: PathBuf,
        source: tracing_appender::rolling::InitError,
    },
    #[error("cannot install the logger: {0}")]
    Install(#[from] tracing_subscriber::util::TryInitError),
}

/// Starts logging under `dir` as `settings` say. `HERD_LOG` (an
/// `EnvFilter` directive such as `debug`) sets the first filter; `info`
/// without it.
pub fn init(dir: &Path, settings: &LogSettings) -> Result<Logging, LogError> {
    let (writer, guard, described) = open(dir, settings)?;
    let first = EnvFilter::try_from_env("HERD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter_layer, filter) = LogFilter::new(first);
    let (text, json) = match settings.format {
        LogFormat::Text => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false),
            ),
            None,
        ),
        LogFormat::Json => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .event_format(json::JsonLines),
            ),
        ),
    };
    tracing_subscriber::registry()
        .with(filter_layer)
        .with(text)
        .with(json)
        .try_init()?;
    // What is already too old goes now, said in the log just opened.
    let retention = settings.keep_days.map(|keep_days| Retention {
        dir: dir.to_owned(),
        keep_days,
    });
    if let Some(retention) = &retention {
        retention.prune();
    }
    Ok(Logging {
        guard,
        described,
        filter,
        retention,
    })
}

/// The file (or daily files) the log goes to, behind the non-blocking
/// writer. Buffered: the writer thread drains every queued line, then
/// flushes, one write per batch instead of one per line.
fn open(
    dir: &Path,
    settings: &LogSettings,
) -> Result<(NonBlocking, WorkerGuard, String), LogError> {
    let builder = tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(false);
    let format = match settings.format {
        LogFormat::Text => "",
        LogFormat::Json => " (JSON lines)",
    };
    match settings.keep_days {
        None => {
            let path = dir.join(LOG_FILE);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| LogError::Open {
                    path: path.clone(),
                    source,
                })?;
            let (writer, guard) =
                builder.finish(std::io::BufWriter::with_capacity(64 * 1024, file));
            Ok((writer, guard, format!("{}{format}", path.display())))
        }
        Some(days) => {
            // Old files are deleted by the date in their names
            // (retention.rs), not by tracing-appender's count of files,
            // which a node that was down for days would get wrong.
            let appender = RollingFileAppender::builder()
                .rotation(Rotation::DAILY)
                .filename_prefix(ROTATED_PREFIX)
                .filename_suffix(ROTATED_SUFFIX)
                .build(dir)
                .map_err(|source| LogError::Rotating {
                    dir: dir.to_owned(),
                    source,
                })?;
            let (writer, guard) = builder.finish(appender);
            Ok((
                writer,
                guard,
                format!(
                    "{}/{ROTATED_PREFIX}.YYYY-MM-DD.{ROTATED_SUFFIX}{format}, daily, kept {days} days",
                    dir.display()
                ),
            ))
        }
    }
}
