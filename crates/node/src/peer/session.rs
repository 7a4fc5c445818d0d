//! One connected period of a link: updates read and merged, the outbox
//! written, heartbeats both ways. Ends when the connection breaks, goes
//! silent, misbehaves, or is replaced by a newer one.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use herd_admin::{AdminState, EventKind, LinkChange};
use herd_proto::peer::{PeerMessage, parse_peer_line};
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{mpsc, watch};
use tokio::time::{MissedTickBehavior, interval, timeout};
use tracing::info;

use super::link::Flush;
use super::{Connected, Link};
use crate::line_reader::{Frame, LineReader};
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
        mut lines,
        peer_boot_id,
    } = connected;
    let remote = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let (mut reader, writer) = stream.into_split();
    if !link.attach(Arc::new(writer), &remote, &peer_boot_id) {
        return SessionEnd::Cut;
    }
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
        reason = read_updates(node, link, &mut reader, &mut lines) => SessionEnd::Lost(reason),
        reason = write_updates(link) => SessionEnd::Lost(reason),
        Some(newer) = accepted.recv() => SessionEnd::Replaced(newer),
    };
    link.detach();
    end
}

async fn read_updates(
    node: &Node,
    link: &Link,
    reader: &mut OwnedReadHalf,
    lines: &mut LineReader,
) -> String {
    loop {
        while let Some(frame) = lines.next_frame() {
            let Frame::Line(line) = frame else {
                return "peer sent an over-long line".to_owned();
            };
            let Ok(text) = std::str::from_utf8(&line) else {
                return "peer sent a line that is not UTF-8".to_owned();
            };
            match parse_peer_line(text) {
                Ok(PeerMessage::Update(record)) => {
                    if link.admin_state() == AdminState::Down {
                        // Cut by the operator: nothing crosses, even what
                        // was already in flight.
                        return "cut by the operator".to_owned();
                    }
                    link.msgs_in.fetch_add(1, Ordering::Relaxed);
                    node.on_peer_update(record, link.id);
                }
                Ok(PeerMessage::Ping) => {}
                Ok(_) => return "peer sent a handshake message after the handshake".to_owned(),
                Err(err) => return format!("protocol error: {err}"),
            }
        }
        match timeout(link.settings.dead_after, lines.fill(reader)).await {
            Err(_) => return format!("no traffic for {:?}", link.settings.dead_after),
            Ok(Ok(0)) => return "peer closed the connection".to_owned(),
            Ok(Err(err)) => return err.to_string(),
            Ok(Ok(read)) => {
                link.bytes_in.fetch_add(read as u64, Ordering::Relaxed);
            }
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
