//! A drill's scenario file (contract section 10), read and checked against
//! the herd before anything is touched: a bad scenario changes nothing.
//!
//! ```toml
//! [[step]]
//! partition = [["Clark"], ["Bailey", "Bona", "Campbell", "Jaquez"]]
//! [[step]]
//! load = { updates = 2000, at = ["Clark", "Bailey"], rate = 1000, both_sides = 100 }
//! [[step]]
//! heal = true
//! [[step]]
//! expect = { converged_within = "3s" }
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::herd::Herd;

/// The most updates one load step sends (each is remembered, and checked
/// on every node).
const MAX_UPDATES: u64 = 1_000_000;

/// The step kinds, for messages.
const KINDS: &str = "partition, cut, restore, heal, load, wait, restart, expect";

/// A checked scenario: every name is a node of the herd, every pair a link.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Cut every configured link between two different groups.
    Partition(Vec<Vec<String>>),
    Cut(String, String),
    Restore(String, String),
    /// Every configured link up.
    Heal,
    Load(Load),
    Wait(Duration),
    /// kill -9 the node and start it again (a herd started by `up`).
    Restart(String),
    Expect(Expect),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// IAMATs in all, `both_sides` clients' two updates included.
    pub updates: u64,
    /// The nodes the IAMATs go to, in turn.
    pub at: Vec<String>,
    /// IAMATs per second, over all of `at`.
    pub rate: u64,
    /// Clients that get two updates, one on each side of the partition.
    pub both_sides: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// Every node's digest equal within this time of the last heal.
    pub converged_within: Duration,
}

/// Why a scenario cannot run: exit status 2, nothing touched.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: no [[step]]: a scenario is a list of steps ({KINDS})")]
    Empty { path: String },
    #[error("{path}: step {step}: {source}")]
    Step {
        path: String,
        step: usize,
        source: StepError,
    },
}

/// What is wrong with one step.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("a step is one of {KINDS}, not {0}")]
    NotOneKind(String),
    /// As serde says it (unknown step or field, a wrong type).
    #[error("{0}")]
    Malformed(String),
    /// herdctl's message, which lists the nodes there are.
    #[error("{0}")]
    NoNode(String),
    #[error("{0} and {1} are not linked in the config")]
    NotLinked(String, String),
    #[error("partition takes two or more non-empty groups of nodes")]
    Groups,
    #[error("partition names {0} twice")]
    PartitionTwice(String),
    #[error("heal = false does nothing: write heal = true")]
    HealFalse,
    #[error("load takes 1 to {MAX_UPDATES} updates")]
    Updates,
    #[error("load names {0} twice in at")]
    AtTwice(String),
    #[error("load needs rate >= 1 (IAMATs per second)")]
    Rate,
    #[error("both_sides = {0} needs {needed} updates (two each), more than updates = {1}", needed = .0.saturating_mul(2))]
    BothSidesTooMany(u64, u64),
    #[error("both_sides needs two nodes or more in at")]
    BothSidesOneNode,
    #[error("{0:?} is not a duration such as \"3s\" or \"500ms\": {1}")]
    Duration(String, humantime::DurationError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    step: Vec<toml::Table>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawStep {
    Partition(Vec<Vec<String>>),
    Cut([String; 2]),
    Restore([String; 2]),
    Heal(bool),
    Load(RawLoad),
    Wait(String),
    Restart(String),
    Expect(RawExpect),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    updates: u64,
    #[serde(default)]
    at: Vec<String>,
    #[serde(default = "default_rate")]
    rate: u64,
    #[serde(default)]
    both_sides: u64,
}

fn default_rate() -> u64 {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    converged_within: String,
}

impl Scenario {
    pub fn load(path: &Path, herd: &Herd) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text, &path.display().to_string(), herd)
    }

    /// `path` names the file in messages.
    pub fn parse(text: &str, path: &str, herd: &Herd) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = toml::from_str(text).map_err(|err| ScenarioError::Syntax {
            path: path.to_owned(),
            message: one_line(&err.to_string()),
        })?;
        if raw.step.is_empty() {
            return Err(ScenarioError::Empty {
                path: path.to_owned(),
            });
        }
        let steps = raw
            .step
            .into_iter()
            .enumerate()
            .map(|(index, table)| {
                check_step(table, herd).map_err(|source| ScenarioError::Step {
                    path: path.to_owned(),
                    step: index + 1,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scenario { steps })
    }

    /// The nodes the scenario restarts (these need `herdctl up`).
    pub fn restarts(&self) -> impl Iterator<Item = (usize, &str)> {
        self.steps
            .iter()
            .enumerate()
            .filter_map(|(index, step)| match step {
                Step::Restart(node) => Some((index + 1, node.as_str())),
                _ => None,
            })
    }
}

/// serde's messages span lines (a caret under the source); ours are one.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('|') && !line.contains(" | "))
        .collect::<Vec<_>>()
        .join(": ")
}

fn check_step(table: toml::Table, herd: &Herd) -> Result<Step, StepError> {
    if table.len() != 1 {
        let keys: Vec<&str> = table.keys().map(String::as_str).collect();
        return Err(StepError::NotOneKind(if keys.is_empty() {
            "empty".to_owned()
        } else {
            keys.join(" and ")
        }));
    }
    let raw: RawStep = toml::Value::Table(table)
        .try_into()
        .map_err(|err: toml::de::Error| StepError::Malformed(one_line(err.message())))?;
    let node = |name: &str| {
        herd.node(name)
            .map(|spec| spec.name.clone())
            .map_err(|failure| StepError::NoNode(failure.message))
    };
    let link = |[a, b]: [String; 2]| {
        let (a, b) = (node(&a)?, node(&b)?);
        if !herd.config.are_linked(&a, &b) {
            return Err(StepError::NotLinked(a, b));
        }
        Ok((a, b))
    };
    Ok(match raw {
        RawStep::Partition(groups) => {
            if groups.len() < 2 || groups.iter().any(Vec::is_empty) {
                return Err(StepError::Groups);
            }
            let mut seen: Vec<String> = Vec::new();
            let mut checked = Vec::new();
            for group in groups {
                let mut names = Vec::new();
                for name in group {
                    let name = node(&name)?;
                    if seen.contains(&name) {
                        return Err(StepError::PartitionTwice(name));
                    }
                    seen.push(name.clone());
                    names.push(name);
                }
                checked.push(names);
            }
            Step::Partition(checked)
        }
        RawStep::Cut(pair) => {
            let (a, b) = link(pair)?;
            Step::Cut(a, b)
        }
        RawStep::Restore(pair) => {
            let (a, b) = link(pair)?;
            Step::Restore(a, b)
        }
        RawStep::Heal(true) => Step::Heal,
        RawStep::Heal(false) => return Err(StepError::HealFalse),
        RawStep::Load(load) => {
            let at = if load.at.is_empty() {
                herd.nodes().iter().map(|n| n.name.clone()).collect()
            } else {
                load.at
                    .iter()
                    .map(|name| node(name))
                    .collect::<Result<Vec<_>, _>>()?
            };
            if load.updates == 0 || load.updates > MAX_UPDATES {
                return Err(StepError::Updates);
            }
            let twice = at
                .iter()
                .enumerate()
                .find_map(|(i, name)| at[i + 1..].contains(name).then_some(name));
            if let Some(twice) = twice {
                return Err(StepError::AtTwice(twice.clone()));
            }
            if load.rate == 0 {
                return Err(StepError::Rate);
            }
            if load.both_sides.saturating_mul(2) > load.updates {
                return Err(StepError::BothSidesTooMany(load.both_sides, load.updates));
            }
            if load.both_sides > 0 && at.len() < 2 {
                return Err(StepError::BothSidesOneNode);
            }
            Step::Load(Load {
                updates: load.updates,
                at,
                rate: load.rate,
                both_sides: load.both_sides,
            })
        }
        RawStep::Wait(text) => Step::Wait(duration(&text)?),
        RawStep::Restart(name) => Step::Restart(node(&name)?),
        RawStep::Expect(expect) => Step::Expect(Expect {
            converged_within: duration(&expect.converged_within)?,
        }),
    })
}

fn duration(text: &str) -> Result<Duration, StepError> {
    humantime::parse_duration(text).map_err(|err| StepError::Duration(text.to_owned(), err))
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Partition(groups) => {
                let groups: Vec<String> = groups.iter().map(|g| g.join(",")).collect();
                write!(f, "partition {}", groups.join(" | "))
            }
            Step::Cut(a, b) => write!(f, "cut {a}-{b}"),
            Step::Restore(a, b) => write!(f, "restore {a}-{b}"),
            Step::Heal => f.write_str("heal"),
            Step::Load(load) => {
                write!(
                    f,
                    "load {} updates at {} ({}/s",
                    load.updates,
                    load.at.join(","),
                    load.rate
                )?;
                if load.both_sides > 0 {
                    write!(f, ", {} clients on both sides", load.both_sides)?;
                }
                f.write_str(")")
            }
            Step::Wait(d) => write!(f, "wait {}", humantime::format_duration(*d)),
            Step::Restart(node) => write!(f, "restart {node}"),
            Step::Expect(e) => write!(
                f,
                "expect converged within {}",
                humantime::format_duration(e.converged_within)
            ),
        }
    }
}
