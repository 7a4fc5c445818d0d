//! The node's event stream for admin subscribers (docs/admin-protocol.md).
//!
//! Publishing never waits: events go into a bounded broadcast ring, and a
//! subscriber that falls behind loses the oldest ones (it is told how many)
//! instead of slowing the node. An event of a kind nobody subscribed to is
//! not even built, so an unwatched node pays one atomic load per event, and
//! a subscriber to `records` only does not turn every flood into JSON.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use herd_admin::{Event, EventClass, EventKind};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// Events held for the slowest subscriber before it starts losing them.
pub const EVENT_BUFFER: usize = 16 * 1024;

/// One published event: its kind (for the subscribers' filters) and line.
type Published = (EventClass, Arc<str>);

/// Subscribers per event kind.
type Watchers = [AtomicUsize; EventClass::ALL.len()];

pub struct EventHub {
    sender: broadcast::Sender<Published>,
    watchers: Arc<Watchers>,
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
            watchers: Arc::new(Default::default()),
            last_seq: Mutex::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// True when someone is subscribed to events of `class`.
    pub fn is_watched(&self, class: EventClass) -> bool {
        self.watchers[class.index()].load(Ordering::Relaxed) > 0
    }

    /// Publishes the event `make` builds, if anyone is listening to its
    /// kind. `class` must be the kind `make` builds.
    pub fn publish_with(&self, class: EventClass, make: impl FnOnce() -> EventKind) {
        if !self.is_watched(class) {
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
            let _ = self.sender.send((class, line.into()));
        }
    }

    /// A subscription to the events of `kinds` (every kind with None).
    pub fn subscribe(&self, kinds: Option<&[EventClass]>) -> Subscription {
        let mut wanted = [false; EventClass::ALL.len()];
        for class in kinds.unwrap_or(&EventClass::ALL) {
            wanted[class.index()] = true;
        }
        // Counted before receiving, so no event it wants is skipped unbuilt.
        for (count, _) in self.watchers.iter().zip(wanted).filter(|(_, on)| *on) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        Subscription {
            receiver: self.sender.subscribe(),
            wanted,
            watchers: self.watchers.clone(),
        }
    }

    /// Counts events a slow subscriber lost.
    pub fn note_dropped(&self, missed: u64) {
        self.dropped.fetch_add(missed, Ordering::Relaxed);
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// One subscriber's events: those of the kinds it asked for. Lost events
/// are reported as with any broadcast receiver (`Lagged`), whatever their
/// kind. Dropping it ends the subscription.
pub struct Subscription {
    receiver: broadcast::Receiver<Published>,
    wanted: [bool; EventClass::ALL.len()],
    watchers: Arc<Watchers>,
}

impl Subscription {
    /// The next event line it wants.
    pub async fn recv(&mut self) -> Result<Arc<str>, RecvError> {
        loop {
            let (class, line) = self.receiver.recv().await?;
            if self.wanted[class.index()] {
                return Ok(line);
            }
        }
    }

    /// The next event line it wants, if one is waiting.
    pub fn try_recv(&mut self) -> Result<Arc<str>, TryRecvError> {
        loop {
            let (class, line) = self.receiver.try_recv()?;
            if self.wanted[class.index()] {
                return Ok(line);
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        for (count, _) in self.watchers.iter().zip(self.wanted).filter(|(_, on)| *on) {
            count.fetch_sub(1, Ordering::Relaxed);
        }
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

    fn lagged(n: u64) -> EventKind {
        EventKind::Lagged { missed: n }
    }

    fn link_event(n: u64) -> EventKind {
        EventKind::Link {
            peer: format!("p{n}"),
            change: herd_admin::LinkChange::Up,
            reason: None,
        }
    }

    fn seq_and_kind(line: Arc<str>) -> Option<(u64, EventKind)> {
        serde_json::from_str::<Event>(&line)
            .ok()
            .map(|e| (e.seq, e.kind))
    }

    #[test]
    fn unwatched_events_are_not_built() {
        let hub = EventHub::new(4);
        hub.publish_with(EventClass::Link, || panic!("built without a subscriber"));
        assert!(!hub.is_watched(EventClass::Link));
    }

    #[test]
    fn subscribers_get_numbered_events_and_a_slow_one_is_told_what_it_missed() {
        let hub = EventHub::new(4);
        let mut slow = hub.subscribe(None);
        for n in 0..10 {
            hub.publish_with(EventClass::Link, || lagged(n));
        }
        // The ring kept the newest 4; the first receive reports the 6 lost.
        assert_eq!(slow.try_recv().err(), Some(TryRecvError::Lagged(6)));
        let next = slow.try_recv().ok().and_then(seq_and_kind);
        assert_eq!(next, Some((7, lagged(6))));
    }

    #[test]
    fn a_subscription_by_kind_gets_only_those_and_others_are_not_built() {
        let hub = EventHub::new(16);
        let mut links = hub.subscribe(Some(&[EventClass::Link]));
        // Nobody wants records events: not built.
        hub.publish_with(EventClass::Records, || panic!("built for nobody"));
        hub.publish_with(EventClass::Link, || link_event(1));
        let mut everything = hub.subscribe(None);
        hub.publish_with(EventClass::Records, || lagged(2));
        hub.publish_with(EventClass::Link, || link_event(3));
        assert_eq!(
            links.try_recv().ok().and_then(seq_and_kind),
            Some((1, link_event(1)))
        );
        // The records event is skipped: a gap in seq, not a loss.
        assert_eq!(
            links.try_recv().ok().and_then(seq_and_kind),
            Some((3, link_event(3)))
        );
        assert_eq!(links.try_recv().err(), Some(TryRecvError::Empty));
        assert_eq!(
            everything.try_recv().ok().and_then(seq_and_kind),
            Some((2, lagged(2)))
        );
        // Gone subscribers stop the building again.
        drop(everything);
        drop(links);
        for class in EventClass::ALL {
            assert!(!hub.is_watched(class), "{class:?}");
        }
    }
}
