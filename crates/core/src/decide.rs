//! What a node does with an IAMAT from a client or an update from a peer.

use std::sync::Arc;

use herd_proto::{IAmAt, Nanos, Record};

use crate::Records;

/// A link of this node: its index in the simulator, a number never reused
/// in the node (whose links come and go with reloads).
pub type LinkId = usize;

/// Which links an accepted update goes to: all of them but the one it came
/// from. Never back to the sender; never again once seen, because a second
/// copy loses the merge and is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub except: Option<LinkId>,
}

impl Forward {
    /// Links `0..links` that get the update.
    pub fn targets(self, links: usize) -> impl Iterator<Item = LinkId> {
        (0..links).filter(move |&link| self.includes(link))
    }

    /// Does link `link` get the update?
    pub fn includes(self, link: LinkId) -> bool {
        Some(link) != self.except
    }
}

#[derive(Debug, PartialEq)]
pub enum ClientDecision {
    /// A new update: store it, flood it, answer with its AT line.
    Accepted {
        record: Arc<Record>,
        forward: Forward,
    },
    /// We already hold this update or a newer one: answer with the stored AT
    /// line, flood nothing.
    Stale { held: Arc<Record> },
    /// The client's time is further in the future than the herd allows.
    TooFarInFuture,
}

#[derive(Debug, PartialEq)]
pub enum PeerDecision {
    /// Newer than what we held: store it and pass it on.
    Won {
        record: Arc<Record>,
        forward: Forward,
    },
    /// A copy of what we hold, or older: drop it.
    Lost,
}

/// One node's records and the rules it applies to them.
#[derive(Debug)]
pub struct NodeCore {
    name: String,
    max_future_skew: Nanos,
    records: Records,
}

impl NodeCore {
    pub fn new(name: impl Into<String>, max_future_skew: Nanos) -> NodeCore {
        NodeCore {
            name: name.into(),
            max_future_skew,
            records: Records::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A reload's new bound on client times ahead of this node's clock.
    pub fn set_max_future_skew(&mut self, max_future_skew: Nanos) {
        self.max_future_skew = max_future_skew;
    }

    pub fn records(&self) -> &Records {
        &self.records
    }

    /// An IAMAT from a client, received at `now` by this node's clock.
    /// Changes nothing: [`NodeCore::commit`] an accepted record.
    pub fn on_client_iamat(&self, request: &IAmAt<'_>, now: Nanos) -> ClientDecision {
        if request.time > now.saturating_add(self.max_future_skew.0) {
            return ClientDecision::TooFarInFuture;
        }
        if let Some(held) = self.records.get(request.client) {
            // The same (client time, receiving node) is the same update even
            // if it arrives again later: the client gets the first answer.
            if held.update_key() >= (request.time, self.name.as_str()) {
                return ClientDecision::Stale { held: held.clone() };
            }
        }
        let record = Arc::new(Record::from_iamat(&self.name, now, request));
        ClientDecision::Accepted {
            record,
            forward: Forward { except: None },
        }
    }

    /// An update that arrived on `link`.
    /// Changes nothing: [`NodeCore::commit`] a winning record.
    pub fn on_peer_update(&self, record: Arc<Record>, link: LinkId) -> PeerDecision {
        let wins = self
            .records
            .get(record.client())
            .is_none_or(|held| **held < *record);
        if wins {
            PeerDecision::Won {
                record,
                forward: Forward { except: Some(link) },
            }
        } else {
            PeerDecision::Lost
        }
    }

    /// Makes an accepted or winning update part of the node's records. The
    /// decisions change nothing, so that the caller can first write the
    /// update to its store and commit only what was stored: an update the
    /// store refused is never acknowledged later as "stale".
    pub fn commit(&mut self, record: Arc<Record>) {
        self.records.merge(record);
    }

    /// Restores a record from the store at start-up (no flooding).
    pub fn restore(&mut self, record: Arc<Record>) {
        self.records.merge(record);
    }

    /// Everything a store held, at start-up: taken as it is when nothing
    /// is held yet, merged otherwise.
    pub fn restore_all(&mut self, records: Records) {
        if self.records.is_empty() {
            self.records = records;
        } else {
            for record in records.iter() {
                self.records.merge(record.clone());
            }
        }
    }

    pub fn lookup(&self, client: &str) -> Option<&Arc<Record>> {
        self.records.get(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_proto::{Request, parse_request};

    const HOUR: Nanos = Nanos(3_600_000_000_000);

    fn iamat(line: &str) -> IAmAt<'_> {
        match parse_request(line) {
            Some(Request::IAmAt(req)) => req,
            other => panic!("not an IAMAT: {other:?}"),
        }
    }

    #[test]
    fn new_update_is_accepted_and_flooded_everywhere() {
        let node = NodeCore::new("Clark", HOUR);
        let decision = node.on_client_iamat(&iamat("IAMAT c +1-2 100"), Nanos(100_500_000_000));
        let ClientDecision::Accepted { record, forward } = decision else {
            panic!("expected Accepted, got {decision:?}");
        };
        assert_eq!(record.at_line(), "AT Clark +0.500000000 c +1-2 100");
        assert_eq!(forward.targets(3).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn repeated_or_older_iamat_gets_the_stored_line() {
        let mut node = NodeCore::new("Clark", HOUR);
        let ClientDecision::Accepted { record, .. } =
            node.on_client_iamat(&iamat("IAMAT c +1-2 100"), Nanos(100_000_000_000))
        else {
            panic!("first update is accepted");
        };
        node.commit(record);
        for (line, now) in [("IAMAT c +1-2 100", 105), ("IAMAT c +5-5 99.5", 106)] {
            let decision = node.on_client_iamat(&iamat(line), Nanos(now * 1_000_000_000));
            let ClientDecision::Stale { held } = decision else {
                panic!("expected Stale for {line}, got {decision:?}");
            };
            assert_eq!(held.at_line(), "AT Clark +0.000000000 c +1-2 100");
        }
    }

    #[test]
    fn same_client_time_elsewhere_is_ordered_by_node_name() {
        let mut bona = NodeCore::new("Bona", HOUR);
        let clark_record = {
            let clark = NodeCore::new("Clark", HOUR);
            match clark.on_client_iamat(&iamat("IAMAT c +1-2 100"), Nanos(100_000_000_000)) {
                ClientDecision::Accepted { record, .. } => record,
                other => panic!("{other:?}"),
            }
        };
        assert!(matches!(
            bona.on_peer_update(clark_record.clone(), 0),
            PeerDecision::Won { .. }
        ));
        bona.commit(clark_record);
        // Bona < Clark, so Bona's own update of the same time is stale.
        let decision = bona.on_client_iamat(&iamat("IAMAT c +3-4 100"), Nanos(100_000_000_000));
        assert!(matches!(decision, ClientDecision::Stale { .. }));
    }

    #[test]
    fn peer_update_goes_everywhere_but_back_and_only_once() {
        let mut node = NodeCore::new("Bona", HOUR);
        let origin = NodeCore::new("Clark", HOUR);
        let ClientDecision::Accepted { record, .. } =
            origin.on_client_iamat(&iamat("IAMAT c +1-2 100"), Nanos(100_000_000_000))
        else {
            panic!("origin accepts");
        };
        let PeerDecision::Won { forward, .. } = node.on_peer_update(record.clone(), 1) else {
            panic!("first copy wins");
        };
        assert_eq!(forward.targets(3).collect::<Vec<_>>(), [0, 2]);
        node.commit(record.clone());
        assert_eq!(node.on_peer_update(record, 2), PeerDecision::Lost);
    }

    #[test]
    fn decisions_change_nothing_until_committed() {
        let node = NodeCore::new("Clark", HOUR);
        let decision = node.on_client_iamat(&iamat("IAMAT c +1-2 100"), Nanos(100_000_000_000));
        assert!(matches!(decision, ClientDecision::Accepted { .. }));
        assert!(node.lookup("c").is_none(), "not stored, so not known");
        let again = node.on_client_iamat(&iamat("IAMAT c +1-2 100"), Nanos(101_000_000_000));
        assert!(
            matches!(again, ClientDecision::Accepted { .. }),
            "a retry is a new attempt"
        );
    }

    #[test]
    fn client_time_beyond_the_skew_bound_is_refused() {
        let node = NodeCore::new("Clark", HOUR);
        let now = Nanos(1_000_000_000_000);
        let too_far = format!(
            "IAMAT c +1-2 {}",
            now.saturating_add(HOUR.0 + 1).to_seconds_text()
        );
        assert_eq!(
            node.on_client_iamat(&iamat(&too_far), now),
            ClientDecision::TooFarInFuture
        );
        let just_in = format!(
            "IAMAT c +1-2 {}",
            now.saturating_add(HOUR.0).to_seconds_text()
        );
        assert!(matches!(
            node.on_client_iamat(&iamat(&just_in), now),
            ClientDecision::Accepted { .. }
        ));
    }
}
