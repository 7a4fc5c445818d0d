//! The settings a reload may change while the node runs. Read whole with
//! [`crate::node::Node::live`] (an `Arc`, so a reader keeps one consistent
//! set while a reload swaps in the next).

use std::sync::Arc;

use herd_config::{ClientSettings, Config, Limits, Secret};
use herd_core::Lifecycle;
use herd_proto::Nanos;
use herd_tls::{NodeTls, TlsError};

#[derive(Debug, Clone)]
pub struct Live {
    /// What one client may cost (`[limits]`); a client connection keeps
    /// the limits it started with.
    pub limits: Limits,
    /// `[client]`: one request per connection, or many; a connection
    /// keeps what it started with.
    pub client: ClientSettings,
    /// The herd secrets (empty: none): peers must prove they know one; this
    /// node proves with the first (peer/auth.rs).
    pub secrets: Vec<Secret>,
    /// `[tls]`, as its files were when last read.
    pub tls: Option<Arc<NodeTls>>,
    /// When set, admin connections must present it first.
    pub admin_token: Option<Secret>,
    /// The config this node runs (`Config::generation`).
    pub generation: String,
}

impl Live {
    /// What `config` says of them, with TLS as `tls` read its files.
    pub fn of(config: &Config, tls: Option<Arc<NodeTls>>) -> Live {
        Live {
            limits: config.limits,
            client: config.client,
            secrets: config.herd.secrets.clone(),
            tls,
            admin_token: config.herd.admin_token.clone(),
            generation: config.generation.clone(),
        }
    }
}

/// Reads `[tls]`'s files for node `me` (None without `[tls]`): at
/// start-up and at every reload, so replaced files take effect.
pub fn read_tls(config: &Config, me: &str) -> Result<Option<Arc<NodeTls>>, TlsError> {
    let Some(settings) = &config.tls else {
        return Ok(None);
    };
    let peers: Vec<String> = config
        .peers_of(me)
        .iter()
        .map(|peer| peer.name.clone())
        .collect();
    NodeTls::load(settings, me, &peers).map(|tls| Some(Arc::new(tls)))
}

/// A certificate near its end (or past it) is worth a warning: peers
/// refuse an expired one.
pub const CERTIFICATE_WARN_DAYS: i64 = 30;

/// A warning for a key file others may read, if it is one.
pub fn key_warning(tls: &NodeTls) -> Option<String> {
    tls.key_exposed.as_ref().map(|(path, mode)| {
        format!(
            "key file {} has mode {mode:o}: others than its owner may read it (chmod 600 {})",
            path.display(),
            path.display()
        )
    })
}

/// What the log says of the node's certificate.
pub fn describe_certificate(tls: &NodeTls) -> String {
    let days = tls.days_left();
    let path = tls.cert_path.display();
    if days < 0 {
        format!(
            "certificate {path} EXPIRED {} days ago: peers refuse it",
            -days
        )
    } else {
        format!("certificate {path} valid for {days} more days")
    }
}

/// The rules of the config that `herd-core` applies: set at start-up and
/// by every reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreRules {
    /// How far ahead of this node's clock a client's time may be.
    pub max_future_skew: Nanos,
    /// `[records]`: how long records and tombstones live.
    pub lifecycle: Lifecycle,
}

impl CoreRules {
    pub fn of(config: &Config) -> CoreRules {
        CoreRules {
            max_future_skew: nanos(config.herd.max_future_skew),
            lifecycle: Lifecycle {
                ttl: config.records.ttl.map(nanos),
                tombstone_ttl: nanos(config.records.tombstone_ttl),
                sabotage: None,
            },
        }
    }
}

impl Default for CoreRules {
    /// The config's defaults (tests).
    fn default() -> CoreRules {
        CoreRules {
            // An hour, the config's default.
            max_future_skew: Nanos(3_600_000_000_000),
            lifecycle: Lifecycle::default(),
        }
    }
}

fn nanos(duration: std::time::Duration) -> Nanos {
    Nanos(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
}
