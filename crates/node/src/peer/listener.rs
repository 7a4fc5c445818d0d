//! The peer port: accepts connections, checks the handshake, and hands each
//! good connection to its link's task.

use std::net::SocketAddr;
use std::sync::Arc;

use herd_admin::{AdminState, EventKind, LinkChange};
use herd_proto::peer::{PeerMessage, hello_line, parse_peer_line};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tracing::{info, warn};

use super::auth::{Parties, authenticate};
use super::handshake::{check_hello, read_line, refuse};
use super::{Connected, peer_line_reader};
use crate::accept::accept_forever;
use crate::node::Node;

pub async fn serve_peers(node: Arc<Node>, listener: TcpListener) {
    accept_forever(listener, "peer", |stream, remote| {
        accept_peer(node.clone(), stream, remote)
    })
    .await
}

async fn accept_peer(node: Arc<Node>, mut stream: TcpStream, remote: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let handshake_timeout = node
        .links
        .first()
        .map(|link| link.settings.handshake_timeout)
        .unwrap_or(std::time::Duration::from_secs(5));
    let mut lines = peer_line_reader();
    let line = match timeout(handshake_timeout, read_line(&mut stream, &mut lines)).await {
        Ok(Ok(line)) => line,
        Ok(Err(reason)) => {
            warn!("peer connection from {remote} dropped: {reason}");
            return refuse(stream, &reason).await;
        }
        Err(_) => {
            warn!(
                "peer connection from {remote} dropped: no handshake within {handshake_timeout:?}"
            );
            return refuse(stream, "no handshake in time").await;
        }
    };
    let hello = match parse_peer_line(&line) {
        Ok(PeerMessage::Hello(hello)) => hello,
        _ => {
            warn!(
                "peer connection from {remote} refused: expected HELLO, got {:?}",
                truncate(&line)
            );
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
            warn!(
                "peer connection from {remote} ({:?}) refused: {reason}",
                hello.node
            );
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
    if let Some(parties) = Parties::of(me, &link.peer)
        && let Err(reason) =
            authenticate(&mut stream, &mut lines, &parties, handshake_timeout).await
    {
        warn!(
            "peer connection from {remote} ({:?}) refused: {reason}",
            link.peer
        );
        node.events.publish_with(|| EventKind::Link {
            peer: link.peer.clone(),
            change: LinkChange::Refused,
            reason: Some(format!("from {remote}: {reason}")),
        });
        return refuse(stream, "authentication failed").await;
    }
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
