//! One connected period of a link: updates read and merged, the outbox
//! written, heartbeats both ways. Ends when the connection breaks, goes
//! silent, misbehaves, or is replaced by a newer one.

use std::sync::Arc;
use std::time::Instant;

use herd_admin::{AdminState, EventKind, LinkChange};
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{mpsc, watch};
use tokio::time::{MissedTickBehavior, interval, sleep_until};
use tracing::info;

use super::inbox::{Drained, Inbox, ReadVia};
use super::link::Flush;
use super::{Connected, Link};
use crate::node::Node;

pub(super) enum SessionEnd {
    Lost(String),
    Replaced(Connected),
    /// The operator cut the link.
    Cut,
}

pub(super) async fn run_session(
    node: &Arc<Node>,
    link: &Arc<Link>,
    connected: Connected,
    accepted: &mut mpsc::Receiver<Connected>,
    admin: &mut watch::Receiver<AdminState>,
) -> SessionEnd {
    let Connected {
        stream,
        lines,
        peer_boot_id,
    } = connected;
    let remote = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let (reader, writer) = stream.into_split();
    if !link.attach(Arc::new(writer), &remote, &peer_boot_id) {
        return SessionEnd::Cut;
    }
    let reader = Arc::new(reader);
    link.open_inbox(Inbox::new(reader.clone(), lines));
    // Logged once the link can carry updates (tests and operators rely on it).
    let how = if link.dials { "dialled" } else { "accepted" };
    info!(peer = %link.peer, "link up ({how}, {remote}, peer boot {peer_boot_id})");
    node.events.publish_with(|| EventKind::Link {
        peer: link.peer.clone(),
        change: LinkChange::Up,
        reason: Some(format!("{how}, {remote}")),
    });
    // Send what queued up while the link was down.
    link.wake.notify_one();
    let end = tokio::select! {
        // A cut wins over anything else that is ready.
        biased;
        _ = super::link::until(admin, AdminState::Down) => SessionEnd::Cut,
        reason = read_updates(node, link, &reader) => SessionEnd::Lost(reason),
        reason = write_updates(link) => SessionEnd::Lost(reason),
        never = repair_rounds(node, link) => match never {},
        Some(newer) = accepted.recv() => SessionEnd::Replaced(newer),
    };
    link.detach();
    link.close_inbox();
    end
}

/// Bytes the session reads before it lets other tasks run.
const SESSION_BUDGET: usize = 64 * 1024;

async fn read_updates(node: &Node, link: &Link, reader: &OwnedReadHalf) -> String {
    let dead_after = link.settings.dead_after;
    loop {
        match link.drain_input(node, SESSION_BUDGET, ReadVia::Runtime) {
            Drained::Ended(reason) => return reason,
            Drained::More => {
                tokio::task::yield_now().await;
                continue;
            }
            Drained::Idle => {}
        }
        let last_input = link.last_input().unwrap_or_else(Instant::now);
        tokio::select! {
            readable = reader.readable() => {
                if let Err(err) = readable {
                    return err.to_string();
                }
            }
            // A client request's drain found the end; the next drain says why.
            () = link.input_ended.notified() => {}
            () = sleep_until((last_input + dead_after).into()) => {
                // A client request's drain may have read since.
                if link.last_input().is_some_and(|last| last.elapsed() >= dead_after) {
                    return format!("no traffic for {dead_after:?}");
                }
            }
        }
    }
}

const RETRY_WANTED: std::time::Duration = std::time::Duration::from_millis(100);

/// Starts repair rounds: the dialling side at once and then periodically
/// (one SYNC per period when nothing differs), either side when its queue
/// for the peer overflowed.
async fn repair_rounds(node: &Node, link: &Link) -> std::convert::Infallible {
    if link.dials {
        link.start_repair(node, true);
    }
    // An overflow's round that could not start yet (one is under way, or
    // the last started under 100 ms ago) is tried again this often.
    let mut wanted = false;
    loop {
        // ±20 % so that the links of a herd do not all sync in step.
        let period = link
            .settings
            .repair_every
            .mul_f64(0.8 + 0.4 * fastrand::f64());
        let retry = if wanted { RETRY_WANTED } else { period };
        tokio::select! {
            () = tokio::time::sleep(retry.min(period)) => {
                if wanted {
                    wanted = !link.start_repair(node, false);
                } else if link.dials {
                    link.start_repair(node, false);
                }
            }
            () = link.repair_now.notified() => wanted = !link.start_repair(node, false),
        }
    }
}

async fn write_updates(link: &Link) -> String {
    let mut heartbeat = interval(link.settings.heartbeat);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
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
        tokio::select! {
            () = link.wake.notified() => {}
            _ = heartbeat.tick() => link.push_ping(),
        }
    }
}
