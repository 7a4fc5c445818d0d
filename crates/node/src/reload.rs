//! Live reconfiguration (contract section 7): on SIGHUP or an admin
//! `reload`, the node re-reads the config file it started with and applies
//! what changed: links, peer addresses, `[limits]`, `[places]`, secrets.
//! What may not change while it runs ([`herd_config::reload::changes`])
//! and a file with any error are refused, and the old config stays.

use std::path::PathBuf;
use std::sync::Arc;

use herd_config::Config;
use herd_config::reload::{Change, changes, describe};
use herd_proto::Nanos;
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
        let path = self.source.path.clone();
        let places_file = self.source.places_file.clone();
        // File reads (and an offline places file, which may be large): not
        // on a runtime worker.
        let loaded = tokio::task::spawn_blocking(move || {
            let mut config = Config::load(path.as_deref()).map_err(|err| err.to_string())?;
            config.apply_env(|var| std::env::var(var).ok());
            Ok::<_, String>(config)
        })
        .await
        .unwrap_or_else(|err| Err(format!("reading the config failed: {err}")));
        let new = match loaded {
            Ok(config) => config,
            Err(why) => return self.refused(why),
        };
        let changed = match changes(&self.config, &new, self.node.name()) {
            Ok(changed) => changed,
            Err(refused) => return self.refused(refused.to_string()),
        };
        // Everything that can fail first, so a refusal changes nothing.
        let places = if changed.contains(&Change::Places) {
            let settings = new.clone();
            let built = tokio::task::spawn_blocking(move || {
                crate::app::load_places(places_file.as_deref(), &settings)
            })
            .await;
            match built {
                Ok(Ok(places)) => Some(places),
                Ok(Err(fatal)) => return self.refused(fatal.to_string()),
                Err(err) => return self.refused(format!("building [places] failed: {err}")),
            }
        } else {
            None
        };
        for warning in &new.warnings {
            warn!("config: {warning}");
        }
        self.node.set_live(
            Live {
                limits: new.limits,
                secret: new.herd.secret.clone(),
                admin_token: new.herd.admin_token.clone(),
                generation: new.generation.clone(),
            },
            Nanos(u64::try_from(new.herd.max_future_skew.as_nanos()).unwrap_or(u64::MAX)),
        );
        if let Some(places) = places {
            info!("places now: {}", places.describe());
            self.node.set_places(places);
        }
        self.links.apply(&new);
        self.config = new;
        let what = describe(&changed);
        info!(
            "reloaded the config (generation {}): {what}",
            self.config.generation
        );
        ReloadOutcome::Applied(what)
    }

    fn refused(&self, why: String) -> ReloadOutcome {
        warn!(
            "config reload refused, still running generation {}: {why}",
            self.config.generation
        );
        ReloadOutcome::Refused(why)
    }
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
