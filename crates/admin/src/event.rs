//! The event stream: what a subscriber receives, one line per event.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Node-local sequence number, from 1, without gaps: a subscriber that
    /// sees a gap missed events (and is told so with `lagged`). `lagged`
    /// itself has `seq` 0.
    #[serde(default)]
    pub seq: u64,
    /// POSIX microseconds on the node's clock.
    #[serde(default)]
    pub ts_us: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A client line and the first line of its reply (a WHATSAT's JSON is
    /// summarised by `json_bytes`).
    Request {
        conn: u64,
        line: String,
        reply: String,
        #[serde(default)]
        json_bytes: usize,
    },
    /// An update received from `peer`; `won` when it was newer than what the
    /// node held (then it is stored and flooded on).
    FloodIn {
        peer: String,
        client: String,
        at: String,
        won: bool,
    },
    /// An update handed to the links to `peers`.
    FloodOut {
        peers: Vec<String>,
        client: String,
        at: String,
    },
    /// A link changed: see [`LinkChange`].
    Link {
        peer: String,
        change: LinkChange,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The records changed: the client whose record was replaced or added
    /// (empty when records went by a forget, an expiry, or a node's
    /// return from past the tombstone horizon: no id is named then), and
    /// the new count and digest.
    Records {
        client: String,
        count: usize,
        digest: String,
    },
    /// This subscriber was too slow: `missed` events were dropped for it.
    Lagged { missed: u64 },
    /// An event kind this program does not know (from a newer node).
    #[serde(other)]
    Unknown,
}

/// The kinds a subscription can ask for (`{"cmd": "subscribe", "kinds":
/// ["records"]}`): the `event` names of [`EventKind`], `lagged` aside (a
/// subscriber is always told what it lost). A node builds no event of a
/// kind nobody asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventClass {
    Request,
    FloodIn,
    FloodOut,
    Link,
    Records,
}

impl EventClass {
    pub const ALL: [EventClass; 5] = [
        EventClass::Request,
        EventClass::FloodIn,
        EventClass::FloodOut,
        EventClass::Link,
        EventClass::Records,
    ];

    /// Its place in [`EventClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkChange {
    /// Connected and handshaken.
    Up,
    /// The connection was lost (reason says why).
    Down,
    /// A connection attempt was refused, by either side.
    Refused,
    /// The operator cut the link.
    Cut,
    /// The operator restored the link.
    Restored,
}

impl LinkChange {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkChange::Up => "up",
            LinkChange::Down => "down",
            LinkChange::Refused => "refused",
            LinkChange::Cut => "cut",
            LinkChange::Restored => "restored",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_flat_json_lines() {
        let event = Event {
            seq: 4,
            ts_us: 10,
            kind: EventKind::FloodIn {
                peer: "Bona".to_owned(),
                client: "kiwi".to_owned(),
                at: "AT Bona +0.1 kiwi +1-2 3".to_owned(),
                won: true,
            },
        };
        let line = serde_json::to_string(&event).unwrap_or_default();
        assert_eq!(
            line,
            r#"{"seq":4,"ts_us":10,"event":"flood_in","peer":"Bona","client":"kiwi","at":"AT Bona +0.1 kiwi +1-2 3","won":true}"#
        );
        let back: Result<Event, _> = serde_json::from_str(&line);
        assert_eq!(back.ok(), Some(event));
    }

    #[test]
    fn unknown_event_kinds_are_tolerated() {
        let back: Result<Event, _> =
            serde_json::from_str(r#"{"seq":1,"ts_us":2,"event":"from_the_future","x":1}"#);
        assert_eq!(back.map(|e| e.kind).ok(), Some(EventKind::Unknown));
    }
}
