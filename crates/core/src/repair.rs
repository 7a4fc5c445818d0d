//! The anti-entropy exchange of one link, without I/O (docs/repair.md).
//!
//! Either end may start a round with [`RepairState::start`]; the messages
//! are answered by [`RepairState::answer`] from the records as they are at
//! that moment, so a round needs no agreement beyond the order of one
//! connection: each answer's records are sent before its messages. The only
//! state is on the side that started the round: how many groups it is still
//! waiting for, and whether it left differing groups for a next round.

use std::sync::Arc;

use herd_proto::repair::{GROUPS, RepairMessage};
use herd_proto::{Record, Tombstone};

use crate::Records;

/// Groups narrowed down per round: bounds a round's messages (about 4 KiB
/// per group) and its records, so a large repair proceeds in chunks, each
/// started as soon as the previous one is answered.
pub const GROUPS_PER_ROUND: usize = 16;

/// What to send in answer: the tombstones and records first, then the
/// messages.
#[derive(Debug, Default, PartialEq)]
pub struct RepairReply {
    pub tombstones: Vec<Tombstone>,
    pub records: Vec<Arc<Record>>,
    pub messages: Vec<RepairMessage>,
}

/// The round this side started on one link, if any.
#[derive(Debug, Default, Clone)]
pub struct RepairState {
    /// A SYNC went out and its GROUPS (if the roots differ) has not come
    /// back: only then is a GROUPS answered, so a stale or repeated one
    /// costs nothing.
    awaiting_groups: bool,
    /// LEAVES sent whose WANT has not come back.
    outstanding: usize,
    /// Differing groups were left out of this round: start another at once
    /// when it ends.
    more: bool,
}

impl RepairState {
    /// Starts a round (forgetting any unfinished one): the SYNC to send.
    pub fn start(&mut self, records: &Records) -> RepairMessage {
        *self = RepairState {
            awaiting_groups: true,
            ..RepairState::default()
        };
        RepairMessage::Sync {
            root: records.digest().value(),
        }
    }

    /// True while this side waits for WANTs of a round it started (a round
    /// whose roots were equal gets no answer and is not counted).
    pub fn in_round(&self) -> bool {
        self.outstanding > 0
    }

    /// Answers one repair message from the peer. `pick` chooses which
    /// differing groups go first when there are more than a round takes
    /// (any value; the caller's randomness, so no group is starved).
    pub fn answer(
        &mut self,
        records: &Records,
        message: RepairMessage,
        pick: usize,
    ) -> RepairReply {
        match message {
            RepairMessage::Sync { root } => RepairReply {
                tombstones: Vec::new(),
                records: Vec::new(),
                messages: if root == records.digest().value() {
                    Vec::new()
                } else {
                    vec![RepairMessage::Groups(records.group_digests())]
                },
            },
            RepairMessage::Groups(_) if !self.awaiting_groups => RepairReply::default(),
            RepairMessage::Groups(theirs) => {
                self.awaiting_groups = false;
                let mine = records.group_digests();
                let differing: Vec<u8> = (0..GROUPS)
                    .filter(|&g| mine[g] != theirs[g])
                    .map(|g| g as u8)
                    .collect();
                let first = if differing.is_empty() {
                    0
                } else {
                    pick % differing.len()
                };
                let chosen: Vec<u8> = differing
                    .iter()
                    .cycle()
                    .skip(first)
                    .take(differing.len().min(GROUPS_PER_ROUND))
                    .copied()
                    .collect();
                self.outstanding = chosen.len();
                self.more = differing.len() > chosen.len();
                RepairReply {
                    tombstones: Vec::new(),
                    records: Vec::new(),
                    messages: chosen
                        .into_iter()
                        .map(|group| RepairMessage::Leaves {
                            group,
                            digests: records.leaf_digests(group),
                        })
                        .collect(),
                }
            }
            RepairMessage::Leaves { group, digests } => {
                let mine = records.leaf_digests(group);
                let leaves: Vec<u8> = (0..GROUPS)
                    .filter(|&i| mine[i] != digests[i])
                    .map(|i| i as u8)
                    .collect();
                RepairReply {
                    tombstones: records.tombstones_in_leaves(group, &leaves),
                    records: records.in_leaves(group, &leaves),
                    messages: vec![RepairMessage::Want { group, leaves }],
                }
            }
            RepairMessage::Want { group, leaves } => {
                let records_wanted = records.in_leaves(group, &leaves);
                let tombstones = records.tombstones_in_leaves(group, &leaves);
                let mut messages = Vec::new();
                if self.outstanding > 0 {
                    self.outstanding -= 1;
                    if self.outstanding == 0 && self.more {
                        // Sent after our records, so the peer compares
                        // roots with them merged.
                        messages.push(self.start(records));
                    }
                }
                RepairReply {
                    tombstones,
                    records: records_wanted,
                    messages,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_proto::{Nanos, Request, parse_request};
    use proptest::prelude::*;

    fn record(node: &str, client: &str, time: u64) -> Arc<Record> {
        let line = format!("IAMAT {client} +1-2 {}", Nanos(time).to_seconds_text());
        let Some(Request::IAmAt(req)) = parse_request(&line) else {
            panic!("bad test line {line}");
        };
        Arc::new(Record::from_iamat(node, Nanos(time + 1), &req))
    }

    enum Item {
        Record(Arc<Record>),
        Tombstone(Tombstone),
        Message(RepairMessage),
    }

    fn tombstone(client: &str, time: u64) -> Tombstone {
        Tombstone {
            leaf: crate::digest_tree::leaf_of(client),
            client: herd_proto::ClientHash::of(client),
            time: Nanos(time),
        }
    }

    /// Runs rounds between `a` (starting) and `b` over a perfect ordered
    /// link until nothing is in flight; returns (rounds, records moved).
    fn repair(a: &mut Records, b: &mut Records) -> (usize, usize) {
        let (mut sa, mut sb) = (RepairState::default(), RepairState::default());
        // Messages in flight towards a (true) or b (false), in order.
        let mut wire: std::collections::VecDeque<(bool, Item)> = std::collections::VecDeque::new();
        wire.push_back((false, Item::Message(sa.start(a))));
        let (mut rounds, mut moved, mut pick) = (1, 0, 0usize);
        while let Some((to_a, item)) = wire.pop_front() {
            let (records, state) = if to_a {
                (&mut *a, &mut sa)
            } else {
                (&mut *b, &mut sb)
            };
            match item {
                Item::Record(record) => {
                    moved += 1;
                    records.merge(record);
                }
                Item::Tombstone(tombstone) => {
                    moved += 1;
                    records.forget(tombstone);
                }
                Item::Message(message) => {
                    pick = pick.wrapping_mul(31).wrapping_add(7);
                    let reply = state.answer(records, message, pick);
                    for t in reply.tombstones {
                        wire.push_back((!to_a, Item::Tombstone(t)));
                    }
                    for r in reply.records {
                        wire.push_back((!to_a, Item::Record(r)));
                    }
                    for m in reply.messages {
                        if matches!(m, RepairMessage::Sync { .. }) {
                            rounds += 1;
                        }
                        wire.push_back((!to_a, Item::Message(m)));
                    }
                }
            }
        }
        (rounds, moved)
    }

    fn lines(records: &Records) -> Vec<String> {
        let mut lines: Vec<String> = records.iter().map(|r| r.at_line().to_owned()).collect();
        lines.sort();
        lines
    }

    #[test]
    fn equal_records_cost_one_message() {
        let mut a = Records::default();
        let mut b = Records::default();
        for i in 0..100 {
            a.merge(record("Clark", &format!("c{i}"), 5));
            b.merge(record("Clark", &format!("c{i}"), 5));
        }
        let mut state = RepairState::default();
        let sync = state.start(&a);
        assert_eq!(
            RepairState::default().answer(&b, sync, 0),
            RepairReply::default()
        );
        assert_eq!(repair(&mut a, &mut b), (1, 0));
    }

    #[test]
    fn one_missing_record_moves_alone_and_both_ways() {
        let mut a = Records::default();
        let mut b = Records::default();
        for i in 0..10_000 {
            a.merge(record("Clark", &format!("c{i}"), 5));
            b.merge(record("Clark", &format!("c{i}"), 5));
        }
        a.merge(record("Bona", "only-a", 9));
        b.merge(record("Bona", "only-b", 9));
        b.merge(record("Bona", "c1", 9));
        let (rounds, moved) = repair(&mut a, &mut b);
        assert_eq!(lines(&a), lines(&b));
        assert_eq!(a.digest(), b.digest());
        assert_eq!(rounds, 1);
        // Each differing leaf holds a record or two besides the one that
        // differs; nothing like the 10,000 held.
        assert!(moved <= 12, "moved {moved}");
    }

    #[test]
    fn a_groups_nobody_asked_for_is_ignored() {
        let mut a = Records::default();
        a.merge(record("Clark", "c", 5));
        let groups = RepairMessage::Groups(Records::default().group_digests());
        let mut state = RepairState::default();
        assert_eq!(state.answer(&a, groups.clone(), 0), RepairReply::default());
        state.start(&a);
        assert_eq!(state.answer(&a, groups.clone(), 0).messages.len(), 1);
        assert!(state.in_round());
        // The same GROUPS again (a repeated SYNC's answer): nothing more.
        assert_eq!(state.answer(&a, groups, 0), RepairReply::default());
    }

    #[test]
    fn a_large_difference_is_repaired_in_bounded_rounds() {
        let mut a = Records::default();
        let mut b = Records::default();
        for i in 0..20_000 {
            a.merge(record("Clark", &format!("c{i}"), 5));
        }
        let (rounds, moved) = repair(&mut a, &mut b);
        assert_eq!(lines(&a), lines(&b));
        assert_eq!(moved, 20_000);
        // 256 differing groups at 16 a round.
        assert_eq!(rounds, GROUPS / GROUPS_PER_ROUND);
    }

    #[test]
    fn a_tombstone_repairs_like_an_update_and_removes_what_it_covers() {
        let mut a = Records::default();
        let mut b = Records::default();
        for i in 0..1_000 {
            a.merge(record("Clark", &format!("c{i}"), 5));
            b.merge(record("Clark", &format!("c{i}"), 5));
        }
        assert!(a.forget(tombstone("c7", 6)));
        assert_ne!(a.digest(), b.digest(), "a tombstone counts in the digest");
        let (_, moved) = repair(&mut a, &mut b);
        assert!(b.get("c7").is_none());
        assert_eq!(b.tombstone_count(), 1);
        assert_eq!(lines(&a), lines(&b));
        assert_eq!(a.digest(), b.digest());
        assert!(moved <= 4, "moved {moved}");
    }

    proptest! {
        /// Whatever two nodes hold, updates and forgets alike, one repair
        /// leaves them equal, each with the newest operation on every
        /// client either held.
        #[test]
        fn repair_converges_to_the_newest_of_both(
            a_updates in prop::collection::vec((0usize..50, 0u64..4, 0usize..3), 0..80),
            b_updates in prop::collection::vec((0usize..50, 0u64..4, 0usize..3), 0..80),
        ) {
            let nodes = ["Bona", "Clark"];
            let mut a = Records::default();
            let mut b = Records::default();
            let mut union = Records::default();
            for (records, updates) in [(&mut a, &a_updates), (&mut b, &b_updates)] {
                for &(c, t, n) in updates {
                    let client = format!("client-{c}");
                    if n == 2 {
                        records.forget(tombstone(&client, t));
                        union.forget(tombstone(&client, t));
                    } else {
                        let r = record(nodes[n], &client, t);
                        records.merge(r.clone());
                        union.merge(r);
                    }
                }
            }
            repair(&mut a, &mut b);
            prop_assert_eq!(lines(&a), lines(&union));
            prop_assert_eq!(lines(&b), lines(&union));
            prop_assert_eq!(a.digest(), union.digest());
            prop_assert_eq!(b.digest(), union.digest());
        }
    }
}
