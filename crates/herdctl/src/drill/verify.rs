//! The drill's verdict on its updates: every node is asked, with WHATSAT,
//! what it holds for every client the drill updated; [`judge`] compares
//! that with what was acknowledged.

use std::collections::HashMap;
use std::time::Duration;

use super::load::{Ledger, parse_time};
use crate::herd::Herd;
use crate::send::SendError;

/// WHATSATs per connection (the node answers them in order).
const PER_CONNECTION: usize = 500;
const ASK_LIMIT: Duration = Duration::from_secs(20);

/// What one node holds: the client time of each client's record (None: it
/// answered `?`, no record).
pub type Holdings = HashMap<String, Option<u64>>;

/// The findings, for the report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Findings {
    pub sent: usize,
    pub acknowledged: usize,
    /// Acknowledged updates some node holds neither nor anything newer.
    pub lost: usize,
    /// Clients updated on both sides whose newest update did not win on
    /// every node.
    pub newest_violations: usize,
    /// A few of each, to show.
    pub examples: Vec<String>,
    /// Nodes that could not be asked: nothing is known of them.
    pub unverified: Vec<String>,
}

/// Asks every node of `herd` about every client in the ledger.
pub async fn ask_all(herd: &Herd, ledger: &Ledger) -> Vec<(String, Result<Holdings, SendError>)> {
    let mut clients: Vec<&str> = ledger.sent.iter().map(|s| s.client.as_str()).collect();
    clients.sort_unstable();
    clients.dedup();
    let clients: Vec<String> = clients.into_iter().map(str::to_owned).collect();
    let one_request = herd.config.client.one_request;
    let asks = herd.nodes().iter().map(|spec| {
        let clients = &clients;
        async move {
            let held = ask(&spec.client, clients, one_request).await;
            (spec.name.clone(), held)
        }
    });
    futures_util::future::join_all(asks).await
}

async fn ask(
    addr: &herd_config::Address,
    clients: &[String],
    one_request: bool,
) -> Result<Holdings, SendError> {
    let per = if one_request { 1 } else { PER_CONNECTION };
    let mut held = Holdings::new();
    for chunk in clients.chunks(per) {
        let lines: Vec<String> = chunk.iter().map(|c| format!("WHATSAT {c} 1 1")).collect();
        let reply = crate::send::exchange_within(addr, &lines, ASK_LIMIT).await?;
        let text = String::from_utf8_lossy(&reply);
        let answers = parse_replies(&text);
        for client in chunk {
            held.insert(
                client.clone(),
                answers.get(client.as_str()).copied().flatten(),
            );
        }
    }
    Ok(held)
}

/// WHATSAT replies in a row: `AT ...` then the JSON up to an empty line,
/// or `? WHATSAT client ...`. Each client's record time, or None.
pub fn parse_replies(text: &str) -> HashMap<&str, Option<u64>> {
    let mut answers = HashMap::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        match fields.as_slice() {
            ["AT", _, _, client, _, time] => {
                answers.insert(*client, parse_time(time));
                // The JSON, which holds no empty line, then the empty line.
                for json in lines.by_ref() {
                    if json.is_empty() {
                        break;
                    }
                }
            }
            ["?", "WHATSAT", client, ..] => {
                answers.insert(*client, None);
            }
            _ => {}
        }
    }
    answers
}

/// Compares what was sent with what each node holds.
pub fn judge(ledger: &Ledger, asked: &[(String, Result<Holdings, SendError>)]) -> Findings {
    let mut findings = Findings {
        sent: ledger.sent.len(),
        acknowledged: ledger.sent.iter().filter(|s| s.acknowledged).count(),
        ..Findings::default()
    };
    let holdings: Vec<(&str, &Holdings)> = asked
        .iter()
        .filter_map(|(node, held)| match held {
            Ok(held) => Some((node.as_str(), held)),
            Err(err) => {
                findings.unverified.push(node.clone());
                findings
                    .examples
                    .push(format!("not verified: {node}: {err}"));
                None
            }
        })
        .collect();
    let example = |findings: &mut Findings, text: String| {
        if findings.examples.len() < 8 {
            findings.examples.push(text);
        }
    };
    for sent in ledger.sent.iter().filter(|s| s.acknowledged) {
        let missing: Vec<&str> = holdings
            .iter()
            .filter(|(_, held)| held.get(&sent.client).copied().flatten() < Some(sent.time_ns))
            .map(|(node, _)| *node)
            .collect();
        if !missing.is_empty() {
            findings.lost += 1;
            example(
                &mut findings,
                format!(
                    "lost: {} at {} (acknowledged by {}) is not on {}",
                    sent.client,
                    super::load::format_time(sent.time_ns),
                    sent.node,
                    missing.join(", ")
                ),
            );
        }
    }
    // Newest acknowledged time per client updated on both sides.
    let mut newest: HashMap<&str, u64> = HashMap::new();
    for sent in ledger
        .sent
        .iter()
        .filter(|s| s.both_sides && s.acknowledged)
    {
        let t = newest.entry(sent.client.as_str()).or_insert(sent.time_ns);
        *t = (*t).max(sent.time_ns);
    }
    if holdings.is_empty() {
        // Nobody asked: nothing to say of who won (unverified says so).
        return findings;
    }
    let mut clients: Vec<(&str, u64)> = newest.into_iter().collect();
    clients.sort_unstable();
    for (client, time) in clients {
        let held: Vec<Option<u64>> = holdings
            .iter()
            .map(|(_, held)| held.get(client).copied().flatten())
            .collect();
        let agree = held.windows(2).all(|w| w[0] == w[1]);
        let winner = held.first().copied().flatten();
        if !agree || winner < Some(time) {
            findings.newest_violations += 1;
            let views: Vec<String> = holdings
                .iter()
                .zip(&held)
                .map(|((node, _), t)| {
                    format!(
                        "{node} {}",
                        t.map_or("nothing".to_owned(), super::load::format_time)
                    )
                })
                .collect();
            example(
                &mut findings,
                format!(
                    "newest lost: {client}: newest {} but {}",
                    super::load::format_time(time),
                    views.join(", ")
                ),
            );
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::super::load::Sent;
    use super::*;

    fn sent(client: &str, time_ns: u64, acknowledged: bool, both_sides: bool) -> Sent {
        Sent {
            client: client.to_owned(),
            time_ns,
            node: "Clark".to_owned(),
            acknowledged,
            both_sides,
        }
    }

    fn holdings(pairs: &[(&str, Option<u64>)]) -> Result<Holdings, SendError> {
        Ok(pairs.iter().map(|(c, t)| (c.to_string(), *t)).collect())
    }

    #[test]
    fn whatsat_replies_are_read_in_a_row() {
        let text = "AT Clark +0.1 a +34-118 12.5\n{\"results\":[],\n\"status\":\"ZERO_RESULTS\"}\n\n\
                    ? WHATSAT b 1 1\nAT Bona -0.2 c +34-118 13\n{}\n\n";
        let answers = parse_replies(text);
        assert_eq!(answers.get("a"), Some(&Some(12_500_000_000)));
        assert_eq!(answers.get("b"), Some(&None));
        assert_eq!(answers.get("c"), Some(&Some(13_000_000_000)));
        assert_eq!(answers.len(), 3);
    }

    #[test]
    fn an_acknowledged_update_missing_or_older_on_a_node_is_lost() {
        let mut ledger = Ledger::default();
        ledger.sent = vec![
            sent("a", 10, true, false),
            sent("b", 10, true, false),
            sent("c", 10, false, false),
        ];
        let asked = vec![
            (
                "X".to_owned(),
                holdings(&[("a", Some(10)), ("b", Some(11)), ("c", None)]),
            ),
            (
                "Y".to_owned(),
                holdings(&[("a", Some(9)), ("b", None), ("c", None)]),
            ),
        ];
        let findings = judge(&ledger, &asked);
        assert_eq!(findings.sent, 3);
        assert_eq!(findings.acknowledged, 2);
        // a is older on Y, b missing on Y; c was never acknowledged.
        assert_eq!(findings.lost, 2);
        assert!(
            findings.examples[0].contains("not on Y"),
            "{:?}",
            findings.examples
        );
    }

    #[test]
    fn the_newest_of_two_sides_must_win_on_every_node() {
        let mut ledger = Ledger::default();
        ledger.sent = vec![
            sent("p", 20, true, true),
            sent("p", 19, true, true),
            sent("q", 30, true, true),
            sent("q", 29, true, true),
        ];
        let asked = vec![
            (
                "X".to_owned(),
                holdings(&[("p", Some(20)), ("q", Some(30))]),
            ),
            (
                "Y".to_owned(),
                holdings(&[("p", Some(20)), ("q", Some(29))]),
            ),
        ];
        let findings = judge(&ledger, &asked);
        assert_eq!(findings.newest_violations, 1, "q's older update won on Y");
        assert_eq!(findings.lost, 1, "and so q at 30 is lost on Y");
        assert!(findings.unverified.is_empty());
    }

    #[test]
    fn a_node_that_cannot_be_asked_is_unverified() {
        let mut ledger = Ledger::default();
        ledger.sent = vec![sent("a", 1, true, false)];
        let asked = vec![
            ("X".to_owned(), holdings(&[("a", Some(1))])),
            (
                "Y".to_owned(),
                Err(SendError::NoReply(Duration::from_secs(20))),
            ),
        ];
        let findings = judge(&ledger, &asked);
        assert_eq!(findings.unverified, vec!["Y".to_owned()]);
        assert_eq!(findings.lost, 0);
    }
}
