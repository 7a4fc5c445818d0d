//! The seeded scheduler: events in time order, ties in the order they were
//! scheduled, so a seed always replays the same run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Simulated time in microseconds.
pub type Micros = u64;

pub struct Schedule<E> {
    now: Micros,
    next_seq: u64,
    heap: BinaryHeap<Reverse<(Micros, u64)>>,
    /// Events by sequence number; taken when they fire.
    events: std::collections::HashMap<u64, E>,
}

impl<E> Default for Schedule<E> {
    fn default() -> Self {
        Schedule {
            now: 0,
            next_seq: 0,
            heap: BinaryHeap::new(),
            events: std::collections::HashMap::new(),
        }
    }
}

impl<E> Schedule<E> {
    pub fn now(&self) -> Micros {
        self.now
    }

    pub fn at(&mut self, time: Micros, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse((time.max(self.now), seq)));
        self.events.insert(seq, event);
    }

    pub fn after(&mut self, delay: Micros, event: E) {
        self.at(self.now + delay, event);
    }

    /// The next event, if it is due no later than `until`.
    pub fn pop_until(&mut self, until: Micros) -> Option<E> {
        let &Reverse((time, seq)) = self.heap.peek()?;
        if time > until {
            return None;
        }
        self.heap.pop();
        self.now = time;
        self.events.remove(&seq)
    }

    /// Moves the clock forward to `time` (when nothing is due before it).
    pub fn advance_to(&mut self, time: Micros) {
        self.now = self.now.max(time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_in_time_order_then_in_scheduling_order() {
        let mut s = Schedule::default();
        s.at(20, "c");
        s.at(10, "a");
        s.at(10, "b");
        assert_eq!(s.pop_until(5), None);
        assert_eq!(s.pop_until(100), Some("a"));
        assert_eq!(s.now(), 10);
        s.after(0, "b2");
        assert_eq!(s.pop_until(100), Some("b"));
        assert_eq!(s.pop_until(100), Some("b2"));
        assert_eq!(s.pop_until(100), Some("c"));
        assert_eq!(s.pop_until(100), None);
    }
}
