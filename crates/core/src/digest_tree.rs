//! Digests of the records by bucket, for the repair exchange.
//!
//! A record's leaf is fixed by its client id (the top 16 bits of XXH3-64 of
//! the id), so both ends of a link put a client in the same leaf. A leaf's
//! digest is the wrapping sum of its records' hashes, exactly as the node's
//! [`Digest`](crate::Digest) is the sum over all records: the root of the
//! tree *is* the node's digest, and every change updates one leaf in O(1).

use herd_proto::repair::{Digests, GROUPS, LEAVES, LEAVES_PER_GROUP};

/// The leaf of a client id.
pub fn leaf_of(client: &str) -> u16 {
    (xxhash_rust::xxh3::xxh3_64(client.as_bytes()) >> 48) as u16
}

/// Splits a leaf into its group and its index in the group.
pub fn split_leaf(leaf: u16) -> (u8, u8) {
    ((leaf >> 8) as u8, leaf as u8)
}

#[derive(Debug, Default)]
pub struct DigestTree {
    /// One digest per leaf; allocated with the first record (512 KiB), so an
    /// empty node (or a simulated one) costs nothing.
    leaves: Option<Box<[u64]>>,
    /// The leaf of the record at each position of
    /// [`Records`](crate::Records): finding a leaf's records scans these two
    /// bytes per record rather than the records themselves.
    leaf_at: Vec<u16>,
}

impl DigestTree {
    /// Room for the leaves of `records` records.
    pub(crate) fn with_capacity(records: usize) -> DigestTree {
        DigestTree {
            leaves: None,
            leaf_at: Vec::with_capacity(records),
        }
    }

    fn leaves_mut(&mut self) -> &mut [u64] {
        self.leaves
            .get_or_insert_with(|| vec![0u64; LEAVES].into_boxed_slice())
    }

    /// A record was appended at the next position.
    pub(crate) fn push(&mut self, leaf: u16, hash: u64) {
        self.leaf_at.push(leaf);
        let slot = &mut self.leaves_mut()[usize::from(leaf)];
        *slot = slot.wrapping_add(hash);
    }

    /// Something without a position (a tombstone) joined `leaf`.
    pub(crate) fn add(&mut self, leaf: u16, hash: u64) {
        let slot = &mut self.leaves_mut()[usize::from(leaf)];
        *slot = slot.wrapping_add(hash);
    }

    /// Something without a position left `leaf`.
    pub(crate) fn subtract(&mut self, leaf: u16, hash: u64) {
        let slot = &mut self.leaves_mut()[usize::from(leaf)];
        *slot = slot.wrapping_sub(hash);
    }

    /// The record at `position` was removed, and the last one moved into
    /// its place (as `IndexSet::swap_remove_index` does).
    pub(crate) fn swap_remove(&mut self, position: usize, hash: u64) {
        if position < self.leaf_at.len() {
            let leaf = self.leaf_at.swap_remove(position);
            self.subtract(leaf, hash);
        }
    }

    /// The record of a client in `leaf` was replaced.
    pub(crate) fn replace(&mut self, leaf: u16, old_hash: u64, new_hash: u64) {
        let slot = &mut self.leaves_mut()[usize::from(leaf)];
        *slot = slot.wrapping_add(new_hash).wrapping_sub(old_hash);
    }

    fn leaf(&self, leaf: usize) -> u64 {
        self.leaves.as_ref().map_or(0, |leaves| leaves[leaf])
    }

    /// The digest of each group (the sum of its leaves).
    pub fn groups(&self) -> Digests {
        let mut groups = Box::new([0u64; GROUPS]);
        if let Some(leaves) = &self.leaves {
            for (group, chunk) in groups.iter_mut().zip(leaves.chunks(LEAVES_PER_GROUP)) {
                *group = chunk.iter().fold(0u64, |sum, &d| sum.wrapping_add(d));
            }
        }
        groups
    }

    /// The digests of one group's leaves.
    pub fn group_leaves(&self, group: u8) -> Digests {
        let first = usize::from(group) * LEAVES_PER_GROUP;
        let mut digests = Box::new([0u64; LEAVES_PER_GROUP]);
        for (i, slot) in digests.iter_mut().enumerate() {
            *slot = self.leaf(first + i);
        }
        digests
    }

    /// Positions of the records in the given leaves of `group`.
    pub fn positions_in(&self, group: u8, leaves: &[u8]) -> impl Iterator<Item = usize> + '_ {
        let mut wanted = [false; LEAVES_PER_GROUP];
        for &leaf in leaves {
            wanted[usize::from(leaf)] = true;
        }
        self.leaf_at
            .iter()
            .enumerate()
            .filter(move |&(_, &leaf)| {
                let (g, i) = split_leaf(leaf);
                g == group && wanted[usize::from(i)]
            })
            .map(|(position, _)| position)
    }
}
