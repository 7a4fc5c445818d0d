//! What keeps a link from sending a forgotten update.
//!
//! A link's queues hold copies of updates (the flood queue, and repair
//! answers waiting for the wire), and a forget can come while they wait:
//! the node no longer holds the update, but the copy would still go out.
//! Usually the peer has the tombstone too and drops it, but not always: a
//! peer that was away longer than tombstones are kept gets the copy after
//! the tombstone expired everywhere, and takes it (found by the simulator:
//! a queue kept a copy for a peer that was down past the horizon).
//!
//! So every link hears of every tombstone its node commits, and drops on
//! the way out any queued update that one covers, and refuses to queue
//! one (the node decides and commits an update under its lock but floods
//! it a moment later, so a forget can come in between). A tombstone is kept
//! here until everything queued before it has left, and at least
//! [`KEEP_AT_LEAST`]: then no copy it could cover remains or is still on
//! its way into the queue (the node's own records never hold a covered
//! update).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use herd_proto::{ClientHash, Record, Tombstone};

use crate::digest_tree::leaf_of;

/// How long a tombstone is kept at the least: far longer than an update
/// takes from its commit to its link's queue.
pub const KEEP_AT_LEAST: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Pending {
    tombstone: Tombstone,
    /// Kept until then at least.
    until: Duration,
    /// The flood queue's sequence number and the urgent lines' count at
    /// the forget: once both have been passed, nothing queued before it
    /// is left.
    flood_until: u64,
    urgent_until: u64,
}

#[derive(Debug, Default)]
pub struct ForgetFilter {
    pending: VecDeque<Pending>,
    /// Pending tombstones by leaf: a record of another leaf is let through
    /// after one cheap hash of its id (no SHA-256).
    by_leaf: HashMap<u16, usize>,
}

impl ForgetFilter {
    /// `tombstone` was committed at `now`, when the queues had numbered
    /// their lines up to (not including) `flood_until` and `urgent_until`.
    pub fn add(
        &mut self,
        now: Duration,
        tombstone: Tombstone,
        flood_until: u64,
        urgent_until: u64,
    ) {
        *self.by_leaf.entry(tombstone.leaf).or_default() += 1;
        self.pending.push_back(Pending {
            tombstone,
            until: now + KEEP_AT_LEAST,
            flood_until,
            urgent_until,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Does a tombstone heard of cover `record` (it must not be sent)?
    pub fn covers(&self, record: &Record) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let leaf = leaf_of(record.client());
        if !self.by_leaf.contains_key(&leaf) {
            return false;
        }
        let client = ClientHash::of(record.client());
        self.pending.iter().any(|pending| {
            pending.tombstone.leaf == leaf
                && pending.tombstone.client == client
                && pending.tombstone.time >= record.client_time()
        })
    }

    /// Forgets the tombstones kept long enough whose queued copies have all
    /// left: the flood queue has sent up to `flood_sent`, the urgent lines
    /// `urgent_sent`, at `now`.
    pub fn collect(&mut self, now: Duration, flood_sent: u64, urgent_sent: u64) {
        while let Some(first) = self.pending.front() {
            if first.flood_until > flood_sent
                || first.urgent_until > urgent_sent
                || first.until > now
            {
                break;
            }
            let leaf = first.tombstone.leaf;
            self.pending.pop_front();
            if let Some(count) = self.by_leaf.get_mut(&leaf) {
                *count -= 1;
                if *count == 0 {
                    self.by_leaf.remove(&leaf);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_proto::Nanos;

    fn record(client: &str, time: u64) -> Record {
        let line = format!("AT Clark +0.000000001 {client} +1+1 {time}");
        Record::parse_at_line(&line).unwrap_or_else(|err| panic!("{line}: {err}"))
    }

    fn tombstone(client: &str, time: u64) -> Tombstone {
        Tombstone {
            leaf: leaf_of(client),
            client: ClientHash::of(client),
            time: Nanos(time * 1_000_000_000),
        }
    }

    #[test]
    fn covered_copies_are_caught_until_everything_before_the_forget_left() {
        let mut filter = ForgetFilter::default();
        assert!(!filter.covers(&record("kiwi", 5)));
        let s = Duration::from_secs(1);
        filter.add(s, tombstone("kiwi", 10), 3, 1);
        assert!(filter.covers(&record("kiwi", 5)));
        assert!(filter.covers(&record("kiwi", 10)));
        assert!(!filter.covers(&record("kiwi", 11)), "a newer update goes");
        assert!(!filter.covers(&record("tui", 5)), "another client goes");
        let later = s + KEEP_AT_LEAST;
        filter.collect(later, 2, 1);
        assert!(filter.covers(&record("kiwi", 5)), "a copy may still wait");
        filter.collect(later, 3, 0);
        assert!(
            filter.covers(&record("kiwi", 5)),
            "a repair answer may wait"
        );
        filter.collect(later - s, 3, 1);
        assert!(
            filter.covers(&record("kiwi", 5)),
            "a flood may still be on its way into the queue"
        );
        filter.collect(later, 3, 1);
        assert!(filter.is_empty());
        assert!(!filter.covers(&record("kiwi", 5)));
    }
}
