//! Whether a node is healthy, and if not, what is wrong and for how long
//! (contract section 9, `GET /health`). A judgement over what the node's
//! links and store report, free of I/O: the node's HTTP listener and its
//! admin snapshot (for `herdctl status`) ask the same question here.

use std::fmt;
use std::time::Duration;

/// One link as health sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkHealth<'a> {
    pub peer: &'a str,
    /// The operator's wish: a link cut on purpose is not a problem.
    pub admin_up: bool,
    pub connected: bool,
    /// How long the link has been in its present state.
    pub state_for: Duration,
    /// Updates queued for the peer, and how long the queue has not been
    /// empty.
    pub queue: usize,
    pub queue_busy_for: Duration,
    /// How long the repair round this end started has waited for its
    /// answer, if it is waiting.
    pub repair_waiting_for: Option<Duration>,
}

/// What the caller tolerates (`/health?max_queue=1000&max_link_down=10s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A link down no longer than this is not yet a problem.
    pub max_link_down: Duration,
    /// A queue holding more updates than this is a problem; `None`: the
    /// queue's depth alone is never one (an overflow ends in repair).
    pub max_queue: Option<usize>,
    /// A repair round unanswered for longer than this is failing.
    pub max_repair_wait: Duration,
}

/// A round's patience (the link machine's `round_patience`, 5 s): a round
/// unanswered for longer has failed.
pub const DEFAULT_MAX_REPAIR_WAIT: Duration = Duration::from_secs(5);

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_link_down: Duration::ZERO,
            max_queue: None,
            max_repair_wait: DEFAULT_MAX_REPAIR_WAIT,
        }
    }
}

/// Something wrong, with how long it has lasted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    LinkDown {
        peer: String,
        lasted: Duration,
    },
    QueueDeep {
        peer: String,
        depth: usize,
        lasted: Duration,
    },
    RepairUnanswered {
        peer: String,
        lasted: Duration,
    },
    /// The record store refuses writes (a failed write it could not undo).
    StoreBroken {
        why: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::LinkDown { peer, lasted } => {
                write!(f, "link to {peer} down for {}", seconds(*lasted))
            }
            Problem::QueueDeep {
                peer,
                depth,
                lasted,
            } => write!(
                f,
                "queue to {peer} holds {depth} updates (not empty for {})",
                seconds(*lasted)
            ),
            Problem::RepairUnanswered { peer, lasted } => write!(
                f,
                "repair round with {peer} unanswered for {}",
                seconds(*lasted)
            ),
            Problem::StoreBroken { why } => write!(f, "record store refuses writes: {why}"),
        }
    }
}

/// Whole seconds, as operators read them: `12s`.
fn seconds(lasted: Duration) -> String {
    format!("{}s", lasted.as_secs())
}

/// The problems of a node whose links are `links` and whose store is
/// broken for `store_broken`, if it is; none means healthy.
pub fn assess(
    links: &[LinkHealth<'_>],
    store_broken: Option<&str>,
    thresholds: &Thresholds,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(why) = store_broken {
        problems.push(Problem::StoreBroken {
            why: why.to_owned(),
        });
    }
    for link in links {
        if link.admin_up && !link.connected && link.state_for > thresholds.max_link_down {
            problems.push(Problem::LinkDown {
                peer: link.peer.to_owned(),
                lasted: link.state_for,
            });
        }
        if let Some(max) = thresholds.max_queue
            && link.queue > max
        {
            problems.push(Problem::QueueDeep {
                peer: link.peer.to_owned(),
                depth: link.queue,
                lasted: link.queue_busy_for,
            });
        }
        if let Some(waited) = link.repair_waiting_for
            && waited > thresholds.max_repair_wait
        {
            problems.push(Problem::RepairUnanswered {
                peer: link.peer.to_owned(),
                lasted: waited,
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn up(peer: &str) -> LinkHealth<'_> {
        LinkHealth {
            peer,
            admin_up: true,
            connected: true,
            state_for: 60 * S,
            queue: 0,
            queue_busy_for: Duration::ZERO,
            repair_waiting_for: None,
        }
    }

    fn said(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn connected_links_and_a_working_store_are_healthy() {
        let links = [up("A"), up("B")];
        assert!(assess(&links, None, &Thresholds::default()).is_empty());
    }

    #[test]
    fn a_link_down_is_named_with_how_long_unless_the_operator_cut_it() {
        let down = LinkHealth {
            connected: false,
            state_for: 12 * S + S / 2,
            ..up("Jaquez")
        };
        let cut = LinkHealth {
            admin_up: false,
            connected: false,
            ..up("Bona")
        };
        let problems = assess(&[up("A"), down.clone(), cut], None, &Thresholds::default());
        assert_eq!(said(&problems), ["link to Jaquez down for 12s"]);
        // Tolerated while shorter than the caller's bound.
        let patient = Thresholds {
            max_link_down: 20 * S,
            ..Thresholds::default()
        };
        assert!(assess(std::slice::from_ref(&down), None, &patient).is_empty());
    }

    #[test]
    fn a_deep_queue_is_a_problem_only_past_the_callers_bound() {
        let deep = LinkHealth {
            queue: 1500,
            queue_busy_for: 3 * S,
            ..up("Clark")
        };
        assert!(assess(std::slice::from_ref(&deep), None, &Thresholds::default()).is_empty());
        let bounded = |max| Thresholds {
            max_queue: Some(max),
            ..Thresholds::default()
        };
        assert_eq!(
            said(&assess(std::slice::from_ref(&deep), None, &bounded(1000))),
            ["queue to Clark holds 1500 updates (not empty for 3s)"]
        );
        assert!(assess(&[deep], None, &bounded(1500)).is_empty());
    }

    #[test]
    fn an_unanswered_round_fails_after_its_patience_and_a_broken_store_always() {
        let waiting = |secs| LinkHealth {
            repair_waiting_for: Some(secs * S),
            ..up("Bailey")
        };
        assert!(assess(&[waiting(4)], None, &Thresholds::default()).is_empty());
        assert_eq!(
            said(&assess(
                &[waiting(7)],
                Some("disk full"),
                &Thresholds::default()
            )),
            [
                "record store refuses writes: disk full",
                "repair round with Bailey unanswered for 7s"
            ]
        );
    }
}
