//! `herdctl status`: every node's snapshot, fetched concurrently, as a table
//! or as JSON (contract section 4).

use std::time::Duration;

use herd_admin::{ConnectionState, LinkStatus, SCHEMA, Snapshot};
use serde_json::{Value, json};

use crate::Failure;
use crate::herd::Herd;
use herd_admin::client::{ClientError, fetch_snapshot};

/// One node's answer, or why there is none.
pub struct NodeReport {
    pub name: String,
    pub admin: String,
    pub snapshot: Result<Snapshot, ClientError>,
}

/// Everything `status` shows.
pub struct HerdReport {
    pub herd: String,
    pub nodes: Vec<NodeReport>,
    /// Configured links as (a, b).
    pub links: Vec<(String, String)>,
}

impl HerdReport {
    pub fn reachable(&self) -> usize {
        self.nodes.iter().filter(|n| n.snapshot.is_ok()).count()
    }

    /// Every node reachable and all digests equal.
    pub fn converged(&self) -> bool {
        let mut digests = self
            .nodes
            .iter()
            .map(|n| n.snapshot.as_ref().ok().map(|s| &s.digest));
        match digests.next() {
            Some(Some(first)) => digests.all(|d| d == Some(first)),
            _ => false,
        }
    }

    /// A configured link counts as connected when a reachable end says so.
    pub fn connected_links(&self) -> usize {
        self.links
            .iter()
            .filter(|(a, b)| {
                self.link_status(a, b).is_some_and(|l| l.connected)
                    || self.link_status(b, a).is_some_and(|l| l.connected)
            })
            .count()
    }

    pub fn link_status(&self, node: &str, peer: &str) -> Option<&LinkStatus> {
        let report = self.nodes.iter().find(|n| n.name == node)?;
        let snapshot = report.snapshot.as_ref().ok()?;
        snapshot.links.iter().find(|l| l.peer == peer)
    }
}

/// Asks every node at once; each gets `limit` in all.
pub async fn collect(herd: &Herd, limit: Duration) -> HerdReport {
    let mut set = tokio::task::JoinSet::new();
    for (index, node) in herd.nodes().iter().enumerate() {
        // JoinSet needs 'static futures: each takes its own copies and its
        // report comes back with its index.
        // Something else answering on a node's admin address (another
        // herd's node, a node of another name) is not that node: the
        // client checks.
        let options = herd.admin_options(node, limit);
        let node = node.clone();
        set.spawn(async move {
            let snapshot = fetch_snapshot(options).await;
            (
                index,
                NodeReport {
                    name: node.name,
                    admin: node.admin.to_string(),
                    snapshot,
                },
            )
        });
    }
    let count = herd.nodes().len();
    let mut reports: Vec<Option<NodeReport>> = (0..count).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        if let Ok((index, report)) = joined {
            reports[index] = Some(report);
        }
    }
    let nodes = reports
        .into_iter()
        .zip(herd.nodes())
        .map(|(report, node)| {
            report.unwrap_or_else(|| NodeReport {
                name: node.name.clone(),
                admin: node.admin.to_string(),
                snapshot: Err(ClientError::Io(std::io::Error::other("the query failed"))),
            })
        })
        .collect();
    HerdReport {
        herd: herd.name().to_owned(),
        nodes,
        links: herd
            .links()
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect(),
    }
}

pub async fn run(herd: &Herd, json: bool, limit: Duration) -> Result<(), Failure> {
    let report = collect(herd, limit).await;
    if json {
        crate::say(to_json(&report));
    } else {
        crate::say(to_table(&report).trim_end());
    }
    let unreachable = report.nodes.len() - report.reachable();
    if unreachable > 0 {
        // The output already says which; the exit status is for scripts.
        return Err(Failure::failed(format!(
            "{unreachable} of {} nodes unreachable",
            report.nodes.len()
        )));
    }
    Ok(())
}

/// The contract's fields (`converged`, per node `name`, `reachable`,
/// `records`, `digest`, `links` with `peer`/`admin`/`connected`, `error`)
/// and more.
pub fn to_json(report: &HerdReport) -> Value {
    let nodes: Vec<Value> = report
        .nodes
        .iter()
        .map(|node| match &node.snapshot {
            Ok(snapshot) => json!({
                "name": node.name,
                "reachable": true,
                "admin_addr": node.admin,
                "records": snapshot.records,
                "digest": snapshot.digest,
                "boot_id": snapshot.boot_id,
                "uptime_s": snapshot.uptime_s,
                "schema": snapshot.schema,
                "version": snapshot.version,
                "links": snapshot.links,
                "counters": snapshot.counters,
            }),
            Err(err) => json!({
                "name": node.name,
                "reachable": false,
                "admin_addr": node.admin,
                "error": err.to_string(),
                "links": [],
            }),
        })
        .collect();
    json!({
        "herd": report.herd,
        "converged": report.converged(),
        "reachable": report.reachable(),
        "links_connected": report.connected_links(),
        "links_configured": report.links.len(),
        "nodes": nodes,
    })
}

pub fn to_table(report: &HerdReport) -> String {
    let mut out = String::new();
    let verdict = if report.converged() {
        let digest = report
            .nodes
            .first()
            .and_then(|n| n.snapshot.as_ref().ok())
            .map(|s| s.digest.as_str())
            .unwrap_or("");
        format!("converged (digest {digest})")
    } else if report.reachable() < report.nodes.len() {
        "not converged: some nodes are unreachable".to_owned()
    } else {
        "DIVERGED: the nodes' digests differ".to_owned()
    };
    out.push_str(&format!(
        "herd {:?}: {}/{} nodes reachable, {}/{} links connected, {verdict}\n\n",
        report.herd,
        report.reachable(),
        report.nodes.len(),
        report.connected_links(),
        report.links.len(),
    ));
    let width = report
        .nodes
        .iter()
        .map(|n| n.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!(
        "{:width$}  {:>8}  {:16}  {:>8}  LINKS\n",
        "NODE", "RECORDS", "DIGEST", "UPTIME"
    ));
    for node in &report.nodes {
        match &node.snapshot {
            Ok(snapshot) => {
                let links: Vec<String> = snapshot
                    .links
                    .iter()
                    .map(|link| format!("{} {}", link.peer, link_word(link)))
                    .collect();
                out.push_str(&format!(
                    "{:width$}  {:>8}  {:16}  {:>8}  {}\n",
                    node.name,
                    snapshot.records,
                    snapshot.digest,
                    uptime(snapshot.uptime_s),
                    links.join(", ")
                ));
            }
            Err(err) => {
                let why = err.unreachable_reason().unwrap_or_else(|| err.to_string());
                out.push_str(&format!(
                    "{:width$}  UNREACHABLE at {}: {why}\n",
                    node.name, node.admin
                ));
            }
        }
    }
    // The schema tells an older or newer node apart: say so, as its
    // snapshot may lack fields (shown as zero) or have more than shown.
    for node in &report.nodes {
        if let Ok(snapshot) = &node.snapshot
            && snapshot.schema != SCHEMA
        {
            out.push_str(&format!(
                    "note: {} speaks admin schema {}, this herdctl schema {SCHEMA}; some figures may be missing\n",
                    node.name, snapshot.schema
                ));
        }
    }
    out
}

/// How a link reads in the table.
pub fn link_word(link: &LinkStatus) -> &'static str {
    match link.state {
        ConnectionState::Connected => "up",
        ConnectionState::Connecting => "connecting",
        ConnectionState::Down => "CUT",
    }
}

fn uptime(seconds: f64) -> String {
    let whole = seconds as u64;
    match whole {
        0..60 => format!("{whole}s"),
        60..3600 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, whole % 3600 / 60),
    }
}
