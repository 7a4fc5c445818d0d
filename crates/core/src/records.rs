//! The set of records, one per client, newest update winning, and the
//! tombstones of forgotten clients.

use std::collections::BTreeMap;
use std::sync::Arc;

use herd_proto::{ClientHash, Nanos, Record, Tombstone};
use indexmap::IndexSet;

use herd_proto::repair::Digests;

use crate::client_key::ByClient;
use crate::digest::{record_hash, tombstone_hash};
use crate::digest_tree::{DigestTree, leaf_of, split_leaf};
use crate::{Digest, digest};

/// Records by client id. An insertion-ordered hash set: a client keeps its
/// position while its records replace each other, so a long scan (an admin
/// listing a million records) can proceed a slice of positions at a time
/// and let updates in between. A record that is removed (forgotten,
/// expired) gives its position to the last record, which a scan under way
/// past that position then misses once.
///
/// A tombstone (a forget) is kept by the hash of the client's id, never by
/// the id: it wins over every update of the client up to its time, and
/// counts in the digest like a record. They are few (a forget is an
/// operator's act, and they expire), and kept in a `BTreeMap` so that
/// every pass over them (repair answers, the log's rewrite) goes in the
/// same order on every run: the simulator replays a seed exactly.
#[derive(Default, Debug)]
pub struct Records {
    by_client: IndexSet<ByClient>,
    tombstones: BTreeMap<ClientHash, Tombstone>,
    /// No record held has an older client time (it may be older than the
    /// oldest held: a removal does not raise it, a sweep does), so an
    /// expiry sweep that would find nothing is skipped.
    oldest: Option<Nanos>,
    /// The oldest client time merged since the running sweep started.
    merged_during_sweep: Option<Nanos>,
    /// Kept up to date by every merge; see [`Digest`].
    digest: Digest,
    /// The same, per bucket of clients, for the repair exchange.
    tree: DigestTree,
}

impl Records {
    /// Room for `clients` without growing (a log being loaded knows about
    /// how many it holds: growing a million-entry table doubles the work).
    pub fn with_capacity(clients: usize) -> Records {
        Records {
            by_client: IndexSet::with_capacity(clients),
            tombstones: BTreeMap::new(),
            oldest: None,
            merged_during_sweep: None,
            digest: Digest::default(),
            tree: DigestTree::with_capacity(clients),
        }
    }

    /// The tombstone of a client, if it was forgotten.
    pub fn tombstone_of(&self, client: &str) -> Option<&Tombstone> {
        if self.tombstones.is_empty() {
            return None;
        }
        self.tombstones.get(&ClientHash::of(client))
    }

    /// Is `record` an update that a tombstone held here covers?
    pub fn is_forgotten(&self, record: &Record) -> bool {
        self.tombstone_of(record.client())
            .is_some_and(|tombstone| tombstone.time >= record.client_time())
    }

    /// Would `tombstone` change anything here (no newer one is held)?
    pub fn wins(&self, tombstone: &Tombstone) -> bool {
        self.tombstones
            .get(&tombstone.client)
            .is_none_or(|held| held.time < tombstone.time)
    }

    /// Keeps `tombstone` if it is newer than the one held for its client,
    /// and removes the client's record if the tombstone covers it. Returns
    /// true when it won. Like [`Records::merge`], commutative, associative
    /// and idempotent, with updates too.
    pub fn forget(&mut self, tombstone: Tombstone) -> bool {
        if !self.wins(&tombstone) {
            return false;
        }
        if let Some(old) = self.tombstones.insert(tombstone.client, tombstone) {
            let hash = tombstone_hash(&old);
            self.digest = digest::minus(self.digest, hash);
            self.tree.subtract(old.leaf, hash);
        }
        let hash = tombstone_hash(&tombstone);
        self.digest = digest::plus(self.digest, hash);
        self.tree.add(tombstone.leaf, hash);
        let (group, index) = split_leaf(tombstone.leaf);
        let covered = self.tree.positions_in(group, &[index]).find(|&position| {
            self.by_client.get_index(position).is_some_and(|held| {
                held.0.client_time() <= tombstone.time
                    && ClientHash::of(held.0.client()) == tombstone.client
            })
        });
        if let Some(position) = covered {
            self.remove_at(position);
        }
        true
    }

    /// Removes the record at `position` (the last one takes its place).
    fn remove_at(&mut self, position: usize) {
        if let Some(removed) = self.by_client.swap_remove_index(position) {
            let hash = record_hash(&removed.0);
            self.digest = digest::minus(self.digest, hash);
            self.tree.swap_remove(position, hash);
        }
    }

    /// A bound on the client times held: none is older.
    pub fn oldest_client_time(&self) -> Option<Nanos> {
        self.oldest
    }

    /// Removes every record for which `expired` says so, at once; returns
    /// how many. (A sweep under way is not disturbed.)
    pub fn remove_records(&mut self, mut expired: impl FnMut(&Record) -> bool) -> usize {
        let mut removed = 0;
        // From the end: a removal moves the last record, already looked at,
        // into the hole.
        for position in (0..self.by_client.len()).rev() {
            if self
                .by_client
                .get_index(position)
                .is_some_and(|held| expired(&held.0))
            {
                self.remove_at(position);
                removed += 1;
            }
        }
        removed
    }

    /// Starts a sweep: [`Records::continue_sweep`] goes through every
    /// record once, a bounded number of removals at a time, so a sweep that
    /// removes half a million records does not hold the node's lock for
    /// hundreds of milliseconds at once.
    pub fn start_sweep(&mut self) -> Sweep {
        self.merged_during_sweep = None;
        Sweep {
            below: self.by_client.len(),
            oldest_kept: None,
        }
    }

    /// Goes on with `sweep`, removing what `expired` says, until `budget`
    /// records are removed or every record has been looked at
    /// ([`Sweep::is_done`]); returns how many went. Updates, forgets and
    /// removals in between are fine: the positions still to look at are
    /// those below the sweep's, and a removal moves the last record (looked
    /// at already, or newer than the sweep) into its hole.
    pub fn continue_sweep(
        &mut self,
        sweep: &mut Sweep,
        budget: usize,
        mut expired: impl FnMut(&Record) -> bool,
    ) -> usize {
        let mut removed = 0;
        sweep.below = sweep.below.min(self.by_client.len());
        while sweep.below > 0 && removed < budget {
            let position = sweep.below - 1;
            sweep.below = position;
            let Some(held) = self.by_client.get_index(position) else {
                continue;
            };
            if expired(&held.0) {
                self.remove_at(position);
                removed += 1;
            } else {
                sweep.oldest_kept = Some(earliest(sweep.oldest_kept, held.0.client_time()));
            }
        }
        if sweep.is_done() {
            // Every record was looked at or merged since: the bound is exact
            // again.
            self.oldest = match (sweep.oldest_kept, self.merged_during_sweep) {
                (Some(kept), merged) => Some(earliest(merged, kept)),
                (None, merged) => merged,
            };
        }
        removed
    }

    /// Drops every tombstone for which `expired` says so; returns how many.
    pub fn remove_tombstones(&mut self, mut expired: impl FnMut(&Tombstone) -> bool) -> usize {
        let gone: Vec<Tombstone> = self
            .tombstones
            .values()
            .filter(|tombstone| expired(tombstone))
            .copied()
            .collect();
        for tombstone in &gone {
            self.tombstones.remove(&tombstone.client);
            let hash = tombstone_hash(tombstone);
            self.digest = digest::minus(self.digest, hash);
            self.tree.subtract(tombstone.leaf, hash);
        }
        gone.len()
    }

    pub fn tombstones(&self) -> impl Iterator<Item = &Tombstone> {
        self.tombstones.values()
    }

    pub fn tombstone_count(&self) -> usize {
        self.tombstones.len()
    }

    /// The tombstones in the given leaves of `group`.
    pub fn tombstones_in_leaves(&self, group: u8, leaves: &[u8]) -> Vec<Tombstone> {
        if leaves.is_empty() || self.tombstones.is_empty() {
            return Vec::new();
        }
        self.tombstones
            .values()
            .filter(|tombstone| {
                let (g, index) = split_leaf(tombstone.leaf);
                g == group && leaves.contains(&index)
            })
            .copied()
            .collect()
    }

    pub fn get(&self, client: &str) -> Option<&Arc<Record>> {
        self.by_client.get(client).map(|entry| &entry.0)
    }

    /// Keeps `record` if it is newer than what we hold for its client (by
    /// [`Record`]'s total order). Returns true when it won. Merging is
    /// commutative, associative and idempotent: any order of any multiset of
    /// updates ends in the same state.
    pub fn merge(&mut self, record: Arc<Record>) -> bool {
        if self.is_forgotten(&record) {
            return false;
        }
        let time = record.client_time();
        self.oldest = Some(earliest(self.oldest, time));
        self.merged_during_sweep = Some(earliest(self.merged_during_sweep, time));
        // One lookup for a new client (every record of a log being loaded):
        // inserting leaves an existing client's record where it is.
        let (index, inserted) = self.by_client.insert_full(ByClient(record.clone()));
        if inserted {
            let hash = record_hash(&record);
            self.digest = digest::plus(self.digest, hash);
            self.tree.push(leaf_of(record.client()), hash);
            return true;
        }
        let old = match self.by_client.get_index(index) {
            Some(held) if *held.0 < *record => record_hash(&held.0),
            _ => return false,
        };
        let hash = record_hash(&record);
        let leaf = leaf_of(record.client());
        // The same client at its own position: a replacement in place (it
        // keeps its position), which cannot find the client elsewhere.
        if self
            .by_client
            .replace_index(index, ByClient(record))
            .is_err()
        {
            return false;
        }
        self.digest = digest::plus(digest::minus(self.digest, old), hash);
        self.tree.replace(leaf, old, hash);
        true
    }

    /// The digest of all records and tombstones held, in O(1).
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The digest of each group of leaves (see [`DigestTree`]).
    pub fn group_digests(&self) -> Digests {
        self.tree.groups()
    }

    /// The digests of the leaves of one group.
    pub fn leaf_digests(&self, group: u8) -> Digests {
        self.tree.group_leaves(group)
    }

    /// The records in the given leaves of `group`.
    pub fn in_leaves(&self, group: u8, leaves: &[u8]) -> Vec<Arc<Record>> {
        if leaves.is_empty() {
            return Vec::new();
        }
        self.tree
            .positions_in(group, leaves)
            .filter_map(|position| self.by_client.get_index(position))
            .map(|entry| entry.0.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Record>> {
        self.by_client.iter().map(|entry| &entry.0)
    }

    /// The records at positions `start..start + count` (fewer at the end).
    /// Positions are stable: a record added later comes after every
    /// position seen so far.
    pub fn slice(&self, start: usize, count: usize) -> impl Iterator<Item = &Arc<Record>> {
        let end = start.saturating_add(count).min(self.by_client.len());
        let start = start.min(end);
        self.by_client
            .get_range(start..end)
            .into_iter()
            .flat_map(|slice| slice.iter())
            .map(|entry| &entry.0)
    }
}

/// A sweep over the records under way (see [`Records::start_sweep`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Positions below this are still to be looked at.
    below: usize,
    oldest_kept: Option<Nanos>,
}

impl Sweep {
    pub fn is_done(&self) -> bool {
        self.below == 0
    }
}

fn earliest(held: Option<Nanos>, time: Nanos) -> Nanos {
    held.map_or(time, |held| held.min(time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_proto::{Nanos, Request, parse_request};
    use proptest::prelude::*;

    fn record(node: &str, client: &str, time: u64, received: u64) -> Arc<Record> {
        let line = format!("IAMAT {client} +1-2 {}", Nanos(time).to_seconds_text());
        let Some(Request::IAmAt(req)) = parse_request(&line) else {
            panic!("bad test line {line}");
        };
        Arc::new(Record::from_iamat(node, Nanos(received), &req))
    }

    #[test]
    fn newer_client_time_wins_older_loses_duplicate_loses() {
        let mut records = Records::default();
        assert!(records.merge(record("Clark", "c", 10, 11)));
        assert!(records.merge(record("Bona", "c", 20, 21)));
        assert!(!records.merge(record("Jaquez", "c", 15, 16)));
        assert!(!records.merge(record("Bona", "c", 20, 21)));
        assert_eq!(records.get("c").map(|r| r.origin()), Some("Bona"));
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn equal_client_times_are_broken_by_node_name() {
        let mut a = Records::default();
        a.merge(record("Bona", "c", 10, 50));
        a.merge(record("Clark", "c", 10, 11));
        let mut b = Records::default();
        b.merge(record("Clark", "c", 10, 11));
        b.merge(record("Bona", "c", 10, 50));
        assert_eq!(a.get("c").map(|r| r.origin()), Some("Clark"));
        assert_eq!(b.get("c").map(|r| r.origin()), Some("Clark"));
    }

    #[test]
    fn digest_tells_different_records_apart() {
        let mut a = Records::default();
        let mut b = Records::default();
        assert_eq!(a.digest(), b.digest());
        a.merge(record("Clark", "c", 10, 11));
        assert_ne!(a.digest(), b.digest());
        b.merge(record("Bona", "c", 10, 11));
        // Same client and time, different receiving node: different records.
        assert_ne!(a.digest(), b.digest());
        b.merge(record("Clark", "c", 10, 11));
        assert_eq!(a.digest(), b.digest());
        // Replacing a record removes its contribution.
        a.merge(record("Clark", "c", 20, 21));
        b.merge(record("Clark", "c", 20, 21));
        assert_eq!(a.digest(), b.digest());
        let mut c = Records::default();
        c.merge(record("Clark", "c", 20, 21));
        assert_eq!(a.digest(), c.digest());
    }

    #[test]
    fn positions_are_stable_across_replacements_and_additions() {
        let mut records = Records::default();
        for (i, client) in ["a", "b", "c"].iter().enumerate() {
            records.merge(record("Clark", client, i as u64, 10));
        }
        records.merge(record("Bona", "b", 50, 60));
        records.merge(record("Bona", "d", 50, 60));
        let clients: Vec<&str> = records.slice(0, 10).map(|r| r.client()).collect();
        assert_eq!(clients, ["a", "b", "c", "d"]);
        let clients: Vec<&str> = records.slice(1, 2).map(|r| r.client()).collect();
        assert_eq!(clients, ["b", "c"]);
        assert_eq!(records.slice(1, 2).next().map(|r| r.origin()), Some("Bona"));
        assert_eq!(records.slice(4, 2).count(), 0);
        assert_eq!(records.slice(usize::MAX, usize::MAX).count(), 0);
    }

    #[test]
    fn a_sweep_in_pieces_removes_exactly_what_expired_and_survives_changes() {
        let mut records = Records::default();
        for i in 0..100u64 {
            records.merge(record(
                "Clark",
                &format!("c{i}"),
                if i % 3 == 0 { 1 } else { 50 },
                60,
            ));
        }
        assert_eq!(records.oldest_client_time(), Some(Nanos(1)));
        let mut sweep = records.start_sweep();
        let mut removed = records.continue_sweep(&mut sweep, 5, |r| r.client_time().0 < 10);
        assert_eq!(removed, 5);
        assert!(!sweep.is_done());
        // Changes between the pieces: a removal, a new old record, a
        // replacement.
        records.remove_records(|r| r.client() == "c1");
        records.merge(record("Clark", "late", 2, 60));
        records.merge(record("Bona", "c4", 70, 71));
        while !sweep.is_done() {
            removed += records.continue_sweep(&mut sweep, 5, |r| r.client_time().0 < 10);
        }
        assert_eq!(removed, 34, "every third of 100");
        assert!(
            records
                .iter()
                .all(|r| r.client_time().0 >= 10 || r.client() == "late")
        );
        assert_eq!(records.len(), 100 - 34 - 1 + 1);
        assert_eq!(records.oldest_client_time(), Some(Nanos(2)), "the late one");
        let mut scratch = crate::Digest::default();
        for r in records.iter() {
            scratch.add(r);
        }
        assert_eq!(records.digest(), scratch);
    }

    fn state(records: &Records) -> Vec<String> {
        let mut lines: Vec<String> = records.iter().map(|r| r.at_line().to_owned()).collect();
        lines.sort();
        lines
    }

    proptest! {
        /// Any permutation of any multiset of updates converges to one state:
        /// the maximum per client.
        #[test]
        fn merge_order_does_not_matter(
            updates in prop::collection::vec(
                (0usize..3, 0usize..4, 0u64..5, 0u64..3), 1..40),
            seed in any::<u64>(),
        ) {
            let nodes = ["Bailey", "Bona", "Clark"];
            let clients = ["a", "b", "c", "d"];
            let records: Vec<Arc<Record>> = updates
                .iter()
                .map(|&(n, c, t, d)| record(nodes[n], clients[c], t, t + d))
                .collect();

            let mut forward = Records::default();
            for r in &records {
                forward.merge(r.clone());
            }
            // A shuffled copy with every update delivered twice.
            let mut shuffled: Vec<Arc<Record>> =
                records.iter().chain(records.iter()).cloned().collect();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut other = Records::default();
            for r in shuffled {
                other.merge(r);
            }
            prop_assert_eq!(state(&forward), state(&other));
            prop_assert_eq!(forward.digest(), other.digest());
            // The running digest equals one computed from scratch.
            let mut scratch = crate::Digest::default();
            for r in forward.iter() {
                scratch.add(r);
            }
            prop_assert_eq!(forward.digest(), scratch);
            for client in clients {
                let newest = records.iter().filter(|r| r.client() == client).max();
                prop_assert_eq!(forward.get(client), newest);
            }
        }
    }
}
