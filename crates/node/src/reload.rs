//! Live reconfiguration (contract section 7): on SIGHUP or an admin
//! `reload`, the node re-reads the config file it started with and applies
//! what changed: links, peer addresses, `[limits]`, `[places]`, `[records]`,
//! secrets.
//! What may not change while it runs ([`herd_config::reload::changes`])
//! and a file with any error are refused, and the old config stays.

use std::path::PathBuf;
use std::sync::Arc;

use herd_config::reload::{Change, ReloadRefused, changes, describe};
use herd_config::{Config, ConfigError};
use tokio::sync::{Mutex, mpsc};
use tracing::{info, warn};

use crate::link_set::LinkSet;
use crate::live::Live;
use crate::node::Node;
use crate::reload_request::{ReloadOutcome, ReloadRequest};

/// Where the node's config comes from, and what it was started with.
pub struct ConfigSource {
    /// `--config`, or the embedded default herd.
    pub path: Option<PathBuf>,
    /// `--places-file`, which wins over `[places] file`.
    pub places_file: Option<PathBuf>,
}

pub struct Reloader {
    node: Arc<Node>,
    source: ConfigSource,
    config: Config,
    links: LinkSet,
}

impl Reloader {
    pub fn new(node: Arc<Node>, source: ConfigSource, config: Config, links: LinkSet) -> Reloader {
        Reloader {
            node,
            source,
            config,
            links,
        }
    }

    /// Re-reads the file and applies it, or says why not.
    pub async fn reload(&mut self) -> ReloadOutcome {
        match self.try_reload().await {
            Ok(changed) => {
                let what = describe(&changed);
                info!(
                    "reloaded the config (generation {}): {what}",
                    self.config.generation
                );
                ReloadOutcome::Applied(what)
            }
            Err(err) => {
                warn!(
                    "config reload refused, still running generation {}: {err}",
                    self.config.generation
                );
                ReloadOutcome::Refused(err.to_string())
            }
        }
    }

    /// Everything that can fail comes first, so a refusal changes nothing.
    async fn try_reload(&mut self) -> Result<Vec<Change>, ReloadError> {
        let path = self.source.path.clone();
        // File reads (and an offline places file, which may be large): not
        // on a runtime worker.
        let mut new = tokio::task::spawn_blocking(move || Config::load(path.as_deref())).await??;
        new.apply_env(|var| std::env::var(var).ok());
        let mut changed = changes(&self.config, &new, self.node.name())?;
        let (settings, me) = (new.clone(), self.node.name().to_owned());
        let tls = tokio::task::spawn_blocking(move || crate::live::read_tls(&settings, &me))
            .await?
            .map_err(ReloadError::Tls)?;
        let places = if changed.contains(&Change::Places) {
            let (settings, places_file) = (new.clone(), self.source.places_file.clone());
            let built = tokio::task::spawn_blocking(move || {
                crate::app::load_places(places_file.as_deref(), &settings)
            })
            .await?;
            Some(built.map_err(|fatal| ReloadError::Places(fatal.to_string()))?)
        } else {
            None
        };
        for warning in &new.warnings {
            warn!("config: {warning}");
        }
        let was = self.node.live().tls.as_ref().map(|tls| tls.fingerprint);
        if let Some(tls) = &tls
            && was != Some(tls.fingerprint)
        {
            info!(
                "tls: files re-read; {}",
                crate::live::describe_certificate(tls)
            );
            if let Some(warning) = crate::live::key_warning(tls) {
                warn!("tls: {warning}");
            }
            changed.push(Change::TlsFiles);
        }
        let rules = crate::live::CoreRules::of(&new);
        if changed.contains(&Change::Records) {
            let ttl = new.records.ttl.map_or_else(
                || "never expire".to_owned(),
                |ttl| format!("live {}", humantime::format_duration(ttl)),
            );
            info!(
                "records now {ttl}, tombstones {}",
                humantime::format_duration(new.records.tombstone_ttl)
            );
        }
        self.node.set_live(Live::of(&new, tls), rules);
        if let Some(places) = places {
            info!("places now: {}", places.describe());
            self.node.set_places(places);
        }
        self.links.apply(&new);
        self.config = new;
        Ok(changed)
    }
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
enum ReloadError {
    /// The file cannot be read or has an error (the start-up message).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// It changes what cannot change while the node runs.
    #[error(transparent)]
    NotLive(#[from] ReloadRefused),
    /// Its `[tls]` files cannot be read or do not fit.
    #[error("[tls]: {0}")]
    Tls(herd_tls::TlsError),
    /// Its `[places]` backend cannot be built.
    #[error("{0}")]
    Places(String),
    #[error("the reload's work on a blocking thread failed: {0}")]
    Blocking(#[from] tokio::task::JoinError),
}

/// Serves reloads, one at a time, from SIGHUP and the admin port, for as
/// long as the node runs. Shared state, so a restart after a panic goes on
/// with the same config and links.
pub async fn serve_reloads(
    reloader: Arc<Mutex<Reloader>>,
    requests: Arc<Mutex<mpsc::Receiver<ReloadRequest>>>,
    hangups: Arc<Mutex<Option<tokio::signal::unix::Signal>>>,
) {
    let mut requests = requests.lock().await;
    let mut hangups = hangups.lock().await;
    loop {
        let reply = tokio::select! {
            request = requests.recv() => match request {
                Some(request) => Some(request.reply),
                None => return,
            },
            () = hangup(&mut hangups) => {
                info!("received SIGHUP: reloading the config");
                None
            }
        };
        let outcome = reloader.lock().await.reload().await;
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}

/// The next SIGHUP (never, without a handler).
async fn hangup(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            if signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}
