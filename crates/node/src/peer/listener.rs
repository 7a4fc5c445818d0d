//! The peer port: accepts connections and hands each to the handshake
//! (handshake.rs), which passes the good ones to their link's task.

use std::sync::Arc;

use tokio::net::TcpListener;

use super::handshake::accept;
use crate::accept::accept_forever;
use crate::node::Node;

pub async fn serve_peers(node: Arc<Node>, listener: Arc<TcpListener>) {
    accept_forever(listener, "peer", |stream, remote| {
        accept(node.clone(), stream, remote)
    })
    .await
}
