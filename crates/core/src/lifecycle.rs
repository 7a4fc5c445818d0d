//! How long records and tombstones live, and the rule that keeps a node
//! that was away from bringing forgotten clients back (docs/repair.md,
//! "Forgetting").
//!
//! Expiry is decided on client times (a record's, or a tombstone's), which
//! every node sees alike, rounded down to a *step* of the ttl's length
//! divided by 64 (at least 100 ms, at most a minute): a record expires at
//! the step boundary at or before `client time + ttl`. Two nodes whose
//! clocks differ by d then disagree about a record only during the first d
//! after a boundary, not all the time: with a busy herd and an unrounded
//! ttl some record would always be on its way out at one node and not yet
//! at the other, and their digests would never agree. A record never
//! outlives its ttl; it may go up to one step early.
//!
//! A tombstone is kept for `tombstone_ttl` past its time, then dropped: a
//! node that still holds an update it covers could bring it back, and only
//! a node that was out of contact with the herd for that long can (every
//! other node had the tombstone when it arrived). Such a node therefore
//! discards, when it returns, every record older than the horizon
//! (`now - tombstone_ttl`, less two steps for the rounding and the clocks)
//! before it exchanges anything, and takes those
//! that are still live from its peers by repair, as chitchat resets a node
//! that fell behind its garbage-collection horizon.

use herd_proto::Nanos;

const SECOND: u64 = 1_000_000_000;
/// A week: the default `tombstone_ttl`.
pub const DEFAULT_TOMBSTONE_TTL: Nanos = Nanos(7 * 24 * 3600 * SECOND);
const MIN_STEP: u64 = SECOND / 10;
const MAX_STEP: u64 = 60 * SECOND;

/// A deliberately broken lifecycle rule, so the simulator's tests can
/// show that their oracle catches it. Never set outside those tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleSabotage {
    /// Tombstones are dropped after a tenth of `tombstone_ttl` (while the
    /// rule for returning nodes still assumes the whole).
    EarlyTombstoneDrop,
    /// A node that was away past the horizon keeps its records.
    NoReturnReset,
}

/// `[records]`: the lifetimes a node applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// Records older than this (by client time) are gone; None: never.
    pub ttl: Option<Nanos>,
    pub tombstone_ttl: Nanos,
    pub sabotage: Option<LifecycleSabotage>,
}

impl Default for Lifecycle {
    fn default() -> Lifecycle {
        Lifecycle {
            ttl: None,
            tombstone_ttl: DEFAULT_TOMBSTONE_TTL,
            sabotage: None,
        }
    }
}

/// The rounding step of a lifetime.
fn step(ttl: Nanos) -> u64 {
    (ttl.0 / 64).clamp(MIN_STEP, MAX_STEP).min(ttl.0.max(1))
}

/// `time + ttl`, rounded down to the lifetime's step.
fn end_of(time: Nanos, ttl: Nanos) -> Nanos {
    let step = step(ttl);
    let end = time.0.saturating_add(ttl.0);
    Nanos(end - end % step)
}

impl Lifecycle {
    /// When a record of this client time is gone (None: never).
    pub fn record_expires_at(&self, client_time: Nanos) -> Option<Nanos> {
        self.ttl.map(|ttl| end_of(client_time, ttl))
    }

    pub fn record_expired(&self, client_time: Nanos, now: Nanos) -> bool {
        self.record_expires_at(client_time)
            .is_some_and(|end| now >= end)
    }

    /// How long a tombstone is kept, as this node applies it.
    fn kept_tombstone_for(&self) -> Nanos {
        match self.sabotage {
            Some(LifecycleSabotage::EarlyTombstoneDrop) => Nanos(self.tombstone_ttl.0 / 10),
            _ => self.tombstone_ttl,
        }
    }

    /// When a tombstone of this time is dropped.
    pub fn tombstone_expires_at(&self, time: Nanos) -> Nanos {
        end_of(time, self.kept_tombstone_for())
    }

    pub fn tombstone_expired(&self, time: Nanos, now: Nanos) -> bool {
        now >= self.tombstone_expires_at(time)
    }

    /// The smaller step in force: expiries fall on its boundaries (and on
    /// the larger step's, a multiple of it or not).
    pub fn sweep_every(&self) -> Nanos {
        let tombstones = step(self.kept_tombstone_for());
        Nanos(self.ttl.map_or(tombstones, |ttl| step(ttl).min(tombstones)))
    }

    /// When expiry must next be looked at after `now`: the next step
    /// boundary of records or of tombstones, where something may expire
    /// (every expiry falls on one), so nodes sweep at the same moments.
    pub fn next_sweep_after(&self, now: Nanos) -> Nanos {
        let next = |step: u64| Nanos((now.0 / step).saturating_add(1).saturating_mul(step));
        let tombstones = next(step(self.kept_tombstone_for()));
        self.ttl
            .map_or(tombstones, |ttl| next(step(ttl)).min(tombstones))
    }

    /// A node last in contact with the herd at `last_contact` is back at
    /// `now`: the time before which it must discard its records, if it
    /// was away long enough to have missed a tombstone that is gone now.
    ///
    /// A tombstone of time T is dropped at its step boundary at or before
    /// `T + tombstone_ttl`, up to one step early, by clocks that may be a
    /// little ahead of this node's: so one dropped by now may have a time
    /// as late as `now - tombstone_ttl + step + skew`. The horizon allows
    /// two steps (the second for the clocks, which must be closer than a
    /// step: 100 ms at least); every record older may be covered by a
    /// tombstone that no node holds any more.
    pub fn return_horizon(&self, last_contact: Option<Nanos>, now: Nanos) -> Option<Nanos> {
        if self.sabotage == Some(LifecycleSabotage::NoReturnReset) {
            return None;
        }
        let last = last_contact?;
        let kept = self.tombstone_ttl.0;
        let allowance = step(self.tombstone_ttl).saturating_mul(2).min(kept);
        let horizon = Nanos(now.0.saturating_sub(kept - allowance));
        (last < horizon).then_some(horizon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = SECOND;

    #[test]
    fn without_a_ttl_records_never_expire() {
        let lifecycle = Lifecycle::default();
        assert_eq!(lifecycle.record_expires_at(Nanos(5)), None);
        assert!(!lifecycle.record_expired(Nanos(0), Nanos(u64::MAX)));
    }

    #[test]
    fn a_record_expires_at_the_step_before_its_ttl_is_over() {
        let lifecycle = Lifecycle {
            ttl: Some(Nanos(64 * S)),
            ..Lifecycle::default()
        };
        // A step of one second: 100.5 s + 64 s ends at 164 s.
        assert_eq!(
            lifecycle.record_expires_at(Nanos(100 * S + S / 2)),
            Some(Nanos(164 * S))
        );
        assert!(!lifecycle.record_expired(Nanos(100 * S + S / 2), Nanos(164 * S - 1)));
        assert!(lifecycle.record_expired(Nanos(100 * S + S / 2), Nanos(164 * S)));
        // Every record of one step expires at the same moment.
        assert_eq!(
            lifecycle.record_expires_at(Nanos(100 * S)),
            lifecycle.record_expires_at(Nanos(100 * S + S - 1))
        );
    }

    #[test]
    fn steps_stay_between_a_tenth_of_a_second_and_a_minute() {
        assert_eq!(step(Nanos(2 * S)), S / 10);
        assert_eq!(step(Nanos(24 * 3600 * S)), 60 * S);
        assert_eq!(step(Nanos(64 * S)), S);
        // A ttl shorter than the smallest step is its own step.
        assert_eq!(step(Nanos(S / 100)), S / 100);
        assert_eq!(step(Nanos(0)), 1);
    }

    #[test]
    fn a_node_away_past_the_horizon_discards_what_is_older() {
        let lifecycle = Lifecycle {
            tombstone_ttl: Nanos(10 * S),
            ..Lifecycle::default()
        };
        assert_eq!(lifecycle.return_horizon(None, Nanos(100 * S)), None);
        // A step of 156.25 ms (10 s / 64): the horizon is 10 s less two
        // steps back.
        assert_eq!(
            lifecycle.return_horizon(Some(Nanos(95 * S)), Nanos(100 * S)),
            None
        );
        assert_eq!(
            lifecycle.return_horizon(Some(Nanos(90_312_500_000)), Nanos(100 * S)),
            None
        );
        assert_eq!(
            lifecycle.return_horizon(Some(Nanos(89 * S)), Nanos(100 * S)),
            Some(Nanos(90_312_500_000))
        );
        let broken = Lifecycle {
            sabotage: Some(LifecycleSabotage::NoReturnReset),
            ..lifecycle
        };
        assert_eq!(
            broken.return_horizon(Some(Nanos(89 * S)), Nanos(100 * S)),
            None
        );
    }

    #[test]
    fn a_record_a_dropped_tombstone_covered_is_always_older_than_the_horizon() {
        // The simulator's seed 1385: a tombstone dropped a step early, the
        // node back a moment later.
        let lifecycle = Lifecycle {
            tombstone_ttl: Nanos(1_145_000_000),
            ..Lifecycle::default()
        };
        for tombstone in (3_000_000_000u64..4_000_000_000).step_by(7_919_993) {
            let dropped = lifecycle.tombstone_expires_at(Nanos(tombstone));
            // Back at the drop, or a little later, by a clock up to 5 ms
            // behind the one that dropped it.
            for back in [dropped.0 - 5_000_000, dropped.0, dropped.0 + 1_500_000] {
                let horizon = lifecycle.return_horizon(Some(Nanos(0)), Nanos(back));
                assert!(
                    horizon.is_some_and(|h| h.0 > tombstone),
                    "tombstone {tombstone}, back at {back}: horizon {horizon:?}"
                );
            }
        }
    }

    #[test]
    fn tombstones_are_kept_for_their_ttl() {
        let lifecycle = Lifecycle {
            tombstone_ttl: Nanos(64 * S),
            ..Lifecycle::default()
        };
        assert!(!lifecycle.tombstone_expired(Nanos(100 * S), Nanos(163 * S)));
        assert!(lifecycle.tombstone_expired(Nanos(100 * S), Nanos(164 * S)));
        assert_eq!(
            lifecycle.next_sweep_after(Nanos(163 * S + 1)),
            Nanos(164 * S)
        );
        assert_eq!(lifecycle.next_sweep_after(Nanos(164 * S)), Nanos(165 * S));
        let early = Lifecycle {
            sabotage: Some(LifecycleSabotage::EarlyTombstoneDrop),
            ..lifecycle
        };
        assert!(early.tombstone_expired(Nanos(100 * S), Nanos(107 * S)));
    }
}
