//! One record-log write, and one write per peer link, for the replies of
//! every client connection about to answer (group commit without the
//! fsync).
//!
//! A client's update is appended to the store and queued on its links
//! under the node's lock; before the connection writes its replies it asks
//! for a flush here. The first to ask writes (the log, then every link
//! with something queued) for everyone who asked before it began; whoever
//! asks while it writes waits, and the next writer covers them all. With no
//! concurrency a flush starts at once, so a lone client waits for nothing
//! more than its own writes; under load, the log and link writes of many
//! replies become one each. Either way a reply is written only after its
//! update is in the operating system's hands and on the wire to the peers
//! (contract: the update is handed to the links before the reply). Whether
//! the log write covered a given update is the store's count of entries
//! written ([`crate::store::RecordStore::written`]), not this module's: a
//! write that failed leaves its entries for the next to try.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use tokio::sync::Notify;

use crate::node::Node;

#[derive(Default)]
pub struct WriteCombiner {
    /// Tickets handed out: one per flush asked for.
    asked: AtomicU64,
    /// Every ticket up to this one has had its write tried.
    done: AtomicU64,
    /// Entries the store had written when the latest round ended (what a
    /// round's tickets are judged by, without taking the node's lock again).
    written: AtomicU64,
    /// Held by the one task writing.
    writing: Mutex<()>,
    /// Tasks waiting for a writer to finish: a writer wakes them only when
    /// there are some, so a lone client pays no wake-up.
    waiting: AtomicUsize,
    finished: Notify,
}

impl WriteCombiner {
    /// Writes what was appended and queued before this call (by this task
    /// or any other), or waits for the writer that does. Returns how many
    /// entries the store has written: an update appended as entry `n` is
    /// stored when that is at least `n` (a failed write leaves it short).
    pub async fn flush(&self, node: &Node) -> u64 {
        let ticket = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        // Nobody writing (no load): write at once, nothing to wait for.
        if self.try_round(node, ticket) {
            return self.written.load(Ordering::SeqCst);
        }
        loop {
            let finished = self.finished.notified();
            tokio::pin!(finished);
            // Registered, and counted, before the checks: a writer that
            // finishes after them sees the count and wakes this task.
            finished.as_mut().enable();
            let waiting = Waiting::count(&self.waiting);
            if self.try_round(node, ticket) {
                return self.written.load(Ordering::SeqCst);
            }
            finished.await;
            drop(waiting);
        }
    }

    /// True when `ticket` is written: by an earlier round, or by one this
    /// task ran now because nobody else was writing.
    fn try_round(&self, node: &Node, ticket: u64) -> bool {
        loop {
            if self.done.load(Ordering::SeqCst) >= ticket {
                return true;
            }
            let Some(writer) = self.try_write() else {
                return false;
            };
            // Everything asked until now was appended and queued before its
            // ticket was taken: this write covers it.
            let round = Round {
                combiner: self,
                covers: self.asked.load(Ordering::SeqCst),
                writer: Some(writer),
            };
            let written = node.write_appended();
            node.write_links();
            // Before the round ends: whoever its tickets wake reads this.
            self.written.fetch_max(written, Ordering::SeqCst);
            drop(round);
        }
    }

    /// The writer's lock, unless another task writes now.
    fn try_write(&self) -> Option<MutexGuard<'_, ()>> {
        match self.writing.try_lock() {
            Ok(writer) => Some(writer),
            // A writer that panicked wrote nothing more: take over.
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// One writer's round: when it ends, even by a panic, the writer's lock is
/// released, its tickets are done (whoever waits on them looks at what was
/// written), and only then do the waiters wake (one whose ticket came later
/// must find the lock free, or it would wait for a wake-up that already
/// happened).
struct Round<'a> {
    combiner: &'a WriteCombiner,
    covers: u64,
    writer: Option<MutexGuard<'a, ()>>,
}

impl Drop for Round<'_> {
    fn drop(&mut self) {
        let combiner = self.combiner;
        // The lock first: a waiter that reads `done` after this store then
        // also finds the lock free (the store publishes the unlock).
        drop(self.writer.take());
        combiner.done.fetch_max(self.covers, Ordering::SeqCst);
        if combiner.waiting.load(Ordering::SeqCst) > 0 {
            combiner.finished.notify_waiters();
        }
    }
}

/// One task counted in `waiting` until dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicUsize) -> Waiting<'a> {
        waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
