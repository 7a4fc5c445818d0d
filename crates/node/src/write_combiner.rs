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
//! (contract: the update is handed to the links before the reply).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

use crate::node::Node;

/// Failed flushes remembered for the waiters they covered (a failure is a
/// disk error, rare; a waiter checks the moment it wakes).
const FAILURES_KEPT: usize = 64;

#[derive(Default)]
pub struct WriteCombiner {
    /// Tickets handed out: one per flush asked for.
    asked: AtomicU64,
    /// Every ticket up to this one is flushed (or failed).
    done: AtomicU64,
    /// Held by the one task writing.
    writing: Mutex<()>,
    /// Flushes whose log write failed: tickets `first..=last`.
    failures: Mutex<VecDeque<(u64, u64)>>,
    finished: Notify,
}

/// How a flush went for the one who asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// The log write that covered it succeeded.
    pub stored: bool,
    /// Entries the store had written by then (for group commit's fsync).
    pub written: u64,
}

impl WriteCombiner {
    /// Writes what was appended and queued before this call (by this task
    /// or any other), or waits for the writer that does.
    pub async fn flush(&self, node: &Node) -> Flushed {
        let ticket = self.asked.fetch_add(1, Ordering::AcqRel) + 1;
        loop {
            let finished = self.finished.notified();
            tokio::pin!(finished);
            // Registered before the checks, so no wake-up is missed.
            finished.as_mut().enable();
            if self.done.load(Ordering::Acquire) >= ticket {
                return Flushed {
                    stored: !self.failed(ticket),
                    written: node.store_written(),
                };
            }
            if let Ok(writer) = self.writing.try_lock() {
                // Everything asked until now was appended and queued before
                // its ticket was taken: this write covers it.
                let covers = self.asked.load(Ordering::Acquire);
                let first = self.done.load(Ordering::Acquire) + 1;
                let stored = node.write_appended();
                if !stored {
                    let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
                    if failures.len() == FAILURES_KEPT {
                        failures.pop_front();
                    }
                    failures.push_back((first, covers));
                }
                node.write_links();
                self.done.store(covers, Ordering::Release);
                drop(writer);
                self.finished.notify_waiters();
                continue;
            }
            finished.await;
        }
    }

    fn failed(&self, ticket: u64) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures
            .iter()
            .any(|&(first, last)| (first..=last).contains(&ticket))
    }
}
