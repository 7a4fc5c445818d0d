//! A link to one peer, shared by the tasks that use it: the link machine
//! of herd-core (every decision), the outbox (the bytes), the read side,
//! and what the admin snapshot shows. The tasks around it (supervisor,
//! session) only carry out what the machine asks.
//!
//! Both ends dial (so a node that starts is linked at once, whichever end
//! it is); when two connections complete, the machine's collision rule
//! says which one the link keeps ([`Link::prefers`]), the same on both
//! ends.
//!
//! Locks, always in this order when more than one is held: the read side,
//! the node's records, the link's `end` (machine and outbox), its status.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use herd_admin::{AdminState, ConnectionState, LinkStatus};
use herd_core::health::LinkHealth;
use herd_core::{LinkId, LinkMachine, LinkPolicy, Opener, Push, Received};
use herd_proto::peer::parse_peer_line;
use herd_proto::{Record, Tombstone};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::connection::{Arrival, Connected};
use super::error::PeerLineError;
use super::inbox::{Inbox, ReadVia};
use super::outbox::{Flush, Outbox};
use super::socket::PeerSocket;
use super::update_batch::UpdateBatch;
use crate::events::now_us;
use crate::line_reader::Frame;
use crate::node::Node;

/// Most a client request reads from one link before it is answered: enough
/// for any backlog but a flood at full speed, whose newest lines are then
/// still in flight anyway.
const CATCH_UP_BUDGET: usize = 256 * 1024;

pub struct Link {
    pub id: LinkId,
    pub peer: String,
    /// Where the peer is dialled; a reload may move it.
    peer_addr: RwLock<herd_config::Address>,
    pub policy: LinkPolicy,
    /// Cancelled when a reload removes the link: its task ends.
    pub retired: CancellationToken,
    /// The machine's clock starts here.
    origin: Instant,
    end: Mutex<End>,
    /// Wakes the session's writer when there is something to send.
    pub(super) wake: Notify,
    /// Wakes the session's timer when the machine's next timeout moved
    /// earlier (a queue overflow wants a repair round now).
    pub(super) timers: Notify,
    /// Connections for this link, from the peer listener and from its own
    /// dials, and its dials' failures.
    pub(super) incoming: mpsc::Sender<Arrival>,
    /// The operator's wish, for the tasks to wait on (the machine has its
    /// own copy, changed under the same call).
    admin: watch::Sender<AdminState>,
    /// What the link is doing, for the admin snapshot.
    status: Mutex<Status>,
    bytes_in: AtomicU64,
    cuts: AtomicU64,
    /// Updates from the peer that won the merge, and those that did not.
    floods_won: AtomicU64,
    floods_stale: AtomicU64,
    /// Connections lost: not cut by the operator, nor replaced by another
    /// connection to the same peer.
    flaps: AtomicU64,
    /// The peer refused our version range as a node from before ranges
    /// does: dial it with the one version it reads.
    legacy_hello: std::sync::atomic::AtomicBool,
    /// The read side while connected.
    inbox: Mutex<Option<Inbox>>,
    /// Wakes the session when a drain outside it found the connection over.
    pub(super) input_ended: Notify,
}

/// The machine and the bytes it produced, under one lock: a line is taken
/// from the machine and put in the outbox in one step.
struct End {
    machine: LinkMachine,
    outbox: Outbox<PeerSocket>,
}

impl End {
    fn flush(&mut self) -> Flush<PeerSocket> {
        let End { machine, outbox } = self;
        outbox.flush(|| machine.poll_transmit(true))
    }
}

struct Status {
    state: ConnectionState,
    since_us: u64,
    remote: Option<String>,
    peer_boot_id: Option<String>,
    last_error: Option<(String, u64)>,
}

/// Outcome of one drain of the read side.
pub(super) enum Drained {
    /// The socket has nothing more for now.
    Idle,
    /// The byte budget ran out with more perhaps waiting.
    More,
    /// The connection is finished, for this reason.
    Ended(String),
}

impl Link {
    pub fn new(
        id: LinkId,
        me: &str,
        peer: &str,
        peer_addr: herd_config::Address,
        policy: LinkPolicy,
        admin: AdminState,
    ) -> (Arc<Link>, mpsc::Receiver<Arrival>) {
        let (incoming, accepted) = mpsc::channel(1);
        // Of two connections between the same processes, the one opened by
        // the name that sorts last survives (the machine's collision rule).
        let wins_collisions = me > peer;
        let machine = LinkMachine::new(
            policy.clone(),
            wins_collisions,
            admin == AdminState::Up,
            Duration::ZERO,
            fastrand::u64(..),
        );
        let state = match admin {
            AdminState::Up => ConnectionState::Connecting,
            AdminState::Down => ConnectionState::Down,
        };
        let link = Link {
            id,
            peer: peer.to_owned(),
            peer_addr: RwLock::new(peer_addr),
            policy,
            retired: CancellationToken::new(),
            origin: Instant::now(),
            end: Mutex::new(End {
                machine,
                outbox: Outbox::new(),
            }),
            wake: Notify::new(),
            timers: Notify::new(),
            incoming,
            admin: watch::Sender::new(admin),
            status: Mutex::new(Status {
                state,
                since_us: now_us(),
                remote: None,
                peer_boot_id: None,
                last_error: None,
            }),
            bytes_in: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            floods_won: AtomicU64::new(0),
            floods_stale: AtomicU64::new(0),
            flaps: AtomicU64::new(0),
            legacy_hello: std::sync::atomic::AtomicBool::new(false),
            inbox: Mutex::new(None),
            input_ended: Notify::new(),
        };
        (Arc::new(link), accepted)
    }

    /// The machine's time now.
    pub(super) fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// A machine time as a tokio instant, to sleep until.
    pub(super) fn instant(&self, at: Duration) -> Instant {
        self.origin + at
    }

    fn end(&self) -> MutexGuard<'_, End> {
        self.end
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn inbox(&self) -> MutexGuard<'_, Option<Inbox>> {
        self.inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn status(&self) -> MutexGuard<'_, Status> {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A session is up on the link.
    pub fn is_connected(&self) -> bool {
        self.end().machine.is_connected()
    }

    pub fn admin_state(&self) -> AdminState {
        *self.admin.borrow()
    }

    /// Where the peer is dialled.
    pub fn peer_addr(&self) -> herd_config::Address {
        self.peer_addr
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A reload moved the peer: the next dial goes there (a connection up
    /// now stays until it breaks).
    pub fn set_peer_addr(&self, addr: herd_config::Address) {
        *self.peer_addr.write().unwrap_or_else(|p| p.into_inner()) = addr;
    }

    /// A reload's new bound on the flood queue.
    pub fn set_queue_capacity(&self, capacity: usize) {
        self.end().machine.set_queue_capacity(capacity);
    }

    /// A reload removed the link: its task ends, its connection is closed
    /// and no other is taken or dialled (like a cut, but not saved).
    pub fn retire(&self) {
        self.retired.cancel();
        let now = self.now();
        {
            let mut end = self.end();
            end.machine.set_admin(now, false);
            end.outbox.detach();
        }
        *self.inbox() = None;
        self.set_state(ConnectionState::Down, None, None);
    }

    /// Applies the operator's wish. The link's task notices and closes or
    /// reconnects. A cut takes effect before this returns: the connection is
    /// taken out of the outbox (and [`Link::attach`] refuses one from now
    /// on), so no update written after the operator's command reaches the
    /// peer, and the machine refuses what still arrives.
    pub fn set_admin_state(&self, wanted: AdminState) {
        let now = self.now();
        match wanted {
            AdminState::Down => {
                self.cuts.fetch_add(1, Ordering::Relaxed);
                self.admin.send_replace(wanted);
                // Under the end lock, like `attach`: the two cannot cross.
                let mut end = self.end();
                end.machine.set_admin(now, false);
                end.outbox.detach();
                self.set_state(ConnectionState::Down, None, None);
            }
            AdminState::Up => {
                // Before the link's task wakes up and perhaps connects.
                if self.status().state == ConnectionState::Down {
                    self.set_state(ConnectionState::Connecting, None, None);
                }
                self.end().machine.set_admin(now, true);
                self.admin.send_replace(wanted);
            }
        }
    }

    /// How many times the operator has cut this link: a session that sees
    /// it change was cut, even if the link is up again by the time it ends.
    pub(super) fn cuts(&self) -> u64 {
        self.cuts.load(Ordering::Relaxed)
    }

    pub(super) fn watch_admin(&self) -> watch::Receiver<AdminState> {
        self.admin.subscribe()
    }

    pub(super) fn set_state(
        &self,
        state: ConnectionState,
        remote: Option<String>,
        peer_boot_id: Option<String>,
    ) {
        let mut status = self.status();
        if status.state != state {
            status.since_us = now_us();
        }
        status.state = state;
        status.remote = remote;
        status.peer_boot_id = peer_boot_id;
    }

    pub(super) fn note_error(&self, error: &str) {
        self.status().last_error = Some((error.to_owned(), now_us()));
    }

    /// The connection was lost (the session ended on its own).
    pub(super) fn count_flap(&self) {
        self.flaps.fetch_add(1, Ordering::Relaxed);
    }

    /// An update from the peer was merged: it won, or it did not.
    pub fn count_flood(&self, won: bool) {
        let counter = if won {
            &self.floods_won
        } else {
            &self.floods_stale
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The link as health sees it (herd_core::health).
    pub fn health(&self) -> herd_core::health::LinkHealth<'_> {
        let now = self.now();
        let (queue, queue_busy_for, repair_waiting_for) = {
            let end = self.end();
            (
                end.machine.queued(),
                end.machine.queue_busy_for(now),
                end.machine.repair_waiting_for(now),
            )
        };
        let status = self.status();
        LinkHealth {
            peer: &self.peer,
            admin_up: self.admin_state() == AdminState::Up,
            connected: status.state == ConnectionState::Connected,
            state_for: Duration::from_micros(now_us().saturating_sub(status.since_us)),
            queue,
            queue_busy_for,
            repair_waiting_for,
        }
    }

    /// The link's state for the admin snapshot.
    pub fn snapshot(&self) -> LinkStatus {
        let (stats, queue, bytes_out, opener) = {
            let end = self.end();
            (
                end.machine.stats(),
                end.machine.queued(),
                end.outbox.bytes_out(),
                end.machine.opener(),
            )
        };
        let status = self.status();
        LinkStatus {
            peer: self.peer.clone(),
            peer_addr: self.peer_addr().to_string(),
            admin: self.admin_state(),
            state: status.state,
            connected: status.state == ConnectionState::Connected,
            since_us: status.since_us,
            dials: opener == Some(Opener::Me),
            remote: status.remote.clone(),
            peer_boot_id: status.peer_boot_id.clone(),
            queue,
            msgs_in: stats.msgs_in,
            msgs_out: stats.msgs_out,
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out,
            overflows: stats.overflows,
            repair_rounds: stats.repair_rounds,
            repair_records_out: stats.repair_records_out,
            repair_records_in: stats.repair_records_in,
            floods_won: self.floods_won.load(Ordering::Relaxed),
            floods_stale: self.floods_stale.load(Ordering::Relaxed),
            flaps: self.flaps.load(Ordering::Relaxed),
            last_error: status.last_error.as_ref().map(|(e, _)| e.clone()),
            last_error_us: status.last_error.as_ref().map(|&(_, at)| at),
        }
    }

    /// Queues an update for the peer and writes it at once (when the link
    /// is connected and idle): one update outside any batch, for tests.
    #[cfg(test)]
    pub fn enqueue(&self, record: Arc<Record>) {
        let end = self.queue(record);
        self.write_now_or_wake(end);
    }

    /// The node committed `tombstone`: no queued copy it covers leaves
    /// this link, and with `send` it is queued for the peer, not written
    /// (the caller's batch, or [`Link::write_queued`], writes it).
    pub fn forgotten(&self, tombstone: Tombstone, send: bool) {
        let now = self.now();
        self.end().machine.forgotten(now, tombstone, send);
    }

    /// The node discarded its records older than `horizon` on its return
    /// from past the tombstone horizon: so does the link's queue. Returns
    /// the queued copies dropped.
    pub fn reset(&self, horizon: herd_proto::Nanos) -> usize {
        self.end().machine.reset(horizon)
    }

    /// Queues an update for the peer without writing it: the batch it
    /// belongs to writes the link when it ends ([`UpdateBatch`]).
    pub fn enqueue_later(&self, record: Arc<Record>) {
        drop(self.queue(record));
    }

    /// Writes what [`Link::enqueue_later`] queued, as `enqueue` would.
    pub(crate) fn write_queued(&self) {
        self.write_now_or_wake(self.end());
    }

    fn queue(&self, record: Arc<Record>) -> MutexGuard<'_, End> {
        let mut end = self.end();
        if end.machine.push(self.now(), record) == Push::Overflow {
            // The dropped update reaches the peer by repair instead.
            self.timers.notify_one();
            let overflows = end.machine.stats().overflows;
            if overflows.is_power_of_two() {
                warn!(peer = %self.peer, "send queue full: {overflows} updates dropped so far");
            }
        }
        end
    }

    /// Writes what the machine has for the wire right here, so it is on
    /// the wire before the caller goes on (answers its client); what the
    /// socket does not take, or a socket known to be full, is left to the
    /// session's writer.
    fn write_now_or_wake(&self, mut end: MutexGuard<'_, End>) {
        if end.outbox.writable() && matches!(end.flush(), Flush::Done) {
            return;
        }
        drop(end);
        self.wake.notify_one();
    }

    /// Moves what the machine has to the socket; see [`Flush`].
    pub(super) fn flush(&self) -> Flush<PeerSocket> {
        self.end().flush()
    }

    /// The machine's next timeout, if any.
    pub(super) fn next_timeout(&self) -> Option<Duration> {
        self.end().machine.poll_timeout()
    }

    /// When the dialling side should dial next (None: not now).
    pub(super) fn dial_at(&self) -> Option<Duration> {
        self.end().machine.dial_at()
    }

    pub(super) fn dialling(&self) {
        self.end().machine.dialling();
    }

    pub(super) fn dial_failed(&self) {
        let now = self.now();
        self.end().machine.dial_failed(now);
    }

    /// Whether the peer is dialled with the one version nodes from before
    /// version ranges read.
    pub(super) fn speaks_legacy_hello(&self) -> bool {
        self.legacy_hello.load(Ordering::Relaxed)
    }

    pub(super) fn use_legacy_hello(&self) {
        self.legacy_hello.store(true, Ordering::Relaxed);
    }

    /// A dial's task is gone without an outcome (its link task restarted).
    pub(super) fn dial_abandoned(&self) {
        let now = self.now();
        self.end().machine.dial_abandoned(now);
    }

    /// Should `connected`, which just completed its handshake, become the
    /// link's connection (replacing the current one, if any)? A dial of
    /// this node's own is over either way.
    pub(super) fn prefers(&self, connected: &Connected) -> bool {
        let mut end = self.end();
        if connected.opener == Opener::Me {
            end.machine.dial_succeeded();
        }
        end.machine
            .prefers(connected.opener, &connected.peer_boot_id)
    }

    /// Does what the machine has due; a reason to close the connection if
    /// it says so.
    pub(super) fn handle_timeout(&self, node: &Node) -> Option<String> {
        let now = self.now();
        let (close, end) = node.read_records(|records| {
            let mut end = self.end();
            (end.machine.handle_timeout(now, records), end)
        });
        self.write_now_or_wake(end);
        close.map(|close| close.to_string())
    }

    /// Makes `connection` the one lines go to and starts the machine's
    /// session (with the peer as its handshake said); false (and nothing
    /// changes) when the operator has cut the
    /// link. The machine's admin state is read under the end lock, which a
    /// cut takes after setting it, so a connection can never be attached
    /// after a cut has detached.
    pub(super) fn attach(
        &self,
        node: &Node,
        connection: Arc<PeerSocket>,
        inbox: Inbox,
        remote: &str,
        peer: &Handshook<'_>,
    ) -> bool {
        let Handshook {
            opener,
            peer_boot_id,
            version,
        } = *peer;
        // Before the session's first round: a node back from long away
        // drops what it must not bring back (herd-core's rule).
        node.in_contact();
        let now = self.now();
        let attached = node.read_records(|records| {
            let mut end = self.end();
            if !end.machine.admin_up() {
                return false;
            }
            end.machine.connected(now, records, opener, peer_boot_id);
            end.outbox
                .attach(connection, version >= herd_proto::peer::FORGET_VERSION);
            self.set_state(
                ConnectionState::Connected,
                Some(remote.to_owned()),
                Some(peer_boot_id.to_owned()),
            );
            true
        });
        if attached {
            *self.inbox() = Some(inbox);
        }
        attached
    }

    /// Forgets the connection: the machine's session ends (it redials after
    /// its back-off), the outbox drops a half-sent line.
    pub(super) fn detach(&self) {
        *self.inbox() = None;
        let now = self.now();
        let mut end = self.end();
        end.machine.closed(now);
        end.outbox.detach();
    }

    /// Merges every update that has already reached this node's socket, so
    /// that a client request answered next sees it. Cheap when there is
    /// nothing: one non-blocking `recv` that bypasses tokio's readiness
    /// flag (which lags the kernel until the runtime polls).
    pub fn catch_up(&self, node: &Node) {
        match self.drain_input(node, CATCH_UP_BUDGET, ReadVia::Kernel) {
            // The session reads the rest, or learns why there is none.
            Drained::Ended(_) | Drained::More => self.input_ended.notify_one(),
            Drained::Idle => {}
        }
    }

    /// Reads and handles what the peer has sent, up to `budget` bytes.
    /// Never waits.
    pub(super) fn drain_input(&self, node: &Node, budget: usize, via: ReadVia) -> Drained {
        let mut guard = self.inbox();
        let Some(inbox) = guard.as_mut() else {
            return Drained::Idle;
        };
        if let Some(reason) = &inbox.ended {
            return Drained::Ended(reason.clone());
        }
        let outcome = self.drain_until_end(node, inbox, budget, via);
        if let Drained::Ended(reason) = &outcome {
            inbox.ended = Some(reason.clone());
        }
        outcome
    }

    fn drain_until_end(
        &self,
        node: &Node,
        inbox: &mut Inbox,
        budget: usize,
        via: ReadVia,
    ) -> Drained {
        let mut read_total = 0;
        let mut batch = UpdateBatch::new(node);
        loop {
            // The lines one read brought in are one batch: what they won
            // is written to the log, and flooded, at its end.
            while let Some(frame) = inbox.next_frame() {
                if let Err(reason) = self.handle_frame(node, frame, &mut batch) {
                    return Drained::Ended(reason.to_string());
                }
            }
            batch.finish();
            if read_total >= budget {
                return Drained::More;
            }
            match inbox.fill(via) {
                Ok(0) => return Drained::Ended("peer closed the connection".to_owned()),
                Ok(read) => {
                    read_total += read;
                    self.bytes_in.fetch_add(read as u64, Ordering::Relaxed);
                    let now = self.now();
                    self.end().machine.input(now);
                    if inbox.wants_flush() {
                        // TLS answers something of its own (a key update).
                        self.wake.notify_one();
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    if inbox.wants_flush() {
                        self.wake.notify_one();
                    }
                    return Drained::Idle;
                }
                Err(err) => return Drained::Ended(err.to_string()),
            }
        }
    }

    /// One line from the peer, as the machine reads it.
    fn handle_frame(
        &self,
        node: &Node,
        frame: Frame,
        batch: &mut UpdateBatch<'_>,
    ) -> Result<(), PeerLineError> {
        let Frame::Line(line) = frame else {
            return Err(PeerLineError::TooLong);
        };
        let Ok(text) = std::str::from_utf8(&line) else {
            return Err(PeerLineError::NotUtf8);
        };
        let message = parse_peer_line(text).map_err(PeerLineError::Protocol)?;
        let received = self.end().machine.receive(message);
        match received {
            Received::Merge(record) => {
                // Not counted when the store could not keep it (an error,
                // logged): repair brings it again.
                if let Some(won) = node.on_peer_update(record, self.id, &self.peer, batch) {
                    self.count_flood(won);
                }
            }
            Received::Forget(tombstone) => {
                if let Some(won) = node.on_peer_forget(tombstone, self.id, &self.peer, batch) {
                    self.count_flood(won);
                }
            }
            Received::Repair(message) => {
                let now = self.now();
                // Answered from the records as they are now; written once
                // the records are unlocked.
                let end = node.read_records(|records| {
                    let mut end = self.end();
                    end.machine.answer_repair(now, message, records);
                    end
                });
                self.write_now_or_wake(end);
            }
            Received::Nothing => {}
            Received::Close(reason) => return Err(PeerLineError::Closed(reason)),
        }
        Ok(())
    }
}

/// What a connection's handshake said of the peer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Handshook<'a> {
    pub opener: Opener,
    pub peer_boot_id: &'a str,
    /// The protocol version agreed.
    pub version: u32,
}

/// Waits until the operator's state is `wanted`; false if it never can be
/// (the link was dropped).
pub(super) async fn until(admin: &mut watch::Receiver<AdminState>, wanted: AdminState) -> bool {
    admin.wait_for(|state| *state == wanted).await.is_ok()
}
