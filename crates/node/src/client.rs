//! The client port: one task per connection, lines answered in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use herd_admin::{EventClass, EventKind};
use herd_proto::fields::is_blank;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use crate::accept::accept_forever;
use crate::counters::{RequestKind, RequestResult, bump};
use crate::line_reader::{Frame, LineReader};
use crate::node::Node;
use crate::pending_replies::PendingReplies;

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);
/// A refused client gets this long to take its `? busy` line.
const REFUSAL_WRITE: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn serve(node: Arc<Node>, listener: Arc<TcpListener>) {
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
    // Counted open until this task ends, however it ends (a panic too).
    let open_guard = OpenConnection::count(&counters.client_connections_open);
    let open = open_guard.before;
    if open >= node.live().limits.max_clients as u64 {
        let refused = counters.client_refused.fetch_add(1, Ordering::Relaxed) + 1;
        if refused.is_power_of_two() {
            warn!(target: "client", "{refused} client connections refused so far: {open} open, the limit is max_clients");
        }
        // Politely: the protocol's one way to say no, then close.
        let _ = tokio::time::timeout(REFUSAL_WRITE, async {
            let _ = stream.write_all(b"? busy: too many connections\n").await;
            let _ = stream.shutdown().await;
        })
        .await;
        return;
    }
    let outcome = converse(&node, &mut stream, id).await;
    if let Err(err) = &outcome
        && err.kind() == std::io::ErrorKind::TimedOut
    {
        bump(&counters.client_timeouts);
    }
    drop(open_guard);
    match outcome {
        Ok(()) => debug!(target: "client", conn = id, "closed"),
        Err(err) => debug!(target: "client", conn = id, "connection error: {err}"),
    }
}

async fn converse(node: &Node, stream: &mut TcpStream, id: u64) -> std::io::Result<()> {
    // The limits the connection started with, whatever a reload does.
    let live = node.live();
    let limits = &live.limits;
    let one_request = live.client.one_request;
    let mut lines = LineReader::new(limits.max_line, node.settings.too_long_prefix);
    let mut out = Vec::with_capacity(256);
    // The replies of the lines one read brought wait until their updates
    // are written (log and links), once for all of them.
    let mut pending = PendingReplies::default();
    // When the line now in the buffer began arriving.
    let mut line_started: Option<tokio::time::Instant> = None;
    loop {
        // Answer every complete line we have, then write the replies at once.
        while let Some(frame) = lines.next_frame() {
            // A line ended: whatever is left is a new one.
            line_started = None;
            // `[client] one_request`: the first line that is a request
            // (blank lines are none) is the connection's only one.
            let last = one_request && !matches!(&frame, Frame::Line(line) if is_blank(line));
            if answer_frame(node, frame, id, &mut out, &mut pending).await || last {
                pending.settle(node, &mut out).await;
                write_in_time(stream, &out, limits.line_deadline).await?;
                stream.shutdown().await?;
                linger(stream).await;
                return Ok(());
            }
        }
        pending.settle(node, &mut out).await;
        if !out.is_empty() {
            write_in_time(stream, &out, limits.line_deadline).await?;
            out.clear();
        }
        // Idle with nothing started, or in the middle of a line: each has
        // its own limit, so idle or crawling clients cannot pile up.
        let wait = if lines.buffered() == 0 {
            limits.client_idle
        } else {
            let started = *line_started.get_or_insert_with(tokio::time::Instant::now);
            limits.line_deadline.saturating_sub(started.elapsed())
        };
        let read = match tokio::time::timeout(wait, lines.fill(stream)).await {
            Ok(read) => read?,
            Err(_) => {
                let why = if lines.buffered() == 0 {
                    "idle"
                } else {
                    "a line not finished in time"
                };
                debug!(target: "client", conn = id, "closed: {why}");
                return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, why));
            }
        };
        if read == 0 {
            // Half-closed: a last line without `\n` is still a line.
            if let Some(last) = lines.take_rest() {
                answer_frame(node, last, id, &mut out, &mut pending).await;
                pending.settle(node, &mut out).await;
                write_in_time(stream, &out, limits.line_deadline).await?;
            }
            return stream.shutdown().await;
        }
    }
}

/// Writes replies, or gives up on a client that does not take them within
/// `limit` (one that sends questions and never reads the answers would
/// otherwise hold its connection, and a `max_clients` slot, for ever).
async fn write_in_time(
    stream: &mut TcpStream,
    bytes: &[u8],
    limit: std::time::Duration,
) -> std::io::Result<()> {
    // Nearly always the socket takes the whole reply at once: no timer.
    let taken = match stream.try_write(bytes) {
        Ok(taken) => taken,
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(err) => return Err(err),
    };
    if taken == bytes.len() {
        return Ok(());
    }
    match tokio::time::timeout(limit, stream.write_all(&bytes[taken..])).await {
        Ok(written) => written,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client does not read its replies",
        )),
    }
}

/// One open client connection in the counter, taken back when dropped.
struct OpenConnection<'a> {
    counter: &'a AtomicU64,
    /// How many were open before this one.
    before: u64,
}

impl<'a> OpenConnection<'a> {
    fn count(counter: &'a AtomicU64) -> OpenConnection<'a> {
        let before = counter.fetch_add(1, Ordering::Relaxed);
        OpenConnection { counter, before }
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Relaxed);
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
async fn answer_frame(
    node: &Node,
    frame: Frame,
    id: u64,
    out: &mut Vec<u8>,
    pending: &mut PendingReplies,
) -> bool {
    match frame {
        Frame::Line(line) => {
            node.answer(&line, id, out, pending).await;
            false
        }
        Frame::TooLong(prefix) => {
            // Memory stays bounded: only the prefix was kept.
            bump(&node.counters.client_lines);
            // A request answered `?`; not timed (nothing was looked up).
            node.counters
                .requests
                .count(RequestKind::Other, RequestResult::Invalid);
            node.events.publish_with(EventClass::Request, || {
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
