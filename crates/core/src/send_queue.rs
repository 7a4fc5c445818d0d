//! The bounded send queue of one peer link.
//!
//! Only the newest update of a client is worth sending: a newer update of a
//! client replaces the queued older one in place (keeping its turn), so a
//! client that moves fast costs one slot, not one per move. When the queue
//! is full a new client's update is refused and counted; the repair exchange
//! (docs/repair.md, a later issue) is what makes that loss good.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use herd_proto::Record;

use crate::client_key::ByClient;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Appended at the back.
    Queued,
    /// An older queued update of the same client was replaced.
    Replaced,
    /// The queue already holds this update or a newer one of the client.
    AlreadyQueued,
    /// Full: the update was dropped.
    Overflow,
    /// A tombstone the link heard of covers it: not queued
    /// (`LinkMachine::push`).
    Forgotten,
}

#[derive(Debug)]
pub struct SendQueue {
    capacity: usize,
    queue: VecDeque<Arc<Record>>,
    /// Sequence number of `queue[0]`; positions are `seq - head`.
    head: u64,
    position: HashMap<ByClient, u64>,
}

impl SendQueue {
    pub fn new(capacity: usize) -> SendQueue {
        SendQueue {
            capacity: capacity.max(1),
            queue: VecDeque::new(),
            head: 0,
            position: HashMap::new(),
        }
    }

    pub fn push(&mut self, record: Arc<Record>) -> Push {
        if let Some(&seq) = self.position.get(record.client()) {
            let slot = &mut self.queue[(seq - self.head) as usize];
            if **slot >= *record {
                return Push::AlreadyQueued;
            }
            *slot = record.clone();
            // Re-key so the map does not keep the replaced record alive.
            self.position.remove(record.client());
            self.position.insert(ByClient(record), seq);
            return Push::Replaced;
        }
        if self.queue.len() >= self.capacity {
            return Push::Overflow;
        }
        let seq = self.head + self.queue.len() as u64;
        self.queue.push_back(record.clone());
        self.position.insert(ByClient(record), seq);
        Push::Queued
    }

    /// A new bound (a reload of `[limits] peer_queue`). A queue already
    /// longer drains before it takes new clients again.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
    }

    pub fn pop(&mut self) -> Option<Arc<Record>> {
        let record = self.queue.pop_front()?;
        self.head += 1;
        self.position.remove(record.client());
        Some(record)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Updates popped (or cleared) so far: the sequence number of the
    /// next one to leave.
    pub fn sent(&self) -> u64 {
        self.head
    }

    /// The sequence number the next update queued gets.
    pub fn next_seq(&self) -> u64 {
        self.head + self.queue.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops the queued updates `keep` refuses; returns how many. The rest
    /// keep their order (and are numbered again from the head).
    pub fn retain(&mut self, mut keep: impl FnMut(&Record) -> bool) -> usize {
        let before = self.queue.len();
        self.queue.retain(|record| keep(record));
        if self.queue.len() != before {
            self.position.clear();
            for (i, record) in self.queue.iter().enumerate() {
                self.position
                    .insert(ByClient(record.clone()), self.head + i as u64);
            }
        }
        before - self.queue.len()
    }

    pub fn clear(&mut self) {
        self.head += self.queue.len() as u64;
        self.queue.clear();
        self.position.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_proto::{Nanos, Request, parse_request};
    use proptest::prelude::*;

    fn record(client: &str, time: u64) -> Arc<Record> {
        let line = format!("IAMAT {client} +1-2 {time}");
        let Some(Request::IAmAt(req)) = parse_request(&line) else {
            panic!("bad test line {line}");
        };
        Arc::new(Record::from_iamat("N", Nanos(time * 1_000_000_000), &req))
    }

    fn drain(queue: &mut SendQueue) -> Vec<String> {
        std::iter::from_fn(|| queue.pop())
            .map(|r| r.at_line().to_owned())
            .collect()
    }

    #[test]
    fn newer_update_replaces_older_in_place() {
        let mut q = SendQueue::new(10);
        assert_eq!(q.push(record("a", 1)), Push::Queued);
        assert_eq!(q.push(record("b", 1)), Push::Queued);
        assert_eq!(q.push(record("a", 2)), Push::Replaced);
        assert_eq!(q.push(record("a", 1)), Push::AlreadyQueued);
        assert_eq!(q.len(), 2);
        assert_eq!(
            drain(&mut q),
            ["AT N +0.000000000 a +1-2 2", "AT N +0.000000000 b +1-2 1"]
        );
        // Once sent, the client may be queued again.
        assert_eq!(q.push(record("a", 3)), Push::Queued);
    }

    #[test]
    fn full_queue_refuses_new_clients_but_still_replaces() {
        let mut q = SendQueue::new(2);
        q.push(record("a", 1));
        q.push(record("b", 1));
        assert_eq!(q.push(record("c", 1)), Push::Overflow);
        assert_eq!(q.push(record("b", 2)), Push::Replaced);
        assert_eq!(q.len(), 2);
    }

    proptest! {
        /// Whatever is pushed, the queue holds at most one entry per client,
        /// never more than its capacity, and each entry is the newest pushed
        /// (and not yet popped) for its client.
        #[test]
        fn holds_the_newest_per_client_within_capacity(
            ops in prop::collection::vec((0usize..6, 0u64..10, any::<bool>()), 0..200),
            capacity in 1usize..5,
        ) {
            let clients = ["a", "b", "c", "d", "e", "f"];
            let mut q = SendQueue::new(capacity);
            let mut popped = Vec::new();
            for (c, t, pop) in ops {
                if pop {
                    if let Some(r) = q.pop() { popped.push(r); }
                } else {
                    q.push(record(clients[c], t));
                }
                prop_assert!(q.len() <= capacity);
            }
            let rest = drain(&mut q);
            let mut seen = std::collections::HashSet::new();
            for line in &rest {
                let client = line.split(' ').nth(3).unwrap_or_default().to_owned();
                prop_assert!(seen.insert(client), "one entry per client");
            }
        }
    }
}
