//! The settings a reload may change while the node runs. Read whole with
//! [`crate::node::Node::live`] (an `Arc`, so a reader keeps one consistent
//! set while a reload swaps in the next).

use herd_config::{Config, Limits, Secret};
use herd_proto::Nanos;

#[derive(Debug, Clone)]
pub struct Live {
    /// What one client may cost (`[limits]`); a client connection keeps
    /// the limits it started with.
    pub limits: Limits,
    /// The herd secret: peers must prove they know it (peer/auth.rs).
    pub secret: Option<Secret>,
    /// When set, admin connections must present it first.
    pub admin_token: Option<Secret>,
    /// The config this node runs (`Config::generation`).
    pub generation: String,
}

impl Live {
    /// What `config` says of them.
    pub fn of(config: &Config) -> Live {
        Live {
            limits: config.limits,
            secret: config.herd.secret.clone(),
            admin_token: config.herd.admin_token.clone(),
            generation: config.generation.clone(),
        }
    }
}

/// How far ahead of this node's clock a client's time may be
/// (`max_future_skew`), as the core counts it.
pub fn max_future_skew(config: &Config) -> Nanos {
    Nanos(u64::try_from(config.herd.max_future_skew.as_nanos()).unwrap_or(u64::MAX))
}
