//! The herd as the dashboard knows it: every node's last snapshot (or why
//! there is none) with rates from the last two, and the configured links.
//! Every view reads it; its health comes from [`crate::health`], as
//! `herdctl status`'s does.

use std::collections::HashMap;

use herd_admin::Snapshot;
use herd_admin::client::{ClientError, ErrorKind};

use crate::health::{Health, NodeHealth};

/// One node as the dashboard knows it.
#[derive(Debug, Clone, Default)]
pub struct NodeState {
    pub name: String,
    pub snapshot: Option<Snapshot>,
    /// What kind of failure the last snapshot met, and since when (ms) it
    /// has failed.
    pub error: Option<(ErrorKind, u64)>,
    /// Client lines per second and peer updates in per second.
    pub lines_per_s: f64,
    pub floods_per_s: f64,
    /// Updates per second sent to each peer.
    pub sent_per_s: HashMap<String, f64>,
    /// When `snapshot` was taken (ms): the rates compare the next one with it.
    snapshot_at: u64,
}

impl NodeState {
    pub fn reachable(&self) -> bool {
        self.error.is_none() && self.snapshot.is_some()
    }
}

pub struct Nodes {
    pub list: Vec<NodeState>,
    /// Configured links, as indices into `list`.
    pub links: Vec<(usize, usize)>,
}

impl Nodes {
    /// The herd's graph changed (a reload): these nodes and links from now
    /// on, keeping what is known of the nodes that stay.
    pub fn regraph(&mut self, names: &[String], links: Vec<(usize, usize)>) {
        let mut kept = std::mem::take(&mut self.list);
        self.list = names
            .iter()
            .map(
                |name| match kept.iter().position(|node| &node.name == name) {
                    Some(at) => kept.swap_remove(at),
                    None => NodeState {
                        name: name.clone(),
                        ..NodeState::default()
                    },
                },
            )
            .collect();
        self.links = links;
    }

    pub fn new(names: &[String], links: Vec<(usize, usize)>) -> Nodes {
        Nodes {
            list: names
                .iter()
                .map(|name| NodeState {
                    name: name.clone(),
                    ..NodeState::default()
                })
                .collect(),
            links,
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|n| n.name.clone()).collect()
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|n| n.name == name)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The widest node name (4 with no nodes), for columns.
    pub fn name_width(&self) -> usize {
        self.list.iter().map(|n| n.name.len()).max().unwrap_or(4)
    }

    pub fn health(&self) -> Health<'_> {
        let nodes = self
            .list
            .iter()
            .map(|node| NodeHealth {
                name: &node.name,
                snapshot: node.snapshot.as_ref(),
                reachable: node.reachable(),
            })
            .collect();
        Health::new(nodes, &self.links)
    }

    /// A snapshot (or the failure to get one) from node `index` at `now`;
    /// the node's name when it failed.
    pub fn on_snapshot(
        &mut self,
        index: usize,
        result: Result<Snapshot, ClientError>,
        now: u64,
    ) -> Option<String> {
        let state = self.list.get_mut(index)?;
        match result {
            Ok(snapshot) => {
                if let Some(before) = &state.snapshot {
                    let seconds = now.saturating_sub(state.snapshot_at) as f64 / 1000.0;
                    if seconds > 0.0 {
                        let rate =
                            |now: u64, before: u64| now.saturating_sub(before) as f64 / seconds;
                        state.lines_per_s =
                            rate(snapshot.counters.client_lines, before.counters.client_lines);
                        state.floods_per_s =
                            rate(snapshot.counters.floods_in, before.counters.floods_in);
                        state.sent_per_s = snapshot
                            .links
                            .iter()
                            .map(|link| {
                                let was = before
                                    .links
                                    .iter()
                                    .find(|l| l.peer == link.peer)
                                    .map_or(link.msgs_out, |l| l.msgs_out);
                                (link.peer.clone(), rate(link.msgs_out, was))
                            })
                            .collect();
                    }
                }
                state.snapshot_at = now;
                state.snapshot = Some(snapshot);
                state.error = None;
                None
            }
            Err(error) => {
                let since = state.error.as_ref().map_or(now, |(_, since)| *since);
                state.error = Some((error.kind(), since));
                state.lines_per_s = 0.0;
                state.floods_per_s = 0.0;
                state.sent_per_s.clear();
                Some(state.name.clone())
            }
        }
    }

    /// The configured link between two named nodes.
    pub fn link_between(&self, node: &str, peer: &str) -> Option<usize> {
        let (a, b) = (self.index(node)?, self.index(peer)?);
        self.links.iter().position(|&l| l == (a, b) || l == (b, a))
    }

    /// Updates per second over a link, both directions together.
    pub fn link_rate(&self, link: usize) -> f64 {
        let Some(&(a, b)) = self.links.get(link) else {
            return 0.0;
        };
        let (na, nb) = (&self.list[a], &self.list[b]);
        na.sent_per_s.get(&nb.name).copied().unwrap_or(0.0)
            + nb.sent_per_s.get(&na.name).copied().unwrap_or(0.0)
    }
}
