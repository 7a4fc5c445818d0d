//! The drill's load: IAMATs of fresh clients at a steady rate over the
//! named nodes, each one remembered with whether it was acknowledged, for
//! the verification at the end.

use std::sync::Arc;
use std::time::Duration;

use herd_proto::time::Nanos;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::scenario::Load;
use crate::herd::Herd;

/// How often the sender wakes to send what the rate allows.
const TICK: Duration = Duration::from_millis(10);
/// How long one batch may take to be answered.
const BATCH_LIMIT: Duration = Duration::from_secs(5);
/// Connections in flight at once, over all nodes (a slow node must not
/// cost the machine its file descriptors).
const IN_FLIGHT: usize = 64;
/// How much older a both-sides client's second update is than its first:
/// sent later, on the other side, it must lose.
const SECOND_OLDER_BY_NS: u64 = 1_000_000;

/// One IAMAT the drill sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub client: String,
    /// The client time, in nanoseconds.
    pub time_ns: u64,
    pub node: String,
    /// Answered with an AT line for this client at this time or newer.
    pub acknowledged: bool,
    /// One of a client's two updates, one on each side.
    pub both_sides: bool,
}

/// Every update the drill sent, in the order planned.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    pub sent: Vec<Sent>,
    /// Clients so far (for fresh names across loads).
    clients: u64,
    /// Why batches went unanswered (first few).
    pub errors: Vec<String>,
}

/// What one load step did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOutcome {
    pub sent: usize,
    pub acknowledged: usize,
    pub seconds: f64,
}

/// The update plan: (client, node, both_sides, older), in sending order.
fn plan(load: &Load, sides: &[usize], herd: &Herd, run: &str, first_client: u64) -> Vec<Planned> {
    let index = |name: &str| herd.nodes().iter().position(|n| n.name == name);
    // Pairs of `at` nodes on different sides; any two when no partition
    // separates them.
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (i, x) in load.at.iter().enumerate() {
        for y in &load.at[i + 1..] {
            let apart = match (index(x), index(y)) {
                (Some(a), Some(b)) => sides.get(a) != sides.get(b),
                _ => false,
            };
            if apart {
                pairs.push((x.clone(), y.clone()));
            }
        }
    }
    if pairs.is_empty() && load.at.len() >= 2 {
        pairs.push((load.at[0].clone(), load.at[1].clone()));
    }
    let clients = load.updates - load.both_sides;
    let mut first = Vec::new();
    let mut second = Vec::new();
    for n in 0..clients {
        let client = format!("drill-{run}-{}", first_client + n);
        if n < load.both_sides && !pairs.is_empty() {
            let (x, y) = &pairs[(n as usize) % pairs.len()];
            // Alternate which side gets the newer update.
            let (newer, older) = if n % 2 == 0 { (x, y) } else { (y, x) };
            first.push(Planned {
                client: client.clone(),
                node: newer.clone(),
                both_sides: true,
                older: false,
            });
            second.push(Planned {
                client,
                node: older.clone(),
                both_sides: true,
                older: true,
            });
        } else {
            let node = load.at[(n as usize) % load.at.len()].clone();
            first.push(Planned {
                client,
                node,
                both_sides: false,
                older: false,
            });
        }
    }
    first.extend(second);
    first
}

/// A batch of updates to one node (their places in the ledger) and the
/// node's reply.
type Batch = (Vec<usize>, Result<Vec<u8>, crate::send::SendError>);

#[derive(Debug, Clone)]
struct Planned {
    client: String,
    node: String,
    both_sides: bool,
    /// The second of a both-sides pair: stamped older than the first.
    older: bool,
}

/// Sends the load at its rate and waits for the answers. Cancelled: stops
/// sending; what was answered is kept.
pub async fn run(
    herd: &Herd,
    load: &Load,
    sides: &[usize],
    run: &str,
    ledger: &mut Ledger,
    cancel: &CancellationToken,
) -> LoadOutcome {
    let started = tokio::time::Instant::now();
    let planned = plan(load, sides, herd, run, ledger.clients);
    ledger.clients += load.updates - load.both_sides;
    let one_request = herd.config.client.one_request;
    let offset = ledger.sent.len();
    let mut newest_of: std::collections::HashMap<String, u64> = Default::default();
    let mut batches: JoinSet<Batch> = JoinSet::new();
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut next = 0usize;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while next < planned.len() {
        tokio::select! {
            _ = ticker.tick() => {}
            () = cancel.cancelled() => break,
        }
        // What the rate allows by now, in all (a slow rate sends nothing on
        // most ticks).
        let due = (started.elapsed().as_secs_f64() * load.rate as f64).ceil() as usize;
        if due <= next {
            continue;
        }
        let upto = due.min(planned.len());
        let mut by_node: Vec<(String, Vec<usize>, Vec<String>)> = Vec::new();
        for planned in &planned[next..upto] {
            let time_ns = if planned.older {
                newest_of
                    .get(&planned.client)
                    .map_or_else(now_ns, |t| t.saturating_sub(SECOND_OLDER_BY_NS))
            } else {
                let t = now_ns();
                newest_of.insert(planned.client.clone(), t);
                t
            };
            let at = ledger.sent.len();
            ledger.sent.push(Sent {
                client: planned.client.clone(),
                time_ns,
                node: planned.node.clone(),
                acknowledged: false,
                both_sides: planned.both_sides,
            });
            let line = format!(
                "IAMAT {} {} {}",
                planned.client,
                position(at as u64),
                format_time(time_ns)
            );
            match by_node.iter_mut().find(|(node, ..)| *node == planned.node) {
                Some((_, indices, lines)) => {
                    indices.push(at);
                    lines.push(line);
                }
                None => by_node.push((planned.node.clone(), vec![at], vec![line])),
            }
        }
        next = upto;
        for (node, indices, lines) in by_node {
            let Ok(spec) = herd.node(&node) else { continue };
            // A node that closes after one request gets one per connection.
            let chunk = if one_request { 1 } else { lines.len() };
            for (indices, lines) in indices.chunks(chunk).zip(lines.chunks(chunk)) {
                let (addr, indices, lines) =
                    (spec.client.clone(), indices.to_vec(), lines.to_vec());
                let slots = slots.clone();
                batches.spawn(async move {
                    // Waiting for a slot counts against the batch's limit.
                    let reply = tokio::time::timeout(BATCH_LIMIT, async {
                        let _slot = slots.acquire_owned().await;
                        crate::send::exchange(&addr, &lines).await
                    })
                    .await
                    .unwrap_or(Err(std::io::Error::from(std::io::ErrorKind::TimedOut)))
                    .map_err(crate::send::SendError::Io);
                    (indices, reply)
                });
            }
        }
    }
    while let Some(joined) = batches.join_next().await {
        let Ok((indices, reply)) = joined else {
            continue;
        };
        match reply {
            Ok(reply) => {
                let text = String::from_utf8_lossy(&reply);
                for (index, line) in indices.iter().zip(text.lines()) {
                    let sent = &mut ledger.sent[*index];
                    sent.acknowledged = acknowledges(line, &sent.client, sent.time_ns);
                }
            }
            Err(err) => {
                if ledger.errors.len() < 5 {
                    let node = indices
                        .first()
                        .map(|i| ledger.sent[*i].node.clone())
                        .unwrap_or_default();
                    ledger.errors.push(format!("{node}: {err}"));
                }
            }
        }
    }
    let this = &ledger.sent[offset..];
    LoadOutcome {
        sent: this.len(),
        acknowledged: this.iter().filter(|s| s.acknowledged).count(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// An AT reply for `client` at `time_ns` or newer (a node that holds a
/// newer update answers with that one).
pub fn acknowledges(line: &str, client: &str, time_ns: u64) -> bool {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    matches!(fields.as_slice(), ["AT", _, _, c, _, t] if *c == client
        && parse_time(t).is_some_and(|t| t >= time_ns))
}

/// A client time (`1700000000.123456789`) in nanoseconds, exactly, as the
/// nodes read it.
pub fn parse_time(text: &str) -> Option<u64> {
    Nanos::parse(text).map(|n| n.0)
}

/// Nanoseconds as a client time with nine decimals.
pub fn format_time(ns: u64) -> String {
    Nanos(ns).to_seconds_text()
}

/// Somewhere around UCLA, different for each update.
fn position(n: u64) -> String {
    format!(
        "+34.{:06}-118.{:06}",
        (68_930 + n * 37) % 1_000_000,
        (445_127 + n * 53) % 1_000_000
    )
}

fn now_ns() -> u64 {
    Nanos::now().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_exactly() {
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000_500_000_000));
        assert_eq!(parse_time("12"), Some(12_000_000_000));
        assert_eq!(parse_time("1.0000000001"), None);
        assert_eq!(parse_time("+12"), None);
        assert_eq!(parse_time("12."), None);
        let ns = 1_700_000_000_000_000_007;
        assert_eq!(parse_time(&format_time(ns)), Some(ns));
    }

    #[test]
    fn an_ack_names_the_client_at_that_time_or_newer() {
        let line = "AT Clark +0.000100000 c1 +34.068930-118.445127 1700000000.000000002";
        assert!(acknowledges(line, "c1", 1_700_000_000_000_000_002));
        assert!(acknowledges(line, "c1", 1_700_000_000_000_000_001));
        assert!(!acknowledges(line, "c1", 1_700_000_000_000_000_003));
        assert!(!acknowledges(line, "c2", 1_700_000_000_000_000_001));
        assert!(!acknowledges("? IAMAT c1", "c1", 0));
    }

    fn herd() -> Herd {
        Herd::load(None).expect("the default herd")
    }

    fn load(updates: u64, at: &[&str], both_sides: u64) -> Load {
        Load {
            updates,
            at: at.iter().map(|s| s.to_string()).collect(),
            rate: 1000,
            both_sides,
        }
    }

    #[test]
    fn both_sides_clients_get_a_newer_update_on_one_side_and_an_older_on_the_other() {
        let herd = herd();
        // Clark alone on one side: index 3 in the default herd.
        let sides = vec![0, 0, 0, 3, 0];
        let plan = plan(&load(10, &["Clark", "Bailey"], 3), &sides, &herd, "r", 0);
        assert_eq!(plan.len(), 10, "updates in all");
        let pairs: Vec<_> = plan.iter().filter(|p| p.both_sides).collect();
        assert_eq!(pairs.len(), 6);
        for client in ["drill-r-0", "drill-r-1", "drill-r-2"] {
            let two: Vec<_> = pairs.iter().filter(|p| p.client == client).collect();
            assert_eq!(two.len(), 2, "{client}");
            assert_ne!(two[0].node, two[1].node, "{client}: one on each side");
            assert!(
                !two[0].older && two[1].older,
                "{client}: the newer goes first"
            );
        }
        let clients: std::collections::HashSet<_> = plan.iter().map(|p| &p.client).collect();
        assert_eq!(clients.len(), 7, "10 updates, 3 clients with two");
    }
}
