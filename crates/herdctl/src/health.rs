//! The herd's health, computed in one place for `herdctl status` and the
//! dashboard: how many nodes answer, whether the herd has converged (every
//! node reachable, every digest equal), which digest most nodes share, and
//! what each configured link is doing.

use herd_admin::{AdminState, ConnectionState, LinkStatus, Snapshot};

/// One node as last seen.
#[derive(Debug, Clone, Copy)]
pub struct NodeHealth<'a> {
    pub name: &'a str,
    /// The last snapshot it answered with (kept while it is unreachable:
    /// the dashboard still knows which of its links the operator cut).
    pub snapshot: Option<&'a Snapshot>,
    /// Whether it answers now.
    pub reachable: bool,
}

/// What `status` says in a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every node reachable and every digest equal.
    Converged,
    /// Some nodes did not answer; those that did hold the same records.
    /// Whether the others do cannot be said, so it is not DIVERGED.
    Degraded,
    /// The nodes that answered hold different records.
    Diverged,
}

/// A configured link's state, from what both ends report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkView {
    /// Connected: updates flow.
    Up,
    /// Both ends want it, it is not connected yet.
    Connecting,
    /// Cut by the operator on at least one end.
    Cut,
    /// An end cannot be reached: nothing is known, it is not working.
    Broken,
}

impl LinkView {
    pub fn word(self) -> &'static str {
        match self {
            LinkView::Up => "up",
            LinkView::Connecting => "connecting",
            LinkView::Cut => "CUT",
            LinkView::Broken => "broken",
        }
    }
}

pub struct Health<'a> {
    nodes: Vec<NodeHealth<'a>>,
    /// Configured links, as indices into `nodes`.
    links: &'a [(usize, usize)],
}

impl<'a> Health<'a> {
    pub fn new(nodes: Vec<NodeHealth<'a>>, links: &'a [(usize, usize)]) -> Health<'a> {
        Health { nodes, links }
    }

    pub fn nodes(&self) -> &[NodeHealth<'a>] {
        &self.nodes
    }

    /// Whether node `index` answers now with a snapshot.
    pub fn is_reachable(&self, index: usize) -> bool {
        self.current(index).is_some()
    }

    pub fn reachable(&self) -> usize {
        (0..self.nodes.len())
            .filter(|&i| self.is_reachable(i))
            .count()
    }

    /// Every node reachable and every digest equal.
    pub fn converged(&self) -> bool {
        let mut digests = (0..self.nodes.len()).map(|i| self.current(i).map(|s| &s.digest));
        match digests.next() {
            Some(Some(first)) => digests.all(|d| d == Some(first)),
            _ => false,
        }
    }

    pub fn verdict(&self) -> Verdict {
        let mut digests = (0..self.nodes.len()).filter_map(|i| self.current(i).map(|s| &s.digest));
        let agree = match digests.next() {
            Some(first) => digests.all(|d| d == first),
            None => true,
        };
        if !agree {
            Verdict::Diverged
        } else if self.reachable() < self.nodes.len() {
            Verdict::Degraded
        } else {
            Verdict::Converged
        }
    }

    /// The digest every node holds, when converged.
    pub fn common_digest(&self) -> Option<&'a str> {
        if !self.converged() {
            return None;
        }
        self.current(0).map(|s| s.digest.as_str())
    }

    /// The digest most reachable nodes share (ties: the smallest): a node
    /// with another one is the odd one out.
    pub fn majority_digest(&self) -> Option<&'a str> {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for index in 0..self.nodes.len() {
            if let Some(snapshot) = self.current(index) {
                *counts.entry(snapshot.digest.as_str()).or_default() += 1;
            }
        }
        let best = counts.values().copied().max()?;
        counts
            .into_iter()
            .find(|&(_, n)| n == best)
            .map(|(digest, _)| digest)
    }

    /// What `node` last said of its link to `peer`.
    pub fn link_status(&self, node: usize, peer: usize) -> Option<&'a LinkStatus> {
        let peer = self.nodes.get(peer)?.name;
        self.nodes
            .get(node)?
            .snapshot?
            .links
            .iter()
            .find(|l| l.peer == peer)
    }

    /// Configured links a reachable end reports connected (`status`).
    pub fn connected_links(&self) -> usize {
        self.links
            .iter()
            .filter(|&&(a, b)| {
                let says = |node: usize, peer: usize| {
                    self.is_reachable(node)
                        && self.link_status(node, peer).is_some_and(|l| l.connected)
                };
                says(a, b) || says(b, a)
            })
            .count()
    }

    /// What the dashboard shows of configured link `link`: a cut (on either
    /// end, as last seen) first, then an unreachable end, then connected.
    pub fn link_view(&self, link: usize) -> LinkView {
        let Some(&(a, b)) = self.links.get(link) else {
            return LinkView::Broken;
        };
        let ends = [self.link_status(a, b), self.link_status(b, a)];
        if ends.iter().flatten().any(|l| l.admin == AdminState::Down) {
            return LinkView::Cut;
        }
        if !self.is_reachable(a) || !self.is_reachable(b) {
            return LinkView::Broken;
        }
        if ends
            .iter()
            .flatten()
            .any(|l| l.state == ConnectionState::Connected)
        {
            LinkView::Up
        } else {
            LinkView::Connecting
        }
    }

    /// Configured links shown [`LinkView::Up`] (the dashboard's count).
    pub fn links_up(&self) -> usize {
        (0..self.links.len())
            .filter(|&l| self.link_view(l) == LinkView::Up)
            .count()
    }

    /// The snapshot of a node that answers now.
    fn current(&self, index: usize) -> Option<&'a Snapshot> {
        let node = self.nodes.get(index)?;
        if node.reachable { node.snapshot } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(node: &str, digest: &str, links: Vec<LinkStatus>) -> Snapshot {
        Snapshot {
            node: node.to_owned(),
            digest: digest.to_owned(),
            links,
            ..Snapshot::default()
        }
    }

    fn link(peer: &str, admin: AdminState, state: ConnectionState) -> LinkStatus {
        LinkStatus {
            peer: peer.to_owned(),
            admin,
            state,
            connected: state == ConnectionState::Connected,
            ..LinkStatus::default()
        }
    }

    #[test]
    fn converged_needs_every_node_and_one_digest() {
        let up = |peer| link(peer, AdminState::Up, ConnectionState::Connected);
        let a = snapshot("A", "d1", vec![up("B")]);
        let b = snapshot("B", "d1", vec![up("A"), up("C")]);
        let c = snapshot("C", "d2", vec![up("B")]);
        let links = [(0, 1), (1, 2)];
        let node = |name, snapshot, reachable| NodeHealth {
            name,
            snapshot,
            reachable,
        };
        let two = Health::new(
            vec![node("A", Some(&a), true), node("B", Some(&b), true)],
            &links[..1],
        );
        assert_eq!(two.verdict(), Verdict::Converged);
        assert_eq!(two.common_digest(), Some("d1"));
        let all = Health::new(
            vec![
                node("A", Some(&a), true),
                node("B", Some(&b), true),
                node("C", Some(&c), true),
            ],
            &links,
        );
        assert_eq!(all.verdict(), Verdict::Diverged);
        assert_eq!(all.majority_digest(), Some("d1"));
        assert_eq!((all.connected_links(), all.links_up()), (2, 2));
        // C away (its last snapshot kept): not converged, its link broken
        // on the dashboard, still connected by what B says.
        let away = Health::new(
            vec![
                node("A", Some(&a), true),
                node("B", Some(&b), true),
                node("C", Some(&c), false),
            ],
            &links,
        );
        // The two that answer differ from nobody: DEGRADED, not DIVERGED.
        assert_eq!(away.verdict(), Verdict::Degraded);
        assert_eq!(away.link_view(1), LinkView::Broken);
        assert_eq!((away.connected_links(), away.links_up()), (2, 1));
        // A away, and the two that answer differ: DIVERGED.
        let split = Health::new(
            vec![
                node("A", Some(&a), false),
                node("B", Some(&b), true),
                node("C", Some(&c), true),
            ],
            &links,
        );
        assert_eq!(split.verdict(), Verdict::Diverged);
        let nobody = Health::new(vec![node("A", Some(&a), false)], &links[..0]);
        assert_eq!(nobody.verdict(), Verdict::Degraded);
    }

    #[test]
    fn a_cut_shows_even_with_an_end_away() {
        let a = snapshot(
            "A",
            "d",
            vec![link("B", AdminState::Down, ConnectionState::Down)],
        );
        let links = [(0, 1)];
        let health = Health::new(
            vec![
                NodeHealth {
                    name: "A",
                    snapshot: Some(&a),
                    reachable: false,
                },
                NodeHealth {
                    name: "B",
                    snapshot: None,
                    reachable: false,
                },
            ],
            &links,
        );
        assert_eq!(health.link_view(0), LinkView::Cut);
        assert_eq!(health.connected_links(), 0);
        assert!(!health.converged());
    }
}
