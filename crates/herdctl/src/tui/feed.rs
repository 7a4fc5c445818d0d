//! The Flood view's data: the merged event stream of every node, bounded,
//! with a per-second rate and the path of one update across the herd.

use std::collections::VecDeque;

use herd_admin::{Event, EventKind};

use crate::event_text::describe;

/// Events kept for the view (older ones are dropped).
pub const FEED_LIMIT: usize = 5_000;
/// herdctl's own lines kept, apart from the events, so that the traffic
/// a drill causes cannot push its story out.
pub const NOTES_LIMIT: usize = 500;
/// Seconds of history in the rate sparkline.
pub const RATE_SECONDS: usize = 60;

#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    pub node: String,
    pub event: Event,
    /// herdctl's own line in the feed (a drill's steps and verdict, a
    /// node that died), shown instead of an event's text.
    pub note: Option<String>,
}

impl FeedItem {
    pub fn event(node: &str, event: Event) -> FeedItem {
        FeedItem {
            node: node.to_owned(),
            event,
            note: None,
        }
    }

    /// A line of herdctl's own, at `ts_us`, from `source` ("drill", a node).
    pub fn note(source: &str, text: String, ts_us: u64) -> FeedItem {
        FeedItem {
            node: source.to_owned(),
            event: Event {
                seq: 0,
                ts_us,
                kind: EventKind::Unknown,
            },
            note: Some(text),
        }
    }

    /// What the feed shows for it.
    pub fn text(&self) -> String {
        match &self.note {
            Some(note) => note.clone(),
            None => describe(&self.event.kind),
        }
    }

    /// The AT line that identifies the update this event is about, if any.
    pub fn update(&self) -> Option<&str> {
        match &self.event.kind {
            EventKind::FloodIn { at, .. } | EventKind::FloodOut { at, .. } => Some(at),
            EventKind::Request { line, reply, .. } if line.starts_with("IAMAT") => {
                reply.starts_with("AT ").then_some(reply.as_str())
            }
            _ => None,
        }
    }

    /// Whether the item matches a filter given in lower case (a
    /// case-insensitive substring of the node or the event's text).
    pub fn matches(&self, lowercase_filter: &str) -> bool {
        if lowercase_filter.is_empty() {
            return true;
        }
        self.node.to_lowercase().contains(lowercase_filter)
            || self.text().to_lowercase().contains(lowercase_filter)
    }
}

/// One hop of an update's path.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    pub node: String,
    pub what: String,
    /// Microseconds since the first event of the path.
    pub after_us: u64,
}

#[derive(Default)]
pub struct Feed {
    items: VecDeque<FeedItem>,
    notes: VecDeque<FeedItem>,
    /// Events per second, oldest first; the last entry is the current second.
    per_second: VecDeque<u64>,
    current_second: u64,
    pub total: u64,
}

impl Feed {
    pub fn push(&mut self, item: FeedItem, now_ms: u64) {
        self.tick(now_ms);
        if item.note.is_some() {
            if self.notes.len() == NOTES_LIMIT {
                self.notes.pop_front();
            }
            self.notes.push_back(item);
            return;
        }
        if let Some(last) = self.per_second.back_mut() {
            *last += 1;
        }
        self.total += 1;
        if self.items.len() == FEED_LIMIT {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// Moves the rate window to `now_ms`'s second.
    pub fn tick(&mut self, now_ms: u64) {
        let second = now_ms / 1000;
        if self.per_second.is_empty() {
            self.current_second = second;
            self.per_second.push_back(0);
            return;
        }
        while self.current_second < second {
            self.current_second += 1;
            self.per_second.push_back(0);
            // The window keeps RATE_SECONDS complete seconds and the current.
            if self.per_second.len() > RATE_SECONDS + 1 {
                self.per_second.pop_front();
            }
        }
    }

    /// Events and notes in time order (each list is in order already).
    pub fn items(&self) -> impl Iterator<Item = &FeedItem> + '_ {
        let mut events = self.items.iter().peekable();
        let mut notes = self.notes.iter().peekable();
        std::iter::from_fn(move || match (events.peek(), notes.peek()) {
            (Some(e), Some(n)) if n.event.ts_us < e.event.ts_us => notes.next(),
            (Some(_), _) => events.next(),
            (None, _) => notes.next(),
        })
    }

    /// Events per second over the last minute, oldest first, without the
    /// second in progress.
    pub fn rates(&self) -> Vec<u64> {
        let complete = self.per_second.len().saturating_sub(1);
        self.per_second.iter().take(complete).copied().collect()
    }

    /// The rate of the last complete second.
    pub fn last_rate(&self) -> u64 {
        self.rates().last().copied().unwrap_or(0)
    }
}

/// Every event about `update` among `items`, in time order, as hops.
///
/// The client's request comes first: the node publishes it when the reply
/// is written, after it has flooded the update, so its time says when the
/// client was answered.
pub fn path<'a>(items: impl Iterator<Item = &'a FeedItem>, update: &str) -> Vec<Hop> {
    let mut about: Vec<&FeedItem> = items.filter(|i| i.update() == Some(update)).collect();
    about.sort_by_key(|i| {
        let request = matches!(i.event.kind, EventKind::Request { .. });
        (!request, i.event.ts_us)
    });
    let start = about.iter().map(|i| i.event.ts_us).min().unwrap_or(0);
    about
        .into_iter()
        .map(|item| {
            let after_us = item.event.ts_us.saturating_sub(start);
            match &item.event.kind {
                EventKind::Request { .. } => Hop {
                    node: item.node.clone(),
                    what: format!(
                        "received from the client (answered at +{:.2} ms)",
                        after_us as f64 / 1000.0
                    ),
                    after_us: 0,
                },
                other => Hop {
                    node: item.node.clone(),
                    what: describe(other),
                    after_us,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(node: &str, ts_us: u64, kind: EventKind) -> FeedItem {
        FeedItem::event(
            node,
            Event {
                seq: 1,
                ts_us,
                kind,
            },
        )
    }

    const AT: &str = "AT Clark +0.1 kiwi +1+1 5";

    fn flood_in(node: &str, peer: &str, ts: u64, won: bool) -> FeedItem {
        item(
            node,
            ts,
            EventKind::FloodIn {
                peer: peer.to_owned(),
                client: "kiwi".to_owned(),
                at: AT.to_owned(),
                won,
            },
        )
    }

    #[test]
    fn the_path_of_an_update_lists_its_hops_in_time_order() {
        let items = [
            flood_in("Bailey", "Bona", 1_900, true),
            item(
                "Clark",
                1_150,
                EventKind::Request {
                    conn: 1,
                    line: "IAMAT kiwi +1+1 5".to_owned(),
                    reply: AT.to_owned(),
                    json_bytes: 0,
                },
            ),
            flood_in("Bona", "Clark", 1_300, true),
            item(
                "Clark",
                1_100,
                EventKind::FloodOut {
                    peers: vec!["Bona".to_owned()],
                    client: "kiwi".to_owned(),
                    at: AT.to_owned(),
                },
            ),
            flood_in("Bona", "Bailey", 2_500, false),
            flood_in("Bona", "Clark", 9_000, true).clone(),
        ];
        let mut items = items.to_vec();
        // Another update of the same client is not part of this path.
        if let EventKind::FloodIn { at, .. } = &mut items[5].event.kind {
            *at = "AT Clark +0.1 kiwi +1+1 6".to_owned();
        }
        let hops = path(items.iter(), AT);
        let summary: Vec<(&str, u64)> =
            hops.iter().map(|h| (h.node.as_str(), h.after_us)).collect();
        assert_eq!(
            summary,
            [
                ("Clark", 0),
                ("Clark", 0),
                ("Bona", 200),
                ("Bailey", 800),
                ("Bona", 1400)
            ]
        );
        // Published when answered, after the flood went out.
        assert_eq!(
            hops[0].what,
            "received from the client (answered at +0.05 ms)"
        );
        assert!(hops[4].what.contains("dup"));
    }

    #[test]
    fn rates_count_events_per_second_and_the_feed_is_bounded() {
        let mut feed = Feed::default();
        for i in 0..(FEED_LIMIT + 10) as u64 {
            // 10 events in each of the first seconds.
            feed.push(flood_in("Bona", "Clark", i, true), 1_000 + i * 100);
        }
        assert_eq!(feed.items().count(), FEED_LIMIT);
        assert_eq!(feed.total, (FEED_LIMIT + 10) as u64);
        feed.tick(1_000 + (FEED_LIMIT as u64 + 10) * 100);
        let rates = feed.rates();
        assert_eq!(rates.len(), RATE_SECONDS);
        assert!(rates.iter().all(|&r| r == 10), "{rates:?}");
        assert!(flood_in("Bona", "Clark", 1, true).matches("bona"));
        assert!(!flood_in("Bona", "Clark", 1, true).matches("dup"));
    }

    #[test]
    fn notes_outlive_the_traffic_and_merge_in_time_order() {
        let mut feed = Feed::default();
        feed.push(FeedItem::note("herdctl", "drill: started".to_owned(), 5), 0);
        for i in 0..(FEED_LIMIT + 100) as u64 {
            feed.push(flood_in("Bona", "Clark", 10 + i, true), 1);
        }
        feed.push(FeedItem::note("herdctl", "drill: PASSED".to_owned(), 20), 1);
        let items: Vec<&FeedItem> = feed.items().collect();
        assert_eq!(items.len(), FEED_LIMIT + 2, "both notes kept");
        assert_eq!(items[0].note.as_deref(), Some("drill: started"));
        let at = items
            .iter()
            .position(|i| i.note.as_deref() == Some("drill: PASSED"));
        // The events kept start at ts 110: the note at 20 comes first.
        assert_eq!(at, Some(1));
        assert!(
            items
                .windows(2)
                .all(|w| w[0].event.ts_us <= w[1].event.ts_us)
        );
    }
}
