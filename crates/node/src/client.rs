//! The client port: one task per connection, lines answered in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use herd_admin::EventKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

use crate::accept::accept_forever;
use crate::counters::bump;
use crate::line_reader::{Frame, LineReader};
use crate::node::Node;

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

pub async fn serve(node: Arc<Node>, listener: TcpListener) {
    accept_forever(listener, "client", |stream, remote| {
        let id = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
        serve_connection(node.clone(), stream, remote, id)
    })
    .await
}

async fn serve_connection(node: Arc<Node>, mut stream: TcpStream, remote: SocketAddr, id: u64) {
    debug!(target: "client", conn = id, "connection from {remote}");
    let _ = stream.set_nodelay(true);
    let counters = &node.counters;
    bump(&counters.client_connections);
    counters
        .client_connections_open
        .fetch_add(1, Ordering::Relaxed);
    let outcome = converse(&node, &mut stream, id).await;
    counters
        .client_connections_open
        .fetch_sub(1, Ordering::Relaxed);
    match outcome {
        Ok(()) => debug!(target: "client", conn = id, "closed"),
        Err(err) => debug!(target: "client", conn = id, "connection error: {err}"),
    }
}

async fn converse(node: &Node, stream: &mut TcpStream, id: u64) -> std::io::Result<()> {
    let settings = &node.settings;
    let mut lines = LineReader::new(settings.max_line, settings.too_long_prefix);
    let mut out = Vec::with_capacity(256);
    loop {
        // Answer every complete line we have, then write the replies at once.
        while let Some(frame) = lines.next_frame() {
            if answer_frame(node, frame, id, &mut out).await {
                stream.write_all(&out).await?;
                stream.shutdown().await?;
                linger(stream).await;
                return Ok(());
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if lines.fill(stream).await? == 0 {
            // Half-closed: a last line without `\n` is still a line.
            if let Some(last) = lines.take_rest() {
                answer_frame(node, last, id, &mut out).await;
                stream.write_all(&out).await?;
            }
            return stream.shutdown().await;
        }
    }
}

/// After answering an over-long line, reads and discards what the client is
/// still sending (bounded in time and bytes) before closing. Closing a socket
/// with unread input sends a reset, which can destroy the reply before the
/// client reads it.
async fn linger(stream: &mut TcpStream) {
    const LIMIT: usize = 1 << 20;
    let mut scratch = [0u8; 4096];
    let mut discarded = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while discarded < LIMIT {
        match tokio::time::timeout_at(deadline, stream.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => discarded += n,
            _ => return,
        }
    }
}

/// Appends the reply to `frame`; true when the connection must close.
async fn answer_frame(node: &Node, frame: Frame, id: u64, out: &mut Vec<u8>) -> bool {
    match frame {
        Frame::Line(line) => {
            node.answer(&line, id, out).await;
            false
        }
        Frame::TooLong(prefix) => {
            // Memory stays bounded: only the prefix was kept.
            bump(&node.counters.client_lines);
            bump(&node.counters.questions);
            node.events.publish_with(|| {
                let prefix = String::from_utf8_lossy(&prefix).into_owned();
                EventKind::Request {
                    conn: id,
                    reply: format!("? {prefix}"),
                    line: prefix,
                    json_bytes: 0,
                }
            });
            out.extend_from_slice(b"? ");
            out.extend_from_slice(&prefix);
            out.push(b'\n');
            info!(
                target: "client",
                conn = id,
                "over-long line starting {} answered with its first {} bytes; closing",
                crate::node::printable(&prefix),
                prefix.len()
            );
            true
        }
    }
}
