//! `herdctl status`: every node's snapshot, fetched concurrently, as a table
//! or as JSON (contract section 4).

use std::time::Duration;

use herd_admin::{ConnectionState, LinkStatus, SCHEMA, Snapshot};
use serde_json::{Value, json};

use crate::Failure;
use crate::health::{Health, NodeHealth, Verdict};
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
    /// The generation of the config file herdctl read.
    pub generation: String,
    pub nodes: Vec<NodeReport>,
    /// Configured links, as indices into `nodes`.
    pub links: Vec<(usize, usize)>,
}

impl HerdReport {
    /// The herd's health from these answers ([`crate::health`]).
    pub fn health(&self) -> Health<'_> {
        let nodes = self
            .nodes
            .iter()
            .map(|node| NodeHealth {
                name: &node.name,
                snapshot: node.snapshot.as_ref().ok(),
                reachable: node.snapshot.is_ok(),
            })
            .collect();
        Health::new(nodes, &self.links)
    }

    pub fn reachable(&self) -> usize {
        self.health().reachable()
    }

    /// Every node reachable and all digests equal.
    pub fn converged(&self) -> bool {
        self.health().converged()
    }

    /// A configured link counts as connected when a reachable end says so.
    pub fn connected_links(&self) -> usize {
        self.health().connected_links()
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
        generation: herd.config.generation.clone(),
        nodes,
        links: herd.config.links.iter().map(|l| (l.0, l.1)).collect(),
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
                "tombstones": snapshot.tombstones,
                "digest": snapshot.digest,
                "boot_id": snapshot.boot_id,
                "uptime_s": snapshot.uptime_s,
                "schema": snapshot.schema,
                "version": snapshot.version,
                "config_generation": snapshot.config_generation,
                "config_current": snapshot.config_generation == report.generation,
                "tls": snapshot.tls,
                "health": snapshot.health,
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
        "config_generation": report.generation,
        "converged": report.converged(),
        "reachable": report.reachable(),
        "links_connected": report.connected_links(),
        "links_configured": report.links.len(),
        "nodes": nodes,
    })
}

/// Certificates with fewer days left than this are warned of.
pub const CERTIFICATE_WARN_DAYS: i64 = 30;

pub fn to_table(report: &HerdReport) -> String {
    let mut out = String::new();
    let health = report.health();
    let verdict = match health.verdict() {
        Verdict::Converged => format!(
            "converged (digest {})",
            health.common_digest().unwrap_or("")
        ),
        Verdict::Degraded => format!(
            "DEGRADED: {} of {} nodes unreachable; those that answer agree{}",
            report.nodes.len() - health.reachable(),
            report.nodes.len(),
            health
                .majority_digest()
                .map(|d| format!(" (digest {d})"))
                .unwrap_or_default()
        ),
        Verdict::Diverged => "DIVERGED: the reachable nodes' digests differ".to_owned(),
    };
    out.push_str(&format!(
        "herd {:?}: {}/{} nodes reachable, {}/{} links connected, {verdict}\n\n",
        report.herd,
        health.reachable(),
        report.nodes.len(),
        health.connected_links(),
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
        "{:width$}  {:>8}  {:16}  {:8}  {:>8}  LINKS\n",
        "NODE", "RECORDS", "DIGEST", "HEALTH", "UPTIME"
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
                    "{:width$}  {:>8}  {:16}  {:8}  {:>8}  {}\n",
                    node.name,
                    snapshot.records,
                    snapshot.digest,
                    health_word(snapshot),
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
    // What makes a node degraded, as its /health says it.
    for node in &report.nodes {
        if let Ok(Some(health)) = node.snapshot.as_ref().map(|s| s.health.as_ref()) {
            for problem in &health.problems {
                out.push_str(&format!("{}: {problem}\n", node.name));
            }
        }
    }
    // A node that has not reloaded (or refused to) runs another config.
    for node in &report.nodes {
        if let Ok(snapshot) = &node.snapshot
            && snapshot.config_generation != report.generation
        {
            out.push_str(&format!(
                "note: {} runs config generation {}, not this file's {} (reload it: herdctl reload {})\n",
                node.name,
                if snapshot.config_generation.is_empty() { "?" } else { &snapshot.config_generation },
                report.generation,
                node.name
            ));
        }
    }
    // Peers refuse an expired certificate: warn while there is time.
    for node in &report.nodes {
        if let Ok(Some(tls)) = node.snapshot.as_ref().map(|s| s.tls.as_ref()) {
            if tls.days_left < 0 {
                out.push_str(&format!(
                    "warning: {}'s certificate {} EXPIRED on {}: its peers refuse it (herdctl certs add {})\n",
                    node.name, tls.certificate, tls.not_after, node.name
                ));
            } else if tls.days_left < CERTIFICATE_WARN_DAYS {
                out.push_str(&format!(
                    "warning: {}'s certificate {} expires in {} days ({}): renew it (herdctl certs add {}, then herdctl reload {})\n",
                    node.name, tls.certificate, tls.days_left, tls.not_after, node.name, node.name
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

/// The node's health verdict in the table; `?` from a node too old to
/// give one.
fn health_word(snapshot: &Snapshot) -> &'static str {
    match &snapshot.health {
        Some(health) if health.problems.is_empty() => "ok",
        Some(_) => "DEGRADED",
        None => "?",
    }
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
