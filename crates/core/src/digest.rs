//! The digest of a node's records: equal on two nodes exactly when they hold
//! the same records and tombstones (up to a 2^-64 chance of collision).
//!
//! It is the wrapping sum of one 64-bit hash per record, so it does not
//! depend on the order records arrived in and is kept up to date in O(1) on
//! every change (subtract the replaced record, add the new one) instead of
//! being recomputed by a scan. The hash is XXH3-64 with its fixed default
//! seed over the record's AT line, which determines the whole record; a
//! fixed, documented function makes digests comparable across processes,
//! builds and platforms (std's `DefaultHasher` promises none of that).

use herd_proto::{Record, Tombstone};

#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Digest(u64);

impl Digest {
    pub fn value(self) -> u64 {
        self.0
    }

    pub fn add(&mut self, record: &Record) {
        self.0 = self.0.wrapping_add(record_hash(record));
    }

    pub fn remove(&mut self, record: &Record) {
        self.0 = self.0.wrapping_sub(record_hash(record));
    }

    /// 16 lower-case hex digits, the form shown to operators.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({:016x})", self.0)
    }
}

pub(crate) fn plus(digest: Digest, hash: u64) -> Digest {
    Digest(digest.0.wrapping_add(hash))
}

pub(crate) fn minus(digest: Digest, hash: u64) -> Digest {
    Digest(digest.0.wrapping_sub(hash))
}

/// The hash a tombstone contributes to the digest (of its FORGET line,
/// which no AT line can equal).
pub fn tombstone_hash(tombstone: &Tombstone) -> u64 {
    xxhash_rust::xxh3::xxh3_64(tombstone.to_line().as_bytes())
}

/// The hash a record contributes to the digest.
pub fn record_hash(record: &Record) -> u64 {
    xxhash_rust::xxh3::xxh3_64(record.at_line().as_bytes())
}
