//! The admin listener and its connections: requests answered in order, and
//! after `subscribe` the node's events interleaved with the responses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herd_admin::{ErrorCode, Event, EventKind, MAX_REQUEST_LINE, Response};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::{debug, info, warn};

use super::commands::{After, Conversation};
use crate::accept::accept_forever;
use crate::events::{Subscription, now_us};
use crate::line_reader::{Frame, LineReader};
use crate::node::Node;

/// Event lines written in one go when a subscriber has many waiting.
const EVENT_BATCH: usize = 256;

/// With a token, how long a connection may take to present it.
const AUTH_DEADLINE: Duration = Duration::from_secs(10);

/// How long one write may wait for a reader that does not read. A
/// subscriber's task is the only one that waits (the node never does), but
/// a connection nobody reads is closed rather than kept forever.
const WRITE_LIMIT: Duration = Duration::from_secs(30);

pub async fn serve_admin(node: Arc<Node>, listener: Arc<TcpListener>) {
    accept_forever(listener, "admin", |stream, remote| {
        serve_connection(node.clone(), stream, remote)
    })
    .await
}

async fn serve_connection(node: Arc<Node>, stream: TcpStream, remote: SocketAddr) {
    debug!(target: "admin", "connection from {remote}");
    let _ = stream.set_nodelay(true);
    let acceptor = node
        .live()
        .tls
        .as_ref()
        .and_then(|tls| tls.admin_acceptor.clone());
    let conversed = match acceptor {
        None => converse(&node, stream, remote).await,
        Some(acceptor) => {
            let accepting = tokio_rustls::TlsAcceptor::from(acceptor).accept(stream);
            match tokio::time::timeout(AUTH_DEADLINE, accepting).await {
                Ok(Ok(tls)) => converse(&node, tls, remote).await,
                // A port probe that closed before any handshake.
                Ok(Err(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                    debug!(target: "admin", "connection from {remote} closed before the TLS handshake");
                    return;
                }
                Ok(Err(err)) => {
                    warn!(target: "admin", "admin connection from {remote} refused in the TLS handshake: {}",
                        herd_tls::handshake_failure(&err));
                    return;
                }
                Err(_) => {
                    warn!(target: "admin", "admin connection from {remote} closed: no TLS handshake within {AUTH_DEADLINE:?}");
                    return;
                }
            }
        }
    };
    match conversed {
        Ok(()) => debug!(target: "admin", "connection from {remote} closed"),
        Err(err) => debug!(target: "admin", "connection from {remote} failed: {err}"),
    }
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    node: &Arc<Node>,
    stream: S,
    remote: SocketAddr,
) -> std::io::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut lines = LineReader::new(MAX_REQUEST_LINE, 0);
    let mut conversation = Conversation::new(node);
    let mut events: Option<Subscription> = None;
    let mut out = Vec::new();
    let auth_deadline = tokio::time::Instant::now() + AUTH_DEADLINE;
    loop {
        while let Some(frame) = lines.next_frame() {
            let (response, after) = match frame {
                Frame::Line(line) => conversation.handle(node, &line).await,
                Frame::TooLong(_) => (
                    Response::error(
                        serde_json::Value::Null,
                        ErrorCode::BadRequest,
                        format!("request longer than {MAX_REQUEST_LINE} bytes"),
                    ),
                    After::Close,
                ),
            };
            push_json(&mut out, &response);
            match after {
                After::Continue => {}
                After::Subscribe(kinds) => {
                    if events.is_none() {
                        match &kinds {
                            None => info!(target: "admin", "{remote} subscribed to events"),
                            Some(kinds) => {
                                info!(target: "admin", "{remote} subscribed to events of kinds {kinds:?}")
                            }
                        }
                        events = Some(node.events.subscribe(kinds.as_deref()));
                    }
                }
                After::Close => {
                    warn!(target: "admin", "closing admin connection from {remote}: {}",
                        response.error.as_deref().unwrap_or("refused"));
                    write(&mut writer, &out).await?;
                    return writer.shutdown().await;
                }
            }
        }
        if !out.is_empty() {
            write(&mut writer, &out).await?;
            out.clear();
        }
        tokio::select! {
            read = lines.fill(&mut reader) => {
                if read? == 0 {
                    return Ok(());
                }
            }
            received = next_event(&mut events) => {
                forward_events(node, received, &mut events, &mut writer, &mut out).await?;
            }
            () = tokio::time::sleep_until(auth_deadline), if !conversation.is_authenticated() => {
                warn!(target: "admin", "closing admin connection from {remote}: no token within {AUTH_DEADLINE:?}");
                let response = Response::error(
                    serde_json::Value::Null,
                    ErrorCode::AuthRequired,
                    format!("admin token required: none within {AUTH_DEADLINE:?}"),
                );
                push_json(&mut out, &response);
                write(&mut writer, &out).await?;
                return writer.shutdown().await;
            }
        }
    }
}

/// The next event, or never when not subscribed.
async fn next_event(events: &mut Option<Subscription>) -> Result<Arc<str>, RecvError> {
    match events {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes `first` and whatever else is already waiting, in one write. A
/// subscriber that fell behind gets a `lagged` event saying how many events
/// it lost; the node never waits for it.
async fn forward_events<W: AsyncWrite + Unpin>(
    node: &Node,
    first: Result<Arc<str>, RecvError>,
    events: &mut Option<Subscription>,
    writer: &mut W,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let Some(receiver) = events.as_mut() else {
        return Ok(());
    };
    let mut first = Some(first.map_err(|err| match err {
        RecvError::Lagged(missed) => TryRecvError::Lagged(missed),
        RecvError::Closed => TryRecvError::Closed,
    }));
    let mut closed = false;
    for _ in 0..EVENT_BATCH {
        // Taken only when there is room for it in this batch: an event
        // received and then left out would be lost without a `lagged`.
        let received = match first.take() {
            Some(first) => first,
            None => receiver.try_recv(),
        };
        match received {
            Ok(line) => {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
            Err(TryRecvError::Lagged(missed)) => {
                node.events.note_dropped(missed);
                let lagged = Event {
                    seq: 0,
                    ts_us: now_us(),
                    kind: EventKind::Lagged { missed },
                };
                push_json(out, &lagged);
            }
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Closed) => {
                closed = true;
                break;
            }
        }
    }
    if closed {
        *events = None;
    }
    write(writer, out).await?;
    out.clear();
    Ok(())
}

/// Writes everything (through TLS's buffer too), or fails after
/// [`WRITE_LIMIT`].
async fn write<W: AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    let written = async {
        writer.write_all(bytes).await?;
        writer.flush().await
    };
    match tokio::time::timeout(WRITE_LIMIT, written).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the admin client read nothing for {WRITE_LIMIT:?}"),
        )),
    }
}

fn push_json(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    if serde_json::to_writer(&mut *out, value).is_ok() {
        out.push(b'\n');
    }
}
