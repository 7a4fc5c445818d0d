//! What a node does with an IAMAT from a client or an update from a peer.

use std::sync::Arc;

use herd_proto::{ClientHash, IAmAt, Nanos, Record, Tombstone};

use crate::Records;
use crate::digest_tree::leaf_of;
use crate::lifecycle::Lifecycle;
use crate::records::Sweep;

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
    /// The client was forgotten at or after this client time.
    Forgotten,
    /// The client's time is older than the records' ttl.
    Expired,
}

/// What a node does with a tombstone (a forget).
#[derive(Debug, PartialEq)]
pub enum ForgetDecision {
    /// Newer than any tombstone held for the client: store it, pass it on.
    Won {
        tombstone: Tombstone,
        forward: Forward,
    },
    /// The same or a newer tombstone is held, or this one has expired.
    Lost,
}

/// What a node back from past the tombstone horizon did: it discarded
/// `discarded` records older than `horizon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    pub horizon: Nanos,
    pub discarded: usize,
}

/// What an expiry sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub records: usize,
    pub tombstones: usize,
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
    lifecycle: Lifecycle,
    /// The last time a link to a peer was up (None: never, as far as this
    /// node knows).
    last_contact: Option<Nanos>,
    /// When expiry is next looked at.
    next_sweep: Nanos,
    /// A sweep of the records under way.
    sweep: Option<Sweep>,
}

/// Records an expiry sweep removes at most per [`NodeCore::expire`]: about
/// 12 ms of removals.
pub const SWEEP_BUDGET: usize = 20_000;

impl NodeCore {
    pub fn new(name: impl Into<String>, max_future_skew: Nanos) -> NodeCore {
        NodeCore {
            name: name.into(),
            max_future_skew,
            records: Records::default(),
            lifecycle: Lifecycle::default(),
            last_contact: None,
            next_sweep: Nanos(0),
            sweep: None,
        }
    }

    /// The lifetimes in force (at start-up, and after a reload).
    pub fn set_lifecycle(&mut self, lifecycle: Lifecycle) {
        self.lifecycle = lifecycle;
        self.next_sweep = Nanos(0);
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
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
        if self.lifecycle.record_expired(request.time, now) {
            return ClientDecision::Expired;
        }
        if self
            .records
            .tombstone_of(request.client)
            .is_some_and(|tombstone| tombstone.time >= request.time)
        {
            return ClientDecision::Forgotten;
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

    /// An update that arrived on `link` at `now`: it loses if it expired
    /// or its client was forgotten since.
    /// Changes nothing: [`NodeCore::commit`] a winning record.
    pub fn on_peer_update(&self, record: Arc<Record>, link: LinkId, now: Nanos) -> PeerDecision {
        let wins = !self.lifecycle.record_expired(record.client_time(), now)
            && !self.records.is_forgotten(&record)
            && self
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

    /// A tombstone that arrived on `link` at `now`.
    /// Changes nothing: [`NodeCore::commit_forget`] a winning one.
    pub fn on_peer_forget(&self, tombstone: Tombstone, link: LinkId, now: Nanos) -> ForgetDecision {
        self.decide_forget(tombstone, Forward { except: Some(link) }, now)
    }

    /// The operator forgets `client` at `now`: a tombstone newer than
    /// every update of the client this node knows, the moment of the
    /// forget at the earliest (contract section 11).
    /// Changes nothing: [`NodeCore::commit_forget`] a winning one.
    pub fn on_forget(&self, client: &str, now: Nanos) -> ForgetDecision {
        let newest = self
            .records
            .get(client)
            .map_or(Nanos(0), |held| held.client_time().saturating_add(1));
        let tombstone = Tombstone {
            leaf: leaf_of(client),
            client: ClientHash::of(client),
            time: now.max(newest),
        };
        self.decide_forget(tombstone, Forward { except: None }, now)
    }

    fn decide_forget(&self, tombstone: Tombstone, forward: Forward, now: Nanos) -> ForgetDecision {
        if self.lifecycle.tombstone_expired(tombstone.time, now) || !self.records.wins(&tombstone) {
            return ForgetDecision::Lost;
        }
        ForgetDecision::Won { tombstone, forward }
    }

    /// Makes a winning tombstone part of the node's records (the client's
    /// record, if it covers it, is gone).
    pub fn commit_forget(&mut self, tombstone: Tombstone) -> bool {
        self.records.forget(tombstone)
    }

    /// Removes what has expired by `now`. Cheap between steps of the
    /// lifetimes (see [`Lifecycle`]): call it as often as convenient. A
    /// sweep of the records removes at most [`SWEEP_BUDGET`] a call and
    /// goes on at the next one (expired records are refused and hidden
    /// from lookups meanwhile).
    pub fn expire(&mut self, now: Nanos) -> Swept {
        let lifecycle = self.lifecycle;
        let mut swept = Swept::default();
        if self.sweep.is_none() && now >= self.next_sweep {
            self.next_sweep = lifecycle.next_sweep_after(now);
            swept.tombstones = self
                .records
                .remove_tombstones(|tombstone| lifecycle.tombstone_expired(tombstone.time, now));
            // A scan of every record, but only when the oldest may be due.
            let due = self
                .records
                .oldest_client_time()
                .is_some_and(|oldest| lifecycle.record_expired(oldest, now));
            if due {
                self.sweep = Some(self.records.start_sweep());
            }
        }
        if let Some(sweep) = &mut self.sweep {
            swept.records = self.records.continue_sweep(sweep, SWEEP_BUDGET, |record| {
                lifecycle.record_expired(record.client_time(), now)
            });
            if sweep.is_done() {
                self.sweep = None;
            }
        }
        swept
    }

    /// Everything that has expired by `now`, at once (at start-up, where
    /// nobody waits on the lock yet).
    pub fn expire_all(&mut self, now: Nanos) -> Swept {
        let mut all = self.expire(now);
        while self.sweep.is_some() {
            let more = self.expire(now);
            all.records += more.records;
            all.tombstones += more.tombstones;
        }
        all
    }

    /// The node is (or still is) in contact with the herd at `now`: a link
    /// to a peer is up. Called before the link exchanges anything, so a
    /// node back from longer away than tombstones are kept first discards
    /// the records it must not bring back ([`NodeCore::back`]); the caller
    /// then tells every link ([`LinkMachine::reset`](crate::LinkMachine::reset)).
    pub fn contact(&mut self, now: Nanos) -> Option<Reset> {
        let reset = self.back(now);
        self.last_contact = Some(self.last_contact.map_or(now, |last| last.max(now)));
        reset
    }

    /// The node starts, or is back, at `now`: if its last contact with
    /// the herd is older than the tombstone horizon, the records older
    /// than the horizon go (its peers give back those still live, by
    /// repair), and the caller's links must drop their queued copies of
    /// them too ([`LinkMachine::reset`](crate::LinkMachine::reset)).
    pub fn back(&mut self, now: Nanos) -> Option<Reset> {
        let horizon = self.lifecycle.return_horizon(self.last_contact, now)?;
        // The last contact stays as it was: only a contact moves it (a
        // node that restarts while still cut off must discard again at
        // its first contact what arrived meanwhile, by then past the
        // horizon too).
        let discarded = self
            .records
            .remove_records(|record| record.client_time() < horizon);
        Some(Reset { horizon, discarded })
    }

    /// The last contact with the herd known (persisted by the node).
    pub fn last_contact(&self) -> Option<Nanos> {
        self.last_contact
    }

    /// The last contact read back at start-up.
    pub fn set_last_contact(&mut self, last_contact: Option<Nanos>) {
        self.last_contact = last_contact;
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
            for tombstone in records.tombstones() {
                self.records.forget(*tombstone);
            }
            for record in records.iter() {
                self.records.merge(record.clone());
            }
        }
    }

    /// The client's record as a WHATSAT sees it at `now`: not once it
    /// has expired, even before a sweep removes it.
    pub fn lookup(&self, client: &str, now: Nanos) -> Option<&Arc<Record>> {
        self.records
            .get(client)
            .filter(|record| !self.lifecycle.record_expired(record.client_time(), now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;
    use herd_proto::{Request, parse_request};

    const HOUR: Nanos = Nanos(3_600_000_000_000);
    const NOW: Nanos = Nanos(100_000_000_000);
    const S: u64 = 1_000_000_000;

    fn accepted(node: &NodeCore, line: &str, now: Nanos) -> Arc<Record> {
        match node.on_client_iamat(&iamat(line), now) {
            ClientDecision::Accepted { record, .. } => record,
            other => panic!("{line}: expected Accepted, got {other:?}"),
        }
    }

    fn forgotten(node: &NodeCore, client: &str, now: Nanos) -> Tombstone {
        match node.on_forget(client, now) {
            ForgetDecision::Won { tombstone, forward } => {
                assert_eq!(forward.except, None, "a forget goes to every link");
                tombstone
            }
            ForgetDecision::Lost => panic!("the forget of {client} lost"),
        }
    }

    #[test]
    fn a_forget_covers_every_update_up_to_now_and_a_newer_one_is_a_new_record() {
        let mut node = NodeCore::new("Clark", HOUR);
        let record = accepted(&node, "IAMAT c +1-2 100", Nanos(100 * S));
        node.commit(record);
        let tombstone = forgotten(&node, "c", Nanos(150 * S));
        assert_eq!(tombstone.time, Nanos(150 * S), "the moment of the forget");
        assert!(node.commit_forget(tombstone));
        assert_eq!(node.lookup("c", Nanos(150 * S)), None);
        assert_eq!(node.records().len(), 0);
        assert_eq!(node.records().tombstone_count(), 1);
        for line in ["IAMAT c +1-2 120", "IAMAT c +1-2 150"] {
            assert_eq!(
                node.on_client_iamat(&iamat(line), Nanos(151 * S)),
                ClientDecision::Forgotten,
                "{line}"
            );
        }
        let newer = accepted(&node, "IAMAT c +5-5 150.000000001", Nanos(151 * S));
        node.commit(newer.clone());
        assert_eq!(node.lookup("c", Nanos(151 * S)), Some(&newer));
        // An older update from a peer loses to the tombstone.
        let old = accepted(
            &NodeCore::new("Bona", HOUR),
            "IAMAT c +1-2 140",
            Nanos(140 * S),
        );
        assert_eq!(
            node.on_peer_update(old, 0, Nanos(152 * S)),
            PeerDecision::Lost
        );
    }

    #[test]
    fn a_forget_is_newer_than_an_update_from_the_future() {
        let mut node = NodeCore::new("Clark", HOUR);
        let ahead = accepted(&node, "IAMAT c +1-2 200", Nanos(100 * S));
        node.commit(ahead);
        let tombstone = forgotten(&node, "c", Nanos(101 * S));
        assert_eq!(tombstone.time, Nanos(200 * S + 1));
        node.commit_forget(tombstone);
        // The same tombstone again, or an older one, changes nothing.
        assert_eq!(node.on_peer_forget(tombstone, 0, NOW), ForgetDecision::Lost);
        let older = Tombstone {
            time: Nanos(150 * S),
            ..tombstone
        };
        assert_eq!(node.on_peer_forget(older, 0, NOW), ForgetDecision::Lost);
        assert!(!node.commit_forget(older));
        assert_eq!(node.records().digest(), {
            let mut other = NodeCore::new("Bona", HOUR);
            other.commit_forget(older);
            other.commit_forget(tombstone);
            other.records().digest()
        });
    }

    #[test]
    fn expired_records_are_refused_hidden_and_swept() {
        let mut node = NodeCore::new("Clark", HOUR);
        node.set_lifecycle(Lifecycle {
            ttl: Some(Nanos(64 * S)),
            ..Lifecycle::default()
        });
        assert_eq!(
            node.on_client_iamat(&iamat("IAMAT old +1-2 10"), Nanos(100 * S)),
            ClientDecision::Expired
        );
        let record = accepted(&node, "IAMAT c +1-2 100", Nanos(100 * S));
        node.commit(record.clone());
        assert!(node.lookup("c", Nanos(163 * S)).is_some());
        assert_eq!(
            node.lookup("c", Nanos(164 * S)),
            None,
            "gone before a sweep"
        );
        assert_eq!(
            node.on_peer_update(record, 0, Nanos(164 * S)),
            PeerDecision::Lost
        );
        assert_eq!(node.expire(Nanos(163 * S)).records, 0);
        assert_eq!(node.expire(Nanos(164 * S)).records, 1);
        assert!(node.records().is_empty());
        assert_eq!(node.records().digest(), Digest::default());
    }

    #[test]
    fn tombstones_are_dropped_after_their_ttl() {
        let mut node = NodeCore::new("Clark", HOUR);
        node.set_lifecycle(Lifecycle {
            tombstone_ttl: Nanos(64 * S),
            ..Lifecycle::default()
        });
        let tombstone = forgotten(&node, "c", Nanos(100 * S));
        node.commit_forget(tombstone);
        assert_eq!(node.expire(Nanos(163 * S)).tombstones, 0);
        assert_eq!(
            node.on_peer_forget(tombstone, 0, Nanos(164 * S)),
            ForgetDecision::Lost,
            "an expired tombstone is not taken again"
        );
        assert_eq!(node.expire(Nanos(164 * S)).tombstones, 1);
        assert_eq!(node.records().tombstone_count(), 0);
    }

    #[test]
    fn a_node_back_from_past_the_horizon_discards_its_older_records() {
        let mut node = NodeCore::new("Clark", HOUR);
        node.set_lifecycle(Lifecycle {
            tombstone_ttl: Nanos(10 * S),
            ..Lifecycle::default()
        });
        for (client, time) in [("old", 100), ("new", 195)] {
            let line = format!("IAMAT {client} +1-2 {time}");
            let record = accepted(&node, &line, Nanos(time * S));
            node.commit(record);
        }
        assert_eq!(node.contact(Nanos(100 * S)), None, "first contact");
        assert_eq!(node.contact(Nanos(105 * S)), None);
        // Away from 105 s to 200 s, longer than the 10 s tombstones live.
        let reset = node.contact(Nanos(200 * S));
        assert_eq!(reset.map(|r| r.discarded), Some(1));
        assert!(reset.is_some_and(|r| r.horizon > Nanos(100 * S) && r.horizon < Nanos(195 * S)));
        assert!(node.lookup("old", Nanos(200 * S)).is_none());
        assert!(node.lookup("new", Nanos(200 * S)).is_some());
        assert_eq!(node.last_contact(), Some(Nanos(200 * S)));
        assert_eq!(node.contact(Nanos(201 * S)), None, "once");
        // A restart while still cut off discards, and does not count as a
        // contact: the first contact after it discards again.
        let mut cut_off = NodeCore::new("Bona", HOUR);
        cut_off.set_lifecycle(node.lifecycle());
        cut_off.set_last_contact(Some(Nanos(100 * S)));
        assert!(cut_off.back(Nanos(150 * S)).is_some());
        assert_eq!(cut_off.last_contact(), Some(Nanos(100 * S)));
        assert!(cut_off.contact(Nanos(160 * S)).is_some());
        assert_eq!(cut_off.last_contact(), Some(Nanos(160 * S)));
    }

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
            bona.on_peer_update(clark_record.clone(), 0, NOW),
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
        let PeerDecision::Won { forward, .. } = node.on_peer_update(record.clone(), 1, NOW) else {
            panic!("first copy wins");
        };
        assert_eq!(forward.targets(3).collect::<Vec<_>>(), [0, 2]);
        node.commit(record.clone());
        assert_eq!(node.on_peer_update(record, 2, NOW), PeerDecision::Lost);
    }

    #[test]
    fn decisions_change_nothing_until_committed() {
        let node = NodeCore::new("Clark", HOUR);
        let decision = node.on_client_iamat(&iamat("IAMAT c +1-2 100"), Nanos(100_000_000_000));
        assert!(matches!(decision, ClientDecision::Accepted { .. }));
        assert!(node.lookup("c", NOW).is_none(), "not stored, so not known");
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
