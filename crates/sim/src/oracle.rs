//! What the herd must hold: per client, the newest acknowledged operation,
//! an update (a record) or a forget (a tombstone's time), and the records'
//! lifetime.
//!
//! Operations are ordered by client time, as the herd orders them: a forget
//! of time T covers every update of the client with a client time up to T,
//! whenever it was acknowledged (a node the tombstone had not reached yet
//! may acknowledge an older update after the forget: the tombstone still
//! wins when it arrives); an update with a later client time is newer than
//! the forget. A covered update must never be held again, not even once
//! every tombstone of the forget has expired: that is a resurrection.
//!
//! Two relaxations, both for what the rules allow:
//! - Expiry near its boundary. A record expires when a node's clock passes
//!   its expiry, and node clocks are a few milliseconds apart; within
//!   [`TOLERANCE`] of that spread either answer is right (the caller still
//!   requires every node to agree, by digest).
//! - An update lost on return. A node back from longer away than the
//!   tombstones are kept discards its records older than the horizon and
//!   takes the live ones back from its peers by repair; an update that no
//!   other node held at that moment (it was acknowledged just before the
//!   node crashed or was cut off, and its flood was lost) is gone for good.
//!   The simulator tells the oracle about each such update
//!   ([`Oracle::may_be_lost`]); while it is the client's newest, every node
//!   must agree on one of the client's acknowledged updates no newer than
//!   it (or none), and still never on a forgotten one.

use std::collections::BTreeMap;
use std::sync::Arc;

use herd_core::Lifecycle;
use herd_proto::{Nanos, Record};

/// Slack around an expiry boundary beyond the spread of the node clocks:
/// a sweep runs at the node's tick, which may come a microsecond after the
/// boundary, and the check may run in the same microsecond as the tick.
pub const TOLERANCE: u64 = 1_000_000;

#[derive(Default)]
struct Ops {
    /// Every acknowledged update (for an update that may be lost).
    acked: Vec<Arc<Record>>,
    newest: Option<Arc<Record>>,
    /// The newest acknowledged forget's tombstone time.
    forgot: Option<Nanos>,
    /// The newest update discarded on a return while no other node held it.
    may_be_lost: Option<Arc<Record>>,
}

/// The node clocks at one moment: the slowest and the fastest.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    pub low: u64,
    pub high: u64,
}

impl Clocks {
    /// Has every node's clock passed `at`, with the tolerance?
    fn all_past(self, at: Nanos) -> bool {
        self.low >= at.0.saturating_add(TOLERANCE)
    }

    /// Is every node's clock still short of `at`, with the tolerance?
    fn none_past(self, at: Nanos) -> bool {
        self.high.saturating_add(TOLERANCE) < at.0
    }
}

#[derive(Default)]
pub struct Oracle {
    /// By client id; ordered, so that a failure names the same client on
    /// every replay.
    clients: BTreeMap<String, Ops>,
}

impl Oracle {
    /// A node acknowledged `record` (its own AT line, or a stored one).
    pub fn ack_update(&mut self, record: &Arc<Record>) {
        let ops = self.clients.entry(record.client().to_owned()).or_default();
        if !ops.acked.iter().any(|a| a == record) {
            ops.acked.push(record.clone());
        }
        if ops.newest.as_ref().is_none_or(|newest| newest < record) {
            ops.newest = Some(record.clone());
        }
    }

    /// A node acknowledged a forget of `client` with a tombstone of `time`.
    pub fn ack_forget(&mut self, client: &str, time: Nanos) {
        let ops = self.clients.entry(client.to_owned()).or_default();
        ops.forgot = Some(ops.forgot.map_or(time, |t| t.max(time)));
    }

    /// `record` was discarded by a node back from past the horizon while no
    /// other node held it: it may be gone for good.
    pub fn may_be_lost(&mut self, record: &Arc<Record>) {
        if let Some(ops) = self.clients.get_mut(record.client())
            && ops.may_be_lost.as_ref().is_none_or(|lost| lost < record)
        {
            ops.may_be_lost = Some(record.clone());
        }
    }

    /// Was it (and is it still) the client's newest update?
    pub fn is_newest(&self, record: &Record) -> bool {
        self.clients
            .get(record.client())
            .and_then(|ops| ops.newest.as_deref())
            .is_some_and(|newest| newest == record)
    }

    /// The time of the newest forget covering `record`, if any.
    pub fn covering_forget(&self, record: &Record) -> Option<Nanos> {
        let forgot = self.clients.get(record.client())?.forgot?;
        (record.client_time() <= forgot).then_some(forgot)
    }

    /// Every forgotten client and its newest forget's time.
    pub fn forgotten(&self) -> impl Iterator<Item = (&str, Nanos)> {
        self.clients
            .iter()
            .filter_map(|(client, ops)| Some((client.as_str(), ops.forgot?)))
    }

    pub fn clients(&self) -> impl Iterator<Item = &str> {
        self.clients.keys().map(String::as_str)
    }

    /// Is a forget of time `time` past keeping at every node, so that a
    /// covered update that is held now can never be removed by it?
    pub fn tombstone_gone(lifecycle: &Lifecycle, time: Nanos, clocks: Clocks) -> bool {
        clocks.all_past(lifecycle.tombstone_expires_at(time))
    }

    /// Must every node still hold a tombstone of `time`?
    pub fn tombstone_kept(lifecycle: &Lifecycle, time: Nanos, clocks: Clocks) -> bool {
        clocks.none_past(lifecycle.tombstone_expires_at(time))
    }

    /// Is `held` (what one node holds for `client`) right at `clocks`?
    /// What is wrong if not.
    pub fn judge(
        &self,
        client: &str,
        held: Option<&Arc<Record>>,
        lifecycle: &Lifecycle,
        clocks: Clocks,
    ) -> Result<(), Wrong> {
        let line = |r: &Record| r.at_line().to_owned();
        let Some(ops) = self.clients.get(client) else {
            return match held {
                None => Ok(()),
                Some(r) => Err(Wrong::NeverAcknowledged { held: line(r) }),
            };
        };
        if let Some(r) = held
            && let Some(forgot) = self.covering_forget(r)
        {
            return Err(Wrong::Forgotten {
                held: line(r),
                up_to: forgot,
            });
        }
        let gone = |r: &Record| {
            lifecycle
                .record_expires_at(r.client_time())
                .is_some_and(|end| clocks.all_past(end))
        };
        let live = |r: &Record| {
            lifecycle
                .record_expires_at(r.client_time())
                .is_none_or(|end| clocks.none_past(end))
        };
        let newest = ops
            .newest
            .as_ref()
            .filter(|newest| ops.forgot.is_none_or(|t| newest.client_time() > t));
        let Some(newest) = newest else {
            // Nothing live: no update at all, or a forget newer than all.
            return match held {
                None => Ok(()),
                Some(r) => Err(Wrong::AfterForget {
                    held: line(r),
                    client: client.to_owned(),
                }),
            };
        };
        if ops.may_be_lost.as_ref() == Some(newest) {
            // Lost on a return, maybe: an older acknowledged update (not
            // forgotten, checked above) or none will do.
            return match held {
                None => Ok(()),
                Some(r) if r <= newest && !gone(r) && ops.acked.contains(r) => Ok(()),
                Some(r) => Err(Wrong::LostOnReturn {
                    held: line(r),
                    client: client.to_owned(),
                    newest: line(newest),
                }),
            };
        }
        let right = if gone(newest) {
            held.is_none()
        } else if live(newest) {
            held == Some(newest)
        } else {
            // At its expiry boundary: either (the nodes agree by digest).
            held.is_none() || held == Some(newest)
        };
        if right {
            Ok(())
        } else {
            Err(Wrong::NotTheNewest {
                held: held.map(|r| line(r)),
                client: client.to_owned(),
                newest: line(newest),
                expired: if gone(newest) { " (expired)" } else { "" },
            })
        }
    }
}

/// How what a node holds for a client differs from what the oracle says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Wrong {
    #[error("holds {held:?}, which no node acknowledged")]
    NeverAcknowledged { held: String },
    #[error("holds {held:?}, forgotten up to {}", .up_to.to_seconds_text())]
    Forgotten { held: String, up_to: Nanos },
    #[error("holds {held:?} for {client}, whose newest acknowledged operation is a forget")]
    AfterForget { held: String, client: String },
    #[error(
        "holds {held:?} for {client}; the newest acknowledged, {newest:?}, was lost on a return"
    )]
    LostOnReturn {
        held: String,
        client: String,
        newest: String,
    },
    #[error("holds {held:?} for {client}, the newest acknowledged is {newest:?}{expired}")]
    NotTheNewest {
        held: Option<String>,
        client: String,
        newest: String,
        expired: &'static str,
    },
}
