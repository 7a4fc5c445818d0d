//! One end of a peer link as a state machine without I/O: every decision a
//! link makes, for the node and the simulator alike (docs/architecture.md).
//!
//! The caller owns the clock and the transport. It tells the machine what
//! happened (`connected`, `closed`, bytes or a message received, the
//! operator's cut, a timer that came due) with the current time, and asks it
//! what to do: which line goes on the wire next ([`LinkMachine::poll_transmit`]),
//! when to wake it again ([`LinkMachine::poll_timeout`]), when to dial
//! ([`LinkMachine::dial_at`]) and whether to close ([`LinkClose`]). Time is a
//! [`Duration`] since any origin the caller picks; randomness comes from a
//! generator seeded by the caller, so a simulated run replays exactly.
//!
//! The rules, each stated once:
//! - Both ends dial: at once when the link may be up (so a node that
//!   starts links at once, whichever end it is), after a failed dial or a
//!   lost connection after the [`Backoff`] delay, which resets only after a
//!   session that lasted [`LinkPolicy::stable_session`] (a peer that accepts
//!   and drops at once is not redialled in a loop). One dial at a time.
//! - Two connections for one link ([`LinkMachine::prefers`]): one from a
//!   peer that restarted (another boot id) replaces the old at once; of two
//!   from the same peer process, the newer wins when the same end opened
//!   both (that end gave the old one up), else the one opened by the end
//!   whose name sorts last (BGP's collision rule, RFC 4271 section 6.8).
//!   Both ends apply the rule to the same facts, so they keep the same
//!   connection whatever order the handshakes completed in.
//! - A PING goes out every [`LinkPolicy::heartbeat`]; a connection that has
//!   carried nothing for [`LinkPolicy::dead_after`] is closed.
//! - Repair rounds: the end that opened the connection starts one at
//!   link-up (its SYNC goes after the updates queued while away) and then
//!   every [`LinkPolicy::repair_every`] ±[`LinkPolicy::repair_jitter`];
//!   either side asks for one when its send queue overflows, and such a
//!   round is retried every [`LinkPolicy::min_round_gap`] until one may
//!   start. A round may not start within `min_round_gap` of the last, nor
//!   while the last is still waiting for answers and younger than
//!   [`LinkPolicy::round_patience`]. A reply that holds the next chunk's
//!   SYNC counts as a round.
//! - What goes on the wire next: repair answers and heartbeats first (they
//!   are small and keep the link honest), then the flood queue. Repair
//!   answers are dropped when [`LinkPolicy::repair_backlog`] bytes are
//!   already waiting: a later round does their work once the link drains.
//! - While the operator has the link cut nothing crosses it: a message that
//!   still arrives closes the connection, and no dial is made.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use herd_proto::peer::PeerMessage;
use herd_proto::repair::RepairMessage;
use herd_proto::{Record, Tombstone};

use crate::forget_filter::ForgetFilter;
use crate::{Backoff, Push, Records, RepairReply, RepairState, SendQueue};

/// Every timing constant and bound of a link, in one place.
#[derive(Debug, Clone)]
pub struct LinkPolicy {
    /// Updates held for a peer while it is slow or away.
    pub queue_capacity: usize,
    /// A PING is sent this often.
    pub heartbeat: Duration,
    /// A connection that has been silent this long is dead.
    pub dead_after: Duration,
    /// Giving up on a TCP connect.
    pub connect_timeout: Duration,
    /// Giving up on the handshake (HELLO, and AUTH/PROOF with a secret).
    pub handshake_timeout: Duration,
    /// The end that opened the connection starts a repair round this
    /// often...
    pub repair_every: Duration,
    /// ...give or take this fraction, so that the links of a herd do not
    /// all sync in step.
    pub repair_jitter: f64,
    /// A round does not interrupt an unanswered one younger than this.
    pub round_patience: Duration,
    /// Rounds are at least this far apart: a congested link overflows on
    /// every update, and a round per overflow would only add to the
    /// congestion.
    pub min_round_gap: Duration,
    /// A session this long counts as a working link (resets the back-off).
    pub stable_session: Duration,
    /// The first redial delay, doubling up to `backoff_cap`.
    pub backoff_first: Duration,
    pub backoff_cap: Duration,
    /// Bytes of repair answers and heartbeats waiting for the wire beyond
    /// which further repair answers are dropped.
    pub repair_backlog: usize,
    /// A deliberately broken rule, for tests that prove the simulator's
    /// oracle catches a bad policy. Never set outside tests.
    #[doc(hidden)]
    pub sabotage: Option<Sabotage>,
}

impl Default for LinkPolicy {
    fn default() -> Self {
        LinkPolicy {
            queue_capacity: 65_536,
            heartbeat: Duration::from_millis(500),
            dead_after: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(5),
            repair_every: Duration::from_secs(1),
            repair_jitter: 0.2,
            round_patience: Duration::from_secs(5),
            min_round_gap: Duration::from_millis(100),
            stable_session: Duration::from_secs(5),
            backoff_first: Duration::from_millis(50),
            backoff_cap: Duration::from_secs(2),
            repair_backlog: 8 << 20,
            sabotage: None,
        }
    }
}

/// Ways to break the policy on purpose (see [`LinkPolicy::sabotage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// No side ever starts a round: flooding alone.
    NoRounds,
    /// The end that opened the connection never starts a round, neither
    /// at link-up nor periodically: only overflows ask for repair.
    NoDiallerRounds,
    /// Never start a periodic round (link-up and overflow rounds remain).
    NoPeriodicRounds,
}

impl Sabotage {
    fn forbids(self, round: Round) -> bool {
        match self {
            Sabotage::NoRounds => true,
            Sabotage::NoDiallerRounds => matches!(round, Round::LinkUp | Round::Periodic),
            Sabotage::NoPeriodicRounds => round == Round::Periodic,
        }
    }
}

/// Why a repair round starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// The opening end's first, at link-up: always, its SYNC after what
    /// queued up while the link was away.
    LinkUp,
    /// The opening end's, every `repair_every`.
    Periodic,
    /// Asked for by a queue overflow.
    Wanted,
}

/// One line for the wire, in the order the machine wants them sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Transmit {
    /// An update from the flood queue (it needs room in the transport).
    Flood(Arc<Record>),
    /// A record a repair answer carries.
    Repaired(Arc<Record>),
    /// A tombstone, flooded or carried by a repair answer (only to a peer
    /// that speaks `FORGET`; the caller drops it for one that does not).
    Forget(Tombstone),
    Repair(RepairMessage),
    Ping,
}

/// Why the machine wants the connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkClose {
    /// Nothing arrived for this long.
    Silent(Duration),
    /// The operator cut the link while messages were still arriving.
    Cut,
    /// The peer sent AUTH: it has the herd secret and this node has not.
    PeerWantsAuth,
    /// A handshake message after the handshake.
    LateHandshake,
}

impl fmt::Display for LinkClose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkClose::Silent(after) => write!(f, "no traffic for {after:?}"),
            LinkClose::Cut => f.write_str("cut by the operator"),
            LinkClose::PeerWantsAuth => {
                f.write_str("peer wants to authenticate: the herd secret is set there but not here")
            }
            LinkClose::LateHandshake => {
                f.write_str("peer sent a handshake message after the handshake")
            }
        }
    }
}

/// What a received message asks of the caller.
#[derive(Debug, PartialEq)]
pub enum Received {
    /// An update: merge it (and flood it on if it wins).
    Merge(Record),
    /// A tombstone: merge it (and flood it on if it wins).
    Forget(Tombstone),
    /// A repair message: answer it with [`LinkMachine::answer_repair`] from
    /// the records as they are now.
    Repair(RepairMessage),
    /// Nothing to do (a heartbeat).
    Nothing,
    /// Close the connection.
    Close(LinkClose),
}

/// What the link has done, for snapshots and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub overflows: u64,
    pub repair_rounds: u64,
    pub repair_records_out: u64,
    /// Updates that arrived while this end waited for repair records: at
    /// the end that started the round, from its LEAVES until the last
    /// WANT came back (the peer sends each answer's records before its
    /// WANT); at the other end, from its WANT until the peer's next repair
    /// message (at most a round's patience). The records of the answers
    /// (which travel as updates), and any flood that crossed them.
    pub repair_records_in: u64,
    /// Repair answers dropped because the backlog was full.
    pub repair_answers_dropped: u64,
}

/// Which end of a link opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    /// This end dialled it.
    Me,
    /// The peer dialled it and this end accepted it.
    Peer,
}

/// One connected period of the link.
#[derive(Debug)]
struct Session {
    opener: Opener,
    /// The peer process at the other end (random per start).
    peer_boot: String,
    started: Duration,
    last_input: Duration,
    next_ping: Duration,
    /// The round this side started on this connection, if any.
    repair: RepairState,
    round_started: Option<Duration>,
    /// The opening end's next periodic round.
    next_periodic: Option<Duration>,
    /// A round was asked for (overflow) and is tried again then.
    round_wanted_at: Option<Duration>,
    /// The link-up round's SYNC, sent once the updates queued while the
    /// link was away have gone: the peer then compares with them merged,
    /// and repair does not send them a second time.
    link_up_sync: Option<RepairMessage>,
    /// Until when updates count as repair records at the end that did not
    /// start the round: set when it sends a WANT, whose answer brings
    /// records, and ended by the peer's next repair message (or the
    /// round's patience). The starting end counts while its round waits
    /// for WANTs ([`RepairState::in_round`]).
    repair_records_until: Option<Duration>,
    /// Since when this end's rounds have waited for the peer's WANTs:
    /// set when LEAVES go out, kept when a round starts while the last
    /// one still waited (it gave up on it), cleared when a round is
    /// answered in full or starts after one that left nothing waiting.
    /// Only this wait tells a peer that does not answer from one that has
    /// nothing to say: a SYNC whose roots are equal gets no answer at all.
    unanswered_since: Option<Duration>,
}

/// One end of one peer link.
#[derive(Debug)]
pub struct LinkMachine {
    policy: LinkPolicy,
    /// This end's name sorts after the peer's: of two connections between
    /// the same processes, the one it opened survives.
    wins_collisions: bool,
    rng: fastrand::Rng,
    admin_up: bool,
    backoff: Backoff,
    queue: SendQueue,
    /// Repair answers, tombstones and heartbeats, each with its number in
    /// the order they were queued: sent ahead of the flood queue.
    urgent: VecDeque<(u64, Transmit)>,
    urgent_bytes: usize,
    /// The number the next urgent line gets.
    urgent_next: u64,
    /// The tombstones the node committed while copies they cover may
    /// still wait in the queues: those copies are not sent.
    forgets: ForgetFilter,
    session: Option<Session>,
    /// When to dial next (None: not now).
    dial_at: Option<Duration>,
    /// A dial is under way; none other starts until it ends.
    dial_in_flight: bool,
    stats: LinkStats,
    /// Since when the flood queue has held something (None: empty).
    queue_busy_since: Option<Duration>,
}

impl LinkMachine {
    /// A link end at `now`. `wins_collisions`: this end's name sorts after
    /// the peer's; `admin_up`: the operator's saved wish; `seed`: its
    /// randomness.
    pub fn new(
        policy: LinkPolicy,
        wins_collisions: bool,
        admin_up: bool,
        now: Duration,
        seed: u64,
    ) -> LinkMachine {
        LinkMachine {
            backoff: Backoff::new(policy.backoff_first, policy.backoff_cap),
            queue: SendQueue::new(policy.queue_capacity),
            dial_at: admin_up.then_some(now),
            dial_in_flight: false,
            policy,
            wins_collisions,
            rng: fastrand::Rng::with_seed(seed),
            admin_up,
            urgent: VecDeque::new(),
            urgent_bytes: 0,
            urgent_next: 0,
            forgets: ForgetFilter::default(),
            session: None,
            stats: LinkStats::default(),
            queue_busy_since: None,
        }
    }

    pub fn admin_up(&self) -> bool {
        self.admin_up
    }

    pub fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// A reload's new bound on the flood queue.
    pub fn set_queue_capacity(&mut self, capacity: usize) {
        self.policy.queue_capacity = capacity;
        self.queue.set_capacity(capacity);
    }

    /// Updates waiting in the flood queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// How long the flood queue has not been empty (zero when it is).
    pub fn queue_busy_for(&self, now: Duration) -> Duration {
        self.queue_busy_since
            .map_or(Duration::ZERO, |since| now.saturating_sub(since))
    }

    /// How long this end's repair rounds have waited for answers, when
    /// they are waiting: a peer that never answers keeps this growing
    /// across the rounds started meanwhile.
    pub fn repair_waiting_for(&self, now: Duration) -> Option<Duration> {
        let since = self.session.as_ref()?.unanswered_since?;
        Some(now.saturating_sub(since))
    }

    /// May a connection be taken at all? Not while the operator has the
    /// link cut.
    pub fn accepts(&self) -> bool {
        self.admin_up
    }

    /// Should a connection that just completed its handshake (opened by
    /// `opener`, to the peer process `peer_boot`) become the link's, in
    /// place of the current one if any? False: close it and keep the
    /// current one. The rule is in the module's documentation.
    pub fn prefers(&self, opener: Opener, peer_boot: &str) -> bool {
        if !self.admin_up {
            return false;
        }
        let Some(current) = &self.session else {
            return true;
        };
        if current.peer_boot != peer_boot || current.opener == opener {
            return true;
        }
        // The same peer process, one connection opened by each end: keep
        // the one opened by the end whose name sorts last.
        match opener {
            Opener::Me => self.wins_collisions,
            Opener::Peer => !self.wins_collisions,
        }
    }

    /// Which end opened the current connection, if connected.
    pub fn opener(&self) -> Option<Opener> {
        self.session.as_ref().map(|session| session.opener)
    }

    /// The operator's wish. A cut ends the session (the caller closes the
    /// connection) and stops dialling; a restore dials at once, with the
    /// back-off forgotten. True if it changed anything.
    pub fn set_admin(&mut self, now: Duration, up: bool) -> bool {
        if self.admin_up == up {
            return false;
        }
        self.admin_up = up;
        if up {
            self.backoff.reset();
            self.dial_at = (!self.dial_in_flight).then_some(now);
        } else {
            self.end_session();
            self.dial_at = None;
            // The caller abandons a dial under way: it is cut.
            self.dial_in_flight = false;
        }
        true
    }

    /// A connection completed its handshake and was preferred
    /// ([`LinkMachine::prefers`]): the session starts, replacing any
    /// current one. Records queued while away go out first, then the
    /// opening end's first round.
    pub fn connected(&mut self, now: Duration, records: &Records, opener: Opener, peer_boot: &str) {
        self.end_session();
        self.dial_at = None;
        let opened = opener == Opener::Me;
        let first_periodic = opened.then(|| now + self.periodic_delay());
        self.session = Some(Session {
            opener,
            peer_boot: peer_boot.to_owned(),
            started: now,
            last_input: now,
            // The first heartbeat right after the handshake.
            next_ping: now,
            repair: RepairState::default(),
            round_started: None,
            next_periodic: first_periodic,
            round_wanted_at: None,
            link_up_sync: None,
            repair_records_until: None,
            unanswered_since: None,
        });
        if opened {
            self.start_round(now, Round::LinkUp, records);
        }
    }

    /// The connection is gone (lost, replaced, or closed on the machine's
    /// word). The next dial comes after the back-off. Lines not yet
    /// handed to the transport stay, but for repair messages and
    /// heartbeats, which belonged to that connection.
    pub fn closed(&mut self, now: Duration) {
        let Some(session) = self.session.take() else {
            return;
        };
        if now.saturating_sub(session.started) >= self.policy.stable_session {
            self.backoff.reset();
        }
        self.drop_connection_lines();
        self.redial_after_backoff(now);
    }

    /// A dial is under way: no other until it ends.
    pub fn dialling(&mut self) {
        self.dial_at = None;
        self.dial_in_flight = true;
    }

    /// A dial completed its handshake; [`LinkMachine::prefers`] decides
    /// what becomes of the connection.
    pub fn dial_succeeded(&mut self) {
        self.dial_in_flight = false;
    }

    /// The caller lost track of a dial under way (its task was restarted):
    /// dial again at once if the link is still without a connection.
    pub fn dial_abandoned(&mut self, now: Duration) {
        if std::mem::take(&mut self.dial_in_flight) && self.admin_up && self.session.is_none() {
            self.dial_at = Some(now);
        }
    }

    /// A dial failed: the next one after the back-off, unless a connection
    /// the peer opened came in meanwhile.
    pub fn dial_failed(&mut self, now: Duration) {
        self.dial_in_flight = false;
        if self.session.is_none() {
            self.redial_after_backoff(now);
        }
    }

    /// The next dial, after the back-off's next delay. The end that would
    /// lose a collision waits `backoff_first` longer, so that after a drop
    /// the other end's dial has usually landed before it dials: two dials
    /// at once cost a connection, and what was written on it.
    fn redial_after_backoff(&mut self, now: Duration) {
        if self.admin_up && !self.dial_in_flight {
            let mut delay = self.backoff.next_delay(self.rng.f64());
            if !self.wins_collisions {
                delay += self.policy.backoff_first;
            }
            self.dial_at = Some(now + delay);
        }
    }

    /// When to dial next, if at all.
    pub fn dial_at(&self) -> Option<Duration> {
        self.dial_at
    }

    /// Bytes arrived from the peer (heartbeats included).
    pub fn input(&mut self, now: Duration) {
        if let Some(session) = &mut self.session {
            session.last_input = session.last_input.max(now);
        }
    }

    /// A complete message from the peer: what the caller must do with it.
    pub fn receive(&mut self, message: PeerMessage<'_>) -> Received {
        match message {
            PeerMessage::Ping => Received::Nothing,
            PeerMessage::Update(_) | PeerMessage::Repair(_) | PeerMessage::Forget(_)
                if !self.admin_up =>
            {
                // Cut by the operator: nothing crosses, not even what was
                // already in flight.
                Received::Close(LinkClose::Cut)
            }
            PeerMessage::Update(record) => {
                self.stats.msgs_in += 1;
                if let Some(session) = &self.session
                    && (session.repair.in_round()
                        || session
                            .repair_records_until
                            .is_some_and(|until| session.last_input <= until))
                {
                    self.stats.repair_records_in += 1;
                }
                Received::Merge(record)
            }
            PeerMessage::Forget(tombstone) => {
                self.stats.msgs_in += 1;
                Received::Forget(tombstone)
            }
            PeerMessage::Repair(message) => {
                if let Some(session) = &mut self.session {
                    session.repair_records_until = None;
                }
                Received::Repair(message)
            }
            PeerMessage::Auth(_) => Received::Close(LinkClose::PeerWantsAuth),
            PeerMessage::Hello(_) | PeerMessage::Refused(_) | PeerMessage::Proof(_) => {
                Received::Close(LinkClose::LateHandshake)
            }
        }
    }

    /// Answers a repair message from the peer from `records` as they are
    /// now; the answer goes ahead of the flood queue.
    pub fn answer_repair(&mut self, now: Duration, message: RepairMessage, records: &Records) {
        let pick = self.rng.usize(..);
        let Some(session) = &mut self.session else {
            return;
        };
        let reply = session.repair.answer(records, message, pick);
        if reply
            .messages
            .iter()
            .any(|m| matches!(m, RepairMessage::Want { .. }))
        {
            session.repair_records_until = Some(now + self.policy.round_patience);
        }
        if session.repair.in_round() {
            session.unanswered_since.get_or_insert(now);
        } else {
            session.unanswered_since = None;
        }
        if reply
            .messages
            .iter()
            .any(|m| matches!(m, RepairMessage::Sync { .. }))
        {
            // The next chunk of a large repair: a round too.
            session.round_started = Some(now);
            self.stats.repair_rounds += 1;
        }
        self.queue_repair(reply);
    }

    /// The node committed `tombstone`: no queued copy of an update it
    /// covers leaves this link from now on (forget_filter.rs), and with
    /// `send` the tombstone is queued for the peer (every link but the
    /// one it came from). Forgets are rare and must not be lost to an
    /// overflow: they go ahead of the flood queue, and stay for the next
    /// connection if this one drops first.
    pub fn forgotten(&mut self, now: Duration, tombstone: Tombstone, send: bool) {
        self.forgets
            .add(now, tombstone, self.queue.next_seq(), self.urgent_next);
        if send {
            self.stats.msgs_out += 1;
            self.push_urgent(Transmit::Forget(tombstone));
        }
    }

    /// The node came back from past the tombstone horizon and discarded its
    /// records older than `horizon` ([`crate::NodeCore::back`]): so do the
    /// queues, which would otherwise send those copies on (one may be of a
    /// client forgotten meanwhile). Returns how many went.
    pub fn reset(&mut self, horizon: herd_proto::Nanos) -> usize {
        let older = |record: &Record| record.client_time() < horizon;
        let mut dropped = self.queue.retain(|record| !older(record));
        let before = self.urgent.len();
        self.urgent
            .retain(|(_, t)| !matches!(t, Transmit::Repaired(record) if older(record)));
        dropped += before - self.urgent.len();
        self.urgent_bytes = self.urgent.iter().map(|(_, t)| wire_len(t)).sum();
        if self.queue.is_empty() {
            self.queue_busy_since = None;
        }
        dropped
    }

    /// Queues an update for the peer. An overflow drops the oldest queued
    /// update, which then reaches the peer by repair: a round is asked for.
    pub fn push(&mut self, now: Duration, record: Arc<Record>) -> Push {
        if !self.forgets.is_empty() {
            self.collect_forgets(now);
            if self.forgets.covers(&record) {
                // Committed before a forget, flooded after it.
                return Push::Forgotten;
            }
        }
        if self.queue.is_empty() {
            self.queue_busy_since = Some(now);
        }
        let push = self.queue.push(record);
        if push == Push::Overflow {
            self.stats.overflows += 1;
            self.want_round(now, None);
        }
        push
    }

    /// The next line for the wire, if any: urgent lines first, then (when
    /// `floods` allows: the transport has room) the flood queue. Nothing
    /// while not connected.
    pub fn poll_transmit(&mut self, floods: bool) -> Option<Transmit> {
        self.session.as_ref()?;
        self.next_transmit(floods)
    }

    /// Lets go of the tombstones no queued copy can need any more.
    fn collect_forgets(&mut self, now: Duration) {
        let urgent_sent = self.urgent.front().map_or(self.urgent_next, |(n, _)| *n);
        self.forgets.collect(now, self.queue.sent(), urgent_sent);
    }

    /// The next line, skipping queued copies of forgotten updates.
    fn next_transmit(&mut self, floods: bool) -> Option<Transmit> {
        while let Some((_, transmit)) = self.urgent.pop_front() {
            self.urgent_bytes = self.urgent_bytes.saturating_sub(wire_len(&transmit));
            match &transmit {
                Transmit::Repaired(record) if self.forgets.covers(record) => {}
                _ => return Some(transmit),
            }
        }
        if !floods {
            return None;
        }
        while let Some(record) = self.queue.pop() {
            if self.queue.is_empty() {
                self.queue_busy_since = None;
            }
            if !self.forgets.covers(&record) {
                self.stats.msgs_out += 1;
                return Some(Transmit::Flood(record));
            }
        }
        self.session
            .as_mut()
            .and_then(|session| session.link_up_sync.take())
            .map(Transmit::Repair)
    }

    /// The earliest time [`LinkMachine::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let Some(session) = &self.session else {
            return self.dial_at;
        };
        [
            Some(session.last_input + self.policy.dead_after),
            Some(session.next_ping),
            session.next_periodic,
            session.round_wanted_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Does what has come due by `now`. `records` (read only if a round
    /// starts) gives the SYNC its root. Returns a close the caller must
    /// carry out (then call [`LinkMachine::closed`]).
    pub fn handle_timeout(&mut self, now: Duration, records: &Records) -> Option<LinkClose> {
        if !self.forgets.is_empty() {
            self.collect_forgets(now);
        }
        let (dead_after, heartbeat) = (self.policy.dead_after, self.policy.heartbeat);
        let session = self.session.as_mut()?;
        if now >= session.last_input + dead_after {
            return Some(LinkClose::Silent(dead_after));
        }
        if now >= session.next_ping {
            session.next_ping = now + heartbeat;
            self.push_urgent(Transmit::Ping);
        }
        if self.session_due(now, |s| &mut s.round_wanted_at) {
            self.want_round(now, Some(records));
        }
        if self.session_due(now, |s| &mut s.next_periodic) {
            let next = now + self.periodic_delay();
            if let Some(session) = &mut self.session {
                session.next_periodic = Some(next);
            }
            self.start_round(now, Round::Periodic, records);
        }
        None
    }

    /// True (and the time taken) when the session's timer `which` is due.
    fn session_due(
        &mut self,
        now: Duration,
        which: impl FnOnce(&mut Session) -> &mut Option<Duration>,
    ) -> bool {
        let Some(session) = &mut self.session else {
            return false;
        };
        let timer = which(session);
        if timer.is_some_and(|at| now >= at) {
            *timer = None;
            true
        } else {
            false
        }
    }

    /// The periodic round's next delay: `repair_every` ± the jitter.
    fn periodic_delay(&mut self) -> Duration {
        let jitter = self.policy.repair_jitter.clamp(0.0, 1.0);
        let factor = 1.0 - jitter + 2.0 * jitter * self.rng.f64();
        self.policy.repair_every.mul_f64(factor)
    }

    /// A round as soon as one may start: now, or tried again every
    /// `min_round_gap` until it may. Without the records at hand (an
    /// overflow in the middle of flooding) it is tried at the next timeout,
    /// which is at once.
    fn want_round(&mut self, now: Duration, records: Option<&Records>) {
        let started = records.is_some_and(|records| self.start_round(now, Round::Wanted, records));
        let gap = self.policy.min_round_gap;
        if let Some(session) = &mut self.session
            && !started
            && session.round_wanted_at.is_none()
        {
            session.round_wanted_at = Some(if records.is_some() { now + gap } else { now });
        }
    }

    /// Starts a round unless one may not start yet (the link-up round
    /// always may); true if it did.
    fn start_round(&mut self, now: Duration, round: Round, records: &Records) -> bool {
        let (gap, patience) = (self.policy.min_round_gap, self.policy.round_patience);
        let Some(session) = &mut self.session else {
            return false;
        };
        let busy = session.round_started.is_some_and(|at| {
            let since = now.saturating_sub(at);
            since < gap || (session.repair.in_round() && since < patience)
        });
        let sabotaged = self.policy.sabotage.is_some_and(|s| s.forbids(round));
        if (busy && round != Round::LinkUp) || sabotaged {
            return false;
        }
        session.round_started = Some(now);
        // A round that was still waiting keeps the wait's start: the peer
        // has not answered since then.
        if !session.repair.in_round() {
            session.unanswered_since = None;
        }
        let sync = session.repair.start(records);
        self.stats.repair_rounds += 1;
        if round == Round::LinkUp {
            session.link_up_sync = Some(sync);
        } else {
            self.push_urgent(Transmit::Repair(sync));
        }
        true
    }

    fn queue_repair(&mut self, reply: RepairReply) {
        if reply.records.is_empty() && reply.tombstones.is_empty() && reply.messages.is_empty() {
            return;
        }
        if self.session.is_none() || self.urgent_bytes > self.policy.repair_backlog {
            self.stats.repair_answers_dropped += 1;
            return;
        }
        self.stats.repair_records_out += (reply.records.len() + reply.tombstones.len()) as u64;
        for tombstone in reply.tombstones {
            self.push_urgent(Transmit::Forget(tombstone));
        }
        for record in reply.records {
            self.push_urgent(Transmit::Repaired(record));
        }
        for message in reply.messages {
            self.push_urgent(Transmit::Repair(message));
        }
    }

    fn push_urgent(&mut self, transmit: Transmit) {
        self.urgent_bytes += wire_len(&transmit);
        self.urgent.push_back((self.urgent_next, transmit));
        self.urgent_next += 1;
    }

    fn end_session(&mut self) {
        if self.session.take().is_some() {
            self.drop_connection_lines();
        }
    }

    /// Repair messages and heartbeats belong to one connection; records
    /// and tombstones stay for the next.
    fn drop_connection_lines(&mut self) {
        self.urgent
            .retain(|(_, t)| matches!(t, Transmit::Repaired(_) | Transmit::Forget(_)));
        self.urgent_bytes = self.urgent.iter().map(|(_, t)| wire_len(t)).sum();
    }
}

/// The bytes a transmit takes on the wire, roughly (for the backlog bound).
fn wire_len(transmit: &Transmit) -> usize {
    match transmit {
        Transmit::Flood(record) | Transmit::Repaired(record) => record.at_line().len() + 1,
        // FORGET, a leaf, a 32-digit hash and a time.
        Transmit::Forget(_) => 72,
        // A LEAVES or GROUPS line is about 4 KiB; SYNC and WANT are small.
        Transmit::Repair(RepairMessage::Groups(_) | RepairMessage::Leaves { .. }) => 4 * 1024,
        Transmit::Repair(_) => 64,
        Transmit::Ping => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn record(client: &str, time: &str) -> Arc<Record> {
        let line = format!("AT Clark +0.000000001 {client} +1+1 {time}");
        Arc::new(Record::parse_at_line(&line).expect("a valid AT line"))
    }

    fn machine(wins_collisions: bool) -> LinkMachine {
        LinkMachine::new(
            LinkPolicy::default(),
            wins_collisions,
            true,
            Duration::ZERO,
            7,
        )
    }

    /// A session on a connection this end opened, to peer process "boot".
    fn connect(m: &mut LinkMachine, now: Duration, records: &Records) {
        m.connected(now, records, Opener::Me, "boot");
    }

    fn drain(m: &mut LinkMachine, floods: bool) -> Vec<Transmit> {
        std::iter::from_fn(|| m.poll_transmit(floods)).collect()
    }

    /// SYNCs among the urgent lines (heartbeats and the rest skipped).
    fn syncs(m: &mut LinkMachine) -> usize {
        drain(m, false)
            .iter()
            .filter(|t| matches!(t, Transmit::Repair(RepairMessage::Sync { .. })))
            .count()
    }

    #[test]
    fn both_ends_dial_at_once_one_dial_at_a_time_and_back_off_after_failures() {
        let mut m = machine(true);
        assert_eq!(m.dial_at(), Some(Duration::ZERO));
        m.dialling();
        assert_eq!(m.dial_at(), None);
        m.dial_failed(Duration::ZERO);
        let first = m.dial_at().expect("a redial");
        assert!((25 * MS..=50 * MS).contains(&first), "{first:?}");
        m.dial_failed(first);
        let second = m.dial_at().expect("a redial") - first;
        assert!((50 * MS..=100 * MS).contains(&second), "{second:?}");
        assert_eq!(
            machine(false).dial_at(),
            Some(Duration::ZERO),
            "so does the other end"
        );
        let mut m = machine(false);
        m.dialling();
        m.connected(MS, &Records::default(), Opener::Peer, "boot");
        m.closed(2 * MS);
        assert_eq!(m.dial_at(), None, "not while a dial is under way");
        m.dial_failed(3 * MS);
        assert!(m.dial_at().is_some(), "after it failed");
    }

    #[test]
    fn only_a_session_that_lasted_resets_the_back_off() {
        let records = Records::default();
        let mut m = machine(true);
        for _ in 0..6 {
            m.dial_failed(Duration::ZERO);
        }
        connect(&mut m, Duration::ZERO, &records);
        m.closed(Duration::from_secs(1));
        let short = m.dial_at().expect("a redial") - Duration::from_secs(1);
        assert!(short >= Duration::from_secs(1), "back-off kept: {short:?}");
        connect(&mut m, Duration::from_secs(2), &records);
        m.closed(Duration::from_secs(8));
        let after_stable = m.dial_at().expect("a redial") - Duration::from_secs(8);
        assert!(after_stable <= 50 * MS, "back-off reset: {after_stable:?}");
    }

    #[test]
    fn the_opener_syncs_at_link_up_and_periodically_with_jitter() {
        let records = Records::default();
        let mut m = machine(true);
        connect(&mut m, Duration::ZERO, &records);
        assert!(matches!(
            drain(&mut m, true)[..],
            [Transmit::Repair(RepairMessage::Sync { .. })]
        ));
        let mut now = Duration::ZERO;
        let mut rounds = Vec::new();
        while now < Duration::from_secs(20) {
            now = m.poll_timeout().expect("timers while connected");
            m.input(now); // the peer keeps talking
            assert_eq!(m.handle_timeout(now, &records), None);
            for t in drain(&mut m, true) {
                if let Transmit::Repair(RepairMessage::Sync { .. }) = t {
                    rounds.push(now);
                }
            }
        }
        let gaps: Vec<_> = rounds.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.len() >= 15, "{gaps:?}");
        assert!(
            gaps.iter().all(|g| (800 * MS..=1200 * MS).contains(g)),
            "{gaps:?}"
        );
        assert!(gaps.iter().any(|g| *g != gaps[0]), "jittered: {gaps:?}");
        let mut acceptor = machine(false);
        acceptor.connected(Duration::ZERO, &records, Opener::Peer, "boot");
        assert!(
            drain(&mut acceptor, true).is_empty(),
            "the end that accepted starts no round"
        );
    }

    #[test]
    fn heartbeats_go_out_and_a_silent_link_is_closed() {
        let records = Records::default();
        let mut m = machine(false);
        m.connected(Duration::ZERO, &records, Opener::Peer, "boot");
        assert_eq!(m.poll_timeout(), Some(Duration::ZERO), "one at once");
        assert_eq!(m.handle_timeout(Duration::ZERO, &records), None);
        assert_eq!(drain(&mut m, true), vec![Transmit::Ping]);
        assert_eq!(m.poll_timeout(), Some(500 * MS));
        assert_eq!(m.handle_timeout(500 * MS, &records), None);
        assert_eq!(drain(&mut m, true), vec![Transmit::Ping]);
        m.input(2_000 * MS);
        assert_eq!(m.handle_timeout(4_999 * MS, &records), None);
        assert_eq!(
            m.handle_timeout(5_000 * MS, &records),
            Some(LinkClose::Silent(Duration::from_secs(3)))
        );
    }

    #[test]
    fn an_overflow_asks_for_a_round_at_once_and_retries_while_one_is_under_way() {
        let records = Records::default();
        let policy = LinkPolicy {
            queue_capacity: 1,
            ..LinkPolicy::default()
        };
        let mut m = LinkMachine::new(policy, false, true, Duration::ZERO, 1);
        m.connected(Duration::ZERO, &records, Opener::Peer, "boot");
        m.push(Duration::ZERO, record("a", "1"));
        assert_eq!(m.push(Duration::ZERO, record("b", "1")), Push::Overflow);
        assert_eq!(m.poll_timeout(), Some(Duration::ZERO), "a round wanted now");
        m.handle_timeout(Duration::ZERO, &records);
        assert_eq!(syncs(&mut m), 1);
        // Another overflow 10 ms later: under the minimum gap, so retried.
        m.push(10 * MS, record("c", "1"));
        m.handle_timeout(10 * MS, &records);
        assert_eq!(syncs(&mut m), 0);
        assert_eq!(m.poll_timeout(), Some(110 * MS));
        m.handle_timeout(110 * MS, &records);
        assert_eq!(syncs(&mut m), 1);
        assert_eq!(m.stats().repair_rounds, 2);
        assert_eq!(m.stats().overflows, 2);
    }

    #[test]
    fn the_queue_says_how_long_it_has_not_been_empty() {
        let records = Records::default();
        let mut m = machine(true);
        assert_eq!(m.queue_busy_for(5 * MS), Duration::ZERO);
        m.push(10 * MS, record("a", "1"));
        m.push(20 * MS, record("b", "1"));
        assert_eq!(m.queue_busy_for(50 * MS), 40 * MS, "since the first push");
        connect(&mut m, 60 * MS, &records);
        drain(&mut m, true);
        assert_eq!(m.queued(), 0);
        assert_eq!(m.queue_busy_for(70 * MS), Duration::ZERO);
        assert_eq!(m.repair_waiting_for(70 * MS), None, "no LEAVES outstanding");
    }

    #[test]
    fn urgent_lines_go_ahead_of_floods_and_floods_wait_for_room() {
        let records = Records::default();
        let mut m = machine(true);
        m.push(Duration::ZERO, record("a", "1"));
        assert_eq!(m.poll_transmit(true), None, "nothing while not connected");
        connect(&mut m, Duration::ZERO, &records);
        m.handle_timeout(500 * MS, &records);
        assert_eq!(m.poll_transmit(false), Some(Transmit::Ping));
        assert_eq!(m.poll_transmit(false), None, "no room for floods");
        assert!(matches!(m.poll_transmit(true), Some(Transmit::Flood(_))));
        assert!(
            matches!(
                m.poll_transmit(true),
                Some(Transmit::Repair(RepairMessage::Sync { .. }))
            ),
            "the link-up SYNC after what queued up while away"
        );
        assert_eq!(m.stats().msgs_out, 1);
    }

    #[test]
    fn a_queued_copy_of_a_forgotten_update_never_leaves() {
        // The simulator's seed 126: a copy queued for a peer that was away
        // past the horizon must not reach it after the forget.
        let records = Records::default();
        let mut m = machine(true);
        for (client, time) in [("kiwi", "5"), ("tui", "5"), ("kiwi2", "5")] {
            m.push(Duration::ZERO, record(client, time));
        }
        let forget = |client: &str, seconds: u64| Tombstone {
            leaf: crate::digest_tree::leaf_of(client),
            client: herd_proto::ClientHash::of(client),
            time: herd_proto::Nanos(seconds * 1_000_000_000),
        };
        m.forgotten(Duration::ZERO, forget("kiwi", 10), true);
        // Came in from this very peer: filtered, not sent back.
        m.forgotten(Duration::ZERO, forget("kiwi2", 10), false);
        // Committed before the forget, flooded after it: not queued.
        assert_eq!(m.push(MS, record("kiwi", "6")), Push::Forgotten);
        connect(&mut m, Duration::ZERO, &records);
        let sent: Vec<String> = drain(&mut m, true)
            .iter()
            .filter_map(|t| match t {
                Transmit::Flood(r) => Some(r.client().to_owned()),
                Transmit::Forget(_) => Some("FORGET".to_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(sent, ["FORGET", "tui"]);
        // A newer update of the client goes.
        m.push(MS, record("kiwi", "11"));
        assert!(matches!(m.poll_transmit(true), Some(Transmit::Flood(r)) if r.client() == "kiwi"));
        // Once everything queued before the forgets has left, and a while
        // after, nothing is kept.
        m.push(crate::forget_filter::KEEP_AT_LEAST, record("tui", "7"));
        assert!(
            m.forgets.is_empty(),
            "nothing kept once nothing can be covered"
        );
    }

    #[test]
    fn a_reset_drops_the_queued_copies_older_than_the_horizon() {
        let records = Records::default();
        let mut m = machine(true);
        for (client, time) in [("old", "5"), ("new", "50"), ("older", "1")] {
            m.push(Duration::ZERO, record(client, time));
        }
        assert_eq!(m.reset(herd_proto::Nanos(10_000_000_000)), 2);
        assert_eq!(m.queued(), 1);
        connect(&mut m, Duration::ZERO, &records);
        let floods: Vec<String> = drain(&mut m, true)
            .iter()
            .filter_map(|t| match t {
                Transmit::Flood(r) => Some(r.client().to_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(floods, ["new"]);
    }

    #[test]
    fn a_cut_closes_stops_dialling_and_refuses_what_still_arrives() {
        let records = Records::default();
        let mut m = machine(true);
        connect(&mut m, Duration::ZERO, &records);
        assert!(m.set_admin(MS, false));
        assert!(!m.is_connected());
        assert_eq!(m.dial_at(), None);
        assert!(!m.accepts());
        assert_eq!(
            m.receive(PeerMessage::Update((*record("a", "1")).clone())),
            Received::Close(LinkClose::Cut)
        );
        assert!(m.set_admin(2 * MS, true));
        assert_eq!(m.dial_at(), Some(2 * MS), "restored: dial at once");
    }

    fn holding(clients: usize) -> Records {
        let mut records = Records::default();
        for i in 0..clients {
            records.merge(record(&format!("c{i}"), "1"));
        }
        records
    }

    /// Two connected ends, `a` the dialler (it starts the rounds), after
    /// their repair exchange has run its course with nothing merged (the
    /// lacking end asks again, which is all these tests need).
    /// `deliver(from, line)` says which lines reach the other end.
    fn exchange(
        held: [&Records; 2],
        mut deliver: impl FnMut(usize, &Transmit) -> bool,
    ) -> [LinkMachine; 2] {
        let (mut a, mut b) = (machine(true), machine(false));
        a.connected(Duration::ZERO, held[0], Opener::Me, "b");
        b.connected(Duration::ZERO, held[1], Opener::Peer, "a");
        let mut machines = [a, b];
        pump(&mut machines, held, Duration::ZERO, &mut deliver);
        machines
    }

    /// Carries lines between the two ends at `now` until both are quiet
    /// (or 200 exchanges), answering repair messages from `held`.
    fn pump(
        machines: &mut [LinkMachine; 2],
        held: [&Records; 2],
        now: Duration,
        deliver: &mut impl FnMut(usize, &Transmit) -> bool,
    ) {
        for _ in 0..200 {
            let mut quiet = true;
            for from in 0..2 {
                let to = 1 - from;
                let lines = drain(&mut machines[from], true);
                quiet &= lines.is_empty();
                for line in lines {
                    if !deliver(from, &line) {
                        continue;
                    }
                    machines[to].input(now);
                    match line {
                        Transmit::Repair(message) => {
                            if let Received::Repair(message) =
                                machines[to].receive(PeerMessage::Repair(message))
                            {
                                machines[to].answer_repair(now, message, held[to]);
                            }
                        }
                        Transmit::Repaired(record) => {
                            machines[to].receive(PeerMessage::Update((*record).clone()));
                        }
                        _ => {}
                    }
                }
            }
            if quiet {
                return;
            }
        }
        // What the last answers queued reaches the other end too.
        for from in 0..2 {
            for line in drain(&mut machines[from], true) {
                if let Transmit::Repaired(record) = line
                    && deliver(from, &Transmit::Repaired(record.clone()))
                {
                    machines[1 - from].receive(PeerMessage::Update((*record).clone()));
                }
            }
        }
    }

    #[test]
    fn a_reply_with_the_next_chunks_sync_counts_as_a_round() {
        let (records, empty) = (holding(2_000), Records::default());
        let machines = exchange([&records, &empty], |_, _| true);
        let rounds_seen = machines[0].stats().repair_rounds;
        assert!(
            rounds_seen > 1,
            "a large repair goes in several counted rounds"
        );
    }

    #[test]
    fn what_one_end_sends_in_repair_the_other_counts_in_whichever_started() {
        let (records, empty) = (holding(2_000), Records::default());
        for (held, sender) in [([&records, &empty], 0), ([&empty, &records], 1)] {
            let machines = exchange(held, |_, _| true);
            let sent = machines[sender].stats().repair_records_out;
            assert!(sent >= 2_000, "{sent}");
            assert_eq!(machines[1 - sender].stats().repair_records_in, sent);
            assert_eq!(machines[sender].stats().repair_records_in, 0);
        }
    }

    #[test]
    fn a_peer_that_never_sends_its_wants_keeps_the_wait_growing_across_rounds() {
        let (records, empty) = (holding(100), Records::default());
        let held = [&records, &empty];
        // b answers SYNC with GROUPS, but never gets a's LEAVES, so never
        // sends the WANTs a's rounds wait for.
        let mut deliver = |from: usize, line: &Transmit| {
            from == 1 || !matches!(line, Transmit::Repair(RepairMessage::Leaves { .. }))
        };
        let mut machines = exchange(held, &mut deliver);
        assert_eq!(
            machines[0].repair_waiting_for(Duration::ZERO),
            Some(Duration::ZERO)
        );
        let rounds = machines[0].stats().repair_rounds;
        for second in 1..=12 {
            let now = Duration::from_secs(second);
            for (m, held) in machines.iter_mut().zip(held) {
                m.input(now);
                m.handle_timeout(now, held);
            }
            pump(&mut machines, held, now, &mut deliver);
            // Rounds started meanwhile (after the 5 s patience) gave up on
            // the last: the wait still counts from the first LEAVES.
            assert_eq!(
                machines[0].repair_waiting_for(now),
                Some(now),
                "at {second} s"
            );
        }
        assert!(
            machines[0].stats().repair_rounds > rounds,
            "no round started in 12 s"
        );
        // Once a round is answered in full, nothing is waiting.
        let machines = exchange(held, |_, _| true);
        assert_eq!(machines[0].repair_waiting_for(Duration::from_secs(1)), None);
    }

    #[test]
    fn both_ends_keep_the_same_connection_whatever_order_two_dials_complete_in() {
        // "a" and "b" dial each other at once: connection 1 opened by a, 2
        // by b; b's name sorts last, so both must end on connection 2.
        for a_sees_1_first in [true, false] {
            for b_sees_1_first in [true, false] {
                let mut kept = Vec::new();
                for (me_wins, first_1) in [(false, a_sees_1_first), (true, b_sees_1_first)] {
                    let mut m = machine(me_wins);
                    m.dialling();
                    // Which connection each end opened: a opened 1, b opened 2.
                    let opener = |conn: u8| match (me_wins, conn) {
                        (false, 1) | (true, 2) => Opener::Me,
                        _ => Opener::Peer,
                    };
                    let order = if first_1 { [1, 2] } else { [2, 1] };
                    let mut current = None;
                    for conn in order {
                        if opener(conn) == Opener::Me {
                            m.dial_succeeded();
                        }
                        if m.prefers(opener(conn), "same process") {
                            m.connected(MS, &Records::default(), opener(conn), "same process");
                            current = Some(conn);
                        }
                    }
                    kept.push(current);
                }
                assert_eq!(
                    kept,
                    [Some(2), Some(2)],
                    "orders {a_sees_1_first} {b_sees_1_first}"
                );
            }
        }
    }

    #[test]
    fn a_restarted_peer_or_the_same_opener_replaces_the_connection_and_a_cut_takes_none() {
        let records = Records::default();
        let mut m = machine(true);
        m.connected(MS, &records, Opener::Me, "first");
        assert!(
            !m.prefers(Opener::Peer, "first"),
            "a collision this end wins"
        );
        assert!(m.prefers(Opener::Peer, "second"), "the peer restarted");
        assert!(
            m.prefers(Opener::Me, "first"),
            "this end gave the old one up"
        );
        m.set_admin(2 * MS, false);
        assert!(!m.prefers(Opener::Peer, "third"), "cut: nothing is taken");
    }
}
