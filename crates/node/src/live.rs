//! The settings a reload may change while the node runs. Read whole with
//! [`crate::node::Node::live`] (an `Arc`, so a reader keeps one consistent
//! set while a reload swaps in the next).

use herd_config::{Limits, Secret};

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
