//! The Records view's data: every node's records side by side, and which
//! nodes disagree about a client.

use std::collections::BTreeMap;

use herd_admin::{RecordEntry, RecordsPage};

/// Records asked of each node per refresh: the first page in client order.
pub const RECORDS_PER_NODE: usize = 1_000;

#[derive(Default)]
pub struct HerdRecords {
    by_client: BTreeMap<String, BTreeMap<String, RecordEntry>>,
    /// Per node: the last client its page covered when the page was not the
    /// whole list. Clients after it are unknown for that node, not missing.
    covered_to: BTreeMap<String, Option<String>>,
    /// Per node: how many records matched, all pages.
    matching: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Clients the nodes disagree about first, then by client.
    #[default]
    Disagreeing,
    Client,
    Newest,
    ReceivedBy,
}

impl SortBy {
    pub fn next(self) -> SortBy {
        match self {
            SortBy::Disagreeing => SortBy::Client,
            SortBy::Client => SortBy::Newest,
            SortBy::Newest => SortBy::ReceivedBy,
            SortBy::ReceivedBy => SortBy::Disagreeing,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortBy::Disagreeing => "disagreement",
            SortBy::Client => "client",
            SortBy::Newest => "newest first",
            SortBy::ReceivedBy => "receiving node",
        }
    }
}

/// One client across the herd.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub client: String,
    /// The newest version any node holds.
    pub newest: RecordEntry,
    /// Nodes (of those asked) holding exactly that version.
    pub agree: usize,
    /// Nodes (of those asked) holding another version or none.
    pub disagree: Vec<String>,
}

impl HerdRecords {
    /// Replaces what `node` holds with `page`.
    pub fn update(&mut self, node: &str, page: RecordsPage) {
        for holders in self.by_client.values_mut() {
            holders.remove(node);
        }
        self.by_client.retain(|_, holders| !holders.is_empty());
        let covered = page
            .next
            .as_ref()
            .and_then(|_| page.records.last().map(|r| r.client.clone()));
        self.covered_to.insert(node.to_owned(), covered);
        self.matching.insert(node.to_owned(), page.matching);
        for record in page.records {
            self.by_client
                .entry(record.client.clone())
                .or_default()
                .insert(node.to_owned(), record);
        }
    }

    /// Forgets a node (unreachable: nothing is known of it).
    pub fn forget(&mut self, node: &str) {
        self.update(node, RecordsPage::default());
        self.covered_to.remove(node);
        self.matching.remove(node);
    }

    /// The most records any node reported matching.
    pub fn most_matching(&self) -> usize {
        self.matching.values().copied().max().unwrap_or(0)
    }

    /// Clients whose id contains `filter` (ignoring case), sorted.
    pub fn rows(&self, filter: &str, sort: SortBy) -> Vec<Row> {
        let filter = filter.to_lowercase();
        let asked: Vec<&String> = self.covered_to.keys().collect();
        let mut rows: Vec<Row> = self
            .by_client
            .iter()
            .filter(|(client, _)| filter.is_empty() || client.to_lowercase().contains(&filter))
            .filter_map(|(client, holders)| {
                let newest = holders.values().max_by(|a, b| newer(a, b))?.clone();
                let mut agree = 0;
                let mut disagree = Vec::new();
                for node in &asked {
                    // A node whose page ended before this client: unknown.
                    if let Some(Some(last)) = self.covered_to.get(*node)
                        && client > last
                    {
                        continue;
                    }
                    match holders.get(*node) {
                        Some(entry) if entry.at == newest.at => agree += 1,
                        _ => disagree.push((*node).clone()),
                    }
                }
                Some(Row {
                    client: client.clone(),
                    newest,
                    agree,
                    disagree,
                })
            })
            .collect();
        match sort {
            SortBy::Disagreeing => rows.sort_by_key(|r| r.disagree.is_empty()),
            SortBy::Client => {}
            SortBy::Newest => rows.sort_by_key(|r| std::cmp::Reverse(r.newest.received_us)),
            SortBy::ReceivedBy => rows.sort_by(|a, b| {
                (&a.newest.received_by, &a.client).cmp(&(&b.newest.received_by, &b.client))
            }),
        }
        rows
    }
}

/// The order the herd uses: client time first (compared as the exact
/// decimal text), then the receiving node.
fn newer(a: &RecordEntry, b: &RecordEntry) -> std::cmp::Ordering {
    time_key(&a.client_time)
        .cmp(&time_key(&b.client_time))
        .then_with(|| a.received_by.cmp(&b.received_by))
}

/// Seconds and nanoseconds of a decimal time, for exact comparison.
fn time_key(text: &str) -> (u64, u64) {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut nanos = fraction.chars().take(9).collect::<String>();
    while nanos.len() < 9 {
        nanos.push('0');
    }
    (seconds.parse().unwrap_or(0), nanos.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(client: &str, time: &str, by: &str) -> RecordEntry {
        RecordEntry {
            client: client.to_owned(),
            client_time: time.to_owned(),
            received_by: by.to_owned(),
            at: format!("AT {by} +0.1 {client} +1+1 {time}"),
            ..RecordEntry::default()
        }
    }

    fn page(records: Vec<RecordEntry>, next: Option<&str>) -> RecordsPage {
        RecordsPage {
            matching: records.len(),
            records,
            next: next.map(str::to_owned),
        }
    }

    #[test]
    fn a_node_that_missed_an_update_is_named() {
        let mut herd = HerdRecords::default();
        herd.update("Bona", page(vec![entry("kiwi", "10.5", "Clark")], None));
        herd.update(
            "Clark",
            page(vec![entry("kiwi", "10.50000001", "Clark")], None),
        );
        herd.update("Bailey", page(vec![], None));
        let rows = herd.rows("", SortBy::Client);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].newest.client_time, "10.50000001");
        assert_eq!(rows[0].agree, 1);
        assert_eq!(rows[0].disagree, ["Bailey", "Bona"]);

        // Once every node has it, nobody disagrees.
        for node in ["Bona", "Bailey"] {
            herd.update(
                node,
                page(vec![entry("kiwi", "10.50000001", "Clark")], None),
            );
        }
        let rows = herd.rows("", SortBy::Client);
        assert_eq!((rows[0].agree, rows[0].disagree.len()), (3, 0));
    }

    #[test]
    fn clients_past_a_truncated_page_are_unknown_not_missing() {
        let mut herd = HerdRecords::default();
        herd.update("A", page(vec![entry("a", "1", "A")], Some("a")));
        herd.update(
            "B",
            page(vec![entry("a", "1", "A"), entry("z", "1", "B")], None),
        );
        let rows = herd.rows("", SortBy::Client);
        let z = rows
            .iter()
            .find(|r| r.client == "z")
            .map(|r| (r.agree, r.disagree.clone()));
        assert_eq!(z, Some((1, vec![])));
        assert_eq!(herd.rows("z", SortBy::Client).len(), 1);
        herd.forget("B");
        assert!(herd.rows("z", SortBy::Client).is_empty());
    }

    #[test]
    fn disagreement_comes_first() {
        let mut herd = HerdRecords::default();
        herd.update(
            "A",
            page(vec![entry("a", "1", "A"), entry("z", "2", "A")], None),
        );
        herd.update("B", page(vec![entry("a", "1", "A")], None));
        let order: Vec<String> = herd
            .rows("", SortBy::Disagreeing)
            .into_iter()
            .map(|r| r.client)
            .collect();
        assert_eq!(order, ["z", "a"]);
    }

    #[test]
    fn exact_times_decide_and_sorting_works() {
        assert!(time_key("10.5") > time_key("10.49999999999"));
        assert_eq!(time_key("10.5"), time_key("10.500000000"));
        let mut herd = HerdRecords::default();
        let mut old = entry("b", "1", "Clark");
        old.received_us = 1;
        let mut young = entry("a", "2", "Bona");
        young.received_us = 2;
        herd.update("Bona", page(vec![young, old], None));
        let order =
            |sort| -> Vec<String> { herd.rows("", sort).into_iter().map(|r| r.client).collect() };
        assert_eq!(order(SortBy::Client), ["a", "b"]);
        assert_eq!(order(SortBy::Disagreeing), ["a", "b"]);
        assert_eq!(order(SortBy::Newest), ["a", "b"]);
        assert_eq!(order(SortBy::ReceivedBy), ["a", "b"]);
    }
}
