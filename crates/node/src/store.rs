//! Where a node keeps its records besides memory.
//!
//! The node calls [`RecordStore::save`] for every update that wins, before it
//! acknowledges or floods it, and [`RecordStore::load`] once at start-up.
//! The store is [`crate::log_store::LogStore`], an append-only log under
//! `DIR/NAME/`; the trait keeps the node's logic apart from the file format.

use std::io;
use std::sync::Arc;

use herd_proto::{Record, Tombstone};

pub trait RecordStore: Send {
    /// Persists one winning update: in the operating system's hands when
    /// this returns (with what [`RecordStore::append`] held back). An error
    /// refuses the update.
    fn save(&mut self, record: &Arc<Record>) -> io::Result<()> {
        self.append(record)?;
        self.flush()
    }

    /// Takes one winning update to write with the next
    /// [`RecordStore::flush`] or `save`: the updates of many replies, or of
    /// a batch of peer lines, go to the file in one write. Its entry is
    /// number [`RecordStore::appended`] from then on. An error (the store
    /// refuses writes, the record cannot be stored) refuses the update.
    fn append(&mut self, record: &Arc<Record>) -> io::Result<()>;

    /// Takes one winning tombstone, as `append` an update. The forgotten
    /// client's earlier lines are to leave the store's files soon (at the
    /// next [`RecordStore::maintain`] that may rewrite them).
    fn append_tombstone(&mut self, tombstone: &Tombstone) -> io::Result<()>;

    /// Records left the node that may be forgotten clients' (a node back
    /// from past the tombstone horizon discarded them): rewrite the files
    /// without them soon, as after a tombstone.
    fn purge_soon(&mut self) {}

    /// Writes what `append` holds, in order. On an error none of it is in
    /// the file (a half-written entry is cut off again) and it stays, for
    /// the next flush to try again; a store that cannot cut a failed write
    /// back, or has too much waiting, refuses everything from then on
    /// ([`RecordStore::broken`]).
    fn flush(&mut self) -> io::Result<()>;

    /// Entries appended since the store was opened, written or waiting:
    /// entry `n` is written once [`RecordStore::written`] reaches `n`.
    fn appended(&self) -> u64;

    /// Every record saved before, newest per client, for start-up: built
    /// once, as the store reads them (a million records are not indexed a
    /// second time).
    fn load(&mut self) -> io::Result<herd_core::Records>;

    /// Entries written so far, in the order they were appended (for group
    /// commit, and for a reply to know its update is written).
    fn written(&self) -> u64;

    /// Another handle to the file to fsync, if the store has one.
    fn sync_handle(&self) -> Option<std::fs::File>;

    /// Housekeeping after a save, with the records as they are now (under
    /// the node's state lock). True when the store moved to a new file
    /// (after a compaction), so a new [`RecordStore::sync_handle`] is due.
    /// `finish`: also swap in a compaction that is done (it writes and
    /// fsyncs, so the periodic task asks, not the save path).
    fn maintain(&mut self, _records: &herd_core::Records, _finish: bool) -> bool {
        false
    }

    /// Bytes the store takes on disk.
    fn bytes(&self) -> u64;

    /// Why the store refuses writes, if it does.
    fn broken(&self) -> Option<String> {
        None
    }

    /// One line for the start-up log.
    fn describe(&self) -> String;
}
