//! The peer port: accepts connections, checks the handshake, and hands each
//! good connection to its link's task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herd_admin::{AdminState, EventKind, LinkChange};
use herd_proto::peer::{PeerMessage, hello_line, parse_peer_line};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tracing::{info, warn};

use super::auth::{Parties, authenticate};
use super::connection::{Connected, peer_line_reader};
use super::handshake::{check_hello, read_line, refuse};
use crate::accept::accept_forever;
use crate::node::Node;

/// Handshakes under way at once: a stranger opening connections by the
/// thousand is cut off at the door instead of holding descriptors and
/// buffers for the handshake's seconds each.
const MAX_PENDING_HANDSHAKES: usize = 64;
static PENDING_HANDSHAKES: AtomicUsize = AtomicUsize::new(0);

/// At most this many refusals are logged per window; the rest are counted
/// and reported with the next one (a connect loop must not fill the disk).
const REFUSALS_LOGGED_PER_WINDOW: u32 = 20;
const REFUSAL_WINDOW: Duration = Duration::from_secs(10);
static REFUSAL_LOG: Mutex<(Option<Instant>, u32, u64)> = Mutex::new((None, 0, 0));

/// Logs a refused or dropped peer connection, rate-limited.
fn log_refusal(message: std::fmt::Arguments<'_>) {
    let mut log = REFUSAL_LOG.lock().unwrap_or_else(|p| p.into_inner());
    let (window, logged, suppressed) = &mut *log;
    if window.is_none_or(|start| start.elapsed() >= REFUSAL_WINDOW) {
        *window = Some(Instant::now());
        *logged = 0;
    }
    if *logged < REFUSALS_LOGGED_PER_WINDOW {
        *logged += 1;
        if *suppressed > 0 {
            warn!("{message} ({suppressed} more refused peer connections were not logged)");
            *suppressed = 0;
        } else {
            warn!("{message}");
        }
    } else {
        *suppressed += 1;
    }
}

pub async fn serve_peers(node: Arc<Node>, listener: TcpListener) {
    accept_forever(listener, "peer", |stream, remote| {
        accept_peer(node.clone(), stream, remote)
    })
    .await
}

/// One pending handshake, released when dropped.
struct Pending;

impl Pending {
    fn take() -> Option<Pending> {
        let before = PENDING_HANDSHAKES.fetch_add(1, Ordering::AcqRel);
        if before >= MAX_PENDING_HANDSHAKES {
            PENDING_HANDSHAKES.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Pending)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        PENDING_HANDSHAKES.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn accept_peer(node: Arc<Node>, stream: TcpStream, remote: SocketAddr) {
    let Some(pending) = Pending::take() else {
        log_refusal(format_args!(
            "peer connection from {remote} dropped: {MAX_PENDING_HANDSHAKES} handshakes already under way"
        ));
        return;
    };
    handshake(node, stream, remote, pending).await;
}

async fn handshake(node: Arc<Node>, mut stream: TcpStream, remote: SocketAddr, pending: Pending) {
    let _ = stream.set_nodelay(true);
    let handshake_timeout = node
        .links
        .first()
        .map(|link| link.policy.handshake_timeout)
        .unwrap_or(std::time::Duration::from_secs(5));
    let mut lines = peer_line_reader();
    let line = match timeout(handshake_timeout, read_line(&mut stream, &mut lines)).await {
        Ok(Ok(line)) => line,
        Ok(Err(reason)) => {
            log_refusal(format_args!(
                "peer connection from {remote} dropped: {reason}"
            ));
            return refuse(stream, &reason).await;
        }
        Err(_) => {
            log_refusal(format_args!(
                "peer connection from {remote} dropped: no handshake within {handshake_timeout:?}"
            ));
            return refuse(stream, "no handshake in time").await;
        }
    };
    let hello = match parse_peer_line(&line) {
        Ok(PeerMessage::Hello(hello)) => hello,
        _ => {
            log_refusal(format_args!(
                "peer connection from {remote} refused: expected HELLO, got {:?}",
                truncate(&line)
            ));
            return refuse(stream, "expected HELLO").await;
        }
    };
    let verdict = check_hello(&node, &hello, None).and_then(|()| {
        let link = node
            .links
            .iter()
            .find(|link| link.peer == hello.node)
            .ok_or_else(|| {
                format!(
                    "node {:?} is not linked to {:?} in this herd's config",
                    hello.node,
                    node.name()
                )
            })?;
        if link.dials {
            return Err(format!(
                "{} dials {}, not the other way round",
                node.name(),
                link.peer
            ));
        }
        if link.admin_state() == AdminState::Down {
            return Err(format!(
                "the link {}-{} is cut by the operator",
                node.name(),
                link.peer
            ));
        }
        Ok(link.clone())
    });
    let link = match verdict {
        Ok(link) => link,
        Err(reason) => {
            log_refusal(format_args!(
                "peer connection from {remote} ({:?}) refused: {reason:?}",
                hello.node
            ));
            node.events.publish_with(|| EventKind::Link {
                peer: hello.node.to_owned(),
                change: LinkChange::Refused,
                reason: Some(format!("from {remote}: {reason}")),
            });
            return refuse(stream, &reason).await;
        }
    };
    let me = &node.settings;
    if let Err(err) = stream
        .write_all(hello_line(&me.herd, &me.name, &me.boot_id).as_bytes())
        .await
    {
        warn!("peer connection from {remote} lost during the handshake: {err}");
        return;
    }
    if let Some(parties) = Parties::of(me, &link.peer, false)
        && let Err(reason) =
            authenticate(&mut stream, &mut lines, &parties, handshake_timeout).await
    {
        log_refusal(format_args!(
            "peer connection from {remote} ({:?}) refused: {reason:?}",
            link.peer
        ));
        node.events.publish_with(|| EventKind::Link {
            peer: link.peer.clone(),
            change: LinkChange::Refused,
            reason: Some(format!("from {remote}: {reason}")),
        });
        return refuse(stream, "authentication failed").await;
    }
    // The handshake is over: no longer counted as pending.
    drop(pending);
    info!(peer = %link.peer, "accepted peer connection from {remote}");
    let peer_boot_id = hello.boot_id.to_owned();
    let _ = link
        .incoming
        .send(Connected {
            stream,
            lines,
            peer_boot_id,
        })
        .await;
}

fn truncate(line: &str) -> &str {
    match line.char_indices().nth(80) {
        Some((at, _)) => &line[..at],
        None => line,
    }
}
