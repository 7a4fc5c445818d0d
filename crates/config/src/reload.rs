//! What a reload of the config changes for one node, and what it may not
//! change while the node runs (contract section 7). Pure: the node reads
//! the file and applies the changes; this says what they are.

use std::fmt;

use crate::Config;

/// Why a node keeps its old config: the key that cannot change live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadRefused {
    pub key: String,
    pub why: String,
}

impl fmt::Display for ReloadRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.why)
    }
}

impl std::error::Error for ReloadRefused {}

/// One change a reload brings to node `me`, in words an operator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    NodesAdded(Vec<String>),
    NodesRemoved(Vec<String>),
    /// This node's links to these peers.
    LinksAdded(Vec<String>),
    LinksRemoved(Vec<String>),
    /// Peers of this node whose peer address changed.
    PeerAddresses(Vec<String>),
    /// Other links or addresses elsewhere in the herd.
    Elsewhere,
    Limits,
    /// `[client]`.
    Client,
    Places,
    Secret,
    AdminToken,
    MaxFutureSkew,
    /// `[records]`: the ttl of records or of tombstones.
    Records,
    /// Other `[tls]` file paths.
    TlsPaths,
    /// The `[tls]` files hold new certificates, keys or CAs (the node
    /// re-reads them at every reload and tells this apart).
    TlsFiles,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, what: &str, names: &[String]| {
            write!(f, "{what} {}", names.join(", "))
        };
        match self {
            Change::NodesAdded(names) => list(f, "nodes added:", names),
            Change::NodesRemoved(names) => list(f, "nodes removed:", names),
            Change::LinksAdded(names) => list(f, "links added to", names),
            Change::LinksRemoved(names) => list(f, "links removed to", names),
            Change::PeerAddresses(names) => list(f, "new peer address of", names),
            Change::Elsewhere => f.write_str("links or addresses of other nodes"),
            Change::Limits => f.write_str("[limits]"),
            Change::Client => f.write_str("[client]"),
            Change::Places => f.write_str("[places]"),
            Change::Secret => f.write_str("herd secret"),
            Change::AdminToken => f.write_str("admin token"),
            Change::MaxFutureSkew => f.write_str("max_future_skew"),
            Change::Records => f.write_str("[records]"),
            Change::TlsPaths => f.write_str("[tls] file paths"),
            Change::TlsFiles => f.write_str("[tls] certificates re-read"),
        }
    }
}

/// The changes from `old` to `new` for node `me`, or why `new` cannot be
/// applied while `me` runs. No change at all is an empty list.
pub fn changes(old: &Config, new: &Config, me: &str) -> Result<Vec<Change>, ReloadRefused> {
    let refuse = |key: String, why: &str| ReloadRefused {
        key,
        why: why.to_owned(),
    };
    let (Some(was), Some(now)) = (old.node(me), new.node(me)) else {
        return Err(refuse(
            "[[node]] name".to_owned(),
            &format!(
                "no node named {me:?} in the new config; a node's name cannot change while it runs"
            ),
        ));
    };
    if old.herd.name != new.herd.name {
        return Err(refuse(
            "[herd] name".to_owned(),
            "the herd's name cannot change while its nodes run",
        ));
    }
    for (key, same) in [
        ("client", was.client == now.client),
        ("peer", was.peer == now.peer),
        ("admin", was.admin == now.admin),
        ("bind", was.bind == now.bind),
        ("metrics", was.metrics == now.metrics),
    ] {
        if !same {
            return Err(refuse(
                format!("[[node]] {me:?} {key}"),
                "a node's own listen address cannot change while it runs; restart it",
            ));
        }
    }
    if old.herd.fsync != new.herd.fsync {
        return Err(refuse(
            "[herd] fsync".to_owned(),
            "the store's sync policy is set at start-up; restart the node",
        ));
    }

    if old.log != new.log {
        return Err(refuse(
            "[log]".to_owned(),
            "the log's format and rotation are set at start-up; restart the node (its filter changes live: herdctl log)",
        ));
    }

    match (&old.tls, &new.tls) {
        (Some(_), None) | (None, Some(_)) => {
            return Err(refuse(
                "[tls]".to_owned(),
                "turning TLS on or off changes what every link speaks; restart the nodes",
            ));
        }
        (Some(was), Some(now)) if was.admin != now.admin => {
            return Err(refuse(
                "[tls] admin".to_owned(),
                "the admin port's listener is set at start-up; restart the node",
            ));
        }
        _ => {}
    }

    let mut changes = Vec::new();
    let names =
        |config: &Config| -> Vec<String> { config.nodes.iter().map(|n| n.name.clone()).collect() };
    let (old_names, new_names) = (names(old), names(new));
    let added: Vec<String> = new_names
        .iter()
        .filter(|n| !old_names.contains(n))
        .cloned()
        .collect();
    let removed: Vec<String> = old_names
        .iter()
        .filter(|n| !new_names.contains(n))
        .cloned()
        .collect();
    if !added.is_empty() {
        changes.push(Change::NodesAdded(added));
    }
    if !removed.is_empty() {
        changes.push(Change::NodesRemoved(removed));
    }

    // Addresses compared as written: a name is looked up at each dial.
    let peers = |config: &Config| -> Vec<(String, String)> {
        config
            .peers_of(me)
            .iter()
            .map(|peer| (peer.name.clone(), peer.peer.to_string()))
            .collect()
    };
    let (old_peers, new_peers) = (peers(old), peers(new));
    let has = |list: &[(String, String)], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, addr)| addr.clone())
    };
    let linked: Vec<String> = new_peers
        .iter()
        .filter(|(name, _)| has(&old_peers, name).is_none())
        .map(|(name, _)| name.clone())
        .collect();
    let unlinked: Vec<String> = old_peers
        .iter()
        .filter(|(name, _)| has(&new_peers, name).is_none())
        .map(|(name, _)| name.clone())
        .collect();
    let moved: Vec<String> = new_peers
        .iter()
        .filter(|(name, addr)| has(&old_peers, name).is_some_and(|was| was != *addr))
        .map(|(name, _)| name.clone())
        .collect();
    let mine = !linked.is_empty() || !unlinked.is_empty() || !moved.is_empty();
    if !linked.is_empty() {
        changes.push(Change::LinksAdded(linked));
    }
    if !unlinked.is_empty() {
        changes.push(Change::LinksRemoved(unlinked));
    }
    if !moved.is_empty() {
        changes.push(Change::PeerAddresses(moved));
    }
    let graph = |config: &Config| -> Vec<(String, String)> {
        let mut links: Vec<(String, String)> = config
            .links
            .iter()
            .map(|l| {
                let (a, b) = (&config.nodes[l.0].name, &config.nodes[l.1].name);
                (a.min(b).clone(), a.max(b).clone())
            })
            .collect();
        links.sort();
        links
    };
    let nodes_changed = old.nodes != new.nodes;
    if !mine && (graph(old) != graph(new) || nodes_changed) && changes.is_empty() {
        changes.push(Change::Elsewhere);
    }
    if old.limits != new.limits {
        changes.push(Change::Limits);
    }
    if old.client != new.client {
        changes.push(Change::Client);
    }
    if old.places != new.places {
        changes.push(Change::Places);
    }
    if old.herd.secrets != new.herd.secrets {
        changes.push(Change::Secret);
    }
    if old.herd.admin_token != new.herd.admin_token {
        changes.push(Change::AdminToken);
    }
    if old.herd.max_future_skew != new.herd.max_future_skew {
        changes.push(Change::MaxFutureSkew);
    }
    if old.records != new.records {
        changes.push(Change::Records);
    }
    if old.tls != new.tls {
        changes.push(Change::TlsPaths);
    }
    Ok(changes)
}

/// "applied: ..." words for a list of changes.
pub fn describe(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "nothing changed".to_owned();
    }
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
links = [["A", "B"], ["B", "C"]]
[herd]
name = "h"
[[node]]
name = "A"
client = "127.0.0.1:1"
peer = "127.0.0.1:2"
admin = "127.0.0.1:3"
[[node]]
name = "B"
client = "127.0.0.1:4"
peer = "127.0.0.1:5"
admin = "127.0.0.1:6"
[[node]]
name = "C"
client = "127.0.0.1:7"
peer = "127.0.0.1:8"
admin = "127.0.0.1:9"
"#;

    fn config(text: &str) -> Config {
        Config::parse(text, "test").expect("a valid config")
    }

    fn changed(new: &str, me: &str) -> Result<Vec<Change>, ReloadRefused> {
        changes(&config(BASE), &config(new), me)
    }

    #[test]
    fn the_same_file_changes_nothing_and_keeps_its_generation() {
        assert_eq!(changed(BASE, "A"), Ok(Vec::new()));
        assert_eq!(config(BASE).generation, config(BASE).generation);
        assert_ne!(
            config(BASE).generation,
            config(&BASE.replace("\"h\"", "\"g\"")).generation
        );
        assert_eq!(config(BASE).generation.len(), 16);
    }

    #[test]
    fn links_and_nodes_and_addresses_are_told_apart_per_node() {
        let new = BASE.replace(r#"["B", "C"]]"#, r#"["A", "C"], ["C", "D"]]"#)
            + "[[node]]\nname = \"D\"\nclient = \"127.0.0.1:10\"\npeer = \"127.0.0.1:11\"\nadmin = \"127.0.0.1:12\"\n";
        let for_a = changed(&new, "A").expect("applies");
        assert_eq!(
            for_a,
            [
                Change::NodesAdded(vec!["D".to_owned()]),
                Change::LinksAdded(vec!["C".to_owned()])
            ]
        );
        let for_b = changed(&new, "B").expect("applies");
        assert!(
            for_b.contains(&Change::LinksRemoved(vec!["C".to_owned()])),
            "{for_b:?}"
        );
        let moved = BASE.replace("127.0.0.1:5", "127.0.0.1:50");
        assert_eq!(
            changed(&moved, "A"),
            Ok(vec![Change::PeerAddresses(vec!["B".to_owned()])])
        );
        assert_eq!(
            changed(&moved, "C"),
            Ok(vec![Change::PeerAddresses(vec!["B".to_owned()])])
        );
        let limits = format!("{BASE}[limits]\nmax_clients = 5\n");
        assert_eq!(changed(&limits, "A"), Ok(vec![Change::Limits]));
        let one = format!("{BASE}[client]\none_request = true\n");
        assert_eq!(changed(&one, "B"), Ok(vec![Change::Client]));
        assert_eq!(
            describe(&[Change::Limits, Change::Secret]),
            "[limits]; herd secret"
        );
    }

    #[test]
    fn what_cannot_change_while_running_is_refused_by_key() {
        let key = |new: &str, me: &str| changed(new, me).map_err(|refused| refused.key).err();
        assert_eq!(
            key(&BASE.replace("\"A\"", "\"Z\""), "A").as_deref(),
            Some("[[node]] name")
        );
        assert_eq!(
            key(&BASE.replace("\"h\"", "\"g\""), "A").as_deref(),
            Some("[herd] name")
        );
        assert_eq!(
            key(&BASE.replace("127.0.0.1:2\"", "127.0.0.1:20\""), "A").as_deref(),
            Some("[[node]] \"A\" peer")
        );
        let bound = BASE.replace(
            "admin = \"127.0.0.1:3\"",
            "admin = \"127.0.0.1:3\"\nbind = \"0.0.0.0\"",
        );
        assert_eq!(key(&bound, "A").as_deref(), Some("[[node]] \"A\" bind"));
        assert_eq!(
            key(&BASE.replace("[herd]", "[herd]\nfsync = \"always\""), "B").as_deref(),
            Some("[herd] fsync")
        );
        let tls = "[tls]\nca = \"ca.pem\"\ncert = \"{name}.pem\"\nkey = \"{name}.key\"\n";
        let with_tls = format!("{BASE}{tls}");
        assert_eq!(key(&with_tls, "A").as_deref(), Some("[tls]"));
        assert_eq!(
            changes(&config(&with_tls), &config(BASE), "A").map_err(|r| r.key),
            Err("[tls]".to_owned())
        );
        let admin_tls = format!("{with_tls}admin = true\n");
        assert_eq!(
            changes(&config(&with_tls), &config(&admin_tls), "A").map_err(|r| r.key),
            Err("[tls] admin".to_owned())
        );
        let moved = with_tls.replace("ca.pem", "ca2.pem");
        assert_eq!(
            changes(&config(&with_tls), &config(&moved), "A"),
            Ok(vec![Change::TlsPaths])
        );
        let metered = BASE.replace(
            "admin = \"127.0.0.1:3\"",
            "admin = \"127.0.0.1:3\"\nmetrics = \"127.0.0.1:10\"",
        );
        assert_eq!(
            key(&metered, "A").as_deref(),
            Some("[[node]] \"A\" metrics")
        );
        assert_eq!(key(&metered, "B"), None);
        let json = format!("{BASE}[log]\nformat = \"json\"\n");
        assert_eq!(key(&json, "B").as_deref(), Some("[log]"));
        // Another node's address is not this node's business to refuse.
        assert!(key(&BASE.replace("127.0.0.1:2\"", "127.0.0.1:20\""), "C").is_none());
    }
}
