//! A link to one peer: its outbox, and the task that keeps it connected.
//!
//! Exactly one side dials: the node whose name sorts first. The other side
//! accepts, so a link never has two competing connections; a new accepted
//! connection replaces the old one (the peer restarted).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use herd_admin::{AdminState, ConnectionState, EventKind, LinkChange, LinkStatus};
use herd_core::{Backoff, LinkId, Push, RepairReply, SendQueue};
use herd_proto::Record;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{debug, info, warn};

use super::Connected;
use super::handshake::{DialError, dial};
use super::inbox::{Drained, Inbox, ReadVia};
use super::session::{SessionEnd, run_session};
use crate::events::now_us;
use crate::node::Node;

#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Updates held for a peer while it is slow or away.
    pub queue_capacity: usize,
    /// A PING is sent this often.
    pub heartbeat: Duration,
    /// A link that has been silent this long is dead.
    pub dead_after: Duration,
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    /// The dialling side starts a repair round this often (with jitter).
    pub repair_every: Duration,
}

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            queue_capacity: 65_536,
            heartbeat: Duration::from_millis(500),
            dead_after: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(5),
            repair_every: Duration::from_secs(1),
        }
    }
}

/// Most a client request reads from one link before it is answered: enough
/// for any backlog but a flood at full speed, whose newest lines are then
/// still in flight anyway.
const CATCH_UP_BUDGET: usize = 256 * 1024;

/// Bytes waiting for the socket beyond which repair answers are dropped.
const REPAIR_BACKLOG_LIMIT: usize = 8 << 20;

/// A session this long counts as a working link.
const STABLE_SESSION: Duration = Duration::from_secs(5);

pub struct Link {
    pub id: LinkId,
    pub peer: String,
    pub peer_addr: SocketAddr,
    /// True when this node dials the peer, false when it waits for it.
    pub dials: bool,
    pub settings: LinkSettings,
    outbox: Mutex<Outbox>,
    /// Wakes the session's writer when the outbox has something to send.
    pub(super) wake: Notify,
    /// Accepted connections for this link, from the peer listener.
    pub(super) incoming: mpsc::Sender<Connected>,
    /// The operator's wish: `Down` closes the connection, stops dialling and
    /// refuses the peer until `Up`.
    admin: watch::Sender<AdminState>,
    /// What the link is doing, for the admin snapshot.
    status: Mutex<Status>,
    pub(super) msgs_in: AtomicU64,
    pub(super) bytes_in: AtomicU64,
    cuts: AtomicU64,
    /// The read side while connected; see [`Inbox`].
    inbox: Mutex<Option<Inbox>>,
    /// Wakes the session when a drain outside it found the connection over.
    pub(super) input_ended: Notify,
    /// Asks the session for a repair round now (the queue overflowed).
    pub(super) repair_now: Notify,
    pub(super) repair_rounds: AtomicU64,
    pub(super) repair_records_out: AtomicU64,
}

struct Status {
    state: ConnectionState,
    since_us: u64,
    remote: Option<String>,
    peer_boot_id: Option<String>,
    last_error: Option<(String, u64)>,
}

/// What waits to be sent, and where to.
struct Outbox {
    queue: SendQueue,
    /// Lines taken from the queue but not yet accepted by the socket.
    pending: BytesMut,
    connection: Option<Arc<OwnedWriteHalf>>,
    /// The socket took part of `pending`'s first line: the rest of that
    /// line must never go to another connection.
    mid_line: bool,
    /// The socket refused bytes; the session's writer waits until it takes
    /// them again.
    blocked: bool,
    overflows: u64,
    msgs_out: u64,
    bytes_out: u64,
}

/// Outcome of trying to push the outbox into the socket.
pub(super) enum Flush {
    Done,
    /// The socket is full; wait until it is writable.
    Blocked(Arc<OwnedWriteHalf>),
    Disconnected,
}

impl Link {
    pub fn new(
        id: LinkId,
        me: &str,
        peer: &str,
        peer_addr: SocketAddr,
        settings: LinkSettings,
        admin: AdminState,
    ) -> (Arc<Link>, mpsc::Receiver<Connected>) {
        let (incoming, accepted) = mpsc::channel(1);
        let outbox = Outbox {
            queue: SendQueue::new(settings.queue_capacity),
            pending: BytesMut::new(),
            connection: None,
            mid_line: false,
            blocked: false,
            overflows: 0,
            msgs_out: 0,
            bytes_out: 0,
        };
        let state = match admin {
            AdminState::Up => ConnectionState::Connecting,
            AdminState::Down => ConnectionState::Down,
        };
        let link = Link {
            id,
            peer: peer.to_owned(),
            peer_addr,
            dials: me < peer,
            settings,
            outbox: Mutex::new(outbox),
            wake: Notify::new(),
            incoming,
            admin: watch::Sender::new(admin),
            status: Mutex::new(Status {
                state,
                since_us: now_us(),
                remote: None,
                peer_boot_id: None,
                last_error: None,
            }),
            msgs_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            inbox: Mutex::new(None),
            input_ended: Notify::new(),
            repair_now: Notify::new(),
            repair_rounds: AtomicU64::new(0),
            repair_records_out: AtomicU64::new(0),
        };
        (Arc::new(link), accepted)
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox
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

    pub fn admin_state(&self) -> AdminState {
        *self.admin.borrow()
    }

    /// Applies the operator's wish. The link's task notices and closes or
    /// reconnects. A cut takes effect before this returns: the connection is
    /// taken out of the outbox (and [`Link::attach`] refuses one from now
    /// on), so no update written after the operator's command reaches the
    /// peer, and the session reader drops what still arrives.
    pub fn set_admin_state(&self, wanted: AdminState) {
        if wanted == AdminState::Down {
            self.cuts.fetch_add(1, Ordering::Relaxed);
        }
        match wanted {
            AdminState::Down => {
                self.admin.send_replace(wanted);
                // Under the outbox lock, like `attach`: the two cannot cross.
                let mut outbox = self.outbox();
                outbox.drop_partial_line();
                outbox.connection = None;
                self.set_state(ConnectionState::Down, None, None);
            }
            AdminState::Up => {
                // Before the link's task wakes up and perhaps connects.
                if self.status().state == ConnectionState::Down {
                    self.set_state(ConnectionState::Connecting, None, None);
                }
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

    fn set_state(
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

    /// The link's state for the admin snapshot.
    pub fn snapshot(&self) -> LinkStatus {
        let (queue, msgs_out, bytes_out, overflows) = {
            let outbox = self.outbox();
            (
                outbox.queue.len(),
                outbox.msgs_out,
                outbox.bytes_out,
                outbox.overflows,
            )
        };
        let status = self.status();
        LinkStatus {
            peer: self.peer.clone(),
            peer_addr: self.peer_addr.to_string(),
            admin: self.admin_state(),
            state: status.state,
            connected: status.state == ConnectionState::Connected,
            since_us: status.since_us,
            dials: self.dials,
            remote: status.remote.clone(),
            peer_boot_id: status.peer_boot_id.clone(),
            queue,
            msgs_in: self.msgs_in.load(Ordering::Relaxed),
            msgs_out,
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out,
            overflows,
            repair_rounds: self.repair_rounds.load(Ordering::Relaxed),
            repair_records_out: self.repair_records_out.load(Ordering::Relaxed),
            last_error: status.last_error.as_ref().map(|(e, _)| e.clone()),
            last_error_us: status.last_error.as_ref().map(|&(_, at)| at),
        }
    }

    /// Queues an update for the peer. When the link is connected and idle
    /// the update is written to the socket right here, so it is on the wire
    /// before the caller answers its client.
    pub fn enqueue(&self, record: Arc<Record>) {
        let mut outbox = self.outbox();
        if outbox.queue.push(record) == Push::Overflow {
            outbox.overflows += 1;
            // The dropped update reaches the peer by repair instead.
            self.repair_now.notify_one();
            if outbox.overflows.is_power_of_two() {
                warn!(peer = %self.peer, "send queue full: {} updates dropped so far", outbox.overflows);
            }
        }
        self.write_now_or_wake(outbox);
    }

    /// Writes what is pending and queued into the socket right here, so it
    /// is on the wire before the caller goes on (answers its client); what
    /// the socket does not take, or a socket known to be full, is left to
    /// the session's writer. Pending bytes (a heartbeat, lines kept over a
    /// reconnect, repair answers) go first.
    fn write_now_or_wake(&self, mut outbox: MutexGuard<'_, Outbox>) {
        if outbox.connection.is_some()
            && !outbox.blocked
            && let Flush::Done = outbox.flush()
        {
            return;
        }
        drop(outbox);
        self.wake.notify_one();
    }

    /// Makes `inbox` the connection updates are read from.
    pub(super) fn open_inbox(&self, inbox: Inbox) {
        *self.inbox() = Some(inbox);
    }

    pub(super) fn close_inbox(&self) {
        *self.inbox() = None;
    }

    /// Reads and merges what the peer has sent, up to `budget` bytes.
    pub(super) fn drain_input(&self, node: &Node, budget: usize, via: ReadVia) -> Drained {
        match self.inbox().as_mut() {
            Some(inbox) => inbox.drain(node, self, budget, via),
            None => Drained::Idle,
        }
    }

    /// When the peer last sent anything on the current connection.
    pub(super) fn last_input(&self) -> Option<Instant> {
        self.inbox().as_ref().map(|inbox| inbox.last_input)
    }

    /// Merges every update that has already reached this node's socket, so
    /// that a client request answered next sees it. Cheap when there is
    /// nothing: one non-blocking `recv` that bypasses tokio's readiness
    /// flag (which lags the kernel until the runtime polls).
    pub fn catch_up(&self, node: &Node) {
        if let Drained::Ended(_) = self.drain_input(node, CATCH_UP_BUDGET, ReadVia::Kernel) {
            self.input_ended.notify_one();
        }
    }

    /// Starts a repair round on the current connection (`force`: even if
    /// one is under way).
    /// True if a round started (false: none may start yet, or no
    /// connection).
    pub(super) fn start_repair(&self, node: &Node, force: bool) -> bool {
        match self.inbox().as_mut() {
            Some(inbox) => inbox.start_repair(node, self, force),
            None => false,
        }
    }

    /// Sends a repair answer: its records, then its messages, in that order
    /// and ahead of queued floods (which may be of the same clients; merge
    /// order does not matter).
    pub(super) fn send_repair(&self, reply: RepairReply) {
        if reply.records.is_empty() && reply.messages.is_empty() {
            return;
        }
        let mut outbox = self.outbox();
        // Not for a connection that is gone (the next one starts afresh),
        // nor on top of a backlog the socket is not taking: a later round
        // does this one's work once the link drains.
        if outbox.connection.is_none() || outbox.pending.len() > REPAIR_BACKLOG_LIMIT {
            debug!(peer = %self.peer, "repair answer dropped: link down or {} bytes pending", outbox.pending.len());
            return;
        }
        self.repair_records_out
            .fetch_add(reply.records.len() as u64, Ordering::Relaxed);
        for record in &reply.records {
            outbox
                .pending
                .extend_from_slice(record.at_line().as_bytes());
            outbox.pending.extend_from_slice(b"\n");
        }
        for message in &reply.messages {
            outbox
                .pending
                .extend_from_slice(message.to_line().as_bytes());
        }
        self.write_now_or_wake(outbox);
    }

    /// Moves queued updates to the socket; see [`Flush`].
    pub(super) fn flush(&self) -> Flush {
        self.outbox().flush()
    }

    /// Adds a heartbeat after whatever is pending.
    pub(super) fn push_ping(&self) {
        self.outbox()
            .pending
            .extend_from_slice(herd_proto::peer::PING_LINE);
    }

    /// Makes `connection` the one updates go to; false (and nothing
    /// changes) when the operator has cut the link. The admin state is read
    /// under the outbox lock, which a cut takes after setting it, so a
    /// connection can never be attached after a cut has detached.
    pub(super) fn attach(
        &self,
        connection: Arc<OwnedWriteHalf>,
        remote: &str,
        peer_boot_id: &str,
    ) -> bool {
        let mut outbox = self.outbox();
        if self.admin_state() == AdminState::Down {
            return false;
        }
        outbox.connection = Some(connection);
        outbox.blocked = false;
        self.set_state(
            ConnectionState::Connected,
            Some(remote.to_owned()),
            Some(peer_boot_id.to_owned()),
        );
        true
    }

    /// Forgets the connection. Complete lines taken from the queue but not
    /// yet written stay for the next connection; the rest of a line the
    /// socket took part of is dropped, as it must never reach another
    /// connection. The queue stays too.
    pub(super) fn detach(&self) {
        let mut outbox = self.outbox();
        outbox.drop_partial_line();
        outbox.connection = None;
    }
}

impl Outbox {
    fn flush(&mut self) -> Flush {
        let Some(connection) = self.connection.clone() else {
            return Flush::Disconnected;
        };
        loop {
            if self.pending.is_empty() {
                // Batch everything queued into one write.
                while let Some(record) = self.queue.pop() {
                    self.pending.extend_from_slice(record.at_line().as_bytes());
                    self.pending.extend_from_slice(b"\n");
                    self.msgs_out += 1;
                    if self.pending.len() >= 64 * 1024 {
                        break;
                    }
                }
                if self.pending.is_empty() {
                    self.blocked = false;
                    return Flush::Done;
                }
            }
            match connection.try_write(&self.pending) {
                Ok(written) => {
                    if written > 0 {
                        self.mid_line = self.pending[written - 1] != b'\n';
                    }
                    self.pending.advance(written);
                    self.bytes_out += written as u64;
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    self.blocked = true;
                    return Flush::Blocked(connection);
                }
                Err(err) => {
                    debug!("peer write failed: {err}");
                    self.drop_partial_line();
                    self.connection = None;
                    return Flush::Disconnected;
                }
            }
        }
    }

    fn drop_partial_line(&mut self) {
        if self.mid_line {
            match self.pending.iter().position(|&b| b == b'\n') {
                Some(end) => self.pending.advance(end + 1),
                None => self.pending.clear(),
            }
            self.mid_line = false;
        }
    }
}

/// Keeps `link` connected for as long as the node runs, except while the
/// operator has it down.
pub async fn run_link(node: Arc<Node>, link: Arc<Link>, mut accepted: mpsc::Receiver<Connected>) {
    let mut admin = link.watch_admin();
    let mut backoff = Backoff::default();
    let mut failures: u32 = 0;
    let mut next: Option<Connected> = None;
    loop {
        if *admin.borrow_and_update() == AdminState::Down {
            link.set_state(ConnectionState::Down, None, None);
            stay_down(&link, &mut admin, &mut accepted).await;
            link.set_state(ConnectionState::Connecting, None, None);
            backoff.reset();
            failures = 0;
            next = None;
            continue;
        }
        let connected = match next.take() {
            Some(connected) => connected,
            None if link.dials => {
                let attempt = tokio::select! {
                    attempt = dial(&node, &link) => attempt,
                    _ = until(&mut admin, AdminState::Down) => continue,
                };
                match attempt {
                    Ok(connected) => {
                        failures = 0;
                        connected
                    }
                    Err(err) => {
                        failures += 1;
                        link.note_error(&err.to_string());
                        if let DialError::Refused(reason) = &err {
                            node.events.publish_with(|| EventKind::Link {
                                peer: link.peer.clone(),
                                change: LinkChange::Refused,
                                reason: Some(format!("refused by {}: {reason}", link.peer)),
                            });
                        }
                        // The first failure is news; the retries every ~2 s are not.
                        if failures == 1 {
                            warn!(peer = %link.peer, "cannot connect to {}: {err}; retrying", link.peer_addr);
                        } else {
                            debug!(peer = %link.peer, "connect attempt {failures} failed: {err}");
                        }
                        let delay = backoff.next_delay(fastrand::f64());
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            _ = until(&mut admin, AdminState::Down) => {}
                        }
                        continue;
                    }
                }
            }
            None => tokio::select! {
                connected = accepted.recv() => match connected {
                    Some(connected) => connected,
                    None => return,
                },
                _ = until(&mut admin, AdminState::Down) => continue,
            },
        };
        let started = tokio::time::Instant::now();
        let cuts = link.cuts();
        let mut end = run_session(&node, &link, connected, &mut accepted, &mut admin).await;
        if link.cuts() != cuts && matches!(end, SessionEnd::Lost(_)) {
            // The cut detached the connection, so the writer may have failed
            // before the session saw the cut (or the link is up again).
            end = SessionEnd::Cut;
        }
        if link.admin_state() == AdminState::Up {
            link.set_state(ConnectionState::Connecting, None, None);
        }
        // Only a link that stayed up a while resets the back-off, so a peer
        // that accepts and drops at once is not redialled in a tight loop.
        if started.elapsed() >= STABLE_SESSION {
            backoff.reset();
        }
        match end {
            SessionEnd::Lost(reason) => {
                info!(peer = %link.peer, "link lost: {reason}");
                link.note_error(&reason);
                node.events.publish_with(|| EventKind::Link {
                    peer: link.peer.clone(),
                    change: LinkChange::Down,
                    reason: Some(reason.clone()),
                });
                if link.dials {
                    let delay = backoff.next_delay(fastrand::f64());
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = until(&mut admin, AdminState::Down) => {}
                    }
                }
            }
            SessionEnd::Replaced(connected) => {
                info!(peer = %link.peer, "link replaced by a new connection from the peer");
                next = Some(connected);
            }
            SessionEnd::Cut => {
                info!(peer = %link.peer, "link closed: cut by the operator");
            }
        }
    }
}

/// Waits until the operator restores the link. Connections the listener
/// handed over just before the cut are closed unused.
async fn stay_down(
    link: &Link,
    admin: &mut watch::Receiver<AdminState>,
    accepted: &mut mpsc::Receiver<Connected>,
) {
    loop {
        tokio::select! {
            up = until(admin, AdminState::Up) => {
                if !up {
                    // The link is gone (node stopping): never comes back up.
                    std::future::pending::<()>().await;
                }
                return;
            }
            Some(connected) = accepted.recv() => {
                debug!(peer = %link.peer, "closing a connection accepted as the link was cut");
                drop(connected);
            }
        }
    }
}

/// Waits until the operator's state is `wanted`; false if it never can be
/// (the link was dropped).
pub(super) async fn until(admin: &mut watch::Receiver<AdminState>, wanted: AdminState) -> bool {
    admin.wait_for(|state| *state == wanted).await.is_ok()
}
