//! The node's health verdict: its links and store, judged by
//! `herd_core::health`. `GET /health` and the admin snapshot (which
//! `herdctl status` shows) both come here.

use std::time::Duration;

use herd_core::health::{Problem, Thresholds, assess};

use crate::node::Node;

/// The node's problems now, judged with `thresholds`.
pub fn problems(node: &Node, thresholds: &Thresholds) -> Vec<Problem> {
    let links = node.links();
    let links: Vec<_> = links.iter().map(|link| link.health()).collect();
    let (_, broken) = node.store_state();
    assess(&links, broken.as_deref(), thresholds)
}

/// The verdict as the admin snapshot and `/health` say it.
pub fn verdict(problems: &[Problem]) -> herd_admin::Health {
    herd_admin::Health {
        status: if problems.is_empty() {
            "ok"
        } else {
            "degraded"
        }
        .to_owned(),
        problems: problems.iter().map(ToString::to_string).collect(),
    }
}

/// A query parameter of `/health` that is not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ThresholdError {
    #[error("unknown parameter {0:?} (known: max_link_down, max_queue, max_repair_wait)")]
    Unknown(String),
    #[error("{name}={value:?} is not {wanted}")]
    Bad {
        name: &'static str,
        value: String,
        wanted: &'static str,
    },
}

/// Thresholds from a query string such as `max_queue=1000&max_link_down=10s`
/// (Corrosion's style); what is not given keeps its default.
pub fn thresholds_from_query(query: &str) -> Result<Thresholds, ThresholdError> {
    let mut thresholds = Thresholds::default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let (name, value) = (name.as_ref(), value.as_ref());
        let duration = |name: &'static str| -> Result<Duration, ThresholdError> {
            humantime::parse_duration(value).map_err(|_| ThresholdError::Bad {
                name,
                value: value.to_owned(),
                wanted: "a duration such as 10s",
            })
        };
        match name {
            "max_link_down" => thresholds.max_link_down = duration("max_link_down")?,
            "max_repair_wait" => thresholds.max_repair_wait = duration("max_repair_wait")?,
            "max_queue" => {
                thresholds.max_queue = Some(value.parse().map_err(|_| ThresholdError::Bad {
                    name: "max_queue",
                    value: value.to_owned(),
                    wanted: "a number of updates",
                })?);
            }
            other => return Err(ThresholdError::Unknown(other.to_owned())),
        }
    }
    Ok(thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_come_from_the_query_and_bad_ones_are_named() {
        let thresholds = thresholds_from_query("max_queue=1000&max_link_down=10s");
        assert_eq!(
            thresholds,
            Ok(Thresholds {
                max_queue: Some(1000),
                max_link_down: Duration::from_secs(10),
                ..Thresholds::default()
            })
        );
        assert_eq!(thresholds_from_query(""), Ok(Thresholds::default()));
        assert_eq!(
            thresholds_from_query("max_link_down=1h%2030m").map(|t| t.max_link_down),
            Ok(Duration::from_secs(5400))
        );
        assert_eq!(
            thresholds_from_query("max_queue=lots"),
            Err(ThresholdError::Bad {
                name: "max_queue",
                value: "lots".to_owned(),
                wanted: "a number of updates"
            })
        );
        assert!(matches!(
            thresholds_from_query("max_link_down=soon"),
            Err(ThresholdError::Bad {
                name: "max_link_down",
                ..
            })
        ));
        assert_eq!(
            thresholds_from_query("verbose=1"),
            Err(ThresholdError::Unknown("verbose".to_owned()))
        );
    }
}
