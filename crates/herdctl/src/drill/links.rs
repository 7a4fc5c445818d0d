//! The herd's links as a drill sees them: each end's admin state as found
//! (to put back, whatever happens), as the drill has set them since, and
//! the groups of nodes they join (the sides of a partition).

use herd_admin::AdminState;

use crate::herd::Herd;
use crate::status::HerdReport;

/// One configured link: its ends by name, each end's admin state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub a: String,
    pub b: String,
    pub at_a: AdminState,
    pub at_b: AdminState,
}

impl LinkState {
    fn up(&self) -> bool {
        self.at_a == AdminState::Up && self.at_b == AdminState::Up
    }

    fn joins(&self, x: &str, y: &str) -> bool {
        (self.a == x && self.b == y) || (self.a == y && self.b == x)
    }
}

/// Every configured link, as found and as it is now.
#[derive(Debug, Clone)]
pub struct Links {
    pub found: Vec<LinkState>,
    pub now: Vec<LinkState>,
}

/// A change to make: both ends of a link to `state`.
pub type Change = (String, String, AdminState);

/// A node the drill could not see, so could not put back as found.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{node} cannot be reached: {reason}")]
pub struct NotWhole {
    pub node: String,
    pub reason: String,
}

/// One end of a link that could not be set.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{node}: link to {peer}: {reason}")]
pub struct EndFailed {
    pub node: String,
    pub peer: String,
    pub state: AdminState,
    pub reason: String,
}

impl Links {
    /// The links as the nodes report them; every node must answer (a drill
    /// on a herd it cannot see whole could not put it back).
    pub fn capture(report: &HerdReport) -> Result<Links, NotWhole> {
        let mut found = Vec::new();
        for &(x, y) in &report.links {
            let (a, b) = (&report.nodes[x], &report.nodes[y]);
            let end = |node: &crate::status::NodeReport, peer: &str| {
                let snapshot = node.snapshot.as_ref().map_err(|err| NotWhole {
                    node: node.name.clone(),
                    reason: err.to_string(),
                })?;
                Ok(snapshot
                    .links
                    .iter()
                    .find(|link| link.peer == peer)
                    .map_or(AdminState::Up, |link| link.admin))
            };
            found.push(LinkState {
                a: a.name.clone(),
                b: b.name.clone(),
                at_a: end(a, &b.name)?,
                at_b: end(b, &a.name)?,
            });
        }
        Ok(Links {
            now: found.clone(),
            found,
        })
    }

    /// The links that join two different groups, to cut.
    pub fn partition(&self, groups: &[Vec<String>]) -> Vec<Change> {
        let group_of = |name: &str| groups.iter().position(|g| g.iter().any(|n| n == name));
        self.now
            .iter()
            .filter(|link| match (group_of(&link.a), group_of(&link.b)) {
                (Some(x), Some(y)) => x != y,
                _ => false,
            })
            .map(|link| (link.a.clone(), link.b.clone(), AdminState::Down))
            .collect()
    }

    /// Every link up.
    pub fn heal(&self) -> Vec<Change> {
        self.now
            .iter()
            .map(|link| (link.a.clone(), link.b.clone(), AdminState::Up))
            .collect()
    }

    /// True when every configured link is up at both ends.
    pub fn all_up(&self) -> bool {
        self.now.iter().all(LinkState::up)
    }

    /// The ends to set to put every link back as found.
    pub fn to_found(&self) -> Vec<(String, String, AdminState)> {
        let mut ends = Vec::new();
        for link in &self.found {
            ends.push((link.a.clone(), link.b.clone(), link.at_a));
            ends.push((link.b.clone(), link.a.clone(), link.at_b));
        }
        ends
    }

    /// Records that one end (`node`'s link to `peer`) is now `state`.
    pub fn note_end(&mut self, node: &str, peer: &str, state: AdminState) {
        if let Some(link) = self.now.iter_mut().find(|l| l.joins(node, peer)) {
            if link.a == node {
                link.at_a = state;
            } else {
                link.at_b = state;
            }
        }
    }

    /// Which group each node is in: nodes joined by links that are up at
    /// both ends share one. The sides of a partition.
    pub fn sides(&self, herd: &Herd) -> Vec<usize> {
        let names: Vec<&str> = herd.nodes().iter().map(|n| n.name.as_str()).collect();
        let index = |name: &str| names.iter().position(|n| *n == name);
        let mut side: Vec<usize> = (0..names.len()).collect();
        // Few nodes: relabel until nothing changes.
        let mut changed = true;
        while changed {
            changed = false;
            for link in self.now.iter().filter(|l| l.up()) {
                if let (Some(a), Some(b)) = (index(&link.a), index(&link.b)) {
                    let low = side[a].min(side[b]);
                    if side[a] != low || side[b] != low {
                        side[a] = low;
                        side[b] = low;
                        changed = true;
                    }
                }
            }
        }
        side
    }
}

/// Sets both ends of each link; the ends that could not be set, with why.
pub async fn apply(herd: &Herd, links: &mut Links, changes: &[Change]) -> Vec<EndFailed> {
    let mut ends = Vec::new();
    for (a, b, state) in changes {
        ends.push((a.clone(), b.clone(), *state));
        ends.push((b.clone(), a.clone(), *state));
    }
    set_ends(herd, links, &ends).await
}

/// Sets each end (node, peer, state), all at once; the failures.
pub async fn set_ends(
    herd: &Herd,
    links: &mut Links,
    ends: &[(String, String, AdminState)],
) -> Vec<EndFailed> {
    let tasks = ends.iter().map(|(node, peer, state)| {
        let options = herd
            .node(node)
            .ok()
            .map(|spec| herd.admin_options(spec, crate::link::LIMIT));
        async move {
            let outcome = match options {
                Some(options) => crate::link::tell(options, peer, *state)
                    .await
                    .map(|_| ())
                    .map_err(|err| err.to_string()),
                None => Err("not in the config".to_owned()),
            };
            (node, peer, *state, outcome)
        }
    });
    let mut failures = Vec::new();
    for (node, peer, state, outcome) in futures_util::future::join_all(tasks).await {
        match outcome {
            Ok(()) => links.note_end(node, peer, state),
            Err(reason) => failures.push(EndFailed {
                node: node.clone(),
                peer: peer.clone(),
                state,
                reason,
            }),
        }
    }
    failures
}
