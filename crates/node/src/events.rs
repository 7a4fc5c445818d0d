//! The node's event stream for admin subscribers (docs/admin-protocol.md).
//!
//! Publishing never waits: events go into a bounded broadcast ring, and a
//! subscriber that falls behind loses the oldest ones (it is told how many)
//! instead of slowing the node. With nobody subscribed an event is not even
//! built, so an unwatched node pays one atomic load per event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use herd_admin::{Event, EventKind};
use tokio::sync::broadcast;

/// Events held for the slowest subscriber before it starts losing them.
pub const EVENT_BUFFER: usize = 16 * 1024;

pub struct EventHub {
    sender: broadcast::Sender<Arc<str>>,
    /// The last sequence number given out. Numbering and sending happen
    /// under this lock so that subscribers see sequence numbers in order.
    last_seq: Mutex<u64>,
    dropped: AtomicU64,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub::new(EVENT_BUFFER)
    }
}

impl EventHub {
    pub fn new(capacity: usize) -> EventHub {
        let (sender, _) = broadcast::channel(capacity);
        EventHub {
            sender,
            last_seq: Mutex::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// True when someone is subscribed.
    pub fn is_watched(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Publishes the event `make` builds, if anyone is listening.
    pub fn publish_with(&self, make: impl FnOnce() -> EventKind) {
        if !self.is_watched() {
            return;
        }
        let kind = make();
        let mut last_seq = self.last_seq.lock().unwrap_or_else(|p| p.into_inner());
        *last_seq += 1;
        let event = Event {
            seq: *last_seq,
            ts_us: now_us(),
            kind,
        };
        if let Ok(line) = serde_json::to_string(&event) {
            // An error only means the last subscriber just left.
            let _ = self.sender.send(line.into());
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.sender.subscribe()
    }

    /// Counts events a slow subscriber lost.
    pub fn note_dropped(&self, missed: u64) {
        self.dropped.fetch_add(missed, Ordering::Relaxed);
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The wall clock in POSIX microseconds (0 before 1970).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::TryRecvError;

    fn link_event(n: u64) -> EventKind {
        EventKind::Lagged { missed: n }
    }

    #[test]
    fn unwatched_events_are_not_built() {
        let hub = EventHub::new(4);
        hub.publish_with(|| panic!("built without a subscriber"));
        assert!(!hub.is_watched());
    }

    #[test]
    fn subscribers_get_numbered_events_and_a_slow_one_is_told_what_it_missed() {
        let hub = EventHub::new(4);
        let mut slow = hub.subscribe();
        for n in 0..10 {
            hub.publish_with(|| link_event(n));
        }
        // The ring kept the newest 4; the first receive reports the 6 lost.
        assert_eq!(slow.try_recv().err(), Some(TryRecvError::Lagged(6)));
        let next: Option<Event> = slow
            .try_recv()
            .ok()
            .and_then(|line| serde_json::from_str(&line).ok());
        assert_eq!(next.map(|e| (e.seq, e.kind)), Some((7, link_event(6))));
    }
}
