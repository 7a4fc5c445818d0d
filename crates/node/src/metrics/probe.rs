//! What the metrics listener serves before the node exists: it is bound
//! before the records are loaded, so `/ready` can say 503 while they are
//! (a million records take about a second) and Prometheus sees the node
//! come up rather than a refused connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::node::Node;

#[derive(Default)]
pub struct Probe {
    node: OnceLock<Arc<Node>>,
    /// Every listener bound and serving.
    serving: AtomicBool,
    /// A stop signal came: not ready again, so load balancers and
    /// Kubernetes stop sending clients while the node drains.
    stopping: AtomicBool,
}

impl Probe {
    pub fn new() -> Arc<Probe> {
        Arc::new(Probe::default())
    }

    /// The records are loaded: the node's metrics are served from now on.
    pub fn loaded(&self, node: Arc<Node>) {
        let _ = self.node.set(node);
    }

    /// Every port serves: the node is ready.
    pub fn serving(&self) {
        self.serving.store(true, Ordering::Release);
    }

    /// The node is stopping.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// The node, once its records are loaded.
    pub fn node(&self) -> Option<&Arc<Node>> {
        self.node.get()
    }

    /// Why the node is not ready yet, if it is not.
    pub fn not_ready(&self) -> Option<&'static str> {
        if self.node.get().is_none() {
            Some("loading records")
        } else if self.stopping.load(Ordering::Acquire) {
            Some("stopping")
        } else if !self.serving.load(Ordering::Acquire) {
            Some("starting its listeners")
        } else {
            None
        }
    }
}
