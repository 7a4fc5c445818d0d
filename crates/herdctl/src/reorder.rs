//! Merges the event streams of several nodes into one in time order.
//!
//! Each node's stream is in order, but streams arrive over different
//! connections, so a peer's `flood_in` can reach herdctl before the
//! `flood_out` that caused it. Events are held for a short window after
//! they arrive and released in timestamp order. Release is decided by
//! herdctl's own clock (how long an event has been held), never by comparing
//! herdctl's clock with a node's, so skew between hosts only affects the
//! order between nodes, never how long events are held.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

pub struct Reorder<T> {
    held: BinaryHeap<Held<T>>,
    window: Duration,
    arrivals: u64,
}

struct Held<T> {
    ts_us: u64,
    /// Arrival order: ties in time keep the order they arrived in.
    arrival: u64,
    since: Instant,
    item: T,
}

impl<T> Reorder<T> {
    /// `window` zero releases every event as soon as it arrives.
    pub fn new(window: Duration) -> Reorder<T> {
        Reorder {
            held: BinaryHeap::new(),
            window,
            arrivals: 0,
        }
    }

    pub fn push(&mut self, ts_us: u64, item: T, now: Instant) {
        self.arrivals += 1;
        self.held.push(Held {
            ts_us,
            arrival: self.arrivals,
            since: now,
            item,
        });
    }

    /// The earliest event, once the earliest has been held for the window.
    pub fn pop_ready(&mut self, now: Instant) -> Option<T> {
        let ready = self
            .held
            .peek()
            .is_some_and(|first| now.duration_since(first.since) >= self.window);
        if ready {
            self.held.pop().map(|held| held.item)
        } else {
            None
        }
    }

    /// When the earliest held event becomes ready.
    pub fn next_release(&self) -> Option<Instant> {
        self.held.peek().map(|first| first.since + self.window)
    }

    /// Everything held, in order (at the end of the stream).
    pub fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.held.len());
        while let Some(held) = self.held.pop() {
            out.push(held.item);
        }
        out
    }
}

// BinaryHeap is a max-heap: the earliest (time, arrival) must compare greatest.
impl<T> Ord for Held<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.ts_us, other.arrival).cmp(&(self.ts_us, self.arrival))
    }
}

impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.ts_us, self.arrival) == (other.ts_us, other.arrival)
    }
}

impl<T> Eq for Held<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_arrivals_are_put_back_in_time_order() {
        let start = Instant::now();
        let window = Duration::from_millis(50);
        let mut reorder = Reorder::new(window);
        reorder.push(200, "Bona flood_in", start);
        reorder.push(100, "Clark flood_out", start + Duration::from_millis(10));
        reorder.push(200, "Bona records", start + Duration::from_millis(10));
        // Nothing is released before the earliest has waited the window.
        assert_eq!(reorder.pop_ready(start + Duration::from_millis(40)), None);
        assert_eq!(
            reorder.next_release(),
            Some(start + Duration::from_millis(60))
        );
        let later = start + Duration::from_millis(60);
        let released: Vec<_> = std::iter::from_fn(|| reorder.pop_ready(later)).collect();
        assert_eq!(
            released,
            ["Clark flood_out", "Bona flood_in", "Bona records"]
        );
        assert!(reorder.drain().is_empty());
    }

    #[test]
    fn a_zero_window_releases_at_once() {
        let now = Instant::now();
        let mut reorder = Reorder::new(Duration::ZERO);
        reorder.push(5, 'a', now);
        assert_eq!(reorder.pop_ready(now), Some('a'));
        reorder.push(9, 'b', now);
        reorder.push(1, 'c', now);
        assert_eq!(reorder.drain(), ['c', 'b']);
    }
}
