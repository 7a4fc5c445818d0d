//! The dashboard's `:` command line, parsed without side effects.
//!
//! ```text
//! link A B up|down        partition A,B | C,D,E        heal
//! send NODE LINE          reload [NODE...]             quit
//! drill FILE              restart NODE (under `herdctl up`)
//! forget CLIENT
//! ```

use herd_admin::AdminState;

/// A parsed command, checked against the herd's nodes and links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Set these configured links (as node names) to a state.
    Links(Vec<(String, String, AdminState)>),
    /// Make these nodes (all when none) re-read their config.
    Reload(Vec<String>),
    Send {
        node: String,
        line: String,
    },
    /// Run the drill in this scenario file.
    Drill(String),
    /// kill -9 this node and start it again (under `herdctl up`).
    Restart(String),
    /// Forget this client on the whole herd.
    Forget(String),
    Quit,
}

/// Why a command line was not taken; said on the bottom line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("usage: {0}")]
    Usage(&'static str),
    #[error("no node {name:?} (nodes: {})", .nodes.join(", "))]
    NoNode { name: String, nodes: Vec<String> },
    #[error("{a} and {b} are not linked in the config")]
    NotLinked { a: String, b: String },
    #[error("{0} is on both sides")]
    BothSides(String),
    #[error("no configured link joins the two groups")]
    NoLinkBetween,
    #[error("{0:?} is not up or down")]
    NotUpOrDown(String),
    #[error("type a command: {COMMANDS}")]
    Empty,
    #[error("unknown command {0:?} ({COMMANDS})")]
    Unknown(String),
}

const COMMANDS: &str = "link, partition, heal, send, reload, drill, restart, forget, quit";

/// The herd the commands are checked against.
pub struct Topology<'a> {
    pub nodes: &'a [String],
    pub links: &'a [(usize, usize)],
}

impl Topology<'_> {
    fn node(&self, name: &str) -> Result<String, CommandError> {
        self.nodes
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .cloned()
            .ok_or_else(|| CommandError::NoNode {
                name: name.to_owned(),
                nodes: self.nodes.to_vec(),
            })
    }

    fn linked(&self, a: &str, b: &str) -> bool {
        self.links.iter().any(|&(x, y)| {
            let (x, y) = (&self.nodes[x], &self.nodes[y]);
            (x == a && y == b) || (x == b && y == a)
        })
    }

    fn all_links(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.links
            .iter()
            .map(|&(a, b)| (self.nodes[a].clone(), self.nodes[b].clone()))
    }
}

/// Parses one command line (without the `:`).
pub fn parse(line: &str, topology: &Topology<'_>) -> Result<Command, CommandError> {
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    match word {
        "q" | "quit" => Ok(Command::Quit),
        "link" => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let [a, b, state] = words[..] else {
                return Err(CommandError::Usage("link A B up|down"));
            };
            let (a, b) = (topology.node(a)?, topology.node(b)?);
            if !topology.linked(&a, &b) {
                return Err(CommandError::NotLinked { a, b });
            }
            Ok(Command::Links(vec![(a, b, admin_state(state)?)]))
        }
        "partition" => {
            let Some((left, right)) = rest.split_once('|') else {
                return Err(CommandError::Usage("partition A,B | C,D,E"));
            };
            let group = |text: &str| -> Result<Vec<String>, CommandError> {
                let names: Vec<String> = text
                    .split([',', ' '])
                    .filter(|n| !n.is_empty())
                    .map(|n| topology.node(n))
                    .collect::<Result<_, _>>()?;
                if names.is_empty() {
                    return Err(CommandError::Usage(
                        "partition A,B | C,D,E (both groups non-empty)",
                    ));
                }
                Ok(names)
            };
            let (left, right) = (group(left)?, group(right)?);
            if let Some(both) = left.iter().find(|n| right.contains(n)) {
                return Err(CommandError::BothSides(both.clone()));
            }
            let cut: Vec<_> = topology
                .all_links()
                .filter(|(a, b)| {
                    (left.contains(a) && right.contains(b))
                        || (left.contains(b) && right.contains(a))
                })
                .map(|(a, b)| (a, b, AdminState::Down))
                .collect();
            if cut.is_empty() {
                return Err(CommandError::NoLinkBetween);
            }
            Ok(Command::Links(cut))
        }
        "heal" => {
            if !rest.is_empty() {
                return Err(CommandError::Usage("heal"));
            }
            Ok(Command::Links(
                topology
                    .all_links()
                    .map(|(a, b)| (a, b, AdminState::Up))
                    .collect(),
            ))
        }
        "send" => {
            let (node, line) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if node.is_empty() || line.trim().is_empty() {
                return Err(CommandError::Usage("send NODE LINE"));
            }
            Ok(Command::Send {
                node: topology.node(node)?,
                line: line.trim_start().to_owned(),
            })
        }
        "drill" => {
            if rest.is_empty() {
                return Err(CommandError::Usage(
                    "drill FILE (a scenario, see examples/drills/)",
                ));
            }
            Ok(Command::Drill(rest.to_owned()))
        }
        "restart" => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let [node] = words[..] else {
                return Err(CommandError::Usage("restart NODE"));
            };
            Ok(Command::Restart(topology.node(node)?))
        }
        "forget" => {
            // Split as a client line is (a client id may hold other white
            // space, such as U+00A0).
            let words: Vec<&str> = herd_proto::fields::fields(rest).collect();
            let [client] = words[..] else {
                return Err(CommandError::Usage("forget CLIENT"));
            };
            Ok(Command::Forget(client.to_owned()))
        }
        "reload" => Ok(Command::Reload(
            rest.split_whitespace()
                .map(|name| topology.node(name))
                .collect::<Result<_, _>>()?,
        )),
        "" => Err(CommandError::Empty),
        other => Err(CommandError::Unknown(other.to_owned())),
    }
}

fn admin_state(word: &str) -> Result<AdminState, CommandError> {
    match word.to_ascii_lowercase().as_str() {
        "up" => Ok(AdminState::Up),
        "down" => Ok(AdminState::Down),
        _ => Err(CommandError::NotUpOrDown(word.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_herd() -> (Vec<String>, Vec<(usize, usize)>) {
        let nodes = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"]
            .map(str::to_owned)
            .to_vec();
        // Clark-Jaquez, Clark-Bona, Campbell-Bailey, Campbell-Bona,
        // Campbell-Jaquez, Bona-Bailey.
        let links = vec![(3, 4), (3, 1), (2, 0), (2, 1), (2, 4), (1, 0)];
        (nodes, links)
    }

    /// The command, or its error as the operator reads it.
    fn run(line: &str) -> Result<Command, String> {
        let (nodes, links) = default_herd();
        parse(
            line,
            &Topology {
                nodes: &nodes,
                links: &links,
            },
        )
        .map_err(|error| error.to_string())
    }

    #[test]
    fn errors_read_as_before() {
        assert_eq!(
            run("link Clark").err().as_deref(),
            Some("usage: link A B up|down")
        );
        assert_eq!(
            run("link Clark Nobody down").err().as_deref(),
            Some("no node \"Nobody\" (nodes: Bailey, Bona, Campbell, Clark, Jaquez)")
        );
        assert_eq!(
            run("link Clark Jaquez sideways").err().as_deref(),
            Some("\"sideways\" is not up or down")
        );
        assert_eq!(
            run("").err().as_deref(),
            Some(
                "type a command: link, partition, heal, send, reload, drill, restart, forget, quit"
            )
        );
        assert_eq!(
            run("reboot").err().as_deref(),
            Some(
                "unknown command \"reboot\" (link, partition, heal, send, reload, drill, restart, forget, quit)"
            )
        );
    }

    fn link(a: &str, b: &str, state: AdminState) -> (String, String, AdminState) {
        (a.to_owned(), b.to_owned(), state)
    }

    #[test]
    fn link_checks_names_and_the_config() {
        assert_eq!(
            run("link Clark Jaquez down"),
            Ok(Command::Links(vec![link(
                "Clark",
                "Jaquez",
                AdminState::Down
            )]))
        );
        assert_eq!(
            run("link clark jaquez UP"),
            Ok(Command::Links(vec![link(
                "Clark",
                "Jaquez",
                AdminState::Up
            )]))
        );
        assert!(run("link Clark Bailey down").is_err_and(|e| e.contains("not linked")));
        assert!(run("link Clark Nobody down").is_err_and(|e| e.contains("Nobody")));
        assert!(run("link Clark Jaquez sideways").is_err());
        assert!(run("link Clark").is_err_and(|e| e.starts_with("usage")));
    }

    #[test]
    fn partition_cuts_exactly_the_links_between_the_groups() {
        assert_eq!(
            run("partition Clark | Bailey,Bona,Campbell,Jaquez"),
            Ok(Command::Links(vec![
                link("Clark", "Jaquez", AdminState::Down),
                link("Clark", "Bona", AdminState::Down),
            ]))
        );
        let Ok(Command::Links(cut)) = run("partition Clark, Jaquez | Bona, Campbell, Bailey")
        else {
            panic!("not parsed");
        };
        assert_eq!(cut.len(), 2, "{cut:?}");
        assert!(run("partition Clark | Clark").is_err_and(|e| e.contains("both sides")));
        assert!(run("partition Clark").is_err_and(|e| e.starts_with("usage")));
        assert!(run("partition | Clark").is_err());
    }

    #[test]
    fn heal_restores_every_link_and_send_keeps_the_line() {
        let Ok(Command::Links(all)) = run("heal") else {
            panic!("not parsed");
        };
        assert_eq!(all.len(), 6);
        assert!(all.iter().all(|(_, _, s)| *s == AdminState::Up));
        assert_eq!(
            run("send Bona WHATSAT kiwi  10 5"),
            Ok(Command::Send {
                node: "Bona".to_owned(),
                line: "WHATSAT kiwi  10 5".to_owned()
            })
        );
        assert!(run("send Bona").is_err());
        assert_eq!(run("quit"), Ok(Command::Quit));
        assert_eq!(run("reload"), Ok(Command::Reload(Vec::new())));
        assert_eq!(
            run("reload Clark  Bona"),
            Ok(Command::Reload(vec!["Clark".to_owned(), "Bona".to_owned()]))
        );
        assert!(run("reload Nobody").is_err());
        assert!(run("reboot").is_err_and(|e| e.contains("unknown")));
    }

    #[test]
    fn drill_takes_a_file_and_restart_a_node() {
        assert_eq!(
            run("drill examples/drills/cut one off.toml"),
            Ok(Command::Drill(
                "examples/drills/cut one off.toml".to_owned()
            ))
        );
        assert!(run("drill").is_err_and(|e| e.starts_with("usage")));
        assert!(run("forget").is_err_and(|e| e.starts_with("usage: forget CLIENT")));
        assert!(run("forget a b").is_err_and(|e| e.starts_with("usage")));
        assert_eq!(
            run("restart jaquez"),
            Ok(Command::Restart("Jaquez".to_owned()))
        );
        assert!(run("restart Nobody").is_err_and(|e| e.contains("Nobody")));
        assert!(run("restart").is_err_and(|e| e.starts_with("usage")));
    }
}
