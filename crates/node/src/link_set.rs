//! The node's links as the config in force says: made at start-up, and
//! added, removed and re-addressed by a reload, each with its task under
//! the node's supervisor.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use herd_admin::{AdminState, EventClass, EventKind, LinkChange};
use herd_config::Config;
use herd_core::{LinkId, LinkPolicy};
use tracing::{info, warn};

use crate::link_states;
use crate::node::Node;
use crate::peer::{Link, run_link};
use crate::supervisor::{Restart, Supervisor};

pub struct LinkSet {
    node: Arc<Node>,
    tasks: Supervisor,
    /// Link ids are never reused, so an update's "came from" cannot point
    /// at a link that replaced a removed one.
    next_id: LinkId,
}

impl LinkSet {
    pub fn new(node: Arc<Node>, tasks: Supervisor) -> LinkSet {
        LinkSet {
            node,
            tasks,
            next_id: 0,
        }
    }

    /// Makes the node's links those `config` gives it: new peers get a
    /// link (cut if the operator's saved state says so) and its task;
    /// peers no longer linked lose theirs (closed, not redialled); the
    /// rest keep their connection and queue, with the new address and
    /// queue bound.
    pub fn apply(&mut self, config: &Config) {
        let me = self.node.name().to_owned();
        let wanted = config.peers_of(&me);
        let current = self.node.links();
        for link in current.iter() {
            if !wanted.iter().any(|peer| peer.name == link.peer) {
                info!(peer = %link.peer, "link removed by a reload: closed, not redialled");
                link.retire();
                self.node
                    .events
                    .publish_with(EventClass::Link, || EventKind::Link {
                        peer: link.peer.clone(),
                        change: LinkChange::Down,
                        reason: Some("removed from the config".to_owned()),
                    });
            }
        }
        let cut = cut_links(&self.node.settings.data_dir, &wanted);
        let mut links = Vec::with_capacity(wanted.len());
        for peer in &wanted {
            if let Some(link) = current.iter().find(|link| link.peer == peer.name) {
                if link.peer_addr() != peer.peer {
                    info!(peer = %link.peer, "peer address now {} (was {})", peer.peer, link.peer_addr());
                    link.set_peer_addr(peer.peer.clone());
                }
                link.set_queue_capacity(config.limits.peer_queue);
                links.push(link.clone());
                continue;
            }
            let admin = if cut.contains(&peer.name) {
                info!(peer = %peer.name, "link stays cut by the operator (links.json)");
                AdminState::Down
            } else {
                AdminState::Up
            };
            let (link, arrivals) = Link::new(
                self.next_id,
                &me,
                &peer.name,
                peer.peer.clone(),
                LinkPolicy {
                    queue_capacity: config.limits.peer_queue,
                    ..LinkPolicy::default()
                },
                admin,
            );
            self.next_id += 1;
            if !current.is_empty() {
                info!(peer = %peer.name, "link added by a reload: dialling {}", peer.peer);
            }
            // Shared, so that a restarted link task takes connections from
            // the same hand-over.
            let arrivals = Arc::new(tokio::sync::Mutex::new(arrivals));
            let (node, task_link) = (self.node.clone(), link.clone());
            self.tasks.spawn(
                format!("link to {}", link.peer),
                Restart::OnPanic,
                move || {
                    let (node, link, arrivals) =
                        (node.clone(), task_link.clone(), arrivals.clone());
                    async move {
                        let retired = link.retired.clone();
                        tokio::select! {
                            biased;
                            () = retired.cancelled() => {}
                            () = run_link(node, link, arrivals) => {}
                        }
                    }
                },
            );
            links.push(link);
        }
        self.node.set_links(links);
    }
}

/// The links the operator left cut, from the node's links.json. A file that
/// cannot be read is reported and ignored (all links up) rather than keeping
/// the node from starting.
fn cut_links(dir: &Path, peers: &[&herd_config::NodeSpec]) -> HashSet<String> {
    let path = link_states::path_in(dir);
    match link_states::load(&path) {
        Ok(down) => down
            .into_iter()
            .filter(|name| peers.iter().any(|peer| &peer.name == name))
            .collect(),
        Err(err) => {
            warn!("cannot read {}: {err}; links start up", path.display());
            HashSet::new()
        }
    }
}
