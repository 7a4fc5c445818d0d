//! A link to one peer: its outbox, and the task that keeps it connected.
//!
//! Exactly one side dials: the node whose name sorts first. The other side
//! accepts, so a link never has two competing connections; a new accepted
//! connection replaces the old one (the peer restarted).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use herd_core::{Backoff, LinkId, Push, SendQueue};
use herd_proto::Record;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Notify, mpsc};
use tracing::{debug, info, warn};

use super::Connected;
use super::handshake::dial;
use super::session::{SessionEnd, run_session};
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
}

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            queue_capacity: 65_536,
            heartbeat: Duration::from_millis(500),
            dead_after: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

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
}

/// What waits to be sent, and where to.
struct Outbox {
    queue: SendQueue,
    /// Lines taken from the queue but not yet accepted by the socket.
    pending: BytesMut,
    connection: Option<Arc<OwnedWriteHalf>>,
    overflows: u64,
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
    ) -> (Arc<Link>, mpsc::Receiver<Connected>) {
        let (incoming, accepted) = mpsc::channel(1);
        let outbox = Outbox {
            queue: SendQueue::new(settings.queue_capacity),
            pending: BytesMut::new(),
            connection: None,
            overflows: 0,
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
        };
        (Arc::new(link), accepted)
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues an update for the peer. When the link is connected and idle
    /// the update is written to the socket right here, so it is on the wire
    /// before the caller answers its client.
    pub fn enqueue(&self, record: Arc<Record>) {
        let mut outbox = self.outbox();
        if outbox.queue.push(record) == Push::Overflow {
            outbox.overflows += 1;
            if outbox.overflows.is_power_of_two() {
                warn!(peer = %self.peer, "send queue full: {} updates dropped so far", outbox.overflows);
            }
        }
        if outbox.pending.is_empty() && outbox.connection.is_some() {
            if let Flush::Done = outbox.flush() {
                return;
            }
        }
        drop(outbox);
        self.wake.notify_one();
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

    pub(super) fn attach(&self, connection: Arc<OwnedWriteHalf>) {
        let mut outbox = self.outbox();
        outbox.pending.clear();
        outbox.connection = Some(connection);
    }

    /// Forgets the connection. Bytes of a half-written line must never
    /// reach the next connection, so the pending bytes go too; the queue
    /// (updates not yet taken) stays for the next connection.
    pub(super) fn detach(&self) {
        let mut outbox = self.outbox();
        outbox.pending.clear();
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
                    if self.pending.len() >= 64 * 1024 {
                        break;
                    }
                }
                if self.pending.is_empty() {
                    return Flush::Done;
                }
            }
            match connection.try_write(&self.pending) {
                Ok(written) => self.pending.advance(written),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    return Flush::Blocked(connection);
                }
                Err(err) => {
                    debug!("peer write failed: {err}");
                    self.pending.clear();
                    self.connection = None;
                    return Flush::Disconnected;
                }
            }
        }
    }
}

/// Keeps `link` connected for as long as the node runs.
pub async fn run_link(node: Arc<Node>, link: Arc<Link>, mut accepted: mpsc::Receiver<Connected>) {
    let mut backoff = Backoff::default();
    let mut failures: u32 = 0;
    let mut next: Option<Connected> = None;
    loop {
        let connected = match next.take() {
            Some(connected) => connected,
            None if link.dials => match dial(&node, &link).await {
                Ok(connected) => {
                    failures = 0;
                    connected
                }
                Err(err) => {
                    failures += 1;
                    // The first failure is news; the retries every ~2 s are not.
                    if failures == 1 {
                        warn!(peer = %link.peer, "cannot connect to {}: {err}; retrying", link.peer_addr);
                    } else {
                        debug!(peer = %link.peer, "connect attempt {failures} failed: {err}");
                    }
                    tokio::time::sleep(backoff.next_delay(fastrand::f64())).await;
                    continue;
                }
            },
            None => match accepted.recv().await {
                Some(connected) => connected,
                None => return,
            },
        };
        let started = tokio::time::Instant::now();
        let end = run_session(&node, &link, connected, &mut accepted).await;
        // Only a link that stayed up a while resets the back-off, so a peer
        // that accepts and drops at once is not redialled in a tight loop.
        if started.elapsed() >= STABLE_SESSION {
            backoff.reset();
        }
        match end {
            SessionEnd::Lost(reason) => {
                info!(peer = %link.peer, "link lost: {reason}");
                if link.dials {
                    tokio::time::sleep(backoff.next_delay(fastrand::f64())).await;
                }
            }
            SessionEnd::Replaced(connected) => {
                info!(peer = %link.peer, "link replaced by a new connection from the peer");
                next = Some(connected);
            }
        }
    }
}
