//! One connected period of a link: what the peer sends read and handled,
//! the machine's lines written, its timers (heartbeats, the dead-link
//! timeout, repair rounds) kept. Ends when the connection breaks, goes
//! silent, misbehaves, or is replaced by one the link machine prefers.

use std::sync::Arc;

use herd_admin::{AdminState, EventClass, EventKind, LinkChange};
use herd_core::Opener;
use tokio::sync::{mpsc, watch};
use tokio::time::sleep_until;
use tracing::{debug, info};

use super::connection::{Arrival, Connected};
use super::inbox::{Inbox, ReadVia};
use super::link::{Drained, Handshook, Link, until};
use super::outbox::Flush;
use super::socket::PeerSocket;
use crate::node::Node;

pub(super) enum SessionEnd {
    Lost(String),
    Replaced(Box<Connected>),
    /// The operator cut the link.
    Cut,
}

/// Bytes the session reads before it lets other tasks run.
const SESSION_BUDGET: usize = 64 * 1024;

pub(super) async fn run_session(
    node: &Arc<Node>,
    link: &Arc<Link>,
    connected: Connected,
    arrivals: &mut mpsc::Receiver<Arrival>,
    admin: &mut watch::Receiver<AdminState>,
) -> SessionEnd {
    let Connected {
        socket,
        lines,
        opener,
        peer_boot_id,
        version,
    } = connected;
    let remote = socket
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let socket = Arc::new(socket);
    let inbox = Inbox::new(socket.clone(), lines);
    let peer = Handshook {
        opener,
        peer_boot_id: &peer_boot_id,
        version,
    };
    if !link.attach(node, socket.clone(), inbox, &remote, &peer) {
        return SessionEnd::Cut;
    }
    // Logged once the link can carry updates (tests and operators rely on it).
    let how = match opener {
        Opener::Me => "dialled",
        Opener::Peer => "accepted",
    };
    let tls = if socket.is_tls() { ", TLS 1.3" } else { "" };
    info!(
        peer = %link.peer,
        "link up ({how}, {remote}, peer boot {peer_boot_id}, protocol {version}{tls})"
    );
    node.events
        .publish_with(EventClass::Link, || EventKind::Link {
            peer: link.peer.clone(),
            change: LinkChange::Up,
            reason: Some(format!("{how}, {remote}")),
        });
    // Send what queued up while the link was down.
    link.wake.notify_one();
    let reading = read_input(node, link, &socket);
    let writing = write_output(link);
    let timing = keep_timers(node, link);
    tokio::pin!(reading, writing, timing);
    let end = loop {
        tokio::select! {
            // A cut wins over anything else that is ready.
            biased;
            _ = until(admin, AdminState::Down) => break SessionEnd::Cut,
            reason = &mut reading => break SessionEnd::Lost(reason),
            reason = &mut writing => break SessionEnd::Lost(reason),
            reason = &mut timing => break SessionEnd::Lost(reason),
            Some(arrival) = arrivals.recv() => match arrival {
                Arrival::Connected(other) if link.prefers(&other) => {
                    break SessionEnd::Replaced(other);
                }
                Arrival::Connected(other) => {
                    // Dropped, so closed: this one stays (collision rule).
                    debug!(peer = %link.peer, "kept the link's connection; closed one {}", match other.opener {
                        Opener::Me => "this node dialled",
                        Opener::Peer => "the peer dialled",
                    });
                }
                // A dial that was under way when the peer's connection came.
                Arrival::DialFailed(_) => link.dial_failed(),
            },
        }
    };
    link.detach();
    socket.close();
    end
}

async fn read_input(node: &Node, link: &Link, socket: &PeerSocket) -> String {
    loop {
        match link.drain_input(node, SESSION_BUDGET, ReadVia::Runtime) {
            Drained::Ended(reason) => return reason,
            Drained::More => {
                tokio::task::yield_now().await;
                continue;
            }
            Drained::Idle => {}
        }
        tokio::select! {
            readable = socket.readable() => {
                if let Err(err) = readable {
                    return err.to_string();
                }
            }
            // A client request's drain found the end; the next drain says why.
            () = link.input_ended.notified() => {}
        }
    }
}

async fn write_output(link: &Link) -> String {
    loop {
        match link.flush() {
            Flush::Done => {}
            Flush::Blocked(connection) => {
                if let Err(err) = connection.writable().await {
                    return err.to_string();
                }
                continue;
            }
            Flush::Disconnected => return "write to the peer failed".to_owned(),
        }
        link.wake.notified().await;
    }
}

/// Sleeps until the machine's next timeout and lets it act; returns when
/// it wants the connection closed (silent for too long).
async fn keep_timers(node: &Node, link: &Link) -> String {
    loop {
        if let Some(at) = link.next_timeout() {
            tokio::select! {
                () = sleep_until(link.instant(at)) => {}
                // Moved earlier: look again.
                () = link.timers.notified() => {}
            }
        } else {
            link.timers.notified().await;
        }
        if let Some(reason) = link.handle_timeout(node) {
            return reason;
        }
    }
}
